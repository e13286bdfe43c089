"""Drift's origins as a section that follows the plan, in text or Markdown."""

from __future__ import annotations

from collections.abc import Mapping

from pgsync.core.drift import GroupDrift, Origin
from pgsync.core.escaping import escape
from pgsync.core.plan import Plan
from pgsync.render.display import display_plan
from pgsync.render.markdown import code_span
from pgsync.render.text import change_line

DESCRIPTIONS: dict[Origin, str] = {
    "git": "change in Git not yet applied",
    "live": "changed live outside Git",
    "both": "changed in Git and live",
}


def render_drift(
    drifts: Mapping[str, GroupDrift], plan: Plan, ref: str, *, markdown: bool = False
) -> str:
    """The origins as a section to follow the plan (text or Markdown), groups in plan order.

    A group whose differences share one origin is one line; the differences of any other
    group are listed each with its own. Names and texts are shown escaped, live ones too.
    """
    shown = [
        (group, drifts[raw.name])
        for raw, group in zip(plan.groups, display_plan(plan).groups, strict=True)
        if raw.name in drifts
    ]
    if not shown:
        return ""
    ref = escape(ref)
    lines = [f"#### Drift against {code_span(ref)}", ""] if markdown else [f"Drift against {ref}:"]
    for group, drift in shown:
        name = code_span(group.name) if markdown else group.name
        mixed = len({drift.action, *drift.changes} - {None}) > 1
        described = DESCRIPTIONS[drift.origin] + (":" if mixed else "")
        lines.append(f"- {name}: {described}" if markdown else f"  {name}: {described}")
        if not mixed:
            continue
        differences: list[tuple[str, Origin]] = []
        if drift.action is not None:
            action = "+ create the group" if group.action == "create" else "- delete the group"
            differences.append((action, drift.action))
        for change, origin in zip(group.changes, drift.changes, strict=True):
            symbol, text, _ = change_line(change)
            differences.append((f"{symbol} {text}", origin))
        for text, origin in differences:
            if markdown:
                lines.append(f"  - {code_span(text)}: {DESCRIPTIONS[origin]}")
            else:
                lines.append(f"      {text}: {DESCRIPTIONS[origin]}")
    return "\n" + "\n".join(lines) + "\n"
