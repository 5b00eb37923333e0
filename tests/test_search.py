"""layerlab.search: the space and its rendering, the rejection filter, the generator's determinism, mutation and
recombination, a tiny search with a fake cheap score, Swish's shape, the figure and the command line."""

from __future__ import annotations

import argparse
import json
import math
import pickle

import numpy as np
import pytest

from layerlab import nn
from layerlab import search as S


# -- the rejection filter ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("expr,reason", [
    ("exp(exp(x))", "exploding"),
    ("exp(x)", "exploding"),          # 2.2e4 at x = 10 > EXPLODE_BOUND
    ("sinh(x)*x", "exploding"),
    ("x - x", "constant"),
    ("sigmoid(x)*0", "constant"),
    ("cos(0) + 1", "constant"),
    ("log(x)", "non-finite"),         # ln of a negative
    ("log(abs(x))", "non-finite"),    # −inf at 0, and its derivative 0·∞
    ("x/x", "non-finite"),            # 0/0
    ("sqrt_abs(x)**0.5 * log(-1)", "non-finite"),
    ("bogus(x)", "syntax"),
])
def test_the_filter_rejects_known_bad_expressions(expr, reason):
    ok, why, _ = S.screen(expr)
    assert (ok, why) == (False, reason)


@pytest.mark.parametrize("expr", ["x**3", "x*sigmoid(x)", "max(x, 0)", "sin(x)", "x/(1 + abs(x))", "sqrt_abs(x)",
                                  "exp_neg_abs(x)", "min(x, 0)"])
def test_the_filter_keeps_good_expressions_and_they_pass_gradcheck(expr):
    assert S.screen(expr)[:2] == (True, "ok")


def test_duplicates_by_their_values_on_the_grid():
    scr = S.Screen()
    assert scr("x*sigmoid(x)") == (True, "ok")
    assert scr("sigmoid(x)*x") == (False, "duplicate")
    assert scr("max(x, 0)") == (True, "ok")
    assert scr("relu(x)") == (False, "duplicate")
    assert scr("max(0, x) + 0") == (False, "duplicate")
    assert scr("x - x") == (False, "constant")
    assert scr.counts == {"ok": 2, "duplicate": 3, "constant": 1}
    assert scr.seen[next(iter(scr.seen))] == "x*sigmoid(x)"


# -- the space ------------------------------------------------------------------------------------------------------
def test_every_unary_and_binary_function_renders_a_valid_expression():
    for b in S.BINARY:
        for u in S.UNARY:
            for genome in [(b, u, "x", None), (b, "x", u, None), (b, u, u, ("add", "x", "sin", None))]:
                expr = S.render(genome)
                nn.Activation.from_expression(expr, can_die=False)  # parses


def test_render_examples():
    assert S.render(("mul", "x", "sigmoid", None)) == "x * sigmoid(x)"
    assert S.render(("sigmul", "beta2", "x", None)) == "sigmoid(2 * x) * x"
    assert S.render(("add", "neg", "square", None)) == "-x + x ** 2"
    assert S.render(("sub", "x", "neg", None)) == "x - -x"
    assert S.render(("mul", "neg", "x", ("add", "x", "one", None))) == "-(x + 1) * x"
    assert S.render(("div1abs", "tanh", "x", ("mul", "x", "sigmoid", None))) == "tanh(x * sigmoid(x)) / (1 + abs(x))"
    act = nn.Activation.from_expression(S.render(("gauss0.5", "x", "sin", None)))
    assert act.f(np.array([1.0]))[0] == pytest.approx(math.exp(-0.5 * (1 - math.sin(1)) ** 2))
    act = nn.Activation.from_expression(S.render(("mix2", "x", "tanh", None)))
    assert act.f(np.array([1.0]))[0] == pytest.approx(2 - math.tanh(1))


def test_the_generator_is_deterministic_for_a_seed():
    a = [S.render(S.random_genome(np.random.default_rng(7))) for _ in range(1)]
    r1, r2, r3 = (np.random.default_rng(s) for s in (7, 7, 8))
    g1 = [S.random_genome(r1) for _ in range(50)]
    g2 = [S.random_genome(r2) for _ in range(50)]
    g3 = [S.random_genome(r3) for _ in range(50)]
    assert g1 == g2 and g1 != g3 and a[0] == S.render(g1[0])
    assert {g[3] is None for g in g1} == {True, False}  # one and two cores


def depth(g):
    return 1 if g[3] is None else 1 + depth(g[3])


def test_mutation_and_recombination_produce_valid_genomes():
    rng = np.random.default_rng(3)
    pool = [S.random_genome(rng) for _ in range(20)]
    for _ in range(200):
        m = S.mutate(pool[int(rng.integers(20))], rng)
        c = S.recombine(pool[int(rng.integers(20))], pool[int(rng.integers(20))], rng)
        for g in (m, c):
            assert depth(g) <= 2 and g[0] in S.BINARY and g[1] in S.UNARY and g[2] in S.UNARY
            nn.Activation.from_expression(S.render(g), can_die=False)
    g = ("mul", "x", "sigmoid", None)
    assert any(S.mutate(g, np.random.default_rng(s)) != g for s in range(5))
    # a child of two one-core parents takes each slot from one of them
    p, q = ("add", "sin", "cos", None), ("mul", "tanh", "abs", None)
    for s in range(10):
        c = S.recombine(p, q, np.random.default_rng(s))
        assert all(c[k] in (p[k], q[k]) for k in range(3)) and c[3] is None


# -- the search -----------------------------------------------------------------------------------------------------
def fake_score(expr: str, seed: int) -> float:
    """Cheap and deterministic: closeness to Swish at a few points (higher is better), plus a seed jitter."""
    x = np.array([-2.0, -1.0, -0.3, 0.5, 1.0, 2.0])
    with np.errstate(all="ignore"):
        y = nn.Activation.from_expression(expr, can_die=False).f(x)
    return float(-np.mean((y - x / (1 + np.exp(-x))) ** 2)) + 1e-3 * seed


def test_a_tiny_search_returns_a_sorted_leaderboard():
    calls = []

    def counting_map(fn, items):
        items = list(items)
        calls.append(len(items))
        return map(fn, items)

    board = S.search(24, seeds=(0, 1), seed=5, evaluate=fake_score, map_fn=counting_map, population=6,
                     references=("x*sigmoid(x)", "tanh(x)"))
    searched = [e for e in board if e.origin != "reference"]
    assert len(searched) == 24 and len(board) == 26
    scores = [e.score for e in board]
    assert scores == sorted(scores, reverse=True)
    assert board[0].expr == "x*sigmoid(x)" and board.rank("x*sigmoid(x)") == 1  # references keep their text
    assert {e.origin for e in searched} >= {"random"} and {e.origin for e in searched} & {"mutation", "recombination"}
    assert sum(calls) == 2 * 26 and len(calls) >= 3  # the random phase, then generations, each one map call
    for e in board:
        assert len(e.scores) == 2 and e.score == pytest.approx(np.mean(e.scores))
        nn.Activation.from_expression(e.expr)
    assert len({e.expr for e in board}) == len(board)
    assert set(board.rejected) >= {"ok"} and board.rejected["ok"] == 24 + 0  # the kept searched candidates
    json.dumps(board.to_json())
    assert [e.expr for e in board.top(3, origins=("random", "mutation", "recombination"))] == \
        [e.expr for e in searched[:3]]


def test_the_search_is_deterministic_for_a_seed():
    a = S.search(10, seeds=(0,), seed=1, evaluate=fake_score, population=4)
    b = S.search(10, seeds=(0,), seed=1, evaluate=fake_score, population=4)
    c = S.search(10, seeds=(0,), seed=2, evaluate=fake_score, population=4)
    assert [e.expr for e in a] == [e.expr for e in b] and [e.expr for e in a] != [e.expr for e in c]


def _fake_call(self, expr, seed):
    return fake_score(expr, seed)


def nan_for_tanh(expr, seed):
    return math.nan if "tanh" in expr else 0.5


def test_a_diverged_candidate_ranks_last():
    board = S.search(3, seeds=(0, 1), seed=0, evaluate=nan_for_tanh, references=("tanh(x)", "x*sigmoid(x)"))
    assert board[-1].expr == "tanh(x)" and math.isnan(board[-1].score)
    assert board[-1].to_record()["score"] is None


def test_bad_arguments():
    with pytest.raises(ValueError):
        S.search(0, evaluate=fake_score)
    with pytest.raises(ValueError):
        S.search(3, seeds=(), evaluate=fake_score)


def test_the_score_task_pickles_and_scores():
    pytest.importorskip("mnist1d")
    task = S.MNIST1DTask(steps=3, n_train=300, n_val=200)
    assert pickle.loads(pickle.dumps(task)) == task
    acc = task("x*sigmoid(x)", 0)
    assert 0.0 <= acc <= 1.0 and acc == task("x*sigmoid(x)", 0)
    assert math.isnan(S.MNIST1DTask(steps=2, lr=1e30, n_train=300, n_val=200)("exp(x)**3", 0))


# -- Swish's shape, the figure, the CLI --------------------------------------------------------------------------------
@pytest.mark.parametrize("expr,like", [
    ("x*sigmoid(x)", True), ("sigmoid(2*x)*x", True), ("3*x*sigmoid(0.5*x) - 1", True), (S.REFERENCES["gelu"], True),
    ("max(x, 0)", False), ("tanh(x)", False), ("softplus(x)", False), ("x", False), ("x*sigmoid(8*x)", False),
    ("x - x", False),
])
def test_swish_like(expr, like):
    assert S.swish_like(expr) is like


def test_swish_distance_from_values():
    x = np.linspace(-5.0, 5.0, 401)
    d, b = S.swish_distance(x / (1 + np.exp(-1.5 * x)))
    assert d < 1e-6 and b == pytest.approx(1.5)
    assert S.swish_distance(np.full(401, np.nan)) [0] == math.inf


def test_plot_top(tmp_path):
    board = S.search(4, seeds=(0,), seed=0, evaluate=fake_score, references=("x*sigmoid(x)",))
    fig = S.plot_top(board, 10)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == len(board)
    fig.savefig(tmp_path / "top.png")
    assert (tmp_path / "top.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("workers", [1, 2])
def test_cli_search(tmp_path, monkeypatch, capsys, workers):
    monkeypatch.setattr(S.MNIST1DTask, "__call__", _fake_call)  # (forked workers inherit the patch)
    parser = argparse.ArgumentParser()
    S.add_arguments(parser)
    args = parser.parse_args(["--budget", "5", "--seed", "3", "--workers", str(workers), "--out", str(tmp_path / "out")])
    assert S.cli_search(args) == 0
    out = capsys.readouterr().out
    assert "x*sigmoid(x)" in out  # the reference Swish is first under the fake score
    data = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert data["budget"] == 5 and len(data["entries"]) == 5 + len(S.REFERENCES)
    assert (tmp_path / "out" / "top10.png").exists()


def test_the_cli_searches_and_writes_the_leaderboard(tmp_path, capsys):
    from layerlab.cli import main

    assert main(["search", "--budget", "6", "--seeds", "1", "--out", str(tmp_path)]) == 0
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    assert board and (tmp_path / "top10.png").read_bytes().startswith(b"\x89PNG")
    assert "reference" in capsys.readouterr().out
    assert main(["search", "--budget", "0"]) == 2
    assert "--budget must be an integer ≥ 1, got 0" in capsys.readouterr().err
