"""Synthetic sets: shapes, dtypes, seed determinism, and that each is the set it claims to be."""

import numpy as np
import pytest

from layerlab import data

LABELLED = {
    "xor": lambda **kw: data.xor(n=101, **kw),
    "spirals2": lambda **kw: data.spirals(n=101, classes=2, **kw),
    "spirals3": lambda **kw: data.spirals(n=101, classes=3, **kw),
    "blobs": lambda **kw: data.blobs(n=101, centers=4, d=5, std=0.5, **kw),
    "checkerboard": lambda **kw: data.checkerboard(n=101, cells=4, noise=0.05, **kw),
}


@pytest.mark.parametrize("name", list(LABELLED))
def test_labelled_shapes_dtypes_determinism(name):
    make = LABELLED[name]
    x, y = make(seed=3)
    d = 5 if name == "blobs" else 2
    k = {"xor": 2, "spirals2": 2, "spirals3": 3, "blobs": 4, "checkerboard": 2}[name]
    assert x.shape == (101, d) and x.dtype == np.float32
    assert y.shape == (101,) and y.dtype == np.int64
    counts = np.bincount(y, minlength=k)
    assert len(counts) == k and counts.max() - counts.min() <= (2 if name == "xor" else 1)  # balanced
    x2, y2 = make(seed=3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)  # bit-identical
    x3, _ = make(seed=4)
    assert not np.array_equal(x, x3)
    assert not np.array_equal(y, np.sort(y))  # classes interleaved
    x64, y64 = make(seed=3, dtype=np.float64)
    assert x64.dtype == np.float64 and np.array_equal(x64.astype(np.float32), x) and np.array_equal(y64, y)


def test_gaussian_is_the_notes_unit_gaussian():
    x = data.gaussian(1000, 500, seed=0)
    assert x.shape == (1000, 500) and x.dtype == np.float32
    assert abs(float(x.mean())) < 0.01 and abs(float(x.std()) - 1.0) < 0.01
    assert np.array_equal(x, data.gaussian(1000, 500, seed=0))
    assert not np.array_equal(x, data.gaussian(1000, 500, seed=1))
    assert np.array_equal(data.gaussian(3, 4, seed=0, dtype=np.float64).astype(np.float32), data.gaussian(3, 4))
    gen = np.random.default_rng(5)
    assert np.array_equal(data.gaussian(3, 4, seed=gen), data.gaussian(3, 4, seed=5))


def test_xor_labels_are_the_sign_product():
    x, y = data.xor(n=40, noise=0.0, seed=0)
    assert set(map(tuple, x.tolist())) == {(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)}
    assert np.array_equal(y, (x[:, 0] * x[:, 1] < 0).astype(np.int64))
    assert np.array_equal(np.unique(x, axis=0, return_counts=True)[1], [10, 10, 10, 10])
    x, y = data.xor(n=400, noise=0.2, seed=0)
    assert np.mean(y == (x[:, 0] * x[:, 1] < 0)) > 0.99
    w, *_ = np.linalg.lstsq(np.c_[x, np.ones(len(x))], 2.0 * y - 1, rcond=None)  # no line separates XOR
    assert np.mean((np.c_[x, np.ones(len(x))] @ w > 0) == y) < 0.75


def test_spirals_geometry():
    x, y = data.spirals(n=300, classes=3, noise=0.0, seed=0)
    r = np.hypot(x[:, 0], x[:, 1])
    assert r.max() <= 1.0 + 1e-6 and r.min() == 0.0
    # without noise, class k's arm is t = 4(k + r): each point is (r sin t, r cos t), radii evenly spaced
    t = 4.0 * (y + r)
    assert np.allclose(x, np.stack([r * np.sin(t), r * np.cos(t)], axis=1), atol=1e-5)
    for k in range(3):
        assert np.allclose(np.sort(r[y == k]), np.linspace(0, 1, 100), atol=1e-6)
    # a linear classifier cannot separate two spirals
    x, y = data.spirals(n=400, classes=2, noise=0.2, seed=1)
    w, *_ = np.linalg.lstsq(np.c_[x, np.ones(len(x))], 2.0 * y - 1, rcond=None)
    assert np.mean((np.c_[x, np.ones(len(x))] @ w > 0) == y) < 0.8


def test_blobs_with_given_centres():
    centers = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, -5.0]])
    x, y = data.blobs(n=50, centers=centers, std=0.0, seed=0)
    assert x.shape == (50, 3) and np.array_equal(x, centers[y].astype(np.float32))
    x, y = data.blobs(n=4000, centers=centers, std=2.0, seed=0)
    for k in range(2):
        assert np.allclose(x[y == k].mean(0), centers[k], atol=0.15)
        assert np.allclose(x[y == k].std(0), 2.0, atol=0.1)
    x, _ = data.blobs(n=10, centers=3, seed=0)
    assert x.shape == (10, 2)  # d defaults to 2
    x, y = data.blobs(n=300, centers=3, d=5, std=1.0, seed=0)
    means = np.stack([x[y == k].mean(0) for k in range(3)])
    assert np.all(np.abs(means) <= 10.5)  # centres come from [-10, 10]^d


@pytest.mark.parametrize("cells", [2, 3, 4, 7])
def test_checkerboard_geometry(cells):
    x, y = data.checkerboard(n=1001, cells=cells, noise=0.0, seed=2, dtype=np.float64)
    assert np.all(np.abs(x) <= 1.0)
    col = np.floor((x + 1.0) * cells / 2.0).astype(int)  # the square each point is in
    assert np.array_equal(y, col.sum(axis=1) % 2)  # alternating colours, (0, 0) at the corner (−1, −1) is class 0
    assert np.bincount(y).tolist() == [501, 500]
    # every square is used
    counts = np.zeros((cells, cells), dtype=int)
    np.add.at(counts, (col[:, 0], col[:, 1]), 1)
    assert counts.min() > 0 and counts.sum() == 1001
    # the points are spread over the whole board: about uniform within their squares
    frac = (x + 1.0) * cells / 2.0 - col
    assert abs(float(frac.mean()) - 0.5) < 0.03
    # no straight line does well on a board (the best linear fit is near chance for an even board)
    if cells % 2 == 0:
        w, *_ = np.linalg.lstsq(np.c_[x, np.ones(len(x))], 2.0 * y - 1, rcond=None)
        assert np.mean((np.c_[x, np.ones(len(x))] @ w > 0) == y) < 0.6


def test_checkerboard_noise_jitters_points_not_labels():
    x0, y0 = data.checkerboard(n=500, cells=4, noise=0.0, seed=5)
    x1, y1 = data.checkerboard(n=500, cells=4, noise=0.1, seed=5)
    assert np.array_equal(y0, y1)  # same draws before the jitter
    d = (x1 - x0).astype(np.float64)
    assert 0.08 < d.std() < 0.12 and abs(d.mean()) < 0.02
    gen = np.random.default_rng(9)
    assert all(np.array_equal(a, b) for a, b in zip(data.checkerboard(50, seed=gen), data.checkerboard(50, seed=9)))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: data.gaussian(0, 3), ValueError, "gaussian: n must be a positive int, got 0"),
    (lambda: data.xor(10, noise=-1), ValueError, "xor: noise must be a finite number >= 0"),
    (lambda: data.spirals(10, classes=0), ValueError, "spirals: classes must be a positive int"),
    (lambda: data.blobs(10, centers=np.zeros((2, 3)), d=4), ValueError, r"d=4 but centers have shape \(2, 3\)"),
    (lambda: data.blobs(10, centers=np.zeros(3)), ValueError, "centers must be an int or a"),
    (lambda: data.gaussian(3, 3, seed=None), TypeError,
     r"gaussian: seed \(an int or a numpy Generator\) must be a non-negative int, got None"),
    (lambda: data.xor(4, seed=-1), ValueError, r"xor: seed \(an int or a numpy Generator\) must be a non-negative int"),
    (lambda: data.spirals(4.0), TypeError, r"spirals: n must be a positive int, got 4.0 \(float\)"),
    (lambda: data.blobs(10, std=float("nan")), ValueError, "blobs: std must be a finite number >= 0, got nan"),
    (lambda: data.xor(4, dtype=np.int32), TypeError, "xor: dtype must be a float dtype"),
    (lambda: data.checkerboard(10, cells=1), ValueError, "checkerboard: cells must be an int >= 2, got 1"),
    (lambda: data.checkerboard(0), ValueError, "checkerboard: n must be a positive int"),
    (lambda: data.checkerboard(10, noise=-0.1), ValueError, "checkerboard: noise must be a finite number >= 0"),
    (lambda: data.checkerboard(10, dtype=np.int64), TypeError, "checkerboard: dtype must be a float dtype"),
])
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
