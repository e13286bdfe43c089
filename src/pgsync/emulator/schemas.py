"""The real service's OpenAPI component schemas, as Draft 7 validators for request bodies."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

_OPENAPI = "openapi/pulumi-openapi-policygroups.json"


@cache
def _document() -> dict[str, Any]:
    text = files("pgsync.emulator").joinpath(_OPENAPI).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@cache
def validator(name: str) -> Draft7Validator:
    """A validator for one component schema, e.g. `NewPolicyGroupRequest`."""
    return Draft7Validator({**_document(), "$ref": f"#/components/schemas/{name}"})


@cache
def array_validator(name: str) -> Draft7Validator:
    """A validator for a JSON array whose every item is one component schema (batch bodies)."""
    return validator_for({"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}})


def validator_for(schema: dict[str, Any]) -> Draft7Validator:
    """A validator for `schema`, which may `$ref` the component schemas."""
    return Draft7Validator({**_document(), **schema})


def first_error(checker: Draft7Validator, instance: Any) -> str | None:
    """The most relevant violation as `at <JSON path>: <reason>`, or None when valid."""
    error = best_match(checker.iter_errors(instance))
    return None if error is None else f"at {error.json_path}: {error.message}"
