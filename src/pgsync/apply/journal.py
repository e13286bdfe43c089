"""The apply journal: one JSON line per step (intended, sent, confirmed), flushed to disk.

It holds methods, paths, group names and outcomes, never request bodies. Its free text
(errors, reasons) has every secret value the run knows scrubbed, and never the token, even
where the API's own message quoted one. After a crash it tells what the run had done.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from pgsync.core import paths
from pgsync.core.errors import PgsyncError
from pgsync.core.escaping import escape
from pgsync.core.masking import scrub
from pgsync.core.replace import is_temporary, temp_name
from pgsync.core.wording import counted
from pgsync.files import STDOUT, open_append

IDENTITY = frozenset({"run", "event", "group", "action", "method", "path", "organization"})
"""Fields that name what was done, kept as they are: a later run reads them back."""


class Journal:
    """Appends events to a JSONL file; each line is on disk before the next step starts.

    Safe to share between threads (apply writes groups concurrently): each line is written
    whole, never interleaved with another.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.run = uuid.uuid4().hex[:12]
        check_not_stdout(str(path))
        try:
            self._file: TextIO = open_append(self.path)
        except OSError as error:
            raise PgsyncError(f"cannot open journal {path}: {error.strerror}") from None
        self._lock = threading.Lock()

    def record(self, event: str, **fields: Any) -> None:
        scrubbed = {
            key: scrub(value) if isinstance(value, str) and key not in IDENTITY else value
            for key, value in fields.items()
        }
        line = {"time": round(time.time(), 3), "run": self.run, "event": event, **scrubbed}
        text = json.dumps(line, sort_keys=True) + "\n"
        try:
            with self._lock:
                self._file.write(text)
                self._file.flush()
            # Outside the lock: an fsync makes every line written before it durable, so
            # threads waiting on the disk at once do not queue behind each other.
            os.fsync(self._file.fileno())
        except OSError as error:
            # A step that cannot be recorded is not taken: apply stops here (a full disk).
            raise PgsyncError(f"cannot write journal {self.path}: {error.strerror}") from None

    def close(self) -> None:
        # Every line is flushed as it is recorded: closing can fail only on a line whose
        # failure `record` has reported already.
        with contextlib.suppress(OSError):
            self._file.close()


def check_not_stdout(path: str) -> None:
    """The journal must outlive a crash: interleaved with apply's report it would not."""
    if path == STDOUT:
        raise PgsyncError("the journal must be a file, not stdout ('-')")


def resume_report(path: str | Path) -> str:
    """What the last run in the journal at `path` did; a missing journal means nothing."""
    if not os.path.lexists(path):
        return (
            f"no journal at {path}: no apply run wrote anything with it (a run creates its"
            " journal before its first write), so there is nothing to resume"
        )
    return last_run_report(read_events(path))


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """Every readable event of a journal; a line cut short by a crash is skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PgsyncError(f"cannot read journal {path}: {error}") from None
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("run"), str):
            events.append(event)
    return events


def own_temporaries(path: str | Path, organization: str) -> frozenset[str]:
    """The temporary groups of `organization` that the runs of this journal created and left.

    A missing journal has none. Journals of earlier versions count too: the record is the
    replace's intended create of the temporary group (written before it is sent, so a crash
    just after the create still leaves it), and a rename or DELETE of it sent later means
    it is gone.
    """
    if not Path(path).exists():
        return frozenset()
    return temporaries_left(read_events(path), organization)


def temporaries_left(events: Iterable[Mapping[str, Any]], organization: str) -> frozenset[str]:
    """The temporary groups in `organization` that these events created and did not remove."""
    events = list(events)
    ours = {
        e["run"]
        for e in events
        if e.get("event") == "start" and e.get("organization") == organization
    }
    left: set[str] = set()
    for event in events:
        group = event.get("group")
        if event["run"] not in ours or not isinstance(group, str):
            continue
        method = event.get("method")
        kind = event.get("event")
        if kind == "intended" and event.get("action") == "replace" and method == "POST":
            left.add(temp_name(group))
        elif kind == "sent" and method in ("PATCH", "DELETE"):
            temp = group if is_temporary(group) else temp_name(group)
            if event.get("path") == paths.group(organization, temp):
                left.discard(temp)
    return frozenset(left)


def last_run_report(events: Iterable[Mapping[str, Any]]) -> str:
    """What the last run in a journal did, group by group, and whether it finished."""
    events = list(events)
    if not events:
        return "the journal holds no apply run"
    run = events[-1]["run"]
    mine = [e for e in events if e["run"] == run]
    start = next((e for e in mine if e["event"] == "start"), {})
    end = next((e for e in mine if e["event"] == "end"), None)
    state: dict[str, str] = {}
    sent: dict[str, int] = {}
    for event in mine:
        group = event.get("group")
        if not isinstance(group, str):
            continue
        kind = event["event"]
        if kind == "sent":
            sent[group] = sent.get(group, 0) + 1
        state[group] = {
            "intended": "started, not confirmed",
            "sent": "started, not confirmed",
            "confirmed": "done and verified",
            "failed": f"failed: {event.get('error', '')}",
            "skipped": f"skipped: {event.get('reason', '')}",
        }.get(kind, state.get(group, "started, not confirmed"))
    status = (
        "finished" if end and end.get("ok") else "stopped at a failure" if end else "did not finish"
    )
    lines = [
        escape(
            f"last apply run {run} for organization '{start.get('organization', '?')}' {status}; "
            f"{counted(sum(sent.values()), 'write request')} sent:"
        )
    ]
    planned = [g for g in start.get("groups", []) if isinstance(g, str)]
    for group in planned or sorted(state):
        detail = state.get(group, "not started")
        count = f" ({counted(sent[group], 'request')} sent)" if group in sent else ""
        # One line each: a name or message from the API may hold a newline.
        lines.append(escape(f"  {group}: {detail}{count}"))
    return "\n".join(lines)
