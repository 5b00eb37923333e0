"""``layerlab bench``: layerlab side by side with PyTorch's eager mode and a hand-written NumPy loop.

Workloads (synthetic data of the right shape, so no download is needed):

- W1: 784-500-500-500-10 tanh, cross-entropy, SGD η = 0.5, batch 256, float32 (the notes' MNIST net) — training.
- W2: 784 → 7 × (Linear 100 → BatchNorm → sigmoid) → 10, SGD with momentum, batch 60 — training.
- W3: 784 → 100 → 6 × 50 ReLU → 10, He init, Adam, batch 128 — training.
- W4: W1 in eval mode, batch 1024 — inference.
- W5: W1 with ActivationStats + GradientStats probes (default sampling) vs W1 without — layerlab's probe cost.

Runs alternate A, B, A, B after a warm-up; the table shows median samples/s and the ratio
layerlab / peer with its min–max over the pairs. Peak memory (RSS) of each framework is
measured in a child process that runs only that framework. Ratios measured side by side in
one run are what counts: these machines are shared and noisy. PyTorch is imported only
when asked for (``--vs torch``); it is a dev extra, not a dependency.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

__all__ = ["WORKLOADS", "build", "measure", "main"]

WORKLOADS = {
    "W1": "784-500-500-500-10 tanh, CE, SGD η=0.5, batch 256 (train)",
    "W2": "784-7×(100, BN, sigmoid)-10, SGD momentum, batch 60 (train)",
    "W3": "784-100-6×50-10 ReLU, He, Adam, batch 128 (train)",
    "W4": "W1 in eval mode, batch 1024 (inference)",
    "W5": "W1 + ActivationStats + GradientStats (peer: W1 without probes)",
}
BATCH = {"W1": 256, "W2": 60, "W3": 128, "W4": 1024, "W5": 256}


def _data(workload: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = BATCH[workload]
    x = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n)
    return x, y


def _weights(sizes, init: str, seed: int):
    """Shared initial weights (out, in) so that every framework starts from the same point."""
    rng = np.random.default_rng(seed)
    out = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        std = (2.0 / a) ** 0.5 if init == "he" else (2.0 / (a + b)) ** 0.5
        out.append(((rng.standard_normal((b, a)) * std).astype(np.float32), np.zeros(b, np.float32)))
    return out


SPECS = {
    "W1": ([784, 500, 500, 500, 10], "tanh", "xavier"),
    "W2": ([784] + [100] * 7 + [10], "sigmoid", "xavier"),
    "W3": ([784, 100] + [50] * 6 + [10], "relu", "he"),
}


def _spec(workload):
    return SPECS["W1" if workload in ("W4", "W5") else workload]


# -- layerlab -------------------------------------------------------------------------------------------
def _layerlab(workload: str, seed: int, probes_on: bool = False):
    from . import nn, optim, probes
    from .tensor import Tensor, no_grad

    sizes, act, init = _spec(workload)
    layers = []
    for i, (w, b) in enumerate(_weights(sizes, init, seed)):
        lin = nn.Linear(w.shape[1], w.shape[0])
        lin.weight.data[...] = w
        lin.bias.data[...] = b
        layers.append(lin)
        if i < len(sizes) - 2:
            if workload == "W2":
                layers.append(nn.BatchNorm(w.shape[0]))
            layers.append(nn.activation(act))
    model = nn.Sequential(*layers)
    x, y = _data(workload, seed)
    xt, yt = Tensor(x), Tensor(y)
    loss_fn = nn.CrossEntropyLoss()
    if workload == "W4":
        model.eval()

        def infer():
            with no_grad():
                return float(model(xt).data[0, 0])
        return infer
    opt = {"W1": lambda p: optim.SGD(p, lr=0.5), "W2": lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
           "W3": lambda p: optim.Adam(p, lr=1e-3), "W5": lambda p: optim.SGD(p, lr=0.5)}[workload](model.parameters())
    if workload == "W5":
        from .train import Trainer

        cbs = [probes.ActivationStats(model), probes.GradientStats(model)] if probes_on else []
        trainer = Trainer(model, loss_fn, opt, callbacks=cbs, metrics=(), progress=False)
        for cb in trainer.callbacks:
            cb.on_fit_start(trainer)
        trainer._epoch_sums = None

        def step():
            batch = (x, y)
            trainer._call("on_batch_start", trainer.step, batch)
            loss, _ = trainer._train_step(x, y)
            trainer.step += 1
            trainer._call("on_batch_end", trainer.step - 1, {"loss": loss, "lr": 0.5})
            return loss
        return step

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        return loss.item()
    return step


# -- PyTorch --------------------------------------------------------------------------------------------
def _torch(workload: str, seed: int):
    import torch

    sizes, act, init = _spec(workload)
    layers = []
    for i, (w, b) in enumerate(_weights(sizes, init, seed)):
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(sizes) - 2:
            if workload == "W2":
                layers.append(torch.nn.BatchNorm1d(w.shape[0]))
            layers.append({"tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU}[act]())
    model = torch.nn.Sequential(*layers)
    x, y = _data(workload, seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()
    if workload == "W4":
        model.eval()

        def infer():
            with torch.no_grad():
                return float(model(xt)[0, 0])
        return infer
    opt = {"W1": lambda p: torch.optim.SGD(p, lr=0.5), "W5": lambda p: torch.optim.SGD(p, lr=0.5),
           "W2": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
           "W3": lambda p: torch.optim.Adam(p, lr=1e-3)}[workload](model.parameters())

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        return loss.item()
    return step


# -- the hand-written NumPy loop (W1): the practical limit ----------------------------------------------
def _numpy(workload: str, seed: int):
    if workload != "W1":
        raise ValueError(f"the hand-written NumPy loop exists for W1 only, not {workload}")
    sizes, _, init = _spec(workload)
    params = [(w.copy(), b.copy()) for w, b in _weights(sizes, init, seed)]
    x, y = _data(workload, seed)
    n = len(x)
    rows = np.arange(n)
    lr = np.float32(0.5)

    def step():
        hs = [x]
        for w, b in params[:-1]:
            h = hs[-1] @ w.T
            h += b
            np.tanh(h, out=h)
            hs.append(h)
        w, b = params[-1]
        z = hs[-1] @ w.T
        z += b
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        loss = -float(np.log(z[rows, y]).mean())
        z[rows, y] -= 1.0
        z /= n
        g = z
        for i in range(len(params) - 1, -1, -1):
            w, b = params[i]
            gw = g.T @ hs[i]
            gb = g.sum(axis=0)
            if i:
                g = g @ w
                h = hs[i]
                g *= 1.0 - h * h
            w -= lr * gw
            b -= lr * gb
        return loss
    return step


def build(workload: str, framework: str, seed: int = 0):
    """A zero-argument step function for ``workload`` in ``framework`` ("layerlab", "torch", "numpy")."""
    if framework == "layerlab":
        return _layerlab(workload, seed, probes_on=workload == "W5")
    if framework == "torch":
        return _torch(workload, seed)
    if framework == "numpy":
        return _numpy(workload, seed)
    if framework == "layerlab-noprobes":
        return _layerlab(workload, seed, probes_on=False)
    raise ValueError(f"unknown framework {framework!r}")


def measure(fa, fb, steps: int, repeat: int, warmup: int = 3):
    """Alternate A, B, A, B; return the per-round samples/s of each (as seconds per step)."""
    for _ in range(warmup):
        fa()
        fb()
    ta, tb = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(steps):
            fa()
        ta.append((time.perf_counter() - t) / steps)
        t = time.perf_counter()
        for _ in range(steps):
            fb()
        tb.append((time.perf_counter() - t) / steps)
    return np.array(ta), np.array(tb)


def _peak_rss_mb(workload: str, framework: str, steps: int = 5) -> float | None:
    """Peak RSS of a child process that builds and runs only this framework's workload."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork + exec, so a child would report its parent's peak
    code = ("import sys; from layerlab.bench import build; f = build(sys.argv[1], sys.argv[2]); "
            f"[f() for _ in range({steps})]; "
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    try:
        out = subprocess.run([sys.executable, "-c", code, workload, framework], capture_output=True, text=True,
                             timeout=300, check=True)
        return int(out.stdout.strip().splitlines()[-1]) / 1024.0
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None


def _threads() -> int:
    try:
        from threadpoolctl import threadpool_info

        return max((p.get("num_threads", 1) for p in threadpool_info()), default=1)
    except ImportError:
        return int(os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="layerlab bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", "-w", action="append", choices=sorted(WORKLOADS),
                        help="workloads to run (default: all)")
    parser.add_argument("--vs", action="append", choices=("torch", "numpy"), default=None,
                        help="peers (default: torch and numpy)")
    parser.add_argument("--repeat", type=int, default=7, help="A/B rounds (default 7)")
    parser.add_argument("--steps", type=int, default=10, help="steps per round (default 10)")
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak-RSS children")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = parser.parse_args(argv)
    workloads = args.workload or list(WORKLOADS)
    peers = args.vs or ["torch", "numpy"]
    threads = _threads()
    if "torch" in peers:
        try:
            import torch
        except ImportError:
            print("layerlab bench: --vs torch needs PyTorch (pip install 'layerlab[dev]')", file=sys.stderr)
            return 2
        torch.set_num_threads(threads)

    from rich.console import Console
    from rich.table import Table

    console = Console()
    load = os.getloadavg()
    results = []
    for w in workloads:
        pairs = [("layerlab-noprobes", "layerlab W1, no probes")] if w == "W5" else \
            [(p, p) for p in peers if not (p == "numpy" and w != "W1")]
        for peer, peer_label in pairs:
            a, b = build(w, "layerlab"), build(w, peer)
            ta, tb = measure(a, b, args.steps, args.repeat)
            n = BATCH[w]
            ratio = tb / ta  # (samples/s of layerlab) / (samples/s of peer)
            row = {"workload": w, "peer": peer_label, "layerlab_samples_s": float(np.median(n / ta)),
                   "peer_samples_s": float(np.median(n / tb)), "ratio_median": float(np.median(ratio)),
                   "ratio_min": float(ratio.min()), "ratio_max": float(ratio.max())}
            if args.memory and w != "W5":
                row["layerlab_rss_mb"] = _peak_rss_mb(w, "layerlab")
                row["peer_rss_mb"] = _peak_rss_mb(w, peer)
            results.append(row)
            console.print(f"{w} vs {peer_label}: ratio {row['ratio_median']:.2f}")
    table = Table(title=f"layerlab bench — {os.cpu_count()} cores, {threads} BLAS/torch thread(s), "
                        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {args.repeat} A/B rounds × "
                        f"{args.steps} steps", title_justify="left")
    for col in ("workload", "peer", "layerlab samples/s", "peer samples/s", "ratio (median)", "ratio min–max",
                "RSS layerlab", "RSS peer"):
        table.add_column(col, justify="left" if col in ("workload", "peer") else "right")
    for r in results:
        mem = lambda v: "-" if v is None else f"{v:.0f} MB"  # noqa: E731
        table.add_row(r["workload"], r["peer"], f"{r['layerlab_samples_s']:.0f}", f"{r['peer_samples_s']:.0f}",
                      f"{r['ratio_median']:.2f}×", f"{r['ratio_min']:.2f}–{r['ratio_max']:.2f}",
                      mem(r.get("layerlab_rss_mb")), mem(r.get("peer_rss_mb")))
    console.print(table)
    for w in workloads:
        console.print(f"  {w}: {WORKLOADS[w]}")
    if args.json:
        from .fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps({"load": load, "threads": threads, "cores": os.cpu_count(),
                                                 "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
