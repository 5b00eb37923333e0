"""Issue 12, point 8 (backprop_paths): the path sum and the counts (arithmetic, pinned), the verdict functions on
synthetic records both ways, and a --quick run whose stored verdicts are recomputed from its stored records (no
timing verdict is pinned)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab.lab.experiments import backprop as B
from lab_quick import quick_run


# -- arithmetic ------------------------------------------------------------------------------------------------------
def test_counts():
    assert B.count_paths(3, 4) == 81 and B.count_paths(2, 1) == 2
    assert B.count_edges(3, 1) == 6 and B.count_edges(3, 4) == 6 + 3 * 9


@pytest.mark.parametrize("w,d", [(2, 1), (2, 5), (3, 4)])
def test_path_sum_equals_backward_and_finite_differences(w, d):
    weights = B.build_weights(w, d, np.random.default_rng(w * 10 + d))
    naive, back = B.naive_path_sum(0.4, weights), B.backward_gradient(0.4, weights)
    assert naive == pytest.approx(back, rel=1e-12)

    def f(x):
        h = np.array([[x]])
        for W in weights[:-1]:
            h = np.tanh(h @ W)
        return float((h @ weights[-1]).sum())
    eps = 1e-6
    assert naive == pytest.approx((f(0.4 + eps) - f(0.4 - eps)) / (2 * eps), rel=1e-6)


def test_linear_graph_path_sum_is_the_product_of_the_matrices():
    """With all slopes 1 (a linear DAG) the path sum is W₁W₂…v; checked through the sum's own code path."""
    weights = [np.array([[1.0, 2.0]]), np.array([[1.0, -1.0], [0.5, 3.0]]), np.array([[2.0], [1.0]])]
    lin = float((weights[0] @ weights[1] @ weights[2])[0, 0])
    assert lin == 1 * (1 * 2 + -1 * 1) + 2 * (0.5 * 2 + 3 * 1)
    assert B.naive_path_sum(0.0, weights) == pytest.approx(lin)  # at x = 0 every z is 0: tanh'(0) = 1


# -- verdicts on synthetic records, both ways ------------------------------------------------------------------------
def _rows(w, depths, naive, back, grad_err=0.0):
    return [{"w": w, "d": d, "paths": w ** d, "edges": 2 * w + (d - 1) * w * w, "naive_grad": 1.0 + grad_err,
             "backward_grad": 1.0, "naive_s": naive(d), "backward_s": back(d)} for d in depths]


def test_agree_both_ways():
    assert B.check_agree(_rows(3, range(1, 9), lambda d: 1.0, lambda d: 1.0))
    assert not B.check_agree(_rows(3, range(1, 9), lambda d: 1.0, lambda d: 1.0, grad_err=1e-6))
    assert not B.check_agree([])


def test_exponential_both_ways():
    exp_rows = _rows(3, range(1, 11), lambda d: 1e-7 * 3.0 ** d, lambda d: 1e-4 * d)
    ok, s = B.check_exponential(exp_rows, 3)
    assert ok and s == pytest.approx(math.log(3))
    lin_rows = _rows(3, range(1, 11), lambda d: 1e-4 * d, lambda d: 1e-4 * d)
    assert not B.check_exponential(lin_rows, 3)[0]
    assert not B.check_exponential(_rows(3, range(1, 11), lambda d: 1e-7 * 9.0 ** d, lambda d: 1.0), 3)[0]


def test_linear_both_ways():
    ok, s = B.check_linear(_rows(3, range(1, 11), lambda d: 1.0, lambda d: 1e-4 * d), 3)
    assert ok and s == pytest.approx(1.0)
    assert not B.check_linear(_rows(3, range(1, 11), lambda d: 1.0, lambda d: 1e-7 * 3.0 ** d), 3)[0]


def test_verdicts_keys_and_counts_claim():
    rows = _rows(2, range(1, 12), lambda d: 1e-7 * 2.0 ** d, lambda d: 1e-4 * d)
    v = B.verdicts(rows)
    assert v == {"8a": True, "8b (w=2)": True, "8c (w=2)": True, "8d": True}
    rows[0]["paths"] += 1
    assert not B.verdicts(rows)["8d"]


# -- the quick run ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(store, tmp_path_factory):
    return quick_run("backprop_paths", store, tmp_path_factory)


def test_quick_run_verdicts_recomputed_from_records(run):
    rows = run.records
    cfg = B.BackpropConfig(**B.BackpropConfig.QUICK)
    assert len(rows) == sum(cfg.max_depths)
    assert {c: run.claims[c].holds for c in run.claims} == B.verdicts(rows)
    assert run.claims["8a"].holds and run.claims["8d"].holds      # identities: pinned
    assert run.figures == {"paths"}
