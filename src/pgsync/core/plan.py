"""Pure planning: group verdicts → ordered groups → the exact HTTP requests apply will send."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pgsync.core import paths
from pgsync.core.changes import Change, Rename
from pgsync.core.diff import ACTION_NAMES, QUIET_ACTIONS, Action, GroupDiff
from pgsync.core.impact import Impact
from pgsync.core.masking import JsonPointer, mask_paths, mask_secret_keys
from pgsync.core.model import (
    ABSENT_FINGERPRINT,
    Coverage,
    DesiredGroup,
    EntityType,
    InputFile,
    LiveGroup,
    ManagedList,
    Mode,
    sha256_digest,
)
from pgsync.core.replace import temp_name

FORMAT_VERSION = 1
ACTIONS: tuple[Action, ...] = ("rename", *(a for a in ACTION_NAMES if a != "rename"))
"""The order apply runs groups in (contract §5): renames first, then as the summary counts."""
WRITE_METHODS = frozenset({"POST", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP call; `secret_paths` locate body values that are never shown."""

    method: str
    path: str
    body: Any = None
    secret_paths: frozenset[JsonPointer] = field(default=frozenset(), compare=False)

    def to_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"method": self.method, "path": self.path}
        if self.body is not None:
            shown["body"] = mask_paths(self.body, self.secret_paths)
        return shown


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """What apply does to one group; `live_name` is its name before any rename."""

    name: str
    action: Action
    entity_type: EntityType | None
    mode: Mode | None
    live_name: str | None
    changes: tuple[Change, ...] = ()
    requests: tuple[Request, ...] = ()
    desired: DesiredGroup | None = field(default=None, compare=False)
    notes: tuple[str, ...] = ()
    live: LiveGroup | None = field(default=None, compare=False)
    """The group as read when planning (under `live_name`): the safety rules, the digest."""
    via_parent: tuple[str, ...] = ()
    """Child accounts kept because their parent account is declared (see diff.via_parent)."""
    left_alone: tuple[tuple[ManagedList, tuple[str, ...]], ...] = ()
    """Live members of additive lists that the files do not name (see diff.left_alone)."""

    @property
    def is_change(self) -> bool:
        return self.action not in QUIET_ACTIONS

    @property
    def live_fingerprint(self) -> str:
        """The digest of the live group as planned (see `live_fingerprint`), worked out when
        asked: a text plan of 10,000 groups would spend 0.2 s on digests it never shows."""
        return live_fingerprint(self.live, self.desired)


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """What a safety rule says of one change; `blocked` unless allowed or within limits."""

    id: str
    rule: str
    reason: str
    blocked: bool = True
    allowed: bool = False
    """Over a limit, but acknowledged with --allow or an `allow:` entry."""


@dataclass(frozen=True, slots=True)
class Plan:
    organization: str
    groups: tuple[GroupPlan, ...]
    inputs: tuple[InputFile, ...] = ()
    coverage: Coverage | None = None
    """The org's policy coverage when the plan was made (None: not read)."""
    findings: tuple[Finding, ...] = ()
    """What the safety rules say (see safety.py); planning.make_plan judges as it plans."""
    impact: Impact | None = None
    """What the plan does to each stack's enforcement (contract §6.3); None: not worked
    out (planning.make_plan does, with the safety rules)."""

    @property
    def blocked(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.blocked)

    @property
    def changed(self) -> tuple[GroupPlan, ...]:
        return tuple(g for g in self.groups if g.is_change)

    @property
    def has_changes(self) -> bool:
        return bool(self.changed)

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(ACTION_NAMES, 0)
        for group in self.groups:
            counts[group.action] += 1
        return counts

    def write_count(self) -> int:
        return sum(1 for g in self.groups for r in g.requests if r.method in WRITE_METHODS)


def build_plan(
    organization: str,
    diffs: Iterable[GroupDiff],
    inputs: Iterable[InputFile] = (),
    coverage: Coverage | None = None,
) -> Plan:
    """The plan of `diffs`, not judged by the safety rules (planning.make_plan judges it)."""
    return Plan(organization, ordered_groups(organization, diffs), tuple(inputs), coverage)


def ordered_groups(organization: str, diffs: Iterable[GroupDiff]) -> tuple[GroupPlan, ...]:
    """The groups in the order apply runs them (renames, creates, updates, …), with requests."""
    groups = [group_plan(organization, d) for d in diffs]
    groups.sort(key=lambda g: (ACTIONS.index(g.action), g.name))
    return tuple(groups)


def group_plan(organization: str, verdict: GroupDiff) -> GroupPlan:
    live = verdict.live
    desired = verdict.desired
    entity_type: EntityType | None = None
    mode: Mode | None = None
    if verdict.action != "delete" and desired is not None:
        # What the group is (or will be): as written, else as it is live, else the default.
        entity_type = desired.entity_type or (live.entity_type if live else None)
        entity_type = entity_type or desired.resolved_entity_type
        mode = desired.mode or (live.mode if live else desired.resolved_mode)
    elif live is not None:
        entity_type, mode = live.entity_type, live.mode
    return GroupPlan(
        name=verdict.name,
        action=verdict.action,
        entity_type=entity_type,
        mode=mode,
        live_name=live.name if live else None,
        changes=verdict.changes,
        requests=requests_for(organization, verdict),
        desired=desired,
        notes=verdict.notes,
        live=live,
        via_parent=verdict.via_parent,
        left_alone=verdict.left_alone,
    )


def live_fingerprint(live: LiveGroup | None, desired: DesiredGroup | None) -> str:
    """A digest of everything pgsync manages in a live group, to detect changes since a plan.

    Config values that the desired state marks secret, or under secret-looking keys, are
    left out, so that the digest in a plan file cannot be used to guess them. Members of an
    additive list that it does not name are left out too: pgsync does not manage them, and
    teams attaching their own stacks between plan and apply must not make the plan stale.
    """
    if live is None:
        return ABSENT_FINGERPRINT
    secret = {p.name: p.secret_paths for p in (desired.packs or ())} if desired else {}
    shown = live.to_json()
    if desired is not None and desired.additive:
        _only_listed(shown, desired)
    for pack in shown["policyPacks"]:
        pack["config"] = mask_secret_keys(mask_paths(pack["config"], secret.get(pack["name"], ())))
    # Plain sorted JSON: live configs are normalised already when read (api.py).
    text = json.dumps(shown, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sha256_digest(text.encode())


def _only_listed(shown: dict[str, Any], desired: DesiredGroup) -> None:
    """`shown` (LiveGroup.to_json) without the members that additive lists leave alone."""
    if "stacks" in desired.additive and desired.stacks is not None:
        listed = {str(s) for s in desired.stacks}
        shown["stacks"] = [s for s in shown["stacks"] if s in listed]
    if "accounts" in desired.additive and desired.accounts is not None:
        shown["accounts"] = [a for a in shown["accounts"] if a in desired.accounts]
    if "policyPacks" in desired.additive and desired.packs is not None:
        names = {p.name for p in desired.packs}
        shown["policyPacks"] = [p for p in shown["policyPacks"] if p["name"] in names]


def requests_for(organization: str, verdict: GroupDiff) -> tuple[Request, ...]:
    """The minimal requests of contract §5 for one group's verdict."""
    if verdict.action == "delete":
        assert verdict.live is not None
        return (Request("DELETE", paths.group(organization, verdict.live.name)),)
    if verdict.action == "replace":
        return _replace_requests(organization, verdict)
    requests: list[Request] = []
    if verdict.action == "create":
        requests.append(_create_request(organization, verdict.name, verdict))
    for change in verdict.changes:
        if isinstance(change, Rename):
            # A separate plain PATCH: the batch's internal order is not specified (API spec
            # rule 4), and every later request addresses the group by its new name.
            requests.append(
                Request("PATCH", paths.group(organization, change.old), {"newName": change.new})
            )
    requests += _batch(organization, verdict.name, verdict.changes)
    return tuple(requests)


def _create_request(organization: str, name: str, verdict: GroupDiff) -> Request:
    assert verdict.desired is not None
    # Both labels, always: older servers require entityType, and mode decides membership.
    # Rules are not set here but in the batch, like every other setting (one place to verify).
    body: dict[str, Any] = {
        "name": name,
        "entityType": verdict.desired.resolved_entity_type,
        "mode": verdict.desired.resolved_mode,
    }
    if verdict.desired.agent_pool_id:
        body["agentPoolId"] = verdict.desired.agent_pool_id
    return Request("POST", paths.groups(organization), body)


def _batch(organization: str, name: str, changes: Iterable[Change]) -> list[Request]:
    """One batch PATCH with every change that is an Update object (none: no request)."""
    updates: list[dict[str, Any]] = []
    secrets: set[JsonPointer] = set()
    for change in changes:
        update = change.batch_update()
        if update is None:
            continue
        secrets.update((len(updates), *p) for p in update.secret_paths)
        updates.append(update.body)
    if not updates:
        return []
    path = paths.batch(organization, name)
    return [Request("PATCH", path, updates, frozenset(secrets))]


def _replace_requests(organization: str, verdict: GroupDiff) -> tuple[Request, ...]:
    """Create and fill the new group under a temporary name, then delete the old, rename.

    Every stack stays protected throughout: the old group goes only once the new one holds
    everything (apply verifies it in between).
    """
    assert verdict.live is not None
    temp = temp_name(verdict.name)
    requests = [] if verdict.temp is not None else [_create_request(organization, temp, verdict)]
    requests += _batch(organization, temp, verdict.changes)
    requests.append(Request("DELETE", paths.group(organization, verdict.live.name)))
    requests.append(Request("PATCH", paths.group(organization, temp), {"newName": verdict.name}))
    return tuple(requests)
