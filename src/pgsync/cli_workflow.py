"""What the commands share: building the client, reading live state, planning, files, output."""

from __future__ import annotations

import os
from pathlib import Path

import click

from pgsync import __version__
from pgsync.api import PolicyGroupsApi
from pgsync.cli_options import Settings
from pgsync.client import TOKEN_ENV, Client, is_loopback
from pgsync.console import Progress
from pgsync.desired import load_desired
from pgsync.diff import diff
from pgsync.errors import PgsyncError
from pgsync.model import DesiredState, LiveState
from pgsync.plan import Plan, build_plan
from pgsync.render import render_json, render_text

EXIT_CHANGES = 2

# Existence is checked by the loader, which reports a missing file as file:1:1 with exit 1.
PATHS = click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=True))

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for tools (the contract's JSON plan).",
)


def make_api(settings: Settings, organization: str) -> PolicyGroupsApi:
    """The API for one organization; no token is needed only for a loopback emulator."""
    token = settings.token
    if not token and not is_loopback(settings.api_url):
        raise PgsyncError(f"{TOKEN_ENV} is not set; it is needed for {settings.api_url}")
    client = Client(settings.api_url, token, parallelism=settings.parallelism)
    return PolicyGroupsApi(client, organization)


def read_live(
    api: PolicyGroupsApi, desired: DesiredState, only: frozenset[str] | None = None
) -> LiveState:
    progress = Progress("reading policy groups")
    try:
        return api.read_live_state(desired, only=only, progress=progress)
    finally:
        progress.finish()


def make_plan(
    paths: tuple[str, ...], settings: Settings
) -> tuple[Plan, PolicyGroupsApi, LiveState]:
    desired = load_desired(paths)
    api = make_api(settings, desired.organization)
    live = read_live(api, desired)
    coverage = api.coverage()
    verdicts = diff(desired, live)
    return build_plan(desired.organization, verdicts, desired.inputs, coverage), api, live


def write_file(path: str, text: str) -> None:
    """Write whole or not at all: a temp file renamed into place."""
    target = Path(path)
    temp = target.with_name(f".{target.name}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, target)
    except OSError as error:
        raise PgsyncError(f"cannot write {path}: {error.strerror}") from None


def read_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PgsyncError(f"cannot read {path}: {error}") from None


def show_plan(result: Plan, fmt: str, out: str | None, settings: Settings) -> None:
    if out:
        write_file(out, render_json(result, __version__))
    if fmt == "json":
        click.echo(render_json(result, __version__), nl=False)
    else:
        click.echo(render_text(result, color=settings.color), nl=False)
