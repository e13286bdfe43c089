"""The schema as a predicate gives jsonschema's own verdict, and refuses what it cannot judge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator, Draft202012Validator

from pgsync.load.schema import inlined_schema
from pgsync.load.schemapredicate import compile_schema, equal

ROOT = Path(__file__).parents[2]
USES_A_SET = {
    "if": {"required": ["use"]},
    "then": {"maxProperties": 1},
    "else": {"required": ["name"]},
}
EXTENSIONS = {"patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": False}
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


def _keys_of(schema: Any) -> set[str]:
    """Every property name the schema mentions: likely keys for a mutation."""
    if isinstance(schema, list):
        return set().union(*map(_keys_of, schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    names = set(schema.get("properties", {}))
    return names.union(*map(_keys_of, schema.values()))


KEYS = sorted(_keys_of(inlined_schema()))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 200),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "prod", "a/b", "mandatory", "advisory", "stacks", "audit", "x y", "env"]),
    st.text(max_size=5),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


def _mutated(document: Any, data: st.DataObject) -> Any:
    """`document` with one value somewhere replaced, removed or added."""
    if isinstance(document, dict) and document and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(document)))
        return {**document, key: _mutated(document[key], data)}
    if isinstance(document, list) and document and data.draw(st.booleans()):
        index = data.draw(st.integers(0, len(document) - 1))
        return [*document[:index], _mutated(document[index], data), *document[index + 1 :]]
    action = data.draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "remove" and isinstance(document, dict) and document:
        key = data.draw(st.sampled_from(sorted(document)))
        return {k: v for k, v in document.items() if k != key}
    if action == "remove" and isinstance(document, list) and document:
        return document[1:]
    if action == "add" and isinstance(document, dict):
        return {**document, data.draw(st.sampled_from(KEYS)): data.draw(values)}
    if action == "add" and isinstance(document, list):
        return [*document, data.draw(values)]
    return data.draw(values)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, len(DOCUMENTS) - 1), st.integers(1, 3), st.data())
def test_a_mutated_file_gets_jsonschemas_verdict(
    start: int, mutations: int, data: st.DataObject
) -> None:
    document = DOCUMENTS[start]
    for _ in range(mutations):
        document = _mutated(document, data)
    assert ACCEPTS(document) == JSONSCHEMA.is_valid(document)
