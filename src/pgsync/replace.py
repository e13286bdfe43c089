"""No-gap replacement of a group whose entityType or mode changes (the API cannot update them).

The new group is created under a temporary name and filled while the old one still protects
its stacks; only then is the old one deleted and the new one renamed. A temporary group found
live means an earlier run stopped part-way: the next plan finishes the replacement (or rolls it
back when it is no longer wanted), so nothing is left behind silently.
"""

from __future__ import annotations

import dataclasses

from pgsync.model import DesiredGroup, LiveGroup, PackRef

REPLACE_SUFFIX = ".pgsync-replacing"


def temp_name(name: str) -> str:
    return name + REPLACE_SUFFIX


def base_name(name: str) -> str | None:
    """The group a temporary group stands in for; None for an ordinary name."""
    return name[: -len(REPLACE_SUFFIX)] if name.endswith(REPLACE_SUFFIX) else None


def needs_replace(group: DesiredGroup, live: LiveGroup) -> bool:
    return (group.entity_type, group.mode) != (live.entity_type, live.mode)


def filled(group: DesiredGroup, old: LiveGroup) -> DesiredGroup:
    """The desired group with what it leaves unmanaged copied from the group it replaces."""
    same_kind = group.entity_type == old.entity_type
    packs = group.packs
    if packs is None:
        where = group.where()
        packs = tuple(
            PackRef(p.name, p.version_tag, p.config_json, p.environments, location=where)
            for p in old.packs
        )
    stacks = group.stacks
    if stacks is None and same_kind and group.entity_type == "stacks":
        stacks = old.stacks
    accounts = group.accounts
    if accounts is None and same_kind and group.entity_type == "accounts":
        accounts = old.accounts
    agent_pool = group.agent_pool_id if group.agent_pool_id is not None else old.agent_pool_id
    return dataclasses.replace(
        group, packs=packs, stacks=stacks, accounts=accounts, agent_pool_id=agent_pool
    )
