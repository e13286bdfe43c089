"""export_yaml(compact=True): packs that three or more groups hold identically → packSets."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import defaults, live_group
from pgsync.core.diff import diff
from pgsync.core.model import (
    AppliedPack,
    DesiredGroup,
    LiveGroup,
    LiveState,
    OrgCatalog,
    PublishedPack,
    canonical_json,
)
from pgsync.load.desired import load_desired
from pgsync.load.importer import COMPACT_MIN_GROUPS, assume_live, export_yaml, pack_set_at
from pgsync.load.packconfig import Placeholder

CATALOG = OrgCatalog(
    packs={
        "aws": PublishedPack("aws", "AWS", {"1.0.0": 1, "1.3.0": 2}),
        "cost": PublishedPack("cost", "Cost", {"2.0.0": 1}),
        "best": PublishedPack("best", "Best", {"1.0.0": 1}),
    }
)


def pack(name: str, tag: str, config: dict[str, Any] | None = None, *envs: str) -> AppliedPack:
    version = CATALOG.packs[name].versions[tag]
    return AppliedPack(name, tag, version, name, canonical_json(config or {}), envs)


AWS = pack("aws", "1.3.0", {"all": {"enforcementLevel": "mandatory"}})
COST = pack("cost", "2.0.0")
BEST = pack("best", "1.0.0")


def org(*groups: LiveGroup, catalog: OrgCatalog = CATALOG) -> LiveState:
    return LiveState("acme", {**defaults(), **{g.name: g for g in groups}}, catalog)


def holding(names: str, *packs: AppliedPack) -> list[LiveGroup]:
    return [live_group(name, packs=packs) for name in names.split()]


def compact(state: LiveState) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(export_yaml(state, compact=True))
    return loaded


def uses(document: dict[str, Any]) -> dict[str, list[Any]]:
    return {g["name"]: g["policyPacks"] for g in document["policyGroups"]}


def test_the_threshold_is_three_groups() -> None:
    assert COMPACT_MIN_GROUPS == 3
    assert "packSets" not in compact(org(*holding("a b", COST)))
    assert compact(org(*holding("a b c", COST)))["packSets"] == {
        "baseline": [{"name": "cost", "versionTag": "2.0.0"}]
    }


def test_without_repetition_the_file_is_the_plain_import() -> None:
    state = org(*holding("a b", AWS, COST), *holding("c d", BEST))
    assert export_yaml(state, compact=True) == export_yaml(state)


def test_packs_the_same_groups_hold_form_one_set_used_before_direct_entries() -> None:
    document = compact(org(*holding("a b c", AWS, BEST, COST), *holding("d", COST)))
    assert document["packSets"] == {
        "baseline": [{"name": "cost", "versionTag": "2.0.0"}],
        "set-2": [
            {"name": "aws", "versionTag": "1.3.0", "enforcementLevel": "mandatory"},
            {"name": "best", "versionTag": "1.0.0"},
        ],
    }
    assert uses(document)["a"] == [{"use": "baseline"}, {"use": "set-2"}]
    assert uses(document)["d"] == [{"use": "baseline"}]


def test_the_set_most_groups_use_is_baseline_then_more_packs_first() -> None:
    document = compact(
        org(*holding("a b c", AWS), *holding("d e f", BEST, COST), *holding("g h i j", AWS))
    )
    sets = document["packSets"]
    assert list(sets) == ["baseline", "set-2"]
    assert [p["name"] for p in sets["set-2"]] == ["best", "cost"]
    assert (
        uses(document)["g"] == [{"use": "baseline"}] and uses(document)["a"] == uses(document)["g"]
    )


def test_a_group_that_holds_a_pack_otherwise_lists_it_directly() -> None:
    advisory = pack("aws", "1.3.0", {"all": {"enforcementLevel": "advisory"}})
    document = compact(org(*holding("a b c", AWS, COST), *holding("d", advisory, COST)))
    assert uses(document)["d"] == [
        {"use": "baseline"},
        {"name": "aws", "versionTag": "1.3.0", "enforcementLevel": "advisory"},
    ]


def test_a_set_is_never_named_like_a_pack() -> None:
    catalog = OrgCatalog(
        packs={
            **CATALOG.packs,
            "baseline": PublishedPack("baseline", "B", {"1.0.0": 1}),
            "set-2": PublishedPack("set-2", "S", {"1.0.0": 1}),
        }
    )
    state = org(*holding("a b c", AWS), *holding("d e f", COST), catalog=catalog)
    assert list(compact(state)["packSets"]) == ["baseline-set", "set-2-set"]


def test_packs_that_differ_only_in_a_secret_value_share_no_set() -> None:
    one, two = ({"p": {"token": value}} for value in ("T-1", "T-2"))
    state = org(
        *holding("a b", pack("best", "1.0.0", one)), *holding("c", pack("best", "1.0.0", two))
    )
    text = export_yaml(state, compact=True)
    assert "packSets" not in text and "T-1" not in text and "T-2" not in text


def test_a_secret_in_a_set_is_a_placeholder_in_the_set() -> None:
    secret = pack("best", "1.0.0", {"p": {"token": "T-1", "limit": 2}})
    text = export_yaml(org(*holding("a b c", secret)), compact=True)
    assert "T-1" not in text
    assert yaml.safe_load(text)["packSets"]["baseline"][0]["config"] == {
        "p": {"token": {"fn::secret": None}, "limit": 2}
    }


def test_packs_that_differ_in_environments_share_no_set() -> None:
    state = org(*holding("a b", pack("cost", "2.0.0", None, "e/a")), *holding("c", COST))
    assert "packSets" not in compact(state)


def test_the_file_does_not_depend_on_the_order_groups_were_read() -> None:
    groups = [*holding("a b c", AWS, COST), *holding("d e f", BEST, COST), *holding("g", AWS)]
    forward = org(*groups)
    backward = LiveState(
        "acme",
        {
            name: dataclasses.replace(group, packs=group.packs[::-1])
            for name, group in reversed(list(forward.groups.items()))
        },
        CATALOG,
    )
    assert export_yaml(backward, compact=True) == export_yaml(forward, compact=True)


def test_pack_set_at_names_the_set_holding_a_line() -> None:
    text = export_yaml(org(*holding("a b c", AWS), *holding("d e f", COST)), compact=True)
    lines = text.splitlines()
    assert pack_set_at(text, lines.index("  set-2:") + 2) == "set-2"
    assert pack_set_at(text, lines.index("  set-2:") - 1) == "baseline"
    assert pack_set_at(text, lines.index("policyGroups:") + 2) is None
    assert pack_set_at(text, 2) is None


_PACKS = st.sampled_from(
    [
        AWS,
        pack("aws", "1.0.0"),
        pack("aws", "1.3.0", {"all": {"enforcementLevel": "advisory"}}),
        COST,
        pack("cost", "2.0.0", None, "e/a", "e/b"),
        BEST,
        pack("best", "1.0.0", {"p": {"password": "P-1", "n": 1}}),
        pack("best", "1.0.0", {"p": {"password": "P-2", "n": 1}}),
    ]
)


@st.composite
def _live_orgs(draw: st.DrawFn) -> LiveState:
    """Up to eight groups, the default ones too, each with packs drawn from a few variants."""
    names = draw(st.lists(st.sampled_from("abcdefghij"), unique=True, max_size=6))
    groups = dict(defaults())
    for name in [*groups, *names]:
        chosen = draw(st.lists(_PACKS, max_size=3, unique_by=lambda p: p.name))
        base = groups.get(name) or live_group(name, mode=draw(st.sampled_from(["audit", None])))
        groups[name] = dataclasses.replace(base, packs=tuple(chosen))
    return LiveState("acme", groups, CATALOG)


def _loaded(text: str, path: Path) -> tuple[list[DesiredGroup], list[Placeholder]]:
    path.write_text(text, encoding="utf-8")
    placeholders: list[Placeholder] = []
    desired = load_desired([path], placeholders=placeholders)
    return list(desired.groups), placeholders


def _by_pack_name(group: DesiredGroup) -> DesiredGroup:
    return dataclasses.replace(group, packs=tuple(sorted(group.packs or (), key=lambda p: p.name)))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(state=_live_orgs())
def test_a_compact_import_expands_to_the_plain_import_and_plans_to_nothing(
    tmp_path: Path, state: LiveState
) -> None:
    groups, placeholders = _loaded(export_yaml(state, compact=True), tmp_path / "compact.yaml")
    plain, _ = _loaded(export_yaml(state), tmp_path / "plain.yaml")
    assert [_by_pack_name(g) for g in groups] == [_by_pack_name(g) for g in plain]
    desired = load_desired([tmp_path / "compact.yaml"], placeholders=[])
    verdicts = diff(assume_live(desired, placeholders, state), state)
    assert {verdict.action for verdict in verdicts} == {"unchanged"}
