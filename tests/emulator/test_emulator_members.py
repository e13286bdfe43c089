"""The current service's membership routes over real HTTP: rules, listings, previews, stacks."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pgsync.emulator import EmulatorServer, HttpError, fixture_from_dict
from pgsync.emulator.faults import FaultMix

GROUPS = "/api/orgs/acme/policygroups"
STACK = {"__type": "PermissionExpressionStack"}
ACCOUNT = {"__type": "PermissionExpressionInsightsAccount"}
ORG: dict[str, Any] = {
    "organizations": {
        "acme": {
            "stacks": [
                {"name": "web/prod", "tags": {"env": "prod", "team": "web"}, "resourceCount": 3},
                {"name": "web/dev", "tags": {"env": "dev", "team": "web"}},
                {"name": "payments/prod", "tags": {"env": "prod", "team": "payments"}},
                {"name": "payments/dev", "tags": {"env": "dev"}},
                "data/etl",
            ],
            "accounts": [
                {"name": "aws-org", "provider": "aws", "tags": {"env": "prod"}},
                {"name": "aws-org/eu-west-1", "provider": "aws", "parent": "aws-org"},
                {"name": "aws-org/us-east-1", "provider": "aws", "parent": "aws-org"},
                {"name": "gcp-data", "provider": "gcp", "tags": {"env": "prod"}},
            ],
        }
    }
}


def equal(key: str, value: str, context: dict[str, str] = STACK) -> dict[str, Any]:
    return {
        "__type": "PermissionExpressionEqual",
        "left": {"__type": "PermissionExpressionTag", "context": context, "key": key},
        "right": {"__type": "PermissionLiteralExpressionString", "value": value},
    }


def stack(project: str, name: str) -> dict[str, str]:
    return {"routingProject": project, "name": name}


def error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert body["code"] == response.status_code
    return response.status_code, str(body["message"])


def org(**settings: Any) -> dict[str, Any]:
    data = copy.deepcopy(ORG)
    data["organizations"]["acme"].update(settings)
    return data


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(fixture_from_dict(org()), page_size=2) as running:
        yield running


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5) as http:
        yield http


@pytest.fixture
def prod(client: httpx.Client) -> str:
    """An audit group `prod` of the env=prod stacks by rule, data/etl explicitly, and aws-org."""
    body = {"name": "prod", "mode": "audit", "stackMatchRule": equal("env", "prod")}
    assert client.post(GROUPS, json=body).status_code == 204
    update = {"addStack": stack("data", "etl"), "addInsightsAccount": {"name": "aws-org"}}
    assert client.patch(f"{GROUPS}/prod", json=update).status_code == 204
    return f"{GROUPS}/prod"


def every_page(client: httpx.Client, path: str, key: str, **params: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    query = dict(params)
    while True:
        body = client.get(path, params=query).json()
        pages.append([f"{m.get('routingProject', '')}/{m['name']}".lstrip("/") for m in body[key]])
        if "continuationToken" not in body:
            return pages
        query = {**params, "continuationToken": body["continuationToken"]}


# --- member listings ---------------------------------------------------------------------------


def test_stack_members_page_through_explicit_and_rule_members_once(
    client: httpx.Client, prod: str
) -> None:
    assert every_page(client, f"{prod}/stacks", "stacks") == [
        ["data/etl", "payments/prod"],
        ["web/prod"],
    ]


def test_stack_members_carry_source_and_tags(client: httpx.Client, prod: str) -> None:
    [first] = client.get(f"{prod}/stacks", params={"count": 1}).json()["stacks"]
    assert first == {"name": "etl", "routingProject": "data", "source": "explicit", "tags": {}}
    [rule, *_] = client.get(f"{prod}/stacks", params={"source": "rule"}).json()["stacks"]
    assert rule == {
        "name": "prod",
        "routingProject": "payments",
        "source": "rule",
        "tags": {"env": "prod", "team": "payments"},
    }


def test_get_group_lists_only_the_explicit_stacks_and_the_rule(
    client: httpx.Client, prod: str
) -> None:
    group = client.get(prod).json()
    assert (group["stacks"], group["stackMatchRule"]) == (
        [stack("data", "etl")],
        equal("env", "prod"),
    )


def test_account_members_include_the_children_of_a_parent(client: httpx.Client, prod: str) -> None:
    assert every_page(client, f"{prod}/accounts", "accounts") == [
        ["aws-org", "aws-org/eu-west-1"],
        ["aws-org/us-east-1"],
    ]
    assert {m["source"] for m in client.get(f"{prod}/accounts").json()["accounts"]} == {"explicit"}


def test_summaries_count_every_member(client: httpx.Client, prod: str) -> None:
    [summary] = [g for g in client.get(GROUPS).json()["policyGroups"] if g["name"] == "prod"]
    assert (summary["numStacks"], summary["numAccounts"]) == (3, 3)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"count": "0"}, "Invalid count '0'"),
        ({"count": "many"}, "Invalid count 'many'"),
        ({"source": "manual"}, "Invalid source 'manual': expected explicit or rule"),
        ({"continuationToken": "forged"}, "Invalid continuation token 'forged'"),
    ],
)
def test_member_listings_with_bad_parameters_are_400(
    client: httpx.Client, prod: str, params: dict[str, str], reason: str
) -> None:
    assert error(client.get(f"{prod}/accounts", params=params)) == (400, reason)


def test_member_listing_of_an_unknown_group_is_404(client: httpx.Client) -> None:
    assert error(client.get(f"{GROUPS}/nope/stacks")) == (404, "Policy group 'nope' not found")


def test_rule_membership_follows_tag_changes_at_once(
    server: EmulatorServer, client: httpx.Client, prod: str
) -> None:
    server.set_stack_tags("acme", "web/dev", {"env": "prod"})
    server.set_stack_tags("acme", "web/prod", {})
    assert every_page(client, f"{prod}/stacks", "stacks", source="rule") == [
        ["payments/prod", "web/dev"]
    ]


def test_account_rules_follow_account_tags(server: EmulatorServer, client: httpx.Client) -> None:
    body = {"name": "cloud", "mode": "audit", "accountMatchRule": equal("env", "prod", ACCOUNT)}
    client.post(GROUPS, json=body)
    server.set_account_tags("acme", "gcp-data", {"env": "dev"})
    members = client.get(f"{GROUPS}/cloud/accounts", params={"source": "rule"}).json()["accounts"]
    assert [m["name"] for m in members] == ["aws-org"]


def test_tag_controls_refuse_unknown_entities(server: EmulatorServer) -> None:
    with pytest.raises(HttpError, match="Stack 'x/y' not found"):
        server.set_stack_tags("acme", "x/y", {})
    with pytest.raises(HttpError, match="Insights account 'nope' not found"):
        server.set_account_tags("acme", "nope", {})


def test_tags_set_by_controls_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with EmulatorServer(fixture_from_dict(org()), state_file=state) as server:
        server.set_stack_tags("acme", "data/etl", {"env": "prod"})
    with EmulatorServer(fixture_from_dict(org()), state_file=state) as server:
        body = httpx.get(f"{server.url}/api/stacks/acme/data/etl").json()
    assert body["tags"] == {"env": "prod"}


def test_removing_a_rule_drops_its_members(client: httpx.Client, prod: str) -> None:
    assert client.patch(prod, json={"removeStackMatchRule": True}).status_code == 204
    assert every_page(client, f"{prod}/stacks", "stacks") == [["data/etl"]]
    assert "stackMatchRule" not in client.get(prod).json()


# --- previews ----------------------------------------------------------------------------------


def test_stack_preview_counts_matches_and_considered_stacks(client: httpx.Client) -> None:
    body = {"stackMatchRule": equal("env", "prod"), "search": "WEB"}
    answer = client.post(f"{GROUPS}/stackmatchrule/preview", json=body).json()
    assert answer == {
        "stacks": [
            {"name": "prod", "routingProject": "web", "tags": {"env": "prod", "team": "web"}}
        ],
        "matchedCount": 1,
        "totalCount": 2,
    }


def test_stack_preview_pages_through_the_matches(client: httpx.Client) -> None:
    body = {"stackMatchRule": {"__type": "PermissionLiteralExpressionBool", "value": True}}
    path = f"{GROUPS}/stackmatchrule/preview"
    first = client.post(path, json=body).json()
    second = client.post(path, json=body, params={"continuationToken": first["continuationToken"]})
    third = client.post(
        path, json=body, params={"continuationToken": second.json()["continuationToken"]}
    )
    names = [s["name"] for page in (first, second.json(), third.json()) for s in page["stacks"]]
    assert (len(names), first["matchedCount"], "continuationToken" in third.json()) == (5, 5, False)


def test_account_preview_searches_account_names(client: httpx.Client) -> None:
    body = {"accountMatchRule": equal("env", "prod", ACCOUNT), "search": "gcp"}
    answer = client.post(f"{GROUPS}/accountmatchrule/preview", json=body).json()
    assert (answer["matchedCount"], answer["totalCount"]) == (1, 1)
    assert answer["accounts"][0]["name"] == "gcp-data"


def test_a_preview_saves_nothing_and_is_not_a_write(
    server: EmulatorServer, client: httpx.Client
) -> None:
    before = client.get(GROUPS).json()
    client.post(f"{GROUPS}/stackmatchrule/preview", json={"stackMatchRule": equal("env", "prod")})
    assert (client.get(GROUPS).json(), server.writes()) == (before, [])


def test_a_preview_is_a_read_for_random_faults(
    server: EmulatorServer, client: httpx.Client
) -> None:
    server.set_faults(FaultMix(seed=1, rate=1.0, kinds=("drop-write",)))
    response = client.post(
        f"{GROUPS}/stackmatchrule/preview", json={"stackMatchRule": equal("env", "prod")}
    )
    assert (response.status_code, response.json()["matchedCount"]) == (200, 2)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "Invalid request body at $: 'stackMatchRule' is a required property"),
        (
            {"stackMatchRule": equal("env", "prod", ACCOUNT)},
            "Invalid request body at $.stackMatchRule.left.context: the context of stack rules "
            "is PermissionExpressionStack, not PermissionExpressionInsightsAccount",
        ),
    ],
)
def test_a_preview_of_an_invalid_rule_is_400(
    client: httpx.Client, body: dict[str, Any], reason: str
) -> None:
    assert error(client.post(f"{GROUPS}/stackmatchrule/preview", json=body)) == (400, reason)


# --- the preview feature flag ------------------------------------------------------------------

DISABLED = (
    "Policy group match rules are a preview feature that is not enabled for organization 'acme'"
)


@pytest.fixture
def no_rules() -> Iterator[httpx.Client]:
    fixture = fixture_from_dict(org(features={"matchRules": False}))
    with EmulatorServer(fixture) as server, httpx.Client(base_url=server.url) as http:
        yield http


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", GROUPS, {"name": "g", "stackMatchRule": equal("env", "prod")}),
        ("PATCH", f"{GROUPS}/default-policy-group", {"stackMatchRule": equal("env", "prod")}),
        ("PATCH", f"{GROUPS}/default-policy-group/batch", [{"removeStackMatchRule": True}]),
        ("POST", f"{GROUPS}/stackmatchrule/preview", {"stackMatchRule": equal("env", "prod")}),
        ("POST", f"{GROUPS}/accountmatchrule/preview", {}),
    ],
)
def test_rules_without_the_preview_feature_are_403(
    no_rules: httpx.Client, method: str, path: str, body: Any
) -> None:
    response = no_rules.request(method, path, json=body)
    assert response.json() == {"code": 403, "message": DISABLED}


def test_without_the_preview_feature_writes_without_rules_work(no_rules: httpx.Client) -> None:
    body = {"name": "g", "stackMatchRule": None, "accountMatchRule": None}
    assert no_rules.post(GROUPS, json=body).status_code == 204


# --- stacks ------------------------------------------------------------------------------------


def test_a_stack_reads_with_its_tags(client: httpx.Client) -> None:
    body = client.get("/api/stacks/acme/web/prod").json()
    assert (body["orgName"], body["projectName"], body["stackName"], body["tags"]) == (
        "acme",
        "web",
        "prod",
        {"env": "prod", "team": "web"},
    )
    assert {"id", "activeUpdate", "version"} <= set(body)


def test_a_stacks_groups_are_those_holding_it_explicitly_or_by_rule(
    client: httpx.Client, prod: str
) -> None:
    body = client.get("/api/stacks/acme/web/prod/policygroups").json()
    assert [g["name"] for g in body["policyGroups"]] == ["default-policy-group", "prod"]


@pytest.mark.parametrize("suffix", ["", "/policygroups"])
def test_an_unknown_stack_is_404(client: httpx.Client, suffix: str) -> None:
    assert error(client.get(f"/api/stacks/acme/web/nope{suffix}")) == (
        404,
        "Stack 'web/nope' not found",
    )


def test_user_stacks_filter_by_project_and_tag(client: httpx.Client) -> None:
    params = {"organization": "acme", "tagName": "env", "tagValue": "prod", "project": "web"}
    [only] = client.get("/api/user/stacks", params=params).json()["stacks"]
    assert (only["projectName"], only["stackName"], only["resourceCount"]) == ("web", "prod", 3)


def test_accounts_filter_by_parent_and_page_by_count(client: httpx.Client) -> None:
    path = "/api/preview/insights/acme/accounts"
    children = client.get(path, params={"parent": "aws-org", "count": 1}).json()
    assert [a["name"] for a in children["accounts"]] == ["aws-org/eu-west-1"]
    rest = client.get(
        path, params={"parent": "aws-org", "continuationToken": children["nextToken"]}
    )
    assert [a["name"] for a in rest.json()["accounts"]] == ["aws-org/us-east-1"]


# --- Insights account lookups ------------------------------------------------------------------

ACCOUNTS = "/api/preview/insights/acme/accounts"


def test_an_account_reads_as_the_listing_shows_it(client: httpx.Client) -> None:
    listed = client.get(ACCOUNTS).json()["accounts"][0]
    response = client.get(f"{ACCOUNTS}/{listed['name']}")
    assert (response.status_code, response.json()) == (200, listed)


def test_head_of_an_account_answers_200_with_the_gets_length_and_no_body(
    client: httpx.Client,
) -> None:
    got = client.get(f"{ACCOUNTS}/gcp-data")
    response = client.head(f"{ACCOUNTS}/gcp-data")
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["content-length"] == str(len(got.content))


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_child_account_is_found_by_its_percent_encoded_name(
    client: httpx.Client, method: str
) -> None:
    response = client.request(method, f"{ACCOUNTS}/aws-org%2Feu-west-1")
    assert response.status_code == 200


def test_an_unknown_account_is_404(client: httpx.Client) -> None:
    assert error(client.get(f"{ACCOUNTS}/nope")) == (404, "Insights account 'nope' not found")


def test_head_of_an_unknown_account_is_404_without_a_body(client: httpx.Client) -> None:
    response = client.head(f"{ACCOUNTS}/aws-org%2Fnope")
    assert (response.status_code, response.content) == (404, b"")


def test_a_child_account_name_with_a_bare_slash_is_no_route(client: httpx.Client) -> None:
    assert error(client.get(f"{ACCOUNTS}/aws-org/eu-west-1")) == (
        404,
        f"Not found: GET {ACCOUNTS}/aws-org/eu-west-1",
    )


def test_an_account_of_an_unknown_org_is_404(client: httpx.Client) -> None:
    response = client.get("/api/preview/insights/nope/accounts/gcp-data")
    assert error(response) == (404, "Organization 'nope' not found")


def test_an_account_is_only_read(client: httpx.Client) -> None:
    response = client.delete(f"{ACCOUNTS}/gcp-data")
    assert (error(response)[0], response.headers["allow"]) == (405, "GET, HEAD")
