"""Data: datasets, the mini-batch loader, IDX files, Fashion-MNIST / MNIST, MNIST-1D, synthetic sets.

The currency is plain ``np.ndarray``s (float32 inputs, int64 labels); the Trainer
wraps them in Tensors. Nothing here imports nn, optim or train. The names are imported on first use
(``from layerlab.data import DataLoader`` does not import the downloaders and their ``urllib``).
"""

from typing import TYPE_CHECKING

from .. import _export_lazily

if TYPE_CHECKING:  # what the lazy table below provides, for type checkers and IDEs
    from .dataset import Dataset, Subset, TensorDataset, get_batch, random_split
    from .datasets import FASHION_MNIST_CLASSES, ChecksumError, Split, TrainTest, fashion_mnist, mnist
    from .idx import read_idx, write_idx
    from .loader import DataLoader
    from .mnist1d import mnist1d
    from .synthetic import blobs, checkerboard, gaussian, spirals, xor

__all__ = [
    "Dataset", "TensorDataset", "Subset", "random_split", "get_batch", "DataLoader",
    "read_idx", "write_idx",
    "fashion_mnist", "mnist", "mnist1d", "Split", "TrainTest", "ChecksumError", "FASHION_MNIST_CLASSES",
    "gaussian", "xor", "spirals", "blobs", "checkerboard",
]

_export_lazily(__name__, {
    ".dataset": ("Dataset", "Subset", "TensorDataset", "get_batch", "random_split"),
    ".datasets": ("FASHION_MNIST_CLASSES", "ChecksumError", "Split", "TrainTest", "fashion_mnist", "mnist"),
    ".idx": ("read_idx", "write_idx"),
    ".loader": ("DataLoader",),
    ".mnist1d": ("mnist1d",),
    ".synthetic": ("blobs", "checkerboard", "gaussian", "spirals", "xor"),
})
