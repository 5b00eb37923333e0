"""The ``layerlab`` command.

    layerlab list                         the experiments, one line each
    layerlab run NAME [--quick] [--set key=value ...] [--out DIR] [--seed N]
    layerlab run lecture [--quick]        every experiment, with an index of all claims
    layerlab runs [--experiment NAME]     the runs in the store
    layerlab report RUN_OR_EXPERIMENT     the path of the latest report (re-rendered if missing)
    layerlab demo                         a short end-to-end example
    layerlab bench ...                    benchmarks (``layerlab.bench``)

The store is ``$LAYERLAB_HOME/runs.sqlite`` (default ``./runs/runs.sqlite``); reports go
next to it under ``reports/`` unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import __version__


# -- help that lists the experiments ----------------------------------------------------------------
def _experiments_help() -> str:
    try:
        from .lab import LOAD_PROBLEMS, all_experiments

        exps = all_experiments()
    except Exception as e:  # help must never crash
        return f"experiments: (could not load: {e})"
    if not exps:
        return "experiments: none registered yet"
    width = max(len(e.name) for e in exps)
    lines = ["experiments (layerlab run NAME; `lecture` runs them all):"]
    lines += [f"  {e.name:<{width}}  {e.summary}" for e in exps]
    if LOAD_PROBLEMS:
        lines.append(f"  (failed to import: {', '.join('lab.experiments.' + m for m, _ in LOAD_PROBLEMS)})")
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help can end with the list of experiments (built only when shown)."""

    def __init__(self, *args, list_experiments: bool = False, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self.list_experiments = list_experiments

    def format_help(self) -> str:
        text = super().format_help()
        return text + "\n" + _experiments_help() + "\n" if self.list_experiments else text


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


def _err(message: str) -> int:
    print(f"layerlab: {message}", file=sys.stderr)
    return 2


def _cmd_list(args) -> int:
    from rich.markup import escape
    from rich.table import Table

    from .lab import LOAD_PROBLEMS, all_experiments

    exps = all_experiments()
    if args.topic:
        exps = [e for e in exps if e.topic == args.topic]
    console = _console()
    table = Table(title=f"{len(exps)} experiments", title_justify="left")
    for col in ("name", "topic", "summary"):
        table.add_column(col, no_wrap=col != "summary")
    for e in exps:
        table.add_row(escape(e.name), escape(e.topic), escape(e.summary))
    console.print(table)
    for module, problem in LOAD_PROBLEMS:
        console.print(f"[yellow]warning: lab.experiments.{escape(module)} failed to import:[/] "
                      f"{escape(problem.strip().splitlines()[-1])}")
    return 0


def _cmd_run(args) -> int:
    from .lab import ConfigError
    from .lab.runner import run_experiment, run_lecture

    try:
        if args.name == "lecture":
            outcome = run_lecture(quick=args.quick, overrides=args.set, out_dir=args.out, seed=args.seed,
                                  store=args.store, console=_console())
            return 0 if outcome.ok else 1
        outcome = run_experiment(args.name, quick=args.quick, overrides=args.set, out_dir=args.out, seed=args.seed,
                                 store=args.store, console=_console())
    except KeyError as e:
        return _err(e.args[0] if e.args else str(e))
    except ConfigError as e:
        return _err(str(e))
    return 0 if outcome.ok else 1


def _fmt_time(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else ""


def _cmd_runs(args) -> int:
    from rich.markup import escape
    from rich.table import Table

    from .store import Store

    with Store(args.store) as store:
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
    p.add_argument("--store", metavar="PATH", help="the run store (default $LAYERLAB_HOME/runs.sqlite)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("runs", help="the runs in the store")
    p.add_argument("--experiment", "-e", help="only this experiment")
    p.add_argument("--status", choices=("running", "done", "failed", "crashed"))
    p.add_argument("--limit", "-n", type=int, default=50, help="the newest N runs (default 50)")
    p.add_argument("--store", metavar="PATH", help="the run store (default $LAYERLAB_HOME/runs.sqlite)")
    p.set_defaults(func=_cmd_runs)

    p = sub.add_parser("report", help="the path of a run's report (re-rendered from the store if missing)")
    p.add_argument("target", metavar="RUN_OR_EXPERIMENT",
                   help="a run id, an experiment name (its latest run) or `lecture` (the latest index)")
    p.add_argument("--rerender", action="store_true", help="re-render from the stored claims even if it exists")
    p.add_argument("--out", metavar="DIR", help="write the re-rendered report here")
    p.add_argument("--store", metavar="PATH", help="the run store (default $LAYERLAB_HOME/runs.sqlite)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("demo", help="the engine alone, the notes' MNIST network, then `run lecture --quick`")
    p.add_argument("--steps", type=int, default=1000, help="steps of the spirals example")
    p.add_argument("--epochs", type=int, default=3, help="epochs of the Fashion-MNIST network (0 skips it)")
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


if __name__ == "__main__":
    sys.exit(main())
