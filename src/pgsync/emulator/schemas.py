"""The service's component schemas, as Draft 7 validators for request bodies.

Each API generation validates against its own document: `current` against the schemas generated
from Pulumi's pulumi-cloud-sdk models, `legacy` against the older OpenAPI subset of the
pulumi-pulumiservice provider (see openapi/NOTICE).
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

from pgsync.emulator.state import Api

_DOCUMENTS: dict[Api, str] = {
    "current": "openapi/pulumi-cloud-sdk-schemas.json",
    "legacy": "openapi/pulumi-openapi-policygroups.json",
}
_REF = "#/components/schemas/"
# The whole-list fields that the Pulumi CLI's `policy group edit` sends in a plain PATCH and the
# SDK's UpdatePolicyGroupRequest lacks (pulumi/pulumi sdk/go/common/apitype/policy.go): stack
# references, pack metadata of which only the name is required (the service resolves the
# version), and Insights accounts as plain names.
_WHOLE_LISTS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "stacks": {"type": "array", "items": {"$ref": _REF + "AppPulumiStackReference"}},
        "policyPacks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "displayName": {"type": "string"},
                    "version": {"type": "integer"},
                    "versionTag": {"type": "string"},
                    "config": {"type": "object"},
                    "environments": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "insightsAccounts": {"type": "array", "items": {"type": "string"}},
    },
}


@cache
def _document(api: Api) -> dict[str, Any]:
    text = files("pgsync.emulator").joinpath(_DOCUMENTS[api]).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@cache
def validator(name: str, api: Api = "current") -> Draft7Validator:
    """A validator for one component schema, e.g. `NewPolicyGroupRequest`."""
    return validator_for({"$ref": _REF + name}, api)


@cache
def update_validator(api: Api, *, batch: bool) -> Draft7Validator:
    """PATCH bodies: one UpdatePolicyGroupRequest, or (`batch`) a JSON array of them.

    The current service also takes the CLI's whole-list fields; on the legacy one they are part
    of the older document's schema (and refused by the state's rules).
    """
    item: dict[str, Any] = {"$ref": _REF + "UpdatePolicyGroupRequest"}
    if api == "current":
        item = {"allOf": [item, _WHOLE_LISTS]}
    return validator_for({"type": "array", "items": item} if batch else item, api)


def validator_for(schema: dict[str, Any], api: Api = "current") -> Draft7Validator:
    """A validator for `schema`, which may `$ref` the component schemas of `api`."""
    return Draft7Validator({**_document(api), **schema})


def first_error(checker: Draft7Validator, instance: Any) -> str | None:
    """The most relevant violation as `at <JSON path>: <reason>`, or None when valid."""
    error = best_match(checker.iter_errors(instance))
    return None if error is None else f"at {error.json_path}: {error.message}"
