"""What ``layerlab demo`` (``make demo``) shows, besides the lecture's experiments.

``train_spirals``: the engine on its own — a small MLP learns the two spirals from
tensor ops only (no nn, optim or data package).
``train_notes_mnist``: the notes' MNIST network (seed 001) on Fashion-MNIST with the
full stack (nn, optim, data, Trainer).
"""

from __future__ import annotations

import math

import numpy as np

from . import ops
from .tensor import Tensor, no_grad, tensor

__all__ = ["two_spirals", "train_spirals", "train_notes_mnist"]


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


def train_notes_mnist(epochs: int = 3, lr: float = 0.05, momentum: float = 0.9, seed: int = 0,
                      printer=print) -> dict:
    """784-500-500-500-10 tanh, Xavier init, cross-entropy, mini-batch SGD, batch 256 (seed 001).

    The notes' η = 0.5 diverges with Xavier on [0, 1] inputs (see ``layerlab run training_init``),
    so the demo uses SGD with momentum 0.9 at η = 0.05. Returns the history and test metrics.
    """
    from . import data, nn, optim
    from .train import Trainer

    (x, y), (xt, yt) = data.fashion_mnist()
    rng = np.random.default_rng(seed)
    model = nn.Sequential(
        nn.Linear(784, 500, init="xavier_normal", rng=rng), nn.Tanh(),
        nn.Linear(500, 500, init="xavier_normal", rng=rng), nn.Tanh(),
        nn.Linear(500, 500, init="xavier_normal", rng=rng), nn.Tanh(),
        nn.Linear(500, 10, init="xavier_normal", rng=rng),
    )
    opt = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, seed=seed)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=256, shuffle=True, seed=seed)
    history = trainer.fit(loader, epochs=epochs, val=(xt, yt))
    if printer:
        for e in history.epochs:
            printer(f"epoch {e['epoch'] + 1}: train loss {e['loss']:.4f}  train acc {e['accuracy']:.4f}  "
                    f"test loss {e['val_loss']:.4f}  test acc {e['val_accuracy']:.4f}")
    return {"history": history, "test": trainer.evaluate((xt, yt))}
