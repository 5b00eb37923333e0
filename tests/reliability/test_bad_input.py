"""Bad input to the API: every case is one clear exception whose message names what was wrong (the layer or
function, the value or shape) and what was expected. The CLI's cases are in ``test_cli_errors.py``."""

from __future__ import annotations

import numpy as np
import pytest

import layerlab as ll
from layerlab import Tensor, data, nn, optim
from layerlab.lab.config import ConfigError
from layerlab.lab.registry import get
from layerlab.optim import lr_scheduler


def x(*shape, dtype=np.float32):
    return Tensor(np.ones(shape, dtype))


def sgd(**kw):
    return optim.SGD(nn.Linear(2, 2).parameters(), **{"lr": 0.1, **kw})


def dying(*overrides):
    """The dying_relu experiment's config with ``--set`` overrides, as the runner makes it."""
    return get("dying_relu").make_config(False, list(overrides))


# (id, call, exception, a regex the message must match: what was wrong and what was expected)
CASES = [
    ("linear-zero-width", lambda: nn.Linear(0, 3), ValueError, r"Linear: in_features must be a positive int, got 0"),
    ("linear-float16", lambda: nn.Linear(3, 2, dtype=np.float16), TypeError,
     r"Linear: expected float32 or float64, got float16"),
    ("linear-int-dtype", lambda: nn.Linear(3, 2, dtype="int32"), TypeError, r"expected float32 or float64, got int32"),
    ("to-float16", lambda: nn.Linear(3, 2).to(np.float16), TypeError, r"Linear.to\(dtype\): expected float32"),
    ("batchnorm-float16", lambda: nn.BatchNorm(3, dtype=np.float16), TypeError, r"BatchNorm: expected float32"),
    ("default-dtype-float16", lambda: ll.set_default_dtype(np.float16), TypeError, r"set_default_dtype: expected"),
    ("float16-input-no-bad-advice", lambda: nn.Linear(3, 2)(x(1, 3, dtype=np.float16)), TypeError,
     r"input dtype float16 .* weight dtype float32; cast the input \(x.astype\(np.float32\)\)$"),
    ("linear-input-shape", lambda: nn.Linear(3, 2)(x(4, 5)), ValueError, r"Linear\(3->2\): expected input \(\.\.\., 3\), got \(4, 5\)"),
    ("residual-shape", lambda: nn.Residual(nn.Linear(3, 2))(x(1, 3)), ValueError, r"Residual: .* maps input \(1, 3\) to \(1, 2\)"),
    ("sequential-non-module", lambda: nn.Sequential(nn.Linear(2, 2), "relu"), TypeError,
     r"Sequential: element '1' is a str, not a Module"),
    ("unknown-activation", lambda: nn.activation("bogus"), ValueError, r"unknown name 'bogus'; valid names are .*relu"),
    ("dropout-p", lambda: nn.Dropout(1.5), ValueError, r"Dropout: p .* must be in \[0, 1\), got 1.5"),
    ("batchnorm-batch-of-one", lambda: nn.BatchNorm(3)(x(1, 3)), ValueError, r"BatchNorm\(3\): training needs more than one"),
    ("ce-label-range", lambda: nn.CrossEntropyLoss()(x(2, 3), Tensor(np.array([0, 5]))), ValueError,
     r"labels must lie in \[0, 3\) .* got values from 0 to 5"),
    ("ce-label-shape", lambda: nn.CrossEntropyLoss()(x(2, 3), Tensor(np.array([0, 1, 2]))), ValueError,
     r"expected labels of shape \(2,\) .* got shape \(3,\)"),
    ("backward-non-scalar", lambda: nn.Linear(2, 2)(x(1, 2)).backward(), ValueError, r"not a scalar; pass grad="),
    ("loader-batch-size-0", lambda: data.DataLoader(data.TensorDataset(np.ones((4, 2), np.float32)), batch_size=0),
     ValueError, r"DataLoader: batch_size must be a positive int, got 0"),
    ("dataset-lengths", lambda: data.TensorDataset(np.ones((4, 2), np.float32), np.zeros(3, np.int64)), ValueError,
     r"same first dimension .* lengths \[4, 3\]"),
    ("sgd-negative-lr", lambda: sgd(lr=-1), ValueError, r"learning rate: -1 .*expected lr >= 0"),
    ("sgd-momentum-nan", lambda: sgd(momentum=float("nan")), ValueError, r"momentum must be a finite number, got nan"),
    ("adam-beta", lambda: optim.Adam(nn.Linear(2, 2).parameters(), betas=(1.5, 0.9)), ValueError,
     r"beta parameter at index 0: 1.5 .*expected 0 <= beta < 1"),
    ("optimiser-no-parameters", lambda: optim.SGD([], lr=0.1), ValueError, r"SGD got an empty parameter list"),
    ("clip-negative", lambda: optim.clip_grad_norm_(nn.Linear(2, 2).parameters(), -1.0), ValueError,
     r"max_norm must be >= 0, got -1.0"),
    ("steplr-step-0", lambda: lr_scheduler.StepLR(sgd(), step_size=0), ValueError, r"StepLR: step_size must be a positive int"),
    ("onecycle-0-steps", lambda: lr_scheduler.OneCycleLR(sgd(), max_lr=1.0, total_steps=0), ValueError,
     r"OneCycleLR: total_steps must be a positive int"),
    ("load-missing-file", lambda: ll.serialization.load(nn.Linear(2, 2), "/nonexistent/w.safetensors"),
     FileNotFoundError, r"no such file '/nonexistent/w.safetensors'"),
    ("dataset-not-found-offline", lambda: data.fashion_mnist(root="/nonexistent", download=False), FileNotFoundError,
     r"not in any of: /nonexistent; downloading is off. To fix"),
    ("spirals-negative-n", lambda: data.spirals(n=-5), ValueError, r"spirals: n must be a positive int, got -5"),
    # configs: rejected by make_config, so the runner never opens a run for them
    ("config-negative-count", lambda: dying("seeds=-5"), ConfigError, r"seeds=-5: expected ≥ 1 \(a count\)"),
    ("config-batch-size-0", lambda: dying("batch_size=0"), ConfigError, r"batch_size=0: expected ≥ 1"),
    ("config-nan", lambda: dying("small_lrs=0.1,nan"), ConfigError, r"small_lrs=nan: expected a finite number"),
    ("config-unknown-activation", lambda: get("symmetry").make_config(False, ["activations=tanh,bogus"]),
     ConfigError, r"unknown activation 'bogus'"),
    ("config-unknown-key", lambda: dying("lr=0.1"), ConfigError, r"unknown key 'lr'.*valid keys"),
    ("config-bad-type", lambda: dying("iterations=ten"), ConfigError, r"iterations=ten: expected an int"),
]


@pytest.mark.parametrize("call, exc, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_error(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_there_are_at_least_25_distinct_cases():
    assert len({c[0] for c in CASES}) == len(CASES) >= 25
