"""Trainer.fit: the training loop, metrics, callbacks, progress, checkpoint/resume, NaN guard.

One step is the notes' mini-batch gradient descent (seed 001, 002): forward,
L = loss(f(x), y) (+ λ₁·Σ|w|), backward, optional clipping, θ ← update(θ, ∇θ L).

Callbacks see the loop at ``on_fit_start, on_epoch_start, on_batch_start,
on_after_backward`` (gradients present, before clipping and the update),
``on_batch_end, on_epoch_end, on_fit_end``. Probes (``layerlab.probes``) are
callbacks too.
"""

from __future__ import annotations

import copy
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from . import random as _random
from ._checks import int_at_least, nonnegative_float, nonnegative_int, positive_float, probability
from .checkpoint import HistoryJournal, open_checkpoint, write_checkpoint
from .data import DataLoader, Subset, TensorDataset, get_batch
from .nn.losses import l1_penalty
from .optim.clip import clip_grad_norm
from .tensor import Tensor, no_grad

__all__ = ["Trainer", "Callback", "History", "EarlyStopping", "Checkpoint", "ProgressBar", "NonFiniteError"]


class NonFiniteError(FloatingPointError):
    """The loss or a gradient became NaN/Inf; the message names the step and the first bad layer."""


class Callback:
    """Base class: every hook is optional."""

    def on_fit_start(self, trainer): ...
    def on_epoch_start(self, trainer, epoch: int): ...
    def on_batch_start(self, trainer, step: int, batch): ...
    def on_after_backward(self, trainer, step: int): ...
    def on_batch_end(self, trainer, step: int, logs: dict): ...
    def on_epoch_end(self, trainer, epoch: int, logs: dict): ...
    def on_fit_end(self, trainer): ...


class History(Callback):
    """Per-step loss and lr (``steps``) and per-epoch metrics (``epochs``)."""

    def __init__(self):
        self.steps: list[dict] = []
        self.epochs: list[dict] = []

    def on_batch_end(self, trainer, step, logs):
        self.steps.append({"step": step, "epoch": trainer.epoch, **logs})

    def on_epoch_end(self, trainer, epoch, logs):
        self.epochs.append({"epoch": epoch, **logs})

    @property
    def loss(self) -> list[float]:
        return [s["loss"] for s in self.steps]

    def metric(self, name: str) -> list[float]:
        return [e[name] for e in self.epochs if name in e]

    def state_dict(self) -> dict:
        return {"steps": [dict(s) for s in self.steps], "epochs": [dict(e) for e in self.epochs]}

    def load_state_dict(self, sd: dict) -> None:
        self.steps = [dict(s) for s in sd["steps"]]
        self.epochs = [dict(e) for e in sd["epochs"]]


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0, mode: str = "min",
                 restore_best_weights: bool = False):
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.patience, self.min_delta, self.mode = monitor, patience, min_delta, mode
        self.restore_best_weights = restore_best_weights
        self.best = math.inf if mode == "min" else -math.inf
        self.wait = 0
        self.best_state = None
        self.stopped_epoch = None

    def on_epoch_end(self, trainer, epoch, logs):
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping: metric '{self.monitor}' not in the epoch logs {sorted(logs)}")
        value = logs[self.monitor]
        better = value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        if better:
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_state = {k: v.copy() for k, v in trainer.model.state_dict().items()}
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop_training = True
                self.stopped_epoch = epoch

    def on_fit_end(self, trainer):
        if self.restore_best_weights and self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)


class Checkpoint(Callback):
    """Save everything needed to resume exactly, every ``every`` steps and at each epoch end.

    See :mod:`layerlab.checkpoint` for the format. ``keep`` newest checkpoints are kept.
    """

    def __init__(self, dir, every: int | None = None, keep: int = 2):
        self.dir = Path(dir)
        self.every = every
        self.keep = keep
        self.last_path: Path | None = None

    def on_batch_end(self, trainer, step, logs):
        if self.every and trainer.step % self.every == 0:
            self._save(trainer)

    def on_epoch_end(self, trainer, epoch, logs):
        self._save(trainer)

    def _save(self, trainer) -> None:
        # Finite gradients can still overflow the weights (a huge step); the NaN guard sees it
        # one step later. A checkpoint of such weights would push the last good one out.
        bad = _first_nonfinite_parameter(trainer.model)
        if bad is not None:
            warnings.warn(f"Checkpoint: not saving step {trainer.step}: parameter '{bad}' is not finite; the "
                          f"last good checkpoint stays {self.last_path}", RuntimeWarning, stacklevel=3)
            return
        self.last_path = trainer.save_checkpoint(self.dir, keep=self.keep)


class ProgressBar(Callback):
    """A rich progress bar with the running loss; on by default in a terminal, off otherwise.

    The bar is updated at most every ``interval`` seconds: the batches in between are added at the next
    update, which shows the latest loss, and the last ones at the epoch's end. rich redraws ten times a
    second anyway; an update per batch (rich's lock, the formatted loss) cost ~10 µs wall a batch.
    """

    def __init__(self, interval: float = 0.1):
        self._progress = None
        self._task = None
        self.interval = interval
        self._pending = 0
        self._next = 0.0
        self._loss = math.nan

    def on_fit_start(self, trainer):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from rich.errors import LiveError

        self._progress = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(), transient=False)
        try:
            self._progress.start()
        except LiveError:  # another live display (e.g. the lab's) is running: stay quiet
            self._progress = None

    def on_epoch_start(self, trainer, epoch):
        if self._progress is None:
            return
        total = trainer.batches_per_epoch
        self._task = self._progress.add_task("train", total=total, epoch=epoch + 1, loss="-")
        self._pending, self._next = 0, 0.0

    def on_batch_end(self, trainer, step, logs):
        if self._progress is None:
            return
        self._pending += 1
        self._loss = logs["loss"]
        now = time.monotonic()
        if now >= self._next:
            self._flush()
            self._next = now + self.interval

    def _flush(self) -> None:
        self._progress.update(self._task, advance=self._pending, loss=f"{self._loss:.4f}")
        self._pending = 0

    def on_epoch_end(self, trainer, epoch, logs):
        if self._progress is None:
            return
        if self._pending:
            self._flush()
        shown = "  ".join(f"{k} {v:.4f}" for k, v in logs.items() if isinstance(v, float))
        self._progress.console.print(f"epoch {epoch + 1}: {shown}")

    def on_fit_end(self, trainer):
        if self._progress is not None:
            self._progress.stop()


def _accuracy(out: np.ndarray, y: np.ndarray) -> float:
    if y.ndim == out.ndim:  # probability / one-hot targets
        y = y.argmax(axis=-1)
    if out.ndim == 1 or out.shape[-1] == 1:  # binary logits
        return float(((out.reshape(-1) > 0) == (y.reshape(-1) > 0.5)).mean())
    hits = out.argmax(axis=-1) == y
    if hits.size == 0:
        return math.nan
    return int(np.count_nonzero(hits)) / hits.size  # = float(hits.mean()), without mean's float64 pass


METRICS = {"accuracy": _accuracy}


class Trainer:
    """Fit a model with a loss and an optimiser, with callbacks, metrics, checkpoints and a NaN guard.

    Args:
        model: an ``nn.Module``.
        loss_fn: ``loss_fn(output, target) -> scalar Tensor``.
        optimizer: an ``optim`` optimiser over the model's parameters.
        scheduler: an ``optim.lr_scheduler`` schedule, stepped after every batch or after
            every epoch as its class's ``interval`` attribute says (``"step"`` for ``OneCycleLR``
            and ``LinearWarmup``, ``"epoch"`` for the others and for an object without one).
        callbacks: extra callbacks (probes, EarlyStopping, Checkpoint, ...).
        metrics: names from ``METRICS`` or ``(name, fn(output, y) -> float)`` pairs.
        clip_grad_norm: clip the global gradient norm to this value before each update.
        l1: λ₁ of an L1 penalty λ₁·Σ|w| added to the loss (L2 is the optimiser's ``weight_decay``).
        seed: reseeds the random generators inside the model (dropout) at the start of a fresh fit,
            so that a run is reproducible from (model weights, seed).
        progress: show a progress bar (default: when stdout is a terminal).
        scheduler_interval: ``"step"`` or ``"epoch"``, overriding the scheduler's ``interval``.

    The optimiser must be over the model's parameters: if none of its parameters belongs to the
    model (it was built over another model, or a copy), training would change nothing and the
    constructor raises ValueError. Optimiser parameters that are neither the model's nor the
    loss's get a RuntimeWarning (they receive no gradient). Model parameters the optimiser does
    not hold are allowed silently: that is how a part of a model is frozen.

    Checkpoints (:meth:`save_checkpoint`, :meth:`load_checkpoint`, the :class:`Checkpoint`
    callback, ``fit(resume_from=...)``): see :mod:`layerlab.checkpoint` for the format and the
    crash-safety protocol. Loading validates the whole checkpoint first (types, ranges, shapes,
    the optimiser's and scheduler's kinds, the loader position, the RNG states, the history);
    a bad one raises ValueError or TypeError naming the checkpoint and the field, and leaves the
    Trainer, model, optimiser, scheduler and loader exactly as they were.
    """

    def __init__(self, model, loss_fn, optimizer, scheduler=None, callbacks=(), metrics=("accuracy",),
                 clip_grad_norm: float | None = None, l1: float = 0.0, seed: int | None = 0,
                 progress: bool | None = None, scheduler_interval: str | None = None):
        _check_optimizer_over_model(model, loss_fn, optimizer)
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.scheduler = scheduler
        source = "scheduler_interval"
        if scheduler_interval is None:  # the scheduler's class says (LRScheduler.interval); "epoch" if it does not
            scheduler_interval = getattr(scheduler, "interval", "epoch")
            source = f"{type(scheduler).__name__}.interval"
        if scheduler_interval not in ("step", "epoch"):
            raise ValueError(f"Trainer: {source} must be 'step' or 'epoch', got {scheduler_interval!r}")
        self.scheduler_interval = scheduler_interval
        self.metrics = [(m, METRICS[m]) if isinstance(m, str) else tuple(m) for m in metrics]
        self.clip_grad_norm = clip_grad_norm
        self.l1 = nonnegative_float(l1, "l1", "Trainer")
        self.seed = None if seed is None else nonnegative_int(seed, "seed", "Trainer")
        if progress is None:
            progress = sys.stdout.isatty()
        self.history = History()
        self.callbacks = [self.history, *callbacks] + ([ProgressBar()] if progress else [])
        self.step = 0
        self.epoch = 0
        self.stop_training = False
        self.batches_per_epoch = None
        self._loader = None
        self._epoch_sums = None
        self._named_params = []
        self._journal = HistoryJournal()  # where the history stands in the checkpoint directory

    # -- the loop ---------------------------------------------------------------------
    def fit(self, train, epochs: int, val=None, resume_from=None) -> History:
        """Train for ``epochs`` epochs (counted from the start of training, so a resumed run
        with the same ``epochs`` ends where the uninterrupted one would)."""
        loader = self._as_loader(train, shuffle=True)
        self._validate(loader, "training data")
        if val is not None:
            val = self._as_loader(val, shuffle=False)
            self._validate(val, "validation data")
        self._loader = loader
        self.batches_per_epoch = len(loader)
        if resume_from is not None:
            self.load_checkpoint(resume_from)
        elif self.seed is not None:
            _random.reseed_module(self.model, self.seed)
        self.stop_training = False
        self.model.train()
        self._call("on_fit_start")
        self._named_params = list(self.model.named_parameters())  # what the NaN guard checks, once a fit
        try:
            while self.epoch < epochs and not self.stop_training:
                self._run_epoch(loader, val)
        finally:
            self._call("on_fit_end")
        return self.history

    def _run_epoch(self, loader, val):
        epoch = self.epoch
        self._call("on_epoch_start", epoch)
        acc = self._epoch_sums  # running sums of this epoch; restored from a mid-epoch checkpoint
        if acc is None:
            acc = self._epoch_sums = {"n": 0.0, "loss": 0.0, **{name: 0.0 for name, _ in self.metrics}}
        for batch in loader:
            x, y = batch[0], batch[1]
            self._call("on_batch_start", self.step, batch)
            loss, out = self._train_step(x, y)
            n = len(x)
            acc["n"] += n
            acc["loss"] += loss * n
            for name, fn in self.metrics:
                acc[name] += fn(out, y) * n
            self.step += 1
            if self.scheduler is not None and self.scheduler_interval == "step":
                self.scheduler.step()
            logs = {"loss": loss, "lr": float(self.optimizer.param_groups[0]["lr"])}
            self._call("on_batch_end", self.step - 1, logs)
            if self.stop_training:
                break
        self._epoch_sums = None
        total = acc["n"] or 1.0
        logs = {k: v / total for k, v in acc.items() if k != "n"}
        if val is not None:
            logs.update({f"val_{k}": v for k, v in self.evaluate(val).items()})
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            self.scheduler.step()
        self.epoch += 1
        self._call("on_epoch_end", epoch, logs)

    def _train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        out = self.model(Tensor(x))
        loss = self.loss_fn(out, Tensor(y))
        if self.l1:
            loss = loss + self.l1 * l1_penalty(self.model)
        self.optimizer.zero_grad()
        loss.backward()
        value = loss.item()
        self._call("on_after_backward", self.step)
        self._guard(value, x)
        if self.clip_grad_norm is not None:
            clip_grad_norm(self.model.parameters(), self.clip_grad_norm)
        self.optimizer.step()
        return value, out.data

    # -- LR range test --------------------------------------------------------------------
    def lr_find(self, loader, start: float = 1e-7, end: float = 10.0, steps: int = 100, smooth: float = 0.98,
                diverge: float = 4.0, skip_start: int = 10) -> tuple[np.ndarray, np.ndarray, float]:
        r"""Smith's (2017) learning-rate range test; the Trainer is left exactly as it was.

        η grows geometrically, ``η_i = start·(end/start)^{i/(steps−1)}`` for mini-batch
        ``i = 0..steps−1`` (the loader is cycled as needed); each batch takes one ordinary
        training step (loss, L1, clipping and the optimiser as in :meth:`fit`, no callbacks,
        no scheduler). The recorded loss is the bias-corrected exponential moving average
        ``a_i = β·a_{i−1} + (1 − β)·L_i``, ``ℓ_i = a_i / (1 − β^{i+1})`` with β = ``smooth``.
        The test stops early, without recording that step, when ``ℓ_i > diverge · min_{j<i} ℓ_j``
        or the loss or a gradient is not finite.

        Suggestion rule: the η of the steepest descent of the smoothed loss on log axes,
        ``argmin_i  d log ℓ / d log η`` (central differences), over the recorded points from the
        ``skip_start``-th up to the minimum of ℓ. The first points are skipped (fastai's
        ``skip_start=10``) because the moving average there holds one or two mini-batch losses, so
        their slope is the noise between two batches, not the descent. On a quadratic ½L‖w‖² a step multiplies the loss by (1 − ηL)², so the
        per-step relative drop is largest at η = 1/L; the steepest point sits near there.

        Afterwards the model's parameters and buffers, the optimiser (state and every group's
        hyper-parameters, lr included), the step/epoch counters, the history, the loader's
        position, the model's generators and the global generator are restored from snapshots
        (state dicts, as the checkpoint code takes them), also when an error is raised.

        Args:
            loader: a DataLoader, Dataset or ``(x, y)`` of training data.
            start, end: the first and the last η (0 < start < end).
            steps: the number of mini-batches (>= 2).
            smooth: β of the moving average, in [0, 1) (0: the raw loss).
            diverge: the divergence factor (> 1).
            skip_start: recorded points the suggestion ignores at the start (>= 0; fewer when the
                test stopped early, so that at least 3 points remain).

        Returns:
            ``(lrs, losses, suggestion)``: float64 arrays of the η and the smoothed loss of each
            recorded step, and the suggested η (a float).
        """
        where = "Trainer.lr_find"
        start = positive_float(start, "start", where)
        end = positive_float(end, "end", where)
        if not end > start:
            raise ValueError(f"{where}: end must be > start={start!r}, got {end!r}")
        steps = int_at_least(steps, "steps", where, 2)
        smooth = probability(smooth, "smooth", where)
        diverge = positive_float(diverge, "diverge", where)
        if not diverge > 1.0:
            raise ValueError(f"{where}: diverge must be a finite number > 1, got {diverge!r}")
        skip_start = nonnegative_int(skip_start, "skip_start", where)
        loader = self._as_loader(loader, shuffle=True)
        self._validate(loader, "lr_find data")
        snapshot = self._lr_find_snapshot(loader)
        try:
            lrs, losses = self._lr_range(loader, start, end, steps, smooth, diverge)
        finally:
            self._lr_find_restore(loader, snapshot)
        return lrs, losses, _steepest_lr(lrs, losses, skip_start)

    def _lr_range(self, loader, start, end, steps, smooth, diverge):
        groups = self.optimizer.param_groups
        ratio = math.log(end / start) / (steps - 1)
        params = list(self.model.parameters())
        self.model.train()
        batches = iter(loader)
        lrs, losses = [], []
        avg, best = 0.0, math.inf
        for i in range(steps):
            lr = start * math.exp(ratio * i)
            for g in groups:
                g["lr"] = lr
            try:
                batch = next(batches)
            except StopIteration:
                batches = iter(loader)
                batch = next(batches)
            out = self.model(Tensor(batch[0]))
            loss = self.loss_fn(out, Tensor(batch[1]))
            if self.l1:
                loss = loss + self.l1 * l1_penalty(self.model)
            self.optimizer.zero_grad()
            loss.backward()
            value = loss.item()
            if not math.isfinite(value) or any(p.grad is not None and not _all_finite(p.grad) for p in params):
                break
            avg = smooth * avg + (1.0 - smooth) * value
            smoothed = avg / (1.0 - smooth ** (i + 1))
            if smoothed > diverge * best:
                break
            best = min(best, smoothed)
            lrs.append(lr)
            losses.append(smoothed)
            if self.clip_grad_norm is not None:
                clip_grad_norm(params, self.clip_grad_norm)
            self.optimizer.step()
        return np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)

    def _lr_find_snapshot(self, loader) -> dict:
        return {
            "model": {k: np.array(v, copy=True) for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "loader": loader.state_dict() if hasattr(loader, "state_dict") else None,
            "rng": _random.module_rng_states(self.model),
            "global_rng": _random.get_state(),
            "history": self.history.state_dict(),
            "counters": (self.step, self.epoch, self.stop_training, self._epoch_sums, self.model.training),
        }

    def _lr_find_restore(self, loader, snap: dict) -> None:
        self.model.load_state_dict(snap["model"])
        self.optimizer.load_state_dict(snap["optimizer"])
        self.optimizer.zero_grad()
        if snap["loader"] is not None:
            loader.load_state_dict(snap["loader"])
        _random.load_module_rng_states(self.model, snap["rng"])
        _random.set_state(snap["global_rng"])
        self.history.load_state_dict(snap["history"])
        self.step, self.epoch, self.stop_training, self._epoch_sums, training = snap["counters"]
        self.model.train(training)

    # -- NaN guard ------------------------------------------------------------------------
    def _guard(self, loss: float, x: np.ndarray) -> None:
        bad_grad = None
        for name, p in self._named_params:
            if p.grad is not None and not _all_finite(p.grad):
                bad_grad = name
                break
        if math.isfinite(loss) and bad_grad is None:
            return
        bad_act = self._first_nonfinite_activation(x)
        bad_param = _first_nonfinite_parameter(self.model)
        last = self._last_checkpoint()
        what = f"the loss is {loss}" if not math.isfinite(loss) else f"the loss is finite ({loss:.4g}) but a gradient is not"
        raise NonFiniteError(
            f"training stopped at step {self.step} (epoch {self.epoch}): {what}; "
            f"first layer with non-finite activations: {bad_act or 'none (the forward pass is finite)'}; "
            f"first parameter with non-finite gradient: {bad_grad or 'none'}"
            + (f"; parameter '{bad_param}' is itself non-finite (an earlier update overflowed it, or it was "
               f"set so)" if bad_param else "") + ". "
            f"The update was not applied. Last good checkpoint: {last or 'none (attach a Checkpoint callback)'}. "
            "Try a smaller learning rate, gradient clipping (clip_grad_norm=...) or a different initialisation."
        )

    def _last_checkpoint(self) -> Path | None:
        last = None
        for cb in self.callbacks:
            if isinstance(cb, Checkpoint) and cb.last_path is not None:
                last = cb.last_path
        return last

    def _first_nonfinite_activation(self, x: np.ndarray) -> str | None:
        found = []
        handles = []

        def make_hook(name):
            def hook(module, inputs, output):
                if not found and isinstance(output, Tensor) and not np.isfinite(output.data).all():
                    found.append(f"'{name}' ({type(module).__name__}, output shape {output.shape})")
            return hook

        for name, m in self.model.named_modules():
            if name and not list(m.children()):
                handles.append(m.register_forward_hook(make_hook(name)))
        try:
            with no_grad():
                self.model(Tensor(x))
        finally:
            for h in handles:
                h.remove()
        return found[0] if found else None

    # -- evaluation -----------------------------------------------------------------------
    def evaluate(self, data, batch_size: int = 1024) -> dict:
        """Loss and metrics over ``data`` (a DataLoader, Dataset or (x, y)), in eval mode."""
        loader = self._as_loader(data, shuffle=False, batch_size=batch_size)
        was_training = self.model.training
        self.model.eval()
        total, loss_sum, metric_sums = 0, 0.0, {name: 0.0 for name, _ in self.metrics}
        try:
            with no_grad():
                for batch in _iter_once(loader):
                    x, y = batch[0], batch[1]
                    out = self.model(Tensor(x))
                    n = len(x)
                    loss_sum += self.loss_fn(out, Tensor(y)).item() * n
                    for name, fn in self.metrics:
                        metric_sums[name] += fn(out.data, y) * n
                    total += n
        finally:
            self.model.train(was_training)
        total = total or 1
        return {"loss": loss_sum / total, **{k: v / total for k, v in metric_sums.items()}}

    def predict(self, x, batch_size: int = 1024) -> np.ndarray:
        """Model outputs for ``x`` in eval mode, batched, without a graph."""
        x = x.data if isinstance(x, Tensor) else np.asarray(x)
        was_training = self.model.training
        self.model.eval()
        try:
            with no_grad():
                outs = [self.model(Tensor(x[i:i + batch_size])).data for i in range(0, len(x), batch_size)]
        finally:
            self.model.train(was_training)
        return np.concatenate(outs) if outs else np.empty((0,))

    # -- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything a resumed run needs: model, optimiser (and its class name), scheduler (and its
        class name), data position, RNG states, history, counters."""
        return self._state(history=True)

    def _state(self, history: bool) -> dict:
        sd = {
            "step": self.step,
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "optimizer_kind": type(self.optimizer).__name__,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scheduler_kind": type(self.scheduler).__name__ if self.scheduler is not None else None,
            "loader": self._loader.state_dict() if self._loader is not None and hasattr(self._loader, "state_dict") else None,
            "rng": _random.module_rng_states(self.model),
            "global_rng": _random.get_state(),
            "epoch_sums": self._epoch_sums,
        }
        if history:
            sd["history"] = self.history.state_dict()
        return sd

    def load_state_dict(self, sd: dict) -> None:
        """Restore a :meth:`state_dict`: validated in full first, then applied; on any error nothing changes."""
        self._apply_state(self._stage(sd, "Trainer.load_state_dict"))
        self._journal = HistoryJournal()

    def save_checkpoint(self, root, keep: int | None = 2) -> Path:
        """Write a checkpoint ``root/step-<N>`` (see :mod:`layerlab.checkpoint`); the history goes to the
        append-only ``history.jsonl``, only the records since the last checkpoint are written."""
        return write_checkpoint(root, self.step, self._state(history=False), keep=keep,
                                history=(self.history.steps, self.history.epochs), journal=self._journal)

    def load_checkpoint(self, path) -> None:
        """Restore from a checkpoint directory, or from the newest intact one under a root.

        The checkpoint is read and verified (sizes and SHA-256 of its files), then validated in full
        against this Trainer; a bad one raises ValueError/TypeError naming the checkpoint and the
        field, and leaves everything as it was.
        """
        loaded = open_checkpoint(path)
        self._apply_state(self._stage(loaded.state, f"Trainer.load_checkpoint('{loaded.path}')"))
        self._journal = loaded.journal if loaded.journal is not None else HistoryJournal()

    # .. validation into a staging dict, then application ..................................
    def _stage(self, sd, where: str) -> dict:
        """Check every field of ``sd`` against this Trainer without changing anything; return the
        values to apply. Raises TypeError (a wrong type) or ValueError (a wrong value, shape, kind,
        a missing field), the message naming ``where`` and the field."""
        def fail(field, msg, exc=ValueError):
            raise exc(f"{where}: field '{field}': {msg}")

        if not isinstance(sd, dict):
            raise TypeError(f"{where}: expected a dict (a Trainer.state_dict()), got {type(sd).__name__}")
        for key in ("step", "epoch", "model", "optimizer", "history"):
            if key not in sd:
                fail(key, "missing")
        staged = {}
        step = staged["step"] = _int_field(sd["step"], "step", 0, fail)
        epoch = staged["epoch"] = _int_field(sd["epoch"], "epoch", 0, fail)
        if epoch > step:
            fail("epoch", f"{epoch} epochs cannot have been completed in {step} steps (an epoch takes at least one)")
        staged["model"] = self._stage_model(sd["model"], fail)
        probe_opt = self._stage_optimizer(sd, fail)
        staged["optimizer"] = sd["optimizer"]
        staged["scheduler"] = self._stage_scheduler(sd, probe_opt, fail)
        staged["loader"] = self._stage_loader(sd.get("loader"), fail)
        staged["rng"] = self._stage_rng(sd.get("rng"), fail)
        g = sd.get("global_rng")
        if g is not None:
            _check_rng_state(g, _random.get_rng(), "global_rng", fail)
        staged["global_rng"] = g
        staged["history"] = _stage_history(sd["history"], step, epoch, fail)
        staged["epoch_sums"] = self._stage_epoch_sums(sd.get("epoch_sums"), fail)
        return staged

    def _stage_model(self, model_sd, fail) -> dict:
        if not isinstance(model_sd, dict):
            fail("model", f"expected a dict name -> array, got {type(model_sd).__name__}", TypeError)
        own = self.model.state_dict()
        missing = [k for k in own if k not in model_sd]
        unexpected = [k for k in model_sd if k not in own]
        if missing or unexpected:
            fail("model", "the saved model does not match this model's structure: "
                 + (f"missing {missing}" if missing else "") + ("; " if missing and unexpected else "")
                 + (f"unexpected {unexpected}" if unexpected else ""))
        for k, target in own.items():
            v = model_sd[k]
            if not isinstance(v, np.ndarray):
                fail(f"model['{k}']", f"expected an array, got {type(v).__name__}", TypeError)
            if v.dtype.kind not in "biuf":
                fail(f"model['{k}']", f"expected a numeric array, got dtype {v.dtype}", TypeError)
            if v.shape != np.shape(target):
                fail(f"model['{k}']", f"shape {v.shape}, this model's is {np.shape(target)}")
            if v.dtype.kind == "f" and not _all_finite(v):
                fail(f"model['{k}']", "holds NaN or Inf")
        return model_sd

    def _stage_optimizer(self, sd, fail):
        opt_sd = sd["optimizer"]
        mine = type(self.optimizer).__name__
        if not isinstance(opt_sd, dict):
            fail("optimizer", f"expected a dict (an optimiser's state_dict()), got {type(opt_sd).__name__}", TypeError)
        for key, kind in (("state", dict), ("param_groups", list)):
            if not isinstance(opt_sd.get(key), kind):
                fail(f"optimizer.{key}", f"expected a {kind.__name__}, got {type(opt_sd.get(key)).__name__}", TypeError)
        for i, grp in enumerate(opt_sd["param_groups"]):
            if not isinstance(grp, dict) or not isinstance(grp.get("params"), list):
                fail(f"optimizer.param_groups[{i}]", "expected a dict with a 'params' list", TypeError)
        kind = sd.get("optimizer_kind")
        if kind is not None:
            if not isinstance(kind, str):
                fail("optimizer_kind", f"expected a class name, got {type(kind).__name__}", TypeError)
            if kind != mine:
                fail("optimizer_kind", f"the checkpoint was written with {kind}, this Trainer's optimiser is {mine}; "
                     "resume with the same optimiser class")
        else:  # an older checkpoint: the hyper-parameter names tell the optimiser apart
            defaults = getattr(self.optimizer, "defaults", {})
            for i, grp in enumerate(opt_sd["param_groups"]):
                foreign = sorted(k for k in grp if k != "params" and k not in defaults and k not in _SCHEDULER_GROUP_KEYS)
                if foreign:
                    fail(f"optimizer.param_groups[{i}]", f"hyper-parameters {foreign} that {mine} does not have: the "
                         "checkpoint was written with another optimiser class")
        for i, rec in opt_sd["state"].items():
            if not isinstance(rec, dict):
                fail(f"optimizer.state[{i}]", f"expected a dict, got {type(rec).__name__}", TypeError)
            for key, v in rec.items():
                if isinstance(v, np.ndarray):
                    if v.dtype.kind not in "biuf":
                        fail(f"optimizer.state[{i}].{key}", f"expected a numeric array, got dtype {v.dtype}", TypeError)
                elif isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                    fail(f"optimizer.state[{i}].{key}", f"expected an array or a number, got {type(v).__name__}",
                         TypeError)
        probe = copy.copy(self.optimizer)  # load into a shallow copy: it gets new groups and state, ours stay
        try:
            probe.load_state_dict(opt_sd)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
            fail("optimizer", f"{type(e).__name__}: {e}")
        return probe

    def _stage_scheduler(self, sd, probe_opt, fail):
        sched_sd, kind = sd.get("scheduler"), sd.get("scheduler_kind")
        if self.scheduler is None:
            if sched_sd is not None:
                fail("scheduler", f"the checkpoint holds the state of a {kind or 'scheduler'} but this Trainer has no "
                     "scheduler; resuming without it would not continue the run")
            return None
        mine = type(self.scheduler).__name__
        if sched_sd is None:
            fail("scheduler", f"missing: this Trainer has a {mine} but the checkpoint holds no scheduler state "
                 "(resuming would restart the schedule)")
        if not isinstance(sched_sd, dict):
            fail("scheduler", f"expected a dict (a scheduler's state_dict()), got {type(sched_sd).__name__}", TypeError)
        if kind is not None and kind != mine:
            fail("scheduler_kind", f"the checkpoint was written with {kind}, this Trainer's scheduler is {mine}")
        if "last_epoch" not in sched_sd or "base_lrs" not in sched_sd:
            fail("scheduler", f"needs 'last_epoch' and 'base_lrs', has {sorted(sched_sd)}")
        _int_field(sched_sd["last_epoch"], "scheduler.last_epoch", -1, fail)
        base = sched_sd["base_lrs"]
        if not isinstance(base, list) or not all(_is_number(v) and math.isfinite(v) for v in base):
            fail("scheduler.base_lrs", f"expected a list of finite numbers, got {base!r}", TypeError)
        if len(base) != len(self.optimizer.param_groups):
            fail("scheduler.base_lrs", f"{len(base)} values for {len(self.optimizer.param_groups)} parameter groups")
        if hasattr(self.scheduler, "load_state_dict"):
            try:  # a copy of the scheduler, driving the staged copy of the optimiser
                probe = copy.deepcopy(self.scheduler, memo={id(self.optimizer): probe_opt})
                probe.load_state_dict(sched_sd)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
                fail("scheduler", f"{type(e).__name__}: {e}")
        return sched_sd

    def _stage_loader(self, loader_sd, fail):
        if self._loader is None or not hasattr(self._loader, "state_dict") or loader_sd is None:
            return None
        if not isinstance(loader_sd, dict):
            fail("loader", f"expected a dict (a DataLoader's state_dict()), got {type(loader_sd).__name__}", TypeError)
        probe = copy.copy(self._loader)
        try:
            probe.load_state_dict(loader_sd)
        except (ValueError, KeyError) as e:
            fail("loader", f"{e}")
        except TypeError as e:
            fail("loader", f"{e}", TypeError)
        return loader_sd

    def _stage_rng(self, rng_sd, fail) -> dict:
        rng_sd = {} if rng_sd is None else rng_sd
        if not isinstance(rng_sd, dict):
            fail("rng", f"expected a dict generator key -> state, got {type(rng_sd).__name__}", TypeError)
        gens = {key: getattr(owner, attr) for key, owner, attr in _random.module_generators(self.model)}
        missing = sorted(set(gens) - set(rng_sd))
        unexpected = sorted(set(rng_sd) - set(gens))
        if missing or unexpected:
            fail("rng", "the model's random generators do not match the checkpoint's: "
                 + (f"no state for {missing}" if missing else "") + ("; " if missing and unexpected else "")
                 + (f"states for generators this model lacks {unexpected}" if unexpected else ""))
        for key, g in gens.items():
            _check_rng_state(rng_sd[key], g, f"rng['{key}']", fail)
        return rng_sd

    def _stage_epoch_sums(self, sums, fail):
        if sums is None:
            return None
        if not isinstance(sums, dict):
            fail("epoch_sums", f"expected a dict or None, got {type(sums).__name__}", TypeError)
        want = {"n", "loss", *(name for name, _ in self.metrics)}
        if set(sums) != want:
            fail("epoch_sums", f"keys {sorted(sums)}, this Trainer accumulates {sorted(want)} (other metrics?)")
        for k, v in sums.items():
            if not _is_number(v):
                fail(f"epoch_sums['{k}']", f"expected a number, got {type(v).__name__}", TypeError)
        if not sums["n"] >= 0:
            fail("epoch_sums['n']", f"must be >= 0, got {sums['n']!r}")
        return dict(sums)

    def _apply_state(self, st: dict) -> None:
        """Apply validated values; should anything still fail, everything is put back as it was."""
        snap = self._snapshot()
        try:
            self.model.load_state_dict(st["model"])
            self.optimizer.load_state_dict(st["optimizer"])
            if self.scheduler is not None and st["scheduler"] is not None:
                self.scheduler.load_state_dict(st["scheduler"])
            if st["loader"] is not None:
                self._loader.load_state_dict(st["loader"])
            _random.load_module_rng_states(self.model, st["rng"])
            if st["global_rng"] is not None:
                _random.set_state(st["global_rng"])
            self.history.load_state_dict(st["history"])
            self.step, self.epoch = st["step"], st["epoch"]
            self._epoch_sums = st["epoch_sums"]
        except BaseException:
            self._restore(snap)
            raise

    def _snapshot(self) -> dict:
        return {
            "model": {k: np.array(v, copy=True) for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None and hasattr(self.scheduler, "state_dict") else None,
            "loader": self._loader.state_dict() if self._loader is not None and hasattr(self._loader, "state_dict") else None,
            "rng": _random.module_rng_states(self.model),
            "global_rng": _random.get_state(),
            "history": self.history.state_dict(),
            "counters": (self.step, self.epoch, self._epoch_sums),
        }

    def _restore(self, snap: dict) -> None:
        self.model.load_state_dict(snap["model"])
        self.optimizer.load_state_dict(snap["optimizer"])
        if snap["scheduler"] is not None:
            self.scheduler.load_state_dict(snap["scheduler"])
        if snap["loader"] is not None:
            self._loader.load_state_dict(snap["loader"])
        _random.load_module_rng_states(self.model, snap["rng"])
        _random.set_state(snap["global_rng"])
        self.history.load_state_dict(snap["history"])
        self.step, self.epoch, self._epoch_sums = snap["counters"]

    # -- helpers ----------------------------------------------------------------------------------
    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    def _as_loader(self, data, shuffle: bool, batch_size: int = 256):
        if isinstance(data, DataLoader):
            return data
        if isinstance(data, tuple) and len(data) == 2:
            x, y = data
            if len(x) != len(y):
                raise ValueError(f"Trainer: x has {len(x)} examples but y has {len(y)}")
            data = TensorDataset(np.asarray(x), np.asarray(y))
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=self.seed or 0)

    def _validate(self, loader, what: str) -> None:
        """Check the data against the model before any step: clear errors instead of a NaN at step 300.

        Array-backed data (a TensorDataset, or Subsets of one, e.g. from ``random_split``) is
        checked in full; any other dataset on its first batch (it may be lazy or large).
        """
        ds = loader.dataset
        if len(ds) == 0:
            raise ValueError(f"Trainer: the {what} is empty (0 examples)")
        arrays, idx = _array_view(ds)
        if arrays is None:
            arrays = get_batch(ds, np.arange(min(len(ds), loader.batch_size)))
            what = f"{what} (its first batch)"
        if len(arrays) < 2:
            return
        x, y = np.asarray(arrays[0]), np.asarray(arrays[1])
        if len(x) != len(y):
            raise ValueError(f"Trainer: {what}: x has {len(x)} examples but y has {len(y)}")
        for name, a in (("x", x), ("y", y)):
            if a.dtype.kind in "fc":
                ok = _finite_rows(a)
                ok = ok if idx is None else ok[idx]
                if not ok.all():
                    raise ValueError(f"Trainer: {what}: {name} contains NaN or Inf (first at example "
                                     f"{int(np.argmin(ok))})")
        first_in, last_out = _first_in_last_out(self.model)
        if first_in is not None and x.shape[-1] != first_in[1]:
            raise ValueError(
                f"Trainer: {what}: x has {x.shape[-1]} features per example (shape {x.shape}) but the first layer "
                f"'{first_in[0]}' expects {first_in[1]}"
            )
        if y.dtype.kind in "iu" and last_out is not None and last_out[1] > 1:
            if idx is not None:
                y = y[idx]
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or hi >= last_out[1]:
                raise ValueError(
                    f"Trainer: {what}: labels range over [{lo}, {hi}] but the last layer '{last_out[0]}' has "
                    f"{last_out[1]} outputs (classes 0..{last_out[1] - 1})"
                )


# keys a scheduler adds to an optimiser's parameter groups (OneCycleLR, every LRScheduler's initial_lr)
_SCHEDULER_GROUP_KEYS = frozenset({"initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"})


def _check_optimizer_over_model(model, loss_fn, optimizer) -> None:
    """ValueError when none of the optimiser's parameters is the model's; a warning for those that are
    neither the model's nor the loss's (see the Trainer docstring)."""
    groups = getattr(optimizer, "param_groups", None)
    params_of = getattr(model, "parameters", None)
    if groups is None or params_of is None:
        return
    opt_params = [p for g in groups for p in g.get("params", ())]
    if not opt_params:
        return
    model_ids = {id(p) for p in params_of()}
    inside = sum(id(p) in model_ids for p in opt_params)
    name = type(optimizer).__name__
    if inside == 0:
        raise ValueError(
            f"Trainer: none of the {len(opt_params)} parameters of the optimiser ({name}) belongs to the model "
            f"({type(model).__name__}, {len(model_ids)} parameters): it was built over other tensors (another "
            f"model, or a copy of this one), so training would change nothing. Build it over this model, e.g. "
            f"optim.{name}(model.parameters(), ...)")
    loss_ids = {id(p) for p in loss_fn.parameters()} if callable(getattr(loss_fn, "parameters", None)) else set()
    foreign = [p for p in opt_params if id(p) not in model_ids and id(p) not in loss_ids]
    if foreign:
        shapes = ", ".join(str(tuple(p.shape)) for p in foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        warnings.warn(f"Trainer: {len(foreign)} of the {len(opt_params)} parameters of the optimiser ({name}) "
                      f"belong neither to the model nor to the loss (shapes {shapes}); they get no gradient from "
                      "training and will not change", RuntimeWarning, stacklevel=3)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _int_field(v, field: str, lo: int, fail) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        fail(field, f"expected an int, got {type(v).__name__} {v!r}", TypeError)
    if v < lo:
        fail(field, f"must be >= {lo}, got {v}")
    return int(v)


def _check_rng_state(state, gen, field: str, fail) -> None:
    """Can ``state`` be loaded into a generator like ``gen``? Tried on a fresh one of the same kind."""
    if not isinstance(state, dict):
        fail(field, f"expected a generator state dict, got {type(state).__name__}", TypeError)
    probe = np.random.Generator(type(gen.bit_generator)())
    try:
        _random.set_state(state, probe)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        fail(field, f"not a state of a {type(gen.bit_generator).__name__} generator ({type(e).__name__}: {e})")


def _stage_history(h, step: int, epoch: int, fail) -> dict:
    if not isinstance(h, dict):
        fail("history", f"expected a dict with 'steps' and 'epochs', got {type(h).__name__}", TypeError)
    out = {}
    for key, limit, unit in (("steps", step, "steps"), ("epochs", epoch, "epochs")):
        recs = h.get(key)
        if not isinstance(recs, list) or not all(isinstance(r, dict) for r in recs):
            fail(f"history.{key}", f"expected a list of dicts, got {type(recs).__name__}", TypeError)
        if len(recs) > limit:
            fail(f"history.{key}", f"{len(recs)} records for {limit} {unit}")
        out[key] = recs
    return out


def _steepest_lr(lrs: np.ndarray, losses: np.ndarray, skip_start: int = 0) -> float:
    """The η where the smoothed loss falls fastest on log-log axes, ``argmin d log ℓ / d log η``,
    among the points from ``skip_start`` (fewer if needed to keep 3) up to the loss's minimum (NaN with
    fewer than 3 recorded points)."""
    if len(lrs) < 3:
        return math.nan
    first = min(int(skip_start), len(lrs) - 3)
    last = max(int(np.argmin(losses[first:])) + first + 1, first + 2)
    logl = np.log(np.maximum(losses, np.finfo(np.float64).tiny))
    slope = np.gradient(logl, np.log(lrs))
    return float(lrs[first + int(np.argmin(slope[first:last]))])


def _first_nonfinite_parameter(model) -> str | None:
    """Name of the first parameter or floating buffer holding a NaN or Inf (None if all are finite)."""
    for name, a in model.state_dict().items():
        a = np.asarray(a)
        if a.dtype.kind in "fc" and not _all_finite(a):
            return name
    return None


def _all_finite(a: np.ndarray) -> bool:
    """No NaN or Inf in ``a``. For a contiguous float array, Σ aᵢ² by ``np.vdot(a, a)`` (BLAS's dot: one
    pass, no temporary, about twice as fast as ``a.sum()``), else ``a.sum()``: a NaN or ±Inf entry makes
    either non-finite. Both can overflow for large finite entries (|aᵢ| ≳ 1.8e19 for the squares in
    float32), so a non-finite result is confirmed entry by entry."""
    with np.errstate(over="ignore", invalid="ignore"):
        if a.dtype.kind == "f" and a.flags.c_contiguous and a.dtype.itemsize >= 4:
            flat = a.reshape(-1)
            s = np.vdot(flat, flat)
        else:
            s = a.sum()
        if np.isfinite(s):
            return True
    return bool(np.isfinite(a).all())


def _array_view(ds):
    """``(arrays, indices)`` behind an array-backed dataset: the arrays of a TensorDataset and the
    positions a (nested) Subset takes from them (None: all); ``(None, None)`` for other datasets."""
    idx = None
    while isinstance(ds, Subset):
        idx = ds.indices if idx is None else ds.indices[idx]
        ds = ds.dataset
    arrays = getattr(ds, "arrays", None) or getattr(ds, "tensors", None)
    if arrays is None:
        return None, None
    return tuple(arrays), idx


def _finite_rows(a: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Per example (row along axis 0): are all its entries finite? In chunks, to bound the temporaries."""
    flat = a.reshape(len(a), -1)
    out = np.empty(len(a), dtype=bool)
    for i in range(0, len(a), chunk):
        np.isfinite(flat[i:i + chunk]).all(axis=1, out=out[i:i + chunk])
    return out


def _iter_once(loader):
    """One pass over a loader without disturbing its resumable position."""
    if hasattr(loader, "state_dict"):
        state = loader.state_dict()
        try:
            yield from loader
        finally:
            loader.load_state_dict(state)
    else:
        yield from loader


def _first_in_last_out(model):
    first_in = last_out = None
    for name, m in model.named_modules():
        if hasattr(m, "in_features") and first_in is None:
            first_in = (name or type(m).__name__, m.in_features)
        if hasattr(m, "out_features"):
            last_out = (name or type(m).__name__, m.out_features)
    return first_in, last_out
