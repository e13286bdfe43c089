"""Three-way drift: is each difference a change in Git not yet applied, a live change, or both?"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from pgsync.diff import GroupDiff
from pgsync.model import DesiredGroup, DesiredState
from pgsync.scrub import escape

Origin = Literal["git", "live", "both"]

DESCRIPTIONS: dict[Origin, str] = {
    "git": "change in Git not yet applied",
    "live": "changed live outside Git",
    "both": "changed in Git and live",
}


def classify(
    now: Iterable[GroupDiff],
    base: Iterable[GroupDiff],
    desired_now: DesiredState,
    desired_base: DesiredState,
) -> dict[str, Origin]:
    """The origin of every group that needs a change now.

    `base` is the diff of the base commit's desired state against the same live state: a
    group whose live state differs from what the base commit declared has moved live.
    """
    moved_live = {_live_name(d) for d in base if _is_change(d)}
    origins: dict[str, Origin] = {}
    for verdict in now:
        if not _is_change(verdict):
            continue
        declared_now = _declared(desired_now, verdict.name)
        former = declared_now.previously if declared_now else ()
        declared_base = _declared(desired_base, verdict.name, former)
        in_git = declared_now != declared_base
        in_live = _live_name(verdict) in moved_live
        origins[verdict.name] = "both" if in_git and in_live else "git" if in_git else "live"
    return origins


def _is_change(verdict: GroupDiff) -> bool:
    return verdict.action not in ("unchanged", "unmanaged")


def _live_name(verdict: GroupDiff) -> str:
    return verdict.live.name if verdict.live is not None else verdict.name


def _declared(
    desired: DesiredState, name: str, former: tuple[str, ...] = ()
) -> DesiredGroup | None:
    """The group declared under `name`, or under one of its former names (a rename in Git)."""
    for candidate in (name, *former):
        for group in desired.groups:
            if group.name == candidate:
                return group
    return None


def render_origins(origins: Mapping[str, Origin], ref: str, *, markdown: bool = False) -> str:
    """The classification as a section to follow the plan (text or Markdown).

    Names are live ones too: escaped here, a line break in one cannot start a line.
    """
    if not origins:
        return ""
    ref = escape(ref)
    shown = sorted((escape(name), DESCRIPTIONS[o]) for name, o in origins.items())
    if markdown:
        lines = [f"#### Drift against `{ref}`", ""]
        lines += [f"- `{name}`: {description}" for name, description in shown]
    else:
        lines = [f"Drift against {ref}:"]
        lines += [f"  {name}: {description}" for name, description in shown]
    return "\n" + "\n".join(lines) + "\n"
