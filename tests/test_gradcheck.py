"""gradcheck itself: it passes correct ops, names the worst entry of a wrong one, and leaves its inputs alone."""

from __future__ import annotations

import re

import numpy as np
import pytest

import layerlab as ll
from layerlab import nn
from layerlab.tensor import make_node


def _x(shape=(2, 3), seed=0, dtype=np.float64, requires_grad=True):
    return ll.tensor(np.random.default_rng(seed).uniform(0.5, 2.0, size=shape).astype(dtype), requires_grad=requires_grad)


def square_wrong_at(index):
    """x² whose backward is 3× too large at one entry."""
    def fn(x):
        xd = x.data

        def backward(g):
            d = 2.0 * xd * g
            d[index] *= 3.0
            return (d,)

        return make_node(xd * xd, (x,), backward, "bad_square")
    return fn


def _numbers(msg):
    m = re.search(r"analytic (\S+) vs numeric (\S+)", msg)
    return float(m.group(1)), float(m.group(2))


def test_passes_a_correct_composite():
    w = _x((3, 2), seed=1)
    b = _x((2,), seed=2)
    assert ll.gradcheck(lambda x, w, b: (x @ w + b).tanh().sum(axis=0), _x(), w, b) is True


def test_passes_float32_inputs_by_checking_in_float64():
    assert ll.gradcheck(lambda x: x.sigmoid() * x, _x(dtype=np.float32)) is True


def test_names_input_index_analytic_and_numeric_of_a_wrong_op():
    with pytest.raises(ll.GradcheckError, match=r"input 0 \(shape \(2, 3\)\) at index \(1, 2\)") as info:
        ll.gradcheck(square_wrong_at((1, 2)), _x())
    analytic, numeric = _numbers(str(info.value))
    assert analytic == pytest.approx(3.0 * numeric, rel=1e-6)
    assert isinstance(info.value, AssertionError)  # GradcheckError is an AssertionError


def test_names_the_second_input_when_only_it_is_wrong():
    bad = square_wrong_at((0,))
    with pytest.raises(ll.GradcheckError, match=r"input 1 \(shape \(4,\)\) at index \(0,\)"):
        ll.gradcheck(lambda a, b: a * 2.0 + bad(b), _x((4,)), _x((4,), seed=3))


def test_catches_a_backward_that_ignores_the_upstream_gradient():
    # L = Σ r ⊙ f with random r: a backward returning f'(x) instead of g·f'(x) must fail
    def fn(x):
        return make_node(x.data * 2.0, (x,), lambda g: (np.full(g.shape, 2.0),), "ignores_g")
    with pytest.raises(ll.GradcheckError):
        ll.gradcheck(fn, _x())


def test_catches_a_wrong_broadcast_gradient():
    # a backward that forgets to scale: d(a·b)/db returned as g (not g·a), b broadcast along rows
    def fn(a, b):
        return make_node(a.data * b.data, (a, b), lambda g: (g * b.data, g), "bad_mul")
    with pytest.raises(ll.GradcheckError, match=r"input 1 \(shape \(3,\)\)"):
        ll.gradcheck(fn, _x((2, 3)), _x((3,), seed=4))


def test_does_not_modify_the_callers_inputs():
    x = _x(dtype=np.float32)
    y = _x(seed=5)
    x_before, y_before = x.data.copy(), y.data.copy()
    with pytest.raises(ll.GradcheckError):
        ll.gradcheck(lambda a, b: square_wrong_at((0, 0))(a) * b, x, y)
    assert ll.gradcheck(lambda a, b: a * b, x, y)
    np.testing.assert_array_equal(x.data, x_before)
    np.testing.assert_array_equal(y.data, y_before)
    assert x.dtype == np.float32 and x.grad is None and y.grad is None
    assert x.requires_grad and y.requires_grad


def test_rejects_when_no_input_requires_grad():
    with pytest.raises(ValueError, match="no input requires grad"):
        ll.gradcheck(lambda a: a * 2.0, _x(requires_grad=False))


def test_inputs_without_grad_are_held_constant_and_non_tensors_pass_through():
    c = _x(requires_grad=False)
    assert ll.gradcheck(lambda a, c, axis: (a * c).sum(axis=axis), _x(seed=6), c, 1)


def test_an_unused_input_has_zero_gradient():
    assert ll.gradcheck(lambda a, b: a * 2.0, _x(), _x(seed=7))


def test_non_contiguous_input():
    # the perturbation must reach the array fn sees, also for a transposed (Fortran-ordered) input
    a = np.random.default_rng(0).standard_normal((3, 4)).T
    assert not a.flags.c_contiguous
    assert ll.gradcheck(lambda t: t * t, ll.tensor(a, requires_grad=True))


def test_scalar_input_and_output():
    assert ll.gradcheck(lambda t: (t * t).exp(), _x(()))


def test_rejects_non_tensor_output_and_silent_downcast():
    with pytest.raises(TypeError, match="must return a Tensor"):
        ll.gradcheck(lambda a: a.data, _x())
    with pytest.raises(TypeError, match="float32 for float64 inputs"):
        ll.gradcheck(lambda a: a.astype(np.float32), _x())


# -- gradcheck_module: the inputs and every parameter of a module ----------------------------------

class _Scale(nn.Module):
    """y = a ⊙ x, with a backward for ``a`` that is wrong by a factor when ``wrong`` is set."""

    def __init__(self, n, wrong=1.0):
        super().__init__()
        self.a = nn.Parameter(np.linspace(0.5, 1.5, n))
        self.wrong = wrong

    def forward(self, x):
        a = self._parameters["a"]
        wrong = self.wrong

        def backward(g):
            return g * a.data, wrong * (g * x.data).sum(axis=0)

        return make_node(x.data * a.data, (x, a), backward, "scale")


def test_gradcheck_module_checks_parameters_and_restores_them():
    good = nn.Sequential(_Scale(3), nn.Tanh())
    before = good[0].a
    assert ll.gradcheck_module(good, _x((4, 3)))
    assert good[0].a is before and good[0].a.dtype == np.float64 and good[0].a.grad is None

    bad = nn.Sequential(nn.Tanh(), _Scale(3, wrong=2.0))
    with pytest.raises(ll.GradcheckError, match=r"parameter '1\.a' \(shape \(3,\)\)"):
        ll.gradcheck_module(bad, _x((4, 3)))
    assert bad[1].a is not None and isinstance(bad[1].a, nn.Parameter)


def test_gradcheck_names_must_match_the_inputs():
    with pytest.raises(ValueError, match="2 names for 1 inputs"):
        ll.gradcheck(lambda x: x * x, _x(), names=["a", "b"])
