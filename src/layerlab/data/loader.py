"""DataLoader: mini-batches of a dataset, deterministic for a seed, resumable mid-epoch.

The notes' mini-batch gradient descent (seed 001) visits the training set in
random mini-batches of size B, reshuffled every epoch. Here the order of epoch
``e`` is a permutation drawn from its own Generator,
``default_rng(SeedSequence(seed, spawn_key=(e,)))`` (= ``SeedSequence(seed).spawn(e + 1)[e]``),
so epochs differ, a re-run with the same seed is bit-identical, and the position
in the stream is just ``(epoch, batch)``: that is the whole state a checkpoint needs.
"""

from __future__ import annotations

import numpy as np

from .._checks import nonnegative_int, positive_int
from .dataset import get_batch

__all__ = ["DataLoader"]


class DataLoader:
    """Iterate over ``dataset`` in mini-batches; each batch is a tuple of ``np.ndarray``s.

    A batch is gathered with one fancy-indexing operation per array (no Python loop
    over examples) and is a fresh copy: changing it never changes the dataset.

    The loader is a resumable stream, not a restartable one: ``iter(loader)`` continues
    from the current position ``(epoch, batch)``. A pass that runs to the end moves
    to the start of the next epoch (with its own shuffle); a pass that is abandoned
    midway (``break``, an exception) leaves the position after the last batch that was
    handed out, and the next ``iter()`` yields the rest of that epoch. ``state_dict()``
    / ``load_state_dict()`` save and restore the position, so a run restored from a
    mid-epoch checkpoint sees exactly the batches an uninterrupted run would have.
    ``set_epoch(e)`` jumps to the start of epoch ``e``.

    Args:
        dataset: a :class:`~layerlab.data.Dataset` (or any object with ``__len__`` and
            ``__getitem__`` accepting an int array, or a ``get_batch(indices)`` method).
        batch_size: examples per batch (the last batch may be smaller, see ``drop_last``).
        shuffle: draw a new permutation every epoch; otherwise the order is 0..N-1.
        seed: non-negative int; the permutation of epoch ``e`` comes from
            ``default_rng(SeedSequence(seed, spawn_key=(e,)))``.
        drop_last: drop the final incomplete batch of each epoch.

    Note:
        Unlike ``torch.utils.data.DataLoader``, each ``iter()`` does not start a new
        epoch from scratch; it resumes. ``len(loader)`` is the number of batches in a
        full epoch, as in PyTorch. An empty dataset is accepted at construction (so a
        caller such as the Trainer can report it) and raises ValueError on iteration.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, seed: int = 0,
                 drop_last: bool = False):
        if isinstance(dataset, (tuple, list)) and dataset and isinstance(dataset[0], np.ndarray):
            raise TypeError("DataLoader: got a tuple/list of arrays; wrap them as TensorDataset(x, y)")
        if not hasattr(dataset, "__len__") or not (hasattr(dataset, "__getitem__") or hasattr(dataset, "get_batch")):
            raise TypeError(f"DataLoader: dataset must define __len__ and __getitem__ (or get_batch), "
                            f"got {type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = positive_int(batch_size, "batch_size", "DataLoader")
        self.shuffle = bool(shuffle)
        self.seed = nonnegative_int(seed, "seed", "DataLoader")
        self.drop_last = bool(drop_last)
        self._epoch = 0
        self._batch = 0

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def epoch(self) -> int:
        """The epoch the next batch belongs to."""
        return self._epoch

    def order(self, epoch: int) -> np.ndarray:
        """The order in which epoch ``epoch`` visits the examples (a permutation of 0..N-1)."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(int(epoch),)))
        return rng.permutation(n)

    def __iter__(self):
        n = len(self.dataset)
        if n == 0:
            raise ValueError(f"DataLoader: the dataset is empty (0 examples); nothing to iterate "
                             f"({type(self.dataset).__name__})")
        nb = len(self)
        if nb == 0:
            raise ValueError(f"DataLoader: drop_last=True with batch_size={self.batch_size} larger than the "
                             f"dataset ({n} examples) leaves no batch")
        return self._batches(self._epoch, self._batch, nb)

    def _batches(self, epoch: int, start: int, nb: int):
        order = self.order(epoch)
        bs = self.batch_size
        for i in range(start, nb):
            batch = get_batch(self.dataset, order[i * bs:(i + 1) * bs])
            # the position moves before the yield: a checkpoint taken while the consumer
            # works on batch i must resume at batch i + 1.
            self._epoch, self._batch = epoch, i + 1
            yield batch
        self._epoch, self._batch = epoch + 1, 0

    def set_epoch(self, epoch: int) -> None:
        """Move to the start of epoch ``epoch``."""
        self._epoch = nonnegative_int(epoch, "epoch", "DataLoader.set_epoch")
        self._batch = 0

    def state_dict(self) -> dict:
        """The position in the stream: ``{"epoch": e, "batch": i, "seed": s}`` (plain ints).

        ``batch`` is the index of the next batch to hand out within epoch ``e``.
        """
        return {"epoch": self._epoch, "batch": self._batch, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        """Restore a position saved by :meth:`state_dict` (the saved seed replaces this loader's)."""
        missing = {"epoch", "batch", "seed"} - set(state)
        if missing:
            raise KeyError(f"DataLoader.load_state_dict: missing keys {sorted(missing)} in {state!r}")
        where = "DataLoader.load_state_dict"
        epoch = nonnegative_int(state["epoch"], "epoch", where)
        batch = nonnegative_int(state["batch"], "batch", where)
        seed = nonnegative_int(state["seed"], "seed", where)
        if batch > len(self):
            raise ValueError(f"DataLoader.load_state_dict: batch {batch} is past the end of an epoch of "
                             f"{len(self)} batches (was the batch size or the dataset different?)")
        self._epoch, self._batch, self.seed = epoch, batch, seed

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"seed={self.seed}, drop_last={self.drop_last})")
