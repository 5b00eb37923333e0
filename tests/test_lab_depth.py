"""Claims 32–34 (depth and gradients): the networks and measurements (pinned arithmetic), the verdict functions on
synthetic records both ways, and a --quick run of each experiment whose stored verdicts are recomputed from its
stored records (no outcome of a training run is pinned)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab import Tensor, nn
from layerlab.lab.experiments import depth as D
from lab_quick import assert_arms_independent


# -- networks and measurements ---------------------------------------------------------------------------------------
def test_plain_net_has_depth_linear_layers_and_rejects_depth_below_two():
    net = D.plain_net(5, 8, "relu", "he_normal", np.random.default_rng(0))
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert len(linears) == 5 and linears[0].weight.shape == (8, 784) and linears[-1].weight.shape == (10, 8)
    with pytest.raises(ValueError):
        D.plain_net(1, 8, "relu", "he_normal", np.random.default_rng(0))


def test_residual_version_shares_the_plain_modules_and_adds_identity_shortcuts():
    plain = D.plain_net(6, 5, "relu", "lecun_normal", np.random.default_rng(1), dtype=np.float64)
    res = D.residual_version(plain)
    assert {id(p) for p in res.parameters()} == {id(p) for p in plain.parameters()}
    blocks = [m for m in res if isinstance(m, nn.Residual)]
    assert len(blocks) == 2 and all(len(list(b.module)) == 4 for b in blocks)
    # by hand: h = W1 x + b1; two pre-activation blocks h += W' relu(W relu(h)); out = Wd relu(h)
    lin = [m for m in plain if isinstance(m, nn.Linear)]
    x = np.random.default_rng(2).standard_normal((3, 784))
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    aff = lambda m, a: a @ m.weight.data.T + m.bias.data  # noqa: E731
    h = aff(lin[0], x)
    for a, b in ((lin[1], lin[2]), (lin[3], lin[4])):
        h = h + aff(b, relu(aff(a, relu(h))))
    np.testing.assert_allclose(res(Tensor(x)).data, aff(lin[5], relu(h)), rtol=1e-10)
    # without shortcuts it is the plain net
    np.testing.assert_allclose(plain(Tensor(x)).data, aff(lin[5], relu(aff(lin[4], relu(aff(lin[3], relu(
        aff(lin[2], relu(aff(lin[1], relu(aff(lin[0], x))))))))))), rtol=1e-10)
    with pytest.raises(ValueError):
        D.residual_version(D.plain_net(5, 5, "relu", "he_normal", np.random.default_rng(0)))


def test_linear_grad_norms_are_the_norms_of_the_gradients_in_layer_order():
    net = D.plain_net(4, 6, "tanh", "lecun_normal", np.random.default_rng(3), dtype=np.float64)
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((7, 784)), rng.integers(0, 10, 7)
    g = D.linear_grad_norms(net, x, y)
    lin = [m for m in net if isinstance(m, nn.Linear)]
    np.testing.assert_allclose(g["weight"], [np.linalg.norm(m.weight.grad) for m in lin], rtol=1e-12)
    np.testing.assert_allclose(g["bias"], [np.linalg.norm(m.bias.grad) for m in lin], rtol=1e-12)
    assert math.isfinite(g["loss"]) and len(g["weight"]) == 4


def test_sigmoid_small_init_ratio_follows_the_predicted_decay():
    """0.01·randn with sigmoid: δ shrinks by ≈ σ′(0)·0.01·√width per layer while h stays ≈ 0.5 (arithmetic of one
    backward pass: the ratio of two consecutive hidden layers' weight gradients is near 0.25·0.01·√width)."""
    width = 400
    net = D.plain_net(4, width, "sigmoid", ("normal", {"std": 0.01}), np.random.default_rng(5), dtype=np.float64)
    rng = np.random.default_rng(6)
    g = D.linear_grad_norms(net, rng.standard_normal((64, 784)), rng.integers(0, 10, 64))
    per_layer = g["weight"][1] / g["weight"][2]
    assert per_layer == pytest.approx(0.25 * 0.01 * math.sqrt(width), rel=0.2)


def test_ratio_edge_cases():
    assert D.ratio(2.0, 4.0) == 0.5
    assert D.ratio(1.0, 0.0) == math.inf
    assert math.isnan(D.ratio(0.0, 0.0)) and math.isnan(D.ratio(math.inf, 1.0)) and math.isnan(D.ratio(1.0, math.nan))
    assert D.ratio(0.0, 3.0) == 0.0


def test_check_ratios_both_ways():
    assert D.check_ratios([0.5, 2.0, 9.9], 0.1, 10) == (True, 0.5, 9.9)
    assert not D.check_ratios([0.5, 10.1], 0.1, 10)[0]
    assert D.check_ratios([1e-9, 0.0], 0.0, 0.01)[0] and not D.check_ratios([1e-9, 0.02], 0.0, 0.01)[0]
    assert D.check_ratios([150.0, math.inf], 100.0, math.inf)[0]
    assert not D.check_ratios([150.0, math.nan], 100.0, math.inf)[0]  # an overflow (NaN) is no evidence
    assert not D.check_ratios([], 0.0, 1.0)[0]


def test_plateau_stretch_and_run_status():
    ln10 = math.log(10)
    flat = [ln10] * 80 + list(np.linspace(ln10, 0.5, 40))
    length, start = D.plateau_stretch(flat)
    assert start == 0 and 80 <= length < 90
    assert D.run_status(flat, None) == "plateau, then falls"
    assert D.run_status([ln10 + 0.05] * 60, None) == "plateau to the end"
    assert D.run_status([ln10] * 30 + [1.0] * 60, None) == "trains"  # too short to be a plateau
    assert D.run_status([2.0, 1.0, 0.5] * 30, None) == "trains"
    assert D.run_status([ln10] * 60 + [math.nan], 60) == "diverged"
    assert D.run_status([1.0, math.nan], None) == "diverged"
    assert D.plateau_stretch([0.1] * 20) == (0, None)


def test_stalls_and_trains():
    assert D.stalls(2.30, 2.25) and D.stalls(2.30, 2.39) and not D.stalls(2.30, 2.15)
    assert not D.stalls(2.30, math.nan)
    assert D.trains(1.0) and D.trains(D.TRAINS_LEVEL) and not D.trains(1.2) and not D.trains(math.nan)


# -- the verdicts on synthetic records, both ways --------------------------------------------------------------------
def init_rec(act, init, depth, seed, rw, rb=1.0, first32=1e-3, finite32=True):
    return {"part": "init", "activation": act, "init": init, "depth": depth, "seed": seed, "ratio_w": rw,
            "ratio_b": rb, "first_w": 1.0, "first_w_f32": first32, "finite_f32": finite32}


def train_rec(act, init, step, rw):
    return {"part": "during training", "activation": act, "init": init, "step": step, "ratio_w": rw}


def healthy_gradient_records():
    recs = []
    for d in (5, 50):
        for s in range(2):
            recs += [init_rec("sigmoid", "small", d, s, 1e-5 ** (d / 5), first32=0.0 if d == 50 else 1e-9),
                     init_rec("tanh", "xavier", d, s, 3.0), init_rec("relu", "he", d, s, 2.0),
                     init_rec("relu", "large", d, s, 0.5, rb=1e3 * d, finite32=d < 50)]
    recs += [train_rec("sigmoid", "small", t, 0.0) for t in (0, 10)]
    recs += [train_rec("relu", "he", t, 2.0) for t in (0, 10)]
    return recs


def test_gradient_depth_verdicts_both_ways():
    recs = healthy_gradient_records()
    v = D.gradient_depth_verdicts(recs)
    assert {k: h for k, (h, _, _) in v.items()} == {"32a": True, "32b": True, "32c": True, "32d": False,
                                                     "32e": True, "32f": True, "32g": True}
    assert D.float32_limits(recs) == {"underflow": [50], "overflow": [50]}
    # one seed breaks each claim
    bad = recs + [init_rec("sigmoid", "small", 5, 9, 0.02), init_rec("tanh", "xavier", 5, 9, 11.0),
                  init_rec("relu", "he", 5, 9, 0.09), init_rec("relu", "large", 5, 9, 200.0, rb=50.0),
                  train_rec("sigmoid", "small", 20, 0.5), train_rec("relu", "he", 20, math.nan)]
    bad += [init_rec("relu", "large", d, s, 300.0) for d in (5, 50) for s in range(2)]
    v = D.gradient_depth_verdicts(bad)
    assert {k: h for k, (h, _, _) in v.items()} == {"32a": False, "32b": False, "32c": False, "32d": False,
                                                     "32e": False, "32f": False, "32g": False}
    # 32d holds when every large-init ratio is ≥ 100
    only_large = [r for r in bad if (r["activation"], r.get("init")) == ("relu", "large") and r["ratio_w"] >= 100]
    assert D.gradient_depth_verdicts(only_large)["32d"][0]
    # underflow needs every seed at exactly 0; overflow needs one seed non-finite
    mixed = recs + [init_rec("sigmoid", "small", 50, 7, 1e-50, first32=1e-45)]
    assert D.float32_limits(mixed)["underflow"] == []
    assert D.float32_limits([]) == {"underflow": [], "overflow": []}
    # no records: no verdict holds
    assert not any(h for h, _, _ in D.gradient_depth_verdicts([]).values())


def plain_rec(init, depth, seed, tail, first=2.3, net="plain", **kw):
    return {"part": "train", "net": net, "init": init, "depth": depth, "seed": seed, "tail": tail, "first": first, **kw}


def test_check_deeper_worse_both_ways():
    recs = [plain_rec("he", 8, s, t) for s, t in enumerate((0.40, 0.42, 0.41))]
    recs += [plain_rec("he", 22, s, t) for s, t in enumerate((0.60, 0.65, 0.62))]
    holds, lead = D.check_deeper_worse(recs, "he", 22, 8)
    assert holds and lead["diff"] == pytest.approx(0.64 / 3) and lead["seeds"] == 3
    # reversed: the shallow net is not behind
    assert not D.check_deeper_worse(recs, "he", 8, 22)[0]
    # within the noise: one seed each way
    noisy = [plain_rec("x", 8, s, t) for s, t in enumerate((0.4, 0.6, 0.5))]
    noisy += [plain_rec("x", 22, s, t) for s, t in enumerate((0.6, 0.4, 0.52))]
    assert not D.check_deeper_worse(noisy, "x", 22, 8)[0]
    # a diverged deep run (NaN tail) is no evidence; a missing seed or depth neither
    div = recs[:3] + [plain_rec("he", 22, s, t) for s, t in enumerate((0.60, math.nan, 0.62))]
    assert not D.check_deeper_worse(div, "he", 22, 8)[0]
    assert not D.check_deeper_worse(recs[:-1], "he", 22, 8)[0]
    assert D.check_deeper_worse(recs, "he", 30, 8) == (False, None)


def skip_records(plain_tails, res_tails, depth=50, plain_first=2.30, init="xavier"):
    return ([plain_rec(init, depth, s, t, first=plain_first) for s, t in enumerate(plain_tails)]
            + [plain_rec(init, depth, s, t, first=2.0, net="residual") for s, t in enumerate(res_tails)])


def test_check_residual_trains_both_ways():
    assert D.check_residual_trains(skip_records((2.30, 2.29, 2.31), (0.50, 0.55, 0.45)), 50)[0]
    # the plain net does not stall (it trains, slowly)
    holds, det = D.check_residual_trains(skip_records((1.9, 1.8, 2.0), (0.50, 0.55, 0.45)), 50)
    assert not holds and not det["plain stalls"] and det["residual trains"]
    # the residual net does not reach the "trains" level
    holds, det = D.check_residual_trains(skip_records((2.30, 2.29, 2.31), (1.5, 1.4, 1.6)), 50)
    assert not holds and det["plain stalls"] and not det["residual trains"]
    # a diverged residual run is no evidence
    assert not D.check_residual_trains(skip_records((2.30, 2.29, 2.31), (0.5, math.nan, 0.45)), 50)[0]
    # missing depth or a missing residual seed
    assert not D.check_residual_trains(skip_records((2.30,), (0.5,)), 30)[0]
    assert not D.check_residual_trains(skip_records((2.30, 2.29), (0.5,)), 50)[0]


def test_check_plain_trains_and_stalls():
    recs = skip_records((0.6, 0.7), (0.5, 0.5), depth=10) + skip_records((2.30, 2.31), (0.5, 0.5), init="he")
    assert D.check_plain_trains(recs, 10) and not D.check_plain_trains(recs, 50, "he")
    assert D.check_plain_stalls(recs, 50, "he") and not D.check_plain_stalls(recs, 10, "xavier")
    assert not D.check_plain_trains(recs, 30) and not D.check_plain_stalls(recs, 30, "he")
    assert not D.check_plain_trains(skip_records((0.6, 1.3), (0.5, 0.5), depth=10), 10)


def test_check_residual_grads_both_ways():
    def rec(ri, rm, net="residual"):
        return {"part": "train", "net": net, "init": "xavier", "ratio_init": ri, "ratio_median": rm}
    assert D.check_residual_grads([rec(1.0, 3.0), rec(0.2, 9.0), rec(1e-5, 1e-5, "plain")]) == (True, 0.2, 9.0)
    assert not D.check_residual_grads([rec(1.0, 3.0), rec(0.05, 1.0)])[0]
    assert not D.check_residual_grads([rec(1.0, math.nan)])[0]
    assert not D.check_residual_grads([rec(1.0, 1.0, "plain")])[0]


# -- the --quick runs ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gradient_run(store, tmp_path_factory):
    # 7 set-ups × 2 depths × 2 seeds at init + 5 training runs
    return assert_arms_independent("gradient_depth", store, tmp_path_factory, min_items=33)[1]


def test_gradient_depth_quick_verdicts_recomputed(gradient_run):
    recs = gradient_run.records
    expected = {k: h for k, (h, _, _) in D.gradient_depth_verdicts(recs).items()}
    cfg = gradient_run.stored["config"]
    limits = D.float32_limits(recs)
    deepest = max(cfg["depths"])
    expected["32h"] = deepest in limits["underflow"]
    expected["32i"] = deepest in limits["overflow"]
    assert {c["id"]: c["holds"] for c in gradient_run.stored["claims"]} == expected
    assert {"ratio_vs_depth", "gradient_heatmap", "layer_profile", "training_loss"} <= gradient_run.figures
    # every set-up, depth and seed was measured, and the stored ratios are first / last
    init = [r for r in recs if r["part"] == "init"]
    assert len(init) == len(cfg["setups"]) * len(cfg["depths"]) * cfg["seeds"]
    for r in init:
        if math.isfinite(r["ratio_w"]):
            assert r["ratio_w"] == pytest.approx(D.ratio(r["first_w"], r["last_w"]))
    assert {(r["activation"], r["init"]) for r in recs if r["part"] == "during training"} == \
        {tuple(s) for s in cfg["train_setups"]}


@pytest.fixture(scope="module")
def plain_run(store, tmp_path_factory):
    # 2 inits × 2 depths × 2 seeds
    return assert_arms_independent("deep_plain", store, tmp_path_factory, min_items=8)[1]


def test_deep_plain_quick_verdicts_recomputed(plain_run):
    recs, cfg = plain_run.records, plain_run.stored["config"]
    depths = sorted(cfg["depths"])
    expected, k = {}, 0
    for init in cfg["inits"]:
        for shallow, deep in zip(depths[:-1], depths[1:]):
            expected[f"33{chr(ord('a') + k)}"] = D.check_deeper_worse(recs, init, deep, shallow)[0]
            k += 1
    assert {c["id"]: c["holds"] for c in plain_run.stored["claims"]} == expected
    assert len(recs) == len(cfg["inits"]) * len(depths) * cfg["seeds"]
    for r in recs:
        assert r["status"] in ("diverged", "plateau to the end", "plateau, then falls", "trains")
        assert (r["status"] == "diverged") == (r["diverged at"] is not None or not math.isfinite(r["tail"]))


@pytest.fixture(scope="module")
def skip_run(store, tmp_path_factory):
    # (2 depths × plain/residual + 1 other) × 2 seeds
    return assert_arms_independent("skip_connections", store, tmp_path_factory, min_items=10)[1]


def test_skip_connections_quick_verdicts_recomputed(skip_run):
    recs, cfg = skip_run.records, skip_run.stored["config"]
    depths = sorted(cfg["depths"])
    deep = sorted(depths[1:], reverse=True)
    expected = {"34a": D.check_residual_trains(recs, deep[0], cfg["init"])[0]}
    for i, d in enumerate(deep[1:]):
        expected[f"34b{'' if i == 0 else i + 1}"] = D.check_residual_trains(recs, d, cfg["init"])[0]
    expected["34c"] = D.check_plain_trains(recs, depths[0], cfg["init"])
    expected["34d"] = D.check_residual_grads(recs, D.WITHIN, cfg["init"])[0]
    for i, d in enumerate(sorted(cfg["other_depths"])):
        expected[f"34e{'' if i == 0 else i + 1}"] = D.check_plain_stalls(recs, d, cfg["other_init"])
    assert {c["id"]: c["holds"] for c in skip_run.stored["claims"]} == expected
    assert len(recs) == (2 * len(depths) + len(cfg["other_depths"])) * cfg["seeds"]
    for r in recs:
        if math.isfinite(r["ratio_init"]):
            assert r["ratio_init"] == pytest.approx(D.ratio(r["first_w_init"], r["last_w_init"]))
