"""The measurements several experiments share — one implementation each.

Seeds: :func:`mean_se` (mean and standard error over seeds) and :func:`paired_lead` (paired per-seed
differences, "beyond the noise" when the mean exceeds ``NOISE_SE`` standard errors). Curves:
:func:`tail_mean`, :func:`running_mean`, :func:`steps_to` (time to a threshold) and :func:`much_faster`
(the lab's one definition of "much faster"). Networks: :func:`unit_fractions` (dead / saturated /
gradient-starved units, read from the activation classes' traits), :func:`forward_stats` (per-layer
statistics of one forward pass), :func:`accuracy`, :func:`best_linear_accuracy`.

A verdict of the lab is a plain function of numbers these return, with its threshold stated in advance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import layerlab as ll
from layerlab import nn
from layerlab.probes import ActivationStats

__all__ = [
    "NOISE_SE", "MUCH_FASTER", "FLAT_DF", "mean_se", "paired_lead", "format_mean_se", "format_lead", "tail_mean", "running_mean", "steps_to",
    "much_faster", "much_faster_holds", "speedup", "unit_fractions", "dead_masks", "LayerStats", "forward_stats", "accuracy",
    "best_linear_accuracy",
]

#: a difference is "beyond the noise" when its mean over seeds exceeds NOISE_SE standard errors of that mean
NOISE_SE = 2.0
#: "much faster" (every claim of that kind in the lab): the fast run reaches the slow run's final loss in at
#: most 1/MUCH_FASTER of the steps the slow run needs to get there (Krizhevsky et al. 2012 state their
#: "six times faster" the same way: iterations to a fixed training error)
MUCH_FASTER = 2.0
#: an entry is gradient-starved when |f′(a)| < FLAT_DF
FLAT_DF = 0.05


# -- over seeds --------------------------------------------------------------------------------------------------
def mean_se(values) -> tuple[float, float]:
    """(mean, standard error of the mean) over seeds; the SE is NaN with fewer than 2 values."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return float(v.mean()) if v.size else math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size))


def paired_lead(ahead, behind, k: float = NOISE_SE) -> dict:
    """How far the per-seed losses ``ahead`` (lower is better) are ahead of ``behind``, seed by seed.

    The runs of one seed share the data order and the weight draws, so the comparison is paired:
    d_s = behind_s − ahead_s. Returns ``diff`` = mean(d) (> 0: ahead), ``se`` = std(d)/√n (ddof 1;
    NaN with one seed), ``beyond`` = diff > k·se (False when the SE is unknown), ``seeds_ahead`` =
    how many d_s > 0, ``seeds`` = n, and ``d`` the per-seed differences.
    """
    d = np.asarray(behind, dtype=np.float64) - np.asarray(ahead, dtype=np.float64)
    diff, se = mean_se(d)
    return {"diff": diff, "se": se, "beyond": bool(math.isfinite(se) and diff > k * se),
            "seeds_ahead": int(np.sum(d > 0)), "seeds": int(d.size), "d": [float(v) for v in d]}


def format_mean_se(values, digits: int = 3) -> str:
    """``"0.478 ± 0.001"``: the mean over seeds and its standard error (the mean alone with one seed)."""
    m, se = mean_se(values)
    return f"{m:.{digits}f}" + (f" ± {se:.{digits}f}" if math.isfinite(se) else "")


def format_lead(r: dict) -> str:
    """``"+0.0010 ± 0.0006 (+1.7 SE) (per seed +0.0006, +0.0022, +0.0002)"``: a :func:`paired_lead`."""
    out = f"{r['diff']:+.4f}"
    if r["diff"] == 0 and r["se"] == 0:
        return out + " (the same on every seed: no difference to measure)"
    if math.isfinite(r["se"]):
        ratio = r["diff"] / r["se"] if r["se"] > 0 else math.copysign(math.inf, r["diff"])
        out += f" ± {r['se']:.4f} ({ratio:+.1f} SE)"
    return out + " (per seed " + ", ".join(f"{v:+.4f}" for v in r["d"]) + ")"


# -- over a curve --------------------------------------------------------------------------------------------------
def tail_mean(values, n: int) -> float:
    """Mean of the last ``n`` values; NaN when the run diverged (a NaN among them) or there are none."""
    v = np.asarray(list(values)[-n:], dtype=np.float64)
    return float(v.mean()) if v.size else math.nan


def running_mean(y, window: int) -> np.ndarray:
    """Running mean over the last ``window`` values (over what there is for the first ones)."""
    y = np.asarray(y, dtype=np.float64)
    if window <= 1 or y.size == 0:
        return y
    c = np.concatenate([[0.0], np.cumsum(y)])
    end = np.arange(1, y.size + 1)
    start = np.maximum(end - window, 0)
    return (c[end] - c[start]) / (end - start)


def steps_to(losses, level: float, window: int = 1) -> int | None:
    """Time to a threshold: the first step at which the running mean of the last ``window`` losses is at or
    below ``level`` (None if it never is; a NaN, i.e. a diverged run, never is)."""
    smooth = running_mean(np.asarray(losses, dtype=np.float64), window)
    hit = np.flatnonzero(smooth <= level)
    return int(hit[0]) if hit.size else None


def much_faster(fast, slow, window: int = 50, factor: float = MUCH_FASTER) -> dict:
    """Does the run ``fast`` train much faster than ``slow`` (two loss curves of the same length)?

    The level is where ``slow`` ends (the running mean of its last ``window`` losses); ``slow`` needs
    ``steps_slow`` steps to reach it, ``fast`` needs ``steps_fast`` (running means of ``window`` steps).
    ``ratio`` = (steps_slow + 1) / (steps_fast + 1); ``holds`` when ratio ≥ ``factor``, the fast run did not
    diverge (a non-finite loss anywhere) and it also *ends* at or below the level (``ends_above`` False): a
    run that starts below the level and then blows up has not trained faster.
    """
    fast, slow = np.asarray(fast, dtype=np.float64), np.asarray(slow, dtype=np.float64)
    n = min(len(fast), len(slow))
    fast, slow = fast[:n], slow[:n]
    level = float(running_mean(slow, window)[-1]) if n else math.nan  # = tail_mean(slow, window), the same sums
    t_slow = steps_to(slow, level, window)
    t_fast = steps_to(fast, level, window)
    diverged = not bool(np.all(np.isfinite(fast)))
    fast_end = float(running_mean(fast, window)[-1]) if n else math.nan
    ends_above = not fast_end <= level
    return {"level": level, "steps_fast": t_fast, "steps_slow": t_slow, "ratio": speedup(t_fast, t_slow), "steps": n,
            "diverged": diverged, "fast_end": fast_end, "ends_above": ends_above,
            "holds": much_faster_holds(t_fast, t_slow, diverged, ends_above, factor)}


def speedup(steps_fast: int | None, steps_slow: int | None) -> float:
    """(steps_slow + 1) / (steps_fast + 1): how many times fewer steps the fast run needs (0 when it never
    gets there, inf when only it does)."""
    if steps_fast is None:
        return 0.0
    return math.inf if steps_slow is None else (steps_slow + 1) / (steps_fast + 1)


def much_faster_holds(steps_fast: int | None, steps_slow: int | None, diverged: bool, ends_above: bool,
                      factor: float = MUCH_FASTER) -> bool:
    """The verdict of :func:`much_faster` from its stored numbers: the fast run got to the level, did not
    diverge, ends at or below it, and needed at most 1/``factor`` of the slow run's steps."""
    return bool(steps_fast is not None and not diverged and not ends_above
                and speedup(steps_fast, steps_slow) >= factor)


# -- inside a network -----------------------------------------------------------------------------------------------
def _activations(model: nn.Sequential, x: np.ndarray):
    """(module, input, output) of every activation module of ``model`` in one forward pass on ``x``
    (eval mode, no graph; a diverged model is measured as it is)."""
    out, found = ll.Tensor(x), []
    was = model.training
    model.eval()
    try:
        with ll.no_grad(), np.errstate(all="ignore"):
            for m in model:
                pre, out = out, m(out)
                if isinstance(m, nn.Activation):
                    found.append((m, pre.data, out.data))
    finally:
        model.train(was)
    return found


def dead_masks(model: nn.Sequential, x: np.ndarray) -> list[np.ndarray]:
    """Per activation layer of ``model`` that can die (``can_die`` on its class): the boolean mask of its
    dead units on the inputs ``x``, by the class's own rule (``Activation.dead_units``: no positive output
    on any input — the same event for ReLU and LeakyReLU, and the one the probes count)."""
    return [m.dead_units(y) for m, _, y in _activations(model, x) if type(m).can_die]


def unit_fractions(model: nn.Sequential, x: np.ndarray, flat: float = FLAT_DF) -> list[dict]:
    """Per hidden activation layer of ``model`` on inputs ``x`` (eval mode, no graph): ``dead`` (for a
    class with ``can_die``) and ``saturated`` (for a class with ``saturates``) as :class:`ActivationStats`
    counts them (None where the notion does not apply), and ``flat``: the fraction of entries with |f′(a)| < ``flat``, from the
    activation's own ``df``."""
    was = model.training
    model.eval()
    try:
        with ActivationStats(model, what="post", bins=0) as probe, ll.no_grad(), np.errstate(all="ignore"):
            model(ll.Tensor(x))
    finally:
        model.train(was)
    summary = probe.summary()
    flats = [float(np.mean(np.abs(m.df(a, y)) < flat)) for m, a, y in _activations(model, x)]
    return [{"dead": s.get("post/dead"), "saturated": s.get("post/saturated"), "flat": f}
            for s, f in zip((summary[k] for k in probe.layer_names), flats)]


@dataclass
class LayerStats:
    """What one forward pass shows of one layer: the statistics of its pre-activations a and its
    activations h over all N × units entries, and the histogram of h."""

    layer: int
    mean: float
    std: float
    p15: float
    p50: float
    p85: float
    saturated: float | None
    dead: float | None
    pre_mean: float
    pre_std: float
    hist: tuple[np.ndarray, np.ndarray] | None

    def row(self) -> dict:
        """A flat dict for a record table (no histogram)."""
        out = {"layer": self.layer, "mean": self.mean, "std": self.std, "p15": self.p15, "p50": self.p50,
               "p85": self.p85, "pre_mean": self.pre_mean, "pre_std": self.pre_std}
        if self.saturated is not None:
            out["saturated"] = self.saturated
        if self.dead is not None:
            out["dead"] = self.dead
        return out


def forward_stats(model: nn.Module, x: np.ndarray, *, layers=None, bins: int = 50,
                  hist_range: tuple[float, float] | None = None) -> tuple[list[LayerStats], np.ndarray]:
    """One forward pass of ``model`` on ``x`` under :class:`ActivationStats`; returns the per-layer
    statistics (in the model's order) and the output.

    ``layers``: which modules to measure (default: the activation modules; ``nn.Linear`` for a
    purely linear net). ``hist_range``: the bins of the activations' histograms.
    """
    probe = ActivationStats(model, layers=layers, bins=bins, range=None if hist_range is None else {"post": hist_range})
    with ll.no_grad(), probe:
        out = model(x)
    summary = probe.summary()
    hists = probe.histograms(kind="post")
    stats = []
    for i, name in enumerate(probe.layer_names, 1):
        s = summary[name]
        stats.append(LayerStats(
            layer=i, mean=s["post/mean"], std=s["post/std"], p15=s["post/p15"], p50=s["post/p50"],
            p85=s["post/p85"], saturated=s.get("post/saturated"), dead=s.get("post/dead"),
            pre_mean=s["pre/mean"], pre_std=s["pre/std"], hist=hists.get(name)))
    return stats, out.data


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``x`` whose largest logit is the label (the model in eval mode, no graph)."""
    was = model.training
    model.eval()
    try:
        with ll.no_grad():
            return float((model(ll.Tensor(x)).data.argmax(axis=1) == y).mean())
    finally:
        model.train(was)


def best_linear_accuracy(x, y, chunk: int = 2048) -> tuple[float, np.ndarray, float, int]:
    """The highest training accuracy any straight line reaches on 2-D points of two classes (exact).

    A line classifies by the sign of u·x − t. The order of the projections u·x changes only
    at the angles where u ⟂ x_i − x_j, so one direction between each pair of consecutive
    such angles, with every threshold between consecutive projections and both
    orientations, covers every distinct labelling a line can make (O(n³ log n) work,
    vectorised; about a second for n = 400).

    Returns:
        (accuracy, u, t, sign): the best line predicts class 1 where sign·(u·x − t) > 0.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) != len(y) or len(x) < 2:
        raise ValueError(f"best_linear_accuracy: expected x of shape (n, 2), n >= 2, and n labels; got x "
                         f"{x.shape}, y {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"best_linear_accuracy: labels must be 0 or 1, got {np.unique(y)[:10]}")
    n = len(x)
    i, j = np.triu_indices(n, 1)
    d = x[i] - x[j]
    crit = np.unique(np.mod(np.arctan2(d[:, 1], d[:, 0]) + math.pi / 2, math.pi))
    angles = np.concatenate([(crit[:-1] + crit[1:]) / 2, [(crit[-1] + crit[0] + math.pi) / 2]])
    n1 = int((y == 1).sum())
    cut = np.arange(n + 1)
    best = (-1, 0.0, 0, 1)  # (correct, angle, cut, sign)
    for s in range(0, len(angles), chunk):
        a = angles[s:s + chunk]
        proj = np.cos(a)[:, None] * x[:, 0] + np.sin(a)[:, None] * x[:, 1]
        order = np.argsort(proj, axis=1)
        zeros_below = np.zeros((len(a), n + 1), dtype=np.int64)
        np.cumsum(y[order] == 0, axis=1, out=zeros_below[:, 1:])
        # class 0 below the cut, class 1 above: zeros below + ones above
        correct = zeros_below + (n1 - (cut - zeros_below))
        flipped = n - correct
        for arr, sign in ((correct, 1), (flipped, -1)):
            k = int(arr.argmax())
            r, p = divmod(k, n + 1)
            if arr[r, p] > best[0]:
                best = (int(arr[r, p]), float(a[r]), p, sign)
    correct, angle, p, sign = best
    u = np.array([math.cos(angle), math.sin(angle)])
    proj = np.sort(x @ u)
    t = (proj[0] - 1.0 if p == 0 else proj[-1] + 1.0 if p == n else (proj[p - 1] + proj[p]) / 2)
    return correct / n, u, float(t), sign
