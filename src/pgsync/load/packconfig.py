"""A declared pack's config in the API's wire form: secrets unwrapped, the level as `all`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pgsync.core.errors import Location, Problem
from pgsync.core.masking import (
    DEFAULT_SECRET_KEYS,
    JsonPointer,
    is_secret_key,
    remember_config,
    values_at,
)
from pgsync.core.model import SECRET_KEY, JsonPath, canonical_json, normalise_config
from pgsync.load.yamlnodes import Document


@dataclass(frozen=True, slots=True)
class Placeholder:
    """An unfilled `fn::secret` that the caller allowed: where, and which config value it is."""

    location: Location
    group: str
    pack: str
    path: JsonPath


@dataclass(slots=True)
class SecretRules:
    """How one load treats secrets: which key names are secret, and unfilled placeholders."""

    keys: tuple[str, ...] = DEFAULT_SECRET_KEYS
    placeholders: list[Placeholder] | None = None
    """None: an unfilled placeholder is an error; a list: each one is added to it instead."""


def wire_config(
    doc: Document,
    pack_path: JsonPointer,
    pack: Mapping[str, Any],
    problems: list[Problem],
    *,
    rules: SecretRules,
    group: str,
) -> tuple[str, frozenset[JsonPath]]:
    """Canonical JSON of a schema-valid pack's wire config, and the config paths of its secrets.

    Secret paths are relative to the wire config, e.g. `("db-policy", "password")`: values
    written `fn::secret`, and values under a setting whose name matches `rules.keys`.
    """
    config: Mapping[str, Any] = pack.get("config", {})
    level: str | None = pack.get("enforcementLevel")
    _check_level(doc, pack_path, config, level, problems)
    unwrapper = _Unwrapper(doc, problems, rules, group, pack["name"])
    plain: dict[str, Any] = {}
    for policy, settings in config.items():
        policy_path = (*pack_path, "config", policy)
        if isinstance(settings, str):
            plain[policy] = settings
            continue
        if SECRET_KEY in settings:
            message = f"a policy's whole config cannot be a secret; use '{SECRET_KEY}' on values"
            problems.append(Problem(doc.key_at((*policy_path, SECRET_KEY)), message))
        # Policy names are not setting names: `no-plaintext-secrets` holds no secret itself.
        plain[policy] = unwrapper.mapping(settings, (policy,), policy_path, in_list=False)
    # Known secret from here on: scrubbed from every message, wherever the API echoes it.
    remember_config(values_at(plain, unwrapper.secrets))
    return canonical_json(normalise_config(plain, level)), frozenset(unwrapper.secrets)


class _Unwrapper:
    """Walks one pack's settings: unwraps `fn::secret` values and collects the secret paths."""

    def __init__(
        self, doc: Document, problems: list[Problem], rules: SecretRules, group: str, pack: str
    ) -> None:
        self.doc, self.problems, self.rules = doc, problems, rules
        self.group, self.pack = group, pack
        self.secrets: set[JsonPath] = set()

    def value(self, value: Any, path: JsonPath, doc_path: JsonPointer, *, in_list: bool) -> Any:
        # Inside a list `path` stays the list's own: a JsonPath cannot name a list item, so a
        # secret-looking key there makes the whole list secret.
        if isinstance(value, list):
            return [
                self.value(item, path, (*doc_path, i), in_list=True) for i, item in enumerate(value)
            ]
        if not isinstance(value, dict):
            return value
        if SECRET_KEY in value:
            return self._secret(value, path, doc_path, in_list=in_list)
        return self.mapping(value, path, doc_path, in_list=in_list)

    def mapping(
        self, value: Mapping[str, Any], path: JsonPath, doc_path: JsonPointer, *, in_list: bool
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, item in value.items():
            child = path if in_list else (*path, key)
            if is_secret_key(key, self.rules.keys):
                # Masked whole, whatever it holds: a mapping or list of secrets is secret.
                self.secrets.add(child)
            result[key] = self.value(item, child, (*doc_path, key), in_list=in_list)
        return result

    def _secret(
        self, value: Mapping[str, Any], path: JsonPath, doc_path: JsonPointer, *, in_list: bool
    ) -> Any:
        doc, problems = self.doc, self.problems
        where = doc.key_at((*doc_path, SECRET_KEY))
        for other in value:
            if other != SECRET_KEY:
                message = f"'{SECRET_KEY}' must be the only key here"
                problems.append(Problem(doc.key_at((*doc_path, other)), message))
        if in_list:
            message = f"'{SECRET_KEY}' cannot be used inside a list; use it in a mapping"
            problems.append(Problem(where, message))
            return value[SECRET_KEY]
        self.secrets.add(path)
        if value[SECRET_KEY] is None:
            if self.rules.placeholders is None:
                problems.append(Problem(where, "secret value not filled in"))
            else:
                self.rules.placeholders.append(Placeholder(where, self.group, self.pack, path))
        return value[SECRET_KEY]


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
