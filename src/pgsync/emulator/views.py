"""The emulator's read side: state → the JSON bodies of the GET endpoints (pure, sorted)."""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterable, Sequence
from typing import Any

from pgsync.emulator.state import Group, HttpError, Org, StackKey, State


def group_view(org: Org, group: Group) -> dict[str, Any]:
    """A group as GET /policygroups/{name} returns it; empty optional fields are omitted."""
    body: dict[str, Any] = {
        "name": group.name,
        "isOrgDefault": group.is_org_default,
        "entityType": group.entity_type,
        "mode": group.mode,
        "stacks": [{"name": s, "routingProject": p} for p, s in sorted(group.stacks)],
        "appliedPolicyPacks": [_applied_pack(org, group, n) for n in sorted(group.packs)],
        "accounts": sorted(group.accounts),
    }
    if group.agent_pool_id:
        body["agentPoolId"] = group.agent_pool_id
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
    # Copies: callers (EmulatorServer.group) may hand the view to code that mutates it.
    if applied.config:
        body["config"] = copy.deepcopy(applied.config)
    if applied.environments:
        body["environments"] = list(applied.environments)
    return body


def group_list(org: Org) -> dict[str, Any]:
    """GET /policygroups: a Summary per group, by name; numAccounts only when non-zero."""
    summaries = []
    for name in sorted(org.groups):
        group = org.groups[name]
        summary: dict[str, Any] = {
            "name": name,
            "isOrgDefault": group.is_org_default,
            "numStacks": len(group.stacks),
            "entityType": group.entity_type,
            "mode": group.mode,
            "numEnabledPolicyPacks": len(group.packs),
        }
        if group.accounts:
            summary["numAccounts"] = len(group.accounts)
        summaries.append(summary)
    return {"policyGroups": summaries}


def metadata(org: Org) -> dict[str, int]:
    """GET /policygroups/metadata, with the service's PascalCase keys."""
    # The real formulas are unpublished. Here a stack or account is protected when a group of
    # its entity type with at least one pack holds it (default groups included); a protected
    # stack is preventative when one such group is, else audit: Protected = Preventative +
    # Audit. Resources are the fixture's resourceCounts of the members counted.
    protecting = [group for group in org.groups.values() if group.packs]
    protected = {s for g in protecting if g.entity_type == "stacks" for s in g.stacks}
    preventative = {
        s
        for g in protecting
        if g.entity_type == "stacks" and g.mode == "preventative"
        for s in g.stacks
    }
    audit = protected - preventative
    accounts = {a for g in protecting if g.entity_type == "accounts" for a in g.accounts}

    def stack_resources(keys: Iterable[StackKey]) -> int:
        return sum(org.stacks.get(key, 0) for key in keys)

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
    """GET /policypacks/{pack}/versions/{version}: one published version and its policies."""
    pack = org.packs.get(name)
    if pack is None:
        raise HttpError(404, f"Policy pack '{name}' not found")
    if not version.isdigit() or not 1 <= int(version) <= len(pack.version_tags):
        raise HttpError(404, f"Policy pack '{name}' has no version '{version}'")
    return {
        "name": pack.name,
        "displayName": pack.display_name,
        "version": int(version),
        "versionTag": pack.version_tags[int(version) - 1],
        "policies": pack.policies,
    }


def stack_items(state: State, org_name: str | None) -> list[dict[str, str]]:
    """Every stack of `org_name` (of all orgs when None) as /api/user/stacks lists it, sorted."""
    return [
        {"orgName": org.name, "projectName": project, "stackName": stack}
        for org in sorted(state.orgs.values(), key=lambda o: o.name)
        if org_name is None or org.name == org_name
        for project, stack in sorted(org.stacks)
    ]


def account_items(org: Org) -> list[dict[str, Any]]:
    """Every Insights account of `org` as the accounts listing returns it, by name."""
    return [org.accounts[name].info for name in sorted(org.accounts)]


def paginate(items: Sequence[Any], token: str | None, size: int) -> tuple[list[Any], str | None]:
    """One page of `items` from `token` on, and the token of the next page (None at the end)."""
    start = _decode_token(token) if token else 0
    end = start + size
    return list(items[start:end]), _encode_token(end) if end < len(items) else None


def _encode_token(offset: int) -> str:
    # Opaque on purpose, as the service's tokens are: clients must pass them back verbatim.
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_token(token: str) -> int:
    try:
        prefix, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if prefix == "offset" and offset.isdigit():
            return int(offset)
    except ValueError:  # binascii.Error and UnicodeDecodeError included
        pass
    raise HttpError(400, f"Invalid continuation token '{token}'")
