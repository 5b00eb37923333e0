"""BatchNorm, LayerNorm, GroupNorm: fused nodes checked by finite differences (input and
parameters, train and eval) and against PyTorch float64 (outputs, gradients, running
statistics over several steps), plus dtypes, stability and error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import layerlab as ll
from layerlab.nn.functional import batch_norm, group_norm, layer_norm
from layerlab.nn.normalization import BatchNorm, BatchNorm1d, GroupNorm, LayerNorm

RTOL = 1e-10


def _x(shape, seed=0, dtype=np.float64, scale=1.0, shift=0.0):
    a = np.random.default_rng(seed).standard_normal(shape) * scale + shift
    return ll.tensor(a.astype(dtype), requires_grad=True)


def _randomise_affine(ours, theirs=None, seed=1):
    """Random γ and β: BatchNorm backward bugs hide behind γ = 1 (Knet.jl #288)."""
    rng = np.random.default_rng(seed)
    for name, p in ours.named_parameters():
        p.data[...] = rng.uniform(0.5, 2.0, p.shape) if name.endswith("weight") else rng.standard_normal(p.shape)
    if theirs is not None:
        with torch.no_grad():
            for name, p in theirs.named_parameters():
                p.copy_(torch.from_numpy(dict(ours.named_parameters())[name].data))


def _compare_with_torch(ours, theirs, shape, steps=1, seed=0):
    """Run both modules on the same inputs; compare outputs and all gradients each step."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        xa = rng.standard_normal(shape) * 2.0 + 0.5
        g = rng.standard_normal(shape)
        x = ll.tensor(xa.copy(), requires_grad=True)
        tx = torch.tensor(xa, requires_grad=True)
        y, ty = ours(x), theirs(tx)
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=RTOL, atol=1e-12)
        ours.zero_grad()
        theirs.zero_grad()
        y.backward(g)
        ty.backward(torch.from_numpy(g))
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-11)
        for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert name == tname
            np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-9, atol=1e-11, err_msg=name)


# -- BatchNorm ----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5)])
def test_batchnorm_gradcheck_train(shape):
    bn = BatchNorm(3, dtype=np.float64)
    _randomise_affine(bn)
    assert ll.gradcheck_module(bn, _x(shape))


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5)])
def test_batchnorm_gradcheck_eval(shape):
    bn = BatchNorm(3, dtype=np.float64)
    _randomise_affine(bn)
    bn.running_mean[...] = [0.3, -1.0, 2.0]
    bn.running_var[...] = [0.5, 2.0, 1.5]
    bn.eval()
    assert ll.gradcheck_module(bn, _x(shape))


def test_batchnorm_gradcheck_without_affine():
    bn = BatchNorm(3, affine=False, dtype=np.float64)
    assert list(bn.parameters()) == []
    assert ll.gradcheck(bn, _x((6, 3)))
    assert ll.gradcheck(lambda x: batch_norm(x, training=True), _x((6, 3)))


@pytest.mark.parametrize("shape", [(16, 4), (5, 4, 3)])
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_batchnorm_matches_pytorch_over_several_steps_then_eval(shape, momentum):
    bn = BatchNorm(4, momentum=momentum, dtype=np.float64)
    tbn = torch.nn.BatchNorm1d(4, momentum=momentum).double()
    _randomise_affine(bn, tbn)
    _compare_with_torch(bn, tbn, shape, steps=4)
    for key in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(bn.state_dict()[key], tbn.state_dict()[key].numpy(), rtol=1e-12, err_msg=key)
    assert int(bn.num_batches_tracked) == 4
    bn.eval()
    tbn.eval()
    _compare_with_torch(bn, tbn, shape, steps=1, seed=9)
    np.testing.assert_allclose(bn.running_mean, tbn.running_mean.numpy(), rtol=1e-12)  # eval leaves them alone
    assert int(bn.num_batches_tracked) == 4


def test_batchnorm_without_running_stats_matches_pytorch():
    bn = BatchNorm(4, track_running_stats=False, dtype=np.float64)
    tbn = torch.nn.BatchNorm1d(4, track_running_stats=False).double()
    _randomise_affine(bn, tbn)
    bn.eval()
    tbn.eval()
    _compare_with_torch(bn, tbn, (6, 4))  # batch statistics in eval mode too
    assert list(bn.state_dict()) == ["weight", "bias"] == list(tbn.state_dict())


def test_batchnorm_without_bias_matches_pytorch():
    bn = BatchNorm(4, bias=False, dtype=np.float64)
    tbn = torch.nn.BatchNorm1d(4, bias=False).double()
    _randomise_affine(bn, tbn)
    _compare_with_torch(bn, tbn, (6, 4), steps=2)
    assert list(bn.state_dict()) == list(tbn.state_dict()) and repr(bn) == repr(tbn).replace("BatchNorm1d", "BatchNorm")
    assert ll.gradcheck_module(bn, _x((6, 4)))


def test_batchnorm_train_uses_batch_stats_and_running_update_formula():
    bn = BatchNorm(2, momentum=0.1, dtype=np.float64)
    x = np.array([[1.0, 10.0], [3.0, 20.0], [5.0, 60.0]])
    y = bn(ll.tensor(x)).data
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(0), x.var(0) / (x.var(0) + 1e-5), rtol=1e-12)  # biased variance
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(0), rtol=1e-14)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-14)  # unbiased


def test_batchnorm_state_dict_is_pytorchs():
    bn, tbn = BatchNorm(5), torch.nn.BatchNorm1d(5)
    sd, tsd = bn.state_dict(), tbn.state_dict()
    assert list(sd) == list(tsd)
    for k in sd:
        assert sd[k].shape == tuple(tsd[k].shape) and sd[k].dtype == tsd[k].numpy().dtype, k
    assert BatchNorm1d is BatchNorm
    assert repr(bn) == repr(tbn).replace("BatchNorm1d", "BatchNorm")


def test_batchnorm_batch_of_one_in_training_is_an_error():
    bn = BatchNorm(10)
    x = ll.tensor(np.ones((1, 10), dtype=np.float32))
    with pytest.raises(ValueError, match=r"BatchNorm\(10\): training needs more than one value per channel, "
                                         r"got input \(1, 10\): with a single value μ = x and σ = 0"):
        bn(x)
    assert int(bn.num_batches_tracked) == 0 and not bn.running_mean.any()  # nothing counted
    bn.eval()
    assert bn(x).shape == (1, 10)  # fine with running statistics
    bn.train()
    assert bn(ll.tensor(np.ones((1, 10, 2), dtype=np.float32))).shape == (1, 10, 2)  # two values per channel


def test_batchnorm_shape_and_dtype_errors():
    bn = BatchNorm(10)
    with pytest.raises(ValueError, match=r"BatchNorm\(10\): expected input \(N, C\) or \(N, C, L\) with C = 10, "
                                         r"got \(4, 7\)"):
        bn(ll.tensor(np.zeros((4, 7), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"got \(10,\)"):
        bn(ll.tensor(np.zeros(10, dtype=np.float32)))
    with pytest.raises(TypeError, match=r"BatchNorm\(10\): input dtype float64 does not match the weight dtype float32"):
        bn(ll.tensor(np.zeros((4, 10))))
    with pytest.raises(ValueError, match=r"BatchNorm: momentum \(or None\) must be in \[0, 1\], got 2.0"):
        BatchNorm(3, momentum=2.0)
    with pytest.raises(ValueError, match="evaluation mode needs running_mean"):
        batch_norm(_x((4, 3)), training=False)


@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_float32_in_float32_out(train):
    bn = BatchNorm(3).train(train)
    x = _x((6, 3), dtype=np.float32)
    y = bn(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    assert bn.weight.grad.dtype == np.float32 and bn.bias.grad.dtype == np.float32
    assert bn.running_mean.dtype == np.float32 and bn.running_var.dtype == np.float32
    assert y.grad_fn == "batch_norm"  # one fused node


def test_batchnorm_is_stable_with_a_large_mean():
    """Two-pass statistics: an offset of 1e4 in float32 still normalises correctly."""
    x32 = _x((64, 3), dtype=np.float64, scale=1.0, shift=1e4).data.astype(np.float32)
    y32 = BatchNorm(3)(ll.tensor(x32)).data
    y64 = BatchNorm(3, dtype=np.float64)(ll.tensor(x32.astype(np.float64))).data
    np.testing.assert_allclose(y32, y64, atol=5e-3)  # E[x²] − E[x]² would be off by O(1) here


def test_batchnorm_functional_equals_module():
    bn = BatchNorm(3, dtype=np.float64)
    _randomise_affine(bn)
    x = _x((5, 3))
    rm, rv = np.zeros(3), np.ones(3)
    y = batch_norm(x, rm, rv, bn.weight, bn.bias, training=True)
    np.testing.assert_array_equal(y.data, bn(x).data)
    np.testing.assert_array_equal(rm, bn.running_mean)
    np.testing.assert_array_equal(rv, bn.running_var)


# -- LayerNorm ----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, ns", [((5, 6), 6), ((2, 3, 4), (4,)), ((2, 3, 4), (3, 4)), ((1, 6), 6)])
def test_layernorm_gradcheck(shape, ns):
    ln = LayerNorm(ns, dtype=np.float64)
    _randomise_affine(ln)
    assert ll.gradcheck_module(ln, _x(shape))


@pytest.mark.parametrize("shape, ns", [((5, 6), 6), ((2, 3, 4), (3, 4))])
@pytest.mark.parametrize("affine", [True, False])
def test_layernorm_matches_pytorch(shape, ns, affine):
    ln = LayerNorm(ns, elementwise_affine=affine, dtype=np.float64)
    tln = torch.nn.LayerNorm(ns, elementwise_affine=affine).double()
    _randomise_affine(ln, tln)
    _compare_with_torch(ln, tln, shape, steps=2)
    assert list(ln.state_dict()) == list(tln.state_dict())


def test_layernorm_without_bias_and_functional():
    ln = LayerNorm(4, bias=False, dtype=np.float64)
    assert [n for n, _ in ln.named_parameters()] == ["weight"]
    _randomise_affine(ln)
    assert ll.gradcheck_module(ln, _x((3, 4)))
    x = _x((3, 4))
    np.testing.assert_array_equal(layer_norm(x, 4, ln.weight).data, ln(x).data)
    assert ll.gradcheck(lambda t: layer_norm(t, (4,)), _x((3, 4)))


def test_layernorm_dtype_and_errors():
    ln = LayerNorm(4)
    x = _x((3, 4), dtype=np.float32)
    y = ln(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32 and ln.weight.grad.dtype == np.float32
    assert y.grad_fn == "layer_norm"
    with pytest.raises(ValueError, match=r"LayerNorm\(\(4,\)\): expected input \(\*, 4\), got \(3, 5\)"):
        ln(ll.tensor(np.zeros((3, 5), dtype=np.float32)))
    assert repr(ln) == repr(torch.nn.LayerNorm(4))


# -- GroupNorm ----------------------------------------------------------------------------------

@pytest.mark.parametrize("groups, shape", [(2, (3, 6)), (3, (2, 6, 4)), (1, (2, 6, 2)), (6, (2, 6, 3))])
def test_groupnorm_gradcheck(groups, shape):
    gn = GroupNorm(groups, 6, dtype=np.float64)
    _randomise_affine(gn)
    assert ll.gradcheck_module(gn, _x(shape))


@pytest.mark.parametrize("groups, shape", [(2, (3, 6)), (3, (2, 6, 4)), (1, (2, 6, 2, 3))])
@pytest.mark.parametrize("affine", [True, False])
def test_groupnorm_matches_pytorch(groups, shape, affine):
    gn = GroupNorm(groups, 6, affine=affine, dtype=np.float64)
    tgn = torch.nn.GroupNorm(groups, 6, affine=affine).double()
    _randomise_affine(gn, tgn)
    _compare_with_torch(gn, tgn, shape, steps=2)
    assert list(gn.state_dict()) == list(tgn.state_dict())
    assert repr(gn) == repr(tgn)


def test_groupnorm_without_bias_matches_pytorch():
    gn = GroupNorm(2, 4, bias=False, dtype=np.float64)
    tgn = torch.nn.GroupNorm(2, 4, bias=False).double()
    _randomise_affine(gn, tgn)
    _compare_with_torch(gn, tgn, (3, 4, 2))
    assert repr(gn) == repr(tgn)
    assert ll.gradcheck_module(gn, _x((3, 4, 2)))


def test_groupnorm_dtype_errors_and_functional():
    gn = GroupNorm(2, 4)
    x = _x((3, 4, 5), dtype=np.float32)
    y = gn(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32 and gn.weight.grad.dtype == np.float32
    np.testing.assert_array_equal(group_norm(x, 2, gn.weight, gn.bias).data, y.data)
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 4\): input \(3, 6\) has 6 channels but weight has shape \(4,\)"):
        gn(ll.tensor(np.zeros((3, 6), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"5 channels in input \(3, 5\) cannot be split into 2 groups"):
        group_norm(ll.tensor(np.zeros((3, 5))), 2)
    with pytest.raises(ValueError, match=r"num_channels \(5\) must be a positive multiple of num_groups \(2\)"):
        GroupNorm(2, 5)


def test_channel_count_is_checked_without_affine_parameters():
    # with no γ, β or running statistics nothing else knows C (PyTorch silently normalises 6 channels here)
    x6 = ll.tensor(np.random.default_rng(0).standard_normal((3, 6, 2)))
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 4\): expected input \(N, C, \*\) with C = 4, got \(3, 6, 2\)"):
        GroupNorm(2, 4, affine=False)(x6)
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 4\): expected input .* got \(6,\)"):
        GroupNorm(2, 4, affine=False)(ll.tensor(np.ones(6)))
    bn = BatchNorm(4, affine=False, track_running_stats=False)
    with pytest.raises(ValueError, match=r"BatchNorm\(4\): expected input \(N, C\) or \(N, C, L\) with C = 4, "
                                         r"got \(3, 6\)"):
        bn(ll.tensor(np.ones((3, 6))))
    with pytest.raises(ValueError, match=r"BatchNorm\(4\): expected input .* got \(3, 6, 2\)"):
        bn.eval()(x6)
    assert GroupNorm(2, 6, affine=False)(x6).shape == (3, 6, 2)  # the right count still works
    assert bn(ll.tensor(np.ones((3, 4, 2)))).shape == (3, 4, 2)
