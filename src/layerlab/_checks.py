"""Argument checks shared by the package: each returns the normalised value or raises.

One rule for every check: a value of the wrong *type* raises ``TypeError``, a value of
the right type outside the allowed range (or NaN/inf where a finite number is needed)
raises ``ValueError``. Both messages read ``"{where}: {name} must be {expected}, got
{value!r}"`` (plus the type's name on a TypeError), so the message names the layer or
function, the argument, what was expected and what arrived.

``bool`` is never a number here (``True`` is an ``int`` to Python, not a count or a
rate to a user). NumPy integers and floats are accepted and returned as Python
``int`` / ``float``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["positive_int", "nonnegative_int", "int_at_least", "finite_float", "positive_float",
           "nonnegative_float", "probability"]


def _fail(exc: type[Exception], value, name: str, where: str, expected: str):
    got = f"{value!r} ({type(value).__name__})" if exc is TypeError else f"{value!r}"
    raise exc(f"{where}: {name} must be {expected}, got {got}")


def _integer(value, name: str, where: str, expected: str) -> int:
    if type(value) is int:  # the common case, without the ABC check (bool is a subclass, not int itself)
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        _fail(TypeError, value, name, where, expected)
    return int(value)


def _real(value, name: str, where: str, expected: str) -> float:
    if type(value) is float:
        v = value
    elif isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        _fail(TypeError, value, name, where, expected)
    else:
        v = float(value)
    if not math.isfinite(v):
        _fail(ValueError, value, name, where, expected)
    return v


def int_at_least(value, name: str, where: str, minimum: int) -> int:
    """An int ``>= minimum`` (NumPy ints too), as a Python int."""
    expected = f"an int >= {minimum}"
    v = _integer(value, name, where, expected)
    if v < minimum:
        _fail(ValueError, value, name, where, expected)
    return v


def positive_int(value, name: str, where: str) -> int:
    """An int ``>= 1`` (a size, a count, a number of steps)."""
    v = _integer(value, name, where, "a positive int")
    if v < 1:
        _fail(ValueError, value, name, where, "a positive int")
    return v


def nonnegative_int(value, name: str, where: str) -> int:
    """An int ``>= 0`` (a seed, an index, an epoch)."""
    v = _integer(value, name, where, "a non-negative int")
    if v < 0:
        _fail(ValueError, value, name, where, "a non-negative int")
    return v


def finite_float(value, name: str, where: str) -> float:
    """A finite real number (int or float, NumPy's too), as a Python float."""
    return _real(value, name, where, "a finite number")


def positive_float(value, name: str, where: str) -> float:
    """A finite real number ``> 0``."""
    v = _real(value, name, where, "a finite number > 0")
    if not v > 0.0:
        _fail(ValueError, value, name, where, "a finite number > 0")
    return v


def nonnegative_float(value, name: str, where: str) -> float:
    """A finite real number ``>= 0``."""
    v = _real(value, name, where, "a finite number >= 0")
    if not v >= 0.0:
        _fail(ValueError, value, name, where, "a finite number >= 0")
    return v


_UNIT_INTERVALS = {(lo, hi): f"in {'[' if lo else '('}0, 1{']' if hi else ')'}" for lo in (True, False)
                   for hi in (True, False)}


def probability(value, name: str, where: str, *, inclusive_low: bool = True, inclusive_high: bool = False) -> float:
    """A real number in [0, 1) by default; ``inclusive_low`` / ``inclusive_high`` choose
    whether 0 and 1 themselves are allowed (a drop probability: [0, 1); a momentum: [0, 1])."""
    expected = _UNIT_INTERVALS[inclusive_low, inclusive_high]
    v = _real(value, name, where, expected)
    if not ((v >= 0.0 if inclusive_low else v > 0.0) and (v <= 1.0 if inclusive_high else v < 1.0)):
        _fail(ValueError, value, name, where, expected)
    return v
