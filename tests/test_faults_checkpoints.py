"""Checkpoint folders that two runs share, lose their state or hold a damaged checkpoint; Ctrl-C in a kernel.

The faults 7, 8 and 11 of "Nothing lost, nothing silent", and issue 33's 3, on a tiny network trained in this
process (a second process where the test needs one): a second run on a folder in use is refused with a clear
error and the first goes on; checkpoints without a consistent ``state.json`` are an error, never a fresh start;
a damaged latest checkpoint falls back to the previous complete one, and the resumed run is still exact; a
checkpoint of another network is refused, naming it; a ``KeyboardInterrupt`` at any point leaves nothing a later
run trusts, and releases the folder.
"""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from mnistlib import checkpoints

EPOCHS = 3
OPTIONS = dict(epochs=EPOCHS, batch_size=16, seed=3, verbose=0)


def build() -> keras.Model:
    inputs = keras.Input((8, 8))
    x = keras.layers.Flatten(name="flatten")(inputs)
    x = keras.layers.Dense(16, activation="relu", name="hidden")(x)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="softmax")(x)
    model = keras.Model(inputs, outputs, name="tiny")
    schedule = keras.optimizers.schedules.CosineDecay(1e-2, 12)
    model.compile(keras.optimizers.Nadam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((64, 8, 8), dtype=np.float32), rng.integers(0, 10, 64)


def fit(folder: Path, **kwargs) -> checkpoints.TrainResult:
    x, y = data()
    return checkpoints.resumable_fit(build, x, y, folder=folder, **{**OPTIONS, **kwargs})


def assert_same_weights(model: keras.Model, expected: list[np.ndarray]) -> None:
    weights = model.get_weights()
    assert len(weights) == len(expected)
    assert all(np.array_equal(a, b) for a, b in zip(weights, expected)), "the resumed run is not bit-identical"


def hidden_files(folder: Path) -> list[str]:
    """Temporary files and the lock: none may remain once a call has ended, however it ended."""
    return sorted(p.name for p in folder.glob(".*"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> list[np.ndarray]:
    """The final weights of a run that nobody interrupted."""
    return fit(tmp_path_factory.mktemp("uninterrupted")).model.get_weights()


class Interrupt(keras.callbacks.Callback):
    """Raise ``KeyboardInterrupt`` (Ctrl-C in a kernel) after batch ``batch`` of epoch ``epoch`` (both 1-based)."""

    def __init__(self, epoch: int, batch: int):
        super().__init__()
        self.at, self.epoch = (epoch, batch), 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch + 1) == self.at:
            raise KeyboardInterrupt


# --- Fault 7: two runs on one checkpoint folder ----------------------------------------------------------------------


def test_a_second_run_on_a_folder_in_use_is_refused_and_the_first_goes_on(tmp_path, monkeypatch, uninterrupted):
    """The second run starts while the first writes its checkpoint: it used to delete the first's temporary file."""
    folder = tmp_path / "run"
    real_save = keras.Model.save
    refused = []

    def save_then_start_a_second_run(self, path, *args, **kwargs):
        real_save(self, path, *args, **kwargs)
        if Path(path).name.startswith(".epoch-002.") and not refused:
            refused.append(None)
            try:
                fit(folder)
            except checkpoints.CheckpointError as err:
                refused[0] = str(err)

    monkeypatch.setattr(keras.Model, "save", save_then_start_a_second_run)
    first = fit(folder)  # before the fix: FileNotFoundError, its epoch-2 file deleted as a leftover
    assert refused[0] is not None
    assert str(folder) in refused[0] and "in use" in refused[0] and f"pid {os.getpid()}" in refused[0]
    assert_same_weights(first.model, uninterrupted)
    state = checkpoints.read_state(folder)
    assert state["epoch"] == EPOCHS and len(state["runs"]) == 1
    assert hidden_files(folder) == []


HOLDER = """
import os, socket, sys
from mnistlib import files

with files.exclusive_lock(sys.argv[1], owner=f"pid {os.getpid()} on {socket.gethostname()}"):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_a_run_in_another_process_is_named_and_its_lock_dies_with_it(tmp_path, uninterrupted):
    """The holder is a light process (no Keras to import) that holds the folder's lock as a training run does."""
    folder = checkpoints.checkpoint_dir(tmp_path / "run")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder / checkpoints.LOCK)],
        env=dict(os.environ, PYTHONPATH=str(root)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line == "locked\n", line + proc.stdout.read()
        with pytest.raises(
            checkpoints.CheckpointError, match=rf"{re.escape(str(folder))} is in use .*pid {proc.pid}\b"
        ):
            fit(folder)
        assert not (folder / "state.json").exists()  # refused before touching anything
    finally:
        proc.send_signal(signal.SIGKILL)  # killed, not released: the lock file stays, the lock itself is gone
        proc.wait(timeout=30)
    assert (folder / checkpoints.LOCK).exists()
    result = fit(folder)
    assert_same_weights(result.model, uninterrupted)
    assert hidden_files(folder) == []


# --- Fault 8: state.json missing or inconsistent, the latest checkpoint damaged --------------------------------------


@pytest.fixture
def stopped(tmp_path) -> Path:
    """A run stopped on purpose after epoch 2 of 3: epoch-001.keras and epoch-002.keras are on disk."""
    fit(tmp_path / "run", stop_after=2)
    assert sorted(p.name for p in (tmp_path / "run").glob("*.keras")) == ["epoch-001.keras", "epoch-002.keras"]
    return tmp_path / "run"


def test_checkpoints_without_state_are_an_error_not_a_fresh_start(stopped):
    (stopped / "state.json").unlink()
    before = {p.name: p.read_bytes() for p in stopped.glob("*.keras")}
    message = r"state\.json is missing.*epoch-001\.keras, epoch-002\.keras"
    with pytest.raises(checkpoints.CheckpointError, match=message):
        fit(stopped)  # before the fix: a fresh start that overwrote both checkpoints
    assert {p.name: p.read_bytes() for p in stopped.glob("*.keras")} == before
    assert not (stopped / "state.json").exists()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda s: s["history"]["loss"].pop(), r"history.*'loss' has 1 entries"),
        (lambda s: [v.pop() for v in s["history"].values()], r"history.*epoch 2"),
        (lambda s: s.update(epoch=1, checkpoint="epoch-001.keras"), r"history.*epoch 1"),
    ],
    ids=["one-list-short", "all-lists-short", "epoch-behind-history"],
)
def test_state_whose_history_does_not_match_its_epoch_is_an_error(stopped, damage, message):
    path = stopped / "state.json"
    state = json.loads(path.read_text())
    damage(state)
    path.write_text(json.dumps(state))
    with pytest.raises(checkpoints.CheckpointError, match=rf"state\.json: .*{message}"):
        checkpoints.read_state(stopped)  # before the fix: returned as if it were consistent
    with pytest.raises(checkpoints.CheckpointError, match=message):
        fit(stopped)


def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one_and_stays_exact(stopped, uninterrupted):
    latest = stopped / "epoch-002.keras"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 3])
    with pytest.warns(UserWarning, match=r"epoch-002\.keras is damaged.*resuming from epoch-001\.keras.*epoch 1"):
        resumed = fit(stopped)  # before the fix: CheckpointError, although epoch 1 was complete on disk
    assert resumed.history["epoch"] == [1, 2, 3]
    assert all(len(v) == EPOCHS for v in resumed.history.values())
    assert_same_weights(resumed.model, uninterrupted)
    state = checkpoints.read_state(stopped)
    assert [(r["first_epoch"], r["last_epoch"]) for r in state["runs"]] == [(1, 2), (2, 3)]
    assert state["runs"][1]["damaged_checkpoints"] == ["epoch-002.keras"]
    checkpoints.load_checkpoint(latest)  # rewritten, complete


def test_a_damaged_latest_checkpoint_without_a_previous_one_is_still_an_error(tmp_path):
    folder = tmp_path / "run"
    fit(folder, stop_after=2, keep=1)
    latest = folder / "epoch-002.keras"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 3])
    with pytest.raises(checkpoints.CheckpointError, match=r"epoch-002\.keras is not a complete .*no earlier"):
        fit(folder)
    assert checkpoints.read_state(folder)["epoch"] == 2


def build_other() -> keras.Model:
    """Another network for the same data: what a checkpoint copied from another run holds."""
    inputs = keras.Input((8, 8))
    x = keras.layers.Flatten(name="flatten")(inputs)
    outputs = keras.layers.Dense(10, activation="softmax", name="softmax")(x)
    model = keras.Model(inputs, outputs, name="other")
    model.compile(keras.optimizers.Nadam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("which", ["latest", "fallen-back-to"])
def test_a_checkpoint_of_another_architecture_is_refused_naming_the_file(stopped, which):
    """Issue 33, 3: state.json was compared with build_fn, never with the model loaded; the other network resumed."""
    latest, previous = stopped / "epoch-002.keras", stopped / "epoch-001.keras"
    swapped = latest if which == "latest" else previous
    if which == "fallen-back-to":
        latest.write_bytes(latest.read_bytes()[:1000])  # damaged: the run falls back to epoch 1
    build_other().save(swapped)
    before = {p.name: p.read_bytes() for p in stopped.iterdir()}
    with pytest.raises(checkpoints.CheckpointError) as caught:
        fit(stopped)  # before the fix: "resumed", trained and returned the other network
    message = str(caught.value)
    assert f"checkpoint {swapped} holds another network" in message and "'other'" in message, message
    assert f"delete {stopped}" in message
    assert {p.name: p.read_bytes() for p in stopped.iterdir()} == before, "nothing is written"


# --- Fault 11: KeyboardInterrupt (Ctrl-C in JupyterLab) --------------------------------------------------------------


def test_keyboard_interrupt_mid_epoch_then_an_exact_resume(tmp_path, uninterrupted):
    folder = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        fit(folder, callbacks=[Interrupt(epoch=2, batch=2)])
    assert checkpoints.read_state(folder)["epoch"] == 1
    assert hidden_files(folder) == []
    resumed = fit(folder)  # the folder is free again: no "in use" error
    assert resumed.history["epoch"] == [1, 2, 3]
    assert_same_weights(resumed.model, uninterrupted)


def test_keyboard_interrupt_while_a_checkpoint_is_written(tmp_path, monkeypatch, uninterrupted):
    folder = tmp_path / "run"
    real_save = keras.Model.save

    def interrupted_save(self, path, *args, **kwargs):
        real_save(self, path, *args, **kwargs)
        if Path(path).name.startswith(".epoch-002."):
            Path(path).write_bytes(Path(path).read_bytes()[:1000])  # part of the file, then Ctrl-C
            raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        fit(folder)
    monkeypatch.setattr(keras.Model, "save", real_save)
    assert checkpoints.read_state(folder)["epoch"] == 1
    assert sorted(p.name for p in folder.iterdir()) == ["epoch-001.keras", "state.json"]
    resumed = fit(folder)
    assert resumed.history["epoch"] == [1, 2, 3]
    assert_same_weights(resumed.model, uninterrupted)


def test_keyboard_interrupt_between_the_first_checkpoint_and_its_state(tmp_path, monkeypatch, uninterrupted):
    """epoch-001.keras is complete but state.json does not name it yet: the next run starts over, without error."""
    folder = tmp_path / "run"
    real_write = checkpoints.atomic_write_bytes

    def interrupted_write(path, data):
        if json.loads(data)["epoch"] == 1:
            raise KeyboardInterrupt
        real_write(path, data)

    monkeypatch.setattr(checkpoints, "atomic_write_bytes", interrupted_write)
    with pytest.raises(KeyboardInterrupt):
        fit(folder)
    monkeypatch.setattr(checkpoints, "atomic_write_bytes", real_write)
    assert (folder / "epoch-001.keras").is_file()
    resumed = fit(folder)
    assert resumed.history["epoch"] == [1, 2, 3]
    assert_same_weights(resumed.model, uninterrupted)
    assert hidden_files(folder) == []
