"""Additive lists on random organizations, through the real client and emulator.

For any live group and any desired group whose stacks and packs are additive: applying the
plan removes nothing, leaves every listed member in place, and a second plan is empty.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import org_spec
from pgsync.apply.runner import apply_plan
from pgsync.core.diff import diff
from pgsync.core.model import (
    DesiredGroup,
    DesiredState,
    PackRef,
    StackRef,
    canonical_json,
    normalise_config,
)
from pgsync.core.plan import build_plan
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.remote.api import PolicyGroupsApi
from pgsync.remote.client import Client, RetryPolicy
from random_orgs import HERE, LEVELS, STACK_POOL, TAGS

stack_lists = st.lists(st.sampled_from(STACK_POOL), unique=True, max_size=4)
pack_lists = st.lists(
    st.tuples(st.sampled_from(sorted(TAGS)), st.integers(0, 1), st.sampled_from(LEVELS)),
    max_size=3,
    unique_by=lambda t: t[0],
)


def _tag(name: str, index: int) -> str:
    return TAGS[name][index % len(TAGS[name])]


def _live(stacks: list[str], packs: list[tuple[str, int, str | None]]) -> dict[str, Any]:
    return {
        "name": "shared",
        "stacks": stacks,
        "policyPacks": [
            {"name": p, "versionTag": _tag(p, i), "config": normalise_config({}, level)}
            for p, i, level in packs
        ],
    }


def _desired(stacks: list[str], packs: list[tuple[str, int, str | None]]) -> DesiredState:
    group = DesiredGroup(
        name="shared",
        entity_type="stacks",
        mode="preventative",
        stacks=frozenset(StackRef.parse(s) for s in stacks),
        packs=tuple(
            PackRef(p, _tag(p, i), canonical_json(normalise_config({}, level)), location=HERE)
            for p, i, level in sorted(packs)
        ),
        additive=frozenset({"stacks", "policyPacks"}),
        location=HERE,
    )
    return DesiredState("acme", (group,))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    have_stacks=stack_lists,
    have_packs=pack_lists,
    want_stacks=stack_lists,
    want_packs=pack_lists,
)
def test_applying_an_additive_plan_keeps_every_member_and_reaches_every_listed_one(
    have_stacks: list[str],
    have_packs: list[tuple[str, int, str | None]],
    want_stacks: list[str],
    want_packs: list[tuple[str, int, str | None]],
) -> None:
    desired = _desired(want_stacks, want_packs)
    with EmulatorServer(fixture_from_dict(org_spec([_live(have_stacks, have_packs)]))) as server:
        client = Client(server.url, None, retry=RetryPolicy(attempts=1))
        api = PolicyGroupsApi(client, "acme")
        before = api.read_live_state(desired)
        plan = build_plan("acme", diff(desired, before))
        report = apply_plan(plan, api, before.catalog)
        after = api.read_live_state(desired)
        again = build_plan("acme", diff(desired, after))
        client.close()

    assert report.ok
    assert not any(c.destructive for g in plan.groups for c in g.changes)
    was, now = before.groups["shared"], after.groups["shared"]
    assert now.stacks == was.stacks | {StackRef.parse(s) for s in want_stacks}
    assert {p.name for p in now.packs} == {p.name for p in was.packs} | {
        p for p, _, _ in want_packs
    }
    wanted = {p.name: p for p in desired.groups[0].packs or ()}
    for pack in now.packs:
        if pack.name in wanted:
            assert (pack.version_tag, pack.config_json) == (
                wanted[pack.name].version_tag,
                wanted[pack.name].config_json,
            )
    assert not again.has_changes, [(g.name, g.changes) for g in again.changed]
