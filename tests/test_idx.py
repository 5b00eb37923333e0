"""IDX reader/writer: round trips, the exact byte layout, and clear errors on bad files."""

import gzip
import os
import struct

import numpy as np
import pytest

from layerlab.data import read_idx, write_idx
from layerlab.data.idx import encode_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (5, 3, 4)])
@pytest.mark.parametrize("compress", [True, False])
def test_round_trip(tmp_path, dtype, shape, compress):
    a = sample(dtype, shape)
    path = write_idx(tmp_path / "a.idx", a, gzip=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative and b.shape == shape
    assert np.array_equal(a, b)
    b[...] = 0  # the result is an ordinary writable array


def test_byte_layout_is_big_endian_idx():
    assert encode_idx(np.array([1, 2, 3], np.uint8)) == bytes.fromhex("0000 0801 00000003 010203")
    a = np.array([[1, -2]], np.int16)
    assert encode_idx(a) == bytes.fromhex("0000 0b02 00000001 00000002") + struct.pack(">hh", 1, -2)
    f = np.array([1.5], np.float32)
    assert encode_idx(f) == bytes.fromhex("0000 0d01 00000001") + struct.pack(">f", 1.5)


def test_reads_a_hand_made_mnist_style_file(tmp_path):
    # the labels file layout from the MNIST page: magic 2049 (0x00000801), count, then bytes
    path = tmp_path / "labels"
    path.write_bytes(struct.pack(">ii", 2049, 4) + bytes([5, 0, 4, 1]))
    assert np.array_equal(read_idx(path), [5, 0, 4, 1])


def test_gzip_told_by_magic_not_name(tmp_path):
    a = sample(np.uint8, (4, 2))
    raw_named_gz = write_idx(tmp_path / "raw.gz", a, gzip=False)
    gz_named_raw = write_idx(tmp_path / "packed.idx", a, gzip=True)
    assert np.array_equal(read_idx(raw_named_gz), a)
    assert np.array_equal(read_idx(gz_named_raw), a)


def test_big_endian_input_array_is_written_correctly(tmp_path):
    a = np.array([1, 256, -3], dtype=">i4")
    assert np.array_equal(read_idx(write_idx(tmp_path / "be", a)), [1, 256, -3])


def test_writes_are_deterministic_and_atomic(tmp_path):
    a = sample(np.uint8, (10, 3))
    p = write_idx(tmp_path / "a.gz", a)
    first = p.read_bytes()
    write_idx(p, a)
    assert p.read_bytes() == first  # gzip mtime is fixed
    with pytest.raises(TypeError, match="dtype int64 has no IDX type code"):
        write_idx(p, a.astype(np.int64))
    assert p.read_bytes() == first  # a failed write leaves the old file
    assert sorted(os.listdir(tmp_path)) == ["a.gz"]  # no temporary files left behind


@pytest.mark.parametrize("array, exc, match", [
    (np.zeros((2, 2), np.int64), TypeError, "int64 has no IDX type code"),
    (np.zeros((2, 2), bool), TypeError, "bool has no IDX type code"),
    (np.uint8(3), ValueError, r"1 to 255 dimensions, got shape \(\)"),
])
def test_write_rejects(tmp_path, array, exc, match):
    with pytest.raises(exc, match=match):
        write_idx(tmp_path / "x", array)


# -- bad files ------------------------------------------------------------------------------------------

@pytest.fixture
def good(tmp_path):
    a = sample(np.uint8, (6, 4, 4))
    return write_idx(tmp_path / "good", a, gzip=False).read_bytes()


@pytest.mark.parametrize("mutate, match", [
    (lambda b: b[:-5], r"truncated: shape \(6, 4, 4\) of uint8 needs 96 bytes of data after the 16-byte header, found 91"),
    (lambda b: b + b"\0\0", r"has trailing bytes: .*needs 96 bytes .* found 98"),
    (lambda b: b[:10], r"truncated header: 3 dimensions need 16 bytes, found 10"),
    (lambda b: b[:3], r"too short for an IDX header: expected at least 4 bytes, found 3"),
    (lambda b: b"\x00\x01" + b[2:], r"not an IDX file: expected magic 00 00 .* found 00 01 08 03"),
    (lambda b: b[:2] + b"\x07" + b[3:], r"not an IDX file: .*found 00 00 07 03"),
    (lambda b: b[:3] + b"\x00", r"0 dimensions"),
])
@pytest.mark.parametrize("compress", [False, True])
def test_corrupt_files_raise_naming_the_file(tmp_path, good, mutate, match, compress):
    blob = mutate(good)
    path = tmp_path / "bad-file.idx"
    path.write_bytes(gzip.compress(blob) if compress else blob)
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_broken_gzip_stream_raises_naming_the_file(tmp_path, damage):
    a = sample(np.uint8, (50, 28, 28))
    path = write_idx(tmp_path / "images.gz", a)
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        blob = blob[: len(blob) // 2]
    else:
        blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="gzip stream is corrupt or truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")
