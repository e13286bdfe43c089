"""Human descriptions of what changed inside a pack's settings (config and environments)."""

from __future__ import annotations

import json
from typing import Any

from pgsync.core.masking import is_secret_key, touches_secret
from pgsync.core.model import ENFORCEMENT_LEVELS, SECRET_MASK, AppliedPack


def describe_pack_change(before: AppliedPack, after: AppliedPack) -> tuple[str, ...]:
    """One line per changed config path (lists shown whole), then environments; sorted."""
    # Imported when a pack's settings changed, not before: deepdiff (numpy with it, when
    # installed) takes longer to import than most commands take to run.
    from deepdiff import DeepDiff  # noqa: PLC0415

    secrets = before.secret_paths | after.secret_paths
    lines = set()
    old, new = before.config, after.config
    # Without the threshold DeepDiff reports a mostly-changed map as one root change.
    tree = DeepDiff(old, new, view="tree", threshold_to_diff_deeper=0)
    for levels in tree.values():
        for level in levels:
            path = _leaf_path(level.path(output_format="list"))
            lines.add(_describe(path, _at(old, path), _at(new, path), secrets))
    if before.environments != after.environments:
        was = ", ".join(before.environments) or "none"
        lines.add(f"environments: {was} → {', '.join(after.environments) or 'none'}")
    return tuple(sorted(lines))


_MISSING = object()


def _leaf_path(path: list[Any]) -> tuple[str, ...]:
    """Cut a path at its first list index: a changed list is shown as a whole."""
    cut: list[str] = []
    for step in path:
        if isinstance(step, int):
            break
        cut.append(str(step))
    return tuple(cut)


def _at(value: Any, path: tuple[str, ...]) -> Any:
    for step in path:
        if not isinstance(value, dict) or step not in value:
            return _MISSING
        value = value[step]
    return value


def _describe(
    path: tuple[str, ...], old: Any, new: Any, secrets: frozenset[tuple[str, ...]]
) -> str:
    where = ".".join(path) or "config"
    if touches_secret(path, secrets):
        new = new if new is _MISSING else SECRET_MASK
    if old is _MISSING:
        return f"{where}: added {_show(new)}"
    if new is _MISSING:
        return f"{where}: removed"
    if not _safe_to_show(path, old):
        # Live values carry no secret marking: the file may no longer say what was secret.
        return f"{where}: changed to {_show(new)}"
    return f"{where}: {_show(old)} → {_show(new)}"


def _safe_to_show(path: tuple[str, ...], old: Any) -> bool:
    """Old values are shown only where they cannot be a secret: levels and flags.

    Not under a setting whose name looks secret (policy names, `path[0]`, are not settings).
    """
    if any(is_secret_key(step) for step in path[1:]):
        return False
    is_level = bool(path) and path[-1] == "enforcementLevel" and old in ENFORCEMENT_LEVELS
    return is_level or isinstance(old, bool) or old is None


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if value == SECRET_MASK:
        return SECRET_MASK
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
