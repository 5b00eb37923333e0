"""GradientStats: how the gradient flows through the layers, and the sign pattern of a layer's gradient.

Vanishing / exploding gradients (seed 001): the norm of ∇W_l compared layer to layer.
The notes' zig-zag argument for sigmoid: ∂L/∂W2[i, j] = δ_i · h1_j, and h1_j = σ(·) > 0,
so for one example all incoming-weight gradients of unit i share the sign of δ_i; with
tanh (h1_j of either sign) they do not.
"""

from __future__ import annotations

import math

import numpy as np

from ._loops import sign_counts
from .base import Probe

__all__ = ["GradientStats", "sign_agreement", "grad_norm"]


def grad_norm(g: np.ndarray) -> float:
    """‖g‖₂ as a Python float, computed in g's dtype; rescaled when the sum of squares overflows."""
    flat = g.reshape(-1)
    n = float(np.sqrt(np.dot(flat, flat))) if flat.dtype.kind == "f" else float(np.linalg.norm(flat))
    if not math.isfinite(n):
        m = float(np.max(np.abs(flat)))
        if math.isfinite(m) and m > 0:
            s = flat / flat.dtype.type(m)
            n = m * float(np.sqrt(np.dot(s, s)))
    return n


def sign_agreement(grad, *, work: np.ndarray | None = None) -> tuple[float, float]:
    """Sign pattern of the incoming-weight gradients of each unit of a layer.

    ``grad`` is the gradient of a weight matrix W of shape (out, in): row i holds the
    gradients of the incoming weights of unit i. For each unit, count its positive and
    negative entries (zeros and NaNs have no sign and are left out).

    Returns:
        (agree, one_sign): ``agree`` is the mean over units of the fraction of the unit's
        entries that share its majority sign, max(#pos, #neg)/(#pos + #neg) (1.0 = all one
        sign, 0.5 = an even split); ``one_sign`` is the fraction of units whose entries all
        have one sign. Units whose gradients are all 0 (e.g. a dead ReLU unit) are left out
        of both; (nan, nan) when every unit is such.

    ``work``: optional bool array of ``grad.size`` entries to hold the sign masks of the NumPy
    path (a probe passes the same one at every call, saving an allocation); a float32/float64
    gradient of at least ``kernels.JIT_MIN`` entries is counted by one compiled pass instead
    when numba is on (:func:`~layerlab.probes._loops.sign_counts`: the same counts).
    """
    g = np.asarray(getattr(grad, "data", grad))
    if g.ndim != 2:
        raise ValueError(f"sign_agreement: expected a weight gradient of shape (out, in), got shape {g.shape}")
    return _agreement(*sign_counts(g, work))


def _agreement(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """(agree, one_sign) of :func:`sign_agreement` from each unit's counts of positive and negative entries."""
    nz = pos + neg
    has = nz > 0
    k = int(np.count_nonzero(has))
    if k == 0:
        return math.nan, math.nan
    agree = float(np.sum(np.maximum(pos, neg)[has] / nz[has])) / k
    one = int(np.count_nonzero(((pos == 0) | (neg == 0)) & has)) / k
    return agree, one


class GradientStats(Probe):
    """Per parameter, after backward on sampled steps: the gradient's size and sign pattern.

    Records (``kind`` = ``"<param>/grad"``, e.g. layer ``"0"``, kind ``"weight/grad"``):

    - ``norm``: ‖∇p‖₂;  ``mean_abs``: mean |∇p|;
    - ``ratio_prev``: ‖∇p_l‖ / ‖∇p_{l−1}‖, the norm over that of the previous layer's
      parameter with the same name and rank (Linear weight to Linear weight, in the
      order of ``model.named_parameters()``; not recorded for the first). In a net whose
      gradients vanish towards the input it is > 1 layer after layer; < 1 when they
      explode towards the input. ``inf`` when the previous norm is 0 and this one is not;
    - ``sign_agree``, ``one_sign`` (weights of rank 2, (out, in)): see :func:`sign_agreement`.
      Note: the gradient of a mini-batch is a sum over examples, which can mix signs even
      when each example's gradient has one sign per unit; probe with a batch of one
      example to see the notes' per-example claim.

    Args:
        model: the model (``None``: the Trainer's model).
        layers: modules whose own parameters are probed (default: all parameters).
        every: sample the steps with ``step % every == 0``; default 10 in a Trainer
            (``DEFAULT_EVERY``), 1 by hand.
        sink: optional ``fn(records)``.

    Without a Trainer: ``loss.backward(); probe.record(step)``.
    """

    default_kind = "weight/grad"

    def __init__(self, model=None, layers=None, every: int | None = None, sink=None):
        super().__init__(model, layers=layers, every=every, sink=sink)
        self._count = 0

    def _default_layer(self, name, module) -> bool:
        return True

    def record(self, step: int | None = None) -> None:
        """Record the statistics of the current ``.grad`` of each parameter (call after backward).
        ``step`` defaults to the number of ``record`` calls so far."""
        if step is None:
            step = self._count
        self._count += 1
        prev_norm: dict = {}
        for layer, pname, p in self.selected_parameters():
            g = p.grad
            if g is None:
                continue
            g = np.asarray(getattr(g, "data", g))
            if g.ndim == 2 and g.size and g.dtype in (np.float32, np.float64):  # (float16 sums would overflow)
                # the sign counts of each unit, Σg² and Σ|g| in one pass over g (compiled)
                pos, neg, ss, sa = sign_counts(g, self._scratch.get("mask", np.bool_, g.size), sums=True)
                counts = pos, neg
                norm = math.sqrt(ss) if math.isfinite(ss) else grad_norm(g)  # NaN, ±inf, or Σg² overflowed
                mean_abs = sa / g.size
            else:
                counts = None
                norm = grad_norm(g)
                mean_abs = self._mean_abs(g)
            stats = {"norm": norm, "mean_abs": mean_abs}
            key = (pname, g.ndim)
            prev = prev_norm.get(key)
            if prev is not None:
                stats["ratio_prev"] = norm / prev if prev > 0 else (math.inf if norm > 0 else math.nan)
            prev_norm[key] = norm
            if counts is not None:
                stats["sign_agree"], stats["one_sign"] = _agreement(*counts)
            elif g.ndim == 2:
                stats["sign_agree"], stats["one_sign"] = sign_agreement(
                    g, work=self._scratch.get("mask", np.bool_, g.size))
            self._emit(step, layer, f"{pname}/grad", stats)

    def _mean_abs(self, g: np.ndarray) -> float:
        """mean |g|, as ``np.abs(g).mean()`` (bit for bit); |g| of a C-contiguous float gradient
        goes into a reused work array."""
        if not g.size:
            return 0.0
        if g.dtype.kind == "f" and g.flags.c_contiguous:
            a = np.abs(g, out=self._scratch.get("abs", g.dtype, g.size).reshape(g.shape))
        else:
            a = np.abs(g)
        return float(a.mean())

    def on_after_backward(self, trainer, step):
        if step % self.period == 0:
            self.record(step)
