"""Claim 28 (sgd_vs_batch): the measurements (arithmetic, pinned), the verdict functions on synthetic records both
ways, and a --quick run whose stored verdicts are recomputed from its stored records (no verdict is pinned; no
timing is asserted)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab import nn
from layerlab.lab.experiments import sgd_batch as S
from layerlab.lab.training import mlp
from lab_quick import quick_run


# -- arithmetic ------------------------------------------------------------------------------------------------------
def test_checkpoint_schedule():
    assert S.checkpoint_schedule(24) == [0, 1, 2, 3, 4, 6, 8, 12, 16, 24]
    assert S.checkpoint_schedule(50, extra=(24, 99)) == [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 50]
    assert S.checkpoint_schedule(1) == [0, 1]


def test_cosine():
    assert S.cosine(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == pytest.approx(1.0)
    assert S.cosine(np.array([1.0, 0.0]), np.array([-1.0, 1.0])) == pytest.approx(-1 / math.sqrt(2))
    assert math.isnan(S.cosine(np.zeros(2), np.ones(2)))
    assert math.isnan(S.cosine(np.array([np.nan, 1.0]), np.ones(2)))


def _toy(seed=0, n=24, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 6)).astype(dtype)
    y = rng.integers(0, 3, n)
    return x, y, mlp([6, 5, 3], "tanh", "lecun_normal", np.random.default_rng(seed), dtype=dtype)


def test_the_full_gradient_is_the_mean_of_the_batch_gradients():
    """The loss is a mean over images, so the full gradient is the average of the gradients of equal batches."""
    x, y, model = _toy()
    loss = nn.CrossEntropyLoss()
    g = S.grad_vector(model, loss, x, y)
    parts = [S.grad_vector(model, loss, x[i:i + 8], y[i:i + 8]) for i in range(0, 24, 8)]
    np.testing.assert_allclose(np.mean(parts, axis=0), g, rtol=1e-10, atol=1e-12)
    assert S.cosine(S.grad_vector(model, loss, x, y), g) == pytest.approx(1.0)


def test_train_run_counts_updates_epochs_and_stops_on_divergence():
    x, y, model = _toy()
    evals = []

    def evaluate(m):
        evals.append(1)
        return {"train_loss": 1.0, "held_loss": 2.0}

    r = S.train_run(model, x, y, 8, 7, 0.1, np.random.default_rng(0), [0, 1, 3, 7], evaluate)
    assert [p["update"] for p in r["checkpoints"]] == [0, 1, 3, 7] and len(evals) == 4
    assert [p["epoch"] for p in r["checkpoints"]] == pytest.approx([0, 8 / 24, 1.0, 7 * 8 / 24])
    assert len(r["times"]) == 7 and r["diverged"] is None
    secs = [p["seconds"] for p in r["checkpoints"]]
    assert secs[0] == 0.0 and secs == sorted(secs) and secs[-1] == pytest.approx(sum(r["times"]))
    cpu = [p["cpu_seconds"] for p in r["checkpoints"]]
    assert cpu[0] == 0.0 and cpu == sorted(cpu) and cpu[-1] == pytest.approx(r["cpu_seconds"])
    # deterministic for a seed: the same updates give the same weights
    x2, y2, m2 = _toy()
    x3, y3, m3 = _toy()
    for m in (m2, m3):
        S.train_run(m, x2, y2, 8, 5, 0.1, np.random.default_rng(3), [], lambda _: {})
    for a, b in zip(m2.parameters(), m3.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    # a blow-up stops the run at the update whose loss is not finite
    x4, y4, m4 = _toy(dtype=np.float32)
    r = S.train_run(m4, x4, y4, 8, 20, 1e38, np.random.default_rng(0), [0, 20], lambda _: {"train_loss": 0.0})
    assert r["diverged"] is not None and len(r["times"]) == r["diverged"] - 1
    assert [p["update"] for p in r["checkpoints"]] == [0]


# -- synthetic records ---------------------------------------------------------------------------------------------------
SIZES = {"1": 1, "32": 32, "256": 256, "full": 2048}


def make_records(spu=None, curves=None, cos=None, diverged=None, seeds=(0, 1)):
    """Runs with seconds per update ``spu`` {batch: s}, checkpoints ``curves`` {batch: [(update, seconds, loss)]}
    (the same for every seed), noise cosines ``cos`` {batch: [cos per draw]} (both points)."""
    spu = spu or {"1": 0.001, "32": 0.002, "256": 0.02, "full": 0.2}
    curves = curves or {
        "1": [(0, 0.0, 2.3), (100, 0.1, 1.5), (400, 0.4, 0.8), (1024, 1.0, 0.7)],
        "32": [(0, 0.0, 2.3), (24, 0.05, 1.2), (64, 0.1, 0.8), (256, 0.5, 0.5)],
        "256": [(0, 0.0, 2.3), (24, 0.5, 1.0), (48, 1.0, 0.85)],
        "full": [(0, 0.0, 2.3), (12, 2.4, 1.1), (24, 4.8, 0.9)],
    }
    cos = cos or {"1": [0.1, 0.2, 0.15, 0.05], "32": [0.5, 0.55, 0.6, 0.52], "256": [0.9, 0.92, 0.88, 0.91]}
    recs = []
    for s in seeds:
        for b, size in SIZES.items():
            recs.append({"part": "run", "batch": b, "batch_size": size, "seed": s, "s_per_update": spu[b],
                         "s_per_epoch": spu[b] * (2048 // size), "cpu_s_per_update": spu[b], "diverged": (diverged or {}).get(b)})
            for u, sec, loss in curves[b]:
                recs.append({"part": "checkpoint", "batch": b, "seed": s, "update": u, "epoch": u * size / 2048,
                             "seconds": sec, "train_loss": loss, "held_loss": loss + 0.1})
        for point in ("init", "trained"):
            for b, c in cos.items():
                recs.append({"part": "noise", "point": point, "batch": b, "batch_size": SIZES[b], "seed": s,
                             "cos": list(c)})
    return recs


def test_check_cheaper_both_ways():
    holds, spu = S.check_cheaper(make_records())
    assert holds and list(spu) == ["1", "32", "256", "full"]
    assert not S.check_cheaper(make_records(spu={"1": 0.003, "32": 0.002, "256": 0.02, "full": 0.2}))[0]
    assert not S.check_cheaper(make_records(spu={"1": 0.001, "32": 0.002, "256": 0.2, "full": 0.2}))[0]  # ties fail
    recs = [r for r in make_records() if not (r["part"] == "run" and r["batch"] == "32" and r["seed"] == 1)]
    assert not S.check_cheaper(recs)[0]
    assert not S.check_cheaper([])[0]


def test_check_noisier_both_ways():
    holds, means = S.check_noisier(make_records())
    assert holds and means["init"]["1"] == pytest.approx(0.125)
    # 32 and 256 within the noise of each other
    close = {"1": [0.1, 0.2, 0.15, 0.05], "32": [0.5, 0.9, 0.6, 0.92], "256": [0.9, 0.6, 0.88, 0.91]}
    assert not S.check_noisier(make_records(cos=close))[0]
    # the largest mini-batch is as good as the full gradient: not "less confident"
    at_one = {"1": [0.1, 0.2, 0.15, 0.05], "32": [0.5, 0.55, 0.6, 0.52], "256": [1.0, 1.0, 1.0, 1.0]}
    assert not S.check_noisier(make_records(cos=at_one))[0]
    # a NaN (a diverged point) or a missing point fails
    nan = {"1": [0.1, math.nan, 0.15, 0.05], "32": [0.5, 0.55, 0.6, 0.52], "256": [0.9, 0.92, 0.88, 0.91]}
    assert not S.check_noisier(make_records(cos=nan))[0]
    assert not S.check_noisier([r for r in make_records() if r.get("point") != "trained"])[0]


def test_check_time_both_ways():
    recs = make_records()
    holds, rows = S.check_time(recs, "32")  # level 0.9 (full's end, at 4.8 s); 32 gets there at 0.1 s
    assert holds and rows[0]["ratio"] == pytest.approx(48.0) and rows[0]["level"] == 0.9
    assert S.check_time(recs, "1")[0] and S.check_time(recs, "1")[1][0]["ratio"] == pytest.approx(12.0)
    # 256 reaches 0.9 only at its end (1.0 s, ends below): ratio 4.8
    assert S.check_time(recs, "256")[0]
    # just too slow: ratio below MUCH_FASTER
    slow = make_records(curves={**_curves(), "256": [(0, 0.0, 2.3), (24, 1.0, 1.0), (48, 2.5, 0.85)]})
    holds, rows = S.check_time(slow, "256")
    assert not holds and rows[0]["ratio"] == pytest.approx(4.8 / 2.5)
    # never reaches the level, or ends above it after reaching it, or diverged: fails
    never = make_records(curves={**_curves(), "1": [(0, 0.0, 2.3), (1024, 1.0, 1.2)]})
    assert not S.check_time(never, "1")[0] and S.check_time(never, "1")[1][0]["ratio"] == 0.0
    bounce = make_records(curves={**_curves(), "1": [(0, 0.0, 2.3), (100, 0.1, 0.8), (1024, 1.0, 0.95)]})
    holds, rows = S.check_time(bounce, "1")
    assert not holds and rows[0]["ends_above"]
    assert not S.check_time(make_records(diverged={"32": 40}), "32")[0]
    # a diverged full-batch run gives no level: no evidence
    assert not S.check_time(make_records(diverged={"full": 20}), "32")[0]
    assert not S.check_time([], "32")[0]


def _curves():
    return {
        "1": [(0, 0.0, 2.3), (100, 0.1, 1.5), (400, 0.4, 0.8), (1024, 1.0, 0.7)],
        "32": [(0, 0.0, 2.3), (24, 0.05, 1.2), (64, 0.1, 0.8), (256, 0.5, 0.5)],
        "256": [(0, 0.0, 2.3), (24, 0.5, 1.0), (48, 1.0, 0.85)],
        "full": [(0, 0.0, 2.3), (12, 2.4, 1.1), (24, 4.8, 0.9)],
    }


def test_check_per_update_both_ways():
    holds, table = S.check_per_update(make_records(), 24)
    assert not holds and table["1"] == [math.nan, math.nan]  # batch 1 has no checkpoint at 24: no evidence
    c = _curves()
    c["1"] = [(0, 0.0, 2.3), (24, 0.02, 2.0), (1024, 1.0, 0.7)]
    holds, table = S.check_per_update(make_records(curves=c), 24)
    assert holds and table["full"] == [0.9, 0.9] and table["32"] == [1.2, 1.2]
    c["256"] = [(0, 0.0, 2.3), (24, 0.5, 0.9), (48, 1.0, 0.85)]  # a tie is not "more progress"
    assert not S.check_per_update(make_records(curves=c), 24)[0]


def test_unstable_and_choose_lr():
    assert S.unstable([{"train_loss": 2.3}, {"train_loss": 5.0}])
    assert S.unstable([{"train_loss": 2.3}, {"train_loss": math.nan}])
    assert not S.unstable([{"train_loss": 2.3}, {"train_loss": 0.9}]) and not S.unstable([])
    pilot = [{"part": "pilot", "lr": lr, "train_loss": v} for lr, v in ((0.1, 30.0), (0.03, 1.1), (0.01, 0.9),
                                                                          (0.003, math.nan))]
    assert S.choose_lr(pilot) == 0.01 and S.choose_lr(pilot[:2]) == 0.03 and S.choose_lr(pilot[3:]) is None


def test_check_time_reads_the_own_lr_condition_separately():
    recs = make_records()
    c = _curves()
    own = [{**r, "condition": S.OWN_LR, "lr": 0.01} for r in make_records(curves={**c, "1": [(0, 0.0, 2.3),
                                                                                              (1024, 9.0, 0.5)]})
           if r["part"] in ("run", "checkpoint") and r["batch"] == "1"]
    assert S.check_time(recs, "1")[0]  # the common-η batch-1 curve: 12×
    holds, rows = S.check_time(recs + own, "1", condition=S.OWN_LR)  # the own-η curve: 4.8 s / 9 s
    assert not holds and rows[0]["ratio"] == pytest.approx(4.8 / 9.0)
    assert not S.check_time(recs, "1", condition=S.OWN_LR)[0]  # no own-η runs: no evidence
    # the own-η runs do not enter the common-η orderings
    assert S.check_cheaper(recs + own)[1] == S.check_cheaper(recs)[1]


def test_check_epoch_cost_both_ways():
    holds, ratios = S.check_epoch_cost(make_records(), "1")  # 2048 × 1 ms vs 200 ms
    assert holds and ratios == pytest.approx([10.24, 10.24])
    cheap = make_records(spu={"1": 0.0001, "32": 0.002, "256": 0.02, "full": 0.2})
    holds, ratios = S.check_epoch_cost(cheap, "1")
    assert not holds and ratios[0] == pytest.approx(1.024)
    assert not S.check_epoch_cost([], "1")[0]


# -- the --quick run -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(store, tmp_path_factory):
    return quick_run("sgd_vs_batch", store, tmp_path_factory)


def test_quick_run_verdicts_recomputed_from_the_stored_records(run):
    cfg = run.stored["config"]
    recs = run.records
    expected = {"28a": S.check_cheaper(recs)[0], "28b": S.check_noisier(recs)[0]}
    letters = iter("cdefghij")
    for b in cfg["batches"]:
        expected[f"28{next(letters)}"] = S.check_time(recs, str(b))[0]
    expected[f"28{next(letters)}"] = S.check_per_update(recs, cfg["full_updates"])[0]
    expected[f"28{next(letters)}"] = S.check_epoch_cost(recs, str(cfg["batches"][0]))[0]
    expected[f"28{next(letters)}"] = S.check_time(recs, str(cfg["batches"][0]), condition=S.OWN_LR)[0]
    assert {c["id"]: c["holds"] for c in run.stored["claims"]} == expected
    assert {"loss_vs_epochs_and_seconds", "noise_and_cost"} <= run.figures


def test_quick_run_records_are_complete_and_consistent(run):
    cfg = run.stored["config"]
    recs = run.records
    rs = S.runs(recs)
    labels = [str(b) for b in cfg["batches"]] + [S.FULL]
    assert set(rs) == {(b, s) for b in labels for s in range(cfg["seeds"])}
    budgets = dict(zip(labels, list(cfg["updates"]) + [cfg["full_updates"]]))
    for (b, s), r in rs.items():
        pts = S.curve(recs, b, s)
        if r["diverged"] is None:
            assert r["updates"] == budgets[b] and pts[-1]["update"] == budgets[b]
        assert pts[0]["update"] == 0 and pts[0]["seconds"] == 0.0
        assert [p["seconds"] for p in pts] == sorted(p["seconds"] for p in pts)
        assert r["s_per_epoch"] == pytest.approx(r["s_per_update"] * (cfg["n_train"] // r["batch_size"]))
        # every seed's runs start from the same weights: the same loss at update 0
        assert pts[0]["train_loss"] == pytest.approx(S.curve(recs, S.FULL, s)[0]["train_loss"], rel=1e-6)
    # the pilot: one record per η, the choice is the lowest loss, and the own-η runs are at that η on every seed
    pilot = [r for r in recs if r["part"] == "pilot"]
    assert sorted(r["lr"] for r in pilot) == sorted(cfg["pilot_lrs"])
    own = S.choose_lr(recs)
    own_runs = S.runs(recs, S.OWN_LR)
    assert set(own_runs) == {(str(cfg["batches"][0]), s) for s in range(cfg["seeds"])}
    assert all(r["lr"] == own for r in own_runs.values())
    main0 = [r for r in pilot if r["lr"] == cfg["lr"]]
    assert main0[0]["train_loss"] == S.loss_at_update(recs, str(cfg["batches"][0]), 0, cfg["pilot_updates"])
    noise = [r for r in recs if r["part"] == "noise"]
    assert len(noise) == 2 * cfg["seeds"] * len(cfg["batches"])
    assert all(len(r["cos"]) == cfg["noise_draws"] and -1 <= r["cos_mean"] <= 1 for r in noise)
