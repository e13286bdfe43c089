"""The schema as a predicate gives jsonschema's own verdict, and refuses what it cannot judge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator, Draft202012Validator

from json_mutations import keys_of, mutated
from pgsync.load.schema import inlined_schema
from pgsync.load.schemapredicate import compile_schema, equal, string_predicate

ROOT = Path(__file__).parents[2]
USES_A_SET = {
    "if": {"required": ["use"]},
    "then": {"maxProperties": 1},
    "else": {"required": ["name"]},
}
EXTENSIONS = {"patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": False}
NAN = float("nan")
BACKREFERENCES = {
    "patternProperties": {"(a)\\1": True, "(b)\\1": True},
    "additionalProperties": False,
}
TREE = {"$defs": {"tree": {"type": "array", "items": {"$ref": "#/$defs/tree"}}}}

# (schema, instance): each keyword at its edges, where Python and JSON disagree included.
CASES: list[tuple[Any, Any]] = [
    ({"type": "integer"}, 1.0),
    ({"type": "integer"}, 1.5),
    ({"type": "integer"}, True),
    ({"type": "number"}, False),
    ({"type": "number"}, 3),
    ({"type": ["string", "null"]}, None),
    ({"type": ["string", "null"]}, 0),
    ({"type": "object"}, []),
    ({"type": "array"}, {}),
    ({"enum": [1, "a"]}, True),
    ({"enum": [1, "a"]}, 1.0),
    ({"enum": [False]}, 0),
    ({"enum": [[1, True]]}, [1.0, True]),
    ({"enum": [{"a": 1}]}, {"a": True}),
    ({"enum": ["x", "y"]}, "y"),
    ({"enum": ["x", "y"]}, ["x"]),
    ({"const": None}, None),
    ({"const": 0}, False),
    ({"required": ["a"]}, {"b": 1}),
    ({"required": ["a"]}, "not an object"),
    ({"properties": {"a": {"type": "string"}}}, {"a": 1}),
    ({"properties": {"a": {"type": "string"}}}, {"b": 1}),
    ({"properties": {"a": True}, "additionalProperties": False}, {"a": 1, "b": 2}),
    ({"properties": {"a": True}, "additionalProperties": False}, {"a": 1}),
    ({"additionalProperties": {"type": "integer"}}, {"a": 1, "b": "x"}),
    (EXTENSIONS, {"x-a": "v"}),
    (EXTENSIONS, {"x-a": 1}),
    (EXTENSIONS, {"y": 1}),
    ({"propertyNames": {"pattern": "^[a-z]+$"}}, {"ok": 1, "Not": 2}),
    ({"propertyNames": {"not": {"enum": ["name"]}}}, {"name": 1}),
    ({"minProperties": 1}, {}),
    ({"maxProperties": 1}, {"a": 1, "b": 2}),
    ({"items": {"type": "string"}}, ["a", 1]),
    ({"items": {"type": "string"}}, "ab"),
    ({"minItems": 1}, []),
    ({"maxItems": 1}, [1, 2]),
    ({"uniqueItems": True}, [1, 1.0]),
    ({"uniqueItems": True}, [1, True]),
    ({"uniqueItems": True}, [NAN, NAN]),
    ({"uniqueItems": True}, [float("nan"), float("nan")]),
    ({"const": NAN}, NAN),
    ({"enum": [float("nan")]}, float("nan")),
    ({"minimum": 0}, NAN),
    ({"maximum": 0}, NAN),
    ({"type": "integer"}, NAN),
    (BACKREFERENCES, {"bb": 1}),
    (BACKREFERENCES, {"aa": 1}),
    ({"pattern": "b"}, "abc"),
    ({"pattern": "^b"}, "abc"),
    ({"pattern": "^b"}, 5),
    ({"minLength": 2}, "\U0001f600"),
    ({"maxLength": 1}, "\U0001f600"),
    ({"minimum": 0, "maximum": 100}, -1),
    ({"minimum": 0, "maximum": 100}, 100.0),
    ({"minimum": 0}, True),
    ({"minimum": 0}, "-1"),
    ({"not": {"type": "string"}}, "a"),
    (USES_A_SET, {"use": 1}),
    (USES_A_SET, {"use": 1, "x": 2}),
    (USES_A_SET, {"x": 2}),
    ({"then": False}, 1),
    ({"allOf": [{"type": "integer"}, {"minimum": 2}]}, 1),
    ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, None),
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 1),
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 1.5),
    ({"description": "only words", "format": "email"}, "not an email"),
    (False, None),
    (True, None),
    ({"$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}}, {"a": "x"}),
    ({**TREE, "$ref": "#/$defs/tree"}, [[[]], [[]]]),
    ({**TREE, "$ref": "#/$defs/tree"}, [[[]], [[1]]]),
]


@pytest.mark.parametrize(("schema", "instance"), CASES)
def test_the_verdict_is_jsonschemas_under_both_drafts(schema: Any, instance: Any) -> None:
    verdict = compile_schema(schema)(instance)
    assert verdict == Draft202012Validator(schema).is_valid(instance)
    assert verdict == Draft7Validator(schema).is_valid(instance)


@pytest.mark.parametrize(
    "schema",
    [
        {"contains": {"type": "string"}},
        {"items": [{"type": "string"}]},
        {"$ref": "#/$defs/a", "type": "string", "$defs": {"a": {}}},
        {"$ref": "https://example.com/schema"},
        {"nullable": True},
        {"type": "text"},
        {"$ref": "#/$defs/missing", "$defs": {}},
        {"$ref": "#/items/0", "items": [True]},
    ],
)
def test_a_keyword_it_cannot_judge_is_refused_when_compiled(schema: Any) -> None:
    with pytest.raises(ValueError):
        compile_schema(schema)


def test_the_shipped_schema_compiles() -> None:
    assert compile_schema(inlined_schema())({"organization": "acme", "policyGroups": []})


def test_true_is_not_one_but_one_is_one_point_oh() -> None:
    assert not equal(True, 1)
    assert equal(1, 1.0)
    assert equal({"a": [1]}, {"a": [1.0]})
    assert not equal([0], [False])


def _documents() -> list[Any]:
    """Every desired-state YAML file of the repository that parses as plain YAML."""
    found = []
    for path in sorted([*ROOT.glob("examples/**/*.yaml"), *ROOT.glob("tests/**/*.yaml")]):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError, ValueError):
            continue
        if isinstance(document, dict) and {"policyGroups", "organization"} & document.keys():
            found.append(document)
    return found


DOCUMENTS = _documents()
JSONSCHEMA = Draft202012Validator(inlined_schema())
ACCEPTS = compile_schema(inlined_schema())


def test_there_are_documents_of_both_verdicts() -> None:
    verdicts = {JSONSCHEMA.is_valid(document) for document in DOCUMENTS}
    assert verdicts == {True, False}


@pytest.mark.parametrize("index", range(len(DOCUMENTS)))
def test_every_file_of_the_repository_gets_jsonschemas_verdict(index: int) -> None:
    assert ACCEPTS(DOCUMENTS[index]) == JSONSCHEMA.is_valid(DOCUMENTS[index])


KEYS = keys_of(inlined_schema())


@settings(max_examples=400, deadline=None)
@given(st.integers(0, len(DOCUMENTS) - 1), st.integers(1, 3), st.data())
def test_a_mutated_file_gets_jsonschemas_verdict(
    start: int, mutations: int, data: st.DataObject
) -> None:
    document = DOCUMENTS[start]
    for _ in range(mutations):
        document = mutated(document, data, KEYS)
    assert ACCEPTS(document) == JSONSCHEMA.is_valid(document)


STACK_ITEMS = inlined_schema()["properties"]["policyGroups"]["items"]["properties"]["stacks"][
    "items"
]


@given(st.text(max_size=12) | st.sampled_from(["web/prod", "a/b/c", " /x", "p/s "]))
def test_a_string_is_judged_by_its_keywords_alone_as_jsonschema_judges_it(text: str) -> None:
    assert string_predicate(STACK_ITEMS)(text) == Draft202012Validator(STACK_ITEMS).is_valid(text)


def test_what_is_no_string_is_left_to_the_whole_check() -> None:
    valid_object = {"routingProject": "web", "name": "prod"}
    assert Draft202012Validator(STACK_ITEMS).is_valid(valid_object)
    assert not string_predicate(STACK_ITEMS)(valid_object)


@pytest.mark.parametrize(
    "schema", [{"type": "object"}, {"type": "string", "enum": ["a"]}, {"type": "string", "not": {}}]
)
def test_a_schema_that_says_more_of_strings_is_refused(schema: Any) -> None:
    with pytest.raises(ValueError):
        string_predicate(schema)
