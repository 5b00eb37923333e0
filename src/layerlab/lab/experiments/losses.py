"""Seed 003, "Losses (also modules)": the Euclidean loss and outliers; cross-entropy and the sigmoid (issue 12, point 9).

The notes: "Euclidean loss  h(x, y) = 0.5 ||y − x||² — Suitable for regression problems — Sensitive to
outliers — Magnifies errors quadratically"; "Cross Entropy loss h(x, y) = −Σ_j y_j log x_j — Suitable
for classification problems — Derived from max likelihood learning — Couples well with softmax/sigmoid".

(a) Outliers. A 1-D regression y = a·x + b + noise with a few outliers at large x (high leverage),
fitted by a line with the Euclidean loss ½(ŷ − y)², the Huber loss (δ = 1) and the L1 loss |ŷ − y|
(layerlab has no L1 loss module: it is the Tensor expression ``(out - y).abs().mean()``). The pull of
the outliers on a fit is its slope error relative to the clean fit (least squares on the inliers
alone): |â − a_clean| / |a_clean|. The quadratic loss's gradient on a point is its residual, so a
residual of Δ pulls Δ times as hard as a unit one; Huber's and L1's gradient is at most δ (resp. 1)
whatever the residual. With outliers Δ ≈ 10 away this predicts a pull ~Δ/δ times larger for the
Euclidean loss. Both sides: the same verdict with outliers only 0.8 off (inside Huber's δ, where Huber
*is* the Euclidean loss) — there the Euclidean loss is no longer the clear outlier.

(b) Saturation. One sigmoid output p = σ(z) with its logit z as the only parameter, target y = 1,
plain gradient descent at the same η for both losses. Cross-entropy through the sigmoid has
∂L/∂z = p − y (σ′ cancels: "couples well"); the Euclidean loss ½(p − y)² has ∂L/∂z = (p − y)·σ′(z),
σ′ = p(1 − p) ≈ e^z when saturated. From z₀ = −6 cross-entropy moves z by ≈ η per step (≈ 6 steps to
p > 0.5) and the Euclidean loss by ≈ η·e^z (≈ e^6 ≈ 400 steps). Both sides: from z₀ = −1 (not
saturated) the two are within a small factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import Tensor, nn, optim
from layerlab.data import DataLoader, TensorDataset
from layerlab.lab import Claim, Context, Result, experiment, figures

__all__ = ["LossesConfig", "run_losses", "check_pull", "check_saturation", "outlier_pull", "pulls_by_seed",
           "saturation_steps", "gd_steps_to_half", "l1_loss", "PULL_FACTOR", "SATURATION_RATIO", "LOSSES"]

#: (a) "sensitive to outliers": the Euclidean fit's pull is at least this many times the larger of the
#: Huber and L1 fits' pulls, on every dataset (seed). 2 = "clearly the largest"; the theory (gradient
#: ∝ residual vs bounded) predicts ~Δ/δ = 10 for the far outliers.
PULL_FACTOR = 2.0
#: (b) cross-entropy "learns at once", the Euclidean loss "barely": the Euclidean loss needs at least this
#: many times the steps of cross-entropy to bring p above 0.5 (an order of magnitude).
SATURATION_RATIO = 10.0
LOSSES = ("euclidean", "huber", "l1")


def l1_loss(out, y):
    """L1 loss ℓ = mean |ŷ − y| as a Tensor expression (layerlab has no L1 loss module)."""
    return (out - y).abs().mean()


def _loss_fn(name: str, delta: float):
    if name == "euclidean":
        return nn.EuclideanLoss()
    if name == "huber":
        return nn.HuberLoss(delta=delta)
    if name == "l1":
        return l1_loss
    raise ValueError(f"loss_functions: loss must be one of {LOSSES}, got {name!r}")


def outlier_pull(slope: float, clean_slope: float) -> float:
    """The outliers' pull on a fit: |â − a_clean| / |a_clean|."""
    return abs(slope - clean_slope) / abs(clean_slope)


def pulls_by_seed(records, scenario: str) -> dict[int, dict[str, float]]:
    """``{seed: {loss: pull}}`` from the ``part == "fit"`` records of one scenario."""
    out: dict[int, dict[str, float]] = {}
    for r in records:
        if r.get("part") == "fit" and r["scenario"] == scenario:
            out.setdefault(int(r["seed"]), {})[r["loss"]] = float(r["pull"])
    return out


def check_pull(records, scenario: str, factor: float = PULL_FACTOR) -> tuple[bool, float]:
    """Claims 26a/26b: on every seed, pull(euclidean) ≥ ``factor`` · max(pull(huber), pull(l1)).
    Returns (holds, the smallest ratio pull(euclidean) / max(others) over the seeds)."""
    by_seed = pulls_by_seed(records, scenario)
    ratios = []
    for pulls in by_seed.values():
        if not set(LOSSES) <= set(pulls):
            return False, math.nan
        other = max(pulls["huber"], pulls["l1"])
        ratios.append(pulls["euclidean"] / other if other > 0 else math.inf)
    if not ratios:
        return False, math.nan
    worst = min(ratios)
    return bool(worst >= factor), float(worst)


def saturation_steps(records, z0: float) -> dict[str, dict]:
    """``{loss: record}`` of the ``part == "saturation"`` records started from logit ``z0``."""
    return {r["loss"]: r for r in records if r.get("part") == "saturation" and float(r["z0"]) == float(z0)}


def check_saturation(records, z0: float, ratio: float = SATURATION_RATIO) -> tuple[bool, float]:
    """Claims 26c/26d: from logit ``z0``, steps(euclidean) ≥ ``ratio`` · steps(cross-entropy) to p > 0.5.

    A run that never got there counts with its step budget (a lower bound on its steps); cross-entropy
    must have got there. Returns (holds, the ratio — a lower bound when the Euclidean run did not finish)."""
    runs = saturation_steps(records, z0)
    if "cross_entropy" not in runs or "euclidean" not in runs or not runs["cross_entropy"]["reached"]:
        return False, math.nan
    r = runs["euclidean"]["steps"] / runs["cross_entropy"]["steps"]
    return bool(r >= ratio), float(r)


def gd_steps_to_half(loss: str, z0: float, lr: float, max_steps: int) -> tuple[int, bool, np.ndarray]:
    """Plain GD on the logit z of p = σ(z), target 1, with cross-entropy (``BCELoss`` on σ(z)) or the
    Euclidean loss ½(p − 1)²; steps until p > 0.5 (``max_steps`` if never). Returns (steps, reached, p per
    step with p₀ first)."""
    z = nn.Parameter(np.array([z0], dtype=np.float32))
    opt = optim.SGD([z], lr=lr)
    fn = nn.BCELoss() if loss == "cross_entropy" else nn.EuclideanLoss()
    target = Tensor(np.ones(1, dtype=np.float32))
    ps = [float(1.0 / (1.0 + math.exp(-z0)))]
    for step in range(1, max_steps + 1):
        value = fn(z.sigmoid(), target)
        opt.zero_grad()
        value.backward()
        opt.step()
        p = float(1.0 / (1.0 + np.exp(-np.float64(z.data[0]))))
        ps.append(p)
        if p > 0.5:
            return step, True, np.asarray(ps)
    return max_steps, False, np.asarray(ps)


@dataclass
class LossesConfig:
    """(a) ``n`` inliers y = ``slope``·x + ``intercept`` + N(0, ``noise``²), x ~ U(−1, 1), plus ``n_outliers``
    points at x ~ U(0.6, 1) displaced by ``far`` (claim 26a) or ``near`` (26b); a line fitted full-batch with
    Adam (η = ``fit_lr``, cosine to 0) for ``iterations`` steps, per loss, on ``seeds`` datasets; Huber's δ =
    ``delta``. (b) plain GD at η = ``gd_lr`` on a sigmoid's logit from each of ``logits`` (target 1), at most
    ``max_steps`` steps; ``saturated`` / ``unsaturated`` are the starts of claims 26c / 26d."""

    n: int = 50
    n_outliers: int = 5
    slope: float = 2.0
    intercept: float = 0.5
    noise: float = 0.2
    far: float = -10.0
    near: float = -0.8
    delta: float = 1.0
    fit_lr: float = 0.05
    iterations: int = 1500
    seeds: int = 5
    gd_lr: float = 1.0
    logits: tuple[float, ...] = (-1.0, -3.0, -6.0, -9.0)
    saturated: float = -6.0
    unsaturated: float = -1.0
    max_steps: int = 20000
    QUICK: ClassVar[dict] = {"iterations": 500, "seeds": 2, "logits": (-1.0, -6.0), "max_steps": 5000}


def _dataset(config: LossesConfig, rng: np.random.Generator, offset: float):
    x = rng.uniform(-1.0, 1.0, config.n)
    y = config.slope * x + config.intercept + config.noise * rng.standard_normal(config.n)
    xo = rng.uniform(0.6, 1.0, config.n_outliers)
    yo = config.slope * xo + config.intercept + offset
    return x, y, xo, yo


def _fit_line(ctx: Context, config: LossesConfig, loss: str, model: nn.Linear, x: np.ndarray, y: np.ndarray,
              label: str):
    """Fit the line ``model`` (a Linear(1, 1) at its initial weights) to (x, y) with ``loss``; returns (slope,
    intercept, final loss)."""
    opt = optim.Adam(model.parameters(), lr=config.fit_lr)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.iterations)
    trainer = ctx.trainer(model, _loss_fn(loss, config.delta), opt, label=label, scheduler=sched,
                          scheduler_interval="step", metrics=())
    xs, ys = x.reshape(-1, 1).astype(np.float32), y.reshape(-1, 1).astype(np.float32)
    loader = DataLoader(TensorDataset(xs, ys), batch_size=len(xs), shuffle=False)
    trainer.fit(loader, epochs=config.iterations)
    return float(model.weight.data[0, 0]), float(model.bias.data[0]), trainer.history.loss[-1]


@experiment("loss_functions", order=26, topic="optimisation",
            summary="Euclidean vs Huber vs L1 under outliers; cross-entropy vs Euclidean on a saturated sigmoid")
def run_losses(config: LossesConfig, ctx: Context) -> Result:
    scenarios = {"far": config.far, "near": config.near}

    def data_set(scenario, seed):
        return _dataset(config, ctx.rng_for("data", scenario, seed), scenarios[scenario])

    def fit(item):  # one line fitted with one loss to one data set (inliers and outliers)
        scenario, seed, loss, model = item
        x, y, xo, yo = data_set(scenario, seed)
        return _fit_line(ctx, config, loss, model, np.concatenate([x, xo]), np.concatenate([y, yo]),
                         f"{scenario}{seed}/{loss}")

    keys = [(scenario, seed, loss) for scenario in scenarios for seed in range(config.seeds) for loss in LOSSES]
    # the initial lines are drawn here, one after the other from the package's global generator (seeded by the
    # runner), as the fits always drew them; each fit gets its own
    items = [(*key, nn.Linear(1, 1)) for key in keys]
    lines = dict(zip(keys, ctx.map(fit, items, label="fits")))
    records: list[dict] = []
    shown = {}
    for scenario in scenarios:
        for seed in range(config.seeds):
            x, y, xo, yo = data_set(scenario, seed)
            clean_slope, clean_intercept = np.polyfit(x, y, 1)
            ls_slope, ls_intercept = np.polyfit(np.concatenate([x, xo]), np.concatenate([y, yo]), 1)
            fits = {}
            for loss in LOSSES:
                a, b, final = lines[scenario, seed, loss]
                fits[loss] = (a, b)
                records.append({"part": "fit", "scenario": scenario, "seed": seed, "loss": loss, "slope": a,
                                "intercept": b, "final_loss": float(final), "clean_slope": float(clean_slope),
                                "clean_intercept": float(clean_intercept), "lstsq_slope": float(ls_slope),
                                "pull": outlier_pull(a, float(clean_slope))})
            if seed == 0:
                shown[scenario] = (x, y, xo, yo, (clean_slope, clean_intercept), fits)

    def descend(item):  # plain GD on a sigmoid's logit from z0 with one loss
        z0, loss = item
        return gd_steps_to_half(loss, z0, config.gd_lr, config.max_steps)

    items = [(z0, loss) for z0 in config.logits for loss in ("cross_entropy", "euclidean")]
    curves = {}
    for (z0, loss), (steps, reached, ps) in zip(items, ctx.map(descend, items, label="saturation")):
        records.append({"part": "saturation", "z0": float(z0), "loss": loss, "steps": int(steps),
                        "reached": bool(reached), "lr": config.gd_lr, "p0": float(ps[0])})
        if z0 == config.saturated:
            curves[loss] = ps

    ctx.savefig(_fits_figure(shown, config), "outlier_fits",
                caption="Lines fitted with the Euclidean, Huber (δ = 1) and L1 losses (seed 0); grey dashed: the "
                        "least-squares fit of the inliers alone; red crosses: the outliers.")
    pulls = {scenario: {loss: float(np.mean([p[loss] for p in pulls_by_seed(records, scenario).values()]))
                        for loss in LOSSES} for scenario in scenarios}
    ctx.savefig(figures.bar_chart({f"{s} outliers ({scenarios[s]:+g})": v for s, v in pulls.items()},
                                  ylabel="slope error / clean slope", logy=True,
                                  title="The outliers' pull (mean over seeds)"),
                "outlier_pull", caption="Relative slope error of each loss's fit, mean over the datasets.")
    ctx.savefig(_saturation_figure(curves, records, config), "saturation",
                caption=f"Plain GD (η = {config.gd_lr:g}) on the logit of a sigmoid output, target 1. Left: p per "
                        f"step from z₀ = {config.saturated:g}; right: steps to p > 0.5 from each start.")

    claims = []
    cond_a = (f"{config.n} inliers y = {config.slope:g}x + {config.intercept:g} + N(0, {config.noise:g}²), "
              f"{config.n_outliers} outliers at x ∈ [0.6, 1]; Linear(1, 1), full batch, Adam η = {config.fit_lr:g} "
              f"cosine to 0, {config.iterations} steps; Huber δ = {config.delta:g}; {config.seeds} datasets")
    for cid, scenario in (("26a", "far"), ("26b", "near")):
        holds, worst = check_pull(records, scenario)
        p = pulls[scenario]
        claims.append(Claim(
            cid, "the Euclidean loss is sensitive to outliers (\"magnifies errors quadratically\"): its fit is "
                 "pulled the most — more than Huber's and L1's",
            holds,
            f"mean pull: Euclidean {p['euclidean']:.3f}, Huber {p['huber']:.3f}, L1 {p['l1']:.3f}; smallest ratio "
            f"Euclidean / max(others) over seeds {worst:.2f} (threshold ≥ {PULL_FACTOR:g} on every seed)",
            cond_a + f"; outliers displaced by {scenarios[scenario]:+g} "
            + ("(far beyond δ)" if scenario == "far" else "(inside δ: Huber is the Euclidean loss there)"),
            "outlier_pull"))
    cond_b = (f"one logit z (the only parameter), p = σ(z), target 1, plain GD η = {config.gd_lr:g}, at most "
              f"{config.max_steps} steps; cross-entropy = BCELoss on σ(z), Euclidean = ½(p − 1)²")
    for cid, z0, what in (("26c", config.saturated, "saturated"), ("26d", config.unsaturated, "not saturated")):
        holds, ratio = check_saturation(records, z0)
        runs = saturation_steps(records, z0)
        ce, eu = runs.get("cross_entropy", {}), runs.get("euclidean", {})
        eu_text = f"{eu.get('steps')}" + ("" if eu.get("reached") else "+ (never reached)")
        claims.append(Claim(
            cid, "cross-entropy \"couples well with sigmoid\": a saturated wrong output learns at once with "
                 "cross-entropy (∂L/∂z = p − y) and barely with the Euclidean loss (∂L/∂z = (p − y)σ′)",
            holds,
            f"steps to p > 0.5: cross-entropy {ce.get('steps')}, Euclidean {eu_text}; ratio {ratio:.1f}"
            + ("" if eu.get("reached", True) else " (a lower bound)")
            + f" (threshold ≥ {SATURATION_RATIO:g})",
            cond_b + f"; start z₀ = {z0:g} ({what}, p₀ = {1 / (1 + math.exp(-z0)):.4f})", "saturation"))
    notes = ("Pull = |slope − clean slope| / |clean slope|, the clean slope being least squares on the inliers "
             "alone. The Euclidean fit by Adam is checked against the closed-form least squares "
             "(record lstsq_slope). Saturation: steps of plain GD until p > 0.5.")
    return Result(claims=claims, records=records, notes=notes)


def _fits_figure(shown, config):
    fig, axes = figures.new_figure(1, len(shown), panel=(3.2, 2.4), sharey=False)
    grid = np.linspace(-1.0, 1.0, 2)
    for ax, (scenario, (x, y, xo, yo, clean, fits)) in zip(axes[0], shown.items()):
        ax.scatter(x, y, s=8, color="#555555", label="inliers")
        ax.scatter(xo, yo, s=20, marker="x", color="#D55E00", label="outliers")
        ax.plot(grid, clean[0] * grid + clean[1], "--", color="#999999", linewidth=1, label="clean fit")
        for i, (loss, (a, b)) in enumerate(fits.items()):
            ax.plot(grid, a * grid + b, color=figures.COLORS[i], linewidth=1.4, label=loss)
        ax.set_title(f"outliers {config.far if scenario == 'far' else config.near:+g}")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    axes[0, 0].legend(frameon=False, fontsize=7)
    return fig


def _saturation_figure(curves, records, config):
    fig, axes = figures.new_figure(1, 2, panel=(3.0, 2.3))
    ax = axes[0, 0]
    for i, (loss, ps) in enumerate(curves.items()):
        ax.plot(np.arange(1, len(ps) + 1), ps, color=figures.COLORS[i], label=loss)
    ax.axhline(0.5, color="#999999", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("step + 1")
    ax.set_ylabel("p")
    ax.set_title(f"z₀ = {config.saturated:g}")
    ax.legend(frameon=False, fontsize=7)
    ax = axes[0, 1]
    for i, loss in enumerate(("cross_entropy", "euclidean")):
        rows = sorted((r["z0"], r["steps"]) for r in records if r.get("part") == "saturation" and r["loss"] == loss)
        ax.plot([z for z, _ in rows], [s for _, s in rows], "o-", color=figures.COLORS[i], label=loss)
    ax.set_yscale("log")
    ax.set_xlabel("starting logit z₀")
    ax.set_ylabel("steps to p > 0.5")
    ax.legend(frameon=False, fontsize=7)
    return fig
