"""Safety rules: score a plan by what it does to enforcement, and block what needs a review.

Each finding has a stable id (the same change gives the same id in every run), so that a
reviewer can acknowledge exactly that change with `--allow ID` or an `allow:` entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from pgsync.core.changes import AddPack, AddStack, Change
from pgsync.core.impact import (
    Enforcement,
    Holder,
    PlanEffect,
    StackImpact,
    config_level,
    plan_effect,
)
from pgsync.core.model import LiveGroup, LiveState, SafetySettings
from pgsync.core.plan import Finding, GroupPlan
from pgsync.core.replace import is_temporary
from pgsync.core.wording import counted

Member = str
"""`stack project/name` or `account name`: stacks and accounts in one namespace."""


def evaluate(
    groups: Sequence[GroupPlan],
    live: LiveState,
    settings: SafetySettings,
    allowed: Iterable[str] = (),
    effect: PlanEffect | None = None,
) -> tuple[Finding, ...]:
    """Every finding of every rule on a plan's groups, sorted; those not in `allowed` and
    over a limit block.

    `effect` is what the groups do to `live`'s enforcement (impact.plan_effect, worked out
    here unless given): the rules judge each stack by what reaches it through all its
    groups, not by one group's packs."""
    allow = frozenset(allowed)
    changed = [g for g in groups if g.is_change]
    findings = [
        *_deletes(groups, changed, settings),
        *_default_groups(changed),
        *_replaces(changed),
        *_enforcement_losses(changed, effect or plan_effect(groups, live), settings),
    ]
    acknowledged = [(f, f.blocked and f.id in allow) for f in findings]
    return tuple(
        sorted(Finding(f.id, f.rule, f.reason, f.blocked and not ok, ok) for f, ok in acknowledged)
    )


def could_unprotect(groups: Iterable[GroupPlan], live: LiveState | None = None) -> bool:
    """Whether any change could take a mandatory pack or a group away from a stack.

    With `live`: also a stack joining a preventative group while the default group read
    enforces a mandatory pack (the default group's packs reach only stacks in no other
    preventative group)."""
    changed = [g for g in groups if g.is_change]
    if any(
        g.action in ("delete", "replace") or any(_may_unprotect(g, c) for c in g.changes)
        for g in changed
    ):
        return True
    return (
        live is not None
        and any(_adds_stacks(g) for g in changed)
        and any(_default_mandatory(g) for g in live.groups.values())
    )


def _adds_stacks(group: GroupPlan) -> bool:
    return group.mode == "preventative" and any(isinstance(c, AddStack) for c in group.changes)


def _default_mandatory(group: LiveGroup) -> bool:
    return (
        group.is_default
        and group.mode == "preventative"
        and any(config_level(p.config_json) == "mandatory" for p in group.packs)
    )


def _may_unprotect(group: GroupPlan, change: Change) -> bool:
    # A pack added to a preventative group below mandatory may be newer than the version
    # another group enforces at mandatory on the same stack: the newest version wins.
    if isinstance(change, AddPack):
        mandatory = config_level(change.pack.config_json) == "mandatory"
        return group.mode == "preventative" and not mandatory
    return change.may_unprotect


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
    changed: Sequence[GroupPlan], effect: PlanEffect, settings: SafetySettings
) -> list[Finding]:
    """Stacks that lose a mandatory pack, and stacks and accounts that leave every
    non-default group, each under the changed groups that cause it."""
    mine = [g for g in changed if not _is_own(g)]
    by_live = {g.live_name: g for g in mine if g.live_name is not None}
    by_name = {g.name: g for g in mine if g.action != "delete"}
    defaults = {
        n for holders in (effect.before, effect.after) for n, h in holders.items() if h.is_default
    }
    losses: dict[str, tuple[str, set[Member]]] = {}
    for stack in effect.impact.stacks:
        member = f"stack {stack.stack}"
        for pack in stack.loses_mandatory:
            for group in _mandatory_causes(stack, pack, effect, by_live, by_name):
                if _demoted(group):
                    continue  # the replace finding says it: violations will no longer block
                losses.setdefault(f"mandatory-loss:{group.name}:{pack}", (pack, set()))[1].add(
                    member
                )
        if _grouped(stack.before, defaults) and not _grouped(stack.after, defaults):
            for group in _stack_left(stack, effect, by_live):
                losses.setdefault(f"unprotected:{group.name}", ("", set()))[1].add(member)
    for account, group in _accounts_left(effect, by_live):
        losses.setdefault(f"unprotected:{group.name}", ("", set()))[1].add(f"account {account}")
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


def _mandatory_causes(
    stack: StackImpact,
    pack: str,
    effect: PlanEffect,
    by_live: Mapping[str, GroupPlan],
    by_name: Mapping[str, GroupPlan],
) -> list[GroupPlan]:
    """The changed groups through which `stack` loses mandatory `pack`: those whose own
    `pack` reaching the stack changes (removed, downgraded, outranked by a newer version),
    else those it joins, whose packs replace the default group's."""
    candidates = [by_live[n] for n in stack.before.groups if n in by_live]
    candidates += [by_name[n] for n in stack.after.groups if n in by_name]
    unique = list({id(g): g for g in candidates}.values())
    changed = [
        g
        for g in unique
        if _carried(stack.before, effect.before, g.live_name, pack)
        != _carried(stack.after, effect.after, g.name, pack)
    ]
    if changed:
        return changed
    return [
        g for g in unique if g.name in stack.after.groups and g.live_name not in stack.before.groups
    ]


def _demoted(group: GroupPlan) -> bool:
    """Replaced by an audit group, which enforces nothing."""
    return (
        group.action == "replace"
        and group.mode == "audit"
        and (group.live is not None and group.live.mode == "preventative")
    )


def _carried(
    enforcement: Enforcement, holders: Mapping[str, Holder], name: str | None, pack: str
) -> tuple[str, str] | None:
    """The version and config of `pack` that group `name` brings to a stack, if any."""
    if name is None or name not in enforcement.groups:
        return None
    found = holders[name].pack(pack)
    return (found.version_tag, found.config_json) if found is not None else None


def _grouped(enforcement: Enforcement, defaults: set[str]) -> bool:
    """In some group that is not a default one (preventative or audit)."""
    return any(g not in defaults for g in (*enforcement.groups, *enforcement.audited_by))


def _stack_left(
    stack: StackImpact, effect: PlanEffect, by_live: Mapping[str, GroupPlan]
) -> Iterator[GroupPlan]:
    """The changed non-default groups that hold `stack` live and will not after apply."""
    for name in sorted({*stack.before.groups, *stack.before.audited_by}):
        group = by_live.get(name)
        held = effect.before[name]
        if group is None or held.is_default or stack.stack not in held.stacks:
            continue
        after = effect.after.get(group.name) if group.action != "delete" else None
        if after is None or stack.stack not in after.stacks:
            yield group


def _accounts_left(
    effect: PlanEffect, by_live: Mapping[str, GroupPlan]
) -> Iterator[tuple[str, GroupPlan]]:
    """Accounts that a changed group lets go and no non-default group holds after apply."""
    grouped: set[str] | None = None
    for name, group in sorted(by_live.items()):
        held = effect.before[name]
        if held.is_default or not held.accounts:
            continue
        after = effect.after.get(group.name) if group.action != "delete" else None
        gone = held.accounts - (after.accounts if after is not None else frozenset())
        if gone and grouped is None:
            grouped = set().union(*(h.accounts for h in effect.after.values() if not h.is_default))
        for account in sorted(gone - (grouped or set())):
            yield account, group


def _counted_members(members: set[str]) -> str:
    """`2 stacks and 1 account`: members are "stack NAME" or "account NAME"."""
    stacks = sum(1 for m in members if m.startswith("stack "))
    counts = ((stacks, "stack"), (len(members) - stacks, "account"))
    return " and ".join(counted(n, noun) for n, noun in counts if n)
