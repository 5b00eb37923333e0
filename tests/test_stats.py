"""The lab's shared measurements (lab/stats.py) and set-ups (lab/training.py), on hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab import nn
from layerlab.lab import stats, training


def _two_unit_model(act: str, w, b) -> nn.Sequential:
    """Linear(2, len(w)) with the given weights and biases, the activation ``act``, a Linear read-out."""
    lin = nn.Linear(2, len(w), rng=np.random.default_rng(0))
    lin.weight.data[...] = np.asarray(w, dtype=np.float32)
    lin.bias.data[...] = np.asarray(b, dtype=np.float32)
    return nn.Sequential(lin, nn.activation(act), nn.Linear(len(w), 2, rng=np.random.default_rng(1)))


def test_square_mlp_layers_and_init():
    rng = np.random.default_rng(0)
    m = training.square_mlp(300, 3, "tanh", ("normal", {"std": 0.01}), rng)
    linears = [mod for mod in m if isinstance(mod, nn.Linear)]
    assert len(m) == 6 and len(linears) == 3 and all(isinstance(m[i], nn.Tanh) for i in (1, 3, 5))
    for lin in linears:
        assert lin.bias is None and lin.weight.data.dtype == np.float32 and lin.weight.data.shape == (300, 300)
        assert lin.weight.data.std() == pytest.approx(0.01, rel=0.02)
    assert not np.array_equal(linears[0].weight.data, linears[1].weight.data)
    ident = training.square_mlp(4, 2, None, ("identity", {"scale": 1.5}), rng)
    assert len(ident) == 2
    np.testing.assert_array_equal(ident[1].weight.data, 1.5 * np.eye(4, dtype=np.float32))


@pytest.mark.parametrize("act, fn", [("tanh", np.tanh), ("sigmoid", lambda a: 1 / (1 + np.exp(-a))),
                                     ("relu", lambda a: np.maximum(a, 0))])
def test_forward_stats_matches_numpy_oracle(act, fn):
    """The per-layer statistics are those of the notes' NumPy loop h = g(x @ W) with the same weights."""
    rng = np.random.default_rng(1)
    x = training.unit_gaussian(64, 40, rng)
    model = training.square_mlp(40, 3, act, "xavier_normal", rng)
    layers, out = stats.forward_stats(model, x)
    h = x.astype(np.float64)
    for s, lin in zip(layers, [m for m in model if isinstance(m, nn.Linear)]):
        a = h @ lin.weight.data.T.astype(np.float64)
        h = fn(a)
        assert s.pre_std == pytest.approx(a.std(), rel=1e-4)
        assert s.mean == pytest.approx(h.mean(), rel=1e-4, abs=1e-6)
        assert s.std == pytest.approx(h.std(), rel=1e-4)
        assert s.p50 == pytest.approx(np.percentile(h, 50), rel=1e-3, abs=1e-5)
        assert (s.saturated is not None) == (act in ("tanh", "sigmoid"))
        assert (s.dead is not None) == (act == "relu")
    np.testing.assert_allclose(out, h, rtol=1e-4, atol=1e-6)
    assert [s.layer for s in layers] == [1, 2, 3]
    counts, edges = layers[0].hist
    assert len(edges) == len(counts) + 1


def test_paired_lead_is_paired_seed_by_seed():
    # a common shift per seed (the same batches) cancels: the lead is 0.1 in every seed, SE 0
    r = stats.paired_lead([0.5, 0.9, 0.3], [0.6, 1.0, 0.4])
    assert r["diff"] == pytest.approx(0.1) and r["se"] == pytest.approx(0.0, abs=1e-12)
    assert r["beyond"] and r["seeds_ahead"] == 3 and r["seeds"] == 3
    # leads of +0.1 and −0.05: mean 0.025, SE = std(d, ddof=1)/√2 = 0.075 → within the noise
    r = stats.paired_lead([1.0, 1.0], [1.1, 0.95])
    assert r["diff"] == pytest.approx(0.025) and r["se"] == pytest.approx(0.075)
    assert not r["beyond"] and r["seeds_ahead"] == 1
    # behind, however consistently, is never "beyond" in the claimed direction
    assert not stats.paired_lead([0.6, 0.7], [0.5, 0.6])["beyond"]


def test_paired_lead_needs_two_seeds_for_a_noise_verdict():
    r = stats.paired_lead([0.4], [0.5])
    assert r["diff"] == pytest.approx(0.1) and math.isnan(r["se"]) and not r["beyond"]


def test_mean_se_tail_and_running_mean():
    m, se = stats.mean_se([1.0, 2.0, 3.0])
    assert m == 2.0 and se == pytest.approx(1.0 / math.sqrt(3.0))
    assert math.isnan(stats.mean_se([5.0])[1])
    assert stats.tail_mean([9.0, 1.0, 2.0, 3.0], 3) == 2.0
    assert math.isnan(stats.tail_mean([1.0, float("nan")], 5))
    np.testing.assert_allclose(stats.running_mean([2.0, 4.0, 6.0, 8.0], 2), [2.0, 3.0, 5.0, 7.0])


def test_unit_fractions_relu_dead_and_flat():
    # units: a = x0 (alive), a = −x0 − x1 (dead on positive inputs), a = −1 (dead), a = x1 − 0.5 (mixed)
    model = _two_unit_model("relu", [[1, 0], [-1, -1], [0, 0], [0, 1]], [0, 0, -1, -0.5])
    x = np.array([[1, 1], [2, 0.25], [0.5, 2]], dtype=np.float32)
    (layer,) = stats.unit_fractions(model, x)
    assert layer["dead"] == 0.5 and layer["saturated"] is None
    # f′ = 0 where a ≤ 0: unit 2 and 3 everywhere (6 entries) + unit 4 on the second input (1) → 7 of 12
    assert layer["flat"] == pytest.approx(7 / 12)


def test_unit_fractions_tanh_saturated():
    # a = 10·x0 saturates (|tanh| > 0.97) on every input, a = 0.1·x1 never does
    model = _two_unit_model("tanh", [[10, 0], [0, 0.1]], [0, 0])
    x = np.array([[1, 1], [-1, 2], [0.5, -3]], dtype=np.float32)
    (layer,) = stats.unit_fractions(model, x)
    assert layer["dead"] is None and layer["saturated"] == 0.5
    assert layer["flat"] == pytest.approx(0.5)  # tanh′(±5 or more) < 0.05; tanh′(0.3) ≈ 0.92


@pytest.mark.parametrize("points, labels, best", [
    ([[0, 0], [1, 1], [0, 1], [1, 0]], [0, 0, 1, 1], 0.75),                    # XOR: a line gets 3 of 4
    ([[0, 0], [1, 0], [3, 0], [4, 0]], [0, 0, 1, 1], 1.0),                      # separable, on one line
    ([[0, 0], [1, 0], [2, 0], [3, 0], [4, 0]], [0, 1, 0, 1, 0], 0.6),          # alternating on a line: 3 of 5
])
def test_best_linear_accuracy_hand_made(points, labels, best):
    acc, u, t, sign = stats.best_linear_accuracy(np.array(points, float), np.array(labels))
    assert acc == pytest.approx(best)
    pred = (sign * (np.array(points, float) @ u - t) > 0).astype(int)
    assert (pred == np.array(labels)).mean() == pytest.approx(best)  # the returned line achieves it


def test_best_linear_accuracy_against_a_dense_search():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((25, 2))
    y = (rng.random(25) < 0.5).astype(np.int64)
    acc, u, t, sign = stats.best_linear_accuracy(x, y)
    assert ((sign * (x @ u - t) > 0) == y).mean() == pytest.approx(acc)
    # brute force: 20,000 directions, every threshold, both orientations (a lower bound that is tight here)
    a = np.linspace(0, np.pi, 20000, endpoint=False)
    proj = np.sort(np.outer(np.cos(a), x[:, 0]) + np.outer(np.sin(a), x[:, 1]), axis=1)
    cuts = np.concatenate([proj[:, :1] - 1, (proj[:, 1:] + proj[:, :-1]) / 2, proj[:, -1:] + 1], axis=1)
    full = np.outer(np.cos(a), x[:, 0]) + np.outer(np.sin(a), x[:, 1])
    above = full[:, None, :] > cuts[:, :, None]
    correct = (above == y.astype(bool)).mean(axis=2)
    brute = float(np.maximum(correct, 1 - correct).max())
    assert brute == pytest.approx(acc)


def test_best_linear_accuracy_rejects_bad_input():
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        stats.best_linear_accuracy(np.zeros((4, 3)), np.zeros(4, int))
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        stats.best_linear_accuracy(np.zeros((4, 2)), np.array([0, 1, 2, 1]))


def test_steps_to_is_the_first_step_of_the_running_mean_at_the_level():
    assert stats.steps_to([3.0, 2.0, 1.0, 0.5], 1.0) == 2
    assert stats.steps_to([3.0, 2.0, 1.0, 0.5], 1.0, window=2) == 3   # running means 3, 2.5, 1.5, 0.75
    assert stats.steps_to([3.0, 2.0], 1.0) is None
    assert stats.steps_to([3.0, float("nan"), 0.1], 1.0, window=2) is None  # a NaN never counts as reached


def _curve(rate: float, n: int = 400, floor: float = 0.3) -> np.ndarray:
    t = np.arange(n)
    return floor + 2.0 * np.exp(-rate * t)


def test_much_faster_holds_for_a_curve_that_gets_there_in_under_half_the_steps():
    fast, slow = _curve(0.1), _curve(0.02)
    r = stats.much_faster(fast, slow, window=10)
    assert r["holds"] and r["ratio"] >= stats.MUCH_FASTER
    assert r["level"] == pytest.approx(stats.tail_mean(slow, 10))
    assert r["steps_fast"] < r["steps_slow"] / 2


def test_much_faster_does_not_hold_for_a_slightly_faster_or_a_diverged_curve():
    slow = _curve(0.02)
    r = stats.much_faster(_curve(0.025), slow, window=10)
    assert not r["holds"] and 1.0 <= r["ratio"] < stats.MUCH_FASTER
    # a steadily falling slow curve reaches its own final level at its last step, not "never"
    line = np.linspace(2.0, 1.0, 200)
    r = stats.much_faster(line - 0.01, line, window=10)
    assert r["steps_slow"] == 199 and not r["holds"]
    diverged = _curve(0.2)
    diverged[50:] = np.nan
    assert not stats.much_faster(diverged, slow, window=10)["holds"]
    assert not stats.much_faster(slow, _curve(0.1), window=10)["holds"]  # the other way round
    # starts below the slow run's final level (reached at step 0), then climbs far above it without a NaN
    blows_up = np.concatenate([np.full(100, 0.2), np.linspace(0.2, 150.0, 300)])
    r = stats.much_faster(blows_up, slow, window=10)
    assert r["steps_fast"] == 0 and r["ends_above"] and not r["holds"]


def test_dead_masks_follow_the_class_rule_for_relu_and_leaky_relu():
    # unit 1: a = x0 > 0 on every input (alive); unit 2: a = −x0 − x1 < 0 on every input (dead)
    w, b = [[1, 0], [-1, -1]], [0, 0]
    x = np.array([[1, 1], [2, 0.25], [0.5, 2]], dtype=np.float32)
    for act in ("relu", "leaky_relu"):
        (mask,) = stats.dead_masks(_two_unit_model(act, w, b), x)
        assert mask.tolist() == [False, True], act
    assert stats.dead_masks(_two_unit_model("tanh", w, b), x) == []  # tanh cannot die


class _Steps(training.Periodic):
    def measure(self, trainer) -> None:
        pass


@pytest.mark.parametrize("at_end, expected", [(True, [0, 3, 6, 7]), (False, [0, 3, 6])])
def test_periodic_measures_at_the_start_every_k_steps_and_at_the_end(at_end, expected):
    import layerlab as ll
    from layerlab import data, optim

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((28, 3)).astype(np.float32), rng.integers(0, 2, 28)
    model = nn.Sequential(nn.Linear(3, 2, rng=rng))
    probe = _Steps(every=3, at_end=at_end)
    ll.Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), callbacks=[probe],
               progress=False).fit(data.DataLoader(data.TensorDataset(x, y), batch_size=4), epochs=1)
    assert probe.steps == expected  # 7 steps of 4 examples


def test_mlp_with_dropout_keeps_the_weights_and_puts_a_dropout_after_each_hidden_activation():
    plain = training.mlp([6, 5, 4, 3], "relu", "he_normal", np.random.default_rng(0), out_init="xavier_normal")
    drop = training.mlp([6, 5, 4, 3], "relu", "he_normal", np.random.default_rng(0), out_init="xavier_normal",
                        dropout=0.5)
    assert [type(m).__name__ for m in drop] == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert all(m.p == 0.5 for m in drop if isinstance(m, nn.Dropout))
    for a, b in zip(plain.parameters(), drop.parameters()):  # the masks are seeded after every weight is drawn
        np.testing.assert_array_equal(a.data, b.data)
    # the output layer has its own init: Xavier's std √(2/(4+3)) vs He's √(2/4) for the hidden ones
    big = training.mlp([400, 400, 400], "relu", "he_normal", np.random.default_rng(1), out_init="xavier_normal")
    assert big[0].weight.data.std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert big[2].weight.data.std() == pytest.approx(math.sqrt(2 / 800), rel=0.02)


def test_format_lead_says_when_every_seed_agrees():
    from layerlab.lab.stats import format_lead, paired_lead
    assert format_lead(paired_lead([0.5, 0.5], [0.5, 0.5])).startswith("+0.0000 (the same on every seed")
    assert "SE)" in format_lead(paired_lead([0.4, 0.5], [0.5, 0.7]))
