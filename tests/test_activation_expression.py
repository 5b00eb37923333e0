"""nn.Activation.from_expression: the parser (values, derivatives by autodiff, gradcheck, PyTorch parity), the
primitive nodes it uses (sin, cos, sinh, erf from ops, softplus, √|x|: explicit derivatives, gradcheck, torch parity),
registration and traits, and clear errors for everything outside the language — nothing is evaluated by Python."""

from __future__ import annotations

import builtins
import math

import numpy as np
import pytest
from scipy.special import erf as sp_erf

import layerlab as ll
from layerlab import Tensor, nn

torch = pytest.importorskip("torch")

X = np.linspace(-4.0, 4.0, 33) + 0.0137  # off the kinks at 0
F = nn.Activation.from_expression


def act_grad(act, x):
    t = Tensor(np.array(x, dtype=np.float64), requires_grad=True)
    out = act(t)
    out.backward(np.ones_like(out.data))
    return out.data, t.grad


# -- values ------------------------------------------------------------------------------------------------------
KNOWN = [
    ("x", lambda x: x),
    ("-x", lambda x: -x),
    ("abs(x)", np.abs),
    ("square(x)", lambda x: x ** 2),
    ("x**2", lambda x: x ** 2),
    ("x**3", lambda x: x ** 3),
    ("cube(x)", lambda x: x ** 3),
    ("sqrt_abs(x)", lambda x: np.sqrt(np.abs(x))),
    ("exp(x)", np.exp),
    ("exp_neg_abs(x)", lambda x: np.exp(-np.abs(x))),
    ("softplus(x)", lambda x: np.log1p(np.exp(x))),
    ("sin(x)", np.sin), ("cos(x)", np.cos), ("sinh(x)", np.sinh), ("tanh(x)", np.tanh),
    ("sigmoid(x)", lambda x: 1 / (1 + np.exp(-x))),
    ("erf(x)", sp_erf),
    ("relu(x)", lambda x: np.maximum(x, 0)), ("max(x, 0)", lambda x: np.maximum(x, 0)),
    ("max(0, x)", lambda x: np.maximum(x, 0)), ("min(x, 0)", lambda x: np.minimum(x, 0)),
    ("max(x, sin(x))", lambda x: np.maximum(x, np.sin(x))), ("min(tanh(x), 0.5*x)", lambda x: np.minimum(np.tanh(x), 0.5 * x)),
    ("x*sigmoid(x)", lambda x: x / (1 + np.exp(-x))),
    ("x / (1 + abs(x))", lambda x: x / (1 + np.abs(x))),
    ("exp(-0.5*(x - sin(x))**2)", lambda x: np.exp(-0.5 * (x - np.sin(x)) ** 2)),
    ("0.5*x + (1 - 0.5)*tanh(x)", lambda x: 0.5 * x + 0.5 * np.tanh(x)),
    ("+x - -2", lambda x: x + 2),
    ("log(softplus(x))", lambda x: np.log(np.log1p(np.exp(x)))),
]


@pytest.mark.parametrize("expr,ref", KNOWN, ids=[k for k, _ in KNOWN])
def test_known_expressions_give_the_right_values_and_pass_gradcheck(expr, ref):
    act = F(expr)
    np.testing.assert_allclose(act(Tensor(X.copy())).data, ref(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(act.f(X.copy()), ref(X), rtol=1e-12, atol=1e-12)
    assert ll.gradcheck(act, Tensor(X[::3].copy(), requires_grad=True))


@pytest.mark.parametrize("expr,ref", KNOWN[:8], ids=[k for k, _ in KNOWN[:8]])
def test_df_is_the_autodiff_derivative(expr, ref):
    act = F(expr)
    y, g = act_grad(act, X)
    np.testing.assert_allclose(act.df(X.copy(), y), g, rtol=1e-12)
    h = 1e-6
    np.testing.assert_allclose(g, (ref(X + h) - ref(X - h)) / (2 * h), rtol=1e-5, atol=1e-6)


TORCH = [
    ("x*sigmoid(x)", torch.nn.functional.silu),
    ("x*sigmoid(1.702*x)", lambda t: t * torch.sigmoid(1.702 * t)),
    ("x*(1 + erf(x/1.4142135623730951))/2", torch.nn.functional.gelu),
    ("softplus(x)", torch.nn.functional.softplus),
    ("x*tanh(softplus(x))", torch.nn.functional.mish),
    ("sin(x)", torch.sin), ("cos(x)", torch.cos), ("sinh(x)", torch.sinh), ("erf(x)", torch.erf),
    ("sqrt_abs(x)", lambda t: torch.sqrt(torch.abs(t))),
    ("exp_neg_abs(x)", lambda t: torch.exp(-torch.abs(t))),
    ("max(x, 0)", torch.relu),
]


@pytest.mark.parametrize("expr,tfn", TORCH, ids=[k for k, _ in TORCH])
def test_values_and_gradients_match_pytorch(expr, tfn):
    x = np.concatenate([X, [-30.0, -12.5, 0.0, 12.5, 30.0]]) if "sqrt_abs" not in expr else X
    y, g = act_grad(F(expr), x)
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ty = tfn(tx)
    ty.backward(torch.ones_like(ty))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g, tx.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["sin", "cos", "sinh", "erf", "softplus", "sqrt_abs"])
def test_the_added_primitives_pass_gradcheck(name):
    act = F(f"{name}(x)")
    pts = np.array([-3.3, -1.1, -0.2, 0.37, 1.9, 2.8])
    assert ll.gradcheck(act, Tensor(pts, requires_grad=True))
    # also inside a composition, with a 2-D input
    assert ll.gradcheck(F(f"x*{name}(0.7*x) + {name}(x)**2"), Tensor(pts.reshape(2, 3), requires_grad=True))


def test_kink_conventions():
    x = np.array([-1.0, 0.0, 1.0])
    _, g = act_grad(F("max(x, 0)"), x)
    assert list(g) == [0.0, 0.0, 1.0]  # ReLU'(0) = 0
    _, g = act_grad(F("sqrt_abs(x)"), x)
    assert list(g) == [-0.5, 0.0, 0.5]  # 0 at 0, not inf/NaN
    _, g = act_grad(F("abs(x)"), x)
    assert list(g) == [-1.0, 0.0, 1.0]


def test_float32_stays_float32_and_0d_and_2d_inputs():
    act = F("x*sigmoid(x) + erf(x) - sin(x)")
    x32 = np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3)
    out = act(Tensor(x32))
    assert out.dtype == np.float32 and out.shape == (2, 3)
    assert act.f(x32).dtype == np.float32 and act.df(x32).dtype == np.float32
    s = act(Tensor(np.float64(0.5), requires_grad=True))
    assert s.shape == ()
    ref = 0.5 / (1 + math.exp(-0.5)) + math.erf(0.5) - math.sin(0.5)
    assert s.item() == pytest.approx(ref)


def test_a_constant_expression_broadcasts_and_has_zero_gradient():
    act = F("2 + sigmoid(0)")
    y, g = act_grad(act, X[:4])
    assert y.shape == (4,) and np.allclose(y, 2.5) and np.allclose(g, 0.0)


def test_it_trains_inside_a_network():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 4, rng=rng, dtype=np.float64), F("x*sigmoid(x)"),
                          nn.Linear(4, 1, rng=rng, dtype=np.float64))
    assert ll.gradcheck_module(model, Tensor(rng.standard_normal((5, 3))))


# -- registration and traits ---------------------------------------------------------------------------------------
@pytest.fixture
def cleanup():
    names = []
    yield names
    for n in names:
        if n in nn.ACTIVATIONS:
            nn.unregister_activation(n)


def test_a_named_expression_registers_and_unregisters(cleanup):
    cleanup.append("expr_swish_test")
    act = F("x * sigmoid(x)", name="expr_swish_test")
    assert isinstance(act, nn.ExpressionActivation) and isinstance(act, nn.Activation)
    assert nn.ACTIVATIONS["expr_swish_test"] is type(act)
    built = nn.activation("expr_swish_test")
    assert type(built) is type(act) and built is not act and built.expression == "x * sigmoid(x)"
    # the same expression again (a re-run cell) replaces the entry; another expression under the name raises
    again = F("x*sigmoid(x)", name="expr_swish_test")
    assert nn.ACTIVATIONS["expr_swish_test"] is type(again)
    with pytest.raises(ValueError, match="already taken"):
        F("tanh(x)", name="expr_swish_test")
    with pytest.raises(ValueError, match="already taken"):
        F("max(x, 0)", name="relu")
    nn.unregister_activation("expr_swish_test")
    assert "expr_swish_test" not in nn.ACTIVATIONS


def test_an_unnamed_expression_is_not_registered():
    before = dict(nn.ACTIVATIONS)
    F("x*tanh(x)")
    assert nn.ACTIVATIONS == before


@pytest.mark.parametrize("expr,dies", [("max(x, 0)", True), ("relu(x)", True), ("2*max(x, 0)", True),
                                       ("x*sigmoid(x)", False), ("min(x, 0)", False), ("tanh(x)", False),
                                       ("abs(x)", False), ("sigmoid(x)", False), ("max(x, 0) - 1", False)])
def test_can_die_is_inferred_conservatively(expr, dies):
    act = F(expr)
    assert act.can_die is dies and act.saturates is None


def test_traits_can_be_given():
    act = F("tanh(x)", saturates=(-1.0, 1.0), can_die=False)
    assert act.saturates == (-1.0, 1.0) and act.can_die is False
    with pytest.raises(TypeError):
        F("tanh(x)", saturates=(1.0, -1.0))


# -- errors ---------------------------------------------------------------------------------------------------------
BAD = [
    ("__import__('os')", "unknown function '__import__'"),
    ("__import__('os').system('echo hacked')", "only the functions of the language"),
    ("x.real", "attribute access"),
    ("foo(x)", "unknown function 'foo'"),
    ("y + 1", "unknown variable 'y'"),
    ("x +", "syntax error"),
    ("sin(x", "syntax error"),
    ("", "empty"),
    ("x if x > 0 else 0", "conditional"),
    ("x > 0", "comparison"),
    ("lambda: 0", "lambda"),
    ("x[0]", "indexing"),
    ("max(x)", "takes 2 arguments"),
    ("sin(x, x)", "takes 1 argument"),
    ("sin(x=1)", "positional"),
    ("x ** x", "exponent"),
    ("'abc'", "unsupported constant"),
    ("True * x", "unsupported constant"),
    ("x // 2", "unsupported operator"),
    ("x @ x", "unsupported operator"),
    ("~x", "unsupported operator"),
    ("(x, x)", "tuple"),
    ("x" + "+x" * 1500, "longer than"),
]


@pytest.mark.parametrize("expr,msg", BAD, ids=[b[0][:30] or "empty" for b in BAD])
def test_bad_expressions_give_clear_errors(expr, msg):
    with pytest.raises(ValueError) as e:
        F(expr)
    text = str(e.value)
    assert msg in text and "from_expression" in text
    if msg not in ("empty", "longer than"):
        assert repr(expr.strip()) in text and "column" in text


def test_the_error_points_at_the_column():
    with pytest.raises(ValueError) as e:
        F("x*sigmoid(x) + bogus(x)")
    assert "column 16" in str(e.value) and "\n" + " " * 4 + " " * 15 + "^" in str(e.value)


def test_not_a_string_is_a_type_error():
    with pytest.raises(TypeError):
        F(3.0)


def test_nothing_is_evaluated_by_python(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("eval/exec/compile called")

    monkeypatch.setattr(builtins, "eval", boom)
    monkeypatch.setattr(builtins, "exec", boom)
    act = F("x*sigmoid(x) + exp_neg_abs(x)**2")
    assert act(Tensor(np.array([1.0]))).shape == (1,)
    with pytest.raises(ValueError):
        F("__import__('os').system('touch /tmp/layerlab_pwned')")
    import os
    assert not os.path.exists("/tmp/layerlab_pwned")
