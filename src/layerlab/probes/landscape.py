"""The loss landscape around a point in weight space, along filter-normalised random directions.

Seed 002 shows "a slice of the loss landscape of resnet-110 with no skip connections" from Li, Xu,
Taylor, Studer & Goldstein (2018), "Visualizing the Loss Landscape of Neural Nets". Their method:
pick one or two random directions δ, η in weight space, *filter-normalise* them, and evaluate

    f(α)    = L(θ + α·δ)              (a 1-D curve), or
    f(α, β) = L(θ + α·δ + β·η)        (a 2-D surface)

on a grid of α, β around the trained weights θ. Filter normalisation makes the picture comparable
between networks and layers whose weights have different scales (a ReLU network computes the same
function when one layer's weights are multiplied by c and the next one's divided by c): each filter
of a direction is rescaled to the norm of the same filter of the weights,

    δ_{i,j} ← δ_{i,j} / ‖δ_{i,j}‖ · ‖θ_{i,j}‖        (filter j of layer i).

A *filter* is one output unit's weights. layerlab's ``Linear`` stores W with shape (out, in)
(``h = x·Wᵀ + b``, PyTorch's layout), so a filter is a **row** W[j, :] — the incoming weights of unit
j — i.e. the slices along axis 0; the same holds for any parameter of two or more dimensions (a
``Maxout`` weight (out·k, in): one row per piece). As Li et al. do (their ``ignore='biasbn'``), the
direction is **zero** for every parameter of fewer than two dimensions: biases, BatchNorm's and
LayerNorm's γ and β. Buffers (BatchNorm's running statistics) are never moved.

:func:`loss_landscape` computes the grid; :func:`plot_landscape` draws it. :func:`random_directions`
returns the directions alone (``{parameter name: array}``).
"""

from __future__ import annotations

import math

import numpy as np

from ..data import DataLoader
from ..random import as_generator
from ..tensor import Tensor, no_grad

__all__ = ["loss_landscape", "plot_landscape", "random_directions", "NORMALIZATIONS"]

#: the ways a random direction can be scaled: Li et al.'s per-filter rescaling, one rescaling per
#: parameter ("layer": ‖δ_i‖ = ‖θ_i‖), or none (the raw Gaussian draw)
NORMALIZATIONS = ("filter", "layer", "none")
_WHERE = "loss_landscape"


def _normalize_arg(normalize) -> str:
    if normalize is None:
        return "none"
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"{_WHERE}: normalize must be one of {NORMALIZATIONS} (or None), got {normalize!r}")
    return normalize


def random_directions(model, count: int = 1, *, rng=None, seed=None, normalize="filter") -> list[dict]:
    """``count`` random directions in the weight space of ``model``, each a dict ``{name: float64 array}``
    with one entry per parameter (``model.named_parameters()`` order).

    Every parameter of two or more dimensions gets a standard Gaussian draw (from ``rng`` /
    ``seed``, direction after direction, parameter after parameter), rescaled by ``normalize``:
    ``"filter"`` (Li et al.) — each slice along axis 0 (a Linear layer's row W[j, :], the incoming
    weights of output unit j) gets the norm of the same slice of the weights; ``"layer"`` — the whole
    array gets the weights' norm; ``"none"`` — the raw draw. A filter whose weights are all zero gets
    a zero direction. Parameters of fewer than two dimensions (biases, BatchNorm γ and β) get a zero
    direction, as in Li et al.
    """
    norm = _normalize_arg(normalize)
    gen = _generator(rng, seed)
    params = list(model.named_parameters())
    if not params:
        raise ValueError(f"{_WHERE}: the model has no parameters: there is no weight space to move in")
    out = []
    for _ in range(int(count)):
        d = {}
        for name, p in params:
            w = np.asarray(p.data, dtype=np.float64)
            if w.ndim < 2:
                d[name] = np.zeros_like(w)
                continue
            g = gen.standard_normal(w.shape)
            if norm == "filter":
                axes = tuple(range(1, w.ndim))
                wn = np.sqrt(np.sum(w * w, axis=axes, keepdims=True))
                gn = np.sqrt(np.sum(g * g, axis=axes, keepdims=True))
                g = np.where(gn > 0, g * (wn / np.where(gn > 0, gn, 1.0)), 0.0)
            elif norm == "layer":
                gn = float(np.linalg.norm(g))
                g = g * (float(np.linalg.norm(w)) / gn) if gn > 0 else np.zeros_like(g)
            d[name] = g
        out.append(d)
    return out


def _generator(rng, seed) -> np.random.Generator:
    if rng is not None and seed is not None:
        raise ValueError(f"{_WHERE}: give rng or seed, not both")
    return as_generator(rng if rng is not None else seed, _WHERE)


def _is_pair(data) -> bool:
    return (isinstance(data, (tuple, list)) and len(data) == 2
            and all(isinstance(_raw(a), np.ndarray) for a in data))


def _raw(a):
    return a.data if isinstance(a, Tensor) else a


def _batches(data, batch_size: int) -> list[tuple]:
    """The evaluation batches, gathered once: an (X, y) pair cut into ``batch_size`` chunks in order, or one
    full epoch of a DataLoader (from its first batch; its position is restored afterwards) or of any other
    iterable of (x, y, ...) batches."""
    if _is_pair(data):
        x, y = (_raw(a) for a in data)
        if len(x) != len(y):
            raise ValueError(f"{_WHERE}: X and y have different lengths ({len(x)} and {len(y)})")
        if len(x) == 0:
            raise ValueError(f"{_WHERE}: the data is empty")
        return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    if isinstance(data, DataLoader):
        state = data.state_dict()
        try:
            data.set_epoch(state["epoch"])
            batches = [tuple(b[:2]) for b in data]
        finally:
            data.load_state_dict(state)
    elif hasattr(data, "__iter__") and not isinstance(data, (str, bytes, np.ndarray)):
        batches = [tuple(b[:2]) for b in data]
    else:
        raise TypeError(f"{_WHERE}: data must be an (X, y) pair or a DataLoader (an iterable of (x, y) batches), "
                        f"got {type(data).__name__}")
    if not batches or sum(len(b[0]) for b in batches) == 0:
        raise ValueError(f"{_WHERE}: the data yielded no examples")
    return batches


def _check_args(directions, steps, span, batch_size):
    if isinstance(directions, bool) or directions not in (1, 2):
        raise ValueError(f"{_WHERE}: directions must be 1 (a curve L(θ + αδ)) or 2 (a surface L(θ + αδ + βη)), "
                         f"got {directions!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"{_WHERE}: steps must be an int ≥ 2 (grid points per axis), got {steps!r}")
    if isinstance(span, bool) or not isinstance(span, (int, float, np.integer, np.floating)) \
            or not math.isfinite(span) or span <= 0:
        raise ValueError(f"{_WHERE}: span must be a finite number > 0 (the grid is [−span, span]), got {span!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{_WHERE}: batch_size must be a positive int, got {batch_size!r}")


def loss_landscape(model, loss_fn, data, directions: int = 2, steps: int = 41, span: float = 1.0, *, rng=None,
                   seed=None, batch_size: int = 1024, normalize="filter", progress=None) -> dict:
    """The loss around the model's current weights θ along random filter-normalised directions (Li et al. 2018).

    With one direction δ: f(α) = L(θ + α·δ); with two, δ and η: f(α, β) = L(θ + α·δ + β·η), for α (and β) on
    ``np.linspace(-span, span, steps)``. L is the mean of ``loss_fn(model(x), y)`` over ``data``, computed in
    eval mode (Dropout off, BatchNorm on its running statistics) without a graph.

    Args:
        model: a ``Module``; its parameters are moved in place during the call and restored bit for bit
            afterwards (also when an error is raised), with its buffers and the train/eval mode of each
            of its modules.
        loss_fn: ``loss_fn(output, target) -> scalar Tensor``, the *mean* over the batch (layerlab's losses
            are): the batches are averaged weighted by their sizes, so any batching gives the same L.
        data: an ``(X, y)`` pair (cut into batches of ``batch_size`` in order) or a ``DataLoader`` (one full
            epoch from its first batch, its position restored afterwards; any iterable of (x, y) batches is
            iterated once). The batches are gathered once and reused at every grid point.
        directions: 1 (a curve) or 2 (a surface).
        steps: grid points per axis (≥ 2; odd puts a point at θ itself).
        span: the grid covers [−span, span] (in units of the normalised directions: α = 1 moves every
            filter by its own norm).
        rng, seed: the generator of the directions (a ``Generator`` or an int seed; one of them, default
            the global generator ``layerlab.random.get_rng()``). δ is drawn before η, so the 1-D curve of a
            seed is the β = 0 line of its 2-D surface.
        batch_size: for an (X, y) pair.
        normalize: ``"filter"`` (Li et al.), ``"layer"`` or ``"none"``: see :func:`random_directions`.
            Parameters of fewer than two dimensions (biases, BatchNorm's γ, β) get a zero direction.
        progress: optional; ``progress.advance(1)`` is called after each grid point (a lab progress task).

    Returns:
        ``{"alphas": (steps,), "losses": (steps,)}`` for one direction; ``{"alphas", "betas", "losses":
        (steps, steps)}`` for two, with ``losses[i, j]`` = f(alphas[i], betas[j]). float64 arrays; a point
        where the loss is not finite is stored as it is (inf or NaN).
    """
    _check_args(directions, steps, span, batch_size)
    normalize = _normalize_arg(normalize)
    if not callable(loss_fn):
        raise TypeError(f"{_WHERE}: loss_fn must be callable (output, target) -> scalar Tensor, got "
                        f"{type(loss_fn).__name__}")
    batches = _batches(data, int(batch_size))
    dirs = random_directions(model, directions, rng=rng, seed=seed, normalize=normalize)
    grid = np.linspace(-float(span), float(span), int(steps))

    params = list(model.named_parameters())
    modules = list(model.modules())
    # exact snapshot: the array objects themselves (restored in place) and copies of their contents
    saved_params = [(p, p.data, p.data.copy()) for _, p in params]
    saved_buffers = [(m, name, b, b.copy()) for m in modules for name, b in m._buffers.items() if b is not None]
    saved_modes = [(m, m.training) for m in modules]
    theta = [p.data.astype(np.float64, copy=True) for _, p in params]
    moving = [i for i, (name, _) in enumerate(params) if any(np.any(d[name]) for d in dirs)]

    def evaluate(coefs) -> float:
        for i in moving:
            name, p = params[i]
            w = theta[i].copy()
            for c, d in zip(coefs, dirs):
                w += c * d[name]
            np.copyto(p.data, w, casting="unsafe")
        total, n = 0.0, 0
        for x, y in batches:
            value = loss_fn(model(Tensor(x)), Tensor(y))
            k = len(x)
            total += float(value.item() if hasattr(value, "item") else value) * k
            n += k
        return total / n

    if directions == 1:
        losses = np.empty(len(grid))
    else:
        losses = np.empty((len(grid), len(grid)))
    try:
        model.eval()
        with no_grad(), np.errstate(all="ignore"):
            for idx in np.ndindex(losses.shape):
                losses[idx] = evaluate([grid[k] for k in idx])
                if progress is not None:
                    progress.advance(1)
    finally:
        for p, arr, copy in saved_params:
            p.data = arr
            np.copyto(arr, copy)
        for m, name, arr, copy in saved_buffers:
            m._buffers[name] = arr
            np.copyto(arr, copy)
        for m, mode in saved_modes:  # parents before children (modules() is pre-order)
            m.train(mode)
    out = {"alphas": grid.copy(), "losses": losses}
    if directions == 2:
        out["betas"] = grid.copy()
    return out


def plot_landscape(result: dict, kind: str = "auto", ax=None, *, log: bool = False, levels=20,
                   colorbar: bool = True, title: str | None = None):
    """Draw a :func:`loss_landscape` result; returns the matplotlib Figure.

    Args:
        result: what :func:`loss_landscape` returned.
        kind: ``"curve"`` (a 1-D result, or the β = 0 line of a 2-D one), ``"contour"`` (2-D: contour lines
            over (α, β)), ``"surface"`` (2-D: a 3-D surface), ``"auto"`` (curve for 1-D, contour for 2-D).
        ax: an Axes to draw into (for ``"surface"`` a 3-D one); default a new figure.
        log: draw log10(loss) (a landscape often spans orders of magnitude away from θ).
        levels: contour levels (a count or the values, on the log10 scale with ``log``).
        colorbar: add a colour bar to a contour or surface plot.
        title: the Axes' title.

    matplotlib is imported here, not when layerlab is.
    """
    import matplotlib.pyplot as plt

    kinds = ("auto", "curve", "contour", "surface")
    if kind not in kinds:
        raise ValueError(f"plot_landscape: kind must be one of {kinds}, got {kind!r}")
    if not isinstance(result, dict) or "alphas" not in result or "losses" not in result:
        raise TypeError("plot_landscape: expected the dict loss_landscape returns ({'alphas', 'losses', ...})")
    alphas = np.asarray(result["alphas"], dtype=np.float64)
    losses = np.asarray(result["losses"], dtype=np.float64)
    two = losses.ndim == 2
    if kind == "auto":
        kind = "contour" if two else "curve"
    if kind in ("contour", "surface") and not two:
        raise ValueError(f"plot_landscape: kind={kind!r} needs a 2-D result (directions=2)")
    z = np.where(np.isfinite(losses), losses, np.nan)
    if log:
        with np.errstate(all="ignore"):
            z = np.log10(np.where(z > 0, z, np.nan))
    zlabel = "log10 loss" if log else "loss"
    if ax is None:
        if kind == "surface":
            fig = plt.figure(figsize=(4.5, 3.6))
            ax = fig.add_subplot(projection="3d")
        else:
            fig, ax = plt.subplots(figsize=(4.0, 3.2))
    else:
        fig = ax.figure
    if kind == "curve":
        y = z[:, int(np.argmin(np.abs(np.asarray(result["betas"], dtype=np.float64))))] if two else z
        ax.plot(alphas, y, color="#0072B2")
        ax.set_xlabel("α")
        ax.set_ylabel(zlabel)
    else:
        A, B = np.meshgrid(alphas, np.asarray(result["betas"], dtype=np.float64), indexing="ij")
        if kind == "contour":
            art = ax.contour(A, B, z, levels=levels, cmap="viridis", linewidths=0.8)
            ax.set_aspect("equal")
        else:
            art = ax.plot_surface(A, B, z, cmap="viridis", linewidth=0, antialiased=True)
            ax.set_zlabel(zlabel)
        if colorbar:
            fig.colorbar(art, ax=ax, label=zlabel)
        ax.set_xlabel("α")
        ax.set_ylabel("β")
    if title:
        ax.set_title(title)
    return fig
