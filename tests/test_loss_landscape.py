"""layerlab.probes.loss_landscape (Li et al. 2018): analytic values on a quadratic bowl, filter normalisation,
exact restoration of the model (also after an error), shapes, loaders, argument checks and the plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import layerlab as ll  # noqa: E402
from layerlab import nn  # noqa: E402
from layerlab.data import DataLoader, TensorDataset  # noqa: E402
from layerlab.probes import loss_landscape, plot_landscape  # noqa: E402
from layerlab.probes.landscape import random_directions  # noqa: E402


# -- helpers ---------------------------------------------------------------------------------------------------------
def bowl(n_in=4, n_out=3, seed=0):
    """A bias-free Linear(n_in, n_out) in float64 with X = I (n_in examples) and y = 0: the output rows are the
    columns of W, so the Euclidean loss (½‖row‖², mean over the n_in examples) is L(W) = ½‖W‖² / n_in."""
    model = nn.Linear(n_in, n_out, bias=False, rng=seed, dtype=np.float64)
    x, y = np.eye(n_in), np.zeros((n_in, n_out))
    return model, x, y


def net(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(5, 8, rng=rng, dtype=dtype, bias_init=0.1), nn.BatchNorm(8, dtype=dtype),
                         nn.ReLU(), nn.Dropout(0.5, rng=np.random.default_rng(1)),
                         nn.Linear(8, 3, rng=rng, dtype=dtype))


def regression_data(n=37, seed=1, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)).astype(dtype), rng.standard_normal((n, 3)).astype(dtype)


def trained_bn(model, x):
    """Give the BatchNorm running statistics something other than their initial values."""
    model.train()
    with ll.no_grad():
        for _ in range(3):
            model(ll.Tensor(x))
    return model


def snapshot(model):
    return ({k: v.copy() for k, v in model.state_dict().items()},
            {k: v.copy() for k, v in model.named_buffers()},
            [(m, m.training) for m in model.modules()],
            [(p, p.data) for p in model.parameters()])


def assert_unchanged(model, snap):
    state, buffers, modes, arrays = snap
    now = model.state_dict()
    assert now.keys() == state.keys()
    for k in state:  # bit for bit
        assert now[k].dtype == state[k].dtype and np.array_equal(now[k], state[k]) and \
            now[k].tobytes() == state[k].tobytes(), k
    for k, v in model.named_buffers():
        assert v.tobytes() == buffers[k].tobytes(), k
    assert [(m, m.training) for m in model.modules()] == modes
    assert all(p.data is a for p, a in arrays)  # the same arrays (an optimiser or a view holding them stays valid)


# -- the analytic bowl -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("normalize", ["filter", "layer", "none"])
def test_bowl_2d_matches_the_analytic_loss(normalize):
    model, x, y = bowl()
    w = model.weight.data.copy()
    res = loss_landscape(model, nn.EuclideanLoss(), (x, y), directions=2, steps=7, span=1.5, seed=3,
                         normalize=normalize)
    d, e = (dd["weight"] for dd in random_directions(model, 2, seed=3, normalize=normalize))
    a, b = res["alphas"], res["betas"]
    np.testing.assert_array_equal(a, np.linspace(-1.5, 1.5, 7))
    np.testing.assert_array_equal(b, a)
    expected = np.array([[0.5 * np.sum((w + ai * d + bj * e) ** 2) / x.shape[0] for bj in b] for ai in a])
    np.testing.assert_allclose(res["losses"], expected, rtol=1e-13, atol=0)
    # the quadratic in closed form: L = ½(‖W‖² + 2α⟨W,δ⟩ + 2β⟨W,η⟩ + α²‖δ‖² + 2αβ⟨δ,η⟩ + β²‖η‖²)/n
    A, B = np.meshgrid(a, b, indexing="ij")
    closed = 0.5 * (np.sum(w * w) + 2 * A * np.sum(w * d) + 2 * B * np.sum(w * e) + A ** 2 * np.sum(d * d)
                    + 2 * A * B * np.sum(d * e) + B ** 2 * np.sum(e * e)) / x.shape[0]
    np.testing.assert_allclose(res["losses"], closed, rtol=1e-12)


def test_bowl_1d_with_filter_normalisation_is_a_parabola_with_known_curvature():
    """With filter-normalised δ, ‖δ‖ = ‖W‖ (every row has its row's norm), so L(θ + αδ) = ½‖W + αδ‖²/n has
    second derivative ‖W‖²/n whatever the draw; the centre is L(θ)."""
    model, x, y = bowl(6, 5)
    w = model.weight.data.copy()
    res = loss_landscape(model, nn.EuclideanLoss(), (x, y), directions=1, steps=5, span=1.0, seed=0)
    assert set(res) == {"alphas", "losses"} and res["losses"].shape == (5,)
    f, h = res["losses"], res["alphas"][1] - res["alphas"][0]
    assert f[2] == pytest.approx(0.5 * np.sum(w * w) / 6, rel=1e-14)
    second = (f[3] - 2 * f[2] + f[1]) / h ** 2
    assert second == pytest.approx(np.sum(w * w) / 6, rel=1e-10)


def test_the_1d_curve_is_the_beta_zero_line_of_the_2d_surface():
    model = net()
    x, y = regression_data()
    trained_bn(model, x)
    one = loss_landscape(model, nn.MSELoss(), (x, y), directions=1, steps=5, seed=11)
    two = loss_landscape(model, nn.MSELoss(), (x, y), directions=2, steps=5, seed=11)
    np.testing.assert_array_equal(two["losses"][:, 2], one["losses"])


# -- the directions --------------------------------------------------------------------------------------------------
def test_filter_normalisation_gives_each_row_the_weights_row_norm_and_zero_on_biases_and_batchnorm():
    model = net()
    (d,) = random_directions(model, 1, seed=5)
    assert list(d) == [name for name, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        if p.data.ndim == 2:  # a Linear weight (out, in): a filter is a row, the incoming weights of one unit
            np.testing.assert_allclose(np.linalg.norm(d[name], axis=1), np.linalg.norm(p.data, axis=1), rtol=1e-12)
            assert not np.allclose(d[name], p.data)  # a random direction, not the weights
        else:  # biases, BatchNorm's γ and β
            assert np.all(d[name] == 0), name
    # layer-wise: the whole matrix gets the weights' norm; none: the raw standard-normal draw
    (dl,) = random_directions(model, 1, seed=5, normalize="layer")
    (dn,) = random_directions(model, 1, seed=5, normalize="none")
    g = np.random.default_rng(5)
    for name, p in model.named_parameters():
        if p.data.ndim == 2:
            assert np.linalg.norm(dl[name]) == pytest.approx(np.linalg.norm(p.data), rel=1e-12)
            np.testing.assert_array_equal(dn[name], g.standard_normal(p.data.shape))


def test_a_zero_filter_gets_a_zero_direction():
    model = nn.Linear(3, 4, bias=False, rng=0, dtype=np.float64)
    model.weight.data[1] = 0.0
    (d,) = random_directions(model, 1, seed=0)
    assert np.all(d["weight"][1] == 0) and np.all(np.isfinite(d["weight"]))
    np.testing.assert_allclose(np.linalg.norm(d["weight"], axis=1), np.linalg.norm(model.weight.data, axis=1))


def test_deterministic_for_a_seed_and_rng_or_seed_alike():
    model = net()
    x, y = regression_data()
    r1 = loss_landscape(model, nn.MSELoss(), (x, y), steps=4, seed=7)
    r2 = loss_landscape(model, nn.MSELoss(), (x, y), steps=4, rng=np.random.default_rng(7))
    r3 = loss_landscape(model, nn.MSELoss(), (x, y), steps=4, rng=7)
    r4 = loss_landscape(model, nn.MSELoss(), (x, y), steps=4, seed=8)
    np.testing.assert_array_equal(r1["losses"], r2["losses"])
    np.testing.assert_array_equal(r1["losses"], r3["losses"])
    assert not np.array_equal(r1["losses"], r4["losses"])
    ll.random.seed(3)
    g1 = loss_landscape(model, nn.MSELoss(), (x, y), steps=3)
    ll.random.seed(3)
    g2 = loss_landscape(model, nn.MSELoss(), (x, y), steps=3)
    np.testing.assert_array_equal(g1["losses"], g2["losses"])


# -- the model is left exactly as it was -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parameters_buffers_and_modes_are_restored_exactly(dtype):
    model = net(dtype=dtype)
    x, y = regression_data(dtype=dtype)
    trained_bn(model, x)
    model.train()
    model[3].eval()  # a mixed tree: each module's own mode comes back
    snap = snapshot(model)
    res = loss_landscape(model, nn.MSELoss(), (x, y), directions=2, steps=5, span=2.0, seed=1)
    assert np.all(np.isfinite(res["losses"]))
    assert_unchanged(model, snap)


def test_evaluated_in_eval_mode_without_a_graph():
    """Dropout off and BatchNorm on its running statistics: the centre of the grid is the eval-mode loss."""
    model = net()
    x, y = regression_data()
    trained_bn(model, x)
    res = loss_landscape(model, nn.MSELoss(), (x, y), directions=1, steps=3, seed=0)
    model.eval()
    with ll.no_grad():
        expected = nn.MSELoss()(model(ll.Tensor(x)), ll.Tensor(y)).item()
    assert res["losses"][1] == pytest.approx(expected, rel=1e-14)
    seen = []

    def loss_fn(out, target):
        seen.append((ll.is_grad_enabled(), out.requires_grad))
        return nn.MSELoss()(out, target)

    loss_landscape(model, loss_fn, (x, y), directions=1, steps=2, seed=0)
    assert seen and all(s == (False, False) for s in seen)


def test_restored_exactly_after_an_error_midway():
    model = net()
    x, y = regression_data()
    trained_bn(model, x)
    model.train()
    snap = snapshot(model)
    calls = []

    def failing(out, target):
        calls.append(1)
        if len(calls) == 6:  # in the middle of the grid, with the weights moved
            raise RuntimeError("boom")
        return nn.MSELoss()(out, target)

    with pytest.raises(RuntimeError, match="boom"):
        loss_landscape(model, failing, (x, y), directions=2, steps=4, seed=0)
    assert len(calls) == 6
    assert_unchanged(model, snap)
    # a KeyboardInterrupt too
    def interrupt(out, target):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        loss_landscape(model, interrupt, (x, y), directions=1, steps=3, seed=0)
    assert_unchanged(model, snap)


# -- data ------------------------------------------------------------------------------------------------------------
def test_a_loader_gives_the_same_values_as_the_pair_and_keeps_its_position():
    model = net()
    x, y = regression_data(n=41)
    trained_bn(model, x)
    pair = loss_landscape(model, nn.MSELoss(), (x, y), steps=4, seed=2)
    same = loss_landscape(model, nn.MSELoss(), (x, y), steps=4, seed=2, batch_size=41)
    loader = DataLoader(TensorDataset(x, y), batch_size=6, shuffle=True, seed=9)  # 6 × 6 + a batch of 5
    next(iter(loader))  # mid-epoch: the landscape still uses one whole epoch
    state = loader.state_dict()
    via_loader = loss_landscape(model, nn.MSELoss(), loader, steps=4, seed=2)
    assert loader.state_dict() == state
    np.testing.assert_allclose(via_loader["losses"], pair["losses"], rtol=1e-13)
    np.testing.assert_allclose(same["losses"], pair["losses"], rtol=1e-13)
    # any iterable of (x, y) batches, and Tensors in the pair
    batches = [(x[:20], y[:20]), (x[20:], y[20:])]
    np.testing.assert_allclose(loss_landscape(model, nn.MSELoss(), batches, steps=4, seed=2)["losses"],
                               pair["losses"], rtol=1e-13)
    np.testing.assert_array_equal(
        loss_landscape(model, nn.MSELoss(), (ll.Tensor(x), ll.Tensor(y)), steps=4, seed=2)["losses"], pair["losses"])


# -- argument checks -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"directions": 0}, "directions must be 1"), ({"directions": 3}, "directions must be 1"),
    ({"directions": True}, "directions must be 1"), ({"directions": "2"}, "directions must be 1"),
    ({"steps": 1}, "steps must be an int ≥ 2"), ({"steps": 4.0}, "steps must be an int ≥ 2"),
    ({"span": 0}, "span must be a finite number > 0"), ({"span": -1.0}, "span must be"),
    ({"span": float("nan")}, "span must be"), ({"span": "1"}, "span must be"),
    ({"normalize": "rows"}, "normalize must be one of"), ({"batch_size": 0}, "batch_size must be"),
    ({"rng": 1, "seed": 1}, "rng or seed, not both"),
])
def test_bad_arguments_raise_clear_errors(kwargs, match):
    model, x, y = bowl()
    snap = snapshot(model)
    with pytest.raises(ValueError, match=match):
        loss_landscape(model, nn.EuclideanLoss(), (x, y), **kwargs)
    assert_unchanged(model, snap)


def test_bad_data_and_models_raise_clear_errors():
    model, x, y = bowl()
    with pytest.raises(TypeError, match=r"\(X, y\) pair or a DataLoader"):
        loss_landscape(model, nn.EuclideanLoss(), 3)
    with pytest.raises(ValueError, match="different lengths"):
        loss_landscape(model, nn.EuclideanLoss(), (x, y[:2]))
    with pytest.raises(ValueError, match="empty"):
        loss_landscape(model, nn.EuclideanLoss(), (x[:0], y[:0]))
    with pytest.raises(ValueError, match="no examples"):
        loss_landscape(model, nn.EuclideanLoss(), [])
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        loss_landscape(model, "mse", (x, y))
    with pytest.raises(ValueError, match="no parameters"):
        loss_landscape(nn.ReLU(), nn.EuclideanLoss(), (x, y))
    with pytest.raises(TypeError, match="rng must be"):
        loss_landscape(model, nn.EuclideanLoss(), (x, y), rng="seven")


# -- plots ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("directions, kind, log", [(1, "auto", False), (1, "curve", True), (2, "auto", False),
                                                   (2, "curve", False), (2, "contour", True), (2, "surface", True)])
def test_plot_returns_a_figure_for_each_kind(directions, kind, log):
    model, x, y = bowl()
    res = loss_landscape(model, nn.EuclideanLoss(), (x, y), directions=directions, steps=5, seed=0)
    fig = plot_landscape(res, kind, log=log, title="bowl")
    try:
        assert isinstance(fig, Figure)
        fig.set_dpi(30)
        fig.canvas.draw()
    finally:
        plt.close(fig)


def test_plot_into_given_axes_and_bad_kinds():
    model, x, y = bowl()
    one = loss_landscape(model, nn.EuclideanLoss(), (x, y), directions=1, steps=3, seed=0)
    two = loss_landscape(model, nn.EuclideanLoss(), (x, y), directions=2, steps=3, seed=0)
    fig, ax = plt.subplots()
    try:
        assert plot_landscape(two, "contour", ax=ax, colorbar=False, levels=[0.1, 0.2]) is fig
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="needs a 2-D result"):
        plot_landscape(one, "contour")
    with pytest.raises(ValueError, match="kind must be one of"):
        plot_landscape(two, "heatmap")
    with pytest.raises(TypeError, match="expected the dict"):
        plot_landscape(np.zeros(3))
