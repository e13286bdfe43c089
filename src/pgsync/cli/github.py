"""GitHub Actions: workflow commands, $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY files, and the
link to the coverage report that the action uploads."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit
from uuid import uuid4

from pgsync.core.errors import PgsyncError, Problem
from pgsync.core.escaping import shown_line
from pgsync.files import open_append

if TYPE_CHECKING:
    from pgsync.core.plan import Plan

LEVELS = frozenset({"error", "warning", "notice"})
STEP_SUMMARY_CAP = 1024 * 1024
PR_COMMENT_LIMIT = 60_000
"""The Markdown plan's size in a PR comment: GitHub refuses bodies over 65,536 characters, and
the workflow adds its marker, status line and footer."""
REPORT_URL_ENV = "PGSYNC_REPORT_URL"
"""Set by the action to the coverage report artifact's URL (upload-artifact's `artifact-url`)."""
# What may stay as it is in a link's destination; anything else (parentheses, brackets, angle
# brackets, quotes, spaces, backslashes, backticks) is percent-encoded, so the URL cannot end
# the link early or start markup of its own.
_URL_SAFE = "/:?#@!$&'*+,;=%~-._"
_OUTPUT_NAME = re.compile(r"[A-Za-z0-9_-]+")


def is_github_actions(env: Mapping[str, str]) -> bool:
    """Whether we run as a GitHub Actions step (the runner sets GITHUB_ACTIONS=true)."""
    return env.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """A workflow command's message, escaped as actions/toolkit command.ts does.

    Nothing else breaks a command's line: `annotation` escapes every other control first.
    """
    # `%` first, or the escapes below would be escaped again.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: like data, plus the `:` and `,` separators."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(problem: Problem, level: str = "error", title: str = "pgsync") -> str:
    """`::error file=F,line=L,col=C,title=T::message`, which GitHub shows on the file's line.

    Always one line: newlines, controls and bidi characters of file names and messages are
    shown escaped, and no secret value of the run is in it.
    """
    if level not in LEVELS:
        raise ValueError(f"annotation level must be one of {sorted(LEVELS)}, not {level!r}")
    where = problem.location
    properties = ",".join(
        f"{key}={escape_property(shown_line(str(value)))}"
        for key, value in (
            ("file", where.file),
            ("line", where.line),
            ("col", where.col),
            ("title", title),
        )
    )
    return f"::{level} {properties}::{escape_data(shown_line(problem.message))}"


def append_step_summary(path: str | Path, markdown: str, cap_bytes: int = STEP_SUMMARY_CAP) -> None:
    """Append to the step summary without ever passing `cap_bytes` (GitHub then drops it all)."""
    target = Path(path)
    used = target.stat().st_size if target.exists() else 0
    text = markdown if markdown.endswith("\n") else markdown + "\n"
    if used + len(text.encode()) > cap_bytes:
        notice = (
            f"\n> ✂️ Truncated: the rest would pass GitHub's step summary limit of "
            f"{cap_bytes:,} bytes.\n"
        )
        room = cap_bytes - used - len(notice.encode())
        if room < 0:
            return
        text = _head_lines(text, room) + notice
    with open_append(target) as summary:
        summary.write(text)


def _head_lines(text: str, room: int) -> str:
    """The most whole leading lines of `text` (ending in a newline) within `room` UTF-8 bytes.

    The cut falls outside any <details>: inside one, it would fold the notice out of sight.
    """
    kept, size, depth, end = 0, 0, 0, 0
    # Split on "\n" only: str.splitlines also breaks at characters Markdown keeps in a line.
    for line in (f"{line}\n" for line in text[:-1].split("\n")):
        size += len(line.encode())
        if size > room:
            break
        kept += len(line)
        depth += line.count("<details") - line.count("</details>")
        if depth <= 0:
            end = kept
    return text[:end]


def write_outputs(path: str | Path, outputs: Mapping[str, str]) -> None:
    """Append step outputs in the multi-line form, each with a fresh random delimiter."""
    entries: list[str] = []
    for name, value in outputs.items():
        if not _OUTPUT_NAME.fullmatch(name):
            raise ValueError(f"invalid output name {name!r}: use letters, digits, '_' and '-'")
        delimiter = f"ghadelimiter_{uuid4()}"
        # A value holding the delimiter would end early and inject outputs of its own.
        if delimiter in name or delimiter in value:
            raise ValueError(f"output {name!r} contains the delimiter {delimiter!r}")
        entries.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    with open_append(path) as file:
        file.write("".join(entries))


def plan_outputs(plan: Plan, plan_json_path: str) -> dict[str, str]:
    """The scalar outputs of a plan step; the plan itself goes in the file at `plan_json_path`."""
    counts = plan.summary()
    return {
        "has_changes": "true" if plan.has_changes else "false",
        "creates": str(counts["create"]),
        "updates": str(counts["update"] + counts["rename"] + counts["replace"]),
        "deletes": str(counts["delete"]),
        "plan_json": plan_json_path,
    }


def report_link(env: Mapping[str, str]) -> str:
    """The Markdown paragraph linking the coverage report at $PGSYNC_REPORT_URL, or "" unset.

    Only an http(s) URL is linked: another scheme (javascript:, data:) would run or show
    something other than the report.
    """
    url = env.get(REPORT_URL_ENV, "")
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or not url.isprintable():
        raise PgsyncError(
            f"{REPORT_URL_ENV} must be the coverage report's http(s) URL, not {shown_line(url)}"
        )
    destination = quote(url, safe=_URL_SAFE)
    return (
        f"\n📊 [Coverage report]({destination}): every stack's policy packs and levels, "
        "live and with these files (an HTML page, zipped).\n"
    )
