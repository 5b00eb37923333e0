"""The lab framework: registry, configs and overrides, claims, context, runner, reports, figures.

Test experiments are registered into an emptied registry by the ``lab_registry`` fixture and
removed afterwards, so the package's own experiments are untouched (and never run here).
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import io
from html import escape as html_escape
import json
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, Optional

import numpy as np
import pytest
from matplotlib.figure import Figure

import layerlab.lab as lab
from layerlab.lab import Claim, ConfigError, Context, Result, experiment, figures, make_config, parse_overrides
from layerlab.lab import registry
from layerlab.lab.report import render_index, render_report
from layerlab.lab.runner import render_run_report, run_experiment, run_lecture
from layerlab.store import Store

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- test experiments ---------------------------------------------------------------------------------
@dataclass
class TinyConfig:
    n: int = 2000
    scale: float = 1.0
    tag: str = "full"
    QUICK: ClassVar[dict] = {"n": 200, "tag": "quick"}


def tiny(config: TinyConfig, ctx: Context) -> Result:
    x = ctx.rng.standard_normal(config.n) * config.scale
    for step in range(25):
        ctx.log_metrics(step, {"loss": float(np.exp(-step / 5.0)), "lr": 0.1})
    ctx.run.log_probe(0, "h1", "std", float(x.std()))
    ctx.savefig(figures.layer_histograms({"h1": x, "h2": np.tanh(x)}), "hist", caption="x and tanh(x)")
    with ctx.progress.task("work", total=3) as t:
        for _ in range(3):
            t.advance()
    extra = figures.loss_curves({"loss": np.exp(-np.arange(25) / 5.0)}, logy=True)
    std = float(x.std())
    return Result(
        claims=[Claim("1", "the std is the scale", holds=abs(std - config.scale) < 0.2 * config.scale,
                      measured=f"std {std:.3f}", conditions=f"n = {config.n}", figure="hist"),
                Claim("2", "the mean is exactly one", holds=np.bool_(False), measured=f"mean {x.mean():.3f}",
                      conditions="any n", figure="loss")],
        figures={"loss": extra},
        records=[{"n": config.n, "std": std, "ok": True}],
        notes=["<b>escaped</b> & kept", "second paragraph"])


def failing(config, ctx):
    ctx.log_metric(0, "loss", 1.0)
    raise RuntimeError("boom in the experiment")


def not_a_result(config, ctx):
    return {"claims": []}


def bad_figure_ref(config, ctx):
    return Result(claims=[Claim("1", "t", holds=True, measured="m", figure="never_saved")])


@pytest.fixture
def lab_registry(monkeypatch):
    """An empty registry (the package's experiments are hidden); ``register(name, fn, ...)`` adds one."""
    saved = dict(registry.REGISTRY)
    problems = list(lab.LOAD_PROBLEMS)
    registry.REGISTRY.clear()
    lab.LOAD_PROBLEMS.clear()
    monkeypatch.setattr(registry, "_loaded", True)

    def register(name, fn, topic="test", summary=None, config=None):
        return experiment(name, topic, summary or f"{name} summary", config=config)(fn).experiment

    yield register
    registry.REGISTRY.clear()
    registry.REGISTRY.update(saved)
    lab.LOAD_PROBLEMS[:] = problems


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "runs.sqlite")
    yield s
    s.close()


# -- configs and overrides -------------------------------------------------------------------------------
@dataclass
class Many:
    i: int = 1
    f: float = 0.5
    b: bool = False
    s: str = "tanh"
    t: tuple[float, ...] = (0.01, 1.0)
    pair: tuple[int, str] = (1, "a")
    li: list[int] = dataclasses.field(default_factory=lambda: [1, 2])
    opt: Optional[int] = None
    u: int | None = 3
    lit: Literal["sgd", "adam"] = "sgd"
    p: Path = Path("x")


@pytest.mark.parametrize("item, key, value", [
    ("i=42", "i", 42), ("i=1e3", "i", 1000), ("i=1_000", "i", 1000), ("f=1e-3", "f", 1e-3), ("f=inf", "f", float("inf")),
    ("b=true", "b", True), ("b=No", "b", False), ("b=1", "b", True), ("s=relu", "s", "relu"), ("s=a=b", "s", "a=b"),
    ("t=0.1,0.5, 2", "t", (0.1, 0.5, 2.0)), ("t=(0.1,0.2)", "t", (0.1, 0.2)), ("t=", "t", ()),
    ("pair=3,b", "pair", (3, "b")), ("li=[4,5]", "li", [4, 5]), ("opt=none", "opt", None), ("opt=7", "opt", 7),
    ("u=null", "u", None), ("lit=adam", "lit", "adam"), ("p=/tmp/y", "p", Path("/tmp/y")),
])
def test_overrides_parse_with_the_field_types(item, key, value):
    got = parse_overrides(Many, [item])
    assert got == {key: value}
    assert type(got[key]) is type(value)


@pytest.mark.parametrize("item, match", [
    ("lrr=0.1", r"unknown key 'lrr'; valid keys: i \(int, default 1\), f \(float, default 0.5\)"),
    ("ii=3", r"did you mean 'i'\?"),
    ("i=abc", r"--set i=abc: expected an int \(field i: int\)"),
    ("i=1.5", r"expected an int"),
    ("b=maybe", r"expected a bool"),
    ("lit=rmsprop", r"expected one of 'sgd', 'adam'"),
    ("pair=1", r"expected 2 comma-separated values"),
    ("noequals", r"expects key=value"),
])
def test_bad_overrides_raise_config_errors(item, match):
    with pytest.raises(ConfigError, match=match):
        parse_overrides(Many, [item], "experiment 'x'")


def test_quick_variants_then_overrides():
    assert make_config(TinyConfig) == TinyConfig()
    assert make_config(TinyConfig, quick=True) == TinyConfig(n=200, tag="quick")
    assert make_config(TinyConfig, quick=True, overrides=["n=7"]) == TinyConfig(n=7, tag="quick")
    assert make_config(TinyConfig, overrides={"scale": 2.0}) == TinyConfig(scale=2.0)

    @dataclass
    class WithMethod:
        steps: int = 300

        @classmethod
        def quick(cls):
            return cls(steps=5)

    assert make_config(WithMethod, quick=True) == WithMethod(5)
    assert make_config(WithMethod, quick=False) == WithMethod(300)


# -- registration -------------------------------------------------------------------------------------
def test_register_infers_the_config_from_the_annotation(lab_registry):
    exp = lab_registry("t_tiny", tiny, summary="a   tiny\n  experiment")
    assert exp.config_cls is TinyConfig and exp.summary == "a tiny experiment"
    assert registry.get("t_tiny") is exp and lab.all_experiments() == [exp]
    assert exp.make_config(quick=True).n == 200


def test_register_without_config_and_with_explicit_config(lab_registry):
    assert lab_registry("t_none", failing).config_cls is registry.NoConfig
    assert lab_registry("t_explicit", failing, config=Many).config_cls is Many


def test_registration_errors(lab_registry):
    @dataclass
    class Typo:
        n: int = 1
        QUICK: ClassVar[dict] = {"nn": 2}

    @dataclass
    class NoDefault:
        n: int

    with pytest.raises(ConfigError, match=r"\(QUICK\): unknown key 'nn'"):
        lab_registry("t_typo", failing, config=Typo)
    with pytest.raises(ConfigError, match="need defaults: n"):
        lab_registry("t_nodefault", failing, config=NoDefault)
    with pytest.raises(ValueError, match="reserved"):
        lab_registry("lecture", failing)
    with pytest.raises(ValueError, match="bad name"):
        lab_registry("has space", failing)
    lab_registry("t_dup", failing)
    lab_registry("t_dup", failing)  # the same function again (a module reload) is fine
    with pytest.raises(ValueError, match="registered twice"):
        lab_registry("t_dup", not_a_result)
    with pytest.raises(KeyError, match=r"no experiment named 't_dupp'; did you mean t_dup"):
        registry.get("t_dupp")


def test_claims_are_strict_about_the_verdict():
    c = Claim(3, "text", holds=np.bool_(True), measured="x = 1")
    assert c.id == "3" and c.holds is True and c.verdict == "holds"
    assert Claim.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert Claim("4", "t", False, "m").verdict == "does not hold"
    with pytest.raises(TypeError, match="holds must be a bool"):
        Claim("5", "t", holds=1, measured="m")
    with pytest.raises(TypeError, match="measured must be a str"):
        Claim("6", "t", holds=True, measured=0.5)


def test_discovery_scans_the_package_in_lecture_order_and_records_broken_modules(lab_registry, tmp_path,
                                                                               monkeypatch):
    pkg = tmp_path / "zz_lab_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "zz_broken_topic.py").write_text("raise RuntimeError('this topic is broken')\n")
    (pkg / "_zz_private.py").write_text("raise RuntimeError('private modules are not experiments')\n")
    for module, name, order in (("aa_late", "zz_late", 9), ("zz_early", "zz_early", 2), ("mm_none", "zz_none", None)):
        (pkg / f"{module}.py").write_text(textwrap.dedent(f"""
            from layerlab.lab import Result, experiment

            @experiment("{name}", topic="t", order={order}, summary="found without being listed")
            def run(config, ctx):
                return Result()
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "EXPERIMENTS_PACKAGE", "zz_lab_pkg")
    try:
        lab.load_experiments(reload=True)
        problems = dict(lab.LOAD_PROBLEMS)
        assert list(problems) == ["zz_broken_topic"]
        assert "RuntimeError: this topic is broken" in problems["zz_broken_topic"]
        assert [e.name for e in lab.all_experiments()] == ["zz_early", "zz_late", "zz_none"]
        assert [m for m, _ in lab.import_errors()] == ["zz_broken_topic"]
    finally:
        for m in list(sys.modules):
            if m.startswith("zz_lab_pkg"):
                sys.modules.pop(m)


def _experiment_modules() -> list[Path]:
    import layerlab.lab.experiments as pkg

    return sorted(p for p in Path(pkg.__path__[0]).glob("*.py") if not p.name.startswith("_"))


def test_the_core_names_no_experiment_module():
    """Discovery is by scanning: no list of experiment modules anywhere in the core."""
    import layerlab.lab as core

    topics = {p.stem for p in _experiment_modules()}
    assert len(topics) >= 10
    for path in Path(core.__path__[0]).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
                items = node.keys if isinstance(node, ast.Dict) else node.elts
                named = {n.value for n in items if isinstance(n, ast.Constant) and n.value in topics}
                assert len(named) < 2, f"{path.name}:{node.lineno} lists experiment modules {sorted(named)}"


# the public API an experiment may import besides the lab core
_PUBLIC = {"layerlab", "layerlab.nn", "layerlab.optim", "layerlab.data", "layerlab.probes", "layerlab.train",
           "layerlab.ensemble", "layerlab.pretrain",
           "layerlab.lab", "layerlab.lab.stats", "layerlab.lab.training", "layerlab.lab.figures", "layerlab.lab.setups",
           "layerlab.search"}


@pytest.mark.parametrize("path", _experiment_modules(), ids=lambda p: p.stem)
def test_an_experiment_imports_the_core_and_the_public_api_only(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}:{node.lineno}: relative import"
            if node.module.startswith("layerlab"):
                assert node.module in _PUBLIC, f"{path.name}:{node.lineno}: imports {node.module}"
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name}:{node.lineno}: imports private names {private}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                assert not a.name.startswith("layerlab") or a.name in _PUBLIC, f"{path.name}: imports {a.name}"


# -- context -----------------------------------------------------------------------------------------------
def test_context_rngs_are_seeded_and_independent(tmp_path):
    a, b = Context(tmp_path / "a", seed=5), Context(tmp_path / "b", seed=5)
    assert np.array_equal(a.rng.standard_normal(4), b.rng.standard_normal(4))
    assert np.array_equal(a.rng_for("xavier", 1).random(3), b.rng_for("xavier", 1).random(3))
    assert not np.array_equal(a.rng_for("xavier", 1).random(3), a.rng_for("xavier", 2).random(3))
    assert not np.array_equal(Context(tmp_path / "c", seed=6).rng_for("xavier", 1).random(3),
                              a.rng_for("xavier", 1).random(3))


def test_savefig_writes_png_and_rejects_bad_or_repeated_names(tmp_path):
    ctx = Context(tmp_path, seed=0)
    path = ctx.savefig(figures.bar_chart({"a": 1.0, "b": 2.0}), "bars", caption="c")
    assert path == tmp_path / "bars.png" and path.read_bytes()[:8] == PNG_MAGIC
    assert [(f.name, f.caption) for f in ctx.figures] == [("bars", "c")]
    with pytest.raises(ValueError, match="already saved"):
        ctx.savefig(figures.bar_chart({"a": 1.0}), "bars")
    with pytest.raises(ValueError, match="figure name"):
        ctx.savefig(figures.bar_chart({"a": 1.0}), "../escape")


def test_metrics_callback_logs_steps_and_epochs(tmp_path, store):
    class FakeTrainer:
        step = 10

    with store.run("cb") as run:
        ctx = Context(tmp_path, run=run)
        cb = ctx.metrics_callback("xavier", every=2)
        for step in range(4):
            cb.on_batch_end(FakeTrainer, step, {"loss": 1.0 / (step + 1), "lr": 0.5})
        cb.on_epoch_end(FakeTrainer, 0, {"loss": 0.4, "accuracy": 0.9})
    assert store.metrics(run.id, "xavier/loss").steps.tolist() == [0, 2]
    assert store.metrics(run.id, "xavier/loss").values.tolist() == [1.0, 1.0 / 3]
    assert store.metrics(run.id, "xavier/epoch/accuracy") == ([10], [0.9])


# -- runner --------------------------------------------------------------------------------------------
def _img_srcs(html: str) -> list[str]:
    return re.findall(r'<img src="([^"]*)"', html)


def test_run_experiment_writes_report_claims_figures_and_store_rows(lab_registry, store, tmp_path):
    lab_registry("t_tiny", tiny)
    out = tmp_path / "out"
    o = run_experiment("t_tiny", quick=True, overrides=["scale=2"], out_dir=out, seed=3, store=store, show=False)
    assert o.ok and o.status == "done" and o.error is None
    assert o.report == out / "report.html" and o.claims_json == out / "claims.json"
    assert [c.holds for c in o.claims] == [True, False]  # a claim that does not hold is a result
    assert sorted(p.name for p in out.glob("*.png")) == ["hist.png", "loss.png"]

    data = json.loads(o.claims_json.read_text())
    assert data["experiment"] == "t_tiny" and data["status"] == "done" and data["quick"] is True
    assert data["config"] == {"n": 200, "scale": 2.0, "tag": "quick"} and data["seed"] == 3
    assert [(c["id"], c["verdict"], c["figure"]) for c in data["claims"]] == [
        ("1", "holds", "hist"), ("2", "does not hold", "loss")]
    assert [(f["name"], f["file"]) for f in data["figures"]] == [("hist", "hist.png"), ("loss", "loss.png")]
    assert data["records"] == [{"n": 200, "std": data["records"][0]["std"], "ok": True}]

    info = store.get_run(o.run_id)
    assert info.status == "done" and info.config == data["config"] and info.seed == 3
    assert info.result["claims"] == data["claims"]
    assert store.metrics(o.run_id, "loss").steps.tolist() == list(range(25))
    assert len(store.probes(o.run_id)) == 1
    kinds = sorted(a.kind for a in store.artifacts(o.run_id))
    assert kinds == ["claims", "figure", "figure", "report"]

    html = o.report.read_text()
    srcs = _img_srcs(html)
    assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs)  # self-contained
    assert "&lt;b&gt;escaped&lt;/b&gt; &amp; kept" in html and "<b>escaped</b>" not in html
    assert "✓ holds" in html and "✗ does not hold" in html and 'href="#fig-hist"' in html


def test_same_seed_same_measurements(lab_registry, store, tmp_path):
    lab_registry("t_tiny", tiny)
    a = run_experiment("t_tiny", quick=True, out_dir=tmp_path / "a", seed=11, store=store, show=False)
    b = run_experiment("t_tiny", quick=True, out_dir=tmp_path / "b", seed=11, store=store, show=False)
    c = run_experiment("t_tiny", quick=True, out_dir=tmp_path / "c", seed=12, store=store, show=False)
    assert a.data["claims"] == b.data["claims"] and a.data["records"] == b.data["records"]
    assert a.data["records"] != c.data["records"]


def test_default_out_dir_is_next_to_the_store(lab_registry, store):
    lab_registry("t_tiny", tiny)
    o = run_experiment("t_tiny", quick=True, store=store, show=False)
    assert o.out_dir == store.path.parent / "reports" / f"t_tiny-{o.run_id}"
    assert o.report.exists()


@pytest.mark.parametrize("fn, message", [
    (failing, "RuntimeError: boom in the experiment"),
    (not_a_result, "returned dict; expected a lab.Result"),
    (bad_figure_ref, "claim '1' refers to figure 'never_saved', which was not saved"),
])
def test_a_failing_experiment_is_a_failed_run_with_an_error_report(lab_registry, store, tmp_path, fn, message):
    lab_registry("t_bad", fn)
    o = run_experiment("t_bad", out_dir=tmp_path, store=store, show=False)
    assert not o.ok and o.status == "failed" and message in o.error
    info = store.get_run(o.run_id)
    assert info.status == "failed" and message in info.error
    assert info.result["status"] == "failed"
    assert json.loads((tmp_path / "claims.json").read_text())["status"] == "failed"
    html = o.report.read_text()
    assert "did not finish" in html and html_escape(message) in html


def test_unknown_names_and_bad_overrides_raise_before_any_run(lab_registry, store):
    lab_registry("t_tiny", tiny)
    with pytest.raises(KeyError, match="no experiment named 'nope'"):
        run_experiment("nope", store=store, show=False)
    with pytest.raises(ConfigError, match="unknown key 'scal'"):
        run_experiment("t_tiny", overrides=["scal=2"], store=store, show=False)
    assert store.runs() == []


def test_claims_table_is_printed(lab_registry, store, tmp_path):
    from rich.console import Console

    lab_registry("t_tiny", tiny)
    buf = io.StringIO()
    run_experiment("t_tiny", quick=True, out_dir=tmp_path, store=store, console=Console(file=buf, width=200))
    text = buf.getvalue()
    assert "t_tiny" in text and "✓ holds" in text and "✗ does not hold" in text and "the std is the scale" in text
    assert "1 of 2 claims hold" in text and str(tmp_path / "report.html") in text


def test_lecture_writes_every_report_and_an_index(lab_registry, store, tmp_path):
    lab_registry("t_tiny", tiny, topic="one")
    lab_registry("t_fail", failing, topic="two")
    out = tmp_path / "lecture"
    lo = run_lecture(quick=True, overrides=["n=300"], out_dir=out, seed=1, store=store, show=False)
    assert [o.name for o in lo.outcomes] == ["t_tiny", "t_fail"]
    assert not lo.ok and lo.outcomes[0].ok and not lo.outcomes[1].ok
    assert lo.outcomes[0].data["config"]["n"] == 300  # --set goes to the experiments that have the key
    assert lo.index == out / "index.html"
    html = lo.index.read_text()
    hrefs = list(dict.fromkeys(re.findall(r'<a href="([^"#]+)"', html)))
    assert hrefs == ["t_tiny/report.html", "t_fail/report.html"]
    assert all((out / h).exists() for h in hrefs)
    assert "the std is the scale" in html and "boom in the experiment" in html
    entries = json.loads((out / "lecture.json").read_text())
    assert [e["experiment"] for e in entries] == ["t_tiny", "t_fail"]
    assert {r.experiment: r.status for r in store.runs()} == {"t_tiny": "done", "t_fail": "failed"}


def test_lecture_index_opens_with_one_row_per_experiment_and_a_thumbnail(lab_registry, store, tmp_path):
    from matplotlib import image

    lab_registry("t_tiny", tiny, topic="one")
    lab_registry("t_fail", failing, topic="two")
    out = tmp_path / "lecture"
    html = run_lecture(quick=True, out_dir=out, seed=1, store=store, show=False).index.read_text()
    overview = html[html.index('<table class="overview">'):html.index('id="claims"')]
    rows = re.findall(r"<tr>(.*?)</tr>", overview, flags=re.S)[1:]
    assert len(rows) == 2 and "t_tiny" in rows[0] and "t_fail" in rows[1]
    assert "✓ 1" in rows[0] and "✗ 1" in rows[0]        # claim 1 holds, claim 2 does not
    assert "error" in rows[1] and "<img" not in rows[1]  # the failed run has no figure
    # the thumbnail is the first claim's figure ("hist"), shrunk, linked to its place in the report
    assert 't_tiny/report.html#fig-hist"' in rows[0]
    thumb = base64.b64decode(re.search(r'class="thumb" src="data:image/png;base64,([^"]+)"', rows[0]).group(1))
    small = image.imread(io.BytesIO(thumb))
    full = image.imread(out / "t_tiny" / "hist.png")
    assert small.shape[1] <= 220 and small.shape[0] <= 110 and small.shape[1] < full.shape[1]
    assert abs(small.shape[0] / small.shape[1] - full.shape[0] / full.shape[1]) < 0.02
    assert html.index('class="overview"') < html.index("the std is the scale")  # the full table comes after


def test_lecture_is_ok_when_claims_do_not_hold(lab_registry, store, tmp_path):
    lab_registry("t_tiny", tiny)
    lo = run_lecture(quick=True, out_dir=tmp_path, store=store, show=False)
    assert lo.ok and not all(c.holds for c in lo.outcomes[0].claims)


def test_lecture_rejects_a_key_no_experiment_has(lab_registry, store, tmp_path):
    lab_registry("t_tiny", tiny)
    with pytest.raises(ConfigError, match="no experiment has a config key 'width'"):
        run_lecture(quick=True, overrides=["width=3"], out_dir=tmp_path, store=store, show=False)
    assert store.runs() == []


def test_report_is_rerendered_from_the_store(lab_registry, store, tmp_path):
    lab_registry("t_tiny", tiny)
    o = run_experiment("t_tiny", quick=True, out_dir=tmp_path / "r", store=store, show=False)
    original = o.report.read_text()
    o.report.unlink()
    path = render_run_report(store, o.run_id)
    assert path == o.report and path.exists()
    again = path.read_text()
    assert _img_srcs(again) == _img_srcs(original)
    moved = render_run_report(store, o.run_id, out_dir=tmp_path / "moved")  # figures are read from the run's dir
    assert _img_srcs(moved.read_text()) == _img_srcs(original)
    (tmp_path / "r" / "hist.png").unlink()  # a lost figure becomes a visible placeholder, never a broken <img>
    html = render_run_report(store, o.run_id, out_dir=tmp_path / "r").read_text()
    assert len(_img_srcs(html)) == 1 and "figure file missing: hist.png" in html


def test_report_of_a_run_without_result(store, tmp_path):
    with store.run("plain", {"a": 1}) as run:
        pass
    html = render_run_report(store, run.id, out_dir=tmp_path).read_text()
    assert "plain" in html and "This experiment checks no claim" in html


# -- report rendering ---------------------------------------------------------------------------------
def test_render_index_counts_and_errors():
    entries = [{"experiment": "a", "summary": "s", "status": "done", "href": "a/report.html",
                "claims": [Claim("1", "x", True, "m").to_dict(), Claim("2", "y", False, "m").to_dict()]},
               {"experiment": "b", "summary": "s", "status": "failed", "error": "Traceback\nValueError: bad",
                "claims": []}]
    html = render_index(entries)
    assert "2 experiments" in html and "2 claims" in html and "ValueError: bad" in html
    assert html.count('class="verdict holds"') == 3  # the count badge, the overview row and the claim row
    assert render_report({"experiment": "x", "claims": [], "figures": [], "status": "done"}, ".").count("<img") == 0


# -- figures ------------------------------------------------------------------------------------------
def _png(fig) -> bytes:
    assert isinstance(fig, Figure)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_figure_helpers_render():
    rng = np.random.default_rng(0)
    acts = {f"h{i}": np.tanh(rng.standard_normal((50, 20)) * i) for i in range(1, 4)}
    q = np.sort(rng.standard_normal((30, 3)), axis=1)
    band = {"steps": np.arange(30), "p15": q[:, 0], "p50": q[:, 1], "p85": q[:, 2]}
    figs = [
        figures.layer_histograms(acts, title="tanh"),
        figures.layer_histograms({"h1": np.histogram(rng.standard_normal(100), bins=8)}),
        figures.layer_histogram_grid({"small": acts, "large": {"h1": acts["h1"]}}),
        figures.loss_curves({"a": np.exp(-np.arange(40) / 9), "b": (np.arange(0, 40, 2), np.ones(20))},
                            logy=True, smooth=5),
        figures.percentile_bands({"h1": (np.arange(30), q), "h4": band}),
        figures.percentile_band_grid({"no BN": {"h1": band, "h4": band}, "BN": {"h1": band}}),
        figures.layer_profile({"0.01": [1e-1, 1e-2, 1e-3], "xavier": [0.6, 0.5, 0.45]}, logy=True,
                              reference={"0.01": [1e-1, 2e-2, 4e-3]}),
        figures.bar_chart({"relu": 0.47, "sigmoid": 1.1}),
        figures.bar_chart({"relu": {"dead": 0.1, "sat": 0.0}, "tanh": {"dead": 0.0, "sat": 0.3}}, horizontal=True),
        figures.table_figure([{"act": "relu", "loss": 0.471234, "ok": True}, {"act": "sigmoid", "loss": 1.1}]),
    ]
    for fig in figs:
        assert _png(fig)[:8] == PNG_MAGIC


def test_layer_histograms_panels_and_shared_range():
    fig = figures.layer_histograms({"h1": np.array([-1.0, 0.0]), "h2": np.array([0.0, 3.0])})
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().split("\n")[0] for ax in axes] == ["h1", "h2"]
    assert axes[0].get_xlim() == pytest.approx(axes[1].get_xlim())  # one range, so the panels compare


def test_thin_keeps_the_envelope_the_ends_and_nan_gaps():
    rng = np.random.default_rng(1)
    n = 50_001
    x = np.arange(n, dtype=np.float64)
    y = rng.standard_normal(n)
    y[12_345], y[40_000] = 40.0, -30.0  # single-step spikes must stay visible
    y[20_000:21_000] = np.nan            # a gap (a run of NaN) must stay a gap
    extra = 2 * y
    tx, ty, te = figures.thin(x, y, extra, max_points=1000)
    assert len(tx) <= 1002 and tx[0] == 0 and tx[-1] == n - 1
    assert np.all(np.diff(tx) > 0) and np.array_equal(ty, y[tx.astype(int)], equal_nan=True)
    assert np.array_equal(te, extra[tx.astype(int)], equal_nan=True)
    assert np.nanmax(ty) == 40.0 and np.nanmin(ty) == -30.0
    assert np.isnan(ty[(tx >= 20_000) & (tx < 21_000)]).any()
    short = np.arange(10.0)
    assert figures.thin(short, short)[1] is short  # nothing to thin: the same arrays
    fig = figures.loss_curves({"long": (x, y)}, smooth=10)
    assert all(len(line.get_xdata()) <= figures.MAX_POINTS + 2 for line in fig.axes[0].get_lines())


@pytest.mark.parametrize("bad", [(np.arange(5), np.zeros((5, 2))), {"steps": [0, 1], "p10": [0, 1]}])
def test_percentile_bands_reject_bad_input(bad):
    with pytest.raises(ValueError, match="percentile_bands"):
        figures.percentile_bands({"h1": bad})


def test_ctx_trainer_logs_to_the_store_without_its_own_progress_bar(tmp_path, store):
    from layerlab import nn, optim

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    with store.run("trainer") as run:
        ctx = Context(tmp_path, seed=3, run=run)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
        trainer = ctx.trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), label="xavier")
        assert trainer.seed == 3
        assert not any(type(cb).__name__ == "ProgressBar" for cb in trainer.callbacks)
        history = trainer.fit((x, y), epochs=2)
    steps, loss = store.metrics(run.id, "xavier/loss")
    assert steps.tolist() == list(range(len(history.steps))) and loss.tolist() == pytest.approx(history.loss)
    assert store.metrics(run.id, "xavier/epoch/accuracy").values.tolist() == pytest.approx(
        history.metric("accuracy"))


def test_the_static_index_of_the_help_matches_the_imported_registry():
    """``layerlab --help`` reads the decorators from the source; it must list what importing registers."""
    from layerlab.lab import registry

    static = registry.static_index()
    assert static is not None
    assert static == [(e.name, e.topic, e.summary) for e in registry.all_experiments()]
