"""Seed 002, backpropagation: reverse mode is dynamic programming over the paths of the graph (issue 12, point 8).

The notes: "When we use the chain rule, we sum the partial derivative along all the paths joining the two
nodes"; "It is easy to see that the computation needed explodes as the depth increases"; "The way to navigate
this problem is to use dynamic programming"; "Sum is taken over the product along each path, over all the
paths. It is trivial to note that parts of the paths are repeated."

The graph: a scalar input x, ``d`` fully connected layers of ``w`` nodes with scalar weights on the edges and
the smooth elementwise nonlinearity tanh, and a scalar output y = Σⱼ vⱼ h_{d,j}:

    h₁ = tanh(x·W₁),  h_k = tanh(h_{k−1} W_k)  (k = 2..d),  y = h_d · v,

so it has ``w^d`` input→output paths and ``2w + (d−1)w²`` edges. The derivative of an edge i→j of layer k is
W_k[i, j]·tanh′(z_{k,j}) (vⱼ for the output edges), and

    ∂y/∂x = Σ_{paths j₁…j_d} W₁[0,j₁]s₁[j₁] · W₂[j₁,j₂]s₂[j₂] ⋯ W_d[j_{d−1},j_d]s_d[j_d] · v[j_d]

(sₖ = tanh′(zₖ)). :func:`naive_path_sum` evaluates this sum path by path in plain Python (each path's product
is computed from scratch: d + 1 multiplications, w^d paths); ``backward()`` of the same graph built from
layerlab Tensors computes the same number by reusing the shared suffixes (O(edges)). Both in float64.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import layerlab as ll
from layerlab.lab import Claim, Context, Result, experiment, figures

__all__ = ["BackpropConfig", "run", "build_weights", "forward_slopes", "naive_path_sum", "backward_gradient",
           "count_paths", "count_edges", "check_agree", "check_exponential", "check_linear", "fit_log_slope",
           "verdicts", "AGREE_RTOL", "SLOPE_BAND", "MIN_PATHS_FIT", "LINEAR_MAX_SLOPE"]

#: "the two gradients agree": |naive − backward| ≤ AGREE_RTOL·|backward| (+1e-300) at every (w, d), float64
AGREE_RTOL = 1e-10
#: "exponential with depth": the least-squares slope of ln(naive time) vs d lies in
#: [SLOPE_BAND[0]·ln w, SLOPE_BAND[1]·ln w]. The theory value is ln w plus ln((d+1)/d) from the d+1 products per
#: path (≤ 0.2 over the fitted depths), hence a band wider above than below.
SLOPE_BAND = (0.7, 1.5)
#: the fit uses only depths with at least this many paths (below it the timer sees Python's fixed overheads)
MIN_PATHS_FIT = 200
#: "backward grows linearly": the slope of ln(backward time) vs ln d over every depth 1..d_max is ≤ this
#: (linear = 1, an exponential would keep growing; 1.3 leaves room for timer noise). Every depth, not only those
#: of the naive fit: a backward call takes ≥ ~50 µs, far above the timer's resolution, and a fit over a narrow
#: range of ln d (8..12) is dominated by the machine's noise.
LINEAR_MAX_SLOPE = 1.3


def count_paths(w: int, d: int) -> int:
    """Input→output paths of the graph: one choice of node per layer, w^d."""
    return int(w) ** int(d)


def count_edges(w: int, d: int) -> int:
    """Edges: w from the input, w² between consecutive layers (d − 1 times), w into the output."""
    return 2 * int(w) + (int(d) - 1) * int(w) ** 2


def build_weights(w: int, d: int, rng: np.random.Generator) -> list[np.ndarray]:
    """W₁ (1×w), W₂…W_d (w×w) and v (w×1), float64, N(0, 1/fan_in) so tanh stays in its slope."""
    shapes = [(1, w)] + [(w, w)] * (d - 1) + [(w, 1)]
    return [rng.standard_normal(s) / math.sqrt(s[0]) for s in shapes]


def forward_slopes(x: float, weights: list[np.ndarray]) -> list[np.ndarray]:
    """tanh′(z_k) = 1 − tanh(z_k)² for every hidden layer k = 1..d (the forward pass the path sum needs)."""
    h = np.array([[x]], dtype=np.float64)
    slopes = []
    for W in weights[:-1]:
        h = np.tanh(h @ W)
        slopes.append((1.0 - h * h)[0])
    return slopes


def naive_path_sum(x: float, weights: list[np.ndarray]) -> float:
    """∂y/∂x as the sum over every input→output path of the product of its edge derivatives, each path's
    product computed from scratch (no sharing of prefixes or suffixes)."""
    slopes = forward_slopes(x, weights)
    d = len(slopes)
    w = weights[0].shape[1]
    # edge derivatives as nested Python lists: e[k][i][j] for layer k's edge i→j, out[j] for the output edges
    e = [[[float(weights[k][i, j] * slopes[k][j]) for j in range(w)] for i in range(weights[k].shape[0])]
         for k in range(d)]
    out = [float(v) for v in weights[-1][:, 0]]
    total = 0.0
    for path in itertools.product(range(w), repeat=d):
        p = e[0][0][path[0]]
        for k in range(1, d):
            p *= e[k][path[k - 1]][path[k]]
        total += p * out[path[-1]]
    return total


def backward_gradient(x: float, weights: list[np.ndarray]) -> float:
    """∂y/∂x from ``backward()`` of the same graph built with layerlab Tensors (float64)."""
    xt = ll.tensor(np.array([[x]], dtype=np.float64), requires_grad=True)
    h = xt
    for W in weights[:-1]:
        h = (h @ ll.tensor(W)).tanh()
    y = (h @ ll.tensor(weights[-1])).sum()
    y.backward()
    return float(np.asarray(xt.grad).reshape(-1)[0])


def _best_time(fn, repeats: int) -> tuple[float, float]:
    """(value, the least wall time over ``repeats`` calls) — the minimum is the least noisy estimate."""
    best, val = math.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        val = fn()
        best = min(best, time.perf_counter() - t0)
    return val, best


def fit_log_slope(xs, ys) -> float:
    """Least-squares slope of ln y against xs."""
    xs = np.asarray(xs, dtype=np.float64)
    ly = np.log(np.asarray(ys, dtype=np.float64))
    if len(xs) < 2:
        raise ValueError(f"fit_log_slope needs at least 2 points, got {len(xs)}")
    return float(np.polyfit(xs, ly, 1)[0])


def _fit_rows(rows: list[dict], w: int) -> list[dict]:
    return sorted([r for r in rows if r["w"] == w and r["paths"] >= MIN_PATHS_FIT], key=lambda r: r["d"])


def check_agree(rows: list[dict], rtol: float = AGREE_RTOL) -> bool:
    """Every row's naive path sum equals its backward() gradient within ``rtol`` (relative)."""
    return bool(rows) and all(abs(r["naive_grad"] - r["backward_grad"]) <= rtol * abs(r["backward_grad"]) + 1e-300
                              for r in rows)


def check_exponential(rows: list[dict], w: int, band=SLOPE_BAND) -> tuple[bool, float]:
    """(holds, slope): the slope of ln(naive time) vs d over the rows of width ``w`` with ≥ MIN_PATHS_FIT paths
    lies in [band[0]·ln w, band[1]·ln w]."""
    fit = _fit_rows(rows, w)
    if len(fit) < 3:
        return False, float("nan")
    s = fit_log_slope([r["d"] for r in fit], [r["naive_s"] for r in fit])
    return bool(band[0] * math.log(w) <= s <= band[1] * math.log(w)), s


def check_linear(rows: list[dict], w: int, max_slope: float = LINEAR_MAX_SLOPE) -> tuple[bool, float]:
    """(holds, slope): the slope of ln(backward time) vs ln d over every depth of width ``w`` is ≤ ``max_slope``."""
    fit = sorted([r for r in rows if r["w"] == w], key=lambda r: r["d"])
    if len(fit) < 3:
        return False, float("nan")
    s = fit_log_slope([math.log(r["d"]) for r in fit], [r["backward_s"] for r in fit])
    return bool(s <= max_slope), s


def verdicts(rows: list[dict]) -> dict[str, bool]:
    """Every claim's verdict from the records (ids as in the Result)."""
    out = {"8a": check_agree(rows)}
    for w in sorted({r["w"] for r in rows}):
        out[f"8b (w={w})"] = check_exponential(rows, w)[0]
        out[f"8c (w={w})"] = check_linear(rows, w)[0]
    out["8d"] = all(r["paths"] == r["w"] ** r["d"] and r["edges"] == 2 * r["w"] + (r["d"] - 1) * r["w"] ** 2
                    for r in rows)
    return out


@dataclass
class BackpropConfig:
    """Layered DAGs of width ``w`` for each of ``widths``, depths 1..``max_depths[i]``; each timing is the least
    of ``repeats`` calls; x = ``x``."""

    widths: tuple[int, ...] = (2, 3)
    max_depths: tuple[int, ...] = (16, 10)
    repeats: int = 3
    x: float = 0.7
    QUICK: ClassVar[dict] = {"max_depths": (12, 8), "repeats": 2}


@experiment("backprop_paths", order=24, topic="optimisation",
            summary="backprop is dynamic programming: the naive sum over w^d paths vs backward() on layered DAGs "
                    "— same gradient, exponential vs linear cost in depth (issue 12, point 8)")
def run(config: BackpropConfig, ctx: Context) -> Result:
    """Seed 002: ∂y/∂x on tanh DAGs of width w and depth d, by the naive path sum and by backward()."""
    if len(config.widths) != len(config.max_depths):
        raise ValueError(f"backprop_paths: max_depths {config.max_depths} must give one depth per width "
                         f"{config.widths}")
    rows = []
    for w, dmax in zip(config.widths, config.max_depths):
        if w < 2 or dmax < 1:
            raise ValueError(f"backprop_paths: need width ≥ 2 and depth ≥ 1, got w={w}, max depth={dmax}")
        for d in range(1, dmax + 1):
            weights = build_weights(w, d, ctx.rng_for("weights", w, d))
            naive, tn = _best_time(lambda: naive_path_sum(config.x, weights), config.repeats)
            back, tb = _best_time(lambda: backward_gradient(config.x, weights), config.repeats)
            rows.append({"w": w, "d": d, "paths": count_paths(w, d), "edges": count_edges(w, d),
                         "naive_grad": naive, "backward_grad": back, "naive_s": tn, "backward_s": tb})
    v = verdicts(rows)

    fig, axes = figures.new_figure(1, 2, panel=(3.2, 2.4), title="paths vs edges; naive path sum vs backward()")
    for w in config.widths:
        rw = [r for r in rows if r["w"] == w]
        ds = [r["d"] for r in rw]
        axes[0, 0].plot(ds, [r["paths"] for r in rw], "o-", ms=3, label=f"paths w={w}")
        axes[0, 0].plot(ds, [r["edges"] for r in rw], "s--", ms=3, label=f"edges w={w}")
        axes[0, 1].plot(ds, [r["naive_s"] for r in rw], "o-", ms=3, label=f"naive w={w}")
        axes[0, 1].plot(ds, [r["backward_s"] for r in rw], "s--", ms=3, label=f"backward w={w}")
    for ax, yl in ((axes[0, 0], "count"), (axes[0, 1], "seconds (least of repeats)")):
        ax.set_yscale("log")
        ax.set_xlabel("depth d")
        ax.set_ylabel(yl)
        ax.legend(fontsize=6)
    ctx.savefig(fig, "paths", caption="left: input→output paths (w^d) vs edges (2w + (d−1)w²); right: wall time "
                                      "of the naive path sum and of forward+backward() vs depth (log y)")

    cond = (f"tanh DAGs, scalar input and output, widths {config.widths}, depths 1..{config.max_depths}, "
            f"float64, N(0, 1/fan_in) weights, x = {config.x}; times = least of {config.repeats} calls "
            f"(time.perf_counter), backward timed with its forward pass")
    worst = max(abs(r["naive_grad"] - r["backward_grad"]) / max(abs(r["backward_grad"]), 1e-300) for r in rows)
    claims = [Claim("8a", "the sum over all paths of the product of edge derivatives is the chain rule: it equals "
                          "what backward() computes", v["8a"],
                    f"largest relative difference {worst:.2e} over {len(rows)} graphs (threshold {AGREE_RTOL:g})",
                    cond, "paths")]
    for w, dmax in zip(config.widths, config.max_depths):
        ok, s = check_exponential(rows, w)
        claims.append(Claim(f"8b (w={w})", "\"the computation needed explodes as the depth increases\" — the naive "
                            "sum over paths", v[f"8b (w={w})"],
                            f"slope of ln(time) vs d {s:.3f} vs ln w = {math.log(w):.3f} (band "
                            f"[{SLOPE_BAND[0]}, {SLOPE_BAND[1]}]·ln w, depths with ≥ {MIN_PATHS_FIT} paths)",
                            cond + f"; width {w}", "paths"))
        ok, s = check_linear(rows, w)
        claims.append(Claim(f"8c (w={w})", "\"the way to navigate this problem is to use dynamic programming\": "
                            "backward() reuses the shared parts of the paths, its cost grows linearly with depth",
                            v[f"8c (w={w})"],
                            f"slope of ln(time) vs ln d {s:.3f} (threshold ≤ {LINEAR_MAX_SLOPE}; linear = 1) on "
                            f"depths 1..{dmax}", cond + f"; width {w}", "paths"))
    claims.append(Claim("8d", "paths grow as w^d while edges grow as (d−1)w² + 2w (arithmetic)", v["8d"],
                        f"at the deepest graph: {rows[-1]['paths']} paths vs {rows[-1]['edges']} edges",
                        cond, "paths"))
    notes = ("The naive sum enumerates every path and multiplies its d + 1 edge derivatives from scratch, so its "
             "cost is (d + 1)·w^d multiplications; backward() visits every edge once per pass. The nonlinearity is "
             "tanh (smooth); the linear case is the same sum with all sₖ = 1.")
    return Result(claims=claims, records=rows, notes=notes)
