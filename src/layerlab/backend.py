"""The array module and the default dtype, kept in one place.

Everything in layerlab computes with ``xp`` (NumPy today); a GPU backend such as
CuPy would be added here and nowhere else.
"""

from __future__ import annotations

import numpy as np

xp = np

_default_dtype = np.dtype(np.float32)


def get_default_dtype() -> np.dtype:
    """The dtype of new parameters and of tensors built from Python data (float32 unless set)."""
    return _default_dtype


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def float_dtype(dtype, where: str) -> np.dtype:
    """``dtype`` as an np.dtype when it is float32 or float64 (``None``: the default dtype); a TypeError
    naming ``where`` otherwise — layerlab's kernels compute in these two only."""
    if dtype is None:
        return _default_dtype
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{where}: dtype {dtype!r} is not a NumPy dtype; expected float32 or float64") from None
    if dt not in _FLOATS:
        raise TypeError(f"{where}: expected float32 or float64, got {dt} (layerlab computes in these two "
                        "only; keep float16 data for storage and cast it with .astype(np.float32))")
    return dt


def set_default_dtype(dtype) -> None:
    """Set the dtype of new parameters and of tensors built from Python data.

    Only ``float32`` and ``float64`` are accepted.
    """
    global _default_dtype
    if dtype is None:
        raise TypeError("set_default_dtype: expected float32 or float64, got None")
    _default_dtype = float_dtype(dtype, "set_default_dtype")
