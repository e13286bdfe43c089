"""What leaves pgsync for people: known secrets scrubbed, invisible characters escaped."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable

from pgsync.core.masking import run_secrets, scrub

# Controls, invisible format characters (bidi controls among them, CVE-2021-42574; zero-width
# joiners, BOM), the Unicode line and paragraph separators, and the surrogates that YAML and
# JSON escapes can make: what makes a terminal, log or reviewer see other text than is there.
# Escaped in what pgsync shows, refused in what its files say.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def is_invisible(char: str) -> bool:
    """Whether a reviewer cannot see `char`, or it changes how the text around it reads."""
    return unicodedata.category(char) in _INVISIBLE


def escape_char(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


_ASCII_INVISIBLE = {
    False: re.compile("[\x00-\x1f\x7f]"),
    True: re.compile("[\x00-\x09\x0b-\x1f\x7f]"),
}
# Beyond ASCII every character is a candidate, judged by the Unicode database one by one:
# Python's expressions have no class for a general category, and one listing every invisible
# code point takes 0.15 s to build. Names are ASCII; a plan's non-ASCII text is a few symbols.
_CANDIDATES = {
    # All but printable ASCII, as a negated class: the range up to U+10FFFF takes 5 ms to compile.
    False: re.compile("[^\x20-\x7e]"),
    True: re.compile("[^\n\x20-\x7e]"),
}


def _replace_invisible(
    text: str, replace: Callable[[str], str], *, keep_newline: bool = False
) -> str:
    """`text` with each invisible character `c` (but `\\n` with `keep_newline`) as `replace(c)`."""
    if text.isascii():
        return _ASCII_INVISIBLE[keep_newline].sub(lambda found: replace(found.group()), text)

    def judged(found: re.Match[str]) -> str:
        char = found.group()
        return replace(char) if is_invisible(char) else char

    return _CANDIDATES[keep_newline].sub(judged, text)


def escape(text: str) -> str:
    """`text` on one line with every control, bidi and other invisible character escaped."""
    return _replace_invisible(text, escape_char)


# The colours pgsync's own plan text uses (render.COLORS) and their reset; nothing else passes.
_OWN_COLORS = re.compile("(\x1b\\[(?:3[1-6]|0)m)")


def escape_lines(text: str, *, colors: bool = False) -> str:
    """Like `escape`, keeping the line breaks of a message that pgsync itself made multi-line.

    With `colors`, pgsync's own colour codes pass too (a plan printed on a terminal).
    """
    parts = _OWN_COLORS.split(text) if colors else [text]
    return "".join(
        part if i % 2 else _replace_invisible(part, escape_char, keep_newline=True)
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
    return _replace_invisible(text, _json_escape, keep_newline=True)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
