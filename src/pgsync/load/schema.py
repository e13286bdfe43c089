"""The packaged JSON Schema of desired-state files, and its violations in plain words."""

from __future__ import annotations

import difflib
import functools
import json
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pgsync.core.escaping import is_invisible
from pgsync.core.masking import DEFAULT_SECRET_KEYS, JsonPointer, holds_secret, is_secret_key
from pgsync.core.model import SECRET_KEY, SECRET_MASK
from pgsync.load.schemapredicate import Predicate, compile_schema, string_predicate
from pgsync.load.yamlparse import BOOL, YAML_1_1_BOOL

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, ValidationError

SCHEMA_FILE = "policygroups.schema.json"

# What `check` takes out of the whole-document check when it is valid anyway (jsonschema
# spent some 5 µs on each string of a list and some 35 µs on each group): the strings of a
# group's lists that may hold 100,000, tested with the schema's own pattern; pack entries and
# whole groups, which repeat (thousands of groups hold the same few packs), checked once per
# distinct value.
BULK_LISTS = ("stacks", "accounts")
PACK_LIST = "policyPacks"

_JSON_TYPES = {
    "array": "a list",
    "object": "a mapping",
    "string": "a string",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
    "null": "null",
}

# bool before int: a bool is an int in Python.
_PYTHON_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list, "a list"),
    (dict, "a mapping"),
)

_LEVELS = "advisory, mandatory, disabled, remediate"

# What each pattern of the schema means, for messages (a test checks that none is missing).
PATTERN_MESSAGES = {
    "^(?! )(?!.* $)(?!\\.{1,2}$)[A-Za-z0-9._ -]{1,100}$": (
        "expected a group name: 1 to 100 letters, digits, '-', '_', '.' or spaces, "
        "not beginning or ending with a space, not '.' or '..'"
    ),
    "^[^/\\s]+/[^/\\s]+$": "expected a stack as 'project/stack'",
    "^[^/\\s]+$": "expected a name without '/' or spaces",
    "^(advisory|mandatory|disabled|remediate)$": f"expected one of {_LEVELS}",
    "[A-Za-z0-9]": "expected a key name with a letter or digit",
    "^[a-z-]+:\\S(.*\\S)?$": "expected a safety finding id such as 'delete:legacy'",
    "^(?!\\.{1,2}$)[^/\\s]*$": (
        "expected an organization name without '/' or spaces, not '.' or '..'"
    ),
}

_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_CONTROL_NAMES = {
    "\x00": "NULL",
    "\t": "TAB",
    "\n": "LINE FEED",
    "\r": "CARRIAGE RETURN",
    "\x1b": "ESCAPE",
    "\x7f": "DELETE",
    "\x85": "NEXT LINE",
}
_FREE_TEXT_BREAKS = frozenset("\t\n")
"""What a pack config's string values may hold besides visible text: multi-line settings."""


TEMPLATE_LESS = ("name", "previously", "extends")
"""The group keys that a template may not set (contract §6.2)."""

RULES_AS_LIST = (
    "expected a list of rules (e.g. `- env: prod`), or {expression: <the API's rule JSON>}"
)


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """One violation: the path it concerns, whether to point at that path's key, and why."""

    path: JsonPointer
    at_key: bool
    message: str


@functools.cache
def schema_text() -> str:
    """The schema file exactly as shipped (what `pgsync schema` prints)."""
    # Beside the package's modules, as pip installs it: importlib.resources would cost 5 ms.
    return (Path(__file__).parents[1] / "schemas" / SCHEMA_FILE).read_text(encoding="utf-8")


@functools.cache
def inlined_schema() -> Any:
    """The schema with its local `$ref`s inlined, read once.

    Following a `$ref` costs jsonschema about as much as validating the value itself, per
    value; with 100,000 stacks that doubles the time, so validators get a ref-free copy.
    """
    schema = json.loads(schema_text())
    return _inline_refs(schema, schema.get("$defs", {}))


@functools.cache
def validator() -> Draft202012Validator:
    """jsonschema's validator for the schema, built once: what words each violation."""
    # Imported only for a file with a violation: a valid one gets its verdict from `_accepts`.
    from jsonschema import Draft202012Validator  # noqa: PLC0415

    # The schema ships with pgsync and tests/load/test_schema.py checks it against its
    # metaschema: checking it again on every run would cost 30-40 ms.
    return Draft202012Validator(inlined_schema())


@functools.cache
def _accepts() -> Predicate:
    return compile_schema(inlined_schema())


def check(
    instance: object,
    secret_keys: tuple[str, ...] = DEFAULT_SECRET_KEYS,
    written: Mapping[JsonPointer, str] = MappingProxyType({}),
) -> list[SchemaProblem]:
    """Every schema violation of a document, in plain words, without duplicates.

    No message quotes a value written `fn::secret` or under a config key matching `secret_keys`.
    `written` holds the text of values the file wrote as numbers or booleans (Document.written),
    for a message to show what to quote exactly as it is in the file.
    """
    found: dict[SchemaProblem, None] = dict.fromkeys(hidden_characters(instance))
    # A string with a hidden character gets that message only: a pattern's would quote it.
    hidden = {problem.path for problem in found}
    slim, kept = _slimmed(instance)

    if _accepts()(slim):
        return list(found)

    def text_at(path: JsonPointer) -> str | None:
        return written.get(_original_path(path, kept))

    for error in validator().iter_errors(slim):
        explained = _explain(error, secret_keys, text_at)
        restored = (_restore_index(problem, kept) for problem in explained)
        found.update(dict.fromkeys(p for p in restored if p.path not in hidden))
    return list(found)


def hidden_characters(instance: object) -> list[SchemaProblem]:
    """Every key and string value holding a character that the reader cannot see as it is.

    Names, stacks, pack names, version tags and keys must be visible text only; a pack
    config's string values may also hold tabs and line breaks. The message names the code
    point and where it is in the string, never the string (it may be secret).
    """
    if _plainly_visible(instance):
        return []
    problems: list[SchemaProblem] = []
    pending: list[tuple[JsonPointer, object]] = [((), instance)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            _check_text(value, path, False, problems)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, (*path, key), True, problems)
                pending.append(((*path, key), item))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                # Lists of 100,000 stacks: a visible string costs no path.
                if not (isinstance(item, str) and item.isascii() and item.isprintable()):
                    pending.append(((*path, index), item))
    return sorted(problems, key=lambda p: [str(step) for step in p.path])


def _plainly_visible(instance: object) -> bool:
    """Whether every key and string of `instance` is printable ASCII, judged at C speed: its
    JSON text is, with no backslash (JSON writes one before each character it escapes)."""
    try:
        text = json.dumps(instance, ensure_ascii=False)
    except (TypeError, ValueError):
        return False  # a value JSON has no text for: the walk judges it
    return "\\" not in text and text.isascii() and text.isprintable()


def _in_config(path: JsonPointer) -> bool:
    """Whether `path` is inside a pack's config: in a group, a template or a pack set."""
    if path[:1] == ("packSets",):
        return path[3:4] == ("config",)
    return (
        path[:1] in (("policyGroups",), ("templates",))
        and path[2:3] == ("policyPacks",)
        and path[4:5] == ("config",)
    )


def _check_text(text: str, path: JsonPointer, at_key: bool, problems: list[SchemaProblem]) -> None:
    if text.isascii() and text.isprintable():
        return  # the common case, at C speed
    allowed = _FREE_TEXT_BREAKS if not at_key and _in_config(path) else frozenset()
    for offset, char in enumerate(text):
        if char in allowed or not is_invisible(char):
            continue
        what = "a key" if at_key else _text_kind(path)
        message = (
            f"character U+{ord(char):04X} ({_char_name(char)}) is not allowed in {what}"
            f" (character {offset + 1} of {len(text)}): {_why_hidden(char)}"
        )
        problems.append(SchemaProblem(path, at_key, message))
        return


def _text_kind(path: JsonPointer) -> str:
    """What a string is, in the words of the schema, for messages."""
    if path == ("organization",):
        return "an organization name"
    if path[:1] == ("packSets",):
        # A set's entry is a group's pack entry: read it as one.
        path = ("policyGroups", 0, "policyPacks", *path[2:])
    if path[:1] not in (("policyGroups",), ("templates",)) or len(path) < 3:
        return "a value"
    if _in_config(path):
        return "a config value"
    key, last = path[2], path[-1]
    if key in ("name", "previously"):
        return "a group name"
    if key == "stacks":
        return "a stack"
    if key == "accounts":
        return "an account name"
    if key == "policyPacks" and last == "name":
        return "a pack name"
    if key == "policyPacks" and last == "versionTag":
        return "a version tag"
    if key == "policyPacks" and "environments" in path:
        return "an environment reference"
    if key in ("stackMatch", "accountMatch"):
        return "a match rule"
    return "a value"


def _char_name(char: str) -> str:
    if char in _CONTROL_NAMES:
        return _CONTROL_NAMES[char]
    name: str = unicodedata.name(char, "a control character")
    return name


def _why_hidden(char: str) -> str:
    if char in _BIDI_CONTROLS:
        return (
            "a bidirectional control makes text read differently from what is applied"
            " (CVE-2021-42574)"
        )
    if unicodedata.category(char) == "Cf":
        return "an invisible character makes text differ from what it looks like"
    return "the service and a reviewer would not see this text as written"


Kept = dict[JsonPointer, list[int]]
"""For each slimmed list (by its path): the original index of each item left in it."""


def _slimmed(instance: object) -> tuple[object, Kept]:
    """A shallow copy without what is valid anyway: the bulk lists' plain strings, the pack
    entries and the whole groups that are.

    Sound because the schema constrains these lists item by item only, and a group field by
    field (`_list_items` and `_group_schema` refuse a schema that says more).
    """
    if not isinstance(instance, dict) or not isinstance(instance.get("policyGroups"), list):
        return instance, {}
    accepts: dict[str, Predicate] = dict(_bulk_item_accepts())
    accepts[PACK_LIST] = _Distinct(_pack_entry_accepts()).valid
    groups = _Distinct(_group_accepts())
    name_accepts = _group_name_accepts()
    kept: Kept = {}
    left: list[int] = []
    slim_groups: list[object] = []
    for index, group in enumerate(instance["policyGroups"]):
        slim = dict(group) if isinstance(group, dict) else group
        for key, accept in accepts.items():
            items = slim.get(key) if isinstance(slim, dict) else None
            if not isinstance(items, list):
                continue
            needed = [i for i, item in enumerate(items) if not accept(item)]
            if len(needed) < len(items):
                slim[key] = [items[i] for i in needed]
                kept["policyGroups", index, key] = needed
        if isinstance(slim, dict) and _valid_group(slim, name_accepts, groups):
            continue
        left.append(index)
        slim_groups.append(slim)
    if len(left) < len(instance["policyGroups"]):
        kept["policyGroups",] = left
    return {**instance, "policyGroups": slim_groups}, kept


def _valid_group(group: dict[str, Any], name_accepts: Predicate, shapes: _Distinct) -> bool:
    """Names differ from group to group, the rest mostly does not: checked apart."""
    if not _group_required() <= group.keys():
        return False
    if "name" in group and not name_accepts(group["name"]):
        return False
    return shapes.valid({key: value for key, value in group.items() if key != "name"})


@functools.cache
def _group_required() -> frozenset[str]:
    return frozenset(_group_schema().get("required", ()))


class _Distinct:
    """Whether a value is valid under a schema, remembered per distinct value."""

    def __init__(self, accepts: Predicate) -> None:
        self._accepts = accepts
        self._known: dict[str, bool] = {}

    def valid(self, item: object) -> bool:
        if not isinstance(item, dict):
            return False
        try:
            # Only a key in memory: a secret in it goes nowhere.
            key = _sorted_json(item)
        except (TypeError, ValueError):
            return False  # a value JSON has no text for: jsonschema says what it is
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = self._accepts(item)
        return known


_sorted_json = json.JSONEncoder(sort_keys=True).encode
"""json.dumps(…, sort_keys=True) without building an encoder on every call."""


@functools.cache
def _pack_entry_accepts() -> Predicate:
    return compile_schema(_list_items(_group_schema()["properties"][PACK_LIST], PACK_LIST))


@functools.cache
def _group_accepts() -> Predicate:
    # A group's shape is all but its name: `_valid_group` checks what is required.
    return compile_schema({k: v for k, v in _group_schema().items() if k != "required"})


def _restore_index(problem: SchemaProblem, kept: Kept) -> SchemaProblem:
    """Point a problem found in a slimmed list back at the item's place in the file."""
    path = _original_path(problem.path, kept)
    return problem if path is problem.path else SchemaProblem(path, problem.at_key, problem.message)


def _original_path(path: JsonPointer, kept: Kept) -> JsonPointer:
    """A path into the slimmed document as a path into the file's."""
    if len(path) < 2 or not isinstance(path[1], int):
        return path
    groups = kept.get(path[:1])
    found = path if groups is None else (path[0], groups[path[1]], *path[2:])
    items = kept.get(found[:3])
    if items is not None and len(found) > 3 and isinstance(found[3], int):
        found = (*found[:3], items[found[3]], *found[4:])
    return path if found == path else found


@functools.cache
def _bulk_item_accepts() -> dict[str, Predicate]:
    group = _group_schema()["properties"]
    return {key: string_predicate(_list_items(group[key], key)) for key in BULK_LISTS}


@functools.cache
def _group_name_accepts() -> Predicate:
    return compile_schema(_group_schema()["properties"]["name"])


_ABOUT = {"description", "markdownDescription"}


def _group_schema() -> Any:
    """The schema of each group, which must judge a group field by field."""
    full: Any = inlined_schema()
    group = _list_items(full["properties"]["policyGroups"], "policyGroups")
    unknown = set(group) - {"type", "additionalProperties", "properties", "required"} - _ABOUT
    if unknown:
        raise ValueError(f"teach _slimmed about {sorted(unknown)} of a group")
    return group


def _list_items(array: Mapping[str, Any], key: str) -> Any:
    """The schema of each item of the list `key`, which must say nothing of the list as a
    whole beyond its type."""
    unknown = set(array) - {"type", "items"} - _ABOUT
    if unknown:
        raise ValueError(f"teach _slimmed about {sorted(unknown)} of {key}")
    return array["items"]


def _inline_refs(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _inline_refs(value, defs) for key, value in node.items() if key != "$defs"}
    ref = result.pop("$ref", None)
    if ref is None:
        return result
    target = _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
    clash = (set(target) & set(result)) - {"description"}
    if clash:
        raise ValueError(f"cannot inline {ref}: both sides set {sorted(clash)}")
    return {**target, **result}


def _no_text(path: JsonPointer) -> str | None:
    return None


def _explain(
    error: ValidationError,
    secret_keys: tuple[str, ...] = DEFAULT_SECRET_KEYS,
    text_at: Callable[[JsonPointer], str | None] = _no_text,
) -> list[SchemaProblem]:
    path = tuple(error.absolute_path)
    keyword = error.validator
    # Typed loosely by jsonschema: the keyword's value and the instance, as in the schema.
    expected: Any = error.validator_value
    value: Any = error.instance
    schema: Any = error.schema
    if schema.get("properties", {}).keys() == {"expression"} and keyword in (
        "required",
        "additionalProperties",
    ):
        # A match rule written as one mapping instead of a list: one message, not two.
        if keyword == "additionalProperties":
            return []
        return [SchemaProblem(path, False, RULES_AS_LIST)]
    if _uses_a_set_in_a_set(path, value) and keyword in ("required", "additionalProperties"):
        message = "a pack set lists packs only (sets do not use sets): list its packs here"
        return [SchemaProblem((*path, "use"), True, message)]
    if keyword == "not" and "propertyNames" in error.schema_path:
        # Only a template's keys are limited this way (contract §6.2).
        why = (
            "templates do not extend templates" if value == "extends" else "each group names itself"
        )
        return [SchemaProblem((*path, value), True, f"a template cannot set '{value}': {why}")]
    if keyword == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        if path[:1] == ("templates",) and len(path) == 2:
            allowed = [key for key in allowed if key not in TEMPLATE_LESS]
        return [
            SchemaProblem((*path, key), True, _unknown_key(key, allowed))
            for key in value
            if key not in allowed
        ]
    if keyword == "required":
        return [
            SchemaProblem(path, False, f"missing required key '{key}'")
            for key in expected
            if key not in value
        ]
    if keyword == "type":
        wanted = [expected] if isinstance(expected, str) else expected
        names = " or ".join(_JSON_TYPES[name] for name in wanted)
        got = _misread(path, value, wanted, text_at(path)) or _kind(value)
        return [SchemaProblem(path, False, f"expected {names}, got {got}")]
    # The messages above quote no value that may be secret; those below may quote the value.
    if SECRET_KEY in path or holds_secret(value) or _under_secret_key(path, secret_keys):
        # Never quote what the user marked secret, not even in an error.
        return [
            SchemaProblem(path, False, f"invalid value {SECRET_MASK} (schema rule '{keyword}')")
        ]
    if keyword == "enum":
        choices = ", ".join(str(choice) for choice in expected)
        return [SchemaProblem(path, False, f"expected one of {choices}, got {_show(value)}")]
    if keyword == "pattern":
        meaning = PATTERN_MESSAGES.get(expected, f"expected text matching {expected}")
        return [SchemaProblem(path, False, f"{meaning}, got {_show(value)}")]
    if keyword == "minLength" and expected == 1:
        return [SchemaProblem(path, False, "must not be empty")]
    return [SchemaProblem(path, False, error.message)]


def _uses_a_set_in_a_set(path: JsonPointer, value: object) -> bool:
    """Whether `value` is an entry of a pack set that tries to use another set."""
    in_a_set = path[:1] == ("packSets",) and len(path) == 3
    return in_a_set and isinstance(value, dict) and "use" in value


def _misread(path: JsonPointer, value: object, wanted: list[str], text: str | None) -> str | None:
    """What YAML made of the value, with the fix, when the file meant the other kind.

    Never for a pack's config, whose values are free-form and may be secret.
    """
    if _in_config(path) or SECRET_KEY in path:
        return None
    if text is not None and "string" in wanted:
        kind = "the boolean" if isinstance(value, bool) else "the number"
        return f"{kind} {text}; quote it: {json.dumps(text)}"
    if isinstance(value, str) and "boolean" in wanted and YAML_1_1_BOOL.match(value):
        fix = "write it without quotes" if BOOL.match(value) else "write true or false"
        return f'the string "{value}"; {fix}'
    return None


def _unknown_key(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f", did you mean '{close[0]}'?" if close else ""
    return f"unknown key '{key}'{hint} (allowed: {', '.join(allowed)})"


def _under_secret_key(path: JsonPointer, secret_keys: tuple[str, ...]) -> bool:
    """Whether a pack config key on `path` looks secret (a policy name too: errors over-mask)."""
    if "config" not in path:
        return False
    inside = path[path.index("config") + 1 :]
    return any(isinstance(step, str) and is_secret_key(step, secret_keys) for step in inside)


def _kind(value: object) -> str:
    return next((name for kind, name in _PYTHON_KINDS if isinstance(value, kind)), "null")


def _show(value: object, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
