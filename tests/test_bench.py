"""The benchmark itself: every workload builds and trains; layerlab, PyTorch and the hand-written
NumPy loop compute the same losses on the same weights and data (so the benchmark compares equal
work); everything stays float32; ``layerlab bench`` prints its table and writes its JSON.
Nothing here is timed."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from layerlab import bench, cli
from layerlab.tensor import Tensor

torch = pytest.importorskip("torch")

STEPS = 3  # the first steps: after the first, the updates must agree too


def _losses(workload, framework, steps=STEPS):
    runner = bench.build(workload, framework)
    return [runner.step() for _ in range(steps)]


def _tiny_fashion(n=640, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.random((n, 784), dtype=np.float32) * 0.3
    x[np.arange(n), y * 78] += 1.0  # learnable
    return x, y


@pytest.fixture
def tiny_fashion(monkeypatch):
    """W6 on 640 synthetic examples (5 batches an epoch) in place of Fashion-MNIST."""
    data = _tiny_fashion()
    monkeypatch.setattr(bench, "fashion_mnist_train", lambda: data)
    return data


@pytest.mark.parametrize("workload", list(bench.WORKLOADS))
def test_every_workload_builds_and_runs_a_couple_of_steps(workload, tiny_fashion):
    w = bench.WORKLOADS[workload]
    runner = bench.build(workload, "layerlab")
    out = [runner.step() for _ in range(2)]
    if w.train:
        assert all(isinstance(v, float) and np.isfinite(v) for v in out)
        assert out[0] > 1.0 and out[0] < 4.0  # random labels over 10 classes: about ln 10 = 2.30
    else:
        assert out[0].shape == (w.batch, w.sizes[-1]) and out[0].dtype == np.float32
        np.testing.assert_array_equal(out[0], out[1])  # eval mode: inference changes nothing
    runner.run(2)
    runner.close()


@pytest.mark.parametrize("workload", ["W1", "W2", "W3"])
def test_layerlab_and_torch_take_the_same_first_steps(workload):
    ours, theirs = _losses(workload, "layerlab"), _losses(workload, "torch")
    np.testing.assert_allclose(ours[0], theirs[0], rtol=2e-6)  # same weights, same batch
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)        # and the same updates
    assert len(set(np.round(ours, 4))) == STEPS                # the weights did move


def test_numpy_loop_takes_the_same_first_steps_as_layerlab():
    np.testing.assert_allclose(_losses("W1", "numpy"), _losses("W1", "layerlab"), rtol=1e-5)


def test_inference_workload_gives_torchs_outputs():
    ours = bench.build("W4", "layerlab").step()
    theirs = bench.build("W4", "torch").step()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_probe_workload_trains_like_w1_and_records():
    runner = bench.build("W5", "layerlab")
    ours = [runner.step() for _ in range(STEPS)]
    np.testing.assert_allclose(ours, _losses("W1", "torch"), rtol=1e-4)
    np.testing.assert_allclose(_losses("W5", "layerlab-noprobes"), ours, rtol=0)  # probes do not change training
    runner.run(12)  # crosses step 10: the default sampling records again


def test_probe_workload_records_at_the_default_sampling():
    from layerlab.probes import ActivationStats, GradientStats

    made = []
    real_a, real_g = ActivationStats.__init__, GradientStats.__init__

    def keep_a(self, *a, **k):
        real_a(self, *a, **k)
        made.append(self)

    def keep_g(self, *a, **k):
        real_g(self, *a, **k)
        made.append(self)

    mp = pytest.MonkeyPatch()
    mp.setattr(ActivationStats, "__init__", keep_a)
    mp.setattr(GradientStats, "__init__", keep_g)
    try:
        runner = bench.build("W5", "layerlab")
    finally:
        mp.undo()
    runner.run(11)
    assert len(made) == 2
    for probe in made:
        assert probe.steps == [0, 10]  # every 10th step, the probes' default in a Trainer


class _FakeWorker:
    """Stands in for a worker process: W5 with probes takes 26 ms of wall clock and 25.5 ms of CPU a step,
    without 25 ms of each (probes +4.0% wall, +2.0% CPU), all times ``scale``; counts the rounds it runs."""

    calls: list = []
    scale = 1.0

    def __init__(self, workload, framework, seed, threads):
        self.framework, self.base_rss = framework, 100.0
        wall, cpu = (0.026, 0.0255) if framework == "layerlab" else (0.025, 0.025)
        self.wall, self.cpu = wall * self.scale, cpu * self.scale

    def ready(self):
        pass

    def run(self, k):
        _FakeWorker.calls.append((self.framework, k))
        return self.wall * k, self.cpu * k

    def rss(self):
        return 150.0

    def close(self):
        pass


def test_w5_runs_long_rounds_of_whole_sampling_periods_and_reports_wall_and_cpu(monkeypatch):
    """W5's target is the issue's ≤ 5%; its rounds last about 1 s and at least 40 steps (a multiple of the
    sampling period of 10), at least 41 pairs whatever --repeat says, and its row gives the cost from the
    wall-clock and from the CPU-time ratios, each with its verdict."""
    import argparse
    import io

    from rich.console import Console

    assert bench.TARGETS[("W5", "layerlab-noprobes")] == pytest.approx(1 / 1.05)
    w5 = bench.WORKLOADS["W5"]
    assert (w5.round_seconds, w5.min_steps, w5.min_rounds, w5.step_multiple) == (1.0, 40, 41, 10)
    assert all(w.round_seconds == 0.25 for n, w in bench.WORKLOADS.items() if n != "W5")
    # W1's verdict against the GEMM bound sits near its target: as many pairs as W5, the others --repeat's
    assert {n: w.min_rounds for n, w in bench.WORKLOADS.items() if n != "W5"} == {
        "W1": 41, "W2": 1, "W3": 1, "W4": 1, "W6": 1}

    _FakeWorker.calls = []
    monkeypatch.setattr(bench, "_Worker", _FakeWorker)
    args = argparse.Namespace(seed=0, threads=1, warmup=1, steps=0, repeat=3, settle=0.2)
    (row,) = bench._measure("W5", ["layerlab-noprobes"], args)
    assert row["steps_per_round"] == 40  # 1 s / 26 ms ≈ 38 steps: the least, 40
    assert row["rounds"] == 41 and len(row["layerlab_s_per_step"]) == 41
    timed = [c for c in _FakeWorker.calls if c[1] == 40]
    assert [f for f, _ in timed] == ["layerlab", "layerlab-noprobes"] * 41  # A, B, A, B, ...
    assert row["ratio_median"] == pytest.approx(25 / 26) and row["cpu_ratio_median"] == pytest.approx(25 / 25.5)
    assert row["target"] == pytest.approx(1 / 1.05)
    meta = {"cores": 2, "threads": 1, "load_before": (1.0, 1.0, 1.0), "load_after": (1.0, 1.0, 1.0),
            "repeat": 3, "jit": True}
    console = Console(file=io.StringIO(), width=250)
    console.print(bench._table([row], meta))
    text = console.file.getvalue()
    assert "probes +4.0% (CPU +2.0%)" in text and "≥ 0.95× ✓, CPU ✓" in text
    assert "3 (W5 41) A/B pairs per row" in text
    row["ratio_median"] = 1 / 1.06  # +6% of wall clock: missed, whatever the CPU time says
    console = Console(file=io.StringIO(), width=250)
    console.print(bench._table([row], meta))
    assert "≥ 0.95× ✗ MISSED, CPU ✓" in console.file.getvalue()
    row["cpu_ratio_median"] = 1 / 1.07
    assert bench._verdict(row) == "≥ 0.95× ✗ MISSED, CPU ✗"
    # a faster machine: 1 s / 13 ms ≈ 77 steps, rounded up to 80 (whole periods)
    monkeypatch.setattr(_FakeWorker, "scale", 0.5)
    (row,) = bench._measure("W5", ["layerlab-noprobes"], args)
    assert row["steps_per_round"] == 80
    # --steps given: used as is; --repeat above W5's minimum: used as is
    args = argparse.Namespace(seed=0, threads=1, warmup=0, steps=20, repeat=45, settle=0.2)
    (row,) = bench._measure("W5", ["layerlab-noprobes"], args)
    assert (row["steps_per_round"], row["rounds"]) == (20, 45)


@pytest.mark.parametrize("threads, settle", [(2, 0.2), (2, 0.0), (1, 0.2)])
def test_rounds_wait_for_the_other_workers_threads_to_settle(monkeypatch, threads, settle):
    """With more than one thread, every timed round (and the two probing rounds of --steps' default) starts
    after --settle seconds of quiet; with one thread there are no BLAS worker threads to wait for."""
    import argparse

    _FakeWorker.calls = []
    events = []
    monkeypatch.setattr(bench, "_Worker", _FakeWorker)
    monkeypatch.setattr(bench.time, "sleep", lambda s: events.append(("sleep", s)))
    real_run = _FakeWorker.run
    monkeypatch.setattr(_FakeWorker, "run", lambda self, k: (events.append(("run", k)), real_run(self, k))[1])
    args = argparse.Namespace(seed=0, threads=threads, warmup=1, steps=0, repeat=3, settle=settle)
    (row,) = bench._measure("W2", ["torch"], args)
    timed = [i for i, e in enumerate(events) if e[0] == "run" and e[1] != 1]  # not the warm-up steps
    assert len(timed) == 2 + 2 * row["rounds"]
    waits = [events[i - 1][1] for i in timed if events[i - 1][0] == "sleep" and events[i - 1][1] > 0]
    assert waits == ([settle] * len(timed) if threads > 1 and settle else [])


def _sign_test_ranks(n, alpha=0.05):
    """The 1-based ranks of the sign test's interval of the median, from the binomial sums written out."""
    from math import comb

    k = 0
    while sum(comb(n, i) for i in range(k + 1)) / 2 ** n <= alpha / 2:
        k += 1
    return (k, n + 1 - k) if k else None


@pytest.mark.parametrize("n", [1, 5, 6, 7, 11, 21, 41, 60])
def test_median_ci_takes_the_sign_tests_order_statistics(n):
    x = np.random.default_rng(n).permutation(np.arange(1.0, n + 1) * 0.1)  # value = rank / 10, unsorted
    ranks = _sign_test_ranks(n)
    ci = bench.median_ci(x)
    if ranks is None:
        assert ci is None
    else:
        assert ci == pytest.approx((ranks[0] * 0.1, ranks[1] * 0.1))
        assert ci[0] <= np.median(x) <= ci[1]
    assert {11: (2, 10), 21: (6, 16), 41: (14, 28)}.get(n, ranks) == ranks  # the published tables


def test_median_ci_covers_the_median_at_least_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    draws = rng.lognormal(0.0, 0.3, size=(4000, 41))  # skewed, true median 1
    lo, hi = np.array([bench.median_ci(d) for d in draws]).T
    covered = np.mean((lo <= 1.0) & (1.0 <= hi))
    assert 0.95 <= covered <= 0.99  # the interval's exact coverage for n = 41 is 0.971


def test_workloads_start_from_the_same_weights_and_data_for_a_seed():
    for name in bench.WORKLOADS:
        a, b = bench.initial_weights(name, seed=3), bench.initial_weights(name, seed=3)
        assert all(np.array_equal(x, y) for (x, _), (y, _) in zip(a, b))
        assert all(w.dtype == np.float32 and w.shape == (o, i) for (w, _), i, o in
                   zip(a, bench.WORKLOADS[name].sizes[:-1], bench.WORKLOADS[name].sizes[1:]))
    x1, y1 = bench.synthetic_batches("W1", seed=3)
    x2, _ = bench.synthetic_batches("W1", seed=4)
    assert x1.dtype == np.float32 and y1.dtype == np.int64 and x1.shape == (8, 256, 784)
    assert 0.15 < np.count_nonzero(x1) / x1.size < 0.23  # MNIST-like density
    assert not np.array_equal(x1, x2)


@pytest.mark.parametrize("workload", ["W1", "W2", "W3"])
def test_training_stays_float32_everywhere(workload):
    """No float64 anywhere a step touches: module outputs, gradients, parameters, optimiser state."""
    w = bench.WORKLOADS[workload]
    model = bench._layerlab_model(w, 0)
    opt = bench._layerlab_optimizer(w, list(model.parameters()))
    seen = []
    for _, m in model.named_modules():
        m.register_forward_hook(lambda mod, inputs, out: seen.append(out.data.dtype))
    x, y = bench.synthetic_batches(workload)
    from layerlab import nn

    for i in range(2):
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(model(Tensor(x[i])), Tensor(y[i]))
        assert loss.dtype == np.float32
        loss.backward()
        opt.step()
    assert set(seen) == {np.dtype(np.float32)}
    for p in model.parameters():
        assert p.data.dtype == np.float32 and p.grad.dtype == np.float32
    for st in opt.state.values():
        assert all(v.dtype == np.float32 for v in st.values() if isinstance(v, np.ndarray))
    for b in model.buffers():
        assert b.dtype in (np.float32, np.int64)


def test_unknown_workload_or_framework_is_an_error():
    with pytest.raises(ValueError, match="unknown workload 'W9'"):
        bench.build("W9", "layerlab")
    with pytest.raises(ValueError, match="unknown framework 'jax'"):
        bench.build("W1", "jax")
    with pytest.raises(ValueError, match="W1 only"):
        bench.build("W2", "numpy")


def test_cli_bench_prints_the_table_and_writes_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    code = cli.main(["bench", "--workload", "W1", "--vs", "numpy", "--repeat", "2", "--steps", "1",
                     "--warmup", "1", "--threads", "1", "--json", str(path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "layerlab bench" in out and "load average" in out and "1 thread(s)" in out
    assert "W1" in out and "numpy" in out and "≥ 0.90×" in out
    data = json.loads(path.read_text())
    assert data["meta"]["threads"] == 1 and len(data["meta"]["load_before"]) == 3
    (row,) = data["results"]
    assert row["workload"] == "W1" and row["peer"] == "numpy" and row["rounds"] == 41  # W1's least, not 2
    assert len(row["layerlab_s_per_step"]) == len(row["peer_s_per_step"]) == 41
    lo, hi = row["ratio_ci95"]
    assert row["ratio_min"] <= lo <= row["ratio_median"] <= hi <= row["ratio_max"]
    assert f"{lo:.2f}–{hi:.2f}" in out
    assert row["layerlab_samples_s"] > 0 and row["peer_samples_s"] > 0
    assert 20 < row["layerlab_rss_mb"] < 2000 and 20 < row["peer_rss_mb"] < 2000  # MB, not KiB or bytes


def test_bench_against_torch_in_its_own_worker(tmp_path):
    path = tmp_path / "bench.json"
    assert bench.main(["-w", "W4", "--vs", "torch", "--repeat", "1", "--steps", "1", "--warmup", "0",
                       "--threads", "1", "--json", str(path)]) == 0
    (row,) = json.loads(path.read_text())["results"]
    assert row["peer"] == "torch" and row["batch"] == 1024
    # the torch worker imported torch, the layerlab worker did not
    assert row["peer_import_rss_mb"] > row["layerlab_import_rss_mb"]


def test_vs_torch_without_torch_installed_says_so(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    assert bench.main(["--vs", "torch"]) == 2
    assert "needs PyTorch" in capsys.readouterr().err


def test_bad_arguments_are_refused(capsys):
    assert bench.main(["--repeat", "0"]) == 2
    assert "--repeat must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--workload", "W9"])


def test_the_gemm_roofline_counts_and_runs_the_workloads_matrix_products():
    from layerlab import bench

    w1 = bench.WORKLOADS["W1"]
    fwd = 2 * 256 * (784 * 500 + 500 * 500 + 500 * 500 + 500 * 10)
    assert bench.gemm_flops(w1) == 2 * fwd + 2 * 256 * (500 * 500 + 500 * 500 + 500 * 10)  # no dX for the input
    assert bench.gemm_flops(bench.WORKLOADS["W4"]) == 2 * 1024 * (784 * 500 + 2 * 500 * 500 + 500 * 10)
    for name in ("W1", "W2", "W3", "W4"):
        bench.build(name, "gemm").run(2)


def test_the_step_split_reads_the_gemm_and_numpy_peers():
    from layerlab import bench

    rows = [{"workload": "W1", "peer": "numpy", "layerlab_s_per_step": [0.010, 0.010], "peer_s_per_step": [0.009]},
            {"workload": "W1", "peer": "gemm", "layerlab_s_per_step": [0.010], "peer_s_per_step": [0.006]}]
    text = bench.step_split(rows)
    assert text.startswith("W1 step 10.00 ms: GEMM 6.00 ms (60%), elementwise 3.00 ms (30%), "
                           "framework overhead 1.00 ms (10%)")
    assert bench.step_split(rows[:1]) is None


# -- W6: Trainer.fit end to end (on tiny_fashion, a small stand-in: nothing here needs Fashion-MNIST) -----------
def test_w6_is_a_workload_against_torch_and_in_the_help(capsys):
    assert "W6" in bench.WORKLOADS and "W6" in bench.PEERS["torch"]
    w = bench.WORKLOADS["W6"]
    assert (w.sizes, w.activation, w.dropout, w.optimizer, w.batch) == ((784, 256, 256, 10), "relu", 0.2, "adam", 128)
    assert bench.TARGETS[("W6", "torch")] == 1.30
    with pytest.raises(SystemExit):
        bench.main(["--help"])
    assert "W1, W2, W3, W4, W5, W6" in " ".join(capsys.readouterr().out.split())  # help text is wrapped
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    assert "W6" in capsys.readouterr().out


@pytest.mark.parametrize("framework", ["layerlab", "torch"])
def test_w6_trains_in_rounds_across_epochs_and_learns(tiny_fashion, framework):
    x, y = tiny_fashion
    runner = bench.build("W6", framework)
    try:
        first = runner.step()
        assert isinstance(first, float) and 1.5 < first < 3.5  # ≈ ln 10 at the start
        runner.run(12)  # 5 batches an epoch: the rounds run on across epoch ends
        losses = [runner.step() for _ in range(5)]
        assert all(np.isfinite(losses)) and np.mean(losses) < first
        assert 0.0 <= runner.accuracy(x, y) <= 1.0
    finally:
        runner.close()


def test_w6_in_rounds_trains_exactly_as_one_fit(tiny_fashion):
    """The pacing (a thread let through k batches at a time) changes nothing: the losses of 10 single steps
    are those of one uninterrupted Trainer.fit of 2 epochs with the same seed."""
    runner = bench.build("W6", "layerlab")
    try:
        paced = [runner.step() for _ in range(10)]
    finally:
        runner.close()
    trainer, loader = bench.w6_trainer(data=tiny_fashion)
    assert len(loader) == 5
    assert trainer.fit(loader, epochs=2).loss == paced


def test_w6_close_ends_the_training_thread(tiny_fashion):
    import threading

    runner = bench.build("W6", "layerlab")
    runner.run(2)
    assert any(t.name == "layerlab-W6" for t in threading.enumerate())
    runner.close()
    assert not any(t.name == "layerlab-W6" for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="training thread has ended"):
        runner.run(1)


def test_w6_worker_serves_the_protocol(tiny_fashion, monkeypatch, capsys):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.StringIO("run 3\nrss\nquit\n"))
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # the worker points sys.stdout at stderr: put it back after
    assert bench._worker("W6", "layerlab", 0, 1) == 0
    ready, timing, rss = capsys.readouterr().out.split("\n")[:3]
    assert ready.startswith("ready ") and len(timing.split()) == 2 and float(timing.split()[1]) > 0
    assert float(rss) > 20


def test_w6_is_skipped_with_the_reason_when_fashion_mnist_is_missing(monkeypatch, capsys, tmp_path):
    def missing():
        raise FileNotFoundError("Fashion-MNIST: the IDX files are not in any of: /nowhere")

    monkeypatch.setattr(bench, "fashion_mnist_train", missing)
    path = tmp_path / "b.json"
    assert bench.main(["-w", "W6", "--vs", "torch", "--repeat", "1", "--threads", "1", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "W6: skipped:" in out and "/nowhere" in out
    assert json.loads(path.read_text())["results"] == []


def test_w6_an_error_in_the_training_thread_reaches_the_caller(monkeypatch):
    x, y = _tiny_fashion()
    x[3, 5] = np.nan
    monkeypatch.setattr(bench, "fashion_mnist_train", lambda: (x, y))
    with pytest.raises(RuntimeError, match="training thread failed.*contains NaN or Inf"):
        bench.build("W6", "layerlab")
