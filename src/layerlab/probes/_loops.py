"""The probes' compiled loops: histogram bin counts, per-row sign counts, an activation's moments.

Each has a compiled path (numba, when installed and ``LAYERLAB_JIT`` is not ``0``: the convention of
:mod:`layerlab.kernels`), taken by arrays of at least ``kernels.JIT_MIN`` entries, and a NumPy one
(for :func:`summary`, the caller's). Counts are integers, so both paths give the same counts; sums
agree to the data's precision (``tests/test_probe_stats.py`` checks them against each other and
against the plain NumPy expressions):

- :func:`bin_counts`: the counts of ``bins`` equal bins over [lo, hi]. Entry v (lo ≤ v ≤ hi,
  compared in the data's dtype as NumPy compares an array with a Python float) goes to bin
  ⌊(v − lo)·(bins/(hi − lo))⌋, computed in the data's dtype (``dt``; float64 when hi − lo
  exceeds it), the last bin taking v = hi and any rounding above bins − 1. The NumPy path
  bins a chunk at a time (an index array and ``np.bincount``: four passes); the compiled
  one writes a chunk's int32 bin indices in one vectorised pass and counts them in a second.
- :func:`sign_counts`: (#entries > 0, #entries < 0) of each row of a 2-D array (zeros and
  NaN have no sign), and optionally Σg² and Σ|g| (for the norm and the mean |g|). NumPy: two
  comparisons into a bool work array and two row sums of its bytes (and ``np.dot``, ``np.abs``);
  compiled: one pass over g (each row counted, then summed in float64 while it is in L1).
- :func:`summary` (compiled only): mean, std, the number of non-finite entries and of entries
  below/above two thresholds, in two passes (sums in float64) where NumPy takes six.

numba is imported, and the loops compiled (cached on disk), at the first call that takes the
compiled path — never at ``import layerlab``.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from ..kernels import JIT_MIN, compile_loop, jit_enabled

__all__ = ["bin_counts", "sign_counts", "summary", "CHUNK"]

CHUNK = 1 << 16  # entries binned per pass (bounds the index work arrays: 256 kB compiled, 768 kB NumPy)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _bin_dtype(vals: np.ndarray, lo: float, hi: float) -> np.dtype:
    """The dtype the bin index is computed in: the data's float dtype, float64 for any other data
    or when hi − lo exceeds the data's dtype (v − lo would overflow: float32 near ±3e38)."""
    dt = vals.dtype if vals.dtype.kind == "f" else np.dtype(np.float64)
    if hi - lo > float(np.finfo(dt).max):
        dt = np.dtype(np.float64)
    return dt


def bin_counts(vals: np.ndarray, lo: float, hi: float, bins: int, scratch=None, *, span=None,
               compiled: bool | None = None) -> np.ndarray:
    """Histogram counts (``bins`` intp) of the 1-D array ``vals`` over [lo, hi] (lo < hi, Python
    floats); entries outside [lo, hi] (NaN included) are not counted.

    ``scratch``: a :class:`~layerlab.probes.base.Scratch` for the NumPy path's work arrays (else
    fresh ones). ``span``: (min, max) of ``vals`` when the caller knows them (saves the NumPy path
    two reductions). ``compiled``: None = the compiled loop when available and ``vals`` has at least
    ``kernels.JIT_MIN`` entries; False = the NumPy path; True = the compiled loop (numba needed).
    """
    lo, hi = float(lo), float(hi)
    dt = _bin_dtype(vals, lo, hi)
    lo_t, hi_t, scale = dt.type(lo), dt.type(hi), dt.type(bins / (hi - lo))
    if compiled is None:
        compiled = vals.size >= JIT_MIN and jit_enabled()
    if compiled and vals.dtype == dt and dt in _FLOATS:
        counts = np.zeros((4, bins + 1), np.intp)
        m = min(vals.size, CHUNK)
        idx = scratch.get("i", np.int32, m) if scratch is not None else np.empty(m, np.int32)
        loop, far = _compiled().bin_counts, dt.type(bins + 1)
        for start in range(0, vals.size, CHUNK):  # a chunk at a time: the index array stays small
            v = vals[start:start + CHUNK]
            loop(v, lo_t, hi_t, scale, far, counts, idx[:v.size])
        return counts[:, :bins].sum(axis=0)
    vmin, vmax = span if span is not None else (vals.min(), vals.max()) if vals.size else (lo, hi)
    if vmin < lo or vmax > hi:  # as np.histogram: drop what lies outside
        vals = vals[(vals >= lo) & (vals <= hi)]
    return _bin_counts_numpy(vals, lo_t, scale, bins, dt, scratch)


def _bin_counts_numpy(vals, lo_t, scale, bins, dt, scratch) -> np.ndarray:
    """The index ⌊(v − lo)·scale⌋ in dtype dt (v ≥ lo, so truncation is the floor) goes to intp work
    arrays through int32 (float32 → int32 is a vectorised cast, ~5× faster than float32 → int64;
    np.bincount would turn int32 into a fresh intp copy), a chunk at a time; indices ≥ bins go to
    the last bin."""
    def work(name, dtype, n):
        return scratch.get(name, dtype, n) if scratch is not None else np.empty(n, dtype)

    counts = np.zeros(bins + 1, np.intp)
    for start in range(0, vals.size, CHUNK):
        v = vals[start:start + CHUNK]
        t = np.subtract(v, lo_t, out=work("h", dt, v.size), dtype=dt)
        t *= scale
        idx32 = work("i", np.int32, v.size)
        np.copyto(idx32, t, casting="unsafe")  # float -> int truncates, as astype
        idx = work("i", np.intp, v.size)
        np.copyto(idx, idx32)
        c = np.bincount(idx, minlength=bins + 1)
        counts[:bins] += c[:bins]
        counts[bins] += c[bins:].sum()
    counts[bins - 1] += counts[bins]
    return counts[:bins].copy()


def sign_counts(g: np.ndarray, work: np.ndarray | None = None, *, sums: bool = False,
                compiled: bool | None = None) -> tuple:
    """(pos, neg): the number of entries > 0 and < 0 in each row of the 2-D array ``g``, as intp.

    ``work``: optional bool array of at least ``g.size`` entries for the NumPy path's masks.
    ``sums=True`` adds Σg² and Σ|g| as Python floats: ``(pos, neg, Σg², Σ|g|)``. The compiled path
    accumulates them in float64 in the same pass (vectorised: see ``compile_loop(reassoc=True)``); the
    NumPy path computes them in g's dtype (``np.dot``, ``np.abs(g).sum()``), so the two agree to g's
    precision, not bit for bit. ``compiled``: as in :func:`bin_counts` (the compiled loop takes
    float32/float64 ``g`` only).
    """
    if compiled is None:
        compiled = g.size >= JIT_MIN and jit_enabled()
    if compiled and g.dtype in _FLOATS:
        pos = np.empty(g.shape[0], np.intp)
        neg = np.empty(g.shape[0], np.intp)
        out = np.zeros(2, np.float64)
        _compiled().sign_counts(g, pos, neg, out, sums)
        return (pos, neg, float(out[0]), float(out[1])) if sums else (pos, neg)
    mask = np.empty(g.shape, np.bool_) if work is None else work[:g.size].reshape(g.shape)
    pos = _row_counts(np.greater(g, 0, out=mask))
    neg = _row_counts(np.less(g, 0, out=mask))
    if not sums:
        return pos, neg
    flat = g.reshape(-1)
    return pos, neg, float(np.dot(flat, flat)), float(np.abs(flat).sum())


def summary(flat: np.ndarray, below: float | None, above: float | None):
    """Moments and counts of one activation tensor in two compiled passes, or None when the compiled path
    does not take ``flat`` (numba off, fewer than ``kernels.JIT_MIN`` entries, not a contiguous 1-D
    float32/float64 array): the caller then computes the same statistics with NumPy.

    Returns ``(mean, std, nonfinite, n_below, n_above)``: μ = Σv/n and σ = √(Σ(v − μ)²/n) accumulated in
    float64 (NaN/±inf propagate as in ``ndarray.mean``/``std``), as Python floats; the number of NaN/±inf
    entries; the number of entries < ``below`` and > ``above`` (thresholds compared in the data's dtype,
    as NumPy compares an array with a Python float; None: not counted, 0). The min and max are left to
    NumPy, whose SIMD reductions are faster than a compiled loop that must keep NaN's semantics."""
    if (type(flat) is not np.ndarray or flat.ndim != 1 or flat.size < JIT_MIN or flat.dtype not in _FLOATS
            or not flat.flags.c_contiguous or not jit_enabled()):
        return None
    t = flat.dtype.type
    lo = t(-np.inf if below is None else below)
    hi = t(np.inf if above is None else above)
    counts = np.zeros(2, np.int64)
    loops = _compiled()
    n = flat.size
    total = loops.summary(flat, lo, hi, counts, below is not None or above is not None)
    # a float64 sum of finite float32 entries cannot overflow: only NaN/±inf entries (or a float64 overflow,
    # which the count below tells apart) make it non-finite
    nonfinite = 0 if math.isfinite(total) else n - int(np.count_nonzero(np.isfinite(flat)))
    mean = total / n
    std = math.sqrt(loops.sq_dev(flat, mean) / n)
    return mean, std, nonfinite, int(counts[0]), int(counts[1])


def _row_counts(mask: np.ndarray) -> np.ndarray:
    """The number of True entries of each row of a 2-D bool array, as intp: the bytes summed
    in an int16 (int32 for rows of 2¹⁵ entries or more) accumulator, ~3× faster than
    ``np.count_nonzero(mask, axis=1)``."""
    acc = np.int16 if mask.shape[1] < 2**15 else np.int32
    return mask.view(np.uint8).sum(axis=1, dtype=acc).astype(np.intp)


# -- the compiled loops ------------------------------------------------------------------------------

def _bin_counts_loop(v, lo, hi, scale, far, counts, idx):
    """counts[r, min(⌊(v[i] − lo)·scale⌋, bins − 1)] += 1 for lo ≤ v[i] ≤ hi, and counts[r, bins] += 1
    for the rest (NaN included), r = i mod 4 (``counts``: shape (4, bins + 1); ``far``: bins + 1 in
    v's dtype). First every bin index into ``idx`` (int32; a branch-free loop that vectorises and
    converts only in-range values to int), then the increments, spread over four rows so that a run
    of one bin does not wait on its own previous increment."""
    top = np.int32(counts.shape[1] - 2)
    out = np.int32(counts.shape[1] - 1)
    for i in range(v.size):
        x = v[i]
        inside = (x >= lo) & (x <= hi)
        t = (x - lo) * scale if inside else far
        k = np.int32(t)
        idx[i] = k if k < top else (top if inside else out)
    n = v.size
    m = n - n % 4
    for i in range(0, m, 4):
        counts[0, idx[i]] += 1
        counts[1, idx[i + 1]] += 1
        counts[2, idx[i + 2]] += 1
        counts[3, idx[i + 3]] += 1
    for i in range(m, n):
        counts[0, idx[i]] += 1


def _sign_counts_loop(g, pos, neg, out, sums):
    """pos[i] = #(g[i, j] > 0), neg[i] = #(g[i, j] < 0) over j; and, if ``sums``, out[0] = Σ g[i, j]² and
    out[1] = Σ |g[i, j]| in float64, each row summed right after it is counted (it is in L1 then).
    Compiled with ``reassoc`` (the sums vectorise; the counts are integers)."""
    ss = 0.0
    sa = 0.0
    for i in range(g.shape[0]):
        p = 0
        n = 0
        for j in range(g.shape[1]):
            x = g[i, j]
            p += x > 0
            n += x < 0
        pos[i] = p
        neg[i] = n
        if sums:
            for j in range(g.shape[1]):
                d = np.float64(g[i, j])
                ss += d * d
                sa += abs(d)
    out[0] = ss
    out[1] = sa


def _summary_loop(v, lo, hi, counts, count):
    """Σv in float64 (returned) and, if ``count``, counts = (#(v < lo), #(v > hi)). Compiled with
    ``reassoc``: the sum vectorises (the comparisons cost three times the sum: skipped when not asked)."""
    s = 0.0
    if not count:
        for i in range(v.size):
            s += np.float64(v[i])
        return s
    nlo = 0
    nhi = 0
    for i in range(v.size):
        x = v[i]
        s += np.float64(x)
        nlo += x < lo
        nhi += x > hi
    counts[0] = nlo
    counts[1] = nhi
    return s


def _sq_dev_loop(v, mean):
    """Σ(v − mean)² in float64 (``reassoc``: vectorises)."""
    s = 0.0
    for i in range(v.size):
        d = np.float64(v[i]) - mean
        s += d * d
    return s


_COMPILED = None


def _compiled():
    """The loops above compiled (:func:`~layerlab.kernels.compile_loop`: no fast-math, the same float
    operations as the NumPy path); numba is imported at the first call."""
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = SimpleNamespace(bin_counts=compile_loop(_bin_counts_loop),
                                    sign_counts=compile_loop(_sign_counts_loop, reassoc=True),
                                    summary=compile_loop(_summary_loop, reassoc=True),
                                    sq_dev=compile_loop(_sq_dev_loop, reassoc=True))
    return _COMPILED
