"""Elementwise kernels: NumPy (compiled loops where numba is installed, below), no graph, no
Tensor — the one home of the formulas that ``ops.py`` (the primitives), ``nn/activations.py``
(the fused activations), ``nn/losses.py`` (the fused losses) and ``optim`` (the updates) share.

Each function takes an ``np.ndarray`` of any shape and returns a *new* array of the same
shape and dtype (those whose name ends in ``_`` update their first arguments in place):
float32 stays float32 (nothing is promoted to float64), so a caller may write into the
result (``d *= g``). A 0-d input is accepted everywhere; the kernels that are a single
ufunc (``tanh``, ``relu``, ``relu_grad``) then return a NumPy scalar, as NumPy does. The
``*_grad`` kernels give the derivative from the saved *output* y, where that is cheaper than
from x; ``*_vjp`` multiplies the upstream gradient in (a node's whole backward).

Speed: the kernels avoid ``np.where`` (slow on random masks) and scipy's
``expit``/``logaddexp`` (several times slower than the NumPy expressions here), and
work in place on their own first temporary, so σ(x) costs one allocation and four
passes. Stability: σ never gives NaN (it is exactly 0 for x ≲ −88 in float32, as in
PyTorch), softplus never overflows, the softmaxes subtract the row maximum first.

Compiled paths (optional). When numba is installed (and ``LAYERLAB_JIT`` is not ``0``), the
hottest elementwise work of a training step runs as single-pass compiled loops instead of
several NumPy passes: :func:`tanh` (float32), :func:`tanh_vjp`, :func:`sub_scaled_` (the SGD
update) and :func:`adam_direction_`. Only arrays of at least ``JIT_MIN`` elements take them
(below that a NumPy call costs no more). numba is imported, and the loops compiled (cached on
disk), at the first such call — never at ``import layerlab``. The loops are the NumPy
expressions written out in the same order, with no fast-math (no FMA contraction, no
reassociation), so they give bit-identical results, except the float32 tanh, which is a
rational approximation (Eigen's, as TensorFlow's CPU tanh: relative error ≤ 4·10⁻⁷, at most 7 ulp
near ±1, where np.tanh's is 1 ulp; float64 always uses np.tanh). Without numba every function
here is plain NumPy.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = [
    "sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "tanh_vjp", "relu", "relu_grad", "softplus",
    "softmax", "log_softmax", "mul_into", "sub_scaled_", "lerp_", "ema_sq_", "adam_direction_", "jit_enabled",
    "compile_loop", "JIT_MIN",
]

JIT_MIN = 1 << 14  # elements: smaller arrays stay on NumPy (a call costs about the same there)


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
    """tanh(x) = (e^x − e^−x)/(e^x + e^−x) = 2σ(2x) − 1;  tanh'(x) = 1 − tanh²(x) (see :func:`tanh_grad`).

    np.tanh, or for a large float32 array with numba the compiled rational approximation
    (:func:`_tanh_loop`, ≈ 6× faster than np.tanh's float32 loop here)."""
    if x.dtype == np.float32 and _flat(x) and (jit := _jit()) is not None:
        out = np.empty_like(x)
        jit.tanh(x.reshape(-1), out.reshape(-1))
        return out
    return np.tanh(x)


def tanh_grad(y: np.ndarray) -> np.ndarray:
    """tanh'(x) = 1 − y² from the output y = tanh(x), on one temporary."""
    if y.ndim == 0:
        return tanh_grad(y.reshape(1)).reshape(())
    d = y * y
    np.subtract(1.0, d, out=d)
    return d


def tanh_vjp(g: np.ndarray, y: np.ndarray) -> np.ndarray:
    """g ⊙ tanh'(x) = g ⊙ (1 − y²) from the output y = tanh(x): the backward of a tanh node, in a
    fresh array (one compiled pass with numba, else :func:`tanh_grad` and :func:`mul_into`)."""
    if _flat(g, y) and (jit := _jit()) is not None:
        out = np.empty_like(g)
        jit.tanh_vjp(g.reshape(-1), y.reshape(-1), out.reshape(-1), g.dtype.type(1.0))
        return out
    return mul_into(g, tanh_grad(y))


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


def sub_scaled_(p: np.ndarray, u: np.ndarray, lr: float, u_free: bool = False) -> None:
    """p ← p − lr·u in place (the step θ ← θ − η·u), ``lr`` a Python float, rounded as NumPy rounds
    ``p - lr * u`` (η·u first, in p's dtype). One compiled pass with numba; else two NumPy passes,
    with a temporary for η·u unless ``u_free`` (u is the caller's own scratch: it is scaled in place)."""
    if _flat(p, u) and p.flags.writeable and (jit := _jit()) is not None:
        jit.sub_scaled(p.reshape(-1), u.reshape(-1), p.dtype.type(lr))
    elif u_free:
        u *= lr
        np.subtract(p, u, out=p)
    else:
        np.subtract(p, lr * u, out=p)


def lerp_(m: np.ndarray, x: np.ndarray, w: float) -> np.ndarray:
    """m ← m + w·(x − m) in place, evaluated as torch's ``lerp_`` does (for w ≥ ½: m ← x − (1 − w)·(x − m),
    stable); returns its scratch array, which the caller may reuse."""
    d = x - m
    if abs(w) < 0.5:
        d *= w
        m += d
    else:
        d *= 1.0 - w
        np.subtract(x, d, out=m)
    return d


def ema_sq_(v: np.ndarray, g: np.ndarray, beta: float) -> np.ndarray:
    """v ← β·v + ((1 − β)·g)·g in place (torch: ``v.mul_(β).addcmul_(g, g, value=1-β)``); returns its
    scratch array, which the caller may reuse."""
    v *= beta
    t = (1.0 - beta) * g
    t *= g
    v += t
    return t


def adam_direction_(m: np.ndarray, v: np.ndarray, g: np.ndarray, b1: float, b2: float, t: int,
                    eps: float) -> np.ndarray:
    """One Adam step's moments, in place, and its direction, fresh (torch's formulas and order):

    m ← m + (1 − β₁)·(g − m)  (torch's ``lerp_``; for 1 − β₁ ≥ ½: m ← g − β₁·(g − m));
    v ← β₂·v + ((1 − β₂)·g)·g;
    u = (m / (1 − β₁ᵗ)) / (√v / √(1 − β₂ᵗ) + ε).

    With numba one compiled pass over the four arrays; else :func:`lerp_`, :func:`ema_sq_` and NumPy
    passes on their scratch. Both round every operation as written here (bit-identical to each other).
    """
    w = 1.0 - b1
    bc1 = 1.0 - b1 ** t
    bc2_sqrt = (1.0 - b2 ** t) ** 0.5
    if _flat(g, m, v) and m.flags.writeable and v.flags.writeable and (jit := _jit()) is not None:
        out = np.empty_like(g)
        f = g.dtype.type
        jit.adam(m.reshape(-1), v.reshape(-1), g.reshape(-1), out.reshape(-1), f(w), f(1.0 - w), abs(w) < 0.5,
                 f(b2), f(1.0 - b2), f(bc1), f(bc2_sqrt), f(eps))
        return out
    lerp_(m, g, w)
    d = ema_sq_(v, g, b2)
    np.sqrt(v, out=d)  # ema_sq_'s scratch is free: the denominator √v/√(1 − β₂ᵗ) + ε
    d /= bc2_sqrt
    d += eps
    out = m / bc1
    out /= d
    return out


# -- the compiled loops ------------------------------------------------------------------------
# Plain Python loops over flat (1-D, contiguous) arrays, compiled by numba at the first call that
# needs them (``_jit``); each writes out the NumPy expression it replaces in the same order.

_TANH_CLAMP = 7.90531110763549805  # |x| beyond which the float32 rational gives ±1


def _tanh_loop(x, out):
    """tanh(x) ≈ x·P(x²)/Q(x²) on x clamped to ±7.905 (Eigen's float32 ``generic_fast_tanh_float``;
    relative error ≤ 4·10⁻⁷): P of degree 6 in x², Q of degree 3. NaN stays NaN (the clamps keep it),
    ±inf → ±1, −0 → −0."""
    c = np.float32(_TANH_CLAMP)
    for i in range(x.size):
        z = x[i]
        z = c if z > c else z
        z = -c if z < -c else z
        z2 = z * z
        p = np.float32(-2.76076847742355e-16)
        p = p * z2 + np.float32(2.00018790482477e-13)
        p = p * z2 + np.float32(-8.60467152213735e-11)
        p = p * z2 + np.float32(5.12229709037114e-08)
        p = p * z2 + np.float32(1.48572235717979e-05)
        p = p * z2 + np.float32(6.37261928875436e-04)
        p = p * z2 + np.float32(4.89352455891786e-03)
        q = np.float32(1.19825839466702e-06)
        q = q * z2 + np.float32(1.18534705686654e-04)
        q = q * z2 + np.float32(2.26843463243900e-03)
        q = q * z2 + np.float32(4.89352518554385e-03)
        out[i] = p * z / q


def _tanh_vjp_loop(g, y, out, one):
    """out = (1 − y·y)·g, rounded as ``d = y*y; d = 1 - d; d *= g`` (``one``: 1 in the arrays' dtype)."""
    for i in range(g.size):
        out[i] = (one - y[i] * y[i]) * g[i]


def _sub_scaled_loop(p, u, lr):
    """p ← p − lr·u, rounded as ``np.subtract(p, lr * u, out=p)``."""
    for i in range(p.size):
        p[i] = p[i] - lr * u[i]


def _adam_loop(m, v, g, out, w, one_w, small_w, b2, one_b2, bc1, bc2_sqrt, eps):
    """:func:`adam_direction_` elementwise, each operation in the NumPy path's order (the scalars
    come in the arrays' dtype, as NumPy casts Python floats)."""
    for i in range(g.size):
        gi = g[i]
        d = gi - m[i]
        if small_w:
            mi = m[i] + d * w
        else:
            mi = gi - d * one_w
        m[i] = mi
        vi = v[i] * b2 + (gi * one_b2) * gi
        v[i] = vi
        out[i] = (mi / bc1) / (np.sqrt(vi) / bc2_sqrt + eps)


def _flat(a: np.ndarray, *others: np.ndarray) -> bool:
    """May the compiled loops take these arrays? Plain C-contiguous float32/float64 ndarrays of one shape
    and dtype, with at least ``JIT_MIN`` elements (anything else — views with strides, subclasses,
    small arrays — takes the NumPy path)."""
    if type(a) is not np.ndarray or a.size < JIT_MIN or a.dtype not in _FLOATS or not a.flags.c_contiguous:
        return False
    return all(type(b) is np.ndarray and b.shape == a.shape and b.dtype == a.dtype and b.flags.c_contiguous
               for b in others)


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_JIT_UNSET = object()
_JIT = _JIT_UNSET


def compile_loop(fn, *, reassoc: bool = False):
    """``fn`` compiled by numba as every compiled loop of layerlab is (here and in ``probes._loops``): cached
    on disk, ``nogil`` (other Python threads run meanwhile), NumPy's error model, no fast-math (the same
    float operations, in the same order, as written). Compilation happens at the first call; numba must be
    installed (see :func:`jit_enabled`).

    ``reassoc=True`` lets LLVM reorder additions (fast-math's ``reassoc`` flag alone: no contraction into
    FMA, no change to NaN/Inf semantics), so that a running sum vectorises — about 5× faster. Only for a
    probe's statistics accumulated in float64 (their order then depends on the vector width, at the
    10⁻¹⁶ level), never for a kernel whose result trains a network."""
    import numba

    return numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"} if reassoc else False)(fn)


class _Compiled:
    """The loops above, compiled."""

    def __init__(self):
        self.tanh = compile_loop(_tanh_loop)
        self.tanh_vjp = compile_loop(_tanh_vjp_loop)
        self.sub_scaled = compile_loop(_sub_scaled_loop)
        self.adam = compile_loop(_adam_loop)


def _jit():
    """The compiled loops, or None when numba is not installed or ``LAYERLAB_JIT=0`` (read once)."""
    global _JIT
    if _JIT is _JIT_UNSET:
        _JIT = None
        if os.environ.get("LAYERLAB_JIT", "1") != "0":
            try:
                import numba  # noqa: F401
            except ImportError:
                pass
            else:
                _JIT = _Compiled()
    return _JIT


def jit_enabled() -> bool:
    """True when the compiled paths are in use (numba installed and ``LAYERLAB_JIT`` not ``0``)."""
    return _jit() is not None
