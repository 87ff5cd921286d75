"""Sphinx extension of the MNIST book: how its notebooks are executed, whatever the machine.

A limit per cell that follows the profile. ``_config.yml``'s ``execute: timeout``
is one number for every profile, and a fixed limit fails the build on a
machine merely slower than the one it was chosen on. :func:`cell_timeout` sets
MyST-NB's ``nb_execution_timeout`` from the profile (``MNISTBOOK_PROFILE``):
the smoke profile keeps the configured limit, the quick profile gets
:data:`QUICK_TIMEOUT` (a host four times slower than the reference timings
still passes), the full profile has none. ``MNISTBOOK_CELL_TIMEOUT`` (what
``make book CELL_TIMEOUT=...`` sets) overrides it: seconds, or ``-1`` for no
limit. Where a limit does stop a cell, :func:`name_timed_out_cell` adds a
warning that names the page, the cell and that setting, beside MyST-NB's
own, which says only ``CellTimeoutError``.

A damaged execution cache. jupyter-cache keeps executed notebooks in
``_build/.jupyter_cache``: a database (``global.db``) and one notebook per
entry. A damaged database (``file is not a database``) or a cut-off notebook
(``NotJSONError``) stopped every build with a raw traceback. Before anything
is read, :func:`repair_execution_cache` checks both, and removes what is
damaged, saying which file it was: a damaged notebook loses its entry (that
page is executed again), a damaged database the whole cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

#: The variable ``make book CELL_TIMEOUT=...`` sets: seconds per cell, or -1 for no limit.
TIMEOUT_ENV = "MNISTBOOK_CELL_TIMEOUT"
#: The quick profile's limit per cell, in seconds: three hours.
QUICK_TIMEOUT = 3 * 3600
#: The profile when MNISTBOOK_PROFILE is unset (mnistlib.profiles.DEFAULT).
DEFAULT_PROFILE = "quick"
#: How to raise the limit, as the messages say it.
RAISE_IT = (
    f"raise it with `make book CELL_TIMEOUT=SECONDS` (-1: no limit), or {TIMEOUT_ENV}=SECONDS for jupyter-book build"
)


class CellTimeoutSettingError(ValueError):
    """``MNISTBOOK_CELL_TIMEOUT`` is not a number of seconds."""


def cell_timeout(profile: str | None, configured: int, override: str | None = None) -> int:
    """The limit per cell, in seconds (-1: none), for ``profile`` when the configuration says ``configured``.

    ``override`` (``MNISTBOOK_CELL_TIMEOUT``), when not blank, decides: a whole number of seconds, or -1.
    """
    if override is not None and override.strip():
        text = override.strip()
        try:
            seconds = int(text)
        except ValueError:
            seconds = 0
        if seconds == -1 or seconds > 0:
            return seconds
        raise CellTimeoutSettingError(
            f"{TIMEOUT_ENV} (CELL_TIMEOUT in make) is {override!r}: set it to a whole number of seconds per cell, "
            "or -1 for no limit"
        )
    name = (profile or "").strip().lower() or DEFAULT_PROFILE
    if name == "full":
        return -1
    if name == "quick":
        return max(QUICK_TIMEOUT, configured) if configured > 0 else configured
    return configured


def describe_timeout(seconds: int) -> str:
    return "no limit" if seconds in (-1, None) else f"{seconds:,} seconds per cell"


def set_cell_timeout(app, config) -> None:
    """``config-inited``: make ``nb_execution_timeout`` follow the profile (see :func:`cell_timeout`)."""
    configured = config.nb_execution_timeout
    configured = -1 if configured is None else int(configured)
    config.nb_execution_timeout = cell_timeout(
        os.environ.get("MNISTBOOK_PROFILE"), configured, os.environ.get(TIMEOUT_ENV)
    )


def timed_out_cell(notebook) -> tuple[int, int, dict] | None:
    """(its number among the code cells, 1-based; their count; the cell) of the cell a timeout stopped.

    The kernel numbers a cell when it starts it, so that cell is the last code cell with an execution count.
    """
    code = [cell for cell in notebook["cells"] if cell.get("cell_type") == "code"]
    started = [i for i, cell in enumerate(code) if cell.get("execution_count") is not None]
    if not started:
        return None
    return started[-1] + 1, len(code), code[started[-1]]


def timeout_message(page: str, notebook, seconds: int, profile: str | None) -> str:
    """What to say when a cell of ``page`` ran past the limit: the page, the cell, the limit and how to raise it."""
    found = timed_out_cell(notebook)
    if found is None:
        where = "a cell"
    else:
        number, count, cell = found
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        first = next((line.strip() for line in source.splitlines() if line.strip()), "")
        cell_id = f", id {cell['id']}" if cell.get("id") else ""
        where = f"code cell {number} of {count}{cell_id} ({first[:60]!r})"
    shown = (profile or "").strip().lower() or DEFAULT_PROFILE
    return (
        f"{page}: {where} ran past the limit of {describe_timeout(seconds)} (profile {shown}) and was stopped; "
        f"a slower machine needs a higher limit: {RAISE_IT}"
    )


def name_timed_out_cell() -> None:
    """Wrap MyST-NB's cache client so that a timeout also names the cell and the setting (once per process)."""
    try:
        from myst_nb.core.execute.cache import NotebookClientCache
    except ImportError:  # another MyST-NB: its own message stands
        return
    original = NotebookClientCache.start_client
    if getattr(original, "_names_timed_out_cell", False):
        return

    def start_client(self):
        original(self)
        metadata = self.exec_metadata or {}
        if metadata.get("error") == "CellTimeoutError":
            page = str(self.path) if self.path is not None else "a notebook"
            self.logger.warning(
                timeout_message(
                    page, self.notebook, self.nb_config.execution_timeout, os.environ.get("MNISTBOOK_PROFILE")
                ),
                subtype="exec",
            )

    start_client._names_timed_out_cell = True
    NotebookClientCache.start_client = start_client


def _read_only(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)


def repair_execution_cache(folder: str | os.PathLike) -> list[str]:
    """Remove what is damaged in jupyter-cache's ``folder``; return one line per repair, naming the file.

    A database that cannot be read (not a database, failing its integrity check,
    without jupyter-cache's table) takes the whole folder with it; an executed
    notebook that is missing or not a notebook takes its entry (row and folder).
    """
    folder = Path(folder)
    db = folder / "global.db"
    if not db.exists():
        return []
    try:
        with contextlib.closing(_read_only(db)) as con:
            verdict = con.execute("PRAGMA quick_check").fetchone()[0]
            rows = con.execute("SELECT pk, hashkey, uri FROM nbcache").fetchall()
        if verdict != "ok":
            raise sqlite3.DatabaseError(verdict)
    except sqlite3.Error as exc:
        shutil.rmtree(folder)
        return [
            f"the execution cache's database {db} is damaged ({exc}): removed {folder}, so every notebook is "
            "executed again"
        ]
    damaged = []
    for pk, hashkey, uri in rows:
        notebook = folder / "executed" / str(hashkey) / "base.ipynb"
        try:
            data = json.loads(notebook.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
                raise ValueError("no list of cells")
        except (OSError, ValueError) as exc:
            why = "missing" if isinstance(exc, FileNotFoundError) else f"{type(exc).__name__}: {exc}"
            damaged.append((pk, hashkey, uri, notebook, why))
    if not damaged:
        return []
    try:
        with contextlib.closing(sqlite3.connect(db)) as con, con:
            con.executemany("DELETE FROM nbcache WHERE pk = ?", [(pk,) for pk, *_ in damaged])
    except sqlite3.Error as exc:
        shutil.rmtree(folder)
        return [f"the execution cache {folder} could not be repaired ({exc}): removed it"]
    lines = []
    for _, hashkey, uri, notebook, why in damaged:
        shutil.rmtree(folder / "executed" / str(hashkey), ignore_errors=True)
        lines.append(
            f"the execution cache's copy of {uri}, {notebook}, is damaged ({why[:200]}): removed its entry, so "
            "that notebook is executed again"
        )
    return lines


def repair_cache_before_reading(app) -> None:
    """``builder-inited``: repair the cache MyST-NB will use (its own default: beside the output folder)."""
    from sphinx.util import logging

    folder = app.config.nb_execution_cache_path or Path(app.outdir).parent / ".jupyter_cache"
    for line in repair_execution_cache(folder):
        logging.getLogger(__name__).info(line)


def setup(app):
    app.connect("config-inited", set_cell_timeout)
    app.connect("builder-inited", repair_cache_before_reading, priority=400)
    name_timed_out_cell()
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
