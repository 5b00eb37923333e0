"""Dropout (seed 001): train an exponential number of thinned sub-networks that share weights."""

from __future__ import annotations

import numpy as np

from .._checks import probability
from ..random import as_generator, get_rng, spawn
from ..tensor import Tensor, make_node
from .module import Module

__all__ = ["Dropout", "dropout"]

_P = "p (the probability of dropping a unit)"


def _own_generator() -> np.random.Generator:
    return spawn(1)[0]


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
    p = probability(p, _P, "dropout")
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
        self.p = probability(p, _P, "Dropout")
        self.rng = as_generator(rng, "Dropout", default=_own_generator)

    def forward(self, x) -> Tensor:
        return dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"
