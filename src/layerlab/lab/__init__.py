"""The lab: the lecture notes' experiments as one-command verdicts.

One module per lecture topic (``lab/<topic>.py``) registers experiments with
``@experiment(name, topic, summary)``; ``layerlab run NAME`` runs one inside a store run
and writes figures, ``report.html``, ``claims.json`` and a terminal table of claims;
``layerlab run lecture`` runs them all and writes an index.

Writing an experiment (the whole API)::

    from dataclasses import dataclass
    from typing import ClassVar
    from layerlab.lab import Claim, Context, Result, experiment, figures

    @dataclass
    class Config:
        width: int = 500
        QUICK: ClassVar[dict] = {"width": 50}           # or a ``quick()`` classmethod

    @experiment("my_claim", topic="initialisation", summary="one line for `layerlab list`")
    def run(config: Config, ctx: Context) -> Result:
        rng = ctx.rng                                   # seeded; ctx.rng_for("part") for independent streams
        ...                                             # ctx.trainer(model, loss, opt, label="xavier") logs to the store
        ctx.savefig(figures.loss_curves({"a": la, "b": lb}), "loss", caption="...")
        return Result(claims=[Claim("7", "text of the notes", holds=bool(ok), measured="...",
                                    conditions="...", figure="loss")],
                      records=[{"init": "xavier", "loss": 0.4}], notes="...")

``ctx`` (``registry.Context``): ``out_dir``; ``seed``; ``rng`` (``default_rng(seed)``) and
``rng_for(*keys)`` (an independent stream per named part); ``run`` (the store ``Run``:
``log_metric(step, name, value)``, ``log_metrics(step, dict)``, ``log_probe(step, layer, stat, value)``,
``log_probes(step, layer, dict)`` — probes' ``flush_to(ctx.run)`` writes there); ``quick``;
``savefig(fig, name, caption="")``; ``progress.task(description, total)`` / ``progress.log(msg)``;
``trainer(model, loss_fn, optimizer, label=..., callbacks=..., **Trainer kwargs)`` — a ``Trainer``
whose per-step loss/lr go to the store as ``label/loss`` and whose own progress bar is off (one
live display at a time: build Trainers in the lab this way, or pass ``progress=False``);
``metrics_callback(prefix)`` for a Trainer built by hand.

A ``Claim`` that does not hold is a result: ``layerlab run`` exits 0. Only an exception is an
error (the run is stored ``'failed'`` and the report shows the traceback). ``Claim.figure`` must
name a figure that was saved; ``Result.figures`` may add ``{name: Figure}`` to save.

Modules are imported in ``EXPERIMENT_MODULES`` order (the lecture's order); any other module
of this package is discovered too and comes after them. A listed module that does not exist
yet is skipped (``LOAD_PROBLEMS`` says so; ``layerlab list`` shows it); one that fails to
import is recorded with its error and does not stop the others.
"""

from __future__ import annotations

import importlib
import pkgutil
import traceback

from .registry import (REGISTRY, Claim, ConfigError, Context, Experiment, FigureRef, NullProgress, Result,
                       all_experiments, experiment, get, make_config, parse_overrides)

__all__ = [
    "experiment", "Claim", "Result", "Context", "Experiment", "FigureRef", "ConfigError", "NullProgress",
    "REGISTRY", "get", "all_experiments", "make_config", "parse_overrides", "load_experiments",
    "EXPERIMENT_MODULES", "LOAD_PROBLEMS", "figures",
]

# The lecture's order. Add a topic module here when it lands (unlisted modules are still found).
EXPERIMENT_MODULES: list[str] = [
    "linearity",        # 1: a deep linear network is a linear map
    "symmetry",         # 2: constant init never breaks symmetry
    "initialization",   # 3-6: small / large / Xavier / He / identity init, one forward pass
    "training_init",    # 7-8: small-init plateau, He vs Xavier in training
    "gradients",        # 9: one-signed gradients with sigmoid
    "dying_relu",       # 10: dead ReLU units
    "normalization",    # 11-12: batch norm, layer norm at batch size 1
    "selu",             # 13: SELU self-normalises
    "gelu",             # 14: GELU approximations
    "activations",      # 15: activation comparison
    "dropout",          # 16: dropout narrows the generalisation gap
]

# Modules of this package that are the framework, not experiments.
FRAMEWORK_MODULES = frozenset({"registry", "runner", "report", "figures", "common"})

# (module, problem) pairs found while loading: "not found" or the import error's traceback.
LOAD_PROBLEMS: list[tuple[str, str]] = []

_loaded = False


def _module_names() -> list[str]:
    found = sorted(m.name for m in pkgutil.iter_modules(__path__)
                   if m.name not in FRAMEWORK_MODULES and not m.name.startswith("_"))
    return list(EXPERIMENT_MODULES) + [m for m in found if m not in EXPERIMENT_MODULES]


def load_experiments(reload: bool = False) -> dict[str, Experiment]:
    """Import every experiment module once; return the registry. Problems go to ``LOAD_PROBLEMS``."""
    global _loaded
    if _loaded and not reload:
        return REGISTRY
    LOAD_PROBLEMS.clear()
    for name in _module_names():
        full = f"{__name__}.{name}"
        try:
            importlib.import_module(full)
        except ModuleNotFoundError as e:
            if e.name == full:
                LOAD_PROBLEMS.append((name, "not found (listed in EXPERIMENT_MODULES)"))
            else:
                LOAD_PROBLEMS.append((name, "".join(traceback.format_exception(e)).rstrip()))
        except Exception as e:  # a broken topic module must not hide the others
            LOAD_PROBLEMS.append((name, "".join(traceback.format_exception(e)).rstrip()))
    _loaded = True
    return REGISTRY


def import_errors() -> list[tuple[str, str]]:
    """The modules that exist but failed to import (missing ones are not errors)."""
    load_experiments()
    return [(m, p) for m, p in LOAD_PROBLEMS if not p.startswith("not found")]


def __getattr__(name):  # `from layerlab.lab import figures` without importing matplotlib up front
    if name == "figures":
        return importlib.import_module(f"{__name__}.figures")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
