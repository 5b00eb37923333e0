"""Claims 11 (batch norm) and 12 (batch norm vs layer norm at batch size 1): the measurements on hand-checked
cases, and a --quick run of each experiment whose verdicts are recomputed from its own records."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab import data, nn
from layerlab.lab.experiments import normalization as N
from layerlab.lab.runner import run_experiment
from layerlab.store import Store
from layerlab.tensor import Tensor, no_grad

PNG = b"\x89PNG\r\n\x1a\n"


# -- the formula and the measurements -------------------------------------------------------------------------
def test_batch_statistics_xhat_at_batch_one_is_exactly_zero():
    a = np.array([[3.0, -1.5, 1e4]], dtype=np.float32)
    xh = N.batch_statistics_xhat(a)
    assert xh.dtype == np.float32 and np.array_equal(xh, np.zeros_like(a))


def test_batch_statistics_xhat_at_batch_two_keeps_only_the_sign():
    a = np.array([[1.0, 5.0], [3.0, 5.001]])
    # μ = midpoint, σ² = (d/2)², x̂ = ±(d/2)/√((d/2)² + ε)
    d = np.array([2.0, 0.001]) / 2
    expect = np.array([-d, d]) / np.sqrt(d ** 2 + 1e-5)
    np.testing.assert_allclose(N.batch_statistics_xhat(a), expect, rtol=1e-9)  # 5.001 − 5 is inexact


def test_formula_matches_layerlab_batchnorm_in_training_mode():
    a = np.random.default_rng(0).standard_normal((16, 7)).astype(np.float32)
    bn = nn.BatchNorm(7)
    with no_grad():
        out = bn(Tensor(a)).data  # γ = 1, β = 0
    np.testing.assert_allclose(out, N.batch_statistics_xhat(a), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="BatchNorm"):  # and refuses a batch of one, as claim 12 reports
        bn(Tensor(a[:1]))


def test_percentile_drift():
    band = {"steps": [0, 10, 20], "p15": [0.2, 0.25, 0.1], "p50": [0.5, 0.5, 0.55], "p85": [0.8, 0.8, 0.8]}
    assert N.percentile_drift(band) == pytest.approx(0.1)       # p15 moved from 0.2 to 0.1
    assert N.percentile_drift({"steps": [0], "p15": [1.0], "p50": [2.0], "p85": [3.0]}) == 0.0
    assert math.isnan(N.percentile_drift({"steps": [], "p15": [], "p50": [], "p85": []}))


@pytest.mark.parametrize("norm, kinds", [(None, [nn.Linear, nn.Sigmoid, nn.Linear]),
                                         ("batch", [nn.Linear, nn.BatchNorm, nn.Sigmoid, nn.Linear]),
                                         ("layer", [nn.Linear, nn.LayerNorm, nn.Sigmoid, nn.Linear])])
def test_norm_mlp_layers_and_init(norm, kinds):
    model = N.norm_mlp([300, 200, 10], "sigmoid", 0.1, np.random.default_rng(0), norm=norm)
    assert [type(m) for m in model] == kinds
    assert model[0].weight.data.std() == pytest.approx(0.1, rel=0.02) and not model[0].bias.data.any()


def test_norm_mlp_rejects_an_unknown_norm():
    with pytest.raises(ValueError, match="norm_mlp"):
        N.norm_mlp([4, 3, 2], "sigmoid", 0.1, np.random.default_rng(0), norm="group")


def test_fixed_batch_percentiles_are_the_layers_and_leave_running_stats_alone():
    rng = np.random.default_rng(1)
    model = N.norm_mlp([6, 5, 5, 3], "sigmoid", 0.5, rng, norm="batch")
    x = rng.standard_normal((40, 6)).astype(np.float32)
    watch = N._watched(model, 2)
    assert watch == {"2": "h1"}  # depth 2: only h1 of (1, 4, 7) exists

    class _T:  # the two attributes of a Trainer the callback reads
        step = 0

    t = _T()
    t.model = model
    cb = N._FixedBatchPercentiles(x, watch, every=1)
    before = {k: np.array(v, copy=True) for k, v in model.state_dict().items()}
    cb.on_fit_start(t)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    with no_grad():
        h1 = model[2](model[1](model[0](Tensor(x)))).data.ravel()  # training mode: the batch's statistics
    bands = cb.bands("post")["h1"]
    np.testing.assert_allclose([bands["p15"][0], bands["p50"][0], bands["p85"][0]],
                               np.percentile(h1, [15, 50, 85]), rtol=1e-5)


# -- the experiments, --quick, through the runner ------------------------------------------------------------------
@pytest.fixture(scope="module")
def store(tmp_path_factory):
    try:
        data.fashion_mnist(split="test")
    except (FileNotFoundError, OSError) as e:
        pytest.skip(f"no Fashion-MNIST IDX files could be found or downloaded: {e}")
    s = Store(tmp_path_factory.mktemp("store") / "runs.db")
    yield s
    s.close()


def _run(name, store, tmp_path_factory):
    out = tmp_path_factory.mktemp(name)
    outcome = run_experiment(name, quick=True, out_dir=out, store=store, show=False)
    assert outcome.ok, outcome.error
    names = {f["name"] for f in outcome.data["figures"]}
    for n in names:
        assert (out / f"{n}.png").read_bytes().startswith(PNG)
    assert all(c.figure in names for c in outcome.claims)
    return {c.id: c for c in outcome.claims}, outcome.data["records"], names


def test_batch_norm_quick(store, tmp_path_factory):
    claims, records, figs = _run("batch_norm", store, tmp_path_factory)
    assert sorted(claims) == ["11a", "11b", "11c"] and figs == {"loss", "distributions", "distributions_pre"}
    rows = {(r["network"], r["η"]): r for r in records}
    lrs = sorted({lr for _, lr in rows}, reverse=True)
    assert lrs == [0.5, 0.1]
    tail = "mean loss, last 30"
    ratios = [rows[("BN", lr)][tail] / rows[("no BN", lr)][tail] for lr in lrs]
    assert claims["11a"].holds is all(r <= N.MUCH_FASTER for r in ratios)
    assert f"ratio {ratios[0]:.2f}" in claims["11a"].measured
    hs = ("h1", "h4", "h7")
    bn = {h: max(rows[("BN", lr)][f"{h} drift"] for lr in lrs) for h in hs}
    plain = {h: max(rows[("no BN", lr)][f"{h} drift"] for lr in lrs) for h in hs}
    assert claims["11b"].holds is all(v < N.STABLE_DRIFT for v in bn.values())
    assert claims["11c"].holds is all(v >= N.STABLE_DRIFT for v in plain.values())
    # the same weights with and without BN: the first losses differ only by what BN does to the forward pass
    assert rows[("BN", 0.5)]["first loss"] == rows[("BN", 0.1)]["first loss"]


def test_norm_batch_one_quick(store, tmp_path_factory):
    claims, records, figs = _run("norm_batch_one", store, tmp_path_factory)
    assert sorted(claims) == ["12a", "12b"] and figs == {"xhat", "layernorm_batch1"}
    formula = {r["batch"]: r for r in records["batch-norm formula"]}
    ok_a = formula["1 (example A)"]["max |x̂|"] == 0.0 and formula["1 (example B)"]["max |x̂|"] == 0.0
    assert claims["12a"].holds is ok_a and claims["12a"].holds  # exact: μ = x, σ = 0
    assert "raises ValueError" in claims["12a"].measured  # layerlab refuses a batch of one in training mode
    assert formula["2"]["max |x̂|"] == pytest.approx(1.0, abs=0.01)
    assert formula["1, layer norm"]["std of x̂"] == pytest.approx(1.0, abs=1e-3)
    runs = {r["network"]: r for r in records["batch size 1 training (held-out loss)"]}
    ln = runs["LayerNorm"]
    steps = sorted(int(k.split()[1]) for k in ln if k.startswith("step "))
    assert steps[0] == 0 and steps[-1] == 1500
    first, last = ln["step 0"], ln[f"step {steps[-1]}"]
    assert claims["12b"].holds is bool(ln["diverged at"] is None and last <= N.LN_FALL * first)
    assert f"{first:.3f} → {last:.3f}" in claims["12b"].measured
