"""Seed 003, sigmoid and tanh: "pick centered non-linearities" (issue 13, point 7).

The notes (seed 003): "A good rule of thumb: pick centered non-linearities — Remember: A deep network is a
hierarchy of similar modules — The output of one module is the input of the next — Easier to guarantee
consistent behavior — Example: ReLU-1 returns highly positive numbers, e.g. ~10,000 — ReLU-2 "biased" towards
highly positive or negative inputs → dead neurons"; tanh gives "Less "positive" bias for next layers (mean 0,
not 0.5)". Seed 001 says of ELU: "Close to zero centered outputs".

Set-up. Ten layers ``Linear(bias=False)`` → activation, ``width`` units each, at their usual initialisations:
ReLU with He (Var(w) = 2/fan_in), tanh with the notes' Xavier (randn/√fan_in = ``lecun_normal``), ELU with He,
SELU with LeCun normal. One forward pass at initialisation (no training), on two inputs: ``n`` points of a unit
Gaussian in R^width (the notes' ``D = randn(1000, 500)`` set-up) and ``n_real`` Fashion-MNIST training images
standardised with the global mean and std (784 inputs). ``seeds`` weight draws.

Measured per layer (``stats.forward_stats``, pooled over all N × units entries): the mean and std of the outputs
and of the pre-activations, ReLU's dead fraction (``Activation.dead_units``: no positive output on any input)
and the saturated fraction of the saturating ones (as ``ActivationStats`` counts them). And how the next layer
sees a non-centred input: with weights w of mean 0, the pooled mean of a = w·h stays ≈ 0, but each *unit* j of
the next layer gets a fixed offset m_j = Σ_i w_ji·E[h_i] — a bias of its own, of either sign, towards "highly
positive or negative inputs". Its size against the unit's own spread over the inputs s_j = std_n(a_nj) is the
offset ratio ``sqrt(mean_j m_j²) / sqrt(mean_j s_j²)``. In the wide limit, with inputs h of pooled mean μ and std
σ, E[m_j²] = n·Var(w)·μ² and E[s_j²] ≈ n·Var(w)·σ², so the offset ratio ≈ μ/σ of the layer that feeds it: for a
ReLU of a zero-mean Gaussian, (1/√(2π)) / √(1/2 − 1/(2π)) = 0.683; for an odd activation of a centred input,
0 up to the sampling noise ~1/√N of the per-unit means. A unit whose offset is far below its spread is negative
on every input: for a ReLU, dead. Also counted, for every activation: the fraction of units whose
pre-activation has one sign on every input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import layerlab as ll
from layerlab import nn
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import forward_stats
from layerlab.lab.training import fashion, unit_gaussian

__all__ = ["CentredConfig", "NETWORKS", "INPUTS", "RELU_RATIO", "CENTRED", "OFFSET_BIASED", "DEAD_GROWTH",
           "HALF_NORMAL_RATIO", "offset_ratio", "one_signed", "layer_rows", "check_positive_mean", "check_centred",
           "check_offsets", "check_dead_growth", "build"]

#: label -> (activation, init): each at its usual initialisation
NETWORKS = {"ReLU, He": ("relu", "he_normal"), "tanh, Xavier": ("tanh", "lecun_normal"),
            "ELU, He": ("elu", "he_normal"), "SELU, LeCun": ("selu", "lecun_normal")}
INPUTS = ("unit Gaussian", "Fashion-MNIST")
#: mean/std of max(0, a) for a ~ N(0, q): (1/√(2π)) / √(1/2 − 1/(2π)) — the ReLU of any zero-mean Gaussian
HALF_NORMAL_RATIO = (1 / math.sqrt(2 * math.pi)) / math.sqrt(0.5 - 1 / (2 * math.pi))
#: "a positive mean of order its std": ReLU's pooled mean/std ≥ 0.5 at every layer (the half-normal value 0.683
#: with a band of about a quarter below it)
RELU_RATIO = 0.5
#: "centred": |mean|/std ≤ 0.1 at every layer — the edge of the domain of Klambauer et al.'s theorem for a unit
#: variance (|μ| ≤ 0.1), the band the lab's SELU experiment uses. For independent Gaussian inputs the sampling noise
#: of a pooled mean is ≈ 1/√N per unit, far below it; on images, whose units carry offsets from the data, a draw's
#: pooled mean fluctuates by ≈ (offset ratio)/√width — a few hundredths at width 256
CENTRED = 0.1
#: "biased" next-layer units: the offset ratio of every layer fed by a ReLU (layers 2..L) is ≥ 0.5 (theory ≈ 0.683
#: from layer 2), while for the centred activations (tanh, SELU) it is ≤ CENTRED (theory: 0 + noise ~1/√N)
OFFSET_BIASED = 0.5
#: "grows through depth": ReLU's dead fraction at the last layer exceeds that at the first by ≥ 5 percentage
#: points on every seed (the dying-ReLU experiment's "small" fraction)
DEAD_GROWTH = 0.05


# -- measuring ------------------------------------------------------------------------------------------------------
def offset_ratio(a: np.ndarray) -> float:
    """sqrt(mean_j m_j²) / sqrt(mean_j s_j²) for pre-activations ``a`` (N × units): m_j and s_j are the mean and
    std of unit j over the N inputs. ≈ 0 (noise ~1/√N) when every unit is centred on the inputs; large when the
    units sit at offsets of either sign that their spread over the inputs does not cross. NaN without spread."""
    a = np.asarray(a, dtype=np.float64)
    m, s = a.mean(axis=0), a.std(axis=0)
    spread = math.sqrt(float(np.mean(s ** 2)))
    return math.sqrt(float(np.mean(m ** 2))) / spread if spread > 0 else math.nan


def one_signed(a: np.ndarray) -> tuple[float, float]:
    """(fraction of units whose pre-activation is ≤ 0 on every input, fraction > 0 on every input)."""
    a = np.asarray(a)
    return float(np.mean((a <= 0).all(axis=0))), float(np.mean((a > 0).all(axis=0)))


def build(act: str, init: str, d_in: int, width: int, depth: int, rng: np.random.Generator) -> nn.Sequential:
    """``depth`` × (Linear(bias=False, init) → activation), the first from ``d_in`` inputs; weights from ``rng``."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(d_in if i == 0 else width, width, bias=False, init=init, rng=rng), nn.activation(act)]
    return nn.Sequential(*layers)


def _pre_activations(model: nn.Sequential, x: np.ndarray) -> list[np.ndarray]:
    out, pres = ll.Tensor(x), []
    with ll.no_grad(), np.errstate(all="ignore"):
        for m in model:
            if isinstance(m, nn.Activation):
                pres.append(out.data)
            out = m(out)
    return pres


def layer_rows(model: nn.Sequential, x: np.ndarray) -> list[dict]:
    """One row per activation layer of ``model`` on ``x``: pooled ``mean``/``std``/``ratio`` (= mean/std) of the
    outputs, ``pre_mean``/``pre_std`` of the pre-activations (``stats.forward_stats``), ``offset`` (this layer's
    :func:`offset_ratio`), ``neg_units``/``pos_units`` (:func:`one_signed`), ``dead`` (for an activation that can
    die) and ``saturated`` (for one that saturates), else None."""
    stats, _ = forward_stats(model, ll.Tensor(x), bins=0)
    rows = []
    for st, a in zip(stats, _pre_activations(model, x)):
        neg, pos = one_signed(a)
        rows.append({"layer": st.layer, "mean": st.mean, "std": st.std,
                     "ratio": st.mean / st.std if st.std > 0 else math.nan, "pre_mean": st.pre_mean,
                     "pre_std": st.pre_std, "offset": offset_ratio(a), "neg_units": neg, "pos_units": pos,
                     "dead": st.dead, "saturated": st.saturated})
    return rows


# -- the verdicts (plain functions of the records) -------------------------------------------------------------------
def _rows(records, source: str, net: str) -> dict[int, list[dict]]:
    """``{seed: rows by layer}`` of the ``part == "layer"`` records of ``net`` on input ``source``."""
    out: dict[int, list[dict]] = {}
    for r in records:
        if r.get("part") == "layer" and r["input"] == source and r["net"] == net:
            out.setdefault(int(r["seed"]), []).append(r)
    return {s: sorted(v, key=lambda r: r["layer"]) for s, v in out.items()}


def check_positive_mean(records, source: str, net: str = "ReLU, He", at_least: float = RELU_RATIO):
    """Claim 38a: ``net``'s outputs have mean/std ≥ ``at_least`` at every layer on every seed. Returns (holds, the
    smallest ratio); no records: (False, NaN)."""
    ratios = [float(r["ratio"]) for rows in _rows(records, source, net).values() for r in rows]
    if not ratios:
        return False, math.nan
    worst = min(ratios, key=lambda v: -math.inf if math.isnan(v) else v)
    return bool(all(v >= at_least for v in ratios)), worst


def check_centred(records, source: str, net: str, tol: float = CENTRED):
    """Claims 38b–d: ``net``'s outputs have |mean|/std ≤ ``tol`` at every layer on every seed. Returns (holds, the
    largest |ratio|); no records: (False, NaN)."""
    ratios = [abs(float(r["ratio"])) for rows in _rows(records, source, net).values() for r in rows]
    if not ratios:
        return False, math.nan
    worst = max(ratios, key=lambda v: math.inf if math.isnan(v) else v)
    return bool(all(v <= tol for v in ratios)), worst


def check_offsets(records, source: str, biased: str = "ReLU, He", centred=("tanh, Xavier", "SELU, LeCun"),
                  at_least: float = OFFSET_BIASED, tol: float = CENTRED):
    """Claim 38e: every layer fed by a ``biased`` layer (2..L) has offset ratio ≥ ``at_least``, and every layer fed
    by a ``centred`` one has offset ratio ≤ ``tol``, on every seed. Returns (holds, smallest offset ratio of
    ``biased``, largest of the centred ones); missing records: not holding."""
    b = [float(r["offset"]) for rows in _rows(records, source, biased).values() for r in rows if r["layer"] >= 2]
    c = [float(r["offset"]) for net in centred for rows in _rows(records, source, net).values() for r in rows
         if r["layer"] >= 2]
    if not b or len(c) == 0 or any(not _rows(records, source, net) for net in centred):
        return False, math.nan, math.nan
    ok = all(v >= at_least for v in b) and all(v <= tol for v in c)
    return bool(ok), min(b), max(c)


def check_dead_growth(records, source: str, net: str = "ReLU, He", growth: float = DEAD_GROWTH):
    """Claim 38f: on every seed, the dead fraction of the last layer exceeds that of the first by ≥ ``growth``.
    Returns (holds, per-seed (first, last) dead fractions); no records: (False, [])."""
    pairs = []
    for s, rows in sorted(_rows(records, source, net).items()):
        if rows[0]["dead"] is None or rows[-1]["dead"] is None:
            return False, []
        pairs.append((float(rows[0]["dead"]), float(rows[-1]["dead"])))
    if not pairs:
        return False, []
    return bool(all(last - first >= growth for first, last in pairs)), pairs


# -- the experiment --------------------------------------------------------------------------------------------------
@dataclass
class CentredConfig:
    """``depth`` layers of ``width`` units (no biases), one forward pass at initialisation; inputs: ``n`` unit-
    Gaussian points in R^width and ``n_real`` Fashion-MNIST training images (global standardisation); ``seeds``
    weight draws."""

    width: int = 256
    depth: int = 10
    n: int = 1000
    n_real: int = 1000
    seeds: int = 3
    QUICK: ClassVar[dict] = {"width": 128, "n": 500, "n_real": 500, "seeds": 2}


@experiment("centred_nonlinearities", order=38, topic="depth and gradients",
            summary="10 layers of ReLU/tanh/ELU/SELU at their usual inits: ReLU's outputs have a positive mean of "
                    "order their std and bias each unit of the next layer; tanh and SELU stay centred; does ReLU's "
                    "dead fraction grow with depth?")
def run(config: CentredConfig, ctx: Context) -> Result:
    """Seed 003: "pick centered non-linearities" — per-layer means, per-unit offsets and dead units through ten
    layers of ReLU, tanh, ELU and SELU, on unit-Gaussian and on Fashion-MNIST inputs."""
    (xf, _), _ = fashion(config.n_real, 10, standardize=True, rng=ctx.rng_for("fashion"))
    inputs = {"unit Gaussian": unit_gaussian(config.n, config.width, ctx.rng_for("gaussian")), "Fashion-MNIST": xf}

    def forward(item):  # one weight draw of one network on one input set: its layer rows (and offsets to draw)
        source, net, s = item
        x = inputs[source]
        act, init = NETWORKS[net]
        model = build(act, init, x.shape[1], config.width, config.depth, ctx.rng_for("weights", net, s))
        rows = [{"part": "layer", "input": source, "net": net, "seed": s, **row} for row in layer_rows(model, x)]
        if s == 0 and source == "unit Gaussian":
            pres = _pre_activations(model, x)
            return rows, {f"layer {k}": _unit_offsets(pres[k - 1]) for k in (2, config.depth)}
        return rows, None

    items = [(source, net, s) for source in inputs for net in NETWORKS for s in range(config.seeds)]
    records: list[dict] = []
    shown: dict = {}
    for (_, net, _), (rows, offsets) in zip(items, ctx.map(forward, items, label="forward passes")):
        records += rows
        if offsets is not None:
            shown[net] = offsets

    ctx.savefig(_means_figure(records, config), "output_means",
                caption="Pooled mean of each layer's outputs (left) and mean/std (right), mean over the weight draws "
                        "(bands: min–max over draws). Dashed: ReLU's threshold 0.5 and the centred band ±0.1; dotted: "
                        f"the half-normal value {HALF_NORMAL_RATIO:.3f}.")
    ctx.savefig(_pre_figure(records, config), "pre_activations",
                caption="How the next layer sees the outputs: pooled pre-activation mean (left) and the per-unit "
                        "offset ratio sqrt(mean m_j²)/sqrt(mean s_j²) (right, log scale) — the mean m_j of unit j's "
                        "pre-activation over the inputs against its spread s_j.")
    ctx.savefig(figures.layer_histogram_grid(shown, bins=40, range=(-6.0, 6.0), xlabel="m_j / s_j",
                                             title="Per-unit offsets m_j / s_j (unit Gaussian, draw 0)"),
                "unit_offsets",
                caption="Each unit's pre-activation mean m_j over the inputs divided by its std s_j over them, at "
                        "layers 2 and the last. A unit far "
                        "below 0 is negative on every input (a ReLU there is dead); centred non-linearities keep "
                        "every unit near 0.")
    ctx.savefig(_dead_figure(records, config), "dead_units",
                caption="Fraction of units whose pre-activation is ≤ 0 on every input (for ReLU: dead) per layer, "
                        "every weight draw.")

    cond = {src: (f"{config.depth} × (Linear({'784' if src == 'Fashion-MNIST' else config.width}→{config.width}, no "
                  f"bias) → activation) at init, one forward pass; "
                  + (f"{config.n} unit-Gaussian points in R^{config.width}" if src == "unit Gaussian" else
                     f"{config.n_real} Fashion-MNIST training images, globally standardised")
                  + f"; {config.seeds} weight draws; ReLU He, tanh LeCun normal (the notes' Xavier), ELU He, SELU "
                    "LeCun normal")
            for src in INPUTS}

    def per_layer(source, net, key, digits=2):
        rows = _rows(records, source, net)
        mean = [np.mean([rs[i][key] for rs in rows.values()]) for i in range(config.depth)]
        return ", ".join(f"{v:.{digits}f}" for v in mean)

    claims = []
    for source in INPUTS:
        ok, worst = check_positive_mean(records, source)
        claims.append(Claim(
            f"38a ({source})",
            "ReLU \"returns highly positive numbers\": its outputs have a positive mean of the order of their std "
            f"(verdict: mean/std ≥ {RELU_RATIO} at every layer, every weight draw; theory {HALF_NORMAL_RATIO:.3f})",
            ok, f"smallest mean/std {worst:.3f}; per layer (mean over draws) {per_layer(source, 'ReLU, He', 'ratio')}",
            cond[source], "output_means"))
    for letter, net, text in (("b", "tanh, Xavier", "tanh gives \"less 'positive' bias for next layers (mean 0, not "
                                                    "0.5)\": its outputs stay centred"),
                              ("c", "SELU, LeCun", "SELU's outputs stay centred"),
                              ("d", "ELU, He", "ELU has \"close to zero centered outputs\" (seed 001)")):
        for source in INPUTS:
            ok, worst = check_centred(records, source, net)
            claims.append(Claim(
                f"38{letter} ({source})",
                f"{text} (verdict: |mean|/std ≤ {CENTRED} at every layer, every weight draw)",
                ok, f"largest |mean|/std {worst:.3f}; mean/std per layer (mean over draws) "
                    f"{per_layer(source, net, 'ratio')}", cond[source], "output_means"))
    for source in INPUTS:
        ok, b, c = check_offsets(records, source)
        claims.append(Claim(
            f"38e ({source})",
            "A ReLU feeding a ReLU: the next layer's units are \"biased\" towards highly positive or negative inputs, "
            "those fed by tanh or SELU are not (verdict: the per-unit offset ratio of every layer fed by a ReLU is "
            f"≥ {OFFSET_BIASED}, of every layer fed by tanh or SELU ≤ {CENTRED}, every weight draw)",
            ok, f"offset ratio, layers 2–{config.depth}: ReLU ≥ {b:.3f}, tanh/SELU ≤ {c:.3f}; per layer (mean over "
                f"draws) ReLU {per_layer(source, 'ReLU, He', 'offset')}; "
                f"tanh {per_layer(source, 'tanh, Xavier', 'offset')}; "
                f"SELU {per_layer(source, 'SELU, LeCun', 'offset')}; ELU {per_layer(source, 'ELU, He', 'offset')}",
            cond[source], "pre_activations"))
    for source in INPUTS:
        ok, pairs = check_dead_growth(records, source)
        claims.append(Claim(
            f"38f ({source})",
            "The biased inputs lead to dead neurons: ReLU's dead fraction grows through depth (verdict: the last layer "
            f"has ≥ {DEAD_GROWTH:.0%} more dead units than the first, every weight draw)",
            ok, "dead fraction first → last layer: " + ", ".join(f"draw {s}: {a:.3f} → {b:.3f}"
                                                               for s, (a, b) in enumerate(pairs))
            + f"; per layer (mean over draws) {per_layer(source, 'ReLU, He', 'dead', 3)}",
            cond[source], "dead_units"))
    notes = [
        "The pooled pre-activation mean of every layer stays near 0 whatever feeds it (zero-mean weights turn a "
        "positive input mean into spread across units); what a positive input mean does is give each unit of the next "
        "layer its own fixed offset m_j = Σ_i w_ji·E[h_i], of either sign — the offset ratio measures it against the "
        "unit's spread over the inputs.",
        "On Fashion-MNIST the inputs are standardised with one global mean and std, so individual pixels are not "
        "centred: the first layer's units get offsets from the data whatever the activation, and the images are "
        "correlated with each other far more than Gaussian points are.",
        "Offset ratio, first → last layer (mean over draws): " + "; ".join(
            f"{source}: " + ", ".join(f"{net.split(',')[0]} {_first_last(records, source, net, config.depth)}"
                                      for net in NETWORKS) for source in INPUTS)
        + ". A ReLU stack compounds the offsets layer after layer; tanh and SELU pass on what they are given.",
    ]
    return Result(claims=claims, records=records, notes=notes)


def _first_last(records, source, net, depth) -> str:
    mean, _, _ = _profile(records, source, net, "offset", depth)
    return f"{mean[0]:.2f} → {mean[-1]:.2f}"


def _unit_offsets(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    s = a.std(axis=0)
    return np.where(s > 0, a.mean(axis=0) / np.where(s > 0, s, 1.0), np.nan)


# -- figures ---------------------------------------------------------------------------------------------------------
def _profile(records, source, net, key, depth):
    per = _rows(records, source, net)
    v = np.array([[np.nan if rs[i][key] is None else rs[i][key] for i in range(depth)] for rs in per.values()],
                 dtype=np.float64)
    return v.mean(axis=0), v.min(axis=0), v.max(axis=0)


def _profiles_figure(records, config, keys, ylabels, title, logy=(False, False), refs=((), ())):
    fig, axes = figures.new_figure(len(INPUTS), len(keys), panel=(3.2, 2.2), title=title,
                                   margins={"left": 0.9, "hspace": 0.75})
    layers = np.arange(1, config.depth + 1)
    for r, source in enumerate(INPUTS):
        for c, key in enumerate(keys):
            ax = axes[r, c]
            for i, net in enumerate(NETWORKS):
                mean, lo, hi = _profile(records, source, net, key, config.depth)
                color = figures.COLORS[i]
                ax.plot(layers, mean, "o-", markersize=3, color=color, label=net)
                ax.fill_between(layers, lo, hi, color=color, alpha=0.2, linewidth=0)
            for y, style in refs[c]:
                ax.axhline(y, color="#555555", linestyle=style, linewidth=0.8)
            if logy[c]:
                ax.set_yscale("log")
            ax.set_title(f"{source}", fontsize=9)
            ax.set_ylabel(ylabels[c])
            ax.set_xticks(layers)
            if r == len(INPUTS) - 1:
                ax.set_xlabel("layer")
    axes[0, 0].legend(frameon=False, fontsize=7)
    return fig


def _means_figure(records, config):
    return _profiles_figure(records, config, ("mean", "ratio"), ("mean of outputs", "mean / std of outputs"),
                            "Are the outputs centred?",
                            refs=((), ((RELU_RATIO, "--"), (CENTRED, "--"), (-CENTRED, "--"),
                                       (HALF_NORMAL_RATIO, ":"))))


def _pre_figure(records, config):
    return _profiles_figure(records, config, ("pre_mean", "offset"), ("pre-activation mean", "offset ratio"),
                            "What the next layer sees: pooled mean and per-unit offsets", logy=(False, True),
                            refs=((), ((OFFSET_BIASED, "--"), (CENTRED, "--"))))


def _dead_figure(records, config):
    fig, axes = figures.new_figure(1, len(INPUTS), panel=(3.2, 2.2), sharey=True,
                                   title="Units negative on every input (ReLU: dead)")
    layers = np.arange(1, config.depth + 1)
    for ax, source in zip(axes[0], INPUTS):
        for i, net in enumerate(NETWORKS):
            for s, rows in _rows(records, source, net).items():
                ax.plot(layers, [r["neg_units"] for r in rows], "o-", markersize=2.5, linewidth=1.0,
                        color=figures.COLORS[i], alpha=0.8, label=net if s == 0 else None)
        ax.set_title(source)
        ax.set_xlabel("layer")
        ax.set_xticks(layers)
    axes[0, 0].set_ylabel("fraction of units")
    axes[0, 0].legend(frameon=False, fontsize=7)
    return fig
