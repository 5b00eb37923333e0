"""Learning-rate schedules: pure functions ``t → η`` (optax), in thin torch-named classes.

The notes (seed 002): keep η high at first, to find roughly where the minimum
lies, then lower it to find it accurately; or one cycle: low → high → low.

A *schedule* is a plain function of the step count ``t = 0, 1, 2, …`` returning a
Python float: :func:`step_decay`, :func:`exponential_decay`,
:func:`cosine_annealing`, :func:`one_cycle`, :func:`linear_warmup`. They are
picklable (``functools.partial``), easy to plot, and used by the lab.

A *scheduler* (``StepLR``, ``ExponentialLR``, ``CosineAnnealingLR``, ``OneCycleLR``,
``LinearWarmup``) builds one schedule per parameter group from the group's
initial learning rate and writes ``group["lr"] = schedule(t)``: once when it is
constructed (t = 0) and at every ``step()`` (t += 1), as ``torch.optim.lr_scheduler``
does. Call ``scheduler.step()`` after ``optimizer.step()``.

Each scheduler class says how often it is meant to be stepped in its ``interval``
attribute: ``"epoch"`` (the base class's default, and StepLR, ExponentialLR,
CosineAnnealingLR, whose periods are counted in epochs as in torch) or ``"step"``
(once per mini-batch: OneCycleLR, LinearWarmup). The Trainer reads it; a scheduler
class of one's own sets it the same way.

Note:
    torch computes StepLR, ExponentialLR and CosineAnnealingLR *recursively* from
    the previous ``group["lr"]`` ("chainable"); layerlab evaluates the closed form
    (torch's own ``_get_closed_form_lr``). The sequences agree to rounding (about
    1e-15 relative), not bit for bit, and a layerlab schedule ignores changes made
    to ``group["lr"]`` by anything else between steps. OneCycleLR is a closed form in
    torch too and agrees exactly.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

from .._checks import nonnegative_float, positive_float, positive_int, probability
from .optimizers import Optimizer

__all__ = [
    "LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "OneCycleLR", "LinearWarmup",
    "constant", "step_decay", "exponential_decay", "cosine_annealing", "one_cycle", "one_cycle_momentum",
    "linear_warmup",
]

Schedule = Callable[[int], float]


# ---------------------------------------------------------------------------------------------
# Pure schedules
# ---------------------------------------------------------------------------------------------

def _constant(t: int, lr: float) -> float:
    return lr


def constant(lr: float) -> Schedule:
    """η(t) = η₀."""
    return functools.partial(_constant, lr=float(lr))


def _step_decay(t: int, lr: float, step_size: int, gamma: float) -> float:
    return lr * gamma ** (t // step_size)


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """η(t) = η₀·γ^⌊t / step_size⌋ (torch's StepLR)."""
    return functools.partial(_step_decay, lr=float(lr), step_size=int(step_size), gamma=float(gamma))


def _exponential_decay(t: int, lr: float, gamma: float) -> float:
    return lr * gamma ** t


def exponential_decay(lr: float, gamma: float) -> Schedule:
    """η(t) = η₀·γᵗ (torch's ExponentialLR)."""
    return functools.partial(_exponential_decay, lr=float(lr), gamma=float(gamma))


def _cosine(t: int, lr: float, T_max: int, eta_min: float) -> float:
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2


def cosine_annealing(lr: float, T_max: int, eta_min: float = 0.0) -> Schedule:
    """η(t) = η_min + ½(η₀ − η_min)(1 + cos(π·t/T_max)) (SGDR without restarts; torch's CosineAnnealingLR).

    Past ``T_max`` the cosine rises again, as torch's does.
    """
    return functools.partial(_cosine, lr=float(lr), T_max=int(T_max), eta_min=float(eta_min))


def _anneal(start: float, end: float, pct: float, strategy: str) -> float:
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def _one_cycle_phases(total_steps: int, pct_start: float, three_phase: bool) -> list:
    """Phases of the cycle as (end_step, start_key, end_key, start_momentum_key, end_momentum_key), as torch."""
    if three_phase:
        return [
            (float(pct_start * total_steps) - 1, "initial", "max", "max_m", "base_m"),
            (float(2 * pct_start * total_steps) - 2, "max", "initial", "base_m", "max_m"),
            (total_steps - 1, "initial", "min", "max_m", "max_m"),
        ]
    return [
        (float(pct_start * total_steps) - 1, "initial", "max", "max_m", "base_m"),
        (total_steps - 1, "max", "min", "base_m", "max_m"),
    ]


def _one_cycle(t: int, values: dict, total_steps: int, pct_start: float, anneal_strategy: str,
               three_phase: bool, momentum: bool) -> float:
    if t > total_steps:
        raise ValueError(f"OneCycleLR: tried to step {t} times; the cycle has total_steps={total_steps}")
    phases = _one_cycle_phases(total_steps, pct_start, three_phase)
    start = 0.0
    for i, (end, lo, hi, mlo, mhi) in enumerate(phases):
        if t <= end or i == len(phases) - 1:
            pct = (t - start) / (end - start)
            if momentum:
                return _anneal(values[mlo], values[mhi], pct, anneal_strategy)
            return _anneal(values[lo], values[hi], pct, anneal_strategy)
        start = end
    raise AssertionError("unreachable")


def _check_one_cycle(total_steps, pct_start, anneal_strategy, three_phase, where: str) -> tuple[int, float]:
    """The normalised ``(total_steps, pct_start)``, or an error naming ``where``."""
    total_steps = positive_int(total_steps, "total_steps", where)
    pct_start = probability(pct_start, "pct_start", where, inclusive_high=True)
    if anneal_strategy not in ("cos", "linear"):
        raise ValueError(f"{where}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
    # A phase that some step lands in must have a length, or pct is 0/0 (a ZeroDivisionError in torch).
    # Step 0 lands in the first phase if it ends at >= 0; the last phase is always reached; a middle
    # phase of length zero is skipped by every step.
    phases = _one_cycle_phases(total_steps, pct_start, three_phase)
    ends = [0.0] + [p[0] for p in phases]
    for i in (0, len(phases) - 1):
        if ends[i + 1] == ends[i]:
            raise ValueError(f"{where}: phase {i + 1} of the cycle is empty (total_steps={total_steps}, "
                             f"pct_start={pct_start}, three_phase={three_phase}); use more steps or another pct_start")
    return total_steps, pct_start


def one_cycle(max_lr: float, total_steps: int, pct_start: float = 0.3, anneal_strategy: str = "cos",
              div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False) -> Schedule:
    """The 1cycle policy (Smith & Topin, 2017; fastai's two phases by default), as torch's OneCycleLR.

    η rises from η₀ = max_lr/div_factor to max_lr over the first ``pct_start`` of the
    steps, then anneals to η₀/final_div_factor (``three_phase``: back down to η₀
    symmetrically, then to the minimum), by half-cosine or linearly.
    """
    total_steps, pct_start = _check_one_cycle(total_steps, pct_start, anneal_strategy, three_phase, "one_cycle")
    initial = max_lr / div_factor
    values = {"initial": initial, "max": max_lr, "min": initial / final_div_factor}
    return functools.partial(_one_cycle, values=values, total_steps=total_steps, pct_start=pct_start,
                             anneal_strategy=anneal_strategy, three_phase=three_phase, momentum=False)


def one_cycle_momentum(base_momentum: float, max_momentum: float, total_steps: int, pct_start: float = 0.3,
                       anneal_strategy: str = "cos", three_phase: bool = False) -> Schedule:
    """The momentum (or β₁) of the 1cycle policy: inverse to η, max_momentum → base_momentum → max_momentum."""
    total_steps, pct_start = _check_one_cycle(total_steps, pct_start, anneal_strategy, three_phase,
                                              "one_cycle_momentum")
    values = {"base_m": base_momentum, "max_m": max_momentum}
    return functools.partial(_one_cycle, values=values, total_steps=total_steps, pct_start=pct_start,
                             anneal_strategy=anneal_strategy, three_phase=three_phase, momentum=True)


def _linear_warmup(t: int, schedule: Schedule, warmup_steps: int, start_factor: float) -> float:
    if t >= warmup_steps:
        return schedule(t - warmup_steps)
    return schedule(0) * (start_factor + (1.0 - start_factor) * t / warmup_steps)


def linear_warmup(schedule: Schedule, warmup_steps: int, start_factor: float = 0.0) -> Schedule:
    """Prepend a linear warm-up to ``schedule``.

    η(t) = schedule(0)·(s + (1 − s)·t/W) for t < W, then schedule(t − W): the ramp
    starts at s·schedule(0) and reaches schedule(0) at t = W, where the wrapped
    schedule starts (it is delayed by W steps, not overlapped).
    """
    return functools.partial(_linear_warmup, schedule=schedule,
                             warmup_steps=positive_int(warmup_steps, "warmup_steps", "linear_warmup"),
                             start_factor=probability(start_factor, "start_factor", "linear_warmup",
                                                      inclusive_high=True))


# ---------------------------------------------------------------------------------------------
# Schedulers: the torch-named wrappers
# ---------------------------------------------------------------------------------------------

class LRScheduler:
    """Base class: one pure schedule per parameter group, evaluated at ``last_epoch``.

    Subclasses implement ``_schedule(base_lr, group_index) -> Schedule``, list the
    hyper-parameters that go into ``state_dict`` in ``_hparams``, and set ``interval``
    to ``"step"`` when they are meant to be stepped after every batch (the default,
    ``"epoch"``, is after every epoch).

    Args:
        optimizer: the :class:`~layerlab.optim.Optimizer` whose ``group["lr"]`` it sets.
        last_epoch: index of the last step taken; -1 starts the schedule (and records
            each group's ``lr`` as ``group["initial_lr"]``). Only for resuming.
    """

    _hparams: tuple = ()
    #: How often the training loop steps it: "epoch" (after every epoch) or "step" (after every batch).
    interval: str = "epoch"

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected a layerlab Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: param_groups[{i}] has no 'initial_lr'; resuming with "
                                   f"last_epoch={last_epoch} needs the optimiser's saved state loaded first")
        self.base_lrs = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._build()
        self.step()

    def _build(self) -> None:
        self.schedules = [self._schedule(lr, i) for i, lr in enumerate(self.base_lrs)]

    def _schedule(self, base_lr: float, i: int) -> Schedule:
        raise NotImplementedError

    def _apply(self, t: int) -> None:
        """Write the values of step ``t`` into the optimiser's groups."""
        for group, f in zip(self.optimizer.param_groups, self.schedules):
            group["lr"] = f(t)
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def step(self) -> None:
        """Advance one step (t += 1) and set every group's ``lr``."""
        self.last_epoch += 1
        self._apply(self.last_epoch)

    def get_last_lr(self) -> list:
        """The learning rates this scheduler set last, one per group."""
        return list(self._last_lr)

    def lr_at(self, t: int) -> list:
        """The learning rates of step ``t`` (no side effect)."""
        return [f(t) for f in self.schedules]

    def state_dict(self) -> dict:
        """``last_epoch``, ``base_lrs`` and the hyper-parameters (JSON-able)."""
        sd = {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}
        for k in self._hparams:
            v = getattr(self, k)
            sd[k] = list(v) if isinstance(v, tuple) else v
        return sd

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the position (and hyper-parameters) and set the groups' ``lr`` for it."""
        for k in self._hparams:
            if k in state_dict:
                setattr(self, k, state_dict[k])
        self.base_lrs = [float(v) for v in state_dict["base_lrs"]]
        self.last_epoch = int(state_dict["last_epoch"])
        self._build()
        self._apply(self.last_epoch)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._hparams)
        return f"{type(self).__name__}({args}, last_epoch={self.last_epoch})"


class _Constant(LRScheduler):
    """η(t) = the group's initial lr (what :class:`LinearWarmup` wraps when given an optimiser)."""

    def _schedule(self, base_lr, i):
        return constant(base_lr)


class StepLR(LRScheduler):
    """Multiply η by γ every ``step_size`` steps: η(t) = η₀·γ^⌊t/step_size⌋.

    Args:
        optimizer: the optimiser.
        step_size: period of the decay, in ``step()`` calls.
        gamma: γ. Default: 0.1.
    """

    _hparams = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = positive_int(step_size, "step_size", "StepLR")
        self.gamma = positive_float(gamma, "gamma", "StepLR")
        super().__init__(optimizer, last_epoch)

    def _schedule(self, base_lr, i):
        return step_decay(base_lr, self.step_size, self.gamma)


class ExponentialLR(LRScheduler):
    """η(t) = η₀·γᵗ.

    Args:
        optimizer: the optimiser.
        gamma: γ.
    """

    _hparams = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = positive_float(gamma, "gamma", "ExponentialLR")
        super().__init__(optimizer, last_epoch)

    def _schedule(self, base_lr, i):
        return exponential_decay(base_lr, self.gamma)


class CosineAnnealingLR(LRScheduler):
    """η(t) = η_min + ½(η₀ − η_min)(1 + cos(π·t/T_max)) (Loshchilov & Hutter's SGDR, no restarts).

    Args:
        optimizer: the optimiser.
        T_max: steps from η₀ down to η_min (after which the cosine rises again, as torch's).
        eta_min: η_min. Default: 0.
    """

    _hparams = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = positive_int(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = nonnegative_float(eta_min, "eta_min", "CosineAnnealingLR")
        super().__init__(optimizer, last_epoch)

    def _schedule(self, base_lr, i):
        return cosine_annealing(base_lr, self.T_max, self.eta_min)


def _per_group(name: str, value, optimizer: Optimizer, cls: str) -> list:
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{cls}: expected {n} values for {name} (one per parameter group), got {len(value)}")
        return [float(v) for v in value]
    return [float(value)] * n


class OneCycleLR(LRScheduler):
    """The 1cycle policy: η low → max_lr → much lower, momentum cycled the other way (torch's OneCycleLR).

    Step it after every batch. Phases (fastai's two by default): over the first
    ``pct_start·total_steps`` steps η goes from max_lr/div_factor to max_lr, then down
    to max_lr/(div_factor·final_div_factor). With ``three_phase`` (Smith's paper): up,
    symmetrically back down to the start, then to the minimum. With
    ``cycle_momentum`` the group's ``momentum`` (SGD, RMSprop) or β₁ (Adam family) goes
    max_momentum → base_momentum → max_momentum, as torch does (on by default, as in
    torch, so an SGD built with momentum=0 gets momentum 0.95).

    Args:
        optimizer: the optimiser.
        max_lr: peak η, a number or one per group.
        total_steps: length of the cycle; or give ``epochs`` and ``steps_per_epoch``.
        pct_start: fraction of the cycle spent rising. Default: 0.3.
        anneal_strategy: "cos" or "linear". Default: "cos".
        cycle_momentum: cycle momentum/β₁ inversely to η. Default: True.
        base_momentum, max_momentum: its range. Default: 0.85, 0.95.
        div_factor: η₀ = max_lr/div_factor. Default: 25.
        final_div_factor: η_min = η₀/final_div_factor. Default: 1e4.
        three_phase: Smith's three phases. Default: False.

    Raises ValueError if stepped past ``total_steps``.
    """

    _hparams = ("total_steps", "pct_start", "anneal_strategy", "three_phase", "cycle_momentum",
                "base_momentums", "max_momentums")
    interval = "step"  # the cycle is counted in batches

    def __init__(self, optimizer: Optimizer, max_lr, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"OneCycleLR: expected a layerlab Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR: you must define either total_steps OR (epochs AND steps_per_epoch)")
            total_steps = (positive_int(epochs, "epochs", "OneCycleLR")
                           * positive_int(steps_per_epoch, "steps_per_epoch", "OneCycleLR"))
        total_steps, pct_start = _check_one_cycle(total_steps, pct_start, anneal_strategy, three_phase, "OneCycleLR")
        div_factor = positive_float(div_factor, "div_factor", "OneCycleLR")
        final_div_factor = positive_float(final_div_factor, "final_div_factor", "OneCycleLR")
        self.total_steps, self.pct_start = total_steps, pct_start
        self.anneal_strategy, self.three_phase = anneal_strategy, three_phase
        max_lrs = _per_group("max_lr", max_lr, optimizer, "OneCycleLR")
        if last_epoch == -1:
            for m, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = m / div_factor
                group["max_lr"] = m
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        self.base_momentums = self.max_momentums = None
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"OneCycleLR: {type(optimizer).__name__} has neither momentum nor betas; "
                                 "pass cycle_momentum=False")
            self.max_momentums = _per_group("max_momentum", max_momentum, optimizer, "OneCycleLR")
            self.base_momentums = _per_group("base_momentum", base_momentum, optimizer, "OneCycleLR")
            if last_epoch == -1:
                for mx, b, group in zip(self.max_momentums, self.base_momentums, optimizer.param_groups):
                    self._set_momentum(group, mx)
                    group["max_momentum"], group["base_momentum"] = mx, b
        super().__init__(optimizer, last_epoch)

    def _build(self) -> None:
        # η₀, max and min come from the groups (torch keeps them there), so a loaded optimiser state wins.
        self.schedules = []
        for g in self.optimizer.param_groups:
            values = {"initial": g["initial_lr"], "max": g["max_lr"], "min": g["min_lr"]}
            self.schedules.append(functools.partial(
                _one_cycle, values=values, total_steps=self.total_steps, pct_start=self.pct_start,
                anneal_strategy=self.anneal_strategy, three_phase=self.three_phase, momentum=False))
        self.momentum_schedules = []
        if self.cycle_momentum:
            self.momentum_schedules = [
                one_cycle_momentum(b, m, self.total_steps, self.pct_start, self.anneal_strategy, self.three_phase)
                for b, m in zip(self.base_momentums, self.max_momentums)]

    def _set_momentum(self, group: dict, m: float) -> None:
        if "betas" in self.optimizer.defaults:
            group["betas"] = (m, *group["betas"][1:])
        else:
            group["momentum"] = m

    def _apply(self, t: int) -> None:
        super()._apply(t)
        for group, f in zip(self.optimizer.param_groups, self.momentum_schedules):
            self._set_momentum(group, f(t))


class LinearWarmup(LRScheduler):
    """Linear warm-up in front of a schedule (or of the optimiser's constant lr).

    For t < W = ``warmup_steps``: η(t) = η_s(0)·(s + (1 − s)·t/W), where η_s is the wrapped
    schedule and s = ``start_factor``; from t = W on: η(t) = η_s(t − W). The ramp ends at
    the wrapped schedule's first value, and that schedule then runs in full, *delayed* by
    W steps (as optax's ``join_schedules`` or torch's ``SequentialLR([LinearLR, sched],
    milestones=[W])``, not overlapped with it). A wrapped OneCycleLR keeps its momentum
    at its t = 0 value during the warm-up.

    Step only the ``LinearWarmup``; it drives the wrapped scheduler (whose ``last_epoch``
    follows t − W).

    Args:
        optimizer_or_scheduler: an Optimizer (warm up to its lr, then keep it) or a scheduler.
        warmup_steps: W ≥ 1.
        start_factor: s in [0, 1], the fraction of the first value to start from. Default: 0.
    """

    _hparams = ("warmup_steps", "start_factor")
    interval = "step"  # warm-up is counted in batches

    def __init__(self, optimizer_or_scheduler, warmup_steps: int, start_factor: float = 0.0, last_epoch: int = -1):
        self.warmup_steps = positive_int(warmup_steps, "warmup_steps", "LinearWarmup")
        self.start_factor = probability(start_factor, "start_factor", "LinearWarmup", inclusive_high=True)
        if isinstance(optimizer_or_scheduler, LRScheduler):
            self.inner = optimizer_or_scheduler
        elif isinstance(optimizer_or_scheduler, Optimizer):
            self.inner = _Constant(optimizer_or_scheduler)
        else:
            raise TypeError(f"LinearWarmup: expected an Optimizer or a scheduler, got "
                            f"{type(optimizer_or_scheduler).__name__}")
        super().__init__(self.inner.optimizer, last_epoch)

    def _build(self) -> None:
        self.schedules = [linear_warmup(f, self.warmup_steps, self.start_factor) for f in self.inner.schedules]

    def _apply(self, t: int) -> None:
        self.inner.last_epoch = max(t - self.warmup_steps, 0)
        self.inner._apply(self.inner.last_epoch)  # the inner's side effects (momentum) and its own record
        super()._apply(t)

    def state_dict(self) -> dict:
        sd = super().state_dict()
        sd["inner"] = self.inner.state_dict()
        return sd

    def load_state_dict(self, state_dict: dict) -> None:
        if "inner" in state_dict:
            self.inner.load_state_dict(state_dict["inner"])
        super().load_state_dict(state_dict)
