"""layerlab._checks: the shared argument checks (one rule: wrong type -> TypeError, out of range -> ValueError)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from layerlab import _checks as checks

NAN, INF = float("nan"), float("inf")


# --------------------------------------------------------------------------------------------
# accepted values come back normalised (NumPy scalars as Python ones)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("check, value, expected", [
    (checks.positive_int, 1, 1),
    (checks.positive_int, 784, 784),
    (checks.positive_int, np.int64(3), 3),
    (checks.positive_int, np.uint8(7), 7),
    (checks.nonnegative_int, 0, 0),
    (checks.nonnegative_int, np.int32(5), 5),
    (checks.finite_float, -2.5, -2.5),
    (checks.finite_float, 3, 3.0),
    (checks.finite_float, np.float32(0.5), 0.5),
    (checks.finite_float, np.int64(-4), -4.0),
    (checks.positive_float, 1e-12, 1e-12),
    (checks.positive_float, np.float64(2.0), 2.0),
    (checks.nonnegative_float, 0, 0.0),
    (checks.nonnegative_float, np.float32(0.25), 0.25),
    (checks.probability, 0, 0.0),
    (checks.probability, 0.5, 0.5),
    (checks.probability, np.float32(0.999), float(np.float32(0.999))),
])
def test_good_values_are_returned_normalised(check, value, expected):
    out = check(value, "x", "Where")
    assert out == expected
    assert type(out) is type(expected)  # Python int / float, never a NumPy scalar


def test_int_at_least():
    assert checks.int_at_least(-3, "offset", "f", -3) == -3
    assert checks.int_at_least(np.int16(10), "offset", "f", 2) == 10
    with pytest.raises(ValueError, match=r"^f: offset must be an int >= 2, got 1$"):
        checks.int_at_least(1, "offset", "f", 2)
    with pytest.raises(TypeError, match=r"^f: offset must be an int >= 2, got 2\.0 \(float\)$"):
        checks.int_at_least(2.0, "offset", "f", 2)


def test_probability_bounds():
    assert checks.probability(1, "m", "BatchNorm", inclusive_high=True) == 1.0
    assert checks.probability(0.3, "s", "Probe", inclusive_low=False) == 0.3
    with pytest.raises(ValueError, match=r"^Dropout: p must be in \[0, 1\), got 1\.0$"):
        checks.probability(1.0, "p", "Dropout")
    with pytest.raises(ValueError, match=r"^Probe: s must be in \(0, 1\), got 0\.0$"):
        checks.probability(0.0, "s", "Probe", inclusive_low=False)
    with pytest.raises(ValueError, match=r"^BatchNorm: m must be in \[0, 1\], got 1\.5$"):
        checks.probability(1.5, "m", "BatchNorm", inclusive_high=True)
    with pytest.raises(ValueError, match=r"^f: q must be in \(0, 1\], got -0\.1$"):
        checks.probability(-0.1, "q", "f", inclusive_low=False, inclusive_high=True)


# --------------------------------------------------------------------------------------------
# rejected values: the exception type follows the rule, the message names where, name, expected, got
# --------------------------------------------------------------------------------------------

_WRONG_TYPE = [
    (checks.positive_int, True, "a positive int"),
    (checks.positive_int, np.bool_(True), "a positive int"),
    (checks.positive_int, 2.0, "a positive int"),
    (checks.positive_int, np.float64(3.0), "a positive int"),
    (checks.positive_int, "3", "a positive int"),
    (checks.positive_int, None, "a positive int"),
    (checks.nonnegative_int, False, "a non-negative int"),
    (checks.nonnegative_int, 0.0, "a non-negative int"),
    (checks.finite_float, True, "a finite number"),
    (checks.finite_float, "0.1", "a finite number"),
    (checks.finite_float, None, "a finite number"),
    (checks.finite_float, 1 + 2j, "a finite number"),
    (checks.positive_float, False, "a finite number > 0"),
    (checks.nonnegative_float, [0.1], "a finite number >= 0"),
    (checks.probability, True, "in [0, 1)"),
    (checks.probability, "0.5", "in [0, 1)"),
    (checks.probability, np.array([0.5]), "in [0, 1)"),
]


@pytest.mark.parametrize("check, value, expected", _WRONG_TYPE)
def test_wrong_types_raise_type_error(check, value, expected):
    with pytest.raises(TypeError) as info:
        check(value, "size", "Layer(3)")
    msg = str(info.value)
    assert msg == f"Layer(3): size must be {expected}, got {value!r} ({type(value).__name__})"


_OUT_OF_RANGE = [
    (checks.positive_int, 0, "a positive int"),
    (checks.positive_int, -5, "a positive int"),
    (checks.positive_int, np.int64(0), "a positive int"),
    (checks.nonnegative_int, -1, "a non-negative int"),
    (checks.finite_float, NAN, "a finite number"),
    (checks.finite_float, INF, "a finite number"),
    (checks.finite_float, -INF, "a finite number"),
    (checks.finite_float, np.float32("nan"), "a finite number"),
    (checks.positive_float, 0.0, "a finite number > 0"),
    (checks.positive_float, -1, "a finite number > 0"),
    (checks.positive_float, NAN, "a finite number > 0"),
    (checks.positive_float, INF, "a finite number > 0"),
    (checks.nonnegative_float, -1e-9, "a finite number >= 0"),
    (checks.nonnegative_float, NAN, "a finite number >= 0"),
    (checks.nonnegative_float, INF, "a finite number >= 0"),
    (checks.probability, -0.1, "in [0, 1)"),
    (checks.probability, 1.0, "in [0, 1)"),
    (checks.probability, NAN, "in [0, 1)"),
    (checks.probability, INF, "in [0, 1)"),
]


@pytest.mark.parametrize("check, value, expected", _OUT_OF_RANGE)
def test_out_of_range_raises_value_error(check, value, expected):
    with pytest.raises(ValueError) as info:
        check(value, "size", "Layer(3)")
    assert not isinstance(info.value, TypeError)
    assert str(info.value) == f"Layer(3): size must be {expected}, got {value!r}"


def test_the_message_names_where_and_name():
    with pytest.raises(ValueError, match=re.escape("Linear: in_features must be a positive int, got 0")):
        checks.positive_int(0, "in_features", "Linear")
    with pytest.raises(TypeError, match=re.escape("StepLR: gamma must be a finite number > 0, got '0.1' (str)")):
        checks.positive_float("0.1", "gamma", "StepLR")


def test_the_package_uses_them():
    """The layers and loaders raise the shared messages (the checks are not copied any more)."""
    import layerlab.data as data
    import layerlab.nn as nn
    from layerlab import optim

    with pytest.raises(TypeError, match=re.escape("Linear: in_features must be a positive int, got True (bool)")):
        nn.Linear(True, 3)
    with pytest.raises(TypeError, match=re.escape("Maxout: pieces must be a positive int, got 2.0 (float)")):
        nn.Maxout(4, 3, pieces=2.0)
    with pytest.raises(ValueError, match=re.escape("BatchNorm: num_features must be a positive int, got 0")):
        nn.BatchNorm(0)
    with pytest.raises(ValueError, match=re.escape("GroupNorm: eps must be a finite number >= 0, got nan")):
        nn.GroupNorm(2, 4, eps=math.nan)
    with pytest.raises(ValueError, match=re.escape("LayerNorm: normalized_shape[1] must be a positive int, got 0")):
        nn.LayerNorm((3, 0))
    with pytest.raises(TypeError, match=re.escape("DataLoader: batch_size must be a positive int, got 2.5 (float)")):
        data.DataLoader(data.TensorDataset(np.zeros(3)), batch_size=2.5)
    p = nn.Linear(2, 2).weight
    with pytest.raises(ValueError, match=re.escape("SGD defaults: lr must be a finite number, got inf")):
        optim.SGD([p], lr=math.inf)
