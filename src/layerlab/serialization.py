"""Saving and loading weights as safetensors files (never pickle).

``save(module, path)`` writes ``module.state_dict()`` (parameters and persistent
buffers, PyTorch key names such as ``0.weight``); ``load(module, path)`` reads it
back into an existing module with the same structure. Files are written
atomically: to a temporary file in the same directory, flushed to disk, then
renamed over ``path`` with ``os.replace`` — a crash never leaves a half-written file.

The bytes are a function of the arrays and the metadata alone: :func:`safetensors_bytes`
lays the file out itself (the metadata with sorted keys, the tensors by dtype
alignment then name, as the reference implementation orders them), so saving the same
model twice, in one process or in two, gives identical files. (safetensors' own writer
passes the metadata through a hash map and orders it differently on every call.)

The generic helpers :func:`save_arrays`, :func:`load_arrays` and
:func:`load_metadata` handle any flat ``{name: np.ndarray}`` dict with string
metadata, for checkpoints and other callers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file

from .fileio import atomic_write_bytes

__all__ = ["save", "load", "save_arrays", "load_arrays", "load_metadata", "safetensors_bytes"]

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


# safetensors dtype names, in the reference writer's order of precedence (larger items first)
_DTYPES = {"b": "BOOL", "u1": "U8", "i1": "I8", "i2": "I16", "u2": "U16", "f2": "F16", "i4": "I32",
           "u4": "U32", "f4": "F32", "f8": "F64", "i8": "I64", "u8": "U64"}
_RANK = {name: i for i, name in enumerate(_DTYPES.values())}


def _dtype_name(a: np.ndarray, where: str, key: str) -> str:
    code = "b" if a.dtype.kind == "b" else f"{a.dtype.kind}{a.dtype.itemsize}"
    if code not in _DTYPES:
        raise TypeError(f"{where}: '{key}' has dtype {a.dtype}; safetensors cannot store it")
    return _DTYPES[code]


def safetensors_bytes(arrays: dict, metadata: dict | None = None) -> bytes:
    """The safetensors file for ``{name: np.ndarray}`` and str -> str ``metadata``, deterministically.

    Layout (the format's): 8 bytes little-endian header length, a JSON header (``__metadata__``
    with sorted keys, then each tensor's dtype, shape and byte range), padded with spaces to a
    multiple of 8, then the tensors' little-endian bytes, largest dtypes first, then by name.
    Readable by ``safetensors.numpy.load_file`` and ``safe_open``.
    """
    where = "safetensors_bytes"
    items = []
    for k, v in arrays.items():
        v = np.asarray(v)
        name = _dtype_name(v, where, k)
        items.append((-_RANK[name], k, name, v))
    items.sort(key=lambda t: (t[0], t[1]))
    header: dict = {}
    if metadata:
        header["__metadata__"] = {k: metadata[k] for k in sorted(metadata)}
    chunks, offset = [], 0
    for _, k, name, v in items:
        le = v.astype(v.dtype.newbyteorder("<"), copy=False) if v.dtype.byteorder == ">" else v
        blob = le.tobytes(order="C")
        header[k] = {"dtype": name, "shape": list(v.shape), "data_offsets": [offset, offset + len(blob)]}
        chunks.append(blob)
        offset += len(blob)
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    head += b" " * (-len(head) % 8)
    return len(head).to_bytes(8, "little") + head + b"".join(chunks)


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
    atomic_write_bytes(path, safetensors_bytes(clean, meta))
    return path


def _open_error(path: Path, e: Exception, where: str) -> Exception:
    return ValueError(f"{where}: '{path}' is not a readable safetensors file ({e})")


#: safetensors dtypes NumPy holds natively
_NUMPY_DTYPES = {"BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64", "F16", "F32", "F64"}


def _check_header(path: Path, where: str) -> None:
    """Read and check the header of ``path`` before the library maps the file: the length prefix fits the
    file, the header is a JSON object, and every tensor's dtype is one NumPy holds (BF16, F8_* and
    others are named in the error, instead of a TypeError or AttributeError from deep inside)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise ValueError(f"{where}: '{path}' is not a readable safetensors file: {size} bytes, shorter than the "
                             "8-byte header length")
        n = int.from_bytes(prefix, "little")
        if n > size - 8:
            raise ValueError(f"{where}: '{path}' is not a readable safetensors file: its header claims {n} bytes, "
                             f"the file has {size - 8} after the length")
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{where}: '{path}' is not a readable safetensors file: its header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{where}: '{path}' is not a readable safetensors file: its header is not a JSON object")
    for name, info in header.items():
        if name == "__metadata__" or not isinstance(info, dict):
            continue  # the library checks the rest of the layout
        dtype = info.get("dtype")
        if isinstance(dtype, str) and dtype not in _NUMPY_DTYPES:
            raise ValueError(f"{where}: '{path}': tensor {name!r} has dtype {dtype}, which NumPy (and so "
                             f"layerlab) cannot hold; supported: {', '.join(sorted(_NUMPY_DTYPES))}. Convert "
                             "it first, e.g. to F32")


def load_arrays(path) -> dict:
    """Read every array of the safetensors file at ``path`` into a dict name -> np.ndarray."""
    path = Path(path)
    where = "load_arrays"
    if not path.is_file():
        raise FileNotFoundError(f"{where}: no such file '{path}'")
    _check_header(path, where)
    try:
        return dict(load_file(str(path)))
    except (SafetensorError, OSError, ValueError) as e:
        raise _open_error(path, e, where) from None


def load_metadata(path) -> dict:
    """The metadata dict (str -> str) stored in the header of ``path`` ({} when none)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_metadata: no such file '{path}'")
    _check_header(path, "load_metadata")
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
