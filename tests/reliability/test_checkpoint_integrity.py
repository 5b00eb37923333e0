"""Checkpoint integrity, in one process: what a reader does with damaged or leftover files, the in-place
re-save of a step, the append-only history (a checkpoint's size does not grow with the step count), the
first format, durability (fsync of every file and directory), and the fault-injection switch itself.

The crash tests proper (SIGKILL in every phase, resumed in new processes) are in test_checkpoint_crash.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file as st_save_file

from layerlab import checkpoint as ckmod
from layerlab.checkpoint import open_checkpoint, read_checkpoint, write_checkpoint

SCRIPT = Path(__file__).parent / "scripts" / "tiny_train.py"


def _tiny():
    spec = importlib.util.spec_from_file_location("tiny_train_for_integrity", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


tiny = _tiny()


def _trainer(ck=None, epochs=None):
    """A tiny trainer; trained ``epochs`` epochs (checkpointing into ``ck``) when given."""
    trainer, loader, val = tiny.build(ck)
    if epochs:
        trainer.fit(loader, epochs=epochs, val=val)
    return trainer, loader, val


@pytest.fixture(scope="module")
def reference():
    trainer, loader, val = _trainer()
    trainer.fit(loader, epochs=3, val=val)
    return tiny.digest(trainer)


def _resume_digest(ck, epochs=3):
    trainer, loader, val = _trainer()
    trainer.fit(loader, epochs=epochs, val=val, resume_from=ck)
    return tiny.digest(trainer)


def _steps(ck: Path) -> list[str]:
    return sorted(p.name for p in ck.glob("step-*"))


# -- readers: damaged checkpoints ------------------------------------------------------------------

def test_the_old_bug_a_step_without_arrays_falls_back_to_the_previous_checkpoint(tmp_path, reference):
    """What the old writer left when killed while re-saving a step (state.json there, arrays gone, latest
    naming it): a resume reads the previous intact checkpoint, with a warning, and ends bit-identical."""
    ck = tmp_path / "ck"
    _trainer(ck, epochs=2)
    assert _steps(ck) == ["step-000000012", "step-000000016"]
    newest = ck / "step-000000016"
    for f in newest.glob("arrays*.safetensors"):
        f.unlink()
    with pytest.raises(ValueError, match=r"checkpoint '.*step-000000016' cannot be read: arrays file"):
        open_checkpoint(newest)  # named explicitly: refused, never substituted
    with pytest.warns(RuntimeWarning, match=r"skipped .*step-000000016.*reading step-000000012"):
        assert read_checkpoint(ck)["step"] == 12
    with pytest.warns(RuntimeWarning, match="reading step-000000012"):
        got = _resume_digest(ck)
    assert got == reference


def _damage(d: Path, damage: str) -> None:
    meta = json.loads((d / "state.json").read_text())
    arrays, history = d / meta["arrays"]["file"], d / meta["history"]["file"]
    if damage == "flip-arrays":
        blob = bytearray(arrays.read_bytes())
        blob[-3] ^= 0x40
        arrays.write_bytes(bytes(blob))
    elif damage == "truncate-arrays":
        arrays.write_bytes(arrays.read_bytes()[:-10])
    elif damage == "truncate-history":
        history.write_bytes(history.read_bytes()[:40])
    elif damage == "flip-history":
        blob = bytearray(history.read_bytes())
        blob[5] ^= 0x01
        history.write_bytes(bytes(blob))
    elif damage == "garbage-state":
        (d / "state.json").write_text('{"format": "layerlab.checkpoint", "vers')
    elif damage == "not-a-checkpoint":
        (d / "state.json").write_text("{}")
    elif damage == "missing-state":
        (d / "state.json").unlink()


@pytest.mark.parametrize("damage, match", [
    ("flip-arrays", "does not match the SHA-256"),
    ("truncate-arrays", "truncated or replaced"),
    ("garbage-state", "not valid JSON"),
    ("not-a-checkpoint", "is not a layerlab checkpoint"),
    ("missing-state", None),
], ids=["flip-arrays", "truncate-arrays", "garbage-state", "not-a-checkpoint", "missing-state"])
def test_damage_is_detected_and_a_root_falls_back(tmp_path, damage, match):
    ck = tmp_path / "ck"
    _trainer(ck, epochs=1)  # checkpoints after step 4 and step 8 (saved twice)
    d = ck / "step-000000008"
    _damage(d, damage)
    if match is not None:
        with pytest.raises(ValueError, match=rf"checkpoint '.*step-000000008' cannot be read: .*{match}"):
            open_checkpoint(d)
    with pytest.warns(RuntimeWarning, match="reading step-000000004"):
        assert read_checkpoint(ck)["step"] == 4


@pytest.mark.parametrize("damage, match", [
    ("truncate-history", r"history needs \d+ \(truncated\)"),
    ("flip-history", "do not match the SHA-256"),
], ids=["truncate-history", "flip-history"])
def test_damage_to_the_shared_history_is_detected_in_every_checkpoint_sharing_it(tmp_path, damage, match):
    """The checkpoints of a run share one history file (hard links): damage to it is damage to each of
    them, and the reader refuses them all, naming each, rather than resume with a wrong history."""
    ck = tmp_path / "ck"
    _trainer(ck, epochs=1)
    assert os.path.samefile(ck / "step-000000004" / "history.jsonl", ck / "step-000000008" / "history.jsonl")
    _damage(ck / "step-000000008", damage)
    with pytest.raises(ValueError, match=rf"no intact checkpoint in .*step-000000008.*{match}.*step-000000004"):
        read_checkpoint(ck)


def test_no_intact_checkpoint_is_an_error_naming_each(tmp_path):
    ck = tmp_path / "ck"
    _trainer(ck, epochs=1)
    for d in ck.glob("step-*"):
        (d / "state.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"no intact checkpoint in .*ck: .*step-000000008.*step-000000004"):
        read_checkpoint(ck)
    with pytest.raises(FileNotFoundError, match="no checkpoint found"):
        read_checkpoint(tmp_path / "empty-or-missing")


# -- writers: leftovers, the same step again, pruning --------------------------------------------------

def test_leftovers_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    ck = tmp_path / "ck"
    trainer, loader, val = _trainer(ck, epochs=1)
    (ck / ".tmp-abandoned").mkdir()
    (ck / ".tmp-abandoned" / "arrays.safetensors").write_bytes(b"half")
    (ck / ".trash-step-000000000-1-ab").mkdir()
    (ck / ".trash-step-000000000-1-ab" / "state.json").write_text("{}")
    (ck / ".latest.x1y2.tmp").write_text("step-9")
    step8 = ck / "step-000000008"
    used = set(os.listdir(step8))
    (step8 / ".state.json.q.tmp").write_text("{")
    (step8 / ("arrays-1.safetensors" if "arrays.safetensors" in used else "arrays.safetensors")).write_bytes(b"x")
    trainer.save_checkpoint(ck)  # step 8 again: a re-save in place
    trainer.step += 1
    trainer.save_checkpoint(ck)
    assert sorted(os.listdir(ck)) == ["latest", "step-000000008", "step-000000009"]
    assert sorted(os.listdir(step8)) == sorted(used) or len(os.listdir(step8)) == 3
    assert read_checkpoint(ck)["step"] == 9 and read_checkpoint(step8)["step"] == 8


def test_the_same_step_is_re_saved_in_place(tmp_path):
    ck = tmp_path / "ck"
    trainer, loader, val = _trainer(ck, epochs=1)  # step 8 saved at its batch end, then at the epoch end
    first = read_checkpoint(ck / "step-000000008")
    assert first["epoch"] == 1 and first["epoch_sums"] is None and len(first["history"]["epochs"]) == 1
    names = sorted(os.listdir(ck / "step-000000008"))
    assert names in (["arrays-1.safetensors", "history.jsonl", "state.json"],
                     ["arrays.safetensors", "history.jsonl", "state.json"])
    trainer.epoch = 0  # pretend: a different state of the same step
    trainer.save_checkpoint(ck)
    assert read_checkpoint(ck / "step-000000008")["epoch"] == 0
    assert len(os.listdir(ck / "step-000000008")) == 3


def _save_as_of(trainer, ck, step, steps, epochs, keep=None):
    """Save ``trainer`` as if it stood at ``step`` (its history cut to match)."""
    trainer.step, trainer.epoch = step, step // 8
    trainer.history.steps, trainer.history.epochs = steps[:step], epochs[:step // 8]
    trainer._epoch_sums = None
    return trainer.save_checkpoint(ck, keep=keep)


def test_resuming_from_an_older_checkpoint_drops_the_abandoned_later_ones(tmp_path):
    ck = tmp_path / "ck"
    trainer, loader, val = _trainer()
    trainer.fit(loader, epochs=2, val=val)
    steps, epochs = list(trainer.history.steps), list(trainer.history.epochs)
    for s in (4, 8, 12):
        _save_as_of(trainer, ck, s, steps, epochs)
    assert _steps(ck) == ["step-000000004", "step-000000008", "step-000000012"]
    t2, _, _ = _trainer()
    t2._loader = loader
    t2.load_checkpoint(ck / "step-000000004")
    _save_as_of(t2, ck, 5, steps, epochs)
    assert _steps(ck) == ["step-000000004", "step-000000005"]
    assert (ck / "latest").read_text().strip() == "step-000000005"
    assert read_checkpoint(ck / "step-000000004")["history"]["steps"] == steps[:4]  # its prefix is intact
    assert read_checkpoint(ck)["history"]["steps"] == steps[:5]


# -- the history: append-only, outside the checkpoint's own bytes ----------------------------------

def _fake_history(trainer, n: int) -> None:
    trainer.history.steps = [{"step": i, "epoch": i // 8, "loss": 1.0 / (i + 1), "lr": 0.01} for i in range(n)]
    trainer.history.epochs = [{"epoch": e, "loss": 0.5, "accuracy": 0.75} for e in range(n // 8)]
    trainer.step, trainer.epoch = n, n // 8


def _own_bytes(d: Path) -> dict:
    meta = json.loads((d / "state.json").read_text())
    return {"arrays": (d / meta["arrays"]["file"]).stat().st_size, "state": (d / "state.json").stat().st_size,
            "history": meta["history"]["bytes"]}


def test_a_checkpoints_own_bytes_do_not_grow_with_the_step_count(tmp_path):
    """arrays + state.json have the same size after 16 steps and after 20 000 (up to the digits of the
    counters: < 100 bytes), while the history file holds the 20 000 records."""
    trainer, loader, val = _trainer()
    trainer.fit(loader, epochs=2, val=val)
    small = trainer.save_checkpoint(tmp_path / "a")
    _fake_history(trainer, 20_000)
    big = trainer.save_checkpoint(tmp_path / "b")
    a, b = _own_bytes(small), _own_bytes(big)
    assert a["arrays"] == b["arrays"]
    assert abs(a["state"] - b["state"]) < 100, (a, b)
    assert b["history"] > 1_000_000 > 100 * a["state"]
    assert len(read_checkpoint(big)["history"]["steps"]) == 20_000


def test_each_checkpoint_appends_only_the_new_records(tmp_path):
    """Consecutive checkpoints share one history file (a hard link): each write appends the records since
    the previous checkpoint, and every older checkpoint still reads its own prefix."""
    ck = tmp_path / "ck"
    trainer, loader, val = _trainer()
    _fake_history(trainer, 5_000)
    first = trainer.save_checkpoint(ck, keep=None)
    size0 = (first / "history.jsonl").stat().st_size
    new = [{"step": 5_000 + i, "epoch": 625, "loss": 0.25, "lr": 0.01} for i in range(3)]
    trainer.history.steps.extend(new)
    trainer.step += 3
    second = trainer.save_checkpoint(ck, keep=None)
    assert os.path.samefile(first / "history.jsonl", second / "history.jsonl")
    appended = (second / "history.jsonl").stat().st_size - size0
    assert appended == sum(len(ckmod._record_line("s", r)) for r in new)
    assert read_checkpoint(first)["history"]["steps"] == trainer.history.steps[:5_000]
    assert read_checkpoint(second)["history"]["steps"] == trainer.history.steps


def test_a_history_file_that_grew_behind_the_writers_back_is_not_appended_to(tmp_path):
    """Records appended by a writer killed before its commit (or another run) make the file longer than
    the prefix the journal knows: the next checkpoint copies the prefix to a new file."""
    ck = tmp_path / "ck"
    trainer, loader, val = _trainer()
    trainer.fit(loader, epochs=2, val=val)
    steps, epochs = list(trainer.history.steps), list(trainer.history.epochs)
    first = _save_as_of(trainer, ck, 8, steps, epochs)
    with open(first / "history.jsonl", "ab") as f:
        f.write(b'["s",{"step":999,"lo')  # half a record
    second = _save_as_of(trainer, ck, 12, steps, epochs)
    assert not os.path.samefile(first / "history.jsonl", second / "history.jsonl")
    assert read_checkpoint(first)["history"]["steps"] == steps[:8]
    assert read_checkpoint(second)["history"]["steps"] == steps[:12]
    third = _save_as_of(trainer, ck, 16, steps, epochs)  # and the journal continues from the new file
    assert os.path.samefile(second / "history.jsonl", third / "history.jsonl")


# -- the first format ---------------------------------------------------------------------------------

def _write_first_format(d: Path, state: dict) -> None:
    """A checkpoint as layerlab wrote them before: arrays.safetensors + state.json holding the whole tree."""
    d.mkdir(parents=True)
    arrays: dict = {}
    meta = ckmod.flatten_state(state, "s", arrays)
    st_save_file(arrays, str(d / "arrays.safetensors"))
    (d / "state.json").write_text(json.dumps(meta))


def test_a_checkpoint_of_the_first_format_still_resumes(tmp_path, reference):
    ck = tmp_path / "ck"
    trainer, loader, val = _trainer()
    trainer.fit(loader, epochs=1, val=val)
    sd = trainer.state_dict()
    del sd["optimizer_kind"], sd["scheduler_kind"]  # the first format did not record them
    _write_first_format(ck / "step-000000008", sd)
    (ck / "latest").write_text("step-000000008\n")
    assert read_checkpoint(ck)["history"] == json.loads(json.dumps(sd["history"]))
    trainer2, loader2, val2 = _trainer(ck)
    trainer2.fit(loader2, epochs=3, val=val2, resume_from=ck)
    assert tiny.digest(trainer2) == reference
    meta = json.loads((ck / (ck / "latest").read_text().strip() / "state.json").read_text())
    assert meta["format"] == "layerlab.checkpoint" and meta["version"] == 2


# -- durability: every file and directory is fsynced ---------------------------------------------------

def test_every_file_and_directory_of_a_checkpoint_is_fsynced(tmp_path, monkeypatch):
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name file descriptors")
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.delenv("LAYERLAB_FSYNC", raising=False)
    monkeypatch.setattr(os, "fsync", spy)
    trainer, loader, val = _trainer()
    trainer.fit(loader, epochs=1, val=val)
    root = tmp_path / "ck"
    final = trainer.save_checkpoint(root)
    names = [Path(p).name for p in synced]
    assert any(n.startswith(".arrays.safetensors.") for n in names)  # the file, before its rename
    assert any(n.startswith(".state.json.") for n in names)
    assert any(n.startswith(".latest.") for n in names)
    assert "history.jsonl" in names or any(n.startswith(".history.jsonl.") for n in names)
    assert str(root) in synced  # the root, after the rename into place and after latest
    assert any(Path(p).name.startswith(".tmp-") for p in synced)  # the new checkpoint's directory
    synced.clear()
    trainer.history.steps.append({"step": 8, "epoch": 1, "loss": 0.5, "lr": 0.01})
    trainer.save_checkpoint(root)  # the same step again, in place: the appended history too
    assert str(final / "history.jsonl") in synced and str(final) in synced
    synced.clear()
    monkeypatch.setenv("LAYERLAB_FSYNC", "0")
    trainer.step += 1
    trainer.save_checkpoint(root)
    assert synced == []  # the documented switch for throw-away runs


def test_an_error_inside_a_write_leaves_no_trace(tmp_path, monkeypatch):
    """An error inside the arrays write leaves no temporary file and the previous checkpoint as latest."""
    ck = tmp_path / "ck"
    trainer, loader, val = _trainer(ck, epochs=1)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ckmod, "safetensors_bytes", boom)
    trainer.step += 1
    with pytest.raises(OSError, match="disk full"):
        trainer.save_checkpoint(ck)
    assert sorted(os.listdir(ck)) == ["latest", "step-000000004", "step-000000008"]
    assert read_checkpoint(ck)["step"] == 8


def test_fault_spec_counts_visits_and_ignores_other_components(monkeypatch):
    calls = []
    monkeypatch.setattr(ckmod.os, "kill", lambda pid, sig: calls.append(sig))
    monkeypatch.setattr(ckmod, "_fault_hits", {})
    monkeypatch.setenv("LAYERLAB_FAULT", "other:thing, checkpoint:after-state@3")
    for _ in range(5):
        ckmod._fault("after-state")
        ckmod._fault("after-arrays")
    assert len(calls) == 1
    monkeypatch.setenv("LAYERLAB_FAULT", "checkpoint:nowhere")
    with pytest.raises(ValueError, match="unknown checkpoint fault point 'nowhere'"):
        ckmod._fault("after-state")


def test_write_checkpoint_refuses_a_bad_step(tmp_path):
    for bad in (-1, 2.5, "3", True):
        with pytest.raises(ValueError, match="step must be an int >= 0"):
            write_checkpoint(tmp_path, bad, {"a": np.zeros(2)})
    assert not any(tmp_path.iterdir())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_checkpoint(tmp_path, 0, {"a": np.zeros(2)})
