"""ActivationStats: the distribution of each layer's pre-activations a and activations h.

What the notes plot layer by layer (seed 001, module 7.4 / 7.5): how the
activations h = g(a) of a deep net collapse to 0 (small init), saturate at ±1
(large init) or keep a healthy spread (Xavier / He), and how ReLU units die.
"""

from __future__ import annotations

import numpy as np

from .._checks import nonnegative_int, positive_int
from ._loops import bin_counts, summary
from .base import Probe, can_die, is_activation, saturation_range

__all__ = ["ActivationStats"]

_KINDS = ("pre", "post")
_QS = (0.15, 0.50, 0.85)


def _select(v: np.ndarray, ks) -> None:
    """Reorder the 1-D array ``v`` in place so that ``v[k]`` is its k-th smallest entry (0-based)
    for each k of the increasing ``ks``: one single-kth ``partition`` per k, each on what lies
    right of the previous one (NumPy's one-kth partition is a vectorised quickselect; several kth
    at once take a slower path, ~15× slower on 16k float32)."""
    start = 0
    for k in ks:
        v[start:].partition(k - start)
        start = k + 1


def _percentiles(v: np.ndarray, qs, overwrite: bool = False) -> list[float]:
    """np.percentile's default ('linear') quantiles of a 1-D array.

    Quantile q sits at p = q·(n − 1); with i = ⌊p⌋, j = min(i + 1, n − 1) and v₍ₖ₎ the k-th
    smallest entry, it is v₍ᵢ₎ + (p − i)·(v₍ⱼ₎ − v₍ᵢ₎) (in float64). The v₍ᵢ₎ are placed by
    :func:`_select`; v₍ᵢ₊₁₎ is the least entry right of position i up to the next placed one
    (everything further right is larger). ``overwrite=True`` reorders ``v`` instead of a copy.
    """
    n = v.size
    pos = [q * (n - 1) for q in qs]
    lo = [int(p) for p in pos]
    ks = sorted(set(lo))
    if not overwrite:
        v = v.copy()
    _select(v, ks)
    nxt = {k: (ks[i + 1] + 1 if i + 1 < len(ks) else n) for i, k in enumerate(ks)}
    out = []
    for p, i in zip(pos, lo):
        a = float(v[i])
        b = float(v[i + 1:nxt[i]].min()) if i + 1 < n else a
        out.append(a + (p - i) * (b - a))
    return out


_MOMENT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _moments(flat: np.ndarray, work: np.ndarray):
    """(mean, std) of a 1-D float32/float64 array as ``ndarray.mean`` / ``ndarray.std`` compute them
    (same sums, same dtype, bit for bit): μ = Σv/n, σ = √(Σ(v − μ)²/n), with the deviations
    written into ``work`` (an array of the same size and dtype) instead of a fresh temporary."""
    n = np.intp(flat.size)
    s = np.add.reduce(flat)
    mean = s.dtype.type(s / n)
    d = np.subtract(flat, mean, out=work)
    np.square(d, out=d)
    ss = np.add.reduce(d)
    return mean, np.sqrt(ss.dtype.type(ss / n))


def _as_array(x):
    if isinstance(x, (tuple, list)):
        x = x[0]
    return getattr(x, "data", x)


class ActivationStats(Probe):
    """Per layer, on sampled steps: the distribution of a (``"pre"``) and h (``"post"``).

    By default the probe watches every activation module (``nn.Tanh``, ``nn.ReLU``, ...):
    the module's input is the pre-activation a, its output the activation h. Any other
    module can be selected with ``layers=`` (e.g. ``layers=nn.Linear`` or
    ``layers=["0", "3"]``); then ``"pre"`` is the module's input and ``"post"`` its output.

    Statistics (``stat`` of the records), over all entries of the batch:

    - ``mean``, ``std``, ``min``, ``max`` (mean and std summed in float64 by the compiled loops of a
      tensor of at least ``kernels.JIT_MIN`` entries, else as ``ndarray.mean``/``std``);
    - ``p15``, ``p50``, ``p85``: percentiles (linear interpolation). Exact when the tensor
      has at most ``sample_size`` entries; otherwise computed on a fixed random subsample
      of ``sample_size`` entries (the same indices at every step for a given size, drawn
      from ``seed``), which keeps them O(sample_size) instead of O(N·units);
    - ``saturated`` (``post`` of an activation whose class sets ``saturates = (lo, hi)``):
      the fraction of entries within (1 − s)·scale of a saturating end, scale =
      max(|lo|, |hi|) and s = ``saturation``: |h| > 0.97 for tanh, h < 0.03 or h > 0.97 for
      sigmoid, h > 5.82 for ReLU6, h < −0.97α for ELU(α);
    - ``dead`` (``post`` of an activation whose class sets ``can_die``: ReLU, ReLU6,
      LeakyReLU, PReLU): the fraction of units whose output is ``<= 0`` for every example
      of the batch (the class's ``dead_units`` rule) — for ReLU, exactly 0; for LeakyReLU /
      PReLU (α > 0), in the leaky regime on every input. ``dead_epoch`` (recorded at each epoch end, at the epoch's
      last step): the fraction of units that were dead on every *sampled* batch of the
      epoch taken together (with ``every=1``: the whole epoch). By hand,
      :meth:`epoch_dead` gives it for all forward passes since ``attach``/``reset_epoch``;
    - ``nonfinite``: the fraction of NaN/Inf entries, only recorded when there are some
      (the other statistics then use the finite entries only, mean/std excepted).

    A *unit* is one feature of the layer: all axes but the first (the batch) flattened.

    Histograms (fixed bins, counts + edges, kept apart from the records): see
    :meth:`histograms`. The bin range is ``range`` when given, else the output range of a
    bounded activation (tanh: [−1, 1], sigmoid: [0, 1]) so that the histograms of all
    steps and layers share the same bins, else the data's [min, max] at that step. Values
    outside a given range are not counted (as ``np.histogram``). Binning is done in the
    data's dtype (float64 when the range exceeds that dtype, e.g. float32 values near
    ±3e38), so a value within float32 rounding of a bin edge may land in the
    neighbouring bin. A constant tensor gets the bins [v − 0.5, v + 0.5] (a relative
    margin of |v|·2⁻²⁰ when v is too large for ±0.5 to count).

    Args:
        model: the model (``None``: the Trainer's model).
        layers: which modules to watch (see :class:`~layerlab.probes.base.Probe`).
        every: sample the steps with ``step % every == 0``; default 10 in a Trainer
            (``DEFAULT_EVERY``), 1 by hand.
        bins: number of histogram bins (0 turns histograms off).
        range: (lo, hi) of the histogram bins for both kinds, or ``{"pre": (lo, hi),
            "post": (lo, hi)}``; ``None`` as described above.
        saturation: the threshold s of ``saturated`` (0 < s < 1).
        what: which of ``"pre"``, ``"post"`` to record.
        sample_size: entries used for the percentiles of a large tensor.
        seed: seed of the fixed subsample.
        sink: optional ``fn(records)`` called with the new records of each layer.

    Without a Trainer::

        with ActivationStats(model) as probe:   # one step per forward pass of ``model``
            model(x)
        probe.summary()["1"]["post/std"]

    In a Trainer the hooks exist only during the forward pass of a sampled step
    (installed at ``on_batch_start``, removed at ``on_after_backward``), so the
    validation passes and the non-sampled steps are never recorded and cost nothing.
    """

    default_kind = "post"

    def __init__(self, model=None, layers=None, every: int | None = None, bins: int = 50, range=None,
                 saturation: float = 0.97, what=("pre", "post"), sample_size: int = 16384, seed: int = 0,
                 sink=None):
        super().__init__(model, layers=layers, every=every, sink=sink)
        if isinstance(what, str):
            what = (what,)
        what = tuple(what)
        if not what or any(w not in _KINDS for w in what):
            raise ValueError(f"ActivationStats: what must be a subset of {_KINDS}, got {what!r}")
        if not 0.0 < saturation < 1.0:
            raise ValueError(f"ActivationStats: saturation must be in (0, 1), got {saturation!r}")
        self.what = what
        self.saturation = float(saturation)
        self.bins = nonnegative_int(bins, "bins", "ActivationStats")
        self.hist_range = self._check_range(range)
        self.sample_size = positive_int(sample_size, "sample_size", "ActivationStats")
        self.seed = int(seed)
        self.step = 0  # the step being recorded; by hand: the number of forward passes of the model
        self._active = False
        self._hists: dict[int, dict] = {}
        self._flushed_hists: set[int] = set()
        self._ever_active: dict[str, np.ndarray] = {}
        self._subsamples: dict[int, np.ndarray] = {}
        self._calls: dict[str, int] = {}
        self._fixed_edges: dict[tuple, np.ndarray] = {}

    @staticmethod
    def _check_range(rng):
        if rng is None:
            return {}
        if isinstance(rng, dict):
            bad = [k for k in rng if k not in _KINDS]
            if bad:
                raise ValueError(f"ActivationStats: range keys must be in {_KINDS}, got {bad}")
            items = rng.items()
        else:
            items = [(k, rng) for k in _KINDS]
        out = {}
        for k, r in items:
            if r is None:
                continue
            lo, hi = (float(v) for v in r)
            if not lo < hi:
                raise ValueError(f"ActivationStats: histogram range must have lo < hi, got {r!r} for {k!r}")
            out[k] = (lo, hi)
        return out

    def _default_layer(self, name, module) -> bool:
        return is_activation(module)

    # -- hooks ----------------------------------------------------------------------
    def _install(self) -> None:
        model = self._require_model()
        for layer, module in self.selected_modules(model):
            self._handles.append(module.register_forward_hook(self._make_hook(layer, module)))

    def _make_hook(self, layer: str, module):
        srange = saturation_range(module)
        dead_units = module.dead_units if can_die(module) else None  # the class's own rule
        want_pre, want_post = "pre" in self.what, "post" in self.what

        def hook(mod, inputs, output):
            if not self._active:
                return
            # a module called k times in one pass (one ReLU instance reused) is recorded as
            # layer, layer@2, ..., layer@k
            k = self._calls[layer] = self._calls.get(layer, 0) + 1
            name = layer if k == 1 else f"{layer}@{k}"
            if want_pre:
                self._observe(name, "pre", _as_array(inputs), None, None)
            if want_post:
                self._observe(name, "post", _as_array(output), srange, dead_units)

        return hook

    def _on_attach(self) -> None:
        self._install()
        self._active = self.sampled(self.step)
        # registered last on the root, so it runs after every layer's hook of the same pass
        self._handles.append(self.model.register_forward_hook(self._count_pass))

    def _count_pass(self, module, inputs, output) -> None:
        self.step += 1
        self._active = self.sampled(self.step)
        self._calls = {}

    def _on_detach(self) -> None:
        self._active = False

    # -- Trainer callbacks ---------------------------------------------------------------
    def on_epoch_start(self, trainer, epoch):
        self.reset_epoch()

    def on_batch_start(self, trainer, step, batch):
        if step % self.period:
            return
        self.step = step
        self._calls = {}
        self._install()
        self._active = True

    def on_after_backward(self, trainer, step):
        if self._handles:
            self._remove_hooks()
        self._active = False

    def on_batch_end(self, trainer, step, logs):
        if self._handles:
            self._remove_hooks()
        self._active = False

    def on_epoch_end(self, trainer, epoch, logs):
        self.end_epoch(trainer.step - 1)

    def on_fit_end(self, trainer):
        super().on_fit_end(trainer)
        self._active = False

    # -- dead units over an epoch ------------------------------------------------------------
    def epoch_dead(self) -> dict[str, float]:
        """{layer: fraction of units whose output was <= 0 for every example seen since the
        epoch began (or since ``attach`` / ``reset_epoch``)}, for the layers that can die."""
        return {layer: float(mask.size - np.count_nonzero(mask)) / mask.size
                for layer, mask in self._ever_active.items() if mask.size}

    def reset_epoch(self) -> None:
        """Start a new epoch for ``dead_epoch``."""
        self._ever_active = {}

    def end_epoch(self, step: int | None = None) -> dict[str, float]:
        """Record ``dead_epoch`` for each layer that can die at ``step`` (default: the last
        recorded step) and start a new epoch."""
        dead = self.epoch_dead()
        if step is None:
            step = self.records[-1]["step"] if self.records else 0
        for layer, value in dead.items():
            self._emit(step, layer, "post", {"dead_epoch": value})
        self.reset_epoch()
        return dead

    # -- the statistics ---------------------------------------------------------------------
    def _subsample(self, n: int) -> np.ndarray:
        idx = self._subsamples.get(n)
        if idx is None:
            rng = np.random.default_rng([self.seed, n])
            idx = np.sort(rng.choice(n, size=self.sample_size, replace=False))
            self._subsamples[n] = idx
        return idx

    def _observe(self, layer: str, kind: str, a, srange, dead_units) -> None:
        a = np.asarray(a)
        if a.size == 0:
            return
        x = a.reshape(a.shape[0], -1) if a.ndim >= 2 else a.reshape(1, -1)
        flat = x.reshape(-1)
        n = flat.size
        work = self._scratch
        below = above = None
        if srange is not None:
            margin = (1.0 - self.saturation) * max(abs(e) for e in srange if e is not None)
            below = None if srange[0] is None else srange[0] + margin
            above = None if srange[1] is None else srange[1] - margin
        fast = summary(flat, below, above)  # compiled: moments in float64 and the counts, in two passes
        if fast is not None:
            mean, std, nonfinite, n_below, n_above = fast
        elif flat.dtype in _MOMENT_DTYPES:
            mean, std = _moments(flat, work.get("f", flat.dtype, n))
        else:  # float16 (float32 sums), integers (float64), ...: NumPy's own rules
            mean, std = x.mean(), x.std()
        stats = {"mean": mean, "std": std}
        vals = flat
        vmin, vmax = flat.min(), flat.max()
        if fast is None:  # NaN/Inf are found by the two reductions, with no mask
            finite = np.isfinite(vmin) and np.isfinite(vmax)
            nonfinite = 0 if finite else n - int(np.count_nonzero(np.isfinite(flat)))
        if nonfinite:
            vals = flat[np.isfinite(flat)]
            if vals.size:
                vmin, vmax = vals.min(), vals.max()
        if vals.size:
            stats["min"], stats["max"] = vmin, vmax
            m = min(vals.size, self.sample_size)
            sub = work.get("p", vals.dtype, m)
            if vals.size <= self.sample_size:
                np.copyto(sub, vals)
            else:
                np.take(vals, self._subsample(vals.size), out=sub, mode="clip")  # 'raise' would buffer out
            stats["p15"], stats["p50"], stats["p85"] = _percentiles(sub, _QS, overwrite=True)
        if srange is not None:
            if fast is None:
                mask = work.get("b", np.bool_, n)
                n_below = 0 if below is None else int(np.count_nonzero(np.less(flat, below, out=mask)))
                n_above = 0 if above is None else int(np.count_nonzero(np.greater(flat, above, out=mask)))
            stats["saturated"] = (n_below + n_above) / n
        if dead_units is not None:  # nn.Activation.dead_units: output <= 0 on every example
            active = ~dead_units(x)
            units = active.size
            stats["dead"] = (units - int(np.count_nonzero(active))) / units
            prev = self._ever_active.get(layer)
            if prev is None or prev.shape != active.shape:
                self._ever_active[layer] = active
            else:
                np.logical_or(prev, active, out=prev)
        if nonfinite:
            stats["nonfinite"] = nonfinite / n
        self._emit(self.step, layer, kind, stats)
        if self.bins and vals.size:
            self._histogram(layer, kind, vals, float(vmin), float(vmax), srange)

    def _histogram(self, layer, kind, vals, vmin, vmax, srange) -> None:
        rng = self.hist_range.get(kind)
        if rng is None and kind == "post" and srange is not None and None not in srange:
            rng = srange
        if rng is None:
            lo, hi = (vmin, vmax) if vmin < vmax else (vmin - 0.5, vmax + 0.5)
            if not lo < hi:  # one value so large that ±0.5 vanishes in float64: a relative margin
                half = abs(vmin) * 2.0**-20
                lo, hi = vmin - half, vmax + half
        else:
            lo, hi = rng
        counts = bin_counts(vals, lo, hi, self.bins, self._scratch, span=(vmin, vmax))
        self._hists.setdefault(self.step, {})[(layer, kind)] = (counts, self._edges(lo, hi, self.bins, rng is not None))

    def _edges(self, lo: float, hi: float, bins: int, fixed: bool) -> np.ndarray:
        """np.linspace(lo, hi, bins + 1); a fixed range's edges are computed once and copied."""
        if not fixed:
            return np.linspace(lo, hi, bins + 1)
        key = (lo, hi, bins)
        edges = self._fixed_edges.get(key)
        if edges is None:
            edges = self._fixed_edges[key] = np.linspace(lo, hi, bins + 1)
        return edges.copy()

    # -- accessors -----------------------------------------------------------------------------
    @property
    def histogram_steps(self) -> list[int]:
        """The steps that have histograms, sorted."""
        return sorted(self._hists)

    def histograms(self, step: int | None = None, kind: str | None = None) -> dict:
        """Histograms of one step (default: the latest): ``{layer: {kind: (counts, edges)}}``,
        or ``{layer: (counts, edges)}`` when ``kind`` is given. ``counts`` has ``bins``
        integers, ``edges`` ``bins + 1`` floats."""
        if not self._hists:
            return {}
        if step is None:
            step = max(self._hists)
        if step not in self._hists:
            raise KeyError(f"ActivationStats.histograms: no histograms at step {step}; steps with histograms: "
                           f"{self.histogram_steps[:20]}{' ...' if len(self._hists) > 20 else ''}")
        out: dict = {}
        for (layer, k), h in self._hists[step].items():
            if kind is None:
                out.setdefault(layer, {})[k] = h
            elif k == kind:
                out[layer] = h
        return out

    def _flush_arrays(self, run) -> None:
        # histograms go to the store as array rows: "post/hist" (counts) and "post/hist_edges"
        for step in sorted(s for s in self._hists if s not in self._flushed_hists):
            by_layer: dict = {}
            for (layer, kind), (counts, edges) in self._hists[step].items():
                by_layer.setdefault(layer, {})[f"{kind}/hist"] = counts
                by_layer[layer][f"{kind}/hist_edges"] = edges
            for layer, stats in by_layer.items():
                run.log_probes(step, layer, stats)
            self._flushed_hists.add(step)

    def clear(self) -> None:
        super().clear()
        self._hists = {}
        self._flushed_hists = set()
        self._ever_active = {}
