"""Suite-wide test settings: deterministic hypothesis, one torch thread, default dtype restored."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from layerlab import data
from layerlab.backend import get_default_dtype, set_default_dtype
from layerlab.store import Store

try:  # torch is the test oracle (a dev dependency); files that need it import it themselves
    import torch
except ImportError:  # pragma: no cover
    torch = None
else:
    torch.set_num_threads(1)  # stable timings and results on the 2-core CI machine

# fsync only matters after a power cut, not a killed process; the tests that check it turn it back on
os.environ.setdefault("LAYERLAB_FSYNC", "0")

# derandomize: the same examples on every run, so CI is deterministic; no deadline: CI machines vary.
settings.register_profile(
    "layerlab", deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("layerlab")


@pytest.fixture(autouse=True)
def _restore_default_dtype():
    """A test that calls ``set_default_dtype`` must not leak it into the next one."""
    dt = get_default_dtype()
    yield
    set_default_dtype(dt)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A run store shared by the lab tests of one module."""
    s = Store(tmp_path_factory.mktemp("store") / "runs.db")
    yield s
    s.close()


@pytest.fixture(scope="session")
def fashion_available():
    """Skip a test that needs the Fashion-MNIST files when there are none."""
    try:
        data.fashion_mnist(split="test")
    except (FileNotFoundError, OSError, ValueError) as e:
        pytest.skip(f"Fashion-MNIST is not available here: {e}")
