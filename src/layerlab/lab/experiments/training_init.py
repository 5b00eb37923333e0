"""Seed 001, module 7.4: what the initial weights do to training (claims 7 and 8 of issue [lab]).

Claim 7. The notes train an MNIST network — 784-500-500-500-10 tanh, cross-entropy, mini-batch
GD with η = 0.5, batch 256 — from ``W = 0.01*np.random.randn(...)``: "Observe that for the first
35 iterations, the loss (almost) remains constant", while with ``randn(fan_in, fan_out)/sqrt(fan_in)``
(Xavier) it falls at once. Tiny weights make every activation tiny (claim 3), so every weight
gradient, proportional to the activation feeding it, is tiny too: the net sits on a plateau at
the loss of a uniform guess, ln 10 ≈ 2.303, until the weights have grown.

Here it runs on Fashion-MNIST (inputs in [0, 1]) at the notes' η = 0.5 *and* at η = 0.1: at
η = 0.5 the Xavier net diverges on these inputs (the reference measurements in CLAIMS.md), so
the notes' contrast only appears at the smaller step. Both are reported, as separate claims.

Claim 8. A deep ReLU net (784-100-6×50-10): "Xavier does not work for ReLU neurons ... a factor of
2 is needed", W = randn/√(fan_in/2) (He). Xavier's activations shrink by ~1/√2 per ReLU layer
(claim 5), He's keep their scale; the notes show He training faster. Measured as the mean
mini-batch loss of the last iterations, over several seeds, at two learning rates.

Note: the notes' "Xavier" is ``randn/sqrt(fan_in)``, Var(w) = 1/fan_in — layerlab's
``lecun_normal``; Glorot's ``xavier_normal`` (Var = 2/(fan_in + fan_out)) differs for these
non-square layers. He is ``he_normal`` (Var = 2/fan_in). Biases start at 0. Both initialisations
of a comparison see the same mini-batches in the same order (one loader seed per seed index).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import optim
from layerlab.probes import ActivationStats
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import steps_to_below, tail_mean
from layerlab.lab.training import fashion, fit_iterations, mlp

__all__ = [
    "PlateauConfig", "DeepReluConfig", "plateau_length", "falls_at_once", "loss_at",
    "FLAT_BAND", "PLATEAU_MIN", "FALL_WITHIN", "NOTES_PLATEAU", "REPORT_AT", "SMALL", "XAVIER", "HE",
]

#: "almost flat": the mini-batch loss within ±FLAT_BAND of its value at iteration 0
FLAT_BAND = 0.1
#: "for the first tens of iterations": the plateau lasts at least this many iterations
PLATEAU_MIN = 20
#: the notes' figure: "for the first 35 iterations, the loss (almost) remains constant"
NOTES_PLATEAU = 35
#: Xavier "starts falling at once": below (initial − FLAT_BAND) by iteration FALL_WITHIN, and below
#: it for the rest of the run (it does not climb back, nor diverge)
FALL_WITHIN = 5
#: iterations whose losses are quoted
REPORT_AT = (5, 20, 50)

#: the initialisations, by label: (nn.Linear init spec, description)
SMALL = "W = 0.01·randn"
XAVIER = "Xavier (randn/√fan_in)"
HE = "He (randn/√(fan_in/2))"


# -- the measurements (plain functions of a loss curve) ----------------------------------------------------
def plateau_length(losses, band: float = FLAT_BAND) -> int:
    """The first iteration t whose loss leaves [L₀ − band, L₀ + band] (L₀ = ``losses[0]``; a non-finite
    loss leaves it); ``len(losses)`` when the whole curve stays inside (the plateau outlasts the run)."""
    v = np.asarray(losses, dtype=np.float64)
    if v.size == 0:
        raise ValueError("plateau_length: empty loss curve")
    out = ~(np.abs(v - v[0]) <= band)  # NaN compares False: it leaves the band
    return int(np.argmax(out)) if out.any() else int(v.size)


def falls_at_once(losses, band: float = FLAT_BAND, within: int = FALL_WITHIN) -> bool:
    """True when the loss is below L₀ − ``band`` by iteration ``within`` and stays below it (finite)
    at every later iteration."""
    v = np.asarray(losses, dtype=np.float64)
    level = v[0] - band
    t = steps_to_below(v, level)
    return t is not None and t <= within and bool(np.all(v[t:] < level))


def loss_at(losses, t: int) -> float:
    """The loss at iteration ``t`` (NaN when the run is shorter)."""
    return float(losses[t]) if 0 <= t < len(losses) else float("nan")


def _fmt_it(t: int | None, n: int) -> str:
    return f"never (in {n} it.)" if t is None or t >= n else f"iteration {t}"


def _g(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{v:.3g}" if abs(v) >= 10 else f"{v:.2f}"


# -- claim 7: the plateau of small initial weights ---------------------------------------------------------
@dataclass
class PlateauConfig:
    """The notes' MNIST set-up on Fashion-MNIST: 784-500-500-500-10 tanh, cross-entropy, plain SGD,
    batch ``batch_size``, ``iterations`` steps per run, at each η in ``lrs``, ``seeds`` seeds per
    initialisation (W = ``small_std``·randn and Xavier)."""

    iterations: int = 200
    lrs: tuple[float, ...] = (0.5, 0.1)
    seeds: int = 2
    batch_size: int = 256
    small_std: float = 0.01
    QUICK: ClassVar[dict] = {"iterations": 60, "seeds": 1}


def _cid(number: int, k: int) -> str:
    return f"{number}{'abcdefghijklmnopqrstuvwxyz'[k]}" if k < 26 else f"{number}.{k}"


def _plateau_figure(curves: dict, lr: float, band: float):
    """Both loss curves on one axis (log scale when one leaves the usual range), the plateau band and
    where the notes' plateau ends; returns (figure, log scale used)."""
    big = max((float(np.nanmax(c)) for c in map(np.asarray, curves.values()) if np.isfinite(c).any()), default=3.0)
    logy = big > 5.0
    fig = figures.loss_curves(curves, logy=logy, title=f"784-500-500-500-10 tanh, η = {lr:g}")
    ax = fig.axes[0]
    l0 = float(next(iter(curves.values()))[0])
    ax.axhspan(l0 - band, l0 + band, color="#999999", alpha=0.15, linewidth=0, label=f"±{band:g} around the start")
    ax.axvline(NOTES_PLATEAU, color="#555555", linestyle=":", linewidth=1.0, label=f"the notes: ~{NOTES_PLATEAU}")
    ax.legend(frameon=False, fontsize=8)
    return fig, logy


@experiment("training_init", order=7, topic="weight initialisation",
            summary="784-500-500-500-10 tanh on Fashion-MNIST: W = 0.01·randn sits on a plateau for tens of "
                    "iterations while Xavier falls at once — at the notes' η = 0.5 and at η = 0.1 (claim 7)")
def plateau(config: PlateauConfig, ctx: Context) -> Result:
    """Seed 001, module 7.4: the loss of the notes' tanh network in its first iterations, from small
    (0.01·randn) and from Xavier initial weights."""
    (x, y), _ = fashion()
    inits = {SMALL.replace("0.01", f"{config.small_std:g}"): ("normal", {"std": float(config.small_std)}),
             XAVIER: "lecun_normal"}
    small_label, xavier_label = inits
    sizes = [784, 500, 500, 500, 10]
    runs: dict[tuple[float, str, int], dict] = {}
    for lr in config.lrs:
        for s in range(config.seeds):
            for label, init in inits.items():
                # the same initial weights and the same mini-batches at every η
                model = mlp(sizes, "tanh", init, ctx.rng_for("weights", label, s))
                runs[lr, label, s] = fit_iterations(
                    ctx, model, optim.SGD(model.parameters(), lr=lr), x, y, config.iterations, config.batch_size,
                    label=f"eta={lr:g}/{label}/seed {s}", seed=ctx.seed + s)

    records, claims = [], []
    n = config.iterations
    for k, lr in enumerate(config.lrs):
        per_seed = []
        for s in range(config.seeds):
            small, xav = runs[lr, small_label, s]["losses"], runs[lr, xavier_label, s]["losses"]
            p = plateau_length(small)
            per_seed.append((p, falls_at_once(xav), small, xav))
            for label, curve in ((small_label, small), (xavier_label, xav)):
                out = runs[lr, label, s]
                records.append({
                    "η": lr, "init": label, "seed": s, "loss at 0": loss_at(curve, 0),
                    **{f"loss at {t}": loss_at(curve, t) for t in REPORT_AT},
                    "plateau (iterations within ±0.1)": plateau_length(curve),
                    "first below start − 0.1": steps_to_below(curve, curve[0] - FLAT_BAND),
                    "max loss": float(np.nanmax(curve)), "final loss": loss_at(curve, len(curve) - 1),
                    "non-finite at": out["diverged"]})
        flat = all(p >= PLATEAU_MIN for p, *_ in per_seed)
        falls = all(f for _, f, *_ in per_seed)
        p0, _, small0, xav0 = per_seed[0]
        xav_first = steps_to_below(xav0, xav0[0] - FLAT_BAND)
        at = [t for t in REPORT_AT if t < n]
        measured = (
            f"{small_label}: leaves ±{FLAT_BAND:g} around its start ({small0[0]:.3f}): "
            + ", ".join(_fmt_it(p, n) for p, *_ in per_seed)
            + f" ({'per seed; ' if config.seeds > 1 else ''}the notes: ~{NOTES_PLATEAU}); loss at "
            + "/".join(map(str, at)) + " = " + "/".join(_g(loss_at(small0, t)) for t in at)
            + f", max {_g(float(np.nanmax(small0)))}. {xavier_label}: {xav0[0]:.2f} → "
            + ", ".join(f"{_g(loss_at(xav0, t))} (it. {t})" for t in at)
            + f"; first below {xav0[0] - FLAT_BAND:.2f}: {_fmt_it(xav_first, n)}"
            + f", max {_g(float(np.nanmax(xav0)))}"
            + ("" if config.seeds == 1 else f"; Xavier falls at once in {sum(f for _, f, *_ in per_seed)} of "
                                             f"{config.seeds} seeds")
            + (" (losses quoted for seed 0)" if config.seeds > 1 else ""))
        claims.append(Claim(
            _cid(7, k),
            f"η = {lr:g}{' (the notes’ set-up)' if lr == 0.5 else ''}: with W = {config.small_std:g}·randn the "
            f"loss stays almost flat for the first tens of iterations (the notes: ~{NOTES_PLATEAU}), while Xavier init "
            f"starts falling at once (verdict, in every seed: the small-init loss stays within ±{FLAT_BAND:g} of its "
            f"start for ≥ {PLATEAU_MIN} iterations, and Xavier's is below its start − {FLAT_BAND:g} by iteration "
            f"{FALL_WITHIN} and stays there)",
            flat and falls, measured,
            f"Fashion-MNIST training set (60,000 images, pixels in [0, 1], not standardised), 784-500-500-500-10 "
            f"tanh, cross-entropy, plain SGD η = {lr:g}, batch {config.batch_size}, {n} iterations, biases 0, "
            f"{config.seeds} seed(s); iteration t = the mini-batch loss after t updates",
            figure=f"plateau_eta{lr:g}"))
        fig, logy = _plateau_figure({label: runs[lr, label, 0]["losses"] for label in inits}, lr, FLAT_BAND)
        ctx.savefig(fig, f"plateau_eta{lr:g}",
                    caption=f"η = {lr:g}, seed 0: mini-batch loss per iteration for both initialisations (the "
                            "notes' figure). Grey band: the plateau test; dotted: where the notes' plateau ends."
                            + (" Log scale: a run diverges." if logy else ""))

    notes = [
        f"CLAIMS.md's reference (PyTorch): at η = 0.5 the {SMALL} loss is flat to ~iteration 20 and Xavier "
        "diverges (loss 7.7 at iteration 5); at η = 0.1 the small init stays flat for > 80 iterations and Xavier "
        "falls 2.3 → 1.4 (5 it.) → 0.8 (20 it.).",
        "The notes use MNIST; Fashion-MNIST is harder but has the same shape (784 inputs in [0, 1], 10 classes). "
        "Inputs that are all non-negative make the first layer's gradient push every weight of a unit the same "
        "way, which is one reason the notes' η = 0.5 is too large for Xavier here.",
    ]
    return Result(claims=claims, records=records, notes=notes)


# -- claim 8: He vs Xavier in a deep ReLU net ----------------------------------------------------------------
@dataclass
class DeepReluConfig:
    """784-100-6×50-10 ReLU on Fashion-MNIST, cross-entropy, plain SGD, batch ``batch_size``:
    ``iterations`` steps per run, ``seeds`` seeds per initialisation and η; the verdict compares the
    mean loss of the last ``tail`` iterations."""

    iterations: int = 300
    lrs: tuple[float, ...] = (0.1, 0.05)
    seeds: int = 3
    batch_size: int = 256
    tail: int = 50
    QUICK: ClassVar[dict] = {"iterations": 120, "seeds": 2}


def _profile(probe: ActivationStats) -> tuple[list[float], list[float]]:
    """std of each ReLU layer's output at the first and at the last sampled step."""
    start, end = [], []
    for layer in probe.layer_names:
        _, v = probe.series(layer, "std", "post")
        start.append(float(v[0]))
        end.append(float(v[-1]))
    return start, end


@experiment("deep_relu_init", order=8, topic="weight initialisation",
            summary="784-100-6×50-10 ReLU on Fashion-MNIST: He init (randn/√(fan_in/2)) trains faster than "
                    "Xavier (randn/√fan_in) (claim 8)")
def deep_relu(config: DeepReluConfig, ctx: Context) -> Result:
    """Seed 001, module 7.4: He vs Xavier initialisation in a deep ReLU network, over several seeds and
    two learning rates."""
    if config.tail < 1 or config.tail > config.iterations:
        raise ValueError(f"deep_relu_init: tail must be in 1..iterations ({config.iterations}), got {config.tail}")
    (x, y), _ = fashion()
    sizes = [784, 100] + [50] * 6 + [10]
    inits = {XAVIER: "lecun_normal", HE: "he_normal"}
    claims, records = [], []
    profiles: dict[str, list[float]] = {}
    for k, lr in enumerate(config.lrs):
        tails: dict[str, list[float]] = {label: [] for label in inits}
        curves = {}
        for s in range(config.seeds):
            for label, init in inits.items():
                model = mlp(sizes, "relu", init, ctx.rng_for("weights", label, s))
                cbs = []
                if k == 0 and s == 0:  # the spread of each layer's activations, first and last step
                    probe = ActivationStats(every=max(1, config.iterations - 1), bins=0, what=("post",))
                    cbs.append(probe)
                out = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=lr), x, y, config.iterations,
                                     config.batch_size, label=f"eta={lr:g}/{label}/seed {s}", callbacks=cbs,
                                     seed=ctx.seed + s)
                if cbs:
                    ctx.flush_probe(probe, f"eta={lr:g}/{label}/seed {s}")
                    start, end = _profile(probe)
                    short = label.split(" ")[0]
                    profiles[f"{short}, step 0"] = start
                    profiles[f"{short}, step {config.iterations - 1}"] = end
                tails[label].append(tail_mean(out["losses"], config.tail))
                if s == 0:
                    curves[label] = out["losses"]
                records.append({"η": lr, "init": label, "seed": s,
                                f"mean loss of the last {config.tail} it.": tails[label][-1],
                                "loss at 0": loss_at(out["losses"], 0),
                                "final loss": loss_at(out["losses"], len(out["losses"]) - 1),
                                "non-finite at": out["diverged"]})
        he, xa = float(np.mean(tails[HE])), float(np.mean(tails[XAVIER]))
        wins = sum(h < v for h, v in zip(tails[HE], tails[XAVIER]))
        claims.append(Claim(
            _cid(8, k),
            f"η = {lr:g}: in a deep ReLU net He init trains faster than Xavier (verdict: lower mean mini-batch loss "
            f"over the last {config.tail} of {config.iterations} iterations, averaged over the seeds)",
            he < xa,
            f"mean loss of the last {config.tail} iterations: He {he:.3f} (per seed "
            + ", ".join(f"{v:.3f}" for v in tails[HE]) + f"), Xavier {xa:.3f} ("
            + ", ".join(f"{v:.3f}" for v in tails[XAVIER]) + f"); He lower in {wins} of {config.seeds} seeds",
            f"Fashion-MNIST training set (pixels in [0, 1]), 784-100-6×50-10 ReLU, cross-entropy, plain SGD "
            f"η = {lr:g}, batch {config.batch_size}, {config.iterations} iterations, biases 0, {config.seeds} seeds "
            "(the same mini-batches for both inits)",
            figure=f"loss_eta{lr:g}"))
        ctx.savefig(figures.loss_curves(curves, smooth=10, title=f"784-100-6×50-10 ReLU, η = {lr:g} (seed 0)"),
                    f"loss_eta{lr:g}",
                    caption=f"η = {lr:g}, seed 0: mini-batch loss (running mean over 10 iterations; raw faint).")
    layers = [f"h{i}" for i in range(1, len(sizes) - 1)]
    ctx.savefig(figures.layer_profile(profiles, layers=layers, logy=True, ylabel="std of h (ReLU output)",
                                      title=f"Spread of each layer's activations, η = {config.lrs[0]:g}, seed 0"),
                "activation_spread",
                caption="Std of each ReLU layer's output on a mini-batch, at the first and the last iteration. At "
                        "the start Xavier's shrinks by about 1/√2 per layer (the variance halves per ReLU), He's "
                        "far less; training then rescales both.")
    notes = [
        "CLAIMS.md's reference (PyTorch, 300 iterations, 3 seeds): mean loss of the last 50 iterations, η = 0.1: "
        "Xavier 0.77 / He 0.59; η = 0.05: Xavier 0.88 / He 0.59.",
        "The notes' figure shows 380 iterations of this network (h1 ∈ R^100, h2..h7 ∈ R^50).",
    ]
    return Result(claims=claims, records=records, notes=notes)
