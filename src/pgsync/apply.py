"""Carry out a plan group by group, verify every write by reading back, report every outcome."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from pgsync.diff import Action, GroupDiff, group_changes
from pgsync.errors import AmbiguousWriteError, ApplyFailed, PgsyncError, WriteNotVerified
from pgsync.journal import Journal
from pgsync.model import LiveGroup, OrgCatalog
from pgsync.plan import GroupPlan, Plan, Request, live_fingerprint, requests_for
from pgsync.replace import needs_replace, temp_name
from pgsync.scrub import escape

Status = Literal["done", "skipped", "failed", "not attempted"]
Event = Callable[[str], None]
AMBIGUOUS_WRITE_ATTEMPTS = 3


class GroupsApi(Protocol):
    """The narrow slice of the API that apply needs."""

    organization: str

    def get_group(self, name: str) -> LiveGroup | None: ...

    def send(self, request: Request) -> None: ...


class ReplaceStopped(PgsyncError):
    """A replace left both groups in place: the old one changed while the new one was filled."""


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
        """One line per group: a line break in a live name or an error cannot start another."""
        lines = [
            f"  {o.status:<13} {o.action:<7} {escape(o.group)}"
            + (f": {escape(o.detail)}" if o.detail else "")
            for o in self.outcomes
        ]
        return "\n".join(lines)


def apply_plan(
    plan: Plan,
    api: GroupsApi,
    catalog: OrgCatalog,
    on_event: Event | None = None,
    journal: Journal | None = None,
) -> ApplyReport:
    """Apply in plan order, reporting every group; raise ApplyFailed unless all were done.

    A group that changed since the plan (re-read just before writing it) is skipped; the
    first failure stops the run.
    """
    runner = _Runner(plan.organization, api, catalog, on_event or (lambda _: None), journal)
    changed = list(plan.changed)
    if journal is not None:
        journal.record("start", organization=plan.organization, groups=[g.name for g in changed])
    outcomes: list[Outcome] = []
    for index, group in enumerate(changed):
        try:
            moved = runner.moved_since_plan(group)
            if moved:
                runner.note(group, "skipped", reason=moved)
                outcomes.append(Outcome(group.name, group.action, "skipped", moved))
                continue
            runner.run(group)
        except PgsyncError as error:
            detail = str(error)
            if runner.succeeded_in_group:
                detail += f" (after {runner.succeeded_in_group} successful request(s) for it)"
            runner.note(group, "failed", error=detail)
            outcomes.append(Outcome(group.name, group.action, "failed", detail))
            outcomes += [Outcome(g.name, g.action, "not attempted") for g in changed[index + 1 :]]
            break
        runner.note(group, "confirmed")
        outcomes.append(Outcome(group.name, group.action, "done"))
    report = ApplyReport(tuple(outcomes), runner.writes)
    if journal is not None:
        journal.record("end", ok=report.ok, writes=runner.writes)
    if not report.ok:
        raise ApplyFailed(
            f"apply did not complete ({runner.writes} write requests sent):\n"
            + report.render()
            + "\nre-run plan to see what is left; apply again to converge"
        )
    return report


class _Runner:
    def __init__(
        self,
        organization: str,
        api: GroupsApi,
        catalog: OrgCatalog,
        on_event: Event,
        journal: Journal | None,
    ) -> None:
        self.organization = organization
        self.api = api
        self.catalog = catalog
        self.on_event = on_event
        self.journal = journal
        self.writes = 0
        self.succeeded_in_group = 0

    def note(self, group: GroupPlan, event: str, **fields: str) -> None:
        if self.journal is not None:
            self.journal.record(event, group=group.name, action=group.action, **fields)

    def moved_since_plan(self, group: GroupPlan) -> str:
        """Why the group may not be written (it changed since the plan); "" when it may.

        The API has no locks or ETags: this re-read just before writing is the check.
        """
        now = self.api.get_group(group.live_name or group.name)
        if live_fingerprint(now, group.desired) == group.live_fingerprint:
            return ""
        if now is None:
            return "it no longer exists live, unlike when the plan was made"
        if group.live_name is None:
            return "it exists live now, unlike when the plan was made"
        return "it changed live since the plan was made"

    def run(self, group: GroupPlan) -> None:
        self.succeeded_in_group = 0
        if group.action == "replace":
            self._replace(group)
        else:
            self._send_converging(group)
        self._verify(group)
        self.on_event(f"  ✓ {group.action} {escape(group.name)}")

    def _send(self, group: GroupPlan, request: Request) -> None:
        self.note(group, "intended", method=request.method, path=request.path)
        self.writes += 1
        self.api.send(request)
        self.succeeded_in_group += 1
        self.note(group, "sent", method=request.method, path=request.path)

    def _send_converging(self, group: GroupPlan) -> None:
        requests = group.requests
        for attempt in range(1, AMBIGUOUS_WRITE_ATTEMPTS + 1):
            try:
                for request in requests:
                    self._send(group, request)
                return
            except AmbiguousWriteError as error:
                # Contract §5: a write is retried only once a re-read shows it did not take
                # effect; a batch may also have been applied in part (API spec rule 6).
                requests = self._remaining(group)
                self.on_event(
                    f"  ! {escape(group.name)}: {escape(str(error))}; "
                    f"{len(requests)} request(s) still needed"
                )
                if not requests:
                    return
                if attempt == AMBIGUOUS_WRITE_ATTEMPTS:
                    raise

    def _replace(self, group: GroupPlan) -> None:
        """Fill the temporary group and verify it before the old group is deleted."""
        cut = next(i for i, r in enumerate(group.requests) if r.method == "DELETE")
        for request in group.requests[:cut]:
            self._send(group, request)
        self._verify_temporary(group)
        self._check_old_unchanged(group)
        for request in group.requests[cut:]:
            self._send(group, request)

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

    def _check_old_unchanged(self, group: GroupPlan) -> None:
        """Stop the replace if the old group changed since the plan its copy was made from.

        Someone else's write to the old group while the new one was filled (an addStack, a
        pack) is not in the copy, and the DELETE would lose it. Stopping leaves both groups:
        the next plan copies the old group as it is then and shows the change.
        """
        now = self.api.get_group(group.live_name or group.name)
        if live_fingerprint(now, group.desired) == group.live_fingerprint:
            return
        state = "was deleted" if now is None else "changed live"
        raise ReplaceStopped(
            f"the old group '{escape(group.live_name or group.name)}' {state} while its"
            " replacement was being filled, so the replacement may lack that change: the old"
            f" group was not deleted and the new one was kept as '{escape(temp_name(group.name))}';"
            " re-run plan to see the change and apply to finish the replace with it"
        )

    def _verify_temporary(self, group: GroupPlan) -> None:
        assert group.desired is not None
        temp = self.api.get_group(temp_name(group.name))
        if temp is None:
            raise WriteNotVerified(f"the new group for '{escape(group.name)}' was not created")
        missing = [
            c for c in group_changes(group.desired, temp, self.catalog) if c.kind != "rename"
        ]
        if missing:
            raise WriteNotVerified(
                f"the new group for '{escape(group.name)}' lacks {len(missing)} change(s) "
                "(the old group was left in place)"
            )

    def _verify(self, group: GroupPlan) -> None:
        if group.action == "delete":
            if self.api.get_group(group.live_name or group.name) is not None:
                raise WriteNotVerified(
                    f"group '{escape(group.name)}' still exists after DELETE answered success"
                )
            return
        assert group.desired is not None
        live = self.api.get_group(group.name)
        if live is None:
            raise WriteNotVerified(
                f"group '{escape(group.name)}' does not exist after the API answered success"
            )
        if needs_replace(group.desired, live):
            want = group.desired.entity_type or live.entity_type
            raise WriteNotVerified(
                f"group '{escape(group.name)}' is {live.entity_type}/{live.mode} after the write, "
                f"not {want}/{group.desired.resolved_mode}"
            )
        missing = group_changes(group.desired, live, self.catalog)
        if missing:
            listed = ", ".join(f"{c.kind} {escape(c.subject)}" for c in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise WriteNotVerified(
                f"group '{escape(group.name)}': the API answered success but the read-back still "
                f"needs {len(missing)} change(s): {listed}{more}"
            )
