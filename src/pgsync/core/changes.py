"""Field-level changes to one group: small values with a total order and a JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pgsync.core.configdiff import describe_pack_change
from pgsync.core.masking import masked_config
from pgsync.core.matchrule import describe, readable_rules
from pgsync.core.model import AppliedPack, MatchRule, RulePreview, StackRef


@dataclass(frozen=True, slots=True)
class Rename:
    old: str
    new: str
    kind = "rename"

    @property
    def subject(self) -> str:
        return self.new

    def to_json(self) -> dict[str, Any]:
        return {"from": self.old, "to": self.new}


@dataclass(frozen=True, slots=True)
class Reshape:
    """A new entityType or mode: the API cannot change either, so the group is replaced."""

    entity_type: tuple[str, str]
    mode: tuple[str, str]
    kind = "replace"

    @property
    def subject(self) -> str:
        return f"{self.entity_type[1]}/{self.mode[1]}"

    def to_json(self) -> dict[str, Any]:
        return {
            "entityType": {"from": self.entity_type[0], "to": self.entity_type[1]},
            "mode": {"from": self.mode[0], "to": self.mode[1]},
        }


@dataclass(frozen=True, slots=True)
class _StackChange:
    stack: StackRef

    @property
    def subject(self) -> str:
        return str(self.stack)

    def to_json(self) -> dict[str, Any]:
        return self.stack.to_api()


@dataclass(frozen=True, slots=True)
class AddStack(_StackChange):
    kind = "addStack"


@dataclass(frozen=True, slots=True)
class RemoveStack(_StackChange):
    kind = "removeStack"


@dataclass(frozen=True, slots=True)
class _AccountChange:
    """An Insights account, sent by name (`{name}`, the API's account reference)."""

    name: str

    @property
    def subject(self) -> str:
        return self.name

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name}


@dataclass(frozen=True, slots=True)
class AddAccount(_AccountChange):
    kind = "addAccount"


@dataclass(frozen=True, slots=True)
class RemoveAccount(_AccountChange):
    kind = "removeAccount"


def _pack_json(pack: AppliedPack) -> dict[str, Any]:
    return {
        "name": pack.name,
        "versionTag": pack.version_tag,
        "config": masked_config(pack.config, pack.secret_paths),
        "environments": list(pack.environments),
    }


@dataclass(frozen=True, slots=True)
class AddPack:
    pack: AppliedPack
    kind = "addPolicyPack"

    @property
    def subject(self) -> str:
        return self.pack.name

    def to_json(self) -> dict[str, Any]:
        return _pack_json(self.pack)


@dataclass(frozen=True, slots=True)
class RemovePack:
    pack: AppliedPack
    kind = "removePolicyPack"

    @property
    def subject(self) -> str:
        return self.pack.name

    def to_json(self) -> dict[str, Any]:
        return {"name": self.pack.name, "versionTag": self.pack.version_tag}


@dataclass(frozen=True, slots=True)
class _PackSettingsChange:
    """A pack the group already has, with new settings."""

    before: AppliedPack
    after: AppliedPack

    @property
    def config_changes(self) -> tuple[str, ...]:
        """What changed, line by line; described only when shown (DeepDiff is not cheap)."""
        return describe_pack_change(self.before, self.after)

    @property
    def subject(self) -> str:
        return self.after.name

    def to_json(self) -> dict[str, Any]:
        shown = _pack_json(self.after)
        return {
            "name": self.after.name,
            **self._versions(),
            "configChanges": list(self.config_changes),
            "config": shown["config"],
            "environments": shown["environments"],
        }

    def _versions(self) -> dict[str, str]:
        return {"versionTag": self.after.version_tag}


@dataclass(frozen=True, slots=True)
class UpgradePack(_PackSettingsChange):
    """A new versionTag of a pack the group already has (with its settings)."""

    kind = "upgradePolicyPack"

    def _versions(self) -> dict[str, str]:
        return {"from": self.before.version_tag, "to": self.after.version_tag}


@dataclass(frozen=True, slots=True)
class ConfigurePack(_PackSettingsChange):
    """Same versionTag, different config or environments."""

    kind = "configurePolicyPack"


def _rule_json(rule: MatchRule) -> dict[str, Any]:
    readable = readable_rules(rule.expression, rule.entity)
    shown: dict[str, Any] = {"description": describe(rule.expression, rule.entity)}
    shown["rules" if readable is not None else "expression"] = (
        readable if readable is not None else rule.expression
    )
    return shown


@dataclass(frozen=True, slots=True)
class _SetRule:
    """A new or different match rule; `preview` counts what `after` matches, `previous` what
    `before` matched (None: not known)."""

    before: MatchRule | None
    after: MatchRule
    preview: RulePreview | None = field(default=None, compare=False)
    previous: RulePreview | None = field(default=None, compare=False)

    @property
    def subject(self) -> str:
        return describe(self.after.expression, self.after.entity)

    def to_json(self) -> dict[str, Any]:
        shown = _rule_json(self.after)
        if self.before is not None:
            shown["from"] = _rule_json(self.before)
        if self.preview is not None:
            shown["preview"] = self.preview.to_json()
        if self.previous is not None:
            shown["previous"] = self.previous.to_json()
        return shown


@dataclass(frozen=True, slots=True)
class SetStackRule(_SetRule):
    kind = "setStackMatchRule"


@dataclass(frozen=True, slots=True)
class SetAccountRule(_SetRule):
    kind = "setAccountMatchRule"


@dataclass(frozen=True, slots=True)
class _RemoveRule:
    """The live rule goes: members it brought in leave unless listed; `previous` counts them
    (the JSON plan's `preview`: what the removed rule matches now)."""

    before: MatchRule
    previous: RulePreview | None = field(default=None, compare=False)

    @property
    def subject(self) -> str:
        return describe(self.before.expression, self.before.entity)

    def to_json(self) -> dict[str, Any]:
        shown = {"from": _rule_json(self.before)}
        if self.previous is not None:
            shown["preview"] = self.previous.to_json()
        return shown


@dataclass(frozen=True, slots=True)
class RemoveStackRule(_RemoveRule):
    kind = "removeStackMatchRule"


@dataclass(frozen=True, slots=True)
class RemoveAccountRule(_RemoveRule):
    kind = "removeAccountMatchRule"


@dataclass(frozen=True, slots=True)
class SetAgentPool:
    before: str
    after: str
    kind = "setAgentPool"

    @property
    def subject(self) -> str:
        return self.after

    def to_json(self) -> dict[str, Any]:
        return {"from": self.before, "to": self.after}


Change = (
    Rename
    | Reshape
    | AddStack
    | RemoveStack
    | AddAccount
    | RemoveAccount
    | AddPack
    | RemovePack
    | UpgradePack
    | ConfigurePack
    | SetStackRule
    | RemoveStackRule
    | SetAccountRule
    | RemoveAccountRule
    | SetAgentPool
)

# What a change of each kind is about, as plans count and compare them ("+3 stacks"); the
# agent pool, a name and a group's shape are one per group and have no entry.
SUBJECTS = {
    "addStack": "stack",
    "removeStack": "stack",
    "addAccount": "account",
    "removeAccount": "account",
    "addPolicyPack": "pack",
    "removePolicyPack": "pack",
    "upgradePolicyPack": "pack",
    "configurePolicyPack": "pack",
    "setStackMatchRule": "stack rule",
    "removeStackMatchRule": "stack rule",
    "setAccountMatchRule": "account rule",
    "removeAccountMatchRule": "account rule",
}

_KIND_ORDER = {
    kind: i
    for i, kind in enumerate(
        (
            "rename",
            "replace",
            "removePolicyPack",
            "addPolicyPack",
            "upgradePolicyPack",
            "configurePolicyPack",
            "removeStack",
            "addStack",
            "removeAccount",
            "addAccount",
            "setStackMatchRule",
            "removeStackMatchRule",
            "setAccountMatchRule",
            "removeAccountMatchRule",
            "setAgentPool",
        )
    )
}


def change_order(change: Change) -> tuple[int, Any]:
    """The total order of changes: by kind (renames first), then by subject.

    Stacks order as (project, stack) pairs, everything else by name.
    """
    key = change.stack if isinstance(change, _StackChange) else change.subject
    return (_KIND_ORDER[change.kind], key)
