"""Activations: one harness driven by the registry, then the notes' identities and conventions.

The harness (``CASES``) runs, for every case: forward and gradient parity with PyTorch in
float64 (``torch.autograd.grad``, input and parameter gradients, to 1e-8 relative), at random
points, at the exact kinks −1, 0, 1 (and 6) and at ±1000; a float64 finite-difference gradcheck;
one fused node per call; and float32 in -> float32 out. Activations PyTorch lacks (LiSHT,
BinaryStep, GELU's sigmoid form, Swish with β ≠ 1 or learnable) are checked against their formula
written with torch ops, so autograd still gives the reference gradient. ``test_registry_is_covered``
fails when an activation is registered without a case here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import layerlab as ll
from layerlab import nn
from layerlab.nn import functional as F

SELU_SCALE, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772


@dataclass
class Case:
    id: str
    make: Callable[[], nn.Module]
    ref: Callable | None  # torch reference ref(x, params) -> tensor (None: an unreviewed registry entry)
    shapes: tuple = ((4, 5), ())
    kinks: tuple = (0.0,)  # gradcheck points are kept away from these
    functional: Callable | None = None  # fn(x, *params) for gradcheck of parametric activations
    layout: Callable | None = None  # arrange a 1-D array of test points into an input this case accepts

    def arrange(self, pts: np.ndarray) -> np.ndarray:
        return self.layout(pts) if self.layout else np.stack([pts, pts[::-1]])


def _prelu(n, init=0.25):
    def make():
        m = nn.PReLU(n, init)
        if n > 1:
            m.weight.data[:] = np.linspace(-0.3, 0.6, n)
        return m
    return make


CASES = [
    Case("identity", nn.Identity, lambda x, p: x),
    Case("binary_step", nn.BinaryStep, lambda x, p: (x >= 0).to(x.dtype) + 0 * x),  # 0 * x: gradient 0
    Case("sigmoid", nn.Sigmoid, lambda x, p: torch.sigmoid(x)),
    Case("tanh", nn.Tanh, lambda x, p: torch.tanh(x)),
    Case("relu", nn.ReLU, lambda x, p: torch.relu(x)),
    Case("relu6", nn.ReLU6, lambda x, p: TF.relu6(x), kinks=(0.0, 6.0)),
    Case("leaky_relu", nn.LeakyReLU, lambda x, p: TF.leaky_relu(x, 0.01)),
    Case("leaky_relu_0.2", lambda: nn.LeakyReLU(alpha=0.2), lambda x, p: TF.leaky_relu(x, 0.2)),
    Case("prelu", _prelu(1), lambda x, p: TF.prelu(x, p[0]), functional=F.prelu),
    Case("prelu_channels", _prelu(5), lambda x, p: TF.prelu(x, p[0]), shapes=((4, 5), (2, 5, 3)),
         functional=F.prelu, layout=lambda pts: np.broadcast_to(pts, (2, 5, pts.size)).copy()),
    Case("elu", nn.ELU, lambda x, p: TF.elu(x)),
    Case("elu_0.5", lambda: nn.ELU(alpha=0.5), lambda x, p: TF.elu(x, 0.5)),
    Case("selu", nn.SELU, lambda x, p: TF.selu(x)),
    Case("gelu", nn.GELU, lambda x, p: TF.gelu(x)),
    Case("gelu_tanh", lambda: nn.GELU("tanh"), lambda x, p: TF.gelu(x, approximate="tanh")),
    Case("gelu_sigmoid", lambda: nn.GELU("sigmoid"), lambda x, p: x * torch.sigmoid(1.702 * x)),
    Case("swish", nn.Swish, lambda x, p: TF.silu(x)),
    Case("swish_1.5", lambda: nn.Swish(beta=1.5), lambda x, p: x * torch.sigmoid(1.5 * x)),
    Case("swish_learnable", lambda: nn.Swish(beta=0.7, learnable=True),
         lambda x, p: x * torch.sigmoid(p[0].reshape(()) * x),
         functional=lambda x, b: F.swish(x, b)),
    Case("silu", nn.SiLU, lambda x, p: TF.silu(x)),
    Case("mish", nn.Mish, lambda x, p: TF.mish(x)),
    Case("lisht", nn.LiSHT, lambda x, p: x * torch.tanh(x)),
    Case("softplus", nn.Softplus, lambda x, p: TF.softplus(x)),
    Case("softplus_b2_t5", lambda: nn.Softplus(beta=2.0, threshold=5.0), lambda x, p: TF.softplus(x, 2.0, 5.0),
         kinks=(0.0, 2.5)),
    Case("softmax", nn.Softmax, lambda x, p: torch.softmax(x, -1), shapes=((4, 5), (3,))),
    Case("softmax_axis0", lambda: nn.Softmax(axis=0), lambda x, p: torch.softmax(x, 0), shapes=((4, 5),),
         layout=lambda pts: np.stack([pts, pts[::-1]], axis=1)),
    Case("log_softmax", nn.LogSoftmax, lambda x, p: torch.log_softmax(x, -1), shapes=((4, 5), (3,))),
]
# A registered activation without a case above still runs the gradcheck, float32, fused-node and df
# tests with its defaults; test_registry_is_covered then asks for a reference.
CASES += [Case(name, cls, None) for name, cls in nn.ACTIVATIONS.items() if cls not in {type(c.make()) for c in CASES}]
CASE_SHAPES = [pytest.param(c, s, id=f"{c.id}-{s}") for c in CASES for s in c.shapes]
BY_ID = {c.id: c for c in CASES}


def _away(x: np.ndarray, kinks) -> np.ndarray:
    """Move points within 0.05 of a kink 0.1 past it (finite differences are wrong across a kink)."""
    for k in kinks:
        near = np.abs(x - k) < 0.05
        x = np.where(near, k + 0.1, x)
    return x


def _inputs(case, shape, seed=0, low=-7.0, high=7.0):
    rng = np.random.default_rng(seed)
    x = _away(rng.uniform(low, high, size=shape), case.kinks)
    return np.asarray(x, dtype=np.float64)


def _module64(case):
    return case.make().to(np.float64)


def run_ll(m, x: np.ndarray, g: np.ndarray):
    xt = ll.tensor(x, requires_grad=True)
    for p in m.parameters():
        p.grad = None
    y = m(xt)
    y.backward(g)
    return y, xt, [p.grad for p in m.parameters()]


def run_torch(case, m, x: np.ndarray, g: np.ndarray):
    xt = torch.tensor(x, requires_grad=True)
    ps = [torch.tensor(p.data.copy(), requires_grad=True) for p in m.parameters()]
    y = case.ref(xt, ps)
    grads = torch.autograd.grad(y, [xt, *ps], torch.tensor(g))
    return y.detach().numpy(), [gr.numpy() for gr in grads]


def assert_parity(case, x: np.ndarray, seed=1):
    m = _module64(case)
    g = np.random.default_rng(seed).standard_normal(x.shape)
    y, xt, pgrads = run_ll(m, x, g)
    assert y.dtype == np.float64 and y.shape == x.shape
    if case.ref is None:
        return y, xt, pgrads
    ty, tgrads = run_torch(case, m, x, g)
    np.testing.assert_allclose(y.data, ty, rtol=1e-8, atol=1e-12, err_msg=f"{case.id}: forward")
    np.testing.assert_allclose(xt.grad, tgrads[0], rtol=1e-8, atol=1e-12, err_msg=f"{case.id}: input grad")
    for k, (pg, tg) in enumerate(zip(pgrads, tgrads[1:])):
        np.testing.assert_allclose(pg, tg, rtol=1e-8, atol=1e-12, err_msg=f"{case.id}: grad of parameter {k}")
    return y, xt, pgrads


# -- the harness -----------------------------------------------------------------------------------

def test_registry_is_covered():
    """Every registered activation has a case with a reference (torch, or its formula in torch ops)."""
    covered = {type(c.make()) for c in CASES if c.ref is not None}
    missing = [name for name, cls in nn.ACTIVATIONS.items() if cls not in covered]
    assert not missing, f"activations without a reference in CASES: {missing}"
    for name, cls in nn.ACTIVATIONS.items():
        assert cls.name == name and issubclass(cls, nn.Module)


@pytest.mark.parametrize("case,shape", CASE_SHAPES)
def test_parity_with_torch(case, shape):
    assert_parity(case, _inputs(case, shape))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_parity_at_kinks_and_extremes(case):
    pts = np.array([-1000.0, -50.0, -6.0, -1.0, 0.0, 1.0, 6.0, 50.0, 1000.0])
    x = case.arrange(pts)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, xt, pgrads = assert_parity(case, x)
    assert np.isfinite(y.data).all() and np.isfinite(xt.grad).all()
    assert all(np.isfinite(pg).all() for pg in pgrads)


@pytest.mark.parametrize("case,shape", CASE_SHAPES)
def test_gradcheck(case, shape):
    m = _module64(case)
    x = ll.tensor(_inputs(case, shape, seed=2, low=-4, high=4), requires_grad=True)
    params = list(m.parameters())
    if params:
        assert case.functional is not None, f"{case.id}: a parametric case needs functional= for gradcheck"
        ps = [ll.tensor(p.data.copy(), requires_grad=True) for p in params]
        assert ll.gradcheck(case.functional, x, *ps)
    else:
        assert ll.gradcheck(m, x)


@pytest.mark.parametrize("case,shape", CASE_SHAPES)
def test_one_fused_node(case, shape):
    m = _module64(case)
    x = ll.tensor(_inputs(case, shape), requires_grad=True)
    y = m(x)
    if case.id == "identity":
        assert y is x
        return
    assert y.grad_fn == type(m).name
    parents = y._ctx.parents
    assert parents[0] is x  # no intermediate nodes between x and y
    assert len(parents) == 1 + len(list(m.parameters()))


@pytest.mark.parametrize("case,shape", CASE_SHAPES)
def test_float32_in_float32_out(case, shape):
    m = case.make()  # parameters in the default dtype, float32
    x = ll.tensor(_inputs(case, shape).astype(np.float32), requires_grad=True)
    y = m(x)
    assert y.dtype == np.float32
    y.backward(np.ones(y.shape, dtype=np.float32))
    assert x.grad.dtype == np.float32
    for p in m.parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32
    big = ll.tensor(case.arrange(np.array([-1000.0, 0.0, 1000.0])).astype(np.float32), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        yb = case.make()(big)
        yb.sum().backward()
    assert yb.dtype == np.float32 and np.isfinite(yb.data).all() and np.isfinite(big.grad).all()


@pytest.mark.parametrize("case", [c for c in CASES if c.make().elementwise], ids=lambda c: c.id)
def test_df_is_the_derivative_the_node_uses(case):
    """``df(x, f(x))`` (what the lab plots) equals the node's gradient and finite differences of ``f``."""
    m = _module64(case)
    x = _inputs(case, case.shapes[0], seed=3, low=-5, high=5)
    y = m.f(x)
    dy = m.df(x, y)
    _, xt, _ = run_ll(m, x, np.ones_like(x))
    np.testing.assert_allclose(dy, xt.grad, rtol=1e-12, atol=1e-15)
    h = 1e-6
    np.testing.assert_allclose(dy, (m.f(x + h) - m.f(x - h)) / (2 * h), rtol=1e-6, atol=1e-8)


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
