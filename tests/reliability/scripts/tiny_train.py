"""A tiny training run for the crash tests (tests/reliability/test_checkpoint_*.py, test_determinism.py).

A 5-16-3 tanh MLP with dropout, Adam with weight decay, OneCycleLR stepped per batch, a shuffling
loader (64 examples in batches of 8: 8 steps an epoch, 24 epochs or $TINY_EPOCHS), validation data
and accuracy:
every kind of state a resume has to restore. A ``Checkpoint`` every 4 steps (4 divides 8, so the
last step of every epoch is saved twice: at its batch end and again at the epoch end).

    python tiny_train.py run CKDIR OUT.json [--no-checkpoints]
        one process: resumes from CKDIR when it holds a checkpoint, trains to the end, writes a
        digest of the final state (weights, optimiser, scheduler, history, counters) to OUT.json and
        the final weights (``layerlab.save`` with five metadata entries) to OUT.json.safetensors.
        ``LAYERLAB_FAULT`` (see layerlab.checkpoint) kills it inside a checkpoint write;
        ``TINY_KILL=<hook>:<n>`` kills it with SIGKILL at a loop hook: ``batch_start``,
        ``after_backward``, ``batch_end`` (after the Checkpoint callback), ``pre_batch_end``
        (before it) at step n (counted from 1), ``epoch_end`` / ``pre_epoch_end`` at epoch n;
        ``<hook>:+k`` counts k steps (epochs) from where this process resumed.

    python tiny_train.py chain CKDIR OUT.json PLAN.json REPORT.json
        a supervisor: for every entry of the plan, forks a child that runs as ``run`` does with
        that entry's fault (``{"fault": "checkpoint:<point>"}``, ``{"kill": "<hook>:<n>"}`` or
        ``{"after": seconds}``: SIGKILL from the supervisor after that delay, with a kill 12 steps
        after the resume as a backstop so that no entry can run far), waits for it, and
        inspects the checkpoint directory; then a last child finishes the run and writes OUT.json.
        The supervisor itself never trains (it imported layerlab and nothing else happened in it),
        so each child starts from what a fresh interpreter would have, and resumes from disk only.
        REPORT.json: one record per entry (killed?, what ``latest`` names, whether that reads, the
        step a resume starts from, leftovers in the directory).

Importing this module does nothing (pytest's doctest collection imports it).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
import traceback

EPOCHS = int(os.environ.get("TINY_EPOCHS", "24"))
N, D, CLASSES, BATCH, EVERY = 64, 5, 3, 8, 4
STEPS_PER_EPOCH = N // BATCH
TOTAL_STEPS = EPOCHS * STEPS_PER_EPOCH


def build(checkpoint_dir=None, kill=None):
    """The model, trainer, loader and validation data of the tiny run."""
    import numpy as np

    from layerlab import data, nn, optim
    from layerlab.train import Callback, Checkpoint, Trainer

    class Kill(Callback):
        """SIGKILL at hook ``hook`` of step (or epoch) ``n``; ``pre`` sits before the Checkpoint
        callback, ``post`` after it."""

        def __init__(self, hook, n, pre):
            self.hook, self.n, self.pre = hook, n, pre

        def on_fit_start(self, trainer):  # "+k": k steps (epochs) after where this process starts
            if isinstance(self.n, str):
                k = int(self.n[1:])
                self.n = (trainer.epoch if self.hook.endswith("epoch_end") else trainer.step) + k

        def _maybe(self, hook, n):
            if hook == self.hook and n == self.n:
                os.kill(os.getpid(), signal.SIGKILL)

        def on_batch_start(self, trainer, step, batch):
            if self.pre:
                self._maybe("batch_start", trainer.step + 1)

        def on_after_backward(self, trainer, step):
            if self.pre:
                self._maybe("after_backward", trainer.step + 1)

        def on_batch_end(self, trainer, step, logs):
            self._maybe("pre_batch_end" if self.pre else "batch_end", trainer.step)

        def on_epoch_end(self, trainer, epoch, logs):
            self._maybe("pre_epoch_end" if self.pre else "epoch_end", trainer.epoch)

    x, y = data.blobs(N + 32, centers=CLASSES, d=D, std=1.5, seed=1)
    loader = data.DataLoader(data.TensorDataset(x[:N], y[:N]), batch_size=BATCH, shuffle=True, seed=7)
    val = (x[N:], y[N:])
    rng = np.random.default_rng(3)
    model = nn.Sequential(nn.Linear(D, 16, rng=rng), nn.Tanh(), nn.Dropout(0.2, rng=np.random.default_rng(4)),
                          nn.Linear(16, CLASSES, rng=rng))
    opt = optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=TOTAL_STEPS)
    hook, n = kill.split(":") if kill else (None, "0")
    n = n if n.startswith("+") else int(n)
    callbacks = [Kill(hook, n, pre=True)] if kill else []
    if checkpoint_dir is not None:
        callbacks.append(Checkpoint(checkpoint_dir, every=EVERY, keep=2))
    if kill:
        callbacks.append(Kill(hook, n, pre=False))
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, callbacks=callbacks, progress=False)
    return trainer, loader, val


def _canon(obj):
    """A JSON-able, exact image of a nested state: arrays as dtype, shape and SHA-256; floats as hex."""
    import numpy as np

    if isinstance(obj, np.ndarray):
        return {"dtype": str(obj.dtype), "shape": list(obj.shape),
                "sha256": hashlib.sha256(np.ascontiguousarray(obj).tobytes()).hexdigest()}
    if isinstance(obj, dict):
        return {str(k): _canon(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canon(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj).hex()
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def digest(trainer) -> dict:
    """Everything that must be bit-identical between an interrupted and an uninterrupted run."""
    return {
        "step": trainer.step,
        "epoch": trainer.epoch,
        "model": _canon(dict(trainer.model.state_dict())),
        "optimizer": _canon(trainer.optimizer.state_dict()),
        "scheduler": _canon(trainer.scheduler.state_dict()),
        "history": _canon(trainer.history.state_dict()),
        "losses": [s["loss"] for s in trainer.history.steps],
    }


def run(ck, out, kill=None, checkpoints=True):
    """Train to the end (resuming from ``ck`` when it holds a checkpoint); write the digest to ``out``."""
    from layerlab.checkpoint import latest_checkpoint

    kill = kill if kill is not None else os.environ.get("TINY_KILL") or None
    trainer, loader, val = build(ck if checkpoints else None, kill)
    resume = ck if checkpoints and latest_checkpoint(ck) is not None else None
    trainer.fit(loader, epochs=EPOCHS, val=val, resume_from=resume)
    if out is not None:
        with open(out, "w") as f:
            json.dump(digest(trainer), f, sort_keys=True)
        import layerlab as ll

        ll.save(trainer.model, f"{out}.safetensors", metadata={"run": "tiny", "epochs": str(EPOCHS), "b": "2",
                                                              "a": "1", "z": "26"})


def inspect(ck) -> dict:
    """What a kill left in ``ck``: what ``latest`` names and whether exactly that reads; what a resume reads."""
    import warnings
    from pathlib import Path

    from layerlab.checkpoint import open_checkpoint

    ck = Path(ck)
    rec = {"latest": None, "latest_readable": None, "latest_error": None, "resume_step": None,
           "entries": sorted(p.name for p in ck.iterdir()) if ck.is_dir() else []}
    pointer = ck / "latest"
    if pointer.exists():
        rec["latest"] = pointer.read_text().strip()
        try:
            open_checkpoint(ck / rec["latest"])
            rec["latest_readable"] = True
        except Exception as e:  # noqa: BLE001 - reported, judged by the test
            rec["latest_readable"] = False
            rec["latest_error"] = f"{type(e).__name__}: {e}"
    if ck.is_dir():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                rec["resume_step"] = open_checkpoint(ck).state["step"]
            except FileNotFoundError:
                rec["resume_step"] = None
            except Exception as e:  # noqa: BLE001
                rec["resume_step"] = f"{type(e).__name__}: {e}"
        rec["warnings"] = [str(w.message) for w in caught]
    return rec


def _child(entry, ck, out) -> None:
    """In a forked child: run with the entry's fault; never return."""
    try:
        if "fault" in entry:
            os.environ["LAYERLAB_FAULT"] = entry["fault"]
        run(ck, out, kill=entry.get("kill") or ("batch_end:+12" if "after" in entry else None))
        os._exit(3)  # finished without being killed
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(4)


def chain(ck, out, plan, report_path) -> None:
    import layerlab  # noqa: F401 - the import cost is paid once, here

    report = []
    for entry in plan:
        pid = os.fork()
        if pid == 0:
            _child(entry, ck, None)
        if "after" in entry:
            time.sleep(entry["after"])
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, status = os.waitpid(pid, 0)
        rec = {"entry": entry, "killed": os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL,
               "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None}
        rec.update(inspect(ck))
        report.append(rec)
    pid = os.fork()
    if pid == 0:
        try:
            run(ck, out)
            os._exit(0)
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    with open(report_path, "w") as f:
        json.dump({"entries": report, "final_status": status}, f)


def main(argv) -> int:
    mode = argv[1]
    if mode == "run":
        run(argv[2], argv[3], checkpoints="--no-checkpoints" not in argv)
    elif mode == "chain":
        with open(argv[4]) as f:
            plan = json.load(f)
        chain(argv[2], argv[3], plan, argv[5])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
