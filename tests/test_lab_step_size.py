"""Claim 27 (step_size): the regimes and every verdict function on synthetic records, both ways and at their
edges (diverged and NaN runs, missing records), the stop rule, and a --quick run whose stored verdicts are
recomputed from its stored records (none is pinned)."""

from __future__ import annotations

import math

import pytest

from layerlab.lab.experiments import step_size as S
from lab_quick import assert_arms_independent

LN10 = math.log(10)


def row(lr, seed, tail, stopped=None, nonfinite=None):
    return {"η": lr, "seed": seed, "tail": tail, "stopped at": stopped, "non-finite at": nonfinite}


def sweep(tails: dict, seeds=2, jitter=0.01):
    """Rows for {η: tail | "stop" | "nan"} (the same outcome in every seed, tails jittered per seed)."""
    out = []
    for lr, t in tails.items():
        for s in range(seeds):
            if t == "stop":
                out.append(row(lr, s, math.nan, stopped=10))
            elif t == "nan":
                out.append(row(lr, s, math.nan, nonfinite=7))
            else:
                out.append(row(lr, s, t + jitter * s))
    return out


WINDOW = {0.001: 2.1, 0.01: 1.0, 0.1: 0.6, 1.0: 0.7, 10.0: "stop"}


# -- one run ------------------------------------------------------------------------------------------------------
def test_run_diverged_both_ways():
    assert not S.run_diverged(row(0.1, 0, 0.5))
    assert not S.run_diverged(row(0.1, 0, LN10))  # at ln 10 exactly: not above it
    assert S.run_diverged(row(0.1, 0, LN10 + 1e-6))  # ended worse than it began
    assert S.run_diverged(row(0.1, 0, math.nan))
    assert S.run_diverged(row(0.1, 0, 0.5, stopped=12))
    assert S.run_diverged(row(0.1, 0, 0.5, nonfinite=3))
    assert S.run_diverged({"η": 0.1, "seed": 0})  # no tail recorded: no evidence of converging


def test_stop_rule_fires_on_the_window_mean_only():
    class T:
        step, stop_training = 0, False

    def feed(values):
        cb, t = S.StopWhenDiverged(), T()
        for v in values:
            t.step += 1
            cb.on_batch_end(t, t.step, {"loss": v})
            if t.stop_training:
                break
        return cb.stopped_at

    level = S.STOP_FACTOR * LN10
    assert feed([level * 2] * 30) == S.STOP_WINDOW  # never before a whole window
    assert feed([level * 0.99] * 30) is None
    assert feed([2.0] * 15 + [level * 3] * 15) == 15 + 3  # the mean of 10 passes the level at the 3rd high loss
    assert feed([2.0] * 5 + [math.nan] * 10) == S.STOP_WINDOW  # a NaN mean stops too


def test_grid_step_and_interval_arithmetic():
    assert S.grid_step([0.001, 0.00316, 0.01, 0.0316, 0.1]) == pytest.approx(0.5, abs=2e-3)
    assert S.grid_step([10.0, 0.1, 1.0]) == pytest.approx(1.0)
    assert math.isnan(S.grid_step([0.1]))
    lo, hi = S.lr_find_interval(0.01, 0.1, 0.5)
    assert lo == pytest.approx(10 ** -2.25) and hi == pytest.approx(10 ** -0.75)
    assert S.lr_find_interval(None, None, 0.5) is None


# -- the regimes ---------------------------------------------------------------------------------------------------
def test_classify_regimes_and_boundaries():
    c = S.classify(sweep(WINDOW))
    level = LN10 - S.GOOD_FRACTION * (LN10 - 0.605)
    assert c["best_lr"] == 0.1 and c["best"] == pytest.approx(0.605) and c["good_level"] == pytest.approx(level)
    assert [p["regime"] for p in c["per_lr"]] == ["too small", "too small", "good", "good", "diverged"]
    assert (c["good_lo"], c["good_hi"], c["diverged_from"], c["diverged_above"]) == (0.1, 1.0, 10.0, True)
    p01 = c["per_lr"][1]
    assert p01["progress"] == pytest.approx((LN10 - 1.005) / (LN10 - 0.605))
    assert p01["se"] == pytest.approx(0.005)
    assert math.isnan(c["per_lr"][-1]["mean"])  # a diverged η has no mean loss


def test_one_diverged_seed_makes_the_eta_diverged():
    rows = sweep({0.01: 1.0, 0.1: 0.6}) + [row(1.0, 0, 0.7), row(1.0, 1, math.nan, nonfinite=40)]
    c = S.classify(rows)
    assert c["diverged"] == [1.0] and c["good"] == [0.1]


def test_nothing_trains_means_no_good_region():
    c = S.classify(sweep({0.01: 2.35, 0.1: "stop"}))  # above ln 10: diverged too
    assert c["good"] == [] and c["best_lr"] is None and not S.check_window(c)
    assert not S.check_window(S.classify([]))


def test_check_window_both_ways():
    assert S.check_window(S.classify(sweep(WINDOW)))
    # no η is too small: the grid starts inside the good region
    assert not S.check_window(S.classify(sweep({0.1: 0.6, 1.0: 0.7, 10.0: "stop"})))
    # nothing diverges
    assert not S.check_window(S.classify(sweep({0.001: 2.1, 0.1: 0.6, 1.0: 0.7})))
    # divergence that is not monotone in η
    assert not S.check_window(S.classify(sweep({0.001: 2.1, 0.1: 0.6, 1.0: "nan", 10.0: 0.7, 30.0: "stop"})))
    # a good region with a hole in it
    assert not S.check_window(S.classify(sweep({0.001: 2.1, 0.01: 0.6, 0.03: 1.6, 0.1: 0.62, 1.0: "stop"})))


def test_check_never_converges_both_ways():
    rows = sweep(WINDOW)
    assert S.check_never_converges(rows, 10.0)
    assert not S.check_never_converges(rows, 1.0)
    mixed = rows + [row(30.0, 0, math.nan, stopped=10), row(30.0, 1, 0.9)]
    assert not S.check_never_converges(mixed, 30.0)  # one seed converged
    assert S.check_never_converges(rows + [row(30.0, 0, 2.5), row(30.0, 1, math.nan, nonfinite=4)], 30.0)
    assert not S.check_never_converges(rows, 99.0)  # no runs there: no evidence


# -- stuck or slow -------------------------------------------------------------------------------------------------
def long(short, longer, finite=True):
    return [{"η": 0.001, "seed": s, "tail short": a, "tail long": b, "finite": finite}
            for s, (a, b) in enumerate(zip(short, longer))]


def test_stuck_and_slow_both_ways():
    level = 0.9
    decreasing = long([2.2, 2.21, 2.19], [1.9, 1.92, 1.88])
    assert S.check_slow(decreasing) and not S.check_stuck(decreasing, level)
    flat = long([2.2, 2.21, 2.19], [2.21, 2.19, 2.2])  # no change beyond the noise, still far above the level
    assert S.check_stuck(flat, level) and not S.check_slow(flat)
    # flat, but already at the good level: not stuck at a bad minimum
    assert not S.check_stuck(long([0.8, 0.81], [0.8, 0.8]), level)
    # one seed: no standard error, no verdict either way
    assert not S.check_stuck(long([2.2], [2.2]), level) and not S.check_slow(long([2.2], [1.5]))
    # a run that went non-finite is neither
    assert not S.check_slow(long([2.2, 2.2], [1.5, 1.4], finite=False))
    assert not S.check_stuck(long([2.2, 2.2], [2.2, 2.2], finite=False), level)
    assert not S.check_stuck([], level) and not S.check_slow([])
    # NaN good level (nothing trains): flat counts as stuck
    assert S.check_stuck(flat, math.nan)


# -- lr_find -----------------------------------------------------------------------------------------------------------
def test_check_lr_find_both_ways():
    step = 0.5
    assert S.check_lr_find(0.03, 0.01, 0.1, step)
    assert S.check_lr_find(10 ** -2.25 * 1.0001, 0.01, 0.1, step)  # just inside the widened lower end
    assert not S.check_lr_find(10 ** -2.25 * 0.999, 0.01, 0.1, step)
    assert S.check_lr_find(10 ** -0.75 * 0.999, 0.01, 0.1, step)
    assert not S.check_lr_find(0.2, 0.01, 0.1, step)
    assert not S.check_lr_find(math.nan, 0.01, 0.1, step)
    assert not S.check_lr_find(0.03, None, None, step)  # no good region


# -- the --quick run ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(store, tmp_path_factory):
    # 4 η × 2 seeds and lr_find's 2 ranges through ctx.map
    _, mapped = assert_arms_independent("step_size", store, tmp_path_factory, min_items=10)
    return mapped


def test_quick_run_verdicts_recomputed_from_the_stored_records(run):
    cfg, recs = run.stored["config"], run.records
    rows, lng, (default, grid) = recs["each run"], recs["stuck or slow"], recs["lr_find"]
    c = S.classify(rows)
    step = S.grid_step(cfg["lrs"])
    expected = {"27a": S.check_window(c), "27b": S.check_stuck(lng, c["good_level"]), "27c": S.check_slow(lng),
                "27d": S.check_never_converges(rows, max(cfg["lrs"])),
                "27e": S.check_lr_find(default["suggestion"], c["good_lo"], c["good_hi"], step),
                "27f": S.check_lr_find(grid["suggestion"], c["good_lo"], c["good_hi"], step)}
    assert {c_["id"]: c_["holds"] for c_ in run.stored["claims"]} == expected
    assert {"sweep", "lr_find"} <= run.figures


def test_quick_run_records_are_complete_and_consistent(run):
    cfg, recs = run.stored["config"], run.records
    rows = recs["each run"]
    assert sorted((r["η"], r["seed"]) for r in rows) == sorted((lr, s) for lr in cfg["lrs"] for s in range(cfg["seeds"]))
    c = S.classify(rows)
    assert [(p["η"], p["regime"]) for p in recs["per η"]] == [(p["η"], p["regime"]) for p in c["per_lr"]]
    small = min(cfg["lrs"])
    assert [r["η"] for r in recs["stuck or slow"]] == [small] * cfg["seeds"]
    for r in recs["stuck or slow"]:
        sweep_row = next(x for x in rows if x["η"] == small and x["seed"] == r["seed"])
        if not S.run_diverged(sweep_row):  # the long run's first `iterations` steps are the sweep's run
            assert r["tail short"] == pytest.approx(sweep_row["tail"])
    for r in rows:  # a stopped or non-finite run has no tail loss to be read as a low value
        if r["stopped at"] is not None or r["non-finite at"] is not None:
            assert math.isnan(r["tail"])
    default, grid = recs["lr_find"]
    assert (default["range"], default["start"], default["end"]) == (S.DEFAULT_RANGE, cfg["lr_find_start"],
                                                                    cfg["lr_find_end"])
    assert (grid["range"], grid["start"], grid["end"]) == (S.GRID_RANGE, min(cfg["lrs"]), max(cfg["lrs"]))
    for f, curve in zip(recs["lr_find"], recs["lr_find curves"]):
        assert 2 <= f["recorded"] == len(curve["lrs"]) == len(curve["losses"]) <= cfg["lr_find_steps"]
        assert f["start"] <= f["η at min"] <= f["end"]
        assert f["min loss"] == pytest.approx(min(curve["losses"]))
