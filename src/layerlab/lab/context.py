"""What an experiment gets besides its config: ``Context`` (output directory, seeded generators, the store
run, progress, figure saving, Trainers wired to the store) and the do-nothing progress reporter."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Mapping

import numpy as np

from ..train import Callback, Trainer
from .claims import FigureRef
from .config import NAME_RE

__all__ = ["Context", "NullProgress"]


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
    """

    def __init__(self, out_dir: str | Path, seed: int = 0, run=None, progress=None, quick: bool = False,
                 experiment: str = ""):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
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

    def savefig(self, fig, name: str, caption: str = "", dpi: int = 100) -> Path:
        """Write ``fig`` as ``out_dir/name.png``, register it for the report, close it; return the path."""
        from .figures import save_png

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
                if step % every == 0:
                    ctx.run.log_metrics(step, {pre + k: v for k, v in logs.items() if np.ndim(v) == 0})

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
                self.task.update(description=f"fit {label} · loss {logs['loss']:.4f}".replace("  ", " "))

            def on_fit_end(self, trainer):
                self.task.close()

        kwargs.setdefault("seed", self.seed)
        kwargs["progress"] = False
        cbs = [self.metrics_callback(label, every=log_every), _Progress(), *callbacks]
        return Trainer(model, loss_fn, optimizer, callbacks=cbs, **kwargs)
