"""MNIST and QMNIST: a registry of files, verified downloads, and loaders.

Introduced in chapter 02 (``02_exploring_the_data``). Files live in the folder
named by the ``MNISTLIB_DATA`` environment variable (default: pooch's cache
folder for ``mnistlib``), under ``MNIST/`` and ``QMNIST/``; a flat folder works
too. A missing file is downloaded with :mod:`pooch` from its canonical URL or
a mirror, to a temporary name, verified, then renamed into place: a download
that breaks off or arrives corrupt leaves nothing that a later run would trust.

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
import hashlib
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .idx import IdxFormatError, read_idx, sniff_compression, _decompress

__all__ = [
    "ENV_VAR",
    "DataFile",
    "FileCheck",
    "DigitSet",
    "DataUnavailableError",
    "DataVerificationError",
    "UnverifiedDataWarning",
    "REGISTRY",
    "QMNIST_COLUMNS",
    "QMNIST_STANDIN",
    "data_dir",
    "locate",
    "verify_file",
    "fetch",
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
    "nist_class_code",  # NIST class code (ASCII code of the character)
    "nist_index",  # global index of the digit in NIST SD19
    "duplicate",  # 0, or the index of the digit this one duplicates
    "unused",  # always 0
)


@dataclass(frozen=True)
class DataFile:
    """One published file: its name, folder, canonical md5 and where to get it.

    Introduced in chapter 02 (``02_exploring_the_data``).
    """

    name: str
    dataset: str  # folder under the data directory: "MNIST" or "QMNIST"
    md5: str  # md5 of the published (compressed) file
    payload_md5: str | None  # md5 of its decompressed payload, where known
    mirrors: tuple[str, ...]
    description: str
    rows: int | None = None

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(m + self.name for m in self.mirrors)


def _registry(*files: DataFile) -> dict[str, DataFile]:
    return {f.name: f for f in files}


REGISTRY: dict[str, DataFile] = _registry(
    DataFile("train-images-idx3-ubyte.gz", "MNIST", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
             "6bbc9ace898e44ae57da46a324031adb", MNIST_MIRRORS, "MNIST training images, 60000x28x28", 60_000),
    DataFile("train-labels-idx1-ubyte.gz", "MNIST", "d53e105ee54ea40749a09fcbcd1e9432",
             "a25bea736e30d166cdddb491f175f624", MNIST_MIRRORS, "MNIST training labels, 60000", 60_000),
    DataFile("t10k-images-idx3-ubyte.gz", "MNIST", "9fb629c4189551a2d022fa330f9573f3",
             "2646ac647ad5339dbf082846283269ea", MNIST_MIRRORS, "MNIST test images, 10000x28x28", 10_000),
    DataFile("t10k-labels-idx1-ubyte.gz", "MNIST", "ec29112dd5afa0611ce80d1b7f02629c",
             "27ae3e4e09519cfbb04c329615203637", MNIST_MIRRORS, "MNIST test labels, 10000", 10_000),
    DataFile("qmnist-train-images-idx3-ubyte.gz", "QMNIST", "ed72d4157d28c017586c42bc6afe6370", None,
             QMNIST_MIRRORS, "QMNIST training images, 60000x28x28", 60_000),
    DataFile("qmnist-train-labels-idx2-int.gz", "QMNIST", "0058f8dd561b90ffdd0f734c6a30e5e4",
             "1d43300e7f41ddcbf7fd006cbe865af9", QMNIST_MIRRORS, "QMNIST extended training labels, 60000x8", 60_000),
    DataFile("qmnist-test-images-idx3-ubyte.gz", "QMNIST", "1394631089c404de565df7b7aeaf9412", None,
             QMNIST_MIRRORS, "QMNIST test images, 60000x28x28", 60_000),
    DataFile("qmnist-test-labels-idx2-int.gz", "QMNIST", "5b5b05890a5e13444e108efe57b788aa",
             "5e00709fb0090091f3afc51d204ad83c", QMNIST_MIRRORS, "QMNIST extended test labels, 60000x8", 60_000),
    DataFile("qmnist-train-labels.tsv.gz", "QMNIST", "dd6774ccdd27d78aba65dced61be5c76",
             "31b6dfd5ab70d6421a8ba6242b8f327b", QMNIST_MIRRORS, "QMNIST extended training labels as TSV", 60_000),
    DataFile("qmnist-test-labels.tsv.gz", "QMNIST", "e2bec717a181a540da4a3a2023070284",
             "8815e80b8cd6b0c0d3c8b09cf09a2455", QMNIST_MIRRORS, "QMNIST extended test labels as TSV", 60_000),
    DataFile("qmnist-test-labels-idx1-ubyte.gz", "QMNIST", "1c42a8f34c1dc2650a74dd83ed34a9c9",
             "15e8c8ed218c37aafd4c6faa40f93566", QMNIST_MIRRORS, "QMNIST test class labels only, 60000", 60_000),
    DataFile("xnist-images-idx3-ubyte.xz", "QMNIST", "7f124b3b8ab81486c9d8c2749c17f834", None,
             QMNIST_MIRRORS, "all NIST SD19 digits, preprocessed like QMNIST, 402953x28x28", 402_953),
    DataFile("xnist-labels-idx2-int.xz", "QMNIST", "5ed0e788978e45d4a8bd4b7caec3d79d", None,
             QMNIST_MIRRORS, "extended labels of the NIST digits, 402953x8", 402_953),
)

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
    """A data file is not on disk and could not be downloaded. Introduced in chapter 02."""


class DataVerificationError(ValueError):
    """A downloaded file failed its checksum; nothing was kept. Introduced in chapter 02."""


class UnverifiedDataWarning(UserWarning):
    """A local data file matches no known checksum. Introduced in chapter 02."""


@dataclass(frozen=True)
class FileCheck:
    """The result of verifying one file: where it is and how it verified.

    Introduced in chapter 02 (``02_exploring_the_data``).
    """

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
            "payload": "verified: md5 of the decompressed payload is the published one",
            "standin": "QMNIST stand-in file (payload md5 of the offline stand-in)",
            "unverified": f"UNVERIFIED: md5 {self.md5} matches no published file",
        }[self.status]
        return f"{self.name}: {how} [{self.path}]"


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The data folder: ``path``, else ``$MNISTLIB_DATA``, else pooch's cache for mnistlib.

    Introduced in chapter 02 (``02_exploring_the_data``).
    """
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("mnistlib"))


def _candidates(entry: DataFile, root: Path) -> list[Path]:
    return [root / entry.dataset / entry.name, root / entry.name]


def _entry(name: str) -> DataFile:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a registered MNIST/QMNIST file; known: {', '.join(REGISTRY)}") from None


def locate(name: str, root: str | os.PathLike | None = None) -> Path | None:
    """Path of registered file ``name`` under the data folder, or None if absent.

    Introduced in chapter 02 (``02_exploring_the_data``).
    """
    for p in _candidates(_entry(name), data_dir(root)):
        if p.is_file():
            return p
    return None


_VERIFIED: dict[tuple, FileCheck] = {}


def _classify(entry: DataFile, raw: bytes, path: Path) -> tuple[FileCheck, bytes | None]:
    """Verify ``raw`` (the file's bytes) against ``entry``; return the check and the payload if decompressed."""
    md5 = hashlib.md5(raw).hexdigest()
    if md5 == entry.md5:
        return FileCheck(entry.name, path, "canonical", md5), None
    payload = None
    if sniff_compression(raw[:6]) is not None:
        try:
            payload = _decompress(raw, sniff_compression(raw[:6]), str(path))
        except IdxFormatError:
            payload = None
    if payload is not None:
        pmd5 = hashlib.md5(payload).hexdigest()
        if pmd5 == entry.payload_md5:
            return FileCheck(entry.name, path, "payload", md5), payload
        if QMNIST_STANDIN.get(entry.name) == pmd5:
            return FileCheck(entry.name, path, "standin", md5), payload
    return FileCheck(entry.name, path, "unverified", md5), payload


def verify_file(path: str | os.PathLike, name: str | None = None) -> FileCheck:
    """Verify a local file against the registry entry ``name`` (default: the file's name).

    Introduced in chapter 02 (``02_exploring_the_data``).
    """
    path = Path(path)
    check, _ = _load_verified(_entry(name or path.name), path)
    return check


def _load_verified(entry: DataFile, path: Path) -> tuple[FileCheck, bytes]:
    """Read ``path`` once, verify it, and return the check and the bytes to parse."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, entry.name)
    raw = path.read_bytes()
    cached = _VERIFIED.get(key)
    if cached is not None:
        return cached, raw
    check, payload = _classify(entry, raw, path)
    _VERIFIED[key] = check
    return check, payload if payload is not None else raw


def fetch(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    download: bool = True,
    progressbar: bool | None = None,
    timeout: float = 60.0,
    attempts: int = 2,
) -> Path:
    """Return the local path of registered file ``name``, downloading it if missing.

    The download goes to a temporary file beside the target, is verified
    (canonical or payload md5), and only then renamed into place; a failed
    or corrupt download leaves no file behind. Each mirror is tried
    ``attempts`` times. Raises :class:`DataUnavailableError` naming the file,
    the folders searched and how to provide it. Introduced in chapter 02.
    """
    entry = _entry(name)
    base = data_dir(root)
    found = locate(name, base)
    if found is not None:
        return found
    searched = [str(p.parent) for p in _candidates(entry, base)]
    if not download:
        raise DataUnavailableError(_missing_message(entry, searched, "downloads are disabled"))
    target = base / entry.dataset / entry.name
    errors = []
    for url in entry.urls:
        for attempt in range(attempts):
            try:
                _download_verified(entry, url, target, progressbar, timeout)
                return target
            except DataVerificationError as exc:
                errors.append(f"{url}: {exc}")
                break  # the mirror serves wrong bytes: retrying will not help
            except Exception as exc:  # network errors of every kind: try again, then the next mirror
                errors.append(f"{url} (try {attempt + 1}): {type(exc).__name__}: {exc}")
                time.sleep(0.2 * (attempt + 1))
    raise DataUnavailableError(_missing_message(entry, searched, "; ".join(errors)))


def _missing_message(entry: DataFile, searched: list[str], why: str) -> str:
    return (
        f"{entry.dataset} file {entry.name!r} ({entry.description}) is not in "
        f"{' or '.join(searched)} and could not be downloaded: {why}. "
        f"Download it from {entry.urls[0]} into {searched[0]}, "
        f"or set {ENV_VAR} to a folder that holds {entry.dataset}/{entry.name}."
    )


def _download_verified(entry: DataFile, url: str, target: Path, progressbar, timeout: float) -> None:
    import pooch

    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.download")
    if progressbar is None:
        progressbar = sys.stderr.isatty() or "ipykernel" in sys.modules
    try:
        downloader = pooch.HTTPDownloader(progressbar=progressbar, timeout=timeout)
        # pooch itself writes to a temporary file and renames it when complete.
        pooch.retrieve(url, known_hash=None, fname=part.name, path=part.parent, downloader=downloader)
        check, _ = _classify(entry, part.read_bytes(), target)
        if not check.trusted:
            raise DataVerificationError(
                f"downloaded {entry.name} has md5 {check.md5}, expected {entry.md5} "
                f"(or a payload md5 of {entry.payload_md5}); the file was discarded"
            )
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


@dataclass(frozen=True, eq=False)
class DigitSet:
    """Images, labels and where they came from. Unpacks as ``images, labels``.

    ``images`` is uint8 of shape (N, 28, 28); ``labels`` is int64 of shape (N,);
    ``extended`` holds QMNIST's eight label columns as a DataFrame (else None).
    Introduced in chapter 02 (``02_exploring_the_data``).
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    files: tuple[FileCheck, ...]
    extended: "object | None" = None  # pandas.DataFrame for QMNIST

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


def _load_file(name: str, root, download: bool) -> tuple[np.ndarray, FileCheck]:
    path = fetch(name, root, download=download)
    check, data = _load_verified(_entry(name), path)
    if check.status == "unverified":
        warnings.warn(
            f"{path} matches no published checksum of {name} (md5 {check.md5}); loading it anyway",
            UnverifiedDataWarning,
            stacklevel=3,
        )
    return _parse(data, path), check


def _parse(data: bytes, path: Path) -> np.ndarray:
    try:
        arr = read_idx(data)
        # The loader owns these bytes: give the reader an array it may modify.
        return arr if arr.flags.writeable else arr.copy()
    except IdxFormatError as exc:
        raise IdxFormatError(f"{path}: {exc}") from exc


def _pair(kind: str, images: np.ndarray, labels: np.ndarray, checks: Sequence[FileCheck]) -> None:
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise IdxFormatError(f"{checks[0].path}: expected uint8 images of shape (N, 28, 28), got {images.dtype} {images.shape}")
    if len(images) != len(labels):
        raise IdxFormatError(
            f"{kind}: {checks[0].path} holds {len(images)} images but {checks[1].path} holds {len(labels)} labels"
        )


def load_mnist(split: str = "train", root: str | os.PathLike | None = None, *, download: bool = True) -> DigitSet:
    """Load MNIST's ``"train"`` (60,000) or ``"test"`` (10,000) digits, verified.

    Introduced in chapter 02 (``02_exploring_the_data``).
    """
    prefixes = {"train": "train", "test": "t10k"}
    if split not in prefixes:
        raise ValueError(f"load_mnist: split must be 'train' or 'test', not {split!r}")
    p = prefixes[split]
    images, ci = _load_file(f"{p}-images-idx3-ubyte.gz", root, download)
    labels, cl = _load_file(f"{p}-labels-idx1-ubyte.gz", root, download)
    _pair(f"MNIST {split}", images, labels, (ci, cl))
    return DigitSet(f"MNIST {split}", images, labels.astype(np.int64), (ci, cl))


QMNIST_SUBSETS = ("train", "test", "test10k", "test50k", "nist")


def load_qmnist(what: str = "train", root: str | os.PathLike | None = None, *, download: bool = True) -> DigitSet:
    """Load a QMNIST subset, with its eight-column extended labels.

    ``what`` follows torchvision: ``train`` (60,000), ``test`` (all test rows:
    60,000 in QMNIST), ``test10k`` (the first 10,000: MNIST's test digits),
    ``test50k`` (the other 50,000: the digits lost from MNIST), ``nist`` (all
    402,953 NIST digits). The number of test rows is read from the files, not
    assumed; ``test50k`` on data without those rows (the stand-in) raises a
    ``ValueError`` saying so. Introduced in chapter 02.
    """
    if what not in QMNIST_SUBSETS:
        raise ValueError(f"load_qmnist: what must be one of {', '.join(QMNIST_SUBSETS)}, not {what!r}")
    if what == "nist":
        names = ("xnist-images-idx3-ubyte.xz", "xnist-labels-idx2-int.xz")
    else:
        part = "train" if what == "train" else "test"
        names = (f"qmnist-{part}-images-idx3-ubyte.gz", f"qmnist-{part}-labels-idx2-int.gz")
    images, ci = _load_file(names[0], root, download)
    table, cl = _load_file(names[1], root, download)
    if table.ndim != 2 or table.shape[1] != len(QMNIST_COLUMNS):
        raise IdxFormatError(f"{cl.path}: expected extended labels of shape (N, 8), got {table.shape}")
    _pair(f"QMNIST {what}", images, table, (ci, cl))
    if what == "test10k":
        images, table = images[:10_000], table[:10_000]
    elif what == "test50k":
        if len(images) <= 10_000:
            standin = " (this is the QMNIST stand-in, which has no lost digits)" if ci.status == "standin" else ""
            raise ValueError(
                f"load_qmnist('test50k'): {ci.path} holds only {len(images):,} test digits{standin}; "
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

    Deterministic for a given seed. Introduced in chapter 02 (``02_exploring_the_data``).
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
    Introduced in chapter 03 (``03_linear_models``).
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
        return (f"training on {len(self.y_train):,} digits, validating on {len(self.y_val):,}, "
                f"testing on {len(self.y_test):,}")


def experiment_data(profile, dataset: str = "mnist", val_fraction: float = 0.2, seed: int = 42) -> ExperimentData:
    """Load ``dataset``, hold out a stratified validation split, and reduce the parts by ``profile``.

    The split is the same in every chapter and profile (same seed); the profile
    only decides how many of the remaining training digits are used
    (``profile.samples``) and, where it caps evaluation (``profile.eval_samples``,
    the smoke profile only), how many validation and test digits are scored;
    every reduction is drawn stratified by class. Introduced in chapter 03
    (``03_linear_models``).
    """
    loaders = {"mnist": load_mnist, "qmnist": load_qmnist}
    if dataset not in loaders:
        raise ValueError(f"experiment_data: dataset must be one of {', '.join(loaders)}, not {dataset!r}")
    train, test = loaders[dataset]("train"), loaders[dataset]("test")
    (x_train, y_train), (x_val, y_val) = train_val_split(*train, val_fraction=val_fraction, seed=seed)
    keep = stratified_indices(y_train, profile.samples(len(y_train)), seed=seed)
    keep_val = stratified_indices(y_val, profile.eval_samples(len(y_val)), seed=seed)
    keep_test = stratified_indices(test.labels, profile.eval_samples(len(test.labels)), seed=seed)
    label = train.label if train.status == test.status else f"{train.label}, test {test.status}"
    return ExperimentData(x_train[keep], y_train[keep], x_val[keep_val], y_val[keep_val], test.images[keep_test],
                          test.labels[keep_test], label, train.provenance + "\n" + test.provenance, len(y_train))


def provenance_report(names: Iterable[str] | None = None, root=None) -> str:
    """One line per registered file already on disk: where it is and how it verified.

    Downloads nothing. Introduced in chapter 02 (``02_exploring_the_data``).
    """
    lines = [f"data folder: {data_dir(root)}"]
    for name in names or REGISTRY:
        path = locate(name, root)
        lines.append(f"  {name}: not downloaded yet" if path is None else f"  {verify_file(path, name).describe()}")
    return "\n".join(lines)


DEFAULT_FILES = {
    "mnist": tuple(n for n, f in REGISTRY.items() if f.dataset == "MNIST"),
    "qmnist": (
        "qmnist-train-images-idx3-ubyte.gz",
        "qmnist-train-labels-idx2-int.gz",
        "qmnist-test-images-idx3-ubyte.gz",
        "qmnist-test-labels-idx2-int.gz",
    ),
}


def main(argv: Sequence[str] | None = None, prog: str = "python -m mnistlib") -> int:
    """``python -m mnistlib fetch|status [mnist|qmnist ...]``: download and verify.

    Introduced in chapter 02 (``02_exploring_the_data``).
    """
    parser = argparse.ArgumentParser(prog=prog, description="Download (fetch) or check (status) the data files "
                                                           "and print where each one is and how it verified.")
    parser.add_argument("command", choices=("fetch", "status"))
    parser.add_argument("datasets", nargs="*", default=["mnist", "qmnist"], choices=sorted(DEFAULT_FILES))
    parser.add_argument("--data-dir", default=None, help=f"data folder (default: ${ENV_VAR} or pooch's cache)")
    args = parser.parse_args(argv)
    names = [n for d in args.datasets for n in DEFAULT_FILES[d]]
    if args.command == "fetch":
        for n in names:
            fetch(n, args.data_dir)
    print(provenance_report(names, args.data_dir))
    return 0


if __name__ == "__main__":  # the older spelling; `python -m mnistlib` is the same without runpy's warning
    sys.exit(main(prog="python -m mnistlib.datasets"))
