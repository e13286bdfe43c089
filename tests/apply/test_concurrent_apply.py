"""Apply writes the groups of one step concurrently, --parallelism at a time (contract §5).

Concurrency is shown without clocks: the API seam below holds groups at a barrier until
enough of them are in flight at once, and counts how many are. Everything else is read from
the emulator's request log and state, and from the journal.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from click.testing import CliRunner, Result

from builders import desired_group, stacks
from conftest import org_spec
from pgsync.apply.events import ApplyEvent, ApplyFinished, GroupFailed
from pgsync.apply.journal import Journal, last_run_report, read_events
from pgsync.apply.runner import apply_plan
from pgsync.cli.main import cli
from pgsync.core.changes import Rename
from pgsync.core.diff import GroupDiff, diff, group_changes
from pgsync.core.errors import ApplyFailed
from pgsync.core.model import LiveGroup, OrgCatalog
from pgsync.core.plan import ACTIONS, Plan, Request, build_plan
from pgsync.core.replace import temp_name
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.load.desired import load_desired
from pgsync.remote.api import PolicyGroupsApi
from pgsync.remote.client import Client

GROUPS = "/api/orgs/acme/policygroups"
BARRIER_TIMEOUT = 30.0
"""Only reached when apply does not run the groups it should at once: the test then fails."""


def group_of(request_path: str, body: Any = None) -> str:
    """The group a request addresses: the path's group segment, or a POST body's name."""
    rest = request_path.removeprefix(GROUPS).strip("/")
    if not rest:
        return str(body["name"])
    return unquote(rest.split("/")[0])


class InFlight:
    """The API seam of apply, counting the groups in flight at once.

    A group is in flight from its first read (the re-read before writing) until its
    read-back after a write returns. The first `together` groups wait at their first read
    until all of them have arrived, so they are surely in flight together; `hold` may keep
    one group's first read waiting until it says so.
    """

    def __init__(
        self,
        api: PolicyGroupsApi,
        together: int = 1,
        hold: dict[str, Callable[[], object]] | None = None,
    ) -> None:
        self.api = api
        self.organization = api.organization
        self.together = together
        self.barrier = threading.Barrier(together, timeout=BARRIER_TIMEOUT)
        self.hold = hold or {}
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.started: list[str] = []
        self.written: set[str] = set()
        self.finished: list[str] = []
        self.most = 0

    def get_group(self, name: str) -> LiveGroup | None:
        with self.lock:
            first = name not in self.started
            if first:
                self.started.append(name)
                self.most = max(self.most, len(self.started) - len(self.finished))
            meet = first and len(self.started) <= self.together
        if meet:
            self.barrier.wait()
        if first and name in self.hold:
            self.hold[name]()
        found = self.api.get_group(name)
        with self.lock:
            if name in self.written and name not in self.finished:
                self.finished.append(name)
                self.changed.notify_all()
        return found

    def wait_until_finished(self, names: set[str]) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: names <= set(self.finished), BARRIER_TIMEOUT)

    def send(self, request: Request) -> None:
        self.api.send(request)
        with self.lock:
            self.written.add(group_of(request.path, request.body))


def write(directory: Path, groups: list[dict[str, Any]], **top: Any) -> Path:
    path = directory / "groups.yaml"
    path.write_text(json.dumps({"organization": "acme", **top, "policyGroups": groups}))
    return path


def planned(client: Client, path: Path) -> tuple[Plan, PolicyGroupsApi, OrgCatalog]:
    api = PolicyGroupsApi(client, "acme")
    desired = load_desired([path])
    live = api.read_live_state(desired)
    return build_plan("acme", diff(desired, live)), api, live.catalog


@contextmanager
def emulated(
    live: list[dict[str, Any]], parallelism: int
) -> Iterator[tuple[EmulatorServer, Client]]:
    """The emulator holding `live`, and a client on it with `parallelism` connections."""
    with (
        EmulatorServer(fixture_from_dict(org_spec(live))) as server,
        Client(server.url, None, parallelism=parallelism) as client,
    ):
        yield server, client


def pgsync(server: EmulatorServer, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--api-url", server.url])


def stack_names(server: EmulatorServer, group: str) -> list[str]:
    found = server.group("acme", group)
    assert found is not None, group
    return sorted(f"{s['routingProject']}/{s['name']}" for s in found["stacks"])


NAMES = [f"g{i}" for i in range(6)]
LIVE = [{"name": name, "stacks": []} for name in NAMES]
ADDS = [{"name": name, "stacks": [f"svc/s{i:03d}"]} for i, name in enumerate(NAMES)]


def test_groups_of_one_step_are_written_up_to_parallelism_at_once(tmp_path: Path) -> None:
    with emulated(LIVE, 3) as (server, client):
        plan, api, catalog = planned(client, write(tmp_path, ADDS))
        seam = InFlight(api, together=3)
        report = apply_plan(plan, seam, catalog, parallelism=3)
        held = {name: stack_names(server, name) for name in NAMES}
    assert seam.most == 3
    assert [o.status for o in report.outcomes] == ["done"] * 6
    assert held == {name: [f"svc/s{i:03d}"] for i, name in enumerate(NAMES)}


def test_parallelism_1_writes_one_group_after_another_in_plan_order(tmp_path: Path) -> None:
    with emulated(LIVE, 1) as (server, client):
        plan, api, catalog = planned(client, write(tmp_path, ADDS))
        seam = InFlight(api)
        server.clear_requests()
        apply_plan(plan, seam, catalog, parallelism=1)
        order = [group_of(r.path, r.body) for r in server.requests]
    assert seam.most == 1
    assert seam.finished == NAMES
    # Each group's re-read, write and read-back before the next group's first request.
    assert order == [name for name in NAMES for _ in range(3)]


def test_each_step_finishes_before_the_next_starts(tmp_path: Path) -> None:
    live = [
        {"name": "old", "stacks": ["web/dev"]},
        {"name": "u1", "stacks": []},
        {"name": "u2", "stacks": []},
        {"name": "flip", "stacks": ["web/prod"]},
        {"name": "gone1", "stacks": []},
        {"name": "gone2", "stacks": []},
    ]
    groups = [
        {"name": "renamed", "previously": ["old"], "stacks": ["web/dev"]},
        {"name": "new1", "stacks": ["svc/s001"]},
        {"name": "new2", "stacks": ["svc/s002"]},
        {"name": "u1", "stacks": ["svc/s003"]},
        {"name": "u2", "stacks": ["svc/s004"]},
        {"name": "flip", "mode": "audit", "stacks": ["web/prod"]},
    ]
    with emulated(live, 8) as (server, client):
        plan, api, catalog = planned(client, write(tmp_path, groups, prune=True))
        server.clear_requests()
        apply_plan(plan, api, catalog, parallelism=8)
        log = server.requests
    action = {}
    for group in plan.changed:
        for name in {group.name, group.live_name or group.name, temp_name(group.name)}:
            action[name] = group.action
    steps = [ACTIONS.index(action[group_of(r.path, r.body)]) for r in log]
    assert [g.action for g in plan.changed] == [
        "rename",
        "create",
        "create",
        "update",
        "update",
        "replace",
        "delete",
        "delete",
    ]
    assert steps == sorted(steps)


OLD = [{"name": "old", "stacks": ["web/dev"]}]


def test_a_rename_finishes_before_a_create_takes_the_name_it_frees(tmp_path: Path) -> None:
    # diff never plans this pair (a name is declared once, former names included); apply's
    # order keeps it right regardless.
    with emulated(OLD, 8) as (server, client):
        api = PolicyGroupsApi(client, "acme")
        groups = [{"name": "old", "stacks": ["web/prod"]}]
        catalog = api.read_live_state(load_desired([write(tmp_path, groups)])).catalog
        old = api.get_group("old")
        renamed = desired_group("new", stacks=stacks("web/dev"), previously=("old",))
        fresh = desired_group("old", stacks=stacks("web/prod"))
        verdicts = [
            GroupDiff("old", "create", group_changes(fresh, None, catalog), fresh),
            GroupDiff("new", "rename", (Rename("old", "new"),), renamed, old),
        ]
        plan = build_plan("acme", verdicts)
        server.clear_requests()
        report = apply_plan(plan, api, catalog, parallelism=8)
        writes = [(r.method, group_of(r.path, r.body)) for r in server.writes()]
        held = {name: stack_names(server, name) for name in ("new", "old")}
    assert [o.status for o in report.outcomes] == ["done", "done"]
    assert writes[:2] == [("PATCH", "old"), ("POST", "old")]
    assert held == {"new": ["web/dev"], "old": ["web/prod"]}


def told(events: list[ApplyEvent]) -> list[str]:
    """Each event as `Kind group`, in the order the observer received them."""
    return [
        type(e).__name__ if isinstance(e, ApplyFinished) else f"{type(e).__name__} {e.group.name}"
        for e in events
    ]


def failing_first_group(
    server: EmulatorServer, client: Client, tmp_path: Path, journal: Journal | None = None
) -> tuple[str, list[ApplyEvent]]:
    """Apply of ADDS at parallelism 2 where g0's write fails while g1 is in flight.

    g1 waits at its first read until g0's failure is told, so both are in flight when it
    happens and g1 finishes after it. The error message and the events.
    """
    server.inject_fault(
        method="PATCH", path="/g0/batch$", status=400, body={"code": 400, "message": "nope"}
    )
    plan, api, catalog = planned(client, write(tmp_path, ADDS))
    failed = threading.Event()
    events: list[ApplyEvent] = []

    def observe(event: ApplyEvent) -> None:
        events.append(event)
        if isinstance(event, GroupFailed) and event.group.name == "g0":
            failed.set()

    seam = InFlight(api, together=2, hold={"g1": lambda: failed.wait(BARRIER_TIMEOUT)})
    server.clear_requests()
    with pytest.raises(ApplyFailed) as raised:
        apply_plan(plan, seam, catalog, observer=observe, journal=journal, parallelism=2)
    assert failed.is_set()
    return str(raised.value), events


def test_after_a_failure_no_group_starts_and_those_under_way_finish(tmp_path: Path) -> None:
    with emulated(LIVE, 2) as (server, client):
        message, events = failing_first_group(server, client, tmp_path)
        touched = {group_of(r.path, r.body) for r in server.requests}
        held = {name: stack_names(server, name) for name in NAMES}
    assert message.splitlines()[1:] == [
        "  failed        update  g0: PATCH /api/orgs/acme/policygroups/g0/batch: HTTP 400: nope",
        "  done          update  g1",
        "  not attempted update  g2",
        "  not attempted update  g3",
        "  not attempted update  g4",
        "  not attempted update  g5",
        "re-run plan to see what is left; apply again to converge",
    ]
    assert told(events) == [
        "GroupStarted g0",
        "GroupFailed g0",
        "GroupStarted g1",
        "GroupConfirmed g1",
        "ApplyFinished",
    ]
    assert [e.error for e in events if isinstance(e, GroupFailed)] == [
        "PATCH /api/orgs/acme/policygroups/g0/batch: HTTP 400: nope"
    ]
    assert touched == {"g0", "g1"}
    assert held == {name: ["svc/s001"] if name == "g1" else [] for name in NAMES}


def test_a_rerun_after_a_concurrent_failure_converges_then_writes_nothing(
    tmp_path: Path,
) -> None:
    with emulated(LIVE, 2) as (server, client):
        failing_first_group(server, client, tmp_path)
        path = str(tmp_path / "groups.yaml")
        again = pgsync(server, "apply", path, "--yes", "--parallelism", "4")
        server.clear_requests()
        third = pgsync(server, "apply", path, "--yes", "--parallelism", "4")
        held = {name: stack_names(server, name) for name in NAMES}
        writes = server.writes()
    assert again.exit_code == 0, again.output
    assert "Apply complete: 5 groups changed with 5 write requests" in again.output
    assert third.exit_code == 0 and writes == []
    assert held == {name: [f"svc/s{i:03d}"] for i, name in enumerate(NAMES)}


def test_the_resume_report_after_a_concurrent_failure_says_what_each_group_did(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.jsonl"
    with emulated(LIVE, 2) as (server, client):
        journal = Journal(path)
        try:
            failing_first_group(server, client, tmp_path, journal)
        finally:
            journal.close()
    assert last_run_report(read_events(path)).splitlines()[1:] == [
        "  g0: failed: PATCH /api/orgs/acme/policygroups/g0/batch: HTTP 400: nope",
        "  g1: done and verified (1 request sent)",
        "  g2: not started",
        "  g3: not started",
        "  g4: not started",
        "  g5: not started",
    ]


def test_events_are_shown_in_plan_order_whichever_group_finishes_first(tmp_path: Path) -> None:
    names = NAMES[:3]
    with emulated(LIVE[:3], 3) as (_, client):
        plan, api, catalog = planned(client, write(tmp_path, ADDS[:3]))
        seam = InFlight(api, together=3)
        seam.hold["g0"] = lambda: seam.wait_until_finished({"g1", "g2"})
        events: list[ApplyEvent] = []
        apply_plan(plan, seam, catalog, observer=events.append, parallelism=3)
    assert seam.finished[-1] == "g0"
    assert told(events) == [
        *(f"{kind} {name}" for name in names for kind in ("GroupStarted", "GroupConfirmed")),
        "ApplyFinished",
    ]


def test_the_journal_stays_one_json_object_a_line_under_concurrent_writers(
    tmp_path: Path,
) -> None:
    names = [f"j{i:02d}" for i in range(12)]
    path = tmp_path / "journal.jsonl"
    groups = [{"name": name, "stacks": [f"svc/s{i:03d}"]} for i, name in enumerate(names)]
    with emulated([], 6) as (_, client):
        plan, api, catalog = planned(client, write(tmp_path, groups))
        journal = Journal(path)
        try:
            apply_plan(plan, InFlight(api, together=6), catalog, journal=journal, parallelism=6)
        finally:
            journal.close()
    events = [json.loads(line) for line in path.read_text().splitlines()]
    per_group = {name: [e["event"] for e in events if e.get("group") == name] for name in names}
    assert events[0]["event"] == "start" and events[-1]["event"] == "end"
    assert events[-1]["ok"] is True and events[-1]["writes"] == 24
    assert per_group == {
        name: ["intended", "sent", "intended", "sent", "confirmed"] for name in names
    }
    assert "finished; 24 write requests sent" in last_run_report(read_events(path))


def test_cli_apply_writes_concurrently_prints_in_plan_order_and_a_second_apply_writes_nothing(
    tmp_path: Path,
) -> None:
    names = [f"c{i:02d}" for i in range(10)]
    groups = [{"name": name, "stacks": [f"svc/s{i:03d}"]} for i, name in enumerate(names)]
    path = str(write(tmp_path, groups))
    with EmulatorServer(fixture_from_dict(org_spec())) as server:
        first = pgsync(server, "apply", path, "--yes", "--parallelism", "4")
        server.clear_requests()
        second = pgsync(server, "apply", path, "--yes", "--parallelism", "4")
        writes = server.writes()
    assert first.exit_code == 0, first.output
    shown = [line for line in first.output.splitlines() if line.startswith("  ✓")]
    assert shown == [f"  ✓ create {name}" for name in names]
    assert second.exit_code == 0 and writes == []
