"""Where a training step's time goes: per-phase CPU time, and optionally a cProfile listing.

    .venv/bin/python benchmarks/profile_step.py W2 [--framework layerlab] [--steps 200]
                                                [--threads 1] [--profile 25]

For layerlab it times forward, loss, backward and optimiser step separately (CPU time of
the process, best of 5 rounds, which is robust to other load on the machine); for the
other frameworks the whole step. ``--profile N`` adds cProfile's N most expensive
functions (by own time) — what was used to find the overheads removed for ``layerlab bench``.
Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os

import _threads  # noqa: E402,F401  (sets the BLAS/OpenMP thread count before NumPy loads)

import time  # noqa: E402

import numpy as np  # noqa: E402

from layerlab import bench, nn  # noqa: E402
from layerlab.tensor import Tensor  # noqa: E402


def phases(workload: str, steps: int, rounds: int = 5) -> dict:
    """Best-of-``rounds`` CPU ms per step of forward, loss, backward, step for a layerlab training workload."""
    w = bench.WORKLOADS[workload]
    if not w.train:
        raise SystemExit(f"{workload} is an inference workload: use --framework to time its whole step")
    model = bench._layerlab_model(w, 0)
    opt = bench._layerlab_optimizer(w, list(model.parameters()))
    loss_fn = nn.CrossEntropyLoss()
    xs, ys = bench.synthetic_batches(workload)
    batches = [(Tensor(x), Tensor(y)) for x, y in zip(xs, ys)]
    clock = time.process_time
    best = None
    for r in range(rounds + 1):  # the first round warms up
        t = np.zeros(4)
        for i in range(steps):
            x, y = batches[i % len(batches)]
            t0 = clock()
            opt.zero_grad()
            out = model(x)
            t1 = clock()
            loss = loss_fn(out, y)
            t2 = clock()
            loss.backward()
            t3 = clock()
            opt.step()
            t[:] += (t1 - t0, t2 - t1, t3 - t2, clock() - t3)
        if r:
            best = t if best is None or t.sum() < best.sum() else best
    ms = best / steps * 1e3
    return {"forward": ms[0], "loss": ms[1], "backward": ms[2], "optimizer": ms[3], "total": ms.sum()}


def whole(workload: str, framework: str, steps: int, rounds: int = 5) -> float:
    if framework == "torch":
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    runner = bench.build(workload, framework)
    runner.run(3)
    best = float("inf")
    for _ in range(rounds):
        t = time.process_time()
        runner.run(steps)
        best = min(best, (time.process_time() - t) / steps * 1e3)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload", choices=list(bench.WORKLOADS))
    ap.add_argument("--framework", default="layerlab", choices=bench.FRAMEWORKS)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--threads", default="1", help="BLAS/OpenMP threads (set before NumPy loads); default 1")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="also print cProfile's top N functions")
    args = ap.parse_args()
    if args.framework == "layerlab" and bench.WORKLOADS[args.workload].train and not bench.WORKLOADS[args.workload].probes:
        ph = phases(args.workload, args.steps)
        print(f"{args.workload} layerlab, CPU ms/step: " + ", ".join(f"{k} {v:.3f}" for k, v in ph.items()))
    else:
        print(f"{args.workload} {args.framework}, CPU ms/step: {whole(args.workload, args.framework, args.steps):.3f}")
    if args.profile:
        import cProfile
        import pstats

        runner = bench.build(args.workload, args.framework)
        runner.run(3)
        prof = cProfile.Profile()
        prof.runcall(runner.run, args.steps)
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
