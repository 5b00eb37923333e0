"""Seeds 000/001/002: dropout as a regulariser (claim 16 of issue [lab]).

The notes (seed 001, after bagging): training k models on resampled data and averaging them
generalises better, but is expensive; dropout samples a thinned sub-network per mini-batch
(μ ~ Bernoulli, p = 0.5 in their figures) and all of them share the weights — an exponential
ensemble trained at the price of one network. On a small training set, where a plain network
fits the training images almost perfectly and generalises much worse, dropout should narrow
the gap between training and test accuracy.

Here: ``n_train`` Fashion-MNIST training images (the same random subset for every run),
784-500-500-10 ReLU with dropout after each hidden layer, Adam. For each drop probability p
and seed, the training and test accuracy at the end (both in eval mode: the full network,
no units dropped — how the network is used), their gap, and the curves over training. The
runs of one seed share the weight draws and the data order, so p = 0 and p > 0 are compared
seed by seed. Verdicts: the gap narrows; by more than the seed-to-seed noise (the mean of the
per-seed differences > ``NOISE_SE`` standard errors); and — not the notes' words but what a
reader wants to know next — whether the test accuracy rises too.

Note: layerlab's p is the probability of *dropping* a unit (PyTorch's convention, inverted
dropout: survivors scaled by 1/(1 − p) in training, the identity in eval mode); the notes'
μ ~ Bernoulli(p) keeps a unit with probability p. At p = 0.5 the two agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import data, nn, optim
from layerlab.train import Callback
from layerlab.lab import Claim, ConfigError, Context, Result, experiment, figures
from layerlab.lab.stats import NOISE_SE, mean_se, paired_lead
from layerlab.lab.training import fashion

__all__ = ["DropoutConfig", "dropout_mlp", "AccuracyCurve", "gap"]


@dataclass
class DropoutConfig:
    """784-width-width-10 ReLU (He-normal), dropout after each hidden layer, Adam, on a small training set."""

    n_train: int = 1000
    n_test: int = 10000           # test images (10,000: the whole test set)
    width: int = 500
    epochs: int = 60
    batch_size: int = 50
    lr: float = 1e-3
    seeds: int = 3                # CLAIMS.md used 2; a third gives the noise estimates two degrees of freedom
    ps: tuple[float, ...] = (0.0, 0.5)   # drop probabilities; the claim compares the first (0) with the last
    eval_every: int = 5           # epochs between two points of the accuracy curves
    QUICK: ClassVar[dict] = {"n_test": 2000, "width": 256, "epochs": 30, "seeds": 2}


def dropout_mlp(width: int, p: float, rng: np.random.Generator, dropout_rng: np.random.Generator | None = None,
                depth: int = 2) -> nn.Sequential:
    """``depth`` × (Linear(·, width, He-normal) → ReLU → Dropout(p)), then Linear(width, 10).

    The weights are drawn from ``rng`` layer by layer (the same draws whatever p); ``p = 0`` leaves the
    Dropout layers out. ``dropout_rng`` seeds the masks (a Trainer reseeds them from its seed anyway).
    """
    layers: list[nn.Module] = []
    fan_in = 784
    masks = dropout_rng if dropout_rng is not None else np.random.default_rng(0)
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width, init="he_normal", rng=rng), nn.ReLU()]
        if p:
            layers.append(nn.Dropout(p, rng=np.random.default_rng(masks.integers(2**63))))
        fan_in = width
    layers.append(nn.Linear(fan_in, 10, init="xavier_normal", rng=rng))
    return nn.Sequential(*layers)


def gap(train_accuracy: float, test_accuracy: float) -> float:
    """The generalisation gap: training minus test accuracy."""
    return float(train_accuracy) - float(test_accuracy)


class AccuracyCurve(Callback):
    """Training and test accuracy in eval mode (dropout off) at the start and every ``every`` epochs
    (and after the last one): ``epochs``, ``train``, ``test`` lists."""

    def __init__(self, train, test, every: int, epochs: int):
        self.train, self.test, self.every, self.last = train, test, int(every), int(epochs)
        self.epochs: list[int] = []
        self.train_acc: list[float] = []
        self.test_acc: list[float] = []

    def _measure(self, trainer, epoch: int) -> None:
        self.epochs.append(epoch)
        self.train_acc.append(trainer.evaluate(self.train)["accuracy"])
        self.test_acc.append(trainer.evaluate(self.test)["accuracy"])

    def on_fit_start(self, trainer):
        self._measure(trainer, 0)

    def on_epoch_end(self, trainer, epoch, logs):
        done = epoch + 1
        if done % self.every == 0 or done == self.last:
            self._measure(trainer, done)


def _check(config: DropoutConfig) -> None:
    if len(config.ps) < 2 or config.ps[0] != 0.0:
        raise ConfigError(f"experiment 'dropout': ps must start with 0 (no dropout, the baseline) and have at least "
                          f"one p > 0 to compare with; got {config.ps!r}")
    if config.eval_every < 1:
        raise ConfigError(f"experiment 'dropout': eval_every must be ≥ 1, got {config.eval_every}")


@experiment("dropout", order=16, topic="regularisation",
            summary="on 1,000 training images, 784-500-500-10 ReLU: dropout narrows the gap between training and "
                    "test accuracy; does it raise test accuracy? (claim 16)")
def run(config: DropoutConfig, ctx: Context) -> Result:
    """Seeds 000-002: dropout on a small training set — training vs test accuracy with and without it."""
    _check(config)
    (x_all, y_all), (xt_all, yt_all) = fashion()
    idx = np.sort(ctx.rng_for("subset").choice(len(x_all), config.n_train, replace=False))
    train_set = data.Subset(data.TensorDataset(x_all, y_all), idx)
    x, y = train_set.get_batch(np.arange(len(train_set)))
    tidx = ctx.rng_for("test").choice(len(xt_all), min(config.n_test, len(xt_all)), replace=False)
    xt, yt = xt_all[tidx], yt_all[tidx]

    res: dict[float, list[dict]] = {}
    for p in config.ps:
        runs = []
        for s in range(config.seeds):
            model = dropout_mlp(config.width, p, ctx.rng_for("weights", s), ctx.rng_for("masks", s))
            curve = AccuracyCurve((x, y), (xt, yt), config.eval_every, config.epochs)
            trainer = ctx.trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=config.lr),
                                  label=f"p={p:g} seed {s}", callbacks=[curve], seed=ctx.seed + s)
            loader = data.DataLoader(train_set, batch_size=config.batch_size, shuffle=True, seed=ctx.seed + s)
            trainer.fit(loader, epochs=config.epochs)
            tr, te = curve.train_acc[-1], curve.test_acc[-1]  # after the last epoch
            runs.append({"train": tr, "test": te, "gap": gap(tr, te), "curve": curve,
                         "final_loss": float(np.mean(trainer.history.loss[-len(loader):]))})
        res[p] = runs

    p0, p1 = config.ps[0], config.ps[-1]
    S = config.seeds
    g0, g1 = [r["gap"] for r in res[p0]], [r["gap"] for r in res[p1]]
    t0, t1 = [r["test"] for r in res[p0]], [r["test"] for r in res[p1]]
    tr0, tr1 = [r["train"] for r in res[p0]], [r["train"] for r in res[p1]]
    narrow = paired_lead(g1, g0)        # > 0: the gap with dropout is smaller
    raise_ = paired_lead([-v for v in t1], [-v for v in t0])  # > 0: the test accuracy with dropout is higher

    def pm(values) -> str:
        m, se = mean_se(values)
        return f"{m:.3f}" + (f" ± {se:.3f}" if math.isfinite(se) else "")

    def diff_txt(r: dict) -> str:
        out = f"{r['diff']:+.4f}"
        if math.isfinite(r["se"]):
            ratio = r["diff"] / r["se"] if r["se"] > 0 else math.copysign(math.inf, r["diff"])
            out += f" ± {r['se']:.4f} ({ratio:+.1f} SE)"
        return out + " (per seed " + ", ".join(f"{v:+.4f}" for v in r["d"]) + ")"

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
            f"same weight draws and data order for every p); accuracies after the last epoch in eval mode (no units "
            f"dropped); ± = standard error over seeds")
    claims = [
        Claim("16a", f"Dropout (p = {p1:g}) narrows the gap between training and test accuracy on a small training "
                     f"set (verdict: the mean gap is smaller than without dropout)",
              bool(narrow["diff"] > 0),
              f"{side(p0)}; {side(p1)}; gap without − with dropout = {diff_txt(narrow)}: the training accuracy "
              f"changed by {float(np.mean(tr1) - np.mean(tr0)):+.4f}, the test accuracy by "
              f"{float(np.mean(t1) - np.mean(t0)):+.4f}", cond, figure="accuracy"),
        Claim("16b", f"… by more than the seed-to-seed noise (verdict: the mean of the per-seed reductions of the gap "
                     f"exceeds {NOISE_SE:g} standard errors of that mean; needs ≥ 2 seeds)",
              narrow["beyond"],
              f"gap without − with dropout = {diff_txt(narrow)}, " + noise_txt(narrow), cond, figure="gap"),
        Claim("16c", f"Dropout (p = {p1:g}) also raises the test accuracy — the question after the notes' argument "
                     "(model averaging generalises better), not their words (verdict: the mean test accuracy is "
                     "higher; whether beyond the noise is in the measured figure)",
              bool(raise_["diff"] > 0),
              f"test accuracy {pm(t0)} (p = {p0:g}) → {pm(t1)} (p = {p1:g}): with − without = {diff_txt(raise_)}, "
              + noise_txt(raise_)
              + f"; training accuracy {pm(tr0)} → {pm(tr1)}", cond, figure="accuracy"),
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
        ax.plot(c0.epochs, te, "-", color=color, linewidth=1.5, marker="o", markersize=3, label=f"p = {p:g}: test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (eval mode)")
    ax.set_title(f"training (dashed) and test (solid) accuracy, mean of {seeds_txt}")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ctx.savefig(fig, "accuracy", caption=f"Measured every {config.eval_every} epochs with the full network (no units "
                                         "dropped); the gap is the distance between a dashed and a solid line.")
    bars = {f"p = {p:g}": {"train": float(np.mean([r["train"] for r in res[p]])),
                           "test": float(np.mean([r["test"] for r in res[p]])),
                           "gap": float(np.mean([r["gap"] for r in res[p]]))} for p in config.ps}
    ctx.savefig(figures.bar_chart(bars, ylabel="accuracy / gap", fmt="{:.3f}",
                                  title=f"after {config.epochs} epochs, mean of {seeds_txt}"), "gap",
                caption="Training and test accuracy after the last epoch and their gap, per drop probability.")

    rows = [{"p (drop)": p, "train accuracy": mean_se([r["train"] for r in res[p]])[0],
             "test accuracy": mean_se([r["test"] for r in res[p]])[0],
             "gap": mean_se([r["gap"] for r in res[p]])[0], "gap ± SE": mean_se([r["gap"] for r in res[p]])[1],
             "gap per seed": ", ".join(f"{r['gap']:.3f}" for r in res[p]),
             "training loss, last epoch": float(np.mean([r["final_loss"] for r in res[p]]))} for p in config.ps]
    runs_rows = [{"p (drop)": p, "seed": s, "train accuracy": r["train"], "test accuracy": r["test"], "gap": r["gap"],
                  "best test accuracy (curve)": max(r["curve"].test_acc),
                  "training loss, last epoch (with dropout)": r["final_loss"]}
                 for p in config.ps for s, r in enumerate(res[p])]
    notes = [
        ("Both accuracies are measured in eval mode after the last epoch: the full network, every unit kept (inverted "
        "dropout scales the survivors by 1/(1 − p) during training, so no rescaling is needed). The training loss "
        "column is the mini-batch loss of the last epoch, with units dropped."),
        ("A gap can also narrow because the training accuracy falls (underfitting); the test accuracy (claim 16c) "
        "says whether the narrower gap is worth having."),
    ]
    return Result(claims=claims, records={"each p (mean over seeds)": rows, "each run": runs_rows}, notes=notes)
