"""Automatic search for activation functions (Ramachandran, Zoph & Le 2017, "Searching for Activation Functions").

The notes (seed 000/001): "Assume there exists a search space for activation functions (scalar functions) …
it is possible to search the space to find the best activation function"; "the best activation takes the
form x·σ(βx) … named SWISH".

**The space** (the paper's, section 3): a *core unit* b(u₁(x₁), u₂(x₂)) of two unary functions and one binary
function. Unary (:data:`UNARY`): x, −x, |x|, x², x³, √|x|, eˣ, e^(−|x|), ln(1 + eˣ), sin, cos, sinh, tanh, σ,
erf, max(x, 0), min(x, 0), β·x for the fixed β of :data:`BETAS`, and the constants 0 and 1. Binary
(:data:`BINARY`): x₁ + x₂, x₁·x₂, x₁ − x₂, x₁/(1 + |x₂|), max, min, σ(x₁)·x₂, e^(−β(x₁ − x₂)²) and
β·x₁ + (1 − β)·x₂ (β from :data:`BETAS`). A candidate has one core, b(u₁(x), u₂(x)), or two,
b(u₁(c), u₂(x)) with c a one-core candidate (the paper's figure 1: the second core takes the first core's
output and x). A *genome* is the nested tuple ``(b, u1, u2, inner)`` with ``inner`` None or a one-core
genome; :func:`render` writes it as an expression string for :meth:`nn.Activation.from_expression`.

**The rejection filter** (:func:`screen`, before any training; a few hundred microseconds): the candidate is
evaluated with its derivative on a grid of 2001 points over [−10, 10] (float64) and rejected when it is
*non-finite* (a NaN in h or ∂h/∂x: ln of a negative, 0/0), *exploding* (an infinite value or
|h| > :data:`EXPLODE_BOUND` anywhere on the grid), *constant* (max − min ≤ :data:`CONSTANT_TOL`) or a
*duplicate* (the same values on the grid, rounded to 1e-5, as a candidate seen before). A candidate that
passes must also pass :func:`layerlab.gradcheck` in float64 at 12 points of [−3, 3] (``"gradcheck"``).

**The score** (:class:`MNIST1DTask`, the default ``evaluate``): validation accuracy of a small MLP
40-32-32-10 with the candidate after each hidden Linear (He-normal weights, no normalisation) trained for
120 Adam steps (η = 0.01, batch 128: about 0.3 s on one core) on the first 3000 MNIST-1D training examples; validation: the other
1000 training examples (the test split is never used). One score per (candidate, seed); the seed draws the
weights and the batch order; the candidate's score is the mean over the seeds (NaN — a diverged run —
ranks last).

**The strategy** (:func:`search`): a random phase (``random_fraction`` of the budget, drawn from the space
and screened), then generations of ``population`` children, each a mutation (one unary or binary function
replaced, or a core added or removed) or a recombination (slots taken from two parents) of parents drawn by
tournament from the current top ``population``; children are screened like random candidates. The budget
counts *scored* candidates. ``map_fn`` (default the builtin ``map``: serial) maps the scoring over
(expression, seed) pairs, one call per batch, so a process pool's or a Dask client's ``map`` runs it in
parallel; everything sent through it (the expression strings, :class:`MNIST1DTask`) pickles.

:func:`plot_top` draws the leaderboard's best functions with ReLU, Swish and GELU for reference;
:func:`swish_like` says whether a function has Swish's shape; :func:`cli_search` is ``layerlab search``.
"""

from __future__ import annotations

import ast
import io
import json
import math
import textwrap
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import nn
from .fileio import atomic_write_bytes, atomic_write_text
from .gradcheck import GradcheckError, gradcheck
from .tensor import Tensor, no_grad

__all__ = [
    "UNARY", "BINARY", "BETAS", "EXPLODE_BOUND", "CONSTANT_TOL", "GRID", "REFERENCES", "SWISH_TOL",
    "render", "random_genome", "mutate", "recombine", "screen", "Screen", "Entry", "Leaderboard",
    "MNIST1DTask", "search", "swish_like", "swish_distance", "plot_top", "add_arguments", "cli_search",
]

#: the fixed β of the unary β·x and of the binary e^(−β(x₁−x₂)²) and β·x₁ + (1−β)·x₂ (the paper trains β;
#: fixed values keep a candidate a plain expression)
BETAS = (0.5, 2.0)

#: unary functions: name -> template with ``{}`` for the argument
UNARY: dict[str, str] = {
    "x": "{}", "neg": "-{}", "abs": "abs({})", "square": "{}**2", "cube": "{}**3", "sqrt_abs": "sqrt_abs({})",
    "exp": "exp({})", "exp_neg_abs": "exp_neg_abs({})", "softplus": "softplus({})", "sin": "sin({})",
    "cos": "cos({})", "sinh": "sinh({})", "tanh": "tanh({})", "sigmoid": "sigmoid({})", "erf": "erf({})",
    "relu": "max({}, 0)", "min0": "min({}, 0)",
    **{f"beta{b:g}": f"{b:g}*{{}}" for b in BETAS},
    "zero": "0", "one": "1",
}

#: binary functions: name -> template with ``{a}`` and ``{b}``
BINARY: dict[str, str] = {
    "add": "{a} + {b}", "mul": "{a}*{b}", "sub": "{a} - {b}", "div1abs": "{a}/(1 + abs({b}))",
    "max": "max({a}, {b})", "min": "min({a}, {b})", "sigmul": "sigmoid({a})*{b}",
    **{f"gauss{b:g}": f"exp(-{b:g}*({{a}} - {{b}})**2)" for b in BETAS},
    **{f"mix{b:g}": f"{b:g}*{{a}} + {1 - b:g}*{{b}}" for b in BETAS},
}

#: the filter's grid: 2001 points over [−10, 10] (float64); pre-activations of a trained net lie well inside
GRID = np.linspace(-10.0, 10.0, 2001)
#: "exploding": |h| above this anywhere on the grid. x³ (10³ at the edge) passes; eˣ (2.2·10⁴) and sinh
#: (1.1·10⁴) fail: a unit that multiplies a 10-σ input by more than 10³ blows a deep forward pass up
EXPLODE_BOUND = 1e4
#: "constant": max − min of h on the grid at most this (x − x, σ(x)·0, cos(0))
CONSTANT_TOL = 1e-6
#: the duplicate key: the values on the grid rounded to this
_DUP_DECIMALS = 5
#: gradcheck points: 12 points in [−3, 3], off the kinks at 0
_GC_POINTS = np.linspace(-3.0, 3.0, 12) + 0.0137

#: the reference functions of the plots and of the lab's comparison (name -> expression)
REFERENCES: dict[str, str] = {"relu": "max(x, 0)", "swish": "x*sigmoid(x)", "gelu": "x*(1 + erf(x/1.4142135623730951))/2",
                              "sigmoid": "sigmoid(x)", "tanh": "tanh(x)"}


# -- the space --------------------------------------------------------------------------------------------

def _atomic(s: str) -> bool:
    """True when ``s`` needs no parentheses as an operand: a name, a number, or one call f(…)."""
    if s.replace(".", "").replace("_", "").isalnum():
        return True
    i = s.find("(")
    if i <= 0 or not s[:i].replace("_", "").isalnum() or not s.endswith(")"):
        return False
    depth = 0
    for k, ch in enumerate(s[i:], start=i):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return k == len(s) - 1
    return False


def _wrap(s: str) -> str:
    return s if _atomic(s) else f"({s})"


def render(genome) -> str:
    """The expression string of a genome ``(b, u1, u2, inner)`` (``inner`` None or a one-core genome), in the
    canonical form of ``from_expression`` (``ast.unparse``: ``x * sigmoid(x)``)."""
    return ast.unparse(ast.parse(_raw(genome), mode="eval").body)  # the canonical form, minimal parentheses


def _raw(genome) -> str:
    b, u1, u2, inner = genome
    first = "x" if inner is None else _raw(inner)
    a = UNARY[u1].format(_wrap(first))
    c = UNARY[u2].format("x")
    return BINARY[b].format(a=_wrap(a), b=_wrap(c))


def _core(rng: np.random.Generator):
    return (str(rng.choice(list(BINARY))), str(rng.choice(list(UNARY))), str(rng.choice(list(UNARY))), None)


def random_genome(rng: np.random.Generator, p_two_cores: float = 0.5):
    """A random candidate: one core (probability 1 − ``p_two_cores``) or two."""
    g = _core(rng)
    if rng.random() < p_two_cores:
        g = _core(rng)[:3] + (g,)
    return g


def mutate(genome, rng: np.random.Generator):
    """One change: a unary or binary function of one core replaced (probability 0.8), or a core added to a
    one-core genome / the outer core removed from a two-core one."""
    b, u1, u2, inner = genome
    if rng.random() < 0.2:
        return _core(rng)[:3] + (genome,) if inner is None else inner
    cores = [genome] if inner is None else [genome, inner]
    which = int(rng.integers(len(cores)))
    core = list(cores[which])
    slot = int(rng.integers(3))
    core[slot] = str(rng.choice(list(BINARY if slot == 0 else UNARY)))
    if which == 0:
        return tuple(core)
    return (b, u1, u2, tuple(core))


def recombine(g1, g2, rng: np.random.Generator):
    """A child of two genomes: each of the outer core's three slots from either parent, and the inner core
    (or none) from either parent."""
    slots = tuple(g1[k] if rng.random() < 0.5 else g2[k] for k in range(3))
    inner = g1[3] if rng.random() < 0.5 else g2[3]
    return slots + (inner,)


def _as_genome(g):
    """A genome from its JSON form (lists) back to tuples."""
    if g is None:
        return None
    return (g[0], g[1], g[2], _as_genome(g[3]))


# -- the rejection filter -----------------------------------------------------------------------------------

def _values(act, x: np.ndarray):
    with np.errstate(all="ignore"):
        return act.f(x), act.df(x)


@dataclass
class Screen:
    """The rejection filter with its memory of the values seen (for duplicates) and its counts."""

    seen: dict = field(default_factory=dict)   # duplicate key -> the first expression with those values
    counts: Counter = field(default_factory=Counter)

    def __call__(self, expr: str, check_gradients: bool = True) -> tuple[bool, str]:
        """(kept, reason): reason is ``"ok"`` or why ``expr`` was rejected (see the module docstring)."""
        ok, reason, key = screen(expr, check_gradients=check_gradients)
        if ok:
            if key in self.seen:
                ok, reason = False, "duplicate"
            else:
                self.seen[key] = expr
        self.counts[reason] += 1
        return ok, reason


def screen(expr: str, check_gradients: bool = True) -> tuple[bool, str, bytes | None]:
    """Screen one expression on :data:`GRID`: (kept, reason, duplicate key). Reasons: ``"ok"``,
    ``"syntax"``, ``"non-finite"``, ``"exploding"``, ``"constant"``, ``"gradcheck"`` (duplicates need the
    memory of a :class:`Screen`)."""
    try:
        act = nn.Activation.from_expression(expr, can_die=False)
    except ValueError:
        return False, "syntax", None
    y, d = _values(act, GRID)
    if np.isnan(y).any() or np.isnan(d).any():
        return False, "non-finite", None
    if not (np.isfinite(y).all() and np.isfinite(d).all()) or np.abs(y).max() > EXPLODE_BOUND:
        return False, "exploding", None
    if y.max() - y.min() <= CONSTANT_TOL:
        return False, "constant", None
    key = np.round(y, _DUP_DECIMALS).tobytes()
    if check_gradients:
        try:
            gradcheck(act, Tensor(_GC_POINTS.copy(), requires_grad=True))
        except (GradcheckError, FloatingPointError):
            return False, "gradcheck", key
    return True, "ok", key


# -- the score -------------------------------------------------------------------------------------------------

_DATA: dict = {}


@dataclass(frozen=True)
class MNIST1DTask:
    """The default ``evaluate``: ``task(expr, seed)`` -> validation accuracy (NaN when the run diverged).

    A 40-``hidden``-10 MLP with the candidate after each hidden Linear (He-normal weights, zero biases,
    float32), ``steps`` Adam steps (η = ``lr``) on batches of ``batch`` from the first ``n_train`` MNIST-1D
    training examples; accuracy on the next ``n_val`` training examples (a validation split; the test split
    is not touched). ``seed`` draws the weights and the batch order. Picklable (a process pool can run it).
    """

    hidden: tuple = (32, 32)
    steps: int = 120
    batch: int = 128
    lr: float = 0.01
    n_train: int = 3000
    n_val: int = 1000

    def data(self):
        key = (self.n_train, self.n_val)
        if key not in _DATA:
            from .data import mnist1d
            (x, y), _ = mnist1d()
            if self.n_train + self.n_val > len(x):
                raise ValueError(f"MNIST1DTask: n_train + n_val = {self.n_train + self.n_val} > {len(x)} examples")
            _DATA[key] = (x[:self.n_train], y[:self.n_train],
                          x[self.n_train:self.n_train + self.n_val], y[self.n_train:self.n_train + self.n_val])
        return _DATA[key]

    def __call__(self, expr: str, seed: int) -> float:
        from . import optim
        x, y, xv, yv = self.data()
        rng = np.random.default_rng([int(seed), 1729])
        act = nn.Activation.from_expression(expr, can_die=False)
        sizes = (x.shape[1], *self.hidden, 10)
        layers: list = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b, init="he_normal", rng=rng, dtype=np.float32))
            if i < len(sizes) - 2:
                layers.append(type(act)())
        model = nn.Sequential(*layers)
        opt = optim.Adam(model.parameters(), lr=self.lr)
        loss_fn = nn.CrossEntropyLoss()
        with np.errstate(all="ignore"):
            for _ in range(self.steps):
                idx = rng.integers(0, len(x), self.batch)
                loss = loss_fn(model(Tensor(x[idx])), Tensor(y[idx]))
                if not np.isfinite(loss.data):
                    return math.nan
                opt.zero_grad()
                loss.backward()
                if any(p.grad is not None and not np.all(np.isfinite(p.grad)) for p in model.parameters()):
                    return math.nan
                opt.step()
            with no_grad():
                out = model(Tensor(xv)).data
        if not np.all(np.isfinite(out)):
            return math.nan
        return float((out.argmax(axis=1) == yv).mean())


# -- the search -----------------------------------------------------------------------------------------------

@dataclass
class Entry:
    """One scored candidate: its expression, genome (None for a reference), mean score over the seeds, the
    score per seed, where it came from (``random``, ``mutation``, ``recombination``, ``reference``) and the
    generation (0: the random phase)."""

    expr: str
    genome: tuple | None
    score: float
    scores: list
    origin: str
    generation: int = 0

    def to_record(self) -> dict:
        d = asdict(self)
        d["score"] = None if not math.isfinite(self.score) else self.score
        d["scores"] = [None if not math.isfinite(s) else s for s in self.scores]
        return d


def _sort_key(e: Entry):
    return (-e.score if math.isfinite(e.score) else math.inf, e.expr)


@dataclass
class Leaderboard:
    """The scored candidates best first (``entries``), what the filter rejected (``rejected``: reason ->
    count), the seeds and the budget."""

    entries: list
    rejected: dict
    seeds: tuple
    budget: int
    seconds: float = 0.0

    def __iter__(self):
        return iter(self.entries)

    def __len__(self):
        return len(self.entries)

    def __getitem__(self, i):
        return self.entries[i]

    def top(self, n: int = 10, origins=None) -> list:
        """The best ``n`` entries (only those whose origin is in ``origins`` when given)."""
        es = [e for e in self.entries if origins is None or e.origin in origins]
        return es[:n]

    def rank(self, expr: str) -> int | None:
        """1-based rank of ``expr`` (None if absent)."""
        for i, e in enumerate(self.entries, 1):
            if e.expr == expr:
                return i
        return None

    def to_json(self) -> dict:
        return {"budget": self.budget, "seeds": list(self.seeds), "rejected": dict(self.rejected),
                "seconds": self.seconds, "entries": [e.to_record() for e in self.entries]}


@dataclass(frozen=True)
class _Scorer:
    evaluate: object

    def __call__(self, task):
        expr, seed = task
        return float(self.evaluate(expr, seed))


def _score(batch: list[tuple[str, tuple | None, str, int]], seeds, evaluate, map_fn) -> list[Entry]:
    tasks = [(expr, s) for expr, *_ in batch for s in seeds]
    results = list(map_fn(_Scorer(evaluate), tasks))
    out = []
    for k, (expr, genome, origin, gen) in enumerate(batch):
        sc = results[k * len(seeds):(k + 1) * len(seeds)]
        mean = float(np.mean(sc)) if all(math.isfinite(s) for s in sc) else math.nan
        out.append(Entry(expr, genome, mean, [float(s) for s in sc], origin, gen))
    return out


def search(budget: int, seeds=(0, 1), seed: int = 0, evaluate=None, map_fn=map, *, random_fraction: float = 0.5,
           population: int = 10, references=(), max_tries: int | None = None, progress=None) -> Leaderboard:
    """Search the space for activation functions; returns the :class:`Leaderboard` (best first).

    Args:
        budget: how many candidates to score (each on every seed); rejected candidates do not count.
        seeds: the training seeds of the score (≥ 2 for a mean with a spread).
        seed: the generator's seed (the same seed gives the same candidates, in the same order).
        evaluate: ``evaluate(expr, seed) -> score`` (higher is better; NaN: diverged). Default
            :class:`MNIST1DTask()`.
        map_fn: ``map_fn(fn, iterable)`` over (expression, seed) pairs, called once per batch (default: the
            builtin ``map``, serial); a process pool's or a Dask client's ``map`` parallelises the scoring.
        random_fraction: the share of the budget drawn at random before the evolutionary steps.
        population: the size of the parent pool (the current best) and of each generation of children.
        references: expressions scored alongside (origin ``"reference"``, not in the budget, never parents).
        max_tries: give up drawing after this many screened candidates (default 200 × budget).
        progress: called with the number of candidates just scored, after each batch.
    """
    if budget < 1:
        raise ValueError(f"search: budget must be >= 1, got {budget}")
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("search: needs at least one seed")
    evaluate = evaluate or MNIST1DTask()
    rng = np.random.default_rng(seed)
    scr = Screen()
    max_tries = max_tries or 200 * budget
    t0 = time.perf_counter()
    tries = 0

    def draw(n: int, make, gen: int) -> list:
        nonlocal tries
        batch: list = []
        while len(batch) < n and tries < max_tries:
            genome, origin = make()
            tries += 1
            expr = render(genome)
            if scr(expr)[0]:
                batch.append((expr, genome, origin, gen))
        return batch

    entries: list[Entry] = []
    refs = [(expr, None, "reference", 0) for expr in references]
    for expr in references:
        scr.seen.setdefault(screen(expr, check_gradients=False)[2], expr)  # a search hit equal to one is a duplicate
    n_random = max(1, min(budget, int(round(budget * random_fraction))))
    first = draw(n_random, lambda: (random_genome(rng), "random"), 0)
    scored = _score(refs + first, seeds, evaluate, map_fn)
    entries += scored
    if progress:
        progress(len(first))
    found = len(first)
    gen = 0
    while found < budget and tries < max_tries:
        gen += 1
        pool = sorted((e for e in entries if e.origin != "reference"), key=_sort_key)[:population]

        def child():
            if rng.random() < 0.5 or len(pool) < 2:
                return mutate(_tournament(pool, rng).genome, rng), "mutation"
            return recombine(_tournament(pool, rng).genome, _tournament(pool, rng).genome, rng), "recombination"

        batch = draw(min(population, budget - found), child, gen)
        if not batch:
            break
        entries += _score(batch, seeds, evaluate, map_fn)
        found += len(batch)
        if progress:
            progress(len(batch))
    entries.sort(key=_sort_key)
    return Leaderboard(entries, dict(scr.counts), seeds, budget, time.perf_counter() - t0)


def _tournament(pool: list[Entry], rng: np.random.Generator, k: int = 2) -> Entry:
    picks = [pool[int(i)] for i in rng.integers(0, len(pool), k)]
    return min(picks, key=_sort_key)


# -- Swish's shape ------------------------------------------------------------------------------------------------

#: the β range of "the form x·σ(βx)": 0.5 … 2, which holds the notes' β = 1 and GELU's 1.702 (x·Φ(x) ≈
#: x·σ(1.702x)); larger β approaches ReLU, which must not count as Swish
_SWISH_BETAS = np.concatenate([np.linspace(0.5, 2.0, 61), [1.702]])
_SWISH_GRID = np.linspace(-5.0, 5.0, 401)
#: "of the form x·σ(βx)": after the best affine map a·h + c (the next layer's weights and bias absorb it),
#: the RMS distance to x·σ(βx) for some β in [0.5, 2] is below this fraction of the target's spread on
#: [−5, 5]. x·Φ(x)'s distance is 0.005, ReLU's 0.027, softplus's 0.057, tanh's 0.52: 0.01 keeps the
#: GELU-like shapes and excludes ReLU
SWISH_TOL = 0.01


def swish_distance(values_or_expr) -> tuple[float, float]:
    """(smallest relative RMS distance after an affine fit, its β) of h to x·σ(βx) on [−5, 5]; h is an
    expression or its values on ``np.linspace(-5, 5, 401)``."""
    y = values_or_expr
    if isinstance(y, str):
        with np.errstate(all="ignore"):
            y = nn.Activation.from_expression(y, can_die=False).f(_SWISH_GRID.copy())
    y = np.asarray(y, dtype=np.float64)
    if not np.all(np.isfinite(y)) or np.ptp(y) == 0:
        return math.inf, math.nan
    best, best_b = math.inf, math.nan
    for b in _SWISH_BETAS:
        t = _SWISH_GRID / (1.0 + np.exp(-b * _SWISH_GRID))
        A = np.stack([y, np.ones_like(y)], axis=1)
        coef, *_ = np.linalg.lstsq(A, t, rcond=None)
        if abs(coef[0]) < 1e-12:
            continue
        r = float(np.sqrt(np.mean((A @ coef - t) ** 2)) / np.std(t))
        if r < best:
            best, best_b = r, float(b)
    return best, best_b


def swish_like(values_or_expr, tol: float = SWISH_TOL) -> bool:
    """Is h of the form x·σ(βx), β ∈ [0.5, 2], up to an affine map of its output (see :data:`SWISH_TOL`)?"""
    return bool(swish_distance(values_or_expr)[0] < tol)


# -- the figure -----------------------------------------------------------------------------------------------------

def plot_top(board: Leaderboard, n: int = 10, references=("relu", "swish", "gelu"), origins=None, title=None):
    """A matplotlib Figure: the best ``n`` entries (one panel each, with its score) with the reference
    functions (:data:`REFERENCES`) drawn grey in every panel."""
    from matplotlib.figure import Figure

    top = board.top(n, origins)
    cols = min(5, max(1, len(top)))
    rows = max(1, -(-len(top) // cols))
    fig = Figure(figsize=(2.6 * cols + 0.4, 2.5 * rows + 0.6), dpi=100)
    axes = fig.subplots(rows, cols, squeeze=False)
    x = np.linspace(-5.0, 5.0, 401)
    styles = {"relu": ":", "swish": "--", "gelu": "-."}
    ref_y = {r: nn.Activation.from_expression(REFERENCES[r], can_die=False).f(x.copy()) for r in references}
    for k, ax in enumerate(axes.flat):
        if k >= len(top):
            ax.set_visible(False)
            continue
        e = top[k]
        for r, yr in ref_y.items():
            ax.plot(x, yr, styles.get(r, "--"), color="0.6", lw=1, label=r)
        with np.errstate(all="ignore"):
            y = nn.Activation.from_expression(e.expr, can_die=False).f(x.copy())
        ax.plot(x, y, color="#D55E00" if swish_like(y) else "#0072B2", lw=1.6)
        lo, hi = np.nanmin(y), np.nanmax(y)
        ax.set_ylim(min(-2.0, lo - 0.2), max(5.5, min(hi, 20.0) + 0.2))
        lines = textwrap.wrap(e.expr, 36, break_long_words=True)
        label = "\n".join(lines[:2]) + ("…" if len(lines) > 2 else "")
        ax.set_title(f"#{k + 1} {e.score:.3f}\n{label}", fontsize=6.5)
        ax.tick_params(labelsize=7)
        if k == 0 and ref_y:
            ax.legend(fontsize=6, frameon=False, loc="upper left")
    fig.suptitle(title or f"Top {len(top)} of {len(board)} (orange: of the form x·σ(βx); grey: references)",
                 fontsize=9)
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.08, top=0.78 if rows == 1 else 0.86, hspace=0.85,
                        wspace=0.3)
    return fig


# -- the command line --------------------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    """The arguments of ``layerlab search`` (for the CLI's subparser)."""
    parser.add_argument("--budget", type=int, default=200, help="candidates to score (default 200)")
    parser.add_argument("--workers", type=int, default=1, help="processes scoring in parallel (default 1)")
    parser.add_argument("--scheduler", default=None, help="a Dask scheduler address (runs the scoring there)")
    parser.add_argument("--seed", type=int, default=0, help="the generator's seed (default 0)")
    parser.add_argument("--seeds", type=int, default=2, help="training seeds per candidate (default 2)")
    parser.add_argument("--out", default=None, help="directory for leaderboard.json and top10.png")


def cli_search(args) -> int:
    """``layerlab search --budget N --workers N [--scheduler ADDR] [--seed S] [--out DIR]``: run
    :func:`search` with the default score and print the top 10; with ``--out`` write ``leaderboard.json``
    and ``top10.png`` there. Returns the exit code."""
    import sys

    budget, workers, n_seeds = int(args.budget), int(args.workers), int(args.seeds)
    for flag, value in (("--budget", budget), ("--workers", workers), ("--seeds", n_seeds)):
        if value < 1:
            print(f"layerlab search: {flag} must be an integer ≥ 1, got {value}", file=sys.stderr)
            return 2
    seeds = tuple(range(n_seeds))
    scheduler = getattr(args, "scheduler", None)
    pool = client = None
    map_fn = map
    try:
        if scheduler:
            try:
                from dask.distributed import Client
            except ImportError:
                print("layerlab search: --scheduler needs dask.distributed (pip install 'dask[distributed]')")
                return 2
            client = Client(scheduler)
            map_fn = lambda fn, xs: client.gather(client.map(fn, list(xs), pure=False))  # noqa: E731
        elif workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
            map_fn = lambda fn, xs: pool.map(fn, list(xs), chunksize=1)  # noqa: E731
        board = search(budget, seeds=seeds, seed=int(getattr(args, "seed", 0) or 0), map_fn=map_fn,
                       references=tuple(REFERENCES.values()))
    finally:
        if pool is not None:
            pool.shutdown()
        if client is not None:
            client.close()
    print(f"{len(board)} scored in {board.seconds:.1f} s; rejected: "
          + ", ".join(f"{k} {v}" for k, v in sorted(board.rejected.items()) if k != "ok"))
    for i, e in enumerate(board.top(10), 1):
        print(f"{i:3d}  {e.score:.4f}  {e.origin:13s} {e.expr}")
    out = getattr(args, "out", None)
    if out:
        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        atomic_write_text(d / "leaderboard.json", json.dumps(board.to_json(), indent=1))
        buf = io.BytesIO()
        plot_top(board, 10).savefig(buf, format="png")
        atomic_write_bytes(d / "top10.png", buf.getvalue())
        print(f"wrote {d / 'leaderboard.json'} and {d / 'top10.png'}")
    return 0
