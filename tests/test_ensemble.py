"""layerlab.ensemble: bagging (bootstrap samples, out-of-bag sets, the combination rules on hand-made member
probabilities) and dropout as an ensemble (weight scaling, Monte-Carlo averaging against hand computations)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab import Trainer, nn, optim
from layerlab.ensemble import (Bagging, DropoutEnsemble, bootstrap_sample, combine_predictions,
                               combine_probabilities, softmax_probabilities)
from layerlab.tensor import Tensor
from layerlab.train import Callback


def _blobs(n=60, d=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    centres = rng.normal(0, 3, (classes, d))
    x = (centres[y] + rng.normal(0, 1, (n, d))).astype(np.float32)
    return x, y


def _make(rng, d=4, classes=3):
    return nn.Sequential(nn.Linear(d, 8, rng=rng), nn.ReLU(), nn.Linear(8, classes, rng=rng))


def _sgd(params):
    return optim.SGD(params, lr=0.05)


class _SeenIds(Callback):
    """The example ids (column 0 of x) of every batch, per epoch."""

    def __init__(self):
        self.epochs = []

    def on_epoch_start(self, trainer, epoch):
        self.epochs.append([])

    def on_batch_start(self, trainer, step, batch):
        self.epochs[-1].extend(np.asarray(batch[0])[:, 0].astype(int).tolist())


# -- bagging: the bootstrap samples and the out-of-bag sets ---------------------------------------------------------
def test_oob_indices_are_exactly_the_examples_not_drawn():
    x, y = _blobs()
    bag = Bagging(_make, 5, seed=3).fit(x, y, optimizer=_sgd, epochs=1, batch_size=16)
    n = len(x)
    for idx, oob in zip(bag.bootstrap_indices, bag.oob_indices):
        assert len(idx) == n and idx.min() >= 0 and idx.max() < n  # n draws from the n examples
        assert set(oob.tolist()) == set(range(n)) - set(idx.tolist())
        assert np.all(np.diff(oob) > 0)  # sorted, no repeats
        assert len(np.unique(idx)) < n  # with replacement: some examples drawn twice (chance (n!/nⁿ) ≈ 1e-25 not)
        # as many draws repeat an earlier one as there are examples left out
        assert n - len(np.unique(idx)) == len(oob)
    assert not all(np.array_equal(bag.bootstrap_indices[0], b) for b in bag.bootstrap_indices[1:])


def test_oob_accuracy_is_each_members_accuracy_on_its_left_out_examples():
    x, y = _blobs()
    bag = Bagging(_make, 3, seed=1).fit(x, y, optimizer=_sgd, epochs=3, batch_size=16)
    for m, oob, acc in zip(bag.members, bag.oob_indices, bag.oob_accuracy):
        m.eval()
        pred = m(Tensor(x[oob])).data.argmax(1)
        assert acc == pytest.approx(float(np.mean(pred == y[oob])))


def test_bootstrap_sample_is_fixed_across_epochs_and_differs_between_members():
    x, y = _blobs(n=40)
    x = np.concatenate([np.arange(len(x), dtype=np.float32)[:, None], x[:, 1:]], axis=1)  # column 0 = the id
    seen = {}

    def trainer(model, loss_fn, opt, member, seed):
        seen[member] = _SeenIds()
        return Trainer(model, loss_fn, opt, seed=seed, progress=False, callbacks=[seen[member]])

    bag = Bagging(_make, 3, seed=0).fit(x, y, optimizer=_sgd, epochs=3, batch_size=7, trainer=trainer)
    for i, idx in enumerate(bag.bootstrap_indices):
        epochs = seen[i].epochs
        assert len(epochs) == 3
        for ids in epochs:  # every epoch: exactly the member's n draws (the same multiset), only reshuffled
            assert sorted(ids) == sorted(idx.tolist())
        assert epochs[0] != epochs[1]  # reshuffled between epochs
    assert sorted(seen[0].epochs[0]) != sorted(seen[1].epochs[0])


def test_bootstrap_sample_draws_n_with_replacement():
    idx = bootstrap_sample(1000, np.random.default_rng(0))
    assert idx.shape == (1000,) and idx.dtype == np.int64 and len(np.unique(idx)) < 1000
    np.testing.assert_array_equal(idx, np.random.default_rng(0).integers(0, 1000, size=1000))


def test_members_start_from_different_seeded_weights():
    a, b = Bagging(_make, 3, seed=7), Bagging(_make, 3, seed=7)
    w = [m[0].weight.data for m in a.members]
    assert not np.array_equal(w[0], w[1]) and not np.array_equal(w[1], w[2])
    for ma, mb in zip(a.members, b.members):
        np.testing.assert_array_equal(ma[0].weight.data, mb[0].weight.data)


def test_same_seed_gives_a_bit_identical_ensemble_and_another_seed_does_not():
    x, y = _blobs()

    def make(rng):  # with dropout: the masks must be reproducible too
        return nn.Sequential(nn.Linear(4, 8, rng=rng), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3, rng=rng))

    fit = dict(optimizer=_sgd, epochs=2, batch_size=8)
    a = Bagging(make, 3, seed=5).fit(x, y, **fit)
    b = Bagging(make, 3, seed=5).fit(x, y, **fit)
    c = Bagging(make, 3, seed=6).fit(x, y, **fit)
    for ia, ib in zip(a.bootstrap_indices, b.bootstrap_indices):
        np.testing.assert_array_equal(ia, ib)
    for ma, mb in zip(a.members, b.members):
        for (_, pa), (_, pb) in zip(ma.named_parameters(), mb.named_parameters()):
            np.testing.assert_array_equal(pa.data, pb.data)
    assert [h.loss for h in a.histories] == [h.loss for h in b.histories]
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    assert not np.array_equal(a.bootstrap_indices[0], c.bootstrap_indices[0])
    assert not np.array_equal(a.predict_proba(x), c.predict_proba(x))


def test_predict_combines_the_members_probabilities():
    x, y = _blobs()
    bag = Bagging(_make, 4, combine="geometric", seed=2).fit(x, y, optimizer=_sgd, epochs=2, batch_size=16)
    probs = bag.member_proba(x)
    assert probs.shape == (4, len(x), 3) and probs.dtype == np.float64
    for m, p in zip(bag.members, probs):
        np.testing.assert_allclose(p, softmax_probabilities(m(Tensor(x)).data), rtol=1e-6)
    np.testing.assert_allclose(bag.predict_proba(x), combine_probabilities(probs, "geometric"))
    for rule in ("mean", "max", "vote"):
        np.testing.assert_array_equal(bag.predict(x, combine=rule), combine_predictions(probs, rule))
    assert bag.member_proba(x, n_members=2).shape == (2, len(x), 3)
    assert all(m.training for m in bag.members)  # predicting does not leave the members in eval mode


# -- the combination rules on hand-made member probabilities --------------------------------------------------------
P = np.array([[[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]],     # member 1: example 1, example 2
              [[0.4, 0.5, 0.1], [0.2, 0.5, 0.3]],     # member 2
              [[0.4, 0.4, 0.2], [0.25, 0.5, 0.25]]])  # member 3


def test_mean_rule():
    np.testing.assert_allclose(combine_probabilities(P, "mean"),
                               [[0.5, 1.1 / 3, 0.4 / 3], [0.55 / 3, 1.3 / 3, 1.15 / 3]])
    np.testing.assert_array_equal(combine_predictions(P, "mean"), [0, 1])


def test_geometric_rule():
    g1 = np.array([0.7 * 0.4 * 0.4, 0.2 * 0.5 * 0.4, 0.1 * 0.1 * 0.2]) ** (1 / 3)
    g2 = np.array([0.1 * 0.2 * 0.25, 0.3 * 0.5 * 0.5, 0.6 * 0.3 * 0.25]) ** (1 / 3)
    np.testing.assert_allclose(combine_probabilities(P, "geometric"), [g1 / g1.sum(), g2 / g2.sum()], rtol=1e-12)
    np.testing.assert_array_equal(combine_predictions(P, "geometric"), [0, 1])
    # a member that gives a class exactly 0 vetoes it (floored at 1e-300, not a NaN)
    z = combine_probabilities(np.array([[[1.0, 0.0]], [[0.5, 0.5]]]), "geometric")
    np.testing.assert_allclose(z, [[1.0, 0.0]], atol=1e-100)


def test_max_rule():
    m1, m2 = np.array([0.7, 0.5, 0.2]), np.array([0.25, 0.5, 0.6])
    np.testing.assert_allclose(combine_probabilities(P, "max"), [m1 / 1.4, m2 / 1.35])
    np.testing.assert_array_equal(combine_predictions(P, "max"), [0, 2])


def test_vote_rule_and_its_tie_break():
    # example 1: argmaxes 0, 1, 0 (member 3's tie 0.4/0.4 → the first class) → class 0 by 2 votes to 1
    # example 2: argmaxes 2, 1, 1 → class 1
    np.testing.assert_allclose(combine_probabilities(P, "vote"), [[2 / 3, 1 / 3, 0], [0, 2 / 3, 1 / 3]])
    np.testing.assert_array_equal(combine_predictions(P, "vote"), [0, 1])
    # a tie of votes (1 : 1) goes to the class of higher mean probability, though it comes second
    t = np.array([[[0.55, 0.45, 0.0]], [[0.0, 0.9, 0.1]]])
    np.testing.assert_allclose(combine_probabilities(t, "vote"), [[0.5, 0.5, 0.0]])
    np.testing.assert_array_equal(combine_predictions(t, "vote"), [1])
    t2 = np.array([[[0.9, 0.1, 0.0]], [[0.0, 0.6, 0.4]]])  # the same tie, the mean now favours class 0
    np.testing.assert_array_equal(combine_predictions(t2, "vote"), [0])


def test_one_member_is_its_own_ensemble():
    one = P[:1]
    for rule in ("mean", "geometric", "max"):
        np.testing.assert_allclose(combine_probabilities(one, rule), P[0], rtol=1e-12)
    np.testing.assert_array_equal(combine_predictions(one, "vote"), P[0].argmax(1))


# -- bad input ------------------------------------------------------------------------------------------------------
def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="n_models must be an int ≥ 1"):
        Bagging(_make, 0)
    with pytest.raises(ValueError, match="combine must be one of 'mean', 'geometric', 'max', 'vote'.*'median'"):
        Bagging(_make, 2, combine="median")
    with pytest.raises(ValueError, match="combine must be one of"):
        combine_probabilities(P, "median")
    with pytest.raises(ValueError, match="shape \\(members, examples, classes\\)"):
        combine_probabilities(P[0], "mean")
    with pytest.raises(TypeError, match="make_model"):
        Bagging(None, 2)
    with pytest.raises(TypeError, match="nn.Module"):
        Bagging(lambda rng: "not a model", 2)
    x, y = _blobs()
    bag = Bagging(_make, 2)
    with pytest.raises(RuntimeError, match="not fitted"):
        bag.predict(x)
    with pytest.raises(ValueError, match="x of shape \\(60, 5\\) does not fit"):  # before any training
        bag.fit(np.ones((60, 5), np.float32), y, optimizer=_sgd, epochs=1)
    assert bag.histories == []
    with pytest.raises(ValueError, match="x has 60 examples but y has 59"):
        bag.fit(x, y[:-1], optimizer=_sgd, epochs=1)
    with pytest.raises(TypeError, match="optimizer must be a callable"):
        bag.fit(x, y, optimizer=None, epochs=1)
    bag.fit(x, y, optimizer=_sgd, epochs=1)
    with pytest.raises(ValueError, match="x must have shape \\(n, 4\\).*got \\(3, 5\\)"):
        bag.predict(np.ones((3, 5), np.float32))
    with pytest.raises(ValueError, match="combine must be one of"):
        bag.predict(x, combine="median")


# -- dropout as an ensemble -----------------------------------------------------------------------------------------
def _drop_net(rng, d=6, h=10, c=4, p=0.5):
    return nn.Sequential(nn.Linear(d, h, rng=rng), nn.ReLU(), nn.Dropout(p, rng=1), nn.Linear(h, h, rng=rng),
                         nn.ReLU(), nn.Dropout(p, rng=2), nn.Linear(h, c, rng=rng))


def test_weight_scaling_is_the_eval_forward():
    model = _drop_net(np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(9, 6)).astype(np.float32)
    ws = DropoutEnsemble(model).weight_scaling_proba(x)
    model.eval()
    np.testing.assert_allclose(ws, softmax_probabilities(model(Tensor(x)).data), rtol=1e-12)
    np.testing.assert_array_equal(DropoutEnsemble(model).predict(x), ws.argmax(1))
    model.train()
    np.testing.assert_array_equal(DropoutEnsemble(model).predict_proba(x), ws)  # k=None: weight scaling


def test_mc_arithmetic_mean_matches_a_hand_computation_with_the_same_masks():
    rng = np.random.default_rng(3)
    model = _drop_net(rng)
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    out = DropoutEnsemble(model).mc_proba(x, [1, 3], rng=7)
    # by hand: the masks from default_rng(7).spawn(2) (one stream per Dropout), μ = [u ≥ p]/(1 − p)
    W = [(m.weight.data.astype(np.float64), m.bias.data.astype(np.float64)) for m in model if isinstance(m, nn.Linear)]
    streams = np.random.default_rng(7).spawn(2)
    probs = []
    for _ in range(3):
        h = np.maximum(x @ W[0][0].T + W[0][1], 0)
        h = h * (streams[0].random(h.shape, dtype=np.float32) >= 0.5) / 0.5
        h = np.maximum(h @ W[1][0].T + W[1][1], 0)
        h = h * (streams[1].random(h.shape, dtype=np.float32) >= 0.5) / 0.5
        z = h @ W[2][0].T + W[2][1]
        e = np.exp(z - z.max(1, keepdims=True))
        probs.append(e / e.sum(1, keepdims=True))
    np.testing.assert_allclose(out[1]["arithmetic"], probs[0], rtol=1e-5)
    np.testing.assert_allclose(out[1]["geometric"], probs[0], rtol=1e-5)
    np.testing.assert_allclose(out[3]["arithmetic"], np.mean(probs, axis=0), rtol=1e-5)
    geo = np.prod(probs, axis=0) ** (1 / 3)
    np.testing.assert_allclose(out[3]["geometric"], geo / geo.sum(1, keepdims=True), rtol=1e-5)
    assert not np.allclose(probs[0], probs[1])  # the sub-networks differ
    # a Generator gives the same masks as its seed; predict_proba is mc_proba's entry for one k
    g = DropoutEnsemble(model).mc_proba(x, [3], rng=np.random.default_rng(7))
    np.testing.assert_array_equal(g[3]["arithmetic"], out[3]["arithmetic"])
    np.testing.assert_array_equal(DropoutEnsemble(model).predict_proba(x, k=3, mean="geometric", rng=7),
                                  out[3]["geometric"])


def test_mc_approaches_weight_scaling_on_a_linear_net():
    # no nonlinearity: the logits are linear in each mask and the masks are independent with E[μ] = 1, so
    # E[logits] = the eval-mode logits, and the renormalised geometric mean of the softmax outputs — the softmax
    # of the mean logits — tends to the weight-scaling prediction as k grows (the law of large numbers)
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Dropout(0.5, rng=0), nn.Linear(6, 8, rng=rng), nn.Dropout(0.5, rng=0),
                          nn.Linear(8, 3, rng=rng))
    x = np.random.default_rng(1).normal(size=(20, 6)).astype(np.float32)
    de = DropoutEnsemble(model)
    ws = de.weight_scaling_proba(x)
    out = de.mc_proba(x, [10, 100, 1000, 10000], rng=4)
    err = {k: float(np.abs(v["geometric"] - ws).max()) for k, v in out.items()}
    assert err[10000] < 0.02 and err[10000] < err[100] / 3 and err[1000] < err[10]
    # the arithmetic mean converges too, but to E[softmax], which differs from softmax(E[logits]) (Jensen)
    assert float(np.abs(out[10000]["arithmetic"] - out[10000]["geometric"]).max()) > 0.01


def test_mc_restores_modes_and_leaves_the_models_mask_streams_alone():
    model = _drop_net(np.random.default_rng(0))
    model.eval()
    model[2].train()  # a mixed state: everything in eval mode but the first Dropout
    gens = [m.rng for m in model if isinstance(m, nn.Dropout)]
    states = [g.bit_generator.state for g in gens]
    modes = [m.training for m in model.modules()]
    x = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    de = DropoutEnsemble(model)
    de.mc_proba(x, [1, 5], rng=0)
    de.weight_scaling_proba(x)
    assert [m.training for m in model.modules()] == modes
    assert [m.rng for m in model if isinstance(m, nn.Dropout)] == gens  # the same objects
    assert [g.bit_generator.state for g in gens] == states  # not advanced
    # and the same seed gives the same masks whatever the model's own streams did meanwhile
    a = de.mc_proba(x, [5], rng=0)[5]["arithmetic"]
    model.train()
    model(Tensor(x))  # advances the model's own streams
    np.testing.assert_array_equal(de.mc_proba(x, [5], rng=0)[5]["arithmetic"], a)


def test_dropout_ensemble_refuses_bad_input():
    model = _drop_net(np.random.default_rng(0))
    de = DropoutEnsemble(model)
    with pytest.raises(ValueError, match="Linear\\(6, 10\\): x must have 6 features.*\\(4, 7\\)"):
        de.mc_proba(np.ones((4, 7), np.float32), [1])
    with pytest.raises(ValueError, match="every k must be ≥ 1"):
        de.mc_proba(np.ones((4, 6), np.float32), [0, 5])
    with pytest.raises(ValueError, match="mean must be 'arithmetic' or 'geometric'"):
        de.predict_proba(np.ones((4, 6), np.float32), k=3, mean="harmonic")
    with pytest.raises(ValueError, match="k \\(the number of sampled sub-networks\\) must be an int ≥ 1"):
        de.predict_proba(np.ones((4, 6), np.float32), k=0)
    plain = nn.Sequential(nn.Linear(6, 3, rng=np.random.default_rng(0)))
    with pytest.raises(ValueError, match="no Dropout module"):
        DropoutEnsemble(plain).mc_proba(np.ones((4, 6), np.float32), [1])
    with pytest.raises(TypeError, match="nn.Module"):
        DropoutEnsemble("model")
    assert math.isclose(DropoutEnsemble(plain).weight_scaling_proba(np.ones((2, 6), np.float32)).sum(), 2.0)
