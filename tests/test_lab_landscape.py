"""Claim 37 (loss landscape, Li et al. 2018): the roughness measure on known surfaces (pinned arithmetic), the
verdict both ways on synthetic records, the nets, and a --quick run whose stored verdicts are recomputed from its
stored grids (none is pinned)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import layerlab as ll
from layerlab import nn
from layerlab.lab.experiments import landscape as L
from lab_quick import assert_arms_independent

GRID = np.linspace(-1.0, 1.0, 11)
H = GRID[1] - GRID[0]
A, B = np.meshgrid(GRID, GRID, indexing="ij")


# -- the measures on known surfaces (arithmetic) ----------------------------------------------------------------------
def test_hessian_of_a_quadratic_is_exact():
    """f = ½(3α² + 2αβ + β²): Hessian [[3, 1], [1, 1]] everywhere (central differences are exact on
    quadratics), eigenvalues 2 ± √2."""
    f = 0.5 * (3 * A ** 2 + 2 * A * B + B ** 2)
    lmin, lmax = L.slice_hessian_eigs(f, H)
    assert lmin.shape == (9, 9)
    np.testing.assert_allclose(lmin, 2 - math.sqrt(2), rtol=1e-9)
    np.testing.assert_allclose(lmax, 2 + math.sqrt(2), rtol=1e-9)
    assert L.nonconvex_fraction(f, H) == (0.0, 81)
    # along β the minimum is at β = −α (at the edge for α = ±1: 2 of 11 rows have none), along α at −β/3
    assert L.local_minima_per_slice(f) == pytest.approx(1.0 - 2 / 22)


def test_nonconvex_fraction_of_a_saddle_and_a_threshold_edge():
    saddle = A ** 2 - B ** 2  # λ = ±2: every point non-convex
    assert L.nonconvex_fraction(saddle, H) == (1.0, 81)
    # λmin/λmax = −0.05 (below τ = 0.1: counts as flat) and −0.2 (above: non-convex)
    assert L.nonconvex_fraction(A ** 2 - 0.05 * B ** 2, H)[0] == 0.0
    assert L.nonconvex_fraction(A ** 2 - 0.2 * B ** 2, H)[0] == 1.0
    assert L.nonconvex_fraction(A ** 2 - 0.05 * B ** 2, H, tau=0.01)[0] == 1.0
    # a bumpy surface: a bowl plus ripples, some points non-convex, not all
    bumpy = A ** 2 + B ** 2 + 0.1 * np.sin(12 * A) * np.cos(12 * B)
    frac, n = L.nonconvex_fraction(bumpy, H)
    assert 0.0 < frac < 1.0 and n == 81
    assert L.local_minima_per_slice(bumpy) > 1.0


def test_nonfinite_points_are_left_out_and_small_grids_rejected():
    f = A ** 2 + B ** 2
    f[5, 5] = np.inf  # its own Hessian and its 8 neighbours' are not finite
    frac, n = L.nonconvex_fraction(f, H)
    assert n == 81 - 9 and frac == 0.0
    assert L.nonconvex_fraction(np.full((4, 4), np.nan), H) == (pytest.approx(math.nan, nan_ok=True), 0)
    with pytest.raises(ValueError, match="at least 3 × 3"):
        L.slice_hessian_eigs(np.zeros((2, 5)), H)
    assert L.local_minima_per_slice(np.array([3.0, 1.0, 2.0, 0.5, 4.0])) == 2.0


# -- the verdict on synthetic records, both ways ----------------------------------------------------------------------
def land(depth, arch, seed, surface, diverged=None):
    return {"part": "landscape", "depth": depth, "arch": arch, "seed": seed, "diverged": diverged, "tau": L.TAU,
            "alphas": GRID.tolist(), "losses": np.asarray(surface).tolist()}


def ripple(amount):
    """A bowl with ripples: more ``amount``, more non-convex points."""
    return A ** 2 + B ** 2 + amount * np.sin(12 * A) * np.cos(12 * B)


def test_check_rougher_both_ways():
    smooth, rough = A ** 2 + B ** 2, ripple(0.1)
    recs = [land("deep", "plain", s, ripple(0.1 + 0.01 * s)) for s in range(3)] + \
           [land("deep", "residual", s, smooth) for s in range(3)]
    holds, lead = L.check_rougher(recs, "deep")
    assert holds and lead["seeds"] == 3 and lead["diff"] > 0
    assert lead["diff"] == pytest.approx(np.mean([L.nonconvex_fraction(ripple(0.1 + 0.01 * s), H)[0]
                                                  for s in range(3)]))
    # the other way round, and equal landscapes (both smooth: no lead at all)
    flipped = [dict(r, arch="residual" if r["arch"] == "plain" else "plain") for r in recs]
    assert not L.check_rougher(flipped, "deep")[0]
    same = [land("shallow", a, s, smooth) for a in L.ARCHS for s in range(2)]
    holds, lead = L.check_rougher(same, "shallow")
    assert not holds and lead["diff"] == 0.0
    # a lead within the noise: one seed each way
    mixed = [land("deep", "plain", 0, rough), land("deep", "residual", 0, smooth),
             land("deep", "plain", 1, smooth), land("deep", "residual", 1, ripple(0.09))]
    assert not L.check_rougher(mixed, "deep")[0]
    # other depths are ignored
    assert L.check_rougher(recs + same, "deep")[0]


def test_check_rougher_missing_diverged_and_single_seed_are_no_evidence():
    smooth, rough = A ** 2 + B ** 2, ripple(0.1)
    base = [land("deep", "plain", s, rough) for s in range(2)] + [land("deep", "residual", s, smooth) for s in range(2)]
    assert L.check_rougher(base[:3], "deep") == (False, None)          # seed 1 has no residual landscape
    assert L.check_rougher([], "deep") == (False, None)
    diverged = base[:1] + [land("deep", "plain", 1, rough, diverged=17)] + base[2:]
    assert L.check_rougher(diverged, "deep") == (False, None)
    nan = base[:1] + [land("deep", "plain", 1, np.full((11, 11), np.nan))] + base[2:]
    assert L.check_rougher(nan, "deep") == (False, None)
    one = [base[0], base[2]]                                           # one seed: the SE is unknown
    holds, lead = L.check_rougher(one, "deep")
    assert not holds and lead["seeds"] == 1


def test_check_depth_both_ways_and_check_rougher_than():
    smooth = A ** 2 + B ** 2
    recs = [land("deep", "plain", s, ripple(0.1 + 0.01 * s)) for s in range(3)] + \
           [land("shallow", "plain", s, smooth) for s in range(3)] + \
           [land(d, "residual", s, smooth) for d in L.DEPTHS for s in range(3)]
    holds, lead = L.check_depth(recs, "plain")
    assert holds and lead["seeds"] == 3
    assert not L.check_depth(recs, "residual")[0]
    assert L.check_rougher_than(recs, ("deep", "plain"), ("shallow", "residual"))[0]
    assert not L.check_rougher_than(recs, ("shallow", "plain"), ("deep", "plain"))[0]
    # a shallow landscape missing for one seed, or a diverged deep fit at step 0, is no evidence
    assert L.check_depth([r for r in recs if not (r["depth"] == "shallow" and r["seed"] == 2)], "plain") == \
        (False, None)
    recs[0]["diverged"] = 0
    assert L.check_depth(recs, "plain") == (False, None)


# -- the nets and the inputs ------------------------------------------------------------------------------------------
def test_plain_and_residual_nets_share_their_layers_and_draws():
    plain = L.build_net(12, 8, 3, False, np.random.default_rng(0))
    res = L.build_net(12, 8, 3, True, np.random.default_rng(0))
    linears = [m for m in plain.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 2 + 2 * 3
    assert sum(isinstance(m, nn.Residual) for m in res.modules()) == 3
    assert sum(isinstance(m, nn.BatchNorm) for m in res.modules()) == 1 + 2 * 3
    ps, pr = dict(plain.named_parameters()), dict(res.named_parameters())
    assert [v.shape for v in ps.values()] == [v.shape for v in pr.values()]
    for a, b in zip(ps.values(), pr.values()):
        np.testing.assert_array_equal(a.data, b.data)
    x = ll.Tensor(np.random.default_rng(1).standard_normal((5, 12)).astype(np.float32))
    assert plain(x).shape == res(x).shape == (5, 10)
    assert isinstance(res[3], nn.Residual) and isinstance(res[4], nn.ReLU)  # ReLU(x + f(x))


def test_pool_images_averages_blocks():
    x = np.arange(2 * 16, dtype=np.float32).reshape(2, 16)  # two 4×4 images
    p = L.pool_images(x, 2)
    assert p.shape == (2, 4) and p.dtype == np.float32
    assert p[0].tolist() == [2.5, 4.5, 10.5, 12.5]
    assert L.pool_images(x, 1).tolist() == x.tolist()
    with pytest.raises(ValueError, match="multiple of pool"):
        L.pool_images(x, 3)


# -- the --quick run --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(store, tmp_path_factory):
    # (deep, shallow) × 2 seeds × (plain, residual)
    return assert_arms_independent("loss_landscape", store, tmp_path_factory, min_items=8)[1]


def test_quick_run_verdicts_recomputed_from_the_stored_grids(run):
    recs = run.records
    expected = {"37a": L.check_rougher(recs, "deep")[0], "37b": L.check_rougher(recs, "shallow")[0],
                "37c": L.check_depth(recs, "plain")[0], "37d": L.check_depth(recs, "residual")[0]}
    assert {c["id"]: c["holds"] for c in run.stored["claims"]} == expected
    assert {"contours", "curves", "nonconvexity", "roughness"} <= run.figures


def test_quick_run_records_are_complete_and_consistent(run):
    cfg = run.stored["config"]
    recs = [r for r in run.records if r["part"] == "landscape"]
    assert len(recs) == len(L.DEPTHS) * len(L.ARCHS) * cfg["seeds"]
    h = 2 * cfg["span"] / (cfg["steps"] - 1)
    for r in recs:
        g = np.asarray(r["losses"], dtype=np.float64)
        assert g.shape == (cfg["steps"], cfg["steps"])
        assert r["alphas"] == pytest.approx(np.linspace(-cfg["span"], cfg["span"], cfg["steps"]).tolist())
        frac, n = L.nonconvex_fraction(g, h)
        assert (r["nonconvex"], r["interior_points"]) == (pytest.approx(frac, nan_ok=True), n)
        assert r["layers"] == 2 + 2 * r["blocks"]
        assert r["eval_loss"] == g[cfg["steps"] // 2, cfg["steps"] // 2]
