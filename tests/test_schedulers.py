"""Learning-rate schedules: the lr sequence of torch.optim.lr_scheduler, state_dict, warm-up, errors.

torch's StepLR, ExponentialLR and CosineAnnealingLR update the lr recursively; layerlab
evaluates their closed form, so those sequences are compared to 1e-13 relative, and to
torch's own closed form (``_get_closed_form_lr``) exactly. OneCycleLR is a closed form
in both and must agree bit for bit, momentum included.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch

import layerlab as ll
from layerlab import optim
from layerlab.optim import lr_scheduler as sched

N = 100


def _ll_opt(kind="SGD", lrs=(0.1,), **kw):
    groups = [{"params": [ll.tensor(np.zeros(2), requires_grad=True)], "lr": lr} for lr in lrs]
    return getattr(optim, kind)(groups, **kw)


def _torch_opt(kind="SGD", lrs=(0.1,), **kw):
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return getattr(torch.optim, kind)(groups, **kw)


def _sequence(scheduler, opt, n=N, key="lr"):
    """Values of group[key] for every group, at t = 0 (after construction) and after each of n steps."""
    out = [[g[key] for g in opt.param_groups]]
    for _ in range(n):
        opt.step()  # no gradients: nothing moves, but torch wants step() before scheduler.step()
        scheduler.step()
        out.append([g[key] for g in opt.param_groups])
    return out


CLOSED_FORM = [
    ("StepLR", dict(step_size=7), dict(step_size=7)),
    ("StepLR", dict(step_size=3, gamma=0.5), dict(step_size=3, gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.95), dict(gamma=0.95)),
    ("CosineAnnealingLR", dict(T_max=30), dict(T_max=30)),  # 100 steps: past T_max it rises again
    ("CosineAnnealingLR", dict(T_max=100, eta_min=1e-3), dict(T_max=100, eta_min=1e-3)),
    ("CosineAnnealingLR", dict(T_max=17, eta_min=0.01), dict(T_max=17, eta_min=0.01)),
]


@pytest.mark.parametrize("name,kw,tkw", CLOSED_FORM, ids=[f"{n}-{k}" for n, k, _ in CLOSED_FORM])
def test_lr_sequence_matches_torch(name, kw, tkw):
    lrs = (0.1, 0.03)
    opt, topt = _ll_opt(lrs=lrs), _torch_opt(lrs=lrs)
    ours = np.array(_sequence(getattr(sched, name)(opt, **kw), opt))
    theirs = np.array(_sequence(getattr(torch.optim.lr_scheduler, name)(topt, **tkw), topt))
    assert ours.shape == (N + 1, 2)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-17)
    assert len(np.unique(ours[:, 0])) > 3  # it does change


@pytest.mark.parametrize("name,kw,tkw", CLOSED_FORM, ids=[f"{n}-{k}" for n, k, _ in CLOSED_FORM])
def test_lr_equals_torch_closed_form_exactly(name, kw, tkw):
    opt, topt = _ll_opt(lrs=(0.1, 0.03)), _torch_opt(lrs=(0.1, 0.03))
    s = getattr(sched, name)(opt, **kw)
    ts = getattr(torch.optim.lr_scheduler, name)(topt, **tkw)
    for t in range(N):
        ts.last_epoch = t
        assert s.lr_at(t) == ts._get_closed_form_lr()


ONE_CYCLE = [
    dict(max_lr=0.1, total_steps=N),
    dict(max_lr=[0.1, 0.5], total_steps=N, pct_start=0.25, anneal_strategy="linear"),
    dict(max_lr=0.1, epochs=4, steps_per_epoch=25, three_phase=True),
    dict(max_lr=0.1, total_steps=N, three_phase=True, anneal_strategy="linear", div_factor=10.0,
         final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9),
    dict(max_lr=0.1, total_steps=N, cycle_momentum=False),
    dict(max_lr=0.1, total_steps=N, pct_start=0.0),
]


@pytest.mark.parametrize("kind", ["SGD", "Adam"])
@pytest.mark.parametrize("kw", ONE_CYCLE, ids=range(len(ONE_CYCLE)))
def test_one_cycle_matches_torch_exactly(kind, kw):
    okw = dict(momentum=0.9) if kind == "SGD" else {}
    opt, topt = _ll_opt(kind, (0.1, 0.2), **okw), _torch_opt(kind, (0.1, 0.2), **okw)
    s = sched.OneCycleLR(opt, **kw)
    ts = torch.optim.lr_scheduler.OneCycleLR(topt, **kw)
    ours, theirs = [], []
    for t in range(N + 1):  # torch allows total_steps + 1 values (t = 0 ... total_steps)
        ours.append([(g["lr"], g.get("momentum"), tuple(g.get("betas", ()))) for g in opt.param_groups])
        theirs.append([(g["lr"], g.get("momentum"), tuple(g.get("betas", ()))) for g in topt.param_groups])
        if t < N:
            opt.step(), topt.step()
            s.step(), ts.step()
    assert ours == theirs
    lr = [o[0][0] for o in ours]
    peak = int(np.argmax(lr))
    assert lr[-1] < lr[0] <= lr[peak]  # the notes' one cycle: low -> max -> lower
    assert lr[0] < lr[peak] or kw.get("pct_start") == 0.0
    with pytest.raises(ValueError, match="total_steps"):
        s.step()


def test_one_cycle_momentum_goes_the_other_way():
    opt = _ll_opt("SGD", momentum=0.9)
    s = sched.OneCycleLR(opt, max_lr=1.0, total_steps=50)
    lr, mom = [opt.param_groups[0]["lr"]], [opt.param_groups[0]["momentum"]]
    for _ in range(49):
        s.step()
        lr.append(opt.param_groups[0]["lr"])
        mom.append(opt.param_groups[0]["momentum"])
    assert np.argmax(lr) == np.argmin(mom)
    assert mom[0] == 0.95 and min(mom) == pytest.approx(0.85)


def test_one_cycle_needs_momentum_or_betas():
    with pytest.raises(ValueError, match="neither momentum nor betas"):
        sched.OneCycleLR(_ll_opt("Adagrad"), max_lr=0.1, total_steps=10)
    sched.OneCycleLR(_ll_opt("Adagrad"), max_lr=0.1, total_steps=10, cycle_momentum=False)


# --------------------------------------------------------------------------------------------
# LinearWarmup
# --------------------------------------------------------------------------------------------

def test_warmup_on_an_optimizer_is_torch_linear_lr():
    opt, topt = _ll_opt(lrs=(0.1, 0.3)), _torch_opt(lrs=(0.1, 0.3))
    ours = _sequence(sched.LinearWarmup(opt, warmup_steps=10, start_factor=0.25), opt, 30)
    theirs = _sequence(torch.optim.lr_scheduler.LinearLR(topt, start_factor=0.25, total_iters=10), topt, 30)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13)
    assert ours[10:] == [[0.1, 0.3]] * 21


def test_warmup_then_cosine_is_torch_sequential_lr():
    """Warm-up delays the wrapped schedule: torch's SequentialLR([LinearLR, Cosine], milestones=[W])."""
    W = 8
    opt, topt = _ll_opt(lrs=(0.1,)), _torch_opt(lrs=(0.1,))
    ours = _sequence(sched.LinearWarmup(sched.CosineAnnealingLR(opt, T_max=40), W, start_factor=0.1), opt, 60)
    tl = torch.optim.lr_scheduler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR steps its children with an epoch argument
        seq = tl.SequentialLR(topt, [tl.LinearLR(topt, start_factor=0.1, total_iters=W),
                                     tl.CosineAnnealingLR(topt, T_max=40)], milestones=[W])
        theirs = _sequence(seq, topt, 60)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-17)


def test_warmup_values_by_hand():
    opt = _ll_opt(lrs=(0.2,))
    s = sched.LinearWarmup(sched.StepLR(opt, step_size=2, gamma=0.5), warmup_steps=4)
    seq = [v[0] for v in _sequence(s, opt, 8)]
    np.testing.assert_allclose(seq, [0.0, 0.05, 0.1, 0.15, 0.2, 0.2, 0.1, 0.1, 0.05], rtol=1e-15)
    assert s.inner.last_epoch == 4


def test_warmup_over_one_cycle_holds_its_momentum():
    opt = _ll_opt("SGD", momentum=0.9)
    s = sched.LinearWarmup(sched.OneCycleLR(opt, max_lr=1.0, total_steps=20), warmup_steps=5)
    mom = [v[0] for v in _sequence(s, opt, 5, key="momentum")]
    assert mom == [0.95] * 6
    s.step()
    assert opt.param_groups[0]["momentum"] < 0.95


# --------------------------------------------------------------------------------------------
# state_dict and pure functions
# --------------------------------------------------------------------------------------------

def _make(name, opt):
    return {
        "StepLR": lambda: sched.StepLR(opt, step_size=5, gamma=0.5),
        "ExponentialLR": lambda: sched.ExponentialLR(opt, gamma=0.9),
        "CosineAnnealingLR": lambda: sched.CosineAnnealingLR(opt, T_max=20, eta_min=1e-4),
        "OneCycleLR": lambda: sched.OneCycleLR(opt, max_lr=0.5, total_steps=60),
        "LinearWarmup": lambda: sched.LinearWarmup(sched.CosineAnnealingLR(opt, T_max=30), warmup_steps=5),
    }[name]()


@pytest.mark.parametrize("name", ["StepLR", "ExponentialLR", "CosineAnnealingLR", "OneCycleLR", "LinearWarmup"])
def test_state_dict_resumes_the_sequence(name):
    import json

    opt = _ll_opt("SGD", lrs=(0.1, 0.05), momentum=0.9)
    s = _make(name, opt)
    full = _sequence(s, opt, 50)

    opt1 = _ll_opt("SGD", lrs=(0.1, 0.05), momentum=0.9)
    s1 = _make(name, opt1)
    _sequence(s1, opt1, 20)
    sd = json.loads(json.dumps(s1.state_dict()))  # JSON-able
    osd = opt1.state_dict()

    opt2 = _ll_opt("SGD", lrs=(7.0, 7.0), momentum=0.0)
    s2 = _make(name, opt2)
    opt2.load_state_dict(osd)
    s2.load_state_dict(sd)
    assert s2.last_epoch == 20 and s2.get_last_lr() == full[20]
    rest = _sequence(s2, opt2, 30)
    assert rest == full[20:]


@pytest.mark.parametrize("name", ["StepLR", "ExponentialLR", "CosineAnnealingLR", "OneCycleLR", "LinearWarmup"])
def test_get_last_lr_and_lr_at(name):
    opt = _ll_opt("SGD", lrs=(0.1, 0.05), momentum=0.9)
    s = _make(name, opt)
    for t in range(1, 12):
        s.step()
        assert s.get_last_lr() == [g["lr"] for g in opt.param_groups] == s.lr_at(t)


def test_pure_schedules():
    np.testing.assert_allclose([sched.step_decay(1.0, 2, 0.5)(t) for t in range(5)], [1, 1, 0.5, 0.5, 0.25])
    np.testing.assert_allclose([sched.exponential_decay(2.0, 0.5)(t) for t in range(3)], [2, 1, 0.5])
    cos = sched.cosine_annealing(1.0, 4, 0.0)
    np.testing.assert_allclose([cos(t) for t in range(5)], [1, 0.5 + 0.5 * np.cos(np.pi / 4), 0.5,
                                                            0.5 - 0.5 * np.cos(np.pi / 4), 0], atol=1e-16)
    oc = sched.one_cycle(1.0, total_steps=10, pct_start=0.5, anneal_strategy="linear", div_factor=10.0,
                         final_div_factor=2.0)  # up over t = 0..4, down over t = 4..9
    np.testing.assert_allclose([oc(t) for t in range(10)],
                               [0.1, 0.325, 0.55, 0.775, 1.0, 0.81, 0.62, 0.43, 0.24, 0.05], rtol=1e-14)
    warm = sched.linear_warmup(sched.constant(0.4), 4, start_factor=0.5)
    assert [warm(t) for t in range(6)] == [0.2, 0.25, 0.30000000000000004, 0.35000000000000003, 0.4, 0.4]
    assert isinstance(cos(3), float)
    again = pickle.loads(pickle.dumps(cos))  # picklable, for process pools
    assert again(3) == cos(3)


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make,exc,match", [
    (lambda o: sched.StepLR(o, step_size=0), ValueError, "StepLR: step_size must be a positive int, got 0"),
    (lambda o: sched.StepLR(o, step_size=2.5), TypeError, r"StepLR: step_size must be a positive int, got 2.5 \(float\)"),
    (lambda o: sched.StepLR(o, step_size=True), TypeError, r"step_size must be a positive int, got True \(bool\)"),
    (lambda o: sched.StepLR(o, step_size=2, gamma=-0.1), ValueError, "StepLR: gamma must be a finite number > 0"),
    (lambda o: sched.ExponentialLR(o, gamma=0.0), ValueError, "gamma"),
    (lambda o: sched.CosineAnnealingLR(o, T_max=0), ValueError, "T_max"),
    (lambda o: sched.CosineAnnealingLR(o, T_max=10, eta_min=-1.0), ValueError, "eta_min"),
    (lambda o: sched.OneCycleLR(o, max_lr=0.1), ValueError, "total_steps OR"),
    (lambda o: sched.OneCycleLR(o, max_lr=0.1, total_steps=0), ValueError,
     "OneCycleLR: total_steps must be a positive int, got 0"),
    (lambda o: sched.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1.5), ValueError,
     r"OneCycleLR: pct_start must be in \[0, 1\], got 1.5"),
    (lambda o: sched.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=0.1), ValueError, "phase 1"),
    (lambda o: sched.OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="exp"), ValueError,
     "anneal_strategy"),
    (lambda o: sched.OneCycleLR(o, max_lr=[0.1, 0.2], total_steps=10), ValueError, "expected 1 values for max_lr"),
    (lambda o: sched.LinearWarmup(o, warmup_steps=0), ValueError, "warmup_steps"),
    (lambda o: sched.LinearWarmup(o, warmup_steps=3, start_factor=2.0), ValueError, "start_factor"),
    (lambda o: sched.LinearWarmup("sgd", warmup_steps=3), TypeError, "Optimizer or a scheduler"),
    (lambda o: sched.StepLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)]), 3), TypeError,
     "layerlab Optimizer"),
    (lambda o: sched.StepLR(o, 3, last_epoch=5), KeyError, "initial_lr"),
])
def test_bad_arguments_raise(make, exc, match):
    with pytest.raises(exc, match=match):
        make(_ll_opt("SGD", momentum=0.9))


def test_each_scheduler_says_how_often_it_steps():
    """``interval`` is a class attribute the Trainer reads: per batch for the cycle and the warm-up."""
    assert sched.LRScheduler.interval == "epoch"
    assert {c.__name__: c.interval for c in (sched.StepLR, sched.ExponentialLR, sched.CosineAnnealingLR,
                                              sched.OneCycleLR, sched.LinearWarmup)} == {
        "StepLR": "epoch", "ExponentialLR": "epoch", "CosineAnnealingLR": "epoch",
        "OneCycleLR": "step", "LinearWarmup": "step"}

    class Mine(sched.LRScheduler):
        interval = "step"

        def _schedule(self, base_lr, i):
            return sched.constant(base_lr)

    assert Mine(_ll_opt()).interval == "step"


def test_numpy_ints_are_accepted_and_stored_as_python_ints():
    s = sched.OneCycleLR(_ll_opt(), max_lr=0.1, total_steps=np.int64(50))
    assert type(s.total_steps) is int and s.state_dict()["total_steps"] == 50
    assert type(sched.StepLR(_ll_opt(), step_size=np.int32(3)).step_size) is int
