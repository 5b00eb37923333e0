"""Seed 000: L1 vs L2 regularisation (claim 23 of issue [pretrain]).

The notes: "What does regularization do? It constraints the weights to certain region of the parameter
space. L1 regularization constraints most weights to be 0. L2 regularization prevents most weights from
taking larger values."

Here: MNIST-1D (``data.mnist1d()``, 4,000 training signals), 40-H-H-10 ReLU (He normal), cross-entropy,
mini-batch SGD, trained with no penalty, with L2 (λ₂/2·Σw², the optimiser's ``weight_decay`` on the weight
matrices only) and with L1 (λ₁·Σ|w|, ``Trainer(l1=λ₁)``, whose ``nn.l1_penalty`` also takes the weight
matrices only: biases are free in both). Every run of a seed starts from the same weights and sees the same
mini-batches.

**Matched strength.** λ₁ is set so that both penalties have the same value at initialisation:
λ₁·Σ|w₀| = λ₂·½Σw₀², i.e. λ₁ = λ₂·Ω₂(θ₀)/Ω₁(θ₀) (:func:`matched_l1`), for each λ₂ of a sweep; the
figure also plots the sparsity against the final training loss, so the two can be compared at equal fit.

**Near zero.** A weight is near zero when |w| < ``NEAR_ZERO``·σ₀ with σ₀ the standard deviation of its
layer's initial weights (√(2/fan_in) for He normal): three orders of magnitude below where it started.
Plain SGD on the L1 subgradient λ₁·sign(w) does not stop at 0: a weight the data does not hold jumps
across 0 by up to η·λ₁ every step, so it ends *near* zero, rarely *at* zero; exact zeros are counted
separately (23d). A proximal step (soft-thresholding, w ← sign(w)·max(|w| − ηλ₁, 0) after each update, as
ISTA does) would set such weights to exactly 0; layerlab has no such step (not built — the experiment does
not add one).

Verdicts (thresholds fixed in advance): "most" = more than half (:data:`MOST`) of all weights near zero,
per strength (23a1, 23a2, …: the sweep shows where it holds and where not) and with Adam instead of SGD at
the main strength (23e: Adam divides the subgradient by its running RMS, so the oscillation about 0 is ~η,
not η·λ₁); L2 keeps weights small: their RMS is below the unpenalised network's by more than ``NOISE_SE``
standard errors of the per-seed differences (23b); L1 leaves more weights near zero than L2 at matched
strength, beyond the noise (23c); L1 with the SGD subgradient sets most weights *exactly* to 0 (23d).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import data, nn, optim
from layerlab.lab import Claim, ConfigError, Context, Result, experiment, figures
from layerlab.lab.stats import NOISE_SE, format_lead, format_mean_se, mean_se, paired_lead
from layerlab.lab.training import mlp
from layerlab.train import NonFiniteError

__all__ = ["RegularizationConfig", "NEAR_ZERO", "MOST", "penalised", "matched_l1", "weight_stats", "net",
           "optimizer", "column", "most_near_zero", "l2_smaller", "l1_sparser", "most_exactly_zero", "verdicts"]

#: near zero: |w| < NEAR_ZERO·σ₀ (σ₀: the std of the layer's initial weights)
NEAR_ZERO = 1e-3
#: "most weights": more than this fraction
MOST = 0.5


@dataclass
class RegularizationConfig:
    """40-width-width-10 ReLU on MNIST-1D, SGD; λ₂ sweep with λ₁ matched at initialisation."""

    width: int = 100
    epochs: int = 100
    batch_size: int = 100
    lr: float = 0.1
    adam_lr: float = 1e-3
    l2s: tuple[float, ...] = (1e-4, 1e-3, 1e-2)   # λ₂ of the sweep
    main: float = 1e-3                             # the λ₂ of 23b-23e
    seeds: int = 3
    QUICK: ClassVar[dict] = {"width": 64, "epochs": 10, "l2s": (1e-3, 1e-2), "seeds": 2}

    def validate(self) -> None:
        """Checked by the runner before the run starts (a rejected config never becomes a run)."""
        _check(self)


# -- the measurements --------------------------------------------------------------------------------------------
def penalised(model: nn.Module) -> list:
    """The parameters both penalties act on: those ``nn.l1_penalty`` takes (2 or more axes, name not ending in
    "bias") — the weight matrices — in the model's order."""
    return [p for name, p in model.named_parameters() if p.data.ndim >= 2 and not name.endswith("bias")]


def matched_l1(model: nn.Module, l2: float) -> float:
    """λ₁ with λ₁·Σ|w| = λ₂·½Σw² on ``model``'s current (initial) weights."""
    ws = [p.data.astype(np.float64) for p in penalised(model)]
    omega1 = sum(float(np.abs(w).sum()) for w in ws)
    omega2 = sum(0.5 * float(np.vdot(w, w)) for w in ws)
    if omega1 == 0:
        raise ValueError("matched_l1: every penalised weight is 0; nothing to match")
    return float(l2) * omega2 / omega1


def weight_stats(weights, init_std, near: float = NEAR_ZERO) -> dict:
    """Pooled over the layers' weight arrays: the fraction near zero (|w| < near·σ₀ of its layer), exactly zero,
    and the RMS of the weights (and the RMS relative to σ₀, averaged over weights)."""
    n = sum(int(np.size(w)) for w in weights)
    near_n = sum(int(np.sum(np.abs(w) < near * s)) for w, s in zip(weights, init_std))
    zero_n = sum(int(np.sum(w == 0)) for w in weights)
    sq = sum(float(np.sum(np.square(np.asarray(w, dtype=np.float64)))) for w in weights)
    rel = sum(float(np.sum(np.square(np.asarray(w, dtype=np.float64) / s))) for w, s in zip(weights, init_std))
    return {"weights": n, "near zero": near_n / n, "exactly zero": zero_n / n, "rms": math.sqrt(sq / n),
            "rms / σ₀": math.sqrt(rel / n)}


def net(width: int, rng) -> nn.Sequential:
    """40-width-width-10 ReLU, He normal, zero biases."""
    return mlp([40, width, width, 10], "relu", "he_normal", rng)


def optimizer(model: nn.Module, kind: str, lr: float, l2: float = 0.0):
    """SGD or Adam with ``weight_decay = l2`` on the penalised weights only (biases in a group without it)."""
    ws = penalised(model)
    ids = {id(p) for p in ws}
    rest = [p for p in model.parameters() if id(p) not in ids]
    groups = [{"params": ws, "weight_decay": float(l2)}] + ([{"params": rest, "weight_decay": 0.0}] if rest else [])
    if kind == "sgd":
        return optim.SGD(groups, lr=lr)
    if kind == "adam":
        return optim.Adam(groups, lr=lr)
    raise ValueError(f"optimizer: kind must be 'sgd' or 'adam', got {kind!r}")


# -- the verdicts (plain functions of the records) ---------------------------------------------------------------
def column(rows, penalty: str, optimiser: str, l2, key: str) -> list[float]:
    """``key`` per seed (in seed order) of the runs with this penalty, optimiser and λ₂ (None: no penalty)."""
    sel = [r for r in rows if r["penalty"] == penalty and r["optimiser"] == optimiser
           and (penalty == "none" or r["λ₂ (matched)"] == l2)]
    return [float(r[key]) for r in sorted(sel, key=lambda r: r["seed"])]


def _ok(rows, penalty, optimiser, l2) -> bool:
    sel = [r for r in rows if r["penalty"] == penalty and r["optimiser"] == optimiser
           and (penalty == "none" or r["λ₂ (matched)"] == l2)]
    return bool(sel) and all(r["diverged at"] is None for r in sel)


def most_near_zero(rows, l2, optimiser: str = "SGD") -> bool:
    """23a/23e: the L1 runs' mean fraction of near-zero weights > MOST (a diverged run fails)."""
    v = column(rows, "L1", optimiser, l2, "near zero")
    return bool(v) and _ok(rows, "L1", optimiser, l2) and float(np.mean(v)) > MOST


def l2_smaller(rows, l2, optimiser: str = "SGD") -> dict:
    """23b: RMS of the weights, L2 ahead of no penalty (lower), paired over seeds; ``holds`` = beyond the noise."""
    r = paired_lead(column(rows, "L2", optimiser, l2, "rms"), column(rows, "none", optimiser, None, "rms"))
    r["holds"] = bool(r["beyond"] and _ok(rows, "L2", optimiser, l2) and _ok(rows, "none", optimiser, None))
    return r


def l1_sparser(rows, l2, optimiser: str = "SGD") -> dict:
    """23c: near-zero fraction, L1 ahead of L2 (higher), paired over seeds; ``holds`` = beyond the noise."""
    r = paired_lead([-v for v in column(rows, "L1", optimiser, l2, "near zero")],
                    [-v for v in column(rows, "L2", optimiser, l2, "near zero")])
    r["holds"] = bool(r["beyond"] and _ok(rows, "L1", optimiser, l2) and _ok(rows, "L2", optimiser, l2))
    return r


def most_exactly_zero(rows, l2, optimiser: str = "SGD") -> bool:
    """23d: the L1 runs' mean fraction of weights exactly 0 > MOST."""
    v = column(rows, "L1", optimiser, l2, "exactly zero")
    return bool(v) and _ok(rows, "L1", optimiser, l2) and float(np.mean(v)) > MOST


def verdicts(rows, l2s, main) -> dict[str, bool]:
    """Every claim's verdict from the per-run records."""
    out = {f"23a{i}": most_near_zero(rows, l2) for i, l2 in enumerate(l2s, 1)}
    out.update({"23b": l2_smaller(rows, main)["holds"], "23c": l1_sparser(rows, main)["holds"],
                "23d": most_exactly_zero(rows, main), "23e": most_near_zero(rows, main, "Adam")})
    return {k: bool(v) for k, v in out.items()}


def _check(config: RegularizationConfig) -> None:
    if not config.l2s or min(config.l2s) <= 0:
        raise ConfigError(f"experiment 'l1_vs_l2': l2s must be positive strengths, got {config.l2s!r}")
    if config.main not in config.l2s:
        raise ConfigError(f"experiment 'l1_vs_l2': main ({config.main:g}) must be one of l2s {config.l2s!r}")


@experiment("l1_vs_l2", order=23, topic="regularisation",
            summary="L1 drives most weights to 0, L2 keeps them small: weight histograms and the fraction of "
                    "near-zero weights at matched penalty strength, SGD and Adam, on MNIST-1D (claim 23)")
def run(config: RegularizationConfig, ctx: Context) -> Result:
    """Seed 000: train with no penalty, L2 and L1 (matched at initialisation) and look at the weights."""
    (x, y), _ = data.mnist1d()
    l2s = sorted(set(float(v) for v in config.l2s))
    main = float(config.main)
    lr = {"SGD": config.lr, "Adam": config.adam_lr}
    arms = [("none", "SGD", None)] + [(p, "SGD", l2) for l2 in l2s for p in ("L2", "L1")] \
        + [("none", "Adam", None), ("L2", "Adam", main), ("L1", "Adam", main)]

    def fit(item):
        """One (seed, penalty, optimiser, λ₂) run: its row, its final weights and σ₀ of each layer."""
        s, (penalty, opt_name, l2) = item
        model = net(config.width, np.random.default_rng(ctx.rng_for("weights", s).integers(2**63)))
        sigma0 = [float(p.data.std()) for p in penalised(model)]
        l1 = matched_l1(model, l2) if penalty == "L1" else 0.0
        opt = optimizer(model, opt_name.lower(), lr[opt_name], l2 if penalty == "L2" else 0.0)
        label = f"{penalty} {opt_name}" + (f" λ₂={l2:g}" if l2 is not None else "") + f" seed {s}"
        trainer = ctx.trainer(model, nn.CrossEntropyLoss(), opt, label=label, l1=l1, seed=ctx.seed + s,
                              log_every=10)
        loader = data.DataLoader(data.TensorDataset(x, y), batch_size=config.batch_size, shuffle=True,
                                 seed=ctx.seed + s)
        diverged = None
        try:
            trainer.fit(loader, epochs=config.epochs)
        except NonFiniteError:
            diverged = trainer.step
        ws = [p.data.copy() for p in penalised(model)]
        st = weight_stats(ws, sigma0)
        ce = trainer.evaluate(data.DataLoader(data.TensorDataset(x, y), batch_size=1000))
        row = {"penalty": penalty, "optimiser": opt_name, "λ₂ (matched)": l2, "λ₁": l1,
               "λ₂ used": l2 if penalty == "L2" else 0.0, "seed": s,
               "training cross-entropy": float(ce["loss"]), "training accuracy": float(ce["accuracy"]),
               **st, "diverged at": diverged}
        return row, ws, sigma0

    items = [(s, arm) for s in range(config.seeds) for arm in arms]
    runs = ctx.map(fit, items, label="fits")
    rows = [row for row, _, _ in runs]
    init_std = runs[0][2]
    final_weights = {arm: ws for (s, arm), (_, ws, _) in zip(items, runs) if s == 0}
    holds = verdicts(rows, l2s, main)

    # -- texts
    seeds_txt = f"{config.seeds} seed{'s' if config.seeds > 1 else ''}"
    cond = (f"MNIST-1D ({len(x):,} training signals), 40-{config.width}-{config.width}-10 ReLU (He normal), "
            f"cross-entropy, batch {config.batch_size}, {config.epochs} epochs; penalties on the weight matrices only "
            f"(L2: weight_decay λ₂ ≡ λ₂/2·Σw²; L1: Trainer(l1=λ₁), λ₁·Σ|w| by its subgradient sign(w)); λ₁ matched "
            f"so that λ₁·Σ|w₀| = λ₂·½Σw₀² at initialisation; near zero = |w| < {NEAR_ZERO:g}·σ₀ (σ₀ = std of the "
            f"layer's initial weights); {seeds_txt}, per seed the same initial weights and mini-batches for every "
            "run")
    sgd_cond = cond + f"; plain SGD η = {config.lr:g}"

    def l1_txt(l2, opt="SGD"):
        rr = [r for r in rows if r["penalty"] == "L1" and r["optimiser"] == opt and r["λ₂ (matched)"] == l2]
        return (f"λ₂ = {l2:g} (λ₁ = {rr[0]['λ₁']:.3g}): near zero {format_mean_se(column(rows, 'L1', opt, l2, 'near zero'))}"
                f" (per seed {', '.join(f'{v:.3f}' for v in column(rows, 'L1', opt, l2, 'near zero'))}), exactly 0 "
                f"{format_mean_se(column(rows, 'L1', opt, l2, 'exactly zero'))}, training CE "
                f"{format_mean_se(column(rows, 'L1', opt, l2, 'training cross-entropy'))}; L2 at this λ₂: near zero "
                f"{format_mean_se(column(rows, 'L2', opt, l2, 'near zero'))}, training CE "
                f"{format_mean_se(column(rows, 'L2', opt, l2, 'training cross-entropy'))}")

    none_txt = (f"no penalty: near zero {format_mean_se(column(rows, 'none', 'SGD', None, 'near zero'))}, training CE "
                f"{format_mean_se(column(rows, 'none', 'SGD', None, 'training cross-entropy'))}")
    claims = [Claim(f"23a{i}", f"L1 regularisation constrains most weights to be 0 (λ₂ = {l2:g}{', the main strength' if l2 == main else ''}; "
                               f"verdict: more than {MOST:.0%} of the weights near zero, mean over seeds)",
                    holds[f"23a{i}"], f"{l1_txt(l2)}; {none_txt}", sgd_cond, figure="sparsity")
              for i, l2 in enumerate(l2s, 1)]
    b, c = l2_smaller(rows, main), l1_sparser(rows, main)
    rms = {p: column(rows, p, "SGD", None if p == "none" else main, "rms") for p in ("none", "L2", "L1")}
    claims += [
        Claim("23b", f"L2 regularisation prevents most weights from taking larger values (λ₂ = {main:g}; verdict: "
                     f"the RMS of the weights is below the unpenalised network's by more than {NOISE_SE:g} standard "
                     "errors of the per-seed differences)",
              holds["23b"],
              f"RMS of the weights: no penalty {format_mean_se(rms['none'], 4)}, L2 {format_mean_se(rms['L2'], 4)}, "
              f"L1 {format_mean_se(rms['L1'], 4)}; no penalty − L2 = {format_lead(b)}; near zero under L2: "
              f"{format_mean_se(column(rows, 'L2', 'SGD', main, 'near zero'))}", sgd_cond, figure="histograms"),
        Claim("23c", f"L1 drives weights to 0 where L2 only makes them small: at matched strength (λ₂ = {main:g}) L1 "
                     f"leaves more weights near zero than L2 (verdict: the per-seed difference of the near-zero "
                     f"fractions exceeds {NOISE_SE:g} standard errors)",
              holds["23c"], f"near zero L1 − L2 = {format_lead(c)}", sgd_cond, figure="histograms"),
        Claim("23d", f"… literally 0: with the SGD subgradient, most weights end exactly at 0 (λ₂ = {main:g}; verdict: "
                     f"more than {MOST:.0%} of the weights == 0). A proximal step (soft-thresholding) would give exact "
                     "zeros; layerlab has none (not built)",
              holds["23d"],
              f"exactly 0 under L1: {format_mean_se(column(rows, 'L1', 'SGD', main, 'exactly zero'), 4)}; near zero "
              f"{format_mean_se(column(rows, 'L1', 'SGD', main, 'near zero'))}", sgd_cond, figure="histograms"),
        Claim("23e", f"L1 constrains most weights to be 0 also when trained with Adam (λ₂ = {main:g}; verdict as 23a)",
              holds["23e"], f"{l1_txt(main, 'Adam')}; no penalty: near zero "
                            f"{format_mean_se(column(rows, 'none', 'Adam', None, 'near zero'))}",
              cond + f"; Adam η = {config.adam_lr:g} (coupled L2: weight_decay is added to the gradient before Adam's "
                     "scaling, as is the L1 subgradient)", figure="histograms"),
    ]

    # -- figures: histograms (seed 0, main strength), sparsity sweep
    panels = [("none", "SGD", None), ("L2", "SGD", main), ("L1", "SGD", main), ("L1", "Adam", main)]
    if l2s[-1] != main:  # the strongest penalty of the sweep too
        panels[3:3] = [("L2", "SGD", l2s[-1]), ("L1", "SGD", l2s[-1])]
    fig, axes = figures.new_figure(2, len(panels), panel=(2.3, 1.8),
                                   title="all weights after training (seed 0, λ₁ matched to λ₂)")
    all_w = np.concatenate([np.ravel(w) for w in final_weights[("none", "SGD", None)]])
    lim = float(np.percentile(np.abs(all_w), 99.5))
    edges = np.linspace(-lim, lim, 81)
    log_edges = np.linspace(-9, 1, 81)
    for j, key in enumerate(panels):
        ws = final_weights[key]
        flat = np.concatenate([np.ravel(w) for w in ws])
        rel = np.concatenate([np.ravel(np.abs(w) / sd) for w, sd in zip(ws, init_std)])
        color = figures.COLORS[j]
        axes[0, j].hist(np.clip(flat, -lim, lim), bins=edges, color=color)
        axes[0, j].set_title(f"{key[0]}, {key[1]}" + (f", λ₂ = {key[2]:g}" if key[2] is not None else ""), fontsize=9)
        axes[0, j].set_xlabel("w")
        with np.errstate(divide="ignore"):
            lr_ = np.log10(rel)
        axes[1, j].hist(np.clip(lr_, -9, 1), bins=log_edges, color=color)
        axes[1, j].axvline(math.log10(NEAR_ZERO), color="k", linestyle=":", linewidth=1)
        axes[1, j].set_xlabel("log₁₀(|w| / σ₀)")
        st = weight_stats(ws, init_std)
        axes[1, j].set_title(f"near 0: {st['near zero']:.1%}, == 0: {st['exactly zero']:.1%}", fontsize=8)
    axes[0, 0].set_ylabel("weights")
    axes[1, 0].set_ylabel("weights")
    ctx.savefig(fig, "histograms", caption=f"Top: the weights (clipped to ±{lim:.2f}). Bottom: log₁₀ of |w| relative "
                                           f"to the layer's initial std σ₀ (exact zeros and |w| < 10⁻⁹σ₀ at the left "
                                           f"edge); dotted: the near-zero threshold {NEAR_ZERO:g}·σ₀.")
    fig, axes = figures.new_figure(1, 2, panel=(3.2, 2.4), margins={"right": 1.2})
    for i, (p, key) in enumerate((("L1", "near zero"), ("L2", "near zero"), ("L1", "exactly zero"))):
        m = [mean_se(column(rows, p, "SGD", l2, key)) for l2 in l2s]
        ce = [float(np.mean(column(rows, p, "SGD", l2, "training cross-entropy"))) for l2 in l2s]
        style = dict(color=figures.COLORS[i], marker="o", markersize=3, linewidth=1.3, label=f"{p}: {key}")
        axes[0, 0].errorbar(l2s, [v[0] for v in m], yerr=[v[1] if math.isfinite(v[1]) else 0 for v in m], capsize=2,
                            **style)
        axes[0, 1].plot(ce, [v[0] for v in m], **style)
    for ax in axes[0]:
        ax.axhline(MOST, color="0.5", linestyle=":", linewidth=1)
        ax.set_ylabel("fraction of weights")
    axes[0, 0].set_xscale("log")
    axes[0, 0].set_xlabel("λ₂ (λ₁ matched at init)")
    axes[0, 1].set_xlabel("training cross-entropy")
    axes[0, 1].legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ctx.savefig(fig, "sparsity", caption=f"SGD, mean over {seeds_txt}: the fraction of weights near zero (|w| < "
                                         f"{NEAR_ZERO:g}·σ₀) and exactly zero against the strength (left) and "
                                         "against the training loss it costs (right); dotted: 'most' (one half).")
    summary = [{"penalty": p, "optimiser": o, "λ₂ (matched)": l2,
                "λ₁": float(np.mean([r["λ₁"] for r in rows if r["penalty"] == p and r["optimiser"] == o
                                     and (p == "none" or r["λ₂ (matched)"] == l2)])),
                "near zero": format_mean_se(column(rows, p, o, l2, "near zero")),
                "exactly zero": format_mean_se(column(rows, p, o, l2, "exactly zero"), 4),
                "rms / σ₀": format_mean_se(column(rows, p, o, l2, "rms / σ₀")),
                "training CE": format_mean_se(column(rows, p, o, l2, "training cross-entropy")),
                "training accuracy": format_mean_se(column(rows, p, o, l2, "training accuracy"))}
               for p, o, l2 in [("none", "SGD", None)] + [(p, "SGD", l2) for l2 in l2s for p in ("L2", "L1")]
               + [("none", "Adam", None), ("L2", "Adam", main), ("L1", "Adam", main)]]
    notes = [
        ("Matching: λ₁ makes the L1 penalty equal to the L2 penalty at initialisation (λ₁·Σ|w₀| = λ₂·½Σw₀²); for "
         "Gaussian weights of std σ that is λ₁ ≈ 0.63·σ·λ₂, so a weight of typical size feels a pull of about the same "
         "size from either penalty at the start. The right panel of 'sparsity' shows the sparsity against the "
         "training loss each strength costs, the other way to match."),
        ("Plain SGD on λ₁·sign(w) moves every weight by η·λ₁ per step towards 0 and past it: weights the data does not "
         "hold end within about η·λ₁ of 0 — near zero, rarely exactly 0. Exact zeros need a proximal step "
         "(soft-thresholding after each update: w ← sign(w)·max(|w| − ηλ₁, 0)); layerlab has none (not built here). "
         "Adam rescales the subgradient by its running RMS, so such weights oscillate with an amplitude of about its η."),
    ]
    return Result(claims=claims, records={"summary": summary, "runs": rows}, notes=notes)
