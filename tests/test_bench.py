"""The benchmark itself is correct: every framework computes the same thing from the same start (no timing here)."""

import json

import numpy as np
import pytest

from layerlab import bench

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("workload", ["W1", "W2", "W3", "W4"])
def test_layerlab_and_torch_compute_the_same_losses(workload):
    a, b = bench.build(workload, "layerlab"), bench.build(workload, "torch")
    la, lb = [a() for _ in range(3)], [b() for _ in range(3)]
    # float32 on both sides: the first step agrees closely; later steps follow the same trajectory
    assert la[0] == pytest.approx(lb[0], rel=1e-4)
    np.testing.assert_allclose(la, lb, rtol=1e-3)
    if workload != "W4":
        assert la[-1] != la[0]  # it trains


def test_numpy_loop_follows_layerlab_on_w1():
    a, b = bench.build("W1", "layerlab"), bench.build("W1", "numpy")
    np.testing.assert_allclose([a() for _ in range(3)], [b() for _ in range(3)], rtol=1e-4)


def test_probed_w5_trains_like_w1():
    a, b = bench.build("W5", "layerlab"), bench.build("W5", "layerlab-noprobes")
    np.testing.assert_allclose([a() for _ in range(12)], [b() for _ in range(12)], rtol=1e-6)


def test_numpy_peer_only_for_w1():
    with pytest.raises(ValueError, match="W1 only"):
        bench.build("W2", "numpy")


def test_main_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["-w", "W1", "--vs", "numpy", "--repeat", "1", "--steps", "1", "--no-memory",
                       "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    (row,) = data["results"]
    assert row["workload"] == "W1" and row["peer"] == "numpy" and row["ratio_min"] <= row["ratio_median"]
    assert len(data["load"]) == 3 and data["cores"] >= 1
    assert "layerlab bench" in capsys.readouterr().out


def test_peak_rss_child_reports_its_own_memory():
    mb = bench._peak_rss_mb("W3", "layerlab", steps=1)
    assert mb is not None and 10 < mb < 2000
