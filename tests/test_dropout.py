"""Dropout: inverted scaling, identity in eval, the backward uses the forward's mask,
seeded reproducibility, dtypes and argument checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import layerlab as ll
from layerlab.nn.dropout import Dropout
from layerlab.nn.functional import dropout


def _x(shape, dtype=np.float64, seed=0):
    a = np.random.default_rng(seed).uniform(0.5, 1.5, shape)  # nonzero, so zeros in y are drops
    return ll.tensor(a.astype(dtype), requires_grad=True)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_training_drops_a_fraction_p_and_rescales(p):
    x = _x((400, 250))
    y = Dropout(p, rng=np.random.default_rng(0))(x)
    kept = y.data != 0
    assert abs(1 - kept.mean() - p) < 0.01
    np.testing.assert_allclose(y.data[kept], x.data[kept] / (1 - p), rtol=1e-15)
    assert abs(y.data.mean() / x.data.mean() - 1) < 0.02  # E[y] = x: inverted dropout


def test_backward_uses_the_same_mask():
    x = _x((50, 40))
    y = Dropout(0.3, rng=np.random.default_rng(1))(x)
    g = np.random.default_rng(2).standard_normal(y.shape)
    y.backward(g)
    np.testing.assert_allclose(x.grad, g * (y.data / x.data), rtol=1e-14)
    assert y.grad_fn == "dropout"


@pytest.mark.parametrize("p", [0.2, 0.6])
def test_gradcheck_with_a_fixed_mask(p):
    # gradcheck evaluates the function many times: each call gets the same seed, hence the same mask
    assert ll.gradcheck(lambda t: dropout(t, p, rng=np.random.default_rng(3)), _x((6, 5)))


def test_eval_is_the_identity():
    d = Dropout(0.5)
    d.eval()
    x = _x((10, 10))
    assert d(x) is x
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x


def test_same_seed_same_masks_and_streams_advance():
    x = _x((30, 30))
    a, b = Dropout(0.5, rng=np.random.default_rng(5)), Dropout(0.5, rng=np.random.default_rng(5))
    ya1, yb1 = a(x).data, b(x).data
    np.testing.assert_array_equal(ya1, yb1)
    assert not np.array_equal(ya1, a(x).data)  # the next call draws a new mask
    np.testing.assert_array_equal(Dropout(0.5, rng=5)(x).data, ya1)  # int seed


def test_global_seed_makes_default_dropout_reproducible():
    x = _x((20, 20))
    ll.seed(42)
    d1, d2 = Dropout(0.5), Dropout(0.5)
    m1, m2 = d1(x).data, d2(x).data
    assert not np.array_equal(m1, m2)  # each layer gets its own stream
    ll.seed(42)
    e1, e2 = Dropout(0.5), Dropout(0.5)
    np.testing.assert_array_equal(e1(x).data, m1)
    np.testing.assert_array_equal(e2(x).data, m2)
    assert isinstance(d1.rng, np.random.Generator)  # kept as an attribute: checkpoints save its state


def test_float32_in_float32_out_and_same_mask_as_float64():
    x64 = _x((40, 30))
    x32 = ll.tensor(x64.data.astype(np.float32), requires_grad=True)
    y32 = Dropout(0.4, rng=np.random.default_rng(7))(x32)
    y64 = Dropout(0.4, rng=np.random.default_rng(7))(x64)
    y32.sum().backward()
    assert y32.dtype == np.float32 and x32.grad.dtype == np.float32
    np.testing.assert_array_equal(y32.data == 0, y64.data == 0)


def test_matches_pytorch_statistics():
    """Same convention as torch: p is the drop probability, survivors scaled by 1/(1 − p)."""
    p = 0.3
    x = np.ones((200, 200))
    ours = Dropout(p, rng=np.random.default_rng(0))(ll.tensor(x)).data
    torch.manual_seed(0)
    theirs = torch.nn.functional.dropout(torch.from_numpy(x), p, training=True).numpy()
    assert set(np.unique(ours)) == set(np.unique(theirs)) == {0.0, 1 / (1 - p)}
    assert abs((ours == 0).mean() - (theirs == 0).mean()) < 0.01
    assert repr(Dropout(p)) == repr(torch.nn.Dropout(p)).replace(", inplace=False", "")


@pytest.mark.parametrize("p, exc", [(1.0, ValueError), (-0.1, ValueError), (1.5, ValueError),
                                    (float("nan"), ValueError), (True, TypeError), ("0.5", TypeError)])
def test_p_is_checked(p, exc):
    with pytest.raises(exc, match=r"^Dropout: p \(the probability of dropping a unit\) must be in \[0, 1\), got "):
        Dropout(p)
    with pytest.raises(exc, match=r"^dropout: p \(the probability of dropping a unit\) must be in \[0, 1\)"):
        dropout(_x((2, 2)), p)


def test_bad_rng():
    with pytest.raises(TypeError, match="Dropout: rng must be a numpy.random.Generator"):
        Dropout(0.5, rng="seed")
