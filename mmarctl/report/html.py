"""``eval/report.html``: one self-contained page for a validation run.

The page holds the summary (each metric's value, min, max and mean over cases, the case
count, the model, the date and the MMAR), a per-case table sortable by clicking a header (a
few lines of inline JavaScript), and the pictures as base64 ``data:`` URIs: per-case slices
for segmentation, the ROC curve and confusion matrix for classification. Nothing on the page
is fetched from anywhere, so it opens offline and can be mailed or archived as one file.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field

__all__ = ["Picture", "ReportPage", "render_page"]


@dataclass
class Picture:
    """A PNG on the page: the case it shows (or a heading), its caption and its bytes."""

    case: str
    caption: str
    png: bytes
    anchor: str = ""


@dataclass
class ReportPage:
    """What the page shows.

    Attributes:
        mmar: the MMAR's path, as shown.
        model: the model that was validated (loader and file).
        date: when validation ran (ISO 8601).
        metrics: metric names in config order; ``key_metric`` is the one cases are ranked by.
        summary: per metric ``{"value", "min", "max", "mean", "count"}``.
        columns: the per-case table's columns after "case".
        rows: per case ``(case, {column: value})``; numbers are formatted, NaN shown as "-".
        pictures: case pictures, in the order shown.
        picture_note: why only some cases have a picture (e.g. the 5 worst and 5 best).
        notes: lines shown under the summary (pictures that failed, empty labels).
        shown: per case, the name shown for it (validate's case names, which keep two
            ``ct.nii.gz`` of different folders apart); a case not in it shows its file name.
        skipped: the cases ``skip_bad_cases`` left out -> why; the case count says how many
            and a table under the summary lists them (the summary is over the others).
    """

    mmar: str
    model: str
    date: str
    cases: int
    metrics: list[str]
    key_metric: str | None
    summary: dict[str, dict[str, float]]
    columns: list[str]
    rows: list[tuple[str, dict[str, object]]]
    pictures: list[Picture] = field(default_factory=list)
    picture_note: str = ""
    notes: list[str] = field(default_factory=list)
    shown: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
table.sortable th { cursor: pointer; background: #f0f0f0; user-select: none; }
table.sortable th[data-order="asc"]::after { content: " \\25B2"; }
table.sortable th[data-order="desc"]::after { content: " \\25BC"; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; }
dt { font-weight: 600; } dd { margin: 0; }
figure { display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }
figcaption { font-size: 12px; color: #444; max-width: 460px; }
.legend span { font-weight: 600; } .note { color: #8a5a00; }
"""

# Sorts the table body by the clicked column: numbers numerically, NaN ("-") always last.
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.dataset.order !== "asc";
      table.querySelectorAll("th").forEach(function (h) { delete h.dataset.order; });
      th.dataset.order = asc ? "asc" : "desc";
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
        var nx = parseFloat(x), ny = parseFloat(y);
        if (isNaN(nx) !== isNaN(ny)) { return isNaN(nx) ? 1 : -1; }
        var c = isNaN(nx) ? x.localeCompare(y) : nx - ny;
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def _number(value: object) -> tuple[str, str]:
    """(shown text, sort key) of a cell."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        text = "" if value is None else str(value)
        return text, text
    if isinstance(value, float) and not math.isfinite(value):
        return "-", "NaN"
    return (f"{value:.4f}" if isinstance(value, float) else str(value)), repr(value)


def _cell(value: object, tag: str = "td", attrs: str = "") -> str:
    text, key = _number(value)
    return f'<{tag} data-v="{html.escape(key)}"{attrs}>{html.escape(text)}</{tag}>'


def _short(case: str) -> str:
    return case.replace("\\", "/").rsplit("/", 1)[-1]


def _case_count(page: ReportPage) -> str:
    """``12``, or ``12 (+1 skipped as unusable: skip_bad_cases)``."""
    if not page.skipped:
        return str(page.cases)
    return (f"{page.cases} (+{len(page.skipped)} skipped as unusable: skip_bad_cases, "
            'see <a href="#skipped">below</a>)')


def render_page(page: ReportPage) -> str:
    """The HTML text of the report (UTF-8, no external resource)."""
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<link rel="icon" href="data:,">',
           f"<title>Validation report: {e(_short(page.mmar))}</title>",
           f"<style>{STYLE}</style></head><body>",
           f"<h1>Validation report: {e(_short(page.mmar))}</h1>",
           '<dl id="summary">',
           f"<dt>MMAR</dt><dd>{e(page.mmar)}</dd>",
           f"<dt>model</dt><dd>{e(page.model)}</dd>",
           f"<dt>date</dt><dd>{e(page.date)}</dd>",
           f"<dt>cases</dt><dd>{_case_count(page)}</dd>",
           f"<dt>key metric</dt><dd>{e(page.key_metric or 'none')}</dd></dl>"]
    if page.metrics:
        out.append('<table id="metrics"><thead><tr><th>metric</th><th>value</th><th>min</th>'
                   "<th>max</th><th>mean</th><th>cases</th></tr></thead><tbody>")
        for name in page.metrics:
            s = page.summary.get(name, {})
            out.append("<tr>" + _cell(name) + "".join(
                _cell(s.get(k, math.nan)) for k in ("value", "min", "max", "mean", "count"))
                + "</tr>")
        out.append("</tbody></table>")
    out += [f'<p class="note">{e(note)}</p>' for note in page.notes]
    shown = lambda case: page.shown.get(case) or _short(case)  # noqa: E731
    if page.skipped:
        out.append(f'<h2>Skipped cases</h2><p class="note">{len(page.skipped)} case(s) could '
                   "not be read or used and were left out (skip_bad_cases); the summary "
                   f"and the Cases table are over the {page.cases} validated case(s).</p>"
                   '<table id="skipped"><thead><tr><th>case</th><th>why</th></tr></thead>'
                   "<tbody>")
        out += [f'<tr><td title="{e(case)}">{e(shown(case))}</td>'
                f'<td style="text-align:left">{e(why)}</td></tr>'
                for case, why in page.skipped.items()]
        out.append("</tbody></table>")

    anchors = {p.case: p.anchor for p in page.pictures if p.anchor}
    out.append("<h2>Cases</h2><p>Click a column header to sort.</p>"
               '<table id="cases" class="sortable"><thead><tr>'
               + "".join(f"<th>{e(c)}</th>" for c in ["case", *page.columns])
               + "</tr></thead><tbody>")
    for case, values in page.rows:
        name = e(shown(case))
        link = (f'<a href="#{anchors[case]}">{name}</a>' if case in anchors else name)
        out.append(f'<tr><td data-v="{name}" title="{e(case)}">{link}</td>'
                   + "".join(_cell(values.get(c)) for c in page.columns) + "</tr>")
    out.append("</tbody></table>")

    if page.pictures:
        out.append("<h2>Pictures</h2>")
        if page.picture_note:
            out.append(f"<p>{e(page.picture_note)}</p>")
        out.append('<p class="legend"><span style="color:#00a000">green/cyan</span>: ground '
                   'truth, <span style="color:#e00000">red/magenta</span>: prediction '
                   "(one colour per class)</p>")
        for picture in page.pictures:
            data = base64.b64encode(picture.png).decode("ascii")
            anchor = f' id="{e(picture.anchor)}"' if picture.anchor else ""
            out.append(f"<figure{anchor}><img alt=\"{e(shown(picture.case))}\" "
                       f'src="data:image/png;base64,{data}">'
                       f"<figcaption><b>{e(shown(picture.case))}</b>: "
                       f"{e(picture.caption)}</figcaption></figure>")
    out.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"
