"""Gradient clipping, in place, before the optimiser's step.

The notes (seed 002): when one component of the gradient is much larger than the
others, limit it at some maximum value (:func:`clip_grad_value`), or normalise the
whole vector with respect to a norm (:func:`clip_grad_norm`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..tensor import Tensor

__all__ = ["clip_grad_norm", "clip_grad_value", "clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters, fn: str) -> list:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    out = []
    for i, p in enumerate(parameters):
        if not isinstance(p, Tensor):
            raise TypeError(f"{fn}: expected Tensors, but parameters[{i}] is a {type(p).__name__}")
        if p.grad is not None:
            out.append((i, p))
    return out


def _norm(g: np.ndarray, p: float) -> float:
    """||g||_p as a Python float, computed in g's dtype (float32 stays float32)."""
    if g.size == 0:
        return 0.0
    if p == math.inf:
        return float(np.max(np.abs(g)))
    with np.errstate(over="ignore"):
        n = _raw_norm(g.reshape(-1), p)
    if math.isinf(n) and np.isfinite(g).all():  # the powers overflowed (float32 squares > 3.4e38): rescale
        scale = float(np.max(np.abs(g)))
        n = scale * _raw_norm(g.reshape(-1) / g.dtype.type(scale), p)
    return n


def _raw_norm(flat: np.ndarray, p: float) -> float:
    if p == 2.0:
        return math.sqrt(float(np.dot(flat, flat)))
    if p == 1.0:
        return float(np.sum(np.abs(flat)))
    return float(np.sum(np.abs(flat) ** p)) ** (1.0 / p)


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    r"""Rescale all gradients together so that their joint norm is at most ``max_norm``.

    ``N = ||(g₁, …, g_k)||_p`` over every parameter's gradient as one vector; if
    ``N > max_norm``: ``gᵢ ← gᵢ·max_norm/(N + 10⁻⁶)`` (torch's formula). The direction is kept.

    Args:
        parameters: a Tensor or an iterable of Tensors; those with ``.grad`` None are skipped.
        max_norm: the largest norm allowed.
        norm_type: p of the p-norm (> 0), or ``inf`` / ``"inf"`` for the max-norm. Default: 2.
        error_if_nonfinite: raise instead of warning when N is nan or inf. Default: False.

    Returns:
        N, the total norm *before* clipping, as a Python float.

    Note:
        torch multiplies the gradients even when N is nan or inf (making them all nan
        or zero). layerlab reports it — a ``RuntimeWarning``, or a ``RuntimeError`` with
        ``error_if_nonfinite`` — naming the first parameter whose gradient is not finite,
        and leaves the gradients unchanged, so the NaN guard of the training loop can see them.
    """
    fn = "clip_grad_norm"
    if isinstance(norm_type, str):
        if norm_type.lower() not in ("inf", "infinity"):
            raise ValueError(f"{fn}: norm_type must be a number > 0 or 'inf', got {norm_type!r}")
        norm_type = math.inf
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"{fn}: norm_type must be > 0 (or inf), got {norm_type}")
    max_norm = float(max_norm)
    if not max_norm >= 0:
        raise ValueError(f"{fn}: max_norm must be >= 0, got {max_norm}")
    items = _grads(parameters, fn)
    if not items:
        return 0.0
    norms = [_norm(p.grad, norm_type) for _, p in items]
    if norm_type == math.inf:
        total = max(norms)
    elif norm_type == 2.0:
        total = math.sqrt(math.fsum(n * n for n in norms)) if len(norms) > 1 else norms[0]
        if math.isinf(total) and all(math.isfinite(n) for n in norms):
            total = math.hypot(*norms)
    else:
        total = math.fsum(n ** norm_type for n in norms) ** (1.0 / norm_type)
    if not math.isfinite(total):
        bad = next(((i, p) for i, p in items if not np.isfinite(p.grad).all()), None)
        where = (f"; the first non-finite gradient is that of parameter {bad[0]} (shape {bad[1].shape})"
                 if bad is not None else "")
        msg = (f"{fn}: the total {norm_type}-norm of the gradients is {total}, not finite{where}. "
               "Gradients left unchanged.")
        if error_if_nonfinite:
            raise RuntimeError(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        return total
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for _, p in items:
            p.grad *= coef
    return total


def clip_grad_value(parameters, clip_value: float) -> None:
    """Clip every gradient entry to [−c, c] in place: ``g ← min(max(g, −c), c)``.

    Args:
        parameters: a Tensor or an iterable of Tensors; those with ``.grad`` None are skipped.
        clip_value: c ≥ 0.
    """
    c = float(clip_value)
    if not c >= 0:
        raise ValueError(f"clip_grad_value: clip_value must be >= 0, got {clip_value}")
    for _, p in _grads(parameters, "clip_grad_value"):
        np.clip(p.grad, -c, c, out=p.grad)


# torch's names (trailing underscore: in place)
clip_grad_norm_ = clip_grad_norm
clip_grad_value_ = clip_grad_value
