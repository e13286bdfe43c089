"""One declared group → DesiredGroup, checking the rules that concern that group alone."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from pgsync.core.errors import Location, Problem
from pgsync.core.masking import JsonPointer
from pgsync.core.matchrule import compile_rules, expression_problem, match_rule, rule_problems
from pgsync.core.model import (
    KNOWN_DEFAULT_GROUPS,
    RESERVED_GROUP_NAMES,
    DesiredGroup,
    EntityType,
    ManagedList,
    Mode,
    PackOrigin,
    PackRef,
    RuleEntity,
    RuleSetting,
    StackRef,
    default_entity_type,
    default_mode,
)
from pgsync.load.packconfig import SecretRules, wire_config
from pgsync.load.yamlnodes import Document

Item = TypeVar("Item", bound=Hashable)


def build_group(
    doc: Document,
    index: int,
    group: Mapping[str, Any],
    problems: list[Problem],
    rules: SecretRules,
    *,
    origins: Mapping[JsonPointer, PackOrigin] | None = None,
) -> DesiredGroup:
    """A schema-valid group as the model sees it; broken rules are added to `problems`.

    `origins` tells which pack entries a pack set or template gave (see expansion.py).
    """
    path: JsonPointer = ("policyGroups", index)
    name: str = group["name"]
    previously: list[str] = group.get("previously", [])
    entity_type: EntityType | None = group.get("entityType")
    mode: Mode | None = group.get("mode")
    # What the group will be, for the rules below: a known default group's name tells it.
    known: Mode | None = KNOWN_DEFAULT_GROUPS.get(name)
    effective_mode = mode or known or default_mode(entity_type)
    _check_names(doc, path, name, previously, problems)
    if known is not None:
        _check_default_group(doc, path, group, name, problems, mode=known)
    if effective_mode == "preventative":
        # The service lets audit groups hold accounts; preventative groups hold stacks only.
        if entity_type == "accounts" and mode is not None:
            message = (
                "an accounts group cannot be preventative (a preventative group holds stacks"
                " only): use mode: audit, or leave out entityType"
            )
            problems.append(Problem(doc.at((*path, "mode")), message))
        # `accountMatch: []` asks for no rule, which a preventative group has anyway.
        for key in ("accounts", "accountMatch"):
            if key in group and group[key] != []:
                message = f"'{key}' needs mode: audit (a preventative group holds stacks only)"
                problems.append(Problem(doc.key_at((*path, key)), message))

    locations = _ItemLocations(doc)
    stacks = accounts = None
    if "stacks" in group:
        refs = [_stack_ref(item) for item in group["stacks"]]
        stacks = _members(doc, (*path, "stacks"), refs, locations, problems)
    if "accounts" in group:
        names: list[str] = group["accounts"]
        accounts = _members(doc, (*path, "accounts"), names, locations, problems)
    packs = None
    if "policyPacks" in group:
        packs = _packs(doc, (*path, "policyPacks"), group, problems, rules, origins=origins or {})
    return DesiredGroup(
        name=name,
        entity_type=entity_type,
        mode=mode,
        previously=tuple(previously),
        agent_pool_id=group.get("agentPoolId"),
        absent=group.get("state") == "absent",
        stacks=stacks,
        accounts=accounts,
        packs=packs,
        stack_match=_rule_setting(doc, path, group, "stackMatch", problems),
        account_match=_rule_setting(doc, path, group, "accountMatch", problems),
        additive=_additive(group),
        location=doc.at((*path, "name")),
        item_locations=locations,
    )


def _check_names(
    doc: Document, path: JsonPointer, name: str, previously: list[str], problems: list[Problem]
) -> None:
    named = [((*path, "name"), name)]
    named += [((*path, "previously", i), former) for i, former in enumerate(previously)]
    for where, text in named:
        if text in RESERVED_GROUP_NAMES:
            message = f"'{text}' cannot be a group name: it would shadow the API's {text} route"
            problems.append(Problem(doc.at(where), message))
    for where, text in named[1:]:
        if text in KNOWN_DEFAULT_GROUPS:
            message = f"'{text}' is a default group, which cannot be renamed"
            problems.append(Problem(doc.at(where), message))


def _check_default_group(
    doc: Document,
    path: JsonPointer,
    group: Mapping[str, Any],
    name: str,
    problems: list[Problem],
    *,
    mode: Mode,
) -> None:
    """The API refuses to delete, rename or retype an organization's default groups."""
    for key, expected in (("mode", mode), ("entityType", default_entity_type(mode))):
        if group.get(key, expected) != expected:
            message = f"{name} always has {key} {expected}"
            problems.append(Problem(doc.at((*path, key)), message))
    if group.get("previously"):
        message = f"{name} cannot be renamed, so it has no former names"
        problems.append(Problem(doc.key_at((*path, "previously")), message))
    if group.get("state") == "absent":
        message = f"{name} is a default group and cannot be deleted"
        problems.append(Problem(doc.at((*path, "state")), message))


def _additive(group: Mapping[str, Any]) -> frozenset[ManagedList]:
    """The lists that `manage:` makes additive (the schema allows only the three list keys)."""
    manage: Mapping[ManagedList, str] = group.get("manage", {})
    return frozenset(key for key, how in manage.items() if how == "additive")


def _rule_setting(
    doc: Document,
    group_path: JsonPointer,
    group: Mapping[str, Any],
    key: str,
    problems: list[Problem],
) -> RuleSetting | None:
    """`stackMatch` / `accountMatch`: the readable list, or `{expression: <API JSON>}`."""
    if key not in group:
        return None
    entity: RuleEntity = "stack" if key == "stackMatch" else "account"
    path = (*group_path, key)
    written = group[key]
    where = doc.key_at(path)
    if isinstance(written, Mapping):
        expression = written["expression"]
        problem = expression_problem(expression, entity)
        if problem is not None:
            inner, reason = problem
            problems.append(Problem(doc.at((*path, "expression", *inner)), reason))
            return None
    else:
        found = rule_problems(written)
        for inner, reason in found:
            problems.append(Problem(doc.at((*path, *inner)), reason))
        if found:
            return None
        expression = compile_rules(written, entity)
    if expression is None:
        return RuleSetting(None, where)
    return RuleSetting(match_rule(expression, entity), where)


def _stack_ref(item: str | Mapping[str, str]) -> StackRef:
    if isinstance(item, str):
        return StackRef.parse(item)
    return StackRef(item["routingProject"], item["name"])


class _ItemLocations(Mapping[str, Location]):
    """Where each member of a group was written: kept as positions, and made a Location
    only for the few that a message needs (a group can hold thousands of members)."""

    def __init__(self, doc: Document) -> None:
        self._file = doc.file
        self._positions: dict[str, tuple[int, int]] = {}
        self._fallbacks: dict[str, Location] = {}

    def note(self, item: str, path: JsonPointer, doc: Document) -> None:
        position = doc.values.get(path)
        if position is None:
            self._fallbacks[item] = doc.at(path)
        else:
            self._positions[item] = position

    def __getitem__(self, item: str) -> Location:
        position = self._positions.get(item)
        if position is None:
            return self._fallbacks[item]
        return Location(self._file, *position)

    def __iter__(self) -> Iterator[str]:
        yield from self._positions
        yield from self._fallbacks

    def __len__(self) -> int:
        return len(self._positions) + len(self._fallbacks)


def _members(
    doc: Document,
    path: JsonPointer,
    items: Iterable[Item],
    locations: _ItemLocations,
    problems: list[Problem],
) -> frozenset[Item]:
    """The distinct members of a list, noting where each was written; repeats are errors."""
    noun = "stack" if path[-1] == "stacks" else "account"
    seen: set[Item] = set()
    for index, item in enumerate(items):
        if item in seen:
            first = locations[str(item)]
            message = f"{noun} '{item}' is listed twice (first at {_line_col(first)})"
            problems.append(Problem(doc.at((*path, index)), message))
            continue
        seen.add(item)
        locations.note(str(item), (*path, index), doc)
    return frozenset(seen)


def _packs(
    doc: Document,
    path: JsonPointer,
    group: Mapping[str, Any],
    problems: list[Problem],
    rules: SecretRules,
    *,
    origins: Mapping[JsonPointer, PackOrigin],
) -> tuple[PackRef, ...]:
    """The declared packs, sorted by name; a group holds at most one version of a pack."""
    found: dict[str, PackRef] = {}
    first_at: dict[str, Location] = {}
    for index, pack in enumerate(group["policyPacks"]):
        pack_path = (*path, index)
        name: str = pack["name"]
        where = doc.at((*pack_path, "name"))
        config_json, secret_paths = wire_config(
            doc, pack_path, pack, problems, rules=rules, group=group["name"]
        )
        if name in first_at:
            message = f"pack '{name}' is listed twice (first at {_line_col(first_at[name])})"
            problems.append(Problem(where, message))
            continue
        first_at[name] = where
        found[name] = PackRef(
            name=name,
            version_tag=pack["versionTag"],
            config_json=config_json,
            environments=tuple(pack.get("environments", ())),
            secret_paths=secret_paths,
            location=where,
            origin=origins.get(pack_path),
        )
    return tuple(found[name] for name in sorted(found))


def _line_col(where: Location) -> str:
    return f"line {where.line}, column {where.col}"
