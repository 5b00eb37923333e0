"""Normalisation layers: BatchNorm, LayerNorm, GroupNorm — each one fused graph node.

All three standardise and then rescale (seed 001, Module 7.5):

    x̂ = (x − μ) / √(σ² + ε),   y = γ·x̂ + β,

with μ and the biased σ² = (1/m)Σ(x − μ)² taken over different sets of m entries:
BatchNorm over the batch (per feature), LayerNorm over the features (per sample),
GroupNorm over groups of channels (per sample). The backward is the standard
closed form, with g = dL/dy and ĝ = γ·g:

    dL/dx = (1/√(σ² + ε)) · (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)),
    dL/dγ = Σ g·x̂,   dL/dβ = Σ g.
"""

from __future__ import annotations

import numpy as np

from .._checks import nonnegative_float, positive_int, probability
from ..backend import float_dtype
from ..tensor import Tensor, make_node
from .module import Module, Parameter

__all__ = ["BatchNorm", "BatchNorm1d", "LayerNorm", "GroupNorm", "batch_norm", "layer_norm", "group_norm"]


# -- the shared core ----------------------------------------------------------------------------

def _standardize(xd: np.ndarray, axes: tuple, eps: float):
    """x̂, 1/√(σ²+ε), μ, σ² over ``axes`` (two-pass: stable when |μ| ≫ σ)."""
    n = 1
    for ax in axes:
        n *= xd.shape[ax]
    # sums divided in place rather than np.mean, whose Python wrapper costs more than the
    # arithmetic on small batches; the same pairwise sums, so the same values
    mu = xd.sum(axis=axes, keepdims=True)
    mu /= n
    xc = xd - mu
    sq = xc * xc
    var = sq.sum(axis=axes, keepdims=True)
    var /= n
    inv = var + eps
    np.sqrt(inv, out=inv)
    np.divide(1.0, inv, out=inv)
    xc *= inv
    return xc, inv, mu, var


def _standardize_grad(gxhat: np.ndarray, xhat: np.ndarray, inv: np.ndarray, axes: tuple) -> np.ndarray:
    """dL/dx from dL/dx̂ for x̂ standardised over ``axes``: (1/σ)·(ĝ − mean ĝ − x̂·mean(ĝ x̂))."""
    n = 1
    for ax in axes:
        n *= xhat.shape[ax]
    t = gxhat * xhat
    c = t.sum(axis=axes, keepdims=True)
    c /= n
    np.multiply(xhat, c, out=t)
    m = gxhat.sum(axis=axes, keepdims=True)
    m /= n
    out = gxhat - m
    out -= t
    out *= inv
    return out


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _check_dtypes(label: str, x: Tensor, *others) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{label}: expected a floating input, got dtype {x.dtype} (shape {tuple(x.shape)})")
    for what, a in others:
        if a is None:
            continue
        dt = a.dtype
        if dt != x.dtype:
            raise TypeError(
                f"{label}: input dtype {x.dtype} does not match the {what} dtype {dt}; "
                f"cast the input or the module (module.to(np.{x.dtype}))"
            )


def _check_channels(x, c: int, label: str, layout: str, ndims) -> None:
    """The layer knows C even when no γ, β or running statistics carry it (PyTorch does not check then)."""
    shape = tuple(np.shape(x.data if isinstance(x, Tensor) else x))
    if (ndims is not None and len(shape) not in ndims) or len(shape) < 2 or shape[1] != c:
        raise ValueError(f"{label}: expected input {layout} with C = {c}, got {shape}")


def _affine(xhat, weight, bias, view):
    out = xhat * weight.data.reshape(view) if weight is not None else xhat.copy()
    if bias is not None:
        out += bias.data.reshape(view)
    return out


def _node(out, x, weight, bias, backward, op: str) -> Tensor:
    """The graph node with parents x and whichever of γ, β exist; ``backward`` returns (gx, gγ, gβ)."""
    if weight is not None and bias is not None:
        return make_node(out, (x, weight, bias), backward, op)
    present = [k for k, p in ((1, weight), (2, bias)) if p is not None]
    parents = (x,) + tuple(p for p in (weight, bias) if p is not None)

    def backward_present(g):
        grads = backward(g)
        return (grads[0],) + tuple(grads[k] for k in present)

    return make_node(out, parents, backward_present, op)


# -- BatchNorm --------------------------------------------------------------------------------

def batch_norm(x, running_mean=None, running_var=None, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5, name: str = "batch_norm") -> Tensor:
    """Batch normalisation of x of shape (N, C) or (N, C, L), per channel C.

    Training: μ, σ² (biased) from the batch, and the running statistics, when given,
    are updated in place: r ← (1 − momentum)·r + momentum·s, with the *unbiased*
    batch variance σ²·m/(m − 1) for ``running_var`` (as PyTorch).
    Evaluation: x̂ = (x − running_mean)/√(running_var + ε), an affine map of x
    (dL/dx = γ·g/√(running_var + ε)).

    Args:
        running_mean, running_var: np.ndarrays of shape (C,) (required in evaluation).
        weight, bias: γ and β, Tensors of shape (C,), or None (γ = 1, β = 0).
    """
    x = _as_tensor(x)
    xd = x.data
    c = None
    for a in (weight, bias, running_mean, running_var):
        if a is not None:
            c = a.shape[0]
            break
    if xd.ndim not in (2, 3) or (c is not None and xd.shape[1] != c):
        want = f"C = {c}" if c is not None else "C channels"
        raise ValueError(f"{name}: expected input (N, C) or (N, C, L) with {want}, got {tuple(xd.shape)}")
    _check_dtypes(name, x, ("weight", weight), ("bias", bias), ("running_mean", running_mean),
                  ("running_var", running_var))
    c = xd.shape[1]
    axes = (0,) if xd.ndim == 2 else (0, 2)
    view = (c,) if xd.ndim == 2 else (c, 1)
    m = xd.shape[0] * (1 if xd.ndim == 2 else xd.shape[2])

    if training:
        if m < 2:
            raise ValueError(
                f"{name}: training needs more than one value per channel, got input {tuple(xd.shape)}: "
                "with a single value μ = x and σ = 0, so x̂ = 0 and the output is β whatever the input. "
                "Use a batch of at least 2, eval() mode, or LayerNorm."
            )
        xhat, inv, mu, var = _standardize(xd, axes, eps)
        if running_mean is not None:
            running_mean *= 1.0 - momentum
            running_mean += momentum * mu.reshape(c)
        if running_var is not None:
            running_var *= 1.0 - momentum
            running_var += (momentum * m / (m - 1)) * var.reshape(c)

        def dx(gxhat):
            return _standardize_grad(gxhat, xhat, inv, axes)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{name}: evaluation mode needs running_mean and running_var")
        inv = 1.0 / np.sqrt(running_var.reshape(view) + eps)
        xhat = (xd - running_mean.reshape(view)) * inv

        def dx(gxhat):
            return gxhat * inv

    out = _affine(xhat, weight, bias, view)

    def backward(g):
        gx = gw = gb = None
        need_w = weight is not None and weight.requires_grad
        need_b = bias is not None and bias.requires_grad
        if training and x.requires_grad:
            # One pass for the three sums, since γ is constant per channel:
            # dL/dx = (γ/√(σ²+ε))·(g − Σg/m − x̂·Σ(g·x̂)/m),  dL/dγ = Σ g·x̂,  dL/dβ = Σ g.
            sg = g.sum(axis=axes, keepdims=True)
            t = g * xhat
            sgx = t.sum(axis=axes, keepdims=True)
            if need_w:
                gw = sgx.reshape(c)
            if need_b:
                gb = sg.reshape(c)
            np.multiply(xhat, sgx * (1.0 / m), out=t)
            gx = g - t
            gx -= sg * (1.0 / m)
            gx *= inv if weight is None else inv * weight.data.reshape(view)
            return gx, gw, gb
        if x.requires_grad:
            gx = dx(g * weight.data.reshape(view) if weight is not None else g)
        if need_w:
            gw = (g * xhat).sum(axis=axes)
        if need_b:
            gb = g.sum(axis=axes)
        return gx, gw, gb

    return _node(out, x, weight, bias, backward, "batch_norm")


class BatchNorm(Module):
    """Batch normalisation (Ioffe & Szegedy 2015; seed 001, Module 7.5), one fused node.

    Per feature i over a batch of m samples: μ_i = (1/m)Σ_j x_i^j,
    σ_i² = (1/m)Σ_j (x_i^j − μ_i)², x̂_i = (x_i − μ_i)/√(σ_i² + ε), y_i = γ_i x̂_i + β_i.
    dL/dx = (1/√(σ²+ε))·(ĝ − mean ĝ − x̂·mean(ĝ x̂)) with ĝ = γ·dL/dy.

    In training mode it uses the batch statistics and updates ``running_mean`` /
    ``running_var`` (unbiased variance, as PyTorch); in eval mode it uses those.

    Args:
        num_features: C.
        momentum: weight of the new batch in the running averages (default 0.1);
            None gives the cumulative average over all batches seen.
        eps: ε added to σ² (default 1e-5).
        affine: learn γ (``weight``, init 1) and β (``bias``, init 0) (default True).
        bias: learn β too (default True; only with affine).
        track_running_stats: keep running statistics (default True); when False the
            batch statistics are used in eval mode too.

    Shape: (N, C) or (N, C, L), output the same.

    Note: a batch of one in training mode raises ValueError (the notes: μ = x, σ = 0).
    """

    def __init__(self, num_features: int, momentum: float | None = 0.1, eps: float = 1e-5, affine: bool = True,
                 track_running_stats: bool = True, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features = positive_int(num_features, "num_features", "BatchNorm")
        if momentum is not None:
            momentum = probability(momentum, "momentum (or None)", "BatchNorm", inclusive_high=True)
        self.momentum = momentum
        self.eps = nonnegative_float(eps, "eps", "BatchNorm")
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        dt = float_dtype(dtype, "BatchNorm")
        c = self.num_features
        self.register_parameter("weight", Parameter(np.ones(c, dtype=dt)) if affine else None)
        self.register_parameter("bias", Parameter(np.zeros(c, dtype=dt)) if affine and bias else None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(c, dtype=dt))
            self.register_buffer("running_var", np.ones(c, dtype=dt))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def forward(self, x) -> Tensor:
        use_batch = self.training or not self.track_running_stats
        update = self.training and self.track_running_stats
        # the registries directly: Module.__getattr__ is slow on the hot path
        params, bufs = self._parameters, self._buffers
        momentum = 0.0
        if update:
            nbt = bufs["num_batches_tracked"]
            momentum = 1.0 / (int(nbt) + 1) if self.momentum is None else self.momentum
        stats = update or not use_batch
        if params["weight"] is None and not stats:  # nothing of shape (C,) reaches batch_norm to check C against
            _check_channels(x, self.num_features, self._label(), "(N, C) or (N, C, L)", (2, 3))
        out = batch_norm(
            x, bufs["running_mean"] if stats else None, bufs["running_var"] if stats else None,
            params["weight"], params["bias"], training=use_batch, momentum=momentum, eps=self.eps,
            name=self._label(),
        )
        if update:  # counted only once batch_norm has accepted the batch
            nbt += 1
        return out

    def _label(self) -> str:
        return f"{type(self).__name__}({self.num_features})"

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


BatchNorm1d = BatchNorm


# -- LayerNorm ----------------------------------------------------------------------------------

def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5, name: str = "layer_norm") -> Tensor:
    """Layer normalisation over the trailing dims ``normalized_shape`` (per sample):
    μ_l = (1/H)Σ x_i, σ_l² = (1/H)Σ (x_i − μ_l)², y = γ·x̂ + β (γ, β of shape normalized_shape)."""
    x = _as_tensor(x)
    xd = x.data
    ns = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    k = len(ns)
    if xd.ndim < k or tuple(xd.shape[xd.ndim - k:]) != ns:
        raise ValueError(f"{name}: expected input (*, {', '.join(map(str, ns))}), got {tuple(xd.shape)}")
    for what, a in (("weight", weight), ("bias", bias)):
        if a is not None and tuple(a.shape) != ns:
            raise ValueError(f"{name}: {what} must have shape {ns}, got {tuple(a.shape)}")
    _check_dtypes(name, x, ("weight", weight), ("bias", bias))
    axes = tuple(range(xd.ndim - k, xd.ndim))
    lead = tuple(range(xd.ndim - k))
    xhat, inv, _, _ = _standardize(xd, axes, eps)
    out = _affine(xhat, weight, bias, ns)

    def backward(g):
        gx = gw = gb = None
        if x.requires_grad:
            gx = _standardize_grad(g * weight.data if weight is not None else g, xhat, inv, axes)
        if weight is not None and weight.requires_grad:
            gw = (g * xhat).sum(axis=lead)
        if bias is not None and bias.requires_grad:
            gb = g.sum(axis=lead)
        return gx, gw, gb

    return _node(out, x, weight, bias, backward, "layer_norm")


class LayerNorm(Module):
    """Layer normalisation (Ba et al. 2016; seed 001): standardise each sample over its
    last dims, μ_l = (1/H)Σ_i x_i, σ_l² = (1/H)Σ_i (x_i − μ_l)², y_i = γ_i x̂_i + β_i.

    Independent of the other samples in the batch, so a batch of one is fine.
    Same backward as BatchNorm, with the mean taken over the H features.

    Args:
        normalized_shape: H — an int (the last dim) or a tuple of trailing dims.
        eps: ε (default 1e-5).
        elementwise_affine: learn γ (init 1) and β (init 0) of shape normalized_shape.
        bias: learn β too (default True; only with elementwise_affine).
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 dtype=None):
        super().__init__()
        ns = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        if not ns:
            raise ValueError(f"LayerNorm: normalized_shape must be positive ints, got {normalized_shape!r}")
        self.normalized_shape = tuple(positive_int(s, f"normalized_shape[{i}]", "LayerNorm") for i, s in enumerate(ns))
        self.eps = nonnegative_float(eps, "eps", "LayerNorm")
        self.elementwise_affine = bool(elementwise_affine)
        dt = float_dtype(dtype, "LayerNorm")
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dt))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps,
                          f"LayerNorm({self.normalized_shape})")

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


# -- GroupNorm ----------------------------------------------------------------------------------

def group_norm(x, num_groups: int, weight=None, bias=None, eps: float = 1e-5, name: str = "group_norm") -> Tensor:
    """Group normalisation of x of shape (N, C, *): the C channels are split into
    ``num_groups`` groups and each (sample, group) is standardised over its channels and
    positions; then y = γ_c·x̂ + β_c per channel."""
    x = _as_tensor(x)
    xd = x.data
    if xd.ndim < 2:
        raise ValueError(f"{name}: expected input (N, C, *), got {tuple(xd.shape)}")
    n, c = xd.shape[0], xd.shape[1]
    if c % num_groups:
        raise ValueError(f"{name}: {c} channels in input {tuple(xd.shape)} cannot be split into {num_groups} groups")
    for what, a in (("weight", weight), ("bias", bias)):
        if a is not None and tuple(a.shape) != (c,):
            raise ValueError(f"{name}: input {tuple(xd.shape)} has {c} channels but {what} has shape {tuple(a.shape)}")
    _check_dtypes(name, x, ("weight", weight), ("bias", bias))
    view = (c,) + (1,) * (xd.ndim - 2)
    axes = (0,) + tuple(range(2, xd.ndim))
    xg = xd.reshape(n, num_groups, -1)
    xhat_g, inv, _, _ = _standardize(xg, (2,), eps)
    xhat = xhat_g.reshape(xd.shape)
    out = _affine(xhat, weight, bias, view)

    def backward(g):
        gx = gw = gb = None
        if x.requires_grad:
            gxhat = g * weight.data.reshape(view) if weight is not None else g
            gx = _standardize_grad(gxhat.reshape(n, num_groups, -1), xhat_g, inv, (2,)).reshape(xd.shape)
        if weight is not None and weight.requires_grad:
            gw = (g * xhat).sum(axis=axes)
        if bias is not None and bias.requires_grad:
            gb = g.sum(axis=axes)
        return gx, gw, gb

    return _node(out, x, weight, bias, backward, "group_norm")


class GroupNorm(Module):
    """Group normalisation (Wu & He 2018): per sample, standardise each group of
    C/G channels (over those channels and all positions), then y_c = γ_c x̂_c + β_c.

    Independent of the batch size. G = 1 is LayerNorm over (C, *) with per-channel
    γ, β; G = C is instance normalisation.

    Args:
        num_groups: G, must divide num_channels.
        num_channels: C.
        eps: ε (default 1e-5).
        affine: learn per-channel γ (init 1) and β (init 0).
        bias: learn β too (default True; only with affine).

    Shape: (N, C, *), output the same.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, dtype=None, *,
                 bias: bool = True):
        super().__init__()
        self.num_groups = positive_int(num_groups, "num_groups", "GroupNorm")
        self.num_channels = positive_int(num_channels, "num_channels", "GroupNorm")
        if self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be a positive multiple of "
                             f"num_groups ({num_groups})")
        self.eps = nonnegative_float(eps, "eps", "GroupNorm")
        self.affine = bool(affine)
        dt = float_dtype(dtype, "GroupNorm")
        self.register_parameter("weight", Parameter(np.ones(num_channels, dtype=dt)) if affine else None)
        self.register_parameter("bias", Parameter(np.zeros(num_channels, dtype=dt)) if affine and bias else None)

    def forward(self, x) -> Tensor:
        label = f"GroupNorm({self.num_groups}, {self.num_channels})"
        if self.weight is None:  # without γ, group_norm cannot tell a wrong channel count that the groups divide
            _check_channels(x, self.num_channels, label, "(N, C, *)", None)
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps, label)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")
