"""Activations: each a small class with f(x) and its derivative df(x, y) side by side.

Every activation is ONE fused graph node per call: the forward computes
y = f(x), and the backward multiplies the incoming gradient by f'(x), computed by
``df(x, y)`` from the saved input x and output y — reusing y where that is
cheaper (σ' = y(1 − y), tanh' = 1 − y²). Because ``f`` and ``df`` are plain
NumPy functions on the class, the lab plots f and f' for every registered
activation straight from here::

    act = nn.activation("gelu")
    y = act.f(x); dy = act.df(x, y)

The notation follows the notes (seed 003, seed 004, seed 001 module 7.3):
h(x) is the activation, ∂h/∂x its derivative, σ the logistic sigmoid, Φ and φ
the standard normal CDF and density.

Subgradient conventions at the kinks (tested at exactly −1, 0, 1, and 6 for
ReLU6; they match PyTorch's backward wherever PyTorch has the function):
ReLU'(0) = 0; LeakyReLU'(0) = PReLU'(0) = α; ReLU6'(0) = ReLU6'(6) = 0;
ELU'(0) = α; SELU'(0) = λα; BinaryStep' = 0 everywhere (also at 0, where the
step is not even continuous).

Speed: ``f`` and ``df`` avoid ``np.where`` (slow on random masks) and scipy's
``expit``/``logaddexp`` (several times slower than the NumPy expressions used
here), write into their own temporaries, and the node multiplies the incoming
gradient into df's fresh result: tanh', σ' and ReLU' cost one pass over the saved
output or mask. Nothing is promoted to float64.

``ACTIVATIONS`` maps snake_case names to classes (built from the classes, never
parsed from strings); :func:`activation` builds one from a name, a class, an
instance or None.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.special import ndtr

from .. import ops
from ..backend import get_default_dtype
from ..tensor import Tensor, make_node
from .module import Module, Parameter

__all__ = [
    "Activation", "Identity", "BinaryStep", "Sigmoid", "Tanh", "ReLU", "ReLU6", "LeakyReLU", "PReLU",
    "ELU", "SELU", "GELU", "Swish", "SiLU", "Mish", "LiSHT", "Softplus", "Softmax", "LogSoftmax",
    "ACTIVATIONS", "ALIASES", "activation",
    "identity", "binary_step", "sigmoid", "tanh", "relu", "relu6", "leaky_relu", "prelu", "elu", "selu",
    "gelu", "swish", "silu", "mish", "lisht", "softplus", "softmax", "log_softmax",
]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_TANH_C = 0.044715
_GELU_SIGMOID_C = 1.702
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1/(1 + e^−x) on one temporary. For x ≲ −88 (float32) e^−x overflows to inf and σ
    is exactly 0, as in PyTorch; there is no cancellation (unlike ½ + ½tanh(x/2))."""
    with np.errstate(over="ignore"):
        y = np.negative(x)
        np.exp(y, out=y)
    y += 1.0
    np.reciprocal(y, out=y)
    return y


def _softplus(x: np.ndarray) -> np.ndarray:
    """ln(1 + e^x) = max(x, 0) + ln(1 + e^−|x|): never overflows, accurate for x ≪ 0."""
    y = np.abs(x)
    np.negative(y, out=y)
    np.exp(y, out=y)
    np.log1p(y, out=y)
    y += np.maximum(x, 0)
    return y


def _times(g: np.ndarray, d: np.ndarray) -> np.ndarray:
    """g ⊙ d, written into ``d`` (df's fresh result) when the shapes and dtypes agree."""
    if d.dtype == g.dtype and d.shape == g.shape and d.flags.writeable:
        d *= g
        return d
    return g * d


def _input(x, op: str) -> Tensor:
    """``x`` as a floating Tensor (arrays are wrapped; other dtypes are refused, not upcast)."""
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if x.data.dtype.kind != "f":
        raise TypeError(
            f"{op}: expected a floating-point tensor, got dtype {x.data.dtype} with shape {x.shape}; "
            "cast it first, e.g. x.astype(np.float32)"
        )
    return x


class Activation(Module):
    """Base class: an activation h = f(x) with its derivative ∂h/∂x = df(x, y).

    A subclass sets ``name`` (its registry key) and defines, on NumPy arrays with at
    least one axis:

    - ``f(x)``: the forward map;
    - ``df(x, y)``: ∂h/∂x elementwise, from the input ``x`` and the output ``y = f(x)``;
      it must return a *new* array (the node multiplies the gradient into it).

    :meth:`forward` wraps both into one graph node (0-d inputs are computed as
    shape (1,), since NumPy ufuncs turn 0-d arrays into scalars). ``elementwise`` is False for
    Softmax/LogSoftmax, whose Jacobian is not diagonal: there ``df`` gives the
    Jacobian's diagonal (for plots) and :meth:`vjp` the true backward.
    """

    name: str = ""
    elementwise: bool = True

    def f(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} defines no f(x)")

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} defines no df(x, y)")

    def forward(self, x) -> Tensor:
        x = _input(x, type(self).__name__)
        xd = x.data
        if xd.ndim == 0:
            return self._scalar(x)
        y = self.f(xd)
        df = self.df
        return make_node(y, (x,), lambda g: (_times(g, df(xd, y)),), self.name)

    def _scalar(self, x: Tensor) -> Tensor:
        xd = x.data.reshape(1)
        y = self.f(xd)
        return make_node(y.reshape(()), (x,), lambda g: (_times(g.reshape(1), self.df(xd, y)).reshape(()),),
                         self.name)


class _Parametric(Activation):
    """An activation with a learned parameter p: the node also returns ∂h/∂p = dparam(x, y, p)."""

    def dparam(self, x: np.ndarray, y: np.ndarray, p=None) -> np.ndarray:
        raise NotImplementedError

    def _node(self, x, p, op: str) -> Tensor:
        who = type(self).__name__
        x = _input(x, who)
        if not isinstance(p, Tensor):
            p = Tensor(np.asarray(p, dtype=x.dtype))
        if p.dtype != x.dtype:
            raise TypeError(
                f"{who}: the input is {x.dtype} (shape {x.shape}) but the parameter is {p.dtype} "
                f"(shape {p.shape}); layerlab does not upcast silently — cast the module with .to({x.dtype})"
            )
        shape = self._param_shape(x, p, who)
        pv = p if p.shape == shape else ops.reshape(p, shape)  # the reshape node restores p's shape
        shape0 = x.shape
        xd, a = (x.data if x.ndim else x.data.reshape(1)), pv.data
        y = self.f(xd, a)

        def backward(g):
            g = g.reshape(xd.shape)
            gx = _times(g, self.df(xd, y, a)).reshape(shape0) if x.requires_grad else None
            gp = _times(g, self.dparam(xd, y, a)).reshape(shape0) if pv.requires_grad else None
            return gx, gp

        return make_node(y.reshape(shape0), (x, pv), backward, op)

    @staticmethod
    def _param_shape(x: Tensor, p: Tensor, op: str) -> tuple:
        """One value for all (shape ()), or one per channel (axis 1, as PyTorch's PReLU)."""
        if p.ndim > 1:
            raise ValueError(f"{op}: the parameter must be 0-d or 1-d, got shape {p.shape}")
        if p.size == 1:
            return ()
        channels = x.shape[1] if x.ndim >= 2 else 1
        if p.size != channels:
            raise ValueError(
                f"{op}: {p.size} parameters for input of shape {x.shape}, whose channel axis 1 has "
                f"{channels} entries (inputs with fewer than 2 axes have 1 channel); "
                "use num_parameters=1 or num_parameters=<channels>"
            )
        return (p.size,) + (1,) * (x.ndim - 2)


# -- the activations -------------------------------------------------------------------------

class Identity(Activation):
    """Identity (the notes' linear activation): h(x) = x;  ∂h/∂x = 1.

    ``forward`` returns its input unchanged (no graph node), as PyTorch's ``nn.Identity``.
    """

    name = "identity"

    def f(self, x):
        return x.copy()

    def df(self, x, y):
        return np.ones_like(x)

    def forward(self, x) -> Tensor:
        return _input(x, "Identity")


class BinaryStep(Activation):
    """Binary step (seed 004): h(x) = 1 if x ≥ 0 else 0;  ∂h/∂x = 0.

    Note: the derivative is 0 everywhere — also at x = 0, where h jumps — so no
    gradient flows through a step: this is why the perceptron's step was replaced
    by smooth activations. h(0) = 1 (the Heaviside convention H(0) = 1).
    """

    name = "binary_step"

    def f(self, x):
        return (x >= 0).astype(x.dtype)

    def df(self, x, y):
        return np.zeros_like(x)


class Sigmoid(Activation):
    """Logistic sigmoid: h(x) = σ(x) = 1/(1 + e^−x);  ∂h/∂x = σ(x)(1 − σ(x)) = y(1 − y).

    Computed as 1/(1 + e^−x) (no overflow to NaN, no cancellation); saturates (∂h/∂x → 0) for |x| ≫ 1.
    """

    name = "sigmoid"

    def f(self, x):
        return _sigmoid(x)

    def df(self, x, y):
        d = 1.0 - y  # σ(1 − σ), on one temporary
        d *= y
        return d


class Tanh(Activation):
    """Hyperbolic tangent: h(x) = (e^x − e^−x)/(e^x + e^−x) = 2σ(2x) − 1;
    ∂h/∂x = 1 − tanh²(x) = 1 − y²."""

    name = "tanh"

    def f(self, x):
        return np.tanh(x)

    def df(self, x, y):
        d = y * y  # 1 − y², on one temporary
        np.subtract(1.0, d, out=d)
        return d


class ReLU(Activation):
    """Rectified linear unit: h(x) = max(0, x);  ∂h/∂x = 1 if x > 0 else 0.

    Note: ReLU'(0) = 0 (the notes: "0 when x ≤ 0"; PyTorch's convention too).
    """

    name = "relu"

    def f(self, x):
        return np.maximum(x, 0)

    def df(self, x, y):
        return y > 0


class ReLU6(Activation):
    """ReLU capped at 6: h(x) = min(max(0, x), 6) = max(0, x) − max(0, x − 6);
    ∂h/∂x = 1 if 0 < x < 6 else 0.

    Note: the derivative is 0 at both kinks, 0 and 6 (PyTorch's convention).
    """

    name = "relu6"

    def f(self, x):
        return np.clip(x, 0.0, 6.0)

    def df(self, x, y):
        return (y > 0) & (y < 6)


class LeakyReLU(Activation):
    """Leaky ReLU: h(x) = x if x > 0 else αx;  ∂h/∂x = 1 if x > 0 else α.

    Args:
        alpha: the slope α for x ≤ 0. Default: 0.01 (PyTorch's ``negative_slope``).

    Note: LeakyReLU'(0) = α (the notes' "a when x ≤ 0", and PyTorch's).
    """

    name = "leaky_relu"

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        self.alpha = float(alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"

    def f(self, x):
        h = self.df(x, None)  # piecewise linear through 0: h(x) = x·h'(x)
        h *= x
        return h

    def df(self, x, y):
        d = (x > 0).astype(x.dtype)  # 1 where x > 0, else α
        d *= 1.0 - self.alpha
        d += self.alpha
        return d


class PReLU(_Parametric):
    """Parametric ReLU (He et al. 2015): h(x) = x if x > 0 else αx, with α learned;
    ∂h/∂x = 1 if x > 0 else α;  ∂h/∂α = 0 if x > 0 else x.

    Args:
        num_parameters: 1 (one α shared by all units) or the number of channels
            (axis 1 of the input, one α each). Default: 1.
        init: initial α. Default: 0.25.

    α is the Parameter ``weight`` (PyTorch's name, so state dicts line up), shape
    ``(num_parameters,)``. Note: PReLU'(0) = α, as in PyTorch.
    """

    name = "prelu"

    def __init__(self, num_parameters: int = 1, init: float = 0.25):
        super().__init__()
        if not isinstance(num_parameters, (int, np.integer)) or num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be a positive int, got {num_parameters!r}")
        self.num_parameters = int(num_parameters)
        self.weight = Parameter(np.full(self.num_parameters, init, dtype=get_default_dtype()))

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"

    def _slope(self, x, a):
        if a is None:  # plotting from the class: the module's current α
            a = self.weight.data
            a = a.reshape(()) if a.size == 1 else a.reshape((a.size,) + (1,) * (x.ndim - 2))
        return a

    def f(self, x, a=None):
        h = self.df(x, None, a)  # piecewise linear through 0: h(x) = x·h'(x)
        h *= x
        return h

    def df(self, x, y, a=None):
        a = self._slope(x, a)
        d = (x > 0).astype(x.dtype)  # 1 where x > 0, else α
        d *= 1.0 - a
        d += a
        return d

    def dparam(self, x, y, a=None):
        return np.minimum(x, 0)  # x where x ≤ 0, else 0

    def forward(self, x) -> Tensor:
        return self._node(x, self.weight, "prelu")


class ELU(Activation):
    """Exponential linear unit: h(x) = x if x > 0 else α(e^x − 1);
    ∂h/∂x = 1 if x > 0 else αe^x = y + α.

    Args:
        alpha: α, the value h approaches as x → −∞ is −α. Default: 1.0.

    Note: ELU'(0) = α (PyTorch's convention).
    """

    name = "elu"

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"

    def f(self, x):
        h = np.minimum(x, 0)  # α(e^min(x,0) − 1) + max(x, 0); expm1 is accurate near 0
        np.expm1(h, out=h)
        h *= self.alpha
        h += np.maximum(x, 0)
        return h

    def df(self, x, y):
        d = (x > 0).astype(x.dtype)  # 1 where x > 0, else α + min(y, 0) = αe^x
        d *= 1.0 - self.alpha
        d += self.alpha
        d += np.minimum(y, 0)
        return d


class SELU(Activation):
    """Scaled ELU (Klambauer et al. 2017): h(x) = λx if x > 0 else λα(e^x − 1);
    ∂h/∂x = λ if x > 0 else λαe^x = y + λα,

    with λ = 1.0507009873554805 and α = 1.6732632423543772, the constants that
    make zero-mean unit-variance activations a fixed point (self-normalising).
    Note: SELU'(0) = λα (PyTorch's convention).
    """

    name = "selu"
    alpha = _SELU_ALPHA
    scale = _SELU_SCALE

    def f(self, x):
        h = np.minimum(x, 0)  # λ[α(e^min(x,0) − 1) + max(x, 0)]
        np.expm1(h, out=h)
        h *= _SELU_ALPHA
        h += np.maximum(x, 0)
        h *= _SELU_SCALE
        return h

    def df(self, x, y):
        la = _SELU_SCALE * _SELU_ALPHA
        d = (x > 0).astype(x.dtype)  # λ where x > 0, else λα + min(y, 0) = λαe^x
        d *= _SELU_SCALE - la
        d += la
        d += np.minimum(y, 0)
        return d


class GELU(Activation):
    """Gaussian error linear unit (Hendrycks & Gimpel 2016): h(x) = x·Φ(x) = x·P(X ≤ x), X ~ N(0, 1);
    ∂h/∂x = Φ(x) + x·φ(x).

    Args:
        approximate: ``"none"`` (exact, via ``scipy.special.ndtr``; several times slower
            than the other two), ``"tanh"``:
            h ≈ ½x(1 + tanh[√(2/π)(x + 0.044715x³)]),
            ∂h/∂x = ½(1 + t) + ½x(1 − t²)√(2/π)(1 + 3·0.044715x²) with t the tanh; or ``"sigmoid"``: h ≈ x·σ(1.702x) (seed 004; Swish with β = 1.702),
            ∂h/∂x = s + 1.702·y(1 − s) with s = σ(1.702x). Default: ``"none"``.

    Note: PyTorch has ``"none"`` and ``"tanh"``; ``"sigmoid"`` is the notes' third form.
    """

    name = "gelu"
    APPROXIMATIONS = ("none", "tanh", "sigmoid")

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in self.APPROXIMATIONS:
            raise ValueError(f"GELU: approximate must be one of {self.APPROXIMATIONS}, got {approximate!r}")
        self.approximate = approximate

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"

    def f(self, x):
        if self.approximate == "tanh":
            return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + _GELU_TANH_C * x * x * x)))
        if self.approximate == "sigmoid":
            h = _sigmoid(_GELU_SIGMOID_C * x)
            h *= x
            return h
        h = ndtr(x)
        h *= x
        return h

    def df(self, x, y):
        if self.approximate == "tanh":
            x2 = x * x
            t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_TANH_C * x2 * x))
            return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * (_SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_TANH_C * x2))
        if self.approximate == "sigmoid":
            s = _sigmoid(_GELU_SIGMOID_C * x)
            d = 1.0 - s
            d *= _GELU_SIGMOID_C * y
            d += s
            return d
        d = x * x  # Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π)
        d *= -0.5
        np.exp(d, out=d)
        d *= _INV_SQRT_2PI
        d *= x
        d += ndtr(x)
        return d


class Swish(_Parametric):
    """Swish (Ramachandran et al. 2017): h(x) = x·σ(βx);
    ∂h/∂x = σ(βx) + β·y(1 − σ(βx))  (for β = 1, the notes' σ(x)(1 + x − xσ(x)));
    ∂h/∂β = x·y(1 − σ(βx)).

    Args:
        beta: β. Default: 1.0 (then Swish is SiLU; β = 1.702 is GELU's sigmoid form).
        learnable: make β a Parameter (shape ``(1,)``) trained with the network
            (seed 001: "β can be a constant … or a learnable parameter"). Default: False.
    """

    name = "swish"

    def __init__(self, beta: float = 1.0, learnable: bool = False):
        super().__init__()
        self.learnable = bool(learnable)
        if self.learnable:
            self.beta = Parameter(np.full(1, beta, dtype=get_default_dtype()))
        else:
            self.beta = float(beta)

    def extra_repr(self) -> str:
        b = float(self.beta.data[0]) if self.learnable else self.beta
        return f"beta={b}, learnable={self.learnable}"

    def _b(self, b):
        if b is None:  # plotting from the class: the module's current β
            b = self.beta.data.reshape(()) if self.learnable else self.beta
        return b

    def _s(self, x, b):
        return _sigmoid(x if b is None and not self.learnable and self.beta == 1.0 else self._b(b) * x)

    def f(self, x, b=None):
        h = self._s(x, b)
        h *= x
        return h

    def df(self, x, y, b=None):
        s = self._s(x, b)
        d = 1.0 - s  # σ(βx) + β·y(1 − σ(βx))
        d *= self._b(b) * y
        d += s
        return d

    def dparam(self, x, y, b=None):
        d = 1.0 - self._s(x, b)  # x·y(1 − σ(βx))
        d *= y
        d *= x
        return d

    def forward(self, x) -> Tensor:
        if self.learnable:
            return self._node(x, self.beta, "swish")
        return Activation.forward(self, x)


class SiLU(Swish):
    """Sigmoid linear unit: h(x) = x·σ(x);  ∂h/∂x = σ(x)(1 + x − xσ(x)) = σ(x) + y(1 − σ(x)).

    Swish with β = 1 fixed (PyTorch's ``nn.SiLU``).
    """

    name = "silu"

    def __init__(self):
        super().__init__(beta=1.0, learnable=False)

    def extra_repr(self) -> str:
        return ""


class Mish(Activation):
    """Mish (Misra 2019): h(x) = x·tanh(softplus(x)) = x·tanh(ln(1 + e^x));
    ∂h/∂x = t + x·σ(x)(1 − t²), with t = tanh(softplus(x)).
    """

    name = "mish"

    @staticmethod
    def _tanh_softplus(x):
        """tanh(ln(1 + e^x)) = n/(n + 2) with n = e^x(e^x + 2); exact to rounding, and
        x is capped at 20, beyond which t = 1 in float64 already (no overflow)."""
        e = np.minimum(x, 20.0)
        np.exp(e, out=e)
        n = e + 2.0
        n *= e
        t = n + 2.0
        np.divide(n, t, out=t)
        return t

    def f(self, x):
        h = self._tanh_softplus(x)
        h *= x
        return h

    def df(self, x, y):
        t = self._tanh_softplus(x)
        d = t * t  # t + x·σ(x)(1 − t²)
        np.subtract(1.0, d, out=d)
        d *= _sigmoid(x)
        d *= x
        d += t
        return d


class LiSHT(Activation):
    """Linearly scaled hyperbolic tangent (Roy et al. 2019): h(x) = x·tanh(x);
    ∂h/∂x = tanh(x) + x(1 − tanh²(x)).

    Note: PyTorch has no LiSHT; its tests check the formula and finite differences.
    """

    name = "lisht"

    def f(self, x):
        h = np.tanh(x)
        h *= x
        return h

    def df(self, x, y):
        t = np.tanh(x)
        d = t * t  # tanh(x) + x(1 − tanh²(x))
        np.subtract(1.0, d, out=d)
        d *= x
        d += t
        return d


class Softplus(Activation):
    """Softplus: h(x) = (1/β)·ln(1 + e^(βx));  ∂h/∂x = σ(βx) (the notes' 1/(1 + e^−x) for β = 1).

    Args:
        beta: β. Default: 1.
        threshold: where βx > threshold, h(x) = x and ∂h/∂x = 1 (PyTorch's
            semantics: the two differ there by less than e^−threshold). Default: 20.

    Computed stably as [max(βx, 0) + ln(1 + e^−|βx|)]/β.
    """

    name = "softplus"

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        if not beta > 0:
            raise ValueError(f"Softplus: beta must be > 0, got {beta!r}")
        self.beta = float(beta)
        self.threshold = float(threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"

    def _bx(self, x):
        return x if self.beta == 1.0 else self.beta * x

    def f(self, x):
        bx = self._bx(x)
        h = _softplus(bx)
        if self.beta != 1.0:
            h /= self.beta
        linear = bx > self.threshold
        if linear.any():
            h[linear] = x[linear]
        return h

    def df(self, x, y):
        bx = self._bx(x)
        d = _sigmoid(bx)
        d[bx > self.threshold] = 1.0
        return d


class Softmax(Activation):
    """Softmax over ``axis``: h(x)_i = e^(x_i − μ) / Σ_j e^(x_j − μ), μ = max_j x_j (seed 003's stable form);
    ∂h_i/∂x_j = h_i(δ_ij − h_j), so the backward is y ⊙ (g − Σ_j g_j y_j).

    Args:
        axis: the axis that sums to 1. Default: -1.

    ``df`` gives the Jacobian's diagonal y(1 − y) (for plots); the node uses the
    full vector-Jacobian product. A slice that is all −inf gives NaN, as in PyTorch.
    """

    name = "softmax"
    elementwise = False

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = int(axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"

    def _check(self, x):
        if x.ndim == 0:
            raise ValueError(f"{type(self).__name__}: needs an input with at least 1 axis, got shape ()")

    def f(self, x):
        self._check(x)
        e = np.exp(x - x.max(axis=self.axis, keepdims=True))
        e /= e.sum(axis=self.axis, keepdims=True)
        return e

    def df(self, x, y):
        return y * (1.0 - y)

    def vjp(self, g, x, y):
        gy = g * y
        gy -= y * gy.sum(axis=self.axis, keepdims=True)
        return gy

    def forward(self, x) -> Tensor:
        x = _input(x, type(self).__name__)
        xd = x.data
        y = self.f(xd)
        return make_node(y, (x,), lambda g: (self.vjp(g, xd, y),), self.name)


class LogSoftmax(Softmax):
    """Log-softmax over ``axis``: h(x)_i = x_i − μ − ln Σ_j e^(x_j − μ), μ = max_j x_j;
    ∂h_i/∂x_j = δ_ij − softmax(x)_j, so the backward is g − softmax(x)·Σ_j g_j.

    ``df`` gives the Jacobian's diagonal 1 − e^y (for plots).
    """

    name = "log_softmax"

    def f(self, x):
        self._check(x)
        z = x - x.max(axis=self.axis, keepdims=True)
        z -= np.log(np.exp(z).sum(axis=self.axis, keepdims=True))
        return z

    def df(self, x, y):
        return 1.0 - np.exp(y)

    def vjp(self, g, x, y):
        return g - np.exp(y) * g.sum(axis=self.axis, keepdims=True)


# -- the registry ------------------------------------------------------------------------------

ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls
    for cls in (Identity, BinaryStep, Sigmoid, Tanh, ReLU, ReLU6, LeakyReLU, PReLU, ELU, SELU, GELU,
                Swish, SiLU, Mish, LiSHT, Softplus, Softmax, LogSoftmax)
}
"""snake_case name -> activation class; every entry is tested by the registry-driven harness."""

ALIASES: dict[str, str] = {
    "linear": "identity", "logistic": "sigmoid", "step": "binary_step",
    # the class names, lower-cased ("leakyrelu", "logsoftmax", ...)
    **{cls.__name__.lower(): name for name, cls in ACTIVATIONS.items() if cls.__name__.lower() != name},
}
"""Other accepted spellings -> registry name."""


def activation(spec=None, **kwargs) -> Module:
    """Build an activation module from a name, a class, an instance or None.

    Args:
        spec: a registry name (``"relu"``, ``"leaky_relu"``, ``"gelu"``; also the
            class name in any case, ``"LeakyReLU"``, and the aliases ``"linear"``,
            ``"logistic"``, ``"step"``), an activation class, a Module instance
            (returned as is), or None (→ :class:`Identity`).
        **kwargs: passed to the class (``activation("leaky_relu", alpha=0.1)``).

    Raises:
        ValueError: unknown name (the message lists the valid ones).
        TypeError: anything else, or keyword arguments given with an instance.

    >>> activation("leaky_relu", alpha=0.2)
    LeakyReLU(alpha=0.2)
    """
    if spec is None:
        if kwargs:
            raise TypeError(f"activation(None) builds Identity, which takes no arguments; got {sorted(kwargs)}")
        return Identity()
    if isinstance(spec, Module):
        if kwargs:
            raise TypeError(f"activation: got an instance ({spec!r}) and keyword arguments {sorted(kwargs)}; "
                            "pass the name or the class to construct one with arguments")
        return spec
    if isinstance(spec, type) and issubclass(spec, Module):
        return spec(**kwargs)
    if isinstance(spec, str):
        key = spec if spec in ACTIVATIONS else spec.lower()
        key = ALIASES.get(key, key)
        if key not in ACTIVATIONS:
            raise ValueError(
                f"activation: unknown name {spec!r}; valid names are {', '.join(sorted(ACTIVATIONS))} "
                f"(aliases: {', '.join(sorted(ALIASES))})"
            )
        return ACTIVATIONS[key](**kwargs)
    raise TypeError(f"activation: expected a name, an activation class, a Module or None, got {type(spec).__name__}")


# -- functional forms ----------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _instance(cls, *args):
    """One shared, stateless instance per (class, hyperparameters) for the functional forms."""
    return cls(*args)


def identity(x) -> Tensor:
    """h(x) = x (returns ``x``)."""
    return _instance(Identity).forward(x)


def binary_step(x) -> Tensor:
    """h(x) = 1 if x ≥ 0 else 0;  ∂h/∂x = 0."""
    return _instance(BinaryStep).forward(x)


def sigmoid(x) -> Tensor:
    """σ(x);  ∂h/∂x = σ(1 − σ)."""
    return _instance(Sigmoid).forward(x)


def tanh(x) -> Tensor:
    """tanh(x);  ∂h/∂x = 1 − tanh²."""
    return _instance(Tanh).forward(x)


def relu(x) -> Tensor:
    """max(0, x);  ∂h/∂x = [x > 0]."""
    return _instance(ReLU).forward(x)


def relu6(x) -> Tensor:
    """min(max(0, x), 6);  ∂h/∂x = [0 < x < 6]."""
    return _instance(ReLU6).forward(x)


def leaky_relu(x, alpha: float = 0.01) -> Tensor:
    """x if x > 0 else αx;  ∂h/∂x = 1 or α."""
    return _instance(LeakyReLU, float(alpha)).forward(x)


def prelu(x, weight) -> Tensor:
    """x if x > 0 else αx with α = ``weight`` (a Tensor of 1 or C values; C = x.shape[1]);
    ∂h/∂x = 1 or α, ∂h/∂α = 0 or x."""
    return _instance(PReLU)._node(x, weight, "prelu")


def elu(x, alpha: float = 1.0) -> Tensor:
    """x if x > 0 else α(e^x − 1);  ∂h/∂x = 1 or y + α."""
    return _instance(ELU, float(alpha)).forward(x)


def selu(x) -> Tensor:
    """λx if x > 0 else λα(e^x − 1);  ∂h/∂x = λ or y + λα."""
    return _instance(SELU).forward(x)


def gelu(x, approximate: str = "none") -> Tensor:
    """x·Φ(x) (or its ``"tanh"`` / ``"sigmoid"`` approximation);  ∂h/∂x = Φ(x) + xφ(x)."""
    return _instance(GELU, approximate).forward(x)


def swish(x, beta=1.0) -> Tensor:
    """x·σ(βx);  ∂h/∂x = σ(βx) + βy(1 − σ(βx)). ``beta`` may be a Tensor (then it gets a gradient)."""
    if isinstance(beta, Tensor):
        return _instance(Swish)._node(x, beta, "swish")
    return _instance(Swish, float(beta)).forward(x)


def silu(x) -> Tensor:
    """x·σ(x);  ∂h/∂x = σ(x)(1 + x − xσ(x))."""
    return _instance(SiLU).forward(x)


def mish(x) -> Tensor:
    """x·tanh(softplus(x));  ∂h/∂x = t + xσ(x)(1 − t²)."""
    return _instance(Mish).forward(x)


def lisht(x) -> Tensor:
    """x·tanh(x);  ∂h/∂x = tanh(x) + x(1 − tanh²(x))."""
    return _instance(LiSHT).forward(x)


def softplus(x, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """(1/β)ln(1 + e^(βx)) (x where βx > threshold);  ∂h/∂x = σ(βx)."""
    return _instance(Softplus, float(beta), float(threshold)).forward(x)


def softmax(x, axis: int = -1) -> Tensor:
    """e^(x_i − μ)/Σ_j e^(x_j − μ) over ``axis``;  backward y ⊙ (g − Σ g y)."""
    return _instance(Softmax, int(axis)).forward(x)


def log_softmax(x, axis: int = -1) -> Tensor:
    """x_i − μ − ln Σ_j e^(x_j − μ) over ``axis``;  backward g − softmax(x)·Σ g."""
    return _instance(LogSoftmax, int(axis)).forward(x)
