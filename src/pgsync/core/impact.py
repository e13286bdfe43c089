"""Effective enforcement: which packs, at which versions and levels, reach each stack (§6.3).

A stack is enforced by the packs of every preventative group that holds it (explicitly or
by a rule), or by the org's default preventative group when no other one does. A pack in
several of those groups is enforced at its newest version; where the groups that carry
that version give a policy different levels, the strictest counts. Audit groups enforce
nothing and are reported apart ("audited by").
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pgsync.core.model import (
    AppliedPack,
    DesiredGroup,
    LiveGroup,
    LiveState,
    ManagedList,
    Mode,
    OrgCatalog,
    StackRef,
)

if TYPE_CHECKING:
    # Only for annotations: the plan holds an Impact, so plan.py imports this module.
    from pgsync.core.plan import GroupPlan, Plan

STRICTNESS = ("disabled", "advisory", "remediate", "mandatory")
"""Enforcement levels from least to most strict (contract §6.3)."""
Level = str | None
"""An enforcement level; None: the config sets none, so the policy's own default applies."""


def strictest(levels: Iterable[Level]) -> Level:
    """The strictest of several groups' levels for one policy.

    An unset level is the policy's own default, which is not known offline: it may be
    anything, so the result is known only when some group says mandatory, or none is unset.
    """
    found = set(levels)
    if "mandatory" in found:
        return "mandatory"
    if None in found or not found or not found <= set(STRICTNESS):
        return None
    return max(found, key=STRICTNESS.index)


@dataclass(frozen=True, slots=True)
class PackEnforcement:
    """One pack as it reaches a stack: the winning version and its combined levels."""

    name: str
    version_tag: str
    version: int
    level: Level
    """The `all` level."""
    policies: tuple[tuple[str, Level], ...] = ()
    """Per-policy levels that some config sets, by policy name."""
    groups: tuple[str, ...] = ()
    """The groups that carry the winning version (their configs are the ones combined)."""

    @property
    def mandatory(self) -> bool:
        return self.level == "mandatory"

    def to_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"versionTag": self.version_tag, "enforcementLevel": self.level}
        if self.policies:
            shown["policies"] = dict(self.policies)
        return shown


@dataclass(frozen=True, slots=True)
class Enforcement:
    """What reaches one stack (the contract's `E`)."""

    packs: tuple[PackEnforcement, ...] = ()
    """By pack name."""
    groups: tuple[str, ...] = ()
    """The preventative groups whose packs apply (the default group when via_default)."""
    via_default: bool = False
    audited_by: tuple[str, ...] = ()

    def pack(self, name: str) -> PackEnforcement | None:
        return next((p for p in self.packs if p.name == name), None)

    @property
    def mandatory(self) -> frozenset[str]:
        """The packs enforced at mandatory (their `all` level)."""
        return frozenset(p.name for p in self.packs if p.mandatory)

    @property
    def preventative(self) -> bool:
        """Held by a preventative group of its own, not only by the default fallback."""
        return bool(self.groups) and not self.via_default

    def to_json(self) -> dict[str, Any]:
        return {
            "packs": {p.name: p.to_json() for p in self.packs},
            "groups": list(self.groups),
            "viaDefault": self.via_default,
            "auditedBy": list(self.audited_by),
        }


NOTHING = Enforcement()


@dataclass(frozen=True, slots=True)
class EffectiveView:
    """Every known stack's enforcement, sorted by stack."""

    stacks: tuple[tuple[StackRef, Enforcement], ...] = ()
    fallback: Enforcement = NOTHING
    """What a stack in no group gets: the default preventative group's packs."""

    def __iter__(self) -> Iterator[tuple[StackRef, Enforcement]]:
        return iter(self.stacks)

    def of(self, stack: StackRef) -> Enforcement:
        """A stack's enforcement; a stack the view does not know is in no group."""
        index = bisect.bisect_left(self.stacks, (stack,))
        if index < len(self.stacks) and self.stacks[index][0] == stack:
            return self.stacks[index][1]
        return self.fallback


@dataclass(frozen=True, slots=True)
class Holder:
    """A group as far as enforcement goes: its mode, every stack it holds and its packs."""

    name: str
    mode: Mode
    is_default: bool
    stacks: frozenset[StackRef]
    packs: tuple[AppliedPack, ...]
    accounts: frozenset[str] = frozenset()
    """Every account it holds (explicitly or by rule): audited, never enforced on."""

    def pack(self, name: str) -> AppliedPack | None:
        return next((p for p in self.packs if p.name == name), None)


def live_view(live: LiveState, stacks: Iterable[StackRef] = ()) -> EffectiveView:
    """The enforcement of live groups: explicit members and the stacks their rules matched.

    Only the groups read count: groups known by name only (`live.unread`) must be read first
    (planning.make_plan's `read_groups`) for the view to be whole."""
    return effective(live_holders(live), live.catalog, _known(live, stacks))


def live_holders(live: LiveState) -> tuple[Holder, ...]:
    """What each live group read holds, as `live_view` counts it."""
    return tuple(_live_holder(g) for g in live.groups.values())


def planned_view(
    plan: Plan,
    live: LiveState,
    stacks: Iterable[StackRef] = (),
    rule_matches: Mapping[str, frozenset[StackRef]] | None = None,
) -> EffectiveView:
    """The enforcement once `plan` is applied to `live`.

    Every stack of `live` stays known. A group keeps the stacks its rule matches while the
    rule stays; what a new or changed rule will match comes from `rule_matches` (by group
    name) or counts as nothing, which errs towards reporting a loss, as the safety rules do.
    """
    holders = planned_holders(plan, live, rule_matches)
    # A stack that the plan takes out of every group still exists, under the default group.
    held = (g.stacks | g.rule_stacks for g in live.groups.values())
    return effective(holders, live.catalog, _known(live, stacks).union(*held))


def planned_holders(
    plan: Plan, live: LiveState, rule_matches: Mapping[str, frozenset[StackRef]] | None = None
) -> tuple[Holder, ...]:
    """What each group will hold once `plan` is applied, as `planned_view` counts it."""
    return tuple(_after_apply(plan.groups, live, rule_matches or {}).values())


def _after_apply(
    groups: Sequence[GroupPlan],
    live: LiveState,
    matches: Mapping[str, frozenset[StackRef]],
    held: Mapping[str, Holder] | None = None,
) -> dict[str, Holder]:
    """Every group once `groups` are applied to `live`, by name; `held` are the live
    groups' holders when already worked out (a quiet group holds after what it holds now)."""
    held = held if held is not None else {n: _live_holder(g) for n, g in live.groups.items()}
    planned = {g.live_name for g in groups if g.is_change and g.live_name is not None}
    holders = {name: h for name, h in held.items() if name not in planned}
    for group in groups:
        if not group.is_change:
            continue
        holder = _planned_holder(group, live.catalog, matches)
        if holder is not None:
            holders[holder.name] = holder
    return holders


def effective(
    holders: Iterable[Holder],
    catalog: OrgCatalog,
    stacks: Iterable[StackRef] = (),
    only: frozenset[StackRef] | None = None,
) -> EffectiveView:
    """Each stack's enforcement from the groups that hold it; `stacks` adds stacks that no
    group but a default one holds (a default group holds every stack). With `only`, just
    those stacks are worked out (the view knows no others)."""
    groups = sorted(holders, key=lambda h: h.name)
    defaults = [h for h in groups if h.is_default and h.mode == "preventative"]
    own: dict[StackRef, list[Holder]] = {
        stack: [] for stack in stacks if only is None or stack in only
    }
    audit: dict[StackRef, list[str]] = {}
    for holder in groups:
        for stack in holder.stacks if only is None else holder.stacks & only:
            own.setdefault(stack, [])
            if holder.mode == "audit":
                audit.setdefault(stack, []).append(holder.name)
            elif not holder.is_default:
                own[stack].append(holder)
    fallback = Enforcement(
        enforced_packs(defaults, catalog), tuple(h.name for h in defaults), bool(defaults)
    )
    # Stacks held by the same groups are enforced alike: work each combination out once.
    combined: dict[tuple[str, ...], Enforcement] = {(): fallback}
    result = []
    for stack in sorted(own):
        applying = own[stack]
        key = tuple(h.name for h in applying)
        enforcement = combined.get(key)
        if enforcement is None:
            enforcement = Enforcement(enforced_packs(applying, catalog), key)
            combined[key] = enforcement
        audited = tuple(audit.get(stack, ()))
        if audited:
            enforcement = dataclasses.replace(enforcement, audited_by=audited)
        result.append((stack, enforcement))
    return EffectiveView(tuple(result), fallback)


def _known(live: LiveState, stacks: Iterable[StackRef]) -> frozenset[StackRef]:
    return frozenset(stacks) | (live.catalog.stacks or frozenset())


def _live_holder(group: LiveGroup) -> Holder:
    # Most groups have no rule: no union to build (large orgs have thousands of groups).
    stacks = group.stacks | group.rule_stacks if group.rule_stacks else group.stacks
    accounts = group.accounts | group.rule_accounts if group.rule_accounts else group.accounts
    return Holder(group.name, group.mode, group.is_default, stacks, group.packs, accounts)


def _planned_holder(
    group: GroupPlan, catalog: OrgCatalog, matches: Mapping[str, frozenset[StackRef]]
) -> Holder | None:
    """What a group holds after apply; None when it will not exist."""
    live = group.live
    if group.action == "delete":
        return None
    if not group.is_change or group.desired is None:
        return _live_holder(live) if live is not None else None
    desired = group.desired
    explicit = _listed(desired.stacks, live.stacks if live else frozenset(), "stacks", desired)
    live_rule = live.stack_rule if live is not None else None
    by_rule = live.rule_stacks if live is not None else frozenset()
    if desired.stack_match is not None and desired.stack_match.rule != live_rule:
        by_rule = matches.get(group.name, frozenset()) if desired.stack_match.rule else frozenset()
    accounts = _listed(
        desired.accounts, live.accounts if live else frozenset(), "accounts", desired
    )
    live_account_rule = live.account_rule if live is not None else None
    by_account_rule = live.rule_accounts if live is not None else frozenset()
    if desired.account_match is not None and desired.account_match.rule != live_account_rule:
        # What a new account rule will match is not known: none, as for stacks.
        by_account_rule = frozenset()
    packs = live.packs if live is not None else ()
    if desired.packs is not None:
        wanted = tuple(
            _resolved(p.name, p.version_tag, p.config_json, catalog) for p in desired.packs
        )
        names = {p.name for p in wanted}
        kept = tuple(p for p in packs if p.name not in names)
        packs = wanted + (kept if "policyPacks" in desired.additive else ())
    mode = group.mode or desired.resolved_mode
    is_default = live.is_default if live is not None else False
    return Holder(
        group.name, mode, is_default, explicit | by_rule, packs, accounts | by_account_rule
    )


def _listed(
    listed: frozenset[Any] | None,
    live: frozenset[Any],
    kind: ManagedList,
    desired: DesiredGroup,
) -> frozenset[Any]:
    """A list's explicit members after apply: as listed (added to live's when additive), or
    live's when the files do not manage it."""
    if listed is None:
        return live
    return listed | live if kind in desired.additive else listed


def _resolved(name: str, tag: str, config_json: str, catalog: OrgCatalog) -> AppliedPack:
    """A desired pack with its version; a tag the org has not published ranks below all."""
    published = catalog.packs.get(name)
    if published is None:
        return AppliedPack(name, tag, 0, name, config_json)
    return AppliedPack(
        name, tag, published.versions.get(tag, 0), published.display_name, config_json
    )


def _version(pack: AppliedPack, catalog: OrgCatalog) -> int:
    """ "Newest" is by the org's pack listing (the service may rewrite a live `version`)."""
    published = catalog.packs.get(pack.name)
    listed = published.versions.get(pack.version_tag) if published is not None else None
    return pack.version if listed is None else listed


def enforced_packs(holders: Iterable[Holder], catalog: OrgCatalog) -> tuple[PackEnforcement, ...]:
    """The packs that these groups together enforce: the newest version of each, at the
    strictest level per policy (one group's own packs with `[holder]`)."""
    carried: dict[str, list[tuple[str, AppliedPack]]] = {}
    for holder in holders:
        for pack in holder.packs:
            carried.setdefault(pack.name, []).append((holder.name, pack))
    result = []
    for name in sorted(carried):
        # Equal versions (only unpublished tags, all 0) are told apart by tag, so that the
        # winner never depends on the order groups were read in.
        ranked = [((_version(p, catalog), p.version_tag), g, p) for g, p in carried[name]]
        newest = max(rank for rank, _, _ in ranked)
        winners = [(g, p) for rank, g, p in ranked if rank == newest]
        result.append(_combined(name, newest, winners))
    return tuple(result)


def _combined(
    name: str, newest: tuple[int, str], winners: list[tuple[str, AppliedPack]]
) -> PackEnforcement:
    configs = [_levels(p.config_json) for _, p in winners]
    policies = sorted({policy for _, per_policy in configs for policy in per_policy})
    return PackEnforcement(
        name=name,
        version_tag=newest[1],
        version=newest[0],
        level=strictest(level for level, _ in configs),
        policies=tuple(
            (policy, strictest(per.get(policy, level) for level, per in configs))
            for policy in policies
        ),
        groups=tuple(sorted({g for g, _ in winners})),
    )


@functools.lru_cache(maxsize=4096)
def _levels(config_json: str) -> tuple[Level, Mapping[str, Level]]:
    """A config's `all` level and its per-policy levels (an entry without one inherits `all`,
    API spec rule 7). Cached: many groups share a config, and each stack combines them."""
    config = json.loads(config_json)
    if not isinstance(config, Mapping):
        return None, {}
    every = _level_of(config.get("all"))
    per_policy = {
        key: _level_of(value) or every
        for key, value in config.items()
        if key != "all" and isinstance(value, Mapping)
    }
    return every, per_policy


def config_level(config_json: str) -> Level:
    """A pack config's `all` level, the one a pack's enforcement is judged by."""
    return _levels(config_json)[0]


def _level_of(entry: Any) -> Level:
    level = entry.get("enforcementLevel") if isinstance(entry, Mapping) else None
    return level if isinstance(level, str) else None


@dataclass(frozen=True, slots=True)
class PackChange:
    """How one pack's enforcement of a stack changes (None: the pack does not reach it)."""

    name: str
    before: PackEnforcement | None
    after: PackEnforcement | None

    @property
    def gained(self) -> bool:
        return self.before is None and self.after is not None

    @property
    def lost(self) -> bool:
        return self.before is not None and self.after is None

    @property
    def version_changed(self) -> bool:
        return bool(self.before and self.after) and _tag(self.before) != _tag(self.after)

    @property
    def level_changed(self) -> bool:
        return bool(self.before and self.after) and _levels_of(self.before) != _levels_of(
            self.after
        )

    @property
    def changed(self) -> bool:
        """Gained, lost, or at another version or other levels (not: through other groups)."""
        return _tag(self.before) != _tag(self.after) or _levels_of(self.before) != _levels_of(
            self.after
        )

    @property
    def loses_mandatory(self) -> bool:
        """Mandatory before, and not after: gone, or at a level that no longer blocks."""
        return bool(self.before and self.before.mandatory) and not (
            self.after and self.after.mandatory
        )

    @property
    def gains_mandatory(self) -> bool:
        return bool(self.after and self.after.mandatory) and not (
            self.before and self.before.mandatory
        )


def _tag(pack: PackEnforcement | None) -> str | None:
    return pack.version_tag if pack is not None else None


def _levels_of(pack: PackEnforcement | None) -> tuple[Level, tuple[tuple[str, Level], ...]]:
    return (pack.level, pack.policies) if pack is not None else (None, ())


@dataclass(frozen=True, slots=True)
class StackImpact:
    """One stack whose enforcement or audit coverage changes."""

    stack: StackRef
    before: Enforcement
    after: Enforcement
    packs: tuple[PackChange, ...]
    """The packs whose version or levels change, by name."""

    @property
    def loses_mandatory(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.packs if c.loses_mandatory)

    @property
    def gains_mandatory(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.packs if c.gains_mandatory)

    @property
    def leaves_preventative(self) -> bool:
        """In a preventative group of its own before, and after in none (default at most)."""
        return self.before.preventative and not self.after.preventative

    @property
    def joins_preventative(self) -> bool:
        return self.after.preventative and not self.before.preventative


@dataclass(frozen=True, slots=True)
class Impact:
    """The stacks whose enforcement or audit coverage differs between two views, by stack."""

    stacks: tuple[StackImpact, ...] = ()
    unknown_rules: tuple[str, ...] = ()
    """Groups whose new stack rule's matches were not known: none of them is counted."""
    groups_not_read: int = 0
    """Groups known by name only when it was worked out: a stack that one of them holds may
    be enforced otherwise than shown (planning.make_plan reads them for changes that could
    take enforcement away)."""

    def summary(self) -> dict[str, int]:
        return {
            "stacksAffected": len(self.stacks),
            "gainMandatory": sum(1 for s in self.stacks if s.gains_mandatory),
            "loseMandatory": sum(1 for s in self.stacks if s.loses_mandatory),
            "leavePreventative": sum(1 for s in self.stacks if s.leaves_preventative),
            "joinPreventative": sum(1 for s in self.stacks if s.joins_preventative),
            "auditChanged": sum(
                1 for s in self.stacks if s.before.audited_by != s.after.audited_by
            ),
        }


def impact(
    before: EffectiveView, after: EffectiveView, renames: Mapping[str, str] | None = None
) -> Impact:
    """Per stack of either view, what changes: its packs' versions and levels, the groups
    they come from, or its audit groups (the contract's E). A stack that only moves between
    groups (the same packs at the same levels through others) is affected with no pack
    changes: a reviewer sees where its enforcement now comes from. A group renamed
    (`renames`, live name to new) is the same group: a rename alone affects no stack."""
    old, new = dict(before.stacks), dict(after.stacks)
    # Stacks held alike share their Enforcement objects: compare each pair once.
    compared: dict[tuple[int, int], tuple[PackChange, ...] | None] = {}
    result = []
    for stack in sorted(old.keys() | new.keys()):
        was, will = old.get(stack, before.fallback), new.get(stack, after.fallback)
        key = (id(was), id(will))
        if key not in compared:
            compared[key] = _pack_changes(was, will, renames or {})
        changes = compared[key]
        if changes is not None:
            result.append(StackImpact(stack, was, will, changes))
    return Impact(tuple(result))


def _pack_changes(
    was: Enforcement, will: Enforcement, renames: Mapping[str, str]
) -> tuple[PackChange, ...] | None:
    """The packs whose version or levels change; None when the stack is not affected."""
    if was == will or _seen(was, renames) == _seen(will, {}):
        return None
    before = {p.name: p for p in was.packs}
    after = {p.name: p for p in will.packs}
    changes = (
        PackChange(n, before.get(n), after.get(n)) for n in sorted(before.keys() | after.keys())
    )
    return tuple(c for c in changes if c.changed)


def renamed_groups(groups: Iterable[GroupPlan]) -> dict[str, str]:
    """The live name of each group the plan renames, to its new name."""
    return {
        g.live_name: g.name
        for g in groups
        if g.is_change and g.live_name is not None and g.live_name != g.name
    }


def sets_new_rule(group: GroupPlan) -> bool:
    """Whether the group will have a stack rule that it does not have live."""
    setting = group.desired.stack_match if group.desired is not None else None
    live_rule = group.live.stack_rule if group.live is not None else None
    return (
        group.action != "delete"
        and setting is not None
        and setting.rule
        not in (
            None,
            live_rule,
        )
    )


def _seen(enforcement: Enforcement, renames: Mapping[str, str]) -> tuple[Any, ...]:
    """What a stack's E shows, group names read through `renames`: which of several groups
    carries a pack's winning version does not change what the stack is enforced by."""

    def names(groups: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(renames.get(g, g) for g in groups)) if renames else groups

    return (
        tuple((p.name, p.version_tag, p.level, p.policies) for p in enforcement.packs),
        names(enforcement.groups),
        enforcement.via_default,
        names(enforcement.audited_by),
    )


@dataclass(frozen=True, slots=True)
class PlanEffect:
    """What a plan's changes do to enforcement: the groups as they hold stacks, accounts
    and packs before and after apply, and the stacks whose enforcement changes."""

    before: Mapping[str, Holder] = field(default_factory=dict)
    """The live groups read, by live name."""
    after: Mapping[str, Holder] = field(default_factory=dict)
    """Every group once the plan is applied, by its name then."""
    impact: Impact = Impact()


def plan_effect(
    groups: Sequence[GroupPlan],
    live: LiveState,
    rule_matches: Mapping[str, frozenset[StackRef]] | None = None,
) -> PlanEffect:
    """The effect of applying `groups` (a plan's) to `live`, as `planned_view` sees it.

    Only the stacks that a changed group holds before or after can change, unless a
    default group changes (it reaches every stack in no other group): only those are
    worked out, so that a small change to a large organization costs little.
    """
    changed = [g for g in groups if g.is_change]
    if not changed:
        return PlanEffect()
    before = {name: _live_holder(g) for name, g in live.groups.items()}
    matches = rule_matches or {}
    after = _after_apply(groups, live, matches, before)
    touched = [before[g.live_name] for g in changed if g.live_name in before]
    touched += [after[g.name] for g in changed if g.action != "delete" and g.name in after]
    only: frozenset[StackRef] | None = frozenset().union(*(h.stacks for h in touched))
    known: frozenset[StackRef] = frozenset()
    if any(h.is_default and h.mode == "preventative" for h in touched):
        only = None
        known = _known(live, ()).union(*(h.stacks for h in before.values()))
    result = impact(
        effective(before.values(), live.catalog, known, only),
        effective(after.values(), live.catalog, known, only),
        renamed_groups(changed),
    )
    unknown = tuple(sorted(g.name for g in changed if sets_new_rule(g) and g.name not in matches))
    if unknown:
        result = dataclasses.replace(result, unknown_rules=unknown)
    return PlanEffect(before, after, result)
