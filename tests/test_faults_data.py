"""Faults of the data layer ("Nothing lost, nothing silent"), each reproduced, each fixed.

4   a decompression bomb under a published name: verification and downloads decompress no more than the registry
    and the IDX header allow, and stop at once past it; the loaders parse no more than the registry allows either
    (issue 33, 2: a header claiming a million images was trusted once verification had given up);
5   the Makefile passed the profile to a shell before anything validated it;
6   a relative ``MNISTLIB_DATA`` named another folder for the notebooks, run from ``chapters/``;
9   verification was cached by path, size and mtime: a file rewritten in place was still "verified";
10  ``status``/``fetch`` exited 0 on unverified or corrupt files, ``fetch`` never replaced a corrupt copy, a file
    stored uncompressed under its ``.gz`` name was "unverified", and ``get_profile`` must refuse unknown chapters.

Nothing here needs the real data, the network or a build: files are a few bytes, mirrors run on 127.0.0.1, and
make only runs targets defined for the test (``--eval``) or ``help``.
"""

import errno
import functools
import gzip
import hashlib
import http.server
import io
import lzma
import os
import shutil
import struct
import subprocess
import threading
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

from mnistlib import chapters, datasets, idx
from mnistlib.datasets import DataFile, Dataset, UnverifiedDataWarning
from mnistlib.idx import IdxFormatError, read_idx
from mnistlib.profiles import ProfileError, get_profile

ROOT = Path(__file__).resolve().parents[1]
NAME, FOLDER = "tinyfaults", "TINYFAULTS"
IMAGES, LABELS = f"{NAME}-train-images-idx3-ubyte.gz", f"{NAME}-train-labels-idx1-ubyte.gz"
N = 40
BOMB = 32 << 20  # what the bombs below expand to: far more than any bound they meet, cheap to compress


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def idx_bytes(arr: np.ndarray) -> bytes:
    """An uncompressed IDX file of a uint8 array."""
    return struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def labels_of(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 10, N).astype(np.uint8)


def stored(payload: bytes, mtime: int = 0) -> bytes:
    """gzip without compression: its size depends on the payload's length only."""
    return gzip.compress(payload, compresslevel=0, mtime=mtime)


PUBLISHED = {
    IMAGES: gzip.compress(idx_bytes(np.full((N, 4, 4), 7, np.uint8)), mtime=0),
    LABELS: stored(idx_bytes(labels_of(0))),
}


def peak_of(call):
    """(what ``call()`` returned or raised, the peak bytes Python and numpy allocated meanwhile)."""
    tracemalloc.start()
    try:
        try:
            result = call()
        except Exception as exc:  # noqa: BLE001 - returned for the test to inspect
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def published(tmp_path) -> Path:
    folder = tmp_path / "published"
    folder.mkdir()
    for name, raw in PUBLISHED.items():
        (folder / name).write_bytes(raw)
    return folder


@pytest.fixture
def mirror(published):
    """A local HTTP server publishing ``published``."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(published)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def register(mirror_url: str) -> Dataset:
    files = tuple(
        DataFile(name, FOLDER, md5(raw), md5(gzip.decompress(raw)), (mirror_url,), name, N, len(gzip.decompress(raw)))
        for name, raw in PUBLISHED.items()
    )
    return datasets.register(Dataset(NAME, FOLDER, files, splits={"train": (IMAGES, LABELS)}, image_shape=(4, 4)))


@pytest.fixture
def tiny(mirror):
    """A two-file dataset, registered for the test, served by ``mirror``."""
    register(mirror)
    try:
        yield
    finally:
        datasets.unregister(NAME)


@pytest.fixture
def offline():
    """The same dataset with a mirror that refuses every connection."""
    register("http://127.0.0.1:9/")
    try:
        yield
    finally:
        datasets.unregister(NAME)


@pytest.fixture
def data(tmp_path) -> Path:
    """A data folder holding the published files."""
    folder = tmp_path / "data" / FOLDER
    folder.mkdir(parents=True)
    for name, raw in PUBLISHED.items():
        (folder / name).write_bytes(raw)
    return folder.parent


# ---- 4. decompression bomb -----------------------------------------------------------------------------------------


def zeros_xz() -> bytes:
    """The issue's bomb: an xz stream of zeros (no IDX header at all), about 5 KB for BOMB bytes."""
    return lzma.compress(bytes(BOMB), preset=0)


def header_then_zeros_gz(n_labels: int = 10_000) -> bytes:
    """A gzip stream that starts as a labels file of ``n_labels`` and goes on with BOMB zero bytes."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as fh:  # written in pieces: never BOMB bytes at once
        fh.write(struct.pack(">HBBI", 0, 0x08, 1, n_labels))
        for _ in range(BOMB >> 20):
            fh.write(bytes(1 << 20))
    return out.getvalue()


@pytest.mark.parametrize("bomb", [zeros_xz, header_then_zeros_gz], ids=["xz-zeros", "gz-header-then-zeros"])
def test_a_bomb_under_a_published_name_is_not_decompressed_past_its_bound(tmp_path, bomb, capsys):
    """``python -m mnistlib status`` on a small file that expands to gigabytes: bounded, and a clear verdict."""
    raw = bomb()
    path = tmp_path / "MNIST" / "t10k-labels-idx1-ubyte.gz"
    path.parent.mkdir()
    path.write_bytes(raw)
    assert len(raw) < BOMB // 200
    check, peak = peak_of(lambda: datasets.verify_file(path))
    assert peak < 4 << 20, f"verifying a {len(raw):,}-byte file allocated {peak:,} bytes at its peak"
    assert check.status == "unverified" and not check.trusted
    code, peak = peak_of(lambda: datasets.main(["status", "mnist", "--data-dir", str(tmp_path)]))
    assert peak < 4 << 20 and code == 1
    err = capsys.readouterr().err
    assert str(path) in err and "python -m mnistlib fetch mnist" in err


def test_decompress_stops_at_its_limit():
    raw = header_then_zeros_gz()
    err, peak = peak_of(lambda: idx.decompress(raw, "gzip", "bomb.gz", limit=10_008))
    assert isinstance(err, IdxFormatError), err
    assert "bomb.gz" in str(err) and "more than the 10,008 bytes" in str(err)
    assert peak < 10_008 + (3 << 20), peak  # the limit, and a piece or two
    payload = idx_bytes(labels_of(1))
    assert idx.decompress(gzip.compress(payload), "gzip", "ok.gz", limit=len(payload)) == payload  # exactly fits


def header_then_zeros_xz() -> bytes:
    return lzma.compress(struct.pack(">HBBI", 0, 0x08, 1, 10) + bytes(BOMB), preset=0)


@pytest.mark.parametrize("bomb", [header_then_zeros_gz, header_then_zeros_xz], ids=["gzip", "xz"])
def test_read_idx_stops_a_stream_that_grows_past_its_header(tmp_path, bomb):
    raw = bomb()
    path = tmp_path / "longer.idx.gz"
    path.write_bytes(raw)
    for source in (raw, path):
        err, peak = peak_of(functools.partial(read_idx, source))
        assert isinstance(err, IdxFormatError) and "longer than the header says" in str(err), err
        assert peak < 4 << 20, f"{peak:,} bytes allocated to refuse a {len(raw):,}-byte file"
    assert str(path) in str(err)


def test_a_bomb_served_by_a_mirror_is_discarded_within_its_bound(tiny, published, tmp_path):
    """Downloads take the same path: the bomb is verified within the registered size, then discarded."""
    datasets.fetch(IMAGES, tmp_path / "data", progressbar=False)  # pooch and requests imported, a connection made
    (published / LABELS).write_bytes(zeros_xz())
    err, peak = peak_of(lambda: datasets.fetch(LABELS, tmp_path / "data", progressbar=False))
    assert isinstance(err, datasets.DataUnavailableError), err
    assert "md5" in str(err) and LABELS in str(err)
    assert peak < 8 << 20, f"{peak:,} bytes allocated to refuse a {(published / LABELS).stat().st_size:,}-byte download"
    assert [p.name for p in (tmp_path / "data" / FOLDER).iterdir()] == [IMAGES]


def header_claims_a_million_images_xz() -> bytes:
    """The issue's bomb: an images file whose header claims 1,000,000 digits, then BOMB zero bytes of them."""
    return lzma.compress(struct.pack(">HBBIII", 0, 0x08, 3, 1_000_000, 28, 28) + bytes(BOMB), preset=0)


def test_a_loader_refuses_a_file_whose_header_claims_more_than_the_registered_size(tmp_path):
    """Issue 33, 2: verified within the registered size, then parsed trusting its own header (all of BOMB and more).

    Refused after the header, naming the file and what to do, having decompressed no more than the registered size.
    """
    folder = tmp_path / "MNIST"
    folder.mkdir()
    bomb = folder / "t10k-images-idx3-ubyte.gz"
    bomb.write_bytes(header_claims_a_million_images_xz())
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels_of(0)), mtime=0))
    registered = datasets.REGISTRY[bomb.name].payload_size
    for attempt in ("first", "verdict cached"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnverifiedDataWarning)
            err, peak = peak_of(lambda: datasets.load_mnist("test", tmp_path, download=False))
        assert isinstance(err, IdxFormatError), (attempt, err)
        assert peak < registered + (4 << 20), f"{attempt}: {peak:,} bytes allocated to refuse {bomb.name}"
        message = str(err)
        assert str(bomb) in message and "1000000" in message and f"{registered:,} bytes" in message, message
        assert "python -m mnistlib fetch mnist" in message, message


def test_read_idx_refuses_a_header_past_its_limit_before_reading_the_payload(tmp_path):
    raw = header_claims_a_million_images_xz()
    path = tmp_path / "claims.idx.xz"
    path.write_bytes(raw)
    for source in (raw, path, io.BytesIO(raw)):
        err, peak = peak_of(functools.partial(read_idx, source, limit=7_840_016))
        assert isinstance(err, IdxFormatError) and "more than the 7,840,016 bytes" in str(err), err
        assert peak < 4 << 20, f"{peak:,} bytes allocated to refuse a header"  # the header's piece, a copy or two
    plain = idx_bytes(labels_of(2))
    for source in (plain, gzip.compress(plain)):
        assert np.array_equal(read_idx(source, limit=len(plain)), labels_of(2))  # exactly fits
        with pytest.raises(IdxFormatError, match=f"{len(plain):,} bytes, more than the {len(plain) - 1:,}"):
            read_idx(source, limit=len(plain) - 1)
    uncompressed = tmp_path / "plain.idx"
    uncompressed.write_bytes(plain)
    with pytest.raises(IdxFormatError, match=str(uncompressed)):
        read_idx(uncompressed, limit=8)


def test_registered_payload_sizes_are_the_real_payloads():
    """Each size the registry bounds verification with is the payload's real size (where the file is on disk)."""
    seen = 0
    for name, entry in datasets.REGISTRY.items():
        assert entry.payload_size is not None, (
            f"{name}: its DataFile has no payload_size (the size in bytes of its decompressed payload, which bounds "
            "verification: CONTRIBUTING.md, A new dataset)"
        )
        path = datasets.locate(name)
        if path is not None and datasets.verify_file(path, name).trusted and path.stat().st_size < 2 << 20:
            assert len(gzip.decompress(path.read_bytes())) == entry.payload_size, name
            seen += 1
    if not seen:
        pytest.skip("no verified data file on disk to compare with")


# ---- 5. the profile reaches no shell unvalidated -------------------------------------------------------------------

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
# A target defined for the test only: exactly what `make html` runs first with the profile, nothing else.
PROBE = 'probe: ; $(call fresh_cache,{cache},$(BOOK_PROFILE))\n\t@echo "profile=$(BOOK_PROFILE)"'


def make(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("MNISTBOOK_PROFILE", "PROFILE", "MNISTLIB_DATA")}
    return subprocess.run(
        ["make", "-s", "--no-print-directory", "-f", str(ROOT / "Makefile"), *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_make
@pytest.mark.parametrize("payload", ["smoke`touch x`", "smoke$(touch x)", "$(shell touch x)", "quick; touch x"])
@pytest.mark.parametrize("where", ["MNISTBOOK_PROFILE in the environment", "MNISTBOOK_PROFILE=", "PROFILE="])
def test_makefile_refuses_an_unknown_profile_before_any_shell_sees_it(tmp_path, payload, where):
    variable = where.split()[0].rstrip("=")
    env, args = ({variable: payload}, []) if "environment" in where else ({}, [f"{variable}={payload}"])
    for target in (["--eval", PROBE.format(cache=tmp_path / "_build"), "probe"], ["help"]):
        done = make(tmp_path, *target, *args, env=env)
        assert not (tmp_path / "x").exists(), f"make ran the profile's command ({where}{payload}, {target[-1]})"
        assert done.returncode != 0, done.stdout
        assert f"{variable} is '{payload}': set it to one of smoke quick full" in done.stderr, done.stderr
        assert "nothing was run" in done.stderr and not (tmp_path / "_build").exists()


@needs_make
def test_makefile_takes_the_profiles_mnistlib_takes(tmp_path):
    probe = ["--eval", PROBE.format(cache=tmp_path / "_build") + ' "env=$$MNISTBOOK_PROFILE"', "probe"]
    assert make(tmp_path, *probe, env={"MNISTBOOK_PROFILE": " Smoke "}).stdout.split() == ["profile=smoke", "env=smoke"]
    assert make(tmp_path, *probe, "PROFILE=FULL").stdout.split() == ["profile=full", "env="]
    assert make(tmp_path, *probe).stdout.split() == ["profile=quick", "env="]
    assert make(tmp_path, *probe, env={"MNISTBOOK_PROFILE": "  "}).stdout.split()[0] == "profile=quick"  # blank: unset
    assert (tmp_path / "_build" / ".mnistlib-key").read_text().strip().endswith("-quick")


# ---- 6. MNISTLIB_DATA is absolute where it is read -----------------------------------------------------------------


def test_a_relative_data_folder_is_resolved_where_it_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNISTLIB_DATA", ".data")
    folder = datasets.data_dir()
    assert folder.is_absolute() and folder == (tmp_path / ".data").resolve()
    assert datasets.data_dir("rel") == (tmp_path / "rel").resolve()


@needs_make
@pytest.mark.parametrize("how", ["environment", "command line"])
def test_makefile_gives_every_recipe_the_data_folder_as_an_absolute_path(tmp_path, how):
    """`MNISTLIB_DATA=.data make book`: the notebooks, run from chapters/, must read the folder make was given."""
    (tmp_path / "chapters").mkdir()
    probe = ["--eval", 'probe: ; @cd chapters && echo "$$MNISTLIB_DATA"', "probe"]
    args, env = (probe, {"MNISTLIB_DATA": ".data"}) if how == "environment" else ([*probe, "MNISTLIB_DATA=.data"], {})
    done = make(tmp_path, *args, env=env)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == (tmp_path / ".data").resolve()
    done = make(tmp_path, *probe, env={"MNISTLIB_DATA": str(tmp_path / "abs")})  # an absolute one is kept as it is
    assert Path(done.stdout.strip()) == tmp_path / "abs"


@needs_make
@pytest.mark.parametrize(
    "given, expected",
    [
        ("data/mnist dir ü", "data/mnist dir ü"),  # issue 33, 4: three mangled folders, and a stray one created
        ("two  spaces\\back\\slash", "two  spaces\\back\\slash"),
        ("  padded  ", "padded"),  # the ends are trimmed, as mnistlib trims them
        ("a/../b c", "b c"),
        ("$(shell touch x)", "$(shell touch x)"),  # a name, never a command
    ],
)
@pytest.mark.parametrize("how", ["environment", "command line"])
def test_makefile_keeps_a_data_folder_with_spaces_unicode_and_backslashes_whole(tmp_path, given, expected, how):
    probe = ["--eval", 'probe: ; @printf "%s" "$$MNISTLIB_DATA"', "probe"]
    args, env = (probe, {"MNISTLIB_DATA": given}) if how == "environment" else ([*probe, f"MNISTLIB_DATA={given}"], {})
    done = make(tmp_path, *args, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == str(tmp_path / expected)
    home = make(tmp_path, *probe, env={"MNISTLIB_DATA": "~/my data", "HOME": str(tmp_path / "a home")})
    assert home.stdout == str(tmp_path / "a home" / "my data")
    assert os.listdir(tmp_path) == [], "nothing is created"


# ---- 9. verification follows the content ---------------------------------------------------------------------------


@pytest.mark.parametrize("verdict", ["canonical", "payload"])
def test_a_file_rewritten_in_place_with_its_times_restored_is_verified_again(tiny, data, verdict):
    """Other labels, same size, same file, mtime restored: what the process verified before no longer holds."""
    path = data / FOLDER / LABELS
    mtime = 0 if verdict == "canonical" else 1  # another gzip timestamp: the same payload, verified by it
    path.write_bytes(stored(idx_bytes(labels_of(0)), mtime))
    assert datasets.verify_file(path).status == verdict
    assert datasets.load_digits(NAME, "train", data).verified
    before = path.stat()
    forged = stored(idx_bytes(labels_of(1)), mtime)
    with open(path, "r+b") as fh:  # the same file (inode), overwritten
        fh.write(forged)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert datasets.verify_file(path).status == "unverified"
    with pytest.warns(UnverifiedDataWarning, match=LABELS):
        train = datasets.load_digits(NAME, "train", data)
    assert not train.verified and np.array_equal(train.labels, labels_of(1))
    path.write_bytes(PUBLISHED[LABELS])
    assert datasets.verify_file(path).status == "canonical"


# ---- 10. nothing unverified passes silently, nothing corrupt is kept in place or lost -----------------------------


def test_status_exits_nonzero_on_an_unverified_or_corrupt_file(tiny, data, capsys):
    assert datasets.main(["status", NAME, "--data-dir", str(data)]) == 0
    capsys.readouterr()
    path = data / FOLDER / LABELS
    path.write_bytes(PUBLISHED[LABELS][:30])  # cut short
    assert datasets.main(["status", NAME, "--data-dir", str(data)]) == 1
    out, err = capsys.readouterr()
    assert "UNVERIFIED" in out
    assert str(path) in err and f"python -m mnistlib fetch {NAME}" in err and "<name>.corrupt" in err
    assert path.read_bytes() == PUBLISHED[LABELS][:30], "status changes nothing"


def test_fetch_replaces_a_corrupt_copy_and_keeps_the_old_one_aside(tiny, data, capsys):
    path = data / FOLDER / LABELS
    damaged = [PUBLISHED[LABELS][:30], b"not a gzip file", PUBLISHED[LABELS][:-1]]
    for n, bad in enumerate(damaged):
        path.write_bytes(bad)
        assert datasets.main(["fetch", NAME, "--data-dir", str(data)]) == 0, capsys.readouterr().err
        assert path.read_bytes() == PUBLISHED[LABELS] and datasets.verify_file(path).status == "canonical"
        kept = path.with_name(f"{LABELS}.corrupt{f'.{n}' if n else ''}")
        assert kept.read_bytes() == bad, "the corrupt copy is kept, never overwritten"
    assert datasets.main(["status", NAME, "--data-dir", str(data)]) == 0
    # a corrupt copy in the flat layout: the verified one goes to the dataset's folder, the old one aside
    path.unlink()
    (data / LABELS).write_bytes(b"junk")
    assert datasets.main(["fetch", NAME, "--data-dir", str(data)]) == 0
    assert path.read_bytes() == PUBLISHED[LABELS] and (data / f"{LABELS}.corrupt").read_bytes() == b"junk"
    assert not (data / LABELS).exists()


def test_fetch_without_a_verified_copy_leaves_the_corrupt_file_and_fails(offline, data, capsys):
    path = data / FOLDER / LABELS
    path.write_bytes(b"junk")
    assert datasets.main(["fetch", NAME, "--data-dir", str(data)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and "Not replaced: downloading" in err and "Connection" in err
    assert path.read_bytes() == b"junk" and sorted(p.name for p in path.parent.iterdir()) == sorted(PUBLISHED)


def test_fetch_keeps_the_corrupt_file_when_the_mirror_serves_wrong_bytes(tiny, published, data, capsys):
    (published / LABELS).write_bytes(b"wrong bytes")
    path = data / FOLDER / LABELS
    path.write_bytes(b"junk")
    assert datasets.main(["fetch", NAME, "--data-dir", str(data)]) == 1
    assert "md5" in capsys.readouterr().err
    assert path.read_bytes() == b"junk" and sorted(p.name for p in path.parent.iterdir()) == sorted(PUBLISHED)


def test_a_decompressed_file_under_the_gz_name_is_verified_by_its_payload(tiny, data, capsys):
    path = data / FOLDER / LABELS
    path.write_bytes(gzip.decompress(PUBLISHED[LABELS]))
    check = datasets.verify_file(path)
    assert check.status == "payload" and check.trusted
    assert "matches no published file" not in check.describe()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedDataWarning)
        train = datasets.load_digits(NAME, "train", data)
    assert train.verified and np.array_equal(train.labels, labels_of(0))
    assert datasets.main(["status", NAME, "--data-dir", str(data)]) == 0


def test_get_profile_refuses_an_unknown_chapter():
    with pytest.raises(ProfileError, match="unknown chapter '05_cnns'.*05_cnn"):
        get_profile("05_cnns", name="smoke")
    with pytest.raises(ProfileError, match="unknown chapter"):
        get_profile("", name="quick")
    assert get_profile(chapters.CNN, name="smoke").chapter == chapters.CNN


# ---- issue 33, 7: something else where a data file or folder belongs; a full disk; an empty --data-dir -------------


def put_in_the_way(path: Path, kind: str) -> str:
    """Put ``kind`` where the file ``path`` belongs; return the words the error must use for it."""
    path.unlink(missing_ok=True)
    if kind == "folder":
        path.mkdir()
        return "is a folder"
    if kind == "looping link":
        path.symlink_to(path.name)
        return "a symbolic link that loops"
    if kind == "dangling link":
        path.symlink_to("nowhere.gz")
        return "a symbolic link to nothing"
    os.mkfifo(path)  # reading it would block for ever
    return "a named pipe (FIFO)"


@pytest.mark.parametrize("kind", ["folder", "looping link", "dangling link", "FIFO"])
def test_something_else_where_a_data_file_belongs_is_named_not_missing(offline, data, kind, capsys):
    """It was "missing", and fetch then blamed the download (or the mirror) for it."""
    path = data / FOLDER / LABELS
    words = put_in_the_way(path, kind)
    for call in (
        lambda: datasets.locate(LABELS, data),
        lambda: datasets.fetch(LABELS, data),
        lambda: datasets.load_digits(NAME, "train", data),
    ):
        with pytest.raises(datasets.NotADataFileError) as caught:
            call()
        message = str(caught.value)
        assert f"{path} " in message and words in message and "remove or rename it" in message, message
        assert "Not downloaded" not in message and caught.value.missing == (LABELS,)
    for command in ("status", "fetch"):
        assert datasets.main([command, NAME, "--data-dir", str(data)]) == 1
        out, err = capsys.readouterr()
        assert str(path) in err and words in err and "not downloaded yet" not in out + err, (command, err)
    assert os.path.lexists(path), "left as it was"


def test_a_data_folder_that_is_a_file_is_named_as_such(offline, tmp_path, monkeypatch, capsys):
    """`status --data-dir /etc/passwd` said every file was "not downloaded yet"."""
    a_file = tmp_path / "passwd"
    a_file.write_text("root:x:0:0\n")
    for given in (a_file, a_file / "under"):
        with pytest.raises(SystemExit) as caught:
            datasets.main(["status", NAME, "--data-dir", str(given)])
        assert caught.value.code == 2
        err = capsys.readouterr().err
        assert f"names {a_file}, which is a file, not a folder" in err and "not downloaded" not in err, err
        with pytest.raises(NotADirectoryError, match=str(a_file)):
            datasets.data_dir(given)
    monkeypatch.setenv("MNISTLIB_DATA", str(a_file))
    assert datasets.main(["status", NAME]) == 1
    assert f"$MNISTLIB_DATA names {a_file}, which is a file, not a folder" in capsys.readouterr().err


def test_an_empty_data_dir_is_refused_not_taken_as_the_current_folder(offline, monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as caught:
        datasets.main(["status", NAME, "--data-dir="])
    assert caught.value.code == 2 and "--data-dir is empty" in capsys.readouterr().err
    with pytest.raises(ValueError, match="empty"):
        datasets.data_dir("")
    monkeypatch.setenv("MNISTLIB_DATA", "")  # empty: unset, the cache (as documented), not the current folder
    assert datasets.data_dir() != tmp_path.resolve()


def test_a_full_disk_names_the_file_it_was_writing(offline, data, monkeypatch, capsys):
    import pooch

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pooch, "retrieve", no_space)
    target = data / FOLDER / LABELS
    target.unlink()
    with pytest.raises(OSError) as caught:
        datasets.fetch(LABELS, data)  # before: retried on every mirror, then "downloading ... failed"
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert LABELS in str(caught.value) and "free space" in str(caught.value)
    assert datasets.main(["fetch", NAME, "--data-dir", str(data)]) == 1
    assert f"while writing {LABELS}" in capsys.readouterr().err
    monkeypatch.setattr(os, "fsync", no_space)  # a write through a temporary file: the system names none
    written = data / "out.idx.gz"
    with pytest.raises(OSError, match=r"while writing out\.idx\.gz.*free space") as caught:
        idx.write_idx(written, labels_of(0))
    assert caught.value.filename == str(written) and sorted(p.name for p in data.iterdir()) == [FOLDER]


# ---- issue 33, 5: an interrupted `make venv` ------------------------------------------------------------------------


@needs_make
def test_an_incomplete_venv_is_rebuilt_and_anything_else_named_so_is_left_with_what_to_do(tmp_path):
    """An interrupted `make venv` left a .venv that every later command tripped over: "No module named pip"."""
    probe = ["--eval", "probe: ; $(call fresh_venv)", "probe"]
    venv = tmp_path / "my venv"
    subprocess.run(["python3", "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    done = make(tmp_path, *probe, f"VENV={venv}")
    assert done.returncode == 0 and f"{venv} is incomplete" in done.stdout and not venv.exists(), done.stderr
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /nowhere\n")  # cut off before its Python was linked
    assert make(tmp_path, *probe, f"VENV={venv}").returncode == 0 and not venv.exists()
    venv.mkdir()
    (venv / "notes.txt").write_text("mine")
    done = make(tmp_path, *probe, f"VENV={venv}")
    assert done.returncode != 0 and f"{venv} is not a virtual environment" in done.stderr
    assert (venv / "notes.txt").read_text() == "mine", "what is not a venv is never deleted"
    healthy = tmp_path / "healthy"  # its pip answers: kept as it is (a stand-in, never a real environment)
    (healthy / "bin").mkdir(parents=True)
    (healthy / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (healthy / "bin" / "python").write_text('#!/bin/sh\n[ "$1 $2 $3" = "-m pip --version" ]\n')
    (healthy / "bin" / "python").chmod(0o755)
    done = make(tmp_path, *probe, f"VENV={healthy}")
    assert done.returncode == 0 and done.stdout == "" and (healthy / "pyvenv.cfg").is_file()


@needs_make
def test_a_venv_that_cannot_be_created_says_why_and_leaves_nothing(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    done = make(tmp_path, ".venv/.installed", "PYTHON=false")
    assert done.returncode != 0 and "creating .venv with false failed" in done.stderr, done.stderr
    assert "No module named pip" not in done.stderr and not (tmp_path / ".venv").exists()
