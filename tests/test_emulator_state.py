"""The emulator's semantics without sockets: state rules, JSON views, fixtures, state files."""

from __future__ import annotations

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

DATA = Path(__file__).parent / "data" / "emulator"
EXAMPLE = Path(__file__).parent.parent / "examples" / "policygroups.yaml"

SMALL: dict[str, Any] = {
    "organizations": {
        "acme": {
            "stacks": ["payments/prod", "web/prod", {"name": "ml/dev", "resourceCount": 5}],
            "policyPacks": [
                {"name": "aws", "displayName": "AWS", "versionTags": ["1.0.0", "1.3.0"]},
                {"name": "cost", "versionTags": ["2.0.0"]},
            ],
            "accounts": [{"name": "aws-prod", "provider": "aws", "resourceCount": 100}],
        }
    }
}


@pytest.fixture
def org() -> Org:
    return fixture_from_dict(SMALL).new_state().org("acme")


def pack(name: str = "aws", tag: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    return {"name": name, "displayName": name, "version": 99, "versionTag": tag, **extra}


def stack(ref: str) -> dict[str, str]:
    project, name = ref.split("/")
    return {"routingProject": project, "name": name}


def status_of(call: Any, *args: Any, **kwargs: Any) -> int:
    with pytest.raises(HttpError) as caught:
        call(*args, **kwargs)
    return caught.value.status


def view(org: Org, name: str) -> dict[str, Any]:
    return views.group_view(org, org.group(name))


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
    ("entity_type", "mode"), [("stacks", "preventative"), ("accounts", "audit")]
)
def test_create_group_defaults_mode_per_entity_type(org: Org, entity_type: str, mode: str) -> None:
    org.create_group("g", entity_type)
    assert org.group("g").mode == mode


def test_create_group_keeps_given_mode_and_agent_pool(org: Org) -> None:
    org.create_group("g", "stacks", "audit", "pool-1")
    assert (org.group("g").mode, org.group("g").agent_pool_id) == ("audit", "pool-1")


def test_create_group_with_an_existing_name_is_409(org: Org) -> None:
    assert status_of(org.create_group, "default-policy-group", "stacks") == 409


@pytest.mark.parametrize("name", ["", "  ", "metadata", "a/b"])
def test_create_group_with_an_unusable_name_is_400(org: Org, name: str) -> None:
    assert status_of(org.create_group, name, "stacks") == 400


def test_create_group_with_a_bad_entity_type_is_400(org: Org) -> None:
    assert status_of(org.create_group, "g", "clusters") == 400


@pytest.mark.parametrize("name", ["default-policy-group", "default-accounts-policy-group"])
def test_default_groups_cannot_be_deleted(org: Org, name: str) -> None:
    assert status_of(org.delete_group, name) == 400


@pytest.mark.parametrize("name", ["default-policy-group", "default-accounts-policy-group"])
def test_default_groups_cannot_be_renamed(org: Org, name: str) -> None:
    assert status_of(org.update_group, name, [{"newName": "x"}], single=True) == 400


def test_delete_unknown_group_is_404(org: Org) -> None:
    assert status_of(org.delete_group, "nope") == 404


def test_rename_moves_the_group_with_its_members(org: Org) -> None:
    org.create_group("prod", "stacks")
    org.update_group("prod", [{"addStack": stack("web/prod")}], single=True)
    org.update_group("prod", [{"newName": "production"}], single=True)
    assert "prod" not in org.groups
    assert org.group("production").stacks == {("web", "prod")}


@pytest.mark.parametrize(("new_name", "status"), [("default-policy-group", 409), ("metadata", 400)])
def test_rename_to_a_taken_or_reserved_name_fails(org: Org, new_name: str, status: int) -> None:
    org.create_group("prod", "stacks")
    assert status_of(org.update_group, "prod", [{"newName": new_name}], single=True) == status


# --- membership -----------------------------------------------------------------------------


def test_add_stack_of_an_unknown_stack_is_404_naming_it(org: Org) -> None:
    with pytest.raises(HttpError) as caught:
        org.update_group("default-policy-group", [{"addStack": stack("x/y")}], single=True)
    assert (caught.value.status, caught.value.message) == (404, "Stack 'x/y' not found")


@pytest.mark.parametrize(
    "update",
    [
        {"addPolicyPack": pack("nope")},
        {"removePolicyPack": pack("nope")},
        {"removeStack": stack("x/y")},
    ],
)
def test_references_unknown_to_the_org_are_404(org: Org, update: dict[str, Any]) -> None:
    assert status_of(org.update_group, "default-policy-group", [update], single=True) == 404


def test_add_unknown_account_is_404(org: Org) -> None:
    update = {"addInsightsAccount": {"name": "nope"}}
    assert (
        status_of(org.update_group, "default-accounts-policy-group", [update], single=True) == 404
    )


@pytest.mark.parametrize(
    ("group", "update"),
    [
        ("default-accounts-policy-group", {"addStack": stack("web/prod")}),
        ("default-accounts-policy-group", {"removeStack": stack("web/prod")}),
        ("default-policy-group", {"addInsightsAccount": {"name": "aws-prod"}}),
        ("default-policy-group", {"removeInsightsAccount": {"name": "aws-prod"}}),
    ],
)
def test_members_of_the_wrong_entity_type_are_400(
    org: Org, group: str, update: dict[str, Any]
) -> None:
    assert status_of(org.update_group, group, [update], single=True) == 400


def test_removing_a_non_member_is_a_silent_no_op(org: Org) -> None:
    org.create_group("g", "stacks")
    org.update_group("g", [{"removeStack": stack("web/prod")}], single=True)
    org.update_group("g", [{"removePolicyPack": pack()}], single=True)
    assert view(org, "g")["stacks"] == view(org, "g")["appliedPolicyPacks"] == []


def test_add_policy_pack_upserts_by_name_replacing_the_entry(org: Org) -> None:
    first = pack(config={"all": {"enforcementLevel": "mandatory"}}, environments=["e/x"])
    org.update_group("default-policy-group", [{"addPolicyPack": first}], single=True)
    second = {**pack(tag="1.3.0"), "config": {}, "environments": []}
    org.update_group("default-policy-group", [{"addPolicyPack": second}], single=True)
    assert view(org, "default-policy-group")["appliedPolicyPacks"] == [
        {"name": "aws", "displayName": "AWS", "version": 2, "versionTag": "1.3.0"}
    ]


def test_upsert_without_config_or_environments_keeps_the_old_ones(org: Org) -> None:
    first = pack(config={"all": {"enforcementLevel": "mandatory"}}, environments=["e/x"])
    org.update_group("default-policy-group", [{"addPolicyPack": first}], single=True)
    org.update_group("default-policy-group", [{"addPolicyPack": pack(tag="1.3.0")}], single=True)
    [applied] = view(org, "default-policy-group")["appliedPolicyPacks"]
    assert (applied["config"], applied["environments"]) == (
        {"all": {"enforcementLevel": "mandatory"}},
        ["e/x"],
    )


def test_pack_version_is_rewritten_from_the_tag_and_display_name_from_the_org(org: Org) -> None:
    body = {**pack(tag="1.0.0"), "displayName": "Made Up", "version": 42}
    org.update_group("default-policy-group", [{"addPolicyPack": body}], single=True)
    [applied] = view(org, "default-policy-group")["appliedPolicyPacks"]
    assert (applied["displayName"], applied["version"]) == ("AWS", 1)


def test_unknown_version_tag_is_stored_verbatim_with_version_0(org: Org) -> None:
    org.update_group("default-policy-group", [{"addPolicyPack": pack(tag="9.9.9")}], single=True)
    [applied] = view(org, "default-policy-group")["appliedPolicyPacks"]
    assert (applied["versionTag"], applied["version"]) == ("9.9.9", 0)


def test_agent_pool_id_is_set_and_an_empty_string_clears_it(org: Org) -> None:
    org.create_group("g", "stacks")
    org.update_group("g", [{"agentPoolId": "pool-9"}], single=True)
    assert view(org, "g")["agentPoolId"] == "pool-9"
    org.update_group("g", [{"agentPoolId": ""}], single=True)
    assert "agentPoolId" not in view(org, "g")


# --- patch and batch rules ---------------------------------------------------------------------


def test_plain_patch_with_two_add_or_remove_fields_is_400(org: Org) -> None:
    update = {"addStack": stack("web/prod"), "removeStack": stack("ml/dev")}
    assert status_of(org.update_group, "default-policy-group", [update], single=True) == 400


def test_plain_patch_allows_new_name_and_agent_pool_beside_one_mutation(org: Org) -> None:
    org.create_group("g", "stacks")
    update = {"addStack": stack("web/prod"), "newName": "h", "agentPoolId": "p"}
    org.update_group("g", [update], single=True)
    assert (view(org, "h")["stacks"], view(org, "h")["agentPoolId"]) == ([stack("web/prod")], "p")


@pytest.mark.parametrize("field", ["stacks", "policyPacks", "insightsAccounts"])
def test_whole_list_replacement_fields_are_refused(org: Org, field: str) -> None:
    assert status_of(org.update_group, "default-policy-group", [{field: []}], single=False) == 400


def test_batch_runs_adds_before_removes_so_remove_then_add_of_a_pack_loses_it(org: Org) -> None:
    org.update_group("default-policy-group", [{"addPolicyPack": pack()}], single=True)
    upgrade = [{"removePolicyPack": pack()}, {"addPolicyPack": pack(tag="1.3.0")}]
    org.update_group("default-policy-group", upgrade, single=False)
    assert view(org, "default-policy-group")["appliedPolicyPacks"] == []


def test_batch_renames_after_every_membership_change(org: Org) -> None:
    org.create_group("g", "stacks")
    batch: list[dict[str, Any]] = [{"newName": "h"}, {"addStack": stack("web/prod")}]
    org.update_group("g", batch, single=False)
    assert view(org, "h")["stacks"] == [stack("web/prod")]


def test_batch_is_not_atomic_operations_before_a_failure_stay_applied(org: Org) -> None:
    org.create_group("g", "stacks")
    batch = [{"addStack": stack("web/prod")}, {"addStack": stack("x/y")}]
    assert status_of(org.update_group, "g", batch, single=False) == 404
    assert view(org, "g")["stacks"] == [stack("web/prod")]


# --- views ---------------------------------------------------------------------------------


def test_group_view_sorts_members_and_omits_empty_optional_fields(org: Org) -> None:
    org.create_group("g", "stacks")
    for ref in ("web/prod", "ml/dev", "payments/prod"):
        org.update_group("g", [{"addStack": stack(ref)}], single=True)
    org.update_group("g", [{"addPolicyPack": pack("cost", "2.0.0")}], single=True)
    org.update_group("g", [{"addPolicyPack": pack()}], single=True)
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
    assert by_name["default-accounts-policy-group"]["numAccounts"] == 3
    assert "numAccounts" not in by_name["prod"]


@pytest.mark.parametrize(
    ("schema", "render"),
    [
        ("AppListPolicyGroupsResponse", views.group_list),
        ("AppListPolicyPacksResponse", views.pack_list),
        ("ListInsightsAccountsResponse", lambda o: {"accounts": views.account_items(o)}),
    ],
)
def test_views_satisfy_the_openapi_response_schemas(schema: str, render: Any) -> None:
    acme = demo_fixture().new_state().org("acme")
    assert schemas.first_error(schemas.validator(schema), render(acme)) is None


def test_every_demo_group_satisfies_the_openapi_policy_group_schema() -> None:
    acme = demo_fixture().new_state().org("acme")
    checker = schemas.validator("PolicyGroup")
    for group in acme.groups.values():
        assert schemas.first_error(checker, views.group_view(acme, group)) is None


def test_metadata_counts_protected_stacks_as_preventative_plus_audit(org: Org) -> None:
    org.create_group("audit", "stacks", "audit")
    org.update_group("audit", [{"addStack": stack("ml/dev")}], single=True)
    org.update_group("audit", [{"addPolicyPack": pack()}], single=True)
    org.create_group("empty", "stacks")
    org.update_group("empty", [{"addStack": stack("web/prod")}], single=True)
    meta = views.metadata(org)
    assert (meta["ProtectedStacks"], meta["AuditStacks"], meta["PreventativeStacks"]) == (1, 1, 0)
    assert (meta["AuditStackResources"], meta["TotalStacks"], meta["TotalAccounts"]) == (5, 3, 1)


def test_paginate_hands_out_tokens_until_the_last_page() -> None:
    first, token = views.paginate(list(range(5)), None, 2)
    second, token2 = views.paginate(list(range(5)), token, 2)
    last, end = views.paginate(list(range(5)), token2, 2)
    assert (first, second, last, end) == ([0, 1], [2, 3], [4], None)


def test_paginate_refuses_a_forged_token() -> None:
    assert status_of(views.paginate, [1, 2], "garbage", 1) == 400


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
        "aws-staging",
        "gcp-analytics",
    ]


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


def test_fixture_token_is_read() -> None:
    assert fixture_from_dict({"token": "t0k", "organizations": {}}).token == "t0k"


def test_load_fixture_reads_a_yaml_file() -> None:
    fixture = load_fixture(DATA / "two-orgs.yaml")
    assert sorted(fixture.state.orgs) == ["acme", "globex"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"token": "t"}, "'organizations' is a required property"),
        ({"organizations": {"o": {"stacks": ["nope"]}}}, "$.organizations.o.stacks[0]"),
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
        ({"organizations": {"o": {"stacks": ["a/b", "a/b"]}}}, "duplicate name(s) a/b"),
    ],
)
def test_bad_fixtures_are_refused_saying_where(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(FixtureError, match=re.escape(expected)):
        fixture_from_dict(data)


def test_missing_fixture_file_is_a_fixture_error(tmp_path: Path) -> None:
    with pytest.raises(FixtureError, match=re.escape("missing.yaml")):
        load_fixture(tmp_path / "missing.yaml")


# --- state files ---------------------------------------------------------------------------


def test_state_file_round_trips_every_group(tmp_path: Path) -> None:
    fixture = demo_fixture()
    state = fixture.new_state()
    acme = state.org("acme")
    acme.update_group("prod", [{"addPolicyPack": pack("aws-guardrails", "7.7.7")}], single=True)
    acme.update_group("prod", [{"agentPoolId": "pool-1", "newName": "production"}], single=True)
    write_state_file(tmp_path / "state.json", state)
    restored = read_state_file(tmp_path / "state.json", fixture).org("acme")
    assert {n: view(restored, n) for n in restored.groups} == {
        n: view(acme, n) for n in acme.groups
    }
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_state_file_for_an_org_missing_from_the_fixture_is_refused(tmp_path: Path) -> None:
    write_state_file(tmp_path / "s.json", State({"other": Org("other")}))
    with pytest.raises(FixtureError, match="organization 'other' is not in the fixture"):
        read_state_file(tmp_path / "s.json", demo_fixture())


def test_state_file_that_is_not_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text('{"formatVersion": 1, "organizations": {"acme": {}}}')
    with pytest.raises(FixtureError, match="not an emulator state file"):
        read_state_file(tmp_path / "s.json", demo_fixture())
