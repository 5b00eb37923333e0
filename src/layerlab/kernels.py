"""Elementwise kernels: plain NumPy, no graph, no Tensor — the one home of the formulas
that ``ops.py`` (the primitives), ``nn/activations.py`` (the fused activations) and
``nn/losses.py`` (the fused losses) share.

Each function takes an ``np.ndarray`` of any shape and returns a *new* array of the same
shape and dtype: float32 stays float32 (nothing is promoted to float64), so a caller
may write into the result (``d *= g``). A 0-d input is accepted everywhere; the kernels
that are a single ufunc (``tanh``, ``relu``, ``relu_grad``) then return a NumPy scalar,
as NumPy does. The ``*_grad`` kernels give the derivative from the saved *output* y,
where that is cheaper than from x.

Speed: the kernels avoid ``np.where`` (slow on random masks) and scipy's
``expit``/``logaddexp`` (several times slower than the NumPy expressions here), and
work in place on their own first temporary, so σ(x) costs one allocation and four
passes. Stability: σ never gives NaN (it is exactly 0 for x ≲ −88 in float32, as in
PyTorch), softplus never overflows, the softmaxes subtract the row maximum first.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu", "relu_grad", "softplus",
    "softmax", "log_softmax", "mul_into",
]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1/(1 + e^−x);  σ'(x) = σ(x)(1 − σ(x)) (see :func:`sigmoid_grad`).

    Computed as 1/(1 + e^−x) on one temporary: for x ≲ −88 (float32) e^−x overflows to
    inf and σ is exactly 0, as in PyTorch; there is no cancellation (unlike ½ + ½tanh(x/2)).
    """
    if x.ndim == 0:  # ufuncs turn 0-d arrays into scalars, which cannot be written into
        return sigmoid(x.reshape(1)).reshape(())
    with np.errstate(over="ignore"):
        y = np.negative(x)
        np.exp(y, out=y)
    y += 1.0
    np.reciprocal(y, out=y)
    return y


def sigmoid_grad(y: np.ndarray) -> np.ndarray:
    """σ'(x) = y(1 − y) from the output y = σ(x), on one temporary."""
    if y.ndim == 0:
        return sigmoid_grad(y.reshape(1)).reshape(())
    d = 1.0 - y
    d *= y
    return d


def tanh(x: np.ndarray) -> np.ndarray:
    """tanh(x) = (e^x − e^−x)/(e^x + e^−x) = 2σ(2x) − 1;  tanh'(x) = 1 − tanh²(x) (see :func:`tanh_grad`)."""
    return np.tanh(x)


def tanh_grad(y: np.ndarray) -> np.ndarray:
    """tanh'(x) = 1 − y² from the output y = tanh(x), on one temporary."""
    if y.ndim == 0:
        return tanh_grad(y.reshape(1)).reshape(())
    d = y * y
    np.subtract(1.0, d, out=d)
    return d


def relu(x: np.ndarray) -> np.ndarray:
    """max(0, x);  relu'(x) = [x > 0] (see :func:`relu_grad`)."""
    return np.maximum(x, 0)


def relu_grad(y: np.ndarray) -> np.ndarray:
    """relu'(x) = [x > 0] = [y > 0] from the output y = max(0, x), as a bool mask: relu'(0) = 0
    (the notes' and PyTorch's convention). Multiplying a float gradient by it keeps the float's dtype."""
    return y > 0


def softplus(x: np.ndarray) -> np.ndarray:
    """softplus(x) = ln(1 + e^x) = max(x, 0) + ln(1 + e^−|x|);  softplus'(x) = σ(x).

    The second form never overflows and is accurate for x ≪ 0 (where ln(1 + e^x) ≈ e^x).
    """
    if x.ndim == 0:
        return softplus(x.reshape(1)).reshape(())
    y = np.abs(x)
    np.negative(y, out=y)
    np.exp(y, out=y)
    np.log1p(y, out=y)
    y += np.maximum(x, 0)
    return y


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax(x)_i = e^(x_i − μ) / Σ_j e^(x_j − μ) along ``axis``, μ = max_j x_j (no overflow);
    ∂s_i/∂x_j = s_i(δ_ij − s_j). A slice that is all −inf gives NaN, as in PyTorch."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax(x)_i = x_i − μ − ln Σ_j e^(x_j − μ) along ``axis``, μ = max_j x_j;
    ∂ℓ_i/∂x_j = δ_ij − softmax(x)_j. Finite at logits ±1000."""
    z = x - x.max(axis=axis, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=axis, keepdims=True))
    return z


def mul_into(g: np.ndarray, d: np.ndarray) -> np.ndarray:
    """g ⊙ d, written into ``d`` (a derivative kernel's fresh result) when the shapes and dtypes
    agree and ``d`` is writeable — the backward of a fused node then allocates nothing more."""
    if d.dtype == g.dtype and d.shape == g.shape and d.flags.writeable:
        d *= g
        return d
    return g * d
