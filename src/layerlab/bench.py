"""``layerlab bench``: layerlab side by side with PyTorch's eager mode and a hand-written NumPy loop.

Workloads (W1–W5 on synthetic data of the right shape, so no download is needed; W6 on Fashion-MNIST):

- W1: 784-500-500-500-10 tanh, cross-entropy, SGD η = 0.5, batch 256, float32 (the notes' MNIST net) — training.
- W2: 784 → 7 × (Linear 100 → BatchNorm → sigmoid) → 10, SGD with momentum, batch 60 — training.
- W3: 784 → 100 → 6 × 50 ReLU → 10, He init, Adam, batch 128 — training.
- W4: W1 in eval mode, batch 1024 — inference.
- W5: W1 trained by ``Trainer.fit`` with ActivationStats + GradientStats at their default sampling,
  against the same ``Trainer.fit`` without probes — what the probes cost (target: ≤ 5%, issue 16).
- W6: end to end, as users train: Fashion-MNIST (the real data; the row is skipped when it is not
  installed), 784-256-256-10 ReLU with Dropout(0.2) after each hidden layer, He init, Adam η = 1e-3 with a
  cosine schedule stepped per batch (η(t) = ½η₀(1 + cos(πt/T)), T = 12 epochs), batch 128, shuffled
  every epoch — one ``Trainer.fit`` over a ``DataLoader`` (loss and accuracy metrics, history) against
  the same recipe as a plain PyTorch loop (``torch.utils.data.DataLoader`` over a ``TensorDataset``,
  ``loss.item()`` and the correct count every step for the epoch's loss and accuracy).

W1–W5: every framework starts from the same weights and sees the same batches, so the first
losses agree (``tests/test_bench.py`` checks it): the benchmark compares equal work. W6 starts
from the same weights; its shuffles and dropout masks come from each framework's own generators.

How it measures. Each framework runs in its own worker process (which imports only that
framework), started with the same thread count for BLAS, OpenMP and ``torch.set_num_threads``.
After a warm-up the parent lets the workers run in turn — A, B, A, B, … — a round of
``steps`` steps each, so that a burst of load from other processes hits both sides of a
pair. With more than one thread the parent waits ``--settle`` seconds (0.2) before each round: a
worker's BLAS threads spin for about 0.1 s after its last call, and a round started meanwhile would
share the cores with them (see ``SETTLE``). The table shows the median samples/s of each side, the
median over the pairs of the ratio layerlab / peer with its 95% confidence interval (the sign test's,
from the pairs' order statistics: a target inside it is within the run's noise) and its min–max, and
each worker's peak RSS (the high-water mark of a process that ran only that framework, imports
included: torch's import alone is about 180 MB). On a shared machine absolute samples/s move with
the load; the ratios measured side by side in one run are what counts. The thread count and the
load average (before and after) are part of the output, and the JSON keeps every round, wall-clock
and CPU time.

W5 measures a difference of a few per cent, which one burst of load on a shared machine can swamp,
so its rounds are longer and more: by default about 1 s and at least 40 steps each (whole sampling
periods of 10 steps, so that every round holds the same number of sampled steps), and at least 41
pairs whatever ``--repeat`` says. Its row gives what the probes cost as 1/ratio − 1 of the median
wall-clock ratio (the verdict) and, beside it, the same from the median ratio of the workers' CPU
times, with its own ✓/✗: with ``--threads 1`` the CPU time leaves out the time a worker waited for a
core, which on a loaded machine is most of the wall clock's noise (caches and memory bandwidth shared
with other processes still weigh on both).

The roofline: the peer ``gemm`` runs only the workload's matrix products (forward, and in training the
weight and input gradients) on the same shapes, into preallocated outputs — the least any CPU framework
must do per step. Measured in the same A/B rounds, its ratio is the fraction of that GEMM bound layerlab
reaches (``gemm_flops`` gives the FLOP count, for a rate). At 2 threads single pairs of W1 rounds against
it spread widely on a shared VM (0.44–1.10 in one run), so W1 runs at least 41 pairs, as W5 does (the
median's interval is then a few points wide).

PyTorch is a dev extra, not a dependency: it is imported only inside a torch worker, and
``--vs torch`` without it installed stops with a message.

    layerlab bench [--workload W1 ...] [--vs torch] [--vs numpy] [--vs gemm] [--repeat N] [--steps K]
                   [--threads T] [--json PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

__all__ = ["WORKLOADS", "Workload", "FRAMEWORKS", "PEERS", "Runner", "synthetic_batches", "initial_weights", "build", "main",
           "fashion_mnist_train", "w6_trainer", "W6_EPOCHS"]


@dataclass(frozen=True)
class Workload:
    """One benchmark: the network, the optimiser, the batch size, and what is timed."""

    name: str
    title: str
    sizes: tuple            # layer widths, input first
    activation: str         # "tanh" | "sigmoid" | "relu"
    init: str               # "xavier" (Glorot normal) | "he"
    batch: int
    optimizer: str = "sgd"  # "sgd" | "momentum" | "adam"
    lr: float = 0.5
    batchnorm: bool = False
    train: bool = True
    probes: bool = False
    dropout: float = 0.0    # p of a Dropout after every hidden activation
    end_to_end: bool = False  # W6: Trainer.fit on Fashion-MNIST with a cosine schedule, vs a plain torch loop
    min_steps: int = 2      # the fewest steps in a round that --steps' default picks
    step_multiple: int = 1  # --steps' default is a multiple of this (W5: the probes' sampling period, 10)
    round_seconds: float = 0.25  # --steps' default: a round of the slower side lasts about this long (W5: 1 s)
    min_rounds: int = 1     # at least this many A/B pairs, whatever --repeat says (W1, W5: 41)


_W1 = (784, 500, 500, 500, 10)
WORKLOADS = {
    "W1": Workload("W1", "784-500-500-500-10 tanh, CE, SGD η=0.5, batch 256 — training", _W1, "tanh", "xavier", 256,
                   min_rounds=41),
    "W2": Workload("W2", "784-7×(100, BatchNorm, sigmoid)-10, SGD momentum 0.9, batch 60 — training",
                   (784,) + (100,) * 7 + (10,), "sigmoid", "xavier", 60, "momentum", 0.1, batchnorm=True),
    "W3": Workload("W3", "784-100-6×50-10 ReLU, He init, Adam, batch 128 — training",
                   (784, 100) + (50,) * 6 + (10,), "relu", "he", 128, "adam", 1e-3),
    "W4": Workload("W4", "W1 in eval mode, batch 1024 — inference", _W1, "tanh", "xavier", 1024, train=False),
    "W5": Workload("W5", "W1 in Trainer.fit with ActivationStats + GradientStats (default sampling) "
                         "vs the same fit without probes", _W1, "tanh", "xavier", 256, probes=True,
                   min_steps=40, step_multiple=10, round_seconds=1.0, min_rounds=41),
    "W6": Workload("W6", "Fashion-MNIST 784-256-256-10 ReLU, dropout 0.2, Adam + cosine, batch 128, shuffled — "
                         "Trainer.fit + DataLoader vs a plain PyTorch loop", (784, 256, 256, 10), "relu", "he", 128,
                   "adam", 1e-3, dropout=0.2, end_to_end=True, min_steps=40),
}
#: W6's cosine schedule runs over this many epochs of Fashion-MNIST (T = epochs · ⌈60000/128⌉ batches)
W6_EPOCHS = 12

#: Frameworks a workload can be built in. "layerlab-noprobes" is W5's peer.
FRAMEWORKS = ("layerlab", "torch", "numpy", "layerlab-noprobes", "gemm")
#: Peers selectable with --vs, and the workloads each one has.
PEERS = {"torch": ("W1", "W2", "W3", "W4", "W6"), "numpy": ("W1",), "gemm": ("W1", "W2", "W3", "W4")}
_POOL = 8  # distinct batches, cycled: realistic data movement, and the loss does not collapse to 0


def _workload(name: str) -> Workload:
    try:
        return WORKLOADS[name]
    except KeyError:
        raise ValueError(f"bench: unknown workload {name!r}; choose from {', '.join(WORKLOADS)}") from None


# -- shared inputs -------------------------------------------------------------------------------------------
def synthetic_batches(workload: str, seed: int = 0, pool: int = _POOL) -> tuple[np.ndarray, np.ndarray]:
    """``pool`` batches shaped like MNIST: x (pool, batch, 784) float32 in [0, 1] with ~19 % non-zero
    pixels (MNIST's density), y (pool, batch) int64 labels drawn at random (so that the net cannot
    fit them in the few hundred steps of a benchmark and the loss stays of order 1)."""
    w = _workload(workload)
    rng = np.random.default_rng([seed, 1])
    shape = (1 if not w.train else pool, w.batch, w.sizes[0])
    x = rng.random(shape, dtype=np.float32)
    x *= rng.random(shape, dtype=np.float32) < 0.19
    y = rng.integers(0, w.sizes[-1], shape[:2])
    return x, y


def initial_weights(workload: str, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W of shape (out, in), b) per Linear layer, float32: Glorot normal (W1, W2, W4, W5) or He normal
    (W3), zero biases. Every framework loads these, so all start from the same point."""
    w = _workload(workload)
    rng = np.random.default_rng([seed, 2])
    out = []
    for fan_in, fan_out in zip(w.sizes[:-1], w.sizes[1:]):
        std = math.sqrt(2.0 / fan_in) if w.init == "he" else math.sqrt(2.0 / (fan_in + fan_out))
        out.append(((rng.standard_normal((fan_out, fan_in)) * std).astype(np.float32),
                    np.zeros(fan_out, np.float32)))
    return out


class Runner:
    """A built workload: ``step()`` does one training step (returns the loss as a float) or one
    inference pass (returns the output as an np.ndarray); ``run(k)`` does k steps. W6's runners also
    have ``accuracy(x, y)`` (the model's accuracy in eval mode) and ``close()`` (ends the training)."""

    def __init__(self, workload: Workload, framework: str, step, run=None, accuracy=None, close=None):
        self.workload = workload
        self.framework = framework
        self.step = step
        self._run = run
        self.accuracy = accuracy
        self._close = close

    def close(self) -> None:
        if self._close is not None:
            self._close()

    def run(self, k: int) -> None:
        if self._run is not None:
            self._run(k)
            return
        step = self.step
        for _ in range(k):
            step()


# -- layerlab ---------------------------------------------------------------------------------------------------
def _layerlab_model(w: Workload, seed: int):
    from . import nn

    layers = []
    weights = initial_weights(w.name, seed)
    for i, (wt, b) in enumerate(weights):
        lin = nn.Linear(wt.shape[1], wt.shape[0], init="zeros")
        lin.weight.data[...] = wt
        lin.bias.data[...] = b
        layers.append(lin)
        if i < len(weights) - 1:
            if w.batchnorm:
                layers.append(nn.BatchNorm(wt.shape[0]))
            layers.append(nn.activation(w.activation))
            if w.dropout:
                layers.append(nn.Dropout(w.dropout))
    return nn.Sequential(*layers)


def _layerlab_optimizer(w: Workload, params):
    from . import optim

    if w.optimizer == "adam":
        return optim.Adam(params, lr=w.lr)
    return optim.SGD(params, lr=w.lr, momentum=0.9 if w.optimizer == "momentum" else 0.0)


def _layerlab(w: Workload, seed: int, probes: bool) -> Runner:
    from . import nn
    from .tensor import Tensor, no_grad

    if w.end_to_end:
        return _layerlab_fit(w, seed)
    model = _layerlab_model(w, seed)
    xs, ys = synthetic_batches(w.name, seed)
    if not w.train:
        model.eval()
        x = Tensor(xs[0])

        def infer():
            with no_grad():
                return model(x).data
        return Runner(w, "layerlab", infer)

    loss_fn = nn.CrossEntropyLoss()
    opt = _layerlab_optimizer(w, model.parameters())
    if w.probes:
        return _layerlab_trainer(w, model, loss_fn, opt, xs, ys, probes)
    batches = [(Tensor(x), Tensor(y)) for x, y in zip(xs, ys)]
    it = [0]

    def step():
        x, y = batches[it[0] % len(batches)]
        it[0] += 1
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    return Runner(w, "layerlab", step)


class _Cycle:
    """A dataset of ``n`` examples that cycles through the pool of batches from batch ``start`` on,
    gathered by the DataLoader with one fancy index per array, as a TensorDataset would be."""

    def __init__(self, x: np.ndarray, y: np.ndarray, n: int, start: int):
        self.x, self.y, self.n, self.start = x, y, n, start

    def __len__(self) -> int:
        return self.n

    def get_batch(self, indices):
        i = (np.asarray(indices) + self.start) % len(self.x)
        return self.x[i], self.y[i]

    __getitem__ = get_batch


def _layerlab_trainer(w, model, loss_fn, opt, xs, ys, probes: bool) -> Runner:
    """W5: ``Trainer.fit`` over the same cycled batches; a round of k steps is one fit() call
    whose single epoch has k batches (the probes' sampling follows the global step)."""
    from .data import DataLoader
    from .probes import ActivationStats, GradientStats
    from .train import Trainer

    callbacks = [ActivationStats(), GradientStats()] if probes else []
    trainer = Trainer(model, loss_fn, opt, callbacks=callbacks, metrics=("accuracy",), progress=False)
    x, y = xs.reshape(-1, xs.shape[-1]), ys.reshape(-1)

    def run(k):
        start = trainer.step * w.batch
        trainer.fit(DataLoader(_Cycle(x, y, k * w.batch, start), batch_size=w.batch), epochs=trainer.epoch + 1)

    def step():
        run(1)
        return trainer.history.steps[-1]["loss"]
    return Runner(w, "layerlab" if probes else "layerlab-noprobes", step, run)


def fashion_mnist_train() -> tuple[np.ndarray, np.ndarray]:
    """W6's data: the Fashion-MNIST training split, x (60000, 784) float32 in [0, 1], y int64. Never
    downloads; FileNotFoundError (saying where it looked and how to install it) when it is not there."""
    from .data import fashion_mnist

    return tuple(fashion_mnist(download=False, split="train"))


class _Paced:
    """Runs ``fit()`` (which trains for as long as it is let) in a thread of its own, ``k`` batches at a
    time: ``run(k)`` lets it through k more batches and returns when they are done. The training loop
    calls ``pause()`` once before its first batch and after every batch; ``close()`` makes the pause
    call ``stop()`` (which ends the fit) and waits for the thread. The hand-over costs two semaphore
    operations a round."""

    def __init__(self, fit, stop, name: str):
        import threading

        self._go, self._done = threading.Semaphore(0), threading.Semaphore(0)
        self._left = 0
        self._closing = False
        self._error = None
        self._stop = stop

        def target():
            try:
                fit()
            except BaseException as e:  # noqa: BLE001 - handed to the caller of run()
                self._error = e
            finally:
                self._done.release()
        self._thread = threading.Thread(target=target, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread and wait until it is ready to train (its first ``pause()``)."""
        self._thread.start()
        self._done.acquire()
        self._check()

    def pause(self) -> None:
        """In the training thread: go on while the round lasts, else report and wait for the next one."""
        self._left -= 1
        if self._left > 0:
            return
        self._done.release()
        self._go.acquire()
        if self._closing:
            self._stop()

    def run(self, k: int) -> None:
        if k < 1:
            return
        if not self._thread.is_alive():
            raise RuntimeError("bench: the training thread has ended") from self._error
        self._left = k
        self._go.release()
        self._done.acquire()
        self._check()

    def _check(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"bench: the training thread failed: {self._error!r}") from self._error

    def close(self) -> None:
        if self._thread.is_alive():
            self._closing = True
            self._go.release()
            self._thread.join()


def w6_trainer(seed: int = 0, data: tuple[np.ndarray, np.ndarray] | None = None):
    """W6's ``(Trainer, DataLoader)``: the model on :func:`initial_weights`, Adam, the cosine schedule over
    ``W6_EPOCHS`` epochs stepped per batch, the accuracy metric, a shuffled loader of batch 128 over ``data``
    (default: :func:`fashion_mnist_train`)."""
    from . import nn
    from .data import DataLoader, TensorDataset
    from .optim.lr_scheduler import CosineAnnealingLR
    from .train import Trainer

    w = WORKLOADS["W6"]
    x, y = fashion_mnist_train() if data is None else data
    model = _layerlab_model(w, seed)
    loader = DataLoader(TensorDataset(x, y), batch_size=w.batch, shuffle=True, seed=seed)
    opt = _layerlab_optimizer(w, model.parameters())
    sched = CosineAnnealingLR(opt, T_max=W6_EPOCHS * len(loader))
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, scheduler_interval="step",
                      metrics=("accuracy",), seed=seed, progress=False)
    return trainer, loader


def _layerlab_fit(w: Workload, seed: int) -> Runner:
    """W6: one ``Trainer.fit`` (loss and accuracy metrics, the history, the per-batch cosine schedule)
    over a shuffled ``DataLoader`` of Fashion-MNIST, run in a thread ``k`` batches at a time; the data
    check and the reseeding at the start of ``fit`` happen before the first round, as they happen once
    in a run of many epochs."""
    from .train import Callback

    trainer, loader = w6_trainer(seed)

    class Pause(Callback):
        def on_fit_start(self, trainer):
            paced.pause()

        def on_batch_end(self, trainer, step, logs):
            paced.pause()

    def stop():
        trainer.stop_training = True

    trainer.callbacks.append(Pause())
    paced = _Paced(lambda: trainer.fit(loader, epochs=10**6), stop, "layerlab-W6")
    paced.start()

    def step():
        paced.run(1)
        return trainer.history.steps[-1]["loss"]

    def accuracy(xe, ye):
        return trainer.evaluate((xe, ye))["accuracy"]
    return Runner(w, "layerlab", step, paced.run, accuracy, paced.close)


# -- PyTorch ----------------------------------------------------------------------------------------------------
def _torch_fit(w: Workload, model, seed: int) -> Runner:
    """W6 as a PyTorch user writes it: a DataLoader over a TensorDataset (shuffled), the cosine schedule
    stepped per batch, and the epoch's loss and accuracy summed from ``loss.item()`` and the correct count."""
    import torch

    x, y = fashion_mnist_train()
    ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    loader = torch.utils.data.DataLoader(ds, batch_size=w.batch, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)  # the dropout masks
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=w.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=W6_EPOCHS * len(loader))
    history = []

    def train():
        for _ in range(10**6):
            model.train()
            loss_sum, correct, n = 0.0, 0, 0
            for xb, yb in loader:
                opt.zero_grad()
                out = model(xb)
                loss = loss_fn(out, yb)
                loss.backward()
                opt.step()
                sched.step()
                value = loss.item()
                loss_sum += value * len(xb)
                correct += (out.argmax(dim=1) == yb).sum().item()
                n += len(xb)
                yield value
            history.append({"loss": loss_sum / n, "accuracy": correct / n})

    steps = train()

    def step():
        return next(steps)

    def run(k):
        for _ in range(k):
            next(steps)

    def accuracy(xe, ye):
        was = model.training
        model.eval()
        try:
            with torch.inference_mode():
                return float((model(torch.from_numpy(xe)).argmax(dim=1).numpy() == ye).mean())
        finally:
            model.train(was)
    return Runner(w, "torch", step, run, accuracy)


def _torch(w: Workload, seed: int) -> Runner:
    import torch

    layers = []
    weights = initial_weights(w.name, seed)
    act = {"tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU}[w.activation]
    for i, (wt, b) in enumerate(weights):
        lin = torch.nn.Linear(wt.shape[1], wt.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(wt))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(weights) - 1:
            if w.batchnorm:
                layers.append(torch.nn.BatchNorm1d(wt.shape[0]))
            layers.append(act())
            if w.dropout:
                layers.append(torch.nn.Dropout(w.dropout))
    model = torch.nn.Sequential(*layers)
    if w.end_to_end:
        return _torch_fit(w, model, seed)
    xs, ys = synthetic_batches(w.name, seed)
    if not w.train:
        model.eval()
        x = torch.from_numpy(xs[0])

        def infer():
            with torch.inference_mode():
                return model(x).numpy()
        return Runner(w, "torch", infer)

    loss_fn = torch.nn.CrossEntropyLoss()
    if w.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=w.lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=w.lr, momentum=0.9 if w.optimizer == "momentum" else 0.0)
    batches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in zip(xs, ys)]
    it = [0]

    def step():
        x, y = batches[it[0] % len(batches)]
        it[0] += 1
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    return Runner(w, "torch", step)


# -- the hand-written NumPy loop (W1): the practical limit -----------------------------------------------------
def _numpy(w: Workload, seed: int) -> Runner:
    """W1 written out by hand: one GEMM per layer forward, two backward, tanh' = 1 − h² from the
    saved output, fused softmax-cross-entropy, in-place SGD. No framework, no graph."""
    if w.name != "W1":
        raise ValueError(f"bench: the hand-written NumPy loop exists for W1 only, not {w.name}")
    params = initial_weights(w.name, seed)
    xs, ys = synthetic_batches(w.name, seed)
    n = w.batch
    rows = np.arange(n)
    lr = w.lr
    it = [0]

    def step():
        i = it[0] % len(xs)
        it[0] += 1
        x, y = xs[i], ys[i]
        hs = [x]
        for wt, b in params[:-1]:
            a = hs[-1] @ wt.T
            a += b
            np.tanh(a, out=a)
            hs.append(a)
        wt, b = params[-1]
        z = hs[-1] @ wt.T
        z += b
        z -= z.max(axis=1, keepdims=True)            # log-softmax, stable
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.log(s).mean() - z[rows, y].mean())
        e /= s                                        # dL/dz = (softmax − onehot)/n
        e[rows, y] -= 1.0
        e *= 1.0 / n
        g = e
        for k in range(len(params) - 1, -1, -1):
            wt, b = params[k]
            gw = g.T @ hs[k]
            gb = g.sum(axis=0)
            if k:
                g = g @ wt
                d = hs[k] * hs[k]                     # tanh' = 1 − h²
                np.subtract(1.0, d, out=d)
                g *= d
            gw *= lr
            wt -= gw
            gb *= lr
            b -= gb
        return loss
    return Runner(w, "numpy", step)


def gemm_flops(w: Workload) -> int:
    """FLOP per step of the workload's matrix products: 2·batch·in·out per Linear layer forward; training adds
    the weight gradient (same count) and the input gradient (every layer but the first, whose input needs none)."""
    pairs = list(zip(w.sizes[:-1], w.sizes[1:]))
    fwd = sum(2 * w.batch * a * b for a, b in pairs)
    if not w.train:
        return fwd
    return 2 * fwd + sum(2 * w.batch * a * b for a, b in pairs[1:])


def _gemm(w: Workload, seed: int) -> Runner:
    """The roofline: only the workload's GEMMs, on its own shapes and float32 (forward ``h @ Wᵀ``, and in
    training ``gᵀ @ h`` and ``g @ W``), into preallocated outputs — what any CPU framework must at least
    do per step. Its time over layerlab's is the fraction of the GEMM bound layerlab reaches."""
    params = [wt for wt, _ in initial_weights(w.name, seed)]
    xs, _ = synthetic_batches(w.name, seed)
    hs = [xs[0]] + [np.empty((w.batch, b), np.float32) for b in w.sizes[1:]]
    gs = [np.empty((w.batch, a), np.float32) for a in w.sizes[:-1]]
    gws = [np.empty_like(wt) for wt in params]
    g_out = np.full((w.batch, w.sizes[-1]), 1e-3, np.float32)

    def step():
        for k, wt in enumerate(params):
            np.matmul(hs[k], wt.T, out=hs[k + 1])
        if w.train:
            g = g_out
            for k in range(len(params) - 1, -1, -1):
                np.matmul(g.T, hs[k], out=gws[k])
                if k:
                    np.matmul(g, params[k], out=gs[k])
                    g = gs[k]
        return 0.0
    return Runner(w, "gemm", step)


def build(workload: str, framework: str, seed: int = 0) -> Runner:
    """Build ``workload`` ("W1" … "W6") in ``framework`` ("layerlab", "torch", "numpy", "gemm", or
    "layerlab-noprobes": W5 without its probes). Weights and data depend only on ``seed``. W6 reads
    Fashion-MNIST (FileNotFoundError when it is not installed) and trains in a thread: ``close()`` it."""
    w = _workload(workload)
    if framework == "layerlab":
        return _layerlab(w, seed, probes=True)
    if framework == "layerlab-noprobes":
        return _layerlab(w, seed, probes=False)
    if framework == "torch":
        return _torch(w, seed)
    if framework == "numpy":
        return _numpy(w, seed)
    if framework == "gemm":
        return _gemm(w, seed)
    raise ValueError(f"bench: unknown framework {framework!r}; choose from {', '.join(FRAMEWORKS)}")


# -- worker processes ---------------------------------------------------------------------------------------------
def _maxrss_mb() -> float:
    """Peak resident set size of this process, in MB.

    On Linux: ``VmHWM`` of ``/proc/self/status``, the high-water mark of this address space.
    ``getrusage(RUSAGE_SELF).ru_maxrss`` is used elsewhere; on Linux it would also count the
    parent's RSS, which a child inherits across fork + exec (a worker started from a test
    process holding torch would "use" torch's memory)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if sys.platform == "darwin" else r / 1024.0  # bytes on macOS, KiB elsewhere


def _worker(workload: str, framework: str, seed: int, threads: int) -> int:
    """Serve one built workload over stdin/stdout: ``run K`` -> seconds, ``rss`` -> MB, ``quit``."""
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but the protocol on the pipe
    base = _maxrss_mb()
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
        base = _maxrss_mb()
    runner = build(workload, framework, seed)
    print(f"ready {base:.1f}", file=out, flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        if cmd[0] == "run":
            t, c = time.perf_counter(), time.process_time()
            runner.run(int(cmd[1]))
            print(f"{time.perf_counter() - t:.9f} {time.process_time() - c:.9f}", file=out, flush=True)
        elif cmd[0] == "rss":
            print(f"{_maxrss_mb():.1f}", file=out, flush=True)
    runner.close()
    return 0


class _Worker:
    def __init__(self, workload: str, framework: str, seed: int, threads: int):
        self.framework = framework
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
            env[var] = str(threads)
        src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "layerlab.bench", "--worker", workload, framework, str(seed), str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.base_rss = None

    def _read(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise RuntimeError(f"bench: the {self.framework} worker exited with code {code} (its error is above)")
        return line.strip()

    def ready(self) -> None:
        self.base_rss = float(self._read().split()[1])

    def run(self, k: int) -> tuple[float, float]:
        """Run k steps; (wall-clock seconds, CPU seconds of the worker's threads)."""
        self.proc.stdin.write(f"run {k}\n")
        self.proc.stdin.flush()
        wall, cpu = self._read().split()
        return float(wall), float(cpu)

    def rss(self) -> float:
        self.proc.stdin.write("rss\n")
        self.proc.stdin.flush()
        return float(self._read())

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


# -- measuring ------------------------------------------------------------------------------------------------
#: seconds the parent waits before each timed round when the workers run more than one thread. A worker's
#: BLAS threads keep spinning for about 0.1 s after its last call (OpenBLAS's THREAD_TIMEOUT, 2²⁸ cycles)
#: before they sleep; a round started meanwhile shares the cores with them. Measured here (W1 against its
#: GEMMs, 2 threads): without the wait both sides ran at about 24 ms per step instead of 15 and 12, and the
#: GEMM side lost more, so the fraction of the GEMM bound read 0.88–0.90 instead of 0.76–0.82.
SETTLE = 0.2


def _rounds(a: _Worker, b: _Worker, steps: int, repeat: int, settle: float = 0.0) -> np.ndarray:
    """(wall s/step of A, of B, CPU s/step of A, of B) in ``repeat`` alternating rounds of ``steps``
    steps each, each round after ``settle`` seconds of quiet: an array of shape (4, repeat)."""
    out = np.empty((4, repeat))
    for i in range(repeat):
        time.sleep(settle)
        out[0::2, i] = a.run(steps)
        time.sleep(settle)
        out[1::2, i] = b.run(steps)
    return out / steps


def median_ci(values, level: float = 0.95) -> tuple[float, float] | None:
    """Distribution-free confidence interval of the median of ``values`` (independent draws): the order
    statistics x₍ₖ₎ and x₍ₙ₊₁₋ₖ₎ with the largest k such that P(B ≤ k − 1) ≤ (1 − level)/2, B ~ Binomial(n, ½)
    (the sign test's interval; its coverage is at least ``level``). None when n is too small for one (n < 6
    at 95%)."""
    from scipy.stats import binom

    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    j = np.arange(1, n + 1)
    ok = j[binom.cdf(j - 1, n, 0.5) <= (1.0 - level) / 2]
    if not len(ok):
        return None
    k = int(ok.max())
    return float(x[k - 1]), float(x[n - k])


def _auto_steps(a: _Worker, b: _Worker, budget: float = 0.25, least: int = 2, multiple: int = 1,
                settle: float = 0.0) -> int:
    """Steps per round so that a round of the slower side takes about ``budget`` seconds, at least ``least``
    (W6's 40: a round of an end-to-end run spans its per-step variation, an epoch's end now and then), a
    multiple of ``multiple`` (W5's 10: every round holds the same number of sampled steps)."""
    time.sleep(settle)
    ta = a.run(2)[0]
    time.sleep(settle)
    t = max(ta, b.run(2)[0]) / 2
    n = int(min(100, max(least, round(budget / max(t, 1e-6)))))
    return -(-n // multiple) * multiple


def _threads_default() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


TARGETS = {  # (workload, peer) -> minimum median ratio layerlab / peer
    ("W1", "torch"): 1.10, ("W2", "torch"): 1.10, ("W3", "torch"): 1.10, ("W1", "numpy"): 0.90,
    ("W4", "torch"): 1.00,
    ("W5", "layerlab-noprobes"): 1 / 1.05,  # issue 16: ActivationStats + GradientStats cost ≤ 5% of the fit
    ("W1", "gemm"): 0.85,  # [perf]: W1 at ≥ 85% of the GEMM bound (the ratio against "gemm" is that fraction)
    ("W6", "torch"): 1.30,  # [perf]: end to end through Trainer.fit, ≥ 1.3× the plain PyTorch loop
}
MEMORY_TARGETS = {("W1", "torch"): 1.2}  # maximum peak RSS layerlab / peer


def _measure(workload: str, peers: list[str], args) -> list[dict]:
    w = WORKLOADS[workload]
    workers = {"layerlab": _Worker(workload, "layerlab", args.seed, args.threads)}
    for p in peers:
        workers[p] = _Worker(workload, p, args.seed, args.threads)
    rows = []
    settle = args.settle if args.threads > 1 else 0.0  # one thread: no BLAS worker threads to wait for
    try:
        for wk in workers.values():
            wk.ready()
        a = workers["layerlab"]
        for p in peers:
            b = workers[p]
            for _ in range(args.warmup):
                a.run(1)
                b.run(1)
            steps = args.steps or _auto_steps(a, b, budget=w.round_seconds, least=w.min_steps,
                                              multiple=w.step_multiple, settle=settle)
            repeat = max(args.repeat, w.min_rounds)
            load0 = os.getloadavg()
            ta, tb, ca, cb = _rounds(a, b, steps, repeat, settle)
            ratio = tb / ta  # = (samples/s of layerlab) / (samples/s of the peer), pair by pair
            rows.append({
                "workload": workload, "peer": p, "batch": w.batch, "steps_per_round": steps, "rounds": repeat,
                "layerlab_samples_s": float(np.median(w.batch / ta)), "peer_samples_s": float(np.median(w.batch / tb)),
                "ratio_median": float(np.median(ratio)), "ratio_ci95": median_ci(ratio),
                "ratio_min": float(ratio.min()), "ratio_max": float(ratio.max()),
                "layerlab_s_per_step": ta.tolist(), "peer_s_per_step": tb.tolist(),
                "layerlab_cpu_s_per_step": ca.tolist(), "peer_cpu_s_per_step": cb.tolist(),
                "cpu_ratio_median": float(np.median(cb / ca)),
                "load_before": load0, "load_after": os.getloadavg(), "target": TARGETS.get((workload, p)),
            })
        for p, row in zip(peers, rows):
            row["layerlab_rss_mb"] = a.rss()
            row["peer_rss_mb"] = workers[p].rss()
            row["layerlab_import_rss_mb"] = a.base_rss
            row["peer_import_rss_mb"] = workers[p].base_rss
            row["memory_target"] = MEMORY_TARGETS.get((workload, p))
    finally:
        for wk in workers.values():
            wk.close()
    return rows


def _missing_data(w: Workload) -> str | None:
    """Why ``w`` cannot run here (its data set is not installed: the message says where it was looked for
    and how to install it), or None."""
    if not w.end_to_end:
        return None
    try:
        fashion_mnist_train()
    except FileNotFoundError as e:
        return str(e)
    return None


# -- output -----------------------------------------------------------------------------------------------------
def _verdict(row: dict) -> str:
    t = row.get("target")
    if t is None:
        return ""
    text = f"≥ {t:.2f}× " + ("✓" if row["ratio_median"] >= t else "✗ MISSED")
    if row["peer"] == "layerlab-noprobes":  # W5: the verdict is the wall clock's; the CPU time's beside it
        text += ", CPU " + ("✓" if row["cpu_ratio_median"] >= t else "✗")
    return text


def _memory(row: dict) -> str:
    if row["workload"] == "W5" or row["peer"] == "gemm" or not row.get("peer_rss_mb"):
        return "-"
    text = f"{row['layerlab_rss_mb']:.0f} / {row['peer_rss_mb']:.0f} MB"
    m = row.get("memory_target")
    if m is not None:
        r = row["layerlab_rss_mb"] / row["peer_rss_mb"]
        text += f" ({r:.2f}×, ≤ {m:.1f}× " + ("✓)" if r <= m else "✗ MISSED)")
    return text


def _pairs(rows: list[dict], meta: dict) -> str:
    """The number of A/B pairs of the rows: ``--repeat``, and the rows that ran more (W1's, W5's ``min_rounds``)."""
    more = {f"{r['workload']} {r['rounds']}" for r in rows if r["rounds"] != meta["repeat"]}
    return f"{meta['repeat']}" + (f" ({', '.join(sorted(more))})" if more else "")


def _table(rows: list[dict], meta: dict):
    from rich.table import Table

    load = meta["load_before"]
    table = Table(title=f"layerlab bench — {meta['cores']} cores, {meta['threads']} thread(s) for BLAS/OpenMP/torch; "
                        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before, "
                        f"{meta['load_after'][0]:.2f} after; {_pairs(rows, meta)} A/B pairs per row"
                        + (f", each round after {meta['settle']:g} s of quiet" if meta.get("settle") else "")
                        + "; compiled kernels "
                        f"{'on (numba)' if meta['jit'] else 'off (NumPy; LAYERLAB_JIT=0 or no numba)'}",
                  title_justify="left")
    for col in ("workload", "peer", "layerlab samples/s", "peer samples/s", "ratio (median)", "95% CI", "min–max",
                "target", "peak RSS layerlab / peer"):
        table.add_column(col, justify="left" if col in ("workload", "peer", "target") else "right")
    for r in rows:
        peer = {"layerlab-noprobes": "Trainer, no probes", "gemm": "GEMM bound"}.get(r["peer"], r["peer"])
        ratio = f"{r['ratio_median']:.2f}×"
        if r["peer"] == "gemm":
            ratio = f"{100 * r['ratio_median']:.1f}% of it  " + ratio
        if r["peer"] == "layerlab-noprobes":  # what the probes cost: wall clock (the verdict), and CPU time
            ratio = (f"probes {100 * (1 / r['ratio_median'] - 1):+.1f}% "
                     f"(CPU {100 * (1 / r['cpu_ratio_median'] - 1):+.1f}%)  " + ratio)
        ci = r.get("ratio_ci95")
        table.add_row(r["workload"], peer, f"{r['layerlab_samples_s']:,.0f}", f"{r['peer_samples_s']:,.0f}", ratio,
                      f"{ci[0]:.2f}–{ci[1]:.2f}" if ci else "-", f"{r['ratio_min']:.2f}–{r['ratio_max']:.2f}",
                      _verdict(r), _memory(r))
    return table


def step_split(rows: list[dict], workload: str = "W1") -> str | None:
    """Where a step of ``workload`` goes, from three peers timed in one run (median seconds per step):
    GEMM = the ``gemm`` peer (the matrix products alone); elementwise = the hand-written NumPy loop minus
    its GEMMs (activations, softmax-cross-entropy, bias adds, the update: the least a framework adds);
    framework overhead = layerlab minus the NumPy loop (graph, dispatch, temporaries). None when a peer
    is missing."""
    by = {r["peer"]: r for r in rows if r["workload"] == workload}
    if not {"numpy", "gemm"} <= set(by):
        return None
    t_l = float(np.median(by["numpy"]["layerlab_s_per_step"] + by["gemm"]["layerlab_s_per_step"]))
    t_n, t_g = float(np.median(by["numpy"]["peer_s_per_step"])), float(np.median(by["gemm"]["peer_s_per_step"]))
    parts = [("GEMM", t_g), ("elementwise", t_n - t_g), ("framework overhead", t_l - t_n)]
    return (f"{workload} step {1e3 * t_l:.2f} ms: "
            + ", ".join(f"{name} {1e3 * t:.2f} ms ({100 * t / t_l:.0f}%)" for name, t in parts)
            + (" (negative: layerlab was faster than the hand-written loop)" if t_l < t_n else ""))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="layerlab bench", description=__doc__.split("\n\n")[0].strip("`"))
    p.add_argument("--workload", "-w", action="append", choices=list(WORKLOADS), metavar="NAME",
                   help="workload to run (repeatable; default: all): " + ", ".join(WORKLOADS))
    p.add_argument("--vs", action="append", choices=list(PEERS), default=None,
                   help="peer to compare with (repeatable; default: torch when installed, numpy, and gemm: the "
                        "workload's GEMMs alone, whose ratio is the fraction of the GEMM bound layerlab reaches)")
    p.add_argument("--repeat", type=int, default=11, help="A/B pairs of rounds (default 11; W1, W5: at least 41)")
    p.add_argument("--steps", type=int, default=0,
                   help="steps per round (default: about 0.25 s of the slower side per round; at least 40 for W6; "
                        "W5: about 1 s, at least 40, whole sampling periods of 10)")
    p.add_argument("--warmup", type=int, default=3, help="warm-up steps of each side before timing (default 3)")
    p.add_argument("--threads", type=int, default=_threads_default(),
                   help="threads for BLAS, OpenMP and torch, the same for every framework (default: all cores)")
    p.add_argument("--settle", type=float, default=SETTLE,
                   help=f"with more than one thread, seconds to wait before each timed round, so that the other "
                        f"worker's BLAS threads have stopped spinning (default {SETTLE})")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the data (default 0)")
    p.add_argument("--json", metavar="PATH", help="also write the results (every round) as JSON")
    p.add_argument("--profile", action="store_true",
                   help="also print where a W1 step's time goes: GEMM, elementwise, framework overhead "
                        "(from the gemm and numpy peers measured in the same run)")
    p.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``layerlab bench``; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.worker:
        workload, framework, seed, threads = args.worker
        return _worker(workload, framework, int(seed), int(threads))
    for name, v, low in (("--repeat", args.repeat, 1), ("--steps", args.steps, 0), ("--warmup", args.warmup, 0),
                         ("--threads", args.threads, 1), ("--settle", args.settle, 0)):
        if v < low:
            print(f"layerlab bench: {name} must be >= {low}, got {v}", file=sys.stderr)
            return 2
    has_torch = importlib.util.find_spec("torch") is not None
    peers = list(dict.fromkeys(args.vs)) if args.vs else (["torch"] if has_torch else []) + ["numpy", "gemm"]
    if "torch" in peers and not has_torch:
        print("layerlab bench: --vs torch needs PyTorch, which is not installed "
              "(it is a dev extra: pip install 'layerlab[dev]', or pip install torch)", file=sys.stderr)
        return 2
    workloads = list(dict.fromkeys(args.workload)) if args.workload else list(WORKLOADS)

    from rich.console import Console

    from .kernels import jit_enabled

    console = Console(width=max(140, Console().width))
    meta = {"cores": os.cpu_count(), "threads": args.threads, "load_before": os.getloadavg(),
            "numpy": np.__version__, "python": sys.version.split()[0], "repeat": args.repeat,
            "settle": args.settle if args.threads > 1 else 0.0,
            "warmup": args.warmup, "seed": args.seed, "jit": jit_enabled()}
    if has_torch and "torch" in peers:
        from importlib.metadata import version

        meta["torch"] = version("torch")
    busy = meta["load_before"][0]
    if args.threads > 1 and busy + args.threads > (meta["cores"] or 1) + 0.5:
        console.print(f"[yellow]note:[/] load average {busy:.2f} on {meta['cores']} cores: other processes are busy. "
                      f"With {args.threads} threads per framework every BLAS/OpenMP call waits for its slowest "
                      "thread, so the timings measure the scheduler as much as the frameworks; "
                      "a quiet machine, or --threads 1, gives framework-limited ratios.")
    rows = []
    for wname in workloads:
        wpeers = ["layerlab-noprobes"] if wname == "W5" else [p for p in peers if wname in PEERS[p]]
        if not wpeers:
            console.print(f"{wname}: no peer among {peers} runs this workload; skipped")
            continue
        missing = _missing_data(WORKLOADS[wname])
        if missing:
            console.print(f"{wname}: skipped: {missing}")
            continue
        console.print(f"{wname}: {WORKLOADS[wname].title} — layerlab vs {', '.join(wpeers)} …")
        new = _measure(wname, wpeers, args)
        for r in new:
            console.print(f"  vs {r['peer']}: {r['ratio_median']:.2f}× "
                          f"({r['ratio_min']:.2f}–{r['ratio_max']:.2f}), {r['rounds']} pairs of rounds of "
                          f"{r['steps_per_round']} steps")
        rows.extend(new)
    meta["load_after"] = os.getloadavg()
    if rows:
        console.print(_table(rows, meta))
    if args.profile:
        split = step_split(rows)
        console.print(split if split else "--profile: needs W1 measured against the numpy and gemm peers "
                                          "(the defaults: layerlab bench -w W1 --profile)")
    for wname in workloads:
        console.print(f"  {wname}: {WORKLOADS[wname].title}")
    if args.json:
        from .fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps({"meta": meta, "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
