import bz2
import gzip
import io
import lzma
import os
import struct
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

from mnistlib import idx
from mnistlib.idx import IdxFormatError, read_idx, read_idx_header, write_idx

NATIVE = [dt.newbyteorder("=") for dt in idx.IDX_TYPES.values()]


def header(code, *dims):
    return struct.pack(">HBB", 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def sample(dtype, shape=(3, 4, 5), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 100).astype(dtype)


@pytest.mark.parametrize("dtype", NATIVE, ids=lambda d: d.name)
@pytest.mark.parametrize("compression", [None, "gzip", "xz", "bz2"])
def test_round_trip_every_type_and_compression(tmp_path, dtype, compression):
    arr = sample(dtype)
    path = write_idx(tmp_path / "a.idx", arr, compression=compression)
    back = read_idx(path)
    assert back.dtype == dtype and back.dtype.isnative
    assert back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)
    assert read_idx_header(path) == (dtype, arr.shape)


@pytest.mark.parametrize("shape", [(7,), (2, 8), (1, 28, 28), (2, 3, 4, 5), (0, 28, 28)])
def test_shapes_round_trip(tmp_path, shape):
    arr = sample(np.int16, shape)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "s.idx.gz", arr)), arr)


def test_on_disk_layout_is_big_endian(tmp_path):
    arr = np.array([1, 256, -2], dtype=np.int32)
    data = write_idx(tmp_path / "x.idx", arr).read_bytes()
    assert data == header(0x0C, 3) + struct.pack(">3i", 1, 256, -2)


def test_compression_is_detected_from_magic_not_name(tmp_path):
    arr = sample(np.float32)
    for compression, opener in [("gzip", gzip.decompress), ("xz", lzma.decompress), ("bz2", bz2.decompress)]:
        path = write_idx(tmp_path / f"misleading-{compression}.txt", arr, compression=compression)
        assert opener(path.read_bytes())[:4] == header(0x0D, 3, 4, 5)[:4]
        np.testing.assert_array_equal(read_idx(path), arr)
    plain = write_idx(tmp_path / "plain.gz", arr, compression=None)  # .gz name, no compression
    np.testing.assert_array_equal(read_idx(plain), arr)


def test_suffix_inference_when_writing(tmp_path):
    arr = sample(np.uint8)
    assert write_idx(tmp_path / "a.idx.gz", arr).read_bytes()[:2] == b"\x1f\x8b"
    assert write_idx(tmp_path / "a.idx.xz", arr).read_bytes()[:6] == b"\xfd7zXZ\x00"
    assert write_idx(tmp_path / "a.idx.bz2", arr).read_bytes()[:3] == b"BZh"
    assert write_idx(tmp_path / "a.idx", arr).read_bytes()[:4] == b"\x00\x00\x08\x03"


def test_gzip_output_is_reproducible(tmp_path, monkeypatch):
    """The same array gives the same bytes whenever it is written: gzip's header holds no time (MTIME 0).

    Both files were written within one second, so a header with the time in it passed too: each write now
    sees another clock (gzip reads time.time() when it is given no mtime)."""
    arr = sample(np.uint8)
    monkeypatch.setattr(time, "time", lambda: 1_000_000_000.0)
    first = write_idx(tmp_path / "a.gz", arr).read_bytes()
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)
    second = write_idx(tmp_path / "b.gz", arr).read_bytes()
    assert gzip.compress(b"", mtime=None)[4:8] != gzip.compress(b"", mtime=0)[4:8], "the clock above reaches gzip"
    assert first == second
    assert first[4:8] == b"\0\0\0\0", "MTIME, bytes 4 to 7 of the gzip header (RFC 1952), is 0"


def test_sources_path_bytes_bytearray_memoryview_and_file_objects(tmp_path):
    arr = sample(np.int16)
    path = write_idx(tmp_path / "a.idx", arr)
    data = path.read_bytes()
    for source in (str(path), path, data, bytearray(data), memoryview(data), io.BytesIO(data)):
        np.testing.assert_array_equal(read_idx(source), arr)
    with open(path, "rb") as fh:
        np.testing.assert_array_equal(read_idx(fh), arr)
    gz = gzip.compress(data)
    np.testing.assert_array_equal(read_idx(io.BytesIO(gz)), arr)
    with pytest.raises(TypeError, match="source must be"):
        read_idx(12345)


def test_zero_copy_for_uncompressed_bytes_like_inputs():
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    data = header(0x08, 2, 3, 4) + arr.tobytes()
    view = read_idx(data)
    assert not view.flags.owndata and not view.flags.writeable  # a view of immutable bytes
    buf = bytearray(data)
    writable = read_idx(buf)
    assert writable.flags.writeable
    writable[0, 0, 0] = 99  # shares memory with the bytearray
    assert buf[len(data) - arr.nbytes] == 99


def test_compressed_and_file_inputs_give_writable_arrays(tmp_path):
    arr = sample(np.uint8)
    for name in ("a.idx", "a.idx.gz"):
        out = read_idx(write_idx(tmp_path / name, arr))
        out[0, 0, 0] = 1  # must not raise


# ---- malformed input: IdxFormatError naming the source and the problem ------------------


def _raises(data, *fragments, source_name=None, tmp_path=None):
    if tmp_path is not None:
        path = tmp_path / (source_name or "bad-file")
        path.write_bytes(data)
        data = path
    with pytest.raises(IdxFormatError) as info:
        read_idx(data)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    if tmp_path is not None:
        assert str(data) in message
    assert isinstance(info.value, ValueError)
    return message


def test_nonzero_leading_bytes(tmp_path):
    _raises(b"\x01\x00\x08\x01" + b"\x00" * 8, "first two bytes must be zero", "0x01", tmp_path=tmp_path)


def test_unknown_type_code(tmp_path):
    _raises(b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "unknown IDX type code 0x07", tmp_path=tmp_path)


def test_zero_dimensions(tmp_path):
    _raises(b"\x00\x00\x08\x00", "zero dimensions", tmp_path=tmp_path)


def test_too_short_and_truncated_header(tmp_path):
    _raises(b"\x00\x00", "too short", tmp_path=tmp_path)
    _raises(b"\x00\x00\x08\x03\x00\x00\x00\x02", "header truncated", "16", tmp_path=tmp_path)


def test_payload_shorter_names_both_counts(tmp_path):
    msg = _raises(header(0x08, 2, 28, 28) + b"\x00" * 1000, "shorter", "1568", "1000", tmp_path=tmp_path)
    assert "(2, 28, 28)" in msg


def test_payload_longer_names_both_counts(tmp_path):
    _raises(header(0x0C, 2) + b"\x00" * 12, "longer", "needs 8 bytes", "found 12", tmp_path=tmp_path)


def test_payload_errors_for_bytes_and_compressed_sources():
    _raises(header(0x08, 10) + b"\x00" * 3, "shorter", "needs 10 bytes", "found 3")
    _raises(gzip.compress(header(0x0E, 2) + b"\x00" * 8), "shorter", "needs 16", "found 8")


@pytest.mark.parametrize(
    "kind,data",
    [
        ("gzip", b"\x1f\x8b\x08\x00" + b"garbage that is not deflate" * 3),
        ("gzip", gzip.compress(header(0x08, 1000) + bytes(1000))[:-30]),  # truncated stream
        ("xz", b"\xfd7zXZ\x00" + b"\x00" * 40),
        ("bz2", b"BZh9" + b"\x12" * 40),
    ],
)
def test_corrupt_compressed_stream(tmp_path, kind, data):
    _raises(data, f"corrupt {kind} stream", tmp_path=tmp_path)


@pytest.mark.parametrize("compress", [lambda b: b, gzip.compress])
def test_huge_header_claim_fails_before_allocating(tmp_path, compress):
    claim = header(0x0E, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF) + b"\x00" * 64
    path = tmp_path / "huge.idx"
    path.write_bytes(compress(claim))
    tracemalloc.start()
    try:
        for source in (path, path.read_bytes()):
            with pytest.raises(IdxFormatError, match="shorter"):
                read_idx(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"peak allocation {peak} bytes for a {len(claim)}-byte input"


@pytest.mark.parametrize("compress", [lambda b: b, gzip.compress], ids=["raw", "gzip"])
@pytest.mark.parametrize("ndim", [65, 255])
def test_more_dimensions_than_numpy_holds(tmp_path, compress, ndim):
    """IDX allows 255 dimensions, numpy 64: a well-formed file beyond that is refused, naming it."""
    data = compress(header(0x08, *[1] * ndim) + b"\x07")
    _raises(data, "numpy cannot hold", f"{ndim} dimensions", source_name="deep.idx", tmp_path=tmp_path)
    _raises(data, "numpy cannot hold")  # bytes


@pytest.mark.parametrize("compress", [lambda b: b, gzip.compress], ids=["raw", "gzip"])
@pytest.mark.parametrize("dims", [(0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)])
def test_element_count_numpy_cannot_allocate(tmp_path, compress, dims):
    """An empty payload matches a zero-size claim, but numpy still refuses such a shape ("array is too big")."""
    data = compress(header(0x0E, *dims))
    _raises(data, "numpy cannot hold", str(dims), source_name="vast.idx", tmp_path=tmp_path)
    _raises(data, "numpy cannot hold")  # bytes


def test_memory_error_becomes_idx_format_error(tmp_path, monkeypatch):
    path = write_idx(tmp_path / "big.idx", np.zeros((4, 4), np.uint8))

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 16 bytes")

    monkeypatch.setattr(idx.np, "empty", no_memory)
    with pytest.raises(IdxFormatError, match="big.idx.*MemoryError: Unable to allocate"):
        read_idx(path)


def test_directory_is_a_clear_error(tmp_path):
    with pytest.raises(IdxFormatError, match="is a directory"):
        read_idx(tmp_path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.idx")


# ---- write_idx -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", [np.zeros(3, np.int64), np.zeros(3, bool), np.zeros(3, np.uint16), np.zeros(3, complex)]
)
def test_write_rejects_dtypes_without_a_type_code(tmp_path, bad):
    with pytest.raises(ValueError, match=f"dtype {bad.dtype} has no IDX type code"):
        write_idx(tmp_path / "x.idx", bad)
    assert not (tmp_path / "x.idx").exists()


def test_write_rejects_scalars_and_unknown_compression(tmp_path):
    with pytest.raises(ValueError, match="scalar"):
        write_idx(tmp_path / "x.idx", np.uint8(3))
    with pytest.raises(ValueError, match="compression must be"):
        write_idx(tmp_path / "x.idx", np.zeros(3, np.uint8), compression="zip")


def test_write_converts_non_contiguous_and_big_endian_input(tmp_path):
    arr = sample(np.float64, (6, 8))[:, ::2]
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "n.idx", arr)), arr)
    be = np.arange(5, dtype=">i2")
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "b.idx", be)), be)


def test_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "keep.idx"
    write_idx(target, np.arange(3, dtype=np.uint8))
    before = target.read_bytes()

    def fail(*args):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_idx(target, np.arange(100, dtype=np.uint8))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.idx"]  # no temporary left behind


# ---- the real files --------------------------------------------------------------------


def test_real_mnist_files(real_file):
    labels = read_idx(real_file("t10k-labels-idx1-ubyte.gz"))
    assert labels.shape == (10_000,) and labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    images = read_idx(real_file("train-images-idx3-ubyte.gz"))
    assert images.shape == (60_000, 28, 28) and images.dtype == np.uint8
    assert read_idx_header(real_file("train-images-idx3-ubyte.gz")) == (np.dtype("u1"), (60_000, 28, 28))


def test_agrees_with_idx2numpy(real_file, tmp_path):
    idx2numpy = pytest.importorskip("idx2numpy")
    raw = gzip.decompress(real_file("t10k-images-idx3-ubyte.gz").read_bytes())
    plain = tmp_path / "t10k-images-idx3-ubyte"
    plain.write_bytes(raw)
    np.testing.assert_array_equal(read_idx(plain), idx2numpy.convert_from_file(str(plain)))


def test_multi_member_gzip_and_trailing_garbage():
    data = header(0x08, 6) + bytes(range(6))
    two_members = gzip.compress(data[:7]) + gzip.compress(data[7:])
    np.testing.assert_array_equal(read_idx(two_members), np.arange(6, dtype=np.uint8))
    np.testing.assert_array_equal(read_idx(gzip.compress(data) + bytes(16)), np.arange(6, dtype=np.uint8))
    with pytest.raises(IdxFormatError, match="corrupt gzip stream"):
        read_idx(gzip.compress(data) + b"trailing garbage")


def test_highly_compressible_payload_within_bounds():
    arr = np.zeros((200, 28, 28), np.uint8)  # compresses far beyond the preallocation ratio
    data = gzip.compress(header(0x08, *arr.shape) + arr.tobytes())
    assert len(data) * 64 < arr.nbytes
    np.testing.assert_array_equal(read_idx(data), arr)


def test_the_idx_reader_imports_with_numpy_alone():
    """``import mnistlib.idx`` loads neither Keras, TensorFlow, pandas, matplotlib nor myst_nb (the package's
    ``__init__`` loads the notebook helpers only when first used)."""
    heavy = ("keras", "tensorflow", "jax", "pandas", "matplotlib", "myst_nb", "pooch")
    code = f"import sys, mnistlib.idx; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
