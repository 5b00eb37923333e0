"""Claim 26 (losses): the gradient identities (pinned arithmetic), the verdict functions on synthetic records
both ways, and a --quick run whose stored verdicts are recomputed from its stored records (none is pinned)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab import Tensor, nn
from layerlab.lab.experiments import losses as L
from lab_quick import assert_arms_independent


# -- the gradient identities (arithmetic) --------------------------------------------------------------------------
@pytest.mark.parametrize("z0", [-9.0, -6.0, -1.0, 0.0, 2.5])
@pytest.mark.parametrize("y", [0.0, 1.0])
def test_cross_entropy_through_a_sigmoid_has_gradient_p_minus_y(z0, y):
    z = nn.Parameter(np.array([z0], dtype=np.float64))
    nn.BCELoss()(z.sigmoid(), Tensor(np.array([y]))).backward()
    p = 1 / (1 + math.exp(-z0))
    assert z.grad[0] == pytest.approx(p - y, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("z0", [-9.0, -6.0, -1.0, 0.0, 2.5])
@pytest.mark.parametrize("y", [0.0, 1.0])
def test_euclidean_through_a_sigmoid_has_gradient_scaled_by_sigma_prime(z0, y):
    z = nn.Parameter(np.array([z0], dtype=np.float64))
    nn.EuclideanLoss()(z.sigmoid(), Tensor(np.array([y]))).backward()
    p = 1 / (1 + math.exp(-z0))
    assert z.grad[0] == pytest.approx((p - y) * p * (1 - p), rel=1e-6, abs=1e-15)


def test_gd_steps_to_half_by_hand():
    """Cross-entropy from z₀ = −1, η = 1: z₁ = −1 + (1 − σ(−1)) = −0.269 (p < ½), z₂ = z₁ + 1 − σ(z₁) > 0."""
    steps, reached, ps = L.gd_steps_to_half("cross_entropy", -1.0, 1.0, 100)
    assert (steps, reached) == (2, True) and len(ps) == 3 and ps[1] < 0.5 < ps[2]
    steps, reached, ps = L.gd_steps_to_half("euclidean", -6.0, 1.0, 10)
    assert (steps, reached) == (10, False) and ps.max() < 0.5


def test_l1_loss_and_pull():
    out, y = Tensor(np.array([[1.0], [-2.0]])), Tensor(np.array([[0.0], [0.0]]))
    assert L.l1_loss(out, y).item() == pytest.approx(1.5)
    assert L.outlier_pull(1.5, 2.0) == pytest.approx(0.25) and L.outlier_pull(2.5, 2.0) == pytest.approx(0.25)


# -- the verdicts on synthetic records, both ways --------------------------------------------------------------------
def fits(scenario, pulls_per_seed):
    return [{"part": "fit", "scenario": scenario, "seed": s, "loss": loss, "pull": p}
            for s, pulls in enumerate(pulls_per_seed) for loss, p in zip(L.LOSSES, pulls)]


def test_check_pull_both_ways():
    holds, worst = L.check_pull(fits("far", [(0.9, 0.1, 0.05), (0.7, 0.2, 0.3)]), "far")
    assert holds and worst == pytest.approx(0.7 / 0.3)
    # one seed where Huber is pulled as much as the Euclidean fit breaks it
    holds, worst = L.check_pull(fits("far", [(0.9, 0.1, 0.05), (0.07, 0.07, 0.03)]), "far")
    assert not holds and worst == pytest.approx(1.0)
    # just below the factor
    assert not L.check_pull(fits("x", [(0.199, 0.1, 0.01)]), "x")[0]
    assert L.check_pull(fits("x", [(0.2, 0.1, 0.01)]), "x")[0]
    # other scenarios are ignored; a missing loss or no records is no evidence
    recs = fits("far", [(0.9, 0.1, 0.05)]) + fits("near", [(0.1, 0.1, 0.1)])
    assert L.check_pull(recs, "far")[0] and not L.check_pull(recs, "near")[0]
    assert not L.check_pull(fits("far", [(0.9, 0.1, 0.05)])[:2], "far")[0]
    assert not L.check_pull([], "far")[0]


def sat(z0, ce, eu, eu_reached=True, ce_reached=True):
    return [{"part": "saturation", "z0": z0, "loss": "cross_entropy", "steps": ce, "reached": ce_reached},
            {"part": "saturation", "z0": z0, "loss": "euclidean", "steps": eu, "reached": eu_reached}]


def test_check_saturation_both_ways():
    recs = sat(-6.0, 7, 426) + sat(-1.0, 2, 7)
    assert L.check_saturation(recs, -6.0) == (True, pytest.approx(426 / 7))
    assert L.check_saturation(recs, -1.0) == (False, pytest.approx(3.5))
    assert L.check_saturation(sat(-6.0, 10, 100), -6.0)[0] and not L.check_saturation(sat(-6.0, 10, 99), -6.0)[0]
    # a Euclidean run that never got there counts with its budget (a lower bound)
    assert L.check_saturation(sat(-9.0, 10, 5000, eu_reached=False), -9.0)[0]
    # cross-entropy must have got there; a missing start is no evidence
    assert not L.check_saturation(sat(-9.0, 5000, 5000, False, False), -9.0)[0]
    assert not L.check_saturation(recs, -3.0)[0]


# -- the --quick run -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(store, tmp_path_factory):
    # 2 scenarios × 2 seeds × 3 losses (fits) + 2 logits × 2 losses (saturation)
    return assert_arms_independent("loss_functions", store, tmp_path_factory, min_items=16)[1]


def test_quick_run_verdicts_recomputed_from_the_stored_records(run):
    cfg = run.stored["config"]
    recs = run.records
    expected = {"26a": L.check_pull(recs, "far")[0], "26b": L.check_pull(recs, "near")[0],
                "26c": L.check_saturation(recs, cfg["saturated"])[0],
                "26d": L.check_saturation(recs, cfg["unsaturated"])[0]}
    assert {c["id"]: c["holds"] for c in run.stored["claims"]} == expected
    assert {"outlier_fits", "outlier_pull", "saturation"} <= run.figures


def test_quick_run_records_are_complete_and_consistent(run):
    cfg = run.stored["config"]
    fit = [r for r in run.records if r["part"] == "fit"]
    assert len(fit) == 2 * cfg["seeds"] * len(L.LOSSES)
    for r in fit:
        assert r["pull"] == pytest.approx(L.outlier_pull(r["slope"], r["clean_slope"]))
    sat_recs = [r for r in run.records if r["part"] == "saturation"]
    assert sorted({r["z0"] for r in sat_recs}) == sorted(cfg["logits"])
    assert {cfg["saturated"], cfg["unsaturated"]} <= set(cfg["logits"])
