"""Plan/apply invariants on random organizations, through the real client and emulator.

For any live state and any valid desired state: applying the plan yields the desired state,
a second plan is empty, and apply sends exactly the contract's minimal number of writes.
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
from pgsync.core.plan import Plan, build_plan
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.remote.api import PolicyGroupsApi
from pgsync.remote.client import Client, RetryPolicy
from random_orgs import HERE, LEVELS, STACK_POOL, TAGS

NAMES = [f"g{i}" for i in range(6)]

pack_specs = st.lists(
    st.tuples(st.sampled_from(sorted(TAGS)), st.integers(0, 1), st.sampled_from(LEVELS)),
    max_size=3,
    unique_by=lambda t: t[0],
)


def _tag(name: str, index: int) -> str:
    return TAGS[name][index % len(TAGS[name])]


@st.composite
def live_groups(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(st.sampled_from(NAMES), max_size=4, unique=True))
    return [
        {
            "name": name,
            "mode": draw(st.sampled_from(["preventative", "audit"])),
            "stacks": draw(st.lists(st.sampled_from(STACK_POOL), unique=True, max_size=4)),
            "policyPacks": [
                {
                    "name": pack,
                    "versionTag": _tag(pack, i),
                    "config": normalise_config({}, level),
                }
                for pack, i, level in draw(pack_specs)
            ],
        }
        for name in names
    ]


@st.composite
def desired_states(draw: st.DrawFn, live: list[dict[str, Any]]) -> DesiredState:
    live_names = [g["name"] for g in live]
    pool = list(NAMES)
    groups = []
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=4, unique=True)):
        if name not in pool:
            continue
        pool.remove(name)
        previously: tuple[str, ...] = ()
        former = [n for n in live_names if n in pool and n != name]
        if name not in live_names and bool(former) and draw(st.booleans()):
            previously = (draw(st.sampled_from(former)),)
            pool.remove(previously[0])
        stacks = draw(st.none() | st.lists(st.sampled_from(STACK_POOL), unique=True, max_size=5))
        packs = draw(st.none() | pack_specs)
        groups.append(
            DesiredGroup(
                name=name,
                entity_type="stacks",
                mode=draw(st.sampled_from(["preventative", "preventative", "audit"])),
                previously=previously,
                absent=draw(st.booleans()) and not previously and draw(st.booleans()),
                stacks=None if stacks is None else frozenset(StackRef.parse(s) for s in stacks),
                packs=None
                if packs is None
                else tuple(
                    PackRef(p, _tag(p, i), canonical_json(normalise_config({}, lvl)), location=HERE)
                    for p, i, lvl in sorted(packs)
                ),
                location=HERE,
            )
        )
    return DesiredState("acme", tuple(groups), prune=draw(st.booleans()))


def minimal_writes(plan: Plan) -> int:
    """Contract §5: POST per create, PATCH per rename, batch per changed group, DELETE.

    A replace (new mode) is POST + batch under a temporary name, DELETE, rename PATCH.
    """
    count = 0
    for group in plan.changed:
        has_batch = any(c.kind not in ("rename", "replace") for c in group.changes)
        count += {"create": 1, "rename": 1, "update": 0, "replace": 3, "delete": 1}[group.action]
        count += 1 if has_batch else 0
    return count


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_apply_reaches_the_desired_state_with_minimal_writes(data: st.DataObject) -> None:
    live = data.draw(live_groups())
    desired = data.draw(desired_states(live))
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        client = Client(server.url, None, retry=RetryPolicy(attempts=1))
        api = PolicyGroupsApi(client, "acme")
        before = api.read_live_state(desired)
        plan = build_plan("acme", diff(desired, before))
        server.clear_requests()
        report = apply_plan(plan, api, before.catalog)
        writes = len(server.writes())

        after = api.read_live_state(desired)
        again = build_plan("acme", diff(desired, after))
        client.close()

    assert report.ok
    assert writes == report.writes == plan.write_count() == minimal_writes(plan)
    assert not again.has_changes, [(g.name, g.action, g.changes) for g in again.changed]
    assert {"default-policy-group", "default-accounts-policy-group"} <= set(after.unread) | set(
        after.groups
    )
