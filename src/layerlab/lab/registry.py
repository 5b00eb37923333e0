"""The experiment registry: ``@experiment``, ``Claim``, ``Result``, ``Context`` and config overrides.

An experiment is a function ``run(config, ctx) -> Result`` registered with ``@experiment``;
its config is a dataclass whose every field has a default, plus a quick variant (a
``QUICK`` dict of overrides, or a ``quick()`` classmethod) that runs in seconds::

    @dataclass
    class Config:
        width: int = 500
        depth: int = 5
        stds: tuple[float, ...] = (0.01, 1.0)
        QUICK: ClassVar[dict] = {"width": 100}

    @experiment("init_scale", topic="initialisation", summary="W = 0.01·randn collapses tanh activations")
    def run(config: Config, ctx: Context) -> Result:
        ...
        fig = figures.layer_histograms({"h1": h1, "h2": h2})
        ctx.savefig(fig, "tanh_small", caption="tanh, W = 0.01·randn")
        return Result(claims=[Claim("3", "std falls layer by layer", holds=ok, measured=f"std h5 = {s:.2g}",
                                    conditions="5 × 500 tanh, N(0, 1) input", figure="tanh_small")])

A claim that does not hold is a *result* (``holds=False`` with the measured figure), not an error.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import json
import re
import sys
import types
import typing
import zlib
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence, Union

import numpy as np

__all__ = [
    "experiment", "Experiment", "Claim", "Result", "Context", "FigureRef", "ConfigError", "NullProgress",
    "REGISTRY", "get", "all_experiments", "parse_overrides", "make_config", "config_fields",
]


class ConfigError(ValueError):
    """A bad ``--set key=value`` (unknown key, unparsable value) or a badly declared config."""


# -- claims and results ---------------------------------------------------------------------------
@dataclasses.dataclass
class Claim:
    """A claim of the notes with its verdict under stated conditions.

    Args:
        id: the claim's number in issue [lab] (``"3"``), with a suffix for a variant (``"7a"``).
        text: the claim, as the notes make it.
        holds: the verdict — ``False`` is a valid, honest result.
        measured: the figure that decided it (``"std of h5: 0.0021 (ratio per layer 0.22)"``).
        conditions: the set-up under which it was measured (data, sizes, η, seeds).
        figure: name of a figure saved with ``ctx.savefig`` that shows it (optional).
    """

    id: str
    text: str
    holds: bool
    measured: str
    conditions: str = ""
    figure: str | None = None

    def __post_init__(self):
        self.id = str(self.id)
        if isinstance(self.holds, (bool, np.bool_)):
            self.holds = bool(self.holds)
        else:
            raise TypeError(f"Claim {self.id!r}: holds must be a bool (the verdict), got {self.holds!r}")
        for attr in ("text", "measured", "conditions"):
            if not isinstance(getattr(self, attr), str):
                raise TypeError(f"Claim {self.id!r}: {attr} must be a str, got {type(getattr(self, attr)).__name__}")

    @property
    def verdict(self) -> str:
        return "holds" if self.holds else "does not hold"

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "verdict": self.verdict}

    @classmethod
    def from_dict(cls, d: Mapping) -> Claim:
        return cls(d["id"], d["text"], d["holds"], d["measured"], d.get("conditions", ""), d.get("figure"))


@dataclasses.dataclass
class Result:
    """What an experiment returns.

    Args:
        claims: the verdicts.
        figures: extra figures to save — ``{name: matplotlib Figure}`` — in addition to those
            saved with ``ctx.savefig`` (which need not be listed here).
        records: a table (list of dicts, one per row) or several (``{title: rows}``), shown in the report.
        notes: a paragraph or a list of paragraphs for the report (plain text).
    """

    claims: list[Claim] = dataclasses.field(default_factory=list)
    figures: Mapping[str, Any] | Sequence[Any] = dataclasses.field(default_factory=dict)
    records: list[dict] | dict[str, list[dict]] = dataclasses.field(default_factory=list)
    notes: str | list[str] = ""


@dataclasses.dataclass
class FigureRef:
    name: str
    path: Path
    caption: str = ""


# -- progress ------------------------------------------------------------------------------------------
class _NullTask:
    def advance(self, n: float = 1) -> None: ...
    def update(self, **fields) -> None: ...
    def close(self) -> None: ...
    def __enter__(self): return self
    def __exit__(self, *exc): self.close()


class NullProgress:
    """The progress reporter interface, doing nothing (tests, non-terminal output).

    ``with ctx.progress.task("fit xavier", total=steps) as t: t.advance()`` (a task also has
    ``update(description=..., completed=...)`` and ``close()``); ``ctx.progress.log("message")``.
    """

    def task(self, description: str, total: float | None = None) -> _NullTask:
        return _NullTask()

    def log(self, message: str) -> None: ...


# -- context -----------------------------------------------------------------------------------------------
class _NullRun:
    """Stands in for a store ``Run`` when an experiment is called without a store."""

    id = None

    def log_metric(self, step, name, value): ...
    def log_metrics(self, step, values): ...
    def log_probe(self, step, layer, stat, value): ...
    def log_probes(self, step, layer, stats): ...
    def add_artifact(self, path, kind): ...
    def flush(self): ...


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class Context:
    """What an experiment gets besides its config.

    Attributes:
        out_dir: the experiment's output directory (exists).
        seed: the run's seed; ``rng`` is ``np.random.default_rng(seed)``.
        run: the store ``Run`` (``run.log_metric(step, name, value)``, ``run.log_probe(...)``);
            a no-op stand-in when there is no store.
        progress: ``progress.task(description, total)`` / ``progress.log(message)``.
        quick: True under ``--quick``.
        figures: the figures saved so far (``FigureRef``).
    """

    def __init__(self, out_dir: str | Path, seed: int = 0, run=None, progress=None, quick: bool = False,
                 experiment: str = ""):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.run = run if run is not None else _NullRun()
        self.progress = progress if progress is not None else NullProgress()
        self.quick = bool(quick)
        self.experiment = experiment
        self.figures: list[FigureRef] = []

    def rng_for(self, *keys) -> np.random.Generator:
        """An independent generator for one named part of the experiment (``ctx.rng_for("xavier", 2)``):
        adding or reordering parts does not change the streams of the others."""
        words = [self.seed] + [zlib.crc32(str(k).encode()) for k in keys]
        return np.random.default_rng(words)

    def savefig(self, fig, name: str, caption: str = "", dpi: int = 100) -> Path:
        """Write ``fig`` as ``out_dir/name.png``, register it for the report, close it; return the path."""
        from .figures import save_png

        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError(f"ctx.savefig: figure name must be letters, digits, '_', '-', '.', got {name!r}")
        if any(f.name == name for f in self.figures):
            raise ValueError(f"ctx.savefig: a figure named {name!r} was already saved in {self.experiment!r}")
        path = save_png(fig, self.out_dir / f"{name}.png", dpi=dpi)
        self.figures.append(FigureRef(name, path, caption))
        self.run.add_artifact(path, "figure")
        return path

    def log(self, message: str) -> None:
        self.progress.log(message)

    def log_metric(self, step: int, name: str, value: float) -> None:
        self.run.log_metric(step, name, value)

    def log_metrics(self, step: int, values: Mapping[str, float]) -> None:
        self.run.log_metrics(step, values)

    def metrics_callback(self, prefix: str = "", every: int = 1):
        """A Trainer callback that logs ``{prefix}/loss``, ``{prefix}/lr`` every ``every`` steps and the
        epoch metrics as ``{prefix}/epoch/<name>`` (at the step the epoch ended) into the store."""
        from ..train import Callback

        ctx, pre = self, (prefix.rstrip("/") + "/") if prefix else ""

        class _StoreMetrics(Callback):
            def on_batch_end(self, trainer, step, logs):
                if step % every == 0:
                    ctx.run.log_metrics(step, {pre + k: v for k, v in logs.items() if np.ndim(v) == 0})

            def on_epoch_end(self, trainer, epoch, logs):
                ctx.run.log_metrics(trainer.step, {f"{pre}epoch/{k}": v for k, v in logs.items() if np.ndim(v) == 0})

        return _StoreMetrics()

    def trainer(self, model, loss_fn, optimizer, *, label: str = "", callbacks=(), log_every: int = 1, **kwargs):
        """A ``Trainer`` wired to the lab: metrics go to the store under ``label/``, progress to the lab's
        display (the Trainer's own bar is off: only one live display at a time), seed = ``ctx.seed``."""
        from ..train import Callback, Trainer

        ctx = self

        class _Progress(Callback):
            def on_fit_start(self, trainer):
                self.task = ctx.progress.task(f"fit {label}".strip(), total=None)

            def on_batch_end(self, trainer, step, logs):
                self.task.advance(1)
                self.task.update(description=f"fit {label} · loss {logs['loss']:.4f}".replace("  ", " "))

            def on_fit_end(self, trainer):
                self.task.close()

        kwargs.setdefault("seed", self.seed)
        kwargs["progress"] = False
        cbs = [self.metrics_callback(label, every=log_every), _Progress(), *callbacks]
        return Trainer(model, loss_fn, optimizer, callbacks=cbs, **kwargs)


# -- configs ---------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class NoConfig:
    """The config of an experiment that takes none."""


def config_fields(cls) -> dict[str, tuple[Any, Any]]:
    """``{name: (type, default)}`` of a config dataclass (types resolved, ``ClassVar``s left out)."""
    hints = typing.get_type_hints(cls, globalns=vars(sys.modules.get(cls.__module__, types.ModuleType("_"))))
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        out[f.name] = (hints.get(f.name, f.type), default)
    return out


def _type_name(tp) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _valid_keys(cls) -> str:
    return ", ".join(f"{k} ({_type_name(t)}, default {d!r})" for k, (t, d) in config_fields(cls).items()) or "(none)"


_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


def _convert(text: str, tp) -> Any:
    """Parse one ``--set`` value into the field's type."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    if origin in (Union, types.UnionType):
        if type(None) in args and text.strip().lower() in ("none", "null"):
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(text, a)
            except (ValueError, TypeError) as e:
                errors.append(str(e))
        raise ValueError(f"expected {_type_name(tp)}: " + "; ".join(errors))
    if origin is Literal:
        for a in args:
            if str(a) == text or (isinstance(a, str) and a.lower() == text.lower()):
                return a
        raise ValueError(f"expected one of {', '.join(map(repr, args))}")
    if origin in (tuple, list, set, frozenset) or tp in (tuple, list):
        body = text.strip()
        if body[:1] in "([" and body[-1:] in ")]":
            body = body[1:-1]
        items = [s.strip() for s in body.split(",")] if body.strip() else []
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(items) != len(args):
                raise ValueError(f"expected {len(args)} comma-separated values for {_type_name(tp)}")
            return tuple(_convert(s, a) for s, a in zip(items, args))
        elem = args[0] if args else str
        values = [_convert(s, elem) for s in items]
        return (origin or tp)(values)
    if tp is bool:
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("expected a bool (true/false, yes/no, 1/0)")
    if tp is int:
        try:
            return int(text.replace("_", ""))
        except ValueError:
            pass
        try:
            f = float(text)
        except ValueError:
            raise ValueError("expected an int") from None
        if f.is_integer():
            return int(f)
        raise ValueError("expected an int")
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("expected a float") from None
    if tp is str:
        return text
    if isinstance(tp, type) and issubclass(tp, Path):
        return tp(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"cannot parse a {_type_name(tp)}") from None


def parse_overrides(cls, items: Sequence[str] | Mapping[str, Any] | None, what: str = "config") -> dict[str, Any]:
    """``["lr=0.1", "acts=tanh,relu"]`` -> ``{"lr": 0.1, "acts": ("tanh", "relu")}`` using the field types of ``cls``.

    A mapping is taken as already parsed (its keys are still checked). Unknown keys and bad
    values raise ``ConfigError`` listing the valid keys.
    """
    if not items:
        return {}
    fields = config_fields(cls)
    pairs: list[tuple[str, Any, bool]] = []
    if isinstance(items, Mapping):
        pairs = [(k, v, False) for k, v in items.items()]
    else:
        for item in items:
            if "=" not in item:
                raise ConfigError(f"{what}: --set expects key=value, got {item!r}; valid keys: {_valid_keys(cls)}")
            k, v = item.split("=", 1)
            pairs.append((k.strip(), v, True))
    out = {}
    for key, value, is_text in pairs:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{what}: unknown key {key!r}{hint}; valid keys: {_valid_keys(cls)}")
        tp = fields[key][0]
        if is_text:
            try:
                value = _convert(value, tp)
            except (ValueError, TypeError) as e:
                raise ConfigError(f"{what}: --set {key}={value}: {e} (field {key}: {_type_name(tp)})") from None
        out[key] = value
    return out


def _quick_overrides(cls) -> dict:
    quick = cls.__dict__.get("QUICK", getattr(cls, "QUICK", None))
    return dict(quick) if quick else {}


def make_config(cls, quick: bool = False, overrides: Sequence[str] | Mapping[str, Any] | None = None,
                what: str = "config"):
    """Defaults, then the quick variant (``quick()`` classmethod or ``QUICK`` overrides), then ``overrides``."""
    if quick and callable(getattr(cls, "quick", None)):
        config = cls.quick()
        if not isinstance(config, cls):
            raise ConfigError(f"{what}: {cls.__name__}.quick() must return a {cls.__name__}, got {type(config).__name__}")
    elif quick:
        config = dataclasses.replace(cls(), **parse_overrides(cls, _quick_overrides(cls), what))
    else:
        config = cls()
    parsed = parse_overrides(cls, overrides, what)
    return dataclasses.replace(config, **parsed) if parsed else config


# -- the registry ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    topic: str
    summary: str
    fn: Callable
    config_cls: type
    module: str

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


def _check_config_cls(cls, name: str) -> None:
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise ConfigError(f"experiment {name!r}: config must be a dataclass, got {cls!r}")
    missing = [k for k, (_, d) in config_fields(cls).items() if d is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"experiment {name!r}: config fields need defaults: {', '.join(missing)}")
    if not callable(getattr(cls, "quick", None)):
        parse_overrides(cls, _quick_overrides(cls), f"experiment {name!r} (QUICK)")  # typos fail at import


def experiment(name: str, topic: str, summary: str, *, config: type | None = None):
    """Register ``run(config, ctx) -> Result`` as experiment ``name``.

    Args:
        name: the command-line name (``layerlab run NAME``): letters, digits, ``_``, ``-``.
        topic: the lecture topic it belongs to (groups the index).
        summary: one line for ``layerlab list`` and ``--help``.
        config: the config dataclass; default: the annotation of ``run``'s first parameter
            (no annotation and no ``config=``: the experiment takes no config).
    """
    if not isinstance(name, str) or not _NAME_RE.match(name) or name == "lecture":
        raise ValueError(f"@experiment: bad name {name!r} (letters, digits, '_', '-'; 'lecture' is reserved)")

    def register(fn: Callable) -> Callable:
        cls = config or _config_from_annotation(fn) or NoConfig
        _check_config_cls(cls, name)
        old = REGISTRY.get(name)
        if old is not None and (old.module, old.fn.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"@experiment: {name!r} is registered twice ({old.module}.{old.fn.__qualname__} "
                             f"and {fn.__module__}.{fn.__qualname__})")
        REGISTRY[name] = Experiment(name, topic, " ".join(summary.split()), fn, cls, fn.__module__)
        fn.experiment = REGISTRY[name]
        return fn

    return register


def get(name: str) -> Experiment:
    """The registered experiment ``name`` (experiment modules are imported first)."""
    from . import load_experiments

    load_experiments()
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(REGISTRY), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no experiment named {name!r}{hint} (known: {', '.join(REGISTRY) or 'none'})") from None


def all_experiments() -> list[Experiment]:
    """Every registered experiment, in lecture order (``EXPERIMENT_MODULES`` order, then registration order)."""
    from . import EXPERIMENT_MODULES, load_experiments

    load_experiments()
    order = {m: i for i, m in enumerate(EXPERIMENT_MODULES)}
    keyed = [(order.get(e.module.rsplit(".", 1)[-1], len(order)), i, e) for i, e in enumerate(REGISTRY.values())]
    return [e for _, _, e in sorted(keyed, key=lambda t: (t[0], t[1]))]
