"""A quick start: ``layerlab --help`` and ``layerlab list`` import neither NumPy nor the experiments, matplotlib,
scipy, rich or torch, and the lazily imported public names of ``layerlab`` (PEP 562) all resolve.

Startup time itself is measured outside the unit tests; here only what gets imported is checked, each in a
fresh interpreter (this test process has imported everything already).
"""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

import layerlab
import layerlab.data
import layerlab.lab
from layerlab.cli import main


def _fresh(code: str) -> str:
    """Run ``code`` in a new interpreter; return its stdout (it must exit 0)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


HEAVY = ("numpy", "matplotlib", "scipy", "rich", "torch", "layerlab.train", "layerlab.store", "layerlab.lab.context",
         "layerlab.lab.runner", "layerlab.sweep", "layerlab.search")


def test_help_and_list_import_nothing_heavy():
    code = f"""
import contextlib, io, json, sys
from layerlab.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    for argv in (["--help"], ["run", "--help"]):
        try:
            main(argv)
        except SystemExit as e:
            assert e.code == 0, (argv, e.code)
    assert main(["list"]) == 0
    assert main([]) == 0
heavy = [m for m in sys.modules if m.split(".")[0] in {HEAVY!r} or m in {HEAVY!r}
         or m.startswith("layerlab.lab.experiments.")]
print(json.dumps({{"heavy": heavy, "out": out.getvalue()}}))
"""
    result = json.loads(_fresh(code))
    assert result["heavy"] == []
    out = result["out"]
    assert out.startswith("usage: layerlab ") and "experiments (layerlab run NAME" in out
    assert "--quick" in out and "init_forward" in out  # `run --help`, the experiments from the static index
    assert "experiments\nname " in out  # `list`: its title, then the header


def test_a_deferred_subcommand_imports_its_module_only_when_used(capsys):
    heavy = _fresh("import sys; from layerlab.cli import build_parser; p = build_parser(); "
                   "p.parse_args(['list']); print('layerlab.sweep' in sys.modules, 'layerlab.search' in sys.modules)")
    assert heavy.split() == ["False", "False"]
    for argv, option in ((["sweep", "--help"], "--grid KEY=V1,V2"), (["search", "--help"], "--budget")):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0 and option in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "echo", "--bogus"])
    assert exc.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_list_is_a_plain_aligned_table_off_a_terminal():
    out = _fresh("from layerlab.cli import main; main(['list'])").splitlines()
    from layerlab.lab import registry

    rows = registry.static_index()
    assert out[0] == f"{len(rows)} experiments" and len(out) == len(rows) + 2
    header = out[1]
    assert header.split() == ["name", "topic", "summary"]
    topic_at, summary_at = header.index("topic"), header.index("summary")
    for line, (name, topic, summary) in zip(out[2:], rows):  # one line per experiment, in lecture order
        assert line[:topic_at].rstrip() == name and line[topic_at:summary_at].rstrip() == topic
        assert line[summary_at:] == summary


def test_list_on_a_terminal_is_a_rich_table(capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["list", "--topic", "weight initialisation"]) == 0
    out = capsys.readouterr().out
    assert "┏" in out and "symmetry" in out and "experiments" in out


# -- the lazy package --------------------------------------------------------------------------------------
@pytest.mark.parametrize("package", [layerlab, layerlab.lab, layerlab.data], ids=lambda p: p.__name__)
def test_every_public_name_resolves_and_is_listed(package):
    for name in package.__all__:
        assert getattr(package, name) is not None, name
    assert set(package.__all__) <= set(dir(package))
    namespace: dict = {}
    exec(f"from {package.__name__} import *", namespace)
    assert set(package.__all__) <= set(namespace)
    with pytest.raises(AttributeError, match="no_such_name"):
        package.no_such_name
    assert not hasattr(package, "no_such_name")


def test_public_names_are_the_objects_of_their_modules():
    from layerlab import Tensor, Trainer, gradcheck, nn, tensor
    from layerlab.data import DataLoader, mnist1d

    assert Tensor.__module__ == "layerlab.tensor" and Trainer.__module__ == "layerlab.train"
    assert isinstance(nn, types.ModuleType) and nn.Linear.__name__ == "Linear"
    assert callable(tensor) and callable(gradcheck) and callable(mnist1d) and DataLoader.__name__ == "DataLoader"
    assert layerlab.lab.figures is sys.modules["layerlab.lab.figures"]


def test_a_function_named_like_its_module_stays_the_function():
    # importing the submodules first binds them on the package: the public function must still win
    out = _fresh("import layerlab.tensor, layerlab.gradcheck, layerlab.data.mnist1d, layerlab, layerlab.data, types\n"
                 "print([isinstance(o, types.ModuleType) for o in (layerlab.tensor, layerlab.gradcheck, "
                 "layerlab.data.mnist1d)])\n"
                 "from layerlab import tensor; print(tensor([1.0]).shape)")
    assert out.split("\n")[:2] == ["[False, False, False]", "(1,)"]


def test_import_layerlab_alone_imports_no_numpy_and_subpackages_on_use():
    out = _fresh("import sys, layerlab; before = 'numpy' in sys.modules\n"
                 "layerlab.optim.SGD; print(before, 'numpy' in sys.modules, 'layerlab.data.datasets' in sys.modules)")
    assert out.split() == ["False", "True", "False"]


@pytest.mark.parametrize("package", [layerlab, layerlab.lab, layerlab.data], ids=lambda p: p.__name__)
def test_the_type_checking_imports_match_the_lazy_table(package):
    """Each lazy package repeats its table as ``if TYPE_CHECKING:`` imports (for type checkers): the two agree."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(package.__file__).read_text(encoding="utf-8"))
    (block,) = [node for node in tree.body
                if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"]
    declared = {alias.name: "." + (imp.module or alias.name) for imp in block.body for alias in imp.names
                if imp.module is not None}
    assert declared == package._lazy_exports
    assert set(package._lazy_exports) <= set(package.__all__)
