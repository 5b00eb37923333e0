"""The activation test harness, driven by the registry ``nn.ACTIVATIONS`` (imported by the tests).

One :class:`Case` per registered activation (taken from the registry when the cases are built,
so a newly defined activation class is in them with nothing else edited), plus a few
hyperparameter variants. :func:`check_activation` runs every check on one case:

- parity with PyTorch in float64 — forward, input and parameter gradients via
  ``torch.autograd.grad``, to 1e-8 relative — at random points, at the exact kinks
  −1, 0, 1 (and 6) and at ±1000, *where the case has a torch reference*;
- a float64 finite-difference gradcheck (``ll.gradcheck``), with or without a reference;
- one fused graph node per call; float32 in -> float32 out, also at ±1000;
- ``df(x, f(x))`` (what the lab plots) equals the node's gradient and finite differences of ``f``.

References come from :data:`TORCH_REFS`, name -> torch function; where torch lacks the
function (LiSHT, BinaryStep) the entry is its formula written with torch ops, so autograd
still gives the reference gradient. An activation with no entry is still gradchecked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as TF

import layerlab as ll
from layerlab import nn
from layerlab.nn import functional as F

__all__ = [
    "Case", "TORCH_REFS", "OPTIONS", "VARIANTS", "registry_cases", "all_cases", "torch_has",
    "inputs", "module64", "run_ll", "assert_parity", "check_parity", "check_kinks_and_extremes",
    "check_gradcheck", "check_one_fused_node", "check_float32", "check_df", "check_activation",
]


@dataclass
class Case:
    id: str
    make: Callable[[], nn.Module]
    ref: Callable | None = None  # torch reference ref(x, params) -> tensor; None: no torch twin
    shapes: tuple = ((4, 5), ())
    kinks: tuple = (0.0,)  # gradcheck points are kept away from these
    functional: Callable | None = None  # fn(x, *params) for gradcheck of parametric activations
    layout: Callable | None = None  # arrange a 1-D array of test points into an input this case accepts

    def arrange(self, pts: np.ndarray) -> np.ndarray:
        return self.layout(pts) if self.layout else np.stack([pts, pts[::-1]])


#: registry name -> torch reference ``ref(x, params)`` of the activation at its default
#: hyperparameters: the torch function where torch has one, else its formula in torch ops.
TORCH_REFS: dict[str, Callable] = {
    "identity": lambda x, p: x,
    "binary_step": lambda x, p: (x >= 0).to(x.dtype) + 0 * x,  # 0 * x: gradient 0
    "sigmoid": lambda x, p: torch.sigmoid(x),
    "tanh": lambda x, p: torch.tanh(x),
    "relu": lambda x, p: torch.relu(x),
    "relu6": lambda x, p: TF.relu6(x),
    "leaky_relu": lambda x, p: TF.leaky_relu(x, 0.01),
    "prelu": lambda x, p: TF.prelu(x, p[0]),
    "elu": lambda x, p: TF.elu(x),
    "selu": lambda x, p: TF.selu(x),
    "gelu": lambda x, p: TF.gelu(x),
    "swish": lambda x, p: TF.silu(x),
    "silu": lambda x, p: TF.silu(x),
    "mish": lambda x, p: TF.mish(x),
    "lisht": lambda x, p: x * torch.tanh(x),
    "softplus": lambda x, p: TF.softplus(x),
    "softmax": lambda x, p: torch.softmax(x, -1),
    "log_softmax": lambda x, p: torch.log_softmax(x, -1),
}

#: registry name -> Case options other than the defaults
OPTIONS: dict[str, dict] = {
    "relu6": {"kinks": (0.0, 6.0)},
    "prelu": {"functional": F.prelu},
    "softmax": {"shapes": ((4, 5), (3,))},
    "log_softmax": {"shapes": ((4, 5), (3,))},
}


def _prelu_channels():
    m = nn.PReLU(5, 0.25)
    m.weight.data[:] = np.linspace(-0.3, 0.6, 5)
    return m


#: hyperparameters other than the defaults
VARIANTS = [
    Case("leaky_relu_0.2", lambda: nn.LeakyReLU(alpha=0.2), lambda x, p: TF.leaky_relu(x, 0.2)),
    Case("prelu_channels", _prelu_channels, lambda x, p: TF.prelu(x, p[0]), shapes=((4, 5), (2, 5, 3)),
         functional=F.prelu, layout=lambda pts: np.broadcast_to(pts, (2, 5, pts.size)).copy()),
    Case("elu_0.5", lambda: nn.ELU(alpha=0.5), lambda x, p: TF.elu(x, 0.5)),
    Case("gelu_tanh", lambda: nn.GELU("tanh"), lambda x, p: TF.gelu(x, approximate="tanh")),
    Case("gelu_sigmoid", lambda: nn.GELU("sigmoid"), lambda x, p: x * torch.sigmoid(1.702 * x)),
    Case("swish_1.5", lambda: nn.Swish(beta=1.5), lambda x, p: x * torch.sigmoid(1.5 * x)),
    Case("swish_learnable", lambda: nn.Swish(beta=0.7, learnable=True),
         lambda x, p: x * torch.sigmoid(p[0].reshape(()) * x),
         functional=lambda x, b: F.swish(x, b)),
    Case("softplus_b2_t5", lambda: nn.Softplus(beta=2.0, threshold=5.0), lambda x, p: TF.softplus(x, 2.0, 5.0),
         kinks=(0.0, 2.5)),
    Case("softmax_axis0", lambda: nn.Softmax(axis=0), lambda x, p: torch.softmax(x, 0), shapes=((4, 5),),
         layout=lambda pts: np.stack([pts, pts[::-1]], axis=1)),
]


def registry_cases() -> list[Case]:
    """One case per activation registered *now*, at its default hyperparameters."""
    return [Case(name, cls, TORCH_REFS.get(name), **OPTIONS.get(name, {})) for name, cls in nn.ACTIVATIONS.items()]


def all_cases() -> list[Case]:
    return registry_cases() + VARIANTS


def torch_has(name: str) -> bool:
    """True when ``torch.nn.functional`` has a function of that name (then a reference is required)."""
    return callable(getattr(TF, name, None))


# -- the checks -----------------------------------------------------------------------------------

def _away(x: np.ndarray, kinks) -> np.ndarray:
    """Move points within 0.05 of a kink 0.1 past it (finite differences are wrong across a kink)."""
    for k in kinks:
        near = np.abs(x - k) < 0.05
        x = np.where(near, k + 0.1, x)
    return x


def inputs(case: Case, shape, seed=0, low=-7.0, high=7.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = _away(rng.uniform(low, high, size=shape), case.kinks)
    return np.asarray(x, dtype=np.float64)


def module64(case: Case):
    return case.make().to(np.float64)


def run_ll(m, x: np.ndarray, g: np.ndarray):
    xt = ll.tensor(x, requires_grad=True)
    for p in m.parameters():
        p.grad = None
    y = m(xt)
    y.backward(g)
    return y, xt, [p.grad for p in m.parameters()]


def _run_torch(case: Case, m, x: np.ndarray, g: np.ndarray):
    xt = torch.tensor(x, requires_grad=True)
    ps = [torch.tensor(p.data.copy(), requires_grad=True) for p in m.parameters()]
    y = case.ref(xt, ps)
    grads = torch.autograd.grad(y, [xt, *ps], torch.tensor(g))
    return y.detach().numpy(), [gr.numpy() for gr in grads]


def assert_parity(case: Case, x: np.ndarray, seed=1):
    """Forward and backward of ``case`` at ``x`` (float64); against torch when the case has a reference."""
    m = module64(case)
    g = np.random.default_rng(seed).standard_normal(x.shape)
    y, xt, pgrads = run_ll(m, x, g)
    assert y.dtype == np.float64 and y.shape == x.shape
    if case.ref is None:
        return y, xt, pgrads
    ty, tgrads = _run_torch(case, m, x, g)
    np.testing.assert_allclose(y.data, ty, rtol=1e-8, atol=1e-12, err_msg=f"{case.id}: forward")
    np.testing.assert_allclose(xt.grad, tgrads[0], rtol=1e-8, atol=1e-12, err_msg=f"{case.id}: input grad")
    for k, (pg, tg) in enumerate(zip(pgrads, tgrads[1:])):
        np.testing.assert_allclose(pg, tg, rtol=1e-8, atol=1e-12, err_msg=f"{case.id}: grad of parameter {k}")
    return y, xt, pgrads


def check_parity(case: Case, shape) -> None:
    assert_parity(case, inputs(case, shape))


def check_kinks_and_extremes(case: Case) -> None:
    pts = np.array([-1000.0, -50.0, -6.0, -1.0, 0.0, 1.0, 6.0, 50.0, 1000.0])
    x = case.arrange(pts)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, xt, pgrads = assert_parity(case, x)
    assert np.isfinite(y.data).all() and np.isfinite(xt.grad).all(), f"{case.id}: non-finite at ±1000"
    assert all(np.isfinite(pg).all() for pg in pgrads)


def check_gradcheck(case: Case, shape) -> None:
    m = module64(case)
    x = ll.tensor(inputs(case, shape, seed=2, low=-4, high=4), requires_grad=True)
    params = list(m.parameters())
    if params:
        assert case.functional is not None, f"{case.id}: a parametric case needs functional= for gradcheck"
        ps = [ll.tensor(p.data.copy(), requires_grad=True) for p in params]
        assert ll.gradcheck(case.functional, x, *ps)
    else:
        assert ll.gradcheck(m, x)


def check_one_fused_node(case: Case, shape) -> None:
    m = module64(case)
    x = ll.tensor(inputs(case, shape), requires_grad=True)
    y = m(x)
    if isinstance(m, nn.Identity):
        assert y is x
        return
    assert y.grad_fn == type(m).name, f"{case.id}: node {y.grad_fn!r}, expected {type(m).name!r}"
    parents = y._ctx.parents
    assert parents[0] is x, f"{case.id}: intermediate nodes between x and y"
    assert len(parents) == 1 + len(list(m.parameters()))


def check_float32(case: Case, shape) -> None:
    m = case.make()  # parameters in the default dtype, float32
    x = ll.tensor(inputs(case, shape).astype(np.float32), requires_grad=True)
    y = m(x)
    assert y.dtype == np.float32, f"{case.id}: forward upcast to {y.dtype}"
    y.backward(np.ones(y.shape, dtype=np.float32))
    assert x.grad.dtype == np.float32, f"{case.id}: gradient upcast to {x.grad.dtype}"
    for p in m.parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32
    big = ll.tensor(case.arrange(np.array([-1000.0, 0.0, 1000.0])).astype(np.float32), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        yb = case.make()(big)
        yb.sum().backward()
    assert yb.dtype == np.float32 and np.isfinite(yb.data).all() and np.isfinite(big.grad).all()


def check_df(case: Case) -> None:
    """``df(x, f(x))`` equals the node's gradient and finite differences of ``f`` (elementwise only)."""
    m = module64(case)
    if not m.elementwise:
        return
    x = inputs(case, case.shapes[0], seed=3, low=-5, high=5)
    y = m.f(x)
    dy = m.df(x, y)
    _, xt, _ = run_ll(m, x, np.ones_like(x))
    np.testing.assert_allclose(dy, xt.grad, rtol=1e-12, atol=1e-15, err_msg=f"{case.id}: df vs the node")
    h = 1e-6
    np.testing.assert_allclose(dy, (m.f(x + h) - m.f(x - h)) / (2 * h), rtol=1e-6, atol=1e-8,
                               err_msg=f"{case.id}: df vs finite differences of f")


def check_activation(case: Case) -> None:
    """Every check of the harness on one case, for each of its shapes."""
    for shape in case.shapes:
        check_parity(case, shape)
        check_gradcheck(case, shape)
        check_one_fused_node(case, shape)
        check_float32(case, shape)
    check_kinks_and_extremes(case)
    check_df(case)
