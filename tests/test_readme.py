"""The README's Python examples run as written, in order, in one namespace (docs that run)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from layerlab import data, nn

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_examples_run():
    try:
        data.fashion_mnist(split="test")
    except (FileNotFoundError, OSError, ValueError) as e:
        pytest.skip(f"the README's first example needs Fashion-MNIST, not available here: {e}")
    blocks = _blocks()
    assert len(blocks) == 4, "the README's examples changed: update this test"
    ns: dict = {}
    for code in blocks:
        exec(compile(code, str(README), "exec"), ns)  # noqa: S102 — our own README
    # what the examples promise
    losses = [s["loss"] for s in ns["history"].steps]  # the ten lines trained for 3 epochs
    assert len(losses) == 3 * -(-60000 // 256) and np.mean(losses[-20:]) < 0.6 * losses[0]
    assert isinstance(ns["x"].grad, np.ndarray) and ns["x"].grad.shape == (4, 3)
    summary = ns["p"].summary()  # the probe around one forward pass: the Tanh layer, its saturation
    assert list(summary) == ["1"] and 0.0 <= summary["1"]["post/saturated"] <= 1.0
    assert summary["1"]["post/max"] <= 1.0 and summary["1"]["post/min"] >= -1.0
    # the activation defined in the README was registered, worked, and was removed again
    assert ns["Softsign"].saturates == (-1.0, 1.0) and "softsign" not in nn.ACTIVATIONS
