"""What an experiment gets besides its config: ``Context`` (output directory, seeded generators, the store
run, progress, figure saving, Trainers wired to the store, ``map`` over seeds and arms) and the do-nothing
progress reporter.

``ctx.map(fn, items)`` is how an experiment's independent runs (its seeds, its arms) reach an executor:
serial here by default; on worker processes or a Dask cluster when the run has one
(``layerlab run EXP --workers N``, ``--scheduler ADDR``; a lecture on a Dask cluster). ``fn`` and the items
travel to the workers with cloudpickle, so ``fn`` may be a closure over the experiment's locals. A closure
that captures ``ctx`` gets, in the worker, an *arm context*: the same seed, ``rng_for`` streams, ``quick``
and ``trainer``, whose store calls and log messages are recorded and replayed here, in item order, after
the map — so the store and the numbers are the same whether the arms ran here or elsewhere. An arm must
not save figures (save them after the map returns) and must draw its randomness from ``ctx.rng_for(...)``
keyed by the item, never from a generator shared between arms. A large data set is better loaded in the
worker than shipped with every item: ``lab.training.Reloadable``."""

from __future__ import annotations

import threading
import zlib
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ..train import Callback, Trainer
from .claims import FigureRef
from .config import NAME_RE

__all__ = ["Context", "NullProgress", "run_arm"]


class _NullTask:
    def advance(self, n: float = 1) -> None: ...
    def update(self, **fields) -> None: ...
    def close(self) -> None: ...
    def __enter__(self): return self
    def __exit__(self, *exc): self.close()


class NullProgress:
    """The progress reporter interface, doing nothing (tests, non-terminal output).

    ``with ctx.progress.task("fit xavier", total=steps) as t: t.advance()`` (a task also has
    ``update(description=..., completed=...)`` and ``close()``); ``ctx.progress.log("message")``.
    """

    def task(self, description: str, total: float | None = None) -> _NullTask:
        return _NullTask()

    def log(self, message: str) -> None: ...


# -- context -----------------------------------------------------------------------------------------------
class _NullRun:
    """Stands in for a store ``Run`` when an experiment is called without a store."""

    id = None

    def log_metric(self, step, name, value): ...
    def log_metrics(self, step, values): ...
    def log_probe(self, step, layer, stat, value): ...
    def log_probes(self, step, layer, stats): ...
    def add_artifact(self, path, kind): ...
    def flush(self): ...


class Context:
    """What an experiment gets besides its config.

    Attributes:
        out_dir: the experiment's output directory (exists).
        seed: the run's seed; ``rng`` is ``np.random.default_rng(seed)``.
        run: the store ``Run`` (``run.log_metric(step, name, value)``, ``run.log_probe(...)``);
            a no-op stand-in when there is no store.
        progress: ``progress.task(description, total)`` / ``progress.log(message)``.
        quick: True under ``--quick``.
        figures: the figures saved so far (``FigureRef``).
        executor: where ``map`` sends its items (None: here, one after the other); anything with
            ``map(fn, items, ctx=..., label=...)`` returning ``[(value, log), ...]`` in item order
            (``layerlab.sweep.ArmExecutor``).
    """

    def __init__(self, out_dir: str | Path, seed: int = 0, run=None, progress=None, quick: bool = False,
                 experiment: str = "", executor=None):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.executor = executor
        self._arm = False  # True for the stand-in an arm gets in a worker
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.run = run if run is not None else _NullRun()
        self.progress = progress if progress is not None else NullProgress()
        self.quick = bool(quick)
        self.experiment = experiment
        self.figures: list[FigureRef] = []

    def rng_for(self, *keys) -> np.random.Generator:
        """An independent generator for one named part of the experiment (``ctx.rng_for("xavier", 2)``):
        adding or reordering parts does not change the streams of the others."""
        words = [self.seed] + [zlib.crc32(str(k).encode()) for k in keys]
        return np.random.default_rng(words)

    def map(self, fn: Callable[[Any], Any], items: Iterable, *, label: str = "runs") -> list:
        """``[fn(item) for item in items]``, on the run's executor when it has one (see the module docstring).

        Results come back in item order; the store rows and log messages of each arm are replayed here in
        item order. An exception in an arm is raised here, as it would be in a loop.
        """
        items = list(items)
        if self.executor is None or len(items) < 2:
            out = []
            with self.progress.task(f"{label} (0/{len(items)})", total=len(items)) as t:
                for i, item in enumerate(items):
                    out.append(fn(item))
                    t.advance(1)
                    t.update(description=f"{label} ({i + 1}/{len(items)})")
            return out
        pairs = self.executor.map(fn, items, ctx=self, label=f"{self.experiment}: {label}".lstrip(": "))
        for _, log in pairs:
            replay(log, self)
        return [value for value, _ in pairs]

    def __reduce__(self):
        # what a closure over ctx carries to a worker: an arm context (see the module docstring)
        return _arm_context, (self.seed, self.quick, self.experiment)

    def savefig(self, fig, name: str, caption: str = "", dpi: int = 100) -> Path:
        """Write ``fig`` as ``out_dir/name.png``, register it for the report, close it; return the path."""
        from .figures import save_png

        if self._arm:
            raise RuntimeError(f"ctx.savefig({name!r}) inside ctx.map in {self.experiment!r}: an arm runs on a "
                               "worker; return what the figure needs and save it after ctx.map returns")

        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ValueError(f"ctx.savefig: figure name must be letters, digits, '_', '-', '.', got {name!r}")
        if any(f.name == name for f in self.figures):
            raise ValueError(f"ctx.savefig: a figure named {name!r} was already saved in {self.experiment!r}")
        path = save_png(fig, self.out_dir / f"{name}.png", dpi=dpi)
        self.figures.append(FigureRef(name, path, caption))
        self.run.add_artifact(path, "figure")
        return path

    def flush_probe(self, probe, prefix: str) -> None:
        """Send a probe's new records to the store with ``prefix`` in front of the layer name (several
        models share one store run)."""
        probe.flush_to(lambda records: [self.run.log_probe(r["step"], f"{prefix}/{r['layer']}",
                                                           f"{r['kind']}/{r['stat']}", r["value"]) for r in records])

    def log(self, message: str) -> None:
        self.progress.log(message)

    def log_metric(self, step: int, name: str, value: float) -> None:
        self.run.log_metric(step, name, value)

    def log_metrics(self, step: int, values: Mapping[str, float]) -> None:
        self.run.log_metrics(step, values)

    def metrics_callback(self, prefix: str = "", every: int = 1):
        """A Trainer callback that logs ``{prefix}/loss``, ``{prefix}/lr`` every ``every`` steps and the
        epoch metrics as ``{prefix}/epoch/<name>`` (at the step the epoch ended) into the store."""
        ctx, pre = self, (prefix.rstrip("/") + "/") if prefix else ""

        class _StoreMetrics(Callback):
            def on_batch_end(self, trainer, step, logs):
                if step % every == 0:  # (a Python float first: np.ndim costs a microsecond a call)
                    ctx.run.log_metrics(step, {pre + k: v for k, v in logs.items()
                                               if type(v) is float or np.ndim(v) == 0})

            def on_epoch_end(self, trainer, epoch, logs):
                ctx.run.log_metrics(trainer.step, {f"{pre}epoch/{k}": v for k, v in logs.items() if np.ndim(v) == 0})

        return _StoreMetrics()

    def trainer(self, model, loss_fn, optimizer, *, label: str = "", callbacks=(), log_every: int = 1, **kwargs):
        """A ``Trainer`` wired to the lab: metrics go to the store under ``label/``, progress to the lab's
        display (the Trainer's own bar is off: only one live display at a time), seed = ``ctx.seed``."""
        ctx = self

        class _Progress(Callback):
            def on_fit_start(self, trainer):
                self.task = ctx.progress.task(f"fit {label}".strip(), total=None)

            def on_batch_end(self, trainer, step, logs):
                self.task.advance(1)
                if step % 10 == 0:  # the loss in the description: a string a step costs more than the step's log
                    self.task.update(description=f"fit {label} · loss {logs['loss']:.4f}".replace("  ", " "))

            def on_fit_end(self, trainer):
                self.task.close()

        kwargs.setdefault("seed", self.seed)
        kwargs["progress"] = False
        cbs = [self.metrics_callback(label, every=log_every), _Progress(), *callbacks]
        return Trainer(model, loss_fn, optimizer, callbacks=cbs, **kwargs)


# -- arms on workers (ctx.map) ------------------------------------------------------------------------------------
_arm_state = threading.local()  # the log of the arm running in this thread (a Dask worker may run several)


def _arm_log() -> list:
    log = getattr(_arm_state, "log", None)
    if log is None:
        raise RuntimeError("an arm context was used outside ctx.map's worker (layerlab.lab.context.run_arm)")
    return log


class _ArmRun:
    """The store run of an arm context: records each call for ``replay`` in the driver."""

    id = None

    def log_metric(self, step, name, value): _arm_log().append(("log_metric", (step, name, value)))
    def log_metrics(self, step, values): _arm_log().append(("log_metrics", (step, dict(values))))
    def log_probe(self, step, layer, stat, value): _arm_log().append(("log_probe", (step, layer, stat, value)))
    def log_probes(self, step, layer, stats): _arm_log().append(("log_probes", (step, layer, dict(stats))))
    def flush(self): ...

    def add_artifact(self, path, kind):
        raise RuntimeError("an arm of ctx.map cannot add artifacts: return the data, write files after the map")


class _ArmProgress(NullProgress):
    def log(self, message: str) -> None:
        _arm_log().append(("log", (str(message),)))


def _arm_context(seed: int, quick: bool, experiment: str) -> Context:
    import tempfile

    ctx = Context(tempfile.gettempdir(), seed=seed, run=_ArmRun(), progress=_ArmProgress(), quick=quick,
                  experiment=experiment)
    ctx._arm = True
    return ctx


def run_arm(fn_blob: bytes, item_blob: bytes) -> tuple[Any, list]:
    """What a worker runs for one item of ``ctx.map``: ``fn(item)`` and the log of its context calls."""
    import cloudpickle

    _arm_state.log = []
    try:
        fn, item = cloudpickle.loads(fn_blob), cloudpickle.loads(item_blob)
        return fn(item), _arm_state.log
    finally:
        _arm_state.log = None


def replay(log: list, ctx: Context) -> None:
    """Make the calls an arm recorded on its stand-in context, on the real one."""
    for method, args in log:
        if method == "log":
            ctx.progress.log(*args)
        else:
            getattr(ctx.run, method)(*args)
