"""Fashion-MNIST / MNIST: the real files (when present), and lookup, checksums and download on fakes.

No test downloads anything: downloads are exercised with ``file://`` mirrors and a
stand-in ``urlopen``.
"""

import gzip
import hashlib
import os
import struct
import urllib.error
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from layerlab import data
from layerlab.data import datasets as ds
from layerlab.data.idx import encode_idx, write_idx

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test sees the user's cache or $LAYERLAB_DATA, or keeps arrays cached for the next."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("LAYERLAB_DATA", raising=False)
    monkeypatch.delenv("LAYERLAB_NO_DOWNLOAD", raising=False)
    yield
    ds.clear_cache()


# -- the real Fashion-MNIST ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fashion_dir():
    """The directory the real files are found in (or downloaded to), with the user's real settings."""
    spec = ds.FASHION_MNIST
    files = [spec.train_images, spec.train_labels, spec.test_images, spec.test_labels]
    try:
        return ds._locate(spec, files, None, download=True)
    except FileNotFoundError as e:
        pytest.skip(f"no Fashion-MNIST IDX files could be found or downloaded anywhere: {e}")


@pytest.fixture(scope="module")
def fashion(fashion_dir):
    return data.fashion_mnist(root=fashion_dir)


def test_fashion_mnist_shapes_dtypes_ranges(fashion):
    (x, y), (xt, yt) = fashion
    assert fashion.train.x is x and fashion.test.y is yt
    assert x.shape == (60000, 784) and xt.shape == (10000, 784)
    assert x.dtype == np.float32 and y.dtype == np.int64 and yt.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert np.array_equal(np.bincount(y), [6000] * 10) and np.array_equal(np.bincount(yt), [1000] * 10)
    # the normalisation constants everyone uses for Fashion-MNIST: mean 0.2860, std 0.3530
    assert abs(float(x.mean(dtype=np.float64)) - 0.2860) < 1e-3
    assert abs(float(x.std(dtype=np.float64)) - 0.3530) < 1e-3
    # pixel / 255 in float32, exactly: every value is float32(k) / 255 for an integer k
    k = np.round(xt * 255)
    assert np.array_equal(xt, k / 255) and len(np.unique(k)) == 256


def test_fashion_mnist_unflattened_and_one_split(fashion, fashion_dir):
    test = data.fashion_mnist(root=fashion_dir, flatten=False, split="test")
    assert test.x.shape == (10000, 28, 28)
    assert np.array_equal(test.x.reshape(10000, -1), fashion.test.x)
    assert np.array_equal(test.y, fashion.test.y)


def test_results_are_private_copies(fashion_dir):
    x = data.fashion_mnist(root=fashion_dir, split="test").x
    x[0] = 7
    assert data.fashion_mnist(root=fashion_dir, split="test").x[0].max() <= 1.0


def test_real_files_verify_against_the_checksum_table(fashion_dir):
    directory = fashion_dir
    for f in (ds.FASHION_MNIST.train_images, ds.FASHION_MNIST.train_labels,
              ds.FASHION_MNIST.test_images, ds.FASHION_MNIST.test_labels):
        path = ds._find_file(directory, f)
        blob = path.read_bytes()
        decoded = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
        algo, want = f.content
        assert hashlib.new(algo, decoded).hexdigest() == want, path
        assert hashlib.sha256(blob).hexdigest() in f.sha256 or path.suffix != ".gz", path


@pytest.mark.parametrize("damage", ["one label changed", "truncated", "gunzipped and cut"])
def test_a_damaged_copy_of_the_real_files_is_refused_naming_the_file(fashion_dir, tmp_path, damage):
    """The real checksum table at work: a copy of the test split with one file damaged."""
    root = tmp_path / "copy"
    root.mkdir()
    spec = ds.FASHION_MNIST
    for f in (spec.test_images, spec.test_labels):
        src = ds._find_file(fashion_dir, f)
        (root / src.name).write_bytes(src.read_bytes())
    assert np.array_equal(data.fashion_mnist(root=root, split="test").y,
                          data.fashion_mnist(root=fashion_dir, split="test").y)
    ds.clear_cache()
    labels = ds._find_file(root, spec.test_labels)
    raw = bytearray(gzip.decompress(labels.read_bytes()) if labels.suffix == ".gz" else labels.read_bytes())
    labels.unlink()
    if damage == "one label changed":  # well-formed, right shape and range: only the checksum can tell
        raw[8 + 123] = (raw[8 + 123] + 1) % 10
        bad = root / "t10k-labels-idx1-ubyte.gz"
        bad.write_bytes(gzip.compress(bytes(raw)))
        exc, match = data.ChecksumError, "checksum mismatch for"
    elif damage == "truncated":
        bad = root / "t10k-labels-idx1-ubyte.gz"
        bad.write_bytes(gzip.compress(bytes(raw))[:-40])
        exc, match = ValueError, "gzip stream is corrupt or truncated"
    else:
        bad = root / "t10k-labels-idx1-ubyte"
        bad.write_bytes(bytes(raw[:-10]))
        exc, match = data.ChecksumError, "checksum mismatch for"
    with pytest.raises(exc, match=match) as info:
        data.fashion_mnist(root=root, split="test", download=False)
    assert str(bad) in str(info.value)


# Upstream README md5s of the .gz files, and the gzip header fields Debian's repack dropped
# (the original file name; the time, found by search). Restoring them gives upstream's bytes.
UPSTREAM_GZ = {
    "train-images-idx3-ubyte": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", 1504176606),
    "train-labels-idx1-ubyte": ("25c81989df183df01b3e8a0aad5dffbe", 1504176606),
    "t10k-images-idx3-ubyte": ("bef4ecab320f06d8554ea6380940ec79", 1504176627),
    "t10k-labels-idx1-ubyte": ("bb300cfdad3c16e7a12a480ee83cd310", 1504176627),
}


@pytest.mark.parametrize("stem", ["train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])
def test_debian_files_are_upstreams_with_the_gzip_name_stripped(stem):
    path = DEBIAN_DIR / f"{stem}.gz"
    if not path.is_file():
        pytest.skip(f"the Debian package dataset-fashion-mnist is not installed ({path} missing)")
    blob = path.read_bytes()
    if blob[3] != 0:
        pytest.skip(f"{path} is not the known Debian repack")
    md5, mtime = UPSTREAM_GZ[stem]
    upstream = b"\x1f\x8b\x08\x08" + struct.pack("<I", mtime) + blob[8:10] + stem.encode() + b"\0" + blob[10:]
    assert hashlib.md5(upstream).hexdigest() == md5


# -- a small fake data set, served from a file:// "mirror" --------------------------------------------------

def make_fake(tmp_path, n_train=12, n_test=5, name="fake-mnist"):
    """Write a tiny IDX data set into a server directory; return (spec, arrays)."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    arrays["train-images-idx3-ubyte"][0, 0, 0] = 255  # the maximum maps to exactly 1.0
    server = tmp_path / "server"
    files = {}
    for stem, a in arrays.items():
        blob = write_idx(server / f"{stem}.gz", a).read_bytes()
        files[stem] = ds.IDXFile(stem, a.shape, (hashlib.sha256(blob).hexdigest(),),
                                 ("sha256", hashlib.sha256(encode_idx(a)).hexdigest()))
    spec = ds.IDXDataset(
        name=name, title="FakeMNIST",
        train_images=files["train-images-idx3-ubyte"], train_labels=files["train-labels-idx1-ubyte"],
        test_images=files["t10k-images-idx3-ubyte"], test_labels=files["t10k-labels-idx1-ubyte"],
        mirrors=(server.as_uri() + "/",),
    )
    return spec, arrays


def no_network(*args, **kwargs):
    raise urllib.error.URLError("no network (test stand-in)")


def check_loaded(result, arrays, flatten=True):
    (x, y), (xt, yt) = result
    imgs = arrays["train-images-idx3-ubyte"]
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert x.shape == ((len(imgs), 784) if flatten else imgs.shape)
    assert np.array_equal(x.reshape(imgs.shape), imgs / np.float32(255))
    assert x.max() == 1.0
    assert np.array_equal(y, arrays["train-labels-idx1-ubyte"])
    assert np.array_equal(xt.reshape(-1, 28, 28) * 255, arrays["t10k-images-idx3-ubyte"].astype(np.float32))
    assert np.array_equal(yt, arrays["t10k-labels-idx1-ubyte"])


def test_download_into_root_then_offline(tmp_path, monkeypatch):
    spec, arrays = make_fake(tmp_path)
    root = tmp_path / "root"
    check_loaded(ds.load_idx_dataset(spec, root=root), arrays)
    assert sorted(p.name for p in root.iterdir()) == sorted(f"{s}.gz" for s in arrays)  # no temp files left
    ds.clear_cache()
    monkeypatch.setattr(ds, "_urlopen", no_network)
    check_loaded(ds.load_idx_dataset(spec, root=root, flatten=False), arrays, flatten=False)


def test_download_goes_to_the_user_cache(tmp_path, monkeypatch):
    spec, arrays = make_fake(tmp_path)
    check_loaded(ds.load_idx_dataset(spec), arrays)
    cached = tmp_path / "xdg-cache" / "layerlab" / spec.name
    assert sorted(p.name for p in cached.iterdir()) == sorted(f"{s}.gz" for s in arrays)


def test_mnist_downloads_through_its_mirrors(tmp_path, monkeypatch):
    spec, arrays = make_fake(tmp_path, name="mnist")
    monkeypatch.setattr(ds, "MNIST", spec)
    check_loaded(data.mnist(root=tmp_path / "m"), arrays)


def test_only_missing_files_are_downloaded(tmp_path, monkeypatch):
    spec, arrays = make_fake(tmp_path)
    root = tmp_path / "root"
    write_idx(root / "train-images-idx3-ubyte", arrays["train-images-idx3-ubyte"], gzip=False)  # a raw copy
    asked = []
    real = ds._urlopen
    monkeypatch.setattr(ds, "_urlopen", lambda url, timeout: asked.append(url) or real(url, timeout=timeout))
    check_loaded(ds.load_idx_dataset(spec, root=root), arrays)
    assert sorted(Path(u).name for u in asked) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                                                   "train-labels-idx1-ubyte.gz"]


def test_no_network_is_a_clear_file_not_found(tmp_path, monkeypatch):
    spec, _ = make_fake(tmp_path)
    monkeypatch.setattr(ds, "_urlopen", no_network)
    with pytest.raises(FileNotFoundError, match=r"not in any of: .*xdg-cache.*downloading them into .* failed "
                                                 r"\(no network\?\).*no network \(test stand-in\)"):
        ds.load_idx_dataset(spec)


@pytest.mark.parametrize("how", ["argument", "env"])
def test_download_off_never_touches_the_network(tmp_path, monkeypatch, how):
    spec, _ = make_fake(tmp_path)
    monkeypatch.setattr(ds, "_urlopen", lambda *a, **k: pytest.fail("must not download"))
    if how == "env":
        monkeypatch.setenv("LAYERLAB_NO_DOWNLOAD", "1")
    with pytest.raises(FileNotFoundError, match="downloading is off"):
        ds.load_idx_dataset(spec, download=how == "env")


def test_a_bad_mirror_is_skipped_and_nothing_bad_is_written(tmp_path):
    spec, arrays = make_fake(tmp_path)
    evil = tmp_path / "evil"
    for stem, a in arrays.items():
        write_idx(evil / f"{stem}.gz", a[::-1].copy())  # well-formed IDX, wrong content
    spec2 = replace(spec, mirrors=(evil.as_uri() + "/",))
    root = tmp_path / "root"
    with pytest.raises(FileNotFoundError, match="checksum mismatch for file://.*train-images-idx3-ubyte.gz"):
        ds.load_idx_dataset(spec2, root=root)
    assert not root.exists() or not any(root.iterdir())
    spec3 = replace(spec, mirrors=(evil.as_uri() + "/", *spec.mirrors))
    check_loaded(ds.load_idx_dataset(spec3, root=root), arrays)


def test_lookup_order(tmp_path, monkeypatch):
    spec, arrays = make_fake(tmp_path)
    monkeypatch.setattr(ds, "_urlopen", no_network)
    env_root = tmp_path / "env"
    system = tmp_path / "system"
    cache = tmp_path / "xdg-cache" / "layerlab" / spec.name
    spec = replace(spec, system_dirs=(str(system),))
    for d in (env_root / spec.name, system, cache):
        for stem, a in arrays.items():
            write_idx(d / f"{stem}.gz", a)
    monkeypatch.setenv("LAYERLAB_DATA", str(env_root))
    assert ds.search_dirs(spec) == [env_root / spec.name, system, cache]
    assert ds.search_dirs(spec, root=tmp_path / "r") == [tmp_path / "r"]
    assert ds._locate(spec, [spec.test_labels], None, False) == env_root / spec.name
    (env_root / spec.name / "t10k-labels-idx1-ubyte.gz").unlink()  # incomplete: the next directory wins
    assert ds._locate(spec, [spec.test_labels], None, False) == system
    assert ds._locate(spec, [spec.train_labels], None, False) == env_root / spec.name
    monkeypatch.delenv("LAYERLAB_DATA")
    (system / "t10k-labels-idx1-ubyte.gz").unlink()
    assert ds._locate(spec, [spec.test_labels], None, False) == cache


def test_raw_and_recompressed_copies_verify_by_content(tmp_path, monkeypatch):
    spec, arrays = make_fake(tmp_path)
    monkeypatch.setattr(ds, "_urlopen", no_network)
    root = tmp_path / "root"
    root.mkdir()
    for k, (stem, a) in enumerate(arrays.items()):
        if k % 2:
            write_idx(root / stem, a, gzip=False)
        else:
            (root / f"{stem}.gz").write_bytes(gzip.compress(encode_idx(a), compresslevel=1, mtime=12345))
    check_loaded(ds.load_idx_dataset(spec, root=root), arrays)


def test_corrupt_file_raises_checksum_error_naming_it(tmp_path, monkeypatch):
    spec, arrays = make_fake(tmp_path)
    monkeypatch.setattr(ds, "_urlopen", no_network)
    root = tmp_path / "root"
    for stem, a in arrays.items():
        write_idx(root / f"{stem}.gz", a)
    bad = arrays["t10k-labels-idx1-ubyte"].copy()
    bad[0] = (bad[0] + 1) % 10
    write_idx(root / "t10k-labels-idx1-ubyte.gz", bad)
    with pytest.raises(data.ChecksumError, match=r"checksum mismatch for .*root/t10k-labels-idx1-ubyte.gz.*"
                                                 r"delete it"):
        ds.load_idx_dataset(spec, root=root)
    ds.load_idx_dataset(spec, root=root, split="train")  # the other split is fine


def test_truncated_gzip_raises_naming_it(tmp_path, monkeypatch):
    spec, arrays = make_fake(tmp_path)
    monkeypatch.setattr(ds, "_urlopen", no_network)
    root = tmp_path / "root"
    for stem, a in arrays.items():
        write_idx(root / f"{stem}.gz", a)
    p = root / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(ValueError, match=f"{p}: the gzip stream is corrupt or truncated"):
        ds.load_idx_dataset(spec, root=root)


@pytest.mark.parametrize("problem, match", [
    ("shape", r"expected uint8 of shape \(5, 28, 28\), found uint8 of shape \(5, 27, 28\)"),
    ("labels", r"labels must be in 0..9, found 12"),
])
def test_unverifiable_files_still_get_shape_and_label_checks(tmp_path, monkeypatch, problem, match):
    spec, arrays = make_fake(tmp_path)
    monkeypatch.setattr(ds, "_urlopen", no_network)
    blank = {k: replace(getattr(spec, k), sha256=(), content=None)
             for k in ("train_images", "train_labels", "test_images", "test_labels")}
    spec = replace(spec, **blank)
    root = tmp_path / "root"
    for stem, a in arrays.items():
        write_idx(root / f"{stem}.gz", a)
    if problem == "shape":
        write_idx(root / "t10k-images-idx3-ubyte.gz", arrays["t10k-images-idx3-ubyte"][:, 1:])
    else:
        bad = arrays["t10k-labels-idx1-ubyte"].copy()
        bad[2] = 12
        write_idx(root / "t10k-labels-idx1-ubyte.gz", bad)
    with pytest.raises(data.ChecksumError, match=match):
        ds.load_idx_dataset(spec, root=root, split="test")


def test_decoded_arrays_are_cached_until_the_file_changes(tmp_path, monkeypatch):
    spec, arrays = make_fake(tmp_path)
    root = tmp_path / "root"
    ds.load_idx_dataset(spec, root=root, split="test")
    calls = []
    real = ds._verify
    monkeypatch.setattr(ds, "_verify", lambda *a: calls.append(a[3]) or real(*a))
    ds.load_idx_dataset(spec, root=root, split="test")
    assert calls == []
    p = root / "t10k-labels-idx1-ubyte.gz"
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 10**9))
    ds.load_idx_dataset(spec, root=root, split="test")
    assert calls == [str(p)]


def test_shared_arrays_are_one_read_only_copy_with_the_private_values(tmp_path):
    spec, arrays = make_fake(tmp_path)
    root = tmp_path / "root"
    shared = ds.load_idx_dataset(spec, root=root, shared=True)
    check_loaded(shared, arrays)
    again = ds.load_idx_dataset(spec, root=root, shared=True)
    assert all(a is b for a, b in zip([*shared.train, *shared.test], [*again.train, *again.test]))
    with pytest.raises(ValueError, match="read-only"):
        shared.train.x[0] = 7
    private = ds.load_idx_dataset(spec, root=root)
    assert private.train.x is not shared.train.x and private.train.x.flags.writeable
    for a, b in zip([*shared.train, *shared.test], [*private.train, *private.test]):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    images = ds.load_idx_dataset(spec, root=root, flatten=False, split="test", shared=True)
    assert images.x.shape == (len(arrays["t10k-images-idx3-ubyte"]), 28, 28) and not images.x.flags.writeable
    assert np.shares_memory(images.x, shared.test.x)
    ds.clear_cache()
    assert ds.load_idx_dataset(spec, root=root, shared=True).train.x is not shared.train.x


def test_bad_split(tmp_path):
    with pytest.raises(ValueError, match="split must be None, 'train' or 'test', got 'val'"):
        data.fashion_mnist(split="val")


def test_checksum_table_is_well_formed():
    for spec in (ds.FASHION_MNIST, ds.MNIST):
        for f in (spec.train_images, spec.train_labels, spec.test_images, spec.test_labels):
            assert f.sha256 and all(len(h) == 64 and int(h, 16) >= 0 for h in f.sha256)
            algo, digest = f.content
            assert len(digest) == hashlib.new(algo).digest_size * 2
