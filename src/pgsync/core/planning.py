"""The plan, made once: what the files ask of the live groups, judged by the safety rules.

Every command that plans (plan, apply, drift, import's round trip, validate --live) makes
its plan here, and so does the Python API. Pure: nothing is read or written, except
through `read_groups` when the caller gives it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence

from pgsync.core.diff import diff
from pgsync.core.impact import plan_effect
from pgsync.core.model import DesiredState, LiveGroup, LiveState
from pgsync.core.plan import GroupPlan, Plan, ordered_groups
from pgsync.core.safety import could_unprotect, evaluate

ReadGroups = Callable[[Sequence[str]], Mapping[str, LiveGroup]]
"""Reads live groups in full by name (absent ones are left out), e.g. PolicyGroupsApi.get_groups."""


def make_plan(
    desired: DesiredState,
    live: LiveState,
    *,
    own_temporaries: frozenset[str] = frozenset(),
    allow: Iterable[str] = (),
    read_groups: ReadGroups | None = None,
    safety: bool = True,
) -> Plan:
    """The plan that makes `live` match `desired`, with the safety rules' findings.

    Raises ValidationFailed with every plan-time problem (a group and its former name both
    live, an unknown stack, …).

    `own_temporaries`: the temporary groups that this checkout's journal shows it created
    (apply.journal.own_temporaries); of those alone, one whose group is no longer declared
    is rolled back. `allow`: finding ids acknowledged besides the files' `allow:` entries.
    `read_groups`: called with the groups that `live` knows by name only (LiveState.unread)
    when a change could leave a stack unprotected, since whether it is still protected
    depends on every group it is in; without it the rules judge by the groups read, and err
    towards blocking. The plan's impact (what each stack's enforcement becomes) is worked
    out from the same groups as the rules. `safety=False`: no findings and no impact (drift
    reports every difference alike).
    """
    groups = ordered_groups(desired.organization, diff(desired, live, own_temporaries))
    if not safety:
        return Plan(desired.organization, groups, desired.inputs, live.coverage)
    judged = _judged_against(live, groups, read_groups)
    effect = plan_effect(groups, judged)
    findings = evaluate(groups, judged, desired.safety, desired.allow | set(allow), effect)
    impact = effect.impact
    if impact.stacks and judged.unread:
        impact = dataclasses.replace(impact, groups_not_read=len(judged.unread))
    return Plan(desired.organization, groups, desired.inputs, live.coverage, findings, impact)


def needs_every_group(groups: Sequence[GroupPlan], live: LiveState) -> bool:
    """Whether the safety rules need the groups that `live` knows by name only."""
    return bool(live.unread) and could_unprotect(groups, live)


def _judged_against(
    live: LiveState, groups: Sequence[GroupPlan], read_groups: ReadGroups | None
) -> LiveState:
    """The live state the rules weigh `groups` against: `live`, completed where they need it.

    Only the rules see the groups read here: the plan itself is made from `live` as given.
    """
    if read_groups is None or not needs_every_group(groups, live):
        return live
    rest = read_groups(sorted(live.unread))
    return dataclasses.replace(live, groups={**live.groups, **rest}, unread=frozenset())
