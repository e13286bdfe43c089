"""YAML → plain JSON-like values, plus where each value and each mapping key was written.

`yaml.load` loses positions, keeps the last of duplicate keys and turns unquoted dates into
`date` objects; this composes the node graph once (in C when libyaml is there) and walks it.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pgsync.errors import InputError, Location, Problem

JsonPointer = tuple[str | int, ...]
Position = tuple[int, int]
"""1-based line and column."""

MAX_NODES = 5_000_000
MAX_DEPTH = 100

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CORE = "tag:yaml.org,2002:"
_STR, _SEQ, _MAP, _MERGE = (_CORE + name for name in ("str", "seq", "map", "merge"))
_CONSTRUCT = SafeConstructor()


def _text(node: ScalarNode) -> Any:
    return node.value


def _null(node: ScalarNode) -> Any:
    return None


# Only JSON's kinds of value. Timestamps, `=` and a `<<` outside key position stay the text
# that was written (an unquoted 2024-01-01 is a string, not a date).
_SCALARS: dict[str, Callable[[ScalarNode], Any]] = {
    _STR: _text,
    _CORE + "timestamp": _text,
    _CORE + "value": _text,
    _MERGE: _text,
    _CORE + "null": _null,
    _CORE + "bool": _CONSTRUCT.construct_yaml_bool,
    _CORE + "int": _CONSTRUCT.construct_yaml_int,
    _CORE + "float": _CONSTRUCT.construct_yaml_float,
}

# What YAML 1.1 allows in a stream (PyYAML's reader uses the same set).
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


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

    def at(self, path: JsonPointer) -> Location:
        """Where the value at `path` starts, or else its nearest recorded ancestor."""
        for end in range(len(path), -1, -1):
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
    text = _decode(data, file)
    # Collecting while the node graph is built costs four times the parse itself, and the
    # graph is garbage once the values are out: no collection needs to look at it at all.
    with _gc_paused():
        return _convert(text, file)


def _convert(text: str, file: str) -> Document:
    root = _compose(text, file)
    if root is None:
        return Document(file, None, (), {}, {})
    if "&" in text:
        _check_expansion(root, file)
    walker = _Walker(file, merges="<<" in text)
    value = walker.value(root, ())
    walker.values[()] = _position(root)
    return Document(file, value, tuple(walker.problems), walker.values, walker.keys)


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _decode(data: bytes, file: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        line_start = data.rfind(b"\n", 0, err.start) + 1
        col = len(data[line_start : err.start].decode("utf-8", errors="replace")) + 1
        message = f"not valid UTF-8 (byte 0x{data[err.start]:02x})"
        raise InputError(Problem(Location(file, line, col), message)) from None
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        offset = bad.start()
        line = text.count("\n", 0, offset) + 1
        col = offset - text.rfind("\n", 0, offset)
        message = f"character U+{ord(bad.group()):04X} is not allowed in YAML"
        raise InputError(Problem(Location(file, line, col), message))
    return text


def _compose(text: str, file: str) -> Node | None:
    loader = _LOADER(text)
    try:
        node: Node | None = loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        where = _mark_location(err, file)
        raise InputError(Problem(where, _syntax_message(err, text, where))) from None
    except yaml.YAMLError as err:
        message = f"invalid YAML: {str(err).splitlines()[0]}"
        raise InputError(Problem(Location(file, 1, 1), message)) from None
    except RecursionError:
        message = f"invalid YAML: nested deeper than {MAX_DEPTH} levels"
        raise InputError(Problem(Location(file, 1, 1), message)) from None
    finally:
        loader.dispose()
    return node


def _mark_location(err: yaml.MarkedYAMLError, file: str) -> Location:
    mark = err.problem_mark or err.context_mark
    return Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)


def _syntax_message(err: yaml.MarkedYAMLError, text: str, at: Location) -> str:
    lines = text.split("\n")
    line = lines[at.line - 1] if at.line <= len(lines) else ""
    if line[at.col - 1 : at.col] == "\t":
        return "invalid YAML: a tab character here (YAML indents with spaces only)"
    context = err.context or ""
    start, mark = err.context_mark, err.problem_mark
    if context and start is not None and mark is not None and start.line != mark.line:
        context += f" (line {start.line + 1}, column {start.column + 1})"
    return "invalid YAML: " + ", ".join(part for part in (context, err.problem) if part)


def _position(node: Node) -> Position:
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1)


def _problem(file: str, node: Node, message: str) -> Problem:
    return Problem(Location(file, *_position(node)), message)


def _check_expansion(root: Node, file: str) -> None:
    """Refuse alias cycles and alias bombs before expanding anything (sizes are memoised)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node, depth: int) -> int:
        if isinstance(node, ScalarNode):
            return 1
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in active:
            raise InputError(_problem(file, node, "this collection contains an alias to itself"))
        if depth > MAX_DEPTH:
            raise InputError(_problem(file, node, f"nested deeper than {MAX_DEPTH} levels"))
        active.add(id(node))
        children = node.value if isinstance(node, SequenceNode) else _flat_pairs(node)
        total = 1 + sum(size(child, depth + 1) for child in children)
        active.discard(id(node))
        if total > MAX_NODES:
            message = f"aliases expand this to more than {MAX_NODES:,} values"
            raise InputError(_problem(file, node, message))
        sizes[id(node)] = total
        return total

    size(root, 0)


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
        self.problems: list[Problem] = []
        self.merged: dict[int, int] = {}

    def value(self, node: Node, path: JsonPointer) -> Any:
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        if len(path) >= MAX_DEPTH:
            self.problems.append(
                _problem(self.file, node, f"nested deeper than {MAX_DEPTH} levels")
            )
            return None
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                self._unsupported(node)
            return self._sequence(node, path)
        if node.tag != _MAP:
            self._unsupported(node)
        return self._mapping(node, path)

    def _scalar(self, node: ScalarNode) -> Any:
        build = _SCALARS.get(node.tag)
        if build is None:
            self._unsupported(node)
            return node.value
        try:
            return build(node)
        except (ValueError, KeyError):
            message = f"{node.value!r} is not a valid {_short(node.tag)}"
            self.problems.append(_problem(self.file, node, message))
            return node.value

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
                first = keys[value_path][0]
                message = f"duplicate key '{key}' (first at line {first})"
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
