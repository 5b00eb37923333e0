"""save / load through safetensors: bit-identical round trips, errors naming the file and the
tensors, atomic writes, metadata, the generic array helpers, and interchange with PyTorch."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import load_file as torch_load_file

import layerlab as ll
from layerlab import fileio, serialization
from layerlab.nn.linear import Linear, Maxout
from layerlab.nn.module import Sequential
from layerlab.nn.normalization import BatchNorm, LayerNorm


def _model(seed=0, dtype=None):
    rng = np.random.default_rng(seed)
    return Sequential(Linear(6, 8, rng=rng, dtype=dtype), BatchNorm(8, dtype=dtype),
                      Maxout(8, 4, pieces=2, rng=rng, dtype=dtype), LayerNorm(4, dtype=dtype))


def _trained(seed=0):
    m = _model(seed)
    rng = np.random.default_rng(seed + 100)
    for _ in range(3):  # move the BatchNorm running statistics away from their initial values
        m(ll.tensor(rng.standard_normal((16, 6)).astype(np.float32)))
    for p in m.parameters():
        p.data += rng.standard_normal(p.shape).astype(p.dtype)
    return m


def test_round_trip_is_bit_identical(tmp_path):
    src = _trained(0)
    path = tmp_path / "model.safetensors"
    assert ll.save(src, path) == path
    dst = _model(seed=1)
    result = ll.load(dst, path)
    assert result == ([], [])
    for (k, a), (k2, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert k == k2 and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    x = ll.tensor(np.random.default_rng(5).standard_normal((7, 6)).astype(np.float32))
    src.eval()
    dst.eval()
    np.testing.assert_array_equal(src(x).data, dst(x).data)
    assert int(dst[1].num_batches_tracked) == 3


def test_file_is_plain_safetensors_with_metadata(tmp_path):
    path = tmp_path / "m.safetensors"
    ll.save(_model(), path, metadata={"note": "seed 0", "config": json.dumps({"width": 8})})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])  # a JSON header, then raw bytes: nothing to unpickle
    assert header["0.weight"]["shape"] == [8, 6] and header["0.weight"]["dtype"] == "F32"
    meta = serialization.load_metadata(path)
    assert meta["note"] == "seed 0" and json.loads(meta["config"]) == {"width": 8}
    assert meta["layerlab.module"] == "Sequential"


def test_pytorch_reads_our_file_and_we_read_pytorchs(tmp_path):
    ours = Sequential(Linear(4, 3), BatchNorm(3), Linear(3, 2))
    ours(ll.tensor(np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    path = tmp_path / "m.safetensors"
    ll.save(ours, path)
    theirs.load_state_dict(torch_load_file(str(path)))
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(ours(ll.tensor(x)).data, theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    from safetensors.torch import save_file as torch_save_file

    torch_path = tmp_path / "t.safetensors"
    torch_save_file({k: v.contiguous() for k, v in theirs.state_dict().items()}, str(torch_path))
    fresh = Sequential(Linear(4, 3), BatchNorm(3), Linear(3, 2)).eval()
    ll.load(fresh, torch_path)
    np.testing.assert_array_equal(fresh(ll.tensor(x)).data, ours(ll.tensor(x)).data)


def test_load_keeps_the_module_dtype(tmp_path):
    path = tmp_path / "m64.safetensors"
    src = _model(dtype=np.float64)
    ll.save(src, path)
    assert serialization.load_arrays(path)["0.weight"].dtype == np.float64
    dst = _model(seed=3)
    ll.load(dst, path)
    assert dst[0].weight.dtype == np.float32
    np.testing.assert_array_equal(dst[0].weight.data, src[0].weight.data.astype(np.float32))


def test_missing_tensor_is_named(tmp_path):
    path = tmp_path / "small.safetensors"
    ll.save(Sequential(Linear(6, 8)), path)
    with pytest.raises(ValueError, match=r"load\('.*small.safetensors'\): .*missing keys .*'1.weight'.*'1.running_mean'"):
        ll.load(Sequential(Linear(6, 8), BatchNorm(8)), path)


def test_extra_tensor_is_named(tmp_path):
    path = tmp_path / "big.safetensors"
    ll.save(Sequential(Linear(6, 8), Linear(8, 2)), path)
    with pytest.raises(ValueError, match=r"load\('.*big.safetensors'\): .*unexpected keys .*'1.weight' \(shape \(2, 8\)\)"):
        ll.load(Sequential(Linear(6, 8)), path)
    missing, unexpected = ll.load(Sequential(Linear(6, 8)), path, strict=False)
    assert missing == [] and sorted(unexpected) == ["1.bias", "1.weight"]


def test_wrong_shape_is_named(tmp_path):
    path = tmp_path / "wide.safetensors"
    ll.save(Sequential(Linear(6, 9)), path)
    with pytest.raises(ValueError, match=r"load\('.*wide.safetensors'\): .*'0.weight': expected shape \(8, 6\), "
                                         r"found \(9, 6\)"):
        ll.load(Sequential(Linear(6, 8)), path)


def test_failed_load_changes_nothing(tmp_path):
    path = tmp_path / "wide.safetensors"
    ll.save(Sequential(Linear(6, 8), Linear(8, 3)), path)
    dst = Sequential(Linear(6, 8), Linear(8, 2))
    before = dst[0].weight.data.copy()
    with pytest.raises(ValueError):
        ll.load(dst, path)
    np.testing.assert_array_equal(dst[0].weight.data, before)


def test_not_a_safetensors_file(tmp_path):
    bad = tmp_path / "junk.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match=r"'.*junk.safetensors' is not a readable safetensors file"):
        ll.load(_model(), bad)
    with pytest.raises(ValueError, match="junk.safetensors"):
        serialization.load_metadata(bad)
    with pytest.raises(FileNotFoundError, match="no such file '.*nowhere.safetensors'"):
        ll.load(_model(), tmp_path / "nowhere.safetensors")


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    ll.save(_model(0), path)
    ll.save(_model(1), path)  # overwriting works
    np.testing.assert_array_equal(serialization.load_arrays(path)["0.weight"], _model(1)[0].weight.data)
    good = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        ll.save(_model(2), path)
    assert path.read_bytes() == good  # the old file is intact
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]  # and no temporary is left behind


def test_save_errors(tmp_path):
    with pytest.raises(TypeError, match="metadata must map str to str .* entry 'epoch': int"):
        ll.save(_model(), tmp_path / "m.safetensors", metadata={"epoch": 3})
    with pytest.raises(FileNotFoundError, match="directory '.*nodir' does not exist"):
        ll.save(_model(), tmp_path / "nodir" / "m.safetensors")


def test_generic_array_helpers(tmp_path):
    arrays = {
        "model.w": np.arange(6, dtype=np.float32).reshape(2, 3),
        "optim.step": np.array(7, dtype=np.int64),
        "mask": np.array([True, False]),
        "strided": np.arange(10.0)[::2],
        "empty": np.zeros((0, 4)),
    }
    path = tmp_path / "arrays.safetensors"
    serialization.save_arrays(arrays, path, {"kind": "test"})
    back = serialization.load_arrays(path)
    assert set(back) == set(arrays)
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape, k
        np.testing.assert_array_equal(back[k], v)
    assert serialization.load_metadata(path) == {"kind": "test"}
    with pytest.raises(TypeError, match="'w' is a list, expected an np.ndarray"):
        serialization.save_arrays({"w": [1, 2]}, path)
    with pytest.raises(TypeError, match="'s' has dtype <U1"):
        serialization.save_arrays({"s": np.array(["a"])}, path)
