"""Live groups → desired-state YAML that plans to zero changes (`pgsync import`). Pure."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from pgsync import __version__
from pgsync.core.diff import parent_of
from pgsync.core.masking import DEFAULT_SECRET_KEYS, holds_secret, is_secret_setting
from pgsync.core.matchrule import readable_rules
from pgsync.core.model import (
    SECRET_KEY,
    AppliedPack,
    DesiredGroup,
    DesiredState,
    JsonPath,
    LiveGroup,
    LiveState,
    PackRef,
    canonical_json,
    default_mode,
)
from pgsync.load.packconfig import Placeholder
from pgsync.load.yamlparse import IMPLICIT, YAML_1_1_BOOL

# The packaged schema's bytes at this version's tag. Not the repository's schemas/ link:
# raw.githubusercontent.com serves a symbolic link as the path it holds.
SCHEMA_URL = (
    f"https://raw.githubusercontent.com/pgsync/pgsync/v{__version__}/src/pgsync/schemas/"
    "policygroups.schema.json"
)
SCHEMA_COMMENT = f"# yaml-language-server: $schema={SCHEMA_URL}\n"

_STR_TAG = "tag:yaml.org,2002:str"
_ODD_BREAKS = frozenset("\r\x85\u2028\u2029")


class _Quoted(str):
    """Always double-quoted: every versionTag looks alike, and an edit to e.g. 1.10 stays text."""

    __slots__ = ()


class _Dumper(yaml.SafeDumper):
    """Block style with list items indented under their key, as people write these files.

    A string is written plain only when no reader takes it for anything else: not YAML 1.2
    (pgsync, editors), nor YAML 1.1 (PyYAML, and many tools that read `y` and `n` as booleans
    too). So `yes`, `on`, `y`, `1e3` and `0o17` are quoted.
    """

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_quoted(dumper: yaml.SafeDumper, value: _Quoted) -> yaml.ScalarNode:
    return dumper.represent_scalar(_STR_TAG, str(value), style='"')


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style: str | None = None
    if _ODD_BREAKS.intersection(value):
        # PyYAML writes these unescaped in single quotes, where a reader folds them away.
        style = '"'
    elif "\n" in value:
        # A literal block reads best; the emitter falls back to quotes where a block
        # cannot hold the value exactly (e.g. trailing spaces).
        style = "|"
    return dumper.represent_scalar(_STR_TAG, value, style=style)


_Dumper.add_representer(_Quoted, _represent_quoted)
_Dumper.add_representer(str, _represent_str)
for _tag, _pattern, _first in IMPLICIT:
    _Dumper.add_implicit_resolver(_tag, _pattern, _first)
_Dumper.add_implicit_resolver("tag:yaml.org,2002:bool", YAML_1_1_BOOL, list("yYnNtTfFoO"))


COMPACT_MIN_GROUPS = 3
"""How many groups must hold a pack identically before `import --compact` puts it in a set."""


def export_yaml(live: LiveState, *, compact: bool = False) -> str:
    """Every group of `live` (all read in full) as a desired-state file, in a stable order.

    `compact`: packs that several groups hold identically are written once, in `packSets`.
    """
    groups = _ordered(live.groups.values())
    document: dict[str, Any] = {"organization": live.organization, "prune": False}
    sets = pack_sets(live) if compact else []
    if sets:
        document["packSets"] = {s.name: [_pack(p) for p in s.packs] for s in sets}
    document["policyGroups"] = [_group(g, sets) for g in groups]
    return SCHEMA_COMMENT + dump_yaml(document)


@dataclass(frozen=True, slots=True)
class PackSet:
    """Packs that the same groups (at least COMPACT_MIN_GROUPS) all hold identically."""

    name: str
    packs: tuple[AppliedPack, ...]
    """By name; no two share one (a group holds each pack once)."""
    groups: frozenset[str]


def pack_sets(live: LiveState) -> list[PackSet]:
    """The sets `import --compact` writes: one for each set of groups that hold the same
    packs identically (name, versionTag, config with the level, environments: live, so
    equal secret values too), widest first; the first is `baseline`, the others `set-2`, …
    """
    holders: dict[_Identity, set[str]] = {}
    packs: dict[_Identity, AppliedPack] = {}
    for group in live.groups.values():
        for pack in group.packs:
            identity = _identity(pack)
            holders.setdefault(identity, set()).add(group.name)
            packs.setdefault(identity, pack)
    bundles: dict[frozenset[str], list[_Identity]] = {}
    for identity, holding in holders.items():
        if len(holding) >= COMPACT_MIN_GROUPS:
            bundles.setdefault(frozenset(holding), []).append(identity)
    # The set's own content breaks ties, so the order (and the names) follow the live state
    # alone, not the order the API listed groups or packs in.
    ordered = sorted(
        ((names, sorted(identities)) for names, identities in bundles.items()),
        key=lambda bundle: (-len(bundle[0]), -len(bundle[1]), bundle[1], sorted(bundle[0])),
    )
    # A set named like a pack would read as that pack in `{use: NAME}`.
    taken = {p.name for group in live.groups.values() for p in group.packs}
    taken.update(live.catalog.packs)
    sets: list[PackSet] = []
    for number, (users, identities) in enumerate(ordered, 1):
        name = "baseline" if number == 1 else f"set-{number}"
        while name in taken:
            name += "-set"
        taken.add(name)
        sets.append(PackSet(name, tuple(packs[i] for i in identities), users))
    return sets


_Identity = tuple[str, str, str, tuple[str, ...]]


def _identity(pack: AppliedPack) -> _Identity:
    return (pack.name, pack.version_tag, pack.config_json, pack.environments)


def dump_yaml(document: Any) -> str:
    """JSON-like data as YAML in import's style, which reads back as the same data."""
    text: str = yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        # Never fold long strings across lines: one value, one line, clean diffs.
        width=2**31 - 1,
    )
    return text


def _ordered(groups: Iterable[LiveGroup]) -> list[LiveGroup]:
    """The default groups first (preventative, then audit), then the rest by name."""
    return sorted(
        groups, key=lambda g: (not g.is_default, g.is_default and g.mode == "audit", g.name)
    )


def _group(group: LiveGroup, sets: Iterable[PackSet] = ()) -> dict[str, Any]:
    shown: dict[str, Any] = {"name": group.name}
    # A default group keeps its live mode and label when the file does not say.
    if not group.is_default:
        if group.entity_type == "accounts":
            shown["entityType"] = group.entity_type
        if group.mode != default_mode(shown.get("entityType")):
            shown["mode"] = group.mode
    if group.agent_pool_id:
        shown["agentPoolId"] = group.agent_pool_id
    # Pulumi Cloud adds every new stack and account to the default groups itself: a
    # membership list there would go stale and make a later apply remove members.
    if not group.is_default:
        if group.stacks or group.entity_type == "stacks":
            shown["stacks"] = sorted(str(stack) for stack in group.stacks)
        if group.mode == "audit" and (group.accounts or group.entity_type == "accounts"):
            # Children come with their parent (the service adds them): list the parent only.
            shown["accounts"] = sorted(
                a for a in group.accounts if not parent_of(a, group.accounts)
            )
    for key, rule in (("stackMatch", group.stack_rule), ("accountMatch", group.account_rule)):
        if rule is not None:
            readable = readable_rules(rule.expression, rule.entity)
            shown[key] = readable if readable is not None else {"expression": rule.expression}
    # A group uses a set only when it holds all of the set's packs as the set has them, so
    # no direct entry ever overrides a set's: each pack is written exactly once per group.
    used = [s for s in sets if group.name in s.groups]
    given = {p.name for s in used for p in s.packs}
    shown["policyPacks"] = [{"use": s.name} for s in used] + [
        _pack(p) for p in sorted(group.packs, key=lambda p: p.name) if p.name not in given
    ]
    return shown


def _pack(pack: AppliedPack) -> dict[str, Any]:
    shown: dict[str, Any] = {"name": pack.name, "versionTag": _Quoted(pack.version_tag)}
    config = pack.config
    level = _folded_level(config.get("all"))
    if level is not None:
        shown["enforcementLevel"] = level
        del config["all"]
    if config:
        shown["config"] = {
            policy: _hide_secrets(settings) if isinstance(settings, dict) else settings
            for policy, settings in config.items()
        }
    if pack.environments:
        shown["environments"] = list(pack.environments)
    return shown


def _folded_level(entry: Any) -> str | None:
    """The level when `all` holds nothing else, so it reads as the pack's enforcementLevel."""
    if isinstance(entry, dict) and entry.keys() == {"enforcementLevel"}:
        level = entry["enforcementLevel"]
        return level if isinstance(level, str) else None
    return None


def _hide_secrets(value: Any) -> Any:
    """`value` with every setting whose name looks secret replaced by an unfilled placeholder.

    Nothing read live is written in clear under such a key; null holds nothing, so it stays.
    A live `fn::secret` key stays too: no file can declare it, so the round trip reports it.
    """
    if isinstance(value, list):
        # `fn::secret` cannot stand inside a list: a secret in one hides the whole list.
        return {SECRET_KEY: None} if holds_secret(value, DEFAULT_SECRET_KEYS) else value
    if not isinstance(value, dict):
        return value
    return {
        key: {SECRET_KEY: None} if is_secret_setting(key, item) else _hide_secrets(item)
        for key, item in value.items()
    }


def assume_live(
    desired: DesiredState, placeholders: Iterable[Placeholder], live: LiveState
) -> DesiredState:
    """`desired` with each placeholder's unknown value taken to be the live one.

    This is how the round trip of `import` treats placeholders as known-unknown: whatever
    the user fills in, the file as written cannot be shown to differ there.
    """
    unknown: dict[tuple[str, str], list[JsonPath]] = {}
    for placeholder in placeholders:
        unknown.setdefault((placeholder.group, placeholder.pack), []).append(placeholder.path)
    if not unknown:
        return desired
    groups = tuple(_assume_group(g, unknown, live) for g in desired.groups)
    return dataclasses.replace(desired, groups=groups)


def _assume_group(
    group: DesiredGroup, unknown: dict[tuple[str, str], list[JsonPath]], live: LiveState
) -> DesiredGroup:
    live_group = live.groups.get(group.name)
    if group.packs is None or live_group is None:
        return group
    live_packs = {p.name: p for p in live_group.packs}
    packs: list[PackRef] = []
    for ref in group.packs:
        paths = unknown.get((group.name, ref.name))
        live_pack = live_packs.get(ref.name)
        if not paths or live_pack is None:
            packs.append(ref)
            continue
        config = json.loads(ref.config_json)
        for path in paths:
            _copy_at(live_pack.config, config, path)
        packs.append(dataclasses.replace(ref, config_json=canonical_json(config)))
    return dataclasses.replace(group, packs=tuple(packs))


def _copy_at(source: Any, target: Any, path: JsonPath) -> None:
    """Copy the value at `path` from `source` into `target`, where both have its parent."""
    for step in path[:-1]:
        if not isinstance(source, dict) or not isinstance(target, dict):
            return
        source, target = source.get(step), target.get(step)
    if isinstance(source, dict) and isinstance(target, dict) and path[-1] in source:
        target[path[-1]] = source[path[-1]]


def group_at(text: str, line: int) -> str | None:
    """The name of the group whose entry holds `line` (1-based) of a text from export_yaml."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    found: str | None = None
    for key, value in root.value if root is not None else ():
        if key.value != "policyGroups":
            continue
        for item in value.value:
            if item.start_mark.line >= line:
                break
            found = next(str(v.value) for k, v in item.value if k.value == "name")
    return found


def pack_set_at(text: str, line: int) -> str | None:
    """The name of the pack set whose list holds `line` (1-based) of a text from export_yaml."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    for key, value in root.value if root is not None else ():
        # A node's end mark is 0-based and stands where the next one begins.
        if key.value != "packSets" or not key.start_mark.line < line <= value.end_mark.line:
            continue
        found: str | None = None
        for name, _ in value.value:
            if name.start_mark.line >= line:
                break
            found = str(name.value)
        return found
    return None
