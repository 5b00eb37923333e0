"""Seed 001, module 7.3: sigmoids are not zero-centred, so a unit's incoming-weight gradients share
one sign (claim 9 of issue [lab]).

The notes' argument: for a unit i of layer 2 with pre-activation a_i = Σ_j W_ij h_j,

    ∂L/∂W_ij = δ_i · h_j,   δ_i = ∂L/∂a_i,

and with sigmoid h_j = σ(a_j) ∈ (0, 1) is positive, so for *one example* every entry of row i has
the sign of δ_i: "either all the gradients [of the unit] are positive or all are negative". The
update can then only move all of a unit's weights up together or down together, and reaching an
optimum that needs mixed signs takes a zig-zag path. tanh's outputs have both signs, so the rows
mix.

The argument is per example. The mini-batch gradient that SGD applies is Σ_n δ_i^n h^n_j, a sum of
one-signed rows whose δ_i^n differ in sign from example to example: it can mix signs. Both are
measured here — per example with one backward pass per example through layerlab's engine, per
mini-batch with :class:`~layerlab.probes.GradientStats` on the Trainer's batches — at
initialisation and while training. A 2-D toy (one unit, two incoming weights, per-example SGD)
draws the zig-zag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import layerlab as ll

from layerlab import nn, optim
from layerlab.probes import GradientStats, sign_agreement
from layerlab.train import Callback
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.training import fashion, fit_iterations, mlp

__all__ = [
    "SignConfig", "weight_grad", "per_example_signs", "zigzag_path", "same_sign_steps", "check_one_signed",
    "SIGMOID_MIN_ONE_SIGN", "TANH_MAX_ONE_SIGN",
]

# -- the verdicts' thresholds (stated in the claims' text) -------------------------------------------------
#: "share one sign": with sigmoid *every* unit (fraction 1.0) has incoming-weight gradients of one sign —
#: h > 0 makes this exact, so no tolerance is needed
SIGMOID_MIN_ONE_SIGN = 1.0
#: "with tanh they do not": at most 1% of the units have one-signed rows
TANH_MAX_ONE_SIGN = 0.01


# -- measuring -------------------------------------------------------------------------------------------------
def weight_grad(model: nn.Module, layer: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """∂L/∂W of ``model[layer]`` (a Linear, shape (out, in)) for the mean cross-entropy on (x, y)."""
    model.zero_grad()
    nn.CrossEntropyLoss()(model(ll.Tensor(x)), ll.Tensor(y)).backward()
    return np.array(model[layer].weight.grad, copy=True)


def per_example_signs(model: nn.Module, layer: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sign pattern of ``model[layer]``'s weight gradient for each example on its own: an array of
    shape (n, 2) of (agreement, fraction of one-signed units), see :func:`~layerlab.probes.sign_agreement`.
    One forward and backward pass per example (batch of one)."""
    out = np.empty((len(x), 2))
    for i in range(len(x)):
        out[i] = sign_agreement(weight_grad(model, layer, x[i:i + 1], y[i:i + 1]))
    return out


def check_one_signed(sigmoid_fractions, tanh_fractions, sigmoid_min: float = SIGMOID_MIN_ONE_SIGN,
                     tanh_max: float = TANH_MAX_ONE_SIGN) -> bool:
    """The claim: in every measurement, sigmoid's fraction of one-signed units is ≥ ``sigmoid_min``
    and tanh's ≤ ``tanh_max``. NaN (no unit with a non-zero gradient) counts against it."""
    s = np.asarray(sigmoid_fractions, dtype=float)
    t = np.asarray(tanh_fractions, dtype=float)
    if s.size == 0 or t.size == 0 or not (np.isfinite(s).all() and np.isfinite(t).all()):
        return False
    return bool(s.min() >= sigmoid_min and t.max() <= tanh_max)


class _PerExample(Callback):
    """Per-example sign statistics of one layer on fixed examples: at the start and every ``every`` steps."""

    def __init__(self, layer: int, x: np.ndarray, y: np.ndarray, every: int):
        self.layer, self.x, self.y, self.every = layer, x, y, every
        self.steps: list[int] = []
        self.stats: list[np.ndarray] = []

    def _measure(self, trainer) -> None:
        self.steps.append(trainer.step)
        self.stats.append(per_example_signs(trainer.model, self.layer, self.x, self.y))

    def on_fit_start(self, trainer):
        self._measure(trainer)

    def on_batch_end(self, trainer, step, logs):
        if trainer.step % self.every == 0:
            self._measure(trainer)


# -- the 2-D illustration ---------------------------------------------------------------------------------------
def zigzag_path(h: np.ndarray, w_star, w0, lr: float, steps: int, rng: np.random.Generator) -> dict:
    """Per-example SGD on one linear unit ŷ = w·h with two inputs, squared error to t = w*·h.

    ∂L/∂w = (ŷ − t)·h: with h > 0 (sigmoid outputs) both components have the sign of (ŷ − t).
    Returns {"path": (steps + 1, 2) weights, "grads": (steps, 2) gradients} (float64, layerlab engine).
    """
    h = np.asarray(h, dtype=np.float64)
    w_star = np.asarray(w_star, dtype=np.float64)
    t = h @ w_star
    unit = nn.Linear(2, 1, bias=False, init="zeros", dtype=np.float64)
    unit.weight.data[...] = np.asarray(w0, dtype=np.float64)
    opt = optim.SGD(unit.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    path, grads = [unit.weight.data[0].copy()], []
    for i in rng.integers(0, len(h), size=steps):
        opt.zero_grad()
        loss = loss_fn(unit(ll.Tensor(h[i:i + 1])), ll.Tensor(t[i:i + 1, None]))
        loss.backward()
        grads.append(unit.weight.grad[0].copy())
        opt.step()
        path.append(unit.weight.data[0].copy())
    return {"path": np.array(path), "grads": np.array(grads)}


def same_sign_steps(grads: np.ndarray) -> float:
    """Fraction of the 2-D gradients whose two components share one sign (the (+,+) or (−,−) quadrant)."""
    g = np.asarray(grads)
    return float(np.mean(np.sign(g[:, 0]) == np.sign(g[:, 1]))) if len(g) else math.nan


def _zigzag_figure(paths: dict, w_star, inputs: dict):
    fig, axes = figures.new_figure(1, len(paths), panel=(2.9, 2.9),
                                   title="one unit, two incoming weights, per-example SGD towards w*")
    lim = (-1.6, 1.6)
    g = np.linspace(*lim, 121)
    g1, g2 = np.meshgrid(g, g)
    for k, (ax, (label, res)) in enumerate(zip(axes[0], paths.items())):
        h = inputs[label]
        grid = np.stack([g1.ravel(), g2.ravel()], 1)
        err = grid @ h.T - (h @ np.asarray(w_star))[None, :]
        loss = (err ** 2).mean(1).reshape(g1.shape)
        ax.contour(g1, g2, np.log10(loss + 1e-6), levels=12, colors="#bbbbbb", linewidths=0.6)
        p = res["path"]
        color = figures.COLORS[k % len(figures.COLORS)]
        ax.plot(p[:, 0], p[:, 1], "-o", color=color, markersize=2.2, linewidth=1.0)
        ax.plot(*p[0], "s", color="black", markersize=5, label="start")
        ax.plot(*w_star, "*", color="#D55E00", markersize=11, label="w*")
        ax.set_xlim(*lim)
        ax.set_ylim(*lim)
        ax.set_xlabel("w₁")
        ax.set_ylabel("w₂")
        ax.set_title(f"{label}\n{same_sign_steps(res['grads']):.0%} of steps in (+,+) or (−,−)")
    axes[0, 0].legend(loc="lower left", fontsize=7, frameon=False)
    return fig


def _training_figure(res: dict, batch_size: int):
    """One-signed fraction and sign agreement over training: per example (solid) and per mini-batch (dashed)."""
    fig, axes = figures.new_figure(1, 2, panel=(3.2, 2.4), title="layer 2's gradient while training",
                                   margins={"right": 1.9})
    for k, (act, r) in enumerate(res.items()):
        color = figures.COLORS[k]
        ex_steps = np.asarray(r["ex_steps"])
        for ax, col, b in ((axes[0, 0], 1, r["b_one"]), (axes[0, 1], 0, r["b_agree"])):
            ax.plot(ex_steps, r["ex"][:, :, col].mean(1), "-o", color=color, markersize=3, label=f"{act}, one example")
            ax.plot(r["b_steps"], b, "--", color=color, linewidth=1.2, label=f"{act}, batch of {batch_size}")
    axes[0, 0].set_ylabel("fraction of units one-signed")
    axes[0, 1].set_ylabel("sign agreement")
    axes[0, 0].set_ylim(-0.03, 1.05)
    axes[0, 1].set_ylim(0.45, 1.02)
    for ax in axes[0]:
        ax.set_xlabel("iteration")
    axes[0, 1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7, frameon=False)
    return fig


# -- the experiment -----------------------------------------------------------------------------------------------
@dataclass
class SignConfig:
    """784-hidden-hidden-10 on Fashion-MNIST; the gradient of layer 2's weights (``model[2]``)."""

    hidden: int = 100
    examples: int = 100          # single examples measured at each checkpoint
    checkpoints: int = 4         # per-example measurements at init and every iterations/checkpoints steps
    iterations: int = 200        # SGD steps of training between the measurements
    batch_size: int = 64
    lr: float = 0.1
    every: int = 5               # GradientStats sampling period (mini-batch gradients)
    zigzag_steps: int = 80       # the 2-D illustration
    zigzag_lr: float = 0.3
    QUICK: ClassVar[dict] = {"examples": 30, "iterations": 60}


#: layer 2's weights: mlp() builds Linear, act, Linear, act, Linear — index 2 is the second Linear
LAYER = 2


def _fmt_range(v) -> str:
    v = np.asarray(v, dtype=float)
    return f"{np.mean(v):.1%} (mean; min {np.min(v):.1%}, max {np.max(v):.1%})"


@experiment("gradient_signs", order=9, topic="activation functions",
            summary="sigmoid: the gradients of one unit's incoming weights share one sign per example (zig-zag "
                    "updates), tanh: they do not; a mini-batch sum can mix them (claim 9)")
def run(config: SignConfig, ctx: Context) -> Result:
    """Seed 001, module 7.3: ∂L/∂W2[i, j] = δ_i·h1_j with h1 = σ(·) > 0 — per example, per mini-batch,
    at initialisation and while training; and the zig-zag path it forces, in 2-D."""
    (x, y), _ = fashion()
    idx = ctx.rng_for("examples").choice(len(x), config.examples, replace=False)
    xs, ys = x[idx], y[idx]
    sizes = [784, config.hidden, config.hidden, 10]
    every_ex = max(1, config.iterations // max(1, config.checkpoints))

    def fit(act):  # one activation's run; the training set is loaded where the run runs
        (x, y), _ = fashion()
        model = mlp(sizes, act, "xavier_normal", ctx.rng_for("w"))
        per = _PerExample(LAYER, xs, ys, every_ex)
        probe = GradientStats(layers=[str(LAYER)], every=config.every)
        out = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=config.lr), x, y, config.iterations,
                             config.batch_size, label=act, callbacks=[per, probe], seed=ctx.seed)
        probe.flush_to(ctx.run)
        bsteps, b_one = probe.series(str(LAYER), "one_sign", kind="weight/grad")
        _, b_agree = probe.series(str(LAYER), "sign_agree", kind="weight/grad")
        return {"ex_steps": per.steps, "ex": np.stack(per.stats), "b_steps": bsteps, "b_one": b_one,
                "b_agree": b_agree, "losses": out["losses"], "diverged": out["diverged"]}

    acts = ("sigmoid", "tanh")
    res: dict[str, dict] = dict(zip(acts, ctx.map(fit, acts, label="runs")))

    sig, tan = res["sigmoid"], res["tanh"]
    s_ex, t_ex = sig["ex"][:, :, 1].ravel(), tan["ex"][:, :, 1].ravel()
    ok_a = check_one_signed(s_ex, t_ex)
    ok_b = check_one_signed(sig["b_one"], tan["b_one"])
    n_ck = len(sig["ex_steps"])
    cond = (f"Fashion-MNIST (inputs in [0, 1]), 784-{config.hidden}-{config.hidden}-10, Xavier-normal init, biases 0, "
            f"cross-entropy, SGD η = {config.lr}, batch {config.batch_size}, {config.iterations} iterations; gradient "
            f"of layer 2's weights ({config.hidden} × {config.hidden}), the same initial weights for both "
            f"activations, seed {ctx.seed}")
    claim_a = Claim(
        "9a",
        "Per example, sigmoid: the gradients of one unit's incoming weights share one sign (∂L/∂W_ij = δ_i·h_j with "
        f"h_j > 0); with tanh they do not (verdict: with sigmoid {SIGMOID_MIN_ONE_SIGN:.0%} of the units one-signed "
        f"in every example, with tanh at most {TANH_MAX_ONE_SIGN:.0%})",
        ok_a,
        f"one-signed units per example: sigmoid {_fmt_range(s_ex)}, tanh {_fmt_range(t_ex)}; mean sign agreement "
        f"(share of a unit's entries with its majority sign) sigmoid {sig['ex'][:, :, 0].mean():.3f}, tanh "
        f"{tan['ex'][:, :, 0].mean():.3f} — {config.examples} examples × {n_ck} checkpoints "
        f"(iterations {', '.join(map(str, sig['ex_steps']))})",
        cond + "; one backward pass per example (batch of one)", figure="signs")
    claim_b = Claim(
        "9b",
        f"Per mini-batch of {config.batch_size} (the gradient SGD applies, a sum over examples): the same one-sign "
        f"pattern (verdict: sigmoid {SIGMOID_MIN_ONE_SIGN:.0%} of units one-signed in every sampled batch, tanh at "
        f"most {TANH_MAX_ONE_SIGN:.0%})",
        ok_b,
        f"one-signed units per training mini-batch: sigmoid {_fmt_range(sig['b_one'])}, tanh "
        f"{_fmt_range(tan['b_one'])}; "
        f"sign agreement sigmoid {np.mean(sig['b_agree']):.3f}, tanh {np.mean(tan['b_agree']):.3f} — the δ_i of "
        f"different examples differ in sign, so the sum mixes signs in some entries even with sigmoid "
        f"({len(sig['b_steps'])} batches sampled every {config.every} iterations)",
        cond + " (GradientStats on the training batches)", figure="signs_training")

    # the 2-D illustration: the same unit fed sigmoid outputs (all positive) or tanh outputs (both signs)
    z = ctx.rng_for("zigzag", "inputs").standard_normal((200, 2))
    inputs = {"sigmoid inputs h = σ(z) > 0": 1.0 / (1.0 + np.exp(-z)), "tanh inputs h = tanh(z)": np.tanh(z)}
    w_star, w0 = (1.0, -1.0), (-1.0, 1.0)
    paths = {label: zigzag_path(h, w_star, w0, config.zigzag_lr, config.zigzag_steps, ctx.rng_for("zigzag", "order"))
             for label, h in inputs.items()}
    dist = {label: float(np.linalg.norm(p["path"][-1] - np.asarray(w_star))) for label, p in paths.items()}

    # figures
    ctx.savefig(figures.bar_chart(
        {act: {"one example": float(np.mean(r["ex"][:, :, 1])), f"mini-batch of {config.batch_size}":
               float(np.mean(r["b_one"]))} for act, r in res.items()},
        ylabel="fraction of layer-2 units", title="one-signed units, layer 2"),
        "signs", caption="Fraction of layer-2 units whose incoming-weight gradients all share one sign, mean over "
                         "examples/batches and over training. Per example, sigmoid's rows are one-signed "
                         "without exception; summed over a mini-batch they often are not.")
    ctx.savefig(_training_figure(res, config.batch_size), "signs_training",
                caption="Left: fraction of layer-2 units whose incoming-weight gradients are all of one sign, per "
                        "example (mean over the fixed examples, solid) and per training mini-batch (GradientStats, "
                        "dashed). Right: the mean share of a unit's entries that have its majority sign (1 = all one "
                        "sign, 0.5 = an even split).")
    ctx.savefig(_zigzag_figure(paths, w_star, inputs), "zigzag",
                caption=f"{config.zigzag_steps} per-example SGD steps (η = {config.zigzag_lr}) of ŷ = w·h, squared "
                        f"error to t = w*·h, w* = {w_star}, from {w0}; grey: contours of the mean loss. With positive "
                        "inputs every step moves both weights the same way, so the path zig-zags.")

    records = {
        "per example (mean over the fixed examples)": [
            {"activation": act, "iteration": int(s), "one-signed units": float(r["ex"][k, :, 1].mean()),
             "min over examples": float(r["ex"][k, :, 1].min()), "max over examples": float(r["ex"][k, :, 1].max()),
             "sign agreement": float(r["ex"][k, :, 0].mean())}
            for act, r in res.items() for k, s in enumerate(r["ex_steps"])],
        f"per mini-batch of {config.batch_size} (training batches)": [
            {"activation": act, "one-signed units, mean": float(np.mean(r["b_one"])),
             "min": float(np.min(r["b_one"])), "max": float(np.max(r["b_one"])),
             "sign agreement, mean": float(np.mean(r["b_agree"])), "final loss": r["losses"][-1],
             "diverged at": r["diverged"]} for act, r in res.items()],
        "2-D illustration": [
            {"inputs": label, "steps in (+,+) or (−,−)": same_sign_steps(p["grads"]),
             f"distance to w* after {config.zigzag_steps} steps": dist[label]} for label, p in paths.items()],
    }
    notes = [
        "Per example the sigmoid result is exact, not statistical: every entry of row i of ∂L/∂W2 is δ_i·h1_j with "
        "h1_j > 0. Entries that are exactly 0 have no sign and are left out (sign_agreement).",
        "The notes' 'all the gradients at a layer' is per unit: different units of the layer have different δ_i, "
        "so a layer's gradient has both signs — a row (one unit's incoming weights) has one.",
        "Over a mini-batch the update is Σ_n δ_i^n h^n_j: the one-sign restriction, and with it the zig-zag argument, "
        "applies to per-example SGD; a mini-batch gradient is mostly but not entirely one-signed (see 'sign "
        "agreement').",
    ]
    return Result(claims=[claim_a, claim_b], records=records, notes=notes)
