"""Losses: one harness over every loss × reduction, then stability, relations, errors, penalties.

The harness (``CASES``) checks, for each loss and reduction: forward and gradient parity with
PyTorch in float64 (``torch.autograd.grad``, every input that requires grad — targets too where
they are real-valued — to 1e-8 relative), a float64 gradcheck, one fused node, and float32 in ->
float32 out. EuclideanLoss and ContrastiveLoss, which PyTorch lacks, are compared with their
formula written in torch ops (autograd then gives the reference gradient).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch

import layerlab as ll
from layerlab import nn
from layerlab.nn import functional as F

N, C = 5, 4
# torch announces a change of KLDivLoss's "mean"; layerlab follows today's semantics and tests both
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# -- input generators: rng -> list of arrays ---------------------------------------------------------

def regression(rng):
    return [rng.standard_normal((N, 3)), rng.standard_normal((N, 3))]


def regression_wide(rng):  # residuals on both sides of Huber's δ
    return [rng.standard_normal((N, 3)) * 2.0, rng.standard_normal((N, 3))]


def logits_labels(rng):
    return [rng.standard_normal((N, C)) * 2.0, rng.integers(0, C, N)]


def logits_probs(rng):
    return [rng.standard_normal((N, C)) * 2.0, _softmax(rng.standard_normal((N, C)))]


def logp_labels(rng):
    return [np.log(_softmax(rng.standard_normal((N, C)))), rng.integers(0, C, N)]


def probs_soft(rng):
    return [rng.uniform(0.05, 0.95, (N, 3)), rng.uniform(0.0, 1.0, (N, 3))]


def logits_soft(rng):
    return [rng.standard_normal((N, 3)) * 3.0, rng.uniform(0.0, 1.0, (N, 3))]


def scores_labels(rng):
    return [rng.standard_normal((N, C)), rng.integers(0, C, N)]


def kl_inputs(rng):
    return [np.log(_softmax(rng.standard_normal((N, C)))), _softmax(rng.standard_normal((N, C)))]


def kl_log_inputs(rng):
    return [np.log(_softmax(rng.standard_normal((N, C)))), np.log(_softmax(rng.standard_normal((N, C))))]


def pairs(rng):
    x1 = rng.standard_normal((6, 3))
    return [x1, x1 + 0.6 * rng.standard_normal((6, 3)), np.array([0, 1, 0, 1, 0, 0])]


def _reduce_t(v, reduction):
    return {"mean": v.mean(), "sum": v.sum(), "none": v}[reduction]


def torch_euclidean(reduction):
    return lambda x, t: _reduce_t(0.5 * ((x - t) ** 2).sum(dim=1), reduction)


def torch_contrastive(margin, reduction):
    def fn(x1, x2, y):
        d = (x1 - x2).norm(dim=1)
        y = y.to(x1.dtype)
        return _reduce_t(y * d ** 2 + (1 - y) * torch.clamp(margin - d, min=0) ** 2, reduction)
    return fn


@dataclass
class Case:
    id: str
    make: Callable[[], nn.Module]
    ref: Callable  # torch function of the same inputs
    inputs: Callable  # rng -> list of arrays
    grad: tuple  # which inputs require grad


def _cases():
    cases = []
    for r in ("mean", "sum", "none"):
        cases += [
            Case(f"mse-{r}", lambda r=r: nn.MSELoss(r), torch.nn.MSELoss(reduction=r), regression, (True, True)),
            Case(f"euclidean-{r}", lambda r=r: nn.EuclideanLoss(r), torch_euclidean(r), regression, (True, True)),
            Case(f"huber-{r}", lambda r=r: nn.HuberLoss(r), torch.nn.HuberLoss(reduction=r), regression_wide,
                 (True, True)),
            Case(f"huber_d0.5-{r}", lambda r=r: nn.HuberLoss(r, delta=0.5),
                 torch.nn.HuberLoss(reduction=r, delta=0.5), regression_wide, (True, True)),
            Case(f"ce_labels-{r}", lambda r=r: nn.CrossEntropyLoss(r), torch.nn.CrossEntropyLoss(reduction=r),
                 logits_labels, (True, False)),
            Case(f"ce_labels_smooth-{r}", lambda r=r: nn.CrossEntropyLoss(r, label_smoothing=0.1),
                 torch.nn.CrossEntropyLoss(reduction=r, label_smoothing=0.1), logits_labels, (True, False)),
            Case(f"ce_probs-{r}", lambda r=r: nn.CrossEntropyLoss(r), torch.nn.CrossEntropyLoss(reduction=r),
                 logits_probs, (True, True)),
            Case(f"ce_probs_smooth-{r}", lambda r=r: nn.CrossEntropyLoss(r, label_smoothing=0.2),
                 torch.nn.CrossEntropyLoss(reduction=r, label_smoothing=0.2), logits_probs, (True, True)),
            Case(f"nll-{r}", lambda r=r: nn.NLLLoss(r), torch.nn.NLLLoss(reduction=r), logp_labels, (True, False)),
            Case(f"bce-{r}", lambda r=r: nn.BCELoss(r), torch.nn.BCELoss(reduction=r), probs_soft, (True, True)),
            Case(f"bce_logits-{r}", lambda r=r: nn.BCEWithLogitsLoss(r), torch.nn.BCEWithLogitsLoss(reduction=r),
                 logits_soft, (True, True)),
            Case(f"hinge-{r}", lambda r=r: nn.HingeLoss(r), torch.nn.MultiMarginLoss(p=1, margin=1.0, reduction=r),
                 scores_labels, (True, False)),
            Case(f"hinge_m0.5-{r}", lambda r=r: nn.HingeLoss(r, margin=0.5),
                 torch.nn.MultiMarginLoss(p=1, margin=0.5, reduction=r), scores_labels, (True, False)),
            Case(f"contrastive-{r}", lambda r=r: nn.ContrastiveLoss(1.0, r), torch_contrastive(1.0, r), pairs,
                 (True, True, False)),
        ]
    for r in ("mean", "sum", "none", "batchmean"):
        cases += [
            Case(f"kl-{r}", lambda r=r: nn.KLDivLoss(r), torch.nn.KLDivLoss(reduction=r), kl_inputs, (True, True)),
            Case(f"kl_log_target-{r}", lambda r=r: nn.KLDivLoss(r, log_target=True),
                 torch.nn.KLDivLoss(reduction=r, log_target=True), kl_log_inputs, (True, True)),
        ]
    return cases


CASES = _cases()
LOSS_CLASSES = {nn.MSELoss, nn.EuclideanLoss, nn.CrossEntropyLoss, nn.NLLLoss, nn.BCELoss, nn.BCEWithLogitsLoss,
                nn.HingeLoss, nn.KLDivLoss, nn.ContrastiveLoss, nn.HuberLoss}


def _ll_inputs(arrays, grad, dtype=np.float64):
    out = []
    for a, g in zip(arrays, grad):
        if a.dtype.kind == "f":
            out.append(ll.tensor(a.astype(dtype), requires_grad=g))
        else:
            out.append(ll.tensor(a))
    return out


def test_every_loss_has_cases():
    assert {type(c.make()) for c in CASES} == LOSS_CLASSES
    for cls in LOSS_CLASSES:
        assert issubclass(cls, nn.Module)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("seed", [0, 1])
def test_parity_with_torch(case, seed):
    arrays = case.inputs(np.random.default_rng(seed))
    xs = _ll_inputs(arrays, case.grad)
    out = case.make()(*xs)
    ts = [torch.tensor(a, requires_grad=bool(g) and a.dtype.kind == "f") for a, g in zip(arrays, case.grad)]
    tout = case.ref(*ts)
    assert out.dtype == np.float64 and out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-8, atol=1e-13, err_msg=f"{case.id}: forward")
    g = np.random.default_rng(seed + 10).standard_normal(out.shape) + 1.5
    out.backward(g)
    wanted = [t for t in ts if t.requires_grad]
    tgrads = torch.autograd.grad(tout, wanted, torch.tensor(g))
    for x, tg in zip([x for x in xs if x.requires_grad], tgrads):
        np.testing.assert_allclose(x.grad, tg.numpy(), rtol=1e-8, atol=1e-13, err_msg=f"{case.id}: gradient")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_gradcheck(case):
    xs = _ll_inputs(case.inputs(np.random.default_rng(2)), case.grad)
    assert ll.gradcheck(case.make(), *xs)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_one_fused_node_and_float32(case):
    arrays = case.inputs(np.random.default_rng(3))
    xs = _ll_inputs(arrays, case.grad, np.float32)
    out = case.make()(*xs)
    assert out._ctx.parents[0] is xs[0] and len(out._ctx.parents) <= 2
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    for x in xs:
        if x.requires_grad:
            assert x.grad.dtype == np.float32


# -- stability at extremes ---------------------------------------------------------------------------

@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_at_logits_pm_1000(smoothing):
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0], [0.0, 0.0, 0.0]])
    y = np.array([1, 1, 2])
    x = ll.tensor(z, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = nn.CrossEntropyLoss(label_smoothing=smoothing)(x, y)
        out.backward()
    tz = torch.tensor(z, requires_grad=True)
    tout = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)(tz, torch.tensor(y))
    tout.backward()
    np.testing.assert_allclose(out.item(), tout.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, tz.grad.numpy(), rtol=1e-12, atol=1e-15)
    x32 = ll.tensor(z.astype(np.float32), requires_grad=True)
    out32 = nn.CrossEntropyLoss(label_smoothing=smoothing)(x32, y)
    out32.backward()
    assert out32.dtype == np.float32 and np.isfinite(out32.item()) and np.isfinite(x32.grad).all()


def test_bce_with_logits_at_pm_1000():
    z = np.array([-1000.0, 1000.0, -1000.0, 1000.0, 0.0])
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.5])
    for dt in (np.float64, np.float32):
        x = ll.tensor(z.astype(dt), requires_grad=True)
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            out = F.binary_cross_entropy_with_logits(x, t, reduction="none")
            out.backward(np.ones(5, dtype=dt))
        assert out.dtype == dt and np.isfinite(x.grad).all()
        np.testing.assert_allclose(out.data, [1000.0, 1000.0, 0.0, 0.0, np.log(2.0)], rtol=1e-6)
    tz = torch.tensor(z, requires_grad=True)
    tout = torch.nn.functional.binary_cross_entropy_with_logits(tz, torch.tensor(t), reduction="none")
    tout.sum().backward()
    x = ll.tensor(z, requires_grad=True)
    F.binary_cross_entropy_with_logits(x, t, reduction="sum").backward()
    np.testing.assert_allclose(out.data.astype(np.float64), tout.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad, tz.grad.numpy(), rtol=1e-12)


def test_bce_clamps_log_at_minus_100_like_torch():
    p = np.array([0.0, 1.0, 0.0, 1.0, 1e-50, 0.5])
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.3])
    x = ll.tensor(p, requires_grad=True)
    out = F.binary_cross_entropy(x, t, reduction="none")
    out.backward(np.ones(6))
    tp = torch.tensor(p, requires_grad=True)
    tout = torch.nn.functional.binary_cross_entropy(tp, torch.tensor(t), reduction="none")
    tout.sum().backward()
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12)
    assert out.data[0] == 100.0 and out.data[1] == 100.0 and out.data[4] == 100.0
    np.testing.assert_allclose(x.grad, tp.grad.numpy(), rtol=1e-12)
    assert np.isfinite(x.grad).all()


# -- relations -------------------------------------------------------------------------------------

def _value_grad(fn, x: np.ndarray, *rest):
    xt = ll.tensor(x, requires_grad=True)
    out = fn(xt, *rest)
    out.backward()
    return out.item(), xt.grad


def test_cross_entropy_is_log_softmax_plus_nll():
    rng = np.random.default_rng(5)
    z, y = rng.standard_normal((N, C)), rng.integers(0, C, N)
    v1, g1 = _value_grad(lambda x, y: nn.CrossEntropyLoss()(x, y), z, y)
    v2, g2 = _value_grad(lambda x, y: nn.NLLLoss()(nn.LogSoftmax()(x), y), z, y)
    np.testing.assert_allclose(v1, v2, rtol=1e-13)
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g1, (_softmax(z) - np.eye(C)[y]) / N, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_one_hot_probabilities_equal_labels(smoothing):
    rng = np.random.default_rng(6)
    z, y = rng.standard_normal((N, C)), rng.integers(0, C, N)
    loss = nn.CrossEntropyLoss(label_smoothing=smoothing)
    v1, g1 = _value_grad(loss, z, y)
    v2, g2 = _value_grad(loss, z, np.eye(C)[y])
    np.testing.assert_allclose(v1, v2, rtol=1e-13)
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-15)
    q = (1 - smoothing) * np.eye(C)[y] + smoothing / C
    np.testing.assert_allclose(g1, (_softmax(z) - q) / N, rtol=1e-12, atol=1e-15)


def test_bce_of_sigmoid_equals_bce_with_logits():
    rng = np.random.default_rng(7)
    z, t = rng.standard_normal((N, 3)) * 3, rng.uniform(0, 1, (N, 3))
    v1, g1 = _value_grad(lambda x, t: F.binary_cross_entropy(F.sigmoid(x), t), z, t)
    v2, g2 = _value_grad(lambda x, t: F.binary_cross_entropy_with_logits(x, t), z, t)
    np.testing.assert_allclose(v1, v2, rtol=1e-10)
    np.testing.assert_allclose(g1, g2, rtol=1e-8)
    np.testing.assert_allclose(g2, (1 / (1 + np.exp(-z)) - t) / z.size, rtol=1e-12)


def test_euclidean_loss_formula():
    """Seed 003: h(x, y) = 0.5‖y − x‖² per sample; the gradient is the residual."""
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((N, 3)), rng.standard_normal((N, 3))
    v, g = _value_grad(nn.EuclideanLoss(), x, y)
    np.testing.assert_allclose(v, 0.5 * ((y - x) ** 2).sum() / N, rtol=1e-14)
    np.testing.assert_allclose(g, (x - y) / N, rtol=1e-14)
    np.testing.assert_allclose(v, F.mse_loss(ll.tensor(x), y, reduction="sum").item() / (2 * N), rtol=1e-14)
    per = F.euclidean_loss(ll.tensor(x), y, reduction="none").data
    assert per.shape == (N,)
    assert F.euclidean_loss(ll.tensor(x[:, 0]), y[:, 0], reduction="none").shape == (N,)  # N scalar samples


def test_kl_div_properties():
    rng = np.random.default_rng(9)
    p = _softmax(rng.standard_normal((N, C)))
    assert abs(F.kl_div(ll.tensor(np.log(p)), p, reduction="sum").item()) < 1e-14  # KL(p‖p) = 0
    logq = np.log(_softmax(rng.standard_normal((N, C))))
    bm = F.kl_div(ll.tensor(logq), p, reduction="batchmean").item()
    np.testing.assert_allclose(bm, (p * (np.log(p) - logq)).sum() / N, rtol=1e-13)
    assert bm > 0
    p0 = p.copy()
    p0[0] = [0.5, 0.5, 0.0, 0.0]  # zero-probability entries contribute 0, not NaN
    assert np.isfinite(F.kl_div(ll.tensor(logq), p0, reduction="none").data).all()


def test_hinge_loss_values():
    x = ll.tensor(np.array([[3.0, 1.0, 2.5], [0.0, 0.0, 0.0]]), requires_grad=True)
    out = F.hinge_loss(x, np.array([0, 1]), reduction="none")
    np.testing.assert_allclose(out.data, [(0 + 0.5) / 3, (1 + 1) / 3])
    out.backward(np.ones(2))
    np.testing.assert_allclose(x.grad, [[-1 / 3, 0, 1 / 3], [1 / 3, -2 / 3, 1 / 3]])
    # a term exactly at the margin gets no gradient (as torch's MultiMarginLoss)
    x = ll.tensor(np.array([[2.0, 1.0]]), requires_grad=True)
    F.hinge_loss(x, np.array([0])).backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.0]])


def test_contrastive_loss_convention():
    """y = 1: similar (loss d²); y = 0: dissimilar (loss max(0, m − d)²); d = 0 pairs are finite."""
    x1 = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    x2 = np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    y = np.array([1, 0, 0, 1, 0])
    a, b = ll.tensor(x1, requires_grad=True), ll.tensor(x2, requires_grad=True)
    out = nn.ContrastiveLoss(margin=2.0, reduction="none")(a, b, y)
    np.testing.assert_allclose(out.data, [25.0, 1.5 ** 2, 4.0, 0.0, 0.0])
    out.backward(np.ones(5))
    assert np.isfinite(a.grad).all()
    np.testing.assert_allclose(a.grad[0], 2 * (x1[0] - x2[0]))
    np.testing.assert_allclose(a.grad[1], -2 * 1.5 * (x1[1] - x2[1]) / 0.5)
    np.testing.assert_array_equal(a.grad[2:], 0.0)
    np.testing.assert_allclose(b.grad, -a.grad)


# -- targets and dtypes ------------------------------------------------------------------------------

def test_targets_take_the_prediction_dtype():
    x = ll.tensor(np.zeros((3, 2), dtype=np.float32), requires_grad=True)
    out = F.binary_cross_entropy_with_logits(x, ll.tensor(np.array([[1, 0], [0, 1], [1, 1]])))  # int labels
    assert out.dtype == np.float32 and np.isclose(out.item(), np.log(2.0))
    assert F.mse_loss(x, np.ones((3, 2))).dtype == np.float32  # float64 data target
    with pytest.raises(TypeError, match="MSELoss.*float32.*float64"):
        F.mse_loss(x, ll.tensor(np.ones((3, 2)), requires_grad=True))


def test_cross_entropy_with_trainer_style_tensor_labels():
    x = ll.tensor(np.zeros((4, 3), dtype=np.float32), requires_grad=True)
    out = nn.CrossEntropyLoss()(x, ll.Tensor(np.array([0, 1, 2, 0], dtype=np.int64)))
    np.testing.assert_allclose(out.item(), np.log(3.0), rtol=1e-6)
    for labels in (np.array([0, 1, 2, 0], dtype=np.uint8), [0, 1, 2, 0]):
        np.testing.assert_allclose(nn.CrossEntropyLoss()(x, labels).item(), np.log(3.0), rtol=1e-6)


# -- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("loss", [nn.MSELoss(), nn.EuclideanLoss(), nn.HuberLoss(), nn.BCELoss(),
                                  nn.BCEWithLogitsLoss(), nn.KLDivLoss()], ids=lambda m: type(m).__name__)
def test_shape_mismatch_is_an_error_not_a_broadcast(loss):
    x = ll.tensor(np.full((4, 1), 0.5))
    name = type(loss).__name__
    with pytest.raises(ValueError, match=rf"{name}.*\(4, 1\).*\(4,\)"):
        loss(x, np.full(4, 0.5))
    with pytest.raises(ValueError, match=rf"{name}.*\(4, 1\).*\(1, 4\)"):
        loss(x, np.full((1, 4), 0.5))


@pytest.mark.parametrize("loss", [nn.CrossEntropyLoss(), nn.NLLLoss(), nn.HingeLoss()],
                         ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("labels,match", [
    (np.array([0, 1, 3]), r"\[0, 3\).*from 0 to 3"),
    (np.array([0, -1, 2]), r"\[0, 3\).*from -1 to 2"),
    (np.array([0.0, 1.0, 2.0]), "integers"),
    (np.array([True, False, True]), "integers"),
    (np.array([[0], [1], [2]]), r"shape \(3,\).*\(3, 1\)"),
    (np.array([0, 1]), r"shape \(3,\).*\(2,\)"),
])
def test_bad_class_labels(loss, labels, match):
    x = ll.tensor(np.zeros((3, 3)))
    name = type(loss).__name__
    with pytest.raises(ValueError, match=rf"{name}.*{match}") as e:
        loss(x, labels)
    assert "(3, 3)" in str(e.value)  # names the logits' shape too


@pytest.mark.parametrize("loss", [nn.CrossEntropyLoss(), nn.NLLLoss(), nn.HingeLoss()],
                         ids=lambda m: type(m).__name__)
def test_logits_must_be_two_dimensional(loss):
    with pytest.raises(ValueError, match=rf"{type(loss).__name__}.*\(N, C\).*\(3,\)"):
        loss(ll.tensor(np.zeros(3)), np.array([0]))


def test_cross_entropy_probability_targets_shape():
    with pytest.raises(ValueError, match=r"CrossEntropyLoss.*\(3, 4\).*\(3, 5\)"):
        nn.CrossEntropyLoss()(ll.tensor(np.zeros((3, 4))), np.full((3, 5), 0.2))


def test_bad_arguments():
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss("average")
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss("batchmean")  # only KLDivLoss has it
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(ll.tensor(np.zeros((2, 2))), np.array([0, 1]), reduction="avg")
    assert nn.KLDivLoss("batchmean").reduction == "batchmean"
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="delta"):
        nn.HuberLoss(delta=0.0)
    with pytest.raises(ValueError, match="margin"):
        nn.ContrastiveLoss(margin=-1.0)
    with pytest.raises(ValueError, match=r"BCELoss.*\[0, 1\].*BCEWithLogitsLoss"):
        nn.BCELoss()(ll.tensor(np.array([0.5, 1.5])), np.array([1.0, 0.0]))
    with pytest.raises(TypeError, match="MSELoss"):
        nn.MSELoss()(ll.tensor(np.array([1, 2])), np.array([1, 2]))


def test_contrastive_errors():
    a = ll.tensor(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"ContrastiveLoss.*\(3, 2\).*\(3, 3\)"):
        nn.ContrastiveLoss()(a, ll.tensor(np.zeros((3, 3))), np.array([0, 1, 0]))
    with pytest.raises(ValueError, match=r"ContrastiveLoss.*1 \(similar\) or 0"):
        nn.ContrastiveLoss()(a, a, np.array([0, 2, 1]))
    with pytest.raises(ValueError, match=r"ContrastiveLoss.*\(3,\).*\(3, 1\)"):
        nn.ContrastiveLoss()(a, a, np.zeros((3, 1)))


# -- penalties ---------------------------------------------------------------------------------------

def _mlp():
    m = nn.Sequential(nn.Linear(3, 4, rng=np.random.default_rng(0)), nn.Tanh(),
                      nn.Linear(4, 2, rng=np.random.default_rng(1)))
    m[0].bias.data[:] = 0.5  # non-zero biases, so that leaving them out shows
    m[2].bias.data[:] = -0.25
    return m


def test_l1_penalty_sums_absolute_weights_and_leaves_biases():
    m = _mlp()
    w1, w2 = m[0].weight, m[2].weight
    pen = nn.l1_penalty(m)
    assert pen.dtype == np.float32 and pen.shape == ()
    np.testing.assert_allclose(pen.item(), np.abs(w1.data).sum() + np.abs(w2.data).sum(), rtol=1e-6)
    pen.backward()
    np.testing.assert_array_equal(w1.grad, np.sign(w1.data))
    assert m[0].bias.grad is None and m[2].bias.grad is None
    every = nn.l1_penalty(m, weights_only=False).item()
    np.testing.assert_allclose(every, pen.item() + 4 * 0.5 + 2 * 0.25, rtol=1e-6)


def test_l2_penalty_is_half_the_squared_norm_with_gradient_w():
    m = _mlp()
    pen = nn.l2_penalty(m)
    w1, w2 = m[0].weight.data, m[2].weight.data
    np.testing.assert_allclose(pen.item(), 0.5 * ((w1 ** 2).sum() + (w2 ** 2).sum()), rtol=1e-6)
    (0.1 * pen).backward()
    np.testing.assert_allclose(m[0].weight.grad, 0.1 * w1, rtol=1e-6)  # what weight_decay=0.1 adds
    assert m[0].bias.grad is None


@pytest.mark.parametrize("penalty", [nn.l1_penalty, nn.l2_penalty])
def test_penalty_gradcheck_and_edge_cases(penalty):
    rng = np.random.default_rng(3)
    ws = [ll.tensor(rng.standard_normal((3, 2)), requires_grad=True),
          ll.tensor(rng.standard_normal((2, 2)), requires_grad=True)]
    assert ll.gradcheck(lambda a, b: penalty([a, b]), *ws)
    empty = penalty(nn.ReLU())
    assert empty.item() == 0.0 and empty.dtype == np.float32
    m = _mlp().to(np.float64)
    assert penalty(m).dtype == np.float64
    assert penalty([ws[0], ll.tensor(np.ones(3), requires_grad=True)]).item() == penalty([ws[0]]).item()


def test_bce_with_logits_of_a_0d_logit_matches_torch():
    """A single 0-d logit goes through the shared kernels (softplus, σ) like any other shape."""
    for z, y in [(0.3, 1.0), (-40.0, 0.0), (40.0, 1.0), (-1000.0, 1.0)]:
        x = ll.tensor(np.array(z), requires_grad=True)
        loss = F.binary_cross_entropy_with_logits(x, ll.tensor(np.array(y)))
        loss.backward()
        tx = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        tl = torch.nn.functional.binary_cross_entropy_with_logits(tx, torch.tensor(y, dtype=torch.float64))
        tl.backward()
        assert loss.shape == () and x.grad.shape == ()
        np.testing.assert_allclose(loss.data, tl.item(), rtol=1e-12, atol=1e-15)  # torch: 0 for ln(1 + e^−40)
        np.testing.assert_allclose(x.grad, tx.grad.item(), rtol=1e-12, atol=1e-300)
