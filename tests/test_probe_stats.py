"""The probes' fast statistics equal the plain NumPy computation: counts integer for integer, the
moments bit for bit on NumPy's path and to float64 rounding on the compiled one.

ActivationStats and GradientStats compute their statistics with reused work arrays, one
single-kth partition per order statistic, and counting loops (histogram bins, per-row signs)
that are compiled when numba is on and a chunked bincount / bool masks otherwise (see
probes/activations.py, probes/gradients.py, probes/_loops.py). These tests check every reported
number against the obvious NumPy expression on random float32/float64 inputs of several shapes,
and on the edge cases: a constant tensor, NaN/Inf entries, one entry, sizes around the
histogram's chunk; and the compiled counting loops against the NumPy path, integer for integer.
"""

import importlib.util
import math

import numpy as np
import pytest

import layerlab as ll
from layerlab import nn
from layerlab.probes import ActivationStats, GradientStats, sign_agreement
from layerlab.probes._loops import CHUNK as _CHUNK
from layerlab.kernels import JIT_MIN, jit_enabled
from layerlab.probes._loops import bin_counts, sign_counts, summary
from layerlab.probes.activations import _percentiles
from layerlab.probes.base import Scratch

SHAPES = [(1, 1), (1, 7), (5, 1), (3, 5), (17, 33), (64, 130), (2, 3, 4, 5), (256, 500)]
QS = (0.15, 0.50, 0.85)


def same(a, b) -> bool:
    """Equal as floats, NaN equal to NaN."""
    a, b = float(a), float(b)
    return a == b or (math.isnan(a) and math.isnan(b))


def observe(x, act=None, seen=None, **kw):
    """Record one forward pass of ``act`` (default: Identity, so 'post' is x itself); the module's
    input and output go into the dict ``seen`` ("pre", "post") when one is given."""
    model = nn.Sequential(act if act is not None else nn.Identity())
    if seen is not None:
        model[0].register_forward_hook(lambda m, i, o: seen.update(pre=i[0].data.copy(), post=o.data.copy()))
    with ActivationStats(model, layers=["0"], **kw) as probe:
        model(ll.tensor(x))
    return probe


def ref_percentiles(v, qs=QS):
    """The probe's interpolation rule on a full sort: v₍ᵢ₎ + (p − i)(v₍ⱼ₎ − v₍ᵢ₎), p = q(n − 1)."""
    s = np.sort(v)
    n = s.size
    out = []
    for q in qs:
        p = q * (n - 1)
        i = int(p)
        j = min(i + 1, n - 1)
        out.append(float(s[i]) + (p - i) * (float(s[j]) - float(s[i])))
    return out


def ref_histogram(vals, lo, hi, bins):
    """The documented binning rule, computed plainly: ⌊(v − lo)·bins/(hi − lo)⌋ in the data's
    dtype, v = hi in the last bin, values outside [lo, hi] dropped."""
    vals = vals[(vals >= lo) & (vals <= hi)]
    dt = vals.dtype
    t = (vals - dt.type(lo)) * dt.type(bins / (hi - lo))
    return np.bincount(np.clip(t.astype(np.int64), 0, bins - 1), minlength=bins)


def random_input(shape, dtype, kind, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    flat = x.reshape(-1)
    if kind == "constant":
        x[...] = dtype(0.25)
    elif kind == "nan":
        flat[rng.integers(0, flat.size, max(1, flat.size // 7))] = np.nan
    elif kind == "inf":
        flat[0] = np.inf
        flat[-1] = -np.inf
    elif kind == "ties":
        x = np.round(x).astype(dtype)
    return x


# -- moments, min/max, percentiles, saturation -----------------------------------------------------

@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NaN/Inf in a sum: as ndarray.mean
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["normal", "constant", "nan", "inf", "ties"])
def test_every_activation_statistic_equals_numpy(dtype, kind):
    for k, shape in enumerate(SHAPES):
        x = random_input(shape, dtype, kind, seed=k)
        seen = {}
        got = observe(x, nn.Tanh(), seen, sample_size=x.size).last()["0"]  # percentiles of every entry
        for which, a in seen.items():
            g = got[which]
            flat = a.reshape(-1)
            finite = flat[np.isfinite(flat)]
            ctx = f"{which} {kind} {shape} {np.dtype(dtype).name}"
            if flat.size < JIT_MIN or not jit_enabled():
                # the moments are ndarray.mean / ndarray.std bit for bit (NaN/Inf included, as NumPy)
                assert same(g["mean"], a.mean()) and same(g["std"], a.std()), ctx
            else:  # compiled: summed in float64 (vector lanes, then the lanes), float64 NumPy's to its rounding:
                # n·ε of the entries' scale at worst, n = 128,000
                a64 = a.astype(np.float64)
                scale = float(np.abs(finite).max()) if finite.size else 1.0
                for stat, want in (("mean", a64.mean()), ("std", a64.std())):
                    assert same(g[stat], want) or math.isclose(g[stat], want, rel_tol=1e-12,
                                                              abs_tol=1e-10 * scale), ctx
            if finite.size:
                assert (g["min"], g["max"]) == (finite.min(), finite.max()), ctx
                assert [g["p15"], g["p50"], g["p85"]] == ref_percentiles(finite), ctx
                assert [g["p15"], g["p50"], g["p85"]] == pytest.approx(
                    np.percentile(finite.astype(np.float64), [15, 50, 85]), rel=1e-12, abs=1e-12), ctx
            else:
                assert "p50" not in g and "min" not in g, ctx
            if finite.size < flat.size:
                assert g["nonfinite"] == (flat.size - finite.size) / flat.size, ctx
            else:
                assert "nonfinite" not in g, ctx
            if which == "post":  # tanh: |h| > 0.97, in the data's dtype
                sat = np.count_nonzero(flat < dtype(-0.97)) + np.count_nonzero(flat > dtype(0.97))
                assert g["saturated"] == sat / flat.size, ctx


def test_percentiles_of_a_subsample_are_those_of_its_entries():
    x = np.random.default_rng(5).standard_normal((300, 200)).astype(np.float32)
    probe = observe(x, sample_size=1000, seed=3)
    idx = probe._subsample(x.size)
    assert idx.size == 1000 and np.all(np.diff(idx) > 0)
    got = probe.last()["0"]["post"]
    assert [got["p15"], got["p50"], got["p85"]] == ref_percentiles(x.reshape(-1)[idx])
    # NaN entries: the subsample is drawn among the finite entries
    x.reshape(-1)[::13] = np.nan
    probe = observe(x, sample_size=1000, seed=3)
    finite = x.reshape(-1)[np.isfinite(x.reshape(-1))]
    got = probe.last()["0"]["post"]
    assert [got["p15"], got["p50"], got["p85"]] == ref_percentiles(finite[probe._subsample(finite.size)])


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 100, 1001, 16384])
def test_percentile_helper_matches_a_sort_and_leaves_its_input_alone(n):
    rng = np.random.default_rng(n)
    for v in (rng.standard_normal(n).astype(np.float32), rng.integers(0, 4, n).astype(np.float64),
              np.full(n, 2.5, np.float32)):
        keep = v.copy()
        qs = (0.0, 0.15, 0.5, 0.85, 1.0)
        assert _percentiles(v, qs) == ref_percentiles(v, qs)
        np.testing.assert_array_equal(v, keep)
        assert _percentiles(v, qs, overwrite=True) == ref_percentiles(keep, qs)
        assert sorted(v.tolist()) == sorted(keep.tolist())  # reordered, same entries


# -- histograms ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 37, _CHUNK - 1, _CHUNK, _CHUNK + 1, 2 * _CHUNK + 5])
def test_histogram_counts_follow_the_binning_rule_across_chunks(dtype, n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((1, n)).astype(dtype)
    x[0, ::9] = 30.0  # tanh(30) rounds to exactly 1.0: the right edge, which goes to the last bin
    seen = {}
    probe = observe(x, nn.Tanh(), seen, bins=40)
    h = probe.histograms(kind="post")["0"][0]
    post = seen["post"].reshape(-1)
    assert np.count_nonzero(post == 1.0) >= n // 9
    np.testing.assert_array_equal(h, ref_histogram(post, -1.0, 1.0, 40))
    assert h.sum() == n and h.dtype == np.intp
    pre, edges = probe.histograms(kind="pre")["0"]  # the data's own range
    lo, hi = (float(x.min()), float(x.max())) if n > 1 else (float(x[0, 0]) - 0.5, float(x[0, 0]) + 0.5)
    np.testing.assert_array_equal(pre, ref_histogram(x.reshape(-1), lo, hi, 40))
    np.testing.assert_array_equal(edges, np.linspace(lo, hi, 41))


def test_histogram_with_a_range_and_non_finite_entries():
    x = np.random.default_rng(1).standard_normal((50, 40)).astype(np.float32) * 2
    x[3, :5] = [np.nan, np.inf, -np.inf, 1.0, -1.0]  # ±1.0 are the edges of the range: counted
    probe = observe(x, bins=8, range=(-1, 1))
    counts, edges = probe.histograms(kind="post")["0"]
    flat = x.reshape(-1)
    np.testing.assert_array_equal(counts, ref_histogram(flat[np.isfinite(flat)], -1.0, 1.0, 8))
    np.testing.assert_array_equal(edges, np.linspace(-1, 1, 9))
    assert counts.sum() == np.count_nonzero(np.abs(flat) <= 1)
    edges[0] = 99.0  # each step's edges are its own array, though a fixed range's are computed once
    probe2 = observe(x, bins=8, range=(-1, 1))
    assert probe2.histograms(kind="post")["0"][1][0] == -1.0


def test_histogram_of_a_constant_tensor():
    counts, edges = observe(np.full((4, 5), 3.0, np.float32), bins=10).histograms(kind="post")["0"]
    assert (edges[0], edges[-1]) == (2.5, 3.5) and counts.tolist() == [0] * 5 + [20] + [0] * 4
    # a constant too large for ±0.5 to widen the range in float64 (used to divide by zero)
    counts, edges = observe(np.full((2, 3), 1e30), bins=10).histograms(kind="post")["0"]
    assert counts.sum() == 6 and edges[0] < 1e30 < edges[-1]


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")  # the mean's float32 sum overflows, as NumPy's
def test_histogram_of_float32_values_near_the_largest_float():
    # v − lo exceeds float32 (up to 6e38): binned in float64 instead of overflowing to inf
    x = np.array([[-3e38, -1e38, 0.0, 2e38, 3e38]], np.float32)
    counts, edges = observe(x, bins=4).histograms(kind="post")["0"]
    np.testing.assert_array_equal(counts, np.histogram(x.astype(np.float64), bins=4)[0])
    assert counts.tolist() == [1, 1, 1, 2]


needs_numba = pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed")


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_bin_counts_equal_the_numpy_path(dtype):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(3 * _CHUNK + 11) * 2).astype(dtype)
    x[::17] = np.round(x[::17] * 4) / 4  # entries on bin edges
    x[5:9] = [np.nan, np.inf, -np.inf, 0.7]
    finite = x[np.isfinite(x)]
    ranges = [(-1.0, 1.0), (0.7, 1.3),  # 0.7 is not a float32: the edge is compared in the data's dtype
              (float(finite.min()), float(finite.max())), (-3.0, 0.1), (1e-3, 2e-3)]
    for lo, hi in ranges:
        for bins in (1, 7, 50):
            want = bin_counts(finite, lo, hi, bins, compiled=False)
            got = bin_counts(finite, lo, hi, bins, compiled=True)
            assert got.dtype == np.intp and got.shape == (bins,)
            np.testing.assert_array_equal(got, want, err_msg=f"{lo, hi, bins}")
            np.testing.assert_array_equal(got, ref_histogram(finite, lo, hi, bins), err_msg=f"{lo, hi, bins}")
            np.testing.assert_array_equal(bin_counts(x, lo, hi, bins, compiled=True), got)  # NaN/Inf: not counted
    # float32 data whose range exceeds float32: the NumPy path in float64, whatever is asked
    big = np.array([-3e38, 0.0, 3e38], np.float32)
    lo, hi = float(big[0]), float(big[-1])
    np.testing.assert_array_equal(bin_counts(big, lo, hi, 4, compiled=True),
                                  np.histogram(big.astype(np.float64), bins=4)[0])


@needs_numba
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (500, 784), (2, 40000)])
def test_compiled_sign_counts_equal_the_numpy_path(shape):
    rng = np.random.default_rng(shape[1])
    g = rng.standard_normal(shape).astype(np.float32)
    g[rng.random(shape) < 0.3] = 0.0
    g.reshape(-1)[::11] = np.nan
    for a in (g, g.astype(np.float64), np.asfortranarray(g)):
        want = sign_counts(a, compiled=False)
        got = sign_counts(a, compiled=True)
        for w, c in zip(want, got):
            assert c.dtype == np.intp
            np.testing.assert_array_equal(c, w)
        np.testing.assert_array_equal(got[0], np.count_nonzero(a > 0, axis=1))
        fin = np.where(np.isfinite(a), a, 0.0).astype(np.float64)
        ref = (float((fin * fin).sum()), float(np.abs(fin).sum()))
        for compiled, rel in ((True, 1e-12), (False, 1e-12 if a.dtype == np.float64 else 1e-5)):
            *counts, ss, sa = sign_counts(a, sums=True, compiled=compiled)  # Σg², Σ|g| on the way
            assert all(np.array_equal(x, y) for x, y in zip(counts, want))
            assert math.isnan(ss) and math.isnan(sa)  # the NaN entries propagate
            *_, ss, sa = sign_counts(fin.astype(a.dtype), sums=True, compiled=compiled)
            assert (ss, sa) == pytest.approx(ref, rel=rel), compiled  # float64 sums when compiled


def test_summary_takes_large_contiguous_float_arrays_only_and_counts_what_it_is_asked():
    x = np.linspace(-2.0, 2.0, JIT_MIN, dtype=np.float32)
    if not jit_enabled():  # LAYERLAB_JIT=0 or no numba: the caller's NumPy path takes everything
        assert summary(x, -1.5, 1.5) is None
        return
    assert summary(x[:-1], 0.0, 0.0) is None  # fewer than JIT_MIN entries: NumPy's path
    assert summary(np.repeat(x, 2)[::2], 0.0, 0.0) is None  # a strided view
    assert summary(x.astype(np.int32), 0.0, 0.0) is None
    assert summary(x.astype(np.float16), 0.0, 0.0) is None
    mean, std, bad, below, above = summary(x, -1.5, None)
    assert (bad, below, above) == (0, np.count_nonzero(x < np.float32(-1.5)), 0)
    assert (mean, std) == pytest.approx((x.astype(np.float64).mean(), x.astype(np.float64).std()), rel=1e-12,
                                        abs=1e-12)
    x[[3, 7, 9]] = [np.nan, np.inf, -np.inf]
    mean, std, bad, below, above = summary(x, None, 1.0)
    assert math.isnan(mean) and math.isnan(std) and bad == 3 and below == 0
    assert above == np.count_nonzero(x > np.float32(1.0))  # +inf is above, NaN is not
    mean, _, bad, below, above = summary(np.full(JIT_MIN, 1e308), None, None)  # finite, but Σ overflows
    assert mean == np.inf and (bad, below, above) == (0, 0, 0)


# -- gradients -------------------------------------------------------------------------------------

def ref_sign_agreement(g):
    pos = np.array([np.count_nonzero(r > 0) for r in g])
    neg = np.array([np.count_nonzero(r < 0) for r in g])
    nz = pos + neg
    has = nz > 0
    if not has.any():
        return math.nan, math.nan
    agree = float(np.mean(np.maximum(pos, neg)[has] / nz[has]))
    one = float(np.mean(((pos == 0) | (neg == 0))[has]))
    return agree, one


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (40, 300), (2, 40000), (4, 0)])
def test_sign_agreement_equals_counting_each_row(shape):
    rng = np.random.default_rng(shape[1])
    g = rng.standard_normal(shape).astype(np.float32)
    if g.size:
        g[rng.random(shape) < 0.3] = 0.0
        g[0] = np.abs(g[0])  # one unit of one sign (zeros aside)
        g.reshape(-1)[-1] = np.nan  # no sign, like a zero
        if shape[0] > 2:
            g[1] = 0.0  # a unit with no gradient: left out
    want = ref_sign_agreement(g)
    got = sign_agreement(g)
    assert all(same(a, b) for a, b in zip(got, want)) and got == pytest.approx(want, rel=1e-12, nan_ok=True)
    work = np.ones(g.size, np.bool_)  # a dirty work array gives the same answer
    assert all(same(a, b) for a, b in zip(sign_agreement(g, work=work), got))


def test_gradient_statistics_equal_numpy():
    model = nn.Sequential(nn.Linear(30, 20, rng=0), nn.Tanh(), nn.Linear(20, 5, rng=1))
    rng = np.random.default_rng(2)
    grads = {
        "0.weight": rng.standard_normal((20, 30)).astype(np.float32),
        "0.bias": np.zeros(20, np.float32),
        "2.weight": np.asfortranarray(rng.standard_normal((5, 20)).astype(np.float32)),  # not C-contiguous
        "2.bias": np.array([1.0, np.nan, -2.0, 0.0, 3.0], np.float32),
    }
    params = dict(model.named_parameters())
    for name, g in grads.items():
        params[name].grad = g
    probe = GradientStats(model)
    probe.record(0)
    probe.record(1)  # a second call reuses the work arrays
    got = probe.keyed()
    for name, g in grads.items():
        layer, pname = name.split(".")
        key = f"{layer}/{pname}/grad"
        if g.ndim == 1:
            assert same(got[f"{key}/mean_abs"], np.abs(g).mean()), name
        else:  # Σ|g| from the sign-count pass, over n
            assert got[f"{key}/mean_abs"] == pytest.approx(np.abs(g.astype(np.float64)).mean(), rel=1e-6), name
        assert got[f"{key}/norm"] == pytest.approx(float(np.linalg.norm(g.astype(np.float64))), rel=1e-6,
                                                   nan_ok=True), name
        if g.ndim == 2:
            want = ref_sign_agreement(g)
            assert (got[f"{key}/sign_agree"], got[f"{key}/one_sign"]) == pytest.approx(want, rel=1e-12), name


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # grad_norm's float16 dot, rescaled
def test_gradient_statistics_of_float16_do_not_overflow():
    model = nn.Sequential(nn.Linear(10, 4, rng=0))
    model[0].weight.grad = np.full((4, 10), -3000.0, np.float16)  # by hand; Σ|g| = 1.2·10⁵ > float16's 65504
    probe = GradientStats(model)
    probe.record(0)
    got = probe.keyed()
    assert got["0/weight/grad/norm"] == pytest.approx(math.sqrt(40 * 3000.0**2), rel=1e-3)
    assert got["0/weight/grad/mean_abs"] == 3000.0 and got["0/weight/grad/one_sign"] == 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_statistics_of_a_large_layer_equal_numpy(dtype):
    """A weight gradient of 60,000 entries takes the one-pass |g| and sign counts (compiled with numba)."""
    model = nn.Sequential(nn.Linear(300, 200, rng=0, dtype=dtype))
    g = np.random.default_rng(4).standard_normal((200, 300)).astype(dtype)
    g[g < -1.5] = 0.0
    g[5] = np.abs(g[5])
    g[7] = 0.0
    g[9, 3] = np.nan
    model[0].weight.grad = g
    model[0].bias.grad = np.ones(200, dtype)
    probe = GradientStats(model)
    for step in (0, 1):  # the second call reuses the work arrays
        probe.record(step)
        got = probe.keyed()
        assert math.isnan(got["0/weight/grad/mean_abs"]) and math.isnan(got["0/weight/grad/norm"])  # g[9, 3]
        want = ref_sign_agreement(g)
        assert (got["0/weight/grad/sign_agree"], got["0/weight/grad/one_sign"]) == pytest.approx(want, rel=1e-12)
        assert same(got["0/weight/grad/sign_agree"], sign_agreement(g)[0])
    assert [r["stat"] for r in probe.records if r["step"] == 1 and r["layer"] == "0"][:5] == [
        "norm", "mean_abs", "sign_agree", "one_sign", "norm"]  # the order of the records is kept
    g[9, 3] = 0.5  # finite: the one-pass norm and mean |g| against float64 NumPy
    probe.record(2)
    got = probe.keyed()
    g64 = g.astype(np.float64)
    rel = 1e-12 if jit_enabled() or dtype == np.float64 else 1e-5
    assert got["0/weight/grad/norm"] == pytest.approx(np.linalg.norm(g64), rel=rel)
    assert got["0/weight/grad/mean_abs"] == pytest.approx(np.abs(g64).mean(), rel=rel)


# -- work arrays --------------------------------------------------------------------------------------

def test_scratch_reuses_memory_per_name_and_dtype():
    s = Scratch()
    a = s.get("f", np.float32, 100)
    assert a.shape == (100,) and a.dtype == np.float32
    assert np.shares_memory(s.get("f", np.float32, 50), a)  # smaller: the same memory
    assert not np.shares_memory(s.get("g", np.float32, 100), a)  # another name
    assert s.get("f", np.float64, 10).dtype == np.float64  # another dtype: another array
    big = s.get("f", np.float32, 1000)
    assert big.size == 1000 and np.shares_memory(s.get("f", np.float32, 10), big)  # grown, then reused
    s.clear()
    assert not np.shares_memory(s.get("f", np.float32, 10), big)


def test_layers_of_different_sizes_in_one_pass_share_work_arrays_safely():
    model = nn.Sequential(nn.Linear(6, 400, rng=0), nn.Tanh(), nn.Linear(400, 3, rng=1), nn.Tanh())
    x = np.random.default_rng(0).standard_normal((50, 6)).astype(np.float32)
    seen = {}
    for name in ("1", "3"):
        model[int(name)].register_forward_hook(lambda m, i, o, name=name: seen.update({name: o.data.copy()}))
    with ActivationStats(model) as probe:
        model(ll.tensor(x))
        model(ll.tensor(x[:7]))  # a smaller batch: the work arrays are larger than needed
    got = probe.last()
    for name in ("1", "3"):  # the last pass (batch of 7)
        h = seen[name]
        assert same(got[name]["post"]["std"], h.std())
        assert [got[name]["post"][s] for s in ("p15", "p50", "p85")] == ref_percentiles(h.reshape(-1))
        np.testing.assert_array_equal(probe.histograms(1, kind="post")[name][0],
                                      ref_histogram(h.reshape(-1), -1.0, 1.0, 50))
    assert probe._scratch._bufs == {}  # detach (end of `with`) frees them
