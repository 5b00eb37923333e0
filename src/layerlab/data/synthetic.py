"""Synthetic data sets that need no files: the notes' unit-Gaussian input, XOR, spirals, blobs, a checkerboard.

All are drawn from one explicit ``numpy.random.Generator`` (``default_rng(seed)``),
in float64 and then cast, so the same seed gives bit-identical arrays and the
float32 and float64 versions differ only by rounding. Inputs are float32 unless
``dtype`` says otherwise; labels are int64 class indices 0..K-1, and examples are
in random order (classes interleaved), except for ``gaussian`` which has no labels.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._checks import int_at_least, nonnegative_float, nonnegative_int, positive_int

__all__ = ["gaussian", "xor", "spirals", "blobs", "checkerboard"]


def _rng(seed, who: str) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(nonnegative_int(seed, "seed (an int or a numpy Generator)", who))


def _float_dtype(dtype, who: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"{who}: dtype must be a float dtype, got {dt}")
    return dt


def _balanced_labels(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """n labels in 0..k-1, counts differing by at most one, in random order."""
    return rng.permutation(np.arange(n) % k).astype(np.int64)


def gaussian(n: int = 1000, d: int = 500, seed=0, dtype=np.float32) -> np.ndarray:
    """Unit-Gaussian inputs, ``D = randn(n, d)``: the notes' activation-statistics experiment
    (1000 points in R^500 fed through a deep tanh/ReLU stack, seed 001).

    Returns:
        x of shape (n, d), entries i.i.d. N(0, 1).
    """
    n, d = positive_int(n, "n", "gaussian"), positive_int(d, "d", "gaussian")
    return _rng(seed, "gaussian").standard_normal((n, d)).astype(_float_dtype(dtype, "gaussian"))


def xor(n: int = 200, noise: float = 0.2, seed=0, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """The 2-D XOR problem: points around the four corners (±1, ±1), label 1 when the signs differ.

    x = (2a − 1, 2b − 1) + noise·ε with bits a, b ∈ {0, 1}, ε ~ N(0, I); y = a XOR b.
    The corners get n/4 points each (±1); no linear classifier separates the classes.

    Returns:
        x (n, 2) and y (n,) int64 in {0, 1}.
    """
    n, noise = positive_int(n, "n", "xor"), nonnegative_float(noise, "noise", "xor")
    rng = _rng(seed, "xor")
    corner = rng.permutation(np.arange(n) % 4)
    bits = np.stack([corner & 1, corner >> 1], axis=1)
    x = (2.0 * bits - 1.0) + noise * rng.standard_normal((n, 2))
    y = (bits[:, 0] ^ bits[:, 1]).astype(np.int64)
    return x.astype(_float_dtype(dtype, "xor")), y


def spirals(n: int = 300, classes: int = 2, noise: float = 0.2, seed=0,
            dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spirals, one arm per class (the classic CS231n set; two or three arms).

    Class k's m_k points have radius r evenly spaced in [0, 1] and angle
    t = linspace(4k, 4(k + 1)) + noise·ε, ε ~ N(0, 1); the point is (r·sin t, r·cos t).
    ``n`` points in all: n // classes per class, the first n % classes classes one more.

    Returns:
        x (n, 2) within the unit disc and y (n,) int64 in 0..classes-1, shuffled.
    """
    n, k = positive_int(n, "n", "spirals"), positive_int(classes, "classes", "spirals")
    noise = nonnegative_float(noise, "noise", "spirals")
    rng = _rng(seed, "spirals")
    counts = n // k + (np.arange(k) < n % k)
    y = np.repeat(np.arange(k, dtype=np.int64), counts)
    frac = np.concatenate([np.linspace(0.0, 1.0, m) for m in counts])  # one array per class, not per point
    t = 4.0 * (y + frac) + noise * rng.standard_normal(n)
    x = np.stack([frac * np.sin(t), frac * np.cos(t)], axis=1)
    perm = rng.permutation(n)
    x, y = x[perm], y[perm]
    return x.astype(_float_dtype(dtype, "spirals")), y


def blobs(n: int = 300, centers=3, d: int | None = None, std: float = 1.0, seed=0,
          dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian clusters: x = c_y + std·ε, ε ~ N(0, I_d) (as scikit-learn's make_blobs).

    Args:
        n: number of points in all (balanced across clusters, ±1).
        centers: an int K (centres drawn uniformly from [−10, 10]^d with the same
            Generator) or a (K, d) array of centres.
        d: dimension (default 2; with an array of centres, its width, and d must agree if given).
        std: standard deviation of every cluster.

    Returns:
        x (n, d) and y (n,) int64 in 0..K-1, shuffled.
    """
    n, std = positive_int(n, "n", "blobs"), nonnegative_float(std, "std", "blobs")
    rng = _rng(seed, "blobs")
    if isinstance(centers, (numbers.Integral, np.integer)) and not isinstance(centers, bool):
        k, d = positive_int(centers, "centers", "blobs"), positive_int(2 if d is None else d, "d", "blobs")
        c = rng.uniform(-10.0, 10.0, size=(k, d))
    else:
        c = np.asarray(centers, dtype=np.float64)
        if c.ndim != 2 or len(c) == 0:
            raise ValueError(f"blobs: centers must be an int or a (K, d) array, got shape {c.shape}")
        if d is not None and d != c.shape[1]:
            raise ValueError(f"blobs: d={d} but centers have shape {c.shape} (d={c.shape[1]})")
        k, d = c.shape
    y = _balanced_labels(n, k, rng)
    x = c[y] + std * rng.standard_normal((n, d))
    return x.astype(_float_dtype(dtype, "blobs")), y


def checkerboard(n: int = 400, cells: int = 4, noise: float = 0.0, seed=0,
                 dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """A ``cells × cells`` checkerboard on the square [−1, 1]², two classes in alternating squares.

    Square (i, j) (column i, row j, each of side 2/cells) has class (i + j) mod 2. Each class gets
    n // 2 points (class 0 one more when n is odd); a point of class k is drawn uniformly in a square
    of colour k chosen uniformly among them, then jittered by noise·ε, ε ~ N(0, I) (labels are kept:
    near the lines a noisy point can lie in a square of the other colour).

    Returns:
        x (n, 2) and y (n,) int64 in {0, 1}, shuffled; with ``noise = 0`` every point lies in its square.
    """
    n = positive_int(n, "n", "checkerboard")
    cells = int_at_least(cells, "cells", "checkerboard", 2)
    noise = nonnegative_float(noise, "noise", "checkerboard")
    rng = _rng(seed, "checkerboard")
    y = _balanced_labels(n, 2, rng)
    ii, jj = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
    squares = np.stack([ii.ravel(), jj.ravel()], axis=1)
    colour = squares.sum(axis=1) % 2
    x = np.empty((n, 2))
    for k in (0, 1):
        mine = squares[colour == k]
        idx = np.flatnonzero(y == k)
        pick = mine[rng.integers(len(mine), size=idx.size)]
        x[idx] = -1.0 + (pick + rng.uniform(0.0, 1.0, size=(idx.size, 2))) * (2.0 / cells)
    x += noise * rng.standard_normal((n, 2))
    return x.astype(_float_dtype(dtype, "checkerboard")), y
