"""The engine on its own: a small MLP learns the two spirals from tensor ops only.

Used by ``layerlab demo --engine`` and by the tests; it needs no nn, optim or data
package, so it shows what the reverse-mode engine alone can do.
"""

from __future__ import annotations

import math

import numpy as np

from . import ops
from .tensor import Tensor, no_grad, tensor

__all__ = ["two_spirals", "train_spirals"]


def two_spirals(n_per_class: int = 100, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals in 2-D: x (2n, 2) float32, y (2n,) int64."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.05, 1.0, n_per_class)) * 3.0 * math.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3.0 * math.pi)
    x = np.concatenate([arm, -arm]) + noise * rng.standard_normal((2 * n_per_class, 2)) / (3.0 * math.pi)
    y = np.repeat(np.arange(2), n_per_class)
    return x.astype(np.float32), y.astype(np.int64)


def train_spirals(hidden: int = 64, steps: int = 1000, lr: float = 0.1, seed: int = 0,
                  log_every: int = 200, printer=print) -> dict:
    """Full-batch gradient descent with heavy-ball momentum (η, ρ = 0.9) on a 2-h-h-2 tanh MLP.

    Returns {"losses": [...], "accuracy": float}. Everything is built from Tensor ops:
    h₁ = tanh(x W₁ + b₁), h₂ = tanh(h₁ W₂ + b₂), logits = h₂ W₃ + b₃, and the
    cross-entropy L = mean(logsumexp(logits) − logits[y]).
    """
    x_np, y_np = two_spirals(seed=seed)
    rng = np.random.default_rng(seed)
    sizes = [2, hidden, hidden, 2]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = rng.standard_normal((fan_in, fan_out)).astype(np.float32) * np.float32(math.sqrt(1.0 / fan_in))
        params += [tensor(w, requires_grad=True), tensor(np.zeros(fan_out, np.float32), requires_grad=True)]
    velocity = [np.zeros_like(p.data) for p in params]
    x = Tensor(x_np * np.float32(3.0))
    rows = np.arange(len(y_np))
    losses = []
    for step in range(steps):
        h = x
        for i in range(0, len(params) - 2, 2):
            h = (h @ params[i] + params[i + 1]).tanh()
        logits = h @ params[-2] + params[-1]
        loss = (ops.logsumexp(logits, axis=1) - logits[rows, y_np]).mean()
        for p in params:
            p.grad = None
        loss.backward()
        with no_grad():
            for p, v in zip(params, velocity):
                v *= 0.9
                v += p.grad
                p.data -= lr * v
        losses.append(loss.item())
        if printer and (step % log_every == 0 or step == steps - 1):
            printer(f"step {step:5d}  loss {losses[-1]:.4f}  {_bar(losses[-1], losses[0])}")
    accuracy = float((logits.data.argmax(axis=1) == y_np).mean())
    return {"losses": losses, "accuracy": accuracy}


def _bar(value: float, first: float, width: int = 40) -> str:
    frac = 0.0 if first <= 0 else max(0.0, min(1.0, value / first))
    return "#" * max(1, int(round(frac * width)))
