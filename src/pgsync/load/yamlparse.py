"""YAML text → PyYAML's node graph; encoding and syntax errors become InputErrors at line:col."""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import Node

from pgsync.core.errors import InputError, Location, Problem

_CORE = "tag:yaml.org,2002:"

# Plain scalars are read by YAML 1.2's core schema, as JSON Schema tools and editors
# (yaml-language-server) read these files, not by PyYAML's YAML 1.1 rules: only true/false
# in three spellings are booleans, so `yes`, `no`, `on`, `off`, `y` and `n` are strings. Numbers
# follow the same schema for one rule throughout: `017` is 17, `0o17` is 15 and `1e3` is 1000,
# while 1.1's `1_000`, `0b101` and sexagesimal `1:20` are strings. Dates are strings as well.
# The one 1.1 type kept is the merge key `<<`, which files use with anchors.
BOOL = re.compile(r"(?:true|True|TRUE|false|False|FALSE)\Z")
INT = re.compile(r"(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z")
FLOAT = re.compile(
    r"(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z"
)
NULL = re.compile(r"(?:~|null|Null|NULL|)\Z")
YAML_1_1_BOOL = re.compile(
    r"(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)\Z"
)
"""What YAML 1.1 reads as a boolean, and so many tools still do (PyYAML leaves out y and n)."""
_MERGE = re.compile(r"<<\Z")

IMPLICIT: tuple[tuple[str, re.Pattern[str], list[str]], ...] = (
    (_CORE + "bool", BOOL, list("tTfF")),
    # Before float: `12` matches both and is an integer.
    (_CORE + "int", INT, list("-+0123456789")),
    (_CORE + "float", FLOAT, list("-+.0123456789")),
    (_CORE + "null", NULL, ["~", "n", "N", ""]),
    (_CORE + "merge", _MERGE, ["<"]),
)
"""Each implicit type: its tag, the whole text it matches, and the characters it may start with."""


def core_schema(base: Any) -> Any:
    """A subclass of the PyYAML loader `base` that resolves plain scalars by IMPLICIT.

    The resolver is where both of PyYAML's parsers (libyaml's and the Python one) ask what
    a plain scalar is, so this costs nothing per node beyond what PyYAML's own rules cost.
    """
    loader: Any = type(f"Core{base.__name__}", (base,), {"yaml_implicit_resolvers": {}})
    for tag, pattern, first in IMPLICIT:
        loader.add_implicit_resolver(tag, pattern, first)
    return loader


PURE_LOADER: Any = core_schema(yaml.SafeLoader)
LOADER: Any = core_schema(getattr(yaml, "CSafeLoader", yaml.SafeLoader))
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
