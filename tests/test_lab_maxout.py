"""Claim 22 (maxout): the constructions and the parameter count (arithmetic, pinned), the verdict functions on
synthetic records both ways, and a --quick run whose stored verdicts are recomputed from its stored records (no
verdict of a training run is pinned)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import layerlab as ll
from layerlab import nn
from layerlab.lab.experiments import maxout as M
from lab_quick import PNG, assert_arms_independent


def _fwd(module, x):
    with ll.no_grad():
        return module(ll.Tensor(x)).data


# -- arithmetic ------------------------------------------------------------------------------------------------------
def test_gamma_and_rounding_bound():
    assert M.gamma(1) == pytest.approx(2.0 ** -24, rel=1e-6)
    assert M.gamma(10) > 10 * 2.0 ** -24
    x = np.array([[1.0, -2.0], [0.0, 0.0]])
    b = M.rounding_bound([0.5, 0.25], -1.0, x)
    k = 2 * M.gamma(3) + 2 * M.U32
    np.testing.assert_allclose(b, [k * (0.5 + 0.5 + 1.0), k * 1.0])


def test_relu_construction_is_exact_on_representable_values():
    """max(0ᵀx + 0, wᵀx + b) = ReLU(wᵀx + b); with small-integer data there is no rounding at all."""
    unit = M.relu_maxout(np.array([1.0, -2.0], np.float32), 0.5)
    assert unit.pieces == 2 and unit.weight.data.dtype == np.float32
    np.testing.assert_array_equal(unit.weight.data, [[0, 0], [1, -2]])
    x = np.array([[1, 0], [0, 1], [3, 1], [-1, -1]], np.float32)
    np.testing.assert_array_equal(_fwd(unit, x)[:, 0], np.maximum(x @ [1, -2] + 0.5, 0))
    assert M.relu_maxout(np.ones(3, np.float32), 0.0).num_parameters() == 2 * (3 + 1)


def test_leaky_and_abs_constructions():
    unit = M.leaky_maxout(np.array([2.0], np.float32), -1.0, 0.25)
    x = np.array([[-2.0], [0.0], [0.5], [3.0]], np.float32)
    z = 2 * x[:, 0] - 1
    np.testing.assert_array_equal(_fwd(unit, x)[:, 0], np.where(z > 0, z, 0.25 * z))
    np.testing.assert_array_equal(_fwd(M.abs_maxout(), x)[:, 0], 0.5 * np.abs(x[:, 0]))  # the notes' max(0.5x, −0.5x)
    with pytest.raises(ValueError, match="α"):
        M.leaky_maxout(np.ones(1, np.float32), 0.0, 1.5)  # max(z, 1.5z) is not leaky ReLU


def test_construction_within_the_bound_on_random_inputs():
    rng = np.random.default_rng(3)
    w = rng.standard_normal(50).astype(np.float32)
    x = rng.standard_normal((500, 50)).astype(np.float32)
    lin = nn.Linear(50, 1)
    lin.weight.data[...] = w
    ref = _fwd(nn.LeakyReLU(0.01), _fwd(lin, x))
    out = _fwd(M.leaky_maxout(w, 0.0, 0.01), x)
    assert M.construction_ratio(out, ref, M.rounding_bound(w, 0.0, x)) <= 1.0


def test_construction_ratio_edge_cases():
    assert M.construction_ratio([1.0, 2.0], [1.0, 2.0], [0.0, 0.0]) == 0.0
    assert M.construction_ratio([1.0, 2.5], [1.0, 2.0], [1.0, 0.25]) == 2.0
    assert M.construction_ratio([1.0], [0.0], [0.0]) == math.inf


def test_fit_tolerance():
    assert M.fit_tolerance([-0.5, 2.0]) == M.FIT_ULPS * 2.0 ** -23 * 2.0


def test_parameter_counts_are_k_times():
    for i, o, k in [(1, 1, 2), (784, 500, 2), (500, 500, 3), (10, 3, 7)]:
        r = M.parameter_counts(i, o, k)
        assert r["Maxout parameters"] == k * (i * o + o) and r["Linear parameters"] == i * o + o
        assert r["ratio"] == k


def test_matched_width_is_the_closest_parameter_count():
    hm = M.matched_width(40, 10, 128, 2)
    relu = M.relu_net(40, 128, 10, np.random.default_rng(0)).num_parameters()
    assert relu == 23050

    def mo(h):
        return M.maxout_net(40, h, 10, 2, np.random.default_rng(0)).num_parameters()

    assert hm == 86 and mo(hm) == 22886
    assert all(abs(mo(hm) - relu) <= abs(mo(h) - relu) for h in (hm - 1, hm + 1))
    assert M.relu_net(40, 128, 10, np.random.default_rng(0), p=0.5).num_parameters() == relu  # dropout adds none


# -- the verdicts, on synthetic records both ways ---------------------------------------------------------------------
def test_construction_verdict_both_ways():
    assert M.construction_verdict([{"max error / bound": 0.0}, {"max error / bound": 1.0}])
    assert not M.construction_verdict([{"max error / bound": 0.0}, {"max error / bound": 1.01}])
    assert not M.construction_verdict([])


def test_fit_verdict_both_ways():
    good = [{"max |error|": 8e-7, "tolerance": 1.9e-6}, {"max |error|": 1.9e-6, "tolerance": 1.9e-6}]
    assert M.fit_verdict(good)
    assert not M.fit_verdict(good + [{"max |error|": 0.5, "tolerance": 1.9e-6}])    # one seed stuck
    assert not M.fit_verdict([{"max |error|": float("nan"), "tolerance": 1.9e-6}])  # a diverged fit
    assert not M.fit_verdict([])


def test_counts_verdict_both_ways():
    assert M.counts_verdict([{"k": 2, "Maxout parameters": 10, "Linear parameters": 5}])
    assert not M.counts_verdict([{"k": 2, "Maxout parameters": 11, "Linear parameters": 5}])


def _runs(acc: dict) -> list[dict]:
    return [{"network": net, "seed": s, "test accuracy": v} for net, vals in acc.items() for s, v in enumerate(vals)]


def test_lead_verdict_both_ways():
    rows = _runs({"maxout": [0.70, 0.71, 0.72], "ReLU": [0.60, 0.62, 0.61], "ReLU + dropout": [0.71, 0.70, 0.73]})
    r = M.lead_verdict(rows, "maxout", "ReLU")
    assert r["beyond"] and r["diff"] == pytest.approx(0.1) and r["seeds_ahead"] == 3
    assert not M.lead_verdict(rows, "maxout", "ReLU + dropout")["beyond"]   # −0.01 ± noise
    assert not M.lead_verdict(rows, "ReLU", "maxout")["beyond"]             # the other way round


def test_verdicts_from_a_records_dict():
    rec = {"construction (22a)": [{"max error / bound": 0.1}],
           "fitted (22b)": [{"max |error|": 1.0, "tolerance": 1e-6}],
           "parameters (22c)": [{"k": 3, "Maxout parameters": 30, "Linear parameters": 10}],
           "comparison (22d, 22e)": _runs({"maxout": [0.5, 0.52], "ReLU": [0.4, 0.41],
                                           "ReLU + dropout": [0.6, 0.7]})}
    assert M.verdicts(rec) == {"22a": True, "22b": False, "22c": True, "22d": True, "22e": False}


# -- the experiment, --quick, through the runner ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def experiment_run(store, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # MNIST-1D is generated into a temporary cache
        mp.setenv("LAYERLAB_DATA", str(tmp_path_factory.mktemp("data")))
        # 2 targets × 2 fit seeds and 2 seeds × 3 networks through ctx.map
        _, r = assert_arms_independent("maxout", store, tmp_path_factory, figureless=("22c",), min_items=10)
    return r.outcome, r.out


def test_quick_run_verdicts_recomputed_from_records(experiment_run):
    outcome, out = experiment_run
    assert outcome.ok, outcome.error
    claims = {c.id: c for c in outcome.claims}
    assert sorted(claims) == ["22a", "22b", "22c", "22d", "22e"]
    records = outcome.data["records"]
    assert {k: claims[k].holds for k in claims} == M.verdicts(records)
    # the records are complete: three constructions, every fit, the three networks on every seed
    assert len(records["construction (22a)"]) == 3
    cfg = M.MaxoutConfig(**M.MaxoutConfig.QUICK)
    assert len(records["fitted (22b)"]) == 2 * cfg.fit_seeds
    runs = records["comparison (22d, 22e)"]
    assert sorted({r["network"] for r in runs}) == ["ReLU", "ReLU + dropout", "maxout"]
    assert len(runs) == 3 * cfg.seeds
    params = {r["network"]: r["parameters"] for r in runs}
    assert params["ReLU"] == params["ReLU + dropout"]
    assert abs(params["maxout"] - params["ReLU"]) / params["ReLU"] < 0.05   # the matched budget
    # arithmetic claim: pinned
    assert claims["22c"].holds
    lead = M.lead_verdict(runs, "maxout", "ReLU")
    assert f"{lead['diff']:+.4f}" in claims["22d"].measured


def test_quick_run_figures_exist(experiment_run):
    outcome, out = experiment_run
    names = {f["name"] for f in outcome.data["figures"]}
    assert names == {"units", "fit", "accuracy"}
    for n in names:
        assert (out / f"{n}.png").read_bytes().startswith(PNG)
    assert all(c.figure is None or c.figure in names for c in outcome.claims)
