"""What leaves pgsync for people: known secret values scrubbed, invisible characters escaped.

Secrets are scrubbed by value, the way the access token always was: whatever key, message
or echo they turn up in, also JSON-escaped (once or twice) or inside a longer string. A
run (one CLI command) collects the values it learns in `run_secrets`: every value the
files mark secret and every live value under a secret-looking key (the client redacts the
token itself).
"""

from __future__ import annotations

import functools
import json
import re
import sys
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from pgsync.core.masking import secret_key_values
from pgsync.core.model import SECRET_MASK, LiveGroup

# Controls, format characters (bidi overrides, zero-width joiners, BOM) and the Unicode line
# and paragraph separators: what makes a terminal, log or reviewer see other text than is there.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


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


def escape_char(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


@functools.cache
def _invisible(keep_newline: bool) -> re.Pattern[str]:
    """One character class of every invisible code point (built once, on first use)."""
    ranges: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) in _INVISIBLE and not (keep_newline and code == 10):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    members = "".join(f"{_char(a)}-{_char(b)}" if a < b else _char(a) for a, b in ranges)
    return re.compile(f"[{members}]")


def _char(code: int) -> str:
    return f"\\U{code:08x}"


_ASCII_INVISIBLE = {
    False: re.compile("[\x00-\x1f\x7f]"),
    True: re.compile("[\x00-\x09\x0b-\x1f\x7f]"),
}


def _invisible_in(text: str, *, keep_newline: bool = False) -> re.Pattern[str]:
    # Most text is ASCII, where only the C0 controls and DEL are invisible.
    return _ASCII_INVISIBLE[keep_newline] if text.isascii() else _invisible(keep_newline)


def _escape_match(found: re.Match[str]) -> str:
    return escape_char(found.group())


def escape(text: str) -> str:
    """`text` on one line with every control, bidi and other invisible character escaped."""
    return _invisible_in(text).sub(_escape_match, text)


# The colours pgsync's own plan text uses (render.COLORS) and their reset; nothing else passes.
_OWN_COLORS = re.compile("(\x1b\\[(?:3[1-6]|0)m)")


def escape_lines(text: str, *, colors: bool = False) -> str:
    """Like `escape`, keeping the line breaks of a message that pgsync itself made multi-line.

    With `colors`, pgsync's own colour codes pass too (a plan printed on a terminal).
    """
    parts = _OWN_COLORS.split(text) if colors else [text]
    return "".join(
        part if i % 2 else _invisible_in(part, keep_newline=True).sub(_escape_match, part)
        for i, part in enumerate(parts)
    )


def shown(text: str, *, colors: bool = False) -> str:
    """Text that leaves pgsync for a person: secrets scrubbed, then invisible characters escaped."""
    return escape_lines(scrub(text), colors=colors)


def shown_line(text: str) -> str:
    """Like `shown`, for a line that must stay one (a problem, an annotation): newlines too."""
    return escape(scrub(text))


def shown_json(text: str) -> str:
    """A JSON document pgsync wrote, scrubbed string by string and with invisible characters
    as JSON escapes, so that it stays the same JSON (and valid) on a terminal or in a file."""
    # Walked string by string only when some secret is in it: plans can be megabytes.
    if run_secrets.found_in(text):
        text = json.dumps(run_secrets.scrub_json(json.loads(text)), indent=2, ensure_ascii=False)
        text += "\n"
    return _invisible_in(text, keep_newline=True).sub(_json_escape, text)


def _json_escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
