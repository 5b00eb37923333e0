"""Claims 15 (activation comparison) and 16 (dropout): the verdict functions on synthetic records (each both
ways), the measuring helpers on hand-made cases, the registry-driven choice of activations (a class defined
here is trained and drawn), and a --quick run of each experiment whose stored verdicts are recomputed from its
stored records (and the records from the store's loss curves). No test pins the verdict of a training run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab import data, nn, optim
from layerlab.lab import ConfigError, Context, make_config
from layerlab.lab import stats
from layerlab.lab.experiments import activations as A
from layerlab.lab.experiments import dropout as D
from lab_quick import PNG, assert_arms_independent, quick_run
from layerlab.tensor import Tensor


def _quick(name, store, tmp_path_factory, overrides=None):
    r = quick_run(name, store, tmp_path_factory, overrides)
    return r.outcome, r.claims, r.out, r.stored


# -- the verdict functions of claim 15, both ways, on synthetic records ---------------------------------------------
FAM = ("relu", "leaky_relu", "elu")


def _act_records(loss: dict, auc: dict | None = None, much=()) -> dict:
    auc = auc or loss
    runs = [{"activation": n, "seed": s, "loss": v, "mean loss over the run": auc[n][s]}
            for n, vs in loss.items() for s, v in enumerate(vs)]
    return {"each run": runs, "much faster": list(much)}


def _much(claim, steps_fast, steps_slow, diverged=False, ends_above=False):
    ratio = 0.0 if steps_fast is None else (steps_slow + 1) / (steps_fast + 1)
    return {"claim": claim, "steps_fast": steps_fast, "steps_slow": steps_slow, "ratio": ratio, "diverged": diverged,
            "ends_above": ends_above}


def test_verdicts_15_hold_on_records_made_to_hold():
    loss = {"sigmoid": [1.1, 1.2, 1.0], "tanh": [0.50, 0.52, 0.48],
            "relu": [0.45, 0.47, 0.43], "leaky_relu": [0.46, 0.48, 0.44], "elu": [0.44, 0.46, 0.42]}
    v = A.verdicts(_act_records(loss, much=[_much("15c-tanh@400", 100, 399), _much("15c-sigmoid@200", 3, 199)]), FAM)
    assert v == {"15a": True, "15b": True, "15d": True, "15e": True, "15c-tanh@400": True, "15c-sigmoid@200": True}


def test_verdicts_15_do_not_hold_on_records_made_not_to():
    # sigmoid not the worst; the family behind sigmoid and tanh; a tiny lead over tanh that flips sign per seed
    loss = {"sigmoid": [0.40, 0.41, 0.39], "tanh": [0.50, 0.52, 0.48], "identity": [0.9, 0.9, 0.9],
            "relu": [0.45, 0.56, 0.43], "leaky_relu": [0.52, 0.55, 0.50], "elu": [0.56, 0.45, 0.54]}
    auc = {n: [v + 0.3 for v in vs] for n, vs in loss.items()}
    auc["tanh"] = [0.60, 0.60, 0.60]  # the family's mean loss over the run is higher than tanh's
    much = [_much("15c-tanh@400", 250, 399), _much("15c-tanh@200", None, 199), _much("15c-sigmoid@400", 3, 399, True)]
    v = A.verdicts(_act_records(loss, auc, much), FAM)
    assert v == {"15a": False, "15b": False, "15d": False, "15e": False, "15c-tanh@400": False,
                 "15c-tanh@200": False, "15c-sigmoid@400": False}
    # a lead of the family over tanh that is consistent but within 2 SE is "lower", not "beyond the noise"
    loss = {"sigmoid": [1.0] * 3, "tanh": [0.50, 0.52, 0.48], "relu": [0.49, 0.52, 0.40],
            "leaky_relu": [0.49, 0.52, 0.40], "elu": [0.49, 0.52, 0.40]}
    assert A.verdicts(_act_records(loss), FAM)["15d"] is False


def test_much_faster_holds_reads_the_lab_definition():
    assert A.much_faster_holds(_much("x", 49, 99))          # (99 + 1)/(49 + 1) = 2: exactly twice as fast
    assert not A.much_faster_holds(_much("x", 50, 99))      # 100/51 < 2
    assert not A.much_faster_holds(_much("x", None, 99))    # never gets there
    assert not A.much_faster_holds(_much("x", 3, 99, diverged=True))  # a diverged run is never evidence
    assert not A.much_faster_holds(_much("x", 3, 99, ends_above=True))  # it got there but did not stay
    # the same answer as stats.much_faster on curves
    slow = np.linspace(2.0, 1.0, 200)
    fast = np.concatenate([np.linspace(2.0, 0.9, 40), np.full(160, 0.9)])
    r = stats.much_faster(fast, slow, window=10)
    assert r["holds"] and A.much_faster_holds(r)
    slow = np.concatenate([np.linspace(2.0, 0.9, 150), np.linspace(0.9, 1.0, 50)])  # reaches its end level at ~145
    r = stats.much_faster(slow - 0.01, slow, window=10)
    assert r["steps_slow"] is not None and not r["holds"] and not A.much_faster_holds(r)


def test_rank_puts_a_diverged_run_last():
    assert A.rank({"a": 0.5, "b": float("nan"), "c": 0.2}) == ["c", "a", "b"]


def test_run_lengths_default_to_half_and_full():
    assert A.run_lengths(A.ActivationsConfig()) == [200, 400]
    assert A.run_lengths(make_config(A.ActivationsConfig, quick=True)) == [100, 200]
    with pytest.raises(ConfigError, match="run_lengths"):
        A.run_lengths(make_config(A.ActivationsConfig, overrides=["run_lengths=10,400"]))


# -- which activations are trained: the registry, read at run time --------------------------------------------------
def test_hidden_activations_follow_a_rule_on_the_classes():
    names, skipped = A.hidden_activations()
    assert set(names) | set(skipped) == set(nn.ACTIVATIONS) and not set(names) & set(skipped)
    assert names == [n for n in nn.ACTIVATIONS if n in names]  # registry order
    assert "f′ = 0 everywhere" in skipped["binary_step"]
    assert "not elementwise" in skipped["softmax"] and "not elementwise" in skipped["log_softmax"]
    assert "same f and f′ as swish" in skipped["silu"]  # SiLU is Swish with β = 1: trained once
    for n in ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "selu", "gelu", "swish"):
        assert n in names


@pytest.fixture
def softsign():
    """A new activation, registered by being defined (as a user's would be), removed afterwards."""

    class Softsign(nn.Activation):
        """h = x / (1 + |x|)."""

        name = "test_lab_softsign"

        def f(self, x):
            return x / (1.0 + np.abs(x))

        def df(self, x, y):
            return 1.0 / (1.0 + np.abs(x)) ** 2

    try:
        yield Softsign.name
    finally:
        if Softsign.name in nn.ACTIVATIONS:
            nn.unregister_activation(Softsign.name)


def test_a_new_class_is_trainable_by_default_and_a_flat_one_is_not(softsign, tmp_path):
    class Flat(nn.Activation):
        name = "test_lab_flat"

        def f(self, x):
            return np.sign(x)

        def df(self, x, y):
            return np.zeros_like(x)

    class NeedsArgs(nn.Activation):
        name = "test_lab_needs_args"

        def __init__(self, k):
            super().__init__()
            self.k = k

    try:
        names, skipped = A.hidden_activations()
        assert softsign in names and softsign not in skipped
        assert "f′ = 0 everywhere" in skipped["test_lab_flat"]
        assert "default arguments" in skipped["test_lab_needs_args"]
        with pytest.raises(ConfigError, match="cannot be trained"):
            A.run(make_config(A.ActivationsConfig, overrides={"activations": ("relu", "test_lab_flat")}),
                  Context(tmp_path))
        fig = A.plot_functions()  # the atlas draws every registered class, the new ones too
        titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
        assert any(t.startswith(softsign) for t in titles)
        assert "test_lab_needs_args: needs arguments" in titles
    finally:
        for n in ("test_lab_flat", "test_lab_needs_args"):
            nn.unregister_activation(n)


def test_a_bad_config_is_rejected_before_the_run_starts():
    """make_config runs the config's validate(): the runner never opens a run for these."""
    with pytest.raises(ConfigError, match="sigmoid"):
        make_config(A.ActivationsConfig, overrides=["activations=relu,tanh"])
    with pytest.raises(ConfigError, match="binary_step cannot be trained"):
        make_config(A.ActivationsConfig, overrides=["activations=sigmoid,tanh,relu,binary_step"])
    with pytest.raises(ConfigError, match="unknown activation 'no_such_thing'"):
        make_config(A.ActivationsConfig, overrides=["activations=sigmoid,tanh,relu,no_such_thing"])
    with pytest.raises(ConfigError, match="ps must start with 0"):
        make_config(D.DropoutConfig, overrides=["ps=0.5,0.2"])
    with pytest.raises(ConfigError, match="mc_ks"):
        make_config(D.DropoutConfig, overrides=["mc_ks=10,100"])


def test_missing_fashion_mnist_is_a_clear_error(tmp_path, monkeypatch):
    def missing(*args, **kwargs):
        raise FileNotFoundError("no IDX files here")

    monkeypatch.setattr(data, "fashion_mnist", missing)
    for mod, cls in ((A, A.ActivationsConfig), (D, D.DropoutConfig)):
        with pytest.raises(RuntimeError, match="needs Fashion-MNIST"):
            mod.run(make_config(cls, quick=True), Context(tmp_path))


def test_plot_functions_draws_every_registered_activation_from_its_class():
    fig = A.plot_functions()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == len(nn.ACTIVATIONS)
    for ax, name in zip(axes, nn.ACTIVATIONS):
        assert ax.get_title().startswith(name)
        (z, f), (_, d) = (line.get_xydata().T for line in ax.get_lines()[-2:])
        act = nn.activation(name)
        if act.elementwise:
            np.testing.assert_allclose(f, act.f(z), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(d, act.df(z, act.f(z)), rtol=1e-12, atol=1e-12)
    tanh = axes[list(nn.ACTIVATIONS).index("tanh")]
    (z, f), (_, d) = (line.get_xydata().T for line in tanh.get_lines()[-2:])
    np.testing.assert_allclose(d, 1 - np.tanh(z) ** 2, atol=1e-12)  # the notes' ∂h/∂x = 1 − tanh²(x)
    softmax = axes[list(nn.ACTIVATIONS).index("softmax")]
    (z, f), _ = (line.get_xydata().T for line in softmax.get_lines()[-2:])
    np.testing.assert_allclose(f, 1 / (1 + np.exp(-z)), atol=1e-12)  # the notes: two-class softmax = σ(z)


# -- the verdict functions of claim 16, both ways, and the dropout helpers ------------------------------------------
def _drop_records(gap0, gap1, test0, test1, best0, best1, ws=None, mc1=None, mck=None, n=10000) -> dict:
    runs = []
    for p, gaps, tests, bests in ((0.0, gap0, test0, best0), (0.5, gap1, test1, best1)):
        runs += [{"p (drop)": p, "seed": s, "gap": g, "test accuracy": t, "best test accuracy": b}
                 for s, (g, t, b) in enumerate(zip(gaps, tests, bests))]
    ens = []
    for s, (a, b, c) in enumerate(zip(ws or [], mc1 or [], mck or [])):
        ens += [{"p (drop)": 0.5, "seed": s, "rule": "weight scaling", "k": None, "accuracy": a, "test images": n},
                {"p (drop)": 0.5, "seed": s, "rule": "MC arithmetic", "k": 1, "accuracy": b, "test images": n},
                {"p (drop)": 0.5, "seed": s, "rule": "MC arithmetic", "k": 100, "accuracy": c, "test images": n}]
    return {"each run": runs, "ensemble": ens}


def test_verdicts_16_hold_on_records_made_to_hold():
    r = _drop_records(gap0=[0.20, 0.21, 0.19], gap1=[0.15, 0.16, 0.15], test0=[0.79, 0.80, 0.795],
                      test1=[0.81, 0.815, 0.812], best0=[0.80, 0.805, 0.80], best1=[0.815, 0.82, 0.816],
                      ws=[0.81, 0.815, 0.812], mc1=[0.78, 0.785, 0.79], mck=[0.812, 0.813, 0.810])
    assert D.verdicts(r, 0.0, 0.5) == {k: True for k in ("16a", "16b", "16c", "16d", "16e", "16f", "16g")}


def test_verdicts_16_do_not_hold_on_records_made_not_to():
    # the gap widens, the test accuracy falls, the best epochs too; MC(k) 0.01 away with a band of 0.004;
    # k = 1 no worse than the full network
    r = _drop_records(gap0=[0.15, 0.16, 0.15], gap1=[0.20, 0.21, 0.19], test0=[0.81, 0.815, 0.812],
                      test1=[0.79, 0.80, 0.795], best0=[0.815, 0.82, 0.816], best1=[0.80, 0.805, 0.80],
                      ws=[0.81, 0.815, 0.812], mc1=[0.81, 0.82, 0.811], mck=[0.80, 0.805, 0.802])
    assert D.verdicts(r, 0.0, 0.5) == {k: False for k in ("16a", "16b", "16c", "16d", "16e", "16f", "16g")}
    # higher on average but not beyond the noise: 16a/16c/16d hold, 16b/16e do not
    r = _drop_records(gap0=[0.20, 0.15, 0.20], gap1=[0.15, 0.20, 0.15], test0=[0.80, 0.81, 0.80],
                      test1=[0.81, 0.80, 0.81], best0=[0.80, 0.81, 0.80], best1=[0.81, 0.80, 0.81])
    assert D.verdicts(r, 0.0, 0.5) == {"16a": True, "16b": False, "16c": True, "16d": True, "16e": False}


def test_binomial_se_and_best_epoch():
    assert D.binomial_se(0.8, 10000) == pytest.approx(0.004)
    assert D.best_epoch([0, 2, 4, 6], [0.5, 0.7, 0.7, 0.6]) == (2, 0.7)  # the first peak
    s = D.prediction_scores(np.array([[0.9, 0.1], [0.4, 0.6]]), np.array([0, 0]))
    assert s["accuracy"] == 0.5 and s["nll"] == pytest.approx(-(math.log(0.9) + math.log(0.4)) / 2)


def test_dropout_mlp_shares_weights_across_p():
    a = D.dropout_mlp(16, 0.0, np.random.default_rng(3))
    b = D.dropout_mlp(16, 0.5, np.random.default_rng(3))
    assert not any(isinstance(m, nn.Dropout) for m in a)
    assert [m.p for m in b if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)  # the paired design: only the dropout differs
    x = np.random.default_rng(0).random((4, 784), dtype=np.float32)
    b.eval()
    np.testing.assert_allclose(b(Tensor(x)).data, a(Tensor(x)).data, rtol=1e-6)  # eval mode: the identity


# -- the quick runs: stored verdicts recomputed from stored records ------------------------------------------------
@pytest.fixture(scope="module")
def act_run(fashion_available, store, tmp_path_factory):
    # 6 activations × 2 seeds; the CPU time per step is a measurement of the machine (reported, never judged)
    r = assert_arms_independent("activations", store, tmp_path_factory, min_items=12,
                                volatile=("CPU ms / step (median)", "CPU ms / step (mean)"))[1]
    return r.outcome, r.claims, r.out, r.stored


@pytest.fixture(scope="module")
def drop_run(fashion_available, store, tmp_path_factory):
    r = assert_arms_independent("dropout", store, tmp_path_factory, min_items=4)[1]  # 2 drop probabilities × 2 seeds
    return r.outcome, r.claims, r.out, r.stored


def test_activations_quick_stored_verdicts_follow_the_stored_records(act_run, store):
    outcome, claims, out, stored = act_run
    cfg, records = stored["config"], stored["records"]
    lengths = A.run_lengths(make_config(A.ActivationsConfig, quick=True))
    expected_ids = {"15a", "15b", "15d", "15e"} | {f"15c-{s}@{n}" for s in ("tanh", "sigmoid") for n in lengths}
    assert set(claims) == expected_ids
    recomputed = A.verdicts(records, cfg["relu_family"])
    assert recomputed == {c["id"]: c["holds"] for c in stored["claims"]}
    # the records against the store's loss curves: the loss after N steps, and every "much faster" row
    names, S, tail = cfg["activations"], cfg["seeds"], cfg["tail"]
    runs = records["each run"]
    assert sorted({r["activation"] for r in runs}) == sorted(names) and len(runs) == len(names) * S
    curves = {(n, s): store.metrics(outcome.run_id, f"{n} seed {s}/loss").values for n in names for s in range(S)}
    for r in runs:
        c = curves[r["activation"], r["seed"]]
        assert len(c) == cfg["iterations"]
        assert r["loss"] == pytest.approx(float(np.mean(c[-tail:])), rel=1e-9)
        assert r["mean loss over the run"] == pytest.approx(float(np.mean(c)), rel=1e-9)
    mean = {n: np.mean([curves[n, s] for s in range(S)], axis=0) for n in names}
    for row in records["much faster"]:
        m = stats.much_faster(mean[row["fast"]][:row["steps"]], mean[row["slow"]][:row["steps"]], window=tail)
        assert (row["steps_fast"], row["steps_slow"], row["holds"]) == (m["steps_fast"], m["steps_slow"], m["holds"])
        assert row["ratio"] == pytest.approx(m["ratio"]) and row["level"] == pytest.approx(m["level"])
    for row in records["much faster"]:
        if row["claim"]:
            assert f"ratio (steps_slow + 1)/(steps_fast + 1) = {row['ratio']:.2f}" in claims[row["claim"]].measured
    # the per-activation table reads the classes' traits
    for r in records["each activation (mean over seeds)"]:
        cls = nn.ACTIVATIONS[r["activation"]]
        assert r["CPU ms / step (median)"] > 0
        assert (r["dead (l1 / l2)"] != "—") == cls.can_die
        assert (r["saturated (l1 / l2)"] != "—") == (cls.saturates is not None)
    trained = {r["activation"] for r in records["the registry (atlas)"] if r["trained"]}
    assert trained == set(names) and {r["activation"] for r in records["the registry (atlas)"]} == set(nn.ACTIVATIONS)
    assert {f["name"] for f in stored["figures"]} == {"loss", "final", "lead", "faster", "functions"}
    for f in stored["figures"]:
        assert (out / f["file"]).stat().st_size > 5000


def test_activations_quick_row_remeasured_by_hand(act_run):
    """Sigmoid, seed 0, re-trained with a hand-written loop (same weights, same batches): the same loss."""
    outcome, _, _, stored = act_run
    cfg = stored["config"]
    (x, y), _ = data.fashion_mnist()
    rng = Context(outcome.out_dir, seed=0).rng_for("weights", 0)  # the lab's seeding convention
    w = cfg["width"]
    model = nn.Sequential(nn.Linear(784, w, init="xavier_normal", rng=rng), nn.Sigmoid(),
                          nn.Linear(w, w, init="xavier_normal", rng=rng), nn.Sigmoid(),
                          nn.Linear(w, 10, init="xavier_normal", rng=rng))
    opt, loss_fn, bs = optim.SGD(model.parameters(), lr=cfg["lr"]), nn.CrossEntropyLoss(), cfg["batch_size"]
    order = data.DataLoader(data.TensorDataset(x, y), batch_size=bs, shuffle=True, seed=0).order(0)
    assert cfg["iterations"] * bs <= len(x)
    losses = []
    for i in range(cfg["iterations"]):
        idx = order[i * bs:(i + 1) * bs]
        loss = loss_fn(model(Tensor(x[idx])), Tensor(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    expected = float(np.mean(losses[-cfg["tail"]:]))
    row = next(r for r in stored["records"]["each run"] if r["activation"] == "sigmoid" and r["seed"] == 0)
    assert row["loss"] == pytest.approx(expected, rel=1e-6)
    assert row["mean loss over the run"] == pytest.approx(float(np.mean(losses)), rel=1e-6)


def test_a_new_activation_class_is_trained_and_drawn_with_nothing_else_edited(fashion_available, softsign, store,
                                                                              tmp_path_factory):
    """What the lead's registry test does: a class defined here, named in the quick run's activations."""
    assert softsign in A.hidden_activations()[0]  # the default (activations=()) would train it too
    overrides = {"activations": (*A.QUICK_ACTIVATIONS, softsign), "iterations": 60, "tail": 20, "width": 32,
                 "n_eval": 200, "seeds": 1}
    outcome, claims, out, stored = _quick("activations", store, tmp_path_factory, overrides)
    records = stored["records"]
    assert {r["activation"] for r in records["each run"]} == {*A.QUICK_ACTIVATIONS, softsign}
    row = next(r for r in records["the registry (atlas)"] if r["activation"] == softsign)
    assert row["trained"] and row["init"] == "xavier" and row["class"] == "Softsign"
    assert "functions" in {f["name"] for f in stored["figures"]}
    assert (out / "functions.png").read_bytes().startswith(PNG)
    assert A.verdicts(records, stored["config"]["relu_family"]) == {c["id"]: c["holds"] for c in stored["claims"]}


def test_dropout_quick_stored_verdicts_follow_the_stored_records(drop_run):
    outcome, claims, out, stored = drop_run
    cfg, records = stored["config"], stored["records"]
    assert sorted(claims) == ["16a", "16b", "16c", "16d", "16e", "16f", "16g"]
    p0, p1, S = cfg["ps"][0], cfg["ps"][-1], cfg["seeds"]
    assert D.verdicts(records, p0, p1) == {c["id"]: c["holds"] for c in stored["claims"]}
    by = {(r["p (drop)"], r["seed"]): r for r in records["each run"]}
    assert len(by) == len(cfg["ps"]) * S
    for r in records["each run"]:
        assert r["gap"] == pytest.approx(r["train accuracy"] - r["test accuracy"])
        assert 0.0 <= r["test accuracy"] <= r["best test accuracy"] <= 1.0
        assert r["early-stopped test accuracy"] <= r["best test accuracy"]
        assert r["best epoch"] % cfg["eval_every"] == 0 or r["best epoch"] == cfg["epochs"]
    ens = records["ensemble"]
    assert {r["k"] for r in ens if r["rule"] != "weight scaling"} == set(cfg["mc_ks"])
    for s in range(S):
        ws = next(r for r in ens if r["seed"] == s and r["rule"] == "weight scaling")
        # the weight-scaling rule is the eval-mode forward: the final test accuracy of the run (up to a flip or two
        # of float32 rounding between batch sizes)
        assert ws["accuracy"] == pytest.approx(by[p1, s]["test accuracy"], abs=2.5 / ws["test images"])
        assert ws["test images"] == cfg["n_test"]
    assert {f["name"] for f in stored["figures"]} == {"accuracy", "gap", "ensemble"}
    for f in stored["figures"]:
        assert (out / f["file"]).stat().st_size > 5000
