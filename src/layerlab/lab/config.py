"""Experiment configs: dataclasses with a default for every field, a quick variant, and ``--set`` parsing.

A config is a dataclass whose every field has a default, plus a quick variant (a ``QUICK`` dict of
overrides, or a ``quick()`` classmethod) that runs in seconds::

    @dataclass
    class Config:
        width: int = 500
        stds: tuple[float, ...] = (0.01, 1.0)
        QUICK: ClassVar[dict] = {"width": 100}

``parse_overrides(Config, ["width=50", "stds=0.1,1"])`` turns ``--set`` text into typed values;
``make_config(Config, quick=True, overrides=...)`` applies defaults, the quick variant, then overrides,
and checks the result before anything runs (so a rejected config never becomes a run in the store):

* an overridden int whose default is ≥ 1 (a count: seeds, iterations, batch_size, width) stays ≥ 1, one
  whose default is ≥ 0 stays ≥ 0; a float stays finite (unless its default is not); element by element in
  tuples (against the default's first element);
* a field named ``activation``/``activations`` (or ending in ``_activation``) names registered activations;
* then the config's own ``validate(self)`` method, if it has one (raise ``ConfigError`` there for the
  rules only the experiment knows, e.g. "ps must start with 0").
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence, Union

__all__ = ["ConfigError", "NoConfig", "NAME_RE", "config_fields", "parse_overrides", "check_values",
           "make_config", "check_config_cls"]


class ConfigError(ValueError):
    """A bad ``--set key=value`` (unknown key, unparsable value) or a badly declared config."""


#: names of experiments and figures: letters, digits, ``_``, ``.``, ``-``
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


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


def _check_number(key: str, value, default, what: str) -> None:
    if isinstance(value, bool) or isinstance(default, bool) or not isinstance(value, (int, float)):
        return
    bad = None
    if isinstance(value, float) and not math.isfinite(value) and not (isinstance(default, float)
                                                                     and not math.isfinite(default)):
        bad = "a finite number"
    elif isinstance(default, int) and default >= 1 and value < 1:
        bad = "≥ 1 (a count)"
    elif isinstance(default, int) and default >= 0 and value < 0:
        bad = "≥ 0, as its default"
    if bad:
        raise ConfigError(f"{what}: {key}={value!r}: expected {bad} (default {default!r})")


def check_values(config, overridden, what: str = "config") -> None:
    """The checks :func:`make_config` applies to the ``overridden`` fields of ``config`` (see the module
    docstring); a ``ConfigError`` names the key, the value and what was expected."""
    defaults = {k: d for k, (_, d) in config_fields(type(config)).items()}
    for key in overridden:
        value, default = getattr(config, key), defaults.get(key)
        if isinstance(value, (tuple, list)):
            ref = default[0] if isinstance(default, (tuple, list)) and default else None
            for v in value:
                _check_number(key, v, ref if ref is not None else v, what)
        else:
            _check_number(key, value, default, what)
        if key in ("activation", "activations") or key.endswith("_activation"):
            names = value if isinstance(value, (tuple, list)) else (value,)
            from layerlab import nn  # the registry; imported here so the config module stays light

            unknown = []
            for n in names:
                try:
                    nn.activation(n)
                except (KeyError, ValueError):
                    unknown.append(n)
                except TypeError:
                    pass  # a registered class that needs arguments: the experiment says whether it can use it
            if unknown:
                raise ConfigError(f"{what}: {key}: unknown activation {', '.join(map(repr, unknown))}; registered: "
                                  f"{', '.join(sorted(nn.ACTIVATIONS))}")


def make_config(cls, quick: bool = False, overrides: Sequence[str] | Mapping[str, Any] | None = None,
                what: str = "config"):
    """Defaults, then the quick variant (``quick()`` classmethod or ``QUICK`` overrides), then ``overrides``;
    the overridden values checked (:func:`check_values`), then the config's own ``validate()``."""
    if quick and callable(getattr(cls, "quick", None)):
        config = cls.quick()
        if not isinstance(config, cls):
            raise ConfigError(f"{what}: {cls.__name__}.quick() must return a {cls.__name__}, got {type(config).__name__}")
    elif quick:
        config = dataclasses.replace(cls(), **parse_overrides(cls, _quick_overrides(cls), what))
    else:
        config = cls()
    parsed = parse_overrides(cls, overrides, what)
    config = dataclasses.replace(config, **parsed) if parsed else config
    check_values(config, parsed, what)
    validate = getattr(config, "validate", None)
    if callable(validate):
        try:
            validate()
        except ConfigError:
            raise
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{what}: {e}") from None
    return config


def check_config_cls(cls, name: str) -> None:
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise ConfigError(f"experiment {name!r}: config must be a dataclass, got {cls!r}")
    missing = [k for k, (_, d) in config_fields(cls).items() if d is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"experiment {name!r}: config fields need defaults: {', '.join(missing)}")
    if not callable(getattr(cls, "quick", None)):
        parse_overrides(cls, _quick_overrides(cls), f"experiment {name!r} (QUICK)")  # typos fail at import
