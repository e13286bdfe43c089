"""Synthetic organizations for the benchmark: emulator fixtures and desired-state files.

Everything is generated from sizes alone (no randomness), so two runs measure the same work.
Stacks are `svcNNN/sNN` and groups `gNNNNN`: short names keep a 100,000-membership file near the
issue's 1.9 MB.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pgsync.core.model import (
    AppliedPack,
    DesiredState,
    LiveGroup,
    LiveState,
    OrgCatalog,
    PublishedPack,
    StackRef,
)

ORG = "bench"
PACK_TAGS = ("1.0.0", "1.1.0")


def stack(index: int) -> str:
    """The index-th stack of a generated org, as `project/stack`."""
    return f"svc{index // 100:03d}/s{index % 100:02d}"


def group_name(index: int) -> str:
    return f"g{index:05d}"


def pack_name(index: int) -> str:
    return f"pack-{index:02d}"


@dataclass(frozen=True, slots=True)
class Group:
    """A generated group: its stacks and the names of its packs (all at PACK_TAGS[0])."""

    name: str
    stacks: tuple[str, ...]
    packs: tuple[str, ...]


def fixture(groups: Sequence[Group], stacks: int, packs: int) -> dict[str, Any]:
    """An emulator fixture (see pgsync.emulator.fixture) holding exactly these groups."""
    return {
        "organizations": {
            ORG: {
                "stacks": [stack(i) for i in range(stacks)],
                "policyPacks": [
                    {"name": pack_name(i), "versionTags": list(PACK_TAGS)} for i in range(packs)
                ],
                "policyGroups": [
                    {
                        "name": g.name,
                        "stacks": list(g.stacks),
                        "policyPacks": [{"name": p, "versionTag": PACK_TAGS[0]} for p in g.packs],
                    }
                    for g in groups
                ],
            }
        }
    }


def desired_yaml(groups: Iterable[Group]) -> str:
    """A desired-state file declaring these groups, written the way people write them.

    Block style with two-space indents, one stack per line; no `enforcementLevel`, so that a
    live group with the same packs has nothing to configure.
    """
    lines = [f"organization: {ORG}", "policyGroups:"]
    for g in groups:
        lines += [f"- name: {g.name}", "  stacks:"]
        lines += [f"  - {s}" for s in g.stacks]
        lines.append("  policyPacks:")
        for p in g.packs:
            lines += [f"  - name: {p}", f"    versionTag: {PACK_TAGS[0]}"]
    return "\n".join(lines) + "\n"


def small_org(count: int) -> list[Group]:
    """`count` groups of two stacks each (twice as many stacks in all) and one of ten packs."""
    return [
        Group(group_name(i), (stack(2 * i), stack(2 * i + 1)), (pack_name(i % 10),))
        for i in range(count)
    ]


def adding(groups: Sequence[Group], which: Iterable[int], stacks: Sequence[str]) -> list[Group]:
    """The groups with `stacks` added to the ones at the indexes `which`: adds only, which no
    safety rule ever blocks."""
    chosen = set(which)
    return [
        Group(g.name, (*g.stacks, *stacks), g.packs) if i in chosen else g
        for i, g in enumerate(groups)
    ]


def unknown_stacks(live: Sequence[Group], desired: Sequence[Group]) -> list[str]:
    """The declared stacks no live group holds. A plan that reads every live group here knows
    its members exist; these it must check against the org."""
    held = {s for g in live for s in g.stacks}
    return sorted({s for g in desired for s in g.stacks} - held)


def stack_path(ref: str) -> str:
    """The route that tells whether stack `project/stack` exists: 200 or 404."""
    project, _, name = ref.partition("/")
    return f"/api/stacks/{ORG}/{project}/{name}"


def wide_org(count: int, stacks_per_group: int, packs_per_group: int) -> list[Group]:
    """The CPU scenarios' org: groups with many stacks (a pool shared by groups) and packs."""
    pool = max(stacks_per_group, count * stacks_per_group // 5)
    return [
        Group(
            group_name(i),
            tuple(stack((i * stacks_per_group + j) % pool) for j in range(stacks_per_group)),
            tuple(pack_name(j) for j in range(packs_per_group)),
        )
        for i in range(count)
    ]


def live_with_half_changed(desired: DesiredState) -> LiveState:
    """A live state of the same size as `desired`, where half of every group's stacks differ.

    Each live group keeps the first half of its declared stacks and holds as many others
    instead (renamed into project `x…`), so the plan adds and removes half the memberships;
    packs are as declared. The catalog publishes every pack and every stack either side names.
    """
    groups: dict[str, LiveGroup] = {}
    catalog_stacks: set[StackRef] = set()
    packs: dict[str, PublishedPack] = {}
    for g in desired.groups:
        declared = sorted(g.stacks or ())
        kept = declared[: len(declared) // 2]
        others = [StackRef("x" + s.project, s.stack) for s in declared[len(kept) :]]
        applied = []
        for ref in g.packs or ():
            published = packs.setdefault(
                ref.name,
                PublishedPack(ref.name, ref.name, {t: n for n, t in enumerate(PACK_TAGS, 1)}),
            )
            applied.append(
                AppliedPack(
                    ref.name,
                    ref.version_tag,
                    published.versions[ref.version_tag],
                    published.display_name,
                    ref.config_json,
                    ref.environments,
                )
            )
        groups[g.name] = LiveGroup(
            g.name,
            g.resolved_entity_type,
            g.resolved_mode,
            stacks=frozenset([*kept, *others]),
            packs=tuple(sorted(applied, key=lambda p: p.name)),
        )
        catalog_stacks.update(declared, others)
    return LiveState(
        ORG, groups, OrgCatalog(packs=packs, stacks=frozenset(catalog_stacks), accounts=None)
    )
