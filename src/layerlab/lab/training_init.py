"""Seed 001, modules 7.4–7.5: initialisation while training (claims 7 and 8 of issue [lab]).

Claim 7 — the notes' MNIST network (784-500-500-500-10 tanh, cross-entropy, η = 0.5, batch
256) with W = 0.01·randn: "the loss stays almost flat for the first ~35 iterations", while
Xavier initialisation starts falling at once. Run here on Fashion-MNIST at the notes' η and,
because Xavier diverges there on [0, 1] inputs (CLAIMS.md), also at η = 0.1: both are shown.

Claim 8 — a deep ReLU net (784-100-6×50-10): He's √(2/fan_in) trains faster than Xavier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import optim
from . import figures
from .common import fashion, fit_iterations, mean_tail, mlp
from .registry import Claim, Context, Result, experiment

__all__ = ["PlateauConfig", "DeepReluConfig", "first_drop", "is_flat", "FLAT_TOL", "FLAT_ITERS", "FALL_BY",
           "FALL_WITHIN"]

#: "almost flat": within FLAT_TOL of the initial loss ...
FLAT_TOL = 0.05
#: ... for at least this many iterations
FLAT_ITERS = 20
#: "starts falling at once": below (initial − FALL_BY) within FALL_WITHIN iterations, and never diverging
FALL_BY = 0.3
FALL_WITHIN = 10


def first_drop(losses, initial: float, by: float) -> int | None:
    """The first iteration whose loss is below ``initial − by`` (None if never)."""
    for i, v in enumerate(losses):
        if math.isfinite(v) and v < initial - by:
            return i
    return None


def is_flat(losses, initial: float, tol: float = FLAT_TOL, iters: int = FLAT_ITERS) -> bool:
    """The first ``iters`` losses all within ``tol`` of ``initial``."""
    head = np.asarray(losses[:iters], dtype=float)
    return len(head) >= iters and bool(np.all(np.abs(head - initial) <= tol))


@dataclass
class PlateauConfig:
    iterations: int = 100
    lrs: tuple = (0.5, 0.1)
    batch_size: int = 256
    QUICK: ClassVar[dict] = {"iterations": 40}


@experiment("training_init", topic="weight initialisation",
            summary="784-500-500-500-10 tanh on Fashion-MNIST: W = 0.01·randn sits on a plateau, Xavier falls at "
                    "once — at the notes' η = 0.5 and at η = 0.1 (claim 7)")
def plateau(config: PlateauConfig, ctx: Context) -> Result:
    (x, y), _ = fashion()
    inits = {"0.01·randn": ("normal", {"std": 0.01}), "Xavier (randn/√fan_in)": "lecun_normal"}
    claims, records, curves = [], [], {}
    for k, lr in enumerate(config.lrs):
        res = {}
        for label, init in inits.items():
            model = mlp([784, 500, 500, 500, 10], "tanh", init, ctx.rng_for("w", label))
            out = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=lr), x, y, config.iterations,
                                 config.batch_size, label=f"η={lr} {label}", seed=ctx.seed)
            res[label] = out
            curves[f"η={lr}, {label}"] = out["losses"]
            L = out["losses"]
            records.append({"η": lr, "init": label, "loss it 0": L[0], "loss it 5": L[min(5, len(L) - 1)],
                            "loss it 20": L[min(20, len(L) - 1)], "loss last": L[-1],
                            "first below L0 − 0.1": first_drop(L, L[0], 0.1), "diverged at": out["diverged"]})
        small, xav = res["0.01·randn"]["losses"], res["Xavier (randn/√fan_in)"]["losses"]
        flat = is_flat(small, small[0])
        drop_s = first_drop(small, small[0], 0.1)
        drop_x = first_drop(xav, xav[0], FALL_BY)
        xav_ok = drop_x is not None and drop_x <= FALL_WITHIN and all(math.isfinite(v) for v in xav) \
            and xav[-1] < xav[0] - FALL_BY
        claims.append(Claim(
            f"7{'abc'[k]}",
            f"η = {lr}: with W = 0.01·randn the loss stays almost flat (within {FLAT_TOL} of its start for "
            f"{FLAT_ITERS} iterations), while Xavier's falls at once (by {FALL_BY} within {FALL_WITHIN} iterations, "
            "and ends lower without diverging)",
            holds=bool(flat and xav_ok),
            measured=f"0.01·randn: {small[0]:.3f} → {small[min(FLAT_ITERS, len(small)) - 1]:.3f} at iteration "
                     f"{FLAT_ITERS}, first 0.1 below its start at iteration {drop_s}; Xavier: {xav[0]:.3f} → "
                     f"{xav[min(5, len(xav) - 1)]:.3f} (it. 5) → {xav[-1]:.3f} (it. {len(xav) - 1})"
                     + (f", diverged at step {res['Xavier (randn/√fan_in)']['diverged']}"
                        if res["Xavier (randn/√fan_in)"]["diverged"] is not None else ""),
            conditions=f"Fashion-MNIST (inputs in [0, 1]), 784-500-500-500-10 tanh, cross-entropy, SGD η = {lr}, "
                       f"batch {config.batch_size}, {config.iterations} iterations, biases 0"
                       + (" — the notes' set-up" if lr == 0.5 else ""),
            figure="plateau"))
    ctx.savefig(figures.loss_curves(curves, ylim=(0.0, 4.0), title="the first iterations: small init vs Xavier"),
                "plateau", caption="Curves above 4 (divergence) are clipped.")
    return Result(claims=claims, records=records)


@dataclass
class DeepReluConfig:
    iterations: int = 300
    lrs: tuple = (0.1, 0.05)
    seeds: int = 3
    batch_size: int = 256
    tail: int = 50
    QUICK: ClassVar[dict] = {"iterations": 150, "lrs": (0.1,), "seeds": 2, "tail": 30}


@experiment("deep_relu_init", topic="weight initialisation",
            summary="784-100-6×50-10 ReLU: He init trains faster than Xavier (claim 8)")
def deep_relu(config: DeepReluConfig, ctx: Context) -> Result:
    (x, y), _ = fashion()
    sizes = [784, 100] + [50] * 6 + [10]
    claims, records, curves = [], [], {}
    for k, lr in enumerate(config.lrs):
        tails = {}
        for label, init in (("Xavier", "xavier_normal"), ("He", "he_normal")):
            tails[label] = []
            for s in range(config.seeds):
                model = mlp(sizes, "relu", init, ctx.rng_for("w", label, s))
                out = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=lr), x, y, config.iterations,
                                     config.batch_size, label=f"η={lr} {label} seed {s}", seed=ctx.seed + s)
                tails[label].append(mean_tail(out["losses"], config.tail))
                if s == 0:
                    curves[f"η={lr}, {label}"] = out["losses"]
            records.append({"η": lr, "init": label, f"mean loss of last {config.tail} it.": float(np.mean(tails[label])),
                            "per seed": ", ".join(f"{v:.3f}" for v in tails[label])})
        he, xa = float(np.mean(tails["He"])), float(np.mean(tails["Xavier"]))
        wins = sum(h < x_ for h, x_ in zip(tails["He"], tails["Xavier"]))
        claims.append(Claim(
            f"8{'abc'[k]}", f"η = {lr}: He init trains faster than Xavier in a deep ReLU net (lower mean loss over the "
                            f"last {config.tail} iterations, in every seed)",
            holds=bool(he < xa and wins == config.seeds),
            measured=f"mean loss of the last {config.tail} iterations: He {he:.3f}, Xavier {xa:.3f}; He lower in "
                     f"{wins} of {config.seeds} seeds",
            conditions=f"Fashion-MNIST, 784-100-6×50-10 ReLU, SGD η = {lr}, batch {config.batch_size}, "
                       f"{config.iterations} iterations, {config.seeds} seeds",
            figure="deep_relu"))
    ctx.savefig(figures.loss_curves(curves, smooth=10, title="deep ReLU net: He vs Xavier"), "deep_relu")
    return Result(claims=claims, records=records)
