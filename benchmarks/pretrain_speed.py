"""Informal measurement: greedy layer-wise pre-training of a 784-500-500-500 stack (issue 11's acceptance).

The set-up: 10,000 Fashion-MNIST training images (a seeded random subset, pixels in [0, 1], float32), a
784-500-500-500(-10) sigmoid MLP, ``layerlab.pretrain.greedy_layerwise`` with the autoencoder method (untied
linear decoder, Adam η = 1e-3, batch 64), 1 epoch per hidden layer. Reported: the wall time and process CPU
time of the whole pre-training and per layer (a layer's time includes measuring its reconstruction error on
all 10,000 images before and after the epoch), the thread count and the load average before and after.

    .venv/bin/python benchmarks/pretrain_speed.py [--threads 1] [--method autoencoder] [--batch-size 64]

Target: < 2 minutes wall time on the project's 2-core machine. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import time

import _threads  # noqa: F401  (sets the BLAS/OpenMP thread count before NumPy loads)

import numpy as np  # noqa: E402

from layerlab import nn  # noqa: E402
from layerlab.lab.training import fashion  # noqa: E402
from layerlab.pretrain import greedy_layerwise  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1")
    ap.add_argument("--method", default="autoencoder", choices=("autoencoder", "denoising", "rbm"))
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()

    (x, _), _ = fashion(n_train=args.n, n_test=10, rng=np.random.default_rng(0))
    rng = np.random.default_rng(0)
    sizes = [784, 500, 500, 500, 10]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, rng=rng))
        if i < len(sizes) - 2:
            layers.append(nn.Sigmoid())
    model = nn.Sequential(*layers)

    load0 = os.getloadavg()
    w0, c0 = time.perf_counter(), time.process_time()
    reports = greedy_layerwise(model, x, method=args.method, epochs=args.epochs, batch_size=args.batch_size,
                               seed=0, progress=False)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    load1 = os.getloadavg()

    print(f"greedy_layerwise({args.method}), 784-500-500-500 sigmoid, {len(x):,} Fashion-MNIST images, "
          f"{args.epochs} epoch(s)/layer, batch {args.batch_size}, float32, {os.environ['OMP_NUM_THREADS']} thread(s)")
    for r in reports:
        print(f"  {r.name:28s} {r.seconds:6.1f} s   reconstruction error {r.errors[0]:8.3f} -> {r.errors[-1]:8.3f}")
    print(f"total: wall {wall:.1f} s, CPU {cpu:.1f} s (target: < 120 s wall)  -> {'OK' if wall < 120 else 'SLOW'}")
    print(f"load average (1, 5, 15 min): before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, "
          f"after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
