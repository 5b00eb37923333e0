"""Hostile files: the safetensors reader and the IDX reader (raw and gzip) give a clear ValueError on anything
malformed, before allocating more than a small multiple of the file's size, and never execute code.

Property-based (hypothesis): random bytes, valid files with bytes flipped, truncated or extended, headers with
absurd shapes; and named cases: a gzip bomb, a header that claims terabytes, real dtypes NumPy cannot hold.
"""

from __future__ import annotations

import gzip
import json
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from layerlab import serialization
from layerlab.data import idx
from layerlab.data import datasets

#: "a small multiple of the file's size": the most a read may allocate, as a multiple of its input plus 1 MiB
#: (the decoder's own chunk); a bomb or a lying header would need orders of magnitude more
ALLOC_FACTOR = 4
ALLOC_FLOOR = 1 << 20


def peak_alloc(fn, *args):
    """(result or exception, peak bytes allocated by Python and NumPy while running ``fn``)."""
    tracemalloc.start()
    try:
        try:
            out = fn(*args)
        except Exception as e:  # noqa: BLE001 — the caller checks which
            out = e
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def write(tmp_path, name, blob):
    p = tmp_path / name
    p.write_bytes(blob)
    return p


def safetensors_bytes(header: dict, payload: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + payload


# -- safetensors ------------------------------------------------------------------------------------------------
@given(st.binary(max_size=300))
def test_random_bytes_are_a_clear_error(tmp_path_factory, blob):
    p = write(tmp_path_factory.mktemp("st"), "x.safetensors", blob)
    out, peak = peak_alloc(serialization.load_arrays, p)
    if isinstance(out, dict):  # a few random strings are valid files: then they load
        return
    assert isinstance(out, ValueError), repr(out)
    assert str(p) in str(out)
    assert peak < ALLOC_FLOOR + ALLOC_FACTOR * len(blob)


@pytest.fixture(scope="module")
def valid_safetensors(tmp_path_factory):
    p = tmp_path_factory.mktemp("valid") / "w.safetensors"
    serialization.save_arrays({"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.ones(3, np.int64)}, p,
                              {"k": "v"})
    return p.read_bytes()


@given(st.data())
def test_mutated_safetensors_load_or_fail_clearly(tmp_path_factory, valid_safetensors, data):
    blob = bytearray(valid_safetensors)
    how = data.draw(st.sampled_from(["flip", "truncate", "extend"]))
    if how == "flip":
        for i in data.draw(st.lists(st.integers(0, len(blob) - 1), min_size=1, max_size=4)):
            blob[i] ^= data.draw(st.integers(1, 255))
    elif how == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    else:
        blob += data.draw(st.binary(min_size=1, max_size=64))
    p = write(tmp_path_factory.mktemp("mut"), "m.safetensors", bytes(blob))
    out, peak = peak_alloc(serialization.load_arrays, p)
    assert isinstance(out, (dict, ValueError)), repr(out)
    if isinstance(out, ValueError):
        assert str(p) in str(out)
    assert peak < ALLOC_FLOOR + ALLOC_FACTOR * len(blob)


@given(st.lists(st.integers(0, 2**40), min_size=1, max_size=4), st.sampled_from(["F32", "F64", "U8", "I64"]))
def test_a_header_claiming_huge_tensors_allocates_nothing(tmp_path_factory, shape, dtype):
    size = int(np.prod(shape, dtype=object)) * {"F32": 4, "F64": 8, "U8": 1, "I64": 8}[dtype]
    blob = safetensors_bytes({"t": {"dtype": dtype, "shape": shape, "data_offsets": [0, size]}}, b"\0" * 16)
    p = write(tmp_path_factory.mktemp("huge"), "h.safetensors", blob)
    out, peak = peak_alloc(serialization.load_arrays, p)
    if size == 16:
        assert isinstance(out, dict)
        return
    assert isinstance(out, ValueError) and str(p) in str(out), repr(out)
    assert peak < ALLOC_FLOOR


def test_a_length_prefix_past_the_end_is_named(tmp_path):
    p = write(tmp_path, "len.safetensors", struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(ValueError, match=r"claims 1000000000000 bytes"):
        serialization.load_arrays(p)
    with pytest.raises(ValueError, match=r"claims 1000000000000 bytes"):
        serialization.load_metadata(p)


@pytest.mark.parametrize("dtype", ["BF16", "F8_E4M3", "F8_E5M2"])
def test_real_but_unsupported_dtypes_are_named(tmp_path, dtype):
    n = 2 if dtype == "BF16" else 1
    p = write(tmp_path, "bf.safetensors", safetensors_bytes({"layer.w": {"dtype": dtype, "shape": [3],
                                                                         "data_offsets": [0, 3 * n]}}, b"\0" * 3 * n))
    with pytest.raises(ValueError, match=rf"'layer.w' has dtype {dtype}.*cannot hold"):
        serialization.load_arrays(p)


def test_a_pickle_is_never_executed(tmp_path):
    """A pickle that would create a file if unpickled: the reader refuses it and the file never appears."""
    import pickle

    marker = tmp_path / "pwned"

    class Boom:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    p = write(tmp_path, "evil.safetensors", pickle.dumps(Boom()))
    with pytest.raises(ValueError):
        serialization.load_arrays(p)
    assert not marker.exists()


# -- IDX, raw and gzip ------------------------------------------------------------------------------------------
def gzip_stream(header: bytes, zeros: int) -> bytes:
    """A gzip of ``header`` followed by ``zeros`` zero bytes, compressed in chunks (never built in memory)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [c.compress(header)]
    chunk = bytes(1 << 20)
    for _ in range(zeros >> 20):
        parts.append(c.compress(chunk))
    parts.append(c.compress(bytes(zeros & ((1 << 20) - 1))))
    parts.append(c.flush())
    return b"".join(parts)


def idx_header(code: int, shape) -> bytes:
    return bytes([0, 0, code, len(shape)]) + np.asarray(shape, dtype=">u4").tobytes()


def test_a_gzip_bomb_is_stopped_at_the_declared_size(tmp_path):
    """256 MiB of zeros behind a header that declares 10 bytes: stopped after ~1 MiB of output."""
    blob = gzip_stream(idx_header(0x08, (10,)), 256 << 20)
    assert len(blob) < 1 << 20
    p = write(tmp_path, "train-images-idx3-ubyte.gz", blob)
    out, peak = peak_alloc(idx.read_idx, p)
    assert isinstance(out, ValueError) and "decompression bomb" in str(out) and str(p) in str(out), repr(out)
    assert peak < 4 * ALLOC_FLOOR


def test_a_dataset_file_is_never_decompressed_beyond_its_known_size(tmp_path):
    """The standard files' sizes are known: a bomb named like one is refused before its checksum is even
    computed on the decoded bytes, whatever its header claims."""
    spec = datasets.FASHION_MNIST
    f = spec.test_labels  # 10,008 bytes decoded
    blob = gzip_stream(idx_header(0x08, (2**31,)), 64 << 20)
    out, peak = peak_alloc(datasets._verify, spec, f, blob, "bomb.gz")
    assert isinstance(out, ValueError) and "expected size" in str(out), repr(out)
    assert peak < 4 * ALLOC_FLOOR


@given(st.binary(max_size=200), st.booleans())
def test_random_idx_bytes_are_a_clear_error(tmp_path_factory, blob, gz):
    raw = gzip.compress(blob, mtime=0) if gz else blob
    p = write(tmp_path_factory.mktemp("idx"), "f.idx", raw)
    out, peak = peak_alloc(idx.read_idx, p)
    assert isinstance(out, (np.ndarray, ValueError)), repr(out)
    if isinstance(out, ValueError):
        assert str(p) in str(out)
    assert peak < ALLOC_FLOOR + ALLOC_FACTOR * max(len(raw), len(blob))


@given(st.sampled_from(sorted(idx.IDX_DTYPES)), st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=5),
       st.binary(max_size=64), st.booleans())
def test_any_header_allocates_at_most_what_the_file_holds(tmp_path_factory, code, shape, payload, gz):
    """A header may claim any shape; the reader compares it with the payload before allocating the array."""
    raw = idx_header(code, shape) + payload
    blob = gzip.compress(raw, mtime=0) if gz else raw
    p = write(tmp_path_factory.mktemp("hdr"), "h.idx", blob)
    out, peak = peak_alloc(idx.read_idx, p)
    assert isinstance(out, (np.ndarray, ValueError)), repr(out)
    assert peak < ALLOC_FLOOR + ALLOC_FACTOR * len(raw)


def test_a_download_larger_than_the_file_can_be_is_refused(monkeypatch, tmp_path):
    """The response is read with a bound: an endless stream is cut off and the mirror reported."""
    reads = []

    class Endless:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, n=-1):
            assert n > 0, "the download must be read with a bound"
            reads.append(n)
            return bytes(n)

    monkeypatch.setattr(datasets, "_urlopen", lambda url, timeout: Endless())
    spec = datasets.FASHION_MNIST
    f = spec.test_labels
    errors = datasets._download_all(spec, [f], tmp_path)
    assert errors and "larger than" in errors[0]
    assert reads and max(reads) < 2 * (np.prod(f.shape) + (1 << 16))
    assert not list(tmp_path.iterdir())


# -- checkpoints ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory):
    """One checkpoint of a tiny trained run (the crash tests' set-up): its step directory."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("tiny_train_hostile", Path(__file__).parent / "scripts" / "tiny_train.py")
    tiny = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny)
    root = tmp_path_factory.mktemp("ck")
    trainer, loader, val = tiny.build(root)
    trainer.fit(loader, epochs=1, val=val)
    from layerlab.checkpoint import latest_checkpoint

    return tiny, latest_checkpoint(root)


@given(st.data())
def test_a_damaged_checkpoint_is_refused_by_name_and_changes_nothing(tmp_path_factory, checkpoint_dir, data):
    """Any file of a checkpoint flipped, truncated or extended: the reader refuses it naming the checkpoint
    (sizes and SHA-256 are checked before anything is parsed), and a Trainer loading it is left as it was."""
    import shutil

    from layerlab.checkpoint import read_checkpoint

    tiny, src = checkpoint_dir
    ck = tmp_path_factory.mktemp("damaged") / src.name
    shutil.copytree(src, ck)
    files = sorted(p for p in ck.iterdir() if p.is_file())
    f = data.draw(st.sampled_from(files))
    blob = bytearray(f.read_bytes())
    how = data.draw(st.sampled_from(["flip", "truncate", "extend"]))
    if how == "flip" and blob:
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] ^= data.draw(st.integers(1, 255))
    elif how == "truncate" and blob:
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    else:
        blob += data.draw(st.binary(min_size=1, max_size=32))
    f.unlink()  # the history file may be a hard link shared with the source: never write through it
    f.write_bytes(bytes(blob))
    out, peak = peak_alloc(read_checkpoint, ck)
    assert isinstance(out, (dict, ValueError)), repr(out)
    size = sum(p.stat().st_size for p in ck.iterdir() if p.is_file())
    assert peak < ALLOC_FLOOR + ALLOC_FACTOR * size
    if isinstance(out, dict):  # only a change the format does not cover (none is expected) may load
        return
    assert str(ck) in str(out)
    trainer, _, _ = tiny.build()
    before = {k: v.copy() for k, v in trainer.model.state_dict().items()}
    with pytest.raises((ValueError, TypeError)):
        trainer.load_checkpoint(ck)
    assert all(np.array_equal(before[k], v) for k, v in trainer.model.state_dict().items())
    assert trainer.step == 0


def test_a_state_json_that_is_not_utf8_is_refused_by_name(tmp_path, checkpoint_dir):
    """The case the fuzzing found: a bare UnicodeDecodeError before the fix."""
    import shutil

    from layerlab.checkpoint import read_checkpoint

    _, src = checkpoint_dir
    ck = tmp_path / src.name
    shutil.copytree(src, ck)
    state = ck / "state.json"
    blob = state.read_bytes()
    state.unlink()
    state.write_bytes(blob + b"\x80")
    with pytest.raises(ValueError, match=r"checkpoint '.*step-\d+' cannot be read: state.json is not UTF-8"):
        read_checkpoint(ck)
