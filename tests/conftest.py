"""Shared fixtures: a clean environment, golden files, and the real emulator on loopback."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pgsync.emulator import EmulatorServer, demo_fixture, fixture_from_dict
from pgsync.remote.client import RetryPolicy

GOLDEN = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="Rewrite tests/golden/ from the output."
    )


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's token, backend, CI variables or colour settings.

    Apply journals go to the test's temp dir, not into the working tree.
    """
    for name in list(os.environ):
        if name.startswith(("PULUMI_", "GITHUB_", "PGSYNC_")) or name in ("NO_COLOR", "CI"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PGSYNC_JOURNAL", str(tmp_path / "pgsync-journal.jsonl"))


@pytest.fixture(autouse=True)
def collectable_again() -> Iterator[None]:
    """What a command run in this process froze out of the collector's sight (as commands
    do with their state) is collectable again for the next test."""
    yield
    gc.unfreeze()


class Golden:
    """Compares text with tests/golden/<name>, or rewrites it under --update-golden."""

    def __init__(self, update: bool) -> None:
        self.update = update

    def check(self, name: str, text: str) -> None:
        path = GOLDEN / name
        if self.update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.exists(), f"missing golden file {path}; run pytest --update-golden"
        assert text == path.read_text(encoding="utf-8")


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Iterator[Golden]:
    yield Golden(bool(request.config.getoption("--update-golden")))


STACKS = [f"svc/s{i:03d}" for i in range(200)] + ["payments/prod", "web/prod", "web/dev"]


def org_spec(groups: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The test organization `acme`: 203 stacks, three packs, three accounts."""
    return {
        "organizations": {
            "acme": {
                "stacks": STACKS,
                "policyPacks": [
                    {
                        "name": "aws",
                        "displayName": "AWS Guardrails",
                        "versionTags": ["1.0.0", "1.3.0"],
                    },
                    {"name": "cost", "displayName": "Cost Controls", "versionTags": ["2.0.0"]},
                    {
                        "name": "best",
                        "displayName": "Best Practices",
                        "versionTags": ["0.9.0", "1.0.0"],
                    },
                ],
                "accounts": [
                    {"name": "aws-prod", "provider": "aws"},
                    {"name": "aws-staging", "provider": "aws"},
                    {"name": "gcp-data", "provider": "gcp"},
                ],
                "policyGroups": groups or [],
            }
        }
    }


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """The emulator with the test organization and no groups but the defaults."""
    with EmulatorServer(fixture_from_dict(org_spec())) as server:
        yield server


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01, max_total_wait=5.0)


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    """The emulator with the demo organization (as `pgsync emulator` serves it)."""
    with EmulatorServer(demo_fixture()) as running:
        yield running


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[httpx.Client]:
    """A plain httpx client on the demo emulator, for tests of the emulator itself."""
    with httpx.Client(base_url=server.url, timeout=5) as http:
        yield http
