"""Plan → GitHub-flavoured Markdown for a pull-request comment, capped in size. Pure."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pgsync.core.changes import Rename, Reshape
from pgsync.core.diff import ACTION_NAMES
from pgsync.core.escaping import escape
from pgsync.core.plan import GroupPlan, Plan
from pgsync.core.wording import counted
from pgsync.render.text import (
    IMPACT_COUNTED,
    IMPACT_TITLE,
    NO_IMPACT,
    SAFETY_HELP,
    SHARED_TITLE,
    SYMBOLS,
    UNMANAGED_SHOWN,
    Kind,
    by_concern,
    change_line,
    effect_sign,
    effects,
    files_read,
    impact_caveats,
    shared_changes,
    summary_line,
)

FULL_PLAN_HINT = "the full plan is in the step summary and the plan.json artifact"
SEPARATOR = "\n\n"
_LINE_BREAK = re.compile(r"\r\n?|\n")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#])")


@dataclass(frozen=True, slots=True)
class _Listing:
    """A titled bullet list that may be cut after any item, ending with '…and N more'.

    `what` names one item ("note"); counts give it its plural. `unlisted` more items are
    counted in that line but never listed; `end` closes the block (a `</details>`).
    """

    title: str
    items: tuple[str, ...]
    what: str
    unlisted: int = 0
    end: str = ""

    def block(self, shown: int) -> str:
        lines = [self.title, *self.items[:shown]]
        if shown < len(self.items) + self.unlisted:
            lines.append(self._more(shown))
        if self.end:
            lines.append(self.end)
        return "\n".join(lines)

    def whole(self) -> list[str]:
        return [self.block(len(self.items))] if self.items else []

    def most_shown(self, budget: int) -> int | None:
        """The most items whose block fits in `budget` characters (None: not even the title)."""
        if len(self.block(len(self.items))) <= budget:
            return len(self.items)
        size = len(self.title) + (len(self.end) + 1 if self.end else 0)
        best = None
        # Each item adds more than the "…and N more" line can shrink, so sizes only grow.
        for shown, item in enumerate(self.items):
            if size + 1 + len(self._more(shown)) > budget:
                break
            best = shown
            size += len(item) + 1
        return best

    def _more(self, shown: int) -> str:
        hidden = len(self.items) + self.unlisted - shown
        if shown:
            return f"- …and {counted(hidden, f'more {self.what}')}"
        return f"- {counted(hidden, self.what)} not shown"


def render_markdown(
    plan: Plan, *, limit: int = 60_000, full_plan_hint: str = FULL_PLAN_HINT, kind: Kind = "plan"
) -> str:
    """The plan as a PR comment of at most `limit` characters, shedding detail first."""
    changed = plan.changed
    head = _head(plan, kind)
    removals = _destructive(changed)
    destructive = _Listing(
        f"#### ⚠️ Destructive changes ({len(removals)})", removals, "destructive change"
    )
    # Notes of changed groups are inside their <details>; the others get a list of their own.
    unchanged_notes = tuple(
        f"- {code_span(g.name)}: {_md(note)}"
        for g in plan.groups
        if not g.is_change
        for note in g.notes
    )
    notes = _Listing("#### ℹ️ Notes", unchanged_notes, "note")
    shared = tuple(
        f"- {_md(item.origin)}: {code_span(f'{item.sign} {item.text}')} {item.reach(code_span)}"
        for item in shared_changes(plan)
    )
    origins = _Listing(f"#### 📦 {SHARED_TITLE}", shared, "shared change")
    stacks = _stack_listing(plan)
    details = [_details(g) for g in changed]
    full = _join(
        [
            *head,
            *stacks.whole(),
            *destructive.whole(),
            *notes.whole(),
            *origins.whole(),
            *details,
        ]
    )
    if len(full) <= limit:
        return full

    def truncation(shown: int) -> str:
        detail = f": {shown} of {counted(len(changed), 'changed group')} shown in detail"
        return f"> ✂️ Truncated{detail if changed else ''}; {full_plan_hint}."

    # The symbol goes in a code span: a bare "- + x" or "- - x" would be a nested list.
    compact = tuple(f"- {code_span(SYMBOLS[g.action])} {_header(g, code_span)}" for g in changed)
    return _truncated(
        head,
        destructive,
        stacks,
        notes,
        origins,
        details=details,
        compact=compact,
        truncation=truncation,
        limit=limit,
    )


def _truncated(
    head: list[str],
    destructive: _Listing,
    stacks: _Listing,
    notes: _Listing,
    origins: _Listing,
    *,
    details: Sequence[str],
    compact: tuple[str, ...],
    truncation: Callable[[int], str],
    limit: int,
) -> str:
    """Give way in order: details, the one-line group list, the changes from pack sets and
    templates, notes, the affected stacks, destructive list, head (with the impact counts)."""
    kept_whole = [*head, *stacks.whole(), *destructive.whole()]
    fixed = [*kept_whole, *notes.whole(), *origins.whole()]
    kept = _keep_details(fixed, details, compact, truncation, limit)
    if kept is not None:
        return kept
    tail = [truncation(0)]
    candidates = (
        (fixed, _Listing("#### Changed groups", compact, "changed group"), tail),
        ([*kept_whole, *notes.whole()], origins, tail),
        (kept_whole, notes, tail),
        (head, stacks, [*destructive.whole(), *tail]),
        (head, destructive, tail),
    )
    for prefix, listing, after in candidates:
        cut = _cut(prefix, listing, after, limit)
        if cut is not None:
            return cut
    # Only absurdly small limits get here: keep whole leading blocks, never part of one.
    for count in range(len(head), -1, -1):
        text = _join([*head[:count], truncation(0)])
        if len(text) <= limit:
            return text
    return ""


def _keep_details(
    fixed: list[str],
    details: Sequence[str],
    compact: Sequence[str],
    truncation: Callable[[int], str],
    limit: int,
) -> str | None:
    """The most leading groups in detail, the rest one line each; None if no detail fits."""
    title = "#### Other changed groups"
    base = sum(map(len, fixed))
    shown_len = sum(map(len, details[:-1]))
    rest_len = len(title) + sum(len(line) + 1 for line in compact[-1:])
    for shown in range(len(details) - 1, 0, -1):
        blocks = len(fixed) + shown + 2  # with the one-line list and the truncation line
        separators = len(SEPARATOR) * (blocks - 1) + 1  # the final newline too
        size = base + shown_len + rest_len + len(truncation(shown)) + separators
        if size <= limit:
            rest = _Listing(title, tuple(compact[shown:]), "changed group")
            return _join([*fixed, *details[:shown], rest.block(len(rest.items)), truncation(shown)])
        shown_len -= len(details[shown - 1])
        rest_len += len(compact[shown - 1]) + 1
    return None


def _cut(prefix: list[str], listing: _Listing, after: list[str], limit: int) -> str | None:
    """`prefix`, as much of `listing` as fits, then the `after` blocks; None if the listing
    cannot fit."""
    if not listing.items:
        return None
    budget = limit - len(_join([*prefix, *after])) - len(SEPARATOR)
    shown = listing.most_shown(budget)
    return None if shown is None else _join([*prefix, listing.block(shown), *after])


def _join(blocks: Sequence[str]) -> str:
    return SEPARATOR.join(blocks) + "\n" if blocks else ""


def _head(plan: Plan, kind: Kind) -> list[str]:
    blocks = [f"### pgsync {kind} for {code_span(plan.organization)}{files_read(plan)}"]
    if plan.has_changes:
        counts = plan.summary()
        blocks.append(
            "\n".join(
                (
                    "| " + " | ".join(ACTION_NAMES) + " | write requests |",
                    "|" + "---:|" * (len(ACTION_NAMES) + 1),
                    "| "
                    + " | ".join(str(counts[a]) for a in ACTION_NAMES)
                    + f" | {plan.write_count()} |",
                )
            )
        )
    else:
        blocks.append(f"✅ {summary_line(plan, kind)}")
    if plan.coverage is not None:
        blocks.append(f"**Coverage:** {plan.coverage.summary()}.")
    unmanaged = [g.name for g in plan.groups if g.action == "unmanaged"]
    if unmanaged:
        shown = ", ".join(code_span(name) for name in unmanaged[:UNMANAGED_SHOWN])
        if len(unmanaged) > UNMANAGED_SHOWN:
            shown += f", …and {len(unmanaged) - UNMANAGED_SHOWN} more"
        blocks.append(f"**Unmanaged** (live, not declared, left alone): {shown}")
    blocks += _safety(plan)
    blocks += _impact_counts(plan)
    return blocks


STACKS_SHOWN = 50
"""Affected stacks a comment lists at most (the JSON plan has every one)."""


def _impact_counts(plan: Plan) -> list[str]:
    """The effect on stacks in numbers; said only of a plan that changes something."""
    found = plan.impact
    if found is None or not plan.has_changes:
        return []
    caveats = [f"_{_md(caveat)}_" for caveat in impact_caveats(found)]
    if not found.stacks:
        return ["\n\n".join([f"**{IMPACT_TITLE}:** {_md(NO_IMPACT)}.", *caveats])]
    summary = found.summary()
    keys = ("stacksAffected", *(key for key, *_ in IMPACT_COUNTED))
    lines = [
        f"#### 🎯 {IMPACT_TITLE}",
        "| " + " | ".join(IMPACT_HEADINGS[k] for k in keys) + " |",
        "|" + "---:|" * len(keys),
        "| " + " | ".join(str(summary[k]) for k in keys) + " |",
    ]
    for caveat in caveats:
        lines += ["", caveat]
    return ["\n".join(lines)]


IMPACT_HEADINGS = {
    "stacksAffected": "stacks affected",
    "loseMandatory": "lose mandatory",
    "gainMandatory": "gain mandatory",
    "leavePreventative": "leave preventative",
    "joinPreventative": "join preventative",
    "auditChanged": "audit changed",
}


def _stack_listing(plan: Plan) -> _Listing:
    """The affected stacks, those losing mandatory enforcement first, in a `<details>`."""
    found = plan.impact
    ordered = by_concern(found) if found is not None and plan.has_changes else []
    losing = sum(1 for s in ordered if s.loses_mandatory)
    first = f" ({losing} losing mandatory enforcement first)" if losing else ""
    if losing and losing == len(ordered):
        first = ", all losing mandatory enforcement"
    items = tuple(
        f"- {_STACK_MARKS[effect_sign(s)]} {code_span(escape(str(s.stack)))}: "
        + "; ".join(code_span(part) for part in effects(s))
        for s in ordered[:STACKS_SHOWN]
    )
    return _Listing(
        f"<details><summary>{counted(len(ordered), 'affected stack')}{first}</summary>\n",
        items,
        "affected stack",
        unlisted=max(0, len(ordered) - STACKS_SHOWN),
        end="\n</details>",
    )


_STACK_MARKS = {"!": "🔻", "+": "🔺", "~": "🔁"}


SAFETY_SHOWN = 20


def _safety(plan: Plan) -> list[str]:
    """Blocked and acknowledged findings; at most SAFETY_SHOWN of each, then a count."""
    blocks = []
    for title, findings in (
        ("⛔ Blocked by safety rules", [f for f in plan.findings if f.blocked]),
        ("✅ Acknowledged (allowed)", [f for f in plan.findings if f.allowed]),
    ):
        if not findings:
            continue
        lines = [f"#### {title} ({len(findings)})"]
        lines += [
            f"- {code_span(f.id)} ({f.rule}): {_md(f.reason)}" for f in findings[:SAFETY_SHOWN]
        ]
        if len(findings) > SAFETY_SHOWN:
            lines.append(f"- …and {len(findings) - SAFETY_SHOWN} more")
        blocks.append("\n".join(lines))
    if any(f.blocked for f in plan.findings):
        blocks.append(f"_{_md(SAFETY_HELP)}._")
    return blocks


def _destructive(changed: Sequence[GroupPlan]) -> tuple[str, ...]:
    items: list[str] = []
    for group in changed:
        if group.action == "delete":
            items.append(f"- {code_span(group.name)}: delete the group")
        if group.action == "replace":
            renamed = group.live_name not in (None, group.name)
            was = f", renamed from {code_span(group.live_name or '')}" if renamed else ""
            items.append(
                f"- {code_span(group.name)}: replace the group{was} (new one filled first)"
            )
        for change in group.changes:
            if change.destructive:
                items.append(
                    f"- {code_span(group.name)}: remove {code_span(change_line(change)[1])}"
                )
    return tuple(items)


def _details(group: GroupPlan) -> str:
    summary = f"{SYMBOLS[group.action]} {_header(group, _html_code)}"
    lines = [f"<details><summary>{summary}</summary>", ""]
    for change in group.changes:
        if isinstance(change, Rename):
            continue  # the summary line says it
        symbol, text, detail = change_line(change)
        lines.append(f"- {code_span(f'{symbol} {text}')}")
        lines += [f"  - {code_span(d)}" for d in detail]
    lines += [f"- ℹ️ {_md(note)}" for note in group.notes]
    if len(lines) == 2:
        lines.append("The group is deleted." if group.action == "delete" else "No other changes.")
    return "\n".join([*lines, "", "</details>"])


def _header(group: GroupPlan, name: Callable[[str], str]) -> str:
    """Name, action and change counts of a group; names are formatted by `name`."""
    shape = ", ".join(s for s in (group.entity_type, group.mode) if s)
    renamed = f"renamed from {name(group.live_name or '')}"
    if group.action == "replace" and group.live_name not in (None, group.name):
        replaced = f"replaced, {renamed}, now {shape}"
    else:
        replaced = f"replaced, now {shape}"
    action = {
        "create": f"new, {shape}",
        "update": "updated",
        "rename": renamed,
        "replace": replaced,
        "delete": f"deleted, {shape}",
    }[group.action]
    counts = _counts(group)
    return f"{name(group.name)} ({action})" + (f" — {counts}" if counts else "")


def _counts(group: GroupPlan) -> str:
    """How many changes of each sign and noun, e.g. '+3 stacks ~agent pool'."""
    tally: dict[tuple[str, str, bool], int] = {}
    for change in group.changes:
        if isinstance(change, Rename | Reshape):
            continue  # the header says them
        key = (change.description.sign.replace("-", "−"), change.about, change.counted)
        tally[key] = tally.get(key, 0) + 1
    return " ".join(
        f"{sign}{n} {noun}{'s' if n > 1 else ''}" if by_count else f"{sign}{noun}"
        for (sign, noun, by_count), n in tally.items()
    )


def _one_line(text: str) -> str:
    return _LINE_BREAK.sub(" ", text)


def code_span(text: str) -> str:
    """`text` as a code span: literal, whatever it holds (backticks, |, <, @mentions)."""
    text = _one_line(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    # CommonMark strips one space from each end, so pad where that would eat text.
    padded = text[:1] in ("`", " ") or text[-1:] in ("`", " ")
    pad = " " if padded else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _html_code(text: str) -> str:
    """`text` in <code> inside an HTML block, where Markdown is not parsed."""
    return f"<code>{html.escape(_one_line(text))}</code>"


def _md(text: str) -> str:
    """`text` as Markdown prose, with its inline markup characters escaped."""
    return _MD_SPECIAL.sub(r"\\\1", _one_line(text))
