"""Documents changed in one place, to compare two judges of a schema (hypothesis)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st


def keys_of(schema: Any) -> list[str]:
    """Every property name the schema mentions: likely keys for a mutation."""
    found: set[str] = set()
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                found.update(properties)
            pending.extend(node.values())
    return sorted(found)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 200),
    st.floats(),
    st.sampled_from(["", "prod", "a/b", "mandatory", "advisory", "stacks", "audit", "x y", "env"]),
    st.text(max_size=5),
)


def values(keys: Sequence[str]) -> st.SearchStrategy[Any]:
    """Small JSON values whose mappings mostly use `keys`."""
    return st.recursive(
        SCALARS,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(keys) | st.text(max_size=3), inner, max_size=3)
        ),
        max_leaves=6,
    )


def mutated(document: Any, data: st.DataObject, keys: Sequence[str]) -> Any:
    """`document` with one value somewhere replaced, removed or added."""
    if isinstance(document, dict) and document and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(document)))
        return {**document, key: mutated(document[key], data, keys)}
    if isinstance(document, list) and document and data.draw(st.booleans()):
        index = data.draw(st.integers(0, len(document) - 1))
        item = mutated(document[index], data, keys)
        return [*document[:index], item, *document[index + 1 :]]
    action = data.draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "remove" and isinstance(document, dict) and document:
        key = data.draw(st.sampled_from(sorted(document)))
        return {k: v for k, v in document.items() if k != key}
    if action == "remove" and isinstance(document, list) and document:
        return document[1:]
    if action == "add" and isinstance(document, dict):
        return {**document, data.draw(st.sampled_from(keys)): data.draw(values(keys))}
    if action == "add" and isinstance(document, list):
        return [*document, data.draw(values(keys))]
    return data.draw(values(keys))
