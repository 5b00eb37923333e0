"""Issue 12, point 5 (optimisers, claims 30): the grid choice and the effective-step measurement (arithmetic, pinned),
the verdict functions on synthetic records both ways, and a --quick run whose stored verdicts are recomputed from
its stored records (no verdict of a training run is pinned)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab import nn, optim
from layerlab.lab.experiments import optimisers as O
from lab_quick import assert_arms_independent


# -- arithmetic ------------------------------------------------------------------------------------------------------
def test_the_ten_optimisers_and_their_grids():
    assert len(O.OPTIMISERS) == 10 and set(O.ADAPTIVE) < set(O.OPTIMISERS)
    p = nn.Parameter(np.zeros(2, dtype=np.float32))
    for label in O.OPTIMISERS:
        opt = O.make_optimiser(label, [p], 0.01)
        assert opt.param_groups[0]["lr"] == 0.01
    assert O.make_optimiser("Nesterov", [p], 0.01).param_groups[0]["nesterov"] is True
    assert O.make_optimiser("momentum", [p], 0.01).param_groups[0]["momentum"] == 0.9
    assert isinstance(O.make_optimiser("AdaDelta", [p], 1.0), optim.Adadelta)
    assert O.grid_lrs("Adam", (10 ** -0.5, 1.0, 10 ** 0.5)) == pytest.approx([1e-3 / 10 ** 0.5, 1e-3, 1e-3 * 10 ** 0.5])


def grid(tails, diverged=()):
    return [{"lr": lr, "tail": t, "diverged": (5 if i in diverged else None)}
            for i, (lr, t) in enumerate(zip((0.01, 0.03, 0.1), tails))]


def test_choose_lr_keeps_diverged_runs_out_and_flags_the_edge():
    assert O.choose_lr(grid([0.9, 0.5, 0.7])) == (0.03, False)
    assert O.choose_lr(grid([0.9, 0.8, 0.7])) == (0.1, True)
    # the lowest tail belongs to a run that diverged (its tail may even look finite): not chosen
    assert O.choose_lr(grid([0.9, 0.8, 0.1], diverged=(2,))) == (0.03, False)
    assert O.choose_lr(grid([0.9, math.nan, 0.7])) == (0.1, True)
    assert O.choose_lr(grid([1.0, 1.0, 1.0], diverged=(0, 1, 2))) == (None, False)
    assert O.choose_lr(grid([0.4])) == (0.01, False)  # a one-value grid has no edge
    # a finite run that blew up (tail above its first loss) is kept out too
    rows = grid([0.9, 0.8, 0.7])
    rows[2]["blew up"] = True
    assert O.choose_lr(rows) == (0.03, False) and O.failed(rows[2]) and not O.failed(rows[0])


def test_effective_step_of_adagrad_falls_as_one_over_root_t():
    """AdaGrad with a constant gradient g: s_t = t·g², so η/√s_t = η/(|g|√t) (ε = 1e-10 negligible)."""
    p = nn.Parameter(np.zeros(4))
    opt = optim.Adagrad([p], lr=0.1)
    probe = O.EffectiveStep(opt, "sum", every=1)

    class _T:
        step = 0

    t = _T()
    probe.on_fit_start(t)  # no state yet: nothing measured
    for step in range(1, 101):
        p.grad = np.full(4, 2.0)
        opt.step()
        t.step = step
        probe.on_batch_end(t, step - 1, {})
    steps, vals = zip(*probe.values)
    assert steps[0] == 1 and steps[-1] == 100
    np.testing.assert_allclose(vals, 0.1 / (2.0 * np.sqrt(np.arange(1, 101))), rtol=1e-6)
    e0, v0, e1, v1, ratio = O.decay_ratio(probe.values, 100)
    assert (e0, e1) == (10, 100) and ratio == pytest.approx(math.sqrt(10 / 100), rel=1e-6)


# -- the verdicts on synthetic records, both ways ---------------------------------------------------------------------
def run(label, seed, tail, early=1.0, diverged=None, chosen=True):
    return {"part": "run", "optimiser": label, "seed": seed, "lr": 0.01, "grid": seed == 0, "chosen": chosen,
            "tail": tail, "early": early, "diverged": diverged}


def pair(fast, slow, seed, steps_fast, steps_slow=100, diverged=False, ends_above=False):
    return {"part": "pair", "fast": fast, "slow": slow, "seed": seed, "steps_fast": steps_fast,
            "steps_slow": steps_slow, "diverged": diverged, "ends_above": ends_above}


def test_much_faster_on_every_seed():
    recs = [pair("momentum", "SGD", s, 30) for s in range(3)]
    assert O.check_much_faster(recs, "momentum", "SGD") == (True, 3, 3)
    recs[1] = pair("momentum", "SGD", 1, 60)  # ×1.66 on one seed
    assert O.check_much_faster(recs, "momentum", "SGD") == (False, 2, 3)
    assert not O.check_much_faster([pair("Adam", "SGD", 0, 10, diverged=True)], "Adam", "SGD")[0]
    assert not O.check_much_faster([pair("Adam", "SGD", 0, 10, ends_above=True)], "Adam", "SGD")[0]
    assert not O.check_much_faster([pair("Adam", "SGD", 0, None)], "Adam", "SGD")[0]
    assert O.check_much_faster([pair("Adam", "SGD", 0, 10, steps_slow=None)], "Adam", "SGD")[0]
    assert O.check_much_faster(recs, "Adam", "SGD") == (False, 0, 0)  # no pair: no evidence


def test_lead_beyond_the_noise_both_ways():
    recs = [run("Nesterov", s, t) for s, t in enumerate((0.50, 0.51, 0.52))]
    recs += [run("momentum", s, t) for s, t in enumerate((0.60, 0.61, 0.62))]
    ok, lead = O.check_lead(recs, "Nesterov", "momentum")
    assert ok and lead["diff"] == pytest.approx(0.10)
    assert not O.check_lead(recs, "momentum", "Nesterov")[0]
    noisy = [run("Nesterov", s, t) for s, t in enumerate((0.50, 0.70, 0.52))] + recs[3:]
    assert not O.check_lead(noisy, "Nesterov", "momentum")[0]  # ahead on average, not beyond 2 SE
    # a diverged seed makes the lead NaN: no evidence
    bad = [run("Nesterov", 0, 0.5, diverged=7)] + recs[1:]
    assert not O.check_lead(bad, "Nesterov", "momentum")[0]
    # runs that were not chosen (other grid η) are not counted; a missing optimiser is no evidence
    assert O.tails_by_seed(recs + [run("Nesterov", 0, 0.0, chosen=False)], "Nesterov")[0] == 0.50
    assert O.check_lead(recs, "Nesterov", "AdaGrad") == (False, None)


def test_gap_grows_both_ways():
    rms = [run("RMSProp", s, 0.50, early=1.00) for s in range(3)]
    grows = [run("AdaGrad", s, t, early=1.0) for s, t in enumerate((0.60, 0.61, 0.62))]
    assert O.check_gap_grows(rms + grows)[0]
    steady = [run("AdaGrad", s, 0.60, early=e) for s, e in enumerate((1.10, 1.10, 1.11))]
    ok, lead = O.check_gap_grows(rms + steady)
    assert not ok and abs(lead["diff"]) < 0.01
    assert not O.check_gap_grows(rms + [run("AdaGrad", 0, 0.6, diverged=3)] + grows[1:])[0]
    assert O.check_gap_grows(rms) == (False, None)


def test_decays_both_ways():
    recs = [{"part": "decay", "optimiser": "AdaGrad", "seed": s, "ratio": r} for s, r in enumerate((0.3, 0.4))]
    recs += [{"part": "decay", "optimiser": "RMSProp", "seed": s, "ratio": r} for s, r in enumerate((1.5, 0.9))]
    assert O.check_decays(recs, "AdaGrad")[0] and not O.check_decays(recs, "RMSProp")[0]
    assert O.check_not_decays(recs, "RMSProp")[0] and not O.check_not_decays(recs, "AdaGrad")[0]
    edge = [{"part": "decay", "optimiser": "AdaGrad", "seed": 0, "ratio": O.DECAY_FRACTION}]
    assert O.check_decays(edge)[0] and not O.check_not_decays(edge, "AdaGrad")[0]
    nan = [{"part": "decay", "optimiser": "AdaGrad", "seed": 0, "ratio": math.nan}]
    assert not O.check_decays(nan)[0] and not O.check_not_decays(nan, "AdaGrad")[0]
    assert not O.check_decays([])[0] and not O.check_not_decays([])[0]


# -- the --quick run ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def quick(store, tmp_path_factory):
    # the times per step are wall-clock / CPU measurements: not compared between the loop and ctx.map
    _, mapped = assert_arms_independent("optimisers", store, tmp_path_factory, min_items=40,
                                        volatile=("cpu ms/step", "wall ms/step", "CPU ms/step"))
    return mapped


def test_quick_run_verdicts_recomputed_from_the_stored_records(quick):
    assert {c["id"]: c["holds"] for c in quick.stored["claims"]} == O.verdicts(quick.records)
    assert {"table", "grid", "loss_curves", "effective_step"} <= quick.figures


def test_quick_run_records_are_complete_and_consistent(quick):
    cfg = quick.stored["config"]
    recs = quick.records
    runs = [r for r in recs if r["part"] == "run"]
    for label in O.OPTIMISERS:
        g = [r for r in runs if r["optimiser"] == label and r["grid"]]
        base = [r for r in g if not r.get("extension")]
        assert sorted(r["lr"] for r in base) == pytest.approx(O.grid_lrs(label, cfg["grid"]))
        assert len(g) - len(base) <= cfg["extend"]
        for r in g[len(base):]:  # an extension lies one grid step beyond an edge of what ran before it
            before = [q["lr"] for q in g[:g.index(r)]]
            step = cfg["grid"][-1] / cfg["grid"][-2]
            assert r["lr"] == pytest.approx(min(before) / step) or r["lr"] == pytest.approx(max(before) * step)
        best, _ = O.choose_lr(g)
        chosen = O.runs_of(recs, label)
        if best is None:
            assert not chosen
            continue
        assert [r["seed"] for r in chosen] == list(range(cfg["seeds"]))
        assert all(r["lr"] == best for r in chosen)
        for r in chosen:
            assert (r["test accuracy"] is None) == (r["diverged"] is not None)
    tables = [r for r in recs if r["part"] == "table"]
    assert [r["optimiser"] for r in tables] == list(O.OPTIMISERS)
    for p in (r for r in recs if r["part"] == "pair"):
        assert p["much faster"] == O.check_much_faster([p], p["fast"], p["slow"])[0]
