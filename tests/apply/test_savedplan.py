"""A saved plan against the files and a fresh plan: what was reviewed is what will be done."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import desired_group, live, live_group, stacks, state
from pgsync.apply.savedplan import (
    input_reasons,
    parse_saved,
    restrict,
    stale_reasons,
    touched_names,
)
from pgsync.core.diff import diff
from pgsync.core.errors import PgsyncError
from pgsync.core.model import DesiredGroup, DesiredState, InputFile, LiveGroup
from pgsync.core.plan import Plan, build_plan
from pgsync.render.text import plan_json

VERSION = "0.1.0"
A_SHA = "sha256:" + "a" * 64
B_SHA = "sha256:" + "b" * 64
C_SHA = "sha256:" + "c" * 64


def planned(desired: DesiredState, *groups: LiveGroup) -> Plan:
    return build_plan(desired.organization, diff(desired, live(*groups)), desired.inputs)


def saved(plan: Plan) -> dict[str, Any]:
    """The plan as `plan --out` writes it and `apply --plan` reads it back."""
    return parse_saved(json.dumps(plan_json(plan, VERSION)), "plan.json")


def with_files(desired: DesiredState, **files: str) -> DesiredState:
    inputs = tuple(InputFile(f"{name}.yaml", digest) for name, digest in files.items())
    return dataclasses.replace(desired, inputs=inputs)


def create(name: str, *members: str) -> DesiredGroup:
    return desired_group(name, stacks=stacks(*members))


# --- parse_saved ---------------------------------------------------------------------------


def test_the_json_of_a_plan_parses_as_it_was_written() -> None:
    plan = planned(with_files(state(create("a", "web/prod")), a=A_SHA))
    assert parse_saved(json.dumps(plan_json(plan, VERSION)), "plan.json") == plan_json(
        plan, VERSION
    )


def test_text_that_is_not_json_is_not_a_plan() -> None:
    with pytest.raises(PgsyncError, match=r"^plan\.json: not a pgsync plan: invalid JSON \("):
        parse_saved("{groups:", "plan.json")


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"inputs": {"files": {}}},
        {"groups": {}, "inputs": {"files": {}}},
        {"groups": ["a"], "inputs": {"files": {}}},
        {"groups": [{"name": 1}], "inputs": {"files": {}}},
        {"groups": []},
        {"groups": [], "inputs": {"files": []}},
        {"groups": [], "inputs": {"files": {"a.yaml": 1}}},
    ],
    ids=[
        "a list",
        "no groups",
        "groups not a list",
        "a group not an object",
        "a group without a name",
        "no inputs",
        "files not an object",
        "a digest not text",
    ],
)
def test_json_of_another_shape_is_not_a_plan(document: Any) -> None:
    with pytest.raises(PgsyncError) as raised:
        parse_saved(json.dumps(document), "plan.json")
    assert str(raised.value) == "plan.json: not a pgsync plan (expected the JSON of `plan --out`)"


# --- input_reasons -------------------------------------------------------------------------


def test_a_plan_belongs_to_the_files_it_was_made_from() -> None:
    desired = with_files(state(create("a")), a=A_SHA, b=B_SHA)
    assert input_reasons(saved(planned(desired)), desired) == []


def test_a_plan_belongs_to_the_same_content_under_other_names() -> None:
    made = with_files(state(create("a")), a=A_SHA)
    elsewhere = dataclasses.replace(made, inputs=(InputFile("checkout/x.yaml", A_SHA),))
    assert input_reasons(saved(planned(made)), elsewhere) == []


def test_a_plan_of_another_format_version_is_refused_first() -> None:
    desired = with_files(state(create("a")), a=A_SHA)
    plan = {**saved(planned(desired)), "formatVersion": 2, "organization": "globex"}
    assert input_reasons(plan, desired) == ["plan formatVersion 2 is not 1"]


def test_a_plan_of_another_organization_is_refused() -> None:
    desired = with_files(state(create("a")), a=A_SHA)
    plan = {**saved(planned(desired)), "organization": "globex"}
    assert input_reasons(plan, desired) == [
        "the plan is for organization 'globex', the files name 'acme'"
    ]


def test_each_file_that_differs_from_the_plans_is_named() -> None:
    before = with_files(state(create("a")), a=A_SHA, gone=C_SHA)
    now = with_files(state(create("a")), a=B_SHA, new=C_SHA.replace("c", "d"))
    assert input_reasons(saved(planned(before)), now) == [
        "the input files differ from the ones the plan was made from:",
        "    a.yaml: changed since the plan was made",
        "    new.yaml: not read for the plan",
        "    gone.yaml: read for the plan, not given now",
    ]


def test_a_file_renamed_and_a_file_changed_name_only_the_change() -> None:
    before = with_files(state(create("a")), a=A_SHA, b=B_SHA)
    now = dataclasses.replace(
        before, inputs=(InputFile("moved.yaml", A_SHA), InputFile("b.yaml", C_SHA))
    )
    assert input_reasons(saved(planned(before)), now)[1:] == [
        "    b.yaml: changed since the plan was made"
    ]


# --- touched_names and restrict --------------------------------------------------------------


def test_touched_names_are_the_groups_the_plan_writes_under_both_names() -> None:
    desired = state(create("new", "web/prod"), desired_group("b", previously=("old",)))
    plan = planned(desired, live_group("old"), live_group("left alone"))
    assert touched_names(saved(plan)) == {"new", "b", "old"}


def test_a_plan_without_changes_touches_no_group() -> None:
    desired = state(desired_group("a"))
    assert touched_names(saved(planned(desired, live_group("a")))) == frozenset()


def test_restrict_keeps_the_groups_named_by_their_name_or_a_former_one() -> None:
    desired = state(desired_group("a"), desired_group("b", previously=("old",)), desired_group("c"))
    kept = restrict(desired, frozenset({"a", "old"}))
    assert [g.name for g in kept.groups] == ["a", "b"]


def test_restrict_keeps_everything_but_the_groups() -> None:
    desired = with_files(state(desired_group("a"), prune=True), a=A_SHA)
    kept = restrict(desired, frozenset())
    assert kept == dataclasses.replace(desired, groups=())


# --- stale_reasons ---------------------------------------------------------------------------


def test_a_plan_is_not_stale_when_nothing_changed() -> None:
    plan = planned(state(create("a", "web/prod")), live_group("b"))
    assert stale_reasons(saved(plan), plan, VERSION) == []


def test_a_group_needed_now_that_the_plan_lacks_is_named_with_its_changes() -> None:
    before = planned(state(desired_group("a")), live_group("a"))
    now = planned(state(desired_group("a"), create("new", "web/prod")), live_group("a"))
    assert stale_reasons(saved(before), now, VERSION) == [
        "group 'new': now needs create, which the plan lacks",
        "    now also needed: addStack web/prod",
    ]


def test_a_group_the_plan_writes_that_needs_nothing_now_is_named() -> None:
    before = planned(state(create("a", "web/prod")))
    now = planned(state(create("a", "web/prod")), live_group("a", stacks=stacks("web/prod")))
    assert stale_reasons(saved(before), now, VERSION) == [
        "group 'a': the plan would create it; nothing is needed now"
    ]


def test_a_group_changed_live_since_the_plan_is_named_with_what_changed() -> None:
    desired = state(create("a", "web/prod"))
    before = planned(desired, live_group("a"))
    now = planned(desired, live_group("a", stacks=stacks("web/dev")))
    assert stale_reasons(saved(before), now, VERSION) == [
        "group 'a': changed live since the plan was made",
        "    now also needed: removeStack web/dev",
    ]


def test_other_requests_for_the_same_live_group_are_named_with_the_changes() -> None:
    before = planned(state(create("a", "web/prod")), live_group("a"))
    now = planned(state(create("a", "web/dev")), live_group("a"))
    assert stale_reasons(saved(before), now, VERSION) == [
        "group 'a': the planned requests differ from the saved ones",
        "    no longer needed: addStack web/prod",
        "    now also needed: addStack web/dev",
    ]


def test_a_rename_is_named_by_its_new_name() -> None:
    before = planned(state(desired_group("b", previously=("old",))), live_group("old"))
    now = planned(state(desired_group("c", previously=("old",))), live_group("old"))
    assert stale_reasons(saved(before), now, VERSION) == [
        "group 'b': the plan would rename it; nothing is needed now",
        "group 'c': now needs rename, which the plan lacks",
        "    now also needed: rename c",
    ]


def test_groups_the_plan_leaves_alone_are_never_stale() -> None:
    desired = state(create("a", "web/prod"))
    before = planned(desired, live_group("other"))
    now = planned(desired, live_group("other", stacks=stacks("web/dev")))
    assert stale_reasons(saved(before), now, VERSION) == []


def test_the_reasons_come_group_by_group_in_name_order() -> None:
    before = planned(state())
    now = planned(state(create("b"), create("a"), create("c")))
    reasons = stale_reasons(saved(before), now, VERSION)
    assert [r.split("'")[1] for r in reasons] == ["a", "b", "c"]


MEMBERS = st.frozensets(st.sampled_from(["web/prod", "web/dev", "payments/prod"]))


@given(
    declared=st.dictionaries(st.sampled_from("abc"), MEMBERS, max_size=3),
    existing=st.dictionaries(st.sampled_from("bcd"), MEMBERS, max_size=3),
)
def test_a_plan_is_never_stale_against_itself(
    declared: dict[str, frozenset[str]], existing: dict[str, frozenset[str]]
) -> None:
    desired = state(*(create(name, *members) for name, members in declared.items()))
    current = [live_group(name, stacks=stacks(*members)) for name, members in existing.items()]
    plan = planned(desired, *current)
    assert stale_reasons(saved(plan), planned(desired, *current), VERSION) == []
