"""Dropout (seed 001): train an exponential number of thinned sub-networks that share weights."""

from __future__ import annotations

import numpy as np

from ..random import get_rng, spawn
from ..tensor import Tensor, make_node
from .module import Module

__all__ = ["Dropout", "dropout"]


def _check_p(p, name: str) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0.0 <= float(p) < 1.0:
        raise ValueError(f"{name}: p (the probability of dropping a unit) must be in [0, 1), got {p!r}")
    return float(p)


def dropout(x, p: float = 0.5, training: bool = True, rng: np.random.Generator | None = None) -> Tensor:
    """Inverted dropout: y = x·μ/(1 − p) with μ ~ Bernoulli(1 − p) per entry;  dy/dx = μ/(1 − p).

    ``p`` is the probability of *dropping* (PyTorch's convention); the notes'
    μ ~ Bernoulli(p) uses p as the probability of *keeping*. Scaling by 1/(1 − p) at
    training time keeps E[y] = x, so evaluation needs no rescaling (the identity).

    Args:
        x: input of any shape.
        p: drop probability in [0, 1).
        training: when False this is the identity.
        rng: the generator for the mask (the global one when None).
    """
    p = _check_p(p, "dropout")
    x = x if isinstance(x, Tensor) else Tensor(x)
    if not training or p == 0.0:
        return x
    g = get_rng() if rng is None else rng
    # The mask is drawn in float32 whatever the input dtype: the same seed drops the
    # same units in float32 and float64, and no float64 temporary is made.
    mask = (g.random(x.shape, dtype=np.float32) >= p).astype(x.dtype)
    mask *= 1.0 / (1.0 - p)
    return make_node(x.data * mask, (x,), lambda gr: (gr * mask,), "dropout")


class Dropout(Module):
    """Inverted dropout: in training, zero each entry with probability ``p`` and scale
    the rest by 1/(1 − p); in eval mode, the identity.

    y = x·μ/(1 − p), μ ~ Bernoulli(1 − p);  dy/dx = μ/(1 − p) (the same mask).

    Args:
        p: probability of dropping a unit, in [0, 1) (default 0.5).
        rng: a ``np.random.Generator`` (or an int seed) for the masks. When None, a
            generator of its own is spawned from the global one (``layerlab.seed``)
            at construction; it is kept as ``self.rng`` and saved by checkpoints.

    Note: the notes write μ ~ Bernoulli(p) with p the probability of *keeping*
    (p = 0.5 in their figures); layerlab's ``p`` is PyTorch's drop probability, so
    the notes' p corresponds to ``Dropout(1 - p)``.
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        self.p = _check_p(p, "Dropout")
        if rng is None:
            rng = spawn(1)[0]
        elif isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
            rng = np.random.default_rng(int(rng))
        elif not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"Dropout: rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}"
            )
        self.rng = rng

    def forward(self, x) -> Tensor:
        return dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"
