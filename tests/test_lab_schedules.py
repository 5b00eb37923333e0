"""Issue 12, point 6 (schedules, claims 31): the schedules themselves and the scheduled fit (arithmetic, pinned), the
verdict functions on synthetic records both ways, and a --quick run whose stored verdicts are recomputed from its
stored records (no verdict of a training run is pinned)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab import nn, optim
from layerlab.lab.context import Context
from layerlab.lab.experiments import schedules as S
from lab_quick import assert_arms_independent


# -- arithmetic ------------------------------------------------------------------------------------------------------
def test_the_schedules_are_the_stated_formulas():
    T, lr = 100, 0.03
    t = np.arange(T)
    np.testing.assert_allclose(S.schedule_curve("constant", lr, T), np.full(T, lr))
    np.testing.assert_allclose(S.schedule_curve("step", lr, T), lr * S.STEP_GAMMA ** (t // (T // S.STEP_PIECES)))
    exp = S.schedule_curve("exponential", lr, T)
    np.testing.assert_allclose(exp, lr * S.EXP_END ** (t / T), rtol=1e-9)
    np.testing.assert_allclose(S.schedule_curve("cosine", lr, T), 0.5 * lr * (1 + np.cos(np.pi * t / T)), atol=1e-15)
    oc = S.schedule_curve("one-cycle", lr, T)
    assert oc[0] == pytest.approx(lr / S.ONE_CYCLE["div_factor"])
    assert oc.max() == pytest.approx(lr) and int(oc.argmax()) == round(S.ONE_CYCLE["pct_start"] * T) - 1
    assert oc[-1] < lr / S.ONE_CYCLE["div_factor"]
    for name in S.DECAYING:  # every decaying schedule ends below where it starts and below η₀
        c = S.schedule_curve(name, lr, T)
        assert c[-1] < lr and c.max() <= lr * (1 + 1e-12)
    with pytest.raises(ValueError, match="schedule must be one of"):
        S.make_scheduler("linear", optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1), 0.1, 10)


def test_one_cycle_keeps_the_momentum_fixed():
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1, momentum=0.9)
    s = S.make_scheduler("one-cycle", opt, 0.1, 20)
    for _ in range(20):
        s.step()
        assert opt.param_groups[0]["momentum"] == 0.9


@pytest.mark.parametrize("name", S.SCHEDULES)
def test_the_fit_steps_the_scheduler_every_iteration(tmp_path, name):
    """The η each step used (read before the step) is the schedule's η(t), t = 0..T−1, whatever the epochs."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = rng.integers(0, 2, 40)
    model = nn.Sequential(nn.Linear(3, 2, rng=rng))
    T, lr = 25, 0.05  # 25 iterations over 3 epochs of 10 batches
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    out = S.fit_scheduled(Context(tmp_path), model, opt, S.make_scheduler(name, opt, lr, T), x, y, T, 4, name)
    assert len(out["losses"]) == T and out["diverged"] is None
    np.testing.assert_allclose(out["lrs"], S.schedule_curve(name, lr, T), rtol=1e-12)


# -- the verdicts on synthetic records, both ways ---------------------------------------------------------------------
def run(name, seed, tail, acc, diverged=None, cond="steepest"):
    return {"part": "run", "condition": cond, "schedule": name, "seed": seed, "tail": tail, "test accuracy": acc,
            "diverged": diverged}


def pair(name, seed, steps_fast, steps_slow=190, diverged=False, ends_above=False, cond="steepest"):
    return {"part": "pair", "condition": cond, "schedule": name, "seed": seed, "steps_fast": steps_fast,
            "steps_slow": steps_slow, "diverged": diverged, "ends_above": ends_above}


CONST = [run("constant", s, t, a) for s, (t, a) in enumerate(((0.50, 0.80), (0.52, 0.81), (0.51, 0.79)))]
C = "steepest"


def test_eta_conditions():
    e = S.eta_conditions(0.04, 0.64)
    assert e == {"steepest": 0.04, "middle": pytest.approx(0.16)}
    assert S.eta_conditions(0.04, 0.01)["middle"] == pytest.approx(0.04)  # never below the suggestion
    assert S.claim_id("31a", "middle") == "31a (middle)"


def test_lower_loss_and_higher_accuracy_both_ways():
    better = [run("cosine", s, t, a) for s, (t, a) in enumerate(((0.40, 0.82), (0.41, 0.83), (0.42, 0.81)))]
    ok, lead = S.check_lower_loss(CONST + better, C, "cosine")
    assert ok and lead["diff"] == pytest.approx(0.10)
    ok, gain = S.check_higher_accuracy(CONST + better, C, "cosine")
    assert ok and gain["diff"] == pytest.approx(0.02)
    worse = [run("step", s, t, a) for s, (t, a) in enumerate(((0.55, 0.78), (0.56, 0.79), (0.57, 0.77)))]
    assert not S.check_lower_loss(CONST + worse, C, "step")[0]
    assert not S.check_higher_accuracy(CONST + worse, C, "step")[0]
    noisy = [run("step", s, t, a) for s, (t, a) in enumerate(((0.30, 0.90), (0.60, 0.70), (0.45, 0.85)))]
    assert not S.check_lower_loss(CONST + noisy, C, "step")[0]      # lower on average, not beyond 2 SE
    assert not S.check_higher_accuracy(CONST + noisy, C, "step")[0]
    # a diverged run (no accuracy, NaN tail) is no evidence; nor is a missing schedule or another condition
    div = [run("exponential", 0, 0.1, None, diverged=12)] + [run("exponential", s, 0.1, 0.9) for s in (1, 2)]
    assert not S.check_lower_loss(CONST + div, C, "exponential")[0]
    assert not S.check_higher_accuracy(CONST + div, C, "exponential")[0]
    assert S.check_lower_loss(CONST, C, "one-cycle") == (False, None)
    other = [run("cosine", s, 0.1, 0.9, cond="middle") for s in range(3)]
    assert S.check_lower_loss(CONST + other, "middle", "cosine") == (False, None)  # no constant run at "middle"
    assert S.conditions(CONST + other) == ["steepest", "middle"]


def test_fewer_steps_and_much_faster_both_ways():
    recs = [pair("one-cycle", s, f) for s, f in enumerate((120, 150, 100))]
    assert S.check_fewer_steps(recs, C) == (True, 3, 3)
    assert not S.check_much_faster(recs, C)[0]                      # fewer, but not ×2
    fast = [pair("one-cycle", s, f) for s, f in enumerate((60, 80, 90))]
    assert S.check_much_faster(fast, C) == (True, 3, 3) and S.check_fewer_steps(fast, C)[0]
    slow = [pair("one-cycle", 0, 120), pair("one-cycle", 1, 195), pair("one-cycle", 2, 100)]
    assert S.check_fewer_steps(slow, C) == (False, 2, 3)
    assert not S.check_fewer_steps([pair("one-cycle", 0, None)], C)[0]            # never got there
    assert not S.check_fewer_steps([pair("one-cycle", 0, 10, diverged=True)], C)[0]
    assert S.check_fewer_steps([pair("one-cycle", 0, 150, steps_slow=None)], C)[0]  # only one-cycle got there
    assert not S.check_much_faster([pair("one-cycle", 0, 10, ends_above=True)], C)[0]
    assert S.check_fewer_steps([], C) == (False, 0, 0) and S.check_much_faster([], C) == (False, 0, 0)
    assert not S.check_fewer_steps([pair("cosine", 0, 10)], C)[0]  # another schedule's pairs do not count
    assert not S.check_fewer_steps(fast, "middle")[0]              # nor another condition's


def test_verdicts_name_every_condition():
    recs = CONST + [run(n, s, 0.4, 0.85) for n in S.DECAYING for s in range(3)]
    recs += [pair(n, s, 60) for n in S.DECAYING for s in range(3)]
    v = S.verdicts(recs)
    assert set(v) == {f"31{c} (steepest)" for c in "abcdefghij"}
    assert all(v.values())
    same = CONST + [{**r, "schedule": n} for n in S.DECAYING for r in CONST]  # every schedule = constant η
    same += [pair(n, s, 190) for n in S.DECAYING for s in range(3)]
    assert not any(S.verdicts(same).values())


# -- the --quick run ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def quick(store, tmp_path_factory):
    _, mapped = assert_arms_independent("schedules", store, tmp_path_factory, min_items=30)
    return mapped


def test_quick_run_verdicts_recomputed_from_the_stored_records(quick):
    assert {c["id"]: c["holds"] for c in quick.stored["claims"]} == S.verdicts(quick.records)
    assert {"schedule", "loss", "final", "table", "range_test"} <= quick.figures


def test_quick_run_records_are_complete_and_consistent(quick):
    cfg = quick.stored["config"]
    rt = [r for r in quick.records if r["part"] == "range test"]
    assert len(rt) == 1 and cfg["range_start"] < rt[0]["suggestion"] < cfg["range_end"]
    etas = S.eta_conditions(rt[0]["suggestion"], rt[0]["η of the lowest loss"])
    assert S.conditions(quick.records) == list(cfg["etas"])
    runs = [r for r in quick.records if r["part"] == "run"]
    assert sorted((r["condition"], r["schedule"], r["seed"]) for r in runs) == sorted(
        (c, n, s) for c in cfg["etas"] for n in S.SCHEDULES for s in range(cfg["seeds"]))
    for r in runs:
        assert r["η₀"] == pytest.approx(etas[r["condition"]])
        curve = S.schedule_curve(r["schedule"], r["η₀"], cfg["iterations"])
        if r["diverged"] is None:
            assert r["η at 0"] == pytest.approx(curve[0]) and r["η at end"] == pytest.approx(curve[-1])
            assert r["η max"] == pytest.approx(curve.max()) and math.isfinite(r["tail"])
    pairs = [r for r in quick.records if r["part"] == "pair"]
    assert len(pairs) == len(cfg["etas"]) * len(S.DECAYING) * cfg["seeds"]
    for p in pairs:
        assert p["much faster"] == S.check_much_faster([{**p, "schedule": "one-cycle"}], p["condition"])[0]
