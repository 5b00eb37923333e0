"""Linear (affine) and Maxout layers.

Seed 003: h(x; w) = x·wᵀ + b with x ∈ R^{1×M}, w ∈ R^{N×M}, and dh/dx = w — no
saturation, hence strong and stable gradients. Seeds 001/002: a Maxout neuron is
max(w_1x + b_1, …, w_kx + b_k); it generalises ReLU (max(0·x + 0, wᵀx + b)) and
leaky ReLU, and "two Maxout neurons, with sufficient number of affine
transformations, act as a universal approximator".
"""

from __future__ import annotations

import inspect

import numpy as np

from .. import ops
from .._checks import positive_int
from ..backend import float_dtype
from ..random import as_generator
from ..tensor import Tensor, make_node
from . import init as _init
from .module import Module, Parameter

__all__ = ["Linear", "Maxout", "linear", "maxout"]


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def linear(x, weight, bias=None, name: str | None = None) -> Tensor:
    """h = x·Wᵀ + b as one graph node (one GEMM forward, one per needed gradient backward).

    dh/dx = W (gx = g·W), dh/dW = x (gW = gᵀ·x, summed over all leading dims),
    dh/db = 1 (gb = Σ g). Gradients that no one needs are not computed.

    Args:
        x: input of shape (*, in).
        weight: W of shape (out, in) (PyTorch's layout).
        bias: b of shape (out,), or None.
        name: how errors name the layer (default ``linear(in->out)``).
    """
    return _linear(x, weight, bias, name)


def _linear(x, weight, bias, name) -> Tensor:
    """:func:`linear`; ``name`` may also be a callable giving the label, called only for an error
    message (``Linear.forward`` passes its bound ``_label``: no string is formatted per call)."""
    if not isinstance(x, Tensor):
        x = Tensor(x)
    xd, wd = x.data, weight.data
    if wd.ndim != 2:
        raise ValueError(f"linear: weight must have shape (out, in), got {wd.shape}")
    out_f, in_f = wd.shape
    if xd.ndim == 0 or xd.shape[-1] != in_f:
        raise ValueError(f"{_name(name, wd)}: expected input (..., {in_f}), got {tuple(xd.shape)}")
    if xd.dtype != wd.dtype:
        raise TypeError(
            f"{_name(name, wd)}: input dtype {xd.dtype} (shape {tuple(xd.shape)}) does not match the weight dtype "
            f"{wd.dtype}; cast the input (x.astype(np.{wd.dtype}))"
            + (f" or the model (model.to(np.{xd.dtype}))" if xd.dtype in (np.float32, np.float64) else "")
        )
    bd = None
    if bias is not None:
        bd = bias.data
        if bd.shape != (out_f,):
            raise ValueError(f"{_name(name, wd)}: bias must have shape ({out_f},), got {bd.shape}")
        if bd.dtype != wd.dtype:
            raise TypeError(f"{_name(name, wd)}: bias dtype {bd.dtype} does not match the weight dtype {wd.dtype}")

    out = xd @ wd.T
    if bd is not None:
        out += bd

    def backward(g):
        gx = g @ wd if x.requires_grad else None
        gw = gb = None
        if weight.requires_grad or (bias is not None and bias.requires_grad):
            g2 = g.reshape(-1, out_f)
            if weight.requires_grad:
                gw = g2.T @ xd.reshape(-1, in_f)
            if bias is not None and bias.requires_grad:
                gb = g2.sum(axis=0)
        return (gx, gw) if bias is None else (gx, gw, gb)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return make_node(out, parents, backward, "linear")


def _name(name, wd) -> str:
    if callable(name):
        name = name()
    return name or f"linear({wd.shape[1]}->{wd.shape[0]})"


def maxout(x, pieces: int) -> Tensor:
    """Max over groups of ``pieces`` consecutive features of the last axis:
    (…, out·k) -> (…, out), h_o = max_j x[…, o·k + j].

    Composed from ``reshape`` and ``max`` (no backward of its own): the gradient
    goes to the winning piece; an exact tie splits it evenly between the tied
    pieces (the convention of ``ops.max``, as ``torch.amax``).
    """
    x = _as_tensor(x)
    k = positive_int(pieces, "pieces", "maxout")
    if x.ndim == 0 or x.shape[-1] % k:
        raise ValueError(f"maxout: the last dimension of input {tuple(x.shape)} must be a multiple of pieces={k}")
    return ops.max(ops.reshape(x, x.shape[:-1] + (x.shape[-1] // k, k)), axis=-1)


def _bias_init(bias_init):
    if isinstance(bias_init, (int, float)) and not isinstance(bias_init, bool):
        return _init.get("constant", value=float(bias_init))
    return _init.get(bias_init)


def _accepts_dtype(fn) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "dtype" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _draw(fn, shape, rng, dtype, what: str) -> np.ndarray:
    # Named initialisers draw in float64 and are cast once here, so a seed gives the
    # same weights in float32 and float64 (up to rounding).
    arr = np.asarray(fn(shape, rng, dtype=np.float64) if _accepts_dtype(fn) else fn(shape, rng))
    if arr.shape != tuple(shape):
        raise ValueError(f"{what}: the initialiser returned shape {arr.shape}, expected {tuple(shape)}")
    return arr.astype(dtype, copy=False)


class Linear(Module):
    """Affine map h = x·Wᵀ + b (seed 003), one fused graph node.

    dh/dx = W, dh/dW = x, dh/db = 1.

    Args:
        in_features: M, the size of the last input dimension.
        out_features: N, the size of the last output dimension.
        bias: learn b (default True).
        init: how W (shape (out, in)) is drawn: a name from ``nn.init`` (default
            ``"xavier_uniform"``), a ``(name, {kwargs})`` pair such as
            ``("normal", {"std": 0.01})``, or a callable ``(shape, rng) -> array``.
        bias_init: a float (constant, default 0.0), or any of the forms of ``init``
            (a fan-based name such as "xavier_normal" is refused for the 1-D bias).
        rng: a ``np.random.Generator`` (or an int seed); None draws from the global
            generator seeded by ``layerlab.seed``.
        dtype: of the parameters (default: ``layerlab.get_default_dtype()``).

    Shape: input (*, in_features) -> output (*, out_features).

    Note: PyTorch's default init is kaiming_uniform(a=√5) with a uniform bias;
    layerlab defaults to Glorot/Xavier uniform and a zero bias.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init="xavier_uniform",
                 bias_init=0.0, rng=None, dtype=None):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features", "Linear")
        self.out_features = positive_int(out_features, "out_features", "Linear")
        dt = float_dtype(dtype, "Linear")
        g = as_generator(rng, "Linear")
        shape = (self.out_features, self.in_features)
        self.weight = Parameter(_draw(_init.get(init), shape, g, dt, repr(self)))
        if bias:
            self.bias = Parameter(_draw(_bias_init(bias_init), (self.out_features,), g, dt, repr(self)))
        else:
            self.register_parameter("bias", None)

    def forward(self, x) -> Tensor:
        p = self._parameters  # not self.weight: Module.__getattr__ is slow on the hot path
        return _linear(x, p["weight"], p["bias"], self._label)

    def _label(self) -> str:
        return f"Linear({self.in_features}->{self.out_features})"

    def extra_repr(self) -> str:
        has_bias = self.__dict__.get("_parameters", {}).get("bias") is not None
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={has_bias}"


class Maxout(Module):
    """Maxout layer (seeds 001/002): h_o = max_j (W_j x + b_j)_o over k = ``pieces`` affine maps.

    Implemented as one affine map to out·k features followed by :func:`maxout`
    (reshape (…, out, k) and max over the last axis); the derivative is that of the
    winning piece: dh_o/dx = W_{j*}[o], dh_o/dW_{j*}[o] = x.

    Args:
        in_features, out_features: as ``Linear``.
        pieces: k, the number of affine maps per output unit (k times the parameters).
        bias, init, bias_init, rng, dtype: as ``Linear``; each piece's (out, in) block
            is drawn on its own, as a ``Linear(in_features, out_features)`` would be.

    Parameters: ``weight`` of shape (out·k, in), row o·k + j is piece j of unit o;
    ``bias`` of shape (out·k,).
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 2, bias: bool = True,
                 init="xavier_uniform", bias_init=0.0, rng=None, dtype=None):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features", "Maxout")
        self.out_features = positive_int(out_features, "out_features", "Maxout")
        self.pieces = positive_int(pieces, "pieces", "Maxout")
        dt = float_dtype(dtype, "Maxout")
        g = as_generator(rng, "Maxout")
        k, o, i = self.pieces, self.out_features, self.in_features
        w_fn = _init.get(init)
        w = np.stack([_draw(w_fn, (o, i), g, dt, repr(self)) for _ in range(k)], axis=1)
        self.weight = Parameter(w.reshape(o * k, i))
        if bias:
            b_fn = _bias_init(bias_init)
            b = np.stack([_draw(b_fn, (o,), g, dt, repr(self)) for _ in range(k)], axis=1)
            self.bias = Parameter(b.reshape(o * k))
        else:
            self.register_parameter("bias", None)

    def forward(self, x) -> Tensor:
        label = f"Maxout({self.in_features}->{self.out_features}, pieces={self.pieces})"
        return maxout(linear(x, self.weight, self.bias, label), self.pieces)

    def extra_repr(self) -> str:
        has_bias = self.__dict__.get("_parameters", {}).get("bias") is not None
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"pieces={self.pieces}, bias={has_bias}")
