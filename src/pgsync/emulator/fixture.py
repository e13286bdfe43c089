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
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

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
    """A fixture or state file that cannot be loaded; the message says where and why."""


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
    """The fixture in a YAML file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise FixtureError(f"{path}: {error.strerror}") from None
    return _parse(text, str(path))


def demo_fixture() -> Fixture:
    """The packaged demo organization `acme` (fixtures/demo.yaml) of `pgsync demo`."""
    text = files("pgsync.emulator").joinpath("fixtures/demo.yaml").read_text(encoding="utf-8")
    return _parse(text, "demo.yaml")


def fixture_from_dict(data: Any, source: str = "<fixture>") -> Fixture:
    """The fixture described by already-parsed YAML (or JSON) data."""
    checker = Draft7Validator({**_FIXTURE_SCHEMA, "definitions": _DEFINITIONS})
    error = best_match(checker.iter_errors(data))
    if error is not None:
        raise FixtureError(f"{source}: at {error.json_path}: {error.message}")
    api: Api = data.get("api", "current")
    orgs = {
        str(name): _org(str(name), spec or {}, f"{source}: organizations.{name}", api)
        for name, spec in data["organizations"].items()
    }
    faults = mix_from_fixture(data["faults"]) if "faults" in data else None
    return Fixture(State(orgs, api), data.get("token"), faults)


def _parse(text: str, source: str) -> Fixture:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise FixtureError(f"{source}: invalid YAML: {error}") from None
    return fixture_from_dict(data, source)


def _org(name: str, spec: Mapping[str, Any], where: str, api: Api) -> Org:
    stack_entries: list[Mapping[str, Any]] = [
        {"name": s} if isinstance(s, str) else s for s in spec.get("stacks", [])
    ]
    for what, entries in (
        ("stacks", stack_entries),
        ("policyPacks", spec.get("policyPacks", [])),
        ("accounts", spec.get("accounts", [])),
        ("policyGroups", spec.get("policyGroups", [])),
    ):
        _refuse_duplicates((e["name"] for e in entries), f"{where}.{what}")
    default_groups = {**DEFAULT_GROUP_NAMES, **spec.get("defaultGroups", {})}
    if default_groups["preventative"] == default_groups["audit"]:
        raise FixtureError(f"{where}.defaultGroups: the two default groups need two names")
    org = Org(
        name,
        stacks={_stack_key(e["name"]): _stack(e) for e in stack_entries},
        packs={
            p["name"]: CatalogPack(
                p["name"], p.get("displayName", p["name"]), p["versionTags"], p.get("policies", [])
            )
            for p in spec.get("policyPacks", [])
        },
        accounts={a["name"]: _account(name, a, where) for a in spec.get("accounts", [])},
        api=api,
        match_rules=spec.get("features", {}).get("matchRules", True),
        default_groups=default_groups,
    )
    for group_name in default_groups.values():
        try:
            org.check_name(group_name)
        except HttpError as error:
            raise FixtureError(f"{where}.defaultGroups: {error.message}") from None
    _check_parents(org, f"{where}.accounts")
    groups = spec.get("policyGroups", [])
    for index, group in enumerate(groups):
        _add_group(org, group, f"{where}.policyGroups[{index}]")
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


def _check_parents(org: Org, where: str) -> None:
    for name in org.accounts:
        problem = check_parent(org, name)
        if problem is not None:
            raise FixtureError(f"{where} ({problem})")


def _add_group(org: Org, spec: Mapping[str, Any], where: str) -> None:
    name = spec["name"]
    _refuse_duplicates((p["name"] for p in spec.get("policyPacks", [])), f"{where}.policyPacks")
    rules = [key for key in ("stackMatchRule", "accountMatchRule") if key in spec]
    if rules and org.api == "legacy":
        raise FixtureError(f"{where}: {rules[0]} needs the current API (api: current)")
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
                    raise FixtureError(f"{where}: the {key} of {name} is always {value}")
        else:
            org.create_group(_create_body(spec))
        org.update_group(name, updates, single=False)
    except HttpError as error:
        raise FixtureError(f"{where}: {error.message}") from None


def _create_body(spec: Mapping[str, Any]) -> dict[str, Any]:
    # A fixture means the same on both services: its groups are stacks groups unless it says.
    body = {key: spec[key] for key in ("name", "entityType", "mode") if key in spec}
    body.setdefault("entityType", "stacks")
    return body


def _account(org: str, spec: Mapping[str, Any], where: str) -> Account:
    info: dict[str, Any] = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"pgsync-emulator:{org}/{spec['name']}")),
        "name": spec["name"],
        "ownedBy": dict(_OWNER),
        "provider": spec["provider"],
        "scheduledScanEnabled": True,
    }
    info.update((key, value) for key, value in spec.items() if key not in _ACCOUNT_EXTRAS)
    problem = schemas.first_error(schemas.validator("InsightsAccount"), info)
    if problem is not None:
        raise FixtureError(f"{where}.accounts ({spec['name']}): not an InsightsAccount {problem}")
    return Account(
        info, spec.get("resourceCount", 0), dict(spec.get("tags", {})), spec.get("parent")
    )


def _stack_key(ref: str) -> tuple[str, str]:
    project, _, stack = ref.partition("/")
    return project, stack


def _refuse_duplicates(names: Iterable[str], where: str) -> None:
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise FixtureError(f"{where}: duplicate name(s) {', '.join(duplicates)}")
