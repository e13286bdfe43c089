"""The coverage report's content (contract §6.3): every stack's enforcement, live and as the
files would make it, the stacks that only the default group or nothing at all protects, and
each group as it reaches stacks.

Built from the effective views of core.impact; the renderers only lay it out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from pgsync.core.impact import (
    EffectiveView,
    Enforcement,
    Holder,
    PackEnforcement,
    enforced_packs,
    impact,
    live_holders,
    live_view,
    planned_holders,
    planned_view,
    renamed_groups,
)
from pgsync.core.matchrule import describe
from pgsync.core.model import Coverage, LiveState, MatchRule, Mode, StackRef
from pgsync.core.plan import GroupPlan, Plan

Side = Literal["live", "desired"]
SIDES: tuple[Side, ...] = ("live", "desired")


def enforces(pack: PackEnforcement) -> bool:
    """Whether a pack checks anything: a level other than disabled, for all or some policy."""
    return pack.level != "disabled" or any(level != "disabled" for _, level in pack.policies)


def default_only(enforcement: Enforcement) -> bool:
    """In no preventative group of its own: only the default group's packs reach it."""
    return enforcement.via_default


def unprotected(enforcement: Enforcement) -> bool:
    """No preventative policy reaches it: no pack, or only disabled ones."""
    return not any(enforces(p) for p in enforcement.packs)


@dataclass(frozen=True, slots=True)
class StackRow:
    """One stack's enforcement as it is live and as the files would make it."""

    stack: StackRef
    live: Enforcement
    desired: Enforcement
    changed: bool
    """Whether the plan affects the stack, as the plan's impact says (impact.impact)."""

    def side(self, side: Side) -> Enforcement:
        return self.live if side == "live" else self.desired


@dataclass(frozen=True, slots=True)
class Counts:
    """How many stacks are in each coverage class, on one side."""

    stacks: int
    preventative: int
    """In a preventative group of their own."""
    default_only: int
    unprotected: int
    audited: int
    mandatory: int
    """Reached by at least one pack at mandatory."""

    @classmethod
    def of(cls, enforcements: Iterable[Enforcement]) -> Counts:
        seen = list(enforcements)
        return cls(
            stacks=len(seen),
            preventative=sum(1 for e in seen if e.preventative),
            default_only=sum(1 for e in seen if default_only(e)),
            unprotected=sum(1 for e in seen if unprotected(e)),
            audited=sum(1 for e in seen if e.audited_by),
            mandatory=sum(1 for e in seen if e.mandatory),
        )

    def to_json(self) -> dict[str, int]:
        return {
            "stacks": self.stacks,
            "preventative": self.preventative,
            "defaultOnly": self.default_only,
            "noPreventative": self.unprotected,
            "audited": self.audited,
            "mandatory": self.mandatory,
        }


@dataclass(frozen=True, slots=True)
class GroupSide:
    """A group live or after the plan."""

    stacks: int
    """The stacks it enforces on (audit groups: audits)."""
    accounts: int
    """The accounts it holds, explicitly or by rule."""
    packs: tuple[PackEnforcement, ...]
    """Its own packs with their levels, whatever other groups carry."""
    stack_rule: str | None = None
    """Its stack match rule, described ("env = prod")."""


@dataclass(frozen=True, slots=True)
class GroupCard:
    """A group live and after the plan (None: it does not exist then)."""

    name: str
    mode: Mode
    is_default: bool
    action: str
    """The plan's action for it (`unmanaged` for a group no file declares)."""
    live_name: str | None
    live: GroupSide | None
    desired: GroupSide | None

    @property
    def renamed(self) -> bool:
        return self.live_name is not None and self.live_name != self.name

    def side(self, side: Side) -> GroupSide | None:
        return self.live if side == "live" else self.desired


@dataclass(frozen=True, slots=True)
class CoverageReport:
    """The whole report; stacks and groups sorted by name."""

    organization: str
    stacks: tuple[StackRow, ...]
    packs: tuple[str, ...]
    """Every pack that reaches some stack on either side: the matrix's columns."""
    groups: tuple[GroupCard, ...]
    metadata: Coverage | None
    """The service's own coverage counts (live), when read."""

    def counts(self, side: Side) -> Counts:
        return Counts.of(row.side(side) for row in self.stacks)

    @property
    def changed(self) -> tuple[StackRow, ...]:
        return tuple(row for row in self.stacks if row.changed)

    def default_only(self) -> tuple[StackRow, ...]:
        """The stacks that only the default group protects, live or after the plan."""
        return tuple(r for r in self.stacks if default_only(r.live) or default_only(r.desired))

    def unprotected(self) -> tuple[StackRow, ...]:
        """The stacks that no preventative policy reaches, live or after the plan."""
        return tuple(r for r in self.stacks if unprotected(r.live) or unprotected(r.desired))

    def versions(self) -> dict[str, frozenset[str]]:
        """The versions of each pack that reach stacks, on either side."""
        found: dict[str, set[str]] = {name: set() for name in self.packs}
        for row in self.stacks:
            for side in SIDES:
                for pack in row.side(side).packs:
                    found[pack.name].add(pack.version_tag)
        return {name: frozenset(tags) for name, tags in found.items()}


def coverage_report(
    plan: Plan,
    live: LiveState,
    rule_matches: Mapping[str, frozenset[StackRef]] | None = None,
    stacks: Iterable[StackRef] = (),
) -> CoverageReport:
    """The report of `live` (every group read) and of it once `plan` is applied.

    `rule_matches`: what each new or changed stack rule will match, by group name (see
    impact.planned_view); a rule missing from it counts as matching nothing. `stacks`: every
    stack of the org, so that those in no group (the default group's alone) are shown too.
    """
    every = frozenset(stacks)
    before = live_view(live, every)
    after = planned_view(plan, live, every, rule_matches=rule_matches)
    affected = {s.stack for s in impact(before, after, renamed_groups(plan.groups)).stacks}
    rows = _rows(before, after, affected)
    packs = sorted({p.name for row in rows for side in SIDES for p in row.side(side).packs})
    return CoverageReport(
        organization=plan.organization,
        stacks=rows,
        packs=tuple(packs),
        groups=_cards(plan, live, rows, rule_matches),
        metadata=live.coverage,
    )


def _rows(
    before: EffectiveView, after: EffectiveView, affected: Collection[StackRef]
) -> tuple[StackRow, ...]:
    known = {stack for stack, _ in before} | {stack for stack, _ in after}
    return tuple(StackRow(s, before.of(s), after.of(s), s in affected) for s in sorted(known))


def _reach(rows: Iterable[StackRow], side: Side) -> dict[str, int]:
    """How many stacks each group enforces on (or audits), on one side."""
    found: dict[str, int] = {}
    for row in rows:
        enforcement = row.side(side)
        for name in (*enforcement.groups, *enforcement.audited_by):
            found[name] = found.get(name, 0) + 1
    return found


def _cards(
    plan: Plan,
    live: LiveState,
    rows: tuple[StackRow, ...],
    rule_matches: Mapping[str, frozenset[StackRef]] | None,
) -> tuple[GroupCard, ...]:
    had = _sides(live_holders(live), _reach(rows, "live"), live)
    will = _sides(planned_holders(plan, live, rule_matches), _reach(rows, "desired"), live)
    cards = []
    for group in plan.groups:
        existing = live.groups.get(group.live_name) if group.live_name is not None else None
        before = had.get(existing.name) if existing is not None else None
        after = will.get(group.name) if group.action != "delete" else None
        old_rule = existing.stack_rule if existing is not None else None
        cards.append(
            GroupCard(
                name=group.name,
                mode=group.mode or (existing.mode if existing is not None else "preventative"),
                is_default=existing is not None and existing.is_default,
                action=group.action,
                live_name=group.live_name,
                live=_with_rule(before, old_rule),
                desired=_with_rule(after, _planned_rule(group, old_rule)),
            )
        )
    return tuple(sorted(cards, key=lambda card: card.name))


def _planned_rule(group: GroupPlan, live_rule: MatchRule | None) -> MatchRule | None:
    """The stack rule a group has once the plan is applied."""
    desired = group.desired
    if not group.is_change or desired is None or desired.stack_match is None:
        return live_rule
    return desired.stack_match.rule


def _with_rule(side: GroupSide | None, rule: MatchRule | None) -> GroupSide | None:
    if side is None or rule is None:
        return side
    return dataclasses.replace(side, stack_rule=describe(rule.expression, rule.entity))


def _sides(
    holders: Iterable[Holder], reach: Mapping[str, int], live: LiveState
) -> dict[str, GroupSide]:
    """Each group on one side, by name."""
    return {
        h.name: GroupSide(
            stacks=reach.get(h.name, 0),
            accounts=len(h.accounts),
            packs=enforced_packs([h], live.catalog),
        )
        for h in holders
    }
