"""Weight initialisers, each ``fn(shape, rng, dtype=None, **kw) -> np.ndarray``.

Weights have PyTorch's layout ``(out, in)``, so ``fan_in = shape[1]`` and
``fan_out = shape[0]`` (for more than two dims the trailing ones multiply both, as
in PyTorch). The notes write ``W = np.random.randn(fan_in, fan_out) / np.sqrt(fan_in)``
— the transposed layout, same distribution.

Seed 001's argument: with zero-mean weights and inputs, Var(s) = n·Var(w)·Var(x), so
the variance of layer k grows like [n·Var(w)]^k; keeping n·Var(w) = 1 keeps it
steady. The initialisers below choose Var(w) accordingly:

===================  ===============================  =======================
name                 distribution                     Var(w)
===================  ===============================  =======================
``zeros``            0                                0
``constant``         value                            0
``normal``           mean + std·N(0, 1)               std²
``uniform``          U(−a, a)                         a²/3
``xavier_normal``    N(0, gain²·2/(fan_in+fan_out))   2/(fan_in+fan_out)
``xavier_uniform``   U(±gain·√(6/(fan_in+fan_out)))   2/(fan_in+fan_out)
``he_normal``        N(0, 2/fan)                      2/fan_in  (notes: randn/√(fan_in/2))
``he_uniform``       U(±√(6/fan))                     2/fan_in
``lecun_normal``     N(0, 1/fan_in)                   1/fan_in  (notes: randn/√fan_in)
``lecun_uniform``    U(±√(3/fan_in))                  1/fan_in
``orthogonal``       gain·Q, QR of a Gaussian         gain²/max(fan_in, fan_out)
``identity``         scale·I                          —
===================  ===============================  =======================

The notes' experiments are ``normal(std=0.01)`` ("0.01·randn"), ``normal(std=1)``,
``lecun_normal`` (randn/√fan_in), ``he_normal`` (randn/√(fan_in/2)) and
``identity(scale=0.5)``.

Every random initialiser draws in float64 from ``rng`` and then casts to
``dtype`` (the default dtype, float32, when None): the same seed gives the same
weights in float32 and float64, up to rounding. ``rng=None`` draws from the
global generator (``layerlab.seed``).

By name: :data:`INITIALIZERS` maps names (plus the aliases ``glorot_*`` and
``kaiming_*``) to functions, and :func:`get` turns a name, a callable or a
``(name, {kwargs})`` pair into a callable ``(shape, rng, dtype=None)``.
"""

from __future__ import annotations

import functools
import inspect
import math

import numpy as np

from .._checks import nonnegative_float
from ..backend import get_default_dtype
from ..random import get_rng

__all__ = [
    "zeros", "constant", "normal", "uniform", "xavier_normal", "xavier_uniform",
    "he_normal", "he_uniform", "lecun_normal", "lecun_uniform", "orthogonal", "identity",
    "calculate_gain", "fans", "INITIALIZERS", "get",
]


# -- helpers ------------------------------------------------------------------------------

def _shape(shape) -> tuple:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"init: negative dimension in shape {shape}")
    return shape


def _dtype(dtype) -> np.dtype:
    return get_default_dtype() if dtype is None else np.dtype(dtype)


def _rng(rng) -> np.random.Generator:
    if rng is None:
        return get_rng()
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"init: rng must be a numpy.random.Generator or None, got {type(rng).__name__}")
    return rng


def fans(shape, name: str = "init") -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape ``(out, in, *kernel)``: (in·k, out·k), k = Π kernel."""
    shape = _shape(shape)
    if len(shape) < 2:
        raise ValueError(
            f"{name}: needs a weight shape (out, in, ...) with at least 2 dims to know fan_in and "
            f"fan_out, got {shape}; for a bias use zeros, constant, normal or uniform"
        )
    k = math.prod(shape[2:])
    return shape[1] * k, shape[0] * k


def _fan(shape, mode: str, name: str) -> int:
    fan_in, fan_out = fans(shape, name)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"{name}: mode must be 'fan_in' or 'fan_out', got {mode!r}")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for an activation (PyTorch's values): linear/sigmoid 1,
    tanh 5/3, relu √2, leaky_relu √(2/(1+a²)) (a = ``param``, default 0.01), selu 3/4."""
    nl = nonlinearity.lower()
    if nl in ("linear", "identity", "sigmoid"):
        return 1.0
    if nl == "tanh":
        return 5.0 / 3.0
    if nl == "relu":
        return math.sqrt(2.0)
    if nl == "leaky_relu":
        a = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + a * a))
    if nl == "selu":
        return 0.75
    raise ValueError(
        f"calculate_gain: unknown nonlinearity {nonlinearity!r}; "
        "expected one of linear, identity, sigmoid, tanh, relu, leaky_relu, selu"
    )


# -- initialisers -------------------------------------------------------------------------

def zeros(shape, rng=None, dtype=None) -> np.ndarray:
    """w = 0 (every unit computes the same thing: the symmetry the notes warn about)."""
    return np.zeros(_shape(shape), dtype=_dtype(dtype))


def constant(shape, rng=None, dtype=None, value: float = 0.0) -> np.ndarray:
    """w = value (e.g. a bias of 0.01 to keep ReLUs alive, as seed 001 advises)."""
    return np.full(_shape(shape), float(value), dtype=_dtype(dtype))


def normal(shape, rng=None, dtype=None, std: float = 1.0, mean: float = 0.0) -> np.ndarray:
    """w ~ N(mean, std²), i.e. mean + std·randn;  Var(w) = std².

    ``normal(std=0.01)`` is the notes' "0.01·randn" (activations vanish with depth),
    ``normal(std=1)`` their "randn" (tanh/sigmoid saturate).
    """
    std = nonnegative_float(std, "std", "normal")
    z = _rng(rng).standard_normal(_shape(shape))
    return (z * std + float(mean)).astype(_dtype(dtype))


def uniform(shape, rng=None, dtype=None, a: float = 1.0) -> np.ndarray:
    """w ~ U(−a, a);  Var(w) = a²/3."""
    a = nonnegative_float(a, "a", "uniform")
    return _rng(rng).uniform(-a, a, _shape(shape)).astype(_dtype(dtype))


def xavier_normal(shape, rng=None, dtype=None, gain: float = 1.0) -> np.ndarray:
    """Glorot & Bengio (2010): w ~ N(0, σ²), σ = gain·√(2/(fan_in + fan_out))."""
    fan_in, fan_out = fans(shape, "xavier_normal")
    std = float(gain) * math.sqrt(2.0 / max(fan_in + fan_out, 1))
    return normal(shape, rng, dtype, std=std)


def xavier_uniform(shape, rng=None, dtype=None, gain: float = 1.0) -> np.ndarray:
    """Glorot & Bengio (2010): w ~ U(−a, a), a = gain·√(6/(fan_in + fan_out));  Var = 2/(fan_in+fan_out)."""
    fan_in, fan_out = fans(shape, "xavier_uniform")
    a = float(gain) * math.sqrt(6.0 / max(fan_in + fan_out, 1))
    return uniform(shape, rng, dtype, a=a)


def he_normal(shape, rng=None, dtype=None, negative_slope: float = 0.0, mode: str = "fan_in") -> np.ndarray:
    """He et al. (2015): w ~ N(0, σ²), σ = √(2/((1 + a²)·fan)), fan = fan_in by default.

    With a = 0 (ReLU) this is the notes' ``randn(fan_in, fan_out) / sqrt(fan_in/2)``:
    the factor 2 makes up for ReLU zeroing half of its inputs. PyTorch: ``kaiming_normal_``.
    """
    fan = _fan(shape, mode, "he_normal")
    a = float(negative_slope)
    std = math.sqrt(2.0 / ((1.0 + a * a) * max(fan, 1)))
    return normal(shape, rng, dtype, std=std)


def he_uniform(shape, rng=None, dtype=None, negative_slope: float = 0.0, mode: str = "fan_in") -> np.ndarray:
    """He et al. (2015): w ~ U(−b, b), b = √(6/((1 + a²)·fan));  Var = 2/((1+a²)·fan)."""
    fan = _fan(shape, mode, "he_uniform")
    a = float(negative_slope)
    return uniform(shape, rng, dtype, a=math.sqrt(6.0 / ((1.0 + a * a) * max(fan, 1))))


def lecun_normal(shape, rng=None, dtype=None) -> np.ndarray:
    """LeCun (1998): w ~ N(0, 1/fan_in) — the notes' ``randn / sqrt(fan_in)``, n·Var(w) = 1."""
    fan_in, _ = fans(shape, "lecun_normal")
    return normal(shape, rng, dtype, std=1.0 / math.sqrt(max(fan_in, 1)))


def lecun_uniform(shape, rng=None, dtype=None) -> np.ndarray:
    """LeCun (1998): w ~ U(−b, b), b = √(3/fan_in);  Var(w) = 1/fan_in."""
    fan_in, _ = fans(shape, "lecun_uniform")
    return uniform(shape, rng, dtype, a=math.sqrt(3.0 / max(fan_in, 1)))


def orthogonal(shape, rng=None, dtype=None, gain: float = 1.0) -> np.ndarray:
    """Saxe et al. (2014): gain·Q with Q from the QR decomposition of a Gaussian matrix
    (signs fixed by diag R, so Q is uniform over the orthogonal group).

    The weight is viewed as (out, in·k); its rows are orthonormal when out ≤ in·k,
    its columns otherwise.
    """
    shape = _shape(shape)
    if len(shape) < 2:
        raise ValueError(f"orthogonal: needs at least 2 dims, got shape {shape}")
    rows, cols = shape[0], math.prod(shape[1:])
    z = _rng(rng).standard_normal((rows, cols))
    if rows < cols:
        z = z.T
    q, r = np.linalg.qr(z)
    q = q * np.sign(np.diag(r))  # a zero pivot would zero a column; it has probability 0
    if rows < cols:
        q = q.T
    return (float(gain) * q).reshape(shape).astype(_dtype(dtype))


def identity(shape, rng=None, dtype=None, scale: float = 1.0) -> np.ndarray:
    """w = scale·I (a rectangular eye for out ≠ in): the notes' ``identity(0.5)`` experiment."""
    shape = _shape(shape)
    if len(shape) != 2:
        raise ValueError(f"identity: needs a 2-D weight shape (out, in), got {shape}")
    return (float(scale) * np.eye(shape[0], shape[1])).astype(_dtype(dtype))


# -- registry -----------------------------------------------------------------------------

INITIALIZERS: dict = {fn.__name__: fn for fn in (
    zeros, constant, normal, uniform, xavier_normal, xavier_uniform,
    he_normal, he_uniform, lecun_normal, lecun_uniform, orthogonal, identity,
)}
INITIALIZERS.update({
    "glorot_normal": xavier_normal, "glorot_uniform": xavier_uniform,
    "kaiming_normal": he_normal, "kaiming_uniform": he_uniform,
})


def get(init, **kw):
    """A callable ``(shape, rng, dtype=None) -> np.ndarray`` for ``init``.

    ``init`` is a registered name (``"he_normal"``), a ``(name, {kwargs})`` pair
    (``("normal", {"std": 0.01})``), or a callable ``(shape, rng)`` /
    ``(shape, rng, dtype)`` returned as is. ``kw`` are bound to a named initialiser.
    """
    if isinstance(init, tuple) and len(init) == 2 and isinstance(init[0], str) and isinstance(init[1], dict):
        return get(init[0], **{**init[1], **kw})
    if isinstance(init, str):
        fn = INITIALIZERS.get(init.lower())
        if fn is None:
            raise ValueError(f"unknown initialiser {init!r}; valid names: {', '.join(sorted(INITIALIZERS))}")
        if not kw:
            return fn
        try:  # fail now, naming the initialiser, rather than at the first draw
            inspect.signature(fn).bind((1, 1), None, None, **kw)
        except TypeError:
            params = [p for p in inspect.signature(fn).parameters if p not in ("shape", "rng", "dtype")]
            raise TypeError(
                f"initialiser {init!r} does not take {sorted(kw)}; its options are {params or 'none'}"
            ) from None
        return functools.partial(fn, **kw)
    if callable(init):
        return functools.partial(init, **kw) if kw else init
    raise TypeError(
        f"init must be an initialiser name, a (name, kwargs) pair or a callable (shape, rng) -> array; "
        f"got {type(init).__name__} {init!r}"
    )
