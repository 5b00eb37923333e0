"""Claim 36 (depth vs width): the parameter arithmetic, the verdict function on synthetic records both ways, and a
--quick run whose stored verdicts are recomputed from its stored records (none is pinned)."""

from __future__ import annotations

import numpy as np
import pytest

from layerlab.lab import ConfigError
from layerlab.lab.experiments import depth_width as D
from layerlab.lab.training import mlp
from lab_quick import assert_arms_independent


# -- arithmetic --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sizes", [[2, 16, 2], [2, 4, 4, 4, 4, 2], [2, 8, 8, 8, 8, 2], [3, 5, 7, 1]])
def test_param_count_is_the_models(sizes):
    model = mlp(sizes, "relu", "he_normal", np.random.default_rng(0))
    assert D.param_count(sizes) == sum(p.data.size for p in model.parameters())


def test_param_count_by_hand_and_wide_width():
    assert D.param_count([2, 16, 2]) == 2 * 16 + 16 + 16 * 2 + 2 == 82
    assert D.param_count([2, 4, 4, 4, 4, 2]) == 82  # 5w + 2 + 3(w² + w) at w = 4
    assert D.param_count([2, 8, 8, 8, 8, 2]) == 258 and D.param_count([2, 16, 16, 16, 16, 2]) == 898
    assert D.wide_width(82) == 16 and D.wide_width(258) == 51 and D.wide_width(898) == 179
    for w in (4, 8, 16, 32):
        p = D.param_count([2] + [w] * 4 + [2])
        q = D.param_count([2, D.wide_width(p), 2])
        assert abs(q - p) <= 2.5 and abs(q - p) / p <= D.PARAM_TOLERANCE


def test_architectures_and_config_errors():
    cfg = D.DepthWidthConfig()
    archs = D._architectures(cfg)
    assert [(a["deep_params"], a["wide_params"]) for a in archs] == [(82, 82), (258, 257), (898, 897)]
    with pytest.raises(ConfigError, match="depth must be >= 2"):
        D._architectures(D.DepthWidthConfig(depth=1))


def test_make_dataset():
    x, y = D.make_dataset("checkerboard", 100, 0.2, 4, np.random.default_rng(0))
    assert x.shape == (100, 2) and set(np.unique(y)) == {0, 1}
    x, y = D.make_dataset("spirals", 100, 0.2, 4, np.random.default_rng(0))
    assert x.shape == (100, 2)
    with pytest.raises(ValueError, match="dataset must be one of"):
        D.make_dataset("moons", 100, 0.2, 4, np.random.default_rng(0))


# -- the verdict on synthetic records, both ways ---------------------------------------------------------------------
def fits(dataset, budget, deep, wide):
    return [{"part": "fit", "dataset": dataset, "budget": budget, "seed": s, "net": net, "train_accuracy": a}
            for s, (d, w) in enumerate(zip(deep, wide)) for net, a in (("deep", d), ("wide", w))]


def test_check_deep_beats_wide_both_ways():
    holds, lead = D.check_deep_beats_wide(fits("checkerboard", 258, [0.96, 0.97, 0.99], [0.95, 0.93, 0.95]),
                                          "checkerboard", 258)
    assert holds and lead["diff"] == pytest.approx((0.01 + 0.04 + 0.04) / 3) and lead["seeds_ahead"] == 3
    # wide ahead
    assert not D.check_deep_beats_wide(fits("c", 82, [0.6, 0.7, 0.8], [0.85, 0.8, 0.9]), "c", 82)[0]
    # ahead on average but not beyond the noise (one seed far behind)
    holds, lead = D.check_deep_beats_wide(fits("c", 82, [0.99, 0.99, 0.85], [0.9, 0.9, 0.9]), "c", 82)
    assert not holds and lead["diff"] > 0
    # both fit every point: a gain of exactly 0 with SE 0 is not beyond the noise
    holds, lead = D.check_deep_beats_wide(fits("s", 258, [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]), "s", 258)
    assert not holds and lead["diff"] == 0.0 and lead["se"] == 0.0
    # an identical gain on every seed (SE 0) is beyond it
    assert D.check_deep_beats_wide(fits("s", 258, [1.0, 1.0], [0.99, 0.99]), "s", 258)[0]
    # other datasets / budgets are ignored; fewer than two paired seeds is no evidence
    recs = fits("c", 258, [0.96, 0.97, 0.99], [0.95, 0.93, 0.95])
    assert D.check_deep_beats_wide(recs, "c", 82) == (False, None)
    assert D.check_deep_beats_wide(recs, "s", 258) == (False, None)
    assert D.check_deep_beats_wide(fits("c", 258, [0.99], [0.5]), "c", 258) == (False, None)
    assert D.check_deep_beats_wide([r for r in recs if r["net"] == "deep"], "c", 258) == (False, None)


# -- the --quick run ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(store, tmp_path_factory):
    # 2 data sets × 3 seeds × 1 budget × (wide, deep)
    return assert_arms_independent("depth_vs_width", store, tmp_path_factory, min_items=12)[1]


def test_quick_run_verdicts_recomputed_from_the_stored_records(run):
    recs = run.records
    budgets = sorted({r["budget"] for r in recs})
    expected = {}
    ids = iter("abcdefghijklmnopqrstuvwxyz")
    for name in D.DATASETS:
        for b in budgets:
            expected[f"36{next(ids)} ({name}, {b} params)"] = D.check_deep_beats_wide(recs, name, b)[0]
    assert {c["id"]: c["holds"] for c in run.stored["claims"]} == expected
    assert {"regions_spirals", "regions_checkerboard", "accuracy"} <= run.figures


def test_quick_run_records_are_complete_and_consistent(run):
    cfg, recs = run.stored["config"], run.records
    assert len(recs) == len(D.DATASETS) * len(cfg["widths"]) * 2 * cfg["seeds"]
    for r in recs:
        sizes = [int(v) for v in r["layers"].split("-")]
        assert r["params"] == D.param_count(sizes)
        assert (len(sizes) - 2) == (cfg["depth"] if r["net"] == "deep" else 1)
        assert 0.0 <= r["train_accuracy"] <= 1.0
    by = {}
    for r in recs:
        by.setdefault((r["dataset"], r["seed"], r["budget"]), {})[r["net"]] = r["params"]
    for pair in by.values():  # the same parameter count, ±5%
        assert abs(pair["wide"] - pair["deep"]) <= D.PARAM_TOLERANCE * pair["deep"]
