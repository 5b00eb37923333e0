"""Training checkpoints: safetensors for arrays, JSON for everything else; crash-safe, durable, deterministic.

Layout under a root directory::

    root/latest                   the name of the newest checkpoint, e.g. "step-000000040"
    root/step-000000040/
        arrays.safetensors        model parameters and buffers, optimiser state arrays
        state.json                scalars, scheduler, loader and RNG states, and a manifest
        history.jsonl             the training history, one record a line, append-only

``state.json`` is the commit record of a checkpoint::

    {"format": "layerlab.checkpoint", "version": 2, "step": N,
     "arrays":  {"file": ..., "bytes": ..., "sha256": ...},
     "history": {"file": ..., "bytes": ..., "sha256": ..., "steps": ..., "epochs": ...} or null,
     "state":   the state with every array replaced by a reference into the arrays file}

written with sorted keys (and the arrays file laid out deterministically), so the same state
gives the same bytes. A checkpoint is *intact* when ``state.json`` parses and the files it
names have the size and SHA-256 it records (for the history: its first ``bytes`` bytes).

**History.** The history grows with the run, so it is not copied into every checkpoint: the
records live in ``history.jsonl``, one file (inode) shared by successive checkpoints through
hard links. Each checkpoint records the length and hash of the prefix that is its history, and
a new checkpoint appends only the records since the previous one. So a checkpoint's own bytes
(arrays and ``state.json``) do not grow with the step count, and writing one costs
O(model + records since the last checkpoint) instead of O(steps). Appending never changes a
prefix another checkpoint references; a file holding more than the prefix the writer knows
(records appended by a process killed before its checkpoint was committed, or a later
checkpoint of an abandoned run) is not appended to: the prefix is copied to a new file first.
Where hard links are not available the file is copied. The price of sharing: damage to the
history file (a disk error, an edit) makes every checkpoint that shares it unreadable, and the
reader says so, naming each; it never resumes with a wrong history.

**Write protocol** (one writer per root):

* a new step: the checkpoint is built in ``root/.tmp-*`` (history, arrays, ``state.json``, each
  fsynced, then the directory), renamed to ``step-N``, the root fsynced, then ``latest`` replaced
  atomically (:mod:`layerlab.fileio`);
* the same step again (a ``Checkpoint`` every k steps saves at a batch end and again at the
  epoch end when k divides it): the directory is updated in place, the history appended, the
  arrays written under the other of two names, then ``state.json`` atomically replaced (the
  commit), then the old arrays file removed; at every moment ``state.json`` names complete files;
* then checkpoints beyond the ``keep`` newest (and any of a later step than the one just
  written: an abandoned run's) are renamed to ``.trash-*`` and deleted, and the leftovers of
  killed writers (``.tmp-*``, ``.trash-*``, temporary files) are removed.

So at every instant ``latest`` names an intact checkpoint, or does not exist yet.

**Reading** (:func:`open_checkpoint`, :func:`read_checkpoint`): a directory holding
``state.json`` is read or refused (ValueError naming it and what is wrong), never substituted.
A root is read through ``latest`` when that checkpoint is intact; otherwise (damaged since, or
an older layerlab's) the newest intact ``step-*`` is read, with a RuntimeWarning naming what was
skipped. Checkpoints written by the first format (``arrays.safetensors`` and the whole
history inside ``state.json``) are still read. Nothing is ever unpickled.

**Fault injection** (crash tests): ``LAYERLAB_FAULT="checkpoint:<point>[@<n>]"`` (several
separated by commas) kills the process with SIGKILL the n-th time (default: the first) it
reaches the named point of a write; :data:`FAULT_POINTS` lists them in the order a write
passes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from safetensors.numpy import load_file

from .fileio import atomic_open, durable, fsync_dir
from .serialization import safetensors_bytes

__all__ = ["flatten_state", "unflatten_state", "write_checkpoint", "read_checkpoint", "open_checkpoint",
           "latest_checkpoint", "HistoryJournal", "LoadedCheckpoint", "FAULT_POINTS"]

FORMAT = "layerlab.checkpoint"
VERSION = 2
_ARRAY = "__array__"
_STATE = "state.json"
_LATEST = "latest"
_HISTORY = "history.jsonl"
_HISTORY_NAMES = (_HISTORY, "history-1.jsonl")  # a re-save that cannot append in place alternates
_ARRAY_NAMES = ("arrays.safetensors", "arrays-1.safetensors")  # a re-save alternates between the two
_PREFIX = "step-"

#: Named points of a checkpoint write where ``LAYERLAB_FAULT`` can kill the process.
FAULT_POINTS = (
    # a new step, built in .tmp-*
    "start", "mid-history", "after-history", "mid-arrays", "after-arrays", "mid-state", "after-state",
    "after-rename",
    # the same step re-saved in place
    "resave-mid-history", "resave-after-history", "resave-mid-arrays", "resave-after-arrays",
    "resave-mid-state", "resave-after-state", "resave-after-cleanup",
    # both
    "mid-latest", "after-latest", "mid-prune", "after-prune", "after-clean",
)
_fault_hits: dict = {}


def _fault(point: str) -> None:
    """SIGKILL this process if ``LAYERLAB_FAULT`` names ``point`` (on its n-th visit)."""
    spec = os.environ.get("LAYERLAB_FAULT")
    if not spec:
        return
    for item in spec.split(","):
        item = item.strip()
        if not item.startswith("checkpoint:"):
            continue
        name, _, nth = item[len("checkpoint:"):].partition("@")
        if name not in FAULT_POINTS:
            raise ValueError(f"LAYERLAB_FAULT: unknown checkpoint fault point {name!r}; known: {', '.join(FAULT_POINTS)}")
        if name != point:
            continue
        hits = _fault_hits[point] = _fault_hits.get(point, 0) + 1
        if hits == int(nth or 1):
            os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


# ---------------------------------------------------------------------------------------------
# Nested state <-> (JSON tree, flat arrays)
# ---------------------------------------------------------------------------------------------

def flatten_state(obj, prefix: str, arrays: dict):
    """Replace every np.ndarray inside nested dicts/lists by a reference, collecting the arrays.

    Returns a JSON-able structure; ``arrays`` receives ``{key: array}``.
    """
    if isinstance(obj, np.ndarray):
        key = prefix
        arrays[key] = obj if obj.flags.c_contiguous else np.ascontiguousarray(obj)
        return {_ARRAY: key}
    if isinstance(obj, dict):
        return {"__dict__": [[_key_json(k), flatten_state(v, f"{prefix}.{k}", arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        kind = "__tuple__" if isinstance(obj, tuple) else "__list__"
        return {kind: [flatten_state(v, f"{prefix}.{i}", arrays) for i, v in enumerate(obj)]}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint: cannot store a value of type {type(obj).__name__} at '{prefix}'")


def _key_json(k):
    if isinstance(k, (str, int, float, bool)) or k is None:
        return k
    raise TypeError(f"checkpoint: dict key {k!r} of type {type(k).__name__} is not storable")


def unflatten_state(obj, arrays: dict):
    """Inverse of :func:`flatten_state`."""
    if isinstance(obj, dict):
        if _ARRAY in obj:
            key = obj[_ARRAY]
            if key not in arrays:
                raise ValueError(f"the state refers to array '{key}', which the arrays file does not hold")
            return arrays[key]
        if "__dict__" in obj:
            return {k: unflatten_state(v, arrays) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            return [unflatten_state(v, arrays) for v in obj["__list__"]]
        if "__tuple__" in obj:
            return tuple(unflatten_state(v, arrays) for v in obj["__tuple__"])
    return obj


def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"checkpoint: a history record holds a {type(v).__name__}, which JSON cannot store")


def _record_line(kind: str, rec: dict) -> bytes:
    return (json.dumps([kind, rec], sort_keys=True, separators=(",", ":"), default=_plain) + "\n").encode("utf-8")


# ---------------------------------------------------------------------------------------------
# The history journal
# ---------------------------------------------------------------------------------------------

class HistoryJournal:
    """Where a run's history stands on disk: the history file of the last checkpoint written or
    read, and the length, hash and record counts of the prefix that checkpoint references.

    A Trainer keeps one and hands it to :func:`write_checkpoint`, which appends only the records
    after ``steps``/``epochs`` and moves the journal on once the checkpoint is committed.
    """

    def __init__(self, path=None, offset: int = 0, steps: int = 0, epochs: int = 0, sha=None,
                 last_step=None, last_epoch=None):
        self.path = None if path is None else Path(path)
        self.offset, self.steps, self.epochs = offset, steps, epochs
        self.sha = sha if sha is not None else hashlib.sha256()
        self.last_step, self.last_epoch = last_step, last_epoch

    def can_append(self, steps: list, epochs: list) -> bool:
        """Does the in-memory history continue what is on disk, and is the file exactly as long as
        the prefix known here (nothing appended since by a killed writer or another run)?"""
        if self.path is None or len(steps) < self.steps or len(epochs) < self.epochs:
            return False
        if self.steps and steps[self.steps - 1] != self.last_step:
            return False
        if self.epochs and epochs[self.epochs - 1] != self.last_epoch:
            return False
        try:
            return self.path.stat().st_size == self.offset
        except OSError:
            return False


def _history_blob(steps: list, epochs: list) -> bytes:
    return b"".join([_record_line("s", r) for r in steps] + [_record_line("e", r) for r in epochs])


def _write_history(target: Path, journal: HistoryJournal | None, steps: list, epochs: list,
                   phase: str) -> tuple[dict, HistoryJournal]:
    """Make ``target`` hold the history ``steps``/``epochs``: appended in place when ``target`` is the
    journal's file, else a hard link to (or a copy of) the journal's file plus the new records, else
    (nothing usable on disk) written in full. Returns the reference for state.json and the journal
    after it."""
    j = journal
    if j is not None and j.can_append(steps, epochs):
        delta = _history_blob(steps[j.steps:], epochs[j.epochs:])
        if not (target.exists() and os.path.samefile(target, j.path)):
            target.unlink(missing_ok=True)  # a name no checkpoint references (a killed writer's at most)
            try:
                os.link(j.path, target)
            except OSError:  # no hard links here (or another device): copy the prefix
                with open(j.path, "rb") as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        with open(target, "ab") as f:
            half = len(delta) // 2
            f.write(delta[:half])
            f.flush()
            _fault(f"{phase}mid-history")
            f.write(delta[half:])
            f.flush()
            if durable():
                os.fsync(f.fileno())
        sha = j.sha.copy()
        sha.update(delta)
        offset = j.offset + len(delta)
    else:  # a fresh run, a file another writer appended to, or a history that does not extend the journal's
        blob = _history_blob(steps, epochs)
        _write_atomic(target, blob, None, sync_dir=False, mid=f"{phase}mid-history")
        sha = hashlib.sha256(blob)
        offset = len(blob)
    _fault(f"{phase}after-history")
    ref = {"file": target.name, "bytes": offset, "sha256": sha.hexdigest(), "steps": len(steps),
           "epochs": len(epochs)}
    nxt = HistoryJournal(target, offset, len(steps), len(epochs), sha, steps[-1] if steps else None,
                         epochs[-1] if epochs else None)
    return ref, nxt


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------

def save_file(arrays: dict, path, _mid: str = "mid-arrays") -> None:
    """Write ``arrays`` as a safetensors file at ``path``: deterministic bytes, atomic, fsynced
    (its directory is fsynced by the caller)."""
    _write_atomic(Path(path), safetensors_bytes(arrays), None, sync_dir=False, mid=_mid)


def _write_atomic(path: Path, blob: bytes, after: str | None, sync_dir: bool, mid: str | None) -> None:
    with atomic_open(path, "wb", sync_dir=sync_dir) as f:
        half = len(blob) // 2
        f.write(blob[:half])
        if mid:
            f.flush()
            _fault(mid)
        f.write(blob[half:])
    if after:
        _fault(after)


def _dirname(step: int) -> str:
    return f"{_PREFIX}{step:09d}"


def _step_of(p: Path) -> int | None:
    name = p.name
    if not name.startswith(_PREFIX) or not name[len(_PREFIX):].isdigit():
        return None
    return int(name[len(_PREFIX):])


def _file_sha(path: Path, nbytes: int | None = None):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        left = nbytes
        while left is None or left > 0:
            chunk = f.read(1 << 20 if left is None else min(1 << 20, left))
            if not chunk:
                break
            h.update(chunk)
            if left is not None:
                left -= len(chunk)
    return h


def _readable_meta(ck: Path) -> dict | None:
    """``state.json`` of ``ck`` if it parses and the files it names exist with their recorded sizes
    (a cheap test: no hashing); None otherwise."""
    try:
        meta = json.loads((ck / _STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    if meta.get("format") != FORMAT:  # the first format: a tree at the top, arrays.safetensors
        return meta if "__dict__" in meta and (ck / _ARRAY_NAMES[0]).is_file() else None
    try:
        if (ck / meta["arrays"]["file"]).stat().st_size != meta["arrays"]["bytes"]:
            return None
        h = meta.get("history")
        if h is not None and (ck / h["file"]).stat().st_size < h["bytes"]:
            return None
    except (OSError, KeyError, TypeError):
        return None
    return meta


def write_checkpoint(root, step: int, state: dict, keep: int | None = 2, history: tuple | None = None,
                     journal: HistoryJournal | None = None) -> Path:
    """Write ``state`` (nested dicts/lists of arrays and JSON values) as ``root/step-<step>``.

    Args:
        root: the checkpoint directory (created if needed).
        step: the step number (names the checkpoint).
        state: the state; arrays go to the safetensors file, the rest to ``state.json``.
        keep: how many checkpoints to keep (the newest; None or 0: all).
        history: ``(step_records, epoch_records)`` (lists of dicts, not copied) to store in the append-only
            ``history.jsonl`` instead of inside ``state``; None: no history file.
        journal: where the history stands on disk (from the last write or read); it is moved on
            in place when this checkpoint is committed. None: the history is written in full.

    Returns:
        The checkpoint's directory.
    """
    root = Path(root)
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"write_checkpoint: step must be an int >= 0, got {step!r}")
    step = int(step)
    root.mkdir(parents=True, exist_ok=True)
    arrays: dict = {}
    tree = flatten_state(state, "s", arrays)
    final = root / _dirname(step)
    existing = _readable_meta(final) if final.exists() else None
    if existing is not None:
        nxt = _resave(final, existing, arrays, tree, step, history, journal)
    else:
        nxt = _write_new(root, final, arrays, tree, step, history, journal)
    _write_atomic(root / _LATEST, (final.name + "\n").encode("utf-8"), "after-latest", sync_dir=True,
                  mid="mid-latest")
    if journal is not None and nxt is not None:
        journal.__dict__.update(nxt.__dict__)
    _prune(root, final, step, keep)
    _fault("after-prune")
    _clean(root)
    _fault("after-clean")
    return final


def _commit_doc(step: int, arrays_ref: dict, history_ref: dict | None, tree) -> bytes:
    return _json_bytes({"format": FORMAT, "version": VERSION, "step": step, "arrays": arrays_ref,
                        "history": history_ref, "state": tree})


def _arrays_ref(path: Path) -> dict:
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": _file_sha(path).hexdigest()}


def _write_new(root: Path, final: Path, arrays: dict, tree, step: int, history, journal):
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    nxt = None
    try:
        os.chmod(tmp, 0o755)  # mkdtemp's 0700 is for secrets; a checkpoint is an ordinary directory
        _fault("start")
        history_ref = None
        if history is not None:
            history_ref, nxt = _write_history(tmp / _HISTORY, journal, history[0], history[1], "")
        save_file(arrays, tmp / _ARRAY_NAMES[0])
        _fault("after-arrays")
        arrays_ref = _arrays_ref(tmp / _ARRAY_NAMES[0])
        _write_atomic(tmp / _STATE, _commit_doc(step, arrays_ref, history_ref, tree), "after-state",
                      sync_dir=False, mid="mid-state")
        fsync_dir(tmp)
        if final.exists():  # a damaged directory of this step (latest cannot be relying on it)
            _remove(root, final)
        os.replace(tmp, final)
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if nxt is not None:
        nxt.path = final / _HISTORY
    _fault("after-rename")
    return nxt


def _resave(final: Path, existing: dict, arrays: dict, tree, step: int, history, journal):
    """Replace the checkpoint ``final`` (readable) in place; ``state.json`` is the commit point.

    Nothing the current ``state.json`` names is changed before it is replaced: the arrays go to
    the other of two names, the history is appended past the prefix it references (or goes to
    the other name), and only after the commit are the old files removed."""
    v2 = existing.get("format") == FORMAT
    old_arrays = existing["arrays"]["file"] if v2 else _ARRAY_NAMES[0]
    new_arrays = _ARRAY_NAMES[1] if old_arrays == _ARRAY_NAMES[0] else _ARRAY_NAMES[0]
    old_history = existing["history"]["file"] if v2 and existing.get("history") else None
    history_ref, nxt = None, None
    if history is not None:
        steps, epochs = history
        if old_history is not None and journal is not None and journal.can_append(steps, epochs) \
                and os.path.samefile(final / old_history, journal.path):
            target = final / old_history  # the usual case: append in place, past the referenced prefix
        else:
            target = final / (_HISTORY_NAMES[1] if old_history == _HISTORY_NAMES[0] else _HISTORY_NAMES[0])
        history_ref, nxt = _write_history(target, journal, steps, epochs, "resave-")
    save_file(arrays, final / new_arrays, _mid="resave-mid-arrays")
    _fault("resave-after-arrays")
    arrays_ref = _arrays_ref(final / new_arrays)
    _write_atomic(final / _STATE, _commit_doc(step, arrays_ref, history_ref, tree), "resave-after-state",
                  sync_dir=True, mid="resave-mid-state")
    (final / old_arrays).unlink(missing_ok=True)
    if old_history is not None and (history_ref is None or history_ref["file"] != old_history):
        (final / old_history).unlink(missing_ok=True)
    _fault("resave-after-cleanup")
    return nxt


def _remove(root: Path, d: Path) -> None:
    """Delete a checkpoint directory: first renamed out of the ``step-*`` namespace (atomic), then emptied."""
    trash = root / f".trash-{d.name}-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        os.replace(d, trash)
    except OSError:
        return
    _delete_tree(trash)


def _delete_tree(d: Path) -> None:
    first = True
    for p in sorted(d.iterdir()) if d.is_dir() else []:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        if first:
            _fault("mid-prune")
            first = False
    shutil.rmtree(d, ignore_errors=True)


def _prune(root: Path, final: Path, step: int, keep: int | None) -> None:
    dirs = sorted((s, p) for p in root.iterdir() if p.is_dir() and (s := _step_of(p)) is not None)
    later = [p for s, p in dirs if s > step]  # an abandoned run's: the directory holds one timeline
    earlier = [p for s, p in dirs if s < step]
    doomed = later + (earlier[:max(0, len(earlier) - (keep - 1))] if keep else [])
    for p in doomed:
        _remove(root, p)


def _clean(root: Path) -> None:
    """Remove what killed writers left: ``.tmp-*`` and ``.trash-*`` directories, temporary files,
    and files inside a checkpoint that its ``state.json`` does not name."""
    for p in root.iterdir():
        name = p.name
        if p.is_dir() and name.startswith(".trash-"):
            _delete_tree(p)
        elif p.is_dir() and name.startswith(".tmp-"):
            shutil.rmtree(p, ignore_errors=True)
        elif name.startswith(".") and name.endswith(".tmp") and p.is_file():
            p.unlink(missing_ok=True)
        elif p.is_dir() and _step_of(p) is not None:
            names = {q.name for q in p.iterdir()}
            if len(names) <= 3 and not (names & {_ARRAY_NAMES[1], _HISTORY_NAMES[1]}) and \
                    not any(n.endswith(".tmp") for n in names):
                continue  # nothing but the usual files
            meta = _readable_meta(p)
            if meta is None:
                continue
            if meta.get("format") == FORMAT:
                used = {meta["arrays"]["file"]} | ({meta["history"]["file"]} if meta.get("history") else set())
            else:
                used = {_ARRAY_NAMES[0]}
            for n in names:
                if (n.startswith(".") and n.endswith(".tmp")) or \
                        (n in _ARRAY_NAMES + _HISTORY_NAMES and n not in used):
                    (p / n).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------

class LoadedCheckpoint(NamedTuple):
    """What :func:`open_checkpoint` returns: the directory read, the nested state (history included)
    and the journal to continue the history from (None for a checkpoint of the first format)."""

    path: Path
    state: dict
    journal: HistoryJournal | None


def _load_dir(ck: Path) -> LoadedCheckpoint:
    """Read and verify one checkpoint directory; ValueError naming it and the problem."""
    def bad(what):
        return ValueError(f"checkpoint '{ck}' cannot be read: {what}")

    try:
        text = (ck / _STATE).read_text(encoding="utf-8")
    except OSError as e:
        raise bad(f"{_STATE}: {e}") from None
    except UnicodeDecodeError as e:
        raise bad(f"{_STATE} is not UTF-8 text ({e})") from None
    try:
        meta = json.loads(text)
    except ValueError as e:
        raise bad(f"{_STATE} is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise bad(f"{_STATE} holds a {type(meta).__name__}, expected an object")
    if meta.get("format") != FORMAT:
        if "__dict__" not in meta:
            raise bad(f"{_STATE} is not a layerlab checkpoint (no 'format' field, and not the first format's tree)")
        return _load_v1(ck, meta, bad)
    if meta.get("version") != VERSION:
        raise bad(f"format version {meta.get('version')!r}; this layerlab reads version {VERSION}")
    try:
        aref = meta["arrays"]
        apath = ck / aref["file"]
        if apath.stat().st_size != aref["bytes"]:
            raise bad(f"{aref['file']} has {apath.stat().st_size} bytes, the manifest says {aref['bytes']} "
                      "(truncated or replaced)")
        blob = apath.read_bytes()
    except (KeyError, TypeError) as e:
        raise bad(f"{_STATE}: malformed manifest 'arrays' ({e!r})") from None
    except OSError as e:
        raise bad(f"arrays file: {e}") from None
    if hashlib.sha256(blob).hexdigest() != aref["sha256"]:
        raise bad(f"{aref['file']} does not match the SHA-256 in {_STATE} (corrupted)")
    try:
        from safetensors.numpy import load as _load_bytes
        arrays = _load_bytes(blob)
    except Exception as e:  # noqa: BLE001 - any parse failure of the file
        raise bad(f"{aref['file']}: {e}") from None
    try:
        state = unflatten_state(meta["state"], arrays)
    except (KeyError, TypeError, ValueError) as e:
        raise bad(f"{_STATE}: {e}") from None
    if not isinstance(state, dict):
        raise bad(f"{_STATE}: the state is a {type(state).__name__}, expected a dict")
    journal = None
    href = meta.get("history")
    if href is not None:
        state = dict(state)
        state["history"], journal = _read_history(ck, href, bad)
    return LoadedCheckpoint(ck, state, journal)


def _read_history(ck: Path, href, bad):
    try:
        hpath = ck / href["file"]
        nbytes, want = int(href["bytes"]), href["sha256"]
        nsteps, nepochs = int(href["steps"]), int(href["epochs"])
    except (KeyError, TypeError, ValueError) as e:
        raise bad(f"{_STATE}: malformed manifest 'history' ({e!r})") from None
    try:
        with open(hpath, "rb") as f:
            data = f.read(nbytes)
    except OSError as e:
        raise bad(f"history file: {e}") from None
    if len(data) != nbytes:
        raise bad(f"{href['file']} has {len(data)} bytes, the checkpoint's history needs {nbytes} (truncated)")
    sha = hashlib.sha256(data)
    if sha.hexdigest() != want:
        raise bad(f"the first {nbytes} bytes of {href['file']} do not match the SHA-256 in {_STATE} (corrupted)")
    steps, epochs = [], []
    for i, line in enumerate(data.splitlines()):
        try:
            kind, rec = json.loads(line)
        except (ValueError, TypeError) as e:
            raise bad(f"{href['file']} line {i + 1}: {e}") from None
        (steps if kind == "s" else epochs).append(rec)
    if (len(steps), len(epochs)) != (nsteps, nepochs):
        raise bad(f"{href['file']} holds {len(steps)} step and {len(epochs)} epoch records, the manifest says "
                  f"{nsteps} and {nepochs}")
    journal = HistoryJournal(hpath, nbytes, nsteps, nepochs, sha, steps[-1] if steps else None,
                             epochs[-1] if epochs else None)
    return {"steps": steps, "epochs": epochs}, journal


def _load_v1(ck: Path, meta, bad) -> LoadedCheckpoint:
    try:
        arrays = load_file(str(ck / _ARRAY_NAMES[0]))
    except Exception as e:  # noqa: BLE001 - corrupt, truncated or missing
        raise bad(f"{_ARRAY_NAMES[0]}: {e}") from None
    try:
        state = unflatten_state(meta, arrays)
    except (KeyError, TypeError, ValueError) as e:
        raise bad(f"{_STATE}: {e}") from None
    if not isinstance(state, dict):
        raise bad(f"{_STATE}: the state is a {type(state).__name__}, expected a dict")
    return LoadedCheckpoint(ck, state, None)


def _candidates(root: Path) -> list[Path]:
    out = []
    pointer = root / _LATEST
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        name = ""
    if name and "/" not in name and "\\" not in name and name not in (".", ".."):
        out.append(root / name)
    found = sorted((s, p) for p in root.glob(f"{_PREFIX}*") if p.is_dir() and (s := _step_of(p)) is not None)
    out += [p for _, p in reversed(found) if p not in out]
    return out


def open_checkpoint(path) -> LoadedCheckpoint:
    """Read a checkpoint directory, or the newest intact one under a root (see the module docstring).

    Raises:
        FileNotFoundError: ``path`` holds no checkpoint at all.
        ValueError: the directory given (or every checkpoint under the root) cannot be read; the
            message names each and why.
    """
    path = Path(path)
    if (path / _STATE).exists():
        return _load_dir(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no checkpoint found in {path} (no such directory)")
    errors = []
    for ck in _candidates(path):
        if not ck.is_dir():
            errors.append(f"'{ck.name}' (named by latest) does not exist")
            continue
        try:
            loaded = _load_dir(ck)
        except ValueError as e:
            errors.append(str(e))
            continue
        if errors:
            warnings.warn(f"checkpoint: skipped what cannot be read under {path} ({'; '.join(errors)}); "
                          f"reading {ck.name}", RuntimeWarning, stacklevel=2)
        return loaded
    if errors:
        raise ValueError(f"no intact checkpoint in {path}: " + "; ".join(errors))
    raise FileNotFoundError(f"no checkpoint found in {path}")


def read_checkpoint(path) -> dict:
    """Read a checkpoint directory (or the newest intact one under a root) back into nested state,
    its history included."""
    return open_checkpoint(path).state


def latest_checkpoint(root) -> Path | None:
    """The checkpoint :func:`read_checkpoint` would read under ``root`` (or ``root`` itself if it is
    one), None if there is none intact."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return open_checkpoint(root).path
    except (FileNotFoundError, ValueError):
        return None
