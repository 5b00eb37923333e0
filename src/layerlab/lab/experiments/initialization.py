"""Seed 001, module 7.4: what the initial weights do to the forward pass (claims 3–6 of issue [lab]).

The notes' set-up: 1000 points of a unit Gaussian in R^500 go forward through 5 layers of
500 units (no bias), once, with no training::

    D = np.random.randn(1000, 500)
    for i in range(5):
        W = 0.01 * np.random.randn(500, 500)     # or randn, randn/sqrt(fan_in), randn/sqrt(fan_in/2)
        h = tanh(x @ W)                           # or sigmoid, ReLU

With zero-mean weights and inputs, Var(a) = n·Var(w)·E[x²] (the notes' derivation), so the
spread of layer k scales like [n·Var(w)]^k: n·Var(w) = 500·1e-4 = 0.05 makes a tanh net's
activations collapse by √0.05 ≈ 0.224 per layer, n·Var(w) = 500 saturates it, and
n·Var(w) = 1 (Xavier, the notes' randn/√fan_in) keeps it. A ReLU passes on only half of
E[a²], so with Xavier the variance halves per layer, and He's factor 2 (randn/√(fan_in/2))
restores it. Finally, 5 linear layers with W = 0.5·I or 1.5·I scale the input by 0.5⁵ or 1.5⁵.

The networks are layerlab modules (``nn.Linear(..., init=..., bias=False)`` and activation
modules), measured with :class:`~layerlab.probes.ActivationStats` on one forward pass.
The measurement and verdict functions are plain functions, usable outside the lab.

Note: the notes' "Xavier" is ``randn(fan_in, fan_out)/sqrt(fan_in)``, i.e. Var(w) = 1/fan_in
(LeCun's normal). Glorot's ``xavier_normal`` has Var(w) = 2/(fan_in + fan_out): the same for
these square 500×500 layers, and that is what is used (the name readers know).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import layerlab as ll

from layerlab import nn
from layerlab.probes import ActivationStats
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import LayerStats, forward_stats
from layerlab.lab.training import square_mlp, unit_gaussian

__all__ = [
    "ForwardConfig", "IdentityConfig", "SETUPS",
    "ratios", "within_factor", "check_collapse", "check_collapse_to_half", "check_saturation", "check_spread",
    "check_variance_ratio", "check_scaling", "run_forward", "run_identity",
    "TOLERANCE", "SIGMOID_MEAN_TOL", "SIGMOID_MAX_STD", "SATURATED_MIN", "SPREAD_MIN_STD", "SPREAD_MAX_SATURATED",
    "SCALING_RTOL",
]

# -- the verdicts' thresholds (stated in the claims' text) ---------------------------------------------------
#: a measured per-layer ratio "is" a theoretical ratio r when it lies in [r/TOLERANCE, r·TOLERANCE]
TOLERANCE = 1.25
#: sigmoid "collapses towards 0.5": every layer's mean within 0.02 of 0.5 and its std at most 0.1
#: (a sigmoid of a unit Gaussian has std 0.21; a saturated sigmoid layer ~0.48)
SIGMOID_MEAN_TOL = 0.02
SIGMOID_MAX_STD = 0.1
#: "most units saturate": fraction with |h| > 0.97 (tanh) or h ∉ [0.03, 0.97] (sigmoid) above 0.8 from layer 2 on
SATURATED_MIN = 0.8
SATURATED_FROM_LAYER = 2
#: a "healthy spread" of tanh activations: neither collapsed (std ≥ 0.2 in every layer) nor
#: saturated (at most 20% of units saturated, the complement of SATURATED_MIN)
SPREAD_MIN_STD = 0.2
SPREAD_MAX_SATURATED = 0.2
#: W = c·I over linear layers: the output is c⁵·x up to float32 rounding
SCALING_RTOL = 1e-5


# -- building and measuring ------------------------------------------------------------------------------------
#: The notes' initialisations: label -> (activation name, initialiser spec for ``nn.Linear(init=)``).
#: The 0.01 of "0.01·randn" is ``ForwardConfig.small_std``; the others follow fan_in.
SETUPS: dict[str, tuple[str, object]] = {
    "tanh, W = 0.01·randn": ("tanh", "small"),
    "sigmoid, W = 0.01·randn": ("sigmoid", "small"),
    "tanh, W = randn": ("tanh", ("normal", {"std": 1.0})),
    "sigmoid, W = randn": ("sigmoid", ("normal", {"std": 1.0})),
    "tanh, Xavier": ("tanh", "xavier_normal"),
    "sigmoid, Xavier": ("sigmoid", "xavier_normal"),
    "ReLU, Xavier": ("relu", "xavier_normal"),
    "ReLU, He": ("relu", "he_normal"),
}

#: histogram bins of each activation's output (fixed, so the panels of a row compare). For ReLU
#: the bins start just above 0: the exact zeros (about half of the entries) are left out so that
#: the spread of the positive part is visible.
HIST_RANGES = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "relu": (1e-12, 4.0), "identity": None}


# -- the verdicts (plain functions of the measured numbers) -----------------------------------------------------
def ratios(values) -> list[float]:
    """Consecutive ratios ``values[i+1] / values[i]``."""
    v = [float(x) for x in values]
    return [b / a if a != 0 else math.inf for a, b in zip(v[:-1], v[1:])]


def within_factor(value: float, target: float, factor: float = TOLERANCE) -> bool:
    """True when ``value`` lies in [target/factor, target·factor] (target > 0)."""
    return target / factor <= value <= target * factor


def check_collapse(stds, input_std: float, theory: float, factor: float = TOLERANCE) -> tuple[bool, list[float]]:
    """Claim 3 (tanh): the std falls by ``theory`` = √(n·Var(w)) per layer, from the input on.
    Returns (every ratio within ``factor`` of ``theory``, the ratios)."""
    r = ratios([input_std, *stds])
    return all(within_factor(x, theory, factor) for x in r), r


def check_collapse_to_half(means, stds, mean_tol: float = SIGMOID_MEAN_TOL,
                           max_std: float = SIGMOID_MAX_STD) -> bool:
    """Claim 3 (sigmoid): every layer's mean within ``mean_tol`` of 0.5 and its std ≤ ``max_std``."""
    return all(abs(m - 0.5) <= mean_tol for m in means) and all(s <= max_std for s in stds)


def check_saturation(saturated, threshold: float = SATURATED_MIN, from_layer: int = SATURATED_FROM_LAYER) -> bool:
    """Claim 4: the fraction saturated exceeds ``threshold`` in every layer from ``from_layer`` (1-based) on."""
    tail = [float(s) for s in saturated][from_layer - 1:]
    return bool(tail) and all(s > threshold for s in tail)


def check_spread(stds, saturated, min_std: float = SPREAD_MIN_STD, max_saturated: float = SPREAD_MAX_SATURATED) -> bool:
    """Claim 5 (tanh, Xavier): a healthy spread in every layer — std ≥ ``min_std`` and at most
    ``max_saturated`` of the units saturated."""
    return all(s >= min_std for s in stds) and all(f <= max_saturated for f in saturated)


def check_variance_ratio(stds, target: float, factor: float = TOLERANCE) -> tuple[bool, list[float]]:
    """Claim 5 (ReLU): Var(h_{l+1})/Var(h_l) within ``factor`` of ``target`` for every pair of
    consecutive layers. Returns (verdict, the variance ratios)."""
    r = ratios([s * s for s in stds])
    return all(within_factor(x, target, factor) for x in r), r


def check_scaling(x: np.ndarray, y: np.ndarray, factor: float, rtol: float = SCALING_RTOL) -> tuple[bool, float, float]:
    """Claim 6: ``y == factor·x`` up to ``rtol`` (relative to max |factor·x|).
    Returns (verdict, least-squares slope of y on x, max relative deviation)."""
    x64, y64 = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    slope = float((x64 * y64).sum() / (x64 * x64).sum())
    dev = float(np.abs(y64 - factor * x64).max() / (abs(factor) * np.abs(x64).max()))
    return dev <= rtol, slope, dev


# -- formatting ---------------------------------------------------------------------------------------------------
def _g(values, digits: int = 3) -> str:
    return ", ".join(f"{float(v):.{digits}g}" for v in values)


def _fr(values) -> str:
    return ", ".join(f"{float(v):.3f}" for v in values)


def _hist_rows(results: dict[str, list[LayerStats]], labels) -> dict[str, dict]:
    rows = {}
    for label in labels:
        rows[label] = {f"h{s.layer}\nμ={s.mean:.2g}  σ={s.std:.2g}": s.hist
                       for s in results[label] if s.hist is not None}
    return rows


def _profile_figure(results: dict[str, list[LayerStats]], predicted: dict[str, list[float]], title: str):
    """Mean and std of each layer's activations, one line per initialisation (std on a log axis),
    with the predicted std as dashed lines."""
    fig, axes = figures.new_figure(1, 3, panel=(3.0, 3.3), title=title)
    ax_m, ax_s, ax_leg = axes[0]
    ax_m.get_gridspec().set_width_ratios([1.0, 1.0, 0.6])
    for i, (label, stats) in enumerate(results.items()):
        color = figures.COLORS[i % len(figures.COLORS)]
        x = [s.layer for s in stats]
        ax_m.plot(x, [s.mean for s in stats], marker="o", markersize=3.5, color=color, label=label)
        ax_s.plot(x, [s.std for s in stats], marker="o", markersize=3.5, color=color, label=label)
        if label in predicted:
            ax_s.plot(x, predicted[label], linestyle="--", linewidth=1.0, color=color)
    ax_m.set_xlabel("layer")
    ax_m.set_ylabel("mean of h")
    ax_s.set_xlabel("layer")
    ax_s.set_ylabel("std of h (dashed: predicted)")
    ax_s.set_yscale("log")
    for ax in (ax_m, ax_s):
        ax.set_xticks(range(1, max(len(v) for v in results.values()) + 1))
    handles, labels = ax_s.get_legend_handles_labels()
    ax_leg.axis("off")
    ax_leg.legend(handles, labels, loc="center left", fontsize=8, frameon=False)
    return fig


# -- claims 3, 4, 5: one forward pass per initialisation ------------------------------------------------------
@dataclass
class ForwardConfig:
    """The notes' forward-pass experiment: ``n`` unit-Gaussian points in R^width, ``depth`` layers
    of ``width`` units, no bias, one forward pass per initialisation."""

    n: int = 1000
    width: int = 500
    depth: int = 5
    small_std: float = 0.01
    bins: int = 50
    QUICK: ClassVar[dict] = {"n": 200}


def run_forward(config: ForwardConfig, ctx: Context) -> tuple[dict[str, list[LayerStats]], float]:
    """Every initialisation of :data:`SETUPS` on the same input; returns ({label: per-layer stats}, input std)."""
    x = unit_gaussian(config.n, config.width, ctx.rng_for("input"))
    results: dict[str, list[LayerStats]] = {}
    for label, (act, init) in SETUPS.items():
        if init == "small":
            init = ("normal", {"std": config.small_std})
        model = square_mlp(config.width, config.depth, act, init, ctx.rng_for("weights", label))
        stats, _ = forward_stats(model, x, bins=config.bins, hist_range=HIST_RANGES[act])
        results[label] = stats
        for s in stats:
            ctx.run.log_probes(0, f"{label}/h{s.layer}", {k: v for k, v in s.row().items() if k != "layer"})
    return results, float(x.std())


@experiment("init_forward", order=3, topic="weight initialisation",
            summary="5 × 500 tanh/sigmoid/ReLU layers, one forward pass: 0.01·randn collapses, randn saturates, "
                    "Xavier keeps a spread for tanh, He for ReLU (claims 3–5)")
def forward(config: ForwardConfig, ctx: Context) -> Result:
    """Seed 001, module 7.4: the activations of a 5-layer net on unit-Gaussian input under the notes'
    initialisations (0.01·randn, randn, Xavier, He), as per-layer histograms and mean/std profiles."""
    res, input_std = run_forward(config, ctx)
    col = {label: {k: [getattr(s, k) for s in stats] for k in ("mean", "std", "saturated")}
           for label, stats in res.items()}
    n_var_w = config.width * config.small_std ** 2
    theory = math.sqrt(n_var_w)
    cond = (f"{config.n}×{config.width} unit-Gaussian input, {config.depth} layers × {config.width} units, "
            f"no bias, one forward pass (float32), seed {ctx.seed}")
    lo, hi = theory / TOLERANCE, theory * TOLERANCE

    # 3a: tanh, small weights — the std falls by √(n·Var(w)) per layer
    t_small = col["tanh, W = 0.01·randn"]
    ok3a, r3a = check_collapse(t_small["std"], input_std, theory)
    c3a = Claim(
        "3a",
        f"W = {config.small_std:g}·randn, tanh: the activations collapse towards 0 layer by layer — the std "
        f"falls by "
        f"~√(n·Var(w)) = √({config.width}·{n_var_w / config.width:g}) = {theory:.3f} per layer "
        f"(verdict: every layer-to-layer std ratio, input → h1 included, within [{lo:.3f}, {hi:.3f}], "
        f"a factor {TOLERANCE} around the theory)",
        ok3a,
        f"std per layer: {_g(t_small['std'])} (input {input_std:.3f}); ratios {_fr(r3a)}; "
        f"theory √({config.width}·{n_var_w / config.width:g}) = {theory:.3f}",
        cond, figure="small_init")

    # 3b: sigmoid, small weights — everything near 0.5
    s_small = col["sigmoid, W = 0.01·randn"]
    ok3b = check_collapse_to_half(s_small["mean"], s_small["std"])
    c3b = Claim(
        "3b",
        f"W = {config.small_std:g}·randn, sigmoid: the activations collapse towards 0.5 (verdict: in every layer "
        f"|mean − 0.5| ≤ {SIGMOID_MEAN_TOL} and std ≤ {SIGMOID_MAX_STD}; a sigmoid of a unit Gaussian has "
        f"std 0.21)",
        ok3b,
        f"mean per layer: {_fr(s_small['mean'])}; std: {_g(s_small['std'])} — the std settles near "
        f"{s_small['std'][-1]:.3g} instead of vanishing: the layer's inputs have mean 0.5, so "
        f"Var(a) ≈ n·Var(w)·E[h²] ≈ {n_var_w:g}·0.25 stays constant",
        cond, figure="small_init")

    # 4: large weights — saturation (tanh as the claim; sigmoid as the notes also show)
    t_big, s_big = col["tanh, W = randn"], col["sigmoid, W = randn"]
    ok4a = check_saturation(t_big["saturated"])
    ok4b = check_saturation(s_big["saturated"])
    c4a = Claim(
        "4a",
        f"W = randn, tanh: most units saturate (verdict: fraction with |h| > 0.97 above {SATURATED_MIN} in every "
        f"layer from layer {SATURATED_FROM_LAYER} on)",
        ok4a, f"fraction saturated per layer: {_fr(t_big['saturated'])}; std {_g(t_big['std'])}",
        cond, figure="large_init")
    c4b = Claim(
        "4b",
        f"W = randn, sigmoid: most units saturate (verdict: fraction with h < 0.03 or h > 0.97 above "
        f"{SATURATED_MIN} in every layer from layer {SATURATED_FROM_LAYER} on)",
        ok4b, f"fraction saturated per layer: {_fr(s_big['saturated'])}; mean {_fr(s_big['mean'])}",
        cond, figure="large_init")

    # 5a: Xavier keeps a healthy spread for tanh
    t_x = col["tanh, Xavier"]
    ok5a = check_spread(t_x["std"], t_x["saturated"])
    drift = ratios(t_x["std"])
    c5a = Claim(
        "5a",
        f"W = randn/√fan_in (Xavier), tanh: the activations keep a healthy spread in all {config.depth} layers "
        f"(verdict: in every layer std ≥ {SPREAD_MIN_STD} — not collapsed — and at most "
        f"{SPREAD_MAX_SATURATED:.0%} of units saturated)",
        ok5a,
        f"std per layer: {_fr(t_x['std'])}; saturated {_fr(t_x['saturated'])}; the std still drifts down by "
        f"{_fr(drift)} per layer (tanh' < 1 away from 0), far slower than 0.01·randn's {theory:.3f}",
        cond, figure="xavier_he")

    # 5b, 5c: ReLU — Xavier halves the variance per layer, He keeps it
    r_x, r_he = col["ReLU, Xavier"], col["ReLU, He"]
    ok5b, v5b = check_variance_ratio(r_x["std"], 0.5)
    ok5c, v5c = check_variance_ratio(r_he["std"], 1.0)
    c5b = Claim(
        "5b",
        f"Xavier with ReLU: the spread halves per layer — the variance of h halves, the std falls by 1/√2 "
        f"(verdict: every Var(h_l+1)/Var(h_l) within [{0.5 / TOLERANCE:.2f}, {0.5 * TOLERANCE:.3f}])",
        ok5b,
        f"std per layer: {_g(r_x['std'])}; variance ratios {_fr(v5b)} (std ratios {_fr(ratios(r_x['std']))})",
        cond, figure="xavier_he")
    c5c = Claim(
        "5c",
        f"He (randn/√(fan_in/2)) with ReLU keeps the spread (verdict: every Var(h_l+1)/Var(h_l) within "
        f"[{1 / TOLERANCE:.2f}, {TOLERANCE:.2f}])",
        ok5c, f"std per layer: {_g(r_he['std'])}; variance ratios {_fr(v5c)}",
        cond, figure="xavier_he")

    # figures: the notes' per-layer histograms, one row per initialisation, and the profile
    ctx.savefig(figures.layer_histogram_grid(
        _hist_rows(res, ["tanh, W = 0.01·randn", "sigmoid, W = 0.01·randn"]), xlabel="h",
        title=f"W = {config.small_std:g}·randn: activations per layer"), "small_init",
        caption="Small weights: tanh activations collapse to 0, sigmoid ones to 0.5 "
                "(fixed bins over the output range).")
    ctx.savefig(figures.layer_histogram_grid(
        _hist_rows(res, ["tanh, W = randn", "sigmoid, W = randn"]), xlabel="h",
        title="W = randn: activations per layer"), "large_init",
        caption="Large weights: the activations pile up at the ends of the range (saturation).")
    ctx.savefig(figures.layer_histogram_grid(
        _hist_rows(res, ["tanh, Xavier", "sigmoid, Xavier", "ReLU, Xavier", "ReLU, He"]), xlabel="h",
        title="Xavier (randn/√fan_in) and He (randn/√(fan_in/2)): activations per layer"), "xavier_he",
        caption="Xavier keeps tanh's spread; with ReLU it shrinks layer by layer and He keeps it. ReLU panels show "
                "the positive part only (the exact zeros, about half of the entries, are left out).")
    r = 1 / math.sqrt(2)
    predicted = {
        "tanh, W = 0.01·randn": [input_std * theory ** k for k in range(1, config.depth + 1)],
        "ReLU, Xavier": [r_x["std"][0] * r ** k for k in range(config.depth)],
        "ReLU, He": [r_he["std"][0]] * config.depth,
    }
    ctx.savefig(_profile_figure(res, predicted, "Mean and std of each layer's activations"), "profile",
                caption="Per layer, mean and std of the activations for every initialisation; dashed: "
                        f"{theory:.3f}^l (tanh, small), 1/√2 per layer (ReLU, Xavier), constant (ReLU, He).")

    # every number a verdict reads: the per-layer stats, and the input's std (claim 3a's first ratio)
    records = [{"init": label, **s.row(), "input std": input_std} for label, stats in res.items() for s in stats]
    notes = [
        "One forward pass, no training: each initialisation draws its own weights (independent seeded streams); "
        "all share the same input. Saturated: |h| > 0.97 (tanh), h < 0.03 or h > 0.97 (sigmoid).",
        f"The notes' Xavier is randn/√fan_in (Var(w) = 1/fan_in); layerlab's xavier_normal, used here, has "
        f"Var(w) = 2/(fan_in + fan_out) — identical for these square {config.width}×{config.width} layers.",
        "With ReLU the notes' 'spread halves' is the variance (He's factor 2): the std falls by 1/√2 ≈ 0.71 "
        "per layer.",
    ]
    return Result(claims=[c3a, c3b, c4a, c4b, c5a, c5b, c5c], records=records, notes=notes)


# -- claim 6: identity weights over linear layers ----------------------------------------------------------------
@dataclass
class IdentityConfig:
    """W = scale·I in ``depth`` linear layers of ``width`` units on ``n`` unit-Gaussian points."""

    n: int = 1000
    width: int = 500
    depth: int = 5
    scales: tuple[float, ...] = (0.5, 1.5)
    QUICK: ClassVar[dict] = {"n": 200}


def _is_linear(name: str, module) -> bool:
    # a predicate, not the class: Probe.selected_modules mistakes a class for a module instance
    return isinstance(module, nn.Linear)


def run_identity(config: IdentityConfig, ctx: Context) -> dict[float, dict]:
    """For each scale: the linear net's per-layer stats and output, and the same net with tanh."""
    x = unit_gaussian(config.n, config.width, ctx.rng_for("input"))
    out = {}
    for c in config.scales:
        init = ("identity", {"scale": float(c)})
        lin = square_mlp(config.width, config.depth, None, init, ctx.rng_for("weights", c))
        stats, y = forward_stats(lin, x, layers=_is_linear, bins=0)
        th = square_mlp(config.width, config.depth, "tanh", init, ctx.rng_for("weights", c))
        tstats, ty = forward_stats(th, x, bins=0)
        out[float(c)] = {"x": x, "linear": stats, "y": y, "tanh": tstats, "y_tanh": ty}
    return out


@experiment("init_identity", order=6, topic="weight initialisation",
            summary="W = 0.5·I and 1.5·I over 5 linear layers scale the output by 0.5⁵ ≈ 0.031 and "
                    "1.5⁵ ≈ 7.59 (claim 6)")
def identity(config: IdentityConfig, ctx: Context) -> Result:
    """Seed 001, module 7.4: ŷ = W5(W4(W3(W2(W1 x)))) with W = c·I is c⁵·x — the reason the scale of
    the weights must keep n·Var(w) = 1: below 1 the signal vanishes, above 1 it explodes."""
    res = run_identity(config, ctx)
    x_std = float(res[config.scales[0]]["x"].std())
    claims, parts, ok_all = [], [], True
    for c, r in res.items():
        factor = c ** config.depth
        ok, slope, dev = check_scaling(r["x"], r["y"], factor)
        ok_all &= ok
        t_slope = float((r["x"].astype(np.float64) * r["y_tanh"]).sum() / (r["x"].astype(np.float64) ** 2).sum())
        parts.append(f"{c:g}·I: ŷ = {slope:.5g}·x (max relative deviation from {c:g}^{config.depth} = {factor:.5g}: "
                     f"{dev:.1e}); std per layer {_g([s.std for s in r['linear']])}; with tanh after each layer "
                     f"ŷ ≈ {t_slope:.3g}·x")
    claims.append(Claim(
        "6",
        f"W = c·I over {config.depth} linear layers gives ŷ = c^{config.depth}·x: "
        + ", ".join(f"{c:g}^{config.depth} = {c ** config.depth:.4g}" for c in res)
        + f" (verdict: |ŷ − c^{config.depth}·x| ≤ {SCALING_RTOL:g}·max|c^{config.depth}·x| for every entry)",
        bool(ok_all), "; ".join(parts),
        f"{config.n}×{config.width} unit-Gaussian input (std {x_std:.3f}), {config.depth} × Linear({config.width}, "
        f"{config.width}, bias=False, init=identity(c)), float32, seed {ctx.seed}",
        figure="identity_scaling"))

    curves = {f"{c:g}·I, linear": [s.std / x_std for s in r["linear"]] for c, r in res.items()}
    curves.update({f"{c:g}·I, tanh": [s.std / x_std for s in r["tanh"]] for c, r in res.items()})
    ref = {f"{c:g}·I, linear": [c ** k for k in range(1, config.depth + 1)] for c in res}
    ctx.savefig(figures.layer_profile(curves, reference=ref, logy=True, ylabel="std(h_l) / std(x)",
                                      title="W = c·I: the signal scales by c per layer"), "identity_scaling",
                caption="Std of each layer's output relative to the input's; dashed: c^l. With a tanh after each layer "
                        "(the notes: 'almost linear in [−1, 1]'), 0.5·I shrinks a little faster than 0.5^l "
                        "(|tanh(u)| < |u|) and 1.5·I cannot grow past tanh's range.")
    records = [{"scale": c, "net": kind, **s.row()} for c, r in res.items() for kind in ("linear", "tanh")
               for s in r[kind]]
    return Result(claims=claims, records=records,
                  notes=["The notes: 'based on the type of activation function used, the gradient may vanish (tanh) "
                         "or explode (relu)'. The tanh rows show the first: 1.5·I cannot grow past tanh's range."])
