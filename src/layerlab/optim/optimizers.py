"""Optimisers: torch names and semantics outside, a chain of small transforms inside.

The notes (seed 002) write gradient descent as ``w ← w − η ∂L/∂w`` and then refine
the direction: momentum (a moving-average "velocity"), Nesterov's look-ahead, and
per-parameter adaptive rates (AdaGrad, RMSProp, AdaDelta, Adam, AdaMax, Nadam,
AdamW). Every optimiser here follows ``torch.optim`` to the operation (same
defaults, same state, same order of the updates), so a layerlab run and a PyTorch
run on the same weights take the same steps.

Inside, as in optax, an optimiser is a *chain* of transforms. The gradient
``g = ∂L/∂θ`` (negated when ``maximize=True``) is turned link by link into an
update direction ``u``, and then ``θ ← θ − η·u``::

    SGD     = chain(add_l2, trace)
    Adagrad = chain(add_l2, scale_by_adagrad)
    RMSprop = chain(add_l2, scale_by_rms, trace)
    Adadelta= chain(add_l2, scale_by_adadelta)
    Adam    = chain(add_l2, scale_by_adam, add_decayed_weights)
    Adamax  = chain(add_l2, scale_by_adamax)
    NAdam   = chain(add_l2, scale_by_nadam, add_decayed_weights)

The order documents the two kinds of weight decay. ``add_l2`` (coupled, L2
regularisation) sits *before* the moment estimates, so the decay term λθ is
averaged and rescaled with the gradient. ``add_decayed_weights`` (decoupled,
AdamW) sits *after* them, so the weights shrink by η·λ·θ whatever the adaptive
scaling; each link is a no-op unless the group asks for its kind of decay.

Each link is a :class:`Transform` — ``init`` (the entries it adds to a parameter's
state record) and ``update`` — and reads its hyper-parameters from the parameter
group by their torch names, so schedulers and ``param_groups`` edits take effect
at the next ``step()``. The state record of a parameter is a plain dict with
torch's keys (``step``, ``exp_avg``, ``momentum_buffer``, …): ``state_dict()``
returns it as arrays plus JSON-able scalars, ready for a safetensors checkpoint.

All arithmetic is in place or in the parameter's dtype (hyper-parameters are
Python floats, which NumPy 2 treats as weak scalars), so float32 stays float32.
"""

from __future__ import annotations

import json
from typing import Callable, NamedTuple

import numpy as np

from .. import kernels
from .._checks import finite_float
from ..tensor import Tensor, enable_grad

__all__ = [
    "Optimizer", "Transform", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Adamax", "NAdam",
    "add_l2", "add_decayed_weights", "trace", "scale_by_adagrad", "scale_by_rms", "scale_by_adadelta",
    "scale_by_adam", "scale_by_adamax", "scale_by_nadam",
]


# ---------------------------------------------------------------------------------------------
# Transforms: the links of a chain
# ---------------------------------------------------------------------------------------------

class Transform(NamedTuple):
    """One link of an optimiser chain.

    ``init(p, hp) -> dict``: the entries this link adds to the state record of a
    parameter whose data is ``p`` (called at the parameter's first step).
    ``update(u, p, st, hp) -> u``: map the incoming direction ``u`` to the outgoing
    one. ``st`` is the parameter's state record (``st["step"]`` already counts this
    step), ``hp`` the group's hyper-parameters as Python numbers. A link may update
    its state arrays in place but must never write into ``u`` or ``p``: ``u`` may be
    the parameter's ``.grad`` or another link's state.

    Ownership rule: ``update`` returns its input ``u`` unchanged, an array held in the
    state record ``st`` (as :func:`trace` returns ``momentum_buffer``), or a *fresh*
    array that nothing else refers to. The optimiser scales a fresh array by η in place
    and never touches the others; so a link must not return an array it keeps anywhere
    but in ``st`` (a closure, a global), nor a view of one.
    """

    init: Callable[[np.ndarray, dict], dict]
    update: Callable[[np.ndarray, np.ndarray, dict, dict], np.ndarray]


def _no_state(p, hp):
    return {}


def add_l2() -> Transform:
    """Coupled weight decay (L2 regularisation): u ← u + λ·θ.

    The gradient of ``L + λ/2·||θ||²``. First in every chain, so momentum and the
    adaptive denominators see the decay term too. Active when ``weight_decay ≠ 0``
    and the group does not ask for ``decoupled_weight_decay``.
    """
    def update(u, p, st, hp):
        wd = hp["weight_decay"]
        if wd == 0 or hp.get("decoupled_weight_decay", False):
            return u
        return u + wd * p
    return Transform(_no_state, update)


def add_decayed_weights() -> Transform:
    """Decoupled weight decay (Loshchilov & Hutter): u ← u + λ·θ *after* the adaptive scaling.

    With ``θ ← θ − η·u`` this is torch's ``θ ← θ·(1 − η·λ) − η·u_adam``: the weights
    shrink at rate η·λ whatever the moment estimates say. Active when
    ``decoupled_weight_decay`` is true and ``weight_decay ≠ 0``.
    """
    def update(u, p, st, hp):
        wd = hp["weight_decay"]
        if wd == 0 or not hp.get("decoupled_weight_decay", False):
            return u
        return u + wd * p
    return Transform(_no_state, update)


def trace() -> Transform:
    """Momentum (heavy ball / Nesterov), torch's form.

    ``b ← μ·b + (1 − τ)·u`` (``b₁ = u`` on the first step), then ``u ← b``, or with
    ``nesterov``: ``u ← u + μ·b``. State: ``momentum_buffer`` (created at the first
    step with momentum ≠ 0). Reads ``momentum`` and, if present, ``dampening`` τ and
    ``nesterov``.
    """
    def update(u, p, st, hp):
        mu = hp["momentum"]
        if mu == 0:
            return u
        buf = st.get("momentum_buffer")
        if buf is None:
            buf = st["momentum_buffer"] = np.array(u, copy=True)
        else:
            buf *= mu
            tau = hp.get("dampening", 0.0)
            buf += u if tau == 0 else (1.0 - tau) * u
        if hp.get("nesterov", False):
            return u + mu * buf
        return buf
    return Transform(_no_state, update)


def scale_by_adagrad() -> Transform:
    """AdaGrad: s ← s + g²;  u ← g / (√s + ε) / (1 + (t − 1)·lr_decay).

    State: ``sum`` s (starts at ``initial_accumulator_value``).
    """
    def init(p, hp):
        return {"sum": np.full_like(p, hp["initial_accumulator_value"])}

    def update(u, p, st, hp):
        s = st["sum"]
        sq = u * u
        s += sq
        std = np.sqrt(s, out=sq)
        std += hp["eps"]
        out = u / std
        decay = 1.0 + (st["step"] - 1) * hp["lr_decay"]
        if decay != 1.0:
            out /= decay
        return out
    return Transform(init, update)


def scale_by_rms() -> Transform:
    """RMSProp: v ← α·v + (1 − α)·g²;  u ← g / (√v + ε), or centred: u ← g / (√(v − ḡ²) + ε), ḡ ← α·ḡ + (1 − α)·g.

    State: ``square_avg`` v, and ``grad_avg`` ḡ when ``centered``.
    """
    def init(p, hp):
        st = {"square_avg": np.zeros_like(p)}
        if hp["centered"]:
            st["grad_avg"] = np.zeros_like(p)
        return st

    def update(u, p, st, hp):
        alpha = hp["alpha"]
        v = st["square_avg"]
        kernels.ema_sq_(v, u, alpha)
        if hp["centered"]:
            ga = st.get("grad_avg")
            if ga is None:
                ga = st["grad_avg"] = np.zeros_like(p)
            kernels.lerp_(ga, u, 1.0 - alpha)
            avg = ga * ga
            np.subtract(v, avg, out=avg)
            np.sqrt(avg, out=avg)
        else:
            avg = np.sqrt(v)
        avg += hp["eps"]
        np.divide(u, avg, out=avg)
        return avg
    return Transform(init, update)


def scale_by_adadelta() -> Transform:
    """AdaDelta: v ← ρ·v + (1 − ρ)·g²;  u ← √(Δ + ε)/√(v + ε)·g;  Δ ← ρ·Δ + (1 − ρ)·u².

    State: ``square_avg`` v and ``acc_delta`` Δ.
    """
    def init(p, hp):
        return {"square_avg": np.zeros_like(p), "acc_delta": np.zeros_like(p)}

    def update(u, p, st, hp):
        rho, eps = hp["rho"], hp["eps"]
        v, acc = st["square_avg"], st["acc_delta"]
        kernels.ema_sq_(v, u, rho)
        std = v + eps
        np.sqrt(std, out=std)
        delta = acc + eps
        np.sqrt(delta, out=delta)
        delta /= std
        delta *= u
        kernels.ema_sq_(acc, delta, rho)
        return delta
    return Transform(init, update)


def scale_by_adam() -> Transform:
    """Adam (Kingma & Ba, Algorithm 1 as torch writes it).

    m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;  (AMSGrad: v̂ ← max(v̂, v), used for v)
    u ← m/(1 − β₁ᵗ) / (√v/√(1 − β₂ᵗ) + ε).

    State: ``exp_avg`` m, ``exp_avg_sq`` v, ``max_exp_avg_sq`` v̂ when ``amsgrad``.
    """
    def init(p, hp):
        st = {"exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
        if hp["amsgrad"]:
            st["max_exp_avg_sq"] = np.zeros_like(p)
        return st

    def update(u, p, st, hp):
        b1, b2 = hp["betas"]
        t = st["step"]
        m, v = st["exp_avg"], st["exp_avg_sq"]
        if not hp["amsgrad"]:  # the moments and the direction in one fused kernel
            return kernels.adam_direction_(m, v, u, b1, b2, t, hp["eps"])
        kernels.lerp_(m, u, 1.0 - b1)
        kernels.ema_sq_(v, u, b2)
        bc1 = 1.0 - b1 ** t
        bc2_sqrt = (1.0 - b2 ** t) ** 0.5
        vmax = st.get("max_exp_avg_sq")
        if vmax is None:
            vmax = st["max_exp_avg_sq"] = np.zeros_like(p)
        np.maximum(vmax, v, out=vmax)
        denom = np.sqrt(vmax)
        denom /= bc2_sqrt
        denom += hp["eps"]
        out = m / bc1
        out /= denom
        return out
    return Transform(init, update)


def scale_by_adamax() -> Transform:
    """AdaMax: m ← β₁·m + (1 − β₁)·g;  n ← max(β₂·n, |g| + ε);  u ← m / ((1 − β₁ᵗ)·n).

    State: ``exp_avg`` m, ``exp_inf`` n.
    """
    def init(p, hp):
        return {"exp_avg": np.zeros_like(p), "exp_inf": np.zeros_like(p)}

    def update(u, p, st, hp):
        b1, b2 = hp["betas"]
        m, n = st["exp_avg"], st["exp_inf"]
        kernels.lerp_(m, u, 1.0 - b1)
        n *= b2
        a = np.abs(u)
        a += hp["eps"]
        np.maximum(n, a, out=n)
        out = m / (1.0 - b1 ** st["step"])
        out /= n
        return out
    return Transform(init, update)


def scale_by_nadam() -> Transform:
    """NAdam (Dozat 2016) with torch's momentum schedule.

    μₜ = β₁·(1 − ½·0.96^(t·ψ)),  Πₜ = Π_{i≤t} μᵢ (``mu_product``),  ψ = ``momentum_decay``;
    m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;  d = √(v/(1 − β₂ᵗ)) + ε;
    u ← (1 − μₜ)/(1 − Πₜ)·g/d + μₜ₊₁/(1 − Πₜ·μₜ₊₁)·m/d.

    State: ``exp_avg`` m, ``exp_avg_sq`` v, ``mu_product`` Π (a Python float).
    """
    def init(p, hp):
        return {"mu_product": 1.0, "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}

    def update(u, p, st, hp):
        b1, b2 = hp["betas"]
        psi = hp["momentum_decay"]
        t = st["step"]
        m, v = st["exp_avg"], st["exp_avg_sq"]
        bc2 = 1.0 - b2 ** t
        mu = b1 * (1.0 - 0.5 * (0.96 ** (t * psi)))
        mu_next = b1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * psi)))
        st["mu_product"] = prod = st["mu_product"] * mu
        kernels.lerp_(m, u, 1.0 - b1)
        kernels.ema_sq_(v, u, b2)
        denom = v / bc2
        np.sqrt(denom, out=denom)
        denom += hp["eps"]
        out = (1.0 - mu) / (1.0 - prod) * u
        out += (mu_next / (1.0 - prod * mu_next)) * m
        out /= denom
        return out
    return Transform(init, update)


# ---------------------------------------------------------------------------------------------
# The optimiser: parameter groups, state records, step, state_dict
# ---------------------------------------------------------------------------------------------

def _owned(u: np.ndarray, g: np.ndarray, p: np.ndarray, st: dict) -> bool:
    """May the step scale the update ``u`` in place? The ownership rule of the chain (see
    :class:`Transform`): a link returns its input, an array of the state record, or a fresh
    array of its own. Only a fresh array belongs to the step: ``u`` is written into unless it
    is the gradient ``g``, the parameter ``p``, an array of the state record ``st``, or a view
    (``u.base`` set: it shares memory with something else)."""
    if u is g or u is p or u.base is not None:
        return False
    for v in st.values():
        if v is u:
            return False
    return True


def _plain(v):
    """NumPy scalars inside a hyper-parameter as Python ones (JSON-able)."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (tuple, list)):
        return type(v)(_plain(x) for x in v)
    return v


def _hyper(group: dict) -> dict:
    """The group's hyper-parameters as Python scalars (no NumPy float64 scalar may reach the arrays)."""
    hp = {}
    for k, v in group.items():
        if k == "params":
            continue
        if isinstance(v, (np.floating, np.integer)):
            v = float(v)
        elif isinstance(v, (tuple, list)):
            v = tuple(float(x) if isinstance(x, (int, float, np.number)) and not isinstance(x, bool) else x for x in v)
        hp[k] = v
    return hp


class Optimizer:
    """Base class: parameter groups, per-parameter state records and the update loop.

    ``θ ← θ − η·u`` with ``u = chain(g)``, for every parameter whose ``.grad`` is not
    None (others are skipped and their state is left untouched).

    Args:
        params: an iterable of Tensors, or of dicts (parameter groups) with a
            ``"params"`` entry and any hyper-parameters that override the defaults.
        defaults: the default hyper-parameters of every group.

    Attributes:
        param_groups: list of dicts, each with ``"params"`` (a list of Tensors) and
            its hyper-parameters (``"lr"``, …), as in torch; schedulers write ``"lr"``.
        state: dict Tensor → state record (a dict of arrays and scalars).
    """

    chain: tuple = ()
    _counts_steps = True  # keep state["step"] (torch's SGD does not)
    _scalar_keys = ("step", "mu_product")  # state entries that are Python scalars, not arrays

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self._validate(self.defaults, "defaults")
        self.state: dict = {}
        self.param_groups: list = []
        if isinstance(params, (set, dict)):
            raise TypeError(f"{type(self).__name__}: params should be a list of Tensors or of dicts (parameter "
                            f"groups), got a {type(params).__name__}; a set has no stable order")
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params should be an iterable of Tensors or of dicts, got a single Tensor "
                f"(shape {params.shape}); wrap it in a list"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # -- groups --------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own hyper-parameters (missing ones from ``defaults``)."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict, got {type(param_group).__name__}")
        params = param_group.get("params")
        if params is None:
            raise ValueError(f"{name}: a parameter group needs a 'params' entry")
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name} can only optimize Tensors, but params[{i}] is a {type(p).__name__}")
            if p.data.dtype.kind != "f":
                raise TypeError(f"{name}: params[{i}] has dtype {p.data.dtype} (shape {p.shape}); "
                                "expected a float dtype")
            if not p.is_leaf:
                raise ValueError(f"{name} can't optimize a non-leaf Tensor (params[{i}], shape {p.shape}, "
                                 f"made by '{p.grad_fn}')")
            if id(p) in seen:
                raise ValueError(f"{name}: params[{i}] (shape {p.shape}) appears twice in one parameter group")
            seen.add(id(p))
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if taken & seen:
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        group = {k: v for k, v in param_group.items() if k != "params"}
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._validate(group, f"param group {len(self.param_groups)}")
        group["params"] = params
        self.param_groups.append(group)

    def _validate(self, group: dict, where: str) -> None:
        """Check hyper-parameters; subclasses extend. Messages follow torch's ("Invalid learning rate: -1")."""
        lr = group.get("lr")
        if lr is not None:
            finite_float(lr, "lr", f"{type(self).__name__} {where}")
            if not lr >= 0.0:
                raise ValueError(f"Invalid learning rate: {lr} ({type(self).__name__} {where}; expected lr >= 0)")
        for key in ("eps", "weight_decay", "momentum", "lr_decay", "momentum_decay", "initial_accumulator_value",
                    "alpha", "dampening"):
            if key in group:
                v = finite_float(group[key], key, f"{type(self).__name__} {where}")
                if not v >= 0.0:
                    label = "epsilon" if key == "eps" else key
                    raise ValueError(f"Invalid {label} value: {group[key]} ({type(self).__name__} {where}; "
                                     f"expected {key} >= 0)")
        if "betas" in group:
            betas = group["betas"]
            if not isinstance(betas, (tuple, list)) or len(betas) != 2:
                raise ValueError(f"{type(self).__name__} {where}: betas must be a pair (beta1, beta2), got {betas!r}")
            for i, b in enumerate(betas):
                if not 0.0 <= finite_float(b, f"betas[{i}]", type(self).__name__) < 1.0:
                    raise ValueError(f"Invalid beta parameter at index {i}: {b} ({type(self).__name__} {where}; "
                                     "expected 0 <= beta < 1)")

    # -- the update loop -----------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``.grad = None`` (or zero them in place with ``set_to_none=False``)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad.fill(0)

    def step(self, closure: Callable | None = None):
        """One update of every parameter that has a gradient.

        Args:
            closure: optional callable that recomputes the loss (and gradients); it
                is called first, with gradient recording enabled, and its value returned.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        chain, counts, state = self.chain, self._counts_steps, self.state
        for group in self.param_groups:
            hp = _hyper(group)
            lr = hp["lr"]
            maximize = hp.get("maximize", False)
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                data = p.data
                if g.shape != data.shape or g.dtype != data.dtype:
                    raise ValueError(
                        f"{type(self).__name__}.step: a parameter of shape {data.shape} and dtype {data.dtype} has a "
                        f"gradient of shape {g.shape} and dtype {g.dtype}; expected them to match"
                    )
                st = state.get(p)
                if st is None:
                    st = state[p] = self._init_state(data, hp)
                if counts:
                    st["step"] += 1
                u = -g if maximize else g
                for link in chain:
                    u = link.update(u, data, st, hp)
                # θ ← θ − η·u; a fresh u (Adam's, a decayed gradient's) may be scaled in place, not the
                # gradient itself nor a state array (momentum_buffer)
                kernels.sub_scaled_(data, u, lr, u_free=_owned(u, g, data, st))
        return loss

    def _init_state(self, data: np.ndarray, hp: dict) -> dict:
        st = {"step": 0} if self._counts_steps else {}
        for link in self.chain:
            st.update(link.init(data, hp))
        return st

    # -- checkpoints ---------------------------------------------------------------------------
    def _params(self) -> list:
        return [p for g in self.param_groups for p in g["params"]]

    def state_dict(self) -> dict:
        """Torch's layout: ``{"state": {index: record}, "param_groups": [{..., "params": [index, ...]}]}``.

        Parameters are numbered in group order. Records hold copies of the state
        arrays (so later steps do not change a saved state) plus Python scalars
        (``step``; NAdam's ``mu_product``). Everything else is JSON-able, so the
        dict can be stored as safetensors + JSON (see :meth:`state_arrays`).
        """
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {}
        for p, st in self.state.items():
            state[index[id(p)]] = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in st.items()}
        groups = []
        for g in self.param_groups:
            d = {k: _plain(v) for k, v in g.items() if k != "params"}
            d["params"] = [index[id(p)] for p in g["params"]]
            groups.append(d)
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state records saved by :meth:`state_dict` (arrays are copied).

        The optimiser must have the same number of groups with the same sizes;
        each array must have its parameter's shape and is cast to its dtype.
        Integer keys may arrive as strings (from JSON).
        """
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the saved state has {len(saved_groups)} parameter groups, "
                             f"this optimiser has {len(self.param_groups)}")
        params = self._params()
        index_to_param = {}
        for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {gi} has {len(saved['params'])} parameters "
                                 f"in the saved state, {len(group['params'])} here")
            for i, p in zip(saved["params"], group["params"]):
                index_to_param[int(i)] = p
        new_groups = []
        for saved, group in zip(saved_groups, self.param_groups):
            g = {k: (tuple(v) if k == "betas" else v) for k, v in saved.items() if k != "params"}
            for k, v in self.defaults.items():  # a state saved before an option existed
                g.setdefault(k, v)
            g["params"] = group["params"]
            new_groups.append(g)
        new_state = {}
        for k, rec in state_dict["state"].items():
            k = int(k)
            if k not in index_to_param:
                raise ValueError(f"{name}.load_state_dict: state for parameter {k}, but there are {len(params)}")
            p = index_to_param[k]
            out = {}
            for key, v in rec.items():
                if key in self._scalar_keys:
                    v = v.item() if isinstance(v, (np.ndarray, np.generic)) else v
                    v = int(v) if key == "step" else float(v)
                elif isinstance(v, np.ndarray):
                    if v.shape != p.data.shape:
                        raise ValueError(f"{name}.load_state_dict: state '{key}' of parameter {k} has shape {v.shape}, "
                                         f"expected the parameter's shape {p.data.shape}")
                    v = np.array(v, dtype=p.data.dtype, copy=True)
                out[key] = v
            new_state[p] = out
        for g in new_groups:
            self._validate(g, "loaded group")
        self.param_groups = new_groups
        self.state = new_state

    def state_arrays(self, prefix: str = "optim") -> tuple[dict, dict]:
        """Flat form of :meth:`state_dict` for safetensors: ``(arrays, meta)``.

        ``arrays`` maps ``f"{prefix}.state.{i}.{key}"`` to contiguous arrays; ``meta``
        holds everything else and survives ``json.dumps``/``json.loads``. Store
        them with ``safetensors.numpy.save_file(arrays, path, metadata={"optim": json.dumps(meta)})``
        and restore with :meth:`load_state_arrays`.
        """
        sd = self.state_dict()
        arrays, meta_state = {}, {}
        for i, rec in sd["state"].items():
            scalars = {}
            for k, v in rec.items():
                if isinstance(v, np.ndarray):
                    arrays[f"{prefix}.state.{i}.{k}"] = np.ascontiguousarray(v)
                else:
                    scalars[k] = v
            meta_state[str(i)] = scalars
        meta = {"state": meta_state, "param_groups": sd["param_groups"]}
        json.dumps(meta)  # fail here, not at save time, if a group holds something unstorable
        return arrays, meta

    def load_state_arrays(self, arrays: dict, meta: dict, prefix: str = "optim") -> None:
        """Inverse of :meth:`state_arrays` (``meta`` may have been through JSON)."""
        state = {int(i): dict(s) for i, s in meta["state"].items()}
        head = prefix + ".state."
        for key, arr in arrays.items():
            if not key.startswith(head):
                continue
            i, k = key[len(head):].split(".", 1)
            state.setdefault(int(i), {})[k] = arr
        self.load_state_dict({"state": state, "param_groups": meta["param_groups"]})

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)


def _check_range(group, key, lo, hi, where, cls):
    if key in group:
        v = finite_float(group[key], key, f"{cls} {where}")
        if not lo <= v <= hi:
            raise ValueError(f"Invalid {key} value: {group[key]} ({cls} {where}; expected {lo} <= {key} <= {hi})")


# ---------------------------------------------------------------------------------------------
# The named optimisers
# ---------------------------------------------------------------------------------------------

class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay.

    Plain (the notes): ``θ ← θ − η·g``,  g = ∂L/∂θ (+ λ·θ with ``weight_decay`` λ).
    With momentum μ (torch's form):
    ``b ← μ·b + (1 − τ)·g`` (``b = g`` at the first step), ``θ ← θ − η·b``;
    Nesterov: ``θ ← θ − η·(g + μ·b)``.

    Args:
        params: parameters or parameter groups.
        lr: learning rate η. Default: 1e-3 (torch's).
        momentum: μ. Default: 0.
        dampening: τ, damps the gradient entering the buffer. Default: 0.
        weight_decay: λ of the coupled L2 penalty λ/2·||θ||². Default: 0.
        nesterov: Nesterov's look-ahead form. Needs μ > 0 and τ = 0. Default: False.
        maximize: ascend instead of descend (g ← −g). Default: False.

    Note:
        The notes (after Aggarwal; Géron for Nesterov) keep a velocity in parameter
        units, ``v ← μ·v − η·g``, ``θ ← θ + v``. torch, and layerlab, keep the buffer in
        gradient units, ``b ← μ·b + g``, ``θ ← θ − η·b``. With a constant η they give the
        same trajectory (v = −η·b); when a schedule changes η, torch's form rescales the
        whole accumulated velocity at once, the notes' form only the new gradient.
        Nesterov here is Sutskever's reformulation (the look-ahead gradient is
        expressed at the current parameters), as in torch.

    Example:
        >>> import numpy as np, layerlab as ll
        >>> w = ll.tensor(np.array([1.0, -2.0]), requires_grad=True)
        >>> opt = SGD([w], lr=0.1, momentum=0.9)
        >>> (w * w).sum().backward(); opt.step(); w.data
        array([ 0.8, -1.6])
    """

    chain = (add_l2(), trace())
    _counts_steps = False

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _validate(self, group, where):
        super()._validate(group, where)
        if group.get("nesterov") and (group.get("momentum", 0) <= 0 or group.get("dampening", 0) != 0):
            raise ValueError(f"Nesterov momentum requires a momentum and zero dampening (SGD {where}: "
                             f"momentum={group.get('momentum')}, dampening={group.get('dampening')})")


class Adagrad(Optimizer):
    r"""AdaGrad (Duchi et al., 2011): per-parameter rates shrinking with the gradients seen so far.

    ``s ← s + g²``,  ``θ ← θ − η/(1 + (t − 1)·lr_decay) · g/(√s + ε)``, g including λ·θ.

    Args:
        lr: η. Default: 1e-2.
        lr_decay: decay of η with the step count t. Default: 0.
        weight_decay: λ (coupled L2). Default: 0.
        initial_accumulator_value: s at t = 0. Default: 0.
        eps: ε. Default: 1e-10.
        maximize: ascend instead. Default: False.
    """

    chain = (add_l2(), scale_by_adagrad())

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))


class RMSprop(Optimizer):
    r"""RMSProp (Hinton): divide the gradient by a running RMS of recent gradients.

    ``v ← α·v + (1 − α)·g²``,  ``d = √v + ε`` (centred: ``ḡ ← α·ḡ + (1 − α)·g``, ``d = √(v − ḡ²) + ε``);
    ``θ ← θ − η·g/d``, or with momentum μ: ``b ← μ·b + g/d``, ``θ ← θ − η·b``.

    Args:
        lr: η. Default: 1e-2.
        alpha: α, the smoothing constant. Default: 0.99.
        eps: ε (added outside the square root, as torch). Default: 1e-8.
        weight_decay: λ (coupled L2). Default: 0.
        momentum: μ. Default: 0.
        centered: normalise by an estimate of the variance instead of the second moment. Default: False.
        maximize: ascend instead. Default: False.
    """

    chain = (add_l2(), scale_by_rms(), trace())

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, maximize=maximize))


class Adadelta(Optimizer):
    r"""AdaDelta (Zeiler, 2012): a rate-free update whose units match the parameters'.

    ``v ← ρ·v + (1 − ρ)·g²``,  ``Δθ = √(Δ + ε)/√(v + ε)·g``,  ``Δ ← ρ·Δ + (1 − ρ)·Δθ²``,  ``θ ← θ − η·Δθ``.

    Args:
        lr: η, a scale on the update (Zeiler's method has none: 1.0). Default: 1.0.
        rho: ρ. Default: 0.9.
        eps: ε. Default: 1e-6.
        weight_decay: λ (coupled L2). Default: 0.
        maximize: ascend instead. Default: False.
    """

    chain = (add_l2(), scale_by_adadelta())

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0,
                 *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _validate(self, group, where):
        super()._validate(group, where)
        _check_range(group, "rho", 0.0, 1.0, where, "Adadelta")


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015): momentum on g, per-parameter scale from g², both bias-corrected.

    ``m ← β₁·m + (1 − β₁)·g``,  ``v ← β₂·v + (1 − β₂)·g²``  (AMSGrad: ``v̂ ← max(v̂, v)`` replaces v below),
    ``θ ← θ − η·(m/(1 − β₁ᵗ)) / (√v/√(1 − β₂ᵗ) + ε)``.

    With ``weight_decay`` λ, g includes λ·θ (coupled, L2). With ``decoupled_weight_decay``
    (what :class:`AdamW` sets), the weights decay directly: ``θ ← θ·(1 − η·λ)`` instead.

    Args:
        lr: η. Default: 1e-3.
        betas: (β₁, β₂). Default: (0.9, 0.999).
        eps: ε (added to √v̂, after the bias correction, as torch and the paper). Default: 1e-8.
        weight_decay: λ. Default: 0.
        amsgrad: use the running maximum of v (Reddi et al., 2018). Default: False.
        maximize: ascend instead. Default: False.
        decoupled_weight_decay: AdamW's decay. Default: False.

    Note:
        optax's adam puts ε the same way; Keras' adds ε to √v before the bias
        correction, which changes the first steps.
    """

    chain = (add_l2(), scale_by_adam(), add_decayed_weights())

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, decoupled_weight_decay=decoupled_weight_decay))


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    ``θ ← θ·(1 − η·λ)``, then the :class:`Adam` update on the bare gradient. The
    decay does not pass through m and v, so every weight shrinks at the same rate.

    Args: as :class:`Adam`, but ``weight_decay`` defaults to 1e-2.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        for g in self.param_groups:  # as torch: an AdamW stays decoupled whatever it loads
            g["decoupled_weight_decay"] = True


class Adamax(Optimizer):
    r"""AdaMax (Kingma & Ba, 2015, §7.1): Adam with the infinity norm in place of √v.

    ``m ← β₁·m + (1 − β₁)·g``,  ``n ← max(β₂·n, |g| + ε)``,  ``θ ← θ − η/(1 − β₁ᵗ) · m/n``.

    Args:
        lr: η. Default: 2e-3.
        betas: (β₁, β₂). Default: (0.9, 0.999).
        eps: ε. Default: 1e-8.
        weight_decay: λ (coupled L2). Default: 0.
        maximize: ascend instead. Default: False.
    """

    chain = (add_l2(), scale_by_adamax())

    def __init__(self, params, lr: float = 2e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))


class NAdam(Optimizer):
    r"""NAdam (Dozat, 2016): Adam with Nesterov momentum, torch's warming momentum schedule.

    ``μₜ = β₁·(1 − ½·0.96^(t·ψ))``, ``Πₜ = μ₁⋯μₜ``;  ``m ← β₁·m + (1 − β₁)·g``,  ``v ← β₂·v + (1 − β₂)·g²``;
    ``θ ← θ − η·[(1 − μₜ)/(1 − Πₜ)·g + μₜ₊₁/(1 − Πₜμₜ₊₁)·m] / (√(v/(1 − β₂ᵗ)) + ε)``.

    Args:
        lr: η. Default: 2e-3.
        betas: (β₁, β₂). Default: (0.9, 0.999).
        eps: ε. Default: 1e-8.
        weight_decay: λ. Default: 0.
        momentum_decay: ψ. Default: 4e-3.
        decoupled_weight_decay: decay the weights directly (``θ ← θ·(1 − η·λ)``, "NAdamW"). Default: False.
        maximize: ascend instead. Default: False.
    """

    chain = (add_l2(), scale_by_nadam(), add_decayed_weights())

    def __init__(self, params, lr: float = 2e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False,
                 *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))
