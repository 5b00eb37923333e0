"""Bad input to the CLI: exit status 2, one line on stderr naming what was wrong and what was expected, no
traceback, and nothing half-written (a config rejected before it started leaves no run in the store)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from layerlab.store import Store


def layerlab(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "layerlab", *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=300)


def one_clear_line(out: subprocess.CompletedProcess, pattern: str) -> None:
    import re

    assert out.returncode == 2, (out.returncode, out.stdout[-500:], out.stderr[-2000:])
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    last = lines[-1]
    assert re.search(pattern, last), last
    # argparse prints its usage line before the error; ours print the error alone
    assert len(lines) == 1 or lines[0].startswith("usage:"), lines


def runs_in(path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(str(path)) as conn:
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0]


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "runs.sqlite"


REJECTED_CONFIGS = [
    ("dying_relu", "seeds=-5", r"seeds=-5: expected ≥ 1"),
    ("dying_relu", "batch_size=0", r"batch_size=0: expected ≥ 1"),
    ("dying_relu", "small_lrs=0.1,nan", r"expected a finite number"),
    ("symmetry", "activations=tanh,bogus", r"unknown activation 'bogus'"),
    ("dropout", "ps=0.5,0.2", r"ps must start with 0"),
    ("dying_relu", "iterations=many", r"iterations=many: expected an int"),
    ("dying_relu", "no_such_key=1", r"unknown key 'no_such_key'"),
]


@pytest.mark.parametrize("name, setting, pattern", REJECTED_CONFIGS, ids=[c[1] for c in REJECTED_CONFIGS])
def test_a_rejected_config_is_exit_2_and_leaves_no_run(store_path, tmp_path, name, setting, pattern):
    out = layerlab("run", name, "--quick", "--set", setting, "--store", str(store_path), "--out", str(tmp_path / "o"))
    one_clear_line(out, pattern)
    assert runs_in(store_path) == 0
    assert not (tmp_path / "o").exists()


def test_layerlab_home_that_is_a_file(tmp_path):
    home = tmp_path / "home"
    home.write_text("")
    for args in (("runs",), ("run", "init_identity", "--quick")):
        one_clear_line(layerlab(*args, env={"LAYERLAB_HOME": str(home)}), r"is a file, not a directory")
    assert home.read_text() == ""


def test_a_corrupt_store(tmp_path):
    bad = tmp_path / "runs.sqlite"
    bad.write_text("not a database\n" * 200)
    for args in (("runs", "--store", str(bad)), ("run", "init_identity", "--quick", "--store", str(bad)),
                 ("report", "init_identity", "--store", str(bad))):
        one_clear_line(layerlab(*args), r"not a layerlab store or is corrupt")
    assert bad.read_text().startswith("not a database")


def test_out_that_is_a_file(tmp_path, store_path):
    f = tmp_path / "afile"
    f.write_text("x")
    one_clear_line(layerlab("run", "init_identity", "--quick", "--out", str(f), "--store", str(store_path)),
                   r"--out .*afile: is a file; expected a directory")
    assert runs_in(store_path) == 0


@pytest.mark.parametrize("args, pattern", [
    (("demo", "--steps", "0", "--no-lecture"), r"--steps: expected an integer ≥ 1, got 0"),
    (("demo", "--epochs", "-1", "--no-lecture"), r"--epochs: expected an integer ≥ 0, got -1"),
    (("runs", "--limit", "0"), r"--limit/-n: expected an integer ≥ 1, got 0"),
    (("runs", "--status", "exploded"), r"invalid choice: 'exploded'"),
    (("run", "no_such_experiment"), r"no_such_experiment"),
    (("run", "lecture", "--topic", "astrology"), r"astrology"),
    (("no_such_command",), r"invalid choice: 'no_such_command'"),
    (("run", "init_identity", "--seed", "x"), r"--seed: invalid int value: 'x'"),
    (("lr-find", "no_such_setup"), r"no_such_setup"),
    (("lr-find", "spirals", "--start", "1", "--end", "0.1"), r"start"),
], ids=lambda v: "-".join(v) if isinstance(v, tuple) else None)
def test_bad_arguments(tmp_path, args, pattern):
    one_clear_line(layerlab(*args, "--store", str(tmp_path / "s.sqlite")) if args[0] in ("runs", "run") and
                   args[1:2] != ("lecture",) and args[0] != "no_such_command" else layerlab(*args, cwd=tmp_path),
                   pattern)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_runs_lists_a_read_only_store(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    with Store(d / "runs.sqlite") as s:
        s.start_run("x").finish()
    (d / "runs.sqlite").chmod(0o444)
    d.chmod(0o555)
    try:
        out = layerlab("runs", "--store", str(d / "runs.sqlite"))
        assert out.returncode == 0 and "x" in out.stdout, out.stderr
    finally:
        d.chmod(0o755)


def test_runs_falls_back_to_reading_a_store_it_cannot_write(tmp_path, monkeypatch, capsys):
    """As root file permissions cannot be tested, the writable open is made to fail as sqlite does on a
    read-only file; `layerlab runs` then lists the store read-only (and never writes it)."""
    from layerlab import store as store_mod
    from layerlab.cli import main

    path = tmp_path / "runs.sqlite"
    with Store(path) as s:
        s.start_run("listed").finish()
    before = path.read_bytes()
    real = store_mod.Store._connect

    def readonly_file(self, timeout):
        if not self.readonly:
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return real(self, timeout)

    monkeypatch.setattr(store_mod.Store, "_connect", readonly_file)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["runs", "--store", str(path)]) == 0
    assert "listed" in capsys.readouterr().out
    assert path.read_bytes() == before
    assert main(["runs", "--store", str(tmp_path / "missing.sqlite")]) == 2  # nothing to read: the error stays
    assert "cannot be written" in capsys.readouterr().err
