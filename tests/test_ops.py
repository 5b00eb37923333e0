"""Every primitive op against PyTorch (float64) and finite differences, one line per case.

``check_op`` is the one harness (tinygrad's ``helper_test_op``): on the same random
float64 inputs it checks

1. the forward against PyTorch (shape, dtype, values to 1e-10 relative),
2. the gradients of every input against ``torch.autograd.grad`` with the same random
   upstream gradient (to 1e-10 relative),
3. ``ll.gradcheck`` (central differences, every entry) unless the case sits on a kink,
4. float32 in -> float32 out, forward and every gradient (no silent upcast).

Where layerlab's subgradient convention differs from torch's (``maximum``/``minimum``
ties, all −inf ``logsumexp`` slices) the convention is tested explicitly instead.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import layerlab as ll
from layerlab import kernels, nn, ops
from layerlab.tensor import make_node

RTOL, ATOL = 1e-10, 1e-12


def _close(actual, expected, what: str, rtol: float = RTOL, atol: float = ATOL) -> None:
    expected = np.asarray(expected)
    scale = max(1.0, float(np.max(np.abs(expected[np.isfinite(expected)]), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=what)


def _per_input(v, n: int) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v] * n


def check_op(ll_fn, torch_fn, shapes=None, low=-2.0, high=2.0, vals=None, gradcheck=True, seed=0):
    """Forward parity, gradient parity (float64, vs torch), gradcheck and float32 preservation.

    Args:
        ll_fn / torch_fn: the same function of n tensors, in layerlab and in torch.
        shapes: one shape per input (random uniform entries in [low, high)).
        low, high: the range, or one per input (e.g. a positive denominator).
        vals: explicit input values instead of random ones (exact kinks, ties).
        gradcheck: run finite differences (off for cases placed exactly on a kink).
    """
    rng = np.random.default_rng(seed)
    if vals is not None:
        arrays = [np.asarray(v, dtype=np.float64) for v in vals]
    else:
        lows, highs = _per_input(low, len(shapes)), _per_input(high, len(shapes))
        arrays = [np.asarray(rng.uniform(lo, hi, size=s), dtype=np.float64) for s, lo, hi in zip(shapes, lows, highs)]

    # 1. forward parity, float64
    xs = [ll.tensor(a.copy(), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out, tout = ll_fn(*xs), torch_fn(*ts)
    assert isinstance(out, ll.Tensor) and isinstance(out.data, np.ndarray)
    assert out.shape == tuple(tout.shape), f"shape {out.shape} vs torch {tuple(tout.shape)}"
    assert out.dtype == np.float64
    _close(out.data, tout.detach().numpy(), "forward")

    # 2. gradient parity with the same upstream gradient
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tgrads = torch.autograd.grad(tout, ts, torch.from_numpy(g), allow_unused=True)
    for k, (x, tg) in enumerate(zip(xs, tgrads)):
        expected = np.zeros(x.shape) if tg is None else tg.numpy()
        got = np.zeros(x.shape) if x.grad is None else x.grad
        assert isinstance(got, np.ndarray) and got.shape == x.shape and got.dtype == np.float64, f"grad {k}"
        _close(got, expected, f"gradient of input {k}")

    # 3. finite differences
    if gradcheck:
        assert ll.gradcheck(ll_fn, *[ll.tensor(a.copy(), requires_grad=True) for a in arrays])

    # 4. float32 in -> float32 out, forward and gradients
    xs32 = [ll.tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    out32 = ll_fn(*xs32)
    assert out32.dtype == np.float32, f"forward upcast to {out32.dtype}"
    _close(out32.data, out.data, "float32 forward", rtol=1e-4, atol=1e-5)
    out32.backward(g.astype(np.float32))
    for k, x in enumerate(xs32):
        assert x.grad is None or x.grad.dtype == np.float32, f"gradient {k} upcast to {x.grad.dtype}"


def test_check_op_can_fail():
    # the harness itself: a 0.1% error in a backward, a wrong forward or a float64 temporary are caught
    def bad_exp(x):
        return make_node(np.exp(x.data), (x,), lambda g: (g * np.exp(x.data) * 1.001,), "exp")

    def upcast_exp(x):
        out = np.exp(x.data.astype(np.float64))
        return make_node(out, (x,), lambda g: (g * out,), "exp")

    with pytest.raises(AssertionError, match="gradient of input 0"):
        check_op(bad_exp, torch.exp, [(3,)])
    with pytest.raises(AssertionError, match="forward"):
        check_op(lambda x: x.exp(), torch.sin, [(3,)])
    with pytest.raises(AssertionError, match="forward upcast"):
        check_op(upcast_exp, torch.exp, [(3,)])


def _ids(cases):
    return [c[0] for c in cases]


# -- elementwise binary ops, with broadcasting ---------------------------------------------------

BCAST = [[(3, 4), (3, 4)], [(3, 4), (4,)], [(4,), (3, 4)], [(2, 1, 4), (3, 1)], [(), (3,)], [(3, 1), ()], [(), ()]]

BINARY = [
    ("add", lambda a, b: a + b, lambda a, b: a + b, {}),
    ("sub", lambda a, b: a - b, lambda a, b: a - b, {}),
    ("mul", lambda a, b: a * b, lambda a, b: a * b, {}),
    ("div", lambda a, b: a / b, lambda a, b: a / b, {"low": [-2.0, 0.5], "high": [2.0, 2.0]}),
    ("pow", lambda a, b: a ** b, lambda a, b: a ** b, {"low": [0.5, -2.0], "high": [2.0, 2.0]}),
    ("maximum", ll.maximum, torch.maximum, {}),
    ("minimum", ll.minimum, torch.minimum, {}),
    ("add_fn", ops.add, torch.add, {}),
    ("sub_fn", ops.sub, torch.sub, {}),
    ("mul_fn", ops.mul, torch.mul, {}),
    ("div_fn", ops.div, torch.div, {"low": [-2.0, 0.5], "high": [2.0, 2.0]}),
    ("pow_fn", ops.pow, torch.pow, {"low": [0.5, -2.0], "high": [2.0, 2.0]}),
]


@pytest.mark.parametrize("shapes", BCAST, ids=[str(s) for s in BCAST])
@pytest.mark.parametrize("name,fn,tfn,kw", BINARY, ids=_ids(BINARY))
def test_binary(name, fn, tfn, kw, shapes):
    check_op(fn, tfn, shapes, **kw)


# -- scalars on either side, reflected operators -------------------------------------------------

SCALAR_CASES = [
    ("radd", lambda x: 1.5 + x, lambda x: 1.5 + x, {}),
    ("rsub", lambda x: 1.5 - x, lambda x: 1.5 - x, {}),
    ("rmul", lambda x: 3.0 * x, lambda x: 3.0 * x, {}),
    ("rdiv", lambda x: 2.0 / x, lambda x: 2.0 / x, {"low": 0.5}),
    ("sub_scalar", lambda x: x - 0.5, lambda x: x - 0.5, {}),
    ("div_scalar", lambda x: x / 3.0, lambda x: x / 3.0, {}),
    ("neg", lambda x: -x, lambda x: -x, {}),
    ("neg_fn", ops.neg, torch.neg, {}),
    ("pow2", lambda x: x ** 2, lambda x: x ** 2, {}),
    ("pow3_negative_base", lambda x: x ** 3, lambda x: x ** 3, {}),
    ("pow_half", lambda x: x ** 0.5, lambda x: x ** 0.5, {"low": 0.2}),
    ("pow_minus1", lambda x: x ** -1.0, lambda x: x ** -1.0, {"low": 0.5}),
    ("pow_np_float64_scalar", lambda x: x ** np.float64(1.5), lambda x: x ** 1.5, {"low": 0.2}),
    ("rpow", lambda x: 2.0 ** x, lambda x: 2.0 ** x, {}),
    ("rpow_e", lambda x: 0.5 ** x, lambda x: 0.5 ** x, {}),
]
SCALAR_SHAPES = [(3, 4), ()]


@pytest.mark.parametrize("shape", SCALAR_SHAPES, ids=str)
@pytest.mark.parametrize("name,fn,tfn,kw", SCALAR_CASES, ids=_ids(SCALAR_CASES))
def test_scalar_operand(name, fn, tfn, kw, shape):
    check_op(fn, tfn, [shape], **kw)


def test_pow_tensor_exponent_of_zero_base():
    # d/db a^b at a = 0 is taken as 0 (b >= 0), and d/da a^0 = 0, as torch
    check_op(lambda a, b: a ** b, lambda a, b: a ** b, vals=[[0.0, 0.0, 2.0, 0.0], [2.0, 1.5, 0.0, 0.0]], gradcheck=False)


def test_pow_zero_exponent_at_zero():
    check_op(lambda x: x ** 0.0, lambda x: x ** 0.0, vals=[[-1.0, 0.0, 1.0]], gradcheck=False)


def test_rmatmul_with_ndarray():
    a = np.random.default_rng(1).standard_normal((2, 3))
    x = ll.tensor(np.ones((3, 4)), requires_grad=True)
    y = a @ x
    assert y.shape == (2, 4) and y.grad_fn == "matmul"
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.broadcast_to(a.sum(0)[:, None], (3, 4)))


# -- matmul --------------------------------------------------------------------------------------

MATMUL = [
    [(3, 4), (4, 5)],
    [(4,), (4, 5)],
    [(3, 4), (4,)],
    [(4,), (4,)],
    [(2, 3, 4), (4, 5)],
    [(3, 4), (2, 4, 5)],
    [(1, 3, 4), (2, 4, 5)],
    [(2, 1, 3, 4), (5, 4, 2)],
    [(4,), (2, 4, 5)],
    [(2, 3, 4), (4,)],
]


@pytest.mark.parametrize("shapes", MATMUL, ids=[str(s) for s in MATMUL])
def test_matmul(shapes):
    check_op(lambda a, b: a @ b, torch.matmul, shapes)


def test_matmul_fn_and_method():
    check_op(ops.matmul, torch.matmul, [(2, 3), (3, 2)])
    check_op(lambda a, b: a.matmul(b), torch.matmul, [(2, 3), (3,)])


# -- elementwise unary ---------------------------------------------------------------------------

UNARY = [
    ("exp", lambda x: x.exp(), torch.exp, {}),
    ("log", lambda x: x.log(), torch.log, {"low": 0.1, "high": 3.0}),
    ("sqrt", lambda x: x.sqrt(), torch.sqrt, {"low": 0.1, "high": 3.0}),
    ("abs", lambda x: x.abs(), torch.abs, {}),
    ("abs_builtin", lambda x: abs(x), torch.abs, {}),
    ("tanh", lambda x: x.tanh(), torch.tanh, {}),
    ("sigmoid", lambda x: x.sigmoid(), torch.sigmoid, {"low": -6.0, "high": 6.0}),
    ("relu", lambda x: x.relu(), torch.relu, {}),
    ("exp_fn", ops.exp, torch.exp, {}),
    ("log_fn", ops.log, torch.log, {"low": 0.1, "high": 3.0}),
    ("sqrt_fn", ops.sqrt, torch.sqrt, {"low": 0.1, "high": 3.0}),
    ("abs_fn", ops.abs, torch.abs, {}),
    ("tanh_fn", ops.tanh, torch.tanh, {}),
    ("sigmoid_fn", ops.sigmoid, torch.sigmoid, {}),
    ("relu_fn", ops.relu, torch.relu, {}),
    ("sin_fn", ops.sin, torch.sin, {"low": -4.0, "high": 4.0}),
    ("cos_fn", ops.cos, torch.cos, {"low": -4.0, "high": 4.0}),
    ("sinh_fn", ops.sinh, torch.sinh, {"low": -3.0, "high": 3.0}),
    ("erf_fn", ops.erf, torch.erf, {"low": -3.0, "high": 3.0}),
]


@pytest.mark.parametrize("shape", [(3, 4), (), (2, 3, 2)], ids=str)
@pytest.mark.parametrize("name,fn,tfn,kw", UNARY, ids=_ids(UNARY))
def test_unary(name, fn, tfn, kw, shape):
    check_op(fn, tfn, [shape], **kw)


KINKS = [[-1.0, 0.0, 1.0]]


@pytest.mark.parametrize(
    "fn,tfn",
    [
        (lambda x: x.relu(), torch.relu),  # relu'(0) = 0
        (lambda x: x.abs(), torch.abs),  # abs'(0) = 0
        (lambda x: x.clip(-1.0, 1.0), lambda x: x.clamp(-1.0, 1.0)),  # the gradient passes at lo and hi
        (lambda x: x.clip(0.0, None), lambda x: x.clamp(min=0.0)),
        (lambda x: x.max(), torch.amax),  # a single maximum
    ],
    ids=["relu", "abs", "clip", "clip_lo", "max"],
)
def test_exact_kinks_match_torch(fn, tfn):
    check_op(fn, tfn, vals=KINKS, gradcheck=False)


def test_relu_and_abs_subgradient_at_zero_is_zero():
    x = ll.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])
    x.grad = None
    x.abs().sum().backward()
    np.testing.assert_array_equal(x.grad, [-1.0, 0.0, 1.0])


@pytest.mark.parametrize("low,high", [(-40.0, -20.0), (20.0, 40.0)], ids=["neg", "pos"])
def test_sigmoid_tanh_saturated(low, high):
    check_op(lambda x: x.sigmoid(), torch.sigmoid, [(5,)], low=low, high=high, gradcheck=False)
    check_op(lambda x: x.tanh(), torch.tanh, [(5,)], low=low, high=high, gradcheck=False)
    x = ll.tensor(np.array([-1000.0, 1000.0], dtype=np.float32), requires_grad=True)
    y = x.sigmoid()
    assert np.all(np.isfinite(y.data)) and np.array_equal(y.data, [0.0, 1.0])
    y.sum().backward()
    assert np.all(np.isfinite(x.grad))


# -- maximum / minimum ties: layerlab's documented convention, not torch's ------------------------

@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_tie_goes_to_first_argument(op):
    # torch splits a tie evenly (0.5 each); layerlab sends the whole gradient to the first argument
    fn = getattr(ll, op)
    a = ll.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = ll.tensor([1.0, 0.0, 5.0], requires_grad=True)
    fn(a, b).backward(np.array([10.0, 20.0, 30.0], dtype=np.float32))
    if op == "maximum":
        np.testing.assert_array_equal(a.grad, [10.0, 20.0, 0.0])
        np.testing.assert_array_equal(b.grad, [0.0, 0.0, 30.0])
    else:
        np.testing.assert_array_equal(a.grad, [10.0, 0.0, 30.0])
        np.testing.assert_array_equal(b.grad, [0.0, 20.0, 0.0])
    # swapping the arguments moves the tie's gradient with the first argument
    a.grad = b.grad = None
    fn(b, a).backward(np.ones(3, dtype=np.float32))
    assert b.grad[0] == 1.0 and a.grad[0] == 0.0


def test_maximum_with_scalar_is_relu_like():
    check_op(lambda x: ll.maximum(x, 0.0), lambda x: torch.maximum(x, torch.zeros((), dtype=x.dtype)), [(3, 4)])
    check_op(lambda x: ll.minimum(1.0, x), lambda x: torch.minimum(torch.ones((), dtype=x.dtype), x), [(3, 4)])


# -- where, clip ---------------------------------------------------------------------------------

_C34 = np.random.default_rng(7).random((3, 4)) > 0.5
_C31 = np.array([[True], [False], [True]])


@pytest.mark.parametrize(
    "cond,shapes",
    [(_C34, [(3, 4), (3, 4)]), (_C31, [(3, 4), (4,)]), (_C34, [(), (3, 1)]), (np.array(True), [(2, 3), (2, 3)])],
    ids=["same", "cond_bcast", "values_bcast", "scalar_cond"],
)
def test_where(cond, shapes):
    tc = torch.from_numpy(cond)
    check_op(lambda a, b: ll.where(cond, a, b), lambda a, b: torch.where(tc, a, b), shapes)
    check_op(lambda a, b: ll.where(ll.tensor(cond), a, b), lambda a, b: torch.where(tc, a, b), shapes)


def test_where_with_scalar_branch():
    check_op(lambda a: ll.where(_C34, a, 0.0), lambda a: torch.where(torch.from_numpy(_C34), a, 0.0), [(3, 4)])
    assert ll.where(np.array([True, False]), 1.0, 0.0).dtype == np.float32


@pytest.mark.parametrize(
    "lo,hi", [(-0.5, 0.5), (-0.5, None), (None, 0.5), (-1.0, 1.0)], ids=["both", "lo", "hi", "wide"]
)
@pytest.mark.parametrize("shape", [(3, 4), ()], ids=str)
def test_clip(lo, hi, shape):
    check_op(lambda x: x.clip(lo, hi), lambda x: x.clamp(lo, hi), [shape])
    check_op(lambda x: ops.clip(x, lo, hi), lambda x: torch.clamp(x, lo, hi), [shape], seed=1)


# -- reductions ----------------------------------------------------------------------------------

AXES = [(None, False), (None, True), (0, False), (-1, True), (1, False), ((0, 2), False), ((0, 2), True), ((-1, 0), True)]


def _tdim(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


REDUCTIONS = [
    ("sum", lambda x, ax, kd: x.sum(axis=ax, keepdims=kd), lambda t, ax, kd: t.sum(dim=_tdim(ax, t.ndim), keepdim=kd)),
    ("mean", lambda x, ax, kd: x.mean(axis=ax, keepdims=kd), lambda t, ax, kd: t.mean(dim=_tdim(ax, t.ndim), keepdim=kd)),
    ("max", lambda x, ax, kd: x.max(axis=ax, keepdims=kd), lambda t, ax, kd: t.amax(dim=_tdim(ax, t.ndim), keepdim=kd)),
    ("min", lambda x, ax, kd: x.min(axis=ax, keepdims=kd), lambda t, ax, kd: t.amin(dim=_tdim(ax, t.ndim), keepdim=kd)),
    ("var0", lambda x, ax, kd: x.var(axis=ax, keepdims=kd),
     lambda t, ax, kd: t.var(dim=_tdim(ax, t.ndim), keepdim=kd, correction=0)),
    ("var1", lambda x, ax, kd: x.var(axis=ax, keepdims=kd, ddof=1),
     lambda t, ax, kd: t.var(dim=_tdim(ax, t.ndim), keepdim=kd, correction=1)),
    ("logsumexp", lambda x, ax, kd: ll.logsumexp(x, axis=ax, keepdims=kd),
     lambda t, ax, kd: torch.logsumexp(t, dim=_tdim(ax, t.ndim), keepdim=kd)),
    ("sum_fn", lambda x, ax, kd: ops.sum(x, ax, kd), lambda t, ax, kd: torch.sum(t, dim=_tdim(ax, t.ndim), keepdim=kd)),
    ("mean_fn", lambda x, ax, kd: ops.mean(x, ax, kd), lambda t, ax, kd: torch.mean(t, dim=_tdim(ax, t.ndim), keepdim=kd)),
    ("max_fn", lambda x, ax, kd: ops.max(x, ax, kd), lambda t, ax, kd: torch.amax(t, dim=_tdim(ax, t.ndim), keepdim=kd)),
    ("min_fn", lambda x, ax, kd: ops.min(x, ax, kd), lambda t, ax, kd: torch.amin(t, dim=_tdim(ax, t.ndim), keepdim=kd)),
]


@pytest.mark.parametrize("axis,keepdims", AXES, ids=[f"{a}-{k}" for a, k in AXES])
@pytest.mark.parametrize("name,fn,tfn", REDUCTIONS, ids=_ids(REDUCTIONS))
def test_reduction(name, fn, tfn, axis, keepdims):
    check_op(lambda x: fn(x, axis, keepdims), lambda t: tfn(t, axis, keepdims), [(2, 3, 4)])


@pytest.mark.parametrize("name,fn,tfn", [r for r in REDUCTIONS if not r[0].startswith("var1")],
                         ids=[r[0] for r in REDUCTIONS if not r[0].startswith("var1")])
def test_reduction_of_scalar(name, fn, tfn):
    # torch needs dim=0 (not ()) to reduce a 0-d tensor in logsumexp
    tf = (lambda t: torch.logsumexp(t, dim=0)) if name == "logsumexp" else (lambda t: tfn(t, None, False))
    check_op(lambda x: fn(x, None, False), tf, [()])


@pytest.mark.parametrize("fn,tfn", [(lambda x: x.max(axis=1), lambda t: t.amax(dim=1)),
                                    (lambda x: x.min(axis=0), lambda t: t.amin(dim=0)),
                                    (lambda x: x.max(), lambda t: t.amax())], ids=["max1", "min0", "max_all"])
def test_max_min_ties_split_evenly_as_torch_amax(fn, tfn):
    check_op(fn, tfn, vals=[[[1.0, 3.0, 3.0], [2.0, 2.0, 0.0], [3.0, 3.0, 3.0]]], gradcheck=False)


def test_var_needs_more_elements_than_ddof():
    with pytest.raises(ValueError, match=r"var: 1 element.*\(1, 3\).*ddof=1"):
        ll.tensor(np.ones((1, 3))).var(axis=0, ddof=1)


@pytest.mark.parametrize("low,high", [(300.0, 400.0), (-400.0, -300.0)], ids=["large", "very_negative"])
def test_logsumexp_is_stable(low, high):
    check_op(lambda x: ll.logsumexp(x, axis=1), lambda t: torch.logsumexp(t, dim=1), [(3, 4)], low=low, high=high)
    x = ll.tensor(np.array([[1000.0, 1000.0], [-1000.0, -1000.0]], dtype=np.float32), requires_grad=True)
    y = ll.logsumexp(x, axis=1)
    np.testing.assert_allclose(y.data, [1000.0 + np.log(2.0), -1000.0 + np.log(2.0)], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 0.5, rtol=1e-6)


def test_logsumexp_all_neg_inf_slice_gives_zero_gradient():
    # torch gives NaN gradients here; layerlab's documented convention is −inf and a zero gradient
    x = ll.tensor(np.array([[-np.inf, -np.inf], [0.0, -np.inf]]), requires_grad=True)
    y = ll.logsumexp(x, axis=1)
    np.testing.assert_array_equal(y.data, [-np.inf, 0.0])
    y.backward(np.ones(2))
    np.testing.assert_array_equal(x.grad, [[0.0, 0.0], [1.0, 0.0]])


# -- shape ops -----------------------------------------------------------------------------------

SHAPE_OPS = [
    ("reshape", [(3, 4)], lambda x: x.reshape(2, 6), lambda t: t.reshape(2, 6)),
    ("reshape_tuple", [(3, 4)], lambda x: x.reshape((4, 3)), lambda t: t.reshape((4, 3))),
    ("reshape_infer", [(2, 3, 2)], lambda x: x.reshape(-1), lambda t: t.reshape(-1)),
    ("reshape_to_scalar", [(1,)], lambda x: x.reshape(()), lambda t: t.reshape(())),
    ("reshape_from_scalar", [()], lambda x: x.reshape(1, 1), lambda t: t.reshape(1, 1)),
    ("reshape_fn", [(12,)], lambda x: ops.reshape(x, 2, 2, 3), lambda t: t.reshape(2, 2, 3)),
    ("T", [(3, 4)], lambda x: x.T, lambda t: t.T),
    ("T_3d", [(2, 3, 4)], lambda x: x.T, lambda t: t.permute(2, 1, 0)),
    ("T_1d", [(4,)], lambda x: x.T, lambda t: t),
    ("transpose", [(2, 3, 4)], lambda x: x.transpose(0, 2), lambda t: t.transpose(0, 2)),
    ("transpose_neg", [(2, 3, 4)], lambda x: x.transpose(-1, 1), lambda t: t.transpose(-1, 1)),
    ("transpose_all", [(3, 4)], lambda x: x.transpose(), lambda t: t.permute(1, 0)),
    ("permute", [(2, 3, 4)], lambda x: x.permute(2, 0, 1), lambda t: t.permute(2, 0, 1)),
    ("permute_tuple_neg", [(2, 3, 4)], lambda x: x.permute((1, -1, 0)), lambda t: t.permute(1, -1, 0)),
    ("permute_fn", [(2, 3, 4)], lambda x: ops.permute(x, 1, 2, 0), lambda t: t.permute(1, 2, 0)),
    ("expand", [(3, 1)], lambda x: x.expand(2, 3, 4), lambda t: t.expand(2, 3, 4)),
    ("expand_scalar", [()], lambda x: x.expand((2, 3)), lambda t: t.expand(2, 3)),
    ("broadcast_to", [(1, 4)], lambda x: x.broadcast_to((3, 4)), lambda t: torch.broadcast_to(t, (3, 4))),
    ("broadcast_to_fn", [(4,)], lambda x: ops.broadcast_to(x, (2, 3, 4)), lambda t: torch.broadcast_to(t, (2, 3, 4))),
]


@pytest.mark.parametrize("name,shapes,fn,tfn", SHAPE_OPS, ids=_ids(SHAPE_OPS))
def test_shape_op(name, shapes, fn, tfn):
    check_op(fn, tfn, shapes)


# -- indexing ------------------------------------------------------------------------------------

_MASK = np.random.default_rng(3).random((3, 4)) > 0.4
GETITEM = [
    ("int", (3, 4), 1, 1),
    ("neg_int", (3, 4), -1, -1),
    ("slice", (3, 4), np.s_[1:, ::2], np.s_[1:, ::2]),
    ("ellipsis", (2, 3, 4), np.s_[..., 1], np.s_[..., 1]),
    ("newaxis", (3, 4), np.s_[None, 0], np.s_[None, 0]),
    ("int_and_slice", (2, 3, 4), np.s_[1, :, 1:3], np.s_[1, :, 1:3]),
    ("scalar_entry", (3, 4), np.s_[2, 3], np.s_[2, 3]),
    ("int_array_repeated", (4, 3), np.array([0, 2, 0, 0]), torch.tensor([0, 2, 0, 0])),
    ("int_list_repeated", (5,), [1, 1, 4, 1], [1, 1, 4, 1]),
    ("int_array_2d_index", (4, 3), np.array([[0, 1], [1, 1]]), torch.tensor([[0, 1], [1, 1]])),
    ("pairs_repeated", (3, 4), (np.array([0, 1, 1, 0]), np.array([2, 0, 0, 2])),
     (torch.tensor([0, 1, 1, 0]), torch.tensor([2, 0, 0, 2]))),
    ("slice_and_array", (3, 4), np.s_[:, np.array([1, 1, 3])], np.s_[:, torch.tensor([1, 1, 3])]),
    ("bool_mask", (3, 4), _MASK, torch.from_numpy(_MASK)),
    ("bool_mask_rows", (3, 4), np.array([True, False, True]), torch.tensor([True, False, True])),
]


@pytest.mark.parametrize("name,shape,idx,tidx", GETITEM, ids=_ids(GETITEM))
def test_getitem(name, shape, idx, tidx):
    check_op(lambda x: x[idx], lambda t: t[tidx], [shape])


def test_getitem_with_tensor_index_and_scatter_add():
    x = ll.tensor(np.arange(4.0), requires_grad=True)
    y = x[ll.tensor(np.array([3, 3, 3, 0]))]
    np.testing.assert_array_equal(y.data, [3.0, 3.0, 3.0, 0.0])
    y.backward(np.array([1.0, 2.0, 4.0, 8.0]))
    np.testing.assert_array_equal(x.grad, [8.0, 0.0, 0.0, 7.0])  # repeated index: gradients add up


# -- concatenate, stack, pad ---------------------------------------------------------------------

JOIN = [
    ("concat0", [(2, 3), (1, 3), (3, 3)], lambda a, b, c: ll.concatenate([a, b, c]), lambda a, b, c: torch.cat([a, b, c])),
    ("concat1", [(2, 3), (2, 1), (2, 2)], lambda a, b, c: ll.concatenate([a, b, c], axis=1),
     lambda a, b, c: torch.cat([a, b, c], dim=1)),
    ("concat_neg", [(2, 2, 3), (2, 2, 1)], lambda a, b: ll.concatenate((a, b), axis=-1), lambda a, b: torch.cat((a, b), -1)),
    ("concat_reused", [(2, 3)], lambda a: ll.concatenate([a, a * 2.0, a], axis=0), lambda a: torch.cat([a, a * 2.0, a])),
    ("stack0", [(2, 3), (2, 3)], lambda a, b: ll.stack([a, b]), lambda a, b: torch.stack([a, b])),
    ("stack1", [(2, 3), (2, 3), (2, 3)], lambda a, b, c: ll.stack([a, b, c], axis=1),
     lambda a, b, c: torch.stack([a, b, c], dim=1)),
    ("stack_neg", [(2, 3), (2, 3)], lambda a, b: ll.stack([a, b], axis=-1), lambda a, b: torch.stack([a, b], dim=-1)),
    ("stack_scalars", [(), ()], lambda a, b: ll.stack([a, b]), lambda a, b: torch.stack([a, b])),
]


@pytest.mark.parametrize("name,shapes,fn,tfn", JOIN, ids=_ids(JOIN))
def test_join(name, shapes, fn, tfn):
    check_op(fn, tfn, shapes)


def test_join_accepts_generators_and_raw_arrays():
    x = ll.tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    y = ll.stack(x * float(k) for k in range(3))
    assert y.shape == (3, 2)
    z = ll.concatenate([np.zeros(1), x])  # a raw float64 array takes the tensor's dtype
    assert z.dtype == np.float32
    (y.sum() + z.sum()).backward()
    np.testing.assert_array_equal(x.grad, [4.0, 4.0])


def _torch_pad(widths, ndim):
    w = np.broadcast_to(np.asarray(widths), (ndim, 2))
    return [int(v) for pair in w[::-1] for v in pair]  # torch lists (before, after) from the last axis


PADS = [
    ("pairs", (2, 3), ((1, 2), (0, 3)), 0.0),
    ("int", (2, 3), 1, 0.0),
    ("one_pair", (2, 3), (2, 1), 0.0),
    ("one_width", (2, 3), (1,), 0.0),
    ("value", (3,), ((2, 1),), -1.5),
    ("3d", (2, 2, 3), ((0, 0), (1, 0), (0, 2)), 0.5),
]


@pytest.mark.parametrize("name,shape,widths,value", PADS, ids=_ids(PADS))
def test_pad(name, shape, widths, value):
    tw = _torch_pad(widths, len(shape))
    check_op(lambda x: ll.pad(x, widths, value), lambda t: F.pad(t, tw, value=value), [shape])
    check_op(lambda x: x.pad(widths, value=value), lambda t: F.pad(t, tw, value=value), [shape], seed=1)


# -- astype -----------------------------------------------------------------------------------

def test_astype_is_differentiable_between_float_dtypes():
    x = ll.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = x.astype(np.float64)
    assert y.dtype == np.float64 and y.grad_fn == "astype"
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    assert not x.astype(np.int64).requires_grad


# -- kernels: the one home of the shared elementwise formulas ----------------------------------------

KERNELS = [
    ("sigmoid", kernels.sigmoid, torch.sigmoid, kernels.sigmoid_grad),
    ("tanh", kernels.tanh, torch.tanh, kernels.tanh_grad),
    ("relu", kernels.relu, torch.relu, kernels.relu_grad),
    ("softplus", kernels.softplus, F.softplus, None),
    ("softmax", kernels.softmax, lambda x: torch.softmax(x, -1), None),
    ("log_softmax", kernels.log_softmax, lambda x: torch.log_softmax(x, -1), None),
]
EXTREMES = np.array([[-1000.0, -100.0, -30.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 30.0, 100.0, 1000.0]])


@pytest.mark.parametrize("name,fn,tfn,grad", KERNELS, ids=_ids(KERNELS))
def test_kernel_values_derivatives_and_dtype(name, fn, tfn, grad):
    x = np.concatenate([np.random.default_rng(0).uniform(-8, 8, (3, 11)), EXTREMES])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = fn(x)
    tx = torch.tensor(x, requires_grad=True)
    ty = tfn(tx)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-13, atol=1e-300)
    if grad is not None:  # the derivative from the output, as the fused nodes use it
        (tg,) = torch.autograd.grad(ty.sum(), tx)
        np.testing.assert_allclose(np.asarray(grad(y), dtype=np.float64), tg.numpy(), rtol=1e-13, atol=1e-15)
    x32 = x.astype(np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y32 = fn(x32)
    assert y32.dtype == np.float32 and np.isfinite(y32).all()  # no upcast, no overflow
    if grad is not None and name != "relu":
        assert grad(y32).dtype == np.float32
    assert y is not x and y32 is not x32  # a new array: callers write into it


@pytest.mark.parametrize("name,fn,tfn,grad", KERNELS[:4], ids=_ids(KERNELS[:4]))
def test_elementwise_kernels_take_0d_arrays(name, fn, tfn, grad):
    for dt in (np.float32, np.float64):
        x = np.array(-0.5, dtype=dt)
        y = fn(x)
        assert np.shape(y) == () and y.dtype == dt
        np.testing.assert_allclose(y, tfn(torch.tensor(-0.5, dtype=torch.float64)).item(), rtol=1e-6)
        if grad is not None:
            assert np.shape(grad(np.asarray(y))) == ()


def test_mul_into_writes_into_a_fresh_derivative_and_copies_otherwise():
    g = np.arange(4.0, dtype=np.float32)
    d = np.full(4, 2.0, dtype=np.float32)
    out = kernels.mul_into(g, d)
    assert out is d and out.tolist() == [0.0, 2.0, 4.0, 6.0]
    mask = np.array([True, False, True, True])
    out = kernels.mul_into(g, mask)  # a bool mask (relu'): a new float array of g's dtype
    assert out is not mask and out.dtype == np.float32 and out.tolist() == [0.0, 0.0, 2.0, 3.0]
    ro = np.full(4, 2.0, dtype=np.float32)
    ro.flags.writeable = False
    assert kernels.mul_into(g, ro) is not ro


@pytest.mark.parametrize("op,module", [("sigmoid", nn.Sigmoid), ("tanh", nn.Tanh), ("relu", nn.ReLU)])
def test_ops_and_activations_share_one_kernel(op, module):
    """x.sigmoid() and nn.Sigmoid() are the same formula, bit for bit, forward and backward."""
    x = np.random.default_rng(5).uniform(-30, 30, (6, 7)).astype(np.float32)
    a, b = ll.tensor(x, requires_grad=True), ll.tensor(x, requires_grad=True)
    ya, yb = getattr(a, op)(), module()(b)
    np.testing.assert_array_equal(ya.data, yb.data)
    g = np.random.default_rng(6).standard_normal(x.shape).astype(np.float32)
    ya.backward(g)
    yb.backward(g)
    np.testing.assert_array_equal(a.grad, b.grad)


# -- the fused kernels of a training step (compiled with numba where installed, else NumPy) --------------------
BIG = (kernels.JIT_MIN // 64 + 3, 64)  # above JIT_MIN: the size that takes the compiled path when there is one


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_kernels_round_as_the_numpy_expressions(dtype):
    """tanh_vjp, sub_scaled_ and adam_direction_ give, bit for bit, the NumPy expressions they fuse —
    on both of their paths (with numba: one compiled pass; without: NumPy on fewer temporaries)."""
    rng = np.random.default_rng(11)
    g, u, m0 = (rng.standard_normal(BIG).astype(dtype) for _ in range(3))
    y = np.tanh(rng.standard_normal(BIG)).astype(dtype)
    v0 = rng.random(BIG).astype(dtype)
    ref = y * y
    ref = 1.0 - ref
    ref *= g
    out = kernels.tanh_vjp(g, y)
    assert out.dtype == dtype and out is not g
    np.testing.assert_array_equal(out, ref)

    for u_free in (False, True):
        p, uu = rng.standard_normal(BIG).astype(dtype), u.copy()
        ref = p - 0.37 * u
        kernels.sub_scaled_(p, uu, 0.37, u_free=u_free)
        np.testing.assert_array_equal(p, ref)
        if not u_free:
            np.testing.assert_array_equal(uu, u)  # the caller's u is read, never written

    for b1 in (0.9, 0.3):  # 1 − β₁ < ½ and ≥ ½: the two branches of torch's lerp
        m, v = m0.copy(), v0.copy()
        out = kernels.adam_direction_(m, v, g, b1, 0.999, 7, 1e-8)
        w = 1.0 - b1
        rm = m0 + (g - m0) * dtype(w) if w < 0.5 else g - (g - m0) * dtype(1.0 - w)
        rv = v0 * dtype(0.999) + (g * dtype(1.0 - 0.999)) * g
        ru = (rm / dtype(1.0 - b1 ** 7)) / (np.sqrt(rv) / dtype((1.0 - 0.999 ** 7) ** 0.5) + dtype(1e-8))
        np.testing.assert_array_equal(m, rm)
        np.testing.assert_array_equal(v, rv)
        np.testing.assert_array_equal(out, ru)
        assert out.dtype == dtype


def test_tanh_float32_is_within_a_few_ulp_and_keeps_the_special_values():
    """The float32 tanh (a rational approximation where compiled) stays within 8 ulp (relative 5e-7) of the
    exact tanh, is odd, saturates to ±1 and keeps NaN and ±0, as np.tanh does."""
    x = np.random.default_rng(12).standard_normal(BIG).astype(np.float32) * 4
    x.flat[:8] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, 20.0, -20.0]
    y = kernels.tanh(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.isnan(y.flat[0]) and y.flat[1:3].tolist() == [1.0, -1.0] and y.flat[6:8].tolist() == [1.0, -1.0]
    assert y.flat[3] == 0 and not np.signbit(y.flat[3]) and np.signbit(y.flat[4])
    exact = np.tanh(x.astype(np.float64))
    fin = np.isfinite(exact)
    assert np.all(np.abs(y - exact)[fin] <= 8 * np.spacing(np.abs(exact[fin]).astype(np.float32)))
    assert np.all(np.abs(y - exact)[fin] <= 5e-7 * np.abs(exact[fin]))
    np.testing.assert_array_equal(kernels.tanh(-x), -y)  # odd


def test_tanh_node_on_a_w1_sized_batch_matches_torch_float32():
    """Forward and backward of a tanh layer's worth of float32 (W1: 256 × 500) against torch at float32
    precision: the fused kernels take part here wherever they are compiled. Both backwards use
    1 − y² from their own output, so a few ulp in y allow |Δ(1 − y²)| ≈ 2|Δy| ≤ 1e-6 absolute."""
    rng = np.random.default_rng(13)
    x = (rng.standard_normal((256, 500)) * 2).astype(np.float32)
    g = rng.standard_normal((256, 500)).astype(np.float32)
    for y_fn in (lambda t: t.tanh(), nn.Tanh()):
        xt = ll.tensor(x, requires_grad=True)
        y = y_fn(xt)
        y.backward(g)
        tx = torch.tensor(x, requires_grad=True)
        ty = torch.tanh(tx)
        ty.backward(torch.from_numpy(g))
        assert y.dtype == np.float32 and xt.grad.dtype == np.float32
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-5, atol=1e-6 * np.abs(g).max())


def test_compiled_and_numpy_paths_agree(monkeypatch):
    """With numba installed: the compiled loops against the NumPy path of the same function (bitwise, but
    the float32 tanh, which is an approximation within 8 ulp)."""
    if not kernels.jit_enabled():
        pytest.skip("numba is not installed (or LAYERLAB_JIT=0): there is one path only")
    rng = np.random.default_rng(14)
    x, g = (rng.standard_normal(BIG).astype(np.float32) for _ in range(2))
    y = np.tanh(x)
    fast = kernels.tanh(x), kernels.tanh_vjp(g, y), kernels.adam_direction_(x.copy(), y * y, g, 0.9, 0.99, 3, 1e-8)
    monkeypatch.setattr(kernels, "_JIT", None)
    assert not kernels.jit_enabled()
    slow = kernels.tanh(x), kernels.tanh_vjp(g, y), kernels.adam_direction_(x.copy(), y * y, g, 0.9, 0.99, 3, 1e-8)
    assert np.all(np.abs(fast[0] - slow[0]) <= 8 * np.spacing(np.abs(slow[0])))
    np.testing.assert_array_equal(fast[1], slow[1])
    np.testing.assert_array_equal(fast[2], slow[2])
