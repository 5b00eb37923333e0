"""Seed 001, module 7.4: constant initialisation never breaks symmetry (claim 2 of issue [lab]).

If all weights into a layer start equal, every unit of the layer computes the same h and
receives the same gradient, so after any number of updates the units are still copies of
one another: the layer has the capacity of a single unit. Random initialisation breaks the
tie. The :class:`~layerlab.probes.Symmetry` probe measures max_i ‖w_i − w_0‖ per layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import data, optim, probes
from ..tensor import Tensor, no_grad
from . import figures
from .common import fit_iterations, mlp
from .registry import Claim, Context, Result, experiment

__all__ = ["SymmetryConfig", "max_unit_deviation", "IDENTICAL_RTOL", "POOR_MARGIN"]

#: units count as identical when max_i ‖w_i − w_0‖ ≤ IDENTICAL_RTOL·‖w_0‖ (float64 rounding only)
IDENTICAL_RTOL = 1e-9
#: "accuracy stays poor": at least this far below the randomly initialised network's
POOR_MARGIN = 0.1


@dataclass
class SymmetryConfig:
    """Two spirals, 2-width-width-2 tanh, SGD; float64 so that 'identical' can be exact."""

    n: int = 400
    width: int = 32
    iterations: int = 2000
    lr: float = 0.1
    momentum: float = 0.9
    QUICK: ClassVar[dict] = {"iterations": 500}


def max_unit_deviation(weight: np.ndarray, bias: np.ndarray | None = None) -> tuple[float, float]:
    """(max_i ‖[w_i, b_i] − [w_0, b_0]‖, ‖[w_0, b_0]‖) over the units (rows) of a layer."""
    w = weight if bias is None else np.concatenate([weight, bias[:, None]], axis=1)
    return float(np.max(np.linalg.norm(w - w[:1], axis=1))), float(np.linalg.norm(w[0]))


@experiment("symmetry", topic="weight initialisation",
            summary="zero or constant init: a layer's units stay identical under SGD (Symmetry probe = 0) and "
                    "accuracy stays poor; random init breaks the tie (claim 2)")
def run(config: SymmetryConfig, ctx: Context) -> Result:
    x, y = data.spirals(config.n, classes=2, noise=0.1, seed=ctx.seed, dtype=np.float64)
    inits = {"zeros": ("zeros", None), "constant 0.5": (("constant", {"value": 0.5}), None),
             "xavier (random)": ("xavier_uniform", None)}
    records, curves, rows = [], {}, {}
    for label, (init, _) in inits.items():
        model = mlp([2, config.width, config.width, 2], "tanh", init, ctx.rng_for("w", label),
                    bias_init=init if label != "xavier (random)" else 0.0, dtype=np.float64)
        sym = probes.Symmetry(model, every=max(1, config.iterations // 20))
        opt = optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
        res = fit_iterations(ctx, model, opt, x, y, config.iterations, batch_size=32, label=label, callbacks=[sym])
        with no_grad():
            acc = float((model(Tensor(x)).data.argmax(1) == y).mean())
        devs = [max_unit_deviation(model[i].weight.data, model[i].bias.data) for i in (0, 2)]
        rel = max(d / max(n, 1e-300) if n > 0 else (0.0 if d == 0 else np.inf) for d, n in devs)
        records.append({"init": label, "train accuracy": acc, "max ‖w_i − w_0‖ layer 1": devs[0][0],
                        "max ‖w_i − w_0‖ layer 2": devs[1][0], "relative": rel})
        curves[label] = res["losses"]
        steps, values = sym.series("0", "max_dev0")
        rows[label] = (steps, values)
    by = {r["init"]: r for r in records}
    random_acc = by["xavier (random)"]["train accuracy"]
    ctx.savefig(figures.loss_curves(curves, title="training loss"), "loss")
    ctx.savefig(figures.loss_curves(rows, ylabel="max ‖w_i − w_0‖ (layer 1)", title="Symmetry probe over training"),
                "symmetry", caption="0 means all units of the layer are still identical.")
    claims = []
    for label in ("zeros", "constant 0.5"):
        r = by[label]
        identical = r["relative"] <= IDENTICAL_RTOL
        poor = r["train accuracy"] <= random_acc - POOR_MARGIN
        claims.append(Claim(
            "2" + ("a" if label == "zeros" else "b"),
            f"{label} init: all units of a hidden layer stay identical after {config.iterations} SGD steps "
            f"(max ‖w_i − w_0‖ ≤ {IDENTICAL_RTOL:g}·‖w_0‖), and accuracy stays poor (≥ {POOR_MARGIN} below random init)",
            holds=bool(identical and poor),
            measured=f"max ‖w_i − w_0‖: layer 1 {r['max ‖w_i − w_0‖ layer 1']:.2e}, layer 2 "
                     f"{r['max ‖w_i − w_0‖ layer 2']:.2e} (relative {r['relative']:.1e}); train accuracy "
                     f"{r['train accuracy']:.3f} vs {random_acc:.3f} with Xavier init",
            conditions=f"two spirals ({config.n} points), 2-{config.width}-{config.width}-2 tanh, float64, SGD η = "
                       f"{config.lr}, momentum {config.momentum}, batch 32, biases initialised like the weights",
            figure="symmetry"))
    return Result(claims=claims, records=records)
