"""The emulator's state file: every org's policy groups as JSON, so it survives restarts."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pgsync.emulator import schemas
from pgsync.emulator.fixture import Fixture, FixtureError
from pgsync.emulator.state import AppliedPack, Group, State
from pgsync.emulator.views import group_view

# {"formatVersion": 1, "organizations": {ORG: {"policyGroups": [GROUP, ...]}}}, each GROUP as
# GET /policygroups/{name} returns it. The catalog (stacks, packs, accounts) always comes from
# the fixture; only the groups come from the file.
FORMAT_VERSION = 1
_FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["formatVersion", "organizations"],
    "properties": {
        "formatVersion": {"const": FORMAT_VERSION},
        "organizations": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["policyGroups"],
                "properties": {
                    "policyGroups": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/PolicyGroup"},
                    }
                },
            },
        },
    },
}


def state_document(state: State) -> dict[str, Any]:
    """The JSON document of a state file."""
    return {
        "formatVersion": FORMAT_VERSION,
        "organizations": {
            org.name: {"policyGroups": [group_view(org, org.groups[n]) for n in sorted(org.groups)]}
            for org in sorted(state.orgs.values(), key=lambda o: o.name)
        },
    }


def write_state_file(path: Path, state: State) -> None:
    """Write the state file atomically (temp file + rename): a reader never sees half of it."""
    text = json.dumps(state_document(state), indent=2, sort_keys=True) + "\n"
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def read_state_file(path: Path, fixture: Fixture) -> State:
    """The fixture's state with the groups of every org the file lists replaced by the file's."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise FixtureError(f"{path}: cannot read the state file: {error}") from None
    problem = schemas.first_error(schemas.validator_for(_FILE_SCHEMA), document)
    if problem is not None:
        raise FixtureError(f"{path}: not an emulator state file {problem}")
    state = fixture.new_state()
    for org_name, content in document["organizations"].items():
        if org_name not in state.orgs:
            raise FixtureError(f"{path}: organization '{org_name}' is not in the fixture")
        org = state.orgs[org_name]
        org.groups = {view["name"]: _group(view) for view in content["policyGroups"]}
        org.ensure_default_groups()
    return state


def _group(view: Mapping[str, Any]) -> Group:
    return Group(
        name=view["name"],
        entity_type=view["entityType"],
        mode=view["mode"],
        is_org_default=view["isOrgDefault"],
        agent_pool_id=view.get("agentPoolId", ""),
        stacks={(s["routingProject"], s["name"]) for s in view["stacks"]},
        accounts=set(view["accounts"]),
        packs={
            p["name"]: AppliedPack(
                p["name"], p["versionTag"], p.get("config", {}), p.get("environments", [])
            )
            for p in view["appliedPolicyPacks"]
        },
    )
