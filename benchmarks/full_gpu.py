"""`make full-gpu`: the full-scale rows of chapters 08 and 11 in one prepared run, as scripts (no Jupyter).

    KERAS_BACKEND=jax python benchmarks/full_gpu.py --budget-s 600

Chapter 08's ResNet (experiment A's network, ``mnistlib.models.resnet`` with its defaults: 8,764,426 parameters)
and chapter 11's M5, M3 and M7 (An et al.) are trained in the full profile exactly as the chapters train them,
recorded in the full profile's ledger and exported to book/reference_results.csv (``results.export_reference``)
with this machine's description, after each finished item, so whatever finished is kept if the run is cut off.

Each network is written once. The ResNet is the library's builder (tests/test_chapter_models.py keeps it equal to
the chapter's). M3, M5 and M7, their recipe and widths exist only in chapter 11's cell that defines ``m_model``:
the script reads that cell from chapters/11_state_of_the_art.ipynb (up to ``sizes = pd.DataFrame``) and runs it,
and takes the chapter's ``train`` helper, ``EPOCHS``, ``RATES`` and ``N_SEEDS`` from the cell that defines them,
so the models it trains are the chapter's, under the chapter's cache names and keys: the full-profile chapter run
later loads them instead of training them again (on the same backend and Keras version).

The protocol, as the chapters run it in the full profile:

- chapter 08: the QMNIST training split (``datasets.experiment_data(profile, "qmnist")``: 48,000 training and
  12,000 validation digits), batches of 32, 30 epochs of Nadam with a cosine decay from 0.001 over the run,
  batch normalisation's averages at Keras's momentum 0.99, seed 42, a checkpoint after every epoch
  (``checkpoints.resumable_fit``: the chapter's run interrupted after epoch 3 and resumed is this uninterrupted
  one); scored on all 10,000 digits of ``load_qmnist("test10k")`` and recorded as ``resnet`` (the original
  reports 0.9916).
- chapter 11: MNIST's split (48,000, 12,000, the 10,000 test digits); per network and seed, the validated run
  (150 epochs at batch 120, rates 0.001 x 0.98^epoch, Adam with its weights' moving average), then the refit on
  training and validation digits with the weights the validated runs keep (the averaged ones unless the last
  ones validate better on average), scored once on the test digits and recorded as ``m<k>_seed<s>_refit``.

The plan: the script times a few hundred training steps (and a validation pass) of each network, after its first
compile, and estimates each item: its steps, its validation passes, its compiles and its checkpoints. Items come
in this order: the ResNet, then one seed each of M5, M3 and M7 at full width, then more seeds (seed 1 of M5, M3,
M7, then seed 2, ...). It runs them in that order while the budget left covers an item's estimate plus a margin;
the first that does not fit, and every item after it, is listed as not run, with why. Work already done (a
cached model, ResNet checkpoints) is reused and not counted again. The plan and the report (what ran, seconds,
accuracies, what did not fit) are printed and written as JSON (``--out``) after every step.

``--scale tiny`` (or any of ``--samples``, ``--epochs``, ``--width``, ``--eval``, ``--blocks``, ``--seeds``,
``--kernels``) runs the same code on a reduced protocol (tests/test_full_gpu.py runs it on a CPU in seconds); its
rows go to the ledger of the profile ``reduced`` and are exported only to a file named with ``--reference``, never
to book/reference_results.csv.

The script imports neither TensorFlow nor Jupyter; Keras's backend is the environment's (KERAS_BACKEND: jax on a
GPU machine, as `make full-gpu` sets it).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import json
import os
import platform
import sys
import tempfile
import time
import traceback
import types
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from mnistlib import chapters, checkpoints, datasets, distribution, models, profiles, results, training

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_08 = chapters.RESNET_QMNIST
CHAPTER_11 = chapters.STATE_OF_THE_ART
NOTEBOOK_11 = ROOT / "chapters" / f"{CHAPTER_11}.ipynb"
#: Experiment A: 30 epochs (the original stopped after 3 and resumed for 27), seed 42 as in chapter 08's fits.
RESNET_EPOCHS = 30
RESNET_SEED = 42
RESNET_ORIGINAL_ACCURACY = 0.9916
#: The order of chapter 11's networks: M5 first (the chapter's lesson uses it), then M3 and M7.
KERNEL_ORDER = (5, 3, 7)
#: Where a reduced run (--scale tiny, or any override) keeps its models and its ledger: never the full profile's.
REDUCED = "reduced"
#: The settings of --scale tiny: a few hundred digits, one epoch, a sixteenth of the width, M5 and one seed.
TINY = {"samples": 480, "epochs": 1, "width": 1 / 16, "eval": 120, "blocks": 1, "seeds": 1, "kernels": (5,)}
#: Steps timed per network (after its first compile) in the full protocol and in a reduced one.
PROBE_STEPS = {"full": 300, "reduced": 8}
#: Batches of the first, compiling, probe call (not timed as steps).
WARM_STEPS = 4
#: Seconds of Keras's own work per epoch beyond its steps (callbacks, logs, the data iterator), a rough allowance.
EPOCH_OVERHEAD_S = 0.3
#: Test digits are scored in batches of 512 (chapter 08, results.evaluate_and_record) or 500 (chapter 11).
TEST_BATCH = {CHAPTER_08: 512, CHAPTER_11: 500}


class ChapterCodeError(RuntimeError):
    """The chapter's code the script runs (chapter 11's model cell and its training helper) was not found."""


# ----------------------------------------------------------------------------------------------------------------
# Chapter 11's code, read from the chapter


def _code_cells(path: Path) -> list[str]:
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ChapterCodeError(f"{path}: cannot read the notebook ({err})") from None
    cells = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            cells.append("".join(source) if isinstance(source, list) else source)
    return cells


def model_cell(path: Path = NOTEBOOK_11) -> str:
    """The code of chapter 11's cell that defines ``m_model`` (with ``RECIPE`` and ``WIDTHS``), up to the line that
    starts ``sizes = pd.DataFrame`` (the table the chapter shows, not part of the models)."""
    cells = [c for c in _code_cells(path) if "def m_model" in c]
    if len(cells) != 1:
        raise ChapterCodeError(
            f"{path}: expected one code cell defining `def m_model` (An et al.'s networks), found {len(cells)}; "
            "the script builds chapter 11's models from that cell, so it cannot run without it"
        )
    lines = cells[0].splitlines(keepends=True)
    end = next((i for i, line in enumerate(lines) if line.startswith("sizes = pd.DataFrame")), None)
    if end is None:
        raise ChapterCodeError(
            f"{path}: the cell defining `def m_model` has no line starting `sizes = pd.DataFrame`, where the "
            "script stops reading it; update benchmarks/full_gpu.py (model_cell) to the chapter's new layout"
        )
    return "".join(lines[:end])


def chapter_11_models(path: Path = NOTEBOOK_11) -> dict[str, Any]:
    """Run chapter 11's model cell in a namespace with keras, layers and mnistlib's models; return the namespace
    (``m_model``, ``RECIPE``, ``WIDTHS``)."""
    namespace: dict[str, Any] = {"keras": keras, "layers": keras.layers, "models": models, "__name__": "chapter_11"}
    exec(compile(model_cell(path), f"<{path.name}: the cell defining m_model>", "exec"), namespace)  # noqa: S102
    missing = [name for name in ("m_model", "RECIPE", "WIDTHS") if name not in namespace]
    if missing:
        raise ChapterCodeError(f"{path}: the cell defining `def m_model` no longer defines {', '.join(missing)}")
    return namespace


#: What the script takes from the chapter's cell that trains the validated runs: its settings and helper.
PROTOCOL_NAMES = ("N_SEEDS", "EPOCHS", "RATES", "train")


def protocol_code(path: Path = NOTEBOOK_11) -> str:
    """The top-level statements of chapter 11 that set ``N_SEEDS``, ``EPOCHS`` and ``RATES`` and define ``train``
    (the helper every run of the chapter goes through: its cache names, configuration and settings)."""
    for code in _code_cells(path):
        if "def train(" not in code:
            continue
        try:
            tree = ast.parse(code)
        except SyntaxError as err:
            raise ChapterCodeError(f"{path}: the cell defining `def train` does not parse ({err})") from None
        picked, found = [], set()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "train":
                picked.append(node)
                found.add(node.name)
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                if node.targets[0].id in PROTOCOL_NAMES:
                    picked.append(node)
                    found.add(node.targets[0].id)
        missing = [name for name in PROTOCOL_NAMES if name not in found]
        if missing:
            raise ChapterCodeError(f"{path}: the cell defining `def train` no longer sets {', '.join(missing)}")
        return ast.unparse(ast.Module(body=picked, type_ignores=[]))
    raise ChapterCodeError(f"{path}: no code cell defines `def train(`, chapter 11's training helper")


def chapter_11_protocol(profile: profiles.Profile, plan: distribution.DevicePlan, trainer=training) -> dict[str, Any]:
    """Chapter 11's models and protocol for ``profile``: the model cell's names plus ``N_SEEDS``, ``EPOCHS``,
    ``RATES`` and ``train``, whose ``training.train_or_load`` is ``trainer``'s (``cached_model_path`` to ask where a
    run is cached without training it)."""
    namespace = chapter_11_models()
    namespace.update(profile=profile, plan=plan, training=trainer, functools=functools, np=np, CHAPTER=CHAPTER_11)
    exec(compile(protocol_code(), f"<{NOTEBOOK_11.name}: the training protocol>", "exec"), namespace)  # noqa: S102
    return namespace


# ----------------------------------------------------------------------------------------------------------------
# Settings, the device, the report


@dataclass(frozen=True)
class Settings:
    """What the command line asks for; ``None`` is the full protocol's value."""

    budget_s: float
    samples: int | None = None
    epochs: int | None = None
    width: float | None = None
    eval: int | None = None
    blocks: int | None = None
    seeds: int | None = None
    kernels: tuple[int, ...] | None = None
    margin: float = 0.2
    probe_steps: int | None = None

    @property
    def reduced(self) -> bool:
        return any(v is not None for v in (self.samples, self.epochs, self.width, self.eval, self.blocks))

    @property
    def profile_name(self) -> str:
        return REDUCED if self.reduced else "full"

    def profile(self, chapter: str) -> profiles.Profile:
        """The full profile of ``chapter``, reduced as asked (a profile named ``reduced``)."""
        full = profiles.get_profile(chapter, "full")
        if not self.reduced and self.seeds is None:
            return full
        changes: dict[str, Any] = {"max_seeds": self.seeds}
        if self.reduced:
            changes.update(
                name=REDUCED,
                max_samples=self.samples,
                max_epochs=self.epochs,
                max_eval=self.eval,
                max_blocks=self.blocks,
                max_width=self.width,
            )
        return dataclasses.replace(full, **changes)


def device_description() -> str:
    """This machine for the reference file's ``machine`` column, e.g. "1x NVIDIA H100 80GB HBM3 (16 CPU cores),
    Keras on JAX 0.11.2"."""
    backend = keras.backend.backend()
    cores = os.cpu_count() or 1
    if backend == "jax":
        import jax  # the backend Keras already runs on

        kinds = Counter(d.device_kind if d.platform != "cpu" else "cpu" for d in jax.devices())
        version = f"JAX {jax.__version__}"
    else:
        kinds = Counter(d.split(":")[0] for d in keras.distribution.list_devices())
        module = sys.modules.get(backend)  # imported by Keras already, never by this script
        version = f"{backend} {getattr(module, '__version__', '')}".strip()
    parts = [f"{n}x {kind}" for kind, n in sorted(kinds.items()) if kind.lower() != "cpu"]
    if not parts:  # no accelerator: the processor is the device
        parts = [f"{cores}-core {platform.machine()} CPU"]
        return f"{parts[0]}, Keras on {version}"
    return f"{', '.join(parts)} ({cores} CPU cores), Keras on {version}"


class Report:
    """The JSON report, written (atomically) after every step, so a run cut off still leaves what it did."""

    def __init__(self, path: Path, **fields):
        self.path = path
        self.data: dict[str, Any] = {**fields, "probes": {}, "plan": [], "ran": [], "not_run": [], "errors": []}

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.path.parent, suffix=".part", delete=False) as tmp:
            json.dump(self.data, tmp, indent=1, default=str)
            tmp.write("\n")
        os.replace(tmp.name, self.path)


def use_compilation_cache(folder: Path) -> str | None:
    """On JAX, keep compiled programs in ``folder`` (unless JAX_COMPILATION_CACHE_DIR names another): a network's
    training step compiled by its probe is then loaded, not compiled again, by its run, and by the next run of the
    script on this machine. Returns the folder used, or None on another backend."""
    if keras.backend.backend() != "jax":
        return None
    import jax  # the backend Keras already runs on

    chosen = os.environ.get("JAX_COMPILATION_CACHE_DIR") or str(folder)
    jax.config.update("jax_compilation_cache_dir", chosen)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    return chosen


#: When this process started, for the time stamp of every line it prints.
_T0 = time.monotonic()


def say(*parts) -> None:
    print(f"{time.monotonic() - _T0:7.1f} s", *parts, flush=True)


# ----------------------------------------------------------------------------------------------------------------
# Items, probes and the plan


@dataclass(frozen=True)
class Item:
    """One unit of the plan: chapter 08's ResNet, or one network and seed of chapter 11 (validated and refit)."""

    name: str
    network: str  # "resnet", "m3", "m5", "m7": which probe times it
    kernel: int | None = None
    seed: int | None = None


def items_in_order(kernels: tuple[int, ...], seeds: int) -> list[Item]:
    """The ResNet, one seed of each of ``kernels``, then the next seed of each, and so on."""
    items = [Item("resnet", "resnet")]
    for seed in range(seeds):
        items += [Item(f"m{k}_seed{seed}", f"m{k}", k, seed) for k in kernels]
    return items


@dataclass
class Work:
    """What is left to do of an item, in the units the probes time."""

    train_steps: int = 0
    eval_images: int = 0
    train_compiles: int = 0
    eval_compiles: int = 0
    epochs: int = 0
    saves: int = 0
    notes: list[str] = field(default_factory=list)

    def seconds(self, probe: dict[str, float] | None) -> float:
        if probe is None:
            return 0.0
        return (
            self.train_steps * probe["train_step_s"]
            + self.eval_images * probe["eval_image_s"]
            + self.train_compiles * probe["train_compile_s"]
            + self.eval_compiles * probe["eval_compile_s"]
            + self.epochs * EPOCH_OVERHEAD_S
            + self.saves * probe["save_s"]
        )

    @property
    def empty(self) -> bool:
        return self.train_steps == 0 and self.epochs == 0


def plan_items(
    items: list[Item], estimate, budget_left, margin: float
) -> tuple[list[tuple[Item, float]], list[dict[str, Any]]]:
    """Which of ``items``, in their order, fit: ``estimate(item)`` is its seconds (it may time the network first,
    which ``budget_left()`` then no longer has). An item fits while the budget left, less the items planned before
    it, covers its estimate plus ``margin`` (a fraction of it); the first that does not, and every later item, do
    not run. Returns the planned (item, estimate) pairs and one entry per item for the report."""
    planned: list[tuple[Item, float]] = []
    entries: list[dict[str, Any]] = []
    committed = 0.0
    blocked: str | None = None
    for item in items:
        if blocked is not None:
            entries.append(
                {"item": item.name, "fits": False, "estimate_s": None, "reason": f"after {blocked}, which did not fit"}
            )
            continue
        seconds = float(estimate(item))
        left = budget_left() - committed
        need = seconds * (1 + margin)
        entry = {
            "item": item.name,
            "estimate_s": round(seconds, 1),
            "needs_s": round(need, 1),
            "left_s": round(left, 1),
        }
        if need <= left:
            planned.append((item, seconds))
            committed += seconds
            entries.append({**entry, "fits": True})
        else:
            blocked = item.name
            entries.append(
                {**entry, "fits": False, "reason": f"needs {need:,.0f} s with the margin, {max(left, 0):,.0f} s left"}
            )
    return planned, entries


def _cycle(x: np.ndarray, n: int) -> np.ndarray:
    return x[np.arange(n) % len(x)]


class _Clock(keras.callbacks.Callback):
    """When the first WARM_STEPS training steps (the compile among them) were done, and when validation began."""

    def on_train_batch_end(self, batch, logs=None):
        if batch == WARM_STEPS - 1:
            float(keras.ops.convert_to_numpy(logs["loss"]))  # waits for that step: the device runs asynchronously
            self.warm_end = time.perf_counter()

    def on_test_begin(self, logs=None):
        self.test_begin = getattr(self, "test_begin", None) or time.perf_counter()


def probe_network(build, x: np.ndarray, y: np.ndarray, batch_size: int, steps: int) -> dict[str, float]:
    """Seconds per training step and per image scored of the model ``build()`` builds, after its first compile,
    with what that compile costs (training and scoring) and what one checkpoint of it costs.

    One ``fit`` (a model whose optimizer keeps a moving average of the weights cannot be fitted twice on JAX):
    WARM_STEPS steps that compile, then ``steps`` timed ones, then a validation pass that compiles the scoring;
    then one timed checkpoint and one timed ``evaluate``.
    """
    keras.utils.set_random_seed(0)
    model = build()
    training.build_step_variables(model, x, y)  # as the runs do: its small programs are then cached for them
    clock = _Clock()
    n = (WARM_STEPS + steps) * batch_size
    n_val, n_eval = WARM_STEPS * batch_size, max(WARM_STEPS, steps // 3) * batch_size
    t0 = time.perf_counter()
    model.fit(
        _cycle(x, n),
        _cycle(y, n),
        batch_size=batch_size,
        epochs=1,
        shuffle=False,
        verbose=0,
        validation_data=(x[:n_val], y[:n_val]),
        callbacks=[clock],
    )
    validated = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:  # before evaluate: on JAX, a model whose optimizer averages the
        t1 = time.perf_counter()  # weights cannot be saved once it has scored digits after fit (a donated buffer)
        training.save_model_atomic(model, Path(tmp) / "probe.keras")
        save = time.perf_counter() - t1
    t1 = time.perf_counter()
    model.evaluate(_cycle(x, n_eval), _cycle(y, n_eval), batch_size=batch_size, verbose=0)
    eval_image = (time.perf_counter() - t1) / n_eval
    train_step = (clock.test_begin - clock.warm_end) / steps
    return {
        "params": int(model.count_params()),
        "batch_size": batch_size,
        "steps_timed": steps,
        "train_step_s": train_step,
        "train_steps_per_s": 1 / train_step,
        "eval_image_s": eval_image,
        "train_compile_s": max(0.0, clock.warm_end - t0 - WARM_STEPS * train_step),
        "eval_compile_s": max(0.0, validated - clock.test_begin - n_val * eval_image),
        "save_s": save,
    }


# ----------------------------------------------------------------------------------------------------------------
# The run


class FullRun:
    """The chapters' data, models and protocol for one invocation, and the budget."""

    def __init__(self, settings: Settings, report: Report, reference: Path | None, start: float):
        self.settings, self.report, self.reference, self.start = settings, report, reference, start
        self.profile_08 = settings.profile(CHAPTER_08)
        self.profile_11 = settings.profile(CHAPTER_11)
        self.plan = distribution.data_parallel()
        self.probes: dict[str, dict[str, float]] = {}
        self.machine = device_description()
        self._data: dict[str, Any] = {}
        self._protocol: dict[str, Any] | None = None
        #: (last, averaged) validation accuracy of each validated run so far: which weights the refits keep
        self.votes: list[tuple[float, float]] = []

    # -- time
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def budget_left(self) -> float:
        return self.settings.budget_s - self.elapsed()

    # -- data and protocol, loaded once
    def data_08(self):
        if "08" not in self._data:
            data = datasets.experiment_data(self.profile_08, "qmnist")
            train_label = datasets.load_qmnist("train").label  # the chapter's data_note
            test10k = datasets.load_qmnist("test10k")
            keep = datasets.stratified_indices(test10k.labels, self.profile_08.eval_samples(len(test10k)))
            self._data["08"] = types.SimpleNamespace(
                x_train=datasets.as_float(data.x_train),
                y_train=data.y_train,
                x_val=datasets.as_float(data.x_val),
                y_val=data.y_val,
                x_test=datasets.as_float(test10k.images[keep]),
                y_test=test10k.labels[keep],
                label=f"{train_label}, test10k",
            )
        return self._data["08"]

    def data_11(self):
        if "11" not in self._data:
            data = datasets.experiment_data(self.profile_11)
            x_train, x_val = datasets.as_float(data.x_train), datasets.as_float(data.x_val)
            self._data["11"] = types.SimpleNamespace(
                x_train=x_train,
                y_train=data.y_train,
                x_val=x_val,
                y_val=data.y_val,
                x_all=np.concatenate([x_train, x_val]),
                y_all=np.concatenate([data.y_train, data.y_val]),
                x_test=datasets.as_float(data.x_test),
                y_test=data.y_test,
                label=data.label,
            )
        return self._data["11"]

    def protocol(self) -> dict[str, Any]:
        if self._protocol is None:
            self._protocol = chapter_11_protocol(self.profile_11, self.plan)
        return self._protocol

    def seeds(self) -> int:
        return self.profile_11.seeds(self.protocol()["N_SEEDS"])

    def kernels(self) -> tuple[int, ...]:
        if self.settings.kernels is not None:
            return self.settings.kernels
        known = self.protocol()["WIDTHS"]
        return tuple(k for k in KERNEL_ORDER if k in known)

    # -- chapter 08
    def resnet_epochs(self) -> int:
        return self.profile_08.epochs(RESNET_EPOCHS)

    def resnet_build(self):
        d, p = self.data_08(), self.profile_08
        steps_per_epoch = -(-len(d.x_train) // p.batch_size)
        # as chapter 08: a reduced run is too short for Keras's slow batch-normalisation averages
        bn_momentum = models.BN_MOMENTUM if p.is_reduced else models.KERAS_BN_MOMENTUM
        return functools.partial(
            models.resnet,
            blocks=p.blocks(models.RESNET_BLOCKS),
            width=p.max_width,
            bn_momentum=bn_momentum,
            decay_steps=self.resnet_epochs() * steps_per_epoch,
        )

    def resnet_folder(self) -> Path:
        # outside artifacts/<profile>/08_resnet_qmnist, which chapter 08 empties when it starts
        return training.artifacts_dir(self.profile_08.name) / "full_gpu" / "resnet"

    # -- chapter 11
    def m_cached(self, kernel: int, seed: int, refit: bool, use_ema: bool = True) -> bool:
        """Whether the chapter's cache holds this run already (asked through the chapter's own helper)."""
        d = self.data_11()
        where = chapter_11_protocol(
            self.profile_11, self.plan, types.SimpleNamespace(train_or_load=training.cached_model_path)
        )["train"]
        if refit:
            path = where(kernel, seed, d.x_all, d.y_all, None, use_ema=use_ema, suffix="_refit")
        else:
            path = where(kernel, seed, d.x_train, d.y_train, (d.x_val, d.y_val), use_ema=True)
        return path.with_suffix(".json").is_file() and path.is_file()

    # -- estimates
    def work(self, item: Item) -> Work:
        work = Work()
        if item.network == "resnet":
            d, p = self.data_08(), self.profile_08
            epochs = self.resnet_epochs()
            state = checkpoints.read_state(self.resnet_folder()) if self.resnet_folder().exists() else None
            done = int(state["epoch"]) if state and state.get("checkpoint") else 0
            left = max(0, epochs - done)
            if done:
                work.notes.append(f"{done} of {epochs} epochs done before (checkpoints in {self.resnet_folder()})")
            work.train_steps = left * -(-len(d.x_train) // p.batch_size)
            work.eval_images = left * len(d.x_val) + len(d.x_test)
            work.train_compiles = 1 if left else 0
            work.eval_compiles = (1 if left else 0) + 2  # validation batches; the test's 512 and its last batch
            work.epochs = work.saves = left
            return work
        d, p = self.data_11(), self.profile_11
        epochs = self.protocol()["EPOCHS"]
        batch = p.batch_size
        if self.m_cached(item.kernel, item.seed, refit=False):
            work.notes.append("validated run cached")
        else:
            work.train_steps += epochs * -(-len(d.x_train) // batch)
            work.eval_images += epochs * len(d.x_val)
            work.train_compiles += 1
            work.eval_compiles += 1
            work.epochs += epochs
        work.eval_images += len(d.x_val) + len(d.x_test)  # the averaged weights on validation; the test, once
        work.eval_compiles += 2
        if any(self.m_cached(item.kernel, item.seed, refit=True, use_ema=e) for e in (True, False)):
            work.notes.append("refit cached")
        else:
            work.train_steps += epochs * -(-len(d.x_all) // batch)
            work.train_compiles += 1
            work.epochs += epochs
        work.saves = 2
        return work

    def estimate(self, item: Item) -> float:
        work = self.work(item)
        if item.network not in self.probes and not work.empty:
            self.probes[item.network] = self.probe(item)
            self.report.data["probes"][item.network] = {k: _rounded(v) for k, v in self.probes[item.network].items()}
            self.report.write()
        seconds = work.seconds(self.probes.get(item.network))
        say(f"[plan] {item.name}: about {seconds:,.0f} s" + (f" ({'; '.join(work.notes)})" if work.notes else ""))
        return seconds

    def probe(self, item: Item) -> dict[str, float]:
        scale = "reduced" if self.settings.reduced else "full"
        steps = self.settings.probe_steps or PROBE_STEPS[scale]
        t0 = time.monotonic()
        if item.network == "resnet":
            d = self.data_08()
            result = probe_network(self.resnet_build(), d.x_train, d.y_train, self.profile_08.batch_size, steps)
        else:
            d, ns = self.data_11(), self.protocol()
            config = {"kernel": item.kernel, "width": self.profile_11.max_width, "use_ema": True, "seed": 0}
            with self.plan.scope():
                result = probe_network(
                    functools.partial(ns["m_model"], **config),
                    d.x_train,
                    d.y_train,
                    self.plan.check_batch_size(self.profile_11.batch_size),
                    steps,
                )
        result["seconds"] = time.monotonic() - t0
        say(
            f"[probe] {item.network}: {result['train_steps_per_s']:,.1f} training steps/s of {result['batch_size']}, "
            f"compile {result['train_compile_s']:,.1f} s, probe {result['seconds']:,.1f} s"
        )
        return result

    # -- running
    def run_resnet(self) -> list[dict[str, Any]]:
        d, p = self.data_08(), self.profile_08
        state = checkpoints.read_state(self.resnet_folder()) if self.resnet_folder().exists() else None
        done_before = int(state["epoch"]) if state and state.get("checkpoint") else 0
        deadline = Deadline(self.start + self.settings.budget_s)
        run = checkpoints.resumable_fit(
            self.resnet_build(),
            d.x_train,
            d.y_train,
            folder=self.resnet_folder(),
            epochs=self.resnet_epochs(),
            validation_data=(d.x_val, d.y_val),
            batch_size=p.batch_size,
            seed=RESNET_SEED,
            callbacks=[deadline],
        )
        if run.info["epoch"] < self.resnet_epochs():
            raise Interrupted(
                f"stopped after epoch {run.info['epoch']} of {self.resnet_epochs()}: the next would not have ended "
                f"within the budget; its checkpoints are in {self.resnet_folder()}, and the next run goes on from them"
            )
        results.evaluate_and_record(
            {"resnet": run},
            d.x_test,
            d.y_test,
            chapter=CHAPTER_08,
            profile=p.name,
            data=d.label,
            original_accuracy={"resnet": RESNET_ORIGINAL_ACCURACY},
        )
        return [self.row(CHAPTER_08, "resnet", loaded=done_before >= self.resnet_epochs())]

    def run_m(self, item: Item) -> list[dict[str, Any]]:
        d, ns, k, s = self.data_11(), self.protocol(), item.kernel, item.seed
        with self.plan.scope():
            validated = ns["train"](k, s, d.x_train, d.y_train, (d.x_val, d.y_val), use_ema=True)
        last = validated.history["val_accuracy"][-1]
        averaged = float((validated.model.predict(d.x_val, batch_size=500, verbose=0).argmax(1) == d.y_val).mean())
        self.votes.append((last, averaged))
        # as the chapter: keep the averaged weights unless the last ones validate better on average over the runs
        use_ema = bool(np.mean([a for _, a in self.votes]) >= np.mean([v for v, _ in self.votes]))
        with self.plan.scope():
            refit = ns["train"](k, s, d.x_all, d.y_all, None, use_ema=use_ema, suffix="_refit")
        predicted = refit.model.predict(d.x_test, batch_size=500, verbose=0).argmax(1)
        name = f"m{k}_seed{s}_refit"
        results.record_result(
            refit,
            chapter=CHAPTER_11,
            profile=self.profile_11.name,
            data=d.label,
            name=name,
            test_accuracy=float((predicted == d.y_test).mean()),
        )
        row = self.row(CHAPTER_11, name, loaded=validated.loaded and refit.loaded)
        row.update(
            validation_last_weights=last,
            validation_averaged_weights=averaged,
            refit_keeps="averaged" if use_ema else "last",
            runs_deciding_the_weights=len(self.votes),
        )
        return [row]

    def row(self, chapter: str, model: str, loaded: bool) -> dict[str, Any]:
        ledger = results.load_ledger(self.settings.profile_name)
        match = ledger[(ledger["chapter"] == chapter) & (ledger["model"] == model)].iloc[-1]
        keep = ("params", "epochs", "n_train", "val_accuracy", "test_accuracy", "original_test_accuracy")
        return {
            "chapter": chapter,
            "model": model,
            "loaded_from_cache": loaded,
            **{k: _rounded(match[k]) for k in keep if not _missing(match[k])},
        }

    def export(self) -> int | None:
        if self.reference is None:
            return None
        table = results.export_reference(self.machine, path=self.reference, profile=self.settings.profile_name)
        return len(table)


class Interrupted(RuntimeError):
    """An item stopped on purpose before its end (the budget), leaving what resumes it."""


class Deadline(keras.callbacks.Callback):
    """Stops training after an epoch when the next one, as long as the longest so far, would end after ``at``
    (a ``time.monotonic()`` time); the checkpoint of the epoch just finished is kept."""

    def __init__(self, at: float):
        super().__init__()
        self.at, self.longest = at, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._began = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        self.longest = max(self.longest, now - self._began)
        if now + self.longest > self.at:
            self.model.stop_training = True


def _missing(value) -> bool:
    try:
        return value is None or bool(np.isnan(value))
    except TypeError:
        return False


def _rounded(value):
    if isinstance(value, (float, np.floating)):
        return round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    return value


# ----------------------------------------------------------------------------------------------------------------
# The command line


def parse_args(argv: list[str] | None = None) -> tuple[Settings, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="benchmarks/full_gpu.py",
        description="Chapter 08's ResNet and chapter 11's M5, M3, M7 in the full profile, planned to fit a budget.",
    )
    parser.add_argument("--budget-s", type=float, required=True, help="seconds this run may take, probes included")
    parser.add_argument("--scale", choices=("full", "tiny"), default="full", help="tiny: the CPU test's protocol")
    parser.add_argument("--samples", type=int, help="training digits (default: all)")
    parser.add_argument("--epochs", type=int, help="epochs of every run (default: 30 and 150)")
    parser.add_argument("--width", type=float, help="fraction of the filters of every convolution (default: 1)")
    parser.add_argument("--eval", type=int, help="validation and test digits scored (default: all)")
    parser.add_argument("--blocks", type=int, help="at most this many ResNet blocks per stage (default: 3, 4, 6)")
    parser.add_argument("--seeds", type=int, help="seeds per network of chapter 11 (default: the chapter's 5)")
    parser.add_argument("--kernels", help="chapter 11's networks in order, e.g. 5,3,7 (the default)")
    parser.add_argument(
        "--margin",
        type=float,
        default=0.2,
        help="an item runs if the budget left covers its estimate times 1 + MARGIN (default 0.2)",
    )
    parser.add_argument("--probe-steps", type=int, help="training steps timed per network (default 300; tiny: 8)")
    parser.add_argument("--plan-only", action="store_true", help="time the networks, plan, and stop")
    parser.add_argument("--out", type=Path, help="the JSON report (default: artifacts/<profile>/full_gpu_report.json)")
    parser.add_argument(
        "--reference",
        type=Path,
        help="the file the rows are exported to (default: "
        "book/reference_results.csv for the full protocol; a reduced run exports only here)",
    )
    args = parser.parse_args(argv)
    chosen = {k: getattr(args, k) for k in ("samples", "epochs", "width", "eval", "blocks", "seeds")}
    if args.scale == "tiny":
        chosen = {k: (TINY[k] if v is None else v) for k, v in chosen.items()}
    kernels = None
    if args.kernels:
        kernels = tuple(int(k) for k in args.kernels.replace(" ", "").split(","))
    elif args.scale == "tiny":
        kernels = TINY["kernels"]
    for name, value in chosen.items():
        if value is not None and not value > 0:
            parser.error(f"--{name} must be positive, not {value}")
    if not args.budget_s > 0:
        parser.error(f"--budget-s must be positive, not {args.budget_s}")
    settings = Settings(
        budget_s=args.budget_s, kernels=kernels, margin=args.margin, probe_steps=args.probe_steps, **chosen
    )
    return settings, args


def main(argv: list[str] | None = None) -> int:
    start = time.monotonic()
    settings, args = parse_args(argv)
    reference = args.reference or (None if settings.reduced else results.REFERENCE)
    out = args.out or training.artifacts_dir(settings.profile_name) / "full_gpu_report.json"
    report = Report(
        out,
        started=time.strftime("%Y-%m-%d %H:%M:%S"),
        budget_s=settings.budget_s,
        profile=settings.profile_name,
        settings=dataclasses.asdict(settings),
        reference=None if reference is None else str(reference),
    )
    compile_cache = use_compilation_cache(training.artifacts_dir(settings.profile_name) / "jax_cache")
    run = FullRun(settings, report, reference, start)
    kernels = run.kernels()
    unknown = [k for k in kernels if k not in run.protocol()["WIDTHS"]]
    if unknown:
        raise SystemExit(
            f"--kernels: chapter 11 defines M{', M'.join(map(str, run.protocol()['WIDTHS']))}, not {unknown}"
        )
    report.data.update(
        machine=run.machine,
        backend=keras.backend.backend(),
        keras=keras.__version__,
        devices=run.plan.describe(),
        compilation_cache=compile_cache,
        artifacts=str(training.artifacts_dir(settings.profile_name)),
    )
    say(
        f"[full-gpu] {run.machine}; {run.plan.describe()}; budget {settings.budget_s:,.0f} s; profile "
        f"{settings.profile_name}; report {out}"
    )
    items = items_in_order(kernels, run.seeds())
    planned, entries = plan_items(items, run.estimate, run.budget_left, settings.margin)
    report.data["plan"] = entries
    report.data["planned_after_s"] = round(run.elapsed(), 1)
    report.write()
    say("[plan] " + json.dumps(entries))
    not_run = [{"item": e["item"], "reason": e["reason"]} for e in entries if not e["fits"]]
    failed = False
    slowdown = 1.0
    for position, (item, estimate) in enumerate(planned):
        if args.plan_only:
            not_run.append({"item": item.name, "reason": "--plan-only"})
            continue
        need = estimate * slowdown * (1 + settings.margin)
        if need > run.budget_left():
            for later, _ in planned[position:]:
                not_run.append(
                    {
                        "item": later.name,
                        "reason": f"planned, but the earlier items took longer than estimated: "
                        f"{max(run.budget_left(), 0):,.0f} s left, {need:,.0f} s needed"
                        if later is item
                        else f"after {item.name}, which no longer fitted",
                    }
                )
            break
        say(f"[run] {item.name}: estimated {estimate:,.0f} s, {run.budget_left():,.0f} s left")
        t0 = time.monotonic()
        try:
            rows = run.run_resnet() if item.network == "resnet" else run.run_m(item)
        except Interrupted as stop:
            not_run.append({"item": item.name, "reason": str(stop)})
            say(f"[run] {item.name}: {stop}")
            break
        except Exception as err:  # noqa: BLE001 (one item's failure must not lose the others' device time)
            failed = True
            report.data["errors"].append({"item": item.name, "error": repr(err), "traceback": traceback.format_exc()})
            report.write()
            say(f"[run] {item.name} FAILED: {err!r}")
            traceback.print_exc()
            continue
        seconds = time.monotonic() - t0
        if estimate > 0 and not all(r["loaded_from_cache"] for r in rows):
            slowdown = max(slowdown, seconds / estimate)
        exported = run.export()
        report.data["ran"].append(
            {"item": item.name, "seconds": round(seconds, 1), "estimate_s": round(estimate, 1), "rows": rows}
        )
        report.data["exported_rows"] = exported
        report.write()
        accuracy = ", ".join(f"{r['model']} {r.get('test_accuracy', float('nan')):.4f}" for r in rows)
        say(
            f"[run] {item.name}: {seconds:,.0f} s (estimated {estimate:,.0f} s); test accuracy {accuracy}"
            + (f"; {exported} rows in {reference}" if exported is not None else "")
        )
    report.data["not_run"] = not_run
    report.data["elapsed_s"] = round(run.elapsed(), 1)
    report.data["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    report.write()
    say(f"[done] {len(report.data['ran'])} item(s) ran in {run.elapsed():,.0f} s of {settings.budget_s:,.0f}")
    for entry in not_run:
        say(f"[not run] {entry['item']}: {entry['reason']}")
    if reference is None:
        say(
            f"[done] a reduced run exports nothing without --reference; its rows are in "
            f"{results.ledger_path(settings.profile_name)}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
