"""pgsync: Pulumi Cloud Policy Groups as code.

The Python API is the objects the CLI itself uses: load the desired state, read the live
state, make a plan, render it, apply it. Each name is imported from its module on first use
(PEP 562), so that `import pgsync` and `pgsync --version` stay as light as the CLI's start-up:
no HTTP client, schema validator or diff library is loaded until a name that needs it is.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AmbiguousWrite",
    "AmbiguousWriteError",
    "ApiError",
    "ApplyEvent",
    "ApplyFailed",
    "ApplyFinished",
    "ApplyObserver",
    "ApplyReport",
    "AuthError",
    "BadResponse",
    "ChangesPending",
    "Client",
    "DesiredState",
    "EmulatorServer",
    "FeatureUnavailable",
    "Finding",
    "GroupConfirmed",
    "GroupFailed",
    "GroupPlan",
    "GroupSkipped",
    "GroupStarted",
    "InputError",
    "LiveState",
    "Location",
    "Outcome",
    "PgsyncError",
    "Plan",
    "PolicyGroupsApi",
    "Problem",
    "Refused",
    "SafetyBlocked",
    "StalePlan",
    "TransportError",
    "ValidationFailed",
    "WriteNotVerified",
    "apply_plan",
    "demo_fixture",
    "display_plan",
    "load_desired",
    "make_plan",
    "render_json",
    "render_markdown",
    "render_text",
]

# Where each name lives: its module is imported when the name is first read.
_HOMES = {
    "pgsync.apply.events": (
        "AmbiguousWrite",
        "ApplyEvent",
        "ApplyFinished",
        "ApplyObserver",
        "ApplyReport",
        "GroupConfirmed",
        "GroupFailed",
        "GroupSkipped",
        "GroupStarted",
        "Outcome",
    ),
    "pgsync.apply.runner": ("apply_plan",),
    "pgsync.core.errors": (
        "AmbiguousWriteError",
        "ApiError",
        "ApplyFailed",
        "AuthError",
        "BadResponse",
        "ChangesPending",
        "FeatureUnavailable",
        "InputError",
        "Location",
        "PgsyncError",
        "Problem",
        "Refused",
        "SafetyBlocked",
        "StalePlan",
        "TransportError",
        "ValidationFailed",
        "WriteNotVerified",
    ),
    "pgsync.core.model": ("DesiredState", "LiveState"),
    "pgsync.core.plan": ("Finding", "GroupPlan", "Plan"),
    "pgsync.core.planning": ("make_plan",),
    "pgsync.emulator": ("EmulatorServer", "demo_fixture"),
    "pgsync.load.desired": ("load_desired",),
    "pgsync.remote.api": ("PolicyGroupsApi",),
    "pgsync.remote.client": ("Client",),
    "pgsync.render.display": ("display_plan",),
    "pgsync.render.markdown": ("render_markdown",),
    "pgsync.render.text": ("render_json", "render_text"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

if TYPE_CHECKING:
    from pgsync.apply.events import (
        AmbiguousWrite,
        ApplyEvent,
        ApplyFinished,
        ApplyObserver,
        ApplyReport,
        GroupConfirmed,
        GroupFailed,
        GroupSkipped,
        GroupStarted,
        Outcome,
    )
    from pgsync.apply.runner import apply_plan
    from pgsync.core.errors import (
        AmbiguousWriteError,
        ApiError,
        ApplyFailed,
        AuthError,
        BadResponse,
        ChangesPending,
        FeatureUnavailable,
        InputError,
        Location,
        PgsyncError,
        Problem,
        Refused,
        SafetyBlocked,
        StalePlan,
        TransportError,
        ValidationFailed,
        WriteNotVerified,
    )
    from pgsync.core.model import DesiredState, LiveState
    from pgsync.core.plan import Finding, GroupPlan, Plan
    from pgsync.core.planning import make_plan
    from pgsync.emulator import EmulatorServer, demo_fixture
    from pgsync.load.desired import load_desired
    from pgsync.remote.api import PolicyGroupsApi
    from pgsync.remote.client import Client
    from pgsync.render.display import display_plan
    from pgsync.render.markdown import render_markdown
    from pgsync.render.text import render_json, render_text


def __getattr__(name: str) -> Any:
    home = _HOME_OF.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    # Kept, so that later reads are plain attribute reads.
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME_OF})
