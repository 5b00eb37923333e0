"""The reports open in a real browser with no broken image: headless Chromium renders them.

A copy of each page gets a small script that, once the page has loaded, writes the number of
images and of broken ones (not complete, or naturalWidth == 0) into the DOM; Chromium's
``--dump-dom`` prints it. A page with a deliberately broken image shows the check can fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

import layerlab.lab as lab
from layerlab.lab import Claim, Result, experiment, figures, registry
from layerlab.lab.runner import run_lecture
from layerlab.store import Store

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian package `chromium`; `make test` installs it)")

BROWSER_TIMEOUT = 90

PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter(img => !img.complete || img.naturalWidth === 0).length;
  const out = document.createElement("div");
  out.id = "layerlab-probe";
  out.textContent = "images=" + images.length + " broken=" + broken;
  document.body.appendChild(out);
});
</script>"""


@dataclass
class PlotConfig:
    n: int = 400
    QUICK: ClassVar[dict] = {"n": 100}


def plots(config: PlotConfig, ctx) -> Result:
    x = ctx.rng.standard_normal((config.n, 4))
    ctx.savefig(figures.layer_histograms({f"h{i}": np.tanh(x[:, i] * i) for i in range(1, 4)}), "hist",
                caption="per-layer histograms")
    ctx.savefig(figures.loss_curves({"a": np.exp(-np.arange(50) / 10)}, logy=True), "loss")
    q = np.sort(ctx.rng.standard_normal((20, 3)), axis=1)
    return Result(claims=[Claim("1", "figures render", holds=True, measured="3 figures", figure="hist")],
                  figures={"bands": figures.percentile_bands({"h1": (np.arange(20), q)})},
                  records=[{"a": 1.5}])


def broken(config, ctx):
    raise RuntimeError("no figures here")


@pytest.fixture(scope="module")
def lecture(tmp_path_factory):
    """One lecture of two test experiments (the package's experiments are hidden meanwhile)."""
    saved, problems = dict(registry.REGISTRY), list(lab.LOAD_PROBLEMS)
    registry.REGISTRY.clear()
    lab.LOAD_PROBLEMS.clear()
    root = tmp_path_factory.mktemp("render")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(registry, "_loaded", True)
        try:
            experiment("t_plots", topic="render", summary="three figures")(plots)
            experiment("t_broken", topic="render", summary="fails")(broken)
            with Store(root / "runs.sqlite") as store:
                outcome = run_lecture(quick=True, out_dir=root / "lecture", store=store, show=False)
        finally:
            registry.REGISTRY.clear()
            registry.REGISTRY.update(saved)
            lab.LOAD_PROBLEMS[:] = problems
    return outcome


def _render(page: Path, tmp_path: Path, extra_html: str = "") -> tuple[int, int]:
    """(images, broken images) of ``page`` as Chromium sees it after the load event."""
    html = page.read_text(encoding="utf-8")
    assert html.count("</body>") == 1
    probe = page.with_name(f".probe-{page.name}")  # same directory: relative paths resolve as in the original
    probe.write_text(html.replace("</body>", extra_html + PROBE + "</body>"), encoding="utf-8")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=10000",
           "--dump-dom", probe.resolve().as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=BROWSER_TIMEOUT)
    probe.unlink()
    found = re.search(r"images=(\d+) broken=(\d+)", done.stdout)
    assert found, f"chromium did not render {page} (exit {done.returncode}): {done.stderr[-2000:]}"
    return int(found.group(1)), int(found.group(2))


def test_every_report_image_loads(lecture, tmp_path):
    plots_outcome, broken_outcome = lecture.outcomes
    assert plots_outcome.ok and not broken_outcome.ok
    n_figures = len(plots_outcome.data["figures"])
    assert n_figures == 3
    assert _render(plots_outcome.report, tmp_path) == (n_figures, 0)
    assert _render(broken_outcome.report, tmp_path) == (0, 0)


def test_the_index_renders_and_its_links_exist(lecture, tmp_path):
    html = lecture.index.read_text()
    hrefs = set(re.findall(r'<a href="([^"#]+)"', html))
    assert len(hrefs) == 2 and all((lecture.index.parent / h).is_file() for h in hrefs)
    assert _render(lecture.index, tmp_path) == (1, 0)  # the thumbnail of the experiment that has figures


def test_the_check_sees_a_broken_image(lecture, tmp_path):
    report = lecture.outcomes[0].report
    assert _render(report, tmp_path, extra_html='<img src="no-such-figure.png" alt="missing">') == (4, 1)
