"""ctx.map: an experiment's seeds and arms on an executor give what its plain loop gives.

The same closure (it logs metrics and messages through ctx, and draws from ctx.rng_for) is mapped in a loop, inline
through the pickling a worker uses, on 2 spawn worker processes, and on a 2-worker local Dask cluster: the values,
the store rows and the log messages are the same, in item order. An arm's exception reaches the caller; a killed
worker's items are retried; an arm cannot save figures."""

from __future__ import annotations

import os

import numpy as np
import pytest

from layerlab.lab.context import Context
from layerlab.store import Store
from layerlab.sweep import ArmExecutor

from lab_quick import ScrambledArms


class _Logs:
    def __init__(self):
        self.messages = []

    def task(self, description, total=None):
        from layerlab.lab.context import NullProgress

        return NullProgress().task(description, total)

    def log(self, message):
        self.messages.append(message)


def _arm_fn(ctx):
    def fn(item):
        arm, s = item
        rng = ctx.rng_for(arm, s)
        w = rng.standard_normal(50).astype(np.float32)
        for step in range(3):
            ctx.log_metric(step, f"{arm}/seed{s}/norm", float(np.linalg.norm(w) * (step + 1)))
        ctx.run.log_probe(0, f"{arm}/{s}", "hist", np.histogram(w, bins=4)[0])
        ctx.log(f"{arm} seed {s} done")
        return {"arm": arm, "seed": s, "mean": float(w.mean()), "w": w}
    return fn


ITEMS = [(arm, s) for arm in ("relu", "tanh", "swish") for s in range(2)]


def _mapped(tmp_path, executor, tag):
    store = Store(tmp_path / f"{tag}.db")
    progress = _Logs()
    with store.run("map-test", {"x": 1}, 5) as run:
        ctx = Context(tmp_path / tag, seed=5, run=run, progress=progress, experiment="map-test", executor=executor)
        values = ctx.map(_arm_fn(ctx), ITEMS, label="arms")
        run_id = run.id
    metrics = store.metrics(run_id)
    probes = [(r.step, r.layer, r.stat, np.asarray(r.value).tolist()) for r in store.probes(run_id)]
    store.close()
    return values, {k: (v.steps.tolist(), v.values.tolist()) for k, v in metrics.items()}, probes, progress.messages


def _same(a, b):
    (va, ma, pa, la), (vb, mb, pb, lb) = a, b
    assert [(v["arm"], v["seed"], v["mean"]) for v in va] == [(v["arm"], v["seed"], v["mean"]) for v in vb]
    for x, y in zip(va, vb):
        assert x["w"].dtype == y["w"].dtype == np.float32
        np.testing.assert_array_equal(x["w"], y["w"])
    assert ma == mb
    assert pa == pb
    assert la == lb


def test_serial_map_is_the_loop(tmp_path):
    values, metrics, probes, logs = _mapped(tmp_path, None, "serial")
    assert [(v["arm"], v["seed"]) for v in values] == ITEMS
    assert logs == [f"{a} seed {s} done" for a, s in ITEMS]
    assert len(metrics) == len(ITEMS) and len(probes) == len(ITEMS)
    # different arms draw different streams
    assert len({v["mean"] for v in values}) == len(ITEMS)


def test_inline_and_scrambled_executors_match_the_loop(tmp_path):
    serial = _mapped(tmp_path, None, "serial")
    with ArmExecutor(workers=0) as ex:
        _same(serial, _mapped(tmp_path, ex, "inline"))
    _same(serial, _mapped(tmp_path, ScrambledArms(), "scrambled"))


def test_process_pool_matches_the_loop(tmp_path):
    serial = _mapped(tmp_path, None, "serial")
    with ArmExecutor(workers=2) as ex:
        pooled = _mapped(tmp_path, ex, "pool")
        again = _mapped(tmp_path, ex, "pool-again")  # the pool is kept between maps
    _same(serial, pooled)
    _same(serial, again)


def test_dask_cluster_matches_the_loop(tmp_path):
    pytest.importorskip("distributed")
    serial = _mapped(tmp_path, None, "serial")
    with ArmExecutor(workers=2, dask=True) as ex:
        _same(serial, _mapped(tmp_path, ex, "dask"))


def test_arm_exception_reaches_the_caller(tmp_path):
    def fn(item):
        if item == 2:
            raise ValueError("arm 2 is broken")
        return item

    ctx = Context(tmp_path, experiment="map-test", executor=ArmExecutor(workers=0))
    with pytest.raises(ValueError, match="arm 2 is broken"):
        ctx.map(fn, range(4))
    ctx.executor = None
    with pytest.raises(ValueError, match="arm 2 is broken"):
        ctx.map(fn, range(4))


def test_arm_cannot_save_figures(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ctx = Context(tmp_path, experiment="map-test", executor=ArmExecutor(workers=0))

    def fn(item):
        fig = plt.figure()
        ctx.savefig(fig, f"fig{item}")

    with pytest.raises(RuntimeError, match="inside ctx.map"):
        ctx.map(fn, range(2))


def test_killed_worker_items_are_retried(tmp_path):
    marker = tmp_path / "killed-once"

    def fn(item):
        if item == 1 and not marker.exists():
            marker.write_text("x")
            os._exit(9)  # the worker process dies mid-map
        return item * 10

    ctx = Context(tmp_path, experiment="map-test")
    with ArmExecutor(workers=2) as ex:
        ctx.executor = ex
        assert ctx.map(fn, range(4)) == [0, 10, 20, 30]
    assert marker.exists()


def test_dask_worker_task_fans_its_arms_out_to_the_cluster(tmp_path):
    """A lecture on a Dask cluster: the experiment is a task, and its ctx.map items are tasks of the same
    cluster (the waiting task leaves its thread to them, so 2 one-thread workers do not deadlock)."""
    distributed = pytest.importorskip("distributed")

    def experiment_task():
        ctx = Context(tmp_path / "in-worker", seed=3, experiment="map-test")
        with ArmExecutor.in_dask_worker() as ex:
            ctx.executor = ex
            return ctx.map(lambda i: (i, ctx.rng_for("arm", i).integers(1000), os.getpid()), range(6))

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        got = client.submit(experiment_task, pure=False).result(timeout=120)
    expect = Context(tmp_path / "here", seed=3, experiment="map-test")
    assert [(i, v) for i, v, _ in got] == [(i, expect.rng_for("arm", i).integers(1000)) for i in range(6)]


def test_experiment_on_two_worker_processes_matches_its_loop(tmp_path):
    """End to end: linearity --quick (its items return trained models) with its runs on 2 spawn workers stores
    what the loop stores."""
    import json

    from layerlab.lab.runner import run_experiment

    store = Store(tmp_path / "runs.db")
    serial = run_experiment("linearity", quick=True, out_dir=tmp_path / "serial", store=store, show=False)
    with ArmExecutor(workers=2) as ex:
        pooled = run_experiment("linearity", quick=True, out_dir=tmp_path / "pool", store=store, show=False,
                                executor=ex)
    assert serial.ok and pooled.ok, (serial.error, pooled.error)
    for key in ("claims", "records"):
        assert json.dumps(serial.data[key], sort_keys=True) == json.dumps(pooled.data[key], sort_keys=True)
    m1, m2 = store.metrics(serial.run_id), store.metrics(pooled.run_id)
    assert sorted(m1) == sorted(m2) and len(m1) > 0
    for k in m1:
        np.testing.assert_array_equal(m1[k].values, m2[k].values, err_msg=k)
    store.close()
