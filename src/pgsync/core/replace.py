"""No-gap replacement of a group whose entityType or mode changes (the API cannot update them).

The new group is created under a temporary name and filled while the old one still protects
its stacks; only then is the old one deleted and the new one renamed. A temporary group found
live means an earlier run stopped part-way: the next plan finishes the replacement (or rolls it
back when it is no longer wanted), so nothing is left behind silently.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from pgsync.core.model import DesiredGroup, LiveGroup, PackRef, RuleSetting

REPLACE_SUFFIX = ".pgsync-replacing"
T = TypeVar("T")
MAX_NAME = 100
"""The service's limit on group names (API spec, late 2026, rule 1)."""


def temp_name(name: str) -> str:
    """The temporary name of a replacement, within the service's name limit.

    A long name is shortened and a digest of it keeps temporary names distinct.
    """
    if len(name) + len(REPLACE_SUFFIX) <= MAX_NAME:
        return name + REPLACE_SUFFIX
    # Here: loading OpenSSL costs 3 ms, which most processes that import this never need.
    import hashlib  # noqa: PLC0415

    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    keep = MAX_NAME - len(REPLACE_SUFFIX) - len(digest) - 1
    return f"{name[:keep]}-{digest}{REPLACE_SUFFIX}"


def is_temporary(name: str) -> bool:
    """Whether a group name is one of pgsync's temporary replacement names."""
    return name.endswith(REPLACE_SUFFIX)


def needs_replace(group: DesiredGroup, live: LiveGroup) -> bool:
    """A different mode, or an explicit entityType that differs (an omitted one never counts)."""
    if group.entity_type is not None and group.entity_type != live.entity_type:
        return True
    if group.mode is None and live.is_default:
        # A default group's mode is the service's to say (it cannot change anyway).
        return False
    return group.resolved_mode != live.mode


def filled(group: DesiredGroup, old: LiveGroup) -> DesiredGroup:
    """The desired group with what it leaves unmanaged copied from the group it replaces.

    Members and rules are copied where the new group's mode may hold them: accounts and
    account rules belong to audit groups only (`dropped_accounts` names what is let go).
    An additive list (`manage:`) gets the old group's other members too, and the result is
    authoritative: the copy holds exactly what the old group held, so a member attached to
    the old group meanwhile makes it stale (plan.live_fingerprint) instead of being lost.
    """
    packs = group.packs
    if packs is None or "policyPacks" in group.additive:
        where = group.where()
        listed = {p.name for p in packs or ()}
        packs = (
            *(packs or ()),
            *(
                PackRef(p.name, p.version_tag, p.config_json, p.environments, location=where)
                for p in old.packs
                if p.name not in listed
            ),
        )
    audit = group.resolved_mode == "audit"
    stacks = _kept(group.stacks, old.stacks, "stacks" in group.additive)
    stack_match = group.stack_match or RuleSetting(old.stack_rule)
    accounts, account_match = group.accounts, group.account_match
    if audit:
        accounts = _kept(accounts, old.accounts, "accounts" in group.additive)
        account_match = account_match or RuleSetting(old.account_rule)
    else:
        # A preventative group holds no accounts: the replacement lets them all go, and
        # saying so (an empty list, no rule) lets the plan and the safety rules see it.
        accounts, account_match = frozenset(), RuleSetting(None)
    agent_pool = group.agent_pool_id if group.agent_pool_id is not None else old.agent_pool_id
    return dataclasses.replace(
        group,
        entity_type=group.resolved_entity_type,
        mode=group.resolved_mode,
        packs=packs,
        stacks=stacks,
        accounts=accounts,
        stack_match=stack_match,
        account_match=account_match,
        agent_pool_id=agent_pool,
        additive=frozenset(),
    )


def _kept(listed: frozenset[T] | None, old: frozenset[T], additive: bool) -> frozenset[T]:
    """A list of the new group: as written, else the old group's; an additive one, both."""
    if listed is None:
        return old
    return listed | old if additive else listed


def dropped_accounts(group: DesiredGroup, old: LiveGroup) -> tuple[str, ...]:
    """The accounts a replacement lets go because its mode cannot hold accounts."""
    if group.resolved_mode == "audit":
        return ()
    return tuple(sorted(old.accounts | old.rule_accounts))
