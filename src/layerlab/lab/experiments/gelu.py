"""Seed 001, module 7.3: GELU and its two approximations (claim 14 of issue [lab]).

GELU(x) = E[m·x] with m ~ Bernoulli(Φ(x)), i.e. x·Φ(x), Φ the standard normal CDF. The notes
give two cheaper forms::

    GELU(x) ≈ 0.5·x·(1 + tanh[√(2/π)·(x + 0.044715·x³)])
            ≈ x·σ(1.702·x)

Both replace Φ by a logistic curve: ½(1 + tanh t) = σ(2t), so the tanh form is x·σ(u(x)) with
u(x) = 2√(2/π)(x + 0.044715x³) — Page's (1977) approximation of Φ — and the other is x·σ(1.702x),
the logistic approximation of Φ of item-response theory (Haley 1952). The notes give no tolerance, so
each one is *derived* (:func:`error_bound`) from the published maximum error ε of the CDF approximation
it rests on: the GELU error e(x) = x·(F(x) − Φ(x)) is even (Φ and F = σ(u) with u odd both satisfy
F(−x) = 1 − F(x)), and for x ≥ 0

- up to a cut T: |e(x)| ≤ T·ε;
- beyond T both F and Φ are within their own tails of 1: |e(x)| ≤ x·max(1 − Φ(x), 1 − F(x))
  ≤ max(φ(T), T·e^(−u(T))) — Mills' ratio x(1 − Φ(x)) < φ(x), and 1 − σ(u) ≤ e^(−u), both
  decreasing in x there;

so sup|e| ≤ min over T of max(T·ε, φ(T), T·e^(−u(T))). For the tanh form the published ε is for
Bowling et al.'s (2009) refit of the same form, σ(1.5976x + 0.07056x³); the difference of the
constants adds x·|σ(u) − σ(u_B)| ≤ x·e^(−kx)·|u(x) − u_B(x)| (σ′(ξ) ≤ e^(−ξ), both u ≥ kx), whose
maximum over x is closed-form (max of xⁿe^(−kx) is (n/(ke))ⁿ).

The experiment evaluates the three forms — ``nn.GELU(approximate="none" | "tanh" | "sigmoid")``,
straight from the classes' ``f`` and ``df`` — on a dense float64 grid, reports the largest absolute
error of each approximation, of the function and of its derivative, and bounds the error beyond the
grid by the same tail argument; the verdict compares the function's error with the derived bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from layerlab import nn
from layerlab.lab import Claim, Context, Result, experiment, figures

__all__ = ["GeluConfig", "LOGISTIC_CDF_ERR", "BOWLING_CDF_ERR", "BOWLING_U", "TANH_U", "LOGISTIC_U", "TANH_TOL",
           "SIGMOID_TOL", "TANH_CUT", "SIGMOID_CUT", "BOUNDS", "FORMS", "tail_bound", "perturbation_bound",
           "error_bound", "gelu_forms", "max_error", "verdict", "run_gelu"]

# -- where the tolerances come from ------------------------------------------------------------------------------
#: Haley (1952), restated by Camilli (1994) and Bowling et al. (2009): max_x |Φ(x) − σ(1.702x)| < 0.0095 — 1.702 is
#: the scale that makes this maximum smallest (a float64 check finds 0.00949)
LOGISTIC_CDF_ERR = 0.0095
#: Bowling et al. (2009): σ(1.5976x + 0.07056x³) is within 0.00014 of Φ over the whole line. Their figure is rounded
#: (a float64 check of their constants finds 1.414e-4); 1.5e-4 is the next value at their precision
BOWLING_CDF_ERR = 1.5e-4
#: the logistic arguments u(x) = c1·x + c3·x³ of the three CDF approximations, as (c1, c3)
BOWLING_U = (1.5976, 0.07056)
TANH_U = (2.0 * math.sqrt(2.0 / math.pi), 2.0 * math.sqrt(2.0 / math.pi) * 0.044715)
LOGISTIC_U = (1.702, 0.0)


def _u(c, x: float) -> float:
    return c[0] * x + c[1] * x ** 3


def _pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def tail_bound(t: float, u=LOGISTIC_U) -> float:
    """sup over x ≥ ``t`` of x·|σ(u(x)) − Φ(x)|, bounded by max(φ(t), t·e^(−u(t))): Mills' ratio x(1 − Φ(x)) < φ(x)
    (decreasing for x > 0) and x(1 − σ(u(x))) ≤ x·e^(−u(x)) (decreasing once x·u′(x) ≥ 1, checked)."""
    c1, c3 = u
    if t * (c1 + 3.0 * c3 * t * t) < 1.0:
        raise ValueError(f"tail_bound: x·e^(−u(x)) is not decreasing from t = {t:g} (need t·u′(t) ≥ 1)")
    return max(_pdf(t), t * math.exp(-_u(u, t)))


def perturbation_bound(u=TANH_U, u_ref=BOWLING_U) -> float:
    """sup over x ≥ 0 of x·|σ(u(x)) − σ(u_ref(x))| for two arguments c1·x + c3·x³ with c1, c3 ≥ 0: the mean-value
    theorem with σ′(ξ) ≤ e^(−ξ) and ξ ≥ kx (k the smaller c1) gives x·e^(−kx)·|Δc1·x + Δc3·x³|; with Δc1, Δc3 of
    opposite signs that is at most max(|Δc1|·x²e^(−kx), |Δc3|·x⁴e^(−kx)) (of one sign: their sum), and
    max_x xⁿe^(−kx) = (n/(ke))ⁿ."""
    d1, d3 = u[0] - u_ref[0], u[1] - u_ref[1]
    k = min(u[0], u_ref[0])
    p2, p4 = abs(d1) * (2.0 / (k * math.e)) ** 2, abs(d3) * (4.0 / (k * math.e)) ** 4
    return max(p2, p4) if d1 * d3 < 0 else p2 + p4


def error_bound(eps: float, u=LOGISTIC_U, extra: float = 0.0) -> tuple[float, float]:
    """(bound, cut T) on sup_x |x·σ(u(x)) − x·Φ(x)| from a CDF approximation error: below the cut
    |e| ≤ T·eps + ``extra`` (``extra``: a :func:`perturbation_bound` when eps belongs to neighbouring constants),
    beyond it :func:`tail_bound`. The first grows with T and the second falls: the bound is their crossing, found
    by bisection on these explicit functions (no GELU is evaluated)."""
    lo, hi = 1.0, 20.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid * eps + extra < tail_bound(mid, u):
            lo = mid
        else:
            hi = mid
    t = hi
    return max(t * eps + extra, tail_bound(t, u)), t


#: the claim's bounds on max_x |approx(x) − GELU(x)|, derived above (≈ 1.1e-3 and ≈ 0.026)
TANH_TOL, TANH_CUT = error_bound(BOWLING_CDF_ERR, TANH_U, extra=perturbation_bound(TANH_U, BOWLING_U))
SIGMOID_TOL, SIGMOID_CUT = error_bound(LOGISTIC_CDF_ERR, LOGISTIC_U)

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
    if not config.lo <= -1.0 < 1.0 <= config.hi or config.points < 2:
        raise ValueError(f"gelu: need lo <= -1, hi >= 1 (the tail bound covers |x| >= 1) and points >= 2, got "
                         f"lo={config.lo}, hi={config.hi}, points={config.points}")
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
        ax.axhline(-tol, color="#777777", linewidth=0.8, linestyle=":", label=f"±{tol:.2g} (the derived bound)")
        ax.set_title(f"error of the {label}")
        ax.legend(fontsize=7)
    for ax in (ax_et, ax_es):
        ax.set_xlabel("x")
    return fig


#: per approximation: (the derived bound, the cut T, the CDF error ε it rests on, u of its logistic)
BOUNDS = {"tanh form": (TANH_TOL, TANH_CUT, BOWLING_CDF_ERR, TANH_U),
          "x·σ(1.702x)": (SIGMOID_TOL, SIGMOID_CUT, LOGISTIC_CDF_ERR, LOGISTIC_U)}


def verdict(rows) -> bool:
    """Claim 14 from its records: for each approximation, its largest error — on the grid, and the tail bound beyond
    the grid — is at most its derived bound."""
    rows = list(rows)
    return bool(rows) and all(max(r["max |error| of h"], r["beyond the grid ≤"]) <= r["bound"] for r in rows)


@experiment("gelu", order=14, topic="activation functions",
            summary="GELU's tanh form and x·σ(1.702x) are within the error bounds derived from their CDF "
                    "approximations (≈ 1.1e-3 and ≈ 0.026) of the exact x·Φ(x) (claim 14)")
def gelu(config: GeluConfig, ctx: Context) -> Result:
    """Seed 001, module 7.3: how close the notes' two GELU approximations are to x·Φ(x)."""
    x, forms, err = run_gelu(config)
    reach = min(-config.lo, config.hi)   # the error is even: the grid covers [−reach, reach] on both sides
    records = []
    for label, e in err.items():
        bound, cut, eps, u = BOUNDS[label]
        records.append({"form": label, "max |error| of h": e["f"][0], "at x": e["f"][1],
                        "beyond the grid ≤": tail_bound(reach, u), "bound": bound, "cut T": cut, "CDF error ε": eps,
                        "error / bound": e["f"][0] / bound, "max |error| of ∂h/∂x": e["df"][0],
                        "at x (∂h/∂x)": e["df"][1]})
    r = {row["form"]: row for row in records}
    rt, rs = r["tanh form"], r["x·σ(1.702x)"]
    claim = Claim(
        "14",
        f"GELU's tanh form 0.5x(1 + tanh[√(2/π)(x + 0.044715x³)]) is within {TANH_TOL:.2g} and x·σ(1.702x) within "
        f"{SIGMOID_TOL:.2g} of the exact GELU x·Φ(x) (verdict: max |error| over x at most those bounds, derived — the "
        f"notes give none — from the CDF approximations' published errors: x·σ(1.702x) from Haley's "
        f"max|Φ − σ(1.702x)| ≤ {LOGISTIC_CDF_ERR:g}, the tanh form (Page's logistic form of Φ) from Bowling et al.'s "
        f"{BOWLING_CDF_ERR:.2g} for the same form with refitted constants plus the constants' difference; "
        f"sup|x·(F − Φ)| ≤ min_T max(T·ε, φ(T), T·e^(−u(T))))",
        verdict(records),
        f"max |error|: tanh form {rt['max |error| of h']:.2e} (at x = {rt['at x']:+.2f}; {rt['error / bound']:.2f} of "
        f"its bound {TANH_TOL:.3g}), x·σ(1.702x) {rs['max |error| of h']:.4f} (at x = {rs['at x']:+.2f}; "
        f"{rs['error / bound']:.2f} of its bound {SIGMOID_TOL:.3g}); beyond |x| = {reach:g} at most "
        f"{max(rt['beyond the grid ≤'], rs['beyond the grid ≤']):.1e}; of the derivative (not judged): tanh form "
        f"{rt['max |error| of ∂h/∂x']:.2e} (x = {rt['at x (∂h/∂x)']:+.2f}), x·σ(1.702x) "
        f"{rs['max |error| of ∂h/∂x']:.4f} (x = {rs['at x (∂h/∂x)']:+.2f})",
        f"{config.points} points over [{config.lo:g}, {config.hi:g}], float64, nn.GELU(approximate=...).f/.df; the "
        f"bounds' cuts T = {TANH_CUT:.2f} (tanh form) and {SIGMOID_CUT:.2f} (x·σ(1.702x))",
        figure="gelu")
    ctx.savefig(_figure(x, forms), "gelu",
                caption="Top: the three forms and their derivatives (from the classes' f and df). Bottom: each "
                        "approximation minus the exact GELU (solid: h, dashed: ∂h/∂x), with the derived bound.")
    return Result(claims=[claim], records=records,
                  notes=["The tanh form is PyTorch's GELU(approximate='tanh'); x·σ(1.702x) is Swish with β = 1.702 "
                         "(the notes' bridge to SiLU and Swish).",
                         "The bounds are what the published CDF errors guarantee, not a fit to the measured errors: "
                         "the measured maxima sit below them (the column 'error / bound'). The bound of the tanh form "
                         "is looser because the published error belongs to neighbouring constants."])
