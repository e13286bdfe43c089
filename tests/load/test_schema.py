"""The JSON Schema: one file shipped twice, valid, documented, and explained in plain words."""

from __future__ import annotations

import datetime
import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from pgsync import __version__
from pgsync.cli.main import cli
from pgsync.core.model import ENFORCEMENT_LEVELS
from pgsync.load import schema
from pgsync.load.importer import SCHEMA_URL
from pgsync.load.schema import PATTERN_MESSAGES, SchemaProblem, check, schema_text

ROOT = Path(__file__).parents[2]
REPO_SCHEMA = ROOT / "schemas" / "policygroups.schema.json"
PACKAGED_SCHEMA = ROOT / "src" / "pgsync" / "schemas" / "policygroups.schema.json"
# Files whose modeline users copy into their own files.
MODELINE_FILES = (ROOT / "README.md", ROOT / "examples" / "policygroups.yaml")


def loaded() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(schema_text())
    return result


def subschemas(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from subschemas(value)
    elif isinstance(node, list):
        for item in node:
            yield from subschemas(item)


def messages(instance: object) -> list[tuple[tuple[str | int, ...], bool, str]]:
    return [(p.path, p.at_key, p.message) for p in check(instance)]


def group(**fields: Any) -> dict[str, Any]:
    return {"organization": "acme", "policyGroups": [{"name": "prod", **fields}]}


def test_repo_schema_is_the_packaged_file() -> None:
    assert REPO_SCHEMA.is_symlink()
    assert REPO_SCHEMA.read_bytes() == PACKAGED_SCHEMA.read_bytes()


def test_schema_text_is_the_shipped_file() -> None:
    assert schema_text() == PACKAGED_SCHEMA.read_text(encoding="utf-8")


def test_the_schema_url_serves_the_packaged_schema_at_this_versions_tag() -> None:
    url = urlsplit(SCHEMA_URL)
    owner, repository, tag, *path = url.path.removeprefix("/").split("/")
    assert (url.scheme, url.netloc, owner, repository) == (
        "https",
        "raw.githubusercontent.com",
        "pgsync",
        "pgsync",
    )
    assert tag == f"v{__version__}"
    served = ROOT.joinpath(*path)
    # raw.githubusercontent.com serves a symbolic link as the path it holds, not as the file.
    assert not served.is_symlink()
    assert served.read_text(encoding="utf-8") == schema_text()


@pytest.mark.parametrize("path", MODELINE_FILES, ids=[p.name for p in MODELINE_FILES])
def test_every_modeline_users_copy_names_the_schema_url(path: Path) -> None:
    named = re.findall(r"# yaml-language-server: \$schema=(\S+)", path.read_text("utf-8"))
    assert named
    assert set(named) == {SCHEMA_URL}


def test_schema_out_writes_the_schema_creating_its_directory(tmp_path: Path) -> None:
    out = tmp_path / "vendor" / "schemas" / "policygroups.schema.json"
    result = CliRunner().invoke(cli, ["schema", "--out", str(out)])
    assert (result.exit_code, result.output) == (0, "")
    assert out.read_text(encoding="utf-8") == schema_text()


def test_schema_out_replaces_an_older_copy_whole(tmp_path: Path) -> None:
    out = tmp_path / "policygroups.schema.json"
    out.write_text("{}", encoding="utf-8")
    out.chmod(0o640)
    assert CliRunner().invoke(cli, ["schema", "--out", str(out)]).exit_code == 0
    assert out.read_text(encoding="utf-8") == schema_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_schema_out_dash_prints_the_schema() -> None:
    result = CliRunner().invoke(cli, ["schema", "--out", "-"])
    assert (result.exit_code, result.output) == (0, schema_text())


def test_schema_out_naming_a_directory_fails_with_exit_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["schema", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: cannot write {tmp_path}: it names a directory")


def test_schema_is_valid_draft_2020_12_with_an_id() -> None:
    document = loaded()
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == SCHEMA_URL
    assert document["title"]


def test_every_property_has_a_description() -> None:
    undocumented = [
        name
        for node in subschemas(loaded())
        for name, prop in node.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert undocumented == []


def test_every_object_is_closed_except_policy_settings() -> None:
    document = loaded()
    open_objects = [
        node
        for node in subschemas(document)
        if "properties" in node and node.get("additionalProperties") is not False
    ]
    assert open_objects == [document["$defs"]["policyConfig"]]


def test_no_one_of_or_any_of_slows_validation() -> None:
    assert not any({"oneOf", "anyOf"} & set(node) for node in subschemas(loaded()))


def test_every_pattern_has_a_message() -> None:
    patterns = {node["pattern"] for node in subschemas(loaded()) if "pattern" in node}
    assert patterns == set(PATTERN_MESSAGES)


def test_enforcement_levels_are_the_models() -> None:
    assert loaded()["$defs"]["enforcementLevel"]["enum"] == list(ENFORCEMENT_LEVELS)


def test_example_file_is_valid() -> None:
    example = yaml.safe_load((ROOT / "examples" / "policygroups.yaml").read_text())
    assert check(example) == []


def test_unknown_key_points_at_the_key_and_suggests() -> None:
    [(path, at_key, message)] = messages(group(stack=[]))
    assert (path, at_key) == (("policyGroups", 0, "stack"), True)
    assert message.startswith("unknown key 'stack', did you mean 'stacks'? (allowed: name,")


def test_missing_keys_are_each_reported_once_at_the_parent() -> None:
    assert messages({}) == [
        ((), False, "missing required key 'organization'"),
        ((), False, "missing required key 'policyGroups'"),
    ]


def test_type_message_names_every_accepted_kind() -> None:
    assert messages(group(stacks=[7])) == [
        (("policyGroups", 0, "stacks", 0), False, "expected a string or a mapping, got an integer")
    ]


def test_enum_message_lists_the_choices() -> None:
    assert messages(group(mode="strict")) == [
        (("policyGroups", 0, "mode"), False, "expected one of preventative, audit, got 'strict'")
    ]


def test_policy_level_string_is_checked_by_its_pattern() -> None:
    pack = {"name": "aws", "versionTag": "1", "config": {"s3": "mandatroy"}}
    assert messages(group(policyPacks=[pack])) == [
        (
            ("policyGroups", 0, "policyPacks", 0, "config", "s3"),
            False,
            "expected one of advisory, mandatory, disabled, remediate, got 'mandatroy'",
        )
    ]


def test_bad_stack_string_keeps_its_index_in_the_file() -> None:
    stacks = ["a/b", "c/d", "bad", "e/f", {"routingProject": "g", "name": "h"}, "x y/z"]
    assert messages(group(stacks=stacks)) == [
        (("policyGroups", 0, "stacks", 2), False, "expected a stack as 'project/stack', got 'bad'"),
        (
            ("policyGroups", 0, "stacks", 5),
            False,
            "expected a stack as 'project/stack', got 'x y/z'",
        ),
    ]


def test_empty_account_name_is_refused() -> None:
    assert messages(group(entityType="accounts", accounts=["aws", ""])) == [
        (("policyGroups", 0, "accounts", 1), False, "must not be empty")
    ]


items = st.one_of(
    st.sampled_from(["a/b", "bad", "", "a/b/c", " /x", "p/s"]),
    st.integers(),
    st.none(),
    st.fixed_dictionaries(
        {"routingProject": st.sampled_from(["p", "", "a/b"]), "name": st.just("s")}
    ),
)


pack_entries = st.sampled_from(
    [
        {"name": "p", "versionTag": "1.0.0"},
        {"name": "p", "versionTag": "1.0.0", "enforcementLevel": "mandatory"},
        {"name": "p", "versionTag": "1.0.0", "enforcementLevel": "strict"},
        {"name": "p"},
        {"name": "", "versionTag": "1"},
        {"name": "p", "versionTag": "1", "config": {"all": "advisory", "r": {"x": 1}}},
        {"name": "p", "versionTag": "1", "config": {"r": {"enforcementLevel": "loud"}}},
        {"use": "baseline"},
        {"use": "baseline", "name": "p"},
        "p",
        None,
    ]
)
groups_of = st.dictionaries(
    st.sampled_from(["name", "stacks", "accounts", "policyPacks", "mode", "unknown"]),
    st.one_of(
        st.lists(items),
        st.lists(pack_entries),
        st.sampled_from(["prod", "x y", "", "a/b", "audit", "preventative", " lead"]),
        st.none(),
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(groups_of))
def test_check_reports_what_the_schema_file_itself_does(groups: list[Any]) -> None:
    """Neither inlining `$ref`s, nor skipping valid bulk strings, nor checking each distinct
    pack entry and group once changes any problem."""
    document = {"organization": "acme", "policyGroups": groups}
    unoptimised = Draft202012Validator(loaded())
    full: set[SchemaProblem] = {
        problem for error in unoptimised.iter_errors(document) for problem in schema._explain(error)
    }
    assert set(check(document)) == full


def test_skipping_valid_items_is_refused_for_a_list_constrained_as_a_whole() -> None:
    """Leaving valid items out would change what `minItems` (and the like) says."""
    constrained = {"type": "array", "items": {"type": "string"}, "minItems": 1}
    with pytest.raises(ValueError, match="minItems"):
        schema._list_items(constrained, "stacks")


def test_a_value_that_is_no_json_is_judged_by_jsonschema_not_by_its_text() -> None:
    """A date and a string that reads like it are different values."""
    like = {"name": "p", "versionTag": "datetime.date(2020, 1, 1)"}
    dated = {"name": "p", "versionTag": datetime.date(2020, 1, 1)}
    problems = check(group(policyPacks=[like, dated]))
    assert [p.path for p in problems] == [("policyGroups", 0, "policyPacks", 1, "versionTag")]


texts = st.text(max_size=6) | st.sampled_from(["prod", "a/b", 'say "hi"', "C:\\dir", "tab\there"])
documents = st.recursive(
    texts | st.integers() | st.none() | st.booleans(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


def _strings_and_keys(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings_and_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_and_keys(item)


def _printable_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()


@given(documents)
def test_a_document_passed_as_plainly_visible_holds_only_printable_ascii(document: Any) -> None:
    if schema._plainly_visible(document):
        assert all(map(_printable_ascii, _strings_and_keys(document)))


@given(documents)
def test_printable_ascii_without_a_backslash_is_plainly_visible(document: Any) -> None:
    strings = list(_strings_and_keys(document))
    if all(_printable_ascii(s) and "\\" not in s and '"' not in s for s in strings):
        assert schema._plainly_visible(document)


def test_a_hidden_character_beside_a_backslash_is_still_found() -> None:
    document = {"organization": "acme", "policyGroups": [{"name": "C:\\x\u200b"}]}
    [problem] = schema.hidden_characters(document)
    assert problem.path == ("policyGroups", 0, "name")
