"""Trainer.lr_find (Smith 2017's LR range test): restores everything, geometric η, early stop, its suggestion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab import nn, optim
from layerlab import random as ll_random
from layerlab.data import DataLoader, TensorDataset
from layerlab.train import Trainer


class Quadratic(nn.Module):
    """A single Parameter w; the loss ½L‖w‖² (see ``quadratic_loss``) has curvature L."""

    def __init__(self, d: int = 4):
        super().__init__()
        self.w = nn.Parameter(np.ones(d, dtype=np.float32))

    def forward(self, x):
        return self.w


def quadratic_trainer(L: float) -> Trainer:
    m = Quadratic()
    return Trainer(m, lambda out, y: (out * out).sum() * (0.5 * L), optim.SGD(m.parameters(), lr=0.1),
                   metrics=(), progress=False)


TINY = (np.zeros((8, 1), np.float32), np.zeros(8, np.float32))


def classification(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((96, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    return x, y


def mlp_trainer():
    ll_random.seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 3))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    return Trainer(model, nn.CrossEntropyLoss(), opt, progress=False, seed=3)


def test_restores_weights_optimiser_counters_history_and_loader_exactly():
    x, y = classification()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, seed=5)
    tr = mlp_trainer()
    tr.fit(loader, epochs=2)  # Adam moments and step counts exist now
    next(iter(loader))  # the loader mid-epoch
    before = {
        "model": {k: v.copy() for k, v in tr.model.state_dict().items()},
        "opt": tr.optimizer.state_dict(),
        "loader": loader.state_dict(),
        "history": tr.history.state_dict(),
        "counters": (tr.step, tr.epoch),
        "rng": ll_random.module_rng_states(tr.model),
        "global": ll_random.get_state(),
    }
    assert before["opt"]["state"], "Adam should have moments after training"
    lrs, losses, _ = tr.lr_find(loader, start=1e-5, end=10.0, steps=40)
    assert len(lrs) >= 10  # it did train (and changed the weights on the way)
    after_model = tr.model.state_dict()
    assert set(after_model) == set(before["model"])
    for k, v in before["model"].items():
        assert after_model[k].dtype == v.dtype and np.array_equal(after_model[k], v), k
    opt = tr.optimizer.state_dict()
    assert opt["param_groups"] == before["opt"]["param_groups"]  # lr included
    assert opt["state"].keys() == before["opt"]["state"].keys()
    for i, rec in before["opt"]["state"].items():
        assert rec.keys() == opt["state"][i].keys()
        for key, v in rec.items():
            if isinstance(v, np.ndarray):
                assert np.array_equal(opt["state"][i][key], v), (i, key)
            else:
                assert opt["state"][i][key] == v, (i, key)
    assert loader.state_dict() == before["loader"]
    assert tr.history.state_dict() == before["history"]
    assert (tr.step, tr.epoch) == before["counters"]
    assert ll_random.module_rng_states(tr.model) == before["rng"]
    assert ll_random.get_state() == before["global"]
    assert all(p.grad is None or not p.grad.any() for p in tr.model.parameters())


def test_training_after_lr_find_is_bit_identical_to_training_without_it():
    x, y = classification()
    runs = []
    for probe in (False, True):
        loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, seed=5)
        tr = mlp_trainer()
        tr.fit(loader, epochs=1)
        if probe:
            tr.lr_find(loader, steps=30)
        tr.fit(loader, epochs=3)
        runs.append((tr.model.state_dict(), tr.history.loss))
    (w0, h0), (w1, h1) = runs
    assert h0 == h1
    for k in w0:
        assert np.array_equal(w0[k], w1[k]), k


def test_restores_even_when_the_loss_raises():
    tr = quadratic_trainer(1.0)
    w = tr.model.w.data.copy()
    calls = []

    def bad_loss(out, y):
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("boom")
        return (out * out).sum()

    tr.loss_fn = bad_loss
    with pytest.raises(RuntimeError, match="boom"):
        tr.lr_find(TINY, steps=10)
    assert np.array_equal(tr.model.w.data, w)
    assert tr.optimizer.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize("L", [0.3, 1.0, 10.0, 100.0])
@pytest.mark.parametrize("smooth", [0.0, 0.9, 0.98])
def test_suggestion_on_a_quadratic_is_within_a_factor_3_of_one_over_L(L, smooth):
    """½L‖w‖²: one GD step multiplies the loss by (1 − ηL)², so the relative drop per step (the
    slope of log ℓ against log η) is steepest at η = 1/L; the smoothed loss lags a few steps,
    which moves the steepest point by less than a factor 3."""
    lrs, losses, s = quadratic_trainer(L).lr_find(TINY, start=1e-7, end=10.0, steps=100, smooth=smooth)
    assert 1 / (3 * L) <= s <= 3 / L, (s, 1 / L)
    assert s in lrs and s < lrs[int(np.argmin(losses))] * 1.0001  # a point of the range, before the minimum
    if smooth == 0.0:  # no lag: the steepest raw drop is at 1/L, up to the grid's spacing (×1.2 per step)
        assert 1 / (1.5 * L) <= s <= 1.5 / L, (s, 1 / L)


def test_lrs_are_geometric_from_start_to_end():
    lrs, losses, _ = quadratic_trainer(1e-3).lr_find(TINY, start=1e-6, end=1.0, steps=25)
    assert len(lrs) == 25 and len(losses) == 25  # no divergence at ηL <= 1e-3
    assert lrs[0] == pytest.approx(1e-6, rel=1e-12) and lrs[-1] == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(lrs[1:] / lrs[:-1], 10 ** (6 / 24), rtol=1e-10)


def test_the_loader_is_cycled_when_steps_exceed_its_batches():
    seen = []
    tr = quadratic_trainer(1e-3)
    tr.loss_fn = lambda out, y: (seen.append(len(y)), (out * out).sum())[1]
    lrs, _, _ = tr.lr_find((TINY[0][:5], TINY[1][:5]), steps=12)  # one batch (256 > 5) per pass
    assert len(lrs) == 12 and seen == [5] * 12


def test_stops_early_when_the_smoothed_loss_diverges():
    lrs, losses, _ = quadratic_trainer(100.0).lr_find(TINY, start=1e-7, end=10.0, steps=100, smooth=0.0,
                                                      diverge=4.0)
    assert len(lrs) < 100
    assert np.isfinite(losses).all()
    assert all(losses[i] <= 4.0 * losses[:i].min() for i in range(1, len(losses)))
    # the next geometric step would have been past 2/L, where GD on ½L w² diverges
    assert lrs[-1] * 100.0 * 10 ** (8 / 99) > 2.0
    # a gentler criterion runs further
    lrs2, _, _ = quadratic_trainer(100.0).lr_find(TINY, smooth=0.0, diverge=1e6)
    assert len(lrs2) > len(lrs)


def test_stops_at_a_non_finite_loss_and_keeps_only_finite_points():
    tr = quadratic_trainer(1.0)
    tr.loss_fn = lambda out, y: (out * out).sum() * float("inf") if tr.optimizer.param_groups[0]["lr"] > 1e-3 \
        else (out * out).sum()
    lrs, losses, _ = tr.lr_find(TINY, steps=50, diverge=1e30)
    assert 0 < len(lrs) < 50 and lrs[-1] <= 1e-3 and np.isfinite(losses).all()


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"start": 0.0}, ValueError, "start must be a finite number > 0"),
    ({"start": -1.0}, ValueError, "start"),
    ({"end": float("nan")}, ValueError, "end must be a finite number > 0"),
    ({"start": 1.0, "end": 0.5}, ValueError, "end must be > start"),
    ({"steps": 1}, ValueError, "steps must be an int >= 2"),
    ({"steps": 10.0}, TypeError, "steps"),
    ({"smooth": 1.0}, ValueError, r"smooth must be in \[0, 1\)"),
    ({"diverge": 1.0}, ValueError, "diverge must be a finite number > 1"),
    ({"start": "1e-5"}, TypeError, "Trainer.lr_find: start"),
])
def test_bad_arguments_raise_before_any_step(kwargs, exc, match):
    tr = quadratic_trainer(1.0)
    w = tr.model.w.data.copy()
    with pytest.raises(exc, match=match):
        tr.lr_find(TINY, **kwargs)
    assert np.array_equal(tr.model.w.data, w)


def test_bad_data_raises_before_any_step():
    x, y = classification()
    tr = mlp_trainer()
    with pytest.raises(ValueError, match="features per example"):
        tr.lr_find((x[:, :4], y))


def test_the_suggestion_skips_the_first_points_of_the_moving_average():
    """A noisy first pair of points (a steep but meaningless slope) is not suggested; the descent is."""
    from layerlab.train import _steepest_lr

    lrs = np.geomspace(1e-4, 1.0, 40)
    losses = np.concatenate([[2.0, 1.5], np.full(18, 1.5), np.linspace(1.5, 0.5, 15), np.full(5, 0.6)])
    assert _steepest_lr(lrs, losses, skip_start=0) == lrs[0]          # the noise wins without the skip
    assert lrs[20] <= _steepest_lr(lrs, losses, skip_start=10) <= lrs[34]
    assert _steepest_lr(lrs[:4], losses[:4], skip_start=10) in lrs[:4]  # too few points: keeps 3
