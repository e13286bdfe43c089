"""A plan as people are shown it: every name and text from the files or the API escaped.

Escaping the rendered plan afterwards cannot tell a newline in a live group's name from
the plan's own line breaks; escaping the plan's values first can.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pgsync.core.escaping import escape
from pgsync.core.plan import GroupPlan, Plan

# JSON text is parsed again when rendered (and shown through `escaping.shown`); secret paths
# locate keys as the config has them.
_KEPT = frozenset({"config_json", "expression_json", "secret_paths"})


def display_plan(plan: Plan) -> Plan:
    """`plan` with the invisible characters of what the text and Markdown plans show escaped."""
    return dataclasses.replace(
        plan,
        organization=escape(plan.organization),
        groups=tuple(_group(group) for group in plan.groups),
        findings=_display(plan.findings),
    )


def _group(group: GroupPlan) -> GroupPlan:
    # Only what is shown: the desired and live groups and the requests may be large.
    shown = {
        "name": escape(group.name),
        "live_name": _display(group.live_name),
        "changes": _display(group.changes),
        "notes": _display(group.notes),
        "via_parent": _display(group.via_parent),
    }
    # Nearly every group has nothing to escape: a copy of each of 10,000 costs 0.1 s.
    if all(value == getattr(group, field) for field, value in shown.items()):
        return group
    return dataclasses.replace(group, **shown)


def _display(value: Any) -> Any:
    if isinstance(value, str):
        return escape(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        shown = {
            field.name: _display(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if field.init and field.name not in _KEPT
        }
        return dataclasses.replace(value, **shown)
    if isinstance(value, tuple):
        items = [_display(item) for item in value]
        # A named tuple (StackRef) keeps its type.
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, frozenset):
        return frozenset(_display(item) for item in value)
    if isinstance(value, list):
        return [_display(item) for item in value]
    if isinstance(value, dict):
        return {_display(key): _display(item) for key, item in value.items()}
    return value
