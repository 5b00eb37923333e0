"""Seed 002, gradient descent strategies: optimiser trajectories on 2-D surfaces (issue 12, point 1).

The notes on momentum: "A Momentum term might be used in gradient descent where consideration is made for a
moving average "velocity" of the descent" and it "Helps when there is a lot of "zig-zag" but the descent heads
in a certain direction." On Nesterov: "Nesterov-momentum is similar to momentum with some scout ahead";
"Knowing what's coming up ahead further helps in correcting the direction of descent." On adaptive learning
rates: "We try to let different parameters have different learning rates. The idea is that parameters with
large partial derivatives are often oscillating and zigzagging, whereas parameters with small partial
derivatives tend to be more consistent but move in the same direction. Algorithms include AdaGrad, RMSProp and
AdaDelta. [...] ADAM and its variants like AdaMax, Nadam and AdamW."

The notes say nothing about saddles nor about AdaGrad's decaying step: those two claims come from issue 12's
own text ("AdaGrad's effective step decays toward 0 ... RMSProp/Adam's does not"; "plain GD escapes the saddle
slowly, noise or momentum speed it up").

Surfaces (plain functions with their gradients; float64, so rounding plays no part in a 2-D path):

* ``quadratic``: f = ½(x² + κy²), κ = 50 (condition number κ); the valley runs along x, y is across it.
* ``rosenbrock``: f = (1 − x)² + 100(y − x²)², the curved valley, minimum (1, 1).
* ``saddle``: f = x² − y², a saddle point at the origin; "escaped" = left the radius R around it.

Every optimiser is layerlab's own (``layerlab.optim``) stepping a 2-element ``nn.Parameter`` whose ``.grad`` is
set to the surface's gradient (plus Gaussian noise where stated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import nn, optim
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import NOISE_SE, mean_se, much_faster, much_faster_holds

__all__ = ["TrajectoriesConfig", "run", "SURFACES", "OPTIMISERS", "optimise", "sign_changes", "overshoot",
           "effective_lrs", "check_zigzag", "check_faster", "check_overshoot", "check_adaptive_step",
           "check_decays", "check_not_decays", "check_escape_faster", "check_stuck", "verdicts",
           "ADAPTIVE_MAX_RATIO", "DECAY_FRACTION", "KAPPA"]

KAPPA = 50.0
#: claim 1c: "a smaller step for the large partial derivative": at step 1 the effective learning rate
#: |Δθᵢ|/|gᵢ| of the coordinate with the larger |gᵢ| is at most this fraction of the other's (plain GD: exactly 1)
ADAPTIVE_MAX_RATIO = 0.5
#: claim 1d: "decays toward 0": the mean effective step |Δθ|/|g| over the last tenth of the run is at most this
#: fraction of its mean over the first tenth; "does not decay": above it
DECAY_FRACTION = 0.5


# -- the surfaces ---------------------------------------------------------------------------------------------------
def _quad_f(p):
    return 0.5 * (p[0] ** 2 + KAPPA * p[1] ** 2)


def _quad_g(p):
    return np.array([p[0], KAPPA * p[1]])


def _rosen_f(p):
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def _rosen_g(p):
    return np.array([-2 * (1 - p[0]) - 400 * p[0] * (p[1] - p[0] ** 2), 200 * (p[1] - p[0] ** 2)])


def _saddle_f(p):
    return p[0] ** 2 - p[1] ** 2


def _saddle_g(p):
    return np.array([2 * p[0], -2 * p[1]])


#: name -> (f, ∇f, start, minimum (None for the saddle), contour box (x0, x1, y0, y1))
SURFACES = {
    "quadratic": (_quad_f, _quad_g, (-4.0, 1.0), (0.0, 0.0), (-4.5, 4.5, -1.5, 1.5)),
    "rosenbrock": (_rosen_f, _rosen_g, (-1.2, 1.0), (1.0, 1.0), (-2.0, 2.0, -1.0, 3.0)),
    "saddle": (_saddle_f, _saddle_g, (0.1, 1e-5), None, (-1.2, 1.2, -1.2, 1.2)),
}

#: the optimisers: label -> (class name in layerlab.optim, fixed keyword arguments)
OPTIMISERS = {
    "SGD": ("SGD", {}),
    "momentum": ("SGD", {"momentum": 0.9}),
    "Nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}),
    "AdaGrad": ("Adagrad", {}),
    "RMSProp": ("RMSprop", {}),
    "AdaDelta": ("Adadelta", {}),
    "Adam": ("Adam", {}),
    "AdaMax": ("Adamax", {}),
    "NAdam": ("NAdam", {}),
    "AdamW": ("AdamW", {}),
}
ADAPTIVE = ("AdaGrad", "RMSProp", "AdaDelta", "Adam", "AdaMax", "NAdam", "AdamW")
#: η per surface: the SGD family's η below its stability limit (2/κ = 0.04 on the quadratic, ~2/λmax ≈ 2e-3 at
#: Rosenbrock's minimum); the adaptive family's η a unit-free step size of the scale of the surface; AdaDelta has
#: no step size (its default lr = 1). Fixed before any run; the claims compare methods at the same η.
LRS = {
    "quadratic": {"SGD": 0.035, "momentum": 0.035, "Nesterov": 0.035, "AdaGrad": 0.5, "RMSProp": 0.05,
                  "AdaDelta": 1.0, "Adam": 0.1, "AdaMax": 0.1, "NAdam": 0.1, "AdamW": 0.1},
    "rosenbrock": {"SGD": 1e-3, "momentum": 1e-3, "Nesterov": 1e-3, "AdaGrad": 0.5, "RMSProp": 0.01,
                   "AdaDelta": 1.0, "Adam": 0.02, "AdaMax": 0.02, "NAdam": 0.02, "AdamW": 0.02},
    "saddle": {k: 0.01 for k in OPTIMISERS} | {"AdaDelta": 1.0},
}


def make_optimiser(label: str, param, lr: float):
    cls, kw = OPTIMISERS[label]
    return getattr(optim, cls)([param], lr=lr, **kw)


def optimise(surface: str, label: str, lr: float, steps: int, *, start=None, noise: float = 0.0,
             rng: np.random.Generator | None = None, radius: float | None = None) -> dict:
    """Run one optimiser on one surface: returns the path (steps+1 × 2), f along it, the gradients fed (steps × 2)
    and ``stopped`` (the step at which the path left ``radius`` around the origin, or diverged; None if it ran
    the whole budget). ``noise``: std of Gaussian noise added to each gradient coordinate (needs ``rng``)."""
    f, grad, s0, _, _ = SURFACES[surface]
    p = nn.Parameter(np.array(s0 if start is None else start, dtype=np.float64))
    opt = make_optimiser(label, p, lr)
    path, gs, stopped = [p.data.copy()], [], None
    for t in range(1, steps + 1):
        g = grad(p.data)
        if noise:
            g = g + noise * rng.standard_normal(2)
        p.grad = g
        opt.step()
        path.append(p.data.copy())
        gs.append(g)
        r = float(np.hypot(*p.data))
        if not np.all(np.isfinite(p.data)) or r > 1e6 or (radius is not None and r > radius):
            stopped = t
            break
    path = np.array(path)
    return {"path": path, "f": np.array([f(q) for q in path]), "grads": np.array(gs), "stopped": stopped}


# -- measurements ---------------------------------------------------------------------------------------------------
def sign_changes(values, floor: float) -> int:
    """Sign changes of a coordinate along a path, counted while it is above ``floor`` in size (below it the
    coordinate no longer matters to f)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.abs(v) > floor]
    return int(np.sum(np.sign(v[1:]) != np.sign(v[:-1])))


def overshoot(values, target: float, start: float) -> float:
    """How far a coordinate goes past ``target`` on the far side from ``start`` (0 if never)."""
    v = (np.asarray(values, dtype=np.float64) - target) * np.sign(target - start)
    return float(max(0.0, v.max()))


def effective_lrs(path, grads) -> np.ndarray:
    """|Δθ_t| / |g_t| per step (the step actually taken per unit of gradient)."""
    d = np.linalg.norm(np.diff(np.asarray(path), axis=0), axis=1)
    g = np.linalg.norm(np.asarray(grads), axis=1)
    n = min(len(d), len(g))
    return d[:n] / np.maximum(g[:n], 1e-300)


def steps_to_tol(fvals, tol: float) -> int | None:
    below = np.nonzero(np.asarray(fvals) <= tol)[0]
    return int(below[0]) if below.size else None


# -- verdicts -------------------------------------------------------------------------------------------------------
def check_zigzag(gd_changes: int, momentum_changes: int, momentum_diverged: bool = False) -> bool:
    """1a: momentum zig-zags less — strictly fewer sign changes across the valley than plain GD at the same η
    (a diverged momentum run never counts)."""
    return bool(not momentum_diverged and momentum_changes < gd_changes)


def check_faster(r: dict) -> bool:
    """1b: momentum moves faster along the valley — the lab's "much faster" (stats.much_faster) on f."""
    return much_faster_holds(r["steps_fast"], r["steps_slow"], r["diverged"], r["ends_above"])


def check_overshoot(nesterov: float, momentum: float, nesterov_diverged: bool = False) -> bool:
    """1c: Nesterov overshoots the minimum along the valley strictly less than plain momentum (same η, β); a
    diverged Nesterov run overshoots without bound and never counts."""
    return bool(not nesterov_diverged and nesterov < momentum)


def check_adaptive_step(ratios, max_ratio: float = ADAPTIVE_MAX_RATIO) -> bool:
    """1d: every ratio (eff. lr of the large-gradient coordinate / the small one's, at step 1) ≤ ``max_ratio``."""
    r = list(ratios)
    return bool(r) and all(x <= max_ratio for x in r)


def check_decays(ratio: float, fraction: float = DECAY_FRACTION) -> bool:
    """1e: the effective step (end / start) fell to at most ``fraction``."""
    return bool(ratio <= fraction)


def check_not_decays(ratio: float, fraction: float = DECAY_FRACTION) -> bool:
    """1e, the other side: the effective step (end / start) stays above ``fraction``."""
    return bool(ratio > fraction)


def check_escape_faster(gd_steps: int | None, steps, budget: int, k: float = NOISE_SE) -> bool:
    """1f: the method leaves the radius in fewer steps than plain GD (never = budget + 1): with several seeds, the
    mean plus ``k`` standard errors is below GD's; with one run, strictly fewer."""
    gd = budget + 1 if gd_steps is None else gd_steps
    s = [budget + 1 if x is None else x for x in steps]
    m, se = mean_se(s)
    return bool(s) and bool((m + k * se if math.isfinite(se) else m) < gd)


def check_stuck(steps: int | None) -> bool:
    """1g: plain GD started exactly at the saddle point never leaves it."""
    return steps is None


def verdicts(rec: dict) -> dict[str, bool]:
    """Every claim's verdict from the stored records."""
    out = {}
    for z in rec["zigzag"]:
        out[f"1a (η={z['lr']:g})"] = check_zigzag(z["gd_changes"], z["momentum_changes"], z["momentum_diverged"])
    out["1b"] = check_faster(rec["faster"][0])
    for lr in sorted({r["lr"] for r in rec["overshoot"]}, reverse=True):
        o = {r["optimiser"]: r for r in rec["overshoot"] if r["lr"] == lr}
        out[f"1c (η={lr:g})"] = check_overshoot(o["Nesterov"]["overshoot"], o["momentum"]["overshoot"],
                                                o["Nesterov"]["diverged"])
    a = {r["optimiser"]: r["ratio"] for r in rec["adaptive"]}
    out["1d"] = check_adaptive_step([a[k] for k in ADAPTIVE])
    out["1d (SGD)"] = check_adaptive_step([a["SGD"]])
    for r in rec["effective_lr"]:
        cid = f"1e ({r['optimiser']}, noise {r['noise']:g})"
        out[cid] = check_decays(r["ratio"]) if r["optimiser"] == "AdaGrad" else check_not_decays(r["ratio"])
    sd = rec["saddle"]
    budget = sd[0]["budget"]
    gd = [r["steps"] for r in sd if r["method"] == "GD"][0]
    for m in ("momentum", "noise"):
        out[f"1f ({m})"] = check_escape_faster(gd, [r["steps"] for r in sd if r["method"] == m], budget)
    out["1g"] = check_stuck([r["steps"] for r in sd if r["method"] == "GD at the saddle point"][0])
    return out


# -- the experiment -------------------------------------------------------------------------------------------------
@dataclass
class TrajectoriesConfig:
    """Budgets: ``steps`` per surface for the trajectories; ``lr_steps`` for the effective-step runs (with noise
    std ``noise`` on every gradient coordinate); ``saddle_steps`` and ``seeds`` noisy runs (noise std
    ``saddle_noise``) for the saddle, escape radius ``radius``; ``zigzag_lrs``: the η of claim 1a (GD's
    stability limit on the quadratic is 2/κ = 0.04); ``overshoot_lrs``: the η of claim 1c."""

    steps: tuple[int, ...] = (500, 5000, 1500)  # quadratic, rosenbrock, saddle
    lr_steps: int = 5000
    noise: float = 1.0
    saddle_steps: int = 3000
    saddle_noise: float = 0.1
    seeds: int = 5
    radius: float = 1.0
    zigzag_lrs: tuple[float, ...] = (0.035, 0.039)
    #: claim 1c's η: the runs' η, and 1/κ = 0.02, inside Nesterov's stability limit on the quadratic
    #: (ηκ < 2(1 + β)/(1 + 2β) ≈ 1.36 for β = 0.9, i.e. η < 0.027)
    overshoot_lrs: tuple[float, ...] = (0.035, 0.02)
    tol: tuple[float, ...] = (1e-6, 1e-4)  # steps-to-tolerance on f for quadratic, rosenbrock
    QUICK: ClassVar[dict] = {"steps": (300, 1500, 800), "lr_steps": 1000, "saddle_steps": 1500, "seeds": 3}


def _path_figure(surface: str, runs: dict, title: str):
    f, _, s0, mn, (x0, x1, y0, y1) = SURFACES[surface]
    xs, ys = np.meshgrid(np.linspace(x0, x1, 160), np.linspace(y0, y1, 160))
    zs = f(np.stack([xs, ys]))
    if surface == "rosenbrock":
        zs = np.log10(zs + 1e-3)
    fig, axes = figures.new_figure(2, 5, panel=(2.2, 1.8), title=title)
    for ax, (label, r) in zip(axes.flat, runs.items()):
        ax.contour(xs, ys, zs, levels=20, linewidths=0.4, cmap="viridis")
        p = r["path"]
        ax.plot(p[:, 0], p[:, 1], "-", color="crimson", lw=0.8)
        ax.plot(*s0, "ko", ms=3)
        if mn is not None:
            ax.plot(*mn, "k*", ms=5)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        gone = r["stopped"] is not None and surface != "saddle"
        ax.set_title(f"{label} (η={r['lr']:g})" + (f" DIVERGED at step {r['stopped']}" if gone else ""), fontsize=7)
    return fig


@experiment("trajectories", order=25, topic="optimisation",
            summary="optimiser paths on an ill-conditioned quadratic, Rosenbrock and a saddle: momentum's zig-zag, "
                    "Nesterov's overshoot, adaptive per-coordinate steps, AdaGrad's decay, saddle escape "
                    "(issue 12, point 1)")
def run(config: TrajectoriesConfig, ctx: Context) -> Result:
    """Seed 002: the ten optimisers of layerlab.optim on three 2-D surfaces, and the measurements of the claims."""
    if len(config.steps) != 3 or len(config.tol) != 2:
        raise ValueError(f"trajectories: steps needs 3 budgets (quadratic, rosenbrock, saddle), got {config.steps}; "
                         f"tol needs 2 (quadratic, rosenbrock), got {config.tol}")
    budgets = dict(zip(SURFACES, config.steps))
    tols = {"quadratic": config.tol[0], "rosenbrock": config.tol[1]}
    table, runs = [], {}
    items = [(surface, label) for surface in SURFACES for label in OPTIMISERS]
    paths = dict(zip(items, ctx.map(lambda it: optimise(it[0], it[1], LRS[it[0]][it[1]], budgets[it[0]],
                                                        radius=config.radius if it[0] == "saddle" else None),
                                    items, label="paths")))
    for surface in SURFACES:
        runs[surface] = {}
        for label in OPTIMISERS:
            lr = LRS[surface][label]
            r = paths[surface, label]
            r["lr"] = lr
            runs[surface][label] = r
            row = {"surface": surface, "optimiser": label, "lr": lr, "steps run": len(r["path"]) - 1,
                   "final f": float(r["f"][-1])}
            if surface == "saddle":
                row["steps to leave r"] = r["stopped"]
            else:
                row[f"steps to f ≤ tol"] = steps_to_tol(r["f"], tols[surface])
                row["diverged"] = r["stopped"] is not None
            table.append(row)
        ctx.savefig(_path_figure(surface, runs[surface], f"{surface}: paths of the ten optimisers"), surface,
                    caption=f"{surface}: each optimiser's path over the contours (start ●, minimum ★)")

    q = "quadratic"
    qs = SURFACES[q][2]
    # 1a: zig-zag across the valley (y), counted while |y| matters to f at the tolerance: ½κy² > tol
    floor = math.sqrt(2 * tols[q] / KAPPA)
    zig = []
    for lr in config.zigzag_lrs:
        gd = optimise(q, "SGD", lr, budgets[q])
        mo = optimise(q, "momentum", lr, budgets[q])
        zig.append({"lr": lr, "beta": 0.9, "floor": floor, "gd_changes": sign_changes(gd["path"][:, 1], floor),
                    "momentum_changes": sign_changes(mo["path"][:, 1], floor),
                    "momentum_diverged": mo["stopped"] is not None})
    # 1b: along the valley: f curves of GD and momentum at the quadratic's η
    mf = much_faster(runs[q]["momentum"]["f"], runs[q]["SGD"]["f"], window=1)
    faster = [{k: mf[k] for k in ("level", "steps_fast", "steps_slow", "ratio", "diverged", "ends_above")}]
    # 1c: overshoot past the minimum along the valley (x)
    over = []
    for lr in config.overshoot_lrs:
        for k in ("momentum", "Nesterov"):
            r = optimise(q, k, lr, budgets[q])
            over.append({"optimiser": k, "lr": lr, "overshoot": overshoot(r["path"][:, 0], 0.0, qs[0]),
                         "diverged": r["stopped"] is not None, "steps run": len(r["path"]) - 1})
    # 1d: per-coordinate effective step at step 1: the large-gradient coordinate's over the small one's
    g1 = np.abs(SURFACES[q][1](np.array(qs)))
    big, small = int(np.argmax(g1)), int(np.argmin(g1))
    adaptive = []
    for k in ("SGD",) + ADAPTIVE:
        d = np.abs(runs[q][k]["path"][1] - runs[q][k]["path"][0])
        eff = d / g1
        adaptive.append({"optimiser": k, "lr": LRS[q][k], "eff_large": float(eff[big]), "eff_small": float(eff[small]),
                         "ratio": float(eff[big] / eff[small])})
    # 1e: effective step over a long run, with and without gradient noise
    eff_rows, eff_curves = [], {}
    long_items = [(noise, k) for noise in (config.noise, 0.0) for k in ("AdaGrad", "RMSProp", "Adam")
                  if noise != 0.0 or k == "AdaGrad"]
    long_runs = ctx.map(lambda it: optimise(q, it[1], LRS[q][it[1]], config.lr_steps, noise=it[0],
                                            rng=ctx.rng_for("lr noise", it[1])), long_items, label="long runs")
    for (noise, k), r in zip(long_items, long_runs):
        e = effective_lrs(r["path"], r["grads"])
        w = max(1, len(e) // 10)
        start, end = float(e[:w].mean()), float(e[-w:].mean())
        eff_rows.append({"optimiser": k, "lr": LRS[q][k], "noise": noise, "steps": len(e), "eff_start": start,
                         "eff_end": end, "ratio": end / start})
        eff_curves[f"{k}, noise {noise:g}"] = e
    fig = figures.loss_curves(eff_curves, logy=True, ylabel="|Δθ| / |g|",
                              title="effective step on the quadratic")
    ctx.savefig(fig, "effective_lr", caption="effective step |Δθ|/|g| per step on the quadratic, with gradient "
                                             f"noise (std {config.noise:g}) and without (AdaGrad)")
    # 1f, 1g: saddle escape
    saddle, esc = [], {}
    lr_s = LRS["saddle"]["SGD"]
    for method, label, noise, start, seeds in (("GD", "SGD", 0.0, None, 1), ("momentum", "momentum", 0.0, None, 1),
                                               ("noise", "SGD", config.saddle_noise, None, config.seeds),
                                               ("GD at the saddle point", "SGD", 0.0, (0.0, 0.0), 1)):
        for s in range(seeds):
            r = optimise("saddle", label, lr_s, config.saddle_steps, start=start, noise=noise,
                         rng=ctx.rng_for("saddle", s), radius=config.radius)
            saddle.append({"method": method, "seed": s, "lr": lr_s, "noise": noise, "steps": r["stopped"],
                           "budget": config.saddle_steps})
            esc[f"{method}" + (f" seed {s}" if seeds > 1 else "")] = np.maximum(np.abs(r["path"][:, 1]), 1e-7)
    fig = figures.loss_curves(esc, logy=True, ylabel="|y| (across the saddle)",
                              title=f"saddle x² − y²: leaving radius {config.radius:g}")
    ctx.savefig(fig, "saddle_escape", caption="|y| per step from near the saddle point: plain GD, momentum, GD "
                                              "with gradient noise, and GD started exactly at the saddle point "
                                              "(|y| = 0 drawn at 1e-7)")

    rec = {"runs": table, "zigzag": zig, "faster": faster, "overshoot": over, "adaptive": adaptive,
           "effective_lr": eff_rows, "saddle": saddle}
    v = verdicts(rec)
    qcond = f"f = ½(x² + {KAPPA:g}y²) from {qs}, float64, {budgets[q]} steps"
    claims = []
    for z in zig:
        claims.append(Claim(f"1a (η={z['lr']:g})", "momentum \"helps when there is a lot of 'zig-zag' but the "
                            "descent heads in a certain direction\": fewer sign changes across the valley",
                            v[f"1a (η={z['lr']:g})"],
                            f"sign changes of y: GD {z['gd_changes']}, momentum {z['momentum_changes']} (counted "
                            f"while |y| > {floor:.1e}; threshold: momentum strictly fewer)",
                            qcond + f"; η = {z['lr']:g} for both, β = 0.9", "quadratic"))
    claims.append(Claim("1b", "momentum, a moving-average \"velocity\", moves faster along the valley",
                        v["1b"], f"steps to GD's final f ({mf['level']:.2e}): momentum {mf['steps_fast']}, GD "
                                 f"{mf['steps_slow']} (×{mf['ratio']:.1f}; the lab's 'much faster' = ×2 or more)",
                        qcond + f"; η = {LRS[q]['SGD']:g}, β = 0.9", "quadratic"))
    for lr in config.overshoot_lrs:
        o = {r["optimiser"]: r for r in over if r["lr"] == lr}
        nd = o["Nesterov"]["diverged"]
        claims.append(Claim(f"1c (η={lr:g})", "\"Nesterov-momentum is similar to momentum with some scout ahead\": "
                            "it overshoots the minimum less than plain momentum", v[f"1c (η={lr:g})"],
                            f"largest overshoot past x* = 0 along the valley: Nesterov {o['Nesterov']['overshoot']:.3f}"
                            + (f" (DIVERGED across the valley at step {o['Nesterov']['steps run']})" if nd else "")
                            + f", momentum {o['momentum']['overshoot']:.3f}"
                            + (" (diverged)" if o["momentum"]["diverged"] else "")
                            + " (threshold: Nesterov strictly less and not diverged)",
                            f"f = ½(x² + {KAPPA:g}y²) from {qs}, float64, {budgets[q]} steps; η = {lr:g}, β = 0.9 "
                            f"for both (Nesterov's stability limit here: η < 0.027)", "quadratic"))
    a = {r["optimiser"]: r["ratio"] for r in adaptive}
    claims.append(Claim("1d", "adaptive methods: \"parameters with large partial derivatives\" get a smaller step "
                        "(AdaGrad, RMSProp, AdaDelta, Adam, AdaMax, NAdam, AdamW)", v["1d"],
                        "eff. lr of y (|g| = 50) / eff. lr of x (|g| = 4) at step 1: "
                        + ", ".join(f"{k} {a[k]:.3f}" for k in ADAPTIVE) + f" (threshold ≤ {ADAPTIVE_MAX_RATIO})",
                        qcond + "; η per optimiser as in the runs table", "quadratic"))
    claims.append(Claim("1d (SGD)", "the same per-coordinate scaling with plain SGD (the control: it has one "
                        "learning rate for every parameter)", v["1d (SGD)"],
                        f"ratio {a['SGD']:.3f} (threshold ≤ {ADAPTIVE_MAX_RATIO})", qcond + f"; η = {LRS[q]['SGD']:g}",
                        "quadratic"))
    for r in eff_rows:
        cid = f"1e ({r['optimiser']}, noise {r['noise']:g})"
        text = ("AdaGrad's effective step decays toward 0" if r["optimiser"] == "AdaGrad"
                else f"{r['optimiser']}'s effective step does not decay (its average forgets old gradients)")
        claims.append(Claim(cid, text + " (issue 12; not in the notes)", v[cid],
                            f"mean |Δθ|/|g| over the last tenth / the first tenth: {r['ratio']:.3f} "
                            f"({r['eff_start']:.3g} → {r['eff_end']:.3g}; threshold "
                            f"{'≤' if r['optimiser'] == 'AdaGrad' else '>'} {DECAY_FRACTION})",
                            f"quadratic, {r['steps']} steps, η = {r['lr']:g}, gradient noise std {r['noise']:g} "
                            "per coordinate" + (" (deterministic gradients)" if r["noise"] == 0 else ""),
                            "effective_lr"))
    gd_steps = [r["steps"] for r in saddle if r["method"] == "GD"][0]
    for m in ("momentum", "noise"):
        st = [r["steps"] for r in saddle if r["method"] == m]
        shown = [config.saddle_steps + 1 if x is None else x for x in st]
        claims.append(Claim(f"1f ({m})", f"plain GD escapes a saddle slowly; {m} speeds it up (issue 12; not in the "
                            "notes)", v[f"1f ({m})"],
                            f"steps to leave r = {config.radius:g}: GD {gd_steps}, {m} "
                            + (f"{mean_se(shown)[0]:.0f} ± {mean_se(shown)[1]:.0f} over {len(st)} seeds"
                               if len(st) > 1 else f"{st[0]}")
                            + (f" (threshold: mean + {NOISE_SE:g} SE below GD's)" if len(st) > 1
                               else " (threshold: fewer)"),
                            f"f = x² − y² from {SURFACES['saddle'][2]}, η = {lr_s:g}"
                            + (", β = 0.9" if m == "momentum" else f", gradient noise std {config.saddle_noise:g}")
                            + f", budget {config.saddle_steps} steps", "saddle_escape"))
    gs = [r["steps"] for r in saddle if r["method"] == "GD at the saddle point"][0]
    claims.append(Claim("1g", "plain GD started exactly at the saddle point never leaves it (zero gradient)",
                        v["1g"], f"steps to leave: {gs} (budget {config.saddle_steps})",
                        f"f = x² − y² from (0, 0), η = {lr_s:g}, no noise", "saddle_escape"))
    notes = ("Momentum and Nesterov are torch's form (buffer b ← βb + g, θ ← θ − ηb), the same path as the notes' "
             "velocity form at constant η. η per surface and optimiser are fixed in LRS before any run. The saddle "
             "and AdaGrad-decay claims are issue 12's, not the notes'.")
    return Result(claims=claims, records=rec, notes=notes)
