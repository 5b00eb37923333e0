"""Seeds 001, 003 and 004: the activation functions compared (claim 15 of issue [lab]).

The notes (seed 004): ReLU has "better performance than Sigmoid or Tan[h] in almost all
models", tanh "faster convergence" than sigmoid ("steeper … zero centric output"), and
sigmoid "becomes sluggish … the network refuses to learn further or is drastically slow";
seed 001: ReLU "in practice converges much faster than sigmoid/tanh" (citing Krizhevsky et
al. 2012, whose "six times faster" counts iterations to a fixed training error).

Here the same 784-256-256-10 network is trained with every activation of the registry
``nn.ACTIVATIONS`` that can be trained as a hidden layer (resolved when the experiment runs:
a new ``nn.Activation`` subclass with a ``name`` is trained and drawn with nothing else
edited — see :func:`hidden_activations` for the rule), with the same data order and the same
underlying weight draws per seed (He init for the rectifiers, Xavier for every other one:
only the scale differs), and measured:

- the loss after N steps (mean of the last ``tail`` mini-batch losses) and over the whole run
  (mean of all N losses: the area under the loss curve);
- "much faster" by the lab's one definition (:func:`layerlab.lab.stats.much_faster`: the fast
  run reaches the slow run's final loss in at most half the steps), on the seed-mean loss
  curves, at several run lengths (the first n steps of a constant-η SGD run *are* a run of n
  steps with the same seed), so that a verdict that flips with the run length shows;
- at the end, on fixed test images: the accuracy, the fraction of *dead* units and of
  *saturated* entries (from the classes' ``can_die`` / ``saturates`` traits, as
  :class:`~layerlab.probes.ActivationStats` counts them), and for every activation the
  fraction of entries with |f′(a)| < ``FLAT_DF`` (from its own ``df``);
- the CPU time per step (``time.process_time`` around each step: forward, backward, update).

Each part of the claim is its own verdict (:func:`verdicts`, a plain function of the records):
sigmoid is the worst (15a); the ReLU family has a lower loss than sigmoid after N steps (15b);
ReLU trains much faster than tanh (15c-tanh@n) and than sigmoid (15c-sigmoid@n) at each run
length n; the ReLU family's loss after N steps is lower than tanh's by more than the seed noise
(15d: the mean of the per-seed differences > ``NOISE_SE`` standard errors — the runs of a seed
are paired); and over the whole run (15e). Timing is reported, never judged. The figure of f and
f′ of every registered activation (the atlas) is drawn from the classes' own ``f`` and ``df``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import layerlab as ll

from layerlab import data, nn, optim
from layerlab.train import Callback, NonFiniteError
from layerlab.lab import Claim, ConfigError, Context, Result, experiment, figures
from layerlab.lab import stats
from layerlab.lab.stats import (FLAT_DF, MUCH_FASTER, NOISE_SE, mean_se, much_faster, paired_lead, running_mean,
                                tail_mean, unit_fractions)
from layerlab.lab.training import fashion, mlp

__all__ = [
    "ActivationsConfig", "QUICK_ACTIVATIONS", "RELU_FAMILY", "HE_INIT", "hidden_activations", "why_not_trained",
    "rank", "run_lengths", "verdicts", "much_faster_holds", "plot_functions", "StepClock",
]

#: the quick variant's activations (the default, ``()``, is every trainable registered activation)
QUICK_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "silu")
#: He init for these rectifiers (the CLAIMS.md set-up); Xavier for every other activation, a new one included
HE_INIT = ("relu", "leaky_relu", "prelu", "relu6", "elu")
#: "the ReLU family" of the claim: the notes' rectifier slides (seed 003: ReLU, Leaky ReLU, ELU)
RELU_FAMILY = ("relu", "leaky_relu", "elu")
#: where an activation's f and f′ are examined to decide whether it can be trained (z = 0 included)
GRID = np.linspace(-6.0, 6.0, 241)


@dataclass
class ActivationsConfig:
    """784-width-width-10, cross-entropy, plain SGD on Fashion-MNIST (inputs in [0, 1])."""

    activations: tuple[str, ...] = ()   # () = every registered activation trainable as a hidden layer, at run time
    relu_family: tuple[str, ...] = RELU_FAMILY
    he_init: tuple[str, ...] = HE_INIT
    fast: str = "relu"                  # the activation of the "much faster" claim (seed 001: ReLU)
    run_lengths: tuple[int, ...] = ()   # "much faster" judged at these run lengths; () = (N/2, N)
    width: int = 256
    iterations: int = 400
    batch_size: int = 128
    lr: float = 0.1
    seeds: int = 3                # CLAIMS.md used 2; a third gives the noise estimate of 15d two degrees of freedom
    tail: int = 50
    n_eval: int = 2000            # test images for accuracy and the dead / saturated / f′ ≈ 0 fractions
    QUICK: ClassVar[dict] = {"activations": QUICK_ACTIVATIONS, "iterations": 200, "seeds": 2, "n_eval": 1000}

    def validate(self) -> None:
        """Checked by the runner before the run starts (a rejected config never becomes a run)."""
        _check(self, _resolve(self)[0])


# -- which activations are trained (the registry, read when the experiment runs) ------------------------------------
def _on_grid(act) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        f = np.asarray(act.f(GRID.copy()), dtype=np.float64)
        return f, np.asarray(act.df(GRID.copy(), f.copy()), dtype=np.float64)


def why_not_trained(name: str) -> str | None:
    """Why the registered activation ``name`` cannot be trained as a hidden layer (None: it can).

    The rule, on the class and its defaults, never on the name: it must build with its default
    arguments (``nn.activation(name)``); it must be elementwise (``elementwise = False`` marks
    softmax and log-softmax, output activations that normalise over the classes); f and f′ must
    be finite on ``GRID`` = [−6, 6]; and f′ must not be 0 everywhere there (the binary step: no
    gradient reaches the layers below it, so gradient descent cannot train them).
    """
    try:
        act = nn.activation(name)
    except Exception as e:  # noqa: BLE001 — any failure to build is the reason
        return f"cannot be built with its default arguments ({type(e).__name__}: {e})"
    if not getattr(act, "elementwise", True):
        return "not elementwise (elementwise = False): an output activation that normalises over the classes"
    try:
        f, d = _on_grid(act)
    except Exception as e:  # noqa: BLE001
        return f"f or f′ fails on a grid ({type(e).__name__}: {e})"
    if not (np.all(np.isfinite(f)) and np.all(np.isfinite(d))):
        return "f or f′ is not finite on [−6, 6]"
    if np.all(d == 0):
        return ("f′ = 0 everywhere on [−6, 6]: no gradient reaches the layers below it, so gradient descent "
                "cannot train them")
    return None


def hidden_activations() -> tuple[list[str], dict[str, str]]:
    """Every activation registered in ``nn.ACTIVATIONS`` *now* that can be trained as a hidden layer, in
    registry order, and ``{name: why not}`` for the others.

    Besides :func:`why_not_trained`: two activations that compute the same f and f′ on ``GRID`` with their
    default arguments (Swish with β = 1 is SiLU) are trained once, under the name registered first.
    """
    keep: list[str] = []
    skipped: dict[str, str] = {}
    seen: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in list(nn.ACTIVATIONS):
        why = why_not_trained(name)
        if why is None:
            f, d = _on_grid(nn.activation(name))
            twin = next((n for n, (f2, d2) in seen.items()
                         if np.allclose(f, f2, rtol=1e-12, atol=1e-12) and np.allclose(d, d2, rtol=1e-12, atol=1e-12)),
                        None)
            if twin is not None:
                why = f"the same f and f′ as {twin} (default arguments): trained once, as {twin}"
            else:
                seen[name] = (f, d)
                keep.append(name)
                continue
        skipped[name] = why
    return keep, skipped


def _resolve(config: ActivationsConfig) -> tuple[list[str], dict[str, str]]:
    """The activations to train (the config's, or every trainable registered one) and why the others are not."""
    if config.activations:
        names = []
        for spec in config.activations:
            try:
                name = type(nn.activation(spec)).name  # an alias ("linear") becomes its registry name
            except ValueError as e:  # an unknown name: the registry's list is in the message
                raise ConfigError(f"experiment 'activations': {e}") from None
            except Exception:  # noqa: BLE001 — a class that needs arguments: why_not_trained says so
                name = spec
            why = why_not_trained(name)
            if why is not None:
                raise ConfigError(f"experiment 'activations': {spec} cannot be trained as a hidden activation: {why}")
            if name not in names:
                names.append(name)
        skipped = {n: why_not_trained(n) or "not in the config's activations" for n in nn.ACTIVATIONS
                   if n not in names}
        return names, skipped
    return hidden_activations()


def run_lengths(config: ActivationsConfig) -> list[int]:
    """The run lengths at which "much faster" is judged: the config's, or (N/2, N)."""
    lengths = sorted(set(config.run_lengths or (config.iterations // 2, config.iterations)))
    bad = [n for n in lengths if not config.tail <= n <= config.iterations]
    if bad:
        raise ConfigError(f"experiment 'activations': run_lengths must be in [tail={config.tail}, "
                          f"iterations={config.iterations}], got {', '.join(map(str, bad))}")
    return lengths


# -- the verdicts' arithmetic (plain functions of the records) ----------------------------------------------------
def rank(final: dict[str, float]) -> list[str]:
    """Names from the lowest to the highest loss; a diverged run (NaN) ranks last."""
    return sorted(final, key=lambda n: (math.isnan(final[n]), final[n] if not math.isnan(final[n]) else 0.0))


def much_faster_holds(row: dict) -> bool:
    """The lab's "much faster" (:func:`layerlab.lab.stats.much_faster`) from a row of the "much faster" table:
    the fast curve reaches the level at all, did not diverge, and in ≤ 1/``MUCH_FASTER`` of the slow curve's
    steps (``ratio`` = (steps_slow + 1)/(steps_fast + 1) ≥ ``MUCH_FASTER``)."""
    return stats.much_faster_holds(row["steps_fast"], row["steps_slow"], row["diverged"], row["ends_above"])


def _per_seed(runs: list[dict], key: str) -> dict[str, list[float]]:
    out: dict[str, dict[int, float]] = {}
    for r in runs:
        v = r[key]
        out.setdefault(r["activation"], {})[int(r["seed"])] = math.nan if v is None else float(v)
    return {n: [d[s] for s in sorted(d)] for n, d in out.items()}


def verdicts(records: dict, relu_family) -> dict[str, bool]:
    """Every claim's verdict from the records: ``records["each run"]`` (per activation and seed: ``loss`` after N
    steps, ``mean loss over the run``) and ``records["much faster"]`` (rows with a ``claim`` id)."""
    loss = _per_seed(records["each run"], "loss")
    auc = _per_seed(records["each run"], "mean loss over the run")
    fam = list(relu_family)
    S = len(loss["tanh"])

    def fam_of(table):
        return [float(np.mean([table[n][s] for n in fam])) for s in range(S)]

    out = {
        "15a": rank({n: float(np.mean(v)) for n, v in loss.items()})[-1] == "sigmoid",
        "15b": paired_lead(fam_of(loss), loss["sigmoid"])["diff"] > 0,
        "15d": paired_lead(fam_of(loss), loss["tanh"])["beyond"],
        "15e": paired_lead(fam_of(auc), auc["tanh"])["diff"] > 0,
    }
    for row in records["much faster"]:
        if row.get("claim"):
            out[row["claim"]] = much_faster_holds(row)
    return {k: bool(v) for k, v in out.items()}


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


def _param_text(act) -> str:
    """The default hyperparameters of a parametric activation, for a panel title."""
    name = type(act).name
    if name == "prelu":
        return f" (α = {float(act.weight.data.ravel()[0]):g})"
    if name == "swish":
        return f" (β = {float(np.ravel(getattr(act.beta, 'data', act.beta))[0]):g})"
    if hasattr(act, "alpha") and isinstance(act.alpha, (int, float)):
        return f" (α = {act.alpha:g})"
    return ""


def plot_functions(names=None, z_range: tuple[float, float] = (-7.0, 7.0), cols: int = 4):
    """The atlas: f (solid) and f′ (dashed) of every registered activation (default: all of
    ``nn.ACTIVATIONS``, read when called — a newly defined class is in it), computed by the classes' own
    ``f`` and ``df``. Softmax and log-softmax, which are not elementwise, are drawn as h([z, 0])₀ (the
    notes' two-class softmax = σ(z)) with the Jacobian's diagonal ∂h₀/∂z₀. A class that cannot be
    built with its default arguments gets an empty panel that says so."""
    names = list(nn.ACTIVATIONS) if names is None else list(names)
    rows = -(-len(names) // cols)
    fig, axes = figures.new_figure(rows, cols, panel=(2.3, 1.55), title="f (solid) and f′ (dashed), from each "
                                   "class's f and df", margins={"hspace": 0.6, "wspace": 0.45})
    z = np.linspace(*z_range, 601)  # an odd count: z = 0 exactly, where the kinks' conventions show
    for ax, name in zip(axes.ravel(), names):
        try:
            act = nn.activation(name)
        except Exception as e:  # noqa: BLE001 — the atlas draws what it can
            ax.set_title(f"{name}: needs arguments")
            ax.text(0.5, 0.5, type(e).__name__, ha="center", va="center", transform=ax.transAxes, fontsize=7)
            continue
        with np.errstate(all="ignore"):
            if getattr(act, "elementwise", True):
                f = act.f(z)
                d = act.df(z, f)
                title = name
            else:
                zz = np.stack([z, np.zeros_like(z)], axis=-1)
                y = act.f(zz)
                f, d = y[:, 0], act.df(zz, y)[:, 0]
                title = f"{name}([z, 0])₀"
        ax.axhline(0, color="0.6", linewidth=0.6)
        ax.axvline(0, color="0.6", linewidth=0.6)
        ax.plot(z, f, color=figures.COLORS[0], linewidth=1.4, label="f")
        ax.plot(z, d, "--", color=figures.COLORS[1], linewidth=1.2, label="f′")
        ax.set_title(title + _param_text(act))
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


def _faster_figure(fast: str, curves: dict[str, np.ndarray], rows: list[dict], window: int, title: str):
    """One panel per slow activation: the seed-mean curves (running mean of ``window``), and at each run length
    the level (where the slow curve ends) with the steps each curve needs to reach it."""
    slows = list(dict.fromkeys(r["slow"] for r in rows))
    fig, axes = figures.new_figure(1, len(slows), panel=(3.6, 2.6), title=title, margins={"top": 0.5})
    for ax, slow in zip(axes[0], slows):
        for i, name in enumerate((fast, slow)):
            ax.plot(running_mean(curves[name], window), color=figures.COLORS[i], linewidth=1.4, label=name)
        for j, r in enumerate(row for row in rows if row["slow"] == slow):
            c = figures.COLORS[2 + j % (len(figures.COLORS) - 2)]
            ax.axhline(r["level"], color=c, linewidth=0.8, linestyle=":")
            for key, marker in (("steps_fast", "o"), ("steps_slow", "s")):
                if r[key] is not None:
                    ax.plot([r[key]], [r["level"]], marker, color=c, markersize=4)
            reached = f"ratio {r['ratio']:.2f}" if r["steps_fast"] is not None else f"{fast} never gets there"
            ax.text(0.98, 0.97 - 0.09 * j, f"{r['steps']} steps: {reached}"
                    + (" ✓" if much_faster_holds(r) else " ✗"), transform=ax.transAxes, ha="right", va="top",
                    fontsize=7, color=c)
        ax.set_ylim(0.0, 2.5)
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"loss (running mean of {window})")
        ax.set_title(f"{fast} vs {slow}")
        ax.legend(frameon=False, fontsize=7, loc="lower left")
    return fig


# -- the experiment -------------------------------------------------------------------------------------------------
def _check(config: ActivationsConfig, names: list[str]) -> None:
    need = {"sigmoid", "tanh", config.fast, *config.relu_family}
    missing = sorted(need - set(names))
    if missing:
        raise ConfigError(f"experiment 'activations': activations must include sigmoid, tanh, the ReLU family "
                          f"{', '.join(config.relu_family)} and fast={config.fast} (the claim compares them); "
                          f"missing {', '.join(missing)}")
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


def _evaluate(model, x_eval, y_eval) -> tuple[float, list[dict]]:
    """The trained model on the evaluation images: its accuracy and, per hidden layer, the dead / saturated /
    flat fractions (``stats.unit_fractions``)."""
    with ll.no_grad(), np.errstate(all="ignore"):
        out = model(ll.Tensor(x_eval)).data
    return float(np.mean(out.argmax(axis=1) == y_eval)), unit_fractions(model, x_eval)


def _fmt_layers(values) -> str:
    """Per-layer fractions as percentages, "—" where the notion does not apply."""
    if any(v is None for v in values):
        return "—"
    return " / ".join(f"{100 * v:.1f}%" for v in values)


def _steps_txt(v) -> str:
    return "never" if v is None else f"{v}"


@experiment("activations", order=15, topic="activation functions",
            summary="the same 784-256-256-10 net trained with every registered activation: loss after N steps, "
                    "'much faster' at two run lengths, dead/saturated fractions, CPU time per step (claim 15)")
def run(config: ActivationsConfig, ctx: Context) -> Result:
    """Seeds 001/003/004: every trainable activation of the registry in the same network, trained the same way."""
    names, skipped = _resolve(config)
    lengths = run_lengths(config)
    _, (xt, yt) = fashion()
    idx = ctx.rng_for("eval").choice(len(xt), min(config.n_eval, len(xt)), replace=False)
    x_eval, y_eval = xt[idx], yt[idx]
    S = config.seeds

    def fit(item):  # one (activation, seed) run; the training set is loaded where the run runs
        name, s = item
        (x, y), _ = fashion()
        r = _train_one(ctx, config, name, s, x, y)
        r["test_accuracy"], r["layers"] = _evaluate(r.pop("model"), x_eval, y_eval)
        return r

    # the CPU time per step (time.process_time, this process only) is reported, never judged: runs side by side
    # on shared cores may read a little higher, no verdict moves
    items = [(name, s) for name in names for s in range(S)]
    runs = ctx.map(fit, items, label="runs")
    res: dict[str, list[dict]] = {name: [r for (n, _), r in zip(items, runs) if n == name] for name in names}

    per_seed = {n: [r["tail"] for r in res[n]] for n in names}
    final = {n: float(np.mean(v)) for n, v in per_seed.items()}
    order = rank(final)
    fam = list(config.relu_family)
    T = config.iterations  # a diverged run ends with a NaN; pad it with NaN to the length of the others
    pad = {n: [np.pad(r["losses"], (0, max(0, T - len(r["losses"]))), constant_values=np.nan)[:T] for r in res[n]]
           for n in names}
    mean_curves = {n: np.mean(pad[n], axis=0) for n in names}  # the seed-mean curve: the same batches per step

    # -- records: every number a verdict uses
    runs_rows = []
    for n in order:
        for s, r in enumerate(res[n]):
            runs_rows.append({"activation": n, "seed": s, "loss": r["tail"], "mean loss over the run": r["auc"],
                              "first loss": float(r["losses"][0]),
                              "diverged at step": r["diverged"], "test accuracy": r["test_accuracy"],
                              "CPU ms / step (median)": 1000 * float(np.median(r["times"])),
                              "CPU ms / step (mean)": 1000 * float(np.mean(r["times"]))})
    much_rows = []
    for slow in ("tanh", "sigmoid"):
        for fast in [config.fast] + [n for n in order if n not in (config.fast, slow)]:
            for steps in lengths:
                m = much_faster(mean_curves[fast][:steps], mean_curves[slow][:steps], window=config.tail)
                per = [much_faster(pad[fast][s][:steps], pad[slow][s][:steps], window=config.tail) for s in range(S)]
                much_rows.append({
                    "claim": f"15c-{slow}@{steps}" if fast == config.fast else "", "fast": fast, "slow": slow,
                    "steps": steps, "curve": f"mean of {S} seed{'s' if S > 1 else ''}", "level": m["level"],
                    "steps_fast": m["steps_fast"], "steps_slow": m["steps_slow"], "ratio": m["ratio"],
                    "diverged": m["diverged"], "ends_above": m["ends_above"], "holds": m["holds"],
                    "ratio per seed": ", ".join(f"{p['ratio']:.2f}" for p in per),
                    "holds in seeds": sum(p["holds"] for p in per)})
    records = {"each run": runs_rows, "much faster": much_rows}
    holds = verdicts(records, fam)

    # -- claim texts
    fam_seed = [float(np.mean([res[n][s]["tail"] for n in fam])) for s in range(S)]
    fam_auc = [float(np.mean([res[n][s]["auc"] for n in fam])) for s in range(S)]
    vs_sig, vs_tanh = paired_lead(fam_seed, per_seed["sigmoid"]), paired_lead(fam_seed, per_seed["tanh"])
    vs_tanh_auc = paired_lead(fam_auc, [r["auc"] for r in res["tanh"]])

    def pm(name_or_values) -> str:
        return stats.format_mean_se(per_seed[name_or_values] if isinstance(name_or_values, str) else name_or_values)

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
        holds["15a"],
        f"sigmoid {pm('sigmoid')}; the next worst, {runner_up}, {pm(runner_up)}: sigmoid higher by "
        f"{stats.format_lead(paired_lead(per_seed[runner_up], per_seed['sigmoid']))}; ranking, best first: {ranking}{div_txt}",
        cond, figure="final"))
    claims.append(Claim(
        "15b", f"The ReLU family ({fam_txt}) converges faster than sigmoid (seed 000: \"converges faster than "
               f"sigmoid/tanh\"): a lower loss after {config.iterations} steps (verdict: the family's mean loss is "
               "lower)",
        holds["15b"],
        f"ReLU family {pm(fam_seed)} vs sigmoid {pm('sigmoid')}: sigmoid − family = {stats.format_lead(vs_sig)}",
        cond, figure="loss"))
    much_cond = (cond + f"; \"much faster\" (the lab's one definition, layerlab.lab.stats.much_faster): on the "
                 f"seed-mean loss curves of the first n steps, the level is where the slow curve ends (its mean over "
                 f"the last {config.tail} of the n steps) and each curve's time to it is the first step at which its "
                 f"running mean over {config.tail} steps is at or below it; holds when (steps_slow + 1)/(steps_fast "
                 f"+ 1) ≥ {MUCH_FASTER:g} and the fast run did not diverge. The first n steps of a constant-η SGD run "
                 "are a run of n steps with the same seed")
    for slow in ("tanh", "sigmoid"):
        for steps in lengths:
            row = next(r for r in much_rows if r["claim"] == f"15c-{slow}@{steps}")
            others = [r for r in much_rows if r["slow"] == slow and r["steps"] == steps and not r["claim"]]
            n_much = [r["fast"] for r in others if much_faster_holds(r)]
            flip = ""
            if len(lengths) > 1:
                at = ", ".join(f"{r['steps']}: {'holds' if much_faster_holds(r) else 'does not hold'} "
                               f"(ratio {r['ratio']:.2f})" for r in much_rows
                               if r["fast"] == config.fast and r["slow"] == slow)
                flip = f"; at each run length — {at}"
            claims.append(Claim(
                f"15c-{slow}@{steps}",
                f"{config.fast} trains much faster than {slow} (seed 001: ReLU \"in practice converges much faster "
                f"than sigmoid/tanh\"), judged on a run of {steps} steps (verdict: {config.fast} reaches the loss "
                f"{slow} ends at in ≤ 1/{MUCH_FASTER:g} of the steps {slow} needs)",
                holds[f"15c-{slow}@{steps}"],
                f"level (where {slow} ends after {steps} steps) {row['level']:.4f}: {slow} gets there at step "
                f"{_steps_txt(row['steps_slow'])}, {config.fast} at step {_steps_txt(row['steps_fast'])}: ratio "
                f"(steps_slow + 1)/(steps_fast + 1) = {row['ratio']:.2f} (needs ≥ {MUCH_FASTER:g}"
                + ("; diverged" if row["diverged"] else "") + f"); per seed {row['ratio per seed']} (holds in "
                f"{row['holds in seeds']} of {S}){flip}; the other activations much faster than {slow} on this run: "
                f"{', '.join(n_much) if n_much else 'none'}",
                much_cond, figure="faster"))
    members = ", ".join(f"{n} {pm(n)} ({paired_lead(per_seed[n], per_seed['tanh'])['diff']:+.4f})" for n in fam)
    common = max(mean_se(per_seed["tanh"])[1], mean_se(fam_seed)[1])
    common_txt = (f"; for scale, each loss moves by ±{common:.4f} (SE) from seed to seed, mostly in common — the "
                  "runs of a seed see the same batches" if math.isfinite(common) else "")
    claims.append(Claim(
        "15d", f"The ReLU family ({fam_txt}) has a lower loss than tanh after {config.iterations} steps, by more than "
               f"the seed-to-seed noise (verdict: the mean of the per-seed leads exceeds {NOISE_SE:g} standard errors "
               "of that mean; the runs of a seed share the data order and the weight draws, so the comparison is "
               "seed by seed; needs ≥ 2 seeds)",
        holds["15d"],
        f"ReLU family {pm(fam_seed)} vs tanh {pm('tanh')}: tanh − family = {stats.format_lead(vs_tanh)}, "
        f"{abs(vs_tanh['diff']) / final['tanh']:.1%} of tanh's loss; each member (its lead over tanh): {members}"
        f"{common_txt}", cond, figure="lead"))
    claims.append(Claim(
        "15e", f"The ReLU family converges faster than tanh over the whole run, not only at step {config.iterations} "
               f"(verdict: a lower mean loss over all {config.iterations} iterations, the area under the loss curve)",
        holds["15e"],
        f"mean loss over the run: ReLU family {pm(fam_auc)}, tanh {pm([r['auc'] for r in res['tanh']])}: "
        f"tanh − family = {stats.format_lead(vs_tanh_auc)}", cond, figure="lead"))

    # -- figures
    curves_by_rank = {n: mean_curves[n] for n in order}
    ctx.savefig(_loss_figure(curves_by_rank, 10, f"training loss, mean of {seeds_txt}"), "loss",
                caption="Every trained activation on one axis, in the order of the final loss (best first); running "
                        "mean over 10 iterations.")
    ctx.savefig(_final_figure(order, per_seed, fam, config.tail,
                              f"loss after {config.iterations} steps, mean of {seeds_txt}"), "final",
                caption=f"Green: the ReLU family of the claim ({fam_txt}); orange: sigmoid and tanh.")
    ctx.savefig(_faster_figure(config.fast, mean_curves, [r for r in much_rows if r["claim"]], config.tail,
                               f"much faster? seed-mean curves, at {' and '.join(map(str, lengths))} steps"), "faster",
                caption=f"Dotted: the level where the slow activation ends after n steps; square: the step at which "
                        f"it gets there, circle: when {config.fast} does (running means over {config.tail} steps). "
                        f"Much faster: ratio (steps_slow + 1)/(steps_fast + 1) ≥ {MUCH_FASTER:g}.")
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
                caption="The atlas: every activation of the registry (nn.ACTIVATIONS, read at run time), drawn "
                        "from its class's f and df (the same code the networks run); parametric ones at their "
                        "default parameter.")

    # -- tables
    rows = []
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
    registry_rows = [{"activation": n, "class": nn.ACTIVATIONS[n].__name__, "trained": n in names,
                      "init": ("he" if n in config.he_init else "xavier") if n in names else "",
                      "why not trained": skipped.get(n, "")} for n in nn.ACTIVATIONS]
    records = {"each activation (mean over seeds)": rows, **records, "the registry (atlas)": registry_rows}
    not_trained = "; ".join(f"{n}: {why}" for n, why in skipped.items()) or "none"
    notes = [
        (f"Trained: {', '.join(names)} — " + ("the activations of the config." if config.activations else
         "every activation registered in nn.ACTIVATIONS when the run started that can be trained as a hidden "
         "layer (built with its default arguments; elementwise; f and f′ finite and f′ not 0 everywhere on "
         "[−6, 6]; two with the same f and f′ trained once). A new nn.Activation subclass with a name is trained "
         "and drawn in the atlas with nothing else edited (Xavier init unless its name is in he_init).")
         + f" Not trained: {not_trained}."),
        (f"Loss after N steps is the mean of the last {config.tail} mini-batch training losses (the quantity of the "
         "CLAIMS.md reference), so it measures how fast each activation converges, not its final quality. \"Much "
         "faster\" is the lab's one definition (layerlab.lab.stats.much_faster), judged at each run length of "
         f"{', '.join(map(str, lengths))} steps so that a verdict that flips with the run length shows; the table "
         "\"much faster\" has every trained activation against tanh and sigmoid (rows with a claim id decide a "
         "verdict)."),
        ("Dead: a unit of a class that can die (can_die) whose output is ≤ 0 on every one of the evaluation images. "
         "Saturated: entries within 3% of a saturating end of the class's range (|h| > 0.97 for tanh; h < 0.03 or "
         f"> 0.97 for sigmoid; h > 5.82 for ReLU6). '—': the notion does not apply. |f′| < {FLAT_DF:g}: entries "
         "whose local gradient is nearly 0 whatever the cause — for ReLU every negative input (the notes: 'its "
         "derivative is 0 for half of the values of the input'), for LeakyReLU too (slope 0.01), for sigmoid/tanh "
         "the saturated tails."),
        ("CPU time per step is time.process_time around each step (forward, backward, SGD update, the accuracy of the "
         "batch), the median over all steps; it is reported, not judged: it depends on the machine's load and on "
         f"layerlab's NumPy kernels, and most of a step is the 784×{config.width} matrix products, the same for every "
         "activation."),
    ]
    return Result(claims=claims, records=records, notes=notes)
