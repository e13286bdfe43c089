"""The emulator's read side: state → the JSON bodies of the GET endpoints (pure, sorted)."""

from __future__ import annotations

import base64
import bisect
import copy
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pgsync.emulator import matchrules
from pgsync.emulator.state import Group, HttpError, Org, Source, StackKey, State

# The version of every stack: the emulator has no updates, only their outcome.
STACK_VERSION = 1
Key = tuple[str, ...]
"""The sort key of a listed item, e.g. (org, project, stack)."""


def group_view(org: Org, group: Group) -> dict[str, Any]:
    """A group as GET /policygroups/{name} returns it; empty optional fields are omitted.

    `stacks` and `accounts` hold the explicit members only, accounts with the children of
    explicit parents; the rules are returned as stored.
    """
    body: dict[str, Any] = {
        "name": group.name,
        "isOrgDefault": group.is_org_default,
        "entityType": group.entity_type,
        "mode": group.mode,
        "stacks": [{"name": s, "routingProject": p} for p, s in sorted(group.stacks)],
        "appliedPolicyPacks": [_applied_pack(org, group, n) for n in sorted(group.packs)],
        "accounts": sorted(org.listed_accounts(group)),
    }
    if group.agent_pool_id:
        body["agentPoolId"] = group.agent_pool_id
    # Copies: callers (EmulatorServer.group) may hand the view to code that mutates it.
    if group.stack_rule is not None:
        body["stackMatchRule"] = copy.deepcopy(group.stack_rule)
    if group.account_rule is not None:
        body["accountMatchRule"] = copy.deepcopy(group.account_rule)
    return body


def _applied_pack(org: Org, group: Group, name: str) -> dict[str, Any]:
    applied = group.packs[name]
    published = org.packs.get(name)
    body: dict[str, Any] = {
        "name": name,
        # A state file may name a pack its fixture no longer publishes; show it, don't crash.
        "displayName": published.display_name if published else name,
        "version": published.version_of(applied.version_tag) if published else 0,
        "versionTag": applied.version_tag,
    }
    if applied.config:
        body["config"] = copy.deepcopy(applied.config)
    if applied.environments:
        body["environments"] = list(applied.environments)
    return body


def group_summary(org: Org, group: Group) -> dict[str, Any]:
    """A group's Summary: its counts include rule members and child accounts."""
    summary: dict[str, Any] = {
        "name": group.name,
        "isOrgDefault": group.is_org_default,
        "numStacks": len(org.stack_members(group)),
        "entityType": group.entity_type,
        "mode": group.mode,
        "numEnabledPolicyPacks": len(group.packs),
    }
    accounts = len(org.account_members(group))
    if accounts:
        summary["numAccounts"] = accounts
    return summary


def group_list(org: Org) -> dict[str, Any]:
    """GET /policygroups: a Summary per group, by name; numAccounts only when non-zero."""
    return {"policyGroups": [group_summary(org, org.groups[n]) for n in sorted(org.groups)]}


def stack_groups(org: Org, key: StackKey) -> dict[str, Any]:
    """GET /api/stacks/{org}/{project}/{stack}/policygroups: the groups holding the stack."""
    if key not in org.stacks:
        raise HttpError(404, f"Stack '{key[0]}/{key[1]}' not found")
    return {
        "policyGroups": [
            group_summary(org, org.groups[n])
            for n in sorted(org.groups)
            if org.holds_stack(org.groups[n], key)
        ]
    }


def metadata(org: Org) -> dict[str, int]:
    """GET /policygroups/metadata, with the service's PascalCase keys."""
    # The real formulas are unpublished. Here a stack or account is protected when a group with
    # at least one pack holds it (default groups, rule members and child accounts included); a
    # protected stack is preventative when one such group is preventative, else audit:
    # Protected = Preventative + Audit. Resources are the fixture's resourceCounts.
    protecting = [group for group in org.groups.values() if group.packs]
    protected: set[StackKey] = set()
    preventative: set[StackKey] = set()
    accounts: set[str] = set()
    for group in protecting:
        members = org.stack_members(group)
        protected.update(members)
        if group.mode == "preventative":
            preventative.update(members)
        accounts.update(org.account_members(group))
    audit = protected - preventative

    def stack_resources(keys: Iterable[StackKey]) -> int:
        return sum(org.stacks[key].resource_count for key in keys if key in org.stacks)

    def account_resources(names: Iterable[str]) -> int:
        return sum(org.accounts[n].resource_count for n in names if n in org.accounts)

    return {
        "ProtectedStacks": len(protected),
        "ProtectedStackResources": stack_resources(protected),
        "PreventativeStacks": len(preventative),
        "PreventativeStackResources": stack_resources(preventative),
        "AuditStacks": len(audit),
        "AuditStackResources": stack_resources(audit),
        "TotalStacks": len(org.stacks),
        "TotalStackResources": stack_resources(org.stacks),
        "ProtectedAccounts": len(accounts),
        "ProtectedAccountResources": account_resources(accounts),
        "TotalAccounts": len(org.accounts),
        "TotalAccountResources": account_resources(org.accounts),
    }


def pack_list(org: Org) -> dict[str, Any]:
    """GET /policypacks: every published pack with its parallel versions / versionTags lists."""
    return {
        "policyPacks": [
            {
                "name": pack.name,
                "displayName": pack.display_name,
                "versions": list(range(1, len(pack.version_tags) + 1)),
                "versionTags": list(pack.version_tags),
            }
            for pack in sorted(org.packs.values(), key=lambda p: p.name)
        ]
    }


def pack_version(org: Org, name: str, version: str) -> dict[str, Any]:
    """GET /policypacks/{pack}/versions/{version}: one published version and its policies.

    The current service answers the SDK's AppGetPolicyPackResponse: `applied` (whether a group
    of the org enables this version) and every policy with the fields the SDK requires, those
    the fixture leaves out filled with neutral values.
    """
    pack = org.packs.get(name)
    if pack is None:
        raise HttpError(404, f"Policy pack '{name}' not found")
    if not version.isdigit() or not 1 <= int(version) <= len(pack.version_tags):
        raise HttpError(404, f"Policy pack '{name}' has no version '{version}'")
    tag = pack.version_tags[int(version) - 1]
    body: dict[str, Any] = {
        "name": pack.name,
        "displayName": pack.display_name,
        "version": int(version),
        "versionTag": tag,
        "policies": pack.policies,
    }
    if org.api == "current":
        body["policies"] = [_policy(policy) for policy in pack.policies]
        body["applied"] = any(
            name in group.packs and group.packs[name].version_tag == tag
            for group in org.groups.values()
        )
    return body


def _policy(policy: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "displayName": policy["name"],
        "description": "",
        "message": "",
        "enforcementLevel": "advisory",
        **copy.deepcopy(dict(policy)),
    }
    if "configSchema" in body:
        body["configSchema"] = {"type": "object", **body["configSchema"]}
    return body


def stack_items(state: State, query: Mapping[str, str]) -> list[dict[str, Any]]:
    """The stacks /api/user/stacks lists for `query`'s filters, sorted by org, project, stack.

    Filters: `organization` (an unknown one matches nothing) and, on the current service,
    `project`, `tagName` and `tagValue` (the stacks whose tag tagName has that value; without
    tagValue, those having the tag). Strict reading: tagValue without tagName is a 400.
    """
    org_name = query.get("organization")
    orgs = [o for n, o in sorted(state.orgs.items()) if org_name is None or n == org_name]
    if state.api == "legacy":
        return [
            {"orgName": org.name, "projectName": project, "stackName": stack}
            for org in orgs
            for project, stack in sorted(org.stacks)
        ]
    project_name, tag_name = query.get("project"), query.get("tagName")
    tag_value = query.get("tagValue")
    if tag_value is not None and tag_name is None:
        raise HttpError(400, "tagValue requires tagName")
    items = []
    for org in orgs:
        for key in sorted(org.stacks):
            tags = org.stacks[key].tags
            if project_name is not None and key[0] != project_name:
                continue
            if tag_name is not None and tag_name not in tags:
                continue
            if tag_value is not None and tags[str(tag_name)] != tag_value:
                continue
            items.append(stack_summary(org, key))
    return items


def stack_summary(org: Org, key: StackKey) -> dict[str, Any]:
    """A stack as /api/user/stacks lists it on the current service (the SDK's AppStackSummary)."""
    stack = org.stacks[key]
    return {
        "id": _stack_id(org, key),
        "orgName": org.name,
        "projectName": key[0],
        "stackName": key[1],
        "lastUpdate": stack.last_update,
        "resourceCount": stack.resource_count,
    }


def stack_view(org: Org, key: StackKey) -> dict[str, Any]:
    """GET /api/stacks/{org}/{project}/{stack}: the SDK's AppStack, with the stack's tags."""
    if key not in org.stacks:
        raise HttpError(404, f"Stack '{key[0]}/{key[1]}' not found")
    name = f"pgsync-emulator:update:{org.name}/{key[0]}/{key[1]}/{STACK_VERSION}"
    return {
        "id": _stack_id(org, key),
        "orgName": org.name,
        "projectName": key[0],
        "stackName": key[1],
        "activeUpdate": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "tags": dict(org.stacks[key].tags),
        "version": STACK_VERSION,
    }


def _stack_id(org: Org, key: StackKey) -> str:
    name = f"pgsync-emulator:stack:{org.name}/{key[0]}/{key[1]}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def stack_member_items(org: Org, group: Group, source: Source | None) -> list[dict[str, Any]]:
    """GET /policygroups/{name}/stacks: every member (of `source`, if given), sorted."""
    members = org.stack_members(group)
    return [
        {
            "name": key[1],
            "routingProject": key[0],
            "source": members[key],
            "tags": _stack_tags(org, key),
        }
        for key in sorted(members)
        if source is None or members[key] == source
    ]


def account_member_items(org: Org, group: Group, source: Source | None) -> list[dict[str, Any]]:
    """GET /policygroups/{name}/accounts: every member (of `source`, if given), by name."""
    members = org.account_members(group)
    return [
        {
            "id": _account_id(org, name),
            "name": name,
            "source": members[name],
            "tags": _account_tags(org, name),
        }
        for name in sorted(members)
        if source is None or members[name] == source
    ]


def stack_preview(
    org: Org, rule: Mapping[str, Any], search: str
) -> tuple[list[dict[str, Any]], int, int]:
    """The stacks a rule matches among those whose "project/stack" contains `search` (any
    case), and the counts: (matching stacks, matched, considered)."""
    needle = search.lower()
    considered = [key for key in sorted(org.stacks) if needle in f"{key[0]}/{key[1]}".lower()]
    matched = [key for key in considered if matchrules.evaluate(rule, org.stacks[key].tags)]
    items = [
        {"name": key[1], "routingProject": key[0], "tags": _stack_tags(org, key)} for key in matched
    ]
    return items, len(matched), len(considered)


def account_preview(
    org: Org, rule: Mapping[str, Any], search: str
) -> tuple[list[dict[str, Any]], int, int]:
    """Like `stack_preview`, for accounts, `search` matching their names."""
    needle = search.lower()
    considered = [name for name in sorted(org.accounts) if needle in name.lower()]
    matched = [n for n in considered if matchrules.evaluate(rule, org.accounts[n].tags)]
    items = [{"id": _account_id(org, n), "name": n, "tags": _account_tags(org, n)} for n in matched]
    return items, len(matched), len(considered)


def _stack_tags(org: Org, key: StackKey) -> dict[str, str]:
    # A state file may name a stack its fixture no longer has: it has no tags.
    stack = org.stacks.get(key)
    return dict(stack.tags) if stack is not None else {}


def _account_id(org: Org, name: str) -> str:
    account = org.accounts.get(name)
    if account is not None:
        return str(account.info["id"])
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pgsync-emulator:{org.name}/{name}"))


def _account_tags(org: Org, name: str) -> dict[str, str]:
    account = org.accounts.get(name)
    return dict(account.tags) if account is not None else {}


def account_items(org: Org, parent: str | None = None) -> list[dict[str, Any]]:
    """Every Insights account of `org` (the children of `parent`, if given), by name."""
    return [
        org.accounts[name].info
        for name in sorted(org.accounts)
        if parent is None or org.accounts[name].parent == parent
    ]


@dataclass(frozen=True)
class Listing:
    """A sorted listing, paged by the key of the last item handed out.

    `keys[i]` is the sort key of `items[i]`, ascending; every key has `arity` parts. A page
    starts right after its token's key, found by bisection: O(page) per page, and a listing
    read while it changes still lists each item at most once, never skipping one that stayed.
    """

    items: Sequence[Any]
    keys: Sequence[Key]
    arity: int

    @classmethod
    def of(cls, items: Sequence[Any], key: Callable[[Any], Key], arity: int) -> Listing:
        """The listing of `items`, already sorted by `key`."""
        return cls(items, [key(item) for item in items], arity)


def paginate(listing: Listing, token: str | None, size: int) -> tuple[list[Any], str | None]:
    """One page of `listing` after `token`, and the token of the next page (None at the end)."""
    start = bisect.bisect_right(listing.keys, _decode_token(token, listing.arity)) if token else 0
    end = start + size
    if end >= len(listing.items):
        return list(listing.items[start:]), None
    return list(listing.items[start:end]), _encode_token(listing.keys[end - 1])


def _encode_token(key: Key) -> str:
    # Opaque on purpose, as the service's tokens are: clients must pass them back verbatim.
    return base64.urlsafe_b64encode(f"after:{json.dumps(list(key))}".encode()).decode()


def _decode_token(token: str, arity: int) -> Key:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        prefix, _, key = text.partition(":")
        parts = json.loads(key) if prefix == "after" else None
    except (ValueError, RecursionError):  # ValueError: binascii, Unicode and JSON errors too
        parts = None
    if (
        isinstance(parts, list)
        and len(parts) == arity
        and all(isinstance(part, str) for part in parts)
    ):
        return tuple(parts)
    raise HttpError(400, f"Invalid continuation token '{token}'")
