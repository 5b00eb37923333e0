"""UpdateRatio: the relative size of each update, ‖Δw‖/‖w‖.

The common rule of thumb (cs231n): about 1e-3 per step is healthy; much smaller
means the layer barely learns (e.g. vanishing gradients or too small a learning
rate), much larger means the step is too big.
"""

from __future__ import annotations

import math

import numpy as np

from .base import Probe
from .gradients import grad_norm

__all__ = ["UpdateRatio"]


class UpdateRatio(Probe):
    """Per parameter, on sampled steps: ``ratio`` = ‖w_after − w_before‖ / ‖w_before‖.

    Records (``kind`` = ``"<param>/update"``): ``ratio``, ``update_norm`` (‖Δw‖) and
    ``norm`` (‖w_before‖). ``ratio`` is ``inf`` when ‖w_before‖ = 0 and the parameter
    moved, 0.0 when it did not move.

    In a Trainer the weights of a sampled step are copied at ``on_after_backward``
    (before clipping and the optimiser step) and compared at ``on_batch_end``; no copy is
    made on other steps. By hand::

        probe = UpdateRatio(model)
        probe.snapshot(); opt.step(); probe.record(step)

    Args:
        model: the model (``None``: the Trainer's model).
        layers: modules whose own parameters are probed (default: all parameters).
        every: sample the steps with ``step % every == 0``; default 10 in a Trainer
            (``DEFAULT_EVERY``), 1 by hand.
        sink: optional ``fn(records)``.
    """

    default_kind = "weight/update"

    def __init__(self, model=None, layers=None, every: int | None = None, sink=None):
        super().__init__(model, layers=layers, every=every, sink=sink)
        self._before: list | None = None
        self._count = 0

    def _default_layer(self, name, module) -> bool:
        return True

    def snapshot(self) -> None:
        """Copy the current parameter values (the 'before' of the next :meth:`record`)."""
        self._before = [(layer, pname, p, np.array(p.data, copy=True))
                        for layer, pname, p in self.selected_parameters()]

    def record(self, step: int | None = None) -> None:
        """Compare the parameters with the last :meth:`snapshot` and record the ratios."""
        if self._before is None:
            raise RuntimeError("UpdateRatio.record: call snapshot() before the update (the Trainer does it for you)")
        if step is None:
            step = self._count
        self._count += 1
        for layer, pname, p, before in self._before:
            after = p.data
            if after.shape != before.shape:
                raise ValueError(
                    f"UpdateRatio: parameter {layer}.{pname} changed shape from {before.shape} to {after.shape}"
                )
            upd = grad_norm(after - before)
            norm = grad_norm(before)
            ratio = upd / norm if norm > 0 else (math.inf if upd > 0 else 0.0)
            self._emit(step, layer, f"{pname}/update", {"ratio": ratio, "update_norm": upd, "norm": norm})
        self._before = None

    def on_after_backward(self, trainer, step):
        if step % self.period == 0:
            self.snapshot()

    def on_batch_end(self, trainer, step, logs):
        if self._before is not None:
            self.record(step)

    def on_fit_end(self, trainer):
        super().on_fit_end(trainer)
        self._before = None
