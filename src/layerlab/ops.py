"""Primitive differentiable ops: each forward, with its backward a few lines below.

Every op returns ``make_node(out, parents, backward, name)``; ``backward(g)``
maps dL/d(out) to one gradient per parent. Broadcast gradients are summed back to
each input's shape centrally in ``tensor.py``, never here. The elementwise
formulas shared with ``nn`` (σ, tanh, relu and their derivatives) live in
``kernels.py``. Tensor's operators and methods (``a + b``, ``a @ b``, ``a.tanh()``,
``a.sum()``) are thin methods of the class in ``tensor.py`` that call the functions here.

Dtypes: an op on two tensors of different float dtypes raises (no silent upcast);
Python scalars and raw arrays take the tensor's dtype; an integer or bool tensor
meeting a float tensor takes the float dtype (as torch).

Subgradient conventions: relu'(0) = 0; abs'(0) = 0; ``maximum``/``minimum`` send a
tie to the first argument; ``max``/``min`` reductions split the gradient evenly
between tied entries (as ``torch.amax``); ``clip`` passes the gradient where
lo <= x <= hi.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernels
from .backend import xp
from .tensor import Tensor, make_node

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "matmul",
    "exp", "log", "sqrt", "abs", "sin", "cos", "sinh", "erf", "tanh", "sigmoid", "relu",
    "maximum", "minimum", "where", "clip",
    "sum", "mean", "max", "min", "var", "logsumexp",
    "reshape", "transpose", "permute", "expand", "broadcast_to", "getitem",
    "concatenate", "stack", "pad",
]


# -- argument handling ----------------------------------------------------------

def _t(x, like: Tensor | None = None, op: str = "op") -> Tensor:
    """A Tensor for ``x``; scalars and arrays take ``like``'s dtype."""
    if isinstance(x, Tensor):
        return x
    if isinstance(like, Tensor) and like.data.dtype.kind == "f":
        return Tensor(xp.asarray(x, dtype=like.data.dtype))
    return Tensor(x)


def _binary(a, b, op: str) -> tuple[Tensor, Tensor]:
    if not isinstance(a, Tensor):
        a = _t(a, b, op)
    if not isinstance(b, Tensor):
        b = _t(b, a, op)
    da, db = a.data.dtype, b.data.dtype
    # An integer/bool tensor meets a float one: take the float dtype, as torch does
    # (NumPy would make int64 with float32 float64).
    if da.kind == "f" and db.kind in "biu":
        b, db = Tensor(b.data.astype(da)), da
    elif db.kind == "f" and da.kind in "biu":
        a, da = Tensor(a.data.astype(db)), db
    if da != db and da.kind == "f" and db.kind == "f":
        raise TypeError(
            f"{op}: dtypes differ ({da} with shape {a.shape} and {db} with shape {b.shape}); "
            "layerlab does not upcast silently — cast one with .astype()"
        )
    if a.data.shape != b.data.shape:
        try:
            np.broadcast_shapes(a.data.shape, b.data.shape)
        except ValueError:
            raise ValueError(
                f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together"
            ) from None
    return a, b


def _axes(axis, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(ax % ndim if ndim else ax for ax in axis)


def _unreduce(g: np.ndarray, shape: tuple, axis, keepdims: bool) -> np.ndarray:
    """Reshape a reduced gradient so that it broadcasts against the input's ``shape``."""
    if keepdims or not shape:
        return g
    axes = _axes(axis, len(shape))
    return xp.expand_dims(g, axes)


# -- arithmetic ----------------------------------------------------------------------

def add(a, b) -> Tensor:
    """a + b;  d/da = 1, d/db = 1."""
    a, b = _binary(a, b, "add")
    return make_node(a.data + b.data, (a, b), lambda g: (g, g), "add")


def sub(a, b) -> Tensor:
    """a − b;  d/da = 1, d/db = −1."""
    a, b = _binary(a, b, "sub")
    return make_node(a.data - b.data, (a, b), lambda g: (g, -g), "sub")


def mul(a, b) -> Tensor:
    """a·b;  d/da = b, d/db = a."""
    a, b = _binary(a, b, "mul")
    ad, bd = a.data, b.data

    def backward(g):
        return (g * bd if a.requires_grad else None, g * ad if b.requires_grad else None)

    return make_node(ad * bd, (a, b), backward, "mul")


def div(a, b) -> Tensor:
    """a / b;  d/da = 1/b, d/db = −a/b²."""
    a, b = _binary(a, b, "div")
    ad, bd = a.data, b.data
    out = ad / bd

    def backward(g):
        ga = g / bd if a.requires_grad else None
        gb = -g * out / bd if b.requires_grad else None
        return ga, gb

    return make_node(out, (a, b), backward, "div")


def neg(a) -> Tensor:
    """−a;  d/da = −1."""
    return make_node(-a.data, (a,), lambda g: (-g,), "neg")


def pow(a, b) -> Tensor:
    """a^b;  d/da = b·a^(b−1) (0 where b = 0), d/db = a^b·ln a (0 where a = 0 and b ≥ 0), as torch."""
    if not isinstance(b, Tensor) and np.ndim(b) == 0:
        a = _t(a)
        ad = a.data
        e = float(b)
        out = ad ** e
        if e == 2.0:
            return make_node(out, (a,), lambda g: (g * (2.0 * ad),), "pow")
        if e == 0.0:  # a^0 = 1 everywhere, so d/da = 0 (also at a = 0, as torch)
            return make_node(out, (a,), lambda g: (xp.zeros_like(g),), "pow")
        return make_node(out, (a,), lambda g: (g * (e * ad ** (e - 1.0)),), "pow")
    a, b = _binary(a, b, "pow")
    ad, bd = a.data, b.data
    out = ad ** bd

    def backward(g):
        ga = None
        if a.requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                ga = xp.where(bd == 0, 0, g * bd * ad ** (bd - 1))  # b = 0: d/da = 0, as torch
        gb = None
        if b.requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                logs = np.where((ad == 0) & (bd >= 0), 0, np.log(np.where(ad == 0, 1, ad)))
            gb = g * out * logs.astype(out.dtype, copy=False)
        return ga, gb

    return make_node(out, (a, b), backward, "pow")


def matmul(a, b) -> Tensor:
    """a @ b (2-D, batched with broadcast batch dims, or 1-D as in NumPy);
    d/da = g·bᵀ, d/db = aᵀ·g."""
    a, b = _binary_mm(a, b)
    ad, bd = a.data, b.data
    a2 = ad[None, :] if ad.ndim == 1 else ad
    b2 = bd[:, None] if bd.ndim == 1 else bd
    out = a2 @ b2
    if bd.ndim == 1:
        out = out[..., 0]
    if ad.ndim == 1:
        out = out[..., 0, :] if bd.ndim != 1 else out[..., 0]

    def backward(g):
        g2 = g
        if bd.ndim == 1:
            g2 = g2[..., None]
        if ad.ndim == 1:
            g2 = g2[..., None, :]
        ga = gb = None
        if a.requires_grad:
            ga = g2 @ xp.swapaxes(b2, -1, -2)
            if ad.ndim == 1:
                ga = ga.reshape(-1, ad.shape[0]).sum(0) if ga.ndim > 2 else ga[0]
        if b.requires_grad:
            gb = xp.swapaxes(a2, -1, -2) @ g2
            if bd.ndim == 1:
                gb = gb.reshape(-1, bd.shape[0]).sum(0) if gb.ndim > 2 else gb[:, 0]
        return ga, gb

    return make_node(out, (a, b), backward, "matmul")


def _binary_mm(a, b):
    if not isinstance(a, Tensor):
        a = _t(a, b)
    if not isinstance(b, Tensor):
        b = _t(b, a)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes {a.shape} and {b.shape}")
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise ValueError(
            f"matmul: shapes {a.shape} @ {b.shape} do not align: the last dimension of the left ({ka}) "
            f"must equal the {'only' if b.ndim == 1 else 'second-to-last'} dimension of the right ({kb})"
        )
    if a.ndim > 2 and b.ndim > 2:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch dimensions of {a.shape} and {b.shape} cannot be broadcast") from None
    if a.dtype != b.dtype and a.dtype.kind == "f" and b.dtype.kind == "f":
        raise TypeError(f"matmul: dtypes differ ({a.dtype} {a.shape} and {b.dtype} {b.shape}); cast one with .astype()")
    return a, b


# -- elementwise functions ---------------------------------------------------------------

def exp(a) -> Tensor:
    """e^a;  d/da = e^a (the saved output)."""
    out = xp.exp(a.data)
    return make_node(out, (a,), lambda g: (g * out,), "exp")


def sin(a) -> Tensor:
    """sin a;  d/da = cos a."""
    ad = a.data
    return make_node(xp.sin(ad), (a,), lambda g: (g * xp.cos(ad),), "sin")


def cos(a) -> Tensor:
    """cos a;  d/da = −sin a."""
    ad = a.data
    return make_node(xp.cos(ad), (a,), lambda g: (-(g * xp.sin(ad)),), "cos")


def sinh(a) -> Tensor:
    """sinh a;  d/da = cosh a."""
    ad = a.data
    return make_node(xp.sinh(ad), (a,), lambda g: (g * xp.cosh(ad),), "sinh")


def erf(a) -> Tensor:
    """erf a = (2/√π)∫₀ᵃ e^(−t²) dt;  d/da = (2/√π)·e^(−a²). (scipy.special.erf, imported on first use.)"""
    from scipy.special import erf as _erf

    ad = a.data
    out = _erf(ad).astype(ad.dtype, copy=False)
    two_over_root_pi = ad.dtype.type(2.0 / math.sqrt(math.pi))
    return make_node(out, (a,), lambda g: (g * (two_over_root_pi * xp.exp(-(ad * ad))),), "erf")


def log(a) -> Tensor:
    """ln a;  d/da = 1/a."""
    ad = a.data
    return make_node(xp.log(ad), (a,), lambda g: (g / ad,), "log")


def sqrt(a) -> Tensor:
    """√a;  d/da = 1/(2√a)."""
    out = xp.sqrt(a.data)
    return make_node(out, (a,), lambda g: (g / (2.0 * out),), "sqrt")


def abs(a) -> Tensor:
    """|a|;  d/da = sign(a) (0 at 0)."""
    ad = a.data
    return make_node(xp.abs(ad), (a,), lambda g: (g * xp.sign(ad),), "abs")


def tanh(a) -> Tensor:
    """tanh a;  d/da = 1 − tanh²a (from the saved output)."""
    out = kernels.tanh(a.data)
    return make_node(out, (a,), lambda g: (kernels.tanh_vjp(g, out),), "tanh")


def sigmoid(a) -> Tensor:
    """σ(a) = 1/(1+e^−a) (stable: exactly 0 below about −88 in float32, never NaN);
    d/da = σ(1−σ) (from the saved output)."""
    out = kernels.sigmoid(a.data)
    return make_node(out, (a,), lambda g: (kernels.mul_into(g, kernels.sigmoid_grad(out)),), "sigmoid")


def relu(a) -> Tensor:
    """max(0, a);  d/da = 1 if a > 0 else 0 (0 at the kink)."""
    out = kernels.relu(a.data)
    return make_node(out, (a,), lambda g: (g * kernels.relu_grad(out),), "relu")


def maximum(a, b) -> Tensor:
    """Elementwise max; the gradient goes to a where a ≥ b (ties to the first argument)."""
    a, b = _binary(a, b, "maximum")
    ad, bd = a.data, b.data
    mask = ad >= bd

    def backward(g):
        return g * mask, g * ~mask

    return make_node(xp.maximum(ad, bd), (a, b), backward, "maximum")


def minimum(a, b) -> Tensor:
    """Elementwise min; the gradient goes to a where a ≤ b (ties to the first argument)."""
    a, b = _binary(a, b, "minimum")
    ad, bd = a.data, b.data
    mask = ad <= bd

    def backward(g):
        return g * mask, g * ~mask

    return make_node(xp.minimum(ad, bd), (a, b), backward, "minimum")


def where(cond, a, b) -> Tensor:
    """cond ? a : b;  the gradient goes to a where cond holds, to b elsewhere."""
    c = cond.data if isinstance(cond, Tensor) else xp.asarray(cond)
    c = c.astype(bool, copy=False)
    a, b = _binary(a, b, "where")
    try:
        np.broadcast_shapes(c.shape, a.shape, b.shape)
    except ValueError:
        raise ValueError(f"where: condition {c.shape} and values {a.shape}, {b.shape} cannot be broadcast") from None

    def backward(g):
        return g * c, g * ~c

    return make_node(xp.where(c, a.data, b.data), (a, b), backward, "where")


def clip(a, lo=None, hi=None) -> Tensor:
    """Clip a to [lo, hi];  d/da = 1 where lo ≤ a ≤ hi, else 0."""
    ad = a.data
    dt = ad.dtype.type
    out = xp.clip(ad, None if lo is None else dt(lo), None if hi is None else dt(hi))
    mask = np.ones(ad.shape, dtype=bool)
    if lo is not None:
        mask &= ad >= lo
    if hi is not None:
        mask &= ad <= hi
    return make_node(out, (a,), lambda g: (g * mask,), "clip")


# -- reductions -----------------------------------------------------------------------

def sum(a, axis=None, keepdims: bool = False) -> Tensor:
    """Σ a over ``axis``;  d/da = 1 (the gradient is broadcast back)."""
    shape = a.shape

    def backward(g):
        return (xp.broadcast_to(_unreduce(g, shape, axis, keepdims), shape),)

    return make_node(xp.sum(a.data, axis=axis, keepdims=keepdims), (a,), backward, "sum")


def mean(a, axis=None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``;  d/da = 1/n."""
    shape = a.shape
    n = 1
    for ax in _axes(axis, a.ndim):
        n *= shape[ax]

    def backward(g):
        return (xp.broadcast_to(_unreduce(g, shape, axis, keepdims) / n, shape),)

    return make_node(xp.mean(a.data, axis=axis, keepdims=keepdims), (a,), backward, "mean")


def _extreme(a, axis, keepdims, fn, name):
    ad = a.data
    if ad.size == 0:
        raise ValueError(f"{name}: cannot reduce an empty tensor of shape {ad.shape}")
    out = fn(ad, axis=axis, keepdims=keepdims)

    def backward(g):
        o = _unreduce(out, ad.shape, axis, keepdims)
        mask = ad == o
        count = mask.sum(axis=axis, keepdims=True)
        return (_unreduce(g, ad.shape, axis, keepdims) * mask / count.astype(ad.dtype),)

    return make_node(out, (a,), backward, name)


def max(a, axis=None, keepdims: bool = False) -> Tensor:
    """Max over ``axis``;  the gradient is split evenly between tied maxima."""
    return _extreme(a, axis, keepdims, xp.max, "max")


def min(a, axis=None, keepdims: bool = False) -> Tensor:
    """Min over ``axis``;  the gradient is split evenly between tied minima."""
    return _extreme(a, axis, keepdims, xp.min, "min")


def var(a, axis=None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance (1/(n−ddof))·Σ(a−ā)²;  d/da = 2(a−ā)/(n−ddof). ``ddof=0`` (biased) by default, as NumPy."""
    ad = a.data
    n = 1
    for ax in _axes(axis, ad.ndim):
        n *= ad.shape[ax]
    if n - ddof <= 0:
        raise ValueError(f"var: {n} element(s) along axis {axis} of shape {ad.shape} with ddof={ddof}")
    centred = ad - ad.mean(axis=axis, keepdims=True)
    out = (centred * centred).sum(axis=axis, keepdims=keepdims) / (n - ddof)

    def backward(g):
        return (_unreduce(g, ad.shape, axis, keepdims) * centred * (2.0 / (n - ddof)),)

    return make_node(out, (a,), backward, "var")


def logsumexp(a, axis=None, keepdims: bool = False) -> Tensor:
    """log Σ e^a, computed as m + log Σ e^(a−m) with m = max a;  d/da = softmax(a).

    A slice that is all −inf gives −inf and a zero gradient (not NaN).
    """
    ad = a.data
    m = xp.max(ad, axis=axis, keepdims=True)
    m = xp.where(np.isfinite(m), m, 0)
    e = xp.exp(ad - m)
    s = xp.sum(e, axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):
        lse_k = xp.log(s) + m
    out = lse_k if keepdims else xp.squeeze(lse_k, axis=_axes(axis, ad.ndim))

    def backward(g):
        # softmax as e/s, not exp(a − lse): in float32 lse ≈ 1000 carries an error of ~6e-5
        with np.errstate(invalid="ignore", divide="ignore"):
            p = e / s
        p = xp.where(np.isnan(p), 0, p)
        return (_unreduce(g, ad.shape, axis, keepdims) * p,)

    return make_node(out, (a,), backward, "logsumexp")


# -- shape ops ---------------------------------------------------------------------------

def reshape(a, *shape) -> Tensor:
    """The same entries in another shape;  the gradient is reshaped back."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    src = a.shape
    try:
        out = a.data.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape {src} ({a.data.size} elements) into {shape}") from None
    return make_node(out, (a,), lambda g: (g.reshape(src),), "reshape")


def permute(a, *axes) -> Tensor:
    """Reorder the axes;  the gradient is permuted back with the inverse permutation."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    if not axes:
        axes = tuple(reversed(range(a.ndim)))
    if any(not -a.ndim <= ax < a.ndim for ax in axes) or sorted(ax % a.ndim for ax in axes) != list(range(a.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the axes of shape {a.shape}")
    inv = np.argsort([ax % a.ndim for ax in axes])
    return make_node(a.data.transpose(axes), (a,), lambda g: (g.transpose(inv),), "permute")


def transpose(a, axis0: int | None = None, axis1: int | None = None) -> Tensor:
    """Swap two axes (all axes reversed when none are given)."""
    if axis0 is None:
        return permute(a)
    axes = list(range(a.ndim))
    axes[axis0], axes[axis1] = axes[axis1], axes[axis0]
    return permute(a, axes)


def broadcast_to(a, *shape) -> Tensor:
    """Broadcast to ``shape`` (a read-only view);  the gradient is summed back."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        out = xp.broadcast_to(a.data, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: shape {a.shape} cannot be broadcast to {shape}") from None
    return make_node(out, (a,), lambda g: (g,), "broadcast_to")


expand = broadcast_to


def _is_basic(idx) -> bool:
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


def getitem(a, idx) -> Tensor:
    """a[idx] for basic and integer-array indexing;  backward scatter-adds into zeros."""
    if isinstance(idx, Tensor):
        idx = idx.data
    elif isinstance(idx, tuple):
        idx = tuple(i.data if isinstance(i, Tensor) else i for i in idx)
    ad = a.data
    try:
        out = ad[idx]
    except IndexError as e:
        raise IndexError(f"getitem: index {idx!r} is invalid for shape {ad.shape}: {e}") from None
    basic = _is_basic(idx)

    def backward(g):
        z = xp.zeros(ad.shape, dtype=g.dtype)
        if basic:
            z[idx] = g
        else:
            np.add.at(z, idx, g)
        return (z,)

    return make_node(out, (a,), backward, "getitem")


def _same_float_dtype(ts, op: str) -> None:
    dts = {t.dtype for t in ts if t.dtype.kind == "f"}
    if len(dts) > 1:
        raise TypeError(
            f"{op}: dtypes differ ({', '.join(f'{t.dtype} {t.shape}' for t in ts)}); "
            "layerlab does not upcast silently — cast with .astype()"
        )


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Join along an existing axis;  the gradient is split back."""
    tensors = list(tensors)
    like = next((t for t in tensors if isinstance(t, Tensor)), None)
    ts = [_t(t, like) for t in tensors]  # raw arrays take the first tensor's dtype, as in binary ops
    if not ts:
        raise ValueError("concatenate: needs at least one tensor")
    _same_float_dtype(ts, "concatenate")
    try:
        out = xp.concatenate([t.data for t in ts], axis=axis)
    except ValueError:
        raise ValueError(f"concatenate: shapes {[t.shape for t in ts]} do not match off axis {axis}") from None
    ax = axis % out.ndim
    bounds = np.cumsum([t.shape[ax] for t in ts])[:-1]

    def backward(g):
        return tuple(xp.split(g, bounds, axis=ax))

    return make_node(out, tuple(ts), backward, "concatenate")


def stack(tensors, axis: int = 0) -> Tensor:
    """Join along a new axis;  the gradient is unstacked."""
    tensors = list(tensors)
    like = next((t for t in tensors if isinstance(t, Tensor)), None)
    ts = [_t(t, like) for t in tensors]  # raw arrays take the first tensor's dtype, as in binary ops
    if not ts:
        raise ValueError("stack: needs at least one tensor")
    _same_float_dtype(ts, "stack")
    try:
        out = xp.stack([t.data for t in ts], axis=axis)
    except ValueError:
        raise ValueError(f"stack: all shapes must be equal, got {[t.shape for t in ts]}") from None
    ax = axis % out.ndim

    def backward(g):
        return tuple(xp.moveaxis(g, ax, 0))

    return make_node(out, tuple(ts), backward, "stack")


def pad(a, pad_width, value: float = 0.0) -> Tensor:
    """Constant padding (``np.pad`` widths);  the gradient is the un-padded slice."""
    ad = a.data
    out = xp.pad(ad, pad_width, mode="constant", constant_values=value)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (ad.ndim, 2))  # as np.pad reads it
    sl = tuple(slice(int(lo), int(lo) + n) for (lo, _), n in zip(widths, ad.shape))
    return make_node(out, (a,), lambda g: (g[sl],), "pad")
