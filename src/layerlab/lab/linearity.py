"""Seed 001/003: without a non-linearity, depth buys nothing (claim 1 of issue [lab]).

A stack of linear maps h = x·W₁ᵀ·W₂ᵀ⋯ is itself one linear map x·(W_L⋯W₁)ᵀ, so on the two
spirals — which no line separates — a deep linear network cannot beat a linear classifier,
while the same depth with tanh or ReLU fits the training set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import data, optim
from ..tensor import Tensor, no_grad
from . import figures
from .common import fit_iterations, mlp
from .registry import Claim, Context, Result, experiment

__all__ = ["LinearityConfig", "collapse_error", "ACC_TARGET", "LINEAR_MARGIN"]

#: "reaches ≥ 0.98 training accuracy"
ACC_TARGET = 0.98
#: "cannot beat a linear classifier": deep-linear accuracy ≤ linear accuracy + this margin
LINEAR_MARGIN = 0.02


@dataclass
class LinearityConfig:
    """Two spirals; depth × width hidden layers; full-batch Adam."""

    n: int = 400
    noise: float = 0.1
    depth: int = 4
    width: int = 64
    iterations: int = 1500
    lr: float = 0.01
    QUICK: ClassVar[dict] = {"iterations": 600}


def collapse_error(model, x: np.ndarray) -> float:
    """max |f(x) − (x·Mᵀ + c)| where M = W_L⋯W₁ and c the composed bias: 0 up to rounding for a linear stack."""
    m = np.eye(x.shape[1])
    c = np.zeros(x.shape[1])
    for layer in model:
        w, b = layer.weight.data.astype(np.float64), layer.bias.data.astype(np.float64)
        m, c = w @ m, w @ c + b
    with no_grad():
        out = model(Tensor(x)).data.astype(np.float64)
    return float(np.max(np.abs(out - (x.astype(np.float64) @ m.T + c))))


def _accuracy(model, x, y) -> float:
    with no_grad():
        return float((model(Tensor(x)).data.argmax(1) == y).mean())


def _regions(models: dict, x, y):
    fig, axes = figures.new_figure(1, len(models), panel=(2.4, 2.4), title="decision regions on the two spirals")
    g = np.linspace(-1.2, 1.2, 150, dtype=np.float32)
    gx, gy = np.meshgrid(g, g)
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    for ax, (label, (model, acc)) in zip(axes[0], models.items()):
        with no_grad():
            z = model(Tensor(grid)).data.argmax(1).reshape(gx.shape)
        ax.contourf(gx, gy, z, levels=[-0.5, 0.5, 1.5], colors=["#c6dbef", "#fdd0a2"])
        ax.scatter(x[:, 0], x[:, 1], c=np.where(y == 0, "#3182bd", "#e6550d"), s=4)
        ax.set_title(f"{label}\nacc {acc:.3f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


@experiment("linearity", topic="activation functions",
            summary="a deep linear network is one linear map: on two spirals it cannot beat a linear classifier; "
                    "tanh/ReLU at the same depth fit it (claim 1)")
def run(config: LinearityConfig, ctx: Context) -> Result:
    x, y = data.spirals(config.n, classes=2, noise=config.noise, seed=ctx.seed)
    hidden = [config.width] * config.depth
    specs = {"linear classifier": ([2, 2], None), f"{config.depth}-layer linear": ([2, *hidden, 2], None),
             f"{config.depth}-layer tanh": ([2, *hidden, 2], "tanh"),
             f"{config.depth}-layer ReLU": ([2, *hidden, 2], "relu")}
    models, curves, records = {}, {}, []
    for label, (sizes, act) in specs.items():
        model = mlp(sizes, act, "xavier_uniform" if act != "relu" else "he_uniform", ctx.rng_for("w", label))
        opt = optim.Adam(model.parameters(), lr=config.lr)
        res = fit_iterations(ctx, model, opt, x, y, config.iterations, batch_size=len(x), label=label)
        acc = _accuracy(model, x, y)
        models[label] = (model, acc)
        curves[label] = res["losses"]
        records.append({"network": label, "train accuracy": acc, "final loss": res["losses"][-1]})
    names = list(specs)
    lin_acc, deep_lin_acc = models[names[0]][1], models[names[1]][1]
    tanh_acc, relu_acc = models[names[2]][1], models[names[3]][1]
    err = collapse_error(models[names[1]][0], x)
    ctx.savefig(_regions(models, x, y), "regions", caption="What each network learned on the training set.")
    ctx.savefig(figures.loss_curves(curves, logy=True, title="training loss (full batch, Adam)"), "loss")
    holds = deep_lin_acc <= lin_acc + LINEAR_MARGIN and tanh_acc >= ACC_TARGET and relu_acc >= ACC_TARGET
    claim = Claim(
        "1", f"A deep linear network is a linear map: on two spirals it cannot beat a linear classifier (within "
             f"{LINEAR_MARGIN}), while the same depth with tanh or ReLU reaches ≥ {ACC_TARGET} training accuracy",
        holds=bool(holds),
        measured=f"training accuracy: linear classifier {lin_acc:.3f}, {config.depth}-layer linear {deep_lin_acc:.3f}, "
                 f"tanh {tanh_acc:.3f}, ReLU {relu_acc:.3f}; the linear stack equals x·(W_L⋯W₁)ᵀ + c to "
                 f"{err:.1e} (float32)",
        conditions=f"{config.n} spirals points (noise {config.noise}), {config.depth} × {config.width} hidden units, "
                   f"Adam η = {config.lr}, full batch, {config.iterations} iterations, seed {ctx.seed}",
        figure="regions")
    return Result(claims=[claim], records=records)
