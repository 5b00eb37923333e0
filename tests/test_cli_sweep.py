"""`layerlab sweep` and `layerlab runs --sweep` through the CLI, on a real experiment (in this process)."""

from __future__ import annotations


def test_the_cli_sweeps_and_lists_a_sweeps_runs(tmp_path, capsys):
    from layerlab.cli import main
    from layerlab.lab import registry

    registry.load_experiments(reload=True)  # test_sweep's toy fixture may have marked the registry as loaded

    store = str(tmp_path / "runs.sqlite")
    assert main(["sweep", "init_identity", "--grid", "depth=3,4", "--workers", "0", "--quick", "--store", store,
                 "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "depth.png").read_bytes().startswith(b"\x89PNG")
    capsys.readouterr()
    assert main(["runs", "--sweep", "1", "--store", store]) == 0
    assert capsys.readouterr().out.count("1/1") == 2  # two runs, each with its one claim holding
    assert main(["runs", "--sweep", "9", "--store", store]) == 2
    assert main(["sweep", "init_identity", "--store", store]) == 2  # no --grid
    assert main(["sweep", "init_identity", "--grid", "depth=3", "--quick", "--workers", "0", "--store", store,
                 "--out", str(tmp_path / "o2")]) == 0
    assert "ran 0" in capsys.readouterr().out  # cached: runs nothing


def test_run_one_experiment_with_workers(tmp_path, monkeypatch, capsys):
    """`run EXP --workers 0` maps the experiment's arms through a worker's pickling, here; the stored verdicts
    are those of the plain run. --topic stays a lecture-only flag; a blank scheduler is one line, exit 2."""
    import json

    from layerlab.cli import main

    monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "data"))
    store = str(tmp_path / "runs.db")
    assert main(["run", "l1_vs_l2", "--quick", "--store", store, "--out", str(tmp_path / "a")]) == 0
    assert main(["run", "l1_vs_l2", "--quick", "--workers", "0", "--store", store, "--out", str(tmp_path / "b")]) == 0
    a, b = (json.loads((tmp_path / d / "claims.json").read_text()) for d in "ab")
    assert json.dumps(a["claims"], sort_keys=True) == json.dumps(b["claims"], sort_keys=True)
    capsys.readouterr()
    assert main(["run", "l1_vs_l2", "--quick", "--topic", "x", "--store", store]) == 2
    assert "run lecture` only" in capsys.readouterr().err
    assert main(["run", "l1_vs_l2", "--quick", "--scheduler", " ", "--store", store]) == 2
    assert "scheduler" in capsys.readouterr().err
