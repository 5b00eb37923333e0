"""Informal measurement: the extra time per training step that each probe costs.

The set-up of the issue's acceptance criterion: a 784-500-500-500-10 tanh MLP,
cross-entropy, SGD, batch 256, float32, on random inputs (the cost does not depend
on the data). Each configuration trains for ``--steps`` steps after a warm-up; the
median of ``--repeats`` timings is reported with the overhead relative to no probe.

    .venv/bin/python benchmarks/probe_cost.py [--steps 40] [--repeats 3] [--threads 1]

Timing: process CPU time (``time.process_time``) with one BLAS thread by default, and
the minimum over repeats that interleave the configurations, which keeps the ratios
meaningful on a machine busy with other work (wall-clock medians on a loaded 2-core
machine were off by a factor of 2 and more).

Not a test: timings depend on the machine. The target is < 15 % at the default
sampling of each probe.
"""

from __future__ import annotations

import argparse
import time

import _threads  # noqa: E402,F401  (sets the BLAS/OpenMP thread count before NumPy loads)

import numpy as np  # noqa: E402

from layerlab import data, nn, optim  # noqa: E402
from layerlab.probes import ActivationStats, GradientStats, Symmetry, UpdateRatio  # noqa: E402
from layerlab.train import Trainer  # noqa: E402


def make_model(seed=0):
    rng = np.random.default_rng(seed)
    sizes = [784, 500, 500, 500, 10]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, init="xavier_normal", rng=rng))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def time_fit(make_probes, steps, batch=256, seed=0) -> float:
    rng = np.random.default_rng(seed)
    n = steps * batch
    x = rng.standard_normal((n, 784)).astype(np.float32)
    y = rng.integers(0, 10, n)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=batch, shuffle=False)
    model = make_model(seed)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01),
                      callbacks=make_probes(), metrics=(), progress=False)
    t0 = time.process_time()
    trainer.fit(loader, epochs=1)
    return (time.process_time() - t0) / steps


CONFIGS = {
    "none": lambda: [],
    "ActivationStats()": lambda: [ActivationStats()],
    "GradientStats()": lambda: [GradientStats()],
    "UpdateRatio()": lambda: [UpdateRatio()],
    "Symmetry()": lambda: [Symmetry()],
    "all four (defaults)": lambda: [ActivationStats(), GradientStats(), UpdateRatio(), Symmetry()],
    "ActivationStats(every=1)": lambda: [ActivationStats(every=1)],
    "GradientStats(every=1)": lambda: [GradientStats(every=1)],
    "UpdateRatio(every=1)": lambda: [UpdateRatio(every=1)],
    "Symmetry(every=1)": lambda: [Symmetry(every=1)],
    "all four (every=1)": lambda: [ActivationStats(every=1), GradientStats(every=1), UpdateRatio(every=1),
                                   Symmetry(every=1)],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="1", help="BLAS threads (set before NumPy loads); default 1")
    ap.add_argument("--only", nargs="*", help="run only these configurations (names as printed)")
    args = ap.parse_args()
    configs = {k: v for k, v in CONFIGS.items() if not args.only or k in args.only or k == "none"}
    time_fit(CONFIGS["none"], 5)  # warm-up
    best = {name: float("inf") for name in configs}
    for _ in range(args.repeats):  # interleaved, so that a burst of other load hits every configuration
        for name, make in configs.items():
            best[name] = min(best[name], time_fit(make, args.steps))
    base = best["none"]
    print(f"{'probes':28s} {'CPU ms/step':>11s} {'overhead':>9s}")
    for name, t in best.items():
        print(f"{name:28s} {t * 1e3:11.2f} {100 * (t / base - 1):8.1f}%")


if __name__ == "__main__":
    main()
