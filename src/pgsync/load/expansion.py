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
NOUNS = {SETS: "pack set", TEMPLATES: "template"}

Value = TypeVar("Value")
Source = tuple[Document, JsonPointer]
"""A value's file and its path there."""


@dataclass(frozen=True, slots=True)
class _Definition:
    """One pack set or template, in the file that defines it."""

    doc: Document
    value: Any
    valid: bool
    """False when the schema found it wrong (it was reported, and is not expanded)."""


@dataclass(slots=True)
class Library:
    """The pack sets and templates of every file of one run: one namespace each."""

    sections: dict[str, dict[str, _Definition]] = field(
        default_factory=lambda: {SETS: {}, TEMPLATES: {}}
    )
    complete: bool = True
    """False when a file's packSets or templates is not a mapping: then no name is unknown."""
    used: set[tuple[str, str]] = field(default_factory=set)

    def add(self, doc: Document, invalid: set[JsonPointer], problems: list[Problem]) -> None:
        """The definitions of one schema-checked file; a name defined twice is an error."""
        for section, table in self.sections.items():
            named = doc.value.get(section)
            if named is None:
                continue
            if not isinstance(named, dict):
                self.complete = False
                continue
            for name, item in named.items():
                first = table.get(name)
                if first is not None:
                    message = (
                        f"{NOUNS[section]} '{name}' is already defined at"
                        f" {first.doc.key_at((section, name))}"
                    )
                    problems.append(Problem(doc.key_at((section, name)), message))
                    continue
                table[name] = _Definition(doc, item, (section, name) not in invalid)

    def find(self, section: str, name: str, where: Location, problems: list[Problem]) -> Any:
        """The definition's value; None (an unknown name reported) when it cannot be used."""
        table = self.sections[section]
        self.used.add((section, name))
        found = table.get(name)
        if found is None:
            if self.complete:
                names = ", ".join(sorted(table))
                defined = f"defined in {section}: {names}" if table else f"no {section}"
                problems.append(Problem(where, f"unknown {NOUNS[section]} '{name}' ({defined})"))
            return None
        return found if found.valid else None

    def unused(self) -> list[Problem]:
        """A warning at each set and template that no group uses."""
        return [
            Problem(
                found.doc.key_at((section, name)),
                f"{NOUNS[section]} '{name}' is not used by any group",
            )
            for section, table in self.sections.items()
            for name, found in table.items()
            if (section, name) not in self.used
        ]


@dataclass(slots=True)
class Expansion:
    """A document with its groups expanded, and what the expansion found."""

    doc: Document
    broken: set[int]
    """Groups that cannot be built: their set or template is unknown or invalid."""
    origins: dict[JsonPointer, PackOrigin] = field(default_factory=dict)
    """For each pack entry of the expanded document that a set or template gave."""


def uses_indirection(value: Mapping[str, Any]) -> bool:
    """Whether a document defines or uses a set or template (most do not: they are left
    as they are)."""
    if SETS in value or TEMPLATES in value:
        return True
    groups = value.get("policyGroups")
    return isinstance(groups, list) and any(_refers(group) for group in groups)


def _refers(group: object) -> bool:
    if not isinstance(group, dict):
        return False
    packs = group.get("policyPacks")
    return "extends" in group or (
        isinstance(packs, list)
        and any(isinstance(entry, dict) and "use" in entry for entry in packs)
    )


def expand(
    doc: Document, invalid: set[JsonPointer], library: Library, problems: list[Problem]
) -> Expansion:
    """Expand every group of a schema-checked document with the run's sets and templates;
    `invalid` holds the groups that the schema found wrong (those are not expanded)."""
    value: dict[str, Any] = doc.value
    sources: dict[int, _Sources] = {}
    origins: dict[JsonPointer, PackOrigin] = {}
    broken: set[int] = set()
    groups = value.get("policyGroups")
    expanded_groups: list[Any] = []
    for index, group in enumerate(groups if isinstance(groups, list) else []):
        if not isinstance(group, dict) or ("policyGroups", index) in invalid:
            expanded_groups.append(group)
            continue
        grouping = _Group(doc, index, library, problems)
        result = grouping.expand(group)
        if result is None:
            broken.add(index)
            expanded_groups.append(group)
            continue
        expanded_groups.append(result)
        if grouping.sources.keys or grouping.sources.packs is not None:
            sources[index] = grouping.sources
        origins.update(grouping.origins)
    plain = {k: v for k, v in value.items() if k not in (SETS, TEMPLATES)}
    if isinstance(groups, list):
        plain["policyGroups"] = expanded_groups
    resolver = _Resolver(doc, sources)
    expanded = _ExpandedDocument(
        doc.file,
        plain,
        doc.problems,
        _Rewritten(doc.values, resolver),
        _Rewritten(doc.keys, resolver),
        _Rewritten(doc.written, resolver),
        resolver,
    )
    return Expansion(expanded, broken, origins)


@dataclass(slots=True)
class _Sources:
    """Where an expanded group's values were written, when not in the group itself."""

    keys: dict[str, Source] = field(default_factory=dict)
    """A top-level key the template gave → that key in the template."""
    packs: list[Source] | None = None
    """Where each entry of the expanded `policyPacks` was written (None: as in the file)."""
    packs_key: Source | None = None
    """Where the `policyPacks` list that was expanded is written."""


class _Group:
    """The expansion of one group, reporting what is wrong."""

    def __init__(
        self, doc: Document, index: int, library: Library, problems: list[Problem]
    ) -> None:
        self.doc = doc
        self.path: JsonPointer = ("policyGroups", index)
        self.library = library
        self.problems = problems
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
            where = self.doc.at((*self.path, "extends"))
            found = self.library.find(TEMPLATES, item, where, self.problems)
            if found is None:
                return None
            # The template's keys stand where `extends` was; the group's own win.
            for inherited, setting in found.value.items():
                if inherited not in group:
                    result[inherited] = setting
                    self.sources.keys[inherited] = (found.doc, (TEMPLATES, item, inherited))
        packs = result.get("policyPacks")
        if not isinstance(packs, list):
            return result
        source = self.sources.keys.get("policyPacks", (self.doc, (*self.path, "policyPacks")))
        expanded = self._packs(packs, source, template)
        if expanded is None:
            return None
        if expanded is not packs:
            result["policyPacks"] = expanded
        return result

    def _packs(self, packs: list[Any], source: Source, template: str | None) -> list[Any] | None:
        """The entries with each `{use: SET}` replaced by the set's, a direct entry
        replacing a set's entry of the same pack name; None after a reported problem."""
        list_doc, list_path = source
        from_template = list_path[0] == TEMPLATES
        if not from_template and not any(isinstance(e, dict) and "use" in e for e in packs):
            return packs
        direct = {e["name"] for e in packs if isinstance(e, dict) and "use" not in e}
        extends_at = self.doc.at((*self.path, "extends")) if from_template else None
        entries: list[Any] = []
        where: list[Source] = []
        origins: list[PackOrigin | None] = []
        given_by: dict[str, tuple[str, Location, Location]] = {}
        first_use: dict[str, Location] = {}
        ok = True
        for index, entry in enumerate(packs):
            entry_path = (*list_path, index)
            if "use" not in entry:
                entries.append(entry)
                where.append((list_doc, entry_path))
                origins.append(PackOrigin(None, None, template, extends_at) if template else None)
                continue
            name: str = entry["use"]
            used_at = list_doc.at((*entry_path, "use"))
            found = self.library.find(SETS, name, used_at, self.problems)
            if found is None:
                ok = False
                continue
            if name in first_use:
                first = first_use[name]
                message = (
                    f"pack set '{name}' is used twice in this list"
                    f" (first at line {first.line}, column {first.col})"
                )
                self.problems.append(Problem(used_at, message))
                ok = False
                continue
            first_use[name] = used_at
            for member_index, member in enumerate(found.value):
                pack = member["name"]
                if pack in direct:
                    continue
                member_at = found.doc.at((SETS, name, member_index, "name"))
                earlier = given_by.get(pack)
                if earlier is not None:
                    other, other_at, other_used = earlier
                    message = (
                        f"pack '{pack}' comes from pack set '{name}' ({_cite(member_at, used_at)})"
                        f" and from pack set '{other}' ({_cite(other_at, used_at)}, used at"
                        f" {_cite(other_used, used_at)}); list it directly to choose its settings"
                    )
                    self.problems.append(Problem(used_at, message))
                    ok = False
                    continue
                given_by[pack] = (name, member_at, used_at)
                entries.append(member)
                where.append((found.doc, (SETS, name, member_index)))
                origins.append(PackOrigin(name, used_at, template, extends_at))
        if not ok:
            return None
        self.sources.packs = where
        self.sources.packs_key = source
        for index, origin in enumerate(origins):
            if origin is not None:
                self.origins[(*self.path, "policyPacks", index)] = origin
        return entries


def _cite(where: Location, here: Location) -> str:
    """`line 4` in the same file, `base.yaml:4` in another."""
    return f"line {where.line}" if where.file == here.file else f"{where.file}:{where.line}"


class _Resolver:
    """Where each value of an expanded document is written: the group, its template or a
    pack set, in this file or another."""

    def __init__(self, doc: Document, sources: dict[int, _Sources]) -> None:
        self.doc = doc
        self._sources = sources

    def source(self, path: JsonPointer) -> Source:
        if len(path) < 3 or path[0] != "policyGroups":
            return self.doc, path
        found = self._sources.get(path[1])  # type: ignore[arg-type]
        if found is None:
            return self.doc, path
        key = path[2]
        if key == "policyPacks" and found.packs is not None:
            assert found.packs_key is not None
            if len(path) == 3:
                return found.packs_key
            index = path[3]
            if isinstance(index, int) and index < len(found.packs):
                doc, entry = found.packs[index]
                return doc, (*entry, *path[4:])
            return self.doc, path
        inherited = found.keys.get(key)  # type: ignore[arg-type]
        if inherited is None:
            return self.doc, path
        doc, key_path = inherited
        return doc, (*key_path, *path[3:])


@dataclass(frozen=True, slots=True)
class _ExpandedDocument(Document):
    """An expanded document: each location is looked up where the value was written."""

    resolver: _Resolver | None = None

    def at(self, path: JsonPointer) -> Location:
        if self.resolver is None:
            return Document.at(self, path)
        doc, source = self.resolver.source(path)
        return Document.at(doc, source)

    def key_at(self, path: JsonPointer) -> Location:
        if self.resolver is None:
            return Document.key_at(self, path)
        doc, source = self.resolver.source(path)
        return Document.key_at(doc, source)


class _Rewritten(Mapping[JsonPointer, Value]):
    """A document's positions seen through the expansion. Only what is written in this
    file has a position here; a value from another file is found by `at`."""

    def __init__(self, positions: Mapping[JsonPointer, Value], resolver: _Resolver) -> None:
        self._positions = positions
        self._resolver = resolver

    def __getitem__(self, path: JsonPointer) -> Value:
        doc, source = self._resolver.source(path)
        if doc is not self._resolver.doc:
            raise KeyError(path)
        return self._positions[source]

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
