"""Carry out a plan group by group, verify every write by reading back, report every outcome."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from pgsync.diff import Action, GroupDiff, group_changes
from pgsync.errors import AmbiguousWriteError, ApplyFailed, PgsyncError, WriteNotVerified
from pgsync.model import LiveGroup, OrgCatalog
from pgsync.plan import GroupPlan, Plan, Request, requests_for

Status = Literal["done", "failed", "not attempted"]
Event = Callable[[str], None]
AMBIGUOUS_WRITE_ATTEMPTS = 3


class GroupsApi(Protocol):
    """The narrow slice of the API that apply needs."""

    organization: str

    def get_group(self, name: str) -> LiveGroup | None: ...

    def send(self, request: Request) -> None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    group: str
    action: Action
    status: Status
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ApplyReport:
    outcomes: tuple[Outcome, ...]
    writes: int

    @property
    def ok(self) -> bool:
        return all(o.status == "done" for o in self.outcomes)

    def render(self) -> str:
        lines = [
            f"  {o.status:<13} {o.action:<7} {o.group}" + (f": {o.detail}" if o.detail else "")
            for o in self.outcomes
        ]
        return "\n".join(lines)


def apply_plan(
    plan: Plan, api: GroupsApi, catalog: OrgCatalog, on_event: Event | None = None
) -> ApplyReport:
    """Apply in plan order; on the first failure stop and raise ApplyFailed with the report."""
    runner = _Runner(plan.organization, api, catalog, on_event or (lambda _: None))
    outcomes: list[Outcome] = []
    pending = list(plan.changed)
    while pending:
        group = pending.pop(0)
        try:
            runner.run(group)
        except PgsyncError as error:
            detail = str(error)
            if runner.succeeded_in_group:
                detail += f" (after {runner.succeeded_in_group} successful request(s) for it)"
            outcomes.append(Outcome(group.name, group.action, "failed", detail))
            outcomes += [Outcome(g.name, g.action, "not attempted") for g in pending]
            report = ApplyReport(tuple(outcomes), runner.writes)
            raise ApplyFailed(
                f"apply stopped at group '{group.name}' ({runner.writes} write requests sent):\n"
                + report.render()
                + "\nre-run plan to see what is left; apply again to converge"
            ) from None
        outcomes.append(Outcome(group.name, group.action, "done"))
    return ApplyReport(tuple(outcomes), runner.writes)


class _Runner:
    def __init__(self, organization: str, api: GroupsApi, catalog: OrgCatalog, on_event: Event):
        self.organization = organization
        self.api = api
        self.catalog = catalog
        self.on_event = on_event
        self.writes = 0
        self.succeeded_in_group = 0

    def run(self, group: GroupPlan) -> None:
        self.succeeded_in_group = 0
        requests = group.requests
        for attempt in range(1, AMBIGUOUS_WRITE_ATTEMPTS + 1):
            try:
                for request in requests:
                    self.writes += 1
                    self.api.send(request)
                    self.succeeded_in_group += 1
                break
            except AmbiguousWriteError as error:
                # Contract §5: a write is retried only once a re-read shows it did not take
                # effect; a batch may also have been applied in part (API spec rule 6).
                requests = self._remaining(group)
                self.on_event(f"  ! {group.name}: {error}; {len(requests)} request(s) still needed")
                if not requests:
                    break
                if attempt == AMBIGUOUS_WRITE_ATTEMPTS:
                    raise
        self._verify(group)
        self.on_event(f"  ✓ {group.action} {group.name}")

    def _read(self, group: GroupPlan) -> LiveGroup | None:
        found = self.api.get_group(group.name)
        if found is None and group.live_name and group.live_name != group.name:
            found = self.api.get_group(group.live_name)
        return found

    def _remaining(self, group: GroupPlan) -> tuple[Request, ...]:
        live = self._read(group)
        if group.action == "delete":
            return group.requests if live is not None else ()
        assert group.desired is not None
        changes = group_changes(group.desired, live, self.catalog)
        action: Action = "create" if live is None else "update"
        return requests_for(
            self.organization, GroupDiff(group.name, action, changes, group.desired, live)
        )

    def _verify(self, group: GroupPlan) -> None:
        if group.action == "delete":
            if self.api.get_group(group.live_name or group.name) is not None:
                raise WriteNotVerified(
                    f"group '{group.name}' still exists after DELETE answered success"
                )
            return
        assert group.desired is not None
        live = self.api.get_group(group.name)
        if live is None:
            raise WriteNotVerified(
                f"group '{group.name}' does not exist after the API answered success"
            )
        want = (group.desired.entity_type, group.desired.mode)
        if (live.entity_type, live.mode) != want:
            raise WriteNotVerified(
                f"group '{group.name}' is {live.entity_type}/{live.mode} after the write, "
                f"not {want[0]}/{want[1]}"
            )
        missing = group_changes(group.desired, live, self.catalog)
        if missing:
            listed = ", ".join(f"{c.kind} {c.subject}" for c in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise WriteNotVerified(
                f"group '{group.name}': the API answered success but the read-back still "
                f"needs {len(missing)} change(s): {listed}{more}"
            )
