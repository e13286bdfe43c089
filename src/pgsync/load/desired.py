"""Desired-state files → DesiredState, reporting every problem of every file (contract §1)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pgsync.core.errors import InputError, Location, Problem, ValidationFailed
from pgsync.core.gcpause import gc_paused
from pgsync.core.masking import DEFAULT_SECRET_KEYS, JsonPointer
from pgsync.core.model import (
    DesiredGroup,
    DesiredState,
    InputFile,
    PackOrigin,
    SafetySettings,
    sha256_digest,
)
from pgsync.files import input_limit, read_input
from pgsync.load import schema
from pgsync.load.desired_group import build_group
from pgsync.load.expansion import SETS, TEMPLATES, Library, expand, uses_indirection
from pgsync.load.packconfig import Placeholder, SecretRules
from pgsync.load.yamlnodes import Document, load_yaml

SUFFIXES = (".yaml", ".yml")

Setting = TypeVar("Setting", str, bool)


@dataclass(slots=True)
class _File:
    """A parsed file and what the cross-file rules need of it (None: missing or invalid)."""

    doc: Document
    organization: str | None
    prune: bool | None
    groups: list[tuple[int, Mapping[str, Any]]]
    """The schema-valid groups, with their index in `policyGroups`."""
    secret_keys: tuple[str, ...] | None
    """`safety.secretKeys`, when the file sets it."""
    safety: Mapping[str, Any]
    """The file's `safety:` block, when it is a mapping (else empty)."""
    allow: tuple[str, ...]
    invalid: set[JsonPointer]
    """The groups, pack sets and templates that the schema found wrong (by their paths)."""
    origins: dict[JsonPointer, PackOrigin] = field(default_factory=dict)
    """The pack entries that a pack set or template gave (see expansion.py)."""


def load_desired(
    paths: Sequence[str | Path],
    *,
    placeholders: list[Placeholder] | None = None,
    max_bytes: int | None = None,
    keep: bool = False,
) -> DesiredState:
    """Load, check and normalise desired-state files; raise ValidationFailed with every problem.

    A directory stands for every `*.yaml` and `*.yml` file in it and in its sub-directories,
    walked depth first in name order; entries whose name starts with `.` (files and
    directories) are skipped. A file reached twice (a directory and a file in it both given,
    or through a link) is read once, under the name it was first reached by. Locations name
    files as given: `dir/sub/name` for a directory's. An entry that cannot be read (a
    dangling or looping link, a FIFO, a device, a directory that cannot be listed, no
    permission) or is over `max_bytes` (default: `input_limit` of the environment) is a
    problem like any other, so nothing is planned, let alone pruned, without every file.

    An unfilled secret placeholder (`fn::secret: null`, as `import` writes them) is an error,
    unless `placeholders` is given: then each is added to it, and its value (null) stands for
    an unknown that the caller must not send.

    `keep`: the state lives until the process ends (a command's), so its objects are frozen
    out of the garbage collector's sight (see gc_paused).
    """
    if not paths:
        raise ValueError("no desired-state paths given")
    limit = input_limit(os.environ) if max_bytes is None else max_bytes
    with gc_paused(keep=keep):
        return _load(paths, placeholders, limit)[0]


def load_expanded(paths: Sequence[str | Path]) -> tuple[DesiredState, dict[str, Any]]:
    """`load_desired`, and all files as one plain document: every pack set, template and
    `use` expanded, the settings of several files merged as loading merges them."""
    if not paths:
        raise ValueError("no desired-state paths given")
    with gc_paused():
        state, files = _load(paths, None, input_limit(os.environ))
    return state, _merged(state, files)


def _merged(state: DesiredState, files: list[_File]) -> dict[str, Any]:
    document: dict[str, Any] = {"organization": state.organization}
    if any(f.prune is not None for f in files):
        document["prune"] = state.prune
    safety: dict[str, Any] = {}
    for key in ("maxDeletePercent", "maxUnprotected"):
        values = [f.safety[key] for f in files if key in f.safety]
        if values:
            safety[key] = min(values)
    if any(f.secret_keys is not None for f in files):
        safety["secretKeys"] = list(_secret_keys(files))
    if safety:
        document["safety"] = safety
    allow = list(dict.fromkeys(a for f in files for a in f.allow))
    if allow:
        document["allow"] = allow
    document["policyGroups"] = [g for f in files for g in f.doc.value["policyGroups"]]
    # Groups share their sets' entries; a copy keeps YAML from writing them as aliases.
    copy: dict[str, Any] = json.loads(json.dumps(document))
    return copy


def _load(
    paths: Sequence[str | Path], placeholders: list[Placeholder] | None, limit: int
) -> tuple[DesiredState, list[_File]]:
    problems: list[Problem] = []
    inputs: list[InputFile] = []
    files: list[_File] = []
    for display, path in _expand(paths, problems):
        try:
            data = read_input(path, limit)
        except OSError as err:
            problems.append(Problem(Location(display, 1, 1), f"cannot read: {err.strerror}"))
            continue
        inputs.append(InputFile(display, sha256_digest(data)))
        parsed = _parse(display, data, problems)
        if parsed is not None:
            files.append(parsed)
    warnings = _expand_all(files, problems)

    organization = _agreed("organization", [(f.organization, f.doc) for f in files], problems)
    prune = _agreed("prune", [(f.prune, f.doc) for f in files], problems)
    rules = SecretRules(_secret_keys(files), placeholders)
    groups: list[DesiredGroup] = []
    for parsed in files:
        groups.extend(
            build_group(parsed.doc, i, group, problems, rules, origins=parsed.origins)
            for i, group in parsed.groups
        )
    _check_unique_names(files, problems)
    if problems or organization is None:
        raise ValidationFailed(problems)
    state = DesiredState(
        organization=organization,
        groups=tuple(groups),
        prune=prune is True,
        inputs=tuple(inputs),
        safety=_safety(files),
        allow=frozenset(a for f in files for a in f.allow),
        warnings=tuple(sorted(warnings)),
    )
    return state, files


def _safety(files: list[_File]) -> SafetySettings:
    """The strictest thresholds any file sets: several files never loosen a limit."""
    defaults = SafetySettings()
    deletes = [f.safety["maxDeletePercent"] for f in files if "maxDeletePercent" in f.safety]
    unprotected = [f.safety["maxUnprotected"] for f in files if "maxUnprotected" in f.safety]
    return SafetySettings(
        max_delete_percent=float(min(deletes, default=defaults.max_delete_percent)),
        max_unprotected=int(min(unprotected, default=defaults.max_unprotected)),
    )


def _expand(paths: Sequence[str | Path], problems: list[Problem]) -> Iterator[tuple[str, Path]]:
    """Each file to read once, with the name messages give it."""
    seen: set[object] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = list(_walk(str(given), path, problems, frozenset()))
            if not found:
                message = "no *.yaml or *.yml files in this directory or below it"
                problems.append(Problem(Location(str(given), 1, 1), message))
        else:
            found = [(str(given), path)]
        for display, file in found:
            identity = _identity(file)
            if identity not in seen:
                seen.add(identity)
                yield display, file


def is_desired_file(parts: Sequence[str]) -> bool:
    """Whether the walk of a directory reads the file at these path parts below it."""
    return parts[-1].endswith(SUFFIXES) and not any(part.startswith(".") for part in parts)


def _walk(
    display: str, directory: Path, problems: list[Problem], ancestors: frozenset[tuple[int, int]]
) -> Iterator[tuple[str, Path]]:
    """The YAML files under `directory`, depth first in name order, hidden entries skipped."""
    try:
        info = os.stat(directory)
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError as err:
        # Whatever the entry is, it is read or reported: a skipped file could be pruned.
        problems.append(Problem(Location(display, 1, 1), f"cannot read: {err.strerror}"))
        return
    here = (info.st_dev, info.st_ino)
    if here in ancestors:
        # A link back up the tree: every file below it is read through the ancestor.
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        name = os.path.join(display, entry.name)
        try:
            is_directory = entry.is_dir()
        except OSError:
            # A looping link, say: read as a file if its name is a YAML one, and so reported.
            is_directory = False
        if is_directory:
            yield from _walk(name, Path(entry.path), problems, ancestors | {here})
        elif entry.name.endswith(SUFFIXES):
            yield name, Path(entry.path)


def _identity(path: Path) -> object:
    """The same for every name of one file (links, `dir/./x`); a file that cannot be read
    is known by its path, and is reported when it is read."""
    try:
        info = os.stat(path)
    except OSError:
        return os.path.abspath(path)
    return (info.st_dev, info.st_ino)


def _parse(display: str, data: bytes, problems: list[Problem]) -> _File | None:
    """YAML and schema checks of one file; None when nothing further can be checked."""
    try:
        doc = load_yaml(data, display)
    except InputError as err:
        problems.append(err.problem)
        return None
    problems.extend(doc.problems)
    value = doc.value
    if value is None and not doc.values:
        # No document at all; a document that is just `null` gets the message below.
        problems.append(Problem(Location(display, 1, 1), "empty file"))
        return None
    if not isinstance(value, dict):
        message = "the top level must be a mapping with organization and policyGroups"
        problems.append(Problem(doc.at(()), message))
        return None
    secret_keys = _file_secret_keys(value)
    invalid: set[JsonPointer] = set()
    # Errors quote no value under a key that looks secret, by the defaults or by this file.
    for found in schema.check(value, (*DEFAULT_SECRET_KEYS, *(secret_keys or ())), doc.written):
        where = doc.key_at(found.path) if found.at_key else doc.at(found.path)
        problems.append(Problem(where, found.message))
        if found.path[:1] in (("policyGroups",), (SETS,), (TEMPLATES,)) and len(found.path) > 1:
            invalid.add(found.path[:2])
    organization = value.get("organization")
    prune = value.get("prune")
    parsed = _File(
        doc=doc,
        organization=organization if isinstance(organization, str) and organization else None,
        prune=prune if isinstance(prune, bool) else None,
        groups=[],
        secret_keys=secret_keys,
        safety=value["safety"] if isinstance(value.get("safety"), dict) else {},
        allow=tuple(a for a in value.get("allow") or () if isinstance(a, str)),
        invalid=invalid,
    )
    _keep_valid_groups(parsed)
    return parsed


def _keep_valid_groups(parsed: _File) -> None:
    groups = parsed.doc.value.get("policyGroups")
    parsed.groups = [
        (index, group)
        for index, group in enumerate(groups if isinstance(groups, list) else [])
        if ("policyGroups", index) not in parsed.invalid
    ]


def _expand_all(files: list[_File], problems: list[Problem]) -> list[Problem]:
    """Expand every file's groups with the pack sets and templates of all files (one
    namespace for the run); the warnings about sets and templates that no group uses."""
    if not any(uses_indirection(parsed.doc.value) for parsed in files):
        return []
    library = Library()
    for parsed in files:
        library.add(parsed.doc, parsed.invalid, problems)
    for parsed in files:
        expansion = expand(parsed.doc, parsed.invalid, library, problems)
        parsed.doc, parsed.origins = expansion.doc, expansion.origins
        parsed.invalid.update(("policyGroups", index) for index in expansion.broken)
        _keep_valid_groups(parsed)
    return library.unused()


def _file_secret_keys(value: Mapping[str, Any]) -> tuple[str, ...] | None:
    """`safety.secretKeys` if it is a list of strings (the schema reports anything else)."""
    safety = value.get("safety")
    keys = safety.get("secretKeys") if isinstance(safety, dict) else None
    if isinstance(keys, list) and all(isinstance(key, str) for key in keys):
        return tuple(keys)
    return None


def _secret_keys(files: list[_File]) -> tuple[str, ...]:
    """Every file's `secretKeys` together (masking more is never unsafe); else the defaults."""
    lists = [f.secret_keys for f in files if f.secret_keys is not None]
    if not lists:
        return DEFAULT_SECRET_KEYS
    return tuple(dict.fromkeys(key for keys in lists for key in keys))


def _agreed(
    key: str, settings: list[tuple[Setting | None, Document]], problems: list[Problem]
) -> Setting | None:
    """A top-level setting that every file which sets it must set alike; the first one wins."""
    first: tuple[Setting, Document] | None = None
    for value, doc in settings:
        if value is None:
            continue
        if first is None:
            first = (value, doc)
        elif value != first[0]:
            message = (
                f"{key} is {_yaml(value)} here but {_yaml(first[0])} in {first[1].file};"
                " all files must agree"
            )
            problems.append(Problem(doc.at((key,)), message))
    return None if first is None else first[0]


def _yaml(value: str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"'{value}'"


def _check_unique_names(files: list[_File], problems: list[Problem]) -> None:
    """Names and former names are one namespace: a rename must not collide with anything.

    Whether the service tells `Prod` from `prod` is not documented: names that differ only
    in case conflict too, unless both belong to one group (a rename that changes case).
    """
    seen: dict[str, tuple[str, Location, int]] = {}
    owner = 0
    for parsed in files:
        for index, group in parsed.groups:
            owner += 1
            path: JsonPointer = ("policyGroups", index)
            names: list[tuple[JsonPointer, str]] = [((*path, "name"), group["name"])]
            names += [
                ((*path, "previously", i), former)
                for i, former in enumerate(group.get("previously", []))
            ]
            for where_path, name in names:
                where = parsed.doc.at(where_path)
                first = seen.get(name.casefold())
                if first is None:
                    seen[name.casefold()] = (name, where, owner)
                elif first[0] == name:
                    message = f"group name '{name}' is already used at {first[1]}"
                    problems.append(Problem(where, message))
                elif first[2] != owner:
                    message = (
                        f"group name '{name}' differs only in case from '{first[0]}' at"
                        f" {first[1]}: the service may take them for one group"
                    )
                    problems.append(Problem(where, message))
