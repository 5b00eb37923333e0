"""The demo's engine-only example really learns: 100% training accuracy on the two spirals."""

import numpy as np

from layerlab.demo import train_spirals, two_spirals


def test_two_spirals_shapes_and_balance():
    x, y = two_spirals(n_per_class=50, seed=3)
    assert x.shape == (100, 2) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [50, 50]
    # the two arms are point reflections of each other, up to the noise
    assert np.abs(x[:50] + x[50:]).mean() < 0.2 * np.abs(x).mean()


def test_spirals_mlp_from_tensor_ops_reaches_full_accuracy():
    lines = []
    result = train_spirals(steps=1000, printer=lines.append)
    assert result["accuracy"] == 1.0
    assert result["losses"][-1] < 0.05 * result["losses"][0]
    assert len(lines) == 6 and lines[0].startswith("step     0")
