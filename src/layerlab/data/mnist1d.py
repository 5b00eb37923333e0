"""MNIST-1D (Greydanus 2020): 1-D signals of 40 samples, 10 classes — a small data set on which
depth-and-seed experiments run in seconds.

Each example is one of ten hand-made 12-point templates (one per digit), padded, dilated, scaled,
translated, given correlated and i.i.d. noise and sheared, then resampled to 40 points; the whole set is
centred and scaled to unit standard deviation. The default set has 5,000 examples split 4,000 / 1,000
(train / test), about 400 / 100 per class.

The set is generated *locally* by the ``mnist1d`` package's ``make_dataset`` (its ``get_dataset`` is never
called: it downloads and unpickles a file, and layerlab never unpickles). The arrays are cached as an
``.npz`` file (read back with ``allow_pickle=False``) named by a digest of the generation arguments and the
package version, so the same arguments always give the same arrays, and the second call costs a file read
instead of the few seconds of generation. Where the file is kept:

1. ``root``, when given;
2. ``$LAYERLAB_DATA/mnist1d`` when that variable is set;
3. the user cache, ``$XDG_CACHE_HOME/layerlab/mnist1d`` (default ``~/.cache/layerlab/mnist1d``).

A cache file that cannot be read, or whose contents do not match what it should hold (arrays, shapes,
dtypes, label range, generation arguments), is regenerated and replaced (atomically), not trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import zipfile
from pathlib import Path

import numpy as np

from ..fileio import atomic_open
from .datasets import Split, TrainTest

__all__ = ["mnist1d", "MNIST1D_DEFAULTS", "mnist1d_cache_path"]

#: The generator's arguments and their defaults (``mnist1d.get_dataset_args()`` of version 0.0.2, without its
#: download ``url``); any of them may be passed to :func:`mnist1d` by name.
MNIST1D_DEFAULTS: dict = {
    "num_samples": 5000, "train_split": 0.8, "template_len": 12, "padding": [36, 60], "scale_coeff": 0.4,
    "max_translation": 48, "corr_noise_scale": 0.25, "iid_noise_scale": 2e-2, "shear_scale": 0.75,
    "shuffle_seq": False, "final_seq_length": 40, "seed": 42,
}

_KEYS = ("x", "y", "x_test", "y_test")


def _package():
    try:
        import mnist1d as pkg
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:  # pragma: no cover - the package is a runtime dependency
        raise ImportError(
            "data.mnist1d: the `mnist1d` package is needed to generate MNIST-1D (pip install mnist1d; it is a "
            f"dependency of layerlab): {e}") from e
    version = getattr(pkg, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as _v
            version = _v("mnist1d")
        except Exception:  # noqa: BLE001 - the version only names the cache file
            version = "unknown"
    return make_dataset, get_dataset_args, str(version)


def _arguments(overrides: dict) -> dict:
    unknown = sorted(set(overrides) - set(MNIST1D_DEFAULTS))
    if unknown:
        raise TypeError(f"data.mnist1d: unknown generation argument(s) {unknown}; expected some of "
                        f"{sorted(MNIST1D_DEFAULTS)}")
    args = {**MNIST1D_DEFAULTS, **overrides}
    args["padding"] = [int(v) for v in args["padding"]]
    for k in ("num_samples", "template_len", "max_translation", "final_seq_length", "seed"):
        if isinstance(args[k], bool) or int(args[k]) != args[k] or int(args[k]) < (0 if k == "seed" else 1):
            raise ValueError(f"data.mnist1d: {k} must be a {'non-negative' if k == 'seed' else 'positive'} "
                             f"integer, got {args[k]!r}")
        args[k] = int(args[k])
    if args["num_samples"] < 10:
        raise ValueError(f"data.mnist1d: num_samples must be at least 10 (one per class), got {args['num_samples']}")
    if not 0.0 < float(args["train_split"]) < 1.0:
        raise ValueError(f"data.mnist1d: train_split must be in (0, 1), got {args['train_split']!r}")
    for k in ("train_split", "scale_coeff", "corr_noise_scale", "iid_noise_scale", "shear_scale"):
        args[k] = float(args[k])
    args["shuffle_seq"] = bool(args["shuffle_seq"])
    return args


def _key(args: dict, version: str) -> str:
    """The cache key: the generation arguments and the package version as canonical JSON."""
    return json.dumps({"args": args, "mnist1d": version}, sort_keys=True)


def _directory(root) -> Path:
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("LAYERLAB_DATA")
    if env:
        return Path(env).expanduser() / "mnist1d"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "layerlab" / "mnist1d"


def mnist1d_cache_path(root=None, **overrides) -> Path:
    """The ``.npz`` file :func:`mnist1d` reads and writes for these arguments (it need not exist)."""
    _, _, version = _package()
    key = _key(_arguments(overrides), version)
    return _directory(root) / f"mnist1d-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def _generate(args: dict) -> dict[str, np.ndarray]:
    """Run ``mnist1d.data.make_dataset`` with the global NumPy and ``random`` states saved and restored."""
    make_dataset, get_dataset_args, _ = _package()

    class _Args:  # the attribute view make_dataset reads (mnist1d's ObjectView)
        def __init__(self, d):
            self.__dict__.update(d)

    full = get_dataset_args(as_dict=True)
    full.update(args)
    full["padding"] = list(args["padding"])
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(_Args(full))
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {"x": np.ascontiguousarray(d["x"], dtype=np.float32), "y": np.asarray(d["y"], dtype=np.int64),
            "x_test": np.ascontiguousarray(d["x_test"], dtype=np.float32),
            "y_test": np.asarray(d["y_test"], dtype=np.int64)}


def _expected_sizes(args: dict) -> tuple[int, int]:
    n = (args["num_samples"] // 10) * 10  # make_dataset draws num_samples // 10 per class
    n_train = int(n * args["train_split"])
    return n_train, n - n_train


def _read(path: Path, key: str, args: dict) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the file is missing, unreadable or not what ``args`` would generate."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if set(z.files) != {*_KEYS, "key"} or str(z["key"]) != key:
                return None
            arrays = {k: np.array(z[k]) for k in _KEYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    n_train, n_test = _expected_sizes(args)
    L = args["final_seq_length"]
    ok = (arrays["x"].dtype == np.float32 and arrays["x_test"].dtype == np.float32
          and arrays["y"].dtype == np.int64 and arrays["y_test"].dtype == np.int64
          and arrays["x"].shape == (n_train, L) and arrays["x_test"].shape == (n_test, L)
          and arrays["y"].shape == (n_train,) and arrays["y_test"].shape == (n_test,)
          and all(np.isfinite(arrays[k]).all() for k in ("x", "x_test"))
          and all(a.size == 0 or (a.min() >= 0 and a.max() <= 9) for a in (arrays["y"], arrays["y_test"])))
    return arrays if ok else None


def mnist1d(root=None, split: str | None = None, regenerate: bool = False, cache: bool = True, **overrides):
    """MNIST-1D (Greydanus 2020), generated locally by the ``mnist1d`` package and cached as ``.npz``.

    Args:
        root: the directory of the cache file (default: ``$LAYERLAB_DATA/mnist1d``, else
            ``$XDG_CACHE_HOME/layerlab/mnist1d``; see the module docstring).
        split: None for both splits, or ``"train"`` / ``"test"`` for one.
        regenerate: generate again and overwrite the cache file even if it is good.
        cache: read and write the cache file (False: generate every time, write nothing).
        **overrides: the generator's arguments (:data:`MNIST1D_DEFAULTS`): ``num_samples`` (5000),
            ``train_split`` (0.8), ``seed`` (42), ``final_seq_length`` (40), ``shuffle_seq`` (False:
            True permutes the 40 positions, the same permutation for every example), the noise and
            transformation scales.

    Returns:
        ``TrainTest(train=Split(x, y), test=Split(x, y))`` as :func:`~layerlab.data.fashion_mnist` returns it
        (unpacks as ``(x_train, y_train), (x_test, y_test)``); with ``split`` only that ``Split``. ``x`` is
        float32 of shape (N, 40), centred and scaled to unit standard deviation over the whole set (so *not*
        in [0, 1] like the image sets); ``y`` int64 in 0..9. The defaults give 4,000 training and 1,000 test
        examples.

    The same arguments give bit-identical arrays (the generator seeds itself from ``seed``).

    Note: ``mnist1d``'s generator reseeds the *global* NumPy and Python ``random`` generators
    (``mnist1d.utils.set_seed``); their states are saved before and restored after it runs, so calling this
    function leaves ``np.random``'s global state (which layerlab's seeded Generators do not use, but a
    caller's code may) exactly as it was.

    Raises:
        TypeError: an unknown generation argument.
        ValueError: a bad ``split`` or argument value.
        ImportError: the ``mnist1d`` package is missing.
    """
    if split not in (None, "train", "test"):
        raise ValueError(f"data.mnist1d: split must be None, 'train' or 'test', got {split!r}")
    args = _arguments(overrides)
    _, _, version = _package()
    key = _key(args, version)
    path = _directory(root) / f"mnist1d-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    arrays = None if (regenerate or not cache) else _read(path, key, args)
    if arrays is None:
        arrays = _generate(args)
        if cache:
            with atomic_open(path, "wb") as f:
                np.savez(f, key=np.array(key), **arrays)
    train, test = Split(arrays["x"], arrays["y"]), Split(arrays["x_test"], arrays["y_test"])
    if split == "train":
        return train
    if split == "test":
        return test
    return TrainTest(train, test)
