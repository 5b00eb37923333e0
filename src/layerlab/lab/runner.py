"""Running experiments: one (``run_experiment``) or the whole lecture (``run_lecture``).

Each experiment runs inside a store run (``'done'``, or ``'failed'`` with the traceback), with
its own output directory holding the figures (PNG), ``claims.json`` and a self-contained
``report.html``; the same result dict is kept in the store so ``layerlab report`` can
re-render it. A claim that does not hold is a result; only an exception is an error.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import traceback
from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import random as llrandom
from ..store import Store, default_store_path, layerlab_home, to_jsonable
from .claims import Claim, Result
from .config import ConfigError, parse_overrides
from .context import Context, NullProgress
from .registry import Experiment, all_experiments, get, import_errors, load_experiments
from .report import claims_table, lecture_table, write_index, write_report, write_text_atomic

__all__ = ["run_experiment", "run_lecture", "Outcome", "LectureOutcome", "RichProgress", "make_console",
           "reports_root", "render_run_report", "split_lecture_overrides", "run_detached", "record_detached",
           "show_outcome"]


# -- progress --------------------------------------------------------------------------------------
class _RichTask:
    def __init__(self, progress, task_id, transient: bool):
        self._p, self._id, self._transient, self._closed = progress, task_id, transient, False

    def advance(self, n: float = 1) -> None:
        self._p.advance(self._id, n)

    def update(self, **fields) -> None:
        if "description" in fields:
            from rich.markup import escape

            fields["description"] = escape(str(fields["description"]))
        self._p.update(self._id, **fields)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._transient:
                self._p.remove_task(self._id)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RichProgress(NullProgress):
    """Progress bars on a terminal (rich); experiments' tasks appear under the current experiment."""

    def __init__(self, console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, \
            TimeElapsedColumn

        self.console = console
        self._p = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TimeElapsedColumn(), console=console, transient=True)

    def __enter__(self):
        self._p.start()
        return self

    def __exit__(self, *exc):
        self._p.stop()

    def task(self, description: str, total: float | None = None, transient: bool = True) -> _RichTask:
        from rich.markup import escape

        return _RichTask(self._p, self._p.add_task(escape(description), total=total), transient)

    def log(self, message: str) -> None:
        from rich.markup import escape

        self._p.console.print(escape(str(message)))


class _PlainProgress(NullProgress):
    """No bars (output is not a terminal); ``log`` messages are printed."""

    def __init__(self, console):
        self.console = console

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def log(self, message: str) -> None:
        from rich.markup import escape

        self.console.print(escape(str(message)))


def make_console(file=None):
    """A rich Console; when the output is not a terminal it is wide (no wrapped tables in logs) and plain."""
    from rich.console import Console

    probe = Console(file=file)
    if probe.is_terminal:
        return probe
    return Console(file=file, width=int(os.environ.get("COLUMNS", 160)), no_color=True, highlight=False)


def _progress_for(console, show: bool):
    if not show:
        return NullProgress(), _Nothing()
    p = RichProgress(console) if console.is_terminal else _PlainProgress(console)
    return p, p


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


# -- outcomes ------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    """One experiment's run: status ``'done'`` or ``'failed'``, where its files are, its claims."""

    name: str
    status: str
    run_id: int | None
    out_dir: Path | None
    report: Path | None
    claims_json: Path | None
    data: dict
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "done"

    @property
    def claims(self) -> list[Claim]:
        return [Claim.from_dict(c) for c in self.data.get("claims") or []]


@dataclasses.dataclass
class LectureOutcome:
    outcomes: list[Outcome]
    index: Path
    import_errors: list[tuple[str, str]]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes) and not self.import_errors


def reports_root(store: Store | None = None) -> Path:
    """Where reports go by default: next to the store (``$LAYERLAB_HOME/reports``)."""
    if store is not None and str(store.path) != ":memory:":
        return store.path.parent / "reports"
    return layerlab_home() / "reports"


def _open_store(store) -> tuple[Store, bool]:
    if isinstance(store, Store):
        return store, False
    return Store(store if store is not None else default_store_path()), True


def _seed_global(seed: int) -> None:
    llrandom.seed(int(seed))


# -- one experiment ----------------------------------------------------------------------------------------
def _collect_figures(result: Result, ctx: Context, exp: Experiment) -> list[dict]:
    figs = result.figures
    items = list(figs.items()) if isinstance(figs, Mapping) else list(figs or [])
    saved = {f.name for f in ctx.figures}
    for item in items:
        if isinstance(item, str):
            if item not in saved:
                raise ValueError(f"experiment {exp.name!r}: Result.figures names {item!r}, which was not saved "
                                 f"with ctx.savefig (saved: {', '.join(sorted(saved)) or 'none'})")
            continue
        name, fig = item
        if name not in saved:
            ctx.savefig(fig, name)
            saved.add(name)
    for c in result.claims:
        if c.figure is not None and c.figure not in saved:
            raise ValueError(f"experiment {exp.name!r}: claim {c.id!r} refers to figure {c.figure!r}, which was "
                             f"not saved (saved: {', '.join(sorted(saved)) or 'none'})")
    return [{"name": f.name, "file": os.path.relpath(f.path, ctx.out_dir), "caption": f.caption} for f in ctx.figures]


def _check_result(result: Any, exp: Experiment) -> Result:
    if not isinstance(result, Result):
        raise TypeError(f"experiment {exp.name!r} returned {type(result).__name__}; expected a lab.Result")
    bad = [c for c in result.claims if not isinstance(c, Claim)]
    if bad:
        raise TypeError(f"experiment {exp.name!r}: Result.claims must hold Claim objects, got {type(bad[0]).__name__}")
    ids = [c.id for c in result.claims]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"experiment {exp.name!r}: claim ids must be unique, repeated: {', '.join(dup)}")
    return result


def _execute(exp: Experiment, config, ctx: Context, seed: int, started: float) -> dict:
    """Run ``exp`` in ``ctx`` (the global generators seeded first); the fields of a finished run's data."""
    _seed_global(seed)
    result = _check_result(exp(config, ctx), exp)
    notes = result.notes
    return dict(status="done", claims=[c.to_dict() for c in result.claims], figures=_collect_figures(result, ctx, exp),
                records=to_jsonable(result.records),
                notes=[notes] if isinstance(notes, str) and notes else list(notes or []),
                elapsed=time.time() - started)


def _base_data(exp: Experiment, config, seed: int, quick: bool, store: Store, started: float) -> dict:
    from .. import __version__

    return {"experiment": exp.name, "topic": exp.topic, "summary": exp.summary, "seed": int(seed),
            "quick": bool(quick), "config": to_jsonable(config), "status": "running", "error": None,
            "started": started, "elapsed": None, "layerlab_version": __version__, "store": str(store.path),
            "claims": [], "figures": [], "records": [], "notes": []}


def _run_one(exp: Experiment, config, *, quick: bool, seed: int, store: Store, out_dir: Path | None,
             progress, executor=None) -> Outcome:
    started = time.time()
    data = _base_data(exp, config, seed, quick, store, started)
    run_id, out = None, out_dir
    try:
        with store.run(exp.name, config, seed) as run:
            run_id = data["run_id"] = run.id
            out = Path(out_dir) if out_dir is not None else reports_root(store) / f"{exp.name}-{run.id}"
            data["out_dir"] = str(out.resolve())
            data.update(_execute(exp, config, Context(out, seed=seed, run=run, progress=progress, quick=quick,
                                                      experiment=exp.name, executor=executor), seed, started))
            claims_path = write_text_atomic(out / "claims.json", json.dumps(data, indent=2, ensure_ascii=False))
            report_path = write_report(data, out)
            run.add_artifact(claims_path.resolve(), "claims")
            run.add_artifact(report_path.resolve(), "report")
            run.set_result(data)
        return Outcome(exp.name, "done", run_id, out, report_path, claims_path, data)
    except Exception as e:
        error = "".join(traceback.format_exception(e)).rstrip()
        data.update(status="failed", error=error, elapsed=time.time() - started, claims=[], figures=[])
        report_path = claims_path = None
        if out is not None:
            try:
                claims_path = write_text_atomic(Path(out) / "claims.json", json.dumps(data, indent=2, ensure_ascii=False))
                report_path = write_report(data, out)
            except Exception:  # the original error matters more than a report of it
                report_path = claims_path = None
        if run_id is not None:
            store.set_result(run_id, data)
            if report_path is not None:
                store.add_artifact(run_id, report_path.resolve(), "report")
        return Outcome(exp.name, "failed", run_id, Path(out) if out is not None else None, report_path,
                       claims_path, data, error)


# -- one experiment away from the store (sweep workers) ------------------------------------------------------------
class _RecordingRun:
    """Stands in for a store ``Run`` in a worker: keeps what the experiment logs, in the rows a ``Run`` would
    write, for the driver (the only writer of the store) to record with ``record_detached``."""

    id = None

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.metrics: list[tuple] = []    # (step, name, value)
        self.probes: list[tuple] = []     # (step, layer, stat, value, data_json)
        self.artifacts: list[tuple] = []  # (path relative to the output directory, or absolute; kind)

    def log_metric(self, step, name, value) -> None:
        from ..store import _scalar

        self.metrics.append((int(step), str(name), _scalar(value, f"Run.log_metric({name!r})")))

    def log_metrics(self, step, values) -> None:
        from ..store import _scalar

        step = int(step)
        self.metrics.extend((step, str(k), _scalar(v, f"Run.log_metrics({k!r})")) for k, v in values.items())

    def _probe_row(self, step, layer, stat, value) -> tuple:
        import numpy as np

        if np.ndim(value) == 0:
            return (int(step), str(layer), str(stat), float(value), None)
        return (int(step), str(layer), str(stat), None, json.dumps(np.asarray(value, dtype=np.float64).tolist()))

    def log_probe(self, step, layer, stat, value) -> None:
        self.probes.append(self._probe_row(step, layer, stat, value))

    def log_probes(self, step, layer, stats) -> None:
        self.probes.extend(self._probe_row(step, layer, k, v) for k, v in stats.items())

    def add_artifact(self, path, kind) -> None:
        p = Path(path).resolve()
        rel = os.path.relpath(p, self.root) if p.is_relative_to(self.root) else None
        self.artifacts.append((rel, str(p), str(kind)))

    def set_result(self, result) -> None: ...

    def flush(self) -> None: ...


def run_detached(exp: Experiment | str, config=None, *, quick: bool = False, seed: int = 0, progress=None,
                 executor=None) -> dict:
    """Run one experiment with NO store (a sweep worker); return a picklable payload for ``record_detached``.

    The experiment runs exactly as under ``run_experiment`` (same seeding, same Context), in a
    temporary output directory; the payload carries the result dict (``data``: status, claims,
    records, figures, notes, error), every file the run wrote (``files``: {relative path: bytes}),
    and the metric/probe rows and artifacts it logged. An exception inside the experiment gives
    ``data["status"] == "failed"`` with the traceback, as in ``run_experiment``.
    """
    import socket
    import tempfile

    from .. import __version__

    exp = get(exp) if isinstance(exp, str) else exp
    config = exp.make_config(quick) if config is None else config
    started = time.time()
    data = {"experiment": exp.name, "topic": exp.topic, "summary": exp.summary, "seed": int(seed),
            "quick": bool(quick), "config": to_jsonable(config), "status": "running", "error": None,
            "started": started, "elapsed": None, "layerlab_version": __version__, "store": None,
            "claims": [], "figures": [], "records": [], "notes": [], "run_id": None, "out_dir": None}
    with tempfile.TemporaryDirectory(prefix=f"layerlab-{exp.name}-") as tmp:
        rec = _RecordingRun(Path(tmp))
        try:
            data.update(_execute(exp, config, Context(Path(tmp), seed=seed, run=rec, progress=progress, quick=quick,
                                                      experiment=exp.name, executor=executor), seed, started))
        except Exception as e:
            data.update(status="failed", error="".join(traceback.format_exception(e)).rstrip(),
                        elapsed=time.time() - started, claims=[], figures=[])
        root = Path(tmp)
        files = {f.relative_to(root).as_posix(): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()}
    return {"data": data, "files": files, "metrics": rec.metrics, "probes": rec.probes, "artifacts": rec.artifacts,
            "finished": time.time(), "pid": os.getpid(), "hostname": socket.gethostname()}


def record_detached(store: Store, payload: dict, out_dir: str | os.PathLike, *, sweep: int | None = None,
                    job: str | None = None) -> Outcome:
    """Record a ``run_detached`` payload as ONE store run (one transaction) and write its files to ``out_dir``.

    The figures (and any other file the run wrote) go to ``out_dir`` first, then the run row with
    its metrics, probe records, artifacts and result (and its link to ``sweep``), then
    ``claims.json`` and ``report.html`` — the same files and rows ``run_experiment`` leaves.
    """
    from ..fileio import atomic_write_bytes

    data = dict(payload["data"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for rel, blob in payload.get("files", {}).items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, blob)
    data.update(out_dir=str(out.resolve()), store=str(store.path), run_id=None)
    ok = data.get("status") == "done"
    claims_path, report_path = (out / "claims.json").resolve(), (out / "report.html").resolve()
    artifacts = [(str((out / rel).resolve()) if rel is not None else path, kind)
                 for rel, path, kind in payload.get("artifacts", [])]
    artifacts += [(str(claims_path), "claims"), (str(report_path), "report")] if ok else [(str(report_path), "report")]
    run_id = store.record_run(data["experiment"], data.get("config") or {}, data.get("seed"),
                              status="done" if ok else "failed", error=None if ok else data.get("error"),
                              result=data, metrics=payload.get("metrics", ()), probes=payload.get("probes", ()),
                              artifacts=artifacts, started=data.get("started"), finished=payload.get("finished"),
                              version=data.get("layerlab_version"), pid=payload.get("pid"),
                              hostname=payload.get("hostname"), sweep=sweep, job=job)
    data["run_id"] = run_id
    try:
        write_text_atomic(claims_path, json.dumps(data, indent=2, ensure_ascii=False))
        write_report(data, out)
    except Exception:
        if ok:
            raise
        claims_path = report_path = None  # the original error matters more than a report of it
    if ok:
        return Outcome(data["experiment"], "done", run_id, out, report_path, claims_path, data)
    return Outcome(data["experiment"], "failed", run_id, out, report_path, claims_path, data, data.get("error"))


def show_outcome(console, o: Outcome, index: int | None = None, total: int | None = None) -> None:
    from rich.markup import escape

    head = f"[{index}/{total}] " if index is not None else ""
    took = o.data.get("elapsed") or 0.0
    if o.ok:
        claims = o.data["claims"]
        n_ok = sum(c["holds"] for c in claims)
        console.print(claims_table(claims, title=f"{head}{escape(o.name)} — {escape(o.data.get('summary', ''))}"))
        console.print(f"{n_ok} of {len(claims)} claims hold · {took:.1f} s · report: {escape(str(o.report))}\n",
                      highlight=False)
    else:
        console.print(f"[bold red]{head}{escape(o.name)}: error[/] after {took:.1f} s")
        console.print(escape(o.error or ""), style="red", highlight=False)
        console.print(f"report: {escape(str(o.report))}\n" if o.report is not None else "")


def run_experiment(name: str, quick: bool = False, overrides: Sequence[str] | Mapping[str, Any] | None = None,
                   out_dir: str | os.PathLike | None = None, seed: int = 0, store: Store | str | None = None, *,
                   console=None, show: bool = True, executor=None) -> Outcome:
    """Run experiment ``name`` inside a store run; write its figures, ``claims.json`` and ``report.html``.

    Args:
        quick: the config's quick variant (seconds, for tests and ``lecture --quick``).
        overrides: ``["key=value", ...]`` (parsed with the config's field types) or a mapping.
        out_dir: output directory; default ``<store dir>/reports/<name>-<run id>``.
        store: a ``Store``, a path, or None for the default store.
        show: print progress and the claims table (rich; plain when not a terminal).
        executor: where the experiment's ``ctx.map`` items (seeds, arms) run: None for here, one after
            the other, or a ``layerlab.sweep.ArmExecutor`` (worker processes, a Dask cluster); the numbers
            are the same either way.

    Returns an ``Outcome``; an exception inside the experiment gives ``status == 'failed'``
    (with the traceback), unknown names raise ``KeyError`` and bad overrides ``ConfigError``.
    """
    exp = get(name)
    config = exp.make_config(quick, overrides)
    db, own = _open_store(store)
    console = console if console is not None else (make_console() if show else None)
    try:
        progress, live = _progress_for(console, show)
        with live:
            task = progress.task(exp.name, total=None)
            try:
                outcome = _run_one(exp, config, quick=quick, seed=seed, store=db,
                                   out_dir=Path(out_dir) if out_dir is not None else None, progress=progress,
                                   executor=executor)
            finally:
                task.close()
        if show:
            show_outcome(console, outcome)
        return outcome
    finally:
        if own:
            db.close()


# -- the lecture ------------------------------------------------------------------------------------------------
def split_lecture_overrides(exps: Sequence[Experiment], items: Sequence[str] | None) -> dict[str, dict]:
    """Per experiment, the ``--set`` items its config has; a key no experiment has is an error."""
    items = list(items or [])
    out: dict[str, dict] = {e.name: {} for e in exps}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"lecture: --set expects key=value, got {item!r}")
        key = item.split("=", 1)[0].strip()
        takers = [e for e in exps if key in {f.name for f in dataclasses.fields(e.config_cls)}]
        if not takers:
            raise ConfigError(f"lecture: no experiment has a config key {key!r}")
        for e in takers:
            out[e.name].update(parse_overrides(e.config_cls, [item], f"experiment {e.name!r}"))
    return out


def _lecture_dir(root: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, i = root / f"lecture-{stamp}", 1
    while path.exists():
        i += 1
        path = root / f"lecture-{stamp}-{i}"
    return path


def run_lecture(quick: bool = False, overrides: Sequence[str] | None = None, out_dir: str | os.PathLike | None = None,
                seed: int = 0, store: Store | str | None = None, *, names: Sequence[str] | None = None,
                console=None, show: bool = True, parallel=None) -> LectureOutcome:
    """Run every experiment (or ``names``) in lecture order; write each report under ``out_dir/<name>/``
    and ``out_dir/index.html`` with every claim. ``--set`` items go to the experiments that have the key.

    ``parallel``: run the experiments elsewhere instead of one after another here — a function
    ``(experiments, configs, quick, seed, store, root, console, show) -> [Outcome]`` such as
    ``layerlab.sweep.lecture_executor(workers=N)`` (local processes) or ``(scheduler="tcp://HOST:PORT")``
    (Dask). This process stays the only writer of the store, and the stored runs, records and files are
    those of the serial lecture (same configs, same seed)."""
    load_experiments()
    exps = [get(n) for n in names] if names is not None else all_experiments()
    per_exp = split_lecture_overrides(exps, overrides)
    configs = {e.name: e.make_config(quick, per_exp[e.name]) for e in exps}  # bad overrides fail before any run
    broken = import_errors()
    db, own = _open_store(store)
    console = console if console is not None else (make_console() if show else None)
    try:
        root = Path(out_dir) if out_dir is not None else _lecture_dir(reports_root(db))
        outcomes: list[Outcome] = []
        progress, live = _progress_for(console, show)
        if parallel is not None:
            outcomes = parallel(exps, configs, quick, seed, db, root, console, show)
        else:
            with live:
                overall = progress.task("lecture", total=len(exps))
                for i, exp in enumerate(exps, 1):
                    if show and not isinstance(progress, RichProgress):
                        console.print(f"[{i}/{len(exps)}] {exp.name} …", highlight=False, markup=False)
                    with progress.task(exp.name, total=None):
                        o = _run_one(exp, configs[exp.name], quick=quick, seed=seed, store=db, out_dir=root / exp.name,
                                     progress=progress)
                    outcomes.append(o)
                    overall.advance(1)
                    if show:
                        show_outcome(console, o, i, len(exps))
                overall.close()
        entries = []
        for o in outcomes:
            e = dict(o.data)
            e["href"] = os.path.relpath(o.report, root) if o.report is not None else None
            entries.append(e)
        for module, problem in broken:
            entries.append({"experiment": f"lab.experiments.{module}", "summary": "module failed to import", "status": "failed",
                            "error": problem, "claims": []})
        sub = f"{'quick' if quick else 'full'} run · seed {seed} · store {db.path}"
        write_text_atomic(root / "lecture.json", json.dumps(to_jsonable(entries), indent=2, ensure_ascii=False))
        index = write_index(entries, root, subtitle=sub)
        if show:
            console.print(lecture_table(entries))
            for module, problem in broken:
                console.print(f"[bold red]lab.experiments.{module} failed to import:[/]")
                console.print(problem, style="red", markup=False, highlight=False)
            n_claims = sum(len(e.get("claims") or []) for e in entries)
            n_ok = sum(c["holds"] for e in entries for c in e.get("claims") or [])
            n_err = sum(e.get("status") != "done" for e in entries)
            console.print(f"{n_ok} of {n_claims} claims hold · {n_err} errors · index: {index}", highlight=False,
                          markup=False)
        return LectureOutcome(outcomes, index, broken)
    finally:
        if own:
            db.close()


# -- re-rendering from the store ------------------------------------------------------------------------------------
def render_run_report(store: Store, run_id: int, out_dir: str | os.PathLike | None = None) -> Path:
    """(Re)write ``report.html`` of a stored run from its stored result (claims, figures, records, notes).

    Figures are read from the run's output directory; missing ones show as a placeholder. A run
    without a stored result (crashed, or not a lab run) gets a report of its status and error.
    """
    info = store.get_run(run_id)
    data = dict(info.result or {})
    if not data:
        data = {"experiment": info.experiment, "summary": "", "config": info.config, "seed": info.seed,
                "status": info.status, "error": info.error or f"the run is {info.status}; it stored no result",
                "claims": [], "figures": [], "started": info.started,
                "elapsed": info.duration, "layerlab_version": info.version, "store": str(store.path)}
    data["run_id"] = info.id
    if info.status != "done" and data.get("status") == "done":  # the run ended badly after its result
        data["status"], data["error"] = info.status, info.error
    original = data.get("out_dir")
    if out_dir is None:
        out_dir = original or (reports_root(store) / f"{info.experiment}-{info.id}")
    out = Path(out_dir)
    path = write_report(data, out, figures_dir=original)  # figures stay where the run wrote them
    if not any(Path(a.path) == path.resolve() for a in store.artifacts(run_id, "report")):
        store.add_artifact(run_id, path.resolve(), "report")
    return path
