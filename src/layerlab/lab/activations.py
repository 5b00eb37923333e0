"""Seeds 003/004: the activation functions compared (claim 15 of issue [lab]).

The same network is trained with each activation of the notes; the table gives the loss
after N steps, the dead and saturated fractions at the end, and the time per step. The
notes: the ReLU family converges faster than sigmoid/tanh, and sigmoid is worst. The
figure of f and f′ for every registered activation is drawn from the classes' own ``f``
and ``df``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import nn, optim, probes
from ..tensor import Tensor, no_grad
from . import figures
from .common import fashion, fit_iterations, mean_tail, mlp
from .registry import Claim, Context, Result, experiment

__all__ = ["ActivationsConfig", "ACTIVATIONS", "RELU_FAMILY", "plot_activations"]

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "relu6", "elu", "selu", "gelu", "silu", "mish", "softplus",
               "lisht")
#: He init for these (the CLAIMS.md reference set-up), Xavier for the others
RELU_FAMILY = ("relu", "leaky_relu", "relu6", "elu")


@dataclass
class ActivationsConfig:
    iterations: int = 400
    seeds: int = 2
    lr: float = 0.1
    batch_size: int = 128
    tail: int = 50
    QUICK: ClassVar[dict] = {"iterations": 150, "seeds": 1, "tail": 30}


def plot_activations(names=ACTIVATIONS):
    """f (solid) and f′ (dashed) of each activation, from the classes' ``f`` and ``df``."""
    cols = 4
    rows = -(-len(names) // cols)
    fig, axes = figures.new_figure(rows, cols, panel=(2.2, 1.7), title="f (solid) and f′ (dashed)")
    z = np.linspace(-4, 4, 401)
    for ax, name in zip(axes.ravel(), names):
        act = nn.activation(name)
        f = act.f(z)
        ax.plot(z, f, color="#1f77b4")
        ax.plot(z, act.df(z, f), "--", color="#d62728")
        ax.axhline(0, color="0.7", lw=0.5)
        ax.set_title(name, fontsize=9)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    return fig


@experiment("activations", topic="activation functions",
            summary="the same 784-256-256-10 net trained with every activation: loss, dead/saturated fractions, time "
                    "per step; ReLU family vs sigmoid/tanh (claim 15)")
def run(config: ActivationsConfig, ctx: Context) -> Result:
    (x, y), (xt, _) = fashion()
    probe_x = xt[:1000]
    rows, curves, finals = [], {}, {}
    for name in ACTIVATIONS:
        init = "he_normal" if name in RELU_FAMILY else "xavier_normal"
        tails, secs = [], []
        for s in range(config.seeds):
            model = mlp([784, 256, 256, 10], name, init, ctx.rng_for("w", name, s))
            t0 = time.process_time()
            out = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=config.lr), x, y, config.iterations,
                                 config.batch_size, label=f"{name} seed {s}", seed=ctx.seed + s)
            secs.append((time.process_time() - t0) / max(1, len(out["losses"])))
            tails.append(mean_tail(out["losses"], config.tail))
            if s == 0:
                curves[name] = out["losses"]
        with probes.ActivationStats(model, what=("post",)) as p, no_grad():
            model(Tensor(probe_x))
        summ = p.summary()
        dead = [v.get("post/dead") for v in summ.values() if v.get("post/dead") is not None]
        sat = [v.get("post/saturated") for v in summ.values() if v.get("post/saturated") is not None]
        finals[name] = float(np.mean(tails))
        rows.append({"activation": name, "init": init.split("_")[0],
                     f"mean loss, last {config.tail} it.": finals[name],
                     "per seed": ", ".join(f"{t:.3f}" for t in tails),
                     "dead (mean over layers)": float(np.mean(dead)) if dead else 0.0,
                     "saturated (mean over layers)": float(np.mean(sat)) if sat else 0.0,
                     "CPU ms / step": 1000 * float(np.mean(secs))})
    ctx.savefig(plot_activations(), "functions", caption="Drawn from each activation class's f and df.")
    ctx.savefig(figures.loss_curves(curves, smooth=10, ylim=(0, 2.5), title="training loss per activation"), "loss")
    ctx.savefig(figures.bar_chart(dict(sorted(finals.items(), key=lambda kv: kv[1])), horizontal=True,
                                  ylabel=f"mean loss, last {config.tail} iterations"), "final")
    order = sorted(finals, key=finals.get)
    relu_fam = float(np.mean([finals[a] for a in ("relu", "leaky_relu", "elu")]))
    cond = (f"Fashion-MNIST, 784-256-256-10, SGD η = {config.lr}, batch {config.batch_size}, {config.iterations} "
            f"iterations, {config.seeds} seed(s); He init for {', '.join(RELU_FAMILY)}, Xavier for the others")
    ranking = ", ".join(f"{a} {finals[a]:.3f}" for a in order)
    claims = [
        Claim("15a", "Sigmoid is the worst activation (highest loss after the same number of steps)",
              holds=bool(order[-1] == "sigmoid"), measured=f"ranking (mean loss of the last {config.tail} it.): "
                                                           f"{ranking}", conditions=cond, figure="final"),
        Claim("15b", "The ReLU family (ReLU, LeakyReLU, ELU) converges faster than sigmoid and tanh (lower mean loss)",
              holds=bool(relu_fam < finals["tanh"] and relu_fam < finals["sigmoid"]),
              measured=f"ReLU family mean {relu_fam:.3f}; tanh {finals['tanh']:.3f}; sigmoid {finals['sigmoid']:.3f}"
                       f" (difference to tanh {finals['tanh'] - relu_fam:+.3f})",
              conditions=cond, figure="loss"),
    ]
    return Result(claims=claims, records=rows)
