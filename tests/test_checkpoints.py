"""Checkpoints and exact resume (chapter 08): real kills from outside, damaged files, wrong runs."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from resume_worker import build, data

from mnistlib import checkpoints

WORKER = Path(__file__).with_name("resume_worker.py")
EPOCHS = 4


def start_worker(folder: Path, mode: str) -> subprocess.Popen:
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(folder), str(EPOCHS), mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_worker(folder: Path, mode: str = "normal") -> list[np.ndarray]:
    proc = start_worker(folder, mode)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out
    with np.load(f"{folder}.weights.npz") as npz:
        return [npz[k] for k in sorted(npz.files, key=lambda k: int(k.split("_")[1]))]


def kill_when(proc: subprocess.Popen, progress: Path, line: str, timeout: float = 120) -> None:
    """SIGKILL ``proc`` as soon as its progress file contains ``line``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if progress.exists() and line in progress.read_text():
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL
            return
        if proc.poll() is not None:
            pytest.fail(f"the worker ended before {line!r}: {proc.stdout.read()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"the worker never reached {line!r}")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> list[np.ndarray]:
    """Final weights of a run that nobody interrupted."""
    return run_worker(tmp_path_factory.mktemp("uninterrupted") / "run")


def assert_same_weights(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)  # bit-identical on the CPU


def test_sigkill_mid_epoch_resumes_from_last_epoch_and_ends_identical(tmp_path, uninterrupted):
    folder = tmp_path / "run"
    proc = start_worker(folder, "slow-batches")
    kill_when(proc, Path(f"{folder}.progress"), "epoch 3 batch 2\n")
    state = checkpoints.read_state(folder)
    assert state["epoch"] == 2 and state["history"]["epoch"] == [1, 2]
    assert sorted(p.name for p in folder.glob("*.keras")) == ["epoch-001.keras", "epoch-002.keras"]
    checkpoints.load_checkpoint(folder / "epoch-002.keras")  # complete and loadable
    resumed = run_worker(folder)
    assert_same_weights(resumed, uninterrupted)
    state = checkpoints.read_state(folder)
    assert [(r["first_epoch"], r["last_epoch"], r["resumed"]) for r in state["runs"]] == [(1, 2, False), (3, 4, True)]
    assert state["history"]["epoch"] == [1, 2, 3, 4]


def test_sigkill_mid_write_leaves_the_previous_checkpoint(tmp_path, uninterrupted):
    folder = tmp_path / "run"
    proc = start_worker(folder, "slow-save")
    kill_when(proc, Path(f"{folder}.progress"), "wrote .epoch-002.")
    partial = [p.name for p in folder.glob(".epoch-002.*")]
    assert partial, "the kill should have left the temporary file of epoch 2"
    assert not (folder / "epoch-002.keras").exists()
    assert checkpoints.read_state(folder)["epoch"] == 1
    resumed = run_worker(folder)
    assert_same_weights(resumed, uninterrupted)
    state = checkpoints.read_state(folder)
    assert state["runs"][1]["first_epoch"] == 2
    assert state["runs"][1]["removed_partial_files"] == partial
    assert not list(folder.glob(".*"))


@pytest.fixture
def finished(tmp_path) -> Path:
    """A completed two-epoch run, trained in this process."""
    x, y = data()
    checkpoints.resumable_fit(build, x[:64], y[:64], folder=tmp_path / "run", epochs=2, batch_size=32)
    return tmp_path / "run"


def test_truncated_checkpoint_is_a_clear_error_not_a_fresh_start(finished):
    """With no earlier checkpoint to fall back to (tests/test_faults_checkpoints.py covers the fallback)."""
    (finished / "epoch-001.keras").unlink(missing_ok=True)
    path = finished / "epoch-002.keras"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    x, y = data()
    with pytest.raises(checkpoints.CheckpointError, match=r"epoch-002\.keras is not a complete \.keras file"):
        checkpoints.resumable_fit(build, x[:64], y[:64], folder=finished, epochs=3, batch_size=32)
    assert checkpoints.read_state(finished)["epoch"] == 2  # nothing was overwritten


def test_corrupt_checkpoint_contents_name_the_file(finished):
    path = finished / "epoch-002.keras"
    with zipfile.ZipFile(path, "w") as zf:  # a valid zip with nonsense inside
        zf.writestr("config.json", "{not json")
    with pytest.raises(checkpoints.CheckpointError, match=r"epoch-002\.keras cannot be loaded"):
        checkpoints.load_checkpoint(path)


def test_unreadable_state_names_the_file(finished):
    (finished / "state.json").write_text('{"epoch": 2, "checkp')
    with pytest.raises(checkpoints.CheckpointError, match=r"state\.json: unreadable training state"):
        checkpoints.read_state(finished)


def test_state_naming_a_missing_checkpoint_is_an_error(finished):
    (finished / "epoch-002.keras").unlink()
    with pytest.raises(checkpoints.CheckpointError, match=r"epoch-002\.keras, which is missing"):
        checkpoints.read_state(finished)


def test_wrong_architecture_is_refused(finished):
    def other():
        model = build()
        inputs = keras.Input((28, 28, 1))
        wide = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs)))
        wide.compile(model.optimizer, "sparse_categorical_crossentropy")
        return wide

    x, y = data()
    with pytest.raises(checkpoints.CheckpointError, match="another architecture"):
        checkpoints.resumable_fit(other, x[:64], y[:64], folder=finished, epochs=3, batch_size=32)
    with pytest.raises(checkpoints.CheckpointError, match=r"epoch-002\.keras does not fit model"):
        checkpoints.load_weights(other(), finished / "epoch-002.keras")


def test_other_data_or_settings_are_refused(finished):
    x, y = data()
    with pytest.raises(checkpoints.CheckpointError, match="other settings.*data"):
        checkpoints.resumable_fit(build, x[64:128], y[64:128], folder=finished, epochs=3, batch_size=32)
    with pytest.raises(checkpoints.CheckpointError, match="other settings.*batch_size 32 there, 16 here"):
        checkpoints.resumable_fit(build, x[:64], y[:64], folder=finished, epochs=3, batch_size=16)


def test_a_finished_run_loads_instead_of_training(finished):
    x, y = data()
    result = checkpoints.resumable_fit(build, x[:64], y[:64], folder=finished, epochs=2, batch_size=32)
    assert result.info["epoch"] == 2 and result.epochs == 2 and len(result.info["runs"]) == 2
    assert json.loads((finished / "state.json").read_text())["epoch"] == 2


def test_weights_only_resume_loses_the_optimizer_state(finished):
    full = checkpoints.load_checkpoint(finished / "epoch-002.keras")
    weights_only = checkpoints.load_weights(build(), finished / "epoch-002.keras")
    assert int(full.optimizer.iterations) == 4  # 2 epochs of 2 batches
    assert int(weights_only.optimizer.iterations) == 0
    for u, v in zip(full.get_weights(), weights_only.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_checkpoints_are_pruned_but_kept_epochs_stay(tmp_path):
    x, y = data()
    checkpoints.resumable_fit(build, x[:64], y[:64], folder=tmp_path, epochs=4, batch_size=32, keep=1, keep_epochs=(2,))
    assert sorted(p.name for p in tmp_path.glob("*.keras")) == ["epoch-002.keras", "epoch-004.keras"]


def test_stop_after_then_resume(tmp_path):
    x, y = data()
    first = checkpoints.resumable_fit(build, x[:64], y[:64], folder=tmp_path, epochs=3, batch_size=32, stop_after=1)
    assert first.info["epoch"] == 1
    second = checkpoints.resumable_fit(build, x[:64], y[:64], folder=tmp_path, epochs=3, batch_size=32)
    assert second.history["epoch"] == [1, 2, 3] and int(second.model.optimizer.iterations) == 6


def test_checkpoint_dir_expands_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    folder = checkpoints.checkpoint_dir("~/checkpoints/resnet")
    assert folder == tmp_path / "checkpoints" / "resnet" and folder.is_dir()
    assert not (tmp_path / "~").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(checkpoints.CheckpointError, match="is not a folder"):
        checkpoints.checkpoint_dir(tmp_path / "file")


def test_epoch_order_depends_on_seed_and_epoch_only():
    a = checkpoints.epoch_order(100, 42, 3)
    assert np.array_equal(a, checkpoints.epoch_order(100, 42, 3))
    assert sorted(a) == list(range(100))
    assert not np.array_equal(a, checkpoints.epoch_order(100, 42, 4))
    assert not np.array_equal(a, checkpoints.epoch_order(100, 43, 3))


def test_reseed_resets_every_random_layer():
    model = build()
    state = next(v for v in model.variables if v.path.endswith("seed_generator_state"))
    checkpoints.reseed(model, 1, 5)
    first = keras.ops.convert_to_numpy(state.value)
    state.assign(np.array([9, 9], dtype=state.dtype))
    checkpoints.reseed(model, 1, 5)
    assert np.array_equal(keras.ops.convert_to_numpy(state.value), first)
    checkpoints.reseed(model, 1, 6)
    assert not np.array_equal(keras.ops.convert_to_numpy(state.value), first)


def test_progress_is_shown_by_default_where_training_says_so(tmp_path, monkeypatch, capsys):
    """verbose=None is training.progress_verbose(): Keras's progress bar in JupyterLab, nothing in a build."""
    x, y = data()
    monkeypatch.setattr(checkpoints, "progress_verbose", lambda: 1)
    checkpoints.resumable_fit(build, x[:64], y[:64], folder=tmp_path / "lab", epochs=1, batch_size=32)
    assert "2/2" in capsys.readouterr().out
    monkeypatch.setattr(checkpoints, "progress_verbose", lambda: 0)
    checkpoints.resumable_fit(build, x[:64], y[:64], folder=tmp_path / "build", epochs=1, batch_size=32)
    assert capsys.readouterr().out == ""
