"""Checkpoints written every epoch, and training that resumes exactly where it stopped.

Introduced in chapter 08 (``08_resnet_qmnist``). A checkpoint folder holds

- ``epoch-NNN.keras``: the whole training state after epoch NNN: architecture,
  weights, batch-normalisation statistics and the optimizer's variables (its
  moments and step counter, hence the position of a learning-rate schedule);
- ``state.json``: the last completed epoch, the file that holds it, the
  settings the run was started with and the history of every epoch, with one
  entry per run (start, interruption, resume) in ``runs``.

Every file is written to a temporary name and renamed into place, so a process
killed at any moment leaves the previous complete checkpoint, never half of a
new one. ``state.json`` is written after its checkpoint: it never names a file
that is not complete on disk.

What makes a resumed run *exact* is that nothing random depends on how many
epochs this process has run: epoch ``e`` shuffles with a generator seeded by
``(seed, e)`` and reseeds Keras with ``seed + e`` before it starts, so an
interrupted-and-resumed run draws the same batches and the same random numbers
as an uninterrupted one (:func:`reseed`).
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .files import atomic_write_bytes
from .fingerprints import architecture_fingerprint, data_fingerprint
from .training import EpochTimer, TrainResult, progress_verbose, run_info, save_model_atomic

__all__ = [
    "CheckpointError",
    "checkpoint_dir",
    "EpochCheckpoint",
    "read_state",
    "load_checkpoint",
    "load_weights",
    "resumable_fit",
    "epoch_order",
    "reseed",
]

STATE = "state.json"
#: The layout of ``state.json``. 2: runs are matched by :func:`mnistlib.fingerprints.architecture_fingerprint`.
FORMAT = 2


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: missing, truncated, corrupt or from another run.

    Raised instead of silently starting afresh. Introduced in chapter 08 (``08_resnet_qmnist``).
    """


def checkpoint_dir(path: str | os.PathLike) -> Path:
    """The folder ``path`` as an absolute path, with ``~`` expanded, created if missing.

    Keras writes ``"~/checkpoints/x.keras"`` to a folder literally named ``~``
    in the working directory; this expands it to the home folder first.
    Introduced in chapter 08 (``08_resnet_qmnist``).
    """
    folder = Path(path).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"checkpoint folder {folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _checkpoint_name(epoch: int) -> str:
    return f"epoch-{epoch:03d}.keras"


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which epoch ``epoch`` (0-based) visits ``n`` samples: a function of ``(seed, epoch)`` only."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def reseed(model: keras.Model, seed: int, epoch: int) -> None:
    """Seed all randomness of epoch ``epoch`` from ``(seed, epoch)`` alone.

    Reseeds Python's and NumPy's global generators, and resets the state of
    every random layer's seed generator (dropout, augmentation), which
    otherwise advances with every batch and would differ between a process that
    ran all epochs and one that resumed. It does not call
    ``keras.utils.set_random_seed``: on TensorFlow, changing the global seed
    makes the next ``fit`` rebuild part of its compiled step, and Keras's
    layers draw from their own seed generators anyway.
    """
    random.seed(seed + epoch)
    np.random.seed(seed + epoch)
    states = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    for i, state in enumerate(states):
        start = int(np.random.default_rng([seed, epoch, i]).integers(1, 2**31 - 1))
        state.assign(np.array([start, 0], dtype=state.dtype))


def read_state(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The folder's ``state.json`` as a dict, ``None`` if the folder holds no run yet.

    Raises :class:`CheckpointError` naming the file if it cannot be read or
    names a checkpoint that is not there.
    """
    path = Path(folder).expanduser() / STATE
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
        epoch, name = int(state["epoch"]), state["checkpoint"]
        state["history"], state["meta"], state["runs"]  # noqa: B018 (all must be present)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(
            f"{path}: unreadable training state ({type(err).__name__}: {err}); "
            f"delete {path.parent} to start that run over"
        ) from err
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: state format {state.get('format')!r}, this mnistlib reads {FORMAT}")
    if name != _checkpoint_name(epoch) or not (path.parent / name).is_file():
        raise CheckpointError(f"{path}: says epoch {epoch} is in {path.parent / name}, which is missing")
    return state


def load_checkpoint(path: str | os.PathLike) -> keras.Model:
    """Load a ``.keras`` checkpoint with its optimizer state; a clear :class:`CheckpointError` if it is damaged.

    Introduced in chapter 08 (``08_resnet_qmnist``).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"checkpoint {path} is not a complete .keras file ({path.stat().st_size:,} bytes, truncated or corrupt)"
        )
    try:
        return keras.saving.load_model(path)
    except Exception as err:  # Keras raises many kinds; all mean the same thing here
        raise CheckpointError(f"checkpoint {path} cannot be loaded ({type(err).__name__}: {err})") from err


def load_weights(model: keras.Model, path: str | os.PathLike) -> keras.Model:
    """Load only the weights stored in ``path`` into ``model``; return ``model``.

    This is how the original experiment resumed: the optimizer's state is lost.

    The optimizer of ``model`` keeps whatever state it has: none, for a freshly
    built model. Raises :class:`CheckpointError` naming the file when it is
    damaged or holds another architecture. Introduced in chapter 08 (``08_resnet_qmnist``).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise CheckpointError(f"checkpoint {path} is not a complete .keras file (truncated or corrupt)")
    try:
        with warnings.catch_warnings():
            # Keras warns that it skips the saved optimizer's variables: skipping them is the point here.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model.load_weights(path)
    except Exception as err:
        raise CheckpointError(
            f"checkpoint {path} does not fit model {model.name!r} ({type(err).__name__}: {err})"
        ) from err
    return model


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch, write the full training state and ``state.json`` atomically; prune old checkpoints.

    ``keep`` is how many of the latest checkpoints stay on disk (at least 1);
    ``keep_epochs`` lists epochs (1-based) kept whatever ``keep`` says.
    ``state`` is the run's state so far (see :func:`resumable_fit`).
    """

    def __init__(
        self, folder: str | os.PathLike, state: dict[str, Any], *, keep: int = 2, keep_epochs: Sequence[int] = ()
    ):
        super().__init__()
        if keep < 1:
            raise ValueError(f"EpochCheckpoint: keep must be at least 1, got {keep}")
        self.folder, self.state, self.keep, self.keep_epochs = checkpoint_dir(folder), state, keep, set(keep_epochs)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        save_model_atomic(self.model, self.folder / _checkpoint_name(done))
        self.state["history"].setdefault("epoch", []).append(done)
        for key, value in (logs or {}).items():
            self.state["history"].setdefault(key, []).append(float(value))
        self.state.update(epoch=done, checkpoint=_checkpoint_name(done))
        self.state["runs"][-1]["last_epoch"] = done
        atomic_write_bytes(self.folder / STATE, json.dumps(self.state, indent=1).encode())
        self._prune(done)

    def _prune(self, done: int) -> None:
        for path in self.folder.glob("epoch-*.keras"):
            try:
                e = int(path.stem.split("-")[1])
            except (IndexError, ValueError):
                continue
            if e <= done - self.keep and e not in self.keep_epochs:
                path.unlink(missing_ok=True)


def _remove_partial_files(folder: Path) -> list[str]:
    """Delete temporary files a killed writer left behind; they are never complete, never trusted."""
    removed = []
    for path in folder.glob(".*.part*"):
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


def resumable_fit(
    build_fn: Callable[[], keras.Model],
    x: np.ndarray,
    y: np.ndarray,
    *,
    folder: str | os.PathLike,
    epochs: int,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    batch_size: int = 128,
    seed: int = 42,
    stop_after: int | None = None,
    initial_epoch: int = 0,
    keep: int = 2,
    keep_epochs: Sequence[int] = (),
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str | None = None,
) -> TrainResult:
    """Train for ``epochs`` epochs with a checkpoint after each; resume from ``folder`` if a run is there.

    A new run seeds Keras with ``seed`` and calls ``build_fn()`` (a compiled
    model). An existing run (``state.json`` in ``folder``) is continued from
    its last completed epoch: the model and optimizer come from its checkpoint,
    after checking that it was started with the same data, seed, batch size
    and architecture; anything else raises :class:`CheckpointError`, never a
    silent fresh start. ``stop_after`` ends this call after that epoch (an
    interruption on purpose: call again to resume). ``initial_epoch`` numbers
    the first epoch of a *new* run (used to continue from weights loaded by
    hand, the original experiment's way). The result's history covers every epoch of every
    run; ``info["runs"]`` says which process ran which epochs. ``verbose=None`` is
    :func:`mnistlib.training.progress_verbose`.
    Introduced in chapter 08 (``08_resnet_qmnist``).
    """
    folder = checkpoint_dir(folder)
    removed = _remove_partial_files(folder)
    data = data_fingerprint(x, y, *(validation_data or ()))
    state = read_state(folder)
    if state is None:
        keras.utils.set_random_seed(seed)
        model = build_fn()
        meta = {
            "architecture": architecture_fingerprint(model),
            "data": data,
            "seed": seed,
            "batch_size": batch_size,
            "n_train": int(len(x)),
            "epochs": epochs,
            "model": model.name,
        }
        state = {"format": FORMAT, "epoch": initial_epoch, "checkpoint": None, "meta": meta, "history": {}, "runs": []}
    else:
        meta = state["meta"]
        wanted = {"data": data, "seed": seed, "batch_size": batch_size}
        differ = [f"{k} {meta.get(k)!r} there, {v!r} here" for k, v in wanted.items() if meta.get(k) != v]
        if differ:
            raise CheckpointError(
                f"{folder / STATE}: that run was started with other settings ({'; '.join(differ)}); "
                "use another folder, or delete this one to start over"
            )
        architecture = architecture_fingerprint(build_fn())
        if architecture != meta["architecture"]:
            raise CheckpointError(
                f"{folder / STATE}: the checkpoints hold another architecture than build_fn "
                f"builds ({meta['architecture']} there, {architecture} here)"
            )
        model = load_checkpoint(folder / state["checkpoint"])
    start = state["epoch"]
    end = epochs if stop_after is None else min(epochs, stop_after)
    state["runs"].append(
        {
            "first_epoch": start + 1,
            "last_epoch": start,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "resumed": bool(state["runs"]),
            "removed_partial_files": removed,
        }
    )
    checkpoint = EpochCheckpoint(folder, state, keep=keep, keep_epochs=keep_epochs)
    verbose = progress_verbose() if verbose is None else verbose
    for epoch in range(start, end):
        order = epoch_order(len(x), seed, epoch)
        reseed(model, seed, epoch)
        model.fit(
            x[order],
            y[order],
            batch_size=batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=False,
            validation_data=validation_data,
            callbacks=[EpochTimer(len(x)), checkpoint, *callbacks],
            verbose=verbose,
        )
        if model.stop_training:
            break
    info = {
        **run_info(x, validation_data, batch_size, seed),
        "runs": state["runs"],
        "folder": str(folder),
        "epoch": state["epoch"],
        "warmup_epochs": [r["first_epoch"] for r in state["runs"]],
    }
    path = folder / state["checkpoint"] if state["checkpoint"] else None
    return TrainResult(model, {k: list(v) for k, v in state["history"].items()}, loaded=False, path=path, info=info)
