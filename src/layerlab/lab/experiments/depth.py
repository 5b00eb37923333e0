"""Seed 002, "Dead neurons and vanishing & exploding gradients" and "Aspects of a deep neural network"
(issue 13, points 1–3): what depth does to the gradients, to training, and what skip connections change.

The notes: "The effect of derivatives magnifies down the layers. If the order of magnitude is above 1
(say 10) then it explodes (after 10 layers it will become 10^{10}). If the order of magnitude is below 1
(say 1/10) then it vanishes (after 10 layers it will become 10^{-10}). From a more practical viewpoint,
this might lead to overflow if the gradient explodes. If it is vanishing, then there might not be enough
precision to handle the values."; "Deeper networks have a harder time converging."; skip connections:
"We might allow nodes from deeper layers to have direct access to nodes from shallower layers while
*skipping* the intermediate layers" (seed 001: "Based on the type of activation function used, the
gradient may vanish (tanh) or explode (relu)").

**gradient_depth** (claims 32). MLPs 784-(width × depth−1)-10 with sigmoid, tanh or ReLU hidden layers,
depth = the number of weight layers (5, 10, 20, 30, 50), initialised with the notes' W = 0.01·randn
("small"), the notes' "Xavier" randn/√fan_in (layerlab's ``lecun_normal``), He randn/√(fan_in/2)
(``he_normal``) or the notes' W = randn (σ = 1, "large"). One mini-batch of Fashion-MNIST images, one
backward pass, and :class:`~layerlab.probes.GradientStats` on the Linear layers gives ‖∂L/∂W_l‖ (and
‖∂L/∂b_l‖) per layer. The measure is the ratio first / last: ‖∂L/∂W_1‖ / ‖∂L/∂W_L‖ (the input layer over
the output layer). The measurement at initialisation is made in float64, so that the ratio is a number
even where float32 under- or overflows; the same weights in float32 show whether it does (the notes'
"not enough precision" / "overflow"). During training (float32, plain SGD with momentum) the probe
samples every few steps: the heat maps layer × step.

A prediction to state before measuring: in a net whose activation is positively homogeneous (ReLU,
linear) and whose biases are 0, scaling every W by c scales the forward signal by c per layer *and* the
backward signal δ_l = ∂L/∂a_l by c per layer, and ∂L/∂W_l = Σ_n δ_l h_{l−1}ᵀ multiplies the two, so every
layer's weight gradient grows by the same c^(L−1): the *ratio* first/last of weight gradients stays near
1 while all of them explode (or vanish) together. The notes' chain of derivatives is δ_l itself — the
gradient of a bias, ∂L/∂b_l = Σ_n δ_l — and that ratio does explode. Both are rows (32d, 32e). With
sigmoid the forward signal cannot shrink (h ≈ 0.5 whatever W), so a small W makes the weight-gradient
ratio itself vanish, by ≈ (σ′(0) · 0.01 · √width)^(L−1) = 0.02^(L−1).

**deep_plain** (claims 33). "Deeper networks are harder to train", in He et al.'s (2015) sense: plain
ReLU MLPs of depth 8, 22 and 30 (width 64) with Xavier or He init, trained on the same Fashion-MNIST
subset with the same optimiser and budget over several seeds. Verdict: the deeper net's mean training
loss over the last iterations is higher than the shallower one's beyond the noise (``stats.paired_lead``).
A run whose loss sits at ln 10 (the loss of a uniform guess) for a long stretch is reported as a
*plateau*, not as a failure; a run whose loss or gradient becomes non-finite as *diverged*.

**skip_connections** (claims 34). The same plain ReLU MLP (depth 10, 30, 50, width 64, the notes' Xavier
init) and its residual version: the same Linear layers with the same weights, identity shortcuts around
every two hidden layers in He et al.'s (2016) pre-activation form, ``Residual(Sequential(ReLU, Linear,
ReLU, Linear))`` — stripped of its shortcuts the residual net *is* the plain one. Loss curves and the
per-layer gradient norms (GradientStats during training). A plain He-initialised net at depth 50 is the
other side (the plain net's stall depends on its init).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import Tensor, nn, optim
from layerlab.probes import GradientStats
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import NOISE_SE, format_lead, format_mean_se, paired_lead, running_mean, tail_mean
from layerlab.lab.training import fashion, fit_iterations, mlp

__all__ = [
    "GradientDepthConfig", "DeepPlainConfig", "SkipConfig", "INITS", "VANISH", "EXPLODE", "WITHIN",
    "PLATEAU_BAND", "PLATEAU_MIN", "PLATEAU_WINDOW", "STALL_BAND", "TRAINS_LEVEL", "LN10",
    "plain_net", "residual_version", "linear_grad_norms", "grad_history", "ratio", "check_ratios",
    "plateau_stretch", "run_status", "check_deeper_worse", "stalls", "trains", "check_residual_trains",
    "check_plain_trains", "check_plain_stalls", "check_residual_grads", "run_gradient_depth", "run_deep_plain",
    "run_skip",
]

# -- the verdicts' thresholds (stated in the claims' text) ---------------------------------------------------
#: "vanishes": the first layer's gradient at least two decades (100×) below the last's. The notes' example is
#: ten decades over ten layers; two decades is the smallest gap no one would call "the same order of magnitude"
VANISH = 100.0
#: "explodes": the first layer's gradient at least two decades (100×) above the last's (the mirror of VANISH)
EXPLODE = 100.0
#: "kept in scale": first / last within one decade either way (1/10 … 10): within one order of magnitude,
#: the notes' unit of "magnifies"
WITHIN = 10.0
#: ln 10: the cross-entropy of a uniform guess over the 10 classes — the loss of a net that has learnt nothing
LN10 = math.log(10.0)
#: a plateau: the running mean of PLATEAU_WINDOW losses stays within ±PLATEAU_BAND of ln 10 for at least
#: PLATEAU_MIN consecutive iterations. 0.1 is the lab's "(almost) remains constant" band of claim 7 (4% of
#: ln 10); 50 iterations is longer than the notes' 35-iteration plateau, so a plateau here is at least theirs
PLATEAU_BAND = 0.1
PLATEAU_MIN = 50
PLATEAU_WINDOW = 10
#: "stalls": the mean loss of the last iterations is within ±STALL_BAND of the mean of the first
#: PLATEAU_WINDOW iterations (the same "almost constant" band: the run ends where it started)
STALL_BAND = 0.1
#: "trains": the mean loss of the last iterations is at most half the uniform guess's, ln 10 / 2 ≈ 1.15 (the
#: net has learnt at least half of the way from "nothing" towards 0)
TRAINS_LEVEL = LN10 / 2

#: the initialisations, by short name → the ``nn.Linear(init=)`` argument (the notes' names in LABELS)
INITS = {"small": ("normal", {"std": 0.01}), "xavier": "lecun_normal", "he": "he_normal",
         "large": ("normal", {"std": 1.0})}
LABELS = {"small": "0.01·randn", "xavier": "Xavier (randn/√fan_in)", "he": "He (randn/√(fan_in/2))",
          "large": "randn (σ = 1)"}


# -- networks ------------------------------------------------------------------------------------------------
def plain_net(depth: int, width: int, activation: str, init, rng: np.random.Generator,
              dtype=np.float32) -> nn.Sequential:
    """784 → (width) × (depth − 1) → 10: ``depth`` Linear layers, ``activation`` after each hidden one, biases
    0, weights drawn from ``rng`` layer by layer (``layerlab.lab.training.mlp``)."""
    if depth < 2:
        raise ValueError(f"plain_net: depth (the number of Linear layers) must be ≥ 2, got {depth}")
    return mlp([784] + [int(width)] * (int(depth) - 1) + [10], activation, init, rng, dtype=dtype)


def residual_version(plain: nn.Sequential) -> nn.Sequential:
    """The residual version of a plain ReLU MLP with an even number d of Linear layers, sharing its modules:
    Linear₁, then (d − 2)/2 blocks ``Residual(Sequential(ReLU, Linear, ReLU, Linear))`` (He et al. 2016's
    pre-activation form, an identity shortcut around every two hidden layers), then ReLU, Linear_d. Removing
    the shortcuts gives back ``plain`` module for module, so the two nets start from the same weights."""
    layers = list(plain)
    if len(layers) < 3 or (len(layers) - 3) % 4:
        raise ValueError(f"residual_version: needs a plain net of an even number ≥ 2 of Linear layers "
                         f"(Linear, (act, Linear) × odd), got {len(layers)} modules")
    k = (len(layers) - 3) // 4
    blocks = [nn.Residual(nn.Sequential(*layers[1 + 4 * i:5 + 4 * i])) for i in range(k)]
    return nn.Sequential(layers[0], *blocks, layers[-2], layers[-1])


def _is_linear(name: str, module) -> bool:
    """The probes' layer selection: the Linear layers (a predicate: the probe takes a class for a module)."""
    return isinstance(module, nn.Linear)


def linear_grad_norms(model: nn.Module, x: np.ndarray, y: np.ndarray) -> dict:
    """One forward and backward pass of the mean cross-entropy on (x, y); GradientStats on the Linear layers.
    Returns ``weight`` and ``bias``: ‖∂L/∂W_l‖ and ‖∂L/∂b_l‖ per Linear layer in the model's order, and
    ``loss`` (non-finite values are returned as they are: an overflow is a result)."""
    probe = GradientStats(model, layers=_is_linear)
    model.zero_grad()
    with np.errstate(all="ignore"):
        loss = nn.CrossEntropyLoss()(model(Tensor(x)), Tensor(y))
        loss.backward()
        probe.record(0)
    names = probe.layer_names
    return {"weight": [float(probe.series(n, "norm", "weight/grad")[1][0]) for n in names],
            "bias": [float(probe.series(n, "norm", "bias/grad")[1][0]) for n in names],
            "loss": float(loss.item())}


def grad_history(probe: GradientStats, kind: str = "weight/grad") -> tuple[np.ndarray, np.ndarray]:
    """(steps, norms) from a GradientStats probe run in a Trainer: norms[l, t] = ‖∂L/∂W_l‖ at steps[t], the
    layers in the model's order."""
    names = probe.layer_names
    steps = probe.series(names[0], "norm", kind)[0]
    return steps, np.array([probe.series(n, "norm", kind)[1] for n in names])


def ratio(first: float, last: float) -> float:
    """first / last; inf when only the last is 0, NaN when both are 0 or either is not finite."""
    if not (math.isfinite(first) and math.isfinite(last)):
        return math.nan
    if last == 0:
        return math.inf if first > 0 else math.nan
    return first / last


def check_ratios(values, lo: float, hi: float) -> tuple[bool, float, float]:
    """Every ratio in [lo, hi]; returns (holds, smallest, largest). No ratio, or a NaN one (a 0/0 or an
    overflow), is no evidence: False."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0 or np.isnan(v).any():
        return False, (float(np.nanmin(v)) if v.size and not np.isnan(v).all() else math.nan), \
            (float(np.nanmax(v)) if v.size and not np.isnan(v).all() else math.nan)
    return bool(v.min() >= lo and v.max() <= hi), float(v.min()), float(v.max())


# -- curves ----------------------------------------------------------------------------------------------------
def plateau_stretch(losses, band: float = PLATEAU_BAND, window: int = PLATEAU_WINDOW) -> tuple[int, int | None]:
    """The longest stretch of consecutive iterations whose running mean (``window`` losses) lies within
    ±``band`` of ln 10: (its length, its first iteration; None when there is none). A NaN is outside."""
    smooth = running_mean(np.asarray(losses, dtype=np.float64), window)
    inside = np.abs(smooth - LN10) <= band
    best, start, cur, cur_start = 0, None, 0, 0
    for i, ok in enumerate(inside):
        if ok:
            if cur == 0:
                cur_start = i
            cur += 1
            if cur > best:
                best, start = cur, cur_start
        else:
            cur = 0
    return int(best), start


def run_status(losses, diverged, band: float = PLATEAU_BAND, min_len: int = PLATEAU_MIN,
               window: int = PLATEAU_WINDOW) -> str:
    """One word for a run: "diverged" (a non-finite loss or gradient), "plateau to the end" (a plateau of
    ≥ ``min_len`` iterations that lasts to the last one), "plateau, then falls" (one that ends), or "trains"
    (no plateau of that length)."""
    v = np.asarray(losses, dtype=np.float64)
    if diverged is not None or not np.all(np.isfinite(v)):
        return "diverged"
    length, start = plateau_stretch(v, band, window)
    if length >= min_len:
        return "plateau to the end" if start + length == len(v) else "plateau, then falls"
    return "trains"


def _first_mean(losses, window: int = PLATEAU_WINDOW) -> float:
    v = np.asarray(list(losses)[:window], dtype=np.float64)
    return float(v.mean()) if v.size else math.nan


def stalls(first: float, tail: float, band: float = STALL_BAND) -> bool:
    """"Stalls": the tail mean is within ±``band`` of the mean of the first iterations (NaN: False)."""
    return bool(math.isfinite(first) and math.isfinite(tail) and abs(tail - first) <= band)


def trains(tail: float, level: float = TRAINS_LEVEL) -> bool:
    """"Trains": the tail mean is finite and at most ``level``."""
    return bool(math.isfinite(tail) and tail <= level)


# -- the verdicts (plain functions of the records) --------------------------------------------------------------
def _tails(records, **match) -> dict[int, float]:
    return {int(r["seed"]): float(r["tail"]) for r in records
            if r.get("part") == "train" and all(r.get(k) == v for k, v in match.items())}


def check_deeper_worse(records, init: str, deep: int, shallow: int) -> tuple[bool, dict | None]:
    """Claims 33: with ``init``, the ``deep`` plain net's tail loss is above the ``shallow`` one's beyond the
    noise (paired over the seeds both have). A diverged run (NaN tail) or a missing seed is no evidence.
    Returns (holds, the paired_lead of shallow ahead of deep, or None)."""
    a, b = _tails(records, init=init, depth=shallow), _tails(records, init=init, depth=deep)
    seeds = sorted(set(a) & set(b))
    if not seeds or set(a) != set(b):
        return False, None
    lead = paired_lead([a[s] for s in seeds], [b[s] for s in seeds])
    return bool(lead["beyond"] and math.isfinite(lead["diff"])), lead


def _runs(records, net: str, depth: int, init: str) -> dict[int, dict]:
    return {int(r["seed"]): r for r in records if r.get("part") == "train" and r.get("net") == net
            and r.get("depth") == depth and r.get("init") == init}


def check_residual_trains(records, depth: int, init: str = "xavier") -> tuple[bool, dict]:
    """Claims 34a/b: at ``depth``, in every seed the plain net stalls and the residual one trains, and the
    residual net's tail loss is below the plain one's beyond the noise. Returns (holds, details)."""
    plain, res = _runs(records, "plain", depth, init), _runs(records, "residual", depth, init)
    seeds = sorted(plain)
    if not seeds or set(plain) != set(res):
        return False, {"lead": None, "plain stalls": False, "residual trains": False}
    plain_stalls = all(stalls(plain[s]["first"], plain[s]["tail"]) for s in seeds)
    res_trains = all(trains(res[s]["tail"]) for s in seeds)
    lead = paired_lead([res[s]["tail"] for s in seeds], [plain[s]["tail"] for s in seeds])
    beyond = bool(lead["beyond"] and math.isfinite(lead["diff"]))
    return bool(plain_stalls and res_trains and beyond), {"lead": lead, "plain stalls": plain_stalls,
                                                          "residual trains": res_trains}


def check_plain_trains(records, depth: int, init: str = "xavier") -> bool:
    """Claim 34c: at ``depth`` the plain net trains in every seed (no seeds: False)."""
    plain = _runs(records, "plain", depth, init)
    return bool(plain) and all(trains(r["tail"]) for r in plain.values())


def check_plain_stalls(records, depth: int, init: str) -> bool:
    """Claim 34e: at ``depth`` the plain net with ``init`` stalls in every seed (no seeds: False)."""
    plain = _runs(records, "plain", depth, init)
    return bool(plain) and all(stalls(r["first"], r["tail"]) for r in plain.values())


def check_residual_grads(records, factor: float = WITHIN, init: str = "xavier") -> tuple[bool, float, float]:
    """Claim 34d: in every residual run, ‖∂L/∂W_first‖ / ‖∂L/∂W_last‖ at initialisation and its median over
    the sampled training steps lie within [1/factor, factor]. Returns (holds, smallest, largest)."""
    vals = [v for r in records if r.get("part") == "train" and r.get("net") == "residual" and r.get("init") == init
            for v in (r["ratio_init"], r["ratio_median"])]
    return check_ratios(vals, 1.0 / factor, factor)


def _g(v: float) -> str:
    if v is None or not math.isfinite(v):
        return str(v)
    return f"{v:.2g}" if (abs(v) < 0.01 or abs(v) >= 1000) and v != 0 else f"{v:.3g}"


def _range(lo: float, hi: float) -> str:
    return f"{_g(lo)} … {_g(hi)}"


#: short names for legends
SHORT = {"small": "0.01·randn", "xavier": "Xavier", "he": "He", "large": "randn"}


def _setup(act: str, init: str) -> str:
    return f"{act} + {SHORT.get(init, init)}"


# ===================================================================================================================
# 32: gradient_depth
# ===================================================================================================================
@dataclass
class GradientDepthConfig:
    """At initialisation: MLPs 784-``width``×(depth−1)-10 for each depth of ``depths`` and each (activation,
    init) of ``setups``, ``seeds`` weight draws, one mini-batch of ``n_batch`` standardised Fashion-MNIST
    images; W = randn·``large_std`` is "large". During training: the ``train_setups`` at depth ``train_depth``,
    ``iterations`` steps of SGD (η = ``lr``, momentum ``momentum``, batch ``batch_size``) on ``n_train`` images,
    the gradients sampled every ``every`` steps."""

    width: int = 64
    depths: tuple[int, ...] = (5, 10, 20, 30, 50)
    setups: tuple[tuple[str, str], ...] = (("sigmoid", "small"), ("sigmoid", "xavier"), ("tanh", "small"),
                                           ("tanh", "xavier"), ("relu", "small"), ("relu", "he"),
                                           ("relu", "large"))
    seeds: int = 3
    n_batch: int = 256
    large_std: float = 1.0
    train_setups: tuple[tuple[str, str], ...] = (("sigmoid", "small"), ("sigmoid", "xavier"), ("tanh", "xavier"),
                                                 ("relu", "he"), ("relu", "large"))
    train_depth: int = 20
    iterations: int = 300
    every: int = 10
    n_train: int = 5000
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    QUICK: ClassVar[dict] = {"depths": (5, 20), "seeds": 2, "iterations": 40, "n_train": 1000, "train_depth": 10}


#: the (activation, init) each claim of 32 reads
VANISHING = ("sigmoid", "small")
TANH_XAVIER = ("tanh", "xavier")
RELU_HE = ("relu", "he")
RELU_LARGE = ("relu", "large")


def _init_ratios(records, setup, key: str = "ratio_w") -> list[float]:
    act, init = setup
    return [r[key] for r in records if r.get("part") == "init" and r["activation"] == act and r["init"] == init]


def _train_ratios(records, setup) -> list[float]:
    act, init = setup
    return [r["ratio_w"] for r in records if r.get("part") == "during training" and r["activation"] == act
            and r["init"] == init]


def gradient_depth_verdicts(records) -> dict[str, tuple[bool, float, float]]:
    """Every verdict of claims 32 from the records: {id: (holds, smallest ratio, largest ratio)}."""
    return {
        "32a": check_ratios(_init_ratios(records, VANISHING), 0.0, 1.0 / VANISH),
        "32b": check_ratios(_init_ratios(records, TANH_XAVIER), 1.0 / WITHIN, WITHIN),
        "32c": check_ratios(_init_ratios(records, RELU_HE), 1.0 / WITHIN, WITHIN),
        "32d": check_ratios(_init_ratios(records, RELU_LARGE), EXPLODE, math.inf),
        "32e": check_ratios(_init_ratios(records, RELU_LARGE, "ratio_b"), EXPLODE, math.inf),
        "32f": check_ratios(_train_ratios(records, VANISHING), 0.0, 1.0 / VANISH),
        "32g": check_ratios(_train_ratios(records, RELU_HE), 1.0 / WITHIN, WITHIN),
    }


def float32_limits(records) -> dict[str, list[int]]:
    """Claims 32h/32i: the depths at which, in float32, sigmoid + 0.01·randn's first-layer weight gradient is
    exactly 0 in every seed (``underflow``), and at which ReLU + randn's gradients or loss are not finite in
    some seed (``overflow``)."""
    under, over = {}, {}
    for r in records:
        if r.get("part") != "init":
            continue
        if (r["activation"], r["init"]) == VANISHING:
            under.setdefault(r["depth"], []).append(r["first_w_f32"] == 0.0)
        if (r["activation"], r["init"]) == RELU_LARGE:
            over.setdefault(r["depth"], []).append(not r["finite_f32"])
    return {"underflow": sorted(d for d, v in under.items() if all(v)),
            "overflow": sorted(d for d, v in over.items() if any(v))}


@experiment("gradient_depth", order=32, topic="depth and gradients",
            summary="per-layer ‖∂L/∂W‖ at init and during training, sigmoid/tanh/ReLU MLPs of depth 5–50 under "
                    "0.01·randn, Xavier, He and randn: vanishing, exploding, kept in scale (issue 13, point 1)")
def run_gradient_depth(config: GradientDepthConfig, ctx: Context) -> Result:
    for s in (*config.setups, *config.train_setups):
        if s[1] not in INITS:
            raise ValueError(f"gradient_depth: unknown init {s[1]!r} (known: {', '.join(INITS)})")
    inits = {**INITS, "large": ("normal", {"std": float(config.large_std)})}
    (x, y), _ = fashion(config.n_train, 1, standardize=True, rng=ctx.rng_for("data"))
    xb, yb = x[:config.n_batch], y[:config.n_batch]

    def at_init(item):  # one weight draw: the gradients in float64 and, from the same weights, in float32
        act, init, depth, s = item
        g64 = linear_grad_norms(plain_net(depth, config.width, act, inits[init],
                                          ctx.rng_for("w", act, init, depth, s), np.float64),
                                xb.astype(np.float64), yb)
        g32 = linear_grad_norms(plain_net(depth, config.width, act, inits[init],
                                          ctx.rng_for("w", act, init, depth, s), np.float32), xb, yb)
        w, b = g64["weight"], g64["bias"]
        finite32 = bool(math.isfinite(g32["loss"]) and all(math.isfinite(v) for v in g32["weight"]))
        return {"part": "init", "activation": act, "init": init, "depth": depth, "seed": s,
                "first_w": w[0], "last_w": w[-1], "ratio_w": ratio(w[0], w[-1]),
                "first_b": b[0], "last_b": b[-1], "ratio_b": ratio(b[0], b[-1]),
                "loss": g64["loss"], "first_w_f32": g32["weight"][0], "last_w_f32": g32["weight"][-1],
                "finite_f32": finite32}, w

    items = [(act, init, depth, s) for act, init in config.setups for depth in config.depths
             for s in range(config.seeds)]
    draws = ctx.map(at_init, items, label="gradients at init")
    records: list[dict] = [rec for rec, _ in draws]
    profiles: dict[tuple, list[float]] = {(act, init, depth): w for (act, init, depth, s), (_, w) in zip(items, draws)
                                          if s == 0}

    # during training
    def train(setup):  # one run: (gradient steps, norms[layer, step], diverged at, losses)
        act, init = setup
        model = plain_net(config.train_depth, config.width, act, inits[init], ctx.rng_for("train w", act, init))
        probe = GradientStats(layers=_is_linear, every=config.every)
        opt = optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is measured, not warned about
            out = fit_iterations(ctx, model, opt, x, y, config.iterations, config.batch_size,
                                 label=f"{act}/{init}", callbacks=[probe], seed=ctx.seed)
        steps, norms = grad_history(probe)
        return steps, norms, out["diverged"], out["losses"]

    heat: dict[tuple, tuple] = {}
    losses: dict[tuple, list] = {}
    for (act, init), (steps, norms, diverged, v) in zip(config.train_setups,
                                                        ctx.map(train, config.train_setups, label="training")):
        heat[act, init] = (steps, norms, diverged)
        losses[act, init] = v
        for t, step in enumerate(steps):
            records.append({"part": "during training", "activation": act, "init": init, "depth": config.train_depth,
                            "step": int(step), "first_w": float(norms[0, t]), "last_w": float(norms[-1, t]),
                            "ratio_w": ratio(float(norms[0, t]), float(norms[-1, t])),
                            "diverged at": diverged})

    verdicts = gradient_depth_verdicts(records)
    limits = float32_limits(records)
    _save_gradient_figures(ctx, config, records, profiles, heat, losses)

    def per_depth(setup, key="ratio_w"):
        act, init = setup
        parts = []
        for depth in config.depths:
            v = [r[key] for r in records if r.get("part") == "init" and (r["activation"], r["init"]) == setup
                 and r["depth"] == depth]
            parts.append(f"L = {depth}: {_range(min(v), max(v)) if len(v) > 1 else _g(v[0])}")
        return "; ".join(parts)

    def he_vs_large():
        out = []
        for depth in (config.depths[0], config.depths[-1]):
            big = [r["first_w"] for r in records if r.get("part") == "init" and (r["activation"], r["init"]) ==
                   RELU_LARGE and r["depth"] == depth]
            he = [r["first_w"] for r in records if r.get("part") == "init" and (r["activation"], r["init"]) ==
                  RELU_HE and r["depth"] == depth]
            if big and he:
                out.append(f"L = {depth}: ‖∂L/∂W₁‖ {_g(float(np.median(big)))} with randn vs "
                           f"{_g(float(np.median(he)))} "
                           "with He (medians)")
        return "; ".join(out)

    cond = (f"784-{config.width}×(L−1)-10 MLPs, L ∈ {{{', '.join(map(str, config.depths))}}} Linear layers, biases 0; "
            f"one mini-batch of {config.n_batch} standardised Fashion-MNIST images, mean cross-entropy, one backward "
            f"pass in float64; GradientStats on the Linear layers; ratio = ‖∂L/∂W₁‖ / ‖∂L/∂W_L‖ (input layer over "
            f"output layer); {config.seeds} weight draws per depth")
    train_cond = (f"depth L = {config.train_depth}, width {config.width}, float32, SGD η = {config.lr:g} momentum "
                  f"{config.momentum:g}, batch {config.batch_size}, {config.iterations} iterations on {config.n_train} "
                  f"standardised Fashion-MNIST images; gradients sampled every {config.every} steps")
    claims = []
    h, lo, hi = verdicts["32a"]
    claims.append(Claim(
        "32a", f"sigmoid with W = 0.01·randn: the gradient vanishes towards the input — the first layer's ‖∂L/∂W‖ "
               f"is at least {VANISH:g}× (two decades) below the last layer's, at every depth",
        h, f"first/last: {per_depth(VANISHING)} (range over seeds; threshold ≤ {1 / VANISH:g}); predicted "
           f"≈ 0.02^(L−1) from σ′(0)·0.01·√{config.width}", cond, "ratio_vs_depth"))
    h, lo, hi = verdicts["32b"]
    claims.append(Claim(
        "32b", f"the other side: tanh with Xavier init (randn/√fan_in) keeps the gradients in scale — first/last "
               f"within {WITHIN:g}× either way at every depth",
        h, f"first/last: {per_depth(TANH_XAVIER)} (threshold {1 / WITHIN:g} … {WITHIN:g})", cond, "ratio_vs_depth"))
    h, lo, hi = verdicts["32c"]
    claims.append(Claim(
        "32c", f"ReLU with He init (randn/√(fan_in/2)) keeps the gradients in scale — first/last within {WITHIN:g}× "
               "either way at every depth",
        h, f"first/last: {per_depth(RELU_HE)} (threshold {1 / WITHIN:g} … {WITHIN:g})", cond, "ratio_vs_depth"))
    h, lo, hi = verdicts["32d"]
    claims.append(Claim(
        "32d", f"ReLU with a large init (W = randn, σ = {config.large_std:g}): the weight gradient "
               f"explodes towards the input — the first layer's ‖∂L/∂W‖ at least {EXPLODE:g}× the last's at every "
               "depth (predicted not to hold: forward and backward signals grow together, so every layer's weight "
               "gradient grows by the same factor)",
        h, f"first/last: {per_depth(RELU_LARGE)} (threshold ≥ {EXPLODE:g}); in absolute size {he_vs_large()}",
        cond, "ratio_vs_depth"))
    h, lo, hi = verdicts["32e"]
    claims.append(Claim(
        "32e", f"ReLU with W = randn: the chain of derivatives (the backward signal δ_l = ∂L/∂a_l, read as the bias "
               f"gradient ∂L/∂b_l = Σ_n δ_l) \"magnifies down the layers\" — the first layer's ‖∂L/∂b‖ at least "
               f"{EXPLODE:g}× the last's at every depth",
        h, f"‖∂L/∂b₁‖ / ‖∂L/∂b_L‖: {per_depth(RELU_LARGE, 'ratio_b')} (threshold ≥ {EXPLODE:g}); He: "
           f"{per_depth(RELU_HE, 'ratio_b')}", cond, "ratio_vs_depth"))
    h, lo, hi = verdicts["32f"]
    claims.append(Claim(
        "32f", f"during training, sigmoid with W = 0.01·randn keeps its first layer's gradient at least {VANISH:g}× "
               "below the last's (at every sampled step)",
        h, f"first/last over the sampled steps: {_range(lo, hi)} (threshold ≤ {1 / VANISH:g})"
           + (" (0: the first layer's float32 gradient underflowed to exactly 0)" if lo == 0 else "")
           + _div_text(heat, VANISHING), train_cond, "gradient_heatmap"))
    h, lo, hi = verdicts["32g"]
    claims.append(Claim(
        "32g", f"during training, ReLU with He init keeps first/last within {WITHIN:g}× either way (at every sampled "
               "step)",
        h, f"first/last over the sampled steps: {_range(lo, hi)} (threshold {1 / WITHIN:g} … {WITHIN:g})"
           + _div_text(heat, RELU_HE), train_cond, "gradient_heatmap"))
    deepest = max(config.depths)
    claims.append(Claim(
        "32h", "\"if it is vanishing, there might not be enough precision\": in float32 the first layer's gradient of "
               f"sigmoid + 0.01·randn is exactly 0 (underflow) at the deepest depth, L = {deepest}",
        deepest in limits["underflow"],
        "float32 first-layer gradient exactly 0 at depths: " + (", ".join(map(str, limits["underflow"])) or "none")
        + "; ‖∂L/∂W₁‖ in float64 at L = " + f"{deepest}: " + _g(float(np.median(
            [r["first_w"] for r in records if r.get("part") == "init" and (r["activation"], r["init"]) == VANISHING
             and r["depth"] == deepest] or [math.nan]))),
        cond + "; the same weights in float32", "ratio_vs_depth"))
    claims.append(Claim(
        "32i", "\"this might lead to overflow if the gradient explodes\": in float32, ReLU + W = randn gives a "
               f"non-finite loss or gradient at the deepest depth, L = {deepest}",
        deepest in limits["overflow"],
        "float32 non-finite at depths: " + (", ".join(map(str, limits["overflow"])) or "none")
        + f"; ‖∂L/∂W₁‖ in float64 at L = {deepest}: " + _g(float(np.median(
            [r["first_w"] for r in records if r.get("part") == "init" and (r["activation"], r["init"]) == RELU_LARGE
             and r["depth"] == deepest] or [math.nan]))),
        cond + "; the same weights in float32", "ratio_vs_depth"))
    notes = [
        "Ratio = input layer's ‖∂L/∂W‖ over the output layer's. The first layer's weight matrix is 784 × width "
        "and sees standardised pixels, the output layer's is 10 × width and sees the last hidden layer: even a "
        "perfectly balanced net has a ratio of a few, which the one-decade band allows.",
        "Positive homogeneity (ReLU, zero biases): W → cW multiplies h_l by c^l and δ_l by c^(L−l), so ∂L/∂W_l = "
        "Σ δ_l h_{l−1}ᵀ by c^(L−1) for every l — the weight gradients explode or vanish together and their ratio "
        "does not move, while the backward signal δ (the bias gradient) does. With sigmoid the forward signal is "
        "pinned near 0.5, so the ratio of weight gradients carries the whole vanishing factor.",
        "Xavier with sigmoid also vanishes (σ′ ≤ 1/4 per layer); it is in the records and the figure, not a claim.",
    ]
    tanh_small = ("tanh", "small")
    if _init_ratios(records, tanh_small):
        w, b = _init_ratios(records, tanh_small), _init_ratios(records, tanh_small, "ratio_b")
        notes.append(
            "tanh with W = 0.01·randn (the notes' \"activations close to 0, so the gradients are close to 0\"): "
            f"the weight-gradient ratio first/last is {_range(min(w), max(w))} — tanh is nearly linear there, so "
            f"the net is nearly homogeneous and every layer's gradient is small together — while the backward "
            f"signal's ratio (bias gradients) is {_range(min(b), max(b))}.")
    return Result(claims=claims, records=records, notes=notes)


def _div_text(heat, setup) -> str:
    if setup not in heat or heat[setup][2] is None:
        return ""
    return f"; the run diverged at step {heat[setup][2]}"


def _save_gradient_figures(ctx, config, records, profiles, heat, losses):
    fig, axes = figures.new_figure(1, 2, panel=(3.6, 2.7), margins={"right": 1.9})
    for k, (key, title) in enumerate((("ratio_w", "‖∂L/∂W₁‖ / ‖∂L/∂W_L‖"), ("ratio_b", "‖∂L/∂b₁‖ / ‖∂L/∂b_L‖"))):
        ax = axes[0, k]
        for i, setup in enumerate(config.setups):
            med, lo, hi = [], [], []
            for depth in config.depths:
                v = np.array([r[key] for r in records if r.get("part") == "init" and (r["activation"], r["init"])
                              == setup and r["depth"] == depth], dtype=np.float64)
                v = v[np.isfinite(v) & (v > 0)]
                med.append(np.median(v) if v.size else np.nan)
                lo.append(v.min() if v.size else np.nan)
                hi.append(v.max() if v.size else np.nan)
            med, lo, hi = map(np.asarray, (med, lo, hi))
            ax.errorbar(config.depths, med, yerr=[med - lo, hi - med], marker="o", markersize=3, capsize=2,
                        color=figures.COLORS[i % len(figures.COLORS)], label=_setup(*setup), linewidth=1.2)
        for level, style in ((1 / VANISH, ":"), (1 / WITHIN, "--"), (WITHIN, "--"), (EXPLODE, ":")):
            ax.axhline(level, color="#999999", linestyle=style, linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xlabel("depth L (Linear layers)")
        ax.set_title(title + " at init (float64)")
    axes[0, 1].legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    ctx.savefig(fig, "ratio_vs_depth",
                caption="First layer over last layer, at initialisation, per depth: median over the weight draws, bars "
                        f"min–max. Dashed: the ±{WITHIN:g}× band (\"in scale\"); dotted: {1 / VANISH:g} (vanishing) "
                        "and "
                        f"{EXPLODE:g} (exploding). Left: weight gradients; right: bias gradients (the backward signal "
                        "δ summed over the batch).")

    depth = sorted(config.depths)[len(config.depths) // 2]
    prof = {_setup(a, i): profiles[a, i, d] for (a, i, d) in profiles if d == depth}
    ctx.savefig(figures.layer_profile(prof, ylabel="‖∂L/∂W_l‖ at init", logy=True,
                                      title=f"Per-layer weight-gradient norm, L = {depth}, seed 0"),
                "layer_profile",
                caption=f"‖∂L/∂W_l‖ per Linear layer (1 = input layer) at initialisation, depth {depth}, seed 0.")

    n = len(heat)
    fig, axes = figures.new_figure(1, n, panel=(2.3, 2.6), margins={"wspace": 0.9, "right": 0.7})
    for ax, ((act, init), (steps, norms, div)) in zip(axes[0], heat.items()):
        im = _heat_panel(ax, steps, norms, config.every)
        fig.colorbar(im, ax=ax, fraction=0.08, pad=0.03)
        ax.set_title(_setup(act, init) + (f"\n(diverged at step {div})" if div is not None else ""), fontsize=8)
    axes[0, 0].set_ylabel("layer (1 = input)")
    ctx.savefig(fig, "gradient_heatmap",
                caption=f"log10 ‖∂L/∂W_l‖ per layer (rows, 1 = input) and sampled training step (columns), depth "
                        f"{config.train_depth}, float32, seed {ctx.seed}; each panel has its own colour scale. Grey: "
                        "exactly 0 (the float32 gradient underflowed); red: not finite (overflow).")
    ctx.savefig(figures.loss_curves({_setup(a, i): v for (a, i), v in losses.items()}, smooth=10,
                                    title=f"depth {config.train_depth}, training"),
                "training_loss",
                caption="Mini-batch loss of the runs in the heat maps (running mean over 10; raw faint).")


# ===================================================================================================================
# 33: deep_plain
# ===================================================================================================================
@dataclass
class DeepPlainConfig:
    """Plain ReLU MLPs 784-``width``×(depth−1)-10 for each of ``depths``, init ``inits`` (names of INITS),
    ``seeds`` seeds, SGD η = ``lr`` momentum ``momentum`` (He et al. 2015: momentum 0.9, η 0.01 to start a
    deep net), batch ``batch_size``, ``iterations`` steps on ``n_train`` standardised Fashion-MNIST images; the
    verdict compares the mean loss of the last ``tail`` iterations."""

    width: int = 64
    depths: tuple[int, ...] = (8, 22, 30)
    inits: tuple[str, ...] = ("xavier", "he")
    seeds: int = 3
    iterations: int = 500
    tail: int = 50
    n_train: int = 5000
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    report_at: tuple[int, ...] = (50, 100, 250)
    QUICK: ClassVar[dict] = {"depths": (8, 22), "seeds": 2, "iterations": 80, "tail": 20, "n_train": 1000,
                             "report_at": (20, 50)}


@experiment("deep_plain", order=33, topic="depth and gradients",
            summary="plain ReLU MLPs of depth 8, 22 and 30 with Xavier and He init: the deeper net ends at a higher "
                    "training loss; plateaus and divergence marked (issue 13, point 2)")
def run_deep_plain(config: DeepPlainConfig, ctx: Context) -> Result:
    if not 1 <= config.tail <= config.iterations:
        raise ValueError(f"deep_plain: tail must be in 1..iterations ({config.iterations}), got {config.tail}")
    for init in config.inits:
        if init not in INITS:
            raise ValueError(f"deep_plain: unknown init {init!r} (known: {', '.join(INITS)})")
    depths = sorted(config.depths)
    (x, y), _ = fashion(config.n_train, 1, standardize=True, rng=ctx.rng_for("data"))

    def fit(item):  # one (init, depth, seed) run: its record and its loss curve
        init, depth, s = item
        model = plain_net(depth, config.width, "relu", INITS[init], ctx.rng_for("w", init, depth, s))
        opt = optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
        with np.errstate(over="ignore", invalid="ignore"):
            out = fit_iterations(ctx, model, opt, x, y, config.iterations, config.batch_size,
                                 label=f"{init}/L{depth}/seed {s}", seed=ctx.seed + s)
        v = out["losses"]
        length, start = plateau_stretch(v)
        rec = {"part": "train", "init": init, "depth": depth, "seed": s, "tail": tail_mean(v, config.tail),
               "first": _first_mean(v), "status": run_status(v, out["diverged"]),
               "plateau length": length, "plateau from": start, "diverged at": out["diverged"]}
        for t in config.report_at:
            rec[f"loss at {t}"] = float(running_mean(v, PLATEAU_WINDOW)[t]) if t < len(v) else math.nan
        return rec, v

    items = [(init, depth, s) for init in config.inits for depth in depths for s in range(config.seeds)]
    runs = ctx.map(fit, items, label="runs")
    records: list[dict] = [rec for rec, _ in runs]
    curves: dict[str, dict[str, list]] = {init: {} for init in config.inits}
    for (init, depth, s), (_, v) in zip(items, runs):
        if s == 0:
            curves[init][f"L = {depth}"] = v

    claims = []
    k = 0
    for init in config.inits:
        for shallow, deep in zip(depths[:-1], depths[1:]):
            holds, lead = check_deeper_worse(records, init, deep, shallow)
            rs = {d: [r for r in records if r["init"] == init and r["depth"] == d] for d in (shallow, deep)}
            measured = "; ".join(
                f"L = {d}: tail loss {format_mean_se([r['tail'] for r in rs[d]])} (status: "
                + ", ".join(r["status"] + (f" {r['plateau length']} it." if r["status"].startswith("plateau") else "")
                            for r in rs[d]) + ")" for d in (shallow, deep))
            if lead is not None:
                measured += f"; shallow ahead by {format_lead(lead)} (beyond noise: > {NOISE_SE:g} SE)"
            if any(r["status"] == "diverged" for d in rs for r in rs[d]):
                measured += "; a diverged run is no evidence either way"
            claims.append(Claim(
                f"33{chr(ord('a') + k)}",
                f"{LABELS[init]}: the deeper plain net ({deep} layers) ends at a higher training loss than the "
                f"shallower one ({shallow} layers) at the same budget, beyond the noise",
                holds, measured,
                f"plain ReLU MLPs 784-{config.width}×(L−1)-10, init {LABELS[init]}, biases 0; SGD η = {config.lr:g} "
                f"momentum {config.momentum:g}, batch {config.batch_size}, {config.iterations} iterations on "
                f"{config.n_train} standardised Fashion-MNIST images; tail = mean loss of the last {config.tail} "
                f"iterations; {config.seeds} seeds (paired: same data order per seed); plateau = running mean of "
                f"{PLATEAU_WINDOW} within ±{PLATEAU_BAND:g} of ln 10 for ≥ {PLATEAU_MIN} iterations",
                f"loss_{init}"))
            k += 1

    for init in config.inits:
        fig = figures.loss_curves(curves[init], smooth=10, title=f"plain ReLU, {LABELS[init]} (seed 0)")
        ax = fig.axes[0]
        ax.axhspan(LN10 - PLATEAU_BAND, LN10 + PLATEAU_BAND, color="#999999", alpha=0.2, linewidth=0)
        ctx.savefig(fig, f"loss_{init}",
                    caption=f"{LABELS[init]}: mini-batch loss per iteration (running mean over 10; raw faint), seed 0, "
                            f"one curve per depth. Grey band: ln 10 ± {PLATEAU_BAND:g} (the plateau band).")
    ctx.savefig(_tail_figure(records, config, depths), "tail_vs_depth",
                caption=f"Mean loss of the last {config.tail} iterations per depth: mean over seeds ± SE; dots: seeds.")
    notes = [
        "He et al. (2015, Fig. 1 and 4) find that a deeper plain net (with batch norm) has the higher *training* "
        "error — the degradation problem — and argue that it is not vanishing gradients; here there is no batch "
        "norm, so with Xavier init the deep nets' signals shrink by 1/√2 per ReLU layer and they sit at ln 10.",
        "A plateau is a result, not a failure: its length is in the records (plateau length, plateau from).",
    ]
    return Result(claims=claims, records=records, notes=notes)


def _tail_figure(records, config, depths):
    fig, axes = figures.new_figure(1, 1, panel=(3.8, 2.6))
    ax = axes[0, 0]
    for i, init in enumerate(config.inits):
        ms, ses = [], []
        for d in depths:
            v = [r["tail"] for r in records if r["init"] == init and r["depth"] == d]
            ax.scatter([d] * len(v), v, s=8, color=figures.COLORS[i], alpha=0.5)
            m = float(np.mean(v)) if v else math.nan
            se = float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0
            ms.append(m)
            ses.append(se)
        ax.errorbar(depths, ms, yerr=ses, marker="o", capsize=3, color=figures.COLORS[i], label=LABELS[init])
    ax.axhline(LN10, color="#999999", linestyle="--", linewidth=0.8)
    ax.set_xlabel("depth (Linear layers)")
    ax.set_ylabel(f"tail loss (last {config.tail} it.)")
    ax.legend(frameon=False, fontsize=7)
    return fig


# ===================================================================================================================
# 34: skip_connections
# ===================================================================================================================
@dataclass
class SkipConfig:
    """The plain ReLU MLP 784-``width``×(depth−1)-10 (init ``init``) and its residual version (the same
    weights, pre-activation blocks) for each of ``depths`` (even), ``seeds`` seeds; plain nets with init
    ``other_init`` at ``other_depths`` as the other side. SGD η = ``lr`` momentum ``momentum``, batch
    ``batch_size``, ``iterations`` steps on ``n_train`` standardised Fashion-MNIST images; tail = the mean loss of
    the last ``tail`` iterations; gradients sampled every ``every`` steps."""

    width: int = 64
    depths: tuple[int, ...] = (10, 30, 50)
    init: str = "xavier"
    other_init: str = "he"
    other_depths: tuple[int, ...] = (50,)
    seeds: int = 3
    iterations: int = 300
    tail: int = 50
    every: int = 20
    n_train: int = 5000
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    QUICK: ClassVar[dict] = {"depths": (10, 30), "other_depths": (30,), "seeds": 2, "iterations": 60, "tail": 20,
                             "every": 10, "n_train": 1000}


@experiment("skip_connections", order=34, topic="depth and gradients",
            summary="the same plain ReLU MLP and its residual version (identity shortcuts every 2 layers) at depth "
                    "10–50: the residual net trains where the plain one stalls; its gradients stay in scale "
                    "(issue 13, point 3)")
def run_skip(config: SkipConfig, ctx: Context) -> Result:
    if not 1 <= config.tail <= config.iterations:
        raise ValueError(f"skip_connections: tail must be in 1..iterations ({config.iterations}), got {config.tail}")
    for d in (*config.depths, *config.other_depths):
        if d < 2 or d % 2:
            raise ValueError(f"skip_connections: depths must be even and ≥ 2 (blocks of two layers), got {d}")
    for init in (config.init, config.other_init):
        if init not in INITS:
            raise ValueError(f"skip_connections: unknown init {init!r} (known: {', '.join(INITS)})")
    depths = sorted(config.depths)
    (x, y), _ = fashion(config.n_train, 1, standardize=True, rng=ctx.rng_for("data"))
    plan = [(net, d, config.init) for d in depths for net in ("plain", "residual")]
    plan += [("plain", d, config.other_init) for d in sorted(config.other_depths)]

    def fit(item):  # one (net, depth, init, seed) run: its record, loss curve and gradient history
        net, depth, init, s = item
        model = plain_net(depth, config.width, "relu", INITS[init], ctx.rng_for("w", init, depth, s))
        if net == "residual":
            model = residual_version(model)
        probe = GradientStats(layers=_is_linear, every=config.every)
        opt = optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
        with np.errstate(over="ignore", invalid="ignore"):
            out = fit_iterations(ctx, model, opt, x, y, config.iterations, config.batch_size,
                                 label=f"{net}/{init}/L{depth}/seed {s}", callbacks=[probe], seed=ctx.seed + s)
        v = out["losses"]
        steps, norms = grad_history(probe)
        ratios = [ratio(float(norms[0, t]), float(norms[-1, t])) for t in range(len(steps))]
        finite = [r for r in ratios if math.isfinite(r)]
        rec = {"part": "train", "net": net, "init": init, "depth": depth, "seed": s, "first": _first_mean(v),
               "tail": tail_mean(v, config.tail), "status": run_status(v, out["diverged"]),
               "diverged at": out["diverged"], "first_w_init": float(norms[0, 0]), "last_w_init": float(norms[-1, 0]),
               "ratio_init": ratios[0],
               "ratio_median": float(np.median(finite)) if len(finite) == len(ratios) else math.nan,
               "median first_w": float(np.median(norms[0])), "median last_w": float(np.median(norms[-1]))}
        return rec, v, (steps, norms, out["diverged"])

    items = [(net, depth, init, s) for net, depth, init in plan for s in range(config.seeds)]
    runs = ctx.map(fit, items, label="runs")
    records: list[dict] = [rec for rec, _, _ in runs]
    curves: dict[int, dict[str, list]] = {}
    heat: dict[tuple, tuple] = {}
    for (net, depth, init, s), (_, v, h) in zip(items, runs):
        if s == 0:
            curves.setdefault(depth, {})[f"{net}, {LABELS[init].split(' ')[0]}"] = v
            heat[net, depth, init] = h

    claims = []
    cond = (f"plain ReLU MLP 784-{config.width}×(L−1)-10 ({LABELS[config.init]}, biases 0) and its residual version "
            f"(the same weights; Linear, then (L−2)/2 × Residual(ReLU, Linear, ReLU, Linear), ReLU, Linear); SGD η = "
            f"{config.lr:g} momentum {config.momentum:g}, batch {config.batch_size}, {config.iterations} iterations on "
            f"{config.n_train} standardised Fashion-MNIST images; {config.seeds} seeds (paired); tail = mean of the "
            f"last {config.tail} iterations; stalls = |tail − mean of the first {PLATEAU_WINDOW}| ≤ {STALL_BAND:g}; "
            "trains = "
            f"tail ≤ ln 10 / 2 = {TRAINS_LEVEL:.3f}")

    def describe(net, depth, init):
        rs = [r for r in records if r["net"] == net and r["depth"] == depth and r["init"] == init]
        return (f"{net}: first {format_mean_se([r['first'] for r in rs])} → tail "
                f"{format_mean_se([r['tail'] for r in rs])}"
                f" ({', '.join(r['status'] for r in rs)})")

    # ids by role: 34a the deepest, 34b the depths between (34b, 34b2, ...), 34c the shallowest, 34d the
    # gradients, 34e the other init (34e, 34e2, ...)
    deep = sorted((d for d in depths if d > depths[0]), reverse=True)
    deep_ids = ["34a"] + [f"34b{'' if i == 0 else i + 1}" for i in range(len(deep) - 1)]
    for cid, depth in zip(deep_ids, deep):
        holds, det = check_residual_trains(records, depth, config.init)
        lead = det["lead"]
        claims.append(Claim(
            cid,
            f"depth {depth}: the residual net trains where the plain one stalls (verdict, every seed: plain stalls, "
            f"residual trains, and residual's tail loss is below plain's beyond the noise)",
            holds,
            f"{describe('plain', depth, config.init)}; {describe('residual', depth, config.init)}; plain stalls: "
            f"{'yes' if det['plain stalls'] else 'no'}, residual trains: {'yes' if det['residual trains'] else 'no'}"
            + (f"; residual ahead by {format_lead(lead)}" if lead else ""),
            cond + f"; depth {depth}", f"loss_L{depth}"))
    d0 = depths[0]
    claims.append(Claim(
        "34c",
        f"the other side: at small depth ({d0}) the plain net trains too (tail ≤ {TRAINS_LEVEL:.2f} in every seed)",
        check_plain_trains(records, d0, config.init),
        f"{describe('plain', d0, config.init)}; {describe('residual', d0, config.init)}", cond + f"; depth {d0}",
        f"loss_L{d0}"))
    gh, glo, ghi = check_residual_grads(records, WITHIN, config.init)
    plain_r = [r[k] for r in records if r["net"] == "plain" and r["init"] == config.init
               for k in ("ratio_init", "ratio_median")]
    def median_first(net, d):
        return _g(float(np.median([r["median first_w"] for r in records if r["net"] == net and r["depth"] == d
                                   and r["init"] == config.init])))

    abs_txt = "; ".join(f"L = {d}: median ‖∂L/∂W₁‖ residual {median_first('residual', d)} vs plain "
                        f"{median_first('plain', d)}" for d in depths)
    claims.append(Claim(
        "34d",
        f"the residual net's first layer gets a gradient within {WITHIN:g}× of its last layer's (‖∂L/∂W₁‖ / ‖∂L/∂W_L‖ "
        "at initialisation and its median over training, every depth and seed)",
        gh, f"residual first/last: {_range(glo, ghi)} (threshold {1 / WITHIN:g} … {WITHIN:g}); plain: "
            + (_range(min(plain_r), max(plain_r)) if plain_r and all(map(math.isfinite, plain_r)) else "n/a")
            + f"; in absolute size {abs_txt}",
        cond + f"; GradientStats every {config.every} steps", "gradient_heatmap"))
    for i, d in enumerate(sorted(config.other_depths)):
        claims.append(Claim(
            f"34e{'' if i == 0 else i + 1}",
            f"the other side: with {LABELS[config.other_init]} the plain net of depth {d} stalls as well",
            check_plain_stalls(records, d, config.other_init),
            describe("plain", d, config.other_init), cond.replace(LABELS[config.init], LABELS[config.other_init], 1)
            + f"; depth {d}", f"loss_L{d}"))

    for depth, cs in curves.items():
        fig = figures.loss_curves(cs, smooth=10, title=f"depth {depth} (seed 0)")
        fig.axes[0].axhline(TRAINS_LEVEL, color="#999999", linestyle=":", linewidth=0.8)
        ctx.savefig(fig, f"loss_L{depth}",
                    caption=f"Depth {depth}, seed 0: mini-batch loss of the plain net and of its residual version "
                            f"(running mean over 10; raw faint). Dotted: the 'trains' level ln 10 / 2.")
    ctx.savefig(_skip_heatmap(heat, config), "gradient_heatmap",
                caption="log10 ‖∂L/∂W_l‖ per Linear layer (rows, 1 = input) and sampled step (columns), seed 0; one "
                        "colour scale for all panels (grey: exactly 0; red: not finite).")
    notes = [
        "The residual version shares the plain net's Linear modules and weights: the only difference is the "
        "identity shortcut around every (ReLU, Linear, ReLU, Linear) block — He et al. (2016)'s pre-activation "
        "form, so that an identity path runs from the first Linear layer to the last.",
        "With Xavier init (Var w = 1/fan_in) a plain ReLU net halves the second moment of its signals at every layer "
        "(2^(−L/2) in scale): the weight gradients of every layer are tiny together; with the shortcuts each block "
        "adds to its input instead of replacing it.",
        "The residual net's signal grows instead: each block adds a branch of about a quarter of its input's second "
        "moment (two ReLU–Linear pairs at Var w = 1/fan_in), (5/4)^((L−2)/2) over the stack (≈ 15× in scale at "
        "L = 50), which is why its initial loss is above ln 10 at the largest depth. No rescaling of the branches "
        "(Fixup, zero-init) is used: the two nets share their weights.",
    ]
    return Result(claims=claims, records=records, notes=notes)


def _heat_panel(ax, steps, norms, every, vmin=None, vmax=None):
    """log10 of a (layer × step) array of gradient norms; exact zeros grey, non-finite values red."""
    norms = np.asarray(norms, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log10(norms)
    zero, bad = norms == 0, ~np.isfinite(norms)
    shown = np.ma.masked_array(z, mask=zero | bad)
    half = max(every, 1) / 2
    extent = (steps[0] - half, steps[-1] + half, 0.5, norms.shape[0] + 0.5)
    im = ax.imshow(shown, aspect="auto", origin="lower", interpolation="nearest", cmap="viridis", vmin=vmin,
                   vmax=vmax, extent=extent)
    for mask, color in ((zero, "#BBBBBB"), (bad, "#D55E00")):
        if mask.any():
            ax.imshow(np.ma.masked_array(np.ones_like(z), mask=~mask), aspect="auto", origin="lower",
                      interpolation="nearest", cmap=_solid(color), extent=extent)
    ax.set_xlabel("step")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(False)
    return im


def _solid(color):
    from matplotlib.colors import ListedColormap

    return ListedColormap([color])


def _skip_heatmap(heat, config):
    keys = list(heat)
    ncols = len(keys)
    fig, axes = figures.new_figure(1, ncols, panel=(2.0, 2.6), margins={"wspace": 0.5, "right": 1.0})
    zs = {}
    for k in keys:
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.log10(heat[k][1])
        zs[k] = np.where(np.isfinite(z), z, np.nan)
    finite = np.concatenate([z[np.isfinite(z)] for z in zs.values()] or [np.zeros(1)])
    vmin, vmax = (float(np.min(finite)), float(np.max(finite))) if finite.size else (0.0, 1.0)
    im = None
    for ax, k in zip(axes[0], keys):
        steps, norms, div = heat[k]
        im = _heat_panel(ax, steps, norms, config.every, vmin, vmax)
        net, depth, init = k
        ax.set_title(f"{net} L = {depth}\n{SHORT.get(init, init)}"
                     + (f", diverged at {div}" if div is not None else ""), fontsize=8)
    axes[0, 0].set_ylabel("Linear layer (1 = input)")
    if im is not None:
        fig.colorbar(im, ax=list(axes[0]), fraction=0.02, pad=0.02, label="log10 ‖∂L/∂W‖")
    return fig
