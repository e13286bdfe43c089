"""The service's component schemas, as Draft 7 checks of request bodies.

Each API generation validates against its own document: `current` against the schemas generated
from Pulumi's pulumi-cloud-sdk models (PATCH bodies widened where the service demonstrably
accepts more, see `_accepted_update`), `legacy` against the older OpenAPI subset of the
pulumi-pulumiservice provider (see openapi/NOTICE).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

from pgsync.emulator.state import Api
from pgsync.load.schemapredicate import compile_schema

_DOCUMENTS: dict[Api, str] = {
    "current": "openapi/pulumi-cloud-sdk-schemas.json",
    "legacy": "openapi/pulumi-openapi-policygroups.json",
}
_REF = "#/components/schemas/"
# What the current service accepts in a PATCH beyond the SDK's UpdatePolicyGroupRequest:
ACCEPTED_UPDATE = "AcceptedUpdatePolicyGroupRequest"
_PACK_REFERENCE = "AcceptedPolicyPackReference"


def _accepted_update(sdk: dict[str, Any]) -> dict[str, Any]:
    """The SDK's UpdatePolicyGroupRequest as the service really reads it.

    - addPolicyPack / removePolicyPack need only the pack's identity, name and versionTag: the
      service derives version and displayName itself, and the Pulumi CLI's `policy enable` /
      `policy disable` send neither (pulumi/pulumi pkg/backend/httpstate/client/client.go).
    - The whole-list fields of the CLI's `policy group edit` (sdk/go/common/apitype/policy.go):
      `stacks` (stack references), `policyPacks` (pack metadata of which only the name is
      required: a bare name means the latest version, as seen against the real service) and
      `insightsAccounts` (plain account names).
    """
    pack = {"$ref": _REF + _PACK_REFERENCE}
    whole_list_pack = {**sdk["AppPolicyPackMetadata"], "required": ["name"]}
    update: dict[str, Any] = copy.deepcopy(sdk["UpdatePolicyGroupRequest"])
    update["properties"].update(
        {
            "addPolicyPack": pack,
            "removePolicyPack": pack,
            "stacks": {"type": "array", "items": {"$ref": _REF + "AppPulumiStackReference"}},
            "policyPacks": {"type": "array", "items": whole_list_pack},
            "insightsAccounts": {"type": "array", "items": {"type": "string"}},
        }
    )
    return update


@cache
def _document(api: Api) -> dict[str, Any]:
    text = files("pgsync.emulator").joinpath(_DOCUMENTS[api]).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    components = document["components"]["schemas"]
    if api == "current":
        components[_PACK_REFERENCE] = {
            **components["AppPolicyPackMetadata"],
            "required": ["name", "versionTag"],
        }
        components[ACCEPTED_UPDATE] = _accepted_update(components)
    else:
        # The older document types account references twice: {name} in its base schema and the
        # full InsightsAccount in an override. The older service took {name}, which the Pulumi
        # provider has always sent (API spec, "Update"), so the base schema's reading stands.
        override = components["UpdatePolicyGroupRequest"]["allOf"][1]["properties"]
        for key in ("addInsightsAccount", "removeInsightsAccount"):
            override[key] = {"$ref": _REF + "AppInsightsAccountReference"}
    return document


class BodySchema:
    """A schema's verdict on a body, and jsonschema's words for what it refuses.

    The verdict comes from a compiled predicate: under the server's lock, jsonschema spent
    some 6 ms on each batch of 195 stack adds, and the batches of concurrent writers waited
    for one another.
    """

    def __init__(self, schema: dict[str, Any], document: dict[str, Any]) -> None:
        self.accepts = compile_schema(schema, root=document)
        self.validator = Draft7Validator({**document, **schema})

    def first_error(self, instance: Any) -> str | None:
        """The most relevant violation as `at <JSON path>: <reason>`, or None when valid."""
        if self.accepts(instance):
            return None
        error = best_match(self.validator.iter_errors(instance))
        return None if error is None else f"at {error.json_path}: {error.message}"


@cache
def validator(name: str, api: Api = "current") -> BodySchema:
    """The check of one component schema, e.g. `NewPolicyGroupRequest`."""
    return validator_for({"$ref": _REF + name}, api)


@cache
def update_validator(api: Api, *, batch: bool) -> BodySchema:
    """PATCH bodies: one update object, or (`batch`) a JSON array of them.

    The current service reads them as ACCEPTED_UPDATE; the legacy one as the older document's
    UpdatePolicyGroupRequest (whose whole-list fields the state's rules refuse).
    """
    name = ACCEPTED_UPDATE if api == "current" else "UpdatePolicyGroupRequest"
    item = {"$ref": _REF + name}
    return validator_for({"type": "array", "items": item} if batch else item, api)


def validator_for(schema: dict[str, Any], api: Api = "current") -> BodySchema:
    """The check of `schema`, which may `$ref` the component schemas of `api`."""
    document = _document(api)
    return BodySchema(_inlined(schema, document["components"]["schemas"]), document)


def _inlined(node: Any, components: dict[str, Any], within: tuple[str, ...] = ()) -> Any:
    """`node` with each `$ref` replaced by its schema, except where a schema refers to itself.

    Following a `$ref` costs jsonschema about as much as checking the value, for every value:
    a batch of 200 stack adds took 2.4 times as long with them, under the server's lock.
    """
    if isinstance(node, list):
        return [_inlined(item, components, within) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) == 1 and ref.startswith(_REF):
        name = ref.removeprefix(_REF)
        if name in within:
            return node
        return _inlined(components[name], components, (*within, name))
    return {key: _inlined(value, components, within) for key, value in node.items()}
