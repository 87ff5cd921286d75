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
new one. ``state.json`` is written when a call starts to train and after every
checkpoint: it never names a file that is not complete on disk, and checkpoints
without it (deleted, or copied without it) are an error, never a fresh start
that would overwrite them. A checkpoint damaged later (a truncated copy, a bad
disk) is replaced by the previous complete one on disk, with a warning that
says so, and the history is cut back to its epoch.

One run at a time trains into a folder: :func:`resumable_fit` holds an
exclusive lock (``.lock`` in the folder, :func:`mnistlib.files.exclusive_lock`)
for the whole call, and a second run, in another process or in this one, gets
a :class:`CheckpointError` naming the holder, instead of deleting the first
one's temporary files as leftovers.

What makes a resumed run *exact* is that nothing random depends on how many
epochs this process has run: epoch ``e`` shuffles with a generator seeded by
``(seed, e)`` and reseeds Keras with ``seed + e`` before it starts, so an
interrupted-and-resumed run draws the same batches and the same random numbers
as an uninterrupted one (:func:`reseed`).
"""

from __future__ import annotations

import contextlib
import json
import math
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

from .files import LockHeldError, TrainingInterrupted, atomic_write_bytes, exclusive_lock, shown_path
from .fingerprints import architecture_fingerprint, data_fingerprint
from .training import EpochTimer, TrainResult, build_step_variables, progress_verbose, run_info, save_model_atomic

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
#: The lock file of a folder in use (:func:`mnistlib.files.exclusive_lock`); deleted when the call ends.
LOCK = ".lock"
#: The layout of ``state.json``. 2: runs are matched by :func:`mnistlib.fingerprints.architecture_fingerprint`.
FORMAT = 2


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: missing, truncated, corrupt or from another run.

    Raised instead of silently starting afresh.
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

    Raises :class:`CheckpointError` naming the file if it cannot be read, names
    a checkpoint that is not there, holds a history that does not end at its
    epoch, or is missing beside ``epoch-*.keras`` files: those belong to a run
    whose settings and history are lost, and starting afresh would overwrite them.
    ``"checkpoint": null`` is a run that started and completed no epoch yet.
    """
    folder = Path(folder).expanduser()
    path = folder / STATE
    if not path.exists():
        found = sorted(p.name for p in folder.glob("epoch-*.keras"))
        if found:
            raise CheckpointError(
                f"{path} is missing, but {folder} holds checkpoints ({', '.join(found)}): their run's settings and "
                "history are unknown, so it cannot resume, and a fresh start would overwrite them. Move them "
                "elsewhere, or load one by hand (load_checkpoint or load_weights) and continue it in a new folder "
                "with initial_epoch"
            )
        return None
    try:
        state = json.loads(path.read_text())
        epoch, name, history, runs = int(state["epoch"]), state["checkpoint"], state["history"], state["runs"]
        state["meta"]  # noqa: B018 (must be present)
        lengths = {key: len(values) for key, values in history.items()}
        epochs = [int(e) for e in history.get("epoch", [])]
        first = int(runs[0]["first_epoch"]) if runs else epoch - len(epochs) + 1
    except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
        raise CheckpointError(
            f"{path}: unreadable training state ({type(err).__name__}: {err}); "
            f"delete {path.parent} to start that run over"
        ) from err
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: state format {state.get('format')!r}, this mnistlib reads {FORMAT}")
    start_over = f"the file was changed or damaged; delete {folder} to start that run over"
    uneven = [key for key, n in lengths.items() if n != len(epochs)]
    if uneven:
        raise CheckpointError(
            f"{path}: inconsistent history: {uneven[0]!r} has {lengths[uneven[0]]} entries, "
            f"'epoch' has {len(epochs)}; {start_over}"
        )
    if epochs != list(range(first, epoch + 1)):
        raise CheckpointError(
            f"{path}: inconsistent history: it holds epochs {epochs}, a run from epoch {first} "
            f"to epoch {epoch} has {list(range(first, epoch + 1))}; {start_over}"
        )
    if name is None:
        if epochs:
            raise CheckpointError(f"{path}: names no checkpoint, yet epochs {epochs} are complete; {start_over}")
        return state
    if name != _checkpoint_name(epoch) or not (folder / name).is_file():
        raise CheckpointError(f"{path}: says epoch {epoch} is in {folder / name}, which is missing")
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
        history = self.state["history"]
        n = len(history.get("epoch", []))
        history.setdefault("epoch", []).append(done)
        for key, value in (logs or {}).items():
            history.setdefault(key, [math.nan] * n).append(float(value))  # a key new this epoch: NaN before
        for values in history.values():
            if len(values) == n:  # a key missing this epoch: one entry per epoch all the same
                values.append(math.nan)
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
    """Delete temporary files a killed writer left behind; they are never complete, never trusted.

    Only under the folder's lock: a live writer's temporary file looks the same.
    """
    removed = []
    for path in folder.glob(".*.part*"):
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


@contextlib.contextmanager
def _folder_lock(folder: Path):
    """Hold the folder's lock for the body, or raise :class:`CheckpointError` naming the run that holds it."""
    owner = f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}"
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(exclusive_lock(folder / LOCK, owner))
    except LockHeldError as err:
        raise CheckpointError(
            f"checkpoint folder {folder} is in use by another run ({err.holder or 'holder unknown'}): two runs in one "
            "folder would delete each other's files. Wait for that run to end (interrupt it, or let it finish), "
            "or train into another folder"
        ) from None
    with stack:
        yield


def _load_run_checkpoint(path: Path, architecture: str) -> keras.Model:
    """:func:`load_checkpoint`, refusing a model whose architecture is not the run's (``architecture``)."""
    model = load_checkpoint(path)
    found = architecture_fingerprint(model)
    if found != architecture:
        raise _OtherArchitectureError(
            f"checkpoint {path} holds another network than its run (architecture {found}, model {model.name!r}; "
            f"the run's, in {path.parent / STATE} and built by build_fn, is {architecture}): it was replaced or "
            f"copied from another run. Put the run's own checkpoint back, or delete {path.parent} to start that "
            "run over"
        )
    return model


class _OtherArchitectureError(CheckpointError):
    """A complete checkpoint of another network: never a damaged file to fall back from silently."""


def _load_latest(folder: Path, state: dict[str, Any]) -> tuple[keras.Model, list[str]]:
    """The model of the latest complete checkpoint, and the names of the damaged ones skipped on the way.

    When the checkpoint ``state`` names is damaged, the previous ones on disk
    are tried, newest first; ``state`` is cut back to the first that loads
    (epoch, checkpoint, history), so that training from it is still the planned
    run, and a warning names both files. No complete one: :class:`CheckpointError`.
    A checkpoint that loads but holds another architecture than the run's is a
    :class:`CheckpointError` naming it, whichever one it is.
    """
    architecture = state["meta"]["architecture"]
    latest = folder / state["checkpoint"]
    try:
        return _load_run_checkpoint(latest, architecture), []
    except _OtherArchitectureError:
        raise
    except CheckpointError as err:
        damage = err
    damaged, epochs = [latest.name], state["history"]["epoch"]
    for index in range(len(epochs) - 2, -1, -1):
        path = folder / _checkpoint_name(epochs[index])
        if not path.is_file():
            continue
        try:
            model = _load_run_checkpoint(path, architecture)
        except _OtherArchitectureError:
            raise
        except CheckpointError:
            damaged.append(path.name)
            continue
        epoch = epochs[index]
        warnings.warn(
            f"checkpoint {latest} is damaged ({damage}); resuming from {path.name}, the latest complete "
            f"checkpoint, after epoch {epoch}: epochs {epoch + 1} to {state['epoch']} are trained again"
            + (f" (also damaged: {', '.join(damaged[1:])})" if len(damaged) > 1 else ""),
            stacklevel=3,
        )
        state["history"] = {key: values[: index + 1] for key, values in state["history"].items()}
        state.update(epoch=epoch, checkpoint=path.name)
        return model, damaged
    raise CheckpointError(
        f"{damage}; no earlier complete checkpoint in {folder} to fall back on"
        + (f" (also damaged: {', '.join(damaged[1:])})" if len(damaged) > 1 else "")
        + f"; delete {folder} to start that run over"
    ) from damage


def _interrupted(folder: Path, state: dict[str, Any], epochs: int) -> TrainingInterrupted:
    """What an interruption of :func:`resumable_fit` kept, and how to go on, in three lines."""
    try:  # what the next call will read: state.json on disk (the interruption may have come before its write)
        state = read_state(folder) or state
    except (CheckpointError, OSError):  # unreadable: the message falls back to this run's own account
        pass
    done, where = state["epoch"], shown_path(folder)
    if state["checkpoint"] is None:
        kept = f"no checkpoint yet (no epoch was completed), in {where}."
        on = "run the cell again: training starts again from its first epoch."
    else:
        kept = f"the checkpoint of epoch {done} ({state['checkpoint']}), in {where}."
        on = f"run the cell again: training resumes at epoch {done + 1}, exactly as if it had not stopped."
    return TrainingInterrupted(f"Training was interrupted in epoch {done + 1} of {epochs}.", kept, on)


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
    and architecture, and that the checkpoint holds that architecture;
    anything else raises :class:`CheckpointError` naming the file, never a
    silent fresh start. If that checkpoint is damaged, the previous complete
    one on disk is used, with a warning (:func:`read_state` says what else is
    refused). The folder is locked for the whole call: another call on it
    while this one runs raises :class:`CheckpointError` at once. ``stop_after`` ends this call after that epoch (an
    interruption on purpose: call again to resume). ``initial_epoch`` numbers
    the first epoch of a *new* run (used to continue from weights loaded by
    hand, the original experiment's way). The result's history covers every epoch of every
    run; ``info["runs"]`` says which process ran which epochs. ``verbose=None`` is
    :func:`mnistlib.training.progress_verbose`.
    Introduced in chapter 08 (``08_resnet_qmnist``).
    """
    folder = checkpoint_dir(folder)
    with _folder_lock(folder):  # before anything is deleted: another run's temporary files look like leftovers
        removed = _remove_partial_files(folder)
        data = data_fingerprint(x, y, *(validation_data or ()))
        state = read_state(folder)
        damaged = []
        if state is None or state["checkpoint"] is None:  # no run, or one that completed no epoch
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
            state = {
                "format": FORMAT,
                "epoch": initial_epoch,
                "checkpoint": None,
                "meta": meta,
                "history": {},
                "runs": [],
            }
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
            model, damaged = _load_latest(folder, state)
        start = state["epoch"]
        end = epochs if stop_after is None else min(epochs, stop_after)
        state["runs"].append(
            {
                "first_epoch": start + 1,
                "last_epoch": start,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                "resumed": state["checkpoint"] is not None,
                "removed_partial_files": removed,
                "damaged_checkpoints": damaged,
            }
        )
        if start < end or damaged:
            # From now on state.json says this run exists, before any checkpoint does; after a fallback, it
            # names the checkpoint this run goes on from.
            atomic_write_bytes(folder / STATE, json.dumps(state, indent=1).encode())
        checkpoint = EpochCheckpoint(folder, state, keep=keep, keep_epochs=keep_epochs)
        verbose = progress_verbose() if verbose is None else verbose
        if start < end:
            build_step_variables(model, x, y)
        try:
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
        except KeyboardInterrupt:
            raise _interrupted(folder, state, epochs) from None
    info = {
        **run_info(x, validation_data, batch_size, seed),
        "runs": state["runs"],
        "folder": str(folder),
        "epoch": state["epoch"],
        "warmup_epochs": [r["first_epoch"] for r in state["runs"]],
    }
    path = folder / state["checkpoint"] if state["checkpoint"] else None
    return TrainResult(model, {k: list(v) for k, v in state["history"].items()}, loaded=False, path=path, info=info)
