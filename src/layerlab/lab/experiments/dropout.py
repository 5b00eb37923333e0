"""Seeds 000/001/002: dropout as a regulariser and as an ensemble (claim 16 of issue [lab]).

The notes (seed 001, after bagging): training k models on resampled data and averaging them
("during inference, the prediction is done by averaging the predictions from all the
models") generalises better, but is expensive; dropout samples a thinned sub-network per
mini-batch (μ ~ Bernoulli, p = 0.5 in their figures) and all of them share the weights — an
exponential ensemble ("the number of sub-models is exponentially high") trained at the price
of one network. On a small training set, where a plain network fits the training images
almost perfectly and generalises much worse, dropout should narrow the gap between training
and test accuracy.

Here: ``n_train`` Fashion-MNIST training images (the same random subset for every run),
784-500-500-10 ReLU with dropout after each hidden layer, Adam. For each drop probability p
and seed: the training and test accuracy at the end (both in eval mode: the full network,
no units dropped — how the network is used), their gap, and the curves over training
(every ``eval_every`` epochs, with the accuracy on ``n_val`` held-out training images). The
runs of one seed share the weight draws and the data order, so p = 0 and p > 0 are compared
seed by seed. Verdicts (:func:`verdicts`, plain functions of the records): the gap narrows
(16a); by more than the seed-to-seed noise (16b: the mean of the per-seed differences >
``NOISE_SE`` standard errors); the test accuracy rises too (16c); and — so that a narrower gap
is not just underfitting — at each arm's *best epoch* too (16d, 16e beyond the noise).

Dropout as an ensemble: at the end of training the dropout network predicts the test images
(i) by the weight-scaling rule (inverted dropout scales the survivors by 1/(1 − p) in training,
so this is the plain eval-mode forward) and (ii) by Monte-Carlo averaging of the softmax outputs
of k sampled sub-networks (``layerlab.ensemble.DropoutEnsemble``: seeded masks, arithmetic mean; also the
renormalised geometric mean). Verdicts: weight scaling agrees with the MC average of the largest
k (16f: within the binomial standard error of a test-set accuracy; Srivastava et al. 2014, fig. 11,
found them equal from k ≈ 50), and one sub-network (k = 1) predicts worse than the full network
(16g: beyond the noise) — the averaging is what the ensemble buys.

Note: layerlab's p is the probability of *dropping* a unit (PyTorch's convention, inverted
dropout: survivors scaled by 1/(1 − p) in training, the identity in eval mode); the notes'
μ ~ Bernoulli(p) keeps a unit with probability p. At p = 0.5 the two agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import data, ensemble, nn, optim
from layerlab.train import Callback
from layerlab.lab import Claim, ConfigError, Context, Result, experiment, figures
from layerlab.lab.stats import NOISE_SE, format_lead, format_mean_se, mean_se, paired_lead
from layerlab.lab.training import fashion, mlp

__all__ = ["DropoutConfig", "dropout_mlp", "AccuracyCurve", "gap", "best_epoch", "prediction_scores",
           "binomial_se", "verdicts"]


@dataclass
class DropoutConfig:
    """784-width-width-10 ReLU (He-normal), dropout after each hidden layer, Adam, on a small training set."""

    n_train: int = 1000
    n_test: int = 10000           # test images (10,000: the whole test set)
    n_val: int = 2000             # held-out training images (not among the n_train) to pick an early-stopping epoch
    width: int = 500
    epochs: int = 60
    batch_size: int = 50
    lr: float = 1e-3
    seeds: int = 3                # CLAIMS.md used 2; a third gives the noise estimates two degrees of freedom
    ps: tuple[float, ...] = (0.0, 0.5)   # drop probabilities; the claim compares the first (0) with the last
    eval_every: int = 2           # epochs between two points of the accuracy curves (the best epoch's resolution)
    mc_ks: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100)   # sub-networks averaged; the largest decides 16f
    QUICK: ClassVar[dict] = {"n_test": 2000, "n_val": 1000, "width": 256, "epochs": 30, "seeds": 2,
                             "mc_ks": (1, 3, 10, 30)}

    def validate(self) -> None:
        """Checked by the runner before the run starts (a rejected config never becomes a run)."""
        _check(self)


def dropout_mlp(width: int, p: float, rng: np.random.Generator, dropout_rng: np.random.Generator | None = None,
                depth: int = 2) -> nn.Sequential:
    """``depth`` × (Linear(·, width, He-normal) → ReLU → Dropout(p)), then Linear(width, 10, Xavier-normal).

    The weights are drawn from ``rng`` layer by layer (the same draws whatever p); ``p = 0`` leaves the
    Dropout layers out. ``dropout_rng`` seeds the masks (a Trainer reseeds them from its seed anyway).
    """
    return mlp([784] + [width] * depth + [10], "relu", "he_normal", rng, out_init="xavier_normal", dropout=p,
               dropout_rng=dropout_rng if dropout_rng is not None else np.random.default_rng(0))


def gap(train_accuracy: float, test_accuracy: float) -> float:
    """The generalisation gap: training minus test accuracy."""
    return float(train_accuracy) - float(test_accuracy)


def best_epoch(epochs, accuracies) -> tuple[int, float]:
    """(epoch, accuracy) where ``accuracies`` peaks (the first such epoch)."""
    i = int(np.argmax(np.asarray(accuracies, dtype=np.float64)))
    return int(epochs[i]), float(accuracies[i])


class AccuracyCurve(Callback):
    """Training, test (and validation) accuracy in eval mode (dropout off) at the start and every ``every``
    epochs (and after the last one): ``epochs``, ``train_acc``, ``test_acc``, ``val_acc`` lists."""

    def __init__(self, train, test, every: int, epochs: int, val=None):
        self.train, self.test, self.val, self.every, self.last = train, test, val, int(every), int(epochs)
        self.epochs: list[int] = []
        self.train_acc: list[float] = []
        self.test_acc: list[float] = []
        self.val_acc: list[float] = []

    def _measure(self, trainer, epoch: int) -> None:
        self.epochs.append(epoch)
        self.train_acc.append(trainer.evaluate(self.train)["accuracy"])
        self.test_acc.append(trainer.evaluate(self.test)["accuracy"])
        if self.val is not None:
            self.val_acc.append(trainer.evaluate(self.val)["accuracy"])

    def on_fit_start(self, trainer):
        self._measure(trainer, 0)

    def on_epoch_end(self, trainer, epoch, logs):
        done = epoch + 1
        if done % self.every == 0 or done == self.last:
            self._measure(trainer, done)


# -- dropout as an ensemble (layerlab.ensemble.DropoutEnsemble) ---------------------------------------------------
def prediction_scores(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy and mean negative log-likelihood of class probabilities ``probs`` for labels ``y``."""
    probs = np.asarray(probs, dtype=np.float64)
    p_true = probs[np.arange(len(y)), np.asarray(y)]
    return {"accuracy": float(np.mean(probs.argmax(axis=1) == y)),
            "nll": float(-np.mean(np.log(np.maximum(p_true, 1e-300))))}


def binomial_se(accuracy: float, n: int) -> float:
    """The standard error of an accuracy measured on ``n`` independent test images: √(a(1 − a)/n)."""
    a = float(accuracy)
    return math.sqrt(max(a * (1.0 - a), 0.0) / int(n))


# -- the verdicts (plain functions of the records) ----------------------------------------------------------------
def verdicts(records: dict, p0: float, p1: float) -> dict[str, bool]:
    """Every claim's verdict from ``records["each run"]`` (per p and seed: ``gap``, ``test accuracy``, ``best test
    accuracy``) and ``records["ensemble"]`` (per seed, rule and k: ``accuracy``, and ``test images``), comparing
    the drop probabilities ``p0`` (0, no dropout) and ``p1``."""
    runs = records["each run"]

    def col(p, key):
        rows = sorted((r for r in runs if r["p (drop)"] == p), key=lambda r: r["seed"])
        return [float(r[key]) for r in rows]

    narrow = paired_lead(col(p1, "gap"), col(p0, "gap"))          # > 0: the gap with dropout is smaller
    raise_ = paired_lead([-v for v in col(p1, "test accuracy")], [-v for v in col(p0, "test accuracy")])
    best = paired_lead([-v for v in col(p1, "best test accuracy")], [-v for v in col(p0, "best test accuracy")])
    out = {"16a": narrow["diff"] > 0, "16b": narrow["beyond"], "16c": raise_["diff"] > 0,
           "16d": best["diff"] > 0, "16e": best["beyond"]}
    ens = [r for r in records.get("ensemble", []) if r["p (drop)"] == p1]
    if ens:
        seeds = sorted({r["seed"] for r in ens})
        k_max = max(r["k"] for r in ens if r["rule"] == "MC arithmetic")

        def acc(rule, k=None):
            return [next(float(r["accuracy"]) for r in ens if r["seed"] == s and r["rule"] == rule
                         and (k is None or r["k"] == k)) for s in seeds]

        ws = acc("weight scaling")
        band = binomial_se(float(np.mean(ws)), ens[0]["test images"])
        d = float(np.mean(np.subtract(acc("MC arithmetic", k_max), ws)))
        out["16f"] = abs(d) <= band
        out["16g"] = paired_lead([-v for v in ws], [-v for v in acc("MC arithmetic", 1)])["beyond"]
    return {k: bool(v) for k, v in out.items()}


def _check(config: DropoutConfig) -> None:
    if len(config.ps) < 2 or config.ps[0] != 0.0:
        raise ConfigError(f"experiment 'dropout': ps must start with 0 (no dropout, the baseline) and have at least "
                          f"one p > 0 to compare with; got {config.ps!r}")
    if config.eval_every < 1:
        raise ConfigError(f"experiment 'dropout': eval_every must be ≥ 1, got {config.eval_every}")
    if not config.mc_ks or min(config.mc_ks) < 1 or 1 not in config.mc_ks:
        raise ConfigError(f"experiment 'dropout': mc_ks must be sub-network counts ≥ 1 including 1 (claim 16g "
                          f"compares one sub-network with the full network); got {config.mc_ks!r}")


def _ensemble_figure(ens: list[dict], ks: list[int], band: float, p: float, n_test: int, seeds_txt: str):
    """Accuracy and NLL against k: MC arithmetic and geometric means, weight scaling as a line with the band."""
    fig, axes = figures.new_figure(1, 2, panel=(3.6, 2.7), margins={"right": 1.7, "wspace": 0.8},
                                   title=f"dropout p = {p:g} as an ensemble: {n_test:,} test images, mean of "
                                         f"{seeds_txt} (bars: ± SE over seeds)")
    for ax, key, label in ((axes[0, 0], "accuracy", "test accuracy"), (axes[0, 1], "nll", "test NLL")):
        ws = mean_se([r[key] for r in ens if r["rule"] == "weight scaling"])
        ax.axhline(ws[0], color="0.2", linewidth=1.2, label="weight scaling")
        if key == "accuracy":
            ax.axhspan(ws[0] - band, ws[0] + band, color="0.85", label="± binomial SE")
        for i, rule in enumerate(("MC arithmetic", "MC geometric")):
            m = [mean_se([r[key] for r in ens if r["rule"] == rule and r["k"] == k]) for k in ks]
            ax.errorbar(ks, [v[0] for v in m], yerr=[0 if not math.isfinite(v[1]) else v[1] for v in m],
                        color=figures.COLORS[i], marker="o", markersize=3, linewidth=1.3, capsize=2,
                        label=rule)
        ax.set_xscale("log")
        ax.set_xlabel("k (sampled sub-networks)")
        ax.set_ylabel(label)
    axes[0, 1].legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


@experiment("dropout", order=16, topic="regularisation",
            summary="on 1,000 training images, 784-500-500-10 ReLU: dropout narrows the gap between training and "
                    "test accuracy; at the best epoch too? weight scaling vs Monte-Carlo averaging (claim 16)")
def run(config: DropoutConfig, ctx: Context) -> Result:
    """Seeds 000-002: dropout on a small training set — training vs test accuracy with and without it, and the
    dropout network as an ensemble of its sub-networks."""
    (x_all, y_all), (xt_all, yt_all) = fashion()
    idx = np.sort(ctx.rng_for("subset").choice(len(x_all), config.n_train, replace=False))
    x, y = data.Subset(data.TensorDataset(x_all, y_all), idx).get_batch(np.arange(len(idx)))
    rest = np.setdiff1d(np.arange(len(x_all)), idx)
    vidx = ctx.rng_for("validation").choice(rest, min(config.n_val, len(rest)), replace=False)
    xv, yv = x_all[vidx], y_all[vidx]
    tidx = ctx.rng_for("test").choice(len(xt_all), min(config.n_test, len(xt_all)), replace=False)
    xt, yt = xt_all[tidx], yt_all[tidx]
    ks = sorted(set(config.mc_ks))
    p0, p1 = config.ps[0], config.ps[-1]
    S = config.seeds

    def fit(item):  # one (p, seed) run: its numbers, its accuracy curve and, at p1, its ensemble rows
        p, s = item
        model = dropout_mlp(config.width, p, ctx.rng_for("weights", s), ctx.rng_for("masks", s))
        curve = AccuracyCurve((x, y), (xt, yt), config.eval_every, config.epochs, val=(xv, yv))
        trainer = ctx.trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=config.lr),
                              label=f"p={p:g} seed {s}", callbacks=[curve], seed=ctx.seed + s)
        # the subset as its own arrays (the batches of Subset(train set, idx) have the same values), so that an
        # arm does not carry the whole training set
        loader = data.DataLoader(data.TensorDataset(x, y), batch_size=config.batch_size, shuffle=True,
                                 seed=ctx.seed + s)
        trainer.fit(loader, epochs=config.epochs)
        curve.train = curve.test = curve.val = None  # the curve goes back without the images it measured
        tr, te = curve.train_acc[-1], curve.test_acc[-1]  # after the last epoch
        be, ba = best_epoch(curve.epochs, curve.test_acc)
        ve, _ = best_epoch(curve.epochs, curve.val_acc)
        run = {"train": tr, "test": te, "gap": gap(tr, te), "curve": curve, "best_epoch": be, "best": ba,
               "val_epoch": ve, "early": curve.test_acc[curve.epochs.index(ve)],
               "final_loss": float(np.mean(trainer.history.loss[-len(loader):]))}
        rows = []
        if p == p1:  # the dropout network as an ensemble, at the end of training
            members = ensemble.DropoutEnsemble(model)
            ws = members.weight_scaling_proba(xt, batch_size=len(xt))
            rows = [{"p (drop)": p, "seed": s, "rule": "weight scaling", "k": None,
                     **prediction_scores(ws, yt), "test images": len(yt)}]
            for k, pr in members.mc_proba(xt, ks, ctx.rng_for("mc masks", s)).items():
                for rule in ("arithmetic", "geometric"):
                    rows.append({"p (drop)": p, "seed": s, "rule": f"MC {rule}", "k": k,
                                 **prediction_scores(pr[rule], yt), "test images": len(yt)})
        return run, rows

    items = [(p, s) for p in config.ps for s in range(S)]
    out = ctx.map(fit, items, label="runs")
    res: dict[float, list[dict]] = {p: [run for (q, _), (run, _) in zip(items, out) if q == p] for p in config.ps}
    ens_rows: list[dict] = [row for _, rows in out for row in rows]

    runs_rows = [{"p (drop)": p, "seed": s, "train accuracy": r["train"], "test accuracy": r["test"], "gap": r["gap"],
                  "best test accuracy": r["best"], "best epoch": r["best_epoch"],
                  "early-stop epoch (validation)": r["val_epoch"], "early-stopped test accuracy": r["early"],
                  "training loss, last epoch (with dropout)": r["final_loss"]}
                 for p in config.ps for s, r in enumerate(res[p])]
    records = {"each run": runs_rows, "ensemble": ens_rows}
    holds = verdicts(records, p0, p1)

    # -- claim texts
    g0, g1 = [r["gap"] for r in res[p0]], [r["gap"] for r in res[p1]]
    t0, t1 = [r["test"] for r in res[p0]], [r["test"] for r in res[p1]]
    tr0, tr1 = [r["train"] for r in res[p0]], [r["train"] for r in res[p1]]
    b0, b1 = [r["best"] for r in res[p0]], [r["best"] for r in res[p1]]
    e0, e1 = [r["early"] for r in res[p0]], [r["early"] for r in res[p1]]
    narrow = paired_lead(g1, g0)
    raise_ = paired_lead([-v for v in t1], [-v for v in t0])
    best = paired_lead([-v for v in b1], [-v for v in b0])
    early = paired_lead([-v for v in e1], [-v for v in e0])

    pm, diff_txt = format_mean_se, format_lead

    def noise_txt(r: dict) -> str:
        if not math.isfinite(r["se"]):
            return "no noise estimate from one seed"
        if abs(r["diff"]) > NOISE_SE * r["se"]:
            return f"beyond the noise (|difference| > {NOISE_SE:g} SE)"
        return f"within the noise (|difference| ≤ {NOISE_SE:g} SE)"

    def side(p) -> str:
        rr = res[p]
        return (f"p = {p:g}: train {pm([r['train'] for r in rr])}, test {pm([r['test'] for r in rr])}, gap "
                f"{pm([r['gap'] for r in rr])}")

    seeds_txt = f"{S} seed{'s' if S > 1 else ''}"
    cond = (f"{config.n_train:,} Fashion-MNIST training images (one random subset), {len(xt):,} test images, "
            f"784-{config.width}-{config.width}-10 ReLU (He-normal), dropout after each hidden layer, cross-entropy, "
            f"Adam η = {config.lr:g}, batch {config.batch_size}, {config.epochs} epochs, {seeds_txt} (per seed the "
            f"same weight draws and data order for every p); accuracies in eval mode (no units dropped); ± = "
            f"standard error over seeds")
    best_cond = (cond + f"; best epoch = where the test accuracy peaks among the epochs measured (every "
                 f"{config.eval_every}, from 0 to {config.epochs}) — an optimistic figure for both arms; early-stopped "
                 f"= the test accuracy at the epoch where the accuracy on {len(yv):,} held-out training images "
                 "(not among the training subset) peaks")
    epochs_txt = "; ".join(f"p = {p:g}: best epochs {', '.join(str(r['best_epoch']) for r in res[p])}"
                           for p in (p0, p1))
    early_txt = (f"early-stopped (epoch chosen on the held-out images) {pm(e0)} → {pm(e1)}: with − without = "
                 f"{diff_txt(early)}, {noise_txt(early)}")
    claims = [
        Claim("16a", f"Dropout (p = {p1:g}) narrows the gap between training and test accuracy on a small training "
                     f"set (verdict: the mean gap after the last epoch is smaller than without dropout)",
              holds["16a"],
              f"{side(p0)}; {side(p1)}; gap without − with dropout = {diff_txt(narrow)}: the training accuracy "
              f"changed by {float(np.mean(tr1) - np.mean(tr0)):+.4f}, the test accuracy by "
              f"{float(np.mean(t1) - np.mean(t0)):+.4f}", cond, figure="accuracy"),
        Claim("16b", f"… by more than the seed-to-seed noise (verdict: the mean of the per-seed reductions of the gap "
                     f"exceeds {NOISE_SE:g} standard errors of that mean; needs ≥ 2 seeds)",
              holds["16b"],
              f"gap without − with dropout = {diff_txt(narrow)}, " + noise_txt(narrow), cond, figure="gap"),
        Claim("16c", f"Dropout (p = {p1:g}) also raises the test accuracy after the last epoch — the question after "
                     "the notes' argument (model averaging generalises better), not their words (verdict: the mean "
                     "test accuracy is higher; whether beyond the noise is in the measured figure)",
              holds["16c"],
              f"test accuracy {pm(t0)} (p = {p0:g}) → {pm(t1)} (p = {p1:g}): with − without = {diff_txt(raise_)}, "
              + noise_txt(raise_)
              + f"; training accuracy {pm(tr0)} → {pm(tr1)}", cond, figure="accuracy"),
        Claim("16d", f"Dropout (p = {p1:g}) gives a higher test accuracy than no dropout also when each is taken at "
                     "its best epoch — so the narrower gap is not just underfitting, nor what stopping the plain "
                     "network early would give (verdict: the mean of the per-seed differences of the best-epoch test "
                     "accuracies > 0)",
              holds["16d"],
              f"best-epoch test accuracy {pm(b0)} (p = {p0:g}) → {pm(b1)} (p = {p1:g}): with − without = "
              f"{diff_txt(best)}, {noise_txt(best)}; {epochs_txt}; {early_txt}", best_cond, figure="accuracy"),
        Claim("16e", f"… by more than the seed-to-seed noise (verdict: the mean of the per-seed differences of the "
                     f"best-epoch test accuracies exceeds {NOISE_SE:g} standard errors; needs ≥ 2 seeds)",
              holds["16e"],
              f"best-epoch test accuracy with − without dropout = {diff_txt(best)}, {noise_txt(best)}; {early_txt}",
              best_cond, figure="accuracy"),
    ]

    ens = [r for r in ens_rows if r["p (drop)"] == p1]
    k_max = ks[-1]

    def ens_col(rule, key="accuracy", k=None):
        return [r[key] for r in sorted(ens, key=lambda r: r["seed"])
                if r["rule"] == rule and (k is None or r["k"] == k)]

    ws_acc = ens_col("weight scaling")
    band = binomial_se(float(np.mean(ws_acc)), len(yt))
    mc_d = paired_lead(ws_acc, ens_col("MC arithmetic", k=k_max))  # diff = MC − ws (accuracies)
    geo_d = float(np.mean(np.subtract(ens_col("MC geometric", k=k_max), ws_acc)))
    one = paired_lead([-v for v in ws_acc], [-v for v in ens_col("MC arithmetic", k=1)])
    within = [k for k in ks if abs(float(np.mean(np.subtract(ens_col("MC arithmetic", k=k), ws_acc)))) <= band]
    nll_txt = (f"test NLL: weight scaling {pm(ens_col('weight scaling', 'nll'))}, MC arithmetic k = {k_max} "
               f"{pm(ens_col('MC arithmetic', 'nll', k_max))}, geometric {pm(ens_col('MC geometric', 'nll', k_max))}, "
               f"k = 1 {pm(ens_col('MC arithmetic', 'nll', 1))}")
    ens_cond = (cond + f"; at the end of training the p = {p1:g} network predicts the test images by the weight-"
                "scaling rule (eval mode: inverted dropout already scaled the survivors by 1/(1 − p) in training) or "
                "by Monte-Carlo averaging of the softmax outputs of k sampled sub-networks (every Dropout samples a "
                "fresh mask per sub-network and per test image, as per training example in training, seeded; "
                "layerlab.ensemble.DropoutEnsemble); the first k "
                f"of {k_max} sampled sub-networks for each k in {', '.join(map(str, ks))}")
    claims += [
        Claim("16f", f"Dropout trains an ensemble of sub-networks that the full network stands for at test time: the "
                     "notes average the models' predictions at inference (bagging); Srivastava et al. 2014 found "
                     f"the weight-scaling rule as good as averaging k ≈ 50 sampled sub-networks (verdict: "
                     f"|acc(MC mean of k = {k_max}) − acc(weight scaling)|, mean over seeds, ≤ the binomial standard "
                     f"error √(a(1 − a)/n) of a test accuracy on these n images)",
              holds["16f"],
              f"weight scaling {pm(ws_acc)}, MC arithmetic mean of {k_max} {pm(ens_col('MC arithmetic', k=k_max))}: "
              f"MC − weight scaling = {diff_txt(mc_d)} vs the band ±{band:.4f}; geometric mean of {k_max}: "
              f"{pm(ens_col('MC geometric', k=k_max))} ({geo_d:+.4f}); MC within the band at k = "
              f"{', '.join(map(str, within)) if within else 'none'}; {nll_txt}", ens_cond, figure="ensemble"),
        Claim("16g", "… and the averaging is what the ensemble buys: one sampled sub-network (k = 1) predicts worse "
                     f"than the full network (verdict: weight scaling's test accuracy exceeds the k = 1 accuracy by "
                     f"more than {NOISE_SE:g} standard errors of the per-seed differences)",
              holds["16g"],
              f"k = 1: {pm(ens_col('MC arithmetic', k=1))} vs weight scaling {pm(ws_acc)}: weight scaling − k = 1 = "
              f"{diff_txt(one)}, {noise_txt(one)}; accuracy against k (arithmetic): "
              + ", ".join(f"{k}: {np.mean(ens_col('MC arithmetic', k=k)):.4f}" for k in ks),
              ens_cond, figure="ensemble"),
    ]

    # -- figures
    fig, axes = figures.new_figure(1, 1, panel=(5.0, 3.2), margins={"left": 0.75, "right": 1.6})
    ax = axes[0, 0]
    for i, p in enumerate(config.ps):
        c0 = res[p][0]["curve"]
        tr = np.mean([r["curve"].train_acc for r in res[p]], axis=0)
        te = np.mean([r["curve"].test_acc for r in res[p]], axis=0)
        color = figures.COLORS[i % len(figures.COLORS)]
        ax.plot(c0.epochs, tr, "--", color=color, linewidth=1.3, label=f"p = {p:g}: train")
        ax.plot(c0.epochs, te, "-", color=color, linewidth=1.5, marker="o", markersize=2.5, label=f"p = {p:g}: test")
        for r in res[p]:
            ax.plot([r["best_epoch"]], [r["best"]], "*", color=color, markersize=7)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (eval mode)")
    ax.set_title(f"training (dashed) and test (solid) accuracy, mean of {seeds_txt}")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ctx.savefig(fig, "accuracy", caption=f"Measured every {config.eval_every} epochs with the full network (no units "
                                         "dropped); the gap is the distance between a dashed and a solid line. Stars: "
                                         "each seed's best epoch (the peak of its test curve).")
    bars = {f"p = {p:g}": {"train": float(np.mean([r["train"] for r in res[p]])),
                           "test": float(np.mean([r["test"] for r in res[p]])),
                           "gap": float(np.mean([r["gap"] for r in res[p]])),
                           "best-epoch test": float(np.mean([r["best"] for r in res[p]]))} for p in config.ps}
    ctx.savefig(figures.bar_chart(bars, ylabel="accuracy / gap", fmt="{:.3f}",
                                  title=f"after {config.epochs} epochs, mean of {seeds_txt}"), "gap",
                caption="Training and test accuracy after the last epoch, their gap, and the test accuracy at the best "
                        "epoch, per drop probability.")
    ctx.savefig(_ensemble_figure(ens, ks, band, p1, len(yt), seeds_txt), "ensemble",
                caption="The dropout network as an ensemble: the Monte-Carlo average of k sampled sub-networks "
                        "(arithmetic and renormalised geometric mean of their softmax outputs) against the weight-"
                        "scaling rule (the eval-mode forward); grey band: ± the binomial standard error of the test "
                        "accuracy, 16f's threshold.")

    rows = [{"p (drop)": p, "train accuracy": mean_se([r["train"] for r in res[p]])[0],
             "test accuracy": mean_se([r["test"] for r in res[p]])[0],
             "gap": mean_se([r["gap"] for r in res[p]])[0], "gap ± SE": mean_se([r["gap"] for r in res[p]])[1],
             "gap per seed": ", ".join(f"{r['gap']:.3f}" for r in res[p]),
             "best test accuracy": mean_se([r["best"] for r in res[p]])[0],
             "early-stopped test accuracy": mean_se([r["early"] for r in res[p]])[0],
             "training loss, last epoch": float(np.mean([r["final_loss"] for r in res[p]]))} for p in config.ps]
    notes = [
        ("Both accuracies are measured in eval mode: the full network, every unit kept (inverted dropout scales the "
         "survivors by 1/(1 − p) during training, so no rescaling is needed — this is the weight-scaling rule). The "
         "training loss column is the mini-batch loss of the last epoch, with units dropped."),
        ("A gap can also narrow because the training accuracy falls (underfitting), and a plain network stopped early "
         "may generalise as well as a dropout network trained to the end: the best-epoch rows (16d, 16e) compare each "
         "arm at the epoch where its test accuracy peaks (measured every "
         f"{config.eval_every} epochs: an optimistic figure, the same for both arms), and the records add the test "
         "accuracy at the epoch chosen on held-out training images (early stopping as it is done in practice)."),
        (f"Ensemble: the Monte-Carlo average uses the first k of {k_max} sampled sub-networks (each test image gets "
         "its own k masks per Dropout layer, seeded); the geometric mean is the softmax of the mean log-probabilities "
         "(the normalised geometric mean, which for a single softmax layer the weight-scaling rule computes exactly — "
         "Srivastava et al. 2014, sec. 9; with hidden ReLU layers it is an approximation). The threshold of 16f, the "
         "binomial standard error √(a(1 − a)/n) of one test accuracy, is the resolution at which this test set "
         "measures accuracy at all."),
    ]
    return Result(claims=claims, records={"each p (mean over seeds)": rows, **records}, notes=notes)
