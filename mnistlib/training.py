"""Training helpers: seeded, timed fits and a load-or-train cache.

Introduced in chapter 03 (``03_linear_models``). ``fit`` wraps ``model.fit``
with the callbacks the chapters need and records seconds per epoch and images
per second with the history. ``train_or_load`` trains a model once per exact
configuration and profile and keeps it, with its history, under
``artifacts/<profile>/``, so later chapters reuse models instead of retraining.
Everything written is written atomically, under a lock on the cache folder;
a cached entry that cannot be read raises :class:`CacheError`, naming the file.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import re
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from . import files
from .files import TrainingInterrupted, atomic_target, atomic_write_bytes, locked, shown_path
from .fingerprints import architecture_fingerprint, data_fingerprint

__all__ = [
    "ARTIFACTS_ENV",
    "BUILD_ENV",
    "artifacts_dir",
    "progress_verbose",
    "EpochTimer",
    "StopAtAccuracy",
    "StepLosses",
    "TrainResult",
    "fit",
    "train_or_load",
    "cached_model_path",
    "train_models",
    "ModelSpec",
    "run_info",
    "save_model_atomic",
    "config_key",
    "CacheError",
]

ARTIFACTS_ENV = "MNISTBOOK_ARTIFACTS"
#: Set (to anything but ``0``) by the Makefile for the book build, the tests and the benchmarks: no progress bars.
BUILD_ENV = "MNISTBOOK_BUILD"


def progress_verbose() -> int:
    """Keras's ``verbose`` for the book's fits: a progress bar when a reader runs a chapter, none in builds.

    0 when ``MNISTBOOK_BUILD`` is set (a progress bar would land in the HTML
    page and the nbval log), else 1 inside an IPython kernel (JupyterLab),
    else 0 (a script or a terminal).
    """
    if os.environ.get(BUILD_ENV, "").strip() not in ("", "0"):
        return 0
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return 1 if getattr(shell, "kernel", None) is not None else 0


def artifacts_dir(profile: str) -> Path:
    """Folder for one profile's trained models, histories and ledger.

    ``$MNISTBOOK_ARTIFACTS/<profile>`` if set, else ``artifacts/<profile>`` in the
    book's root (the folder holding ``_toc.yml``, searched upwards from the
    working directory). Git ignores it. Introduced in chapter 08 (``08_resnet_qmnist``).
    """
    env = os.environ.get(ARTIFACTS_ENV, "").strip()
    if env:
        return Path(env).expanduser() / profile
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file():
            return folder / "artifacts" / profile
    return here / "artifacts" / profile


class EpochTimer(keras.callbacks.Callback):
    """Adds ``seconds``, ``images_per_second`` and ``train_cpu_seconds`` to each epoch's logs.

    ``seconds`` is the whole epoch, validation included; ``images_per_second``
    counts training only: the time up to the start of the epoch's validation
    pass. ``train_cpu_seconds`` is the processor time all the process's threads
    spent on that training part: the work itself, which does not change when a
    shared machine grants the process fewer cores for a while, as wall time
    does.
    """

    def __init__(self, n_samples: int):
        super().__init__()
        self.n_samples = n_samples
        self.epochs_done = 0  # epochs completed by this callback's fits, for the message of an interruption

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._train_end = time.perf_counter(), None
        self._cpu_start, self._cpu_train_end = time.process_time(), None

    def on_test_begin(self, logs=None):
        if getattr(self, "_train_end", 0) is None:  # the validation pass inside an epoch
            self._train_end, self._cpu_train_end = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        end, cpu_end = time.perf_counter(), time.process_time()
        if logs is not None:
            logs["seconds"] = end - self._start
            logs["images_per_second"] = self.n_samples / ((self._train_end or end) - self._start)
            logs["train_cpu_seconds"] = (self._cpu_train_end or cpu_end) - self._cpu_start
        self.epochs_done += 1


class StepLosses(keras.callbacks.Callback):
    """The training loss of every step, in ``losses``.

    Keras reports, after each step, the mean loss of the epoch so far, each step weighted by its number of
    digits; with ``W_k`` the digits of the epoch's first ``k`` steps and ``w_k`` those of step ``k``, the loss
    of step ``k`` is ``(W_k * mean_k - W_(k-1) * mean_(k-1)) / w_k``. Asking for the logs after every step
    costs a little speed, so :func:`fit` adds this callback only when ``step_losses=True``.
    """

    def __init__(self, n_samples: int, batch_size: int):
        super().__init__()
        self.n_samples, self.batch_size = int(n_samples), int(batch_size)
        self.losses: list[float] = []
        self._mean = self._seen = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._mean = self._seen = 0.0

    def on_train_batch_end(self, batch, logs=None):
        mean = float((logs or {})["loss"])
        size = min(self.batch_size, self.n_samples - batch * self.batch_size)
        seen = self._seen + size
        self.losses.append((seen * mean - self._seen * self._mean) / size)
        self._mean, self._seen = mean, seen


class StopAtAccuracy(keras.callbacks.Callback):
    """Stops training once a *validation* accuracy reaches ``target``.

    Refuses to watch anything but a validation metric: stopping on the test
    set would make the test score meaningless.
    """

    def __init__(self, target: float, monitor: str = "val_accuracy"):
        super().__init__()
        if not monitor.startswith("val_"):
            raise ValueError(f"StopAtAccuracy watches validation metrics only (val_...), not {monitor!r}")
        if not 0 < target <= 1:
            raise ValueError(f"StopAtAccuracy: target must be in (0, 1], got {target}")
        self.target, self.monitor = target, monitor
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise KeyError(f"StopAtAccuracy: {self.monitor!r} is not in the logs; pass validation data to fit")
        if value >= self.target:
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True


@dataclass
class TrainResult:
    """A trained model, its per-epoch history and how it was obtained."""

    model: keras.Model
    history: dict[str, list[float]]
    loaded: bool = False
    path: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)
    #: The class predicted for each test digit, set by ``results.evaluate_and_record`` (the one look at the test
    #: set), so that a chapter compares two models' errors digit by digit without predicting again.
    test_predictions: np.ndarray | None = None

    @property
    def epochs(self) -> int:
        return len(self.history.get("loss", []))

    def _steady_median(self, key: str) -> float:
        """Median per-epoch value without warm-up epochs (the first of each process: tracing), when others
        exist; NaN if the history has no such values."""
        values = self.history.get(key, [])
        epochs = self.history.get("epoch", list(range(1, len(values) + 1)))
        warm = set(self.info.get("warmup_epochs", epochs[:1]))
        steady = [v for e, v in zip(epochs, values) if e not in warm] or list(values)
        return float(np.median(steady)) if steady else float("nan")

    @property
    def seconds_per_epoch(self) -> float:
        """Median seconds per epoch; warm-up epochs (tracing) are excluded when there are others."""
        return self._steady_median("seconds")

    @property
    def images_per_second(self) -> float:
        """Median training images per second, warm-up epochs excluded when there are others."""
        return self._steady_median("images_per_second")

    @property
    def cpu_seconds_per_epoch(self) -> float:
        """Median processor seconds (all threads) of an epoch's training part, warm-up epochs excluded.

        NaN for a history without them (one not recorded by :class:`EpochTimer`).
        """
        return self._steady_median("train_cpu_seconds")

    @property
    def train_seconds(self) -> float:
        return float(sum(self.history.get("seconds", [])))

    def describe(self) -> str:
        """One line: loaded or trained, epochs, parameters, speed and the last validation accuracy."""
        val = self.history.get("val_accuracy")
        return (
            f"{'loaded' if self.loaded else 'trained'}: {self.epochs} epochs, "
            f"{self.model.count_params():,} parameters, {self.seconds_per_epoch:.2f} s/epoch, "
            f"{self.images_per_second:,.0f} images/s" + (f", validation {val[-1]:.4f}" if val else "")
        )


def build_step_variables(model: keras.Model, x, y) -> None:
    """Create the optimizer's and the compiled metrics' variables before ``model.fit`` first runs.

    Keras creates them inside the first training step, and a TensorFlow function that creates variables is
    traced a second time without them: a second trace of the step, about as slow as the first (the commit log
    holds the measurement on chapter 08's network). Built here instead, from one
    digit of ``x`` in inference mode, the step is traced once (tested). Nothing trained changes: the
    optimizer's variables start at zero either way, the metrics are reset afterwards, and no layer draws a
    random number in inference mode (tested bit for bit). Already-built variables are left as they are, so
    a model loaded with its optimizer keeps its state.
    """
    if getattr(model, "optimizer", None) is None:
        raise ValueError(f"build_step_variables: model {model.name!r} is not compiled; call model.compile first")
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    one_x, one_y = x[:1], y[:1]
    model.compute_metrics(one_x, one_y, model(one_x, training=False), sample_weight=None)
    model.reset_metrics()


def fit(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    validation_data: tuple[np.ndarray, np.ndarray] | None,
    epochs: int,
    batch_size: int = 128,
    seed: int = 42,
    csv_log: str | os.PathLike | None = None,
    reduce_lr: bool = False,
    early_stopping: int | None = None,
    target_accuracy: float | None = None,
    learning_rates: Sequence[float] | None = None,
    callbacks: list | None = None,
    verbose: int | str | None = None,
    step_losses: bool = False,
) -> TrainResult:
    """Fit ``model`` with seeding, timing and the chapters' callbacks; return a :class:`TrainResult`.

    ``reduce_lr`` halves the learning rate when validation loss stalls for 2
    epochs; ``early_stopping`` stops after that many epochs without validation
    improvement and restores the best weights; ``target_accuracy`` stops at a
    validation accuracy (:class:`StopAtAccuracy`); ``learning_rates`` sets the
    learning rate of each epoch, one rate per epoch (a schedule replayed without
    validation data, :func:`mnistlib.book_models.refit_book_model`); ``csv_log`` writes a CSV row
    per epoch; ``step_losses`` adds the loss of every training step to the history as ``step_loss``
    (:class:`StepLosses`). ``seed`` seeds shuffling and dropout; the initial weights were
    drawn when the model was built, so seed before building too (as
    :func:`train_or_load` does). ``verbose=None`` is :func:`progress_verbose`.
    Introduced in chapter 06 (``06_augmentation``).
    """
    keras.utils.set_random_seed(seed)
    cbs = [EpochTimer(len(x))] + list(callbacks or [])
    needs_val = reduce_lr or early_stopping or target_accuracy
    if needs_val and validation_data is None:
        raise ValueError("fit: reduce_lr, early_stopping and target_accuracy need validation_data")
    if learning_rates is not None:
        rates = [float(r) for r in learning_rates]
        if len(rates) != epochs or not all(np.isfinite(r) and r > 0 for r in rates):
            raise ValueError(f"fit: learning_rates needs one positive rate per epoch ({epochs}); got {rates}")
        if reduce_lr:
            raise ValueError("fit: learning_rates and reduce_lr both set the learning rate; pass one")
        cbs.append(keras.callbacks.LearningRateScheduler(lambda epoch, _: rates[epoch]))
    if csv_log is not None:
        Path(csv_log).parent.mkdir(parents=True, exist_ok=True)
        cbs.append(keras.callbacks.CSVLogger(str(csv_log)))
    if reduce_lr:
        cbs.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=1e-5))
    if early_stopping:
        cbs.append(
            keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=early_stopping, restore_best_weights=True)
        )
    if target_accuracy is not None:
        cbs.append(StopAtAccuracy(target_accuracy))
    steps = StepLosses(len(x), batch_size) if step_losses else None
    if steps is not None:
        cbs.append(steps)
    build_step_variables(model, x, y)
    try:
        hist = model.fit(
            x,
            y,
            validation_data=validation_data,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=True,
            callbacks=cbs,
            verbose=progress_verbose() if verbose is None else verbose,
        )
    except TrainingInterrupted:
        raise
    except KeyboardInterrupt:
        done = cbs[0].epochs_done
        raise TrainingInterrupted(
            f"Training of {model.name!r} was interrupted in epoch {done + 1} of {epochs}.",
            "the model, with the weights it had at the interruption; nothing was saved to disk.",
            "run the cell again: it trains the model again from its first epoch.",
        ) from None
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    if steps is not None:
        history["step_loss"] = steps.losses
    return TrainResult(model, history, info=run_info(x, validation_data, batch_size, seed))


def run_info(x, validation_data, batch_size: int, seed: int) -> dict[str, Any]:
    """What a :class:`TrainResult` records of how it was trained: sizes, batch, seed, Keras and backend."""
    return {
        "batch_size": batch_size,
        "seed": seed,
        "n_train": int(len(x)),
        "n_val": int(len(validation_data[0])) if validation_data is not None else 0,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
    }


#: What a cached history holds; part of the cache key, so a model cached with an older history (one
#: without ``train_cpu_seconds``, say) is retrained rather than shown with figures missing.
HISTORY_FORMAT = 2


#: How Python prints an object it knows nothing about: ``<Foo object at 0x7f3a...>``, another text every run.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
#: Attributes Keras sets on a callback while it trains: not part of what the callback is.
_RUN_ATTRIBUTES = frozenset({"model", "params", "validation_data"})


def _code_digest(code) -> str:
    """A hash of a function's compiled code: its bytecode, constants (nested functions' too) and names."""
    h = hashlib.sha256(code.co_code)
    for const in code.co_consts:
        h.update((_code_digest(const) if inspect.iscode(const) else repr(const)).encode())
    h.update(repr(code.co_names).encode())
    return h.hexdigest()[:12]


#: The objects :func:`_object_config` is describing in this thread: one met again refers to itself.
_DESCRIBING = threading.local()


class _SelfReference(ValueError):
    """An object whose description contains the object itself (no finite cache key)."""


def _describable(value: Any) -> bool:
    try:
        json.dumps(value, default=_key_default)
    except (TypeError, ValueError):
        return False
    return True


def _object_config(obj: Any) -> Any:
    """:func:`_object_settings` of ``obj``, already written out as JSON values, so that an object found again
    inside its own description is noticed (:class:`_SelfReference`) instead of recursing without end."""
    active = _DESCRIBING.__dict__.setdefault("ids", set())
    if id(obj) in active:
        raise _SelfReference(f"{type(obj).__qualname__} refers to itself")
    active.add(id(obj))
    try:
        return json.loads(json.dumps(_object_settings(obj), sort_keys=True, default=_key_default))
    finally:
        active.discard(id(obj))


def _object_settings(obj: Any) -> dict[str, Any]:
    """What an object is, for a cache key: its ``get_config()``, else its constructor's arguments as it kept
    them (attribute ``arg`` or ``_arg``), plus its other describable public attributes when some argument was
    not kept under its own name."""
    get_config = getattr(obj, "get_config", None)
    if callable(get_config):
        try:
            return get_config()
        except Exception:  # a get_config that needs more than it has (a layer never built): describe it otherwise
            pass
    try:
        state = vars(obj)
    except TypeError:
        state = {}
    try:
        params = [
            p.name
            for p in inspect.signature(type(obj)).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
    except (TypeError, ValueError):
        params = []
    config, unkept = {}, not params
    for name in params:
        attribute = next((a for a in (name, f"_{name}") if a in state), None)
        if attribute is None:
            unkept = True
        else:
            config[name] = state[attribute]
    if unkept:
        config.update(
            (k, v)
            for k, v in state.items()
            if not k.startswith("_") and k not in _RUN_ATTRIBUTES and k not in config and _describable(v)
        )
    if not config and not state:
        raise ValueError(f"cannot describe {obj!r} in a cache key (no configuration, no attributes)")
    return config


def _key_default(obj: Any) -> Any:
    """How :func:`config_key` writes what JSON cannot: its text, unless that holds a memory address (which differs
    every run, so the model would never be found again); then a function by name and code, an object by class and
    configuration (:func:`_object_config`)."""
    text = str(obj)
    if not _ADDRESS.search(text):
        return text
    if isinstance(obj, functools.partial):
        return {"partial": obj.func, "args": list(obj.args), "keywords": obj.keywords}
    if inspect.ismethod(obj):
        return {"method": obj.__func__, "of": f"{type(obj.__self__).__module__}.{type(obj.__self__).__qualname__}"}
    if inspect.isfunction(obj):
        cells = []
        for cell in obj.__closure__ or ():
            try:
                cells.append(cell.cell_contents)
            except ValueError:  # a cell not yet filled
                cells.append(None)
        return {
            "function": f"{obj.__module__}.{obj.__qualname__}",
            "code": _code_digest(obj.__code__),
            "defaults": obj.__defaults__,
            "kwdefaults": obj.__kwdefaults__,
            "closure": cells,
        }
    try:
        return {"class": f"{type(obj).__module__}.{type(obj).__qualname__}", "config": _object_config(obj)}
    except _SelfReference:
        raise
    except ValueError as err:
        raise ValueError(f"{err}; give its class a get_config() or keep its settings as attributes") from None


def config_key(**parts: Any) -> str:
    """A short stable hash of a training configuration (JSON of ``parts``, sorted keys).

    What JSON cannot write is written as its text, except where that text holds
    a memory address (a callback, a function): that is described by its class
    and settings, or its name and code, so that the same configuration has the
    same key in every run. Raises ``ValueError`` for an object it cannot describe.
    """
    try:
        blob = json.dumps(parts, sort_keys=True, default=_key_default).encode()
    except _SelfReference as err:
        raise ValueError(f"config_key: the configuration refers to itself ({err}); it cannot be hashed") from None
    return hashlib.sha256(blob).hexdigest()[:12]


def save_model_atomic(model: keras.Model, path: str | os.PathLike) -> Path:
    """Save ``model`` as a ``.keras`` file so that the file is complete or absent, never half-written."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"save_model_atomic: {path} must end in .keras")
    with atomic_target(path, suffix=".part.keras") as tmp:
        model.save(tmp)
    return path


class CacheError(RuntimeError):
    """A cached model or history that cannot be used: truncated, corrupt, from another configuration, or a
    history without its model.

    Raised instead of training again over it, so nothing is lost without a word; its message names the file
    and says how to train the model again.
    """


#: The lock (``.cache.lock``) every reader and writer of a cache folder's entries holds while it reads or writes.
_CACHE_LOCK = ".cache"
#: A temporary file of an entry's model or history (:func:`mnistlib.files.atomic_target`): ``.<name>-<key>.keras.*``.
_ENTRY_TEMP = re.compile(r"^\.(?P<target>.+-[0-9a-f]{12}\.(?:keras|json))\..+\.part(?:\.keras)?$")
#: Where processes cannot lock a file, a temporary file is stale only when no writer touched it for this long.
_UNLOCKED_STALE_SECONDS = 3600


def _remedy(model_path: Path) -> str:
    return (
        f"delete {model_path.name} and {model_path.with_suffix('.json').name} in {model_path.parent} "
        "to train that model again (train_or_load(..., retrain=True) does the same)"
    )


def _remove_stale_temps(folder: Path) -> list[str]:
    """Delete the temporary files of cache entries that a killed writer left in ``folder``; call it holding the
    folder's lock: every writer of an entry holds it while its temporary file exists, so none left is live."""
    removed = []
    now = time.time()
    for path in folder.glob(".*.part*"):
        if not _ENTRY_TEMP.match(path.name):
            continue
        try:
            if files.fcntl is None and now - path.stat().st_mtime < _UNLOCKED_STALE_SECONDS:
                continue  # no locks here: it may be another process's save in progress
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path.name)
    return removed


def _read_history(path: Path, model_path: Path, key: str) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text())
        history, info = record["history"], record["info"]
        if not isinstance(history, dict) or not isinstance(info, dict):
            raise TypeError("'history' and 'info' must be objects")
        history = {str(k): [float(v) for v in values] for k, values in history.items()}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CacheError(
            f"cached history {path} is unreadable ({type(err).__name__}: {err}); {_remedy(model_path)}"
        ) from err
    if info.get("key") != key:
        raise CacheError(
            f"cached history {path} belongs to another configuration (key {info.get('key')!r}, not {key!r}); "
            f"{_remedy(model_path)}"
        )
    return {"history": history, "info": info}


def _read_model(path: Path) -> keras.Model:
    if not zipfile.is_zipfile(path):
        raise CacheError(
            f"cached model {path} is not a complete .keras file ({path.stat().st_size:,} bytes: truncated or "
            f"corrupt); {_remedy(path)}"
        )
    try:
        return keras.saving.load_model(path)
    except Exception as err:  # Keras and zipfile raise many kinds; all mean the same thing here
        raise CacheError(
            f"cached model {path} cannot be loaded ({type(err).__name__}: {err}); {_remedy(path)}"
        ) from err


def _load_cached(model_path: Path, key: str) -> TrainResult | None:
    """The cached entry at ``model_path`` (its model and its history), or ``None`` if there is none.

    The history is written after its model and deleted before its model is
    replaced, so an entry exists exactly when its history does. A model
    without its history (a save that was interrupted) is no entry: ``None``,
    with a line saying so. Anything else that cannot be read raises
    :class:`CacheError`. Temporary files of killed writes are removed.
    """
    history_path = model_path.with_suffix(".json")
    if not (model_path.exists() or history_path.exists()):
        return None
    with locked(model_path.parent / _CACHE_LOCK):
        _remove_stale_temps(model_path.parent)
        if not history_path.exists():
            if model_path.exists():
                print(
                    f"{model_path}: found without its history {history_path.name} (its save was interrupted); "
                    "training it again",
                    flush=True,
                )
            return None
        if not model_path.is_file():
            raise CacheError(
                f"cached history {history_path} has no model beside it ({model_path.name}); {_remedy(model_path)}"
            )
        record = _read_history(history_path, model_path, key)
        model = _read_model(model_path)
    return TrainResult(model, record["history"], loaded=True, path=model_path, info=record["info"])


def _store(model_path: Path, model: keras.Model, record: dict[str, Any]) -> None:
    """Write an entry: the model to a temporary file; then delete the history (from here on the entry is absent),
    move the model into place and write the history.

    Holds the folder's lock, so readers see a whole entry or none and no cleaner takes the temporary files for
    stale. A process interrupted or killed at any point leaves the previous entry whole, no entry, or a model
    without its history, which :func:`_load_cached` does not trust.
    """
    history_path = model_path.with_suffix(".json")
    with locked(model_path.parent / _CACHE_LOCK):
        _remove_stale_temps(model_path.parent)
        with atomic_target(model_path, suffix=".part.keras") as tmp:
            model.save(tmp)
            history_path.unlink(missing_ok=True)
        atomic_write_bytes(history_path, json.dumps(record, indent=1).encode())


def _cache_entry(
    name: str,
    build_fn: Callable[[], keras.Model],
    *,
    config: dict[str, Any],
    profile: str,
    chapter: str,
    x: np.ndarray,
    y: np.ndarray,
    validation_data: tuple[np.ndarray, np.ndarray] | None,
    epochs: int,
    batch_size: int,
    seed: int,
    fit_kwargs: Mapping[str, Any],
) -> tuple[keras.Model, str, Path]:
    """The freshly built model (seeded), the cache key and the model's path in the load-or-train cache."""
    _plain_name("profile", profile, None)
    for what, value in (("model name", name), ("chapter", chapter)):
        _plain_name(what, value, artifacts_dir(profile))
    keras.utils.set_random_seed(seed)  # before building: the initial weights depend on it
    model = build_fn()
    architecture = architecture_fingerprint(model)
    key = config_key(
        name=name,
        config=config,
        architecture=architecture,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        data=data_fingerprint(x, y, *(validation_data or ())),
        keras=keras.__version__,
        backend=keras.backend.backend(),
        fit=dict(fit_kwargs),
        history_format=HISTORY_FORMAT,
    )
    return model, key, artifacts_dir(profile) / chapter / f"{name}-{key}.keras"


def _plain_name(what: str, value: str, inside: Path | None) -> None:
    """Refuse a name that would not stay one file or folder name under the artifacts folder (``../x``, ``a/b``)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"train_or_load: the {what} must be a non-empty string, not {value!r}")
    bad = [c for c in ("/", "\\", "\0") if c in value]
    if bad or value in (".", ".."):
        where = f" outside {inside}" if inside is not None else " outside the artifacts folder"
        reason = f"it holds {bad[0]!r}" if bad else "it is not a plain name"
        raise ValueError(
            f"train_or_load: the {what} {value!r} is not a plain file name ({reason}): its files would be "
            f"written{where}. Name it with letters, digits, '-', '_', '.' (not '..'), without '/' or '\\'"
        )


def cached_model_path(
    name: str,
    build_fn: Callable[[], keras.Model],
    *,
    config: dict[str, Any],
    profile: str,
    chapter: str,
    x: np.ndarray,
    y: np.ndarray,
    validation_data: tuple[np.ndarray, np.ndarray] | None,
    epochs: int,
    batch_size: int = 128,
    seed: int = 42,
    **fit_kwargs: Any,
) -> Path:
    """Where :func:`train_or_load`, given the same arguments, keeps the model: a ``.keras`` file beside its
    history (``.json``). Both files exist once it was trained; nothing is trained here. Builds the model
    (seeded with ``seed``) to fingerprint its architecture.
    """
    return _cache_entry(
        name,
        build_fn,
        config=config,
        profile=profile,
        chapter=chapter,
        x=x,
        y=y,
        validation_data=validation_data,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        fit_kwargs=fit_kwargs,
    )[2]


def train_or_load(
    name: str,
    build_fn: Callable[[], keras.Model],
    *,
    config: dict[str, Any],
    profile: str,
    chapter: str,
    x: np.ndarray,
    y: np.ndarray,
    validation_data: tuple[np.ndarray, np.ndarray] | None,
    epochs: int,
    batch_size: int = 128,
    seed: int = 42,
    retrain: bool = False,
    verbose: int | str | None = None,
    **fit_kwargs: Any,
) -> TrainResult:
    """Train ``build_fn()`` once per exact configuration in this profile, or load it if already trained.

    The cache key covers ``name``, ``config`` (the builder's settings), the
    built model's architecture (its JSON: a change to a builder's code retrains),
    epochs, batch size, seed, the training
    and validation data (a fingerprint of their bytes), the Keras version and
    backend, and the fit options. The model (``.keras``) and its history
    (``.json``) live side by side under ``artifacts/<profile>/<chapter>/``.
    ``validation_data=None`` trains without a validation split (a refit,
    `mnistlib.book_models.refit_book_model`). ``verbose`` (not part of the key; ``None``:
    :func:`progress_verbose`) is Keras's. :func:`cached_model_path` says where the model is kept.
    Callbacks among the fit options enter the key by class and settings (:func:`config_key`), so a fresh
    but identical callback finds the model again.

    A cached entry that cannot be read (a truncated or corrupt file, a history
    without its model) raises :class:`CacheError` naming the file; it is not
    silently trained over (delete it, or pass ``retrain=True``). An entry is
    written under a lock on its folder, history last: an interrupted or killed
    run leaves no entry, or a model without its history, which the next call
    trains again (saying so); temporary files of killed writes are removed.
    Introduced in chapter 03 (``03_linear_models``).
    """
    model, key, model_path = _cache_entry(
        name,
        build_fn,
        config=config,
        profile=profile,
        chapter=chapter,
        x=x,
        y=y,
        validation_data=validation_data,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        fit_kwargs=fit_kwargs,
    )
    folder = model_path.parent
    if not retrain:
        cached = _load_cached(model_path, key)
        if cached is not None:
            return cached
    try:
        result = fit(
            model,
            x,
            y,
            validation_data=validation_data,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            csv_log=folder / f"{name}-{key}.csv",
            verbose=verbose,
            **fit_kwargs,
        )
    except TrainingInterrupted as stop:
        stop.what = stop.what.replace(f"Training of {model.name!r}", f"Training of {name!r}", 1)
        stop.kept = (
            f"every model trained to the end before it, in the cache ({shown_path(folder)}); "
            f"nothing of {name!r}: the cache keeps complete runs only."
        )
        stop.on = (
            "run the cell again: the models in the cache load in seconds, "
            f"and {name!r} trains again from its first epoch."
        )
        stop.args = (str(stop),)
        raise
    info = {
        "name": name,
        "config": config,
        "epochs_requested": epochs,
        **result.info,
        "key": key,
        "trained_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    _store(model_path, result.model, {"history": result.history, "info": info})
    result.path, result.info = model_path, info
    return result


@dataclass(frozen=True)
class ModelSpec:
    """One model of a chapter's comparison: its builder and settings (the model is ``builder(**config)``), the
    epochs of its full-scale run, and the test accuracy the original experiment reports for it, where it does.
    Introduced in chapter 04 (``04_mlp``).
    """

    builder: Callable[..., keras.Model]
    config: Mapping[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    original_accuracy: float | None = None


def train_models(
    specs: Mapping[str, ModelSpec],
    *,
    profile,
    chapter: str,
    x: np.ndarray,
    y: np.ndarray,
    validation_data: tuple[np.ndarray, np.ndarray],
    epochs: int | Mapping[str, int],
    verbose: int | str | None = None,
    **fit_kwargs: Any,
) -> dict[str, TrainResult]:
    """Train, or load, several models on the same data with :func:`train_or_load`; print a line per model.

    ``specs`` maps each model's name to its :class:`ModelSpec`. ``epochs`` is
    one count for all or a count per name. ``profile`` is a
    :class:`mnistlib.profiles.Profile`: its name keys the cache and its batch
    size is used. ``verbose=None`` is :func:`progress_verbose`. Introduced in chapter 04 (``04_mlp``).
    """
    wrong = [name for name, spec in specs.items() if not isinstance(spec, ModelSpec)]
    if wrong:
        raise TypeError(f"train_models: specs of {wrong} are not ModelSpec(builder, config, ...)")
    runs = {}
    width = max(map(len, specs), default=0)
    for name, spec in specs.items():
        n_epochs = epochs[name] if isinstance(epochs, Mapping) else epochs
        config = dict(spec.config)
        runs[name] = train_or_load(
            name,
            functools.partial(spec.builder, **config),
            config=config,
            profile=profile.name,
            chapter=chapter,
            x=x,
            y=y,
            validation_data=validation_data,
            epochs=n_epochs,
            batch_size=profile.batch_size,
            verbose=verbose,
            **fit_kwargs,
        )
        print(f"{name:{width}s}  {runs[name].describe()}")
    return runs
