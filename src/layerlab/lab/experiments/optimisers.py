"""Seed 002, gradient descent strategies: the ten optimisers on the notes' network — "the table the notes point
to, measured" (issue 12, point 5).

The notes: momentum, "a moving average 'velocity' of the descent", "Helps when there is a lot of 'zig-zag' but
the descent heads in a certain direction"; "Nesterov-momentum is similar to momentum with some scout ahead";
adaptive learning rates: "We try to let different parameters have different learning rates ... Algorithms
include AdaGrad, RMSProp and AdaDelta. Parametric algorithms combined with momentum considerations also exist:
RMSProp with Nesterov Momentum, ADAM and its variants like AdaMax, Nadam and AdamW. A quick comparison table is
available at [Géron]". Géron's table rates convergence speed and quality; this experiment measures them.

Set-up: the notes' Fashion-MNIST network (784-500-500-500-10 tanh, the notes' "Xavier" = ``lecun_normal``,
biases 0, cross-entropy, batch 256, pixels in [0, 1]) trained for a fixed number of iterations by each of
layerlab's ten optimisers (:data:`OPTIMISERS`): SGD, SGD + momentum 0.9, SGD + Nesterov 0.9, AdaGrad, RMSProp,
AdaDelta, Adam, AdaMax, NAdam, AdamW (their default hyper-parameters otherwise; AdamW's weight decay 0.01).

Each optimiser at its own best η: a grid of ``len(config.grid)`` values around the optimiser's usual default
(:data:`OPTIMISERS`' centre times each factor of ``config.grid``, ×√10 apart), every grid run on seed 0 only
(the budget does not allow the grid on every seed); best = the lowest tail loss (mean mini-batch loss of the
last ``tail`` iterations) among the runs that did not diverge (NaN) nor blow up (a tail loss above the run's
first loss). A best η at an edge of the grid gets one more η a grid step beyond that edge (``extend``); a best
η still at the edge after that is flagged. Then
``seeds − 1`` more seeds at the chosen η (seed 0's run is the grid's). Seed s gives every optimiser the same
initial weights and the same mini-batches in the same order, so comparisons are paired by seed.

Measured per optimiser: the tail loss (mean ± SE over seeds), the test accuracy on a held-out subset of the
test set, the steps to a target fixed in advance — plain SGD's final level (the running mean of its last
``tail`` losses, per seed: ``stats.much_faster``'s level) — and the CPU and wall time per step. AdaGrad's
and RMSProp's effective learning rate η/(√s + ε) (median over all parameters) is read from the optimisers'
state during the run.

Claims: momentum trains much faster than plain SGD (30a; ``stats.much_faster``, every seed); Nesterov ends
below momentum beyond the noise (30b; ``stats.paired_lead``); Adam much faster than plain SGD (30c) and than
SGD + momentum (30d, the other side); every adaptive optimiser much faster than plain SGD (30e); AdaGrad's
effective step decays (30f) and RMSProp's does not (30g); RMSProp ends below AdaGrad beyond the noise (30h) and
the gap grows from early to late in the run (30i).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import optim
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import (MUCH_FASTER, NOISE_SE, accuracy, format_lead, format_mean_se, much_faster,
                                much_faster_holds, paired_lead, running_mean, tail_mean)
from layerlab.lab.training import Periodic, Reloadable, fashion, fit_iterations, mlp

__all__ = ["OptimisersConfig", "run_optimisers", "OPTIMISERS", "ADAPTIVE", "make_optimiser", "grid_lrs",
           "failed", "choose_lr", "runs_of", "tails_by_seed", "check_much_faster", "check_lead", "check_decays",
           "check_not_decays", "check_gap_grows", "decay_ratio", "verdicts", "DECAY_FRACTION", "EffectiveStep"]

#: label -> (class in layerlab.optim, fixed keyword arguments, centre of the η grid, where the centre comes from).
#: The centres are each optimiser's usual default, fixed before any run: plain SGD's 0.1 (torch's 1e-3 is a
#: placeholder; 0.1 is the common choice for SGD on MNIST-like data); momentum's 0.01 = 0.1·(1 − μ), the same
#: terminal step size η/(1 − μ) as plain SGD's centre; RMSProp's 1e-3 (Hinton's lecture, Keras; torch's 1e-2);
#: the others torch's own defaults.
OPTIMISERS = {
    "SGD": ("SGD", {}, 0.1, "the usual plain-SGD η"),
    "momentum": ("SGD", {"momentum": 0.9}, 0.01, "0.1·(1 − μ): plain SGD's centre as the terminal step"),
    "Nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}, 0.01, "as momentum"),
    "AdaGrad": ("Adagrad", {}, 1e-2, "torch's default"),
    "RMSProp": ("RMSprop", {}, 1e-3, "Hinton's / Keras's default"),
    "AdaDelta": ("Adadelta", {}, 1.0, "torch's default (Zeiler's method has no η)"),
    "Adam": ("Adam", {}, 1e-3, "Kingma & Ba's / torch's default"),
    "AdaMax": ("Adamax", {}, 2e-3, "Kingma & Ba's / torch's default"),
    "NAdam": ("NAdam", {}, 2e-3, "Dozat's / torch's default"),
    "AdamW": ("AdamW", {}, 1e-3, "torch's default (weight decay 0.01)"),
}
#: the notes' "adaptive learning rates" family
ADAPTIVE = ("AdaGrad", "RMSProp", "AdaDelta", "Adam", "AdaMax", "NAdam", "AdamW")
#: claims 30f/30g: the effective step "decays" when its value at the end of the run is at most this fraction of
#: its value a tenth of the way in (the same fraction as the trajectories experiment's claim 1e). With gradients
#: of a steady size AdaGrad's s grows ∝ t, so its step falls ∝ 1/√t: to √(1/10) ≈ 0.32 over these 9/10 of a run;
#: RMSProp's running average forgets, so its step follows the current gradients' size (no trend of its own).
DECAY_FRACTION = 0.5
#: the state entry that divides the gradient: AdaGrad's sum of squares, RMSProp's running mean of squares
_STATE_KEY = {"AdaGrad": "sum", "RMSProp": "square_avg"}


def make_optimiser(label: str, params, lr: float):
    """``layerlab.optim`` optimiser ``label`` of :data:`OPTIMISERS` at learning rate ``lr``."""
    cls, kw, _, _ = OPTIMISERS[label]
    return getattr(optim, cls)(params, lr=lr, **kw)


def grid_lrs(label: str, factors) -> list[float]:
    """The η grid of one optimiser: its centre times each factor."""
    centre = OPTIMISERS[label][2]
    return [float(centre * f) for f in factors]


def failed(r: dict) -> bool:
    """A run that diverged (the NaN guard stopped it) or blew up (finite, but its tail loss is above the loss it
    started from: it ended worse than the untrained net)."""
    return r["diverged"] is not None or bool(r.get("blew up")) or not math.isfinite(r["tail"])


def choose_lr(grid_rows) -> tuple[float | None, bool]:
    """The best η of one optimiser's grid runs (records with ``lr``, ``tail``, ``diverged``, ``blew up``): the
    lowest tail loss of a run that did not fail (:func:`failed`). Returns (η, at the edge of the grid); (None,
    False) when every run failed."""
    rows = sorted(grid_rows, key=lambda r: r["lr"])
    ok = [r for r in rows if not failed(r)]
    if not ok:
        return None, False
    best = min(ok, key=lambda r: r["tail"])
    return float(best["lr"]), bool(best["lr"] in (rows[0]["lr"], rows[-1]["lr"]) and len(rows) > 1)


class EffectiveStep(Periodic):
    """The median over all parameters of η/(√s + ε), s the optimiser's per-parameter denominator (AdaGrad's sum
    of squared gradients, RMSProp's running mean of them), every ``every`` steps (none before the first update)."""

    def __init__(self, optimizer, key: str, every: int):
        super().__init__(every)
        self.optimizer, self.key = optimizer, key
        self.values: list[tuple[int, float]] = []

    def measure(self, trainer):
        if not self.optimizer.state:
            return
        group = self.optimizer.param_groups[0]
        s = np.concatenate([st[self.key].ravel() for st in self.optimizer.state.values()])
        eff = group["lr"] / (np.sqrt(s.astype(np.float64)) + group["eps"])
        self.values.append((int(trainer.step), float(np.median(eff))))


def decay_ratio(values, iterations: int) -> tuple[int, float, int, float, float]:
    """(early step, its value, end step, its value, end / early) of an :class:`EffectiveStep` series: early is
    the first measurement at or after a tenth of the run."""
    early = next((v for v in values if v[0] >= iterations // 10), values[0])
    end = values[-1]
    return early[0], early[1], end[0], end[1], end[1] / early[1]


# -- the verdicts (plain functions of the records) ---------------------------------------------------------------
def runs_of(records, label: str) -> list[dict]:
    """The runs of ``label`` at its chosen η (one per seed), in seed order."""
    return sorted((r for r in records if r.get("part") == "run" and r["optimiser"] == label and r["chosen"]),
                  key=lambda r: r["seed"])


def tails_by_seed(records, label: str) -> dict[int, float]:
    """``{seed: tail loss}`` of ``label`` at its chosen η (NaN for a diverged run)."""
    return {r["seed"]: (math.nan if r["diverged"] is not None else float(r["tail"])) for r in runs_of(records, label)}


def _pairs(records, fast: str, slow: str) -> list[dict]:
    return [r for r in records if r.get("part") == "pair" and r["fast"] == fast and r["slow"] == slow]


def check_much_faster(records, fast: str, slow: str) -> tuple[bool, int, int]:
    """30a/30c/30d/30e: ``fast`` trains much faster than ``slow`` (``stats.much_faster``, each at its chosen η)
    on every seed. Returns (holds, seeds where it does, seeds); no pair is no evidence."""
    pairs = _pairs(records, fast, slow)
    ok = [much_faster_holds(p["steps_fast"], p["steps_slow"], p["diverged"], p["ends_above"]) for p in pairs]
    return bool(ok) and all(ok), int(sum(ok)), len(ok)


def check_lead(records, ahead: str, behind: str, k: float = NOISE_SE) -> tuple[bool, dict | None]:
    """30b/30h: ``ahead``'s tail loss is below ``behind``'s beyond the noise (``stats.paired_lead`` over the seeds
    both have; a diverged run's NaN makes it no evidence). Returns (holds, the lead or None)."""
    a, b = tails_by_seed(records, ahead), tails_by_seed(records, behind)
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return False, None
    r = paired_lead([a[s] for s in seeds], [b[s] for s in seeds], k)
    return bool(r["beyond"]), r


def check_gap_grows(records, ahead: str = "RMSProp", behind: str = "AdaGrad",
                    k: float = NOISE_SE) -> tuple[bool, dict | None]:
    """30i: ``behind`` falls behind ``ahead`` late in the run: the per-seed gap (behind − ahead) in the tail loss
    exceeds the gap in the early window, beyond the noise (``paired_lead`` of the early gaps against the late
    ones). Returns (holds, the lead of the growth or None)."""
    ra = {r["seed"]: r for r in runs_of(records, ahead)}
    rb = {r["seed"]: r for r in runs_of(records, behind)}
    seeds = sorted(set(ra) & set(rb))
    if not seeds:
        return False, None

    def gap(s, key):
        if ra[s]["diverged"] is not None or rb[s]["diverged"] is not None:
            return math.nan
        return float(rb[s][key]) - float(ra[s][key])

    r = paired_lead([gap(s, "early") for s in seeds], [gap(s, "tail") for s in seeds], k)
    return bool(r["beyond"]), r


def _decays(records, label: str) -> list[float]:
    return [float(r["ratio"]) for r in records if r.get("part") == "decay" and r["optimiser"] == label]


def check_decays(records, label: str = "AdaGrad", fraction: float = DECAY_FRACTION) -> tuple[bool, list[float]]:
    """30f: the effective step at the end is at most ``fraction`` of its value a tenth of the way in, on every
    seed (a non-finite ratio never counts)."""
    r = _decays(records, label)
    return bool(r) and all(math.isfinite(x) and x <= fraction for x in r), r


def check_not_decays(records, label: str = "RMSProp", fraction: float = DECAY_FRACTION) -> tuple[bool, list[float]]:
    """30g, the other side: the effective step stays above ``fraction`` of its early value, on every seed."""
    r = _decays(records, label)
    return bool(r) and all(math.isfinite(x) and x > fraction for x in r), r


def verdicts(records) -> dict[str, bool]:
    """Every claim's verdict from the stored records."""
    return {
        "30a": check_much_faster(records, "momentum", "SGD")[0],
        "30b": check_lead(records, "Nesterov", "momentum")[0],
        "30c": check_much_faster(records, "Adam", "SGD")[0],
        "30d": check_much_faster(records, "Adam", "momentum")[0],
        "30e": all(check_much_faster(records, k, "SGD")[0] for k in ADAPTIVE),
        "30f": check_decays(records, "AdaGrad")[0],
        "30g": check_not_decays(records, "RMSProp")[0],
        "30h": check_lead(records, "RMSProp", "AdaGrad")[0],
        "30i": check_gap_grows(records, "RMSProp", "AdaGrad")[0],
    }


# -- the experiment ----------------------------------------------------------------------------------------------
@dataclass
class OptimisersConfig:
    """The notes' network ``sizes`` (tanh, ``lecun_normal``, cross-entropy), batch ``batch_size``, ``iterations``
    steps per run; an η grid of :data:`OPTIMISERS`' centre × each of ``grid`` on seed 0, then ``seeds`` seeds at
    the chosen η; ``tail`` = the window of the tail loss and of ``much_faster``; ``n_train`` training images
    (None: all 60,000), ``n_test`` held-out test images for the accuracy.

    ``extend``: when the best η is at an edge of the grid, up to this many more η beyond that edge (one grid
    step each) on seed 0.

    Budget (full): 10 optimisers × (3 grid runs + 2 more seeds) = 50 runs, plus at most 10 extensions, × 120
    steps ≤ 7,200 steps of ≈ 25 ms on one core ≤ 180 s, plus the data and the figures."""

    sizes: tuple[int, ...] = (784, 500, 500, 500, 10)
    iterations: int = 120
    batch_size: int = 256
    grid: tuple[float, ...] = (10 ** -0.5, 1.0, 10 ** 0.5)
    extend: int = 1
    seeds: int = 3
    tail: int = 20
    n_train: int | None = None
    n_test: int = 2000
    QUICK: ClassVar[dict] = {"sizes": (784, 32, 10), "iterations": 40, "batch_size": 64,
                             "grid": (10 ** -0.5, 1.0, 10 ** 0.5), "seeds": 2, "tail": 8, "n_train": 4000,
                             "n_test": 500}


def _fmt_lr(lr) -> str:
    return "—" if lr is None else f"{lr:.3g}"


@experiment("optimisers", order=30, topic="optimisation",
            summary="the ten optimisers on the notes' 784-500-500-500-10 tanh net, each at its best η of a small grid, "
                    "3 seeds: loss curves, tail loss, test accuracy, steps to plain SGD's final level, time per "
                    "step; momentum / Nesterov / Adam / the adaptive family vs plain SGD; AdaGrad's decaying step "
                    "(issue 12, point 5)")
def run_optimisers(config: OptimisersConfig, ctx: Context) -> Result:
    if config.tail < 2 or config.tail > config.iterations // 2:
        raise ValueError(f"optimisers: tail must be in [2, iterations/2], got {config.tail}")
    (x, y), (xt, yt) = fashion(config.n_train, config.n_test, rng=ctx.rng_for("data"))
    sizes = list(config.sizes)
    n = config.iterations
    early0 = n // 5
    every = max(1, n // 10)
    records: list[dict] = []
    curves: dict[tuple[str, int, float], list[float]] = {}
    eff_series: dict[tuple[str, int, float], list[tuple[int, float]]] = {}
    train_set = Reloadable((x, y), lambda: fashion(config.n_train, config.n_test, rng=ctx.rng_for("data"))[0])

    def one_run(item) -> dict:
        """One (optimiser, η, seed) run: its record, loss curve, effective-step series and test accuracy."""
        label, lr, seed, grid = item
        xs, ys = train_set()
        model = mlp(sizes, "tanh", "lecun_normal", ctx.rng_for("weights", seed))
        opt = make_optimiser(label, model.parameters(), lr)
        cbs = [EffectiveStep(opt, _STATE_KEY[label], every)] if label in _STATE_KEY else []
        c0, w0 = time.process_time(), time.perf_counter()
        with np.errstate(all="ignore"):  # a diverging run overflows before the NaN guard stops it
            out = fit_iterations(ctx, model, opt, xs, ys, n, config.batch_size,
                                 label=f"{label}/eta={lr:.3g}/seed {seed}", callbacks=cbs, seed=ctx.seed + seed)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        losses = out["losses"]
        steps = max(1, len(out["trainer"].history.steps))
        rec = {"part": "run", "optimiser": label, "lr": float(lr), "seed": seed, "grid": grid, "chosen": False,
               "tail": tail_mean(losses, config.tail), "early": float(np.mean(losses[early0:early0 + config.tail])),
               "final loss": float(losses[-1]), "diverged": out["diverged"], "steps": steps,
               "blew up": bool(out["diverged"] is None and not tail_mean(losses, config.tail) <= losses[0]),
               "cpu ms/step": 1000 * cpu / steps, "wall ms/step": 1000 * wall / steps, "test accuracy": None}
        rec["_curve"], rec["_eff"] = losses, (cbs[0].values if cbs else None)
        rec["_acc"] = accuracy(model, xt, yt) if out["diverged"] is None else None  # kept for a chosen run only
        return rec

    def runs(items, label):
        """``one_run`` over the items (on the run's executor); the curves and series filed by (optimiser, seed, η)."""
        out = ctx.map(one_run, items, label=label)
        for r in out:
            curves[r["optimiser"], r["seed"], r["lr"]] = r.pop("_curve")
            eff = r.pop("_eff")
            if eff is not None:
                eff_series[r["optimiser"], r["seed"], r["lr"]] = eff
        return out

    # the grids on seed 0, all optimisers at once; then the extensions beyond a winning edge (a round each);
    # then the other seeds at the chosen η
    grid_items = [(label, lr, 0, True) for label in OPTIMISERS for lr in grid_lrs(label, config.grid)]
    rows_of: dict[str, list[dict]] = {label: [] for label in OPTIMISERS}
    for r in runs(grid_items, "grid runs"):
        rows_of[r["optimiser"]].append(r)
    step = config.grid[-1] / config.grid[-2] if len(config.grid) > 1 else None
    for _ in range(config.extend if step else 0):  # a best η at an edge: one more η beyond it
        ext = []
        for label, rows in rows_of.items():
            best, edge = choose_lr(rows)
            if best is not None and edge:
                ext.append((label, best / step if best == min(r["lr"] for r in rows) else best * step, 0, True))
        for r in runs(ext, "grid extensions"):
            r["extension"] = True
            rows_of[r["optimiser"]].append(r)
    chosen: dict[str, tuple[float | None, bool]] = {label: choose_lr(rows) for label, rows in rows_of.items()}
    for label, rows in rows_of.items():
        for r in rows:
            r["chosen"] = chosen[label][0] is not None and r["lr"] == chosen[label][0]
    seed_items = [(label, chosen[label][0], s, False) for label in OPTIMISERS if chosen[label][0] is not None
                  for s in range(1, config.seeds)]
    for r in runs(seed_items, "seeds at the chosen η"):
        r["chosen"] = True
        rows_of[r["optimiser"]].append(r)
    for label, rows in rows_of.items():
        for r in rows:
            acc = r.pop("_acc")
            if r["chosen"] and r["diverged"] is None:
                r["test accuracy"] = acc
        records += rows

    # the pairs of much_faster, per seed (each optimiser at its chosen η); plain SGD's final level is the target
    pair_list = [(k, "SGD") for k in OPTIMISERS if k != "SGD"] + [("Adam", "momentum")]
    for fast, slow in pair_list:
        if chosen[fast][0] is None or chosen[slow][0] is None:
            continue
        for s in range(config.seeds):
            a, b = curves.get((fast, s, chosen[fast][0])), curves.get((slow, s, chosen[slow][0]))
            if a is None or b is None:
                continue
            m = much_faster(a, b, window=config.tail)
            records.append({"part": "pair", "fast": fast, "slow": slow, "seed": s, "level": m["level"],
                            "steps_fast": m["steps_fast"], "steps_slow": m["steps_slow"], "ratio": m["ratio"],
                            "diverged": m["diverged"], "ends_above": m["ends_above"], "fast_end": m["fast_end"],
                            "much faster": m["holds"]})
    # the effective step of AdaGrad and RMSProp at their chosen η
    for label in _STATE_KEY:
        for s in range(config.seeds):
            vals = eff_series.get((label, s, chosen[label][0]))
            if vals:
                e0, v0, e1, v1, ratio = decay_ratio(vals, n)
                records.append({"part": "decay", "optimiser": label, "seed": s, "lr": chosen[label][0],
                                "early step": e0, "early": v0, "end step": e1, "end": v1, "ratio": ratio})

    # -- the table ---------------------------------------------------------------------------------------------
    table = []
    for label in OPTIMISERS:
        runs = runs_of(records, label)
        best, edge = chosen[label]
        grid_txt = ", ".join(_fmt_lr(r["lr"]) + ("✗" if failed(r) else "")
                             for r in records if r.get("part") == "run" and r["optimiser"] == label and r["grid"])
        row = {"optimiser": label, "η grid (✗ diverged / blew up)": grid_txt,
               "chosen η": _fmt_lr(best) + (" (edge)" if edge else ""),
               f"tail loss (last {config.tail})": format_mean_se([r["tail"] for r in runs]) if runs else "—",
               "test accuracy": format_mean_se([r["test accuracy"] if r["test accuracy"] is not None else math.nan
                                                for r in runs]) if runs else "—"}
        if label == "SGD":
            row["steps to SGD's final level"] = "(target)"
        else:
            st = [p["steps_fast"] for p in _pairs(records, label, "SGD")]
            row["steps to SGD's final level"] = ("—" if not st else
                                                 ", ".join("never" if v is None else str(v) for v in st))
        row["failed seeds"] = sum(failed(r) for r in runs)
        row["CPU ms/step"] = f"{np.mean([r['cpu ms/step'] for r in runs]):.1f}" if runs else "—"
        row["wall ms/step"] = f"{np.mean([r['wall ms/step'] for r in runs]):.1f}" if runs else "—"
        table.append(row)
    records += [{"part": "table", **row} for row in table]

    net = "-".join(str(v) for v in sizes)
    cond = (f"Fashion-MNIST ({'all 60,000' if config.n_train is None else config.n_train} training images, pixels "
            f"in [0, 1]), {net} tanh, lecun_normal (the notes' Xavier), biases 0, cross-entropy, batch "
            f"{config.batch_size}, {n} iterations; each optimiser at its best η of the grid ×("
            + ", ".join(f"{f:.3g}" for f in config.grid) + f") around its usual default (+ up to {config.extend} "
            "more beyond an edge that won), chosen on seed 0 (lowest "
            f"mean loss of the last {config.tail} iterations, diverged runs excluded), then {config.seeds} seeds "
            "(same weights and mini-batches per seed for every optimiser)")
    ctx.savefig(figures.table_figure(table, title=f"Ten optimisers on {net} tanh, Fashion-MNIST, {n} iterations "
                                                  f"(mean ± SE over {config.seeds} seeds)"),
                "table", caption="The comparison table, measured: each optimiser at its chosen η; steps to plain SGD's "
                                 f"final level (running mean over {config.tail}) per seed; test accuracy on "
                                 f"{len(xt)} held-out test images; time per step on this machine.")
    ctx.savefig(_grid_figure(records, chosen, config), "grid",
                caption="Tail loss of each grid η on seed 0; ○ the chosen η, ✗ a run that diverged (NaN) or blew up (its tail "
                        "loss above its first loss), kept out of the choice and drawn at the top.")
    ctx.savefig(_curves_figure(curves, chosen, records, config), "loss_curves",
                caption=f"Mini-batch loss, mean over {config.seeds} seeds at each optimiser's chosen η (running mean "
                        f"over {max(1, config.tail // 2)} iterations); dashed: plain SGD's final level (seed mean), the "
                        "target of the steps column.")
    ctx.savefig(_effective_figure(eff_series, chosen, config), "effective_step",
                caption="Median over all parameters of η/(√s + ε): AdaGrad's s sums every squared gradient, "
                        "RMSProp's forgets (α = 0.99); each seed at the chosen η; dotted: ∝ 1/√t through AdaGrad's "
                        "first point.")

    # -- the claims ----------------------------------------------------------------------------------------------
    v = verdicts(records)
    claims = []

    def mf_text(fast, slow):
        ps = _pairs(records, fast, slow)
        if not ps:
            return f"no runs to compare ({fast} or {slow} diverged at every grid η)"
        per = "; ".join(f"seed {p['seed']}: {('never' if p['steps_fast'] is None else p['steps_fast'])} vs "
                        f"{'never' if p['steps_slow'] is None else p['steps_slow']} steps (×{p['ratio']:.2g})"
                        + (" DIVERGED" if p["diverged"] else "") + (" ends above" if p["ends_above"] else "")
                        for p in ps)
        return (f"steps to {slow}'s final level ({fast} vs {slow}): {per}; threshold ×{MUCH_FASTER:g} on every seed "
                f"(stats.much_faster, running means over {config.tail})")

    def lrs_text(*labels):
        return "; η: " + ", ".join(f"{k} {_fmt_lr(chosen[k][0])}" + (" (edge of grid)" if chosen[k][1] else "")
                                   for k in labels)

    claims.append(Claim("30a", "momentum (\"a moving average 'velocity' of the descent\") trains much faster than "
                        "plain SGD, each at its best η", v["30a"], mf_text("momentum", "SGD"),
                        cond + lrs_text("momentum", "SGD") + "; μ = 0.9", "loss_curves"))
    ok, lead = check_lead(records, "Nesterov", "momentum")
    claims.append(Claim("30b", "Nesterov (\"momentum with some scout ahead\") ends at a lower loss than momentum, "
                        "beyond the seed noise", v["30b"],
                        ("no runs" if lead is None else
                         f"tail loss: Nesterov {format_mean_se(list(tails_by_seed(records, 'Nesterov').values()))}, "
                         f"momentum {format_mean_se(list(tails_by_seed(records, 'momentum').values()))}; lead "
                         f"{format_lead(lead)}; threshold: > {NOISE_SE:g} SE"),
                        cond + lrs_text("Nesterov", "momentum") + "; μ = 0.9", "loss_curves"))
    claims.append(Claim("30c", "Adam (adaptive rates with momentum) trains much faster than plain SGD, each at its "
                        "best η", v["30c"], mf_text("Adam", "SGD"), cond + lrs_text("Adam", "SGD"), "loss_curves"))
    claims.append(Claim("30d", "the other side: Adam trains much faster than SGD with momentum, each at its best η",
                        v["30d"], mf_text("Adam", "momentum"), cond + lrs_text("Adam", "momentum"), "loss_curves"))
    per_opt = {k: check_much_faster(records, k, "SGD") for k in ADAPTIVE}
    claims.append(Claim("30e", "every adaptive-rate optimiser (AdaGrad, RMSProp, AdaDelta, Adam, AdaMax, NAdam, AdamW) "
                        "trains much faster than plain SGD, each at its best η", v["30e"],
                        "seeds where much faster: " + ", ".join(f"{k} {a}/{b}" for k, (_, a, b) in per_opt.items())
                        + f" (every optimiser on every seed needed; ×{MUCH_FASTER:g} fewer steps to SGD's final "
                        f"level); steps per optimiser in the table", cond + lrs_text(*ADAPTIVE, "SGD"), "table"))
    ok_f, rf = check_decays(records, "AdaGrad")
    ok_g, rg = check_not_decays(records, "RMSProp")

    def dec_text(label, r):
        return (f"{label}'s median η/(√s + ε) at the end / a tenth of the way in: "
                + (", ".join(f"{x:.3f}" for x in r) if r else "no runs") + " (per seed)")

    claims.append(Claim("30f", "AdaGrad's effective learning rate decays during training (s sums every squared "
                        "gradient)", v["30f"],
                        dec_text("AdaGrad", rf) + f"; threshold ≤ {DECAY_FRACTION:g} on every seed (steady gradients: "
                        "√(1/10) ≈ 0.32)", cond + lrs_text("AdaGrad"), "effective_step"))
    claims.append(Claim("30g", "the other side: RMSProp's effective learning rate does not decay so (its average of "
                        "squared gradients forgets)", v["30g"],
                        dec_text("RMSProp", rg) + f"; threshold > {DECAY_FRACTION:g} on every seed",
                        cond + lrs_text("RMSProp") + "; α = 0.99", "effective_step"))
    ok, lead = check_lead(records, "RMSProp", "AdaGrad")
    claims.append(Claim("30h", "AdaGrad falls behind RMSProp: RMSProp ends at a lower loss, beyond the seed noise",
                        v["30h"],
                        ("no runs" if lead is None else
                         f"tail loss: RMSProp {format_mean_se(list(tails_by_seed(records, 'RMSProp').values()))}, "
                         f"AdaGrad {format_mean_se(list(tails_by_seed(records, 'AdaGrad').values()))}; lead "
                         f"{format_lead(lead)}; threshold: > {NOISE_SE:g} SE"),
                        cond + lrs_text("RMSProp", "AdaGrad"), "loss_curves"))
    ok, lead = check_gap_grows(records)
    claims.append(Claim("30i", "AdaGrad falls behind RMSProp *late* in the run: AdaGrad's gap to RMSProp at the end "
                        "is larger than early on, beyond the seed noise", v["30i"],
                        ("no runs" if lead is None else
                         f"growth of the gap (AdaGrad − RMSProp) from the mean loss of iterations {early0}–"
                         f"{early0 + config.tail - 1} to the last {config.tail}: {format_lead(lead)}; threshold: "
                         f"> {NOISE_SE:g} SE"),
                        cond + lrs_text("RMSProp", "AdaGrad"), "loss_curves"))
    notes = [
        "η chosen on seed 0 only (the grid on every seed does not fit the budget); seed 0's run at the chosen η is "
        "the grid's own, so the chosen η's seed-0 loss is slightly favoured (the winner of three or four).",
        "The time per step includes the Trainer's bookkeeping and the store's logging, the same for every optimiser; "
        "it varies with the machine's load (and with the other runs when they run in parallel, --workers) and is "
        "not used by any verdict.",
        f"Runs are {n} iterations ≈ {n * config.batch_size / (len(x)):.2g} epochs: a comparison of early training "
        "speed, not of where each optimiser ends after many epochs.",
    ]
    return Result(claims=claims, records=records, notes=notes)


# -- figures -------------------------------------------------------------------------------------------------------
def _grid_figure(records, chosen, config):
    labels = list(OPTIMISERS)
    fig, axes = figures.new_figure(2, 5, panel=(1.9, 1.5), title="η grid, seed 0: tail loss")
    finite = [r["tail"] for r in records if r.get("part") == "run" and r["grid"] and not failed(r)]
    top = max(finite) * 1.1 if finite else 3.0
    for ax, label in zip(axes.flat, labels):
        rows = sorted((r for r in records if r.get("part") == "run" and r["optimiser"] == label and r["grid"]),
                      key=lambda r: r["lr"])
        ok = [r for r in rows if not failed(r)]
        ax.plot([r["lr"] for r in ok], [r["tail"] for r in ok], "o-", color=figures.COLORS[0], markersize=3)
        bad = [r for r in rows if r not in ok]
        if bad:
            ax.plot([r["lr"] for r in bad], [top] * len(bad), "x", color=figures.COLORS[1], markersize=8)
        best = chosen[label][0]
        if best is not None:
            b = next(r for r in rows if r["lr"] == best)
            ax.plot([best], [b["tail"]], "o", color=figures.COLORS[2], markersize=7, fillstyle="none")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks([r["lr"] for r in rows], [f"{r['lr']:.2g}" for r in rows])
        ax.set_title(label)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"loss, last {config.tail}")
    for ax in axes[-1]:
        ax.set_xlabel("η")
    return fig


def _mean_curve(curves, label, lr, seeds):
    cs = [np.asarray(curves[label, s, lr], dtype=np.float64) for s in range(seeds) if (label, s, lr) in curves]
    if not cs:
        return None
    n = max(len(c) for c in cs)
    pad = np.full((len(cs), n), np.nan)
    for i, c in enumerate(cs):
        pad[i, :len(c)] = c
    return pad.mean(axis=0)  # NaN where any seed diverged


def _curves_figure(curves, chosen, records, config):
    groups = {"SGD family": ("SGD", "momentum", "Nesterov"),
              "adaptive rates": ("SGD", "AdaGrad", "RMSProp", "AdaDelta"),
              "Adam family": ("SGD", "Adam", "AdaMax", "NAdam", "AdamW")}
    fig, axes = figures.new_figure(1, 3, panel=(3.0, 2.3), sharey=True)
    levels = [p["level"] for p in records if p.get("part") == "pair" and p["slow"] == "SGD"]
    level = float(np.mean(levels)) if levels else math.nan
    w = max(1, config.tail // 2)
    for ax, (title, labels) in zip(axes[0], groups.items()):
        for i, label in enumerate(labels):
            lr = chosen[label][0]
            c = None if lr is None else _mean_curve(curves, label, lr, config.seeds)
            if c is None:
                continue
            ax.plot(np.arange(len(c)), running_mean(c, w), color=figures.COLORS[i % len(figures.COLORS)],
                    label=f"{label} (η {lr:.3g})", linewidth=1.3)
        if math.isfinite(level):
            ax.axhline(level, color="#777777", linestyle="--", linewidth=0.8)
        ax.set_title(title)
        ax.set_xlabel("iteration")
        ax.legend(frameon=False, fontsize=6.5)
    axes[0, 0].set_ylabel("mini-batch loss (seed mean)")
    return fig


def _effective_figure(eff_series, chosen, config):
    from matplotlib.ticker import FormatStrFormatter

    fig, axes = figures.new_figure(1, 1, panel=(4.2, 2.6), margins={"left": 0.9})
    ax = axes[0, 0]
    for i, label in enumerate(_STATE_KEY):
        for s in range(config.seeds):
            vals = eff_series.get((label, s, chosen[label][0]))
            if not vals:
                continue
            t, e = zip(*vals)
            ax.plot(t, e, "o-", color=figures.COLORS[i], markersize=3, linewidth=1.1, alpha=0.8,
                    label=f"{label} (η {chosen[label][0]:.3g})" if s == 0 else None)
            if label == "AdaGrad" and s == 0:
                t = np.asarray(t, dtype=np.float64)
                ax.plot(t, e[0] * np.sqrt(t[0] / t), ":", color="#777777", linewidth=1.0, label="∝ 1/√t")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g"))
    ax.tick_params(axis="y", which="minor", labelsize=6)
    ax.set_xlabel("iteration")
    ax.set_ylabel("median η/(√s + ε)")
    ax.legend(frameon=False, fontsize=7)
    return fig

