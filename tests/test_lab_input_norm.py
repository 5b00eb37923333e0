"""Claim 29 (input_normalisation): the 2-D problem's arithmetic (Hessian, GD bound, path measures; pinned), the
verdict functions on synthetic records both ways, and a --quick run whose stored verdicts are recomputed from its
stored records (no training verdict is pinned)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab.lab.experiments import input_norm as N
from layerlab.lab.training import mlp
from lab_quick import assert_arms_independent


# -- arithmetic ------------------------------------------------------------------------------------------------------
def test_standardised_features_have_a_block_diagonal_hessian():
    x, _ = N.make_features(np.random.default_rng(0), 300)
    assert (x >= 0).all() and (x <= 1).all()
    h = N.hessian(N.standardise(x))
    np.testing.assert_allclose(np.diag(h), [1.0, 1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(h[2, :2], [0.0, 0.0], atol=1e-12)
    ev = np.linalg.eigvalsh(h)  # 1 ± ρ and 1
    rho = np.corrcoef(x.T)[0, 1]
    np.testing.assert_allclose(ev, sorted([1 - abs(rho), 1.0, 1 + abs(rho)]), atol=1e-12)
    # the raw features' Hessian is E[x̃x̃ᵀ]: the means couple the weights with the bias
    hr = N.hessian(x)
    np.testing.assert_allclose(hr[2, :2], x.mean(axis=0))
    assert np.linalg.cond(hr) > 50 * np.linalg.cond(h)


def test_standardising_does_not_change_the_minimum():
    x, y = N.make_features(np.random.default_rng(1), 100)
    a = N.gd_path(x, y, 0.1, 1e-6, 1)
    b = N.gd_path(N.standardise(x), y, 0.1, 1e-6, 1)
    la = 0.5 * np.mean((np.c_[x, np.ones(100)] @ a["theta_star"] - y) ** 2)
    lb = 0.5 * np.mean((np.c_[N.standardise(x), np.ones(100)] @ b["theta_star"] - y) ** 2)
    assert la == pytest.approx(lb, rel=1e-10)
    assert a["excess"][0] == pytest.approx(b["excess"][0], rel=1e-10)  # both start at ŷ = 0


def test_steps_bound_and_gd_within_it():
    assert N.steps_bound([1.0, 3.0], 0.5, 1e-6) == math.ceil(math.log(1e6) / (2 * math.log(2)))  # ρ = 0.5
    assert N.steps_bound([1.0, 5.0], 0.5, 1e-6) == math.inf  # |1 − 2.5| > 1: unstable
    assert N.steps_bound([2.0], 0.5, 1e-6) == 1.0  # ρ = 0: one step
    x, y = N.make_features(np.random.default_rng(2), 200)
    for xx in (x, N.standardise(x)):
        ev = np.linalg.eigvalsh(N.hessian(xx))
        for lr in (2 / (ev[0] + ev[-1]), 1 / ev[-1]):
            r = N.gd_path(xx, y, lr, 1e-6, 100_000)
            assert r["steps"] is not None and r["steps"] <= N.steps_bound(ev, lr, 1e-6)
            assert len(r["path"]) == r["steps"] + 1 and r["excess"][-1] <= 1e-6 * r["excess"][0]
    r = N.gd_path(x, y, 1e-6, 1e-6, 5)
    assert r["steps"] is None and len(r["path"]) == 6


def test_path_measures():
    straight = N.path_measures([[0, 0], [1, 1], [3, 3]])
    assert straight["mean_cos"] == pytest.approx(1.0) and straight["straightness"] == pytest.approx(1.0)
    zig = N.path_measures([[0, 0], [1, 1], [2, 0], [3, 1]])
    assert zig["mean_cos"] == pytest.approx(0.0) and zig["straightness"] == pytest.approx(math.sqrt(10) / (3 * math.sqrt(2)))
    back = N.path_measures([[0.0], [1.0], [0.5], [0.75]])
    assert back["mean_cos"] == pytest.approx(-1.0) and back["straightness"] == pytest.approx(0.75 / 1.75)
    one = N.path_measures([[0, 0], [1, 2]])  # one step onto the minimum: no change of direction
    assert one["mean_cos"] == 1.0 and one["straightness"] == pytest.approx(1.0)
    none = N.path_measures([[0, 0]])
    assert math.isnan(none["mean_cos"]) and math.isnan(none["straightness"])


def test_pixel_stats():
    rng = np.random.default_rng(0)
    x = rng.random((500, 7)).astype(np.float32)
    x[:, 3] = 0.0
    x[:5, 3] = 0.01
    m, s = N.pixel_stats(x, 0.05)
    np.testing.assert_allclose(m, x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(s, np.maximum(x.std(axis=0), 0.05), rtol=1e-4)
    assert s[3] == np.float32(0.05)


def test_successive_update_cosine_is_the_successive_gradient_cosine_under_sgd():
    rng = np.random.default_rng(0)
    x, y = rng.random((60, 5)).astype(np.float64), rng.integers(0, 3, 60)
    batches = [np.arange(i, i + 20) for i in (0, 20, 40)]
    model = mlp([5, 4, 3], "tanh", "lecun_normal", np.random.default_rng(1), dtype=np.float64)
    snap = [np.concatenate([p.data.ravel() for p in model.parameters()])]
    for b in batches:  # one batch at a time, reading the weights after each update
        N.train_mlp(model, x, y, [b], 0.5)
        snap.append(np.concatenate([p.data.ravel() for p in model.parameters()]))
    d = np.diff(snap, axis=0)
    expect = [float(d[i] @ d[i + 1] / np.linalg.norm(d[i]) / np.linalg.norm(d[i + 1])) for i in range(2)]
    model2 = mlp([5, 4, 3], "tanh", "lecun_normal", np.random.default_rng(1), dtype=np.float64)
    r = N.train_mlp(model2, x, y, batches, 0.5)
    np.testing.assert_allclose(r["cos"], expect, rtol=1e-9)
    assert len(r["losses"]) == 3 and r["diverged"] is None


# -- the verdicts on synthetic records, both ways --------------------------------------------------------------------
def quad(steps=None, cos=None, straight=None, datasets=(0, 1)):
    """``steps``/``cos``/``straight``: {(inputs, rule): value} (defaults: the standardised case much better)."""
    steps = steps or {}
    cos = cos or {}
    straight = straight or {}
    base = {(N.RAW, N.RULES[0]): (2000, -0.99, 0.01), (N.STANDARDISED, N.RULES[0]): (3, 0.2, 0.99),
            (N.RAW, N.RULES[1]): (2700, 0.99, 0.68), (N.STANDARDISED, N.RULES[1]): (3, 0.93, 0.99)}
    return [{"part": "quad", "dataset": d, "inputs": i, "rule": r, "steps": steps.get((i, r), v[0]),
             "mean_cos": cos.get((i, r), v[1]), "straightness": straight.get((i, r), v[2])}
            for d in datasets for (i, r), v in base.items()]


def test_check_quad_faster_both_ways():
    holds, ratios = N.check_quad_faster(quad())
    assert holds and ratios[N.RULES[0]] == [pytest.approx(2001 / 4)] * 2
    assert not N.check_quad_faster(quad(steps={(N.RAW, N.RULES[1]): 6}))[0]  # (6 + 1)/(3 + 1) < 2
    assert N.check_quad_faster(quad(steps={(N.RAW, N.RULES[1]): 7}))[0]      # (7 + 1)/(3 + 1) = 2
    assert not N.check_quad_faster(quad(steps={(N.STANDARDISED, N.RULES[0]): None}))[0]  # never reached
    assert N.check_quad_faster(quad(steps={(N.RAW, N.RULES[0]): None}))[0]  # only the standardised one got there
    assert not N.check_quad_faster([])[0]


def test_check_quad_smoother_both_ways():
    assert N.check_quad_smoother(quad(), N.RULES[0])[0]
    holds, vals = N.check_quad_smoother(quad(), N.RULES[1])  # raw 0.99 > 0: no zig-zag at 1/L
    assert not holds and vals[0] == (0.99, 0.93)
    assert not N.check_quad_smoother(quad(cos={(N.STANDARDISED, N.RULES[0]): -0.995}), N.RULES[0])[0]
    assert not N.check_quad_smoother(quad(cos={(N.STANDARDISED, N.RULES[0]): math.nan}), N.RULES[0])[0]
    assert not N.check_quad_smoother([], N.RULES[0])[0]


def test_check_quad_straighter_both_ways():
    assert N.check_quad_straighter(quad())[0]
    assert not N.check_quad_straighter(quad(straight={(N.STANDARDISED, N.RULES[1]): 0.6}))[0]
    assert not N.check_quad_straighter(quad(straight={(N.RAW, N.RULES[0]): math.nan}))[0]
    assert not N.check_quad_straighter([])[0]


def mlp_recs(raw_cos, std_cos, raw_tail=None, std_tail=None, lr=0.1, diverged=None):
    out = []
    for s, (rc, sc) in enumerate(zip(raw_cos, std_cos)):
        for inputs, c, tails in ((N.RAW, rc, raw_tail), (N.STANDARDISED, sc, std_tail)):
            out.append({"part": "mlp", "inputs": inputs, "lr": lr, "seed": s, "mean_cos": c,
                        "tail_loss": (tails or [1.0] * 9)[s], "diverged": (diverged or {}).get((inputs, s))})
    return out


def test_check_mlp_both_ways():
    recs = mlp_recs([0.1, 0.12, 0.08], [0.3, 0.35, 0.28], [1.0, 1.1, 0.9], [0.8, 0.85, 0.75])
    holds, lead = N.check_mlp_smoother(recs, 0.1)
    assert holds and lead["diff"] == pytest.approx(0.21)
    assert N.check_mlp_lower(recs, 0.1)[0]
    # the other η has no records: no evidence
    assert not N.check_mlp_smoother(recs, 0.02)[0] and not N.check_mlp_lower(recs, 0.02)[0]
    # inside the noise, or the wrong way
    noisy = mlp_recs([0.1, 0.3, 0.08], [0.3, 0.1, 0.28], [1.0, 0.7, 0.9], [0.8, 0.9, 0.85])
    assert not N.check_mlp_smoother(noisy, 0.1)[0] and not N.check_mlp_lower(noisy, 0.1)[0]
    worse = mlp_recs([0.3, 0.35, 0.28], [0.1, 0.12, 0.08], [0.8, 0.85, 0.75], [1.0, 1.1, 0.9])
    assert not N.check_mlp_smoother(worse, 0.1)[0] and not N.check_mlp_lower(worse, 0.1)[0]
    # a diverged run (of either input) fails the row, even when the numbers lean the right way
    div = mlp_recs([0.1, 0.12, 0.08], [0.3, 0.35, 0.28], [1.0, 1.1, 0.9], [0.8, 0.85, 0.75],
                   diverged={(N.RAW, 1): 40})
    assert not N.check_mlp_smoother(div, 0.1)[0] and not N.check_mlp_lower(div, 0.1)[0]
    # one seed: no standard error, no verdict
    assert not N.check_mlp_smoother(mlp_recs([0.1], [0.3]), 0.1)[0]


# -- the --quick run -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(store, tmp_path_factory):
    # 2 datasets × 2 inputs (GD paths) + 2 η × 3 seeds × 2 inputs (MLP runs)
    return assert_arms_independent("input_normalisation", store, tmp_path_factory, min_items=16)[1]


def test_quick_run_verdicts_recomputed_from_the_stored_records(run):
    cfg = run.stored["config"]
    recs = run.records
    expected = {"29a": N.check_quad_faster(recs)[0], "29b": N.check_quad_smoother(recs, N.RULES[0])[0],
                "29c": N.check_quad_smoother(recs, N.RULES[1])[0], "29d": N.check_quad_straighter(recs)[0]}
    letters = iter("efghij")
    for lr in cfg["lrs"]:
        expected[f"29{next(letters)}"] = N.check_mlp_smoother(recs, lr)[0]
        expected[f"29{next(letters)}"] = N.check_mlp_lower(recs, lr)[0]
    assert {c["id"]: c["holds"] for c in run.stored["claims"]} == expected
    assert {"contours", "descent_2d", "mlp_inputs"} <= run.figures


def test_quick_run_records_are_complete_and_consistent(run):
    cfg = run.stored["config"]
    q = [r for r in run.records if r["part"] == "quad"]
    assert len(q) == cfg["datasets"] * 2 * len(N.RULES)
    for r in q:
        ev = r["eigenvalues"]
        assert r["kappa"] == pytest.approx(ev[-1] / ev[0])
        if r["steps"] is not None:
            assert r["steps"] <= r["bound"]
        if r["inputs"] == N.STANDARDISED:
            np.testing.assert_allclose(r["feature_means"], 0.0, atol=1e-9)
            np.testing.assert_allclose(r["feature_stds"], 1.0, atol=1e-9)
    m = [r for r in run.records if r["part"] == "mlp"]
    assert len(m) == len(cfg["lrs"]) * cfg["seeds"] * 2
    for r in m:
        if r["diverged"] is None:
            assert len(r["losses"]) == cfg["iterations"] and len(r["cos"]) == cfg["iterations"] - 1
            assert r["mean_cos"] == pytest.approx(np.mean(r["cos"]))
            assert r["tail_loss"] == pytest.approx(np.mean(r["losses"][-cfg["tail"]:]))
