"""Seeds 003 and 004: the activation functions compared (claim 15 of issue [lab]).

The notes (seed 004): ReLU has "better performance than Sigmoid or Tan[h] in almost all
models", tanh "faster convergence" than sigmoid ("steeper … zero centric output"), and
sigmoid "becomes sluggish … the network refuses to learn further or is drastically slow".
Here the same 784-256-256-10 network is trained with each activation of the notes (drawn
from the registry ``nn.ACTIVATIONS``), with the same data order and the same underlying
weight draws per seed (He init for the rectifiers, Xavier for the others: only the scale
differs), and measured:

- the loss after N steps (mean of the last ``tail`` mini-batch losses) and over the whole run
  (mean of all N losses: the area under the loss curve);
- at the end, on fixed test images: the accuracy, the fraction of *dead* units (ReLU family:
  output 0 on every image) and of *saturated* entries (sigmoid/tanh: within 3% of an end of
  the range; ReLU6: of 6), as :class:`~layerlab.probes.ActivationStats` counts them, and for
  every activation the fraction of entries with |f′(a)| < ``FLAT_DF`` (from its own ``df``),
  the gradient-starved entries whatever their cause;
- the CPU time per step (``time.process_time`` around each step: forward, backward, update).

Each part of the claim is its own verdict: sigmoid is the worst (15a); the ReLU family is
ahead of sigmoid (15b) and of tanh (15c) after N steps; that lead over tanh is larger than
the seed-to-seed noise (15d: the mean of the per-seed differences > ``NOISE_SE`` standard
errors — the runs of a seed are paired); and it holds over the whole run, not only at step N
(15e). Timing is reported, never judged. The figure of f and f′ for every registered
activation is drawn from the classes' own ``f`` and ``df``.

Not trained: the binary step (f′ = 0 everywhere, so no gradient reaches the hidden layers),
Swish (with its default β = 1 it is SiLU, trained as ``silu``), softmax and log-softmax
(output activations). All of them are in the figure of f and f′.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import layerlab as ll

from layerlab import data, nn, optim
from layerlab.probes import ActivationStats
from layerlab.train import Callback, NonFiniteError
from layerlab.lab import Claim, ConfigError, Context, Result, experiment, figures
from layerlab.lab.stats import FLAT_DF, NOISE_SE, mean_se, paired_lead, running_mean, tail_mean, unit_fractions
from layerlab.lab.training import fashion, mlp

__all__ = [
    "ActivationsConfig", "ACTIVATIONS", "RELU_FAMILY", "HE_INIT", "rank", "plot_functions", "StepClock",
]

#: the activations of the notes that are trained (registry names); ``identity`` is the notes' linear
#: activation, a baseline: the net is then a linear classifier
ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "prelu", "relu6", "elu", "selu", "gelu", "silu",
               "mish", "softplus", "lisht")
#: He init for these rectifiers (the CLAIMS.md set-up), Xavier for the others
HE_INIT = ("relu", "leaky_relu", "prelu", "relu6", "elu")
#: "the ReLU family" of the claim: the notes' rectifier slides (seed 003: ReLU, Leaky ReLU, ELU)
RELU_FAMILY = ("relu", "leaky_relu", "elu")


@dataclass
class ActivationsConfig:
    """784-width-width-10, cross-entropy, plain SGD on Fashion-MNIST (inputs in [0, 1])."""

    activations: tuple[str, ...] = ACTIVATIONS
    relu_family: tuple[str, ...] = RELU_FAMILY
    he_init: tuple[str, ...] = HE_INIT
    width: int = 256
    iterations: int = 400
    batch_size: int = 128
    lr: float = 0.1
    seeds: int = 3                # CLAIMS.md used 2; a third gives the noise estimate of 15d two degrees of freedom
    tail: int = 50
    n_eval: int = 2000            # test images for accuracy and the dead / saturated / f′ ≈ 0 fractions
    QUICK: ClassVar[dict] = {"activations": ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "silu"),
                             "iterations": 200, "seeds": 2, "n_eval": 1000}


# -- the verdicts' arithmetic (plain functions of the measured numbers) -----------------------------------------
def rank(final: dict[str, float]) -> list[str]:
    """Names from the lowest to the highest loss; a diverged run (NaN) ranks last."""
    return sorted(final, key=lambda n: (math.isnan(final[n]), final[n] if not math.isnan(final[n]) else 0.0))


class StepClock(Callback):
    """CPU time of each training step (``time.process_time`` from ``on_batch_start`` to ``on_batch_end``),
    and a stop after ``steps`` steps. Put it right after the Trainer's History
    (``trainer.callbacks.insert(1, clock)``) so that the store logging is not timed."""

    def __init__(self, steps: int):
        self.steps = int(steps)
        self.times: list[float] = []
        self._t0 = 0.0

    def on_batch_start(self, trainer, step, batch):
        self._t0 = time.process_time()

    def on_batch_end(self, trainer, step, logs):
        self.times.append(time.process_time() - self._t0)
        if trainer.step >= self.steps:
            trainer.stop_training = True


# -- figures --------------------------------------------------------------------------------------------------------
def _curve_style(i: int) -> dict:
    """A colour of the lab's palette and a line style: 16 distinct lines."""
    return {"color": figures.COLORS[i % len(figures.COLORS)], "linestyle": ("-", "--")[(i // len(figures.COLORS)) % 2]}


def plot_functions(names=None, z_range: tuple[float, float] = (-7.0, 7.0), cols: int = 4):
    """f (solid) and f′ (dashed) of every registered activation (default: all of ``nn.ACTIVATIONS``),
    computed by the classes' own ``f`` and ``df``. Softmax and log-softmax, which are not elementwise,
    are drawn as h([z, 0])₀ (the notes' two-class softmax = σ(z)) with the Jacobian's diagonal ∂h₀/∂z₀."""
    names = list(nn.ACTIVATIONS) if names is None else list(names)
    rows = -(-len(names) // cols)
    fig, axes = figures.new_figure(rows, cols, panel=(2.3, 1.55), title="f (solid) and f′ (dashed), from each "
                                   "class's f and df", margins={"hspace": 0.6, "wspace": 0.45})
    z = np.linspace(*z_range, 601)  # an odd count: z = 0 exactly, where the kinks' conventions show
    for ax, name in zip(axes.ravel(), names):
        act = nn.activation(name)
        if getattr(act, "elementwise", True):
            f = act.f(z)
            d = act.df(z, f)
            title = name
        else:
            zz = np.stack([z, np.zeros_like(z)], axis=-1)
            y = act.f(zz)
            f, d = y[:, 0], act.df(zz, y)[:, 0]
            title = f"{name}([z, 0])₀"
        if name == "prelu":
            title += f" (α = {float(act.weight.data[0]):g})"
        elif name in ("leaky_relu", "elu"):
            title += f" (α = {act.alpha:g})"
        elif name == "swish":
            title += f" (β = {act.beta:g})"
        ax.axhline(0, color="0.6", linewidth=0.6)
        ax.axvline(0, color="0.6", linewidth=0.6)
        ax.plot(z, f, color=figures.COLORS[0], linewidth=1.4, label="f")
        ax.plot(z, d, "--", color=figures.COLORS[1], linewidth=1.2, label="f′")
        ax.set_title(title)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    axes[0, 0].legend(frameon=False, fontsize=7, loc="upper left")
    return fig


def _loss_figure(curves: dict[str, np.ndarray], smooth: int, title: str):
    fig, axes = figures.new_figure(1, 1, panel=(5.6, 3.4), margins={"left": 0.75, "right": 1.5})
    ax = axes[0, 0]
    for i, (name, y) in enumerate(curves.items()):
        ys = running_mean(np.asarray(y, dtype=np.float64), smooth)
        ax.plot(np.arange(len(ys)), ys, linewidth=1.3, label=name, **_curve_style(i))
    ax.set_ylim(0.0, 2.5)
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"training loss (running mean of {smooth})")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _final_figure(order: list[str], per_seed: dict[str, list[float]], family, tail: int, title: str):
    """Horizontal bars of the mean final loss, with the range over seeds as error bars."""
    fig, axes = figures.new_figure(1, 1, panel=(4.2, 0.28 * len(order) + 0.4),
                                   margins={"left": 1.0, "right": 0.6, "top": 0.4})
    ax = axes[0, 0]
    pos = np.arange(len(order))
    vals = [float(np.mean(per_seed[n])) for n in order]
    lo = [v - float(np.min(per_seed[n])) for v, n in zip(vals, order)]
    hi = [float(np.max(per_seed[n])) - v for v, n in zip(vals, order)]
    colors = [figures.COLORS[2] if n in family else figures.COLORS[1] if n in ("sigmoid", "tanh") else "0.6"
              for n in order]
    finite = np.nan_to_num(vals, nan=0.0)
    ax.barh(pos, finite, color=colors, xerr=[np.nan_to_num(lo), np.nan_to_num(hi)], ecolor="0.2", capsize=2)
    for p, v, h in zip(pos, vals, hi):
        ax.text((0 if math.isnan(v) else v + h) + 0.015, p, "diverged" if math.isnan(v) else f"{v:.3f}",
                va="center", fontsize=7)
    ax.set_yticks(pos, order)
    ax.invert_yaxis()
    ax.set_xlabel(f"mean loss of the last {tail} iterations (bars: range over seeds)")
    ax.set_title(title)
    return fig


# -- the experiment -------------------------------------------------------------------------------------------------
def _check(config: ActivationsConfig) -> None:
    need = {"sigmoid", "tanh", *config.relu_family}
    missing = sorted(need - set(config.activations))
    if missing:
        raise ConfigError(f"experiment 'activations': activations must include sigmoid, tanh and the ReLU family "
                          f"{', '.join(config.relu_family)} (the claim compares them); missing {', '.join(missing)}")
    for name in config.activations:
        nn.activation(name)  # an unknown name fails here, with the registry's list
    if not 1 <= config.tail <= config.iterations:
        raise ConfigError(f"experiment 'activations': tail must be in [1, iterations={config.iterations}], "
                          f"got {config.tail}")


def _train_one(ctx: Context, config: ActivationsConfig, name: str, s: int, x, y) -> dict:
    init = "he_normal" if name in config.he_init else "xavier_normal"
    # the same weight stream for every activation of a seed: the draws are shared, only the scale differs
    model = mlp([784, config.width, config.width, 10], name, init, ctx.rng_for("weights", s))
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=config.batch_size, shuffle=True, seed=ctx.seed + s)
    trainer = ctx.trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=config.lr),
                          label=f"{name} seed {s}", seed=ctx.seed + s)
    clock = StepClock(config.iterations)
    trainer.callbacks.insert(1, clock)  # right after History: the store logging is not timed
    diverged = None
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            trainer.fit(loader, epochs=-(-config.iterations // len(loader)))
        except NonFiniteError:
            diverged = trainer.step
    losses = [r["loss"] for r in trainer.history.steps]
    if diverged is not None:
        losses.append(math.nan)
    return {"model": model, "losses": np.asarray(losses, dtype=np.float64), "diverged": diverged,
            "tail": tail_mean(losses, config.tail), "auc": tail_mean(losses, len(losses)), "times": clock.times,
            "init": init}


def _fmt_layers(values) -> str:
    """Per-layer fractions as percentages, "—" where the notion does not apply."""
    if any(v is None for v in values):
        return "—"
    return " / ".join(f"{100 * v:.1f}%" for v in values)


@experiment("activations", order=15, topic="activation functions",
            summary="the same 784-256-256-10 net trained with every activation of the notes: loss after N steps, "
                    "dead/saturated fractions, CPU time per step; sigmoid worst, ReLU family vs tanh (claim 15)")
def run(config: ActivationsConfig, ctx: Context) -> Result:
    """Seeds 003/004: every activation of the notes in the same network, trained the same way."""
    _check(config)
    (x, y), (xt, yt) = fashion()
    idx = ctx.rng_for("eval").choice(len(xt), min(config.n_eval, len(xt)), replace=False)
    x_eval, y_eval = xt[idx], yt[idx]
    names, S = list(config.activations), config.seeds
    res: dict[str, list[dict]] = {}
    for name in names:
        runs = []
        for s in range(S):
            r = _train_one(ctx, config, name, s, x, y)
            with ll.no_grad(), np.errstate(all="ignore"):
                out = r["model"](ll.Tensor(x_eval)).data
            r["test_accuracy"] = float(np.mean(out.argmax(axis=1) == y_eval))
            r["layers"] = unit_fractions(r["model"], x_eval)
            del r["model"]
            runs.append(r)
        res[name] = runs

    per_seed = {n: [r["tail"] for r in res[n]] for n in names}
    final = {n: float(np.mean(v)) for n, v in per_seed.items()}
    order = rank(final)
    fam = list(config.relu_family)

    def fam_of(key: str) -> list[float]:  # per seed, the mean over the family's members
        return [float(np.mean([res[n][s][key] for n in fam])) for s in range(S)]

    fam_seed = fam_of("tail")
    vs_sig, vs_tanh = paired_lead(fam_seed, per_seed["sigmoid"]), paired_lead(fam_seed, per_seed["tanh"])
    vs_tanh_auc = paired_lead(fam_of("auc"), [r["auc"] for r in res["tanh"]])

    def pm(name_or_values) -> str:
        m, se = mean_se(per_seed[name_or_values] if isinstance(name_or_values, str) else name_or_values)
        return f"{m:.3f}" + (f" ± {se:.3f}" if math.isfinite(se) else "")

    def pm_lead(r: dict) -> str:
        out = f"{r['diff']:+.4f}"
        if math.isfinite(r["se"]):
            ratio = r["diff"] / r["se"] if r["se"] > 0 else math.copysign(math.inf, r["diff"])
            out += f" ± {r['se']:.4f} ({ratio:+.1f} SE)"
        return out + " (per seed " + ", ".join(f"{v:+.4f}" for v in r["d"]) + ")"

    fam_txt = ", ".join(fam)
    seeds_txt = f"{S} seed{'s' if S > 1 else ''}"
    cond = (f"Fashion-MNIST (inputs in [0, 1]), 784-{config.width}-{config.width}-10, cross-entropy, plain SGD "
            f"η = {config.lr:g}, batch {config.batch_size}, {config.iterations} iterations, {seeds_txt} (per seed: the "
            f"same data order and the same weight draws for every activation); He-normal init for "
            f"{', '.join(n for n in names if n in config.he_init)}, Xavier-normal for the others; loss after N steps "
            f"= mean of the last {config.tail} mini-batch losses; ± = standard error over seeds, of a difference: of "
            f"the per-seed differences")
    diverged = [n for n in names if any(r["diverged"] is not None for r in res[n])]
    div_txt = f"; diverged (loss NaN): {', '.join(diverged)}" if diverged else ""
    ranking = ", ".join(f"{n} {final[n]:.3f}" for n in order)

    claims = []
    runner_up = next(n for n in reversed(order) if n != "sigmoid")
    claims.append(Claim(
        "15a", f"Sigmoid is the worst activation: the highest loss after {config.iterations} steps of the "
               f"{len(names)} trained (verdict: the highest mean loss over seeds)",
        bool(order[-1] == "sigmoid"),
        f"sigmoid {pm('sigmoid')}; the next worst, {runner_up}, {pm(runner_up)}: sigmoid higher by "
        f"{pm_lead(paired_lead(per_seed[runner_up], per_seed['sigmoid']))}; ranking, best first: {ranking}{div_txt}",
        cond, figure="final"))
    claims.append(Claim(
        "15b", f"The ReLU family ({fam_txt}) converges faster than sigmoid: a lower loss after {config.iterations} "
               "steps (verdict: the family's mean loss is lower)",
        bool(vs_sig["diff"] > 0),
        f"ReLU family {pm(fam_seed)} vs sigmoid {pm('sigmoid')}: sigmoid − family = {pm_lead(vs_sig)}",
        cond, figure="loss"))
    members = ", ".join(f"{n} {pm(n)} ({paired_lead(per_seed[n], per_seed['tanh'])['diff']:+.4f})" for n in fam)
    claims.append(Claim(
        "15c", f"The ReLU family ({fam_txt}) converges faster than tanh: a lower loss after {config.iterations} steps "
               "(verdict: the family's mean loss is lower)",
        bool(vs_tanh["diff"] > 0),
        f"ReLU family {pm(fam_seed)} vs tanh {pm('tanh')}: tanh − family = {pm_lead(vs_tanh)}, "
        f"{abs(vs_tanh['diff']) / final['tanh']:.1%} of tanh's loss; each member (its lead over tanh): {members}",
        cond, figure="lead"))
    common = max(mean_se(per_seed["tanh"])[1], mean_se(fam_seed)[1])
    common_txt = (f"; for scale, each loss moves by ±{common:.4f} (SE) from seed to seed, mostly in common — the "
                  "runs of a seed see the same batches" if math.isfinite(common) else "")
    claims.append(Claim(
        "15d", f"… and that lead over tanh is larger than the seed-to-seed noise (verdict: the mean of the per-seed "
               f"leads exceeds {NOISE_SE:g} standard errors of that mean; the runs of a seed share the data order and "
               "the weight draws, so the comparison is seed by seed; needs ≥ 2 seeds)",
        vs_tanh["beyond"],
        f"lead (tanh − family) {pm_lead(vs_tanh)}{common_txt}", cond, figure="lead"))
    claims.append(Claim(
        "15e", f"The ReLU family converges faster than tanh over the whole run, not only at step {config.iterations} "
               f"(verdict: a lower mean loss over all {config.iterations} iterations, the area under the loss curve)",
        bool(vs_tanh_auc["diff"] > 0),
        f"mean loss over the run: ReLU family {pm(fam_of('auc'))}, tanh {pm([r['auc'] for r in res['tanh']])}: "
        f"tanh − family = {pm_lead(vs_tanh_auc)}", cond, figure="lead"))

    # -- figures
    T = config.iterations + 1  # a diverged run ends with a NaN; pad it to the length of the others
    pad = {n: [np.pad(r["losses"], (0, max(0, T - len(r["losses"]))), constant_values=np.nan)[:T] for r in res[n]]
           for n in names}
    mean_curves = {n: np.mean(pad[n], axis=0) for n in order}
    ctx.savefig(_loss_figure(mean_curves, 10, f"training loss, mean of {seeds_txt}"), "loss",
                caption="Every activation on one axis, in the order of the final loss (best first); running mean "
                        "over 10 iterations.")
    ctx.savefig(_final_figure(order, per_seed, fam, config.tail,
                              f"loss after {config.iterations} steps, mean of {seeds_txt}"), "final",
                caption=f"Green: the ReLU family of the claim ({fam_txt}); orange: sigmoid and tanh.")
    w = config.tail
    lead_curves = {}
    for s in range(S):
        fam_curve = np.mean([pad[n][s] for n in fam], axis=0)
        lead_curves[f"seed {s}"] = running_mean(pad["tanh"][s] - fam_curve, w)
    if S > 1:
        lead_curves["mean"] = np.mean(list(lead_curves.values()), axis=0)
    fig = figures.loss_curves(lead_curves, ylabel=f"tanh − ReLU family (running mean of {w})",
                              title="the ReLU family's lead over tanh (> 0: ahead)")
    fig.axes[0].axhline(0, color="0.3", linewidth=0.8)
    ctx.savefig(fig, "lead", caption="The difference of the training losses, per seed: where it is above 0 the "
                                     "ReLU family is ahead.")
    ctx.savefig(plot_functions(), "functions",
                caption="Every activation of the registry, drawn from its class's f and df (the same code the "
                        "networks run); parametric ones at their initial parameter.")

    # -- tables
    rows, runs_rows = [], []
    for n in order:
        rr = res[n]
        L = len(rr[0]["layers"])
        dead = [None if rr[0]["layers"][k]["dead"] is None else float(np.mean([r["layers"][k]["dead"] for r in rr]))
                for k in range(L)]
        sat = [None if rr[0]["layers"][k]["saturated"] is None
               else float(np.mean([r["layers"][k]["saturated"] for r in rr])) for k in range(L)]
        flat = [float(np.mean([r["layers"][k]["flat"] for r in rr])) for k in range(L)]
        m, se = mean_se(per_seed[n])
        rows.append({
            "activation": n, "init": rr[0]["init"].split("_")[0],
            f"loss after {config.iterations} it.": m, "± SE": se,
            "per seed": ", ".join(f"{v:.3f}" for v in per_seed[n]),
            "mean loss over the run": float(np.mean([r["auc"] for r in rr])),
            "test accuracy": float(np.mean([r["test_accuracy"] for r in rr])),
            "dead (l1 / l2)": _fmt_layers(dead), "saturated (l1 / l2)": _fmt_layers(sat),
            f"|f′| < {FLAT_DF:g} (l1 / l2)": _fmt_layers(flat),
            "CPU ms / step (median)": 1000 * float(np.median(np.concatenate([r["times"] for r in rr]))),
        })
        for s, r in enumerate(rr):
            runs_rows.append({"activation": n, "seed": s, "loss": r["tail"], "mean loss over the run": r["auc"],
                              "first loss": float(r["losses"][0]),
                              "diverged at step": r["diverged"], "test accuracy": r["test_accuracy"],
                              "CPU ms / step (median)": 1000 * float(np.median(r["times"])),
                              "CPU ms / step (mean)": 1000 * float(np.mean(r["times"]))})
    notes = [
        (f"Loss after N steps is the mean of the last {config.tail} mini-batch training losses (the quantity of the "
        "CLAIMS.md reference), so it measures how fast each activation converges, not its final quality."),
        ("Dead: a ReLU-family unit whose output is 0 on every one of the evaluation images. Saturated: entries within "
        "3% of an end of a bounded activation's range (|h| > 0.97 for tanh; h < 0.03 or > 0.97 for sigmoid; h > 5.82 "
        f"for ReLU6). '—': the notion does not apply. |f′| < {FLAT_DF:g}: entries whose local gradient is nearly 0 "
        "whatever the cause — for ReLU every negative input (the notes: 'its derivative is 0 for half of the values "
        "of the input'), for LeakyReLU too (slope 0.01), for sigmoid/tanh the saturated tails."),
        ("CPU time per step is time.process_time around each step (forward, backward, SGD update, the accuracy of the "
        "batch), the median over all steps; it is reported, not judged: it depends on the machine's load and on "
        f"layerlab's NumPy kernels, and most of a step is the 784×{config.width} matrix products, the same for every "
        "activation."),
        ("Not trained: binary_step (f′ = 0 everywhere: nothing below the output layer learns), swish (with β = 1 it "
        "is silu), softmax/log_softmax (output activations)."),
    ]
    return Result(claims=claims, records={"each activation (mean over seeds)": rows, "each run": runs_rows},
                  notes=notes)
