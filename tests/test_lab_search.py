"""Claims 39–41 (swish_depth, activation_search, prelu_slopes): the verdict functions on synthetic records both ways,
and a --quick run of each whose stored verdicts are recomputed from its stored records (no outcome is pinned)."""

from __future__ import annotations

import math

import pytest

from layerlab.lab.experiments import search as E
from lab_quick import assert_arms_independent


# -- 39: Swish vs ReLU through depth -----------------------------------------------------------------------------------
def depth_recs(depth, relu, swish, diverged_swish=False):
    out = []
    for s, (a, b) in enumerate(zip(relu, swish)):
        out.append({"part": "depth", "depth": depth, "act": "relu", "seed": s, "accuracy": a, "diverged": None})
        out.append({"part": "depth", "depth": depth, "act": "swish", "seed": s, "accuracy": b,
                    "diverged": 7 if diverged_swish else None})
    return out


def test_depth_leads_arithmetic():
    lead = E.depth_leads(depth_recs(10, [0.5, 0.6, 0.7], [0.6, 0.8, 0.7]), 10)
    assert lead["diff"] == pytest.approx(0.1) and lead["d"] == pytest.approx([0.1, 0.2, 0.0])
    assert lead["se"] == pytest.approx(0.1 / math.sqrt(3)) and not lead["swish_diverged"]
    assert E.depth_leads(depth_recs(10, [0.5], [0.6]), 20) is None


def test_check_similar_both_ways():
    close = depth_recs(10, [0.80, 0.81, 0.79], [0.81, 0.80, 0.80]) + depth_recs(40, [0.7, 0.72, 0.71], [0.72, 0.71, 0.73])
    assert E.check_similar(close, (10, 40))[0]
    # a large lead (≥ 5 points, beyond the noise) at one depth breaks it, in either direction
    far = close + depth_recs(30, [0.5, 0.52, 0.51], [0.70, 0.71, 0.72])
    assert not E.check_similar(far, (10, 30, 40))[0]
    relu_far = depth_recs(30, [0.70, 0.71, 0.72], [0.5, 0.52, 0.51])
    assert not E.check_similar(relu_far, (30,))[0]
    # a large but noisy difference is not "by a large margin": still similar
    noisy = depth_recs(30, [0.5, 0.8, 0.5], [0.8, 0.5, 0.75])
    assert E.check_similar(noisy, (30,))[0]
    # missing depth, NaN accuracy: no evidence
    assert not E.check_similar(close, (10, 20))[0]
    assert not E.check_similar(depth_recs(10, [0.8, None], [0.8, 0.8]), (10,))[0]
    assert not E.check_similar([], (10,))[0]


def test_check_large_margin_both_ways():
    big = depth_recs(45, [0.5, 0.52, 0.51], [0.70, 0.71, 0.72]) + depth_recs(50, [0.3, 0.2, 0.25], [0.7, 0.72, 0.71])
    assert E.check_large_margin(big, (45, 50))[0]
    # beyond the noise but under 5 points
    small = depth_recs(45, [0.50, 0.51, 0.52], [0.53, 0.54, 0.55])
    assert not E.check_large_margin(small, (45,))[0]
    # 5 points on average but within the noise
    noisy = depth_recs(45, [0.5, 0.5, 0.5], [0.75, 0.48, 0.47])
    assert not E.check_large_margin(noisy, (45,))[0]
    # ReLU ahead by a large margin is not Swish ahead
    assert not E.check_large_margin(depth_recs(45, [0.70, 0.71, 0.72], [0.5, 0.52, 0.51]), (45,))[0]
    # a diverged Swish run is no evidence; a missing depth neither
    assert not E.check_large_margin(depth_recs(45, [0.5, 0.52, 0.51], [0.70, 0.71, 0.72], True), (45,))[0]
    assert not E.check_large_margin(big, (45, 48))[0]
    # exactly the margin, with no noise at all, holds (≥)
    exact = depth_recs(45, [0.5, 0.6, 0.7], [0.55, 0.65, 0.75])
    assert E.depth_leads(exact, 45)["diff"] == pytest.approx(0.05)


# -- 40: the search --------------------------------------------------------------------------------------------------
def entry(rank, expr, swish_like=False, origin="random", reference=None, score=None):
    return {"part": "entry", "rank": rank, "expr": expr, "swish_like": swish_like, "origin": origin,
            "reference": reference, "score": 1.0 - rank / 100 if score is None else score}


def board(*ranked):
    return [entry(i, *spec) if isinstance(spec, tuple) else entry(i, spec) for i, spec in enumerate(ranked, 1)]


def test_check_top_swish_both_ways():
    recs = board("sin(x)", ("x * sigmoid(x)", True, "mutation"), ("tanh(x)", False, "reference", "tanh"),
                 ("sigmoid(x)", False, "reference", "sigmoid"))
    ok, ranks = E.check_top_swish(recs)
    assert ok and ranks == {"best_swish_like": 2, "tanh": 3, "sigmoid": 4}
    # the Swish-like one below tanh
    recs2 = board("sin(x)", ("tanh(x)", False, "reference", "tanh"), ("x*sigmoid(x)", True, "reference", "swish"),
                  ("sigmoid(x)", False, "reference", "sigmoid"))
    assert not E.check_top_swish(recs2)[0]
    # outside the top 10
    filler = [f"x + {k}" for k in range(10)]
    recs3 = board(*filler, ("x*sigmoid(x)", True), ("tanh(x)", False, "reference", "tanh"),
                  ("sigmoid(x)", False, "reference", "sigmoid"))
    assert not E.check_top_swish(recs3)[0]
    # no Swish-like entry, or no sigmoid/tanh reference: no evidence
    assert not E.check_top_swish(board("sin(x)", ("tanh(x)", False, "reference", "tanh")))[0]
    assert not E.check_top_swish(board(("x*sigmoid(x)", True)))[0]
    assert not E.check_top_swish([])[0]


def test_check_found_both_ways():
    assert E.check_found(board("sin(x)", ("x * sigmoid(2 * x)", True, "recombination"))) == \
        (True, ["x * sigmoid(2 * x)"])
    # only the reference Swish: the search did not find it
    assert not E.check_found(board(("x*sigmoid(x)", True, "reference", "swish"), "sin(x)"))[0]
    filler = [f"x + {k}" for k in range(10)]
    assert not E.check_found(board(*filler, ("x * sigmoid(x)", True)))[0]


def ref_recs(name, scores):
    return [{"part": "reference", "name": name, "seed": s, "score": v} for s, v in enumerate(scores)]


def test_check_beats_both_ways():
    recs = ref_recs("swish", [0.50, 0.52, 0.51]) + ref_recs("tanh", [0.40, 0.41, 0.42]) + \
        ref_recs("sigmoid", [0.52, 0.50, 0.53])
    lead = E.check_beats(recs, "tanh")
    assert lead["beyond"] and lead["diff"] == pytest.approx(0.1)
    assert not E.check_beats(recs, "sigmoid")["beyond"]
    assert E.check_beats(recs, "relu") is None
    nan = ref_recs("swish", [0.5, None, 0.5]) + ref_recs("tanh", [0.4, 0.4, 0.4])
    assert not E._beats_holds(E.check_beats(nan, "tanh"))


# -- 41: PReLU's slopes -------------------------------------------------------------------------------------------------
def prelu_recs(per_seed):
    return [{"part": "prelu", "seed": s, "layer": k, "alpha": a}
            for s, alphas in enumerate(per_seed) for k, a in enumerate(alphas, 1)]


def test_alpha_slope_arithmetic():
    assert E.alpha_slope([0.4, 0.3, 0.2]) == pytest.approx(-0.1)
    assert E.alpha_slope([0.25, 0.25]) == pytest.approx(0.0)
    assert math.isnan(E.alpha_slope([0.3])) and math.isnan(E.alpha_slope([0.3, math.nan]))


def test_prelu_checks_both_ways():
    falling = prelu_recs([[0.40, 0.30, 0.20], [0.42, 0.31, 0.22], [0.39, 0.28, 0.21]])
    a, b = E.check_first_layer(falling), E.check_alpha_slope(falling)
    assert a["beyond"] and a["diff"] == pytest.approx(((0.40 - 0.25) + (0.42 - 0.265) + (0.39 - 0.245)) / 3)
    assert b["beyond"] and b["diff"] == pytest.approx(-(E.alpha_slope([0.40, 0.30, 0.20]) + E.alpha_slope(
        [0.42, 0.31, 0.22]) + E.alpha_slope([0.39, 0.28, 0.21])) / 3)
    rising = prelu_recs([[0.20, 0.30, 0.40], [0.21, 0.31, 0.42], [0.19, 0.28, 0.39]])
    assert not E.check_first_layer(rising)["beyond"] and not E.check_alpha_slope(rising)["beyond"]
    noisy = prelu_recs([[0.40, 0.30, 0.20], [0.20, 0.30, 0.40], [0.30, 0.29, 0.31]])
    assert not E._holds(E.check_first_layer(noisy)) and not E._holds(E.check_alpha_slope(noisy))
    assert E.check_first_layer([]) is None and E.check_alpha_slope(prelu_recs([[0.3]])) is None
    assert not E._holds(E.check_alpha_slope(prelu_recs([[0.3, math.nan], [0.3, 0.2]])))


# -- the --quick runs ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def depth_run(store, tmp_path_factory):
    # 2 depths × 2 seeds × 2 activations through ctx.map
    return assert_arms_independent("swish_depth", store, tmp_path_factory, min_items=8)[1]


def test_swish_depth_quick_verdicts_recomputed(depth_run):
    cfg, recs = depth_run.stored["config"], depth_run.records
    expected = {"39a": E.check_similar(recs, cfg["similar_depths"])[0],
                "39b": E.check_large_margin(recs, cfg["margin_depths"])[0]}
    assert {c["id"]: c["holds"] for c in depth_run.stored["claims"]} == expected
    assert len(recs) == len(cfg["depths"]) * cfg["seeds"] * 2 and "swish_depth" in depth_run.figures


@pytest.fixture(scope="module")
def search_run(store, tmp_path_factory):
    pytest.importorskip("mnist1d")
    # the candidates go through layerlab.search's own executor, the references' extra seeds (5 × 1) through
    # ctx.map; the "filter" record holds the search's wall-clock seconds
    return assert_arms_independent("activation_search", store, tmp_path_factory, min_items=5,
                                   volatile=("seconds",))[1]


def test_activation_search_quick_verdicts_recomputed(search_run):
    cfg, recs = search_run.stored["config"], search_run.records
    expected = {"40a": E.check_top_swish(recs)[0], "40b": E.check_found(recs)[0],
                "40c": all(E._beats_holds(E.check_beats(recs, b)) for b in ("sigmoid", "tanh"))}
    assert {c["id"]: c["holds"] for c in search_run.stored["claims"]} == expected
    entries = [r for r in recs if r["part"] == "entry"]
    assert len([r for r in entries if r["origin"] != "reference"]) == cfg["budget"]
    scores = [r["score"] for r in entries if r["score"] is not None]
    assert scores == sorted(scores, reverse=True) and [r["rank"] for r in entries] == list(range(1, len(entries) + 1))
    assert {r["reference"] for r in entries if r["reference"]} == {"relu", "swish", "gelu", "sigmoid", "tanh"}
    assert len([r for r in recs if r["part"] == "reference"]) == 5 * cfg["ref_seeds"]
    assert {"leaderboard", "scores"} <= search_run.figures


@pytest.fixture(scope="module")
def prelu_run(store, tmp_path_factory):
    return assert_arms_independent("prelu_slopes", store, tmp_path_factory, min_items=3)[1]


def test_prelu_slopes_quick_verdicts_recomputed(prelu_run):
    cfg, recs = prelu_run.stored["config"], prelu_run.records
    expected = {"41a": E._holds(E.check_first_layer(recs)), "41b": E._holds(E.check_alpha_slope(recs))}
    assert {c["id"]: c["holds"] for c in prelu_run.stored["claims"]} == expected
    assert len(recs) == cfg["layers"] * cfg["seeds"]
