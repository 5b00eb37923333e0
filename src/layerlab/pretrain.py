"""Greedy layer-wise unsupervised pre-training (Hinton & Salakhutdinov 2006; Erhan et al. 2009/2010;
Larochelle et al. 2009), as the notes present it (lecture 7, module 7.2).

Each hidden layer in turn (x → h₁, then h₁ → h₂, …, up to the last hidden layer) is trained on an
unsupervised objective, then frozen; the data is mapped through it and the next layer is trained on
the result. The notes' objective for the first layer is to reconstruct the input from h₁::

    min (1/m) Σᵢ₌₁ᵐ Σⱼ₌₁ⁿ (x̂ᵢⱼ − xᵢⱼ)²,   h₁ = f(x W₁ᵀ + b₁),   x̂ = h₁ W* ᵀ + c

and the same with h₁ in place of x for the second layer, and so on. The decoder (W*, c) is thrown
away afterwards; with ``tied=True`` it is the encoder's transpose (W* = W₁ᵀ, i.e. x̂ = h₁ W₁ + c),
and the gradient of W₁ is the sum of its two uses (autograd does the sum). The output layer is not
pre-trained: the network is then fine-tuned on the supervised objective (``layerlab.Trainer``).

Methods:

- ``"autoencoder"``: the objective above (a linear decoder: the notes' squared error on real inputs).
- ``"denoising"`` (Vincent et al. 2008): the same objective, but the encoder sees a corrupted input
  x̃ — *masking noise*: each entry independently set to 0 with probability ``noise`` (so a fraction
  ``noise`` of the entries in expectation) — and the target is the clean x.
- ``"rbm"``: the layer is the hidden side of a Bernoulli–Bernoulli restricted Boltzmann machine,
  p(hⱼ = 1 | v) = σ(v Wᵀ + b)ⱼ, p(vᵢ = 1 | h) = σ(h W + c)ᵢ, trained by contrastive divergence CD-k
  (Hinton 2002; Hinton, *A practical guide to training RBMs*, 2010, §3)::

      ΔW = η (⟨h vᵀ⟩_data − ⟨h vᵀ⟩_recon),  Δb = η (⟨h⟩_data − ⟨h⟩_recon),  Δc = η (⟨v⟩_data − ⟨v⟩_recon)

  (W in the layer's (out, in) layout, ⟨·⟩ the mean over the mini-batch) — see :func:`cd_k_update`.
  Afterwards the layer's W and b are the RBM's; the visible bias c is thrown away. An RBM needs
  sigmoid hidden units and visible data in [0, 1].

The autoencoders are trained with layerlab's own Tensor/nn/optim and **Adam** (Kingma & Ba 2015;
η = 1e-3 by default): it needs no per-layer tuning of the step size across activations and widths,
which plain SGD on a squared reconstruction error does. The RBM's CD-k is explicit NumPy (η = 0.1 by
default, the guide's order of magnitude; no momentum, no weight decay).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import nn, optim
from ._checks import nonnegative_int, positive_float, positive_int, probability
from .tensor import Tensor, no_grad

__all__ = ["METHODS", "LayerReport", "greedy_layerwise", "hidden_layers", "masking_noise", "cd_k_update",
           "rbm_reconstruction_error", "autoencoder_loss", "DEFAULT_LR"]

#: the pre-training methods :func:`greedy_layerwise` knows
METHODS = ("autoencoder", "denoising", "rbm")
#: the learning rate when ``lr=None``: Adam's for the autoencoders, CD's for the RBM
DEFAULT_LR = {"autoencoder": 1e-3, "denoising": 1e-3, "rbm": 0.1}

_WHERE = "greedy_layerwise"
_CHUNK = 4096  # rows per forward pass when mapping / measuring the whole data set


@dataclass
class LayerReport:
    """What pre-training did to one hidden layer.

    ``errors``: the reconstruction error (1/m) Σᵢ Σⱼ (x̂ᵢⱼ − xᵢⱼ)² over the layer's whole input, before
    training (``errors[0]``) and after each epoch (``errors[e]``) — for ``"denoising"`` x̂ is computed
    from one fixed corruption of the input (the same every epoch) against the clean input; for ``"rbm"``
    x̂ = σ(σ(x Wᵀ + b) W + c), one mean-field up–down pass. ``batch_losses``: the mean of the training
    objective over each epoch's mini-batches (for the RBM: (1/m)Σ‖v₀ − v_k‖² of the CD chain).
    ``decoder``: the thrown-away decoder (``{"weight", "bias"}`` arrays; for the RBM the visible bias
    only) when ``keep_decoders=True``, else None.
    """

    index: int
    name: str
    method: str
    in_features: int
    out_features: int
    activation: str | None
    errors: list[float] = field(default_factory=list)
    batch_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    decoder: dict | None = None

    def row(self) -> dict:
        """A flat dict for a record table."""
        return {"layer": self.index, "name": self.name, "method": self.method, "in": self.in_features,
                "out": self.out_features, "activation": self.activation, "error before": self.errors[0],
                "error after": self.errors[-1], "epochs": len(self.errors) - 1, "seconds": self.seconds}


# -- the plan: which layers, which activations -----------------------------------------------------------------
def hidden_layers(model) -> list[tuple[int, nn.Linear, nn.Activation | None]]:
    """The layers greedy pre-training trains, in order: ``(position in model, Linear, its activation or None)``
    for every ``Linear`` of the ``Sequential`` ``model`` except the last (the output layer).

    Between a hidden Linear and the next Linear there may be at most one ``nn.Activation`` (the encoder's
    activation) and any ``nn.Dropout`` (the identity when the data is mapped through); before the first
    Linear only Dropout. Anything else (BatchNorm, Maxout, a nested container) is refused with a
    ``ValueError`` naming it; a model with fewer than two Linears has nothing to pre-train.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"{_WHERE}: expected an nn.Sequential of Linear layers and activations, got "
                        f"{type(model).__name__}")
    mods = list(model)
    lin = [i for i, m in enumerate(mods) if isinstance(m, nn.Linear)]
    if len(lin) < 2:
        raise ValueError(f"{_WHERE}: no Linear to pre-train: the model has {len(lin)} Linear layer(s) and the last "
                         "one is the output layer (expected at least one hidden Linear before it); modules: "
                         f"{[type(m).__name__ for m in mods]}")
    for i in range(lin[0]):
        if not isinstance(mods[i], nn.Dropout):
            raise ValueError(f"{_WHERE}: module {i} ({type(mods[i]).__name__}) comes before the first Linear; "
                             "expected only Dropout there")
    plan = []
    for k, i in enumerate(lin[:-1]):
        acts = []
        for j in range(i + 1, lin[k + 1]):
            m = mods[j]
            if isinstance(m, nn.Activation):
                acts.append(m)
            elif not isinstance(m, nn.Dropout):
                raise ValueError(
                    f"{_WHERE}: module {j} ({type(m).__name__}) between hidden {mods[i]._label()} (module {i}) and "
                    f"the next Linear is not supported; expected one activation (and optionally Dropout)")
        if len(acts) > 1:
            raise ValueError(f"{_WHERE}: hidden {mods[i]._label()} (module {i}) is followed by {len(acts)} "
                             f"activations ({', '.join(type(a).__name__ for a in acts)}); expected at most one")
        plan.append((i, mods[i], acts[0] if acts else None))
    return plan


def _act_name(act) -> str | None:
    return None if act is None else type(act).__name__


def _model_dtype(model) -> np.dtype:
    dts = {}
    for name, p in model.named_parameters():
        dts.setdefault(p.data.dtype, name)
    if not dts:
        raise ValueError(f"{_WHERE}: the model has no parameters")
    if len(dts) > 1:
        raise TypeError(f"{_WHERE}: the model mixes parameter dtypes ({', '.join(f'{d} (e.g. {n})' for d, n in dts.items())}); "
                        "expected one float dtype — cast it with model.to(np.float32) or model.to(np.float64)")
    (dt,) = dts
    if dt.kind != "f":
        raise TypeError(f"{_WHERE}: expected float parameters, got {dt}")
    return dt


def _check_data(X, width: int, dt: np.dtype, method: str) -> np.ndarray:
    if isinstance(X, Tensor):
        X = X.data
    if not isinstance(X, np.ndarray):
        raise TypeError(f"{_WHERE}: X must be a NumPy array of shape (m, {width}), got {type(X).__name__}")
    if X.ndim != 2 or X.shape[1] != width or X.shape[0] < 1:
        raise ValueError(f"{_WHERE}: X must have shape (m, {width}) with m ≥ 1 (the first Linear takes {width} "
                         f"inputs), got {X.shape}")
    if X.dtype != dt:
        raise TypeError(f"{_WHERE}: X has dtype {X.dtype} but the model's parameters are {dt}; cast one of them "
                        f"(X.astype(np.{dt}) or model.to(np.{X.dtype})) — no silent conversion")
    bad = ~np.isfinite(X)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"{_WHERE}: X has {int(bad.sum())} non-finite entries (NaN or inf; the first at row {r}, "
                         f"column {c}: {X[r, c]}); expected finite inputs")
    if method == "rbm":
        lo, hi = float(X.min()), float(X.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"{_WHERE}: an RBM's visible units are Bernoulli: X must lie in [0, 1] (probabilities), "
                             f"got values in [{lo:g}, {hi:g}]; scale the inputs (e.g. pixels / 255) or use "
                             "method='autoencoder'")
    return X


# -- pieces, each testable on its own -------------------------------------------------------------------------
def masking_noise(x: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Vincent et al.'s masking noise: x̃ = x with each entry independently set to 0 with probability
    ``noise`` (one ``rng.random(x.shape)`` draw; entry corrupted where u < noise). A new array, x's dtype."""
    keep = rng.random(x.shape) >= noise
    return x * keep.astype(x.dtype)


def autoencoder_loss(x_in, target, weight, bias, decoder_weight, decoder_bias, activation=None) -> Tensor:
    """The notes' objective on one mini-batch: (1/m) Σᵢ Σⱼ (x̂ᵢⱼ − targetᵢⱼ)² with
    h = f(x_in Wᵀ + b) and x̂ = h W*ᵀ + c. ``decoder_weight=None`` ties the decoder: W* = Wᵀ, x̂ = h W + c
    (W is used twice; its gradient is the sum of both uses). All Tensors; ``bias`` may be None."""
    h = nn.linear(x_in, weight, bias)
    if activation is not None:
        h = activation(h)
    xhat = h @ weight if decoder_weight is None else nn.linear(h, decoder_weight)
    xhat = xhat + decoder_bias
    m = x_in.shape[0]
    return nn.mse_loss(xhat, target, reduction="sum") * (1.0 / m)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    """σ(a) without overflow, in a's dtype."""
    out = np.empty_like(a)
    pos = a >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-a[pos]))
    e = np.exp(a[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def cd_k_update(W: np.ndarray, b: np.ndarray, c: np.ndarray, v0: np.ndarray, k: int,
                rng: np.random.Generator) -> dict:
    """One CD-k estimate of the log-likelihood gradient of a Bernoulli–Bernoulli RBM on the mini-batch ``v0``.

    W: (hidden, visible) — the Linear layout; b: hidden bias; c: visible bias. The chain (Hinton's guide §3):
    p₀ = σ(v₀ Wᵀ + b); for t = 1 … k: h_{t−1} ~ Bernoulli(p_{t−1}) (sampled: ``rng.random(p.shape) < p``, one
    draw per step, in that order), v_t = σ(h_{t−1} W + c) (probabilities, not sampled), p_t = σ(v_t Wᵀ + b)
    (the last step keeps the probabilities). Statistics use the probabilities p:

        dW = (p₀ᵀ v₀ − p_kᵀ v_k)/m,  db = mean(p₀ − p_k),  dc = mean(v₀ − v_k)

    Returns ``{"dW", "db", "dc", "v_k", "p0", "p_k"}``; the update is W += η dW (and so on).
    """
    m = v0.shape[0]
    dt = v0.dtype
    p0 = _sigmoid(v0 @ W.T + b)
    p = p0
    v = v0
    for _ in range(k):
        h = (rng.random(p.shape) < p).astype(dt)
        v = _sigmoid(h @ W + c)
        p = _sigmoid(v @ W.T + b)
    return {"dW": (p0.T @ v0 - p.T @ v) / dt.type(m), "db": (p0 - p).mean(axis=0), "dc": (v0 - v).mean(axis=0),
            "v_k": v, "p0": p0, "p_k": p}


def rbm_reconstruction_error(W, b, c, X) -> float:
    """(1/m) Σᵢ Σⱼ (x̂ᵢⱼ − xᵢⱼ)² with x̂ = σ(σ(X Wᵀ + b) W + c): one deterministic up–down pass."""
    tot = 0.0
    for s in range(0, len(X), _CHUNK):
        x = X[s:s + _CHUNK]
        xhat = _sigmoid(_sigmoid(x @ W.T + b) @ W + c)
        tot += float(np.sum((xhat - x).astype(np.float64) ** 2))
    return tot / len(X)


# -- the driver ---------------------------------------------------------------------------------------------------
class _Bars:
    """One rich progress bar per layer (quiet when another live display runs, or progress=False)."""

    def __init__(self, on: bool):
        self.p = None
        if on:
            from rich.errors import LiveError
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("error {task.fields[err]}"), TimeRemainingColumn(), transient=False)
            try:
                self.p.start()
            except LiveError:
                self.p = None

    def task(self, description, total):
        return None if self.p is None else self.p.add_task(description, total=total, err="-")

    def advance(self, task, err=None):
        if task is not None:
            self.p.update(task, advance=1, **({} if err is None else {"err": f"{err:.4f}"}))

    def close(self):
        if self.p is not None:
            self.p.stop()


def _map(lin, act, X):
    """The layer's representation h = f(X Wᵀ + b) of all of X (no graph, in chunks)."""
    out = []
    with no_grad():
        for s in range(0, len(X), _CHUNK):
            h = lin(Tensor(X[s:s + _CHUNK]))
            out.append((act(h) if act is not None else h).data)
    return np.concatenate(out, axis=0)


def _ae_error(lin, act, dec_w, dec_b, X, noise, seed_seq) -> float:
    """The layer's reconstruction error on all of X (denoising: from one fixed corruption, seeded)."""
    rng = np.random.default_rng(seed_seq) if noise else None
    tot = 0.0
    with no_grad():
        for s in range(0, len(X), _CHUNK):
            x = X[s:s + _CHUNK]
            xin = masking_noise(x, noise, rng) if noise else x
            h = lin(Tensor(xin))
            if act is not None:
                h = act(h)
            xhat = (h @ lin.weight if dec_w is None else nn.linear(h, dec_w)) + dec_b
            tot += float(np.sum((xhat.data - x).astype(np.float64) ** 2))
    return tot / len(X)


def greedy_layerwise(model, X, method: str = "autoencoder", epochs: int = 10, lr: float | None = None,
                     batch_size: int = 64, noise: float = 0.3, cd_k: int = 1, tied: bool = False, seed: int = 0,
                     progress: bool = True, keep_decoders: bool = False) -> list[LayerReport]:
    """Greedy layer-wise unsupervised pre-training of the hidden layers of ``model`` on the inputs ``X``.

    For each hidden Linear of the ``Sequential`` (every Linear but the output layer, in order; see
    :func:`hidden_layers`): train it for ``epochs`` epochs of mini-batches of ``batch_size`` (shuffled) as
    the encoder of ``method`` (module docstring) on its own input, then freeze it and map the data through it
    and its activation to make the next layer's input. The output layer is not touched. The model is left
    ready for supervised fine-tuning (every parameter's ``requires_grad`` as it was; activation parameters,
    e.g. PReLU's slope, are not pre-trained).

    Args:
        model: an ``nn.Sequential`` of Linear layers, activations (and Dropout).
        X: inputs, shape (m, in_features of the first Linear), the model's dtype, finite; for ``"rbm"`` in [0, 1].
        method: ``"autoencoder"``, ``"denoising"`` or ``"rbm"``.
        epochs, batch_size: per layer.
        lr: Adam's step size for the autoencoders, CD's η for the RBM (None: :data:`DEFAULT_LR`).
        noise: the masking-noise probability of ``"denoising"`` (0 ≤ noise < 1).
        cd_k: k of CD-k (``"rbm"``).
        tied: tie the autoencoder's decoder to the encoder (W* = Wᵀ); an RBM is always tied.
        seed: seeds every random draw (decoder init, shuffling, corruption, Gibbs sampling): the same seed
            gives bit-identical weights.
        progress: a rich progress bar per layer.
        keep_decoders: keep each thrown-away decoder in its report (for inspection).

    Returns: one :class:`LayerReport` per hidden layer. Bad input raises before any training.
    """
    # -- every check first
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"{_WHERE}: method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    plan = hidden_layers(model)
    dt = _model_dtype(model)
    X = _check_data(X, plan[0][1].in_features, dt, method)
    epochs = positive_int(epochs, "epochs", _WHERE)
    batch_size = positive_int(batch_size, "batch_size", _WHERE)
    lr = DEFAULT_LR[method] if lr is None else positive_float(lr, "lr", _WHERE)
    cd_k = positive_int(cd_k, "cd_k", _WHERE)
    noise = probability(noise, "noise", _WHERE) if method == "denoising" else 0.0
    if not isinstance(tied, bool):
        raise TypeError(f"{_WHERE}: tied must be True or False, got {tied!r}")
    if method == "rbm":
        for i, lin, act in plan:
            if not isinstance(act, nn.Sigmoid):
                raise ValueError(
                    f"{_WHERE}: an RBM needs sigmoid hidden units (p(h = 1 | v) = σ(v Wᵀ + b)), but hidden "
                    f"{lin._label()} (module {i}) is followed by {_act_name(act) or 'no activation'}; use "
                    "nn.Sigmoid there or method='autoencoder'")
    root = np.random.SeedSequence(nonnegative_int(seed, "seed", _WHERE))

    # -- train, layer by layer
    flags = {id(p): p.requires_grad for p in model.parameters()}
    params = list(model.parameters())
    bars = _Bars(progress)
    reports: list[LayerReport] = []
    try:
        for p in params:
            p.requires_grad_(False)
        H = X
        for (i, lin, act), ss in zip(plan, root.spawn(len(plan))):
            t0 = time.perf_counter()
            rng = np.random.default_rng(ss)
            name = lin._label() + (f" + {_act_name(act)}" if act is not None else "")
            rep = LayerReport(i, name, method, lin.in_features, lin.out_features, _act_name(act))
            nb = -(-len(H) // batch_size)
            task = bars.task(f"pre-training {name} ({method})", epochs * nb)
            if method == "rbm":
                _train_rbm(lin, H, epochs, batch_size, lr, cd_k, rng, rep, bars, task, keep_decoders)
            else:
                _train_ae(lin, act, H, epochs, batch_size, lr, noise, tied, rng, rep, bars, task, keep_decoders)
            rep.seconds = time.perf_counter() - t0
            reports.append(rep)
            H = _map(lin, act, H)
    finally:
        bars.close()
        for p in params:
            p.requires_grad_(flags[id(p)])
    return reports


def _train_ae(lin, act, H, epochs, batch_size, lr, noise, tied, rng, rep, bars, task, keep):
    dt = lin.weight.data.dtype
    dec = None if tied else nn.Linear(lin.out_features, lin.in_features, bias=False, rng=rng, dtype=dt)
    dec_w = None if tied else dec.weight
    dec_b = nn.Parameter(np.zeros(lin.in_features, dtype=dt))
    params = [lin.weight] + ([lin.bias] if lin.bias is not None else []) + ([] if tied else [dec_w]) + [dec_b]
    for p in params:
        p.requires_grad_(True)
    opt = optim.Adam(params, lr=lr)
    eval_seed = np.random.SeedSequence(int(rng.integers(2**63)))
    rep.errors.append(_ae_error(lin, act, dec_w, dec_b, H, noise, eval_seed))
    try:
        for epoch in range(epochs):
            order = rng.permutation(len(H))
            tot = 0.0
            for s in range(0, len(H), batch_size):
                x = H[order[s:s + batch_size]]
                xin = masking_noise(x, noise, rng) if noise else x
                loss = autoencoder_loss(Tensor(xin), Tensor(x), lin.weight, lin.bias, dec_w, dec_b, act)
                value = float(loss.data)
                if not math.isfinite(value):
                    raise FloatingPointError(f"{_WHERE}: the reconstruction loss of {rep.name} became {value} at "
                                             f"epoch {epoch + 1}; lower lr (now {lr:g})")
                opt.zero_grad()
                loss.backward()
                opt.step()
                tot += value * len(x)
                bars.advance(task, value)
            rep.batch_losses.append(tot / len(H))
            rep.errors.append(_ae_error(lin, act, dec_w, dec_b, H, noise, eval_seed))
    finally:
        for p in params:
            p.requires_grad_(False)
            p.grad = None
    if keep:
        rep.decoder = {"weight": (lin.weight.data.T if tied else dec_w.data).copy(), "bias": dec_b.data.copy()}


def _train_rbm(lin, V, epochs, batch_size, lr, k, rng, rep, bars, task, keep):
    dt = lin.weight.data.dtype
    W = lin.weight.data.copy()
    b = lin.bias.data.copy() if lin.bias is not None else np.zeros(lin.out_features, dtype=dt)
    # visible bias: log(p/(1 − p)) of each input's mean (the guide's §8), p clipped away from 0 and 1
    pbar = np.clip(V.mean(axis=0, dtype=np.float64), 1e-3, 1 - 1e-3)
    c = np.log(pbar / (1 - pbar)).astype(dt)
    rate = dt.type(lr)
    rep.errors.append(rbm_reconstruction_error(W, b, c, V))
    for epoch in range(epochs):
        order = rng.permutation(len(V))
        tot = 0.0
        for s in range(0, len(V), batch_size):
            v0 = V[order[s:s + batch_size]]
            g = cd_k_update(W, b, c, v0, k, rng)
            W += rate * g["dW"]
            b += rate * g["db"]
            c += rate * g["dc"]
            err = float(np.sum((g["v_k"] - v0).astype(np.float64) ** 2)) / len(v0)
            if not (math.isfinite(err) and np.isfinite(W).all()):
                raise FloatingPointError(f"{_WHERE}: the RBM of {rep.name} became non-finite at epoch {epoch + 1}; "
                                         f"lower lr (now {lr:g})")
            tot += err * len(v0)
            bars.advance(task, err)
        rep.batch_losses.append(tot / len(V))
        rep.errors.append(rbm_reconstruction_error(W, b, c, V))
    lin.weight.data[...] = W
    if lin.bias is not None:
        lin.bias.data[...] = b
    if keep:
        rep.decoder = {"weight": W.T.copy(), "bias": c.copy()}
