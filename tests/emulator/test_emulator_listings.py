"""Paged listings of the emulator read while they change, and read again after a change.

A page starts right after the last item the previous page handed out, whatever changed in
between: an item is listed at most once, and one that stayed all along is never skipped.
Listings are kept between pages, so every kind of change must show in the next read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pgsync.emulator import EmulatorServer, fixture_from_dict

GROUPS = "/api/orgs/acme/policygroups"
USER_STACKS = "/api/user/stacks"
STACK = {"__type": "PermissionExpressionStack"}
ACCOUNT = {"__type": "PermissionExpressionInsightsAccount"}
# Sorted: data/etl, payments/dev, payments/prod, web/dev, web/prod.
STACKS = ["data/etl", "payments/dev", "payments/prod", "web/dev", "web/prod"]
FIXTURE: dict[str, Any] = {
    "organizations": {
        "acme": {
            "stacks": [{"name": name, "tags": {"env": name.split("/")[1]}} for name in STACKS],
            "accounts": [
                {"name": "aws-dev", "provider": "aws", "tags": {"env": "dev"}},
                {"name": "aws-prod", "provider": "aws", "tags": {"env": "prod"}},
                {"name": "gcp-prod", "provider": "gcp", "tags": {"env": "prod"}},
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


def ref(name: str) -> dict[str, str]:
    project, _, stack = name.partition("/")
    return {"routingProject": project, "name": stack}


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(fixture_from_dict(FIXTURE), page_size=2) as running:
        yield running


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5) as http:
        yield http


class Pages:
    """A listing read one page at a time, as a client pages through it."""

    def __init__(self, client: httpx.Client, path: str, key: str, **params: Any) -> None:
        self.client, self.path, self.key, self.params = client, path, key, params
        self.token: str | None = None
        self.done = False

    def next(self) -> list[str]:
        """The names on the next page."""
        assert not self.done
        query = dict(self.params)
        if self.token is not None:
            query["continuationToken"] = self.token
        body = self.client.get(self.path, params=query).json()
        self.token = body.get("continuationToken")
        self.done = self.token is None
        return [name_of(item) for item in body[self.key]]

    def rest(self) -> list[str]:
        """The names on every page left."""
        names: list[str] = []
        while not self.done:
            names += self.next()
        return names


def name_of(item: dict[str, Any]) -> str:
    if "stackName" in item:
        return f"{item['projectName']}/{item['stackName']}"
    if "routingProject" in item:
        return f"{item['routingProject']}/{item['name']}"
    return str(item["name"])


def group(client: httpx.Client, name: str, *stacks: str, **fields: Any) -> str:
    """A new group holding `stacks` explicitly; its path."""
    assert client.post(GROUPS, json={"name": name, **fields}).status_code == 204
    for stack in stacks:
        patch(client, name, {"addStack": ref(stack)})
    return f"{GROUPS}/{name}"


def patch(client: httpx.Client, name: str, update: dict[str, Any]) -> None:
    assert client.patch(f"{GROUPS}/{name}", json=update).status_code == 204


# --- read while it changes ---------------------------------------------------------------------


def test_members_added_before_the_cursor_do_not_repeat_a_listed_member(
    client: httpx.Client,
) -> None:
    path = group(client, "g", "payments/dev", "web/dev", "web/prod")
    pages = Pages(client, f"{path}/stacks", "stacks")
    assert pages.next() == ["payments/dev", "web/dev"]
    patch(client, "g", {"addStack": ref("data/etl")})
    patch(client, "g", {"addStack": ref("payments/prod")})
    assert pages.rest() == ["web/prod"]


def test_a_member_removed_before_the_cursor_skips_no_other_member(client: httpx.Client) -> None:
    path = group(client, "g", *STACKS)
    pages = Pages(client, f"{path}/stacks", "stacks")
    assert pages.next() == ["data/etl", "payments/dev"]
    patch(client, "g", {"removeStack": ref("data/etl")})
    assert pages.rest() == ["payments/prod", "web/dev", "web/prod"]


def test_members_added_and_removed_after_the_cursor_show_on_later_pages(
    client: httpx.Client,
) -> None:
    path = group(client, "g", "data/etl", "payments/dev", "web/prod")
    pages = Pages(client, f"{path}/stacks", "stacks")
    assert pages.next() == ["data/etl", "payments/dev"]
    patch(client, "g", {"addStack": ref("web/dev")})
    patch(client, "g", {"removeStack": ref("web/prod")})
    assert pages.rest() == ["web/dev"]


def test_rule_members_follow_a_tag_change_between_pages(
    server: EmulatorServer, client: httpx.Client
) -> None:
    path = group(client, "g", stackMatchRule=equal("env", "prod"))
    server.set_stack_tags("acme", "data/etl", {"env": "prod"})
    pages = Pages(client, f"{path}/stacks", "stacks")
    assert pages.next() == ["data/etl", "payments/prod"]
    server.set_stack_tags("acme", "payments/dev", {"env": "prod"})
    server.set_stack_tags("acme", "web/dev", {"env": "prod"})
    assert pages.rest() == ["web/dev", "web/prod"]


def test_user_stacks_filtered_by_tag_follow_a_tag_change_between_pages(
    server: EmulatorServer, client: httpx.Client
) -> None:
    server.set_stack_tags("acme", "payments/prod", {"env": "dev"})
    pages = Pages(client, USER_STACKS, "stacks", organization="acme", tagName="env", tagValue="dev")
    assert pages.next() == ["payments/dev", "payments/prod"]
    server.set_stack_tags("acme", "data/etl", {"env": "dev"})
    server.set_stack_tags("acme", "web/dev", {"env": "prod"})
    server.set_stack_tags("acme", "web/prod", {"env": "dev"})
    assert pages.rest() == ["web/prod"]


def test_a_group_renamed_between_pages_pages_on_under_its_new_name(
    client: httpx.Client,
) -> None:
    path = group(client, "g", *STACKS)
    pages = Pages(client, f"{path}/stacks", "stacks")
    assert pages.next() == ["data/etl", "payments/dev"]
    patch(client, "g", {"newName": "h"})
    pages.path = f"{GROUPS}/h/stacks"
    assert pages.rest() == ["payments/prod", "web/dev", "web/prod"]


# --- read again after a change -----------------------------------------------------------------


def test_a_member_listing_shows_a_write_made_since_it_was_read(client: httpx.Client) -> None:
    path = group(client, "g", "web/prod")
    assert Pages(client, f"{path}/stacks", "stacks").rest() == ["web/prod"]
    patch(client, "g", {"addStack": ref("data/etl")})
    assert Pages(client, f"{path}/stacks", "stacks").rest() == ["data/etl", "web/prod"]


def test_a_member_listing_shows_what_a_failed_batch_did(client: httpx.Client) -> None:
    path = group(client, "g", "web/prod")
    assert Pages(client, f"{path}/stacks", "stacks").rest() == ["web/prod"]
    batch = [{"addStack": ref("data/etl")}, {"addStack": ref("x/y")}]
    assert client.patch(f"{path}/batch", json=batch).status_code == 404
    assert Pages(client, f"{path}/stacks", "stacks").rest() == ["data/etl", "web/prod"]


def test_a_member_listing_shows_an_out_of_band_change(
    server: EmulatorServer, client: httpx.Client
) -> None:
    path = group(client, "g", "web/prod")
    assert Pages(client, f"{path}/stacks", "stacks").rest() == ["web/prod"]
    server.mutate("acme", "g", {"removeStack": ref("web/prod")})
    assert Pages(client, f"{path}/stacks", "stacks").rest() == []


def test_a_group_deleted_and_created_again_lists_only_its_new_members(
    client: httpx.Client,
) -> None:
    path = group(client, "g", "web/prod")
    assert Pages(client, f"{path}/stacks", "stacks").rest() == ["web/prod"]
    assert client.delete(path).status_code == 204
    group(client, "g", "data/etl")
    assert Pages(client, f"{path}/stacks", "stacks").rest() == ["data/etl"]


def test_rule_members_show_a_tag_change_made_since_they_were_read(
    server: EmulatorServer, client: httpx.Client
) -> None:
    path = group(client, "g", stackMatchRule=equal("env", "prod"))
    assert Pages(client, f"{path}/stacks", "stacks").rest() == ["payments/prod", "web/prod"]
    server.set_stack_tags("acme", "web/prod", {})
    assert Pages(client, f"{path}/stacks", "stacks").rest() == ["payments/prod"]


def test_account_rule_members_show_an_account_tag_change(
    server: EmulatorServer, client: httpx.Client
) -> None:
    path = group(client, "g", mode="audit", accountMatchRule=equal("env", "prod", ACCOUNT))
    assert Pages(client, f"{path}/accounts", "accounts").rest() == ["aws-prod", "gcp-prod"]
    server.set_account_tags("acme", "aws-dev", {"env": "prod"})
    assert Pages(client, f"{path}/accounts", "accounts").rest() == [
        "aws-dev",
        "aws-prod",
        "gcp-prod",
    ]


def test_user_stacks_filtered_by_tag_show_a_tag_change(
    server: EmulatorServer, client: httpx.Client
) -> None:
    query = {"organization": "acme", "tagName": "team"}
    assert Pages(client, USER_STACKS, "stacks", **query).rest() == []
    server.set_stack_tags("acme", "web/dev", {"team": "web"})
    assert Pages(client, USER_STACKS, "stacks", **query).rest() == ["web/dev"]


def test_a_preview_counts_a_tag_change(server: EmulatorServer, client: httpx.Client) -> None:
    path = f"{GROUPS}/stackmatchrule/preview"
    body = {"stackMatchRule": equal("env", "prod")}
    assert client.post(path, json=body).json()["matchedCount"] == 2
    server.set_stack_tags("acme", "web/dev", {"env": "prod"})
    assert client.post(path, json=body).json()["matchedCount"] == 3


def test_previews_of_different_rules_are_answered_apart(client: httpx.Client) -> None:
    path = f"{GROUPS}/stackmatchrule/preview"
    counts = [
        client.post(path, json={"stackMatchRule": equal("env", env)}).json()["matchedCount"]
        for env in ("prod", "dev", "etl")
    ]
    assert counts == [2, 2, 1]


# --- tokens ------------------------------------------------------------------------------------


def test_a_token_of_a_listing_of_another_shape_is_400(client: httpx.Client) -> None:
    path = group(client, "g", *STACKS)
    stacks_token = client.get(USER_STACKS).json()["continuationToken"]
    response = client.get(f"{path}/stacks", params={"continuationToken": stacks_token})
    assert (response.status_code, response.json()["message"]) == (
        400,
        f"Invalid continuation token '{stacks_token}'",
    )


def test_every_listing_pages_through_every_item_once(client: httpx.Client) -> None:
    path = group(client, "g", *STACKS, mode="audit")
    patch(client, "g", {"accountMatchRule": equal("env", "prod", ACCOUNT)})
    listings = [
        Pages(client, USER_STACKS, "stacks", organization="acme").rest(),
        Pages(client, f"{path}/stacks", "stacks").rest(),
        Pages(client, f"{path}/accounts", "accounts").rest(),
    ]
    assert listings == [STACKS, STACKS, ["aws-prod", "gcp-prod"]]
