"""The set-ups several experiments share: the notes' networks, their data and a fixed-length fit."""

from __future__ import annotations

import numpy as np

from layerlab import data, nn
from layerlab.train import Callback, NonFiniteError

__all__ = ["mlp", "square_mlp", "unit_gaussian", "fashion", "Reloadable", "fit_iterations", "Periodic"]


def mlp(sizes, activation, init, rng: np.random.Generator, bias_init=0.0, batch_norm: bool = False,
        dtype=np.float32, *, out_init=None, dropout: float = 0.0,
        dropout_rng: np.random.Generator | None = None) -> nn.Sequential:
    """Linear(sizes[i], sizes[i+1]) [→ BatchNorm] → activation [→ Dropout(p)], for every hidden layer; a Linear
    output layer (initialised with ``out_init``, default ``init``).

    The weights are drawn from ``rng`` layer by layer, so the same ``rng`` gives the same weights whatever
    ``dropout`` is. Each Dropout layer gets its own mask generator, seeded from ``dropout_rng`` (default:
    ``rng``, after all the weights are drawn); ``dropout=0`` leaves the Dropout layers out.
    """
    layers: list[nn.Module] = []
    hidden = len(sizes) - 2
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == hidden
        layers.append(nn.Linear(a, b, init=(out_init or init) if last else init,
                                bias_init=0.0 if last else bias_init, rng=rng, dtype=dtype))
        if not last:
            if batch_norm:
                layers.append(nn.BatchNorm(b))
            if activation is not None:
                layers.append(nn.activation(activation))
            if dropout:
                layers.append(None)  # a Dropout, once every weight is drawn
    masks = dropout_rng if dropout_rng is not None else rng
    layers = [nn.Dropout(dropout, rng=np.random.default_rng(int(masks.integers(2**63)))) if m is None else m
              for m in layers]
    return nn.Sequential(*layers)


def unit_gaussian(n: int, width: int, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """The notes' input ``D = np.random.randn(n, width)``, drawn from ``rng`` (float32 by default)."""
    return rng.standard_normal((int(n), int(width))).astype(dtype)


def square_mlp(width: int, depth: int, activation: str | None, init, rng: np.random.Generator,
              dtype=np.float32) -> nn.Sequential:
    """``depth`` × (``Linear(width, width, init=init, bias=False)`` then ``activation``).

    ``activation`` is a name for ``nn.activation`` (``None``: linear layers only); ``init``
    anything ``nn.Linear(init=)`` takes. All weights are drawn from ``rng``, layer by layer.
    """
    layers: list[nn.Module] = []
    for _ in range(int(depth)):
        layers.append(nn.Linear(width, width, bias=False, init=init, rng=rng, dtype=dtype))
        if activation is not None:
            layers.append(nn.activation(activation))
    return nn.Sequential(*layers)


#: (the data layer's shared train x, its test x, their standardised copies): made once per process
_STANDARDISED: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []


def _standardise(x: np.ndarray, xt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x − m)/s and (xt − m)/s with m, s the mean and std of all of ``x``'s entries (float32 arithmetic)."""
    m, s = float(x.mean()), float(x.std())
    return (x - np.float32(m)) / np.float32(s), (xt - np.float32(m)) / np.float32(s)


def _standardised_whole(x: np.ndarray, xt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_standardise` of the data layer's shared (read-only) arrays, computed once and read-only."""
    if not (_STANDARDISED and _STANDARDISED[0][0] is x and _STANDARDISED[0][1] is xt):
        xs, xts = _standardise(x, xt)
        xs.flags.writeable = xts.flags.writeable = False
        _STANDARDISED[:] = [(x, xt, xs, xts)]
    return _STANDARDISED[0][2], _STANDARDISED[0][3]


def fashion(n_train: int | None = None, n_test: int | None = None, standardize: bool = False,
            rng: np.random.Generator | None = None):
    """Fashion-MNIST as ((x, y), (xt, yt)), optionally a random subset; a clear error when it is missing.

    ``standardize``: z = (x − m)/s with m, s the mean and std over all entries of the (subset's) training
    images, applied to both splits. Without subsets the arrays are the data layer's shared ones
    (``fashion_mnist(shared=True)``) and, standardised, a copy made once per process: shared and
    read-only — copy before changing them. A subset (``n_train`` / ``n_test`` below the split's size, drawn
    from ``rng``, default ``default_rng(0)``, train first) is a new array.
    """
    try:
        (x, y), (xt, yt) = data.fashion_mnist(shared=True)
    except (FileNotFoundError, OSError, ValueError) as e:
        raise RuntimeError(
            "this experiment needs Fashion-MNIST (the notes use MNIST): install Debian's dataset-fashion-mnist, "
            f"set $LAYERLAB_DATA, or allow the download ({e})"
        ) from e
    rng = rng or np.random.default_rng(0)
    whole = True
    if n_train is not None and n_train < len(x):
        idx = rng.choice(len(x), n_train, replace=False)
        x, y, whole = x[idx], y[idx], False
    if n_test is not None and n_test < len(xt):
        idx = rng.choice(len(xt), n_test, replace=False)
        xt, yt, whole = xt[idx], yt[idx], False
    if standardize:
        x, xt = _standardised_whole(x, xt) if whole else _standardise(x, xt)
    return (x, y), (xt, yt)


class Reloadable:
    """A data set the arms of ``ctx.map`` read, by calling it: the value itself in the process that made
    it; where it was pickled to (a worker), ``load()`` there instead. A Fashion-MNIST set reloaded from the
    data layer's per-process cache costs less than 188 MB shipped with every item. ``load`` must give the
    same arrays (the same subset: draw it from the same ``ctx.rng_for`` stream)."""

    def __init__(self, value, load):
        self.value, self.load = value, load

    def __call__(self):
        if self.value is None:
            self.value = self.load()
        return self.value

    def __reduce__(self):  # the loader travels, not the data
        return Reloadable, (None, self.load)


class _StopAfter(Callback):
    def __init__(self, n: int):
        self.n = n

    def on_batch_end(self, trainer, step, logs):
        if trainer.step >= self.n:
            trainer.stop_training = True


def fit_iterations(ctx, model, optimizer, x, y, iterations: int, batch_size: int, label: str,
                   loss_fn=None, callbacks=(), seed: int = 0, **trainer_kwargs) -> dict:
    """Train for exactly ``iterations`` mini-batch steps (shuffled, seeded) with a lab Trainer
    (``trainer_kwargs``, e.g. ``scheduler=``, go to the Trainer).

    Returns {"losses": per-step losses, "diverged": None or the step at which the loss or a
    gradient became non-finite (the NaN guard stops the run there, the bad update not applied),
    "trainer": the Trainer}.
    """
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=batch_size, shuffle=True, seed=seed)
    trainer = ctx.trainer(model, loss_fn or nn.CrossEntropyLoss(), optimizer, label=label,
                          callbacks=[_StopAfter(iterations), *callbacks], **trainer_kwargs)
    epochs = -(-iterations // len(loader))
    diverged = None
    try:
        trainer.fit(loader, epochs=epochs)
    except NonFiniteError:
        diverged = trainer.step
    losses = [s["loss"] for s in trainer.history.steps]
    if diverged is not None:
        losses.append(float("nan"))
    return {"losses": losses, "diverged": diverged, "trainer": trainer}


class Periodic(Callback):
    """A measurement taken during a fit: at its start, every ``every`` steps, and (``at_end``) at the step it
    ends on — also when the NaN guard stops it, then on the last finite weights. Subclasses define
    ``measure(trainer)``; the steps measured are in ``steps``."""

    def __init__(self, every: int, at_end: bool = True):
        self.every, self.at_end = int(every), at_end
        self.steps: list[int] = []

    def measure(self, trainer) -> None:
        raise NotImplementedError(f"{type(self).__name__} defines no measure(trainer)")

    def _take(self, trainer) -> None:
        self.steps.append(trainer.step)
        self.measure(trainer)

    def on_fit_start(self, trainer):
        self._take(trainer)

    def on_batch_end(self, trainer, step, logs):
        if trainer.step % self.every == 0:
            self._take(trainer)

    def on_fit_end(self, trainer):
        if self.at_end and self.steps[-1] != trainer.step:
            self._take(trainer)

