"""Claim 13 (SELU self-normalises) and claim 14 (GELU's approximations): the theory and the derived bounds against
float64 checks, the verdict functions on synthetic records both ways, and a --quick run of each experiment whose
verdicts are recomputed from its own records (claim 14 is arithmetic and stays pinned too)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erf, ndtr

from layerlab.lab.experiments import gelu as G
from layerlab.lab.experiments import selu as S
from layerlab.lab.runner import run_experiment
from lab_quick import PNG, assert_arms_independent


# -- SELU: the theory ------------------------------------------------------------------------------------------------
def _selu(z):
    lam, alpha = 1.0507009873554805, 1.6732632423543772
    return lam * np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))


@pytest.mark.parametrize("q", [0.01, 0.3, 1.0, 1.25, 4.25, 12.0])
def test_selu_moments_closed_form_against_quadrature(q):
    e = np.linspace(-14, 14, 400_001)
    w = np.exp(-e ** 2 / 2) / math.sqrt(2 * math.pi) * (e[1] - e[0])
    h = _selu(math.sqrt(q) * e)
    m, second = float((h * w).sum()), float((h * h * w).sum())
    mean, var, sec = S.selu_moments(q)
    assert mean == pytest.approx(m, abs=1e-9) and sec == pytest.approx(second, rel=1e-9)
    assert var == pytest.approx(second - m * m, rel=1e-9, abs=1e-12)


def test_selu_fixed_point_and_klambauers_jacobian():
    mean, var, sec = S.selu_moments(1.0)
    assert abs(mean) < 1e-9 and var == pytest.approx(1.0, abs=1e-9) and sec == pytest.approx(1.0, abs=1e-9)
    d = 1e-6
    slope = (S.selu_moments(1 + d)[2] - S.selu_moments(1 - d)[2]) / (2 * d)
    dmean = (S.selu_moments(1 + d)[0] - S.selu_moments(1 - d)[0]) / (2 * d)
    assert slope == pytest.approx(0.782648, abs=1e-5)       # Klambauer et al.: J(0, 1) = ((0, 0.088834), (0, 0.782648))
    assert dmean == pytest.approx(0.088834, abs=1e-5)
    assert math.hypot(slope, dmean) == pytest.approx(S.SELU_CONTRACTION, abs=1e-4)   # its spectral norm 0.7877
    # the bound's premise: from above the map's slope never exceeds ρ
    qs = np.linspace(1.0, 30.0, 581)
    slopes = [(S.selu_moments(q + d)[2] - S.selu_moments(q - d)[2]) / (2 * d) for q in qs]
    assert max(slopes) <= S.SELU_CONTRACTION and min(slopes) > 0


def test_contraction_layers():
    assert S.contraction_layers(0.0, 1.0) == 1
    assert S.contraction_layers(0.5, 2.0) == 15     # ⌈ln(32.5)/ln(1/0.7877)⌉ = ⌈14.6⌉
    assert S.contraction_layers(-1.0, 0.5) == 4     # ⌈ln(2.5)/ln(1/0.7877)⌉ = ⌈3.8⌉
    with pytest.raises(ValueError, match="E\\[x²\\] ≥ 1"):
        S.contraction_layers(0.0, 0.5)
    # K is a bound: the wide-limit profile is in the band from K on (and for these starts not much before)
    for m, s in ((0.5, 2.0), (-1.0, 0.5), (2.0, 1.0)):
        th = S.theory_profile(m, s, 40)
        k = S.contraction_layers(m, s)
        assert S.converged_from([t[0] for t in th], [t[1] for t in th], k)


# -- SELU: the verdicts on synthetic records -------------------------------------------------------------------------
def test_band_functions_both_ways():
    assert S.in_band(0.1, 1.09) and S.in_band(-0.05, 0.91) and not S.in_band(0.11, 1.0) and not S.in_band(0, 0.89)
    assert not S.in_band(math.nan, 1.0)
    means, variances = [0.3, 0.12, 0.05, 0.0, 0.02], [3.0, 1.5, 1.08, 1.0, 0.97]
    assert S.last_violation(means, variances) == 2
    assert S.converged_from(means, variances, 3) and not S.converged_from(means, variances, 2)
    assert not S.converged_from(means, variances, 6)      # K beyond the depth: nothing to judge
    assert S.last_violation([0.0], [1.0]) is None and S.converged_from([0.0], [1.0], 1)


def _layer_rows(profiles):
    """{(network, start): [(mean, var) per layer]} -> rows of the "layers" table."""
    return [{"network": net, "start": start, "layer": i, "mean": m, "var": v}
            for (net, start), prof in profiles.items() for i, (m, v) in enumerate(prof, 1)]


_STARTS = [{"start": "mean 0, std 1", "input mean": 0.0, "input std": 1.0},
           {"start": "mean -1, std 0.5", "input mean": -1.0, "input std": 0.5}]   # K = 1 and K = 4


def test_verdicts_both_ways():
    good = [(0.0, 1.0)] * 6
    late = [(0.05, 1.3), (0.04, 1.2), (0.03, 1.15), (0.02, 1.05), (0.01, 1.0), (0.0, 1.0)]   # in the band from layer 4
    tanh = [(0.0, 0.4), (0.0, 0.2), (0.0, 0.1), (0.0, 0.07), (0.0, 0.05), (0.0, 0.04)]
    relu = [(0.56, 0.68)] * 6
    profiles = {("SELU, LeCun", "mean 0, std 1"): good, ("SELU, LeCun", "mean -1, std 0.5"): late}
    for start in ("mean 0, std 1", "mean -1, std 0.5"):
        profiles[("tanh, Xavier", start)] = tanh
        profiles[("ReLU, He", start)] = relu
    assert S.verdicts(_layer_rows(profiles), _STARTS) == {"13a": True, "13b": True, "13c": True, "13d": True}
    # SELU leaves the band after K (as the correlated input does at width 256) and a control that does normalise
    profiles[("SELU, LeCun", "mean -1, std 0.5")] = late[:4] + [(0.0, 1.21), (0.0, 1.0)]
    profiles[("ReLU, He", "mean 0, std 1")] = good
    profiles[("SELU, LeCun", "mean 0, std 1")] = [(0.0, 1.0), (0.12, 1.0)] + good[2:]
    assert S.verdicts(_layer_rows(profiles), _STARTS) == {"13a": False, "13b": False, "13c": True, "13d": False}


# -- SELU: the experiment, --quick ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def selu_run(store, tmp_path_factory):
    # 3 networks × 3 starts through ctx.map
    _, r = assert_arms_independent("selu", store, tmp_path_factory, min_items=9)
    return r.outcome, r.out


def test_selu_quick_verdicts_recomputed_from_records(selu_run):
    outcome, out = selu_run
    assert outcome.ok, outcome.error
    cfg = outcome.data["config"]
    assert (cfg["n"], cfg["width"], cfg["depth"]) == (500, 256, 32)
    rec = outcome.data["records"]
    claims = {c.id: c for c in outcome.claims}
    assert sorted(claims) == ["13a", "13b", "13c", "13d", "13e"]
    assert {k: c.holds for k, c in claims.items()} == S.verdicts(rec["layers"], rec["inputs"])
    for r in rec["inputs"]:     # K as stated in advance, from the start's mean and std alone
        assert r["K"] == S.contraction_layers(r["input mean"], r["input std"])
        assert f"K = {r['K']}" in " ".join(c.text + c.measured for c in outcome.claims)
    assert len(rec["layers"]) == 3 * 3 * 32            # networks × starts × layers
    for name in ("selu_profile", "selu_histograms"):
        assert (out / f"{name}.png").read_bytes().startswith(PNG)
    assert {f["name"] for f in outcome.data["figures"]} == {"selu_profile", "selu_histograms"}
    assert all(c.figure == "selu_profile" for c in outcome.claims)


def test_selu_quick_numbers_follow_the_theory(selu_run):
    """The measured profiles against the wide-limit theory, with finite-width tolerances (numbers, not verdicts)."""
    outcome, _ = selu_run
    layers = outcome.data["records"]["layers"]

    def prof(net, start):
        return sorted((r for r in layers if r["network"] == net and r["start"] == start), key=lambda r: r["layer"])

    # SELU from (0.5, 2): layer 1 is the theory's (0.274, 3.08) up to sampling, and it converges
    sel = prof("SELU, LeCun", "mean 0.5, std 2")
    m1, v1 = S.theory_profile(0.5, 2.0, 1)[0]
    assert sel[0]["mean"] == pytest.approx(m1, abs=0.03) and sel[0]["var"] == pytest.approx(v1, rel=0.05)
    # He: the first pre-activations have E[a₁²] = n·Var(w)·E[x²] = 2·E[x²] = 2, and h₁ = ReLU(a₁) mean √(q/2π)
    he = prof("ReLU, He", "mean 0, std 1")
    assert he[0]["E[a²]"] == pytest.approx(2.0, rel=0.05)
    assert he[0]["mean"] == pytest.approx(math.sqrt(2 / (2 * math.pi)), rel=0.05)   # √(q/2π), q = 2
    # tanh-Xavier from (0, 1): an odd function keeps the mean at 0, the variance falls
    th = prof("tanh, Xavier", "mean 0, std 1")
    assert max(abs(r["mean"]) for r in th) < 0.01 and th[-1]["var"] < th[0]["var"] / 10


# -- GELU: the forms -----------------------------------------------------------------------------------------------
def test_gelu_forms_are_the_notes_formulas():
    x = np.linspace(-6, 6, 1201)
    forms = G.gelu_forms(x)
    np.testing.assert_allclose(forms["exact x·Φ(x)"][0], 0.5 * x * (1 + erf(x / math.sqrt(2))), rtol=1e-12, atol=1e-14)
    tanh_form = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(forms["tanh form"][0], tanh_form, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(forms["x·σ(1.702x)"][0], x / (1 + np.exp(-1.702 * x)), rtol=1e-12, atol=1e-14)
    # ½(1 + tanh t) = σ(2t): the tanh form is x·σ(u(x)) with u = TANH_U
    u = G.TANH_U[0] * x + G.TANH_U[1] * x ** 3
    np.testing.assert_allclose(forms["tanh form"][0], x / (1 + np.exp(-u)), rtol=1e-10, atol=1e-14)


def test_gelu_forms_match_torch():
    torch = pytest.importorskip("torch")
    x = np.linspace(-6, 6, 601)
    forms = G.gelu_forms(x)
    for label, approx in (("exact x·Φ(x)", "none"), ("tanh form", "tanh")):
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        y = torch.nn.functional.gelu(t, approximate=approx)
        y.sum().backward()
        np.testing.assert_allclose(forms[label][0], y.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(forms[label][1], t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_gelu_derivatives_match_finite_differences():
    x = np.linspace(-6, 6, 12001)
    for label, (f, d) in G.gelu_forms(x).items():
        fd = np.gradient(f, x)
        np.testing.assert_allclose(d[1:-1], fd[1:-1], atol=1e-5, err_msg=label)


def test_max_error():
    x = np.array([-1.0, 0.0, 2.0])
    assert G.max_error(x, np.array([0.0, 0.1, -0.3]), np.zeros(3)) == (pytest.approx(0.3), 2.0)


def test_run_gelu_rejects_a_bad_grid():
    with pytest.raises(ValueError, match="lo <= -1"):
        G.run_gelu(G.GeluConfig(lo=1.0, hi=-1.0))
    with pytest.raises(ValueError, match="lo <= -1"):
        G.run_gelu(G.GeluConfig(lo=-0.5, hi=0.5))


# -- GELU: the derived bounds, and float64 checks of them ---------------------------------------------------------
_X = np.linspace(0.0, 12.0, 1_200_001)


def _sup_gelu_error(u):
    return float(np.max(_X * np.abs(1 / (1 + np.exp(-(u[0] * _X + u[1] * _X ** 3))) - ndtr(_X))))


def test_the_published_cdf_errors_hold():
    """The inputs of the derivation: Haley's 0.0095 and Bowling et al.'s error (rounded up to 1.5e-4)."""
    logistic = np.max(np.abs(1 / (1 + np.exp(-1.702 * _X)) - ndtr(_X)))
    bowling = np.max(np.abs(1 / (1 + np.exp(-(G.BOWLING_U[0] * _X + G.BOWLING_U[1] * _X ** 3))) - ndtr(_X)))
    # each constant is the measured sup rounded up, by less than 10%: a bound, and not a loose one
    assert logistic <= G.LOGISTIC_CDF_ERR < 1.1 * logistic
    assert bowling <= G.BOWLING_CDF_ERR < 1.1 * bowling
    # and the derived tolerances are built on them: a larger CDF error gives a larger tolerance
    assert G.error_bound(2 * G.BOWLING_CDF_ERR, G.TANH_U)[0] > G.error_bound(G.BOWLING_CDF_ERR, G.TANH_U)[0]


def test_tail_and_perturbation_bounds_hold_on_a_dense_grid():
    for u in (G.LOGISTIC_U, G.TANH_U):
        for t in (1.0, 2.0, 3.0, 5.0):
            beyond = _X >= t
            err = _X[beyond] * np.abs(1 / (1 + np.exp(-(u[0] * _X[beyond] + u[1] * _X[beyond] ** 3)))
                                      - ndtr(_X[beyond]))
            assert err.max() <= G.tail_bound(t, u)
    uG = G.TANH_U[0] * _X + G.TANH_U[1] * _X ** 3
    uB = G.BOWLING_U[0] * _X + G.BOWLING_U[1] * _X ** 3
    dense = np.max(_X * np.abs(1 / (1 + np.exp(-uG)) - 1 / (1 + np.exp(-uB))))
    assert dense <= G.perturbation_bound(G.TANH_U, G.BOWLING_U)
    with pytest.raises(ValueError, match="not decreasing"):
        G.tail_bound(0.3, G.LOGISTIC_U)


def test_derived_tolerances_bound_the_true_errors():
    """The tolerances come from the argument (pinned as arithmetic); the dense float64 sup is only the check."""
    assert G.SIGMOID_TOL == pytest.approx(0.02599, abs=1e-4) and G.SIGMOID_CUT == pytest.approx(2.736, abs=1e-3)
    assert G.TANH_TOL == pytest.approx(1.090e-3, abs=2e-6) and G.TANH_CUT == pytest.approx(3.436, abs=1e-3)
    # the crossing: below the cut T·ε (+ the perturbation), beyond it the tail bound
    assert G.SIGMOID_CUT * G.LOGISTIC_CDF_ERR == pytest.approx(G.tail_bound(G.SIGMOID_CUT, G.LOGISTIC_U), rel=1e-6)
    sup_sigmoid, sup_tanh = _sup_gelu_error(G.LOGISTIC_U), _sup_gelu_error(G.TANH_U)
    assert sup_sigmoid == pytest.approx(0.02033, abs=1e-4) and sup_sigmoid <= G.SIGMOID_TOL
    assert sup_tanh == pytest.approx(4.732e-4, abs=2e-6) and sup_tanh <= G.TANH_TOL


def test_gelu_verdict_both_ways():
    rows = [{"form": "tanh form", "max |error| of h": 4.7e-4, "beyond the grid ≤": 1e-10, "bound": 1.09e-3},
            {"form": "x·σ(1.702x)", "max |error| of h": 0.0203, "beyond the grid ≤": 1e-5, "bound": 0.026}]
    assert G.verdict(rows)
    rows[1]["max |error| of h"] = 0.027
    assert not G.verdict(rows)
    rows[1]["max |error| of h"], rows[0]["beyond the grid ≤"] = 0.0203, 2e-3   # a grid too short to cover the tail
    assert not G.verdict(rows)
    assert not G.verdict([])


# -- GELU: the experiment, --quick ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gelu_run(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("gelu")
    return run_experiment("gelu", quick=True, out_dir=out, store=store, show=False), out


def test_gelu_quick_verdict_and_figures(gelu_run):
    outcome, out = gelu_run
    assert outcome.ok, outcome.error
    (claim,) = outcome.claims
    rec = outcome.data["records"]
    assert claim.id == "14" and claim.holds is G.verdict(rec)
    assert claim.holds, claim.measured      # arithmetic on a fixed grid: may stay pinned
    errs = {r["form"]: r for r in rec}
    assert errs["tanh form"]["bound"] == G.TANH_TOL and errs["x·σ(1.702x)"]["bound"] == G.SIGMOID_TOL
    # the known maxima: ~4.7e-4 for the tanh form (at |x| ≈ 2.7), ~0.020 for x·σ(1.702x) (at |x| ≈ 2.3)
    assert errs["tanh form"]["max |error| of h"] == pytest.approx(4.73e-4, rel=0.02)
    assert abs(errs["tanh form"]["at x"]) == pytest.approx(2.7, abs=0.1)
    assert errs["x·σ(1.702x)"]["max |error| of h"] == pytest.approx(0.0203, rel=0.02)
    assert abs(errs["x·σ(1.702x)"]["at x"]) == pytest.approx(2.27, abs=0.1)
    assert (out / "gelu.png").read_bytes().startswith(PNG)
    assert [f["name"] for f in outcome.data["figures"]] == ["gelu"]


def test_quick_variants_are_registered():
    from layerlab.lab import get

    assert get("selu").make_config(quick=True).n == 500 and get("selu").make_config().n == 2000
    assert get("gelu").make_config(quick=True).points == 4001
