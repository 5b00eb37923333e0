"""Claim 35 (gradient clipping): the clipping callback's arithmetic, the verdict functions on synthetic records both
ways, and a --quick run whose stored verdicts are recomputed from its stored records (none is pinned)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from layerlab import nn
from layerlab.lab.experiments import clipping as C
from lab_quick import assert_arms_independent


# -- arithmetic ------------------------------------------------------------------------------------------------------
def test_cosine():
    assert C.cosine([1.0, 0.0], [2.0, 0.0]) == pytest.approx(1.0)
    assert C.cosine([1.0, 0.0], [0.0, 3.0]) == pytest.approx(0.0)
    assert C.cosine([1.0, 1.0], [1.0, 0.0]) == pytest.approx(1 / math.sqrt(2))
    assert math.isnan(C.cosine([0.0, 0.0], [1.0, 0.0]))
    assert math.isnan(C.cosine([np.inf, 0.0], [1.0, 0.0]))


def _model_with_grads(grads):
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False))
    for p, g in zip(model.parameters(), grads):
        p.grad = np.array(g, dtype=np.float32)
    return model


GRADS = [[[30.0, 0.1], [0.2, -0.1]], [[0.3, -0.4]]]  # one component much larger than the others
RAW = np.concatenate([np.ravel(g) for g in GRADS])


@pytest.mark.parametrize("mode, threshold", [("none", None), ("norm", 1.0), ("value", 0.25), ("norm", 100.0)])
def test_gradient_clipper_measures_and_clips(mode, threshold):
    model = _model_with_grads(GRADS)
    clip = C.GradientClipper(mode, threshold)
    clip.on_after_backward(SimpleNamespace(model=model, step=0), 0)
    new = np.concatenate([p.grad.ravel() for p in model.parameters()]).astype(np.float64)
    assert clip.norms == [pytest.approx(float(np.linalg.norm(RAW)), rel=1e-6)]
    assert clip.maxes == [pytest.approx(30.0)]
    if mode == "none" or threshold == 100.0:  # nothing to clip: untouched, cosine 1, not active
        assert np.array_equal(new, RAW.astype(np.float32)) and clip.active == [False] and clip.cos == [1.0]
    elif mode == "norm":  # rescaled to norm c, direction kept
        assert np.linalg.norm(new) == pytest.approx(1.0, rel=1e-5)
        assert clip.active == [True] and clip.cos[0] >= C.KEEPS_DIRECTION
    else:  # every entry into [-v, v]: the big component is flattened, the direction bends
        assert np.abs(new).max() == pytest.approx(0.25) and clip.active == [True]
        expected = np.clip(RAW, -0.25, 0.25)
        assert clip.cos[0] == pytest.approx(C.cosine(expected, RAW), rel=1e-6) and clip.cos[0] < 0.9


def test_gradient_clipper_leaves_a_nonfinite_gradient_alone():
    model = _model_with_grads([[[np.inf, 0.1], [0.2, -0.1]], [[0.3, -0.4]]])
    clip = C.GradientClipper("norm", 1.0)
    clip.on_after_backward(SimpleNamespace(model=model, step=0), 0)
    assert math.isinf(clip.norms[0]) and math.isnan(clip.cos[0]) and clip.active == [False]
    assert np.isinf(next(iter(model.parameters())).grad[0, 0])  # for the NaN guard to see
    with pytest.raises(ValueError, match="mode must be one of"):
        C.GradientClipper("max", 1.0)


# -- the verdicts on synthetic records, both ways ----------------------------------------------------------------------
def run_rec(seed, lr, mode, loss0=2.3, final=0.5, diverged_step=None, active_steps=0, cos_mean=math.nan,
            cos_min=math.nan):
    return {"part": "run", "seed": seed, "lr": lr, "mode": mode, "loss0": loss0, "final": final,
            "diverged_step": diverged_step, "active_steps": active_steps, "cos_mean": cos_mean, "cos_min": cos_min}


def test_run_diverged_and_converged():
    assert not C.run_diverged(run_rec(0, 1.0, "none"))
    assert C.run_diverged(run_rec(0, 1.0, "none", final=math.nan, diverged_step=5))  # non-finite
    assert C.run_diverged(run_rec(0, 1.0, "none", final=2.5))  # above its initial loss
    assert C.run_diverged(run_rec(0, 1.0, "none", final=math.nan))  # a NaN final loss is not below anything
    assert not C.run_diverged(run_rec(0, 1.0, "none", final=2.3))  # at the initial loss: not above it
    assert C.run_converged(run_rec(0, 1.0, "norm", final=C.CONVERGED))
    assert not C.run_converged(run_rec(0, 1.0, "norm", final=C.CONVERGED + 1e-9))
    assert not C.run_converged(run_rec(0, 1.0, "norm", final=0.1, diverged_step=3))  # a diverged run never counts


def test_check_diverges_and_converges_both_ways():
    recs = [run_rec(0, 1.0, "none", final=math.nan, diverged_step=4), run_rec(1, 1.0, "none", final=9.0),
            run_rec(0, 1.0, "norm", final=0.7), run_rec(1, 1.0, "norm", final=0.9),
            run_rec(0, 1.0, "value", final=0.7), run_rec(1, 1.0, "value", final=2.29),
            run_rec(0, 0.5, "none", final=math.nan, diverged_step=4), run_rec(1, 0.5, "none", final=1.4)]
    assert C.check_diverges(recs, 1.0) and not C.check_diverges(recs, 0.5)  # one seed survived at 0.5
    assert C.check_converges(recs, 1.0, "norm") and not C.check_converges(recs, 1.0, "value")
    assert not C.check_diverges(recs, 2.0) and not C.check_converges(recs, 2.0, "norm")  # no runs: no evidence
    assert [r["seed"] for r in C.runs_at(recs, 1.0, "norm")] == [0, 1]


def test_check_direction_both_ways():
    recs = [run_rec(0, 1.0, "norm", active_steps=10, cos_mean=1.0, cos_min=0.9999999),
            run_rec(1, 1.0, "norm", active_steps=0),
            run_rec(0, 1.0, "value", active_steps=3, cos_mean=0.6, cos_min=0.3),
            run_rec(1, 1.0, "value", active_steps=1, cos_mean=0.999, cos_min=0.999),
            run_rec(0, 0.05, "value", active_steps=100, cos_mean=0.998, cos_min=0.99)]
    ok, worst, n = C.check_keeps_direction(recs, [1.0])
    assert ok and worst == pytest.approx(0.9999999) and n == 10
    bent = recs + [run_rec(2, 1.0, "norm", active_steps=2, cos_mean=0.99, cos_min=0.98)]
    assert not C.check_keeps_direction(bent, [1.0])[0]
    ok, mean, n = C.check_changes_direction(recs, [1.0])  # weighted by the steps clipped
    assert ok and mean == pytest.approx((3 * 0.6 + 0.999) / 4) and n == 4
    assert not C.check_changes_direction(recs, [0.05])[0]
    ok, mean, n = C.check_changes_direction(recs, [0.05, 1.0])
    assert ok == (mean < C.CHANGES_DIRECTION) and n == 104
    assert C.check_keeps_direction(recs, [0.05]) == (False, pytest.approx(math.nan, nan_ok=True), 0)  # none clipped
    assert C.check_changes_direction([], [1.0])[0] is False


def material(seed, mode, holds_pair=(False, False)):
    rows = []
    for which, holds in zip((f"{mode} faster", "none faster"), holds_pair):
        rows.append({"part": "material", "seed": seed, "lr": 0.05, "mode": mode, "which": which,
                     "steps_fast": 10 if holds else 300, "steps_slow": 300, "diverged": False, "ends_above": False})
    return rows


def test_check_immaterial_both_ways():
    base = [run_rec(s, 0.05, m, final=0.45) for s in (0, 1) for m in ("none", "norm")]
    assert C.check_immaterial(base + material(0, "norm") + material(1, "norm"), 0.05, "norm")
    assert not C.check_immaterial(base + material(0, "norm", (False, True)) + material(1, "norm"), 0.05, "norm")
    assert not C.check_immaterial(base + material(0, "norm", (True, False)) + material(1, "norm"), 0.05, "norm")
    diverged = [run_rec(0, 0.05, "norm", final=math.nan, diverged_step=9)] + base[:1] + base[2:]
    assert not C.check_immaterial(diverged + material(0, "norm"), 0.05, "norm")
    assert not C.check_immaterial(base, 0.05, "norm")  # no comparison rows: no evidence
    assert not C.check_immaterial(base + material(0, "norm"), 0.05, "value")


# -- the --quick run ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(store, tmp_path_factory):
    # 2 reference runs + 2 seeds × (2 η × 3 modes − the reference)
    return assert_arms_independent("gradient_clipping", store, tmp_path_factory, min_items=12)[1]


def test_quick_run_verdicts_recomputed_from_the_stored_records(run):
    cfg, recs = run.stored["config"], run.records
    lrs = [cfg["small_lr"], *cfg["large_lrs"]]
    expected = {}
    for lr in cfg["large_lrs"]:
        expected[f"35a (η={lr:g})"] = C.check_diverges(recs, lr)
        expected[f"35b (η={lr:g})"] = C.check_converges(recs, lr, "norm")
        expected[f"35c (η={lr:g})"] = C.check_converges(recs, lr, "value")
    expected["35d"] = C.check_keeps_direction(recs, lrs)[0]
    for lr in lrs:
        expected[f"35e (η={lr:g})"] = C.check_changes_direction(recs, [lr])[0]
    expected["35f"] = C.check_immaterial(recs, cfg["small_lr"], "norm")
    expected["35g"] = C.check_immaterial(recs, cfg["small_lr"], "value")
    assert {c["id"]: c["holds"] for c in run.stored["claims"]} == expected
    assert {"loss", "grad_norm", "direction"} <= run.figures


def test_quick_run_records_are_complete_and_consistent(run):
    cfg, recs = run.stored["config"], run.records
    runs = [r for r in recs if r["part"] == "run"]
    assert len(runs) == cfg["seeds"] * 3 * (1 + len(cfg["large_lrs"]))
    thresholds = {r["seed"]: r for r in recs if r["part"] == "threshold"}
    assert sorted(thresholds) == list(range(cfg["seeds"]))
    for r in runs:
        assert r["diverged"] == C.run_diverged(r) and r["converged"] == C.run_converged(r)
        t = thresholds[r["seed"]]
        assert r["threshold"] == {"none": None, "norm": t["clip_norm"], "value": t["clip_value"]}[r["mode"]]
        if r["mode"] == "none":
            assert r["active_steps"] == 0
        assert 0 <= r["active_steps"] <= r["steps"] <= cfg["iterations"]
    # every seed's runs start from the same weights and the same first batch: the same initial loss
    for s in range(cfg["seeds"]):
        assert len({round(r["loss0"], 6) for r in runs if r["seed"] == s}) == 1
