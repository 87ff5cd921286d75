"""benchmarks/full_gpu.py (`make full-gpu`) end to end on a CPU at a tiny scale, so that a GPU's time is never spent
on a bug: the same code path as the full run (time the networks, plan, train, record, export), on Keras's JAX
backend as on the GPU machine, with TensorFlow and Jupyter made impossible to import; then the planner, the reading
of chapter 11's code and the profiles on their own.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, benchmark_script

from mnistlib import chapters, models, results

SCRIPT = ROOT / "benchmarks" / "full_gpu.py"
full_gpu = benchmark_script("full_gpu")

#: Runs the script as `python benchmarks/full_gpu.py ARGS` would, with what a GPU machine may lack made
#: unimportable: TensorFlow (the script must not import it) and Jupyter (no Jupyter there).
RUNNER = """
import runpy, sys
BLOCKED = {"tensorflow", "myst_nb", "IPython", "ipykernel", "jupyter_client", "nbformat", "nbclient"}
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by tests/test_full_gpu.py)", name=name)
sys.meta_path.insert(0, Blocked())
script, *sys.argv[1:] = sys.argv[1:]
sys.argv[0] = script
try:
    runpy.run_path(script, run_name="__main__")
finally:
    imported = sorted(BLOCKED & {m.split(".")[0] for m in sys.modules})
    print("blocked modules imported:", imported)
"""

#: Make XLA compile quickly on a CPU: the programs are tiny, their compile dominates the test's time.
FAST_XLA = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def run_script(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": FAST_XLA,
        "MNISTBOOK_ARTIFACTS": str(tmp_path / "artifacts"),
        "PYTHONPATH": str(ROOT),
    }
    for name in ("MNISTBOOK_DEVICES", "JAX_COMPILATION_CACHE_DIR"):
        env.pop(name, None)
    out = tmp_path / "report.json"
    command = [sys.executable, "-c", RUNNER, str(SCRIPT), "--scale", "tiny", "--out", str(out), *args]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    assert "blocked modules imported: []" in done.stdout, log[-3000:]
    return done, json.loads(out.read_text())


def test_the_script_runs_end_to_end_at_a_tiny_scale(tmp_path, data_root):
    reference = tmp_path / "reference.csv"
    committed = hashlib.sha256(results.REFERENCE.read_bytes()).hexdigest()
    done, report = run_script(tmp_path, "--budget-s", "900", "--reference", str(reference))

    # the plan: both networks timed, both items fitted, in order; nothing left out, nothing failed
    assert set(report["probes"]) == {"resnet", "m5"}
    assert all(p["train_steps_per_s"] > 0 and p["eval_image_s"] > 0 for p in report["probes"].values())
    assert [(e["item"], e["fits"]) for e in report["plan"]] == [("resnet", True), ("m5_seed0", True)]
    assert [r["item"] for r in report["ran"]] == ["resnet", "m5_seed0"]
    assert report["not_run"] == [] and report["errors"] == []
    assert report["backend"] == "jax" and "Keras on JAX" in report["machine"]
    assert report["compilation_cache"] == str(tmp_path / "artifacts" / "reduced" / "jax_cache")
    assert "[plan]" in done.stdout and "[done] 2 item(s) ran" in done.stdout

    # the rows: recorded in the reduced profile's ledger and exported, with the machine, to the file named
    exported = results.load_reference(reference)
    rows = {(r.chapter, r.model): r for r in exported.itertuples()}
    assert set(rows) == {(chapters.RESNET_QMNIST, "resnet"), (chapters.STATE_OF_THE_ART, "m5_seed0_refit")}
    assert (exported["profile"] == full_gpu.REDUCED).all() and (exported["machine"] == report["machine"]).all()
    assert (exported["backend"] == "jax").all()
    resnet = rows[chapters.RESNET_QMNIST, "resnet"]
    assert resnet.params == models.resnet(blocks=(1, 1, 1), width=1 / 16).count_params()
    assert resnet.original_test_accuracy == full_gpu.RESNET_ORIGINAL_ACCURACY
    assert resnet.n_train == 480 and resnet.epochs == 1 and resnet.data.endswith(", test10k")
    m5 = rows[chapters.STATE_OF_THE_ART, "m5_seed0_refit"]
    assert m5.n_train == 480 + 120 and m5.epochs == 1, "the refit trains on the training and validation digits"
    assert 0 <= resnet.test_accuracy <= 1 and 0 <= m5.test_accuracy <= 1
    ran = {row["model"]: row for item in report["ran"] for row in item["rows"]}
    assert ran["m5_seed0_refit"]["test_accuracy"] == pytest.approx(m5.test_accuracy, abs=1e-6)
    assert ran["m5_seed0_refit"]["refit_keeps"] in ("averaged", "last")

    # chapter 11's cache names: the chapter's own run would load these models
    cached = sorted(
        p.name.split("-")[0] for p in (tmp_path / "artifacts" / "reduced" / chapters.STATE_OF_THE_ART).glob("*.keras")
    )
    assert cached == ["m5_seed0", "m5_seed0_refit"]
    assert hashlib.sha256(results.REFERENCE.read_bytes()).hexdigest() == committed, "the book's file is untouched"

    # plan again: everything is done (the ResNet's checkpoints, chapter 11's cache), so nothing is timed or counted
    done, again = run_script(tmp_path, "--budget-s", "300", "--reference", str(reference), "--plan-only")
    assert again["probes"] == {} and again["ran"] == [] and again["errors"] == []
    assert [(e["item"], e["estimate_s"]) for e in again["plan"]] == [("resnet", 0.0), ("m5_seed0", 0.0)]
    assert [e["reason"] for e in again["not_run"]] == ["--plan-only", "--plan-only"]
    assert "validated run cached; refit cached" in done.stdout and "1 of 1 epochs done before" in done.stdout


def test_a_reduced_run_exports_nowhere_unless_told(tmp_path):
    settings, args = full_gpu.parse_args(["--budget-s", "60", "--scale", "tiny"])
    assert settings.reduced and settings.profile_name == full_gpu.REDUCED and args.reference is None
    assert settings.kernels == (5,) and settings.seeds == 1 and settings.width == 1 / 16
    full, _ = full_gpu.parse_args(["--budget-s", "600"])
    assert not full.reduced and full.profile_name == "full"
    assert (
        full.profile(chapters.RESNET_QMNIST).batch_size == 32
        and full.profile(chapters.STATE_OF_THE_ART).batch_size == 120
    )
    assert not full.profile(chapters.RESNET_QMNIST).is_reduced
    with pytest.raises(SystemExit):
        full_gpu.parse_args(["--budget-s", "0"])


def test_items_come_in_the_issues_order():
    names = [item.name for item in full_gpu.items_in_order((5, 3, 7), 3)]
    assert names == [
        "resnet",
        "m5_seed0",
        "m3_seed0",
        "m7_seed0",
        "m5_seed1",
        "m3_seed1",
        "m7_seed1",
        "m5_seed2",
        "m3_seed2",
        "m7_seed2",
    ]


def test_the_plan_keeps_the_order_and_says_what_did_not_fit():
    items = full_gpu.items_in_order((5, 3), 2)  # resnet, m5_seed0, m3_seed0, m5_seed1, m3_seed1
    seconds = {"resnet": 100, "m5_seed0": 200, "m3_seed0": 400, "m5_seed1": 10, "m3_seed1": 10}
    asked = []

    def estimate(item):
        asked.append(item.name)
        return seconds[item.name]

    planned, entries = full_gpu.plan_items(items, estimate, lambda: 700.0, margin=0.2)
    assert [(i.name, s) for i, s in planned] == [("resnet", 100), ("m5_seed0", 200)]
    assert asked == ["resnet", "m5_seed0", "m3_seed0"], "nothing is timed after the first item that does not fit"
    by_name = {e["item"]: e for e in entries}
    assert by_name["m3_seed0"]["fits"] is False and "480 s with the margin, 400 s left" in by_name["m3_seed0"]["reason"]
    assert by_name["m5_seed1"]["reason"] == "after m3_seed0, which did not fit", "a later, smaller item waits its turn"
    assert [e["item"] for e in entries] == [i.name for i in items]


def test_chapter_11s_networks_and_protocol_come_from_the_chapter():
    namespace = full_gpu.chapter_11_models()
    assert namespace["m_model"](5).count_params() == 1_129_160  # the chapter's own check
    assert set(namespace["WIDTHS"]) == {3, 5, 7} and namespace["RECIPE"]["epochs"] == 150
    assert "sizes = pd.DataFrame" not in full_gpu.model_cell()
    code = full_gpu.protocol_code()
    assert "def train(" in code and "training.train_or_load(" in code and "RATES =" in code


def test_a_chapter_without_the_model_cell_is_a_clear_error(tmp_path):
    notebook = tmp_path / "chapter.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "source": ["x = 1\n"], "metadata": {}}]}))
    with pytest.raises(full_gpu.ChapterCodeError, match="expected one code cell defining `def m_model`"):
        full_gpu.chapter_11_models(notebook)
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "source": ["def m_model():\n", "    pass\n"]}]}))
    with pytest.raises(full_gpu.ChapterCodeError, match="no line starting `sizes = pd.DataFrame`"):
        full_gpu.model_cell(notebook)
    with pytest.raises(full_gpu.ChapterCodeError, match="no code cell defines `def train"):
        full_gpu.protocol_code(notebook)
