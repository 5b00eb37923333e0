"""The probes' counting loops: histogram bin counts and per-row sign counts.

Each function has a NumPy path and a compiled one (numba, when installed and ``LAYERLAB_JIT`` is
not ``0``: the convention of :mod:`layerlab.kernels`), taken by arrays of at least
``kernels.JIT_MIN`` entries. Both only count, so the two paths give the same integers
(``tests/test_probe_stats.py`` checks them against each other and against the plain NumPy
expressions):

- :func:`bin_counts`: the counts of ``bins`` equal bins over [lo, hi]. Entry v (lo ≤ v ≤ hi,
  compared in the data's dtype as NumPy compares an array with a Python float) goes to bin
  ⌊(v − lo)·(bins/(hi − lo))⌋, computed in the data's dtype (``dt``; float64 when hi − lo
  exceeds it), the last bin taking v = hi and any rounding above bins − 1. The NumPy path
  bins a chunk at a time (an index array and ``np.bincount``: four passes); the compiled
  one writes a chunk's int32 bin indices in one vectorised pass and counts them in a second.
- :func:`sign_counts`: (#entries > 0, #entries < 0) of each row of a 2-D array (zeros and
  NaN have no sign), and optionally |g| (for the mean |g|). NumPy: two comparisons into a bool
  work array and two row sums of its bytes (and ``np.abs``); compiled: one pass.

numba is imported, and the loops compiled (cached on disk), at the first call that takes the
compiled path — never at ``import layerlab``.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..kernels import JIT_MIN, compile_loop, jit_enabled

__all__ = ["bin_counts", "sign_counts", "CHUNK"]

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


def sign_counts(g: np.ndarray, work: np.ndarray | None = None, *, abs_out: np.ndarray | None = None,
                compiled: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(pos, neg): the number of entries > 0 and < 0 in each row of the 2-D array ``g``, as intp.

    ``work``: optional bool array of at least ``g.size`` entries for the NumPy path's masks.
    ``abs_out``: optional array of g's shape and dtype that receives |g| (``np.abs``), in the same
    pass when compiled. ``compiled``: as in :func:`bin_counts` (the compiled loop takes
    float32/float64 ``g`` only).
    """
    if compiled is None:
        compiled = g.size >= JIT_MIN and jit_enabled()
    if compiled and g.dtype in _FLOATS:
        pos = np.empty(g.shape[0], np.intp)
        neg = np.empty(g.shape[0], np.intp)
        keep = abs_out is not None
        _compiled().sign_counts(g, pos, neg, abs_out if keep else np.empty((1, 1), g.dtype), keep)
        return pos, neg
    if abs_out is not None:
        np.abs(g, out=abs_out)
    mask = np.empty(g.shape, np.bool_) if work is None else work[:g.size].reshape(g.shape)
    pos = _row_counts(np.greater(g, 0, out=mask))
    neg = _row_counts(np.less(g, 0, out=mask))
    return pos, neg


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


def _sign_counts_loop(g, pos, neg, a, keep_abs):
    """pos[i] = #(g[i, j] > 0), neg[i] = #(g[i, j] < 0) over j; and, if ``keep_abs``, a[i, j] = |g[i, j]| in
    the same pass."""
    for i in range(g.shape[0]):
        p = 0
        n = 0
        for j in range(g.shape[1]):
            x = g[i, j]
            p += x > 0
            n += x < 0
            if keep_abs:
                a[i, j] = abs(x)
        pos[i] = p
        neg[i] = n


_COMPILED = None


def _compiled():
    """The loops above compiled (:func:`~layerlab.kernels.compile_loop`: no fast-math, the same float
    operations as the NumPy path); numba is imported at the first call."""
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = SimpleNamespace(bin_counts=compile_loop(_bin_counts_loop),
                                    sign_counts=compile_loop(_sign_counts_loop))
    return _COMPILED
