"""Masking of secrets: `fn::secret` config values and secret-looking keys never reach output."""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from typing import Any

from pgsync.core.model import SECRET_MASK

Path = tuple[str | int, ...]

DEFAULT_SECRET_KEYS = ("password", "secret", "token", "apikey", "privatekey")
"""A config key whose name contains one of these (any case, ignoring `-` and `_`) is secret."""


def is_secret_key(name: str, patterns: Iterable[str] = DEFAULT_SECRET_KEYS) -> bool:
    """Whether a config key's name contains one of `patterns` (contract §1)."""
    return _is_secret(name, tuple(patterns))


@functools.lru_cache(maxsize=4096)
def _is_secret(name: str, patterns: tuple[str, ...]) -> bool:
    # Cached: the same few keys recur in every pack of every group.
    folded = _fold(name)
    return any(_fold(pattern) in folded for pattern in patterns)


def _fold(name: str) -> str:
    # `api_key`, `api-key` and `APIKey` are one name.
    return name.lower().replace("-", "").replace("_", "")


def mask_paths(value: Any, paths: Iterable[Path]) -> Any:
    """A deep copy of `value` with the leaf at every path (that exists) replaced by the mask."""
    paths = list(paths)
    if not paths:
        return value
    result = copy.deepcopy(value)
    for path in paths:
        parent = result
        for step in path[:-1]:
            try:
                parent = parent[step]
            except (KeyError, IndexError, TypeError):
                break
        else:
            last = path[-1]
            in_dict = isinstance(parent, dict) and last in parent
            in_list = isinstance(parent, list) and isinstance(last, int) and last < len(parent)
            if in_dict or in_list:
                parent[last] = SECRET_MASK
    return result


def masked_config(config: dict[str, Any], secret_paths: Iterable[tuple[str, ...]]) -> Any:
    return mask_paths(config, secret_paths)


def is_secret_path(path: Path, secret_paths: Iterable[tuple[str, ...]]) -> bool:
    """True when `path` is a secret leaf or lies inside one."""
    return any(tuple(path[: len(p)]) == p for p in secret_paths)


def secret_key_values(value: Any, patterns: Iterable[str] = DEFAULT_SECRET_KEYS) -> list[Any]:
    """The values that `mask_secret_keys` would mask, for scrubbing them wherever else they go."""
    patterns = tuple(patterns)
    found: list[Any] = []

    def walk(node: Any, depth: int) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, item in items:
            if depth > 0 and isinstance(key, str) and is_secret_key(key, patterns):
                found.append(item)
            elif isinstance(item, dict | list):
                walk(item, depth + 1)

    if isinstance(value, dict | list):
        walk(value, 0)
    return found


def values_at(value: Any, paths: Iterable[Path]) -> list[Any]:
    """The values at those of `paths` that exist in `value`."""
    found = []
    for path in paths:
        node = value
        for step in path:
            try:
                node = node[step]
            except (KeyError, IndexError, TypeError):
                break
        else:
            found.append(node)
    return found


def mask_secret_keys(value: Any, patterns: Iterable[str] = DEFAULT_SECRET_KEYS) -> Any:
    """A copy with every value under a secret-looking key (at any depth below a policy) masked.

    Live config carries no `fn::secret` marking; this is what keeps it out of digests.
    """
    patterns = tuple(patterns)

    def walk(node: Any, depth: int) -> Any:
        if isinstance(node, dict):
            return {
                key: SECRET_MASK
                if depth > 0 and is_secret_key(key, patterns)
                else walk(item, depth + 1)
                for key, item in node.items()
            }
        if isinstance(node, list):
            return [walk(item, depth + 1) for item in node]
        return node

    return walk(value, 0)
