"""Seed 002, aspects of a deep neural network: depth vs width at the same number of parameters (issue 13, point 5).

The notes: "Generally, as far as decision boundaries are concerned, adding depth gives more bang for the buck
than adding more nodes in a single layer. But depth comes with its own share of problems. Deeper networks have
a harder time converging."

Set-up. Two 2-D, two-class problems whose decision boundaries are far from a line: two interleaved spirals
(``layerlab.data.spirals``, angular noise 0.2) and a 4 × 4 checkerboard on [−1, 1]² (``data.checkerboard``).
For each parameter budget, a *deep* net — ``depth`` hidden ReLU layers of ``w`` units — and a *wide* one — a
single hidden ReLU layer of W units with W chosen so that the two have the same number of parameters
(weights and biases): 2-input, 2-output nets have 5W + 2 parameters with one hidden layer and
5w + 2 + (depth − 1)(w² + w) with ``depth`` layers of w, so W = round((P_deep − 2) / 5), within ±5% (checked
and stated). Budgets: w = 4, 8 and 16 at depth 4 (82, 258 and 898 parameters; wide W = 16, 51 and 179),
powers of two fixed before any run. Both are trained the same way: He-normal weights, biases 0, cross-entropy,
full-batch Adam (η = 0.01) for a fixed number of steps; each seed draws its own data set and weights, and the
wide and the deep net of a seed see the same points.

Measured: training accuracy (the claim is about decision boundaries: what the net can carve, not how it
generalises) and the final cross-entropy. Verdict per dataset and budget, each its own row: deep beats wide on
training accuracy beyond the noise (``stats.paired_lead`` over seeds: the mean paired gain exceeds
``NOISE_SE`` = 2 standard errors). The decision regions of seed 0 are drawn side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import layerlab as ll
from layerlab import data, optim
from layerlab.lab import Claim, ConfigError, Context, Result, experiment, figures
from layerlab.lab.stats import NOISE_SE, accuracy, format_lead, format_mean_se, paired_lead
from layerlab.lab.training import fit_iterations, mlp

__all__ = ["DepthWidthConfig", "DATASETS", "PARAM_TOLERANCE", "param_count", "wide_width", "check_deep_beats_wide",
           "make_dataset"]

DATASETS = ("spirals", "checkerboard")
#: "the same number of parameters": the wide net's count within ±5% of the deep net's (rounding W to an integer
#: moves it by at most 2.5 parameters: within 3% from 82 parameters on)
PARAM_TOLERANCE = 0.05


def param_count(sizes) -> int:
    """Weights and biases of an MLP with layer sizes ``sizes`` (``[2, 16, 2]`` → 2·16 + 16 + 16·2 + 2 = 82)."""
    return int(sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])))


def wide_width(target: int, n_in: int = 2, n_out: int = 2) -> int:
    """W of the one-hidden-layer net ``[n_in, W, n_out]`` whose parameter count is nearest ``target``:
    (n_in + 1 + n_out)·W + n_out = target."""
    return max(1, int(round((target - n_out) / (n_in + 1 + n_out))))


def check_deep_beats_wide(records, dataset: str, budget: int, k: float = NOISE_SE) -> tuple[bool, dict | None]:
    """Claim 36: on ``dataset`` at the budget ``budget`` (the deep net's parameter count), the deep net's training
    accuracy beats the wide net's beyond the noise: ``paired_lead`` of the training errors (1 − accuracy, seed by
    seed) with ``beyond`` True. Needs both nets on at least two common seeds (else no evidence: False, None)."""
    by = {}
    for r in records:
        if r.get("part") == "fit" and r["dataset"] == dataset and int(r["budget"]) == int(budget):
            by.setdefault(int(r["seed"]), {})[r["net"]] = float(r["train_accuracy"])
    seeds = sorted(s for s, v in by.items() if {"deep", "wide"} <= set(v))
    if len(seeds) < 2:
        return False, None
    lead = paired_lead([1.0 - by[s]["deep"] for s in seeds], [1.0 - by[s]["wide"] for s in seeds], k=k)
    return bool(lead["beyond"]), lead


def make_dataset(name: str, n: int, noise: float, cells: int, rng: np.random.Generator):
    """``spirals`` (two arms, angular noise ``noise``) or ``checkerboard`` (``cells`` × ``cells``, no jitter)."""
    if name == "spirals":
        return data.spirals(n, classes=2, noise=noise, seed=rng)
    if name == "checkerboard":
        return data.checkerboard(n, cells=cells, noise=0.0, seed=rng)
    raise ValueError(f"depth_vs_width: dataset must be one of {DATASETS}, got {name!r}")


@dataclass
class DepthWidthConfig:
    """``n`` points per data set (spirals with angular noise ``noise``; a ``cells`` × ``cells`` checkerboard); deep
    nets of ``depth`` hidden ReLU layers of each width in ``widths``, each against one hidden layer with the same
    parameter count; full-batch Adam η = ``lr`` for ``iterations`` steps; ``seeds`` seeds."""

    n: int = 400
    noise: float = 0.2
    cells: int = 4
    depth: int = 4
    widths: tuple[int, ...] = (4, 8, 16)
    iterations: int = 1000
    lr: float = 0.01
    seeds: int = 3
    QUICK: ClassVar[dict] = {"n": 200, "widths": (8,), "iterations": 250, "seeds": 3}


def _architectures(config: DepthWidthConfig) -> list[dict]:
    if config.depth < 2:
        raise ConfigError(f"experiment 'depth_vs_width': depth must be >= 2 (a deep net), got {config.depth}")
    out = []
    for w in config.widths:
        deep = [2] + [int(w)] * config.depth + [2]
        p = param_count(deep)
        wide = [2, wide_width(p), 2]
        q = param_count(wide)
        if abs(q - p) > PARAM_TOLERANCE * p:
            raise ConfigError(f"experiment 'depth_vs_width': no one-layer net within ±{PARAM_TOLERANCE:.0%} of {p} "
                              f"parameters (best {q})")
        out.append({"budget": p, "deep": deep, "wide": wide, "deep_params": p, "wide_params": q})
    return out


@experiment("depth_vs_width", order=36, topic="depth and gradients",
            summary="at the same parameter count, 4 narrow ReLU layers vs 1 wide one on two spirals and a "
                    "checkerboard: training accuracy (beyond the noise over seeds), decision regions side by side")
def run(config: DepthWidthConfig, ctx: Context) -> Result:
    """Seed 002: "adding depth gives more bang for the buck than adding more nodes in a single layer", at equal
    parameter counts, on two spirals and a checkerboard."""
    archs = _architectures(config)

    def fit(item):  # one (data set, seed, budget, wide or deep) fit: its record, and the model for the figure
        name, s, a, net = item
        x, y = make_dataset(name, config.n, config.noise, config.cells, ctx.rng_for("data", name, s))
        sizes = a[net]
        model = mlp(sizes, "relu", "he_normal", ctx.rng_for("weights", name, a["budget"], net, s))
        label = f"{name}/{a['budget']}/{net}/s{s}"
        out = fit_iterations(ctx, model, optim.Adam(model.parameters(), lr=config.lr), x, y,
                             config.iterations, batch_size=len(x), label=label, seed=s)
        acc = accuracy(model, x, y)
        return {"part": "fit", "dataset": name, "seed": s, "budget": a["budget"], "net": net,
                "layers": "-".join(map(str, sizes)), "params": param_count(sizes),
                "train_accuracy": acc, "final_loss": float(out["losses"][-1]),
                "diverged": out["diverged"]}, (model if s == 0 else None)

    items = [(name, s, a, net) for name in DATASETS for s in range(config.seeds) for a in archs
             for net in ("wide", "deep")]
    records: list[dict] = []
    shown: dict[str, dict] = {}
    for (name, s, a, net), (rec, model) in zip(items, ctx.map(fit, items, label="fits")):
        records.append(rec)
        if s == 0:
            if name not in shown:  # the data set of seed 0 again (the same stream: the same points)
                x, y = make_dataset(name, config.n, config.noise, config.cells, ctx.rng_for("data", name, s))
                shown[name] = {"x": x, "y": y, "models": {}}
            shown[name]["models"][(a["budget"], net)] = (model, rec["train_accuracy"], a[net])

    for name in DATASETS:
        ctx.savefig(_regions_grid(shown[name], archs, name), f"regions_{name}",
                    caption=f"Decision regions on the training points of seed 0 ({name}): one hidden layer (top) vs "
                            f"{config.depth} hidden layers (bottom) at the same parameter count (columns).")
    ctx.savefig(_accuracy_figure(records, archs, config), "accuracy",
                caption="Training accuracy per seed (dots) and its mean (bar), one hidden layer vs "
                        f"{config.depth}, at each parameter budget.")

    budgets_txt = "; ".join(f"{a['budget']} parameters: deep {'-'.join(map(str, a['deep']))} ({a['deep_params']}) vs "
                            f"wide {'-'.join(map(str, a['wide']))} ({a['wide_params']}, "
                            f"{(a['wide_params'] - a['deep_params']) / a['deep_params']:+.1%})" for a in archs)
    claims = []
    ids = iter("abcdefghijklmnopqrstuvwxyz")
    for name in DATASETS:
        what = (f"two spirals, {config.n} points, angular noise {config.noise:g}" if name == "spirals" else
                f"{config.cells} × {config.cells} checkerboard on [−1, 1]², {config.n} points")
        for a in archs:
            holds, lead = check_deep_beats_wide(records, name, a["budget"])
            rows = {net: [r for r in records if r["part"] == "fit" and r["dataset"] == name
                          and r["budget"] == a["budget"] and r["net"] == net] for net in ("wide", "deep")}
            acc = {net: [r["train_accuracy"] for r in rs] for net, rs in rows.items()}
            loss = {net: [r["final_loss"] for r in rs] for net, rs in rows.items()}
            measured = (f"training accuracy: deep {format_mean_se(acc['deep'])}, wide {format_mean_se(acc['wide'])} "
                        f"(per seed deep {', '.join(f'{v:.3f}' for v in acc['deep'])}; wide "
                        f"{', '.join(f'{v:.3f}' for v in acc['wide'])}); deep's lead in accuracy "
                        + _lead_text(lead)
                        + f"; final cross-entropy deep {format_mean_se(loss['deep'], 4)}, wide "
                          f"{format_mean_se(loss['wide'], 4)}")
            claims.append(Claim(
                f"36{next(ids)} ({name}, {a['budget']} params)",
                "\"As far as decision boundaries are concerned, adding depth gives more bang for the buck than adding "
                f"more nodes in a single layer\" (verdict: at the same parameter count, {config.depth} hidden layers "
                f"reach a higher training accuracy than one, beyond the noise: paired gain over seeds > "
                f"{NOISE_SE:g} SE)",
                holds, measured,
                f"{what}; deep {'-'.join(map(str, a['deep']))} ({a['deep_params']} parameters) vs wide "
                f"{'-'.join(map(str, a['wide']))} ({a['wide_params']}); ReLU, He-normal weights, biases 0; "
                f"cross-entropy, full-batch Adam η = {config.lr:g}, {config.iterations} steps; {config.seeds} seeds "
                "(own data and weights per seed; wide and deep share the data)", f"regions_{name}"))
    notes = [
        "Parameter budgets (weights + biases): " + budgets_txt + ".",
        "The accuracy is on the training points: the claim is about which decision boundaries a net of a given "
        "size can carve. A paired gain of exactly 0 on every seed (both nets fit every point they can) has SE 0 and "
        "is not beyond the noise. A stack of narrow ReLU layers can lose every unit of a layer (a dead layer: the "
        "output is constant and the accuracy 0.5) — the notes' \"depth comes with its own share of problems\".",
    ]
    return Result(claims=claims, records=records, notes=notes)


def _lead_text(lead: dict | None) -> str:
    if lead is None:
        return "n/a (fewer than two seeds with both nets)"
    return format_lead(lead)


# -- figures ---------------------------------------------------------------------------------------------------------
def _regions_grid(shown, archs, name):
    x, y = shown["x"], shown["y"]
    fig, axes = figures.new_figure(2, len(archs), panel=(2.2, 2.2),
                                   title=f"Decision regions on the {name} (training points, seed 0)",
                                   margins={"hspace": 0.65, "left": 0.45})
    lim = 1.1 * float(np.abs(x).max())
    g = np.linspace(-lim, lim, 141, dtype=x.dtype)
    gx, gy = np.meshgrid(g, g)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    for c, a in enumerate(archs):
        for r, net in enumerate(("wide", "deep")):
            ax = axes[r, c]
            model, acc, sizes = shown["models"][(a["budget"], net)]
            with ll.no_grad():
                z = model(ll.Tensor(grid)).data.argmax(axis=1).reshape(gx.shape)
            ax.contourf(gx, gy, z, levels=[-0.5, 0.5, 1.5], colors=["#cfe3f3", "#fbd9c4"])
            ax.scatter(x[:, 0], x[:, 1], c=np.where(y == 0, figures.COLORS[0], figures.COLORS[1]), s=2.5,
                       linewidths=0)
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.set_title(f"{'-'.join(map(str, sizes))} ({a[net + '_params']} p.)\naccuracy {acc:.3f}", fontsize=8)
    return fig


def _accuracy_figure(records, archs, config):
    fig, axes = figures.new_figure(1, len(DATASETS), panel=(3.0, 2.3), sharey=True,
                                   title="Training accuracy at equal parameter counts")
    for ax, name in zip(axes[0], DATASETS):
        for i, a in enumerate(archs):
            for j, net in enumerate(("wide", "deep")):
                vals = [r["train_accuracy"] for r in records if r["part"] == "fit" and r["dataset"] == name
                        and r["budget"] == a["budget"] and r["net"] == net]
                pos = i + (j - 0.5) * 0.38
                ax.bar(pos, float(np.mean(vals)), width=0.34, color=figures.COLORS[j], alpha=0.45,
                       label=("1 × W" if net == "wide" else f"{config.depth} × w") if i == 0 else None)
                ax.plot([pos] * len(vals), vals, "o", color=figures.COLORS[j], markersize=3.5)
        ax.set_xticks(range(len(archs)), [str(a["budget"]) for a in archs])
        ax.set_xlabel("parameters")
        ax.set_ylim(0.45, 1.02)
        ax.set_title(name)
    axes[0, 0].set_ylabel("training accuracy")
    axes[0, 0].legend(frameon=False, fontsize=7, loc="lower right")
    return fig
