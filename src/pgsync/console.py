"""Terminal output: colour decision, progress on stderr, logging with the token scrubbed."""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import click

from pgsync.accesstoken import TokenFilter
from pgsync.errors import Problem
from pgsync.github import annotation, is_github_actions
from pgsync.scrub import shown_line


def use_color(no_color: bool, stream: TextIO) -> bool:
    """Colour only on a terminal, never with --no-color or NO_COLOR (no-color.org)."""
    return not no_color and "NO_COLOR" not in os.environ and stream.isatty()


class Progress:
    """`reading groups 12/340` on stderr, rewritten in place; silent when stderr is no TTY."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        self.stream.write(f"\r{self.label} {done}/{total}")
        self.stream.flush()
        self._shown = True

    def finish(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def print_problems(problems: tuple[Problem, ...]) -> None:
    """On GitHub Actions as annotations (shown inline in the PR), elsewhere as editors read them."""
    on_github = is_github_actions(os.environ)
    for problem in problems:
        if on_github:
            click.echo(annotation(problem))
        else:
            click.echo(shown_line(f"{problem.location}: error: {problem.message}"), err=True)


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
