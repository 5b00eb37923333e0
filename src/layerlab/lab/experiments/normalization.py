"""Seed 001, module 7.5: batch normalisation, and layer normalisation at batch size 1 (claims 11 and 12
of issue [lab]).

Claim 11 — the notes compare "with and without batch normalization on MNIST data using 7 layers"
of sigmoid units with ``w = 0.1*np.random.randn()``, plotting h1, h4 and h7 over training (after
Ioffe & Szegedy's figure 1, which shows the 15th/50th/85th percentiles of a sigmoid's input): with
BN (Linear → BN → σ) the loss falls much faster and the distributions stay stable; without BN they
drift. Measured here on Fashion-MNIST with :class:`~layerlab.probes.ActivationStats` on a fixed
batch of training images, for the activations h = σ(·) the notes plot and the sigmoids' inputs
I & S plot.

Claim 12 — BN's statistics come from the mini-batch: μ_i = (1/m)Σ_j x_i^j and
σ_i² = (1/m)Σ_j (x_i^j − μ_i)². At m = 1, μ_i = x_i and σ_i = 0, so x̂_i = (x_i − μ_i)/√(σ_i² + ε)
= 0 whatever the input: "we can't use a batch size of 1 at all". layerlab's BatchNorm refuses a
batch of one in training mode (a ValueError naming the layer), so the degenerate x̂ is computed
here from the formula. Layer norm takes μ and σ over the H units of one example's layer instead,
so it works at batch size 1: a small LayerNorm network is trained with one example per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import layerlab as ll

from layerlab import nn, optim
from layerlab.probes import ActivationStats
from layerlab.train import Callback
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import tail_mean
from layerlab.lab.training import fashion, fit_iterations

__all__ = [
    "BatchNormConfig", "BatchOneConfig", "norm_mlp", "percentile_drift", "batch_statistics_xhat",
    "MUCH_FASTER", "STABLE_DRIFT", "LN_FALL", "BN_EPS",
]

# -- the verdicts' thresholds (stated in the claims' text) -------------------------------------------------
#: "the loss falls much faster": BN's mean loss over the last iterations at most half of the plain network's
MUCH_FASTER = 0.5
#: a distribution "stays stable" when none of its 15th/50th/85th percentiles moves by 0.1 or more (a tenth
#: of the sigmoid's output range) from its value at the first measurement; it "drifts" when one does
STABLE_DRIFT = 0.1
#: "layer norm works at batch size 1": the held-out loss falls to at most 75% of its initial value
LN_FALL = 0.75
#: ε of the normalisation formula (layerlab's and PyTorch's default)
BN_EPS = 1e-5
_QS = ("p15", "p50", "p85")


# -- networks and measurements -----------------------------------------------------------------------------------
def norm_mlp(sizes, activation: str, w_std: float, rng: np.random.Generator, norm: str | None = None) -> nn.Sequential:
    """Linear(W = w_std·randn, b = 0) [→ BatchNorm or LayerNorm] → activation per hidden layer; a Linear output layer.

    ``norm``: None, ``"batch"`` or ``"layer"`` (normalising the pre-activation, as the notes place BN)."""
    if norm not in (None, "batch", "layer"):
        raise ValueError(f"norm_mlp: norm must be None, 'batch' or 'layer', got {norm!r}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, init=("normal", {"std": float(w_std)}), rng=rng))
        if i < len(sizes) - 2:
            if norm == "batch":
                layers.append(nn.BatchNorm(b))
            elif norm == "layer":
                layers.append(nn.LayerNorm(b))
            layers.append(nn.activation(activation))
    return nn.Sequential(*layers)


def percentile_drift(band: dict) -> float:
    """How far a distribution moved: max over the recorded steps and over p15/p50/p85 of
    |p_q(t) − p_q(t₀)|, t₀ the first recorded step (0 = perfectly stable)."""
    q = np.stack([np.asarray(band[k], dtype=np.float64) for k in _QS])
    if q.shape[1] == 0:
        return math.nan
    return float(np.max(np.abs(q - q[:, :1])))


def batch_statistics_xhat(a: np.ndarray, eps: float = BN_EPS) -> np.ndarray:
    """The notes' batch-norm formula over the batch axis, computed directly:
    μ_i = (1/m)Σ_j a_i^j, σ_i² = (1/m)Σ_j (a_i^j − μ_i)², x̂_i = (a_i − μ_i)/√(σ_i² + ε)."""
    a = np.asarray(a)
    mu = a.mean(axis=0, keepdims=True)
    var = ((a - mu) ** 2).mean(axis=0, keepdims=True)
    return (a - mu) / np.sqrt(var + a.dtype.type(eps))


def _layer_statistics_xhat(a: np.ndarray, eps: float = BN_EPS) -> np.ndarray:
    """Layer norm's formula: the same standardisation over the units of each example."""
    mu = a.mean(axis=1, keepdims=True)
    var = ((a - mu) ** 2).mean(axis=1, keepdims=True)
    return (a - mu) / np.sqrt(var + a.dtype.type(eps))


def _loss(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    was = model.training
    model.eval()
    try:
        with ll.no_grad():
            return float(nn.CrossEntropyLoss()(model(ll.Tensor(x)), ll.Tensor(y)).item())
    finally:
        model.train(was)


class _FixedBatchPercentiles(Callback):
    """15th/50th/85th percentiles of the watched activations (``"post"``) and of their inputs (``"pre"``) on a
    fixed batch, at the start and every ``every`` steps, measured with :class:`ActivationStats` by hand.

    The pass runs in training mode, so batch norm standardises with the fixed batch's own statistics exactly
    as in training; its running statistics are restored afterwards (the probe pass is not a training batch).
    A fixed batch, rather than the changing training batches, makes the curves show what training changed
    and not which images a batch happened to hold."""

    def __init__(self, x: np.ndarray, watch: dict[str, str], every: int):
        self.x, self.watch, self.every = x, watch, every
        self.steps: list[int] = []
        self.values: dict = {kind: {h: {q: [] for q in _QS} for h in watch.values()} for kind in ("post", "pre")}

    def _measure(self, trainer) -> None:
        model = trainer.model
        buffers = {k: np.array(v, copy=True) for k, v in model.state_dict().items() if "running" in k
                   or "num_batches" in k}
        probe = ActivationStats(model, layers=lambda name, m: name in self.watch, bins=0)
        with ll.no_grad(), probe:
            model(ll.Tensor(self.x))
        if buffers:
            model.load_state_dict({**model.state_dict(), **buffers})
        summary = probe.summary()
        self.steps.append(trainer.step)
        for name, h in self.watch.items():
            for kind in ("post", "pre"):
                for q in _QS:
                    self.values[kind][h][q].append(summary[name][f"{kind}/{q}"])

    def bands(self, kind: str) -> dict:
        return {h: {"steps": np.asarray(self.steps), **{q: np.asarray(v[q]) for q in _QS}}
                for h, v in self.values[kind].items()}

    def on_fit_start(self, trainer):
        self._measure(trainer)

    def on_batch_end(self, trainer, step, logs):
        if trainer.step % self.every == 0:
            self._measure(trainer)


class _HeldOut(Callback):
    """The loss on fixed held-out examples at the start, every ``every`` steps and at the end."""

    def __init__(self, x: np.ndarray, y: np.ndarray, every: int):
        self.x, self.y, self.every = x, y, every
        self.steps: list[int] = []
        self.values: list[float] = []

    def _measure(self, trainer) -> None:
        self.steps.append(trainer.step)
        self.values.append(_loss(trainer.model, self.x, self.y))

    def on_fit_start(self, trainer):
        self._measure(trainer)

    def on_batch_end(self, trainer, step, logs):
        if trainer.step % self.every == 0:
            self._measure(trainer)

    def on_fit_end(self, trainer):
        if self.steps[-1] != trainer.step:
            self._measure(trainer)


# -- claim 11 -------------------------------------------------------------------------------------------------------
@dataclass
class BatchNormConfig:
    """784-depth×width-10 sigmoid, W = w_std·randn, biases 0, plain SGD, with and without BN, at each η."""

    depth: int = 7
    width: int = 100
    w_std: float = 0.1
    lrs: tuple[float, ...] = (0.5, 0.1)
    iterations: int = 300
    batch_size: int = 256
    every: int = 10              # percentiles measured every ``every`` iterations ...
    n_probe: int = 1000          # ... on this many fixed training images
    tail: int = 50               # the loss compared: mean of the last ``tail`` iterations
    QUICK: ClassVar[dict] = {"iterations": 150, "tail": 30}


#: the hidden layers the notes plot (1-based)
WATCHED = (1, 4, 7)


def _watched(model: nn.Sequential, depth: int) -> dict[str, str]:
    """{module name: "h1"/"h4"/"h7"} of the activation modules of the watched hidden layers."""
    acts = [name for name, m in model.named_modules() if isinstance(m, nn.Activation)]
    return {acts[k - 1]: f"h{k}" for k in WATCHED if k <= depth}


def _fr(values: dict) -> str:
    return ", ".join(f"{h} {v:.3f}" for h, v in values.items())


@experiment("batch_norm", order=11, topic="batch normalisation",
            summary="7 sigmoid layers, W = 0.1·randn: with batch norm the loss falls much faster and h1, h4, h7 stay "
                    "stable; without it they drift (claim 11)")
def batch_norm(config: BatchNormConfig, ctx: Context) -> Result:
    """Seed 001, module 7.5: the notes' 7-layer sigmoid network with and without batch normalisation —
    loss curves, and the 15th/50th/85th percentiles of h1, h4, h7 (and of their sigmoids' inputs) over
    training."""
    (x, y), _ = fashion()
    x_probe = x[ctx.rng_for("probe").choice(len(x), config.n_probe, replace=False)]
    sizes = [784] + [config.width] * config.depth + [10]
    res: dict[tuple[float, str], dict] = {}
    for lr in config.lrs:
        for label, norm in (("no BN", None), ("BN", "batch")):
            # the same weight draws with and without BN, at every η (BN layers draw nothing)
            model = norm_mlp(sizes, "sigmoid", config.w_std, ctx.rng_for("w"), norm=norm)
            tracker = _FixedBatchPercentiles(x_probe, _watched(model, config.depth), config.every)
            out = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=lr), x, y, config.iterations,
                                 config.batch_size, label=f"{label}, η = {lr:g}", callbacks=[tracker], seed=ctx.seed)
            bands = {kind: tracker.bands(kind) for kind in ("post", "pre")}
            res[(lr, label)] = {
                "losses": out["losses"], "diverged": out["diverged"], "tail": tail_mean(out["losses"], config.tail),
                "bands": bands, "drift": {h: percentile_drift(b) for h, b in bands["post"].items()},
                "drift_pre": {h: percentile_drift(b) for h, b in bands["pre"].items()},
            }

    hs = [f"h{k}" for k in WATCHED if k <= config.depth]
    cond = (f"Fashion-MNIST (inputs in [0, 1]), 784-{config.depth}×{config.width}-10 sigmoid, "
            f"W = {config.w_std:g}·randn, biases 0, cross-entropy, plain SGD, batch {config.batch_size}, "
            f"{config.iterations} iterations, seed {ctx.seed}; BN = Linear → BatchNorm → σ (γ = 1, β = 0 at the "
            f"start); the same weights with and without BN")
    ratios = {lr: res[(lr, "BN")]["tail"] / res[(lr, "no BN")]["tail"] for lr in config.lrs}
    ok_a = all(math.isfinite(r) and r <= MUCH_FASTER for r in ratios.values())
    c_a = Claim(
        "11a",
        f"With batch norm the loss falls much faster (verdict: at each η, BN's mean loss over the last {config.tail} "
        f"iterations at most {MUCH_FASTER:g} × the plain network's)",
        bool(ok_a),
        "; ".join(f"η = {lr:g}: BN {res[(lr, 'BN')]['losses'][0]:.2f} → {res[(lr, 'BN')]['tail']:.3f}, no BN "
                  f"{res[(lr, 'no BN')]['losses'][0]:.2f} → {res[(lr, 'no BN')]['tail']:.3f} (ratio {ratios[lr]:.2f})"
                  for lr in config.lrs) + f" — first loss → mean of the last {config.tail} iterations",
        cond, figure="loss")
    bn_max = {h: max(res[(lr, "BN")]["drift"][h] for lr in config.lrs) for h in hs}
    plain_max = {h: max(res[(lr, "no BN")]["drift"][h] for lr in config.lrs) for h in hs}
    per_lr = lambda label, key="drift": "; ".join(  # noqa: E731 (a one-line formatter)
        f"η = {lr:g}: {_fr(res[(lr, label)][key])}" for lr in config.lrs)
    c_b = Claim(
        "11b",
        f"With BN the distributions at {', '.join(hs)} stay stable (verdict: at every η, none of the 15th/50th/85th "
        f"percentiles of h moves by {STABLE_DRIFT:g} or more from its first measured value)",
        bool(all(v < STABLE_DRIFT for v in bn_max.values())),
        f"largest percentile move with BN — {per_lr('BN')}",
        cond + f"; percentiles over all units × examples of {config.n_probe} fixed training images, every "
               f"{config.every} iterations", figure="distributions")
    c_c = Claim(
        "11c",
        f"Without BN they drift (verdict: for each of {', '.join(hs)}, some percentile moves by {STABLE_DRIFT:g} or "
        f"more at some η)",
        bool(all(v >= STABLE_DRIFT for v in plain_max.values())),
        f"largest percentile move without BN — {per_lr('no BN')}; the sigmoids' inputs (I & S's quantity) without "
        f"BN — {per_lr('no BN', 'drift_pre')}, with BN — {per_lr('BN', 'drift_pre')}",
        cond + f"; percentiles over all units × examples of {config.n_probe} fixed training images, every "
               f"{config.every} iterations", figure="distributions")

    # figures
    ctx.savefig(figures.loss_curves({f"{label}, η = {lr:g}": res[(lr, label)]["losses"] for (lr, label) in res},
                                    smooth=10, title=f"{config.depth} sigmoid layers, W = {config.w_std:g}·randn"),
                "loss", caption="Training loss (running mean over 10 iterations; raw curves faint).")
    rows = {f"{label}, η = {lr:g}": res[(lr, label)]["bands"]["post"] for (lr, label) in res}
    colors = [figures.COLORS[0] if label == "no BN" else figures.COLORS[1] for (_, label) in res]  # the notes' blue/red
    ctx.savefig(figures.percentile_band_grid(rows, ylabel="h = σ(·)", sharey=True, colors=colors,
                                             title=f"15th / 50th / 85th percentiles of {', '.join(hs)} over training"),
                "distributions", caption="As the notes' (and Ioffe & Szegedy's) figure — blue: without BN, red: with "
                                         "BN. Each panel is one layer's activations on the fixed images over training; "
                                         "the band spans the 15th to 85th percentile, the line is the median.")
    rows_pre = {f"{label}, η = {lr:g}": res[(lr, label)]["bands"]["pre"] for (lr, label) in res}
    ctx.savefig(figures.percentile_band_grid(rows_pre, ylabel="input of σ", sharey="row", colors=colors,
                                             title="the same layers: the sigmoids' inputs (I & S's quantity)"),
                "distributions_pre", caption="With BN the input of σ is γ·x̂ + β; without, W·h + b.")

    records = [{"network": label, "η": lr, "first loss": r["losses"][0], f"mean loss, last {config.tail}": r["tail"],
                "diverged at": r["diverged"], **{f"{h} drift": v for h, v in r["drift"].items()},
                **{f"{h} input drift": v for h, v in r["drift_pre"].items()}} for (lr, label), r in res.items()]
    notes = [
        f"'Drift' of a layer: the largest move of its 15th, 50th or 85th percentile from the first measurement "
        f"(every {config.every} iterations, over all units and examples of {config.n_probe} fixed training images, "
        f"in training mode: BN uses that batch's statistics). h ∈ (0, 1), so {STABLE_DRIFT:g} is a tenth of the "
        "output range.",
        "Without BN the gradient reaching the lower layers is small (each sigmoid layer multiplies it by at most "
        "σ'·‖W‖ ≈ 1/4 · 0.1·√100 = 1/4 with W = 0.1·randn), so their weights, and with them the distributions of the "
        "lower layers, barely move. While the loss stays near log 10 ≈ 2.30, a distribution that is 'stable' without "
        "BN belongs to a network that is not learning.",
        "With BN the distributions of h are pinned by the normalisation (γ = 1, β = 0 at the start) and move only as "
        "γ and β learn.",
    ]
    return Result(claims=[c_a, c_b, c_c], records=records, notes=notes)


# -- claim 12 -------------------------------------------------------------------------------------------------------
@dataclass
class BatchOneConfig:
    """A small LayerNorm network trained with one example per step, and the batch-norm formula at m = 1."""

    width: int = 100
    depth: int = 2
    w_std: float = 0.1
    activation: str = "sigmoid"
    lr: float = 0.01
    iterations: int = 3000
    n_eval: int = 1000           # held-out test images for the loss
    eval_every: int = 250
    QUICK: ClassVar[dict] = {"iterations": 1500}


@experiment("norm_batch_one", order=12, topic="batch normalisation",
            summary="batch norm at batch size 1 degenerates (x̂ = 0, layerlab raises); layer norm trains at batch "
                    "size 1 (claim 12)")
def batch_one(config: BatchOneConfig, ctx: Context) -> Result:
    """Seed 001, module 7.5: "we can't use a batch size of 1 at all (μ_i = x_i, σ_i = 0)" for batch norm, while
    layer norm normalises over a layer's units and "allows us to work with a batch size of 1"."""
    (x, y), (xt, yt) = fashion()
    rng = ctx.rng_for("examples")
    sizes = [784] + [config.width] * config.depth + [10]

    # 12a: the first hidden layer's pre-activations a = W·x + b of single examples, standardised by the formula
    first = nn.Linear(784, config.width, init=("normal", {"std": float(config.w_std)}), rng=ctx.rng_for("w", "first"))
    pick = rng.choice(len(x), 256, replace=False)
    with ll.no_grad():
        a = first(ll.Tensor(x[pick])).data
    xhat_1 = [batch_statistics_xhat(a[j:j + 1]) for j in range(2)]        # two different batches of one
    xhat_2 = batch_statistics_xhat(a[:2])                                  # a batch of two
    xhat_256 = batch_statistics_xhat(a)                                    # a batch of 256
    xhat_ln = _layer_statistics_xhat(a[:1])                                # layer norm, one example
    bn = nn.BatchNorm(config.width)
    with ll.no_grad():
        bn.train()
        try:
            bn(ll.Tensor(a[:1]))
            bn_error = None
        except ValueError as e:
            bn_error = str(e)
        bn.eval()
        eval_out = bn(ll.Tensor(a[:1])).data  # eval mode uses the running statistics: a batch of one is fine
    max_xhat = max(float(np.abs(v).max()) for v in xhat_1)
    y_1 = [bn.weight.data * xh + bn.bias.data for xh in xhat_1]  # y = γ·x̂ + β (the layer's γ = 1, β = 0)
    same_output = bool(np.array_equal(y_1[0], y_1[1]))
    inputs_differ = float(np.abs(a[0] - a[1]).max())
    pm_one = float(np.abs(np.abs(xhat_2) - 1.0).max())
    ok_a = max_xhat == 0.0 and same_output and inputs_differ > 0
    c_a = Claim(
        "12a",
        "Batch norm at batch size 1 degenerates: μ_i = x_i and σ_i = 0, so x̂_i = (x_i − μ_i)/√(σ_i² + ε) = 0 for "
        "every unit and every input — the layer outputs β whatever the example (verdict: x̂ = 0 exactly, and two "
        "different examples give the same output)",
        bool(ok_a),
        f"batch of one: max |x̂| = {max_xhat:g} over {config.width} units, for two examples whose pre-activations "
        f"differ by up to {inputs_differ:.3g}; outputs identical: {same_output}. For contrast: at m = 2 every x̂ is "
        f"±1 (max ||x̂| − 1| = {pm_one:.1e}); at m = 256 x̂ has std {float(xhat_256.std()):.3f}; layer norm on the "
        f"same single example: mean {float(xhat_ln.mean()):.1e}, std {float(xhat_ln.std()):.3f}. layerlab's "
        + (f"BatchNorm in training mode raises ValueError: “{bn_error}”" if bn_error else
           "BatchNorm in training mode did NOT raise at batch size 1")
        + f"; in eval mode (running statistics) it accepts a batch of one (output std {float(eval_out.std()):.3f})",
        f"the pre-activations a = W·x + b of Fashion-MNIST images under a Linear(784, {config.width}) with "
        f"W = {config.w_std:g}·randn; the notes' formula over the batch axis, ε = {BN_EPS:g}, float32",
        figure="xhat")

    # 12b: a small LayerNorm network trained at batch size 1, and the same network without normalisation
    ev = ctx.rng_for("held-out").choice(len(xt), config.n_eval, replace=False)
    xe, ye = xt[ev], yt[ev]
    runs = {}
    for label, norm in (("LayerNorm", "layer"), ("no normalisation", None)):
        model = norm_mlp(sizes, config.activation, config.w_std, ctx.rng_for("w", "net"), norm=norm)
        held = _HeldOut(xe, ye, config.eval_every)
        out = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=config.lr), x, y, config.iterations, 1,
                             label=f"{label}, batch size 1", callbacks=[held], seed=ctx.seed)
        runs[label] = {"steps": np.asarray(held.steps), "held": np.asarray(held.values), "losses": out["losses"],
                       "diverged": out["diverged"]}
    ln = runs["LayerNorm"]
    l0, l1 = float(ln["held"][0]), float(ln["held"][-1])
    ok_b = math.isfinite(l1) and ln["diverged"] is None and l1 <= LN_FALL * l0
    plain = runs["no normalisation"]
    arch = "-".join(map(str, sizes))
    c_b = Claim(
        "12b",
        f"Layer norm works at batch size 1: trained on one example per step, its loss falls (verdict: the held-out "
        f"loss ends at most {LN_FALL:g} × its initial value, without diverging)",
        bool(ok_b),
        f"held-out loss {l0:.3f} → {l1:.3f} after {config.iterations} steps (× {l1 / l0:.2f}); the same network "
        f"without normalisation {float(plain['held'][0]):.3f} → {float(plain['held'][-1]):.3f}"
        + (f"; LayerNorm diverged at step {ln['diverged']}" if ln["diverged"] is not None else ""),
        f"Fashion-MNIST, {arch} {config.activation}, Linear → LayerNorm → σ, W = {config.w_std:g}·randn, plain SGD "
        f"η = {config.lr:g}, batch size 1, {config.iterations} iterations; loss on {config.n_eval} held-out test "
        f"images every {config.eval_every} steps, seed {ctx.seed}",
        figure="layernorm_batch1")

    # figures
    ctx.savefig(figures.layer_histograms(
        {"BN, batch of 1": xhat_1[0], "BN, batch of 2": xhat_2, "BN, batch of 256": xhat_256,
         "LN, one example": xhat_ln}, bins=41, range=(-4.0, 4.0), xlabel="x̂",
        title="x̂ of the first hidden layer, standardised by each formula"), "xhat",
        caption="Batch norm at m = 1: every x̂ is exactly 0 (one bar); at m = 2 only ±1 remain; at m = 256 a spread. "
                "Layer norm standardises one example over its units.")
    ctx.savefig(figures.loss_curves({f"{k}: held-out": (r["steps"], r["held"]) for k, r in runs.items()},
                                    title=f"batch size 1: {arch} {config.activation}, η = {config.lr:g}"),
                "layernorm_batch1", caption=f"Loss on {config.n_eval} held-out images every {config.eval_every} "
                                            "steps of one example each.")
    records = {
        "batch-norm formula": [
            {"batch": "1 (example A)", "max |x̂|": float(np.abs(xhat_1[0]).max()), "std of x̂": float(xhat_1[0].std())},
            {"batch": "1 (example B)", "max |x̂|": float(np.abs(xhat_1[1]).max()), "std of x̂": float(xhat_1[1].std())},
            {"batch": "2", "max |x̂|": float(np.abs(xhat_2).max()), "std of x̂": float(xhat_2.std())},
            {"batch": "256", "max |x̂|": float(np.abs(xhat_256).max()), "std of x̂": float(xhat_256.std())},
            {"batch": "1, layer norm", "max |x̂|": float(np.abs(xhat_ln).max()), "std of x̂": float(xhat_ln.std())},
        ],
        "batch size 1 training (held-out loss)": [
            {"network": k, **{f"step {int(s)}": float(v) for s, v in zip(r["steps"], r["held"])},
             "diverged at": r["diverged"]} for k, r in runs.items()],
    }
    notes = [
        "layerlab's BatchNorm does not compute the degenerate x̂ in training mode: it raises, naming the layer, "
        "because a network trained that way learns nothing below the layer (its gradient to x is "
        "(1/√(σ²+ε))·(ĝ − mean ĝ − x̂·mean(ĝx̂)) = 0 when m = 1). The formula is evaluated directly instead.",
        "At m = 2 batch norm is not degenerate but nearly: each x̂ is ±1 (up to ε), i.e. only which of the two "
        "examples is larger survives.",
    ]
    return Result(claims=[c_a, c_b], records=records, notes=notes)
