"""The ``layerlab`` command: list, run, run lecture, runs, report, demo, bench, --help.

Test experiments live in an emptied registry (fixture ``cli_lab``), so the package's own
experiments are never run here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

import layerlab.lab as lab
from layerlab import __version__
from layerlab.cli import main
from layerlab.lab import Claim, Result, experiment, registry
from layerlab.store import Store


@dataclass
class EchoConfig:
    steps: int = 50
    lr: float = 0.1
    act: str = "tanh"
    QUICK: ClassVar[dict] = {"steps": 5}


def echo(config: EchoConfig, ctx) -> Result:
    for step in range(config.steps):
        ctx.log_metric(step, "loss", 1.0 / (step + 1))
    return Result(claims=[Claim("1", f"lr is {config.lr}", holds=True, measured=f"steps={config.steps}",
                                conditions=f"act={config.act}"),
                          Claim("2", "this one does not hold", holds=False, measured=f"seed={ctx.seed}")])


def explode(config, ctx):
    raise ValueError("exploded on purpose")


@pytest.fixture
def cli_lab(monkeypatch, tmp_path):
    """An emptied registry with the test experiments, and LAYERLAB_HOME in a temporary directory."""
    saved, problems = dict(registry.REGISTRY), list(lab.LOAD_PROBLEMS)
    registry.REGISTRY.clear()
    lab.LOAD_PROBLEMS.clear()
    monkeypatch.setattr(registry, "_loaded", True)
    monkeypatch.setenv("LAYERLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    experiment("t_echo", topic="testing", summary="echoes its config into a claim")(echo)
    yield tmp_path / "home"
    registry.REGISTRY.clear()
    registry.REGISTRY.update(saved)
    lab.LOAD_PROBLEMS[:] = problems


def _add_explode():
    experiment("t_explode", topic="testing", summary="always raises")(explode)


def test_help_lists_every_experiment_in_one_line(cli_lab, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "t_echo  echoes its config into a claim" in out
    for cmd in ("list", "run", "runs", "report", "demo", "bench"):
        assert cmd in out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "--quick" in out and "--set KEY=VALUE" in out and "t_echo  echoes its config" in out


def test_no_command_prints_help(cli_lab, capsys):
    assert main([]) == 0
    assert "usage: layerlab" in capsys.readouterr().out


def test_list(cli_lab, capsys):
    lab.LOAD_PROBLEMS.append(("zz_broken", "Traceback ...\nSyntaxError: bad"))
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "t_echo" in out and "testing" in out and "echoes its config into a claim" in out
    assert "lab.experiments.zz_broken failed to import: SyntaxError: bad" in out


def test_run_with_quick_set_seed_out(cli_lab, tmp_path, capsys):
    out_dir = tmp_path / "out"
    rc = main(["run", "t_echo", "--quick", "--set", "lr=0.5", "--set", "act=relu", "--seed", "4",
               "--out", str(out_dir)])
    assert rc == 0  # a claim that does not hold is not an error
    printed = capsys.readouterr().out
    assert "lr is 0.5" in printed and "✓ holds" in printed and "✗ does not hold" in printed
    data = json.loads((out_dir / "claims.json").read_text())
    assert data["config"] == {"steps": 5, "lr": 0.5, "act": "relu"} and data["seed"] == 4 and data["quick"]
    assert (out_dir / "report.html").exists()
    with Store(cli_lab / "runs.sqlite") as store:  # the default store under $LAYERLAB_HOME
        (run,) = store.runs()
        assert run.status == "done" and run.seed == 4 and run.config["lr"] == 0.5
        assert store.metrics(run.id, "loss").steps.tolist() == list(range(5))


def test_run_errors(cli_lab, capsys):
    assert main(["run", "t_echo", "--set", "lrr=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'lrr'" in err and "did you mean 'lr'" in err and "steps (int, default 50)" in err
    assert main(["run", "t_echo", "--set", "steps=many"]) == 2
    assert "expected an int" in capsys.readouterr().err
    assert main(["run", "t_ech"]) == 2
    assert "no experiment named 't_ech'; did you mean t_echo" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["run", "t_echo", "--bogus"])
    assert exc.value.code == 2
    _add_explode()
    assert main(["run", "t_explode"]) == 1
    assert "ValueError: exploded on purpose" in capsys.readouterr().out


def test_run_lecture(cli_lab, tmp_path, capsys):
    out = tmp_path / "lecture"
    assert main(["run", "lecture", "--quick", "--out", str(out), "--set", "steps=3"]) == 0
    printed = capsys.readouterr().out
    assert "1 of 2 claims hold" in printed and f"index: {out / 'index.html'}" in printed
    assert (out / "index.html").exists() and (out / "t_echo" / "report.html").exists()
    assert json.loads((out / "t_echo" / "claims.json").read_text())["config"]["steps"] == 3
    _add_explode()
    assert main(["run", "lecture", "--quick", "--out", str(tmp_path / "again")]) == 1  # an error is an error
    assert main(["run", "lecture", "--set", "nothing=1"]) == 2
    assert "no experiment has a config key 'nothing'" in capsys.readouterr().err


def test_runs_table(cli_lab, capsys):
    assert main(["runs"]) == 0
    assert "no runs in" in capsys.readouterr().out
    _add_explode()
    main(["run", "t_echo", "--quick"])
    main(["run", "t_explode"])
    capsys.readouterr()
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert "t_echo" in out and "done" in out and "1/2" in out
    assert "t_explode" in out and "failed" in out and "ValueError: exploded on purpose" in out
    assert main(["runs", "--experiment", "t_echo"]) == 0
    assert "t_explode" not in capsys.readouterr().out


def test_report_paths_and_rerender(cli_lab, capsys):
    main(["run", "t_echo", "--quick"])
    capsys.readouterr()
    with Store(cli_lab / "runs.sqlite") as store:
        run_id = store.runs()[0].id
    assert main(["report", str(run_id)]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.name == "report.html" and path.exists() and path.parent.parent == cli_lab / "reports"
    path.unlink()
    assert main(["report", "t_echo"]) == 0  # missing: re-rendered from the claims in the store
    assert Path(capsys.readouterr().out.strip()) == path and "lr is 0.1" in path.read_text()
    assert main(["report", "t_echo", "--rerender", "--out", str(cli_lab / "elsewhere")]) == 0
    assert "lr is 0.1" in (cli_lab / "elsewhere" / "report.html").read_text()
    capsys.readouterr()
    assert main(["report", "999"]) == 2
    assert "no run with id 999" in capsys.readouterr().err
    assert main(["report", "nobody"]) == 2
    assert "no runs of 'nobody'" in capsys.readouterr().err
    assert main(["report", "lecture"]) == 2
    main(["run", "lecture", "--quick"])
    capsys.readouterr()
    assert main(["report", "lecture"]) == 0
    index = Path(capsys.readouterr().out.strip())
    assert index.name == "index.html" and index.exists()


def test_demo_is_kept(monkeypatch, capsys):
    import layerlab.demo

    seen = {}

    def fake(steps):
        seen["steps"] = steps
        return {"accuracy": 1.0}

    monkeypatch.setattr(layerlab.demo, "train_spirals", fake)
    assert main(["demo", "--steps", "7", "--epochs", "0", "--no-lecture"]) == 0 and seen == {"steps": 7}
    assert "training accuracy: 1.000" in capsys.readouterr().out


def test_bench_passes_its_arguments_or_says_it_is_missing(monkeypatch, capsys):
    import layerlab

    monkeypatch.delattr(layerlab, "bench", raising=False)
    monkeypatch.setitem(sys.modules, "layerlab.bench", None)  # import fails as if the module were missing
    assert main(["bench", "--vs", "torch"]) == 2
    assert "layerlab.bench is missing" in capsys.readouterr().err
    calls = []
    fake = types.ModuleType("layerlab.bench")
    fake.main = lambda argv: calls.append(argv) or 3
    monkeypatch.setitem(sys.modules, "layerlab.bench", fake)
    monkeypatch.setattr(layerlab, "bench", fake, raising=False)
    assert main(["bench", "--vs", "torch", "--vs", "numpy", "-h"]) == 3
    assert calls == [["--vs", "torch", "--vs", "numpy", "-h"]]


def test_console_script_entry_point():
    done = subprocess.run([sys.executable, "-m", "layerlab.cli", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"layerlab {__version__}"


# --------------------------------------------------------------------------------------------
# `python -m layerlab` is the `layerlab` command
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["list"], ["--help"], ["no-such-command"]], ids=["list", "help", "bad-command"])
def test_python_m_layerlab_is_the_layerlab_command(argv, tmp_path):
    import os
    import shutil

    script = Path(sys.executable).with_name("layerlab")
    script = script if script.exists() else shutil.which("layerlab")
    if script is None:
        pytest.skip("the layerlab console script is not installed next to this python")
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}  # the same table width for both

    def run(cmd):
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)

    as_module = run([sys.executable, "-m", "layerlab", *argv])
    as_script = run([str(script), *argv])
    assert (as_module.returncode, as_module.stdout, as_module.stderr) == \
           (as_script.returncode, as_script.stdout, as_script.stderr)
    if argv == ["no-such-command"]:
        assert as_module.returncode == 2 and "invalid choice: 'no-such-command'" in as_module.stderr
    else:
        assert as_module.returncode == 0 and as_module.stdout.strip()
        if argv == ["--help"]:
            assert as_module.stdout.startswith("usage: layerlab ")
