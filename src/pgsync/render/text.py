"""Plan → text for people, JSON for machines (contract §4). Pure: returns strings."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, Literal

from pgsync.core.changes import (
    AddAccount,
    AddPack,
    AddStack,
    Change,
    ConfigurePack,
    RemoveAccount,
    RemoveAccountRule,
    RemovePack,
    RemoveStack,
    RemoveStackRule,
    Rename,
    Reshape,
    SetAccountRule,
    SetAgentPool,
    SetStackRule,
    UpgradePack,
)
from pgsync.core.masking import masked_config
from pgsync.core.matchrule import describe
from pgsync.core.model import AppliedPack, MatchRule, RulePreview
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
    for group in plan.changed:
        lines += _group_lines(group, color)
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


def files_read(plan: Plan) -> str:
    """` (3 files read)`, for the heading: whether every file was read shows at a glance."""
    return f" ({counted(len(plan.inputs), 'file')} read)" if plan.inputs else ""


SAFETY_HELP = (
    "a blocked change makes plan and apply exit 3, and apply then writes nothing; "
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


def _pack_label(pack: AppliedPack) -> str:
    level = pack.config.get("all", {}).get("enforcementLevel")
    return f"{pack.name} {pack.version_tag}" + (f" ({level})" if level else "")


def change_line(change: Change) -> tuple[str, str, tuple[str, ...]]:
    """(symbol, one-line text, detail lines) for a change; shared by the text and markdown plans."""
    match change:
        case AddStack(stack):
            return "+", f"stack {stack}", ()
        case RemoveStack(stack):
            return "-", f"stack {stack}", ()
        case AddAccount(name):
            return "+", f"account {name}", ()
        case RemoveAccount(name):
            return "-", f"account {name}", ()
        case AddPack(pack):
            shown = masked_config(pack.config, pack.secret_paths)
            settings = [
                f"{policy}: {json.dumps(shown[policy], sort_keys=True, ensure_ascii=False)}"
                for policy in sorted(shown)
                if policy != "all"
            ]
            if pack.environments:
                settings.append("environments: " + ", ".join(pack.environments))
            return "+", f"pack {_pack_label(pack)}", tuple(settings)
        case RemovePack(pack):
            return "-", f"pack {pack.name} {pack.version_tag}", ()
        case UpgradePack(before, after):
            described = change.config_changes
            return "~", f"pack {after.name} {before.version_tag} → {after.version_tag}", described
        case ConfigurePack(_, after):
            described = change.config_changes
            return "~", f"pack {after.name} {after.version_tag} settings", described
        case SetAgentPool(before, after):
            return "~", f"agentPoolId {json.dumps(before)} → {json.dumps(after)}", ()
        case Rename(old, new):
            return "→", f"renamed {old} → {new}", ()
        case Reshape(entity_type, mode):
            return (
                "±",
                f"replaced: {entity_type[0]}/{mode[0]} → {entity_type[1]}/{mode[1]} "
                "(new group filled first, then the old one deleted)",
                (),
            )
        case SetStackRule(before, after, preview, previous) | SetAccountRule(
            before, after, preview, previous
        ):
            details = [f"was: {_rule_text(before)}"] if before is not None else []
            details.append(_counts(after, preview, before, previous))
            return (
                ("~" if before else "+"),
                f"{_rule_label(after)}: {_rule_text(after)}",
                tuple(details),
            )
        case RemoveStackRule(before, previous) | RemoveAccountRule(before, previous):
            one = previous is not None and previous.matched == 1
            matched = (
                counted(previous.matched, before.entity)
                if previous is not None
                else f"the {_noun(before)}"
            )
            return (
                "-",
                f"{_rule_label(before)}: {_rule_text(before)}",
                (f"{matched} it matches {'stays' if one else 'stay'} only if listed",),
            )


def _rule_label(rule: MatchRule) -> str:
    return f"{rule.entity} match rule"


def _rule_text(rule: MatchRule) -> str:
    return describe(rule.expression, rule.entity)


def _noun(rule: MatchRule) -> str:
    return "stacks" if rule.entity == "stack" else "accounts"


def _counts(
    after: MatchRule,
    preview: RulePreview | None,
    before: MatchRule | None,
    previous: RulePreview | None,
) -> str:
    """`matches 12 of 203 stacks (was 4)`: the preview endpoint's counts, before and after."""
    now = (
        f"matches {preview.matched} of {counted(preview.total, after.entity)}"
        if preview is not None
        else f"matches an unknown number of {_noun(after)} (no preview)"
    )
    if before is None:
        return f"{now} (was none: no rule)"
    return f"{now} (was {previous.matched})" if previous is not None else now


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
        "groups": [
            {**_group_json(g, plan.findings), **(extras or {}).get(g.name, {})} for g in plan.groups
        ],
    }


def change_json(change: Change) -> dict[str, Any]:
    """A change in the JSON plan; secret values are masked by the change itself."""
    return {"kind": change.kind, "value": change.to_json()}


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
