"""The run store: every run, its config, metrics, probe records and artifacts in one SQLite file.

One file (``$LAYERLAB_HOME/runs.sqlite``, else ``./runs/runs.sqlite``) in WAL mode, so readers
(``layerlab runs``, a notebook) never block the writer and the writer never blocks them.

Crash safety:
- a run is inserted as ``'running'`` before anything else happens, with the writer's pid,
  hostname and process start time;
- metrics and probe records are buffered and written in batches, each batch one transaction
  (``executemany`` inside ``BEGIN IMMEDIATE … COMMIT``): a crash loses at most the batch in
  flight, never leaves half of one;
- an exception inside ``with store.run(...) as run:`` marks the run ``'failed'`` with the error
  (pending rows are written first: they are valid up to the failure);
- a run still ``'running'`` whose process is gone (killed, power cut) is marked ``'crashed'``
  the next time the store is opened on that host.

Example::

    store = Store()                                  # $LAYERLAB_HOME/runs.sqlite or ./runs/runs.sqlite
    with store.run("init_tanh", {"std": 0.01}, seed=0) as run:
        run.log_metrics(step, {"loss": 2.30, "lr": 0.5})
        run.log_probe(step, "h1", "std", 0.12)
        run.add_artifact("report.html", "report")
    steps, losses = store.metrics(run.id, "loss")

Note: one process writes a run; several processes may write *different* runs to the same
file (SQLite serialises the short batch transactions; ``timeout`` bounds the wait).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import socket
import sqlite3
import time
import traceback
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, NamedTuple

import numpy as np

__all__ = [
    "Store", "StoreError", "Run", "RunInfo", "Series", "ProbeRecord", "Artifact", "STATUSES",
    "layerlab_home", "default_store_path", "to_jsonable", "config_hash", "SweepInfo",
]

STATUSES = ("running", "done", "failed", "crashed")
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment  TEXT NOT NULL,
    config      TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    seed        INTEGER,
    status      TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'crashed')),
    started     REAL NOT NULL,
    finished    REAL,
    updated     REAL,
    version     TEXT,
    error       TEXT,
    pid         INTEGER,
    hostname    TEXT,
    proc_start  TEXT,
    result      TEXT
);
CREATE INDEX IF NOT EXISTS runs_experiment ON runs (experiment, id);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE TABLE IF NOT EXISTS metrics (
    run   INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step  INTEGER NOT NULL,
    name  TEXT NOT NULL,
    value REAL
);
CREATE INDEX IF NOT EXISTS metrics_run_name ON metrics (run, name, step);
CREATE TABLE IF NOT EXISTS probes (
    run   INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step  INTEGER NOT NULL,
    layer TEXT NOT NULL,
    stat  TEXT NOT NULL,
    value REAL,
    data  TEXT
);
CREATE INDEX IF NOT EXISTS probes_run ON probes (run, layer, stat, step);
CREATE TABLE IF NOT EXISTS artifacts (
    run     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    path    TEXT NOT NULL,
    kind    TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_run ON artifacts (run, kind);
"""


#: Sweeps (``layerlab sweep``): added on the first ``start_sweep``/``record_run`` of a store, so stores written
#: before them stay readable and unchanged until a sweep is run (every statement is IF NOT EXISTS).
_SWEEP_SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment TEXT NOT NULL,
    grid       TEXT NOT NULL,
    seeds      TEXT NOT NULL,
    created    REAL NOT NULL,
    key        TEXT,
    quick      INTEGER,
    overrides  TEXT,
    version    TEXT
);
CREATE INDEX IF NOT EXISTS sweeps_key ON sweeps (key);
CREATE TABLE IF NOT EXISTS sweep_runs (
    sweep   INTEGER NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    run     INTEGER NOT NULL,
    job     TEXT,
    PRIMARY KEY (sweep, run)
);
CREATE INDEX IF NOT EXISTS sweep_runs_run ON sweep_runs (run);
CREATE INDEX IF NOT EXISTS runs_config_hash ON runs (config_hash)
"""


class StoreError(RuntimeError):
    """The run store cannot be opened or written: the message names the file, the cause and the remedy."""


# -- locations ------------------------------------------------------------------------------
def layerlab_home() -> Path:
    """``$LAYERLAB_HOME`` if set, else ``./runs``: where the store and the reports live."""
    env = os.environ.get("LAYERLAB_HOME")
    return Path(env).expanduser() if env else Path("runs")


def default_store_path() -> Path:
    """``$LAYERLAB_HOME/runs.sqlite``, else ``./runs/runs.sqlite``."""
    return layerlab_home() / "runs.sqlite"


# -- JSON ------------------------------------------------------------------------------------
def to_jsonable(obj: Any) -> Any:
    """Turn configs and results (dataclasses, numpy scalars/arrays, Paths, tuples) into JSON types.

    Non-finite floats are kept (``json`` writes them as NaN/Infinity and reads them back).
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, type):
        return obj.__name__
    return repr(obj)


def _dumps(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), sort_keys=True)


def config_hash(experiment: str, config: Any, seed: int | None) -> str:
    """Content address of a run: sha256 of (experiment, config, seed), so a sweep can skip finished cells."""
    text = json.dumps([experiment, to_jsonable(config), seed], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- records returned by the readers -----------------------------------------------------------
class Series(NamedTuple):
    """One metric (or scalar probe stat) over training: ``steps`` int64, ``values`` float64."""

    steps: np.ndarray
    values: np.ndarray


class ProbeRecord(NamedTuple):
    step: int
    layer: str
    stat: str
    value: float | np.ndarray


class Artifact(NamedTuple):
    path: str
    kind: str


@dataclasses.dataclass
class RunInfo:
    """One row of the ``runs`` table, decoded."""

    id: int
    experiment: str
    config: dict
    seed: int | None
    status: str
    started: float
    finished: float | None
    version: str | None
    error: str | None
    pid: int | None
    hostname: str | None
    result: dict | None
    config_hash: str

    @property
    def duration(self) -> float | None:
        return None if self.finished is None else self.finished - self.started

    @property
    def error_line(self) -> str:
        """The last non-empty line of the stored error (the exception and its message)."""
        if not self.error:
            return ""
        lines = [ln for ln in self.error.strip().splitlines() if ln.strip()]
        return lines[-1] if lines else ""


_RUN_COLUMNS = ("id, experiment, config, seed, status, started, finished, version, error, pid, hostname, "
                "result, config_hash")


def _run_info(row) -> RunInfo:
    (rid, exp, config, seed, status, started, finished, version, error, pid, host, result, chash) = row
    return RunInfo(rid, exp, json.loads(config), seed, status, started, finished, version, error, pid, host,
                   json.loads(result) if result else None, chash)


# -- process identity (crash detection) ----------------------------------------------------------
def _proc_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (field 22 of /proc/PID/stat), to tell a reused pid apart."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def _proc_state(pid: int) -> str | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()[0]


def _process_alive(pid: int, start: str | None) -> bool:
    """True when ``pid`` is running and (where /proc tells) is the same process that started the run."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    except OSError:
        return False
    if _proc_state(pid) in ("Z", "X"):  # killed, not yet reaped
        return False
    if start is not None:
        now = _proc_start(pid)
        if now is not None and now != start:  # the pid was reused by another process
            return False
    return True


# -- the store --------------------------------------------------------------------------------------
class Store:
    """A SQLite run store (WAL mode). Opening it marks runs left ``'running'`` by dead processes ``'crashed'``.

    Args:
        path: the database file; default ``default_store_path()``. Parent directories are created.
        timeout: seconds to wait for another writer's transaction before raising.
        batch_size: buffered metric/probe rows that trigger a write.
        flush_seconds: a write also happens at the next log call once this much time has passed.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, timeout: float = 30.0,
                 batch_size: int = 500, flush_seconds: float = 2.0, readonly: bool = False):
        self.path = Path(path) if path is not None else default_store_path()
        self.batch_size = int(batch_size)
        self.flush_seconds = float(flush_seconds)
        self.readonly = bool(readonly)
        self._open_runs: weakref.WeakSet[Run] = weakref.WeakSet()
        self._conn = None
        try:
            self._connect(timeout)
            self.crashed_on_open = [] if self.readonly else self.mark_crashed_runs()
        except (sqlite3.Error, OSError) as e:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            raise StoreError(self._explain(e)) from None

    def _connect(self, timeout: float) -> None:
        if self.readonly:
            if not self.path.is_file():
                raise FileNotFoundError(f"no such file: {self.path}")
            # mode=ro reads a WAL database whose directory we cannot write only when its -shm exists;
            # immutable=1 reads it with no lock at all (nobody may be writing it: good enough to list runs)
            uri = f"file:{self.path.resolve()}?mode=ro"
            if not os.access(self.path.parent, os.W_OK):
                uri += "&immutable=1"
            self._conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
            self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # fails now if not a database
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable against a killed process
        self._conn.execute("PRAGMA foreign_keys=ON")
        have = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"meta", "runs", "metrics", "probes", "artifacts"} <= have:  # readers take no write lock
            with self._transaction() as cur:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        cur.execute(statement)
                cur.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                            (str(SCHEMA_VERSION),))

    def _explain(self, e: Exception) -> str:
        """One line on why the store at ``self.path`` cannot be opened, and what to do."""
        msg = str(e)
        where = f"run store {self.path}"
        if isinstance(e, (FileExistsError, NotADirectoryError)) or (self.path.parent.exists()
                                                                     and not self.path.parent.is_dir()):
            return (f"{where}: {self.path.parent} is a file, not a directory; point LAYERLAB_HOME (or --store) at "
                    "a directory")
        if isinstance(e, FileNotFoundError):
            return f"{where}: no such file"
        if isinstance(e, PermissionError) or "readonly" in msg or "read-only" in msg or "unable to open" in msg:
            return (f"{where}: cannot be written ({msg}); check the permissions of {self.path.parent}, or set "
                    "LAYERLAB_HOME to a writable directory")
        if "not a database" in msg or "malformed" in msg:
            return (f"{where}: the file is not a layerlab store or is corrupt ({msg}); move it away (a new store "
                    "is created) or pass another --store")
        if "locked" in msg or "busy" in msg:
            return (f"{where}: locked by another process for longer than the timeout ({msg}); wait for it to "
                    "finish or use another --store")
        return f"{where}: cannot be opened ({type(e).__name__}: {msg})"

    # -- plumbing -----------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        if self.readonly:
            raise StoreError(f"run store {self.path}: opened read-only (readonly=True); it cannot be written")
        cur = self._conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:  # locked past the timeout, or a read-only file
            cur.close()
            raise StoreError(self._explain(e)) from None
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        else:
            cur.execute("COMMIT")
        finally:
            cur.close()

    def _query(self, sql: str, params=()) -> list[tuple]:
        self._flush_open()
        return self._conn.execute(sql, params).fetchall()

    def _flush_open(self) -> None:
        for run in list(self._open_runs):
            run.flush()

    def close(self) -> None:
        """Write what is buffered and close the connection."""
        if self._conn is None:
            return
        self._flush_open()
        self._conn.close()
        self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- crash detection -------------------------------------------------------------------------
    def mark_crashed_runs(self) -> list[int]:
        """Mark ``'crashed'`` every run of this host still ``'running'`` whose process is gone; return their ids.

        Runs written on another host are left alone (their process cannot be checked from here).
        """
        host = socket.gethostname()
        rows = self._conn.execute(
            "SELECT id, pid, proc_start FROM runs WHERE status = 'running' AND hostname = ?", (host,)).fetchall()
        dead = [rid for rid, pid, start in rows if pid is None or not _process_alive(int(pid), start)]
        if dead:
            now = time.time()
            with self._transaction() as cur:
                cur.executemany(
                    "UPDATE runs SET status = 'crashed', finished = COALESCE(updated, started), "
                    "error = COALESCE(error, ?) WHERE id = ? AND status = 'running'",
                    [(f"the writing process died (found on {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now))})",
                      rid) for rid in dead])
        return dead

    # -- writing -----------------------------------------------------------------------------------
    def start_run(self, experiment: str, config: Any = None, seed: int | None = None) -> Run:
        """Insert a run as ``'running'`` and return its writer. Prefer the ``run()`` context manager."""
        from . import __version__

        if not isinstance(experiment, str) or not experiment:
            raise ValueError(f"Store.start_run: experiment must be a non-empty string, got {experiment!r}")
        config = {} if config is None else config
        cfg = to_jsonable(config)
        if not isinstance(cfg, dict):
            raise TypeError(f"Store.start_run: config must be a dataclass or a mapping, got {type(config).__name__}")
        now = time.time()
        pid = os.getpid()
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO runs (experiment, config, config_hash, seed, status, started, updated, version, pid,"
                " hostname, proc_start) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                (experiment, json.dumps(cfg, sort_keys=True), config_hash(experiment, cfg, seed),
                 None if seed is None else int(seed), now, now, __version__, pid, socket.gethostname(),
                 _proc_start(pid)))
            run_id = cur.lastrowid
        run = Run(self, run_id, experiment, cfg, seed)
        self._open_runs.add(run)
        return run

    @contextmanager
    def run(self, experiment: str, config: Any = None, seed: int | None = None) -> Iterator[Run]:
        """``with store.run(name, config, seed) as run:`` — ``'done'`` on exit, ``'failed'`` (with the error) on an exception."""
        run = self.start_run(experiment, config, seed)
        try:
            yield run
        except BaseException as e:
            run.finish("failed", error="".join(traceback.format_exception(e)).rstrip())
            raise
        else:
            run.finish("done")

    def set_result(self, run_id: int, result: Any) -> None:
        """Store a JSON-able summary of a run's outcome (the lab stores claims, figures, records, notes)."""
        with self._transaction() as cur:
            cur.execute("UPDATE runs SET result = ? WHERE id = ?", (_dumps(result), int(run_id)))

    def add_artifact(self, run_id: int, path: str | os.PathLike, kind: str) -> None:
        with self._transaction() as cur:
            cur.execute("INSERT INTO artifacts (run, path, kind, created) VALUES (?, ?, ?, ?)",
                        (int(run_id), str(path), str(kind), time.time()))

    def delete_run(self, run_id: int) -> None:
        """Remove a run with its metrics, probe records and artifact rows (files stay on disk)."""
        with self._transaction() as cur:
            for table in ("metrics", "probes", "artifacts"):
                cur.execute(f"DELETE FROM {table} WHERE run = ?", (int(run_id),))
            cur.execute("DELETE FROM runs WHERE id = ?", (int(run_id),))

    # -- reading ------------------------------------------------------------------------------------
    def runs(self, experiment: str | None = None, status: str | None = None, limit: int | None = None) -> list[RunInfo]:
        """Runs, oldest first (the newest ``limit`` when given), optionally of one experiment / status."""
        where, params = [], []
        if experiment is not None:
            where.append("experiment = ?")
            params.append(experiment)
        if status is not None:
            if status not in STATUSES:
                raise ValueError(f"Store.runs: status must be one of {STATUSES}, got {status!r}")
            where.append("status = ?")
            params.append(status)
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_run_info(r) for r in reversed(self._query(sql, params))]

    def get_run(self, run_id: int) -> RunInfo:
        rows = self._query(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (int(run_id),))
        if not rows:
            raise KeyError(f"Store: no run with id {run_id} in {self.path}")
        return _run_info(rows[0])

    def latest_run(self, experiment: str, status: str | None = None) -> RunInfo | None:
        found = self.runs(experiment, status=status, limit=1)
        return found[0] if found else None

    def find_runs(self, experiment: str, config: Any, seed: int | None, status: str | None = "done") -> list[RunInfo]:
        """Runs with this exact (experiment, config, seed) — a sweep's 'already done' check."""
        sql = f"SELECT {_RUN_COLUMNS} FROM runs WHERE config_hash = ?"
        params: list = [config_hash(experiment, to_jsonable(config), seed)]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        return [_run_info(r) for r in self._query(sql + " ORDER BY id", params)]

    def metric_names(self, run_id: int) -> list[str]:
        return [r[0] for r in self._query("SELECT DISTINCT name FROM metrics WHERE run = ? ORDER BY name",
                                          (int(run_id),))]

    def metrics(self, run_id: int, name: str | None = None) -> Series | dict[str, Series]:
        """``Series(steps, values)`` of one metric, or ``{name: Series}`` of all (NaN comes back as NaN)."""
        if name is None:
            rows = self._query("SELECT name, step, value FROM metrics WHERE run = ? ORDER BY name, step, rowid",
                               (int(run_id),))
            out: dict[str, list] = {}
            for n, s, v in rows:
                out.setdefault(n, []).append((s, v))
            return {n: _series(pairs) for n, pairs in out.items()}
        rows = self._query("SELECT step, value FROM metrics WHERE run = ? AND name = ? ORDER BY step, rowid",
                           (int(run_id), name))
        return _series(rows)

    def probes(self, run_id: int, layer: str | None = None, stat: str | None = None) -> list[ProbeRecord]:
        """Probe records in step order; array-valued stats (histograms) come back as float64 arrays."""
        sql = "SELECT step, layer, stat, value, data FROM probes WHERE run = ?"
        params: list = [int(run_id)]
        if layer is not None:
            sql += " AND layer = ?"
            params.append(layer)
        if stat is not None:
            sql += " AND stat = ?"
            params.append(stat)
        out = []
        for step, lay, st, value, data in self._query(sql + " ORDER BY step, rowid", params):
            v = np.asarray(json.loads(data), dtype=np.float64) if data is not None else (
                math.nan if value is None else float(value))
            out.append(ProbeRecord(step, lay, st, v))
        return out

    def probe_series(self, run_id: int, layer: str, stat: str) -> Series:
        """A scalar probe stat of one layer over training."""
        rows = self._query("SELECT step, value FROM probes WHERE run = ? AND layer = ? AND stat = ? "
                           "AND data IS NULL ORDER BY step, rowid", (int(run_id), layer, stat))
        return _series(rows)

    def artifacts(self, run_id: int, kind: str | None = None) -> list[Artifact]:
        sql, params = "SELECT path, kind FROM artifacts WHERE run = ?", [int(run_id)]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        return [Artifact(p, k) for p, k in self._query(sql + " ORDER BY rowid", params)]

    def counts(self, run_id: int) -> dict[str, int]:
        """Row counts of a run in the metrics, probes and artifacts tables."""
        return {t: self._query(f"SELECT COUNT(*) FROM {t} WHERE run = ?", (int(run_id),))[0][0]
                for t in ("metrics", "probes", "artifacts")}


    # -- sweeps -------------------------------------------------------------------------------------
    def _has_sweep_tables(self) -> bool:
        return bool(self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sweep_runs'").fetchone())

    def _ensure_sweep_tables(self) -> None:
        if self._has_sweep_tables():
            return
        with self._transaction() as cur:
            for statement in _SWEEP_SCHEMA.split(";"):
                if statement.strip():
                    cur.execute(statement)

    def start_sweep(self, experiment: str, grid: Mapping[str, Any], seeds: Any, *, key: str | None = None,
                    quick: bool = False, overrides: Any = None) -> int:
        """Record a sweep (``grid``: {config key: [values]}, ``seeds``: the seeds) and return its id.

        With ``key`` (a hash of the sweep's definition), an existing sweep of that key is returned
        instead of a new one: a restarted sweep keeps its id and its finished runs.
        """
        from . import __version__

        self._ensure_sweep_tables()
        with self._transaction() as cur:
            if key is not None:
                row = cur.execute("SELECT id FROM sweeps WHERE key = ? ORDER BY id DESC LIMIT 1", (key,)).fetchone()
                if row:
                    return int(row[0])
            cur.execute("INSERT INTO sweeps (experiment, grid, seeds, created, key, quick, overrides, version) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (experiment, _dumps(grid), _dumps(seeds), time.time(), key, int(bool(quick)),
                         _dumps(overrides or {}), __version__))
            return int(cur.lastrowid)

    def add_sweep_run(self, sweep_id: int, run_id: int, job: str | None = None) -> None:
        """Link an existing run (e.g. a cached one) to a sweep; linking twice is a no-op."""
        self._ensure_sweep_tables()
        with self._transaction() as cur:
            cur.execute("INSERT OR IGNORE INTO sweep_runs (sweep, run, job) VALUES (?, ?, ?)",
                        (int(sweep_id), int(run_id), job))

    def sweeps(self) -> list[SweepInfo]:
        """Every sweep, oldest first, with the number of runs linked to it."""
        if not self._has_sweep_tables():
            return []
        rows = self._query("SELECT s.id, s.experiment, s.grid, s.seeds, s.created, s.key, s.quick, s.overrides, "
                           "s.version, (SELECT COUNT(*) FROM sweep_runs r JOIN runs ON runs.id = r.run "
                           "WHERE r.sweep = s.id) FROM sweeps s ORDER BY s.id")
        return [SweepInfo(sid, exp, json.loads(grid), json.loads(seeds), created, key, bool(quick),
                          json.loads(ov) if ov else {}, version, n)
                for sid, exp, grid, seeds, created, key, quick, ov, version, n in rows]

    def get_sweep(self, sweep_id: int) -> SweepInfo:
        for s in self.sweeps():
            if s.id == int(sweep_id):
                return s
        raise KeyError(f"Store: no sweep with id {sweep_id} in {self.path}")

    def sweep_runs(self, sweep_id: int, status: str | None = None) -> list[RunInfo]:
        """The runs of sweep ``sweep_id`` (finished in it or reused from the cache), oldest first."""
        if not self._has_sweep_tables():
            return []
        cols = ", ".join(f"runs.{c.strip()}" for c in _RUN_COLUMNS.split(","))
        sql = f"SELECT {cols} FROM runs JOIN sweep_runs ON sweep_runs.run = runs.id WHERE sweep_runs.sweep = ?"
        params: list = [int(sweep_id)]
        if status is not None:
            sql += " AND runs.status = ?"
            params.append(status)
        return [_run_info(r) for r in self._query(sql + " ORDER BY runs.id", params)]

    def record_run(self, experiment: str, config: Any, seed: int | None, *, status: str, error: str | None = None,
                   result: Any = None, metrics: Any = (), probes: Any = (), artifacts: Any = (),
                   started: float | None = None, finished: float | None = None, version: str | None = None,
                   pid: int | None = None, hostname: str | None = None, sweep: int | None = None,
                   job: str | None = None) -> int:
        """Insert a finished run computed elsewhere (a sweep worker), all in ONE transaction; return its id.

        The run appears whole (row, metrics, probe records, artifacts, sweep link) or not at all, so
        a driver killed mid-sweep never leaves a half-recorded run. ``metrics`` are ``(step, name,
        value)``, ``probes`` ``(step, layer, stat, value, data_json)`` rows as a ``Run`` would write
        them, ``artifacts`` ``(path, kind)``. A ``"run_id"`` key in a dict ``result`` is set to the id.
        """
        from . import __version__

        if status not in ("done", "failed"):
            raise ValueError(f"Store.record_run: status must be 'done' or 'failed', got {status!r}")
        cfg = to_jsonable({} if config is None else config)
        if not isinstance(cfg, dict):
            raise TypeError(f"Store.record_run: config must be a dataclass or a mapping, got {type(config).__name__}")
        now = time.time()
        started = now if started is None else float(started)
        finished = now if finished is None else float(finished)
        if sweep is not None:
            self._ensure_sweep_tables()
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO runs (experiment, config, config_hash, seed, status, started, finished, updated, version,"
                " error, pid, hostname) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (experiment, json.dumps(cfg, sort_keys=True), config_hash(experiment, cfg, seed),
                 None if seed is None else int(seed), status, started, finished, finished,
                 version or __version__, error, pid, hostname))
            run_id = int(cur.lastrowid)
            if isinstance(result, Mapping) and "run_id" in result:
                result = {**result, "run_id": run_id}
            if result is not None:
                cur.execute("UPDATE runs SET result = ? WHERE id = ?", (_dumps(result), run_id))
            cur.executemany("INSERT INTO metrics (run, step, name, value) VALUES (?, ?, ?, ?)",
                            [(run_id, int(s), str(n), None if v is None else float(v)) for s, n, v in metrics])
            cur.executemany("INSERT INTO probes (run, step, layer, stat, value, data) VALUES (?, ?, ?, ?, ?, ?)",
                            [(run_id, int(s), str(lay), str(st), v, d) for s, lay, st, v, d in probes])
            cur.executemany("INSERT INTO artifacts (run, path, kind, created) VALUES (?, ?, ?, ?)",
                            [(run_id, str(p), str(k), now) for p, k in artifacts])
            if sweep is not None:
                cur.execute("INSERT OR IGNORE INTO sweep_runs (sweep, run, job) VALUES (?, ?, ?)",
                            (int(sweep), run_id, job))
        return run_id


@dataclasses.dataclass
class SweepInfo:
    """One row of the ``sweeps`` table, decoded; ``n_runs`` = runs linked to it."""

    id: int
    experiment: str
    grid: dict
    seeds: list
    created: float
    key: str | None
    quick: bool
    overrides: dict
    version: str | None
    n_runs: int


def _series(pairs) -> Series:
    steps = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
    values = np.fromiter((math.nan if p[1] is None else p[1] for p in pairs), dtype=np.float64, count=len(pairs))
    return Series(steps, values)


def _scalar(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        arr = np.asarray(value)
        raise TypeError(f"{what}: expected a scalar, got {type(value).__name__} of shape {arr.shape}") from None


class Run:
    """The writer of one run (returned by ``Store.run``). Rows are buffered and written in atomic batches."""

    def __init__(self, store: Store, run_id: int, experiment: str, config: dict, seed: int | None):
        self.store = store
        self.id = run_id
        self.experiment = experiment
        self.config = config
        self.seed = seed
        self.status = "running"
        self._metrics: list[tuple] = []
        self._probes: list[tuple] = []
        self._last_flush = time.monotonic()

    def __repr__(self) -> str:
        return f"Run(id={self.id}, experiment={self.experiment!r}, status={self.status!r})"

    # -- logging ------------------------------------------------------------------------------
    def log_metric(self, step: int, name: str, value: float) -> None:
        self._check_open()
        self._metrics.append((self.id, int(step), str(name), _scalar(value, f"Run.log_metric({name!r})")))
        self._maybe_flush()

    def log_metrics(self, step: int, values: Mapping[str, float]) -> None:
        self._check_open()
        step = int(step)
        self._metrics.extend((self.id, step, str(k), _scalar(v, f"Run.log_metrics({k!r})")) for k, v in values.items())
        self._maybe_flush()

    def log_probe(self, step: int, layer: str, stat: str, value: float | np.ndarray) -> None:
        """One probe statistic; a scalar goes to ``value``, an array (e.g. histogram counts) to JSON ``data``."""
        self._check_open()
        self._probes.append(self._probe_row(int(step), layer, stat, value))
        self._maybe_flush()

    def log_probes(self, step: int, layer: str, stats: Mapping[str, float | np.ndarray]) -> None:
        self._check_open()
        step = int(step)
        self._probes.extend(self._probe_row(step, layer, k, v) for k, v in stats.items())
        self._maybe_flush()

    def _probe_row(self, step: int, layer: str, stat: str, value) -> tuple:
        if np.ndim(value) == 0:
            return (self.id, step, str(layer), str(stat), float(value), None)
        return (self.id, step, str(layer), str(stat), None, json.dumps(np.asarray(value, dtype=np.float64).tolist()))

    def add_artifact(self, path: str | os.PathLike, kind: str) -> None:
        self.store.add_artifact(self.id, path, kind)

    def set_result(self, result: Any) -> None:
        self.store.set_result(self.id, result)

    # -- writing ------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self.status != "running":
            raise RuntimeError(f"Run {self.id} ({self.experiment}) is {self.status}; it takes no more records")

    def _maybe_flush(self) -> None:
        if (len(self._metrics) + len(self._probes) >= self.store.batch_size
                or time.monotonic() - self._last_flush >= self.store.flush_seconds):
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one transaction (all of them or none)."""
        if not self._metrics and not self._probes:
            return
        metrics, probes = self._metrics, self._probes
        with self.store._transaction() as cur:
            if metrics:
                cur.executemany("INSERT INTO metrics (run, step, name, value) VALUES (?, ?, ?, ?)", metrics)
            if probes:
                cur.executemany("INSERT INTO probes (run, step, layer, stat, value, data) VALUES (?, ?, ?, ?, ?, ?)",
                                probes)
            cur.execute("UPDATE runs SET updated = ? WHERE id = ?", (time.time(), self.id))
        self._metrics, self._probes = [], []
        self._last_flush = time.monotonic()

    def finish(self, status: str = "done", error: str | None = None) -> None:
        """Flush, then set the final status (``'done'`` or ``'failed'``)."""
        if status not in ("done", "failed"):
            raise ValueError(f"Run.finish: status must be 'done' or 'failed', got {status!r}")
        if self.status != "running":
            return
        try:
            self.flush()
        finally:
            now = time.time()
            with self.store._transaction() as cur:
                cur.execute("UPDATE runs SET status = ?, finished = ?, updated = ?, error = ? WHERE id = ?",
                            (status, now, now, error, self.id))
            self.status = status
            self.store._open_runs.discard(self)
