"""Claim 23 (L1 vs L2): the measurements on hand-made weights, the verdict functions on synthetic records both
ways, and a --quick run whose stored verdicts are recomputed from its stored records (none is pinned)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab import nn
from layerlab.lab.experiments import regularization as R
from lab_quick import PNG, assert_arms_independent


# -- the measurements -------------------------------------------------------------------------------------------
def test_penalised_are_the_weight_matrices_as_l1_penalty_takes_them():
    model = R.net(8, np.random.default_rng(0))
    ws = R.penalised(model)
    assert [p.data.shape for p in ws] == [(8, 40), (8, 8), (10, 8)]
    total = sum(float(np.abs(p.data).sum()) for p in ws)
    assert float(nn.l1_penalty(model).item()) == pytest.approx(total, rel=1e-5)


def test_matched_l1_equalises_the_penalties_at_init():
    model = R.net(16, np.random.default_rng(1))
    l1 = R.matched_l1(model, 1e-3)
    assert l1 * float(nn.l1_penalty(model).item()) == pytest.approx(1e-3 * float(nn.l2_penalty(model).item()),
                                                                   rel=1e-5)
    zero = R.net(4, np.random.default_rng(0))
    for p in R.penalised(zero):
        p.data[...] = 0
    with pytest.raises(ValueError, match="matched_l1"):
        R.matched_l1(zero, 1e-3)


def test_weight_stats_by_hand():
    w1 = np.array([[0.0, 1e-4, -0.5, 2.0]])        # σ₀ = 1: threshold 1e-3 → 0 and 1e-4 are near zero
    w2 = np.array([[0.005, -0.02]])                 # σ₀ = 10: threshold 1e-2 → 0.005 near zero
    st = R.weight_stats([w1, w2], [1.0, 10.0])
    assert st["weights"] == 6 and st["near zero"] == pytest.approx(3 / 6) and st["exactly zero"] == pytest.approx(1 / 6)
    assert st["rms"] == pytest.approx(math.sqrt((1e-8 + 0.25 + 4 + 0.005 ** 2 + 0.02 ** 2) / 6))
    assert st["rms / σ₀"] == pytest.approx(math.sqrt((1e-8 + 0.25 + 4 + 0.0005 ** 2 + 0.002 ** 2) / 6))


def test_optimizer_decays_only_the_weights():
    model = R.net(4, np.random.default_rng(0))
    opt = R.optimizer(model, "sgd", 0.1, 0.5)
    decayed = [g for g in opt.param_groups if g["weight_decay"] == 0.5]
    assert len(decayed) == 1 and all(p.data.ndim == 2 for p in decayed[0]["params"])
    assert all(p.data.ndim == 1 for g in opt.param_groups if g["weight_decay"] == 0 for p in g["params"])
    with pytest.raises(ValueError, match="sgd"):
        R.optimizer(model, "rmsprop", 0.1)


# -- the verdicts, on synthetic records both ways ---------------------------------------------------------------
def _row(penalty, seed, near, zero=0.0, rms=0.2, l2=1e-3, opt="SGD", diverged=None):
    return {"penalty": penalty, "optimiser": opt, "λ₂ (matched)": None if penalty == "none" else l2, "seed": seed,
            "near zero": near, "exactly zero": zero, "rms": rms, "diverged at": diverged}


def test_most_near_zero_both_ways():
    rows = [_row("L1", 0, 0.8), _row("L1", 1, 0.7), _row("L1", 0, 0.2, l2=1e-4), _row("L1", 1, 0.3, l2=1e-4)]
    assert R.most_near_zero(rows, 1e-3) and not R.most_near_zero(rows, 1e-4)
    assert not R.most_near_zero(rows, 1e-3, "Adam")                       # no such runs
    assert not R.most_near_zero([_row("L1", 0, 0.5), _row("L1", 1, 0.5)], 1e-3)   # exactly half is not "most"
    assert not R.most_near_zero([_row("L1", 0, 0.9, diverged=12)], 1e-3)  # a diverged run is no evidence


def test_l2_smaller_both_ways():
    rows = [_row("none", s, 0.0, rms=r) for s, r in enumerate((0.20, 0.21, 0.22))]
    small = rows + [_row("L2", s, 0.0, rms=r) for s, r in enumerate((0.15, 0.155, 0.17))]
    assert R.l2_smaller(small, 1e-3)["holds"]
    noisy = rows + [_row("L2", s, 0.0, rms=r) for s, r in enumerate((0.15, 0.25, 0.21))]
    assert not R.l2_smaller(noisy, 1e-3)["holds"]


def test_l1_sparser_both_ways():
    l2 = [_row("L2", s, v) for s, v in enumerate((0.01, 0.02, 0.01))]
    assert R.l1_sparser(l2 + [_row("L1", s, v) for s, v in enumerate((0.6, 0.65, 0.62))], 1e-3)["holds"]
    assert not R.l1_sparser(l2 + [_row("L1", s, v) for s, v in enumerate((0.01, 0.03, 0.00))], 1e-3)["holds"]


def test_most_exactly_zero_both_ways():
    assert R.most_exactly_zero([_row("L1", 0, 0.9, zero=0.6), _row("L1", 1, 0.9, zero=0.7)], 1e-3)
    assert not R.most_exactly_zero([_row("L1", 0, 0.9, zero=0.0), _row("L1", 1, 0.9, zero=0.0)], 1e-3)


def test_verdicts_keys():
    rows = [_row("L1", 0, 0.9, l2=l2) for l2 in (1e-4, 1e-3)] + [_row("L2", 0, 0.0), _row("none", 0, 0.0)] \
        + [_row("L1", 0, 0.1, opt="Adam")]
    v = R.verdicts(rows, [1e-4, 1e-3], 1e-3)
    assert v == {"23a1": True, "23a2": True, "23b": False, "23c": False, "23d": False, "23e": False}


# -- the experiment, --quick, through the runner ----------------------------------------------------------------
@pytest.fixture(scope="module")
def experiment_run(store, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # MNIST-1D is generated into a temporary cache
        mp.setenv("LAYERLAB_DATA", str(tmp_path_factory.mktemp("data")))
        _, r = assert_arms_independent("l1_vs_l2", store, tmp_path_factory, min_items=10)
    return r.outcome, r.out


def test_quick_run_verdicts_recomputed_from_records(experiment_run):
    outcome, out = experiment_run
    assert outcome.ok, outcome.error
    cfg = R.RegularizationConfig(**R.RegularizationConfig.QUICK)
    claims = {c.id: c for c in outcome.claims}
    l2s = sorted(cfg.l2s)
    assert sorted(claims) == sorted([f"23a{i}" for i in range(1, len(l2s) + 1)] + ["23b", "23c", "23d", "23e"])
    rows = outcome.data["records"]["runs"]
    assert {k: c.holds for k, c in claims.items()} == R.verdicts(rows, l2s, cfg.main)
    # complete: per seed, no penalty + (L2, L1) per strength with SGD, and the three Adam runs
    assert len(rows) == cfg.seeds * (1 + 2 * len(l2s) + 3)
    for r in rows:
        assert 0.0 <= r["exactly zero"] <= r["near zero"] <= 1.0
        assert (r["λ₁"] > 0) == (r["penalty"] == "L1") and (r["λ₂ used"] > 0) == (r["penalty"] == "L2")
    b = R.l2_smaller(rows, cfg.main)
    assert f"{b['diff']:+.4f}" in claims["23b"].measured


def test_quick_run_figures_exist(experiment_run):
    outcome, out = experiment_run
    names = {f["name"] for f in outcome.data["figures"]}
    assert names == {"histograms", "sparsity"}
    for n in names:
        assert (out / f"{n}.png").read_bytes().startswith(PNG)
    assert all(c.figure in names for c in outcome.claims)
