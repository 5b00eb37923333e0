"""Module, Parameter and the containers: registration, traversal, modes, hooks, dtypes,
state_dict / load_state_dict, repr (against PyTorch's), Sequential / ModuleList / Residual."""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch

import layerlab as ll
from layerlab.nn.linear import Linear
from layerlab.nn.module import Module, ModuleList, Parameter, Residual, Sequential
from layerlab.nn.normalization import BatchNorm, LayerNorm


class Affine(Module):
    """A hand-written module: one parameter, one sub-module, one buffer each kind."""

    def __init__(self, n=3):
        super().__init__()
        self.scale = Parameter(np.full(n, 2.0, dtype=np.float32))
        self.inner = Linear(n, n, rng=np.random.default_rng(0))
        self.register_buffer("count", np.zeros((), dtype=np.int64))
        self.register_buffer("shift", np.ones(n, dtype=np.float32))
        self.register_buffer("scratch", np.zeros(n, dtype=np.float32), persistent=False)

    def forward(self, x):
        return self.inner(x) * self.scale + ll.tensor(self.shift)


# -- Parameter ----------------------------------------------------------------------------------

def test_parameter_is_a_leaf_that_requires_grad():
    p = Parameter(np.zeros((2, 3), dtype=np.float32))
    assert isinstance(p, ll.Tensor) and p.requires_grad and p.is_leaf and p.grad is None


@pytest.mark.parametrize("data, expected", [
    ([1.0, 2.0], np.float32),                        # Python data -> default dtype
    (np.arange(3), np.float32),                      # ints -> default dtype
    (np.zeros(2, dtype=np.float16), np.float32),     # float16 -> default dtype
    (np.zeros(2, dtype=np.float64), np.float64),     # float64 array kept
    (np.zeros(2, dtype=np.float32), np.float32),
])
def test_parameter_dtype(data, expected):
    assert Parameter(data).dtype == expected


def test_parameter_follows_default_dtype():
    ll.set_default_dtype(np.float64)  # restored by conftest
    assert Parameter([1.0, 2.0]).dtype == np.float64
    assert Linear(2, 3).weight.dtype == np.float64


def test_parameter_shares_memory_and_detaches_tensors():
    a = np.zeros(3, dtype=np.float32)
    assert Parameter(a).data is a
    t = ll.tensor(a, requires_grad=True) * 2.0
    p = Parameter(t)
    assert p.is_leaf and p.requires_grad


# -- registration -------------------------------------------------------------------------------

def test_setattr_routes_parameters_modules_buffers():
    m = Affine()
    assert list(m._parameters) == ["scale"]
    assert list(m._modules) == ["inner"]
    assert list(m._buffers) == ["count", "shift", "scratch"]
    assert "scale" not in vars(m) and "inner" not in vars(m)
    assert m.scale is m._parameters["scale"] and m.shift is m._buffers["shift"]
    assert [n for n, _ in m.named_parameters()] == ["scale", "inner.weight", "inner.bias"]
    assert [n for n, _ in m.named_buffers()] == ["count", "shift", "scratch"]
    assert [n for n, _ in m.named_modules()] == ["", "inner"]
    assert list(m.children()) == [m.inner]


def test_plain_attributes_stay_plain():
    m = Affine()
    m.note = "hello"
    m.arr = np.zeros(2)  # an ndarray is not a buffer unless registered
    assert vars(m)["note"] == "hello" and "arr" not in m._buffers


def test_reassigning_changes_the_kind():
    m = Affine()
    m.scale = Linear(2, 2)  # parameter name now holds a module
    assert "scale" not in m._parameters and "scale" in m._modules
    m.scale = Parameter(np.zeros(1))
    assert "scale" in m._parameters and "scale" not in m._modules


def test_assigning_wrong_types_raises():
    m = Affine()
    with pytest.raises(TypeError, match="Affine.scale is a parameter"):
        m.scale = np.zeros(3)
    with pytest.raises(TypeError, match="Affine.inner is a sub-module"):
        m.inner = 3
    with pytest.raises(TypeError, match="Affine.shift is a buffer"):
        m.shift = [1, 2, 3]
    m.shift = np.zeros(3, dtype=np.float32)  # an array replaces the buffer
    assert m.state_dict()["shift"].sum() == 0


def test_none_placeholders_are_skipped():
    lin = Linear(3, 2, bias=False)
    assert lin.bias is None and [n for n, _ in lin.named_parameters()] == ["weight"]
    assert list(lin.state_dict()) == ["weight"]
    m = Affine()
    m.scale = None
    assert [n for n, _ in m.named_parameters()] == ["inner.weight", "inner.bias"]


def test_setattr_before_init_is_a_clear_error():
    class Forgot(Module):
        def __init__(self):
            self.w = Parameter(np.zeros(2))

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) first in Forgot"):
        Forgot()


def test_delattr_and_missing_attribute():
    m = Affine()
    del m.scale
    del m.inner
    del m.shift
    assert [n for n, _ in m.named_parameters()] == [] and "shift" not in m._buffers
    with pytest.raises(AttributeError, match="'Affine' object has no attribute 'scale'"):
        m.scale


def test_register_names_are_checked():
    m = Module()
    with pytest.raises(ValueError, match="contain no '.'"):
        m.register_buffer("a.b", np.zeros(1))
    with pytest.raises(TypeError, match="expected a Parameter"):
        m.register_parameter("w", np.zeros(1))
    with pytest.raises(TypeError, match="expected an np.ndarray"):
        m.register_buffer("b", [1, 2])


def test_shared_parameters_and_modules_are_listed_once():
    lin = Linear(3, 3)
    net = Sequential(lin, lin)
    assert len(list(net.parameters())) == 2
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias"]
    assert [n for n, _ in net.named_modules()] == ["", "0"]
    assert net.num_parameters() == 12


def test_num_parameters():
    net = Sequential(Linear(784, 500), BatchNorm(500), Linear(500, 10))
    assert net.num_parameters() == 784 * 500 + 500 + 2 * 500 + 500 * 10 + 10
    net[1].requires_grad_(False)
    assert net.num_parameters(trainable_only=True) == 784 * 500 + 500 + 500 * 10 + 10


def test_get_submodule_and_apply():
    net = Sequential(Linear(2, 3), Residual(LayerNorm(3)))
    assert net.get_submodule("1.module") is net[1].module
    assert net.get_submodule("") is net
    with pytest.raises(AttributeError, match="no sub-module 'x'"):
        net.get_submodule("1.x")
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "LayerNorm", "Residual", "Sequential"]


def test_forward_missing_is_a_clear_error():
    with pytest.raises(NotImplementedError, match="Module has no forward"):
        Module()(ll.tensor([1.0]))


# -- modes and gradients ------------------------------------------------------------------------

def test_train_eval_recursive():
    net = Sequential(Linear(2, 2), Sequential(BatchNorm(2), LayerNorm(2)))
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net[1].train(False)
    assert net.training and not net[1].training and not net[1][0].training
    with pytest.raises(TypeError, match="mode must be a bool"):
        net.train("eval")


def test_zero_grad():
    net = Sequential(Linear(3, 2), Linear(2, 1))
    net(ll.tensor(np.ones((4, 3), dtype=np.float32))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_requires_grad_freezes():
    net = Sequential(Linear(3, 2))
    net.requires_grad_(False)
    x = ll.tensor(np.ones((4, 3), dtype=np.float32), requires_grad=True)
    net(x).sum().backward()
    assert net[0].weight.grad is None and x.grad is not None


# -- dtypes -------------------------------------------------------------------------------------

def test_to_casts_params_grads_and_float_buffers_in_place():
    m = Affine()
    p_before = m.scale
    m(ll.tensor(np.ones((2, 3), dtype=np.float32))).sum().backward()
    assert m.to(np.float64) is m
    assert m.scale is p_before  # same Parameter object: optimisers keep working
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in m.parameters())
    assert m.shift.dtype == np.float64 and m.scratch.dtype == np.float64
    assert m.count.dtype == np.int64  # integer buffers are left alone
    assert m(ll.tensor(np.ones((2, 3)))).dtype == np.float64
    m.float()
    assert all(p.dtype == np.float32 for p in m.parameters()) and m.shift.dtype == np.float32
    with pytest.raises(TypeError, match="expected float32 or float64"):
        m.to(np.int32)


# -- hooks --------------------------------------------------------------------------------------

def test_forward_hook_sees_inputs_and_output_and_is_removable():
    net = Sequential(Linear(3, 4), Linear(4, 2))
    calls = []
    h = net[0].register_forward_hook(lambda mod, inp, out: calls.append((mod, inp, out)))
    x = ll.tensor(np.ones((5, 3), dtype=np.float32))
    y = net(x)
    assert len(calls) == 1
    mod, inp, out = calls[0]
    assert mod is net[0] and isinstance(inp, tuple) and inp[0] is x and out.shape == (5, 4)
    np.testing.assert_array_equal(net[1](out).data, y.data)
    h.remove()
    net(x)
    assert len(calls) == 1
    h.remove()  # removing twice is harmless


def test_hooks_fire_in_order_and_can_replace_values():
    net = Sequential(Linear(2, 2), Linear(2, 2))
    order = []
    net[1].register_forward_hook(lambda m, i, o: order.append("1"))
    net[0].register_forward_hook(lambda m, i, o: order.append("0"))
    net[0].register_forward_hook(lambda m, i, o: o * 0.0)  # replaces the output
    x = ll.tensor(np.ones((1, 2), dtype=np.float32))
    y = net(x)
    assert order == ["0", "1"]
    np.testing.assert_allclose(y.data, net[1].bias.data[None, :])


def test_forward_pre_hook_replaces_inputs():
    lin = Linear(2, 2)
    with lin.register_forward_pre_hook(lambda m, inp: inp[0] * 0.0):
        np.testing.assert_allclose(lin(ll.tensor(np.ones((1, 2), dtype=np.float32))).data, lin.bias.data[None])
    assert not lin._forward_pre_hooks  # the context manager removed it


def test_hook_removed_during_call_is_safe():
    lin = Linear(2, 2)
    handles = []
    handles.append(lin.register_forward_hook(lambda m, i, o: handles[0].remove()))
    lin(ll.tensor(np.ones((1, 2), dtype=np.float32)))
    assert not lin._forward_hooks


# -- state_dict ---------------------------------------------------------------------------------

def _torch_pair():
    ours = Sequential(Linear(4, 3), BatchNorm(3), Linear(3, 2, bias=False))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2, bias=False))
    return ours, theirs


def test_state_dict_keys_and_shapes_match_pytorch():
    ours, theirs = _torch_pair()
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(tsd)
    for k in sd:
        assert sd[k].shape == tuple(tsd[k].shape), k


def test_state_dict_holds_params_and_persistent_buffers_only():
    m = Affine()
    sd = m.state_dict()
    assert list(sd) == ["scale", "count", "shift", "inner.weight", "inner.bias"]
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    assert sd["scale"] is m.scale.data  # references, as PyTorch


def test_load_state_dict_from_pytorch_gives_pytorch_outputs():
    ours, theirs = _torch_pair()
    theirs.double()
    with torch.no_grad():
        theirs[1].running_mean.uniform_(-1, 1)
        theirs[1].running_var.uniform_(0.5, 2)
        theirs[1].weight.uniform_(0.5, 2)
    theirs.eval()
    ours.to(np.float64).eval()
    result = ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert result == ([], []) and result.missing_keys == [] and result.unexpected_keys == []
    x = np.random.default_rng(0).standard_normal((5, 4))
    np.testing.assert_allclose(ours(ll.tensor(x)).data, theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)


def test_load_state_dict_copies_in_place_and_keeps_dtype():
    a, b = Affine(), Affine()
    b.to(np.float64)
    for p in b.parameters():
        p.data[...] = 0.25
    w = a.inner.weight.data
    a.load_state_dict(b.state_dict())
    assert a.inner.weight.data is w and w.dtype == np.float32
    assert np.all(w == 0.25)
    sd = a.state_dict()
    sd["inner.weight"][0, 0] = 7.0  # the state dict aliases the module (as torch)
    assert a.inner.weight.data[0, 0] == 7.0


def test_load_state_dict_accepts_tensors():
    a, b = Linear(2, 2), Linear(2, 2, rng=np.random.default_rng(9))
    a.load_state_dict({k: ll.tensor(v) for k, v in b.state_dict().items()})
    np.testing.assert_array_equal(a.weight.data, b.weight.data)


def test_load_state_dict_missing_key_names_it():
    m = Affine()
    sd = dict(m.state_dict())
    del sd["inner.bias"]
    with pytest.raises(ValueError, match=r"missing keys .*'inner.bias' \(expected shape \(3,\)\)"):
        m.load_state_dict(sd)


def test_load_state_dict_unexpected_key_names_it():
    m = Affine()
    sd = dict(m.state_dict(), extra=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"unexpected keys .*'extra' \(shape \(2, 2\)\)"):
        m.load_state_dict(sd)


def test_load_state_dict_wrong_shape_names_both_shapes():
    m = Affine()
    sd = dict(m.state_dict())
    sd["inner.weight"] = np.zeros((3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"'inner.weight': expected shape \(3, 3\), found \(3, 4\)"):
        m.load_state_dict(sd)
    with pytest.raises(ValueError, match=r"expected shape \(3, 3\), found \(3, 4\)"):
        m.load_state_dict(sd, strict=False)  # a wrong shape is an error even when not strict


def test_load_state_dict_changes_nothing_on_error():
    m = Affine()
    before = {k: v.copy() for k, v in m.state_dict().items()}
    sd = {k: np.full(v.shape, 9, dtype=v.dtype) for k, v in m.state_dict().items()}
    sd["shift"] = np.zeros(5, dtype=np.float32)
    with pytest.raises(ValueError):
        m.load_state_dict(sd)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_not_strict_reports_keys():
    m = Affine()
    sd = dict(m.state_dict())
    del sd["scale"]
    sd["bogus"] = np.zeros(1)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert missing == ["scale"] and unexpected == ["bogus"]


def test_load_state_dict_rejects_non_dicts():
    with pytest.raises(TypeError, match="expected a dict"):
        Affine().load_state_dict([1, 2])


def test_deepcopy_gives_an_independent_module():
    net = Sequential(Linear(3, 3), BatchNorm(3))
    twin = copy.deepcopy(net)
    assert twin[0].weight is not net[0].weight
    np.testing.assert_array_equal(twin[0].weight.data, net[0].weight.data)
    twin[0].weight.data[...] = 0
    assert net[0].weight.data.any()


# -- repr ---------------------------------------------------------------------------------------

def test_repr_matches_pytorch_layout():
    ours = Sequential(Linear(784, 500), Sequential(Linear(500, 10, bias=False)))
    theirs = torch.nn.Sequential(torch.nn.Linear(784, 500), torch.nn.Sequential(torch.nn.Linear(500, 10, bias=False)))
    assert repr(ours) == repr(theirs)


def test_repr_of_leaf_and_custom_modules():
    assert repr(Module()) == "Module()"
    text = repr(Affine())
    assert text.splitlines()[0] == "Affine(" and "(inner): Linear(in_features=3, out_features=3, bias=True)" in text


# -- containers ---------------------------------------------------------------------------------

def test_sequential_composes_and_indexes():
    a, b, c = Linear(3, 4), Linear(4, 5), Linear(5, 2)
    net = Sequential(a, b, c)
    x = ll.tensor(np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32))
    np.testing.assert_array_equal(net(x).data, c(b(a(x))).data)
    assert len(net) == 3 and list(net) == [a, b, c]
    assert net[0] is a and net[-1] is c
    sub = net[1:]
    assert isinstance(sub, Sequential) and list(sub) == [b, c] and [n for n, _ in sub.named_children()] == ["1", "2"]
    with pytest.raises(IndexError, match="index 3 out of range for 3 modules"):
        net[3]
    net.append(Linear(2, 2))
    assert len(net) == 4 and [n for n, _ in net.named_children()] == ["0", "1", "2", "3"]
    net[3] = Linear(2, 1)
    assert net(x).shape == (6, 1)
    del net[3]
    assert len(net) == 3


def test_sequential_with_names_and_bad_elements():
    net = Sequential(OrderedDict(hidden=Linear(2, 3), out=Linear(3, 1)))
    assert list(net.state_dict()) == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    with pytest.raises(TypeError, match="element '1' is a ufunc, not a Module"):
        Sequential(Linear(2, 2), np.tanh)


def test_module_list_registers_and_has_no_forward():
    layers = ModuleList([Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.insert(0, Linear(2, 2))
    layers.append(Linear(2, 2))
    assert [n for n, _ in layers.named_children()] == ["0", "1", "2", "3", "4"]
    del layers[0]
    assert len(layers) == 4 and isinstance(layers[1:], ModuleList)
    with pytest.raises(NotImplementedError, match="ModuleList has no forward"):
        layers(ll.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="can only hold Modules"):
        layers.append(3)


def test_residual_adds_the_skip_and_its_gradient():
    f = Linear(3, 3, dtype=np.float64, rng=np.random.default_rng(1))
    res = Residual(f)
    x = ll.tensor(np.random.default_rng(2).standard_normal((4, 3)), requires_grad=True)
    np.testing.assert_allclose(res(x).data, x.data + f(x).data, rtol=1e-15)
    assert ll.gradcheck(res, x)
    # dh/dx = I + W: the gradient of Σ h is 1 + Σ_o W[o, :]
    x.grad = None
    res(x).sum().backward()
    np.testing.assert_allclose(x.grad, 1.0 + np.broadcast_to(f.weight.data.sum(0), (4, 3)), rtol=1e-12)
    assert list(res.state_dict()) == ["module.weight", "module.bias"]


def test_residual_shape_error_names_shapes():
    res = Residual(Linear(100, 50))
    with pytest.raises(ValueError, match=r"Residual: the wrapped module Linear\(in_features=100, out_features=50, "
                                         r"bias=True\) maps input \(32, 100\) to \(32, 50\)"):
        res(ll.tensor(np.zeros((32, 100), dtype=np.float32)))
    with pytest.raises(TypeError, match="expected a Module"):
        Residual(np.tanh)


# -- every kind of module in one network: gradients, PyTorch parity, dtypes -------------------------


def _zoo(dtype=None, seed=0):
    """A small network holding every kind of layer with parameters or modes (input (N, 3), output (N, 2))."""
    from layerlab import nn

    rng = np.random.default_rng(seed)
    net = nn.Sequential(
        nn.Linear(3, 4, rng=rng, dtype=dtype, bias_init=("normal", {"std": 0.5})),
        nn.BatchNorm(4, dtype=dtype),
        nn.PReLU(4),
        nn.Residual(nn.Sequential(nn.Linear(4, 4, rng=rng, dtype=dtype), nn.Tanh())),
        nn.Maxout(4, 3, pieces=2, rng=rng, dtype=dtype, bias_init=("normal", {"std": 0.5})),
        nn.LayerNorm(3, dtype=dtype),
        nn.GroupNorm(1, 3, dtype=dtype),
        nn.Swish(beta=0.8, learnable=True),
        nn.Dropout(0.3, rng=np.random.default_rng(seed)),
        nn.Linear(3, 2, rng=rng, dtype=dtype),
        nn.LogSoftmax(),
    )
    for name, p in net.named_parameters():  # γ ≠ 1, β ≠ 0, distinct PReLU slopes
        if name.startswith(("1.", "5.", "6.")):
            p.data[...] = rng.uniform(0.5, 1.5, p.shape) if name.endswith("weight") else rng.normal(0, 0.3, p.shape)
    net[2].weight.data[...] = [0.1, 0.2, 0.3, 0.4]
    if dtype is not None:
        net.to(dtype)
    return net


def _fixed_dropout_masks(net, seed=0):
    """A fresh generator before every Dropout forward: each call draws the same mask (gradcheck calls many times)."""
    from layerlab import nn

    for m in net.modules():
        if isinstance(m, nn.Dropout):
            m.register_forward_pre_hook(lambda mod, inp: setattr(mod, "rng", np.random.default_rng(seed)))


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_every_module_in_a_network_gradcheck_input_and_parameters(mode):
    net = _zoo(np.float64)
    rng = np.random.default_rng(1)
    for _ in range(3):  # running statistics away from (0, 1) before eval
        net(ll.tensor(rng.standard_normal((8, 3)) * 2.0 + 0.5))
    _fixed_dropout_masks(net)
    net.train(mode == "train")
    x = ll.tensor(rng.standard_normal((6, 3)), requires_grad=True)
    assert len(list(net.parameters())) == 16
    assert ll.gradcheck_module(net, x)
    if mode == "train":  # the train-mode checks above really ran through batch statistics and a dropout mask
        y1, y2 = net(x).data, net(ll.tensor(x.data[:3])).data
        assert not np.allclose(y1[:3], y2)
    else:
        np.testing.assert_array_equal(net(ll.tensor(x.data[:3])).data, net(x).data[:3])


class _TorchResidual(torch.nn.Module):
    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, x):
        return x + self.module(x)


def _zoo_pair(seed=0):
    """The same network in layerlab and PyTorch (float64): every module here exists in both."""
    from layerlab import nn

    T = torch.nn
    ours = nn.Sequential(
        nn.Linear(3, 5), nn.BatchNorm(5), nn.PReLU(5), nn.Residual(nn.Sequential(nn.Linear(5, 5), nn.GELU("tanh"))),
        nn.LayerNorm(5), nn.ELU(0.7), nn.GroupNorm(5, 5), nn.Mish(), nn.Linear(5, 4), nn.SELU(), nn.Linear(4, 3),
    )
    theirs = T.Sequential(
        T.Linear(3, 5), T.BatchNorm1d(5), T.PReLU(5), _TorchResidual(T.Sequential(T.Linear(5, 5), T.GELU("tanh"))),
        T.LayerNorm(5), T.ELU(0.7), T.GroupNorm(5, 5), T.Mish(), T.Linear(5, 4), T.SELU(), T.Linear(4, 3),
    ).double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            if name.startswith(("1.", "4.", "6.")):  # non-trivial γ and β
                p.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) + 0.5)
    ours.to(np.float64)
    assert ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()}) == ([], [])
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    return ours, theirs


def test_network_of_modules_matches_pytorch_over_training_steps_then_eval():
    from layerlab import nn

    ours, theirs = _zoo_pair()
    loss, tloss = nn.CrossEntropyLoss(label_smoothing=0.1), torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    rng = np.random.default_rng(2)
    for step in range(4):
        if step == 3:
            ours.eval()
            theirs.eval()
        xa, ya = rng.standard_normal((7, 3)) * 1.5 + 0.3, rng.integers(0, 3, 7)
        x, tx = ll.tensor(xa.copy(), requires_grad=True), torch.tensor(xa, requires_grad=True)
        ours.zero_grad()
        theirs.zero_grad()
        out, tout = loss(ours(x), ya), tloss(theirs(tx), torch.from_numpy(ya))
        np.testing.assert_allclose(out.item(), tout.item(), rtol=1e-8)
        out.backward()
        tout.backward()
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=f"step {step}: input")
        for (name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert p.grad is not None, f"step {step}: {name} got no gradient"
            np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=f"step {step}: {name}")
        for key, v in theirs.state_dict().items():  # running statistics included
            np.testing.assert_allclose(ours.state_dict()[key], v.numpy(), rtol=1e-8, atol=1e-12, err_msg=key)
        with ll.no_grad(), torch.no_grad():  # a plain SGD step in both, so later steps see new weights
            for p, tp in zip(ours.parameters(), theirs.parameters()):
                p.data -= 0.5 * p.grad
                tp -= 0.5 * tp.grad


def test_float32_in_float32_out_through_every_module():
    from layerlab import nn

    net = _zoo()  # default dtype: float32
    seen = []

    def check(mod, inputs, out):
        seen.append(type(mod).__name__)
        assert all(i.dtype == np.float32 for i in inputs), f"{type(mod).__name__} got {[i.dtype for i in inputs]}"
        assert out.dtype == np.float32, f"{type(mod).__name__} returned {out.dtype}"

    handles = [m.register_forward_hook(check) for m in net.modules()]
    x = ll.tensor(np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32), requires_grad=True)
    for mode in (True, False):
        net.train(mode)
        seen.clear()
        y = net(x)
        loss = nn.NLLLoss()(y, np.array([0, 1, 1, 0, 1, 0])) + 1e-3 * nn.l2_penalty(net)
        assert loss.dtype == np.float32
        net.zero_grad()
        x.grad = None
        loss.backward()
        assert x.grad.dtype == np.float32
        assert all(p.dtype == np.float32 and p.grad.dtype == np.float32 for p in net.parameters())
        assert all(b.dtype in (np.float32, np.int64) for b in net.buffers())
        assert len(seen) == len(list(net.modules()))  # every module's output was checked
    for h in handles:
        h.remove()
    net.to(np.float64)  # and float64 in, float64 out after a cast
    assert net(ll.tensor(x.data.astype(np.float64))).dtype == np.float64
