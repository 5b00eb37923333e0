"""Optimisers: PyTorch trajectories, checkpoints, groups, dtypes, quadratics, equivalences, errors.

The model is a 5-8-3 tanh MLP with an MSE loss, built from tensor ops. layerlab's
engine and torch's autograd compute the gradients separately, on identical float64
weights; after every one of 200 steps the parameters must agree to 1e-9 relative.

The hyper-parameters keep the runs in a stable regime. In an unstable one (e.g. Adam
with β₁ = 0.3 at lr 3e-3 here, or centred RMSprop with α = 0.9) two runs that differ
by one rounding per step (torch's CPU kernels use fused multiply-adds, NumPy does not)
separate by a factor ~3 per step after a while, whatever the implementation.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import layerlab as ll
from layerlab import optim
from layerlab.optim.optimizers import Transform

N_STEPS = 200
RTOL = 1e-9


# --------------------------------------------------------------------------------------------
# helpers: one model in layerlab and in torch
# --------------------------------------------------------------------------------------------

def _problem(seed: int = 0):
    """Initial weights (W1, b1, W2, b2) and data for a 5-8-3 regression that does not fit exactly."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(32, 5))
    teacher = rng.normal(size=(5, 3))
    y = np.tanh(x @ teacher) + 0.3 * rng.normal(size=(32, 3))
    weights = [rng.normal(scale=0.5, size=(5, 8)), rng.normal(scale=0.1, size=8),
               rng.normal(scale=0.5, size=(8, 3)), rng.normal(scale=0.1, size=3)]
    return x, y, weights


def _ll_loss(params, x, y, sign=1.0):
    w1, b1, w2, b2 = params
    h = (ll.tensor(x) @ w1 + b1).tanh()
    d = h @ w2 + b2 - ll.tensor(y)
    return (d * d).mean() * sign


def _torch_loss(params, x, y, sign=1.0):
    w1, b1, w2, b2 = params
    h = torch.tanh(torch.from_numpy(x) @ w1 + b1)
    d = h @ w2 + b2 - torch.from_numpy(y)
    return (d * d).mean() * sign


def _ll_params(weights, dtype=np.float64):
    return [ll.tensor(np.array(w, dtype=dtype), requires_grad=True) for w in weights]


def _ll_step(opt, params, x, y, sign=1.0):
    opt.zero_grad()
    _ll_loss(params, x, y, sign).backward()
    opt.step()


def _groups(params, groups):
    """Parameter groups: ``groups`` is None (one group) or a list of (indices, overrides)."""
    if groups is None:
        return params
    return [dict(params=[params[i] for i in idx], **over) for idx, over in groups]


OPTIMIZERS = ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Adamax", "NAdam"]

# (name, kwargs, loss sign): each variant named in the brief, with and without weight decay.
CASES = [
    ("SGD", dict(lr=0.05), 1.0),
    ("SGD", dict(lr=0.05, weight_decay=0.01), 1.0),
    ("SGD", dict(lr=0.02, momentum=0.9), 1.0),
    ("SGD", dict(lr=0.02, momentum=0.9, dampening=0.3), 1.0),
    ("SGD", dict(lr=0.02, momentum=0.9, dampening=0.3, weight_decay=0.01), 1.0),
    ("SGD", dict(lr=0.02, momentum=0.9, nesterov=True), 1.0),
    ("SGD", dict(lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.05), 1.0),
    ("SGD", dict(lr=0.02, momentum=0.5, maximize=True), -1.0),
    ("Adagrad", dict(lr=0.05), 1.0),
    ("Adagrad", dict(lr=0.05, weight_decay=0.01), 1.0),
    ("Adagrad", dict(lr=0.05, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1), 1.0),
    ("Adagrad", dict(lr=0.05, maximize=True), -1.0),
    ("RMSprop", dict(lr=1e-3), 1.0),
    ("RMSprop", dict(lr=1e-3, weight_decay=0.01), 1.0),
    ("RMSprop", dict(lr=1e-3, centered=True), 1.0),
    ("RMSprop", dict(lr=1e-3, momentum=0.9), 1.0),
    ("RMSprop", dict(lr=1e-3, momentum=0.9, centered=True), 1.0),
    ("RMSprop", dict(lr=1e-3, alpha=0.95, momentum=0.5, centered=True, weight_decay=0.01, maximize=True), -1.0),
    ("Adadelta", dict(), 1.0),
    ("Adadelta", dict(lr=0.5, rho=0.95, weight_decay=0.01), 1.0),
    ("Adam", dict(), 1.0),
    ("Adam", dict(lr=3e-3, weight_decay=0.01), 1.0),
    ("Adam", dict(lr=3e-3, amsgrad=True), 1.0),
    ("Adam", dict(lr=3e-3, amsgrad=True, weight_decay=0.01), 1.0),
    ("Adam", dict(betas=(0.4, 0.99), eps=1e-3), 1.0),  # 1 − β₁ ≥ ½: the other branch of torch's lerp
    ("Adam", dict(lr=3e-3, weight_decay=0.1, decoupled_weight_decay=True, maximize=True), -1.0),
    ("AdamW", dict(), 1.0),  # torch's default weight_decay = 0.01
    ("AdamW", dict(lr=3e-3, weight_decay=0.0), 1.0),
    ("AdamW", dict(lr=3e-3, weight_decay=0.0, amsgrad=True), 1.0),
    ("AdamW", dict(lr=3e-3, weight_decay=0.1, amsgrad=True), 1.0),
    ("Adamax", dict(), 1.0),
    ("Adamax", dict(lr=3e-3, weight_decay=0.01, betas=(0.8, 0.99)), 1.0),
    ("NAdam", dict(), 1.0),
    ("NAdam", dict(lr=3e-3, weight_decay=0.01, momentum_decay=0.01), 1.0),
    ("NAdam", dict(lr=3e-3, weight_decay=0.1, decoupled_weight_decay=True), 1.0),
    ("NAdam", dict(maximize=True), -1.0),
]


@pytest.fixture
def torch64():
    """torch in float64 (its optimisers keep step counts and NAdam's mu_product in the default dtype)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _assert_trajectory(name, kwargs, sign, groups=None, steps=N_STEPS):
    x, y, weights = _problem()
    ps = _ll_params(weights)
    ts = [torch.tensor(w, requires_grad=True) for w in weights]
    opt = getattr(optim, name)(_groups(ps, groups), **kwargs)
    topt = getattr(torch.optim, name)(_groups(ts, groups), foreach=False, **kwargs)
    for k in range(steps):
        _ll_step(opt, ps, x, y, sign)
        topt.zero_grad()
        _torch_loss(ts, x, y, sign).backward()
        topt.step()
        for i, (p, t) in enumerate(zip(ps, ts)):
            t = t.detach().numpy()
            if not np.all(np.abs(p.data - t) <= 1e-12 + RTOL * np.abs(t)):  # cheap check, then the report
                np.testing.assert_allclose(p.data, t, rtol=RTOL, atol=1e-12,
                                           err_msg=f"{name}({kwargs}) parameter {i} after step {k + 1}")
    return ps, weights


@pytest.mark.parametrize("name,kwargs,sign", CASES, ids=[f"{n}-{k}" for n, k, _ in CASES])
def test_trajectory_matches_torch(torch64, name, kwargs, sign):
    ps, w0 = _assert_trajectory(name, kwargs, sign)
    # the test is only worth something if the parameters moved
    assert max(np.max(np.abs(p.data - w)) for p, w in zip(ps, w0)) > 1e-3


@pytest.mark.parametrize("name,groups", [
    ("SGD", [([0, 1], dict(lr=0.05)), ([2, 3], dict(lr=0.01, momentum=0.9, nesterov=True))]),
    ("Adam", [([0, 1], dict(lr=1e-2, weight_decay=0.1)), ([2, 3], dict())]),
    ("RMSprop", [([0, 2], dict(lr=1e-3, centered=True)), ([1, 3], dict(lr=5e-3, momentum=0.5))]),
])
def test_param_groups_with_different_lrs_match_torch(torch64, name, groups):
    _assert_trajectory(name, dict(), 1.0, groups=groups, steps=100)


def test_param_groups_really_use_their_own_lr():
    a = ll.tensor(np.array([1.0]), requires_grad=True)
    b = ll.tensor(np.array([1.0]), requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = np.array([1.0]), np.array([1.0])
    opt.step()
    assert a.data[0] == pytest.approx(0.9) and b.data[0] == pytest.approx(0.5)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.5


def test_scheduler_style_lr_change_takes_effect():
    """Schedulers write group['lr']; the next step must use it (the chain reads the group every step)."""
    x, y, weights = _problem()
    ps = _ll_params(weights)
    opt = optim.Adam(ps, lr=1e-3)
    _ll_step(opt, ps, x, y)
    before = [p.data.copy() for p in ps]
    opt.param_groups[0]["lr"] = 0.0
    _ll_step(opt, ps, x, y)
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.data, b)


# --------------------------------------------------------------------------------------------
# state_dict: resuming is bit for bit
# --------------------------------------------------------------------------------------------

RESUME = [
    ("SGD", dict(lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.05, lr_decay=0.01)),
    ("RMSprop", dict(lr=1e-3, momentum=0.5, centered=True)),
    ("Adadelta", dict(weight_decay=0.01)),
    ("Adam", dict(lr=3e-3, amsgrad=True, weight_decay=0.01)),
    ("AdamW", dict(lr=3e-3)),
    ("Adamax", dict(lr=3e-3)),
    ("NAdam", dict(lr=3e-3, weight_decay=0.01, decoupled_weight_decay=True)),
]


@pytest.mark.parametrize("via", ["state_dict", "json+arrays", "safetensors"])
@pytest.mark.parametrize("name,kwargs", RESUME, ids=[n for n, _ in RESUME])
def test_resume_is_bit_exact(tmp_path, name, kwargs, via):
    x, y, weights = _problem(1)
    ref = _ll_params(weights)
    ropt = getattr(optim, name)(ref, **kwargs)
    for _ in range(100):
        _ll_step(ropt, ref, x, y)

    ps = _ll_params(weights)
    opt = getattr(optim, name)(ps, **kwargs)
    for _ in range(50):
        _ll_step(opt, ps, x, y)
    saved_params = [p.data.copy() for p in ps]
    if via == "state_dict":
        sd = opt.state_dict()
    else:
        arrays, meta = opt.state_arrays()
        if via == "safetensors":
            from safetensors.numpy import load_file, save_file

            save_file(arrays, str(tmp_path / "opt.safetensors"), metadata={"optim": json.dumps(meta)})
            arrays = load_file(str(tmp_path / "opt.safetensors"))
        meta = json.loads(json.dumps(meta))
    for _ in range(3):  # the saved state must not follow the optimiser it came from
        _ll_step(opt, ps, x, y)

    fresh = [ll.tensor(a, requires_grad=True) for a in saved_params]
    opt2 = getattr(optim, name)(fresh, lr=123.0)  # hyper-parameters come from the saved state
    if via == "state_dict":
        opt2.load_state_dict(sd)
    else:
        opt2.load_state_arrays(arrays, meta)
    assert opt2.param_groups[0]["lr"] == kwargs.get("lr", opt.defaults["lr"])
    for _ in range(50):
        _ll_step(opt2, fresh, x, y)
    for p, r in zip(fresh, ref):
        np.testing.assert_array_equal(p.data, r.data)


def test_state_dict_layout_is_torch_like():
    x, y, weights = _problem()
    ps = _ll_params(weights)
    opt = optim.Adam([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.1}], amsgrad=True)
    _ll_step(opt, ps, x, y)
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3]]
    assert sd["param_groups"][1]["lr"] == 0.1
    assert set(sd["state"]) == {0, 1, 2, 3}
    assert set(sd["state"][2]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert sd["state"][2]["step"] == 1 and sd["state"][2]["exp_avg"].shape == (8, 3)


def test_load_state_dict_rejects_mismatches():
    x, y, weights = _problem()
    ps = _ll_params(weights)
    opt = optim.Adam(ps)
    _ll_step(opt, ps, x, y)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.Adam([{"params": ps[:2]}, {"params": ps[2:]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="3 here"):
        optim.Adam(ps[:3]).load_state_dict(sd)
    other = _ll_params([w.T.copy() for w in weights])
    with pytest.raises(ValueError, match=r"shape \(5, 8\), expected the parameter's shape \(8, 5\)"):
        optim.Adam(other).load_state_dict(sd)


def test_load_state_dict_casts_to_parameter_dtype():
    x, y, weights = _problem()
    ps = _ll_params(weights)
    opt = optim.Adam(ps)
    _ll_step(opt, ps, x, y)
    ps32 = _ll_params(weights, np.float32)
    opt32 = optim.Adam(ps32)
    opt32.load_state_dict(opt.state_dict())
    assert all(v.dtype == np.float32 for s in opt32.state.values() for v in s.values() if isinstance(v, np.ndarray))


# --------------------------------------------------------------------------------------------
# dtype: float32 stays float32, with no float64 temporary anywhere
# --------------------------------------------------------------------------------------------

class _NoFloat64(np.ndarray):
    """An array that raises if a ufunc touches float64 data (an upcast hidden behind out=)."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        arrays = [a for a in inputs + kwargs.get("out", ()) if isinstance(a, (np.ndarray, np.generic))]
        if any(a.dtype == np.float64 for a in arrays):
            raise AssertionError(f"float64 operand in {ufunc.__name__}: {[a.dtype for a in arrays]}")
        inputs = tuple(a.view(np.ndarray) if isinstance(a, _NoFloat64) else a for a in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(a.view(np.ndarray) if isinstance(a, _NoFloat64) else a for a in kwargs["out"])
        result = getattr(ufunc, method)(*inputs, **kwargs)
        if isinstance(result, np.ndarray) and result.dtype == np.float32:
            return result.view(_NoFloat64)
        return result


def test_the_float64_guard_catches_an_upcast():
    a = np.ones(3, dtype=np.float32).view(_NoFloat64)
    a *= 0.5  # a Python float is fine
    with pytest.raises(AssertionError, match="float64"):
        a *= np.float64(0.5)


ALL_FEATURES = {
    "SGD": dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.01),
    "Adagrad": dict(lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1),
    "RMSprop": dict(momentum=0.9, centered=True, weight_decay=0.01),
    "Adadelta": dict(weight_decay=0.01),
    "Adam": dict(amsgrad=True, weight_decay=0.01),
    "AdamW": dict(amsgrad=True),
    "Adamax": dict(weight_decay=0.01),
    "NAdam": dict(weight_decay=0.01, decoupled_weight_decay=True),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_float32_stays_float32_without_float64_temporaries(name):
    x, y, weights = _problem()
    ps = _ll_params(weights, np.float32)
    opt = getattr(optim, name)(ps, maximize=False, **ALL_FEATURES[name])
    opt.param_groups[0]["lr"] = np.float64(opt.param_groups[0]["lr"])  # e.g. from a NumPy-based schedule
    for _ in range(3):
        opt.zero_grad()
        _ll_loss(ps, x.astype(np.float32), y.astype(np.float32)).backward()
        for p in ps:
            p.data = p.data.view(_NoFloat64)
            p.grad = p.grad.view(_NoFloat64)
        for s in opt.state.values():
            for k, v in s.items():
                if isinstance(v, np.ndarray):
                    s[k] = v.view(_NoFloat64)
        opt.step()
        for p in ps:
            p.data = p.data.view(np.ndarray)
    for p in ps:
        assert p.data.dtype == np.float32
    for s in opt.state.values():
        for k, v in s.items():
            assert not isinstance(v, np.ndarray) or v.dtype == np.float32, (name, k, v.dtype)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_signature_and_defaults_are_torchs(name):
    """Positional arguments in torch's order with torch's defaults: torch code ports unchanged."""
    import inspect

    def positional(cls):
        sig = inspect.signature(cls)
        return [(k, v.default) for k, v in sig.parameters.items() if v.kind == v.POSITIONAL_OR_KEYWORD]

    ours = positional(getattr(optim, name))
    assert ours == positional(getattr(torch.optim, name))[:len(ours)]
    assert "maximize" in inspect.signature(getattr(optim, name)).parameters


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_updates_are_in_place(name):
    p = ll.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    data = p.data
    grad = np.array([0.1, -0.2, 0.3])
    p.grad = grad.copy()
    getattr(optim, name)([p], **ALL_FEATURES[name]).step()
    assert p.data is data  # other references to the parameter see the update
    np.testing.assert_array_equal(p.grad, grad)  # and the gradient itself is untouched
    assert not np.array_equal(p.data, [1.0, 2.0, 3.0])


def _one_link_optimizer(update, init=None):
    class One(optim.Optimizer):
        chain = (Transform(init or (lambda p, hp: {}), update),)

        def __init__(self, params, lr=0.5):
            super().__init__(params, dict(lr=lr))
    return One


@pytest.mark.parametrize("returns", ["gradient", "state", "view of state", "fresh"])
def test_the_ownership_rule_decides_what_the_step_writes_into(returns):
    """A link returns its input, a state array, or a fresh array; only a fresh one is scaled in place."""
    handed_out = []

    def init(p, hp):
        return {"buf": np.full_like(p, 2.0)}

    def update(u, p, st, hp):
        out = {"gradient": u, "state": st["buf"], "view of state": st["buf"][:],
               "fresh": u * 3.0}[returns]
        handed_out.append(out)
        return out

    p = ll.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    grad = np.array([0.1, -0.2, 0.3])
    p.grad = grad.copy()
    opt = _one_link_optimizer(update, init)([p], lr=0.5)
    opt.step()
    u = {"gradient": grad, "state": np.full(3, 2.0), "view of state": np.full(3, 2.0), "fresh": grad * 3.0}[returns]
    np.testing.assert_array_equal(p.data, np.array([1.0, 2.0, 3.0]) - 0.5 * u)
    np.testing.assert_array_equal(p.grad, grad)  # never written into
    np.testing.assert_array_equal(opt.state[p]["buf"], np.full(3, 2.0))  # nor the state
    if returns == "fresh":  # the step's own array: scaled by lr in place instead of allocating lr·u
        np.testing.assert_array_equal(handed_out[0], 0.5 * grad * 3.0)


def test_momentum_buffer_is_not_scaled_by_the_step():
    p = ll.tensor(np.array([1.0, -1.0]), requires_grad=True)
    p.grad = np.array([0.5, 0.25])
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    np.testing.assert_array_equal(opt.state[p]["momentum_buffer"], [0.5, 0.25])  # b₁ = g, not η·g
    np.testing.assert_array_equal(p.data, [1.0 - 0.1 * 0.5, -1.0 - 0.1 * 0.25])


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_parameters_without_grad_are_skipped(name):
    a = ll.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = ll.tensor(np.array([3.0, 4.0]), requires_grad=True)
    opt = getattr(optim, name)([a, b])
    a.grad = np.array([0.5, -0.5])
    opt.step()
    np.testing.assert_array_equal(b.data, [3.0, 4.0])
    assert b not in opt.state and a in opt.state
    opt.zero_grad()
    assert a.grad is None


def test_zero_grad_in_place():
    a = ll.tensor(np.array([1.0, 2.0]), requires_grad=True)
    a.grad = np.array([1.0, 1.0])
    g = a.grad
    optim.SGD([a], lr=0.1).zero_grad(set_to_none=False)
    assert a.grad is g and not g.any()


def test_step_with_closure_returns_the_loss():
    w = ll.tensor(np.array([3.0]), requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with ll.no_grad():  # the closure records a graph even so
        loss = opt.step(closure)
    assert loss.item() == 9.0 and w.data[0] == pytest.approx(1.5)


# --------------------------------------------------------------------------------------------
# every optimiser minimises a quadratic (optax's alias_test)
# --------------------------------------------------------------------------------------------

TUNED = {
    "SGD": dict(lr=0.1, momentum=0.9),
    "Adagrad": dict(lr=0.5),
    "RMSprop": dict(lr=0.03),
    "Adadelta": dict(lr=1.0, eps=1e-4),
    "Adam": dict(lr=0.05),
    "AdamW": dict(lr=0.05, weight_decay=0.0),
    "Adamax": dict(lr=0.05),
    "NAdam": dict(lr=0.05),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
@settings(max_examples=8)
@given(seed=st.integers(0, 2**32 - 1))
def test_minimises_a_quadratic(name, seed):
    """f(θ) = ½ Σ aᵢ(θᵢ − cᵢ)², curvatures aᵢ ∈ [0.5, 2]: 500 steps must bring f down by 1e3 (float32)."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, size=6).astype(np.float32)
    c = rng.normal(size=6).astype(np.float32)
    theta = ll.tensor(rng.normal(size=6).astype(np.float32) * 3, requires_grad=True)

    def f():
        return 0.5 * float(np.sum(a * (theta.data - c) ** 2))

    f0 = f()
    opt = getattr(optim, name)([theta], **TUNED[name])
    for _ in range(500):
        theta.grad = a * (theta.data - c)
        opt.step()
    assert theta.data.dtype == np.float32
    assert f() <= 1e-3 * f0 + 1e-6, f"{name}: f went from {f0} to {f()}"


# --------------------------------------------------------------------------------------------
# equivalences
# --------------------------------------------------------------------------------------------

def _run(opt_factory, steps=30, seed=2):
    x, y, weights = _problem(seed)
    ps = _ll_params(weights)
    opt = opt_factory(ps)
    for _ in range(steps):
        _ll_step(opt, ps, x, y)
    return [p.data for p in ps]


@pytest.mark.parametrize("a,b", [
    (lambda ps: optim.AdamW(ps, lr=3e-3, weight_decay=0.0), lambda ps: optim.Adam(ps, lr=3e-3)),
    (lambda ps: optim.AdamW(ps, lr=3e-3, weight_decay=0.1, amsgrad=True),
     lambda ps: optim.Adam(ps, lr=3e-3, weight_decay=0.1, amsgrad=True, decoupled_weight_decay=True)),
    (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.0, dampening=0.0), lambda ps: optim.SGD(ps, lr=0.05)),
    (lambda ps: optim.NAdam(ps, weight_decay=0.0, decoupled_weight_decay=True), lambda ps: optim.NAdam(ps)),
    (lambda ps: optim.RMSprop(ps, lr=1e-3, momentum=0.0, centered=False), lambda ps: optim.RMSprop(ps, lr=1e-3)),
], ids=["adamw-wd0=adam", "adamw=adam-decoupled", "sgd-momentum0=sgd", "nadam-decoupled-wd0", "rmsprop-defaults"])
def test_equivalent_configurations_are_bit_identical(a, b):
    for pa, pb in zip(_run(a), _run(b)):
        np.testing.assert_array_equal(pa, pb)


def test_adamw_differs_from_adam_with_l2():
    """Decoupled and coupled decay are different algorithms (the order in the chain matters)."""
    pa = _run(lambda ps: optim.AdamW(ps, lr=3e-3, weight_decay=0.1))
    pb = _run(lambda ps: optim.Adam(ps, lr=3e-3, weight_decay=0.1))
    assert max(np.max(np.abs(u - v)) for u, v in zip(pa, pb)) > 1e-6


def test_plain_sgd_is_gradient_descent_by_hand():
    """θ ← θ − η·g, the notes' rule, with Nesterov's and heavy-ball momentum written out."""
    g1, g2 = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    for kw, expected in [
        (dict(), 1.0 - 0.1 * g1 - 0.1 * g2),
        (dict(momentum=0.9), 1.0 - 0.1 * g1 - 0.1 * (0.9 * g1 + g2)),
        (dict(momentum=0.9, nesterov=True), 1.0 - 0.1 * (g1 + 0.9 * g1) - 0.1 * (g2 + 0.9 * (0.9 * g1 + g2))),
        (dict(momentum=0.9, dampening=0.5), 1.0 - 0.1 * g1 - 0.1 * (0.9 * g1 + 0.5 * g2)),
    ]:
        w = ll.tensor(np.ones(2), requires_grad=True)
        opt = optim.SGD([w], lr=0.1, **kw)
        for g in (g1, g2):
            w.grad = g.copy()
            opt.step()
        np.testing.assert_allclose(w.data, expected, rtol=1e-15, err_msg=str(kw))


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=3e-3)),
    ("Adam", dict(lr=3e-3, betas=(0.4, 0.99), eps=1e-3, weight_decay=0.01)),
    ("AdamW", dict(lr=3e-3)),
])
def test_large_float32_parameters_follow_torch(name, kwargs):
    """Parameters of W1's and W6's size in float32 — the fused update kernels' domain (sub_scaled_,
    adam_direction_: compiled where numba is installed) — against torch's float32 optimisers fed the
    same gradients: equal up to float32 rounding (torch fuses multiply-adds, NumPy does not)."""
    rng = np.random.default_rng(21)
    w0 = rng.standard_normal((256, 784)).astype(np.float32)
    p = ll.tensor(w0.copy(), requires_grad=True)
    t = torch.tensor(w0.copy(), requires_grad=True)
    opt = getattr(optim, name)([p], **kwargs)
    topt = getattr(torch.optim, name)([t], foreach=False, **kwargs)
    for _ in range(5):
        g = rng.standard_normal(w0.shape).astype(np.float32)
        p.grad = g.copy()
        t.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        np.testing.assert_array_equal(p.grad, g)  # the step never writes into .grad
    assert p.data.dtype == np.float32
    assert np.max(np.abs(p.data - w0)) > 1e-3  # it moved
    np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_first_adam_step_is_lr_times_sign():
    """With bias correction the first Adam step is η·g/(|g| + ε') ≈ η·sign(g), whatever |g|."""
    w = ll.tensor(np.zeros(3), requires_grad=True)
    w.grad = np.array([1e-3, -5.0, 200.0])
    optim.Adam([w], lr=0.01, eps=0.0).step()
    np.testing.assert_allclose(w.data, [-0.01, 0.01, -0.01], rtol=1e-12)


# --------------------------------------------------------------------------------------------
# bad hyper-parameters and bad parameters
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,kwargs,match", [
    ("SGD", dict(lr=-1), "Invalid learning rate: -1"),
    ("SGD", dict(lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    ("SGD", dict(lr=0.1, weight_decay=-1e-4), "Invalid weight_decay value"),
    ("SGD", dict(lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    ("Adagrad", dict(lr_decay=-1.0), "Invalid lr_decay value"),
    ("Adagrad", dict(initial_accumulator_value=-1.0), "Invalid initial_accumulator_value value"),
    ("Adagrad", dict(eps=-1.0), "Invalid epsilon value"),
    ("RMSprop", dict(alpha=-0.1), "Invalid alpha value"),
    ("Adadelta", dict(rho=1.5), "Invalid rho value: 1.5"),
    ("Adam", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    ("Adam", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1"),
    ("Adam", dict(betas=(0.9,)), "betas must be a pair"),
    ("AdamW", dict(lr=-1e-3), "Invalid learning rate"),
    ("Adamax", dict(eps=-1e-8), "Invalid epsilon value"),
    ("NAdam", dict(momentum_decay=-1.0), "Invalid momentum_decay value"),
])
def test_bad_hyperparameters_raise(name, kwargs, match):
    p = ll.tensor(np.zeros(2), requires_grad=True)
    with pytest.raises(ValueError, match=match):
        getattr(optim, name)([p], **kwargs)


def test_bad_group_hyperparameters_raise_and_name_the_group():
    a = ll.tensor(np.zeros(2), requires_grad=True)
    b = ll.tensor(np.zeros(2), requires_grad=True)
    with pytest.raises(ValueError, match="Invalid learning rate: -0.5.*param group 1"):
        optim.Adam([{"params": [a]}, {"params": [b], "lr": -0.5}])


def test_bad_params_raise():
    a = ll.tensor(np.zeros(2), requires_grad=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(a, lr=0.1)
    with pytest.raises(TypeError, match="set has no stable order"):
        optim.SGD({a}, lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([a * 2.0], lr=0.1)
    with pytest.raises(ValueError, match="appears twice"):
        optim.SGD([a, a], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [a]}, {"params": [a]}], lr=0.1)
    with pytest.raises(TypeError, match="lr must be a finite number"):
        optim.SGD([a], lr="0.1")
    opt = optim.SGD([a], lr=0.1)
    a.grad = np.zeros(3)
    with pytest.raises(ValueError, match=r"shape \(2,\).*gradient of shape \(3,\)"):
        opt.step()
