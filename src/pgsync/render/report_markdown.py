"""The coverage report as GitHub-flavoured Markdown: counts first, then tables within reason.

A large org's matrix and lists are cut (the stacks whose enforcement changes first), and each
cut says how many it left out; the HTML and JSON reports hold everything. Names are code
spans: literal, never markup, links or mentions.
"""

from __future__ import annotations

import datetime
import re
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
from pgsync.core.impact import Enforcement
from pgsync.core.wording import counted
from pgsync.render.markdown import code_span
from pgsync.render.report_notation import (
    ABSENT,
    ARROW,
    COUNT_LABELS,
    LEGEND,
    SIDE_TITLES,
    cell,
    generated_text,
    group_count,
    group_packs,
    group_rule,
    status,
)

MATRIX_ROWS = 100
LISTED_STACKS = 50
GROUP_ROWS = 100
_SPECIAL = re.compile(r"([\\`*_\[\]<>~&#!])")
ELSEWHERE = "the HTML and JSON reports (`pgsync report --format html|json`) have them all"


def render_report_markdown(
    report: CoverageReport, generated: datetime.datetime | None = None
) -> str:
    blocks = [f"# Policy coverage of {code(report.organization)}"]
    if generated is not None:
        blocks.append(f"Generated {generated_text(generated)}.")
    blocks += [
        f"{counted(len(report.changed), 'stack')} would change enforcement.",
        _counts(report),
        _metadata(report),
        "## Stacks and packs",
        "Legend: " + " · ".join(f"`{sign}` {meaning}" for sign, meaning in LEGEND) + ".",
        *_matrix(report),
        "## Only the default group",
        *_lists(report.default_only(), default_only),
        "## No preventative policy",
        *_lists(report.unprotected(), unprotected),
        "## Groups",
        *_groups(report.groups),
    ]
    return "\n\n".join(blocks) + "\n"


def code(text: str) -> str:
    """A name as a code span: literal, whatever it holds (markup, backticks, mentions)."""
    return code_span(escape(text))


def _literal(text: str) -> str:
    """A table cell's text that is not a name (levels, arrows, `*`), its Markdown escaped
    (the table escapes `|`)."""
    return _SPECIAL.sub(r"\\\1", text)


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GFM table; a `|` within a cell is escaped, as GFM wants even inside code spans."""
    lines = [_table_row(head), "|" + "---|" * len(head)]
    lines += [_table_row(row) for row in rows]
    return "\n".join(lines)


def _table_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _counts(report: CoverageReport) -> str:
    live, desired = report.counts("live").to_json(), report.counts("desired").to_json()
    return _table(
        ["Stacks", "Live", "With the files"],
        ([label, str(live[key]), str(desired[key])] for key, label in COUNT_LABELS),
    )


def _metadata(report: CoverageReport) -> str:
    if report.metadata is None:
        return "The service's coverage counts were not read."
    return f"**The service's coverage counts (live):** {report.metadata.summary()}."


def _matrix(report: CoverageReport) -> list[str]:
    versions = report.versions()
    single = {name: len(tags) == 1 for name, tags in versions.items()}
    head = ["Stack"]
    for name in report.packs:
        head.append(code(name) + (f" {code(min(versions[name]))}" if single[name] else ""))
    head += ["Groups", "Audited by", "Status"]
    rows = _changed_first(report.stacks)
    shown = rows[:MATRIX_ROWS]
    table = _table(head, (_row(row, report.packs, single) for row in shown))
    blocks = [table]
    if len(rows) > len(shown):
        blocks.append(
            f"The first {len(shown)} of {counted(len(rows), 'stack')} "
            f"(those whose enforcement changes first); {ELSEWHERE}."
        )
    return blocks


def _changed_first(rows: Sequence[StackRow]) -> list[StackRow]:
    return sorted(rows, key=lambda row: (not row.changed, row.stack))


def _row(row: StackRow, packs: Sequence[str], single: dict[str, bool]) -> list[str]:
    live = {p.name: p for p in row.live.packs}
    desired = {p.name: p for p in row.desired.packs}
    cells = [code(str(row.stack))]
    for name in packs:
        text = cell(live.get(name), desired.get(name), version=not single[name])
        # A version tag is the file's or the service's text: literal, never a mention or link.
        cells.append(code(text) if text and not single[name] else _literal(text))
    cells.append(_either(row.live.groups, row.desired.groups))
    cells.append(_either(row.live.audited_by, row.desired.audited_by))
    cells.append(status(row))
    return cells


def _names(names: Iterable[str]) -> str:
    return ", ".join(code(name) for name in names)


def _either(live: Sequence[str], desired: Sequence[str]) -> str:
    if tuple(live) == tuple(desired):
        return _names(desired)
    return f"{_names(live) or ABSENT} {ARROW} {_names(desired) or ABSENT}"


def _lists(rows: Sequence[StackRow], test: Callable[[Enforcement], bool]) -> list[str]:
    blocks = []
    for side in SIDES:
        names = [str(r.stack) for r in rows if test(r.side(side))]
        listed = _names(names[:LISTED_STACKS]) or "none"
        more = len(names) - LISTED_STACKS
        if more > 0:
            listed += f", and {more} more ({ELSEWHERE})"
        blocks.append(f"**{SIDE_TITLES[side]} ({len(names)}):** {listed}.")
    return blocks


def _groups(groups: Sequence[GroupCard]) -> list[str]:
    ordered = sorted(groups, key=lambda g: (g.action in ("unchanged", "unmanaged"), g.name))
    shown = ordered[:GROUP_ROWS]
    # Only an org that uses stack rules gets their column.
    ruled = any(group_rule(g, code) is not None for g in groups)
    head = ["Group", "Mode", "Plan", "Stacks", "Accounts", *(["Stack rule"] if ruled else [])]
    rows = (
        [
            code(g.name) + (f" (from {code(g.live_name)})" if g.renamed and g.live_name else ""),
            g.mode + (", default" if g.is_default else ""),
            g.action,
            group_count(g, lambda side: side.stacks),
            group_count(g, lambda side: side.accounts),
            *([group_rule(g, code) or ""] if ruled else []),
            ", ".join(f"{code(name)} {code(text)}" for name, text in group_packs(g)),
        ]
        for g in shown
    )
    blocks = [
        "For each group: the stacks it enforces on (audit groups: audits), its accounts and "
        f"its own packs; `live{ARROW}with the files` where the plan changes them.",
        _table([*head, "Packs"], rows),
    ]
    if len(groups) > len(shown):
        blocks.append(
            f"The first {len(shown)} of {counted(len(groups), 'group')} (changed ones first); "
            f"{ELSEWHERE}."
        )
    return blocks
