"""Terminal output: colour decision, progress on stderr, logging with the token scrubbed."""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import click

from pgsync.cli.github import annotation, is_github_actions
from pgsync.core.errors import Problem
from pgsync.core.escaping import shown_line
from pgsync.remote.accesstoken import TokenFilter


def use_color(no_color: bool, stream: TextIO) -> bool:
    """Colour only on a terminal that shows it: never with --no-color, with NO_COLOR set to
    anything but "" (no-color.org), or on TERM=dumb."""
    return not no_color and not os.environ.get("NO_COLOR") and not _dumb() and stream.isatty()


def _dumb() -> bool:
    """A terminal that knows no escape sequences and no carriage return (Emacs' shell, say)."""
    return os.environ.get("TERM") == "dumb"


class Progress:
    """`reading groups 12/340` on stderr: rewritten in place on a terminal, on TERM=dumb a
    plain line at each tenth of the way; silent when stderr is no terminal."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.in_place = self.enabled and not _dumb()
        self._shown = False
        self._tenths = 0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.in_place:
            self.stream.write(f"\r{self.label} {done}/{total}")
            self._shown = True
        else:
            tenths = done * 10 // max(total, 1)
            if tenths <= self._tenths:
                return
            self._tenths = tenths
            self.stream.write(f"{self.label} {done}/{total}\n")
        self.stream.flush()

    def finish(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def print_problems(problems: tuple[Problem, ...], level: str = "error") -> None:
    """On GitHub Actions as annotations (shown inline in the PR), elsewhere as editors read them."""
    on_github = is_github_actions(os.environ)
    for problem in problems:
        if on_github:
            click.echo(annotation(problem, level))
        else:
            click.echo(shown_line(f"{problem.location}: {level}: {problem.message}"), err=True)


def configure_logging(verbose: bool, token: str | None) -> None:
    """-v shows pgsync's retries and httpx's requests; secrets are scrubbed either way."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(TokenFilter(token))
    levels = {
        "pgsync": logging.DEBUG if verbose else logging.WARNING,
        "httpx": logging.INFO if verbose else logging.WARNING,
        "httpcore": logging.WARNING,
    }
    for name, level in levels.items():
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False
