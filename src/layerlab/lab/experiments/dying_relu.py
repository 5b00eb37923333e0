"""Seed 001, module 7.3 (and seed 003): dead ReLU units (claim 10 of issue [lab]).

A ReLU unit h = max(0, w·x + b) whose pre-activation is negative for every input outputs 0 and,
since ReLU'(a) = 0 for a < 0, receives no gradient: w and b are never updated again — "the neuron
will now stay dead forever". The notes: "in practice a large fraction of ReLU units can die if the
learning rate is set too high"; a large negative bias does it too; "it is advised to initialize the
bias to a positive value (0.01)" and to "use other variants of ReLU" (leaky ReLU,
max(0.1·x, x): its gradient is never 0).

Each condition — ReLU at small and large η, bias init 0.01, LeakyReLU, large negative bias
inits — is trained on Fashion-MNIST and measured on a fixed set of training images: a unit is
*dead* when its output is 0 on all of them. Dead masks are taken at checkpoints through training,
so "for good" is measured too: of the units dead at some checkpoint, how many are still dead at the
end. A run whose loss becomes NaN (the Trainer's NonFiniteError) is recorded as diverged, with the
dead fraction of its last finite weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import layerlab as ll

from layerlab import nn, optim
from layerlab.train import Callback
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.training import fashion, fit_iterations, mlp

__all__ = [
    "DyingReluConfig", "Condition", "conditions", "persistence", "paired", "check_kills", "check_reduces",
    "LARGE_FRACTION", "SMALL_FRACTION", "FOR_GOOD", "REDUCE_MIN",
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
def dead_masks(model: nn.Sequential, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per hidden activation layer of ``model``, on the inputs ``x`` (eval mode, no graph):
    (dead, inactive) boolean masks over the units — *dead*: output exactly 0 for every input;
    *inactive*: pre-activation ≤ 0 for every input. For ReLU the two coincide; a LeakyReLU unit can
    be inactive (it outputs α·a) but is dead only where a = 0 exactly."""
    dead, inactive = [], []
    out = ll.Tensor(x)
    was = model.training
    model.eval()
    try:
        with ll.no_grad(), np.errstate(all="ignore"):
            for m in model:
                pre = out
                out = m(out)
                if isinstance(m, nn.Activation):
                    dead.append(np.all(out.data == 0, axis=0))
                    inactive.append(np.all(pre.data <= 0, axis=0))
    finally:
        model.train(was)
    return dead, inactive


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


class _DeadTracker(Callback):
    """Dead/inactive masks on fixed inputs at the start, every ``every`` steps, and at the end of the fit
    (also when the NaN guard stops it: then the last finite weights)."""

    def __init__(self, x: np.ndarray, every: int):
        self.x, self.every = x, every
        self.steps: list[int] = []
        self.dead: list[list[np.ndarray]] = []
        self.inactive: list[list[np.ndarray]] = []

    def _measure(self, trainer) -> None:
        d, i = dead_masks(trainer.model, self.x)
        self.steps.append(trainer.step)
        self.dead.append(d)
        self.inactive.append(i)

    def on_fit_start(self, trainer):
        self._measure(trainer)

    def on_batch_end(self, trainer, step, logs):
        if trainer.step % self.every == 0:
            self._measure(trainer)

    def on_fit_end(self, trainer):
        if not self.steps or self.steps[-1] != trainer.step:
            self._measure(trainer)


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
    """784-width-width-10, He-normal init, SGD, Fashion-MNIST; dead = zero on all of ``n_eval`` training images."""

    width: int = 256
    iterations: int = 200
    batch_size: int = 128
    small_lrs: tuple[float, ...] = (0.01, 0.1)
    large_lr: float = 1.0
    positive_bias: float = 0.01
    negative_biases: tuple[float, ...] = (-1.0, -3.0)
    bias_lr: float = 0.1          # η of the negative-bias runs: a small one, so that the bias is the cause
    leaky_alpha: float = 0.1      # the notes' max(0.1·x, x)
    seeds: int = 3
    n_eval: int = 5000
    check_every: int = 25
    QUICK: ClassVar[dict] = {"iterations": 100, "n_eval": 2000, "check_every": 50}


def conditions(config: DyingReluConfig) -> list[Condition]:
    """Every condition of the experiment, one row each."""
    out = [Condition("relu", lr, 0.0) for lr in (*config.small_lrs, config.large_lr)]
    out.append(Condition("relu", config.large_lr, config.positive_bias))
    out.append(Condition("leaky_relu", config.large_lr, 0.0))
    out += [Condition("relu", config.bias_lr, b) for b in config.negative_biases]
    return out


def _build(cond: Condition, config: DyingReluConfig, rng: np.random.Generator) -> nn.Sequential:
    model = mlp([784, config.width, config.width, 10], cond.activation, "he_normal", rng, bias_init=cond.bias)
    for m in model:  # mlp builds activations by name with default arguments: set the notes' slope
        if isinstance(m, nn.LeakyReLU):
            m.alpha = float(config.leaky_alpha)
    return model


def _run_condition(cond: Condition, config: DyingReluConfig, ctx: Context, x, y, x_eval) -> dict:
    seeds = []
    for s in range(config.seeds):
        model = _build(cond, config, ctx.rng_for("w", s))  # the same weights in every condition: paired runs
        tracker = _DeadTracker(x_eval, config.check_every)
        with np.errstate(all="ignore"):  # a diverging run overflows before the NaN guard stops it
            out = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=cond.lr), x, y, config.iterations,
                                 config.batch_size, label=f"{cond.label}, seed {s}", callbacks=[tracker],
                                 seed=ctx.seed + s)
        pooled = [np.concatenate(d) for d in tracker.dead]
        ever, kept = persistence(pooled)
        finite = [v for v in out["losses"] if math.isfinite(v)]
        seeds.append({
            "dead0": [float(m.mean()) for m in tracker.dead[0]],
            "dead": [float(m.mean()) for m in tracker.dead[-1]],
            "inactive": [float(m.mean()) for m in tracker.inactive[-1]],
            "pooled0": float(pooled[0].mean()), "pooled": float(pooled[-1].mean()),
            "ever": ever, "kept": kept, "diverged": out["diverged"],
            "final_loss": float(np.mean(finite[-20:])) if finite and out["diverged"] is None else math.nan,
            "curve": (np.asarray(tracker.steps), np.array([p.mean() for p in pooled])),
            "losses": out["losses"], "end": tracker.steps[-1],
        })
    return {
        "seeds": seeds,
        "dead": [float(np.mean([r["dead"][k] for r in seeds])) for k in range(2)],
        "dead0": [float(np.mean([r["dead0"][k] for r in seeds])) for k in range(2)],
        "inactive": [float(np.mean([r["inactive"][k] for r in seeds])) for k in range(2)],
        "pooled": float(np.mean([r["pooled"] for r in seeds])),
        "pooled0": float(np.mean([r["pooled0"] for r in seeds])),
        "ever": sum(r["ever"] for r in seeds), "kept": sum(r["kept"] for r in seeds),
        "diverged": [r["diverged"] for r in seeds if r["diverged"] is not None],
    }


def _dead_at(cond: Condition, config: DyingReluConfig, ctx: Context, s: int, step: int, x, y, x_eval) -> float:
    """Pooled dead fraction of run (``cond``, seed ``s``) after ``step`` updates: the run replayed for
    ``step`` iterations (same weights, same batch order, so the same trajectory)."""
    model = _build(cond, config, ctx.rng_for("w", s))
    if step > 0:
        with np.errstate(all="ignore"):
            fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=cond.lr), x, y, step, config.batch_size,
                           label=f"{cond.label}, seed {s}, replay to step {step}", seed=ctx.seed + s)
    return float(np.concatenate(dead_masks(model, x_eval)[0]).mean())


def paired(remedy: Condition, base: Condition, res: dict, config: DyingReluConfig, ctx: Context, x, y,
           x_eval) -> dict:
    """Remedy vs base, seed by seed, at the same step: the earlier of the two runs' ends (a run that
    diverged ends there). The longer run is replayed to that step. Returns {"steps", "remedy", "base"}
    (per seed: the step and the two pooled dead fractions)."""
    steps, a, b = [], [], []
    for s in range(config.seeds):
        ra, rb = res[remedy]["seeds"][s], res[base]["seeds"][s]
        t = min(ra["end"], rb["end"])
        steps.append(t)
        a.append(ra["pooled"] if ra["end"] == t else _dead_at(remedy, config, ctx, s, t, x, y, x_eval))
        b.append(rb["pooled"] if rb["end"] == t else _dead_at(base, config, ctx, s, t, x, y, x_eval))
    return {"steps": steps, "remedy": a, "base": b}


# -- formatting -----------------------------------------------------------------------------------------------
def _pct(v) -> str:
    return f"{100 * v:.1f}%"


def _mean_finite(values) -> float:
    v = [x for x in values if math.isfinite(x)]
    return float(np.mean(v)) if v else math.nan


def _layers(v) -> str:
    return " / ".join(_pct(x) for x in v)


def _div(r: dict, seeds: int) -> str:
    if not r["diverged"]:
        return ""
    return (f"; the loss or a gradient became NaN/Inf (diverged) in {len(r['diverged'])} of {seeds} runs, at "
            f"step(s) {', '.join(map(str, r['diverged']))} — dead fractions of their last finite weights")


def _persist(r: dict) -> str:
    if r["ever"] == 0:
        return "no unit was dead at any checkpoint before the end"
    share = r["kept"] / r["ever"]
    return f"{r['kept']} of {r['ever']} units dead at an earlier checkpoint still dead at the end ({share:.0%})"


def _row(cond: Condition, r: dict, s: int | None = None) -> dict:
    src = r if s is None else r["seeds"][s]
    row = {"condition": cond.label, "seed": "mean" if s is None else s,
           "dead at init (l1 / l2)": _layers(src["dead0"]), "dead after (l1 / l2)": _layers(src["dead"]),
           "dead, pooled": src["pooled"], "inactive (a ≤ 0 on all inputs)": _layers(src["inactive"])}
    if s is None:
        row["stayed dead"] = (r["kept"] / r["ever"]) if r["ever"] else math.nan
        row["diverged runs"] = len(r["diverged"])
    else:
        row["stayed dead"] = (src["kept"] / src["ever"]) if src["ever"] else math.nan
        row["diverged at step"] = src["diverged"]
        row["final loss (mean of last 20 it.)"] = src["final_loss"]
    return row


# -- the experiment -----------------------------------------------------------------------------------------------
@experiment("dying_relu", order=10, topic="activation functions",
            summary="784-256-256-10 ReLU: η = 1 or a large negative bias kills a large fraction of the units for "
                    "good; bias 0.01 and LeakyReLU as remedies, each condition its own row (claim 10)")
def run(config: DyingReluConfig, ctx: Context) -> Result:
    """Seed 001, module 7.3: dead ReLU units — the fraction of hidden units that output 0 on every one of
    a fixed set of training images, after training at small and large η, with positive and negative bias
    inits, and with LeakyReLU."""
    (x, y), _ = fashion()
    x_eval = x[ctx.rng_for("eval").choice(len(x), config.n_eval, replace=False)]
    conds = conditions(config)
    res = {c: _run_condition(c, config, ctx, x, y, x_eval) for c in conds}

    small = [c for c in conds if c.activation == "relu" and c.bias == 0.0 and c.lr in config.small_lrs]
    large = Condition("relu", config.large_lr, 0.0)
    pos = Condition("relu", config.large_lr, config.positive_bias)
    leaky = Condition("leaky_relu", config.large_lr, 0.0)
    negs = [Condition("relu", config.bias_lr, b) for b in config.negative_biases]
    S = config.seeds
    cond_txt = (f"Fashion-MNIST (inputs in [0, 1]), 784-{config.width}-{config.width}-10, He-normal init, "
                f"cross-entropy, plain SGD, batch {config.batch_size}, {config.iterations} iterations, {S} seed(s); "
                f"dead = output 0 on all of {config.n_eval:,} training images (masks every {config.check_every} "
                f"iterations); 'pooled' = both hidden layers together")
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

    pair_txt = ("paired with the ReLU, b₀ = 0 run of the same seed (same weights, same batches) and compared at the "
                "same step — the earlier end of the two runs, since a run whose loss becomes NaN stops there")
    r, r0 = res[pos], res[large]
    pb = paired(pos, large, res, config, ctx, x, y, x_eval)
    gain_b = float(np.mean(pb["base"]) - np.mean(pb["remedy"]))
    claims.append(Claim(
        next(ids),
        f"Initialising the biases to {config.positive_bias:g} reduces it (verdict: at η = {config.large_lr:g}, at "
        f"least {REDUCE_MIN * 100:.0f} percentage points fewer dead hidden units than with biases 0, mean over "
        f"seeds, {pair_txt})",
        check_reduces(float(np.mean(pb["remedy"])), float(np.mean(pb["base"]))),
        f"at the same step (iteration {', '.join(map(str, pb['steps']))}): b₀ = {config.positive_bias:g} "
        f"{_pct(np.mean(pb['remedy']))} dead vs b₀ = 0 {_pct(np.mean(pb['base']))} ({gain_b * 100:+.1f} points); at "
        f"the end of each run: b₀ = {config.positive_bias:g} {_layers(r['dead'])} vs b₀ = 0 {_layers(r0['dead'])} "
        f"(layers 1 / 2){_div(r, S)}{_div(r0, S)}",
        cond_txt, figure="dead_fraction"))

    r = res[leaky]
    pl = paired(leaky, large, res, config, ctx, x, y, x_eval)
    finite = [s["final_loss"] for s in r["seeds"] if s["diverged"] is None]
    ok_leaky = (float(np.mean(pl["remedy"])) <= SMALL_FRACTION
                and check_reduces(float(np.mean(pl["remedy"])), float(np.mean(pl["base"]))))
    claims.append(Claim(
        next(ids),
        f"LeakyReLU (max({config.leaky_alpha:g}·a, a)) reduces it (verdict: at η = {config.large_lr:g}, at most "
        f"{SMALL_FRACTION:.0%} of the hidden units dead and at least {REDUCE_MIN * 100:.0f} points fewer than ReLU, "
        f"mean over seeds, {pair_txt})",
        bool(ok_leaky),
        f"at the same step (iteration {', '.join(map(str, pl['steps']))}): LeakyReLU {_pct(np.mean(pl['remedy']))} "
        f"dead vs ReLU {_pct(np.mean(pl['base']))}; at the end of each run LeakyReLU {_layers(r['dead'])} vs ReLU "
        f"{_layers(r0['dead'])}; LeakyReLU units with a ≤ 0 on all inputs (still trained, slope "
        f"{config.leaky_alpha:g}) {_layers(r['inactive'])}"
        + (f"; the loss or a gradient became NaN/Inf in {len(r['diverged'])} of {S} LeakyReLU runs (step(s) "
           f"{', '.join(map(str, r['diverged']))}): no unit can die, yet η = {config.large_lr:g} diverges"
           if r["diverged"] else f"; final loss {_mean_finite(finite):.3f}"),
        cond_txt + f", LeakyReLU slope {config.leaky_alpha:g} (the notes' max(0.1x, x))", figure="dead_fraction"))

    # figures
    bars = {c.label: {"layer 1": res[c]["dead"][0], "layer 2": res[c]["dead"][1]} for c in conds}
    ctx.savefig(figures.bar_chart(bars,
                                  ylabel="fraction of units dead after training", horizontal=True, fmt="{:.2f}",
                                  title=f"dead units (output 0 on all {config.n_eval:,} inputs), mean of {S} seed(s)"),
                "dead_fraction",
                caption="Each condition after training (or at the step its loss became NaN). b₀: the hidden layers' "
                        "initial bias.")
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
        "remedies vs ReLU at the same step": [
            {"remedy": c.label, "seed": s, "step": p["steps"][s], "dead, remedy (pooled)": p["remedy"][s],
             "dead, ReLU b₀ = 0 (pooled)": p["base"][s]}
            for c, p in ((pos, pb), (leaky, pl)) for s in range(S)],
    }
    notes = [
        "'Dead' is the notes' definition: the unit outputs 0 for every input (here a fixed sample of training images), "
        "so its incoming weights and bias get no gradient from any of them.",
        "'Stayed dead' tests 'for good': of the units dead at some checkpoint (initialisation included), the share "
        "still dead at the end. A unit of layer 2 can come back when layer 1's outputs change under it.",
        "A large negative bias kills units at initialisation already (see 'dead at init'): the claim is then about "
        "whether training revives them.",
        "LeakyReLU never outputs 0 (except for a = 0 exactly), so it has no dead units by construction; the "
        "'inactive' column counts its units with a ≤ 0 on all inputs, which still learn through the slope α.",
    ]
    return Result(claims=claims, records=records, notes=notes)
