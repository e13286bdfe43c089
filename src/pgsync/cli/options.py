"""Options shared by the commands, and the one place errors become messages and exit codes."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import click

from pgsync import __version__
from pgsync.cli.console import configure_logging, print_problems, use_color
from pgsync.core.errors import ChangesPending, PgsyncError, ValidationFailed
from pgsync.core.escaping import shown
from pgsync.core.masking import secret_run
from pgsync.core.wording import counted
from pgsync.remote.accesstoken import TOKEN_ENV, redact_token

DEFAULT_API_URL = "https://api.pulumi.com"

P = ParamSpec("P")
R = TypeVar("R")

# Existence is checked by the loader, which reports a missing file as file:1:1 with exit 1.
PATHS = click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=True))

API_URL = click.option(
    "--api-url",
    envvar="PULUMI_BACKEND_URL",
    default=DEFAULT_API_URL,
    show_default=True,
    help="Pulumi Cloud API base URL (env PULUMI_BACKEND_URL).",
)


MAX_RPS = click.option(
    "--max-rps",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Send at most this many requests per second, to stay under the API's rate limit.",
)


CONNECT_TIMEOUT = click.option(
    "--connect-timeout",
    envvar="PGSYNC_CONNECT_TIMEOUT",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Wait at most this long for a connection to the API (env PGSYNC_CONNECT_TIMEOUT).",
)

READ_TIMEOUT = click.option(
    "--read-timeout",
    envvar="PGSYNC_READ_TIMEOUT",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Wait at most this long for each read of an answer (env PGSYNC_READ_TIMEOUT).",
)


def output_options(command: Callable[..., R]) -> Callable[..., R]:
    """-v, --no-color, --parallelism and --version: for every command that reads the API."""
    for option in (
        click.version_option(__version__, prog_name="pgsync"),
        click.option(
            "--parallelism",
            type=click.IntRange(1, 64),
            default=8,
            show_default=True,
            help="Requests at once: group reads, and groups written at once by apply.",
        ),
        click.option(
            "--no-color", is_flag=True, help="No colour (NO_COLOR and TERM=dumb turn it off too)."
        ),
        click.option("-v", "--verbose", is_flag=True, help="Log requests and retries."),
    ):
        command = option(command)
    return command


@dataclass(frozen=True, slots=True)
class Settings:
    """The options every command accepts after its name."""

    api_url: str
    verbose: bool
    color: bool
    parallelism: int
    max_rps: float | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 30.0

    @property
    def token(self) -> str | None:
        return os.environ.get(TOKEN_ENV) or None


def common_options(command: Callable[..., R]) -> Callable[..., R]:
    """Adds --api-url, --max-rps, --connect-timeout, --read-timeout, -v, --no-color,
    --parallelism, --version; passes `settings`."""

    @functools.wraps(command)
    def wrapper(
        *,
        api_url: str,
        max_rps: float | None,
        connect_timeout: float,
        read_timeout: float,
        verbose: bool,
        no_color: bool,
        parallelism: int,
        **kwargs: Any,
    ) -> R:
        color = use_color(no_color, sys.stdout)
        settings = Settings(
            api_url, verbose, color, parallelism, max_rps, connect_timeout, read_timeout
        )
        configure_logging(verbose, settings.token)
        with secret_run():
            return command(settings=settings, **kwargs)

    return output_options(API_URL(MAX_RPS(CONNECT_TIMEOUT(READ_TIMEOUT(wrapper)))))


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turns pgsync's errors into one clear message on stderr and the exit code each carries.

    The commands raise, and their errors become exit codes here alone (contract §3); click's
    own usage errors are main.py's.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except PgsyncError as error:
            _report(error)
            sys.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            sys.exit(130)

    return wrapper


def _report(error: PgsyncError) -> None:
    if isinstance(error, ChangesPending):
        # Not an error: the exit code is the whole message, the plan was shown.
        return
    if isinstance(error, ValidationFailed):
        print_problems(error.problems)
        click.echo(f"error: {counted(len(error.problems), 'problem')} found", err=True)
        return
    click.echo(f"error: {shown(redact_token(str(error), os.environ.get(TOKEN_ENV)))}", err=True)
