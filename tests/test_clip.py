"""Gradient clipping against torch.nn.utils, the non-finite case, dtypes and errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import layerlab as ll
from layerlab import optim

SHAPES = [(5, 8), (8,), (8, 3), (3,)]


def _pair(seed=0, scale=1.0, dtype=np.float64):
    """The same gradients on layerlab and torch parameters (the last one without a gradient)."""
    rng = np.random.default_rng(seed)
    grads = [(rng.normal(size=s) * scale).astype(dtype) for s in SHAPES]
    ps = [ll.tensor(np.zeros(s, dtype=dtype), requires_grad=True) for s in SHAPES] + [
        ll.tensor(np.zeros(2, dtype=dtype), requires_grad=True)]
    ts = [torch.zeros(s, dtype=torch.float64 if dtype == np.float64 else torch.float32, requires_grad=True)
          for s in SHAPES] + [torch.zeros(2, dtype=torch.float64, requires_grad=True)]
    for p, t, g in zip(ps, ts, grads):
        p.grad = g.copy()
        t.grad = torch.from_numpy(g.copy())
    return ps, ts


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])  # clipping, and a bound that is not reached
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ps, ts = _pair()
    total = optim.clip_grad_norm(ps, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(ts, max_norm, norm_type=norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(ttotal.item(), rel=1e-12)
    for p, t in zip(ps, ts):
        if t.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
    clipped = optim.clip_grad_norm(ps, max_norm, norm_type=norm_type)  # the norm after clipping
    assert clipped <= max_norm * (1 + 1e-9)


def test_clip_grad_norm_keeps_the_direction_and_the_dtype():
    ps, _ = _pair(1, dtype=np.float32)
    before = np.concatenate([p.grad.ravel() for p in ps if p.grad is not None])
    total = optim.clip_grad_norm(ps, 1.0)
    after = np.concatenate([p.grad.ravel() for p in ps if p.grad is not None])
    assert all(p.grad.dtype == np.float32 for p in ps if p.grad is not None)
    assert total == pytest.approx(float(np.linalg.norm(before.astype(np.float64))), rel=1e-6)
    np.testing.assert_allclose(after, before / (total + 1e-6), rtol=1e-6)
    assert float(np.linalg.norm(after)) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_in_place_and_single_tensor():
    p = ll.tensor(np.zeros(3), requires_grad=True)
    p.grad = np.array([3.0, 4.0, 0.0])
    g = p.grad
    assert optim.clip_grad_norm(p, 1.0) == 5.0
    assert p.grad is g
    np.testing.assert_allclose(g, [0.6, 0.8, 0.0], rtol=1e-6)


def test_clip_grad_norm_float32_squares_that_overflow():
    """Entries ~1e20 are finite in float32 but their squares are not: the norm must still be right."""
    p = ll.tensor(np.zeros(2, dtype=np.float32), requires_grad=True)
    p.grad = np.array([3e20, 4e20], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        total = optim.clip_grad_norm(p, 1.0)
    assert total == pytest.approx(5e20, rel=1e-6)
    np.testing.assert_allclose(p.grad, [0.6, 0.8], rtol=1e-5)


def test_no_gradients_gives_zero():
    p = ll.tensor(np.zeros(3), requires_grad=True)
    assert optim.clip_grad_norm([p], 1.0) == 0.0
    optim.clip_grad_value([p], 1.0)
    assert p.grad is None


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_norm_is_reported_and_not_applied(bad):
    ps, _ = _pair(2)
    ps[2].grad[1, 1] = bad
    before = [None if p.grad is None else p.grad.copy() for p in ps]
    with pytest.warns(RuntimeWarning, match=r"not finite.*parameter 2 \(shape \(8, 3\)\).*left unchanged"):
        total = optim.clip_grad_norm(ps, 0.1)
    assert not math.isfinite(total)
    for p, b in zip(ps, before):
        if b is not None:
            np.testing.assert_array_equal(p.grad, b)  # NaN == NaN here: untouched
    with pytest.raises(RuntimeError, match="not finite"):
        optim.clip_grad_norm(ps, 0.1, error_if_nonfinite=True)
    for p, b in zip(ps, before):
        if b is not None:
            np.testing.assert_array_equal(p.grad, b)


def test_torch_reports_the_same_nonfinite_case():
    """The reference: torch raises with error_if_nonfinite, and otherwise scales by nan (layerlab does not)."""
    _, ts = _pair(2)
    ts[2].grad[1, 1] = float("nan")
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(ts, 0.1, error_if_nonfinite=True)
    torch.nn.utils.clip_grad_norm_(ts, 0.1)
    assert torch.isnan(ts[0].grad).all()


@pytest.mark.parametrize("clip_value", [0.0, 0.3, 10.0])
def test_clip_grad_value_matches_torch(clip_value):
    ps, ts = _pair(3)
    assert optim.clip_grad_value(ps, clip_value) is None
    torch.nn.utils.clip_grad_value_(ts, clip_value)
    for p, t in zip(ps, ts):
        if t.grad is not None:
            np.testing.assert_array_equal(p.grad, t.grad.numpy())
            assert np.abs(p.grad).max() <= clip_value


def test_clip_grad_value_float32_in_place():
    p = ll.tensor(np.zeros(4, dtype=np.float32), requires_grad=True)
    p.grad = np.array([-2.0, -0.5, 0.5, 2.0], dtype=np.float32)
    g = p.grad
    optim.clip_grad_value([p], 1.0)
    assert p.grad is g and g.dtype == np.float32
    np.testing.assert_array_equal(g, [-1.0, -0.5, 0.5, 1.0])


@pytest.mark.parametrize("call,match", [
    (lambda ps: optim.clip_grad_norm(ps, -1.0), "max_norm must be >= 0"),
    (lambda ps: optim.clip_grad_norm(ps, 1.0, norm_type=0), "norm_type must be > 0"),
    (lambda ps: optim.clip_grad_norm(ps, 1.0, norm_type="fro"), "norm_type"),
    (lambda ps: optim.clip_grad_value(ps, -0.1), "clip_value must be >= 0"),
])
def test_bad_arguments_raise(call, match):
    ps, _ = _pair()
    with pytest.raises(ValueError, match=match):
        call(ps)
    with pytest.raises(TypeError, match="expected Tensors"):
        optim.clip_grad_norm([np.zeros(3)], 1.0)


def test_torch_style_aliases():
    assert optim.clip_grad_norm_ is optim.clip_grad_norm and optim.clip_grad_value_ is optim.clip_grad_value
