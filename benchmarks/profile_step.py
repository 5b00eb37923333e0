"""Where a training step's time goes: per-phase CPU time, and optionally a cProfile listing.

    .venv/bin/python benchmarks/profile_step.py W2 [--framework layerlab] [--steps 200]
                                                [--threads 1] [--profile 25]

For layerlab it times forward, loss, backward and optimiser step separately (CPU time of
the process, best of 5 rounds, which is robust to other load on the machine); for the
other frameworks the whole step. ``--profile N`` adds cProfile's N most expensive
functions (by own time) — what was used to find the overheads removed for ``layerlab bench``.

W6 (``Trainer.fit`` on Fashion-MNIST) adds what the training loop costs over the bare step: the
CPU time per step of ``Trainer.fit`` against a bare loop (fancy-index batch, forward, loss,
backward, Adam, scheduler) in alternating rounds of the same process, and with ``--profile N``
cProfile's own time of one ``fit`` grouped by where it is spent (GEMM + Linear, the optimiser,
dropout, activations, loss, autograd, data, Trainer, scheduler).
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


def fit_vs_bare(steps: int, rounds: int = 9) -> tuple[float, float]:
    """W6: median CPU ms per step of ``Trainer.fit`` and of a bare layerlab loop on the same recipe
    (the same model, optimiser, schedule and batch gathering), in alternating rounds of ``steps``."""
    from layerlab.tensor import Tensor

    w = bench.WORKLOADS["W6"]
    fit = bench.build("W6", "layerlab")
    trainer, loader = bench.w6_trainer()
    x, y = loader.dataset.arrays
    model, opt, sched, loss_fn = trainer.model, trainer.optimizer, trainer.scheduler, trainer.loss_fn
    model.train()
    order = np.random.default_rng(0).permutation(len(x))
    at = [0]

    def bare(k):
        for _ in range(k):
            i = at[0] % (len(x) // w.batch)
            at[0] += 1
            idx = order[i * w.batch:(i + 1) * w.batch]
            out = model(Tensor(x[idx]))
            loss = loss_fn(out, Tensor(y[idx]))
            opt.zero_grad()
            loss.backward()
            loss.item()
            opt.step()
            sched.step()
    try:
        fit.run(10)
        bare(10)
        a, b = [], []
        for _ in range(rounds):
            t = time.process_time()
            fit.run(steps)
            a.append(time.process_time() - t)
            t = time.process_time()
            bare(steps)
            b.append(time.process_time() - t)
    finally:
        fit.close()
    return float(np.median(a)) / steps * 1e3, float(np.median(b)) / steps * 1e3


#: where own time is spent, by "file:function" (the first group with a matching key wins)
_GROUPS = (("scheduler", ("optim/schedulers.py",)),
           ("optimiser", ("optim/", "kernels.py:adam", "kernels.py:sub_scaled", "kernels.py:_adam", "kernels.py:_sub")),
           ("GEMM + Linear", ("nn/linear.py",)), ("dropout", ("nn/dropout.py", "'random' of")),
           ("activations", ("nn/activations.py", "kernels.py")), ("loss", ("nn/losses.py",)),
           ("autograd", ("tensor.py", "ops.py")), ("data (loader, gather)", ("data/",)),
           ("Trainer, callbacks, metrics", ("train.py",)), ("modules", ("nn/module.py",)))


def fit_split(steps: int, top: int = 0) -> dict:
    """cProfile's own time of one W6 ``Trainer.fit`` epoch of ``steps`` batches, grouped by ``_GROUPS``
    (the rest is "other"); prints the ``top`` functions too."""
    import cProfile
    import pstats

    x, y = bench.fashion_mnist_train()
    n = steps * bench.WORKLOADS["W6"].batch
    trainer, loader = bench.w6_trainer(data=(x[:n], y[:n]))
    trainer.fit(loader, epochs=1)  # the warm-up epoch
    prof = cProfile.Profile()
    prof.runcall(trainer.fit, loader, epochs=2)  # the second epoch, profiled
    st = pstats.Stats(prof)
    total = sum(v[2] for v in st.stats.values())
    out = {}
    for (file, _, func), v in st.stats.items():
        where = f"{file}:{func}"
        name = next((g for g, keys in _GROUPS if any(k in where for k in keys)), "other")
        out[name] = out.get(name, 0.0) + v[2]
    if top:
        st.sort_stats("tottime").print_stats(top)
    return {k: 100 * v / total for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload", choices=list(bench.WORKLOADS))
    ap.add_argument("--framework", default="layerlab", choices=bench.FRAMEWORKS)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--threads", default="1", help="BLAS/OpenMP threads (set before NumPy loads); default 1")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="also print cProfile's top N functions")
    args = ap.parse_args()
    if args.workload == "W6" and args.framework == "layerlab":
        ph = phases(args.workload, args.steps)
        print("W6 bare step, CPU ms/step: " + ", ".join(f"{k} {v:.3f}" for k, v in ph.items()))
        a, b = fit_vs_bare(args.steps)
        print(f"W6 Trainer.fit {a:.3f} CPU ms/step, bare loop {b:.3f}: the Trainer adds {a - b:+.3f} ms "
              f"({100 * (a / b - 1):+.1f}%)")
        if args.profile:
            split = fit_split(args.steps, args.profile)
            print("W6 Trainer.fit, cProfile own time: " + ", ".join(f"{k} {v:.1f}%" for k, v in split.items()))
        return
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
