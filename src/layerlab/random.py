"""The global random generator: one seeded ``numpy.random.Generator`` for the package.

Layers that are not handed an explicit ``rng=`` (``nn.Linear``'s initial weights,
``nn.Dropout``'s masks) draw from here, so ``layerlab.seed(n)`` before building a
model makes the whole run bit-identical. The generator starts from seed 0 (as
PyTorch's default generator starts from a fixed seed): an unseeded program is
still reproducible.

:func:`seed` reseeds the generator *in place* (the object returned by
:func:`get_rng` stays the same), so code that kept a reference, and checkpoints
that store ``get_rng().bit_generator.state``, see the new stream.
"""

from __future__ import annotations

import numpy as np

__all__ = ["seed", "get_rng", "spawn"]

_DEFAULT_SEED = 0

_rng = np.random.default_rng(_DEFAULT_SEED)


def seed(n: int | None = None) -> None:
    """Reseed the global generator: afterwards it produces exactly the stream of
    ``np.random.default_rng(n)``. ``None`` takes fresh entropy from the OS (not
    reproducible)."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0):
        raise TypeError(f"seed: expected a non-negative int (or None), got {n!r}")
    _rng.bit_generator.state = np.random.PCG64(np.random.SeedSequence(None if n is None else int(n))).state


def get_rng() -> np.random.Generator:
    """The global generator (the same object for the life of the process)."""
    return _rng


def spawn(n: int, rng: np.random.Generator | None = None) -> list[np.random.Generator]:
    """``n`` independent generators derived from ``rng`` (the global one by default).

    Each child is seeded with 256 bits drawn from the parent, so the children
    depend only on the parent's state (reproducible after :func:`seed`, and
    restored with it by checkpoints), and the parent advances.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"spawn: expected a non-negative number of generators, got {n!r}")
    parent = _rng if rng is None else rng
    words = parent.integers(0, 2**63, size=(int(n), 4), dtype=np.int64)
    return [np.random.default_rng(np.random.SeedSequence([int(w) for w in row])) for row in words]
