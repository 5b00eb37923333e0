"""Tensor and the graph: backward semantics, dtypes, aliasing, deep graphs and error messages."""

from __future__ import annotations

import re
import weakref

import numpy as np
import pytest
import torch

import layerlab as ll
from layerlab.tensor import make_node, sum_to

F32, F64 = np.float32, np.float64


def _rand(*shape, seed=0, dtype=F64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# -- construction and dtypes ---------------------------------------------------------------------

@pytest.mark.parametrize(
    "data,dtype",
    [
        ([1.0, 2.0], F32),  # Python floats take the default dtype
        (1.5, F32),
        ([[1, 2.5]], F32),
        (np.array([1.0, 2.0]), F64),  # ndarrays keep theirs
        (np.array([1.0], dtype=F32), F32),
        (np.float64(2.0), F64),
        ([1, 2], np.int64),
        ([True, False], np.bool_),
    ],
)
def test_tensor_dtype_from_data(data, dtype):
    assert ll.tensor(data).dtype == dtype


def test_explicit_dtype_and_default_dtype():
    assert ll.tensor(np.ones(2), dtype=F32).dtype == F32
    assert ll.tensor([1, 2], dtype=F64).dtype == F64
    ll.set_default_dtype(F64)
    assert ll.get_default_dtype() == F64
    assert ll.tensor([1.0]).dtype == F64
    ll.set_default_dtype(F32)
    assert ll.tensor([1.0]).dtype == F32
    with pytest.raises(TypeError, match="float32 or float64"):
        ll.set_default_dtype(np.int32)


def test_ndarray_is_not_copied_when_dtype_matches():
    a = np.ones(3, dtype=F32)
    x = ll.tensor(a)
    assert np.shares_memory(x.data, a) and x.numpy() is x.data


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x * 2.0, lambda x: 2.0 * x, lambda x: x + 1, lambda x: 1 - x, lambda x: x / 3.0,
        lambda x: 2.0 / x, lambda x: x ** 2.0, lambda x: 2.0 ** x, lambda x: x ** 3,
        lambda x: x * np.float64(2.0),  # NEP 50: a NumPy float64 scalar would upcast a float32 array
        lambda x: x + np.sqrt(2.0), lambda x: x ** np.float64(0.5), lambda x: x * np.ones(3),
        lambda x: ll.maximum(x, 0.0), lambda x: ll.where(x > 0, x, 0.0), lambda x: x.clip(-1, 1),
        lambda x: x * ll.tensor([1, 2, 3]),  # an integer tensor takes the float dtype, as torch
        lambda x: x[np.array([0, 0])], lambda x: ll.logsumexp(x, axis=0),
        lambda x: ll.concatenate([x, np.zeros(2)]), lambda x: ll.stack([np.zeros(3), x]),  # raw arrays follow x
    ],
)
def test_python_and_numpy_scalars_keep_float32(fn):
    x = ll.tensor(np.array([0.5, 1.0, 2.0], dtype=F32), requires_grad=True)
    y = fn(x)
    assert y.dtype == F32
    y.sum().backward()
    assert x.grad.dtype == F32


_MIX = [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b), ("pow", lambda a, b: a ** b), ("maximum", ll.maximum),
    ("minimum", ll.minimum), ("where", lambda a, b: ll.where(np.array([True, False]), a, b)),
    ("matmul", lambda a, b: a @ b), ("concatenate", lambda a, b: ll.concatenate([a, b])),
    ("stack", lambda a, b: ll.stack([a, b])),
]


@pytest.mark.parametrize("op,fn", _MIX, ids=[m[0] for m in _MIX])
def test_mixing_float32_and_float64_raises(op, fn):
    a = ll.tensor(np.ones(2, dtype=F32), requires_grad=True)
    b = ll.tensor(np.ones(2, dtype=F64), requires_grad=True)
    with pytest.raises(TypeError, match=rf"{op}: dtypes differ.*float32.*float64"):
        fn(a, b)
    with pytest.raises(TypeError, match=rf"{op}: dtypes differ.*float64.*float32"):
        fn(b, a)


@pytest.mark.parametrize("data", [[1, 2], np.array([1, 2], dtype=np.int32), [True]])
def test_integer_tensor_cannot_require_grad(data):
    with pytest.raises(TypeError, match="floating-point.*got dtype"):
        ll.tensor(data, requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        ll.tensor(data).requires_grad_()


# -- properties and conversions ------------------------------------------------------------------

def test_properties_and_conversions():
    x = ll.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert (x.shape, x.ndim, x.size, len(x), x.is_leaf, x.grad_fn) == ((2, 3), 2, 6, 2, True, None)
    y = x * 2.0
    assert not y.is_leaf and y.grad_fn == "mul" and y.requires_grad
    assert "grad_fn=mul" in repr(y) and "requires_grad=True" in repr(x)
    assert x.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert x[1, 2].item() == 5.0
    with pytest.raises(ValueError, match=r"item\(\): tensor of shape \(2, 3\) has 6 elements"):
        x.item()


def test_comparisons_and_argmax_are_not_differentiable():
    x = ll.tensor([1.0, 3.0, 2.0], requires_grad=True)
    for c in (x > 1.5, x >= 3.0, x < 2.0, x <= 1.0, x == 2.0, x != 2.0):
        assert c.dtype == np.bool_ and not c.requires_grad
    np.testing.assert_array_equal((x > 1.5).data, [False, True, True])
    assert x.argmax().item() == 1 and x.argmin().item() == 0
    assert x.argmax(axis=0, keepdims=True).shape == (1,)


# -- backward semantics --------------------------------------------------------------------------

def test_node_used_twice_gets_summed_gradients():
    a = ll.tensor(_rand(3, 4), requires_grad=True)
    b = ll.tensor(_rand(4, seed=1), requires_grad=True)
    z = a * b  # a non-leaf used on three paths
    w = (z + z * z - z.tanh()).sum()
    w.backward()
    ta = torch.tensor(a.data, requires_grad=True)
    tb = torch.tensor(b.data, requires_grad=True)
    tz = ta * tb
    ga, gb = torch.autograd.grad((tz + tz * tz - tz.tanh()).sum(), (ta, tb))
    np.testing.assert_allclose(a.grad, ga.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad, gb.numpy(), rtol=1e-12)


def test_leaf_used_twice():
    x = ll.tensor(np.array([3.0]), requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_array_equal(x.grad, [7.0])


def test_grad_accumulates_until_set_to_none():
    x = ll.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 3.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_scalar_tensor_grad_accumulates_as_ndarray():
    x = ll.tensor(np.array(2.0), requires_grad=True)
    y = x * x  # NumPy returns a np.float64 scalar here; .data and .grad stay ndarrays
    assert isinstance(y.data, np.ndarray) and y.shape == ()
    y.backward()
    y = x * x
    y.backward()
    assert isinstance(x.grad, np.ndarray) and x.grad.shape == () and x.grad == 8.0
    s = ll.tensor([1.0, 2.0], requires_grad=True).sum()
    assert isinstance(s.data, np.ndarray) and s.dtype == F32


def test_backward_twice_on_freed_graph_raises():
    x = ll.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x.exp() * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"already freed.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = ll.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x.exp() * 2.0).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 4.0 * np.exp([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="freed"):
        y.backward()


def test_non_scalar_backward_needs_grad():
    x = ll.tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2.0
    with pytest.raises(ValueError, match=r"not a scalar.*\(2, 3\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\), expected.*\(2, 3\)"):
        y.backward(np.ones(3))


def test_backward_with_explicit_grad():
    x = ll.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    y = x * x
    g = np.array([[1.0, 0.0], [0.5, -1.0]])
    y.backward(g)
    np.testing.assert_array_equal(x.grad, 2.0 * x.data * g)
    z = ll.tensor(np.ones(2), requires_grad=True)
    (z * 3.0).backward(ll.tensor(np.array([1.0, 2.0])))  # a Tensor as grad
    np.testing.assert_array_equal(z.grad, [3.0, 6.0])


def test_backward_on_tensor_without_graph_raises():
    with pytest.raises(RuntimeError, match=r"shape \(2,\) does not require grad"):
        ll.tensor([1.0, 2.0]).backward(np.ones(2))


def test_backward_on_a_leaf():
    x = ll.tensor(np.array(3.0), requires_grad=True)
    x.backward()
    assert x.grad == 1.0


def test_inputs_not_requiring_grad_get_no_grad():
    a = ll.tensor(np.ones(2), requires_grad=True)
    b = ll.tensor(np.ones(2))
    (a * b).sum().backward()
    assert b.grad is None and a.grad is not None


# -- no_grad and detach ----------------------------------------------------------------------------

def test_no_grad_records_nothing():
    x = ll.tensor(np.ones(3), requires_grad=True)
    with ll.no_grad():
        assert not ll.is_grad_enabled()
        y = (x * 2.0).exp().sum()
        with ll.enable_grad():
            z = x * 2.0
    assert ll.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    assert z.requires_grad and z.grad_fn == "mul"
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with ll.no_grad():
            1 / 0
    assert ll.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = ll.tensor(np.array([2.0, 3.0]), requires_grad=True)
    c = x.detach()
    assert not c.requires_grad and c.is_leaf and np.shares_memory(c.data, x.data)
    (c * x).sum().backward()  # d/dx (c·x) with c constant = c, not 2x
    np.testing.assert_array_equal(x.grad, [2.0, 3.0])


# -- leaf gradients are never aliased ----------------------------------------------------------------

def _no_sharing(*arrays):
    for i, a in enumerate(arrays):
        assert a.flags.writeable and a.flags.owndata, f"grad {i} is a view or read-only"
        for b in arrays[i + 1:]:
            assert not np.shares_memory(a, b)


ALIAS_CASES = [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("add_bcast", lambda a, b: a + b.sum()),
    ("where", lambda a, b: ll.where(np.array([[True, False, True]]), a, b)),
    ("concat", lambda a, b: ll.concatenate([a, b])),
    ("stack", lambda a, b: ll.stack([a, b])),
    ("reshape_T", lambda a, b: a.reshape(3, 2).T + b),
    ("expand", lambda a, b: a[0:1].expand(2, 3) + b),
    ("pad", lambda a, b: ll.pad(a, 1)[1:-1, 1:-1] + b),
    ("sum_mean", lambda a, b: a.sum(axis=0, keepdims=True) + b.mean()),
    ("custom_same_array", lambda a, b: make_node(a.data + b.data, (a, b), lambda g: (g + 0.0,) * 2, "twin")),
]


@pytest.mark.parametrize("name,fn", ALIAS_CASES, ids=[c[0] for c in ALIAS_CASES])
def test_leaf_grads_are_never_aliased(name, fn):
    a = ll.tensor(_rand(2, 3), requires_grad=True)
    b = ll.tensor(_rand(2, 3, seed=1), requires_grad=True)
    y = fn(a, b)
    g = np.ones(y.shape)
    y.backward(g)
    _no_sharing(a.grad, b.grad, g)
    before = b.grad.copy()
    a.grad += 100.0  # an in-place change (what an optimiser does) must not reach b.grad or g
    np.testing.assert_array_equal(b.grad, before)
    np.testing.assert_array_equal(g, 1.0)


def test_leaf_grad_does_not_alias_the_given_grad_or_data():
    x = ll.tensor(np.ones(3), requires_grad=True)
    g = np.array([1.0, 2.0, 3.0])
    x.backward(g)  # the root is the leaf itself
    g[:] = 0.0
    np.testing.assert_array_equal(x.grad, [1.0, 2.0, 3.0])
    y = ll.tensor(np.ones(3), requires_grad=True)
    (y + 0.0).backward(g)
    assert not np.shares_memory(y.grad, g)


def test_accumulating_into_a_leaf_does_not_touch_another():
    a = ll.tensor(np.ones(2), requires_grad=True)
    b = ll.tensor(np.ones(2), requires_grad=True)
    (a + b).sum().backward()
    (a + b).sum().backward()
    a.grad *= 10.0
    np.testing.assert_array_equal(b.grad, [2.0, 2.0])


# -- deep graphs ----------------------------------------------------------------------------------

def test_ten_thousand_op_chain_backpropagates():
    x = ll.tensor(np.array([0.5]), requires_grad=True)
    y = x
    for i in range(10_000):
        y = y * 1.0001 if i % 2 else y + 0.001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001 ** 5000], rtol=1e-10)


def test_ten_thousand_deep_reshape_add_chain():
    x = ll.tensor(np.ones((2, 3)), requires_grad=True)
    y = x
    for i in range(10_000):
        y = y.reshape(3, 2) if i % 2 == 0 else y.reshape(2, 3) + x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 5001.0))


def test_deep_graph_is_freed_without_recursion_error():
    x = ll.tensor(np.ones(2), requires_grad=True)
    y = x + 1.0
    first = weakref.ref(y)
    for _ in range(20_000):
        y = y + 1.0
    del y  # dropping the last reference releases the whole chain (no cycles), without hitting the recursion limit
    assert first() is None


# -- in-place assignment --------------------------------------------------------------------------

def test_setitem_on_a_graph_tensor_raises():
    x = ll.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"in-place assignment.*\(3,\)"):
        x[0] = 5.0
    y = x * 2.0
    with pytest.raises(RuntimeError, match="in-place assignment"):
        y[1:] = ll.tensor([0.0, 0.0])


def test_setitem_on_a_plain_tensor_works():
    x = ll.tensor(np.zeros(3))
    x[1] = 2.0
    x[2:] = ll.tensor(np.array([4.0]))
    np.testing.assert_array_equal(x.data, [0.0, 2.0, 4.0])


# -- clear error messages -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "fn,exc,pattern",
    [
        (lambda: ll.tensor(np.ones((2, 3))) @ ll.tensor(np.ones((4, 5))), ValueError,
         r"matmul: shapes \(2, 3\) @ \(4, 5\) do not align.*\(3\).*\(4\)"),
        (lambda: ll.tensor(np.ones((2, 3))) @ ll.tensor(np.ones(2)), ValueError, r"matmul: shapes \(2, 3\) @ \(2,\)"),
        (lambda: ll.tensor(np.ones(3)) @ ll.tensor(np.array(2.0)), ValueError, r"matmul.*at least 1 dim.*\(3,\).*\(\)"),
        (lambda: ll.tensor(np.ones((2, 3, 4))) @ ll.tensor(np.ones((5, 4, 2))), ValueError,
         r"matmul: batch dimensions of \(2, 3, 4\) and \(5, 4, 2\)"),
        (lambda: ll.tensor(np.ones((2, 3))) + ll.tensor(np.ones(4)), ValueError,
         r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"),
        (lambda: ll.tensor(np.ones((2, 3))) * ll.tensor(np.ones((3, 2))), ValueError, r"mul: shapes \(2, 3\) and \(3, 2\)"),
        (lambda: ll.tensor(np.ones(3)) - ll.tensor(np.ones(2)), ValueError, r"sub: shapes \(3,\) and \(2,\)"),
        (lambda: ll.tensor(np.ones(3)) / ll.tensor(np.ones(2)), ValueError, r"div: shapes \(3,\) and \(2,\)"),
        (lambda: ll.maximum(ll.tensor(np.ones(3)), ll.tensor(np.ones(2))), ValueError, r"maximum: shapes \(3,\) and \(2,\)"),
        (lambda: ll.where(np.ones(4, bool), ll.tensor(np.ones(3)), 0.0), ValueError,
         r"where: condition \(4,\) and values \(3,\)"),
        (lambda: ll.tensor(np.ones((2, 3))).reshape(4, 2), ValueError,
         r"reshape: cannot reshape \(2, 3\) \(6 elements\) into \(4, 2\)"),
        (lambda: ll.tensor(np.ones((2, 3)))[5], IndexError, r"getitem: index 5 is invalid for shape \(2, 3\)"),
        (lambda: ll.tensor(np.ones((2, 3)))[0, 0, 0], IndexError, r"getitem: .*shape \(2, 3\)"),
        (lambda: ll.tensor(np.ones((2, 3)))[np.array([0, 3])], IndexError, r"getitem: .*shape \(2, 3\)"),
        (lambda: ll.tensor(np.ones((2, 3))).permute(0, 0), ValueError, r"permute: \(0, 0\) is not a permutation.*\(2, 3\)"),
        (lambda: ll.tensor(np.ones((2, 3))).permute(0, 5), ValueError, r"permute: \(0, 5\) is not a permutation"),
        (lambda: ll.tensor(np.array(1.0)).permute(0), ValueError, r"permute: \(0,\) is not a permutation.*\(\)"),
        (lambda: ll.tensor(np.ones((2, 3))).expand(4, 3), ValueError, r"broadcast_to: shape \(2, 3\) cannot.*\(4, 3\)"),
        (lambda: ll.concatenate([ll.tensor(np.ones((2, 3))), ll.tensor(np.ones((2, 4)))]), ValueError,
         r"concatenate: shapes \[\(2, 3\), \(2, 4\)\]"),
        (lambda: ll.stack([ll.tensor(np.ones(2)), ll.tensor(np.ones(3))]), ValueError, r"stack:.*\[\(2,\), \(3,\)\]"),
        (lambda: ll.concatenate([]), ValueError, "concatenate: needs at least one"),
        (lambda: ll.tensor(np.ones((0, 3))).max(), ValueError, r"max: cannot reduce an empty tensor of shape \(0, 3\)"),
    ],
    ids=["mm", "mm_vec", "mm_0d", "mm_batch", "add", "mul", "sub", "div", "maximum", "where", "reshape",
         "getitem", "getitem_ndim", "getitem_array", "permute", "permute_range", "permute_0d", "expand", "concat", "stack", "concat_empty", "max_empty"],
)
def test_error_messages_name_op_and_shapes(fn, exc, pattern):
    with pytest.raises(exc, match=pattern):
        fn()


# -- sum_to and make_node contract -----------------------------------------------------------------

@pytest.mark.parametrize(
    "gshape,shape", [((2, 3), (3,)), ((2, 3), (1, 3)), ((4, 2, 3), (2, 1)), ((2, 3), ()), ((), (3,)), ((3,), (2, 3))]
)
def test_sum_to(gshape, shape):
    g = _rand(*gshape)
    full = np.broadcast_shapes(gshape, shape)
    expected = torch.from_numpy(np.array(np.broadcast_to(g, full))).sum_to_size(shape).numpy()
    out = sum_to(g, shape)
    assert out.shape == shape
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_make_node_backward_may_return_a_broadcastable_gradient():
    # the contract of make_node: a gradient may have any shape that broadcasts to its input's
    x = ll.tensor(np.ones((2, 3)), requires_grad=True)
    y = make_node(x.data.copy(), (x,), lambda g: (np.float64(g.sum()),), "total")
    y.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 6.0))


def test_make_node_under_no_grad_or_without_grad_inputs():
    x = ll.tensor(np.ones(2), requires_grad=True)
    with ll.no_grad():
        assert not make_node(x.data * 2, (x,), lambda g: (g,), "f").requires_grad
    assert not make_node(np.ones(2), (ll.tensor(np.ones(2)),), lambda g: (g,), "f").requires_grad
    assert make_node(np.ones(2), (x,), lambda g: (g,), "f").grad_fn == "f"


# -- operators and methods are defined on the class ------------------------------------------------

OPERATORS = [
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
    "__neg__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__getitem__", "__abs__",
    "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__",
    "add", "matmul", "pow", "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "clip", "maximum", "minimum",
    "sum", "mean", "max", "min", "var", "logsumexp", "argmax", "argmin",
    "reshape", "permute", "transpose", "T", "broadcast_to", "expand", "pad",
]


def test_operators_are_defined_in_the_class_body():
    """help(Tensor) and type checkers see the operators: they are Tensor's own attributes, written in
    tensor.py's class body (thin methods over ops), not functions of ops patched on at import."""
    import inspect
    import pathlib
    import sys

    from layerlab import ops

    tensor_module = sys.modules["layerlab.tensor"]  # ``layerlab.tensor`` the attribute is the function
    members = dict(inspect.getmembers(ll.Tensor))
    for name in OPERATORS:
        assert name in ll.Tensor.__dict__, f"Tensor.{name} is not defined in the class"
        attr = ll.Tensor.__dict__[name]
        fn = attr.fget if isinstance(attr, property) else attr
        assert fn.__module__ == "layerlab.tensor" and fn.__qualname__.startswith("Tensor."), name
        assert members[name] is getattr(ll.Tensor, name)
    assert ll.Tensor.__add__ is not ops.add and ll.Tensor.sum is not ops.sum
    assert "__add__" in pydoc_text(ll.Tensor) and "logsumexp(self" in pydoc_text(ll.Tensor)
    ops_src = pathlib.Path(ops.__file__).read_text()
    assert "setattr(" not in ops_src and not re.search(r"^\s*Tensor\.\w+\s*=", ops_src, flags=re.M)
    tensor_src = pathlib.Path(tensor_module.__file__).read_text()
    assert "setattr(Tensor" not in tensor_src and not re.search(r"^Tensor\.\w+\s*=", tensor_src, flags=re.M)


def pydoc_text(obj) -> str:
    import pydoc
    return pydoc.render_doc(obj, renderer=pydoc.plaintext)


@pytest.mark.parametrize("first", ["tensor", "ops"])
def test_operators_work_whichever_module_is_imported_first(first):
    """tensor.py binds ops at its bottom; either import order works without the package __init__
    (so ``from . import ops`` in layerlab/__init__.py is not needed to attach anything)."""
    import pathlib
    import subprocess
    import sys

    pkg = pathlib.Path(ll.__file__).parent
    code = (
        "import sys, types, importlib, numpy as np\n"
        f"pkg = types.ModuleType('layerlab'); pkg.__path__ = [{str(pkg)!r}]; sys.modules['layerlab'] = pkg\n"
        f"importlib.import_module('layerlab.{first}')\n"
        "T = sys.modules['layerlab.tensor'].Tensor\n"
        "x = T(np.arange(3.0), requires_grad=True); y = ((x * 2 + 1) @ x).sum(); y.backward()\n"
        "print(x.grad.tolist(), (2 - x).data.tolist(), bool((x.T == x).data.all()), x.sigmoid().grad_fn)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[1.0,", "5.0,", "9.0]", "[2.0,", "1.0,", "0.0]", "True", "sigmoid"]
