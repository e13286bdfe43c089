"""YAML → plain JSON-like values, plus where each value and each mapping key was written.

`yaml.load` loses positions, keeps the last of duplicate keys and turns unquoted dates into
`date` objects; this composes the node graph once (in C when libyaml is there) and walks it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pgsync.core.errors import InputError, Location, Problem
from pgsync.core.gcpause import gc_paused
from pgsync.core.masking import JsonPointer
from pgsync.load.yamlparse import BOOL, FLOAT, INT, MAX_DEPTH, TOO_DEEP, compose, decode

Position = tuple[int, int]
"""1-based line and column."""

MAX_NODES = 5_000_000

_CORE = "tag:yaml.org,2002:"
_STR, _SEQ, _MAP, _MERGE = (_CORE + name for name in ("str", "seq", "map", "merge"))
_BOOL, _INT, _FLOAT = (_CORE + name for name in ("bool", "int", "float"))
_WRITTEN = frozenset({_BOOL, _INT, _FLOAT})
"""The tags whose values the Document keeps the text of, for messages that quote it."""


def _text(node: ScalarNode) -> Any:
    return node.value


def _null(node: ScalarNode) -> Any:
    return None


# Integers beyond 2**53 and non-finite floats do not survive a JSON round trip through the
# service (Go decodes config numbers as float64), so they are refused where they are written.
_SAFE_INT = 2**53
_NOT_FINITE = "infinity and NaN are not valid JSON"
_BASES = {"0o": 8, "0x": 16}


class _NotPortable(ValueError):
    """A number that is valid YAML but would not come back from the API unchanged."""


# The text of an explicitly tagged scalar (`!!int 1_000`) is held to the same forms as a
# plain one: what YAML 1.2's core schema reads as that type (see yamlparse.IMPLICIT).
def _bool(node: ScalarNode) -> Any:
    if BOOL.match(node.value) is None:
        raise ValueError(node.value)
    return node.value[0] in "tT"


def _int(node: ScalarNode) -> Any:
    text: str = node.value
    if INT.match(text) is None:
        raise ValueError(text)
    base = _BASES.get(text[:2])
    value = int(text) if base is None else int(text[2:], base)
    if abs(value) > _SAFE_INT:
        raise _NotPortable("integers beyond ±2^53 lose precision in JSON")
    return value


def _float(node: ScalarNode) -> Any:
    text: str = node.value
    if FLOAT.match(text) is None:
        raise ValueError(text)
    # Python's float() does not read YAML's `.inf`; `1e999` is infinite all the same.
    value = math.inf if text[-3:].lower() in ("inf", "nan") else float(text)
    if not math.isfinite(value):
        raise _NotPortable(_NOT_FINITE)
    return int(value) if value.is_integer() and abs(value) <= _SAFE_INT else value


# Only JSON's kinds of value. An explicit `!!timestamp` or `!!value` and a `<<` outside key
# position stay the text that was written (a plain 2024-01-01 is a string: see yamlparse).
_SCALARS: dict[str, Callable[[ScalarNode], Any]] = {
    _STR: _text,
    _CORE + "timestamp": _text,
    _CORE + "value": _text,
    _MERGE: _text,
    _CORE + "null": _null,
    _BOOL: _bool,
    _INT: _int,
    _FLOAT: _float,
}


@dataclass(frozen=True, slots=True)
class Document:
    """One parsed file: its value, where things were written, and its non-fatal problems."""

    file: str
    value: Any
    problems: tuple[Problem, ...]
    values: Mapping[JsonPointer, Position]
    """Where the value at each path starts."""
    keys: Mapping[JsonPointer, Position]
    """Where the mapping key that leads to each path is written."""
    written: Mapping[JsonPointer, str]
    """The text of each value read as a boolean or a number, as written (`2.10`, not 2.1)."""

    def at(self, path: JsonPointer) -> Location:
        """Where the value at `path` starts, or else its nearest recorded ancestor."""
        found = self.values.get(path)
        if found is not None:
            return Location(self.file, *found)
        for end in range(len(path) - 1, -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return Location(self.file, *found)
        return Location(self.file, 1, 1)

    def key_at(self, path: JsonPointer) -> Location:
        """Where the key of the mapping entry at `path` is written (else as `at`)."""
        found = self.keys.get(path)
        return Location(self.file, *found) if found is not None else self.at(path)


def load_yaml(data: bytes, file: str) -> Document:
    """Parse one file; a fatal problem raises InputError, the others come in the document.

    An empty stream gives a document whose value is None.
    """
    text = decode(data, file)
    # Collecting while the node graph is built costs four times the parse itself, and the
    # graph is garbage once the values are out: no collection needs to look at it at all.
    with gc_paused():
        return _convert(text, file)


def _convert(text: str, file: str) -> Document:
    root = compose(text, file)
    if root is None:
        return Document(file, None, (), {}, {}, {})
    if "&" in text or "<<" in text:
        _check_graph(root, file)
    walker = _Walker(file, merges="<<" in text)
    value = walker.value(root, ())
    walker.values[()] = _position(root)
    return Document(file, value, tuple(walker.problems), walker.values, walker.keys, walker.written)


def _position(node: Node) -> Position:
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1)


def _problem(file: str, node: Node, message: str) -> Problem:
    return Problem(Location(file, *_position(node)), message)


def _check_graph(root: Node, file: str) -> None:
    """Refuse alias cycles, alias bombs and deep nesting before expanding anything.

    Sizes and heights are memoised per node, so an alias costs nothing to measure again.
    """
    measured: dict[int, tuple[int, int]] = {}
    active: set[int] = set()

    def measure(node: Node, depth: int) -> tuple[int, int]:
        if isinstance(node, ScalarNode):
            return 1, 0
        known = measured.get(id(node))
        if known is not None:
            return known
        if id(node) in active:
            raise InputError(_problem(file, node, "this collection contains an alias to itself"))
        active.add(id(node))
        children = node.value if isinstance(node, SequenceNode) else _flat_pairs(node)
        size, height = 1, 0
        for child in children:
            child_size, child_height = measure(child, depth + 1)
            size, height = size + child_size, max(height, child_height + 1)
            if depth + height > MAX_DEPTH:
                raise InputError(_problem(file, node, TOO_DEEP))
            if size > MAX_NODES:
                message = f"aliases expand this to more than {MAX_NODES:,} values"
                raise InputError(_problem(file, node, message))
        active.discard(id(node))
        measured[id(node)] = size, height
        return size, height

    measure(root, 0)


def _flat_pairs(node: Node) -> Iterator[Node]:
    for key_node, value_node in node.value:
        yield key_node
        yield value_node


class _Walker:
    """Converts nodes to values, recording positions by path; keeps going after problems."""

    def __init__(self, file: str, *, merges: bool) -> None:
        self.file = file
        self.merges = merges
        self.values: dict[JsonPointer, Position] = {}
        self.keys: dict[JsonPointer, Position] = {}
        self.written: dict[JsonPointer, str] = {}
        self.problems: list[Problem] = []
        self.merged: dict[int, int] = {}

    def value(self, node: Node, path: JsonPointer) -> Any:
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if len(path) >= MAX_DEPTH:
            raise InputError(_problem(self.file, node, TOO_DEEP))
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                self._unsupported(node)
            return self._sequence(node, path)
        if node.tag != _MAP:
            self._unsupported(node)
        return self._mapping(node, path)

    def _scalar(self, node: ScalarNode, path: JsonPointer) -> Any:
        build = _SCALARS.get(node.tag)
        if build is None:
            self._unsupported(node)
            return node.value
        try:
            value = build(node)
        except _NotPortable as err:
            message = f"number not allowed: {err}"
            self.problems.append(_problem(self.file, node, message))
            return node.value
        except (ValueError, KeyError):
            # The value is not quoted: it may be a secret (`fn::secret: !!int abc`).
            message = f"not a valid {_short(node.tag)}"
            self.problems.append(_problem(self.file, node, message))
            return node.value
        if node.tag in _WRITTEN:
            self.written[path] = node.value
        return value

    def _unsupported(self, node: Node) -> None:
        message = (
            f"unsupported YAML tag {_short(node.tag)} (only strings, numbers, true/false,"
            " null, lists and mappings are allowed)"
        )
        self.problems.append(_problem(self.file, node, message))

    def _sequence(self, node: SequenceNode, path: JsonPointer) -> list[Any]:
        values = self.values
        result = []
        for index, item in enumerate(node.value):
            item_path = (*path, index)
            mark = item.start_mark
            values[item_path] = (mark.line + 1, mark.column + 1)
            # Inline the commonest case: a plain string, no call.
            if item.tag == _STR and isinstance(item, ScalarNode):
                result.append(item.value)
            else:
                result.append(self.value(item, item_path))
        return result

    def _mapping(self, node: Node, path: JsonPointer) -> dict[str, Any]:
        merged = self._flatten(node) if self.merges else 0
        if not merged:
            return self._pairs(node.value, path, overriding=False)
        inherited = self._pairs(node.value[:merged], path, overriding=True)
        return inherited | self._pairs(node.value[merged:], path, overriding=False)

    def _pairs(
        self, pairs: list[tuple[Node, Node]], path: JsonPointer, *, overriding: bool
    ) -> dict[str, Any]:
        values, keys = self.values, self.keys
        result: dict[str, Any] = {}
        for key_node, value_node in pairs:
            key = self._key(key_node)
            if key is None:
                continue
            value_path = (*path, key)
            if key in result and not overriding:
                line, col = keys[value_path]
                message = f"duplicate key '{key}' (first at line {line}, column {col})"
                self.problems.append(_problem(self.file, key_node, message))
                continue
            mark = key_node.start_mark
            keys[value_path] = (mark.line + 1, mark.column + 1)
            mark = value_node.start_mark
            values[value_path] = (mark.line + 1, mark.column + 1)
            if value_node.tag == _STR and isinstance(value_node, ScalarNode):
                result[key] = value_node.value
            else:
                result[key] = self.value(value_node, value_path)
        return result

    def _key(self, node: Node) -> str | None:
        """A key as written: JSON keys are strings, so `on:` or `1:` stay text."""
        if not isinstance(node, ScalarNode):
            message = "a mapping key must be a plain value, not a list or mapping"
            self.problems.append(_problem(self.file, node, message))
            return None
        if node.tag not in _SCALARS:
            self._unsupported(node)
        value: str = node.value
        return value

    def _flatten(self, node: Node) -> int:
        """Put the pairs that `<<` merges in before the node's own, as PyYAML does.

        Returns how many pairs were merged in; later pairs override earlier ones. Memoised,
        since an aliased mapping is walked once per alias but must be flattened once.
        """
        known = self.merged.get(id(node))
        if known is not None:
            return known
        inherited: list[tuple[Node, Node]] = []
        own: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE:
                own.append((key_node, value_node))
                continue
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            # Earlier sources win, so they go last.
            for source in reversed(sources):
                if isinstance(source, MappingNode):
                    self._flatten(source)
                    inherited.extend(source.value)
                else:
                    message = "'<<' can merge only a mapping or a list of mappings"
                    self.problems.append(_problem(self.file, source, message))
        node.value = inherited + own
        self.merged[id(node)] = len(inherited)
        return len(inherited)


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
