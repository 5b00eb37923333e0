"""A checkpoint is validated in full before anything is applied.

Each bad case is loaded into a Trainer caught mid-epoch (model, Adam state, OneCycleLR, loader position,
dropout generator, epoch sums all non-trivial), once as a state dict (``Trainer.load_state_dict``) and
once from disk (``Trainer.load_checkpoint(path)``). Each must raise TypeError (a wrong type) or ValueError
(a wrong value, shape, kind, a missing field) naming the field, and the checkpoint's path when it came
from one; and the Trainer, model, optimiser, scheduler, loader and RNG states must be exactly as before.
"""

from __future__ import annotations

import copy
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from layerlab import nn, optim
from layerlab.checkpoint import write_checkpoint
from layerlab.train import Callback, Trainer

SCRIPT = Path(__file__).parent / "scripts" / "tiny_train.py"
_spec = importlib.util.spec_from_file_location("tiny_train_for_validation", SCRIPT)
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


class _Stop(Callback):
    def __init__(self, at):
        self.at = at

    def on_batch_end(self, trainer, step, logs):
        if trainer.step == self.at:
            raise KeyboardInterrupt


def _caught_mid_epoch(at=11):
    """A trainer interrupted at step ``at`` (mid-epoch: loader at batch 3, epoch sums running)."""
    trainer, loader, val = tiny.build()
    trainer.callbacks.append(_Stop(at))
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(loader, epochs=3, val=val)
    trainer.callbacks.pop()
    return trainer


@pytest.fixture(scope="module")
def good_sd():
    """A valid state of the same set-up at another point (step 21): loading it would change everything."""
    return _caught_mid_epoch(21).state_dict()


def everything(trainer) -> dict:
    """An exact image of all the state a load may touch."""
    return tiny._canon({
        "trainer": trainer.state_dict(),
        "loader": trainer._loader.state_dict(),
        "groups": [{k: v for k, v in g.items() if k != "params"} for g in trainer.optimizer.param_groups],
        "sched": getattr(trainer.scheduler, "last_epoch", None),
        "training": trainer.model.training,
    })


def _set(path, value):
    def f(sd):
        obj = sd
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
        return sd
    return f


def _del(path):
    def f(sd):
        obj = sd
        for k in path[:-1]:
            obj = obj[k]
        del obj[path[-1]]
        return sd
    return f


def _nan_weight(sd):
    w = sd["model"]["3.weight"].copy()
    w[0, 0] = np.nan
    sd["model"]["3.weight"] = w
    return sd


def _one_more_group(sd):
    sd["optimizer"]["param_groups"].append(dict(sd["optimizer"]["param_groups"][0], params=[99]))
    return sd


def _too_many_step_records(sd):
    sd["history"]["steps"] = sd["history"]["steps"] * 3
    return sd


def _garbage_rng(sd):
    key = next(iter(sd["rng"]))
    sd["rng"][key] = {"bit_generator": "PCG64", "state": {"state": "x", "inc": "y"}}
    return sd


# (id, mutation, exception, field as it appears in the message)
CASES = [
    ("not-a-dict", lambda sd: [1, 2], TypeError, None),
    ("no-model", _del(["model"]), ValueError, "model"),
    ("no-history", _del(["history"]), ValueError, "history"),
    ("step-str", _set(["step"], "21"), TypeError, "step"),
    ("step-bool", _set(["step"], True), TypeError, "step"),
    ("step-float", _set(["step"], 21.0), TypeError, "step"),
    ("step-negative", _set(["step"], -1), ValueError, "step"),
    ("epoch-absurd", _set(["epoch"], 10**9), ValueError, "epoch"),
    ("epoch-negative", _set(["epoch"], -3), ValueError, "epoch"),
    ("model-not-dict", _set(["model"], [1, 2]), TypeError, "model"),
    ("model-missing-key", _del(["model", "0.bias"]), ValueError, "model"),
    ("model-extra-key", _set(["model", "9.weight"], np.zeros(3, np.float32)), ValueError, "model"),
    ("model-shape", _set(["model", "0.weight"], np.zeros((5, 16), np.float32)), ValueError, "model['0.weight']"),
    ("model-type", _set(["model", "0.weight"], [[1.0]]), TypeError, "model['0.weight']"),
    ("model-nan", _nan_weight, ValueError, "model['3.weight']"),
    ("optimizer-not-dict", _set(["optimizer"], "adam"), TypeError, "optimizer"),
    ("optimizer-kind", _set(["optimizer_kind"], "SGD"), ValueError, "optimizer_kind"),
    ("optimizer-no-groups", _del(["optimizer", "param_groups"]), TypeError, "optimizer.param_groups"),
    ("optimizer-extra-group", _one_more_group, ValueError, "optimizer"),
    ("optimizer-state-shape", _set(["optimizer", "state", 0, "exp_avg"], np.zeros((2, 2), np.float32)), ValueError,
     "optimizer"),
    ("optimizer-state-type", _set(["optimizer", "state", 0, "step"], "7"), TypeError, "optimizer.state[0].step"),
    ("optimizer-negative-lr", _set(["optimizer", "param_groups", 0, "lr"], -1.0), ValueError, "optimizer"),
    ("scheduler-missing", _set(["scheduler"], None), ValueError, "scheduler"),
    ("scheduler-absent", _del(["scheduler"]), ValueError, "scheduler"),
    ("scheduler-kind", _set(["scheduler_kind"], "StepLR"), ValueError, "scheduler_kind"),
    ("scheduler-last-epoch", _set(["scheduler", "last_epoch"], "x"), TypeError, "scheduler.last_epoch"),
    ("scheduler-base-lrs", _set(["scheduler", "base_lrs"], [0.1, 0.2]), ValueError, "scheduler.base_lrs"),
    ("loader-past-end", _set(["loader", "batch"], 99), ValueError, "loader"),
    ("loader-missing-key", _del(["loader", "seed"]), ValueError, "loader"),
    ("loader-negative", _set(["loader", "epoch"], -1), ValueError, "loader"),
    ("loader-not-dict", _set(["loader"], 3), TypeError, "loader"),
    ("rng-missing", _set(["rng"], {}), ValueError, "rng"),
    ("rng-garbage", _garbage_rng, ValueError, "rng['2:rng']"),
    ("global-rng-garbage", _set(["global_rng"], {"foo": 1}), ValueError, "global_rng"),
    ("global-rng-type", _set(["global_rng"], "seed0"), TypeError, "global_rng"),
    ("history-not-dict", _set(["history"], "lots"), TypeError, "history"),
    ("history-too-long", _too_many_step_records, ValueError, "history.steps"),
    ("history-record-type", _set(["history", "steps", 0], 5), TypeError, "history.steps"),
    ("epoch-sums-keys", _set(["epoch_sums"], {"n": 8.0, "loss": 1.0}), ValueError, "epoch_sums"),
    ("epoch-sums-type", _set(["epoch_sums", "loss"], "1.5"), TypeError, "epoch_sums['loss']"),
]


def _check_refused(trainer, load, exc, field, path=None):
    before = everything(trainer)
    with pytest.raises(exc) as info:
        load()
    msg = str(info.value)
    if path is not None and field is None:  # not even a state: the reader refuses it
        assert f"checkpoint '{path}' cannot be read: state.json: the state is a list, expected a dict" in msg
    elif path is not None:
        assert f"Trainer.load_checkpoint('{path}')" in msg, msg
    else:
        assert msg.startswith("Trainer.load_state_dict"), msg
    if field is not None:
        assert f"field '{field}'" in msg, msg
    assert everything(trainer) == before  # nothing was applied


@pytest.mark.parametrize("case, mutate, exc, field", CASES, ids=[c[0] for c in CASES])
def test_a_bad_state_dict_changes_nothing(good_sd, case, mutate, exc, field):
    trainer = _caught_mid_epoch()
    bad = mutate(copy.deepcopy(good_sd))
    _check_refused(trainer, lambda: trainer.load_state_dict(bad), exc, field)


@pytest.mark.parametrize("case, mutate, exc, field", CASES, ids=[c[0] for c in CASES])
def test_a_bad_checkpoint_file_changes_nothing_and_is_named(tmp_path, good_sd, case, mutate, exc, field):
    trainer = _caught_mid_epoch()
    bad = mutate(copy.deepcopy(good_sd))
    path = write_checkpoint(tmp_path / "ck", 1, bad)
    exc = ValueError if case == "not-a-dict" else exc
    _check_refused(trainer, lambda: trainer.load_checkpoint(path), exc, field, path=path)
    # through the root too (the same directory, found through latest)
    _check_refused(trainer, lambda: trainer.load_checkpoint(tmp_path / "ck"), exc, field, path=path)


def test_the_good_state_loads_both_ways(tmp_path, good_sd):
    """The control: the unmutated state loads, and then the trainer is at step 21."""
    trainer = _caught_mid_epoch()
    trainer.load_state_dict(copy.deepcopy(good_sd))
    assert trainer.step == 21 and everything(trainer) == everything(_caught_mid_epoch(21))
    trainer = _caught_mid_epoch()
    path = write_checkpoint(tmp_path / "ck", 21, copy.deepcopy(good_sd))
    trainer.load_checkpoint(path)
    assert everything(trainer) == everything(_caught_mid_epoch(21))


def _sgd_trainer():
    trainer, loader, val = tiny.build()
    model = trainer.model
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=tiny.TOTAL_STEPS)
    t = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, progress=False)
    t.fit(loader, epochs=1, val=val)
    return t


def test_an_adam_checkpoint_is_refused_by_an_sgd_trainer(tmp_path, good_sd):
    trainer = _sgd_trainer()
    _check_refused(trainer, lambda: trainer.load_state_dict(copy.deepcopy(good_sd)), ValueError, "optimizer_kind")
    path = write_checkpoint(tmp_path / "ck", 21, copy.deepcopy(good_sd))
    _check_refused(trainer, lambda: trainer.load_checkpoint(path), ValueError, "optimizer_kind", path=path)
    # a checkpoint from before the optimiser's class was recorded: its hyper-parameter names give it away
    legacy = copy.deepcopy(good_sd)
    del legacy["optimizer_kind"]
    with pytest.raises(ValueError, match=re.escape("field 'optimizer.param_groups[0]': hyper-parameters "
                                                   "['amsgrad', 'betas', 'decoupled_weight_decay', 'eps']")):
        trainer.load_state_dict(legacy)


def test_a_scheduler_state_is_refused_by_a_trainer_without_one(good_sd):
    trainer, loader, val = tiny.build()
    t = Trainer(trainer.model, nn.CrossEntropyLoss(), trainer.optimizer, progress=False)
    t.fit(loader, epochs=1, val=val)
    _check_refused(t, lambda: t.load_state_dict(copy.deepcopy(good_sd)), ValueError, "scheduler")
    with pytest.raises(ValueError, match="holds the state of a OneCycleLR but this Trainer has no scheduler"):
        t.load_state_dict(copy.deepcopy(good_sd))


def test_an_unexpected_failure_while_applying_is_rolled_back(good_sd, monkeypatch):
    """Belt and braces: should applying fail after validation passed, everything is put back."""
    trainer = _caught_mid_epoch()
    before = everything(trainer)

    real, calls = trainer.history.load_state_dict, []

    def boom(state):  # the history is applied after the model, optimiser, scheduler, loader and RNGs
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("disk vanished")
        return real(state)

    monkeypatch.setattr(trainer.history, "load_state_dict", boom)
    with pytest.raises(RuntimeError, match="disk vanished"):
        trainer.load_state_dict(copy.deepcopy(good_sd))
    monkeypatch.undo()
    assert everything(trainer) == before
