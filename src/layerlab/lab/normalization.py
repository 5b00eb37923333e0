"""Seed 001, module 7.6: batch normalisation (claims 11 and 12 of issue [lab]).

Claim 11 (Ioffe & Szegedy's set-up, as the notes show it): 7 sigmoid layers of 100 units,
W = 0.1·randn — with BN (Linear → BN → σ) the loss falls much faster, and the distributions
of h1, h4, h7 stay stable over training; without BN they drift.

Claim 12: at batch size 1, BN's batch statistics are μ = x and σ = 0, so x̂ = (x − μ)/√(σ² + ε)
= 0 for every input — the layer outputs β whatever x is. Layer norm normalises over the
features of one example and works at batch size 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import nn, optim, probes
from ..tensor import Tensor
from . import figures
from .common import fashion, fit_iterations, mean_tail, mlp
from .registry import Claim, Context, Result, experiment

__all__ = ["BNConfig", "median_drift", "FASTER", "LN_FALL"]

#: "falls much faster": BN's mean loss over the last iterations at most FASTER × the plain network's
FASTER = 0.5
#: "layer norm works at batch size 1": the loss falls by at least this fraction
LN_FALL = 0.3


@dataclass
class BNConfig:
    iterations: int = 300
    batch_size: int = 60
    lr: float = 0.5
    every: int = 10
    tail: int = 50
    QUICK: ClassVar[dict] = {"iterations": 100, "tail": 20}


def median_drift(steps_values) -> float:
    """max − min of a layer's median activation over training (0 = perfectly stable)."""
    _, v = steps_values
    v = np.asarray(v, dtype=float)
    return float(v.max() - v.min()) if v.size else float("nan")


@experiment("batch_norm", topic="normalisation",
            summary="7 sigmoid layers, W = 0.1·randn: with batch norm the loss falls much faster and h1/h4/h7 stay "
                    "stable; without it they drift (claim 11)")
def batch_norm(config: BNConfig, ctx: Context) -> Result:
    (x, y), _ = fashion()
    sizes = [784] + [100] * 7 + [10]
    res, curves, bands = {}, {}, {}
    for label, bn in (("no BN", False), ("BN", True)):
        model = mlp(sizes, "sigmoid", ("normal", {"std": 0.1}), ctx.rng_for("w"), batch_norm=bn)
        acts = [name for name, m in model.named_modules() if isinstance(m, nn.Sigmoid)]
        watch = {acts[0]: "h1", acts[3]: "h4", acts[6]: "h7"}
        probe = probes.ActivationStats(model, layers=list(watch), every=config.every, what=("post",))
        out = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=config.lr), x, y, config.iterations,
                             config.batch_size, label=label, callbacks=[probe], seed=ctx.seed)
        curves[label] = out["losses"]
        layer_bands = {}
        for layer, h in watch.items():
            steps, p15 = probe.series(layer, "p15", kind="post")
            _, p50 = probe.series(layer, "p50", kind="post")
            _, p85 = probe.series(layer, "p85", kind="post")
            layer_bands[h] = {"steps": steps, "p15": p15, "p50": p50, "p85": p85}
        bands[label] = layer_bands
        res[label] = {"tail": mean_tail(out["losses"], config.tail),
                      "drift": {h: median_drift((b["steps"], b["p50"])) for h, b in layer_bands.items()}}
    ctx.savefig(figures.loss_curves(curves, smooth=5, title="7 sigmoid layers: with and without batch norm"), "loss")
    ctx.savefig(figures.percentile_band_grid(bands, title="15th/50th/85th percentiles of h1, h4, h7 over training",
                                             ylabel="σ(·)"), "distributions",
                caption="As Ioffe & Szegedy's figure 1: without BN the distributions drift; with BN they stay put.")
    plain, bn = res["no BN"], res["BN"]
    cond = (f"Fashion-MNIST, 784-7×100-10 sigmoid, W = 0.1·randn, SGD η = {config.lr}, batch {config.batch_size}, "
            f"{config.iterations} iterations; BN = Linear → BatchNorm → σ")
    drift = lambda r: ", ".join(f"{h} {v:.3f}" for h, v in r["drift"].items())  # noqa: E731
    claims = [
        Claim("11a", f"With batch norm the loss falls much faster (mean loss of the last {config.tail} iterations "
                     f"≤ {FASTER} × without)",
              holds=bool(bn["tail"] <= FASTER * plain["tail"]),
              measured=f"mean loss of the last {config.tail} iterations: BN {bn['tail']:.3f}, no BN {plain['tail']:.3f}",
              conditions=cond, figure="loss"),
        Claim("11b", "With BN the distributions at h1, h4, h7 stay stable (smaller drift of the median over training) "
                     "than without, where they drift",
              holds=bool(all(bn["drift"][h] < plain["drift"][h] for h in ("h1", "h4", "h7"))),
              measured=f"range of the median over training — BN: {drift(bn)}; no BN: {drift(plain)}",
              conditions=cond, figure="distributions"),
    ]
    return Result(claims=claims, records=[{"network": k, "tail loss": v["tail"], **v["drift"]} for k, v in res.items()])


@dataclass
class BatchOneConfig:
    iterations: int = 600
    width: int = 100
    lr: float = 0.01
    QUICK: ClassVar[dict] = {"iterations": 300}


@experiment("norm_batch_one", topic="normalisation",
            summary="batch norm at batch size 1 degenerates (x̂ = 0); layer norm trains at batch size 1 (claim 12)")
def batch_one(config: BatchOneConfig, ctx: Context) -> Result:
    (x, y), _ = fashion()
    rng = ctx.rng_for("x")
    one = x[rng.integers(len(x)):][:1]
    # BN's training-mode formula on a batch of one example, computed directly: μ = x, σ² = 0
    a = one @ rng.standard_normal((784, 5)).astype(np.float32)
    mu, var = a.mean(0), a.var(0)
    x_hat = (a - mu) / np.sqrt(var + 1e-5)
    try:
        nn.BatchNorm(5).train()(nn.Linear(784, 5)(Tensor(one)))
        bn_error = "no error"
    except ValueError as e:
        bn_error = str(e)
    model = nn.Sequential(nn.Linear(784, config.width, init="he_normal", rng=ctx.rng_for("w")),
                          nn.LayerNorm(config.width), nn.ReLU(), nn.Linear(config.width, 10, rng=ctx.rng_for("w2")))
    out = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=config.lr), x, y, config.iterations, 1,
                         label="LayerNorm, batch 1", seed=ctx.seed)
    n = max(10, config.iterations // 5)
    first, last = float(np.mean(out["losses"][:n])), float(np.mean(out["losses"][-n:]))
    ctx.savefig(figures.loss_curves({"LayerNorm, batch size 1": out["losses"]}, smooth=n,
                                    title="layer norm trains at batch size 1"), "layernorm")
    return Result(claims=[
        Claim("12a", "Batch norm at batch size 1 degenerates: x̂ = (x − μ)/√(σ² + ε) = 0 for every unit "
                     "(layerlab refuses it in training mode with a clear error)",
              holds=bool(np.all(x_hat == 0) and "batch" in bn_error.lower()),
              measured=f"max |x̂| = {float(np.abs(x_hat).max()):.1g} over 5 units; BatchNorm(train) says: {bn_error}",
              conditions="one Fashion-MNIST image through a random 784→5 linear map, ε = 1e-5"),
        Claim("12b", f"Layer norm works at batch size 1: the loss falls (by ≥ {LN_FALL:.0%})",
              holds=bool(np.isfinite(last) and last <= (1 - LN_FALL) * first),
              measured=f"mean loss of the first {n} iterations {first:.3f} → last {n} {last:.3f}",
              conditions=f"Fashion-MNIST, 784-{config.width}-LayerNorm-ReLU-10, SGD η = {config.lr}, batch size 1, "
                         f"{config.iterations} iterations",
              figure="layernorm"),
    ])
