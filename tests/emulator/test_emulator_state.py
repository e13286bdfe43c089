"""The emulator's semantics without sockets: state rules, JSON views, fixtures, state files."""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgsync.emulator import (
    FixtureError,
    HttpError,
    demo_fixture,
    fixture_from_dict,
    load_fixture,
    schemas,
    views,
)
from pgsync.emulator.state import Org, State
from pgsync.emulator.statefile import read_state_file, write_state_file

DATA = Path(__file__).parents[1] / "data" / "emulator"
EXAMPLE = Path(__file__).parents[2] / "examples" / "policygroups.yaml"

SMALL: dict[str, Any] = {
    "organizations": {
        "acme": {
            "stacks": [
                {"name": "payments/prod", "tags": {"env": "prod", "team": "payments"}},
                {"name": "web/prod", "tags": {"env": "prod"}},
                {"name": "ml/dev", "resourceCount": 5, "tags": {"env": "dev"}},
            ],
            "policyPacks": [
                {"name": "aws", "displayName": "AWS", "versionTags": ["1.0.0", "1.3.0"]},
                {"name": "cost", "versionTags": ["2.0.0"]},
            ],
            "accounts": [
                {"name": "aws-prod", "provider": "aws", "resourceCount": 100},
                {"name": "aws-prod/eu", "provider": "aws", "parent": "aws-prod"},
                {
                    "name": "aws-prod/us",
                    "provider": "aws",
                    "parent": "aws-prod",
                    "tags": {"x": "1"},
                },
                {"name": "gcp", "provider": "gcp", "tags": {"env": "prod"}},
            ],
        }
    }
}
STACK_CONTEXT = {"__type": "PermissionExpressionStack"}
ACCOUNT_CONTEXT = {"__type": "PermissionExpressionInsightsAccount"}


def small(api: str = "current", **org: Any) -> dict[str, Any]:
    data = copy.deepcopy(SMALL)
    data["api"] = api
    data["organizations"]["acme"].update(org)
    return data


@pytest.fixture
def org() -> Org:
    return fixture_from_dict(small()).new_state().org("acme")


@pytest.fixture
def legacy() -> Org:
    return fixture_from_dict(small("legacy")).new_state().org("acme")


def pack(name: str = "aws", tag: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    return {"name": name, "displayName": name, "version": 99, "versionTag": tag, **extra}


def stack(ref: str) -> dict[str, str]:
    project, name = ref.split("/")
    return {"routingProject": project, "name": name}


def equal(key: str, value: str, context: dict[str, str] = STACK_CONTEXT) -> dict[str, Any]:
    return {
        "__type": "PermissionExpressionEqual",
        "left": {"__type": "PermissionExpressionTag", "context": context, "key": key},
        "right": {"__type": "PermissionLiteralExpressionString", "value": value},
    }


def status_of(call: Any, *args: Any, **kwargs: Any) -> int:
    with pytest.raises(HttpError) as caught:
        call(*args, **kwargs)
    return caught.value.status


def message_of(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(HttpError) as caught:
        call(*args, **kwargs)
    return caught.value.message


def view(org: Org, name: str) -> dict[str, Any]:
    return views.group_view(org, org.group(name))


def patch(org: Org, name: str, *updates: dict[str, Any]) -> None:
    org.update_group(name, list(updates), single=len(updates) == 1)


# --- groups -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "entity_type", "mode"),
    [
        ("default-policy-group", "stacks", "preventative"),
        ("default-accounts-policy-group", "accounts", "audit"),
    ],
)
def test_every_org_has_both_default_groups(
    org: Org, name: str, entity_type: str, mode: str
) -> None:
    group = org.group(name)
    assert (group.entity_type, group.mode, group.is_org_default) == (entity_type, mode, True)


@pytest.mark.parametrize(
    ("body", "entity_type", "mode"),
    [
        ({}, "stacks", "preventative"),
        ({"entityType": "stacks"}, "stacks", "preventative"),
        ({"entityType": "accounts"}, "accounts", "audit"),
        ({"mode": "preventative"}, "stacks", "preventative"),
        ({"mode": "audit"}, "accounts", "audit"),
        ({"entityType": "stacks", "mode": "audit"}, "stacks", "audit"),
    ],
)
def test_create_derives_the_entity_type_and_mode_from_each_other(
    org: Org, body: dict[str, str], entity_type: str, mode: str
) -> None:
    org.create_group({"name": "g", **body})
    assert (org.group("g").entity_type, org.group("g").mode) == (entity_type, mode)


def test_create_of_a_preventative_accounts_group_is_400(org: Org) -> None:
    body = {"name": "g", "entityType": "accounts", "mode": "preventative"}
    assert status_of(org.create_group, body) == 400


def test_create_keeps_the_agent_pool(org: Org) -> None:
    org.create_group({"name": "g", "agentPoolId": "pool-1"})
    assert org.group("g").agent_pool_id == "pool-1"


def test_create_group_with_an_existing_name_is_409(org: Org) -> None:
    assert status_of(org.create_group, {"name": "default-policy-group"}) == 409


@pytest.mark.parametrize("name", ["Prod Stacks", "a", "x" * 100, "team_a.prod-1", "...", "A B  C"])
def test_group_names_of_letters_digits_dashes_underscores_dots_and_spaces_are_valid(
    org: Org, name: str
) -> None:
    org.create_group({"name": name})
    assert org.group(name).name == name


@pytest.mark.parametrize(
    "name", ["", " lead", "trail ", "x" * 101, "a/b", "naïve", "tab\tname", "semi;colon"]
)
def test_group_names_outside_the_rule_are_400_naming_it(org: Org, name: str) -> None:
    assert "1-100 characters of letters, digits" in message_of(org.create_group, {"name": name})


@pytest.mark.parametrize(
    ("name", "reason"),
    [("metadata", "'metadata' is reserved"), (".", "not a valid path segment"), ("..", "segment")],
)
def test_unaddressable_group_names_are_400(org: Org, name: str, reason: str) -> None:
    assert reason in message_of(org.create_group, {"name": name})


@pytest.mark.parametrize("name", ["default-policy-group", "default-accounts-policy-group"])
def test_default_groups_cannot_be_deleted(org: Org, name: str) -> None:
    assert status_of(org.delete_group, name) == 400


@pytest.mark.parametrize("name", ["default-policy-group", "default-accounts-policy-group"])
def test_default_groups_cannot_be_renamed(org: Org, name: str) -> None:
    assert status_of(patch, org, name, {"newName": "x"}) == 400


def test_protections_follow_is_org_default_not_the_name() -> None:
    names = {"preventative": "default-preventative-policy-group", "audit": "Audit Defaults"}
    acme = fixture_from_dict(small(defaultGroups=names)).new_state().org("acme")
    acme.create_group({"name": "default-policy-group"})
    acme.delete_group("default-policy-group")
    assert status_of(acme.delete_group, "default-preventative-policy-group") == 400
    assert status_of(patch, acme, "Audit Defaults", {"newName": "x"}) == 400


def test_newer_default_groups_have_the_usual_types_and_modes() -> None:
    names = {
        "preventative": "default-preventative-policy-group",
        "audit": "default-audit-policy-group",
    }
    acme = fixture_from_dict(small(defaultGroups=names)).new_state().org("acme")
    defaults = {n: (g.entity_type, g.mode) for n, g in acme.groups.items() if g.is_org_default}
    assert defaults == {
        "default-preventative-policy-group": ("stacks", "preventative"),
        "default-audit-policy-group": ("accounts", "audit"),
    }


def test_delete_unknown_group_is_404(org: Org) -> None:
    assert status_of(org.delete_group, "nope") == 404


def test_rename_moves_the_group_with_its_members(org: Org) -> None:
    org.create_group({"name": "prod"})
    patch(org, "prod", {"addStack": stack("web/prod")})
    patch(org, "prod", {"newName": "Production Stacks"})
    assert "prod" not in org.groups
    assert org.group("Production Stacks").stacks == {("web", "prod")}


@pytest.mark.parametrize(
    ("new_name", "status"), [("default-policy-group", 409), ("metadata", 400), (" x", 400)]
)
def test_rename_to_a_taken_or_invalid_name_fails(org: Org, new_name: str, status: int) -> None:
    org.create_group({"name": "prod"})
    assert status_of(patch, org, "prod", {"newName": new_name}) == status


# --- membership -----------------------------------------------------------------------------


def test_add_stack_of_an_unknown_stack_is_404_naming_it(org: Org) -> None:
    assert message_of(patch, org, "default-policy-group", {"addStack": stack("x/y")}) == (
        "Stack 'x/y' not found"
    )


@pytest.mark.parametrize(
    "update",
    [
        {"addPolicyPack": pack("nope")},
        {"removePolicyPack": pack("nope")},
        {"removeStack": stack("x/y")},
        {"addInsightsAccount": {"name": "nope"}},
    ],
)
def test_references_unknown_to_the_org_are_404(org: Org, update: dict[str, Any]) -> None:
    assert status_of(patch, org, "default-accounts-policy-group", update) == 404


def test_an_audit_group_holds_stacks_and_accounts_whatever_its_entity_type(org: Org) -> None:
    patch(org, "default-accounts-policy-group", {"addStack": stack("web/prod")})
    org.create_group({"name": "g", "entityType": "stacks", "mode": "audit"})
    patch(org, "g", {"addInsightsAccount": {"name": "gcp"}})
    assert view(org, "default-accounts-policy-group")["stacks"] == [stack("web/prod")]
    assert view(org, "g")["accounts"] == ["gcp"]


@pytest.mark.parametrize("key", ["addInsightsAccount", "removeInsightsAccount"])
def test_a_preventative_group_holds_no_accounts(org: Org, key: str) -> None:
    assert message_of(patch, org, "default-policy-group", {key: {"name": "gcp"}}) == (
        "Policy group 'default-policy-group' is preventative: it holds stacks only"
    )


def test_an_account_reference_may_carry_the_old_full_object(org: Org) -> None:
    full = {"name": "gcp", "id": "x", "provider": "gcp", "ownedBy": {}, "extra": True}
    patch(org, "default-accounts-policy-group", {"removeInsightsAccount": full})
    assert "gcp" not in view(org, "default-accounts-policy-group")["accounts"]


def test_removing_a_non_member_is_a_silent_no_op(org: Org) -> None:
    org.create_group({"name": "g"})
    patch(org, "g", {"removeStack": stack("web/prod")})
    patch(org, "g", {"removePolicyPack": pack()})
    assert view(org, "g")["stacks"] == view(org, "g")["appliedPolicyPacks"] == []


def test_add_policy_pack_upserts_by_name_replacing_the_entry(org: Org) -> None:
    first = pack(config={"all": {"enforcementLevel": "mandatory"}}, environments=["e/x"])
    patch(org, "default-policy-group", {"addPolicyPack": first})
    second = {**pack(tag="1.3.0"), "config": {}, "environments": []}
    patch(org, "default-policy-group", {"addPolicyPack": second})
    assert view(org, "default-policy-group")["appliedPolicyPacks"] == [
        {"name": "aws", "displayName": "AWS", "version": 2, "versionTag": "1.3.0"}
    ]


def test_upsert_without_config_or_environments_keeps_the_old_ones(org: Org) -> None:
    first = pack(config={"all": {"enforcementLevel": "mandatory"}}, environments=["e/x"])
    patch(org, "default-policy-group", {"addPolicyPack": first})
    patch(org, "default-policy-group", {"addPolicyPack": pack(tag="1.3.0")})
    [applied] = view(org, "default-policy-group")["appliedPolicyPacks"]
    assert (applied["config"], applied["environments"]) == (
        {"all": {"enforcementLevel": "mandatory"}},
        ["e/x"],
    )


def test_pack_version_is_rewritten_from_the_tag_and_display_name_from_the_org(org: Org) -> None:
    body = {**pack(tag="1.0.0"), "displayName": "Made Up", "version": 42}
    patch(org, "default-policy-group", {"addPolicyPack": body})
    [applied] = view(org, "default-policy-group")["appliedPolicyPacks"]
    assert (applied["displayName"], applied["version"]) == ("AWS", 1)


def test_unknown_version_tag_is_stored_verbatim_with_version_0(org: Org) -> None:
    patch(org, "default-policy-group", {"addPolicyPack": pack(tag="9.9.9")})
    [applied] = view(org, "default-policy-group")["appliedPolicyPacks"]
    assert (applied["versionTag"], applied["version"]) == ("9.9.9", 0)


def test_agent_pool_id_is_set_and_an_empty_string_clears_it(org: Org) -> None:
    org.create_group({"name": "g"})
    patch(org, "g", {"agentPoolId": "pool-9"})
    assert view(org, "g")["agentPoolId"] == "pool-9"
    patch(org, "g", {"agentPoolId": ""})
    assert "agentPoolId" not in view(org, "g")


# --- child accounts --------------------------------------------------------------------------


@pytest.fixture
def cloud(org: Org) -> Org:
    org.create_group({"name": "cloud", "mode": "audit"})
    patch(org, "cloud", {"addInsightsAccount": {"name": "aws-prod"}})
    return org


def test_a_group_holding_a_parent_lists_its_children(cloud: Org) -> None:
    assert view(cloud, "cloud")["accounts"] == ["aws-prod", "aws-prod/eu", "aws-prod/us"]


def test_children_are_explicit_members_and_counted(cloud: Org) -> None:
    members = views.account_member_items(cloud, cloud.group("cloud"), None)
    assert [(m["name"], m["source"]) for m in members] == [
        ("aws-prod", "explicit"),
        ("aws-prod/eu", "explicit"),
        ("aws-prod/us", "explicit"),
    ]
    [summary] = [s for s in views.group_list(cloud)["policyGroups"] if s["name"] == "cloud"]
    assert summary["numAccounts"] == 3


def test_removing_a_child_of_a_member_parent_is_a_silent_no_op(cloud: Org) -> None:
    patch(cloud, "cloud", {"addInsightsAccount": {"name": "aws-prod/eu"}})
    patch(cloud, "cloud", {"removeInsightsAccount": {"name": "aws-prod/eu"}})
    patch(cloud, "cloud", {"removeInsightsAccount": {"name": "aws-prod"}})
    assert view(cloud, "cloud")["accounts"] == ["aws-prod/eu"]


def test_removing_the_parent_drops_the_children_not_added_themselves(cloud: Org) -> None:
    patch(cloud, "cloud", {"addInsightsAccount": {"name": "aws-prod/us"}})
    patch(cloud, "cloud", {"removeInsightsAccount": {"name": "aws-prod"}})
    assert view(cloud, "cloud")["accounts"] == ["aws-prod/us"]


def test_a_child_of_a_non_member_parent_can_be_removed(org: Org) -> None:
    org.create_group({"name": "cloud", "mode": "audit"})
    patch(org, "cloud", {"addInsightsAccount": {"name": "aws-prod/eu"}})
    patch(org, "cloud", {"removeInsightsAccount": {"name": "aws-prod/eu"}})
    assert view(org, "cloud")["accounts"] == []


# --- several fields in one update, whole lists ----------------------------------------------


def test_a_plain_patch_may_combine_several_fields(org: Org) -> None:
    org.create_group({"name": "g", "mode": "audit"})
    update = {
        "addStack": stack("web/prod"),
        "addPolicyPack": pack(),
        "addInsightsAccount": {"name": "gcp"},
        "newName": "h",
        "agentPoolId": "p",
    }
    org.update_group("g", [update], single=True)
    group = view(org, "h")
    assert (group["stacks"], group["accounts"], group["agentPoolId"]) == (
        [stack("web/prod")],
        ["gcp"],
        "p",
    )
    assert [p["name"] for p in group["appliedPolicyPacks"]] == ["aws"]


def test_one_patch_runs_its_add_before_its_remove_of_the_same_pack(org: Org) -> None:
    patch(org, "default-policy-group", {"addPolicyPack": pack()})
    upgrade = {"removePolicyPack": pack(), "addPolicyPack": pack(tag="1.3.0")}
    org.update_group("default-policy-group", [upgrade], single=True)
    assert view(org, "default-policy-group")["appliedPolicyPacks"] == []


def test_whole_list_stacks_replace_the_explicit_stacks(org: Org) -> None:
    patch(org, "default-policy-group", {"stacks": [stack("ml/dev"), stack("web/prod")]})
    assert view(org, "default-policy-group")["stacks"] == [stack("ml/dev"), stack("web/prod")]


def test_whole_list_accounts_are_names_and_bring_children(org: Org) -> None:
    patch(org, "default-accounts-policy-group", {"insightsAccounts": ["aws-prod"]})
    assert view(org, "default-accounts-policy-group")["accounts"] == [
        "aws-prod",
        "aws-prod/eu",
        "aws-prod/us",
    ]


def test_whole_list_packs_resolve_a_bare_name_to_the_latest_version(org: Org) -> None:
    patch(org, "default-policy-group", {"addPolicyPack": pack(config={"all": {}})})
    entries = [{"name": "aws"}, {"name": "cost", "version": 1, "config": {"x": {"y": 1}}}]
    patch(org, "default-policy-group", {"policyPacks": entries})
    assert view(org, "default-policy-group")["appliedPolicyPacks"] == [
        {"name": "aws", "displayName": "AWS", "version": 2, "versionTag": "1.3.0"},
        {
            "name": "cost",
            "displayName": "cost",
            "version": 1,
            "versionTag": "2.0.0",
            "config": {"x": {"y": 1}},
        },
    ]


@pytest.mark.parametrize(
    ("update", "status"),
    [
        ({"stacks": [stack("web/prod"), stack("x/y")]}, 404),
        ({"policyPacks": [{"name": "aws"}, {"name": "nope"}]}, 404),
        ({"policyPacks": [{"name": "aws", "version": 7}]}, 404),
        ({"policyPacks": [{"name": "aws"}, {"name": "aws", "versionTag": "1.0.0"}]}, 400),
    ],
)
def test_a_whole_list_with_a_bad_entry_changes_nothing(
    org: Org, update: dict[str, Any], status: int
) -> None:
    patch(org, "default-policy-group", {"addPolicyPack": pack("cost", "2.0.0")})
    before = view(org, "default-policy-group")
    assert status_of(patch, org, "default-policy-group", update) == status
    assert view(org, "default-policy-group") == before


def test_whole_list_accounts_on_a_preventative_group_are_400(org: Org) -> None:
    assert status_of(patch, org, "default-policy-group", {"insightsAccounts": ["gcp"]}) == 400


def test_a_whole_list_wins_over_an_add_in_the_same_patch(org: Org) -> None:
    org.create_group({"name": "g"})
    org.update_group("g", [{"addStack": stack("ml/dev"), "stacks": []}], single=True)
    assert view(org, "g")["stacks"] == []


def test_batch_runs_adds_before_removes_so_remove_then_add_of_a_pack_loses_it(org: Org) -> None:
    patch(org, "default-policy-group", {"addPolicyPack": pack()})
    patch(
        org,
        "default-policy-group",
        {"removePolicyPack": pack()},
        {"addPolicyPack": pack(tag="1.3.0")},
    )
    assert view(org, "default-policy-group")["appliedPolicyPacks"] == []


def test_batch_renames_after_every_membership_change(org: Org) -> None:
    org.create_group({"name": "g"})
    patch(org, "g", {"newName": "h"}, {"addStack": stack("web/prod")})
    assert view(org, "h")["stacks"] == [stack("web/prod")]


def test_batch_is_not_atomic_operations_before_a_failure_stay_applied(org: Org) -> None:
    org.create_group({"name": "g"})
    batch = [{"addStack": stack("web/prod")}, {"addStack": stack("x/y")}]
    assert status_of(org.update_group, "g", batch, single=False) == 404
    assert view(org, "g")["stacks"] == [stack("web/prod")]


# --- match rules -----------------------------------------------------------------------------


def test_a_stack_rule_makes_matching_stacks_rule_members(org: Org) -> None:
    org.create_group({"name": "prod", "stackMatchRule": equal("env", "prod")})
    patch(org, "prod", {"addStack": stack("ml/dev")})
    assert org.stack_members(org.group("prod")) == {
        ("ml", "dev"): "explicit",
        ("payments", "prod"): "rule",
        ("web", "prod"): "rule",
    }


def test_a_stack_both_explicit_and_matched_is_explicit(org: Org) -> None:
    org.create_group({"name": "prod", "stackMatchRule": equal("env", "prod")})
    patch(org, "prod", {"addStack": stack("web/prod")})
    assert org.stack_members(org.group("prod"))["web", "prod"] == "explicit"


def test_get_lists_the_explicit_stacks_and_the_rule_as_stored(org: Org) -> None:
    rule = {**equal("env", "prod"), "comment": "kept"}
    org.create_group({"name": "prod", "stackMatchRule": rule})
    assert (view(org, "prod")["stacks"], view(org, "prod")["stackMatchRule"]) == ([], rule)


def test_rule_membership_follows_tag_changes(org: Org) -> None:
    org.create_group({"name": "prod", "stackMatchRule": equal("env", "prod")})
    org.stacks["ml", "dev"].tags["env"] = "prod"
    org.stacks["web", "prod"].tags.clear()
    assert sorted(org.stack_members(org.group("prod"))) == [("ml", "dev"), ("payments", "prod")]


def test_summaries_count_rule_members(org: Org) -> None:
    org.create_group({"name": "prod", "stackMatchRule": equal("env", "prod")})
    [summary] = [s for s in views.group_list(org)["policyGroups"] if s["name"] == "prod"]
    assert summary["numStacks"] == 2


def test_an_account_rule_matches_account_tags(org: Org) -> None:
    rule = equal("env", "prod", ACCOUNT_CONTEXT)
    org.create_group({"name": "cloud", "mode": "audit", "accountMatchRule": rule})
    assert org.account_members(org.group("cloud")) == {"gcp": "rule"}


def test_a_rule_is_set_replaced_and_removed_by_updates(org: Org) -> None:
    org.create_group({"name": "g"})
    patch(org, "g", {"stackMatchRule": equal("env", "prod")})
    patch(org, "g", {"stackMatchRule": equal("env", "dev")})
    assert sorted(org.stack_members(org.group("g"))) == [("ml", "dev")]
    patch(org, "g", {"removeStackMatchRule": True})
    assert "stackMatchRule" not in view(org, "g")


def test_remove_rule_false_leaves_the_rule(org: Org) -> None:
    org.create_group({"name": "g", "stackMatchRule": equal("env", "prod")})
    patch(org, "g", {"removeStackMatchRule": False, "removeAccountMatchRule": False})
    assert view(org, "g")["stackMatchRule"] == equal("env", "prod")


def test_setting_and_removing_one_rule_in_one_update_is_400(org: Org) -> None:
    org.create_group({"name": "g"})
    update = {"stackMatchRule": equal("env", "prod"), "removeStackMatchRule": True}
    assert status_of(patch, org, "g", update) == 400


@pytest.mark.parametrize("call", ["create", "update"])
def test_an_account_rule_on_a_preventative_group_is_400(org: Org, call: str) -> None:
    rule = {"accountMatchRule": equal("env", "prod", ACCOUNT_CONTEXT)}
    if call == "create":
        assert status_of(org.create_group, {"name": "g", **rule}) == 400
    else:
        assert status_of(patch, org, "default-policy-group", rule) == 400


def test_an_invalid_rule_is_400_at_its_path_in_the_batch_and_changes_nothing(org: Org) -> None:
    org.create_group({"name": "g"})
    bad = equal("env", "prod", ACCOUNT_CONTEXT)
    batch = [{"addStack": stack("ml/dev")}, {"stackMatchRule": bad}]
    assert message_of(org.update_group, "g", batch, single=False).startswith(
        "Invalid request body at $[1].stackMatchRule.left.context: "
    )
    assert view(org, "g")["stacks"] == []


@pytest.mark.parametrize(
    "update",
    [
        {"stackMatchRule": equal("env", "prod")},
        {"removeStackMatchRule": True},
        {"removeAccountMatchRule": True},
    ],
)
def test_rules_without_the_preview_feature_are_403(update: dict[str, Any]) -> None:
    acme = fixture_from_dict(small(features={"matchRules": False})).new_state().org("acme")
    assert message_of(patch, acme, "default-policy-group", update) == (
        "Policy group match rules are a preview feature that is not enabled for organization 'acme'"
    )


def test_without_the_preview_feature_other_updates_still_work() -> None:
    acme = fixture_from_dict(small(features={"matchRules": False})).new_state().org("acme")
    patch(
        acme, "default-policy-group", {"addStack": stack("ml/dev"), "removeStackMatchRule": False}
    )
    assert stack("ml/dev") in view(acme, "default-policy-group")["stacks"]


# --- legacy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity_type", "mode"), [("stacks", "preventative"), ("accounts", "audit")]
)
def test_legacy_create_defaults_the_mode_per_entity_type(
    legacy: Org, entity_type: str, mode: str
) -> None:
    legacy.create_group({"name": "g", "entityType": entity_type})
    assert legacy.group("g").mode == mode


def test_legacy_ignores_a_rule_in_the_body(legacy: Org) -> None:
    legacy.create_group({"name": "g", "entityType": "stacks", "stackMatchRule": equal("a", "b")})
    assert "stackMatchRule" not in view(legacy, "g")


@pytest.mark.parametrize(
    ("name", "reason"),
    [("", "must not be empty"), ("  ", "must not be empty"), ("a/b", "not a valid path segment")],
)
def test_legacy_names_are_refused_as_before(legacy: Org, name: str, reason: str) -> None:
    assert reason in message_of(legacy.create_group, {"name": name, "entityType": "stacks"})


def test_legacy_accepts_names_the_current_rule_refuses(legacy: Org) -> None:
    legacy.create_group({"name": "naïve;name ", "entityType": "stacks"})
    assert "naïve;name " in legacy.groups


@pytest.mark.parametrize(
    ("group", "update"),
    [
        ("default-accounts-policy-group", {"addStack": stack("web/prod")}),
        ("default-accounts-policy-group", {"removeStack": stack("web/prod")}),
        ("default-policy-group", {"addInsightsAccount": {"name": "gcp"}}),
        ("default-policy-group", {"removeInsightsAccount": {"name": "gcp"}}),
    ],
)
def test_legacy_members_of_the_wrong_entity_type_are_400(
    legacy: Org, group: str, update: dict[str, Any]
) -> None:
    assert status_of(patch, legacy, group, update) == 400


def test_legacy_plain_patch_with_two_add_or_remove_fields_is_400(legacy: Org) -> None:
    update = {"addStack": stack("web/prod"), "removeStack": stack("ml/dev")}
    assert status_of(legacy.update_group, "default-policy-group", [update], single=True) == 400


def test_legacy_plain_patch_allows_new_name_and_agent_pool_beside_one_mutation(
    legacy: Org,
) -> None:
    legacy.create_group({"name": "g", "entityType": "stacks"})
    update = {"addStack": stack("web/prod"), "newName": "h", "agentPoolId": "p"}
    legacy.update_group("g", [update], single=True)
    assert (view(legacy, "h")["stacks"], view(legacy, "h")["agentPoolId"]) == (
        [stack("web/prod")],
        "p",
    )


@pytest.mark.parametrize("field", ["stacks", "policyPacks", "insightsAccounts"])
def test_legacy_refuses_whole_list_fields(legacy: Org, field: str) -> None:
    assert (
        status_of(legacy.update_group, "default-policy-group", [{field: []}], single=False) == 400
    )


def test_legacy_lists_no_child_accounts(legacy: Org) -> None:
    patch(legacy, "default-accounts-policy-group", {"removeInsightsAccount": {"name": "gcp"}})
    assert view(legacy, "default-accounts-policy-group")["accounts"] == [
        "aws-prod",
        "aws-prod/eu",
        "aws-prod/us",
    ]
    patch(legacy, "default-accounts-policy-group", {"removeInsightsAccount": {"name": "aws-prod"}})
    assert view(legacy, "default-accounts-policy-group")["accounts"] == [
        "aws-prod/eu",
        "aws-prod/us",
    ]


def test_legacy_user_stacks_carry_only_the_three_names() -> None:
    state = fixture_from_dict(small("legacy")).new_state()
    assert views.stack_items(state, {})[0] == {
        "orgName": "acme",
        "projectName": "ml",
        "stackName": "dev",
    }


# --- views ---------------------------------------------------------------------------------


def test_group_view_sorts_members_and_omits_empty_optional_fields(org: Org) -> None:
    org.create_group({"name": "g"})
    for ref in ("web/prod", "ml/dev", "payments/prod"):
        patch(org, "g", {"addStack": stack(ref)})
    patch(org, "g", {"addPolicyPack": pack("cost", "2.0.0")})
    patch(org, "g", {"addPolicyPack": pack()})
    assert view(org, "g") == {
        "name": "g",
        "isOrgDefault": False,
        "entityType": "stacks",
        "mode": "preventative",
        "stacks": [stack("ml/dev"), stack("payments/prod"), stack("web/prod")],
        "appliedPolicyPacks": [
            {"name": "aws", "displayName": "AWS", "version": 1, "versionTag": "1.0.0"},
            {"name": "cost", "displayName": "cost", "version": 1, "versionTag": "2.0.0"},
        ],
        "accounts": [],
    }


def test_group_list_gives_num_accounts_only_when_non_zero() -> None:
    listed = views.group_list(demo_fixture().new_state().org("acme"))["policyGroups"]
    by_name = {summary["name"]: summary for summary in listed}
    assert [summary["name"] for summary in listed] == sorted(by_name)
    assert by_name["default-accounts-policy-group"]["numAccounts"] == 4
    assert "numAccounts" not in by_name["prod"]


def test_stack_groups_lists_the_groups_holding_it_explicitly_or_by_rule(org: Org) -> None:
    org.create_group({"name": "by rule", "stackMatchRule": equal("env", "prod")})
    org.create_group({"name": "by hand"})
    patch(org, "by hand", {"addStack": stack("web/prod")})
    listed = views.stack_groups(org, ("web", "prod"))["policyGroups"]
    assert [s["name"] for s in listed] == ["by hand", "by rule", "default-policy-group"]


def test_stack_groups_of_an_unknown_stack_is_404(org: Org) -> None:
    assert status_of(views.stack_groups, org, ("x", "y")) == 404


def test_user_stacks_filter_by_project_and_tags() -> None:
    state = fixture_from_dict(small()).new_state()

    def names(query: dict[str, str]) -> list[str]:
        return [f"{s['projectName']}/{s['stackName']}" for s in views.stack_items(state, query)]

    assert names({"project": "web"}) == ["web/prod"]
    assert names({"tagName": "team"}) == ["payments/prod"]
    assert names({"tagName": "env", "tagValue": "prod"}) == ["payments/prod", "web/prod"]
    assert names({"organization": "nope"}) == []


def test_user_stacks_tag_value_without_tag_name_is_400() -> None:
    state = fixture_from_dict(small()).new_state()
    assert status_of(views.stack_items, state, {"tagValue": "prod"}) == 400


def test_stack_summaries_have_stable_ids_and_fixture_last_updates() -> None:
    data = small(stacks=[{"name": "a/b", "lastUpdate": 7}, "c/d"])
    first, second = (views.stack_items(fixture_from_dict(data).new_state(), {}) for _ in "12")
    assert first == second
    assert [(s["lastUpdate"], s["resourceCount"]) for s in first] == [(7, 0), (1_790_812_800, 0)]
    assert first[0]["id"] != first[1]["id"]


def test_stack_preview_counts_matches_among_the_searched_stacks(org: Org) -> None:
    items, matched, total = views.stack_preview(org, equal("env", "prod"), "PROD")
    assert ([i["routingProject"] for i in items], matched, total) == (["payments", "web"], 2, 2)
    assert views.stack_preview(org, equal("env", "prod"), "")[1:] == (2, 3)


def test_account_preview_searches_account_names(org: Org) -> None:
    rule = {"__type": "PermissionLiteralExpressionBool", "value": True}
    items, matched, total = views.account_preview(org, rule, "aws-prod/")
    assert ([i["name"] for i in items], matched, total) == (["aws-prod/eu", "aws-prod/us"], 2, 2)


def test_member_listings_filter_by_source(org: Org) -> None:
    org.create_group({"name": "g", "stackMatchRule": equal("env", "prod")})
    patch(org, "g", {"addStack": stack("ml/dev")})
    assert [s["name"] for s in views.stack_member_items(org, org.group("g"), "rule")] == [
        "prod",
        "prod",
    ]
    [explicit] = views.stack_member_items(org, org.group("g"), "explicit")
    assert explicit == {
        "name": "dev",
        "routingProject": "ml",
        "source": "explicit",
        "tags": {"env": "dev"},
    }


CURRENT_VIEWS = [
    ("AppListPolicyGroupsResponse", views.group_list),
    ("AppListPolicyPacksResponse", views.pack_list),
    ("PolicyGroupMetadata", views.metadata),
    ("ListInsightsAccountsResponse", lambda o: {"accounts": views.account_items(o)}),
    ("AppGetPolicyPackResponse", lambda o: views.pack_version(o, "aws-guardrails", "3")),
    ("AppStack", lambda o: views.stack_view(o, ("web", "prod"))),
    (
        "AppListStacksResponse",
        lambda o: {"stacks": [views.stack_summary(o, key) for key in o.stacks]},
    ),
]


@pytest.mark.parametrize(("schema", "render"), CURRENT_VIEWS)
def test_views_satisfy_the_sdk_response_schemas(schema: str, render: Any) -> None:
    acme = demo_fixture().new_state().org("acme")
    assert schemas.validator(schema).first_error(render(acme)) is None


@pytest.mark.parametrize(
    ("schema", "render"),
    [
        ("AppListPolicyGroupsResponse", views.group_list),
        ("AppListPolicyPacksResponse", views.pack_list),
        ("ListInsightsAccountsResponse", lambda o: {"accounts": views.account_items(o)}),
    ],
)
def test_legacy_views_satisfy_the_older_openapi_schemas(schema: str, render: Any) -> None:
    state = demo_fixture().new_state()
    state.set_api("legacy")
    assert schemas.validator(schema, "legacy").first_error(render(state.org("acme"))) is None


def test_every_group_view_satisfies_the_sdk_policy_group_schema(org: Org) -> None:
    org.create_group({"name": "g", "mode": "audit", "stackMatchRule": equal("env", "prod")})
    patch(org, "g", {"accountMatchRule": equal("env", "prod", ACCOUNT_CONTEXT)})
    checker = schemas.validator("PolicyGroup")
    for group in org.groups.values():
        assert checker.first_error(views.group_view(org, group)) is None


def test_member_and_preview_views_satisfy_the_sdk_schemas(org: Org) -> None:
    org.create_group({"name": "g", "mode": "audit", "stackMatchRule": equal("env", "prod")})
    group = org.group("g")
    rule = equal("env", "prod")
    account_rule = equal("env", "prod", ACCOUNT_CONTEXT)
    stacks, matched, total = views.stack_preview(org, rule, "")
    accounts, a_matched, a_total = views.account_preview(org, account_rule, "")
    bodies = {
        "ListPolicyGroupStacksResponse": {"stacks": views.stack_member_items(org, group, None)},
        "ListPolicyGroupAccountsResponse": {
            "accounts": views.account_member_items(org, group, None)
        },
        "PreviewStackMatchRuleResponse": {
            "stacks": stacks,
            "matchedCount": matched,
            "totalCount": total,
        },
        "PreviewAccountMatchRuleResponse": {
            "accounts": accounts,
            "matchedCount": a_matched,
            "totalCount": a_total,
        },
    }
    for schema, body in bodies.items():
        assert schemas.validator(schema).first_error(body) is None, schema


def test_metadata_counts_protected_stacks_as_preventative_plus_audit(org: Org) -> None:
    org.create_group({"name": "audit", "entityType": "stacks", "mode": "audit"})
    patch(org, "audit", {"addStack": stack("ml/dev")})
    patch(org, "audit", {"addPolicyPack": pack()})
    org.create_group({"name": "empty"})
    patch(org, "empty", {"addStack": stack("web/prod")})
    meta = views.metadata(org)
    assert (meta["ProtectedStacks"], meta["AuditStacks"], meta["PreventativeStacks"]) == (1, 1, 0)
    assert (meta["AuditStackResources"], meta["TotalStacks"], meta["TotalAccounts"]) == (5, 3, 4)


def test_metadata_follows_mode_and_counts_rule_members_and_children(org: Org) -> None:
    org.create_group({"name": "cloud", "entityType": "accounts", "mode": "audit"})
    patch(org, "cloud", {"addStack": stack("ml/dev")}, {"addInsightsAccount": {"name": "aws-prod"}})
    patch(org, "cloud", {"addPolicyPack": pack()})
    org.create_group({"name": "prod", "stackMatchRule": equal("env", "prod")})
    patch(org, "prod", {"addPolicyPack": pack()})
    meta = views.metadata(org)
    assert (meta["AuditStacks"], meta["PreventativeStacks"], meta["ProtectedAccounts"]) == (1, 2, 3)
    assert meta["ProtectedAccountResources"] == 100


def test_pack_version_says_whether_a_group_applies_it(org: Org) -> None:
    patch(org, "default-policy-group", {"addPolicyPack": pack(tag="1.3.0")})
    assert [views.pack_version(org, "aws", v)["applied"] for v in ("1", "2")] == [False, True]


def numbers(count: int) -> views.Listing:
    """The listing of "0".."count-1", each keyed by itself."""
    return views.Listing.of([str(n) for n in range(count)], lambda item: (item,), 1)


def test_paginate_hands_out_tokens_until_the_last_page() -> None:
    first, token = views.paginate(numbers(5), None, 2)
    second, token2 = views.paginate(numbers(5), token, 2)
    last, end = views.paginate(numbers(5), token2, 2)
    assert (first, second, last, end) == (["0", "1"], ["2", "3"], ["4"], None)


def test_paginate_gives_no_token_when_the_page_ends_the_listing() -> None:
    assert views.paginate(numbers(4), None, 4) == (["0", "1", "2", "3"], None)


def test_paginate_starts_after_the_tokens_item_even_when_it_is_gone() -> None:
    _, token = views.paginate(numbers(5), None, 2)
    smaller = views.Listing.of(["0", "2", "3", "4"], lambda item: (item,), 1)
    assert views.paginate(smaller, token, 2)[0] == ["2", "3"]


def token_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        token_of("offset:2"),
        token_of("after:[1]"),
        token_of('after:["1", "2"]'),
        token_of("after:" + "[" * 100_000),
    ],
)
def test_paginate_refuses_a_forged_token(token: str) -> None:
    assert status_of(views.paginate, numbers(2), token, 1) == 400


# --- fixtures ------------------------------------------------------------------------------


def test_demo_fixture_puts_every_stack_in_no_other_group_into_the_default_group() -> None:
    acme = demo_fixture().new_state().org("acme")
    assert view(acme, "default-policy-group")["stacks"] == [
        stack("data/prod"),
        stack("payments/staging"),
        stack("web/staging"),
    ]
    assert view(acme, "default-accounts-policy-group")["accounts"] == [
        "aws-prod",
        "aws-prod/eu-west-1",
        "aws-staging",
        "gcp-analytics",
    ]


def test_demo_fixture_groups_are_stacks_groups_unless_they_say() -> None:
    acme = demo_fixture().new_state().org("acme")
    assert (acme.group("sandbox").entity_type, acme.group("sandbox").mode) == ("stacks", "audit")


def test_demo_fixture_knows_everything_the_example_desired_state_refers_to() -> None:
    acme = demo_fixture().new_state().org("acme")
    desired = yaml.safe_load(EXAMPLE.read_text())
    assert desired["organization"] == "acme"
    for group in desired["policyGroups"]:
        for ref in group.get("stacks", []):
            key = (
                tuple(ref.split("/"))
                if isinstance(ref, str)
                else (ref["routingProject"], ref["name"])
            )
            assert key in acme.stacks
        for name in group.get("accounts", []):
            assert name in acme.accounts
        for wanted in group.get("policyPacks", []):
            assert wanted["versionTag"] in acme.packs[wanted["name"]].version_tags
        for former in group.get("previously", []):
            assert former in acme.groups


def test_fixture_with_explicit_default_stacks_keeps_them() -> None:
    data = {
        "organizations": {
            "o": {
                "stacks": ["a/b", "c/d"],
                "policyGroups": [{"name": "default-policy-group", "stacks": ["a/b"]}],
            }
        }
    }
    org = fixture_from_dict(data).new_state().org("o")
    assert org.group("default-policy-group").stacks == {("a", "b")}


def test_fixture_default_groups_leave_out_what_other_groups_hold_by_rule_or_parent() -> None:
    groups = [
        {"name": "prod", "stackMatchRule": equal("env", "prod")},
        {"name": "cloud", "mode": "audit", "accounts": ["aws-prod"]},
    ]
    acme = fixture_from_dict(small(policyGroups=groups)).new_state().org("acme")
    assert view(acme, "default-policy-group")["stacks"] == [stack("ml/dev")]
    assert view(acme, "default-accounts-policy-group")["accounts"] == ["gcp"]


def test_fixture_tags_and_features_are_read() -> None:
    acme = fixture_from_dict(small(features={"matchRules": False})).new_state().org("acme")
    assert (acme.stacks["web", "prod"].tags, acme.match_rules) == ({"env": "prod"}, False)


def test_fixture_api_is_read() -> None:
    assert fixture_from_dict(small("legacy")).state.api == "legacy"
    assert fixture_from_dict(SMALL).state.api == "current"


def test_fixture_token_is_read() -> None:
    assert fixture_from_dict({"token": "t0k", "organizations": {}}).token == "t0k"


def test_load_fixture_reads_a_yaml_file() -> None:
    fixture = load_fixture(DATA / "two-orgs.yaml")
    assert sorted(fixture.state.orgs) == ["acme", "globex"]


def account_fixture(*accounts: dict[str, Any]) -> dict[str, Any]:
    return {"organizations": {"o": {"accounts": list(accounts)}}}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"token": "t"}, "missing key 'organizations'"),
        (
            {"organizations": {"o": {"stacks": ["nope"]}}},
            "organizations.o.stacks[0]: 'nope' is not a stack",
        ),
        (
            {"organizations": {"o": {"policyGroups": [{"name": "g", "stacks": ["a/b"]}]}}},
            "policyGroups[0]: Stack 'a/b' not found",
        ),
        (
            {
                "organizations": {
                    "o": {"policyGroups": [{"name": "default-policy-group", "mode": "audit"}]}
                }
            },
            "the mode of default-policy-group is always preventative",
        ),
        (
            {"organizations": {"o": {"stacks": ["a/b", "a/b"]}}},
            "organizations.o.stacks[1]: duplicate name 'a/b'",
        ),
        ({"api": "v3", "organizations": {}}, "api: 'v3' is not one of"),
        (
            account_fixture({"name": "a/b", "provider": "aws", "parent": "a"}),
            "accounts[0].parent: a/b: parent account 'a' not found",
        ),
        (
            account_fixture(
                {"name": "a", "provider": "aws"},
                {"name": "b/c", "provider": "aws", "parent": "a"},
            ),
            "accounts[1].parent: b/c: a child account is named 'a/<something>'",
        ),
        (
            account_fixture(
                {"name": "a", "provider": "aws"},
                {"name": "a/b", "provider": "aws", "parent": "a"},
                {"name": "a/b/c", "provider": "aws", "parent": "a/b"},
            ),
            "accounts[2].parent: a/b/c: parent account 'a/b' is a child account itself",
        ),
        (
            {"organizations": {"o": {"defaultGroups": {"audit": "default-policy-group"}}}},
            "the two default groups need two names",
        ),
        (
            {"organizations": {"o": {"defaultGroups": {"audit": " x"}}}},
            "defaultGroups.audit: Invalid policy group name ' x'",
        ),
        (
            {
                "organizations": {
                    "o": {"policyGroups": [{"name": "g", "stackMatchRule": {"__type": "x"}}]}
                }
            },
            "policyGroups[0]: Invalid request body at $[0].stackMatchRule: unknown",
        ),
        (
            {
                "api": "legacy",
                "organizations": {
                    "o": {"policyGroups": [{"name": "g", "stackMatchRule": {"__type": "x"}}]}
                },
            },
            "stackMatchRule needs the current API",
        ),
        (
            {
                "organizations": {
                    "o": {
                        "features": {"matchRules": False},
                        "policyGroups": [{"name": "g", "stackMatchRule": equal("a", "b")}],
                    }
                }
            },
            "preview feature that is not enabled",
        ),
    ],
)
def test_bad_fixtures_are_refused_saying_where(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(FixtureError, match=re.escape(expected)):
        fixture_from_dict(data)


def test_missing_fixture_file_is_a_fixture_error(tmp_path: Path) -> None:
    with pytest.raises(FixtureError, match=re.escape("missing.yaml")):
        load_fixture(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "organizations:\n  acme:\n    stacks: [a/b\n",
            "4:1",
            "invalid YAML: while parsing a flow sequence (line 3, column 13), "
            "did not find expected ',' or ']'",
        ),
        (
            "organizations:\n  acme:\n    stacks: [a/b]\n    colour: red\n",
            "4:5",
            "unknown key 'colour' (known: accounts, defaultGroups, features, policyGroups, "
            "policyPacks, stacks)",
        ),
        (
            "organizations:\n  acme:\n    stacks: web/prod\n",
            "3:13",
            "expected a list, not a string",
        ),
        (
            "organizations:\n  acme:\n    policyPacks:\n      - {name: p, versionTags: [2.0]}\n",
            "4:33",
            'expected a string, not a number; quote it: "2.0"',
        ),
        ("token: x\n", "1:1", "missing key 'organizations'"),
        (
            "organizations:\n  acme:\n    stacks: [web]\n",
            "3:14",
            "'web' is not a stack: write it as project/stack",
        ),
        (
            "organizations:\n  acme: {}\n  acme: {}\n",
            "3:3",
            "duplicate key 'acme' (first at line 2, column 3)",
        ),
        (
            "organizations:\n  acme:\n    policyGroups:\n      - name: g\n        stacks: [x/y]\n",
            "4:9",
            "Stack 'x/y' not found",
        ),
        ("", "1:1", "expected a mapping, not empty"),
    ],
)
def test_a_bad_fixture_file_is_refused_at_its_line_and_column(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    path = tmp_path / "fixture.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FixtureError) as refused:
        load_fixture(path)
    assert (refused.value.where, refused.value.message) == (f"{path}:{where}", message)


def test_a_fixture_type_error_does_not_show_the_value_it_may_be_the_token(tmp_path: Path) -> None:
    path = tmp_path / "fixture.yaml"
    path.write_text("token: 918273645\norganizations: {}\n", encoding="utf-8")
    with pytest.raises(FixtureError) as refused:
        load_fixture(path)
    assert "918273645" not in str(refused.value)


# --- state files ---------------------------------------------------------------------------


def test_state_file_round_trips_every_group(tmp_path: Path) -> None:
    fixture = demo_fixture()
    state = fixture.new_state()
    acme = state.org("acme")
    patch(acme, "prod", {"addPolicyPack": pack("aws-guardrails", "7.7.7")})
    patch(acme, "prod", {"agentPoolId": "pool-1", "newName": "production"})
    write_state_file(tmp_path / "state.json", state)
    restored = read_state_file(tmp_path / "state.json", fixture).org("acme")
    assert {n: view(restored, n) for n in restored.groups} == {
        n: view(acme, n) for n in acme.groups
    }
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_state_file_keeps_rules_tags_parents_features_and_api(tmp_path: Path) -> None:
    fixture = fixture_from_dict(small(features={"matchRules": False}))
    state = fixture.new_state()
    acme = state.org("acme")
    acme.match_rules = True
    acme.create_group({"name": "cloud", "mode": "audit", "stackMatchRule": equal("env", "qa")})
    patch(acme, "cloud", {"addInsightsAccount": {"name": "aws-prod"}})
    acme.stacks["ml", "dev"].tags = {"env": "qa"}
    acme.accounts["gcp"].tags = {"new": "tag"}
    state.set_api("legacy")
    write_state_file(tmp_path / "state.json", state)
    restored = read_state_file(tmp_path / "state.json", fixture)
    again = restored.org("acme")
    assert (restored.api, again.api, again.match_rules) == ("legacy", "legacy", True)
    assert (again.stacks["ml", "dev"].tags, again.accounts["gcp"].tags) == (
        {"env": "qa"},
        {"new": "tag"},
    )
    assert again.accounts["aws-prod/eu"].parent == "aws-prod"
    assert again.group("cloud").stack_rule == equal("env", "qa")
    assert again.group("cloud").accounts == {"aws-prod"}


def test_state_file_records_explicit_accounts_not_children(tmp_path: Path) -> None:
    state = fixture_from_dict(small()).new_state()
    patch(state.org("acme"), "default-accounts-policy-group", {"insightsAccounts": ["aws-prod"]})
    write_state_file(tmp_path / "state.json", state)
    document = json.loads((tmp_path / "state.json").read_text())
    groups = {g["name"]: g for g in document["organizations"]["acme"]["policyGroups"]}
    assert groups["default-accounts-policy-group"]["accounts"] == ["aws-prod"]


def test_state_file_of_version_1_is_read(tmp_path: Path) -> None:
    group = {**view(demo_fixture().new_state().org("acme"), "prod"), "name": "old"}
    document = {"formatVersion": 1, "organizations": {"acme": {"policyGroups": [group]}}}
    (tmp_path / "s.json").write_text(json.dumps(document))
    restored = read_state_file(tmp_path / "s.json", demo_fixture()).org("acme")
    assert sorted(restored.groups) == [
        "default-accounts-policy-group",
        "default-policy-group",
        "old",
    ]


def test_state_file_for_an_org_missing_from_the_fixture_is_refused(tmp_path: Path) -> None:
    write_state_file(tmp_path / "s.json", State({"other": Org("other")}))
    with pytest.raises(FixtureError, match="organization 'other' is not in the fixture"):
        read_state_file(tmp_path / "s.json", demo_fixture())


def test_state_file_with_a_stack_missing_from_the_fixture_is_refused(tmp_path: Path) -> None:
    state = demo_fixture().new_state()
    write_state_file(tmp_path / "s.json", state)
    document = json.loads((tmp_path / "s.json").read_text())
    document["organizations"]["acme"]["stacks"]["gone/away"] = {"tags": {}}
    (tmp_path / "s.json").write_text(json.dumps(document))
    with pytest.raises(FixtureError, match="stack 'gone/away' is not in the fixture"):
        read_state_file(tmp_path / "s.json", demo_fixture())


def test_state_file_that_is_not_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text('{"formatVersion": 1, "organizations": {"acme": {}}}')
    with pytest.raises(FixtureError, match="not an emulator state file"):
        read_state_file(tmp_path / "s.json", demo_fixture())
