"""The ``layerlab`` command.

    layerlab list                         the experiments, one line each
    layerlab run NAME [--quick] [--set key=value ...] [--out DIR] [--seed N]
    layerlab run lecture [--quick] [--topic TOPIC]
                                          every experiment (or those of one topic), with an index of all claims
    layerlab runs [--experiment NAME]     the runs in the store
    layerlab report RUN_OR_EXPERIMENT     the path of the latest report (re-rendered if missing)
    layerlab lr-find SETUP [--start 1e-7] [--end 10] [--steps 100] [--seed 0] [--out DIR]
                                          Smith's learning-rate range test on a named set-up, with a plot
    layerlab demo                         a short end-to-end example
    layerlab bench ...                    benchmarks (``layerlab.bench``)

The store is ``$LAYERLAB_HOME/runs.sqlite`` (default ``./runs/runs.sqlite``); reports go
next to it under ``reports/`` unless ``--out`` says otherwise (``lr-find``'s plots under
``reports/lr_find/``).

Startup: building the parser, ``--help`` and ``list`` import neither NumPy nor the experiments,
matplotlib or rich (``list`` uses rich only on a terminal); each command imports what it needs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

from . import __version__


# -- the experiments, for the help and `list` ---------------------------------------------------------
def _experiment_rows() -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """``[(name, topic, summary)]`` of every experiment in lecture order, and the ``(module, traceback)`` of
    the experiment modules known to have failed to import.

    A fresh process reads the decorators from the source (``registry.static_index``: none of the
    experiments, NumPy or matplotlib is imported, so a broken module shows up only in the commands that
    import it); once the registry is loaded (or the source is not plain literals) the registry is asked.
    """
    from .lab import registry

    rows = None if registry._loaded else registry.static_index()
    if rows is None:
        rows = [(e.name, e.topic, e.summary) for e in registry.all_experiments()]
    return rows, list(registry.LOAD_PROBLEMS)


def _experiments_help() -> str:
    try:
        rows, problems = _experiment_rows()
    except Exception as e:  # help must never crash
        return f"experiments: (could not load: {e})"
    if not rows:
        return "experiments: none registered yet"
    width = max(len(name) for name, _, _ in rows)
    lines = ["experiments (layerlab run NAME; `lecture` runs them all):"]
    lines += [f"  {name:<{width}}  {summary}" for name, _, summary in rows]
    if problems:
        lines.append(f"  (failed to import: {', '.join('lab.experiments.' + m for m, _ in problems)})")
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help can end with the list of experiments (built only when shown), and whose
    arguments can come from ``deferred_arguments(parser)``, called only when this parser is used (parsing,
    help): a subcommand defined by a heavy module (``sweep``, ``search``) costs nothing to the others."""

    def __init__(self, *args, list_experiments: bool = False, deferred_arguments=None, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self.list_experiments = list_experiments
        self.deferred_arguments = deferred_arguments

    def _add_deferred_arguments(self) -> None:
        add, self.deferred_arguments = self.deferred_arguments, None
        if add is not None:
            add(self)

    def parse_known_args(self, args=None, namespace=None):
        self._add_deferred_arguments()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._add_deferred_arguments()
        return super().format_usage()

    def format_help(self) -> str:
        self._add_deferred_arguments()
        text = super().format_help()
        return text + "\n" + _experiments_help() + "\n" if self.list_experiments else text


def _arguments_of(module: str):
    """``layerlab.<module>.add_arguments``, imported when its subcommand is parsed (see ``_Parser``)."""
    def add(parser: argparse.ArgumentParser) -> None:
        importlib.import_module(f".{module}", __package__).add_arguments(parser)
    return add


def _store_error() -> type | tuple:
    """``StoreError`` for an ``except`` clause, or ``()`` (matches nothing) when the store module was never
    imported, so nothing can have raised it (the store imports NumPy: not for ``--help``)."""
    store = sys.modules.get(f"{__package__}.store")
    return store.StoreError if store is not None else ()


# -- commands ------------------------------------------------------------------------------------------
def _cmd_demo(args) -> int:
    """`make demo`: the engine alone, the notes' MNIST network, then every experiment of the lecture."""
    from .demo import train_notes_mnist, train_spirals

    print("1. The engine alone: a 2-64-64-2 tanh MLP learns the two spirals, built from tensor ops only\n")
    result = train_spirals(steps=args.steps)
    print(f"\ntraining accuracy: {result['accuracy']:.3f}\n")
    status = 0 if result["accuracy"] == 1.0 else 1
    if args.epochs > 0:
        print("2. The notes' network on Fashion-MNIST: 784-500-500-500-10 tanh, Xavier, cross-entropy, "
              "SGD (momentum 0.9, η = 0.05), batch 256\n")
        mnist = train_notes_mnist(epochs=args.epochs)
        print(f"\ntest accuracy after {args.epochs} epochs: {mnist['test']['accuracy']:.4f}\n")
    if args.lecture:
        from .lab.runner import run_lecture

        print("3. The lecture's experiments, quick versions (`layerlab run lecture` for the full ones)\n")
        outcome = run_lecture(quick=True, console=_console())
        print(f"\nreport: {outcome.index}")
        status = status or (0 if outcome.ok else 1)
    return status


def _console():
    from .lab.runner import make_console

    return make_console()


def _count(least: int):
    """An argparse type: an int ≥ ``least`` (a bad value is argparse's one-line usage error, exit 2)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"expected an integer ≥ {least}, got {value}")
        return value
    parse.__name__ = "count"
    return parse


def _open_for_reading(path):
    """The store at ``path`` for listing: read-write when possible (crashed runs get marked), else read-only
    (a store someone shared, a read-only mount)."""
    from .store import Store, StoreError, default_store_path

    try:
        return Store(path)
    except StoreError:
        p = Path(path) if path is not None else default_store_path()
        if not p.is_file():
            raise
        return Store(p, readonly=True)


def _err(message: str) -> int:
    print(f"layerlab: {message}", file=sys.stderr)
    return 2


def _cmd_list(args) -> int:
    """The experiments as a table: rich on a terminal, plain aligned text (one line each) otherwise."""
    rows, problems = _experiment_rows()
    if args.topic:
        rows = [row for row in rows if row[1] == args.topic]
    title, header = f"{len(rows)} experiments", ("name", "topic", "summary")
    warnings = [(f"warning: lab.experiments.{module} failed to import:", problem.strip().splitlines()[-1])
                for module, problem in problems]
    if not sys.stdout.isatty():
        print(_plain_table(title, header, rows))
        for prefix, last_line in warnings:
            print(prefix, last_line)
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    table = Table(title=title, title_justify="left")
    for col in header:
        table.add_column(col, no_wrap=col != "summary")
    for row in rows:
        table.add_row(*map(escape, row))
    console.print(table)
    for prefix, last_line in warnings:
        console.print(f"[yellow]{escape(prefix)}[/] {escape(last_line)}")
    return 0


def _plain_table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """``title``, then the header and the rows in left-aligned columns two spaces apart (last one unpadded)."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    lines = [title] + ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip()
                       for row in (header, *rows)]
    return "\n".join(lines)


def _cmd_run(args) -> int:
    from .lab import ConfigError
    from .lab.runner import run_experiment, run_lecture

    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        return _err(f"--out {args.out}: is a file; expected a directory (created when missing)")
    try:
        if args.name == "lecture":
            names = None
            if args.topic is not None:
                names = _topic_experiments(args.topic)
                if isinstance(names, int):
                    return names
            parallel = None
            if args.workers is not None or args.scheduler is not None:
                from .sweep import lecture_executor

                parallel = lecture_executor(args.workers, args.scheduler)
            outcome = run_lecture(quick=args.quick, overrides=args.set, out_dir=args.out, seed=args.seed,
                                  store=args.store, names=names, console=_console(), parallel=parallel)
            return 0 if outcome.ok else 1
        if args.topic is not None:
            return _err(f"--topic applies to `layerlab run lecture` only, not to the experiment {args.name!r}")
        if args.workers is None and args.scheduler is None:
            outcome = run_experiment(args.name, quick=args.quick, overrides=args.set, out_dir=args.out,
                                     seed=args.seed, store=args.store, console=_console())
        else:
            from .sweep import ArmExecutor

            try:
                executor = ArmExecutor(args.workers, args.scheduler)
            except ValueError as e:
                return _err(str(e))
            with executor:
                outcome = run_experiment(args.name, quick=args.quick, overrides=args.set, out_dir=args.out,
                                         seed=args.seed, store=args.store, console=_console(), executor=executor)
    except KeyError as e:
        return _err(e.args[0] if e.args else str(e))
    except ConfigError as e:
        return _err(str(e))
    return 0 if outcome.ok else 1


def _topic_experiments(topic: str) -> list[str] | int:
    """The names of the experiments of ``topic`` in lecture order, or the exit status of an error."""
    from .lab import all_experiments

    exps = all_experiments()
    topics = list(dict.fromkeys(e.topic for e in exps))
    names = [e.name for e in exps if e.topic == topic]
    if not names:
        return _err(f"no experiments of topic {topic!r} (topics: {', '.join(repr(t) for t in topics) or 'none'})")
    return names


# -- lr-find ----------------------------------------------------------------------------------------------
def _number(text: str, kind=float):
    """``text`` as a finite number of ``kind`` (None if it is not one)."""
    import math

    try:
        value = kind(text)
    except (TypeError, ValueError):
        return None
    return value if kind is int or math.isfinite(value) else None


def lr_find_plot(lrs, losses, suggestion: float, title: str):
    """The range test's curve: smoothed loss against η (log x), the suggestion and the minimum marked."""
    import math

    import numpy as np

    from .lab.figures import new_figure

    fig, axes = new_figure(1, 1, panel=(5.0, 3.2), margins={"left": 0.75, "top": 0.45})
    ax = axes[0, 0]
    lrs, losses = np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    ax.plot(lrs, losses, color="#0072B2", linewidth=1.5, label="smoothed loss")
    if losses.size:
        i = int(np.argmin(losses))
        ax.plot([lrs[i]], [losses[i]], "o", color="#009E73", label=f"minimum: {losses[i]:.4g} at η = {lrs[i]:.3g}")
    if math.isfinite(suggestion):
        ax.axvline(suggestion, color="#D55E00", linestyle="--", linewidth=1.2,
                   label=f"suggestion (steepest descent): η = {suggestion:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate η")
    ax.set_ylabel("loss (smoothed)")
    ax.set_title(title, fontsize=9)
    ax.legend(frameon=False, fontsize=7)
    return fig


def _cmd_lr_find(args) -> int:
    start, end = _number(args.start), _number(args.end)
    steps, seed = _number(args.steps, int), _number(args.seed, int)
    for value, name, text in ((start, "--start", args.start), (end, "--end", args.end)):
        if value is None or value <= 0:
            return _err(f"lr-find: {name} must be a positive number, got {text!r}")
    if not end > start:
        return _err(f"lr-find: --end must be larger than --start, got start {start:g}, end {end:g}")
    if steps is None or steps < 2:
        return _err(f"lr-find: --steps must be an integer >= 2, got {args.steps!r}")
    if seed is None or seed < 0:
        return _err(f"lr-find: --seed must be a non-negative integer, got {args.seed!r}")

    from .lab import setups

    try:
        setup = setups.get(args.setup)
    except KeyError as e:
        return _err(f"lr-find: {e.args[0]}")
    try:
        built = setup(seed)
    except RuntimeError as e:  # e.g. Fashion-MNIST is missing
        print(f"layerlab: lr-find {setup.name}: {e}", file=sys.stderr)
        return 1
    return _lr_find_report(setup, built, start, end, steps, seed, args.out)


def _lr_find_report(setup, built, start: float, end: float, steps: int, seed: int, out) -> int:
    import math

    import numpy as np
    from rich.markup import escape
    from rich.table import Table

    from .lab.figures import save_png
    from .store import layerlab_home
    from .train import Trainer

    trainer = Trainer(built.model, built.loss_fn, built.optimizer, metrics=(), progress=False, seed=seed)
    console = _console()
    with console.status(f"lr-find {setup.name}: {steps} steps, η from {start:g} to {end:g}"):
        lrs, losses, suggestion = trainer.lr_find(built.loader, start=start, end=end, steps=steps)
    out_dir = Path(out) if out is not None else layerlab_home() / "reports" / "lr_find"
    path = out_dir / f"lr_find-{setup.name}-seed{seed}.png"
    title = f"lr-find {setup.name} (seed {seed}): {len(lrs)} of {steps} steps, η {start:g} … {end:g}"
    save_png(lr_find_plot(lrs, losses, suggestion, title), path)

    table = Table(title=f"lr-find {escape(setup.name)} — {escape(setup.summary)}", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("value")
    ratio = (end / start) ** (1 / (steps - 1))
    table.add_row("η range", f"{start:g} … {end:g}, {steps} steps (×{ratio:.4g} per step)")
    stopped = f", stopped early at η = {start * ratio ** len(lrs):.3g} (the loss diverged)" if len(lrs) < steps else ""
    table.add_row("recorded", f"{len(lrs)} steps{stopped}")
    if len(lrs):
        i = int(np.argmin(losses))
        table.add_row("minimum", f"loss {losses[i]:.4g} at η = {lrs[i]:.4g}")
    if math.isfinite(suggestion):
        j = int(np.argmin(np.abs(np.log(lrs) - math.log(suggestion))))
        table.add_row("suggestion", f"η = {suggestion:.4g} (loss there {losses[j]:.4g}; steepest descent of the "
                                    "smoothed loss on log axes)")
    console.print(table)
    if math.isfinite(suggestion):
        print(f"suggested learning rate: {suggestion:.4g}")
    else:
        print(f"no suggestion: only {len(lrs)} step(s) recorded before the loss diverged (try a smaller --start "
              "or --end, or more --steps)")
    print(f"plot: {path}")
    return 0 if math.isfinite(suggestion) else 1


def _fmt_time(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else ""


def _cmd_runs(args) -> int:
    from rich.markup import escape
    from rich.table import Table

    with _open_for_reading(args.store) as store:
        if args.sweep is not None:
            if args.sweep not in {w.id for w in store.sweeps()}:
                return _err(f"no sweep {args.sweep} in {store.path}")
            runs = store.sweep_runs(args.sweep, status=args.status)
        else:
            runs = store.runs(args.experiment, status=args.status, limit=args.limit)
        path = store.path
    console = _console()
    if not runs:
        console.print(f"no runs in {escape(str(path))}" + (f" for {escape(args.experiment)}" if args.experiment else ""))
        return 0
    table = Table(title=f"runs in {escape(str(path))}", title_justify="left")
    for col in ("id", "experiment", "status", "seed", "started", "time", "claims hold", "version", "error"):
        table.add_column(col, no_wrap=col not in ("error", "experiment"))
    colors = {"done": "green", "running": "cyan", "failed": "red", "crashed": "magenta"}
    for r in runs:
        claims = (r.result or {}).get("claims") or []
        held = f"{sum(c['holds'] for c in claims)}/{len(claims)}" if claims else ""
        took = f"{r.duration:.1f} s" if r.duration is not None else ""
        err = r.error_line
        table.add_row(str(r.id), escape(r.experiment), f"[{colors[r.status]}]{r.status}[/]",
                      "" if r.seed is None else str(r.seed), _fmt_time(r.started), took, held,
                      escape(r.version or ""), escape(err[:80] + ("…" if len(err) > 80 else "")))
    console.print(table)
    return 0


def _cmd_report(args) -> int:
    from .lab.runner import render_run_report, reports_root
    from .store import Store

    with Store(args.store) as store:
        target = args.target
        if target == "lecture":
            indexes = sorted(reports_root(store).glob("lecture-*/index.html"), key=lambda p: p.stat().st_mtime)
            if not indexes:
                return _err(f"no lecture report under {reports_root(store)} (run `layerlab run lecture`)")
            print(indexes[-1])
            return 0
        if target.isdigit():
            try:
                info = store.get_run(int(target))
            except KeyError as e:
                return _err(e.args[0])
        else:
            info = store.latest_run(target, status="done") or store.latest_run(target)
            if info is None:
                known = sorted({r.experiment for r in store.runs()})
                return _err(f"no runs of {target!r} in {store.path}"
                            + (f" (runs exist for: {', '.join(known)})" if known else ""))
        existing = [Path(a.path) for a in store.artifacts(info.id, "report") if Path(a.path).exists()]
        if existing and not args.rerender and args.out is None:
            print(existing[-1])
            return 0
        print(render_run_report(store, info.id, out_dir=args.out))
    return 0


def _cmd_sweep(args) -> int:
    from .sweep import cli_sweep

    return cli_sweep(args, console=_console())


def _cmd_search(args) -> int:
    from .search import cli_search

    return cli_search(args)


def _cmd_bench(args, extra: list[str]) -> int:
    try:
        from . import bench
    except ModuleNotFoundError as e:
        if e.name == f"{__package__}.bench":
            return _err("the benchmarks are not available: layerlab.bench is missing from this installation")
        raise
    code = bench.main(extra)
    return int(code or 0)


# -- parser ------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="layerlab",
        description="layerlab: a NumPy deep-learning framework with explicit derivatives, "
                    "and a lab that shows how deep networks train.",
        list_experiments=True,
    )
    parser.add_argument("--version", action="version", version=f"layerlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("list", help="the experiments, one line each")
    p.add_argument("--topic", help="only this lecture topic")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("run", help="run an experiment (or `lecture`: all of them) and report its claims",
                       description="Run one experiment, or `lecture` for all of them: figures, report.html, "
                                   "claims.json and a table of verdicts. Exit status 1 only on errors: "
                                   "a claim that does not hold is a result.",
                       list_experiments=True)
    p.add_argument("name", metavar="NAME", help="an experiment name, or `lecture`")
    p.add_argument("--quick", action="store_true", help="the quick variant of each config (seconds)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (repeatable); bad keys list the valid ones")
    p.add_argument("--out", metavar="DIR", help="output directory (default: <store dir>/reports/...)")
    p.add_argument("--seed", type=int, default=0, help="the run's seed (default 0)")
    p.add_argument("--workers", type=_count(0), metavar="N",
                   help="N worker processes: the lecture's experiments, or one experiment's seeds and arms "
                        "(0: in this process; the numbers are the same either way)")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="a Dask scheduler, tcp://HOST:PORT: the experiments and their seeds and arms run there")
    p.add_argument("--store", metavar="PATH", help="the run store (default $LAYERLAB_HOME/runs.sqlite)")
    p.add_argument("--topic", metavar="TOPIC", help="with `lecture`: only the experiments of this topic")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("sweep", help="an experiment over a grid of config values × seeds (local workers or Dask)",
                       description="Run EXPERIMENT for every combination of the --grid values and every seed, on "
                                   "local worker processes or a Dask cluster; finished jobs in the store are not "
                                   "run again. A figure per swept key and a table are written.",
                       deferred_arguments=_arguments_of("sweep"))
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("search", help="automatic search for activation functions (Ramachandran et al. 2017)",
                       description="Random search plus an evolutionary step over the paper's space of unary and "
                                   "binary functions; every candidate is filtered, gradchecked and scored by a "
                                   "short training run on MNIST-1D. Prints a leaderboard.",
                       deferred_arguments=_arguments_of("search"))
    p.set_defaults(func=_cmd_search)

    p = sub.add_parser("runs", help="the runs in the store")
    p.add_argument("--experiment", "-e", help="only this experiment")
    p.add_argument("--status", choices=("running", "done", "failed", "crashed"))
    p.add_argument("--sweep", type=_count(1), metavar="ID", help="only the runs of this sweep")
    p.add_argument("--limit", "-n", type=_count(1), default=50, help="the newest N runs (default 50)")
    p.add_argument("--store", metavar="PATH", help="the run store (default $LAYERLAB_HOME/runs.sqlite)")
    p.set_defaults(func=_cmd_runs)

    p = sub.add_parser("report", help="the path of a run's report (re-rendered from the store if missing)")
    p.add_argument("target", metavar="RUN_OR_EXPERIMENT",
                   help="a run id, an experiment name (its latest run) or `lecture` (the latest index)")
    p.add_argument("--rerender", action="store_true", help="re-render from the stored claims even if it exists")
    p.add_argument("--out", metavar="DIR", help="write the re-rendered report here")
    p.add_argument("--store", metavar="PATH", help="the run store (default $LAYERLAB_HOME/runs.sqlite)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("lr-find", help="Smith's learning-rate range test (Trainer.lr_find) on a named set-up",
                       description="Run Trainer.lr_find on a named set-up (layerlab.lab.setups): η grows "
                                   "geometrically from --start to --end over --steps mini-batches. Prints the "
                                   "suggested η (the steepest descent of the smoothed loss) and writes a plot "
                                   "(default: $LAYERLAB_HOME/reports/lr_find/lr_find-SETUP-seedN.png).\n\n"
                                   "set-ups: notes_fashion (784-500-500-500-10 tanh, Fashion-MNIST), "
                                   "fashion_relu (784-256-256-10 ReLU, Fashion-MNIST), spirals (2-64-64-2 tanh, "
                                   "no download)")
    p.add_argument("setup", metavar="SETUP", help="a set-up name: notes_fashion, fashion_relu, spirals")
    p.add_argument("--start", default="1e-7", metavar="ETA", help="the first η (default 1e-7)")
    p.add_argument("--end", default="10", metavar="ETA", help="the last η (default 10)")
    p.add_argument("--steps", default="100", metavar="N", help="mini-batches, one η each (default 100, >= 2)")
    p.add_argument("--seed", default="0", metavar="N", help="initial weights and data order (default 0)")
    p.add_argument("--out", metavar="DIR", help="where the plot goes (default $LAYERLAB_HOME/reports/lr_find)")
    p.set_defaults(func=_cmd_lr_find)

    p = sub.add_parser("demo", help="the engine alone, the notes' MNIST network, then `run lecture --quick`")
    p.add_argument("--steps", type=_count(1), default=1000, help="steps of the spirals example (≥ 1)")
    p.add_argument("--epochs", type=_count(0), default=3, help="epochs of the Fashion-MNIST network (0 skips it)")
    p.add_argument("--no-lecture", dest="lecture", action="store_false", help="skip the lecture's experiments")
    p.set_defaults(func=_cmd_demo)

    # `layerlab bench ARGS...`: every argument goes to layerlab.bench.main(list_of_args).
    p = sub.add_parser("bench", help="benchmarks: layerlab vs PyTorch vs plain NumPy (layerlab.bench)",
                       add_help=False)
    p.set_defaults(func=_cmd_bench, takes_extra=True)
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")  # never a GUI window from the command line
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "takes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        if getattr(args, "takes_extra", False):
            return args.func(args, extra)
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _store_error() as e:
        return _err(str(e))
    except OSError as e:  # a directory we cannot create or write (LAYERLAB_HOME, --out): one line, no traceback
        where = f": {e.filename}" if e.filename else ""
        return _err(f"{e.strerror or e}{where}")


if __name__ == "__main__":
    sys.exit(main())
