import dataclasses
import gzip
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from mnistlib import datasets
from mnistlib.datasets import (
    DataUnavailableError,
    UnverifiedDataWarning,
    load_mnist,
    load_qmnist,
    stratified_indices,
    train_val_split,
)
from mnistlib.idx import IdxFormatError, write_idx

MNIST = datasets.DEFAULT_FILES["mnist"]


# ---- the registry ----------------------------------------------------------------------


def test_registry_is_complete_and_well_formed():
    assert set(MNIST) == {
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    }
    for name in (
        "qmnist-train-images-idx3-ubyte.gz",
        "qmnist-test-labels-idx2-int.gz",
        "qmnist-train-labels.tsv.gz",
        "xnist-images-idx3-ubyte.xz",
        "xnist-labels-idx2-int.xz",
    ):
        assert name in datasets.REGISTRY
    assert list(datasets.DATASETS)[:2] == ["mnist", "qmnist"]  # the book's two; a contributor may register more
    assert list(datasets.DEFAULT_FILES) == list(datasets.DATASETS)
    assert datasets.DEFAULT_FILES["qmnist"] == (
        "qmnist-train-images-idx3-ubyte.gz",
        "qmnist-train-labels-idx2-int.gz",
        "qmnist-test-images-idx3-ubyte.gz",
        "qmnist-test-labels-idx2-int.gz",
    )
    assert all(datasets.DATASETS[name].image_shape == (28, 28) for name in ("mnist", "qmnist"))
    for ds in datasets.DATASETS.values():
        assert set(ds.splits) == {"train", "test"}
        assert all(datasets.REGISTRY[f.name] == f for f in ds.files)
    folders = {ds.folder for ds in datasets.DATASETS.values()}
    for name, entry in datasets.REGISTRY.items():
        assert entry.name == name and entry.dataset in folders
        assert re.fullmatch(r"[0-9a-f]{32}", entry.md5)
        assert entry.payload_md5 is None or re.fullmatch(r"[0-9a-f]{32}", entry.payload_md5)
        assert entry.urls and all(u.startswith(("https://", "http://")) and u.endswith(name) for u in entry.urls)
    assert len(datasets.REGISTRY[MNIST[0]].urls) >= 2, "MNIST needs a mirror list"
    assert datasets.REGISTRY["train-images-idx3-ubyte.gz"].md5 == "f68b3c2dcbeaaa9fbdd348bbdeb94873"


# ---- loading the real data ---------------------------------------------------------------


def test_load_mnist(data_root):
    train, test = load_mnist("train"), load_mnist("test")
    assert train.images.shape == (60_000, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (10_000, 28, 28)
    assert train.labels.dtype == np.int64 and train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert train.verified and test.verified and not train.standin
    x, y = train
    assert x is train.images and y is train.labels and len(train) == 60_000
    x[0, 0, 0] = x[0, 0, 0]  # writable
    assert "MNIST train" in train.provenance and "verified" in train.provenance
    assert abs(datasets.as_float(x).mean() - 0.1307) < 1e-3


def test_load_mnist_bad_split():
    with pytest.raises(ValueError, match="split must be 'train' or 'test', not 'valid'"):
        load_mnist("valid")


def test_load_qmnist(data_root):
    if datasets.locate("qmnist-train-images-idx3-ubyte.gz", data_root) is None:
        pytest.fail("QMNIST files missing from the data folder")
    train = load_qmnist("train")
    assert train.images.shape == (60_000, 28, 28)
    assert list(train.extended.columns) == list(datasets.QMNIST_COLUMNS)
    assert np.array_equal(train.extended["class"].to_numpy(), train.labels)
    assert np.array_equal(train.labels, load_mnist("train").labels)
    test = load_qmnist("test")
    assert len(test) in (10_000, 60_000)  # read from the file, never assumed
    test10k = load_qmnist("test10k")
    assert len(test10k) == 10_000 and np.array_equal(test10k.labels, load_mnist("test").labels)
    if test.standin:
        assert "STAND-IN" in test.provenance and "not QMNIST results" in test.provenance
        with pytest.raises(ValueError, match="holds only 10,000 test digits.*stand-in"):
            load_qmnist("test50k")
    else:
        assert len(load_qmnist("test50k")) == 50_000


def test_load_qmnist_bad_subset():
    with pytest.raises(ValueError, match="what must be one of train, test, test10k, test50k, nist"):
        load_qmnist("validation")


# ---- verification: canonical, payload, stand-in, unverified ----------------------------------


@pytest.fixture
def folder(tmp_path, real_file):
    """A data folder with copies of the MNIST test files."""
    (tmp_path / "MNIST").mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(real_file(name), tmp_path / "MNIST" / name)
    return tmp_path


def test_canonical_and_recompressed_files_verify(folder):
    labels = folder / "MNIST" / "t10k-labels-idx1-ubyte.gz"
    assert datasets.verify_file(labels).status == "canonical"
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes()), compresslevel=1, mtime=0))
    check = datasets.verify_file(labels)
    assert check.status == "payload" and check.trusted
    assert load_mnist("test", folder).verified


def test_modified_file_loads_with_a_warning(folder):
    path = folder / "MNIST" / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[16 + 300] ^= 0xFF
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.warns(UnverifiedDataWarning, match=re.escape(str(path))):
        test = load_mnist("test", folder)
    assert not test.verified and "UNVERIFIED" in test.provenance and test.status == "UNVERIFIED"


def test_standin_is_recognised(tmp_path, real_file):
    (tmp_path / "QMNIST").mkdir()
    shutil.copy(real_file("t10k-images-idx3-ubyte.gz"), tmp_path / "QMNIST" / "qmnist-test-images-idx3-ubyte.gz")
    check = datasets.verify_file(tmp_path / "QMNIST" / "qmnist-test-images-idx3-ubyte.gz")
    assert check.status == "standin" and not check.trusted


def test_flat_layout(tmp_path, real_file):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(real_file(name), tmp_path / name)
    assert len(load_mnist("test", tmp_path)) == 10_000


def test_images_and_labels_must_pair(folder):
    write_idx(folder / "MNIST" / "t10k-labels-idx1-ubyte.gz", np.zeros(9, np.uint8))
    with pytest.warns(UnverifiedDataWarning):
        with pytest.raises(IdxFormatError, match="10000 images but .* 9 labels"):
            load_mnist("test", folder)


def test_corrupt_local_file_names_the_path(folder):
    path = folder / "MNIST" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(UnverifiedDataWarning):
        with pytest.raises(IdxFormatError, match=re.escape(str(path))):
            load_mnist("test", folder)


def test_missing_file_without_download(tmp_path):
    with pytest.raises(DataUnavailableError) as info:
        load_mnist("test", tmp_path, download=False)
    msg = str(info.value)
    assert msg.startswith("Data files are missing. Set MNISTLIB_DATA to a folder that holds them")
    assert "make data" in msg.splitlines()[0]
    assert all(name in msg for name in MNIST), "every missing MNIST file is named, not only the first"
    assert set(info.value.missing) == set(MNIST)
    assert str(tmp_path / "MNIST") in msg and "https://" in msg and "downloads are disabled" in msg
    assert len(msg.splitlines()) <= 4


def test_missing_data_offline_is_a_short_message_that_starts_with_the_fix(tmp_path, monkeypatch, capsys):
    """Unreachable mirrors: one message, what to do first, every missing file, one line on why downloading failed."""
    for name in list(MNIST) + list(datasets.DEFAULT_FILES["qmnist"]):
        entry = dataclasses.replace(datasets.REGISTRY[name], mirrors=("http://127.0.0.1:9/a/", "http://127.0.0.1:9/b/"))
        monkeypatch.setitem(datasets.REGISTRY, name, entry)
    assert datasets.main(["fetch", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("Downloading data from") <= 1, "pooch announces the first try only"
    msg = err[err.index("Data files are missing") :].strip()
    lines = msg.splitlines()
    assert lines[0].startswith("Data files are missing. Set MNISTLIB_DATA") and "make data" in lines[0]
    assert "python -m mnistlib fetch mnist qmnist" in lines[0]
    for name in list(MNIST) + list(datasets.DEFAULT_FILES["qmnist"]):
        assert name in msg
    assert len(lines) <= 5 and len(msg) < 1200, msg
    why = [line for line in lines if "Not downloaded" in line]
    assert len(why) == 1 and len(why[0]) < 300 and "Connection" in why[0] and "4 tries on 2 mirrors" in why[0]
    assert "Traceback" not in msg and msg.count("Connection refused") == 1
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "labels,why",
    [
        (np.zeros((2, 8), np.uint8), "uint8 (2, 8)"),
        (np.zeros((2, 1), np.uint8), "uint8 (2, 1)"),
        (np.array([1.7, 2.2], np.float32), "float32 (2,)"),
    ],
)
def test_labels_must_be_one_dimensional_integers(tmp_path, labels, why):
    """DigitSet.labels is int64 (N,): a labels file of another shape or a float type is refused, naming the file."""
    write_idx(tmp_path / "MNIST" / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    path = write_idx(tmp_path / "MNIST" / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.warns(UnverifiedDataWarning):
        with pytest.raises(IdxFormatError, match="expected integer labels of shape") as info:
            load_mnist("test", tmp_path)
    assert str(path) in str(info.value) and why in str(info.value)


@pytest.mark.parametrize("table", [np.zeros(2, np.int32), np.zeros((2, 8), np.float32), np.zeros((2, 7), np.int32)])
def test_qmnist_extended_labels_must_be_an_integer_table(tmp_path, table):
    write_idx(tmp_path / "QMNIST" / "qmnist-train-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    path = write_idx(tmp_path / "QMNIST" / "qmnist-train-labels-idx2-int.gz", table)
    with pytest.warns(UnverifiedDataWarning):
        with pytest.raises(IdxFormatError, match=r"expected integer labels of shape \(N, 8\)") as info:
            load_qmnist("train", tmp_path)
    assert str(path) in str(info.value)


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("MNISTLIB_DATA", str(tmp_path))
    assert datasets.data_dir() == tmp_path
    assert datasets.data_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("MNISTLIB_DATA")
    assert "mnistlib" in str(datasets.data_dir())


def test_provenance_report_downloads_nothing(folder):
    report = datasets.provenance_report(["t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"], folder)
    assert "t10k-labels-idx1-ubyte.gz: verified" in report
    assert "train-labels-idx1-ubyte.gz: not downloaded yet" in report
    assert not (folder / "MNIST" / "train-labels-idx1-ubyte.gz").exists()


def test_command_line_status(folder, capsys):
    assert datasets.main(["status", "mnist", "--data-dir", str(folder)]) == 1  # the training files are missing
    out, err = capsys.readouterr()
    assert "t10k-images-idx3-ubyte.gz: verified" in out and "train-images-idx3-ubyte.gz: not downloaded yet" in out
    assert "2 data files not downloaded yet: run `python -m mnistlib fetch mnist`" in err


def test_command_line_status_without_datasets_reports_every_registered_one(data_root, capsys):
    assert datasets.main(["status"]) == 0
    out = capsys.readouterr().out
    for names in datasets.DEFAULT_FILES.values():
        assert all(f"{name}: " in out and f"{name}: not downloaded" not in out for name in names)
    with pytest.raises(SystemExit) as info:
        datasets.main(["status", "emnist"])
    registered = ", ".join(datasets.DATASETS)
    assert info.value.code == 2 and f"unknown dataset 'emnist' (registered: {registered})" in capsys.readouterr().err


def test_python_dash_m_mnistlib_runs_the_data_command_without_warnings(folder):
    done = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", "mnistlib", "status", "mnist", "--data-dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # the folder has the test files only
    assert "t10k-images-idx3-ubyte.gz: verified" in done.stdout and "RuntimeWarning" not in done.stderr


def test_python_dash_m_mnistlib_status_with_no_arguments(data_root):
    done = subprocess.run(
        [sys.executable, "-m", "mnistlib", "status"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, MNISTLIB_DATA=str(data_root)),
    )
    assert done.returncode == 0, done.stderr
    assert "train-images-idx3-ubyte.gz: verified" in done.stdout and "qmnist-train-labels-idx2-int.gz" in done.stdout


# ---- downloads from a real HTTP server on 127.0.0.1 ------------------------------------------


class Server:
    """Serves files under /<mode>/<name>: good, corrupt, drop (connection closed mid-body), 500, stall."""

    def __init__(self, files):
        self.files, self.hits = files, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                _, mode, name = self.path.split("/", 2)
                outer.hits.append((mode, name))
                body = outer.files.get(name)
                if body is None or mode == "500":
                    self.send_error(404 if body is None else 500)
                    return
                if mode == "stall":
                    time.sleep(3)
                if mode == "corrupt":
                    body = body[:-10] + bytes(10)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if mode == "drop" else body)
                self.wfile.flush()
                if mode == "drop":
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


NAME = "t10k-labels-idx1-ubyte.gz"


@pytest.fixture
def server(real_file):
    s = Server({NAME: real_file(NAME).read_bytes()})
    yield s
    s.close()


def use_mirrors(monkeypatch, *mirrors):
    entry = dataclasses.replace(datasets.REGISTRY[NAME], mirrors=tuple(mirrors))
    monkeypatch.setitem(datasets.REGISTRY, NAME, entry)


def leftovers(root):
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def test_download_good_file(tmp_path, server, monkeypatch):
    use_mirrors(monkeypatch, f"{server.url}/good/")
    path = datasets.fetch(NAME, tmp_path, progressbar=False)
    assert path == tmp_path / "MNIST" / NAME
    assert datasets.verify_file(path).status == "canonical"
    assert leftovers(tmp_path) == [NAME]
    assert datasets.fetch(NAME, tmp_path) == path and len(server.hits) == 1  # no second download


@pytest.mark.parametrize("mode,reason", [("corrupt", "md5"), ("drop", ""), ("500", "500")])
def test_failed_download_leaves_nothing_behind(tmp_path, server, monkeypatch, mode, reason):
    use_mirrors(monkeypatch, f"{server.url}/{mode}/")
    with pytest.raises(DataUnavailableError) as info:
        datasets.fetch(NAME, tmp_path, progressbar=False, attempts=2)
    assert NAME in str(info.value) and reason in str(info.value)
    assert leftovers(tmp_path) == []
    # A later good download succeeds.
    use_mirrors(monkeypatch, f"{server.url}/good/")
    assert datasets.verify_file(datasets.fetch(NAME, tmp_path, progressbar=False)).trusted


def test_corrupt_download_is_not_retried_but_network_errors_are(tmp_path, server, monkeypatch):
    use_mirrors(monkeypatch, f"{server.url}/corrupt/", f"{server.url}/500/", f"{server.url}/good/")
    datasets.fetch(NAME, tmp_path, progressbar=False, attempts=2)
    assert [m for m, _ in server.hits] == ["corrupt", "500", "500", "good"]


def test_stalled_server_times_out(tmp_path, server, monkeypatch):
    use_mirrors(monkeypatch, f"{server.url}/stall/")
    start = time.monotonic()
    with pytest.raises(DataUnavailableError, match="(?i)timeout|timed out"):
        datasets.fetch(NAME, tmp_path, progressbar=False, timeout=0.5, attempts=1)
    assert time.monotonic() - start < 3 and leftovers(tmp_path) == []


def test_recompressing_mirror_is_accepted(tmp_path, server, monkeypatch):
    server.files[NAME] = gzip.compress(gzip.decompress(server.files[NAME]), compresslevel=1)
    use_mirrors(monkeypatch, f"{server.url}/good/")
    assert datasets.verify_file(datasets.fetch(NAME, tmp_path, progressbar=False)).status == "payload"


# ---- preparing arrays for models -----------------------------------------------------------


def test_as_float():
    x = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    out = datasets.as_float(x)
    assert out.dtype == np.float32 and out.shape == (1, 2, 2, 1)
    np.testing.assert_allclose(out[0, :, :, 0], [[0, 1], [0.2, 0.4]], rtol=1e-6)
    assert datasets.as_float(x, channel_axis=False).shape == (1, 2, 2)
    with pytest.raises(TypeError, match="must be uint8"):
        datasets.as_float(out)


def test_stratified_indices():
    labels = np.repeat(np.arange(10), np.arange(10, 110, 10))  # 10, 20, ..., 100 of each class
    idx = stratified_indices(labels, 110, seed=1)
    assert len(idx) == 110 and len(np.unique(idx)) == 110 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(np.bincount(labels[idx]), np.arange(2, 22, 2))
    np.testing.assert_array_equal(idx, stratified_indices(labels, 110, seed=1))
    assert not np.array_equal(idx, stratified_indices(labels, 110, seed=2))
    assert len(stratified_indices(labels, 7)) == 7  # quotas that do not divide evenly still sum to n
    with pytest.raises(ValueError, match="n must be between 0 and 550"):
        stratified_indices(labels, 551)


def test_train_val_split():
    labels = np.repeat(np.arange(10), 100)
    images = np.arange(1000)
    (x_tr, y_tr), (x_val, y_val) = train_val_split(images, labels, val_fraction=0.2, seed=42)
    assert len(x_tr) == 800 and len(x_val) == 200
    assert set(x_tr).isdisjoint(x_val) and set(x_tr) | set(x_val) == set(images)
    np.testing.assert_array_equal(np.bincount(y_val), [20] * 10)
    np.testing.assert_array_equal(labels[x_val], y_val)
    with pytest.raises(ValueError, match="val_fraction must be in"):
        train_val_split(images, labels, val_fraction=1.5)
    with pytest.raises(ValueError, match="1000 images but 3 labels"):
        train_val_split(images, labels[:3])


def test_experiment_data(data_root):
    from mnistlib.profiles import get_profile

    smoke = datasets.experiment_data(get_profile(name="smoke"))
    full = datasets.experiment_data(get_profile(name="full"))
    assert len(full.y_train) == 48_000 and len(full.y_val) == 12_000 and len(full.y_test) == 10_000
    assert len(smoke.y_train) == get_profile(name="smoke").samples(48_000)
    assert smoke.n_train_full == full.n_train_full == 48_000
    # One validation split for every profile; the smoke profile scores a stratified part of it and of the test set.
    assert len(smoke.y_val) == len(smoke.y_test) == get_profile(name="smoke").eval_samples(12_000) == 500
    full_val = {x.tobytes() for x in full.x_val}
    assert all(x.tobytes() in full_val for x in smoke.x_val)
    assert np.bincount(smoke.y_test, minlength=10).min() >= 0.8 * 500 / 10
    assert set(np.unique(smoke.y_train)) == set(range(10))
    assert full.x_train.dtype == np.uint8 and full.x_train.shape[1:] == (28, 28)
    assert full.label == "MNIST (verified)" and "MNIST test" in full.provenance
    assert "training on 48,000 digits" in full.describe()
    with pytest.raises(ValueError, match="dataset must be one of mnist, qmnist"):
        datasets.experiment_data(get_profile(name="smoke"), dataset="emnist")
