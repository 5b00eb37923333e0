"""Seed 001, module 7.3: SELU is self-normalising (claim 13 of issue [lab]).

"It is helpful to center the output activations from each layer to zero mean and unit
variance ... What if we do this with the activation function itself (called self
normalizing)? SELU does it!" — h(x) = λx for x > 0, λα(eˣ − 1) otherwise, with
λ ≈ 1.0507 and α ≈ 1.6733 chosen so that (mean 0, variance 1) is a fixed point of a layer
whose weights have n·Var(w) = 1 (LeCun's normal init, Klambauer et al. 2017).

The experiment sends unit-Gaussian input through a deep stack of ``Linear(bias=False,
init="lecun_normal")`` + SELU and measures every layer's activations with
:class:`~layerlab.probes.ActivationStats`; the same stack with ReLU is the control: with
n·Var(w) = 1 a ReLU layer halves E[h²], so its variance falls like 2^−depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import LayerStats, forward_stats
from layerlab.lab.training import square_mlp, unit_gaussian

__all__ = ["SeluConfig", "relu_var", "MEAN_TOL", "VAR_TOL", "SELU_RANGE", "check_normalised", "first_violation",
           "run_selu"]

#: "mean ≈ 0 and variance ≈ 1": |mean| ≤ MEAN_TOL and |var − 1| ≤ VAR_TOL in every layer
MEAN_TOL = 0.1
VAR_TOL = 0.1
#: histogram bins of SELU's output: its lower bound is −λα ≈ −1.758
SELU_RANGE = (-1.8, 4.0)


def relu_var(layer: int) -> float:
    """Var(h_l) of the ReLU stack in the infinite-width limit: E[a_l²] = 2^−(l−1) (each layer passes on half
    of E[a²] and n·Var(w) = 1), and Var(ReLU(a)) = (½ − 1/2π)·E[a²] for a zero-mean Gaussian a."""
    return (0.5 - 1.0 / (2.0 * math.pi)) * 0.5 ** (layer - 1)


def check_normalised(means, variances, mean_tol: float = MEAN_TOL, var_tol: float = VAR_TOL) -> bool:
    """True when every layer has |mean| ≤ ``mean_tol`` and |var − 1| ≤ ``var_tol``."""
    return all(abs(m) <= mean_tol for m in means) and all(abs(v - 1.0) <= var_tol for v in variances)


def first_violation(means, variances, mean_tol: float = MEAN_TOL, var_tol: float = VAR_TOL) -> int | None:
    """The first layer (1-based) that leaves the band, or None."""
    for i, (m, v) in enumerate(zip(means, variances), 1):
        if abs(m) > mean_tol or abs(v - 1.0) > var_tol:
            return i
    return None


@dataclass
class SeluConfig:
    """``n`` unit-Gaussian points in R^width through ``depth`` layers (Linear without bias, LeCun normal)."""

    n: int = 2000
    width: int = 256
    depth: int = 32
    bins: int = 50
    QUICK: ClassVar[dict] = {"n": 500}


def run_selu(config: SeluConfig, ctx: Context) -> tuple[dict[str, list[LayerStats]], np.ndarray]:
    """The SELU and ReLU stacks on the same input; returns ({"SELU"/"ReLU": per-layer stats}, input)."""
    x = unit_gaussian(config.n, config.width, ctx.rng_for("input"))
    out = {}
    for label, act, hist_range in (("SELU", "selu", SELU_RANGE), ("ReLU", "relu", None)):
        model = square_mlp(config.width, config.depth, act, "lecun_normal", ctx.rng_for("weights", label))
        stats, _ = forward_stats(model, x, bins=config.bins, hist_range=hist_range)
        out[label] = stats
        for s in stats:
            ctx.run.log_probes(0, f"{label}/h{s.layer}", {"mean": s.mean, "var": s.std ** 2})
    return out, x


def _profile_figure(res: dict[str, list[LayerStats]]):
    fig, axes = figures.new_figure(1, 2, panel=(4.6, 3.2), title="Mean and variance of each layer's activations "
                                                                  "(LeCun normal, no bias)")
    ax_m, ax_v = axes[0]
    for i, (label, stats) in enumerate(res.items()):
        color = figures.COLORS[i]
        x = [s.layer for s in stats]
        ax_m.plot(x, [s.mean for s in stats], marker="o", markersize=2.5, color=color, label=label)
        ax_v.plot(x, [s.std ** 2 for s in stats], marker="o", markersize=2.5, color=color, label=label)
    n = max(len(v) for v in res.values())
    ax_m.axhspan(-MEAN_TOL, MEAN_TOL, color="#999999", alpha=0.15, linewidth=0, label=f"|mean| ≤ {MEAN_TOL}")
    ax_v.axhspan(1 - VAR_TOL, 1 + VAR_TOL, color="#999999", alpha=0.15, linewidth=0, label=f"|var − 1| ≤ {VAR_TOL}")
    ax_v.plot(range(1, n + 1), [relu_var(k) for k in range(1, n + 1)], linestyle="--", linewidth=1.0,
              color=figures.COLORS[1], label="(½ − 1/2π)·2^−(l−1) (ReLU theory)")
    ax_v.set_yscale("log")
    for ax, name in ((ax_m, "mean of h"), (ax_v, "variance of h")):
        ax.set_xlabel("layer")
        ax.set_ylabel(name)
        ax.legend(fontsize=7)
    return fig


@experiment("selu", order=13, topic="activation functions",
            summary="SELU with LeCun-normal init keeps mean ≈ 0, variance ≈ 1 through 32 layers; "
                    "ReLU does not (claim 13)")
def selu(config: SeluConfig, ctx: Context) -> Result:
    """Seed 001, module 7.3: SELU's self-normalisation, one forward pass through a deep stack."""
    res, x = run_selu(config, ctx)
    mv = {k: ([s.mean for s in v], [s.std ** 2 for s in v]) for k, v in res.items()}
    (sm, sv), (rm, rv) = mv["SELU"], mv["ReLU"]
    selu_ok = check_normalised(sm, sv)
    relu_ok = check_normalised(rm, rv)
    relu_out = first_violation(rm, rv)
    d = config.depth
    selu_out = first_violation(sm, sv)
    measured = (f"SELU: layer {d} mean {sm[-1]:+.3f}, var {sv[-1]:.3f}; over all {d} layers mean in "
                f"[{min(sm):+.3f}, {max(sm):+.3f}], var in [{min(sv):.3f}, {max(sv):.3f}]"
                + (f" (leaves the band at layer {selu_out})" if selu_out else "") + ". "
                f"ReLU: layer {d} mean {rm[-1]:.2g}, var {rv[-1]:.2g} "
                f"(theory (½ − 1/2π)·2^−{d - 1} = {relu_var(d):.2g}); "
                + (f"it leaves the band at layer {relu_out}" if relu_out else "it stays in the band"))
    claim = Claim(
        "13",
        f"SELU with LeCun-normal init keeps mean ≈ 0 and variance ≈ 1 through {d} layers; ReLU with the same "
        f"init does not (verdict: SELU has |mean| ≤ {MEAN_TOL} and |var − 1| ≤ {VAR_TOL} in every layer, "
        f"and ReLU does not)",
        bool(selu_ok and not relu_ok), measured,
        f"{config.n}×{config.width} unit-Gaussian input (var {float(x.var()):.3f}), {d} × Linear({config.width}, "
        f"{config.width}, bias=False, init=lecun_normal), one forward pass (float32), seed {ctx.seed}",
        figure="selu_profile")

    ctx.savefig(_profile_figure(res), "selu_profile",
                caption="Per layer, mean and variance of the activations; grey: the verdict's band. SELU stays at "
                        "(0, 1); ReLU's variance halves per layer.")
    picks = sorted({1, max(1, d // 4), max(1, d // 2), d})
    rows = {label: {f"h{s.layer}\nμ={s.mean:.2g}  σ²={s.std ** 2:.2g}": s.hist for s in stats
                    if s.layer in picks and s.hist is not None}
            for label, stats in res.items()}
    fig = figures.layer_histogram_grid(rows, xlabel="h", title="Activations at a few depths")
    for ax in fig.axes:  # ReLU's panels span 1e-5 at depth 32: keep their tick labels short
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    ctx.savefig(fig, "selu_histograms",
                caption=f"SELU keeps the same distribution at every depth "
                        f"(bins over [{SELU_RANGE[0]}, {SELU_RANGE[1]}]); "
                        "ReLU's collapses towards 0 (each ReLU panel's bins span its own data; the bar at 0 holds the "
                        "entries ReLU sets to 0, about half).")
    records = [{"activation": label, "layer": s.layer, "mean": s.mean, "var": s.std ** 2, "p15": s.p15, "p50": s.p50,
                "p85": s.p85, **({"dead": s.dead} if s.dead is not None else {})}
               for label, stats in res.items() for s in stats]
    return Result(claims=[claim], records=records,
                  notes=["Mean and variance are over all N × units entries of a layer's activations. "
                         "With n·Var(w) = 1 a ReLU layer passes on E[h²] = Var(a)/2, hence 2^−depth."])
