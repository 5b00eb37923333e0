"""Claims 9 (one-signed gradients with sigmoid) and 10 (dead ReLU units): the measurements on hand-checked
cases, the verdict functions on synthetic records both ways, and a --quick run of each experiment whose
stored verdicts are recomputed from its own records (no test pins the verdict of a training run)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab.lab.experiments import dying_relu as D
from layerlab.lab.experiments import gradients as G
from layerlab.lab.training import mlp
from layerlab.lab import Context
from layerlab.probes import sign_agreement
from lab_quick import assert_arms_independent


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# -- claim 9: the sign measurement ----------------------------------------------------------------------------
def test_sign_agreement_on_a_hand_made_gradient():
    g = np.array([[1.0, 2.0, 0.0],     # one sign (the 0 has none): agreement 1
                  [-1.0, 2.0, 3.0],    # mixed: majority + has 2 of 3
                  [0.0, 0.0, 0.0]])    # no gradient at all (a dead unit): left out
    agree, one = sign_agreement(g)
    assert agree == pytest.approx((1.0 + 2.0 / 3.0) / 2)
    assert one == 0.5


@pytest.mark.parametrize("act, fn", [("sigmoid", _sigmoid), ("tanh", np.tanh)])
def test_layer2_gradient_is_delta_times_h1(act, fn):
    """The engine's ∂L/∂W2 equals the notes' δ·h1ᵀ, computed by hand in float64 for one example."""
    rng = np.random.default_rng(3)
    model = mlp([5, 4, 3, 2], act, "xavier_normal", rng, dtype=np.float64)
    for lin in (model[0], model[2], model[4]):  # non-zero biases so that nothing is symmetric by accident
        lin.bias.data[...] = rng.standard_normal(lin.bias.data.shape)
    x = rng.standard_normal((1, 5))
    y = np.array([1])
    g = G.weight_grad(model, G.LAYER, x, y)
    w1, b1, w2, b2, w3, b3 = (p.data for p in (model[0].weight, model[0].bias, model[2].weight, model[2].bias,
                                                model[4].weight, model[4].bias))
    h1 = fn(x @ w1.T + b1)
    h2 = fn(h1 @ w2.T + b2)
    z = h2 @ w3.T + b3
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    dz = p - np.eye(2)[y]
    dh2 = dz @ w3
    delta = dh2 * (h2 * (1 - h2) if act == "sigmoid" else 1 - h2 ** 2)
    np.testing.assert_allclose(g, delta.T @ h1, rtol=1e-10, atol=1e-14)
    # with sigmoid every row of δ·h1ᵀ has the sign of δ_i: one-signed; here tanh's h1 has both signs
    assert (h1 > 0).all() if act == "sigmoid" else (h1 > 0).any() and (h1 < 0).any()
    assert sign_agreement(g)[1] == (1.0 if act == "sigmoid" else 0.0)


def test_per_example_signs_is_one_backward_per_example():
    rng = np.random.default_rng(0)
    model = mlp([6, 5, 4, 3], "sigmoid", "xavier_normal", rng, dtype=np.float64)
    x = rng.random((4, 6))
    y = np.array([0, 1, 2, 1])
    stats = G.per_example_signs(model, G.LAYER, x, y)
    assert stats.shape == (4, 2)
    np.testing.assert_array_equal(stats, 1.0)  # sigmoid: exact, every example
    # the mini-batch gradient is the mean of the per-example ones — and need not be one-signed
    g_batch = G.weight_grad(model, G.LAYER, x, y)
    g_sum = sum(G.weight_grad(model, G.LAYER, x[i:i + 1], y[i:i + 1]) for i in range(4)) / 4
    np.testing.assert_allclose(g_batch, g_sum, rtol=1e-12)


@pytest.mark.parametrize("sig, tanh, holds", [
    ([1.0, 1.0], [0.0, 0.01], True),
    ([1.0, 0.99], [0.0], False),           # one example with a mixed sigmoid unit
    ([1.0], [0.0, 0.02], False),           # tanh: 2% one-signed
    ([1.0, math.nan], [0.0], False),       # no measurable unit: not a pass
    ([], [0.0], False),
])
def test_check_one_signed(sig, tanh, holds):
    assert G.check_one_signed(sig, tanh) is holds


def test_zigzag_path_with_positive_inputs_moves_both_weights_together():
    rng = np.random.default_rng(1)
    h = _sigmoid(rng.standard_normal((50, 2)))
    res = G.zigzag_path(h, (1.0, -1.0), (-1.0, 1.0), lr=0.3, steps=30, rng=np.random.default_rng(2))
    assert res["path"].shape == (31, 2) and res["grads"].shape == (30, 2)
    assert G.same_sign_steps(res["grads"]) == 1.0
    # the first step by hand: L = (w·h − t)², ∂L/∂w = 2(w·h − t)·h, w ← w − η·∂L/∂w
    i = np.random.default_rng(2).integers(0, 50, size=30)[0]
    w0 = np.array([-1.0, 1.0])
    grad = 2 * (w0 @ h[i] - h[i] @ np.array([1.0, -1.0])) * h[i]
    np.testing.assert_allclose(res["grads"][0], grad, rtol=1e-12)
    np.testing.assert_allclose(res["path"][1], w0 - 0.3 * grad, rtol=1e-12)
    # zero-centred inputs: steps in all four quadrants
    mixed = G.zigzag_path(np.tanh(rng.standard_normal((50, 2))), (1.0, -1.0), (-1.0, 1.0), 0.3, 30,
                          np.random.default_rng(2))
    assert 0.2 < G.same_sign_steps(mixed["grads"]) < 0.8


# -- claim 10: dead units ------------------------------------------------------------------------------------------
# (the dead rule itself, one for ReLU and LeakyReLU, is layerlab.lab.stats.dead_masks: tests/test_stats.py)
def test_persistence_and_verdicts():
    masks = [np.array([True, False, False]), np.array([True, True, False]), np.array([True, False, False])]
    assert D.persistence(masks) == (2, 1)                      # unit 1 was dead, then came back
    assert D.persistence(masks[:1]) == (0, 0)
    assert D.check_kills(0.5, 19, 20) and not D.check_kills(0.49, 20, 20) and not D.check_kills(0.9, 18, 20)
    assert not D.check_kills(0.9, 0, 0)                        # nothing was ever dead: nothing stayed dead
    assert D.check_reduces(0.70, 0.80) and not D.check_reduces(0.71, 0.80)


def test_remedy_verdict_refuses_a_diverged_run():
    assert D.check_remedy(0.70, 0.80, diverged=0)
    assert not D.check_remedy(0.75, 0.80, diverged=0)                           # too small a reduction
    assert not D.check_remedy(0.0, 0.90, diverged=1)                            # a diverged run is no remedy
    assert D.check_remedy(0.02, 0.60, diverged=0, at_most=D.SMALL_FRACTION)
    assert not D.check_remedy(0.30, 0.90, diverged=0, at_most=D.SMALL_FRACTION)  # fewer, but still many dead


def test_the_eta_of_the_leaky_rows_follow_the_rules():
    base = {0.01: (0.0, 0), 0.1: (0.01, 0), 0.5: (0.6, 1), 0.7: (0.55, 0), 1.0: (0.9, 0)}
    assert D.choose_eta(base) == 0.7                            # 0.5 kills, but diverged: not a clean baseline
    assert D.choose_eta({0.1: (0.01, 0), 1.0: (0.4, 0)}) is None
    div = {0.1: (0, 0), 0.3: (0, 0), 0.5: (0, 1), 0.7: (1, 0), 1.0: (0, 3)}  # (ReLU, LeakyReLU) diverged runs
    assert D.stable_eta(div) == 0.3
    assert D.stable_eta({1.0: (0, 3)}) is None
    assert D.leaky_rows(0.7, 0.3, 1.0) == [(0.7, "chosen"), (0.3, "stable"), (1.0, "large")]
    assert D.leaky_rows(1.0, 0.5, 1.0) == [(1.0, "chosen+large"), (0.5, "stable")]
    assert D.leaky_rows(None, None, 1.0) == [(1.0, "large")]
    assert D.eta_grid(D.DyingReluConfig()) == [0.01, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0]


def test_replaying_a_run_reaches_the_same_dead_fraction():
    """The paired comparison replays a run to an earlier step: the trajectory must be the same."""
    rng = np.random.default_rng(0)
    x = rng.random((512, 784), dtype=np.float32)
    y = rng.integers(0, 10, 512)
    cfg = D.DyingReluConfig(width=16, iterations=12, batch_size=32, seeds=1, n_eval=64, check_every=4)
    ctx = Context("/tmp/unused-layerlab-test", seed=5)
    cond = D.Condition("relu", 0.5, 0.0)
    r = D._run_condition(cond, cfg, ctx, x, y, x[:64])
    end = r["seeds"][0]["end"]
    assert D._dead_at(cond, cfg, ctx, 0, end, x, y, x[:64]) == r["seeds"][0]["pooled"]
    steps, curve = r["seeds"][0]["curve"]
    k = list(steps).index(4)
    assert 0 < curve[k] < 1 and curve[k] != curve[-1]  # a trajectory, not a constant: the test can fail
    assert D._dead_at(cond, cfg, ctx, 0, 4, x, y, x[:64]) == curve[k]


def test_paired_reads_the_replays_made_beforehand():
    """The replays a paired comparison needs are listed first (to run them through ctx.map) and then read back:
    only the run that ends later than its pair is replayed, to the pair's end."""
    cfg = D.DyingReluConfig(seeds=2)
    rem, base = D.Condition("leaky_relu", 1.0, 0.0), D.Condition("relu", 1.0, 0.0)
    res = {rem: {"seeds": [{"end": 200, "pooled": 0.1}, {"end": 40, "pooled": 0.3}]},
           base: {"seeds": [{"end": 70, "pooled": 0.6}, {"end": 200, "pooled": 0.9}]}}
    todo = D._replay_steps(rem, base, res, cfg)
    assert todo == [(rem, 0, 70), (base, 1, 40)]
    replayed = dict(zip(todo, (0.2, 0.5)))
    # nothing is re-trained here (no data given): every replay comes from `replayed`
    p = D.paired(rem, base, res, cfg, None, None, None, None, replayed)
    assert p == {"steps": [70, 40], "remedy": [0.2, 0.3], "base": [0.6, 0.5]}


def test_conditions_are_one_row_each():
    labels = [c.label for c in D.conditions(D.DyingReluConfig())]
    grid = ["0.01", "0.1", "0.2", "0.3", "0.5", "0.7", "1"]
    assert labels == ([f"ReLU, η = {lr}, b₀ = 0" for lr in grid]
                      + ["ReLU, η = 1, b₀ = 0.01", "ReLU, η = 0.1, b₀ = −1", "ReLU, η = 0.1, b₀ = −3"]
                      + [f"LeakyReLU, η = {lr}, b₀ = 0" for lr in grid])


# -- the experiments, --quick, through the runner ------------------------------------------------------------------
def _run(name, store, tmp_path_factory, min_items):
    r = assert_arms_independent(name, store, tmp_path_factory, min_items=min_items)[1]
    return r.claims, r.outcome.data["records"], r.figures


@pytest.fixture(scope="module")
def signs_run(store, tmp_path_factory):
    return _run("gradient_signs", store, tmp_path_factory, 2)  # sigmoid, tanh


@pytest.fixture(scope="module")
def dying_run(store, tmp_path_factory):
    return _run("dying_relu", store, tmp_path_factory, 57)  # 17 conditions × 3 seeds + 6 replays to a pair's end


def test_gradient_signs_quick(signs_run):
    claims, records, figs = signs_run
    assert sorted(claims) == ["9a", "9b"] and figs == {"signs", "signs_training", "zigzag"}
    per = records["per example (mean over the fixed examples)"]
    sig = [r for r in per if r["activation"] == "sigmoid"]
    tan = [r for r in per if r["activation"] == "tanh"]
    assert [r["iteration"] for r in sig] == [0, 15, 30, 45, 60]  # init and while training
    # 9a from the records: the worst example of each checkpoint decides
    ok_a = G.check_one_signed([r["min over examples"] for r in sig], [r["max over examples"] for r in tan])
    assert claims["9a"].holds is ok_a
    # arithmetic, not a training outcome: h1 = σ(·) > 0, so every example's δ_i·h1ᵀ row is one-signed
    assert min(r["min over examples"] for r in sig) == 1.0
    batch = {r["activation"]: r for r in records["per mini-batch of 64 (training batches)"]}
    ok_b = G.check_one_signed([batch["sigmoid"]["min"]], [batch["tanh"]["max"]])
    assert claims["9b"].holds is ok_b
    assert f"sigmoid {batch['sigmoid']['one-signed units, mean']:.1%}" in claims["9b"].measured
    zig = {r["inputs"][:7]: r for r in records["2-D illustration"]}
    assert zig["sigmoid"]["steps in (+,+) or (−,−)"] == 1.0  # arithmetic: positive inputs, one-signed steps


def test_dying_relu_quick(dying_run):
    claims, records, figs = dying_run
    assert figs == {"dead_fraction", "remedies", "dead_vs_eta", "dead_over_training", "loss"}
    rows = {r["condition"]: r for r in records["each condition (mean over seeds)"]}
    cfg = D.DyingReluConfig()
    relu = {lr: rows[f"ReLU, η = {lr:g}, b₀ = 0"] for lr in D.eta_grid(cfg)}
    large = relu[cfg.large_lr]
    small = [relu[lr] for lr in cfg.small_lrs]
    ok_a = (large["dead, pooled"] >= D.LARGE_FRACTION and large["stayed dead"] >= D.FOR_GOOD  # NaN: never dead
            and all(r["dead, pooled"] <= D.SMALL_FRACTION for r in small))
    assert claims["10a"].holds is bool(ok_a)
    for cid, label in (("10b", "ReLU, η = 0.1, b₀ = −1"), ("10c", "ReLU, η = 0.1, b₀ = −3")):
        r = rows[label]
        ok = r["dead, pooled"] >= D.LARGE_FRACTION and (r["stayed dead"] or 0) >= D.FOR_GOOD
        assert claims[cid].holds is bool(ok), (cid, r)
    # the η of the LeakyReLU rows, recomputed from the ReLU and LeakyReLU rows by the rules stated in advance
    leaky = {lr: rows[f"LeakyReLU, η = {lr:g}, b₀ = 0"] for lr in D.eta_grid(cfg)}
    assert len(rows) == len(D.conditions(cfg))
    choice = records["the η of the LeakyReLU rows"]
    assert [c["η"] for c in choice] == D.eta_grid(cfg)
    for c in choice:
        lr = c["η"]
        assert (c["ReLU dead, pooled (mean over seeds)"], c["ReLU diverged runs"],
                c["LeakyReLU dead, pooled (mean over seeds)"], c["LeakyReLU diverged runs"]) == (
            relu[lr]["dead, pooled"], relu[lr]["diverged runs"], leaky[lr]["dead, pooled"], leaky[lr]["diverged runs"])
    at = D.leaky_rows(D.choose_eta({lr: (r["dead, pooled"], r["diverged runs"]) for lr, r in relu.items()}),
                      D.stable_eta({lr: (relu[lr]["diverged runs"], leaky[lr]["diverged runs"]) for lr in relu}),
                      cfg.large_lr)
    assert {c["η"]: c["row"] for c in choice if c["row"]} == dict(at)
    # the remedies, recomputed from the paired records (same seed, same step) and the divergence counts
    pairs = records["remedies vs ReLU at the same step"]
    remedies = [f"ReLU, η = {cfg.large_lr:g}, b₀ = {cfg.positive_bias:g}"] + [f"LeakyReLU, η = {lr:g}, b₀ = 0"
                                                                             for lr, _ in at]
    assert list(dict.fromkeys(p["remedy"] for p in pairs)) == remedies
    assert sorted(claims) == [f"10{c}" for c in "abcdefgh"][:3 + len(remedies)]
    for cid, label in zip(("10d", "10e", "10f", "10g"), remedies):
        p = [r for r in pairs if r["remedy"] == label]
        assert len(p) == cfg.seeds
        rem = float(np.mean([r["dead, remedy (pooled)"] for r in p]))
        base = float(np.mean([r["dead, ReLU b₀ = 0 (pooled)"] for r in p]))
        diverged = sum(r["remedy diverged at step"] is not None for r in p)
        assert diverged == rows[label]["diverged runs"]
        at_most = D.SMALL_FRACTION if label.startswith("LeakyReLU") else None
        assert claims[cid].holds is D.check_remedy(rem, base, diverged, at_most=at_most), (cid, rem, base)
        if diverged:
            assert "NaN" in claims[cid].measured
