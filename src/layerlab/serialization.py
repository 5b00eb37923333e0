"""Saving and loading weights as safetensors files (never pickle).

``save(module, path)`` writes ``module.state_dict()`` (parameters and persistent
buffers, PyTorch key names such as ``0.weight``); ``load(module, path)`` reads it
back into an existing module with the same structure. Files are written
atomically: to a temporary file in the same directory, flushed to disk, then
renamed over ``path`` with ``os.replace`` — a crash never leaves a half-written file.

The generic helpers :func:`save_arrays`, :func:`load_arrays` and
:func:`load_metadata` handle any flat ``{name: np.ndarray}`` dict with string
metadata, for checkpoints and other callers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file
from safetensors.numpy import save as _st_save

from .fileio import atomic_write_bytes

__all__ = ["save", "load", "save_arrays", "load_arrays", "load_metadata"]

_FORMAT_KEY = "layerlab.format"
_FORMAT = "module-state-dict"


def _check_metadata(metadata, where: str) -> dict | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise TypeError(f"{where}: metadata must be a dict str -> str, got {type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(
                f"{where}: metadata must map str to str (safetensors stores only strings); "
                f"entry {k!r}: {type(v).__name__} — encode other values, e.g. with json.dumps"
            )
    return dict(metadata)


def save_arrays(arrays: dict, path, metadata: dict | None = None) -> Path:
    """Write ``{name: np.ndarray}`` to a safetensors file at ``path``, atomically.

    Args:
        arrays: flat dict of str -> np.ndarray (numeric or bool dtypes).
        path: the file to write (its directory must exist).
        metadata: optional dict str -> str stored in the header.

    Returns:
        The path written.
    """
    path = Path(path)
    where = f"save_arrays('{path}')"
    if not isinstance(arrays, dict):
        raise TypeError(f"{where}: expected a dict name -> np.ndarray, got {type(arrays).__name__}")
    clean = {}
    for k, v in arrays.items():
        if not isinstance(k, str):
            raise TypeError(f"{where}: array names must be str, got {k!r}")
        if not isinstance(v, np.ndarray):
            raise TypeError(f"{where}: '{k}' is a {type(v).__name__}, expected an np.ndarray")
        if v.dtype.kind not in "biuf":
            raise TypeError(f"{where}: '{k}' has dtype {v.dtype}; only bool, int and float arrays can be stored")
        clean[k] = v if v.flags.c_contiguous else v.copy(order="C")  # (ascontiguousarray makes 0-d 1-d)
    meta = _check_metadata(metadata, where)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{where}: directory '{path.parent}' does not exist")
    payload = _st_save(clean, metadata=meta)
    atomic_write_bytes(path, payload)
    return path


def _open_error(path: Path, e: Exception, where: str) -> Exception:
    return ValueError(f"{where}: '{path}' is not a readable safetensors file ({e})")


def load_arrays(path) -> dict:
    """Read every array of the safetensors file at ``path`` into a dict name -> np.ndarray."""
    path = Path(path)
    where = "load_arrays"
    if not path.is_file():
        raise FileNotFoundError(f"{where}: no such file '{path}'")
    try:
        return dict(load_file(str(path)))
    except (SafetensorError, OSError, ValueError) as e:
        raise _open_error(path, e, where) from None


def load_metadata(path) -> dict:
    """The metadata dict (str -> str) stored in the header of ``path`` ({} when none)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_metadata: no such file '{path}'")
    try:
        with safe_open(str(path), framework="np") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as e:
        raise _open_error(path, e, "load_metadata") from None


def save(module, path, metadata: dict | None = None) -> Path:
    """Save ``module.state_dict()`` to ``path`` (safetensors), atomically.

    Args:
        module: an ``nn.Module``.
        path: file to write, conventionally ``*.safetensors``.
        metadata: optional dict str -> str kept in the file header (read it back with
            ``serialization.load_metadata``).
    """
    meta = dict(_check_metadata(metadata, f"save('{path}')") or {})
    meta.setdefault(_FORMAT_KEY, _FORMAT)
    meta.setdefault("layerlab.module", type(module).__name__)
    return save_arrays(dict(module.state_dict()), path, meta)


def load(module, path, strict: bool = True):
    """Load the weights in ``path`` into ``module`` in place (the module keeps its dtype).

    With ``strict`` (default), a tensor missing from the file, an extra tensor in the
    file or a tensor of the wrong shape raises ValueError naming the file and the
    tensors. Without it, missing and extra tensors are skipped (wrong shapes still raise).

    Returns:
        ``(missing_keys, unexpected_keys)``, as ``Module.load_state_dict``.
    """
    path = Path(path)
    arrays = load_arrays(path)
    try:
        return module.load_state_dict(arrays, strict=strict)
    except ValueError as e:
        raise ValueError(f"load('{path}'): {e}") from None
