"""`packSets`, `templates`, `extends` and `{use: SET}` → plain groups (contract §6.2).

The expansion works on the parsed document, before any group is built: every rule that
concerns a group is then checked on the group as it will be, and each of its values keeps
the position it was written at (in the group, its template or a pack set), so a message
points at the line that causes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pgsync.core.errors import Location, Problem
from pgsync.core.masking import JsonPointer, is_secret_key
from pgsync.core.model import SECRET_KEY, PackOrigin
from pgsync.load.yamlnodes import Document

SETS, TEMPLATES = "packSets", "templates"

Value = TypeVar("Value")


@dataclass(slots=True)
class Expansion:
    """A document with its sets and templates expanded, and what the expansion found."""

    doc: Document
    broken: set[int]
    """Groups that cannot be built: their set or template is unknown or invalid."""
    warnings: list[Problem]
    origins: dict[JsonPointer, PackOrigin] = field(default_factory=dict)
    """For each pack entry of the expanded document that a set or template gave."""


def uses_indirection(value: Mapping[str, Any]) -> bool:
    """Whether a document has anything to expand (most have not: they are left as they are)."""
    if SETS in value or TEMPLATES in value:
        return True
    groups = value.get("policyGroups")
    return isinstance(groups, list) and any(
        isinstance(group, dict) and "extends" in group for group in groups
    )


def expand(doc: Document, invalid: set[JsonPointer], problems: list[Problem]) -> Expansion:
    """Expand every group of a schema-checked document; `invalid` holds the paths of the
    sets, templates and groups that the schema found wrong (those are not expanded)."""
    value: dict[str, Any] = doc.value
    sets = _named(value.get(SETS))
    templates = _named(value.get(TEMPLATES))
    used_sets: set[str] = set()
    used_templates: set[str] = set()
    sources: dict[int, _Sources] = {}
    origins: dict[JsonPointer, PackOrigin] = {}
    broken: set[int] = set()
    groups = value.get("policyGroups")
    expanded_groups: list[Any] = []
    for index, group in enumerate(groups if isinstance(groups, list) else []):
        if not isinstance(group, dict) or ("policyGroups", index) in invalid:
            expanded_groups.append(group)
            continue
        grouping = _Group(
            doc, index, sets=sets, templates=templates, invalid=invalid, problems=problems
        )
        result = grouping.expand(group)
        used_sets.update(grouping.used_sets)
        used_templates.update(grouping.used_templates)
        if result is None:
            broken.add(index)
            expanded_groups.append(group)
            continue
        expanded_groups.append(result)
        if grouping.sources.keys or grouping.sources.packs is not None:
            sources[index] = grouping.sources
        origins.update(grouping.origins)
    warnings = _unused(doc, SETS, sets, used_sets, "pack set")
    warnings += _unused(doc, TEMPLATES, templates, used_templates, "template")
    plain = {k: v for k, v in value.items() if k not in (SETS, TEMPLATES)}
    if isinstance(groups, list):
        plain["policyGroups"] = expanded_groups
    expanded = Document(
        doc.file,
        plain,
        doc.problems,
        _Rewritten(doc.values, sources),
        _Rewritten(doc.keys, sources),
        _Rewritten(doc.written, sources),
    )
    return Expansion(expanded, broken, warnings, origins)


def _named(section: object) -> dict[str, Any] | None:
    """A `packSets` or `templates` mapping; None when it is not one (the schema says so)."""
    if section is None:
        return {}
    return section if isinstance(section, dict) else None


def _unused(
    doc: Document, section: str, named: dict[str, Any] | None, used: set[str], noun: str
) -> list[Problem]:
    return [
        Problem(doc.key_at((section, name)), f"{noun} '{name}' is not used by any group")
        for name in named or {}
        if name not in used
    ]


@dataclass(slots=True)
class _Sources:
    """Where an expanded group's values were written, when not in the group itself."""

    keys: dict[str, JsonPointer] = field(default_factory=dict)
    """A top-level key the template gave → the path of that key in the template."""
    packs: list[JsonPointer] | None = None
    """Where each entry of the expanded `policyPacks` was written (None: as in the file)."""
    packs_key: JsonPointer | None = None
    """Where the `policyPacks` list that was expanded is written."""


class _Group:
    """The expansion of one group, noting what it uses and reporting what is wrong."""

    def __init__(
        self,
        doc: Document,
        index: int,
        *,
        sets: dict[str, Any] | None,
        templates: dict[str, Any] | None,
        invalid: set[JsonPointer],
        problems: list[Problem],
    ) -> None:
        self.doc = doc
        self.path: JsonPointer = ("policyGroups", index)
        self.sets = sets
        self.templates = templates
        self.invalid = invalid
        self.problems = problems
        self.used_sets: set[str] = set()
        self.used_templates: set[str] = set()
        self.sources = _Sources()
        self.origins: dict[JsonPointer, PackOrigin] = {}

    def expand(self, group: dict[str, Any]) -> dict[str, Any] | None:
        """The plain group, or None when it cannot be expanded (the problem is reported)."""
        result: dict[str, Any] = {}
        template: str | None = None
        for key, item in group.items():
            if key != "extends":
                result[key] = item
                continue
            template = item
            found = self._template(item)
            if found is None:
                return None
            # The template's keys stand where `extends` was; the group's own win.
            for inherited, setting in found.items():
                if inherited not in group:
                    result[inherited] = setting
                    self.sources.keys[inherited] = (TEMPLATES, item, inherited)
        packs = result.get("policyPacks")
        if not isinstance(packs, list):
            return result
        list_path = self.sources.keys.get("policyPacks", (*self.path, "policyPacks"))
        expanded = self._packs(packs, list_path, template)
        if expanded is None:
            return None
        if expanded is not packs:
            result["policyPacks"] = expanded
        return result

    def _template(self, name: str) -> dict[str, Any] | None:
        where = self.doc.at((*self.path, "extends"))
        if self.templates is None:
            return None
        self.used_templates.add(name)
        if name not in self.templates:
            self._unknown("template", name, self.templates, where)
            return None
        if (TEMPLATES, name) in self.invalid:
            return None
        found: dict[str, Any] = self.templates[name]
        return found

    def _unknown(self, noun: str, name: str, known: Mapping[str, Any], where: Location) -> None:
        section = SETS if noun == "pack set" else TEMPLATES
        defined = f"defined in {section}: {', '.join(sorted(known))}" if known else f"no {section}"
        message = f"unknown {noun} '{name}' ({defined})"
        self.problems.append(Problem(where, message))

    def _packs(
        self, packs: list[Any], list_path: JsonPointer, template: str | None
    ) -> list[Any] | None:
        """The entries with each `{use: SET}` replaced by the set's, a direct entry
        replacing a set's entry of the same pack name; None after a reported problem."""
        from_template = list_path[0] == TEMPLATES
        if not from_template and not any(isinstance(e, dict) and "use" in e for e in packs):
            return packs
        direct = {e["name"] for e in packs if isinstance(e, dict) and "use" not in e}
        extends_at = self.doc.at((*self.path, "extends")) if from_template else None
        entries: list[Any] = []
        where: list[JsonPointer] = []
        origins: list[PackOrigin | None] = []
        given_by: dict[str, tuple[str, Location, Location]] = {}
        first_use: dict[str, Location] = {}
        ok = True
        for index, entry in enumerate(packs):
            entry_path = (*list_path, index)
            if "use" not in entry:
                entries.append(entry)
                where.append(entry_path)
                origins.append(PackOrigin(None, None, template, extends_at) if template else None)
                continue
            name: str = entry["use"]
            used_at = self.doc.at((*entry_path, "use"))
            members = self._set(name, used_at)
            if members is None:
                ok = False
                continue
            if name in first_use:
                message = (
                    f"pack set '{name}' is used twice in this list"
                    f" (first at line {first_use[name].line}, column {first_use[name].col})"
                )
                self.problems.append(Problem(used_at, message))
                ok = False
                continue
            first_use[name] = used_at
            for member_index, member in enumerate(members):
                pack = member["name"]
                if pack in direct:
                    continue
                member_at = self.doc.at((SETS, name, member_index, "name"))
                earlier = given_by.get(pack)
                if earlier is not None:
                    other, other_at, other_used = earlier
                    message = (
                        f"pack '{pack}' comes from pack set '{name}' (line {member_at.line})"
                        f" and from pack set '{other}' (line {other_at.line}, used at line"
                        f" {other_used.line}); list it directly to choose its settings"
                    )
                    self.problems.append(Problem(used_at, message))
                    ok = False
                    continue
                given_by[pack] = (name, member_at, used_at)
                entries.append(member)
                where.append((SETS, name, member_index))
                origins.append(PackOrigin(name, used_at, template, extends_at))
        if not ok:
            return None
        self.sources.packs = where
        self.sources.packs_key = list_path
        for index, origin in enumerate(origins):
            if origin is not None:
                self.origins[(*self.path, "policyPacks", index)] = origin
        return entries

    def _set(self, name: str, used_at: Location) -> list[Any] | None:
        if self.sets is None:
            return None
        self.used_sets.add(name)
        if name not in self.sets:
            self._unknown("pack set", name, self.sets, used_at)
            return None
        if (SETS, name) in self.invalid:
            return None
        members: list[Any] = self.sets[name]
        return members


class _Rewritten(Mapping[JsonPointer, Value]):
    """A document's positions seen through the expansion: a path into an expanded group
    is looked up where its value was written (the group, its template or a pack set)."""

    def __init__(self, positions: Mapping[JsonPointer, Value], sources: dict[int, _Sources]):
        self._positions = positions
        self._sources = sources

    def source(self, path: JsonPointer) -> JsonPointer:
        """Where the value at `path` of the expanded document is written in the file."""
        if len(path) < 3 or path[0] != "policyGroups":
            return path
        found = self._sources.get(path[1])  # type: ignore[arg-type]
        if found is None:
            return path
        key = path[2]
        if key == "policyPacks" and found.packs is not None:
            if len(path) == 3:
                assert found.packs_key is not None
                return found.packs_key
            index = path[3]
            if isinstance(index, int) and index < len(found.packs):
                return (*found.packs[index], *path[4:])
            return path
        inherited = found.keys.get(key)  # type: ignore[arg-type]
        return path if inherited is None else (*inherited, *path[3:])

    def __getitem__(self, path: JsonPointer) -> Value:
        return self._positions[self.source(path)]

    def __iter__(self) -> Iterator[JsonPointer]:
        return iter(self._positions)

    def __len__(self) -> int:
        return len(self._positions)


def without_secrets(document: dict[str, Any], patterns: tuple[str, ...]) -> tuple[Any, int]:
    """A copy of a plain document whose every secret config value (written `fn::secret`, or
    under a key that looks secret) is the unfilled placeholder `fn::secret: null`; and how
    many there were."""
    hidden = 0

    def walk(node: Any, depth: int) -> Any:
        nonlocal hidden
        if isinstance(node, list):
            return [walk(item, depth + 1) for item in node]
        if not isinstance(node, dict):
            return node
        if SECRET_KEY in node:
            hidden += 1
            return {SECRET_KEY: None}
        result = {}
        for key, item in node.items():
            if depth > 0 and is_secret_key(key, patterns) and item is not None:
                hidden += 1
                result[key] = {SECRET_KEY: None}
            else:
                result[key] = walk(item, depth + 1)
        return result

    groups = [
        {**group, "policyPacks": [_pack_without_secrets(p, walk) for p in group["policyPacks"]]}
        if "policyPacks" in group
        else group
        for group in document["policyGroups"]
    ]
    return {**document, "policyGroups": groups}, hidden


def _pack_without_secrets(pack: dict[str, Any], walk: Callable[[Any, int], Any]) -> dict[str, Any]:
    return {**pack, "config": walk(pack["config"], 0)} if "config" in pack else pack
