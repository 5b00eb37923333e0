"""Fashion-MNIST and MNIST from their standard IDX files: find, verify, download, decode.

Where the files are looked for (the first directory holding every file needed wins):

1. ``root``, when given (the directory that holds the files themselves);
2. ``$LAYERLAB_DATA/<name>`` (``<name>`` is ``fashion-mnist`` or ``mnist``);
3. the system location: ``/usr/share/datasets/fashion-mnist`` (Debian package
   ``dataset-fashion-mnist``; there is no such package for MNIST);
4. the user cache, ``$XDG_CACHE_HOME/layerlab/<name>`` (default ``~/.cache/layerlab/<name>``).

Each file may be stored gzipped (``train-images-idx3-ubyte.gz``) or not
(``train-images-idx3-ubyte``). When no directory has them and ``download=True``
(and ``$LAYERLAB_NO_DOWNLOAD`` is not set), the missing files are downloaded into
``root`` or else the user cache, with a short timeout, written atomically, and
verified before use.

Checksums. A file is accepted when the SHA-256 of the file as stored is one of the
known ones (the upstream ``.gz``, and for Fashion-MNIST also Debian's), or else when
the digest of its decoded IDX bytes is the known one — so a gunzipped or recompressed
copy verifies too. Debian's Fashion-MNIST ``.gz`` files differ from upstream's only in
the gzip header (the original file name and time are stripped; the deflate streams are
identical: restoring the header gives the MD5s published in the upstream README), and
their decoded bytes have the MD5s published for the uncompressed upstream files. For
MNIST the SHA-256s of the four upstream ``.gz`` files and the published MD5s of the
decoded files are used; the latter could not be recomputed here (no MNIST files on
this machine). Decoded arrays are also checked for shape and label range.
"""

from __future__ import annotations

import hashlib
import math
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..fileio import atomic_write_bytes
from .idx import decode_idx, gunzip_if_gzipped

__all__ = ["fashion_mnist", "mnist", "Split", "TrainTest", "ChecksumError", "FASHION_MNIST_CLASSES",
           "IDXFile", "IDXDataset", "FASHION_MNIST", "MNIST", "load_idx_dataset", "clear_cache"]

#: seconds to wait for a mirror before trying the next one
DOWNLOAD_TIMEOUT = 10.0

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class ChecksumError(ValueError):
    """A data file is not the expected one (corrupt, truncated or a different file)."""


class Split(NamedTuple):
    """One split: ``x`` float32 images in [0, 1], ``y`` int64 labels."""

    x: np.ndarray
    y: np.ndarray


class TrainTest(NamedTuple):
    """``(train, test)``; unpacks as ``(x_train, y_train), (x_test, y_test)``."""

    train: Split
    test: Split


@dataclass(frozen=True)
class IDXFile:
    """One standard file: its name without ``.gz``, shape, and accepted checksums."""

    stem: str
    shape: tuple[int, ...]
    sha256: tuple[str, ...] = ()  # of the file as stored (e.g. the upstream .gz)
    content: tuple[str, str] | None = None  # (algorithm, hex digest) of the decoded IDX bytes


@dataclass(frozen=True)
class IDXDataset:
    """An image-classification set stored as four IDX files."""

    name: str  # directory name under $LAYERLAB_DATA and the cache
    title: str  # for messages
    train_images: IDXFile
    train_labels: IDXFile
    test_images: IDXFile
    test_labels: IDXFile
    mirrors: tuple[str, ...] = ()  # base URLs ending with "/"
    system_dirs: tuple[str, ...] = ()
    num_classes: int = 10


FASHION_MNIST = IDXDataset(
    name="fashion-mnist",
    title="Fashion-MNIST",
    train_images=IDXFile(
        "train-images-idx3-ubyte", (60000, 28, 28),
        ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",  # upstream
         "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"),  # Debian
        ("sha256", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888")),
    train_labels=IDXFile(
        "train-labels-idx1-ubyte", (60000,),
        ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
         "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"),
        ("sha256", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9")),
    test_images=IDXFile(
        "t10k-images-idx3-ubyte", (10000, 28, 28),
        ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
         "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"),
        ("sha256", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b")),
    test_labels=IDXFile(
        "t10k-labels-idx1-ubyte", (10000,),
        ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
         "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"),
        ("sha256", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34")),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
)

MNIST = IDXDataset(
    name="mnist",
    title="MNIST",
    train_images=IDXFile("train-images-idx3-ubyte", (60000, 28, 28),
                         ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",),
                         ("md5", "6bbc9ace898e44ae57da46a324031adb")),
    train_labels=IDXFile("train-labels-idx1-ubyte", (60000,),
                         ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",),
                         ("md5", "a25bea736e30d166cdddb491f175f624")),
    test_images=IDXFile("t10k-images-idx3-ubyte", (10000, 28, 28),
                        ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",),
                        ("md5", "2646ac647ad5339dbf082846283269ea")),
    test_labels=IDXFile("t10k-labels-idx1-ubyte", (10000,),
                        ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",),
                        ("md5", "27ae3e4e09519cfbb04c329615203637")),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
)


def fashion_mnist(root=None, download: bool = True, flatten: bool = True, split: str | None = None, *,
                  shared: bool = False):
    """Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 28×28 grey images of 10 clothing classes.

    Args:
        root: directory holding the four IDX files; by default the search order of
            this module's docstring ($LAYERLAB_DATA, the Debian package, the cache).
        download: fetch missing files into ``root`` or the user cache when none are found.
        flatten: images as (N, 784) rows (the notes' MLP input) instead of (N, 28, 28).
        split: None for both splits, or ``"train"`` / ``"test"`` for one (only its files are read).
        shared: return the arrays this process keeps for every ``shared=True`` caller — the same
            objects each time, read-only (``flags.writeable`` is False), decoded and scaled once —
            instead of a fresh writable copy. For code that reads the set many times (the lab's
            experiments); the values are the same either way.

    Returns:
        ``TrainTest(train=Split(x, y), test=Split(x, y))``, which unpacks as
        ``(x_train, y_train), (x_test, y_test)``; with ``split`` only that ``Split``.
        ``x`` is float32 in [0, 1] (pixel / 255), ``y`` int64 in 0..9
        (names in ``FASHION_MNIST_CLASSES``).

    Raises:
        FileNotFoundError: no directory has the files and they could not be downloaded.
        ChecksumError: a file is corrupt or not the standard one (the message names it).
    """
    return load_idx_dataset(FASHION_MNIST, root=root, download=download, flatten=flatten, split=split, shared=shared)


def mnist(root=None, download: bool = True, flatten: bool = True, split: str | None = None, *,
          shared: bool = False):
    """MNIST (LeCun et al. 1998): 60,000 + 10,000 28×28 grey images of handwritten digits.

    Same arguments and return value as :func:`fashion_mnist`; searched in ``root``,
    ``$LAYERLAB_DATA/mnist`` and the user cache (there is no system package).
    """
    return load_idx_dataset(MNIST, root=root, download=download, flatten=flatten, split=split, shared=shared)


# -- loading ---------------------------------------------------------------------------------

_CACHE: dict = {}  # (dataset name, stem, path, size, mtime) -> verified uint8 array
_SHARED: dict = {}  # (the images' _CACHE key, the labels' key) -> read-only float32 Split, images flattened


def clear_cache() -> None:
    """Forget the arrays kept in memory by this process (decoded files and ``shared=True`` splits)."""
    _CACHE.clear()
    _SHARED.clear()


def _to_split(images: np.ndarray, labels: np.ndarray) -> Split:
    """x = images / 255 as float32 (N, H·W); y = labels as int64. New, writable arrays."""
    x = images.astype(np.float32)
    np.divide(x, 255, out=x)  # a Python int keeps float32 (NEP 50); 255/255 is exactly 1
    return Split(x.reshape(len(x), -1), labels.astype(np.int64))


def _shared_split(key: tuple, images: np.ndarray, labels: np.ndarray) -> Split:
    """The process-wide read-only :func:`_to_split` of ``images`` and ``labels`` (made once per ``key``)."""
    s = _SHARED.get(key)
    if s is None:
        s = _to_split(images, labels)
        for a in s:
            a.flags.writeable = False  # shared by every caller in this process
        _SHARED[key] = s
    return s


def load_idx_dataset(spec: IDXDataset, root=None, download: bool = True, flatten: bool = True,
                     split: str | None = None, *, shared: bool = False):
    """Load ``spec`` (see :func:`fashion_mnist` for the arguments and the return value)."""
    if split not in (None, "train", "test"):
        raise ValueError(f"{spec.title}: split must be None, 'train' or 'test', got {split!r}")
    parts = ("train", "test") if split is None else (split,)
    needed = [getattr(spec, f"{p}_{k}") for p in parts for k in ("images", "labels")]
    directory = _locate(spec, needed, root, download)
    out = []
    for p in parts:
        (images, ki), (labels, kl) = (_load_file(spec, getattr(spec, f"{p}_{k}"), directory)
                                      for k in ("images", "labels"))
        x, y = _shared_split((ki, kl), images, labels) if shared else _to_split(images, labels)
        out.append(Split(x if flatten else x.reshape(images.shape), y))
    return out[0] if split is not None else TrainTest(*out)


def search_dirs(spec: IDXDataset, root=None) -> list[Path]:
    """The directories searched for ``spec``'s files, in order."""
    if root is not None:
        return [Path(root).expanduser()]
    dirs = []
    env = os.environ.get("LAYERLAB_DATA")
    if env:
        dirs.append(Path(env).expanduser() / spec.name)
    dirs += [Path(d) for d in spec.system_dirs]
    dirs.append(cache_dir(spec))
    return dirs


def cache_dir(spec: IDXDataset) -> Path:
    """``$XDG_CACHE_HOME/layerlab/<name>``, by default ``~/.cache/layerlab/<name>``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "layerlab" / spec.name


def _find_file(directory: Path, f: IDXFile) -> Path | None:
    for cand in (directory / f"{f.stem}.gz", directory / f.stem):
        if cand.is_file():
            return cand
    return None


def _locate(spec: IDXDataset, needed: list[IDXFile], root, download: bool) -> Path:
    dirs = search_dirs(spec, root)
    for d in dirs:
        if all(_find_file(d, f) is not None for f in needed):
            return d
    names = ", ".join(f"{f.stem}[.gz]" for f in needed)
    where = ", ".join(str(d) for d in dirs)
    if os.environ.get("LAYERLAB_NO_DOWNLOAD"):
        download = False
    if not download:
        raise FileNotFoundError(
            f"{spec.title}: the IDX files ({names}) are not in any of: {where}; downloading is off. "
            + _hint(spec))
    target = Path(root).expanduser() if root is not None else cache_dir(spec)
    missing = [f for f in needed if _find_file(target, f) is None]
    errors = _download_all(spec, missing, target)
    if errors:
        raise FileNotFoundError(
            f"{spec.title}: the IDX files ({names}) are not in any of: {where}, and downloading them into "
            f"{target} failed (no network?): {'; '.join(errors)}. " + _hint(spec))
    return target


def _hint(spec: IDXDataset) -> str:
    pkg = " install the Debian package dataset-fashion-mnist," if spec is FASHION_MNIST else ""
    return (f"To fix:{pkg} put the four files in $LAYERLAB_DATA/{spec.name} (or pass root=), "
            "or allow the download.")


def _digest(algorithm: str, blob: bytes) -> str:
    return hashlib.new(algorithm, blob).hexdigest()


def _decoded_size(f: IDXFile) -> int:
    """The size of ``f``'s IDX bytes: its header and one uint8 per entry (every standard file is uint8)."""
    return 4 + 4 * len(f.shape) + math.prod(f.shape)


def _verify(spec: IDXDataset, f: IDXFile, blob: bytes, name: str) -> bytes:
    """Check ``blob`` (a file's bytes) against ``f``'s checksums; return the decoded IDX bytes."""
    file_sha = _digest("sha256", blob)
    decoded = gunzip_if_gzipped(blob, name, _decoded_size(f))
    if file_sha in f.sha256:
        return decoded
    if f.content is not None:
        algo, want = f.content
        got = _digest(algo, decoded)
        if got == want:
            return decoded
        raise ChecksumError(
            f"{spec.title}: checksum mismatch for {name}: the file's sha256 is {file_sha} and its decoded "
            f"{algo} is {got}; expected the decoded {algo} {want}"
            + (f" (or a file sha256 in {list(f.sha256)})" if f.sha256 else "")
            + ". The file is corrupt or not the standard one: delete it (it is downloaded again when "
              "missing) or point root=/$LAYERLAB_DATA at good files.")
    if f.sha256:
        raise ChecksumError(f"{spec.title}: checksum mismatch for {name}: sha256 {file_sha}, expected one of "
                            f"{list(f.sha256)}")
    return decoded  # nothing known to check against: shape and range are checked by the caller


def _load_file(spec: IDXDataset, f: IDXFile, directory: Path) -> tuple[np.ndarray, tuple]:
    """``f``'s verified uint8 array from ``directory`` (read-only, decoded once per file version) and its
    cache key."""
    path = _find_file(directory, f)
    if path is None:
        raise FileNotFoundError(f"{spec.title}: {f.stem}[.gz] is missing from {directory}")
    st = path.stat()
    key = (spec, f.stem, str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _CACHE:
        return _CACHE[key], key
    arr = decode_idx(_verify(spec, f, path.read_bytes(), str(path)), str(path))
    if arr.dtype != np.uint8 or arr.shape != f.shape:
        raise ChecksumError(f"{spec.title}: {path}: expected uint8 of shape {f.shape}, found {arr.dtype} "
                            f"of shape {arr.shape}")
    if arr.ndim == 1 and arr.size and int(arr.max()) >= spec.num_classes:
        raise ChecksumError(f"{spec.title}: {path}: labels must be in 0..{spec.num_classes - 1}, found "
                            f"{int(arr.max())}")
    arr.flags.writeable = False  # shared by every caller in this process
    _CACHE[key] = arr
    return arr, key


# -- downloading ------------------------------------------------------------------------------

_urlopen = urllib.request.urlopen  # module attribute so tests can stand in a fake network
#: deflate never grows n bytes by more than 5 bytes per 64 KiB stored block plus the gzip frame (18 bytes
#: and the name): a response longer than the decoded size + this is not the file
_MAX_DOWNLOAD_OVERHEAD = 1 << 16


def _download_all(spec: IDXDataset, files: list[IDXFile], target: Path) -> list[str]:
    """Fetch ``files`` into ``target``, mirror by mirror; return the errors if any file is still missing.

    A mirror that fails is not asked for the remaining files, so with no network this
    costs at most one timeout per mirror.
    """
    remaining = list(files)
    errors: list[str] = []
    for base in spec.mirrors:
        while remaining:
            f = remaining[0]
            url = f"{base}{f.stem}.gz"
            try:
                limit = _MAX_DOWNLOAD_OVERHEAD + _decoded_size(f)  # gzip never grows data by more
                with _urlopen(url, timeout=DOWNLOAD_TIMEOUT) as r:
                    blob = r.read(limit + 1)
                if len(blob) > limit:
                    raise ValueError(f"the response is larger than {limit} bytes, more than the file can be")
                _verify(spec, f, blob, url)
            except (OSError, urllib.error.URLError, ValueError) as e:
                errors.append(f"{url}: {e}")
                break  # next mirror
            atomic_write_bytes(target / f"{f.stem}.gz", blob)
            remaining.pop(0)
    if not spec.mirrors:
        errors.append(f"no download location is known for {spec.title}")
    return errors if remaining else []
