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
same points (:func:`~layerlab.lab.stats.best_linear_accuracy`).

The tie is exact in real arithmetic, and claims 2a and 2b are measured where arithmetic is
exact enough to show it: the constant initialisations are trained in float64, where the probe
reads exactly 0.0. Claim 2d asks the same of float32, what training actually runs in, and
there the answer depends on how long one trains: the float32 matrix-product kernels do not
round every output column alike, so the units start ~1e-8 apart (relative), and the
symmetric state is unstable — training amplifies that rounding roughly exponentially. After
1,000 steps (``--quick``) the units are still copies to ~1e-4; after 3,000 steps with sigmoid
and all-zero weights rounding alone has made them different units and the net beats the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import data, optim
from layerlab.probes import Symmetry
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import accuracy, best_linear_accuracy
from layerlab.lab.training import fit_iterations, mlp

__all__ = ["SymmetryConfig", "run_symmetry", "check_copies", "check_broken", "IDENTICAL_RTOL", "BROKEN_MIN",
           "PRACTICAL_RTOL"]

#: "the units stay identical": the Symmetry probe's rel_max_dist (largest distance between two units'
#: weight vectors over the largest vector's norm) at most this at every sampled step of the float64 runs
IDENTICAL_RTOL = 1e-12
#: random initialisation "breaks the symmetry": rel_max_dist at least this in every hidden layer
BROKEN_MIN = 0.1
#: claim 2d, float32: "still copies for every practical purpose" = rel_max_dist below this at every sampled step
PRACTICAL_RTOL = 1e-2


def check_copies(distances, accuracies, best_line: float, rtol: float, strict: bool = False) -> bool:
    """Claims 2a, 2b (``rtol`` = IDENTICAL_RTOL) and 2d (PRACTICAL_RTOL, ``strict``: below it): every
    largest relative distance between two units is ≤ ``rtol`` (< with ``strict``) and every training accuracy
    is at most the best straight line's."""
    d, acc = list(distances), list(accuracies)
    close = all((v < rtol) if strict else (v <= rtol) for v in d)
    return bool(d and acc and close and all(a <= best_line for a in acc))


def check_broken(spread: float, accuracies, best_line: float, broken: float = BROKEN_MIN) -> bool:
    """Claim 2c: the smallest final relative distance between units is ≥ ``broken`` and every training
    accuracy is above the best straight line's."""
    acc = list(accuracies)
    return bool(acc and spread >= broken and all(a > best_line for a in acc))


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
#: the dtypes each kind is trained in: the verdict on the constant inits is read in float64
DTYPES = {"constant": (np.float64, np.float32), "random": (np.float32,)}


def run_symmetry(config: SymmetryConfig, ctx: Context, x: np.ndarray, y: np.ndarray) -> list[dict]:
    """Train every (activation, initialisation, dtype in DTYPES) (through ``ctx.map``); return one dict per run
    with the model, the loss curve, the training accuracy and the Symmetry probe's series per hidden layer."""
    if len(config.lrs) != len(config.activations):
        raise ValueError(f"symmetry: lrs {config.lrs} must give one learning rate per activation "
                         f"{config.activations}")

    def train(item) -> dict:
        """One (activation, η, initialisation, dtype) run."""
        act, lr, name, dtype = item
        kind, init = INITS[name]
        if init is None:
            init = ("constant", {"value": float(config.constant)})
        dt = np.dtype(dtype).name
        label = f"{act}, {name if name != 'constant' else f'all {config.constant:g}'}, {dt}"
        model = mlp([2, config.width, config.width, 2], act, init, ctx.rng_for("weights", act, name), dtype=dtype)
        hidden = ["0", "2"]  # the hidden Linear layers; the output layer's units have different targets
        probe = Symmetry(layers=hidden, every=config.every)
        opt = optim.SGD(model.parameters(), lr=lr, momentum=config.momentum)
        xd = x.astype(dtype)
        out = fit_iterations(ctx, model, opt, xd, y, config.iterations, config.batch_size, label=label,
                             callbacks=[probe], seed=ctx.seed)
        ctx.flush_probe(probe, label)
        series = {h: {stat: probe.series(h, stat)[1] for stat in ("rel_max_dist", "max_dev0")} for h in hidden}
        steps = probe.series(hidden[0], "rel_max_dist")[0]
        return {"label": label, "activation": act, "init": name, "kind": kind, "dtype": dt,
                "model": model, "losses": out["losses"], "accuracy": accuracy(model, xd, y),
                "steps": steps, "series": series}

    items = [(act, lr, name, dtype) for act, lr in zip(config.activations, config.lrs)
             for name, (kind, _) in INITS.items() for dtype in DTYPES[kind]]
    return ctx.map(train, items, label="runs")


def _symmetry_figure(runs: list[dict]):
    fig, axes = figures.new_figure(1, 2, panel=(3.4, 2.4), sharey=True,
                                   title="Symmetry probe: how far apart the units of a hidden layer are")
    for i, r in enumerate(runs):
        color = figures.COLORS[i % len(figures.COLORS)]
        style = "-" if r["kind"] == "random" else ("--" if r["dtype"] == "float32" else ":")
        for ax, (h, s) in zip(axes[0], r["series"].items()):
            ax.plot(r["steps"], s["rel_max_dist"], style, color=color, linewidth=1.3, label=r["label"])
    for ax, name in zip(axes[0], ("hidden layer 1", "hidden layer 2")):
        ax.set_title(name)
        ax.set_xlabel("SGD step")
        ax.set_yscale("symlog", linthresh=1e-9)  # exact 0 stays visible, the float32 drift on a log scale
    axes[0, 0].set_ylabel("max ‖v_i − v_j‖ / max ‖v_i‖")
    axes[0, 0].legend(frameon=False, fontsize=6, loc="center right", bbox_to_anchor=(1.0, 0.45))
    return fig


@experiment("symmetry", order=2, topic="weight initialisation",
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
        row = {"activation": r["activation"], "init": r["init"], "dtype": r["dtype"], "train accuracy": r["accuracy"],
               "best straight line": best, "final loss": r["losses"][-1]}
        for i, s in enumerate(r["series"].values(), 1):
            row[f"layer {i}: max rel. distance"] = float(s["rel_max_dist"].max())
            row[f"layer {i}: final rel. distance"] = float(s["rel_max_dist"][-1])
            row[f"layer {i}: exactly 0"] = bool((s["max_dev0"] == 0.0).all())
        records.append(row)

    cond = (f"{config.n} points of two spirals (noise {config.noise}), 2-{config.width}-{config.width}-2 "
            f"({', '.join(config.activations)}), cross-entropy, SGD η = "
            f"{', '.join(f'{lr:g} ({a})' for a, lr in zip(config.activations, config.lrs))}, momentum "
            f"{config.momentum:g}, batch {config.batch_size}, "
            f"{config.iterations} steps, biases 0; constant inits in float64 and float32, Xavier in float32; "
            f"Symmetry probe on both hidden layers every {config.every} steps and at the end; seed {ctx.seed}")
    claims = []
    for cid, name, what in (("2a", "zeros", "all-zero weights"),
                            ("2b", "constant", f"every weight = {config.constant:g}")):
        sel = [r for r in runs if r["init"] == name and r["dtype"] == "float64"]
        worst = max(float(s["rel_max_dist"].max()) for r in sel for s in r["series"].values())
        exact = sum(int((s["max_dev0"] == 0.0).all()) for r in sel for s in r["series"].values())
        total = sum(len(r["series"]) for r in sel)
        claims.append(Claim(
            cid,
            f"With {what}, all units of a hidden layer stay identical after any number of SGD steps (verdict, in "
            f"float64: the Symmetry probe's max distance between two units ≤ {IDENTICAL_RTOL:g} × the largest "
            "weight vector at every sampled step), and accuracy stays poor (verdict: no better than the best "
            "straight line, the most a layer of copies can do)",
            check_copies([worst], [r["accuracy"] for r in sel], best, IDENTICAL_RTOL),
            f"float64: largest relative distance {worst:.1e}, exactly 0.0 at every sampled step in {exact} of "
            f"{total} hidden layers; training accuracy "
            + ", ".join(f"{r['activation']} {r['accuracy']:.3f}" for r in sel) + f" vs best line {best:.3f}",
            cond, figure="symmetry"))
    rnd = [r for r in runs if r["kind"] == "random"]
    spread = min(float(s["rel_max_dist"][-1]) for r in rnd for s in r["series"].values())
    claims.append(Claim(
        "2c",
        f"Random (Xavier) initialisation breaks the symmetry and learns what a line cannot (verdict: relative "
        f"distance between units ≥ {BROKEN_MIN} in every hidden layer and training accuracy above the best line's)",
        check_broken(spread, [r["accuracy"] for r in rnd], best),
        f"smallest final relative distance {spread:.2f}; training accuracy "
        + ", ".join(f"{r['activation']} {r['accuracy']:.3f}" for r in rnd) + f" vs best line {best:.3f}",
        cond, figure="regions"))

    f32 = [r for r in runs if r["kind"] == "constant" and r["dtype"] == "float32"]
    far = {r["label"]: max(float(s["rel_max_dist"].max()) for s in r["series"].values()) for r in f32}
    claims.append(Claim(
        "2d",
        "The same in float32, the dtype training runs in: the units of a constant initialisation stay copies "
        f"for every practical purpose (verdict: relative distance < {PRACTICAL_RTOL:g} at every sampled step and "
        "training accuracy no better than the best line, in every constant-init run)",
        check_copies(far.values(), [r["accuracy"] for r in f32], best, PRACTICAL_RTOL, strict=True),
        "largest relative distance (training accuracy): "
        + "; ".join(f"{r['label'].rsplit(', ', 1)[0]} {far[r['label']]:.1e} ({r['accuracy']:.3f})" for r in f32)
        + f"; best line {best:.3f}. Rounding puts the units ~1e-8 apart and the symmetric state is unstable, so "
        "training amplifies it; how far depends on the number of steps",
        cond, figure="symmetry"))

    ctx.savefig(_symmetry_figure(runs), "symmetry",
                caption="Largest distance between two units' incoming weight vectors (bias included), relative to "
                        "the largest vector, over training (log scale above 1e-9). Dotted (zero / constant init, "
                        "float64): exactly 0 — the units never become different. Dashed (the same in float32): "
                        "rounding puts the units ~1e-8 apart and training amplifies it, roughly exponentially "
                        "(a straight line on this scale) — given enough steps, into different units. Solid "
                        "(Xavier): the units are different from the start.")
    first = config.activations[0]
    shown = {r["label"]: (r["model"], r["accuracy"], r["kind"] != "random") for r in runs
             if r["activation"] == first and (r["dtype"] == "float64" or r["init"] != "constant")}
    ctx.savefig(figures.regions_figure(shown, x, y, line, title=f"{first}: decision regions after training"), "regions",
                caption="With identical units the boundary is a straight line (dashed: the best line found by "
                        "exhaustive search); random initialisation follows the spirals. The float32 panel of "
                        "all-zero weights shows how far rounding, amplified by training, moved the copies apart "
                        "(claim 2d).")
    ctx.savefig(figures.loss_curves({r["label"]: r["losses"] for r in runs}, smooth=25, title="Training loss"),
                "loss", caption="Mini-batch cross-entropy (running mean over 25 steps).")
    notes = [
        "The output layer is left out of the probe: its units have different targets, so they differ after the "
        "first step even from a constant start; what cannot differ are the units within each hidden layer.",
        "With tanh and all-zero weights nothing but the output bias ever moves: every hidden activation is "
        "tanh(0) = 0, so every weight gradient is 0 (a fixed point). With sigmoid (h = 0.5) the layers do learn, "
        "but as copies.",
        "float32 against float64: the tie is exact in float64 (the probe reads 0.0), while in float32 the matrix "
        "products round different output columns differently, and the symmetric state is unstable, so training "
        "amplifies that rounding step by step (claim 2d). Real arithmetic has no rounding to amplify: the notes' "
        "claim is about it, and the float64 runs carry its verdict (2a, 2b). Random initialisation is still the "
        "remedy: rounding breaks the tie slowly, by accident and only where the kernels round unevenly.",
    ]
    return Result(claims=claims, records=records, notes=notes)
