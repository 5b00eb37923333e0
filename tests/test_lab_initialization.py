"""The forward-pass initialisation experiments (claims 3–6): verdict functions on hand-made numbers,
the measurement against a plain-NumPy oracle, and a --quick run of each experiment through the runner."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab.lab.experiments import initialization as I
from layerlab.lab.runner import run_experiment
from lab_quick import PNG


# -- verdict functions --------------------------------------------------------------------------------------
def test_ratios_and_within_factor():
    assert I.ratios([1.0, 0.5, 0.125]) == [0.5, 0.25]
    assert I.within_factor(0.224, 0.224) and I.within_factor(0.224 * 1.24, 0.224)
    assert not I.within_factor(0.224 * 1.26, 0.224) and not I.within_factor(0.224 / 1.26, 0.224)


@pytest.mark.parametrize("ratio, holds", [(0.224, True), (0.2, True), (0.5, False), (0.1, False)])
def test_check_collapse(ratio, holds):
    stds = [ratio ** k for k in range(1, 6)]
    ok, r = I.check_collapse(stds, 1.0, math.sqrt(500 * 1e-4))
    assert ok is holds
    np.testing.assert_allclose(r, [ratio] * 5)


def test_check_collapse_needs_every_layer():
    stds = [0.224, 0.05, 0.011, 0.0025, 0.0025]  # the last layer stops collapsing
    assert not I.check_collapse(stds, 1.0, 0.224)[0]


@pytest.mark.parametrize("means, stds, holds", [
    ([0.5, 0.499, 0.501], [0.055, 0.03, 0.03], True),
    ([0.5, 0.53, 0.5], [0.055, 0.03, 0.03], False),   # a mean drifts off 0.5
    ([0.5, 0.5, 0.5], [0.21, 0.12, 0.12], False),     # Xavier-like spread: not collapsed
])
def test_check_collapse_to_half(means, stds, holds):
    assert I.check_collapse_to_half(means, stds) is holds


def test_check_saturation_starts_at_layer_two():
    assert I.check_saturation([0.1, 0.85, 0.9, 0.9, 0.9])       # layer 1 does not count
    assert not I.check_saturation([0.95, 0.79, 0.9, 0.9, 0.9])
    assert not I.check_saturation([0.95])                        # no layer 2 at all


def test_check_spread():
    assert I.check_spread([0.63, 0.49, 0.41, 0.36, 0.32], [0.04, 0, 0, 0, 0])
    assert not I.check_spread([0.21, 0.047, 0.01], [0, 0, 0])           # collapsed
    assert not I.check_spread([0.98, 0.98, 0.98], [0.92, 0.92, 0.92])   # saturated


@pytest.mark.parametrize("factor, target, holds", [(0.5, 0.5, True), (1.0, 0.5, False), (1.0, 1.0, True),
                                                   (0.5, 1.0, False)])
def test_check_variance_ratio(factor, target, holds):
    stds = [math.sqrt(factor) ** k for k in range(5)]
    ok, r = I.check_variance_ratio(stds, target)
    assert ok is holds
    np.testing.assert_allclose(r, [factor] * 4)


def test_check_scaling():
    x = np.random.default_rng(0).standard_normal((20, 7)).astype(np.float32)
    ok, slope, dev = I.check_scaling(x, x * np.float32(0.03125), 0.03125)
    assert ok and slope == pytest.approx(0.03125) and dev == 0.0
    ok, slope, dev = I.check_scaling(x, x * np.float32(0.031), 0.03125)  # the notes' rounded 0.031 is not exact
    assert not ok and dev == pytest.approx(0.008, rel=1e-3)


# -- building and measuring (square_mlp and forward_stats themselves: tests/test_stats.py) ----------------------
def test_run_forward_is_deterministic():
    from layerlab.lab import Context

    cfg = I.ForwardConfig(n=30, width=20, depth=2)
    a, _ = I.run_forward(cfg, Context("/tmp/unused-layerlab-test", seed=3))
    b, _ = I.run_forward(cfg, Context("/tmp/unused-layerlab-test", seed=3))
    c, _ = I.run_forward(cfg, Context("/tmp/unused-layerlab-test", seed=4))
    assert [s.std for s in a["tanh, Xavier"]] == [s.std for s in b["tanh, Xavier"]]
    assert [s.std for s in a["tanh, Xavier"]] != [s.std for s in c["tanh, Xavier"]]


# -- the experiments, --quick, through the runner ------------------------------------------------------------------
@pytest.fixture(scope="module")
def forward_run(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("init_forward")
    return run_experiment("init_forward", quick=True, out_dir=out, store=store, show=False), out


@pytest.fixture(scope="module")
def identity_run(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("init_identity")
    return run_experiment("init_identity", quick=True, out_dir=out, store=store, show=False), out


def _records(outcome, init):
    return [r for r in outcome.data["records"] if r["init"] == init]


def test_init_forward_quick_verdicts_recomputed_from_records(forward_run):
    """Every stored verdict follows from the stored records by the verdict functions (no verdict is pinned)."""
    outcome, _ = forward_run
    assert outcome.ok, outcome.error
    cfg = outcome.data["config"]
    assert cfg["n"] == 200 and cfg["width"] == 500
    claims = {c.id: c for c in outcome.claims}
    assert sorted(claims) == ["3a", "3b", "4a", "4b", "5a", "5b", "5c"]

    def col(init, key):
        return [r[key] for r in sorted(_records(outcome, init), key=lambda r: r["layer"])]

    input_std = {r["input std"] for r in outcome.data["records"]}
    assert len(input_std) == 1  # one input for every initialisation
    theory = math.sqrt(cfg["width"] * cfg["small_std"] ** 2)
    small = "tanh, W = 0.01·randn"
    expect = {
        "3a": I.check_collapse(col(small, "std"), input_std.pop(), theory)[0],
        "3b": I.check_collapse_to_half(col("sigmoid, W = 0.01·randn", "mean"), col("sigmoid, W = 0.01·randn", "std")),
        "4a": I.check_saturation(col("tanh, W = randn", "saturated")),
        "4b": I.check_saturation(col("sigmoid, W = randn", "saturated")),
        "5a": I.check_spread(col("tanh, Xavier", "std"), col("tanh, Xavier", "saturated")),
        "5b": I.check_variance_ratio(col("ReLU, Xavier", "std"), 0.5)[0],
        "5c": I.check_variance_ratio(col("ReLU, He", "std"), 1.0)[0],
    }
    assert {k: c.holds for k, c in claims.items()} == expect
    assert "0.224" in claims["3a"].text and "ratios" in claims["3a"].measured


def test_init_forward_quick_figures_are_plausible(forward_run):
    outcome, _ = forward_run
    theory = math.sqrt(500 * 1e-4)
    small = _records(outcome, "tanh, W = 0.01·randn")
    ratios = I.ratios([r["std"] for r in small])
    np.testing.assert_allclose(ratios, theory, rtol=0.03)             # 0.224 per layer, tanh ≈ linear there
    assert small[0]["std"] == pytest.approx(theory, rel=0.08)          # tanh(0.224·z) is a little narrower
    sig = _records(outcome, "sigmoid, W = 0.01·randn")
    assert sig[0]["std"] == pytest.approx(theory / 4, rel=0.05)        # σ'(0) = 1/4
    # layer 1 of W = randn: a ~ N(0, 500), saturated when |a| > atanh(0.97)
    p_sat = math.erfc(math.atanh(0.97) / math.sqrt(500) / math.sqrt(2))
    big = _records(outcome, "tanh, W = randn")
    assert p_sat == pytest.approx(0.925, abs=0.001)
    assert big[0]["saturated"] == pytest.approx(p_sat, abs=0.01)
    relu_x = [r["std"] ** 2 for r in _records(outcome, "ReLU, Xavier")]
    relu_he = [r["std"] ** 2 for r in _records(outcome, "ReLU, He")]
    np.testing.assert_allclose(I.ratios(relu_x), 0.5, rtol=0.15)
    np.testing.assert_allclose(I.ratios(relu_he), 1.0, rtol=0.15)
    # He: E[h²] = Var(a)/2 = 1 at every layer
    np.testing.assert_allclose([r["std"] ** 2 + r["mean"] ** 2 for r in _records(outcome, "ReLU, He")], 1.0, rtol=0.15)
    xav = [r["std"] for r in _records(outcome, "tanh, Xavier")]
    assert xav[0] == pytest.approx(0.627, abs=0.02)                    # std of tanh(z), z ~ N(0, 1)


def test_init_forward_quick_writes_figures(forward_run):
    outcome, out = forward_run
    names = {f["name"] for f in outcome.data["figures"]}
    assert names == {"small_init", "large_init", "xavier_he", "profile"}
    for name in names:
        data = (out / f"{name}.png").read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000
    assert (out / "report.html").exists()
    assert all(c.figure in names for c in outcome.claims)


def test_init_identity_quick(identity_run):
    outcome, out = identity_run
    assert outcome.ok, outcome.error
    (claim,) = outcome.claims
    assert claim.id == "6" and claim.holds, claim.measured
    assert "ŷ = 0.03125·x" in claim.measured and "ŷ = 7.59" in claim.measured
    lin = {r["scale"]: [x["std"] for x in outcome.data["records"] if x["scale"] == r["scale"] and x["net"] == "linear"]
           for r in outcome.data["records"]}
    x_std = lin[0.5][0] / 0.5
    np.testing.assert_allclose(lin[0.5], [x_std * 0.5 ** k for k in range(1, 6)], rtol=1e-5)
    np.testing.assert_allclose(lin[1.5], [x_std * 1.5 ** k for k in range(1, 6)], rtol=1e-5)
    tanh_15 = [x["std"] for x in outcome.data["records"] if x["scale"] == 1.5 and x["net"] == "tanh"]
    assert max(tanh_15) < 1.0                                          # bounded by tanh
    assert (out / "identity_scaling.png").read_bytes().startswith(PNG)


def test_experiments_are_registered_with_quick_variants():
    from layerlab.lab import get

    for name, n in (("init_forward", 200), ("init_identity", 200)):
        exp = get(name)
        assert exp.make_config(quick=True).n == n and exp.make_config().n == 1000
        assert exp.topic == "weight initialisation"
