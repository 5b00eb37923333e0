"""Named training set-ups: a model, its loss, an optimiser and a training loader, built from a seed.

``layerlab lr-find SETUP`` runs ``Trainer.lr_find`` on one of these, and an experiment may build its
network from the same function so that the command and the experiment measure the same thing::

    from layerlab.lab import setups
    model, loss_fn, optimizer, loader = setups.build("notes_fashion", seed=0)

Each set-up is a name, a docstring and ``builder(seed) -> Built`` (a named tuple ``(model, loss_fn,
optimizer, loader)``). The seed fixes the initial weights (drawn from ``np.random.default_rng(seed)``,
layer by layer) and the loader's shuffling (``DataLoader(..., seed=seed)``). The optimiser's η is a
placeholder: ``lr_find`` and a learning-rate sweep set their own.

* ``notes_fashion``: the notes' MNIST network (seed 001/002) on Fashion-MNIST — 784-500-500-500-10
  tanh, the notes' "Xavier" init (``randn/√fan_in`` = layerlab's ``lecun_normal``), biases 0,
  cross-entropy, plain SGD, batch 256, pixels in [0, 1]. Needs Fashion-MNIST (a RuntimeError says how
  to get it when it is missing).
* ``fashion_relu``: 784-256-256-10 ReLU, He init (``he_normal``), biases 0, cross-entropy, plain SGD,
  batch 256, pixels in [0, 1] (Fashion-MNIST).
* ``spirals``: 2-64-64-2 tanh (``lecun_normal``) on ``layerlab.data.spirals`` (400 points, two arms),
  cross-entropy, plain SGD, batch 32. No download; seconds for a range test.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from layerlab import data, nn, optim

from .training import fashion, mlp

__all__ = ["Built", "Setup", "SETUPS", "names", "get", "build", "NOTES_SIZES", "NOTES_BATCH", "notes_fashion_model",
           "PLACEHOLDER_LR"]

#: the notes' MNIST network: 784-500-500-500-10
NOTES_SIZES = (784, 500, 500, 500, 10)
#: the notes' mini-batch size
NOTES_BATCH = 256
#: the optimisers' η before anyone sets it (lr_find and a sweep overwrite it)
PLACEHOLDER_LR = 0.1


class Built(NamedTuple):
    """What a set-up's builder returns."""

    model: nn.Module
    loss_fn: nn.Module
    optimizer: optim.Optimizer
    loader: data.DataLoader


@dataclass(frozen=True)
class Setup:
    """A named set-up: ``builder(seed) -> Built``; ``doc`` is one paragraph (the first line a summary)."""

    name: str
    doc: str
    builder: Callable[[int], Built]

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0]

    def __call__(self, seed: int = 0) -> Built:
        return self.builder(int(seed))


def notes_fashion_model(rng: np.random.Generator) -> nn.Sequential:
    """The notes' network: 784-500-500-500-10 tanh, ``lecun_normal`` (the notes' Xavier), biases 0, weights
    drawn from ``rng`` layer by layer."""
    return mlp(list(NOTES_SIZES), "tanh", "lecun_normal", rng)


def _sgd_setup(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> Built:
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=batch_size, shuffle=True, seed=seed)
    return Built(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=PLACEHOLDER_LR), loader)


def _notes_fashion(seed: int) -> Built:
    (x, y), _ = fashion()
    return _sgd_setup(notes_fashion_model(np.random.default_rng(seed)), x, y, NOTES_BATCH, seed)


def _fashion_relu(seed: int) -> Built:
    (x, y), _ = fashion()
    model = mlp([784, 256, 256, 10], "relu", "he_normal", np.random.default_rng(seed))
    return _sgd_setup(model, x, y, 256, seed)


def _spirals(seed: int) -> Built:
    x, y = data.spirals(n=400, classes=2, noise=0.2, seed=seed)
    model = mlp([2, 64, 64, 2], "tanh", "lecun_normal", np.random.default_rng(seed))
    return _sgd_setup(model, x, y, 32, seed)


SETUPS: dict[str, Setup] = {s.name: s for s in (
    Setup("notes_fashion",
          "The notes' network on Fashion-MNIST: 784-500-500-500-10 tanh, Xavier (lecun_normal), SGD, batch 256.\n"
          "Biases 0, cross-entropy, pixels in [0, 1]; needs Fashion-MNIST.", _notes_fashion),
    Setup("fashion_relu",
          "784-256-256-10 ReLU, He init, SGD, batch 256, on Fashion-MNIST.\n"
          "Biases 0, cross-entropy, pixels in [0, 1]; needs Fashion-MNIST.", _fashion_relu),
    Setup("spirals",
          "2-64-64-2 tanh (lecun_normal) on two spirals (400 points), SGD, batch 32; no download.\n"
          "Biases 0, cross-entropy; layerlab.data.spirals(n=400, classes=2, noise=0.2, seed=seed).", _spirals),
)}


def names() -> list[str]:
    """The set-ups' names, in registry order."""
    return list(SETUPS)


def get(name: str) -> Setup:
    """The set-up called ``name``; a KeyError naming the valid ones (and the closest) otherwise."""
    try:
        return SETUPS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), SETUPS, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise KeyError(f"no set-up named {name!r}{hint} (valid: {', '.join(SETUPS)})") from None


def build(name: str, seed: int = 0) -> Built:
    """``get(name)(seed)``: the model, loss, optimiser and loader of set-up ``name``."""
    return get(name)(seed)
