"""Informal measurement: the same sweep on 1 and on 2 local worker processes (``layerlab.sweep``).

The set-up: ``init_identity --quick`` (about a second per run on one core) over 12 configurations
(width ∈ {100, 200, 300} × depth ∈ {3, 4, 5, 6}) × 2 seeds = 24 runs, each time into a fresh temporary
store (so nothing is cached), first with ``workers=1`` then with ``workers=2``. Reported: both wall times
(including starting the worker processes and recording every run in the store), their ratio, and the load
average before and after. With 2 cores and a quiet machine the ratio approaches 2; a busy machine gives less.

    .venv/bin/python benchmarks/sweep_speed.py [--experiment init_identity] [--seeds 2] [--threads 1]

Not a test: timings depend on the machine, and nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import _threads  # noqa: F401  (sets the BLAS/OpenMP thread count before NumPy loads)

from layerlab import sweep  # noqa: E402
from layerlab.store import Store  # noqa: E402

GRID = {"width": [100, 200, 300], "depth": [3, 4, 5, 6]}


def timed_sweep(experiment: str, grid: dict, seeds: int, workers: int) -> tuple[float, sweep.SweepOutcome]:
    with tempfile.TemporaryDirectory(prefix="layerlab-sweep-bench-") as tmp, Store(os.path.join(tmp, "runs.db")) as db:
        t = time.perf_counter()
        out = sweep.run_sweep(experiment, grid, seeds=seeds, workers=workers, quick=True, store=db,
                              out_dir=os.path.join(tmp, "out"), show=False)
        return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", default="init_identity")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--threads", default="1", help="BLAS/OpenMP threads per process (read by _threads)")
    args = ap.parse_args()
    n_cells = 1
    for values in GRID.values():
        n_cells *= len(values)
    print(f"{args.experiment} --quick: {n_cells} configurations × {args.seeds} seeds = {n_cells * args.seeds} runs; "
          f"load before {os.getloadavg()[0]:.2f}", flush=True)
    times = {}
    for workers in (1, 2):
        took, out = timed_sweep(args.experiment, GRID, args.seeds, workers)
        times[workers] = took
        print(f"  {workers} worker(s): {took:7.1f} s wall  ({out.n_done} done, {out.n_failed} failed)", flush=True)
    print(f"  ratio 1 worker / 2 workers: {times[1] / times[2]:.2f}×   (load after {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
