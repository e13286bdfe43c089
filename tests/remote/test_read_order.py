"""Which reads wait for which: a listing the group list's counts make certain goes beside the
details; one that depends on what the details hold waits for them; nothing waits for the
coverage counts; a failed read stops the listing under way. Same requests either way."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import desired_group, stacks, state
from conftest import STACKS, org_spec
from pgsync.core.errors import ApiError, BadResponse
from pgsync.core.model import DesiredGroup, LiveState
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.emulator.control import Hold, RecordedRequest
from pgsync.remote.api import PolicyGroupsApi, paging_beats_lookups, paging_is_certain
from pgsync.remote.client import Client, RetryPolicy

SVC = [s for s in STACKS if s.startswith("svc/")]
GROUP_LIST = "/api/orgs/acme/policygroups"
DETAIL = "/api/orgs/acme/policygroups/g"
STACK_LISTING = "/api/user/stacks"
ACCOUNT_LISTING = "/api/preview/insights/acme/accounts"
WAIT = 10.0
"""Seconds a test waits for a request it expects: far longer than any should take."""


def count(requests: list[RecordedRequest], path: str) -> int:
    return sum(r.path == path for r in requests)


@contextmanager
def reading(
    server: EmulatorServer, *groups: DesiredGroup, parallelism: int = 8
) -> Iterator[Future[LiveState]]:
    """read_live_state of `groups` under way in a thread of its own, its result to come."""
    future: Future[LiveState] = Future()
    client = Client(server.url, None, retry=RetryPolicy(attempts=1), parallelism=parallelism)

    def read() -> None:
        try:
            future.set_result(PolicyGroupsApi(client, "acme").read_live_state(state(*groups)))
        except BaseException as error:  # handed to the test through the future
            future.set_exception(error)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        yield future
    finally:
        thread.join(WAIT)
        client.close()


def held(server: EmulatorServer, path: str) -> Hold:
    return server.hold(method="GET", path=f"^{path}$")


def test_a_stack_listing_the_counts_make_certain_goes_out_while_the_details_are_unanswered() -> (
    None
):
    # g holds no stack (numStacks 0), so all 4 declared ones are unknown: 4 > 3 pages.
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "g", "stacks": []}]))) as server:
        detail, listing = held(server, DETAIL), held(server, STACK_LISTING)
        with reading(server, desired_group("g", stacks=stacks(*SVC[:4]))) as future:
            assert listing.wait_arrived(WAIT)
            listing.release()
            detail.release()
            assert stacks(*SVC[:4]) <= (future.result(WAIT).catalog.stacks or frozenset())
        assert count(server.requests, STACK_LISTING) == 3


def test_an_account_listing_the_counts_make_certain_goes_out_while_the_details_are_unanswered() -> (
    None
):
    # Three accounts are one page; two declared that g (numAccounts absent: 0) cannot hold.
    audit = {"name": "g", "mode": "audit", "accounts": []}
    with EmulatorServer(fixture_from_dict(org_spec([audit]))) as server:
        detail, listing = held(server, DETAIL), held(server, ACCOUNT_LISTING)
        wanted = frozenset({"aws-prod", "gcp-data"})
        group = desired_group("g", "accounts", "audit", accounts=wanted)
        with reading(server, group) as future:
            assert listing.wait_arrived(WAIT)
            listing.release()
            detail.release()
            assert wanted <= (future.result(WAIT).catalog.accounts or frozenset())
        lookups = [r for r in server.requests if r.path.startswith(f"{ACCOUNT_LISTING}/")]
        assert not lookups


def test_an_account_listing_goes_beside_the_details_while_stack_lookups_wait_for_them() -> None:
    audit = {"name": "g", "mode": "audit", "accounts": []}
    live = [audit, {"name": "s", "stacks": SVC[:1]}]
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        details = server.hold(method="GET", path=f"^{GROUP_LIST}/[gs]$")
        listing = held(server, ACCOUNT_LISTING)
        # Two accounts g cannot hold outnumber the one page; one stack s may already hold.
        wanted = frozenset({"aws-prod", "gcp-data"})
        accounts = desired_group("g", "accounts", "audit", accounts=wanted)
        with reading(server, accounts, desired_group("s", stacks=stacks(*SVC[:2]))) as future:
            assert listing.wait_arrived(WAIT)
            listing.release()
            details.release()
            future.result(WAIT)
        requests = server.requests
        answered = max(r.answered for r in requests if r.path in (DETAIL, f"{GROUP_LIST}/s"))
        lookups = [r for r in requests if r.path.startswith("/api/stacks/")]
        assert [r.path for r in lookups] == [f"/api/stacks/acme/{SVC[1]}"]
        assert all(r.arrived >= answered for r in lookups)


def test_the_details_do_not_wait_for_the_coverage_counts() -> None:
    # A new group's stacks may or may not outnumber the pages: the counts will say.
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "g", "stacks": []}]))) as server:
        counts, detail = held(server, f"{GROUP_LIST}/metadata"), held(server, DETAIL)
        with reading(server, desired_group("g", stacks=stacks(*SVC[:4]))) as future:
            assert detail.wait_arrived(WAIT)
            detail.release()
            counts.release()
            future.result(WAIT)
        assert count(server.requests, STACK_LISTING) == 3


def test_a_listing_under_way_stops_at_its_next_page_when_the_read_fails() -> None:
    # 203 stacks in pages of 10: 21 pages, 50 ms each, of which the listing sends the first
    # as the detail fails; one more may be on its way before the failure is known.
    with EmulatorServer(
        fixture_from_dict(org_spec([{"name": "g", "stacks": []}])), page_size=10
    ) as server:
        server.set_latency(0.05)
        server.inject_fault(method="GET", path=f"^{DETAIL}$", status=400)
        with (
            reading(server, desired_group("g", stacks=stacks(*SVC[:4]))) as future,
            pytest.raises(ApiError, match="400"),
        ):
            future.result(WAIT)
        assert 1 <= count(server.requests, STACK_LISTING) <= 2


def test_the_reads_still_queued_when_a_read_fails_are_not_sent() -> None:
    # 2,503 stacks are 26 pages, so 20 unknown ones are looked up: one at a time, 50 ms each.
    spec = org_spec([{"name": "g", "stacks": []}])
    spec["organizations"]["acme"]["stacks"] = STACKS + [f"big/s{i:04d}" for i in range(2300)]
    declared = stacks(*(f"big/s{i:04d}" for i in range(20)))
    with EmulatorServer(fixture_from_dict(spec)) as server:
        server.set_latency(0.05)
        server.inject_fault(method="GET", path="^/api/stacks/acme/big/", status=400)
        with (
            reading(server, desired_group("g", stacks=declared), parallelism=1) as future,
            pytest.raises(ApiError, match="400"),
        ):
            future.result(WAIT)
        lookups = [r for r in server.requests if r.path.startswith("/api/stacks/")]
        assert 1 <= len(lookups) <= 3


def waits_for_the_details(server: EmulatorServer, path: str, *groups: DesiredGroup) -> None:
    """Requests to `path` are not sent while the details are unanswered (checked for a
    while: a lower bound, which no slow machine makes fail), and are once they are."""
    detail, later = held(server, DETAIL), server.hold(method="GET", path=f"^{path}")
    with reading(server, *groups) as future:
        assert detail.wait_arrived(WAIT)
        assert not later.wait_arrived(0.5)
        detail.release()
        assert later.wait_arrived(WAIT)
        later.release()
        future.result(WAIT)


def test_a_stack_listing_that_depends_on_the_details_waits_for_them() -> None:
    # g's 3 stacks could be 3 of the 4 declared until its details say they are not.
    live = [{"name": "g", "stacks": SVC[100:103]}]
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        waits_for_the_details(server, STACK_LISTING, desired_group("g", stacks=stacks(*SVC[:4])))
        assert count(server.requests, STACK_LISTING) == 3


def test_lookups_still_wait_for_the_details() -> None:
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "g", "stacks": []}]))) as server:
        waits_for_the_details(server, "/api/stacks/", desired_group("g", stacks=stacks(*SVC[:2])))
        lookups = [r for r in server.requests if r.path.startswith("/api/stacks/")]
        assert len(lookups) == 2


def listed_without_counts(server: EmulatorServer, **summary: Any) -> None:
    """The next group list gives g by its name and `summary` alone."""
    body = {"policyGroups": [{"name": "g"} | summary]}
    server.inject_fault(method="GET", path=f"^{GROUP_LIST}$", status=200, body=body)


def test_a_listing_waits_for_the_details_of_a_group_whose_stacks_are_not_counted() -> None:
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "g", "stacks": []}]))) as server:
        listed_without_counts(server)
        waits_for_the_details(server, STACK_LISTING, desired_group("g", stacks=stacks(*SVC[:4])))
        assert count(server.requests, STACK_LISTING) == 3


def test_a_stack_count_that_is_not_a_number_is_a_bad_response() -> None:
    with EmulatorServer(fixture_from_dict(org_spec([{"name": "g", "stacks": []}]))) as server:
        listed_without_counts(server, numStacks="many")
        with (
            reading(server, desired_group("g", stacks=stacks(*SVC[:4]))) as future,
            pytest.raises(BadResponse, match=r"policyGroups\[0\]\.numStacks"),
        ):
            future.result(WAIT)


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
