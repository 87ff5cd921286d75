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

import csv
import html
import io
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from .files import atomic_write_bytes, locked
from .training import TrainResult, artifacts_dir

__all__ = [
    "COLUMNS",
    "LedgerError",
    "ledger_path",
    "record",
    "record_result",
    "evaluate_and_record",
    "load_ledger",
    "REFERENCE",
    "export_reference",
    "load_reference",
    "REFERENCE_COLUMN",
    "with_reference",
    "styled",
    "lessons_path",
    "record_lesson",
    "load_lessons",
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
#: Text columns every row must fill (where the file has the column): the key, and the reference file's provenance.
#: Not ``recorded_at``: rows of ledgers written before it existed keep it empty when they are rewritten.
_REQUIRED = ("chapter", "model", "profile", "machine", "keras")
#: Columns the header must name (where the caller asks for them): without them a row means nothing.
_KEY_COLUMNS = ("chapter", "model", "profile")
_LEDGER_RECOVERY = (
    "nothing was written. Move it aside, e.g. to {path}.damaged (its readable rows can be copied back by hand), "
    "and re-run the chapters whose rows you need"
)
_REFERENCE_RECOVERY = (
    "nothing was written. Move it aside, e.g. to {path}.damaged, and restore the committed file from git "
    "or export it again (benchmarks/reference_results.py)"
)


class LedgerError(ValueError):
    """A ledger or reference file that is damaged (cut short, not UTF-8 text, not CSV) or is not a ledger.

    The message names the file, the line and what is wrong, and says how to recover. Nothing is ever written
    over a file that raised it.
    """


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _numbers(values: list[str]) -> np.ndarray:
    """A numeric column as pandas would read it: integers if every value is one, else floats with NaN for empty."""
    try:
        return np.array([int(v) for v in values], dtype=np.int64)
    except (ValueError, OverflowError):
        return np.array([float(v) if v.strip() else np.nan for v in values], dtype=np.float64)


def _validated_rows(path: Path, columns: list[str], recovery: str) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of the ledger-shaped CSV ``path``, or :class:`LedgerError` if any of it is damaged."""

    def damaged(line: int | None, what: str) -> LedgerError:
        where = f"{path}: line {line}" if line else f"{path}"
        return LedgerError(f"{where}: {what}. The file is damaged or not a ledger; {recovery.format(path=path)}.")

    data = path.read_bytes()
    if not data.strip():
        raise damaged(None, f"the file is empty ({len(data)} bytes), but it is always written with a header line")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        bad = data[e.start : e.start + 1]
        raise damaged(data.count(b"\n", 0, e.start) + 1, f"not UTF-8 text (byte {bad!r} at offset {e.start})") from None
    if "\x00" in text:
        raise damaged(text.count("\n", 0, text.index("\x00")) + 1, "not UTF-8 text: it holds NUL bytes (binary data)")
    reader = csv.reader(io.StringIO(text), strict=True)
    rows = []
    try:
        for fields in reader:
            if fields:  # blank lines hold no row (pandas skips them too)
                rows.append((reader.line_num, fields))
    except csv.Error as e:
        raise damaged(reader.line_num, f"not valid CSV ({e}): an unclosed quote, or a quote inside a field") from None
    if not rows:
        raise damaged(None, "the file holds no text, but it is always written with a header line")

    line, header = rows[0]
    known = set(columns) | {old for old, new in _RENAMED.items() if new in columns}
    unknown = [name for name in header if name not in known]
    if len(unknown) == len(header):
        raise damaged(line, f"no header: the first line should name the columns ({','.join(columns)})")
    if unknown:
        raise damaged(line, f"the header names unknown columns {unknown}; known: {','.join(columns)}")
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise damaged(line, f"the header names the columns {twice} twice")
    lacking = [name for name in _KEY_COLUMNS if name in columns and name not in header]
    if lacking:
        raise damaged(line, f"the header lacks the columns {lacking}")

    for line, fields in rows[1:]:
        if len(fields) != len(header):
            how = "cut short" if len(fields) < len(header) else "longer (an unquoted comma in a field?)"
            raise damaged(line, f"{len(fields)} fields, but the header has {len(header)}: the row is {how}")
        for name, value in zip(header, fields):
            if name in _REQUIRED and not value.strip():
                raise damaged(line, f"{name} is empty")
            if name not in _TEXT and value.strip() and not _is_number(value):
                raise damaged(line, f"{name} is {value!r}, not a number")
    if not text.endswith(("\n", "\r")):
        raise damaged(rows[-1][0], "the last line has no line end: the file was cut inside its last row")
    return header, [fields for _, fields in rows[1:]]


def _read_table(path: Path, columns: list[str], recovery: str = _LEDGER_RECOVERY) -> pd.DataFrame:
    """A ledger-shaped CSV with exactly ``columns``; empty if absent; :class:`LedgerError` if damaged.

    Every row must have the header's fields, the key and provenance filled in
    and numbers where numbers go; ``recovery`` (formatted with ``path``) is the
    advice the error gives. Older files still load: columns missing from the
    header are empty, renamed ones (:data:`_RENAMED`) are read under their new
    name, and the next write stores the new layout. Text stays text (a model
    named ``NA`` is not a missing value); only empty fields are missing.
    """
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    header, rows = _validated_rows(path, columns, recovery)
    if not rows:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(
        {
            name: pd.array([row[i] or None for row in rows], dtype="string")
            if name in _TEXT
            else _numbers([row[i] for row in rows])
            for i, name in enumerate(header)
        },
        columns=header,
    )
    table = table.rename(columns={old: new for old, new in _RENAMED.items() if new not in table.columns})
    return table.reindex(columns=columns)


def ledger_path(profile: str) -> Path:
    """Where the ledger of ``profile`` lives."""
    return artifacts_dir(profile) / "ledger.csv"


def load_ledger(profile: str) -> pd.DataFrame:
    """The ledger of ``profile`` as a DataFrame (empty, with the columns, if nothing was recorded).

    A damaged ledger (cut short, not UTF-8, not CSV, not a ledger) raises
    :class:`LedgerError` naming the file, the line and how to recover.
    Introduced in chapter 03 (``03_linear_models``).
    """
    return _read_table(ledger_path(profile), COLUMNS)


def record(*, chapter: str, model: str, profile: str, **fields) -> pd.DataFrame:
    """Add or replace the row of (``profile``, ``chapter``, ``model``); return the updated ledger.

    Unknown field names are an error, so a typo cannot create a column. A
    damaged ledger raises :class:`LedgerError` and is left exactly as it is.
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


#: How :func:`styled` heads the ledger's columns: words a reader wraps and reads, not identifiers.
_LABELS = {
    "params": "parameters",
    "val_accuracy": "validation accuracy",
    "test_accuracy": "test accuracy",
    "train_accuracy": "training accuracy",
    "original_test_accuracy": "original test accuracy",
    "seconds_per_epoch": "s/epoch",
    "images_per_second": "images/s",
    "n_train": "training digits",
}

#: The column :func:`with_reference` adds: the model's test accuracy in the full-profile reference run.
REFERENCE_COLUMN = "full-scale test accuracy"


def with_reference(
    table: pd.DataFrame, chapter: str | None = None, path: str | os.PathLike = REFERENCE
) -> pd.DataFrame:
    """``table`` (one row per model, indexed by model name) with the full-scale reference beside this run's numbers.

    Adds :data:`REFERENCE_COLUMN`, the test accuracy of the same chapter's same
    model in the reference file (:func:`load_reference`), empty where the
    full profile has not been run; it goes right after ``test accuracy`` (or
    ``test_accuracy``). The chapter is ``chapter``, or else each row's
    ``chapter`` column. Introduced in chapter 03 (``03_linear_models``).
    """
    reference = load_reference(path)
    full = dict(zip(zip(reference["chapter"], reference["model"]), reference["test_accuracy"].astype(float)))
    if chapter is None and "chapter" not in table.columns:
        raise ValueError("with_reference: give the chapter, or a table with a 'chapter' column")
    chapters = table["chapter"] if chapter is None else pd.Series(chapter, index=table.index)
    values = [full.get((c, str(m)), np.nan) for c, m in zip(chapters, table.index)]
    out = table.drop(columns=[REFERENCE_COLUMN], errors="ignore")
    after = next((c for c in ("test accuracy", "test_accuracy") if c in out.columns), None)
    position = out.columns.get_loc(after) + 1 if after else len(out.columns)
    out.insert(position, REFERENCE_COLUMN, values)
    return out


def styled(
    table: pd.DataFrame,
    precision: int = 4,
    na_rep: str = "–",
    *,
    formats: Mapping[Any, str | Callable[[Any], str]] | None = None,
    caption: str | None = None,
    whole_words: bool = False,
):
    """``table`` ready to show: ledger columns headed in words, accuracies to ``precision`` digits, text escaped.

    The one renderer of the book's tables. Columns whose name says "accuracy"
    get ``precision`` decimals; counts get thousands separators; other numbers
    (seconds, images per second) one decimal. ``formats`` maps a column (by the
    name shown) to its own format, a format string such as ``"{:,.0f}"`` or a
    function, instead. Missing values (a model without a full-scale run, an
    experiment without a published figure) show as ``na_rep``. ``caption`` is
    shown above the table; ``whole_words`` lets headers break between words
    only (the book's CSS lets them break anywhere). Every string, index label,
    index name, header and the caption is HTML-escaped, so that text read from
    the ledger, the reference file or the benchmark files can never become
    markup in the book. Introduced in chapter 03 (``03_linear_models``).
    """

    table = table.rename(columns=_LABELS)

    def number(digits: int):
        return lambda v: na_rep if pd.isna(v) else f"{v:,.{digits}f}"

    chosen = {}
    for column in table.columns:
        values = table[column]
        if "accuracy" in str(column) and pd.api.types.is_numeric_dtype(values):
            chosen[column] = number(precision)
        elif pd.api.types.is_integer_dtype(values) or column in ("parameters", "epochs", "training digits"):
            chosen[column] = number(0)
        elif pd.api.types.is_float_dtype(values):
            chosen[column] = number(1)
    unknown = [c for c in (formats or {}) if _LABELS.get(c, c) not in table.columns]
    if unknown:
        raise KeyError(f"styled: formats name columns the table does not have: {unknown}")
    chosen.update({_LABELS.get(c, c): f for c, f in (formats or {}).items()})
    shown = (
        table.style.format(chosen, na_rep=na_rep, escape="html")
        .format_index(escape="html", axis=0)
        .format_index(escape="html", axis=1)
    )
    if hasattr(shown, "format_index_names"):  # pandas 3: the index's own names are escaped apart from its labels
        shown = shown.format_index_names(escape="html", axis=0).format_index_names(escape="html", axis=1)
    if caption is not None:
        shown = shown.set_caption(html.escape(caption))
    if whole_words:
        shown = shown.set_table_styles([{"selector": "th", "props": "overflow-wrap: normal"}])
    return shown


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
    epoch. Each run keeps the classes it predicted (``test_predictions``), for paired comparisons.
    Introduced in chapter 04 (``04_mlp``).
    """
    rows = {}
    for name, r in runs.items():
        r.test_predictions = np.asarray(r.model.predict(x_test, batch_size=batch_size, verbose=0)).argmax(axis=1)
        test_accuracy = float(np.mean(r.test_predictions == np.asarray(y_test)))
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
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["parameters"] = table["parameters"].astype(int)
    table["epochs"] = table["epochs"].astype(int)
    return with_reference(table, chapter)


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

    A damaged file raises :class:`LedgerError`, as :func:`load_ledger` does.
    Introduced in chapter 07 (``07_batch_normalization``).
    """
    return _read_table(Path(path), COLUMNS + ["machine", "keras"], _REFERENCE_RECOVERY)


def lessons_path(profile: str) -> Path:
    """Where the lessons measured in ``profile`` are kept (one record per chapter)."""
    return artifacts_dir(profile) / "lessons.json"


def load_lessons(profile: str) -> dict[str, dict]:
    """Each chapter's lesson as measured in ``profile``'s last run of it (``{}`` before any). A damaged file
    raises :class:`LedgerError` naming it."""
    path = lessons_path(profile)
    if not path.is_file():
        return {}
    try:
        lessons = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(lessons, dict) or not all(isinstance(v, dict) for v in lessons.values()):
            raise ValueError("not a JSON object of one object per chapter")
    except (UnicodeDecodeError, ValueError) as err:
        raise LedgerError(
            f"{path}: the lessons file is damaged ({err}); nothing was written. Delete it and re-run the chapters "
            "from 05 on (each records its lesson again)"
        ) from None
    return lessons


def record_lesson(comparison, *, profile: str):
    """Keep ``comparison`` (a :class:`mnistlib.analysis.PairedComparison`) as its chapter's lesson in ``profile``,
    replacing the chapter's earlier record; return it. ``make bench`` reports each chapter's margin beside its
    time. Introduced in chapter 05 (``05_cnn``)."""
    path = lessons_path(profile)
    with locked(path):
        lessons = load_lessons(profile)
        lessons[comparison.chapter] = {**comparison.as_dict(), "recorded_at": time.strftime("%Y-%m-%d %H:%M:%S")}
        atomic_write_bytes(path, (json.dumps(lessons, indent=1, sort_keys=True) + "\n").encode())
    return comparison
