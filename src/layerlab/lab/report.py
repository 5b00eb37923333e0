"""Reports: a self-contained ``report.html`` per experiment, an ``index.html`` for the lecture,
and the terminal table of claims (rich).

Both HTML pages are rendered from the same JSON-able dict that is written as ``claims.json``
and kept in the run store (``runs.result``), so a report can be re-rendered from the store.
Figures are inlined as base64 ``data:`` URIs: the file opens anywhere, alone. No template
engine: ``string.Template`` and ``html.escape``.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import time
from pathlib import Path
from string import Template
from typing import Any, Mapping, Sequence

from ..fileio import atomic_write_text

__all__ = ["render_report", "write_report", "render_index", "write_index", "main_figure", "claims_table", "lecture_table",
           "write_text_atomic", "format_value", "VERDICT_MARK"]

VERDICT_MARK = {True: "✓", False: "✗"}


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename: never half a file."""
    return atomic_write_text(path, text)


def format_value(v: Any) -> str:
    """Cells of records tables: 4 significant digits, ✓/✗ for bools."""
    if isinstance(v, bool):
        return VERDICT_MARK[v]
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.3e}"
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(format_value(x) for x in v)
    return "" if v is None else str(v)


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else ""


_CSS = """
:root { --ok: #1a7f37; --ok-bg: #dafbe1; --no: #b42318; --no-bg: #fee4e2; --err: #7a2e0e; --muted: #57606a;
        --line: #d0d7de; --head: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1f2328;
       max-width: 1180px; margin: 2rem auto; padding: 0 1.2rem; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid var(--line); }
.sub { color: var(--muted); margin: 0 0 1rem; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0 1rem; font-size: .92rem; }
table.records { width: auto; min-width: 40%; }
th, td { border: 1px solid var(--line); padding: .35rem .55rem; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.verdict { display: inline-block; padding: .05rem .5rem; border-radius: 1rem; font-weight: 600; white-space: nowrap; }
.holds { color: var(--ok); background: var(--ok-bg); } .fails { color: var(--no); background: var(--no-bg); }
.error { color: var(--err); background: #fff1e7; }
figure { margin: 1rem 0 1.6rem; } figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .3rem; }
.missing { padding: 1rem; border: 1px dashed var(--no); color: var(--no); }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; font-size: .82rem; border: 1px solid var(--line); }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; font-size: .9rem; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; }
.counts span { margin-right: 1.2rem; } a { color: #0969da; }
table.overview td { vertical-align: middle; } img.thumb { display: block; border: 1px solid var(--line); }
footer { color: var(--muted); font-size: .8rem; margin: 3rem 0 1rem; }
"""

_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$css</style>
</head>
<body>
$body
<footer>layerlab $version · generated $generated</footer>
</body>
</html>
""")


def _verdict_html(holds: bool | None) -> str:
    if holds is None:
        return '<span class="verdict error">error</span>'
    return (f'<span class="verdict holds">{VERDICT_MARK[True]} holds</span>' if holds
            else f'<span class="verdict fails">{VERDICT_MARK[False]} does not hold</span>')


def _img_tag(path: Path, alt: str) -> str:
    """The PNG inlined as a data URI, or a visible placeholder (never a broken <img>)."""
    try:
        data = path.read_bytes()
    except OSError:
        return f'<div class="missing">figure file missing: {_e(path.name)}</div>'
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img src="data:image/png;base64,{b64}" alt="{_e(alt)}">'


def _records_tables(records: Any) -> str:
    if not records:
        return ""
    tables = records.items() if isinstance(records, Mapping) else [("Records", records)]
    out = []
    for title, rows in tables:
        rows = list(rows or [])
        if not rows:
            continue
        cols = list(dict.fromkeys(k for r in rows for k in r))
        head = "".join(f"<th>{_e(c)}</th>" for c in cols)
        body = "".join(
            "<tr>" + "".join(
                f'<td class="{"num" if isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool) else ""}">'
                f"{_e(format_value(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
        out.append(f"<h2>{_e(title)}</h2>\n<table class=\"records\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    return "\n".join(out)


def _notes_html(notes: Any) -> str:
    if not notes:
        return ""
    paras = [notes] if isinstance(notes, str) else list(notes)
    return "<h2>Notes</h2>\n" + "\n".join(f"<p>{_e(p)}</p>" for p in paras if str(p).strip())


def _claims_rows(claims: Sequence[Mapping], figure_names: set[str], link_prefix: str = "") -> str:
    rows = []
    for c in claims:
        fig = c.get("figure")
        fig_cell = (f'<a href="{link_prefix}#fig-{_e(fig)}">{_e(fig)}</a>' if fig and fig in figure_names
                    else _e(fig or ""))
        rows.append(f"<tr><td>{_e(c['id'])}</td><td>{_e(c['text'])}</td><td>{_verdict_html(bool(c['holds']))}</td>"
                    f"<td>{_e(c.get('measured', ''))}</td><td>{_e(c.get('conditions', ''))}</td><td>{fig_cell}</td></tr>")
    return "\n".join(rows)


def render_report(data: Mapping[str, Any], out_dir: str | os.PathLike,
                  figures_dir: str | os.PathLike | None = None) -> str:
    """The HTML of one experiment's report, from its result dict; figure files are read from
    ``figures_dir`` (default ``out_dir``), where their paths in ``data["figures"]`` are relative to."""
    out_dir = Path(figures_dir) if figures_dir is not None else Path(out_dir)
    name = data.get("experiment", "experiment")
    claims = data.get("claims") or []
    figures = data.get("figures") or []
    status = data.get("status", "done")
    holds = sum(bool(c["holds"]) for c in claims)
    parts = [f"<h1>{_e(name)}</h1>",
             f'<p class="sub">{_e(data.get("summary", ""))}'
             + (f' · topic: {_e(data.get("topic"))}' if data.get("topic") else "") + "</p>"]
    if status != "done":
        parts.append(f'<p>{_verdict_html(None)} the experiment did not finish.</p>'
                     f'<pre>{_e(data.get("error") or "unknown error")}</pre>')
    if claims:
        parts.append(f'<h2>Claims</h2>\n<p class="counts"><span>{holds} of {len(claims)} hold</span>'
                     f'<span>{len(claims) - holds} do not hold</span></p>')
        parts.append("<table><thead><tr><th>id</th><th>claim</th><th>verdict</th><th>measured</th>"
                     "<th>conditions</th><th>figure</th></tr></thead><tbody>"
                     + _claims_rows(claims, {f["name"] for f in figures}) + "</tbody></table>")
    elif status == "done":
        parts.append("<h2>Claims</h2><p>This experiment checks no claim.</p>")
    if figures:
        parts.append("<h2>Figures</h2>")
        for f in figures:
            img = _img_tag(out_dir / f["file"], f.get("caption") or f["name"])
            cap = f"<b>{_e(f['name'])}</b>" + (f" — {_e(f['caption'])}" if f.get("caption") else "")
            parts.append(f'<figure id="fig-{_e(f["name"])}">{img}<figcaption>{cap}</figcaption></figure>')
    parts.append(_records_tables(data.get("records")))
    parts.append(_notes_html(data.get("notes")))
    meta = [("run", data.get("run_id")), ("seed", data.get("seed")), ("quick", data.get("quick")),
            ("status", status), ("started", _when(data.get("started"))),
            ("elapsed", f"{data['elapsed']:.1f} s" if data.get("elapsed") is not None else ""),
            ("store", data.get("store")), ("output", data.get("out_dir"))]
    parts.append("<h2>Run</h2>\n<dl class=\"meta\">" + "".join(
        f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta if v not in (None, "")) + "</dl>")
    config = data.get("config") or {}
    if config:
        parts.append("<details open><summary>Configuration</summary><table class=\"records\"><tbody>" + "".join(
            f"<tr><th>{_e(k)}</th><td>{_e(format_value(v))}</td></tr>" for k, v in config.items())
            + "</tbody></table></details>")
    return _PAGE.substitute(title=_e(f"layerlab · {name}"), css=_CSS, body="\n".join(p for p in parts if p),
                            version=_e(data.get("layerlab_version", "")), generated=_e(_when(time.time())))


def write_report(data: Mapping[str, Any], out_dir: str | os.PathLike, filename: str = "report.html",
                 figures_dir: str | os.PathLike | None = None) -> Path:
    return write_text_atomic(Path(out_dir) / filename, render_report(data, out_dir, figures_dir))


def main_figure(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The figure that stands for an experiment: the one its first claim names, else its first figure."""
    figures = data.get("figures") or []
    by_name = {f["name"]: f for f in figures}
    for c in data.get("claims") or []:
        if c.get("figure") in by_name:
            return by_name[c["figure"]]
    return figures[0] if figures else None


def _thumbnail_tag(path: Path, alt: str, width: int = 220, height: int = 110) -> str:
    """A copy of the PNG at ``path`` that fits in ``width`` × ``height`` pixels, inlined; empty when it cannot
    be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.thumbnail((width, height))
            buf = io.BytesIO()
            im.save(buf, format="PNG", optimize=True)
    except (OSError, UnidentifiedImageError):
        return ""
    b64 = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="thumb" src="data:image/png;base64,{b64}" alt="{_e(alt)}">'


def _first_screen(entries: Sequence[Mapping[str, Any]]) -> str:
    """One row per experiment: its verdict counts and a thumbnail of its main figure, linked to its report."""
    rows = []
    for e in entries:
        href = e.get("href")
        link = f'<a href="{_e(href)}">{_e(e["experiment"])}</a>' if href else _e(e["experiment"])
        claims = e.get("claims") or []
        n_hold = sum(bool(c["holds"]) for c in claims)
        if e.get("status", "done") != "done":
            counts = _verdict_html(None)
        else:
            counts = (f'<span class="verdict holds">{VERDICT_MARK[True]} {n_hold}</span> '
                      f'<span class="verdict fails">{VERDICT_MARK[False]} {len(claims) - n_hold}</span>')
        fig, thumb = main_figure(e), ""
        if fig is not None and e.get("out_dir"):
            thumb = _thumbnail_tag(Path(e["out_dir"]) / fig["file"], fig.get("caption") or fig["name"])
            if thumb and href:
                thumb = f'<a href="{_e(href)}#fig-{_e(fig["name"])}">{thumb}</a>'
        rows.append(f"<tr><td>{link}<br><small>{_e(e.get('topic', ''))}</small></td>"
                    f"<td>{_e(e.get('summary', ''))}</td><td class=\"num\">{counts}</td><td>{thumb}</td></tr>")
    return ('<table class="overview"><thead><tr><th>experiment</th><th>what it shows</th><th>claims</th>'
            "<th>main figure</th></tr></thead><tbody>" + "\n".join(rows) + "</tbody></table>")


def render_index(entries: Sequence[Mapping[str, Any]], title: str = "layerlab · the lecture's claims",
                 subtitle: str = "") -> str:
    """The lecture index: first a compact overview (one row per experiment: its verdict counts and a
    thumbnail of its main figure), then every experiment's claims in one table, each linking to its report.

    ``entries``: result dicts with an extra ``"href"`` (the report, relative to the index); thumbnails are
    read from each entry's ``out_dir``.
    """
    n_claims = sum(len(e.get("claims") or []) for e in entries)
    n_hold = sum(bool(c["holds"]) for e in entries for c in e.get("claims") or [])
    n_err = sum(e.get("status", "done") != "done" for e in entries)
    parts = [f"<h1>{_e(title)}</h1>", f'<p class="sub">{_e(subtitle)}</p>' if subtitle else "",
             f'<p class="counts"><span>{len(entries)} experiments</span><span>{n_claims} claims</span>'
             f'<span>{_verdict_html(True)} {n_hold}</span><span>{_verdict_html(False)} {n_claims - n_hold}</span>'
             + (f"<span>{_verdict_html(None)} {n_err}</span>" if n_err else "") + "</p>",
             _first_screen(entries),
             '<h2 id="claims">Every claim</h2>',
             "<table><thead><tr><th>experiment</th><th>id</th><th>claim</th><th>verdict</th><th>measured</th>"
             "<th>conditions</th></tr></thead><tbody>"]
    for e in entries:
        href = e.get("href")
        link = f'<a href="{_e(href)}">{_e(e["experiment"])}</a>' if href else _e(e["experiment"])
        claims = e.get("claims") or []
        if e.get("status", "done") != "done":
            err = (e.get("error") or "error").strip().splitlines()
            parts.append(f"<tr><td>{link}</td><td></td><td>{_e(e.get('summary', ''))}</td>"
                         f"<td>{_verdict_html(None)}</td><td colspan=\"2\">{_e(err[-1] if err else '')}</td></tr>")
            continue
        if not claims:
            parts.append(f"<tr><td>{link}</td><td></td><td>{_e(e.get('summary', ''))}</td><td></td><td></td><td></td></tr>")
        for i, c in enumerate(claims):
            first = f'<td rowspan="{len(claims)}">{link}<br><small>{_e(e.get("summary", ""))}</small></td>' if i == 0 else ""
            parts.append(f"<tr>{first}<td>{_e(c['id'])}</td><td>{_e(c['text'])}</td>"
                         f"<td>{_verdict_html(bool(c['holds']))}</td><td>{_e(c.get('measured', ''))}</td>"
                         f"<td>{_e(c.get('conditions', ''))}</td></tr>")
    parts.append("</tbody></table>")
    version = next((e.get("layerlab_version") for e in entries if e.get("layerlab_version")), "")
    return _PAGE.substitute(title=_e(title), css=_CSS, body="\n".join(p for p in parts if p), version=_e(version),
                            generated=_e(_when(time.time())))


def write_index(entries: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike, filename: str = "index.html",
                **kwargs) -> Path:
    return write_text_atomic(Path(out_dir) / filename, render_index(entries, **kwargs))


# -- terminal -------------------------------------------------------------------------------------------
def claims_table(claims: Sequence[Mapping[str, Any]], title: str | None = None):
    """A rich Table: id, claim, verdict (✓/✗), measured, conditions."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    table.add_column("id", no_wrap=True)
    table.add_column("claim", ratio=3)
    table.add_column("verdict", no_wrap=True)
    table.add_column("measured", ratio=2)
    table.add_column("conditions", ratio=2)
    for c in claims:
        verdict = "[green]✓ holds[/]" if c["holds"] else "[red]✗ does not hold[/]"
        table.add_row(_rich_escape(c["id"]), _rich_escape(c["text"]), verdict,
                      _rich_escape(c.get("measured", "")), _rich_escape(c.get("conditions", "")))
    return table


def lecture_table(entries: Sequence[Mapping[str, Any]], title: str | None = "the lecture"):
    """A rich Table with one row per experiment: status, claims holding, time."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("experiment", "status", "claims", "holds", "does not hold", "time"):
        table.add_column(col, no_wrap=col != "experiment")
    for e in entries:
        claims = e.get("claims") or []
        ok = sum(bool(c["holds"]) for c in claims)
        status = "[green]done[/]" if e.get("status") == "done" else "[bold red]error[/]"
        table.add_row(_rich_escape(e["experiment"]), status, str(len(claims)), f"[green]{ok}[/]",
                      f"[red]{len(claims) - ok}[/]" if len(claims) - ok else "0",
                      f"{e['elapsed']:.1f} s" if e.get("elapsed") is not None else "")
    return table


def _rich_escape(s: Any) -> str:
    from rich.markup import escape

    return escape("" if s is None else str(s))
