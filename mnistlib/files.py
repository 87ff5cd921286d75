"""File safety: writes that are complete or absent, and locks around read-modify-write.

Every file the book writes (IDX files, trained models, histories, checkpoints,
the results ledger) goes through :func:`atomic_target`, so a process killed at
any moment leaves the old file or the new one, never half of it. Files that
several processes rewrite (the ledger) are changed under :func:`locked`; work
that only one process may do at a time (training into a checkpoint folder) runs
under :func:`exclusive_lock`, which refuses at once instead of waiting.
This module imports nothing else from mnistlib.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; there, one writing process at a time is the user's job
    fcntl = None

__all__ = [
    "atomic_target",
    "atomic_write_bytes",
    "locked",
    "exclusive_lock",
    "LockHeldError",
    "disk_full",
    "DISK_FULL",
    "TrainingInterrupted",
    "shown_path",
]

#: The errors of a disk (or quota) that has no room for what is being written.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def disk_full(path: str | os.PathLike, exc: OSError) -> OSError | None:
    """For an ``exc`` that says the disk is full, the same error naming ``path`` and what to do; else ``None``.

    The system's own ``No space left on device`` names no file: writes through a temporary
    file or a library (Keras, pooch) lose even the name of the file being written.
    """
    if exc.errno not in DISK_FULL:
        return None
    path = Path(path)
    return OSError(
        exc.errno,
        f"{exc.strerror or os.strerror(exc.errno)} while writing {path.name}: nothing was half-written (the old "
        f"file, if any, is untouched); free space on the disk of {path.parent}, then run it again",
        str(path),
    )


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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise disk_full(path, exc) or exc from exc
    os.close(fd)
    try:
        try:
            yield tmp
            os.chmod(tmp, _file_mode())
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            full = disk_full(path, exc)
            if full is None:
                raise
            raise full from exc
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


class LockHeldError(OSError):
    """The lock of :func:`exclusive_lock` is held by someone else; ``holder`` is what the holder wrote into it."""

    def __init__(self, path: str | os.PathLike, holder: str):
        self.path, self.holder = Path(path), holder
        super().__init__(f"{path} is locked by {holder or 'another process'}")


def shown_path(path: str | os.PathLike) -> str:
    """``path`` as a message shows it: absolute, with the home folder written ``~``."""
    folder = Path(os.path.abspath(Path(path).expanduser()))
    try:
        inside = folder.relative_to(Path.home().resolve())
        return "~" if inside == Path() else f"~/{inside.as_posix()}"
    except (ValueError, RuntimeError, KeyError):  # outside the home folder, or no home folder to be had
        return folder.as_posix()


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by the reader (Kernel > Interrupt, Ctrl-C), said in three lines instead of a traceback.

    ``what`` was interrupted, what was ``kept`` on disk (the cache's complete entries, checkpoints) and how to
    go ``on``. It is a ``KeyboardInterrupt``, so code that stops on an interrupt still stops;
    :func:`mnistlib.setup` makes IPython show it as its message alone.
    """

    def __init__(self, what: str, kept: str, on: str):
        self.what, self.kept, self.on = what, kept, on
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.what}\nKept: {self.kept}\nTo go on: {self.on}"


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, owner: str = ""):
    """Hold an exclusive lock on the lock file ``path`` while the body runs; raise :class:`LockHeldError` if it is held.

    Unlike :func:`locked` it never waits: the caller decides what a held lock
    means. The lock is ``fcntl.flock`` on ``path``, which belongs to one open
    file: a second open, in another process or in this one, conflicts with it,
    and the system releases it when the process dies, however it dies. While
    held, the file holds ``owner`` (say, a pid), which :class:`LockHeldError`
    reports; on release it is deleted, so a finished holder leaves nothing
    behind (a killed one leaves a stale file that the next holder takes over).
    Where ``fcntl`` is missing (Windows) the body runs unlocked.
    """
    path = Path(path)
    if fcntl is None:
        yield
        return
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip()
            os.close(fd)
            raise LockHeldError(path, holder) from None
        except BaseException:
            os.close(fd)
            raise
        # A holder that released the lock between our open and our flock deleted that file: lock the new one.
        try:
            current = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, owner.encode(), 0)
        yield
    finally:
        try:
            path.unlink(missing_ok=True)  # while still locked: nobody else holds this file
        finally:
            os.close(fd)  # releases the lock
