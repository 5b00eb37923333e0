"""Seed 001, module 7.2: sigmoid's outputs are all positive, so the gradients of one unit's
incoming weights all share one sign (claim 9 of issue [lab]).

∂L/∂w_ij = δ_i · h_j with h_j = σ(·) > 0: for one example every gradient in row i has the
sign of δ_i, so all of a unit's weights can only move up together or down together — the
zig-zag path to an optimum that needs mixed signs. tanh's outputs have both signs, so the
rows mix. Over a mini-batch the gradient is a sum over examples with different δ, so signs
can mix even with sigmoid: both are measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import nn
from ..probes import sign_agreement
from ..tensor import Tensor
from . import figures
from .common import fashion, mlp
from .registry import Claim, Context, Result, experiment

__all__ = ["SignConfig", "layer2_sign_stats", "ONE_SIGN_MIN", "ONE_SIGN_MAX_TANH"]

#: "share one sign": at least this fraction of layer-2 units have one-signed incoming gradients (sigmoid) ...
ONE_SIGN_MIN = 0.99
#: ... and at most this fraction with tanh ("with tanh they do not")
ONE_SIGN_MAX_TANH = 0.05


@dataclass
class SignConfig:
    examples: int = 50
    batch_size: int = 64
    batches: int = 10
    QUICK: ClassVar[dict] = {"examples": 10, "batches": 3}


def layer2_sign_stats(model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(mean agreement, fraction of units all one sign) of the gradient of layer 2's weights on (x, y)."""
    model.zero_grad()
    nn.CrossEntropyLoss()(model(Tensor(x)), Tensor(y)).backward()
    return sign_agreement(model[2].weight.grad)


@experiment("gradient_signs", topic="activation functions",
            summary="sigmoid: the gradients of a unit's incoming weights share one sign (zig-zag updates); tanh: "
                    "they do not — per example and per mini-batch (claim 9)")
def run(config: SignConfig, ctx: Context) -> Result:
    (x, y), _ = fashion()
    rng = ctx.rng_for("examples")
    records, claims, per = [], [], {}
    for act in ("sigmoid", "tanh"):
        model = mlp([784, 100, 100, 10], act, "xavier_normal", ctx.rng_for("w", act))
        idx = rng.choice(len(x), config.examples, replace=False)
        single = [layer2_sign_stats(model, x[i:i + 1], y[i:i + 1])[1] for i in idx]
        batch = []
        for _ in range(config.batches):
            b = rng.choice(len(x), config.batch_size, replace=False)
            batch.append(layer2_sign_stats(model, x[b], y[b])[1])
        per[act] = (float(np.mean(single)), float(np.mean(batch)))
        records.append({"activation": act, "one-signed units, per example": per[act][0],
                        f"one-signed units, batch of {config.batch_size}": per[act][1]})
    ctx.savefig(figures.bar_chart({act: {"one example": v[0], f"batch of {config.batch_size}": v[1]}
                                   for act, v in per.items()},
                                  ylabel="fraction of layer-2 units", title="units whose incoming-weight gradients "
                                                                            "all share one sign"), "signs")
    sig, tan = per["sigmoid"], per["tanh"]
    cond = (f"Fashion-MNIST, 784-100-100-10, Xavier-normal init, cross-entropy, gradient of layer 2's weights at "
            f"initialisation; {config.examples} single examples, {config.batches} mini-batches of {config.batch_size}")
    claims.append(Claim(
        "9a", f"Per example: with sigmoid ≥ {ONE_SIGN_MIN:.0%} of a layer's units have incoming-weight gradients of "
              f"one sign; with tanh ≤ {ONE_SIGN_MAX_TANH:.0%}",
        holds=bool(sig[0] >= ONE_SIGN_MIN and tan[0] <= ONE_SIGN_MAX_TANH),
        measured=f"one-signed units: sigmoid {sig[0]:.1%}, tanh {tan[0]:.1%} (mean over examples)",
        conditions=cond, figure="signs"))
    claims.append(Claim(
        "9b", f"Per mini-batch of {config.batch_size}: the same holds for the summed gradient",
        holds=bool(sig[1] >= ONE_SIGN_MIN and tan[1] <= ONE_SIGN_MAX_TANH),
        measured=f"one-signed units: sigmoid {sig[1]:.1%}, tanh {tan[1]:.1%} (mean over batches) — a sum over "
                 "examples whose δ differ in sign can mix the signs",
        conditions=cond, figure="signs"))
    return Result(claims=claims, records=records)
