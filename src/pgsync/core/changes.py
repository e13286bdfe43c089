"""Field-level changes to one group: one class per kind, which carries everything of its kind.

Each kind knows its place in a group's changes (`order`), what it changes (`about`), how a
person is told of it (`description`, worked out once), its JSON form and its Update object in
the group's batch PATCH (`batch_update`). `Change` names every kind, so that a `match` on it
is checked for exhaustiveness.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from pgsync.core.configdiff import describe_pack_change
from pgsync.core.masking import JsonPointer, mask_paths
from pgsync.core.matchrule import describe, readable_rules
from pgsync.core.model import AppliedPack, MatchRule, PackOrigin, RulePreview, StackRef
from pgsync.core.wording import counted


class Description(NamedTuple):
    """How a change is told: its sign (+ - ~ → ±), one line, and lines of detail."""

    sign: str
    text: str
    details: tuple[str, ...] = ()


class BatchUpdate(NamedTuple):
    """One Update object of a group's batch PATCH (API spec), and where its secret values are."""

    body: dict[str, Any]
    secret_paths: tuple[JsonPointer, ...] = ()


class ChangeKind:
    """What every kind of change has; each kind is a frozen dataclass below, with its `kind`."""

    # The description, once asked for: not a dataclass field, so a copy made with
    # dataclasses.replace (the escaped plan people are shown) describes itself anew.
    __slots__ = ("_description",)
    _description: Description

    kind: ClassVar[str]
    """Its name in the JSON plan (contract §4)."""
    order: ClassVar[int]
    """Its place among a group's changes, as apply sends them: renames first."""
    about: ClassVar[str]
    """What it changes: a stack, an account, a pack, a rule, the agent pool, the name, …"""
    many: ClassVar[bool] = False
    """A group has many of what it changes (stacks, accounts, packs), told apart by subject."""
    counted: ClassVar[bool] = True
    """Plans count changes of it by its noun ("+3 stacks"); else they name it ("~agent pool")."""
    destructive: ClassVar[bool] = False
    """It takes something away from the group (a removed rule lets go of what it matched)."""
    may_unprotect: ClassVar[bool] = False
    """It may take a mandatory pack or a group away from a stack or account: what it takes
    away, a pack's new settings, a rule's new matches."""

    @property
    def subject(self) -> str:
        """What it changes, by name: a stack's `project/stack`, a pack's name, a rule, …"""
        raise NotImplementedError

    @property
    def description(self) -> Description:
        """How a person is told of the change; worked out on first use, then kept."""
        try:
            return self._description
        except AttributeError:
            described = self._describe()
            object.__setattr__(self, "_description", described)
            return described

    def batch_update(self) -> BatchUpdate | None:
        """Its Update object in the group's batch PATCH; None: it is sent another way."""
        raise NotImplementedError

    def _describe(self) -> Description:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Rename(ChangeKind):
    old: str
    new: str
    kind = "rename"
    order = 0
    about = "name"
    counted = False

    @property
    def subject(self) -> str:
        return self.new

    def to_json(self) -> dict[str, Any]:
        return {"from": self.old, "to": self.new}

    def batch_update(self) -> None:
        """None: a plain PATCH of its own, before the batch (plan.requests_for)."""
        return None

    def _describe(self) -> Description:
        return Description("→", f"renamed {self.old} → {self.new}")


@dataclass(frozen=True, slots=True)
class Reshape(ChangeKind):
    """A new entityType or mode: the API cannot change either, so the group is replaced."""

    entity_type: tuple[str, str]
    mode: tuple[str, str]
    kind = "replace"
    order = 1
    about = "shape"
    counted = False

    @property
    def subject(self) -> str:
        return f"{self.entity_type[1]}/{self.mode[1]}"

    def to_json(self) -> dict[str, Any]:
        return {
            "entityType": {"from": self.entity_type[0], "to": self.entity_type[1]},
            "mode": {"from": self.mode[0], "to": self.mode[1]},
        }

    def batch_update(self) -> None:
        """None: no update changes a shape; the group is replaced (plan._replace_requests)."""
        return None

    def _describe(self) -> Description:
        (was_type, new_type), (was_mode, new_mode) = self.entity_type, self.mode
        return Description(
            "±",
            f"replaced: {was_type}/{was_mode} → {new_type}/{new_mode} "
            "(new group filled first, then the old one deleted)",
        )


def _pack_json(pack: AppliedPack) -> dict[str, Any]:
    return {
        "name": pack.name,
        "versionTag": pack.version_tag,
        "config": mask_paths(pack.config, pack.secret_paths),
        "environments": list(pack.environments),
    }


def _upsert(pack: AppliedPack) -> BatchUpdate:
    # Upgrades and config changes are a lone addPolicyPack too: the API upserts packs by
    # name, and a remove plus an add of one name in one batch loses the pack (rule 4).
    secrets = tuple(("addPolicyPack", "config", *p) for p in sorted(pack.secret_paths))
    return BatchUpdate({"addPolicyPack": pack.to_api()}, secrets)


def _pack_label(pack: AppliedPack) -> str:
    level = pack.config.get("all", {}).get("enforcementLevel")
    return f"{pack.name} {pack.version_tag}" + (f" ({level})" if level else "")


def origin_label(origin: PackOrigin | None) -> str | None:
    """`packSet baseline` or `template prod-like` (contract §6.2): where a pack's entry is
    written; a set's entry used by a template is the set's."""
    if origin is None:
        return None
    if origin.pack_set is not None:
        return f"packSet {origin.pack_set}"
    return f"template {origin.template}" if origin.template is not None else None


@dataclass(frozen=True, slots=True)
class RemovePack(ChangeKind):
    pack: AppliedPack
    kind = "removePolicyPack"
    order = 2
    about = "pack"
    many = True
    destructive = True
    may_unprotect = True

    @property
    def subject(self) -> str:
        return self.pack.name

    def to_json(self) -> dict[str, Any]:
        return {"name": self.pack.name, "versionTag": self.pack.version_tag}

    def batch_update(self) -> BatchUpdate:
        return BatchUpdate({"removePolicyPack": self.pack.to_api(with_settings=False)})

    def _describe(self) -> Description:
        return Description("-", f"pack {self.pack.name} {self.pack.version_tag}")


@dataclass(frozen=True, slots=True)
class AddPack(ChangeKind):
    pack: AppliedPack
    # Where the entry is written says nothing of what is sent: moving a pack into a set
    # changes no plan, saved plan or drift.
    origin: str | None = field(default=None, compare=False)
    kind = "addPolicyPack"
    order = 3
    about = "pack"
    many = True

    @property
    def subject(self) -> str:
        return self.pack.name

    def to_json(self) -> dict[str, Any]:
        return _pack_json(self.pack)

    def batch_update(self) -> BatchUpdate:
        return _upsert(self.pack)

    def _describe(self) -> Description:
        pack = self.pack
        shown = mask_paths(pack.config, pack.secret_paths)
        settings = [
            f"{policy}: {json.dumps(shown[policy], sort_keys=True, ensure_ascii=False)}"
            for policy in sorted(shown)
            if policy != "all"
        ]
        if pack.environments:
            settings.append("environments: " + ", ".join(pack.environments))
        return Description("+", f"pack {_pack_label(pack)}", tuple(settings))


@dataclass(frozen=True, slots=True)
class _PackSettingsChange(ChangeKind):
    """A pack the group already has, with new settings."""

    before: AppliedPack
    after: AppliedPack
    origin: str | None = field(default=None, compare=False)
    about = "pack"
    many = True
    may_unprotect = True

    @property
    def config_changes(self) -> tuple[str, ...]:
        """What changed, line by line (described once: DeepDiff is not cheap)."""
        return self.description.details

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

    def batch_update(self) -> BatchUpdate:
        return _upsert(self.after)

    def _versions(self) -> dict[str, str]:
        return {"versionTag": self.after.version_tag}

    def _describe(self) -> Description:
        return Description(
            "~",
            f"pack {self.after.name} {self._label()}",
            describe_pack_change(self.before, self.after),
        )

    def _label(self) -> str:
        return f"{self.after.version_tag} settings"


@dataclass(frozen=True, slots=True)
class UpgradePack(_PackSettingsChange):
    """A new versionTag of a pack the group already has (with its settings)."""

    kind = "upgradePolicyPack"
    order = 4

    def _versions(self) -> dict[str, str]:
        return {"from": self.before.version_tag, "to": self.after.version_tag}

    def _label(self) -> str:
        return f"{self.before.version_tag} → {self.after.version_tag}"


@dataclass(frozen=True, slots=True)
class ConfigurePack(_PackSettingsChange):
    """Same versionTag, different config or environments."""

    kind = "configurePolicyPack"
    order = 5


@dataclass(frozen=True, slots=True)
class _StackChange(ChangeKind):
    stack: StackRef
    about = "stack"
    many = True

    @property
    def subject(self) -> str:
        return str(self.stack)

    def to_json(self) -> dict[str, Any]:
        return self.stack.to_api()


@dataclass(frozen=True, slots=True)
class RemoveStack(_StackChange):
    kind = "removeStack"
    order = 6
    destructive = True
    may_unprotect = True

    def batch_update(self) -> BatchUpdate:
        return BatchUpdate({"removeStack": self.stack.to_api()})

    def _describe(self) -> Description:
        return Description("-", f"stack {self.stack}")


@dataclass(frozen=True, slots=True)
class AddStack(_StackChange):
    kind = "addStack"
    order = 7

    def batch_update(self) -> BatchUpdate:
        return BatchUpdate({"addStack": self.stack.to_api()})

    def _describe(self) -> Description:
        return Description("+", f"stack {self.stack}")


@dataclass(frozen=True, slots=True)
class _AccountChange(ChangeKind):
    """An Insights account, sent by name (`{name}`, the API's account reference)."""

    name: str
    about = "account"
    many = True

    @property
    def subject(self) -> str:
        return self.name

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name}


@dataclass(frozen=True, slots=True)
class RemoveAccount(_AccountChange):
    kind = "removeAccount"
    order = 8
    destructive = True
    may_unprotect = True

    def batch_update(self) -> BatchUpdate:
        return BatchUpdate({"removeInsightsAccount": {"name": self.name}})

    def _describe(self) -> Description:
        return Description("-", f"account {self.name}")


@dataclass(frozen=True, slots=True)
class AddAccount(_AccountChange):
    kind = "addAccount"
    order = 9

    def batch_update(self) -> BatchUpdate:
        return BatchUpdate({"addInsightsAccount": {"name": self.name}})

    def _describe(self) -> Description:
        return Description("+", f"account {self.name}")


def _rule_json(rule: MatchRule) -> dict[str, Any]:
    readable = readable_rules(rule.expression, rule.entity)
    shown: dict[str, Any] = {"description": describe(rule.expression, rule.entity)}
    shown["rules" if readable is not None else "expression"] = (
        readable if readable is not None else rule.expression
    )
    return shown


def _rule_line(rule: MatchRule) -> str:
    return f"{rule.entity} match rule: {describe(rule.expression, rule.entity)}"


def _members(rule: MatchRule) -> str:
    return "stacks" if rule.entity == "stack" else "accounts"


@dataclass(frozen=True, slots=True)
class _SetRule(ChangeKind):
    """A new or different match rule; `preview` counts what `after` matches, `previous` what
    `before` matched (None: not known)."""

    before: MatchRule | None
    after: MatchRule
    preview: RulePreview | None = field(default=None, compare=False)
    previous: RulePreview | None = field(default=None, compare=False)
    may_unprotect = True

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

    def _describe(self) -> Description:
        before, after = self.before, self.after
        details = [f"was: {describe(before.expression, before.entity)}"] if before else []
        details.append(self._counts())
        return Description("~" if before else "+", _rule_line(after), tuple(details))

    def _counts(self) -> str:
        """`matches 12 of 203 stacks (was 4)`: the preview endpoint's counts, before and after."""
        preview, after = self.preview, self.after
        now = (
            f"matches {preview.matched} of {counted(preview.total, after.entity)}"
            if preview is not None
            else f"matches an unknown number of {_members(after)} (no preview)"
        )
        if self.before is None:
            return f"{now} (was none: no rule)"
        return f"{now} (was {self.previous.matched})" if self.previous is not None else now


@dataclass(frozen=True, slots=True)
class SetStackRule(_SetRule):
    kind = "setStackMatchRule"
    order = 10
    about = "stack rule"

    def batch_update(self) -> BatchUpdate:
        return BatchUpdate({"stackMatchRule": self.after.expression})


@dataclass(frozen=True, slots=True)
class _RemoveRule(ChangeKind):
    """The live rule goes: members it brought in leave unless listed; `previous` counts them
    (the JSON plan's `preview`: what the removed rule matches now)."""

    before: MatchRule
    previous: RulePreview | None = field(default=None, compare=False)
    destructive = True
    may_unprotect = True

    @property
    def subject(self) -> str:
        return describe(self.before.expression, self.before.entity)

    def to_json(self) -> dict[str, Any]:
        shown = {"from": _rule_json(self.before)}
        if self.previous is not None:
            shown["preview"] = self.previous.to_json()
        return shown

    def _describe(self) -> Description:
        before, previous = self.before, self.previous
        one = previous is not None and previous.matched == 1
        matched = (
            counted(previous.matched, before.entity)
            if previous is not None
            else f"the {_members(before)}"
        )
        return Description(
            "-",
            _rule_line(before),
            (f"{matched} it matches {'stays' if one else 'stay'} only if listed",),
        )


@dataclass(frozen=True, slots=True)
class RemoveStackRule(_RemoveRule):
    kind = "removeStackMatchRule"
    order = 11
    about = "stack rule"

    def batch_update(self) -> BatchUpdate:
        return BatchUpdate({"removeStackMatchRule": True})


@dataclass(frozen=True, slots=True)
class SetAccountRule(_SetRule):
    kind = "setAccountMatchRule"
    order = 12
    about = "account rule"

    def batch_update(self) -> BatchUpdate:
        return BatchUpdate({"accountMatchRule": self.after.expression})


@dataclass(frozen=True, slots=True)
class RemoveAccountRule(_RemoveRule):
    kind = "removeAccountMatchRule"
    order = 13
    about = "account rule"

    def batch_update(self) -> BatchUpdate:
        return BatchUpdate({"removeAccountMatchRule": True})


@dataclass(frozen=True, slots=True)
class SetAgentPool(ChangeKind):
    before: str
    after: str
    kind = "setAgentPool"
    order = 14
    about = "agent pool"
    counted = False

    @property
    def subject(self) -> str:
        return self.after

    def to_json(self) -> dict[str, Any]:
        return {"from": self.before, "to": self.after}

    def batch_update(self) -> BatchUpdate:
        return BatchUpdate({"agentPoolId": self.after})

    def _describe(self) -> Description:
        return Description("~", f"agentPoolId {json.dumps(self.before)} → {json.dumps(self.after)}")


Change = (
    Rename
    | Reshape
    | RemovePack
    | AddPack
    | UpgradePack
    | ConfigurePack
    | RemoveStack
    | AddStack
    | RemoveAccount
    | AddAccount
    | SetStackRule
    | RemoveStackRule
    | SetAccountRule
    | RemoveAccountRule
    | SetAgentPool
)


def origin_of(change: ChangeKind) -> str | None:
    """The pack set or template a change comes from (origin_label); None: the group's own
    entry, or a change no entry asks for (a removed pack: the file cannot say which set it
    left)."""
    return change.origin if isinstance(change, AddPack | _PackSettingsChange) else None


def change_order(change: ChangeKind) -> tuple[int, Any]:
    """The total order of changes: by kind (its `order`), then by subject.

    Stacks order as (project, stack) pairs, everything else by name.
    """
    key = change.stack if isinstance(change, _StackChange) else change.subject
    return (change.order, key)
