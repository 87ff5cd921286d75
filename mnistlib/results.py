"""The results ledger: one row per model trained in the book.

Introduced in chapter 03 (``03_linear_models``). Every chapter records its
models here; chapter 10 reads the whole table. The ledger is a CSV file in the
profile's artifacts folder; recording a model that a chapter already recorded
replaces that row, so re-running a chapter never duplicates rows. Writes are
atomic, and each read-modify-write holds a lock on the ledger, so notebooks run
side by side (two JupyterLab kernels, or chapters run in parallel on a GPU
machine) never lose each other's rows.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from .files import atomic_write_bytes, locked
from .training import TrainResult, artifacts_dir

__all__ = [
    "COLUMNS",
    "ledger_path",
    "record",
    "record_result",
    "evaluate_and_record",
    "load_ledger",
    "REFERENCE",
    "export_reference",
    "load_reference",
]

#: The committed ledger rows of full-profile runs: what the book shows when it is built in a smaller profile.
REFERENCE = Path(__file__).resolve().parents[1] / "book" / "reference_results.csv"

#: ``original_test_accuracy``: the test accuracy the original experiment reports for the model, where it does.
COLUMNS = [
    "chapter",
    "model",
    "profile",
    "params",
    "train_accuracy",
    "val_accuracy",
    "test_accuracy",
    "original_test_accuracy",
    "epochs",
    "train_seconds",
    "seconds_per_epoch",
    "images_per_second",
    "n_train",
    "data",
    "backend",
    "recorded_at",
]
_KEY = ["profile", "chapter", "model"]
#: Columns renamed since a ledger or reference file may have been written: old name -> new name.
_RENAMED = {"seed_test_accuracy": "original_test_accuracy"}

_TEXT = ("chapter", "model", "profile", "data", "backend", "recorded_at", "machine", "keras")


def _read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    """A ledger-shaped CSV with exactly ``columns``; empty if absent.

    Older files still load: missing columns are empty, renamed ones (:data:`_RENAMED`) are read under their new
    name, and the next write stores the new layout.
    """
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    table = pd.read_csv(path, dtype={c: "string" for c in _TEXT})
    table = table.rename(columns={old: new for old, new in _RENAMED.items() if new not in table.columns})
    return table.reindex(columns=columns)


def ledger_path(profile: str) -> Path:
    """Where the ledger of ``profile`` lives."""
    return artifacts_dir(profile) / "ledger.csv"


def load_ledger(profile: str) -> pd.DataFrame:
    """The ledger of ``profile`` as a DataFrame (empty, with the columns, if nothing was recorded).

    Introduced in chapter 03 (``03_linear_models``).
    """
    return _read_table(ledger_path(profile), COLUMNS)


def record(*, chapter: str, model: str, profile: str, **fields) -> pd.DataFrame:
    """Add or replace the row of (``profile``, ``chapter``, ``model``); return the updated ledger.

    Unknown field names are an error, so a typo cannot create a column.
    Introduced in chapter 03 (``03_linear_models``).
    """
    unknown = set(fields) - set(COLUMNS)
    if unknown:
        raise ValueError(f"record: unknown ledger fields {sorted(unknown)}; known: {', '.join(COLUMNS)}")
    row = {c: None for c in COLUMNS}
    row.update(
        fields,
        chapter=chapter,
        model=model,
        profile=profile,
        recorded_at=fields.get("recorded_at") or time.strftime("%Y-%m-%d %H:%M:%S"),
    )
    with locked(ledger_path(profile)):
        ledger = load_ledger(profile)
        same = (ledger["profile"] == profile) & (ledger["chapter"] == chapter) & (ledger["model"] == model)
        new = pd.DataFrame([row], columns=COLUMNS)
        ledger = new if ledger.empty else pd.concat([ledger[~same], new], ignore_index=True)
        buf = io.StringIO()
        ledger.to_csv(buf, index=False)
        atomic_write_bytes(ledger_path(profile), buf.getvalue().encode())
    return ledger


def record_result(
    result: TrainResult,
    *,
    chapter: str,
    profile: str,
    test_accuracy: float | None,
    data: str,
    name: str | None = None,
    original_accuracy: float | None = None,
) -> pd.DataFrame:
    """Record a trained Keras model from its :class:`TrainResult` and its single test evaluation.

    ``test_accuracy=None`` records a model whose accuracy means nothing (trained
    only to be timed): its speed goes in the ledger, its accuracies stay empty.
    ``original_accuracy`` is the test accuracy the original experiment reports for this model, if any.
    Introduced in chapter 03 (``03_linear_models``).
    """
    h = result.history
    return record(
        chapter=chapter,
        model=name or result.model.name,
        profile=profile,
        params=int(result.model.count_params()),
        train_accuracy=None if test_accuracy is None else h["accuracy"][-1],
        val_accuracy=h.get("val_accuracy", [None])[-1],
        test_accuracy=None if test_accuracy is None else float(test_accuracy),
        epochs=result.epochs,
        original_test_accuracy=original_accuracy,
        train_seconds=round(result.train_seconds, 2),
        seconds_per_epoch=round(result.seconds_per_epoch, 3),
        images_per_second=round(result.images_per_second, 1),
        n_train=result.info.get("n_train"),
        data=data,
        backend=result.info.get("backend"),
    )


def evaluate_and_record(
    runs: dict[str, TrainResult],
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    chapter: str,
    profile: str,
    data: str,
    original_accuracy: dict[str, float | None] | None = None,
    batch_size: int = 512,
) -> pd.DataFrame:
    """Evaluate each finished model once on the test set, record it, and return a comparison table.

    ``runs`` maps ledger names to training results. The table has one row per
    model: parameters, epochs, last validation accuracy, test accuracy, the
    original experiment's test accuracy where ``original_accuracy`` gives one, seconds per
    epoch and images per second. Introduced in chapter 04 (``04_mlp``).
    """
    rows = {}
    for name, r in runs.items():
        _, test_accuracy = r.model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0)
        original = (original_accuracy or {}).get(name)
        record_result(
            r,
            chapter=chapter,
            profile=profile,
            test_accuracy=test_accuracy,
            data=data,
            name=name,
            original_accuracy=original,
        )
        rows[name] = {
            "parameters": r.model.count_params(),
            "epochs": r.epochs,
            "validation accuracy": r.history["val_accuracy"][-1],
            "test accuracy": float(test_accuracy),
            "original test accuracy": np.nan if original is None else original,
            "s/epoch": r.seconds_per_epoch,
            "images/s": r.images_per_second,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["parameters"] = table["parameters"].astype(int)
    table["epochs"] = table["epochs"].astype(int)
    return table


def export_reference(machine: str, path: str | os.PathLike = REFERENCE, profile: str = "full") -> pd.DataFrame:
    """Write ``profile``'s ledger, with the machine and library versions of each row, to the reference file.

    Rows already in the reference file and absent from this ledger are kept,
    so that full runs made on different machines (a CPU here, a GPU there)
    add up.
    """
    ledger = load_ledger(profile)
    if ledger.empty:
        raise ValueError(f"export_reference: the {profile} ledger ({ledger_path(profile)}) is empty")
    ledger = ledger.assign(machine=machine, keras=keras.__version__)
    with locked(Path(path)):
        old = load_reference(path)
        if not old.empty:
            keep = ~old.set_index(_KEY).index.isin(ledger.set_index(_KEY).index)
            ledger = pd.concat([old[keep], ledger], ignore_index=True)
        buf = io.StringIO()
        ledger.sort_values(["chapter", "model"]).to_csv(buf, index=False)
        atomic_write_bytes(Path(path), buf.getvalue().encode())
    return ledger


def load_reference(path: str | os.PathLike = REFERENCE) -> pd.DataFrame:
    """The committed full-profile results (empty if none); columns of the ledger plus ``machine`` and ``keras``.

    Introduced in chapter 10 (``10_results_and_ensembles``).
    """
    return _read_table(Path(path), COLUMNS + ["machine", "keras"])
