"""The lab: the lecture notes' experiments as one-command verdicts.

The core (this package) is small: ``claims`` (``Claim``, ``Result``), ``config`` (config dataclasses,
``--set`` parsing), ``context`` (``Context``: what an experiment gets), ``registry`` (``@experiment``
and discovery), ``runner``, ``report``, ``figures``, ``stats`` (the measurements several experiments
share) and ``training`` (the networks, data and fixed-length fits several experiments share). The
experiments live in ``layerlab.lab.experiments``, one module per lecture topic, found by scanning
that package; they import the core and layerlab's public API, never each other.

Writing an experiment (the whole API)::

    from dataclasses import dataclass
    from typing import ClassVar
    from layerlab.lab import Claim, Context, Result, experiment, figures

    @dataclass
    class Config:
        width: int = 500
        QUICK: ClassVar[dict] = {"width": 50}           # or a ``quick()`` classmethod

    @experiment("my_claim", topic="weight initialisation", order=7, summary="one line for `layerlab list`")
    def run(config: Config, ctx: Context) -> Result:
        rng = ctx.rng                                   # seeded; ctx.rng_for("part") for independent streams
        ...                                             # ctx.trainer(model, loss, opt, label="xavier") logs to the store
        ctx.savefig(figures.loss_curves({"a": la, "b": lb}), "loss", caption="...")
        return Result(claims=[Claim("7", "text of the notes", holds=bool(ok), measured="...",
                                    conditions="...", figure="loss")],
                      records=[{"init": "xavier", "loss": 0.4}], notes="...")

``ctx`` (``context.Context``): ``out_dir``; ``seed``; ``rng`` (``default_rng(seed)``) and
``rng_for(*keys)`` (an independent stream per named part); ``run`` (the store ``Run``:
``log_metric(step, name, value)``, ``log_metrics(step, dict)``, ``log_probe(step, layer, stat, value)``,
``log_probes(step, layer, dict)``); ``flush_probe(probe, prefix)``; ``quick``;
``savefig(fig, name, caption="")``; ``progress.task(description, total)`` / ``progress.log(msg)``;
``trainer(model, loss_fn, optimizer, label=..., callbacks=..., **Trainer kwargs)`` — a ``Trainer``
whose per-step loss/lr go to the store as ``label/loss`` and whose own progress bar is off (one
live display at a time: build Trainers in the lab this way, or pass ``progress=False``);
``metrics_callback(prefix)`` for a Trainer built by hand; ``map(fit, items, label=...)`` — the
experiment's independent runs (seeds, arms), in a loop or on worker processes / a Dask cluster under
``--workers``/``--scheduler``, with the same numbers (``fit`` returns what the rest needs, draws from
``ctx.rng_for(<item keys>)``, saves no figure; see ``context``'s docstring).

A ``Claim`` that does not hold is a result: ``layerlab run`` exits 0. Only an exception is an
error (the run is stored ``'failed'`` and the report shows the traceback). ``Claim.figure`` must
name a figure that was saved; ``Result.figures`` may add ``{name: Figure}`` to save.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _export_lazily

if TYPE_CHECKING:  # what the lazy table below provides, for type checkers and IDEs
    from . import figures, stats
    from .claims import Claim, FigureRef, Result
    from .config import ConfigError, make_config, parse_overrides
    from .context import Context, NullProgress
    from .registry import (LOAD_PROBLEMS, REGISTRY, Experiment, all_experiments, experiment, get, import_errors,
                           load_experiments)

__all__ = [
    "experiment", "Claim", "Result", "Context", "Experiment", "FigureRef", "ConfigError", "NullProgress",
    "REGISTRY", "get", "all_experiments", "make_config", "parse_overrides", "load_experiments", "import_errors",
    "LOAD_PROBLEMS", "figures", "stats",
]

# imported on first use: `layerlab list` and `--help` read the registry without NumPy, the trainer or matplotlib
_export_lazily(__name__, {
    ".claims": ("Claim", "FigureRef", "Result"),
    ".config": ("ConfigError", "make_config", "parse_overrides"),
    ".context": ("Context", "NullProgress"),
    ".registry": ("LOAD_PROBLEMS", "REGISTRY", "Experiment", "all_experiments", "experiment", "get", "import_errors",
                  "load_experiments"),
})
