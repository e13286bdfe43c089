"""The emulator's in-memory organizations and the write rules of the API spec (pure, no I/O).

Two generations of the service (`Api`), chosen per emulator:

- `current` (the default): the service as Pulumi's pulumi-cloud-sdk 2026.10.26 and the peer
  provider's 1.5.0 docs describe it (the API spec's section "late 2026"). `mode` decides what a
  group holds (preventative: stacks; audit: stacks and Insights accounts) and `entityType` is a
  label; a plain PATCH may combine fields; the CLI's whole-list fields replace a list; match rules
  add members by tag; a group holding a parent account holds its children.
- `legacy`: the service as the older reference page and OpenAPI document describe it, exactly as
  this emulator behaved before: entityType decides membership, one add/remove field per plain
  PATCH, no whole-list fields, no rules, no child accounts.

Where the real service's answer is unknown, the emulator takes the strict or adversarial reading
so that a client proven against it is safe against the service; each such place says "strict
reading".
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pgsync.emulator import matchrules

Api = Literal["current", "legacy"]
APIS: tuple[Api, ...] = ("current", "legacy")
Source = Literal["explicit", "rule"]

# The default groups by mode; orgs of the newer product name them differently (fixture key
# `defaultGroups`), which is why every protection looks at isOrgDefault, never at a name.
DEFAULT_GROUP_NAMES = {
    "preventative": "default-policy-group",
    "audit": "default-accounts-policy-group",
}
DEFAULT_MODES = {"stacks": "preventative", "accounts": "audit"}
DEFAULT_ENTITY_TYPES = {"preventative": "stacks", "audit": "accounts"}
# 2026-10-01T00:00:00Z: the lastUpdate of stacks whose fixture gives none, fixed so that answers
# are reproducible.
DEFAULT_LAST_UPDATE = 1_790_812_800
ADD_FIELDS = ("addStack", "addPolicyPack", "addInsightsAccount")
REMOVE_FIELDS = ("removeStack", "removePolicyPack", "removeInsightsAccount")
# The whole-list fields of the Pulumi CLI's `policy group edit` (current service only).
REPLACE_FIELDS = ("stacks", "policyPacks", "insightsAccounts")
RULE_ENTITIES: dict[str, matchrules.Entity] = {
    "stackMatchRule": "stack",
    "accountMatchRule": "account",
}
RULE_REMOVALS = {
    "stackMatchRule": "removeStackMatchRule",
    "accountMatchRule": "removeAccountMatchRule",
}
NAME_RULE = (
    "policy group names are 1-100 characters of letters, digits, '-', '_', '.' and spaces, "
    "not beginning or ending with a space"
)
_NAME = re.compile(r"[A-Za-z0-9_. -]{1,100}")

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
class Stack:
    """A stack of an org: its resource count, tags and the time of its last update."""

    resource_count: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    last_update: int = DEFAULT_LAST_UPDATE


@dataclass
class Account:
    """An Insights account: the InsightsAccount object the API lists, and what it does not say.

    A child account (`parent` set) is named `<parent>/<something>`; children are not parents.
    """

    info: dict[str, Any]
    resource_count: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    parent: str | None = None


@dataclass
class AppliedPack:
    """A pack enabled in a group; `version` and `displayName` are derived when rendered."""

    name: str
    version_tag: str
    config: dict[str, Any] = field(default_factory=dict)
    environments: list[str] = field(default_factory=list)


@dataclass
class Group:
    """One policy group with its explicit members and match rules (stored as sent)."""

    name: str
    entity_type: str
    mode: str
    is_org_default: bool = False
    agent_pool_id: str = ""
    stacks: set[StackKey] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    packs: dict[str, AppliedPack] = field(default_factory=dict)
    stack_rule: dict[str, Any] | None = None
    account_rule: dict[str, Any] | None = None


@dataclass
class Org:
    """An organization: its catalog (stacks, packs, accounts), its policy groups and settings.

    `default_groups` names the default group of each mode; `match_rules` is the preview feature
    flag of match rules.
    """

    name: str
    stacks: dict[StackKey, Stack] = field(default_factory=dict)
    packs: dict[str, CatalogPack] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    api: Api = "current"
    match_rules: bool = True
    default_groups: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_GROUP_NAMES))

    def __post_init__(self) -> None:
        self.ensure_default_groups()

    def ensure_default_groups(self) -> None:
        """Create whichever default group is missing (the preventative one holds stacks)."""
        for mode, name in self.default_groups.items():
            if name not in self.groups:
                self.groups[name] = Group(
                    name, DEFAULT_ENTITY_TYPES[mode], mode, is_org_default=True
                )

    def group(self, name: str) -> Group:
        """The group called `name`, or 404."""
        if name not in self.groups:
            raise HttpError(404, f"Policy group '{name}' not found")
        return self.groups[name]

    def create_group(self, body: Mapping[str, Any]) -> None:
        """POST with a NewPolicyGroupRequest (already schema-checked): a new group.

        Current service: entityType and mode are optional and derived from each other
        (stacks ↔ preventative, accounts ↔ audit; neither: stacks, preventative). Strict
        reading: an accounts group cannot be preventative. Legacy: entityType is required and
        the mode defaults per entity type.
        """
        name = str(body["name"])
        if self.api == "legacy":
            entity_type = str(body["entityType"])
            if entity_type not in DEFAULT_MODES:
                raise HttpError(400, f"Invalid entityType '{entity_type}'")
            mode = str(body.get("mode") or DEFAULT_MODES[entity_type])
            rules: dict[str, dict[str, Any]] = {}
        else:
            rules = {key: body[key] for key in RULE_ENTITIES if key in body}
            if rules:
                self.require_match_rules()
            entity_type, mode = _derive(body.get("entityType"), body.get("mode"))
            if entity_type == "accounts" and mode == "preventative":
                raise HttpError(
                    400,
                    "An accounts policy group cannot be preventative: preventative groups "
                    "hold stacks only",
                )
            _check_rules(body, mode, "$")
        self.check_name(name)
        if name in self.groups:
            raise HttpError(409, f"Policy group '{name}' already exists")
        self.groups[name] = Group(
            name,
            entity_type,
            mode,
            agent_pool_id=str(body.get("agentPoolId", "")),
            stack_rule=copy.deepcopy(rules.get("stackMatchRule")),
            account_rule=copy.deepcopy(rules.get("accountMatchRule")),
        )

    def delete_group(self, name: str) -> None:
        """DELETE: any group but the org's defaults (spec rule 1)."""
        if self.group(name).is_org_default:
            raise HttpError(400, f"Cannot delete the default policy group '{name}'")
        del self.groups[name]

    def update_group(
        self, name: str, updates: Sequence[Mapping[str, Any]], *, single: bool
    ) -> None:
        """PATCH (`single`) or PATCH /batch: apply Update objects the worst way the service may.

        Strict reading of the order, within one PATCH as within a batch: every add (in order),
        then every remove (packs matched by name), then (current) every whole-list
        replacement, then agentPoolId, then (current) the match rules, then newName. Not
        atomic (spec rule 6): the operations done before a failing one stay done; what the
        checks up front refuse (bad rules, the feature flag, legacy's rules) changes nothing.
        """
        group = self.group(name)
        for index, update in enumerate(updates):
            self._check_update(group, update, "$" if single else f"$[{index}]", single=single)
        for update in updates:
            for key in ADD_FIELDS:
                if key in update:
                    self._add(group, key, update[key])
        for update in updates:
            for key in REMOVE_FIELDS:
                if key in update:
                    self._remove(group, key, update[key])
        if self.api == "current":
            for update in updates:
                for key in REPLACE_FIELDS:
                    if key in update:
                        self._replace(group, key, update[key])
        for update in updates:
            if "agentPoolId" in update:
                group.agent_pool_id = str(update["agentPoolId"])
        if self.api == "current":
            for update in updates:
                _set_rules(group, update)
        for update in updates:
            if "newName" in update:
                self._rename(group, str(update["newName"]))

    def listed_accounts(self, group: Group) -> set[str]:
        """The accounts GET lists: the explicit ones and (current) children of explicit parents."""
        if self.api == "legacy" or not group.accounts:
            return set(group.accounts)
        children = {n for n, a in self.accounts.items() if a.parent in group.accounts}
        return group.accounts | children

    def stack_members(self, group: Group) -> dict[StackKey, Source]:
        """Every stack `group` holds: explicit ones, then the others its rule matches now."""
        members: dict[StackKey, Source] = dict.fromkeys(group.stacks, "explicit")
        if group.stack_rule is not None:
            for key, stack in self.stacks.items():
                if key not in members and matchrules.evaluate(group.stack_rule, stack.tags):
                    members[key] = "rule"
        return members

    def holds_stack(self, group: Group, key: StackKey) -> bool:
        """Whether `key` is among `stack_members(group)`, without listing them all."""
        if key in group.stacks:
            return True
        stack = self.stacks.get(key)
        rule = group.stack_rule
        return rule is not None and stack is not None and matchrules.evaluate(rule, stack.tags)

    def account_members(self, group: Group) -> dict[str, Source]:
        """Every account `group` holds: listed ones (children too), then rule matches."""
        members: dict[str, Source] = dict.fromkeys(self.listed_accounts(group), "explicit")
        if group.account_rule is not None:
            for name, account in self.accounts.items():
                if name not in members and matchrules.evaluate(group.account_rule, account.tags):
                    members[name] = "rule"
        return members

    def require_match_rules(self) -> None:
        """403 unless the org has the match-rules preview feature."""
        if not self.match_rules:
            raise HttpError(
                403,
                "Policy group match rules are a preview feature that is not enabled for "
                f"organization '{self.name}'",
            )

    def check_name(self, name: str) -> None:
        """400 unless `name` is a valid group name on this service."""
        if self.api == "legacy":
            _check_legacy_name(name)
            return
        if not _NAME.fullmatch(name) or name != name.strip(" "):
            raise HttpError(400, f"Invalid policy group name '{name}': {NAME_RULE}")
        _check_addressable(name)

    def _check_update(
        self, group: Group, update: Mapping[str, Any], where: str, *, single: bool
    ) -> None:
        if self.api == "legacy":
            _check_legacy_update(update, single=single)
            return
        used = [key for key in RULE_ENTITIES if key in update]
        used += [key for key in RULE_REMOVALS.values() if update.get(key) is True]
        if used:
            self.require_match_rules()
        for key, removal in RULE_REMOVALS.items():
            if key in update and update.get(removal) is True:
                # Strict reading: setting and removing one rule in one update is ambiguous.
                raise HttpError(400, f"{key} and {removal} cannot be combined in one update")
        _check_rules(update, group.mode, where)

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
            name = self._account(group, value)
            parent = self.accounts[name].parent
            # Strict reading: a child stays while its parent is a member, silently (the
            # provider never removes one); even its own explicit entry stays.
            if self.api == "legacy" or parent is None or parent not in group.accounts:
                group.accounts.discard(name)
        else:
            group.packs.pop(self._pack(value).name, None)

    def _replace(self, group: Group, key: str, value: Sequence[Any]) -> None:
        """A whole-list field: every entry is checked before the list changes at all."""
        if key == "stacks":
            group.stacks = {self._stack(group, ref) for ref in value}
        elif key == "insightsAccounts":
            group.accounts = {self._account(group, {"name": name}) for name in value}
        else:
            packs: dict[str, AppliedPack] = {}
            for entry in value:
                pack = self._pack(entry)
                if pack.name in packs:
                    raise HttpError(400, f"Policy pack '{pack.name}' is listed twice")
                packs[pack.name] = AppliedPack(
                    pack.name,
                    _resolve_tag(pack, entry),
                    copy.deepcopy(dict(entry.get("config") or {})),
                    list(entry.get("environments") or []),
                )
            group.packs = packs

    def _stack(self, group: Group, ref: Mapping[str, Any]) -> StackKey:
        if self.api == "legacy" and group.entity_type != "stacks":
            raise HttpError(400, f"Policy group '{group.name}' holds accounts, not stacks")
        key = (str(ref["routingProject"]), str(ref["name"]))
        if key not in self.stacks:
            raise HttpError(404, f"Stack '{key[0]}/{key[1]}' not found")
        return key

    def _account(self, group: Group, account: Mapping[str, Any]) -> str:
        if self.api == "legacy" and group.entity_type != "accounts":
            raise HttpError(400, f"Policy group '{group.name}' holds stacks, not accounts")
        if self.api == "current" and group.mode == "preventative":
            raise HttpError(
                400, f"Policy group '{group.name}' is preventative: it holds stacks only"
            )
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
        self.check_name(new_name)
        if new_name == group.name:
            return
        if new_name in self.groups:
            raise HttpError(409, f"Policy group '{new_name}' already exists")
        del self.groups[group.name]
        group.name = new_name
        self.groups[new_name] = group


@dataclass
class State:
    """Every organization the emulator serves, by name, and the API generation it speaks.

    `api` is authoritative; `set_api` keeps every org in step with it.
    """

    orgs: dict[str, Org] = field(default_factory=dict)
    api: Api = "current"

    def __post_init__(self) -> None:
        self.set_api(self.api)

    def set_api(self, api: Api) -> None:
        """Speak `api` from now on, in every org."""
        self.api = api
        for org in self.orgs.values():
            org.api = api

    def org(self, name: str) -> Org:
        """The organization called `name`, or 404."""
        if name not in self.orgs:
            raise HttpError(404, f"Organization '{name}' not found")
        return self.orgs[name]


def _derive(entity_type: Any, mode: Any) -> tuple[str, str]:
    if entity_type is None and mode is None:
        return "stacks", "preventative"
    if entity_type is None:
        return DEFAULT_ENTITY_TYPES[str(mode)], str(mode)
    return str(entity_type), str(mode or DEFAULT_MODES[str(entity_type)])


def _check_rules(body: Mapping[str, Any], mode: str, where: str) -> None:
    """400 for an invalid rule, or an account rule on a preventative group."""
    if "accountMatchRule" in body and mode == "preventative":
        raise HttpError(400, "accountMatchRule is not allowed on a preventative policy group")
    for key, entity in RULE_ENTITIES.items():
        if key in body:
            problem = matchrules.problem(body[key], entity, root=f"{where}.{key}")
            if problem is not None:
                raise HttpError(400, f"Invalid request body {problem}")


def _set_rules(group: Group, update: Mapping[str, Any]) -> None:
    if "stackMatchRule" in update:
        group.stack_rule = copy.deepcopy(dict(update["stackMatchRule"]))
    elif update.get("removeStackMatchRule") is True:
        group.stack_rule = None
    if "accountMatchRule" in update:
        group.account_rule = copy.deepcopy(dict(update["accountMatchRule"]))
    elif update.get("removeAccountMatchRule") is True:
        group.account_rule = None


def _resolve_tag(pack: CatalogPack, entry: Mapping[str, Any]) -> str:
    """A whole-list entry's versionTag: as given, else that of its version, else the latest.

    The CLI sends `name@3` as {"version": 3} and a bare name with neither; the service resolves
    a bare name to the latest version (seen against the real service).
    """
    if entry.get("versionTag"):
        return str(entry["versionTag"])
    version = int(entry.get("version") or 0)
    if version:
        if not 1 <= version <= len(pack.version_tags):
            raise HttpError(404, f"Policy pack '{pack.name}' has no version {version}")
        return pack.version_tags[version - 1]
    if not pack.version_tags:
        raise HttpError(404, f"Policy pack '{pack.name}' has no published version")
    return pack.version_tags[-1]


def _check_addressable(name: str) -> None:
    if name == "metadata":
        # Spec rule 10, strict reading: the name would shadow GET /policygroups/metadata.
        raise HttpError(400, "Policy group name 'metadata' is reserved")
    if name in (".", ".."):
        # Such a name cannot be addressed: URL paths collapse dot segments.
        raise HttpError(400, f"Policy group name '{name}' is not a valid path segment")


def _check_legacy_name(name: str) -> None:
    if not name.strip():
        raise HttpError(400, "Policy group name must not be empty")
    if "/" in name:
        raise HttpError(400, f"Policy group name '{name}' is not a valid path segment")
    _check_addressable(name)


def _check_legacy_update(update: Mapping[str, Any], *, single: bool) -> None:
    replacing = [key for key in REPLACE_FIELDS if key in update]
    if replacing:
        # Whole-list replacements exist on newer servers only.
        raise HttpError(400, f"Unsupported update field(s): {', '.join(replacing)}")
    mutations = [key for key in (*ADD_FIELDS, *REMOVE_FIELDS) if key in update]
    if single and len(mutations) > 1:
        # Spec rule 5 (legacy): a plain PATCH carries at most one add/remove field.
        raise HttpError(
            400, f"Only one add/remove field per request, got {', '.join(mutations)}; use /batch"
        )
