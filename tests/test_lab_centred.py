"""Claim 38 (centred non-linearities): the measurements' arithmetic, the verdict functions on synthetic records both
ways, and a --quick run whose stored verdicts are recomputed from its stored records (none is pinned)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab.lab.experiments import centred as C
from lab_quick import assert_arms_independent


# -- arithmetic ------------------------------------------------------------------------------------------------------
def test_half_normal_ratio():
    a = np.random.default_rng(0).standard_normal(2_000_000)
    h = np.maximum(a, 0.0)
    assert C.HALF_NORMAL_RATIO == pytest.approx(0.6833, abs=1e-4)
    assert h.mean() / h.std() == pytest.approx(C.HALF_NORMAL_RATIO, rel=3e-3)


def test_offset_ratio_and_one_signed_by_hand():
    # two units over four inputs: unit 0 has mean 3 and std 1, unit 1 mean −1 and std 1
    a = np.array([[2.0, -2.0], [4.0, 0.0], [2.0, -2.0], [4.0, 0.0]])
    assert C.offset_ratio(a) == pytest.approx(math.sqrt((9 + 1) / 2) / 1.0)
    assert C.one_signed(a) == (0.5, 0.5)  # unit 1 is ≤ 0 on every input, unit 0 > 0 on every input
    centred = np.array([[1.0, -1.0], [-1.0, 1.0]])
    assert C.offset_ratio(centred) == 0.0 and C.one_signed(centred) == (0.0, 0.0)
    assert math.isnan(C.offset_ratio(np.ones((3, 2))))


def test_offset_ratio_of_a_relu_layer_is_its_inputs_mean_over_std():
    """Wide-limit theory: a layer fed by ReLU outputs of a zero-mean Gaussian has offset ratio ≈ 0.683."""
    rng = np.random.default_rng(1)
    h = np.maximum(rng.standard_normal((4000, 400)), 0.0)
    w = rng.standard_normal((400, 400)) * math.sqrt(2 / 400)
    assert C.offset_ratio(h @ w.T) == pytest.approx(C.HALF_NORMAL_RATIO, rel=0.1)
    x = rng.standard_normal((4000, 400))
    assert C.offset_ratio(x @ w.T) < 3 / math.sqrt(4000)  # a centred input: noise ~1/√N only


def test_layer_rows_match_a_hand_forward_pass():
    rng = np.random.default_rng(2)
    model = C.build("relu", "he_normal", 8, 16, 3, np.random.default_rng(3))
    x = rng.standard_normal((64, 8)).astype(np.float32)
    rows = C.layer_rows(model, x)
    assert [r["layer"] for r in rows] == [1, 2, 3]
    h = x.astype(np.float64)
    for r, lin in zip(rows, [m for m in model if hasattr(m, "weight")]):
        a = h @ lin.weight.data.astype(np.float64).T
        h = np.maximum(a, 0.0)
        assert r["mean"] == pytest.approx(h.mean(), rel=1e-4) and r["std"] == pytest.approx(h.std(), rel=1e-4)
        assert r["ratio"] == pytest.approx(h.mean() / h.std(), rel=1e-4)
        assert r["pre_mean"] == pytest.approx(a.mean(), rel=1e-3, abs=1e-5)
        assert r["offset"] == pytest.approx(C.offset_ratio(a), rel=1e-4)
        assert r["dead"] == pytest.approx(float(np.mean((h <= 0).all(axis=0)))) == r["neg_units"]
        assert r["saturated"] is None
    rows = C.layer_rows(C.build("tanh", "lecun_normal", 8, 16, 2, np.random.default_rng(3)), x)
    assert rows[0]["dead"] is None and rows[0]["saturated"] is not None


# -- the verdicts on synthetic records, both ways ----------------------------------------------------------------------
def layers(net, source="unit Gaussian", seeds=2, **per_layer):
    """Records of ``net``: ``per_layer`` maps a key to a list of values by layer (the same on every seed)."""
    depth = len(next(iter(per_layer.values())))
    return [{"part": "layer", "input": source, "net": net, "seed": s, "layer": i + 1,
             **{k: v[i] for k, v in per_layer.items()}} for s in range(seeds) for i in range(depth)]


def test_check_positive_mean_both_ways():
    assert C.check_positive_mean(layers("ReLU, He", ratio=[0.68, 0.6, 0.5]), "unit Gaussian") == (True, 0.5)
    assert C.check_positive_mean(layers("ReLU, He", ratio=[0.68, 0.49, 0.7]), "unit Gaussian") == (False, 0.49)
    assert not C.check_positive_mean(layers("ReLU, He", ratio=[0.68, math.nan]), "unit Gaussian")[0]
    assert not C.check_positive_mean(layers("ReLU, He", ratio=[0.68]), "Fashion-MNIST")[0]  # no records


def test_check_centred_both_ways():
    recs = layers("tanh, Xavier", ratio=[0.01, -0.1, 0.05]) + layers("ELU, He", ratio=[0.25, 0.3, 0.31])
    assert C.check_centred(recs, "unit Gaussian", "tanh, Xavier") == (True, 0.1)
    assert C.check_centred(recs, "unit Gaussian", "ELU, He") == (False, 0.31)
    assert not C.check_centred(layers("tanh, Xavier", ratio=[0.0, -0.11]), "unit Gaussian", "tanh, Xavier")[0]
    assert not C.check_centred(layers("tanh, Xavier", ratio=[0.0, math.nan]), "unit Gaussian", "tanh, Xavier")[0]
    assert not C.check_centred(recs, "unit Gaussian", "SELU, LeCun")[0]  # no records


def test_check_offsets_both_ways():
    relu = layers("ReLU, He", offset=[0.05, 0.68, 1.0, 2.0])
    centred = layers("tanh, Xavier", offset=[0.05, 0.05, 0.06, 0.07]) + layers("SELU, LeCun", offset=[0.04] * 4)
    holds, b, c = C.check_offsets(relu + centred, "unit Gaussian")
    assert holds and b == 0.68 and c == 0.07  # layer 1 (fed by the input) is not counted
    assert not C.check_offsets(layers("ReLU, He", offset=[0.05, 0.45, 1.0, 2.0]) + centred, "unit Gaussian")[0]
    leaky = layers("tanh, Xavier", offset=[0.6, 0.6, 0.6, 0.6]) + layers("SELU, LeCun", offset=[0.04] * 4)
    assert not C.check_offsets(relu + leaky, "unit Gaussian")[0]
    assert not C.check_offsets(relu + layers("tanh, Xavier", offset=[0.05] * 4), "unit Gaussian")[0]  # no SELU
    assert not C.check_offsets(centred, "unit Gaussian")[0]


def test_check_dead_growth_both_ways():
    holds, pairs = C.check_dead_growth(layers("ReLU, He", dead=[0.0, 0.01, 0.05, 0.1]), "unit Gaussian")
    assert holds and pairs == [(0.0, 0.1), (0.0, 0.1)]
    assert not C.check_dead_growth(layers("ReLU, He", dead=[0.0, 0.1, 0.04]), "unit Gaussian")[0]
    recs = layers("ReLU, He", seeds=1, dead=[0.0, 0.2]) + [
        {"part": "layer", "input": "unit Gaussian", "net": "ReLU, He", "seed": 1, "layer": i + 1, "dead": d}
        for i, d in enumerate([0.0, 0.03])]
    assert not C.check_dead_growth(recs, "unit Gaussian")[0]  # one draw short of the growth
    tanh = layers("tanh, Xavier", dead=[None, None])
    assert C.check_dead_growth(tanh, "unit Gaussian", "tanh, Xavier") == (False, [])
    assert C.check_dead_growth([], "unit Gaussian") == (False, [])


# -- the --quick run ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(store, tmp_path_factory):
    # 2 input sets × 4 networks × 2 weight draws
    return assert_arms_independent("centred_nonlinearities", store, tmp_path_factory, min_items=16)[1]


def test_quick_run_verdicts_recomputed_from_the_stored_records(run):
    recs = run.records
    expected = {}
    for source in C.INPUTS:
        expected[f"38a ({source})"] = C.check_positive_mean(recs, source)[0]
        for letter, net in (("b", "tanh, Xavier"), ("c", "SELU, LeCun"), ("d", "ELU, He")):
            expected[f"38{letter} ({source})"] = C.check_centred(recs, source, net)[0]
        expected[f"38e ({source})"] = C.check_offsets(recs, source)[0]
        expected[f"38f ({source})"] = C.check_dead_growth(recs, source)[0]
    assert {c["id"]: c["holds"] for c in run.stored["claims"]} == expected
    assert {"output_means", "pre_activations", "unit_offsets", "dead_units"} <= run.figures


def test_quick_run_records_are_complete_and_consistent(run):
    cfg, recs = run.stored["config"], run.records
    assert len(recs) == len(C.INPUTS) * len(C.NETWORKS) * cfg["seeds"] * cfg["depth"]
    for r in recs:
        assert r["ratio"] == pytest.approx(r["mean"] / r["std"])
        assert (r["dead"] is not None) == (r["net"] == "ReLU, He")
        if r["net"] == "ReLU, He":
            assert r["dead"] == pytest.approx(r["neg_units"])  # the lab's dead rule = negative on every input
        assert 0.0 <= r["neg_units"] + r["pos_units"] <= 1.0
