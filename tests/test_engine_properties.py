"""Property tests: random expression graphs, and every binary op on random broadcastable shapes.

A drawn *program* is a list of steps over 1–3 inputs of broadcast-compatible random
shapes; each step applies an op to earlier values (inputs or results), so a value is
often used on several paths. Binary steps broadcast their operands (also through
``broadcast_to`` + ``stack``/``concatenate``/``@``). The same program runs in layerlab and in PyTorch
(float64); the output and every input's gradient, for the same random upstream
gradient, must agree to 1e-9 relative. The program run on float32 inputs must stay
float32, forward and backward.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import layerlab as ll

# name -> (arity, layerlab fn, torch fn). Domains are guarded inside the op (log(x²+1), a/(b²+1)) so that any
# composition stays defined; maximum/minimum are left out because their tie conventions differ on purpose.
UNARY = {
    "neg": (lambda x: -x, lambda x: -x),
    "tanh": (lambda x: x.tanh(), torch.tanh),
    "sigmoid": (lambda x: x.sigmoid(), torch.sigmoid),
    "relu": (lambda x: x.relu(), torch.relu),
    "abs": (lambda x: x.abs(), torch.abs),
    "exp": (lambda x: (x * 0.5).exp(), lambda x: (x * 0.5).exp()),
    "log": (lambda x: (x * x + 1.0).log(), lambda x: (x * x + 1.0).log()),
    "sqrt": (lambda x: (x * x + 0.5).sqrt(), lambda x: (x * x + 0.5).sqrt()),
    "square": (lambda x: x ** 2, lambda x: x ** 2),
    "cube": (lambda x: x ** 3, lambda x: x ** 3),
    "rpow": (lambda x: 1.5 ** x, lambda x: 1.5 ** x),
    "scale": (lambda x: 0.7 * x - 0.2, lambda x: 0.7 * x - 0.2),
    "clip": (lambda x: x.clip(-1.0, 1.5), lambda x: x.clamp(-1.0, 1.5)),
    "sum_last": (lambda x: x.sum(axis=-1, keepdims=True), lambda x: x.sum(dim=-1, keepdim=True)),
    "mean_first": (lambda x: x.mean(axis=0, keepdims=True), lambda x: x.mean(dim=0, keepdim=True)),
    "max_last": (lambda x: x.max(axis=-1, keepdims=True), lambda x: x.amax(dim=-1, keepdim=True)),
    "min_all": (lambda x: x.min(), lambda x: x.amin()),
    "var_last": (lambda x: x.var(axis=-1, keepdims=True), lambda x: x.var(dim=-1, keepdim=True, correction=0)),
    "lse_last": (lambda x: ll.logsumexp(x, axis=-1, keepdims=True), lambda x: torch.logsumexp(x, -1, keepdim=True)),
    "sum_all": (lambda x: x.sum(), lambda x: x.sum()),
    "reshape_roundtrip": (lambda x: x.reshape(-1).reshape(x.shape), lambda x: x.reshape(-1).reshape(x.shape)),
    "gram": (lambda x: x @ x.transpose(-1, -2), lambda x: x @ x.transpose(-1, -2)),  # ndim >= 2 only
    "flip_last2": (lambda x: x.transpose(-1, -2), lambda x: x.transpose(-1, -2)),  # ndim >= 2 only
    "repeat_rows": (lambda x: x[np.array([0, 0, -1])], lambda x: x[torch.tensor([0, 0, -1])]),  # ndim >= 1
    "pad_last": (lambda x: ll.pad(x, [(0, 0)] * (x.ndim - 1) + [(1, 0)], 0.25),
                 lambda x: torch.nn.functional.pad(x, (1, 0), value=0.25)),  # ndim >= 1
}
NEEDS_NDIM = {"gram": 2, "flip_last2": 2, "repeat_rows": 1, "pad_last": 1, "sum_last": 1, "mean_first": 1,
              "max_last": 1, "var_last": 1, "lse_last": 1}
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (b * b + 1.0), lambda a, b: a / (b * b + 1.0)),
    "pow": (lambda a, b: (a * a + 0.5) ** b.tanh(), lambda a, b: (a * a + 0.5) ** b.tanh()),
    "where": (lambda a, b: ll.where(a > b, a, b * 0.5), lambda a, b: torch.where(a > b, a, b * 0.5)),
    # the operands broadcast to their common shape s, then joined: the gradient is summed back through
    # broadcast_to; a tie in the max (a value paired with itself, two relu zeros) is split evenly in both
    "stack_max": (lambda a, b: ll.stack(_bcast_ll(a, b)).max(axis=0),
                  lambda a, b: torch.stack(torch.broadcast_tensors(a, b)).amax(0)),
    "concat_last": (lambda a, b: ll.concatenate(_bcast_ll(a, b), axis=-1),
                    lambda a, b: torch.cat(torch.broadcast_tensors(a, b), dim=-1)),  # ndim >= 1
    "mm": (lambda a, b: (lambda x, y: x @ y.transpose(-1, -2))(*_bcast_ll(a, b)),
           lambda a, b: (lambda x, y: x @ y.transpose(-1, -2))(*torch.broadcast_tensors(a, b))),  # ndim >= 2
}
BINARY_NEEDS_NDIM = {"concat_last": 1, "mm": 2}


def _bcast_ll(a, b):
    s = np.broadcast_shapes(a.shape, b.shape)
    return [a.broadcast_to(s), b.broadcast_to(s)]


def _bcast(s1, s2):
    try:
        return np.broadcast_shapes(s1, s2)
    except ValueError:
        return None


@st.composite
def programs(draw):
    """Input shapes, input values (by seed) and a list of steps (op name, operand indices)."""
    n_in = draw(st.integers(1, 3))
    shapes = draw(mutually_broadcastable_shapes(num_shapes=n_in, min_dims=0, max_dims=3, min_side=1, max_side=3))
    in_shapes = list(shapes.input_shapes)
    value_shapes = list(in_shapes)
    steps = []
    for _ in range(draw(st.integers(1, 7))):
        # any earlier value may be picked again: one node on several paths
        i = draw(st.integers(0, len(value_shapes) - 1))
        j = draw(st.integers(0, len(value_shapes) - 1))
        out = _bcast(value_shapes[i], value_shapes[j])
        if draw(st.booleans()) and out is not None:
            name = draw(st.sampled_from([n for n in sorted(BINARY) if BINARY_NEEDS_NDIM.get(n, 0) <= len(out)]))
            steps.append((name, (i, j)))
            value_shapes.append(_binary_shape_after(name, out))
            continue
        ndim = len(value_shapes[i])
        names = [n for n in sorted(UNARY) if NEEDS_NDIM.get(n, 0) <= ndim]
        name = draw(st.sampled_from(names))
        steps.append((name, (i,)))
        value_shapes.append(_shape_after(name, value_shapes[i]))
    return in_shapes, steps, draw(st.integers(0, 2**32 - 1))


def _binary_shape_after(name, s):
    s = tuple(s)
    if name == "concat_last":
        return s[:-1] + (2 * s[-1],)
    if name == "mm":
        return s[:-1] + (s[-2],)
    return s


def _shape_after(name, s):
    s = tuple(s)
    if name in ("sum_last", "max_last", "var_last", "lse_last"):
        return s[:-1] + (1,)
    if name == "mean_first":
        return (1,) + s[1:]
    if name in ("min_all", "sum_all"):
        return ()
    if name == "gram":
        return s[:-1] + (s[-2],)
    if name == "flip_last2":
        return s[:-2] + (s[-1], s[-2])
    if name == "repeat_rows":
        return (3,) + s[1:]
    if name == "pad_last":
        return s[:-1] + (s[-1] + 1,)
    return s


def _run(steps, inputs, which):
    """Run the program; which = 1 for layerlab, 2 for torch. The output is the last value."""
    values = list(inputs)
    for name, args in steps:
        fn = (UNARY.get(name) or BINARY[name])[which - 1]
        values.append(fn(*[values[k] for k in args]))
    return values[-1]


def _every_op_program():
    """One explicit example that uses every op: each applied to the inputs, reduced, and added to a total."""
    n_in, steps = 2, []

    def push(name, *args):  # returns the value index of the new step
        steps.append((name, args))
        return n_in + len(steps) - 1

    total = push("scale", 0)
    for name in sorted(UNARY):
        total = push("add", total, push("sum_all", push(name, 0)))
    for name in sorted(BINARY):
        total = push("add", total, push("sum_all", push(name, 0, 1)))
    return [(2, 3), (3,)], steps, 12345


@settings(max_examples=100)
@given(programs())
@example(_every_op_program())
def test_random_graphs_match_torch(program):
    in_shapes, steps, seed = program
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-2.0, 2.0, size=s) for s in in_shapes]

    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    tout = _run(steps, ts, 2)
    tv = tout.detach()
    assume(tout.requires_grad and bool(torch.isfinite(tv).all()) and float(tv.abs().max()) < 1e6)
    xs = [ll.tensor(a.copy(), requires_grad=True) for a in arrays]
    out = _run(steps, xs, 1)

    assert out.shape == tuple(tout.shape) and out.dtype == np.float64
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-9, atol=1e-12)

    g = rng.standard_normal(out.shape)
    out.backward(g)
    tgrads = torch.autograd.grad(tout, ts, torch.from_numpy(g), allow_unused=True)
    for k, (x, tg) in enumerate(zip(xs, tgrads)):
        expected = np.zeros(x.shape) if tg is None else tg.numpy()
        got = np.zeros(x.shape) if x.grad is None else x.grad
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * scale, err_msg=f"input {k}: {steps}")

    xs32 = [ll.tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    out32 = _run(steps, xs32, 1)
    assert out32.dtype == np.float32
    out32.backward(g.astype(np.float32))
    assert all(x.grad is None or x.grad.dtype == np.float32 for x in xs32)


BINARY_OPS = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "pow": (lambda a, b: a ** b, lambda a, b: a ** b),
    "maximum": (ll.maximum, torch.maximum),
    "minimum": (ll.minimum, torch.minimum),
    "where": None,  # built per example: the condition takes the result's shape
}


@settings(max_examples=60)
@given(
    st.sampled_from(sorted(BINARY_OPS)),
    mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=1, max_side=3),
    st.integers(0, 2**32 - 1),
)
def test_binary_ops_on_random_broadcastable_shapes(name, shapes, seed):
    # a gradient is summed back to its operand's shape for any broadcastable pair (no op does it itself)
    rng = np.random.default_rng(seed)
    # positive values away from each other: no ties for maximum/minimum, a defined pow and div
    a = rng.uniform(0.5, 1.5, size=shapes.input_shapes[0])
    b = rng.uniform(1.6, 2.6, size=shapes.input_shapes[1])
    if name != "where":
        fn, tfn = BINARY_OPS[name]
    else:
        cond = np.asarray(rng.random(shapes.result_shape) > 0.5)  # an ndarray also for shape ()
        fn = lambda x, y: ll.where(cond, x, y)  # noqa: E731
        tfn = lambda x, y: torch.where(torch.from_numpy(cond), x, y)  # noqa: E731
    x, y = ll.tensor(a, requires_grad=True), ll.tensor(b, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    ty = torch.tensor(b, requires_grad=True)
    out, tout = fn(x, y), tfn(tx, ty)
    assert out.shape == tuple(tout.shape) == shapes.result_shape
    g = rng.standard_normal(out.shape)
    out.backward(g)
    gx, gy = torch.autograd.grad(tout, (tx, ty), torch.from_numpy(g))
    assert x.grad.shape == x.shape and y.grad.shape == y.shape
    np.testing.assert_allclose(x.grad, gx.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y.grad, gy.numpy(), rtol=1e-10, atol=1e-12)
    assert ll.gradcheck(fn, ll.tensor(a, requires_grad=True), ll.tensor(b, requires_grad=True))


def _check_against_torch_and_fd(fn, tfn, arrays, seed):
    """Forward and gradients vs torch (float64, 1e-10 relative), finite differences, float32 kept."""
    rng = np.random.default_rng(seed)
    xs = [ll.tensor(a.copy(), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = fn(*xs), tfn(*ts)
    assert out.shape == tuple(tout.shape) and out.dtype == np.float64
    expected = tout.detach().numpy()
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12 * scale)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tgrads = torch.autograd.grad(tout, ts, torch.from_numpy(g))
    for k, (x, tg) in enumerate(zip(xs, tgrads)):
        assert x.grad.shape == x.shape and x.grad.dtype == np.float64
        scale = max(1.0, float(np.max(np.abs(tg.numpy()), initial=0.0)))
        np.testing.assert_allclose(x.grad, tg.numpy(), rtol=1e-10, atol=1e-12 * scale, err_msg=f"input {k}")
    assert ll.gradcheck(fn, *[ll.tensor(a.copy(), requires_grad=True) for a in arrays])
    xs32 = [ll.tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    out32 = fn(*xs32)
    assert out32.dtype == np.float32
    out32.backward(g.astype(np.float32))
    assert all(x.grad.dtype == np.float32 for x in xs32)


def _torch_dims(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


REDUCTIONS = {
    "sum": (lambda x, ax, kd: x.sum(axis=ax, keepdims=kd), lambda t, ax, kd: t.sum(dim=ax, keepdim=kd)),
    "mean": (lambda x, ax, kd: x.mean(axis=ax, keepdims=kd), lambda t, ax, kd: t.mean(dim=ax, keepdim=kd)),
    "max": (lambda x, ax, kd: x.max(axis=ax, keepdims=kd), lambda t, ax, kd: t.amax(dim=ax, keepdim=kd)),
    "min": (lambda x, ax, kd: x.min(axis=ax, keepdims=kd), lambda t, ax, kd: t.amin(dim=ax, keepdim=kd)),
    "var": (lambda x, ax, kd: x.var(axis=ax, keepdims=kd), lambda t, ax, kd: t.var(dim=ax, keepdim=kd, correction=0)),
    "var_ddof1": (lambda x, ax, kd: x.var(axis=ax, keepdims=kd, ddof=1),
                  lambda t, ax, kd: t.var(dim=ax, keepdim=kd, correction=1)),
    "logsumexp": (lambda x, ax, kd: ll.logsumexp(x, axis=ax, keepdims=kd),
                  lambda t, ax, kd: torch.logsumexp(t, dim=ax if t.ndim else 0, keepdim=kd)),
}


@st.composite
def reduction_axes(draw, ndim):
    """None, one axis (possibly negative) or a tuple of distinct axes (some negative)."""
    if ndim == 0:
        return None
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes)


@settings(max_examples=80)
@given(st.sampled_from(sorted(REDUCTIONS)), array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=3),
       st.data(), st.integers(0, 2**32 - 1))
def test_reductions_on_random_shapes_axes_and_keepdims(name, shape, data, seed):
    axis = data.draw(reduction_axes(len(shape)))
    keepdims = data.draw(st.booleans())
    n = int(np.prod([shape[a] for a in _torch_dims(axis, len(shape))] if isinstance(axis, tuple) or axis is None
                    else [shape[axis]]))
    assume(name != "var_ddof1" or n > 1)
    fn, tfn = REDUCTIONS[name]
    dims = _torch_dims(axis, len(shape))
    x = np.random.default_rng(seed).uniform(-2.0, 2.0, size=shape)  # distinct entries: no ties in max/min
    _check_against_torch_and_fd(lambda t: fn(t, axis, keepdims), lambda t: tfn(t, dims, keepdims), [x], seed)


@settings(max_examples=60)
@given(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, min_side=1, max_side=3),
       st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.sampled_from(["mat", "vec_left", "vec_right"]),
       st.integers(0, 2**32 - 1))
def test_matmul_on_random_batched_shapes(batch, m, k, n, kind, seed):
    # 2-D and batched (broadcast batch dims) products, and a 1-D operand on either side
    rng = np.random.default_rng(seed)
    sa = (k,) if kind == "vec_left" else batch.input_shapes[0] + (m, k)
    sb = (k,) if kind == "vec_right" else batch.input_shapes[1] + (k, n)
    arrays = [rng.standard_normal(sa), rng.standard_normal(sb)]
    _check_against_torch_and_fd(lambda a, b: a @ b, torch.matmul, arrays, seed)
