"""Trainer: the loop, callbacks, NaN guard, bad-input errors, checkpoint/resume, and the notes' MNIST set-up."""

import numpy as np
import pytest

import layerlab as ll
from layerlab import data, nn, optim
from layerlab.train import Callback, Checkpoint, EarlyStopping, NonFiniteError, Trainer


def mlp(sizes, act=nn.Tanh, init="xavier_uniform", dropout=0.0, rng=None):
    rng = rng or np.random.default_rng(0)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, init=init, rng=rng))
        if i < len(sizes) - 2:
            layers.append(act())
            if dropout:
                layers.append(nn.Dropout(dropout, rng=np.random.default_rng(i)))
    return nn.Sequential(*layers)


def blobs_loader(n=240, batch_size=32, seed=0):
    x, y = data.blobs(n, centers=3, d=5, std=1.0, seed=seed)
    return data.DataLoader(data.TensorDataset(x, y), batch_size=batch_size, shuffle=True, seed=seed), (x, y)


def test_fit_learns_and_records_history():
    loader, (x, y) = blobs_loader()
    model = mlp([5, 16, 3])
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                      progress=False)
    hist = trainer.fit(loader, epochs=5, val=(x, y))
    assert len(hist.steps) == 5 * len(loader)
    assert [e["epoch"] for e in hist.epochs] == list(range(5))
    assert hist.epochs[-1]["loss"] < hist.epochs[0]["loss"]
    assert hist.epochs[-1]["val_accuracy"] > 0.9
    assert trainer.evaluate((x, y))["accuracy"] == pytest.approx(hist.epochs[-1]["val_accuracy"])
    assert trainer.predict(x).shape == (len(x), 3)
    assert model.training  # evaluate/predict restore the mode


def test_callbacks_called_in_order():
    loader, _ = blobs_loader(n=64, batch_size=32)
    calls = []

    class Spy(Callback):
        def on_fit_start(self, t): calls.append("fit_start")
        def on_epoch_start(self, t, e): calls.append(f"epoch_start{e}")
        def on_batch_start(self, t, s, b): calls.append(f"batch_start{s}")
        def on_after_backward(self, t, s):
            assert all(p.grad is not None for p in t.model.parameters())
            calls.append(f"backward{s}")
        def on_batch_end(self, t, s, logs): calls.append(f"batch_end{s}")
        def on_epoch_end(self, t, e, logs): calls.append(f"epoch_end{e}")
        def on_fit_end(self, t): calls.append("fit_end")

    model = mlp([5, 4, 3])
    Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), callbacks=[Spy()],
            progress=False).fit(loader, epochs=1)
    assert calls == ["fit_start", "epoch_start0", "batch_start0", "backward0", "batch_end0",
                     "batch_start1", "backward1", "batch_end1", "epoch_end0", "fit_end"]


def test_early_stopping_stops_and_restores_best():
    loader, (x, y) = blobs_loader()
    model = mlp([5, 16, 3])
    # min_delta so large that no epoch after the first counts as an improvement
    es = EarlyStopping(monitor="val_loss", patience=2, min_delta=10.0, restore_best_weights=True)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), callbacks=[es],
                      progress=False)
    hist = trainer.fit(loader, epochs=30, val=(x, y))
    assert len(hist.epochs) == 3 and es.stopped_epoch == 2
    assert hist.epochs[2]["val_loss"] < hist.epochs[0]["val_loss"]
    # the weights of the best epoch (the first) are restored
    assert trainer.evaluate((x, y))["loss"] == pytest.approx(hist.epochs[0]["val_loss"], rel=1e-5)


def test_nan_guard_names_step_and_layer(tmp_path):
    loader, _ = blobs_loader()
    model = mlp([5, 16, 3], act=nn.ReLU)
    ck = Checkpoint(tmp_path / "ck", every=1)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), callbacks=[ck],
                      progress=False)
    trainer.fit(loader, epochs=1)
    good = {k: v.copy() for k, v in model.state_dict().items()}
    with ll.no_grad():
        model[0].weight.data[3, 2] = np.nan
    with pytest.raises(NonFiniteError, match=r"step \d+.*'0' \(Linear.*0\.weight.*Last good checkpoint: .*step-"):
        trainer.fit(loader, epochs=2)
    # the bad update was not applied: everything except the poisoned entry is unchanged
    after = model.state_dict()
    assert np.array_equal(after["2.weight"], good["2.weight"])
    assert ck.last_path is not None and (ck.last_path / "state.json").exists()


@pytest.mark.parametrize("case, match", [
    ("nan", "NaN or Inf"),
    ("labels", r"labels range over \[0, 7\].*3 outputs"),
    ("features", r"7 features.*expects 5"),
    ("length", "x has 10 examples but y has 9"),
    ("empty", "empty"),
])
def test_bad_input_fails_before_any_step(case, match):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 5)).astype(np.float32)
    y = rng.integers(0, 3, 10)
    if case == "nan":
        x[4, 1] = np.nan
    elif case == "labels":
        y[2] = 7
    elif case == "features":
        x = rng.standard_normal((10, 7)).astype(np.float32)
    model = mlp([5, 4, 3])
    before = {k: v.copy() for k, v in model.state_dict().items()}
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), progress=False)
    if case == "length":
        train = (x, y[:9])
    elif case == "empty":
        train = data.DataLoader(data.TensorDataset(x[:0], y[:0]), batch_size=4)
    else:
        train = (x, y)
    with pytest.raises(ValueError, match=match):
        trainer.fit(train, epochs=1)
    assert trainer.step == 0
    for k, v in model.state_dict().items():
        assert np.array_equal(v, before[k])


def _resume_setup(seed=0):
    x, y = data.blobs(300, centers=4, d=6, std=1.5, seed=1)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=32, shuffle=True, seed=seed)
    model = mlp([6, 32, 32, 4], act=nn.ReLU, dropout=0.2, rng=np.random.default_rng(seed))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=4 * len(loader))
    return model, opt, sched, loader


def test_kill_and_resume_is_bit_identical(tmp_path):
    epochs = 4
    model, opt, sched, loader = _resume_setup()
    Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, progress=False).fit(loader, epochs=epochs)
    reference = model.state_dict()

    stop_at = int(np.random.default_rng(123).integers(5, epochs * len(loader) - 5))

    class Kill(Callback):
        def on_batch_end(self, trainer, step, logs):
            if trainer.step == stop_at:
                raise KeyboardInterrupt  # a crash right after a checkpoint was written

    model, opt, sched, loader = _resume_setup()
    ck = Checkpoint(tmp_path / "ck", every=1)
    with pytest.raises(KeyboardInterrupt):
        Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, callbacks=[ck, Kill()],
                progress=False).fit(loader, epochs=epochs)

    # a fresh process: new objects, different initial weights, state only from the checkpoint
    model, opt, sched, loader = _resume_setup(seed=0)
    with ll.no_grad():
        for p in model.parameters():
            p.data[...] = 0
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, progress=False)
    trainer.fit(loader, epochs=epochs, resume_from=tmp_path / "ck")
    assert trainer.step == epochs * len(loader)
    resumed = model.state_dict()
    assert reference.keys() == resumed.keys()
    for k in reference:
        assert np.array_equal(reference[k], resumed[k]), k


def test_same_seed_bit_identical_runs():
    def run():
        model, opt, sched, loader = _resume_setup()
        Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, progress=False).fit(loader, epochs=1)
        return model.state_dict()

    a, b = run(), run()
    for k in a:
        assert np.array_equal(a[k], b[k])


def test_l1_and_clipping_change_the_update():
    loader, _ = blobs_loader()

    def final(**kw):
        model = mlp([5, 8, 3], rng=np.random.default_rng(0))
        Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), progress=False,
                **kw).fit(loader, epochs=1)
        return model[0].weight.data.copy()

    plain = final()
    assert not np.array_equal(plain, final(l1=1e-2))
    assert not np.array_equal(plain, final(clip_grad_norm=1e-3))
    assert np.abs(final(l1=0.05)).sum() < np.abs(plain).sum()


@pytest.fixture(scope="module")
def fashion():
    try:
        return data.fashion_mnist()
    except (FileNotFoundError, OSError) as e:
        pytest.skip(f"no Fashion-MNIST IDX files could be found or downloaded: {e}")


def test_notes_mnist_setup_trains(fashion):
    """Seed 001's set-up on Fashion-MNIST: 784-500-500-500-10 tanh, Xavier, cross-entropy, batch 256.

    The notes' η = 0.5 diverges with Xavier on [0, 1] inputs (CLAIMS.md, claim 7; measured here: loss
    ~100, accuracy 0.10), and plain SGD at a stable η = 0.1 reaches 0.82 after 3 epochs (PyTorch: the
    same 0.82), short of 0.85. "Or as stable" is taken as SGD with momentum 0.9, η = 0.05: 0.85.
    """
    (x, y), (xt, yt) = fashion
    model = mlp([784, 500, 500, 500, 10], init="xavier_normal", rng=np.random.default_rng(0))
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
                      progress=False)
    trainer.fit(data.DataLoader(data.TensorDataset(x, y), batch_size=256, shuffle=True, seed=0), epochs=3)
    assert trainer.evaluate((xt, yt))["accuracy"] >= 0.85
