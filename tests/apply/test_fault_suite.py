"""Apply under seeded fault mixes: it converges, or stops with an exact report and a re-run does.

Every scenario is a seeded random organization and desired state (stack and account groups,
packs, agent pools, renames, mode changes, deletes, pruning, a default group's packs), planned
and applied through the real client against the emulator while a `FaultMix` makes requests
fail. Whatever happens, the final state is checked against an oracle computed here from the
desired state and the state before, independently of pgsync's own diff: no membership, pack or
agent pool more or less than declared, unmanaged groups and fields untouched, no temporary
group left behind, both default groups alive.

The counts of outcomes are written to SUMMARY (and printed, visible with `pytest -s`).
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import org_spec
from pgsync.apply.runner import apply_plan
from pgsync.core.diff import diff
from pgsync.core.errors import ApiError, ApplyFailed, TransportError
from pgsync.core.model import (
    MODES,
    DesiredGroup,
    DesiredState,
    EntityType,
    Mode,
    PackRef,
    StackRef,
    canonical_json,
    default_mode,
    normalise_config,
)
from pgsync.core.plan import ACTIONS, GroupPlan, Plan, build_plan
from pgsync.core.replace import temp_name
from pgsync.emulator import EmulatorServer, fixture_from_dict
from pgsync.emulator.faults import KINDS, FaultMix
from pgsync.remote.api import PolicyGroupsApi
from pgsync.remote.client import Client, RetryPolicy
from random_orgs import HERE, LEVELS, STACK_POOL, TAGS

SUMMARY = Path("/tmp/pgsync-fault-suite-summary.txt")
SEEDS = range(16)
PARALLELISM = (1, 4)
"""One group at a time, and several groups of a step written at once."""
TIMEOUT = 0.5
# attempts=6: at a 35 % fault rate a read still fails for good only once in ~500 times.
RETRY = RetryPolicy(attempts=6, base_delay=0.001, max_delay=0.01, max_total_wait=5.0)
# Hangs and slow bodies outlast the client's timeout ten times over, so that a client slowed
# by a loaded machine still gives up first; they cost no time, since the client gives up at
# TIMEOUT and the emulator's thread waits out the rest alone.
SLOW = {"retry_after": 0.0, "slow_body_seconds": 10 * TIMEOUT, "hang_seconds": 10 * TIMEOUT}
# Each scenario adds its own seed to its mix's: the mixes' seeds are far apart.
MIXES = {
    "all-kinds-20%": FaultMix(seed=1000, rate=0.2, kinds=KINDS, **SLOW),
    "429-503-30%": FaultMix(seed=2000, rate=0.3, kinds=("429", "503"), **SLOW),
    "write-hazards-35%": FaultMix(
        seed=3000, rate=0.35, kinds=("drop-write", "reset", "after-effect-5xx"), **SLOW
    ),
    # No 500: a read answered 500 is not retried (contract §5) and would end most runs
    # before apply; "all-kinds-20%" has it.
    "quick-kinds-30%-latency": FaultMix(
        seed=4000,
        rate=0.3,
        kinds=("429", "502", "503", "504", "reset", "drop-write", "after-effect-5xx"),
        latency=0.002,
        jitter=0.002,
        **SLOW,
    ),
    # Each one costs the client its 0.5 s timeout: a low rate keeps the suite fast.
    "timeouts-10%": FaultMix(seed=5000, rate=0.1, kinds=("timeout", "slow-body"), **SLOW),
    "latency-jitter-only": FaultMix(seed=6000, rate=0.0, kinds=KINDS, latency=0.004, jitter=0.004),
}

STACK_GROUPS = ("g0", "g1", "g2", "g3", "g4")
ACCOUNT_GROUPS = ("a0", "a1")
ACCOUNTS = ("aws-prod", "aws-staging", "gcp-data")
DEFAULT_GROUPS = ("default-policy-group", "default-accounts-policy-group")
# A replaced group (mode change) is built under a temporary name first: watch those too.
UNIVERSE = (
    *STACK_GROUPS,
    *ACCOUNT_GROUPS,
    *DEFAULT_GROUPS,
    *(temp_name(n) for n in STACK_GROUPS + ACCOUNT_GROUPS),
)
MODE_FLIP = 0.15
"""The chance that a live or declared group has the other mode than its type's default."""
POOLS = (None, "pool-1", "pool-2", "")

Members = dict[str, Any]
"""A group as the oracle sees it: type, mode, sorted members, packs and agent pool."""
EMPTY: Members = {
    "isOrgDefault": False,
    "stacks": [],
    "accounts": [],
    "packs": [],
    "agentPoolId": "",
}


# --- scenarios -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    live: list[dict[str, Any]]
    desired: DesiredState


def _packs(rng: random.Random) -> list[tuple[str, str, str | None]]:
    return [
        (name, rng.choice(TAGS[name]), rng.choice(LEVELS))
        for name in rng.sample(sorted(TAGS), rng.randint(0, 3))
    ]


def _packs_spec(rng: random.Random) -> list[dict[str, Any]]:
    return [
        {"name": pack, "versionTag": tag, "config": normalise_config({}, level)}
        for pack, tag, level in _packs(rng)
    ]


def _mode(rng: random.Random, entity_type: EntityType) -> Mode:
    """Stacks groups flip to audit now and then; accounts groups are audit (only audit groups
    hold accounts)."""
    usual = default_mode(entity_type)
    if entity_type == "accounts" or rng.random() >= MODE_FLIP:
        return usual
    return next(m for m in MODES if m != usual)


def _live_group(rng: random.Random, name: str, entity_type: EntityType) -> dict[str, Any]:
    group: dict[str, Any] = {
        "name": name,
        "entityType": entity_type,
        "mode": _mode(rng, entity_type),
        "policyPacks": _packs_spec(rng),
    }
    if entity_type == "stacks":
        group["stacks"] = rng.sample(STACK_POOL, rng.randint(0, 4))
    else:
        group["accounts"] = rng.sample(ACCOUNTS, rng.randint(0, 3))
    if rng.random() < 0.3:
        group["agentPoolId"] = "pool-1"
    return group


def _desired_group(
    rng: random.Random, name: str, entity_type: EntityType, previously: tuple[str, ...]
) -> DesiredGroup:
    members = STACK_POOL if entity_type == "stacks" else ACCOUNTS
    chosen = (
        None if rng.random() < 0.25 else rng.sample(members, rng.randint(0, min(4, len(members))))
    )
    packs = None if rng.random() < 0.25 else _packs(rng)
    return DesiredGroup(
        name=name,
        entity_type=entity_type,
        mode=_mode(rng, entity_type),
        previously=previously,
        agent_pool_id=rng.choice(POOLS),
        absent=not previously and rng.random() < 0.15,
        stacks=frozenset(map(StackRef.parse, chosen))
        if chosen is not None and entity_type == "stacks"
        else None,
        accounts=frozenset(chosen) if chosen is not None and entity_type == "accounts" else None,
        packs=None
        if packs is None
        else tuple(
            PackRef(pack, tag, canonical_json(normalise_config({}, level)), location=HERE)
            for pack, tag, level in sorted(packs)
        ),
        location=HERE,
    )


def scenario(seed: int) -> Scenario:
    """A random live organization and a valid desired state for it, fixed by `seed`."""
    rng = random.Random(seed)
    live = [_live_group(rng, n, "stacks") for n in STACK_GROUPS if rng.random() < 0.5]
    live += [_live_group(rng, n, "accounts") for n in ACCOUNT_GROUPS if rng.random() < 0.5]
    if rng.random() < 0.3:
        live.append({"name": DEFAULT_GROUPS[0], "policyPacks": _packs_spec(rng)})
    live_names = {g["name"] for g in live}
    declared = rng.sample(STACK_GROUPS + ACCOUNT_GROUPS, rng.randint(1, 5))
    taken = set(declared)
    groups = []
    for name in declared:
        same_type = STACK_GROUPS if name in STACK_GROUPS else ACCOUNT_GROUPS
        formers = [n for n in same_type if n in live_names and n not in taken]
        previously: tuple[str, ...] = ()
        if name not in live_names and formers and rng.random() < 0.4:
            previously = (rng.choice(formers),)
            taken.update(previously)
        entity_type: EntityType = "stacks" if name in STACK_GROUPS else "accounts"
        groups.append(_desired_group(rng, name, entity_type, previously))
    if rng.random() < 0.3:
        default = _desired_group(rng, DEFAULT_GROUPS[0], "stacks", ())
        groups.append(
            DesiredGroup(default.name, "stacks", "preventative", packs=default.packs or ())
        )
    return Scenario(live, DesiredState("acme", tuple(groups), prune=rng.random() < 0.4))


# --- the oracle ----------------------------------------------------------------------------------


def members(view: dict[str, Any] | None) -> Members | None:
    """The emulator's view of a group, reduced to what the oracle compares."""
    if view is None:
        return None
    return {
        "entityType": view["entityType"],
        "mode": view["mode"],
        "isOrgDefault": view["isOrgDefault"],
        "stacks": sorted(f"{s['routingProject']}/{s['name']}" for s in view["stacks"]),
        "accounts": sorted(view["accounts"]),
        "packs": sorted(
            (
                p["name"],
                p["versionTag"],
                canonical_json(p.get("config", {})),
                *p.get("environments", []),
            )
            for p in view["appliedPolicyPacks"]
        ),
        "agentPoolId": view.get("agentPoolId", ""),
    }


def snapshot(server: EmulatorServer) -> dict[str, Members | None]:
    return {name: members(server.group("acme", name)) for name in UNIVERSE}


def expected(desired: DesiredState, before: dict[str, Members | None]) -> dict[str, Members | None]:
    """The state the desired state asks for, computed without pgsync's diff."""
    want = dict(before)
    claimed: set[str] = set()
    for group in desired.groups:
        source = group.name if before[group.name] else None
        source = source or next((n for n in group.previously if before[n]), None)
        claimed.update({group.name, *([source] if source else [])})
        if group.absent:
            want[group.name] = None
            continue
        base = (before[source] if source else None) or EMPTY
        if source and source != group.name:
            want[source] = None
        new = {**base, "entityType": group.entity_type, "mode": group.mode}
        if group.stacks is not None:
            new["stacks"] = sorted(map(str, group.stacks))
        if group.accounts is not None:
            new["accounts"] = sorted(group.accounts)
        if group.packs is not None:
            new["packs"] = sorted(
                (p.name, p.version_tag, p.config_json, *p.environments) for p in group.packs
            )
        if group.agent_pool_id is not None:
            new["agentPoolId"] = group.agent_pool_id
        want[group.name] = new
    if desired.prune:
        for name, found in before.items():
            if name not in claimed and found is not None and not found["isOrgDefault"]:
                want[name] = None
    return want


def assert_between(name: str, have: Members, start: Members, end: Members) -> None:
    """Part-way from `start` to `end`: nothing neither has, nothing both keep lost."""
    for key in ("stacks", "accounts", "packs"):
        now, was, will = (set(map(str, m[key])) for m in (have, start, end))
        assert now <= was | will, f"{name}: extra {key} {sorted(now - was - will)}"
        assert was & will <= now, f"{name}: lost {key} {sorted(was & will - now)}"
    for key in ("agentPoolId", "entityType", "mode"):
        assert have[key] in (start[key], end[key]), f"{name}: {key} {have[key]}"


def assert_part_way(
    group: GroupPlan,
    now: dict[str, Members | None],
    before: dict[str, Members | None],
    want: dict[str, Members | None],
) -> None:
    """Where a failed group may stand: between its old and its desired state, never beyond."""
    old_name = group.live_name or group.name
    old, new = before[old_name], want[group.name]
    fresh = {**EMPTY, "entityType": group.entity_type, "mode": group.mode}
    if group.action == "replace":
        assert new is not None
        temp = now[temp_name(group.name)]
        if now[old_name] == old:
            # The old group stays untouched until its replacement is complete.
            if temp is not None:
                assert_between(temp_name(group.name), temp, fresh, new)
            return
        complete = [m for m in (temp, now[group.name]) if m is not None]
        assert complete == [new], f"{group.name}: old group gone before the new one was complete"
        return
    here = [found for name in {group.name, old_name} if (found := now[name]) is not None]
    if not here:
        assert old is None or new is None, f"{group.name} was lost"
        return
    assert len(here) == 1, f"{group.name} exists under both names"
    # A create stops with an empty new group at worst; a delete with the whole old group.
    assert_between(group.name, here[0], old or fresh, new or old or fresh)


REPORT_LINE = re.compile(r"^  (done|skipped|failed|not attempted)\s+(\w+)\s+(\S+)(?::.*)?$")


def check_failure_report(
    message: str,
    plan: Plan,
    now: dict[str, Members | None],
    before: dict[str, Members | None],
    want: dict[str, Members | None],
    *,
    parallelism: int,
) -> None:
    """ApplyFailed lists every planned group in order, and each is where its status says.

    One group at a time, every group before the failed one is done or skipped and none after
    it was attempted. Concurrently that holds step by step (renames, creates, …): no step
    after the failed group's was attempted, and within its step, groups under way when it
    failed may have finished (or failed) too.
    """
    found = [REPORT_LINE.match(line) for line in message.splitlines()]
    reported = [(m.group(1), m.group(3)) for m in found if m is not None]
    assert [name for _, name in reported] == [g.name for g in plan.changed], message
    statuses = [status for status, _ in reported]
    if parallelism == 1:
        stop = statuses.index("failed") if "failed" in statuses else len(statuses)
        assert set(statuses[:stop]) <= {"done", "skipped"}, message
        assert set(statuses[stop + 1 :]) <= {"not attempted"}, message
    else:
        steps = [ACTIONS.index(g.action) for g in plan.changed]
        failed = [step for step, s in zip(steps, statuses, strict=True) if s == "failed"]
        stop = min(failed, default=len(ACTIONS))
        earlier = {s for step, s in zip(steps, statuses, strict=True) if step < stop}
        later = {s for step, s in zip(steps, statuses, strict=True) if step > stop}
        assert earlier <= {"done", "skipped"}, message
        assert later <= {"not attempted"}, message
    for status, group in zip(statuses, plan.changed, strict=True):
        if status == "failed":
            assert_part_way(group, now, before, want)
            continue
        for name in {group.name, group.live_name or group.name, temp_name(group.name)} & set(now):
            if status == "done":
                assert now[name] == want[name], f"{name} reported done but is {now[name]}"
            else:
                assert now[name] == before[name], f"{name} {status} but changed"


# --- the suite -----------------------------------------------------------------------------------


CONVERGED = "converged first time"
APPLY_FAILED = "apply failed (exit 1), re-run converged"
PLAN_FAILED = "plan failed (exit 1, nothing written), re-run converged"


@dataclass(frozen=True)
class Result:
    mix: str
    seed: int
    parallelism: int
    outcome: str
    faults: Counter[str]


@pytest.fixture(scope="module")
def results() -> Iterator[list[Result]]:
    """Collects every scenario's outcome; writes and prints the counts at the end."""
    collected: list[Result] = []
    yield collected
    faults: Counter[str] = sum((r.faults for r in collected), Counter())
    lines = [
        f"fault suite: {len(collected)} scenarios, "
        f"{sum(r.outcome != PLAN_FAILED for r in collected)} applies under faults, "
        f"{faults.total()} faults injected",
        *(f"  {n:3d}  {outcome}" for outcome, n in Counter(r.outcome for r in collected).items()),
        "per mix and parallelism:",
        *(
            f"  {mix} P={p}: "
            + ", ".join(
                f"{o} {n}"
                for o, n in Counter(
                    r.outcome for r in collected if (r.mix, r.parallelism) == (mix, p)
                ).items()
            )
            for mix in MIXES
            for p in PARALLELISM
        ),
        "faults injected: " + ", ".join(f"{kind} {n}" for kind, n in sorted(faults.items())),
    ]
    SUMMARY.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n" + "\n".join(lines))


def apply_once(api: PolicyGroupsApi, desired: DesiredState, parallelism: int = 1) -> Plan:
    """What `pgsync apply` does: read, diff, plan, apply; the plan it applied."""
    live = api.read_live_state(desired)
    plan = build_plan("acme", diff(desired, live))
    assert apply_plan(plan, api, live.catalog, parallelism=parallelism).ok
    return plan


def run_scenario(mix_name: str, seed: int, parallelism: int) -> Result:
    """Apply under faults, check what happened, re-run without faults if it failed, check all.

    With one connection at a time, requests arrive in one order, so the faults they meet
    (drawn in arrival order) and with them the whole run are the same on every run. With
    several, which request meets which fault varies from run to run; the checks hold
    whichever it is.
    """
    case = scenario(seed)
    with EmulatorServer(fixture_from_dict(org_spec(case.live))) as server:
        before = snapshot(server)
        want = expected(case.desired, before)
        client = Client(
            server.url, None, parallelism=parallelism, timeout=TIMEOUT, retry=RETRY, seed=seed
        )
        api = PolicyGroupsApi(client, "acme")
        # Each scenario its own fault seed: with one seed, the first requests (the same in every
        # scenario) would meet the same faults every time.
        mix = MIXES[mix_name]
        server.set_faults(dataclasses.replace(mix, seed=mix.seed + seed))
        live = None
        try:
            live = api.read_live_state(case.desired)
            plan = build_plan("acme", diff(case.desired, live))
            assert apply_plan(plan, api, live.catalog, parallelism=parallelism).ok
            outcome = CONVERGED
        except ApplyFailed as failure:
            server.set_faults(None)
            check_failure_report(
                str(failure), plan, snapshot(server), before, want, parallelism=parallelism
            )
            outcome = APPLY_FAILED
        except (ApiError, TransportError):
            # Reading the live state failed (a read's 500 is not retried, contract §5).
            assert live is None
            assert snapshot(server) == before
            outcome = PLAN_FAILED
        server.set_faults(None)
        faults = Counter(r.fault for r in server.requests if r.fault is not None)
        if outcome != CONVERGED:
            apply_once(api, case.desired, parallelism)
        again = build_plan("acme", diff(case.desired, api.read_live_state(case.desired)))
        client.close()
        final = snapshot(server)
    assert not again.has_changes, [(g.name, g.action, g.changes) for g in again.changed]
    assert final == want
    assert all(final[name] is not None for name in DEFAULT_GROUPS)
    return Result(mix_name, seed, parallelism, outcome, faults)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mix_name", list(MIXES))
@pytest.mark.parametrize("parallelism", PARALLELISM)
def test_apply_under_faults_converges_or_reports_exactly(
    parallelism: int, mix_name: str, seed: int, results: list[Result]
) -> None:
    try:
        results.append(run_scenario(mix_name, seed, parallelism))
    except BaseException as error:
        failure = f"anything else: {type(error).__name__}"
        results.append(Result(mix_name, seed, parallelism, failure, Counter()))
        raise


# --- what the suite found -------------------------------------------------------------------------


def test_rerun_finishes_a_replace_stopped_between_deleting_the_old_group_and_renaming() -> None:
    """The temporary group holds the new group's members: a re-run renames it, never re-creates."""
    fixture = fixture_from_dict(org_spec([{"name": "g0", "stacks": ["web/prod"]}]))
    group = DesiredGroup("g0", "stacks", "audit", stacks=frozenset({StackRef("web", "prod")}))
    desired = DesiredState("acme", (group,))
    with EmulatorServer(fixture) as server, Client(server.url, None, retry=RETRY) as client:
        api = PolicyGroupsApi(client, "acme")
        server.inject_fault(method="PATCH", path=r"\.pgsync-replacing$", status=503)
        with pytest.raises(ApplyFailed):
            apply_once(api, desired)
        assert server.group("acme", "g0") is None
        server.clear_requests()
        apply_once(api, desired)
        writes = [(r.method, r.path.rsplit("/", 1)[-1]) for r in server.writes()]
        final = snapshot(server)
    assert writes == [("PATCH", temp_name("g0"))]
    assert final["g0"] is not None and final["g0"]["mode"] == "audit"
    assert final["g0"]["stacks"] == ["web/prod"]
    assert final[temp_name("g0")] is None


def test_a_replace_leaving_packs_unmanaged_keeps_the_live_packs() -> None:
    """Seen at suite seed 16: packs a replace copies need the org's pack listing to resolve."""
    live = {
        "name": "g0",
        "stacks": ["web/prod"],
        "policyPacks": [{"name": "aws", "versionTag": "1.0.0"}],
    }
    desired = DesiredState("acme", (DesiredGroup("g0", "stacks", "audit"),))
    with EmulatorServer(fixture_from_dict(org_spec([live]))) as server:
        with Client(server.url, None, retry=RETRY) as client:
            apply_once(PolicyGroupsApi(client, "acme"), desired)
        final = snapshot(server)["g0"]
    assert final is not None and final["mode"] == "audit"
    assert (final["stacks"], final["packs"]) == (["web/prod"], [("aws", "1.0.0", "{}")])
