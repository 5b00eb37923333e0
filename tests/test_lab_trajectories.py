"""Issue 12, point 1 (trajectories): the surfaces' gradients and the measurements (arithmetic, pinned), the verdict
functions on synthetic records both ways, and a --quick run whose stored verdicts are recomputed from its stored
records (no verdict of an optimiser run is pinned)."""

from __future__ import annotations

import numpy as np
import pytest

from layerlab.lab.experiments import trajectories as T
from lab_quick import assert_arms_independent


# -- arithmetic ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("surface", list(T.SURFACES))
def test_gradients_match_finite_differences(surface):
    f, g, *_ = T.SURFACES[surface]
    p = np.array([0.3, -0.7])
    eps = 1e-6
    fd = [(f(p + eps * e) - f(p - eps * e)) / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(g(p), fd, rtol=1e-6, atol=1e-8)


def test_plain_gd_step_is_theta_minus_eta_g():
    r = T.optimise("quadratic", "SGD", 0.01, 1)
    np.testing.assert_allclose(r["path"][1], np.array([-4.0, 1.0]) - 0.01 * np.array([-4.0, 50.0]))
    assert r["stopped"] is None


def test_measurements():
    assert T.sign_changes([1, -1, 1, 1e-9, -1e-9, -1], floor=1e-6) == 3   # the ±1e-9 are below the floor
    assert T.overshoot([-4, -1, 0.5, 2.0, 0.1], 0.0, -4.0) == 2.0
    assert T.overshoot([-4, -1, -0.1], 0.0, -4.0) == 0.0
    np.testing.assert_allclose(T.effective_lrs([[0, 0], [3, 4]], [[6, 8]]), [0.5])


def test_class_names_exist():
    from layerlab import optim
    for cls, _ in T.OPTIMISERS.values():
        assert hasattr(optim, cls), cls


# -- verdicts on synthetic records, both ways ------------------------------------------------------------------------
def test_zigzag_and_overshoot_both_ways():
    assert T.check_zigzag(30, 10) and not T.check_zigzag(10, 30) and not T.check_zigzag(30, 10, True)
    assert T.check_overshoot(0.5, 1.0) and not T.check_overshoot(1.0, 0.5) and not T.check_overshoot(0.5, 1.0, True)


def test_faster_both_ways():
    base = {"diverged": False, "ends_above": False}
    assert T.check_faster({**base, "steps_fast": 40, "steps_slow": 100})
    assert not T.check_faster({**base, "steps_fast": 80, "steps_slow": 100})
    assert not T.check_faster({**base, "steps_fast": 10, "steps_slow": 100, "diverged": True})


def test_adaptive_decay_and_escape_both_ways():
    assert T.check_adaptive_step([0.08, 0.1]) and not T.check_adaptive_step([0.08, 1.0])
    assert not T.check_adaptive_step([])
    assert T.check_decays(0.3) and not T.check_decays(0.9)
    assert T.check_not_decays(0.9) and not T.check_not_decays(0.3)
    assert T.check_escape_faster(500, [100], 1000) and not T.check_escape_faster(100, [500], 1000)
    assert T.check_escape_faster(None, [300, 310, 320], 1000)          # GD never left: counted as budget + 1
    assert not T.check_escape_faster(500, [100, 900, 480], 1000)        # mean below but not beyond 2 SE
    assert not T.check_escape_faster(500, [None, None], 1000)
    assert T.check_stuck(None) and not T.check_stuck(12)


def _rec(good: bool):
    return {"zigzag": [{"lr": 0.035, "gd_changes": 30, "momentum_changes": 10 if good else 50,
                        "momentum_diverged": False}],
            "faster": [{"steps_fast": 40 if good else 90, "steps_slow": 100, "diverged": False, "ends_above": False}],
            "overshoot": [{"optimiser": "momentum", "lr": 0.02, "overshoot": 1.0, "diverged": False},
                          {"optimiser": "Nesterov", "lr": 0.02, "overshoot": 0.5 if good else 2.0, "diverged": False}],
            "adaptive": [{"optimiser": k, "ratio": 0.08 if good else 1.0} for k in T.ADAPTIVE]
            + [{"optimiser": "SGD", "ratio": 1.0}],
            "effective_lr": [{"optimiser": "AdaGrad", "noise": 1.0, "ratio": 0.3 if good else 0.9},
                             {"optimiser": "Adam", "noise": 1.0, "ratio": 1.0 if good else 0.1}],
            "saddle": [{"method": "GD", "steps": 500, "budget": 1000},
                       {"method": "momentum", "steps": 100 if good else 600, "budget": 1000},
                       {"method": "noise", "steps": 300, "budget": 1000},
                       {"method": "noise", "steps": 310 if good else 990, "budget": 1000},
                       {"method": "GD at the saddle point", "steps": None if good else 5, "budget": 1000}]}


def test_verdicts_both_ways():
    good, bad = T.verdicts(_rec(True)), T.verdicts(_rec(False))
    assert set(good) == {"1a (η=0.035)", "1b", "1c (η=0.02)", "1d", "1d (SGD)", "1e (AdaGrad, noise 1)",
                         "1e (Adam, noise 1)", "1f (momentum)", "1f (noise)", "1g"}
    assert all(v for k, v in good.items() if k != "1d (SGD)") and not good["1d (SGD)"]
    assert not any(bad.values())


# -- the quick run ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(store, tmp_path_factory):
    # 3 surfaces × 10 optimisers and the 4 long runs of 1e through ctx.map
    return assert_arms_independent("trajectories", store, tmp_path_factory, min_items=34)[1]


def test_quick_run_verdicts_recomputed_from_records(run):
    rec = run.records
    assert {c: run.claims[c].holds for c in run.claims} == T.verdicts(rec)
    assert len(rec["runs"]) == len(T.SURFACES) * len(T.OPTIMISERS)
    sgd = [r for r in rec["adaptive"] if r["optimiser"] == "SGD"][0]
    assert sgd["ratio"] == pytest.approx(1.0)   # arithmetic: plain GD's step is η·g for every coordinate
    assert run.figures == {"quadratic", "rosenbrock", "saddle", "effective_lr", "saddle_escape"}
