"""Model averaging (seed 001): bagging, and dropout read as an ensemble of its sub-networks.

Bagging (the notes: "train k models with independent weights (w₁, …, w_k) on independently sampled data
points from the original dataset"): member i is trained on its own *bootstrap sample* — n draws with
replacement from the n training examples — that stays the same across epochs ("the (sub)set of training
samples seen by each of the models does not change across epochs"). At inference the members' predictions
are combined, as the notes list them:

    mean       f̂(x) = (1/k) Σᵢ f̂ᵢ(x)                                  (the arithmetic mean of the softmax outputs)
    geometric  f̂(x)_c ∝ (Πᵢ f̂ᵢ(x)_c)^(1/k), renormalised over the classes c
    max        f̂(x)_c ∝ maxᵢ f̂ᵢ(x)_c, renormalised over the classes c
    vote       mode(argmax f̂₁(x), …, argmax f̂_k(x)): the share of the members' votes per class; ties between
               classes with the same number of votes are broken by the arithmetic mean probability

A bootstrap sample of size n leaves out each example with probability (1 − 1/n)ⁿ → 1/e ≈ 0.368, and as many
of its n draws repeat an earlier draw as there are examples left out (the notes: "about 36% of training
samples are duplicates"). The left-out ("out-of-bag") examples of a member are a free test set for it:
:attr:`Bagging.oob_indices`, :attr:`Bagging.oob_accuracy`.

Dropout (seed 001: "the number of sub-models is exponentially high", all sharing the weights):
:class:`DropoutEnsemble` predicts with the weight-scaling rule (layerlab's dropout is inverted — survivors are
scaled by 1/(1 − p) in training — so the rule is the plain eval-mode forward) or by Monte-Carlo averaging of
the softmax outputs of k sampled sub-networks (arithmetic mean, or the renormalised geometric mean, which is
softmax of the mean log-probabilities).

Class probabilities here are float64 (softmax of the model's float32 outputs, computed in float64 so that the
combination rules — products, logs, renormalisation — are not limited by float32 rounding).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from . import nn
from .data import DataLoader, Subset, TensorDataset
from .tensor import Tensor, no_grad
from .train import Trainer

__all__ = ["Bagging", "DropoutEnsemble", "COMBINE_RULES", "combine_probabilities", "combine_predictions",
           "bootstrap_sample", "softmax_probabilities"]

COMBINE_RULES = ("mean", "geometric", "max", "vote")
_TINY = 1e-300  # a probability floored here before a log (a member that gives a class exactly 0)


# -- combining the members' probabilities --------------------------------------------------------------------------
def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax_probabilities(logits) -> np.ndarray:
    """softmax(z)_c = e^{z_c} / Σ_c' e^{z_c'} over the last axis, in float64 (max-shifted: no overflow)."""
    return np.exp(_log_softmax(logits))


def _check_probs(probs, who: str) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 3 or 0 in p.shape:
        raise ValueError(f"{who}: expected the members' class probabilities as an array of shape (members, examples, "
                         f"classes) with none of them 0, got shape {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError(f"{who}: the members' probabilities must be finite and ≥ 0")
    return p


def _check_rule(rule: str, who: str) -> str:
    if rule not in COMBINE_RULES:
        raise ValueError(f"{who}: combine must be one of {', '.join(repr(r) for r in COMBINE_RULES)}, got {rule!r}")
    return rule


def combine_probabilities(probs, rule: str = "mean") -> np.ndarray:
    """Combine the members' class probabilities ``probs`` (shape (k, n, C): member, example, class) by ``rule``.

    ``"mean"``: (1/k) Σᵢ pᵢ; ``"geometric"``: (Πᵢ pᵢ)^(1/k) renormalised over the classes (computed as the softmax
    of the mean log-probability; a probability of exactly 0 is floored at 1e-300 first); ``"max"``: maxᵢ pᵢ per
    class, renormalised; ``"vote"``: the share of members whose argmax is each class (ties are broken in
    :func:`combine_predictions`, not here). Returns float64, shape (n, C); each row sums to 1.
    """
    _check_rule(rule, "combine_probabilities")
    p = _check_probs(probs, "combine_probabilities")
    if rule == "mean":
        return p.mean(axis=0)
    if rule == "geometric":
        return np.exp(_log_softmax(np.log(np.maximum(p, _TINY)).mean(axis=0)))
    if rule == "max":
        m = p.max(axis=0)
        s = m.sum(axis=1, keepdims=True)
        if (s <= 0).any():
            raise ValueError("combine_probabilities: rule 'max': every member gives probability 0 to every class of "
                             f"example {int(np.argmax(s.ravel() <= 0))} (nothing to renormalise)")
        return m / s
    k, n, c = p.shape
    votes = np.zeros((n, c))
    np.add.at(votes, (np.arange(n)[None, :].repeat(k, 0), p.argmax(axis=2)), 1.0)
    return votes / k


def combine_predictions(probs, rule: str = "mean") -> np.ndarray:
    """The class each example is given: the argmax of :func:`combine_probabilities` (the first class on an exact
    tie), except ``"vote"``: the class with the most votes, ties between those broken by the highest arithmetic
    mean probability (then the lowest class index). Returns int64, shape (n,)."""
    combined = combine_probabilities(probs, rule)
    if rule != "vote":
        return combined.argmax(axis=1).astype(np.int64)
    mean = np.asarray(probs, dtype=np.float64).mean(axis=0)
    top = combined == combined.max(axis=1, keepdims=True)
    return np.where(top, mean, -np.inf).argmax(axis=1).astype(np.int64)


def bootstrap_sample(n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws with replacement from range(n): ``rng.integers(0, n, size=n)`` (int64)."""
    return rng.integers(0, int(n), size=int(n)).astype(np.int64)


def _batched_logits(model, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    outs = [model(Tensor(x[i:i + batch_size])).data for i in range(0, len(x), batch_size)]
    return np.concatenate(outs)


def _default_trainer(model, loss_fn, optimizer, member: int, seed: int) -> Trainer:
    return Trainer(model, loss_fn, optimizer, seed=seed, progress=False)


# -- bagging -------------------------------------------------------------------------------------------------------
class Bagging:
    """Bootstrap aggregating: ``n_models`` members, each trained on its own fixed bootstrap sample.

    Args:
        make_model: ``make_model(rng) -> nn.Module``, called once per member with a seeded
            ``np.random.Generator`` of that member's own (member i: ``default_rng(SeedSequence(seed).spawn(
            n_models)[i].spawn(3)[0])``); draw the initial weights from it, e.g.
            ``lambda rng: nn.Sequential(nn.Linear(784, 100, rng=rng), nn.ReLU(), nn.Linear(100, 10, rng=rng))``,
            so that the members start from different, reproducible weights.
        n_models: k ≥ 1, the number of members.
        combine: how :meth:`predict_proba` / :meth:`predict` combine the members (see
            :func:`combine_probabilities`): ``"mean"`` (default), ``"geometric"``, ``"max"`` or ``"vote"``.
        seed: a non-negative int; the same seed gives a bit-identical ensemble (weights, bootstrap samples,
            shuffling and dropout masks of each member).
        progress: a rich progress bar over the members during :meth:`fit` (default: when stdout is a terminal).

    Member i's stream ``SeedSequence(seed).spawn(n_models)[i]`` is split three ways: its initial weights, its
    bootstrap sample (drawn at :meth:`fit`, once), and the seed of its Trainer (data order, dropout masks).
    After :meth:`fit`: ``bootstrap_indices[i]`` (the n drawn example indices, with repeats),
    ``oob_indices[i]`` (the sorted indices never drawn for member i) and ``oob_accuracy[i]`` (member i's accuracy
    on them; NaN if there are none), ``histories[i]`` (its Trainer's History).
    """

    def __init__(self, make_model: Callable[[np.random.Generator], nn.Module], n_models: int,
                 combine: str = "mean", seed: int = 0, progress: bool | None = None):
        if not callable(make_model):
            raise TypeError(f"Bagging: make_model must be a callable make_model(rng) -> nn.Module, got "
                            f"{type(make_model).__name__}")
        if isinstance(n_models, bool) or not isinstance(n_models, (int, np.integer)) or n_models < 1:
            raise ValueError(f"Bagging: n_models must be an int ≥ 1 (the number of members), got {n_models!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"Bagging: seed must be a non-negative int, got {seed!r}")
        self.combine = _check_rule(combine, "Bagging")
        self.n_models, self.seed = int(n_models), int(seed)
        self.progress = progress
        self._streams = [child.spawn(3) for child in np.random.SeedSequence(self.seed).spawn(self.n_models)]
        self.members: list[nn.Module] = []
        for i, (w, _, _) in enumerate(self._streams):
            m = make_model(np.random.default_rng(w))
            if not isinstance(m, nn.Module):
                raise TypeError(f"Bagging: make_model(rng) must return an nn.Module; member {i} is "
                                f"{type(m).__name__}")
            self.members.append(m)
        self.bootstrap_indices: list[np.ndarray] = []
        self.oob_indices: list[np.ndarray] = []
        self.oob_accuracy: list[float] = []
        self.histories: list = []
        self.input_shape: tuple[int, ...] | None = None

    def _member_seed(self, i: int) -> int:
        return int(self._streams[i][2].generate_state(1, dtype=np.uint32)[0])

    def fit(self, x, y, *, optimizer: Callable, epochs: int, batch_size: int = 64, loss_fn=None,
            trainer: Callable | None = None) -> "Bagging":
        """Train every member on its bootstrap sample of (x, y), one after the other, through a ``Trainer``.

        Args:
            x, y: the n training examples (arrays, first axis n).
            optimizer: ``optimizer(params) -> optim optimiser``, called per member with its parameters
                (e.g. ``lambda params: optim.SGD(params, lr=0.1)``).
            epochs, batch_size: each member sees its own n bootstrap draws (the same every epoch, reshuffled
                per epoch from the member's seed) for ``epochs`` epochs in mini-batches of ``batch_size``.
            loss_fn: ``loss_fn(output, target)``; default ``nn.CrossEntropyLoss()``.
            trainer: ``trainer(model, loss_fn, optimizer, member=i, seed=s) -> Trainer`` to build each member's
                Trainer (the lab passes ``ctx.trainer``); default ``Trainer(..., seed=s, progress=False)``. The
                seed ``s`` must be passed on for the ensemble to be reproducible.
        """
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim < 2 or len(x) == 0:
            raise ValueError(f"Bagging.fit: x must have shape (n, features...) with n ≥ 1, got {x.shape}")
        if len(x) != len(y):
            raise ValueError(f"Bagging.fit: x has {len(x)} examples but y has {len(y)}")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"Bagging.fit: epochs must be an int ≥ 1, got {epochs!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"Bagging.fit: batch_size must be an int ≥ 1, got {batch_size!r}")
        if not callable(optimizer):
            raise TypeError("Bagging.fit: optimizer must be a callable optimizer(params) -> optimiser, e.g. "
                            f"lambda params: optim.SGD(params, lr=0.1); got {type(optimizer).__name__}")
        loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
        make_trainer = trainer or _default_trainer
        n = len(x)
        # refuse a wrong width before any training: one example through the first member
        m0 = self.members[0]
        was = m0.training
        m0.eval()
        try:
            with no_grad():
                m0(Tensor(x[:1]))
        except Exception as e:
            raise ValueError(f"Bagging.fit: x of shape {x.shape} does not fit the members "
                             f"({type(m0).__name__}): {e}") from e
        finally:
            m0.train(was)
        self.input_shape = tuple(x.shape[1:])
        self.bootstrap_indices = [bootstrap_sample(n, np.random.default_rng(s[1])) for s in self._streams]
        self.oob_indices = [np.setdiff1d(np.arange(n), idx) for idx in self.bootstrap_indices]
        self.oob_accuracy, self.histories = [], []
        full = TensorDataset(x, y)
        with _MemberProgress(self.n_models, self.progress) as bar:
            for i, (model, idx) in enumerate(zip(self.members, self.bootstrap_indices)):
                seed = self._member_seed(i)
                loader = DataLoader(Subset(full, idx), batch_size=int(batch_size), shuffle=True, seed=seed)
                tr = make_trainer(model, loss_fn, optimizer(model.parameters()), member=i, seed=seed)
                self.histories.append(tr.fit(loader, epochs=int(epochs)))
                oob = self.oob_indices[i]
                if len(oob):
                    pred = self._logits(model, x[oob]).argmax(axis=1)
                    self.oob_accuracy.append(float(np.mean(pred == y[oob])))
                else:
                    self.oob_accuracy.append(math.nan)
                bar.advance()
        return self

    @staticmethod
    def _logits(model, x: np.ndarray) -> np.ndarray:
        was = model.training
        model.eval()
        try:
            with no_grad():
                return _batched_logits(model, x)
        finally:
            model.train(was)

    def _check_x(self, x, who: str) -> np.ndarray:
        if self.input_shape is None:
            raise RuntimeError(f"Bagging.{who}: the ensemble is not fitted yet (call fit first)")
        x = np.asarray(x)
        if x.ndim < 2 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"Bagging.{who}: x must have shape (n, {', '.join(map(str, self.input_shape))}) like the "
                             f"training data, got {x.shape}")
        return x

    def member_proba(self, x, n_members: int | None = None) -> np.ndarray:
        """The class probabilities (softmax of the eval-mode outputs) of the first ``n_members`` members (all by
        default): float64, shape (members, n, classes)."""
        x = self._check_x(x, "member_proba")
        k = self.n_models if n_members is None else int(n_members)
        if not 1 <= k <= self.n_models:
            raise ValueError(f"Bagging.member_proba: n_members must be in 1..{self.n_models}, got {n_members!r}")
        return np.stack([softmax_probabilities(self._logits(m, x)) for m in self.members[:k]])

    def predict_proba(self, x, combine: str | None = None) -> np.ndarray:
        """The combined class probabilities, shape (n, classes) (``combine`` overrides the ensemble's rule;
        for ``"vote"``: the members' vote shares)."""
        return combine_probabilities(self.member_proba(x), _check_rule(combine or self.combine, "Bagging"))

    def predict(self, x, combine: str | None = None) -> np.ndarray:
        """The predicted classes (int64, shape (n,)); see :func:`combine_predictions` for ties."""
        return combine_predictions(self.member_proba(x), _check_rule(combine or self.combine, "Bagging"))


class _MemberProgress:
    def __init__(self, total: int, show: bool | None):
        import sys

        self.total = total
        self.show = sys.stdout.isatty() if show is None else bool(show)
        self._p = self._task = None

    def __enter__(self):
        if self.show:
            from rich.errors import LiveError
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._p = Progress(TextColumn("bagging: members"), BarColumn(), MofNCompleteColumn(),
                               TimeRemainingColumn())
            try:
                self._p.start()
                self._task = self._p.add_task("members", total=self.total)
            except LiveError:  # another live display is running: stay quiet
                self._p = None
        return self

    def advance(self) -> None:
        if self._p is not None:
            self._p.update(self._task, advance=1)

    def __exit__(self, *exc):
        if self._p is not None:
            self._p.stop()
        return False


# -- dropout as an ensemble ----------------------------------------------------------------------------------------
class DropoutEnsemble:
    """A network with ``nn.Dropout`` modules read as the ensemble of its sub-networks (one per set of masks).

    * :meth:`weight_scaling_proba`: the weight-scaling rule — every unit kept, its outgoing weights scaled by the
      keep probability 1 − p. layerlab's dropout is inverted (survivors scaled by 1/(1 − p) during training),
      so the rule is exactly the eval-mode forward: softmax(f(x; θ)).
    * :meth:`mc_proba`: Monte-Carlo averaging over k sampled sub-networks: every module in eval mode except the
      Dropout modules, which sample masks (μ ~ Bernoulli(1 − p) per entry, as in training); sub-network j's
      masks are drawn for all of ``x`` at once (shape of the layer's input: every example gets its own mask, as
      every training example does). The k softmax outputs pⱼ are combined as the arithmetic mean (1/k)Σⱼ pⱼ or
      the renormalised geometric mean softmax((1/k)Σⱼ log pⱼ).

    Seeding: the masks come from generators spawned from ``rng`` (``np.random.default_rng(rng)`` if an int),
    one per Dropout module in ``model.modules()`` order; the model's own mask generators (``Dropout.rng``) are
    swapped out during the call and put back untouched (their objects and states), and every module's
    train/eval mode is restored. So the same ``rng`` seed gives the same masks, whatever the model's state.
    """

    def __init__(self, model: nn.Module):
        if not isinstance(model, nn.Module):
            raise TypeError(f"DropoutEnsemble: model must be an nn.Module, got {type(model).__name__}")
        self.model = model
        self.dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]

    def _check_x(self, x, who: str) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim < 2 or len(x) == 0:
            raise ValueError(f"DropoutEnsemble.{who}: x must have shape (n, features...) with n ≥ 1, got {x.shape}")
        first = next((m for m in self.model.modules() if isinstance(m, nn.Linear)), None)
        mods = list(self.model) if isinstance(self.model, nn.Sequential) else []
        if first is not None and mods and mods[0] is first and x.shape[-1] != first.in_features:
            raise ValueError(f"DropoutEnsemble.{who}: the model's first layer is Linear({first.in_features}, "
                             f"{first.out_features}): x must have {first.in_features} features per example, got "
                             f"shape {x.shape}")
        return x

    def _restore_modes(self):
        modes = [(m, m.training) for m in self.model.modules()]

        def restore():
            for m, mode in modes:
                m.__dict__["training"] = mode
        return restore

    def weight_scaling_proba(self, x, batch_size: int = 1024) -> np.ndarray:
        """softmax of the eval-mode forward (the weight-scaling rule with inverted dropout): float64, (n, classes)."""
        x = self._check_x(x, "weight_scaling_proba")
        restore = self._restore_modes()
        self.model.eval()
        try:
            with no_grad():
                return softmax_probabilities(_batched_logits(self.model, x, batch_size))
        finally:
            restore()

    def mc_proba(self, x, ks, rng=0) -> dict[int, dict[str, np.ndarray]]:
        """Monte-Carlo averages over the first k of ``max(ks)`` sampled sub-networks, for every k in ``ks``:
        ``{k: {"arithmetic": (1/k)Σⱼ pⱼ, "geometric": softmax((1/k)Σⱼ log pⱼ)}}`` (float64, (n, classes)).

        ``rng``: a ``np.random.Generator`` or an int seed; the masks come from ``rng.spawn(#Dropout modules)``.
        For an ``nn.Sequential`` the layers before its first Dropout are computed once (eval mode).
        """
        x = self._check_x(x, "mc_proba")
        if not self.dropouts:
            raise ValueError("DropoutEnsemble.mc_proba: the model has no Dropout module (nothing to sample); its "
                             f"modules are {[type(m).__name__ for m in self.model.modules()]}")
        try:
            ks = sorted({int(k) for k in ks})
        except TypeError as e:
            raise TypeError(f"DropoutEnsemble.mc_proba: ks must be an iterable of ints ≥ 1, got {ks!r}") from e
        if not ks or ks[0] < 1:
            raise ValueError(f"DropoutEnsemble.mc_proba: every k must be ≥ 1 (and at least one), got {ks}")
        g = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        streams = g.spawn(len(self.dropouts))
        saved = [d.rng for d in self.dropouts]
        restore = self._restore_modes()
        self.model.eval()
        for d in self.dropouts:
            d.train(True)
        mods = list(self.model) if isinstance(self.model, nn.Sequential) else None
        start = next((i for i, m in enumerate(mods) if isinstance(m, nn.Dropout)), None) if mods else None
        out: dict[int, dict[str, np.ndarray]] = {}
        try:
            with no_grad(), np.errstate(all="ignore"):
                h = Tensor(x)
                if start is not None:
                    for m in mods[:start]:
                        h = m(h)
                rest = mods[start:] if start is not None else [self.model]
                sum_p = sum_logp = None
                for j in range(1, ks[-1] + 1):
                    for d, s in zip(self.dropouts, streams):
                        d.rng = s
                    z = h
                    for m in rest:
                        z = m(z)
                    logp = _log_softmax(z.data)
                    sum_p = np.exp(logp) if sum_p is None else sum_p + np.exp(logp)
                    sum_logp = logp if sum_logp is None else sum_logp + logp
                    if j in ks:
                        out[j] = {"arithmetic": sum_p / j, "geometric": np.exp(_log_softmax(sum_logp / j))}
        finally:
            for d, r in zip(self.dropouts, saved):
                d.rng = r
            restore()
        return out

    def predict_proba(self, x, k: int | None = None, mean: str = "arithmetic", rng=0) -> np.ndarray:
        """``k=None``: the weight-scaling rule; else the ``mean`` (``"arithmetic"`` or ``"geometric"``) of k sampled
        sub-networks' softmax outputs (masks from ``rng``, see :meth:`mc_proba`)."""
        if mean not in ("arithmetic", "geometric"):
            raise ValueError(f"DropoutEnsemble: mean must be 'arithmetic' or 'geometric', got {mean!r}")
        if k is None:
            return self.weight_scaling_proba(x)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"DropoutEnsemble: k (the number of sampled sub-networks) must be an int ≥ 1 or None "
                             f"(weight scaling), got {k!r}")
        return self.mc_proba(x, [int(k)], rng)[int(k)][mean]

    def predict(self, x, k: int | None = None, mean: str = "arithmetic", rng=0) -> np.ndarray:
        """The argmax of :meth:`predict_proba` (int64, shape (n,))."""
        return self.predict_proba(x, k, mean, rng).argmax(axis=1).astype(np.int64)
