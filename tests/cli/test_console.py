"""Terminal behaviour: colour only where wanted, progress only on a terminal."""

from __future__ import annotations

import io

import pytest

from pgsync.cli.console import Progress, use_color


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def colour_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal that shows colour, whatever the one running the tests is."""
    monkeypatch.setenv("TERM", "xterm-256color")


def test_colour_on_a_terminal() -> None:
    assert use_color(False, Terminal())


def test_no_colour_when_not_a_terminal() -> None:
    assert not use_color(False, io.StringIO())


def test_no_colour_with_the_flag() -> None:
    assert not use_color(True, Terminal())


def test_no_colour_with_no_color_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(False, Terminal())


def test_an_empty_no_color_is_as_if_it_were_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "")
    assert use_color(False, Terminal())


def test_no_colour_on_a_dumb_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    assert not use_color(False, Terminal())


def test_the_flag_wins_over_an_empty_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "")
    assert not use_color(True, Terminal())


def test_progress_is_shown_on_a_terminal_and_cleared() -> None:
    stream = Terminal()
    progress = Progress("reading policy groups", stream)
    progress(3, 10)
    progress.finish()
    assert "\rreading policy groups 3/10" in stream.getvalue()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_progress_is_silent_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress("reading", stream)
    progress(1, 2)
    progress.finish()
    assert stream.getvalue() == ""


def test_progress_on_a_dumb_terminal_is_a_plain_line_at_each_tenth_of_the_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "dumb")
    stream = Terminal()
    progress = Progress("reading", stream)
    for done in range(1, 21):
        progress(done, 20)
    progress.finish()
    assert stream.getvalue() == "".join(f"reading {done}/20\n" for done in range(2, 21, 2))
