"""Informal measurement: the extra time per training step that each probe costs.

The set-up of the issue's acceptance criterion: a 784-500-500-500-10 tanh MLP,
cross-entropy, SGD, batch 256, float32, on random inputs (the cost does not depend
on the data). Each configuration trains for ``--steps`` steps after a warm-up.

    .venv/bin/python benchmarks/probe_cost.py [--steps 40] [--repeats 9] [--threads 1] [--only NAME ...]

Timing: process CPU time (``time.process_time``) with one BLAS thread by default. A round
times the fit without probes, then every configuration; each configuration's overhead in a
round is relative to that round's probe-free fit, and the table gives the median over the
rounds with its min–max (a burst of load from other processes hits a round, not one side).

Two numbers per configuration:

- ``overhead``: (fit time with the probes) / (fit time without) − 1, median over rounds —
  everything the probes cost, cache pollution included, but as noisy as the machine;
- ``in probes``: the CPU time spent inside the probes' own code (their Trainer callbacks and
  ``_observe``, the statistics of a forward hook) per step, as a % of a probe-free step —
  a lower bound of the overhead that is far less noisy on a shared machine.

The probes' counting loops (histogram bins, gradient signs: ``layerlab/probes/_loops.py``) are
compiled with numba like the training kernels; ``LAYERLAB_JIT=0`` measures the NumPy paths instead
(the header says which ran).

Not a test: timings depend on the machine. The target (issue [perf]): ActivationStats +
GradientStats at their default sampling cost ≤ 5 % of a step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import _threads  # noqa: E402,F401  (sets the BLAS/OpenMP thread count before NumPy loads)

import numpy as np  # noqa: E402

from layerlab import data, nn, optim  # noqa: E402
from layerlab.probes import ActivationStats, GradientStats, Symmetry, UpdateRatio  # noqa: E402
from layerlab.train import Trainer  # noqa: E402

# what a probe runs of its own: its callbacks, and the statistics its forward hooks compute
_TIMED = ("on_fit_start", "on_epoch_start", "on_batch_start", "on_after_backward", "on_batch_end",
          "on_epoch_end", "on_fit_end", "_observe")


def make_model(seed=0):
    rng = np.random.default_rng(seed)
    sizes = [784, 500, 500, 500, 10]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, init="xavier_normal", rng=rng))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def _clock_probe(probe, spent: list):
    """Wrap the probe's own methods (on this instance) so that their CPU time adds up in spent[0]."""
    for name in _TIMED:
        fn = getattr(probe, name, None)
        if fn is None:
            continue

        def timed(*args, _fn=fn, **kwargs):
            t0 = time.process_time()
            try:
                return _fn(*args, **kwargs)
            finally:
                spent[0] += time.process_time() - t0
        setattr(probe, name, timed)
    return probe


def time_fit(make_probes, steps, batch=256, seed=0) -> tuple[float, float]:
    """(CPU seconds per step of the fit, CPU seconds per step inside the probes)."""
    rng = np.random.default_rng(seed)
    n = steps * batch
    x = rng.standard_normal((n, 784)).astype(np.float32)
    y = rng.integers(0, 10, n)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=batch, shuffle=False)
    model = make_model(seed)
    spent = [0.0]
    probes = [_clock_probe(p, spent) for p in make_probes()]
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01),
                      callbacks=probes, metrics=(), progress=False)
    t0 = time.process_time()
    trainer.fit(loader, epochs=1)
    return (time.process_time() - t0) / steps, spent[0] / steps


CONFIGS = {
    "none": lambda: [],
    "ActivationStats()": lambda: [ActivationStats()],
    "GradientStats()": lambda: [GradientStats()],
    "Act + Grad (W5)": lambda: [ActivationStats(), GradientStats()],
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
    ap.add_argument("--repeats", type=int, default=9, help="rounds (each: no probes, then every configuration)")
    ap.add_argument("--threads", default="1", help="BLAS threads (set before NumPy loads); default 1")
    ap.add_argument("--only", nargs="*", help="run only these configurations (names as printed)")
    args = ap.parse_args()
    unknown = [k for k in args.only or () if k not in CONFIGS]
    if unknown:
        ap.error(f"unknown configuration(s) {unknown}; choose from {list(CONFIGS)}")
    configs = {k: v for k, v in CONFIGS.items() if not args.only or k in args.only or k == "none"}
    time_fit(CONFIGS["all four (every=1)"], 5)  # warm-up: BLAS, the compiled kernels (numba's first load or compile)
    fit = {name: [] for name in configs}
    inside = {name: [] for name in configs}
    for _ in range(args.repeats):  # a round: no probes first, then each configuration
        for name, make in configs.items():
            t, p = time_fit(make, args.steps)
            fit[name].append(t)
            inside[name].append(p)
    base = fit["none"]
    step = statistics.median(base)
    from layerlab.kernels import jit_enabled

    print(f"{args.repeats} rounds of {args.steps} steps, {args.threads} BLAS thread(s); CPU time; compiled loops "
          + ("on (numba)" if jit_enabled() else "off (NumPy)"))
    print(f"{'probes':26s} {'ms/step':>8s} {'overhead (min–max)':>24s} {'in probes':>10s}")
    for name in configs:
        ms = statistics.median(fit[name]) * 1e3
        if name == "none":
            print(f"{name:26s} {ms:8.2f}")
            continue
        over = [100 * (t / b - 1) for t, b in zip(fit[name], base)]
        own = 100 * statistics.median(inside[name]) / step
        spread = f"({min(over):+.1f} … {max(over):+.1f})"
        print(f"{name:26s} {ms:8.2f} {statistics.median(over):+7.1f}% {spread:>16s} {own:9.2f}%")


if __name__ == "__main__":
    main()
