"""Claim 13 (SELU self-normalises) and claim 14 (GELU's approximations): the verdict functions, the
measured numbers against theory and PyTorch, and a --quick run of each experiment through the runner."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erf

from layerlab.lab.experiments import gelu as G
from layerlab.lab.experiments import selu as S
from layerlab.lab.runner import run_experiment
from layerlab.store import Store

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("store") / "runs.db")
    yield s
    s.close()


# -- SELU ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("means, variances, holds, first", [
    ([0.0, 0.05, -0.09], [1.0, 0.95, 1.09], True, None),
    ([0.0, 0.11, 0.0], [1.0, 1.0, 1.0], False, 2),
    ([0.0, 0.0, 0.0], [1.0, 1.0, 0.85], False, 3),
    ([0.4, 0.28], [0.34, 0.17], False, 1),
])
def test_check_normalised(means, variances, holds, first):
    assert S.check_normalised(means, variances) is holds
    assert S.first_violation(means, variances) == first


def test_relu_var_theory():
    # Var(ReLU(z)) for z ~ N(0, 1): E[h²] − E[h]² = 1/2 − 1/(2π)
    z = np.random.default_rng(0).standard_normal(2_000_000)
    assert S.relu_var(1) == pytest.approx(np.maximum(z, 0).var(), rel=0.01)
    assert S.relu_var(11) == pytest.approx(S.relu_var(1) / 1024)


@pytest.fixture(scope="module")
def selu_run(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("selu")
    return run_experiment("selu", quick=True, out_dir=out, store=store, show=False), out


def test_selu_quick_verdict(selu_run):
    outcome, out = selu_run
    assert outcome.ok, outcome.error
    cfg = outcome.data["config"]
    assert (cfg["n"], cfg["width"], cfg["depth"]) == (500, 256, 32)
    (claim,) = outcome.claims
    assert claim.id == "13" and claim.holds, claim.measured
    assert "ReLU" in claim.measured and "leaves the band at layer 1" in claim.measured


def test_selu_quick_figures_are_plausible(selu_run):
    outcome, out = selu_run
    rec = outcome.data["records"]
    selu = [r for r in rec if r["activation"] == "SELU"]
    relu = [r for r in rec if r["activation"] == "ReLU"]
    assert len(selu) == len(relu) == 32
    assert max(abs(r["mean"]) for r in selu) < 0.05            # CLAIMS.md: mean −0.002, var 0.978 at layer 32
    assert max(abs(r["var"] - 1) for r in selu) < 0.08
    assert relu[0]["var"] == pytest.approx(S.relu_var(1), rel=0.05)
    assert relu[-1]["var"] < 1e-8                              # CLAIMS.md: 3e-10
    # the ReLU variance halves per layer (finite-width noise compounds over 32 layers: compare the rate)
    rate = (relu[-1]["var"] / relu[0]["var"]) ** (1 / 31)
    assert rate == pytest.approx(0.5, rel=0.05)
    for name in ("selu_profile", "selu_histograms"):
        assert (out / f"{name}.png").read_bytes().startswith(PNG)
    assert {f["name"] for f in outcome.data["figures"]} == {"selu_profile", "selu_histograms"}


# -- GELU ------------------------------------------------------------------------------------------------------
def test_gelu_forms_are_the_notes_formulas():
    x = np.linspace(-6, 6, 1201)
    forms = G.gelu_forms(x)
    np.testing.assert_allclose(forms["exact x·Φ(x)"][0], 0.5 * x * (1 + erf(x / math.sqrt(2))), rtol=1e-12, atol=1e-14)
    tanh_form = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(forms["tanh form"][0], tanh_form, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(forms["x·σ(1.702x)"][0], x / (1 + np.exp(-1.702 * x)), rtol=1e-12, atol=1e-14)


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
    with pytest.raises(ValueError, match="lo < hi"):
        G.run_gelu(G.GeluConfig(lo=1.0, hi=-1.0))


@pytest.fixture(scope="module")
def gelu_run(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("gelu")
    return run_experiment("gelu", quick=True, out_dir=out, store=store, show=False), out


def test_gelu_quick_verdict_and_figures(gelu_run):
    outcome, out = gelu_run
    assert outcome.ok, outcome.error
    (claim,) = outcome.claims
    assert claim.id == "14" and claim.holds, claim.measured
    errs = {r["form"]: r for r in outcome.data["records"]}
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
