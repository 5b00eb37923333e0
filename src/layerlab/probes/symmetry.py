"""Symmetry: do the units of a layer differ from each other at all?

Seed 001 (module 7.5): with all weights initialised to the same constant, every unit
of a hidden layer computes the same thing and receives the same gradient, so the
units stay identical after any number of SGD steps — "this symmetry will never
break during training". Random initialisation breaks it.
"""

from __future__ import annotations

import math

import numpy as np

from .base import Probe

__all__ = ["Symmetry", "unit_distances"]


def _weight_matrix(module, include_bias: bool) -> np.ndarray | None:
    w = getattr(module, "weight", None)
    wd = getattr(w, "data", None)
    if not isinstance(wd, np.ndarray) or wd.ndim != 2:
        return None
    b = getattr(module, "bias", None)
    bd = getattr(b, "data", None)
    if include_bias and isinstance(bd, np.ndarray) and bd.size == wd.shape[0]:
        return np.concatenate([wd, bd.reshape(-1, 1).astype(wd.dtype, copy=False)], axis=1)
    return wd


def unit_distances(v, pairwise: bool = True) -> dict:
    """Distances between the rows v_i of ``v`` (n units × d incoming weights).

    Returns ``{"max_dev0": max_i ‖v_i − v_0‖}``, which is exactly 0.0 if and only if all
    rows are equal (O(n·d)), and with ``pairwise`` also ``max_dist`` = max_{i,j} ‖v_i − v_j‖
    and ``min_dist`` = min_{i≠j} ‖v_i − v_j‖ (O(n²·d), one Gram matrix), and the scale-free
    ``rel_max_dist`` = max_dist / max_i ‖v_i‖.

    The pairwise distances use ‖c_i‖² + ‖c_j‖² − 2 c_i·c_j on the rows centred on their
    mean, c_i = v_i − v̄ (distances do not change, and the cancellation is relative to the
    spread of the rows instead of their size); ``max_dist`` is then raised to at least
    ``max_dev0`` (a lower bound computed without cancellation), so ``max_dist`` is 0 exactly
    when the units are identical. ``min_dist`` is accurate to about √eps·spread.
    """
    v = np.asarray(getattr(v, "data", v))
    if v.ndim != 2:
        raise ValueError(f"unit_distances: expected a matrix (units, incoming weights), got shape {v.shape}")
    n = v.shape[0]
    if n == 0:
        return {}
    dev = v - v[0]
    max_dev0 = math.sqrt(float(np.max(np.einsum("ij,ij->i", dev, dev))))
    out = {"max_dev0": max_dev0}
    if not pairwise:
        return out
    if max_dev0 == 0.0:
        out["max_dist"] = out["rel_max_dist"] = 0.0
        if n > 1:
            out["min_dist"] = 0.0
        return out
    max_norm = math.sqrt(float(np.max(np.einsum("ij,ij->i", v, v))))
    c = v - v.mean(axis=0)
    sq = np.einsum("ij,ij->i", c, c)
    d2 = c @ c.T
    d2 *= -2
    d2 += sq[:, None]
    d2 += sq[None, :]
    np.maximum(d2, 0, out=d2)
    out["max_dist"] = max(math.sqrt(float(d2.max())), max_dev0)
    out["rel_max_dist"] = out["max_dist"] / max_norm
    if n > 1:
        np.fill_diagonal(d2, np.inf)
        out["min_dist"] = math.sqrt(float(d2.min()))
    return out


class Symmetry(Probe):
    """Per layer with a weight matrix W (out, in) — Linear —: how far apart its units are.

    Unit i's incoming weight vector is row i of W, with the bias b_i appended
    (``include_bias``). Records (``kind`` = ``"units"``): ``max_dist`` (the largest
    distance between two units; 0 means symmetry never broke), ``max_dev0`` (max_i
    ‖v_i − v_0‖: exactly 0.0 iff all units are equal, free of rounding) and ``min_dist``
    (the smallest distance between two different units: 0 means some pair is identical)
    and ``rel_max_dist`` (max_dist / the largest ‖v_i‖). In float32, rounding alone can
    separate the units of a symmetric layer by ~1e-8 relative (BLAS computes some rows
    with other kernels), so test "symmetry never broke" with a tolerance on
    ``rel_max_dist`` (e.g. < 1e-5), not with ``== 0``.
    See :func:`unit_distances` for the computation (one n×n Gram matrix, ~8 ms for 500
    units of 785 weights on a 2-core CPU; ``pairwise=False`` keeps only the O(n·d)
    ``max_dev0``).

    Steps: a record at step s describes the weights after s updates. In a Trainer the
    probe records at ``on_batch_start`` of each sampled step (step 0 = the
    initialisation) and once more at ``on_fit_end`` (the final weights, step =
    ``trainer.step``). By hand: ``probe.record(step)``.

    Args:
        model: the model (``None``: the Trainer's model).
        layers: which modules (default: every module with a 2-D ``weight`` except Maxout,
            whose rows are pieces rather than units).
        every: sample the steps with ``step % every == 0``; default 50 in a Trainer, 1 by hand.
        include_bias: append the bias to each unit's weight vector.
        pairwise: also compute the O(n²·d) ``max_dist`` and ``min_dist``.
        sink: optional ``fn(records)``.
    """

    default_kind = "units"
    default_every = 50

    def __init__(self, model=None, layers=None, every: int | None = None, include_bias: bool = True,
                 pairwise: bool = True, sink=None):
        super().__init__(model, layers=layers, every=every, sink=sink)
        self.include_bias = bool(include_bias)
        self.pairwise = bool(pairwise)
        self._count = 0
        self._last_step = None

    def _default_layer(self, name, module) -> bool:
        # Maxout's rows are pieces, not units: select it by name if wanted
        return _weight_matrix(module, False) is not None and "Maxout" not in [c.__name__ for c in type(module).__mro__]

    def record(self, step: int | None = None) -> dict:
        """Record the distances of each layer's units now; returns ``{layer: stats}``."""
        if step is None:
            step = self._count
        self._count += 1
        out = {}
        for layer, module in self.selected_modules():
            v = _weight_matrix(module, self.include_bias)
            if v is None:
                raise ValueError(f"Symmetry: layer {layer!r} ({type(module).__name__}) has no 2-D weight")
            stats = unit_distances(v, self.pairwise)
            self._emit(step, layer, "units", stats)
            out[layer] = stats
        self._last_step = step
        return out

    def on_batch_start(self, trainer, step, batch):
        if step % self.period == 0:
            self.record(step)

    def on_fit_end(self, trainer):
        super().on_fit_end(trainer)
        if self._last_step != trainer.step:
            self.record(trainer.step)
