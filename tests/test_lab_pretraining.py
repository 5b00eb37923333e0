"""Claims 17, 18, 19 (greedy layer-wise pre-training): each verdict function both ways on synthetic records, and a
--quick run of each experiment whose stored verdicts are recomputed from its stored records (none is pinned)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab.lab.experiments import pretraining as PT
from lab_quick import assert_arms_independent


def _rows(pre, rand, **extra):
    """Per-seed dicts {key: value} of each arm -> run rows."""
    out = []
    for arm, per_seed in (("pre-trained", pre), ("random init", rand)):
        for s, vals in enumerate(per_seed):
            out.append({"arm": arm, "seed": s, **extra, **vals})
    return out


# -- 17 ----------------------------------------------------------------------------------------------------------
def test_small_capacity_verdict_both_ways():
    ahead = _rows([{"train loss": v} for v in (0.30, 0.32, 0.29)], [{"train loss": v} for v in (0.50, 0.55, 0.52)],
                  capacity="small")
    assert PT.small_capacity_verdict(ahead)
    noisy = _rows([{"train loss": v} for v in (0.30, 0.60, 0.29)], [{"train loss": v} for v in (0.50, 0.35, 0.52)],
                  capacity="small")
    assert not PT.small_capacity_verdict(noisy)            # ahead on average, not beyond 2 SE
    behind = _rows([{"train loss": v} for v in (0.5, 0.55, 0.52)], [{"train loss": v} for v in (0.3, 0.32, 0.29)],
                   capacity="small")
    assert not PT.small_capacity_verdict(behind)
    diverged = _rows([{"train loss": v} for v in (0.30, math.nan, 0.29)],
                     [{"train loss": v} for v in (0.50, 0.55, 0.52)], capacity="small")
    assert not PT.small_capacity_verdict(diverged)          # a diverged run is no evidence
    # the other capacity's rows are ignored
    assert PT.small_capacity_verdict(ahead + _rows([{"train loss": 9.0}] * 3, [{"train loss": 0.0}] * 3,
                                                   capacity="large"))


def test_large_capacity_verdict_both_ways():
    near = _rows([{"train loss": v} for v in (0.01, 0.02, 0.049)], [{"train loss": v} for v in (0.03, 0.0, 0.05)],
                 capacity="large")
    assert PT.large_capacity_verdict(near)
    one_high = _rows([{"train loss": v} for v in (0.01, 0.02, 0.049)], [{"train loss": v} for v in (0.03, 0.06, 0.05)],
                     capacity="large")
    assert not PT.large_capacity_verdict(one_high)          # every run must be near 0
    nan = _rows([{"train loss": math.nan}] * 3, [{"train loss": 0.01}] * 3, capacity="large")
    assert not PT.large_capacity_verdict(nan)
    only_one_arm = [r for r in near if r["arm"] == "random init"]
    assert not PT.large_capacity_verdict(only_one_arm)
    assert PT.large_capacity_verdict(one_high, near_zero=0.1)


# -- 18 ----------------------------------------------------------------------------------------------------------
def _optreg(pre, rand):
    return _rows([{"train loss": a, "test loss": b} for a, b in pre], [{"train loss": a, "test loss": b} for a, b in rand])


def test_optimisation_and_regularisation_verdicts_both_ways():
    # optimisation: lower training loss beyond the noise (and lower test loss)
    opt = _optreg([(0.10, 0.50), (0.12, 0.52), (0.11, 0.49)], [(0.30, 0.60), (0.31, 0.63), (0.33, 0.61)])
    assert PT.optimisation_verdict(opt) and not PT.regularisation_verdict(opt) and PT.lower_test_loss_verdict(opt)
    # regularisation: higher training loss, lower test loss
    reg = _optreg([(0.30, 0.50), (0.31, 0.52), (0.33, 0.49)], [(0.10, 0.60), (0.12, 0.63), (0.11, 0.61)])
    assert not PT.optimisation_verdict(reg) and PT.regularisation_verdict(reg) and PT.lower_test_loss_verdict(reg)
    # regularisation by the gap alone: equal training loss, test loss within the noise, gap beyond it
    gap = _optreg([(0.20, 0.50), (0.25, 0.60), (0.30, 0.70)], [(0.10, 0.51), (0.15, 0.61), (0.20, 0.71)])
    assert not PT.optimisation_verdict(gap) and PT.regularisation_verdict(gap)
    # neither: everything within the noise
    none = _optreg([(0.20, 0.50), (0.25, 0.60), (0.30, 0.70)], [(0.25, 0.55), (0.20, 0.58), (0.31, 0.72)])
    assert not (PT.optimisation_verdict(none) or PT.regularisation_verdict(none) or PT.lower_test_loss_verdict(none))


# -- 19 ----------------------------------------------------------------------------------------------------------
def test_variance_ratio_test_both_ways_and_against_the_f_distribution():
    rng = np.random.default_rng(0)
    wide, narrow = 0.2 + 0.03 * rng.standard_normal(10), 0.2 + 0.005 * rng.standard_normal(10)
    t = PT.variance_ratio_test(wide, narrow)
    assert t["holds"] and t["ratio"] > t["critical"] and t["p"] < 0.05 and t["ci"][0] > 1
    assert t["ratio"] == pytest.approx(np.var(wide, ddof=1) / np.var(narrow, ddof=1))
    assert not PT.variance_ratio_test(narrow, wide)["holds"]
    same = PT.variance_ratio_test(wide, wide + 0.01)
    assert not same["holds"] and same["ratio"] == pytest.approx(1.0) and same["p"] == pytest.approx(0.5)
    assert same["ci"][0] < 1 < same["ci"][1]
    # the critical value of F(9, 9) at 0.95 (tables: 3.179)
    assert t["critical"] == pytest.approx(3.1789, abs=1e-3)
    # just below / above the critical ratio
    base = np.array([-1.0, 1.0] * 5)
    c = t["critical"]
    assert not PT.variance_ratio_test(base * math.sqrt(c * 0.99), base)["holds"]
    assert PT.variance_ratio_test(base * math.sqrt(c * 1.01), base)["holds"]
    assert not PT.variance_ratio_test([0.1, math.nan, 0.3], [0.2, 0.2, 0.2])["holds"]   # a diverged run
    assert not PT.variance_ratio_test([0.1], [0.2])["holds"]


def test_robustness_verdict_reads_the_depth():
    rng = np.random.default_rng(1)
    rows = []
    for depth, (sr, sp) in {1: (0.001, 0.03), 3: (0.03, 0.001)}.items():
        rows += _rows([{"test error": 0.2 + sp * z} for z in rng.standard_normal(10)],
                      [{"test error": 0.2 + sr * z} for z in rng.standard_normal(10)], depth=depth)
    assert not PT.robustness_verdict(rows, 1)["holds"]
    assert PT.robustness_verdict(rows, 3)["holds"]


# -- the experiments, --quick, through the runner ------------------------------------------------------------------
#: items through ctx.map in each --quick run: (capacity,) seed and arm; (depth,) seed and arm
_QUICK_ITEMS = {"pretraining_capacity": 12, "pretraining_opt_vs_reg": 6, "pretraining_robustness": 30}


def _run(name, store, tmp_path_factory):
    _, r = assert_arms_independent(name, store, tmp_path_factory, min_items=_QUICK_ITEMS[name])
    return r.claims, r.outcome.data["records"], r.figures


def test_capacity_quick_verdicts_recomputed_from_records(store, tmp_path_factory):
    claims, records, figs = _run("pretraining_capacity", store, tmp_path_factory)
    assert sorted(claims) == ["17a", "17b"] and figs == {"capacity"}
    rows = records["each run"]
    assert {(r["capacity"], r["arm"]) for r in rows} == {(c, a) for c in ("small", "large") for a in PT.ARMS}
    assert len(rows) == 2 * 2 * PT.CapacityConfig.QUICK["seeds"]
    assert claims["17a"].holds is PT.small_capacity_verdict(rows)
    assert claims["17b"].holds is PT.large_capacity_verdict(rows)
    # pre-training lowered the last hidden layer's reconstruction error in every pre-trained run
    pre = [r for r in rows if r["arm"] == "pre-trained"]
    assert all(r["last-layer reconstruction error after"] < r["last-layer reconstruction error before"] for r in pre)
    # the final training loss is the last point of the stored curve
    curves = records["curves"]
    for r in rows:
        last = max((c for c in curves if c["arm"] == r["arm"] and c["seed"] == r["seed"]
                    and c.get("capacity") == r["capacity"]), key=lambda c: c["step"], default=None)
        if last is not None and r["diverged at"] is None:
            assert last["train loss"] == pytest.approx(r["train loss"])


def test_opt_vs_reg_quick_verdicts_recomputed_from_records(store, tmp_path_factory):
    claims, records, figs = _run("pretraining_opt_vs_reg", store, tmp_path_factory)
    assert sorted(claims) == ["18a", "18b", "18c"] and figs == {"curves", "final"}
    rows = records["each run"]
    assert len(rows) == 2 * PT.OptRegConfig.QUICK["seeds"]
    assert claims["18a"].holds is PT.optimisation_verdict(rows)
    assert claims["18b"].holds is PT.regularisation_verdict(rows)
    assert claims["18c"].holds is PT.lower_test_loss_verdict(rows)
    assert not (claims["18a"].holds and claims["18b"].holds)   # exclusive by definition
    for r in rows:
        if r["diverged at"] is None:
            assert r["gap"] == pytest.approx(r["test loss"] - r["train loss"])
    assert {c["step"] for c in records["curves"]} >= {0, PT.OptRegConfig.QUICK["iterations"]}


def test_robustness_quick_verdicts_recomputed_from_records(store, tmp_path_factory):
    claims, records, figs = _run("pretraining_robustness", store, tmp_path_factory)
    depths = PT.RobustnessConfig.depths
    assert sorted(claims) == ["19a", "19b", "19c"] and figs == {"robustness"}
    rows = records["each run"]
    assert len(rows) == len(depths) * 2 * PT.RobustnessConfig.QUICK["seeds"]
    for cid, depth in zip("abc", depths):
        t = PT.robustness_verdict(rows, depth)
        assert claims[f"19{cid}"].holds is t["holds"]
        (row,) = [r for r in records["spread per depth"] if r["depth"] == depth]
        assert row["holds"] is t["holds"]
        if math.isfinite(t["ratio"]):
            assert row["ratio"] == pytest.approx(t["ratio"])
            assert f"variance ratio {t['ratio']:.2f}" in claims[f"19{cid}"].measured
