"""Activation traits and self-registration: adding an activation is one class.

A class defined *inside* a test (:func:`define_hard_sigmoid`, through the ``hard_sigmoid``
fixture, which unregisters it again) must appear, with nothing else edited, in
``nn.ACTIVATIONS`` / ``nn.activation(name)``, pass the registry's test harness
(``activation_harness.check_activation``) and be counted by ``ActivationStats`` (saturated
and dead units) from its traits alone.
"""

from __future__ import annotations

import contextlib
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import layerlab as ll
import layerlab.probes
from activation_harness import Case, check_activation
from layerlab import nn
from layerlab.probes import ActivationStats, can_die, is_activation, saturation_range

# -- the new activation, defined in the tests ---------------------------------------------------------


def define_hard_sigmoid():
    """Define (and so register) ``HardSigmoid`` under the name ``"hard_sigmoid"``; returns the class.

    h(x) = min(max(x/6 + ½, 0), 1);  ∂h/∂x = 1/6 if −3 < x < 3 else 0 (PyTorch's ``hardsigmoid``).
    It saturates at both ends of (0, 1), and a unit whose pre-activation is ≤ −3 on every
    example outputs 0 with gradient 0 — it dies as a ReLU does.
    """

    class HardSigmoid(nn.Activation):
        """Hard sigmoid: h(x) = min(max(x/6 + ½, 0), 1);  ∂h/∂x = 1/6 on (−3, 3), else 0."""

        name = "hard_sigmoid"
        saturates = (0, 1)  # ints on purpose: stored as floats
        can_die = True

        def f(self, x):
            h = x / 6.0
            h += 0.5
            np.clip(h, 0.0, 1.0, out=h)
            return h

        def df(self, x, y):
            d = ((x > -3.0) & (x < 3.0)).astype(x.dtype)
            d /= 6.0
            return d

    return HardSigmoid


def hard_sigmoid_case(cls) -> Case:
    """The harness case of the new activation, kinks at ±3. The reference is its formula in torch
    ops: ``F.hardsigmoid``'s float64 backward multiplies by a float32 1/6 (relative error 3e-8)."""
    return Case("hard_sigmoid", cls, lambda x, p: torch.clamp(x / 6.0 + 0.5, 0.0, 1.0), kinks=(-3.0, 3.0))


@contextlib.contextmanager
def registered(define):
    """Define an activation class with ``define()`` for the duration of the block, then unregister it
    (also when the block re-defined it: the entry then holds a class of the same qualified name)."""
    cls = define()
    try:
        yield cls
    finally:
        held = nn.ACTIVATIONS.get(cls.name)
        if held is not None and (held.__module__, held.__qualname__) == (cls.__module__, cls.__qualname__):
            nn.unregister_activation(cls.name)


@pytest.fixture
def hard_sigmoid():
    with registered(define_hard_sigmoid) as cls:
        yield cls
    assert "hard_sigmoid" not in nn.ACTIVATIONS and "hardsigmoid" not in nn.ALIASES


# -- (a) the registry ----------------------------------------------------------------------------------

def test_a_new_class_is_registered_and_built_by_name(hard_sigmoid):
    assert nn.ACTIVATIONS["hard_sigmoid"] is hard_sigmoid
    assert list(nn.ACTIVATIONS)[-1] == "hard_sigmoid"  # after the built-ins, in definition order
    m = nn.activation("hard_sigmoid")
    assert type(m) is hard_sigmoid
    assert type(nn.activation("HardSigmoid")) is hard_sigmoid  # the class name, any case, is an alias
    assert hard_sigmoid.saturates == (0.0, 1.0) and all(type(e) is float for e in hard_sigmoid.saturates)
    x = np.array([-4.0, -3.0, 0.0, 1.5, 3.0, 9.0])
    np.testing.assert_allclose(m(ll.tensor(x)).data, [0.0, 0.0, 0.5, 0.75, 1.0, 1.0])
    np.testing.assert_allclose(m.f(x), TF.hardsigmoid(torch.tensor(x)).numpy(), rtol=1e-15)


def test_unregister_removes_the_name_and_its_aliases(hard_sigmoid):
    assert nn.unregister_activation("hard_sigmoid") is hard_sigmoid
    assert "hard_sigmoid" not in nn.ACTIVATIONS and "hardsigmoid" not in nn.ALIASES
    with pytest.raises(ValueError, match="unknown name 'hard_sigmoid'"):
        nn.activation("hard_sigmoid")
    with pytest.raises(ValueError, match="no activation named 'hard_sigmoid'.*relu"):
        nn.unregister_activation("hard_sigmoid")


def test_a_taken_name_raises_and_a_redefinition_replaces(hard_sigmoid):
    with pytest.raises(ValueError, match=r"'hard_sigmoid' is already taken by .*define_hard_sigmoid.*HardSigmoid"):
        class Other(nn.Activation):
            name = "hard_sigmoid"
    assert nn.ACTIVATIONS["hard_sigmoid"] is hard_sigmoid
    with pytest.raises(ValueError, match=r"'relu' is already taken by layerlab\.nn\.activations\.ReLU"):
        class MyReLU(nn.Activation):
            name = "relu"
    assert nn.ACTIVATIONS["relu"] is nn.ReLU
    with pytest.raises(ValueError, match="'linear' is already an alias of the activation 'identity'"):
        class Linear(nn.Activation):
            name = "linear"
    assert "linear" not in nn.ACTIVATIONS and nn.ALIASES["linear"] == "identity"
    # the same module and qualified name again (a reload, a re-run notebook cell) replaces the entry
    again = define_hard_sigmoid()
    assert again is not hard_sigmoid and nn.ACTIVATIONS["hard_sigmoid"] is again
    assert list(nn.ACTIVATIONS).count("hard_sigmoid") == 1


def test_only_classes_with_their_own_name_register():
    before = dict(nn.ACTIVATIONS)

    class MyTanh(nn.Tanh):  # inherits name "tanh": a subclass, not a new activation
        pass

    class _Base(nn.Activation):  # a private base without a name
        saturates = (0.0, 1.0)

    assert nn.ACTIVATIONS == before and nn.ACTIVATIONS["tanh"] is nn.Tanh
    assert MyTanh.saturates == (-1.0, 1.0) and _Base.can_die is False  # traits are inherited


@pytest.mark.parametrize("traits, message", [
    ({"saturates": (1.0, 0.0)}, "saturates must be None or a tuple"),
    ({"saturates": (None, None)}, "saturates must be None or a tuple"),
    ({"saturates": [0.0, 1.0]}, "saturates must be None or a tuple"),
    ({"saturates": (0.0, math.inf)}, "saturates must be None or a tuple"),
    ({"saturates": (0.0, "1")}, "saturates must be None or a tuple"),
    ({"can_die": 1}, "can_die must be True or False"),
])
def test_bad_traits_are_refused_when_the_class_is_defined(traits, message):
    with pytest.raises(TypeError, match=message):
        type("BadTraits", (nn.Activation,), {"name": "bad_traits", **traits})
    assert "bad_traits" not in nn.ACTIVATIONS


# -- the traits of every registered activation ----------------------------------------------------------

#: the decisions for the built-ins (see each class's docstring)
BUILTIN_TRAITS = {
    "identity": (None, False), "binary_step": ((0.0, 1.0), False), "sigmoid": ((0.0, 1.0), False),
    "tanh": ((-1.0, 1.0), False), "relu": (None, True), "relu6": ((None, 6.0), True),
    "leaky_relu": (None, True), "prelu": (None, True), "elu": ((-1.0, None), False),
    "selu": ((-1.0507009873554805 * 1.6732632423543772, None), False), "gelu": (None, False),
    "swish": (None, False), "silu": (None, False), "mish": (None, False), "lisht": (None, False),
    "softplus": (None, False), "softmax": (None, False), "log_softmax": (None, False),
}


def test_builtin_traits():
    for name, (saturates, dies) in BUILTIN_TRAITS.items():
        cls = nn.ACTIVATIONS[name]
        assert (cls.saturates, cls.can_die) == (saturates, dies), name
    assert nn.ELU(alpha=0.5).saturates == (-0.5, None)  # an ELU carries its own α's end
    assert nn.ELU.saturates == (-1.0, None)


@pytest.mark.parametrize("name", list(nn.ACTIVATIONS))
def test_every_registered_activation_has_well_typed_traits(name):
    cls = nn.ACTIVATIONS[name]
    assert isinstance(cls.can_die, bool)
    s = cls.saturates
    assert s is None or (isinstance(s, tuple) and len(s) == 2 and s != (None, None))
    if s is not None:
        assert all(e is None or type(e) is float for e in s)
        if None not in s:
            assert s[0] < s[1]


def _assert_traits_match_f_and_df(m):
    """``saturates``: at a saturating end, f reaches it and df vanishes; ``can_die``: f is <= 0 far left
    (a unit can sit in the dead region) and > 0 far right (it can also live)."""
    m = m.to(np.float64)
    x = np.array([-50.0, 50.0])
    y = m.f(x)
    dy = m.df(x, y)
    lo, hi = m.saturates or (None, None)
    if lo is not None:
        k = int(np.argmin(y))
        assert abs(y[k] - lo) < 1e-6 and abs(dy[k]) < 1e-6, f"{type(m).__name__}: no saturation at {lo}"
    if hi is not None:
        k = int(np.argmax(y))
        assert abs(y[k] - hi) < 1e-6 and abs(dy[k]) < 1e-6, f"{type(m).__name__}: no saturation at {hi}"
    if type(m).can_die:
        assert y[0] <= 0 < y[1], f"{type(m).__name__}: can_die but f(−50) = {y[0]}, f(50) = {y[1]}"


@pytest.mark.parametrize("name", [n for n, c in nn.ACTIVATIONS.items() if c.elementwise])
def test_traits_agree_with_f_and_df(name):
    _assert_traits_match_f_and_df(nn.ACTIVATIONS[name]())


def test_traits_of_the_new_class_agree_with_f_and_df(hard_sigmoid):
    _assert_traits_match_f_and_df(hard_sigmoid())
    _assert_traits_match_f_and_df(nn.ELU(alpha=0.5))


# -- (b) the registry's test harness --------------------------------------------------------------------

def test_the_harness_passes_on_the_new_class(hard_sigmoid):
    check_activation(hard_sigmoid_case(hard_sigmoid))
    check_activation(Case("hard_sigmoid_no_torch_twin", hard_sigmoid, None, kinks=(-3.0, 3.0)))


def test_the_harness_fails_on_a_wrong_derivative():
    def define():
        class BadSoftsign(nn.Activation):
            """Softsign x/(1 + |x|) with a wrong derivative (that of x/(1 + x²))."""

            name = "bad_softsign"
            saturates = (-1.0, 1.0)

            def f(self, x):
                return x / (1.0 + np.abs(x))

            def df(self, x, y):
                return (1.0 - x * x) / (1.0 + x * x) ** 2

        return BadSoftsign

    with registered(define) as cls, pytest.raises(AssertionError, match="gradcheck|df vs"):
        check_activation(Case("bad_softsign", cls, None))
    assert "bad_softsign" not in nn.ACTIVATIONS


# -- (c) the probes count it from its traits ------------------------------------------------------------

def test_activation_stats_counts_the_new_class(hard_sigmoid):
    # 4 examples × 5 units of pre-activations; h = clip(x/6 + ½, 0, 1), saturated: h < 0.03 or h > 0.97
    x = np.array([
        # u0: dead  u1: alive  u2: h = 1   u3: h = ½  u4: 0.0167 and 0.983 saturated
        [-4.0,      -4.0,      3.5,        0.0,       -2.9],
        [-3.0,      -5.0,      3.5,        0.0,        2.9],
        [-10.0,     -3.0,      3.5,        0.0,        1.0],
        [-3.5,       2.0,      3.5,        0.0,       -1.0],
    ])
    model = nn.Sequential(nn.activation("hard_sigmoid"))
    assert is_activation(model[0]) and saturation_range(model[0]) == (0.0, 1.0) and can_die(model[0])
    with ActivationStats(model, bins=4) as probe:
        model(ll.tensor(x))
    post = probe.last()["0"]["post"]
    assert post["saturated"] == (4 + 3 + 4 + 0 + 2) / 20
    assert post["dead"] == 1 / 5
    assert probe.epoch_dead() == {"0": 1 / 5}
    counts, edges = probe.histograms(kind="post")["0"]  # bins over the saturation range [0, 1]
    assert edges[0] == 0.0 and edges[-1] == 1.0 and counts.sum() == 20
    assert "saturated" not in probe.last()["0"]["pre"] and "dead" not in probe.last()["0"]["pre"]


@pytest.mark.parametrize("name", [n for n, c in nn.ACTIVATIONS.items() if c.can_die])
def test_the_probe_counts_dead_units_of_every_class_that_can_die(name):
    # unit 0 is far in the dead region on every example, unit 1 leaves it on one example
    x = np.array([[-50.0, -50.0], [-7.0, -7.0], [-1.0, 50.0]])
    model = nn.Sequential(nn.activation(name)).to(np.float64)
    with ActivationStats(model, bins=0) as probe:
        model(ll.tensor(x))
    assert probe.last()["0"]["post"]["dead"] == 0.5


@pytest.mark.parametrize("name", [n for n, c in nn.ACTIVATIONS.items() if c.saturates])
def test_the_probe_counts_saturated_entries_of_every_saturating_class(name):
    m = nn.activation(name).to(np.float64)
    lo, hi = m.saturates
    x = np.array([[-50.0 if lo is not None else 50.0], [-50.0 if hi is None else 50.0]])
    model = nn.Sequential(m)
    with ActivationStats(model, bins=0) as probe:
        model(ll.tensor(x))
    assert probe.last()["0"]["post"]["saturated"] == 1.0


def test_probes_hold_no_activation_names():
    for gone in ("SATURATION_RANGES", "DEAD_FAMILY", "ACTIVATION_NAMES"):
        assert not hasattr(layerlab.probes, gone) and gone not in layerlab.probes.__all__
    src = "\n".join(p.read_text() for p in Path(layerlab.probes.__file__).parent.glob("*.py"))
    for name, cls in nn.ACTIVATIONS.items():
        quoted = re.compile(rf"""["']({re.escape(cls.__name__)}|{re.escape(name)})["']""")
        assert not quoted.search(src), f"probes name the activation {cls.__name__} in a string"


# -- the dead-unit rule -------------------------------------------------------------------------------------

def test_dead_units_is_one_rule_no_positive_output_on_any_example():
    y = np.array([
        [0.0, -0.01, 0.0, 2.0, np.nan, -1.0],
        [0.0, -0.30, 1e-30, 0.0, np.nan, -2.0],
    ])
    for cls in [c for c in nn.ACTIVATIONS.values() if c.can_die]:
        assert cls.dead_units is nn.Activation.dead_units, f"{cls.__name__} has a rule of its own"
    mask = nn.ReLU().dead_units(y)
    assert mask.dtype == bool and mask.tolist() == [True, True, False, False, False, True]
    assert nn.ReLU().dead_units(y.reshape(2, 2, 3)).shape == (2, 3)  # one entry per unit


def test_the_probe_uses_the_class_rule():
    class Picky(nn.ReLU):  # a subclass may refine the rule; the probe must follow it
        def dead_units(self, y):
            return (y <= 1.0).all(axis=0)

    x = np.array([[0.5, 2.0, -1.0], [0.7, 3.0, -2.0]])
    for m, expected in [(nn.ReLU(), 1 / 3), (Picky(), 2 / 3)]:
        model = nn.Sequential(m).to(np.float64)
        with ActivationStats(model, bins=0) as probe:
            model(ll.tensor(x))
        assert probe.last()["0"]["post"]["dead"] == expected
