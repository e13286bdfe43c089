"""What leaves pgsync for people: known secrets scrubbed, invisible characters escaped."""

from __future__ import annotations

import functools
import json
import re
import sys
import unicodedata

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
