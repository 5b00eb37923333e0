"""Seed 003: dead ReLU units (claim 10 of issue [lab]).

"Dead neurons is an issue — large gradients might cause a neuron to die; … set the initial b
to a small value, e.g. 0.1 [here 0.01, as in issue [lab]]": a unit whose pre-activation is
negative for every input gets zero gradient, h′ = 0, and never recovers. A large step size
or a large negative bias pushes units there; LeakyReLU keeps a gradient α on the negative
side. Dead = output 0 on every one of the probe inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import optim
from . import figures
from .common import dead_fractions, fashion, fit_iterations, mlp
from .registry import Claim, Context, Result, experiment

__all__ = ["DyingConfig", "LARGE", "SMALL", "REDUCTION"]

#: "a large fraction" of units dead: at least LARGE in some layer; a healthy run has at most SMALL
LARGE = 0.25
SMALL = 0.05
#: "reduces it": the mean dead fraction falls by at least this relative amount
REDUCTION = 0.25


@dataclass
class DyingConfig:
    iterations: int = 200
    batch_size: int = 128
    probe_inputs: int = 5000
    small_lr: float = 0.1
    large_lr: float = 1.0
    QUICK: ClassVar[dict] = {"iterations": 60, "probe_inputs": 2000}


@experiment("dying_relu", topic="activation functions",
            summary="a large step size or a large negative bias kills ReLU units for good; bias init 0.01 and "
                    "LeakyReLU are measured as remedies (claim 10)")
def run(config: DyingConfig, ctx: Context) -> Result:
    (x, y), (xt, _) = fashion()
    probe_x = xt[: config.probe_inputs]
    conds = {
        f"ReLU, η = {config.small_lr}": ("relu", config.small_lr, 0.0),
        f"ReLU, η = {config.large_lr}": ("relu", config.large_lr, 0.0),
        f"ReLU, η = {config.large_lr}, bias 0.01": ("relu", config.large_lr, 0.01),
        f"LeakyReLU, η = {config.large_lr}": ("leaky_relu", config.large_lr, 0.0),
        f"ReLU, η = {config.small_lr}, bias −1": ("relu", config.small_lr, -1.0),
        f"ReLU, η = {config.small_lr}, bias −3": ("relu", config.small_lr, -3.0),
    }
    res, records, curves = {}, [], {}
    for label, (act, lr, b0) in conds.items():
        model = mlp([784, 256, 256, 10], act, "he_normal", ctx.rng_for("w"), bias_init=b0)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is a result here, not a warning
            half = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=lr), x, y, config.iterations // 2,
                                  config.batch_size, label=label + " (1st half)", seed=ctx.seed)
        dead_mid = dead_fractions(model, probe_x)
        rest = {"losses": [], "diverged": None}
        if half["diverged"] is None:
            with np.errstate(over="ignore", invalid="ignore"):
                rest = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=lr), x, y,
                                      config.iterations - config.iterations // 2, config.batch_size,
                                      label=label + " (2nd half)", seed=ctx.seed + 1)
        dead = dead_fractions(model, probe_x) if act == "relu" else [0.0, 0.0]
        diverged = half["diverged"] if half["diverged"] is not None else (
            None if rest["diverged"] is None else config.iterations // 2 + rest["diverged"])
        losses = half["losses"] + rest["losses"]
        curves[label] = losses
        res[label] = {"dead": dead, "dead_mid": dead_mid if act == "relu" else [0.0, 0.0], "diverged": diverged,
                      "loss": losses[-1]}
        records.append({"condition": label, "dead layer 1": dead[0], "dead layer 2": dead[1],
                        "dead at half-way (1, 2)": f"{dead_mid[0]:.2f}, {dead_mid[1]:.2f}",
                        "final loss": losses[-1], "diverged at step": diverged})
    ctx.savefig(figures.bar_chart({k: {"layer 1": v["dead"][0], "layer 2": v["dead"][1]} for k, v in res.items()},
                                  ylabel="fraction of dead units", title=f"dead = 0 on all of {len(probe_x)} inputs",
                                  horizontal=True), "dead")
    ctx.savefig(figures.loss_curves(curves, ylim=(0, 5), smooth=5, title="training loss"), "loss")

    def fmt(label):
        r = res[label]
        s = f"{label}: {r['dead'][0]:.0%} / {r['dead'][1]:.0%} dead"
        return s + (f" (loss NaN at step {r['diverged']})" if r["diverged"] is not None else "")

    small, large = res[f"ReLU, η = {config.small_lr}"], res[f"ReLU, η = {config.large_lr}"]
    bias01, leaky = res[f"ReLU, η = {config.large_lr}, bias 0.01"], res[f"LeakyReLU, η = {config.large_lr}"]
    neg = res[f"ReLU, η = {config.small_lr}, bias −3"]
    still_dead = all(e >= m - 1e-9 for m, e in zip(large["dead_mid"], large["dead"]))
    cond = (f"Fashion-MNIST, 784-256-256-10, He-normal init, SGD, batch {config.batch_size}, {config.iterations} "
            f"iterations; dead = output 0 on all of {len(probe_x)} test inputs (layers 1 / 2)")
    mean = lambda r: float(np.mean(r["dead"]))  # noqa: E731
    claims = [
        Claim("10a", f"A large step size (η = {config.large_lr}) kills a large fraction (≥ {LARGE:.0%} in some layer) "
                     f"of ReLU units for good (still dead at the end of those dead half-way), while η = "
                     f"{config.small_lr} leaves ≤ {SMALL:.0%} dead",
              holds=bool(max(large["dead"]) >= LARGE and still_dead and max(small["dead"]) <= SMALL),
              measured=f"{fmt(f'ReLU, η = {config.large_lr}')}; half-way {large['dead_mid'][0]:.0%} / "
                       f"{large['dead_mid'][1]:.0%}; {fmt(f'ReLU, η = {config.small_lr}')}",
              conditions=cond, figure="dead"),
        Claim("10b", f"A large negative bias (init −3) kills a large fraction (≥ {LARGE:.0%}) of ReLU units",
              holds=bool(max(neg["dead"]) >= LARGE),
              measured=f"{fmt(f'ReLU, η = {config.small_lr}, bias −3')}; "
                       f"{fmt(f'ReLU, η = {config.small_lr}, bias −1')}",
              conditions=cond, figure="dead"),
        Claim("10c", f"Bias init 0.01 reduces the dead fraction at η = {config.large_lr} (by ≥ {REDUCTION:.0%} "
                     "relative)",
              holds=bool(mean(bias01) <= (1 - REDUCTION) * mean(large)),
              measured=f"{fmt(f'ReLU, η = {config.large_lr}, bias 0.01')} vs {fmt(f'ReLU, η = {config.large_lr}')}",
              conditions=cond, figure="dead"),
        Claim("10d", f"LeakyReLU reduces it: no dead units at η = {config.large_lr}, and training does not diverge",
              holds=bool(leaky["diverged"] is None and np.isfinite(leaky["loss"])),
              measured=f"LeakyReLU has no exact zeros (0% dead by construction); final loss {leaky['loss']:.3g}"
                       + (f", diverged (NaN) at step {leaky['diverged']}" if leaky["diverged"] is not None else ""),
              conditions=cond, figure="loss"),
    ]
    return Result(claims=claims, records=records)
