"""The global random generator: one seeded ``numpy.random.Generator`` for the package.

Layers that are not handed an explicit ``rng=`` (``nn.Linear``'s initial weights,
``nn.Dropout``'s masks) draw from here, so ``layerlab.seed(n)`` before building a
model makes the whole run bit-identical. The generator starts from seed 0 (as
PyTorch's default generator starts from a fixed seed): an unseeded program is
still reproducible.

:func:`seed` reseeds the generator *in place* (the object returned by
:func:`get_rng` stays the same), so code that kept a reference, and checkpoints
that store ``get_rng().bit_generator.state``, see the new stream.

RNG state, for checkpoints: :func:`get_state` / :func:`set_state` capture and restore
one generator (the global one by default) as a JSON-able dict;
:func:`module_generators`, :func:`module_rng_states`, :func:`load_module_rng_states`
and :func:`reseed_module` do the same for every generator a model's modules hold
(``Dropout.rng``), found by walking ``module.named_modules()``.
"""

from __future__ import annotations

import numpy as np

from ._checks import nonnegative_int

__all__ = ["seed", "get_rng", "spawn", "as_generator", "get_state", "set_state", "module_generators", "module_rng_states",
           "load_module_rng_states", "reseed_module"]

_DEFAULT_SEED = 0

_rng = np.random.default_rng(_DEFAULT_SEED)


def seed(n: int | None = None) -> None:
    """Reseed the global generator: afterwards it produces exactly the stream of
    ``np.random.default_rng(n)``. ``None`` takes fresh entropy from the OS (not
    reproducible)."""
    if n is not None:
        n = nonnegative_int(n, "n (or None)", "seed")
    _rng.bit_generator.state = np.random.PCG64(np.random.SeedSequence(n)).state


def get_rng() -> np.random.Generator:
    """The global generator (the same object for the life of the process)."""
    return _rng


def spawn(n: int, rng: np.random.Generator | None = None) -> list[np.random.Generator]:
    """``n`` independent generators derived from ``rng`` (the global one by default).

    Each child is seeded with 256 bits drawn from the parent, so the children
    depend only on the parent's state (reproducible after :func:`seed`, and
    restored with it by checkpoints), and the parent advances.
    """
    n = nonnegative_int(n, "n (the number of generators)", "spawn")
    parent = _rng if rng is None else rng
    words = parent.integers(0, 2**63, size=(n, 4), dtype=np.int64)
    return [np.random.default_rng(np.random.SeedSequence([int(w) for w in row])) for row in words]


def as_generator(rng, where: str, default=get_rng) -> np.random.Generator:
    """What a layer's ``rng=`` argument means: a Generator is used as is, a non-negative int
    seeds a new one (``np.random.default_rng(rng)``), None calls ``default()`` (the global
    generator unless the caller says otherwise). Anything else is a TypeError naming ``where``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return default()
    if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, (int, np.integer)):
        raise TypeError(f"{where}: rng must be a numpy.random.Generator, an int seed or None, got "
                        f"{type(rng).__name__}")
    return np.random.default_rng(nonnegative_int(rng, "rng (an int seed)", where))


# ---------------------------------------------------------------------------------------------
# RNG state: capture and restore (checkpoints), reseed a model's generators
# ---------------------------------------------------------------------------------------------

def _to_json(state: dict) -> dict:
    # 128-bit integers (PCG64's state and increment) do not fit JSON numbers portably: strings
    return {k: (_to_json(v) if isinstance(v, dict) else (str(v) if isinstance(v, int) and not isinstance(v, bool) else v))
            for k, v in state.items()}


def _from_json(state: dict) -> dict:
    return {k: (_from_json(v) if isinstance(v, dict) else (int(v) if isinstance(v, str) and v.lstrip("-").isdigit() else v))
            for k, v in state.items()}


def get_state(rng: np.random.Generator | None = None) -> dict:
    """The state of ``rng`` (the global generator when None) as a JSON-able dict:
    ``rng.bit_generator.state`` with its integers written as decimal strings."""
    return _to_json((_rng if rng is None else rng).bit_generator.state)


def set_state(state: dict, rng: np.random.Generator | None = None) -> None:
    """Restore a state saved by :func:`get_state` into ``rng`` (the global generator when
    None), in place: the generator object stays the same, its stream continues from there."""
    (_rng if rng is None else rng).bit_generator.state = _from_json(state)


def module_generators(module) -> list[tuple[str, object, str]]:
    """``(key, owner, attribute)`` of every ``np.random.Generator`` held as an attribute by
    ``module`` or its submodules, in a fixed order (module order, then attribute name);
    ``key`` is ``"{module name}:{attribute}"``, e.g. ``"2:rng"``."""
    out = []
    for name, m in module.named_modules():
        for attr, value in sorted(vars(m).items()):
            if isinstance(value, np.random.Generator):
                out.append((f"{name}:{attr}", m, attr))
    return out


def module_rng_states(module) -> dict[str, dict]:
    """``{key: state}`` (see :func:`module_generators`, :func:`get_state`) for every generator of ``module``."""
    return {key: get_state(getattr(owner, attr)) for key, owner, attr in module_generators(module)}


def load_module_rng_states(module, states: dict) -> None:
    """Restore states saved by :func:`module_rng_states` in place; generators without a saved
    state (a key not in ``states``) are left as they are."""
    for key, owner, attr in module_generators(module):
        if key in states:
            set_state(states[key], getattr(owner, attr))


def reseed_module(module, seed: int) -> None:
    """Reseed every generator of ``module`` from one seed, in place.

    The k-th distinct generator (in :func:`module_generators` order) gets the stream of
    ``np.random.default_rng(SeedSequence(seed).spawn(K)[k])`` (for a PCG64 generator; another
    bit generator is reseeded with its own type), so the generators are independent and a run
    is reproducible from (weights, seed). Reseeding in place keeps the objects: a generator
    shared by two layers stays shared, and a reference kept elsewhere sees the new stream.
    """
    seed = nonnegative_int(seed, "seed", "reseed_module")
    gens, seen = [], set()
    for _, owner, attr in module_generators(module):
        g = getattr(owner, attr)
        if id(g) not in seen:
            seen.add(id(g))
            gens.append(g)
    for g, ss in zip(gens, np.random.SeedSequence(seed).spawn(len(gens))):
        g.bit_generator.state = type(g.bit_generator)(ss).state
