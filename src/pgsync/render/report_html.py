"""The coverage report as one self-contained HTML page.

Nothing is fetched: styles and the script are inline, there are no images or fonts. The
matrix is a plain table, complete without the script, which only adds filtering and sorting
(its filter box stays hidden where scripts do not run). Levels read as letters, so colour is
never the only signal, and the page prints.

Matrix rows omit the end tags that HTML lets one omit (`</td>`, `</th>`, `</tr>`): for
2,000 stacks by 30 packs that is a third of the file.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Callable, Iterable, Sequence

from pgsync.core.coverage import (
    SIDES,
    CoverageReport,
    GroupCard,
    StackRow,
    default_only,
    unprotected,
)
from pgsync.core.escaping import escape
from pgsync.core.impact import Enforcement, Level, PackEnforcement
from pgsync.core.wording import counted
from pgsync.render.report_notation import (
    ABSENT,
    ARROW,
    COUNT_LABELS,
    LEGEND,
    LETTERS,
    SIDE_TITLES,
    cell,
    generated_text,
    group_count,
    group_packs,
    group_rule,
    status,
)

_CLASSES: dict[Level, str] = {
    "mandatory": "m",
    "remediate": "r",
    "advisory": "a",
    "disabled": "d",
    None: "u",
}
_LOST = "x"
_CHANGED = "c"
_LEGEND_CLASSES = {
    **{LETTERS[level]: f" class={name}" for level, name in _CLASSES.items()},
    ABSENT: f" class={_LOST}",
    f"A{ARROW}M": f' class="{_CLASSES["mandatory"]} {_CHANGED}"',
}
"""The legend's signs in the colours the matrix gives them."""

STYLE = """\
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#111;background:#fff}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0}
caption{text-align:left;font-weight:bold;padding:.3em 0}
th,td{border:1px solid #bbb;padding:2px 6px;text-align:left;vertical-align:top}
thead th{background:#eee}
#matrix thead th{position:sticky;top:0}
#matrix td{text-align:center;white-space:nowrap}
#matrix td:nth-last-child(-n+3){text-align:left;white-space:normal}
th[data-sort]{cursor:pointer}
th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
.v{font-weight:normal;color:#444}
.m{background:#f6c9c9}.r{background:#fbdcb5}.a{background:#fbf0b5}
.d{background:#e4e4e4;color:#444}.u{background:#d9e6f5}.x{background:#fff;color:#900}
.c{font-weight:bold;box-shadow:inset 0 0 0 2px #222}
.legend{display:flex;flex-wrap:wrap;gap:.3em 1.2em;padding:0;list-style:none}
.legend b{display:inline-block;min-width:1.6em;text-align:center;border:1px solid #bbb}
.names{columns:16em;padding-left:1.2em}
.cards{display:flex;flex-wrap:wrap;gap:.8em}
.cards article{border:1px solid #bbb;padding:.4em .8em;min-width:14em}
.cards h3{font-size:1em;margin:.2em 0}.cards p{margin:.2em 0}
@media print{
#tools{display:none}
body{margin:0;font-size:9px}
#matrix thead th{position:static}
thead{display:table-header-group}
tr,article{break-inside:avoid}
*{print-color-adjust:exact;-webkit-print-color-adjust:exact}
}
"""

# Filtering keeps the rows whose stack, packs (the headers of its filled cells), groups or
# status hold the text; sorting orders by a column's text, or for pack columns by the level
# the files give (strictest first), ties by stack.
SCRIPT = """\
(function () {
  var table = document.getElementById("matrix"), body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var filter = document.getElementById("filter"), count = document.getElementById("shown");
  var rank = {"M": 4, "R": 3, "A": 2, "D": 1, "?": 0};
  rows.forEach(function (row) {
    var words = [row.getAttribute("data-stack")];
    for (var i = 1; i < row.cells.length; i++) {
      var pack = heads[i].getAttribute("data-pack"), text = row.cells[i].textContent;
      if (pack === null) words.push(text); else if (text) words.push(pack);
    }
    row.words = words.join(" ").toLowerCase();
  });
  function show() {
    var wanted = filter.value.trim().toLowerCase(), shown = 0;
    rows.forEach(function (row) {
      row.hidden = wanted !== "" && row.words.indexOf(wanted) < 0;
      if (!row.hidden) shown++;
    });
    count.textContent = shown + " of " + rows.length + " stacks shown";
  }
  function key(row, column, level) {
    var text = row.cells[column].textContent;
    if (!level) return text;
    if (!text) return 9;
    var last = text.replace(/\\*$/, "").slice(-1);
    return last in rank ? -rank[last] : 5;
  }
  heads.forEach(function (head, column) {
    if (!head.hasAttribute("data-sort")) return;
    head.tabIndex = 0;
    function sort() {
      var order = head.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      var level = head.getAttribute("data-sort") === "level";
      heads.forEach(function (other) { other.removeAttribute("aria-sort"); });
      head.setAttribute("aria-sort", order > 0 ? "ascending" : "descending");
      var keyed = rows.map(function (row) {
        return [key(row, column, level), row.getAttribute("data-stack"), row];
      });
      keyed.sort(function (x, y) {
        var by = x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0;
        return by * order || (x[1] < y[1] ? -1 : 1);
      });
      rows = keyed.map(function (entry) { return entry[2]; });
      var sorted = document.createDocumentFragment();
      rows.forEach(function (row) { sorted.appendChild(row); });
      body.appendChild(sorted);
    }
    head.addEventListener("click", sort);
    head.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
    });
  });
  filter.addEventListener("input", show);
  document.getElementById("tools").hidden = false;
  show();
})();
"""


def render_report_html(report: CoverageReport, generated: datetime.datetime | None = None) -> str:
    """The page; `generated`, when given, is shown as the time it was made."""
    org = _text(report.organization)
    made = f"<p>Generated {generated_text(generated)}.</p>\n" if generated else ""
    parts = [
        "<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n",
        '<meta name=viewport content="width=device-width,initial-scale=1">\n',
        f"<title>Policy coverage: {org}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        f"<header>\n<h1>Policy coverage of {org}</h1>\n",
        "<p>Each stack's preventative policy packs as they are live, and as the desired-state "
        "files would make them once applied.</p>\n",
        made,
        "</header>\n<main>\n",
        _summary(report),
        _matrix(report),
        _lists(
            "default",
            "Only the default group",
            "Stacks in no preventative group of their own: only the default group's packs "
            "reach them.",
            report.default_only(),
            default_only,
        ),
        _lists(
            "none",
            "No preventative policy",
            "Stacks that no pack reaches at a level other than disabled.",
            report.unprotected(),
            unprotected,
        ),
        _cards(report.groups),
        f"</main>\n<script>\n{SCRIPT}</script>\n</body>\n</html>\n",
    ]
    return "".join(parts)


def _text(text: str) -> str:
    """Any name as HTML text or attribute value: invisible characters shown, markup escaped."""
    return html.escape(escape(text), quote=True)


def _summary(report: CoverageReport) -> str:
    live, desired = report.counts("live").to_json(), report.counts("desired").to_json()
    rows = "".join(
        f"<tr><th scope=row>{label}</th><td>{live[key]}</td><td>{desired[key]}</td></tr>\n"
        for key, label in COUNT_LABELS
    )
    parts = [
        "<section aria-labelledby=summary>\n<h2 id=summary>Summary</h2>\n",
        f"<p>{counted(len(report.changed), 'stack')} would change enforcement.</p>\n",
        "<table id=counts>\n<caption>Stacks by coverage</caption>\n",
        "<thead><tr><th scope=col>Stacks</th><th scope=col>Live</th>"
        "<th scope=col>With the files</th></tr></thead>\n",
        f"<tbody>\n{rows}</tbody>\n</table>\n",
        _metadata(report),
        "</section>\n",
    ]
    return "".join(parts)


def _metadata(report: CoverageReport) -> str:
    found = report.metadata
    if found is None:
        return "<p>The service's coverage counts were not read.</p>\n"
    rows = (
        ("Protected stacks", f"{found.protected_stacks} of {found.total_stacks}"),
        ("Preventative stacks", str(found.preventative_stacks)),
        ("Audit-only stacks", str(found.audit_stacks)),
        ("Protected accounts", f"{found.protected_accounts} of {found.total_accounts}"),
    )
    body = "".join(
        f"<tr><th scope=row>{label}</th><td>{value}</td></tr>\n" for label, value in rows
    )
    return (
        "<table id=metadata>\n<caption>The service's own coverage counts (live)</caption>\n"
        f"<tbody>\n{body}</tbody>\n</table>\n"
    )


def _matrix(report: CoverageReport) -> str:
    versions = report.versions()
    # A pack at one version everywhere names it in its header; otherwise each cell does.
    single = {name: len(tags) == 1 for name, tags in versions.items()}
    heads = ["<th scope=col data-sort aria-sort=ascending>Stack</th>"]
    for name in report.packs:
        tag = f"<br><span class=v>{_text(min(versions[name]))}</span>" if single[name] else ""
        heads.append(
            f'<th scope=col data-sort=level data-pack="{_text(name)}">{_text(name)}{tag}</th>'
        )
    heads += [
        "<th scope=col data-sort>Groups</th>",
        "<th scope=col data-sort>Audited by</th>",
        "<th scope=col data-sort>Status</th>",
    ]
    legend = "".join(
        f"<li><b{_LEGEND_CLASSES.get(sign, '')}>{_text(sign)}</b> {_text(meaning)}</li>"
        for sign, meaning in LEGEND
    )
    size = f"{counted(len(report.stacks), 'stack')} × {counted(len(report.packs), 'pack')}"
    columns = tuple((name, not single[name]) for name in report.packs)
    rows = "".join(_row(row, columns) for row in report.stacks)
    return "".join(
        [
            "<section aria-labelledby=matrix-title>\n<h2 id=matrix-title>Stacks and packs</h2>\n",
            "<p id=tools hidden><label for=filter>Filter by stack, pack or group:</label> "
            "<input id=filter type=search autocomplete=off> <span id=shown aria-live=polite>"
            "</span></p>\n",
            f"<ul class=legend>{legend}</ul>\n",
            "<p>Under a pack's name, the one version of it that reaches stacks; where several "
            "do, each cell starts with its version.</p>\n",
            f"<table id=matrix>\n<caption>Level of each pack on each stack ({size})</caption>\n",
            f"<thead><tr>{''.join(heads)}</tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n",
            "</section>\n",
        ]
    )


def _row(row: StackRow, columns: Sequence[tuple[str, bool]]) -> str:
    name = _text(str(row.stack))
    live = {p.name: p for p in row.live.packs}
    desired = {p.name: p for p in row.desired.packs}
    cells = [f'<tr data-stack="{name}"><th scope=row>{name}']
    for pack, version in columns:
        before, after = live.get(pack), desired.get(pack)
        text = cell(before, after, version=version)
        cells.append(f"<td{_class(before, after, text)}>{_text(text)}" if text else "<td>")
    cells.append(f"<td>{_either(row.live.groups, row.desired.groups)}")
    cells.append(f"<td>{_either(row.live.audited_by, row.desired.audited_by)}")
    cells.append(f"<td>{status(row)}\n")
    return "".join(cells)


def _class(before: PackEnforcement | None, after: PackEnforcement | None, text: str) -> str:
    name = _CLASSES.get(after.level, "u") if after is not None else _LOST
    return f' class="{name} {_CHANGED}"' if ARROW in text else f" class={name}"


def _either(live: Iterable[str], desired: Iterable[str]) -> str:
    before, after = ", ".join(live), ", ".join(desired)
    if before == after:
        return _text(after)
    return f"{_text(before) or '–'} {ARROW} {_text(after) or '–'}"


def _lists(
    anchor: str,
    title: str,
    about: str,
    rows: Sequence[StackRow],
    test: Callable[[Enforcement], bool],
) -> str:
    """The stacks for which `test` holds, live and with the files, side by side."""
    columns = []
    for side in SIDES:
        names = [_text(str(r.stack)) for r in rows if test(r.side(side))]
        listing = (
            "<ul class=names>" + "".join(f"<li>{n}</li>" for n in names) + "</ul>"
            if names
            else "<p>None.</p>"
        )
        columns.append(f"<h3>{SIDE_TITLES[side]}: {len(names)}</h3>\n{listing}\n")
    return (
        f"<section aria-labelledby={anchor}>\n<h2 id={anchor}>{title}</h2>\n<p>{about}</p>\n"
        + "".join(columns)
        + "</section>\n"
    )


def _cards(groups: Sequence[GroupCard]) -> str:
    cards = "".join(_card(card) for card in groups)
    return (
        "<section aria-labelledby=groups>\n<h2 id=groups>Groups</h2>\n"
        "<p>Each group with what the plan does to it, how many stacks it enforces on "
        "(audit groups: audits), its accounts, and its own packs, live and with the files."
        "</p>\n"
        f"<div class=cards>\n{cards}</div>\n</section>\n"
    )


def _card(card: GroupCard) -> str:
    facts = [card.mode, *(["default group"] if card.is_default else []), card.action]
    if card.renamed and card.live_name is not None:
        facts.append(f"renamed from {card.live_name}")
    lines = [f"Stacks: {group_count(card, lambda side: side.stacks)}"]
    if any(side is not None and side.accounts for side in (card.live, card.desired)):
        lines.append(f"Accounts: {group_count(card, lambda side: side.accounts)}")
    rule = group_rule(card, _text)
    if rule is not None:
        lines.append(f"Stack rule: {rule}")
    packs = ", ".join(f"{_text(name)} {_text(text)}" for name, text in group_packs(card))
    lines.append(f"Packs: {packs or 'none'}")
    shown = "".join(f"<p>{line}</p>" for line in lines)
    return (
        f"<article><h3>{_text(card.name)}</h3><p>{_text(' · '.join(facts))}</p>{shown}</article>\n"
    )
