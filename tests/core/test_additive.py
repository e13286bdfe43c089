"""`manage: {LIST: additive}`: the listed members are added, nothing else of the list removed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from builders import (
    applied,
    catalog,
    desired_group,
    live,
    live_group,
    pack_ref,
    stacks,
    state,
)
from pgsync.core.changes import (
    AddAccount,
    AddPack,
    AddStack,
    ConfigurePack,
    RemoveStack,
    UpgradePack,
)
from pgsync.core.diff import GroupDiff, diff, group_changes
from pgsync.core.model import SafetySettings, StackRef
from pgsync.core.plan import build_plan, live_fingerprint
from pgsync.core.safety import evaluate

ADDITIVE_STACKS = frozenset({"stacks"})


def verdict(result: tuple[GroupDiff, ...], name: str) -> GroupDiff:
    return next(d for d in result if d.name == name)


def test_additive_stacks_add_the_listed_ones_and_remove_none() -> None:
    group = desired_group("prod", stacks=stacks("a/1", "a/2"), additive=ADDITIVE_STACKS)
    current = live_group("prod", stacks=stacks("a/2", "b/1", "b/2"))
    found = verdict(diff(state(group), live(current)), "prod")
    assert found.action == "update"
    assert found.changes == (AddStack(StackRef("a", "1")),)


def test_additive_stacks_name_the_stacks_they_leave_alone() -> None:
    group = desired_group("prod", stacks=stacks("a/1"), additive=ADDITIVE_STACKS)
    current = live_group("prod", stacks=stacks("b/1", "b/2", "b/3", "b/4"))
    found = verdict(diff(state(group), live(current)), "prod")
    assert found.left_alone == (("stacks", ("b/1", "b/2", "b/3", "b/4")),)
    assert found.notes == (
        "leaves 4 other stacks alone (manage: additive): b/1, b/2, b/3 and 1 more",
    )


def test_additive_group_whose_listed_stacks_are_all_live_is_unchanged() -> None:
    group = desired_group("prod", stacks=stacks("a/1"), additive=ADDITIVE_STACKS)
    current = live_group("prod", stacks=stacks("a/1", "b/1"))
    found = verdict(diff(state(group), live(current)), "prod")
    assert found.action == "unchanged"
    assert found.notes == ("leaves 1 other stack alone (manage: additive): b/1",)


def test_an_authoritative_list_beside_an_additive_one_still_removes() -> None:
    group = desired_group(
        "prod", stacks=stacks("a/1"), packs=(pack_ref("aws", "1.0.0"),), additive=ADDITIVE_STACKS
    )
    current = live_group(
        "prod",
        stacks=stacks("a/1", "b/1"),
        packs=(applied("aws", "1.0.0"), applied("cost", "2.0.0")),
    )
    found = verdict(diff(state(group), live(current)), "prod")
    assert [c.kind for c in found.changes] == ["removePolicyPack"]


def test_additive_accounts_add_the_listed_ones_and_remove_none() -> None:
    group = desired_group(
        "cloud", "accounts", accounts=frozenset({"aws-prod"}), additive=frozenset({"accounts"})
    )
    current = live_group("cloud", "accounts", accounts=frozenset({"gcp-data"}))
    found = verdict(diff(state(group), live(current)), "cloud")
    assert found.changes == (AddAccount("aws-prod"),)
    assert found.left_alone == (("accounts", ("gcp-data",)),)


def test_additive_accounts_count_children_of_a_listed_parent_as_via_parent_only() -> None:
    group = desired_group(
        "cloud", "accounts", accounts=frozenset({"org"}), additive=frozenset({"accounts"})
    )
    current = live_group("cloud", "accounts", accounts=frozenset({"org", "org/a", "other"}))
    found = verdict(diff(state(group), live(current)), "cloud")
    assert found.via_parent == ("org/a",)
    assert found.left_alone == (("accounts", ("other",)),)


def test_additive_packs_leave_unlisted_live_packs_alone() -> None:
    group = desired_group(
        "prod", packs=(pack_ref("aws", "1.3.0"),), additive=frozenset({"policyPacks"})
    )
    current = live_group("prod", packs=(applied("aws", "1.0.0"), applied("cost", "2.0.0")))
    found = verdict(diff(state(group), live(current)), "prod")
    assert found.changes == (UpgradePack(applied("aws", "1.0.0"), applied("aws", "1.3.0")),)
    assert found.left_alone == (("policyPacks", ("cost",)),)


def test_a_listed_pack_of_an_additive_list_is_still_managed_exactly() -> None:
    group = desired_group(
        "prod", packs=(pack_ref("aws", "1.0.0"),), additive=frozenset({"policyPacks"})
    )
    current = live_group("prod", packs=(applied("aws", "1.0.0", "mandatory"),))
    found = verdict(diff(state(group), live(current)), "prod")
    assert found.changes == (
        ConfigurePack(applied("aws", "1.0.0", "mandatory"), applied("aws", "1.0.0")),
    )


def test_a_new_group_with_additive_lists_gets_what_is_listed() -> None:
    group = desired_group(
        "prod",
        stacks=stacks("a/1"),
        packs=(pack_ref("aws", "1.0.0"),),
        additive=frozenset({"stacks", "policyPacks"}),
    )
    found = verdict(diff(state(group), live()), "prod")
    assert found.action == "create"
    assert [type(c) for c in found.changes] == [AddPack, AddStack]
    assert found.left_alone == ()


def test_verification_of_an_additive_group_accepts_the_extra_live_members() -> None:
    group = desired_group("prod", stacks=stacks("a/1"), additive=ADDITIVE_STACKS)
    after = live_group("prod", stacks=stacks("a/1", "b/1"))
    assert group_changes(group, after, catalog()) == ()


def test_a_replace_keeps_the_members_an_additive_list_leaves_alone() -> None:
    group = desired_group("prod", mode="audit", stacks=stacks("a/1"), additive=ADDITIVE_STACKS)
    current = live_group("prod", stacks=stacks("b/1"))
    found = verdict(diff(state(group), live(current)), "prod")
    assert found.action == "replace"
    assert {c.subject for c in found.changes if isinstance(c, AddStack)} == {"a/1", "b/1"}
    assert found.left_alone == (("stacks", ("b/1",)),)


def test_the_safety_rules_see_no_loss_in_the_stacks_an_additive_list_leaves_alone() -> None:
    mandatory = (applied("aws", "1.0.0", "mandatory"),)
    group = desired_group(
        "prod",
        stacks=stacks("a/1"),
        packs=(pack_ref("aws", "1.0.0", "mandatory"),),
        additive=ADDITIVE_STACKS,
    )
    current = live(live_group("prod", stacks=stacks("b/1"), packs=mandatory))
    plan = build_plan("acme", diff(state(group), current))
    assert evaluate(plan.groups, current, SafetySettings()) == ()


def test_the_safety_rules_see_no_loss_in_the_packs_an_additive_list_leaves_alone() -> None:
    group = desired_group(
        "prod", packs=(pack_ref("cost", "2.0.0"),), additive=frozenset({"policyPacks"})
    )
    current = live(
        live_group("prod", stacks=stacks("b/1"), packs=(applied("aws", "1.0.0", "mandatory"),))
    )
    plan = build_plan("acme", diff(state(group), current))
    assert evaluate(plan.groups, current, SafetySettings()) == ()


def test_the_same_lists_authoritative_would_be_blocked() -> None:
    group = desired_group("prod", stacks=stacks("a/1"), packs=(pack_ref("cost", "2.0.0"),))
    current = live(
        live_group("prod", stacks=stacks("b/1"), packs=(applied("aws", "1.0.0", "mandatory"),))
    )
    plan = build_plan("acme", diff(state(group), current))
    assert any(f.blocked for f in evaluate(plan.groups, current, SafetySettings()))


@given(
    listed=st.frozensets(st.sampled_from(["a/1", "a/2", "b/1", "b/2", "c/1"])),
    have=st.frozensets(st.sampled_from(["a/1", "a/2", "b/1", "b/2", "c/1"])),
)
def test_an_additive_plan_reaches_every_listed_stack_and_removes_none(
    listed: frozenset[str], have: frozenset[str]
) -> None:
    group = desired_group("prod", stacks=stacks(*listed), additive=ADDITIVE_STACKS)
    current = live_group("prod", stacks=stacks(*have))
    changes = verdict(diff(state(group), live(current)), "prod").changes
    assert not any(isinstance(c, RemoveStack) for c in changes)
    added = {c.stack for c in changes if isinstance(c, AddStack)}
    assert added | stacks(*have) == stacks(*listed) | stacks(*have)
    assert added == stacks(*listed) - stacks(*have)


def test_the_fingerprint_leaves_out_what_an_additive_list_leaves_alone() -> None:
    group = desired_group("prod", stacks=stacks("a/1"), additive=ADDITIVE_STACKS)
    before = live_group("prod", stacks=stacks("a/1", "b/1"))
    after = live_group("prod", stacks=stacks("a/1", "b/1", "b/2"))
    assert live_fingerprint(before, group) == live_fingerprint(after, group)


def test_the_fingerprint_still_covers_the_listed_members_of_an_additive_list() -> None:
    group = desired_group("prod", stacks=stacks("a/1", "a/2"), additive=ADDITIVE_STACKS)
    before = live_group("prod", stacks=stacks("a/1", "b/1"))
    after = live_group("prod", stacks=stacks("b/1"))
    assert live_fingerprint(before, group) != live_fingerprint(after, group)


def test_a_replace_copies_into_an_authoritative_group_so_any_live_change_is_seen() -> None:
    group = desired_group("prod", mode="audit", stacks=stacks("a/1"), additive=ADDITIVE_STACKS)
    current = live_group("prod", stacks=stacks("b/1"))
    found = verdict(diff(state(group), live(current)), "prod")
    assert found.desired is not None and found.desired.additive == frozenset()
    attached = live_group("prod", stacks=stacks("b/1", "b/2"))
    assert live_fingerprint(current, found.desired) != live_fingerprint(attached, found.desired)
