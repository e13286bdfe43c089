"""Three-way drift: is each difference a change in Git not yet applied, a live change, or both?

Each difference (a change of one stack, account, pack, rule, agent pool, name or shape of a
group, or the group's creation or deletion) is compared with the plan of the base commit's
files against the same live state. The base plan holds the same difference where live moved
away from the base; the difference is Git's where the base plan has none for that subject,
and both's where the base plan changes the same subject otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from pgsync.changes import (
    SUBJECTS,
    Change,
    RemoveAccountRule,
    RemoveStackRule,
    SetAccountRule,
    SetStackRule,
)
from pgsync.diff import GroupDiff
from pgsync.display import display_plan
from pgsync.markdown import code_span
from pgsync.plan import Plan
from pgsync.render import change_line
from pgsync.scrub import escape

Origin = Literal["git", "live", "both"]

DESCRIPTIONS: dict[Origin, str] = {
    "git": "change in Git not yet applied",
    "live": "changed live outside Git",
    "both": "changed in Git and live",
}

# The subject a change is about: changes of one subject in the two plans are compared.
_FAMILIES = {**SUBJECTS, "setAgentPool": "agent pool", "rename": "name", "replace": "shape"}
_NAMED = frozenset({"stack", "account", "pack"})
"""Families with many subjects per group; the others have one (a group has one rule, …)."""


@dataclass(frozen=True, slots=True)
class GroupDrift:
    """Where the differences of one changed group come from."""

    action: Origin | None
    """Of the group's creation or deletion itself (None: the group is neither)."""
    changes: tuple[Origin, ...]
    """Of each change, in the plan's order."""

    @property
    def origin(self) -> Origin:
        """The one origin of all its differences, else both."""
        origins = set(self.changes) | ({self.action} if self.action else set())
        return origins.pop() if len(origins) == 1 else "both"


def classify(now: Iterable[GroupDiff], base: Iterable[GroupDiff]) -> dict[str, GroupDrift]:
    """The origin of every difference of every group that needs a change now.

    `base` is the diff of the base commit's desired state against the same live state.
    """
    base = tuple(base)
    by_live = {d.live.name: d for d in base if d.live is not None and _is_change(d)}
    created = {d.name: d for d in base if d.live is None and _is_change(d)}
    drifts: dict[str, GroupDrift] = {}
    for verdict in now:
        if not _is_change(verdict):
            continue
        if verdict.live is not None:
            before = by_live.get(verdict.live.name)
        else:
            # Not live: the base plan creates it too, maybe under a name it had in Git.
            former = verdict.desired.previously if verdict.desired else ()
            before = next((created[n] for n in (verdict.name, *former) if n in created), None)
        planned = {_subject(c): _target(c) for c in before.changes} if before else {}
        action: Origin | None = None
        if verdict.action in ("create", "delete"):
            action = "live" if before is not None and before.action == verdict.action else "git"
        drifts[verdict.name] = GroupDrift(
            action, tuple(_origin(planned, change) for change in verdict.changes)
        )
    return drifts


def _origin(planned: Mapping[tuple[str, str], object], change: Change) -> Origin:
    subject = _subject(change)
    if subject not in planned:
        return "git"
    return "live" if planned[subject] == _target(change) else "both"


def _subject(change: Change) -> tuple[str, str]:
    family = _FAMILIES[change.kind]
    return family, change.subject if family in _NAMED else ""


def _target(change: Change) -> object:
    """What a change makes of its subject; a rule's match counts are not part of it."""
    match change:
        case SetStackRule(before, after) | SetAccountRule(before, after):
            return change.kind, before, after
        case RemoveStackRule(before) | RemoveAccountRule(before):
            return change.kind, before
    return change


def _is_change(verdict: GroupDiff) -> bool:
    return verdict.action not in ("unchanged", "unmanaged")


def render_drift(
    drifts: Mapping[str, GroupDrift], plan: Plan, ref: str, *, markdown: bool = False
) -> str:
    """The origins as a section to follow the plan (text or Markdown), groups in plan order.

    A group whose differences share one origin is one line; the differences of any other
    group are listed each with its own. Names and texts are shown escaped, live ones too.
    """
    shown = [
        (group, drifts[raw.name])
        for raw, group in zip(plan.groups, display_plan(plan).groups, strict=True)
        if raw.name in drifts
    ]
    if not shown:
        return ""
    ref = escape(ref)
    lines = [f"#### Drift against {code_span(ref)}", ""] if markdown else [f"Drift against {ref}:"]
    for group, drift in shown:
        name = code_span(group.name) if markdown else group.name
        mixed = len({drift.action, *drift.changes} - {None}) > 1
        described = DESCRIPTIONS[drift.origin] + (":" if mixed else "")
        lines.append(f"- {name}: {described}" if markdown else f"  {name}: {described}")
        if not mixed:
            continue
        differences: list[tuple[str, Origin]] = []
        if drift.action is not None:
            action = "+ create the group" if group.action == "create" else "- delete the group"
            differences.append((action, drift.action))
        for change, origin in zip(group.changes, drift.changes, strict=True):
            symbol, text, _ = change_line(change)
            differences.append((f"{symbol} {text}", origin))
        for text, origin in differences:
            if markdown:
                lines.append(f"  - {code_span(text)}: {DESCRIPTIONS[origin]}")
            else:
                lines.append(f"      {text}: {DESCRIPTIONS[origin]}")
    return "\n" + "\n".join(lines) + "\n"
