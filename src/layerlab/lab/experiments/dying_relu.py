"""Seed 001, module 7.3 (and seed 003): dead ReLU units (claim 10 of issue [lab]).

A ReLU unit h = max(0, w·x + b) whose pre-activation is negative for every input outputs 0 and,
since ReLU'(a) = 0 for a < 0, receives no gradient: w and b are never updated again — "the neuron
will now stay dead forever". The notes: "in practice a large fraction of ReLU units can die if the
learning rate is set too high"; a large negative bias does it too; "it is advised to initialize the
bias to a positive value (0.01)" and to "use other variants of ReLU" (leaky ReLU,
max(0.1·x, x): its gradient is never 0).

Each condition — ReLU at a grid of η from small to large, bias init 0.01, large negative bias inits,
LeakyReLU — is trained on Fashion-MNIST and measured on a fixed set of training images: a unit is
*dead* when it has no positive output on any of them (``layerlab.lab.stats.dead_masks``: for ReLU
output 0 everywhere, for LeakyReLU its leaky regime everywhere — one event for both). Dead masks are
taken at checkpoints through training, so "for good" is measured too: of the units dead at some
checkpoint, how many are still dead at the end. A run whose loss becomes NaN (the Trainer's
NonFiniteError) is recorded as diverged, with the dead fraction of its last finite weights, and a
remedy whose runs diverge does not count. ReLU and LeakyReLU run at every η of a grid; the LeakyReLU
claim is read, each its own row, at the smallest η at which the ReLU baseline dies, at the largest η
at which neither diverges, and at the large η of claim 10a (rules fixed before the runs, applied to
the same run's results); remedies are compared with ReLU at the same step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import nn, optim
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import dead_masks
from layerlab.lab.training import Periodic, fashion, fit_iterations, mlp

__all__ = [
    "DyingReluConfig", "Condition", "conditions", "eta_grid", "choose_eta", "stable_eta", "leaky_rows", "persistence",
    "paired", "check_kills", "check_reduces", "check_remedy", "LARGE_FRACTION", "SMALL_FRACTION", "FOR_GOOD",
    "REDUCE_MIN",
]

# -- the verdicts' thresholds (stated in the claims' text) -------------------------------------------------
#: "a large fraction": at least half of the hidden units (both hidden layers pooled) dead after training
LARGE_FRACTION = 0.5
#: a small η does not kill units: at most 5% dead
SMALL_FRACTION = 0.05
#: "for good": at least 95% of the units that were dead at some checkpoint are still dead at the end
FOR_GOOD = 0.95
#: "reduces it": at least 10 percentage points fewer dead units (pooled) than plain ReLU at the same η
REDUCE_MIN = 0.10


# -- measuring -------------------------------------------------------------------------------------------------
def persistence(masks: list[np.ndarray]) -> tuple[int, int]:
    """``masks``: pooled dead masks at successive checkpoints, the last one the end of training.
    Returns (units dead at some checkpoint before the last, how many of them are dead at the last)."""
    if len(masks) < 2:
        return 0, 0
    ever = np.any(np.stack(masks[:-1]), axis=0)
    return int(ever.sum()), int((ever & masks[-1]).sum())


def check_kills(dead: float, kept: int, ever: int, large: float = LARGE_FRACTION, for_good: float = FOR_GOOD) -> bool:
    """"Kills a large fraction for good": pooled dead fraction ≥ ``large`` and at least ``for_good`` of
    the units dead at some checkpoint still dead at the end (``kept`` of ``ever``)."""
    return bool(dead >= large and ever > 0 and kept / ever >= for_good)


def check_reduces(dead_with: float, dead_without: float, by: float = REDUCE_MIN) -> bool:
    """"Reduces it": the pooled dead fraction is at least ``by`` lower than without the remedy."""
    return bool(dead_with <= dead_without - by)


def check_remedy(dead_with: float, dead_without: float, diverged: int, at_most: float | None = None,
                 by: float = REDUCE_MIN) -> bool:
    """A remedy works: none of its runs diverged (``diverged`` = how many did: a run whose loss became
    NaN/Inf is never evidence for a remedy), it :func:`check_reduces` the dead fraction, and — when
    ``at_most`` is given — leaves at most that fraction dead."""
    return bool(diverged == 0 and check_reduces(dead_with, dead_without, by)
                and (at_most is None or dead_with <= at_most))


def choose_eta(baseline: dict, large: float = LARGE_FRACTION) -> float | None:
    """The η at which the LeakyReLU remedy is tested, chosen by a rule stated in advance: the smallest η
    of the grid at which the ReLU baseline (b₀ = 0) dies by claim 10a's threshold — pooled dead fraction
    ≥ ``large`` at the end of training, mean over seeds — without any of its runs diverging.
    ``baseline``: {η: (pooled dead fraction, number of diverged runs)}. None when no η of the grid does."""
    hits = [lr for lr, (dead, div) in baseline.items() if dead >= large and div == 0]
    return min(hits) if hits else None


def stable_eta(diverged: dict) -> float | None:
    """The other side of the LeakyReLU test: the largest η of the grid at which no run diverged, of ReLU nor
    of LeakyReLU. ``diverged``: {η: (ReLU runs diverged, LeakyReLU runs diverged)}. None when there is none."""
    ok = [lr for lr, (a, b) in diverged.items() if a == 0 and b == 0]
    return max(ok) if ok else None


def leaky_rows(chosen: float | None, stable: float | None, large: float) -> list[tuple[float, str]]:
    """The η of the LeakyReLU rows, each once, in this order: the chosen η (:func:`choose_eta`), the stable
    one (:func:`stable_eta`), the large η of claim 10a; with the reason(s) each is there."""
    rows: dict[float, list[str]] = {}
    for lr, why in ((chosen, "chosen"), (stable, "stable"), (large, "large")):
        if lr is not None:
            rows.setdefault(float(lr), []).append(why)
    return [(lr, "+".join(why)) for lr, why in rows.items()]


class _DeadTracker(Periodic):
    """Dead masks (``stats.dead_masks``) on fixed inputs at the start, every ``every`` steps, and at the end
    of the fit (also when the NaN guard stops it: then the last finite weights)."""

    def __init__(self, x: np.ndarray, every: int):
        super().__init__(every)
        self.x = x
        self.dead: list[list[np.ndarray]] = []

    def measure(self, trainer) -> None:
        self.dead.append(dead_masks(trainer.model, self.x))


def _num(v: float) -> str:
    return f"{v:g}".replace("-", "−")


# -- the conditions ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    activation: str       # "relu" or "leaky_relu"
    lr: float
    bias: float

    @property
    def label(self) -> str:
        act = "ReLU" if self.activation == "relu" else "LeakyReLU"
        return f"{act}, η = {self.lr:g}, b₀ = {_num(self.bias)}"


@dataclass
class DyingReluConfig:
    """784-width-width-10, He-normal init, SGD, Fashion-MNIST; dead = no positive output on any of ``n_eval``
    training images. ReLU and LeakyReLU (b₀ = 0) run at every η of the grid ``small_lrs`` + ``grid_lrs`` +
    ``large_lr``; the LeakyReLU claims are read at the η the rules pick (:func:`leaky_rows`)."""

    width: int = 256
    iterations: int = 200
    batch_size: int = 128
    small_lrs: tuple[float, ...] = (0.01, 0.1)
    grid_lrs: tuple[float, ...] = (0.2, 0.3, 0.5, 0.7)  # between the small η and the large one: where ReLU starts dying
    large_lr: float = 1.0
    positive_bias: float = 0.01
    negative_biases: tuple[float, ...] = (-1.0, -3.0)
    bias_lr: float = 0.1          # η of the negative-bias runs: a small one, so that the bias is the cause
    leaky_alpha: float = 0.1      # the notes' max(0.1·x, x)
    seeds: int = 3
    n_eval: int = 5000
    check_every: int = 25
    QUICK: ClassVar[dict] = {"iterations": 100, "n_eval": 2000, "check_every": 50}


def eta_grid(config: DyingReluConfig) -> list[float]:
    """The η of the ReLU and LeakyReLU (b₀ = 0) runs, increasing: the grid the rules pick from."""
    return sorted({*map(float, config.small_lrs), *map(float, config.grid_lrs), float(config.large_lr)})


def conditions(config: DyingReluConfig) -> list[Condition]:
    """Every condition, fixed in advance, one row each: ReLU (b₀ = 0) at every η of the grid, b₀ =
    ``positive_bias`` at the large η, the negative bias inits, and LeakyReLU at every η of the grid."""
    out = [Condition("relu", lr, 0.0) for lr in eta_grid(config)]
    out.append(Condition("relu", config.large_lr, config.positive_bias))
    out += [Condition("relu", config.bias_lr, b) for b in config.negative_biases]
    out += [Condition("leaky_relu", lr, 0.0) for lr in eta_grid(config)]
    return out


def _build(cond: Condition, config: DyingReluConfig, rng: np.random.Generator) -> nn.Sequential:
    model = mlp([784, config.width, config.width, 10], cond.activation, "he_normal", rng, bias_init=cond.bias)
    for m in model:  # mlp builds activations by name with default arguments: set the notes' slope
        if isinstance(m, nn.LeakyReLU):
            m.alpha = float(config.leaky_alpha)
    return model


def _run_seed(cond: Condition, s: int, config: DyingReluConfig, ctx: Context, x, y, x_eval) -> dict:
    """One run of ``cond`` with seed ``s``: its dead masks at the checkpoints, divergence, loss."""
    model = _build(cond, config, ctx.rng_for("w", s))  # the same weights in every condition: paired runs
    tracker = _DeadTracker(x_eval, config.check_every)
    with np.errstate(all="ignore"):  # a diverging run overflows before the NaN guard stops it
        out = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=cond.lr), x, y, config.iterations,
                             config.batch_size, label=f"{cond.label}, seed {s}", callbacks=[tracker],
                             seed=ctx.seed + s)
    pooled = [np.concatenate(d) for d in tracker.dead]
    ever, kept = persistence(pooled)
    finite = [v for v in out["losses"] if math.isfinite(v)]
    return {
        "dead0": [float(m.mean()) for m in tracker.dead[0]],
        "dead": [float(m.mean()) for m in tracker.dead[-1]],
        "pooled0": float(pooled[0].mean()), "pooled": float(pooled[-1].mean()),
        "ever": ever, "kept": kept, "diverged": out["diverged"],
        "final_loss": float(np.mean(finite[-20:])) if finite and out["diverged"] is None else math.nan,
        "curve": (np.asarray(tracker.steps), np.array([p.mean() for p in pooled])),
        "losses": out["losses"], "end": tracker.steps[-1],
    }


def _summary(seeds: list[dict]) -> dict:
    """A condition's runs (:func:`_run_seed`, in seed order) and their means over seeds."""
    return {
        "seeds": seeds,
        "dead": [float(np.mean([r["dead"][k] for r in seeds])) for k in range(2)],
        "dead0": [float(np.mean([r["dead0"][k] for r in seeds])) for k in range(2)],
        "pooled": float(np.mean([r["pooled"] for r in seeds])),
        "pooled0": float(np.mean([r["pooled0"] for r in seeds])),
        "ever": sum(r["ever"] for r in seeds), "kept": sum(r["kept"] for r in seeds),
        "diverged": [r["diverged"] for r in seeds if r["diverged"] is not None],
    }


def _run_condition(cond: Condition, config: DyingReluConfig, ctx: Context, x, y, x_eval) -> dict:
    """Every seed of ``cond``, one after the other (the experiment maps the runs with ``ctx.map``)."""
    return _summary([_run_seed(cond, s, config, ctx, x, y, x_eval) for s in range(config.seeds)])


def _dead_at(cond: Condition, config: DyingReluConfig, ctx: Context, s: int, step: int, x, y, x_eval) -> float:
    """Pooled dead fraction of run (``cond``, seed ``s``) after ``step`` updates: the run replayed for
    ``step`` iterations (same weights, same batch order, so the same trajectory)."""
    model = _build(cond, config, ctx.rng_for("w", s))
    if step > 0:
        with np.errstate(all="ignore"):
            fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=cond.lr), x, y, step, config.batch_size,
                           label=f"{cond.label}, seed {s}, replay to step {step}", seed=ctx.seed + s)
    return float(np.concatenate(dead_masks(model, x_eval)).mean())


def _replay_steps(remedy: Condition, base: Condition, res: dict, config: DyingReluConfig) -> list[tuple]:
    """The replays :func:`paired` needs: (condition, seed, step) of each run that ends after its pair's end."""
    out = []
    for s in range(config.seeds):
        ra, rb = res[remedy]["seeds"][s], res[base]["seeds"][s]
        t = min(ra["end"], rb["end"])
        out += [(c, s, t) for c, r in ((remedy, ra), (base, rb)) if r["end"] != t]
    return out


def paired(remedy: Condition, base: Condition, res: dict, config: DyingReluConfig, ctx: Context, x, y,
           x_eval, replayed: dict | None = None) -> dict:
    """Remedy vs base, seed by seed, at the same step: the earlier of the two runs' ends (a run that
    diverged ends there). The longer run is replayed to that step (or its dead fraction is read from
    ``replayed``: {(condition, seed, step): pooled dead fraction}, the replays of :func:`_replay_steps` made
    beforehand). Returns {"steps", "remedy", "base"} (per seed: the step and the two pooled dead fractions)."""
    replayed = replayed or {}

    def dead_at(cond, s, t):
        key = (cond, s, t)
        return replayed[key] if key in replayed else _dead_at(cond, config, ctx, s, t, x, y, x_eval)

    steps, a, b = [], [], []
    for s in range(config.seeds):
        ra, rb = res[remedy]["seeds"][s], res[base]["seeds"][s]
        t = min(ra["end"], rb["end"])
        steps.append(t)
        a.append(ra["pooled"] if ra["end"] == t else dead_at(remedy, s, t))
        b.append(rb["pooled"] if rb["end"] == t else dead_at(base, s, t))
    return {"steps": steps, "remedy": a, "base": b}


# -- formatting -----------------------------------------------------------------------------------------------
def _pct(v) -> str:
    return f"{100 * v:.1f}%"


def _mean_finite(values) -> float:
    v = [x for x in values if math.isfinite(x)]
    return float(np.mean(v)) if v else math.nan


def _layers(v) -> str:
    return " / ".join(_pct(x) for x in v)


def _div(r: dict, seeds: int, who: str = "") -> str:
    if not r["diverged"]:
        return ""
    return (f"; {who + ': ' if who else ''}the loss or a gradient became NaN/Inf (diverged) in {len(r['diverged'])} "
            f"of {seeds} runs, at step(s) {', '.join(map(str, r['diverged']))} — dead fractions of their last finite "
            "weights")


def _persist(r: dict) -> str:
    if r["ever"] == 0:
        return "no unit was dead at any checkpoint before the end"
    share = r["kept"] / r["ever"]
    return f"{r['kept']} of {r['ever']} units dead at an earlier checkpoint still dead at the end ({share:.0%})"


def _row(cond: Condition, r: dict, s: int | None = None) -> dict:
    src = r if s is None else r["seeds"][s]
    row = {"condition": cond.label, "seed": "mean" if s is None else s,
           "dead at init (l1 / l2)": _layers(src["dead0"]), "dead after (l1 / l2)": _layers(src["dead"]),
           "dead, pooled": src["pooled"]}
    if s is None:
        row["stayed dead"] = (r["kept"] / r["ever"]) if r["ever"] else math.nan
        row["diverged runs"] = len(r["diverged"])
    else:
        row["stayed dead"] = (src["kept"] / src["ever"]) if src["ever"] else math.nan
        row["diverged at step"] = src["diverged"]
        row["final loss (mean of last 20 it.)"] = src["final_loss"]
    return row


def _steps(p: dict) -> str:
    return f"iteration{'s' if len(set(p['steps'])) > 1 else ''} {', '.join(map(str, dict.fromkeys(p['steps'])))}"


def _eta_figure(grid, relu_at: dict, leaky_at: dict, seeds: int, rows_at):
    """Dead fraction at the end of training against η, ReLU and LeakyReLU (b₀ = 0). A condition with a
    diverged run is not drawn as a value (its dead fraction would be of an earlier step): an × on the top
    edge marks it instead."""
    fig, axes = figures.new_figure(1, 1, panel=(4.6, 2.6), margins={"left": 0.75, "top": 0.45})
    ax = axes[0, 0]
    for i, (name, at) in enumerate((("ReLU", relu_at), ("LeakyReLU", leaky_at))):
        color = figures.COLORS[i]
        ok = [lr for lr in grid if not at[lr]["diverged"]]
        ax.plot(ok, [at[lr]["pooled"] for lr in ok], "o-", color=color, label=f"{name}: dead at the end")
        bad = [lr for lr in grid if at[lr]["diverged"]]
        if bad:
            counts = ", ".join(f"{len(at[lr]['diverged'])}/{seeds} at η = {lr:g}" for lr in bad)
            ax.plot(bad, [1.05 + 0.04 * i] * len(bad), "x", color=color, markersize=8, clip_on=False,
                    label=f"{name}: diverged ({counts}), not drawn")
    for lr, why in rows_at:
        ax.axvline(lr, color="#999999", linestyle=":", linewidth=1.0)
        ax.text(lr, -0.12, why, fontsize=6, ha="center", va="top", color="#555555",
                transform=ax.get_xaxis_transform())
    ax.axhline(LARGE_FRACTION, color="#555555", linewidth=0.8, linestyle="--")
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.12)
    ax.set_xlabel("η", labelpad=14)
    ax.set_ylabel("dead fraction (pooled)")
    ax.set_title("dead hidden units against η (mean over seeds); dashed: 'a large fraction'", fontsize=9)
    ax.legend(frameon=False, fontsize=7, loc="center left")
    return fig


# -- the experiment -----------------------------------------------------------------------------------------------
@experiment("dying_relu", order=10, topic="activation functions",
            summary="784-256-256-10 ReLU: η = 1 or a large negative bias kills a large fraction of the units for "
                    "good; bias 0.01 and LeakyReLU (at the smallest η that kills ReLU, the largest with no "
                    "divergence, and η = 1) as remedies, each its own row (claim 10)")
def run(config: DyingReluConfig, ctx: Context) -> Result:
    """Seed 001, module 7.3: dead units — the fraction of hidden units with no positive output on any one of
    a fixed set of training images, after training at small and large η, with positive and negative bias
    inits, and with LeakyReLU."""
    (x, y), _ = fashion()
    eval_idx = ctx.rng_for("eval").choice(len(x), config.n_eval, replace=False)
    x_eval = x[eval_idx]
    conds = conditions(config)
    S = config.seeds

    def fit(item):  # one (condition, seed) run; the training set is loaded where the run runs
        cond, s = item
        (x, y), _ = fashion()
        return _run_seed(cond, s, config, ctx, x, y, x[eval_idx])

    items = [(c, s) for c in conds for s in range(S)]
    runs = ctx.map(fit, items, label="runs")
    res = {c: _summary([r for (cc, _), r in zip(items, runs) if cc == c]) for c in conds}

    grid = eta_grid(config)
    relu_at = {lr: res[Condition("relu", lr, 0.0)] for lr in grid}
    leaky_at = {lr: res[Condition("leaky_relu", lr, 0.0)] for lr in grid}
    baseline = {lr: (relu_at[lr]["pooled"], len(relu_at[lr]["diverged"])) for lr in grid}
    eta = choose_eta(baseline)
    stable = stable_eta({lr: (len(relu_at[lr]["diverged"]), len(leaky_at[lr]["diverged"])) for lr in grid})
    rows_at = leaky_rows(eta, stable, config.large_lr)

    small = [Condition("relu", lr, 0.0) for lr in config.small_lrs]
    large = Condition("relu", config.large_lr, 0.0)
    pos = Condition("relu", config.large_lr, config.positive_bias)
    negs = [Condition("relu", config.bias_lr, b) for b in config.negative_biases]

    # the remedies against ReLU at the same step: the runs that end later than their pair are replayed to it
    def replay(item):  # the pooled dead fraction of run (condition, seed) replayed to a step
        cond, s, t = item
        (x, y), _ = fashion()
        return _dead_at(cond, config, ctx, s, t, x, y, x[eval_idx])

    compared = [(pos, large)] + [(Condition("leaky_relu", lr, 0.0), Condition("relu", lr, 0.0)) for lr, _ in rows_at]
    todo = list(dict.fromkeys(r for c, base in compared for r in _replay_steps(c, base, res, config)))
    replayed = dict(zip(todo, ctx.map(replay, todo, label="replays")))
    cond_txt = (f"Fashion-MNIST (inputs in [0, 1]), 784-{config.width}-{config.width}-10, He-normal init, "
                f"cross-entropy, plain SGD, batch {config.batch_size}, {config.iterations} iterations, {S} seed(s); "
                f"dead = no positive output on any of {config.n_eval:,} training images — for ReLU output 0, for "
                f"LeakyReLU the leaky regime, the same event (masks every {config.check_every} iterations); "
                "'pooled' = both hidden layers together")
    claims = []
    ids = iter(f"10{c}" for c in "abcdefghijklmnopqrstuvwxyz")

    r = res[large]
    ok_small = all(res[c]["pooled"] <= SMALL_FRACTION for c in small)
    ok = check_kills(r["pooled"], r["kept"], r["ever"]) and ok_small
    claims.append(Claim(
        next(ids),
        f"A large learning rate (η = {config.large_lr:g}) kills a large fraction of ReLU units for good, a small one "
        f"(η ≤ {max(config.small_lrs):g}) does not (verdict: at η = {config.large_lr:g} ≥ {LARGE_FRACTION:.0%} of the "
        f"hidden units dead and ≥ {FOR_GOOD:.0%} of the units dead at a checkpoint still dead at the end; at each "
        f"small η ≤ {SMALL_FRACTION:.0%} dead)",
        ok,
        f"η = {config.large_lr:g}: dead {_layers(r['dead'])} (layers 1 / 2; pooled {_pct(r['pooled'])}), "
        f"{_persist(r)}{_div(r, S)}; "
        + "; ".join(f"η = {c.lr:g}: dead {_layers(res[c]['dead'])}" for c in small),
        cond_txt + ", biases 0", figure="dead_fraction"))

    for c in negs:
        r = res[c]
        claims.append(Claim(
            next(ids),
            f"A large negative bias (b₀ = {_num(c.bias)}) kills a large fraction of ReLU units for good, even at a "
            f"small η = {c.lr:g} (verdict: ≥ {LARGE_FRACTION:.0%} of the hidden units dead after training and ≥ "
            f"{FOR_GOOD:.0%} of the units dead at a checkpoint still dead at the end)",
            check_kills(r["pooled"], r["kept"], r["ever"]),
            f"dead at initialisation {_layers(r['dead0'])}, after training {_layers(r['dead'])} (layers 1 / 2; pooled "
            f"{_pct(r['pooled'])}); {_persist(r)}; final loss "
            f"{_mean_finite(s['final_loss'] for s in r['seeds']):.3f}{_div(r, S)}",
            cond_txt + f", hidden biases initialised to {_num(c.bias)}", figure="dead_fraction"))

    pair_txt = ("paired with the ReLU, b₀ = 0 run of the same seed and η (same weights, same batches) and compared at "
                "the same step — the earlier end of the two runs, since a run whose loss becomes NaN stops there")
    pairs: dict[Condition, tuple[Condition, dict]] = {}
    r, r0 = res[pos], res[large]
    pb = paired(pos, large, res, config, ctx, x, y, x_eval, replayed)
    pairs[pos] = (large, pb)
    rem_b, base_b = float(np.mean(pb["remedy"])), float(np.mean(pb["base"]))
    claims.append(Claim(
        next(ids),
        f"Initialising the biases to {config.positive_bias:g} reduces it (verdict: at η = {config.large_lr:g}, at "
        f"least {REDUCE_MIN * 100:.0f} percentage points fewer dead hidden units than with biases 0, mean over "
        f"seeds, {pair_txt}; and no run diverges — a diverged run is no remedy)",
        check_remedy(rem_b, base_b, len(r["diverged"])),
        f"at the same step ({_steps(pb)}): b₀ = {config.positive_bias:g} {_pct(rem_b)} dead vs b₀ = 0 {_pct(base_b)} "
        f"({(base_b - rem_b) * 100:.1f} points fewer); at the end of each run: b₀ = {config.positive_bias:g} "
        f"{_layers(r['dead'])} vs b₀ = 0 {_layers(r0['dead'])} (layers 1 / 2)"
        f"{_div(r, S, f'b₀ = {config.positive_bias:g}')}{_div(r0, S, 'b₀ = 0')}",
        cond_txt, figure="remedies"))

    grid_txt = "{" + ", ".join(f"{lr:g}" for lr in grid) + "}"
    why_txt = {
        "chosen": f"the smallest η of the grid {grid_txt} at which the ReLU baseline (b₀ = 0, same run) has ≥ "
                  f"{LARGE_FRACTION:.0%} of its hidden units dead at the end (claim 10a's threshold) without diverging",
        "stable": f"the largest η of the grid {grid_txt} at which no ReLU and no LeakyReLU run diverges",
        "large": "the large η of claim 10a",
    }
    baseline_txt = "per η, dead (pooled) ReLU / LeakyReLU: " + ", ".join(
        f"{lr:g}: {_pct(relu_at[lr]['pooled'])}" + (f" ({len(relu_at[lr]['diverged'])} div.)" if relu_at[lr]["diverged"]
                                                     else "")
        + f" / {_pct(leaky_at[lr]['pooled'])}" + (f" ({len(leaky_at[lr]['diverged'])} div.)"
                                                  if leaky_at[lr]["diverged"] else "")
        for lr in grid) + " (a diverged run counted at its last finite weights)"
    for lr, why in rows_at:
        c, base = Condition("leaky_relu", lr, 0.0), Condition("relu", lr, 0.0)
        r, rb = res[c], res[base]
        pl = paired(c, base, res, config, ctx, x, y, x_eval, replayed)
        pairs[c] = (base, pl)
        rem, bas = float(np.mean(pl["remedy"])), float(np.mean(pl["base"]))
        finite = [s["final_loss"] for s in r["seeds"] if s["diverged"] is None]
        reasons = " and ".join(why_txt[w] for w in why.split("+"))
        if "chosen" not in why and eta is None and "large" in why:
            reasons += " (no η of the grid kills the ReLU baseline without diverging)"
        claims.append(Claim(
            next(ids),
            f"LeakyReLU (max({config.leaky_alpha:g}·a, a)) avoids dead units where ReLU's die: at η = {lr:g} — "
            f"{reasons} (verdict: LeakyReLU leaves at most {SMALL_FRACTION:.0%} of the hidden units dead and at "
            f"least {REDUCE_MIN * 100:.0f} points fewer than ReLU, mean over seeds, {pair_txt}; and no LeakyReLU "
            "run diverges — a diverged run is no remedy)",
            check_remedy(rem, bas, len(r["diverged"]), at_most=SMALL_FRACTION),
            f"at the same step ({_steps(pl)}): LeakyReLU {_pct(rem)} dead (no positive output on any input) vs "
            f"ReLU {_pct(bas)}; at the end of each run LeakyReLU {_layers(r['dead'])} vs ReLU {_layers(rb['dead'])} "
            "(layers 1 / 2)"
            + (f"; the loss or a gradient became NaN/Inf in {len(r['diverged'])} of {S} LeakyReLU runs (step(s) "
               f"{', '.join(map(str, r['diverged']))}): a diverged run, not a remedy" if r["diverged"]
               else f"; no LeakyReLU run diverged, final loss {_mean_finite(finite):.3f} (ReLU "
                    f"{_mean_finite(s['final_loss'] for s in rb['seeds']):.3f})")
            + _div(rb, S, "ReLU") + f". The grid: {baseline_txt}",
            cond_txt + f", LeakyReLU slope {config.leaky_alpha:g} (the notes' max(0.1x, x))", figure="remedies"))

    # figures
    def _bar_label(c: Condition) -> str:
        d = res[c]["diverged"]
        return c.label + (f" (diverged in {len(d)}/{S}: at its NaN step)" if d else "")

    bars = {_bar_label(c): {"layer 1": res[c]["dead"][0], "layer 2": res[c]["dead"][1]} for c in conds}
    ctx.savefig(figures.bar_chart(bars,
                                  ylabel="fraction of units dead after training", horizontal=True, fmt="{:.2f}",
                                  title=f"dead units (no positive output on {config.n_eval:,} inputs), mean of {S} "
                                        "seed(s)"),
                "dead_fraction",
                caption="Each condition after training; a condition marked 'diverged' is measured on the last finite "
                        "weights of its diverged runs, an earlier step than the others — compare remedies on the "
                        "'remedies' figure, at the same step. b₀: the hidden layers' initial bias.")
    rem_bars = {}
    for c, (base, p) in pairs.items():
        d = res[c]["diverged"]
        group = (f"{c.label} ({_steps(p)})" + (f", diverged in {len(d)}/{S}" if d else ""))
        rem_bars[group] = {"remedy": float(np.mean(p["remedy"])), "ReLU, b₀ = 0, same η, same step":
                           float(np.mean(p["base"]))}
    ctx.savefig(figures.bar_chart(rem_bars, ylabel="fraction of units dead (pooled)", horizontal=True, fmt="{:.2f}",
                                  title="remedies vs ReLU at the same step (mean over seeds)"),
                "remedies",
                caption="Each remedy and its ReLU b₀ = 0 baseline at the same η, seed by seed at the same step: the "
                        "end of the run, or the last finite step of whichever run diverged first (the other run "
                        "replayed to it). A remedy whose runs diverged does not count, whatever its bar.")
    ctx.savefig(_eta_figure(grid, relu_at, leaky_at, S, rows_at), "dead_vs_eta",
                caption="Each η of the grid, ReLU and LeakyReLU with biases 0: the dead fraction at the end of "
                        "training. A condition in which a run diverged is marked × at the top, not drawn as a value. "
                        "Dotted: the η of the LeakyReLU rows (chosen: the smallest η that kills ReLU; stable: the "
                        "largest η with no divergence; large: claim 10a's η).")
    ctx.savefig(figures.loss_curves({c.label: res[c]["seeds"][0]["curve"] for c in conds},
                                    ylabel="dead fraction (pooled)",
                                    ylim=(-0.03, 1.03), title="dead hidden units while training (seed 0)"),
                "dead_over_training", caption="Pooled over both hidden layers, measured every "
                                             f"{config.check_every} iterations; a curve that stops early is a run "
                                             "whose loss became NaN.")
    ctx.savefig(figures.loss_curves({c.label: res[c]["seeds"][0]["losses"] for c in conds}, ylim=(0.0, 4.0),
                                    smooth=10, title="training loss (seed 0)"), "loss",
                caption="Running mean over 10 iterations; curves above 4 are clipped, a curve that stops early "
                        "diverged (NaN).")

    records = {
        "each condition (mean over seeds)": [_row(c, res[c]) for c in conds],
        "each run": [_row(c, res[c], s) for c in conds for s in range(S)],
        "the η of the LeakyReLU rows": [
            {"η": lr, "ReLU dead, pooled (mean over seeds)": relu_at[lr]["pooled"],
             "ReLU diverged runs": len(relu_at[lr]["diverged"]),
             "LeakyReLU dead, pooled (mean over seeds)": leaky_at[lr]["pooled"],
             "LeakyReLU diverged runs": len(leaky_at[lr]["diverged"]),
             "row": dict(rows_at).get(lr, "")}
            for lr in grid],
        "remedies vs ReLU at the same step": [
            {"remedy": c.label, "baseline": base.label, "seed": s, "step": p["steps"][s],
             "dead, remedy (pooled)": p["remedy"][s], "dead, ReLU b₀ = 0 (pooled)": p["base"][s],
             "remedy diverged at step": res[c]["seeds"][s]["diverged"]}
            for c, (base, p) in pairs.items() for s in range(S)],
    }
    notes = [
        "'Dead' is one event for every activation that can die (layerlab.lab.stats.dead_masks, the activation's "
        "own rule): the unit has no positive output on any input (here a fixed sample of training images). For ReLU "
        "that is output 0 everywhere, so its incoming weights and bias get no gradient from any of them; a dead "
        "LeakyReLU unit sits in its leaky regime everywhere and still gets α times the gradient, so it can come back.",
        "'Stayed dead' tests 'for good': of the units dead at some checkpoint (initialisation included), the share "
        "still dead at the end. A unit of layer 2 can come back when layer 1's outputs change under it.",
        "A large negative bias kills units at initialisation already (see 'dead at init'): the claim is then about "
        "whether training revives them.",
        "ReLU and LeakyReLU run at every η of the grid; the LeakyReLU rows are read at η picked by rules stated "
        "before the runs: the smallest η at which the ReLU baseline dies (≥ 50% dead, no divergence), the largest "
        "η at which no ReLU or LeakyReLU run diverges (the other side), and the large η of claim 10a. A run whose "
        "loss becomes NaN/Inf is never counted as a remedy.",
    ]
    return Result(claims=claims, records=records, notes=notes)
