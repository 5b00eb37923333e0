"""Seed 002, "Gradient Descent Strategy — Normalization": standardised inputs and the path of the descent (issue 12,
point 4).

The notes: "Normalizing features is a way to make the descent smoother. It essentially lowers the changes in
direction orthogonal to the minima." (with Géron's figure of gradient descent on unscaled and scaled features).

(a) The 2-D case, where everything is analytic. Two pixel-like features in [0, 1] with non-zero means and
different spreads (x₁ ~ N(0.6, 0.3²), x₂ ~ N(0.2, 0.05²), clipped to [0, 1]), a target y = 2x₁ − 3x₂ + 0.5 +
N(0, 0.1²), and the least-squares model ŷ = w₁x₁ + w₂x₂ + b with loss ½·mean (ŷ − y)². The bias is a third
parameter trained with the weights (it is part of what GD sees: the Hessian is H = ÃᵀÃ/n with Ã = [x₁, x₂, 1],
so non-zero means couple the weights with the bias); the contours are drawn over (w₁, w₂) through the minimum
(b = b*), with the (w₁, w₂) part of the GD path. The same data standardised (each feature minus its mean,
divided by its standard deviation, over the dataset) is the other case. Measured per case: the eigenvalues of H
and its condition number κ = λmax/λmin; plain GD from θ = 0 until the excess loss L − L* is at most ``tol`` of
its start, at each case's own step size under two rules fixed in advance — η* = 2/(λmax + λmin) (the constant
step with the fastest worst-case contraction, (κ−1)/(κ+1) per step) and η = 1/L = 1/λmax (the textbook safe
step) — the number of steps (and the bound ⌈ln(1/tol) / (2 ln(1/ρ))⌉, ρ = max |1 − ηλᵢ|), the mean cosine
between successive updates (a zig-zag has negative cosines), and the straightness of the path, |θ_T − θ₀| /
Σ|Δθ_t| (1: a straight line to the minimum; small: most of the way is spent on detours across the valley — the
notes' "changes in direction orthogonal to the minima"). ``datasets`` datasets; the verdicts hold on every one.

(b) The notes' network (784-500-500-500-10 tanh, ``lecun_normal``, cross-entropy, plain SGD, batch 256) on
Fashion-MNIST inputs in [0, 1] vs the same inputs standardised per feature (pixel): z = (x − μ_j) / max(σ_j,
``sigma_floor``), μ_j, σ_j over the 60,000 training images. The floor 0.05 (a twentieth of the pixel range) is
there because 11 border pixels have σ_j < 0.01 (the smallest 0.0004): without it a rare faint pixel there
becomes |z| ≈ 185, with it |z| ≤ 20. (The lab's shared ``fashion(standardize=True)`` uses one global mean and
std instead, which leaves the per-pixel means non-zero.) Both inputs at the same η, each of ``seeds`` seeds with
the same initial weights and the same mini-batches for both inputs. Measured: the mean cosine between successive
parameter updates, flattened over all parameters (for plain SGD Δθ_t = −η g_t, so it is the cosine between
successive mini-batch gradients), and the mean mini-batch loss of the last ``tail`` iterations; the verdicts are
paired over seeds, "beyond the noise" = mean difference > NOISE_SE standard errors (``stats.paired_lead``). At the
main η = 0.1 (the lab's η for this net on [0, 1] inputs: the notes' 0.5 diverges there, CLAIMS.md) and at a
5× smaller η = 0.02, each its own row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import layerlab as ll
from layerlab import nn, optim
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import MUCH_FASTER, NOISE_SE, format_lead, format_mean_se, paired_lead, running_mean, \
    speedup, tail_mean
from layerlab.lab.training import fashion, mlp

__all__ = [
    "InputNormConfig", "run_input_norm", "make_features", "standardise", "hessian", "gd_path", "path_measures",
    "steps_bound", "check_quad_faster", "check_quad_smoother", "check_quad_straighter", "check_mlp_smoother",
    "check_mlp_lower", "mlp_pairs", "pixel_stats", "train_mlp", "RULES", "RAW", "STANDARDISED", "SIGMA_FLOOR", "MUCH_FASTER", "NOISE_SE",
]

RAW = "raw"
STANDARDISED = "standardised"
#: the two step-size rules of part (a), each case at its own η: the optimal constant step and 1/L
RULES = ("2/(λmax+λmin)", "1/λmax")
#: per-feature standardisation of the pixels: σ_j floored here (see the module docstring)
SIGMA_FLOOR = 0.05
#: 29a "standardising speeds up the descent": GD on the raw features needs ≥ MUCH_FASTER × the steps of GD on the
#: standardised ones to reach the tolerance, (steps_raw + 1)/(steps_std + 1) as stats.speedup — on every dataset
#: under both step-size rules (the lab's one definition of "much faster": steps to a fixed target)
#: 29b/29c "smoother": the raw path zig-zags (its mean cosine between successive updates < 0: its updates reverse
#: on average) and the standardised path's mean cosine is higher, on every dataset — at η* (29b) and at 1/L (29c)
#: 29d "lowers the changes in direction orthogonal to the minima": the standardised path is straighter
#: (|θ_T − θ₀| / Σ|Δθ_t| higher) on every dataset under both rules
#: 29e–h (the MLP): "smoother" = the mean cosine between successive updates is higher with standardised inputs
#: beyond the noise (paired over seeds, stats.paired_lead with NOISE_SE); "lower loss" = the mean mini-batch loss
#: of the last ``tail`` iterations is lower beyond the noise; a diverged run of either input fails the row


# -- part (a): the 2-D least-squares problem ------------------------------------------------------------------------
def make_features(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two pixel-like features (N(0.6, 0.3²) and N(0.2, 0.05²), clipped to [0, 1]) and y = 2x₁ − 3x₂ + 0.5 +
    N(0, 0.1²): (x of shape (n, 2), y)."""
    x = np.stack([np.clip(rng.normal(0.6, 0.3, n), 0.0, 1.0), np.clip(rng.normal(0.2, 0.05, n), 0.0, 1.0)], axis=1)
    y = 2.0 * x[:, 0] - 3.0 * x[:, 1] + 0.5 + 0.1 * rng.standard_normal(n)
    return x, y


def standardise(x: np.ndarray, mean=None, std=None, floor: float = 0.0) -> np.ndarray:
    """(x − mean) / max(std, floor) per feature (column); mean and std of ``x`` itself by default."""
    mean = x.mean(axis=0) if mean is None else mean
    std = x.std(axis=0) if std is None else std
    return (x - mean) / np.maximum(std, floor)


def _design(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x, np.ones((len(x), 1))], axis=1)


def hessian(x: np.ndarray) -> np.ndarray:
    """The Hessian of ½·mean (w·x + b − y)² over (w₁, …, b): ÃᵀÃ/n with Ã = [x, 1] (it does not depend on y)."""
    a = _design(x)
    return a.T @ a / len(a)


def _loss(a, y, th):
    r = a @ th - y
    return 0.5 * float(np.mean(r * r))


def gd_path(x: np.ndarray, y: np.ndarray, lr: float, tol: float, max_steps: int) -> dict:
    """Plain GD on ½·mean (w·x + b − y)² from θ = 0 until L − L* ≤ ``tol``·(L₀ − L*) (or ``max_steps``).
    Returns the path (steps+1 × 3: w₁, w₂, b), the excess losses along it, θ*, and ``steps`` (None if the
    tolerance was not reached; a non-finite loss stops the run)."""
    a = _design(x)
    theta_star = np.linalg.solve(a.T @ a, a.T @ y)
    l_star = _loss(a, y, theta_star)
    th = np.zeros(a.shape[1])
    excess = [_loss(a, y, th) - l_star]
    path = [th.copy()]
    target = tol * excess[0]
    steps = 0 if excess[0] <= target else None
    n = len(a)
    for t in range(1, max_steps + 1):
        if steps is not None:
            break
        th = th - lr * (a.T @ (a @ th - y)) / n
        path.append(th.copy())
        excess.append(_loss(a, y, th) - l_star)
        if not math.isfinite(excess[-1]):
            break
        if excess[-1] <= target:
            steps = t
    return {"path": np.array(path), "excess": np.array(excess), "theta_star": theta_star, "steps": steps}


def path_measures(path) -> dict:
    """The cosines between successive updates Δθ_t = θ_{t+1} − θ_t and their mean — 1 for a path of one update
    (it never changes direction: GD that lands on the minimum in one step), NaN with no update — and the
    straightness |θ_T − θ₀| / Σ|Δθ_t| (NaN with no update)."""
    p = np.asarray(path, dtype=np.float64)
    d = np.diff(p, axis=0)
    norms = np.linalg.norm(d, axis=1)
    with np.errstate(all="ignore"):
        cos = np.sum(d[1:] * d[:-1], axis=1) / (norms[1:] * norms[:-1])
    length = float(norms.sum())
    mean = float(cos.mean()) if cos.size else 1.0 if len(d) == 1 else math.nan
    return {"cos": cos, "mean_cos": mean,
            "straightness": float(np.linalg.norm(p[-1] - p[0]) / length) if length > 0 else math.nan}


def steps_bound(eigenvalues, lr: float, tol: float) -> float:
    """GD's worst case on a quadratic: the excess loss shrinks by at least ρ² per step, ρ = max |1 − ηλᵢ|, so it
    is within ``tol`` after ⌈ln(1/tol) / (2 ln(1/ρ))⌉ steps (inf when ρ ≥ 1)."""
    rho = float(np.max(np.abs(1.0 - lr * np.asarray(eigenvalues, dtype=np.float64))))
    if rho >= 1.0:
        return math.inf
    if rho == 0.0:
        return 1.0
    return float(math.ceil(math.log(1.0 / tol) / (2.0 * math.log(1.0 / rho))))


def _quad(records, inputs=None, rule=None):
    return [r for r in records if r.get("part") == "quad" and (inputs is None or r["inputs"] == inputs)
            and (rule is None or r["rule"] == rule)]


def _quad_pairs(records, rule):
    """{dataset: (raw record, standardised record)} under one rule (datasets with both only)."""
    raw = {r["dataset"]: r for r in _quad(records, RAW, rule)}
    std = {r["dataset"]: r for r in _quad(records, STANDARDISED, rule)}
    return {d: (raw[d], std[d]) for d in sorted(raw) if d in std}


def check_quad_faster(records, rules=RULES, factor: float = MUCH_FASTER) -> tuple[bool, dict[str, list[float]]]:
    """29a: on every dataset and under every rule, (steps_raw + 1) / (steps_std + 1) ≥ ``factor`` (stats.speedup:
    0 when the standardised run never reached the tolerance, inf when only it did). Returns (holds, {rule:
    ratios per dataset})."""
    out, ok = {}, True
    for rule in rules:
        pairs = _quad_pairs(records, rule)
        out[rule] = [speedup(s["steps"], r["steps"]) for r, s in pairs.values()]
        ok &= bool(out[rule]) and all(v >= factor for v in out[rule])
    return bool(ok), out


def check_quad_smoother(records, rule) -> tuple[bool, list[tuple[float, float]]]:
    """29b/29c: on every dataset, the raw path's mean cosine between successive updates is < 0 (a zig-zag) and
    the standardised path's is higher (a NaN fails). Returns (holds, [(raw, standardised) per dataset])."""
    pairs = _quad_pairs(records, rule)
    vals = [(float(r["mean_cos"]), float(s["mean_cos"])) for r, s in pairs.values()]
    return bool(vals) and all(a < 0.0 and b > a for a, b in vals), vals


def check_quad_straighter(records, rules=RULES) -> tuple[bool, dict[str, list[tuple[float, float]]]]:
    """29d: on every dataset and under every rule, the standardised path is straighter than the raw one (a NaN
    fails). Returns (holds, {rule: [(raw, standardised) per dataset]})."""
    out, ok = {}, True
    for rule in rules:
        out[rule] = [(float(r["straightness"]), float(s["straightness"])) for r, s in _quad_pairs(records, rule).values()]
        ok &= bool(out[rule]) and all(b > a for a, b in out[rule])
    return bool(ok), out


# -- part (b): the MLP ----------------------------------------------------------------------------------------------
def pixel_stats(x: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation (population) of ``x``, the latter floored at ``floor``, as float32
    (sums of x and x² per column, accumulated in float64: one pass each, no copy of ``x``)."""
    n = len(x)
    mean = np.einsum("ij->j", x, dtype=np.float64) / n
    var = np.maximum(np.einsum("ij,ij->j", x, x, dtype=np.float64) / n - mean * mean, 0.0)
    return mean.astype(np.float32), np.maximum(np.sqrt(var), floor).astype(np.float32)


def mlp_pairs(records, lr: float, key: str) -> tuple[list[float], list[float], bool]:
    """(raw values, standardised values) of ``key`` per seed (seeds with both runs, in seed order) at η = ``lr``,
    and whether any of those runs diverged."""
    rs = [r for r in records if r.get("part") == "mlp" and float(r["lr"]) == float(lr)]
    raw = {int(r["seed"]): r for r in rs if r["inputs"] == RAW}
    std = {int(r["seed"]): r for r in rs if r["inputs"] == STANDARDISED}
    seeds = sorted(set(raw) & set(std))
    diverged = any(raw[s]["diverged"] is not None or std[s]["diverged"] is not None for s in seeds)
    return [float(raw[s][key]) for s in seeds], [float(std[s][key]) for s in seeds], diverged


def check_mlp_smoother(records, lr: float, k: float = NOISE_SE) -> tuple[bool, dict]:
    """29e/29g: the mean cosine between successive updates is higher with standardised inputs beyond the noise
    (paired over seeds; no run diverged). Returns (holds, the paired lead of standardised over raw in cosine)."""
    raw, std, diverged = mlp_pairs(records, lr, "mean_cos")
    if not raw:
        return False, {}
    lead = paired_lead([-v for v in std], [-v for v in raw], k)  # higher cosine = "ahead"
    return bool(lead["beyond"] and not diverged), lead


def check_mlp_lower(records, lr: float, k: float = NOISE_SE) -> tuple[bool, dict]:
    """29f/29h: the tail mini-batch loss is lower with standardised inputs beyond the noise (paired over seeds;
    no run diverged). Returns (holds, the paired lead)."""
    raw, std, diverged = mlp_pairs(records, lr, "tail_loss")
    if not raw:
        return False, {}
    lead = paired_lead(std, raw, k)
    return bool(lead["beyond"] and not diverged), lead


def train_mlp(model, x, y, idx_batches, lr: float, transform=None) -> dict:
    """Plain SGD over the given mini-batches (index arrays into ``x``), inputs passed through ``transform``.
    Returns per-step losses, the cosines between successive gradients (= successive updates −η g), and
    ``diverged`` (the step whose loss or gradient was not finite; the run stops there, that update not applied)."""
    loss_fn = nn.CrossEntropyLoss()
    params = list(model.parameters())
    opt = optim.SGD(params, lr=lr)
    losses, cos, prev, diverged = [], [], None, None
    for t, idx in enumerate(idx_batches):
        xb = x[idx] if transform is None else transform(x[idx])
        with np.errstate(all="ignore"):
            loss = loss_fn(model(ll.Tensor(xb)), y[idx])
            value = float(loss.item())
            opt.zero_grad()
            loss.backward()
            g = np.concatenate([p.grad.ravel() for p in params]).astype(np.float64)
            gg = float(g @ g)
        if not (math.isfinite(value) and math.isfinite(gg)):
            diverged = t
            losses.append(math.nan)
            break
        losses.append(value)
        if prev is not None:
            denom = math.sqrt(gg * float(prev @ prev))
            cos.append(float(g @ prev) / denom if denom > 0 else math.nan)
        prev = g
        opt.step()
    return {"losses": losses, "cos": cos, "diverged": diverged}


# -- the experiment -------------------------------------------------------------------------------------------------
@dataclass
class InputNormConfig:
    """(a) ``datasets`` datasets of ``n_points`` points, GD to ``tol`` (at most ``max_steps`` steps). (b) the net
    784 → ``hidden`` → 10 tanh, plain SGD at each η in ``lrs`` (the first is the main one), batch ``batch_size``,
    ``iterations`` steps, ``seeds`` seeds; the loss verdict on the mean of the last ``tail`` mini-batch losses;
    per-pixel σ floored at ``sigma_floor``."""

    n_points: int = 200
    datasets: int = 5
    tol: float = 1e-6
    max_steps: int = 200_000
    hidden: tuple[int, ...] = (500, 500, 500)
    lrs: tuple[float, ...] = (0.1, 0.02)
    batch_size: int = 256
    iterations: int = 100
    seeds: int = 3
    tail: int = 20
    sigma_floor: float = SIGMA_FLOOR
    QUICK: ClassVar[dict] = {"datasets": 2, "hidden": (32,), "iterations": 30, "tail": 10}


@experiment("input_normalisation", topic="optimisation", order=29,
            summary="standardised inputs: a 2-D least-squares problem (κ, steps, zig-zag, straightness at each "
                    "case's own η) and the notes' tanh net on raw vs per-pixel standardised Fashion-MNIST "
                    "(successive-update cosine, loss) (claims 29a–29h)")
def run_input_norm(config: InputNormConfig, ctx: Context) -> Result:
    if config.tail > config.iterations:
        raise ValueError(f"input_normalisation: tail ({config.tail}) exceeds iterations ({config.iterations})")
    # -- (a) --------------------------------------------------------------------------------------------------------
    def quad(item):  # one dataset, raw or standardised: GD under both step-size rules
        d, inputs = item
        x, y = make_features(ctx.rng_for("features", d), config.n_points)
        xx = x if inputs == RAW else standardise(x)
        ev = np.linalg.eigvalsh(hessian(xx))
        lo, hi = float(ev[0]), float(ev[-1])
        out = []
        for rule, lr in zip(RULES, (2.0 / (lo + hi), 1.0 / hi)):
            r = gd_path(xx, y, lr, config.tol, config.max_steps)
            m = path_measures(r["path"])  # the path stops where the tolerance is reached
            out.append(({"part": "quad", "dataset": d, "inputs": inputs, "rule": rule, "lr": lr,
                         "eigenvalues": [float(v) for v in ev], "kappa": hi / lo, "steps": r["steps"],
                         "bound": steps_bound(ev, lr, config.tol), "mean_cos": m["mean_cos"],
                         "straightness": m["straightness"], "feature_means": [float(v) for v in xx.mean(0)],
                         "feature_stds": [float(v) for v in xx.std(0)]},
                        (xx, y, r, m) if d == 0 else None))
        return out

    items = [(d, inputs) for d in range(config.datasets) for inputs in (RAW, STANDARDISED)]
    records: list[dict] = []
    shown = {}
    for (d, inputs), out in zip(items, ctx.map(quad, items, label="gradient descent paths")):
        for rule, (rec, path) in zip(RULES, out):
            records.append(rec)
            if path is not None:
                shown[inputs, rule] = path
    # -- (b) --------------------------------------------------------------------------------------------------------
    (x, y), _ = fashion()
    mu, sigma = pixel_stats(x, config.sigma_floor)
    n = len(x)
    sizes = [784, *config.hidden, 10]
    need = config.iterations * config.batch_size

    def fit(item):  # one (η, seed, inputs) run; the training set is loaded where the run runs
        lr, s, inputs = item
        (x, y), _ = fashion()
        order = ctx.rng_for("batches", s).permutation(n)
        if need > n:
            order = np.concatenate([order, *(ctx.rng_for("batches", s, e).permutation(n)
                                             for e in range(1, -(-need // n)))])
        batches = [order[i * config.batch_size:(i + 1) * config.batch_size] for i in range(config.iterations)]
        model = mlp(sizes, "tanh", "lecun_normal", ctx.rng_for("weights", s))
        r = train_mlp(model, x, y, batches, lr, None if inputs == RAW else (lambda xb: (xb - mu) / sigma))
        for t, v in enumerate(r["losses"]):
            ctx.log_metric(t, f"eta{lr:g}/{inputs}/seed{s}/loss", v)
        return r

    items = [(lr, s, inputs) for lr in config.lrs for s in range(config.seeds) for inputs in (RAW, STANDARDISED)]
    curves = {}
    for (lr, s, inputs), r in zip(items, ctx.map(fit, items, label="MLP runs")):
        curves[lr, inputs, s] = r
        records.append({"part": "mlp", "inputs": inputs, "lr": lr, "seed": s, "losses": r["losses"],
                        "cos": r["cos"], "mean_cos": float(np.mean(r["cos"])) if r["cos"] else math.nan,
                        "tail_loss": tail_mean(r["losses"], config.tail), "diverged": r["diverged"]})

    ctx.savefig(_contours_figure(shown), "contours",
                caption="Loss contours over (w₁, w₂) through the minimum (b = b*) for the raw and the standardised "
                        "features (dataset 0), with the (w₁, w₂) part of the GD path from θ = 0 at each case's own "
                        "η under both rules; ★ the minimum.")
    ctx.savefig(_descent_figure(shown), "descent_2d",
                caption="Dataset 0: excess loss per GD step (left) and the cosine between successive updates "
                        "(right, first 40 steps) for both inputs and both step-size rules.")
    ctx.savefig(_mlp_figure(curves, config), "mlp_inputs",
                caption="The notes' tanh net on Fashion-MNIST, raw [0, 1] vs per-pixel standardised inputs, same "
                        "η, same initial weights and mini-batches: mini-batch loss (running mean of 10, mean over "
                        "seeds; left) and the cosine between successive parameter updates (running mean of 10; right).")

    claims = []
    cond_a = (f"{config.datasets} datasets of {config.n_points} points: x₁ ~ N(0.6, 0.3²), x₂ ~ N(0.2, 0.05²) clipped "
              "to [0, 1], y = 2x₁ − 3x₂ + 0.5 + N(0, 0.1²); ŷ = w·x + b (bias trained too), loss ½·mean(ŷ − y)²; "
              f"plain GD from θ = 0 to excess loss ≤ {config.tol:g} of its start; standardised = per feature, "
              "dataset mean and std")

    def per(rule, key):
        return ", ".join(f"{r[key]:.3g}/{s[key]:.3g}" for r, s in _quad_pairs(records, rule).values())

    kappas = ", ".join(f"{r['kappa']:.0f}/{s['kappa']:.2f}" for r, s in _quad_pairs(records, RULES[0]).values())
    steps = "; ".join(f"η = {rule}: " + ", ".join(f"{r['steps']}/{s['steps']}" for r, s in _quad_pairs(records, rule).values())
                      for rule in RULES)
    holds, ratios = check_quad_faster(records)
    claims.append(Claim(
        "29a", "normalising features makes gradient descent converge much faster (a better-conditioned loss)", holds,
        f"κ raw/standardised per dataset: {kappas}; GD steps raw/standardised: {steps}; smallest ratio "
        f"{min((v for vs in ratios.values() for v in vs), default=math.nan):.0f} (rule: ≥ {MUCH_FASTER:g} on every "
        "dataset under both rules)", cond_a + "; each case at its own η = 2/(λmax+λmin) and at its own η = 1/λmax",
        "descent_2d"))
    for cid, rule in (("29b", RULES[0]), ("29c", RULES[1])):
        holds, vals = check_quad_smoother(records, rule)
        claims.append(Claim(
            cid, "\"Normalizing features is a way to make the descent smoother\": the raw path zig-zags (successive "
                 "updates reverse), the standardised one less", holds,
            "mean cosine between successive updates raw/standardised per dataset: "
            + ", ".join(f"{a:+.3f}/{b:+.3f}" for a, b in vals)
            + " (rule: raw < 0 and standardised higher, on every dataset)",
            cond_a + f"; each case at its own η = {rule}", "contours"))
    holds, vals = check_quad_straighter(records)
    claims.append(Claim(
        "29d", "normalising \"lowers the changes in direction orthogonal to the minima\": the path runs straighter "
               "to the minimum", holds,
        "straightness |θ_T − θ₀| / Σ|Δθ| raw/standardised per dataset: "
        + "; ".join(f"η = {rule}: " + per(rule, "straightness") for rule in RULES)
        + " (rule: standardised higher on every dataset under both rules)", cond_a, "contours"))

    cond_b = (f"784-{'-'.join(map(str, config.hidden))}-10 tanh, lecun_normal, cross-entropy, plain SGD, batch "
              f"{config.batch_size}, {config.iterations} iterations, {config.seeds} seeds (same initial weights and "
              "mini-batches for both inputs); Fashion-MNIST (60,000 training images), raw = pixels in [0, 1], "
              f"standardised = per pixel (x − μ_j)/max(σ_j, {config.sigma_floor:g}) over the training images; "
              f"tail = the last {config.tail} mini-batch losses")
    letters = iter("efghijklmnopqrstuvwxyz")
    for lr in config.lrs:
        which = "the main η" if lr == config.lrs[0] else "another η"
        holds, lead = check_mlp_smoother(records, lr)
        raw, std, div = mlp_pairs(records, lr, "mean_cos")
        claims.append(Claim(
            f"29{next(letters)}", "standardised inputs make the descent smoother: successive parameter updates "
                                  "agree more (higher mean cosine)", holds,
            f"mean cosine between successive updates: raw {format_mean_se(raw)}, standardised {format_mean_se(std)}; "
            f"standardised − raw {format_lead(lead) if lead else 'n/a'}"
            + (" — a run DIVERGED" if div else "") + f" (rule: > {NOISE_SE:g} SE, no divergence)",
            cond_b + f"; η = {lr:g} ({which})", "mlp_inputs"))
        holds, lead = check_mlp_lower(records, lr)
        raw, std, div = mlp_pairs(records, lr, "tail_loss")
        claims.append(Claim(
            f"29{next(letters)}", "standardised inputs reach a lower loss in the same number of steps", holds,
            f"mean mini-batch loss of the last {config.tail} iterations: raw {format_mean_se(raw)}, standardised "
            f"{format_mean_se(std)}; raw − standardised {format_lead(lead) if lead else 'n/a'}"
            + (" — a run DIVERGED" if div else "") + f" (rule: > {NOISE_SE:g} SE, no divergence)",
            cond_b + f"; η = {lr:g} ({which})", "mlp_inputs"))
    notes = ("Part (a) records ('quad') hold each case's eigenvalues, κ, η, steps, the worst-case bound on the steps, "
             "the mean successive-update cosine and the straightness. Part (b) records ('mlp') hold every "
             "mini-batch loss and successive-update cosine of each run.")
    return Result(claims=claims, records=records, notes=notes)


# -- figures --------------------------------------------------------------------------------------------------------
def _contours_figure(shown):
    fig, axes = figures.new_figure(1, 2, panel=(3.2, 2.8))
    for ax, inputs in zip(axes[0], (RAW, STANDARDISED)):
        xx, y, r0, _ = shown[inputs, RULES[0]]
        a = _design(xx)
        ts = r0["theta_star"]
        pts = np.concatenate([shown[inputs, rule][2]["path"][:, :2] for rule in RULES] + [ts[None, :2]])
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        pad = 0.15 * np.maximum(hi - lo, 1e-3)
        w1 = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 120)
        w2 = np.linspace(lo[1] - pad[1], hi[1] + pad[1], 120)
        g1, g2 = np.meshgrid(w1, w2)
        pred = g1[..., None] * a[:, 0] + g2[..., None] * a[:, 1] + ts[2]
        z = 0.5 * np.mean((pred - y) ** 2, axis=-1)
        zmin = _loss(a, y, ts)
        levels = zmin + (z.max() - zmin) * np.geomspace(1e-4, 1.0, 14)
        ax.contour(g1, g2, z, levels=levels, colors="#999999", linewidths=0.6)
        for i, rule in enumerate(RULES):
            p = shown[inputs, rule][2]["path"]
            ax.plot(p[:, 0], p[:, 1], "-", color=figures.COLORS[i], linewidth=0.9, marker=".", markersize=2,
                    label=f"η = {rule} ({shown[inputs, rule][2]['steps']} steps)")
        ax.plot([ts[0]], [ts[1]], marker="*", color="#000000", markersize=9, linestyle="none")
        ax.set_xlabel("w₁")
        ax.set_ylabel("w₂")
        ax.set_title(f"{inputs} features", fontsize=9)
        ax.legend(frameon=False, fontsize=6.5, loc="best")
    return fig


def _descent_figure(shown):
    fig, axes = figures.new_figure(1, 2, panel=(3.2, 2.4))
    for i, ((inputs, rule), (_, _, r, m)) in enumerate(shown.items()):
        color = figures.COLORS[i % len(figures.COLORS)]
        ex = r["excess"]
        keep = ex > 0
        axes[0, 0].plot(np.arange(len(ex))[keep] + 1, ex[keep], color=color, label=f"{inputs}, η = {rule}")
        c = m["cos"][:40]
        axes[0, 1].plot(np.arange(1, len(c) + 1), c, marker=".", markersize=3, color=color, linewidth=0.9)
    axes[0, 0].set_xscale("log")
    axes[0, 0].set_yscale("log")
    axes[0, 0].set_xlabel("step + 1")
    axes[0, 0].set_ylabel("L − L*")
    axes[0, 0].legend(frameon=False, fontsize=6.5)
    axes[0, 1].axhline(0.0, color="#777777", linewidth=0.8)
    axes[0, 1].set_xlabel("step")
    axes[0, 1].set_ylabel("cos(Δθ_t, Δθ_t+1)")
    return fig


def _mlp_figure(curves, config):
    fig, axes = figures.new_figure(len(config.lrs), 2, panel=(3.0, 2.0))
    for row, lr in enumerate(config.lrs):
        for i, inputs in enumerate((RAW, STANDARDISED)):
            color = figures.COLORS[i]
            runs = [curves[lr, inputs, s] for s in range(config.seeds)]
            n = min(len(r["losses"]) for r in runs)
            loss = np.mean([r["losses"][:n] for r in runs], axis=0)
            axes[row, 0].plot(np.arange(n), running_mean(loss, 10), color=color, label=inputs)
            m = min(len(r["cos"]) for r in runs)
            if m:
                cos = np.mean([r["cos"][:m] for r in runs], axis=0)
                axes[row, 1].plot(np.arange(1, m + 1), running_mean(cos, 10), color=color, label=inputs)
        axes[row, 0].set_ylabel(f"η = {lr:g}: loss")
        axes[row, 1].set_ylabel("cos(Δθ_t, Δθ_t+1)")
        axes[row, 1].axhline(0.0, color="#777777", linewidth=0.8)
        axes[row, 0].legend(frameon=False, fontsize=7)
    axes[-1, 0].set_xlabel("iteration")
    axes[-1, 1].set_xlabel("iteration")
    return fig
