"""layerlab.pretrain: greedy layer-wise pre-training (autoencoder, denoising, RBM with CD-k)."""

from __future__ import annotations

import numpy as np
import pytest

import layerlab as ll
from layerlab import data, nn, optim
from layerlab import pretrain as P
from layerlab.tensor import Tensor


def _data(m=400, width=20, dtype=np.float32, seed=0):
    """Inputs in [0, 1] with structure (a few latent factors through a sigmoid): reconstructible."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((m, 4))
    a = rng.standard_normal((4, width)) * 1.5
    return (1 / (1 + np.exp(-(z @ a)))).astype(dtype)


def _model(act="sigmoid", widths=(20, 12, 8, 3), dtype=np.float32, seed=1):
    rng = np.random.default_rng(seed)
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b, rng=rng, dtype=dtype))
        if i < len(widths) - 2 and act is not None:
            layers.append(nn.activation(act))
    return nn.Sequential(*layers)


def _weights(model):
    return [p.data.copy() for p in model.parameters()]


# -- every method lowers every layer's reconstruction error ------------------------------------------------------
@pytest.mark.parametrize("method,tied", [("autoencoder", False), ("autoencoder", True), ("denoising", False),
                                         ("rbm", False)])
def test_each_layer_error_falls_over_its_epochs(method, tied):
    model = _model()
    reps = P.greedy_layerwise(model, _data(), method=method, epochs=8, batch_size=32, tied=tied, progress=False,
                              lr=0.05 if method != "rbm" else 0.1)
    assert [r.index for r in reps] == [0, 2]           # the two hidden Linears, not the output layer
    for r in reps:
        assert len(r.errors) == 9 and len(r.batch_losses) == 8 and r.method == method
        assert np.isfinite(r.errors).all()
        assert r.errors[-1] < 0.8 * r.errors[0], (r.name, r.errors)


@pytest.mark.parametrize("act", sorted(nn.ACTIVATIONS))
def test_every_registered_activation_runs(act):
    model = _model(act=act)
    reps = P.greedy_layerwise(model, _data(m=64), epochs=1, batch_size=32, progress=False)
    assert len(reps) == 2 and all(np.isfinite(r.errors).all() for r in reps)
    assert reps[0].activation == type(nn.activation(act)).__name__


def test_same_seed_bit_identical_and_output_layer_untouched():
    outs = []
    for _ in range(2):
        model = _model()
        before = model[4].weight.data.copy()
        P.greedy_layerwise(model, _data(), method="denoising", epochs=2, seed=7, progress=False)
        assert np.array_equal(model[4].weight.data, before)
        outs.append(_weights(model))
    assert all(np.array_equal(a, b) for a, b in zip(*outs))
    other = _model()
    P.greedy_layerwise(other, _data(), method="denoising", epochs=2, seed=8, progress=False)
    assert not np.array_equal(other[0].weight.data, outs[0][0])


# -- the RBM's CD-1 update, by hand -----------------------------------------------------------------------------
def test_cd1_update_of_a_2x2_rbm_equals_the_hand_computed_case():
    W = np.array([[0.5, -1.0], [0.25, 0.75]])     # (hidden, visible)
    b = np.array([0.1, -0.2])                      # hidden bias
    c = np.array([-0.3, 0.4])                      # visible bias
    v0 = np.array([[1.0, 0.0], [0.0, 1.0]])
    sig = lambda a: 1 / (1 + np.exp(-a))           # noqa: E731
    u = np.random.default_rng(3).random((2, 2))    # the one draw CD-1 makes: the hidden sample
    # by hand, example 1 (v = (1, 0)) and example 2 (v = (0, 1))
    p0 = np.array([[sig(0.5 + 0.1), sig(0.25 - 0.2)],
                   [sig(-1.0 + 0.1), sig(0.75 - 0.2)]])
    h0 = (u < p0).astype(float)
    v1 = np.array([[sig(h[0] * 0.5 + h[1] * 0.25 - 0.3), sig(h[0] * -1.0 + h[1] * 0.75 + 0.4)] for h in h0])
    p1 = np.array([[sig(v[0] * 0.5 + v[1] * -1.0 + 0.1), sig(v[0] * 0.25 + v[1] * 0.75 - 0.2)] for v in v1])
    dW = np.zeros((2, 2))
    for n in range(2):
        for j in range(2):
            for i in range(2):
                dW[j, i] += (p0[n, j] * v0[n, i] - p1[n, j] * v1[n, i]) / 2
    g = P.cd_k_update(W, b, c, v0, 1, np.random.default_rng(3))
    np.testing.assert_allclose(g["dW"], dW, rtol=1e-12)
    np.testing.assert_allclose(g["db"], (p0 - p1).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(g["dc"], (v0 - v1).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(g["v_k"], v1, rtol=1e-12)


def test_rbm_sets_the_layer_weight_and_bias_from_cd():
    model = _model()
    X = _data()
    w0 = model[0].weight.data.copy()
    P.greedy_layerwise(model, X, method="rbm", epochs=1, batch_size=len(X), lr=0.1, seed=5, progress=False)
    # one full-batch CD-1 step from the layer's own init, replayed: the same draws in the same order
    root = np.random.SeedSequence(5).spawn(2)[0]
    rng = np.random.default_rng(root)
    order = rng.permutation(len(X))
    pbar = np.clip(X.mean(axis=0, dtype=np.float64), 1e-3, 1 - 1e-3)
    c = np.log(pbar / (1 - pbar)).astype(np.float32)
    g = P.cd_k_update(w0, np.zeros(12, np.float32), c, X[order], 1, rng)
    np.testing.assert_allclose(model[0].weight.data, w0 + np.float32(0.1) * g["dW"], rtol=1e-6)
    np.testing.assert_allclose(model[0].bias.data, np.float32(0.1) * g["db"], rtol=1e-6, atol=1e-8)


# -- tied weights: one parameter, two uses, summed gradient ------------------------------------------------------
def test_tied_autoencoder_loss_gradcheck_float64():
    rng = np.random.default_rng(0)
    x = Tensor(rng.random((5, 4)))
    W = Tensor(rng.standard_normal((3, 4)) * 0.5, requires_grad=True)
    b = Tensor(rng.standard_normal(3) * 0.1, requires_grad=True)
    c = Tensor(rng.standard_normal(4) * 0.1, requires_grad=True)
    assert ll.gradcheck(lambda W, b, c: P.autoencoder_loss(x, x, W, b, None, c, nn.Sigmoid()), W, b, c,
                        names=["W", "b", "c"])


def test_tied_gradient_is_the_sum_of_encoder_and_decoder_uses_and_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.random((6, 5))
    W0, b0, c0 = rng.standard_normal((3, 5)), rng.standard_normal(3), rng.standard_normal(5)
    W = Tensor(W0.copy(), requires_grad=True)
    loss = P.autoencoder_loss(Tensor(x), Tensor(x), W, Tensor(b0), None, Tensor(c0), nn.Tanh())
    loss.backward()
    # untied with W* = Wᵀ as a separate copy: the tied gradient is the encoder's plus the decoder's transposed
    We, Wd = Tensor(W0.copy(), requires_grad=True), Tensor(W0.T.copy(), requires_grad=True)
    P.autoencoder_loss(Tensor(x), Tensor(x), We, Tensor(b0), Wd, Tensor(c0), nn.Tanh()).backward()
    np.testing.assert_allclose(W.grad, We.grad + Wd.grad.T, rtol=1e-12)
    tw = torch.tensor(W0, requires_grad=True)
    tx = torch.tensor(x)
    tl = ((torch.tanh(tx @ tw.T + torch.tensor(b0)) @ tw + torch.tensor(c0) - tx) ** 2).sum() / 6
    tl.backward()
    assert float(loss.data) == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(W.grad, tw.grad.numpy(), rtol=1e-10)


# -- denoising ------------------------------------------------------------------------------------------------
def test_masking_noise_corrupts_the_fraction_asked():
    x = np.full((400, 500), 0.7, dtype=np.float32)
    for noise in (0.1, 0.3, 0.5):
        xt = P.masking_noise(x, noise, np.random.default_rng(0))
        assert xt.dtype == np.float32
        zero = xt == 0
        assert np.array_equal(xt[~zero], x[~zero])           # the others untouched
        se = np.sqrt(noise * (1 - noise) / x.size)
        assert abs(zero.mean() - noise) < 4 * se
        assert abs(zero.mean(axis=1).mean() - noise) < 4 * se  # per example too (no row is spared)
    assert np.array_equal(P.masking_noise(x, 0.3, np.random.default_rng(0)),
                          P.masking_noise(x, 0.3, np.random.default_rng(0)))


def test_denoising_reconstructs_the_clean_input():
    """Redundant inputs (each latent feature copied 4 times): a denoising autoencoder fills in the masked copies,
    so its error against the clean input ends far below the error of the corrupted input itself."""
    rng = np.random.default_rng(0)
    z = rng.random((600, 6))
    X = np.repeat(z, 4, axis=1).astype(np.float64)
    model = nn.Sequential(nn.Linear(24, 12, rng=rng, dtype=np.float64), nn.Linear(12, 2, rng=rng, dtype=np.float64))
    (rep,) = P.greedy_layerwise(model, X, method="denoising", noise=0.3, epochs=40, batch_size=32, lr=0.01,
                                progress=False, keep_decoders=True)
    corrupted_error = 0.3 * float((X ** 2).sum(axis=1).mean())     # E‖x̃ − x‖² of the masking noise itself
    assert rep.errors[-1] < 0.3 * corrupted_error, (rep.errors[-1], corrupted_error)
    # the decoder kept for inspection reconstructs the clean input from a fresh corruption
    xt = P.masking_noise(X, 0.3, np.random.default_rng(9))
    xhat = (xt @ model[0].weight.data.T + model[0].bias.data) @ rep.decoder["weight"].T + rep.decoder["bias"]
    assert ((xhat - X) ** 2).sum(axis=1).mean() < 0.3 * corrupted_error


# -- bad input: refused before any training -----------------------------------------------------------------------
@pytest.mark.parametrize("case,exc,match", [
    ("no hidden", ValueError, "no Linear to pre-train"),
    ("not sequential", TypeError, "nn.Sequential"),
    ("width", ValueError, r"shape \(m, 20\)"),
    ("nan", ValueError, "non-finite"),
    ("inf", ValueError, "non-finite"),
    ("method", ValueError, "method must be one of"),
    ("rbm relu", ValueError, "RBM needs sigmoid hidden units"),
    ("rbm range", ValueError, r"in \[0, 1\]"),
    ("mixed dtype", TypeError, "mixes parameter dtypes"),
    ("x dtype", TypeError, "dtype float64"),
    ("batchnorm", ValueError, "BatchNorm"),
    ("epochs", ValueError, "epochs"),
    ("noise", ValueError, "noise"),
])
def test_bad_input_raises_before_training(case, exc, match):
    model, X, kw = _model(), _data(), {}
    if case == "no hidden":
        model = nn.Sequential(nn.Linear(20, 3))
    elif case == "not sequential":
        model = nn.Linear(20, 3)
    elif case == "width":
        X = X[:, :15]
    elif case == "nan":
        X = X.copy(); X[3, 4] = np.nan  # noqa: E702
    elif case == "inf":
        X = X.copy(); X[0, 0] = np.inf  # noqa: E702
    elif case == "method":
        kw["method"] = "pca"
    elif case == "rbm relu":
        model, kw["method"] = _model(act="relu"), "rbm"
    elif case == "rbm range":
        X, kw["method"] = X * 2 - 0.5, "rbm"
    elif case == "mixed dtype":
        model[2].weight.data = model[2].weight.data.astype(np.float64)
    elif case == "x dtype":
        X = X.astype(np.float64)
    elif case == "batchnorm":
        model = nn.Sequential(nn.Linear(20, 12), nn.BatchNorm(12), nn.Sigmoid(), nn.Linear(12, 3))
    elif case == "epochs":
        kw["epochs"] = 0
    elif case == "noise":
        kw["method"], kw["noise"] = "denoising", 1.5
    before = _weights(model)
    with pytest.raises(exc, match=match):
        P.greedy_layerwise(model, X, progress=False, **kw)
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights(model)))
    assert all(p.requires_grad for p in model.parameters())


def test_rbm_refusal_names_the_layer_and_the_activation():
    with pytest.raises(ValueError, match=r"Linear\(20->12\).*Tanh"):
        P.greedy_layerwise(_model(act="tanh"), _data(), method="rbm", progress=False)
    with pytest.raises(ValueError, match="no activation"):
        P.greedy_layerwise(_model(act=None), _data(), method="rbm", progress=False)


# -- dtype, the Trainer afterwards, frozen earlier layers ---------------------------------------------------------
@pytest.mark.parametrize("method", P.METHODS)
def test_float64_kept(method):
    model = _model(dtype=np.float64)
    reps = P.greedy_layerwise(model, _data(dtype=np.float64), method=method, epochs=2, progress=False,
                              keep_decoders=True)
    assert all(p.data.dtype == np.float64 for p in model.parameters())
    assert all(r.decoder["weight"].dtype == np.float64 for r in reps)
    m32 = _model()
    P.greedy_layerwise(m32, _data(), method=method, epochs=1, progress=False)
    assert all(p.data.dtype == np.float32 for p in m32.parameters())


def test_model_is_usable_by_the_trainer_afterwards():
    model = _model()
    frozen = model[4].bias
    frozen.requires_grad_(False)            # the caller's own choice survives pre-training
    X = _data()
    y = (X[:, 0] > X[:, 1]).astype(np.int64) + (X[:, 2] > 0.5)
    P.greedy_layerwise(model, X, epochs=2, progress=False)
    assert [p.requires_grad for p in model.parameters()] == [True] * 5 + [False]
    assert all(p.grad is None for p in model.parameters())
    before = _weights(model)
    tr = ll.Trainer(model, nn.CrossEntropyLoss(), optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1),
                    progress=False)
    tr.fit(data.DataLoader(data.TensorDataset(X, y), batch_size=50, shuffle=True, seed=0), epochs=2)
    assert np.isfinite(tr.history.loss).all()
    after = _weights(model)
    assert not np.array_equal(before[0], after[0])      # fine-tuning reaches the pre-trained layers
    assert np.array_equal(before[5], after[5])          # the frozen one stayed


@pytest.mark.parametrize("method", P.METHODS)
def test_earlier_layer_not_modified_when_a_later_one_is_trained(method, monkeypatch):
    model = _model(widths=(20, 12, 10, 8, 3))
    seen = []
    trainer = "_train_rbm" if method == "rbm" else "_train_ae"
    orig = getattr(P, trainer)

    def spy(lin, *args, **kw):
        seen.append({"layer": lin, "before": [m.weight.data.copy() for m in (model[0], model[2], model[4])]})
        return orig(lin, *args, **kw)

    monkeypatch.setattr(P, trainer, spy)
    P.greedy_layerwise(model, _data(), method=method, epochs=2, progress=False)
    final = [m.weight.data for m in (model[0], model[2], model[4])]
    assert [s["layer"] for s in seen] == [model[0], model[2], model[4]]
    # when layer k starts training, layers < k hold their final values already (never changed afterwards)
    for k, s in enumerate(seen):
        for j in range(k):
            assert np.array_equal(s["before"][j], final[j])
        assert not np.array_equal(s["before"][k], final[k])   # and layer k itself was trained


def test_single_layer_pretraining_is_independent_of_later_layers():
    """Layer 0 gets the same weights whether or not more layers follow (its own seeded stream)."""
    a = _model(widths=(20, 12, 8, 3))
    b = _model(widths=(20, 12, 3))
    P.greedy_layerwise(a, _data(), epochs=2, progress=False, seed=3)
    P.greedy_layerwise(b, _data(), epochs=2, progress=False, seed=3)
    assert np.array_equal(a[0].weight.data, b[0].weight.data)
