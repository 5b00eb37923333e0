"""IDX files (the MNIST / Fashion-MNIST format), gzipped or not.

Layout (all big-endian): two zero bytes, a type code, the number of dimensions
``k``, then ``k`` unsigned 32-bit sizes, then the values in C order. Type codes:
0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
Whether a file is gzipped is told by its first two bytes (1f 8b), not by its name.
"""

from __future__ import annotations

import gzip as _gzip
import math
import zlib
from pathlib import Path

import numpy as np

from ..fileio import atomic_write_bytes

__all__ = ["read_idx", "write_idx", "decode_idx", "encode_idx", "declared_size", "IDX_DTYPES"]

#: IDX type code -> big-endian NumPy dtype
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def read_raw(path, max_size: int | None = None) -> bytes:
    """The decoded IDX bytes of ``path``: gunzipped when the file starts with the gzip magic.

    Args:
        path: the file.
        max_size: the largest decoded size accepted (bytes); by default the size the IDX header
            itself declares, so a gzip bomb is never expanded beyond the array it claims to hold.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the gzip stream is corrupt, truncated or larger than allowed (the message names the file).
    """
    path = Path(path)
    return gunzip_if_gzipped(path.read_bytes(), str(path), max_size)


#: the most bytes of an IDX header: 4 bytes, then at most 255 dimensions of 4 bytes
_MAX_HEADER = 4 + 4 * 255
_CHUNK = 1 << 20
#: how far past its declared size a gzipped IDX payload is decoded before it counts as a bomb
_SLACK = 1 << 12


def declared_size(head: bytes) -> int | None:
    """The total size (header + data, bytes) an IDX header declares; None when ``head`` is not (yet) a
    complete, valid header."""
    if len(head) < 4 or head[:2] != b"\x00\x00" or head[2] not in IDX_DTYPES or head[3] == 0:
        return None
    header = 4 + 4 * head[3]
    if len(head) < header:
        return None
    shape = np.frombuffer(head, dtype=">u4", count=head[3], offset=4)
    return header + math.prod(int(d) for d in shape) * IDX_DTYPES[head[2]].itemsize


def gunzip_if_gzipped(blob: bytes, name: str = "<bytes>", max_size: int | None = None) -> bytes:
    """``blob`` decompressed when it starts with the gzip magic (1f 8b), else ``blob`` itself.

    Decompression is streamed and bounded: it stops with a ValueError as soon as the output exceeds
    ``max_size`` or, when ``max_size`` is None, the size the decoded IDX header declares plus 4 KiB (a
    file whose payload is longer than its header says is malformed anyway). Memory is therefore bounded by the
    array the file claims to hold, never by the compression ratio.
    """
    if blob[:2] != _GZIP_MAGIC:
        if max_size is not None and len(blob) > max_size:
            raise ValueError(f"read_idx: {name}: {len(blob)} bytes, more than the {max_size} expected")
        return blob
    out = bytearray()
    limit = max_size
    data = blob
    try:
        while data:
            d = zlib.decompressobj(wbits=31)  # one gzip member; concatenated members loop
            while True:
                room = _CHUNK if limit is None else min(_CHUNK, limit + 1 - len(out))
                out += d.decompress(data, max(room, 1))
                data = d.unconsumed_tail
                if limit is None and max_size is None:
                    limit = declared_size(bytes(out[:_MAX_HEADER]))
                    if limit is not None:
                        limit += _SLACK  # a few trailing bytes get decode_idx's own, clearer message
                    elif len(out) >= _MAX_HEADER:
                        limit = len(out)  # not an IDX header: decode_idx will say so
                if limit is not None and len(out) > limit:
                    raise ValueError(
                        f"read_idx: {name}: the gzip stream expands beyond {limit} bytes"
                        + (" (the size its IDX header declares)" if max_size is None else " (the expected size)")
                        + "; refusing to decompress further (corrupt file or a decompression bomb)")
                if d.eof or not data:
                    break
            if not d.eof:
                raise EOFError("compressed file ended before the end-of-stream marker was reached")
            data = d.unused_data
            if data[:2] != _GZIP_MAGIC:
                break  # trailing garbage after the last member is ignored, as gzip does
    except (EOFError, zlib.error) as e:
        raise ValueError(f"read_idx: {name}: the gzip stream is corrupt or truncated ({e})") from None
    return bytes(out)


def decode_idx(buf: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into a native-endian array (a copy, writable).

    Args:
        buf: the (already gunzipped) IDX bytes.
        name: how to call the source in error messages (the file name).
    """
    if len(buf) < 4:
        raise ValueError(f"read_idx: {name}: too short for an IDX header: expected at least 4 bytes, "
                         f"found {len(buf)}")
    zero, code, ndim = buf[:2], buf[2], buf[3]
    if zero != b"\x00\x00" or code not in IDX_DTYPES:
        raise ValueError(f"read_idx: {name}: not an IDX file: expected magic 00 00 <type code in "
                         f"{', '.join(f'{c:02x}' for c in IDX_DTYPES)}> <ndim>, found {buf[:4].hex(' ')}")
    if ndim == 0:
        raise ValueError(f"read_idx: {name}: the header declares 0 dimensions; expected at least 1")
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise ValueError(f"read_idx: {name}: truncated header: {ndim} dimensions need {header} bytes, "
                         f"found {len(buf)}")
    shape = tuple(int(d) for d in np.frombuffer(buf, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    found = len(buf) - header
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise ValueError(f"read_idx: {name}: {what}: shape {shape} of {dtype.newbyteorder('=')} needs "
                         f"{expected} bytes of data after the {header}-byte header, found {found}")
    arr = np.frombuffer(buf, dtype=dtype, count=math.prod(shape), offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))  # astype copies: native order, writable


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzipped or not, told by its magic bytes) into a native-endian array.

    The header is checked against the payload: a truncated, overlong or corrupt file
    raises ValueError naming the file and what was expected vs found.

    Args:
        path: the file.

    Returns:
        an array of the file's shape and dtype (uint8 for MNIST images and labels).
    """
    return decode_idx(read_raw(path), str(path))


def encode_idx(array) -> bytes:
    """The IDX bytes (not gzipped) of ``array``."""
    arr = np.asarray(array)
    native = arr.dtype.newbyteorder("=")
    if native not in _CODES:
        raise TypeError(f"write_idx: dtype {arr.dtype} has no IDX type code; use one of uint8, int8, int16, "
                        "int32, float32, float64 (e.g. labels as uint8)")
    if arr.ndim == 0 or arr.ndim > 255:
        raise ValueError(f"write_idx: IDX needs 1 to 255 dimensions, got shape {arr.shape}")
    if any(d >= 2**32 for d in arr.shape):
        raise ValueError(f"write_idx: dimension too large for IDX (uint32): shape {arr.shape}")
    code = _CODES[native]
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes()


def write_idx(path, array, gzip: bool = True) -> Path:
    """Write ``array`` as an IDX file, atomically (a temporary file, then ``os.replace``).

    Args:
        path: destination (its name does not decide the compression; ``gzip`` does).
        array: uint8, int8, int16, int32, float32 or float64, at least 1-D.
        gzip: compress with gzip (mtime 0, so equal arrays give equal files).

    Returns:
        the path written.
    """
    path = Path(path)
    blob = encode_idx(array)
    if gzip:
        blob = _gzip.compress(blob, compresslevel=6, mtime=0)
    atomic_write_bytes(path, blob)
    return path
