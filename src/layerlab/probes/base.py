"""The common machinery of probes: sampling, layer selection, tidy records and accessors.

A probe is a :class:`~layerlab.train.Callback` that measures something inside a
model and appends *reduced* numbers (never tensors) to ``probe.records``, a tidy
list of dicts ``{"step", "layer", "kind", "stat", "value"}``. The Chainer-style key
of a record is ``layer/kind/stat``, e.g. ``"1/post/std"`` (activation of module
``"1"``) or ``"0/weight/grad/norm"`` (gradient of ``0.weight``); see
:meth:`Probe.keyed`.

Two ways to use a probe:

* as a Trainer callback, ``Trainer(..., callbacks=[ActivationStats(every=10)])``:
  it takes ``trainer.model`` at ``on_fit_start`` (unless given a model), samples the
  steps with ``step % every == 0`` and removes everything it installed at
  ``on_fit_end``;
* by hand, without a Trainer: ``with ActivationStats(model) as probe: model(x)``
  (or ``probe.attach(model)`` ... ``probe.detach()``), and ``probe.record()`` for the
  probes that read parameters or gradients.

Cost: nothing is installed on the model outside the sampled steps (and outside
``attach``/``detach``), and a non-sampled step costs one integer test.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .._checks import positive_int
from ..nn.activations import Activation
from ..train import Callback

__all__ = [
    "Probe", "DEFAULT_EVERY", "Scratch", "saturation_range", "can_die", "is_activation", "split_param_name",
]


# What an activation is, where it saturates and whether its units can die are traits of its
# class (nn/activations.py); probes read them and hold no list of names, so a new activation
# class is probed like the built-in ones.

def is_activation(module) -> bool:
    """True for an activation module: an instance of ``nn.Activation`` (Softmax and LogSoftmax
    included: the output layers' distributions are recorded too)."""
    return isinstance(module, Activation)


def saturation_range(module) -> tuple | None:
    """(lo, hi) of a saturating activation module (its ``saturates`` trait; ``None`` marks an end
    that does not saturate), else None."""
    return module.saturates if isinstance(module, Activation) else None


def can_die(module) -> bool:
    """True for an activation whose units can die (its ``can_die`` trait); its ``dead_units(y)``
    then tells which: those whose output is ``<= 0`` for every example (see ``nn.Activation``)."""
    return isinstance(module, Activation) and type(module).can_die


def split_param_name(name: str) -> tuple[str, str]:
    """``"3.weight"`` -> ``("3", "weight")``; a parameter of the root module gets layer ``""``."""
    layer, _, param = name.rpartition(".")
    return layer, param


#: The sampling period of a probe in a Trainer when ``every`` is not given (Symmetry,
#: whose Gram matrices cost more and change slowly: 50). With these defaults all four
#: probes together cost < 10 % of a training step of a 784-500-500-500-10 tanh MLP at
#: batch 256 (``benchmarks/probe_cost.py``). By hand (``attach`` / ``with probe:``) the
#: default is every forward pass.
DEFAULT_EVERY = 10


class Scratch:
    """Work arrays reused from one call to the next, one per (name, dtype), grown to the largest
    size asked for.

    The statistics of a probe need temporaries as large as the tensor they reduce (a deviation,
    a bin index, a mask). Allocated afresh each time, an array of a few hundred kB comes from a new
    memory mapping, and the page faults of its first write cost several times the arithmetic
    (measured: a 1 MB temporary, ~470 faults, ~1.3 ms of system time). A probe keeps its work
    arrays from one sampled step (and one ``fit``) to the next — one float and one byte per entry
    of the largest tensor it reduces, plus fixed-size chunks — and drops them at ``detach``.
    """

    def __init__(self):
        self._bufs: dict = {}

    def get(self, name: str, dtype, n: int) -> np.ndarray:
        """A 1-D array of ``n`` entries of ``dtype`` (contents undefined), the same memory at
        every call with this ``name`` and ``dtype`` (so two names never alias)."""
        key = (name, np.dtype(dtype))
        buf = self._bufs.get(key)
        if buf is None or buf.size < n:
            buf = self._bufs[key] = np.empty(n, key[1])
        return buf[:n]

    def clear(self) -> None:
        """Free every work array."""
        self._bufs = {}


def _check_every(every, who: str) -> int | None:
    if every is None:
        return None
    return positive_int(every, "every", who)


class Probe(Callback):
    """Base class of the probes: sampling, layer selection, records and their accessors.

    Args:
        model: the module to probe; ``None`` takes ``trainer.model`` at ``on_fit_start``.
        layers: which modules to probe. ``None`` = the probe's default; a list of module
            names (as in ``model.named_modules()``) or module objects; a module class or a
            tuple of classes; or a predicate ``fn(name, module) -> bool``.
        every: sample the steps with ``step % every == 0``. ``None`` (the default): every
            ``default_every`` steps in a Trainer (10; Symmetry 50), every pass by hand.
        sink: optional ``fn(records)`` called with each batch of new records as they are
            made (e.g. to stream them into a run store); ``probe.records`` is kept anyway.

    Subclasses implement ``_default_layer(name, module) -> bool`` and the callback hooks.
    """

    #: the ``kind`` that :meth:`series` uses when none is given and several exist
    default_kind: str | None = None
    #: the sampling period in a Trainer when ``every`` is not given
    default_every: int = DEFAULT_EVERY

    def __init__(self, model=None, layers=None, every: int | None = None, sink=None):
        self.model = model
        self.layers = layers
        self.every = _check_every(every, type(self).__name__)
        self.sink = sink
        self.records: list[dict] = []
        self._series: dict = defaultdict(lambda: ([], []))
        self._flushed = 0
        self._attached = False
        self._by_hand = True  # until a Trainer calls on_fit_start
        self._handles: list = []
        self._scratch = Scratch()  # work arrays of the statistics, kept between sampled steps

    # -- selection --------------------------------------------------------------
    def _default_layer(self, name: str, module) -> bool:  # pragma: no cover - overridden
        return True

    def _layer_name(self, name: str, module) -> str:
        return name if name else type(module).__name__

    def selected_modules(self, model=None) -> list[tuple[str, object]]:
        """The (layer name, module) pairs this probe looks at, in the model's order."""
        model = self._require_model(model)
        named = list(model.named_modules())
        sel = self.layers
        if hasattr(sel, "named_modules") and not isinstance(sel, type):  # one module (callable: test it first)
            sel = [sel]
        if sel is None:
            chosen = [(n, m) for n, m in named if self._default_layer(n, m)]
        elif callable(sel) and not isinstance(sel, type):
            chosen = [(n, m) for n, m in named if sel(n, m)]
        elif isinstance(sel, type) or (isinstance(sel, tuple) and sel and all(isinstance(c, type) for c in sel)):
            chosen = [(n, m) for n, m in named if isinstance(m, sel)]
        else:
            if isinstance(sel, str):
                sel = [sel]
            by_name = dict(named)
            by_id = {id(m): n for n, m in named}
            chosen = []
            for item in sel:
                if isinstance(item, str):
                    if item not in by_name:
                        raise ValueError(
                            f"{type(self).__name__}: no module named {item!r} in {type(model).__name__}; "
                            f"available: {[n for n, _ in named if n]}"
                        )
                    chosen.append((item, by_name[item]))
                elif id(item) in by_id:
                    chosen.append((by_id[id(item)], item))
                else:
                    raise ValueError(
                        f"{type(self).__name__}: layers entry {item!r} is neither a module name nor a "
                        f"submodule of {type(model).__name__}"
                    )
        return [(self._layer_name(n, m), m) for n, m in chosen]

    def selected_parameters(self, model=None) -> list[tuple[str, str, object]]:
        """(layer, parameter name, Parameter) of the probed parameters, in the model's order."""
        model = self._require_model(model)
        params = list(model.named_parameters())
        if self.layers is not None:
            names = {id(m): n for n, m in model.named_modules()}
            keep = {names[id(m)] for _, m in self.selected_modules(model)}
            params = [(n, p) for n, p in params if split_param_name(n)[0] in keep]
        out = []
        for name, p in params:
            layer, pname = split_param_name(name)
            out.append((layer or type(model).__name__, pname, p))
        return out

    def _require_model(self, model=None):
        model = model if model is not None else self.model
        if model is None:
            raise ValueError(
                f"{type(self).__name__}: no model to probe; pass one (probe = {type(self).__name__}(model)) "
                "or add the probe to a Trainer's callbacks"
            )
        return model

    @property
    def period(self) -> int:
        """The sampling period in use: ``every``, or its default (10 in a Trainer, 1 by hand)."""
        if self.every is not None:
            return self.every
        return 1 if self._by_hand else self.default_every

    def sampled(self, step: int) -> bool:
        """True when ``step`` is one of the sampled steps (``step % period == 0``)."""
        return step % self.period == 0

    # -- lifecycle ----------------------------------------------------------------
    def attach(self, model=None):
        """Start probing ``model`` by hand (without a Trainer); returns the probe."""
        if model is not None:
            self.model = model
        self._require_model()
        self.detach()
        self._attached = True
        self._by_hand = True
        self._on_attach()
        return self

    def detach(self) -> None:
        """Stop probing: remove every hook this probe installed."""
        self._remove_hooks()
        self._attached = False
        self._scratch.clear()
        self._on_detach()

    def __enter__(self):
        if not self._attached:
            self.attach()
        return self

    def __exit__(self, *exc) -> None:
        self.detach()

    def _on_attach(self) -> None: ...

    def _on_detach(self) -> None: ...

    def _remove_hooks(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def on_fit_start(self, trainer):
        if self._attached:  # hand-attached hooks would double-count inside the Trainer's loop
            self.detach()
        self._by_hand = False
        if self.model is None:
            self.model = trainer.model

    def on_fit_end(self, trainer):
        self._remove_hooks()

    # -- records -------------------------------------------------------------------
    def _emit(self, step: int, layer: str, kind: str, stats: dict) -> None:
        new = []
        for stat, value in stats.items():
            rec = {"step": int(step), "layer": layer, "kind": kind, "stat": stat, "value": float(value)}
            new.append(rec)
            steps, values = self._series[(layer, kind, stat)]
            steps.append(rec["step"])
            values.append(rec["value"])
        self.records.extend(new)
        if self.sink is not None and new:
            self.sink(new)

    @property
    def layer_names(self) -> list[str]:
        """Layers that have records, in the order they were first recorded."""
        seen = {}
        for layer, _, _ in self._series:
            seen.setdefault(layer, None)
        return list(seen)

    @property
    def steps(self) -> list[int]:
        """The steps that have records, sorted."""
        return sorted({r["step"] for r in self.records})

    def series(self, layer: str, stat: str, kind: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one statistic of one layer, in recording order.

        ``kind`` may be left out when the layer has that stat under one kind only, or under
        the probe's ``default_kind``.
        """
        kinds = [k for (lay, k, st) in self._series if lay == layer and st == stat]
        if kind is None:
            if len(kinds) == 1:
                kind = kinds[0]
            elif self.default_kind in kinds:
                kind = self.default_kind
            elif not kinds:
                raise KeyError(self._missing(layer, stat))
            else:
                raise ValueError(
                    f"{type(self).__name__}.series({layer!r}, {stat!r}): several kinds {kinds}; pass kind="
                )
        if (layer, kind, stat) not in self._series:
            raise KeyError(self._missing(layer, stat, kind))
        steps, values = self._series[(layer, kind, stat)]
        return np.asarray(steps, dtype=np.int64), np.asarray(values, dtype=np.float64)

    def _missing(self, layer, stat, kind=None) -> str:
        have = sorted({f"{lay}/{k}/{st}" for (lay, k, st) in self._series})
        want = f"{layer}/{kind}/{stat}" if kind else f"{layer}/*/{stat}"
        more = " ..." if len(have) > 40 else ""
        return f"{type(self).__name__}: no records for {want}; recorded keys: {have[:40]}{more}"

    def last(self) -> dict:
        """The latest value of every statistic: ``{layer: {kind: {stat: value}}}``."""
        out: dict = {}
        for (layer, kind, stat), (_, values) in self._series.items():
            out.setdefault(layer, {}).setdefault(kind, {})[stat] = values[-1]
        return out

    def summary(self) -> dict:
        """The latest statistics per layer, flattened: ``{layer: {"kind/stat": value}}`` (for tables)."""
        return {layer: {f"{kind}/{stat}": v for kind, stats in kinds.items() for stat, v in stats.items()}
                for layer, kinds in self.last().items()}

    def keyed(self, step: int | None = None) -> dict:
        """Chainer ``ParameterStatistics``-style flat dict ``{"layer/kind/stat": value}`` of one
        step (default: the latest step with records)."""
        if not self.records:
            return {}
        if step is None:
            step = max(r["step"] for r in self.records)
        return {f"{r['layer']}/{r['kind']}/{r['stat']}": r["value"] for r in self.records if r["step"] == step}

    def flush_to(self, run) -> int:
        """Send the records not sent yet to ``run``; returns how many records were sent.

        ``run`` is the run store's ``Run`` (anything with ``log_probes(step, layer, stats)``):
        each record becomes a row (step, layer, ``"kind/stat"``, value), e.g.
        (12, "1", "post/std", 0.21). Or a plain callable ``fn(records)`` that gets the new
        record dicts.
        """
        new = self.records[self._flushed:]
        if hasattr(run, "log_probes"):
            group: dict = {}
            key = None
            for r in new:  # records of one (step, layer) are consecutive: one call each
                k = (r["step"], r["layer"])
                if k != key and group:
                    run.log_probes(key[0], key[1], group)
                    group = {}
                key = k
                group[f"{r['kind']}/{r['stat']}"] = r["value"]
            if group:
                run.log_probes(key[0], key[1], group)
            self._flush_arrays(run)
        elif callable(run):
            if new:
                run(new)
        else:
            raise TypeError(f"{type(self).__name__}.flush_to: expected a run with log_probes() or a callable, "
                            f"got {type(run).__name__}")
        self._flushed = len(self.records)
        return len(new)

    def _flush_arrays(self, run) -> None:
        """Send array-valued results (histograms) not sent yet; a run store only."""

    def clear(self) -> None:
        """Forget all records."""
        self.records = []
        self._series = defaultdict(lambda: ([], []))
        self._flushed = 0

    def __repr__(self) -> str:
        target = type(self.model).__name__ if self.model is not None else "no model yet"
        return f"{type(self).__name__}({target}, every={self.period}, {len(self.records)} records)"
