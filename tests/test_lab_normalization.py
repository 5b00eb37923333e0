"""Claims 11 (batch norm) and 12 (batch norm vs layer norm at batch size 1): the measurements on hand-checked
cases, the verdict functions on synthetic records both ways, and a --quick run of each experiment whose verdicts are
recomputed from its own records (no verdict of a training run is pinned; 12a's x̂ = 0 is arithmetic)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab import nn
from layerlab.lab.experiments import normalization as N
from layerlab.lab.stats import much_faster
from lab_quick import assert_arms_independent
from layerlab.tensor import Tensor, no_grad


# -- the formula and the measurements -------------------------------------------------------------------------
def test_batch_statistics_xhat_at_batch_one_is_exactly_zero():
    a = np.array([[3.0, -1.5, 1e4]], dtype=np.float32)
    xh = N.batch_statistics_xhat(a)
    assert xh.dtype == np.float32 and np.array_equal(xh, np.zeros_like(a))


def test_batch_statistics_xhat_at_batch_two_keeps_only_the_sign():
    a = np.array([[1.0, 5.0], [3.0, 5.001]])
    # μ = midpoint, σ² = (d/2)², x̂ = ±(d/2)/√((d/2)² + ε)
    d = np.array([2.0, 0.001]) / 2
    expect = np.array([-d, d]) / np.sqrt(d ** 2 + 1e-5)
    np.testing.assert_allclose(N.batch_statistics_xhat(a), expect, rtol=1e-9)  # 5.001 − 5 is inexact


def test_formula_matches_layerlab_batchnorm_in_training_mode():
    a = np.random.default_rng(0).standard_normal((16, 7)).astype(np.float32)
    bn = nn.BatchNorm(7)
    with no_grad():
        out = bn(Tensor(a)).data  # γ = 1, β = 0
    np.testing.assert_allclose(out, N.batch_statistics_xhat(a), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="BatchNorm"):  # and refuses a batch of one, as claim 12 reports
        bn(Tensor(a[:1]))


def test_percentile_drift():
    band = {"steps": [0, 10, 20], "p15": [0.2, 0.25, 0.1], "p50": [0.5, 0.5, 0.55], "p85": [0.8, 0.8, 0.8]}
    assert N.percentile_drift(band) == pytest.approx(0.1)       # p15 moved from 0.2 to 0.1
    assert N.percentile_drift({"steps": [0], "p15": [1.0], "p50": [2.0], "p85": [3.0]}) == 0.0
    assert math.isnan(N.percentile_drift({"steps": [], "p15": [], "p50": [], "p85": []}))


def test_input_drift_threshold_is_the_output_threshold_through_the_sigmoid():
    """σ is increasing (percentiles commute with it) and σ′ ≤ 1/4: an input percentile moving by < 0.4 moves the
    output percentile by < 0.1; a move of 0.4 at the steepest point moves it by almost exactly 0.1."""
    assert N.INPUT_DRIFT == pytest.approx(0.4) and N.STABLE_DRIFT == 0.1
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    x = np.random.default_rng(0).standard_normal(10_001)
    np.testing.assert_allclose(np.percentile(sig(x), [15, 50, 85]), sig(np.percentile(x, [15, 50, 85])), atol=1e-4)
    grid = np.linspace(-8, 8, 20001)
    assert np.max(np.abs(sig(grid + N.INPUT_DRIFT) - sig(grid))) <= N.STABLE_DRIFT
    assert sig(0.2) - sig(-0.2) == pytest.approx(N.STABLE_DRIFT, rel=0.01)


# -- claim 11's verdicts, on synthetic records both ways ---------------------------------------------------------------
def _faster_row(steps_bn, steps_plain, diverged=False, ends_above=False):
    return {"η": 0.1, "level": 2.3, "steps BN": steps_bn, "steps no BN": steps_plain,
            "ratio": 0.0 if steps_bn is None else (steps_plain + 1) / (steps_bn + 1), "BN diverged": diverged,
            "BN ends above": ends_above}


def test_faster_verdict_both_ways():
    assert N.faster_holds(_faster_row(9, 19))               # 20/10: exactly half the steps
    assert not N.faster_holds(_faster_row(10, 19))          # 20/11 < 2
    assert not N.faster_holds(_faster_row(None, 19))        # BN never reached the level
    assert not N.faster_holds(_faster_row(1, 200, diverged=True))   # a diverged BN run is no evidence
    assert not N.faster_holds(_faster_row(1, 200, ends_above=True))  # got there, then climbed back above
    assert N.faster_verdict([_faster_row(1, 100), _faster_row(4, 50)])
    assert not N.faster_verdict([_faster_row(1, 100), _faster_row(40, 50)])   # every η must hold
    assert not N.faster_verdict([])


def _dist_rows(bn, plain, diverged=None):
    """{layer: input drift} per network -> rows of the "distributions" table (one η)."""
    return ([{"network": "BN", "η": 0.5, "layer": h, "input drift": v, "output drift": v / 4, "diverged at": diverged}
             for h, v in bn.items()]
            + [{"network": "no BN", "η": 0.5, "layer": h, "input drift": v, "output drift": v / 4, "diverged at": None}
               for h, v in plain.items()])


def test_stable_and_drift_verdicts_both_ways():
    rows = _dist_rows({"h1": 0.02, "h4": 0.07, "h7": 0.39}, {"h1": 0.5, "h4": 0.9, "h7": 1.2})
    assert N.stable_verdict(rows) and N.drift_verdict(rows)
    rows = _dist_rows({"h1": 0.02, "h4": 0.07, "h7": 0.4}, {"h1": 0.001, "h4": 0.9, "h7": 1.2})
    assert not N.stable_verdict(rows)                 # h7 moved by the threshold itself
    assert not N.drift_verdict(rows)                  # h1 did not drift without BN
    rows = _dist_rows({"h1": 0.02}, {"h1": 0.5}, diverged=40)
    assert not N.stable_verdict(rows)                 # a diverged BN run cannot show stability
    # the output view is a different column: the same rows judged on h = σ(·) with its own threshold
    rows = _dist_rows({"h1": 0.3}, {"h1": 0.3})
    assert N.stable_verdict(rows) and not N.stable_verdict(rows, key="output drift", threshold=0.05)


def _scale_rows(bn, plain, diverged=()):
    """{seed: [final loss per scale]} per network -> rows of the "initial scale" table; ``diverged``: (network, seed,
    scale index) of runs that diverged."""
    rows = []
    for net, per_seed in (("BN", bn), ("no BN", plain)):
        for seed, losses in per_seed.items():
            for i, (c, v) in enumerate(zip((0.01, 0.1, 1.0), losses)):
                dv = 17 if (net, seed, i) in diverged else None
                rows.append({"seed": seed, "W std": c, "network": net, "first loss": 2.4,
                             "final loss": math.nan if dv else v, "diverged at": dv})
    return rows


def test_scale_sensitivity_one_seed():
    rows = _scale_rows({0: [0.6, 0.55, 0.7]}, {0: [2.3, 2.3, 1.0]})
    spread, worst = N.scale_sensitivity(rows, "spread"), N.scale_sensitivity(rows, "worst")
    assert spread["holds"] and spread["BN"] == [pytest.approx(0.15)] and spread["no BN"] == [pytest.approx(1.3)]
    assert worst["holds"] and worst["BN"] == [0.7] and worst["no BN"] == [2.3]
    assert math.isnan(spread["se"])
    rows = _scale_rows({0: [0.6, 0.55, 1.9]}, {0: [2.3, 2.3, 2.2]})   # BN's spread 1.35 > no BN's 0.1
    assert not N.scale_sensitivity(rows, "spread")["holds"] and N.scale_sensitivity(rows, "worst")["holds"]


def test_scale_sensitivity_over_seeds_needs_a_lead_beyond_the_noise():
    bn = {0: [0.6, 0.55, 0.70], 1: [0.62, 0.56, 0.72], 2: [0.61, 0.55, 0.71]}
    clear = {0: [2.3, 2.3, 1.0], 1: [2.3, 2.3, 1.05], 2: [2.3, 2.3, 0.98]}
    out = N.scale_sensitivity(_scale_rows(bn, clear), "spread")
    assert out["holds"] and out["seeds"] == [0, 1, 2] and out["diff"] > 2 * out["se"]
    noisy = {0: [0.6, 0.9, 0.6], 1: [0.6, 0.6, 0.6], 2: [0.6, 0.75, 0.6]}   # leads of 0.15, −0.16, −0.01
    out = N.scale_sensitivity(_scale_rows(bn, noisy), "spread")
    assert not out["holds"]


def test_scale_sensitivity_counts_a_diverged_run_against_its_network():
    bn = {0: [0.6, 0.55, 0.7], 1: [0.6, 0.56, 0.7]}
    plain = {0: [2.3, 2.3, 1.0], 1: [2.3, 2.3, 1.0]}
    out = N.scale_sensitivity(_scale_rows(bn, plain, diverged={("BN", 1, 2)}), "spread")
    assert not out["holds"] and out["BN"][1] == math.inf      # a diverged BN run: BN fails, visibly
    out = N.scale_sensitivity(_scale_rows(bn, plain, diverged={("no BN", 0, 2)}), "worst")
    assert out["holds"] and out["no BN"][0] == math.inf       # a diverged plain run: the plain network fails
    with pytest.raises(ValueError, match="measure"):
        N.scale_sensitivity([], "median")


@pytest.mark.parametrize("norm, kinds", [(None, [nn.Linear, nn.Sigmoid, nn.Linear]),
                                         ("batch", [nn.Linear, nn.BatchNorm, nn.Sigmoid, nn.Linear]),
                                         ("layer", [nn.Linear, nn.LayerNorm, nn.Sigmoid, nn.Linear])])
def test_norm_mlp_layers_and_init(norm, kinds):
    model = N.norm_mlp([300, 200, 10], "sigmoid", 0.1, np.random.default_rng(0), norm=norm)
    assert [type(m) for m in model] == kinds
    assert model[0].weight.data.std() == pytest.approx(0.1, rel=0.02) and not model[0].bias.data.any()


def test_norm_mlp_rejects_an_unknown_norm():
    with pytest.raises(ValueError, match="norm_mlp"):
        N.norm_mlp([4, 3, 2], "sigmoid", 0.1, np.random.default_rng(0), norm="group")


def test_fixed_batch_percentiles_are_the_layers_and_leave_running_stats_alone():
    rng = np.random.default_rng(1)
    model = N.norm_mlp([6, 5, 5, 3], "sigmoid", 0.5, rng, norm="batch")
    x = rng.standard_normal((40, 6)).astype(np.float32)
    watch = N._watched(model, 2)
    assert watch == {"2": "h1"}  # depth 2: only h1 of (1, 4, 7) exists

    class _T:  # the two attributes of a Trainer the callback reads
        step = 0

    t = _T()
    t.model = model
    cb = N._FixedBatchPercentiles(x, watch, every=1)
    before = {k: np.array(v, copy=True) for k, v in model.state_dict().items()}
    cb.on_fit_start(t)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    with no_grad():
        h1 = model[2](model[1](model[0](Tensor(x)))).data.ravel()  # training mode: the batch's statistics
    bands = cb.bands("post")["h1"]
    np.testing.assert_allclose([bands["p15"][0], bands["p50"][0], bands["p85"][0]],
                               np.percentile(h1, [15, 50, 85]), rtol=1e-5)


# -- the experiments, --quick, through the runner ------------------------------------------------------------------
#: items through ctx.map in each --quick run: the distinct (η, W std, seed, network) runs; the 2 batch-size-1 nets
_QUICK_ITEMS = {"batch_norm": 8, "norm_batch_one": 2}


def _run(name, store, tmp_path_factory):
    _, r = assert_arms_independent(name, store, tmp_path_factory, min_items=_QUICK_ITEMS[name])
    return r.claims, r.outcome.data["records"], r.figures, r.outcome.run_id


def test_batch_norm_quick_verdicts_recomputed_from_records(store, tmp_path_factory):
    """Every stored verdict of the --quick run follows from its stored records (none is pinned), and the "much
    faster" numbers follow from the loss curves the store kept."""
    claims, records, figs, run_id = _run("batch_norm", store, tmp_path_factory)
    assert sorted(claims) == ["11a", "11b", "11c", "11d", "11e"]
    assert figs == {"loss", "distributions", "distributions_post", "init_scale"}
    faster, dist, scale = records["much faster (11a)"], records["distributions (11b, 11c)"], \
        records["initial scale (11d, 11e)"]
    assert claims["11a"].holds is N.faster_verdict(faster)
    assert claims["11b"].holds is N.stable_verdict(dist)
    assert claims["11c"].holds is N.drift_verdict(dist)
    assert claims["11d"].holds is N.scale_sensitivity(scale, "spread")["holds"]
    assert claims["11e"].holds is N.scale_sensitivity(scale, "worst")["holds"]
    # the records are complete: both η, both networks, h1/h4/h7; three scales × both networks per seed
    assert sorted(r["η"] for r in faster) == [0.1, 0.5]
    assert {(r["network"], r["η"], r["layer"]) for r in dist} == {
        (n, lr, h) for n in ("BN", "no BN") for lr in (0.5, 0.1) for h in ("h1", "h4", "h7")}
    assert sorted({r["W std"] for r in scale}) == [0.01, 0.1, 1.0] and len(scale) == 6
    # 11a's numbers are stats.much_faster of the curves in the store, and its text quotes them
    for r in faster:
        bn = store.metrics(run_id, f"BN, η = {r['η']:g}, W std 0.1/loss").values
        plain = store.metrics(run_id, f"no BN, η = {r['η']:g}, W std 0.1/loss").values
        mf = much_faster(bn, plain, window=25)   # the quick variant's tail
        assert (mf["level"], mf["steps_fast"], mf["steps_slow"]) == (pytest.approx(r["level"]), r["steps BN"],
                                                                     r["steps no BN"])
        assert f"ratio {r['ratio']:.1f}" in claims["11a"].measured
    # the same weights at every η, and the scale runs of W std 0.1 are the η = 0.1 runs of 11a–c
    rows = {(r["network"], r["η"]): r for r in records["runs"]}
    assert rows[("BN", 0.5)]["first loss"] == rows[("BN", 0.1)]["first loss"]
    at01 = {r["network"]: r for r in scale if r["W std"] == 0.1}
    assert at01["BN"]["final loss"] == rows[("BN", 0.1)]["mean loss, last 25"]


def test_norm_batch_one_quick(store, tmp_path_factory):
    claims, records, figs, _ = _run("norm_batch_one", store, tmp_path_factory)
    assert sorted(claims) == ["12a", "12b"] and figs == {"xhat", "layernorm_batch1"}
    formula = {r["batch"]: r for r in records["batch-norm formula"]}
    ok_a = formula["1 (example A)"]["max |x̂|"] == 0.0 and formula["1 (example B)"]["max |x̂|"] == 0.0
    assert claims["12a"].holds is ok_a and claims["12a"].holds  # exact: μ = x, σ = 0
    assert "raises ValueError" in claims["12a"].measured  # layerlab refuses a batch of one in training mode
    assert formula["2"]["max |x̂|"] == pytest.approx(1.0, abs=0.01)
    assert formula["1, layer norm"]["std of x̂"] == pytest.approx(1.0, abs=1e-3)
    runs = {r["network"]: r for r in records["batch size 1 training (held-out loss)"]}
    ln = runs["LayerNorm"]
    steps = sorted(int(k.split()[1]) for k in ln if k.startswith("step "))
    assert steps[0] == 0 and steps[-1] == 1500
    first, last = ln["step 0"], ln[f"step {steps[-1]}"]
    assert claims["12b"].holds is bool(ln["diverged at"] is None and last <= N.LN_FALL * first)
    assert f"{first:.3f} → {last:.3f}" in claims["12b"].measured
