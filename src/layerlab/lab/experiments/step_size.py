"""Seed 002, "Learning Rate — variations in learning rates" (issue 12, points 2 and 7): a sweep of η.

The notes: "Fixing η is quite tricky. If η is small we get stuck at local minima. If η is large we overshoot
our targets and never converge." Issue 12, point 7 adds Smith's learning-rate range test (``Trainer.lr_find``):
its suggested η should lie where the sweep says training works.

Set-up: the notes' MNIST network on Fashion-MNIST (``layerlab.lab.setups.notes_fashion``): 784-500-500-500-10
tanh, the notes' "Xavier" init randn/√fan_in (``lecun_normal``), biases 0, cross-entropy, plain SGD (no momentum),
batch 256, pixels in [0, 1], the whole training set. One run per η of a log grid (``lrs``) and per seed, each
``iterations`` mini-batch steps; seed index s starts from the weights ``np.random.default_rng(seed + s)`` and
sees the mini-batches of ``DataLoader(..., seed=seed + s)`` — the same for every η, so the runs of one seed
differ only in η (and seed 0 is exactly ``layerlab lr-find notes_fashion --seed SEED``'s set-up).

Measures. The *tail loss* of a run: the mean mini-batch loss of its last ``tail`` iterations. A run *diverged*
when a loss is not finite, when its tail loss is above ln 10 (the loss of a uniform guess over 10 classes, where
the untrained net starts: it ends worse than it began), or when the early-stop rule fired (``STOP_FACTOR``). The
regimes of η are defined here, before any run, from the per-η mean tail loss over seeds:

* ``diverged``: some seed's run diverged (an η that blows up one seed in two is not a usable step size, and
  the mean over seeds is not defined);
* ``good``: every seed finite, and the mean tail loss made at least ``GOOD_FRACTION`` of the best η's drop from
  ln 10 in the same number of steps;
* ``too small`` / ``too large``: finite but not good, below / above the best η.

"Stuck or slow?" The runs at the grid's smallest η go on for ``long_factor`` × ``iterations`` steps (their
first ``iterations`` steps are the sweep's run: same weights, same mini-batches). *Stuck* (at a local
minimum, the notes' reading) is: its tail loss at the end is not lower than at ``iterations`` beyond the noise
(paired over seeds, ``stats.paired_lead``, NOISE_SE standard errors) while it is still above the good level;
*slow* is: it is lower beyond the noise. Each reading is its own claim row; the measurement decides.

lr_find: ``Trainer.lr_find`` (``lr_find_steps`` mini-batches, its default smoothing and divergence rule) from
seed 0's initial weights and data order, over two ranges, each its own claim row: the Trainer's defaults
(``lr_find_start`` … ``lr_find_end``, 1e-7 … 10), and the sweep's own grid (its smallest to its largest η). Its
suggestion (the η of the steepest descent of the smoothed loss on log axes) is checked against the sweep's good
region widened by ``LR_FIND_TOLERANCE`` grid steps on each side in log η.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import data, nn, optim
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.setups import PLACEHOLDER_LR, notes_fashion_model
from layerlab.lab.stats import (NOISE_SE, format_lead, format_mean_se, mean_se, paired_lead, running_mean, steps_to,
                                tail_mean)
from layerlab.lab.training import Reloadable, fashion, fit_iterations
from layerlab.train import Callback

__all__ = [
    "StepSizeConfig", "run", "LN10", "GOOD_FRACTION", "STOP_FACTOR", "STOP_WINDOW", "LR_FIND_TOLERANCE",
    "REGIMES", "run_diverged", "classify", "grid_step", "check_window", "check_never_converges", "check_stuck",
    "check_slow", "check_lr_find", "lr_find_interval", "StopWhenDiverged", "DEFAULT_RANGE", "GRID_RANGE",
]

# -- the regimes and the verdicts' thresholds (stated before any run) ------------------------------------------------
#: the loss of a uniform guess over the 10 classes: the untrained net starts there (Xavier init, biases 0), so a run
#: whose tail loss is above it ended worse than it began — the notes' "never converge" (it overshot and stayed out)
LN10 = math.log(10.0)
#: "good": the mean tail loss over seeds made at least this fraction of the best η's drop from ln 10 in the same
#: budget, (ln 10 − tail) ≥ GOOD_FRACTION · (ln 10 − best tail). A fraction of the drop, not an absolute band, so
#: the rule does not depend on where the loss of this data set happens to end; 0.8 loses at most a fifth of the
#: best progress, far more than the seed noise of a tail mean (≈ 0.01 here) yet a clear step from "slow"
GOOD_FRACTION = 0.8
#: a run is stopped (and counted diverged) once the mean of its last STOP_WINDOW mini-batch losses exceeds
#: STOP_FACTOR · ln 10 — the factor ``Trainer.lr_find`` uses to call its range test diverged (4 × the best loss);
#: cross-entropy through tanh stays finite while it explodes, so the NaN guard alone would not stop such a run.
#: The rule is checked in every run of the experiment: seed 0 at the smallest stopped η is run to the end without it
STOP_FACTOR = 4.0
STOP_WINDOW = 10
#: lr_find's suggestion "lies in the good region" when log η_suggested is within the good region's ends in log η
#: widened by this many grid steps on each side (half a step: the nearest grid point to the suggestion is good)
LR_FIND_TOLERANCE = 0.5
#: the two lr_find ranges
DEFAULT_RANGE = "the Trainer's default range"
GRID_RANGE = "the sweep's grid"
#: the regime names, in order of η
REGIMES = ("too small", "good", "too large", "diverged")

_REGIME_COLORS = {"too small": "#56B4E9", "good": "#009E73", "too large": "#E69F00", "diverged": "#D55E00"}


@dataclass
class StepSizeConfig:
    """The η sweep on the notes' network: ``lrs`` (a log grid, ×√10 per step from 1e-3 to 10), ``seeds`` runs per η
    of ``iterations`` steps, tail loss = mean of the last ``tail``; the smallest η runs ``long_factor`` × longer;
    lr_find in ``lr_find_steps`` mini-batches over [``lr_find_start``, ``lr_find_end``] (Trainer.lr_find's defaults)
    and over the grid's [min η, max η]."""

    lrs: tuple[float, ...] = (0.001, 0.00316, 0.01, 0.0316, 0.1, 0.316, 1.0, 3.16, 10.0)
    iterations: int = 150
    seeds: int = 2
    tail: int = 30
    long_factor: int = 4
    batch_size: int = 256
    lr_find_start: float = 1e-7
    lr_find_end: float = 10.0
    lr_find_steps: int = 100
    QUICK: ClassVar[dict] = {"lrs": (0.01, 0.1, 1.0, 10.0), "iterations": 20, "tail": 8, "long_factor": 2,
                             "lr_find_steps": 25}


class StopWhenDiverged(Callback):
    """Stops a fit once the mean of the last ``window`` mini-batch losses exceeds ``level``; ``stopped_at`` is the
    number of steps taken then (None if it never fired)."""

    def __init__(self, level: float = STOP_FACTOR * LN10, window: int = STOP_WINDOW):
        self.level, self.window = float(level), int(window)
        self.losses: list[float] = []
        self.stopped_at: int | None = None

    def on_batch_end(self, trainer, step, logs):
        self.losses.append(float(logs["loss"]))
        if len(self.losses) >= self.window and not np.mean(self.losses[-self.window:]) <= self.level:
            self.stopped_at = trainer.step
            trainer.stop_training = True


# -- the verdicts (plain functions of the records) -----------------------------------------------------------------
def run_diverged(row: dict) -> bool:
    """A sweep run diverged: the early stop fired, a loss was not finite, or its tail loss is above ln 10 (or NaN)."""
    return bool(row.get("stopped at") is not None or row.get("non-finite at") is not None
                or not row.get("tail", math.nan) <= LN10)


def grid_step(lrs) -> float:
    """The grid's step in log10 η (the median over consecutive η; NaN with fewer than 2)."""
    v = np.log10(np.sort(np.asarray(list(lrs), dtype=np.float64)))
    return float(np.median(np.diff(v))) if v.size >= 2 else math.nan


def classify(rows, good_fraction: float = GOOD_FRACTION) -> dict:
    """The regimes of η from the sweep's run records (``η``, ``seed``, ``tail``, ``stopped at``, ``non-finite at``).

    Returns ``{"per_lr": [{η, regime, mean, se, tails, diverged seeds, seeds, progress}, ...] (by η),
    "best_lr", "best", "good_level", "good": [η...], "too_small": [...], "too_large": [...], "diverged": [...],
    "good_lo", "good_hi", "diverged_from", "diverged_above": every η from diverged_from up diverged}``.
    """
    by_lr: dict[float, list[dict]] = {}
    for r in rows:
        by_lr.setdefault(float(r["η"]), []).append(r)
    per = []
    for lr in sorted(by_lr):
        rs = by_lr[lr]
        div = [int(r["seed"]) for r in rs if run_diverged(r)]
        tails = [float(r["tail"]) for r in rs]
        m, se = mean_se(tails) if not div else (math.nan, math.nan)
        per.append({"η": lr, "mean": m, "se": se, "tails": tails, "diverged seeds": div, "seeds": len(rs)})
    finite = [p for p in per if not p["diverged seeds"]]
    best = min(finite, key=lambda p: p["mean"]) if finite else None
    best_tail = best["mean"] if best else math.nan
    trains = best is not None and best_tail < LN10
    level = LN10 - good_fraction * (LN10 - best_tail) if trains else math.nan
    for p in per:
        if p["diverged seeds"]:
            p["regime"], p["progress"] = "diverged", math.nan
            continue
        p["progress"] = (LN10 - p["mean"]) / (LN10 - best_tail) if trains else math.nan
        if trains and p["mean"] <= level:
            p["regime"] = "good"
        else:
            p["regime"] = "too small" if best is None or p["η"] < best["η"] else "too large"
    names = {k: [p["η"] for p in per if p["regime"] == k] for k in REGIMES}
    div_from = min(names["diverged"]) if names["diverged"] else None
    return {"per_lr": per, "best_lr": best["η"] if best else None, "best": best_tail, "good_level": level,
            "good": names["good"], "too_small": names["too small"], "too_large": names["too large"],
            "diverged": names["diverged"], "good_lo": min(names["good"]) if names["good"] else None,
            "good_hi": max(names["good"]) if names["good"] else None, "diverged_from": div_from,
            "diverged_above": div_from is not None and all(p["regime"] == "diverged" for p in per
                                                           if p["η"] >= div_from)}


def check_window(c: dict) -> bool:
    """"Fixing η is tricky" — a window: along η the regimes come in order, too small → good → diverged. Holds when
    the good region is non-empty and contiguous on the grid, some η below it is too small, some η above it
    diverged, and every η from the first diverged one up diverged too."""
    per = c["per_lr"]
    if not c["good"] or not c["too_small"] or not c["diverged"]:
        return False
    lo, hi = c["good_lo"], c["good_hi"]
    contiguous = all(p["regime"] == "good" for p in per if lo <= p["η"] <= hi)
    return bool(contiguous and min(c["too_small"]) < lo and c["diverged_from"] > hi and c["diverged_above"])


def check_never_converges(rows, lr: float) -> bool:
    """"If η is large we overshoot and never converge", at η = ``lr``: it has runs and every one diverged."""
    rs = [r for r in rows if float(r["η"]) == float(lr)]
    return bool(rs) and all(run_diverged(r) for r in rs)


def _long_lead(long_rows) -> dict:
    return paired_lead([r["tail long"] for r in long_rows], [r["tail short"] for r in long_rows])


def check_stuck(long_rows, good_level: float) -> bool:
    """"Stuck at a local minimum" at the small η: going on ``long_factor`` × longer does not lower the tail loss
    beyond the noise (paired over ≥ 2 seeds), every loss stays finite, and the loss is still above the good level."""
    if len(long_rows) < 2 or not all(r["finite"] for r in long_rows):
        return False
    lead = _long_lead(long_rows)
    ends = float(np.mean([r["tail long"] for r in long_rows]))
    return bool(math.isfinite(lead["se"]) and not lead["beyond"] and not ends <= good_level)


def check_slow(long_rows) -> bool:
    """"Slow, not stuck": going on lowers the tail loss beyond the noise (paired over ≥ 2 seeds), every loss finite."""
    if len(long_rows) < 2 or not all(r["finite"] for r in long_rows):
        return False
    return bool(_long_lead(long_rows)["beyond"])


def lr_find_interval(good_lo: float | None, good_hi: float | None, step: float,
                     tolerance: float = LR_FIND_TOLERANCE) -> tuple[float, float] | None:
    """The η interval lr_find's suggestion must fall in: the good region widened by ``tolerance`` grid steps
    (``step`` in log10 η) on each side (None without a good region)."""
    if good_lo is None or good_hi is None or not math.isfinite(step):
        return None
    return 10 ** (math.log10(good_lo) - tolerance * step), 10 ** (math.log10(good_hi) + tolerance * step)


def check_lr_find(suggestion: float, good_lo: float | None, good_hi: float | None, step: float,
                  tolerance: float = LR_FIND_TOLERANCE) -> bool:
    """lr_find's suggestion (finite) lies in the good region widened by ``tolerance`` grid steps in log η."""
    iv = lr_find_interval(good_lo, good_hi, step, tolerance)
    return bool(iv is not None and suggestion is not None and math.isfinite(suggestion)
                and iv[0] <= suggestion <= iv[1])


# -- formatting -------------------------------------------------------------------------------------------------------
def _e(v: float | None) -> str:
    return "—" if v is None else f"{v:g}"


def _g(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{v:.3g}" if abs(v) >= 10 else f"{v:.3f}"


def _lrs(vs) -> str:
    return ", ".join(f"{v:g}" for v in vs) if vs else "none"


def _run_outcome(r: dict) -> str:
    if r["stopped at"] is not None:
        return f"stopped at step {r['stopped at']} (loss > {STOP_FACTOR:g}·ln 10)"
    if r["non-finite at"] is not None:
        return f"non-finite at step {r['non-finite at']}"
    return f"tail {_g(r['tail'])}" + (" > ln 10" if not r["tail"] <= LN10 else "")


# -- figures ---------------------------------------------------------------------------------------------------------
def _edges(lrs: list[float], step: float) -> dict[float, tuple[float, float]]:
    """Each grid η's cell on a log axis: half a step either side (geometric midpoints between neighbours)."""
    s = sorted(lrs)
    out = {}
    for i, lr in enumerate(s):
        lo = math.sqrt(s[i - 1] * lr) if i > 0 else lr / 10 ** (step / 2)
        hi = math.sqrt(s[i + 1] * lr) if i + 1 < len(s) else lr * 10 ** (step / 2)
        out[lr] = (lo, hi)
    return out


def _shade_regimes(ax, c: dict, step: float, label: bool = True) -> None:
    cells = _edges([p["η"] for p in c["per_lr"]], step)
    seen = set()
    for p in c["per_lr"]:
        lo, hi = cells[p["η"]]
        reg = p["regime"]
        ax.axvspan(lo, hi, color=_REGIME_COLORS[reg], alpha=0.12, linewidth=0,
                   label=(reg if label and reg not in seen else None))
        seen.add(reg)


def _log_slopes(lrs, losses) -> np.ndarray:
    """d log ℓ / d log η along a range test's curve (central differences, as lr_find's suggestion rule takes them)."""
    lrs, losses = np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    if lrs.size < 2:
        return np.full(lrs.shape, math.nan)
    return np.gradient(np.log(np.maximum(losses, np.finfo(np.float64).tiny)), np.log(lrs))


def _plain_log_ticks(ax) -> None:
    """Plain numbers (0.5, 1, 2) on a log y axis instead of 5×10⁻¹."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _sweep_figure(c: dict, rows, curves: dict, n: int, step: float, tail: int):
    fig, axes = figures.new_figure(1, 2, panel=(4.3, 3.1), margins={"left": 0.8, "wspace": 0.85, "top": 0.45})
    ax, bx = axes[0, 0], axes[0, 1]
    _shade_regimes(ax, c, step)
    top = LN10 * 1.35
    for p in c["per_lr"]:
        if p["regime"] == "diverged":
            for r in rows:  # a diverged run is a ×, never a loss; a finite seed at that η is its grey dot
                if float(r["η"]) == p["η"]:
                    if run_diverged(r):
                        ax.plot([p["η"]], [top], "x", color=_REGIME_COLORS["diverged"], markersize=8)
                    else:
                        ax.plot([p["η"]], [r["tail"]], ".", color="#555555", markersize=3, alpha=0.6)
        else:
            ax.errorbar([p["η"]], [p["mean"]], yerr=[0 if not math.isfinite(p["se"]) else p["se"]], fmt="o",
                        color=_REGIME_COLORS[p["regime"]], markersize=5, capsize=3)
            ax.plot([p["η"]] * len(p["tails"]), p["tails"], ".", color="#555555", markersize=3, alpha=0.6)
    ax.axhline(LN10, color="#333333", linestyle="--", linewidth=0.9, label="ln 10 (start)")
    if math.isfinite(c["good_level"]):
        ax.axhline(c["good_level"], color=_REGIME_COLORS["good"], linestyle=":", linewidth=1.0,
                   label=f"good level ({GOOD_FRACTION:.0%} of best drop)")
    ax.text(0.98, top / 1.06, "× diverged", transform=ax.get_yaxis_transform(), ha="right", va="top", fontsize=7,
            color=_REGIME_COLORS["diverged"])
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_ticks(ax)
    ax.set_xlabel("learning rate η")
    ax.set_ylabel(f"tail loss (mean of last {tail} of {n} it.)")
    ax.set_title("Final loss vs η (mean ± SE over seeds)", fontsize=9)
    ax.legend(frameon=False, fontsize=6, loc="best")

    for i, (label, (v, color, style)) in enumerate(curves.items()):
        y = np.asarray(v, dtype=np.float64)
        ok = np.flatnonzero(np.isfinite(y))
        bx.plot(np.arange(len(y)), running_mean(np.where(np.isfinite(y), y, np.nan), 5), color=color,
                linestyle=style, linewidth=1.2, label=label)
        if ok.size and ok[-1] + 1 < n and "stopped" in label:
            bx.plot([ok[-1]], [y[ok[-1]]], "x", color=color, markersize=8)
    bx.axvline(n, color="#777777", linewidth=0.8, linestyle=":")
    bx.text(n, 0.98, f" {n} it. (sweep)", transform=bx.get_xaxis_transform(), fontsize=7, va="top", color="#555555")
    bx.axhline(LN10, color="#333333", linestyle="--", linewidth=0.9)
    bx.set_yscale("log")
    _plain_log_ticks(bx)
    bx.set_xlabel("iteration")
    bx.set_ylabel("mini-batch loss (running mean of 5)")
    bx.set_title("Loss curves, seed 0", fontsize=9)
    bx.legend(frameon=False, fontsize=6)
    return fig


def _lr_find_figure(finds: list[dict], c: dict, step: float, interval):
    fig, axes = figures.new_figure(1, 1, panel=(5.6, 3.3), margins={"left": 0.75, "top": 0.45})
    ax = axes[0, 0]
    _shade_regimes(ax, c, step)
    if interval is not None:
        ax.axvline(interval[0], color=_REGIME_COLORS["good"], linewidth=0.8, linestyle=":")
        ax.axvline(interval[1], color=_REGIME_COLORS["good"], linewidth=0.8, linestyle=":",
                   label=f"good region ± {LR_FIND_TOLERANCE:g} grid step")
    for f, color in zip(finds, ("#0072B2", "#CC79A7")):
        ax.plot(f["lrs"], f["losses"], color=color, linewidth=1.4, label=f"lr_find, {f['range']}")
        if math.isfinite(f["suggestion"]):
            ax.axvline(f["suggestion"], color=color, linestyle="--", linewidth=1.2,
                       label=f"its suggestion η = {f['suggestion']:.3g}")
    good = [p for p in c["per_lr"] if p["regime"] != "diverged"]
    ax.plot([p["η"] for p in good], [p["mean"] for p in good], "o", color="#333333", markersize=4,
            label="sweep: tail loss")
    ax.set_xscale("log")
    ax.set_ylim(0, 2 * LN10)  # a range test ends in an explosion: its top is cut at 2·ln 10
    ax.set_xlabel("learning rate η")
    ax.set_ylabel("loss")
    ax.set_title("lr_find on the notes' network, with the sweep's regimes", fontsize=9)
    ax.legend(frameon=False, fontsize=6, loc="best")
    return fig


# -- the experiment ---------------------------------------------------------------------------------------------------
@experiment("step_size", order=27, topic="optimisation",
            summary="784-500-500-500-10 tanh on Fashion-MNIST, plain SGD over a log grid of η: too small is slow "
                    "(stuck?), too large overshoots and never converges, a window between; lr_find's suggestion "
                    "vs that window (claim 27)")
def run(config: StepSizeConfig, ctx: Context) -> Result:
    """Seed 002, learning rate: a sweep of η on the notes' network, the too-small / good / diverged regimes, a
    longer run at the smallest η (stuck or slow?), and Trainer.lr_find's suggestion against the sweep."""
    lrs = sorted(float(v) for v in config.lrs)
    if len(lrs) < 3 or len(set(lrs)) != len(lrs) or lrs[0] <= 0:
        raise ValueError(f"step_size: lrs must be at least 3 distinct positive values, got {config.lrs}")
    if not 1 <= config.tail <= config.iterations:
        raise ValueError(f"step_size: tail must be in 1..iterations ({config.iterations}), got {config.tail}")
    if config.long_factor < 2 or config.seeds < 1:
        raise ValueError("step_size: long_factor must be >= 2 and seeds >= 1")
    (x, y), _ = fashion()
    n, small = config.iterations, lrs[0]
    n_long = config.long_factor * n
    step = grid_step(lrs)

    train_set = Reloadable((x, y), lambda: fashion()[0])  # a worker loads it itself

    def fit(lr: float, s: int, iterations: int, stop: bool, tag: str = ""):
        xs, ys = train_set()
        model = notes_fashion_model(np.random.default_rng(ctx.seed + s))
        stopper = StopWhenDiverged()
        with np.errstate(all="ignore"):  # a diverging run overflows before it is stopped
            out = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=lr), xs, ys, iterations,
                                 config.batch_size, label=f"eta={lr:g}{tag}/seed {s}",
                                 callbacks=[stopper] if stop else [], seed=ctx.seed + s)
        return out["losses"], out["diverged"], stopper.stopped_at

    def find(item) -> dict:
        """Trainer.lr_find over one range (name, start, end) from seed 0's weights and data order."""
        rng_name, start, end = item
        xs, ys = train_set()
        model = notes_fashion_model(np.random.default_rng(ctx.seed))
        loader = data.DataLoader(data.TensorDataset(xs, ys), batch_size=config.batch_size, shuffle=True,
                                 seed=ctx.seed)
        trainer = ctx.trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=PLACEHOLDER_LR),
                              label="lr_find/" + ("default" if rng_name == DEFAULT_RANGE else "grid"), metrics=())
        with np.errstate(all="ignore"), ctx.progress.task(f"lr_find ({rng_name})", total=None):
            f_lrs, f_losses, suggestion = trainer.lr_find(loader, start=start, end=end, steps=config.lr_find_steps)
        imin = int(np.argmin(f_losses)) if len(f_losses) else None
        slope = _log_slopes(f_lrs, f_losses)
        return {"range": rng_name, "suggestion": float(suggestion), "start": float(start), "end": float(end),
                "steps": config.lr_find_steps, "recorded": int(len(f_lrs)),
                "η at min": float(f_lrs[imin]) if imin is not None else math.nan,
                "min loss": float(f_losses[imin]) if imin is not None else math.nan,
                "slope at suggestion": (float(slope[int(np.argmin(np.abs(f_lrs - suggestion)))])
                                        if math.isfinite(suggestion) else math.nan),
                "grid step (log10)": step, "lrs": [float(v) for v in f_lrs],
                "losses": [float(v) for v in f_losses]}

    rows, long_rows, curves0 = [], [], {}
    # one map: the sweep's (η, seed) runs (the long ones first) and lr_find over its two ranges (from seed 0's
    # weights and data order = `layerlab lr-find notes_fashion --seed SEED`)
    items = [(lr, s) for lr in lrs for s in range(config.seeds)]
    ranges = [(DEFAULT_RANGE, config.lr_find_start, config.lr_find_end), (GRID_RANGE, lrs[0], lrs[-1])]
    done = ctx.map(lambda it: find(it) if isinstance(it[0], str) else
                   fit(it[0], it[1], n_long if it[0] == small else n, stop=True),
                   items + ranges, label="η sweep, lr_find")
    sweep, finds = done[:len(items)], done[len(items):]
    for (lr, s), (losses, nonfinite, stopped) in zip(items, sweep):
        short = losses[:n]
        diverged_early = stopped is not None or (nonfinite is not None and nonfinite <= n)
        rows.append({"η": lr, "seed": s, "steps run": min(len(short), n),
                     "tail": math.nan if diverged_early else tail_mean(short, config.tail),
                     "loss at 0": float(losses[0]) if losses else math.nan,
                     "max loss": float(np.nanmax(short)) if np.isfinite(short).any() else math.nan,
                     "stopped at": stopped if stopped is not None and stopped <= n else None,
                     "non-finite at": nonfinite if nonfinite is not None and nonfinite <= n else None})
        if lr == small:
            long_rows.append({"η": lr, "seed": s, "steps": len(losses),
                              "tail short": tail_mean(short, config.tail),
                              "tail long": tail_mean(losses, config.tail),
                              "finite": bool(np.all(np.isfinite(losses)) and stopped is None
                                             and len(losses) == n_long)})
        if s == 0:
            curves0[lr] = losses
    c = classify(rows)

    # the stop rule checked: seed 0 at the smallest η it stopped, run to the end without it
    stopped_lrs = sorted({r["η"] for r in rows if r["stopped at"] is not None and r["seed"] == 0})
    stop_check = []
    if stopped_lrs:
        lr = stopped_lrs[0]
        losses, nonfinite, _ = fit(lr, 0, n, stop=False, tag=" (no stop)")
        tail = tail_mean(losses, config.tail)
        stop_check.append({"η": lr, "seed": 0, "stopped at (with the rule)":
                           next(r["stopped at"] for r in rows if r["η"] == lr and r["seed"] == 0),
                           "tail without the rule": tail, "non-finite at": nonfinite,
                           "min loss after step 20": float(np.nanmin(losses[20:])) if len(losses) > 20 else math.nan,
                           "recovered (tail ≤ ln 10)": bool(tail <= LN10)})
        curves_stop = losses

    # -- the claims ----------------------------------------------------------------------------------------------------
    cond = (f"Fashion-MNIST training set (60,000 images, pixels in [0, 1]), 784-500-500-500-10 tanh, Xavier "
            f"(lecun_normal) init, biases 0, cross-entropy, plain SGD, batch {config.batch_size}, {n} iterations per "
            f"run, η ∈ {{{_lrs(lrs)}}} (×{10 ** step:.3g} per step), {config.seeds} seed(s) (weights and mini-batch "
            f"order shared by every η); tail loss = mean of the last {config.tail} mini-batch losses; stopped as "
            f"diverged once {STOP_WINDOW} losses average > {STOP_FACTOR:g}·ln 10")
    per_txt = "; ".join(
        f"η {p['η']:g}: "
        + (f"{p['mean']:.3f} ± {p['se']:.3f}, {p['progress']:.2f} of the best drop" if math.isfinite(p["se"]) else
           f"{p['mean']:.3f}, {p['progress']:.2f} of the best drop" if math.isfinite(p["mean"]) else
           ", ".join(_run_outcome(r) for r in rows if r["η"] == p["η"]))
        + f" ({p['regime']})" for p in c["per_lr"])
    bounds = (f"too small: η ≤ {_e(max(c['too_small'])) if c['too_small'] else '— (none)'}; good: "
              + (f"{_e(c['good_lo'])} … {_e(c['good_hi'])}" if c["good"] else "none")
              + f" (best η {_e(c['best_lr'])}, tail {_g(c['best'])}; good level {_g(c['good_level'])}); too large but "
              f"finite: {_lrs(c['too_large'])}; diverged from η = {_e(c['diverged_from'])}"
              + ("" if c["diverged_above"] or c["diverged_from"] is None else " (but not at every η above it)"))
    claims = [Claim(
        "27a",
        "Fixing η is quite tricky: too small an η trains too little, too large an η never converges, and only a "
        f"window between works (verdict: along the grid, an η that is too small (finite, less than {GOOD_FRACTION:.0%} "
        "of the best η's loss drop from ln 10 in the same steps), then a contiguous good region (at least that much), "
        "then η that diverge (non-finite, tail loss above ln 10, or stopped), every η above the first diverged one "
        "diverging too)",
        check_window(c), bounds + ". Per η (tail loss, mean ± SE over seeds): " + per_txt, cond, figure="sweep")]

    lead = _long_lead(long_rows) if len(long_rows) >= 2 else None
    small_reg = next(p["regime"] for p in c["per_lr"] if p["η"] == small)
    ends = float(np.mean([r["tail long"] for r in long_rows]))
    reach = [steps_to(curves0[small], c["good_level"], config.tail) if math.isfinite(c["good_level"]) else None]
    # (seed 0's long curve: the first iteration at which its running mean over `tail` losses is at the good level)
    long_txt = (f"η = {small:g} ({small_reg} at {n} it.): tail loss {format_mean_se([r['tail short'] for r in long_rows])}"
                f" at {n} it. → {format_mean_se([r['tail long'] for r in long_rows])} at {n_long} it.; paired drop "
                + (format_lead(lead) if lead else "n/a (one seed)")
                + f"; beyond {NOISE_SE:g} SE: {'yes' if lead and lead['beyond'] else 'no'}; good level "
                f"{_g(c['good_level'])}: "
                + ("reached (seed 0, running mean of " + f"{config.tail}) at it. {reach[0]}" if reach[0] is not None
                   else f"not reached in {n_long} it.")
                + "".join(f"; seed {r['seed']} not finite" for r in long_rows if not r["finite"]))
    long_cond = (cond + f"; the runs at η = {small:g} continue to {n_long} iterations ({config.long_factor}× the sweep's)"
                 f"; drop = tail at {n} − tail at {n_long}, paired over seeds")
    claims.append(Claim(
        "27b",
        f"If η is small we get stuck at local minima (verdict at the grid's smallest η = {small:g}: running "
        f"{config.long_factor}× longer does not lower the tail loss beyond the noise — paired over seeds, "
        f"{NOISE_SE:g} SE — while it is still above the good level, every loss finite)",
        check_stuck(long_rows, c["good_level"]), long_txt, long_cond, figure="sweep"))
    claims.append(Claim(
        "27c",
        f"…or small η is slow, not stuck (verdict at η = {small:g}: running {config.long_factor}× longer lowers the "
        f"tail loss beyond the noise — paired over seeds, {NOISE_SE:g} SE — every loss finite)",
        check_slow(long_rows), long_txt, long_cond, figure="sweep"))

    big = lrs[-1]
    div_txt = ("; ".join(f"η {p['η']:g}: " + ", ".join(f"seed {r['seed']} " + _run_outcome(r) for r in rows
                                                       if r["η"] == p["η"])
                         for p in c["per_lr"] if c["diverged_from"] is not None and p["η"] >= c["diverged_from"])
               or "no η diverged")
    sc = stop_check[0] if stop_check else None
    claims.append(Claim(
        "27d",
        f"If η is large we overshoot our targets and never converge (verdict at the grid's largest η = {big:g}: every "
        "seed's run diverges — a non-finite loss, a tail loss above ln 10 where it started, or the early stop)",
        check_never_converges(rows, big),
        f"diverged from η = {_e(c['diverged_from'])}: {div_txt}"
        + (f". Stop rule checked: η = {sc['η']:g}, seed 0, run {n} it. without it: tail {_g(sc['tail without the rule'])}"
           f" ({'recovered below ln 10 — the stop rule misjudged it' if sc['recovered (tail ≤ ln 10)'] else 'stays above ln 10'})"
           if sc else ""),
        cond, figure="sweep"))

    iv = lr_find_interval(c["good_lo"], c["good_hi"], step)
    for cid, f in zip(("27e", "27f"), finds):
        sug = f["suggestion"]
        claims.append(Claim(
            cid,
            f"Smith's learning-rate range test (Trainer.lr_find) over {f['range']} (η {f['start']:g} … {f['end']:g}, "
            f"{f['steps']} mini-batches) suggests an η in the sweep's good region (verdict: its suggestion lies within "
            f"the good region widened by {LR_FIND_TOLERANCE:g} grid step on each side in log η)",
            check_lr_find(sug, c["good_lo"], c["good_hi"], step),
            f"suggestion η = {f'{sug:.3g}' if math.isfinite(sug) else 'none (too few points)'}; accepted interval "
            + (f"[{iv[0]:.3g}, {iv[1]:.3g}] (good region {_e(c['good_lo'])} … {_e(c['good_hi'])})" if iv else
               "none (no good region)")
            + f"; lr_find recorded {f['recorded']} of {f['steps']} steps, minimum smoothed loss {_g(f['min loss'])} at "
            f"η = {f['η at min']:.3g}; d log ℓ / d log η at the suggestion {f['slope at suggestion']:.3f}",
            cond + f"; lr_find: η from {f['start']:g} to {f['end']:g} over {f['steps']} mini-batches (×"
            f"{(f['end'] / f['start']) ** (1 / (f['steps'] - 1)):.3g} per step), EMA smoothing 0.98, stopped at 4× the "
            "best smoothed loss; seed 0's initial weights and data order",
            figure="lr_find"))

    # -- the figures ---------------------------------------------------------------------------------------------------
    best = c["best_lr"]
    curves: dict[str, tuple] = {f"η = {small:g} ({n_long} it.)": (curves0[small], _REGIME_COLORS["too small"], "-")}
    if best is not None and best != small:
        curves[f"η = {best:g} (best)"] = (curves0[best], _REGIME_COLORS["good"], "-")
    if c["too_large"]:
        lr = max(c["too_large"])
        curves[f"η = {lr:g} (too large)"] = (curves0[lr], _REGIME_COLORS["too large"], "-")
    if stop_check:
        lr = stop_check[0]["η"]
        curves[f"η = {lr:g} (stopped: diverged)"] = (curves0[lr], _REGIME_COLORS["diverged"], "-")
        curves[f"η = {lr:g} without the stop rule"] = (curves_stop, _REGIME_COLORS["diverged"], ":")
    elif c["diverged"]:
        lr = c["diverged_from"]
        curves[f"η = {lr:g} (diverged)"] = (curves0[lr], _REGIME_COLORS["diverged"], "-")
    ctx.savefig(_sweep_figure(c, rows, curves, n, step, config.tail), "sweep",
                caption=f"Left: tail loss (mean of the last {config.tail} of {n} mini-batch losses) against η, mean ± "
                        "SE over seeds (grey dots: each seed); shaded by regime; ×: a diverged run (never drawn as a "
                        "loss). Dashed: ln 10, where training starts; dotted: the good level. Right: seed 0's loss "
                        f"curves at a few η (running mean of 5), the smallest η run {config.long_factor}× longer; "
                        "×: where the stop rule ended a run.")
    ctx.savefig(_lr_find_figure(finds, c, step, iv), "lr_find",
                caption="Trainer.lr_find on the same network, weights and data (seed 0), over the Trainer's default "
                        "range and over the sweep's grid: the smoothed loss as η grows geometrically, each suggestion "
                        "(dashed), the sweep's regimes shaded and the accepted interval (dotted: the good region ± "
                        f"{LR_FIND_TOLERANCE:g} grid step); dots: the sweep's tail losses (another quantity: the loss "
                        f"after {n} steps at that η).")

    per_rec = [{"η": p["η"], "regime": p["regime"], "mean tail": p["mean"], "SE": p["se"],
                "fraction of best drop": p["progress"], "diverged seeds": len(p["diverged seeds"])}
               for p in c["per_lr"]]
    notes = [
        "The regimes are relative to the budget: 'too small' means too little progress in "
        f"{n} iterations. The longer run at η = {small:g} shows whether such an η is stuck or only slow.",
        "Inputs are in [0, 1] as in the notes, not standardised; all-positive inputs push every first-layer weight "
        "of a unit the same way, which may lower the largest stable η (training_init, claim 7, measures the notes' "
        "η = 0.5 on both).",
        f"Divergence here is an explosion, not a NaN: cross-entropy through tanh stays finite as the weights blow up, "
        f"so runs are stopped when {STOP_WINDOW} losses average > {STOP_FACTOR:g}·ln 10; the stop-rule check runs "
        "one stopped η to the end without it.",
    ]
    return Result(claims=claims, records={"each run": rows, "per η": per_rec, "stuck or slow": long_rows,
                                          "stop rule check": stop_check,
                                          "lr_find": [{k: v for k, v in f.items() if k not in ("lrs", "losses")}
                                                      for f in finds],
                                          "lr_find curves": [{"range": f["range"], "lrs": f["lrs"],
                                                              "losses": f["losses"]} for f in finds]}, notes=notes)

