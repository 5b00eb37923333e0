"""Sweeps (``layerlab.sweep``): serial vs worker processes, the cache, failures, a lost worker, a killed driver,
and a real local Dask cluster that loses a worker mid-sweep.

The experiment swept is a toy defined here (``sweep_toy``: a seeded draw, metrics, a probe, a figure, a
claim), registered by the ``toy_exp`` fixture and removed afterwards; the package's experiments are neither
loaded nor run. Workers get it pickled by reference (this module is importable in them: pytest puts
``tests/`` on ``sys.path`` and spawned processes inherit it). At most 2 workers, loopback only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from layerlab import sweep
from layerlab.lab import Claim, Context, Result, experiment, figures
from layerlab.lab import registry
from layerlab.store import Store

TOY = "sweep_toy"


@dataclass
class ToyConfig:
    x: float = 1.0
    n: int = 400
    delay: float = 0.0        # seconds of sleep (to have a sweep in flight)
    fail_at: float = -1.0     # raise when x == fail_at
    crash_marker: str = ""    # the first run to find no such file creates it and kills its own process
    QUICK: ClassVar[dict] = {"n": 100}


def toy_run(config: ToyConfig, ctx: Context) -> Result:
    v = ctx.rng_for("draw").standard_normal(config.n) * config.x
    for step in range(5):
        ctx.log_metrics(step, {"loss": float(v[step] ** 2), "lr": 0.1})
    ctx.run.log_probe(0, "h", "std", float(v.std()))
    ctx.run.log_probe(0, "h", "hist", np.histogram(v, bins=4)[0])
    if config.delay:
        time.sleep(config.delay)
    if config.x == config.fail_at:
        raise RuntimeError(f"toy failure at x={config.x}")
    if config.crash_marker and not os.path.exists(config.crash_marker):
        Path(config.crash_marker).write_text(str(os.getpid()))
        os._exit(1)  # a lost worker, not an exception
    ctx.savefig(figures.loss_curves({"v²": v[:20] ** 2}), "toy", caption="the draw")
    std = float(v.std())
    return Result(claims=[Claim("t1", "the std is x", holds=abs(std - config.x) < 0.1 * config.x,
                                measured=f"std {std:.4f}", conditions=f"n = {config.n}", figure="toy")],
                  records=[{"x": config.x, "std": std, "mean": float(v.mean())}])


def register_toy():
    """Register ``sweep_toy`` (also called by the driver subprocess of the SIGKILL test)."""
    registry._loaded = True  # never import the package's experiments here
    return experiment(TOY, topic="tests", summary="a toy for the sweep tests")(toy_run).experiment


@pytest.fixture(scope="module")
def toy_exp():
    loaded = registry._loaded
    exp = register_toy()
    yield exp
    registry.REGISTRY.pop(TOY, None)
    registry._loaded = loaded


def _by_job(store: Store, sweep_id: int) -> dict:
    """{(x, seed): what a reader of the store sees of the run}."""
    out = {}
    for r in store.sweep_runs(sweep_id):
        m = store.metrics(r.id)
        out[(r.config["x"], r.seed)] = {
            "status": r.status, "records": r.result["records"], "claims": r.result["claims"],
            "metrics": {k: (s.steps.tolist(), s.values.tolist()) for k, s in m.items()},
            "probes": [(p.step, p.layer, p.stat, np.asarray(p.value).tolist()) for p in store.probes(r.id)],
            "figures": sorted(a.kind for a in store.artifacts(r.id))}
    return out


# -- pure functions --------------------------------------------------------------------------------------------
def test_parse_grid_and_metric():
    assert sweep.parse_grid(["x=1,2", "scales=0.5,1;1,2"]) == {"x": ["1", "2"], "scales": ["0.5,1", "1,2"]}
    with pytest.raises(ValueError, match="twice"):
        sweep.parse_grid(["x=1", "x=2"])
    data = {"status": "done", "claims": [{"id": "a", "holds": True}, {"id": "b", "holds": False}],
            "records": [{"v": 1.0}, {"v": 3.0}, {"v": float("nan")}, {"w": 5}]}
    assert sweep.metric_value(data) == 0.5
    assert sweep.metric_value(data, "claim:a") == 1.0 and sweep.metric_value(data, "claim:b") == 0.0
    assert sweep.metric_value(data, "record:v") == 2.0
    assert np.isnan(sweep.metric_value({**data, "status": "failed"}))
    assert np.isnan(sweep.metric_value(data, "record:missing"))


def test_where_the_jobs_run(monkeypatch):
    monkeypatch.delenv(sweep.SCHEDULER_ENV, raising=False)
    assert sweep._backend(0, None, False) == ("inline", 0, None)
    assert sweep._backend(2, None, False) == ("pool", 2, None)
    assert sweep._backend(2, None, True) == ("dask-local", 2, None)
    assert sweep._backend(None, "tcp://127.0.0.1:8786", False) == ("dask", 0, "tcp://127.0.0.1:8786")
    monkeypatch.setenv(sweep.SCHEDULER_ENV, "tcp://127.0.0.1:8786")
    assert sweep._backend(None, None, False) == ("dask", 0, "tcp://127.0.0.1:8786")
    assert sweep._backend(2, None, False) == ("pool", 2, None)  # explicit local workers win over the variable
    with pytest.raises(ValueError):
        sweep._backend(-1, None, False)


def test_layerlab_imports_without_dask():
    code = textwrap.dedent("""
        import sys
        sys.modules["dask"] = sys.modules["distributed"] = None  # as if not installed
        import layerlab, layerlab.sweep, layerlab.lab.runner
        try:
            layerlab.sweep._dask_client(None, 1).__enter__()
        except RuntimeError as e:
            print(e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'layerlab[cluster]'" in out.stdout


def test_old_stores_stay_readable_and_get_the_sweep_tables_on_first_use(tmp_path):
    path = tmp_path / "old.db"
    with Store(path) as s:
        with s.run("e", {"a": 1}, seed=0):
            pass
    with Store(path) as s:
        assert s.sweeps() == [] and s.sweep_runs(1) == []
        sid = s.start_sweep("e", {"a": [1]}, [0], key="k")
        assert s.start_sweep("e", {"a": [1]}, [0], key="k") == sid  # the same definition: the same sweep
        s.add_sweep_run(sid, 1, "job")
        s.add_sweep_run(sid, 1, "job")
        assert [r.id for r in s.sweep_runs(sid)] == [1] and s.sweeps()[0].n_runs == 1
        assert s.runs()[0].status == "done"


# -- the executor ------------------------------------------------------------------------------------------------
def test_two_workers_losing_one_store_what_the_serial_sweep_stores(toy_exp, tmp_path):
    """2 worker processes, one of which dies (os._exit) in its first job: the pool is restarted, the lost jobs
    rerun, and the store holds each job once, with the same numbers as the serial (in-process) sweep."""
    marker = tmp_path / "crashed-once"
    grid, seeds, fixed = {"x": [0.5, 2.0]}, 2, {"crash_marker": str(marker)}
    with Store(tmp_path / "serial.db") as a, Store(tmp_path / "pool.db") as b:
        sb = sweep.run_sweep(TOY, grid, seeds=seeds, workers=2, quick=True, store=b, out_dir=tmp_path / "sb",
                             overrides=fixed, show=False)
        assert marker.exists()  # a worker did die
        assert sb.n_done == 4 and sb.ok
        assert sorted((r.config["x"], r.seed) for r in b.runs()) == [(0.5, 0), (0.5, 1), (2.0, 0), (2.0, 1)]
        assert {r.pid for r in b.runs()} - {os.getpid()}  # they really ran elsewhere
        sa = sweep.run_sweep(TOY, grid, seeds=seeds, workers=0, quick=True, store=a, out_dir=tmp_path / "sa",
                             overrides=fixed, show=False)
        assert sa.n_done == 4
        ra, rb = _by_job(a, sa.sweep_id), _by_job(b, sb.sweep_id)
        assert ra == rb and len(ra) == 4
        # and what `layerlab run` stores for the same config and seed
        from layerlab.lab.runner import run_experiment

        o = run_experiment(TOY, quick=True, overrides={"x": 2.0, **fixed}, seed=1, store=a, out_dir=tmp_path / "one",
                           show=False)
        assert _by_job_run(a, o.run_id) == ra[(2.0, 1)]
    for s in (sa, sb):
        assert (s.out_dir / "x.png").read_bytes().startswith(b"\x89PNG")
        assert "x" in s.table.read_text()
        row = json.loads((s.out_dir / "sweep.json").read_text())["rows"][0]
        assert row["n"] == 2 and row["claims"] == 2
        run_dir = Path(s.results[0].data["out_dir"])
        assert (run_dir / "toy.png").is_file() and (run_dir / "report.html").is_file()
        assert json.loads((run_dir / "claims.json").read_text())["run_id"] == s.results[0].run_id


def _by_job_run(store: Store, run_id: int) -> dict:
    r = store.get_run(run_id)
    m = store.metrics(r.id)
    return {"status": r.status, "records": r.result["records"], "claims": r.result["claims"],
            "metrics": {k: (s.steps.tolist(), s.values.tolist()) for k, s in m.items()},
            "probes": [(p.step, p.layer, p.stat, np.asarray(p.value).tolist()) for p in store.probes(r.id)],
            "figures": sorted(a.kind for a in store.artifacts(r.id))}


def test_a_second_sweep_runs_nothing(toy_exp, tmp_path):
    with Store(tmp_path / "runs.db") as db:
        first = sweep.run_sweep(TOY, {"x": [1.0, 3.0], "n": [50]}, seeds=2, workers=0, store=db, show=False)
        again = sweep.run_sweep(TOY, {"x": [1.0, 3.0], "n": [50]}, seeds=2, workers=0, store=db, show=False)
        assert first.n_ran == 4 and again.n_ran == 0 and again.n_cached == 4
        assert again.sweep_id == first.sweep_id and len(db.runs()) == 4
        assert sorted(r.run_id for r in again.results) == sorted(r.run_id for r in first.results)
        # an overlapping sweep reuses the runs it shares and runs only its new cells
        wider = sweep.run_sweep(TOY, {"x": [1.0, 3.0, 4.0], "n": [50]}, seeds=2, workers=0, store=db, show=False)
        assert wider.sweep_id != first.sweep_id and (wider.n_cached, wider.n_ran) == (4, 2)
        assert len(db.sweep_runs(wider.sweep_id)) == 6 and len(db.runs()) == 6


def test_a_failing_job_is_recorded_and_the_others_finish(toy_exp, tmp_path):
    with Store(tmp_path / "runs.db") as db:
        out = sweep.run_sweep(TOY, {"x": [1.0, 2.0, 3.0]}, seeds=1, workers=0, store=db, show=False,
                              overrides={"fail_at": 2.0})
        assert (out.n_done, out.n_failed) == (2, 1) and not out.ok
        failed = db.sweep_runs(out.sweep_id, status="failed")
        assert len(failed) == 1 and failed[0].config["x"] == 2.0
        assert "Traceback" in failed[0].error and "toy failure at x=2.0" in failed[0].error_line
        assert failed[0].result["status"] == "failed"
        again = sweep.run_sweep(TOY, {"x": [1.0, 2.0, 3.0]}, seeds=1, workers=0, store=db, show=False,
                                overrides={"fail_at": 2.0})
        assert (again.n_cached, again.n_ran) == (2, 1)  # a failed job is tried again, a done one is not


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_sigkill_of_the_driver_then_a_restart_runs_only_the_missing_jobs(toy_exp, tmp_path):
    path, xs = tmp_path / "runs.db", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    Store(path).close()
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import test_sweep
        from layerlab import sweep
        test_sweep.register_toy()
        sweep.run_sweep({TOY!r}, {{"x": {xs!r}}}, seeds=1, workers=1, quick=True, store={str(path)!r},
                        out_dir={str(tmp_path / "out")!r}, overrides={{"delay": 0.4}}, show=False)
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    driver = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        done = []
        while time.monotonic() < deadline and len(done) < 2 and driver.poll() is None:
            time.sleep(0.1)
            with Store(path, readonly=True) as s:
                done = s.runs(status="done")
        assert len(done) >= 2, driver.communicate()[0].decode()[-3000:] if driver.poll() is not None else "timeout"
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    worker = done[0].pid
    assert worker != driver.pid
    deadline = time.monotonic() + 15
    while _alive(worker) and time.monotonic() < deadline:  # the orphaned worker notices and exits
        time.sleep(0.2)
    assert not _alive(worker)
    with Store(path) as db:
        before = db.runs()
        assert all(r.status == "done" for r in before) and 2 <= len(before) < len(xs)  # no half-recorded run
        out = sweep.run_sweep(TOY, {"x": xs}, seeds=1, workers=0, quick=True, store=db, out_dir=tmp_path / "out",
                              overrides={"delay": 0.4}, show=False)
        assert out.n_cached == len(before) and out.n_ran == len(xs) - len(before) and out.ok
        assert out.sweep_id == 1  # the restarted sweep is the same sweep
        runs = db.runs()
        assert sorted(r.config["x"] for r in runs) == xs  # every job exactly once
        assert sorted(r.config["x"] for r in db.sweep_runs(out.sweep_id)) == xs


def test_a_local_dask_cluster_losing_a_worker_mid_sweep(toy_exp, tmp_path):
    distributed = pytest.importorskip("distributed")
    xs = [1.0, 2.0, 3.0, 4.0]
    killed: list[str] = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as watcher:
            pids = watcher.run(os.getpid)

            def kill_a_busy_worker():
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    busy = [w for w, keys in watcher.processing().items()
                            if any(str(k).startswith(f"layerlab-{TOY}-") for k in keys)]
                    if busy:
                        time.sleep(0.2)  # well inside the task (0.6 s)
                        os.kill(pids[busy[0]], signal.SIGKILL)
                        killed.append(busy[0])
                        return
                    time.sleep(0.05)

            t = threading.Thread(target=kill_a_busy_worker, daemon=True)
            t.start()
            with Store(tmp_path / "runs.db") as db:
                out = sweep.run_sweep(TOY, {"x": xs}, seeds=1, scheduler=cluster.scheduler_address, quick=True,
                                      store=db, overrides={"delay": 0.6}, show=False)
                t.join(5)
                assert killed, "no worker was killed: the test proved nothing"
                assert out.n_done == len(xs) and out.ok
                runs = db.runs()
                assert sorted(r.config["x"] for r in runs) == xs  # every run in the store exactly once
                assert sorted(r.config["x"] for r in db.sweep_runs(out.sweep_id)) == xs
                assert all(r.status == "done" for r in runs)


def test_run_lecture_with_workers_stores_what_the_serial_lecture_stores(toy_exp, tmp_path):
    from layerlab.lab.runner import run_lecture

    with Store(tmp_path / "a.db") as a, Store(tmp_path / "b.db") as b:
        serial = run_lecture(quick=True, out_dir=tmp_path / "la", seed=3, store=a, names=[TOY], show=False)
        par = run_lecture(quick=True, out_dir=tmp_path / "lb", seed=3, store=b, names=[TOY], show=False,
                          parallel=sweep.lecture_executor(workers=0))
        assert serial.ok and par.ok
        assert _by_job_run(a, serial.outcomes[0].run_id) == _by_job_run(b, par.outcomes[0].run_id)
        assert (tmp_path / "lb" / "index.html").is_file() and (tmp_path / "lb" / TOY / "report.html").is_file()

