"""Shared fixtures: a clean environment, golden files, and the real emulator on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="Rewrite tests/golden/ from the output."
    )


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's token, backend, CI variables or colour settings."""
    import os

    for name in list(os.environ):
        if name.startswith(("PULUMI_", "GITHUB_", "PGSYNC_")) or name in ("NO_COLOR", "CI"):
            monkeypatch.delenv(name)


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
