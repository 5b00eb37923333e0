"""Initialisers: variances of large draws, the notes' exact recipes, orthogonality,
identity, reproducibility, dtypes, the registry and its errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import layerlab as ll
from layerlab.nn import init

OUT, IN = 300, 500  # 150,000 draws: the empirical std is within ~0.4 % (3σ) of the true one


def _rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("name, kw, std", [
    ("normal", {}, 1.0),
    ("normal", {"std": 0.01}, 0.01),
    ("normal", {"std": 1 / math.sqrt(IN)}, 1 / math.sqrt(IN)),
    ("uniform", {"a": 0.3}, 0.3 / math.sqrt(3)),
    ("uniform", {}, 1 / math.sqrt(3)),
    ("xavier_normal", {}, math.sqrt(2 / (IN + OUT))),
    ("xavier_normal", {"gain": 5 / 3}, 5 / 3 * math.sqrt(2 / (IN + OUT))),
    ("xavier_uniform", {}, math.sqrt(2 / (IN + OUT))),
    ("he_normal", {}, math.sqrt(2 / IN)),
    ("he_normal", {"mode": "fan_out"}, math.sqrt(2 / OUT)),
    ("he_normal", {"negative_slope": 0.2}, math.sqrt(2 / (1.04 * IN))),
    ("he_uniform", {}, math.sqrt(2 / IN)),
    ("lecun_normal", {}, 1 / math.sqrt(IN)),
    ("lecun_uniform", {}, 1 / math.sqrt(IN)),
])
def test_empirical_std(name, kw, std):
    w = init.get(name, **kw)((OUT, IN), _rng(), dtype=np.float64)
    assert w.shape == (OUT, IN) and w.dtype == np.float64
    assert abs(w.std() / std - 1) < 0.01, f"std {w.std()} vs {std}"
    assert abs(w.mean()) < 0.01 * std


@pytest.mark.parametrize("name, bound", [
    ("xavier_uniform", math.sqrt(6 / (IN + OUT))),
    ("he_uniform", math.sqrt(6 / IN)),
    ("lecun_uniform", math.sqrt(3 / IN)),
])
def test_uniform_bounds(name, bound):
    w = init.get(name)((OUT, IN), _rng(), dtype=np.float64)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound


def test_the_notes_recipes_exactly():
    """Seed 001's code, with our (out, in) layout: same generator stream, same numbers."""
    shape = (IN, IN)
    z = _rng(3).standard_normal(shape)
    np.testing.assert_array_equal(init.normal(shape, _rng(3), np.float64, std=0.01), 0.01 * z)  # 0.01·randn
    np.testing.assert_array_equal(init.normal(shape, _rng(3), np.float64, std=1.0), z)          # randn
    np.testing.assert_allclose(init.lecun_normal(shape, _rng(3), np.float64), z / np.sqrt(IN), rtol=1e-14)
    np.testing.assert_allclose(init.he_normal(shape, _rng(3), np.float64), z / np.sqrt(IN / 2), rtol=1e-14)
    np.testing.assert_array_equal(init.identity((4, 4), None, np.float64, scale=0.5), 0.5 * np.eye(4))


@pytest.mark.parametrize("shape", [(50, 50), (20, 60), (60, 20)])
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_orthogonal(shape, gain):
    w = init.orthogonal(shape, _rng(), np.float64, gain=gain)
    small = min(shape)
    gram = w @ w.T if shape[0] <= shape[1] else w.T @ w
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(small), atol=1e-12)
    # Var(w) = gain²/max(out, in): Σ w² = gain²·min(out, in) spread over out·in entries
    np.testing.assert_allclose((w ** 2).mean(), gain ** 2 / max(shape), rtol=1e-12)


def test_orthogonal_conv_shape_and_errors():
    w = init.orthogonal((8, 3, 2, 2), _rng(), np.float64)
    flat = w.reshape(8, 12)
    np.testing.assert_allclose(flat @ flat.T, np.eye(8), atol=1e-12)
    with pytest.raises(ValueError, match=r"orthogonal: needs at least 2 dims, got shape \(5,\)"):
        init.orthogonal((5,), _rng())


def test_identity_rectangular_and_errors():
    np.testing.assert_array_equal(init.identity((2, 3), None, scale=0.5), [[0.5, 0, 0], [0, 0.5, 0]])
    assert init.identity((3, 3), None).dtype == np.float32
    with pytest.raises(ValueError, match="identity: needs a 2-D weight shape"):
        init.identity((2, 3, 4), None)


def test_zeros_and_constant():
    assert not init.zeros((3, 2), None).any()
    c = init.constant((4,), None, value=0.01)
    assert c.dtype == np.float32 and np.all(c == np.float32(0.01))


@pytest.mark.parametrize("name", ["normal", "uniform", "xavier_normal", "xavier_uniform", "he_normal",
                                  "he_uniform", "lecun_normal", "lecun_uniform", "orthogonal"])
def test_same_seed_same_weights_and_dtypes(name):
    fn = init.get(name)
    a, b = fn((30, 40), _rng(11)), fn((30, 40), _rng(11))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32
    assert not np.array_equal(a, fn((30, 40), _rng(12)))
    w64 = fn((30, 40), _rng(11), dtype=np.float64)
    np.testing.assert_array_equal(w64.astype(np.float32), a)  # float64 draw, cast once


def test_default_dtype_and_global_rng():
    ll.set_default_dtype(np.float64)  # restored by conftest
    assert init.normal((2, 2), None).dtype == np.float64
    ll.seed(4)
    a = init.normal((3, 3))
    ll.seed(4)
    np.testing.assert_array_equal(a, init.normal((3, 3)))
    np.testing.assert_array_equal(a, np.random.default_rng(4).standard_normal((3, 3)))


def test_fans():
    assert init.fans((10, 20)) == (20, 10)
    assert init.fans((8, 3, 5, 5)) == (75, 200)  # as torch: receptive field multiplies both
    t = torch.empty(8, 3, 5, 5)
    assert init.fans(t.shape) == torch.nn.init._calculate_fan_in_and_fan_out(t)
    with pytest.raises(ValueError, match=r"xavier_uniform: needs a weight shape .* got \(7,\)"):
        init.xavier_uniform((7,), _rng())
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.he_normal((3, 3), _rng(), mode="fan_avg")


@pytest.mark.parametrize("nl, param", [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                                       ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)])
def test_calculate_gain_matches_pytorch(nl, param):
    assert init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param), rel=1e-15)


def test_calculate_gain_unknown():
    with pytest.raises(ValueError, match="unknown nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_registry_has_the_design_names():
    for name in ["zeros", "constant", "normal", "uniform", "xavier_normal", "xavier_uniform",
                 "he_normal", "he_uniform", "lecun_normal", "orthogonal", "identity"]:
        assert init.INITIALIZERS[name] is getattr(init, name)
    assert init.INITIALIZERS["glorot_uniform"] is init.xavier_uniform
    assert init.INITIALIZERS["kaiming_normal"] is init.he_normal


def test_get_forms():
    np.testing.assert_array_equal(init.get(("normal", {"std": 0.01}))((3, 3), _rng()),
                                  init.normal((3, 3), _rng(), std=0.01))
    np.testing.assert_array_equal(init.get("normal", std=0.01)((3, 3), _rng()), init.normal((3, 3), _rng(), std=0.01))
    assert init.get("He_Normal") is init.he_normal  # case-insensitive
    fn = lambda shape, rng: np.ones(shape)  # noqa: E731
    assert init.get(fn) is fn


def test_get_errors():
    with pytest.raises(ValueError, match=r"unknown initialiser 'kaiming'; valid names: .*he_normal.*xavier_uniform"):
        init.get("kaiming")
    with pytest.raises(TypeError, match=r"initialiser 'normal' does not take \['sdt'\]; its options are \['std', 'mean'\]"):
        init.get("normal", sdt=0.1)
    with pytest.raises(TypeError, match="init must be an initialiser name"):
        init.get(3)
    with pytest.raises(ValueError, match="normal: std must be a finite number >= 0, got -1"):
        init.normal((2,), _rng(), std=-1)
    with pytest.raises(ValueError, match="uniform: a must be a finite number >= 0, got nan"):
        init.uniform((2,), _rng(), a=float("nan"))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        init.normal((2,), 0)
