"""The emulator's legacy generation over real HTTP: the older API, exactly as it was emulated."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pgsync.emulator import EmulatorServer, demo_fixture, fixture_from_dict

GROUPS = "/api/orgs/acme/policygroups"
HAS_TEAM = {
    "__type": "PermissionExpressionHasTag",
    "context": {"__type": "PermissionExpressionStack"},
    "key": "team",
}


def stack(project: str, name: str) -> dict[str, str]:
    return {"routingProject": project, "name": name}


def error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert body["code"] == response.status_code
    return response.status_code, str(body["message"])


@pytest.fixture
def legacy() -> Iterator[httpx.Client]:
    with (
        EmulatorServer(demo_fixture(), api="legacy") as server,
        httpx.Client(base_url=server.url, timeout=5) as http,
    ):
        yield http


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"name": "g"}, "'entityType' is a required property"),
        ({"name": "g", "entityType": "stacks", "mode": None}, "at $.mode"),
        ({"name": "", "entityType": "stacks"}, "must not be empty"),
        ({"name": "a/b", "entityType": "stacks"}, "not a valid path segment"),
    ],
)
def test_create_is_refused_as_the_older_api_did(
    legacy: httpx.Client, body: dict[str, Any], reason: str
) -> None:
    status, message = error(legacy.post(GROUPS, json=body))
    assert (status, reason in message) == (400, True)


def test_a_plain_patch_with_two_mutations_is_400_and_changes_nothing(legacy: httpx.Client) -> None:
    pack = {"name": "cost-controls", "displayName": "x", "version": 1, "versionTag": "2.0.0"}
    body = {"addStack": stack("data", "prod"), "addPolicyPack": pack}
    assert error(legacy.patch(f"{GROUPS}/prod", json=body))[0] == 400
    assert stack("data", "prod") not in legacy.get(f"{GROUPS}/prod").json()["stacks"]


def test_account_references_may_be_just_the_name_as_the_provider_sends_them(
    legacy: httpx.Client,
) -> None:
    client_body = {"removeInsightsAccount": {"name": "aws-prod"}}
    path = f"{GROUPS}/default-accounts-policy-group"
    assert legacy.patch(path, json=client_body).status_code == 204
    assert "aws-prod" not in legacy.get(path).json()["accounts"]


def test_account_references_need_a_name(legacy: httpx.Client) -> None:
    body = {"addInsightsAccount": {"id": "x"}}
    response = legacy.patch(f"{GROUPS}/default-accounts-policy-group", json=body)
    assert error(response) == (
        400,
        "Invalid request body at $.addInsightsAccount: 'name' is a required property",
    )


def test_an_audit_stacks_group_refuses_accounts(legacy: httpx.Client) -> None:
    account = legacy.get("/api/preview/insights/acme/accounts").json()["accounts"][0]
    response = legacy.patch(f"{GROUPS}/sandbox", json={"addInsightsAccount": account})
    assert error(response) == (400, "Policy group 'sandbox' holds stacks, not accounts")


def test_pack_references_need_every_field_of_the_older_schema(legacy: httpx.Client) -> None:
    body = {"addPolicyPack": {"name": "cost-controls", "versionTag": "2.0.0"}}
    assert error(legacy.patch(f"{GROUPS}/prod", json=body))[0] == 400


@pytest.mark.parametrize("field", ["stacks", "policyPacks", "insightsAccounts"])
def test_whole_list_fields_are_refused(legacy: httpx.Client, field: str) -> None:
    assert error(legacy.patch(f"{GROUPS}/prod", json={field: []})) == (
        400,
        f"Unsupported update field(s): {field}",
    )


def test_a_match_rule_is_silently_ignored_as_an_unknown_key(legacy: httpx.Client) -> None:
    create = {"name": "g", "entityType": "stacks", "stackMatchRule": HAS_TEAM}
    assert legacy.post(GROUPS, json=create).status_code == 204
    assert legacy.patch(f"{GROUPS}/g", json={"stackMatchRule": HAS_TEAM}).status_code == 204
    assert "stackMatchRule" not in legacy.get(f"{GROUPS}/g").json()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{GROUPS}/prod/stacks"),
        ("GET", f"{GROUPS}/prod/accounts"),
        ("POST", f"{GROUPS}/stackmatchrule/preview"),
        ("POST", f"{GROUPS}/accountmatchrule/preview"),
        ("GET", "/api/stacks/acme/web/prod/policygroups"),
    ],
)
def test_the_newer_routes_do_not_exist(legacy: httpx.Client, method: str, path: str) -> None:
    assert error(legacy.request(method, path, json={}))[0] == 404


def test_a_stack_is_read_by_its_route_which_is_older_than_policy_groups(
    legacy: httpx.Client,
) -> None:
    assert legacy.get("/api/stacks/acme/web/prod").json()["stackName"] == "prod"
    assert error(legacy.get("/api/stacks/acme/web/nope"))[0] == 404


def test_an_insights_account_is_looked_up_as_on_the_current_service(
    legacy: httpx.Client,
) -> None:
    accounts = "/api/preview/insights/acme/accounts"
    assert legacy.head(f"{accounts}/aws-prod%2Feu-west-1").status_code == 200
    assert legacy.get(f"{accounts}/aws-staging").json()["name"] == "aws-staging"
    assert legacy.head(f"{accounts}/nope").status_code == 404


def test_user_stacks_carry_only_the_three_names(legacy: httpx.Client) -> None:
    body = legacy.get("/api/user/stacks", params={"organization": "acme", "project": "web"})
    assert body.json()["stacks"][0] == {
        "orgName": "acme",
        "projectName": "data",
        "stackName": "prod",
    }


def test_the_fixture_chooses_legacy_unless_the_server_overrides_it() -> None:
    fixture = fixture_from_dict({"api": "legacy", "organizations": {"acme": None}})
    with EmulatorServer(fixture) as server:
        assert server.api == "legacy"
    with EmulatorServer(fixture, api="current") as server, httpx.Client(base_url=server.url) as c:
        assert c.get(f"{GROUPS}/default-policy-group/stacks").status_code == 200


def test_a_state_file_keeps_the_api_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with EmulatorServer(demo_fixture(), state_file=state, api="legacy") as server:
        httpx.delete(f"{server.url}{GROUPS}/sandbox")
    with EmulatorServer(demo_fixture(), state_file=state) as server:
        assert server.api == "legacy"


def test_the_emulator_command_serves_legacy_with_api_legacy() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pgsync", "emulator", "--port", "0", "--api", "legacy"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        url = banner.split(" at ")[1].split(";")[0]
        assert "; legacy API;" in banner
        assert httpx.post(f"{url}{GROUPS}", json={"name": "g"}).status_code == 400
    finally:
        process.terminate()
        process.wait(timeout=10)
