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

from pgsync.core.changes import (
    Change,
    RemoveAccountRule,
    RemoveStackRule,
    SetAccountRule,
    SetStackRule,
)
from pgsync.core.diff import QUIET_ACTIONS, GroupDiff
from pgsync.core.plan import GroupPlan

Origin = Literal["git", "live", "both"]


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


def classify(
    now: Iterable[GroupDiff | GroupPlan], base: Iterable[GroupDiff | GroupPlan]
) -> dict[str, GroupDrift]:
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
    """What a change is about: changes of one subject in the two plans are compared.

    A group has many stacks, accounts and packs, told apart by name; one of anything else.
    """
    return change.about, change.subject if change.many else ""


def _target(change: Change) -> object:
    """What a change makes of its subject; a rule's match counts are not part of it."""
    match change:
        case SetStackRule(before, after) | SetAccountRule(before, after):
            return change.kind, before, after
        case RemoveStackRule(before) | RemoveAccountRule(before):
            return change.kind, before
    return change


def _is_change(verdict: GroupDiff | GroupPlan) -> bool:
    return verdict.action not in QUIET_ACTIONS
