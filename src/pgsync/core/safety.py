"""Safety rules: score a plan by what it does to enforcement, and block what needs a review.

Each finding has a stable id (the same change gives the same id in every run), so that a
reviewer can acknowledge exactly that change with `--allow ID` or an `allow:` entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pgsync.core.model import (
    AppliedPack,
    LiveGroup,
    LiveState,
    PackRef,
    SafetySettings,
)
from pgsync.core.plan import Finding, GroupPlan
from pgsync.core.replace import is_temporary
from pgsync.core.wording import counted

Member = str
"""`stack project/name` or `account name`: stacks and accounts in one namespace."""


@dataclass(slots=True)
class _Group:
    members: frozenset[Member] = frozenset()
    """Every member, explicit or brought in by a rule."""
    mandatory: frozenset[str] = frozenset()
    default: bool = False
    by_rule: frozenset[Member] = frozenset()
    """The members that the group's rules bring in (what they match)."""


@dataclass(slots=True)
class _World:
    """Every known group's members and mandatory packs, keyed by live name."""

    groups: dict[str, _Group] = field(default_factory=dict)

    def protected(self) -> set[tuple[Member, str]]:
        return {(m, p) for g in self.groups.values() for m in g.members for p in g.mandatory}

    def grouped(self) -> set[Member]:
        return {m for g in self.groups.values() if not g.default for m in g.members}


def evaluate(
    groups: Sequence[GroupPlan],
    live: LiveState,
    settings: SafetySettings,
    allowed: Iterable[str] = (),
) -> tuple[Finding, ...]:
    """Every finding of every rule on a plan's groups, sorted; those not in `allowed` and
    over a limit block."""
    allow = frozenset(allowed)
    changed = [g for g in groups if g.is_change]
    findings = [
        *_deletes(groups, changed, settings),
        *_default_groups(changed),
        *_replaces(changed),
        *_enforcement_losses(changed, live, settings),
    ]
    acknowledged = [(f, f.blocked and f.id in allow) for f in findings]
    return tuple(
        sorted(Finding(f.id, f.rule, f.reason, f.blocked and not ok, ok) for f, ok in acknowledged)
    )


def could_unprotect(groups: Iterable[GroupPlan]) -> bool:
    """Whether any change could take a mandatory pack or a group away from a stack."""
    return any(
        g.action in ("delete", "replace") or any(c.may_unprotect for c in g.changes)
        for g in groups
        if g.is_change
    )


def _is_own(group: GroupPlan) -> bool:
    """A temporary group of an interrupted replace: pgsync's own, never gated."""
    return is_temporary(group.name)


def _deletes(
    groups: Sequence[GroupPlan], changed: Sequence[GroupPlan], settings: SafetySettings
) -> list[Finding]:
    deletes = [g for g in changed if g.action == "delete" and not _is_own(g)]
    managed = [g for g in groups if g.action != "unmanaged" and not _is_own(g)]
    if not deletes:
        return []
    share = 100.0 * len(deletes) / max(1, len(managed))
    over = share > settings.max_delete_percent
    reason = (
        f"{len(deletes)} of {len(managed)} managed groups ({share:.0f}%) would be deleted; "
        f"the limit is {settings.max_delete_percent:g}%"
    )
    return [Finding(f"delete:{g.name}", "max-deletes", reason, over) for g in deletes]


def _default_groups(changed: Sequence[GroupPlan]) -> list[Finding]:
    return [
        Finding(
            f"default-group:{g.name}",
            "default-group",
            f"a change to '{g.name}' reaches every stack or account that is in no other group",
        )
        for g in changed
        if g.live is not None and g.live.is_default
    ]


def _replaces(changed: Sequence[GroupPlan]) -> list[Finding]:
    findings = []
    for group in changed:
        if group.action != "replace" or group.live is None:
            continue
        reason = (
            f"'{group.name}' is replaced ({group.live.entity_type}/{group.live.mode} → "
            f"{group.entity_type}/{group.mode})"
        )
        if group.live.mode == "preventative" and group.mode == "audit":
            reason += ": violations will no longer block deployments"
        findings.append(Finding(f"replace:{group.name}", "replace", reason))
    return findings


def _enforcement_losses(
    changed: Sequence[GroupPlan], live: LiveState, settings: SafetySettings
) -> list[Finding]:
    """Stacks and accounts that lose a mandatory pack, or leave every non-default group."""
    before = _World({name: _from_live(g) for name, g in live.groups.items()})
    after = _World(dict(before.groups))
    for group in changed:
        if group.live_name is not None:
            after.groups.pop(group.live_name, None)
        if group.action != "delete":
            after.groups[group.name] = _after(group, before.groups.get(group.live_name or ""))
    lost = before.protected() - after.protected()
    ungrouped = before.grouped() - after.grouped()
    losses: dict[str, tuple[str, set[Member]]] = {}
    for group in changed:
        old = before.groups.get(group.live_name or "")
        if old is None or _is_own(group):
            continue
        new = after.groups.get(group.name, _Group())
        for member in old.members:
            for pack in old.mandatory:
                if (member, pack) in lost and (
                    member not in new.members or pack not in new.mandatory
                ):
                    key = f"mandatory-loss:{group.name}:{pack}"
                    losses.setdefault(key, (pack, set()))[1].add(member)
            if member in ungrouped and member not in new.members and not old.default:
                losses.setdefault(f"unprotected:{group.name}", ("", set()))[1].add(member)
    total = len({m for _, members in losses.values() for m in members})
    over = total > settings.max_unprotected
    findings = []
    for key, (pack, members) in sorted(losses.items()):
        sample = ", ".join(m.split(" ", 1)[1] for m in sorted(members)[:3])
        more = f" and {len(members) - 3} more" if len(members) > 3 else ""
        who = _counted_members(members)
        one = len(members) == 1
        if pack:
            reason = f"{who} {'loses' if one else 'lose'} mandatory '{pack}' ({sample}{more})"
            rule = "mandatory-loss"
        else:
            verb = "leaves" if one else "leave"
            reason = f"{who} {verb} every non-default group ({sample}{more})"
            rule = "leave-groups"
        findings.append(Finding(key, rule, reason, over))
    return findings


def _counted_members(members: set[str]) -> str:
    """`2 stacks and 1 account`: members are "stack NAME" or "account NAME"."""
    stacks = sum(1 for m in members if m.startswith("stack "))
    counts = ((stacks, "stack"), (len(members) - stacks, "account"))
    return " and ".join(counted(n, noun) for n, noun in counts if n)


def _mandatory(packs: Iterable[AppliedPack | PackRef]) -> frozenset[str]:
    found = set()
    for pack in packs:
        if _level(pack.config_json) == "mandatory":
            found.add(pack.name)
    return frozenset(found)


def _level(config_json: str) -> str | None:
    config = json.loads(config_json)
    entry = config.get("all") if isinstance(config, Mapping) else None
    return entry.get("enforcementLevel") if isinstance(entry, Mapping) else None


def _from_live(group: LiveGroup) -> _Group:
    by_rule = {f"stack {s}" for s in group.rule_stacks} | {
        f"account {a}" for a in group.rule_accounts
    }
    members = {f"stack {s}" for s in group.stacks} | {f"account {a}" for a in group.accounts}
    return _Group(
        frozenset(members | by_rule), _mandatory(group.packs), group.is_default, frozenset(by_rule)
    )


def _after(group: GroupPlan, old: _Group | None) -> _Group:
    """What a changed group holds after apply: its desired lists, or what it had.

    Members by a rule stay while the rule does; a new rule's matches are not known here,
    so they count as none (the rules err towards blocking).
    """
    desired = group.desired
    assert desired is not None
    old = old or _Group()
    live = group.live
    members = set()
    for kind, listed, setting, rule in (
        ("stack", desired.stacks, desired.stack_match, live.stack_rule if live else None),
        ("account", desired.accounts, desired.account_match, live.account_rule if live else None),
    ):
        prefix = f"{kind} "
        if listed is not None:
            members |= {f"{prefix}{m}" for m in listed}
        if listed is None or f"{kind}s" in desired.additive:
            members |= {m for m in old.members - old.by_rule if m.startswith(prefix)}
        if setting is None or setting.rule == rule:
            members |= {m for m in old.by_rule if m.startswith(prefix)}
    mandatory = old.mandatory
    if desired.packs is not None:
        listed_packs = {p.name for p in desired.packs}
        kept = old.mandatory - listed_packs if "policyPacks" in desired.additive else frozenset()
        mandatory = _mandatory(desired.packs) | kept
    return _Group(frozenset(members), mandatory, old.default)
