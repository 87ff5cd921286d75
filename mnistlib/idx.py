"""Reading and writing IDX files, the format MNIST and QMNIST are published in.

Introduced in chapter 01 (``01_idx_format``), where the header is first decoded by
hand. An IDX file is a 4-byte magic number, one big-endian ``uint32`` per
dimension, then the elements in row-major order, big-endian::

    byte 0-1   0x00 0x00          always zero
    byte 2     type code          0x08 uint8, 0x09 int8, 0x0B int16,
                                  0x0C int32, 0x0D float32, 0x0E float64
    byte 3     number of dims n   1 for labels, 2 for QMNIST's extended
                                  labels, 3 for images
    4 .. 4+4n  dimension sizes    big-endian uint32 each
    4+4n ..    payload            prod(dims) * itemsize bytes

The published files are compressed (gzip for MNIST and QMNIST, xz for the
NIST extension). :func:`read_idx` detects the compression from the first
bytes of the data, never from the file name.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .files import atomic_write_bytes

__all__ = ["IdxFormatError", "IDX_TYPES", "read_idx", "read_idx_header", "write_idx", "sniff_compression", "decompress"]

#: IDX type code -> big-endian numpy dtype, as stored on disk.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_FOR_KIND = {(dt.kind, dt.itemsize): code for code, dt in IDX_TYPES.items()}

# Magic bytes of the compressed containers read_idx understands.
_COMPRESSION_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bz2"),
)
_SUFFIX_COMPRESSION = {".gz": "gzip", ".xz": "xz", ".bz2": "bz2"}

Source = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO


class IdxFormatError(ValueError):
    """Raised when data is not a well-formed IDX file; the message names the source.

    Introduced in chapter 01 (``01_idx_format``).
    """


def sniff_compression(head: bytes) -> str | None:
    """Name the compression of a byte string from its magic bytes: gzip, xz, bz2 or None."""
    for magic, name in _COMPRESSION_MAGIC:
        if head[: len(magic)] == magic:
            return name
    return None


def decompress(raw: bytes | memoryview, kind: str | None, name: str, limit: int | None = None) -> bytes | bytearray:
    """``raw`` decompressed as ``kind`` (``"gzip"``, ``"xz"``, ``"bz2"``; ``None``: stored as it is).

    The stream is decompressed piece by piece: with ``limit``, a stream that
    grows past ``limit`` bytes stops there, as an :class:`IdxFormatError`
    naming ``name``, so a small file that expands to gigabytes (a
    decompression bomb) costs at most ``limit`` bytes and one piece. A damaged
    stream is an :class:`IdxFormatError` naming ``name`` too.
    """
    if kind is None:
        if limit is not None and len(raw) > limit:
            raise IdxFormatError(f"{name}: {len(raw):,} bytes, more than the {limit:,} it may hold")
        return bytes(raw)
    out = bytearray()
    for piece in _decompressed_chunks(raw, kind, name):
        if limit is not None and len(out) + len(piece) > limit:
            raise IdxFormatError(
                f"{name}: the {kind} stream decompresses to more than the {limit:,} bytes it may hold; "
                "decompression stopped there (a damaged or wrong file: replace it)"
            )
        out += piece
    return out


def _parse_header(head: bytes | memoryview, name: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """Return (disk dtype, shape, header length) from the first bytes of an IDX payload."""
    if len(head) < 4:
        raise IdxFormatError(f"{name}: {len(head)} bytes is too short for an IDX header (needs at least 4)")
    b0, b1, code, ndim = head[0], head[1], head[2], head[3]
    if b0 != 0 or b1 != 0:
        raise IdxFormatError(f"{name}: not an IDX file: the first two bytes must be zero, found 0x{b0:02x} 0x{b1:02x}")
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise IdxFormatError(f"{name}: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise IdxFormatError(f"{name}: the header declares zero dimensions")
    header_len = 4 + 4 * ndim
    if len(head) < header_len:
        raise IdxFormatError(
            f"{name}: header truncated: {ndim} dimensions need {header_len} header bytes, only {len(head)} present"
        )
    shape = struct.unpack(f">{ndim}I", bytes(head[4:header_len]))
    return IDX_TYPES[code], shape, header_len


def _expected_payload(dtype: np.dtype, shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d  # Python ints: no overflow for absurd headers
    return n * dtype.itemsize


def _check_payload(name: str, expected: int, actual: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if actual != expected:
        word = "shorter" if actual < expected else "longer"
        raise IdxFormatError(
            f"{name}: payload is {word} than the header says: header {shape} of "
            f"{dtype.name} needs {expected} bytes, found {actual}"
        )


def _check_shape(name: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    """Refuse, as an IdxFormatError, a shape numpy cannot hold: IDX allows 255 dimensions and 2**32-1 per axis.

    The probe is a zero-stride view of one element, so nothing of the claimed size is allocated.
    """
    try:
        np.ndarray(shape, dtype, buffer=bytes(dtype.itemsize), strides=(0,) * len(shape))
    except (ValueError, OverflowError, MemoryError) as exc:
        what = f"{len(shape)} dimensions" if len(shape) > 8 else f"shape {shape}"
        raise IdxFormatError(
            f"{name}: numpy cannot hold the array the header declares ({what} of {dtype.name}): {exc}"
        ) from exc


def _to_native(arr: np.ndarray) -> np.ndarray:
    native = arr.dtype.newbyteorder("=")
    return arr if arr.dtype == native else arr.astype(native)


def _source_name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    return getattr(source, "name", None) or f"<{type(source).__name__}>"


def read_idx_header(source: Source) -> tuple[np.dtype, tuple[int, ...]]:
    """Return the native dtype and shape an IDX source declares, without reading its payload.

    Compressed sources are decompressed only as far as the header; a file
    object is left where it was.
    """
    name = _source_name(source)
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            return _header_from_fh(fh, name)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _header_from_fh(io.BytesIO(bytes(memoryview(source)[: 1 << 16])), name)
    start = source.tell()
    try:
        return _header_from_fh(source, name)
    finally:
        source.seek(start)


def _header_from_fh(fh, name: str) -> tuple[np.dtype, tuple[int, ...]]:
    start = fh.tell()
    kind = sniff_compression(fh.read(6))
    fh.seek(start)
    if kind is not None:
        fh = {"gzip": gzip.open, "xz": lzma.open, "bz2": bz2.open}[kind](fh, "rb")
    try:
        head = fh.read(4 + 4 * 255)
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise IdxFormatError(f"{name}: corrupt {kind} stream ({exc})") from exc
    dtype, shape, _ = _parse_header(head, name)
    return dtype.newbyteorder("="), shape


def read_idx(source: Source, *, limit: int | None = None) -> np.ndarray:
    """Read an IDX file into a native-endian numpy array of the header's shape.

    ``source`` is a path, a bytes-like object or a binary file object. gzip, xz
    and bz2 compression are detected from the magic bytes, not the name.

    The array shares memory with the input where that is possible: for
    uncompressed ``uint8``/``int8`` data given as ``bytes`` the result is a
    read-only view (call ``.copy()`` to modify it); a ``bytearray`` gives a
    writable view. Files are read once into an exactly sized buffer. Multi-byte
    types are byte-swapped from big-endian to the machine's order.

    ``limit``: the most bytes the file may hold, header included, once
    decompressed (say, the size registered for a published file). A header
    that declares more is refused as soon as it is read, before anything past
    it is decompressed; without ``limit`` the header alone bounds the stream.

    Raises :class:`IdxFormatError` naming the source and what is wrong, also
    when numpy cannot hold or allocate the array the header declares.
    Introduced in chapter 01 (``01_idx_format``).
    """
    name = _source_name(source)
    try:
        return _read_source(source, name, limit)
    except IdxFormatError:
        raise
    except (ValueError, OverflowError, MemoryError) as exc:
        raise IdxFormatError(f"{name}: cannot read it as an IDX array ({type(exc).__name__}: {exc})") from exc


def _read_source(source: Source, name: str, limit: int | None = None) -> np.ndarray:
    if isinstance(source, (str, os.PathLike)):
        try:
            fh = open(source, "rb")
        except IsADirectoryError as exc:
            raise IdxFormatError(f"{name}: is a directory, not an IDX file") from exc
        with fh:
            return _read_file(fh, name, limit)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _read_buffer(source, name, limit)
    if hasattr(source, "read"):
        try:
            source.fileno()
            seekable = source.seekable() and isinstance(source, (io.BufferedReader, io.FileIO))
        except (OSError, AttributeError, io.UnsupportedOperation):
            seekable = False
        if seekable:
            return _read_file(source, name, limit)
        return _read_buffer(source.read(), name, limit)
    raise TypeError(f"read_idx: source must be a path, bytes-like or binary file object, not {type(source).__name__}")


def _read_buffer(data: bytes | bytearray | memoryview, name: str, limit: int | None = None) -> np.ndarray:
    kind = sniff_compression(bytes(memoryview(data)[:6]))
    if kind is not None:
        return _read_compressed(data, kind, name, limit)
    return _array_from_buffer(data, name, limit)


def _check_limit(name: str, header_len: int, expected: int, shape, dtype: np.dtype, limit: int | None) -> None:
    """Refuse a header that declares more bytes than the file may hold, before its payload is read."""
    if limit is not None and header_len + expected > limit:
        raise IdxFormatError(
            f"{name}: the header declares {shape} of {dtype.name}, {header_len + expected:,} bytes, more than the "
            f"{limit:,} bytes this file may hold; nothing past the header was read (a damaged or wrong file)"
        )


_CHUNK = 1 << 20  # compressed bytes fed to the decompressor at a time, and the most it gives back at once
_MAX_PREALLOC_RATIO = 64  # preallocate the output only for claims this close to the input size


def _decompressed_chunks(data, kind: str, name: str):
    """Yield the decompressed stream in pieces of at most ``_CHUNK`` bytes; multi-member streams included.

    Output is bounded at every step (``max_length``), never only the input: one
    megabyte of a decompression bomb would otherwise expand to a gigabyte at once.
    """
    make = {"gzip": lambda: zlib.decompressobj(31), "xz": lzma.LZMADecompressor, "bz2": bz2.BZ2Decompressor}[kind]
    view = memoryview(data).cast("B")
    pos = 0

    def more():
        nonlocal pos
        if pos >= len(view):
            raise EOFError("the compressed stream ended before its end-of-stream marker")
        chunk = view[pos : pos + _CHUNK]
        pos += len(chunk)
        return chunk

    try:
        while True:
            dec = make()
            out = b"x"
            while not dec.eof:
                if kind == "gzip":  # zlib keeps what max_length left unread in unconsumed_tail
                    out = dec.decompress(dec.unconsumed_tail or more(), _CHUNK)
                else:  # lzma and bz2 keep it inside, and say whether they need more input
                    out = dec.decompress(more() if dec.needs_input or not out else b"", _CHUNK)
                if out:
                    yield out
            pos -= len(dec.unused_data)  # the start of the next member, if any
            if not view[pos:].tobytes().strip(b"\0"):
                return  # done; trailing zero padding is tolerated, as gzip does
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
        raise IdxFormatError(f"{name}: corrupt {kind} stream ({exc})") from exc


def _read_compressed(data, kind: str, name: str, limit: int | None = None) -> np.ndarray:
    """Decompress straight into the output array: no second copy, and a writable result."""
    chunks = _decompressed_chunks(data, kind, name)
    head = b""
    for piece in chunks:
        head += piece
        if len(head) >= 4 and len(head) >= 4 + 4 * head[3]:
            break
    dtype, shape, header_len = _parse_header(head, name)
    expected = _expected_payload(dtype, shape)
    _check_limit(name, header_len, expected, shape, dtype, limit)
    first = memoryview(head)[header_len:]
    if expected > _MAX_PREALLOC_RATIO * len(data) + (1 << 16):
        # An unusually large claim: size the output by the data actually present.
        pieces, total = [], 0
        for piece in _chain(first, chunks):
            total += len(piece)
            if total > expected:
                _too_long(name, expected, total, shape, dtype)
            pieces.append(bytes(piece))
        _check_payload(name, expected, total, shape, dtype)
        _check_shape(name, dtype, shape)
        return _to_native(np.frombuffer(bytearray(b"".join(pieces)), dtype=dtype).reshape(shape))
    out = np.empty(expected, dtype=np.uint8)
    buf = memoryview(out)
    pos = 0
    for piece in _chain(first, chunks):
        end = pos + len(piece)
        if end > expected:
            _too_long(name, expected, end, shape, dtype)
        buf[pos:end] = piece
        pos = end
    _check_payload(name, expected, pos, shape, dtype)
    _check_shape(name, dtype, shape)
    return _to_native(out.view(dtype).reshape(shape))


def _too_long(name: str, expected: int, seen: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """A stream that grows past what its header declares stops at once: nothing past it is decompressed."""
    raise IdxFormatError(
        f"{name}: payload is longer than the header says: header {shape} of {dtype.name} needs {expected} bytes, "
        f"found more (at least {seen}); decompression stopped there"
    )


def _chain(first, rest):
    if len(first):
        yield first
    yield from rest


def _array_from_buffer(data, name: str, limit: int | None = None) -> np.ndarray:
    view = memoryview(data).cast("B")
    dtype, shape, header_len = _parse_header(view[: 4 + 4 * 255], name)
    expected = _expected_payload(dtype, shape)
    _check_limit(name, header_len, expected, shape, dtype, limit)
    _check_payload(name, expected, len(view) - header_len, shape, dtype)
    _check_shape(name, dtype, shape)
    arr = np.frombuffer(view, dtype=dtype, offset=header_len).reshape(shape)
    return _to_native(arr)


def _read_file(fh, name: str, limit: int | None = None) -> np.ndarray:
    start = fh.tell()
    head = fh.read(4 + 4 * 255)
    kind = sniff_compression(head)
    if kind is not None:
        fh.seek(start)
        return _read_buffer(fh.read(), name, limit)
    dtype, shape, header_len = _parse_header(head, name)
    expected = _expected_payload(dtype, shape)
    _check_limit(name, header_len, expected, shape, dtype, limit)
    size = os.fstat(fh.fileno()).st_size - start
    # Compare with the file's size before allocating anything the header claims.
    _check_payload(name, expected, size - header_len, shape, dtype)
    _check_shape(name, dtype, shape)
    out = np.empty(shape, dtype=dtype)
    fh.seek(start + header_len)
    got = fh.readinto(memoryview(out).cast("B")) if expected else 0
    if got != expected:  # the file changed under us
        _check_payload(name, expected, got, shape, dtype)
    return _to_native(out)


def write_idx(path: str | os.PathLike, array, compression: str | None = "infer") -> Path:
    """Write ``array`` as an IDX file at ``path``, atomically; return the path.

    The element type must be one IDX knows (uint8, int8, int16, int32, float32,
    float64). ``compression`` is ``"gzip"``, ``"xz"``, ``"bz2"``, ``None`` or
    ``"infer"`` (the default: from the suffix ``.gz``, ``.xz`` or ``.bz2``).
    gzip output has a zero timestamp, so equal arrays give equal files. The
    file appears complete or not at all (written to a temporary file, then
    renamed). Introduced in chapter 01 (``01_idx_format``).
    """
    path = Path(path)
    arr = np.asarray(array)
    if arr.ndim == 0:
        raise ValueError(f"write_idx({path}): array must have at least one dimension, got a scalar")
    if arr.ndim > 255:
        raise ValueError(f"write_idx({path}): IDX allows at most 255 dimensions, array has {arr.ndim}")
    if any(d > 0xFFFFFFFF for d in arr.shape):
        raise ValueError(f"write_idx({path}): dimension sizes must fit in uint32, shape is {arr.shape}")
    code = _CODE_FOR_KIND.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None:
        raise ValueError(
            f"write_idx({path}): dtype {arr.dtype} has no IDX type code "
            "(use uint8, int8, int16, int32, float32 or float64)"
        )
    if compression == "infer":
        compression = _SUFFIX_COMPRESSION.get(path.suffix.lower())
    if compression not in (None, "gzip", "xz", "bz2"):
        raise ValueError(
            f"write_idx({path}): compression must be 'gzip', 'xz', 'bz2', None or 'infer', not {compression!r}"
        )
    header = struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = np.ascontiguousarray(arr, dtype=IDX_TYPES[code]).tobytes()
    data = header + payload
    if compression == "gzip":
        data = gzip.compress(data, compresslevel=6, mtime=0)
    elif compression == "xz":
        data = lzma.compress(data)
    elif compression == "bz2":
        data = bz2.compress(data)
    atomic_write_bytes(path, data)
    return path
