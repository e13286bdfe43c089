"""diff(): what must change, group by group."""

from __future__ import annotations

import dataclasses

import pytest

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
    RemoveAccount,
    RemovePack,
    RemoveStack,
    Rename,
    SetAgentPool,
    UpgradePack,
)
from pgsync.core.diff import GroupDiff, diff
from pgsync.core.errors import ValidationFailed
from pgsync.core.model import DesiredGroup


def verdict(result: tuple[GroupDiff, ...], name: str) -> GroupDiff:
    return next(d for d in result if d.name == name)


def test_missing_group_is_created_with_its_members_and_packs() -> None:
    group = desired_group("prod", stacks=stacks("a/prod"), packs=(pack_ref("aws", "1.3.0"),))
    found = verdict(diff(state(group), live()), "prod")
    assert found.action == "create"
    assert [c.kind for c in found.changes] == ["addPolicyPack", "addStack"]


def test_identical_group_is_unchanged() -> None:
    group = desired_group("prod", stacks=stacks("a/prod"), packs=(pack_ref("aws", "1.0.0"),))
    current = live_group("prod", stacks=stacks("a/prod"), packs=(applied("aws", "1.0.0"),))
    assert verdict(diff(state(group), live(current)), "prod").action == "unchanged"


def test_membership_is_set_difference_regardless_of_order() -> None:
    group = desired_group("prod", stacks=stacks("a/1", "a/2", "a/3"))
    current = live_group("prod", stacks=stacks("a/3", "a/4"))
    found = verdict(diff(state(group), live(current)), "prod")
    assert found.changes == (
        RemoveStack(*stacks("a/4")),
        AddStack(next(iter(stacks("a/1")))),
        AddStack(next(iter(stacks("a/2")))),
    )


def test_omitted_stack_list_is_not_managed() -> None:
    group = desired_group("prod")
    current = live_group("prod", stacks=stacks("a/1"))
    assert verdict(diff(state(group), live(current)), "prod").action == "unchanged"


def test_empty_stack_list_removes_every_member() -> None:
    group = desired_group("prod", stacks=frozenset())
    current = live_group("prod", stacks=stacks("a/1", "a/2"))
    found = verdict(diff(state(group), live(current)), "prod")
    assert [c.kind for c in found.changes] == ["removeStack", "removeStack"]


def test_new_version_tag_is_one_upgrade_change() -> None:
    group = desired_group("prod", packs=(pack_ref("aws", "1.3.0", "mandatory"),))
    current = live_group("prod", packs=(applied("aws", "1.0.0", "mandatory"),))
    (change,) = verdict(diff(state(group), live(current)), "prod").changes
    assert isinstance(change, UpgradePack)
    assert (change.before.version_tag, change.after.version_tag) == ("1.0.0", "1.3.0")
    assert change.after.version == 2


def test_config_change_on_same_version_is_described() -> None:
    group = desired_group("prod", packs=(pack_ref("aws", "1.0.0", "advisory"),))
    current = live_group("prod", packs=(applied("aws", "1.0.0", "mandatory"),))
    (change,) = verdict(diff(state(group), live(current)), "prod").changes
    assert isinstance(change, ConfigurePack)
    assert change.config_changes == ('all.enforcementLevel: "mandatory" → "advisory"',)


def test_undeclared_pack_is_removed_when_packs_are_managed() -> None:
    group = desired_group("prod", packs=())
    current = live_group("prod", packs=(applied("cost", "2.0.0"),))
    (change,) = verdict(diff(state(group), live(current)), "prod").changes
    assert isinstance(change, RemovePack)


def test_previously_renames_instead_of_recreating() -> None:
    group = desired_group("production", previously=("prod",), stacks=stacks("a/1"))
    current = live_group("prod", stacks=stacks("a/1"))
    found = verdict(diff(state(group), live(current)), "production")
    assert found.action == "rename"
    assert found.changes == (Rename("prod", "production"),)


def test_absent_state_deletes_the_live_group() -> None:
    found = verdict(diff(state(desired_group("old", absent=True)), live(live_group("old"))), "old")
    assert found.action == "delete"


def test_absent_group_that_does_not_exist_is_unchanged() -> None:
    assert verdict(diff(state(desired_group("old", absent=True)), live()), "old").action == (
        "unchanged"
    )


def test_undeclared_group_is_unmanaged_without_prune() -> None:
    assert verdict(diff(state(), live(live_group("manual"))), "manual").action == "unmanaged"


def test_undeclared_group_is_deleted_with_prune() -> None:
    result = diff(state(prune=True), live(live_group("manual")))
    assert verdict(result, "manual").action == "delete"


def test_prune_never_deletes_default_groups() -> None:
    result = diff(state(prune=True), live())
    assert {d.action for d in result} == {"unmanaged"}


def test_unread_live_groups_are_unmanaged() -> None:
    current = live()
    current = type(current)("acme", current.groups, current.catalog, frozenset({"other"}))
    assert verdict(diff(state(), current), "other").action == "unmanaged"


def test_accounts_are_added_and_removed_by_name() -> None:
    group = desired_group("cloud", "accounts", accounts=frozenset({"a1", "a2"}))
    current = live_group("cloud", "accounts", accounts=frozenset({"a3"}))
    found = verdict(
        diff(state(group), live(current, cat=catalog(accounts=("a1", "a2", "a3")))), "cloud"
    )
    assert found.changes == (RemoveAccount("a3"), AddAccount("a1"), AddAccount("a2"))


def test_a_member_missing_from_the_account_listing_is_still_removed() -> None:
    group = desired_group("cloud", "accounts", accounts=frozenset())
    current = live_group("cloud", "accounts", accounts=frozenset({"gone"}))
    found = verdict(diff(state(group), live(current, cat=catalog(accounts=("a1",)))), "cloud")
    assert found.changes == (RemoveAccount("gone"),)


def test_agent_pool_is_changed_and_cleared() -> None:
    group = desired_group("prod", agent_pool_id="")
    current = live_group("prod", agent_pool_id="pool-1")
    (change,) = verdict(diff(state(group), live(current)), "prod").changes
    assert change == SetAgentPool("pool-1", "")


def test_add_pack_carries_version_and_display_name_from_listing() -> None:
    group = desired_group("prod", packs=(pack_ref("cost", "2.0.0"),))
    (change,) = verdict(diff(state(group), live()), "prod").changes
    assert isinstance(change, AddPack)
    assert (change.pack.version, change.pack.display_name) == (1, "Cost Controls")


@pytest.mark.parametrize(
    ("group", "message"),
    [
        (desired_group("p", packs=(pack_ref("nope", "1"),)), "unknown policy pack 'nope'"),
        (desired_group("p", packs=(pack_ref("aws", "9.9.9"),)), "has no versionTag '9.9.9'"),
        (desired_group("p", stacks=stacks("x/y")), "unknown stack 'x/y'"),
        (desired_group("p", "accounts", accounts=frozenset({"zz"})), "unknown Insights account"),
    ],
)
def test_unknown_references_are_plan_time_errors(group: object, message: str) -> None:
    assert hasattr(group, "name")
    with pytest.raises(ValidationFailed) as raised:
        diff(state(group), live(cat=catalog(stack_names=("a/1",), accounts=("a1",))))  # type: ignore[arg-type]
    assert message in str(raised.value)
    assert str(raised.value).startswith("groups.yaml:")


def test_mode_change_is_a_replace_that_copies_unmanaged_members() -> None:
    group = desired_group("prod", mode="audit")
    current = live_group("prod", stacks=stacks("a/1"), packs=(applied("aws", "1.0.0"),))
    found = verdict(diff(state(group), live(current)), "prod")
    assert found.action == "replace"
    assert [c.kind for c in found.changes] == ["replace", "addPolicyPack", "addStack"]
    assert found.desired is not None and found.desired.stacks == stacks("a/1")


def test_interrupted_replace_with_old_group_gone_finishes_as_a_rename() -> None:
    group = desired_group("prod", mode="audit")
    temp = live_group("prod.pgsync-replacing", mode="audit")
    found = verdict(diff(state(group), live(temp)), "prod")
    assert (found.action, found.changes) == ("rename", (Rename("prod.pgsync-replacing", "prod"),))


def test_interrupted_replace_continues_from_the_temporary_group() -> None:
    group = desired_group("prod", mode="audit", stacks=stacks("a/1", "a/2"))
    old = live_group("prod", stacks=stacks("a/1", "a/2"))
    temp = live_group("prod.pgsync-replacing", mode="audit", stacks=stacks("a/1"))
    found = verdict(diff(state(group), live(old, temp)), "prod")
    assert found.action == "replace" and found.temp == temp
    assert [(c.kind, c.subject) for c in found.changes] == [
        ("replace", "stacks/audit"),
        ("addStack", "a/2"),
    ]


def test_temporary_group_no_longer_wanted_is_rolled_back() -> None:
    result = diff(
        state(desired_group("prod")),
        live(live_group("prod"), live_group("prod.pgsync-replacing", mode="audit")),
    )
    assert verdict(result, "prod").action == "unchanged"
    assert verdict(result, "prod.pgsync-replacing").action == "delete"


@pytest.mark.parametrize("prune", [False, True])
def test_temporary_group_of_an_undeclared_group_is_left_alone(prune: bool) -> None:
    desired = dataclasses.replace(state(), prune=prune)
    found = verdict(
        diff(desired, live(live_group("gone.pgsync-replacing"))), "gone.pgsync-replacing"
    )
    assert found.action == "unmanaged"
    assert "never deleted by pgsync" in found.notes[0]


def test_names_with_the_temporary_suffix_are_reserved() -> None:
    with pytest.raises(ValidationFailed, match="pgsync's own"):
        diff(state(desired_group("x.pgsync-replacing")), live())


def test_default_group_mode_cannot_change() -> None:
    group = desired_group("default-policy-group", mode="audit")
    with pytest.raises(ValidationFailed, match="default group 'default-policy-group' is mode"):
        diff(state(group), live())


def test_default_group_cannot_be_renamed() -> None:
    group = desired_group("mine", previously=("default-policy-group",))
    with pytest.raises(ValidationFailed, match="cannot be renamed"):
        diff(state(group), live())


def test_both_name_and_former_name_live_is_an_error() -> None:
    group = desired_group("production", previously=("prod",))
    with pytest.raises(ValidationFailed, match="both exist live"):
        diff(state(group), live(live_group("prod"), live_group("production")))


def test_all_plan_time_problems_are_reported_together() -> None:
    one = desired_group("p", packs=(pack_ref("nope", "1"),))
    two = desired_group("q", stacks=stacks("x/y"))
    with pytest.raises(ValidationFailed) as raised:
        diff(state(one, two), live(cat=catalog(stack_names=("a/1",))))
    assert len(raised.value.problems) == 2


def test_child_of_a_declared_parent_is_kept_and_not_drift() -> None:
    group = desired_group("cloud", "accounts", accounts=frozenset({"a1"}))
    current = live_group("cloud", "accounts", accounts=frozenset({"a1", "a1/child"}))
    found = verdict(diff(state(group), live(current, cat=catalog(accounts=("a1",)))), "cloud")
    assert (found.action, found.changes, found.via_parent) == ("unchanged", (), ("a1/child",))
    assert found.notes == ("account a1/child via parent 'a1': kept, the service adds it",)


def test_child_whose_parent_is_not_declared_is_removed() -> None:
    group = desired_group("cloud", "accounts", accounts=frozenset({"a2"}))
    current = live_group("cloud", "accounts", accounts=frozenset({"a2", "a1/child"}))
    found = verdict(diff(state(group), live(current, cat=catalog(accounts=("a2",)))), "cloud")
    assert (found.changes, found.via_parent) == ((RemoveAccount("a1/child"),), ())


def test_many_children_of_one_parent_make_one_note() -> None:
    kids = frozenset(f"org/{i}" for i in range(5))
    group = desired_group("cloud", "accounts", accounts=frozenset({"org"}))
    current = live_group("cloud", "accounts", accounts=kids | {"org"})
    found = verdict(diff(state(group), live(current, cat=catalog(accounts=("org",)))), "cloud")
    assert found.notes == (
        "accounts org/0, org/1, org/2 and 2 more via parent 'org': kept, the service adds them",
    )


def test_a_default_group_under_any_name_keeps_its_mode_when_the_file_gives_none() -> None:
    current = live_group("Audit Default", "accounts", "audit", is_default=True)
    found = verdict(
        diff(state(DesiredGroup("Audit Default", None, None)), live(current)), "Audit Default"
    )
    assert (found.action, found.changes) == ("unchanged", ())


def test_a_default_name_on_an_ordinary_group_decides_nothing() -> None:
    current = live_group("default-audit-policy-group")
    group = DesiredGroup("default-audit-policy-group", None, None)
    found = verdict(diff(state(group), live(current)), "default-audit-policy-group")
    assert found.action == "unchanged"


def test_an_omitted_entity_type_is_never_a_change() -> None:
    current = live_group("cloud", "accounts", "audit")
    found = verdict(diff(state(DesiredGroup("cloud", None, "audit")), live(current)), "cloud")
    assert found.action == "unchanged"


def test_a_written_entity_type_that_differs_is_a_replace() -> None:
    current = live_group("cloud", "accounts", "audit")
    group = DesiredGroup("cloud", "stacks", "audit")
    assert verdict(diff(state(group), live(current)), "cloud").action == "replace"


def test_a_wanted_child_whose_parent_goes_is_added_on_its_own() -> None:
    group = desired_group("cloud", "accounts", accounts=frozenset({"org/eu"}))
    current = live_group("cloud", "accounts", accounts=frozenset({"org", "org/eu", "org/us"}))
    cat = catalog(accounts=("org", "org/eu", "org/us"))
    found = verdict(diff(state(group), live(current, cat=cat)), "cloud")
    assert found.changes == (RemoveAccount("org"), RemoveAccount("org/us"), AddAccount("org/eu"))


def test_a_preventative_replacement_says_which_accounts_leave() -> None:
    current = live_group("cloud", "accounts", accounts=frozenset({"a1", "a2"}))
    found = verdict(
        diff(state(DesiredGroup("cloud", None, "preventative")), live(current)), "cloud"
    )
    assert found.action == "replace"
    assert found.notes == ("accounts a1, a2 leave: a preventative group holds no accounts",)
    assert found.desired is not None and found.desired.accounts == frozenset()
