"""Losses (seed 003: "losses are also modules"), each one fused graph node.

Every loss computes the per-element (or per-sample) loss ℓ, reduces it
(``reduction="mean" | "sum" | "none"``), and writes its derivative beside the
forward. Fusing buys stability where it matters: cross-entropy is log-softmax +
negative log-likelihood in one node (backward (softmax − target)/N, finite at
logits ±1000), and BCE-with-logits is logaddexp(0, x) − x·y.

Shapes are checked, never broadcast: a prediction of shape (N, 1) against a
target of shape (N,) is an error naming the loss and both shapes (PyTorch only
warns, and the silently broadcast (N, N) loss is a classic bug). Class labels
must be integers in range. Targets that do not require grad take the
prediction's dtype, so float32 in gives float32 out.

Also here: :func:`l1_penalty` and :func:`l2_penalty`, regularisers Ω(θ) to add
to a loss.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ..backend import get_default_dtype
from ..tensor import Tensor, make_node
from .module import Module


def xlogy(x, y):
    """x·log y with 0·log 0 = 0 (``scipy.special.xlogy``; scipy is imported on first use, not at start-up)."""
    from scipy.special import xlogy as _xlogy

    return _xlogy(x, y)


__all__ = [
    "MSELoss", "EuclideanLoss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "HingeLoss",
    "KLDivLoss", "ContrastiveLoss", "HuberLoss",
    "mse_loss", "euclidean_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "hinge_loss", "kl_div", "contrastive_loss", "huber_loss",
    "l1_penalty", "l2_penalty",
]

REDUCTIONS = ("mean", "sum", "none")
_BCE_LOG_MIN = -100.0  # PyTorch clamps BCE's logarithms at −100 so that p = 0 or 1 gives a finite loss
_BCE_EPS = float(np.float32(1e-12))  # PyTorch's floor on p(1 − p) in BCE's backward (its 1e-12 is a float32)


# -- argument checks ------------------------------------------------------------------------

def _check_reduction(reduction, op: str, allowed=REDUCTIONS) -> str:
    if reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, allowed))}; got {reduction!r}")
    return reduction


def _prediction(x, op: str, what: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if x.data.dtype.kind != "f":
        raise TypeError(f"{op}: the {what} must be floating point, got dtype {x.dtype} with shape {x.shape}")
    return x


def _like(t, x: Tensor, op: str, what: str = "target") -> Tensor:
    """A real-valued target: exactly ``x``'s shape; without grad it takes ``x``'s dtype."""
    if not isinstance(t, Tensor):
        t = Tensor(np.asarray(t))
    if t.data.dtype.kind not in "fiub":
        raise ValueError(f"{op}: the {what} must be numeric, got dtype {t.dtype} with shape {t.shape}")
    if t.shape != x.shape:
        raise ValueError(
            f"{op}: input shape {x.shape} and {what} shape {t.shape} differ; losses do not broadcast "
            f"(a silent broadcast computes the wrong loss) — reshape one of them, e.g. {what}.reshape({x.shape})"
        )
    if t.dtype != x.dtype:
        if t.requires_grad:
            raise TypeError(f"{op}: input is {x.dtype} but {what} is {t.dtype} and requires grad; "
                            "layerlab does not upcast silently — cast one with .astype()")
        t = Tensor(t.data.astype(x.dtype))
    return t


def _labels(t, x: Tensor, op: str, what: str = "input") -> np.ndarray:
    """Integer class labels of shape (N,) in [0, C) for an (N, C) ``x``."""
    n, c = x.shape
    arr = t.data if isinstance(t, Tensor) else np.asarray(t)
    if arr.dtype.kind not in "iu":
        raise ValueError(
            f"{op}: class labels must be integers, got dtype {arr.dtype} with shape {arr.shape} for {what} "
            f"of shape {x.shape}; cast them with .astype(np.int64)"
        )
    if arr.shape != (n,):
        raise ValueError(
            f"{op}: expected labels of shape ({n},) for {what} of shape {x.shape}, got shape {arr.shape}"
        )
    if n and (arr.min() < 0 or arr.max() >= c):
        raise ValueError(
            f"{op}: labels must lie in [0, {c}) for {what} with {c} classes (shape {x.shape}); "
            f"got values from {arr.min()} to {arr.max()}"
        )
    return arr


def _two_d(x: Tensor, op: str, what: str) -> None:
    if x.ndim != 2:
        raise ValueError(f"{op}: expected {what} of shape (N, C), got shape {x.shape}")


# -- reduction -------------------------------------------------------------------------------

def _reduce(loss: np.ndarray, reduction: str, batch: int | None = None) -> np.ndarray:
    """Reduce the per-element losses: mean, sum, none; ``batchmean`` = sum / ``batch``."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "mean":
        total = total / max(loss.size, 1)
    elif reduction == "batchmean":
        total = total / batch
    return np.asarray(total, dtype=loss.dtype)


def _dreduce(g: np.ndarray, loss: np.ndarray, reduction: str, ndim: int, batch: int | None = None) -> np.ndarray:
    """dL/dℓ: the incoming gradient spread over the unreduced losses, shaped to broadcast
    against an array of ``ndim`` axes whose leading axes are ``loss``'s."""
    if reduction == "mean":
        return g / max(loss.size, 1)
    if reduction == "batchmean":
        return g / batch
    if reduction == "sum" or g.ndim == ndim:
        return g
    return g.reshape(g.shape + (1,) * (ndim - g.ndim))


class _Loss(Module):
    """Base: holds and validates ``reduction``."""

    _reductions = REDUCTIONS

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction, type(self).__name__, self._reductions)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


# -- regression ------------------------------------------------------------------------------

def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    """ℓ = (ŷ − y)²;  ∂ℓ/∂ŷ = 2(ŷ − y), ∂ℓ/∂y = −2(ŷ − y)."""
    op = "MSELoss"
    _check_reduction(reduction, op)
    x = _prediction(input, op)
    t = _like(target, x, op)
    z = x.data - t.data
    loss = z * z

    def backward(g):
        gz = 2.0 * _dreduce(g, loss, reduction, z.ndim) * z
        return gz if x.requires_grad else None, -gz if t.requires_grad else None

    return make_node(_reduce(loss, reduction), (x, t), backward, "mse_loss")


class MSELoss(_Loss):
    """Mean squared error: ℓ(ŷ, y) = (ŷ − y)² per element, averaged over all elements ("mean");
    ∂ℓ/∂ŷ = 2(ŷ − y).

    Args:
        reduction: ``"mean"`` (over every element, PyTorch's), ``"sum"`` or ``"none"``. Default: "mean".

    Shape: input (*) and target of exactly the same shape.
    """

    def forward(self, input, target) -> Tensor:
        return mse_loss(input, target, self.reduction)


def euclidean_loss(input, target, reduction: str = "mean") -> Tensor:
    """ℓ_i = ½‖y_i − ŷ_i‖² per sample;  ∂ℓ_i/∂ŷ_i = ŷ_i − y_i."""
    op = "EuclideanLoss"
    _check_reduction(reduction, op)
    x = _prediction(input, op)
    t = _like(target, x, op)
    z = x.data - t.data
    loss = 0.5 * (z * z).sum(axis=tuple(range(1, z.ndim))) if z.ndim > 1 else 0.5 * (z * z)

    def backward(g):
        gz = _dreduce(g, loss, reduction, z.ndim) * z
        return gz if x.requires_grad else None, -gz if t.requires_grad else None

    return make_node(_reduce(loss, reduction), (x, t), backward, "euclidean_loss")


class EuclideanLoss(_Loss):
    """Euclidean loss (seed 003): ℓ(ŷ, y) = ½‖y − ŷ‖² per sample, averaged over the batch;
    ∂ℓ/∂ŷ = ŷ − y (the ½ makes the gradient the plain residual).

    Args:
        reduction: ``"mean"`` (over the N samples), ``"sum"`` or ``"none"`` (shape (N,)). Default: "mean".

    Shape: input (N, *) — the norm runs over all axes but the first; a 1-D input is N
    scalar samples, a 0-d input one — and target of exactly the same shape.
    Note: PyTorch has no EuclideanLoss; ``MSELoss(reduction="sum")/(2N)`` equals it.
    """

    def forward(self, input, target) -> Tensor:
        return euclidean_loss(input, target, self.reduction)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """ℓ = ½z² if |z| < δ else δ(|z| − ½δ), z = ŷ − y;  ∂ℓ/∂ŷ = clip(z, −δ, δ)."""
    op = "HuberLoss"
    _check_reduction(reduction, op)
    if not delta > 0:
        raise ValueError(f"{op}: delta must be > 0, got {delta!r}")
    x = _prediction(input, op)
    t = _like(target, x, op)
    z = x.data - t.data
    a = np.abs(z)
    m = np.minimum(a, delta)  # ℓ = m(|z| − m/2), m = min(|z|, δ): ½z² inside, δ(|z| − ½δ) outside
    loss = m * (a - 0.5 * m)

    def backward(g):
        gz = _dreduce(g, loss, reduction, z.ndim) * np.clip(z, -delta, delta)
        return gz if x.requires_grad else None, -gz if t.requires_grad else None

    return make_node(_reduce(loss, reduction), (x, t), backward, "huber_loss")


class HuberLoss(_Loss):
    """Huber loss: ℓ = ½z² if |z| < δ else δ(|z| − ½δ), with z = ŷ − y;
    ∂ℓ/∂ŷ = clip(z, −δ, δ).

    Quadratic near 0, linear (robust to outliers) beyond δ.

    Args:
        reduction: ``"mean"`` (over every element), ``"sum"`` or ``"none"``. Default: "mean".
        delta: δ > 0. Default: 1.0.

    Shape: input (*) and target of exactly the same shape.
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be > 0, got {delta!r}")
        self.delta = float(delta)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, delta={self.delta}"

    def forward(self, input, target) -> Tensor:
        return huber_loss(input, target, self.reduction, self.delta)


# -- classification -----------------------------------------------------------------------------

def cross_entropy(input, target, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """ℓ_i = −Σ_c q_ic log softmax(x_i)_c;
    ∂ℓ_i/∂x_i = softmax(x_i)·Σ_c q_ic − q_i (= softmax − q when rows of q sum to 1)."""
    op = "CrossEntropyLoss"
    _check_reduction(reduction, op)
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"{op}: label_smoothing must lie in [0, 1], got {label_smoothing!r}")
    x = _prediction(input, op, "logits")
    _two_d(x, op, "logits")
    n, c = x.shape
    xd = x.data
    logp = kernels.log_softmax(xd, axis=1)
    traw = target.data if isinstance(target, Tensor) else np.asarray(target)

    if traw.dtype.kind != "f":  # class indices
        y = _labels(target, x, op, "logits")
        rows = np.arange(n)
        loss = -logp[rows, y]
        if eps:
            loss = (1.0 - eps) * loss - (eps / c) * logp.sum(axis=1)

        def backward(g):
            gl = _dreduce(g, loss, reduction, 2)
            grad = np.exp(logp)
            grad[rows, y] -= 1.0 - eps
            if eps:
                grad -= eps / c
            grad *= gl
            return (grad,)

        return make_node(_reduce(loss, reduction), (x,), backward, "cross_entropy")

    if traw.shape != x.shape:
        raise ValueError(
            f"{op}: float targets are class probabilities and must have the logits' shape {x.shape}, got "
            f"shape {traw.shape}; class labels must be integers of shape ({n},) (cast with .astype(np.int64))"
        )
    t = _like(target, x, op, "probability target")  # class probabilities, shape (N, C)
    q = t.data if not eps else (1.0 - eps) * t.data + eps / c
    loss = -(q * logp).sum(axis=1)

    def backward_p(g):
        gl = _dreduce(g, loss, reduction, 2)
        gx = gt = None
        if x.requires_grad:
            gx = (np.exp(logp) * q.sum(axis=1, keepdims=True) - q) * gl
        if t.requires_grad:
            gt = (-(1.0 - eps) * gl) * logp
        return gx, gt

    return make_node(_reduce(loss, reduction), (x, t), backward_p, "cross_entropy")


class CrossEntropyLoss(_Loss):
    """Cross-entropy on logits (seed 003: −Σ_j y_j log x_j, with x = softmax of the logits), fused:
    ℓ_i = −Σ_c q_ic·log softmax(x_i)_c = logsumexp(x_i) − x_{i,y_i} for a hard label;
    ∂ℓ_i/∂x_i = softmax(x_i) − q_i.

    One node does log-softmax and the negative log-likelihood together, so it is
    finite for logits of any size (±1000 included) and its backward is the
    plain (softmax − target)/N.

    Args:
        reduction: ``"mean"`` (over the N samples), ``"sum"`` or ``"none"``. Default: "mean".
        label_smoothing: ε in [0, 1]; the target becomes q = (1 − ε)·target + ε/C
            (PyTorch's exact semantics, for labels and for probabilities). Default: 0.

    Shape: logits (N, C); target either integer class labels (N,) in [0, C), or
    float class probabilities (N, C) (each row a distribution; PyTorch does not
    check that rows sum to 1 and neither does this).
    """

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must lie in [0, 1], got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, label_smoothing={self.label_smoothing}"

    def forward(self, input, target) -> Tensor:
        return cross_entropy(input, target, self.reduction, self.label_smoothing)


def nll_loss(input, target, reduction: str = "mean") -> Tensor:
    """ℓ_i = −x_{i,y_i} (x are log-probabilities);  ∂ℓ_i/∂x_ic = −[c = y_i]."""
    op = "NLLLoss"
    _check_reduction(reduction, op)
    x = _prediction(input, op, "log-probabilities")
    _two_d(x, op, "log-probabilities")
    y = _labels(target, x, op, "log-probabilities")
    rows = np.arange(x.shape[0])
    loss = -x.data[rows, y]

    def backward(g):
        grad = np.zeros_like(x.data)
        grad[rows, y] = -_dreduce(g, loss, reduction, 1)
        return (grad,)

    return make_node(_reduce(loss, reduction), (x,), backward, "nll_loss")


class NLLLoss(_Loss):
    """Negative log-likelihood: ℓ_i = −x_{i,y_i} for log-probabilities x (e.g. from LogSoftmax);
    ∂ℓ_i/∂x_ic = −1 if c = y_i else 0.

    ``NLLLoss()(LogSoftmax()(z), y)`` equals ``CrossEntropyLoss()(z, y)`` (which is one fused node).

    Args:
        reduction: ``"mean"`` (over the N samples), ``"sum"`` or ``"none"``. Default: "mean".

    Shape: input (N, C) log-probabilities; target integer labels (N,) in [0, C).
    """

    def forward(self, input, target) -> Tensor:
        return nll_loss(input, target, self.reduction)


def binary_cross_entropy(input, target, reduction: str = "mean") -> Tensor:
    """ℓ = −[y·log p + (1 − y)·log(1 − p)] (logs clamped at −100);
    ∂ℓ/∂p = (p − y)/max(p(1 − p), 1e-12)."""
    op = "BCELoss"
    _check_reduction(reduction, op)
    x = _prediction(input, op, "input (probabilities)")
    t = _like(target, x, op)
    p, y = x.data, t.data
    if p.size and (p.min() < 0 or p.max() > 1 or np.isnan(p).any()):
        raise ValueError(
            f"{op}: input must be probabilities in [0, 1] (shape {x.shape}), got values from {np.nanmin(p)} "
            f"to {np.nanmax(p)}; for logits use BCEWithLogitsLoss (stable, and it fuses the sigmoid)"
        )
    with np.errstate(divide="ignore"):
        log1 = np.maximum(np.log(p), _BCE_LOG_MIN)
        log0 = np.maximum(np.log1p(-p), _BCE_LOG_MIN)
    loss = -(y * log1 + (1.0 - y) * log0)

    def backward(g):
        gl = _dreduce(g, loss, reduction, p.ndim)
        gp = gy = None
        if x.requires_grad:
            gp = gl * (p - y) / np.maximum(p * (1.0 - p), _BCE_EPS)
        if t.requires_grad:
            gy = gl * (log0 - log1)
        return gp, gy

    return make_node(_reduce(loss, reduction), (x, t), backward, "binary_cross_entropy")


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities (seed 004): ℓ(p, y) = −[y·log p + (1 − y)·log(1 − p)];
    ∂ℓ/∂p = (p − y)/(p(1 − p)).

    As PyTorch: each log is clamped at −100 (so p = 0 or 1 gives a finite loss, at
    most 100), and the backward divides by max(p(1 − p), 1e-12). Prefer
    :class:`BCEWithLogitsLoss` after a sigmoid: it is stable for any logit.

    Args:
        reduction: ``"mean"`` (over every element), ``"sum"`` or ``"none"``. Default: "mean".

    Shape: input (*) in [0, 1] and target (soft labels in [0, 1]) of the same shape.
    Note: ∂ℓ/∂y = log(1 − p) − log p with the same clamp (PyTorch's target gradient is
    ±inf at p ∈ {0, 1}).
    """

    def forward(self, input, target) -> Tensor:
        return binary_cross_entropy(input, target, self.reduction)


def binary_cross_entropy_with_logits(input, target, reduction: str = "mean") -> Tensor:
    """ℓ = log(1 + e^x) − x·y = logaddexp(0, x) − x·y;  ∂ℓ/∂x = σ(x) − y, ∂ℓ/∂y = −x."""
    op = "BCEWithLogitsLoss"
    _check_reduction(reduction, op)
    x = _prediction(input, op, "logits")
    t = _like(target, x, op)
    xd, y = x.data, t.data
    loss = kernels.softplus(xd) - xd * y

    def backward(g):
        gl = _dreduce(g, loss, reduction, xd.ndim)
        gx = gl * (kernels.sigmoid(xd) - y) if x.requires_grad else None
        gy = -gl * xd if t.requires_grad else None
        return gx, gy

    return make_node(_reduce(loss, reduction), (x, t), backward, "binary_cross_entropy_with_logits")


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits, fused with the sigmoid:
    ℓ(x, y) = −[y·log σ(x) + (1 − y)·log(1 − σ(x))] = logaddexp(0, x) − x·y;  ∂ℓ/∂x = σ(x) − y
    (seed 004's ∂ℓ/∂z = a − y).

    Stable for any logit (±1000 gives the exact loss and a finite gradient).

    Args:
        reduction: ``"mean"`` (over every element), ``"sum"`` or ``"none"``. Default: "mean".

    Shape: input (*) logits and target (labels in [0, 1]) of the same shape.
    """

    def forward(self, input, target) -> Tensor:
        return binary_cross_entropy_with_logits(input, target, self.reduction)


def hinge_loss(input, target, reduction: str = "mean", margin: float = 1.0) -> Tensor:
    """ℓ_i = (1/C)·Σ_{j≠y_i} max(0, m − x_{i,y_i} + x_ij);
    ∂ℓ_i/∂x_ij = [m − x_{i,y_i} + x_ij > 0]/C for j ≠ y_i, minus their sum for j = y_i."""
    op = "HingeLoss"
    _check_reduction(reduction, op)
    x = _prediction(input, op, "scores")
    _two_d(x, op, "scores")
    y = _labels(target, x, op, "scores")
    n, c = x.shape
    xd = x.data
    rows = np.arange(n)
    z = margin - xd[rows, y][:, None] + xd
    active = z > 0
    active[rows, y] = False  # the true class is not compared with itself
    h = np.maximum(z, 0)
    h[rows, y] = 0
    loss = h.sum(axis=1) / c

    def backward(g):
        gl = _dreduce(g, loss, reduction, 2)
        grad = active.astype(xd.dtype)
        grad[rows, y] = -grad.sum(axis=1)
        grad *= gl / c
        return (grad,)

    return make_node(_reduce(loss, reduction), (x,), backward, "hinge_loss")


class HingeLoss(_Loss):
    """Multi-class hinge (margin) loss: ℓ_i = (1/C)·Σ_{j≠y_i} max(0, m − x_{i,y_i} + x_ij);
    ∂ℓ_i/∂x_ij = 1/C for each violating j ≠ y_i, and −(number of violators)/C for j = y_i.

    Equals PyTorch's ``nn.MultiMarginLoss(p=1, margin=m)``; a term exactly at the
    margin (m − x_y + x_j = 0) contributes no gradient, as there.

    Args:
        reduction: ``"mean"`` (over the N samples), ``"sum"`` or ``"none"``. Default: "mean".
        margin: m. Default: 1.0.

    Shape: scores (N, C); target integer labels (N,) in [0, C).
    """

    def __init__(self, reduction: str = "mean", margin: float = 1.0):
        super().__init__(reduction)
        self.margin = float(margin)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, margin={self.margin}"

    def forward(self, input, target) -> Tensor:
        return hinge_loss(input, target, self.reduction, self.margin)


# -- distributions and pairs -----------------------------------------------------------------------

def kl_div(input, target, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """ℓ = t·(log t − x) (0 where t = 0), x = log q;  ∂ℓ/∂x = −t, ∂ℓ/∂t = log t + 1 − x."""
    op = "KLDivLoss"
    _check_reduction(reduction, op, REDUCTIONS + ("batchmean",))
    x = _prediction(input, op, "input (log-probabilities)")
    t = _like(target, x, op)
    xd, td = x.data, t.data
    batch = xd.shape[0] if xd.ndim else 1
    et = np.exp(td) if log_target else None
    loss = et * (td - xd) if log_target else xlogy(td, td) - td * xd

    def backward(g):
        gl = _dreduce(g, loss, reduction, xd.ndim, batch)
        gx = gt = None
        if x.requires_grad:
            gx = -gl * (et if log_target else td)
        if t.requires_grad:
            if log_target:
                gt = gl * et * (td - xd + 1.0)
            else:
                with np.errstate(divide="ignore"):
                    gt = gl * (np.log(td) + 1.0 - xd)
        return gx, gt

    return make_node(_reduce(loss, reduction, batch), (x, t), backward, "kl_div")


class KLDivLoss(_Loss):
    """Kullback–Leibler divergence KL(p ‖ q) with PyTorch's semantics: the input is log q
    (log-probabilities), the target p (probabilities, or log p with ``log_target=True``);
    ℓ = p·(log p − log q) per element (0 where p = 0);  ∂ℓ/∂(log q) = −p.

    Args:
        reduction: ``"batchmean"`` (sum / N: the true KL per sample), ``"mean"``
            (sum / number of elements; PyTorch's default, kept for parity, but it
            is not the KL), ``"sum"`` or ``"none"``. Default: "mean".
        log_target: the target is given as log p. Default: False.

    Shape: input (N, *) and target of the same shape.
    Note: ∂ℓ/∂p = log p + 1 − log q is −inf where p = 0 (PyTorch gives NaN there).
    """

    _reductions = REDUCTIONS + ("batchmean",)

    def __init__(self, reduction: str = "mean", log_target: bool = False):
        super().__init__(reduction)
        self.log_target = bool(log_target)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, log_target={self.log_target}"

    def forward(self, input, target) -> Tensor:
        return kl_div(input, target, self.reduction, self.log_target)


def contrastive_loss(x1, x2, y, margin: float = 1.0, reduction: str = "mean") -> Tensor:
    """ℓ_i = y_i·d_i² + (1 − y_i)·max(0, m − d_i)², d_i = ‖x1_i − x2_i‖;
    ∂ℓ_i/∂x1_i = [2y_i − 2(1 − y_i)·max(0, m − d_i)/d_i]·(x1_i − x2_i) = −∂ℓ_i/∂x2_i."""
    op = "ContrastiveLoss"
    _check_reduction(reduction, op)
    a = _prediction(x1, op, "first input")
    b = _prediction(x2, op, "second input")
    if a.ndim < 1:
        raise ValueError(f"{op}: expected inputs of shape (N, *), got shape {a.shape}")
    if b.shape != a.shape:
        raise ValueError(f"{op}: the two inputs must have the same shape, got {a.shape} and {b.shape}")
    if b.dtype != a.dtype:
        raise TypeError(f"{op}: the two inputs have dtypes {a.dtype} and {b.dtype}; cast one with .astype()")
    n = a.shape[0]
    lab = y.data if isinstance(y, Tensor) else np.asarray(y)
    if lab.dtype.kind not in "fiub" or lab.shape != (n,):
        raise ValueError(f"{op}: expected pair labels of shape ({n},) for inputs of shape {a.shape}, "
                         f"got dtype {lab.dtype} with shape {lab.shape}")
    if not np.isin(lab, (0, 1)).all():
        raise ValueError(f"{op}: pair labels must be 1 (similar) or 0 (dissimilar), got values {np.unique(lab)[:5]}")
    lab = lab.astype(a.dtype)
    diff = a.data - b.data
    axes = tuple(range(1, diff.ndim))
    d2 = (diff * diff).sum(axis=axes) if axes else diff * diff
    d = np.sqrt(d2)
    h = np.maximum(margin - d, 0)
    loss = lab * d2 + (1.0 - lab) * (h * h)

    def backward(g):
        gl = _dreduce(g, loss, reduction, 1)
        # h/d is taken as 0 where d = 0 (diff is 0 there, so the push has no direction)
        coef = 2.0 * lab - 2.0 * (1.0 - lab) * h / np.where(d > 0, d, 1.0)
        coef = coef * gl
        ga = coef.reshape(coef.shape + (1,) * len(axes)) * diff
        return ga if a.requires_grad else None, -ga if b.requires_grad else None

    return make_node(_reduce(loss, reduction), (a, b), backward, "contrastive_loss")


class ContrastiveLoss(_Loss):
    """Contrastive loss on pairs (after Hadsell, Chopra & LeCun 2006):
    ℓ_i = y_i·d_i² + (1 − y_i)·max(0, m − d_i)², with d_i = ‖x1_i − x2_i‖₂;
    ∂ℓ_i/∂x1_i = 2[y_i − (1 − y_i)·max(0, m − d_i)/d_i]·(x1_i − x2_i),  ∂ℓ_i/∂x2_i = −∂ℓ_i/∂x1_i.

    Convention: y = 1 marks a *similar* pair (pulled together), y = 0 a
    *dissimilar* pair (pushed apart until d ≥ m). Note: the paper uses the opposite
    labels (Y = 0 similar) and factors ½ on both terms; this is the common form
    without them. At d = 0 a dissimilar pair gets gradient 0 (no direction to push).

    Args:
        margin: m > 0. Default: 1.0.
        reduction: ``"mean"`` (over the N pairs), ``"sum"`` or ``"none"``. Default: "mean".

    Shape: x1, x2 (N, *) (d runs over all axes but the first); y (N,) of 0/1 (any numeric dtype).
    Call: ``loss(x1, x2, y)``.
    """

    def __init__(self, margin: float = 1.0, reduction: str = "mean"):
        super().__init__(reduction)
        if not margin > 0:
            raise ValueError(f"ContrastiveLoss: margin must be > 0, got {margin!r}")
        self.margin = float(margin)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"

    def forward(self, x1, x2, y) -> Tensor:
        return contrastive_loss(x1, x2, y, self.margin, self.reduction)


# -- penalties -------------------------------------------------------------------------------------

def _penalised(module, weights_only: bool, op: str) -> list:
    if hasattr(module, "named_parameters"):
        items = list(module.named_parameters())
    else:
        items = [(f"[{i}]", p) for i, p in enumerate(module)]
    for name, p in items:
        if not isinstance(p, Tensor):
            raise TypeError(
                f"{op}: expected a Module or an iterable of Parameters; item {name} is {type(p).__name__}"
            )
    if weights_only:
        items = [(name, p) for name, p in items if p.ndim >= 2 and not name.endswith("bias")]
    params = [p for _, p in items]
    dtypes = {p.dtype for p in params}
    if len(dtypes) > 1:
        raise TypeError(f"{op}: parameters have mixed dtypes {sorted(map(str, dtypes))}; cast the module with .to()")
    return params


def _penalty(module, weights_only, op, value, grad) -> Tensor:
    params = _penalised(module, weights_only, op)
    if not params:
        return Tensor(np.zeros((), dtype=get_default_dtype()))
    dt = params[0].dtype
    total = dt.type(0)
    for p in params:
        total = total + value(p.data)
    return make_node(np.asarray(total, dtype=dt), tuple(params),
                     lambda g: tuple(g * grad(p.data) for p in params), op)


def l1_penalty(module, weights_only: bool = True) -> Tensor:
    """L1 penalty Ω₁(θ) = Σ|w| over the weights;  ∂Ω₁/∂w = sign(w) (0 at w = 0).

    Add ``λ₁ * l1_penalty(model)`` to the loss (L1 "constrains most weights to be 0",
    seed 001); ``Trainer(l1=λ₁)`` does it for you.

    Args:
        module: a Module (or an iterable of Parameters).
        weights_only: penalise only weight matrices and kernels — parameters with
            2 or more axes whose name does not end in "bias" — and leave biases,
            normalisation scales/shifts and PReLU slopes free (the usual
            choice, as in Goodfellow et al. §7.1). False penalises every parameter.
            Default: True.

    Returns:
        a scalar Tensor in the parameters' dtype (0 if there is nothing to penalise).
    """
    return _penalty(module, weights_only, "l1_penalty", lambda w: np.abs(w).sum(), np.sign)


def l2_penalty(module, weights_only: bool = True) -> Tensor:
    """L2 penalty Ω₂(θ) = ½Σw² over the weights;  ∂Ω₂/∂w = w.

    The ½ makes λ·Ω₂ contribute λ·w to the gradient — exactly what an optimiser's
    ``weight_decay=λ`` adds. Note: PyTorch's (and layerlab's) ``weight_decay``
    applies to every parameter, biases included; pass ``weights_only=False`` for
    that set.

    Args:
        module: a Module (or an iterable of Parameters).
        weights_only: penalise only parameters with 2 or more axes whose name does
            not end in "bias" (see :func:`l1_penalty`). Default: True.

    Returns:
        a scalar Tensor in the parameters' dtype (0 if there is nothing to penalise).
    """
    return _penalty(module, weights_only, "l2_penalty", lambda w: 0.5 * np.vdot(w, w), lambda w: w)
