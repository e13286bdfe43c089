"""make_plan(): the one plan of every command, judged by the safety rules as it is made."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import pytest

from builders import applied, catalog, desired_group, live, live_group, stacks, state
from pgsync.core.diff import diff
from pgsync.core.errors import ValidationFailed
from pgsync.core.impact import plan_effect
from pgsync.core.model import Coverage, DesiredState, InputFile, LiveGroup, LiveState
from pgsync.core.plan import build_plan
from pgsync.core.planning import make_plan, needs_every_group
from pgsync.core.replace import temp_name
from pgsync.core.safety import evaluate

MANDATORY = (applied("aws", "1.0.0", "mandatory"),)


def losing_pack() -> tuple[DesiredState, LiveState]:
    """prod drops its mandatory pack: a blocked change, beside a new group and an unchanged one."""
    current = live(
        live_group("prod", stacks=stacks("web/prod"), packs=MANDATORY),
        live_group("steady", stacks=stacks("web/dev")),
    )
    desired = state(
        desired_group("prod", packs=()),
        desired_group("steady", stacks=stacks("web/dev")),
        desired_group("new", stacks=stacks("svc/s001")),
    )
    return desired, current


class Reader:
    """A `read_groups` that answers from a fixed set of groups and records what it was asked."""

    def __init__(self, *groups: LiveGroup) -> None:
        self.groups = {g.name: g for g in groups}
        self.asked: list[list[str]] = []

    def __call__(self, names: Sequence[str]) -> Mapping[str, LiveGroup]:
        self.asked.append(list(names))
        return {n: self.groups[n] for n in names if n in self.groups}


def with_unread(current: LiveState, *names: str) -> LiveState:
    return dataclasses.replace(current, unread=frozenset(names))


def test_the_plan_comes_with_its_safety_findings() -> None:
    plan = make_plan(*losing_pack())
    assert [f.id for f in plan.blocked] == ["mandatory-loss:prod:aws"]


def test_it_is_the_plan_of_diff_and_build_plan_judged_by_evaluate_with_its_effect() -> None:
    desired, current = losing_pack()
    unjudged = build_plan("acme", diff(desired, current), desired.inputs, current.coverage)
    findings = evaluate(unjudged.groups, current, desired.safety)
    impact = plan_effect(unjudged.groups, current).impact
    assert make_plan(desired, current) == dataclasses.replace(
        unjudged, findings=findings, impact=impact
    )


def test_allow_acknowledges_besides_the_files_allow_entries() -> None:
    desired, current = losing_pack()
    by_option = make_plan(desired, current, allow=["mandatory-loss:prod:aws"])
    by_file = make_plan(
        dataclasses.replace(desired, allow=frozenset({"mandatory-loss:prod:aws"})), current
    )
    for plan in (by_option, by_file):
        assert plan.blocked == ()
        assert [f.id for f in plan.findings if f.allowed] == ["mandatory-loss:prod:aws"]


def test_without_safety_the_plan_has_no_findings_no_impact_and_the_same_groups() -> None:
    desired, current = losing_pack()
    unjudged = make_plan(desired, current, safety=False)
    assert (unjudged.findings, unjudged.impact) == ((), None)
    assert unjudged.groups == make_plan(desired, current).groups


def test_groups_known_by_name_only_are_read_when_a_change_could_unprotect() -> None:
    current = with_unread(live(live_group("prod", stacks=stacks("web/prod", "web/dev"))), "also")
    reader = Reader(live_group("also", stacks=stacks("web/dev")))
    desired = state(desired_group("prod", stacks=stacks("web/prod")))
    plan = make_plan(desired, current, read_groups=reader)
    assert reader.asked == [["also"]]
    # web/dev stays in 'also', so it is not left unprotected.
    assert plan.findings == ()


def test_without_read_groups_the_rules_err_towards_blocking() -> None:
    current = with_unread(live(live_group("prod", stacks=stacks("web/prod", "web/dev"))), "also")
    desired = state(desired_group("prod", stacks=stacks("web/prod")))
    assert [f.id for f in make_plan(desired, current).blocked] == ["unprotected:prod"]


def test_no_group_is_read_for_a_plan_that_takes_nothing_away() -> None:
    current = with_unread(live(live_group("prod", stacks=stacks("web/prod"))), "also")
    reader = Reader(live_group("also"))
    desired = state(desired_group("prod", stacks=stacks("web/prod", "web/dev")))
    make_plan(desired, current, read_groups=reader)
    assert reader.asked == []


def test_groups_read_for_the_rules_are_not_planned() -> None:
    current = with_unread(live(live_group("prod", stacks=stacks("web/prod", "web/dev"))), "also")
    desired = state(desired_group("prod", stacks=stacks("web/prod")))
    read = make_plan(desired, current, read_groups=Reader(live_group("also")))
    assert read.groups == make_plan(desired, current).groups
    assert [g.live for g in read.groups if g.name == "also"] == [None]


def test_needs_every_group_only_with_unread_groups_and_a_possible_loss() -> None:
    current = live(live_group("prod", stacks=stacks("web/prod")))
    removing = make_plan(state(desired_group("prod", stacks=frozenset())), current).groups
    adding = make_plan(state(desired_group("prod", stacks=stacks("web/prod", "web/dev"))), current)
    assert needs_every_group(removing, with_unread(current, "also"))
    assert not needs_every_group(removing, current)
    assert not needs_every_group(adding.groups, with_unread(current, "also"))


def test_only_own_temporaries_of_undeclared_groups_are_rolled_back() -> None:
    temp = temp_name("gone")
    current = live(live_group("gone"), live_group(temp))
    desired = state()
    own = make_plan(desired, current, own_temporaries=frozenset({temp}))
    foreign = make_plan(desired, current)
    assert {g.name: g.action for g in own.groups}[temp] == "delete"
    assert {g.name: g.action for g in foreign.groups}[temp] == "unmanaged"


def test_plan_time_problems_are_raised_all_at_once() -> None:
    current = live(live_group("new"), live_group("old"))
    desired = state(desired_group("new", previously=("old",)))
    with pytest.raises(ValidationFailed) as raised:
        make_plan(desired, current)
    assert "its former name 'old' both exist live" in str(raised.value)


def test_the_plan_keeps_the_files_read_and_the_coverage() -> None:
    desired, current = losing_pack()
    files = (InputFile("groups.yaml", "sha256:" + "a" * 64),)
    coverage = Coverage(1, 1, 0, 203, 0, 3)
    plan = make_plan(
        dataclasses.replace(desired, inputs=files),
        dataclasses.replace(current, coverage=coverage),
    )
    assert (plan.organization, plan.inputs, plan.coverage) == ("acme", files, coverage)


def test_groups_are_read_when_a_stack_may_leave_the_default_groups_mandatory_pack() -> None:
    current = with_unread(live(live_group("prod"), cat=catalog(("web/prod",))), "also")
    default = live_group("default-policy-group", is_default=True, packs=MANDATORY)
    current = dataclasses.replace(current, groups={**current.groups, default.name: default})
    reader = Reader(live_group("also", stacks=stacks("web/prod"), packs=MANDATORY))
    plan = make_plan(
        state(desired_group("prod", stacks=stacks("web/prod"))), current, read_groups=reader
    )
    assert reader.asked == [["also"]]
    # web/prod is in 'also': the default group never reached it, so it loses nothing.
    assert plan.findings == ()
