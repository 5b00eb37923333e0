"""Training checkpoints: safetensors for arrays, JSON for everything else; atomic.

A checkpoint is a directory ``<root>/step-<N>/`` holding ``arrays.safetensors``
(model parameters and buffers, optimiser state arrays) and ``state.json``
(scalars, scheduler and data-loader positions, RNG states, history). It is
written under a temporary name and renamed into place, and ``<root>/latest``
(also replaced atomically) names the newest one, so a crash mid-write never
leaves a half-written checkpoint behind. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from .fileio import atomic_write_text

__all__ = ["flatten_state", "unflatten_state", "write_checkpoint", "read_checkpoint", "latest_checkpoint"]

_ARRAY = "__array__"


def flatten_state(obj, prefix: str, arrays: dict):
    """Replace every np.ndarray inside nested dicts/lists by a reference, collecting the arrays.

    Returns a JSON-able structure; ``arrays`` receives ``{key: array}``.
    """
    if isinstance(obj, np.ndarray):
        key = prefix
        arrays[key] = np.ascontiguousarray(obj)
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
            return arrays[obj[_ARRAY]]
        if "__dict__" in obj:
            return {k: unflatten_state(v, arrays) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            return [unflatten_state(v, arrays) for v in obj["__list__"]]
        if "__tuple__" in obj:
            return tuple(unflatten_state(v, arrays) for v in obj["__tuple__"])
    return obj


def write_checkpoint(root, step: int, state: dict, keep: int | None = 2) -> Path:
    """Write ``state`` (nested dicts/lists of arrays and JSON values) as ``root/step-<step>``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    arrays: dict = {}
    meta = flatten_state(state, "s", arrays)
    final = root / f"step-{step:09d}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    try:
        save_file(arrays, str(tmp / "arrays.safetensors"))
        (tmp / "state.json").write_text(json.dumps(meta))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(root / "latest", final.name + "\n")
    if keep:
        old = sorted(p for p in root.glob("step-*") if p.is_dir())
        for p in old[:-keep]:
            shutil.rmtree(p, ignore_errors=True)
    return final


def latest_checkpoint(root) -> Path | None:
    """The newest complete checkpoint under ``root`` (or ``root`` itself if it is one)."""
    root = Path(root)
    if (root / "state.json").exists():
        return root
    pointer = root / "latest"
    if pointer.exists():
        cand = root / pointer.read_text().strip()
        if (cand / "state.json").exists():
            return cand
    found = sorted(p for p in root.glob("step-*") if (p / "state.json").exists())
    return found[-1] if found else None


def read_checkpoint(path) -> dict:
    """Read a checkpoint directory (or the latest one under a root) back into nested state."""
    ck = latest_checkpoint(path)
    if ck is None:
        raise FileNotFoundError(f"no checkpoint found in {path}")
    try:
        arrays = load_file(str(ck / "arrays.safetensors"))
        meta = json.loads((ck / "state.json").read_text())
    except Exception as e:  # corrupt or truncated files
        raise ValueError(f"checkpoint {ck} cannot be read: {e}") from e
    return unflatten_state(meta, arrays)
