"""``layerlab lr-find SETUP`` (the `spirals` set-up: no download), the set-up registry, and
``layerlab run lecture --topic TOPIC``."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest

import layerlab.lab as lab
from layerlab.cli import build_parser, main
from layerlab.lab import Claim, Result, experiment, registry, setups
from layerlab.train import Trainer

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def home(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "home"


def suggestion_in(out: str) -> float:
    m = re.search(r"^suggested learning rate: (\S+)$", out, re.M)
    assert m, out
    return float(m.group(1))


def plot_in(out: str):
    from pathlib import Path

    m = re.search(r"^plot: (.+)$", out, re.M)
    assert m, out
    return Path(m.group(1))


# -- the set-ups -------------------------------------------------------------------------------------------------------
def test_registry_names_docs_and_a_deterministic_builder():
    assert {"notes_fashion", "fashion_relu", "spirals"} <= set(setups.names())
    for name in setups.names():
        s = setups.get(name)
        assert s.name == name and s.summary and callable(s.builder)
    a, b = setups.build("spirals", 3), setups.build("spirals", 3)
    assert set(a._fields) == {"model", "loss_fn", "optimizer", "loader"}
    for (ka, va), (kb, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert ka == kb and np.array_equal(va, vb)
    assert not np.array_equal(a.model[0].weight.data, setups.build("spirals", 4).model[0].weight.data)
    with pytest.raises(KeyError, match=r"no set-up named 'spiral'; did you mean spirals\? \(valid: .*notes_fashion"):
        setups.get("spiral")


def test_notes_fashion_is_the_notes_network(fashion_available):
    m = setups.build("notes_fashion", 0).model
    shapes = [p.data.shape for p in m.parameters()]
    assert shapes[::2] == [(784, 500), (500, 500), (500, 500), (500, 10)] or \
           shapes[::2] == [(500, 784), (500, 500), (500, 500), (10, 500)]
    assert all(np.all(b.data == 0) for b in list(m.parameters())[1::2])  # biases 0


# -- lr-find -----------------------------------------------------------------------------------------------------------
def test_lr_find_prints_the_suggestion_and_writes_the_plot(home, tmp_path, capsys):
    out_dir = tmp_path / "plots"
    assert main(["lr-find", "spirals", "--start", "1e-5", "--end", "10", "--steps", "60", "--seed", "2",
                 "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    got = suggestion_in(out)
    b = setups.build("spirals", 2)  # the same range test by hand
    _, _, expected = Trainer(b.model, b.loss_fn, b.optimizer, metrics=(), progress=False, seed=2).lr_find(
        b.loader, start=1e-5, end=10, steps=60)
    assert got == pytest.approx(expected, rel=1e-3)
    assert "minimum" in out and "suggestion" in out and "1e-05 … 10, 60 steps" in out
    path = plot_in(out)
    assert path == out_dir / "lr_find-spirals-seed2.png" and path.read_bytes().startswith(PNG)
    assert [p.name for p in out_dir.iterdir()] == [path.name]  # written atomically: no temporary left over


def test_lr_find_default_output_is_under_the_reports_dir(home, capsys):
    assert main(["lr-find", "spirals", "--steps", "30"]) == 0
    path = plot_in(capsys.readouterr().out)
    assert path == home / "reports" / "lr_find" / "lr_find-spirals-seed0.png" and path.read_bytes().startswith(PNG)


def test_lr_find_without_a_suggestion_exits_1_and_still_plots(home, tmp_path, capsys):
    # two steps record at most two points: too few for a slope
    assert main(["lr-find", "spirals", "--steps", "2", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "no suggestion" in out and plot_in(out).exists()


@pytest.mark.parametrize("argv, words", [
    (["nope"], "no set-up named 'nope' (valid: notes_fashion, fashion_relu, spirals)"),
    (["spiral"], "did you mean spirals?"),
    (["spirals", "--start", "1", "--end", "0.1"], "--end must be larger than --start"),
    (["spirals", "--start", "0.5", "--end", "0.5"], "--end must be larger than --start"),
    (["spirals", "--steps", "1"], "--steps must be an integer >= 2, got '1'"),
    (["spirals", "--steps", "ten"], "--steps must be an integer >= 2, got 'ten'"),
    (["spirals", "--steps", "2.5"], "--steps must be an integer"),
    (["spirals", "--start", "abc"], "--start must be a positive number, got 'abc'"),
    (["spirals", "--start=-1e-3"], "--start must be a positive number"),
    (["spirals", "--end", "nan"], "--end must be a positive number, got 'nan'"),
    (["spirals", "--end", "inf"], "--end must be a positive number"),
    (["spirals", "--seed", "x"], "--seed must be a non-negative integer"),
], ids=lambda v: "_".join(v) if isinstance(v, list) else "")
def test_lr_find_bad_input_exits_2_with_one_line(home, capsys, argv, words):
    assert main(["lr-find", *argv]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.count("\n") == 1 and err.startswith("layerlab: lr-find: ") and words in err, err
    assert "Traceback" not in err and captured.out == ""


def test_lr_find_missing_data_is_one_line(home, monkeypatch, capsys):
    def missing(*a, **k):
        raise RuntimeError("this experiment needs Fashion-MNIST (the notes use MNIST): install it")

    monkeypatch.setattr(setups, "fashion", missing)
    assert main(["lr-find", "notes_fashion"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs Fashion-MNIST" in err and "Traceback" not in err


def test_lr_find_as_a_command(home, tmp_path):
    import os

    env = {**os.environ, "LAYERLAB_HOME": str(home), "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    bad = subprocess.run([sys.executable, "-m", "layerlab", "lr-find", "nope"], capture_output=True, text=True,
                         timeout=120, env=env)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "valid: notes_fashion" in bad.stderr
    good = subprocess.run([sys.executable, "-m", "layerlab", "lr-find", "spirals", "--steps", "20", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=120, env=env)
    assert good.returncode == 0, good.stderr
    assert math.isfinite(suggestion_in(good.stdout)) and plot_in(good.stdout).read_bytes().startswith(PNG)


def test_help_lists_lr_find_and_the_setups_without_importing_them(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["lr-find", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in setups.names()) and "--start" in out and "--steps" in out
    code = ("import sys; from layerlab.cli import build_parser; build_parser(); "
            "print('layerlab.lab.setups' in sys.modules, 'matplotlib' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "False"], done.stderr


# -- run lecture --topic -------------------------------------------------------------------------------------------------
def _one_claim(config, ctx) -> Result:
    return Result(claims=[Claim("1", "it ran", holds=True, measured="yes")])


@pytest.fixture
def topic_lab(monkeypatch, home):
    """An emptied registry with two test experiments of two topics."""
    saved, problems = dict(registry.REGISTRY), list(lab.LOAD_PROBLEMS)
    registry.REGISTRY.clear()
    lab.LOAD_PROBLEMS.clear()
    monkeypatch.setattr(registry, "_loaded", True)
    experiment("t_first", topic="topic one", summary="first")(_one_claim)
    experiment("t_second", topic="topic two", summary="second")(_one_claim)
    yield home
    registry.REGISTRY.clear()
    registry.REGISTRY.update(saved)
    lab.LOAD_PROBLEMS[:] = problems


def test_run_lecture_topic_runs_only_that_topic(topic_lab, tmp_path, capsys):
    out = tmp_path / "lecture"
    assert main(["run", "lecture", "--quick", "--topic", "topic two", "--out", str(out)]) == 0
    entries = json.loads((out / "lecture.json").read_text())
    assert [e["experiment"] for e in entries] == ["t_second"]
    assert not (out / "t_first").exists()


def test_run_lecture_unknown_topic_exits_2_listing_the_topics(topic_lab, capsys):
    assert main(["run", "lecture", "--topic", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'topic one', 'topic two'" in err and "no experiments of topic 'nope'" in err
    assert main(["run", "t_first", "--topic", "topic one"]) == 2
    assert "--topic applies to `layerlab run lecture` only" in capsys.readouterr().err
