"""The emulator's read side: what each GET view returns for a given state."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgsync.emulator import HttpError, fixture_from_dict, views
from pgsync.emulator.state import Org, State

ORG: dict[str, Any] = {
    "stacks": [
        {"name": "web/prod", "resourceCount": 3, "tags": {"env": "prod"}},
        {"name": "web/dev", "resourceCount": 5},
        "ml/dev",
    ],
    "policyPacks": [
        {
            "name": "cost",
            "versionTags": ["2.0.0"],
            "policies": [{"name": "budget", "configSchema": {"properties": {}}}],
        },
        {
            "name": "aws",
            "displayName": "AWS",
            "versionTags": ["1.0.0", "1.3.0"],
            "policies": [{"name": "s3", "enforcementLevel": "mandatory"}],
        },
    ],
    "accounts": [
        {"name": "aws-prod", "provider": "aws", "resourceCount": 100},
        {"name": "aws-prod/eu", "provider": "aws", "parent": "aws-prod", "resourceCount": 7},
        {"name": "gcp", "provider": "gcp", "tags": {"env": "prod"}},
    ],
}
TRUE = {"__type": "PermissionLiteralExpressionBool", "value": True}


def state_of(api: str = "current", **org: Any) -> State:
    data = {"api": api, "organizations": {"acme": {**copy.deepcopy(ORG), **org}}}
    return fixture_from_dict(data).new_state()


@pytest.fixture
def org() -> Org:
    return state_of().org("acme")


def add(org: Org, name: str, *updates: dict[str, Any], **create: Any) -> None:
    org.create_group({"name": name, **create})
    org.update_group(name, list(updates), single=False)


def pack(name: str, tag: str, **extra: Any) -> dict[str, Any]:
    return {"addPolicyPack": {"name": name, "versionTag": tag, **extra}}


def stack(ref: str) -> dict[str, Any]:
    project, name = ref.split("/")
    return {"addStack": {"routingProject": project, "name": name}}


def failure(call: Any, *args: Any) -> tuple[int, str]:
    with pytest.raises(HttpError) as raised:
        call(*args)
    return raised.value.status, raised.value.message


# --- groups ----------------------------------------------------------------------------------


def test_a_group_view_shows_its_agent_pool_and_rules(org: Org) -> None:
    add(org, "g", {"agentPoolId": "pool-1"}, mode="audit", stackMatchRule=TRUE)
    org.update_group("g", [{"accountMatchRule": TRUE}], single=True)
    body = views.group_view(org, org.group("g"))
    assert (body["agentPoolId"], body["stackMatchRule"], body["accountMatchRule"]) == (
        "pool-1",
        TRUE,
        TRUE,
    )


def test_a_group_view_shows_a_packs_config_and_environments(org: Org) -> None:
    config = {"all": {"enforcementLevel": "mandatory"}}
    add(org, "g", pack("aws", "1.3.0", config=config, environments=["prod"]))
    assert views.group_view(org, org.group("g"))["appliedPolicyPacks"] == [
        {
            "name": "aws",
            "displayName": "AWS",
            "version": 2,
            "versionTag": "1.3.0",
            "config": config,
            "environments": ["prod"],
        }
    ]


def test_a_pack_the_fixture_no_longer_publishes_is_shown_by_name_at_version_0(org: Org) -> None:
    add(org, "g", pack("aws", "1.0.0"))
    del org.packs["aws"]
    (shown,) = views.group_view(org, org.group("g"))["appliedPolicyPacks"]
    assert (shown["displayName"], shown["version"]) == ("aws", 0)


def test_changing_a_group_view_leaves_the_group_as_it_was(org: Org) -> None:
    config = {"all": {"enforcementLevel": "mandatory"}}
    add(org, "g", pack("aws", "1.0.0", config=config), stackMatchRule=TRUE)
    body = views.group_view(org, org.group("g"))
    body["stackMatchRule"]["value"] = False
    body["appliedPolicyPacks"][0]["config"]["all"] = "changed"
    assert views.group_view(org, org.group("g"))["stackMatchRule"] == TRUE
    assert views.group_view(org, org.group("g"))["appliedPolicyPacks"][0]["config"] == config


def test_a_summary_counts_packs_rule_members_and_child_accounts(org: Org) -> None:
    add(
        org,
        "g",
        stack("ml/dev"),
        {"addInsightsAccount": {"name": "aws-prod"}},
        pack("aws", "1.0.0"),
        pack("cost", "2.0.0"),
        mode="audit",
        stackMatchRule=TRUE,
    )
    assert views.group_summary(org, org.group("g")) == {
        "name": "g",
        "isOrgDefault": False,
        "numStacks": 3,
        "entityType": "accounts",
        "mode": "audit",
        "numEnabledPolicyPacks": 2,
        "numAccounts": 2,
    }


def test_the_groups_of_a_stack_are_summaries_by_name(org: Org) -> None:
    add(org, "b", stack("web/prod"))
    add(org, "a", stackMatchRule=TRUE)
    listed = views.stack_groups(org, ("web", "prod"))["policyGroups"]
    names = ("a", "b", "default-policy-group")
    assert listed == [views.group_summary(org, org.group(name)) for name in names]


# --- coverage --------------------------------------------------------------------------------


def test_metadata_of_an_org_without_packs_protects_nothing(org: Org) -> None:
    assert views.metadata(org) == {
        "ProtectedStacks": 0,
        "ProtectedStackResources": 0,
        "PreventativeStacks": 0,
        "PreventativeStackResources": 0,
        "AuditStacks": 0,
        "AuditStackResources": 0,
        "TotalStacks": 3,
        "TotalStackResources": 8,
        "ProtectedAccounts": 0,
        "ProtectedAccountResources": 0,
        "TotalAccounts": 3,
        "TotalAccountResources": 107,
    }


def test_metadata_counts_a_stack_in_two_groups_once_as_preventative(org: Org) -> None:
    add(org, "audit", stack("web/prod"), pack("cost", "2.0.0"), mode="audit")
    add(org, "guard", stack("web/prod"), pack("aws", "1.0.0"))
    meta = views.metadata(org)
    assert (meta["ProtectedStacks"], meta["PreventativeStacks"], meta["AuditStacks"]) == (1, 1, 0)
    assert meta["PreventativeStackResources"] == 3


def test_metadata_counts_the_resources_of_protected_accounts_and_their_children(org: Org) -> None:
    add(
        org,
        "cloud",
        {"addInsightsAccount": {"name": "aws-prod"}},
        pack("cost", "2.0.0"),
        mode="audit",
    )
    meta = views.metadata(org)
    assert (meta["ProtectedAccounts"], meta["ProtectedAccountResources"]) == (2, 107)


# --- packs -----------------------------------------------------------------------------------


def test_packs_are_listed_by_name_with_parallel_versions_and_tags(org: Org) -> None:
    assert views.pack_list(org) == {
        "policyPacks": [
            {
                "name": "aws",
                "displayName": "AWS",
                "versions": [1, 2],
                "versionTags": ["1.0.0", "1.3.0"],
            },
            {"name": "cost", "displayName": "cost", "versions": [1], "versionTags": ["2.0.0"]},
        ]
    }


def test_a_pack_version_is_its_tag_at_that_place(org: Org) -> None:
    body = views.pack_version(org, "aws", "2")
    assert (body["name"], body["displayName"], body["version"], body["versionTag"]) == (
        "aws",
        "AWS",
        2,
        "1.3.0",
    )


def test_the_current_service_fills_the_policy_fields_the_fixture_leaves_out(org: Org) -> None:
    (policy,) = views.pack_version(org, "aws", "1")["policies"]
    assert policy == {
        "name": "s3",
        "displayName": "s3",
        "description": "",
        "message": "",
        "enforcementLevel": "mandatory",
    }


def test_a_config_schema_is_given_the_object_type(org: Org) -> None:
    (policy,) = views.pack_version(org, "cost", "1")["policies"]
    assert policy["configSchema"] == {"type": "object", "properties": {}}


def test_the_legacy_service_shows_the_policies_as_the_fixture_gives_them() -> None:
    body = views.pack_version(state_of("legacy").org("acme"), "aws", "1")
    assert body["policies"] == [{"name": "s3", "enforcementLevel": "mandatory"}]
    assert "applied" not in body


def test_an_unknown_pack_is_404(org: Org) -> None:
    assert failure(views.pack_version, org, "nope", "1") == (404, "Policy pack 'nope' not found")


@pytest.mark.parametrize("version", ["0", "3", "x", "-1", "1.0"])
def test_a_version_the_pack_does_not_have_is_404(org: Org, version: str) -> None:
    assert failure(views.pack_version, org, "aws", version) == (
        404,
        f"Policy pack 'aws' has no version '{version}'",
    )


# --- stacks ----------------------------------------------------------------------------------


def test_a_stack_view_has_its_tags_version_and_a_stable_update_id(org: Org) -> None:
    body = views.stack_view(org, ("web", "prod"))
    again = views.stack_view(state_of().org("acme"), ("web", "prod"))
    assert body == again
    assert (body["orgName"], body["projectName"], body["stackName"]) == ("acme", "web", "prod")
    assert (body["tags"], body["version"]) == ({"env": "prod"}, 1)


def test_each_stack_has_its_own_ids(org: Org) -> None:
    prod, dev = (views.stack_view(org, ("web", name)) for name in ("prod", "dev"))
    assert prod["id"] != dev["id"]
    assert prod["activeUpdate"] != dev["activeUpdate"]


def test_a_stack_has_one_id_in_its_view_and_its_summary(org: Org) -> None:
    key = ("web", "prod")
    assert views.stack_view(org, key)["id"] == views.stack_summary(org, key)["id"]


def test_changing_a_stack_view_leaves_its_tags(org: Org) -> None:
    views.stack_view(org, ("web", "prod"))["tags"]["env"] = "dev"
    assert views.stack_view(org, ("web", "prod"))["tags"] == {"env": "prod"}


def test_an_unknown_stack_view_is_404(org: Org) -> None:
    assert failure(views.stack_view, org, ("web", "nope")) == (404, "Stack 'web/nope' not found")


def test_user_stacks_list_every_org_by_name() -> None:
    data = {
        "organizations": {
            "zeta": {"stacks": ["a/b"]},
            "acme": {"stacks": ["z/z", "a/a"]},
        }
    }
    items = views.stack_items(fixture_from_dict(data).new_state(), {})
    assert [(s["orgName"], s["projectName"], s["stackName"]) for s in items] == [
        ("acme", "a", "a"),
        ("acme", "z", "z"),
        ("zeta", "a", "b"),
    ]


def test_a_member_the_fixture_no_longer_has_is_listed_without_tags(org: Org) -> None:
    add(org, "g", stack("web/prod"))
    del org.stacks[("web", "prod")]
    (member,) = views.stack_member_items(org, org.group("g"), None)
    assert (member["routingProject"], member["name"], member["tags"]) == ("web", "prod", {})


# --- accounts --------------------------------------------------------------------------------


def test_accounts_are_listed_by_name_as_the_fixture_describes_them(org: Org) -> None:
    listed = views.account_items(org)
    assert [a["name"] for a in listed] == ["aws-prod", "aws-prod/eu", "gcp"]
    assert (listed[2]["provider"], listed[2]["scheduledScanEnabled"]) == ("gcp", True)


def test_the_accounts_of_a_parent_are_its_children(org: Org) -> None:
    assert [a["name"] for a in views.account_items(org, "aws-prod")] == ["aws-prod/eu"]
    assert views.account_items(org, "gcp") == []


def test_an_account_member_has_the_id_and_tags_of_the_account(org: Org) -> None:
    add(org, "g", {"addInsightsAccount": {"name": "gcp"}}, mode="audit")
    (member,) = views.account_member_items(org, org.group("g"), None)
    assert member == {
        "id": views.account_items(org)[2]["id"],
        "name": "gcp",
        "source": "explicit",
        "tags": {"env": "prod"},
    }


def test_an_account_member_the_fixture_no_longer_has_keeps_a_stable_id(org: Org) -> None:
    add(org, "g", {"addInsightsAccount": {"name": "gcp"}}, mode="audit")
    before = views.account_member_items(org, org.group("g"), None)[0]["id"]
    del org.accounts["gcp"]
    (member,) = views.account_member_items(org, org.group("g"), None)
    assert (member["id"], member["tags"]) == (before, {})


# --- paging ----------------------------------------------------------------------------------


def pages(listing: views.Listing, size: int) -> list[list[Any]]:
    """Every page of `listing`, following the tokens to the end."""
    found: list[list[Any]] = []
    token = None
    while True:
        page, token = views.paginate(listing, token, size)
        found.append(page)
        if token is None:
            return found


KEYS = st.lists(st.text(max_size=3), unique=True).map(sorted)


@given(keys=KEYS, size=st.integers(1, 5))
def test_paging_hands_out_every_item_once_in_order(keys: list[str], size: int) -> None:
    listing = views.Listing.of(keys, lambda item: (item,), 1)
    found = pages(listing, size)
    assert [item for page in found for item in page] == keys
    assert all(len(page) == size for page in found[:-1])


@given(keys=KEYS, size=st.integers(1, 5), data=st.data())
def test_items_that_stay_are_listed_once_whatever_is_removed_between_pages(
    keys: list[str], size: int, data: st.DataObject
) -> None:
    first, token = views.paginate(views.Listing.of(keys, lambda item: (item,), 1), None, size)
    staying = data.draw(st.lists(st.sampled_from(keys), unique=True).map(sorted)) if keys else []
    rest: list[str] = []
    while token is not None:
        page, token = views.paginate(views.Listing.of(staying, lambda i: (i,), 1), token, size)
        rest += page
    assert rest == [key for key in staying if key not in first]
