"""Probes: each statistic on hand-computed cases, sampling, hook hygiene, and no effect on training."""

import math
import types

import numpy as np
import pytest

import layerlab as ll
from layerlab import nn
from layerlab.probes import (
    DEFAULT_EVERY, ActivationStats, GradientStats, Symmetry, UpdateRatio, can_die, is_activation, saturation_range,
    sign_agreement, unit_distances,
)


# -- helpers -------------------------------------------------------------------------------------

def mlp(sizes, act=nn.Tanh, init="xavier_normal", seed=0, dtype=np.float64, bias_init=0.0):
    rng = np.random.default_rng(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, init=init, bias_init=bias_init, rng=rng, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def set_linear(layer, w, b):
    layer.weight.data[...] = w
    layer.bias.data[...] = b


def mse_backward(model, x, y):
    """Zero the grads, forward, loss = mean((f(x) − y)²), backward; returns the loss."""
    for p in model.parameters():
        p.grad = None
    d = model(ll.tensor(x)) - ll.tensor(y)
    loss = (d * d).mean()
    loss.backward()
    return loss.item()


def sgd_step(model, lr):
    for p in model.parameters():
        p.data -= p.data.dtype.type(lr) * p.grad


def fake_trainer(model):
    return types.SimpleNamespace(model=model, step=0, epoch=0)


def drive(probes, model, batches, lr=0.1, epochs=1):
    """Run the Trainer's callback sequence by hand (forward, backward, SGD)."""
    t = fake_trainer(model)
    for p in probes:
        p.on_fit_start(t)
    for epoch in range(epochs):
        t.epoch = epoch
        for p in probes:
            p.on_epoch_start(t, epoch)
        for x, y in batches:
            step = t.step
            for p in probes:
                p.on_batch_start(t, step, (x, y))
            loss = mse_backward(model, x, y)
            for p in probes:
                p.on_after_backward(t, step)
            sgd_step(model, lr)
            t.step += 1
            for p in probes:
                p.on_batch_end(t, step, {"loss": loss, "lr": lr})
        for p in probes:
            p.on_epoch_end(t, epoch, {})
    for p in probes:
        p.on_fit_end(t)
    return t


def hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def batches_of(n_batches, n, d_in, d_out, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((n, d_in)).astype(dtype), rng.standard_normal((n, d_out)).astype(dtype))
            for _ in range(n_batches)]


# -- ActivationStats: hand-computed cases -------------------------------------------------------

def test_dead_units_exactly_three_of_n_and_over_the_epoch():
    # 8 ReLU units on 4 inputs: units 0-2 have w = 0, b = -1 (always 0: dead), unit 3 copies
    # input 0 (active only when some x0 > 0), units 4-7 have b = +5 (always active).
    n = 8
    model = nn.Sequential(nn.Linear(4, n, dtype=np.float64), nn.ReLU())
    w = np.zeros((n, 4))
    w[3, 0] = 1.0
    w[4:, 1] = 0.1
    b = np.array([-1, -1, -1, 0, 5, 5, 5, 5], dtype=np.float64)
    set_linear(model[0], w, b)
    rng = np.random.default_rng(0)
    x_neg = rng.standard_normal((16, 4))
    x_neg[:, 0] = -np.abs(x_neg[:, 0]) - 0.1  # unit 3 is 0 on this whole batch
    x_pos = rng.standard_normal((16, 4))
    x_pos[0, 0] = 2.0  # ... and active on one example of this one
    with ActivationStats(model) as probe:
        model(ll.tensor(x_neg))
        model(ll.tensor(x_pos))
        assert probe.epoch_dead() == {"1": 3 / n}
        assert probe.end_epoch() == {"1": 3 / n}
    steps, dead = probe.series("1", "dead")
    assert steps.tolist() == [0, 1]
    assert dead.tolist() == [4 / n, 3 / n]
    assert probe.series("1", "dead_epoch")[0].tolist() == [1]
    assert probe.epoch_dead() == {}  # a new epoch began
    assert "dead" not in probe.last()["1"]["pre"]  # dead is a property of the activation h


def test_dead_epoch_recorded_by_the_trainer_callbacks():
    model = nn.Sequential(nn.Linear(3, 5, dtype=np.float64), nn.ReLU(), nn.Linear(5, 1, dtype=np.float64))
    set_linear(model[0], np.zeros((5, 3)), np.array([-1.0, -2.0, 1.0, 1.0, 1.0]))
    model[0].weight.data[4, 0] = 10.0  # unit 4: dead on batch 0 (x0 < -1), alive on batch 1
    x0 = -np.ones((4, 3)) * 2
    x1 = np.ones((4, 3))
    probe = ActivationStats(every=1)
    drive([probe], model, [(x0, np.zeros((4, 1))), (x1, np.zeros((4, 1)))], lr=0.0, epochs=2)
    steps, dead = probe.series("1", "dead")
    assert steps.tolist() == [0, 1, 2, 3]
    assert dead.tolist() == [3 / 5, 2 / 5] * 2
    steps, dead_epoch = probe.series("1", "dead_epoch")
    assert steps.tolist() == [1, 3]  # recorded at the last step of each epoch
    assert dead_epoch.tolist() == [2 / 5, 2 / 5]


@pytest.mark.parametrize("k", [0, 3, 7])
def test_tanh_saturation_k_of_n_units(k):
    n = 10
    model = nn.Sequential(nn.Linear(n, n, dtype=np.float64), nn.Tanh())
    gains = np.full(n, 0.5)  # tanh(0.5·1) = 0.46: not saturated
    gains[:k] = 3.0  # tanh(3) = 0.995 > 0.97: saturated
    gains[k] = -2.0  # tanh(−2) = −0.964: just not saturated
    set_linear(model[0], np.diag(gains), np.zeros(n))
    with ActivationStats(model) as probe:
        model(ll.tensor(np.ones((6, n))))
    assert probe.last()["1"]["post"]["saturated"] == k / n
    assert "saturated" not in probe.last()["1"]["pre"]


@pytest.mark.parametrize("h, saturated", [(0.02, True), (0.035, False), (0.5, False), (0.965, False), (0.975, True)])
def test_sigmoid_saturation_is_relative_to_its_range(h, saturated):
    model = nn.Sequential(nn.Linear(1, 1, dtype=np.float64), nn.Sigmoid())
    set_linear(model[0], np.ones((1, 1)), np.zeros(1))
    logit = math.log(h / (1 - h))
    with ActivationStats(model) as probe:
        model(ll.tensor(np.full((3, 1), logit)))
    assert probe.last()["1"]["post"]["saturated"] == (1.0 if saturated else 0.0)


def test_saturation_ranges_by_class():
    assert saturation_range(nn.Tanh()) == (-1.0, 1.0)
    assert saturation_range(nn.Sigmoid()) == (0.0, 1.0)
    assert saturation_range(nn.ReLU6()) == (None, 6.0)
    assert saturation_range(nn.ELU(alpha=0.5)) == (-0.5, None)
    assert saturation_range(nn.ReLU()) is None and saturation_range(nn.Softplus()) is None
    assert saturation_range(nn.Linear(2, 2)) is None

    class MyTanh(nn.Tanh):
        pass

    assert saturation_range(MyTanh()) == (-1.0, 1.0)
    assert can_die(nn.ReLU()) and can_die(nn.LeakyReLU()) and not can_die(nn.Tanh())
    assert not can_die(nn.Linear(2, 2)) and not is_activation(nn.Linear(2, 2))
    assert is_activation(MyTanh()) and is_activation(nn.Softmax())


@pytest.mark.parametrize("make", [lambda: nn.LeakyReLU(0.1), lambda: nn.PReLU(init=0.25)], ids=["leaky", "prelu"])
def test_leaky_units_stuck_in_the_leaky_regime_are_dead(make):
    # one rule for every class that can die: dead <=> output <= 0 on every example. A leaky unit's
    # output is never exactly 0 off x = 0, but with x <= 0 everywhere it only ever gets α·g.
    x = np.array([
        [-1.0, -2.0, 0.5, 0.0, 3.0],
        [-3.0, -0.1, -1.0, 0.0, 2.0],
        [-2.0, -5.0, -4.0, 0.0, 1.0],
    ])
    model = nn.Sequential(make()).to(np.float64)
    with ActivationStats(model) as probe:
        model(ll.tensor(x))
        model(ll.tensor(np.abs(x)))  # every unit but the all-zero one is positive somewhere
        assert probe.epoch_dead() == {"0": 1 / 5}
    # units 0, 1 (negative everywhere) and 3 (x = 0: h = 0) are dead; unit 2 is positive once
    assert probe.series("0", "dead")[1].tolist() == [3 / 5, 1 / 5]


def test_elu_saturation_is_relative_to_its_alpha():
    # ELU(α = 0.5): h → −0.5; saturated where h < −0.97·0.5, i.e. x < ln(0.03) ≈ −3.51
    model = nn.Sequential(nn.ELU(alpha=0.5)).to(np.float64)
    with ActivationStats(model, bins=10) as probe:
        model(ll.tensor(np.array([[-3.6, -3.4, -10.0, 0.0, 100.0]])))
    post = probe.last()["0"]["post"]
    assert post["saturated"] == 2 / 5 and "dead" not in post
    counts, edges = probe.histograms(kind="post")["0"]
    # one end open: the histogram bins the data's range, not the saturation range
    assert (edges[0], edges[-1]) == (post["min"], post["max"]) == (pytest.approx(-0.5 * (1 - np.exp(-10.0))), 100.0)


def test_moments_percentiles_and_min_max_match_numpy():
    model = mlp([20, 30, 30], act=nn.Tanh, seed=1)
    x = np.random.default_rng(1).standard_normal((40, 20))
    seen = {}
    model[1].register_forward_hook(lambda m, i, o: seen.update(pre=i[0].data.copy(), post=o.data.copy()))
    with ActivationStats(model, layers=["1"]) as probe:
        model(ll.tensor(x))
    for kind in ("pre", "post"):
        a = seen[kind]
        got = probe.last()["1"][kind]
        assert got["mean"] == pytest.approx(a.mean(), rel=1e-12)
        assert got["std"] == pytest.approx(a.std(), rel=1e-12)
        assert (got["min"], got["max"]) == (a.min(), a.max())
        assert [got["p15"], got["p50"], got["p85"]] == pytest.approx(np.percentile(a, [15, 50, 85]), rel=1e-12)


def test_percentiles_of_a_large_tensor_use_a_fixed_subsample():
    x = np.random.default_rng(2).standard_normal((300, 200))  # 60,000 entries > sample_size
    model = nn.Sequential(nn.Identity())
    probes = [ActivationStats(model, layers=["0"], sample_size=4096, seed=7) for _ in range(2)]
    for p in probes:
        with p:
            model(ll.tensor(x))
    a, b = (p.last()["0"]["post"] for p in probes)
    assert [a[s] for s in ("p15", "p50", "p85")] == [b[s] for s in ("p15", "p50", "p85")]  # same subsample
    exact = np.percentile(x, [15, 50, 85])
    assert [a["p15"], a["p50"], a["p85"]] == pytest.approx(exact, abs=0.06)
    assert [a["p15"], a["p50"], a["p85"]] != pytest.approx(exact, abs=1e-9)  # really a subsample
    assert a["mean"] == pytest.approx(x.mean(), rel=1e-12)  # moments use every entry


def test_histogram_counts_match_numpy_and_use_the_activation_range():
    model = nn.Sequential(nn.Linear(50, 400, init=("normal", {"std": 0.2}), rng=3), nn.Tanh())
    x = np.random.default_rng(3).standard_normal((64, 50)).astype(np.float32)
    seen = {}
    model[1].register_forward_hook(lambda m, i, o: seen.update(pre=i[0].data.copy(), post=o.data.copy()))
    with ActivationStats(model, bins=40) as probe:
        model(ll.tensor(x))
    hists = probe.histograms()
    counts, edges = hists["1"]["post"]
    assert edges[0] == -1.0 and edges[-1] == 1.0 and len(edges) == 41  # tanh's range, shared by all steps
    ref_counts, ref_edges = np.histogram(seen["post"], bins=40, range=(-1, 1))
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_allclose(edges, ref_edges)
    counts, edges = hists["1"]["pre"]  # unbounded: the data's [min, max]
    assert (edges[0], edges[-1]) == (float(seen["pre"].min()), float(seen["pre"].max()))
    assert counts.sum() == seen["pre"].size
    np.testing.assert_array_equal(counts, np.histogram(seen["pre"], bins=40)[0])
    assert probe.histograms(0, kind="post")["1"][0] is hists["1"]["post"][0]


def test_histogram_with_a_given_range_drops_values_outside_it():
    model = nn.Sequential(nn.Identity())
    x = np.array([[-3.0, -1.0, -0.5, 0.0, 0.49, 0.5, 1.0, 2.0]])
    with ActivationStats(model, layers=["0"], bins=4, range=(-1, 1), what="post") as probe:
        model(ll.tensor(x))
    counts, edges = probe.histograms(kind="post")["0"]
    np.testing.assert_array_equal(edges, [-1.0, -0.5, 0.0, 0.5, 1.0])
    np.testing.assert_array_equal(counts, np.histogram(x, bins=4, range=(-1, 1))[0])
    assert counts.tolist() == [1, 1, 2, 2]  # the right edge (1.0) falls in the last bin


def test_non_finite_entries_are_counted_and_left_out_of_the_distribution():
    model = nn.Sequential(nn.Identity())
    x = np.array([[1.0, np.nan, 3.0, np.inf], [2.0, 4.0, 5.0, 6.0]])
    with ActivationStats(model, layers=["0"], what="post", bins=5) as probe:
        model(ll.tensor(x))
    got = probe.last()["0"]["post"]
    assert got["nonfinite"] == 2 / 8
    assert (got["min"], got["max"], got["p50"]) == (1.0, 6.0, 3.5)
    assert probe.histograms(kind="post")["0"][0].sum() == 6


def test_a_module_used_twice_in_one_pass_is_recorded_twice():
    act = nn.ReLU()
    model = nn.Sequential(nn.Linear(3, 4, dtype=np.float64), act, nn.Linear(4, 2, dtype=np.float64), act)
    with ActivationStats(model) as probe:
        model(ll.tensor(np.ones((5, 3))))
        model(ll.tensor(np.ones((5, 3))))
    assert probe.layer_names == ["1", "1@2"]
    assert probe.series("1@2", "dead")[0].tolist() == [0, 1]
    assert set(probe.epoch_dead()) == {"1", "1@2"}


def test_linear_and_batchnorm_outputs_can_be_probed():
    model = nn.Sequential(nn.Linear(6, 5, dtype=np.float64), nn.BatchNorm(5), nn.ReLU())
    model.to(np.float64)
    x = np.random.default_rng(4).standard_normal((32, 6)) * 3 + 1
    with ActivationStats(model, layers=(nn.Linear, nn.BatchNorm)) as probe:
        model(ll.tensor(x))
    assert probe.layer_names == ["0", "1"]
    bn = probe.last()["1"]["post"]
    assert bn["mean"] == pytest.approx(0.0, abs=1e-9)  # batch-normalised: mean 0, std 1
    assert bn["std"] == pytest.approx(1.0, abs=1e-3)
    assert "dead" not in bn and "saturated" not in bn


def test_deep_tanh_net_one_forward_pass_collapse_and_saturation():
    """The notes' 5 × 500 tanh net on 1000 × 500 unit-Gaussian input, one forward pass, no training."""
    x = np.random.default_rng(100).standard_normal((1000, 500)).astype(np.float32)  # not the weights' seed
    stds, sat = {}, {}
    for name, std in (("small", 0.01), ("large", 1.0)):
        model = mlp([500] * 6, act=nn.Tanh, init=("normal", {"std": std}), seed=0, dtype=np.float32)
        model = nn.Sequential(*list(model) + [nn.Tanh()])  # h5 too
        with ActivationStats(model, what="post") as probe, ll.no_grad():
            model(ll.tensor(x))
        assert probe.layer_names == ["1", "3", "5", "7", "9"]
        stds[name] = [probe.last()[layer]["post"]["std"] for layer in probe.layer_names]
        sat[name] = [probe.last()[layer]["post"]["saturated"] for layer in probe.layer_names]
    # W = 0.01·randn: std shrinks by about √(500·1e-4) ≈ 0.22 per layer
    ratios = np.array(stds["small"][1:]) / np.array(stds["small"][:-1])
    assert ratios == pytest.approx(math.sqrt(500 * 1e-4), rel=0.1)
    assert sat["small"] == [0.0] * 5
    # W = randn: most units saturate
    assert min(sat["large"][1:]) > 0.8


# -- sampling, standalone and Trainer-driven --------------------------------------------------------

def test_standalone_sampling_counts_forward_passes():
    model = mlp([3, 4, 2], act=nn.ReLU)
    x = np.ones((2, 3))
    with ActivationStats(model, every=3) as probe:
        for _ in range(7):
            model(ll.tensor(x))
    assert probe.steps == [0, 3, 6]
    assert hook_count(model) == 0


@pytest.mark.parametrize("every", [1, 2, 3])
def test_every_k_steps_records_exactly_the_sampled_steps(every):
    model = mlp([4, 6, 6, 2], act=nn.Tanh)
    probes = [ActivationStats(every=every), GradientStats(every=every), UpdateRatio(every=every),
              Symmetry(every=every)]
    drive(probes, model, batches_of(7, 5, 4, 2), lr=0.05)
    expected = list(range(0, 7, every))
    for p in probes[:3]:
        assert p.steps == expected, type(p).__name__
    # Symmetry describes the weights after s updates: sampled steps, then the final weights (step 7)
    assert probes[3].steps == expected + [7]
    assert hook_count(model) == 0


def test_default_sampling_is_every_10_steps_in_a_trainer_and_every_pass_by_hand():
    model = mlp([4, 6, 2], act=nn.Tanh)
    by_hand = ActivationStats(model)
    assert by_hand.period == 1
    probes = [ActivationStats(), GradientStats(), UpdateRatio()]
    drive(probes, model, batches_of(21, 2, 4, 2), lr=0.01)
    for p in probes:
        assert p.period == DEFAULT_EVERY == 10
        assert p.steps == [0, 10, 20]
    sym = Symmetry()
    drive([sym], model, batches_of(60, 2, 4, 2), lr=0.01)
    assert sym.period == 50 and sym.steps == [0, 50, 60]


def test_hooks_exist_only_during_sampled_forward_passes():
    model = mlp([4, 6, 2], act=nn.Tanh)
    probe = ActivationStats(every=2)
    t = fake_trainer(model)
    probe.on_fit_start(t)
    assert hook_count(model) == 0
    probe.on_batch_start(t, 0, None)
    assert hook_count(model) == 1  # one activation module
    mse_backward(model, np.ones((2, 4)), np.zeros((2, 2)))
    probe.on_after_backward(t, 0)
    assert hook_count(model) == 0  # removed before evaluation passes and the next step
    probe.on_batch_start(t, 1, None)
    assert hook_count(model) == 0  # not a sampled step: nothing installed
    probe.on_fit_end(t)
    assert hook_count(model) == 0
    assert probe.steps == [0]


def test_detach_and_context_exit_remove_every_hook():
    model = mlp([4, 6, 6, 2], act=nn.ReLU)
    probe = ActivationStats(model).attach()
    assert hook_count(model) == 3  # two ReLUs and the pass counter on the root
    probe.detach()
    assert hook_count(model) == 0
    with pytest.raises(RuntimeError):
        with ActivationStats(model):
            raise RuntimeError("boom")
    assert hook_count(model) == 0


def test_probes_do_not_change_training():
    batches = batches_of(6, 8, 5, 3, seed=5)
    m1, m2 = mlp([5, 7, 7, 3], act=nn.ReLU, seed=9), mlp([5, 7, 7, 3], act=nn.ReLU, seed=9)
    drive([], m1, batches, lr=0.1, epochs=2)
    probes = [ActivationStats(), GradientStats(), UpdateRatio(), Symmetry()]
    drive(probes, m2, batches, lr=0.1, epochs=2)
    for (n1, p1), (n2, p2) in zip(m1.named_parameters(), m2.named_parameters()):
        assert n1 == n2
        np.testing.assert_array_equal(p1.data, p2.data)
    assert all(p.records for p in probes)


# -- accessors and output --------------------------------------------------------------------------------

def test_records_series_last_summary_keyed():
    model = mlp([3, 4, 2], act=nn.Tanh)
    with ActivationStats(model) as probe:
        for _ in range(3):
            model(ll.tensor(np.ones((2, 3))))
    r = probe.records[0]
    assert set(r) == {"step", "layer", "kind", "stat", "value"}
    assert all(isinstance(r["value"], float) for r in probe.records)
    steps, values = probe.series("1", "std")  # kind defaults to "post"
    assert steps.tolist() == [0, 1, 2] and values.shape == (3,)
    steps_pre, _ = probe.series("1", "std", kind="pre")
    assert steps_pre.tolist() == [0, 1, 2]
    assert probe.summary()["1"]["post/std"] == values[-1]
    keyed = probe.keyed()
    assert keyed["1/post/std"] == values[-1] and keyed["1/pre/mean"] == probe.last()["1"]["pre"]["mean"]
    with pytest.raises(KeyError, match="recorded keys"):
        probe.series("1", "dead")


def test_flush_to_a_run_store_and_to_a_sink(tmp_path):
    from layerlab.store import Store

    model = mlp([3, 4, 2], act=nn.Tanh)
    streamed = []
    probe = ActivationStats(model, bins=5, sink=streamed.extend)
    with probe:
        model(ll.tensor(np.ones((2, 3))))
        model(ll.tensor(np.zeros((2, 3))))
    assert streamed == probe.records
    with Store(tmp_path / "runs.sqlite") as store:
        with store.run("probe_test", {}, seed=0) as run:
            assert probe.flush_to(run) == len(probe.records)
            assert probe.flush_to(run) == 0  # only new records are sent
        s = store.probe_series(run.id, "1", "post/std")
        steps, values = probe.series("1", "std")
        assert list(s.steps) == steps.tolist() and list(s.values) == pytest.approx(values.tolist())
        hist = {r.step: r.value for r in store.probes(run.id, layer="1", stat="post/hist")}
        assert sorted(hist) == [0, 1]
        np.testing.assert_array_equal(hist[1], probe.histograms(1)["1"]["post"][0])
        edges = store.probes(run.id, layer="1", stat="post/hist_edges")[0].value
        np.testing.assert_array_equal(edges, probe.histograms(0)["1"]["post"][1])
    got = []
    with probe:
        model(ll.tensor(np.ones((2, 3))))
    n_new = probe.flush_to(got.extend)
    assert n_new == len(got) > 0 and got == probe.records[-n_new:]
    with pytest.raises(TypeError, match="log_probes"):
        probe.flush_to(object())


def test_bad_arguments_are_named():
    model = mlp([3, 4, 2])
    with pytest.raises(ValueError, match="every"):
        ActivationStats(model, every=0)
    with pytest.raises(ValueError, match="what"):
        ActivationStats(model, what=("pre", "act"))
    with pytest.raises(ValueError, match="saturation"):
        ActivationStats(model, saturation=1.5)
    with pytest.raises(ValueError, match="no module named 'h1'.*available"):
        ActivationStats(model, layers=["h1"]).attach()
    with pytest.raises(ValueError, match="no model"):
        GradientStats().record()


# -- GradientStats -----------------------------------------------------------------------------------------

def test_sign_agreement_hand_case():
    g = np.array([[1.0, 2.0, 3.0],     # all +: majority 1, one sign
                  [1.0, -1.0, 0.0],    # split: 1/2
                  [0.0, 0.0, 0.0],     # no gradient: left out
                  [-1.0, -2.0, 5.0]])  # 2 of 3 negative
    agree, one = sign_agreement(g)
    assert agree == pytest.approx((1 + 0.5 + 2 / 3) / 3, rel=1e-15)
    assert one == pytest.approx(1 / 3, rel=1e-15)
    assert all(math.isnan(v) for v in sign_agreement(np.zeros((2, 3))))
    with pytest.raises(ValueError, match=r"\(out, in\)"):
        sign_agreement(np.ones(3))


def test_gradient_norms_ratios_and_mean_abs_match_numpy():
    model = mlp([5, 6, 4, 3], act=nn.Tanh, seed=2)
    x, y = batches_of(1, 8, 5, 3, seed=2)[0]
    mse_backward(model, x, y)
    probe = GradientStats(model)
    probe.record(step=4)
    grads = {n: p.grad for n, p in model.named_parameters()}
    last = probe.last()
    for name, g in grads.items():
        layer, pname = name.split(".")
        got = last[layer][f"{pname}/grad"]
        assert got["norm"] == pytest.approx(np.linalg.norm(g), rel=1e-12)
        assert got["mean_abs"] == pytest.approx(np.abs(g).mean(), rel=1e-12)
    assert "ratio_prev" not in last["0"]["weight/grad"]
    assert last["2"]["weight/grad"]["ratio_prev"] == pytest.approx(
        np.linalg.norm(grads["2.weight"]) / np.linalg.norm(grads["0.weight"]), rel=1e-12)
    assert last["4"]["bias/grad"]["ratio_prev"] == pytest.approx(
        np.linalg.norm(grads["4.bias"]) / np.linalg.norm(grads["2.bias"]), rel=1e-12)
    assert probe.steps == [4]


@pytest.mark.parametrize("act, one_sign", [(nn.Sigmoid, 1.0), (nn.Tanh, 0.0)])
def test_one_example_sigmoid_gradients_share_one_sign_per_unit(act, one_sign):
    """Claim 9: dL/dW2[i, j] = δ_i·h1_j and h1 = σ(·) > 0, so each row has the sign of δ_i."""
    model = mlp([12, 10, 10, 3], act=act, seed=4)
    x, y = batches_of(1, 1, 12, 3, seed=4)[0]
    mse_backward(model, x, y)
    probe = GradientStats(model, layers=["2"])
    probe.record()
    assert probe.layer_names == ["2"]
    got = probe.last()["2"]["weight/grad"]
    assert got["one_sign"] == one_sign
    if act is nn.Sigmoid:
        assert got["sign_agree"] == 1.0
    else:
        assert got["sign_agree"] < 0.9


def test_vanishing_gradient_ratio_in_a_deep_sigmoid_net():
    model = mlp([20] * 7, act=nn.Sigmoid, init="xavier_normal", seed=6)
    x, y = batches_of(1, 32, 20, 20, seed=6)[0]
    mse_backward(model, x, y)
    probe = GradientStats(model)
    probe.record()
    ratios = [probe.last()[str(i)]["weight/grad"]["ratio_prev"] for i in range(2, 12, 2)]
    assert all(r > 1.5 for r in ratios)  # σ' ≤ 1/4: the gradient shrinks towards the input


# -- UpdateRatio ------------------------------------------------------------------------------------------------

def test_update_ratio_of_a_known_sgd_step():
    model = mlp([4, 3, 2], act=nn.Tanh, seed=7)
    x, y = batches_of(1, 6, 4, 2, seed=7)[0]
    mse_backward(model, x, y)
    lr = 0.3
    expected = {n: lr * np.linalg.norm(p.grad) / np.linalg.norm(p.data) for n, p in model.named_parameters()
                if np.linalg.norm(p.data) > 0}
    probe = UpdateRatio(model)
    probe.snapshot()
    sgd_step(model, lr)
    probe.record(step=0)
    for name, ratio in expected.items():
        layer, pname = name.split(".")
        assert probe.last()[layer][f"{pname}/update"]["ratio"] == pytest.approx(ratio, rel=1e-10)
    # biases start at 0: a moved zero parameter has an infinite ratio
    assert probe.last()["0"]["bias/update"]["ratio"] == math.inf
    with pytest.raises(RuntimeError, match="snapshot"):
        probe.record()


def test_update_ratio_through_the_callbacks_copies_only_on_sampled_steps():
    model = mlp([4, 3, 2], act=nn.Tanh, seed=8)
    probe = UpdateRatio(every=2)
    t = fake_trainer(model)
    probe.on_fit_start(t)
    probe.on_after_backward(t, 1)
    assert probe._before is None  # no copy on a non-sampled step
    drive([probe], model, batches_of(3, 4, 4, 2), lr=0.0)
    _, ratios = probe.series("0", "ratio")
    assert ratios.tolist() == [0.0, 0.0]  # lr = 0: nothing moved


# -- Symmetry -------------------------------------------------------------------------------------------------------

def test_unit_distances_match_brute_force_and_detect_exact_equality():
    from scipy.spatial.distance import pdist

    v = np.random.default_rng(0).standard_normal((50, 30))
    d = unit_distances(v)
    ref = pdist(v)
    assert d["max_dist"] == pytest.approx(ref.max(), rel=1e-10)
    assert d["min_dist"] == pytest.approx(ref.min(), rel=1e-8)
    assert d["max_dev0"] == pytest.approx(np.linalg.norm(v - v[0], axis=1).max(), rel=1e-12)
    same = np.tile(np.random.default_rng(1).standard_normal(30), (40, 1))
    assert unit_distances(same) == {"max_dev0": 0.0, "max_dist": 0.0, "rel_max_dist": 0.0, "min_dist": 0.0}
    assert unit_distances(same, pairwise=False) == {"max_dev0": 0.0}


def test_unit_distances_centre_before_the_gram_matrix():
    # rows far from the origin and close to each other: the uncentred Gram formula would
    # lose every digit of the distances (‖v‖² ≈ 1e8, distances ≈ 1e-3)
    from scipy.spatial.distance import pdist

    rng = np.random.default_rng(2)
    v = 1e3 + rng.standard_normal((20, 100)) * 1e-4
    assert unit_distances(v)["max_dist"] == pytest.approx(pdist(v).max(), rel=1e-6)


def test_symmetry_never_breaks_from_constant_init_and_does_from_random_init():
    const = ("constant", {"value": 0.3})
    model = mlp([6, 5, 5, 2], act=nn.Tanh, init=const, seed=0)
    rand = mlp([6, 5, 5, 2], act=nn.Tanh, init="xavier_normal", seed=0)
    batches = batches_of(10, 8, 6, 2, seed=3)
    sym_c, sym_r = Symmetry(every=1), Symmetry(every=1)
    drive([sym_c], model, batches, lr=0.1)
    drive([sym_r], rand, batches, lr=0.1)
    for layer in ("0", "2"):  # the hidden layers
        steps, dist = sym_c.series(layer, "max_dist")
        assert steps.tolist() == list(range(11))
        assert dist.max() <= 1e-12
        assert sym_r.series(layer, "max_dist")[1].min() > 0.1
    # the weights did move: the units moved together
    assert not np.allclose(model[0].weight.data, 0.3)
    # the output units see different targets, so they differ after the first update
    assert sym_c.series("4", "max_dist")[1][-1] > 0


def test_symmetry_layers_default_to_linear():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Maxout(4, 2, pieces=2), nn.Linear(2, 1))
    assert [n for n, _ in Symmetry(model).selected_modules()] == ["0", "3"]


# -- with the real Trainer ---------------------------------------------------------------------------------------------

def _trainer_setup(probes, seed=0):
    from layerlab import data, optim
    from layerlab.train import Trainer

    x, y = data.blobs(96, centers=3, d=5, std=1.0, seed=seed)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=16, shuffle=True, seed=seed)
    model = mlp([5, 8, 8, 3], act=nn.ReLU, init="he_normal", seed=seed, dtype=np.float32)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                      callbacks=probes, progress=False)
    return trainer, loader, (x, y)


def test_probes_in_a_trainer_run():
    every = 4
    probes = [ActivationStats(every=every), GradientStats(every=every), UpdateRatio(every=every),
              Symmetry(every=every)]
    trainer, loader, val = _trainer_setup(probes)
    trainer.fit(loader, epochs=2, val=val)  # 6 batches per epoch: steps 0..11
    assert trainer.step == 12
    expected = [0, 4, 8]
    act, grad, upd, sym = probes
    for p in (grad, upd):
        assert p.steps == expected, type(p).__name__
    assert sym.steps == expected + [12]
    assert act.steps == [0, 4, 5, 8, 11]  # + dead_epoch at the last step of each epoch
    # one set of stats per sampled step and layer: validation passes are not recorded
    assert act.series("1", "std")[0].tolist() == expected
    assert act.series("3", "dead_epoch")[0].tolist() == [5, 11]
    assert set(act.histograms(8)) == {"1", "3"}
    assert grad.last()["2"]["weight/grad"]["ratio_prev"] > 0
    assert 0 < upd.last()["0"]["weight/update"]["ratio"] < 1
    assert hook_count(trainer.model) == 0


def test_a_trainer_run_is_unchanged_by_probes():
    t1, loader1, _ = _trainer_setup([])
    h1 = t1.fit(loader1, epochs=2)
    probes = [ActivationStats(), GradientStats(), UpdateRatio(), Symmetry()]
    t2, loader2, _ = _trainer_setup(probes)
    h2 = t2.fit(loader2, epochs=2)
    assert h1.loss == h2.loss
    for (_, p1), (_, p2) in zip(t1.model.named_parameters(), t2.model.named_parameters()):
        np.testing.assert_array_equal(p1.data, p2.data)
    assert all(p.records for p in probes)


def test_a_single_module_class_selects_its_instances():
    """``layers=nn.Linear`` (a class, which has ``named_modules`` as an attribute) selects every Linear."""
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    with ActivationStats(model, layers=nn.Linear) as probe:
        model(ll.tensor(np.ones((2, 3), np.float32)))
    assert probe.layer_names == ["0", "2"]
