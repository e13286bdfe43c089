"""A declared pack's config in the API's wire form: secrets unwrapped, the level as `all`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pgsync.errors import Problem
from pgsync.model import SECRET_KEY, JsonPath, canonical_json, normalise_config
from pgsync.yamlnodes import Document, JsonPointer


def wire_config(
    doc: Document, pack_path: JsonPointer, pack: Mapping[str, Any], problems: list[Problem]
) -> tuple[str, frozenset[JsonPath]]:
    """Canonical JSON of a schema-valid pack's wire config, and the config paths of its secrets.

    Secret paths are relative to the wire config, e.g. `("db-policy", "password")`.
    """
    config: Mapping[str, Any] = pack.get("config", {})
    level: str | None = pack.get("enforcementLevel")
    _check_level(doc, pack_path, config, level, problems)
    secrets: set[JsonPath] = set()

    def unwrap(value: Any, secret_path: JsonPath | None, doc_path: JsonPointer) -> Any:
        # secret_path is None inside a list: a JsonPath cannot name a list item.
        if isinstance(value, list):
            return [unwrap(item, None, (*doc_path, i)) for i, item in enumerate(value)]
        if not isinstance(value, dict):
            return value
        if SECRET_KEY not in value:
            return {
                key: unwrap(item, _child(secret_path, key), (*doc_path, key))
                for key, item in value.items()
            }
        where = doc.key_at((*doc_path, SECRET_KEY))
        for other in value:
            if other != SECRET_KEY:
                message = f"'{SECRET_KEY}' must be the only key here"
                problems.append(Problem(doc.key_at((*doc_path, other)), message))
        if value[SECRET_KEY] is None:
            problems.append(Problem(where, "secret value not filled in"))
        if secret_path is None:
            message = f"'{SECRET_KEY}' cannot be used inside a list; use it in a mapping"
            problems.append(Problem(where, message))
        else:
            secrets.add(secret_path)
        return value[SECRET_KEY]

    plain: dict[str, Any] = {}
    for policy, settings in config.items():
        policy_path = (*pack_path, "config", policy)
        if isinstance(settings, str):
            plain[policy] = settings
            continue
        if SECRET_KEY in settings:
            message = f"a policy's whole config cannot be a secret; use '{SECRET_KEY}' on values"
            problems.append(Problem(doc.key_at((*policy_path, SECRET_KEY)), message))
        plain[policy] = {
            key: unwrap(value, (policy, key), (*policy_path, key))
            for key, value in settings.items()
        }
    return canonical_json(normalise_config(plain, level)), frozenset(secrets)


def _check_level(
    doc: Document,
    pack_path: JsonPointer,
    config: Mapping[str, Any],
    level: str | None,
    problems: list[Problem],
) -> None:
    """The pack's `enforcementLevel` is shorthand for `config.all`; the two must agree."""
    entry = config.get("all")
    written = entry.get("enforcementLevel") if isinstance(entry, dict) else entry
    if level is not None and written is not None and written != level:
        message = f"enforcementLevel '{level}' contradicts '{written}' in config.all"
        problems.append(Problem(doc.at((*pack_path, "enforcementLevel")), message))


def _child(path: JsonPath | None, key: str) -> JsonPath | None:
    return None if path is None else (*path, key)
