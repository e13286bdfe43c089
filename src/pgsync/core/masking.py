"""Masking of secrets, the one home of secret handling: `fn::secret` config values and
secret-looking keys never reach output.

Configs are masked by path and by key (`mask_paths`, `mask_secret_keys`), and searched for
a secret (`holds_secret`: a file's marking, or a live secret-looking key). Text is scrubbed
by value, the way the access token always was: whatever key, message or echo a secret turns
up in, also JSON-escaped (once or twice) or inside a longer string. A run (one CLI command)
collects the values it learns in `run_secrets`: every value the files mark secret and every
live value under a secret-looking key (the client redacts the token itself).
"""

from __future__ import annotations

import copy
import functools
import json
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from pgsync.core.model import SECRET_KEY, SECRET_MASK, JsonPath, LiveGroup

JsonPointer = tuple[str | int, ...]
"""A place inside a JSON value: the mapping keys and list indices that lead to it."""

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


def is_secret_setting(key: str, value: Any, patterns: Iterable[str] = DEFAULT_SECRET_KEYS) -> bool:
    """Whether a live setting is secret: a value (not null) under a secret-looking key.

    A live `fn::secret` key is data that no file can declare, not a marking.
    """
    return value is not None and key != SECRET_KEY and is_secret_key(key, patterns)


def holds_secret(value: Any, patterns: tuple[str, ...] | None = None) -> bool:
    """Whether a secret is anywhere inside `value`.

    Without `patterns`, one written `fn::secret` (a file's marking); with them, a setting that
    `is_secret_setting` calls secret by those patterns (live config carries no marking).
    """
    if isinstance(value, dict):
        return any(
            _is_secret_entry(key, item, patterns) or holds_secret(item, patterns)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return any(holds_secret(item, patterns) for item in value)
    return False


def _is_secret_entry(key: str, item: Any, patterns: tuple[str, ...] | None) -> bool:
    return key == SECRET_KEY if patterns is None else is_secret_setting(key, item, patterns)


def mask_paths(value: Any, paths: Iterable[JsonPointer]) -> Any:
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


def touches_secret(path: JsonPointer, secret_paths: Iterable[JsonPath]) -> bool:
    """Whether the value at `path` shows a secret: it is one, lies inside one, or holds one."""
    return any(path[: len(p)] == p or p[: len(path)] == path for p in secret_paths)


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


def values_at(value: Any, paths: Iterable[JsonPointer]) -> list[Any]:
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


class Secrets:
    """The secret values known so far; `scrub` replaces each of them with the mask."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if not value.strip():
            return
        with self._lock:
            if value not in self._values:
                self._values.add(value)
                self._pattern = None

    def __bool__(self) -> bool:
        return bool(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def add_config(self, value: Any) -> None:
        """Every scalar inside a secret config value: a mapping or list of secrets is secret."""
        if isinstance(value, dict):
            for item in value.values():
                self.add_config(item)
        elif isinstance(value, list):
            for item in value:
                self.add_config(item)
        elif isinstance(value, str):
            self.add(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self.add(json.dumps(value))

    def scrub(self, text: str) -> str:
        pattern = self._compiled()
        return pattern.sub(SECRET_MASK, text) if pattern is not None else text

    def found_in(self, text: str) -> bool:
        pattern = self._compiled()
        return pattern is not None and pattern.search(text) is not None

    def scrub_json(self, value: Any) -> Any:
        """A copy of a JSON value with every string (keys too) scrubbed; its shape stays valid."""
        if isinstance(value, dict):
            return {self.scrub(key): self.scrub_json(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.scrub_json(item) for item in value]
        return self.scrub(value) if isinstance(value, str) else value

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                forms = {form for value in self._values for form in _echoes(value)}
                # Longest first and in one pass: a secret inside another is masked as the longer,
                # and the mask itself is never scanned again.
                alternatives = sorted(forms, key=lambda form: (-len(form), form))
                self._pattern = re.compile("|".join(map(re.escape, alternatives)))
            return self._pattern


def _echoes(value: str) -> Iterator[str]:
    """The spellings a value comes back in: as is, JSON-escaped once and twice, and repr'd."""
    yield value
    for ascii_only in (False, True):
        once = json.dumps(value, ensure_ascii=ascii_only)[1:-1]
        yield once
        yield json.dumps(once, ensure_ascii=ascii_only)[1:-1]
    yield repr(value)[1:-1]


run_secrets = Secrets()
"""The secrets of the current run; empty outside one, so library callers see no scrubbing."""


@contextmanager
def secret_run() -> Iterator[Secrets]:
    """One command's scope: the values learnt in it are forgotten at its end."""
    run_secrets.clear()
    try:
        yield run_secrets
    finally:
        run_secrets.clear()


def remember_config(values: Iterable[Any]) -> None:
    """Secret config values just learnt (from a file or from the API) join the run's secrets."""
    for value in values:
        run_secrets.add_config(value)


def remember_live(groups: Iterable[LiveGroup]) -> None:
    """Live config values under secret-looking keys (the API marks none) join the run's secrets."""
    for group in groups:
        for pack in group.packs:
            remember_config(secret_key_values(pack.config))


def scrub(text: str) -> str:
    return run_secrets.scrub(text)
