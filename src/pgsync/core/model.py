"""Immutable values for desired and live policy-group state, and normalisation rules.

Normalisation lives here and only here: stack shorthand, default mode per entity type,
`enforcementLevel` as the config's `all` entry, and canonical (order-free) config JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from pgsync.core.errors import Location, Problem

EntityType = Literal["stacks", "accounts"]
Mode = Literal["preventative", "audit"]
JsonPath = tuple[str, ...]

ENTITY_TYPES: tuple[EntityType, ...] = ("stacks", "accounts")
MODES: tuple[Mode, ...] = ("preventative", "audit")
ENFORCEMENT_LEVELS = ("advisory", "mandatory", "disabled", "remediate")
KNOWN_DEFAULT_GROUPS: Mapping[str, Mode] = {
    "default-policy-group": "preventative",
    "default-preventative-policy-group": "preventative",
    "default-accounts-policy-group": "audit",
    "default-audit-policy-group": "audit",
}
"""The names Pulumi Cloud gives an organization's default groups (older and newer products).

Only the offline checks of `validate` use names (contract §1); against live state a default
group is one with isOrgDefault.
"""
ManagedList = Literal["stacks", "accounts", "policyPacks"]
"""A list of a group that `manage:` may make additive (named as the file names it)."""
MANAGED_LISTS: tuple[ManagedList, ...] = ("stacks", "accounts", "policyPacks")
RESERVED_GROUP_NAMES = frozenset({"metadata"})
SECRET_MASK = "[secret]"
SECRET_KEY = "fn::secret"


def default_mode(entity_type: EntityType | None) -> Mode:
    """The mode of a group that does not say: audit for accounts groups, else preventative."""
    return "audit" if entity_type == "accounts" else "preventative"


def default_entity_type(mode: Mode) -> EntityType:
    """The legacy label that goes with a mode (what the API derives when it is omitted)."""
    return "accounts" if mode == "audit" else "stacks"


def canonical_json(value: Any) -> str:
    """JSON text that is equal for equal values, whatever the key order or number spelling."""
    return json.dumps(_integral(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_SAFE_INT = 2**53


def _integral(value: Any) -> Any:
    """100.0 and 100 are one number to the service (Go float64): spell both as 100."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= _SAFE_INT:
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


def sha256_digest(data: bytes) -> str:
    # Loading OpenSSL costs 3 ms, which `--help`, `schema` and `import pgsync` do not need.
    import hashlib  # noqa: PLC0415

    return "sha256:" + hashlib.sha256(data).hexdigest()


def normalise_config(config: Mapping[str, Any], enforcement_level: str | None) -> dict[str, Any]:
    """The wire form of a pack config: every value an object, the level as `all`.

    A bare level string per policy (`all: mandatory`, the Pulumi CLI file shorthand) is
    expanded, because the API wants objects only (API spec, rule 7).
    """
    wire: dict[str, Any] = {
        key: {"enforcementLevel": value} if isinstance(value, str) else dict(value)
        for key, value in config.items()
    }
    if enforcement_level is not None:
        wire["all"] = {**wire.get("all", {}), "enforcementLevel": enforcement_level}
    return wire


class StackRef(NamedTuple):
    """A stack as `project/stack`; the API calls these `routingProject` and `name`.

    A named tuple, not a dataclass: hashing, comparing and sorting happen in C, and plans
    of large organizations do all three hundreds of thousands of times.
    """

    project: str
    stack: str

    @classmethod
    def parse(cls, text: str) -> StackRef:
        project, _, stack = text.partition("/")
        return cls(project, stack)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> StackRef:
        return cls(str(body["routingProject"]), str(body["name"]))

    def to_api(self) -> dict[str, str]:
        return {"name": self.stack, "routingProject": self.project}

    def __str__(self) -> str:
        return f"{self.project}/{self.stack}"


@dataclass(frozen=True, slots=True)
class AppliedPack:
    """A pack version as applied to a group (live), or as it will be (desired, resolved).

    `config_json` is canonical JSON of the wire config; `secret_paths` are config paths
    whose values must never be shown.
    """

    name: str
    version_tag: str
    version: int
    display_name: str
    config_json: str = "{}"
    environments: tuple[str, ...] = ()
    secret_paths: frozenset[JsonPath] = field(default=frozenset(), compare=False)

    @property
    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.config_json)
        return result

    def same_settings(self, other: AppliedPack) -> bool:
        """Equal in everything the API lets one set: tag, config and environments."""
        return (self.version_tag, self.config_json, self.environments) == (
            other.version_tag,
            other.config_json,
            other.environments,
        )

    def to_api(self, *, with_settings: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "displayName": self.display_name,
            "version": self.version,
            "versionTag": self.version_tag,
        }
        if with_settings:
            # Always explicit: an omitted key may leave the old settings in place.
            body["config"] = self.config
            body["environments"] = list(self.environments)
        return body


@dataclass(frozen=True, slots=True)
class PackOrigin:
    """Where an expanded pack entry came from (contract §6.2): a pack set, a template, or both."""

    pack_set: str | None
    set_used_at: Location | None
    """Where `{use: SET}` is written: in the group, or in its template."""
    template: str | None = None
    extended_at: Location | None = None
    """Where the group's `extends` is written, when the entry came from its template."""


@dataclass(frozen=True, slots=True)
class PackRef:
    """A pack as the user declared it: identity is name + versionTag."""

    name: str
    version_tag: str
    config_json: str = "{}"
    environments: tuple[str, ...] = ()
    secret_paths: frozenset[JsonPath] = frozenset()
    location: Location | None = field(default=None, compare=False)
    origin: PackOrigin | None = field(default=None, compare=False)


RuleEntity = Literal["stack", "account"]


@dataclass(frozen=True, slots=True)
class MatchRule:
    """A tag-match rule (a Pulumi Cloud preview feature) in the API's expression form.

    `key` identifies the rule whatever its spelling (order of rules and conditions, fold
    shape), so equal rules compare equal; `expression_json` is canonical JSON of what is sent.
    """

    entity: RuleEntity
    key: str
    expression_json: str = field(compare=False)

    @property
    def expression(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.expression_json)
        return result


@dataclass(frozen=True, slots=True)
class RulePreview:
    """What a match rule selects now, from the API's preview: `matched` of `total` entities."""

    matched: int
    total: int

    def to_json(self) -> dict[str, int]:
        return {"matched": self.matched, "total": self.total}


@dataclass(frozen=True, slots=True)
class RuleSetting:
    """A managed match rule: `rule` None means the group must have none (`stackMatch: []`)."""

    rule: MatchRule | None
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class DesiredGroup:
    """One declared group; `None` for a list or rule means the user does not manage it.

    `entity_type` and `mode` are None when not written: an omitted entityType is never a
    change, an omitted mode keeps a live default group's, and otherwise `resolved_mode` is
    what the group must be (entityType is a legacy label that decides nothing).
    """

    name: str
    entity_type: EntityType | None
    mode: Mode | None
    previously: tuple[str, ...] = ()
    agent_pool_id: str | None = None
    absent: bool = False
    stacks: frozenset[StackRef] | None = None
    accounts: frozenset[str] | None = None
    packs: tuple[PackRef, ...] | None = None
    stack_match: RuleSetting | None = None
    account_match: RuleSetting | None = None
    additive: frozenset[ManagedList] = frozenset()
    """The lists written `manage: {LIST: additive}`: what they list is added, nothing removed."""
    location: Location | None = field(default=None, compare=False)
    item_locations: Mapping[str, Location] = field(default_factory=dict, compare=False, hash=False)
    """Where each stack (`project/stack`) and account name was written, for plan-time errors."""

    def where(self, item: str | None = None) -> Location:
        """The best location for a message about this group or one of its items."""
        found = self.item_locations.get(item) if item is not None else None
        return found or self.location or Location("<desired>", 1, 1)

    @property
    def resolved_mode(self) -> Mode:
        """The mode a new group gets: as written, else by entityType (audit for accounts),
        else preventative. A live default group keeps its own (replace.needs_replace)."""
        return self.mode or default_mode(self.entity_type)

    @property
    def resolved_entity_type(self) -> EntityType:
        """The legacy label sent on create (older servers require one).

        As written; else `stacks`, unless an audit group has accounts (listed or by rule) and
        no stacks: older servers let a group hold one kind of member only, so that is the
        label they need.
        """
        if self.entity_type is not None:
            return self.entity_type
        has_accounts = bool(self.accounts) or bool(self.account_match and self.account_match.rule)
        has_stacks = bool(self.stacks) or bool(self.stack_match and self.stack_match.rule)
        if self.resolved_mode == "audit" and has_accounts and not has_stacks:
            return "accounts"
        return "stacks"


@dataclass(frozen=True, slots=True)
class InputFile:
    """An input file and the digest of its bytes, which binds a saved plan to its inputs."""

    path: str
    sha256: str


@dataclass(frozen=True, slots=True)
class SafetySettings:
    """Thresholds of the safety rules, from the file's `safety:` block."""

    max_delete_percent: float = 10.0
    max_unprotected: int = 0


@dataclass(frozen=True, slots=True)
class DesiredState:
    organization: str
    groups: tuple[DesiredGroup, ...]
    prune: bool = False
    inputs: tuple[InputFile, ...] = ()
    safety: SafetySettings = SafetySettings()
    allow: frozenset[str] = frozenset()
    """Safety finding ids acknowledged in the files (`allow:`)."""
    warnings: tuple[Problem, ...] = ()
    """What is worth fixing but valid, such as a pack set that no group uses."""


@dataclass(frozen=True, slots=True)
class LiveGroup:
    """A group as the API reports it."""

    name: str
    entity_type: EntityType
    mode: Mode
    is_default: bool = False
    stacks: frozenset[StackRef] = frozenset()
    accounts: frozenset[str] = frozenset()
    packs: tuple[AppliedPack, ...] = ()
    agent_pool_id: str = ""
    stack_rule: MatchRule | None = None
    account_rule: MatchRule | None = None
    rule_stacks: frozenset[StackRef] = field(default=frozenset(), compare=False)
    """Members the stack rule brings in (from the member listing; empty when not read).

    Not part of the fingerprint: the service changes them whenever tags change."""
    rule_accounts: frozenset[str] = field(default=frozenset(), compare=False)
    """Members the account rule brings in, likewise."""

    def to_json(self) -> dict[str, Any]:
        """Everything pgsync manages; rules only when set, so that older plans' digests hold."""
        shown = {
            "name": self.name,
            "entityType": self.entity_type,
            "mode": self.mode,
            "isOrgDefault": self.is_default,
            "stacks": [f"{project}/{stack}" for project, stack in sorted(self.stacks)],
            "accounts": sorted(self.accounts),
            "policyPacks": [p.to_api() for p in self.packs],
            "agentPoolId": self.agent_pool_id,
        }
        for key, rule in (
            ("stackMatchRule", self.stack_rule),
            ("accountMatchRule", self.account_rule),
        ):
            if rule is not None:
                shown[key] = rule.expression
        return shown


# sha256_digest(b"null"), the fingerprint of no group, written out: hashing it at import would
# load OpenSSL in every process that imports the model (tests/core/test_plan.py checks the two
# agree).
ABSENT_FINGERPRINT = "sha256:74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b"


@dataclass(frozen=True, slots=True)
class PublishedPack:
    """A pack published in the org: each versionTag maps to its numeric version."""

    name: str
    display_name: str
    versions: Mapping[str, int] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class OrgCatalog:
    """What exists in the org besides groups: packs, stacks and Insights account names.

    `stacks` and `accounts` hold at least every declared one that exists (not always the
    whole org: see api.read_live_state), and are None when nothing needed them.
    """

    packs: Mapping[str, PublishedPack] = field(default_factory=dict, hash=False)
    stacks: frozenset[StackRef] | None = None
    accounts: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Coverage:
    """The org's policy coverage, from the metadata endpoint (its PascalCase keys)."""

    protected_stacks: int
    preventative_stacks: int
    audit_stacks: int
    total_stacks: int
    protected_accounts: int
    total_accounts: int

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Coverage:
        def count(key: str) -> int:
            value = body.get(key, 0)
            return value if isinstance(value, int) else 0

        return cls(
            protected_stacks=count("ProtectedStacks"),
            preventative_stacks=count("PreventativeStacks"),
            audit_stacks=count("AuditStacks"),
            total_stacks=count("TotalStacks"),
            protected_accounts=count("ProtectedAccounts"),
            total_accounts=count("TotalAccounts"),
        )

    def summary(self) -> str:
        return (
            f"{self.protected_stacks}/{self.total_stacks} stacks protected "
            f"({self.preventative_stacks} preventative, {self.audit_stacks} audit), "
            f"{self.protected_accounts}/{self.total_accounts} accounts"
        )


@dataclass(frozen=True, slots=True)
class LiveState:
    organization: str
    groups: Mapping[str, LiveGroup] = field(default_factory=dict, hash=False)
    catalog: OrgCatalog = field(default_factory=OrgCatalog)
    unread: frozenset[str] = frozenset()
    """Live groups known only by name: their details were not needed for this plan."""
    coverage: Coverage | None = None
    """The org's policy coverage, when it was read."""
    previews: Mapping[tuple[RuleEntity, str], RulePreview] = field(default_factory=dict, hash=False)
    """What each rule that the plan sets or removes matches now, by (entity, rule key)."""
