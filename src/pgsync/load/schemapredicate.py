"""A JSON Schema as a yes/no predicate, for the keywords pgsync's schemas use.

Importing jsonschema costs some 35-40 ms, more than the rest of a small `pgsync validate`.
A valid file needs no error, only the verdict: this gives it without jsonschema, and the caller
asks jsonschema for the errors once the verdict is no. The verdict is jsonschema's own (Draft 7
and 2020-12 agree on every keyword here; tests/load/test_schemapredicate.py checks it against
jsonschema on generated documents); a keyword not understood here is refused when the schema
is compiled, never ignored.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[object], bool]

# Keywords that judge nothing: words for people and editors, and the homes of `$ref` targets.
ANNOTATIONS = frozenset(
    {
        "$comment",
        "$defs",
        "$id",
        "$schema",
        "default",
        "definitions",
        "deprecated",
        "description",
        "examples",
        "format",  # an annotation unless a format checker is given, which pgsync never does
        "markdownDescription",
        "readOnly",
        "title",
        "writeOnly",
    }
)


def compile_schema(schema: object, root: Mapping[str, Any] | None = None) -> Predicate:
    """The predicate of `schema`; a `$ref` is a local pointer into `root` (default: `schema`).

    Raises ValueError for a keyword this module does not know, so that no schema is judged
    by half of its rules.
    """
    document: Any = schema if root is None else root
    return _Compiler(document).compile(schema)


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self._root = root
        self._refs: dict[str, Predicate] = {}

    def compile(self, schema: object) -> Predicate:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise ValueError(f"not a schema: {schema!r}")
        if "$ref" in schema:
            if set(schema) - {"$ref"} - ANNOTATIONS:
                raise ValueError(f"a $ref beside other keywords: {sorted(schema)}")
            return self._ref(schema["$ref"])
        unknown = set(schema) - set(_KEYWORDS) - ANNOTATIONS - {"then", "else"}
        if unknown:
            raise ValueError(f"keywords not understood: {sorted(unknown)}")
        if schema.get("type") == "string" and set(schema) - ANNOTATIONS <= _STRING_KEYWORDS:
            return string_predicate(schema)
        checks = [
            build(self, schema[keyword], schema)
            for keyword, build in _KEYWORDS.items()
            if keyword in schema
        ]
        checks = [check for check in checks if check is not _always]
        if not checks:
            return _always
        if len(checks) == 1:
            return checks[0]
        return lambda value: all(check(value) for check in checks)

    def _ref(self, ref: str) -> Predicate:
        known = self._refs.get(ref)
        if known is not None:
            return known
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are understood: {ref}")
        target: Any = self._root
        for step in ref[2:].split("/"):
            key = step.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or key not in target:
                raise ValueError(f"a reference to a place not understood here: {ref}")
            target = target[key]
        compiled: list[Predicate] = []

        def forward(value: object) -> bool:
            return compiled[0](value)

        # Known before it is compiled, so that a schema referring to itself finds itself.
        self._refs[ref] = forward
        compiled.append(self.compile(target))
        self._refs[ref] = compiled[0]
        return compiled[0]


_STRING_KEYWORDS = frozenset({"type", "pattern", "minLength", "maxLength"})
_OTHER_KINDS_KEYWORDS = frozenset(
    {
        "properties",
        "patternProperties",
        "additionalProperties",
        "required",
        "propertyNames",
        "minProperties",
        "maxProperties",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minimum",
        "maximum",
    }
)
"""Keywords that say nothing of a string."""
_NO_LIMIT = float("inf")


def string_predicate(schema: Mapping[str, Any]) -> Predicate:
    """Whether a value is a string valid under `schema`, as one test: a call per keyword
    would double the time of checking 100,000 stacks.

    Keywords for objects, arrays and numbers are left out, as they hold for any string; a
    value that is no string is refused. Raises ValueError unless `schema` admits strings and
    says nothing else of them.
    """
    types = schema.get("type")
    unknown = set(schema) - ANNOTATIONS - _STRING_KEYWORDS - _OTHER_KINDS_KEYWORDS
    if unknown or "string" not in (types if isinstance(types, list) else [types]):
        raise ValueError(f"not a schema of strings alone: {sorted(unknown)}, type {types}")
    search = re.compile(schema.get("pattern", "")).search
    least, most = schema.get("minLength", 0), schema.get("maxLength", _NO_LIMIT)
    return lambda value: (
        isinstance(value, str) and least <= len(value) <= most and search(value) is not None
    )


def _always(value: object) -> bool:
    return True


def _never(value: object) -> bool:
    return False


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def _is_integer(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_TYPES: dict[str, Predicate] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "number": _is_number,
    "integer": _is_integer,
}


def _type(compiler: _Compiler, names: object, schema: Mapping[str, Any]) -> Predicate:
    wanted = [names] if isinstance(names, str) else list(names)  # type: ignore[call-overload]
    unknown = [name for name in wanted if name not in _TYPES]
    if unknown:
        raise ValueError(f"types not understood: {unknown}")
    checks = [_TYPES[name] for name in wanted]
    if len(checks) == 1:
        return checks[0]
    return lambda value: any(check(value) for check in checks)


def equal(one: object, other: object) -> bool:
    """JSON equality as jsonschema judges `enum` and `const`: true is not 1, 1 is 1.0, and a
    value is itself (one NaN object is equal to itself, two are not)."""
    if one is other:
        return True
    if isinstance(one, bool) or isinstance(other, bool):
        return isinstance(one, bool) and isinstance(other, bool) and one == other
    if isinstance(one, dict) and isinstance(other, dict):
        return one.keys() == other.keys() and all(equal(one[key], other[key]) for key in one)
    if isinstance(one, list) and isinstance(other, list):
        return len(one) == len(other) and all(map(equal, one, other))
    if isinstance(one, dict | list) or isinstance(other, dict | list):
        return False
    return one == other


def _enum(compiler: _Compiler, choices: list[object], schema: Mapping[str, Any]) -> Predicate:
    if all(isinstance(choice, str) for choice in choices):
        strings = frozenset(choices)
        return lambda value: isinstance(value, str) and value in strings
    return lambda value: any(equal(value, choice) for choice in choices)


def _const(compiler: _Compiler, expected: object, schema: Mapping[str, Any]) -> Predicate:
    return lambda value: equal(value, expected)


def _properties(
    compiler: _Compiler, properties: Mapping[str, Any], schema: Mapping[str, Any]
) -> Predicate:
    checks = {key: compiler.compile(sub) for key, sub in properties.items()}

    def check(value: object) -> bool:
        if not isinstance(value, dict):
            return True
        return all(checks[key](item) for key, item in value.items() if key in checks)

    return check


def _pattern_properties(
    compiler: _Compiler, patterns: Mapping[str, Any], schema: Mapping[str, Any]
) -> Predicate:
    checks = [(re.compile(pattern), compiler.compile(sub)) for pattern, sub in patterns.items()]

    def check(value: object) -> bool:
        if not isinstance(value, dict):
            return True
        return all(
            sub(item)
            for key, item in value.items()
            for pattern, sub in checks
            if pattern.search(key)
        )

    return check


def _additional_properties(
    compiler: _Compiler, additional: object, schema: Mapping[str, Any]
) -> Predicate:
    named = frozenset(schema.get("properties", ()))
    # One expression of all the patterns, as jsonschema joins them: a group or a backreference
    # of one pattern then reads as it does there.
    joined = "|".join(schema.get("patternProperties", ()))
    pattern = re.compile(joined) if joined else None
    sub = compiler.compile(additional)

    def extra(key: str) -> bool:
        return key not in named and (pattern is None or pattern.search(key) is None)

    if sub is _never and pattern is None:
        return lambda value: not isinstance(value, dict) or value.keys() <= named
    return lambda value: (
        not isinstance(value, dict) or all(sub(item) for key, item in value.items() if extra(key))
    )


def _required(compiler: _Compiler, keys: list[str], schema: Mapping[str, Any]) -> Predicate:
    needed = frozenset(keys)
    return lambda value: not isinstance(value, dict) or needed <= value.keys()


def _property_names(compiler: _Compiler, names: object, schema: Mapping[str, Any]) -> Predicate:
    sub = compiler.compile(names)
    return lambda value: not isinstance(value, dict) or all(map(sub, value))


def _items(compiler: _Compiler, items: object, schema: Mapping[str, Any]) -> Predicate:
    if isinstance(items, list):
        raise ValueError("tuple-form `items` is not understood")
    sub = compiler.compile(items)
    return lambda value: not isinstance(value, list) or all(map(sub, value))


def _size(kind: type, *, at_least: bool) -> _Build:
    """minLength, maxItems and the like: a bound on the length of a `kind` value."""

    def build(compiler: _Compiler, bound: int, schema: Mapping[str, Any]) -> Predicate:
        if at_least:
            return lambda value: not isinstance(value, kind) or len(value) >= bound  # type: ignore[arg-type]
        return lambda value: not isinstance(value, kind) or len(value) <= bound  # type: ignore[arg-type]

    return build


def _unique_items(compiler: _Compiler, unique: bool, schema: Mapping[str, Any]) -> Predicate:
    if not unique:
        return _always

    def check(value: object) -> bool:
        if not isinstance(value, list):
            return True
        return not any(equal(a, b) for i, a in enumerate(value) for b in value[i + 1 :])

    return check


def _pattern(compiler: _Compiler, pattern: str, schema: Mapping[str, Any]) -> Predicate:
    search = re.compile(pattern).search
    return lambda value: not isinstance(value, str) or search(value) is not None


def _minimum(compiler: _Compiler, least: float, schema: Mapping[str, Any]) -> Predicate:
    # Refused only when below, as jsonschema compares: NaN is below nothing.
    return lambda value: not _is_number(value) or not value < least  # type: ignore[operator]


def _maximum(compiler: _Compiler, most: float, schema: Mapping[str, Any]) -> Predicate:
    return lambda value: not _is_number(value) or not value > most  # type: ignore[operator]


def _not(compiler: _Compiler, sub: object, schema: Mapping[str, Any]) -> Predicate:
    check = compiler.compile(sub)
    return lambda value: not check(value)


def _if(compiler: _Compiler, condition: object, schema: Mapping[str, Any]) -> Predicate:
    test = compiler.compile(condition)
    then = compiler.compile(schema.get("then", True))
    otherwise = compiler.compile(schema.get("else", True))
    return lambda value: then(value) if test(value) else otherwise(value)


def _all_of(compiler: _Compiler, subs: list[object], schema: Mapping[str, Any]) -> Predicate:
    checks = [compiler.compile(sub) for sub in subs]
    return lambda value: all(check(value) for check in checks)


def _any_of(compiler: _Compiler, subs: list[object], schema: Mapping[str, Any]) -> Predicate:
    checks = [compiler.compile(sub) for sub in subs]
    return lambda value: any(check(value) for check in checks)


def _one_of(compiler: _Compiler, subs: list[object], schema: Mapping[str, Any]) -> Predicate:
    checks = [compiler.compile(sub) for sub in subs]
    return lambda value: sum(1 for check in checks if check(value)) == 1


_Build = Callable[[_Compiler, Any, Mapping[str, Any]], Predicate]

# The cheap checks first: `all` stops at the first that fails.
_KEYWORDS: dict[str, _Build] = {
    "type": _type,
    "enum": _enum,
    "const": _const,
    "required": _required,
    "minProperties": _size(dict, at_least=True),
    "maxProperties": _size(dict, at_least=False),
    "minItems": _size(list, at_least=True),
    "maxItems": _size(list, at_least=False),
    "minLength": _size(str, at_least=True),
    "maxLength": _size(str, at_least=False),
    "minimum": _minimum,
    "maximum": _maximum,
    "pattern": _pattern,
    "additionalProperties": _additional_properties,
    "propertyNames": _property_names,
    "properties": _properties,
    "patternProperties": _pattern_properties,
    "items": _items,
    "uniqueItems": _unique_items,
    "not": _not,
    "if": _if,
    "allOf": _all_of,
    "anyOf": _any_of,
    "oneOf": _one_of,
}
