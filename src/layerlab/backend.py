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


def set_default_dtype(dtype) -> None:
    """Set the dtype of new parameters and of tensors built from Python data.

    Only ``float32`` and ``float64`` are accepted.
    """
    global _default_dtype
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"set_default_dtype: expected float32 or float64, got {dt}")
    _default_dtype = dt
