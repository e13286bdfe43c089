"""The built-in Policy Groups API emulator: the service's semantics, served on loopback."""

from __future__ import annotations

from pgsync.emulator.control import RecordedRequest
from pgsync.emulator.fixture import (
    Fixture,
    FixtureError,
    demo_fixture,
    fixture_from_dict,
    load_fixture,
)
from pgsync.emulator.server import EmulatorServer
from pgsync.emulator.state import HttpError

__all__ = [
    "EmulatorServer",
    "Fixture",
    "FixtureError",
    "HttpError",
    "RecordedRequest",
    "demo_fixture",
    "fixture_from_dict",
    "load_fixture",
]
