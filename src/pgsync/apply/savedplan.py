"""A saved JSON plan against a fresh one: is what was reviewed still what would be done?"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from pgsync.core.diff import QUIET_ACTIONS
from pgsync.core.errors import PgsyncError
from pgsync.core.model import DesiredState
from pgsync.core.plan import FORMAT_VERSION, Plan
from pgsync.render.text import plan_json


def parse_saved(text: str, source: str) -> dict[str, Any]:
    """A saved plan's JSON, checked for the shape `stale_reasons` relies on."""
    try:
        saved = json.loads(text)
    except ValueError as error:
        raise PgsyncError(f"{source}: not a pgsync plan: invalid JSON ({error})") from None
    groups = saved.get("groups") if isinstance(saved, dict) else None
    files = (saved.get("inputs") or {}).get("files") if isinstance(saved, dict) else None
    if (
        not isinstance(groups, list)
        or not all(isinstance(g, dict) and isinstance(g.get("name"), str) for g in groups)
        or not isinstance(files, dict)
        or not all(isinstance(digest, str) for digest in files.values())
    ):
        raise PgsyncError(f"{source}: not a pgsync plan (expected the JSON of `plan --out`)")
    result: dict[str, Any] = saved
    return result


def input_reasons(saved: Mapping[str, Any], desired: DesiredState) -> list[str]:
    """Why the plan does not belong to these files (checked before any API call)."""
    if saved.get("formatVersion") != FORMAT_VERSION:
        return [f"plan formatVersion {saved.get('formatVersion')!r} is not {FORMAT_VERSION}"]
    if saved.get("organization") != desired.organization:
        return [
            f"the plan is for organization {saved.get('organization')!r}, "
            f"the files name {desired.organization!r}"
        ]
    # Bound to content, not paths: the same files checked out elsewhere still match.
    planned: Mapping[str, str] = saved["inputs"]["files"]
    if sorted(planned.values()) != sorted(f.sha256 for f in desired.inputs):
        return [
            "the input files differ from the ones the plan was made from:",
            *_file_lines(planned, desired),
        ]
    return []


def _file_lines(planned: Mapping[str, str], desired: DesiredState) -> list[str]:
    """Each file whose content the plan was not made from, and each one it was made from
    that is not given now, by name."""
    before = set(planned.values())
    now = {f.sha256 for f in desired.inputs}
    given = {f.path for f in desired.inputs}
    lines = [
        f"    {f.path}: "
        + ("changed since the plan was made" if f.path in planned else "not read for the plan")
        for f in desired.inputs
        if f.sha256 not in before
    ]
    lines += [
        f"    {path}: read for the plan, not given now"
        for path, digest in planned.items()
        if digest not in now and path not in given
    ]
    return lines


def touched_names(saved: Mapping[str, Any]) -> frozenset[str]:
    """Every group name the saved plan writes to, under its live and its final name."""
    names = set()
    for group in saved["groups"]:
        if group.get("action") not in QUIET_ACTIONS:
            names.add(group["name"])
            if isinstance(group.get("previousName"), str):
                names.add(group["previousName"])
    return frozenset(names)


def restrict(desired: DesiredState, names: frozenset[str]) -> DesiredState:
    """The desired groups that a set of live names concerns (by name or former name)."""
    kept = tuple(
        g for g in desired.groups if g.name in names or any(p in names for p in g.previously)
    )
    return dataclasses.replace(desired, groups=kept)


def stale_reasons(saved: Mapping[str, Any], fresh: Plan, version: str) -> list[str]:
    """What changed since the plan, group by group; empty when the plan still holds."""
    reasons: list[str] = []
    before = {g["name"]: g for g in saved["groups"] if g.get("action") not in QUIET_ACTIONS}
    now = {
        g["name"]: g
        for g in plan_json(fresh, version)["groups"]
        if g["action"] not in QUIET_ACTIONS
    }
    for name in sorted(before.keys() | now.keys()):
        old, new = before.get(name), now.get(name)
        if old is None:
            assert new is not None
            reasons.append(f"group '{name}': now needs {new['action']}, which the plan lacks")
            reasons += _change_lines(None, new)
        elif new is None:
            reasons.append(
                f"group '{name}': the plan would {old['action']} it; nothing is needed now"
            )
        elif old.get("liveFingerprint") != new["liveFingerprint"]:
            reasons.append(f"group '{name}': changed live since the plan was made")
            reasons += _change_lines(old, new)
        elif old.get("requests") != new["requests"]:
            reasons.append(f"group '{name}': the planned requests differ from the saved ones")
            reasons += _change_lines(old, new)
    return reasons


def _change_lines(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """Changes the plan has that are no longer needed, and ones needed now that it lacks."""

    def keyed(group: Mapping[str, Any] | None) -> dict[str, str]:
        changes = group.get("changes", []) if group else []
        return {
            json.dumps(c, sort_keys=True): f"{c.get('kind')} {_subject(c.get('value'))}"
            for c in changes
            if isinstance(c, dict)
        }

    was, now = keyed(old), keyed(new)
    lines = [f"    no longer needed: {was[k]}" for k in sorted(was.keys() - now.keys())]
    lines += [f"    now also needed: {now[k]}" for k in sorted(now.keys() - was.keys())]
    return lines


def _subject(value: Any) -> str:
    if isinstance(value, dict):
        if "routingProject" in value:
            return f"{value['routingProject']}/{value.get('name')}"
        if "name" in value:
            return str(value["name"])
        if "to" in value:
            return str(value["to"])
    return json.dumps(value, sort_keys=True)
