"""The run store under crash and contention: killed writers leave an intact database with their runs marked,
concurrent writers lose no row, and a store that cannot be opened is one clear StoreError."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from layerlab.store import Store, StoreError

TIMEOUT = 60

WRITER = """
    import sys
    from layerlab.store import Store
    path, name, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = Store(path, batch_size=50, flush_seconds=1e9)
    with store.run(name, {"writer": name}, seed=0) as run:
        print("started", run.id, flush=True)
        for step in range(steps):
            run.log_metrics(step, {"loss": float(step), "acc": 1.0 / (step + 1)})
            run.log_probe(step, "h", "std", float(step))
        run.set_result({"steps": steps})
    print("done", flush=True)
"""


def python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def integrity(path) -> str:
    with sqlite3.connect(str(path)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def test_four_concurrent_writers_lose_no_row(tmp_path):
    path = tmp_path / "runs.sqlite"
    Store(path).close()
    steps = 400
    procs = [python(WRITER, str(path), f"w{i}", str(steps)) for i in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=TIMEOUT)
        assert p.returncode == 0, err
        assert out.strip().endswith("done")
    assert integrity(path) == "ok"
    with Store(path) as store:
        runs = store.runs()
        assert sorted(r.experiment for r in runs) == ["w0", "w1", "w2", "w3"]
        for r in runs:
            assert r.status == "done" and r.result == {"steps": steps}
            assert store.counts(r.id) == {**store.counts(r.id), "metrics": 2 * steps, "probes": steps}
            assert store.metrics(r.id, "loss").steps.tolist() == list(range(steps))


@pytest.mark.parametrize("kill_after", [0.05, 0.2, 0.5])
def test_killed_writers_leave_an_intact_store_and_their_runs_marked(tmp_path, kill_after):
    """Two writers killed mid-run (SIGKILL at different moments) while a third finishes."""
    path = tmp_path / "runs.sqlite"
    Store(path).close()
    victims = [python(WRITER, str(path), f"v{i}", "10000000") for i in range(2)]
    survivor = python(WRITER, str(path), "s", "300")
    started = [v.stdout.readline().split() for v in victims]
    assert all(s and s[0] == "started" for s in started), [v.stderr.read() for v in victims]
    time.sleep(kill_after)
    for v in victims:
        v.send_signal(signal.SIGKILL)
        v.wait(timeout=TIMEOUT)
        v.stdout.close()
        v.stderr.close()
    out, err = survivor.communicate(timeout=TIMEOUT)
    assert survivor.returncode == 0, err
    assert integrity(path) == "ok"
    with Store(path) as store:  # whoever opened the store first after the kills (maybe the survivor) marked them
        crashed = sorted(r.id for r in store.runs(status="crashed"))
        assert crashed == sorted(int(s[1]) for s in started)
        status = {r.experiment: r.status for r in store.runs()}
        assert status == {"v0": "crashed", "v1": "crashed", "s": "done"}
        for rid in crashed:  # a prefix of the steps, each whole or cut between two log calls
            n = len(store.metrics(rid, "loss").steps)
            assert store.metrics(rid, "loss").steps.tolist() == list(range(n))
            assert store.metrics(rid, "acc").steps.tolist() == list(range(n))
            assert store.counts(rid)["probes"] in (n - 1, n)


# -- a store that cannot be opened -----------------------------------------------------------------------------
def test_a_file_that_is_not_a_store(tmp_path):
    bad = tmp_path / "runs.sqlite"
    bad.write_text("these are not the runs you are looking for\n" * 100)
    with pytest.raises(StoreError, match=r"not a layerlab store or is corrupt.*--store"):
        Store(bad)
    assert bad.read_text().startswith("these are not")  # left as it was


def test_layerlab_home_that_is_a_file(tmp_path):
    home = tmp_path / "home"
    home.write_text("")
    with pytest.raises(StoreError, match=r"is a file, not a directory"):
        Store(home / "runs.sqlite")


def test_a_locked_store_is_a_clear_error_after_the_timeout(tmp_path):
    """Readers go on while another process holds the write lock (WAL); a writer waits ``timeout``, then says so."""
    path = tmp_path / "runs.sqlite"
    with Store(path) as s:
        s.start_run("x").finish()
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with Store(path, timeout=0.1) as s:
            assert [r.experiment for r in s.runs()] == ["x"]
            with pytest.raises(StoreError, match=r"locked by another process"):
                s.start_run("y")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_readonly_opening_reads_and_never_writes(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path) as s:
        s.start_run("x", {"a": 1}, 0).finish()
    before = path.read_bytes()
    with Store(path, readonly=True) as ro:
        assert [r.experiment for r in ro.runs()] == ["x"]
        with pytest.raises(StoreError, match="opened read-only"):
            ro.start_run("y")
    assert path.read_bytes() == before
    with pytest.raises(StoreError, match="no such file"):
        Store(tmp_path / "missing.sqlite", readonly=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_store_in_a_read_only_directory_can_be_listed(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    with Store(d / "runs.sqlite") as s:
        s.start_run("x").finish()
    for f in d.iterdir():
        f.chmod(0o444)
    d.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="cannot be written"):
            Store(d / "runs.sqlite").start_run("y")
        with Store(d / "runs.sqlite", readonly=True) as ro:
            assert [r.experiment for r in ro.runs()] == ["x"]
    finally:
        d.chmod(0o755)
