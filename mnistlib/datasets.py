"""MNIST and QMNIST: a registry of datasets and files, verified downloads, and loaders.

Introduced in chapter 01 (``01_idx_format``). Each dataset is one
:class:`Dataset` entry in ``DATASETS`` (:func:`register` adds one): its files
and checksums, its loader and image shape. The loaders, :func:`experiment_data`,
the data command (``python -m mnistlib``) and ``setup(data=...)`` read it, and
the offline data script links every folder of the offline copies by its name, so
a new dataset needs that one entry and nothing else.

Files live in the folder named by the ``MNISTLIB_DATA`` environment variable
(default: pooch's cache folder for ``mnistlib``), under each dataset's folder
(``MNIST/``, ``QMNIST/``); a flat folder works too. A missing file is
downloaded with :mod:`pooch` from its canonical URL or a mirror, to a temporary
name, verified, then renamed into place: a download that breaks off or arrives
corrupt leaves nothing that a later run would trust.

Every file is verified when it is loaded, in one of four ways:

``canonical``   the md5 of the file is the published one;
``payload``     the md5 of the decompressed payload is the published file's
                (a mirror recompressed it: the data are the same);
``standin``     the payload is that of the *QMNIST stand-in*, MNIST's images
                paired with the real QMNIST labels (see ``QMNIST_STANDIN``);
``unverified``  none of these: it still loads, with a warning naming the file.

Loaded data carry that record (:class:`DigitSet.provenance`), and the notebooks
print it, so results are never shown without saying what they were computed on.
"""

from __future__ import annotations

import argparse
import errno
import functools
import hashlib
import itertools
import math
import os
import stat
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import disk_full
from .idx import IdxFormatError, decompress, read_idx, read_idx_header, sniff_compression

__all__ = [
    "ENV_VAR",
    "DataFile",
    "Dataset",
    "FileCheck",
    "DigitSet",
    "DataUnavailableError",
    "NotADataFileError",
    "DataVerificationError",
    "UnverifiedDataWarning",
    "REGISTRY",
    "DATASETS",
    "DEFAULT_FILES",
    "register",
    "unregister",
    "QMNIST_COLUMNS",
    "QMNIST_STANDIN",
    "data_dir",
    "shown_path",
    "locate",
    "verify_file",
    "fetch",
    "fetch_files",
    "load_digits",
    "load_mnist",
    "load_qmnist",
    "as_float",
    "stratified_indices",
    "train_val_split",
    "ExperimentData",
    "experiment_data",
    "provenance_report",
]

ENV_VAR = "MNISTLIB_DATA"

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
QMNIST_MIRRORS = ("https://raw.githubusercontent.com/facebookresearch/qmnist/master/",)

#: The eight columns of QMNIST's extended labels (QMNIST README, section 2.2).
QMNIST_COLUMNS = (
    "class",  # the digit, 0-9: the only column a classifier needs
    "hsf_series",  # NIST Special Database 19 series: 0-3 Census employees, 4 high-school students
    "writer_id",  # NIST writer identifier
    "writer_digit_index",  # index of this digit among the writer's digits
    "nist_class_code",  # NIST class code: the ASCII code in hex read as decimal digits ("5", 0x35, is 35)
    "nist_index",  # global index of the digit in NIST SD19
    "duplicate",  # 0, or the index of the digit this one duplicates
    "unused",  # always 0
)


@dataclass(frozen=True)
class DataFile:
    """One published file: its name, folder, canonical md5 and where to get it.

    ``payload_size`` is the size in bytes of its decompressed payload, where
    known: verifying a file that is not the published one never decompresses
    more than that (nor more than the file's IDX header declares).
    """

    name: str
    dataset: str  # folder under the data directory: its Dataset's folder, e.g. "MNIST"
    md5: str  # md5 of the published (compressed) file
    payload_md5: str | None  # md5 of its decompressed payload, where known
    mirrors: tuple[str, ...]
    description: str
    rows: int | None = None
    payload_size: int | None = None  # bytes of the decompressed payload, header included

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(m + self.name for m in self.mirrors)


def _registry(*files: DataFile) -> dict[str, DataFile]:
    return {f.name: f for f in files}


REGISTRY: dict[str, DataFile] = _registry(
    DataFile(
        "train-images-idx3-ubyte.gz",
        "MNIST",
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "6bbc9ace898e44ae57da46a324031adb",
        MNIST_MIRRORS,
        "MNIST training images, 60000x28x28",
        60_000,
        47_040_016,
    ),
    DataFile(
        "train-labels-idx1-ubyte.gz",
        "MNIST",
        "d53e105ee54ea40749a09fcbcd1e9432",
        "a25bea736e30d166cdddb491f175f624",
        MNIST_MIRRORS,
        "MNIST training labels, 60000",
        60_000,
        60_008,
    ),
    DataFile(
        "t10k-images-idx3-ubyte.gz",
        "MNIST",
        "9fb629c4189551a2d022fa330f9573f3",
        "2646ac647ad5339dbf082846283269ea",
        MNIST_MIRRORS,
        "MNIST test images, 10000x28x28",
        10_000,
        7_840_016,
    ),
    DataFile(
        "t10k-labels-idx1-ubyte.gz",
        "MNIST",
        "ec29112dd5afa0611ce80d1b7f02629c",
        "27ae3e4e09519cfbb04c329615203637",
        MNIST_MIRRORS,
        "MNIST test labels, 10000",
        10_000,
        10_008,
    ),
    DataFile(
        "qmnist-train-images-idx3-ubyte.gz",
        "QMNIST",
        "ed72d4157d28c017586c42bc6afe6370",
        None,
        QMNIST_MIRRORS,
        "QMNIST training images, 60000x28x28",
        60_000,
        47_040_016,
    ),
    DataFile(
        "qmnist-train-labels-idx2-int.gz",
        "QMNIST",
        "0058f8dd561b90ffdd0f734c6a30e5e4",
        "1d43300e7f41ddcbf7fd006cbe865af9",
        QMNIST_MIRRORS,
        "QMNIST extended training labels, 60000x8",
        60_000,
        1_920_012,
    ),
    DataFile(
        "qmnist-test-images-idx3-ubyte.gz",
        "QMNIST",
        "1394631089c404de565df7b7aeaf9412",
        None,
        QMNIST_MIRRORS,
        "QMNIST test images, 60000x28x28",
        60_000,
        47_040_016,
    ),
    DataFile(
        "qmnist-test-labels-idx2-int.gz",
        "QMNIST",
        "5b5b05890a5e13444e108efe57b788aa",
        "5e00709fb0090091f3afc51d204ad83c",
        QMNIST_MIRRORS,
        "QMNIST extended test labels, 60000x8",
        60_000,
        1_920_012,
    ),
    DataFile(
        "qmnist-train-labels.tsv.gz",
        "QMNIST",
        "dd6774ccdd27d78aba65dced61be5c76",
        "31b6dfd5ab70d6421a8ba6242b8f327b",
        QMNIST_MIRRORS,
        "QMNIST extended training labels as TSV",
        60_000,
        1_477_471,
    ),
    DataFile(
        "qmnist-test-labels.tsv.gz",
        "QMNIST",
        "e2bec717a181a540da4a3a2023070284",
        "8815e80b8cd6b0c0d3c8b09cf09a2455",
        QMNIST_MIRRORS,
        "QMNIST extended test labels as TSV",
        60_000,
        1_501_745,
    ),
    DataFile(
        "qmnist-test-labels-idx1-ubyte.gz",
        "QMNIST",
        "1c42a8f34c1dc2650a74dd83ed34a9c9",
        "15e8c8ed218c37aafd4c6faa40f93566",
        QMNIST_MIRRORS,
        "QMNIST test class labels only, 60000",
        60_000,
        60_008,
    ),
    DataFile(
        "xnist-images-idx3-ubyte.xz",
        "QMNIST",
        "7f124b3b8ab81486c9d8c2749c17f834",
        None,
        QMNIST_MIRRORS,
        "all NIST SD19 digits, preprocessed like QMNIST, 402953x28x28",
        402_953,
        315_915_168,
    ),
    DataFile(
        "xnist-labels-idx2-int.xz",
        "QMNIST",
        "5ed0e788978e45d4a8bd4b7caec3d79d",
        None,
        QMNIST_MIRRORS,
        "extended labels of the NIST digits, 402953x8",
        402_953,
        12_894_508,
    ),
)


@dataclass(frozen=True, eq=False)
class Dataset:
    """One digit dataset: everything the loaders, the data command and the offline script need.

    ``name`` is what :func:`experiment_data`, ``python -m mnistlib`` and
    ``setup(data=...)`` call it; ``folder`` is its folder under the data
    directory (and in the offline copies); ``files`` its published files with
    their checksums and mirrors; ``splits`` maps a split (``"train"``,
    ``"test"``) to its (images file, labels file): these are the files the data
    command fetches. ``loader(split, root=None, *, download=True)`` returns a
    :class:`DigitSet`; the default, :func:`load_digits`, pairs the split's files
    and checks the images are uint8 of shape (N, *image_shape) and the labels
    1-D integers.
    """

    name: str
    folder: str
    files: tuple[DataFile, ...]
    splits: Mapping[str, tuple[str, str]]
    loader: Callable[..., DigitSet] | None = None
    image_shape: tuple[int, ...] = (28, 28)

    def __post_init__(self):
        object.__setattr__(self, "files", tuple(self.files))
        object.__setattr__(self, "image_shape", tuple(self.image_shape))
        known = {f.name for f in self.files}
        for f in self.files:
            if f.dataset != self.folder:
                raise ValueError(f"Dataset {self.name!r}: file {f.name} has folder {f.dataset!r}, not {self.folder!r}")
        for split, pair in self.splits.items():
            if len(pair) != 2 or not set(pair) <= known:
                raise ValueError(f"Dataset {self.name!r}: split {split!r} must name two of its files, not {pair!r}")

    @property
    def default_files(self) -> tuple[str, ...]:
        """The files of its splits, in order: what ``python -m mnistlib fetch NAME`` downloads."""
        return tuple(dict.fromkeys(n for pair in self.splits.values() for n in pair))

    def load(self, split: str = "train", root: str | os.PathLike | None = None, *, download: bool = True) -> DigitSet:
        """Load one split with this dataset's loader."""
        loader = self.loader or functools.partial(load_digits, self.name)
        return loader(split, root, download=download)


#: Every registered dataset by name; :func:`register` adds one, :func:`unregister` removes it.
DATASETS: dict[str, Dataset] = {}


def register(dataset: Dataset) -> Dataset:
    """Add ``dataset`` and its files to the registry, refusing a name or file name already taken."""
    if dataset.name in DATASETS:
        raise ValueError(f"register: a dataset named {dataset.name!r} is already registered")
    taken = [f.name for f in dataset.files if REGISTRY.get(f.name, f) != f]
    if taken:
        raise ValueError(f"register: {dataset.name!r} reuses registered file names {', '.join(taken)}")
    REGISTRY.update((f.name, f) for f in dataset.files)
    DATASETS[dataset.name] = dataset
    return dataset


def unregister(name: str) -> Dataset:
    """Remove the dataset ``name`` and its files from the registry; return it."""
    dataset = DATASETS.pop(name)
    for f in dataset.files:
        REGISTRY.pop(f.name, None)
    return dataset


def _dataset(name: str, caller: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"{caller}: dataset must be one of {', '.join(DATASETS)}, not {name!r}") from None


#: Payload md5s of the QMNIST stand-in (``QMNIST-standin/`` of the offline copies):
#: MNIST's images under QMNIST's file names, and the first 10,000 rows of the real
#: QMNIST test labels. Its training labels are the real ones (payload verified).
QMNIST_STANDIN: dict[str, str] = {
    "qmnist-train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "qmnist-test-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "qmnist-test-labels-idx2-int.gz": "293e35b13294cc0fec97598a14d4a99b",
}
STANDIN_NOTE = (
    "QMNIST STAND-IN: MNIST's images paired with the real QMNIST labels, test10k only. "
    "These are not QMNIST's pixels and the 50,000 lost test digits are absent: "
    "results on it are not QMNIST results."
)


class DataUnavailableError(FileNotFoundError):
    """Data files are not on disk and could not be downloaded; ``missing`` names them all."""

    def __init__(self, message: str, missing: Sequence[str] = ()):
        super().__init__(message)
        self.missing = tuple(missing)


class NotADataFileError(DataUnavailableError):
    """Something other than a regular file (a folder, a named pipe, a broken or looping link) is where a data
    file belongs; ``path`` is where, ``missing`` names the file. Never reported as merely missing, and never
    downloaded over."""

    def __init__(self, message: str, name: str, path: Path, what: str):
        super().__init__(message, (name,))
        self.path, self.what = path, what


class DataVerificationError(ValueError):
    """A downloaded file failed its checksum; nothing was kept."""


class UnverifiedDataWarning(UserWarning):
    """A local data file matches no known checksum."""


@dataclass(frozen=True)
class FileCheck:
    """The result of verifying one file: where it is and how it verified."""

    name: str
    path: Path
    status: str  # canonical | payload | standin | unverified
    md5: str

    @property
    def trusted(self) -> bool:
        return self.status in ("canonical", "payload")

    def describe(self) -> str:
        how = {
            "canonical": "verified: md5 of the file is the published one",
            "payload": "verified: md5 of its contents is the published one",
            "standin": "QMNIST stand-in (md5 of the offline stand-in)",
            "unverified": f"UNVERIFIED: md5 {self.md5} matches no published file",
        }[self.status]
        return f"{shown_path(self.path)}: {how}"


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The data folder, absolute: ``path``, else ``$MNISTLIB_DATA``, else pooch's cache for mnistlib.

    A relative path is resolved against the current folder once, here, so that
    code that changes folder afterwards still finds the same data. An empty
    ``path`` is a ``ValueError`` (it would silently mean the current folder;
    leave it out, ``None``, for the default), and a path that is, or lies
    under, something other than a folder a ``NotADirectoryError`` naming it and
    the setting it came from. The folder need not exist yet.
    """
    if path is not None:
        if not os.fspath(path).strip():
            raise ValueError(
                f"data folder {os.fspath(path)!r} is empty: name a folder, or give none to use ${ENV_VAR} "
                "or pooch's cache"
            )
        return _a_folder(Path(path).expanduser().resolve(), "the data folder given")
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return _a_folder(Path(env).expanduser().resolve(), f"${ENV_VAR}")
    import pooch

    return Path(pooch.os_cache("mnistlib")).resolve()


def _a_folder(folder: Path, setting: str) -> Path:
    """``folder``, unless it or the nearest of its parents that exists is not a folder: then a NotADirectoryError."""
    for there in (folder, *folder.parents):
        try:
            mode = there.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue  # absent, or under a file: the file is what is in the way
        except OSError as exc:  # a looping link, a file where a parent folder should be, no permission
            mode, why = None, f"cannot be opened as a folder ({exc.strerror})"
        else:
            why = "is a file, not a folder" if stat.S_ISREG(mode) else "is not a folder"
        if mode is not None and stat.S_ISDIR(mode):
            return folder
        where = "" if there == folder else f", in the way of {folder}"
        raise NotADirectoryError(
            f"{setting} names {there}, which {why}{where}: the data folder must be a folder; "
            "point it at the folder that holds (or will hold) the data files"
        )
    return folder


def shown_path(path: str | os.PathLike) -> str:
    """``path`` as the book shows it: ``$MNISTLIB_DATA/...`` relative to the data folder, never this machine's folders.

    A path outside the data folder is shown by its name alone.
    """
    try:
        path = Path(path).resolve()
    except (RuntimeError, OSError):  # a link that loops: where it is, not where it leads
        path = Path(path).parent.resolve() / Path(path).name
    try:
        root = data_dir()
    except (OSError, ValueError):
        return path.name
    folder = f"${ENV_VAR}" if os.environ.get(ENV_VAR, "").strip() else "<mnistlib cache>"
    try:
        return f"{folder}/{path.relative_to(root).as_posix()}"
    except ValueError:
        return path.name


def _candidates(entry: DataFile, root: Path) -> list[Path]:
    return [root / entry.dataset / entry.name, root / entry.name]


def _entry(name: str) -> DataFile:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a registered data file; known: {', '.join(REGISTRY)}") from None


def locate(name: str, root: str | os.PathLike | None = None) -> Path | None:
    """Path of registered file ``name`` under the data folder, or None if absent.

    Something else where the file belongs (a folder, a named pipe, a device, a
    link that loops or leads nowhere) is not absent: it raises
    :class:`NotADataFileError` saying what it is and what to do.
    """
    entry = _entry(name)
    for p in _candidates(entry, data_dir(root)):
        if p.is_file():
            return p
        what = _not_a_file(p)
        if what is not None:
            raise NotADataFileError(
                f"{p} is {what}, not the data file {name}: remove or rename it, then run `make data` "
                f"(python -m mnistlib fetch {_dataset_names(entry)}) where there is internet, or put the published "
                "file there",
                name,
                p,
                what,
            )
    return None


def _not_a_file(path: Path) -> str | None:
    """What is at ``path`` if it is there and not a regular file (a link to one counts as one), else None."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None  # absent; a file where its folder should be is the data folder's check (data_dir)
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if stat.S_ISLNK(mode):
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            target = os.readlink(path)
            if exc.errno == errno.ELOOP:
                return f"a symbolic link that loops (to {target})"
            return f"a symbolic link to nothing ({target}: {exc.strerror})"
    kinds = (
        (stat.S_ISREG, None),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    for test, what in kinds:
        if test(mode):
            return what
    return "not a regular file"


def _dataset_names(entry: DataFile) -> str:
    """The registered datasets ``entry`` belongs to, as the data command takes them."""
    return " ".join(ds.name for ds in DATASETS.values() if any(f.name == entry.name for f in ds.files))


#: Verdicts on files that are not the published file, keyed by the file's md5 (its content, not its path, size or
#: time: a file rewritten in place with its times restored is verified again) and the registry entry.
_VERIFIED: dict[tuple[str, str], str] = {}

#: For a file that is neither the published one nor has a registered payload size or IDX header, at most this many
#: times its compressed size is decompressed to verify it (gzip's own maximum ratio is about 1,032).
_FALLBACK_RATIO = 1024


def _payload_limit(entry: DataFile, raw: bytes) -> int:
    """The most bytes verifying ``raw`` may decompress: what the registry and the IDX header say the payload is.

    The published payload has ``entry.payload_size`` bytes, and the stand-ins are parts of it, so a longer
    stream cannot match either; an IDX header bounds its own payload too, and a header that declares more than
    the registered size means 0: nothing is worth decompressing. Only the header is decompressed here.
    """
    limits = [] if entry.payload_size is None else [entry.payload_size]
    try:
        dtype, shape = read_idx_header(raw)
    except IdxFormatError:
        pass  # not IDX (the TSV tables), or not a header at all: the registry's size, if any, decides
    else:
        declared = 4 + 4 * len(shape) + math.prod(shape) * dtype.itemsize
        if entry.payload_size is not None and declared > entry.payload_size:
            return 0  # more than the published file holds: it matches nothing, and nothing is decompressed
        limits.append(declared)
    return min(limits) if limits else max(1 << 20, _FALLBACK_RATIO * len(raw))


def _classify(entry: DataFile, raw: bytes, path: Path) -> tuple[FileCheck, bytes | bytearray | None]:
    """Verify ``raw`` (the file's bytes) against ``entry``; return the check and the payload if decompressed.

    The payload is decompressed only when a payload md5 could match, and never past :func:`_payload_limit`;
    a file stored uncompressed under the ``.gz`` name is its own payload.
    """
    md5 = hashlib.md5(raw).hexdigest()
    if md5 == entry.md5:
        return FileCheck(entry.name, path, "canonical", md5), None
    known = {entry.payload_md5: "payload", QMNIST_STANDIN.get(entry.name): "standin"}
    known.pop(None, None)
    cached = _VERIFIED.get((md5, entry.name))
    if cached is not None or not known:
        return FileCheck(entry.name, path, cached or "unverified", md5), None
    kind = sniff_compression(raw[:6])
    payload = None
    if kind is None:
        payload, pmd5 = raw, md5
    else:
        limit = _payload_limit(entry, raw)
        try:
            if not limit:
                raise IdxFormatError(f"{path}: its IDX header declares more than the published file holds")
            payload = decompress(raw, kind, str(path), limit=limit)
        except IdxFormatError:
            pmd5 = None
        else:
            pmd5 = hashlib.md5(payload).hexdigest()
    status = known.get(pmd5, "unverified")
    _VERIFIED[(md5, entry.name)] = status
    return FileCheck(entry.name, path, status, md5), payload


def verify_file(path: str | os.PathLike, name: str | None = None) -> FileCheck:
    """Verify a local file against the registry entry ``name`` (default: the file's name)."""
    path = Path(path)
    check, _ = _load_verified(_entry(name or path.name), path)
    return check


def _load_verified(entry: DataFile, path: Path) -> tuple[FileCheck, bytes | bytearray]:
    """Read ``path`` once, verify it by its content, and return the check and the bytes to parse."""
    raw = path.read_bytes()
    check, payload = _classify(entry, raw, path)
    return check, payload if payload is not None else raw


def fetch(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    download: bool = True,
    progressbar: bool | None = None,
    timeout: float = 60.0,
    attempts: int = 2,
    replace_unverified: bool = False,
) -> Path:
    """Return the local path of registered file ``name``, downloading it if missing.

    The download goes to a temporary file beside the target, is verified
    (canonical or payload md5), and only then renamed into place; a failed
    or corrupt download leaves no file behind. Each mirror is tried
    ``attempts`` times. With ``replace_unverified``, a local file that matches
    no published checksum is downloaded again too, and once a verified copy is
    in place the old one is kept beside it as ``<name>.corrupt``; if no
    verified copy can be had, the old file stays where it was. Raises
    :class:`DataUnavailableError` saying first what to do, then every missing
    file of the file's dataset. Introduced in chapter 01 (``01_idx_format``).
    """
    return fetch_files(
        [name],
        root,
        download=download,
        progressbar=progressbar,
        timeout=timeout,
        attempts=attempts,
        replace_unverified=replace_unverified,
    )[0]


def fetch_files(
    names: Iterable[str],
    root: str | os.PathLike | None = None,
    *,
    download: bool = True,
    progressbar: bool | None = None,
    timeout: float = 60.0,
    attempts: int = 2,
    replace_unverified: bool = False,
) -> list[Path]:
    """Local paths of registered files ``names``, downloading the missing ones as :func:`fetch` does.

    Once one file could not be downloaded the others are only looked for (offline,
    each would fail the same way), and a single :class:`DataUnavailableError`
    lists every missing file of the datasets they belong to, so one fix covers
    them all. ``replace_unverified``: as for :func:`fetch`.
    """
    return _fetch_files(names, root, download, progressbar, timeout, attempts, replace_unverified)[0]


def _fetch_files(
    names: Iterable[str], root, download: bool, progressbar, timeout: float, attempts: int, replace_unverified: bool
) -> tuple[list[Path], str | None]:
    """:func:`fetch_files`, also returning why downloading stopped (None: it did not)."""
    base = data_dir(root)
    names = list(names)
    paths: list[Path] = []
    why = None if download else "downloads are disabled"
    for name in names:
        entry = _entry(name)
        path = locate(name, base)
        target = base / entry.dataset / entry.name
        if path is not None and replace_unverified and why is None and verify_file(path, name).status == "unverified":
            replaced, why = _download(entry, target, progressbar, timeout, attempts, aside=path)
            path = replaced or path  # not replaced: the unverified file stays where it was
        elif path is None and why is None:
            path, why = _download(entry, target, progressbar, timeout, attempts)
        paths.append(path)
    missing = [n for n, p in zip(names, paths) if p is None]
    if missing:
        for ds in DATASETS.values():
            if any(f.name in missing for f in ds.files):
                missing += [n for n in ds.default_files if n not in missing and locate(n, base) is None]
        raise DataUnavailableError(_missing_message(missing, base, why), missing)
    return paths, why


def _download(
    entry: DataFile, target: Path, progressbar, timeout: float, attempts: int, aside: Path | None = None
) -> tuple[Path | None, str | None]:
    """Try every mirror ``attempts`` times; return (the verified file, None), or (None, one line saying why not).

    ``aside``: an unverified local copy, kept as ``<name>.corrupt`` once the verified one is in place.
    """
    if not entry.urls:  # a dataset published nowhere we can reach: its files come only from an offline copy
        return None, (
            f"{entry.name} has no download mirror (its DataFile lists none): put the file in "
            f"{target.parent} (the offline copy, e.g. ../shared/data/{entry.dataset}/ through .ci/offline-data.sh)"
        )
    errors: list[tuple[str, BaseException]] = []
    for url in entry.urls:
        for attempt in range(attempts):
            try:
                _download_verified(entry, url, target, progressbar, timeout, quiet=bool(errors), aside=aside)
                return target, None
            except DataVerificationError as exc:
                errors.append((url, exc))
                break  # the mirror serves wrong bytes: retrying will not help
            except OSError as exc:
                full = disk_full(target, exc)
                if full is not None:  # no mirror and no retry will help: say so, naming the file
                    raise full from exc
                errors.append((url, exc))
                time.sleep(0.2 * (attempt + 1))
            except Exception as exc:  # network errors of every kind: try again, then the next mirror
                errors.append((url, exc))
                time.sleep(0.2 * (attempt + 1))
    url, exc = errors[0]
    mirrors = f"{len(entry.urls)} mirror{'s' if len(entry.urls) > 1 else ''}"
    tries = f"{len(errors)} tries on {mirrors}" if len(errors) > 1 else "1 try"
    return None, f"downloading {entry.name} failed ({tries}), first from {url}: {_reason(exc)}"


def _reason(exc: BaseException, limit: int = 200) -> str:
    """The innermost cause of a download error, on one short line (requests nests it three or four deep)."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if inner is None:
            break
        exc = inner
    text = " ".join(str(exc).split()) or "no message"
    text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _missing_message(names: Sequence[str], base: Path, why: str) -> str:
    """What to do first, then every missing file by folder, then why downloading did not help: a few lines."""
    entries = [_entry(n) for n in names]
    sets = " ".join(ds.name for ds in DATASETS.values() if any(f.name in names for f in ds.files))
    command = f" (python -m mnistlib fetch {sets})" if sets else ""
    lines = [
        f"Data files are missing. Set {ENV_VAR} to a folder that holds them (in the folders named below, or all "
        f"in one), or run `make data`{command} where there is internet."
    ]
    for folder in dict.fromkeys(e.dataset for e in entries):
        group = [e for e in entries if e.dataset == folder]
        where = f"published at {group[0].mirrors[0]}" if group[0].mirrors else "no download mirror: offline copy only"
        lines.append(f"  missing from {base / folder}: {', '.join(e.name for e in group)} ({where})")
    lines.append(f"  Not downloaded: {why}.")
    return "\n".join(lines)


def _download_verified(
    entry: DataFile, url: str, target: Path, progressbar, timeout: float, quiet: bool = False, aside: Path | None = None
) -> None:
    """Download ``url`` to ``target`` through a temporary file, keeping it only if it verifies.

    ``quiet`` silences pooch's "Downloading data from" line, for retries after a failure. ``aside``: the local
    copy the download replaces, kept as ``<name>.corrupt`` (see :func:`_set_aside`) just before it is replaced.
    """
    import pooch

    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.download")
    if progressbar is None:
        progressbar = sys.stderr.isatty() or "ipykernel" in sys.modules
    logger = pooch.get_logger()
    disabled = logger.disabled
    try:
        logger.disabled = disabled or quiet
        downloader = pooch.HTTPDownloader(progressbar=progressbar, timeout=timeout)
        # pooch itself writes to a temporary file and renames it when complete.
        pooch.retrieve(url, known_hash=None, fname=part.name, path=part.parent, downloader=downloader)
        check, _ = _classify(entry, part.read_bytes(), target)
        if not check.trusted:
            raise DataVerificationError(
                f"downloaded {entry.name} has md5 {check.md5}, expected {entry.md5} "
                f"(or a payload md5 of {entry.payload_md5}); the file was discarded"
            )
        if aside is not None:
            _set_aside(aside, replaced=aside == target)
        os.replace(part, target)
    finally:
        logger.disabled = disabled
        part.unlink(missing_ok=True)


def _set_aside(path: Path, replaced: bool) -> Path:
    """Keep ``path`` as ``<name>.corrupt`` (``.corrupt.1``, ... if taken), never overwriting anything; return it.

    ``replaced``: a new file is about to be renamed onto ``path``; then ``path`` is only linked to its new name,
    so that the name never goes missing in between (a link is the file itself, even where it is a symbolic link).
    """
    for n in itertools.count():
        keep = path.with_name(f"{path.name}.corrupt{f'.{n}' if n else ''}")
        try:
            os.link(path, keep, follow_symlinks=False)
        except FileExistsError:
            continue
        except (OSError, NotImplementedError):  # no hard links here: rename, if nothing has that name
            if keep.exists() or keep.is_symlink():
                continue
            os.rename(path, keep)
            return keep
        if not replaced:
            path.unlink()
        return keep
    raise AssertionError("unreachable")


@dataclass(frozen=True, eq=False)
class DigitSet:
    """Images, labels and where they came from. Unpacks as ``images, labels``.

    ``images`` is uint8 of shape (N, 28, 28) (another size for a dataset registered
    with another ``image_shape``); ``labels`` is int64 of shape (N,);
    ``extended`` holds QMNIST's eight label columns as a DataFrame (else None).
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    files: tuple[FileCheck, ...]
    extended: object | None = None  # pandas.DataFrame for QMNIST

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self.images
        yield self.labels

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"DigitSet({self.name!r}, {len(self)} digits, {self.status})"

    @property
    def verified(self) -> bool:
        """True when every file matched its published checksum (file or payload)."""
        return all(f.trusted for f in self.files)

    @property
    def standin(self) -> bool:
        """True when any file is the QMNIST stand-in."""
        return any(f.status == "standin" for f in self.files)

    @property
    def status(self) -> str:
        if self.standin:
            return "QMNIST stand-in"
        return "verified" if self.verified else "UNVERIFIED"

    @property
    def label(self) -> str:
        """The dataset and its status in a few words, for tables: e.g. ``MNIST (verified)``."""
        return f"{self.name.split()[0]} ({self.status})"

    @property
    def provenance(self) -> str:
        """A few lines saying exactly what these data are; printed by every notebook."""
        head = f"{self.name}: {len(self):,} digits, {self.status}"
        lines = [head] + [f"  {f.describe()}" for f in self.files]
        if self.standin:
            lines.append("  " + STANDIN_NOTE)
        return "\n".join(lines)


def _load_files(names: Sequence[str], root, download: bool, stacklevel: int = 4) -> list[tuple[np.ndarray, FileCheck]]:
    """Fetch ``names`` (one error lists every missing file), then verify and parse each.

    ``stacklevel`` points an unverified-file warning at the code that called the public loader.
    """
    out = []
    for name, path in zip(names, fetch_files(names, root, download=download)):
        check, data = _load_verified(_entry(name), path)
        if check.status == "unverified":
            warnings.warn(
                f"{path} matches no published checksum of {name} (md5 {check.md5}); loading it anyway",
                UnverifiedDataWarning,
                stacklevel=stacklevel,
            )
        out.append((_parse(data, path, _entry(name)), check))
    return out


def _parse(data: bytes, path: Path, entry: DataFile | None = None) -> np.ndarray:
    """Parse a data file's bytes; with ``entry``, never past its registered payload size (its header included).

    A file whose header or stream claims more than the published file holds is refused before it is
    decompressed past that size, with what to do about it.
    """
    limit = None if entry is None else entry.payload_size
    try:
        arr = read_idx(data, limit=limit)
        # The loader owns these bytes: give the reader an array it may modify.
        return arr if arr.flags.writeable else arr.copy()
    except IdxFormatError as exc:
        fix = _replace_hint(entry) if entry is not None else ""
        raise IdxFormatError(f"{path}: {exc}{fix}") from exc


def _replace_hint(entry: DataFile) -> str:
    """What to do with a damaged copy of ``entry``, as a sentence to append: the data command for its datasets."""
    sets = _dataset_names(entry)
    if not sets:
        return ""
    return (
        f" Replace it: run `python -m mnistlib fetch {sets}` where there is internet (it keeps this file as "
        "<name>.corrupt), or put the published file in its place."
    )


def _check_labels(labels: np.ndarray, check: FileCheck, columns: int | None = None) -> None:
    """Labels are integers, one row per image: shape (N,), or (N, columns) for QMNIST's extended table."""
    want = "(N,)" if columns is None else f"(N, {columns})"
    shaped = labels.ndim == 1 if columns is None else labels.ndim == 2 and labels.shape[1] == columns
    if labels.dtype.kind not in "iu" or not shaped:
        raise IdxFormatError(
            f"{check.path}: expected integer labels of shape {want}, got {labels.dtype} {labels.shape}"
        )


def _pair(
    kind: str,
    images: np.ndarray,
    labels: np.ndarray,
    checks: Sequence[FileCheck],
    image_shape: tuple[int, ...] = (28, 28),
) -> None:
    if images.shape[1:] != tuple(image_shape) or images.dtype != np.uint8:
        want = ", ".join(map(str, ("N", *image_shape)))
        raise IdxFormatError(
            f"{checks[0].path}: expected uint8 images of shape ({want}), got {images.dtype} {images.shape}"
        )
    if len(images) != len(labels):
        raise IdxFormatError(
            f"{kind}: {checks[0].path} holds {len(images)} images but {checks[1].path} holds {len(labels)} labels"
        )


def load_mnist(split: str = "train", root: str | os.PathLike | None = None, *, download: bool = True) -> DigitSet:
    """Load MNIST's ``"train"`` (60,000) or ``"test"`` (10,000) digits, verified.

    Introduced in chapter 02 (``02_exploring_the_data``).
    """
    if split not in ("train", "test"):
        raise ValueError(f"load_mnist: split must be 'train' or 'test', not {split!r}")
    return _load_split(DATASETS["mnist"], split, root, download)


def load_digits(
    dataset: str, split: str = "train", root: str | os.PathLike | None = None, *, download: bool = True
) -> DigitSet:
    """Load one split of a registered dataset: its images and labels files, verified and paired.

    The default loader of a :class:`Dataset`: the images must be uint8 of shape
    (N, *image_shape), the labels 1-D integers, one per image.
    """
    ds = _dataset(dataset, "load_digits")
    if split not in ds.splits:
        raise ValueError(f"load_digits({dataset!r}): split must be one of {', '.join(ds.splits)}, not {split!r}")
    return _load_split(ds, split, root, download)


def _load_split(ds: Dataset, split: str, root, download: bool) -> DigitSet:
    (images, ci), (labels, cl) = _load_files(ds.splits[split], root, download)
    _check_labels(labels, cl)
    _pair(f"{ds.folder} {split}", images, labels, (ci, cl), ds.image_shape)
    return DigitSet(f"{ds.folder} {split}", images, labels.astype(np.int64), (ci, cl))


QMNIST_SUBSETS = ("train", "test", "test10k", "test50k", "nist")


def load_qmnist(what: str = "train", root: str | os.PathLike | None = None, *, download: bool = True) -> DigitSet:
    """Load a QMNIST subset, with its eight-column extended labels.

    ``what`` follows torchvision: ``train`` (60,000), ``test`` (all test rows:
    60,000 in QMNIST), ``test10k`` (the first 10,000: MNIST's test digits),
    ``test50k`` (the other 50,000: the digits lost from MNIST), ``nist`` (all
    402,953 NIST digits). The number of test rows is read from the files, not
    assumed; ``test50k`` on data without those rows (the stand-in) raises a
    ``ValueError`` saying so. Introduced in chapter 02 (``02_exploring_the_data``).
    """
    if what not in QMNIST_SUBSETS:
        raise ValueError(f"load_qmnist: what must be one of {', '.join(QMNIST_SUBSETS)}, not {what!r}")
    if what == "nist":
        names = ("xnist-images-idx3-ubyte.xz", "xnist-labels-idx2-int.xz")
    else:
        part = "train" if what == "train" else "test"
        names = (f"qmnist-{part}-images-idx3-ubyte.gz", f"qmnist-{part}-labels-idx2-int.gz")
    (images, ci), (table, cl) = _load_files(names, root, download, stacklevel=3)
    _check_labels(table, cl, columns=len(QMNIST_COLUMNS))
    _pair(f"QMNIST {what}", images, table, (ci, cl))
    if what == "test10k":
        images, table = images[:10_000], table[:10_000]
    elif what == "test50k":
        if len(images) <= 10_000:
            standin = " (this is the QMNIST stand-in, which has no lost digits)" if ci.status == "standin" else ""
            raise ValueError(
                f"load_qmnist('test50k'): {shown_path(ci.path)} holds only {len(images):,} test digits{standin}; "
                "the 50,000 lost digits are rows 10,000-59,999 of the full QMNIST test set"
            )
        images, table = images[10_000:], table[10_000:]
    import pandas as pd

    extended = pd.DataFrame(table.astype(np.int64), columns=list(QMNIST_COLUMNS))
    return DigitSet(f"QMNIST {what}", images, extended["class"].to_numpy(), (ci, cl), extended)


def as_float(images: np.ndarray, channel_axis: bool = True) -> np.ndarray:
    """Scale uint8 images to float32 in [0, 1], adding a trailing channel axis by default.

    Introduced in chapter 02 (``02_exploring_the_data``).
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"as_float: images must be uint8 (0-255), got {images.dtype}")
    out = images.astype(np.float32)
    out *= np.float32(1 / 255)
    return out[..., None] if channel_axis else out


def stratified_indices(labels: np.ndarray, n: int, seed: int = 42) -> np.ndarray:
    """Indices of ``n`` samples whose class proportions match ``labels``'s, sorted.

    Deterministic for a given seed. Introduced in chapter 08 (``08_resnet_qmnist``).
    """
    labels = np.asarray(labels)
    if not 0 <= n <= len(labels):
        raise ValueError(f"stratified_indices: n must be between 0 and {len(labels)}, got {n}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    # Largest-remainder apportionment: per-class quotas that sum exactly to n.
    exact = counts * (n / len(labels))
    quota = np.floor(exact).astype(int)
    short = n - quota.sum()
    quota[np.argsort(-(exact - quota), kind="stable")[:short]] += 1
    picked = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(picked)) if picked else np.array([], dtype=int)


def train_val_split(
    images: np.ndarray, labels: np.ndarray, val_fraction: float = 0.2, seed: int = 42
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split into ``(x_train, y_train), (x_val, y_val)``, stratified by class and seeded.

    Introduced in chapter 02 (``02_exploring_the_data``).
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"train_val_split: val_fraction must be in (0, 1), got {val_fraction}")
    if len(images) != len(labels):
        raise ValueError(f"train_val_split: {len(images)} images but {len(labels)} labels")
    val = stratified_indices(labels, int(round(len(labels) * val_fraction)), seed)
    mask = np.ones(len(labels), dtype=bool)
    mask[val] = False
    return (images[mask], labels[mask]), (images[val], labels[val])


@dataclass(frozen=True, eq=False)
class ExperimentData:
    """The three splits a modelling chapter works with, as uint8 images and int labels.

    ``x_train``/``y_train`` is the training part, reduced by the profile;
    ``x_val``/``y_val`` the held-out validation part; ``x_test``/``y_test`` the
    test set, to be scored once per finished model. ``label`` is what the
    results ledger records as the data; ``provenance`` the full record;
    ``n_train_full`` the size of the training part before the profile reduced it.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    label: str
    provenance: str
    n_train_full: int

    def describe(self) -> str:
        return (
            f"training on {len(self.y_train):,} digits, validating on {len(self.y_val):,}, "
            f"testing on {len(self.y_test):,}"
        )


def experiment_data(profile, dataset: str = "mnist", val_fraction: float = 0.2, seed: int = 42) -> ExperimentData:
    """Load ``dataset``, hold out a stratified validation split, and reduce the parts by ``profile``.

    The split is the same in every chapter and profile (same seed); the profile
    only decides how many of the remaining training digits are used
    (``profile.samples``) and, where it caps evaluation (``profile.eval_samples``,
    ``profile.val_samples``), how many validation and test digits are scored;
    every reduction is drawn stratified by class. Introduced in chapter 03
    (``03_linear_models``).
    """
    ds = _dataset(dataset, "experiment_data")
    train, test = ds.load("train"), ds.load("test")
    (x_train, y_train), (x_val, y_val) = train_val_split(*train, val_fraction=val_fraction, seed=seed)
    keep = stratified_indices(y_train, profile.samples(len(y_train)), seed=seed)
    keep_val = stratified_indices(y_val, profile.val_samples(len(y_val)), seed=seed)
    keep_test = stratified_indices(test.labels, profile.eval_samples(len(test.labels)), seed=seed)
    label = train.label if train.status == test.status else f"{train.label}, test {test.status}"
    return ExperimentData(
        x_train[keep],
        y_train[keep],
        x_val[keep_val],
        y_val[keep_val],
        test.images[keep_test],
        test.labels[keep_test],
        label,
        train.provenance + "\n" + test.provenance,
        len(y_train),
    )


def provenance_report(names: Iterable[str] | None = None, root=None) -> str:
    """One line per registered file already on disk: where it is and how it verified.

    Downloads nothing.
    """
    shown = f"${ENV_VAR}" if root is None and os.environ.get(ENV_VAR, "").strip() else "pooch's cache for mnistlib"
    lines = [f"data folder: {shown if root is None else 'the folder given'}"]
    for name in names or REGISTRY:
        try:
            path = locate(name, root)
        except NotADataFileError as exc:
            lines.append(f"  {name}: NOT A FILE: {shown_path(exc.path)} is {exc.what}")
            continue
        lines.append(f"  {name}: not downloaded yet" if path is None else f"  {verify_file(path, name).describe()}")
    return "\n".join(lines)


def _files_in(folder: str) -> tuple[DataFile, ...]:
    return tuple(f for f in REGISTRY.values() if f.dataset == folder)


register(
    Dataset(
        "mnist",
        "MNIST",
        _files_in("MNIST"),
        loader=load_mnist,
        splits={
            "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
            "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
        },
    )
)
register(
    Dataset(
        "qmnist",
        "QMNIST",
        _files_in("QMNIST"),
        loader=load_qmnist,
        splits={
            "train": ("qmnist-train-images-idx3-ubyte.gz", "qmnist-train-labels-idx2-int.gz"),
            "test": ("qmnist-test-images-idx3-ubyte.gz", "qmnist-test-labels-idx2-int.gz"),
        },
    )
)


class _DefaultFiles(Mapping):
    """``DEFAULT_FILES[name]``: the files the data command fetches for dataset ``name``, read live from ``DATASETS``."""

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return DATASETS[name].default_files

    def __iter__(self) -> Iterator[str]:
        return iter(DATASETS)

    def __len__(self) -> int:
        return len(DATASETS)

    def __repr__(self) -> str:
        return f"DEFAULT_FILES({dict(self)!r})"


#: Dataset name -> the files ``python -m mnistlib fetch NAME`` and ``setup(data=[NAME])`` use; follows ``DATASETS``.
DEFAULT_FILES: Mapping[str, tuple[str, ...]] = _DefaultFiles()


def main(argv: Sequence[str] | None = None, prog: str = "python -m mnistlib") -> int:
    """``python -m mnistlib fetch|status [DATASET ...]``: download and verify, or only report.

    Without datasets, every registered one. Both exit 1 when a file on disk
    matches no published checksum (unverified or corrupt), saying which and
    what to do; ``fetch`` first downloads a verified copy of such a file,
    keeping the old one beside it as ``<name>.corrupt``, and exits 1 with the
    missing-data message when files cannot be had. ``status`` downloads
    nothing, and exits 1 too when a file is not downloaded yet.
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Download (fetch) or check (status) the data files "
        "and print where each one is and how it verified.",
    )
    parser.add_argument("command", choices=("fetch", "status"))
    parser.add_argument(
        "datasets",
        nargs="*",
        metavar="DATASET",
        help=f"registered datasets: {', '.join(DATASETS)} (default: all of them)",
    )
    parser.add_argument("--data-dir", default=None, help=f"data folder (default: ${ENV_VAR} or pooch's cache)")
    args = parser.parse_args(argv)
    unknown = [d for d in args.datasets if d not in DATASETS]
    if unknown:
        parser.error(f"unknown dataset {unknown[0]!r} (registered: {', '.join(DATASETS)})")
    if args.data_dir is not None and not args.data_dir.strip():
        parser.error(f"--data-dir is empty: name a folder, or leave it out to use ${ENV_VAR} or pooch's cache")
    try:
        data_dir(args.data_dir)
    except NotADirectoryError as exc:
        if args.data_dir is not None:
            parser.error(f"--data-dir {args.data_dir}: {exc}")
        print(exc, file=sys.stderr)
        return 1
    names = [n for d in dict.fromkeys(args.datasets or DATASETS) for n in DATASETS[d].default_files]
    why = None
    if args.command == "fetch":
        try:
            _, why = _fetch_files(names, args.data_dir, True, None, timeout=60.0, attempts=2, replace_unverified=True)
        except (DataUnavailableError, OSError) as exc:  # OSError: a full disk, naming the file
            print(exc, file=sys.stderr)
            return 1
    print(provenance_report(names, args.data_dir))
    print(f"(the data folder on this machine: {data_dir(args.data_dir)})")
    blocked = []
    for n in names:
        try:
            locate(n, args.data_dir)
        except NotADataFileError as exc:
            blocked.append(str(exc))
    if blocked:
        print(f"{len(blocked)} data file{'s' if len(blocked) > 1 else ''} cannot be read:", file=sys.stderr)
        print("\n".join(f"  {line}" for line in blocked), file=sys.stderr)
        return 1
    present = [(n, p) for n in names if (p := locate(n, args.data_dir)) is not None]
    bad = [check for n, p in present if (check := verify_file(p, n)).status == "unverified"]
    missing = [n for n in names if n not in dict(present)]
    if missing and not bad:
        wanted = " ".join(ds.name for ds in DATASETS.values() if any(f.name in missing for f in ds.files))
        print(
            f"{len(missing)} data file{'s' if len(missing) > 1 else ''} not downloaded yet: "
            f"run `python -m mnistlib fetch {wanted}` where there is internet, or put the files in the data folder.",
            file=sys.stderr,
        )
        return 1
    if not bad:
        return 0
    sets = " ".join(ds.name for ds in DATASETS.values() if any(f.name in {c.name for c in bad} for f in ds.files))
    lines = [
        f"{len(bad)} data file{'s' if len(bad) > 1 else ''} on disk match{'es' if len(bad) == 1 else ''} no "
        "published checksum (corrupt, or not the published data):"
    ]
    lines += [f"  {c.path} (md5 {c.md5})" for c in bad]
    if args.command == "fetch":
        lines.append(
            f"  Not replaced: {why or 'no verified copy could be downloaded'}. The files were left as they are."
        )
    lines.append(
        f"Run `python -m mnistlib fetch {sets}` where there is internet: it downloads verified copies and keeps "
        "these beside them as <name>.corrupt; or put the published files in their place."
    )
    print("\n".join(lines), file=sys.stderr)
    return 1


if __name__ == "__main__":  # the older spelling; `python -m mnistlib` is the same without runpy's warning
    sys.exit(main(prog="python -m mnistlib.datasets"))
