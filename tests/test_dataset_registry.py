"""One registry entry is all a new digit dataset needs.

A synthetic dataset of 16x16 digits is written with ``write_idx``, registered
with its checksums, and then reached through every door the book uses: the
loader, :func:`datasets.experiment_data`, the data command (``fetch`` from a
local mirror, ``status``), ``setup(data=...)`` and the offline data script.
"""

import dataclasses
import functools
import gzip
import hashlib
import http.server
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

import mnistlib
from mnistlib import chapters, datasets
from mnistlib.datasets import DataFile, Dataset
from mnistlib.idx import IdxFormatError, write_idx
from mnistlib.profiles import get_profile

ROOT = Path(__file__).resolve().parents[1]
NAME, FOLDER = "digits16", "DIGITS16"
SIZES = {"train": 200, "test": 60}


def files_of(split: str) -> tuple[str, str]:
    return f"{NAME}-{split}-images-idx3-ubyte.gz", f"{NAME}-{split}-labels-idx1-ubyte.gz"


def write_dataset(folder: Path) -> None:
    """Images of 16x16 where class c lights row c, labels 0-9 evenly; written once, byte-identical every time."""
    rng = np.random.default_rng(0)
    for split, n in SIZES.items():
        labels = np.arange(n, dtype=np.uint8) % 10
        images = rng.integers(0, 60, size=(n, 16, 16), dtype=np.uint8)
        images[np.arange(n), labels, :] = 255
        write_idx(folder / files_of(split)[0], images)
        write_idx(folder / files_of(split)[1], labels)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def shared(tmp_path) -> Path:
    """An offline copy laid out like ../shared/data, with the new dataset's folder beside MNIST's and QMNIST's."""
    root = tmp_path / "shared"
    for folder, names in {
        "MNIST": datasets.DEFAULT_FILES["mnist"],
        "QMNIST": (
            "LICENSE",
            "qmnist-train-labels-idx2-int.gz",
            "qmnist-test-labels-idx2-int.gz",
            "qmnist-train-labels.tsv.gz",
            "qmnist-test-labels.tsv.gz",
            "qmnist-test-labels-idx1-ubyte.gz",
        ),
        "QMNIST-standin": datasets.DEFAULT_FILES["qmnist"],
    }.items():
        (root / folder).mkdir(parents=True)
        for name in names:
            (root / folder / name).write_bytes(b"stand-in bytes of " + name.encode())
    (root / "README.md").write_text("offline copies\n")
    (root / "make_qmnist_standin.py").write_text("\n")
    (root / FOLDER).mkdir()
    write_dataset(root / FOLDER)
    return root


@pytest.fixture
def mirror(shared):
    """A local HTTP server publishing the new dataset's folder."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(shared / FOLDER))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def digits16(shared, mirror):
    """The synthetic dataset, registered for the test and unregistered after it: one entry, nothing else."""
    files = []
    for split in SIZES:
        for name, what in zip(files_of(split), ("images", "labels")):
            raw = (shared / FOLDER / name).read_bytes()
            files.append(
                DataFile(
                    name,
                    FOLDER,
                    md5(raw),
                    md5(gzip.decompress(raw)),
                    (mirror,),
                    f"digits16 {split} {what}",
                    SIZES[split],
                )
            )
    entry = Dataset(NAME, FOLDER, tuple(files), splits={s: files_of(s) for s in SIZES}, image_shape=(16, 16))
    datasets.register(entry)
    try:
        yield entry
    finally:
        datasets.unregister(NAME)
    assert NAME not in datasets.DATASETS and NAME not in datasets.DEFAULT_FILES
    assert not any(f.name in datasets.REGISTRY for f in files)


def offline_folder(shared: Path, target: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(ROOT / ".ci" / "offline-data.sh"), str(shared), str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def links(folder: Path) -> dict[str, str]:
    """Each link below ``folder`` and the file it points to, with every link on the way resolved."""
    return {str(p.relative_to(folder)): str(p.resolve()) for p in sorted(folder.rglob("*")) if p.is_symlink()}


# ---- the entry reaches every place -------------------------------------------------------------------------------


def test_loader_and_experiment_data_on_the_new_dataset(digits16, shared, monkeypatch):
    monkeypatch.setenv("MNISTLIB_DATA", str(shared))  # the flat-or-foldered lookup finds DIGITS16/
    train = digits16.load("train")
    assert train.images.shape == (200, 16, 16) and train.labels.dtype == np.int64 and train.verified
    assert train.label == "DIGITS16 (verified)" and np.array_equal(train.labels, np.arange(200) % 10)
    assert len(datasets.load_digits(NAME, "test")) == 60
    data = datasets.experiment_data(get_profile(name="full"), dataset=NAME)
    assert len(data.y_train) == 160 and len(data.y_val) == 40 and len(data.y_test) == 60
    assert data.x_train.shape[1:] == (16, 16) and data.x_train.dtype == np.uint8
    assert data.label == "DIGITS16 (verified)" and "DIGITS16 test" in data.provenance
    with pytest.raises(ValueError, match="split must be one of train, test, not 'valid'"):
        datasets.load_digits(NAME, "valid")
    with pytest.raises(ValueError, match=f"dataset must be one of {', '.join(datasets.DATASETS)}, not 'emnist'"):
        datasets.experiment_data(get_profile(name="full"), dataset="emnist")


def test_data_command_fetches_from_the_mirror_and_reports(digits16, tmp_path, capsys):
    data = tmp_path / "data"
    assert datasets.main(["status", NAME, "--data-dir", str(data)]) == 1  # nothing there yet
    assert capsys.readouterr().out.count("not downloaded yet") == 4
    assert datasets.main(["fetch", NAME, "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert out.count("verified: md5 of the file is the published one") == 4
    assert "(the data folder on this machine: " in out
    assert sorted(p.name for p in (data / FOLDER).iterdir()) == sorted(datasets.DEFAULT_FILES[NAME])
    assert datasets.main(["status", "--data-dir", str(data)]) == 1  # every registered dataset: MNIST is not there
    out = capsys.readouterr().out
    assert "train-images-idx3-ubyte.gz: not downloaded yet" in out and f"{files_of('test')[1]}: verified" in out


def test_setup_reports_the_new_dataset(digits16, shared, monkeypatch, capsys):
    monkeypatch.setenv("MNISTLIB_DATA", str(shared))
    mnistlib.setup(chapters.EXPLORING_THE_DATA, data=[NAME])
    out = capsys.readouterr().out
    assert all(f"{name}: verified" in out for name in datasets.DEFAULT_FILES[NAME])


def test_offline_script_links_the_new_dataset_and_keeps_the_real_layout(digits16, shared, tmp_path, capsys):
    target = tmp_path / "data"
    done = offline_folder(shared, target)
    assert done.returncode == 0, done.stderr
    expected = {f"MNIST/{n}": f"{shared}/MNIST/{n}" for n in datasets.DEFAULT_FILES["mnist"]}
    expected.update({f"QMNIST/{n}": f"{shared}/QMNIST-standin/{n}" for n in datasets.DEFAULT_FILES["qmnist"]})
    expected["QMNIST/LICENSE"] = f"{shared}/QMNIST/LICENSE"
    expected.update({f"{FOLDER}/{n}": f"{shared}/{FOLDER}/{n}" for n in datasets.DEFAULT_FILES[NAME]})
    assert links(target) == expected
    assert sorted(p.name for p in target.iterdir()) == ["DIGITS16", "MNIST", "QMNIST"]
    assert offline_folder(shared, target).returncode == 0 and links(target) == expected  # rerunning changes nothing
    assert datasets.main(["status", NAME, "--data-dir", str(target)]) == 0
    assert capsys.readouterr().out.count(": verified") == 4


def test_real_offline_copy_gives_the_usual_folder(tmp_path):
    """On ../shared/data itself: MNIST/ authentic, QMNIST/ the stand-in plus the real LICENSE, nothing else."""
    shared = ROOT.parent / "shared" / "data"
    if not (shared / "MNIST").is_dir():
        pytest.skip("no offline copy beside the repository")
    target = tmp_path / "data"
    assert offline_folder(shared, target).returncode == 0
    expected = {f"MNIST/{n}": f"{shared.resolve()}/MNIST/{n}" for n in datasets.DEFAULT_FILES["mnist"]}
    expected.update({f"QMNIST/{n}": f"{shared.resolve()}/QMNIST-standin/{n}" for n in datasets.DEFAULT_FILES["qmnist"]})
    expected["QMNIST/LICENSE"] = f"{shared.resolve()}/QMNIST/LICENSE"
    assert links(target) == expected
    test = datasets.load_qmnist("test", target)
    assert test.standin and "STAND-IN" in test.provenance


# ---- what an entry must get right --------------------------------------------------------------------------------


def test_image_shape_is_checked(digits16, shared, monkeypatch):
    monkeypatch.setitem(datasets.DATASETS, NAME, dataclasses.replace(digits16, image_shape=(28, 28)))
    with pytest.raises(IdxFormatError, match=r"shape \(N, 28, 28\), got uint8 \(200, 16, 16\)") as info:
        datasets.load_digits(NAME, "train", shared)
    assert files_of("train")[0] in str(info.value)


def test_registration_is_checked(digits16):
    with pytest.raises(ValueError, match="already registered"):
        datasets.register(digits16)
    other = DataFile("train-images-idx3-ubyte.gz", "OTHER", "0" * 32, None, ("http://x/",), "a clash")
    with pytest.raises(ValueError, match="reuses registered file names train-images-idx3-ubyte.gz"):
        datasets.register(Dataset("other", "OTHER", (other,), splits={}))
    with pytest.raises(ValueError, match="has folder 'OTHER', not 'ELSEWHERE'"):
        Dataset("other", "ELSEWHERE", (other,), splits={})
    with pytest.raises(ValueError, match="split 'train' must name two of its files"):
        Dataset("other", "OTHER", (other,), splits={"train": (other.name, "nope.gz")})
    assert "other" not in datasets.DATASETS
