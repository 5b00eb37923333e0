"""The experiment registry: ``@experiment`` and discovery of the experiments package.

An experiment is a function ``run(config, ctx) -> Result`` registered with ``@experiment`` in a
module of ``layerlab.lab.experiments`` (one module per lecture topic). Discovery imports every
module of that package — there is no hand-kept list — and the lecture order comes from the
``order=`` of each experiment (the number of its first claim)::

    @experiment("init_scale", topic="weight initialisation", order=3,
                summary="W = 0.01·randn collapses tanh activations")
    def run(config: Config, ctx: Context) -> Result:
        ...

A module that fails to import is recorded in ``LOAD_PROBLEMS`` with its traceback and does not
stop the others.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import math
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .config import NAME_RE, NoConfig, check_config_cls, make_config

if TYPE_CHECKING:  # annotations only: the registry (and `layerlab list`) needs neither NumPy nor the trainer
    from .claims import Result
    from .context import Context

__all__ = ["experiment", "Experiment", "REGISTRY", "EXPERIMENTS_PACKAGE", "LOAD_PROBLEMS", "get",
           "all_experiments", "load_experiments", "import_errors", "static_index"]

#: the package scanned for experiment modules
EXPERIMENTS_PACKAGE = "layerlab.lab.experiments"

#: (module, traceback) of the experiment modules that failed to import
LOAD_PROBLEMS: list[tuple[str, str]] = []

_loaded = False


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    topic: str
    summary: str
    fn: Callable
    config_cls: type
    module: str
    order: float = math.inf

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.fn.__doc__ or "")

    def make_config(self, quick: bool = False, overrides=None):
        return make_config(self.config_cls, quick, overrides, what=f"experiment {self.name!r}")

    def __call__(self, config, ctx: Context) -> Result:
        return self.fn(config, ctx)


REGISTRY: dict[str, Experiment] = {}


def _config_from_annotation(fn) -> type | None:
    params = list(inspect.signature(fn).parameters.values())
    if not params:
        return None
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to the raw annotation
        hints = {}
    tp = hints.get(params[0].name, params[0].annotation)
    return tp if isinstance(tp, type) and dataclasses.is_dataclass(tp) else None


def experiment(name: str, topic: str, summary: str, *, order: float | None = None, config: type | None = None):
    """Register ``run(config, ctx) -> Result`` as experiment ``name``.

    Args:
        name: the command-line name (``layerlab run NAME``): letters, digits, ``_``, ``-``.
        topic: the lecture topic it belongs to (groups the index).
        summary: one line for ``layerlab list`` and ``--help``.
        order: its place in the lecture (the number of the notes' claim it tests first; experiments
            without one come last, in registration order).
        config: the config dataclass; default: the annotation of ``run``'s first parameter
            (no annotation and no ``config=``: the experiment takes no config).
    """
    if not isinstance(name, str) or not NAME_RE.match(name) or name == "lecture":
        raise ValueError(f"@experiment: bad name {name!r} (letters, digits, '_', '-'; 'lecture' is reserved)")

    def register(fn: Callable) -> Callable:
        cls = config or _config_from_annotation(fn) or NoConfig
        check_config_cls(cls, name)
        old = REGISTRY.get(name)
        if old is not None and (old.module, old.fn.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"@experiment: {name!r} is registered twice ({old.module}.{old.fn.__qualname__} "
                             f"and {fn.__module__}.{fn.__qualname__})")
        REGISTRY[name] = Experiment(name, topic, " ".join(summary.split()), fn, cls, fn.__module__,
                                    math.inf if order is None else float(order))
        fn.experiment = REGISTRY[name]
        return fn

    return register


def load_experiments(reload: bool = False) -> dict[str, Experiment]:
    """Import every module of the experiments package once; return the registry.

    A module that fails to import is recorded in ``LOAD_PROBLEMS`` and does not stop the others.
    """
    import pkgutil
    import traceback

    global _loaded
    if _loaded and not reload:
        return REGISTRY
    LOAD_PROBLEMS.clear()
    package = importlib.import_module(EXPERIMENTS_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{EXPERIMENTS_PACKAGE}.{info.name}")
        except Exception as e:  # a broken topic module must not hide the others
            LOAD_PROBLEMS.append((info.name, "".join(traceback.format_exception(e)).rstrip()))
    _loaded = True
    return REGISTRY


def import_errors() -> list[tuple[str, str]]:
    """The experiment modules that failed to import, with their tracebacks."""
    load_experiments()
    return list(LOAD_PROBLEMS)


def get(name: str) -> Experiment:
    """The registered experiment ``name`` (experiment modules are imported first)."""
    load_experiments()
    try:
        return REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(REGISTRY), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no experiment named {name!r}{hint} (known: {', '.join(REGISTRY) or 'none'})") from None


def all_experiments() -> list[Experiment]:
    """Every registered experiment in lecture order (``order=``, then registration order)."""
    load_experiments()
    keyed = sorted(enumerate(REGISTRY.values()), key=lambda t: (t[1].order, t[0]))
    return [e for _, e in keyed]


def static_index() -> list[tuple[str, str, str]] | None:
    """``[(name, topic, summary)]`` of every experiment in lecture order, read from the source of the
    experiment modules (their ``@experiment(...)`` decorators) without importing them — what ``layerlab
    --help`` and ``layerlab list`` show in a fraction of the import time. None when a decorator's
    arguments are not plain literals (then the caller imports: :func:`all_experiments`)."""
    import ast
    import re

    spec = importlib.util.find_spec(EXPERIMENTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    rows = []
    for folder in spec.submodule_search_locations:
        for path in sorted(Path(folder).glob("*.py")):
            if path.name.startswith("_"):
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, ValueError):
                return None
            # each decorator's call alone: from "@experiment(" to the "def" it decorates (parsing whole
            # modules costs more than importing them)
            for m in re.finditer(r"^@experiment\((.*?)\)\s*\n(?:@.*\n)*def ", text, re.S | re.M):
                try:
                    call = ast.parse(f"f({m.group(1)})", mode="eval").body
                    name = ast.literal_eval(call.args[0])
                    kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
                except (ValueError, IndexError, TypeError, SyntaxError):
                    return None
                rows.append((kw.get("order", math.inf), len(rows), name, kw.get("topic", ""), kw.get("summary", "")))
    return [(name, topic, summary) for _, _, name, topic, summary in sorted(rows)]
