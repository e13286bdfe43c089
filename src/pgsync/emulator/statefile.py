"""The emulator's state file: what writes and test controls change, as JSON, across restarts."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pgsync.emulator import matchrules, schemas
from pgsync.emulator.fixture import Fixture, FixtureError, check_parent
from pgsync.emulator.state import APIS, RULE_ENTITIES, Account, AppliedPack, Group, Org, State
from pgsync.emulator.views import group_view
from pgsync.files import replace_file

# {"formatVersion": 2, "api": API, "organizations": {ORG: {
#     "features": {"matchRules": BOOL},
#     "stacks": {"project/stack": {"tags": {...}}},
#     "accounts": {NAME: {"tags": {...}, "parent": NAME}},
#     "policyGroups": [GROUP, ...]}}}
# Each GROUP as GET /policygroups/{name} returns it, but with only the explicit `accounts`. Which
# stacks, packs and accounts exist always comes from the fixture; version 1 files (the groups
# only) are read too.
FORMAT_VERSION = 2
_TAGS = {"type": "object", "additionalProperties": {"type": "string"}}
_FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["formatVersion", "organizations"],
    "properties": {
        "formatVersion": {"enum": [1, FORMAT_VERSION]},
        "api": {"enum": list(APIS)},
        "organizations": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["policyGroups"],
                "properties": {
                    "features": {
                        "type": "object",
                        "properties": {"matchRules": {"type": "boolean"}},
                    },
                    "stacks": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "properties": {"tags": _TAGS},
                        },
                    },
                    "accounts": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "properties": {"tags": _TAGS, "parent": {"type": "string"}},
                        },
                    },
                    "policyGroups": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/PolicyGroup"},
                    },
                },
            },
        },
    },
}


def state_document(state: State) -> dict[str, Any]:
    """The JSON document of a state file."""
    return {
        "formatVersion": FORMAT_VERSION,
        "api": state.api,
        "organizations": {
            org.name: _org_document(org)
            for org in sorted(state.orgs.values(), key=lambda o: o.name)
        },
    }


def _org_document(org: Org) -> dict[str, Any]:
    return {
        "features": {"matchRules": org.match_rules},
        "stacks": {
            f"{project}/{stack}": {"tags": dict(entry.tags)}
            for (project, stack), entry in sorted(org.stacks.items())
        },
        "accounts": {name: _account_document(org.accounts[name]) for name in sorted(org.accounts)},
        "policyGroups": [
            {**group_view(org, org.groups[n]), "accounts": sorted(org.groups[n].accounts)}
            for n in sorted(org.groups)
        ],
    }


def _account_document(account: Account) -> dict[str, Any]:
    document: dict[str, Any] = {"tags": dict(account.tags)}
    if account.parent is not None:
        document["parent"] = account.parent
    return document


def write_state_file(path: Path, state: State) -> None:
    """Write the state file whole or not at all: a reader never sees half of it.

    A new one is readable by its owner only: it holds every config value sent, secrets too.
    """
    text = json.dumps(state_document(state), indent=2, sort_keys=True) + "\n"
    replace_file(path, text, mode=0o600)


def check_state_path(path: Path) -> None:
    """Refuse a state file that no write could save: before serving, not at the first write."""
    directory = path.parent
    if not directory.is_dir():
        message = f"cannot write the state file: directory {directory} does not exist"
        raise FixtureError(str(path), message)
    if not os.access(directory, os.W_OK):
        message = f"cannot write the state file: no permission to write in {directory}"
        raise FixtureError(str(path), message)


def read_state_file(path: Path, fixture: Fixture) -> State:
    """The fixture's state with what the file records (api, tags, groups...) put over it."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise FixtureError(str(path), f"cannot read the state file: {error.strerror}") from None
    except json.JSONDecodeError as error:
        where = f"{path}:{error.lineno}:{error.colno}"
        raise FixtureError(where, f"the state file is not JSON: {error.msg}") from None
    except ValueError as error:
        raise FixtureError(str(path), f"cannot read the state file: {error}") from None
    problem = schemas.validator_for(_FILE_SCHEMA).first_error(document)
    if problem is not None:
        raise FixtureError(str(path), f"not an emulator state file {problem}")
    state = fixture.new_state()
    state.set_api(document.get("api", state.api))
    for org_name, content in document["organizations"].items():
        if org_name not in state.orgs:
            raise FixtureError(str(path), f"organization '{org_name}' is not in the fixture")
        _restore(state.orgs[org_name], content, str(path))
    return state


def _restore(org: Org, content: Mapping[str, Any], file: str) -> None:
    whose = f"organization '{org.name}'"
    org.match_rules = content.get("features", {}).get("matchRules", org.match_rules)
    for ref, entry in content.get("stacks", {}).items():
        project, _, name = ref.partition("/")
        if (project, name) not in org.stacks:
            raise FixtureError(file, f"{whose}: stack '{ref}' is not in the fixture")
        org.stacks[project, name].tags = dict(entry.get("tags", {}))
    for name, entry in content.get("accounts", {}).items():
        if name not in org.accounts:
            raise FixtureError(file, f"{whose}: account '{name}' is not in the fixture")
        org.accounts[name].tags = dict(entry.get("tags", {}))
        org.accounts[name].parent = entry.get("parent")
    for name in org.accounts:
        problem = check_parent(org, name)
        if problem is not None:
            raise FixtureError(file, f"{whose}: {problem}")
    org.groups = {view["name"]: _group(view, file, whose) for view in content["policyGroups"]}
    org.ensure_default_groups()


def _group(view: Mapping[str, Any], file: str, whose: str) -> Group:
    for key, entity in RULE_ENTITIES.items():
        if key in view:
            problem = matchrules.problem(view[key], entity, root=f"$.{key}")
            if problem is not None:
                raise FixtureError(file, f"{whose}: group '{view['name']}' {problem}")
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
        stack_rule=view.get("stackMatchRule"),
        account_rule=view.get("accountMatchRule"),
    )
