"""The run store: round trips, batching, failed and crashed runs, a reader beside a writer."""

from __future__ import annotations

import math
import os
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from layerlab.store import Store, config_hash, default_store_path, layerlab_home

PROC_TIMEOUT = 60.0


@pytest.fixture
def db(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    yield store
    store.close()


def _rows(path, sql, params=()):
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


# -- round trips -------------------------------------------------------------------------------------
def test_wal_mode_and_schema(db):
    assert _rows(db.path, "PRAGMA journal_mode")[0][0] == "wal"
    tables = {r[0] for r in _rows(db.path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "metrics", "probes", "artifacts", "meta"} <= tables


def test_run_round_trip(db):
    cfg = {"width": 500, "stds": (0.01, 1.0), "lr": np.float32(0.5)}
    with db.run("init_scale", cfg, seed=7) as run:
        for step in range(30):
            run.log_metrics(step, {"loss": 1.0 / (step + 1), "lr": 0.5})
        run.log_metric(30, "loss", float("nan"))  # SQLite stores NaN as NULL; it must come back as NaN
        run.log_probe(0, "h1", "std", np.float32(0.25))
        run.log_probe(0, "h1", "hist", np.array([1, 2, 3, 0]))
        run.log_probes(5, "h2", {"mean": -0.5, "p50": 0.0})
        run.add_artifact("fig.png", "figure")
    info = db.get_run(run.id)
    assert info.status == "done" and info.error is None
    assert info.experiment == "init_scale" and info.seed == 7
    assert info.config == {"width": 500, "stds": [0.01, 1.0], "lr": 0.5}
    assert info.finished >= info.started and info.hostname == socket.gethostname() and info.pid == os.getpid()
    steps, loss = db.metrics(run.id, "loss")
    assert steps.tolist() == list(range(31))
    np.testing.assert_allclose(loss[:30], 1.0 / np.arange(1, 31))
    assert math.isnan(loss[30])
    assert set(db.metrics(run.id)) == {"loss", "lr"} == set(db.metric_names(run.id))
    probes = db.probes(run.id, layer="h1")
    assert [(p.stat, p.step) for p in probes] == [("std", 0), ("hist", 0)]
    assert probes[0].value == pytest.approx(0.25)
    np.testing.assert_array_equal(probes[1].value, [1.0, 2.0, 3.0, 0.0])
    assert db.probe_series(run.id, "h2", "mean").values.tolist() == [-0.5]
    assert [(a.path, a.kind) for a in db.artifacts(run.id)] == [("fig.png", "figure")]
    assert db.counts(run.id) == {"metrics": 61, "probes": 4, "artifacts": 1}


def test_runs_filters_latest_and_content_address(db):
    ids = []
    for exp, seed in [("a", 0), ("b", 0), ("a", 1)]:
        with db.run(exp, {"k": 1}, seed=seed) as run:
            ids.append(run.id)
    assert [r.id for r in db.runs()] == ids
    assert [r.id for r in db.runs("a")] == [ids[0], ids[2]]
    assert [r.id for r in db.runs(limit=2)] == ids[1:]
    assert db.latest_run("a").id == ids[2]
    assert db.latest_run("nope") is None
    assert [r.id for r in db.find_runs("a", {"k": 1}, seed=1)] == [ids[2]]
    assert db.find_runs("a", {"k": 2}, seed=1) == []
    assert db.get_run(ids[0]).config_hash == config_hash("a", {"k": 1}, 0)
    with pytest.raises(ValueError, match="status"):
        db.runs(status="finished")
    with pytest.raises(KeyError, match="no run with id 999"):
        db.get_run(999)


def test_result_is_stored_as_json(db):
    with db.run("e") as run:
        run.set_result({"claims": [{"id": "1", "holds": np.bool_(True)}], "x": np.arange(3)})
    assert db.get_run(run.id).result == {"claims": [{"id": "1", "holds": True}], "x": [0, 1, 2]}


def test_bad_values_and_closed_runs(db):
    with db.run("e") as run:
        with pytest.raises(TypeError, match=r"log_metric\('loss'\): expected a scalar, got ndarray of shape \(2,\)"):
            run.log_metric(0, "loss", np.zeros(2))
    with pytest.raises(RuntimeError, match="is done"):
        run.log_metric(1, "loss", 1.0)
    with pytest.raises(ValueError, match="experiment"):
        db.start_run("")


def test_default_location_follows_layerlab_home(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLAB_HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / "runs.sqlite"
    monkeypatch.delenv("LAYERLAB_HOME")
    assert layerlab_home() == type(layerlab_home())("runs")
    monkeypatch.setenv("LAYERLAB_HOME", str(tmp_path / "home"))
    with Store() as store:
        assert store.path == tmp_path / "home" / "runs.sqlite" and store.path.exists()


# -- batching --------------------------------------------------------------------------------------------
def test_rows_are_written_in_batches_not_one_commit_each(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path, batch_size=10, flush_seconds=1e9) as writer, Store(path) as reader:
        with writer.run("e") as run:
            for i in range(9):
                run.log_metric(i, "loss", float(i))
            assert reader.counts(run.id)["metrics"] == 0  # buffered: nothing committed yet
            run.log_metric(9, "loss", 9.0)  # the 10th row fills the batch
            assert reader.counts(run.id)["metrics"] == 10
            run.log_probe(10, "h1", "std", 1.0)
            assert reader.counts(run.id)["probes"] == 0
        assert reader.counts(run.id) == {"metrics": 10, "probes": 1, "artifacts": 0}  # flushed at exit


def test_time_based_flush(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path, batch_size=10**6, flush_seconds=0.0) as writer, Store(path) as reader:
        with writer.run("e") as run:
            run.log_metric(0, "loss", 1.0)
            assert reader.counts(run.id)["metrics"] == 1


def test_reads_from_the_writing_store_see_buffered_rows(tmp_path):
    with Store(tmp_path / "runs.sqlite", batch_size=10**6, flush_seconds=1e9) as store:
        with store.run("e") as run:
            run.log_metric(0, "loss", 1.0)
            assert store.metrics(run.id, "loss").values.tolist() == [1.0]


# -- failures and crashes --------------------------------------------------------------------------------------
def test_exception_marks_the_run_failed_and_keeps_its_metrics(db):
    with pytest.raises(ZeroDivisionError):
        with db.run("e", {"a": 1}) as run:
            run.log_metric(0, "loss", 2.0)
            run.log_metric(1, "loss", 1.0)
            1 / 0
    info = db.get_run(run.id)
    assert info.status == "failed"
    assert "ZeroDivisionError: division by zero" in info.error
    assert "Traceback" in info.error and info.error_line == "ZeroDivisionError: division by zero"
    assert db.metrics(run.id, "loss").values.tolist() == [2.0, 1.0]


def test_keyboard_interrupt_also_marks_failed(db):
    with pytest.raises(KeyboardInterrupt):
        with db.run("e") as run:
            raise KeyboardInterrupt
    assert db.get_run(run.id).status == "failed"


def _python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)


def _read_line(proc: subprocess.Popen, deadline: float) -> str:
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            pytest.fail(f"child process timed out; stderr: {proc.stderr.read()}")
        ready, _, _ = select.select([proc.stdout], [], [], min(left, 1.0))
        if ready:
            line = proc.stdout.readline()
            if not line:
                proc.wait(timeout=PROC_TIMEOUT)
                pytest.fail(f"child exited early ({proc.returncode}); stderr: {proc.stderr.read()}")
            return line.strip()


CRASHY = """
    import sys
    from layerlab.store import Store
    store = Store(sys.argv[1], batch_size=int(sys.argv[2]), flush_seconds=1e9)
    with store.run("crashy", {"k": 1}, seed=3) as run:
        print("run", run.id, flush=True)
        step = 0
        while True:                       # 4 metrics and 1 probe per step, until killed
            run.log_metrics(step, {"a": step, "b": -step, "c": 0.5, "d": 1.5})
            run.log_probe(step, "h1", "std", float(step))
            step += 1
            if step % 100 == 0:           # 500 rows = one batch has been committed
                print("committed", step, flush=True)
"""


def test_sigkill_mid_run_leaves_a_crashed_run_with_whole_batches(tmp_path):
    path = tmp_path / "runs.sqlite"
    batch = 500
    proc = _python(CRASHY, str(path), str(batch))
    deadline = time.monotonic() + PROC_TIMEOUT
    try:
        run_id = int(_read_line(proc, deadline).split()[1])
        committed = 0
        while committed < 1000:
            committed = int(_read_line(proc, deadline).split()[1])
        assert _rows(path, "SELECT status FROM runs WHERE id = ?", (run_id,))[0][0] == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=PROC_TIMEOUT)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    with Store(path) as store:
        assert store.crashed_on_open == [run_id]
        info = store.get_run(run_id)
        assert info.status == "crashed" and "died" in info.error
        assert info.finished is not None
        n_metrics, n_probes = store.counts(run_id)["metrics"], store.counts(run_id)["probes"]
        # whole batches only: every committed batch holds 100 steps x (4 metrics + 1 probe)
        assert (n_metrics + n_probes) % batch == 0
        steps = n_probes
        assert steps >= committed and n_metrics == 4 * steps
        for name, sign in (("a", 1), ("b", -1)):
            s = store.metrics(run_id, name)
            assert s.steps.tolist() == list(range(steps))
            assert s.values.tolist() == [sign * float(i) for i in range(steps)]
        assert store.probe_series(run_id, "h1", "std").steps.tolist() == list(range(steps))
    with Store(path) as again:  # marked once; a second open finds nothing new
        assert again.crashed_on_open == []


def test_a_live_run_is_not_marked_crashed(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path) as writer:
        with writer.run("e") as run:
            with Store(path) as other:
                assert other.crashed_on_open == []
                assert other.get_run(run.id).status == "running"


def test_dead_pid_reused_pid_and_other_host(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, timeout=PROC_TIMEOUT)
        dead_pid = int(dead.stdout)
        host = socket.gethostname()
        conn = sqlite3.connect(str(path))
        with conn:
            rows = [("gone", dead_pid, host, None), ("reused", os.getpid(), host, "1"),  # wrong start time
                    ("elsewhere", dead_pid, host + "-other", None)]
            for exp, pid, h, start in rows:
                conn.execute("INSERT INTO runs (experiment, config, config_hash, status, started, pid, hostname, "
                             "proc_start) VALUES (?, '{}', 'x', 'running', 0, ?, ?, ?)", (exp, pid, h, start))
        conn.close()
        marked = store.mark_crashed_runs()
        status = {r.experiment: r.status for r in store.runs()}
    assert len(marked) == 2
    assert status == {"gone": "crashed", "reused": "crashed", "elsewhere": "running"}


WRITER = """
    import sys, time
    from layerlab.store import Store
    store = Store(sys.argv[1], batch_size=200, flush_seconds=1e9)
    with store.run("concurrent") as run:
        print("run", run.id, flush=True)
        for step in range(4000):
            run.log_metrics(step, {"loss": step})
            if step % 200 == 199:
                time.sleep(0.02)
    print("done", flush=True)
"""


def test_reader_reads_while_a_writer_writes(tmp_path):
    path = tmp_path / "runs.sqlite"
    Store(path).close()  # create the schema first
    proc = _python(WRITER, str(path))
    deadline = time.monotonic() + PROC_TIMEOUT
    seen = []
    try:
        run_id = int(_read_line(proc, deadline).split()[1])
        with Store(path) as reader:
            while proc.poll() is None and time.monotonic() < deadline:
                seen.append(reader.counts(run_id)["metrics"])
                assert reader.get_run(run_id).status in ("running", "done")
                time.sleep(0.002)
            proc.wait(timeout=PROC_TIMEOUT)
            final = reader.counts(run_id)["metrics"]
            status = reader.get_run(run_id).status
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=PROC_TIMEOUT)
        err = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0, err
    assert final == 4000 and status == "done"
    assert all(c % 200 == 0 for c in seen), "a reader saw part of a batch"
    assert seen == sorted(seen)
    assert any(0 < c < 4000 for c in seen), "the reader never saw the run in progress"
