"""Which reads wait for which: a listing the group list's counts make certain goes beside the
details; one that depends on what the details hold waits for them. Same requests either way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from conftest import STACKS, org_spec
from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.emulator.control import RecordedRequest
from pgsync.remote.api import paging_beats_lookups, paging_is_certain

SVC = [s for s in STACKS if s.startswith("svc/")]
LATENCY = 0.05
"""Long enough that a read started beside a detail arrives before the detail's answer."""


def plan(
    live: list[dict[str, Any]],
    desired: list[dict[str, Any]],
    tmp_path: Path,
    allow: tuple[str, ...] = (),
) -> list[RecordedRequest]:
    path = tmp_path / "groups.yaml"
    document = {"organization": "acme", "policyGroups": desired, "allow": list(allow)}
    path.write_text(json.dumps(document))
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        server.set_latency(LATENCY)
        result = CliRunner().invoke(cli, ["plan", str(path), "--api-url", server.url])
        assert result.exit_code == 0, result.output
        return server.requests


def first(requests: list[RecordedRequest], path: str) -> RecordedRequest:
    return next(r for r in requests if r.path == path)


def count(requests: list[RecordedRequest], path: str) -> int:
    return sum(r.path == path for r in requests)


def test_a_stack_listing_the_counts_make_certain_is_paged_beside_the_details(
    tmp_path: Path,
) -> None:
    # g holds no stack (numStacks 0), so all 4 declared ones are unknown: 4 > 3 pages.
    requests = plan([{"name": "g", "stacks": []}], [{"name": "g", "stacks": SVC[:4]}], tmp_path)
    detail = first(requests, "/api/orgs/acme/policygroups/g")
    assert first(requests, "/api/user/stacks").arrived < detail.answered
    assert count(requests, "/api/user/stacks") == 3


def test_a_stack_listing_that_depends_on_the_details_waits_for_them(tmp_path: Path) -> None:
    # g's 3 stacks could be 3 of the 4 declared until its details say they are not.
    live = [{"name": "g", "stacks": SVC[100:103]}]
    requests = plan(live, [{"name": "g", "stacks": SVC[:4]}], tmp_path, ("unprotected:g",))
    detail = first(requests, "/api/orgs/acme/policygroups/g")
    assert first(requests, "/api/user/stacks").arrived >= detail.answered
    assert count(requests, "/api/user/stacks") == 3


def test_lookups_still_wait_for_the_details(tmp_path: Path) -> None:
    requests = plan([{"name": "g", "stacks": []}], [{"name": "g", "stacks": SVC[:2]}], tmp_path)
    detail = first(requests, "/api/orgs/acme/policygroups/g")
    lookups = [r for r in requests if r.path.startswith("/api/stacks/")]
    assert len(lookups) == 2
    assert all(r.arrived >= detail.answered for r in lookups)


def test_an_account_listing_the_counts_make_certain_is_paged_beside_the_details(
    tmp_path: Path,
) -> None:
    # Three accounts are one page; two declared that g (numAccounts absent: 0) cannot hold.
    audit = {"name": "g", "mode": "audit", "accounts": []}
    requests = plan([audit], [audit | {"accounts": ["aws-prod", "gcp-data"]}], tmp_path)
    detail = first(requests, "/api/orgs/acme/policygroups/g")
    listing = first(requests, "/api/preview/insights/acme/accounts")
    assert listing.arrived < detail.answered
    assert not [r for r in requests if r.path.startswith("/api/preview/insights/acme/accounts/")]


def test_a_new_group_counts_as_holding_nothing(tmp_path: Path) -> None:
    requests = plan([], [{"name": "new", "stacks": SVC[:4]}], tmp_path)
    assert count(requests, "/api/user/stacks") == 3


@given(
    declared=st.frozensets(st.integers(0, 40)),
    held=st.lists(st.tuples(st.frozensets(st.integers(0, 40)), st.integers(0, 5)), max_size=4),
    total=st.integers(0, 500),
)
def test_paging_that_the_counts_make_certain_is_what_the_details_would_choose(
    declared: frozenset[int], held: list[tuple[frozenset[int], int]], total: int
) -> None:
    # A group's count is at least its explicit members (rule members and children add more).
    most_held = sum(len(members) + extra for members, extra in held)
    seen = frozenset[int]().union(*(members for members, _ in held))
    if paging_is_certain(len(declared), most_held, total):
        assert paging_beats_lookups(len(declared - seen), total)


def test_paging_is_never_certain_without_every_count() -> None:
    assert not paging_is_certain(1_000, None, 0)
