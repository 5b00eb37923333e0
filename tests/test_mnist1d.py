"""data.mnist1d: MNIST-1D generated locally by the mnist1d package, cached as .npz, global RNG untouched."""

from __future__ import annotations

import importlib
import random

import numpy as np
import pytest

from layerlab import data

M = importlib.import_module("layerlab.data.mnist1d")  # the module (``data.mnist1d`` is the function)
SMALL = {"num_samples": 200}  # 20 per class: generates in a fraction of a second


@pytest.fixture(autouse=True)
def _no_user_cache(tmp_path, monkeypatch):
    """Never touch the real cache: without ``root`` the files go to a temporary $XDG_CACHE_HOME."""
    monkeypatch.delenv("LAYERLAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


@pytest.fixture(scope="module")
def default_set(tmp_path_factory):
    return data.mnist1d(root=tmp_path_factory.mktemp("m1d"))


def test_default_split_shapes_dtypes_and_classes(default_set):
    (x, y), (xt, yt) = default_set
    assert x.shape == (4000, 40) and xt.shape == (1000, 40)
    assert x.dtype == np.float32 and xt.dtype == np.float32
    assert y.dtype == np.int64 and yt.dtype == np.int64 and y.shape == (4000,) and yt.shape == (1000,)
    assert set(np.unique(y)) == set(range(10)) and set(np.unique(yt)) == set(range(10))
    assert np.bincount(y).min() >= 350  # 500 per class over both splits, shuffled
    both = np.concatenate([x, xt]).astype(np.float64)
    assert abs(both.mean()) < 1e-3 and both.std() == pytest.approx(1.0, abs=1e-3)  # standardised over the set


def test_matches_the_package_generator(default_set, tmp_path):
    """The arrays are mnist1d's make_dataset with its default arguments, cast to float32."""
    from mnist1d.data import get_dataset_args, make_dataset
    state = np.random.get_state()
    try:
        ref = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(state)
    (x, y), (xt, yt) = default_set
    np.testing.assert_array_equal(x, ref["x"].astype(np.float32))
    np.testing.assert_array_equal(yt, ref["y_test"])


def test_split_argument_and_return_like_fashion_mnist(tmp_path):
    both = data.mnist1d(root=tmp_path, **SMALL)
    assert isinstance(both, data.TrainTest) and isinstance(both.train, data.Split)
    train, test = data.mnist1d(root=tmp_path, split="train", **SMALL), data.mnist1d(root=tmp_path, split="test", **SMALL)
    assert train.x.shape == (160, 40) and test.x.shape == (40, 40)
    np.testing.assert_array_equal(train.x, both.train.x)
    np.testing.assert_array_equal(test.y, both.test.y)
    with pytest.raises(ValueError, match="split"):
        data.mnist1d(root=tmp_path, split="validation", **SMALL)


def test_same_arguments_identical_arrays_other_seed_different(tmp_path):
    a = data.mnist1d(root=tmp_path / "a", **SMALL)
    b = data.mnist1d(root=tmp_path / "b", **SMALL)   # generated again, in another directory
    for u, v in zip(a.train + a.test, b.train + b.test):
        np.testing.assert_array_equal(u, v)
    c = data.mnist1d(root=tmp_path / "a", seed=7, **SMALL)
    assert not np.array_equal(a.train.x, c.train.x)
    assert len(list((tmp_path / "a").glob("*.npz"))) == 2  # one cache file per argument set


def test_the_cache_is_used_on_a_second_call(tmp_path, monkeypatch):
    first = data.mnist1d(root=tmp_path, **SMALL)
    (path,) = tmp_path.glob("mnist1d-*.npz")
    assert path == M.mnist1d_cache_path(root=tmp_path, **SMALL)

    def boom(args):
        raise AssertionError("generated again although the cache file is good")

    monkeypatch.setattr(M, "_generate", boom)
    second = data.mnist1d(root=tmp_path, **SMALL)
    np.testing.assert_array_equal(first.train.x, second.train.x)
    np.testing.assert_array_equal(first.test.y, second.test.y)
    with pytest.raises(AssertionError, match="generated again"):
        data.mnist1d(root=tmp_path, regenerate=True, **SMALL)   # regenerate=True ignores the cache


def test_default_location_is_the_user_cache_or_layerlab_data(tmp_path, monkeypatch):
    data.mnist1d(**SMALL)
    assert len(list((tmp_path / "xdg" / "layerlab" / "mnist1d").glob("mnist1d-*.npz"))) == 1
    monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "ld"))
    data.mnist1d(**SMALL)
    assert len(list((tmp_path / "ld" / "mnist1d").glob("mnist1d-*.npz"))) == 1


def test_cache_false_writes_nothing(tmp_path):
    data.mnist1d(root=tmp_path, cache=False, **SMALL)
    assert not list(tmp_path.glob("*"))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other_arrays", "wrong_dtype", "wrong_key"])
def test_a_corrupt_cache_file_is_regenerated_not_trusted(tmp_path, damage):
    good = data.mnist1d(root=tmp_path, **SMALL)
    path = M.mnist1d_cache_path(root=tmp_path, **SMALL)
    blob = path.read_bytes()
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif damage == "truncated":
        path.write_bytes(blob[: len(blob) // 2])
    elif damage == "other_arrays":
        np.savez(path, x=arrays["x"])
    elif damage == "wrong_dtype":
        np.savez(path, **{**arrays, "x": arrays["x"].astype(np.float64)})
    else:  # a file of other generation arguments under this name
        np.savez(path, **{**arrays, "key": np.array("{}")})
    again = data.mnist1d(root=tmp_path, **SMALL)
    for u, v in zip(good.train + good.test, again.train + again.test):
        np.testing.assert_array_equal(u, v)
    with np.load(path, allow_pickle=False) as z:  # and the file was replaced by a good one
        np.testing.assert_array_equal(z["x"], good.train.x)
        assert z["x"].dtype == np.float32 and str(z["key"]) == str(arrays["key"])


def test_the_cache_file_needs_no_pickle(tmp_path):
    data.mnist1d(root=tmp_path, **SMALL)
    with np.load(M.mnist1d_cache_path(root=tmp_path, **SMALL), allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


def test_global_rng_states_are_unchanged(tmp_path):
    np.random.seed(12345)
    random.seed(6789)
    np_before, py_before = np.random.get_state(), random.getstate()
    data.mnist1d(root=tmp_path, **SMALL)       # generates (the package calls np.random.seed(42))
    data.mnist1d(root=tmp_path, **SMALL)       # from the cache
    np_after = np.random.get_state()
    assert np_before[0] == np_after[0] and np.array_equal(np_before[1], np_after[1])
    assert np_before[2:] == np_after[2:]
    assert random.getstate() == py_before
    expected = np.random.RandomState()
    expected.set_state(np_before)
    assert np.random.rand() == expected.rand()  # the next global draw is the one it would have been


def test_bad_arguments_are_refused_with_the_allowed_names(tmp_path):
    with pytest.raises(TypeError, match="num_samples"):
        data.mnist1d(root=tmp_path, n_samples=100)
    with pytest.raises(ValueError, match="train_split"):
        data.mnist1d(root=tmp_path, train_split=1.5)
    with pytest.raises(ValueError, match="num_samples"):
        data.mnist1d(root=tmp_path, num_samples=5)
    assert not list(tmp_path.glob("*"))
