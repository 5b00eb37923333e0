"""Datasets: indexable collections of examples, the currency being plain ``np.ndarray``s.

A dataset maps an index to one example (a tuple of arrays) and, for a whole
mini-batch at once, an array of indices to a tuple of stacked arrays
(:meth:`Dataset.get_batch`; the function :func:`get_batch` asks any dataset-like
object for one). :class:`TensorDataset` and :class:`Subset` do the latter with one
fancy-indexing operation per array, never a Python loop over examples; the Trainer
turns the arrays into Tensors.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "get_batch"]


class Dataset:
    """Base class: ``len(ds)`` examples, ``ds[i]`` -> one example as a tuple of arrays.

    Subclasses implement ``__len__`` and ``__getitem__``. ``get_batch(indices)``
    returns a tuple of arrays whose first dimension is ``len(indices)``; the default
    stacks the examples one by one (a Python loop), so datasets backed by arrays
    should override it with fancy indexing, as :class:`TensorDataset` does.
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__}: a Dataset must define __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__}: a Dataset must define __getitem__")

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """The examples at ``indices`` (1-D int array), stacked along a new first axis."""
        items = [self[int(i)] for i in indices]
        if not items:
            raise ValueError(f"{type(self).__name__}.get_batch: no indices given")
        if not isinstance(items[0], tuple):
            return (np.stack([np.asarray(it) for it in items]),)
        return tuple(np.stack([np.asarray(it[k]) for it in items]) for k in range(len(items[0])))


def _as_array(a, k: int) -> np.ndarray:
    # A layerlab Tensor (or anything with an ndarray ``.data``) is unwrapped; np.ndarray.data is a
    # memoryview, so ndarrays are checked first.
    if isinstance(a, np.ndarray):
        arr = a
    elif isinstance(getattr(a, "data", None), np.ndarray):
        arr = a.data
    else:
        arr = np.asarray(a)
    if arr.ndim == 0:
        raise ValueError(f"TensorDataset: array {k} is a scalar (shape ()); each array needs a first "
                         "dimension indexing the examples")
    return arr


def _normalize_index(index, n: int, who: str):
    """An int, a slice, or a 1-D int/bool array-like; anything else is a TypeError."""
    if isinstance(index, (numbers.Integral, np.integer)) and not isinstance(index, bool):
        i = int(index)
        if not -n <= i < n:
            raise IndexError(f"{who}: index {i} is out of range for {n} examples")
        return i
    if isinstance(index, slice):
        return index
    idx = np.asarray(index)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise IndexError(f"{who}: boolean mask has shape {idx.shape}, expected ({n},)")
        return idx
    if idx.size == 0:
        return idx.astype(np.intp)
    if idx.dtype.kind not in "iu" or idx.ndim != 1:
        raise TypeError(f"{who}: index must be an int, a slice or a 1-D int array, "
                        f"got {type(index).__name__} with dtype {idx.dtype} and shape {idx.shape}")
    lo, hi = int(idx.min()), int(idx.max())
    if lo < -n or hi >= n:
        bad = lo if lo < -n else hi
        raise IndexError(f"{who}: index {bad} is out of range for {n} examples")
    return idx


class TensorDataset(Dataset):
    """Examples are the rows of one or more arrays with the same first dimension.

    ``TensorDataset(x, y)[i]`` is ``(x[i], y[i])``; ``[a:b]`` and ``[int_array]`` give
    tuples of the corresponding sub-arrays (views for slices, copies for arrays).

    Args:
        *arrays: array-likes (or layerlab Tensors, unwrapped to their ``.data``), each
            at least 1-D, all with the same length along axis 0. They are kept as
            given (no copy, no dtype change).
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset: needs at least one array")
        self.arrays = tuple(_as_array(a, k) for k, a in enumerate(arrays))
        lengths = [len(a) for a in self.arrays]
        if len(set(lengths)) != 1:
            shapes = ", ".join(str(a.shape) for a in self.arrays)
            raise ValueError(f"TensorDataset: all arrays must have the same first dimension (number of "
                             f"examples), got lengths {lengths} (shapes {shapes})")
        self._n = lengths[0]

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index) -> tuple[np.ndarray, ...]:
        index = _normalize_index(index, self._n, "TensorDataset")
        return tuple(a[index] for a in self.arrays)

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(a[indices] for a in self.arrays)

    def __repr__(self) -> str:
        return f"TensorDataset({', '.join(f'{a.dtype}{list(a.shape)}' for a in self.arrays)})"


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices``, in that order (a view, nothing is copied).

    Args:
        dataset: any :class:`Dataset` (or object with ``__len__`` and ``__getitem__``).
        indices: 1-D int array-like of positions in ``dataset`` (repeats allowed).
    """

    def __init__(self, dataset, indices):
        self.dataset = dataset
        idx = np.asarray(indices)
        if idx.size == 0:
            idx = idx.astype(np.intp).reshape(0)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise TypeError(f"Subset: indices must be a 1-D int array, got dtype {idx.dtype} shape {idx.shape}")
        n = len(dataset)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
            raise IndexError(f"Subset: index {bad} is out of range for a dataset of {n} examples")
        self.indices = idx.astype(np.intp, copy=False)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        index = _normalize_index(index, len(self.indices), "Subset")
        if isinstance(index, int):
            return self.dataset[int(self.indices[index])]
        return get_batch(self.dataset, self.indices[index])

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        return get_batch(self.dataset, self.indices[indices])

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {self.dataset!r})"


def get_batch(dataset, indices: np.ndarray) -> tuple[np.ndarray, ...]:
    """The mini-batch of ``dataset`` at ``indices`` (a 1-D int array), as a tuple of arrays.

    What the DataLoader and the Trainer call for every batch: ``dataset.get_batch(indices)``
    when the dataset has one (every :class:`Dataset` does), else ``dataset[indices]`` (any
    object indexable by an int array), a lone array being wrapped in a 1-tuple. It is to
    ``Dataset.get_batch`` what ``len(ds)`` is to ``ds.__len__``.
    """
    method = getattr(dataset, "get_batch", None)
    if method is not None:
        return method(indices)
    batch = dataset[indices]
    return batch if isinstance(batch, tuple) else (batch,)


def random_split(dataset, lengths: Sequence, seed: int = 0) -> list[Subset]:
    """Split ``dataset`` into disjoint random :class:`Subset`s of the given sizes.

    Args:
        dataset: the dataset to split.
        lengths: sizes that sum to ``len(dataset)``, or fractions that sum to 1 (each
            part gets ``floor(f·n)`` and the remainder goes to the first parts, one each,
            as in PyTorch).
        seed: seeds the permutation (``np.random.default_rng(seed)``).
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(v, float) for v in lengths):
        if abs(sum(lengths) - 1.0) > 1e-6 or any(v < 0 for v in lengths):
            raise ValueError(f"random_split: fractions must be non-negative and sum to 1, got {lengths}")
        sizes = [int(v * n) for v in lengths]
        for k in range(n - sum(sizes)):
            sizes[k % len(sizes)] += 1
    else:
        sizes = [int(v) for v in lengths]
        if sum(sizes) != n or any(v < 0 for v in sizes):
            raise ValueError(f"random_split: lengths {sizes} must be non-negative and sum to the dataset "
                             f"length {n}")
    perm = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([0, *sizes])
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
