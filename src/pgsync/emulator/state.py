"""The emulator's in-memory organizations and the write rules of the API spec (pure, no I/O)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_STACKS_GROUP = "default-policy-group"
DEFAULT_ACCOUNTS_GROUP = "default-accounts-policy-group"
DEFAULT_MODES = {"stacks": "preventative", "accounts": "audit"}
ADD_FIELDS = ("addStack", "addPolicyPack", "addInsightsAccount")
REMOVE_FIELDS = ("removeStack", "removePolicyPack", "removeInsightsAccount")
# Whole-list replacements exist on newer servers only; refusing them keeps clients off them.
REPLACE_FIELDS = ("stacks", "policyPacks", "insightsAccounts")

StackKey = tuple[str, str]
"""A stack as (project, stack)."""


class HttpError(Exception):
    """An error answer of the emulated API: its status and the message of its JSON body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass
class CatalogPack:
    """A policy pack published in an org; its versions are 1..n in `version_tags` order."""

    name: str
    display_name: str
    version_tags: list[str]
    policies: list[dict[str, Any]] = field(default_factory=list)

    def version_of(self, tag: str) -> int:
        """The number of a published tag; 0 for an unknown tag (stored anyway, spec rule 3)."""
        return self.version_tags.index(tag) + 1 if tag in self.version_tags else 0


@dataclass
class Account:
    """An Insights account: the InsightsAccount object the API lists, and its resource count."""

    info: dict[str, Any]
    resource_count: int = 0


@dataclass
class AppliedPack:
    """A pack enabled in a group; `version` and `displayName` are derived when rendered."""

    name: str
    version_tag: str
    config: dict[str, Any] = field(default_factory=dict)
    environments: list[str] = field(default_factory=list)


@dataclass
class Group:
    """One policy group with its members."""

    name: str
    entity_type: str
    mode: str
    is_org_default: bool = False
    agent_pool_id: str = ""
    stacks: set[StackKey] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    packs: dict[str, AppliedPack] = field(default_factory=dict)


@dataclass
class Org:
    """An organization: its catalog (stacks, packs, accounts) and its policy groups."""

    name: str
    stacks: dict[StackKey, int] = field(default_factory=dict)
    packs: dict[str, CatalogPack] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ensure_default_groups()

    def ensure_default_groups(self) -> None:
        """Create whichever of the two default groups is missing (spec rule 1)."""
        for name, entity_type in (
            (DEFAULT_STACKS_GROUP, "stacks"),
            (DEFAULT_ACCOUNTS_GROUP, "accounts"),
        ):
            if name not in self.groups:
                self.groups[name] = Group(
                    name, entity_type, DEFAULT_MODES[entity_type], is_org_default=True
                )

    def group(self, name: str) -> Group:
        """The group called `name`, or 404."""
        if name not in self.groups:
            raise HttpError(404, f"Policy group '{name}' not found")
        return self.groups[name]

    def create_group(
        self, name: str, entity_type: str, mode: str | None = None, agent_pool_id: str = ""
    ) -> None:
        """POST: a new empty group; the mode defaults per entity type."""
        if entity_type not in DEFAULT_MODES:
            raise HttpError(400, f"Invalid entityType '{entity_type}'")
        _check_name(name)
        if name in self.groups:
            raise HttpError(409, f"Policy group '{name}' already exists")
        self.groups[name] = Group(
            name, entity_type, mode or DEFAULT_MODES[entity_type], agent_pool_id=agent_pool_id
        )

    def delete_group(self, name: str) -> None:
        """DELETE: any group but the two defaults (spec rule 1)."""
        if self.group(name).is_org_default:
            raise HttpError(400, f"Cannot delete the default policy group '{name}'")
        del self.groups[name]

    def update_group(
        self, name: str, updates: Sequence[Mapping[str, Any]], *, single: bool
    ) -> None:
        """PATCH (`single`) or PATCH /batch: apply Update objects the worst way the service may."""
        group = self.group(name)
        for update in updates:
            _check_update(update, single=single)
        # Spec rule 4, worst case: every add (in order), then every remove (packs matched by
        # name), then agentPoolId, then newName. Spec rule 6: not atomic, so the operations
        # done before a failing one stay done.
        for update in updates:
            for key in ADD_FIELDS:
                if key in update:
                    self._add(group, key, update[key])
        for update in updates:
            for key in REMOVE_FIELDS:
                if key in update:
                    self._remove(group, key, update[key])
        for update in updates:
            if "agentPoolId" in update:
                group.agent_pool_id = str(update["agentPoolId"])
        for update in updates:
            if "newName" in update:
                self._rename(group, str(update["newName"]))

    def _add(self, group: Group, key: str, value: Mapping[str, Any]) -> None:
        if key == "addStack":
            group.stacks.add(self._stack(group, value))
        elif key == "addInsightsAccount":
            group.accounts.add(self._account(group, value))
        else:
            pack = self._pack(value)
            # Upsert by name (spec rule 3), and a versionTag the pack never published is stored
            # verbatim. The adversarial reading of an omitted `config` / `environments`: the
            # old settings stay, so a client that means "none" must send them empty.
            old = group.packs.get(pack.name)
            config = value.get("config", old.config if old else {})
            environments = value.get("environments", old.environments if old else [])
            group.packs[pack.name] = AppliedPack(
                pack.name,
                str(value["versionTag"]),
                copy.deepcopy(dict(config or {})),
                list(environments or []),
            )

    def _remove(self, group: Group, key: str, value: Mapping[str, Any]) -> None:
        # Removing something that exists in the org but not in the group is a silent no-op.
        if key == "removeStack":
            group.stacks.discard(self._stack(group, value))
        elif key == "removeInsightsAccount":
            group.accounts.discard(self._account(group, value))
        else:
            group.packs.pop(self._pack(value).name, None)

    def _stack(self, group: Group, ref: Mapping[str, Any]) -> StackKey:
        if group.entity_type != "stacks":
            raise HttpError(400, f"Policy group '{group.name}' holds accounts, not stacks")
        key = (str(ref["routingProject"]), str(ref["name"]))
        if key not in self.stacks:
            raise HttpError(404, f"Stack '{key[0]}/{key[1]}' not found")
        return key

    def _account(self, group: Group, account: Mapping[str, Any]) -> str:
        if group.entity_type != "accounts":
            raise HttpError(400, f"Policy group '{group.name}' holds stacks, not accounts")
        name = str(account["name"])
        if name not in self.accounts:
            raise HttpError(404, f"Insights account '{name}' not found")
        return name

    def _pack(self, ref: Mapping[str, Any]) -> CatalogPack:
        name = str(ref["name"])
        if name not in self.packs:
            raise HttpError(404, f"Policy pack '{name}' not found")
        return self.packs[name]

    def _rename(self, group: Group, new_name: str) -> None:
        if group.is_org_default:
            raise HttpError(400, f"Cannot rename the default policy group '{group.name}'")
        _check_name(new_name)
        if new_name == group.name:
            return
        if new_name in self.groups:
            raise HttpError(409, f"Policy group '{new_name}' already exists")
        del self.groups[group.name]
        group.name = new_name
        self.groups[new_name] = group


@dataclass
class State:
    """Every organization the emulator serves, by name."""

    orgs: dict[str, Org] = field(default_factory=dict)

    def org(self, name: str) -> Org:
        """The organization called `name`, or 404."""
        if name not in self.orgs:
            raise HttpError(404, f"Organization '{name}' not found")
        return self.orgs[name]


def _check_name(name: str) -> None:
    if not name.strip():
        raise HttpError(400, "Policy group name must not be empty")
    if name == "metadata":
        # Spec rule 10: the name would shadow GET /policygroups/metadata.
        raise HttpError(400, "Policy group name 'metadata' is reserved")
    if "/" in name or name in (".", ".."):
        # Such a name cannot be addressed: URL paths collapse dot segments.
        raise HttpError(400, f"Policy group name '{name}' is not a valid path segment")


def _check_update(update: Mapping[str, Any], *, single: bool) -> None:
    replacing = [key for key in REPLACE_FIELDS if key in update]
    if replacing:
        raise HttpError(400, f"Unsupported update field(s): {', '.join(replacing)}")
    mutations = [key for key in (*ADD_FIELDS, *REMOVE_FIELDS) if key in update]
    if single and len(mutations) > 1:
        # Spec rule 5: a plain PATCH carries at most one add/remove field.
        raise HttpError(
            400, f"Only one add/remove field per request, got {', '.join(mutations)}; use /batch"
        )
