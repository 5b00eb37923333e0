"""Figures in the style of the notes: per-layer histograms side by side, loss curves, percentile bands.

Every helper returns a ``matplotlib.figure.Figure`` built without pyplot (no global state,
no GUI backend, nothing to close; PNGs are rendered by Agg), to be saved with
``ctx.savefig(fig, name)``. Inputs are plain arrays or mappings ``{label: data}``; the
order of a mapping is the order of the panels / lines.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

import layerlab as ll

from ..fileio import atomic_open
from .stats import running_mean

__all__ = [
    "new_figure", "layer_histograms", "layer_histogram_grid", "loss_curves", "percentile_bands",
    "percentile_band_grid", "layer_profile", "bar_chart", "table_figure", "regions_figure", "save_png", "COLORS",
    "thin", "MAX_POINTS",
]

# A colour-blind-safe cycle (Okabe–Ito), one colour per condition across all figures of a report.
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]



def _style(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.tick_params(labelsize=8)
    ax.title.set_fontsize(9)
    ax.xaxis.label.set_fontsize(9)
    ax.yaxis.label.set_fontsize(9)


def new_figure(nrows: int = 1, ncols: int = 1, *, panel: tuple[float, float] = (2.4, 1.8),
               sharex: bool | str = False, sharey: bool | str = False, title: str | None = None,
               margins: Mapping[str, float] | None = None):
    """A Figure with an ``nrows × ncols`` array of styled axes (always 2-D), each ``panel`` inches.

    The layout is fixed in inches (``margins``: left, right, bottom, top, wspace, hspace), not
    constrained: matplotlib's constrained layout doubles the rendering time of a many-panel figure.
    """
    m = {"left": 0.6, "right": 0.2, "bottom": 0.5, "top": 0.5, "wspace": 0.55, "hspace": 0.85}
    m.update(margins or {})
    top = m["top"] + (0.35 if title else 0.0)
    pw, ph = panel
    width = m["left"] + ncols * pw + (ncols - 1) * m["wspace"] + m["right"]
    height = m["bottom"] + nrows * ph + (nrows - 1) * m["hspace"] + top
    fig = Figure(figsize=(width, height), dpi=100)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=sharex, sharey=sharey)
    fig.subplots_adjust(left=m["left"] / width, right=1 - m["right"] / width, bottom=m["bottom"] / height,
                        top=1 - top / height, wspace=m["wspace"] / pw, hspace=m["hspace"] / ph)
    for ax in axes.flat:
        _style(ax)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.12 / height, va="top")
    return fig, axes


def _label_bottom(axes, xlabel: str) -> None:
    """Put tick labels and the x label on the lowest visible axes of each column (ragged grids)."""
    nrows, ncols = axes.shape
    for c in range(ncols):
        visible = [r for r in range(nrows) if axes[r, c].get_visible()]
        if visible:
            ax = axes[visible[-1], c]
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel(xlabel)


def save_png(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write ``fig`` as a PNG atomically (temporary file, then rename); close it if pyplot manages it."""
    import sys

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi)
    if "matplotlib.pyplot" in sys.modules and getattr(fig.canvas, "manager", None) is not None:
        sys.modules["matplotlib.pyplot"].close(fig)
    return path


# -- data normalisation ---------------------------------------------------------------------------
#: the most points a helper draws per line: a 1-D curve longer than this is thinned (:func:`thin`); a panel is
#: ~500 pixels wide at 100 dpi, so drawing more changes no pixel's extent and only costs rendering time
MAX_POINTS = 2000


def thin(x, y, *extra, max_points: int = MAX_POINTS) -> tuple[np.ndarray, ...]:
    """``(x, y, *extra)`` reduced to at most ``max_points + 2`` points for drawing: the first and last point,
    and in each of ``max_points // 2`` equal runs of consecutive points the one with the smallest and the one
    with the largest ``y`` (min–max decimation: the drawn envelope, spikes included, is the full curve's).

    A run whose ``y`` are all NaN keeps its first point, so a gap in the line stays a gap. ``extra`` arrays
    (e.g. the low and high edges of a band) are indexed like ``y`` (the points are chosen on ``y`` alone).
    Curves no longer than ``max_points`` come back unchanged (the same objects).
    """
    y = np.asarray(y)
    n = len(y)
    if n <= max_points or max_points < 2:
        return (x, y, *extra)
    k = max_points // 2
    w = -(-n // k)  # points per run (the last run may be shorter: padded with NaN)
    pad = np.full(k * w, np.nan)
    pad[:n] = y
    rows = pad.reshape(k, w)
    finite = ~np.isnan(rows)
    lo = np.where(finite, rows, np.inf).argmin(axis=1)
    hi = np.where(finite, rows, -np.inf).argmax(axis=1)
    base = np.arange(k) * w
    idx = np.unique(np.concatenate([[0, n - 1], base + lo, base + hi]))
    idx = idx[idx < n]
    return (np.asarray(x)[idx], y[idx], *(np.asarray(e)[idx] for e in extra))


def _is_hist(v) -> bool:
    """``(counts, edges)`` with ``len(edges) == len(counts) + 1``: a precomputed histogram (e.g. from a probe)."""
    if isinstance(v, Mapping):
        return "counts" in v and "edges" in v
    if isinstance(v, tuple) and len(v) == 2:
        c, e = np.asarray(v[0]), np.asarray(v[1])
        return c.ndim == 1 and e.ndim == 1 and len(e) == len(c) + 1
    return False


def _hist_parts(v) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(v, Mapping):
        return np.asarray(v["counts"], dtype=np.float64), np.asarray(v["edges"], dtype=np.float64)
    return np.asarray(v[0], dtype=np.float64), np.asarray(v[1], dtype=np.float64)


def _series(v) -> tuple[np.ndarray, np.ndarray]:
    """A curve as (x, y): ``values``, ``(steps, values)``, a store ``Series`` or ``{"steps":, "values":}``."""
    if isinstance(v, Mapping):
        return np.asarray(v["steps"], dtype=np.float64), np.asarray(v["values"], dtype=np.float64)
    if isinstance(v, tuple) and len(v) == 2 and np.ndim(v[0]) == 1 and np.ndim(v[1]) == 1:
        return np.asarray(v[0], dtype=np.float64), np.asarray(v[1], dtype=np.float64)
    y = np.asarray(v, dtype=np.float64).ravel()
    return np.arange(len(y), dtype=np.float64), y


def _band(v) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(steps, low, mid, high) from ``(steps, q)`` with q of shape (T, 3), or a mapping with
    ``steps`` and ``p15``/``p50``/``p85`` (or ``15``/``50``/``85``, or ``low``/``mid``/``high``)."""
    if isinstance(v, Mapping):
        steps = np.asarray(v["steps"], dtype=np.float64)
        for keys in (("p15", "p50", "p85"), (15, 50, 85), ("15", "50", "85"), ("low", "mid", "high")):
            if all(k in v for k in keys):
                lo, mid, hi = (np.asarray(v[k], dtype=np.float64) for k in keys)
                return steps, lo, mid, hi
        raise ValueError(f"percentile_bands: a band mapping needs steps and p15/p50/p85, got keys {list(v)}")
    steps, q = v
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != 3:
        raise ValueError(f"percentile_bands: expected percentiles of shape (T, 3), got {q.shape}")
    return np.asarray(steps, dtype=np.float64), q[:, 0], q[:, 1], q[:, 2]


def _fmt(v: Any, fmt: str = "{:.4g}") -> str:
    if isinstance(v, (bool, np.bool_)):
        return "✓" if v else "✗"
    if isinstance(v, (float, np.floating)):
        return "nan" if math.isnan(v) else fmt.format(float(v))
    return str(v)


# -- histograms -----------------------------------------------------------------------------------
def layer_histograms(layers: Mapping[str, Any], *, bins: int = 40, range: tuple[float, float] | None = None,
                     title: str | None = None, xlabel: str = "activation", color: str | None = None,
                     stats: bool = True, sharey: bool = False) -> Figure:
    """One histogram panel per layer, side by side (the notes' / CS231n's per-layer activation figure).

    Args:
        layers: ``{layer: values}`` (any shape, flattened) or ``{layer: (counts, edges)}`` precomputed.
        bins, range: for raw values; ``range`` defaults to the min/max over all layers, so panels compare.
        stats: write mean and std of each layer (raw values only) in the panel title.
    """
    return layer_histogram_grid({"": layers}, bins=bins, range=range, title=title, xlabel=xlabel,
                                colors=[color] if color else None, stats=stats, sharey=sharey)


def layer_histogram_grid(rows: Mapping[str, Mapping[str, Any]], *, bins: int = 40,
                         range: tuple[float, float] | None = None, title: str | None = None,
                         xlabel: str = "activation", colors: Sequence[str] | None = None, stats: bool = True,
                         sharey: bool = False) -> Figure:
    """Rows of per-layer histograms: one row per condition (``{"W = 0.01·randn": {"h1": a1, ...}, ...}``)."""
    rows = {str(k): dict(v) for k, v in rows.items()}
    if not rows or not any(rows.values()):
        raise ValueError("layer_histograms: no layers to plot")
    ncols = max(len(v) for v in rows.values())
    raw = [np.asarray(v) for layers in rows.values() for v in layers.values() if not _is_hist(v)]
    if range is None and raw:
        finite = [a[np.isfinite(a)] for a in raw]
        finite = [a for a in finite if a.size]
        lo = min(float(a.min()) for a in finite) if finite else 0.0
        hi = max(float(a.max()) for a in finite) if finite else 1.0
        range = (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)
    left = 0.85 if any(rows) else 0.6
    fig, axes = new_figure(len(rows), ncols, panel=(2.1, 1.5), sharey=sharey, title=title,
                           margins={"left": left, "wspace": 0.45, "top": 0.55, "hspace": 0.95})
    colors = list(colors) if colors else COLORS
    for r, (row_label, layers) in enumerate(rows.items()):
        color = colors[r % len(colors)]
        for c in np.arange(ncols):  # (``range`` is a parameter here)
            ax = axes[r, c]
            if c >= len(layers):
                ax.set_visible(False)
                continue
            layer, v = list(layers.items())[c]
            if _is_hist(v):
                counts, edges = _hist_parts(v)
                ax.stairs(counts, edges, fill=True, color=color, alpha=0.85)
                head = str(layer)
            else:
                a = np.asarray(v).ravel()
                a = a[np.isfinite(a)]
                counts, edges = np.histogram(a, bins=bins, range=range)
                ax.stairs(counts, edges, fill=True, color=color, alpha=0.85)  # one patch, not one per bin
                head = f"{layer}\nμ={a.mean():.3g}  σ={a.std():.3g}" if stats and a.size else str(layer)
            ax.set_title(head)
            if c == 0 and row_label:
                ax.set_ylabel(row_label)
            ax.tick_params(axis="y", labelsize=7)
    _label_bottom(axes, xlabel)
    return fig


# -- curves -----------------------------------------------------------------------------------------
def loss_curves(curves: Mapping[str, Any], *, logy: bool = False, xlabel: str = "iteration", ylabel: str = "loss",
                title: str | None = None, smooth: int = 0, ylim: tuple[float, float] | None = None,
                size: tuple[float, float] = (5.0, 3.2)) -> Figure:
    """Several runs on one axis: ``{label: values | (steps, values) | Series}``.

    Args:
        logy: log-scaled y axis (non-positive values are dropped from the view by matplotlib).
        smooth: running-mean window (0/1: raw). The raw curve is drawn faintly underneath.
        ylim: clip the view, e.g. to keep a diverging run from flattening the others.
    """
    fig, axes = new_figure(1, 1, panel=size, margins={"left": 0.75, "top": 0.4 if title else 0.15})
    ax = axes[0, 0]
    for i, (label, v) in enumerate(curves.items()):
        x, y = _series(v)
        color = COLORS[i % len(COLORS)]
        if smooth and smooth > 1:
            ax.plot(*thin(x, y), color=color, alpha=0.25, linewidth=0.8)
            ax.plot(*thin(x, running_mean(y, smooth)), color=color, label=str(label), linewidth=1.5)
        else:
            ax.plot(*thin(x, y), color=color, label=str(label), linewidth=1.4)
    if logy:
        ax.set_yscale("log")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    if len(curves) > 1 or any(str(k) for k in curves):
        ax.legend(frameon=False, fontsize=8)
    return fig


def percentile_bands(bands: Mapping[str, Any], *, title: str | None = None, xlabel: str = "iteration",
                     ylabel: str = "value", sharey: bool = True, color: str | None = None) -> Figure:
    """15th/50th/85th percentile of a quantity per layer over training (Ioffe & Szegedy's figure):
    one panel per layer, the median as a line and the 15–85 band shaded.

    ``bands``: ``{layer: (steps, q)}`` with q of shape (T, 3), or ``{layer: {"steps", "p15", "p50", "p85"}}``.
    """
    return percentile_band_grid({"": bands}, title=title, xlabel=xlabel, ylabel=ylabel, sharey=sharey,
                                colors=[color] if color else None)


def percentile_band_grid(rows: Mapping[str, Mapping[str, Any]], *, title: str | None = None,
                         xlabel: str = "iteration", ylabel: str = "value", sharey: bool | str = "col",
                         colors: Sequence[str] | None = None) -> Figure:
    """Rows of percentile-band panels, one row per condition (``{"no BN": {...}, "BN": {...}}``)."""
    rows = {str(k): dict(v) for k, v in rows.items()}
    ncols = max(len(v) for v in rows.values())
    fig, axes = new_figure(len(rows), ncols, panel=(2.4, 1.6), sharey=sharey, sharex=True, title=title,
                           margins={"left": 0.75, "top": 0.35, "hspace": 0.6})
    colors = list(colors) if colors else COLORS
    for r, (row_label, layers) in enumerate(rows.items()):
        color = colors[r % len(colors)]
        for c in np.arange(ncols):
            ax = axes[r, c]
            if c >= len(layers):
                ax.set_visible(False)
                continue
            layer, v = list(layers.items())[c]
            steps, lo, mid, hi = _band(v)
            steps, mid, lo, hi = thin(steps, mid, lo, hi)
            ax.fill_between(steps, lo, hi, color=color, alpha=0.25, linewidth=0, label="15–85th")
            ax.plot(steps, mid, color=color, linewidth=1.4, label="median")
            ax.set_title(f"{row_label} · {layer}" if row_label else str(layer))
            if c == 0:
                ax.set_ylabel(ylabel)
    _label_bottom(axes, xlabel)
    axes[0, 0].legend(loc="best", frameon=False, fontsize=8)
    return fig


def layer_profile(curves: Mapping[str, Sequence[float]], *, layers: Sequence[str] | None = None,
                  ylabel: str = "std of activations", logy: bool = False, title: str | None = None,
                  xlabel: str = "layer", reference: Mapping[str, Sequence[float]] | None = None) -> Figure:
    """A statistic per layer, one line per condition (e.g. the std of each layer's activations per init).

    ``reference``: dashed lines of predicted values (e.g. ``std₀·r^ℓ``), same keys or new ones.
    """
    fig, axes = new_figure(1, 1, panel=(4.2, 2.6), margins={"left": 0.75, "top": 0.4 if title else 0.15})
    ax = axes[0, 0]
    n = max(len(v) for v in curves.values())
    x = np.arange(1, n + 1)
    for i, (label, v) in enumerate(curves.items()):
        y = np.asarray(v, dtype=np.float64)
        ax.plot(x[: len(y)], y, marker="o", markersize=3.5, color=COLORS[i % len(COLORS)], label=str(label))
    for i, (label, v) in enumerate((reference or {}).items()):
        y = np.asarray(v, dtype=np.float64)
        key_i = list(curves).index(label) if label in curves else len(curves) + i
        ax.plot(x[: len(y)], y, linestyle="--", linewidth=1.0, color=COLORS[key_i % len(COLORS)],
                label=f"{label} (predicted)")
    ax.set_xticks(x, list(layers) if layers is not None else [str(i) for i in x])
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    return fig


def bar_chart(values: Mapping[str, float] | Mapping[str, Mapping[str, float]], *, ylabel: str = "",
              title: str | None = None, logy: bool = False, annotate: bool = True, fmt: str = "{:.3g}",
              horizontal: bool = False) -> Figure:
    """Bars ``{label: value}``, or grouped bars ``{group: {series: value}}`` (one colour per series)."""
    items = list(values.items())
    grouped = bool(items) and isinstance(items[0][1], Mapping)
    if grouped:
        groups = [str(g) for g, _ in items]
        series = list(dict.fromkeys(s for _, d in items for s in d))
        table = np.array([[float(d.get(s, np.nan)) for s in series] for _, d in items])
    else:
        groups, series = [str(g) for g, _ in items], [""]
        table = np.array([[float(v)] for _, v in items])
    longest = max((len(g) for g in groups), default=1)
    if horizontal:
        fig, axes = new_figure(1, 1, panel=(3.8, max(1.6, 0.3 * len(groups) * len(series))),
                               margins={"left": 0.3 + 0.075 * longest, "right": 0.5, "top": 0.4 if title else 0.15})
    else:
        fig, axes = new_figure(1, 1, panel=(max(2.8, 0.5 * len(groups) * max(1.0, 0.7 * len(series))), 2.4),
                               margins={"left": 0.75, "bottom": 0.4 + (0.06 * longest if longest > 6 else 0.0),
                                        "top": 0.45 if title else 0.25})
    ax = axes[0, 0]
    pos = np.arange(len(groups), dtype=np.float64)
    width = 0.8 / len(series)
    for j, s in enumerate(series):
        offs = pos - 0.4 + width * (j + 0.5)
        vals = table[:, j]
        color = COLORS[j % len(COLORS)] if grouped else [COLORS[i % len(COLORS)] for i in range(len(groups))]
        bars = (ax.barh(offs, vals, height=width * 0.9, color=color, label=s or None) if horizontal
                else ax.bar(offs, vals, width=width * 0.9, color=color, label=s or None))
        if annotate:
            ax.bar_label(bars, labels=[_fmt(v, fmt) for v in vals], fontsize=7, padding=2)
    if horizontal:
        ax.set_yticks(pos, groups)
        ax.invert_yaxis()
        ax.set_xlabel(ylabel)
        if logy:
            ax.set_xscale("log")
    else:
        ax.set_xticks(pos, groups, rotation=30 if longest > 6 else 0, ha="right" if longest > 6 else "center")
        ax.set_ylabel(ylabel)
        if logy:
            ax.set_yscale("log")
    if title:
        ax.set_title(title, fontsize=10)
    if grouped:
        ax.legend(frameon=False, fontsize=8)
    return fig


def table_figure(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, *,
                 title: str | None = None, fmt: str = "{:.4g}") -> Figure:
    """A table as a figure (for a PNG next to the others; the HTML report also renders records as tables)."""
    if not rows:
        raise ValueError("table_figure: no rows")
    columns = list(columns) if columns is not None else list(dict.fromkeys(k for r in rows for k in r))
    cells = [[_fmt(r.get(c, ""), fmt) for c in columns] for r in rows]
    widths = [max(len(str(c)), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    fig = Figure(figsize=(max(3.0, 0.085 * sum(widths) + 0.4 * len(columns)), 0.28 * (len(rows) + 1) + 0.5),
                 layout="constrained", dpi=100)
    ax = fig.subplots()
    ax.axis("off")
    table = ax.table(cellText=cells, colLabels=[str(c) for c in columns], loc="center", cellLoc="left",
                     colLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(list(range(len(columns))))
    for (r, _), cell in table.get_celld().items():
        cell.set_edgecolor("#cccccc")
        if r == 0:
            cell.set_facecolor("#eef2f7")
            cell.set_text_props(weight="bold")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def regions_figure(models: dict, x: np.ndarray, y: np.ndarray, line: tuple[float, np.ndarray, float, int],
                   title: str = "What each network learned on the two spirals (training set)"):
    """Decision regions of 2-D, two-class networks over their training points.

    ``models``: ``{label: (model, accuracy, draw_line)}``; ``line``: ``stats.best_linear_accuracy``'s result,
    drawn dashed on the panels with ``draw_line``.
    """
    fig, axes = new_figure(1, len(models), panel=(2.3, 2.3), title=title)
    lim = 1.15 * float(np.abs(x).max())
    g = np.linspace(-lim, lim, 161, dtype=x.dtype)
    gx, gy = np.meshgrid(g, g)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    best_acc, u, t, _ = line
    for ax, (label, (model, acc, linear)) in zip(axes[0], models.items()):
        with ll.no_grad():
            dtype = next(model.parameters()).dtype  # a float64 model is drawn on a float64 grid
            z = model(ll.Tensor(grid.astype(dtype))).data.argmax(axis=1).reshape(gx.shape)
        ax.contourf(gx, gy, z, levels=[-0.5, 0.5, 1.5], colors=["#cfe3f3", "#fbd9c4"])
        ax.scatter(x[:, 0], x[:, 1], c=np.where(y == 0, COLORS[0], COLORS[1]), s=3, linewidths=0)
        if linear:  # the best line u·x = t
            s = np.linspace(-2 * lim, 2 * lim, 2)
            p0 = u * t
            ax.plot(p0[0] - u[1] * s, p0[1] + u[0] * s, "k--", linewidth=0.9,
                    label=f"best line: {best_acc:.3f}")
            ax.legend(loc="lower left", fontsize=6, frameon=False)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_title(f"{label}\ntraining accuracy {acc:.3f}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    return fig
