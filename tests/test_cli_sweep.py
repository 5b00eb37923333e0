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


def test_run_one_experiment_with_workers(tmp_path, capsys):
    """`run EXP --workers 0` maps the experiment's runs through a worker's pickling, here, and finishes with its
    claims. --topic stays a lecture-only flag; a blank scheduler is one line, exit 2."""
    import json

    from layerlab.cli import main

    store = str(tmp_path / "runs.db")
    assert main(["run", "linearity", "--quick", "--workers", "0", "--store", store, "--out", str(tmp_path / "b")]) == 0
    stored = json.loads((tmp_path / "b" / "claims.json").read_text())
    assert stored["status"] == "done" and stored["claims"]
    capsys.readouterr()
    assert main(["run", "linearity", "--quick", "--topic", "x", "--store", store]) == 2
    assert "run lecture` only" in capsys.readouterr().err
    assert main(["run", "linearity", "--quick", "--scheduler", " ", "--store", store]) == 2
    assert "scheduler" in capsys.readouterr().err
