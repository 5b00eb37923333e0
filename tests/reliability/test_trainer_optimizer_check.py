"""``Trainer(model, loss, optimizer)`` checks that the optimiser is over the model.

Decision: none of the optimiser's parameters belongs to the model -> ValueError at construction (training
would silently change nothing). Some optimiser parameters belong neither to the model nor to the loss ->
RuntimeWarning (they get no gradient). Model parameters the optimiser does not hold -> allowed silently
(that is how a part of a model is frozen).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

from layerlab import data, nn, optim
from layerlab.nn.module import Parameter
from layerlab.train import Trainer


def _model(seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(4, 8, rng=rng), nn.Tanh(), nn.Linear(8, 3, rng=rng))


def _loader():
    x, y = data.blobs(48, centers=3, d=4, seed=0)
    return data.DataLoader(data.TensorDataset(x, y), batch_size=16, shuffle=True, seed=0)


@pytest.mark.parametrize("other", ["another-model", "a-copy"])
def test_an_optimiser_over_other_tensors_is_refused(other):
    model = _model()
    source = _model(1) if other == "another-model" else copy.deepcopy(model)
    opt = optim.SGD(source.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"none of the 4 parameters of the optimiser \(SGD\) belongs to the model "
                                         r"\(Sequential, 4 parameters\).*training would change nothing.*"
                                         r"optim\.SGD\(model\.parameters\(\)"):
        Trainer(model, nn.CrossEntropyLoss(), opt, progress=False)


def test_stray_optimiser_parameters_are_warned_about():
    model = _model()
    stray = Parameter(np.zeros((2, 2), dtype=np.float32))
    opt = optim.SGD([*model.parameters(), stray], lr=0.1)
    with pytest.warns(RuntimeWarning, match=r"1 of the 5 parameters of the optimiser \(SGD\) belong neither to the "
                                            r"model nor to the loss \(shapes \(2, 2\)\)"):
        Trainer(model, nn.CrossEntropyLoss(), opt, progress=False)


class _TemperedCE(nn.Module):
    """A loss with a learnable temperature: its parameter is legitimately in the optimiser."""

    def __init__(self):
        super().__init__()
        self.t = Parameter(np.ones(1, dtype=np.float32))
        self.ce = nn.CrossEntropyLoss()

    def forward(self, out, y):
        return self.ce(out * self.t, y)


def test_parameters_of_the_loss_are_allowed_and_trained():
    model, loss = _model(), _TemperedCE()
    opt = optim.SGD([*model.parameters(), *loss.parameters()], lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer = Trainer(model, loss, opt, progress=False)
    trainer.fit(_loader(), epochs=1)
    assert loss.t.data[0] != 1.0


def test_a_frozen_part_is_allowed_silently_and_stays_frozen():
    model = _model()
    first = model[0].weight.data.copy()
    last = model[2].weight.data.copy()
    opt = optim.SGD(model[2].parameters(), lr=0.1)  # only the last layer
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer = Trainer(model, nn.CrossEntropyLoss(), opt, progress=False)
    trainer.fit(_loader(), epochs=1)
    assert np.array_equal(model[0].weight.data, first)
    assert not np.array_equal(model[2].weight.data, last)
