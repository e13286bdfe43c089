"""What apply_plan tells its observer: event values in plan order, each group's together."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import org_spec
from pgsync.apply.events import (
    AmbiguousWrite,
    ApplyEvent,
    ApplyFinished,
    GroupFailed,
    GroupSkipped,
    GroupStarted,
)
from pgsync.apply.runner import apply_plan
from pgsync.core.errors import ApplyFailed
from pgsync.core.model import OrgCatalog
from pgsync.core.plan import Plan
from pgsync.core.planning import make_plan
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.load.desired import load_desired
from pgsync.remote.api import PolicyGroupsApi
from pgsync.remote.client import Client, RetryPolicy

LIVE = [{"name": "kept", "stacks": ["web/prod"]}, {"name": "old", "stacks": []}]
DESIRED = [
    {"name": "kept", "stacks": ["web/prod", "web/dev"]},
    {"name": "new", "stacks": ["svc/s001"]},
    {"name": "renamed", "previously": ["old"], "stacks": []},
]


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(fixture_from_dict(org_spec(LIVE))) as running:
        yield running


@pytest.fixture
def api(server: EmulatorServer) -> Iterator[PolicyGroupsApi]:
    with Client(server.url, None, retry=RetryPolicy(attempts=1)) as client:
        yield PolicyGroupsApi(client, "acme")


def planned(
    api: PolicyGroupsApi, tmp_path: Path, groups: list[dict[str, Any]]
) -> tuple[Plan, OrgCatalog]:
    path = tmp_path / "groups.yaml"
    path.write_text(json.dumps({"organization": "acme", "policyGroups": groups}))
    desired = load_desired([path])
    live = api.read_live_state(desired)
    return make_plan(desired, live), live.catalog


def told(events: list[ApplyEvent]) -> list[str]:
    """Each event as `Kind group`, in the order the observer received them."""
    return [
        type(e).__name__ if isinstance(e, ApplyFinished) else f"{type(e).__name__} {e.group.name}"
        for e in events
    ]


def test_each_group_is_told_started_then_confirmed_in_plan_order(
    api: PolicyGroupsApi, tmp_path: Path
) -> None:
    plan, catalog = planned(api, tmp_path, DESIRED)
    events: list[ApplyEvent] = []
    apply_plan(plan, api, catalog, observer=events.append, parallelism=3)
    assert told(events) == [
        "GroupStarted renamed",
        "GroupConfirmed renamed",
        "GroupStarted new",
        "GroupConfirmed new",
        "GroupStarted kept",
        "GroupConfirmed kept",
        "ApplyFinished",
    ]


def test_the_last_event_carries_the_report_apply_returns(
    api: PolicyGroupsApi, tmp_path: Path
) -> None:
    plan, catalog = planned(api, tmp_path, DESIRED)
    events: list[ApplyEvent] = []
    report = apply_plan(plan, api, catalog, observer=events.append)
    assert events[-1] == ApplyFinished(report)
    assert report.ok and report.writes == plan.write_count() == 4


def test_a_group_changed_since_the_plan_is_told_skipped_with_the_reason(
    server: EmulatorServer, api: PolicyGroupsApi, tmp_path: Path
) -> None:
    plan, catalog = planned(api, tmp_path, DESIRED[:1])
    with httpx.Client(base_url=server.url) as http:
        http.patch(
            "/api/orgs/acme/policygroups/kept",
            json={"stacks": [{"name": "s002", "routingProject": "svc"}]},
        ).raise_for_status()
    events: list[ApplyEvent] = []
    with pytest.raises(ApplyFailed):
        apply_plan(plan, api, catalog, observer=events.append)
    assert events[:2] == [
        GroupStarted(plan.changed[0]),
        GroupSkipped(plan.changed[0], "it changed live since the plan was made"),
    ]
    finished = events[-1]
    assert isinstance(finished, ApplyFinished)
    assert [o.status for o in finished.report.outcomes] == ["skipped"]


def test_an_ambiguous_write_is_told_with_the_requests_still_needed(
    server: EmulatorServer, api: PolicyGroupsApi, tmp_path: Path
) -> None:
    plan, catalog = planned(api, tmp_path, DESIRED[1:2])
    server.inject_fault(method="POST", status=503)
    events: list[ApplyEvent] = []
    apply_plan(plan, api, catalog, observer=events.append)
    assert told(events) == [
        "GroupStarted new",
        "AmbiguousWrite new",
        "GroupConfirmed new",
        "ApplyFinished",
    ]
    ambiguous = events[1]
    assert isinstance(ambiguous, AmbiguousWrite)
    assert ambiguous.remaining == 2
    assert ambiguous.error.startswith("POST /api/orgs/acme/policygroups: outcome unknown: ")


def test_a_failed_group_is_told_with_its_error_before_apply_failed_is_raised(
    server: EmulatorServer, api: PolicyGroupsApi, tmp_path: Path
) -> None:
    plan, catalog = planned(api, tmp_path, DESIRED[:1])
    server.inject_fault(
        method="PATCH", path="/kept/batch$", status=400, body={"code": 400, "message": "nope"}
    )
    events: list[ApplyEvent] = []
    with pytest.raises(ApplyFailed):
        apply_plan(plan, api, catalog, observer=events.append)
    assert events[1] == GroupFailed(
        plan.changed[0], "PATCH /api/orgs/acme/policygroups/kept/batch: HTTP 400: nope"
    )
    assert told(events) == ["GroupStarted kept", "GroupFailed kept", "ApplyFinished"]
