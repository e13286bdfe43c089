"""export_yaml(): live groups → a desired-state file that reads back as the same groups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import applied, catalog, defaults, live, live_group, stacks
from pgsync.core.diff import diff
from pgsync.core.errors import ValidationFailed
from pgsync.core.model import (
    AppliedPack,
    LiveGroup,
    LiveState,
    OrgCatalog,
    PublishedPack,
    canonical_json,
)
from pgsync.load.desired import load_desired
from pgsync.load.importer import (
    SCHEMA_COMMENT,
    SCHEMA_URL,
    assume_live,
    dump_yaml,
    export_yaml,
    group_at,
)
from pgsync.load.packconfig import Placeholder
from pgsync.load.schema import schema_text
from pgsync.load.yamlnodes import load_yaml


def exported(*groups: LiveGroup) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(export_yaml(live(*groups)))
    return loaded


def group_named(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(g for g in doc["policyGroups"] if g["name"] == name)
    return found


def pack(name: str, tag: str, config: dict[str, Any], environments: tuple[str, ...] = ()) -> Any:
    return AppliedPack(name, tag, 1, name, canonical_json(config), environments)


def round_trip(state: LiveState, tmp_path: Path) -> set[str]:
    """The actions a plan of the exported file against `state` would take, as import checks."""
    path = tmp_path / "groups.yaml"
    path.write_text(export_yaml(state), encoding="utf-8")
    placeholders: list[Placeholder] = []
    desired = load_desired([path], placeholders=placeholders)
    return {verdict.action for verdict in diff(assume_live(desired, placeholders, state), state)}


def test_layout_is_the_documented_one() -> None:
    prod = live_group(
        "prod",
        stacks=stacks("web/prod", "payments/prod"),
        packs=(applied("aws", "1.3.0", "mandatory"),),
        agent_pool_id="pool-1",
    )
    cloud = live_group("cloud", "accounts", accounts=frozenset({"gcp-data", "aws-prod"}))
    assert export_yaml(live(prod, cloud)) == SCHEMA_COMMENT + (
        "organization: acme\n"
        "prune: false\n"
        "policyGroups:\n"
        "  - name: default-policy-group\n"
        "    policyPacks: []\n"
        "  - name: default-accounts-policy-group\n"
        "    policyPacks: []\n"
        "  - name: cloud\n"
        "    entityType: accounts\n"
        "    accounts:\n"
        "      - aws-prod\n"
        "      - gcp-data\n"
        "    policyPacks: []\n"
        "  - name: prod\n"
        "    agentPoolId: pool-1\n"
        "    stacks:\n"
        "      - payments/prod\n"
        "      - web/prod\n"
        "    policyPacks:\n"
        "      - name: aws\n"
        '        versionTag: "1.3.0"\n'
        "        enforcementLevel: mandatory\n"
    )


def test_schema_comment_names_the_schema_id_on_the_first_line() -> None:
    assert json.loads(schema_text())["$id"] == SCHEMA_URL
    first = export_yaml(live()).splitlines()[0]
    assert first == f"# yaml-language-server: $schema={SCHEMA_URL}"


def test_default_groups_first_then_by_name_packs_by_name() -> None:
    groups = [live_group(n) for n in ("zeta", "alpha", "Beta", "mid")]
    both = (applied("cost", "2.0.0"), applied("aws", "1.0.0"))
    groups.append(live_group("packs", packs=both))
    doc = exported(*groups)
    assert [g["name"] for g in doc["policyGroups"]] == [
        "default-policy-group",
        "default-accounts-policy-group",
        "Beta",
        "alpha",
        "mid",
        "packs",
        "zeta",
    ]
    assert [p["name"] for p in group_named(doc, "packs")["policyPacks"]] == ["aws", "cost"]


def test_default_groups_keep_packs_and_pool_but_not_members() -> None:
    state = LiveState(
        "acme",
        {
            **defaults(),
            "default-policy-group": live_group(
                "default-policy-group",
                is_default=True,
                stacks=stacks("web/prod"),
                packs=(applied("aws", "1.0.0", "advisory"),),
                agent_pool_id="pool-9",
            ),
            "default-accounts-policy-group": live_group(
                "default-accounts-policy-group",
                "accounts",
                is_default=True,
                accounts=frozenset({"aws-prod"}),
            ),
        },
        catalog(),
    )
    doc = yaml.safe_load(export_yaml(state))
    assert doc["policyGroups"] == [
        {
            "name": "default-policy-group",
            "agentPoolId": "pool-9",
            "policyPacks": [{"name": "aws", "versionTag": "1.0.0", "enforcementLevel": "advisory"}],
        },
        {"name": "default-accounts-policy-group", "policyPacks": []},
    ]


def test_mode_only_when_not_the_entity_types_default() -> None:
    doc = exported(
        live_group("s-prev"),
        live_group("s-audit", mode="audit"),
        live_group("a-audit", "accounts"),
        live_group("a-prev", "accounts", mode="preventative"),
    )
    shapes = {g["name"]: (g.get("entityType"), g.get("mode")) for g in doc["policyGroups"]}
    assert shapes["s-prev"] == (None, None)
    assert shapes["s-audit"] == (None, "audit")
    assert shapes["a-audit"] == ("accounts", None)
    assert shapes["a-prev"] == ("accounts", "preventative")


def test_empty_member_lists_are_written_so_they_stay_managed() -> None:
    doc = exported(live_group("empty"), live_group("none", "accounts"))
    assert group_named(doc, "empty") == {"name": "empty", "stacks": [], "policyPacks": []}
    assert group_named(doc, "none")["accounts"] == []


def test_a_lone_all_level_becomes_enforcement_level() -> None:
    config = {"all": {"enforcementLevel": "mandatory"}, "p1": {"enforcementLevel": "disabled"}}
    doc = exported(live_group("g", packs=(pack("aws", "1.0.0", config),)))
    assert group_named(doc, "g")["policyPacks"] == [
        {
            "name": "aws",
            "versionTag": "1.0.0",
            "enforcementLevel": "mandatory",
            "config": {"p1": {"enforcementLevel": "disabled"}},
        }
    ]


def test_all_with_more_than_a_level_stays_in_config() -> None:
    config = {"all": {"enforcementLevel": "advisory", "x": 1}}
    doc = exported(live_group("g", packs=(pack("aws", "1.0.0", config),)))
    (written,) = group_named(doc, "g")["policyPacks"]
    assert "enforcementLevel" not in written
    assert written["config"] == config


def test_config_and_environments_are_kept_as_they_are() -> None:
    config = {
        "S3-No_Public": {"enforcementLevel": "advisory", "allowed": ["t3.micro", "t3.small"]},
        "camelCase": {"nested": {"deep": [{"a": None, "b": True, "c": 1.5}], "empty": {}}},
    }
    environments = ("policy/aws-creds", "policy/extra")
    doc = exported(live_group("g", packs=(pack("aws", "1.0.0", config, environments),)))
    (written,) = group_named(doc, "g")["policyPacks"]
    assert written == {
        "name": "aws",
        "versionTag": "1.0.0",
        "config": config,
        "environments": list(environments),
    }


def test_version_tags_are_always_double_quoted() -> None:
    text = export_yaml(live(live_group("g", packs=(pack("aws", "1.10", {}),))))
    assert '        versionTag: "1.10"\n' in text
    assert yaml.safe_load(text)["policyGroups"][2]["policyPacks"][0]["versionTag"] == "1.10"


TRICKY = ["yes", "no", "on", "y", "N", "1.0", "1e3", "0o17", "0x10", "null", "~", "true"]
TRICKY += ["2024-01-01", "<<", "="]
TRICKY += ["a: b", "a:b", "#hash", "- dash", " padded ", "'single", '"double', "multi\nline"]


def test_strings_yaml_would_misread_are_quoted() -> None:
    config = {key: {"value": key, "list": [key]} for key in TRICKY}
    state = LiveState(
        "on",
        {
            **defaults(),
            "1.0": live_group("1.0", packs=(pack("true", "1.0", config, ("x: y", "null")),)),
            "null": live_group("null", "accounts", accounts=frozenset(TRICKY)),
        },
    )
    doc = yaml.safe_load(export_yaml(state))
    assert doc["organization"] == "on"
    assert group_named(doc, "null")["accounts"] == sorted(TRICKY)
    (written,) = group_named(doc, "1.0")["policyPacks"]
    assert (written["name"], written["versionTag"]) == ("true", "1.0")
    assert written["config"] == config
    assert written["environments"] == ["x: y", "null"]


def test_strings_yaml_1_1_or_1_2_would_read_otherwise_are_quoted() -> None:
    written = ["yes", "on", "y", "N", "1e3", "1.e5", "0o17", "017", "2.10", "True", "web/2024"]
    assert dump_yaml(written).splitlines() == [
        "- 'yes'",
        "- 'on'",
        "- 'y'",
        "- 'N'",
        "- '1e3'",
        "- '1.e5'",
        "- '0o17'",
        "- '017'",
        "- '2.10'",
        "- 'True'",
        "- web/2024",
    ]


def test_group_names_that_read_as_numbers_are_quoted() -> None:
    text = export_yaml(live(live_group("2.10", packs=(pack("aws", "1", {}),))))
    assert "  - name: '2.10'\n" in text


# Any text UTF-8 can hold: the writer escapes what a YAML stream may not hold as it is.
_ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=10)
_STRINGS = st.dictionaries(_ANY_TEXT, _ANY_TEXT | st.lists(_ANY_TEXT, max_size=3), max_size=4)


@settings(max_examples=200, deadline=None)
@given(_STRINGS)
def test_any_string_reads_back_unchanged_through_pgsyncs_loader(document: dict[str, Any]) -> None:
    assert load_yaml(dump_yaml(document).encode(), "f.yaml").value == document


@settings(max_examples=200, deadline=None)
@given(_STRINGS)
def test_any_string_reads_back_unchanged_through_yaml_1_1(document: dict[str, Any]) -> None:
    assert yaml.safe_load(dump_yaml(document)) == document


def test_multi_line_text_is_a_literal_block() -> None:
    config = {"p": {"script": "line one\nline two\n"}}
    text = export_yaml(live(live_group("g", packs=(pack("aws", "1.0.0", config),))))
    assert "            script: |\n              line one\n              line two\n" in text


def test_exported_state_plans_to_no_changes(tmp_path: Path) -> None:
    config = {"all": {"enforcementLevel": "mandatory"}, "p": {"n": 100.0, "l": [1, "yes"]}}
    state = LiveState(
        "acme",
        {
            **defaults(),
            "prod": live_group(
                "prod",
                mode="audit",
                stacks=stacks("web/prod"),
                packs=(AppliedPack("aws", "1.3.0", 2, "AWS Guardrails", canonical_json(config)),),
                agent_pool_id="p",
            ),
            "yes": live_group("yes", "accounts", accounts=frozenset({"aws-prod"})),
        },
        catalog(("web/prod",), ("aws-prod",)),
    )
    assert round_trip(state, tmp_path) == {"unchanged"}


SECRETS = {
    "db": {
        "password": "HUNTER2",
        "api-Key": {"id": "k", "value": "K-1"},
        "users": [{"name": "ci", "token": "T-1"}],
        "plain": [{"name": "x"}],
        "tokenTtl": None,
        "port": 5432,
    },
    "no-secrets": {"enforcementLevel": "advisory"},
}


def test_secret_settings_are_written_as_placeholders() -> None:
    text = export_yaml(live(live_group("g", packs=(pack("aws", "1.0.0", SECRETS),))))
    assert not any(value in text for value in ("HUNTER2", "K-1", "T-1"))
    (written,) = group_named(yaml.safe_load(text), "g")["policyPacks"]
    placeholder = {"fn::secret": None}
    assert written["config"] == {
        "db": {
            "password": placeholder,
            "api-Key": placeholder,
            "users": placeholder,
            "plain": [{"name": "x"}],
            "tokenTtl": None,
            "port": 5432,
        },
        "no-secrets": {"enforcementLevel": "advisory"},
    }


def test_placeholders_are_known_unknowns_of_the_round_trip(tmp_path: Path) -> None:
    state = live(live_group("g", packs=(pack("aws", "1.0.0", SECRETS),)))
    assert round_trip(state, tmp_path) == {"unchanged"}
    with pytest.raises(ValidationFailed) as caught:
        load_desired([tmp_path / "groups.yaml"])
    assert [p.message for p in caught.value.problems] == ["secret value not filled in"] * 3


def test_assume_live_fills_only_the_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "groups.yaml"
    path.write_text(
        "organization: acme\npolicyGroups:\n  - name: g\n    policyPacks:\n"
        "      - name: aws\n        versionTag: '1.0.0'\n        config:\n"
        "          db: {password: {fn::secret: null}, port: 1}\n",
        encoding="utf-8",
    )
    placeholders: list[Placeholder] = []
    desired = load_desired([path], placeholders=placeholders)
    assert [(p.group, p.pack, p.path, p.location.line) for p in placeholders] == [
        ("g", "aws", ("db", "password"), 8)
    ]
    state = live(live_group("g", packs=(pack("aws", "1.0.0", SECRETS),)))
    (ref,) = assume_live(desired, placeholders, state).groups[0].packs or ()
    assert json.loads(ref.config_json) == {"db": {"password": "HUNTER2", "port": 1}}


def test_group_at_names_the_group_holding_a_line() -> None:
    text = export_yaml(live(live_group("1.0", stacks=stacks("a/b")), live_group("zed")))
    lines = text.splitlines()
    assert group_at(text, lines.index("      - a/b") + 1) == "1.0"
    assert group_at(text, len(lines)) == "zed"
    assert group_at(text, 2) is None


# What a file may hold (schema.hidden_characters): visible text; config values also line breaks.
_VISIBLE = st.characters(exclude_categories=("Cc", "Cf", "Zl", "Zp", "Cs"))
_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(_VISIBLE | st.sampled_from("\n\t"), max_size=12),
    st.sampled_from(TRICKY),
)
_KEY = st.text(_VISIBLE, max_size=8) | st.sampled_from(
    ["password", "api_key", "Token", "x-Secret-y"]
)
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEY, inner),
    max_leaves=8,
)
_POLICY = st.text(_VISIBLE, min_size=1, max_size=10).filter(lambda k: k != "all")
_CONFIG = st.dictionaries(_POLICY, st.dictionaries(_KEY, _VALUE, max_size=3))
_NAME = st.text(st.sampled_from("ab.-_19yesnul"), min_size=1, max_size=6).filter(
    lambda n: n not in (".", "..", "metadata") and not n.startswith("default")
)
_TAG = st.text(st.sampled_from("0123456789.yesnulx"), min_size=1, max_size=5)


@st.composite
def _live_states(draw: st.DrawFn) -> LiveState:
    """A stacks group with one pack of any config, and an accounts group of any names."""
    name, tag = draw(_NAME), draw(_TAG)
    level = draw(st.sampled_from([None, "advisory", "mandatory", "disabled", "remediate"]))
    wire = {**draw(_CONFIG), **({"all": {"enforcementLevel": level}} if level else {})}
    accounts = draw(st.frozensets(st.text(_VISIBLE, min_size=1, max_size=8), max_size=3))
    packs = (AppliedPack("p", tag, 1, "p", canonical_json(wire)),)
    return LiveState(
        "acme",
        {
            **defaults(),
            name: live_group(name, packs=packs),
            f"{name}-a": live_group(f"{name}-a", "accounts", accounts=accounts),
        },
        OrgCatalog(packs={"p": PublishedPack("p", "p", {tag: 1})}),
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(state=_live_states())
def test_any_exported_state_reads_back_unchanged(tmp_path: Path, state: LiveState) -> None:
    assert round_trip(state, tmp_path) == {"unchanged"}
