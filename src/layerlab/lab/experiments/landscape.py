"""Seeds 001/002, "a slice of the loss landscape of resnet-110 with no skip connections" (issue 13, point 6).

The notes show a figure from Li, Xu, Taylor, Studer & Goldstein (2018), "Visualizing the Loss Landscape of
Neural Nets" — "A slice of the loss landscape of resnet-110 with no skip connections" — next to "Aspects of a
deep neural network — navigating the loss landscape: [...] depth comes with its own share of problems. Deeper
networks have a harder time converging" and "skip connections: We might allow nodes from deeper layers to have
direct access to nodes from shallower layers while *skipping* the intermediate layers". Li et al.'s finding:
without skip connections a deep network's loss landscape is chaotic, with them it is smooth and convex-looking;
at shallow depth (their ResNet-20) both are smooth.

Set-up (Fashion-MNIST through ``layerlab.lab.training.fashion``, a random subset of ``n_train`` training images,
2×2-average-pooled to 14×14 = 196 inputs in [0, 1] to fit the time budget). Two networks of the same layers:

* **plain**: Linear(196, w) → BN → ReLU, then ``blocks`` × [Linear(w, w) → BN → ReLU → Linear(w, w) → BN] →
  ReLU, then Linear(w, 10): 2 + 2·blocks Linear layers;
* **residual**: the same, each block wrapped in ``nn.Residual`` (an identity shortcut every 2 layers):
  ReLU(x + f(x)) — ResNet's basic block (He et al. 2016) with Linear layers in place of convolutions.

BatchNorm is in both, as in Li et al.'s ResNets and their "-noshort" variants (without it a deep residual
net with He-initialised branches multiplies the variance of its activations at every block). He-normal
weights, both nets drawn from the same generator (identical weights at the start) and trained with the
same budget (SGD, momentum 0.9, ``iterations`` mini-batch steps of ``batch_size``, the same data order), at a
deep depth (``deep_blocks``) and a shallow one (``shallow_blocks``), on ``seeds`` seeds.

The landscape (``layerlab.probes.loss_landscape``): f(α, β) = L(θ + α·δ + β·η) on a ``steps`` × ``steps``
grid over [−``span``, ``span``]², θ the trained weights, δ, η Gaussian directions filter-normalised as Li et
al. (each row of each weight matrix rescaled to that row's norm in θ; zero on biases and BatchNorm
parameters), L the mean cross-entropy over the first ``n_eval`` training images, eval mode (BatchNorm on
its running statistics). The plain and residual nets of a seed get the same Gaussian draws (their weight
shapes are the same), each normalised to its own weights.

The roughness measure, stated before any run (Li et al. plot |λmin/λmax| of the Hessian to show where the
landscape is non-convex): at every interior grid point, the 2×2 Hessian of the slice by central differences
(spacing h = 2·span/(steps − 1), the mixed term from the four diagonal neighbours); the point is
**non-convex** when its smaller eigenvalue is negative and of magnitude above ``TAU`` times the larger
eigenvalue's magnitude (λmin < −τ·|λmax|). The measure is the fraction of non-convex points among the
interior points with finite neighbours. A convex function restricted to a plane is convex, so a convex
landscape has none (up to rounding). Also recorded (not a verdict): the number of strict local minima along
the 1-D axis-parallel slices (rows and columns of the grid), on average per slice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import Tensor, nn, no_grad, optim
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import NOISE_SE, format_lead, format_mean_se, paired_lead
from layerlab.lab.training import fashion, fit_iterations
from layerlab.probes import loss_landscape, plot_landscape

__all__ = ["LandscapeConfig", "run_landscape", "build_net", "pool_images", "slice_hessian_eigs",
           "nonconvex_fraction", "local_minima_per_slice", "roughness_by_seed", "check_rougher_than", "check_rougher",
           "check_depth", "TAU", "ARCHS",
           "DEPTHS"]

#: a grid point is non-convex when λmin < −TAU·|λmax| (the 2×2 Hessian of the slice there): a negative
#: curvature at least a tenth of the dominant one — an order of magnitude below it counts as flat (rounding
#: and finite differences give small negative eigenvalues on a convex surface). Li et al. colour |λmin/λmax|
#: and call the regions where it is near 0 convex.
TAU = 0.1
ARCHS = ("plain", "residual")
DEPTHS = ("deep", "shallow")


# -- the measures (plain functions of a grid) ------------------------------------------------------------------
def slice_hessian_eigs(losses, h: float) -> tuple[np.ndarray, np.ndarray]:
    """(λmin, λmax) of the 2×2 central-difference Hessian of the grid ``losses[i, j]`` = f(α_i, β_j) (spacing
    ``h`` on both axes) at every interior point: shape (n − 2, n − 2) each.

    f_αα = (f[i+1, j] − 2f[i, j] + f[i−1, j])/h², f_ββ likewise, f_αβ = (f[i+1, j+1] − f[i+1, j−1] −
    f[i−1, j+1] + f[i−1, j−1])/(4h²); λ = (f_αα + f_ββ)/2 ± √(((f_αα − f_ββ)/2)² + f_αβ²)."""
    f = np.asarray(losses, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 3 or f.shape[1] < 3:
        raise ValueError(f"slice_hessian_eigs: expected a 2-D grid of at least 3 × 3, got shape {f.shape}")
    c = f[1:-1, 1:-1]
    with np.errstate(all="ignore"):
        faa = (f[2:, 1:-1] - 2 * c + f[:-2, 1:-1]) / h ** 2
        fbb = (f[1:-1, 2:] - 2 * c + f[1:-1, :-2]) / h ** 2
        fab = (f[2:, 2:] - f[2:, :-2] - f[:-2, 2:] + f[:-2, :-2]) / (4 * h * h)
        mid = (faa + fbb) / 2
        rad = np.sqrt(((faa - fbb) / 2) ** 2 + fab ** 2)
        return mid - rad, mid + rad


def nonconvex_fraction(losses, h: float, tau: float = TAU) -> tuple[float, int]:
    """(fraction of non-convex interior points — λmin < −``tau``·|λmax| —, number of interior points counted:
    those whose Hessian is finite). NaN when no point counts."""
    lmin, lmax = slice_hessian_eigs(losses, h)
    ok = np.isfinite(lmin) & np.isfinite(lmax)
    n = int(ok.sum())
    if n == 0:
        return math.nan, 0
    bad = (lmin < -tau * np.abs(lmax)) & ok
    return float(bad.sum() / n), n


def local_minima_per_slice(losses) -> float:
    """The mean number of strict interior local minima (f[k] < both neighbours) along the 1-D rows and columns
    of the grid (a 1-D array: that one slice)."""
    f = np.asarray(losses, dtype=np.float64)
    lines = [f] if f.ndim == 1 else [*f, *f.T]
    counts = [int(np.sum((v[1:-1] < v[:-2]) & (v[1:-1] < v[2:]))) for v in lines]
    return float(np.mean(counts))


def roughness_by_seed(records, depth: str) -> dict[int, dict[str, float]]:
    """``{seed: {arch: non-convex fraction}}`` recomputed from the stored grids of the ``part == "landscape"``
    records at ``depth``; a landscape of a diverged fit is NaN."""
    out: dict[int, dict[str, float]] = {}
    for r in records:
        if r.get("part") == "landscape" and r.get("depth") == depth:
            alphas = np.asarray(r["alphas"], dtype=np.float64)
            frac = math.nan
            if r.get("diverged") is None and alphas.size >= 3:
                frac, _ = nonconvex_fraction(r["losses"], float(alphas[1] - alphas[0]), float(r.get("tau", TAU)))
            out.setdefault(int(r["seed"]), {})[r["arch"]] = frac
    return out


def check_rougher_than(records, rough: tuple[str, str], smooth: tuple[str, str],
                       k: float = NOISE_SE) -> tuple[bool, dict | None]:
    """Is the landscape of the nets ``rough`` = (depth, arch) rougher than that of ``smooth`` = (depth, arch),
    beyond the noise? The per-seed non-convex fractions (recomputed from the stored grids) are compared seed
    by seed: the mean of (rough − smooth) over seeds > ``k`` standard errors (``stats.paired_lead``). A seed
    missing either landscape, or with a NaN (a diverged fit, no finite point), is no evidence: False.
    Returns (holds, the paired_lead dict or None)."""
    by_depth = {d: roughness_by_seed(records, d) for d in {rough[0], smooth[0]}}
    seeds = sorted(set(by_depth[rough[0]]) | set(by_depth[smooth[0]]))
    if not seeds:
        return False, None
    hi, lo = [], []
    for seed in seeds:
        a = by_depth[rough[0]].get(seed, {}).get(rough[1], math.nan)
        b = by_depth[smooth[0]].get(seed, {}).get(smooth[1], math.nan)
        if not (math.isfinite(a) and math.isfinite(b)):
            return False, None
        hi.append(a)
        lo.append(b)
    lead = paired_lead(lo, hi, k)
    return bool(lead["beyond"]), lead


def check_rougher(records, depth: str, k: float = NOISE_SE) -> tuple[bool, dict | None]:
    """Claims 37a/37b: at ``depth``, the plain net's landscape is rougher than the residual net's (beyond the
    noise; :func:`check_rougher_than`)."""
    return check_rougher_than(records, (depth, "plain"), (depth, "residual"), k)


def check_depth(records, arch: str, k: float = NOISE_SE) -> tuple[bool, dict | None]:
    """Claims 37c/37d: for nets of kind ``arch``, the deep net's landscape is rougher than the shallow one's
    (beyond the noise; :func:`check_rougher_than`)."""
    return check_rougher_than(records, ("deep", arch), ("shallow", arch), k)


# -- the networks ------------------------------------------------------------------------------------------------
def pool_images(x: np.ndarray, pool: int) -> np.ndarray:
    """(N, 28·28) or (N, 28, 28) images → (N, (28/pool)²) by ``pool`` × ``pool`` averages (pool 1: flattened)."""
    x = np.asarray(x)
    n = len(x)
    side = int(round(math.sqrt(x[0].size)))
    img = x.reshape(n, side, side)
    if pool > 1:
        if side % pool:
            raise ValueError(f"pool_images: image side {side} is not a multiple of pool={pool}")
        img = img.reshape(n, side // pool, pool, side // pool, pool).mean(axis=(2, 4))
    return np.ascontiguousarray(img.reshape(n, -1), dtype=np.float32)


def build_net(n_in: int, width: int, blocks: int, skip: bool, rng: np.random.Generator, batch_norm: bool = True,
              n_out: int = 10) -> nn.Sequential:
    """Linear(n_in, width) [→ BN] → ReLU, then ``blocks`` × block → ReLU, then Linear(width, n_out); a block is
    Linear → [BN →] ReLU → Linear [→ BN], wrapped in ``nn.Residual`` (x + f(x)) when ``skip``. He-normal
    weights drawn from ``rng`` layer by layer (so ``skip`` does not change the draws), zero biases."""
    def lin(a, b):
        return nn.Linear(a, b, init="he_normal", rng=rng)

    def bn():
        return [nn.BatchNorm(width)] if batch_norm else []

    layers: list[nn.Module] = [lin(n_in, width), *bn(), nn.ReLU()]
    for _ in range(int(blocks)):
        branch = nn.Sequential(lin(width, width), *bn(), nn.ReLU(), lin(width, width), *bn())
        layers += [nn.Residual(branch) if skip else branch, nn.ReLU()]
    layers.append(lin(width, n_out))
    return nn.Sequential(*layers)


@dataclass
class LandscapeConfig:
    """Nets of ``width`` units, ``deep_blocks`` / ``shallow_blocks`` two-layer blocks (2 + 2·blocks Linear
    layers), BatchNorm in both (``batch_norm``); ``n_train`` Fashion-MNIST training images pooled
    ``pool`` × ``pool``; SGD η = ``lr``, momentum ``momentum``, ``iterations`` steps of ``batch_size``; the
    landscape on a ``steps`` × ``steps`` grid over [−``span``, ``span``]² on the first ``n_eval`` training
    images; ``seeds`` seeds."""

    width: int = 64
    deep_blocks: int = 11
    shallow_blocks: int = 1
    batch_norm: bool = True
    n_train: int = 4000
    n_eval: int = 1000
    pool: int = 2
    iterations: int = 400
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    steps: int = 21
    span: float = 1.0
    seeds: int = 2
    QUICK: ClassVar[dict] = {"deep_blocks": 4, "n_train": 600, "n_eval": 200, "iterations": 40, "batch_size": 64,
                             "steps": 9}


def _layers(blocks: int) -> int:
    return 2 + 2 * int(blocks)


@experiment("loss_landscape", order=37, topic="depth and gradients",
            summary="Li et al.'s loss-landscape slices: a deep plain MLP's is rougher than its residual twin's")
def run_landscape(config: LandscapeConfig, ctx: Context) -> Result:
    (x, y), _ = fashion(config.n_train, 0, rng=ctx.rng_for("data"))
    x = pool_images(x, config.pool)
    y = np.asarray(y)
    xe, ye = x[:config.n_eval], y[:config.n_eval]
    depths = {"deep": config.deep_blocks, "shallow": config.shallow_blocks}
    grid_points = config.steps ** 2
    h = 2 * config.span / (config.steps - 1)

    def landscape(item):  # one (depth, seed, architecture): train, then the loss on a 2-D slice around the end
        depth, seed, arch = item
        blocks = depths[depth]
        model = build_net(x.shape[1], config.width, blocks, arch == "residual",
                          ctx.rng_for("weights", depth, seed), config.batch_norm)
        opt = optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
        fit = fit_iterations(ctx, model, opt, x, y, config.iterations, config.batch_size,
                             label=f"{depth}{seed}/{arch}", seed=seed)
        diverged = fit["diverged"]
        # the same Gaussian draws for both nets of a seed (same weight shapes), normalised to each one's
        dir_seed = int(ctx.rng_for("directions", depth, seed).integers(2**63))
        with ctx.progress.task(f"landscape {depth}{seed}/{arch}", total=grid_points) as task:
            res = loss_landscape(model, nn.CrossEntropyLoss(), (xe, ye), directions=2, steps=config.steps,
                                 span=config.span, seed=dir_seed, batch_size=len(xe), progress=task)
        grid = res["losses"]
        frac, counted = nonconvex_fraction(grid, h)
        centre = float(grid[config.steps // 2, config.steps // 2]) if config.steps % 2 else math.nan
        with np.errstate(all="ignore"):
            acc = float(np.mean(np.argmax(_predict(model, xe), axis=1) == ye))
        rec = {
            "part": "landscape", "depth": depth, "blocks": int(blocks), "layers": _layers(blocks),
            "arch": arch, "seed": seed, "diverged": diverged, "train_loss_end": _tail(fit["losses"]),
            "eval_loss": centre, "eval_accuracy": acc, "tau": TAU, "nonconvex": frac,
            "interior_points": counted, "minima_per_slice": local_minima_per_slice(grid),
            "max_loss": float(np.nanmax(np.where(np.isfinite(grid), grid, np.nan))) if np.isfinite(grid).any()
            else math.nan, "nonfinite_points": int(np.sum(~np.isfinite(grid))),
            "alphas": res["alphas"].tolist(), "losses": grid.tolist()}
        return rec, fit["losses"], (res if seed == 0 else None)

    items = [(depth, seed, arch) for depth in depths for seed in range(config.seeds) for arch in ARCHS]
    records: list[dict] = []
    shown: dict[tuple[str, str], dict] = {}
    curves: dict[tuple[str, str], list] = {}
    for (depth, seed, arch), (rec, losses, res) in zip(items, ctx.map(landscape, items, label="landscapes")):
        records.append(rec)
        curves.setdefault((depth, arch), []).append(losses)
        if res is not None:
            shown[(depth, arch)] = res

    rough = {d: roughness_by_seed(records, d) for d in depths}
    layers = {d: _layers(b) for d, b in depths.items()}
    ctx.savefig(_contour_figure(shown, depths, layers, config), "contours",
                caption=f"Contours of log10(loss) on the slice L(θ + αδ + βη) around the trained weights (seed 0), "
                        f"δ, η filter-normalised Gaussian directions; rows: {layers['deep']} and "
                        f"{layers['shallow']} Linear layers; columns: without / with skip connections.")
    ctx.savefig(_curve_figure(records, depths, layers, config), "curves",
                caption="The 1-D slice L(θ + αδ) (the β = 0 line of each grid), every seed; log scale.")
    ctx.savefig(_ratio_figure(shown, layers, h), "nonconvexity",
                caption=f"|λmin/λmax| of the slice's 2×2 Hessian at every interior grid point (seed 0), as Li et "
                        f"al. plot it, where λmin < 0 (0 where the slice is locally convex); non-convex: > τ = "
                        f"{TAU:g}.")
    ctx.savefig(_roughness_figure(rough, layers), "roughness",
                caption=f"The fraction of non-convex grid points (λmin < −{TAU:g}·|λmax|), per seed (dots) and mean "
                        f"(bars).")

    cond = (f"Fashion-MNIST, {config.n_train} training images pooled {config.pool}×{config.pool} "
            f"({x.shape[1]} inputs in [0, 1]); width {config.width}, ReLU, He-normal, "
            f"{'BatchNorm after every Linear but the last' if config.batch_norm else 'no BatchNorm'}; residual = "
            f"nn.Residual identity shortcut every 2 layers (ReLU(x + f(x))); SGD η = {config.lr:g} momentum "
            f"{config.momentum:g}, {config.iterations} steps of {config.batch_size}; landscape "
            f"{config.steps}×{config.steps} over [−{config.span:g}, {config.span:g}]², filter-normalised directions "
            f"(zero on biases and BN), mean cross-entropy on {config.n_eval} training images, eval mode; "
            f"{config.seeds} seeds")
    def fractions(depth, arch):
        return [v.get(arch, math.nan) for _, v in sorted(rough[depth].items())]

    def lead_text(lead):
        return (format_lead(lead) if lead else "n/a (a landscape missing or non-finite)") + \
            f" (threshold > {NOISE_SE:g} SE)"

    def diverged_text(recs):
        div = [f"{r['depth']} {r['arch']} seed {r['seed']} (step {r['diverged']})" for r in recs
               if r["diverged"] is not None]
        return f"; DIVERGED: {', '.join(div)}" if div else ""

    claims = []
    for cid, depth in (("37a", "deep"), ("37b", "shallow")):
        holds, lead = check_rougher(records, depth)
        recs = [r for r in records if r["depth"] == depth]
        minima = {a: [r["minima_per_slice"] for r in recs if r["arch"] == a] for a in ARCHS}
        loss = {a: [r["eval_loss"] for r in recs if r["arch"] == a] for a in ARCHS}
        measured = (f"non-convex fraction: plain {format_mean_se(fractions(depth, 'plain'))}, residual "
                    f"{format_mean_se(fractions(depth, 'residual'))}; plain − residual {lead_text(lead)}; "
                    f"local minima per 1-D slice: plain {format_mean_se(minima['plain'], 2)}, residual "
                    f"{format_mean_se(minima['residual'], 2)}; loss at θ: plain {format_mean_se(loss['plain'])}, "
                    f"residual {format_mean_se(loss['residual'])}" + diverged_text(recs))
        text = ("without skip connections the loss landscape is rougher (\"chaotic\") than with them (smooth, "
                "convex-looking): more non-convex points on a filter-normalised 2-D slice (Li et al. 2018)")
        if depth == "shallow":
            text += " — at shallow depth, where Li et al. find both smooth (not expected to hold)"
        claims.append(Claim(cid, text, holds, measured,
                            cond + f"; {layers[depth]} Linear layers ({depths[depth]} blocks)",
                            "contours" if depth == "deep" else "roughness"))
    for cid, arch in (("37c", "plain"), ("37d", "residual")):
        holds, lead = check_depth(records, arch)
        measured = (f"non-convex fraction of the {arch} nets: {layers['deep']} layers "
                    f"{format_mean_se(fractions('deep', arch))}, {layers['shallow']} layers "
                    f"{format_mean_se(fractions('shallow', arch))}; deep − shallow {lead_text(lead)}"
                    + diverged_text([r for r in records if r["arch"] == arch]))
        text = ("depth roughens the landscape of a net " + ("without" if arch == "plain" else "with")
                + " skip connections: the deep net's slice has more non-convex points than the shallow net's"
                + (" (Li et al.: ResNet-20/56/110-noshort get more chaotic with depth)" if arch == "plain" else
                   " — with skip connections, where Li et al. find depth changes little (not expected to hold)"))
        claims.append(Claim(cid, text, holds, measured,
                            cond + f"; {layers['deep']} vs {layers['shallow']} Linear layers, seeds paired by "
                                   f"index", "roughness"))
    loss_deep = {a: format_mean_se([r["eval_loss"] for r in records if r["depth"] == "deep" and r["arch"] == a])
                 for a in ARCHS}
    notes = (f"Non-convex point: the 2×2 central-difference Hessian of the slice has λmin < −{TAU:g}·|λmax| "
             f"(grid spacing h = {h:g}); the fraction is over the interior grid points. Both nets of a seed start "
             f"from the same weights, see the same batches and are probed along the same Gaussian draws "
             f"(normalised to each one's own filters). Under the same budget the deep nets do not reach the same "
             f"loss (loss at θ: plain {loss_deep['plain']}, residual {loss_deep['residual']}) — the notes' "
             f"\"deeper networks have a harder time converging\" —, so each slice is taken around the point its "
             f"own training reached, as Li et al.'s are. 37c/37d compare different nets and pair seeds by index "
             f"only.")
    return Result(claims=claims, records=records, notes=notes)


def _tail(losses, n: int = 20) -> float:
    v = np.asarray(losses[-n:], dtype=np.float64)
    return float(v.mean()) if v.size else math.nan


def _predict(model, x):
    was = model.training
    model.eval()
    try:
        with no_grad():
            return model(Tensor(x)).data
    finally:
        model.train(was)


# -- figures ----------------------------------------------------------------------------------------------------
def _contour_figure(shown, depths, layers, config):
    fig, axes = figures.new_figure(len(depths), len(ARCHS), panel=(2.6, 2.6),
                                   margins={"hspace": 0.7, "wspace": 0.7})
    for i, depth in enumerate(depths):
        z = [np.asarray(shown[(depth, a)]["losses"]) for a in ARCHS if (depth, a) in shown]
        finite = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in z]) if z else np.array([])
        lo, hi = (np.log10(finite.min()), np.log10(finite.max())) if finite.size else (0.0, 1.0)
        levels = np.linspace(lo, hi if hi > lo else lo + 1.0, 25)
        for j, arch in enumerate(ARCHS):
            ax = axes[i, j]
            if (depth, arch) not in shown:
                ax.set_visible(False)
                continue
            plot_landscape(shown[(depth, arch)], "contour", ax=ax, log=True, levels=levels, colorbar=False,
                           title=f"{arch}, {layers[depth]} layers")
            ax.plot([0], [0], "+", color="#D55E00", markersize=8)
    return fig


def _curve_figure(records, depths, layers, config):
    fig, axes = figures.new_figure(1, len(depths), panel=(3.0, 2.3))
    mid = config.steps // 2
    for j, depth in enumerate(depths):
        ax = axes[0, j]
        for k, arch in enumerate(ARCHS):
            for n, r in enumerate(r for r in records if r["depth"] == depth and r["arch"] == arch):
                g = np.asarray(r["losses"], dtype=np.float64)
                ax.plot(r["alphas"], g[:, mid], color=figures.COLORS[k], linewidth=1.2, alpha=0.85,
                        label=arch if n == 0 else None)
        ax.set_yscale("log")
        ax.set_xlabel("α")
        ax.set_ylabel("loss")
        ax.set_title(f"{layers[depth]} layers: L(θ + αδ)")
        ax.legend(frameon=False, fontsize=7)
    return fig


def _ratio_figure(shown, layers, h):
    keys = [k for k in (("deep", a) for a in ARCHS) if k in shown]
    fig, axes = figures.new_figure(1, max(1, len(keys)), panel=(2.6, 2.6), margins={"wspace": 1.6, "right": 1.0})
    for ax, key in zip(axes[0], keys):
        res = shown[key]
        lmin, lmax = slice_hessian_eigs(res["losses"], h)
        with np.errstate(all="ignore"):
            ratio = np.where(lmin < 0, np.abs(lmin) / np.abs(lmax), 0.0)
        ratio = np.where(np.isfinite(ratio), np.minimum(ratio, 1.0), np.nan)
        a = np.asarray(res["alphas"])[1:-1]
        im = ax.imshow(ratio.T, origin="lower", extent=(a[0], a[-1], a[0], a[-1]), vmin=0.0, vmax=1.0,
                       cmap="viridis", aspect="equal")
        ax.set_title(f"{key[1]}, {layers['deep']} layers")
        ax.set_xlabel("α")
        ax.set_ylabel("β")
        ax.grid(False)
        fig.colorbar(im, ax=ax, label="|λmin/λmax|", fraction=0.046, pad=0.04)
    return fig


def _roughness_figure(rough, layers):
    fig, axes = figures.new_figure(1, 1, panel=(3.4, 2.4))
    ax = axes[0, 0]
    width = 0.38
    for k, arch in enumerate(ARCHS):
        for i, depth in enumerate(rough):
            vals = [v.get(arch, math.nan) for v in rough[depth].values()]
            pos = i + (k - 0.5) * width
            ax.bar(pos, np.nanmean(vals) if np.isfinite(vals).any() else 0.0, width=width * 0.9,
                   color=figures.COLORS[k], alpha=0.6, label=arch if i == 0 else None)
            ax.plot([pos] * len(vals), vals, "o", color=figures.COLORS[k], markersize=4)
    ax.set_xticks(range(len(rough)), [f"{layers[d]} layers" for d in rough])
    ax.set_ylabel("non-convex fraction")
    ax.legend(frameon=False, fontsize=7)
    return fig
