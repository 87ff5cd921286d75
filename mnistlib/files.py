"""File safety: writes that are complete or absent, and locks around read-modify-write.

Every file the book writes (IDX files, trained models, histories, checkpoints,
the results ledger) goes through :func:`atomic_target`, so a process killed at
any moment leaves the old file or the new one, never half of it. Files that
several processes rewrite (the ledger) are changed under :func:`locked`.
This module imports nothing else from mnistlib.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; there, one writing process at a time is the user's job
    fcntl = None

__all__ = ["atomic_target", "atomic_write_bytes", "locked"]


def _file_mode() -> int:
    """The permissions a newly created file gets under the current umask (mkstemp would give 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike, suffix: str = ".part"):
    """Yield a temporary path beside ``path``; on success make it durable and rename it to ``path``.

    Whatever the body writes to the temporary path replaces ``path`` in one
    step, with the permissions of an ordinarily created file; if the body fails
    or the process dies, ``path`` is untouched and the temporary file (named
    ``.<name>.*<suffix>``) is removed or, after a kill, left for the next run to
    delete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _file_mode())
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half of it."""
    with atomic_target(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


@contextlib.contextmanager
def locked(path: str | os.PathLike):
    """Hold an exclusive lock on ``path`` (through ``<path>.lock``) while the body reads and rewrites it.

    POSIX systems use ``fcntl.flock``; elsewhere the body runs unlocked.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
