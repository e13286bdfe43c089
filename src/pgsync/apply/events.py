"""What apply tells as it goes: event values, and the observer that receives them.

apply_plan formats nothing: the CLI turns these values into its lines (cli/apply.py), and a
Python caller may show them its own way. Events arrive in plan order, each group's together,
whichever group's writes finish first; the last one is ApplyFinished.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from pgsync.core.diff import Action
from pgsync.core.plan import GroupPlan

Status = Literal["done", "skipped", "failed", "not attempted"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one changed group ended; `detail` says why it was skipped or failed."""

    group: str
    action: Action
    status: Status
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ApplyReport:
    """Every changed group's outcome in plan order, and the write requests sent."""

    outcomes: tuple[Outcome, ...]
    writes: int

    @property
    def ok(self) -> bool:
        return all(o.status == "done" for o in self.outcomes)


@dataclass(frozen=True, slots=True)
class GroupStarted:
    """The group is about to be re-read and written."""

    group: GroupPlan


@dataclass(frozen=True, slots=True)
class GroupSkipped:
    """The group changed live since the plan, so it was not written; `reason` says how."""

    group: GroupPlan
    reason: str


@dataclass(frozen=True, slots=True)
class AmbiguousWrite:
    """A write's effect was unknown (`error`); read again, the group still needs `remaining`
    requests, which are sent again unless none are left or the attempts are used up."""

    group: GroupPlan
    error: str
    remaining: int


@dataclass(frozen=True, slots=True)
class GroupConfirmed:
    """The group was written and its read-back shows every change."""

    group: GroupPlan


@dataclass(frozen=True, slots=True)
class GroupFailed:
    """The group's writes or their verification failed; `error` says how (and how far)."""

    group: GroupPlan
    error: str


@dataclass(frozen=True, slots=True)
class ApplyFinished:
    """Every group that was started has ended; sent before ApplyFailed is raised too."""

    report: ApplyReport


ApplyEvent = (
    GroupStarted | GroupSkipped | AmbiguousWrite | GroupConfirmed | GroupFailed | ApplyFinished
)


class ApplyObserver(Protocol):
    """Receives apply's events, one call at a time (from apply's worker threads)."""

    def __call__(self, event: ApplyEvent, /) -> None: ...
