"""Seed 001, module 7.5: batch normalisation, and layer normalisation at batch size 1 (claims 11 and 12
of issue [lab]).

Claim 11 — the notes compare "with and without batch normalization on MNIST data using 7 layers"
of sigmoid units with ``w = 0.1*np.random.randn()``, plotting h1, h4 and h7 over training (after
Ioffe & Szegedy's figure 1, which shows the 15th/50th/85th percentiles of a sigmoid's *input*): with
BN (Linear → BN → σ) the loss falls much faster and the distributions stay stable; without BN they
drift; and batch normalisation "allows us to be less careful about initialization". Measured here on
Fashion-MNIST:

- 11a "much faster" by the lab's one definition (:func:`layerlab.lab.stats.much_faster`): BN reaches the
  plain network's final loss in at most half the iterations the plain network needs;
- 11b/11c the percentiles of the sigmoids' inputs (I & S's quantity: the BN output γ·x̂ + β, or W·h + b)
  on a fixed batch of training images over training, with those of h = σ(·) (what the notes plot)
  beside them;
- 11d/11e the final loss from three initial scales W = c·randn with and without BN, over seeds:
  "less sensitive" = a smaller spread of the final loss over the scales; "no scale fails" = a lower
  worst final loss over the scales.

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
from typing import ClassVar, Mapping

import numpy as np

import layerlab as ll

from layerlab import nn, optim
from layerlab.probes import ActivationStats
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab import stats
from layerlab.lab.stats import MUCH_FASTER, NOISE_SE, much_faster, paired_lead, running_mean, tail_mean
from layerlab.lab.training import Periodic, Reloadable, fashion, fit_iterations

__all__ = [
    "BatchNormConfig", "BatchOneConfig", "norm_mlp", "percentile_drift", "batch_statistics_xhat",
    "faster_holds", "faster_verdict", "stable_verdict", "drift_verdict", "scale_sensitivity",
    "STABLE_DRIFT", "SIGMOID_MAX_SLOPE", "INPUT_DRIFT", "LN_FALL", "BN_EPS",
]

# -- the verdicts' thresholds (stated in the claims' text) -------------------------------------------------
#: a distribution of h = σ(·) "stays stable" when none of its 15th/50th/85th percentiles moves by 0.1 or more (a
#: tenth of the sigmoid's output range) from its value at the first measurement — shown beside the verdict
STABLE_DRIFT = 0.1
#: max σ′ = σ′(0) = 1/4
SIGMOID_MAX_SLOPE = 0.25
#: the verdict's threshold on the sigmoid's *input* (I & S's quantity): σ is increasing, so the q-th percentile of
#: σ(x) is σ of the q-th percentile of x, and |σ(a) − σ(b)| ≤ |a − b|/4. A move of the input's percentile below
#: STABLE_DRIFT / SIGMOID_MAX_SLOPE = 0.4 cannot move the output's by a tenth of its range: 0.4 is the smallest input
#: move that can matter at the output, in a network that is not saturated
INPUT_DRIFT = STABLE_DRIFT / SIGMOID_MAX_SLOPE
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


class _FixedBatchPercentiles(Periodic):
    """15th/50th/85th percentiles of the watched activations (``"post"``) and of their inputs (``"pre"``) on a
    fixed batch, at the start and every ``every`` steps, measured with :class:`ActivationStats` by hand.

    The pass runs in training mode, so batch norm standardises with the fixed batch's own statistics exactly
    as in training; its running statistics are restored afterwards (the probe pass is not a training batch).
    A fixed batch, rather than the changing training batches, makes the curves show what training changed
    and not which images a batch happened to hold."""

    def __init__(self, x: np.ndarray, watch: dict[str, str], every: int):
        super().__init__(every, at_end=False)
        self.x, self.watch = x, watch
        self.values: dict = {kind: {h: {q: [] for q in _QS} for h in watch.values()} for kind in ("post", "pre")}

    def measure(self, trainer) -> None:
        model = trainer.model
        buffers = {k: np.array(v, copy=True) for k, v in model.state_dict().items() if "running" in k
                   or "num_batches" in k}
        probe = ActivationStats(model, layers=lambda name, m: name in self.watch, bins=0)
        with ll.no_grad(), probe:
            model(ll.Tensor(self.x))
        if buffers:
            model.load_state_dict({**model.state_dict(), **buffers})
        summary = probe.summary()
        for name, h in self.watch.items():
            for kind in ("post", "pre"):
                for q in _QS:
                    self.values[kind][h][q].append(summary[name][f"{kind}/{q}"])

    def bands(self, kind: str) -> dict:
        return {h: {"steps": np.asarray(self.steps), **{q: np.asarray(v[q]) for q in _QS}}
                for h, v in self.values[kind].items()}


class _HeldOut(Periodic):
    """The loss on fixed held-out examples at the start, every ``every`` steps and at the end."""

    def __init__(self, x: np.ndarray, y: np.ndarray, every: int):
        super().__init__(every)
        self.x, self.y = x, y
        self.values: list[float] = []

    def measure(self, trainer) -> None:
        self.values.append(_loss(trainer.model, self.x, self.y))


# -- claim 11 -------------------------------------------------------------------------------------------------------
@dataclass
class BatchNormConfig:
    """784-depth×width-10 sigmoid, W = w_std·randn, biases 0, plain SGD, with and without BN, at each η (11a–c);
    the same at each initial scale of ``scales`` and η = ``scale_lr``, over ``seeds`` seeds (11d, 11e)."""

    depth: int = 7
    width: int = 100
    w_std: float = 0.1
    lrs: tuple[float, ...] = (0.5, 0.1)
    iterations: int = 300
    batch_size: int = 256
    every: int = 10              # percentiles measured every ``every`` iterations ...
    n_probe: int = 1000          # ... on this many fixed training images
    tail: int = 50               # a run's final loss: the mean of its last ``tail`` iterations
    scales: tuple[float, ...] = (0.01, 0.1, 1.0)   # 11d/11e: the notes' 0.01·randn and randn, and the BN slide's 0.1
    scale_lr: float = 0.1
    seeds: int = 3               # 11d/11e: seeds ctx.seed, ctx.seed + 1, ... (weights and data order)
    QUICK: ClassVar[dict] = {"iterations": 100, "tail": 25, "seeds": 1}


#: the hidden layers the notes plot (1-based)
WATCHED = (1, 4, 7)


def _watched(model: nn.Sequential, depth: int) -> dict[str, str]:
    """{module name: "h1"/"h4"/"h7"} of the activation modules of the watched hidden layers."""
    acts = [name for name, m in model.named_modules() if isinstance(m, nn.Activation)]
    return {acts[k - 1]: f"h{k}" for k in WATCHED if k <= depth}


# -- claim 11: the verdicts (plain functions of the records) ----------------------------------------------------------
def faster_holds(row: Mapping) -> bool:
    """11a at one η, from its row of the "much faster" table (the fields of :func:`~layerlab.lab.stats.much_faster`):
    BN reached the plain network's final loss at all, did not diverge, and in at most 1/``MUCH_FASTER`` of the
    plain network's steps — ratio (steps no BN + 1)/(steps BN + 1), recomputed from the steps."""
    return stats.much_faster_holds(row["steps BN"], row["steps no BN"], row["BN diverged"], row["BN ends above"])


def faster_verdict(rows) -> bool:
    """11a: "much faster" at every η."""
    rows = list(rows)
    return bool(rows) and all(faster_holds(r) for r in rows)


def stable_verdict(rows, network: str = "BN", key: str = "input drift", threshold: float = INPUT_DRIFT) -> bool:
    """11b: every watched layer of every run of ``network`` (at every η) moved each of its 15th/50th/85th percentiles
    by less than ``threshold``, and none of those runs diverged (a diverged run is no evidence for a remedy)."""
    sel = [r for r in rows if r["network"] == network]
    return bool(sel) and all(r["diverged at"] is None and math.isfinite(r[key]) and r[key] < threshold for r in sel)


def drift_verdict(rows, network: str = "no BN", key: str = "input drift", threshold: float = INPUT_DRIFT) -> bool:
    """11c: for every watched layer, some run of ``network`` that did not diverge moved a percentile by ``threshold``
    or more."""
    sel = [r for r in rows if r["network"] == network and r["diverged at"] is None]
    layers = sorted({r["layer"] for r in rows if r["network"] == network})
    return bool(layers) and all(any(r[key] >= threshold for r in sel if r["layer"] == h) for h in layers)


def scale_sensitivity(rows, measure: str = "spread", k: float = NOISE_SE) -> dict:
    """11d (``measure="spread"``: max − min over the initial scales of a run's final loss) and 11e (``"worst"``: the
    largest final loss over the scales), per seed and per network, from the "initial scale" records.

    A diverged run (``diverged at`` set, or a non-finite final loss) makes its network's measure +∞ for that seed:
    it counts as a failure of its arm. ``holds`` (BN less sensitive / its worst scale better): no BN run diverged,
    and — when a plain run diverged, BN is finite in every seed; with one seed, BN's measure is smaller; with
    several, the paired per-seed difference (no BN − BN) exceeds ``k`` standard errors (:func:`paired_lead`)."""
    if measure not in ("spread", "worst"):
        raise ValueError(f"scale_sensitivity: measure must be 'spread' or 'worst', got {measure!r}")
    seeds = sorted({int(r["seed"]) for r in rows})
    per: dict[str, list[float]] = {"BN": [], "no BN": []}
    for s in seeds:
        for arm, out in per.items():
            v = [float(r["final loss"]) if r["diverged at"] is None and r["final loss"] is not None else math.inf
                 for r in rows if int(r["seed"]) == s and r["network"] == arm]
            if not v:
                raise ValueError(f"scale_sensitivity: no {arm!r} runs for seed {s}")
            v = [x if math.isfinite(x) else math.inf for x in v]
            if math.inf in v:
                out.append(math.inf)
            else:
                out.append(max(v) - min(v) if measure == "spread" else max(v))
    bn, plain = per["BN"], per["no BN"]
    d = [p - b for b, p in zip(bn, plain)]
    se = math.nan
    if not seeds or not all(math.isfinite(b) for b in bn):
        holds = False
    elif not all(math.isfinite(p) for p in plain):
        holds = all(x > 0 for x in d)
    elif len(seeds) == 1:
        holds = d[0] > 0
    else:
        lead = paired_lead(bn, plain, k)
        holds, se = lead["beyond"], lead["se"]
    return {"seeds": seeds, "BN": bn, "no BN": plain, "d": d, "diff": float(np.mean(d)) if d else math.nan,
            "se": se, "holds": bool(holds)}


def _fr(values: dict) -> str:
    return ", ".join(f"{h} {v:.3f}" for h, v in values.items())


def _fs(v: float) -> str:
    return "∞ (a run diverged)" if v == math.inf else f"{v:.3f}"


def _train_bn(ctx: Context, config: BatchNormConfig, x, y, *, lr: float, w_std: float, norm: str | None,
              seed_index: int, x_probe=None) -> dict:
    """One run of the 7-layer sigmoid network; with ``x_probe``, the percentiles of h1, h4, h7 (and of their inputs)
    on those fixed images over training. The weights of seed index i come from ``ctx.rng_for("w", i)`` (i = 0: the
    stream of 11a–c), so every scale and both networks of one seed start from the same standard-normal draws."""
    sizes = [784] + [config.width] * config.depth + [10]
    rng = ctx.rng_for("w") if seed_index == 0 else ctx.rng_for("w", seed_index)
    model = norm_mlp(sizes, "sigmoid", w_std, rng, norm=norm)
    label = f"{'BN' if norm else 'no BN'}, η = {lr:g}, W std {w_std:g}" + (f", seed {ctx.seed + seed_index}"
                                                                             if seed_index else "")
    tracker = _FixedBatchPercentiles(x_probe, _watched(model, config.depth), config.every) if x_probe is not None \
        else None
    out = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=lr), x, y, config.iterations, config.batch_size,
                         label=label, callbacks=[tracker] if tracker else [], seed=ctx.seed + seed_index)
    run = {"losses": out["losses"], "diverged": out["diverged"], "tail": tail_mean(out["losses"], config.tail),
           "label": label}
    if tracker is not None:
        run["bands"] = {kind: tracker.bands(kind) for kind in ("post", "pre")}
        run["drift"] = {kind: {h: percentile_drift(b) for h, b in run["bands"][kind].items()}
                        for kind in ("post", "pre")}
    return run


def _scale_figure(rows: list[dict], curves: dict[str, list[float]], scales, tail: int):
    fig, axes = figures.new_figure(1, 2, panel=(4.2, 3.0), title="With and without BN from each initial scale")
    ax_s, ax_c = axes[0]
    arms = (("no BN", figures.COLORS[0]), ("BN", figures.COLORS[1]))
    for arm, color in arms:
        sel = [r for r in rows if r["network"] == arm]
        for s in sorted({r["seed"] for r in sel}):
            pts = [(r["W std"], r["final loss"] if r["diverged at"] is None else math.nan)
                   for r in sel if r["seed"] == s]
            ax_s.plot(*zip(*pts), marker="o", linestyle="none", color=color, alpha=0.45, markersize=4)
        means = [float(np.mean([r["final loss"] for r in sel if r["W std"] == c])) for c in scales]
        ax_s.plot(scales, means, color=color, linewidth=1.5, label=f"{arm} (mean over seeds)")
        for r in sel:
            if r["diverged at"] is not None:
                ax_s.annotate("diverged", (r["W std"], 0.0), color=color, fontsize=7, ha="center")
    ax_s.set_xscale("log")
    ax_s.set_xlabel("initial W std")
    ax_s.set_ylabel(f"final loss (mean of the last {tail} iterations)")
    ax_s.legend(fontsize=7, frameon=False)
    styles = ["-", "--", ":", "-."]
    for (label, v), i in zip(curves.items(), range(len(curves))):
        arm = "no BN" if label.startswith("no BN") else "BN"
        color = dict(arms)[arm]
        ax_c.plot(running_mean(v, 10), color=color, linestyle=styles[(i // 2) % len(styles)], linewidth=1.2,
                  label=label)
    ax_c.set_xlabel("iteration")
    ax_c.set_ylabel("loss (running mean of 10)")
    ax_c.legend(fontsize=6, frameon=False)
    return fig


@experiment("batch_norm", order=11, topic="batch normalisation",
            summary="7 sigmoid layers, W = 0.1·randn: with batch norm the loss falls much faster, the sigmoids' inputs "
                    "stay stable, and the net is less sensitive to the initial scale (claim 11)")
def batch_norm(config: BatchNormConfig, ctx: Context) -> Result:
    """Seed 001, module 7.5: the notes' 7-layer sigmoid network with and without batch normalisation — loss curves,
    the 15th/50th/85th percentiles of the sigmoids' inputs (and of h1, h4, h7) over training, and the final loss
    from three initial scales."""
    if config.seeds < 1 or len(config.scales) < 3:
        raise ValueError(f"batch_norm: need seeds >= 1 and at least 3 scales, got seeds={config.seeds}, "
                         f"scales={config.scales}")
    (x, y), _ = fashion()
    x_probe = x[ctx.rng_for("probe").choice(len(x), config.n_probe, replace=False)]
    train_set = Reloadable((x, y), lambda: fashion()[0])  # a worker loads it itself

    def train(key) -> dict:
        """One run, key = (η, W std, seed index, network, with the percentile probe)."""
        lr, w_std, i, arm, probe = key
        xs, ys = train_set()
        return _train_bn(ctx, config, xs, ys, lr=lr, w_std=w_std, norm="batch" if arm == "BN" else None,
                         seed_index=i, x_probe=x_probe if probe else None)

    # every distinct run once (η, W std, seed index, network): the main runs (probed), then the scale runs
    main_keys = {(lr, arm): (float(lr), float(config.w_std), 0, arm) for lr in config.lrs for arm in ("no BN", "BN")}
    scale_keys = {(i, c, arm): (float(config.scale_lr), float(c), int(i), arm)
                  for i in range(config.seeds) for c in config.scales for arm in ("no BN", "BN")}
    todo = dict.fromkeys([*main_keys.values(), *scale_keys.values()])
    for key in main_keys.values():
        todo[key] = True
    runs = dict(zip(todo, ctx.map(train, [(*key, bool(todo[key])) for key in todo], label="runs")))
    main = {k: runs[key] for k, key in main_keys.items()}
    scale_runs = {k: runs[key] for k, key in scale_keys.items()}

    hs = [f"h{k}" for k in WATCHED if k <= config.depth]
    arch = f"784-{config.depth}×{config.width}-10 sigmoid"
    cond = (f"Fashion-MNIST (inputs in [0, 1]), {arch}, W = {config.w_std:g}·randn, biases 0, cross-entropy, plain "
            f"SGD, batch {config.batch_size}, {config.iterations} iterations, seed {ctx.seed}; BN = Linear → BatchNorm "
            f"→ σ (γ = 1, β = 0 at the start); the same weights with and without BN")

    # records: every number a verdict is computed from
    run_rows = [{"network": arm, "η": lr, "first loss": r["losses"][0], f"mean loss, last {config.tail}": r["tail"],
                 "diverged at": r["diverged"]} for (lr, arm), r in main.items()]
    faster_rows = []
    for lr in config.lrs:
        mf = much_faster(main[(lr, "BN")]["losses"], main[(lr, "no BN")]["losses"], window=config.tail)
        faster_rows.append({"η": lr, "level": mf["level"], "steps BN": mf["steps_fast"],
                            "steps no BN": mf["steps_slow"], "ratio": mf["ratio"], "BN diverged": mf["diverged"],
                            "BN ends above": mf["ends_above"]})
    dist_rows = [{"network": arm, "η": lr, "layer": h, "input drift": r["drift"]["pre"][h],
                  "output drift": r["drift"]["post"][h], "diverged at": r["diverged"]}
                 for (lr, arm), r in main.items() for h in hs]
    scale_rows = [{"seed": ctx.seed + i, "W std": c, "network": arm, "first loss": r["losses"][0],
                   "final loss": r["tail"], "diverged at": r["diverged"]} for (i, c, arm), r in scale_runs.items()]

    # 11a
    c_a = Claim(
        "11a",
        f"With batch norm the loss falls much faster (verdict, the lab's one definition: at each η, BN reaches the "
        f"plain network's final loss — its mean over the last {config.tail} iterations — in at most "
        f"1/{MUCH_FASTER:g} of the iterations the plain network needs, running means of {config.tail}; a BN run that "
        f"diverges fails)",
        faster_verdict(faster_rows),
        "; ".join(f"η = {r['η']:g}: level {r['level']:.3f} — BN reaches it at iteration {r['steps BN']}, no BN at "
                  f"{r['steps no BN']} (ratio {r['ratio']:.1f}); BN {main[(r['η'], 'BN')]['losses'][0]:.2f} → "
                  f"{main[(r['η'], 'BN')]['tail']:.3f}, no BN {main[(r['η'], 'no BN')]['losses'][0]:.2f} → "
                  f"{main[(r['η'], 'no BN')]['tail']:.3f}" for r in faster_rows)
        + f" (first loss → mean of the last {config.tail})",
        cond, figure="loss")

    # 11b, 11c: the sigmoids' inputs (I & S's quantity) decide; the activations h are shown beside
    def per_lr(arm, key):
        return "; ".join(f"η = {lr:g}: " + ", ".join(f"{r['layer']} {r[key]:.3f}" for r in dist_rows
                                                     if r["network"] == arm and r["η"] == lr) for lr in config.lrs)

    pcond = (cond + f"; percentiles over all units × examples of {config.n_probe} fixed training images, every "
             f"{config.every} iterations (training mode: BN uses that batch's statistics)")
    c_b = Claim(
        "11b",
        f"With BN the distributions at {', '.join(hs)} stay stable (verdict, on the sigmoids' inputs as Ioffe & "
        f"Szegedy plot them: at every η, none of the 15th/50th/85th percentiles of the input of σ moves by "
        f"{INPUT_DRIFT:g} or more from its first measured value — the smallest input move that can shift an output "
        f"percentile by {STABLE_DRIFT:g}, a tenth of σ's range, as σ′ ≤ 1/4)",
        stable_verdict(dist_rows),
        f"largest percentile move of the input of σ with BN — {per_lr('BN', 'input drift')}. Beside it, of h = σ(·): "
        f"{per_lr('BN', 'output drift')}",
        pcond, figure="distributions")
    c_c = Claim(
        "11c",
        f"Without BN they drift (verdict, on the sigmoids' inputs: for each of {', '.join(hs)}, some percentile of the "
        f"input of σ moves by {INPUT_DRIFT:g} or more at some η, in a run that did not diverge)",
        drift_verdict(dist_rows),
        f"largest percentile move of the input of σ without BN — {per_lr('no BN', 'input drift')}. Beside it, of "
        f"h = σ(·): {per_lr('no BN', 'output drift')}",
        pcond, figure="distributions")

    # 11d, 11e: the initial scale
    spread = scale_sensitivity(scale_rows, "spread")
    worst = scale_sensitivity(scale_rows, "worst")
    n_seeds = config.seeds
    noise = (f"paired over the {n_seeds} seeds, beyond {NOISE_SE:g} standard errors" if n_seeds > 1
             else "one seed: the single comparison, no noise estimate")
    scond = (f"Fashion-MNIST, {arch}, W = c·randn for c = {', '.join(f'{c:g}' for c in config.scales)} (the notes' "
             f"0.01·randn and randn of module 7.4, and the BN slide's 0.1), biases 0, plain SGD "
             f"η = {config.scale_lr:g}, "
             f"batch {config.batch_size}, {config.iterations} iterations, seeds "
             f"{', '.join(str(ctx.seed + i) for i in range(n_seeds))} (each: one standard-normal draw for every scale "
             f"and both networks, one data order); final loss = mean of the last {config.tail} iterations")

    def per_scale(arm):
        return "; ".join(
            f"c = {c:g}: " + ", ".join(("diverged" if r["diverged at"] is not None else f"{r['final loss']:.3f}")
                                      for r in scale_rows if r["network"] == arm and r["W std"] == c)
            for c in config.scales)

    def lead_text(v, what):
        return (f"{what} per seed — BN {', '.join(_fs(b) for b in v['BN'])}, no BN "
                f"{', '.join(_fs(p) for p in v['no BN'])}; no BN − BN = {v['diff']:.3f}"
                + (f" (SE {v['se']:.3f})" if math.isfinite(v["se"]) else ""))

    c_d = Claim(
        "11d",
        f"With BN the net is less sensitive to the initial scale (verdict: the spread max − min over the "
        f"{len(config.scales)} scales of the final loss is smaller with BN than without, {noise}; a diverged run "
        f"makes its network's spread infinite)",
        spread["holds"],
        f"{lead_text(spread, 'spread')}. Final losses (per seed) — BN: {per_scale('BN')}; no BN: {per_scale('no BN')}",
        scond, figure="init_scale")
    c_e = Claim(
        "11e",
        f"With BN no initial scale fails: the worst final loss over the {len(config.scales)} scales is lower with BN "
        f"than without ({noise}; a diverged run is the worst)",
        worst["holds"],
        f"{lead_text(worst, 'worst final loss')}",
        scond, figure="init_scale")

    # figures
    ctx.savefig(figures.loss_curves({f"{arm}, η = {lr:g}": r["losses"] for (lr, arm), r in main.items()},
                                    smooth=10, title=f"{config.depth} sigmoid layers, W = {config.w_std:g}·randn"),
                "loss", caption="Training loss (running mean over 10 iterations; raw curves faint).")
    colors = [figures.COLORS[0] if arm == "no BN" else figures.COLORS[1] for (_, arm) in main]  # the notes' blue/red
    ctx.savefig(figures.percentile_band_grid({f"{arm}, η = {lr:g}": r["bands"]["pre"] for (lr, arm), r in main.items()},
                                             ylabel="input of σ", sharey="row", colors=colors,
                                             title=f"15th / 50th / 85th percentiles of the sigmoids' inputs at "
                                                   f"{', '.join(hs)} (I & S's quantity)"),
                "distributions", caption="The verdict's quantity (Ioffe & Szegedy's figure 1) — blue: without BN, red: "
                                         "with BN (the input of σ is γ·x̂ + β). Each panel is one layer on the fixed "
                                         "images over training; the band spans the 15th to 85th percentile, the line "
                                         "is the median.")
    ctx.savefig(figures.percentile_band_grid({f"{arm}, η = {lr:g}": r["bands"]["post"]
                                              for (lr, arm), r in main.items()},
                                             ylabel="h = σ(·)", sharey=True, colors=colors,
                                             title=f"the same layers after σ: h = σ(·) at {', '.join(hs)}"),
                "distributions_post", caption="As the notes plot it: the activations h on the same images. σ is "
                                              "increasing, so each percentile of h is σ of the input's percentile.")
    ctx.savefig(_scale_figure(scale_rows, {f"{arm}, c = {c:g}": r["losses"] for (i, c, arm), r in scale_runs.items()
                                           if i == 0}, list(config.scales), config.tail),
                "init_scale", caption=f"Left: final loss per initial scale c (W = c·randn), dots one per seed. Right: "
                                      f"the training curves of seed {ctx.seed} (η = {config.scale_lr:g}).")

    records = {"runs": run_rows, "much faster (11a)": faster_rows, "distributions (11b, 11c)": dist_rows,
               "initial scale (11d, 11e)": scale_rows}
    notes = [
        f"'Drift' of a layer: the largest move of its 15th, 50th or 85th percentile from the first measurement (every "
        f"{config.every} iterations, over all units and examples of {config.n_probe} fixed training images, in "
        f"training mode: BN uses that batch's statistics). The verdicts read the input of σ, the quantity Ioffe & "
        f"Szegedy plot; σ′ ≤ 1/4, so an input move below {INPUT_DRIFT:g} moves h by less than {STABLE_DRIFT:g} (the "
        f"converse fails where σ saturates: a large move of a saturated input barely shows in h).",
        "Without BN the gradient reaching the lower layers is small (each sigmoid layer multiplies it by at most "
        "σ'·‖W‖ ≈ 1/4 · 0.1·√100 = 1/4 with W = 0.1·randn), so their weights, and with them the distributions of the "
        "lower layers, barely move. While the loss stays near log 10 ≈ 2.30, a distribution that is 'stable' without "
        "BN belongs to a network that is not learning.",
        "With BN the inputs of σ are pinned by the normalisation (γ = 1, β = 0 at the start) and move only as γ and β "
        "learn. BN makes each hidden layer's output independent of the scale of its weights (BN(c·Wx) = BN(Wx)), so "
        "the initial scale reaches a BN network only through its output layer and through the step size: the "
        "gradient of a scale-invariant weight shrinks as 1/c.",
    ]
    return Result(claims=[c_a, c_b, c_c, c_d, c_e], records=records, notes=notes)


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
    train_set = Reloadable((x, y), lambda: fashion()[0])

    def train(arm) -> dict:
        """One network (label, normalisation) trained at batch size 1: held-out loss curve and losses."""
        label, norm = arm
        xs, ys = train_set()
        model = norm_mlp(sizes, config.activation, config.w_std, ctx.rng_for("w", "net"), norm=norm)
        held = _HeldOut(xe, ye, config.eval_every)
        out = fit_iterations(ctx, model, optim.SGD(model.parameters(), lr=config.lr), xs, ys, config.iterations, 1,
                             label=f"{label}, batch size 1", callbacks=[held], seed=ctx.seed)
        return {"steps": np.asarray(held.steps), "held": np.asarray(held.values), "losses": out["losses"],
                "diverged": out["diverged"]}

    arms = (("LayerNorm", "layer"), ("no normalisation", None))
    runs = dict(zip([label for label, _ in arms], ctx.map(train, arms, label="batch-size-1 runs")))
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
