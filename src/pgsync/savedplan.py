"""A saved JSON plan against a fresh one: is what was reviewed still what would be done?"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pgsync.errors import PgsyncError
from pgsync.plan import FORMAT_VERSION, Plan
from pgsync.render import plan_json

_QUIET = ("unchanged", "unmanaged")


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
    ):
        raise PgsyncError(f"{source}: not a pgsync plan (expected the JSON of `plan --out`)")
    result: dict[str, Any] = saved
    return result


def stale_reasons(saved: Mapping[str, Any], fresh: Plan, version: str) -> list[str]:
    """Every reason the saved plan may not be applied; empty when it matches the fresh plan."""
    if saved.get("formatVersion") != FORMAT_VERSION:
        return [f"plan formatVersion {saved.get('formatVersion')!r} is not {FORMAT_VERSION}"]
    if saved.get("organization") != fresh.organization:
        return [
            f"the plan is for organization {saved.get('organization')!r}, "
            f"the files name {fresh.organization!r}"
        ]
    reasons = []
    saved_inputs = sorted((saved.get("inputs") or {}).get("files", {}).values())
    if saved_inputs != sorted(f.sha256 for f in fresh.inputs):
        reasons.append("the input files differ from the ones the plan was made from")
    before = {g["name"]: g for g in saved.get("groups", ()) if g.get("action") not in _QUIET}
    now = {g["name"]: g for g in plan_json(fresh, version)["groups"] if g["action"] not in _QUIET}
    for name in sorted(before.keys() | now.keys()):
        old, new = before.get(name), now.get(name)
        if old is None:
            assert new is not None
            reasons.append(f"group '{name}': now needs {new['action']}, which the plan lacks")
        elif new is None:
            reasons.append(
                f"group '{name}': the plan would {old['action']} it; nothing is needed now"
            )
        elif old.get("liveFingerprint") != new["liveFingerprint"]:
            reasons.append(f"group '{name}': changed live since the plan was made")
        elif old.get("requests") != new["requests"]:
            reasons.append(f"group '{name}': the planned requests differ from the saved ones")
    return reasons
