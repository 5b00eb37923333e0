"""Linear and Maxout: formula, one fused node, gradients (finite differences and PyTorch),
initialisation options, dtypes and error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import layerlab as ll
from layerlab.nn import init
from layerlab.nn.functional import linear, maxout
from layerlab.nn.linear import Linear, Maxout

RTOL = 1e-10


def _x(shape, seed=0, dtype=np.float64, requires_grad=True):
    return ll.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=requires_grad)


# -- Linear: forward, node, gradients -----------------------------------------------------------

@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)])
def test_linear_forward_is_x_wT_plus_b(shape):
    lin = Linear(4, 3, dtype=np.float64, bias_init=("normal", {"std": 1.0}), rng=np.random.default_rng(1))
    x = _x(shape)
    y = lin(x)
    assert y.shape == shape[:-1] + (3,)
    np.testing.assert_allclose(y.data, x.data @ lin.weight.data.T + lin.bias.data, rtol=1e-14)


def test_linear_is_one_fused_node():
    lin = Linear(4, 3)
    x = _x((5, 4), dtype=np.float32)
    y = lin(x)
    assert y.grad_fn == "linear"
    parents = y._ctx.parents
    assert len(parents) == 3 and parents[0] is x and parents[1] is lin.weight and parents[2] is lin.bias
    nobias = Linear(4, 3, bias=False)
    assert nobias(x)._ctx.parents[1] is nobias.weight and len(nobias(x)._ctx.parents) == 2


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck_input_and_parameters(shape, bias):
    lin = Linear(4, 3, bias=bias, dtype=np.float64, bias_init=("normal", {"std": 1.0}), rng=np.random.default_rng(3))
    assert ll.gradcheck_module(lin, _x(shape))


@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 5)])
def test_linear_matches_pytorch(shape):
    tlin = torch.nn.Linear(5, 4).double()
    lin = Linear(5, 4, dtype=np.float64)
    lin.load_state_dict({k: v.detach().numpy() for k, v in tlin.state_dict().items()})
    rng = np.random.default_rng(0)
    xa, g = rng.standard_normal(shape), rng.standard_normal(shape[:-1] + (4,))
    x = ll.tensor(xa.copy(), requires_grad=True)
    tx = torch.tensor(xa, requires_grad=True)
    y, ty = lin(x), tlin(tx)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=RTOL)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=RTOL)
    np.testing.assert_allclose(lin.weight.grad, tlin.weight.grad.numpy(), rtol=RTOL)
    np.testing.assert_allclose(lin.bias.grad, tlin.bias.grad.numpy(), rtol=RTOL)


def test_linear_skips_gradients_nobody_needs():
    lin = Linear(4, 3, dtype=np.float64)
    x = _x((5, 4), requires_grad=False)
    lin(x).sum().backward()
    assert x.grad is None and lin.weight.grad is not None
    lin.zero_grad()
    lin.weight.requires_grad_(False)
    x2 = _x((5, 4))
    lin(x2).sum().backward()
    assert lin.weight.grad is None and lin.bias.grad is not None
    np.testing.assert_allclose(x2.grad, np.broadcast_to(lin.weight.data.sum(0), (5, 4)), rtol=1e-14)


def test_linear_float32_in_float32_out():
    lin = Linear(4, 3)
    assert lin.weight.dtype == np.float32 and lin.bias.dtype == np.float32
    x = _x((5, 4), dtype=np.float32)
    y = lin(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    assert lin.weight.grad.dtype == np.float32 and lin.bias.grad.dtype == np.float32


def test_linear_error_messages():
    lin = Linear(784, 500)
    with pytest.raises(ValueError, match=r"^Linear\(784->500\): expected input \(\.\.\., 784\), got \(32, 100\)$"):
        lin(ll.tensor(np.zeros((32, 100), dtype=np.float32)))
    with pytest.raises(TypeError, match=r"Linear\(784->500\): input dtype float64 .* weight dtype float32"):
        lin(ll.tensor(np.zeros((2, 784))))
    with pytest.raises(ValueError, match="in_features must be a positive int"):
        Linear(0, 3)
    with pytest.raises(ValueError, match=r"expected input \(\.\.\., 784\), got \(\)"):
        lin(ll.tensor(np.float32(1.0)))


def test_linear_repr_matches_pytorch():
    assert repr(Linear(784, 500)) == repr(torch.nn.Linear(784, 500))
    assert repr(Linear(3, 2, bias=False)) == repr(torch.nn.Linear(3, 2, bias=False))


def test_functional_linear_equals_module():
    lin = Linear(4, 3, dtype=np.float64)
    x = _x((5, 4))
    np.testing.assert_array_equal(linear(x, lin.weight, lin.bias).data, lin(x).data)
    np.testing.assert_array_equal(linear(x, lin.weight).data, x.data @ lin.weight.data.T)
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        linear(x, lin.weight, ll.tensor(np.zeros(4)))


# -- Linear: initialisation ---------------------------------------------------------------------

def test_linear_default_init_is_xavier_uniform_and_zero_bias():
    lin = Linear(300, 200, rng=np.random.default_rng(0))
    expected = init.xavier_uniform((200, 300), np.random.default_rng(0))
    np.testing.assert_array_equal(lin.weight.data, expected)
    assert not lin.bias.data.any()


def test_linear_init_forms():
    rng = lambda: np.random.default_rng(5)  # noqa: E731
    by_pair = Linear(50, 40, init=("normal", {"std": 0.01}), rng=rng())
    np.testing.assert_array_equal(by_pair.weight.data, init.normal((40, 50), rng(), std=0.01))
    np.testing.assert_allclose(by_pair.weight.data, (0.01 * rng().standard_normal((40, 50))).astype(np.float32))
    by_name = Linear(50, 40, init="he_normal", rng=rng())
    np.testing.assert_array_equal(by_name.weight.data, init.he_normal((40, 50), rng()))
    by_callable = Linear(3, 2, init=lambda shape, r: np.arange(6.0).reshape(shape))
    np.testing.assert_array_equal(by_callable.weight.data, np.arange(6.0, dtype=np.float32).reshape(2, 3))
    ident = Linear(3, 3, init=("identity", {"scale": 0.5}))
    np.testing.assert_array_equal(ident.weight.data, 0.5 * np.eye(3, dtype=np.float32))


def test_linear_bias_init_forms():
    assert np.all(Linear(3, 4, bias_init=0.01).bias.data == np.float32(0.01))
    assert np.all(Linear(3, 4, bias_init="zeros").bias.data == 0)
    b = Linear(3, 4, bias_init=("uniform", {"a": 0.1}), rng=np.random.default_rng(0)).bias.data
    assert b.shape == (4,) and np.all(np.abs(b) <= 0.1) and b.std() > 0
    with pytest.raises(ValueError, match="xavier_normal: needs a weight shape"):
        Linear(3, 4, bias_init="xavier_normal")


def test_linear_init_errors():
    with pytest.raises(ValueError, match="unknown initialiser 'glorot'; valid names: .*xavier_uniform"):
        Linear(3, 4, init="glorot")
    with pytest.raises(ValueError, match=r"the initialiser returned shape \(2,\), expected \(4, 3\)"):
        Linear(3, 4, init=lambda shape, rng: np.zeros(2))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        Linear(3, 4, rng="seed")


def test_linear_same_seed_same_weights():
    a = Linear(20, 10, rng=np.random.default_rng(7))
    b = Linear(20, 10, rng=np.random.default_rng(7))
    c = Linear(20, 10, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert not np.array_equal(a.weight.data, c.weight.data)
    np.testing.assert_array_equal(Linear(20, 10, rng=7).weight.data, a.weight.data)  # an int seed


def test_linear_global_seed():
    ll.seed(123)
    a = [Linear(6, 5).weight.data for _ in range(2)]
    ll.seed(123)
    b = [Linear(6, 5).weight.data for _ in range(2)]
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])  # the global stream advances


def test_linear_float64_weights_equal_float32_weights_up_to_rounding():
    w32 = Linear(30, 20, init="he_normal", rng=np.random.default_rng(0)).weight.data
    w64 = Linear(30, 20, init="he_normal", rng=np.random.default_rng(0), dtype=np.float64).weight.data
    assert w64.dtype == np.float64
    np.testing.assert_array_equal(w64.astype(np.float32), w32)


# -- Maxout -------------------------------------------------------------------------------------

def _maxout_reference(x, w, b, out, k):
    """max_j (x W_jᵀ + b_j) with piece j of unit o in row o·k + j."""
    z = x @ w.T + b  # (..., out·k)
    return z.reshape(z.shape[:-1] + (out, k)).max(axis=-1)


@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 4)])
@pytest.mark.parametrize("pieces", [1, 2, 3])
def test_maxout_formula(shape, pieces):
    m = Maxout(4, 3, pieces=pieces, dtype=np.float64, bias_init=("normal", {"std": 1.0}), rng=np.random.default_rng(0))
    assert m.weight.shape == (3 * pieces, 4) and m.bias.shape == (3 * pieces,)
    x = _x(shape)
    y = m(x)
    assert y.shape == shape[:-1] + (3,)
    np.testing.assert_allclose(y.data, _maxout_reference(x.data, m.weight.data, m.bias.data, 3, pieces), rtol=1e-14)


@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 4)])
def test_maxout_gradcheck_input_and_parameters(shape):
    m = Maxout(4, 3, pieces=3, dtype=np.float64, bias_init=("normal", {"std": 1.0}), rng=np.random.default_rng(1))
    assert ll.gradcheck_module(m, _x(shape, seed=2))


def test_maxout_gradient_goes_to_the_winning_piece():
    m = Maxout(4, 2, pieces=3, dtype=np.float64, rng=np.random.default_rng(4))
    x = _x((5, 4), seed=5)
    m(x).sum().backward()
    z = (x.data @ m.weight.data.T + m.bias.data).reshape(5, 2, 3)
    win = z.argmax(-1)  # (5, 2)
    w = m.weight.data.reshape(2, 3, 4)
    expected_gx = sum(w[o, win[:, o]] for o in range(2))
    np.testing.assert_allclose(x.grad, expected_gx, rtol=1e-12)
    gw = np.zeros((2, 3, 4))
    for n in range(5):
        for o in range(2):
            gw[o, win[n, o]] += x.data[n]
    np.testing.assert_allclose(m.weight.grad, gw.reshape(6, 4), rtol=1e-12)


def test_maxout_with_a_zero_piece_is_relu_of_the_other():
    """max(0·x + 0, wᵀx + b) = ReLU(wᵀx + b) (seed 001), values and gradients."""
    m = Maxout(4, 3, pieces=2, dtype=np.float64, rng=np.random.default_rng(0), bias_init=("normal", {"std": 0.5}))
    w = m.weight.data.reshape(3, 2, 4)
    b = m.bias.data.reshape(3, 2)
    w[:, 0] = 0.0
    b[:, 0] = 0.0
    x = _x((50, 4), seed=1)
    y = m(x)
    lin = Linear(4, 3, dtype=np.float64)
    lin.weight.data[...] = w[:, 1]
    lin.bias.data[...] = b[:, 1]
    x2 = ll.tensor(x.data.copy(), requires_grad=True)
    r = lin(x2).relu()
    np.testing.assert_allclose(y.data, r.data, rtol=1e-14)
    assert (r.data == 0).any() and (r.data > 0).any()
    y.sum().backward()
    r.sum().backward()
    np.testing.assert_allclose(x.grad, x2.grad, rtol=1e-14)


def test_maxout_abs():
    """max(0.5x, −0.5x) = 0.5|x| (seed 001)."""
    m = Maxout(1, 1, pieces=2, bias=False, dtype=np.float64)
    m.weight.data[:, 0] = [0.5, -0.5]
    xs = np.linspace(-3, 3, 13)[:, None]
    xs = xs[xs[:, 0] != 0]
    x = ll.tensor(xs, requires_grad=True)
    y = m(x)
    np.testing.assert_allclose(y.data, 0.5 * np.abs(xs), rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 0.5 * np.sign(xs), rtol=1e-15)


def test_maxout_pieces_init_like_linear():
    m = Maxout(30, 20, pieces=2, rng=np.random.default_rng(0))
    rng = np.random.default_rng(0)
    p0, p1 = init.xavier_uniform((20, 30), rng), init.xavier_uniform((20, 30), rng)
    w = m.weight.data.reshape(20, 2, 30)
    np.testing.assert_array_equal(w[:, 0], p0)
    np.testing.assert_array_equal(w[:, 1], p1)


def test_maxout_float32_and_errors():
    m = Maxout(4, 3, pieces=2)
    x = _x((5, 4), dtype=np.float32)
    y = m(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32 and m.weight.grad.dtype == np.float32
    with pytest.raises(ValueError, match=r"Maxout\(4->3, pieces=2\): expected input \(\.\.\., 4\), got \(5, 3\)"):
        m(ll.tensor(np.zeros((5, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match="pieces must be a positive int"):
        Maxout(4, 3, pieces=0)
    assert repr(m) == "Maxout(in_features=4, out_features=3, pieces=2, bias=True)"


def test_functional_maxout():
    x = ll.tensor(np.array([[1.0, 5.0, -2.0, 3.0, 0.0, -1.0]]), requires_grad=True)
    y = maxout(x, 3)
    np.testing.assert_array_equal(y.data, [[5.0, 3.0]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0, 1, 0, 0]])
    assert ll.gradcheck(lambda t: maxout(t, 2), _x((3, 6)))
    with pytest.raises(ValueError, match=r"last dimension of input \(1, 6\) must be a multiple of pieces=4"):
        maxout(x, 4)
