"""Seed 001, module 7.3: GELU and its two approximations (claim 14 of issue [lab]).

GELU(x) = E[m·x] with m ~ Bernoulli(Φ(x)), i.e. x·Φ(x), Φ the standard normal CDF. The notes
give two cheaper forms::

    GELU(x) ≈ 0.5·x·(1 + tanh[√(2/π)·(x + 0.044715·x³)])
            ≈ x·σ(1.702·x)

The experiment evaluates the three forms — ``nn.GELU(approximate="none" | "tanh" |
"sigmoid")``, straight from the classes' ``f`` and ``df`` — on a dense float64 grid and
reports the largest absolute error of each approximation, of the function and of its
derivative. Outside the grid all three agree with x (x > 0) or 0 (x < 0) to within
x·σ(−1.702·|x|), below 1e-4 at |x| = 8, so the maximum over the grid is the maximum over R.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import nn
from layerlab.lab import Claim, Context, Result, experiment, figures

__all__ = ["GeluConfig", "TANH_TOL", "SIGMOID_TOL", "FORMS", "gelu_forms", "max_error", "run_gelu"]

#: the claim's bounds on max_x |approx(x) − GELU(x)|
TANH_TOL = 1e-3
SIGMOID_TOL = 0.03

#: label -> ``nn.GELU(approximate=...)``
FORMS = {"exact x·Φ(x)": "none", "tanh form": "tanh", "x·σ(1.702x)": "sigmoid"}


def gelu_forms(x: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{label: (f(x), f'(x))} for the three forms, from ``nn.GELU``'s ``f`` and ``df``."""
    out = {}
    for label, approx in FORMS.items():
        act = nn.GELU(approximate=approx)
        y = act.f(x)
        out[label] = (y, act.df(x, y))
    return out


def max_error(x: np.ndarray, approx: np.ndarray, exact: np.ndarray) -> tuple[float, float]:
    """(max |approx − exact|, the x where it is reached)."""
    err = np.abs(np.asarray(approx, dtype=np.float64) - np.asarray(exact, dtype=np.float64))
    i = int(np.argmax(err))
    return float(err[i]), float(x[i])


@dataclass
class GeluConfig:
    """A grid of ``points`` values over [lo, hi], float64."""

    lo: float = -8.0
    hi: float = 8.0
    points: int = 16001
    QUICK: ClassVar[dict] = {"points": 4001}


def run_gelu(config: GeluConfig) -> tuple[np.ndarray, dict, dict]:
    """The grid, the three forms on it, and {label: {"f": (err, at), "df": (err, at)}} for the approximations."""
    if not config.lo < config.hi or config.points < 2:
        raise ValueError(f"gelu: need lo < hi and points >= 2, got lo={config.lo}, hi={config.hi}, "
                         f"points={config.points}")
    x = np.linspace(config.lo, config.hi, int(config.points), dtype=np.float64)
    forms = gelu_forms(x)
    f0, d0 = forms["exact x·Φ(x)"]
    errors = {label: {"f": max_error(x, f, f0), "df": max_error(x, d, d0)}
              for label, (f, d) in forms.items() if label != "exact x·Φ(x)"}
    return x, forms, errors


def _figure(x, forms, view: float = 6.0):
    fig, axes = figures.new_figure(2, 2, panel=(4.2, 2.9), title="GELU and its approximations")
    keep = np.abs(x) <= view
    xs = x[keep]
    (ax_f, ax_d), (ax_et, ax_es) = axes
    styles = {"exact x·Φ(x)": "-", "tanh form": "--", "x·σ(1.702x)": ":"}
    for i, (label, (f, d)) in enumerate(forms.items()):
        ax_f.plot(xs, f[keep], styles[label], color=figures.COLORS[i], label=label, linewidth=1.5)
        ax_d.plot(xs, d[keep], styles[label], color=figures.COLORS[i], label=label, linewidth=1.5)
    ax_f.set_title("h(x)")
    ax_d.set_title("∂h/∂x")
    ax_f.legend(fontsize=7)
    f0, d0 = forms["exact x·Φ(x)"]
    for ax, label, tol, color in ((ax_et, "tanh form", TANH_TOL, figures.COLORS[1]),
                                  (ax_es, "x·σ(1.702x)", SIGMOID_TOL, figures.COLORS[2])):
        f, d = forms[label]
        ax.plot(xs, (f - f0)[keep], color=color, label="h − GELU", linewidth=1.4)
        ax.plot(xs, (d - d0)[keep], color=color, linestyle="--", alpha=0.7, label="∂h/∂x − GELU′", linewidth=1.0)
        ax.axhline(tol, color="#777777", linewidth=0.8, linestyle=":")
        ax.axhline(-tol, color="#777777", linewidth=0.8, linestyle=":", label=f"±{tol:g} (the claim)")
        ax.set_title(f"error of the {label}")
        ax.legend(fontsize=7)
    for ax in (ax_et, ax_es):
        ax.set_xlabel("x")
    return fig


@experiment("gelu", order=14, topic="activation functions",
            summary="GELU's tanh form is within 1e-3 and x·σ(1.702x) within 0.03 of the exact x·Φ(x) (claim 14)")
def gelu(config: GeluConfig, ctx: Context) -> Result:
    """Seed 001, module 7.3: how close the notes' two GELU approximations are to x·Φ(x)."""
    x, forms, err = run_gelu(config)
    (et, at_t), (es, at_s) = err["tanh form"]["f"], err["x·σ(1.702x)"]["f"]
    (dt, dat_t), (ds, dat_s) = err["tanh form"]["df"], err["x·σ(1.702x)"]["df"]
    holds = et < TANH_TOL and es < SIGMOID_TOL
    claim = Claim(
        "14",
        f"GELU's tanh form 0.5x(1 + tanh[√(2/π)(x + 0.044715x³)]) is within {TANH_TOL:g} and x·σ(1.702x) within "
        f"{SIGMOID_TOL:g} of the exact GELU x·Φ(x) (verdict: max |error| over x below those bounds)",
        bool(holds),
        f"max |error|: tanh form {et:.2e} (at x = {at_t:+.2f}), x·σ(1.702x) {es:.4f} (at x = {at_s:+.2f}); "
        f"of the derivative: tanh form {dt:.2e} (x = {dat_t:+.2f}), x·σ(1.702x) {ds:.4f} (x = {dat_s:+.2f})",
        f"{config.points} points over [{config.lo:g}, {config.hi:g}], float64, nn.GELU(approximate=...).f/.df",
        figure="gelu")
    ctx.savefig(_figure(x, forms), "gelu",
                caption="Top: the three forms and their derivatives (from the classes' f and df). Bottom: each "
                        "approximation minus the exact GELU (solid: h, dashed: ∂h/∂x), with the claim's bound.")
    records = [{"form": label, "max |error| of h": e["f"][0], "at x": e["f"][1],
                "max |error| of ∂h/∂x": e["df"][0], "at x (∂h/∂x)": e["df"][1]} for label, e in err.items()]
    return Result(claims=[claim], records=records,
                  notes=["The tanh form is PyTorch's GELU(approximate='tanh'); x·σ(1.702x) is Swish with β = 1.702 "
                         "(the notes' bridge to SiLU and Swish)."])
