"""YAML text → PyYAML's node graph; encoding and syntax errors become InputErrors at line:col."""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import Node

from pgsync.errors import InputError, Location, Problem

LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML was built with it: several times faster."""

MAX_DEPTH = 100
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
_LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"

# What YAML 1.1 allows in a stream (PyYAML's reader uses the same set).
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def decode(data: bytes, file: str) -> str:
    """The text of a UTF-8 file (a byte order mark is allowed), if YAML allows every character."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        # Offsets count from after the byte order mark, if there is one: use what was decoded.
        raw = bytes(err.object)
        line = raw.count(b"\n", 0, err.start) + 1
        line_start = raw.rfind(b"\n", 0, err.start) + 1
        col = len(raw[line_start : err.start].decode("utf-8", errors="replace")) + 1
        message = f"not valid UTF-8 (byte 0x{raw[err.start]:02x})"
        raise InputError(Problem(Location(file, line, col), message)) from None
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        offset = bad.start()
        line = text.count("\n", 0, offset) + 1
        col = offset - text.rfind("\n", 0, offset)
        message = f"character U+{ord(bad.group()):04X} is not allowed in YAML"
        raise InputError(Problem(Location(file, line, col), message))
    return text


def compose(text: str, file: str) -> Node | None:
    """The node graph of the only document in `text`; None when there is no document."""
    loader = LOADER(text)
    try:
        node: Node | None = loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        if err.problem == _LIBYAML_TOO_DEEP:
            _refuse_deep_nesting(text, file)
        where = _mark_location(err, file)
        raise InputError(Problem(where, _syntax_message(err, text, where))) from None
    except yaml.YAMLError as err:
        message = f"invalid YAML: {str(err).splitlines()[0]}"
        raise InputError(Problem(Location(file, 1, 1), message)) from None
    except RecursionError:
        _refuse_deep_nesting(text, file)
        message = "invalid YAML: nested too deeply"
        raise InputError(Problem(Location(file, 1, 1), message)) from None
    finally:
        loader.dispose()
    return node


def _refuse_deep_nesting(text: str, file: str) -> None:
    """Report the first collection nested beyond MAX_DEPTH, as the walk over nodes would.

    Parsers give up on deep nesting at limits of their own (libyaml at 1,000 levels since
    PyYAML 6.0.4, the Python composer at the recursion limit), so without this the message
    would depend on which PyYAML is installed. The scan uses the Python parser because
    libyaml reads flow collections up to 1,024 characters ahead of the events it returns.
    """
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                if depth == MAX_DEPTH:
                    raise InputError(Problem(_at(event.start_mark, file), TOO_DEEP))
                depth += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return


def _mark_location(err: yaml.MarkedYAMLError, file: str) -> Location:
    return _at(err.problem_mark or err.context_mark, file)


def _at(mark: Any, file: str) -> Location:
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
