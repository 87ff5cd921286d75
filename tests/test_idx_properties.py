"""Property-based tests of `read_idx` (hypothesis): any input parses to what its header says or is refused.

For every byte string: `read_idx` either returns an array whose dtype and shape
are the header's and whose values are the payload's, or raises IdxFormatError;
never another exception, and never an allocation out of proportion to the input.
"""

import bz2
import gzip
import lzma
import struct
import tracemalloc

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnistlib.idx import IDX_TYPES, IdxFormatError, read_idx

COMPRESS = {"raw": lambda b: b, "gzip": lambda b: gzip.compress(b, mtime=0), "xz": lzma.compress, "bz2": bz2.compress}
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse(data: bytes):
    """read_idx's answer: an array, or the IdxFormatError it raised. Any other exception fails the test."""
    try:
        return read_idx(data)
    except IdxFormatError as err:
        assert str(err), "an IdxFormatError must say what is wrong"
        return err


def expected_array(code: int, dims: tuple[int, ...], payload: bytes):
    dtype = IDX_TYPES[code]
    return np.frombuffer(payload, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


@st.composite
def idx_files(draw):
    """Well-formed headers with payloads that may be exact, short or long by a few bytes."""
    code = draw(st.sampled_from(sorted(IDX_TYPES)))
    dims = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    size = int(np.prod(dims)) * IDX_TYPES[code].itemsize
    delta = draw(st.sampled_from([0, 0, 0, -1, 1, -size, 3]))
    payload = draw(st.binary(min_size=max(0, size + delta), max_size=max(0, size + delta)))
    return code, dims, struct.pack(">HBB", 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims) + payload


@FAST
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_idx_format_error(data):
    result = parse(data)
    if isinstance(result, np.ndarray):  # then the header must describe exactly this array
        code, ndim = data[2], data[3]
        dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
        assert result.shape == dims and result.dtype == IDX_TYPES[code].newbyteorder("=")


@FAST
@given(idx_files(), st.sampled_from(sorted(COMPRESS)))
def test_well_formed_headers_give_the_payload_or_name_the_mismatch(file, compression):
    code, dims, data = file
    size = int(np.prod(dims)) * IDX_TYPES[code].itemsize
    payload = data[4 + 4 * len(dims) :]
    result = parse(COMPRESS[compression](data))
    if len(payload) == size:
        assert isinstance(result, np.ndarray), result
        np.testing.assert_array_equal(result, expected_array(code, dims, payload))
    else:
        assert isinstance(result, IdxFormatError)
        assert ("shorter" if len(payload) < size else "longer") in str(result)


@FAST
@given(idx_files(), st.integers(0, 40), st.binary(min_size=1, max_size=4))
def test_corrupted_bytes_never_escape_as_other_errors(file, position, junk):
    _, _, data = file
    for compression in ("raw", "gzip"):
        blob = bytearray(COMPRESS[compression](data))
        at = min(position, len(blob) - 1)
        blob[at : at + len(junk)] = junk
        parse(bytes(blob))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 2**32 - 1), min_size=1, max_size=3),
    st.sampled_from(sorted(IDX_TYPES)),
    st.integers(0, 256),
    st.sampled_from(["raw", "gzip"]),
)
def test_allocation_stays_proportional_to_the_input(dims, code, n_payload, compression):
    """A header may claim terabytes; what read_idx allocates is bounded by what it was given."""
    data = COMPRESS[compression](
        struct.pack(">HBB", 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims) + bytes(n_payload)
    )
    tracemalloc.start()
    try:
        parse(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * len(data) + 256 * 1024, f"peak {peak} bytes for a {len(data)}-byte input claiming {dims}"


@FAST
@given(
    st.lists(st.sampled_from([0, 1, 2, 2**32 - 1]), min_size=1, max_size=255),
    st.sampled_from(sorted(IDX_TYPES)),
    st.integers(0, 16),
    st.sampled_from(["raw", "gzip"]),
)
def test_any_rank_and_extreme_sizes_parse_or_raise_idx_format_error(dims, code, n_payload, compression):
    """IDX allows 255 dimensions of up to 2**32-1; numpy holds 64 and less than 2**63 bytes: beyond is refused."""
    data = COMPRESS[compression](
        struct.pack(">HBB", 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims) + bytes(n_payload)
    )
    result = parse(data)
    if isinstance(result, np.ndarray):
        assert result.shape == tuple(dims)
