"""The packaged JSON Schema of desired-state files, and its violations in plain words."""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

SCHEMA_FILE = "policygroups.schema.json"

JsonPointer = tuple[str | int, ...]

_JSON_TYPES = {
    "array": "a list",
    "object": "a mapping",
    "string": "a string",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
    "null": "null",
}

# bool before int: a bool is an int in Python.
_PYTHON_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "true or false"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list, "a list"),
    (dict, "a mapping"),
)

_LEVELS = "advisory, mandatory, disabled, remediate"

# What each pattern of the schema means, for messages (a test checks that none is missing).
PATTERN_MESSAGES = {
    "^[A-Za-z0-9._-]{1,100}$": "expected a group name: 1 to 100 letters, digits, '-', '_' or '.'",
    "^[^/\\s]+/[^/\\s]+$": "expected a stack as 'project/stack'",
    "^[^/\\s]+$": "expected a name without '/' or spaces",
    "^(advisory|mandatory|disabled|remediate)$": f"expected one of {_LEVELS}",
}


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """One violation: the path it concerns, whether to point at that path's key, and why."""

    path: JsonPointer
    at_key: bool
    message: str


@functools.cache
def schema_text() -> str:
    """The schema file exactly as shipped (what `pgsync schema` prints)."""
    return (resources.files("pgsync") / "schemas" / SCHEMA_FILE).read_text(encoding="utf-8")


@functools.cache
def validator() -> Draft202012Validator:
    """A validator for the schema with its local `$ref`s inlined, built once.

    Following a `$ref` costs about as much as validating the value itself, per value; with
    100,000 stacks that doubles the time, so the validator gets a ref-free copy.
    """
    schema = json.loads(schema_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(_inline_refs(schema, schema.get("$defs", {})))


def check(instance: object) -> list[SchemaProblem]:
    """Every schema violation of a document, in plain words, without duplicates."""
    found: dict[SchemaProblem, None] = {}
    for error in validator().iter_errors(instance):
        found.update(dict.fromkeys(_explain(error)))
    return list(found)


def _inline_refs(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _inline_refs(value, defs) for key, value in node.items() if key != "$defs"}
    ref = result.pop("$ref", None)
    if ref is None:
        return result
    target = _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
    clash = (set(target) & set(result)) - {"description"}
    if clash:
        raise ValueError(f"cannot inline {ref}: both sides set {sorted(clash)}")
    return {**target, **result}


def _explain(error: ValidationError) -> list[SchemaProblem]:
    path = tuple(error.absolute_path)
    keyword = error.validator
    # Typed loosely by jsonschema: the keyword's value and the instance, as in the schema.
    expected: Any = error.validator_value
    value: Any = error.instance
    schema: Any = error.schema
    if keyword == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        return [
            SchemaProblem((*path, key), True, _unknown_key(key, allowed))
            for key in value
            if key not in allowed
        ]
    if keyword == "required":
        return [
            SchemaProblem(path, False, f"missing required key '{key}'")
            for key in expected
            if key not in value
        ]
    if keyword == "type":
        wanted = [expected] if isinstance(expected, str) else expected
        names = " or ".join(_JSON_TYPES[name] for name in wanted)
        return [SchemaProblem(path, False, f"expected {names}, got {_kind(value)}")]
    if keyword == "enum":
        choices = ", ".join(str(choice) for choice in expected)
        return [SchemaProblem(path, False, f"expected one of {choices}, got {_show(value)}")]
    if keyword == "pattern":
        meaning = PATTERN_MESSAGES.get(expected, f"expected text matching {expected}")
        return [SchemaProblem(path, False, f"{meaning}, got {_show(value)}")]
    if keyword == "minLength" and expected == 1:
        return [SchemaProblem(path, False, "must not be empty")]
    return [SchemaProblem(path, False, error.message)]


def _unknown_key(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f", did you mean '{close[0]}'?" if close else ""
    return f"unknown key '{key}'{hint} (allowed: {', '.join(allowed)})"


def _kind(value: object) -> str:
    return next((name for kind, name in _PYTHON_KINDS if isinstance(value, kind)), "null")


def _show(value: object, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
