"""Concise builders of model values for tests."""

from __future__ import annotations

from typing import Any

from pgsync.core.errors import Location
from pgsync.core.model import (
    AppliedPack,
    DesiredGroup,
    DesiredState,
    EntityType,
    LiveGroup,
    LiveState,
    Mode,
    OrgCatalog,
    PackRef,
    PublishedPack,
    StackRef,
    canonical_json,
    default_mode,
    normalise_config,
)

PACKS = {
    "aws": PublishedPack("aws", "AWS Guardrails", {"1.0.0": 1, "1.3.0": 2}),
    "cost": PublishedPack("cost", "Cost Controls", {"2.0.0": 1}),
}
HERE = Location("groups.yaml", 1, 1)


def stacks(*names: str) -> frozenset[StackRef]:
    return frozenset(StackRef.parse(n) for n in names)


def pack_ref(
    name: str,
    tag: str,
    level: str | None = None,
    config: dict[str, Any] | None = None,
    secrets: frozenset[tuple[str, ...]] = frozenset(),
) -> PackRef:
    return PackRef(
        name,
        tag,
        canonical_json(normalise_config(config or {}, level)),
        secret_paths=secrets,
        location=Location("groups.yaml", 7, 9),
    )


def applied(name: str, tag: str, level: str | None = None, **config: Any) -> AppliedPack:
    published = PACKS[name]
    return AppliedPack(
        name,
        tag,
        published.versions[tag],
        published.display_name,
        canonical_json(normalise_config(config, level)),
    )


def desired_group(
    name: str,
    entity_type: EntityType | None = "stacks",
    mode: Mode | None = None,
    **fields: Any,
) -> DesiredGroup:
    return DesiredGroup(
        name, entity_type, mode or default_mode(entity_type), location=HERE, **fields
    )


def live_group(
    name: str, entity_type: EntityType = "stacks", mode: Mode | None = None, **fields: Any
) -> LiveGroup:
    return LiveGroup(name, entity_type, mode or default_mode(entity_type), **fields)


def defaults() -> dict[str, LiveGroup]:
    return {
        "default-policy-group": live_group("default-policy-group", is_default=True),
        "default-accounts-policy-group": live_group(
            "default-accounts-policy-group", "accounts", is_default=True
        ),
    }


def catalog(stack_names: tuple[str, ...] = (), accounts: tuple[str, ...] = ()) -> OrgCatalog:
    return OrgCatalog(
        packs=PACKS,
        stacks=stacks(*stack_names) if stack_names else None,
        accounts=frozenset(accounts) if accounts else None,
    )


def state(*groups: DesiredGroup, prune: bool = False) -> DesiredState:
    return DesiredState("acme", groups, prune)


def live(*groups: LiveGroup, cat: OrgCatalog | None = None) -> LiveState:
    return LiveState("acme", {**defaults(), **{g.name: g for g in groups}}, cat or catalog())
