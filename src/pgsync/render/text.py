"""Plan → text for people, JSON for machines (contract §4). Pure: returns strings."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pgsync.core.changes import Change, Description, Rename, change_order, origin_of
from pgsync.core.errors import SafetyBlocked
from pgsync.core.escaping import escape
from pgsync.core.impact import Enforcement, Impact, PackChange, PackEnforcement, StackImpact
from pgsync.core.model import MANAGED_LISTS
from pgsync.core.plan import FORMAT_VERSION, Finding, GroupPlan, Plan
from pgsync.core.wording import counted

Kind = Literal["plan", "drift"]
"""What a rendering is headed: a plan, or drift (the same plan, made by `drift`)."""

SYMBOLS = {"create": "+", "update": "~", "rename": "→", "replace": "±", "delete": "-"}
COLORS = {"+": "32", "~": "33", "→": "36", "±": "35", "-": "31"}
UNMANAGED_SHOWN = 10


def _paint(text: str, symbol: str, color: bool) -> str:
    return f"\x1b[{COLORS[symbol]}m{text}\x1b[0m" if color else text


def render_text(plan: Plan, *, color: bool = False, kind: Kind = "plan") -> str:
    """The plan as a person reads it in a terminal or CI log."""
    lines = [f'pgsync {kind} for organization "{plan.organization}"{files_read(plan)}', ""]
    shared = shared_changes(plan)
    if shared:
        lines.append(f"{SHARED_TITLE}:")
        for item in shared:
            change = _paint(f"{item.sign} {item.text}", item.sign, color)
            lines.append(f"  {item.origin}: {change} {item.reach(str)}")
        lines.append("")
    for group in plan.changed:
        lines += _group_lines(group, color)
    lines += impact_lines(plan)
    lines += safety_lines(plan)
    notes = [f"  ! {g.name}: {note}" for g in plan.groups for note in g.notes]
    if notes:
        lines += ["Notes:", *notes, ""]
    unmanaged = [g.name for g in plan.groups if g.action == "unmanaged"]
    if unmanaged:
        shown = ", ".join(unmanaged[:UNMANAGED_SHOWN])
        if len(unmanaged) > UNMANAGED_SHOWN:
            shown += f", … ({len(unmanaged) - UNMANAGED_SHOWN} more)"
        lines += [f"Unmanaged (live, not declared, left alone): {shown}", ""]
    if plan.coverage is not None:
        lines.append(f"Coverage: {plan.coverage.summary()}.")
    lines.append(summary_line(plan, kind))
    return "\n".join(lines) + "\n"


SHARED_TITLE = "From pack sets and templates (each group's detail follows)"
SHARED_GROUPS_NAMED = 3


@dataclass(frozen=True, slots=True)
class SharedChange:
    """One change that a pack set or template makes in each of `groups` (plan order)."""

    origin: str
    sign: str
    text: str
    groups: tuple[str, ...]

    def reach(self, name: Callable[[str], str]) -> str:
        """`in 14 groups (dev, prod, staging and 11 more)`; names formatted by `name`."""
        named = ", ".join(name(g) for g in self.groups[:SHARED_GROUPS_NAMED])
        hidden = len(self.groups) - SHARED_GROUPS_NAMED
        more = f" and {hidden} more" if hidden > 0 else ""
        return f"in {counted(len(self.groups), 'group')} ({named}{more})"


def shared_changes(plan: Plan) -> tuple[SharedChange, ...]:
    """The changes of existing groups that come from a pack set or template, each told once
    with the groups it reaches: by origin, then in change order.

    Identical means the same line (a version bump from the same tag); the settings it
    changes may differ by group and are in each group's detail. A new group's packs are
    all new and read in its own detail, so only groups that exist live are counted.
    """
    found: dict[tuple[str, tuple[int, Any], str, str], list[str]] = {}
    for group in plan.changed:
        if group.action == "create":
            continue
        for change in group.changes:
            origin = origin_of(change)
            if origin is not None:
                sign, text, _ = change.description
                found.setdefault((origin, change_order(change), sign, text), []).append(group.name)
    return tuple(
        SharedChange(origin, sign, text, tuple(groups))
        for (origin, _, sign, text), groups in sorted(found.items())
    )


def files_read(plan: Plan) -> str:
    """` (3 files read)`, for the heading: whether every file was read shows at a glance."""
    return f" ({counted(len(plan.inputs), 'file')} read)" if plan.inputs else ""


IMPACT_SHOWN = 10
"""Stacks the text plan names; the JSON plan has every one."""
IMPACT_TITLE = "Effect on stacks"
NO_IMPACT = "none: no stack's enforcement or audit coverage changes"


def impact_lines(plan: Plan) -> list[str]:
    """The effect on stacks: counts, then the first stacks, those losing mandatory first.

    Said only of a plan that changes something ("none" when it changes no stack)."""
    found = plan.impact
    if found is None or not plan.has_changes:
        return []
    caveats = [f"  {caveat}" for caveat in impact_caveats(found)]
    if not found.stacks:
        return [f"{IMPACT_TITLE}: {NO_IMPACT}.", *caveats, ""]
    lines = [f"{IMPACT_TITLE}: {impact_counts(found)}.", *caveats]
    ordered = by_concern(found)
    for stack in ordered[:IMPACT_SHOWN]:
        lines.append(
            f"  {effect_sign(stack)} {escape(str(stack.stack))}: {'; '.join(effects(stack))}"
        )
    hidden = len(ordered) - IMPACT_SHOWN
    if hidden > 0:
        lines.append(f"  … and {counted(hidden, 'more stack')} (all in the JSON plan's impact)")
    return [*lines, ""]


IMPACT_COUNTED = (
    ("loseMandatory", "losing mandatory enforcement"),
    ("gainMandatory", "gaining mandatory enforcement"),
    ("leavePreventative", "leaving every preventative group"),
    ("joinPreventative", "joining a preventative group"),
    ("auditChanged", "with other audit coverage"),
)
"""The impact's counts besides stacksAffected, as the text plan words them."""


def impact_counts(found: Impact) -> str:
    """`3 stacks affected: 1 losing mandatory enforcement, 2 joining a preventative group`."""
    summary = found.summary()
    parts = [f"{summary[key]} {what}" for key, what in IMPACT_COUNTED if summary[key]]
    affected = f"{counted(summary['stacksAffected'], 'stack')} affected"
    return f"{affected}: {', '.join(parts)}" if parts else affected


def impact_caveats(found: Impact) -> list[str]:
    """What the effect leaves out: new rules' matches, groups known by name only."""
    caveats = []
    if found.unknown_rules:
        named = ", ".join(escape(g) for g in found.unknown_rules)
        caveats.append(
            f"Not counted: the stacks that the new match rule of {named} will match,"
            " known once applied."
        )
    if found.groups_not_read:
        unread = counted(found.groups_not_read, "undeclared group")
        caveats.append(
            f"Worked out from the groups read: {unread} not read, and a stack in one of them"
            " may be enforced otherwise than shown."
        )
    return caveats


def by_concern(found: Impact) -> list[StackImpact]:
    """Stacks losing mandatory enforcement first, then leaving preventative groups, then
    gaining mandatory, then the rest; by stack within each."""
    return sorted(
        found.stacks,
        key=lambda s: (
            not s.loses_mandatory,
            not s.leaves_preventative,
            not s.gains_mandatory,
            s.stack,
        ),
    )


def effect_sign(stack: StackImpact) -> str:
    """`!` loses mandatory enforcement, `+` gains it, `~` any other change."""
    return "!" if stack.loses_mandatory else "+" if stack.gains_mandatory else "~"


def effects(stack: StackImpact) -> list[str]:
    """What changes for one stack, each part one short phrase; names escaped."""
    parts = [_pack_effect(change) for change in stack.packs]
    before, after = stack.before, stack.after
    if (before.groups, before.via_default) != (after.groups, after.via_default):
        parts.append(f"groups {_holders(before)} → {_holders(after)}")
    if before.audited_by != after.audited_by:
        parts.append(f"audited by {_names(before.audited_by)} → {_names(after.audited_by)}")
    return parts


def _pack_effect(change: PackChange) -> str:
    name = escape(change.name)
    if change.before is None or change.after is None:
        sign, pack = ("+", change.after) if change.before is None else ("-", change.before)
        assert pack is not None
        return f"{sign}{name} {_pack_state(pack)}"
    before, after = change.before, change.after
    if (before.version_tag, before.level) != (after.version_tag, after.level):
        return f"~{name} {_pack_state(before)} → {_pack_state(after)}"
    was, now = dict(before.policies), dict(after.policies)
    moved = [
        f"{escape(policy)} {_level(was.get(policy, before.level))} → "
        f"{_level(now.get(policy, after.level))}"
        for policy in sorted(was.keys() | now.keys())
        if was.get(policy, before.level) != now.get(policy, after.level)
    ]
    # Per-policy entries may come or go at the levels they inherit: said, not hidden.
    levels = ", ".join(moved) or "entries changed, levels the same"
    return f"~{name} {escape(after.version_tag)} policies: {levels}"


def _pack_state(pack: PackEnforcement) -> str:
    return f"{escape(pack.version_tag)} {_level(pack.level)}"


def _level(level: str | None) -> str:
    return escape(level) if level is not None else "unset"


def _holders(enforcement: Enforcement) -> str:
    names = _names(enforcement.groups)
    return f"{names} (default)" if enforcement.via_default else names


def _names(groups: tuple[str, ...]) -> str:
    return ", ".join(escape(g) for g in groups) or "none"


def impact_json(found: Impact) -> dict[str, Any]:
    """The JSON plan's `impact` (contract §6.3): counts, and each affected stack's before
    and after, by stack. No config values: only versions and levels."""
    shown: dict[str, Any] = {
        "summary": found.summary(),
        "stacks": [
            {"stack": str(s.stack), "before": s.before.to_json(), "after": s.after.to_json()}
            for s in found.stacks
        ],
    }
    if found.unknown_rules:
        shown["unknownRuleMatches"] = list(found.unknown_rules)
    if found.groups_not_read:
        shown["groupsNotRead"] = found.groups_not_read
    return shown


SAFETY_HELP = (
    f"a blocked change makes plan and apply exit {SafetyBlocked.exit_code}, and apply then"
    " writes nothing; "
    "acknowledge one with --allow ID or an `allow:` entry in the file"
)


def safety_lines(plan: Plan) -> list[str]:
    """The safety findings: blocked, allowed, or within limits."""
    if not plan.findings:
        return []
    lines = [f"Safety rules: {SAFETY_HELP}."]
    for finding in plan.findings:
        mark = "✗ blocked" if finding.blocked else "✓ allowed" if finding.allowed else "· ok"
        lines.append(f"  {mark:<9} {finding.id}: {finding.rule}: {finding.reason}")
    return [*lines, ""]


def summary_line(plan: Plan, kind: Kind = "plan") -> str:
    counts = plan.summary()
    if not plan.has_changes:
        return (
            f"No {'changes' if kind == 'plan' else 'drift'}. The live policy groups match the "
            f"desired state ({counts['unchanged']} unchanged, {counts['unmanaged']} unmanaged)."
        )
    return (
        f"{kind.capitalize()}: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['rename']} to rename, {counts['replace']} to replace, "
        f"{counts['delete']} to delete; "
        f"{counts['unchanged']} unchanged, {counts['unmanaged']} unmanaged; "
        f"{counted(plan.write_count(), 'write request')}."
    )


def _group_lines(group: GroupPlan, color: bool) -> list[str]:
    symbol = SYMBOLS[group.action]
    header = f"{symbol} {group.name}"
    if group.action == "create":
        header += f" ({group.entity_type}, {group.mode})"
    elif group.action == "rename":
        header += f" (was {group.live_name})"
    elif group.action == "replace" and group.live_name not in (None, group.name):
        # A rename in the same change: the old name is what a reviewer finds live.
        header += f" (was {group.live_name}; {group.entity_type}, {group.mode})"
    elif group.action in ("delete", "replace"):
        header += f" ({group.entity_type}, {group.mode})"
    lines = ["  " + _paint(header, symbol, color)]
    for change in group.changes:
        if isinstance(change, Rename):
            continue
        line_symbol, text, details = change_line(change)
        lines.append("      " + _paint(f"{line_symbol} {text}", line_symbol, color))
        lines += [f"          {d}" for d in details]
    lines.append("")
    return lines


def change_line(change: Change) -> Description:
    """(sign, one-line text, detail lines) of a change; shared by the text and markdown plans."""
    return change.description


def plan_json(
    plan: Plan, version: str, extras: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The JSON plan of contract §4; secret values are masked in changes and request bodies.

    `extras` adds keys to the named groups (e.g. drift's classification).
    """
    return {
        "formatVersion": FORMAT_VERSION,
        "pgsyncVersion": version,
        "organization": plan.organization,
        "inputs": {"files": {f.path: f.sha256 for f in plan.inputs}},
        "summary": plan.summary(),
        "writeRequests": plan.write_count(),
        **({"coverage": dataclasses.asdict(plan.coverage)} if plan.coverage else {}),
        "blocked": [
            {"id": f.id, "rule": f.rule, "reason": f.reason} for f in plan.findings if f.blocked
        ],
        **({"impact": impact_json(plan.impact)} if plan.impact is not None else {}),
        "groups": [
            {**_group_json(g, plan.findings), **(extras or {}).get(g.name, {})} for g in plan.groups
        ],
    }


def change_json(change: Change) -> dict[str, Any]:
    """A change in the JSON plan; secret values are masked by the change itself. `origin`
    only for a change a pack set or template asks for, so other plans keep their form."""
    origin = origin_of(change)
    shown = {"kind": change.kind, "value": change.to_json()}
    return shown if origin is None else {**shown, "origin": origin}


def _group_json(group: GroupPlan, findings: tuple[Finding, ...]) -> dict[str, Any]:
    shown: dict[str, Any] = {"name": group.name, "action": group.action}
    if group.live_name is not None and group.live_name != group.name:
        shown["previousName"] = group.live_name
    if group.entity_type is not None:
        shown["entityType"] = group.entity_type
        shown["mode"] = group.mode
    shown["liveFingerprint"] = group.live_fingerprint
    shown["changes"] = [change_json(c) for c in group.changes]
    shown["requests"] = [r.to_json() for r in group.requests]
    if group.notes:
        shown["notes"] = list(group.notes)
    if group.via_parent:
        shown["viaParent"] = list(group.via_parent)
    if group.desired is not None and group.desired.additive:
        additive = group.desired.additive
        shown["manage"] = {kind: "additive" for kind in MANAGED_LISTS if kind in additive}
    if group.left_alone:
        shown["leftAlone"] = {kind: list(names) for kind, names in group.left_alone}
    # Ids end in the group name, or hold it before a pack name (`mandatory-loss:g:pack`).
    mine = [f for f in findings if group.name in f.id.split(":")[1:2]]
    if mine:
        shown["safety"] = [
            {"id": f.id, "rule": f.rule, "reason": f.reason, "blocked": f.blocked} for f in mine
        ]
    return shown


def render_json(
    plan: Plan, version: str, extras: Mapping[str, Mapping[str, Any]] | None = None
) -> str:
    shown = plan_json(plan, version, extras)
    return json.dumps(shown, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
