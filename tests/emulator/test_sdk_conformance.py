"""Pulumi's own SDK (pulumi-cloud-sdk, pinned) against the real emulator on loopback.

Every answer must parse into the SDK's models, which raise on a missing required field or an
unknown enum value, and every call must have the effect the service documents. One behaviour
per test; the emulator is the current generation with a small tagged organization.
"""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pulumi_cloud_sdk import ApiClient, Configuration, default_encoder
from pulumi_cloud_sdk import models as m
from pulumi_cloud_sdk.apis import InsightsApi, OrganizationsApi, StacksApi, UsersApi

from pgsync.emulator import EmulatorServer, fixture_from_dict

TOKEN = "sdk-token"
ORG = "acme"
FIXTURE: dict[str, Any] = {
    "token": TOKEN,
    "organizations": {
        ORG: {
            "defaultGroups": {
                "preventative": "default-preventative-policy-group",
                "audit": "default-audit-policy-group",
            },
            "stacks": [
                {"name": "web/prod", "tags": {"env": "prod", "team": "web"}, "resourceCount": 10},
                {"name": "web/dev", "tags": {"env": "dev", "team": "web"}, "lastUpdate": 1},
                {"name": "payments/prod", "tags": {"env": "prod"}, "resourceCount": 5},
                {"name": "payments/dev", "tags": {"env": "dev"}},
                "data/etl",
            ],
            "policyPacks": [
                {"name": "aws", "displayName": "AWS Guardrails", "versionTags": ["1.0.0", "1.3.0"]},
                {"name": "cost", "displayName": "Cost Controls", "versionTags": ["2.0.0"]},
            ],
            "accounts": [
                {"name": "aws-org", "provider": "aws", "tags": {"env": "prod"}},
                {"name": "aws-org/eu-west-1", "provider": "aws", "parent": "aws-org"},
                {"name": "aws-org/us-east-1", "provider": "aws", "parent": "aws-org"},
                {"name": "gcp-data", "provider": "gcp", "tags": {"env": "prod"}},
            ],
        }
    },
}
PREVENTATIVE_DEFAULT = "default-preventative-policy-group"
AUDIT_DEFAULT = "default-audit-policy-group"


class Sdk:
    """The SDK's API classes, configured for one running emulator."""

    def __init__(self, server: EmulatorServer, token: str = TOKEN) -> None:
        configuration = Configuration()
        configuration.host = server.url
        configuration.access_token = token
        client = ApiClient(configuration)
        self.server = server
        self.orgs = OrganizationsApi(client)
        self.stacks = StacksApi(client)
        self.users = UsersApi(client)
        self.insights = InsightsApi(client)


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(fixture_from_dict(FIXTURE), page_size=2) as running:
        yield running


@pytest.fixture
def sdk(server: EmulatorServer) -> Sdk:
    return Sdk(server)


def stack_context() -> Any:
    return m.PermissionExpressionStack()


def equal(key: str, value: str, context: Callable[[], Any] = stack_context) -> Any:
    """Equal(Tag(key), "value"): the shape the provider and Pulumi's console build."""
    return m.PermissionExpressionEqual(
        left=m.PermissionExpressionTag(context=context(), key=key),
        right=m.PermissionLiteralExpressionString(value=value),
    )


def account_context() -> Any:
    return m.PermissionExpressionInsightsAccount()


def ref(project: str, name: str) -> Any:
    return m.AppPulumiStackReference(name=name, routing_project=project)


def pack(name: str, tag: str, version: int = 1, display: str = "") -> Any:
    return m.AppPolicyPackMetadata(
        name=name, display_name=display or name, version=version, version_tag=tag
    )


def failure(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, str]:
    """The status and message of the error answer the SDK raises for."""
    with pytest.raises(urllib.error.HTTPError) as caught:
        call(*args, **kwargs)
    body = json.loads(caught.value.read())
    return caught.value.code, body["message"]


def names(models: list[Any]) -> list[str]:
    return [model.name for model in models]


def create(sdk: Sdk, name: str, **fields: Any) -> None:
    sdk.orgs.new_policy_group(ORG, m.NewPolicyGroupRequest(name=name, **fields))


def update(sdk: Sdk, group: str, **fields: Any) -> None:
    sdk.orgs.update_policy_group(ORG, group, m.UpdatePolicyGroupRequest(**fields))


# --- OrganizationsApi: groups ------------------------------------------------------------------


def test_list_policy_groups_marks_the_defaults_with_is_org_default(sdk: Sdk) -> None:
    listed = sdk.orgs.list_policy_groups(ORG).policy_groups
    defaults = {g.name: (g.entity_type.value, g.mode.value) for g in listed if g.is_org_default}
    assert defaults == {
        PREVENTATIVE_DEFAULT: ("stacks", "preventative"),
        AUDIT_DEFAULT: ("accounts", "audit"),
    }


def test_new_policy_group_with_only_a_mode_derives_the_entity_type(sdk: Sdk) -> None:
    create(sdk, "Prod Stacks", mode=m.PolicyGroupMode("audit"))
    listed = {g.name: g for g in sdk.orgs.list_policy_groups(ORG).policy_groups}
    assert listed["Prod Stacks"].entity_type == m.AppEntityType("accounts")


def test_new_policy_group_with_only_an_entity_type_derives_the_mode(sdk: Sdk) -> None:
    create(sdk, "cloud", entity_type=m.PolicyGroupEntityType("accounts"))
    assert sdk.orgs.get_policy_group(ORG, "cloud").mode == m.PolicyGroupMode("audit")


def test_new_policy_group_with_a_taken_name_is_409(sdk: Sdk) -> None:
    assert failure(create, sdk, PREVENTATIVE_DEFAULT)[0] == 409


def test_new_policy_group_with_a_name_outside_the_rule_is_400(sdk: Sdk) -> None:
    status, message = failure(create, sdk, "trailing space ")
    assert (status, "1-100 characters" in message) == (400, True)


def test_new_policy_group_with_a_stack_rule_makes_tagged_stacks_rule_members(sdk: Sdk) -> None:
    create(sdk, "prod", stack_match_rule=equal("env", "prod"))
    members = sdk.orgs.list_policy_group_stacks(ORG, "prod").stacks
    assert [(s.routing_project, s.name, s.source.value) for s in members] == [
        ("payments", "prod", "rule"),
        ("web", "prod", "rule"),
    ]


def test_get_policy_group_returns_the_rule_as_the_sdk_sent_it(sdk: Sdk) -> None:
    rule = m.PermissionExpressionNot(
        node=m.PermissionExpressionHasTag(context=stack_context(), key="team")
    )
    create(sdk, "untagged", stack_match_rule=rule)
    assert sdk.orgs.get_policy_group(ORG, "untagged").stack_match_rule == rule


def test_get_policy_group_of_an_unknown_group_is_404(sdk: Sdk) -> None:
    assert failure(sdk.orgs.get_policy_group, ORG, "nope") == (404, "Policy group 'nope' not found")


def test_update_policy_group_combines_several_fields_in_one_request(sdk: Sdk) -> None:
    create(sdk, "g")
    update(
        sdk,
        "g",
        add_stack=ref("web", "dev"),
        add_policy_pack=pack("aws", "1.3.0"),
        agent_pool_id="pool-1",
    )
    group = sdk.orgs.get_policy_group(ORG, "g")
    assert (names(group.stacks), names(group.applied_policy_packs), group.agent_pool_id) == (
        ["dev"],
        ["aws"],
        "pool-1",
    )
    assert (group.applied_policy_packs[0].version, group.applied_policy_packs[0].display_name) == (
        2,
        "AWS Guardrails",
    )


def test_update_policy_group_adding_a_parent_account_brings_its_children(sdk: Sdk) -> None:
    create(sdk, "cloud", mode=m.PolicyGroupMode("audit"))
    update(sdk, "cloud", add_insights_account=m.AppInsightsAccountReference(name="aws-org"))
    assert sdk.orgs.get_policy_group(ORG, "cloud").accounts == [
        "aws-org",
        "aws-org/eu-west-1",
        "aws-org/us-east-1",
    ]


def test_update_policy_group_cannot_give_a_preventative_group_accounts(sdk: Sdk) -> None:
    account = m.AppInsightsAccountReference(name="gcp-data")
    assert failure(update, sdk, PREVENTATIVE_DEFAULT, add_insights_account=account)[0] == 400


def test_update_policy_group_removes_a_rule_and_its_members(sdk: Sdk) -> None:
    create(sdk, "prod", stack_match_rule=equal("env", "prod"))
    update(sdk, "prod", remove_stack_match_rule=True)
    group = sdk.orgs.get_policy_group(ORG, "prod")
    assert (group.stack_match_rule, sdk.orgs.list_policy_group_stacks(ORG, "prod").stacks) == (
        None,
        [],
    )


def test_update_policy_group_renames_a_group_with_a_space_in_its_name(sdk: Sdk) -> None:
    create(sdk, "Prod Stacks")
    update(sdk, "Prod Stacks", new_name="Production Stacks")
    assert "Production Stacks" in names(sdk.orgs.list_policy_groups(ORG).policy_groups)


def test_update_policy_group_cannot_rename_a_default_group(sdk: Sdk) -> None:
    assert failure(update, sdk, AUDIT_DEFAULT, new_name="x")[0] == 400


def test_batch_update_policy_group_applies_several_updates_of_several_fields(sdk: Sdk) -> None:
    create(sdk, "g", mode=m.PolicyGroupMode("audit"))
    batch = [
        m.UpdatePolicyGroupRequest(
            add_stack=ref("data", "etl"), add_policy_pack=pack("cost", "2.0.0")
        ),
        m.UpdatePolicyGroupRequest(
            add_insights_account=m.AppInsightsAccountReference(name="gcp-data"),
            account_match_rule=equal("env", "prod", account_context),
        ),
    ]
    sdk.orgs.batch_update_policy_group(ORG, "g", batch)
    accounts = sdk.orgs.list_policy_group_accounts(ORG, "g", count=10).accounts
    assert [(a.name, a.source.value) for a in accounts] == [
        ("aws-org", "rule"),
        ("gcp-data", "explicit"),
    ]
    assert names(sdk.orgs.get_policy_group(ORG, "g").stacks) == ["etl"]


def test_batch_update_policy_group_runs_adds_before_removes(sdk: Sdk) -> None:
    create(sdk, "g")
    update(sdk, "g", add_policy_pack=pack("aws", "1.0.0"))
    upgrade = [
        m.UpdatePolicyGroupRequest(remove_policy_pack=pack("aws", "1.0.0")),
        m.UpdatePolicyGroupRequest(add_policy_pack=pack("aws", "1.3.0")),
    ]
    sdk.orgs.batch_update_policy_group(ORG, "g", upgrade)
    assert sdk.orgs.get_policy_group(ORG, "g").applied_policy_packs == []


def test_delete_policy_group_deletes_the_group(sdk: Sdk) -> None:
    create(sdk, "Short Lived")
    sdk.orgs.delete_policy_group(ORG, "Short Lived")
    assert failure(sdk.orgs.get_policy_group, ORG, "Short Lived")[0] == 404


def test_delete_policy_group_refuses_a_default_group_whatever_its_name(sdk: Sdk) -> None:
    assert failure(sdk.orgs.delete_policy_group, ORG, PREVENTATIVE_DEFAULT) == (
        400,
        f"Cannot delete the default policy group '{PREVENTATIVE_DEFAULT}'",
    )


def test_get_policy_group_metadata_counts_rule_members_by_mode(sdk: Sdk) -> None:
    create(sdk, "prod", stack_match_rule=equal("env", "prod"))
    update(sdk, "prod", add_policy_pack=pack("aws", "1.3.0"))
    metadata = sdk.orgs.get_policy_group_metadata(ORG)
    assert (metadata.preventative_stacks, metadata.preventative_stack_resources) == (2, 15)
    assert (metadata.total_stacks, metadata.total_accounts) == (5, 4)


# --- OrganizationsApi: members and previews ---------------------------------------------------


def every_member(call: Callable[..., Any], key: str, **params: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    token = None
    while True:
        page = call(continuation_token=token, **params)
        pages.append(names(getattr(page, key)))
        token = page.continuation_token
        if token is None:
            return pages


def test_list_policy_group_stacks_pages_through_every_member_once(sdk: Sdk) -> None:
    create(sdk, "prod", stack_match_rule=equal("team", "web"))
    update(sdk, "prod", add_stack=ref("data", "etl"))
    pages = every_member(
        lambda **kw: sdk.orgs.list_policy_group_stacks(ORG, "prod", **kw), "stacks", count=1
    )
    assert pages == [["etl"], ["dev"], ["prod"]]


def test_list_policy_group_stacks_filters_by_source(sdk: Sdk) -> None:
    create(sdk, "prod", stack_match_rule=equal("env", "prod"))
    update(sdk, "prod", add_stack=ref("web", "prod"))
    source = m.PolicyGroupMemberSource("rule")
    rule_members = sdk.orgs.list_policy_group_stacks(ORG, "prod", source=source).stacks
    assert [(s.routing_project, s.tags) for s in rule_members] == [("payments", {"env": "prod"})]


def test_list_policy_group_accounts_shows_a_child_via_its_parent(sdk: Sdk) -> None:
    update(sdk, AUDIT_DEFAULT, add_insights_account=m.AppInsightsAccountReference(name="aws-org"))
    pages = every_member(
        lambda **kw: sdk.orgs.list_policy_group_accounts(ORG, AUDIT_DEFAULT, **kw), "accounts"
    )
    assert pages == [["aws-org", "aws-org/eu-west-1"], ["aws-org/us-east-1", "gcp-data"]]


def test_preview_stack_match_rule_counts_matches_among_the_searched_stacks(sdk: Sdk) -> None:
    request = m.PreviewStackMatchRuleRequest(stack_match_rule=equal("env", "prod"), search="PROD")
    preview = sdk.orgs.preview_stack_match_rule(ORG, request)
    assert (preview.matched_count, preview.total_count, names(preview.stacks)) == (
        2,
        2,
        ["prod", "prod"],
    )


def test_preview_stack_match_rule_pages_and_saves_nothing(sdk: Sdk) -> None:
    rule = m.PermissionExpressionHasTag(context=stack_context(), key="env")
    request = m.PreviewStackMatchRuleRequest(stack_match_rule=rule)
    pages = every_member(
        lambda **kw: sdk.orgs.preview_stack_match_rule(ORG, request, **kw), "stacks"
    )
    assert [len(page) for page in pages] == [2, 2]
    assert sdk.server.writes() == []


def test_preview_account_match_rule_counts_matching_accounts(sdk: Sdk) -> None:
    request = m.PreviewAccountMatchRuleRequest(
        account_match_rule=equal("env", "prod", account_context)
    )
    preview = sdk.orgs.preview_account_match_rule(ORG, request)
    assert (preview.matched_count, preview.total_count, names(preview.accounts)) == (
        2,
        4,
        ["aws-org", "gcp-data"],
    )


def test_preview_of_a_rule_in_the_wrong_context_is_400(sdk: Sdk) -> None:
    request = m.PreviewAccountMatchRuleRequest(account_match_rule=equal("env", "prod"))
    status, message = failure(sdk.orgs.preview_account_match_rule, ORG, request)
    assert (
        status,
        message.startswith("Invalid request body at $.accountMatchRule.left.context"),
    ) == (
        400,
        True,
    )


def test_previews_without_the_feature_are_403() -> None:
    fixture = fixture_from_dict(
        {"token": TOKEN, "organizations": {ORG: {"features": {"matchRules": False}}}}
    )
    with EmulatorServer(fixture) as server:
        request = m.PreviewStackMatchRuleRequest(stack_match_rule=equal("env", "prod"))
        assert failure(Sdk(server).orgs.preview_stack_match_rule, ORG, request) == (
            403,
            "Policy group match rules are a preview feature that is not enabled for "
            "organization 'acme'",
        )


# --- OrganizationsApi: packs -------------------------------------------------------------------


def test_list_policy_packs_orgs_lists_versions_and_tags(sdk: Sdk) -> None:
    packs = sdk.orgs.list_policy_packs_orgs(ORG).policy_packs
    assert [(p.name, p.versions, p.version_tags) for p in packs] == [
        ("aws", [1, 2], ["1.0.0", "1.3.0"]),
        ("cost", [1], ["2.0.0"]),
    ]


def test_get_policy_pack_says_whether_a_group_applies_the_version(sdk: Sdk) -> None:
    update(sdk, PREVENTATIVE_DEFAULT, add_policy_pack=pack("aws", "1.3.0"))
    applied = [sdk.orgs.get_policy_pack(ORG, "aws", v).applied for v in ("1", "2")]
    assert applied == [False, True]


# --- StacksApi, UsersApi, InsightsApi ----------------------------------------------------------


def test_get_stack_policy_groups_lists_groups_holding_the_stack_explicitly_or_by_rule(
    sdk: Sdk,
) -> None:
    create(sdk, "by rule", stack_match_rule=equal("team", "web"))
    create(sdk, "by hand", mode=m.PolicyGroupMode("audit"))
    update(sdk, "by hand", add_stack=ref("web", "dev"))
    groups = sdk.stacks.get_stack_policy_groups(ORG, "web", "dev").policy_groups
    assert names(groups) == ["by hand", "by rule", PREVENTATIVE_DEFAULT]


def test_get_stack_policy_groups_of_an_unknown_stack_is_404(sdk: Sdk) -> None:
    assert failure(sdk.stacks.get_stack_policy_groups, ORG, "web", "nope")[0] == 404


def test_get_stack_reads_the_stacks_tags(sdk: Sdk) -> None:
    sdk.server.set_stack_tags(ORG, "data/etl", {"owner": "data-team"})
    assert sdk.stacks.get_stack(ORG, "data", "etl").tags == {"owner": "data-team"}


def test_list_user_stacks_pages_through_every_stack_once(sdk: Sdk) -> None:
    seen: list[tuple[str, str]] = []
    token = None
    while True:
        page = sdk.users.list_user_stacks(organization=ORG, max_results=2, continuation_token=token)
        seen += [(s.project_name, s.stack_name) for s in page.stacks]
        token = page.continuation_token
        if token is None:
            break
    assert seen == sorted(
        [
            ("web", "prod"),
            ("web", "dev"),
            ("payments", "prod"),
            ("payments", "dev"),
            ("data", "etl"),
        ]
    )


def test_list_user_stacks_filters_by_project_and_tag(sdk: Sdk) -> None:
    page = sdk.users.list_user_stacks(
        organization=ORG, project="web", tag_name="env", tag_value="dev"
    )
    [only] = page.stacks
    assert (only.stack_name, only.last_update, only.resource_count, only.org_name) == (
        "dev",
        1,
        0,
        ORG,
    )


def test_list_accounts_pages_with_next_token_and_filters_by_parent(sdk: Sdk) -> None:
    first = sdk.insights.list_accounts(ORG)
    second = sdk.insights.list_accounts(ORG, continuation_token=first.next_token)
    assert (names(first.accounts), names(second.accounts), second.next_token) == (
        ["aws-org", "aws-org/eu-west-1"],
        ["aws-org/us-east-1", "gcp-data"],
        None,
    )
    assert names(sdk.insights.list_accounts(ORG, parent="aws-org").accounts) == [
        "aws-org/eu-west-1",
        "aws-org/us-east-1",
    ]


def test_a_wrong_access_token_is_401(server: EmulatorServer) -> None:
    assert failure(Sdk(server, token="wrong").orgs.list_policy_groups, ORG)[0] == 401


# --- the SDK's wire format -------------------------------------------------------------------


def test_the_sdk_sends_unset_fields_as_null_and_the_emulator_reads_them_as_absent(
    sdk: Sdk,
) -> None:
    update(sdk, PREVENTATIVE_DEFAULT, add_stack=ref("data", "etl"))
    sent = sdk.server.requests[-1]
    assert isinstance(sent.body, dict)
    assert (sent.status, sent.body["newName"], sent.body["removeStackMatchRule"]) == (
        204,
        None,
        False,
    )


REQUESTS: list[tuple[str, Any]] = [
    (
        "POST /policygroups",
        m.NewPolicyGroupRequest(
            name="Every Field",
            entity_type=m.PolicyGroupEntityType("stacks"),
            mode=m.PolicyGroupMode("audit"),
            agent_pool_id="pool",
            stack_match_rule=equal("env", "prod"),
            account_match_rule=equal("env", "prod", account_context),
        ),
    ),
    (
        "PATCH /policygroups/g",
        m.UpdatePolicyGroupRequest(
            new_name="h",
            add_stack=ref("web", "prod"),
            remove_stack=ref("web", "dev"),
            add_policy_pack=pack("aws", "1.3.0"),
            remove_policy_pack=pack("cost", "2.0.0"),
            add_insights_account=m.AppInsightsAccountReference(name="gcp-data"),
            remove_insights_account=m.AppInsightsAccountReference(name="aws-org"),
            agent_pool_id="",
            stack_match_rule=equal("env", "prod"),
            remove_account_match_rule=True,
        ),
    ),
    (
        "POST /policygroups/stackmatchrule/preview",
        m.PreviewStackMatchRuleRequest(stack_match_rule=equal("env", "prod"), search="x"),
    ),
    (
        "POST /policygroups/accountmatchrule/preview",
        m.PreviewAccountMatchRuleRequest(
            account_match_rule=equal("env", "prod", account_context), search="x"
        ),
    ),
]


@pytest.mark.parametrize(("route", "model"), REQUESTS, ids=[r for r, _ in REQUESTS])
def test_every_request_model_as_the_sdk_serializes_it_is_accepted(
    server: EmulatorServer, route: str, model: Any
) -> None:
    method, path = route.split(" ")
    body = json.dumps(default_encoder.sanitize_for_serialization(model))
    headers = {"Authorization": f"token {TOKEN}", "Content-Type": "application/json"}
    with httpx.Client(base_url=f"{server.url}/api/orgs/{ORG}", headers=headers) as http:
        http.post("/policygroups", json={"name": "g", "mode": "audit"})
        response = http.request(method, path, content=body)
    assert response.status_code in (200, 204), response.text


RESPONSES = [
    ("/api/orgs/acme/policygroups", "AppListPolicyGroupsResponse"),
    ("/api/orgs/acme/policygroups/prod", "PolicyGroup"),
    ("/api/orgs/acme/policygroups/metadata", "PolicyGroupMetadata"),
    ("/api/orgs/acme/policygroups/prod/stacks", "ListPolicyGroupStacksResponse"),
    ("/api/orgs/acme/policygroups/prod/accounts", "ListPolicyGroupAccountsResponse"),
    ("/api/orgs/acme/policypacks", "AppListPolicyPacksResponse"),
    ("/api/orgs/acme/policypacks/aws/versions/2", "AppGetPolicyPackResponse"),
    ("/api/stacks/acme/web/prod", "AppStack"),
    ("/api/stacks/acme/web/prod/policygroups", "AppListPolicyGroupsResponse"),
    ("/api/user/stacks?organization=acme", "AppListStacksResponse"),
    ("/api/preview/insights/acme/accounts", "ListInsightsAccountsResponse"),
]


def lost(raw: Any, again: Any, path: str = "$") -> list[str]:
    """Where `again` (the SDK's re-serialization of `raw`) differs from it.

    Keys the answer omits may come back as the SDK's defaults (null, 0, false), nothing else.
    """
    if isinstance(raw, dict) and isinstance(again, dict):
        problems = [p for k in raw for p in lost(raw[k], again.get(k), f"{path}.{k}")]
        extra = [f"{path}.{k}" for k in again if k not in raw and again[k] not in (None, 0, False)]
        return problems + extra
    if isinstance(raw, list) and isinstance(again, list) and len(raw) == len(again):
        return [
            p
            for i, (a, b) in enumerate(zip(raw, again, strict=True))
            for p in lost(a, b, f"{path}[{i}]")
        ]
    return [] if raw == again else [path]


@pytest.mark.parametrize(("path", "model"), RESPONSES, ids=[m for _, m in RESPONSES])
def test_every_answer_round_trips_through_the_sdks_model_without_losing_a_field(
    sdk: Sdk, path: str, model: str
) -> None:
    create(sdk, "prod", mode=m.PolicyGroupMode("audit"), stack_match_rule=equal("env", "prod"))
    update(
        sdk,
        "prod",
        add_insights_account=m.AppInsightsAccountReference(name="aws-org"),
        add_policy_pack=m.AppPolicyPackMetadata(
            name="aws", display_name="", version=0, version_tag="1.3.0", config={"all": {}}
        ),
        agent_pool_id="pool",
    )
    headers = {"Authorization": f"token {TOKEN}"}
    raw = httpx.get(f"{sdk.server.url}{path}", headers=headers).json()
    parsed = default_encoder.deserialize(raw, model)
    assert lost(raw, default_encoder.sanitize_for_serialization(parsed)) == []


def test_previews_round_trip_through_the_sdks_models(sdk: Sdk) -> None:
    rule = json.loads(json.dumps(default_encoder.sanitize_for_serialization(equal("env", "prod"))))
    headers = {"Authorization": f"token {TOKEN}"}
    path = f"{sdk.server.url}/api/orgs/{ORG}/policygroups/stackmatchrule/preview"
    raw = httpx.post(path, json={"stackMatchRule": rule}, headers=headers).json()
    parsed = default_encoder.deserialize(raw, "PreviewStackMatchRuleResponse")
    assert lost(raw, default_encoder.sanitize_for_serialization(parsed)) == []


# --- lookups of one stack or account -----------------------------------------------------------


def test_get_stack_of_an_unknown_stack_is_404(sdk: Sdk) -> None:
    assert failure(sdk.stacks.get_stack, ORG, "web", "nope") == (404, "Stack 'web/nope' not found")


def test_get_stack_answers_the_sdks_app_stack(sdk: Sdk) -> None:
    found = sdk.stacks.get_stack(ORG, "web", "prod")
    assert isinstance(found, m.AppStack)
    assert (found.org_name, found.project_name, found.stack_name, found.tags) == (
        ORG,
        "web",
        "prod",
        {"env": "prod", "team": "web"},
    )


def test_head_account_of_a_known_account_answers_200_without_a_body(sdk: Sdk) -> None:
    assert sdk.insights.head_account(ORG, "gcp-data") == b""
    assert sdk.server.requests[-1].status == 200


def test_head_account_of_a_child_account_is_sent_percent_encoded_and_found(sdk: Sdk) -> None:
    sdk.insights.head_account(ORG, "aws-org/eu-west-1")
    sent = sdk.server.requests[-1]
    assert (sent.method, sent.path, sent.status) == (
        "HEAD",
        f"/api/preview/insights/{ORG}/accounts/aws-org%2Feu-west-1",
        200,
    )


def test_head_account_of_an_unknown_account_is_404(sdk: Sdk) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        sdk.insights.head_account(ORG, "aws-org/nope")
    assert (caught.value.code, caught.value.read()) == (404, b"")


def test_read_account_answers_the_account_as_listed(sdk: Sdk) -> None:
    [listed] = sdk.insights.list_accounts(ORG, parent="aws-org", count=1).accounts
    found = sdk.insights.read_account(ORG, "aws-org/eu-west-1")
    assert isinstance(found, m.ReadInsightsAccountResponse)
    assert default_encoder.sanitize_for_serialization(found) == (
        default_encoder.sanitize_for_serialization(listed)
    )


def test_read_account_of_an_unknown_account_is_404(sdk: Sdk) -> None:
    assert failure(sdk.insights.read_account, ORG, "nope") == (
        404,
        "Insights account 'nope' not found",
    )
