"""Datasets and the DataLoader: indexing, batching, seeded shuffles, mid-epoch resume."""

import json

import numpy as np
import pytest

import layerlab as ll
from layerlab import data
from layerlab.data import DataLoader, Dataset, Subset, TensorDataset, random_split


def make_xy(n=23, d=3):
    x = np.arange(n * d, dtype=np.float32).reshape(n, d)
    y = np.arange(n, dtype=np.int64)
    return x, y


def run(loader, batches):
    """Take ``batches`` batches from the loader's stream, across epoch boundaries, as the Trainer does."""
    out = []
    while len(out) < batches:
        for b in loader:
            out.append(b)
            if len(out) == batches:
                break
    return out


# -- TensorDataset ------------------------------------------------------------------------------

def test_tensor_dataset_indexing():
    x, y = make_xy()
    ds = TensorDataset(x, y)
    assert len(ds) == 23
    xi, yi = ds[4]
    assert np.array_equal(xi, x[4]) and yi == 4
    xi, yi = ds[-1]
    assert yi == 22
    xs, ys = ds[2:5]
    assert np.array_equal(xs, x[2:5]) and np.array_equal(ys, [2, 3, 4])
    xa, ya = ds[np.array([7, 1, 7])]
    assert np.array_equal(xa, x[[7, 1, 7]]) and np.array_equal(ya, [7, 1, 7])
    xl, yl = ds[[0, 2]]
    assert np.array_equal(yl, [0, 2])
    mask = y % 5 == 0
    assert np.array_equal(ds[mask][1], y[mask])
    assert ds.arrays[0] is x  # kept as given, no copy


def test_tensor_dataset_unwraps_tensors():
    x, y = make_xy()
    ds = TensorDataset(ll.tensor(x), y)
    assert isinstance(ds.arrays[0], np.ndarray) and ds.arrays[0].dtype == np.float32


@pytest.mark.parametrize("arrays, match", [
    ((np.zeros((5, 2)), np.zeros(4)), r"same first dimension.*lengths \[5, 4\].*\(5, 2\), \(4,\)"),
    ((np.zeros((5, 2)), np.float32(1.0)), r"array 1 is a scalar"),
    ((), "at least one array"),
])
def test_tensor_dataset_bad_arrays(arrays, match):
    with pytest.raises(ValueError, match=match):
        TensorDataset(*arrays)


@pytest.mark.parametrize("index, exc, match", [
    (23, IndexError, "index 23 is out of range for 23 examples"),
    (-24, IndexError, "out of range"),
    (np.array([0, 30]), IndexError, "index 30 is out of range"),
    (np.array([0.5]), TypeError, "1-D int array"),
    (np.ones(5, bool), IndexError, r"boolean mask has shape \(5,\), expected \(23,\)"),
])
def test_tensor_dataset_bad_index(index, exc, match):
    ds = TensorDataset(*make_xy())
    with pytest.raises(exc, match=match):
        ds[index]


# -- DataLoader: batching ------------------------------------------------------------------------

@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_one_epoch_visits_every_example_once(shuffle, drop_last):
    x, y = make_xy(23)
    loader = DataLoader(TensorDataset(x, y), batch_size=5, shuffle=shuffle, seed=3, drop_last=drop_last)
    batches = list(loader)
    assert len(batches) == len(loader) == (4 if drop_last else 5)
    assert [len(b[1]) for b in batches] == ([5] * 4 if drop_last else [5, 5, 5, 5, 3])
    for xb, yb in batches:
        assert isinstance(xb, np.ndarray) and xb.dtype == np.float32 and yb.dtype == np.int64
        assert np.array_equal(xb, x[yb])  # rows stay paired
    seen = np.concatenate([b[1] for b in batches])
    assert np.array_equal(seen, loader.order(0)[:len(seen)])
    assert len(np.unique(seen)) == len(seen)
    if shuffle:
        assert not np.array_equal(seen, np.sort(seen))
    else:
        assert np.array_equal(seen, np.arange(len(seen)))


def test_single_array_dataset_yields_1_tuples():
    x, _ = make_xy(6)
    (b,), = list(DataLoader(TensorDataset(x), batch_size=6))
    assert np.array_equal(b, x)


def test_batches_are_gathered_once_per_batch_not_per_example():
    x, y = make_xy(23)

    class Spy(TensorDataset):
        calls = 0

        def __getitem__(self, index):
            raise AssertionError("the loader must not index example by example")

        def get_batch(self, indices):
            Spy.calls += 1
            return super().get_batch(indices)

    list(DataLoader(Spy(x, y), batch_size=5, shuffle=True))
    assert Spy.calls == 5


def test_get_batch_is_the_public_batch_fetch():
    x, y = make_xy(10)
    idx = np.array([7, 2, 2])
    xb, yb = data.get_batch(TensorDataset(x, y), idx)  # a Dataset: its get_batch
    assert np.array_equal(xb, x[idx]) and np.array_equal(yb, y[idx])
    xb, yb = data.get_batch(Subset(TensorDataset(x, y), [9, 8, 7]), np.array([2, 0]))
    assert np.array_equal(xb, x[[7, 9]]) and np.array_equal(yb, y[[7, 9]])
    (only,) = data.get_batch(x, idx)  # anything indexable by an int array; a lone array comes as a 1-tuple
    assert np.array_equal(only, x[idx])

    class Pairs:  # duck-typed: __getitem__ with an int array, returning a tuple
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            return x[i], y[i]

    xb, yb = data.get_batch(Pairs(), idx)
    assert np.array_equal(xb, x[idx]) and np.array_equal(yb, y[idx])
    assert [b[1].tolist() for b in DataLoader(Pairs(), batch_size=4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_batches_are_copies():
    x, y = make_xy(10)
    keep = x.copy()
    for xb, _ in DataLoader(TensorDataset(x, y), batch_size=4, shuffle=False):
        xb[...] = -1
    assert np.array_equal(x, keep)


def test_generic_dataset_subclass():
    class Squares(Dataset):
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return np.float32(i), np.int64(i * i)

    batches = list(DataLoader(Squares(), batch_size=3))
    assert np.array_equal(batches[0][1], [0, 1, 4]) and batches[2][0].shape == (1,)


# -- DataLoader: determinism ------------------------------------------------------------------------

def test_same_seed_same_stream_and_epochs_differ():
    ds = TensorDataset(*make_xy(23))
    a = [b[1] for b in run(DataLoader(ds, batch_size=5, shuffle=True, seed=7), 15)]
    b = [b[1] for b in run(DataLoader(ds, batch_size=5, shuffle=True, seed=7), 15)]
    c = [b[1] for b in run(DataLoader(ds, batch_size=5, shuffle=True, seed=8), 15)]
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))
    epochs = [np.concatenate(a[5 * e:5 * e + 5]) for e in range(3)]
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    assert all(np.array_equal(np.sort(e), np.arange(23)) for e in epochs)


def test_epoch_permutation_comes_from_seed_and_epoch():
    loader = DataLoader(TensorDataset(*make_xy(50)), batch_size=8, shuffle=True, seed=11)
    for e in range(3):
        child = np.random.SeedSequence(11).spawn(e + 1)[e]
        assert np.array_equal(loader.order(e), np.random.default_rng(child).permutation(50))


def test_set_epoch_jumps_to_that_epochs_shuffle():
    ds = TensorDataset(*make_xy(23))
    ref = run(DataLoader(ds, batch_size=5, shuffle=True, seed=2), 15)
    loader = DataLoader(ds, batch_size=5, shuffle=True, seed=2)
    loader.set_epoch(2)
    assert loader.epoch == 2
    got = list(loader)
    assert all(np.array_equal(u[1], v[1]) for u, v in zip(got, ref[10:15]))


# -- DataLoader: resume ---------------------------------------------------------------------------

@pytest.mark.parametrize("stop", [0, 1, 3, 4, 5, 6, 9, 10, 13])
@pytest.mark.parametrize("drop_last", [False, True])
def test_resume_mid_epoch_matches_uninterrupted(stop, drop_last):
    """A loader restored from a state saved after ``stop`` batches yields exactly what an
    uninterrupted one does from there on: the rest of that epoch, then the next shuffles."""
    ds = TensorDataset(*make_xy(23))
    nb = 4 if drop_last else 5
    total = 4 * nb
    ref = run(DataLoader(ds, batch_size=5, shuffle=True, seed=5, drop_last=drop_last), total)

    first = DataLoader(ds, batch_size=5, shuffle=True, seed=5, drop_last=drop_last)
    got = run(first, stop) if stop else []
    state = json.loads(json.dumps(first.state_dict()))  # what a checkpoint stores
    # after handing out its last batch an epoch is still current (batch == nb) until the loop asks for more
    epoch, batch = (0, 0) if stop == 0 else ((stop - 1) // nb, (stop - 1) % nb + 1)
    assert state == {"epoch": epoch, "batch": batch, "seed": 5}

    resumed = DataLoader(ds, batch_size=5, shuffle=True, seed=999, drop_last=drop_last)  # seed comes from state
    resumed.load_state_dict(state)
    # the Trainer's pattern: finish the current epoch, then one loop per epoch
    got += list(resumed)
    while len(got) < total:
        got += list(resumed)
    assert len(got) == total
    for k, (u, v) in enumerate(zip(got, ref)):
        assert np.array_equal(u[0], v[0]) and np.array_equal(u[1], v[1]), f"batch {k}"


def test_state_after_last_batch_then_epoch_rollover():
    loader = DataLoader(TensorDataset(*make_xy(10)), batch_size=5, shuffle=True)
    it = iter(loader)
    next(it), next(it)
    # the consumer holds the last batch of epoch 0: a checkpoint here resumes with nothing left of it
    assert loader.state_dict() == {"epoch": 0, "batch": 2, "seed": 0}
    with pytest.raises(StopIteration):
        next(it)
    assert loader.state_dict() == {"epoch": 1, "batch": 0, "seed": 0}

    restored = DataLoader(TensorDataset(*make_xy(10)), batch_size=5, shuffle=True)
    restored.load_state_dict({"epoch": 0, "batch": 2, "seed": 0})
    assert list(restored) == []
    assert restored.epoch == 1


def test_abandoned_pass_resumes_where_it_stopped():
    ds = TensorDataset(*make_xy(23))
    ref = run(DataLoader(ds, batch_size=5, shuffle=True), 5)
    loader = DataLoader(ds, batch_size=5, shuffle=True)
    for k, b in enumerate(loader):
        if k == 1:
            break
    rest = list(loader)
    assert len(rest) == 3
    assert all(np.array_equal(u[1], v[1]) for u, v in zip(rest, ref[2:]))


# -- DataLoader: errors -----------------------------------------------------------------------------

def test_empty_dataset_is_an_error_on_iteration():
    x, y = make_xy(5)
    loader = DataLoader(TensorDataset(x[:0], y[:0]), batch_size=4)  # constructing is fine: the Trainer reports it
    assert len(loader) == 0
    with pytest.raises(ValueError, match=r"dataset is empty \(0 examples\)"):
        iter(loader)


def test_drop_last_leaving_no_batch_is_an_error():
    loader = DataLoader(TensorDataset(*make_xy(3)), batch_size=4, drop_last=True)
    with pytest.raises(ValueError, match=r"batch_size=4 larger than the dataset \(3 examples\)"):
        list(loader)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"batch_size": 0}, ValueError, "DataLoader: batch_size must be a positive int, got 0"),
    ({"batch_size": 2.5}, TypeError, r"DataLoader: batch_size must be a positive int, got 2.5 \(float\)"),
    ({"batch_size": True}, TypeError, r"batch_size must be a positive int, got True \(bool\)"),
    ({"seed": -1}, ValueError, "DataLoader: seed must be a non-negative int, got -1"),
    ({"seed": None}, TypeError, "DataLoader: seed must be a non-negative int, got None"),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        DataLoader(TensorDataset(*make_xy(3)), **kwargs)


def test_tuple_of_arrays_is_refused_with_a_hint():
    with pytest.raises(TypeError, match=r"TensorDataset\(x, y\)"):
        DataLoader(make_xy(3))


@pytest.mark.parametrize("state, exc, match", [
    ({"epoch": 0, "batch": 6, "seed": 0}, ValueError, "batch 6 is past the end of an epoch of 5 batches"),
    ({"epoch": 0, "seed": 0}, KeyError, "missing keys"),
    ({"epoch": -1, "batch": 0, "seed": 0}, ValueError,
     "DataLoader.load_state_dict: epoch must be a non-negative int, got -1"),
])
def test_bad_state(state, exc, match):
    loader = DataLoader(TensorDataset(*make_xy(23)), batch_size=5)
    with pytest.raises(exc, match=match):
        loader.load_state_dict(state)


# -- Subset / random_split ----------------------------------------------------------------------------

def test_subset_and_loader():
    x, y = make_xy(23)
    sub = Subset(TensorDataset(x, y), [20, 3, 3, 9])
    assert len(sub) == 4
    assert sub[1][1] == 3 and np.array_equal(sub[1:3][1], [3, 3])
    (xb, yb), = list(DataLoader(sub, batch_size=4))
    assert np.array_equal(yb, [20, 3, 3, 9]) and np.array_equal(xb, x[[20, 3, 3, 9]])
    with pytest.raises(IndexError, match="index 23 is out of range for a dataset of 23"):
        Subset(TensorDataset(x, y), [0, 23])


def test_random_split():
    ds = TensorDataset(*make_xy(23))
    a, b = random_split(ds, [20, 3], seed=4)
    assert (len(a), len(b)) == (20, 3)
    assert np.array_equal(np.sort(np.concatenate([a.indices, b.indices])), np.arange(23))
    a2, _ = random_split(ds, [20, 3], seed=4)
    assert np.array_equal(a.indices, a2.indices)
    assert not np.array_equal(a.indices, random_split(ds, [20, 3], seed=5)[0].indices)
    parts = random_split(ds, [0.5, 0.25, 0.25])
    assert [len(p) for p in parts] == [12, 6, 5]
    with pytest.raises(ValueError, match="sum to the dataset length 23"):
        random_split(ds, [10, 10])


def test_exports():
    for name in ["Dataset", "TensorDataset", "Subset", "DataLoader", "read_idx", "write_idx", "fashion_mnist",
                 "mnist", "gaussian", "xor", "spirals", "blobs"]:
        assert hasattr(data, name), name
