"""Determinism: the same seed gives bit-identical runs in two processes, and the same state saved twice
gives identical bytes (weights files and checkpoints alike).

``layerlab.save`` used to write the metadata in a different order on every call (safetensors' writer
goes through a hash map); the file is now laid out by ``serialization.safetensors_bytes``, the format's
reference layout with the metadata keys sorted. Checkpoints write sorted JSON.
"""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

import layerlab as ll
from layerlab import nn, serialization

SCRIPT = Path(__file__).parent / "scripts" / "tiny_train.py"


def _model():
    ll.seed(0)
    return nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.BatchNorm1d(12), nn.Linear(12, 3))


META = {"zeta": "1", "alpha": "2", "layerlab.note": "x", "m": "3", "b": "4", "é": "ü"}


def test_save_twice_gives_identical_bytes(tmp_path):
    model = _model()
    ll.save(model, tmp_path / "a.safetensors", metadata=META)
    ll.save(model, tmp_path / "b.safetensors", metadata=dict(reversed(list(META.items()))))
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    assert serialization.load_metadata(tmp_path / "a.safetensors") == {
        **META, "layerlab.format": "module-state-dict", "layerlab.module": "Sequential"}
    back = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.BatchNorm1d(12), nn.Linear(12, 3))
    ll.load(back, tmp_path / "a.safetensors")
    for k, v in model.state_dict().items():
        assert np.array_equal(back.state_dict()[k], v)


def test_the_layout_is_the_formats_own():
    """With at most one metadata entry (no order to choose), the bytes equal safetensors' own writer's."""
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "step": np.array(7, dtype=np.int64),
              "mask": np.array([True, False]), "h": np.arange(3, dtype=np.float16), "e": np.zeros((0, 2))}
    for meta in (None, {"k": "v"}):
        ours = serialization.safetensors_bytes(arrays, meta)
        assert ours == st_save(arrays, metadata=meta)
        back = st_load(ours)
        for k, v in arrays.items():
            assert back[k].dtype == v.dtype and np.array_equal(back[k], v)


def test_a_checkpoint_saved_twice_gives_identical_bytes(tmp_path):
    from layerlab import data, optim
    from layerlab.train import Trainer

    model = _model()
    x, y = data.blobs(64, centers=3, d=6, seed=0)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, progress=False)
    trainer.fit(data.DataLoader(data.TensorDataset(x, y), batch_size=16, shuffle=True), epochs=2)
    a, b = trainer.save_checkpoint(tmp_path / "a"), trainer.save_checkpoint(tmp_path / "b")
    cmp = filecmp.dircmp(a, b)
    assert sorted(os.listdir(a)) == sorted(os.listdir(b)) and not cmp.diff_files and not cmp.funny_files
    text = (a / "state.json").read_text()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")) + "\n"


def _run(out: Path, ck: Path | None):
    args = ["run", str(ck or out.parent / "unused"), str(out)] + ([] if ck else ["--no-checkpoints"])
    env = {k: v for k, v in os.environ.items() if k not in ("LAYERLAB_FAULT", "TINY_KILL", "TINY_EPOCHS")}
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_same_seed_gives_bit_identical_runs_in_two_processes(tmp_path):
    """Two interpreters run the tiny training (dropout, shuffling, Adam, OneCycleLR) with checkpoints: the
    losses, weights, optimiser state and history are bit-identical, and so are the files they wrote
    (every checkpoint file and the ``layerlab.save`` of the final weights)."""
    runs = []
    for name in ("one", "two"):
        d = tmp_path / name
        d.mkdir()
        _run(d / "out.json", d / "ck")
        runs.append(d)
    one, two = (json.loads((d / "out.json").read_text()) for d in runs)
    assert len(one["losses"]) == one["step"] > 100
    assert one["losses"] == two["losses"]  # floats as hex: bit for bit
    assert one == two
    assert (runs[0] / "out.json").read_bytes() == (runs[1] / "out.json").read_bytes()
    assert (runs[0] / "out.json.safetensors").read_bytes() == (runs[1] / "out.json.safetensors").read_bytes()
    ck1, ck2 = runs[0] / "ck", runs[1] / "ck"
    assert sorted(os.listdir(ck1)) == sorted(os.listdir(ck2))
    for sub in os.listdir(ck1):
        p1, p2 = ck1 / sub, ck2 / sub
        if p1.is_dir():
            assert sorted(os.listdir(p1)) == sorted(os.listdir(p2))
            for f in os.listdir(p1):
                assert (p1 / f).read_bytes() == (p2 / f).read_bytes(), (sub, f)
        else:
            assert p1.read_bytes() == p2.read_bytes()
