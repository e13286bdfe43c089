"""Carry out a plan, independent groups concurrently; verify every write; report every outcome.

What happens is told to an observer as event values (apply/events.py), never as text.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from itertools import groupby
from typing import Protocol

from pgsync.apply.events import (
    AmbiguousWrite,
    ApplyEvent,
    ApplyFinished,
    ApplyObserver,
    ApplyReport,
    GroupConfirmed,
    GroupFailed,
    GroupSkipped,
    GroupStarted,
    Outcome,
)
from pgsync.apply.journal import Journal
from pgsync.core.diff import Action, GroupDiff, group_changes
from pgsync.core.errors import AmbiguousWriteError, ApplyFailed, PgsyncError, WriteNotVerified
from pgsync.core.escaping import escape
from pgsync.core.model import LiveGroup, OrgCatalog
from pgsync.core.plan import GroupPlan, Plan, Request, live_fingerprint, requests_for
from pgsync.core.replace import needs_replace, temp_name
from pgsync.core.wording import counted

AMBIGUOUS_WRITE_ATTEMPTS = 3


class GroupsApi(Protocol):
    """The narrow slice of the API that apply needs."""

    organization: str

    def get_group(self, name: str) -> LiveGroup | None: ...

    def send(self, request: Request) -> None: ...


class ReplaceStopped(PgsyncError):
    """A replace left both groups in place: the old one changed while the new one was filled."""


def apply_plan(
    plan: Plan,
    api: GroupsApi,
    catalog: OrgCatalog,
    *,
    observer: ApplyObserver | None = None,
    journal: Journal | None = None,
    parallelism: int = 1,
) -> ApplyReport:
    """Apply in plan order, `parallelism` groups at a time; raise ApplyFailed unless all were done.

    The groups of one action are written concurrently, and the next action starts once all of
    them are finished. A group that changed since the plan (re-read just before writing it) is
    skipped. After the first failure no further group is started; those already started
    finish and are reported as they ended. `observer` receives every event (events.py).
    """
    changed = plan.changed
    if journal is not None:
        journal.record("start", organization=plan.organization, groups=[g.name for g in changed])
    events = _InPlanOrder(observer or _ignore, len(changed))
    runner = _Runner(plan.organization, api, catalog, events=events, journal=journal)
    try:
        for phase in _phases(changed):
            runner.run_phase(phase, parallelism)
            if runner.halted.is_set():
                break
    finally:
        events.flush()
    outcomes = tuple(
        found or Outcome(group.name, group.action, "not attempted")
        for group, found in zip(changed, runner.outcomes, strict=True)
    )
    report = ApplyReport(outcomes, runner.writes)
    if journal is not None:
        journal.record("end", ok=report.ok, writes=runner.writes)
    events.observer(ApplyFinished(report))
    if not report.ok:
        raise _failed(report)
    return report


def _ignore(event: ApplyEvent) -> None:
    """The observer of a caller who gave none."""


def _failed(report: ApplyReport) -> ApplyFailed:
    """What was and was not applied, one line per group: a line break in a live name or an
    error cannot start another."""
    lines = [
        f"  {o.status:<13} {o.action:<7} {escape(o.group)}"
        + (f": {escape(o.detail)}" if o.detail else "")
        for o in report.outcomes
    ]
    return ApplyFailed(
        f"apply did not complete ({counted(report.writes, 'write request')} sent):\n"
        + "\n".join(lines)
        + "\nre-run plan to see what is left; apply again to converge"
    )


def _phases(changed: Sequence[GroupPlan]) -> list[list[tuple[int, GroupPlan]]]:
    """The plan's groups, numbered, in runs of one action: renames, creates, updates, …

    Phases rather than a finer graph of groups: the names that groups write to never meet
    (diff refuses duplicate and case-twin names, and gives a temporary group to its group
    alone), but the contract's order also keeps every stack protected: one that moves out
    of a group that is emptied or deleted is in its new group first. That dependency lies
    between members, not names, so only the action barrier keeps it.
    """
    numbered = groupby(enumerate(changed), key=lambda item: item[1].action)
    return [list(run) for _, run in numbered]


class _InPlanOrder:
    """Events in plan order with each group's events together, whatever finishes first.

    The first unfinished group's events are passed on as they come; a later group's are held
    until every group before it has finished, so what the observer sees does not depend on
    thread timing. The observer is called under a lock: one event at a time.
    """

    def __init__(self, observer: ApplyObserver, count: int) -> None:
        self.observer = observer
        self.count = count
        self._held: list[list[ApplyEvent]] = [[] for _ in range(count)]
        self._finished = [False] * count
        self._head = 0
        self._lock = threading.Lock()

    def event(self, index: int, event: ApplyEvent) -> None:
        with self._lock:
            if index == self._head:
                self.observer(event)
            else:
                self._held[index].append(event)

    def finish(self, index: int) -> None:
        with self._lock:
            self._finished[index] = True
            while self._head < self.count and self._finished[self._head]:
                self._head += 1
                if self._head < self.count:
                    self._show(self._head)

    def flush(self) -> None:
        """Everything still held, in order (groups not attempted have no events)."""
        with self._lock:
            for index in range(self._head, self.count):
                self._show(index)
            self._head = self.count

    def _show(self, index: int) -> None:
        for event in self._held[index]:
            self.observer(event)
        self._held[index] = []


class _Runner:
    """What the groups of one apply share: the API, the journal, the outcomes, the stop."""

    def __init__(
        self,
        organization: str,
        api: GroupsApi,
        catalog: OrgCatalog,
        *,
        events: _InPlanOrder,
        journal: Journal | None,
    ) -> None:
        self.organization = organization
        self.api = api
        self.catalog = catalog
        self.events = events
        self.journal = journal
        self.outcomes: list[Outcome | None] = [None] * events.count
        self.writes = 0
        self.halted = threading.Event()
        """Set at the first failure: no group starts after it."""
        self._lock = threading.Lock()

    def note(self, group: GroupPlan, event: str, **fields: str) -> None:
        if self.journal is not None:
            self.journal.record(event, group=group.name, action=group.action, **fields)

    def run_phase(self, phase: list[tuple[int, GroupPlan]], parallelism: int) -> None:
        """Every group of one phase, at most `parallelism` at a time, until the first failure."""
        pending = deque(phase)
        workers = min(max(1, parallelism), len(phase))
        if workers == 1:
            self._work(pending)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="pgsync-apply") as pool:
            futures = [pool.submit(self._work, pending) for _ in range(workers)]
            try:
                wait(futures)
            except BaseException:
                # Interrupted: the groups in flight finish (leaving the pool waits for
                # them), and no other one starts.
                self.halted.set()
                raise
        for future in futures:
            future.result()

    def _work(self, pending: deque[tuple[int, GroupPlan]]) -> None:
        while True:
            with self._lock:
                if self.halted.is_set() or not pending:
                    return
                index, group = pending.popleft()
            writer = _GroupWriter(self, index, group)
            try:
                self.outcomes[index] = writer.apply()
            except BaseException:
                self.halted.set()
                raise
            finally:
                with self._lock:
                    self.writes += writer.writes
                self.events.finish(index)


class _GroupWriter:
    """The writes, checks and read-backs of one group."""

    def __init__(self, runner: _Runner, index: int, group: GroupPlan) -> None:
        self.runner = runner
        self.api = runner.api
        self.index = index
        self.group = group
        self.writes = 0
        self.succeeded = 0

    def event(self, event: ApplyEvent) -> None:
        self.runner.events.event(self.index, event)

    def note(self, event: str, **fields: str) -> None:
        self.runner.note(self.group, event, **fields)

    def apply(self) -> Outcome:
        """Write the group and verify it; the outcome, whichever way it ends."""
        group = self.group
        self.event(GroupStarted(group))
        try:
            moved = self.moved_since_plan()
            if moved:
                self.note("skipped", reason=moved)
                self.event(GroupSkipped(group, moved))
                return Outcome(group.name, group.action, "skipped", moved)
            if group.action == "replace":
                self._replace()
            else:
                self._send_converging()
            self._verify()
        except PgsyncError as error:
            # First, so that no group starts once a failure is known.
            self.runner.halted.set()
            detail = str(error)
            if self.succeeded:
                detail += f" (after {counted(self.succeeded, 'successful request')} for it)"
            self.note("failed", error=detail)
            self.event(GroupFailed(group, detail))
            return Outcome(group.name, group.action, "failed", detail)
        self.event(GroupConfirmed(group))
        self.note("confirmed")
        return Outcome(group.name, group.action, "done")

    def moved_since_plan(self) -> str:
        """Why the group may not be written (it changed since the plan); "" when it may.

        The API has no locks or ETags: this re-read just before writing is the check.
        """
        group = self.group
        now = self.api.get_group(group.live_name or group.name)
        if live_fingerprint(now, group.desired) == group.live_fingerprint:
            return ""
        if now is None:
            return "it no longer exists live, unlike when the plan was made"
        if group.live_name is None:
            return "it exists live now, unlike when the plan was made"
        return "it changed live since the plan was made"

    def _send(self, request: Request) -> None:
        self.note("intended", method=request.method, path=request.path)
        self.writes += 1
        self.api.send(request)
        self.succeeded += 1
        self.note("sent", method=request.method, path=request.path)

    def _send_converging(self) -> None:
        group = self.group
        requests = group.requests
        for attempt in range(1, AMBIGUOUS_WRITE_ATTEMPTS + 1):
            try:
                for request in requests:
                    self._send(request)
                return
            except AmbiguousWriteError as error:
                # Contract §5: a write is retried only once a re-read shows it did not take
                # effect; a batch may also have been applied in part (API spec rule 6).
                requests = self._remaining()
                self.event(AmbiguousWrite(group, str(error), len(requests)))
                if not requests:
                    return
                if attempt == AMBIGUOUS_WRITE_ATTEMPTS:
                    raise

    def _replace(self) -> None:
        """Fill the temporary group and verify it before the old group is deleted."""
        requests = self.group.requests
        cut = next(i for i, r in enumerate(requests) if r.method == "DELETE")
        for request in requests[:cut]:
            self._send(request)
        self._verify_temporary()
        self._check_old_unchanged()
        for request in requests[cut:]:
            self._send(request)

    def _read(self) -> LiveGroup | None:
        group = self.group
        found = self.api.get_group(group.name)
        if found is None and group.live_name and group.live_name != group.name:
            found = self.api.get_group(group.live_name)
        return found

    def _remaining(self) -> tuple[Request, ...]:
        group = self.group
        live = self._read()
        if group.action == "delete":
            return group.requests if live is not None else ()
        assert group.desired is not None
        changes = group_changes(group.desired, live, self.runner.catalog)
        action: Action = "create" if live is None else "update"
        return requests_for(
            self.runner.organization, GroupDiff(group.name, action, changes, group.desired, live)
        )

    def _check_old_unchanged(self) -> None:
        """Stop the replace if the old group changed since the plan its copy was made from.

        Someone else's write to the old group while the new one was filled (an addStack, a
        pack) is not in the copy, and the DELETE would lose it. Stopping leaves both groups:
        the next plan copies the old group as it is then and shows the change.
        """
        group = self.group
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

    def _verify_temporary(self) -> None:
        group = self.group
        assert group.desired is not None
        temp = self.api.get_group(temp_name(group.name))
        if temp is None:
            raise WriteNotVerified(f"the new group for '{escape(group.name)}' was not created")
        missing = [
            c for c in group_changes(group.desired, temp, self.runner.catalog) if c.kind != "rename"
        ]
        if missing:
            raise WriteNotVerified(
                f"the new group for '{escape(group.name)}' lacks {counted(len(missing), 'change')} "
                "(the old group was left in place)"
            )

    def _verify(self) -> None:
        group = self.group
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
        missing = group_changes(group.desired, live, self.runner.catalog)
        if missing:
            listed = ", ".join(f"{c.kind} {escape(c.subject)}" for c in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise WriteNotVerified(
                f"group '{escape(group.name)}': the API answered success but the read-back still "
                f"needs {counted(len(missing), 'change')}: {listed}{more}"
            )
