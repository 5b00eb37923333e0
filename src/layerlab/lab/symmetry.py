"""Seed 001, module 7.4: constant initialisation never breaks symmetry (claim 2 of issue [lab]).

"What happens if we initialize all weights to 0? ... All neurons in layer 1 will get the same
activation", then the same gradient, ∇w₁₁ = ∇w₂₁, "hence both the weights will get the same
update and remain equal. In fact this symmetry will never break during training ... This
will happen if all the weights in a network are initialized to the same value."

The experiment trains the same 2-H-H-2 network on two spirals from all-zero weights, from
weights that all equal one constant, and from random (Xavier) weights, with plain SGD, and
watches each hidden layer with the :class:`~layerlab.probes.Symmetry` probe (the largest
distance between two units' incoming weight vectors, bias included) from step 0 to the end.

Why the accuracy stays poor: when the units of every hidden layer are copies, each layer
computes one function of one number, so the network's output is a monotone function of a
single projection w·x + b and, for two classes, its decision boundary is a straight line.
Its training accuracy is therefore bounded by the best accuracy any line reaches on the
same points (:func:`~layerlab.lab.linearity.best_linear_accuracy`).

Note: the tie is exact in real arithmetic. In float32 a multi-threaded BLAS may sum the rows
of one matrix product in different orders and leave the units ~1e-7 apart (relative); the
verdict allows for that rounding (``IDENTICAL_RTOL``) and the measured figure says whether the
distance was exactly 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import data, optim
from ..probes import Symmetry
from . import figures
from .common import fit_iterations, mlp
from .linearity import accuracy, best_linear_accuracy, regions_figure
from .registry import Claim, Context, Result, experiment

__all__ = ["SymmetryConfig", "run_symmetry", "IDENTICAL_RTOL", "BROKEN_MIN"]

#: "the units stay identical": the Symmetry probe's rel_max_dist (largest distance between two units'
#: weight vectors over the largest vector's norm) at most this at every sampled step (float32 rounding)
IDENTICAL_RTOL = 1e-5
#: random initialisation "breaks the symmetry": rel_max_dist at least this in every hidden layer
BROKEN_MIN = 0.1


@dataclass
class SymmetryConfig:
    """Two spirals (``n`` points); a 2-``width``-``width``-2 network per activation and initialisation;
    SGD with momentum (η = ``lrs[i]`` for ``activations[i]``, batch ``batch_size``) for ``iterations``
    steps; the Symmetry probe every ``every`` steps. ``constant`` is the value of every weight of the
    constant initialisation (biases start at 0 in all runs). Sigmoid gets the larger step: σ' ≤ 1/4."""

    n: int = 400
    noise: float = 0.2
    width: int = 32
    activations: tuple[str, ...] = ("sigmoid", "tanh")
    lrs: tuple[float, ...] = (0.5, 0.1)
    momentum: float = 0.9
    constant: float = 0.5
    iterations: int = 3000
    batch_size: int = 32
    every: int = 100
    QUICK: ClassVar[dict] = {"iterations": 1000, "every": 50}


#: the initialisations compared: label -> (kind, weight initialiser or None for the constant)
INITS = {"zeros": ("constant", "zeros"), "constant": ("constant", None), "Xavier": ("random", "xavier_normal")}


def _flush_probe(ctx: Context, probe, prefix: str) -> None:
    """Send the probe's new records to the store with the run's label in front of the layer name
    (several models share one store run)."""
    probe.flush_to(lambda records: [ctx.run.log_probe(r["step"], f"{prefix}/{r['layer']}",
                                                      f"{r['kind']}/{r['stat']}", r["value"]) for r in records])


def run_symmetry(config: SymmetryConfig, ctx: Context, x: np.ndarray, y: np.ndarray) -> list[dict]:
    """Train every (activation, initialisation); return one dict per run with the model, the loss curve,
    the training accuracy and the Symmetry probe's series per hidden layer."""
    if len(config.lrs) != len(config.activations):
        raise ValueError(f"symmetry: lrs {config.lrs} must give one learning rate per activation "
                         f"{config.activations}")
    runs = []
    for act, lr in zip(config.activations, config.lrs):
        for name, (kind, init) in INITS.items():
            if init is None:
                init = ("constant", {"value": float(config.constant)})
            label = f"{act}, {name if name != 'constant' else f'all {config.constant:g}'}"
            model = mlp([2, config.width, config.width, 2], act, init, ctx.rng_for("weights", act, name))
            hidden = ["0", "2"]  # the hidden Linear layers; the output layer's units have different targets
            probe = Symmetry(layers=hidden, every=config.every)
            opt = optim.SGD(model.parameters(), lr=lr, momentum=config.momentum)
            out = fit_iterations(ctx, model, opt, x, y, config.iterations, config.batch_size, label=label,
                                 callbacks=[probe], seed=ctx.seed)
            _flush_probe(ctx, probe, label)
            series = {h: {stat: probe.series(h, stat)[1] for stat in ("rel_max_dist", "max_dev0")}
                      for h in hidden}
            steps = probe.series(hidden[0], "rel_max_dist")[0]
            runs.append({"label": label, "activation": act, "init": name, "kind": kind, "model": model,
                         "losses": out["losses"], "accuracy": accuracy(model, x, y), "steps": steps,
                         "series": series})
    return runs


def _symmetry_figure(runs: list[dict]):
    fig, axes = figures.new_figure(1, 2, panel=(3.4, 2.4), sharey=True,
                                   title="Symmetry probe: how far apart the units of a hidden layer are")
    for i, r in enumerate(runs):
        color = figures.COLORS[i % len(figures.COLORS)]
        style = "-" if r["kind"] == "random" else "--"
        for ax, (h, s) in zip(axes[0], r["series"].items()):
            ax.plot(r["steps"], s["rel_max_dist"], style, color=color, linewidth=1.3, label=r["label"])
    for ax, name in zip(axes[0], ("hidden layer 1", "hidden layer 2")):
        ax.set_title(name)
        ax.set_xlabel("SGD step")
    axes[0, 0].set_ylabel("max ‖v_i − v_j‖ / max ‖v_i‖")
    axes[0, 0].legend(frameon=False, fontsize=7, loc="center right", bbox_to_anchor=(1.0, 0.3))
    return fig


@experiment("symmetry", topic="weight initialisation",
            summary="all-zero or constant weights: a hidden layer's units stay identical under SGD (Symmetry "
                    "probe 0) and the net is no better than a straight line; random init breaks the tie (claim 2)")
def run(config: SymmetryConfig, ctx: Context) -> Result:
    """Seed 001, module 7.4: the symmetry-breaking problem, measured with the Symmetry probe."""
    x, y = data.spirals(config.n, classes=2, noise=config.noise, seed=ctx.rng_for("spirals"))
    line = best_linear_accuracy(x, y)
    best = line[0]
    runs = run_symmetry(config, ctx, x, y)

    records = []
    for r in runs:
        row = {"activation": r["activation"], "init": r["init"], "train accuracy": r["accuracy"],
               "final loss": r["losses"][-1]}
        for i, s in enumerate(r["series"].values(), 1):
            row[f"layer {i}: max rel. distance"] = float(s["rel_max_dist"].max())
            row[f"layer {i}: exactly 0"] = bool((s["max_dev0"] == 0.0).all())
        records.append(row)

    cond = (f"{config.n} points of two spirals (noise {config.noise}), 2-{config.width}-{config.width}-2 "
            f"({', '.join(config.activations)}), cross-entropy, SGD η = "
            f"{', '.join(f'{lr:g} ({a})' for a, lr in zip(config.activations, config.lrs))}, momentum "
            f"{config.momentum:g}, batch {config.batch_size}, "
            f"{config.iterations} steps, biases 0, float32; Symmetry probe on both hidden layers every "
            f"{config.every} steps and at the end; seed {ctx.seed}")
    claims = []
    for cid, name, what in (("2a", "zeros", "all-zero weights"),
                            ("2b", "constant", f"every weight = {config.constant:g}")):
        sel = [r for r in runs if r["init"] == name]
        worst = max(float(s["rel_max_dist"].max()) for r in sel for s in r["series"].values())
        exact = sum(int((s["max_dev0"] == 0.0).all()) for r in sel for s in r["series"].values())
        total = sum(len(r["series"]) for r in sel)
        identical = worst <= IDENTICAL_RTOL
        poor = all(r["accuracy"] <= best for r in sel)
        claims.append(Claim(
            cid,
            f"With {what}, all units of a hidden layer stay identical after any number of SGD steps (verdict: the "
            f"Symmetry probe's max distance between two units ≤ {IDENTICAL_RTOL:g} × the largest weight vector, at "
            "every sampled step — i.e. 0 up to float32 rounding), and accuracy stays poor (verdict: no better than "
            "the best straight line, the most a layer of copies can do)",
            identical and poor,
            f"largest relative distance {worst:.1e}; exactly 0.0 at every sampled step in {exact} of {total} "
            "hidden layers; training accuracy "
            + ", ".join(f"{r['activation']} {r['accuracy']:.3f}" for r in sel) + f" vs best line {best:.3f}",
            cond, figure="symmetry"))
    rnd = [r for r in runs if r["kind"] == "random"]
    spread = min(float(s["rel_max_dist"][-1]) for r in rnd for s in r["series"].values())
    claims.append(Claim(
        "2c",
        f"Random (Xavier) initialisation breaks the symmetry and learns what a line cannot (verdict: relative "
        f"distance between units ≥ {BROKEN_MIN} in every hidden layer and training accuracy above the best line's)",
        spread >= BROKEN_MIN and all(r["accuracy"] > best for r in rnd),
        f"smallest final relative distance {spread:.2f}; training accuracy "
        + ", ".join(f"{r['activation']} {r['accuracy']:.3f}" for r in rnd) + f" vs best line {best:.3f}",
        cond, figure="regions"))

    ctx.savefig(_symmetry_figure(runs), "symmetry",
                caption="Largest distance between two units' incoming weight vectors (bias included), relative to "
                        "the largest vector, over training. Dashed (zero / constant init): flat at 0 — the units "
                        "never become different. Solid (Xavier): the units are different from the start.")
    first = config.activations[0]
    shown = {r["label"]: (r["model"], r["accuracy"], r["kind"] != "random") for r in runs if r["activation"] == first}
    ctx.savefig(regions_figure(shown, x, y, line, title=f"{first}: decision regions after training"), "regions",
                caption="With identical units the boundary is a straight line (dashed: the best line found by "
                        "exhaustive search); random initialisation follows the spirals.")
    ctx.savefig(figures.loss_curves({r["label"]: r["losses"] for r in runs}, smooth=25, title="Training loss"),
                "loss", caption="Mini-batch cross-entropy (running mean over 25 steps).")
    notes = [
        "The output layer is left out of the probe: its units have different targets, so they differ after the "
        "first step even from a constant start; what cannot differ are the units within each hidden layer.",
        "With tanh and all-zero weights nothing but the output bias ever moves: every hidden activation is "
        "tanh(0) = 0, so every weight gradient is 0 (a fixed point). With sigmoid (h = 0.5) the layers do learn, "
        "but as copies.",
    ]
    return Result(claims=claims, records=records, notes=notes)
