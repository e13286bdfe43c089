"""How the coverage reports write levels, changes and times (shared by HTML and Markdown).

A matrix cell is a pack's level on a stack, live and with the files. Letters, not colours,
carry the level (M mandatory, R remediate, A advisory, D disabled, ? no level set); a change
reads `live→desired`, with a dash where the pack does not reach the stack.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from pgsync.core.coverage import GroupCard, GroupSide, Side, StackRow, default_only, unprotected
from pgsync.core.impact import Level, PackEnforcement

LETTERS: dict[Level, str] = {
    "mandatory": "M",
    "remediate": "R",
    "advisory": "A",
    "disabled": "D",
    None: "?",
}
ABSENT = "–"
ARROW = "→"
SIDE_TITLES: dict[Side, str] = {"live": "Live", "desired": "With the files"}
LEGEND: tuple[tuple[str, str], ...] = (
    ("M", "mandatory"),
    ("R", "remediate"),
    ("A", "advisory"),
    ("D", "disabled"),
    ("?", "no level set: each policy's own default applies"),
    ("*", "some policies have levels of their own"),
    (ABSENT, "the pack does not reach the stack"),
    (f"A{ARROW}M", "live level → level with the files"),
)
COUNT_LABELS: tuple[tuple[str, str], ...] = (
    ("stacks", "All known"),
    ("preventative", "In a preventative group of their own"),
    ("defaultOnly", "Only the default group"),
    ("noPreventative", "No preventative policy"),
    ("mandatory", "At least one mandatory pack"),
    ("audited", "Audited"),
)
"""The rows of the counts table, by the key of Counts.to_json."""


def mark(pack: PackEnforcement | None, *, version: bool) -> str:
    """One side of a cell: the level letter, after the version when `version`."""
    if pack is None:
        return ABSENT
    letter = LETTERS.get(pack.level, "?") + ("*" if pack.policies else "")
    return f"{pack.version_tag} {letter}" if version else letter


def cell(live: PackEnforcement | None, desired: PackEnforcement | None, *, version: bool) -> str:
    """The cell: empty when the pack reaches the stack on neither side, one mark when it is
    enforced alike on both, else `live→desired` (per-policy levels that change show as
    `M*→M*`)."""
    if live is None and desired is None:
        return ""
    after = mark(desired, version=version)
    if _enforced(live) == _enforced(desired):
        return after
    return f"{mark(live, version=version)}{ARROW}{after}"


def _enforced(pack: PackEnforcement | None) -> tuple[object, ...] | None:
    """What a cell tells of a pack (not the groups it comes through)."""
    return None if pack is None else (pack.version_tag, pack.level, pack.policies)


def group_packs(card: GroupCard) -> list[tuple[str, str]]:
    """A group's own packs by name, each with its cell (version always shown)."""
    before = {p.name: p for p in card.live.packs} if card.live else {}
    after = {p.name: p for p in card.desired.packs} if card.desired else {}
    return [
        (name, cell(before.get(name), after.get(name), version=True))
        for name in sorted(before.keys() | after.keys())
    ]


def group_count(card: GroupCard, count: Callable[[GroupSide], int]) -> str:
    """A group's count live and with the files: `2`, or `2→3`; a dash where it does not exist."""
    before, after = (
        ABSENT if found is None else str(count(found)) for found in (card.live, card.desired)
    )
    return after if before == after else f"{before}{ARROW}{after}"


def group_rule(card: GroupCard, shown: Callable[[str], str]) -> str | None:
    """A group's stack rule, live and with the files, each description `shown` (as text or
    as code); None when it has none on either side."""
    before, after = (side.stack_rule if side else None for side in (card.live, card.desired))
    if before is None and after is None:
        return None
    if before == after:
        return shown(after or "")
    return " ".join((shown(before) if before else ABSENT, ARROW, shown(after) if after else ABSENT))


def status(row: StackRow) -> str:
    """What the matrix's last column says of a stack, with the files."""
    words = ["changes"] if row.changed else []
    if default_only(row.desired):
        words.append("default only")
    if unprotected(row.desired):
        words.append("no preventative policy")
    return ", ".join(words)


def generated_text(moment: datetime.datetime) -> str:
    """When a report was made, as people read it: `2026-12-02 13:50 UTC`."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
