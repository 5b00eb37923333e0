"""Activations: the registry-driven harness, then the notes' identities and conventions.

The harness (``activation_harness.py``) builds one case per activation registered in
``nn.ACTIVATIONS`` when this file is collected, plus hyperparameter variants, and runs on
each: parity with PyTorch in float64 (forward, input and parameter gradients, to 1e-8
relative) at random points, at the exact kinks −1, 0, 1 (and 6) and at ±1000, where the
activation has a torch reference (``TORCH_REFS``: the torch function, or its formula in torch
ops where torch lacks it); a float64 finite-difference gradcheck (with or without a
reference); one fused node per call; float32 in -> float32 out; and df = the node's gradient.
A newly defined activation class is in these tests with nothing edited here;
``test_every_torch_twin_has_a_reference`` asks for a reference when torch has the function.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import layerlab as ll
from activation_harness import (
    TORCH_REFS, all_cases, check_df, check_float32, check_gradcheck, check_kinks_and_extremes,
    check_one_fused_node, check_parity, torch_has,
)
from layerlab import nn
from layerlab.nn import functional as F

SELU_SCALE, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772

CASES = all_cases()  # the registry as it is at collection time, plus the variants
CASE_SHAPES = [pytest.param(c, s, id=f"{c.id}-{s}") for c in CASES for s in c.shapes]


# -- the harness -----------------------------------------------------------------------------------

def test_cases_come_from_the_registry():
    """Every registered activation has a case (under its registry name), so all of them are checked."""
    ids = {c.id for c in CASES}
    assert set(nn.ACTIVATIONS) <= ids
    for name, cls in nn.ACTIVATIONS.items():
        assert cls.name == name and issubclass(cls, nn.Activation)


def test_every_torch_twin_has_a_reference():
    """Where torch.nn.functional has the activation, the harness compares with it; no stale entries."""
    missing = [name for name in nn.ACTIVATIONS if torch_has(name) and name not in TORCH_REFS]
    assert not missing, f"activations torch has but TORCH_REFS lacks: {missing}"
    stale = [name for name in TORCH_REFS if name not in nn.ACTIVATIONS]
    assert not stale, f"TORCH_REFS entries for unregistered activations: {stale}"
    with_ref = {c.id for c in CASES if c.ref is not None}
    assert {"relu", "tanh", "gelu", "lisht", "binary_step"} <= with_ref


@pytest.mark.parametrize("case,shape", CASE_SHAPES)
def test_parity_with_torch(case, shape):
    check_parity(case, shape)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_parity_at_kinks_and_extremes(case):
    check_kinks_and_extremes(case)


@pytest.mark.parametrize("case,shape", CASE_SHAPES)
def test_gradcheck(case, shape):
    check_gradcheck(case, shape)


@pytest.mark.parametrize("case,shape", CASE_SHAPES)
def test_one_fused_node(case, shape):
    check_one_fused_node(case, shape)


@pytest.mark.parametrize("case,shape", CASE_SHAPES)
def test_float32_in_float32_out(case, shape):
    check_float32(case, shape)


@pytest.mark.parametrize("case", [c for c in CASES if c.make().elementwise], ids=lambda c: c.id)
def test_df_is_the_derivative_the_node_uses(case):
    """``df(x, f(x))`` (what the lab plots) equals the node's gradient and finite differences of ``f``."""
    check_df(case)


# -- subgradient conventions at the kinks --------------------------------------------------------

@pytest.mark.parametrize("make,x,expected", [
    (nn.ReLU, [-1.0, 0.0, 1.0], [0.0, 0.0, 1.0]),
    (lambda: nn.LeakyReLU(0.1), [-1.0, 0.0, 1.0], [0.1, 0.1, 1.0]),
    (lambda: nn.PReLU(init=0.25), [-1.0, 0.0, 1.0], [0.25, 0.25, 1.0]),
    (nn.ReLU6, [-1.0, 0.0, 1.0, 6.0, 7.0], [0.0, 0.0, 1.0, 0.0, 0.0]),
    (lambda: nn.ELU(0.5), [-1.0, 0.0, 1.0], [0.5 * math.exp(-1.0), 0.5, 1.0]),
    (nn.SELU, [-1.0, 0.0, 1.0], [SELU_SCALE * SELU_ALPHA * math.exp(-1.0), SELU_SCALE * SELU_ALPHA, SELU_SCALE]),
    (nn.BinaryStep, [-1.0, 0.0, 1.0], [0.0, 0.0, 0.0]),
])
def test_subgradient_conventions(make, x, expected):
    m = make().to(np.float64)
    xt = ll.tensor(np.array(x), requires_grad=True)
    m(xt).sum().backward()
    np.testing.assert_allclose(xt.grad, expected, rtol=1e-12)


def test_binary_step_values_and_zero_gradient():
    x = ll.tensor(np.array([-2.0, -1e-9, 0.0, 1e-9, 3.0]), requires_grad=True)
    y = F.binary_step(x)
    assert y.data.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    y.backward(np.ones(5))
    assert np.array_equal(x.grad, np.zeros(5))


# -- identities from the notes -----------------------------------------------------------------------

def _grad(fn, x: np.ndarray):
    xt = ll.tensor(x, requires_grad=True)
    y = fn(xt)
    y.backward(np.ones_like(x))
    return y.data, xt.grad


X = np.linspace(-8.0, 8.0, 161)


def test_relu6_is_a_difference_of_two_relus():
    """Seed 001: f(x) = max(0, x) − max(0, x − 6)."""
    np.testing.assert_array_equal(F.relu6(ll.tensor(X)).data, np.maximum(0, X) - np.maximum(0, X - 6))


def test_swish_beta_one_is_silu_and_its_derivative():
    """Swish(β=1) = SiLU, and Swish' = σ(x)(1 + x − xσ(x)) (seed 003)."""
    y1, g1 = _grad(nn.Swish(beta=1.0), X)
    y2, g2 = _grad(nn.SiLU(), X)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(g1, g2)
    s = 1.0 / (1.0 + np.exp(-X))
    np.testing.assert_allclose(y1, X * s, rtol=1e-13, atol=1e-15)  # SiLU's own formula, x·σ(x)
    np.testing.assert_allclose(g1, s * (1 + X - X * s), rtol=1e-12, atol=1e-15)
    # the learnable form (a different code path: a parametric node) at β = 1 is SiLU too
    y3, g3 = _grad(nn.Swish(beta=1.0, learnable=True).to(np.float64), X)
    np.testing.assert_allclose(y3, y2, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(g3, g2, rtol=1e-13, atol=1e-15)


def test_tanh_is_a_rescaled_sigmoid():
    """Seed 003: tanh(x) = 2σ(2x) − 1."""
    np.testing.assert_allclose(F.tanh(ll.tensor(X)).data, 2 * F.sigmoid(ll.tensor(2 * X)).data - 1, atol=1e-15)


def test_gelu_approximations_are_close_to_exact():
    """Seed 004: the tanh form is within 1e-3 of x·Φ(x) on [−6, 6], the sigmoid form within 0.03."""
    x = ll.tensor(np.linspace(-6.0, 6.0, 2001))
    exact = F.gelu(x).data
    tanh_err = np.abs(F.gelu(x, approximate="tanh").data - exact).max()
    sig_err = np.abs(F.gelu(x, approximate="sigmoid").data - exact).max()
    assert tanh_err < 1e-3 and sig_err < 0.03
    assert sig_err > tanh_err  # the cheaper form is the rougher one
    np.testing.assert_allclose(F.gelu(x, approximate="sigmoid").data, F.swish(x, beta=1.702).data, rtol=1e-15)


def test_mish_and_lisht_formulas():
    np.testing.assert_allclose(F.mish(ll.tensor(X)).data, X * np.tanh(np.log1p(np.exp(X))), rtol=1e-13)
    np.testing.assert_allclose(F.lisht(ll.tensor(X)).data, X * np.tanh(X), rtol=1e-15)
    _, g = _grad(F.lisht, X)
    np.testing.assert_allclose(g, np.tanh(X) + X * (1 - np.tanh(X) ** 2), rtol=1e-13, atol=1e-15)


def test_selu_constants():
    assert nn.SELU.scale == SELU_SCALE and nn.SELU.alpha == SELU_ALPHA
    y = F.selu(ll.tensor(np.array([-1e3, 1.0]))).data
    np.testing.assert_allclose(y, [-SELU_SCALE * SELU_ALPHA, SELU_SCALE], rtol=1e-15)


def test_softplus_threshold_semantics():
    x = np.array([-30.0, 0.0, 19.9, 20.1, 100.0])
    y, g = _grad(nn.Softplus(), x)
    assert y[3] == 20.1 and y[4] == 100.0 and g[3] == 1.0  # linear above the threshold
    np.testing.assert_allclose(y[:3], np.log1p(np.exp(x[:3])), rtol=1e-14)
    np.testing.assert_allclose(g[:3], 1 / (1 + np.exp(-x[:3])), rtol=1e-14)


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_softmax_shift_invariance_and_no_overflow(fn):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 6))
    np.testing.assert_allclose(fn(ll.tensor(x + 123.0)).data, fn(ll.tensor(x)).data, rtol=1e-12, atol=1e-12)
    for dt in (np.float32, np.float64):
        big = ll.tensor(np.array([[1000.0, -1000.0, 0.0], [1000.0, 1000.0, -1000.0]], dtype=dt), requires_grad=True)
        with np.errstate(over="raise", invalid="raise"):
            y = fn(big)
            y.backward(np.arange(6.0, dtype=dt).reshape(2, 3))
        assert y.dtype == dt and np.isfinite(y.data).all() and np.isfinite(big.grad).all()
    p = F.softmax(ll.tensor(np.array([[1000.0, -1000.0, 0.0]]))).data
    np.testing.assert_array_equal(p, [[1.0, 0.0, 0.0]])


def test_softmax_rows_sum_to_one_and_log_softmax_matches():
    x = ll.tensor(np.random.default_rng(1).standard_normal((4, 7)))
    p = F.softmax(x).data
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(np.log(p), F.log_softmax(x).data, rtol=1e-12)


def test_softmax_all_minus_inf_row_is_nan_like_torch():
    x = np.array([[-np.inf, -np.inf], [0.0, 1.0]])
    with np.errstate(invalid="ignore"):
        y = F.softmax(ll.tensor(x)).data
    t = torch.softmax(torch.tensor(x), -1).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(t))
    assert np.isnan(y[0]).all() and np.isfinite(y[1]).all()


# -- parameters ----------------------------------------------------------------------------------------

def test_prelu_parameter_is_registered_as_torch_names_it():
    m = nn.PReLU(3, init=0.1)
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    assert m.weight.shape == (3,) and m.weight.requires_grad and np.allclose(m.weight.data, 0.1)
    assert list(m.state_dict()) == list(torch.nn.PReLU(3).state_dict())


def test_learnable_swish_beta_trains():
    m = nn.Swish(beta=1.0, learnable=True)
    assert [n for n, _ in m.named_parameters()] == ["beta"] and m.beta.shape == (1,)
    assert list(nn.Swish().parameters()) == [] and list(nn.SiLU().parameters()) == []
    x = ll.tensor(np.linspace(-3, 3, 13).astype(np.float32))
    m(x).sum().backward()
    xs = x.data.astype(np.float64)
    s = 1 / (1 + np.exp(-xs))
    np.testing.assert_allclose(m.beta.grad, [np.sum(xs * xs * s * (1 - s))], rtol=1e-5)


def test_parametric_class_f_uses_current_parameter():
    m = nn.PReLU(init=0.5)
    x = np.array([-2.0, 3.0], dtype=np.float32)
    np.testing.assert_allclose(m.f(x), [-1.0, 3.0])
    m.weight.data[:] = 0.25
    np.testing.assert_allclose(m.f(x), [-0.5, 3.0])
    np.testing.assert_allclose(m.df(x, m.f(x)), [0.25, 1.0])


def test_prelu_errors():
    with pytest.raises(ValueError, match=r"PReLU.*4 parameters.*\(2, 5\)"):
        nn.PReLU(4)(ll.tensor(np.zeros((2, 5), dtype=np.float32)))
    with pytest.raises(TypeError, match=r"PReLU.*float64.*float32"):
        nn.PReLU()(ll.tensor(np.zeros(3)))  # float64 input, float32 parameter
    with pytest.raises(ValueError, match="num_parameters"):
        nn.PReLU(0)


# -- construction, registry, errors ------------------------------------------------------------------

def test_activation_factory():
    assert isinstance(nn.activation("relu"), nn.ReLU)
    assert isinstance(nn.activation(None), nn.Identity)
    assert isinstance(nn.activation("LeakyReLU"), nn.LeakyReLU)
    assert isinstance(nn.activation("linear"), nn.Identity)
    assert nn.activation("leaky_relu", alpha=0.2).alpha == 0.2
    assert nn.activation("gelu", approximate="tanh").approximate == "tanh"
    assert nn.activation(nn.ELU, alpha=2.0).alpha == 2.0
    m = nn.Tanh()
    assert nn.activation(m) is m
    with pytest.raises(TypeError):
        nn.activation(m, alpha=1.0)
    with pytest.raises(ValueError) as e:
        nn.activation("relu7")
    msg = str(e.value)
    assert "relu7" in msg and all(name in msg for name in nn.ACTIVATIONS)
    with pytest.raises(TypeError):
        nn.activation(3.0)
    # the notes' elu/gelu confusion in string-parsing factories cannot happen here
    assert type(nn.activation("elu")) is nn.ELU and type(nn.activation("gelu")) is nn.GELU
    assert type(nn.activation("selu")) is nn.SELU


def test_bad_hyperparameters_and_inputs():
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("erf")
    with pytest.raises(ValueError, match="beta"):
        nn.Softplus(beta=0)
    with pytest.raises(TypeError, match=r"ReLU.*int64"):
        nn.ReLU()(ll.tensor(np.array([1, 2])))
    with pytest.raises(ValueError, match="Softmax"):
        nn.Softmax()(ll.tensor(np.float64(1.0)))


def test_functional_forms_match_modules():
    x = ll.tensor(np.random.default_rng(4).standard_normal((3, 4)))
    pairs = [
        (F.leaky_relu(x, 0.3), nn.LeakyReLU(0.3)(x)), (F.elu(x, 0.7), nn.ELU(0.7)(x)),
        (F.gelu(x, "tanh"), nn.GELU("tanh")(x)), (F.softplus(x, 2.0, 3.0), nn.Softplus(2.0, 3.0)(x)),
        (F.softmax(x, 0), nn.Softmax(0)(x)), (F.log_softmax(x, 0), nn.LogSoftmax(0)(x)),
        (F.swish(x, 0.5), nn.Swish(0.5)(x)), (F.identity(x), x),
        (F.prelu(x, ll.tensor(np.array([0.25]))), nn.PReLU(init=0.25).to(np.float64)(x)),
    ]
    for a, b in pairs:
        np.testing.assert_array_equal(a.data, b.data)


def test_repr():
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(alpha=0.2)"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.ReLU()) == "ReLU()"


def test_a_tanh_subclass_with_its_own_derivative_is_differentiated_with_it():
    """Tanh fuses its backward (g·(1 − y²) in one kernel); a subclass that overrides df gets its own df."""
    class SteepTanh(nn.Tanh):
        def df(self, x, y):
            return 2.0 * (1.0 - y * y)

    x = np.random.default_rng(31).standard_normal((300, 70)).astype(np.float32)  # above kernels.JIT_MIN
    grads = []
    for m in (nn.Tanh(), SteepTanh()):
        xt = ll.tensor(x, requires_grad=True)
        m(xt).sum().backward()
        grads.append(xt.grad)
    np.testing.assert_allclose(grads[1], 2.0 * grads[0], rtol=1e-6)
