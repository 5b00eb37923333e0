"""Seeds 000/001/004: Swish through depth, the automatic search for activation functions, PReLU's learned slopes
(issue [search], claims 39–41).

The notes (seed 004): "We can train deeper Swish networks than ReLU networks when using BatchNorm … With MNIST
data set, when Swish and ReLU are compared, both activation functions achieve similar performances up to 40
layers. Swish outperforms ReLU by a large margin in the range between 40 and 50 layers". Seed 001: "Assume there
exists a search space for activation functions (scalar functions) … it is possible to search the space to find
the best activation function … According to the search method, the best activation takes the form x·σ(βx) … named
SWISH". Seed 004 on PReLU: "In experiments with convolutional neural networks, PReLUs for the initial layer have
more positive slopes, i.e. closer to linear" (He et al. 2015: the learned coefficients of the deeper layers are
smaller).

``swish_depth`` (39). MLPs 784-w-…-w-10 of ``depths`` hidden layers, each Linear → BatchNorm → activation
(ReLU or Swish = x·σ(x), ``nn.SiLU``), He-normal weights, the same weights draw per seed for both activations,
trained ``iterations`` SGD steps (momentum 0.9) on a Fashion-MNIST subset (MNIST, the notes' set, is not
available offline here: Fashion-MNIST is the stand-in — a harder set, so absolute accuracies are lower);
measure: test accuracy on a test subset, per seed. To fit ~2 minutes on one core the nets are narrow (w = 32),
the runs short and the set a subset: the claim is about *trainability* with depth, which a short run shows
first. Verdicts (thresholds fixed in advance): "similar" at every depth ≤ 40 — neither activation leads by a
large margin; "by a large margin" at every depth in (40, 50] — Swish's mean test accuracy is at least
``LARGE_MARGIN`` above ReLU's *and* the paired lead is beyond the noise (``stats.paired_lead``). A depth at
which a Swish run diverged counts against 39b (a diverged run is no evidence for Swish).

``activation_search`` (40). :func:`layerlab.search.search` over the paper's space (unary and binary functions,
one or two core units; see that module), ``budget`` scored candidates after the rejection filter, each scored
by :class:`layerlab.search.MNIST1DTask` (a 40-32-32-10 MLP, 120 Adam steps on MNIST-1D, validation accuracy,
mean over ``seeds``): a random phase, then mutation and recombination of the best. ReLU, Swish, GELU, sigmoid
and tanh are scored the same way (origin "reference") and pooled with the candidates. "Of the form x·σ(βx)"
is decided by shape, not syntax (:func:`layerlab.search.swish_like`: within ``SWISH_TOL`` of x·σ(βx),
β ∈ [0.5, 2], after an affine map of the output — x·Φ(x) counts, ReLU does not). 40a: a function of that
form ranks in the pooled top 10, above sigmoid and tanh; 40b: the search *itself* finds one (a non-reference
candidate of that form in the top 10); 40c: Swish beats sigmoid and tanh beyond the noise (paired over
``ref_seeds`` seeds of the same score).

``prelu_slopes`` (41). A 784-w-…-w-10 MLP with channel-wise PReLU (α initialised 0.25, He et al.'s value; no
weight decay on α, as theirs) after each hidden Linear, He-normal weights, trained with SGD + momentum on a
Fashion-MNIST subset (an MLP, not the notes' CNN); measure: the mean learned α of each layer, per seed.
41a: the first layer's α exceeds the mean α of the deeper layers beyond the noise (paired over seeds); 41b:
the least-squares slope of α against the layer index is negative beyond the noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import nn, optim
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab.stats import NOISE_SE, accuracy, format_lead, format_mean_se, mean_se, paired_lead
from layerlab.lab.training import fashion, fit_iterations, mlp
from layerlab.search import (REFERENCES, SWISH_TOL, MNIST1DTask, plot_top, search, swish_distance)

__all__ = [
    "LARGE_MARGIN", "TOP", "SwishDepthConfig", "SearchConfig", "PReLUConfig", "depth_accuracies", "depth_leads",
    "check_similar", "check_large_margin", "check_top_swish", "check_found", "check_beats", "prelu_alphas",
    "check_first_layer", "check_alpha_slope", "alpha_slope", "run_swish_depth", "run_activation_search",
    "run_prelu_slopes",
]

#: "by a large margin" (39b): Swish's mean test accuracy ≥ 5 percentage points above ReLU's (and beyond the noise).
#: The notes call 0.6–0.9 % on ImageNet an improvement ("improves top-1 … by 0.9 %"); a *large* margin is taken as
#: more than five times the largest improvement they quote. "Similar" (39a) is the notes' other side of the same
#: contrast: neither activation leads by a large margin.
LARGE_MARGIN = 0.05
#: "rank in the top 10" (40a, 40b): the brief's and the paper's figure's top functions
TOP = 10


# ================================================================================================================
# 39: Swish vs ReLU through depth, with batch norm
# ================================================================================================================

@dataclass
class SwishDepthConfig:
    """MLPs of ``depths`` hidden layers of ``width`` (Linear → BatchNorm → ReLU / Swish), He-normal weights,
    ``iterations`` SGD steps (η = ``lr``, momentum 0.9, batch ``batch_size``) on ``n_train`` standardised
    Fashion-MNIST images, test accuracy on ``n_test``; ``seeds`` seeds. 39a is judged at ``similar_depths``
    (the notes' "up to 40 layers"), 39b at ``margin_depths`` (their "between 40 and 50")."""

    depths: tuple[int, ...] = (10, 25, 40, 45, 50)
    similar_depths: tuple[int, ...] = (10, 25, 40)
    margin_depths: tuple[int, ...] = (45, 50)
    width: int = 32
    iterations: int = 200
    batch_size: int = 128
    lr: float = 0.05
    n_train: int = 2000
    n_test: int = 1000
    seeds: int = 3
    QUICK: ClassVar[dict] = {"depths": (2, 3), "similar_depths": (2,), "margin_depths": (3,), "width": 16,
                             "iterations": 15, "n_train": 300, "n_test": 300, "seeds": 2}


ACTS = {"relu": "relu", "swish": "silu"}


def depth_accuracies(records, depth: int) -> dict[str, dict[int, float]]:
    """``{act: {seed: test accuracy}}`` at ``depth`` from the ``part == "depth"`` records."""
    out: dict[str, dict[int, float]] = {}
    for r in records:
        if r.get("part") == "depth" and int(r["depth"]) == int(depth):
            acc = r["accuracy"]
            out.setdefault(r["act"], {})[int(r["seed"])] = math.nan if acc is None else float(acc)
    return out


def depth_leads(records, depth: int) -> dict | None:
    """Swish's paired lead over ReLU in test accuracy at ``depth`` (``stats.paired_lead`` on the errors, so
    ``diff`` = mean(acc_swish − acc_relu)); None when a seed or an activation is missing; ``swish_diverged``
    when a Swish run of that depth diverged."""
    acc = depth_accuracies(records, depth)
    if set(acc) != set(ACTS) or set(acc["relu"]) != set(acc["swish"]) or not acc["relu"]:
        return None
    seeds = sorted(acc["relu"])
    lead = paired_lead([1 - acc["swish"][s] for s in seeds], [1 - acc["relu"][s] for s in seeds])
    lead["swish_diverged"] = any(r.get("diverged") is not None for r in records
                                 if r.get("part") == "depth" and int(r["depth"]) == int(depth) and r["act"] == "swish")
    return lead


def _large(lead: dict, margin: float) -> bool:
    """A large margin for the activation ahead: |diff| ≥ margin and beyond the noise in that direction."""
    d, se = lead["diff"], lead["se"]
    return bool(math.isfinite(d) and math.isfinite(se) and abs(d) >= margin and abs(d) > NOISE_SE * se)


def check_similar(records, depths, margin: float = LARGE_MARGIN) -> tuple[bool, dict]:
    """39a: at every depth of ``depths`` neither activation leads by a large margin (|mean difference| ≥
    ``margin`` and beyond the noise). Missing depths, or a NaN accuracy, are no evidence (False)."""
    leads = {int(d): depth_leads(records, d) for d in depths}
    ok = bool(leads) and all(v is not None and math.isfinite(v["diff"]) and not _large(v, margin)
                             for v in leads.values())
    return ok, leads


def check_large_margin(records, depths, margin: float = LARGE_MARGIN) -> tuple[bool, dict]:
    """39b: at every depth of ``depths`` Swish leads ReLU by at least ``margin`` in mean test accuracy, beyond the
    noise, with no diverged Swish run."""
    leads = {int(d): depth_leads(records, d) for d in depths}
    ok = bool(leads) and all(v is not None and not v["swish_diverged"] and v["diff"] > 0 and _large(v, margin)
                             for v in leads.values())
    return ok, leads


def _depth_figure(records, config):
    fig, axes = figures.new_figure(1, 1, panel=(4.2, 2.6), title="Swish vs ReLU through depth (batch norm)")
    ax = axes[0, 0]
    for k, act in enumerate(ACTS):
        ms, ses = [], []
        for d in config.depths:
            v = list(depth_accuracies(records, d).get(act, {}).values())
            m, se = mean_se(v)
            ms.append(m)
            ses.append(0.0 if not math.isfinite(se) else se)
        ax.errorbar(config.depths, ms, yerr=[NOISE_SE * s for s in ses], marker="o", ms=3, capsize=2,
                    color=figures.COLORS[k], label=f"{act} (mean ± 2 SE)")
        for d in config.depths:
            for a in depth_accuracies(records, d).get(act, {}).values():
                ax.plot([d], [a], ".", color=figures.COLORS[k], alpha=0.35, ms=3)
    lo = min(config.margin_depths, default=None)
    if lo is not None:
        ax.axvspan(max(config.similar_depths, default=lo) + 0.5, max(config.margin_depths) + 0.5, color="0.92",
                   zorder=0, label="the notes' 'large margin' range")
    ax.set_xlabel("hidden layers")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=7, frameon=False)
    return fig


@experiment("swish_depth", order=39, topic="activation functions",
            summary="Swish vs ReLU with batch norm through depth on Fashion-MNIST: similar up to 40 layers, Swish "
                    "ahead by a large margin (≥ 5 points, beyond the noise) at 40–50? (claims 39a, 39b)")
def run_swish_depth(config: SwishDepthConfig, ctx: Context) -> Result:
    (x, y), (xt, yt) = fashion(config.n_train, config.n_test, standardize=True, rng=ctx.rng_for("data"))

    def one_run(item) -> dict:
        """One (depth, seed, activation) run: its record."""
        depth, seed, act = item
        model = mlp([x.shape[1]] + [config.width] * depth + [10], ACTS[act], "he_normal",
                    ctx.rng_for("weights", depth, seed), batch_norm=True)
        opt = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
        with np.errstate(all="ignore"):
            fit = fit_iterations(ctx, model, opt, x, y, config.iterations, config.batch_size,
                                 label=f"d{depth}/{act}/seed {seed}", seed=ctx.seed + seed)
            acc = accuracy(model, xt, yt)
        losses = fit["losses"]
        return {"part": "depth", "depth": depth, "act": act, "seed": seed,
                "accuracy": acc if math.isfinite(acc) else None,
                "train_accuracy": accuracy(model, x[:1000], y[:1000]),
                "final_loss": float(np.mean(losses[-10:])) if losses else None,
                "diverged": fit["diverged"]}

    # the subsets are small (n_train images): the arms carry them in their closure
    records: list[dict] = ctx.map(one_run, [(depth, seed, act) for depth in config.depths
                                            for seed in range(config.seeds) for act in ACTS], label="swish vs relu")
    ctx.savefig(_depth_figure(records, config), "swish_depth",
                caption=f"Test accuracy after {config.iterations} SGD steps against depth (width {config.width}, "
                        f"BatchNorm before each activation), mean ± 2 SE over {config.seeds} seeds; dots: seeds.")

    cond = (f"Fashion-MNIST (the notes: MNIST, not available offline), {config.n_train} standardised training / "
            f"{config.n_test} test images; 784-{config.width}×depth-10 MLP, Linear → BatchNorm → activation, "
            f"He-normal weights (same draw per seed for both), SGD η = {config.lr:g} momentum 0.9, batch "
            f"{config.batch_size}, {config.iterations} steps (short, for ~2 min on one core); depths "
            f"{', '.join(map(str, config.depths))}; {config.seeds} seeds")

    def describe(leads):
        return "; ".join(f"depth {d}: " + ("missing" if v is None else
                                            f"Swish − ReLU {format_lead(v)}" + (" (a Swish run diverged)"
                                                                                 if v["swish_diverged"] else ""))
                         for d, v in leads.items())

    def means(depths):
        return "; ".join(f"depth {d}: ReLU {format_mean_se(list(depth_accuracies(records, d).get('relu', {}).values()))}"
                         f", Swish {format_mean_se(list(depth_accuracies(records, d).get('swish', {}).values()))}"
                         for d in depths)

    ok_a, leads_a = check_similar(records, config.similar_depths)
    ok_b, leads_b = check_large_margin(records, config.margin_depths)
    claims = [
        Claim("39a", "with batch norm, Swish and ReLU achieve similar performance up to 40 layers (verdict: at every "
                     f"depth ≤ 40 neither leads by a large margin — ≥ {LARGE_MARGIN:.0%} test accuracy and beyond "
                     f"{NOISE_SE:g} SE)",
              ok_a, f"test accuracy {means(config.similar_depths)}. {describe(leads_a)}",
              cond + f"; judged at depths {', '.join(map(str, config.similar_depths))}", "swish_depth"),
        Claim("39b", "with batch norm, Swish outperforms ReLU by a large margin between 40 and 50 layers (verdict: "
                     f"at every such depth Swish's mean test accuracy ≥ {LARGE_MARGIN:.0%} above ReLU's, beyond "
                     f"{NOISE_SE:g} SE of the paired differences, no Swish run diverged)",
              ok_b, f"test accuracy {means(config.margin_depths)}. {describe(leads_b)}",
              cond + f"; judged at depths {', '.join(map(str, config.margin_depths))}", "swish_depth"),
    ]
    return Result(claims=claims, records=records,
                  notes="Short runs of narrow nets: the measure is how far each net trains in a fixed small budget. "
                        "The paper trained to convergence on MNIST; ReLU's collapse at 40–50 layers there is a "
                        "statement about depth at which training fails, which a short run can show or miss.")


# ================================================================================================================
# 40: the automatic search
# ================================================================================================================

@dataclass
class SearchConfig:
    """:func:`layerlab.search.search` with ``budget`` scored candidates, ``seeds`` training seeds each, a random
    phase of ``random_fraction`` of the budget and generations of ``population``; the score
    :class:`~layerlab.search.MNIST1DTask` with ``steps`` Adam steps (η = ``lr``, batch ``batch``), hidden
    ``hidden``; the references (ReLU, Swish, GELU, sigmoid, tanh) also on ``ref_seeds`` seeds for 40c."""

    budget: int = 200
    seeds: int = 2
    random_fraction: float = 0.5
    population: int = 10
    steps: int = 120
    batch: int = 128
    lr: float = 0.01
    hidden: tuple[int, ...] = (32, 32)
    ref_seeds: int = 5
    QUICK: ClassVar[dict] = {"budget": 10, "population": 5, "steps": 15, "ref_seeds": 3}


def _entries(records) -> list[dict]:
    return sorted((r for r in records if r.get("part") == "entry"), key=lambda r: int(r["rank"]))


def check_top_swish(records, top: int = TOP) -> tuple[bool, dict]:
    """40a: a function of the form x·σ(βx) (``swish_like`` in its record) ranks in the pooled top ``top``, and the
    best-ranked one ranks above the sigmoid and tanh references. Returns (holds, ranks)."""
    es = _entries(records)
    sw = [int(r["rank"]) for r in es if r["swish_like"]]
    ranks = {"best_swish_like": min(sw) if sw else None}
    for name in ("sigmoid", "tanh"):
        ranks[name] = next((int(r["rank"]) for r in es if r.get("reference") == name), None)
    best = ranks["best_swish_like"]
    ok = (best is not None and best <= top and all(ranks[n] is not None and best < ranks[n]
                                                   for n in ("sigmoid", "tanh")))
    return bool(ok), ranks


def check_found(records, top: int = TOP) -> tuple[bool, list]:
    """40b: the search itself found a function of the form x·σ(βx): a non-reference entry in the top ``top``."""
    hits = [r["expr"] for r in _entries(records)[:top] if r["swish_like"] and r["origin"] != "reference"]
    return bool(hits), hits


def check_beats(records, baseline: str) -> dict | None:
    """40c: Swish's paired lead over ``baseline`` in the score (``part == "reference"`` records, seed by seed);
    None when missing."""
    acc: dict[str, dict[int, float]] = {}
    for r in records:
        if r.get("part") == "reference":
            acc.setdefault(r["name"], {})[int(r["seed"])] = math.nan if r["score"] is None else float(r["score"])
    if "swish" not in acc or baseline not in acc:
        return None
    seeds = sorted(set(acc["swish"]) & set(acc[baseline]))
    if not seeds:
        return None
    return paired_lead([1 - acc["swish"][s] for s in seeds], [1 - acc[baseline][s] for s in seeds])


def _beats_holds(lead: dict | None) -> bool:
    return bool(lead is not None and math.isfinite(lead["diff"]) and lead["beyond"])


def _scores_figure(records):
    es = _entries(records)
    fig, axes = figures.new_figure(1, 1, panel=(5.0, 2.4), title="The leaderboard: every scored candidate")
    ax = axes[0, 0]
    ys = [r["score"] if r["score"] is not None else np.nan for r in es]
    ranks = [r["rank"] for r in es]
    colors = ["#D55E00" if r["swish_like"] else ("#000000" if r["origin"] == "reference" else "#0072B2") for r in es]
    ax.scatter(ranks, ys, c=colors, s=8)
    for r in es:
        if r["origin"] == "reference" and r["score"] is not None:
            ax.annotate(r["reference"], (r["rank"], r["score"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axvline(TOP + 0.5, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("rank (black: references; orange: of the form x·σ(βx))")
    ax.set_ylabel("validation accuracy")
    return fig


@experiment("activation_search", order=40, topic="activation functions",
            summary="random + evolutionary search over the Ramachandran et al. space on MNIST-1D: does x·σ(βx) rank "
                    "in the top 10, above sigmoid and tanh? (claims 40a–40c)")
def run_activation_search(config: SearchConfig, ctx: Context) -> Result:
    task = MNIST1DTask(hidden=tuple(config.hidden), steps=config.steps, batch=config.batch, lr=config.lr)
    try:
        task.data()
    except ImportError as e:
        raise RuntimeError(f"activation_search needs MNIST-1D (the mnist1d package): {e}") from e
    seeds = tuple(range(config.seeds))
    names = {v: k for k, v in REFERENCES.items()}
    bar = ctx.progress.task("search", total=config.budget)
    board = search(config.budget, seeds=seeds, seed=int(ctx.rng_for("search").integers(2**31)), evaluate=task,
                   random_fraction=config.random_fraction, population=config.population,
                   references=tuple(REFERENCES.values()), progress=bar.advance)
    records: list[dict] = []
    for rank, e in enumerate(board, 1):
        dist, beta = swish_distance(e.expr)
        records.append({"part": "entry", "rank": rank, **e.to_record(), "reference": names.get(e.expr),
                        "swish_distance": dist if math.isfinite(dist) else None,
                        "swish_beta": beta if math.isfinite(beta) else None, "swish_like": bool(dist < SWISH_TOL)})
    records.append({"part": "filter", "rejected": dict(board.rejected), "seconds": board.seconds})
    # 40c: the references on more seeds (the first ``seeds`` are the leaderboard's own runs)
    by_expr = {e.expr: e for e in board if e.origin == "reference"}
    extra = [(expr, s) for expr in REFERENCES.values() for s in range(len(seeds), config.ref_seeds)]
    more = dict(zip(extra, ctx.map(lambda item: task(*item), extra, label="reference seeds")))
    for name, expr in REFERENCES.items():
        for s in range(config.ref_seeds):
            score = by_expr[expr].scores[s] if s < len(seeds) else more[expr, s]
            records.append({"part": "reference", "name": name, "expr": expr, "seed": s,
                            "score": score if math.isfinite(score) else None})

    ctx.savefig(plot_top(board, TOP), "leaderboard",
                caption=f"The top {TOP} of {len(board)} (the {config.budget} searched candidates and 5 references), "
                        "each with ReLU, Swish and GELU in grey; orange: of the form x·σ(βx); title: mean "
                        f"validation accuracy over {config.seeds} seeds.")
    ctx.savefig(_scores_figure(records), "scores", caption="Every scored candidate's mean validation accuracy by rank.")

    ok_a, ranks = check_top_swish(records)
    ok_b, hits = check_found(records)
    leads = {b: check_beats(records, b) for b in ("sigmoid", "tanh")}
    ok_c = all(_beats_holds(v) for v in leads.values())
    rej = ", ".join(f"{k} {v}" for k, v in sorted(board.rejected.items()) if k != "ok")
    top_text = "; ".join(f"#{r['rank']} {r['expr']} {r['score'] if r['score'] is None else round(r['score'], 3)}"
                         + (" [x·σ(βx)]" if r["swish_like"] else "") for r in _entries(records)[:TOP])
    cond = (f"{config.budget} candidates scored (rejected before training: {rej}), random phase "
            f"{config.random_fraction:.0%} then generations of {config.population} (mutation / recombination of the "
            f"best); score: MNIST-1D, 40-{'-'.join(map(str, config.hidden))}-10 MLP, {config.steps} Adam steps "
            f"(η = {config.lr:g}, batch {config.batch}), validation accuracy on 1000 held-out training examples, mean "
            f"over {config.seeds} seeds; 'of the form x·σ(βx)': within {SWISH_TOL:g} (relative RMS, after an affine "
            "map) of x·σ(βx), β ∈ [0.5, 2]")
    claims = [
        Claim("40a", f"functions of the form x·σ(βx) (Swish, or x·Φ(x)) rank in the top {TOP} of the search, above "
                     "sigmoid and tanh (verdict: the best such function, searched or reference, scored identically, "
                     f"ranks ≤ {TOP} and above both)",
              ok_a, f"best x·σ(βx)-like rank {ranks['best_swish_like']}, sigmoid rank {ranks['sigmoid']}, tanh rank "
                    f"{ranks['tanh']} of {len(board)}; top {TOP}: {top_text}", cond, "leaderboard"),
        Claim("40b", "the search itself finds the form x·σ(βx) (verdict: a searched, non-reference candidate of that "
                     f"form in the top {TOP})",
              ok_b, (f"found: {', '.join(hits)}" if hits else "no searched candidate of that form in the top "
                     f"{TOP}") + f"; searched candidates of that form anywhere: "
                     f"{sum(1 for r in _entries(records) if r['swish_like'] and r['origin'] != 'reference')}",
              cond, "leaderboard"),
        Claim("40c", "Swish scores above sigmoid and tanh on the search's task (verdict: paired lead beyond "
                     f"{NOISE_SE:g} SE over {config.ref_seeds} seeds, against each)",
              ok_c, "; ".join(f"Swish − {b}: " + ("missing" if v is None else format_lead(v))
                              for b, v in leads.items()),
              cond + f"; references on {config.ref_seeds} seeds", "scores"),
    ]
    return Result(claims=claims, records=records,
                  notes="The paper searched with an RNN controller and 10⁴-scale budgets on CIFAR with ResNet-20; this is "
                        "a random + evolutionary search of a few hundred candidates on a tiny task, so 40b asks whether "
                        "a small budget rediscovers Swish, and 40a/40c whether Swish is competitive on this task.")


# ================================================================================================================
# 41: PReLU's learned slopes by layer
# ================================================================================================================

@dataclass
class PReLUConfig:
    """A 784-``width``×``layers``-10 MLP, channel-wise PReLU (α₀ = ``alpha0``) after each hidden Linear,
    He-normal weights; ``iterations`` SGD steps (η = ``lr``, momentum 0.9, batch ``batch_size``, no weight decay)
    on ``n_train`` standardised Fashion-MNIST images; ``seeds`` seeds."""

    layers: int = 6
    width: int = 64
    alpha0: float = 0.25
    iterations: int = 600
    batch_size: int = 128
    lr: float = 0.02
    n_train: int = 5000
    n_test: int = 1000
    seeds: int = 5
    QUICK: ClassVar[dict] = {"layers": 3, "width": 16, "iterations": 40, "n_train": 500, "n_test": 200, "seeds": 3}


def prelu_alphas(records) -> dict[int, list[float]]:
    """``{seed: [mean α of layer 1, 2, …]}`` from the ``part == "prelu"`` records."""
    out: dict[int, dict[int, float]] = {}
    for r in records:
        if r.get("part") == "prelu":
            out.setdefault(int(r["seed"]), {})[int(r["layer"])] = float(r["alpha"])
    return {s: [v[k] for k in sorted(v)] for s, v in out.items()}


def alpha_slope(alphas) -> float:
    """The least-squares slope of α against the layer index 1, 2, …"""
    a = np.asarray(alphas, dtype=np.float64)
    if a.size < 2 or not np.all(np.isfinite(a)):
        return math.nan
    return float(np.polyfit(np.arange(1, a.size + 1), a, 1)[0])


def check_first_layer(records) -> dict | None:
    """41a: per seed d = α₁ − mean(α₂…α_L); ``stats.paired_lead`` (its ``diff`` = mean d, ``beyond`` the verdict).
    None without seeds or with fewer than 2 layers."""
    al = prelu_alphas(records)
    if not al or any(len(a) < 2 for a in al.values()):
        return None
    seeds = sorted(al)
    return paired_lead([float(np.mean(al[s][1:])) for s in seeds], [al[s][0] for s in seeds])


def check_alpha_slope(records) -> dict | None:
    """41b: per seed the slope b of α against the layer index; ``diff`` = mean(−b) (> 0: α falls with depth),
    ``beyond`` the verdict."""
    al = prelu_alphas(records)
    if not al or any(len(a) < 2 for a in al.values()):
        return None
    seeds = sorted(al)
    return paired_lead([alpha_slope(al[s]) for s in seeds], [0.0] * len(seeds))


def _holds(lead) -> bool:
    return bool(lead is not None and math.isfinite(lead["diff"]) and lead["beyond"])


def _prelu_figure(records, config):
    al = prelu_alphas(records)
    fig, axes = figures.new_figure(1, 1, panel=(3.8, 2.5), title="PReLU: learned α by layer")
    ax = axes[0, 0]
    for s, a in al.items():
        ax.plot(range(1, len(a) + 1), a, "-", color="0.7", lw=0.8, marker=".", ms=3)
    if al:
        m = np.mean(np.array(list(al.values())), axis=0)
        ax.plot(range(1, len(m) + 1), m, "-o", color=figures.COLORS[0], ms=4, label="mean over seeds")
    ax.axhline(config.alpha0, color=figures.COLORS[1], ls="--", lw=0.8, label=f"initial α = {config.alpha0:g}")
    ax.set_xlabel("layer")
    ax.set_ylabel("mean learned α")
    ax.legend(fontsize=7, frameon=False)
    return fig


@experiment("prelu_slopes", order=41, topic="activation functions",
            summary="PReLU's learned α per layer on Fashion-MNIST: is the first layer's α the largest, and does α "
                    "fall with depth beyond the noise? (claims 41a, 41b)")
def run_prelu_slopes(config: PReLUConfig, ctx: Context) -> Result:
    (x, y), (xt, yt) = fashion(config.n_train, config.n_test, standardize=True, rng=ctx.rng_for("data"))

    def one_seed(seed: int) -> list[dict]:
        """One seed's run: a record per PReLU layer."""
        rng = ctx.rng_for("weights", seed)
        sizes = [x.shape[1]] + [config.width] * config.layers + [10]
        layers: list = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b, init="he_normal", rng=rng))
            if i < config.layers:
                layers.append(nn.PReLU(num_parameters=b, init=config.alpha0))
        model = nn.Sequential(*layers)
        opt = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
        with np.errstate(all="ignore"):
            fit = fit_iterations(ctx, model, opt, x, y, config.iterations, config.batch_size,
                                 label=f"prelu/seed {seed}", seed=ctx.seed + seed)
            acc = accuracy(model, xt, yt)
        prelus = [m for m in model.modules() if isinstance(m, nn.PReLU)]
        out = []
        for k, p in enumerate(prelus, 1):
            w = p.weight.data.astype(np.float64)
            out.append({"part": "prelu", "seed": seed, "layer": k, "alpha": float(w.mean()),
                        "alpha_p10": float(np.percentile(w, 10)), "alpha_p90": float(np.percentile(w, 90)),
                        "test_accuracy": acc, "diverged": fit["diverged"]})
        return out

    records: list[dict] = [r for rows in ctx.map(one_seed, range(config.seeds), label="prelu seeds") for r in rows]
    ctx.savefig(_prelu_figure(records, config), "prelu_alphas",
                caption=f"Mean learned PReLU α of each layer after {config.iterations} SGD steps; grey: seeds, blue: "
                        f"their mean, dashed: the initial α.")
    al = prelu_alphas(records)
    diverged = [r["seed"] for r in records if r["part"] == "prelu" and r["layer"] == 1 and r["diverged"] is not None]
    cond = (f"Fashion-MNIST, {config.n_train} standardised training images; 784-{config.width}×{config.layers}-10 MLP "
            f"(the notes: a CNN), channel-wise PReLU α₀ = {config.alpha0:g}, He-normal weights, SGD η = {config.lr:g} "
            f"momentum 0.9, no weight decay, batch {config.batch_size}, {config.iterations} steps; {config.seeds} seeds"
            + (f"; diverged seeds: {diverged}" if diverged else ""))
    mean_alpha = (np.mean(np.array(list(al.values())), axis=0) if al else np.array([]))
    profile = ", ".join(f"{a:.3f}" for a in mean_alpha)
    acc_text = format_mean_se([r["test_accuracy"] for r in records if r["part"] == "prelu" and r["layer"] == 1])
    lead_a, lead_b = check_first_layer(records), check_alpha_slope(records)
    claims = [
        Claim("41a", "PReLUs of the initial layer have more positive slopes (closer to linear) than the deeper ones "
                     f"(verdict: α₁ − mean(α₂…α_L) > 0 beyond {NOISE_SE:g} SE over seeds)",
              _holds(lead_a), f"mean α by layer {profile}; α₁ − mean(deeper) "
                              f"{'missing' if lead_a is None else format_lead(lead_a)}; test accuracy {acc_text}",
              cond, "prelu_alphas"),
        Claim("41b", "the learned α falls with depth: deeper layers keep smaller coefficients (verdict: the "
                     f"least-squares slope of α against the layer index < 0 beyond {NOISE_SE:g} SE over seeds)",
              _holds(lead_b), f"mean α by layer {profile}; −slope per layer "
                              f"{'missing' if lead_b is None else format_lead(lead_b)}", cond, "prelu_alphas"),
    ]
    return Result(claims=claims, records=records)
