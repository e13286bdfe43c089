"""The emulator's vendored SDK schemas agree with the installed pulumi-cloud-sdk.

`src/pgsync/emulator/openapi/pulumi-cloud-sdk-schemas.json` is generated from the SDK's models by
`generate()` below; run this file (`python tests/emulator/test_emulator_sdk_schemas.py`) to
rewrite it after the SDK pin moves. The emulator itself never imports the SDK.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import re
import sys
from enum import Enum
from pathlib import Path
from typing import Any

from pulumi_cloud_sdk import models

VENDORED = (
    Path(__file__).parents[2]
    / "src"
    / "pgsync"
    / "emulator"
    / "openapi"
    / "pulumi-cloud-sdk-schemas.json"
)
# The request bodies the emulator validates and the response bodies its tests check.
ROOTS = (
    "NewPolicyGroupRequest",
    "UpdatePolicyGroupRequest",
    "PreviewStackMatchRuleRequest",
    "PreviewAccountMatchRuleRequest",
    "PolicyGroup",
    "AppListPolicyGroupsResponse",
    "PolicyGroupMetadata",
    "ListPolicyGroupStacksResponse",
    "ListPolicyGroupAccountsResponse",
    "PreviewStackMatchRuleResponse",
    "PreviewAccountMatchRuleResponse",
    "AppListPolicyPacksResponse",
    "AppGetPolicyPackResponse",
    "AppListStacksResponse",
    "AppStack",
    "ListInsightsAccountsResponse",
)
_PRIMITIVES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "Any": {},
    "object": {},
}
SDK = "pulumi-cloud-sdk"


def generate() -> dict[str, Any]:
    """The component schemas of ROOTS and everything they reference, from the SDK's models."""
    schemas: dict[str, Any] = {}
    for name in ROOTS:
        _visit(name, schemas)
    version = importlib.metadata.version(SDK)
    return {
        "$comment": (
            f"JSON schemas generated from the models of Pulumi's {SDK} {version} "
            "(https://pypi.org/project/pulumi-cloud-sdk/, Apache-2.0, Copyright Pulumi "
            "Corporation) by tests/emulator/test_emulator_sdk_schemas.py; see NOTICE. "
            "A model's required fields are its constructor's parameters without a default. "
            "A polymorphic reference "
            "admits every __type of its hierarchy, as the SDK's deserializer does. Validate with a "
            "Draft 7 validator on {**this, '$ref': '#/components/schemas/<Name>'}."
        ),
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def _visit(name: str, schemas: dict[str, Any]) -> None:
    if name in schemas:
        return
    cls = getattr(models, name)
    if issubclass(cls, Enum):
        schemas[name] = {"type": "string", "enum": [member.value for member in cls]}
        return
    if hasattr(cls, "DISCRIMINATOR"):
        subtypes = sorted(sub.__DISCRIMINATOR_VALUE__ for sub in cls.get_concrete_subtypes())
        schemas[name] = {
            "type": "object",
            "required": [cls.DISCRIMINATOR],
            "properties": {cls.DISCRIMINATOR: {"type": "string", "enum": subtypes}},
        }
        return
    schemas[name] = {}  # a placeholder that stops recursion through self-references
    parameters = inspect.signature(cls.__init__).parameters
    properties: dict[str, Any] = {}
    required: list[str] = []
    for attr, type_text in cls.__swagger_types__.items():
        wire = cls.__attribute_map__[attr]
        properties[wire] = _type(type_text, schemas)
        parameter = parameters.get(attr)
        if parameter is not None and parameter.default is inspect.Parameter.empty:
            required.append(wire)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = sorted(required)
    schemas[name] = schema


def _type(text: str, schemas: dict[str, Any]) -> dict[str, Any]:
    if text in _PRIMITIVES:
        return dict(_PRIMITIVES[text])
    if match := re.fullmatch(r"list\[(.*)\]", text):
        return {"type": "array", "items": _type(match.group(1), schemas)}
    if match := re.fullmatch(r"dict\[str, (.*)\]", text):
        return {"type": "object", "additionalProperties": _type(match.group(1), schemas)}
    _visit(text, schemas)
    return {"$ref": f"#/components/schemas/{text}"}


def test_vendored_schemas_are_what_the_installed_sdk_generates() -> None:
    assert json.loads(VENDORED.read_text(encoding="utf-8")) == generate(), (
        "the SDK's models changed: run python tests/emulator/test_emulator_sdk_schemas.py "
        "and review"
    )


def test_the_sdk_is_the_pinned_version() -> None:
    assert importlib.metadata.version(SDK) == "2026.10.26-post1126"


if __name__ == "__main__":
    VENDORED.write_text(json.dumps(generate(), indent=1) + "\n", encoding="utf-8")
    sys.exit(0)
