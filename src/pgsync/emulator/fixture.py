"""Emulator fixtures: a YAML description of organizations → the emulator's initial state.

The format (only `organizations` is required):

    api: current                  # the service generation: current (default) or legacy (see
                                  #   state.py); EmulatorServer(api=...) overrides it
    token: secret-token           # the token to require; EmulatorServer(token=...) overrides it
    faults:                       # random faults (FaultMix); EmulatorServer(faults=...) and the
      rate: 0.2                   #   CLI flags override it. Each request fails with this chance,
      kinds: [429, 503, reset]    # of a kind drawn from these (default: all; see faults.py),
      seed: 7                     # reproducibly for a given request sequence (default 0)
      latency: 0.05               # seconds before every answer (default 0),
      jitter: 0.02                #   ± up to this much, uniformly (default 0)
      retryAfter: 1               # the Retry-After of a 429, in seconds (default 1)
      slowBodySeconds: 1          # slow-body: the pause before each piece of the body (default 1)
      hangSeconds: 35             # timeout: how long the answer is held back (default 35)
    organizations:
      acme:
        features: {matchRules: true}          # false: the match-rule preview is off (403)
        defaultGroups:                        # the names of the default groups; these are the
          preventative: default-policy-group  #   defaults, the newer product names them
          audit: default-accounts-policy-group  # default-preventative/audit-policy-group
        stacks:                   # "project/stack", or {name: "project/stack", resourceCount: N,
          - payments/prod         #   tags: {k: v}, lastUpdate: UNIX-SECONDS}
        policyPacks:
          - name: aws-guardrails
            displayName: AWS Guardrails       # default: the name
            versionTags: ["1.0.0", "1.3.0"]   # the published versions, numbered 1..n
            policies:                         # listed by GET .../versions/{n}, for every n
              - {name: s3-no-public-read, enforcementLevel: mandatory}
        accounts:                 # Insights accounts: any InsightsAccount field may be given;
          - name: aws-prod        # id, ownedBy and scheduledScanEnabled (true) are generated
            provider: aws         # when absent; resourceCount only feeds the metadata endpoint
            resourceCount: 120
            tags: {env: prod}     # what account match rules see
          - name: aws-prod/eu     # a child account: named <parent>/<something>; a group that
            provider: aws         #   holds the parent holds it too (current service)
            parent: aws-prod
        policyGroups:             # the groups that exist at start
          - name: prod
            entityType: stacks                # default stacks (unlike the API's create, which
            mode: preventative                #   derives it from mode); mode: per entity type
            agentPoolId: pool-1
            stacks: [payments/prod]
            accounts: []                      # audit groups (legacy: accounts groups) only
            stackMatchRule: {...}             # current only: the API's rule objects
            accountMatchRule: {...}           #   (audit groups only)
            policyPacks:                      # an unpublished versionTag is kept verbatim
              - name: aws-guardrails
                versionTag: "1.0.0"
                config: {all: {enforcementLevel: mandatory}}
                environments: []

Groups are built through the same rules as API writes, so unknown stacks, packs or accounts
and invalid rules are errors. Both default groups always exist; list them to give them packs, an
agent pool, rules or explicit members (their entityType and mode cannot change). Default
membership is decided once, at load time: unless the fixture gives `stacks` for the preventative
default group, it holds every stack that no other group holds (explicitly or by rule); likewise
`accounts` for the audit default group. After load, stacks and accounts join or leave groups only
through writes and through rules as tags change.
"""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match

from pgsync.core.errors import InputError
from pgsync.core.masking import JsonPointer
from pgsync.emulator import schemas
from pgsync.emulator.faults import FIXTURE_SCHEMA as FAULTS_SCHEMA
from pgsync.emulator.faults import FaultMix, mix_from_fixture
from pgsync.emulator.state import (
    APIS,
    DEFAULT_GROUP_NAMES,
    DEFAULT_LAST_UPDATE,
    Account,
    Api,
    CatalogPack,
    HttpError,
    Org,
    Stack,
    State,
)
from pgsync.load.yamlnodes import load_yaml


def _list_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


_NAME: dict[str, Any] = {"type": "string", "minLength": 1}
_STACK: dict[str, Any] = {"type": "string", "pattern": "^[^/]+/[^/]+$"}
_TAGS: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
_RULE: dict[str, Any] = {"type": "object"}
_FIXTURE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["organizations"],
    "properties": {
        "api": {"enum": list(APIS)},
        "token": _NAME,
        "faults": FAULTS_SCHEMA,
        "organizations": {"type": "object", "additionalProperties": {"$ref": "#/definitions/org"}},
    },
}
_DEFINITIONS: dict[str, Any] = {
    "org": {
        "type": ["object", "null"],
        "additionalProperties": False,
        "properties": {
            "features": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"matchRules": {"type": "boolean"}},
            },
            "defaultGroups": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"preventative": _NAME, "audit": _NAME},
            },
            "stacks": _list_of(
                {
                    "oneOf": [
                        _STACK,
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["name"],
                            "properties": {
                                "name": _STACK,
                                "resourceCount": {"type": "integer", "minimum": 0},
                                "tags": _TAGS,
                                "lastUpdate": {"type": "integer", "minimum": 0},
                            },
                        },
                    ]
                }
            ),
            "policyPacks": _list_of({"$ref": "#/definitions/pack"}),
            "accounts": _list_of({"$ref": "#/definitions/account"}),
            "policyGroups": _list_of({"$ref": "#/definitions/group"}),
        },
    },
    "pack": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "versionTags"],
        "properties": {
            "name": _NAME,
            "displayName": _NAME,
            "versionTags": {**_list_of(_NAME), "uniqueItems": True},
            "policies": _list_of(
                {"type": "object", "required": ["name"], "properties": {"name": _NAME}}
            ),
        },
    },
    "account": {
        "type": "object",
        "required": ["name", "provider"],
        "properties": {
            "name": _NAME,
            "resourceCount": {"type": "integer", "minimum": 0},
            "tags": _TAGS,
            "parent": _NAME,
        },
    },
    "group": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": _NAME,
            "entityType": {"enum": ["stacks", "accounts"]},
            "mode": {"enum": ["audit", "preventative"]},
            "agentPoolId": {"type": "string"},
            "stacks": _list_of(_STACK),
            "accounts": _list_of(_NAME),
            "stackMatchRule": _RULE,
            "accountMatchRule": _RULE,
            "policyPacks": _list_of(
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "versionTag"],
                    "properties": {
                        "name": _NAME,
                        "versionTag": _NAME,
                        "config": {"type": "object", "additionalProperties": {"type": "object"}},
                        "environments": _list_of({"type": "string"}),
                    },
                }
            ),
        },
    },
}
# The keys of a fixture account that are the emulator's, not InsightsAccount fields.
_ACCOUNT_EXTRAS = ("resourceCount", "tags", "parent")
_OWNER = {
    "name": "Emulated Owner",
    "githubLogin": "emulated-owner",
    "avatarUrl": "https://example.com/avatars/emulated-owner.png",
}


class FixtureError(ValueError):
    """A fixture or state file that cannot be loaded: where (`file:line:col`, or the file, or
    the file and a path in its data) and why."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class _Refused(Exception):
    """A problem at a path in the fixture's data; the loader says where that is."""

    def __init__(
        self, path: JsonPointer, message: str, *, key: bool = False, quotable: bool = False
    ) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        # An unknown key is shown where the key is written, not where its value starts.
        self.key = key
        # A number or true/false where a string is wanted: quoting it is the fix.
        self.quotable = quotable


@dataclass(frozen=True)
class Fixture:
    """A loaded fixture: the initial state, and the token and fault mix it asks for, if any."""

    state: State
    token: str | None = None
    faults: FaultMix | None = None

    def new_state(self) -> State:
        """A fresh copy of the initial state, so that servers never share mutations."""
        return copy.deepcopy(self.state)


def load_fixture(path: str | os.PathLike[str]) -> Fixture:
    """The fixture in a YAML file; a problem in it is a FixtureError at its `file:line:col`."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise FixtureError(str(path), f"cannot read the fixture: {error.strerror}") from None
    return _parse(data, str(path))


def demo_fixture() -> Fixture:
    """The packaged demo organization `acme` (fixtures/demo.yaml) of `pgsync demo`."""
    data = files("pgsync.emulator").joinpath("fixtures/demo.yaml").read_bytes()
    return _parse(data, "demo.yaml")


def fixture_from_dict(data: Any, source: str = "<fixture>") -> Fixture:
    """The fixture described by already-parsed YAML (or JSON) data; a problem in it is a
    FixtureError that names the path, e.g. `organizations.acme.policyGroups[0]`."""
    try:
        return _fixture(data)
    except _Refused as refused:
        where = f"{source}: {_dotted(refused.path)}" if refused.path else source
        hint = " (quote it to make it a string)" if refused.quotable else ""
        raise FixtureError(where, refused.message + hint) from None


def _parse(data: bytes, source: str) -> Fixture:
    try:
        document = load_yaml(data, source)
    except InputError as error:
        raise FixtureError(str(error.problem.location), error.problem.message) from None
    if document.problems:
        first = min(document.problems)
        raise FixtureError(str(first.location), first.message)
    try:
        return _fixture(document.value)
    except _Refused as refused:
        at = document.key_at if refused.key else document.at
        message = refused.message
        if refused.quotable:
            written = document.written.get(refused.path)
            # The token's text is not shown, even when it is not a string.
            shown = written is not None and refused.path != ("token",)
            message += f'; quote it: "{written}"' if shown else " (quote it to make it a string)"
        raise FixtureError(str(at(refused.path)), message) from None


def _fixture(data: Any) -> Fixture:
    checker = Draft7Validator({**_FIXTURE_SCHEMA, "definitions": _DEFINITIONS})
    error = best_match(checker.iter_errors(data))
    if error is not None:
        raise _schema_problem(error)
    api: Api = data.get("api", "current")
    orgs = {
        str(name): _org(str(name), spec or {}, ("organizations", name), api)
        for name, spec in data["organizations"].items()
    }
    faults = mix_from_fixture(data["faults"]) if "faults" in data else None
    return Fixture(State(orgs, api), data.get("token"), faults)


_KINDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


def _schema_problem(error: ValidationError) -> _Refused:
    """The schema violation said in the fixture's terms: keys, mappings and lists."""
    path = tuple(error.absolute_path)
    # jsonschema types these as "or unset"; a reported error has all of them.
    instance: Any = error.instance
    schema: Any = error.schema
    rule: Any = error.validator_value
    if error.validator == "additionalProperties":
        known = schema.get("properties", {})
        unknown = next(key for key in instance if key not in known)
        message = f"unknown key '{unknown}' (known: {', '.join(sorted(known))})"
        return _Refused((*path, unknown), message, key=True)
    if error.validator == "required":
        missing = next(key for key in rule if key not in instance)
        return _Refused(path, f"missing key '{missing}'")
    if error.validator == "pattern" and rule == _STACK["pattern"]:
        return _Refused(path, f"'{instance}' is not a stack: write it as project/stack")
    wanted = _wanted_types(error)
    if wanted:
        quotable = "string" in wanted and isinstance(instance, bool | int | float)
        return _Refused(path, _wrong_type(wanted, instance), quotable=quotable)
    return _Refused(path, error.message)


def _wanted_types(error: ValidationError) -> list[str]:
    """The JSON types the schema wanted when the value has none of them, else none."""
    if error.validator == "type":
        value: Any = error.validator_value
        return [value] if isinstance(value, str) else list(value)
    branches = error.context or []
    if error.validator not in ("oneOf", "anyOf") or not branches:
        return []
    if not all(branch.validator == "type" and not branch.relative_path for branch in branches):
        return []
    return list(dict.fromkeys(kind for branch in branches for kind in _wanted_types(branch)))


def _wrong_type(wanted: list[str], value: Any) -> str:
    # The value itself is not shown: it may be the fixture's token.
    return f"expected {' or '.join(_KINDS[kind] for kind in wanted)}, not {_kind_of(value)}"


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return _KINDS["boolean"]
    if isinstance(value, int):
        return _KINDS["number"]
    if isinstance(value, float):
        return "a number with a fraction"
    kinds = {dict: "object", list: "array", str: "string", type(None): "null"}
    return _KINDS[kinds[type(value)]]


def _dotted(path: JsonPointer) -> str:
    """`organizations.acme.policyGroups[0]`, as the fixture's own keys spell it."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.removeprefix(".")


def _org(name: str, spec: Mapping[str, Any], path: JsonPointer, api: Api) -> Org:
    stack_entries: list[Mapping[str, Any]] = [
        {"name": s} if isinstance(s, str) else s for s in spec.get("stacks", [])
    ]
    for what, entries in (
        ("stacks", stack_entries),
        ("policyPacks", spec.get("policyPacks", [])),
        ("accounts", spec.get("accounts", [])),
        ("policyGroups", spec.get("policyGroups", [])),
    ):
        _refuse_duplicates((e["name"] for e in entries), (*path, what))
    default_groups = {**DEFAULT_GROUP_NAMES, **spec.get("defaultGroups", {})}
    if default_groups["preventative"] == default_groups["audit"]:
        raise _Refused((*path, "defaultGroups"), "the two default groups need two names")
    org = Org(
        name,
        stacks={_stack_key(e["name"]): _stack(e) for e in stack_entries},
        packs={
            p["name"]: CatalogPack(
                p["name"], p.get("displayName", p["name"]), p["versionTags"], p.get("policies", [])
            )
            for p in spec.get("policyPacks", [])
        },
        accounts={
            a["name"]: _account(name, a, (*path, "accounts", index))
            for index, a in enumerate(spec.get("accounts", []))
        },
        api=api,
        match_rules=spec.get("features", {}).get("matchRules", True),
        default_groups=default_groups,
    )
    for mode, group_name in default_groups.items():
        try:
            org.check_name(group_name)
        except HttpError as error:
            raise _Refused((*path, "defaultGroups", mode), error.message) from None
    _check_parents(org, (*path, "accounts"))
    groups = spec.get("policyGroups", [])
    for index, group in enumerate(groups):
        _add_group(org, group, (*path, "policyGroups", index))
    listed = {group["name"]: group for group in groups}
    stacks_default, accounts_default = default_groups["preventative"], default_groups["audit"]
    others = [g for g in org.groups.values() if not g.is_org_default]
    if "stacks" not in listed.get(stacks_default, {}):
        held_stacks = {s for g in others for s in org.stack_members(g)}
        org.groups[stacks_default].stacks = set(org.stacks) - held_stacks
    if "accounts" not in listed.get(accounts_default, {}):
        held_accounts = {a for g in others for a in org.account_members(g)}
        org.groups[accounts_default].accounts = set(org.accounts) - held_accounts
    return org


def _stack(spec: Mapping[str, Any]) -> Stack:
    return Stack(
        spec.get("resourceCount", 0),
        dict(spec.get("tags", {})),
        spec.get("lastUpdate", DEFAULT_LAST_UPDATE),
    )


def check_parent(org: Org, name: str) -> str | None:
    """What is wrong with account `name`'s parent, or None: the parent must exist, not be a
    child itself, and the child be named `<parent>/<something>`."""
    parent = org.accounts[name].parent
    if parent is None:
        return None
    if parent not in org.accounts:
        return f"{name}: parent account '{parent}' not found"
    if org.accounts[parent].parent is not None:
        return f"{name}: parent account '{parent}' is a child account itself"
    if not name.startswith(f"{parent}/") or name == f"{parent}/":
        return f"{name}: a child account is named '{parent}/<something>'"
    return None


def _check_parents(org: Org, path: JsonPointer) -> None:
    # The accounts are in the fixture's order, so each one's index is its place in the list.
    for index, name in enumerate(org.accounts):
        problem = check_parent(org, name)
        if problem is not None:
            raise _Refused((*path, index, "parent"), problem)


def _add_group(org: Org, spec: Mapping[str, Any], path: JsonPointer) -> None:
    name = spec["name"]
    _refuse_duplicates((p["name"] for p in spec.get("policyPacks", [])), (*path, "policyPacks"))
    rules = [key for key in ("stackMatchRule", "accountMatchRule") if key in spec]
    if rules and org.api == "legacy":
        message = f"{rules[0]} needs the current API (api: current)"
        raise _Refused((*path, rules[0]), message, key=True)
    updates: list[dict[str, Any]] = [
        {"addStack": {"routingProject": project, "name": stack}}
        for project, stack in map(_stack_key, spec.get("stacks", []))
    ]
    updates += [{"addInsightsAccount": {"name": account}} for account in spec.get("accounts", [])]
    updates += [{"addPolicyPack": pack} for pack in spec.get("policyPacks", [])]
    if "agentPoolId" in spec:
        updates.append({"agentPoolId": spec["agentPoolId"]})
    updates += [{key: spec[key]} for key in rules]
    try:
        existing = org.groups.get(name)
        if existing is not None and existing.is_org_default:
            for key, value in (("entityType", existing.entity_type), ("mode", existing.mode)):
                if spec.get(key, value) != value:
                    raise _Refused((*path, key), f"the {key} of {name} is always {value}")
        else:
            org.create_group(_create_body(spec))
        org.update_group(name, updates, single=False)
    except HttpError as error:
        raise _Refused(path, error.message) from None


def _create_body(spec: Mapping[str, Any]) -> dict[str, Any]:
    # A fixture means the same on both services: its groups are stacks groups unless it says.
    body = {key: spec[key] for key in ("name", "entityType", "mode") if key in spec}
    body.setdefault("entityType", "stacks")
    return body


def _account(org: str, spec: Mapping[str, Any], path: JsonPointer) -> Account:
    info: dict[str, Any] = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"pgsync-emulator:{org}/{spec['name']}")),
        "name": spec["name"],
        "ownedBy": dict(_OWNER),
        "provider": spec["provider"],
        "scheduledScanEnabled": True,
    }
    info.update((key, value) for key, value in spec.items() if key not in _ACCOUNT_EXTRAS)
    problem = schemas.validator("InsightsAccount").first_error(info)
    if problem is not None:
        raise _Refused(path, f"account '{spec['name']}' is not an InsightsAccount {problem}")
    return Account(
        info, spec.get("resourceCount", 0), dict(spec.get("tags", {})), spec.get("parent")
    )


def _stack_key(ref: str) -> tuple[str, str]:
    project, _, stack = ref.partition("/")
    return project, stack


def _refuse_duplicates(names: Iterable[str], path: JsonPointer) -> None:
    """Refuse the first name that is given twice, where it is given the second time."""
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise _Refused((*path, index), f"duplicate name '{name}'")
        seen.add(name)
