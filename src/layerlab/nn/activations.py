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
output or mask. Nothing is promoted to float64. The formulas shared with ``ops``
and the losses (σ, softplus, tanh, relu, the softmaxes) are the kernels of
:mod:`layerlab.kernels`, written once there.

Traits: each class says whether and where it saturates (``saturates = (lo, hi)``
or None) and whether its units can die (``can_die``); the probes read these and
hold no list of activation names (see :class:`Activation`).

Adding an activation is one class: a subclass of :class:`Activation` with its own
``name`` registers itself in ``ACTIVATIONS`` (snake_case name -> class, built from
the classes, never parsed from strings) when it is defined; from then on
:func:`activation` builds it by name, the registry-driven tests check it, the lab
plots it and the probes count its dead and saturated units.
:func:`unregister_activation` removes one.
"""

from __future__ import annotations

import ast
import functools
import math
import numbers

import numpy as np

from .. import kernels, ops
from .._checks import positive_int
from ..backend import get_default_dtype
from ..kernels import mul_into
from ..tensor import Tensor, make_node
from .module import Module, Parameter


def ndtr(x):
    """Φ(x), the standard normal CDF (``scipy.special.ndtr``; scipy is imported on first use, not at start-up)."""
    from scipy.special import ndtr as _ndtr

    return _ndtr(x)


__all__ = [
    "Activation", "Identity", "BinaryStep", "Sigmoid", "Tanh", "ReLU", "ReLU6", "LeakyReLU", "PReLU",
    "ELU", "SELU", "GELU", "Swish", "SiLU", "Mish", "LiSHT", "Softplus", "Softmax", "LogSoftmax",
    "ACTIVATIONS", "ALIASES", "activation", "unregister_activation",
    "identity", "binary_step", "sigmoid", "tanh", "relu", "relu6", "leaky_relu", "prelu", "elu", "selu",
    "gelu", "swish", "silu", "mish", "lisht", "softplus", "softmax", "log_softmax",
]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_TANH_C = 0.044715
_GELU_SIGMOID_C = 1.702
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


# -- the registry: filled by the classes themselves (Activation.__init_subclass__) ----------------

ACTIVATIONS: dict[str, type] = {}
"""snake_case name -> activation class, in the order the classes were defined; every entry is
checked by the registry-driven test harness. Filled by :meth:`Activation.__init_subclass__`."""

ALIASES: dict[str, str] = {"linear": "identity", "logistic": "sigmoid", "step": "binary_step"}
"""Other accepted spellings -> registry name: these three, and each class's name lower-cased
(``"leakyrelu"``, ``"logsoftmax"``) where it differs from its registry name."""


def _qualname(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _register(cls) -> None:
    """Put ``cls`` in ACTIVATIONS under ``cls.name`` (see :meth:`Activation.__init_subclass__`)."""
    name = cls.__dict__["name"]
    if not isinstance(name, str):
        raise TypeError(f"{cls.__qualname__}: name must be a str (the registry key), got {name!r}")
    old = ACTIVATIONS.get(name)
    if old is not None and _qualname(old) != _qualname(cls):
        raise ValueError(
            f"{cls.__qualname__}: the activation name {name!r} is already taken by {_qualname(old)}; "
            f"give the class another name, or call nn.unregister_activation({name!r}) first"
        )
    if old is None and name in ALIASES:
        raise ValueError(
            f"{cls.__qualname__}: {name!r} is already an alias of the activation {ALIASES[name]!r}; "
            "give the class another name"
        )
    ACTIVATIONS[name] = cls  # the same module + qualname again (a reload, a re-run cell) replaces it
    alias = cls.__name__.lower()
    if alias != name and alias not in ACTIVATIONS and alias not in ALIASES:
        ALIASES[alias] = name


def unregister_activation(name: str) -> type:
    """Remove the activation ``name`` (and its aliases) from :data:`ACTIVATIONS`; returns its class.

    Raises:
        ValueError: no activation of that name is registered.
    """
    if name not in ACTIVATIONS:
        raise ValueError(
            f"unregister_activation: no activation named {name!r}; registered: {', '.join(ACTIVATIONS)}"
        )
    cls = ACTIVATIONS.pop(name)
    for alias in [a for a, n in ALIASES.items() if n == name]:
        del ALIASES[alias]
    return cls


def _check_traits(cls) -> None:
    """Validate the traits a class sets itself (and store a saturation range as floats)."""
    own = cls.__dict__
    if "saturates" in own and own["saturates"] is not None:
        s = own["saturates"]
        ends_ok = isinstance(s, tuple) and len(s) == 2 and all(
            e is None or (isinstance(e, numbers.Real) and not isinstance(e, bool) and math.isfinite(e)) for e in s)
        if not (ends_ok and s != (None, None) and (None in s or s[0] < s[1])):
            raise TypeError(
                f"{cls.__qualname__}: saturates must be None or a tuple (lo, hi) of finite numbers with "
                f"lo < hi, one of which may be None (that end does not saturate); got {s!r}"
            )
        cls.saturates = tuple(None if e is None else float(e) for e in s)
    if "can_die" in own and not isinstance(own["can_die"], bool):
        raise TypeError(f"{cls.__qualname__}: can_die must be True or False, got {own['can_die']!r}")


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
    """Base class: an activation h = f(x) with its derivative ∂h/∂x = df(x, y), and its traits.

    A subclass sets ``name`` (its registry key) and defines, on NumPy arrays with at
    least one axis:

    - ``f(x)``: the forward map;
    - ``df(x, y)``: ∂h/∂x elementwise, from the input ``x`` and the output ``y = f(x)``;
      it must return a *new* array (the node multiplies the gradient into it: :meth:`vjp`
      g ⊙ df(x, y), which a class may fuse into one kernel, as Tanh does).

    :meth:`forward` wraps both into one graph node (0-d inputs are computed as
    shape (1,), since NumPy ufuncs turn 0-d arrays into scalars). ``elementwise`` is False for
    Softmax/LogSoftmax, whose Jacobian is not diagonal: there ``df`` gives the
    Jacobian's diagonal (for plots) and :meth:`vjp` the true backward.

    Registration: a subclass with its *own* non-empty ``name`` enters :data:`ACTIVATIONS`
    when it is defined (a class without one, such as a private base or a plain
    ``class MyTanh(nn.Tanh)``, does not). A name already held by a different class (or
    used as an alias) raises ``ValueError``; the same module and qualified name again (a
    reload, a re-run notebook cell) replaces the entry; :func:`unregister_activation`
    removes one.

    Traits (class attributes read by the probes, checked when the class is defined):

    - ``saturates``: ``None``, or ``(lo, hi)``, the ends of the output range towards which h
      flattens (∂h/∂x → 0); an end is ``None`` where h does not saturate (ReLU6:
      ``(None, 6.0)``; ELU: ``(−α, None)``). An output is *saturated* when it lies within
      (1 − s)·max(|lo|, |hi|) of a saturating end (``ActivationStats``' s = 0.97: |tanh| > 0.97,
      σ < 0.03 or σ > 0.97). An instance whose range depends on a hyperparameter carries
      its own ``saturates`` (ELU(α)); the class attribute is that of the default.
    - ``can_die``: True when a unit can get stuck where it passes no gradient (or only a
      leak). One rule for every such class, :meth:`dead_units`: a unit is *dead* on a batch
      when its output is ``<= 0`` for every example of the batch (no positive output on any
      input; a NaN output is not ``<= 0``). For ReLU and ReLU6 that is h = 0 everywhere, so
      its gradient is 0 on every example; for LeakyReLU and PReLU with α > 0, h ≤ 0 ⇔ x ≤ 0:
      the unit sits in its leaky regime on every input and gets only α times the gradient
      (a PReLU whose learned α is < 0 outputs h > 0 there and is not counted).
    """

    name: str = ""
    elementwise: bool = True
    saturates: tuple | None = None
    can_die: bool = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _check_traits(cls)
        if cls.__dict__.get("name"):
            _register(cls)

    def f(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} defines no f(x)")

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} defines no df(x, y)")

    def dead_units(self, y: np.ndarray) -> np.ndarray:
        """The dead units of a batch of outputs ``y`` (examples along axis 0): a boolean mask of
        shape ``y.shape[1:]``, True where the unit's output is ``<= 0`` for every example.

        The one rule behind ``can_die`` (the probes and the lab count dead units with it); it
        only means something for a class with ``can_die``.
        """
        return (y <= 0).all(axis=0)

    def forward(self, x) -> Tensor:
        x = _input(x, type(self).__name__)
        xd = x.data
        if xd.ndim == 0:
            return self._scalar(x)
        y = self.f(xd)
        vjp = self.vjp
        return make_node(y, (x,), lambda g: (vjp(g, xd, y),), self.name)

    def vjp(self, g: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The node's backward g ⊙ df(x, y) (a class may fuse the two, as Tanh does)."""
        return mul_into(g, self.df(x, y))

    def _scalar(self, x: Tensor) -> Tensor:
        xd = x.data.reshape(1)
        y = self.f(xd)
        return make_node(y.reshape(()), (x,), lambda g: (mul_into(g.reshape(1), self.df(xd, y)).reshape(()),),
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
            gx = mul_into(g, self.df(xd, y, a)).reshape(shape0) if x.requires_grad else None
            gp = mul_into(g, self.dparam(xd, y, a)).reshape(shape0) if pv.requires_grad else None
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

    Traits: saturates at (0, 1) (every output is 0 or 1, so the probes count every entry
    as saturated); ``can_die`` is False — dying is a unit *losing* its gradient, and a step
    unit never had one.
    """

    name = "binary_step"
    saturates = (0.0, 1.0)  # every output is at an end: the saturated fraction is always 1
    can_die = False  # ∂h/∂x = 0 everywhere: a unit has no gradient to lose

    def f(self, x):
        return (x >= 0).astype(x.dtype)

    def df(self, x, y):
        return np.zeros_like(x)


class Sigmoid(Activation):
    """Logistic sigmoid: h(x) = σ(x) = 1/(1 + e^−x);  ∂h/∂x = σ(x)(1 − σ(x)) = y(1 − y).

    Computed as 1/(1 + e^−x) (no overflow to NaN, no cancellation); saturates (∂h/∂x → 0) for |x| ≫ 1.
    """

    name = "sigmoid"
    saturates = (0.0, 1.0)

    def f(self, x):
        return kernels.sigmoid(x)

    def df(self, x, y):
        return kernels.sigmoid_grad(y)  # y(1 − y), on one temporary


class Tanh(Activation):
    """Hyperbolic tangent: h(x) = (e^x − e^−x)/(e^x + e^−x) = 2σ(2x) − 1;
    ∂h/∂x = 1 − tanh²(x) = 1 − y²."""

    name = "tanh"
    saturates = (-1.0, 1.0)

    def f(self, x):
        return kernels.tanh(x)

    def df(self, x, y):
        return kernels.tanh_grad(y)  # 1 − y², on one temporary

    def vjp(self, g, x, y):
        if type(self).df is not Tanh.df:  # a subclass with its own derivative
            return super().vjp(g, x, y)
        return kernels.tanh_vjp(g, y)  # g(1 − y²), one fused pass where compiled


class ReLU(Activation):
    """Rectified linear unit: h(x) = max(0, x);  ∂h/∂x = 1 if x > 0 else 0.

    Note: ReLU'(0) = 0 (the notes: "0 when x ≤ 0"; PyTorch's convention too).
    """

    name = "relu"
    can_die = True  # saturates None: its flat end, 0, is the dead region, counted as dead

    def f(self, x):
        return kernels.relu(x)

    def df(self, x, y):
        return kernels.relu_grad(y)  # the mask [y > 0]


class ReLU6(Activation):
    """ReLU capped at 6: h(x) = min(max(0, x), 6) = max(0, x) − max(0, x − 6);
    ∂h/∂x = 1 if 0 < x < 6 else 0.

    Note: the derivative is 0 at both kinks, 0 and 6 (PyTorch's convention).
    """

    name = "relu6"
    saturates = (None, 6.0)  # the lower end, 0, is the dead region
    can_die = True

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
    can_die = True  # dead: h <= 0 on every example, i.e. stuck in the α regime

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
    can_die = True

    def __init__(self, num_parameters: int = 1, init: float = 0.25):
        super().__init__()
        self.num_parameters = positive_int(num_parameters, "num_parameters", "PReLU")
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

    Traits: saturates at (−α, None): as x → −∞, h → −α and ∂h/∂x = αe^x → 0 (Clevert et
    al. 2016: "saturates to a negative value"); with the probes' s = 0.97 an entry is
    saturated when h < −0.97α, i.e. x < ln 0.03 ≈ −3.5. ``can_die`` is False: where h ≤ 0
    the gradient αe^x is not 0.
    """

    name = "elu"
    saturates = (-1.0, None)  # (−α, None) at the default α; an instance carries its own

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(alpha)
        self.saturates = (-self.alpha, None) if self.alpha > 0 else None

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

    Traits: saturates at (−λα, None) ≈ (−1.7581, None), as ELU; ``can_die`` is False.
    """

    name = "selu"
    saturates = (-_SELU_SCALE * _SELU_ALPHA, None)  # −λα ≈ −1.7581
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
    GELU, SiLU/Swish, Mish and LiSHT have a shallow negative minimum (GELU: ≈ −0.17 at
    x ≈ −0.75) but no saturating end and no dead region: ``saturates`` None, ``can_die`` False.
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
            h = kernels.sigmoid(_GELU_SIGMOID_C * x)
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
            s = kernels.sigmoid(_GELU_SIGMOID_C * x)
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
        return kernels.sigmoid(x if b is None and not self.learnable and self.beta == 1.0 else self._b(b) * x)

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
        d = kernels.tanh_grad(t)  # t + x·σ(x)(1 − t²)
        d *= kernels.sigmoid(x)
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
        h = kernels.tanh(x)
        h *= x
        return h

    def df(self, x, y):
        t = kernels.tanh(x)
        d = kernels.tanh_grad(t)  # tanh(x) + x(1 − tanh²(x))
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

    Traits: ``saturates`` is None — h flattens towards 0 as x → −∞ (∂h/∂x = σ(βx) → 0) but,
    as for ReLU, that end gives no scale on which "within 3 % of it" could be measured, and
    the gradient is never exactly 0 (``can_die`` False).
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
        h = kernels.softplus(bx)
        if self.beta != 1.0:
            h /= self.beta
        linear = bx > self.threshold
        if linear.any():
            h[linear] = x[linear]
        return h

    def df(self, x, y):
        bx = self._bx(x)
        d = kernels.sigmoid(bx)
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
        return kernels.softmax(x, self.axis)

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
        return kernels.log_softmax(x, self.axis)

    def df(self, x, y):
        return 1.0 - np.exp(y)

    def vjp(self, g, x, y):
        return g - np.exp(y) * g.sum(axis=self.axis, keepdims=True)


# -- construction by name ---------------------------------------------------------------------

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


# -- activations from expressions (the search space of Ramachandran, Zoph & Le 2017) -------------------
#
# ``Activation.from_expression("x * sigmoid(x)")`` parses a small expression language with Python's ``ast``
# (never ``eval``/``exec``: only the node types listed below are accepted, every other one is refused with
# its position) and compiles it into a function of Tensors built from layerlab's autodiff ops, so the
# derivative comes from the graph. The few functions the ops do not have (sin, cos, sinh, erf, softplus,
# √|x|) are primitive nodes here, each with its explicit derivative next to its forward (gradchecked and
# compared with PyTorch in tests/test_activation_expression.py).

_EXPR_MAX_CHARS = 2000  # longer expressions are refused before parsing (the parser's recursion is bounded)
_EXPR_GRID = np.linspace(-10.0, 10.0, 2001)  # where can_die is inferred (float64)


def _sqrt_abs(a: Tensor) -> Tensor:
    """√|a|;  d/da = sign(a)/(2√|a|), and 0 at a = 0 (the subgradient convention of abs) — the search
    space's unary, kept here: it is no op of its own anywhere else."""
    ad = a.data
    out = np.sqrt(np.abs(ad))

    def backward(g):
        d = np.zeros_like(ad)
        nz = ad != 0
        d[nz] = np.sign(ad[nz]) / (2 * out[nz])
        return (g * d,)

    return make_node(out, (a,), backward, "sqrt_abs")


def _is_zero(t) -> bool:
    return isinstance(t, Tensor) and t.ndim == 0 and not t.requires_grad and t.data == 0


def _max(a, b):
    if _is_zero(b):
        return ops.relu(a)  # max(·, 0) is ReLU, with ReLU'(0) = 0
    if _is_zero(a):
        return ops.relu(b)
    return ops.maximum(a, b)


def _min(a, b):
    return ops.minimum(a, b)


#: The functions of the expression language: name -> (number of arguments, builder on Tensors, formula).
EXPRESSION_FUNCTIONS: dict[str, tuple] = {
    "abs": (1, ops.abs, "|a|"),
    "square": (1, lambda a: ops.pow(a, 2.0), "a²"),
    "cube": (1, lambda a: ops.pow(a, 3.0), "a³"),
    "sqrt_abs": (1, _sqrt_abs, "√|a| (derivative 0 at 0)"),
    "exp": (1, ops.exp, "eᵃ"),
    "exp_neg_abs": (1, lambda a: ops.exp(ops.neg(ops.abs(a))), "e^(−|a|)"),
    "log": (1, ops.log, "ln a (NaN for a < 0: outside the search space, for tests of the filter)"),
    "softplus": (1, softplus, "ln(1 + eᵃ)"),
    "sin": (1, ops.sin, "sin a"),
    "cos": (1, ops.cos, "cos a"),
    "sinh": (1, ops.sinh, "sinh a"),
    "tanh": (1, ops.tanh, "tanh a"),
    "sigmoid": (1, ops.sigmoid, "σ(a)"),
    "erf": (1, ops.erf, "erf a"),
    "relu": (1, ops.relu, "max(a, 0)"),
    "max": (2, _max, "max(a, b) (max(a, 0) is relu(a))"),
    "min": (2, _min, "min(a, b) (ties to a)"),
}

_BINOPS = {ast.Add: ("+", ops.add), ast.Sub: ("-", ops.sub), ast.Mult: ("*", ops.mul), ast.Div: ("/", ops.div)}


def _expr_error(expr: str, what: str, col: int | None) -> ValueError:
    where = ""
    if col is not None:
        col = max(1, min(int(col), len(expr) + 1))
        where = f" at column {col}\n    {expr}\n    {' ' * (col - 1)}^"
    return ValueError(f"from_expression: in {expr!r}: {what}{where}")


def _compile_expression(expr: str):
    """Parse ``expr`` (never evaluated by Python) into (canonical text, fn(x: Tensor) -> Tensor)."""
    if not isinstance(expr, str):
        raise TypeError(f"from_expression: expected a str, got {type(expr).__name__}")
    if len(expr) > _EXPR_MAX_CHARS:
        raise _expr_error(expr[:60] + "…", f"the expression is longer than {_EXPR_MAX_CHARS} characters", None)
    if not expr.strip():
        raise _expr_error(expr, "empty expression", None)
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as e:
        raise _expr_error(expr.strip(), f"syntax error ({e.msg})", e.offset) from None
    except (RecursionError, MemoryError, ValueError) as e:
        raise _expr_error(expr.strip(), f"cannot parse ({type(e).__name__})", None) from None
    text = expr.strip()

    def col(node):
        return getattr(node, "col_offset", -1) + 1 or None

    def number(node) -> float | None:
        sign = 1.0
        while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            sign = -sign if isinstance(node.op, ast.USub) else sign
            node = node.operand
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            try:
                return sign * float(node.value)
            except OverflowError:
                raise _expr_error(text, f"the number {node.value!r} is too large", col(node)) from None
        return None

    def build(node):
        """A function of x (Tensor) -> Tensor for ``node``, after checking it."""
        if isinstance(node, ast.Name):
            if node.id != "x":
                raise _expr_error(text, f"unknown variable {node.id!r} (the only variable is x)", col(node))
            return lambda x: x
        if isinstance(node, ast.Constant):
            c = number(node)
            if c is None:
                raise _expr_error(text, f"unsupported constant {node.value!r} (only numbers)", col(node))
            return lambda x: Tensor(np.asarray(c, dtype=x.dtype))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                f = build(node.operand)
                return lambda x: ops.neg(f(x))
            if isinstance(node.op, ast.UAdd):
                return build(node.operand)
            raise _expr_error(text, f"unsupported operator {type(node.op).__name__}", col(node))
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Pow):
                e = number(node.right)
                if e is None:
                    raise _expr_error(text, "the exponent of ** must be a number (x**2, x**3)", col(node.right))
                f = build(node.left)
                return lambda x: ops.pow(f(x), e)
            if type(node.op) not in _BINOPS:
                raise _expr_error(text, f"unsupported operator {type(node.op).__name__} (only + - * / **)", col(node))
            fop = _BINOPS[type(node.op)][1]
            fa, fb = build(node.left), build(node.right)
            return lambda x: fop(fa(x), fb(x))
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise _expr_error(text, "only the functions of the language can be called", col(node))
            fname = node.func.id
            if fname not in EXPRESSION_FUNCTIONS:
                raise _expr_error(text, f"unknown function {fname!r}; known: {', '.join(EXPRESSION_FUNCTIONS)}",
                                  col(node))
            arity, fop, _ = EXPRESSION_FUNCTIONS[fname]
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise _expr_error(text, f"{fname}() takes positional arguments only", col(node))
            if len(node.args) != arity:
                raise _expr_error(text, f"{fname}() takes {arity} argument{'s' * (arity > 1)}, "
                                        f"got {len(node.args)}", col(node))
            fs = [build(a) for a in node.args]
            if arity == 1:
                f0 = fs[0]
                return lambda x: fop(f0(x))
            f0, f1 = fs
            return lambda x: fop(f0(x), f1(x))
        what = {ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Lambda: "lambda",
                ast.Compare: "comparison", ast.BoolOp: "boolean operator", ast.IfExp: "conditional expression",
                ast.Tuple: "tuple", ast.List: "list"}.get(type(node), type(node).__name__)
        raise _expr_error(text, f"unsupported syntax ({what})", col(node))

    try:
        fn = build(tree.body)
    except RecursionError:
        raise _expr_error(text, "the expression is nested too deeply", None) from None
    return ast.unparse(tree.body), fn


class ExpressionActivation(Activation):
    """An activation given by an expression of the search-space language (see
    :meth:`Activation.from_expression`); its forward is a graph of layerlab ops, so ∂h/∂x comes from
    autodiff. Subclasses are made by ``from_expression``: ``expression`` is the canonical text and
    ``graph`` the compiled function of a Tensor."""

    expression: str = ""

    @staticmethod
    def graph(x: Tensor) -> Tensor:  # replaced by each generated subclass
        raise NotImplementedError("ExpressionActivation is built by Activation.from_expression")

    def extra_repr(self) -> str:
        return f"{self.expression!r}"

    def _eval(self, x: Tensor) -> Tensor:
        out = type(self).graph(x)
        if out.shape != x.shape:  # a constant expression: broadcast to the input's shape, ∂h/∂x = 0
            full = np.array(np.broadcast_to(out.data, x.shape))
            out = make_node(full, (out, x), lambda g: (g, np.zeros_like(g)), "broadcast")
        return out

    def forward(self, x) -> Tensor:
        x = _input(x, type(self).__name__)
        if x.ndim == 0:
            return ops.reshape(self._eval(ops.reshape(x, (1,))), ())
        return self._eval(x)

    def f(self, x):
        from ..tensor import no_grad
        x = np.asarray(x)
        with no_grad(), np.errstate(all="ignore"):
            return np.array(self.forward(Tensor(x)).data, dtype=x.dtype)

    def df(self, x, y=None):
        from ..tensor import enable_grad
        x = np.asarray(x)
        t = Tensor(np.array(x), requires_grad=True)
        with enable_grad(), np.errstate(all="ignore"):
            out = self.forward(t)
            if not out.requires_grad:  # cannot happen for a graph on x, but a constant has ∂h/∂x = 0
                return np.zeros_like(x)
            out.backward(np.ones_like(out.data))
        return np.zeros_like(x) if t.grad is None else np.array(t.grad, dtype=x.dtype)


def _infer_can_die(fn) -> bool:
    """can_die, conservatively: True only when it is evident on the grid [−10, 10] — h > 0 somewhere, h ≤ 0
    on at least a tenth of the grid, and ∂h/∂x exactly 0 wherever h ≤ 0 (so the lab's dead rule "output
    ≤ 0 on every example" means "no gradient on any example", as for ReLU)."""
    probe = type("_Probe", (ExpressionActivation,), {"graph": staticmethod(fn), "__module__": __name__})()
    x = _EXPR_GRID.copy()
    y, d = probe.f(x), probe.df(x)
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(d))):
        return False
    low = y <= 0
    return bool(np.any(y > 0) and low.mean() >= 0.1 and np.all(d[low] == 0))


def expression_activation(expr: str, name: str | None = None, *, saturates=None, can_die=None):
    """See :meth:`Activation.from_expression`."""
    canonical, fn = _compile_expression(expr)
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"from_expression: name must be a non-empty str or None, got {name!r}")
    if can_die is None:
        can_die = _infer_can_die(fn)
    ns = {"__module__": __name__, "__qualname__": f"ExpressionActivation[{canonical}]",
          "__doc__": f"h(x) = {canonical} (built by Activation.from_expression).",
          "expression": canonical, "graph": staticmethod(fn), "saturates": saturates, "can_die": bool(can_die)}
    if name is not None:
        ns["name"] = name  # registers the class (a different expression under a taken name raises)
    cls = type(name or "ExpressionActivation", (ExpressionActivation,), ns)
    return cls()


def _from_expression(cls, expr: str, name: str | None = None, *, saturates=None, can_die=None):
    """An activation h(x) given by an expression, e.g. ``"x * sigmoid(x)"`` (Swish), with ∂h/∂x by autodiff.

    The language (parsed with ``ast``, never evaluated by Python): the variable ``x``; numbers; ``+ - * /``,
    unary ``-``, ``**`` with a numeric exponent; and the functions of Ramachandran et al.'s search space:
    ``abs``, ``square``, ``cube``, ``sqrt_abs`` (√|a|), ``exp``, ``exp_neg_abs`` (e^(−|a|)), ``softplus``
    (ln(1 + eᵃ)), ``sin``, ``cos``, ``sinh``, ``tanh``, ``sigmoid``, ``erf``, ``relu``, ``max(a, b)``,
    ``min(a, b)`` — and ``log`` (not in the search space). ``max(a, 0)`` is ``relu(a)`` (derivative 0 at
    0); other ties of max/min send the gradient to the first argument.

    Args:
        expr: the expression.
        name: register the activation's class under this name (then ``nn.activation(name)`` builds it, and
            the registry-driven tests, the probes and the lab see it; ``nn.unregister_activation(name)``
            removes it). None: not registered. The same expression under the same name again replaces the
            entry; another expression under a taken name raises ``ValueError``.
        saturates: the trait (default None: not inferred).
        can_die: the trait; None (default) infers it conservatively: True only when h > 0 somewhere and
            ∂h/∂x = 0 exactly wherever h ≤ 0 on [−10, 10] (ReLU-like).

    Returns:
        An *instance* (a Module, ready for ``nn.Sequential``) of a new subclass of
        :class:`ExpressionActivation`; its class (``type(act)``) builds more with no arguments.
        ``act.expression`` is the canonical text; ``act.f`` / ``act.df`` give h and ∂h/∂x on arrays.

    Raises:
        ValueError: a syntax error, an unknown function or variable, a wrong number of arguments, any
            construct outside the language (``__import__('os')``, attributes, comparisons, …): the message
            names the expression and the column.
    """
    return expression_activation(expr, name, saturates=saturates, can_die=can_die)


Activation.from_expression = classmethod(_from_expression)
__all__ += ["ExpressionActivation", "EXPRESSION_FUNCTIONS", "expression_activation"]
