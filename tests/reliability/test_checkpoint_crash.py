"""Kill-and-resume: SIGKILL at random moments and inside every phase of a checkpoint write; each time a new
process resumes from disk; the end is bit-identical to an uninterrupted run, and ``latest`` never names a
checkpoint that cannot be read.

The run is ``scripts/tiny_train.py`` (a tiny MLP, Adam, OneCycleLR, dropout, a shuffling loader, a
checkpoint every 4 steps with 8 steps an epoch, so the epoch's last step is saved twice). Kills:

* every named fault point of ``layerlab.checkpoint.FAULT_POINTS`` (``LAYERLAB_FAULT=checkpoint:<point>``:
  the process SIGKILLs itself there): building a new checkpoint, re-saving the same step in place,
  updating ``latest``, pruning, cleaning;
* at loop hooks a random number of steps after the resume (before the update, after it, before and
  after the Checkpoint callback, at an epoch end);
* from outside, after a random delay (anywhere, timing luck).

The default test forks every killed process from a supervisor that has only imported layerlab (a new
process that resumes from disk alone, without paying the interpreter start each time), plus a few
kills in fresh interpreters; the slow variant uses a fresh interpreter for every kill.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from layerlab.checkpoint import FAULT_POINTS, open_checkpoint

SCRIPT = Path(__file__).parent / "scripts" / "tiny_train.py"
HOOKS = ("batch_start", "after_backward", "pre_batch_end", "batch_end", "pre_epoch_end", "epoch_end")


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("LAYERLAB_FAULT", "TINY_KILL", "TINY_EPOCHS")}
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra)
    return env


def _run(*args, env=None, check=True):
    proc = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], env=env or _env(),
                          capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _reference(d: Path, env=None) -> dict:
    """The uninterrupted run, without any checkpoint, in its own interpreter."""
    _run("run", d / "unused", d / "ref.json", "--no-checkpoints", env=env)
    return json.loads((d / "ref.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _reference(tmp_path_factory.mktemp("reference"))


def make_plan(seed: int, step_kills: int, timed_kills: int, delay=(0.02, 0.2)) -> list[dict]:
    """Every fault point once, ``step_kills`` kills at random hooks 1..6 steps (1 epoch) after the
    resume, ``timed_kills`` kills from outside after a random delay; in a random order.

    Room: no entry lets the run advance more than 12 steps (a fault is reached at the first write of
    its kind after the resume, at most 8 steps on; a timed kill has a backstop 12 steps on), so the
    20 fault points + 6 + 4 kills advance at most 180 of the 192 steps: every entry is a kill."""
    rng = np.random.default_rng(seed)
    entries = [{"fault": f"checkpoint:{p}"} for p in FAULT_POINTS]
    for _ in range(step_kills):
        hook = HOOKS[int(rng.integers(len(HOOKS)))]
        k = 1 if hook.endswith("epoch_end") else int(rng.integers(1, 7))
        entries.append({"kill": f"{hook}:+{k}"})
    for _ in range(timed_kills):
        entries.append({"after": round(float(rng.uniform(*delay)), 3)})
    return [entries[i] for i in rng.permutation(len(entries))]


def _check_entry(rec: dict) -> None:
    assert rec["killed"], rec  # every entry is reached (the plan leaves room for them all)
    assert rec["resume_step"] is None or isinstance(rec["resume_step"], int), rec
    if rec["latest"] is not None:
        # the invariant: what latest names is there and reads, exactly (no fallback needed)
        assert rec["latest_readable"], rec
        assert rec["resume_step"] == int(rec["latest"].split("-")[1]), rec
    assert rec["warnings"] == [], rec


def _check_final(ck: Path, out: Path, reference: dict) -> None:
    got = json.loads(out.read_text())
    for key in ("step", "epoch", "model", "optimizer", "scheduler", "history", "losses"):
        assert got[key] == reference[key], key
    # the last write cleaned every leftover of the killed ones: latest and the two kept checkpoints
    names = sorted(p.name for p in ck.iterdir())
    assert names[0] == "latest" and len(names) == 3 and all(n.startswith("step-") for n in names[1:]), names
    for n in names[1:]:
        assert sorted(p.name for p in (ck / n).iterdir()) in (
            ["arrays.safetensors", "history.jsonl", "state.json"],
            ["arrays-1.safetensors", "history.jsonl", "state.json"],
            ["arrays.safetensors", "history-1.jsonl", "state.json"],
            ["arrays-1.safetensors", "history-1.jsonl", "state.json"]), (n, list((ck / n).iterdir()))


def test_every_fault_point_is_known_and_refused_when_misspelt(tmp_path):
    proc = _run("run", tmp_path / "ck", tmp_path / "o.json", env=_env(LAYERLAB_FAULT="checkpoint:after-arays"),
                check=False)
    assert proc.returncode != 0 and "unknown checkpoint fault point 'after-arays'" in proc.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the supervisor forks")
def test_kill_chain_resumes_bit_identical(tmp_path, reference):
    """30 kills in one chain: every fault point, 6 kills at loop hooks, 4 from outside after a delay."""
    plan = make_plan(seed=20240611, step_kills=6, timed_kills=4)
    assert len(plan) >= 20 + 10
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    ck, out, report = tmp_path / "ck", tmp_path / "out.json", tmp_path / "report.json"
    _run("chain", ck, out, tmp_path / "plan.json", report)
    rep = json.loads(report.read_text())
    assert rep["final_status"] == 0
    killed = [r for r in rep["entries"] if r["killed"]]
    assert len(killed) >= 20
    for rec in rep["entries"]:
        _check_entry(rec)
    hit = {r["entry"]["fault"].split(":")[1] for r in killed if "fault" in r["entry"]}
    assert hit == set(FAULT_POINTS)
    _check_final(ck, out, reference)


def test_the_reported_case_in_fresh_interpreters(tmp_path, reference):
    """The issue's case: killed while the epoch-end checkpoint re-saves the step just saved at its batch
    end (after the new arrays are on disk, before the commit), then during pruning; every process is a new
    interpreter. The resume starts from the intact checkpoint of that step each time."""
    ck, out = tmp_path / "ck", tmp_path / "out.json"
    for fault, expect_step in (("checkpoint:resave-after-arrays", 8), ("checkpoint:resave-after-arrays@2", 16),
                               ("checkpoint:mid-prune", 20)):
        proc = _run("run", ck, out, env=_env(LAYERLAB_FAULT=fault), check=False)
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
        latest = (ck / "latest").read_text().strip()
        assert open_checkpoint(ck / latest).state["step"] == expect_step  # exactly what latest names reads
    _run("run", ck, out)
    _check_final(ck, out, reference)


def _inspect(ck: Path) -> dict:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import tiny_train
    finally:
        sys.path.pop(0)
    return tiny_train.inspect(ck)


@pytest.mark.slow
def test_kill_chain_in_fresh_interpreters(tmp_path):
    """The slow variant: 44 kills (every fault point, 16 at loop hooks, 8 timed), each in a new
    interpreter, over a run of 48 epochs (384 steps: room for 44 kills of at most 12 steps each)."""
    import time

    env = _env(TINY_EPOCHS="48")
    reference = _reference(tmp_path, env)
    plan = make_plan(seed=7, step_kills=16, timed_kills=8, delay=(0.8, 2.5))
    ck, out = tmp_path / "ck", tmp_path / "out.json"
    killed = 0
    for entry in plan:
        if "after" in entry:
            proc = subprocess.Popen([sys.executable, str(SCRIPT), "run", str(ck), str(out)],
                                    env={**env, "TINY_KILL": "batch_end:+12"},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(entry["after"])
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            was_killed = proc.returncode == -signal.SIGKILL
        else:
            extra = {"LAYERLAB_FAULT": entry["fault"]} if "fault" in entry else {"TINY_KILL": entry["kill"]}
            proc = _run("run", ck, out, env={**env, **extra}, check=False)
            was_killed = proc.returncode == -signal.SIGKILL
            assert was_killed, (entry, proc.returncode, proc.stderr[-2000:])
        killed += was_killed
        rec = _inspect(ck)
        rec.update(entry=entry, killed=was_killed)
        _check_entry(rec)
    assert killed >= 40
    _run("run", ck, out, env=env)
    _check_final(ck, out, reference)
