"""Trainer: the loop, callbacks, NaN guard, bad-input errors, checkpoint/resume, and the notes' MNIST set-up."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import layerlab as ll
from layerlab import data, nn, optim
from layerlab.checkpoint import read_checkpoint
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


def _finite_model_state(sd):
    return all(np.isfinite(v).all() for v in sd.values())


@pytest.mark.parametrize("layer", [0, 2])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_guard_names_step_and_layer(tmp_path, layer, bad):
    loader, _ = blobs_loader()
    model = mlp([5, 16, 3], act=nn.ReLU)
    ck = Checkpoint(tmp_path / "ck", every=1)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), callbacks=[ck],
                      progress=False)
    trainer.fit(loader, epochs=1)
    good = {k: v.copy() for k, v in model.state_dict().items()}
    good_path = ck.last_path
    assert len(loader) == 8 and good_path.name == "step-000000008"
    with ll.no_grad():
        model[layer].weight.data[2, 3] = bad  # the forward pass goes non-finite at Linear `layer`, not before
    with pytest.raises(NonFiniteError) as info, np.errstate(all="ignore"):
        trainer.fit(loader, epochs=2)
    msg = str(info.value)
    assert msg.startswith("training stopped at step 8 (epoch 1): the loss is nan")
    assert f"first layer with non-finite activations: '{layer}' (Linear" in msg
    assert f"Last good checkpoint: {good_path}." in msg
    assert trainer.step == 8
    # the bad update was not applied: every entry but the poisoned one is unchanged
    after = model.state_dict()
    for k in good:
        if k != f"{layer}.weight":
            assert np.array_equal(after[k], good[k]), k
    # the last good checkpoint is kept, is still the newest, and holds the good weights
    assert ck.last_path == good_path
    saved = read_checkpoint(tmp_path / "ck")
    assert saved["step"] == 8
    for k in good:
        assert np.array_equal(saved["model"][k], good[k]), k


def test_nan_guard_on_a_gradient_with_a_finite_loss(tmp_path):
    """A non-finite gradient alone (the forward pass and the loss finite) stops training too."""
    loader, _ = blobs_loader()

    class Poison(Callback):
        def on_after_backward(self, trainer, step):
            if step == 5:
                trainer.model[2].bias.grad[1] = -np.inf

    model = mlp([5, 16, 3], act=nn.ReLU)
    ck = Checkpoint(tmp_path / "ck", every=2)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                      callbacks=[ck, Poison()], progress=False)
    with pytest.raises(NonFiniteError, match=r"^training stopped at step 5 \(epoch 0\): the loss is finite .* but a "
                                             r"gradient is not; first layer with non-finite activations: none .*"
                                             r"first parameter with non-finite gradient: 2\.bias\..*"
                                             r"Last good checkpoint: .*step-000000004\."):
        trainer.fit(loader, epochs=1)
    assert trainer.step == 5 and all(np.isfinite(p.data).all() for p in model.parameters())


def test_nan_guard_when_an_update_overflows_keeps_the_last_good_checkpoint(tmp_path):
    """Finite gradients, but a step so large the weights overflow: the guard trips one step later, and
    no checkpoint of the broken weights is written in between, so the newest is still the last good one."""
    loader, _ = blobs_loader()

    class Spike(Callback):
        def on_after_backward(self, trainer, step):
            if step == 8:
                trainer.model[2].weight.grad[1, 4] = 1e37  # finite; times lr = 100 it is not (float32)

    model = mlp([5, 16, 3], act=nn.ReLU)
    opt = optim.SGD(model.parameters(), lr=0.1)
    ck = Checkpoint(tmp_path / "ck", every=1)
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[ck, Spike()], progress=False)
    trainer.fit(loader, epochs=1)
    good = {k: v.copy() for k, v in model.state_dict().items()}
    opt.param_groups[0]["lr"] = 100.0
    with pytest.warns(RuntimeWarning, match=r"not saving step 9: parameter '2\.weight' is not finite"), \
            pytest.raises(NonFiniteError, match=r"^training stopped at step 9 \(epoch 1\): the loss is nan; .*"
                                                r"parameter '2\.weight' is itself non-finite.*"
                                                r"Last good checkpoint: .*step-000000008\."), \
            np.errstate(all="ignore"):
        trainer.fit(loader, epochs=2)
    assert ck.last_path.name == "step-000000008"
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["latest", "step-000000007", "step-000000008"]
    saved = read_checkpoint(tmp_path / "ck")
    assert saved["step"] == 8 and _finite_model_state(saved["model"])
    for k in good:
        assert np.array_equal(saved["model"][k], good[k]), k


def test_nan_guard_ignores_large_finite_gradients():
    """Gradients whose float32 sum overflows are still finite: no false alarm."""
    loader, _ = blobs_loader()

    class Big(Callback):
        def on_after_backward(self, trainer, step):
            trainer.model[0].weight.grad[...] = 3e37  # finite; the sum of 80 of them is not

    model = mlp([5, 16, 3], act=nn.ReLU)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1e-38),
                      callbacks=[Big()], progress=False)
    trainer.fit(loader, epochs=1)
    assert trainer.step == len(loader)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "strided", "fortran"])
def test_the_finiteness_check_finds_every_nan_and_inf(bad, dtype, layout):
    """_all_finite (the NaN guard's and the checkpoint's test) answers as np.isfinite(a).all() whatever the
    layout, for a non-finite entry anywhere, and for finite entries whose squares or sum overflow."""
    from layerlab.train import _all_finite

    base = np.ones((6, 8), dtype)
    views = {"contiguous": lambda a: a, "strided": lambda a: a[:, ::2], "fortran": np.asfortranarray}
    for i in range(6):
        a = base.copy()
        a[i, (3 * i) % 4 * 2] = bad
        a = views[layout](a)
        assert not _all_finite(a), (i, a)
    big = np.full((6, 8), np.finfo(dtype).max / 2, dtype)  # finite; Σa² and Σa overflow
    assert _all_finite(views[layout](big)) and _all_finite(views[layout](-big))
    assert _all_finite(views[layout](base))
    assert _all_finite(np.zeros(0, dtype))


def test_the_progress_bar_updates_at_most_every_interval_and_counts_every_batch(monkeypatch):
    """Throttled: between two updates the batches are added up; the epoch's end adds the rest, with the
    latest loss; nothing is lost or double-counted."""
    from layerlab import train

    calls = []

    class FakeProgress:
        console = type("C", (), {"print": staticmethod(lambda *a, **k: None)})()

        def add_task(self, *a, **k):
            calls.append(("add", k.get("total")))
            return 7

        def update(self, task, advance=0, loss=None):
            calls.append((task, advance, loss))

    clock = iter(np.arange(0, 100, 0.03))  # 30 ms a batch
    monkeypatch.setattr(train.time, "monotonic", lambda: float(next(clock)))
    bar = train.ProgressBar(interval=0.1)
    bar._progress = FakeProgress()

    class T:
        batches_per_epoch = 20

    bar.on_epoch_start(T(), 0)
    for i in range(20):
        bar.on_batch_end(T(), i, {"loss": float(i)})
    bar.on_epoch_end(T(), 0, {"loss": 1.0})
    updates = [c for c in calls if c[0] == 7]
    assert sum(a for _, a, _ in updates) == 20          # every batch counted once
    assert 5 <= len(updates) <= 8                       # ~every 4th batch, not 20 updates
    assert updates[0] == (7, 1, "0.0000")               # the first batch shows at once
    assert updates[-1][2] == "19.0000"                  # the end shows the last loss


def test_accuracy_metric_is_the_mean_hit_rate_as_a_python_float():
    from layerlab.train import _accuracy

    rng = np.random.default_rng(0)
    out, y = rng.standard_normal((1000, 10)).astype(np.float32), rng.integers(0, 10, 1000)
    hits = out.argmax(axis=1) == y
    acc = _accuracy(out, y)
    assert type(acc) is float and acc == float(hits.mean()) == np.count_nonzero(hits) / 1000
    assert _accuracy(out, np.eye(10)[y]) == acc                                    # one-hot targets
    assert _accuracy(out.reshape(100, 10, 10), y.reshape(100, 10)) == acc            # sequences
    assert _accuracy(np.array([[2.0], [-1.0]]), np.array([1.0, 1.0])) == 0.5        # binary logits
    assert np.isnan(_accuracy(out[:0], y[:0]))


BAD_INPUT = [
    ("nan", r"x contains NaN or Inf \(first at example 4\)"),
    ("inf", r"x contains NaN or Inf \(first at example 4\)"),
    ("labels", r"labels range over \[0, 7\].*'2' has 3 outputs"),
    ("negative labels", r"labels range over \[-1, 2\]"),
    ("features", r"x has 7 features per example \(shape \(10, 7\)\) but the first layer '0' expects 5"),
    ("length", "x has 10 examples but y has 9"),
    ("empty", r"the training data is empty \(0 examples\)"),
]


def _bad_xy(case):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 5)).astype(np.float32)
    y = rng.integers(0, 3, 10)
    if case == "nan":
        x[4, 1] = np.nan
    elif case == "inf":
        x[4, 3] = -np.inf
    elif case == "labels":
        y[6] = 7  # not in the first batch: a lazy check would take steps first
    elif case == "negative labels":
        y[6] = -1
    elif case == "features":
        x = rng.standard_normal((10, 7)).astype(np.float32)
    elif case == "length":
        y = y[:9]
    elif case == "empty":
        x, y = x[:0], y[:0]
    return x, y


@pytest.mark.parametrize("via", ["arrays", "loader", "subset"])
@pytest.mark.parametrize("case, match", BAD_INPUT, ids=[c for c, _ in BAD_INPUT])
def test_bad_input_fails_before_any_step(case, match, via):
    x, y = _bad_xy(case)
    if via == "arrays":
        train = (x, y)
    elif case == "length":  # a dataset cannot even be built from mismatched arrays
        with pytest.raises(ValueError, match=r"same first dimension.*lengths \[10, 9\]"):
            data.TensorDataset(x, y)
        return
    elif via == "loader":
        train = data.DataLoader(data.TensorDataset(x, y), batch_size=4)
    else:  # a Subset (what random_split returns), shuffled so the bad example is not first
        order = np.arange(len(x))[::-1].copy()
        train = data.DataLoader(data.Subset(data.TensorDataset(x, y), order), batch_size=4, shuffle=True)
        match = match.replace("example 4", "example 5")  # position 5 of the subset is example 4
    model = mlp([5, 4, 3])
    before = {k: v.copy() for k, v in model.state_dict().items()}
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    class NoStep(Callback):
        def on_batch_start(self, trainer, step, batch):
            pytest.fail("a step was started")

    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[NoStep()], progress=False)
    with pytest.raises(ValueError, match=match):
        trainer.fit(train, epochs=1)
    assert trainer.step == 0 and not opt.state
    for k, v in model.state_dict().items():
        assert np.array_equal(v, before[k])


def test_a_subset_is_checked_on_its_own_examples():
    """random_split parts share one base array: a bad example outside the part is not the part's problem."""
    x, y = _bad_xy("nan")
    y[6] = 7
    base = data.TensorDataset(x, y)
    model = mlp([5, 4, 3])
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), progress=False)
    trainer.fit(data.DataLoader(data.Subset(base, [0, 1, 2, 3, 5, 7, 8, 9]), batch_size=4), epochs=1)
    assert trainer.step == 2
    inner = data.Subset(base, [9, 8, 7, 6, 5])
    trainer.fit(data.DataLoader(data.Subset(inner, [0, 1, 4]), batch_size=4), epochs=2)  # examples 9, 8, 5
    assert trainer.step == 3
    with pytest.raises(ValueError, match=r"labels range over \[\d, 7\]"):
        trainer.fit(data.DataLoader(data.Subset(inner, [4, 3, 0]), batch_size=4), epochs=3)  # 5, 6, 9
    assert trainer.step == 3


def test_bad_validation_data_fails_before_any_step():
    x, y = _bad_xy("none")
    model = mlp([5, 4, 3])
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), progress=False)
    with pytest.raises(ValueError, match=r"validation data: x has 4 features .* expects 5"):
        trainer.fit((x, y), epochs=1, val=(x[:, :4], y))
    with pytest.raises(ValueError, match=r"validation data: labels range over \[9, 9\]"):
        trainer.fit((x, y), epochs=1, val=(x, np.full_like(y, 9)))
    assert trainer.step == 0


def test_nan_in_regression_targets_fails_before_any_step():
    x, _ = _bad_xy("none")
    y = np.ones((10, 2), np.float32)
    y[8, 1] = np.nan
    model = mlp([5, 4, 2])
    trainer = Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), metrics=(), progress=False)
    with pytest.raises(ValueError, match=r"y contains NaN or Inf \(first at example 8\)"):
        trainer.fit((x, y), epochs=1)
    assert trainer.step == 0


def test_a_dataset_that_is_not_array_backed_is_checked_on_its_first_batch():
    x, y = _bad_xy("features")

    class Lazy(data.Dataset):
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            return x[i], y[i]

    model = mlp([5, 4, 3])
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), progress=False)
    with pytest.raises(ValueError, match=r"training data \(its first batch\): x has 7 features"):
        trainer.fit(data.DataLoader(Lazy(), batch_size=4), epochs=1)
    assert trainer.step == 0


RESUME_EPOCHS = 4


def _resume_setup(seed=0):
    """Adam + OneCycleLR (stepped per batch) + dropout + a shuffling loader: every kind of state."""
    x, y = data.blobs(300, centers=4, d=6, std=1.5, seed=1)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=32, shuffle=True, seed=seed)
    model = mlp([6, 32, 32, 4], act=nn.ReLU, dropout=0.2, rng=np.random.default_rng(seed))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=RESUME_EPOCHS * len(loader))
    return model, opt, sched, loader


def _resume_trainer(callbacks=()):
    model, opt, sched, loader = _resume_setup()
    return Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, callbacks=callbacks,
                   progress=False), loader


@pytest.fixture(scope="module")
def uninterrupted():
    trainer, loader = _resume_trainer()
    trainer.fit(loader, epochs=RESUME_EPOCHS, val=(loader.dataset.arrays[0][:50], loader.dataset.arrays[1][:50]))
    return trainer


class Kill(Callback):
    """A crash in ``on_batch_end`` of step ``at`` (counted from 1), after the Checkpoint callback's turn."""

    def __init__(self, at, hard=False):
        self.at, self.hard = at, hard

    def on_batch_end(self, trainer, step, logs):
        if trainer.step == self.at:
            if self.hard:
                os.kill(os.getpid(), signal.SIGKILL)
            raise KeyboardInterrupt


def _assert_same_run(trainer, reference):
    ref, got = reference.model.state_dict(), trainer.model.state_dict()
    assert ref.keys() == got.keys()
    for k in ref:
        assert np.array_equal(ref[k], got[k]), k
    assert trainer.step == reference.step == RESUME_EPOCHS * 10
    # the history too: per-step losses and lrs, per-epoch metrics (the resumed epoch's sums included)
    assert trainer.history.steps == reference.history.steps
    assert trainer.history.epochs == reference.history.epochs


EVERY = 3
# Killed after each step from the first checkpoint on (checkpoints every 3 steps and at each epoch end;
# 10 steps an epoch), the run resumes from its newest checkpoint, 0 to 2 steps older: the lost steps,
# mid-epoch ones included, are recomputed.
KILL_STEPS = list(range(EVERY, RESUME_EPOCHS * 10))


@pytest.mark.parametrize("stop_at", KILL_STEPS)
def test_kill_and_resume_is_bit_identical(tmp_path, uninterrupted, stop_at):
    trainer, loader = _resume_trainer([Checkpoint(tmp_path / "ck", every=EVERY), Kill(stop_at)])
    val = (loader.dataset.arrays[0][:50], loader.dataset.arrays[1][:50])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(loader, epochs=RESUME_EPOCHS, val=val)
    last = read_checkpoint(tmp_path / "ck")["step"]
    # written after steps 3, 6, 9, ... and at epoch ends (after the batch hooks of the epoch's last step)
    assert last == max(s for s in range(stop_at + 1) if s % EVERY == 0 or (s % 10 == 0 and s < stop_at))

    # as in a fresh process: new objects, other initial weights, state only from the checkpoint
    trainer, loader = _resume_trainer()
    with ll.no_grad():
        for p in trainer.model.parameters():
            p.data[...] = 0
    for m in trainer.model.modules():
        if isinstance(m, nn.Dropout):
            m.rng = np.random.default_rng(999)
    trainer.fit(loader, epochs=RESUME_EPOCHS, val=val, resume_from=tmp_path / "ck")
    _assert_same_run(trainer, uninterrupted)


_KILL_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
from test_train import Checkpoint, Kill, RESUME_EPOCHS, _resume_trainer
ck, stop_at = sys.argv[2], int(sys.argv[3])
if stop_at:
    trainer, loader = _resume_trainer([Checkpoint(ck, every=7), Kill(stop_at, hard=True)])
    trainer.fit(loader, epochs=RESUME_EPOCHS, val=(loader.dataset.arrays[0][:50], loader.dataset.arrays[1][:50]))
    sys.exit("not killed")
trainer, loader = _resume_trainer()
trainer.fit(loader, epochs=RESUME_EPOCHS, val=(loader.dataset.arrays[0][:50], loader.dataset.arrays[1][:50]),
            resume_from=ck)
import layerlab as ll
ll.save(trainer.model, sys.argv[4])
import json
with open(sys.argv[4] + ".json", "w") as f:
    json.dump({"step": trainer.step, "history": trainer.history.state_dict()}, f)
"""


def test_sigkill_and_resume_in_a_new_process_is_bit_identical(tmp_path, uninterrupted):
    """A real crash: the process is SIGKILLed after a random step; a new process resumes from disk."""
    import json

    stop_at = int(np.random.default_rng(20240604).integers(4, RESUME_EPOCHS * 10))  # a fixed draw: reproducible
    tests = str(Path(__file__).parent)
    ck, out = tmp_path / "ck", tmp_path / "final.safetensors"
    killed = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, tests, str(ck), str(stop_at), str(out)],
                            capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert read_checkpoint(ck)["step"] < stop_at  # checkpoints after 7, 10, 14, 20, ...: steps are lost and redone
    resumed = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, tests, str(ck), "0", str(out)],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    model, _, _, _ = _resume_setup()
    ll.load(model, out)
    ref = uninterrupted.model.state_dict()
    for k, v in model.state_dict().items():
        assert np.array_equal(v, ref[k]), (k, stop_at)
    info = json.loads(Path(str(out) + ".json").read_text())
    assert info["step"] == RESUME_EPOCHS * 10
    assert info["history"] == json.loads(json.dumps(uninterrupted.history.state_dict()))


def test_a_crash_while_writing_a_checkpoint_leaves_the_previous_one(tmp_path, monkeypatch):
    import layerlab.checkpoint as ckmod

    trainer, loader = _resume_trainer([Checkpoint(tmp_path / "ck", every=3)])
    trainer.fit(loader, epochs=1)  # checkpoints after steps 3, 6, 9 and 10 (the epoch end)
    real = ckmod.save_file

    def crash(arrays, path):
        real(dict(list(arrays.items())[:2]), path)  # half the arrays on disk, then the process dies
        raise KeyboardInterrupt

    monkeypatch.setattr(ckmod, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(loader, epochs=2)  # the write after step 12 fails
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["latest", "step-000000009", "step-000000010"]
    assert read_checkpoint(tmp_path / "ck")["step"] == 10


def test_seed_makes_a_whole_run_reproducible():
    """ll.seed(n) fixes what layerlab draws without an explicit generator: initial weights and dropout
    generators of a model built with defaults; with the same seed the run is bit-identical."""
    x, y = data.blobs(200, centers=3, d=5, std=1.0, seed=0)

    def run(n):
        ll.seed(n)
        model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Dropout(0.3), nn.Linear(16, 3))
        init = model[0].weight.data.copy()
        trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), progress=False)
        trainer.fit(data.DataLoader(data.TensorDataset(x, y), batch_size=32, shuffle=True), epochs=2)
        return init, model.state_dict()

    (i1, a), (i2, b), (i3, c) = run(7), run(7), run(8)
    assert np.array_equal(i1, i2) and not np.array_equal(i1, i3)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert not all(np.array_equal(a[k], c[k]) for k in a)


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


# --------------------------------------------------------------------------------------------
# schedulers say how often they step; the Trainer reads it (no class names)
# --------------------------------------------------------------------------------------------

class _Counting:
    """A scheduler of one's own (not an LRScheduler): counts its step() calls."""

    def __init__(self):
        self.steps = 0

    def step(self):
        self.steps += 1

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, sd):
        self.steps = sd["steps"]


class _PerBatch(_Counting):
    interval = "step"


@pytest.mark.parametrize("make, interval, expected_steps", [
    (_Counting, None, 3),                 # no interval attribute: once per epoch
    (_PerBatch, None, 3 * 8),             # a user's class says "step": once per batch
    (_PerBatch, "epoch", 3),              # the Trainer's argument overrides the class
    (_Counting, "step", 3 * 8),
])
def test_scheduler_is_stepped_as_its_class_says(make, interval, expected_steps):
    loader, _ = blobs_loader(n=240, batch_size=32)  # 8 batches per epoch
    model = mlp([5, 8, 3])
    sched = make()
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), scheduler=sched,
                      scheduler_interval=interval, progress=False)
    trainer.fit(loader, epochs=3)
    assert sched.steps == expected_steps
    assert trainer.scheduler_interval == ("step" if expected_steps == 24 else "epoch")


def test_onecycle_and_warmup_step_per_batch_the_others_per_epoch():
    model = mlp([5, 8, 3])
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    lrs = optim.lr_scheduler
    for sched, want in [(lrs.OneCycleLR(opt, max_lr=0.1, total_steps=100), "step"),
                        (lrs.LinearWarmup(opt, warmup_steps=5), "step"),
                        (lrs.StepLR(opt, step_size=2), "epoch"),
                        (lrs.ExponentialLR(opt, gamma=0.9), "epoch"),
                        (lrs.CosineAnnealingLR(opt, T_max=10), "epoch")]:
        trainer = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, progress=False)
        assert trainer.scheduler_interval == want, type(sched).__name__


def test_a_bad_interval_is_refused():
    model = mlp([5, 8, 3])
    opt = optim.SGD(model.parameters(), lr=0.1)
    bad = _Counting()
    bad.interval = "batch"
    with pytest.raises(ValueError, match=r"Trainer: _Counting.interval must be 'step' or 'epoch', got 'batch'"):
        Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=bad, progress=False)
    with pytest.raises(ValueError, match=r"Trainer: scheduler_interval must be 'step' or 'epoch', got 'often'"):
        Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=_Counting(), scheduler_interval="often", progress=False)


# --------------------------------------------------------------------------------------------
# RNG state helpers (layerlab.random), as the Trainer uses them
# --------------------------------------------------------------------------------------------

def test_fit_reseeds_the_model_generators_in_place():
    from layerlab import random as llr

    model = mlp([5, 8, 8, 3], dropout=0.5)
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    before = [d.rng for d in drops]
    assert [k for k, _, _ in llr.module_generators(model)] == ["2:rng", "5:rng"]
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), seed=11, progress=False)
    trainer.fit(blobs_loader()[0], epochs=0)  # a fresh fit reseeds, and no batch draws a mask
    assert [d.rng for d in drops] == before and all(d.rng is g for d, g in zip(drops, before))  # same objects
    children = np.random.SeedSequence(11).spawn(2)
    for d, ss in zip(drops, children):  # the streams of default_rng(child k), as before the refactor
        assert np.array_equal(d.rng.random(4), np.random.default_rng(ss).random(4))


def test_a_shared_generator_is_reseeded_once_and_stays_shared():
    from layerlab import random as llr

    g = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5, rng=g), nn.Dropout(0.5, rng=g))
    llr.reseed_module(model, 3)
    assert model[1].rng is g and model[2].rng is g
    assert np.array_equal(g.random(3), np.random.default_rng(np.random.SeedSequence(3).spawn(1)[0]).random(3))


def test_rng_states_round_trip_through_json():
    import json

    from layerlab import random as llr

    model = mlp([5, 8, 3], dropout=0.5)
    saved = json.loads(json.dumps(llr.module_rng_states(model)))
    glob = json.loads(json.dumps(llr.get_state()))
    expected_model = [m.rng.random(5) for m in model.modules() if isinstance(m, nn.Dropout)]
    expected_global = llr.get_rng().random(5)
    llr.load_module_rng_states(model, saved)
    llr.set_state(glob)
    assert all(np.array_equal(m.rng.random(5), e)
               for m, e in zip([m for m in model.modules() if isinstance(m, nn.Dropout)], expected_model))
    assert np.array_equal(llr.get_rng().random(5), expected_global)
    llr.load_module_rng_states(model, {})  # nothing saved: generators are left alone
