"""Every exception pgsync raises on purpose; each knows its exit code (contract §3).

The command line catches them in one place (cli/options.py) and exits with `exit_code`;
no other code picks an exit code.

    PgsyncError                      exit 1
    ├── InputError                   a desired-state problem, with file:line:col
    │   └── ValidationFailed         many InputErrors gathered from one run
    ├── ApiError                     the API answered with an error status
    │   └── AuthError                401 / 403
    ├── FeatureUnavailable           the organization lacks a preview feature the files use
    ├── TransportError               network failure, timeout, retries exhausted
    ├── BadResponse                  an answer pgsync cannot use (shape, size, not JSON)
    ├── AmbiguousWriteError          a write whose effect is unknown (5xx, timeout)
    ├── WriteNotVerified             read-back does not show the intended effect
    ├── StalePlan                    a saved plan no longer matches files or live state
    ├── ApplyFailed                  apply stopped part-way; carries the done / not-done report
    ├── Refused                      confirmation refused or impossible
    ├── ChangesPending               exit 2: not a failure, changes are pending
    └── SafetyBlocked                exit 3: a safety rule blocks a change

Messages never contain the access token: the client redacts it before raising.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class PgsyncError(Exception):
    """Base class; `exit_code` is what the CLI exits with."""

    exit_code = 1


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A 1-based position in an input file."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One desired-state problem: where it is and what is wrong."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class InputError(PgsyncError):
    """One problem in the desired state."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class ValidationFailed(PgsyncError):
    """All problems found in one run, sorted by file, line, column."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(set(problems)))
        super().__init__("\n".join(str(p) for p in self.problems))


class ApiError(PgsyncError):
    """A non-retryable (or retries exhausted) error status from the API."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {message}")
        self.method = method
        self.path = path
        self.status = status
        self.api_message = message


class AuthError(ApiError):
    """401 or 403: the token is missing, wrong, or lacks the role."""

    def __init__(self, method: str, path: str, status: int, message: str, *, refused: str) -> None:
        super().__init__(method, path, status, message)
        # `refused` names what the user sets (the variable), never the token itself.
        self.args = (f"the API refused {refused} (HTTP {status}, {method} {path}): {message}",)


class FeatureUnavailable(PgsyncError):
    """The files use a feature (match rules) that the service or organization does not have."""


class TransportError(PgsyncError):
    """The request never got a usable answer (connection, timeout, retries exhausted)."""


class BadResponse(PgsyncError):
    """The API answered, but not with what the route returns: never retried, never acted on."""


class AmbiguousWriteError(PgsyncError):
    """A write may or may not have taken effect; only a re-read can tell."""

    def __init__(self, method: str, path: str, reason: str) -> None:
        super().__init__(f"{method} {path}: outcome unknown: {reason}")
        self.method = method
        self.path = path


class WriteNotVerified(PgsyncError):
    """The read-back after a write still shows changes that the write should have made."""


class StalePlan(PgsyncError):
    """A saved plan no longer matches its input files or the live state."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__("the saved plan is stale:\n" + "\n".join(f"  {r}" for r in reasons))
        self.reasons = tuple(reasons)


class ApplyFailed(PgsyncError):
    """Apply stopped at a failure; the message says what was and was not applied."""


class Refused(PgsyncError):
    """The user declined, or there was no terminal to ask and no --yes."""


class ChangesPending(PgsyncError):
    """Not a failure: the plan has changes, and the command says so by its exit code alone
    (`plan --detailed-exitcode`, `drift`)."""

    exit_code = 2

    def __init__(self) -> None:
        super().__init__("changes are pending")


class SafetyBlocked(PgsyncError):
    """The plan holds changes that safety rules block, each acknowledged by its id.

    The ids hold live group names: like every name in a message, the raiser escapes them.
    """

    exit_code = 3

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__("blocked by safety rules: " + ", ".join(ids))
