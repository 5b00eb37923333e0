"""Seeds 000/001 (lecture 7, module 7.2): greedy layer-wise unsupervised pre-training — claims 17, 18, 19.

The notes: train each hidden layer in turn to reconstruct its own input, min (1/m) Σᵢ Σⱼ (x̂ᵢⱼ − xᵢⱼ)², freeze it,
go on to the next; then add the output layer and fine-tune the whole network on the supervised objective. Why
does it work better — "better optimization? or better regularization?":

- 17 (after Larochelle et al. 2009): "if the last layer has large capacity then L(θ) goes to 0 even without
  pretraining. However, if the capacity of the network is small, unsupervised pretraining helps."
- 18: optimisation or regularisation? The training and test losses with and without pre-training, at equal
  fine-tuning steps, say which effect the data supports under the stated conditions.
- 19 (Erhan et al. 2009/2010): "pre-training is more robust to random initializations": the spread over seeds of
  the final test error is smaller with pre-training, at depths 1, 3 and 5 (sigmoid).

Set-up shared by the three (``layerlab.pretrain.greedy_layerwise``, method ``"autoencoder"``: untied linear
decoder, Adam, the notes' squared reconstruction error): a fixed random subset of Fashion-MNIST (pixels in
[0, 1], not standardised; the notes use MNIST), sigmoid MLPs (Xavier-uniform, the era's unit), cross-entropy
fine-tuning with Adam for a fixed number of mini-batch steps through the Trainer. For each seed the two arms
(random init / pre-trained) start from the *same* weight draws (pre-training then changes the hidden layers; the
output layer keeps its draw) and see the same mini-batch order, so they are compared seed by seed
(``stats.paired_lead``, "beyond the noise" = the mean per-seed difference exceeds ``NOISE_SE`` = 2 standard
errors). Losses and errors are measured in eval mode on the whole training subset and on the test subset.

Thresholds, fixed before any run:

- 17a: the pre-trained arm's final training loss is lower than the random arm's beyond the noise (small last
  hidden layer). 17b: every run of both arms (large last hidden layer) ends with a training loss ≤ ``NEAR_ZERO``
  = 0.05 nats (2 % of the chance level ln 10 ≈ 2.30; a diverged run never counts as near 0).
- 18a (optimisation effect): the final training loss is lower with pre-training beyond the noise. 18b
  (regularisation effect): the training loss is *not* lower beyond the noise, but the test loss is lower or the
  generalisation gap (test − training loss) smaller, beyond the noise. 18c: the test loss is lower with
  pre-training beyond the noise (the benefit either effect would have to explain).
- 19a–c (one per depth): the variance over seeds of the final test error is smaller with pre-training, by a
  one-sided F-test at level ``ALPHA`` = 0.05: var(random) / var(pre-trained) > F₀.₉₅(n − 1, n − 1) (the test
  assumes roughly normal errors across seeds; the measured figure gives the ratio with its 95 % confidence
  interval).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import stats as sps

from layerlab import nn, optim, pretrain
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import NOISE_SE, format_lead, format_mean_se, mean_se, paired_lead
from layerlab.lab.training import Periodic, fashion, fit_iterations, mlp

__all__ = ["NEAR_ZERO", "ALPHA", "ARMS", "CapacityConfig", "OptRegConfig", "RobustnessConfig", "LossCurve",
           "run_arm", "run_arms", "arm_values", "small_capacity_verdict", "large_capacity_verdict", "optimisation_verdict",
           "regularisation_verdict", "lower_test_loss_verdict", "variance_ratio_test", "robustness_verdict"]

#: "near 0" for a training loss (nats): 2 % of the chance level ln 10
NEAR_ZERO = 0.05
#: level of the one-sided F-test of claim 19
ALPHA = 0.05
#: the two arms, in the order they run
ARMS = ("random init", "pre-trained")


# -- the runs ---------------------------------------------------------------------------------------------------
class LossCurve(Periodic):
    """Training and test loss and error (eval mode, whole subsets) at the start, every ``every`` steps, the end."""

    def __init__(self, every: int, train, test):
        super().__init__(every)
        self.train, self.test = train, test
        self.train_loss: list[float] = []
        self.test_loss: list[float] = []
        self.train_err: list[float] = []
        self.test_err: list[float] = []

    def measure(self, trainer) -> None:
        tr, te = trainer.evaluate(self.train), trainer.evaluate(self.test)
        self.train_loss.append(tr["loss"])
        self.test_loss.append(te["loss"])
        self.train_err.append(1.0 - tr["accuracy"])
        self.test_err.append(1.0 - te["accuracy"])


def run_arm(ctx: Context, sizes, data_sets, seed: int, cfg, tag: str, arm: str) -> dict:
    """One arm of one seed on the net ``sizes`` (sigmoid MLP); both arms of a seed draw the same weights and
    mini-batch order; the pre-trained arm first runs ``greedy_layerwise`` (autoencoder) on the training inputs.
    Returns the final losses/errors (eval mode), the curve (without its data), the pre-training report and the
    divergence step."""
    (x, y), (xt, yt) = data_sets
    model = mlp(sizes, "sigmoid", "xavier_uniform", ctx.rng_for("init", tag, seed))
    rec_before = rec_after = math.nan
    if arm == "pre-trained":
        reps = pretrain.greedy_layerwise(model, x, method="autoencoder", epochs=cfg.pretrain_epochs,
                                         lr=cfg.pretrain_lr, batch_size=cfg.pretrain_batch, seed=ctx.seed + seed,
                                         progress=False)
        rec_before, rec_after = reps[-1].errors[0], reps[-1].errors[-1]
    curve = LossCurve(cfg.eval_every, (x, y), (xt, yt))
    fit = fit_iterations(ctx, model, optim.Adam(model.parameters(), lr=cfg.lr), x, y, cfg.iterations,
                         cfg.batch_size, f"{tag}, {arm}, seed {seed}", callbacks=[curve], seed=ctx.seed + seed)
    curve.train = curve.test = None  # the measurements travel back from a worker, not the data
    div = fit["diverged"]
    return {"arm": arm, "seed": seed, "train loss": math.nan if div is not None else curve.train_loss[-1],
            "test loss": math.nan if div is not None else curve.test_loss[-1],
            "train error": math.nan if div is not None else curve.train_err[-1],
            "test error": math.nan if div is not None else curve.test_err[-1], "diverged at": div,
            "last-layer reconstruction error before": rec_before,
            "last-layer reconstruction error after": rec_after, "curve": curve}


def run_arms(ctx: Context, sizes, data_sets, seed: int, cfg, tag: str) -> list[dict]:
    """Both arms of one seed (:func:`run_arm`), in the order of :data:`ARMS`."""
    return [run_arm(ctx, sizes, data_sets, seed, cfg, tag, arm) for arm in ARMS]


def arm_values(rows, arm: str, key: str, **where) -> list[float]:
    """``key`` of the rows of ``arm`` (and every ``where`` column equal), ordered by seed."""
    sel = [r for r in rows if r["arm"] == arm and all(r[k] == v for k, v in where.items())]
    return [float(r[key]) for r in sorted(sel, key=lambda r: r["seed"])]


def _lead(rows, key, **where) -> dict:
    """paired_lead of the pre-trained arm over the random arm on ``key`` (lower is better)."""
    return paired_lead(arm_values(rows, "pre-trained", key, **where), arm_values(rows, "random init", key, **where))


# -- verdicts: plain functions of the records -----------------------------------------------------------------------
def small_capacity_verdict(rows) -> bool:
    """17a: with the small last hidden layer, the pre-trained arm's final training loss is lower, beyond the noise."""
    return bool(_lead(rows, "train loss", capacity="small")["beyond"])


def large_capacity_verdict(rows, near_zero: float = NEAR_ZERO) -> bool:
    """17b: with the large last hidden layer, every run of both arms ends with a training loss ≤ ``near_zero``."""
    vals = [float(r["train loss"]) for r in rows if r["capacity"] == "large"]
    return bool(vals) and all(math.isfinite(v) and v <= near_zero for v in vals) and \
        {r["arm"] for r in rows if r["capacity"] == "large"} == set(ARMS)


def optimisation_verdict(rows) -> bool:
    """18a: the final training loss is lower with pre-training, beyond the noise."""
    return bool(_lead(rows, "train loss")["beyond"])


def _gap_rows(rows):
    return [{**r, "gap": float(r["test loss"]) - float(r["train loss"])} for r in rows]


def regularisation_verdict(rows) -> bool:
    """18b: the training loss is not lower with pre-training beyond the noise, but the test loss is lower or the
    gap (test − training loss) smaller, beyond the noise."""
    if optimisation_verdict(rows):
        return False
    return bool(_lead(rows, "test loss")["beyond"] or _lead(_gap_rows(rows), "gap")["beyond"])


def lower_test_loss_verdict(rows) -> bool:
    """18c: the final test loss is lower with pre-training, beyond the noise."""
    return bool(_lead(rows, "test loss")["beyond"])


def variance_ratio_test(random_errors, pretrained_errors, alpha: float = ALPHA) -> dict:
    """One-sided F-test that the variance of ``random_errors`` exceeds that of ``pretrained_errors``.

    ratio = s²_random / s²_pre (ddof 1); p = P(F(n_r − 1, n_p − 1) ≥ ratio); ``holds`` when p < ``alpha`` (⇔ ratio >
    F_{1−α}). ``ci``: the 95 % interval of the true ratio, [ratio / F_{0.975}(d_r, d_p),
    ratio · F_{0.975}(d_p, d_r)]. Non-finite errors (a diverged run) or fewer than 2 per arm: not holds."""
    r = np.asarray(random_errors, dtype=np.float64)
    p_ = np.asarray(pretrained_errors, dtype=np.float64)
    out = {"var random": math.nan, "var pre-trained": math.nan, "ratio": math.nan, "p": math.nan,
           "ci": (math.nan, math.nan), "critical": math.nan, "holds": False, "n random": int(r.size),
           "n pre-trained": int(p_.size)}
    if r.size < 2 or p_.size < 2 or not (np.isfinite(r).all() and np.isfinite(p_).all()):
        return out
    d1, d2 = r.size - 1, p_.size - 1
    vr, vp = float(r.var(ddof=1)), float(p_.var(ddof=1))
    ratio = vr / vp if vp > 0 else (math.inf if vr > 0 else math.nan)
    out.update({"var random": vr, "var pre-trained": vp, "ratio": ratio,
                "critical": float(sps.f.ppf(1 - alpha, d1, d2))})
    if math.isnan(ratio):
        return out
    p = 0.0 if math.isinf(ratio) else float(sps.f.sf(ratio, d1, d2))
    lo = ratio / float(sps.f.ppf(0.975, d1, d2))
    hi = ratio * float(sps.f.ppf(0.975, d2, d1))
    out.update({"p": p, "ci": (lo, hi), "holds": bool(p < alpha)})
    return out


def robustness_verdict(rows, depth: int, alpha: float = ALPHA) -> dict:
    """19 at one depth: :func:`variance_ratio_test` of the final test errors of the two arms."""
    return variance_ratio_test(arm_values(rows, "random init", "test error", depth=depth),
                               arm_values(rows, "pre-trained", "test error", depth=depth), alpha)


# -- shared text and figures --------------------------------------------------------------------------------------
def _noise_txt(r: dict) -> str:
    if not math.isfinite(r["se"]):
        return "no noise estimate (one seed, or a diverged run)"
    if r["diff"] > NOISE_SE * r["se"]:
        verdict = "pre-training ahead beyond the noise"
    elif r["diff"] < -NOISE_SE * r["se"]:
        verdict = "pre-training BEHIND beyond the noise"
    else:
        verdict = "within the noise"
    return verdict + f" (threshold {NOISE_SE:g} SE)"


def _data(cfg, ctx):
    return fashion(n_train=cfg.n_train, n_test=cfg.n_test, rng=ctx.rng_for("subset"))


def _conditions(cfg, sizes_txt: str, seeds: int, n_train: int, n_test: int) -> str:
    return (f"{n_train:,} Fashion-MNIST training images and {n_test:,} test images (fixed random subsets, pixels in "
            f"[0, 1]), {sizes_txt} sigmoid MLP (Xavier-uniform), {seeds} seeds (per seed both arms share the weight "
            f"draws and the mini-batch order); pre-training: greedy layer-wise autoencoders (untied linear decoder, "
            f"squared error, Adam η = {cfg.pretrain_lr:g}, batch {cfg.pretrain_batch}, {cfg.pretrain_epochs} "
            f"epoch(s) per hidden layer); fine-tuning: cross-entropy, Adam η = {cfg.lr:g}, batch {cfg.batch_size}, "
            f"{cfg.iterations} steps for both arms; losses in eval mode on the whole subsets; ± = SE over seeds")


def _mean_curve(runs, attr):
    c0 = runs[0]["curve"]
    return c0.steps, np.mean([getattr(r["curve"], attr) for r in runs], axis=0)


def _flat(rows, drop=("curve",)):
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def _curve_rows(runs, **extra):
    out = []
    for r in runs:
        c = r["curve"]
        for i, s in enumerate(c.steps):
            out.append({**extra, "arm": r["arm"], "seed": r["seed"], "step": s, "train loss": c.train_loss[i],
                        "test loss": c.test_loss[i]})
    return out


@dataclass
class _Common:
    n_train: int = 2000
    n_test: int = 2000
    pretrain_epochs: int = 5
    pretrain_lr: float = 1e-3
    pretrain_batch: int = 64
    iterations: int = 1500
    batch_size: int = 50
    lr: float = 1e-3
    eval_every: int = 100


# -- 17: pre-training vs the capacity of the last hidden layer -----------------------------------------------------
@dataclass
class CapacityConfig(_Common):
    """784-width-width-k-10 sigmoid, k small or large."""

    width: int = 256
    small: int = 10
    large: int = 512
    seeds: int = 4
    QUICK: ClassVar[dict] = {"n_train": 500, "n_test": 500, "width": 64, "large": 128, "pretrain_epochs": 2,
                             "iterations": 300, "seeds": 3, "eval_every": 50}


@experiment("pretraining_capacity", topic="unsupervised pre-training", order=17,
            summary="pre-training helps a small last hidden layer; with a large one both drive the loss to ~0")
def run_capacity(config: CapacityConfig, ctx: Context) -> Result:
    data_sets = _data(config, ctx)
    (x, _), (xt, _) = data_sets
    items = [(cap, k, s, arm) for cap, k in (("small", config.small), ("large", config.large))
             for s in range(config.seeds) for arm in ARMS]
    done = ctx.map(lambda it: run_arm(ctx, [784, config.width, config.width, it[1], 10], data_sets, it[2], config,
                                      f"last hidden {it[1]}", it[3]), items, label="arms")
    runs = {"small": [], "large": []}
    for (cap, k, _, _), r in zip(items, done):
        r["capacity"], r["last hidden"] = cap, k
        runs[cap].append(r)
    rows = [r for cap in runs for r in runs[cap]]
    h17a, h17b = small_capacity_verdict(rows), large_capacity_verdict(rows)
    lead_s, lead_l = _lead(rows, "train loss", capacity="small"), _lead(rows, "train loss", capacity="large")

    def side(cap):
        return "; ".join(f"{arm}: {format_mean_se(arm_values(rows, arm, 'train loss', capacity=cap), 4)}"
                         for arm in ARMS)

    large_vals = [r["train loss"] for r in rows if r["capacity"] == "large"]
    cond = _conditions(config, f"784-{config.width}-{config.width}-k-10", config.seeds, len(x), len(xt))
    claims = [
        Claim("17a", f"If the capacity of the network is small, unsupervised pre-training helps (Larochelle et al. "
                     f"2009): with a last hidden layer of k = {config.small} units, pre-training reaches a lower "
                     f"training loss after the same fine-tuning budget (verdict: mean per-seed lead > {NOISE_SE:g} SE)",
              h17a, f"final training loss, k = {config.small}: {side('small')}; random − pre-trained = "
                    f"{format_lead(lead_s)}, {_noise_txt(lead_s)}", cond + f"; k = {config.small}", figure="capacity"),
        Claim("17b", f"If the last layer has large capacity, L(θ) goes to 0 even without pre-training: with k = "
                     f"{config.large}, both arms drive the training loss near 0 (verdict: every run of both arms ends "
                     f"≤ {NEAR_ZERO:g} nats, 2 % of ln 10)",
              h17b, f"final training loss, k = {config.large}: {side('large')} (largest run "
                    f"{max(large_vals):.4f}); random − pre-trained = {format_lead(lead_l)}",
              cond + f"; k = {config.large}", figure="capacity"),
    ]
    fig, axes = figures.new_figure(1, 2, panel=(3.4, 2.6), margins={"right": 1.5})
    for ax, cap in zip(axes[0], ("small", "large")):
        for i, arm in enumerate(ARMS):
            rr = [r for r in runs[cap] if r["arm"] == arm]
            steps, tr = _mean_curve(rr, "train_loss")
            ax.plot(steps, tr, color=figures.COLORS[i], label=arm, linewidth=1.5)
        ax.axhline(NEAR_ZERO, color="0.5", linestyle=":", linewidth=1)
        ax.set_yscale("log")
        ax.set_title(f"last hidden layer k = {config.small if cap == 'small' else config.large}", fontsize=9)
        ax.set_xlabel("fine-tuning step")
    axes[0, 0].set_ylabel("training loss (eval, whole subset)")
    axes[0, 1].legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ctx.savefig(fig, "capacity", caption=f"Training loss during fine-tuning, mean of {config.seeds} seeds (log scale); "
                                         f"dotted: the 'near 0' threshold {NEAR_ZERO:g} of 17b.")
    return Result(claims=claims, records={"each run": _flat(rows), "curves": _curve_rows(rows)},
                  notes=["Training loss is measured in eval mode on the whole training subset at the end of the fixed "
                         "fine-tuning budget; a run that diverged counts as NaN (never near 0, never ahead)."])


# -- 18: optimisation or regularisation? ---------------------------------------------------------------------------
@dataclass
class OptRegConfig(_Common):
    """784-width×depth-10 sigmoid; training and test loss curves with and without pre-training."""

    width: int = 256
    depth: int = 3
    seeds: int = 4
    eval_every: int = 50
    QUICK: ClassVar[dict] = {"n_train": 500, "n_test": 500, "width": 64, "pretrain_epochs": 2, "iterations": 300,
                             "seeds": 3, "eval_every": 50}


@experiment("pretraining_opt_vs_reg", topic="unsupervised pre-training", order=18,
            summary="does pre-training help optimisation (lower training loss) or regularisation (lower test loss)?")
def run_opt_vs_reg(config: OptRegConfig, ctx: Context) -> Result:
    data_sets = _data(config, ctx)
    (x, _), (xt, _) = data_sets
    sizes = [784] + [config.width] * config.depth + [10]
    items = [(s, arm) for s in range(config.seeds) for arm in ARMS]
    rows = ctx.map(lambda it: run_arm(ctx, sizes, data_sets, it[0], config, "opt-vs-reg", it[1]), items,
                   label="arms")
    h_opt, h_reg, h_test = optimisation_verdict(rows), regularisation_verdict(rows), lower_test_loss_verdict(rows)
    l_tr, l_te, l_gap = _lead(rows, "train loss"), _lead(rows, "test loss"), _lead(_gap_rows(rows), "gap")

    def pm(arm, key):
        src = _gap_rows(rows) if key == "gap" else rows
        return format_mean_se(arm_values(src, arm, key), 4)

    finals = "; ".join(f"{arm}: train {pm(arm, 'train loss')}, test {pm(arm, 'test loss')}, gap {pm(arm, 'gap')}"
                       for arm in ARMS)
    supports = "optimisation" if h_opt else "regularisation" if h_reg else "neither (no effect beyond the noise)"
    cond = _conditions(config, "784-" + "-".join([str(config.width)] * config.depth) + "-10", config.seeds,
                       len(x), len(xt))
    claims = [
        Claim("18a", "Pre-training as better optimisation: at equal fine-tuning steps it reaches a lower training loss "
                     f"(verdict: final training loss, mean per-seed lead > {NOISE_SE:g} SE)",
              h_opt, f"{finals}; training loss random − pre-trained = {format_lead(l_tr)}, {_noise_txt(l_tr)}; the "
                     f"data supports: {supports}", cond, figure="curves"),
        Claim("18b", "Pre-training as better regularisation (it constrains the weights to regions where the data's "
                     "characteristics are captured): the training loss is not lower, but the test loss is lower or the "
                     f"gap smaller (verdict: not 18a, and the test-loss or gap lead > {NOISE_SE:g} SE)",
              h_reg, f"test loss random − pre-trained = {format_lead(l_te)}, {_noise_txt(l_te)}; gap (test − train) "
                     f"random − pre-trained = {format_lead(l_gap)}, {_noise_txt(l_gap)}", cond, figure="curves"),
        Claim("18c", f"Pre-training works better: a lower test loss after the same fine-tuning budget (verdict: lead > "
                     f"{NOISE_SE:g} SE)",
              h_test, f"test loss: random {pm('random init', 'test loss')}, pre-trained {pm('pre-trained', 'test loss')}; "
                      f"random − pre-trained = {format_lead(l_te)}", cond, figure="final"),
    ]
    fig, axes = figures.new_figure(1, 2, panel=(3.4, 2.6), margins={"right": 1.5})
    for ax, attr, title in zip(axes[0], ("train_loss", "test_loss"), ("training loss", "test loss")):
        for i, arm in enumerate(ARMS):
            steps, v = _mean_curve([r for r in rows if r["arm"] == arm], attr)
            ax.plot(steps, v, color=figures.COLORS[i], label=arm, linewidth=1.5)
        ax.set_yscale("log")
        ax.set_title(title + " (eval mode)", fontsize=9)
        ax.set_xlabel("fine-tuning step")
    axes[0, 1].legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ctx.savefig(fig, "curves", caption=f"Mean over {config.seeds} seeds of the training and test loss during "
                                       "fine-tuning, with and without pre-training.")
    bars = {arm: {"train loss": mean_se(arm_values(rows, arm, "train loss"))[0],
                  "test loss": mean_se(arm_values(rows, arm, "test loss"))[0],
                  "gap": mean_se(arm_values(_gap_rows(rows), arm, "gap"))[0]} for arm in ARMS}
    ctx.savefig(figures.bar_chart(bars, ylabel="loss (nats)", fmt="{:.3f}",
                                  title=f"after {config.iterations} steps, mean of {config.seeds} seeds"), "final",
                caption="Final training loss, test loss and their gap per arm.")
    return Result(claims=claims, records={"each run": _flat(_gap_rows(rows)), "curves": _curve_rows(rows)},
                  notes=[f"Definitions fixed in advance: optimisation effect = lower training loss at equal steps beyond "
                         f"{NOISE_SE:g} SE of the per-seed differences; regularisation effect = training loss not lower "
                         "beyond the noise, but test loss lower or gap smaller beyond it. Only the end of the budget is "
                         "judged; the curves show the whole run. The data supports: " + supports + "."])


# -- 19: robustness to the random init -----------------------------------------------------------------------------
@dataclass
class RobustnessConfig(_Common):
    """784-width×depth-10 sigmoid for each depth; final test error over many seeds."""

    width: int = 100
    depths: tuple[int, ...] = (1, 3, 5)
    seeds: int = 10
    iterations: int = 800
    pretrain_epochs: int = 3
    eval_every: int = 200
    QUICK: ClassVar[dict] = {"n_train": 500, "n_test": 500, "width": 32, "pretrain_epochs": 1, "iterations": 150,
                             "seeds": 5, "eval_every": 150}


@experiment("pretraining_robustness", topic="unsupervised pre-training", order=19,
            summary="the spread of the final test error over random inits is smaller with pre-training (depths 1, 3, 5)")
def run_robustness(config: RobustnessConfig, ctx: Context) -> Result:
    data_sets = _data(config, ctx)
    (x, _), (xt, _) = data_sets
    items = [(depth, s, arm) for depth in config.depths for s in range(config.seeds) for arm in ARMS]
    rows = ctx.map(lambda it: run_arm(ctx, [784] + [config.width] * it[0] + [10], data_sets, it[1], config,
                                      f"depth {it[0]}", it[2]), items, label="arms")
    for (depth, _, _), r in zip(items, rows):
        r["depth"] = depth
    claims, table = [], []
    for depth, cid in zip(config.depths, "abcdefgh"):
        t = robustness_verdict(rows, depth)
        er, ep = arm_values(rows, "random init", "test error", depth=depth), \
            arm_values(rows, "pre-trained", "test error", depth=depth)
        sd_r, sd_p = (float(np.std(v, ddof=1)) if len(v) > 1 else math.nan for v in (er, ep))
        lead = _lead(rows, "test error", depth=depth)
        table.append({"depth": depth, "sd random": sd_r, "sd pre-trained": sd_p, "ratio": t["ratio"], "p": t["p"],
                      "ci low": t["ci"][0], "ci high": t["ci"][1], "holds": t["holds"],
                      "mean test error random": float(np.mean(er)), "mean test error pre-trained": float(np.mean(ep))})
        cond = _conditions(config, f"784-{'-'.join([str(config.width)] * depth)}-10 (depth {depth})", config.seeds,
                           len(x), len(xt)) + "; the seed sets the weight draws, the mini-batch order and pre-training's draws"
        claims.append(Claim(
            f"19{cid}", f"Pre-training is more robust to random initialisations (Erhan et al. 2009/2010): at depth "
                        f"{depth}, the spread over seeds of the final test error is smaller with pre-training (verdict: "
                        f"one-sided F-test, var(random)/var(pre-trained) > F_{1 - ALPHA:g}({len(er) - 1}, {len(ep) - 1}), "
                        f"p < {ALPHA:g})",
            t["holds"], f"test error random {format_mean_se(er, 4)} (sd {sd_r:.4f}), pre-trained {format_mean_se(ep, 4)} "
                        f"(sd {sd_p:.4f}); variance ratio {t['ratio']:.2f} (95 % CI {t['ci'][0]:.2f}–{t['ci'][1]:.2f}, "
                        f"critical {t['critical']:.2f}), p = {t['p']:.3g}; mean test error random − pre-trained = "
                        f"{format_lead(lead)}", cond, figure="robustness"))
    fig, axes = figures.new_figure(1, 1, panel=(5.0, 3.0))
    ax = axes[0, 0]
    pos, data, colors = [], [], []
    for j, depth in enumerate(config.depths):
        for i, arm in enumerate(ARMS):
            pos.append(3 * j + i + 1)
            data.append(arm_values(rows, arm, "test error", depth=depth))
            colors.append(figures.COLORS[i])
    bp = ax.boxplot(data, positions=pos, widths=0.7, patch_artist=True)
    for patch, c in zip(bp["boxes"], colors):
        patch.set_facecolor(c)
        patch.set_alpha(0.5)
    for p_, d, c in zip(pos, data, colors):
        ax.plot(np.full(len(d), p_), d, ".", color=c, markersize=3)
    ax.set_xticks([3 * j + 1.5 for j in range(len(config.depths))], [f"depth {d}" for d in config.depths])
    ax.set_ylabel("final test error")
    ax.set_title(f"{config.seeds} seeds per box; left: random init, right: pre-trained", fontsize=9)
    ctx.savefig(fig, "robustness", caption="Final test error over seeds, per depth, without (left box of each pair) and "
                                           "with (right box) greedy layer-wise pre-training.")
    return Result(claims=claims, records={"each run": _flat(rows), "spread per depth": table},
                  notes=["The F-test of equal variances assumes the test errors across seeds are roughly normal; the 95 % "
                         "interval of the ratio says how well 10 seeds pin a ratio of variances down (not well)."])
