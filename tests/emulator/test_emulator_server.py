"""The emulator over real HTTP: every route, its error codes, paging, persistence and controls."""

from __future__ import annotations

import http.client
import socket
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import httpx
import pytest

from pgsync.emulator import EmulatorServer, HttpError, demo_fixture, load_fixture

GROUPS = "/api/orgs/acme/policygroups"
DATA = Path(__file__).parents[1] / "data" / "emulator"


def pack(name: str = "aws-guardrails", tag: str = "1.3.0", **extra: Any) -> dict[str, Any]:
    return {"name": name, "displayName": name, "version": 1, "versionTag": tag, **extra}


def stack(project: str, name: str) -> dict[str, str]:
    return {"routingProject": project, "name": name}


def error(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == response.status_code
    return response.status_code, str(body["message"])


# --- reads -----------------------------------------------------------------------------------


def test_list_groups_returns_summaries_sorted_by_name(client: httpx.Client) -> None:
    response = client.get(GROUPS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert [g["name"] for g in response.json()["policyGroups"]] == [
        "default-accounts-policy-group",
        "default-policy-group",
        "legacy-manual",
        "prod",
        "sandbox",
    ]


def test_get_group_returns_the_policy_group(client: httpx.Client) -> None:
    assert client.get(f"{GROUPS}/prod").json() == {
        "name": "prod",
        "isOrgDefault": False,
        "entityType": "stacks",
        "mode": "preventative",
        "stacks": [stack("payments", "prod"), stack("web", "prod")],
        "appliedPolicyPacks": [
            {
                "name": "aws-guardrails",
                "displayName": "AWS Guardrails",
                "version": 1,
                "versionTag": "1.0.0",
                "config": {"all": {"enforcementLevel": "mandatory"}},
            }
        ],
        "accounts": [],
    }


def test_metadata_answers_pascal_case_integers_and_is_not_a_group(client: httpx.Client) -> None:
    body = client.get(f"{GROUPS}/metadata").json()
    assert body["TotalStacks"] == 7
    assert body["ProtectedStacks"] == body["PreventativeStacks"] + body["AuditStacks"]
    assert all(key[0].isupper() and isinstance(value, int) for key, value in body.items())
    assert len(body) == 12


def test_policy_packs_lists_versions_and_tags(client: httpx.Client) -> None:
    packs = {p["name"]: p for p in client.get("/api/orgs/acme/policypacks").json()["policyPacks"]}
    assert packs["aws-guardrails"] == {
        "name": "aws-guardrails",
        "displayName": "AWS Guardrails",
        "versions": [1, 2, 3],
        "versionTags": ["1.0.0", "1.2.0", "1.3.0"],
    }


def test_pack_version_returns_its_policies(client: httpx.Client) -> None:
    body = client.get("/api/orgs/acme/policypacks/aws-guardrails/versions/3").json()
    assert (body["version"], body["versionTag"]) == (3, "1.3.0")
    assert "s3-no-public-read" in [policy["name"] for policy in body["policies"]]


@pytest.mark.parametrize(
    "path",
    [
        "/api/orgs/acme/policypacks/nope/versions/1",
        "/api/orgs/acme/policypacks/aws-guardrails/versions/4",
        "/api/orgs/acme/policypacks/aws-guardrails/versions/1.3.0",
    ],
)
def test_unknown_pack_or_version_is_404(client: httpx.Client, path: str) -> None:
    assert error(client.get(path))[0] == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/orgs/nope/policygroups"),
        ("POST", "/api/orgs/nope/policygroups"),
        ("GET", "/api/orgs/nope/policygroups/metadata"),
        ("GET", "/api/orgs/nope/policygroups/prod"),
        ("PATCH", "/api/orgs/nope/policygroups/prod/batch"),
        ("GET", "/api/orgs/nope/policypacks"),
        ("GET", "/api/preview/insights/nope/accounts"),
    ],
)
def test_unknown_org_is_404(client: httpx.Client, method: str, path: str) -> None:
    assert error(client.request(method, path, json={})) == (404, "Organization 'nope' not found")


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("DELETE", "", None),
        ("PATCH", "", {"newName": "x"}),
        ("PATCH", "/batch", [{"newName": "x"}]),
    ],
)
def test_unknown_group_is_404(client: httpx.Client, method: str, suffix: str, body: Any) -> None:
    response = client.request(method, f"{GROUPS}/nope{suffix}", json=body)
    assert error(response) == (404, "Policy group 'nope' not found")


def test_unknown_route_is_404(client: httpx.Client) -> None:
    assert error(client.get("/api/orgs/acme/nothing"))[0] == 404


def test_wrong_method_is_405_with_allow(client: httpx.Client) -> None:
    response = client.put(f"{GROUPS}/prod", json={})
    assert error(response)[0] == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH"


def test_encoded_slash_stays_inside_the_group_name(client: httpx.Client) -> None:
    assert error(client.get(f"{GROUPS}/a%2Fb"))[1] == "Policy group 'a/b' not found"


def test_head_of_a_route_without_head_is_405_without_a_body(client: httpx.Client) -> None:
    response = client.head(GROUPS)
    assert (response.status_code, response.headers["allow"], response.content) == (
        405,
        "GET, POST",
        b"",
    )


# --- create and delete ---------------------------------------------------------------------


def test_create_answers_204_without_body_and_defaults_the_mode(client: httpx.Client) -> None:
    response = client.post(GROUPS, json={"name": "cloud", "entityType": "accounts"})
    assert (response.status_code, response.content) == (204, b"")
    assert "content-type" not in response.headers
    assert client.get(f"{GROUPS}/cloud").json()["mode"] == "audit"


def test_create_with_only_a_mode_derives_the_entity_type(client: httpx.Client) -> None:
    assert client.post(GROUPS, json={"name": "Prod Stacks", "mode": "audit"}).status_code == 204
    assert client.get(f"{GROUPS}/Prod%20Stacks").json()["entityType"] == "accounts"


def test_percent_encoded_names_work_on_every_group_route(client: httpx.Client) -> None:
    client.post(GROUPS, json={"name": "Prod Stacks"})
    path = f"{GROUPS}/Prod%20Stacks"
    assert client.patch(path, json={"addStack": stack("data", "prod")}).status_code == 204
    assert client.patch(f"{path}/batch", json=[{"agentPoolId": "p"}]).status_code == 204
    assert client.get(f"{path}/stacks").json()["stacks"][0]["name"] == "prod"
    assert client.patch(path, json={"newName": "Prod Stacks 2"}).status_code == 204
    assert client.delete(f"{GROUPS}/Prod%20Stacks%202").status_code == 204


def test_create_stores_the_agent_pool(client: httpx.Client) -> None:
    client.post(GROUPS, json={"name": "g", "entityType": "stacks", "agentPoolId": "pool-1"})
    assert client.get(f"{GROUPS}/g").json()["agentPoolId"] == "pool-1"


def test_create_with_an_existing_name_is_409(client: httpx.Client) -> None:
    assert error(client.post(GROUPS, json={"name": "prod", "entityType": "stacks"}))[0] == 409


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"name": "g", "entityType": "clusters"}, "at $.entityType"),
        ({"entityType": "stacks"}, "'name' is a required property"),
        ({"name": "g", "mode": "strict"}, "at $.mode"),
        ({"name": "metadata"}, "'metadata' is reserved"),
        ({"name": ""}, "1-100 characters of letters, digits"),
        ({"name": ".."}, "not a valid path segment"),
        ({"name": "a/b"}, "1-100 characters of letters, digits"),
        ({"name": "g", "entityType": "accounts", "mode": "preventative"}, "cannot be preventative"),
    ],
)
def test_create_with_a_bad_body_is_400(client: httpx.Client, body: Any, reason: str) -> None:
    status, message = error(client.post(GROUPS, json=body))
    assert status == 400
    assert reason in message


def test_create_takes_nulls_for_absent_fields_as_the_sdk_sends_them(client: httpx.Client) -> None:
    body = {"name": "g", "entityType": None, "mode": "audit", "agentPoolId": None}
    assert client.post(GROUPS, json=body).status_code == 204
    assert client.get(f"{GROUPS}/g").json()["entityType"] == "accounts"


def test_body_that_is_not_json_is_400(client: httpx.Client) -> None:
    response = client.post(
        GROUPS, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert error(response) == (400, "Request body is not valid JSON")


def test_delete_answers_204_and_the_group_is_gone(client: httpx.Client) -> None:
    assert client.delete(f"{GROUPS}/sandbox").status_code == 204
    assert client.get(f"{GROUPS}/sandbox").status_code == 404


def test_default_group_cannot_be_deleted(client: httpx.Client) -> None:
    assert error(client.delete(f"{GROUPS}/default-policy-group"))[0] == 400


# --- patch -------------------------------------------------------------------------------------


def test_patch_adds_a_stack(client: httpx.Client) -> None:
    response = client.patch(f"{GROUPS}/prod", json={"addStack": stack("data", "prod")})
    assert response.status_code == 204
    assert stack("data", "prod") in client.get(f"{GROUPS}/prod").json()["stacks"]


def test_patch_with_an_unknown_stack_is_404_naming_it(client: httpx.Client) -> None:
    response = client.patch(f"{GROUPS}/prod", json={"addStack": stack("x", "y")})
    assert error(response) == (404, "Stack 'x/y' not found")


def test_patch_with_an_unknown_account_is_404(client: httpx.Client) -> None:
    account = client.get("/api/preview/insights/acme/accounts").json()["accounts"][0]
    account["name"] = "nope"
    body = {"addInsightsAccount": account}
    response = client.patch(f"{GROUPS}/default-accounts-policy-group", json=body)
    assert error(response)[0] == 404


def test_patch_adds_an_account_sent_as_listed(client: httpx.Client) -> None:
    client.post(GROUPS, json={"name": "cloud", "entityType": "accounts"})
    account = client.get("/api/preview/insights/acme/accounts").json()["accounts"][-1]
    assert client.patch(f"{GROUPS}/cloud", json={"addInsightsAccount": account}).status_code == 204
    assert account["name"] in client.get(f"{GROUPS}/cloud").json()["accounts"]


def test_patch_with_an_unknown_pack_is_404(client: httpx.Client) -> None:
    assert error(client.patch(f"{GROUPS}/prod", json={"addPolicyPack": pack("nope")}))[0] == 404


def test_add_policy_pack_without_a_required_field_is_400_naming_the_path(
    client: httpx.Client,
) -> None:
    body = {"addPolicyPack": {"name": "aws-guardrails", "displayName": "x", "version": 3}}
    assert error(client.patch(f"{GROUPS}/prod", json=body)) == (
        400,
        "Invalid request body at $.addPolicyPack: 'versionTag' is a required property",
    )


def test_packs_are_added_and_removed_by_name_and_version_tag_as_the_cli_sends_them(
    client: httpx.Client,
) -> None:
    enable = {"name": "cost-controls", "versionTag": "2.0.0", "config": {"all": {}}}
    assert client.patch(f"{GROUPS}/prod", json={"addPolicyPack": enable}).status_code == 204
    [_, added] = client.get(f"{GROUPS}/prod").json()["appliedPolicyPacks"]
    assert (added["displayName"], added["version"]) == ("Cost Controls", 1)
    disable = {"name": "cost-controls", "versionTag": "2.0.0"}
    assert client.patch(f"{GROUPS}/prod", json={"removePolicyPack": disable}).status_code == 204
    assert len(client.get(f"{GROUPS}/prod").json()["appliedPolicyPacks"]) == 1


def test_plain_patch_may_combine_several_mutations(client: httpx.Client) -> None:
    body = {"addStack": stack("data", "prod"), "addPolicyPack": pack("cost-controls", "2.0.0")}
    assert client.patch(f"{GROUPS}/prod", json=body).status_code == 204
    group = client.get(f"{GROUPS}/prod").json()
    assert stack("data", "prod") in group["stacks"]
    assert [p["name"] for p in group["appliedPolicyPacks"]] == ["aws-guardrails", "cost-controls"]


def test_patch_takes_the_sdks_nulls_and_false_removals_as_absent(client: httpx.Client) -> None:
    body = {
        "newName": None,
        "addStack": stack("data", "prod"),
        "removeStack": None,
        "stackMatchRule": None,
        "removeStackMatchRule": False,
        "removeAccountMatchRule": False,
    }
    assert client.patch(f"{GROUPS}/prod", json=body).status_code == 204
    assert stack("data", "prod") in client.get(f"{GROUPS}/prod").json()["stacks"]


def test_whole_list_fields_of_the_cli_replace_lists_in_one_patch(client: httpx.Client) -> None:
    body = {
        "stacks": [stack("ml", "dev")],
        "policyPacks": [{"name": "cost-controls"}],
        "newName": "edited",
    }
    assert client.patch(f"{GROUPS}/prod", json=body).status_code == 204
    group = client.get(f"{GROUPS}/edited").json()
    assert group["stacks"] == [stack("ml", "dev")]
    assert [(p["name"], p["versionTag"]) for p in group["appliedPolicyPacks"]] == [
        ("cost-controls", "2.0.0")
    ]


def test_whole_list_accounts_must_be_names(client: httpx.Client) -> None:
    body = {"insightsAccounts": [{"name": "aws-prod"}]}
    response = client.patch(f"{GROUPS}/default-accounts-policy-group", json=body)
    assert error(response)[0] == 400


def test_add_policy_pack_upserts_by_name(client: httpx.Client) -> None:
    body = {**pack(environments=["policy/aws"]), "config": {}}
    client.patch(f"{GROUPS}/prod", json={"addPolicyPack": body})
    [applied] = client.get(f"{GROUPS}/prod").json()["appliedPolicyPacks"]
    assert applied == {
        "name": "aws-guardrails",
        "displayName": "AWS Guardrails",
        "version": 3,
        "versionTag": "1.3.0",
        "environments": ["policy/aws"],
    }


def test_unknown_version_tag_is_stored_verbatim(client: httpx.Client) -> None:
    assert (
        client.patch(f"{GROUPS}/prod", json={"addPolicyPack": pack(tag="9.9.9")}).status_code == 204
    )
    [applied] = client.get(f"{GROUPS}/prod").json()["appliedPolicyPacks"]
    assert (applied["versionTag"], applied["version"]) == ("9.9.9", 0)


def test_renaming_a_default_group_is_400(client: httpx.Client) -> None:
    response = client.patch(f"{GROUPS}/default-policy-group", json={"newName": "x"})
    assert error(response)[0] == 400


def test_rename_answers_the_group_under_its_new_name(client: httpx.Client) -> None:
    assert client.patch(f"{GROUPS}/prod", json={"newName": "production"}).status_code == 204
    assert client.get(f"{GROUPS}/production").json()["name"] == "production"
    assert client.get(f"{GROUPS}/prod").status_code == 404


# --- batch -------------------------------------------------------------------------------------


def test_batch_applies_several_changes(client: httpx.Client) -> None:
    batch = [{"addStack": stack("data", "prod")}, {"addPolicyPack": pack("cost-controls", "2.0.0")}]
    assert client.patch(f"{GROUPS}/prod/batch", json=batch).status_code == 204
    group = client.get(f"{GROUPS}/prod").json()
    assert len(group["stacks"]) == 3
    assert len(group["appliedPolicyPacks"]) == 2


def test_batch_that_is_not_an_array_is_400(client: httpx.Client) -> None:
    status, message = error(client.patch(f"{GROUPS}/prod/batch", json={"newName": "x"}))
    assert (status, message.startswith("Invalid request body at $:")) == (400, True)


def test_batch_with_one_invalid_item_is_400_and_changes_nothing(client: httpx.Client) -> None:
    batch = [{"addStack": stack("data", "prod")}, {"addStack": {"name": "prod"}}]
    status, message = error(client.patch(f"{GROUPS}/prod/batch", json=batch))
    assert (status, "at $[1].addStack" in message) == (400, True)
    assert len(client.get(f"{GROUPS}/prod").json()["stacks"]) == 2


def test_batch_remove_and_add_of_the_same_pack_loses_the_pack(client: httpx.Client) -> None:
    upgrade = [{"removePolicyPack": pack(tag="1.0.0")}, {"addPolicyPack": pack(tag="1.3.0")}]
    assert client.patch(f"{GROUPS}/prod/batch", json=upgrade).status_code == 204
    assert client.get(f"{GROUPS}/prod").json()["appliedPolicyPacks"] == []


def test_batch_is_not_atomic(client: httpx.Client) -> None:
    batch = [{"addStack": stack("data", "prod")}, {"addStack": stack("x", "y")}]
    assert error(client.patch(f"{GROUPS}/prod/batch", json=batch))[0] == 404
    assert stack("data", "prod") in client.get(f"{GROUPS}/prod").json()["stacks"]


# --- paging ------------------------------------------------------------------------------------


def test_user_stacks_are_paged_with_a_continuation_token() -> None:
    with EmulatorServer(demo_fixture(), page_size=3) as srv, httpx.Client(base_url=srv.url) as c:
        pages, params = [], {"organization": "acme"}
        while True:
            body = c.get("/api/user/stacks", params=params).json()
            pages.append([f"{s['projectName']}/{s['stackName']}" for s in body["stacks"]])
            if "continuationToken" not in body:
                break
            params = {"organization": "acme", "continuationToken": body["continuationToken"]}
    assert pages == [
        ["data/prod", "data/staging", "ml/dev"],
        ["payments/prod", "payments/staging", "web/prod"],
        ["web/staging"],
    ]


def test_user_stacks_honour_max_results(client: httpx.Client) -> None:
    body = client.get("/api/user/stacks", params={"organization": "acme", "maxResults": 2}).json()
    assert len(body["stacks"]) == 2
    first = body["stacks"][0]
    assert (first["orgName"], first["projectName"], first["stackName"]) == ("acme", "data", "prod")
    assert (first["resourceCount"], first["lastUpdate"]) == (412, 1_790_812_800)
    assert "continuationToken" in body


@pytest.mark.parametrize("params", [{"maxResults": "0"}, {"continuationToken": "forged"}])
def test_user_stacks_with_bad_paging_parameters_is_400(
    client: httpx.Client, params: dict[str, str]
) -> None:
    assert error(client.get("/api/user/stacks", params=params))[0] == 400


def test_accounts_are_paged_with_next_token() -> None:
    names = sorted(demo_fixture().state.org("acme").accounts)
    pages: list[list[str]] = []
    with EmulatorServer(demo_fixture(), page_size=2) as srv, httpx.Client(base_url=srv.url) as c:
        params: dict[str, str] = {}
        while True:
            body = c.get("/api/preview/insights/acme/accounts", params=params).json()
            pages.append([a["name"] for a in body["accounts"]])
            if "nextToken" not in body:
                break
            params = {"continuationToken": body["nextToken"]}
    assert pages == [names[i : i + 2] for i in range(0, len(names), 2)]
    assert len(pages) > 1


# --- auth, persistence -------------------------------------------------------------------------


def test_token_is_required_when_configured() -> None:
    with EmulatorServer(demo_fixture(), token="s3cret") as srv, httpx.Client(base_url=srv.url) as c:
        assert error(c.get(GROUPS)) == (
            401,
            "Unauthorized: No credentials provided or are invalid.",
        )
        assert error(c.get(GROUPS, headers={"Authorization": "token wrong"}))[0] == 401
        assert c.get(GROUPS, headers={"Authorization": "token s3cret"}).status_code == 200


def test_fixture_token_applies_unless_overridden() -> None:
    fixture = load_fixture(DATA / "two-orgs.yaml")
    with EmulatorServer(fixture) as srv, httpx.Client(base_url=srv.url) as c:
        assert c.get(GROUPS).status_code == 401
    with EmulatorServer(fixture, token="other") as srv, httpx.Client(base_url=srv.url) as c:
        assert c.get(GROUPS, headers={"Authorization": "token other"}).status_code == 200


def test_state_file_survives_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    with EmulatorServer(demo_fixture(), state_file=state_file) as srv:
        httpx.patch(f"{srv.url}{GROUPS}/prod", json={"newName": "production"})
    with EmulatorServer(demo_fixture(), state_file=state_file) as srv:
        assert srv.group("acme", "production") is not None
        assert srv.group("acme", "prod") is None


# --- controls ----------------------------------------------------------------------------------


def test_fault_answers_status_and_retry_after_then_is_used_up(
    server: EmulatorServer, client: httpx.Client
) -> None:
    server.inject_fault(
        method="get", path="/policygroups$", status=429, headers={"Retry-After": "2"}
    )
    first = client.get(GROUPS)
    assert (first.status_code, first.headers["retry-after"]) == (429, "2")
    assert client.get(GROUPS).status_code == 200


def test_faults_match_method_and_path_and_are_used_in_injection_order(
    server: EmulatorServer, client: httpx.Client
) -> None:
    server.inject_fault(path="/prod$", status=503, times=2)
    server.inject_fault(path="/prod$", status=502)
    assert client.get(GROUPS).status_code == 200
    assert [client.get(f"{GROUPS}/prod").status_code for _ in range(4)] == [503, 503, 502, 200]


def test_fault_without_after_effect_leaves_state_alone(
    server: EmulatorServer, client: httpx.Client
) -> None:
    server.inject_fault(method="DELETE", status=204)
    assert client.delete(f"{GROUPS}/sandbox").status_code == 204
    assert server.group("acme", "sandbox") is not None


def test_fault_after_effect_performs_the_write_then_fails(
    server: EmulatorServer, client: httpx.Client
) -> None:
    server.inject_fault(method="DELETE", status=500, after_effect=True)
    assert error(client.delete(f"{GROUPS}/sandbox")) == (500, "Injected fault")
    assert server.group("acme", "sandbox") is None


def test_fault_drop_connection_closes_without_answer_and_logs_status_0(
    server: EmulatorServer, client: httpx.Client
) -> None:
    server.inject_fault(method="PATCH", drop_connection=True)
    with pytest.raises(httpx.RemoteProtocolError):
        client.patch(f"{GROUPS}/prod", json={"newName": "production"})
    assert server.requests[-1].status == 0
    assert server.group("acme", "prod") is not None
    assert client.get(f"{GROUPS}/prod").status_code == 200


def test_fault_can_answer_plain_text(server: EmulatorServer, client: httpx.Client) -> None:
    server.inject_fault(status=502, body="Bad Gateway")
    response = client.get(GROUPS)
    assert (response.status_code, response.text) == (502, "Bad Gateway")
    assert response.headers["content-type"].startswith("text/plain")


def test_request_log_records_everything_with_authorization_redacted(
    server: EmulatorServer, client: httpx.Client
) -> None:
    client.get("/api/user/stacks", params={"organization": "acme"})
    client.patch(
        f"{GROUPS}/prod",
        json={"newName": "production"},
        headers={"Authorization": "token s3cret", "Accept": "application/vnd.pulumi+8"},
    )
    read, write = server.requests
    assert (read.method, read.path, read.query, read.body) == (
        "GET",
        "/api/user/stacks",
        {"organization": "acme"},
        None,
    )
    assert (write.body, write.status) == ({"newName": "production"}, 204)
    assert write.headers["authorization"] == "<redacted>"
    assert write.headers["accept"] == "application/vnd.pulumi+8"
    assert server.writes() == [write]
    server.clear_requests()
    assert server.requests == []


def test_lookups_are_logged_like_every_request(
    server: EmulatorServer, client: httpx.Client
) -> None:
    client.head("/api/preview/insights/acme/accounts/aws-prod%2Feu-west-1")
    client.get("/api/stacks/acme/web/nope")
    logged = [(r.method, r.path, r.status) for r in server.requests]
    assert logged == [
        ("HEAD", "/api/preview/insights/acme/accounts/aws-prod%2Feu-west-1", 200),
        ("GET", "/api/stacks/acme/web/nope", 404),
    ]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("HEAD", "/api/preview/insights/acme/accounts/aws-prod"),
        ("GET", "/api/stacks/acme/web/prod"),
    ],
)
def test_lookups_meet_injected_faults(
    server: EmulatorServer, client: httpx.Client, method: str, path: str
) -> None:
    server.inject_fault(method=method, path="/accounts/|/stacks/", status=503)
    assert client.request(method, path).status_code == 503
    assert server.requests[-1].fault == "injected 503"


def test_lookups_meet_the_rate_limit() -> None:
    # One request's worth in the bucket, refilled in a thousand seconds.
    with (
        EmulatorServer(demo_fixture(), rate_limit=0.001) as limited,
        httpx.Client(base_url=limited.url, timeout=5) as client,
    ):
        client.get("/api/stacks/acme/web/prod")
        response = client.head("/api/preview/insights/acme/accounts/aws-prod")
        assert (response.status_code, limited.requests[-1].fault) == (429, "rate-limit")


def test_a_held_request_waits_unanswered_until_released(
    server: EmulatorServer, client: httpx.Client
) -> None:
    held = server.hold(method="post", path="/policygroups$")
    with ThreadPoolExecutor(1) as pool:
        sent = pool.submit(client.post, GROUPS, json={"name": "late"})
        assert held.wait_arrived(timeout=10)
        waiting = (server.requests, server.group("acme", "late"))
        held.release()
        logged = [(r.method, r.status) for r in server.requests]
        assert sent.result(timeout=10).status_code == 204
    assert waiting == ([], None)
    assert logged == [("POST", 204)]
    assert server.group("acme", "late") is not None


def test_requests_that_do_not_match_a_hold_are_answered_meanwhile(
    server: EmulatorServer, client: httpx.Client
) -> None:
    held = server.hold(method="POST")
    with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=server.url, timeout=5) as other:
        sent = pool.submit(other.post, GROUPS, json={"name": "late"})
        assert held.wait_arrived(timeout=10)
        assert client.get(GROUPS).status_code == 200
        assert client.patch(f"{GROUPS}/prod", json={"newName": "production"}).status_code == 204
        held.release()
        assert sent.result(timeout=10).status_code == 204


def test_a_released_hold_holds_nothing_more(server: EmulatorServer, client: httpx.Client) -> None:
    server.hold(method="POST").release()
    assert client.post(GROUPS, json={"name": "later"}).status_code == 204


def test_stopping_the_server_lets_held_requests_go() -> None:
    server = EmulatorServer(demo_fixture()).start()
    held = server.hold()
    with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=server.url, timeout=5) as client:
        sent = pool.submit(client.get, GROUPS)
        assert held.wait_arrived(timeout=10)
        server.stop()
        assert wait([sent], timeout=10).done == {sent}


def test_mutate_changes_state_out_of_band_without_logging(
    server: EmulatorServer, client: httpx.Client
) -> None:
    server.mutate("acme", "prod", {"addStack": stack("data", "prod")})
    assert stack("data", "prod") in client.get(f"{GROUPS}/prod").json()["stacks"]
    assert [r.method for r in server.requests] == ["GET"]
    with pytest.raises(HttpError):
        server.mutate("acme", "prod", {"addStack": stack("x", "y")})


def test_latency_delays_every_answer(server: EmulatorServer, client: httpx.Client) -> None:
    server.set_latency(0.2)
    started = time.monotonic()
    client.get(GROUPS)
    assert time.monotonic() - started >= 0.2


def test_the_log_says_when_each_request_arrived_and_was_answered(
    server: EmulatorServer, client: httpx.Client
) -> None:
    server.set_latency(0.2)
    before = time.monotonic()
    client.get(GROUPS)
    after = time.monotonic()
    (logged,) = server.requests
    assert before <= logged.arrived <= logged.arrived + 0.2 <= logged.answered <= after


def test_a_slow_request_does_not_hold_up_other_connections(
    server: EmulatorServer, client: httpx.Client
) -> None:
    # The slow request waits, half sent, until the test sends the rest: no clock involved.
    host, port = server.url.removeprefix("http://").split(":")
    body = b'{"name": "late"}'
    head = f"POST {GROUPS} HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    with socket.create_connection((host, int(port)), timeout=5) as slow:
        slow.sendall(head + body[:4])
        statuses = [client.get(GROUPS).status_code for _ in range(3)]
        answered_meanwhile = [r.method for r in server.requests]
        slow.sendall(body[4:])
        response = http.client.HTTPResponse(slow)
        response.begin()
    assert (statuses, answered_meanwhile) == ([200] * 3, ["GET"] * 3)
    assert response.status == 204
    assert server.group("acme", "late") is not None


def test_connections_are_kept_alive_across_requests(server: EmulatorServer) -> None:
    connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=5)
    try:
        for path in (GROUPS, f"{GROUPS}/prod", f"{GROUPS}/nope"):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            assert not response.will_close
    finally:
        connection.close()


def test_chunked_bodies_are_refused_with_411_and_the_connection_closed(
    server: EmulatorServer,
) -> None:
    # One write of the whole request: the server answers before reading a chunked body, so a
    # client that sent the chunks after the headers could meet a closed socket.
    host, port = server.url.removeprefix("http://").split(":")
    request = (
        f"POST {GROUPS} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n"
        "2\r\n{}\r\n0\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(request.encode())
        response = http.client.HTTPResponse(raw)
        response.begin()
        assert (response.status, response.will_close) == (411, True)


def exchange(server: EmulatorServer, head: str) -> tuple[http.client.HTTPResponse, bytes]:
    """Send a raw request head in one write; the answer and its body."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(head.encode("latin-1"))
        response = http.client.HTTPResponse(raw)
        response.begin()
        return response, response.read()


def test_an_http_1_0_request_is_answered_and_the_connection_closed(
    server: EmulatorServer,
) -> None:
    response, body = exchange(server, f"GET {GROUPS}/prod HTTP/1.0\r\n\r\n")
    assert (response.status, response.will_close, b'"name":"prod"' in body) == (200, True, True)


def test_connection_close_closes_after_the_answer(server: EmulatorServer) -> None:
    response, _ = exchange(server, f"GET {GROUPS} HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert (response.status, response.will_close) == (200, True)


def test_header_names_are_read_in_any_case_and_folded_lines_joined(
    server: EmulatorServer,
) -> None:
    head = f"GET {GROUPS} HTTP/1.1\r\nX-TRACE: a\r\n\tb\r\nconnection: close\r\n\r\n"
    assert exchange(server, head)[0].status == 200
    assert server.requests[-1].headers["x-trace"] == "a b"


def test_expect_100_continue_is_answered_before_the_body_is_sent(
    server: EmulatorServer,
) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    body = '{"name": "fresh"}'
    head = (
        f"POST {GROUPS} HTTP/1.1\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\nContent-Type: application/json\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(head.encode())
        interim = raw.recv(1024)
        raw.sendall(body.encode())
        response = http.client.HTTPResponse(raw)
        response.begin()
    assert (interim, response.status) == (b"HTTP/1.1 100 Continue\r\n\r\n", 204)


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (f"GET {GROUPS} HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (f"GET {GROUPS} HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        (f"GET {GROUPS} HTTP/1.1\r\n" + "X: y\r\n" * 101 + "\r\n", 431),
        (f"GET {GROUPS} HTTP/1.1\r\nX: {'y' * 70_000}\r\n\r\n", 431),
    ],
    ids=["no colon", "space before colon", "too many", "too long"],
)
def test_a_malformed_request_head_is_refused_and_the_connection_closed(
    server: EmulatorServer, head: str, status: int
) -> None:
    response, _ = exchange(server, head)
    assert (response.status, response.will_close, server.requests) == (status, True, [])


def test_stop_closes_idle_keep_alive_connections() -> None:
    srv = EmulatorServer(demo_fixture()).start()
    with httpx.Client(base_url=srv.url) as c:
        assert c.get(GROUPS).status_code == 200
        srv.stop()
        with pytest.raises(httpx.TransportError):
            c.get(GROUPS)
    with pytest.raises(RuntimeError):
        _ = srv.url


def test_a_tls_handshake_sent_to_the_plain_emulator_is_refused_without_a_traceback(
    server: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    # The first bytes of a TLS ClientHello: one word, which the standard parser answers as
    # a bad HTTP/0.9 request (a bare error page) before closing the connection.
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32) + b"\r\n")
        answer = b"".join(iter(lambda: raw.recv(4096), b""))
    assert b"Error code: 400" in answer
    assert "Traceback" not in capfd.readouterr().err
