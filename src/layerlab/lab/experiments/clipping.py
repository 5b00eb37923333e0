"""Seed 002, gradient descent strategies: gradient clipping (issue 13, point 4).

The notes: "In case one of the components of the gradient is much larger than other we might want to
normalize it to control our descent. One way it to just limit it at some maximum value. Other methods
include normalizing the whole vector with respect to a norm." — clipping by value (every entry into
[−v, v], ``optim.clip_grad_value_``) and clipping by the global norm (the whole gradient rescaled to norm
c when it is longer, ``optim.clip_grad_norm_``, the Trainer's ``clip_grad_norm=``).

Set-up. A deep ReLU net, 784-128×6-10 with He-normal weights (biases 0), trained on a subset of
Fashion-MNIST (inputs in [0, 1], as the notes' MNIST) with plain mini-batch SGD, cross-entropy, batch 128.
What drives the gradients to explode is a large learning rate, stated: the net trains well at the small
η = 0.05; the large η of the grid, 0.5 and 1.0 (10× and 20× that), were fixed before any run as the
exploding condition — whether every unclipped run there does blow up (the gradient norm growing by orders of
magnitude within a few steps) is itself claim 35a, per η. Each seed's runs start from the same
weights and see the same mini-batches in the same order, with no clipping, clipping by value and clipping
by the global norm.

The thresholds follow Pascanu, Mikolov and Bengio (2013, "On the difficulty of training recurrent neural
networks"): "a good heuristic for setting this threshold is to look at statistics on the average norm
over a sufficiently large number of updates". Per seed, the reference run (small η, no clipping) fixes
c = the mean L2 norm of its gradients over all its steps, and, for value clipping, the same statistic of
the quantity that clips: v = the mean over its steps of the largest |entry| (the ∞-norm). Both are
measured before any clipped run, on a run that trains well.

Measured at every step, on the raw gradient (before clipping): its L2 norm and largest entry; after
clipping: whether the clip acted and the cosine between the clipped and the raw gradient (1 when it did
not act). A run diverges when its loss or a gradient becomes non-finite (the Trainer's NaN guard stops it
there, the bad update not applied) or its final loss (mean of the last ``tail`` mini-batch losses) is above
its initial loss. A diverged run is never evidence for a remedy.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import optim
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import much_faster, much_faster_holds, tail_mean
from layerlab.lab.training import fashion, fit_iterations, mlp
from layerlab.train import Callback

__all__ = [
    "ClippingConfig", "GradientClipper", "MODES", "CONVERGED", "KEEPS_DIRECTION", "CHANGES_DIRECTION",
    "run_diverged", "run_converged", "runs_at", "check_diverges", "check_converges", "check_keeps_direction",
    "check_changes_direction", "check_immaterial", "cosine",
]

MODES = ("none", "value", "norm")
#: "converges": every seed's run stays finite and ends (mean of the last ``tail`` losses) at or below half the
#: loss of a uniform guess over the 10 classes, ln(10)/2 ≈ 1.15 nats — clearly learning, not hovering at chance
CONVERGED = math.log(10.0) / 2
#: norm clipping "keeps the direction": the cosine between clipped and raw gradient is 1 up to float32 rounding
#: (each entry rescaled with a relative error ≲ 6e-8) on every step where the clip acted
KEEPS_DIRECTION = 0.9999
#: value clipping "changes the direction": the mean cosine over the steps where it acted is below this (an angle
#: of ≥ 8°, far beyond rounding)
CHANGES_DIRECTION = 0.99


# -- measuring ------------------------------------------------------------------------------------------------------
def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """cos∠(a, b) in float64 (NaN when either is zero or not finite)."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    with np.errstate(all="ignore"):
        na, nb = math.sqrt(float(a @ a)), math.sqrt(float(b @ b))
        if not (na > 0 and nb > 0 and math.isfinite(na) and math.isfinite(nb)):
            return math.nan
        return float(a @ b) / (na * nb)


class GradientClipper(Callback):
    """A Trainer callback that, after the backward pass and before the update, measures the raw gradient (its L2
    norm and largest |entry|), clips it (``mode`` "none", "value" with v = ``threshold`` or "norm" with
    c = ``threshold``) and measures what the clip did: ``active`` (the gradient changed) and ``cos`` (cosine
    between the clipped and the raw gradient; 1 when the clip did not act). A non-finite gradient is measured
    (norm inf / NaN) and left alone: the Trainer's NaN guard stops the run on it."""

    def __init__(self, mode: str, threshold: float | None = None, ctx: Context | None = None, label: str = ""):
        if mode not in MODES:
            raise ValueError(f"GradientClipper: mode must be one of {MODES}, got {mode!r}")
        self.mode, self.threshold, self.ctx, self.label = mode, threshold, ctx, label
        self.norms: list[float] = []
        self.maxes: list[float] = []
        self.cos: list[float] = []
        self.active: list[bool] = []

    def on_after_backward(self, trainer, step):
        params = [p for p in trainer.model.parameters() if p.grad is not None]
        raw = np.concatenate([p.grad.ravel() for p in params]).astype(np.float64)
        with np.errstate(all="ignore"):
            norm = math.sqrt(float(raw @ raw))
            biggest = float(np.max(np.abs(raw)))
        self.norms.append(norm)
        self.maxes.append(biggest)
        if not (math.isfinite(norm) and np.isfinite(raw).all()):
            self.cos.append(math.nan)
            self.active.append(False)
            return
        if self.mode == "norm":
            optim.clip_grad_norm_(params, self.threshold)
        elif self.mode == "value":
            optim.clip_grad_value_(params, self.threshold)
        new = np.concatenate([p.grad.ravel() for p in params]).astype(np.float64)
        active = bool(np.any(new != raw))
        self.active.append(active)
        self.cos.append(cosine(new, raw) if active else 1.0)
        if self.ctx is not None:
            self.ctx.log_metrics(trainer.step, {f"{self.label}/grad_norm": norm, f"{self.label}/cos": self.cos[-1]})


# -- the verdicts (plain functions of the records) -------------------------------------------------------------------
def run_diverged(r: dict) -> bool:
    """A run diverged: its loss or a gradient became non-finite (``diverged_step`` set), or its final loss is not
    at or below its initial loss (a NaN final loss is not)."""
    return bool(r.get("diverged_step") is not None or not (r["final"] <= r["loss0"]))


def run_converged(r: dict, level: float = CONVERGED) -> bool:
    """A run converged: it did not diverge and its final loss is at or below ``level``."""
    return bool(not run_diverged(r) and r["final"] <= level)


def runs_at(records, lr: float, mode: str) -> list[dict]:
    """The ``part == "run"`` records at learning rate ``lr`` with clipping ``mode``, by seed."""
    return sorted((r for r in records if r.get("part") == "run" and float(r["lr"]) == float(lr) and r["mode"] == mode),
                  key=lambda r: r["seed"])


def check_diverges(records, lr: float) -> bool:
    """Claim 35a: without clipping, every seed's run at ``lr`` diverges (no runs: no evidence, False)."""
    runs = runs_at(records, lr, "none")
    return bool(runs) and all(run_diverged(r) for r in runs)


def check_converges(records, lr: float, mode: str, level: float = CONVERGED) -> bool:
    """Claims 35b/35c: with clipping ``mode``, every seed's run at ``lr`` converges (:func:`run_converged`)."""
    runs = runs_at(records, lr, mode)
    return bool(runs) and all(run_converged(r, level) for r in runs)


def _direction_runs(records, mode: str, lrs) -> list[dict]:
    return [r for lr in lrs for r in runs_at(records, lr, mode) if r["active_steps"] > 0]


def check_keeps_direction(records, lrs, threshold: float = KEEPS_DIRECTION) -> tuple[bool, float, int]:
    """Claim 35d: on every step where norm clipping acted (runs at the η in ``lrs``), the cosine between the
    clipped and the raw gradient is ≥ ``threshold``. Returns (holds, the smallest cosine, steps clipped); no
    clipped step is no evidence (False)."""
    runs = _direction_runs(records, "norm", lrs)
    if not runs:
        return False, math.nan, 0
    worst = min(float(r["cos_min"]) for r in runs)
    return bool(worst >= threshold), worst, int(sum(r["active_steps"] for r in runs))


def check_changes_direction(records, lrs, threshold: float = CHANGES_DIRECTION) -> tuple[bool, float, int]:
    """Claim 35e: the mean cosine between the value-clipped and the raw gradient over all steps where value
    clipping acted (runs at the η in ``lrs``, each step weighing the same) is < ``threshold``. Returns (holds,
    that mean, steps clipped); no clipped step is no evidence (False)."""
    runs = _direction_runs(records, "value", lrs)
    steps = sum(r["active_steps"] for r in runs)
    if not steps:
        return False, math.nan, 0
    mean = sum(float(r["cos_mean"]) * r["active_steps"] for r in runs) / steps
    return bool(mean < threshold), float(mean), int(steps)


def check_immaterial(records, lr: float, mode: str) -> bool:
    """Claims 35f/35g: at the well-behaved ``lr`` clipping ``mode`` changes nothing material, on every seed:
    neither the clipped nor the unclipped run diverged, and neither is "much faster" than the other by the lab's
    one definition (``stats.much_faster``: reaching the other's final loss in ≤ 1/2 of its steps), read from the
    ``part == "material"`` records (both directions per seed). No records: no evidence (False)."""
    rows = [r for r in records if r.get("part") == "material" and float(r["lr"]) == float(lr) and r["mode"] == mode]
    clipped, plain = runs_at(records, lr, mode), runs_at(records, lr, "none")
    if not rows or not clipped or not plain or any(run_diverged(r) for r in clipped + plain):
        return False
    return not any(much_faster_holds(r["steps_fast"], r["steps_slow"], r["diverged"], r["ends_above"]) for r in rows)


# -- the experiment --------------------------------------------------------------------------------------------------
@dataclass
class ClippingConfig:
    """``n_train`` Fashion-MNIST training images (inputs in [0, 1]); MLP 784-``hidden``-10 ReLU, He-normal weights,
    biases 0; plain SGD, cross-entropy, batch ``batch_size``, ``iterations`` steps; the well-behaved η = ``small_lr``
    (the reference run that fixes the thresholds) and the large η of ``large_lrs``; ``seeds`` seeds; the final
    loss is the mean of the last ``tail`` mini-batch losses."""

    n_train: int = 4000
    hidden: tuple[int, ...] = (128, 128, 128, 128, 128, 128)
    batch_size: int = 128
    iterations: int = 400
    small_lr: float = 0.05
    large_lrs: tuple[float, ...] = (0.5, 1.0)
    seeds: int = 3
    tail: int = 50
    QUICK: ClassVar[dict] = {"n_train": 1000, "hidden": (48, 48, 48, 48, 48, 48), "iterations": 80,
                             "large_lrs": (1.0,), "seeds": 2, "tail": 20}


def _fit(ctx: Context, config: ClippingConfig, x, y, seed: int, lr: float, mode: str, threshold):
    label = f"s{seed}/eta{lr:g}/{mode}"
    model = mlp([x.shape[1], *config.hidden, 10], "relu", "he_normal", ctx.rng_for("weights", seed))
    clipper = GradientClipper(mode, threshold, ctx, label)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        out = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=lr), x, y, config.iterations,
                             config.batch_size, label, callbacks=[clipper], seed=seed)
    losses = out["losses"]
    cos = np.asarray(clipper.cos, dtype=np.float64)
    act = np.asarray(clipper.active, dtype=bool)
    norms = np.asarray(clipper.norms, dtype=np.float64)
    finite_norms = norms[np.isfinite(norms)]
    rec = {"part": "run", "seed": seed, "lr": float(lr), "mode": mode,
           "threshold": None if threshold is None else float(threshold),
           "loss0": float(losses[0]), "final": tail_mean(losses, config.tail),
           "diverged_step": out["diverged"], "steps": len(clipper.norms),
           "norm0": float(norms[0]), "norm_max": float(finite_norms.max()) if finite_norms.size else math.nan,
           "norm_nonfinite": bool(finite_norms.size < norms.size),
           "active_steps": int(act.sum()), "active_frac": float(act.mean()) if act.size else 0.0,
           "cos_mean": float(cos[act].mean()) if act.any() else math.nan,
           "cos_min": float(cos[act].min()) if act.any() else math.nan}
    rec["diverged"] = run_diverged(rec)
    rec["converged"] = run_converged(rec)
    curves = {"loss": np.asarray(losses, dtype=np.float64), "norm": norms, "cos": cos, "active": act,
              "max": np.asarray(clipper.maxes, dtype=np.float64)}
    return rec, curves


@experiment("gradient_clipping", order=35, topic="depth and gradients",
            summary="a large η blows a deep ReLU net up; clipping the global norm tames it and keeps the gradient's "
                    "direction, clipping by value bends it; at a small η clipping changes nothing material")
def run(config: ClippingConfig, ctx: Context) -> Result:
    """Seed 002, gradient clipping: no clipping vs clipping by value vs by the global norm, at a well-behaved
    and at large learning rates, thresholds from the average gradient of a run that trains well."""
    (x, y), _ = fashion(config.n_train, 10, standardize=False, rng=ctx.rng_for("data"))
    lrs = [config.small_lr, *config.large_lrs]

    def fit(item):  # one run: (seed, η, mode, threshold or None)
        s, lr, mode, threshold = item
        return _fit(ctx, config, x, y, s, lr, mode, threshold)

    # the reference runs first: each seed's thresholds come from its own
    refs = ctx.map(fit, [(s, config.small_lr, "none", None) for s in range(config.seeds)], label="reference runs")
    thresholds = []
    for s, (_, ref_curves) in enumerate(refs):
        norms, maxes = ref_curves["norm"], ref_curves["max"]
        thresholds.append({"none": None, "value": float(np.mean(maxes[np.isfinite(maxes)])),
                           "norm": float(np.mean(norms[np.isfinite(norms)]))})
    items = [(s, lr, mode, thresholds[s][mode]) for s in range(config.seeds) for lr in lrs for mode in MODES
             if not (lr == config.small_lr and mode == "none")]
    runs = dict(zip([item[:3] for item in items], ctx.map(fit, items, label="clipping runs")))

    records: list[dict] = []
    curves: dict[tuple, dict] = {}
    for s, (ref, ref_curves) in enumerate(refs):
        norms, maxes = ref_curves["norm"], ref_curves["max"]
        records.append({"part": "threshold", "seed": s, "clip_norm": thresholds[s]["norm"],
                        "clip_value": thresholds[s]["value"],
                        "ref_norm_median": float(np.median(norms)), "ref_max_median": float(np.median(maxes))})
        records.append(ref)
        curves[(s, config.small_lr, "none")] = ref_curves
        for lr in lrs:
            for mode in MODES:
                if lr == config.small_lr and mode == "none":
                    continue
                rec, cur = runs[s, lr, mode]
                records.append(rec)
                curves[(s, lr, mode)] = cur
        plain = curves[(s, config.small_lr, "none")]["loss"]
        for mode in ("value", "norm"):
            clipped = curves[(s, config.small_lr, mode)]["loss"]
            for fast, slow, who in ((clipped, plain, f"{mode} faster"), (plain, clipped, "none faster")):
                m = much_faster(fast, slow, window=config.tail)
                records.append({"part": "material", "seed": s, "lr": float(config.small_lr), "mode": mode,
                                "which": who, **{k: m[k] for k in ("level", "steps_fast", "steps_slow", "ratio",
                                                                   "diverged", "fast_end", "ends_above", "holds")}})

    ctx.savefig(_loss_figure(curves, lrs, config), "loss",
                caption="Mini-batch loss per step (running mean of 10, log scale), one line per seed; × marks where a "
                        "run's loss or gradient became non-finite (the NaN guard stopped it). Dotted: the level of "
                        "\"converged\", ln(10)/2.")
    ctx.savefig(_norm_figure(curves, lrs, records, config), "grad_norm",
                caption="L2 norm of the raw gradient (before clipping) per step, one line per seed, log scale; dashed: "
                        "the norm threshold c of seed 0 (the mean gradient norm of its reference run).")
    ctx.savefig(_cos_figure(curves, lrs, config), "direction",
                caption="Cosine between the clipped and the raw gradient on the steps where the clip acted (all "
                        "seeds). Norm clipping rescales: cosine 1. Value clipping flattens the largest entries.")

    thr = [r for r in records if r["part"] == "threshold"]
    c_txt = ", ".join(f"{r['clip_norm']:.3g}" for r in thr)
    v_txt = ", ".join(f"{r['clip_value']:.3g}" for r in thr)
    cond = (f"Fashion-MNIST, {config.n_train} training images in [0, 1]; MLP 784-{'-'.join(map(str, config.hidden))}"
            f"-10 ReLU, He-normal weights, biases 0; plain SGD, cross-entropy, batch {config.batch_size}, "
            f"{config.iterations} steps; {config.seeds} seeds (same weights and batch order per seed in every run); "
            f"thresholds per seed from the reference run (η = {config.small_lr:g}, no clipping): c = mean gradient "
            f"L2 norm ({c_txt}), v = mean largest |entry| ({v_txt}); final loss = mean of the last {config.tail} "
            "mini-batch losses")

    def _desc(r):
        if r["diverged_step"] is not None:
            return f"non-finite at step {r['diverged_step']} (raw norm up to {r['norm_max']:.3g})"
        clipped = "" if r["mode"] == "none" else f", clipped on {r['active_frac']:.0%} of steps"
        return f"{r['loss0']:.3f} → {r['final']:.3f} (raw norm ≤ {r['norm_max']:.3g}{clipped})"

    claims = []
    for lr in config.large_lrs:
        runs = runs_at(records, lr, "none")
        claims.append(Claim(
            f"35a (η={lr:g})",
            "Without clipping the gradients explode at this large η: every seed's run diverges (verdict: the loss or "
            "a gradient becomes non-finite, or the final loss is above the initial one)",
            check_diverges(records, lr),
            "; ".join(f"seed {r['seed']}: {_desc(r)}" for r in runs), cond + f"; η = {lr:g}", "loss"))
    for lr in config.large_lrs:
        for cid, mode, text in (("35b", "norm", "Clipping the gradient's global norm (\"normalizing the whole vector "
                                                "with respect to a norm\") controls the descent"),
                                ("35c", "value", "Clipping every entry at a maximum value (\"limit it at some maximum "
                                                 "value\") controls the descent")):
            runs = runs_at(records, lr, mode)
            claims.append(Claim(
                f"{cid} (η={lr:g})",
                f"{text}: at the η where the unclipped run blows up, every seed's run converges (verdict: stays finite "
                f"and ends at or below ln(10)/2 = {CONVERGED:.3f} nats, half the loss of a uniform guess)",
                check_converges(records, lr, mode),
                "; ".join(f"seed {r['seed']}: {_desc(r)}" for r in runs),
                cond + f"; η = {lr:g}, clipping by {mode}", "loss"))
    ok, worst, n = check_keeps_direction(records, lrs)
    claims.append(Claim(
        "35d", f"Clipping by the norm keeps the gradient's direction (verdict: on every step where it acted, cosine "
               f"between clipped and raw gradient ≥ {KEEPS_DIRECTION})",
        ok, f"smallest cosine {worst:.8f} over {n} clipped steps (all runs with norm clipping, every η)",
        cond, "direction"))
    for lr in lrs:
        ok, mean, n = check_changes_direction(records, [lr])
        per_run = ", ".join(f"seed {r['seed']} {r['cos_mean']:.4f} over {r['active_steps']} steps"
                            for r in runs_at(records, lr, "value") if r["active_steps"])
        claims.append(Claim(
            f"35e (η={lr:g})",
            f"Clipping by value changes the gradient's direction (verdict: mean cosine between clipped and raw "
            f"gradient over the steps where it acted < {CHANGES_DIRECTION})",
            ok, f"mean cosine {mean:.4f} over {n} clipped steps ({per_run or 'no step clipped'})",
            cond + f"; η = {lr:g}" + (" (well-behaved)" if lr == config.small_lr else ""), "direction"))
    for cid, mode in (("35f", "norm"), ("35g", "value")):
        runs, plain = runs_at(records, config.small_lr, mode), runs_at(records, config.small_lr, "none")
        rows = [r for r in records if r["part"] == "material" and r["mode"] == mode]
        claims.append(Claim(
            cid, f"At a well-behaved η clipping by {mode} changes nothing material (verdict: on every seed neither the "
                 "clipped nor the unclipped run diverges and neither is \"much faster\" than the other — the lab's "
                 "one definition, reaching the other's final loss in ≤ half its steps)",
            check_immaterial(records, config.small_lr, mode),
            "final loss clipped vs unclipped: " + ", ".join(
                f"seed {a['seed']} {a['final']:.3f} vs {b['final']:.3f} (clipped on {a['active_frac']:.0%} of steps)"
                for a, b in zip(runs, plain))
            + "; \"much faster\" step ratios (≥ 2 would be material): " + ", ".join(
                f"seed {r['seed']} {r['which']} " + (f"×{r['ratio']:.2f}" if r["steps_fast"] is not None
                                                      else "never reaches the other's final loss") for r in rows),
            cond + f"; η = {config.small_lr:g}", "loss"))
    notes = [
        "The thresholds are not tuned: c and v are the mean L2 norm and the mean largest |entry| of the gradients of "
        "the reference run (small η, no clipping) of the same seed (Pascanu et al. 2013's heuristic), fixed before any "
        "clipped run.",
        "A clipped run at a large η takes steps of length at most η·c (norm) or η·v·√P (value, P parameters): "
        "clipping bounds the step, it does not make a large η a good one. Records of part \"run\" hold every number "
        "a verdict uses; part \"material\" holds the much-faster comparisons of 35f/35g in both directions.",
    ]
    return Result(claims=claims, records=records, notes=notes)


# -- figures ---------------------------------------------------------------------------------------------------------
_MODE_COLOR = {"none": figures.COLORS[1], "value": figures.COLORS[2], "norm": figures.COLORS[0]}


def _loss_figure(curves, lrs, config):
    from layerlab.lab.stats import running_mean

    fig, axes = figures.new_figure(1, len(lrs), panel=(2.9, 2.2), sharey=True, title="Training loss per step")
    for ax, lr in zip(axes[0], lrs):
        for mode in MODES:
            for (s, l, m), cur in curves.items():
                if l != lr or m != mode:
                    continue
                loss = cur["loss"]
                finite = np.isfinite(loss)
                y = running_mean(np.where(finite, loss, np.nan)[finite], 10) if finite.any() else np.array([])
                ax.plot(np.arange(len(y)), y, color=_MODE_COLOR[mode], linewidth=1.1, alpha=0.85,
                        label=mode if s == 0 else None)
                if not finite.all() and len(y):
                    ax.plot([len(y) - 1], [min(y[-1], 1e3)], "x", color=_MODE_COLOR[mode], markersize=8, mew=2)
        ax.axhline(CONVERGED, color="#777777", linestyle=":", linewidth=0.9)
        ax.set_yscale("log")
        ax.set_ylim(0.1, 1e3)
        ax.set_title(f"η = {lr:g}" + (" (well-behaved)" if lr == config.small_lr else ""))
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("loss")
    axes[0, 0].legend(frameon=False, fontsize=7, title="clipping", title_fontsize=7)
    return fig


def _norm_figure(curves, lrs, records, config):
    fig, axes = figures.new_figure(1, len(lrs), panel=(2.9, 2.2), sharey=True,
                                   title="Gradient norm before clipping")
    c0 = next((r["clip_norm"] for r in records if r["part"] == "threshold" and r["seed"] == 0), None)
    for ax, lr in zip(axes[0], lrs):
        for (s, l, m), cur in curves.items():
            if l != lr:
                continue
            n = cur["norm"]
            ax.plot(np.arange(len(n)), np.where(np.isfinite(n), n, np.nan), color=_MODE_COLOR[m], linewidth=0.9,
                    alpha=0.8, label=m if s == 0 else None)
            if not np.isfinite(n[-1]) or (cur["loss"].size and not np.isfinite(cur["loss"][-1])):
                k = int(np.flatnonzero(np.isfinite(n))[-1]) if np.isfinite(n).any() else 0
                ax.plot([k], [n[k] if np.isfinite(n[k]) else 1.0], "x", color=_MODE_COLOR[m], markersize=8, mew=2)
        if c0 is not None:
            ax.axhline(c0, color="#333333", linestyle="--", linewidth=0.9)
        ax.set_yscale("log")
        ax.set_title(f"η = {lr:g}")
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("‖g‖₂ (raw)")
    axes[0, 0].legend(frameon=False, fontsize=7, title="clipping", title_fontsize=7)
    return fig


def _cos_figure(curves, lrs, config):
    fig, axes = figures.new_figure(1, len(lrs), panel=(2.9, 2.2), sharey=True,
                                   title="cos(clipped, raw) where the clip acted")
    for ax, lr in zip(axes[0], lrs):
        for mode in ("value", "norm"):
            first = True
            for (s, l, m), cur in curves.items():
                if l != lr or m != mode:
                    continue
                steps = np.flatnonzero(cur["active"])
                ax.plot(steps, cur["cos"][steps], ".", color=_MODE_COLOR[mode], markersize=3, alpha=0.7,
                        label=mode if first else None)
                first = False
        ax.set_ylim(0.0, 1.05)
        ax.axhline(CHANGES_DIRECTION, color="#777777", linestyle=":", linewidth=0.9)
        ax.set_title(f"η = {lr:g}")
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("cosine")
    axes[0, 0].legend(frameon=False, fontsize=7, loc="lower left")
    return fig
