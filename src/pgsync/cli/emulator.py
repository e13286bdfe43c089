"""The `emulator` and `demo` commands: the built-in Policy Groups API, served on loopback."""

from __future__ import annotations

import dataclasses
import errno
import socket
import sys
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from pgsync import __version__
from pgsync.cli.console import use_color
from pgsync.cli.options import output_options
from pgsync.core.escaping import escape

if TYPE_CHECKING:
    from pgsync.emulator import EmulatorServer
    from pgsync.emulator.state import Api

EXAMPLE = Path("examples") / "policygroups.yaml"

# The emulator's fault kinds and service generations, written out here so that `--help` need
# not import the emulator; tests/test_startup.py checks that they are the emulator's own.
FAULT_KINDS = (
    "429",
    "500",
    "502",
    "503",
    "504",
    "reset",
    "slow-body",
    "timeout",
    "drop-write",
    "after-effect-5xx",
)
APIS: tuple[Api, ...] = ("current", "legacy")


def _kinds(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[str, ...] | None:
    """The kinds of a comma-separated --faults value, each one known."""
    if value is None:
        return None
    kinds = tuple(kind.strip() for kind in value.split(",") if kind.strip())
    unknown = [kind for kind in kinds if kind not in FAULT_KINDS]
    if unknown or not kinds:
        raise click.BadParameter(
            f"unknown fault kind(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(FAULT_KINDS)}"
        )
    return kinds


@click.command()
@click.version_option(__version__, prog_name="pgsync")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port; 0 picks a free one.",
)
@click.option(
    "--fixture",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML fixture of orgs, stacks, packs, accounts and groups (default: demo org).",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False),
    help="JSON state file: loaded if present, saved after every write.",
)
@click.option(
    "--token",
    envvar="PGSYNC_EMULATOR_TOKEN",
    help="Require this access token (env PGSYNC_EMULATOR_TOKEN); default: none.",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    help="Seconds to wait before answering each request (default 0).",
)
@click.option(
    "--jitter",
    type=click.FloatRange(min=0),
    help="Vary the latency by up to ± this many seconds, uniformly.",
)
@click.option(
    "--fault-rate",
    type=click.FloatRange(0, 1),
    help="Fail this fraction of requests at random, e.g. 0.2 (default 0).",
)
@click.option(
    "--faults",
    "fault_kinds",
    metavar="KIND,KIND",
    callback=_kinds,
    help=f"Fault kinds to draw from (default: all): {', '.join(FAULT_KINDS)}.",
)
@click.option(
    "--fault-seed",
    type=int,
    help="Seed of the random faults: the same requests meet the same faults (default 0).",
)
@click.option(
    "--api",
    type=click.Choice(APIS),
    help="Service generation: current (late 2026: match rules, member listings, mode-based "
    "membership) or legacy (the older reference API); default: the fixture's, else current.",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0.1),
    help="Answer 429 with Retry-After beyond this many requests per second (default: no limit).",
)
def emulator(
    *,
    host: str,
    port: int,
    fixture: str | None,
    state: str | None,
    token: str | None,
    latency: float | None,
    jitter: float | None,
    fault_rate: float | None,
    fault_kinds: tuple[str, ...] | None,
    fault_seed: int | None,
    rate_limit: float | None,
    api: Api | None,
) -> None:
    """Serve the built-in Policy Groups API emulator until Ctrl-C.

    Point pgsync at it with PULUMI_BACKEND_URL (printed below). It implements every
    Policy Groups endpoint with the real API's status codes and checks request bodies
    against the real API's schemas (those of Pulumi's pulumi-cloud-sdk for the current
    service). --api legacy serves the older API instead. The fault options make it slow
    and unreliable on purpose, reproducibly, to see how pgsync copes; they override the
    fixture's `faults:` settings.
    """
    # The emulator is imported only by the commands that serve it.
    from pgsync.emulator import (  # noqa: PLC0415
        EmulatorServer,
        FixtureError,
        demo_fixture,
        load_fixture,
    )
    from pgsync.emulator.faults import FaultMix  # noqa: PLC0415

    overrides: dict[str, Any] = {
        name: value
        for name, value in (
            ("latency", latency),
            ("jitter", jitter),
            ("rate", fault_rate),
            ("kinds", fault_kinds),
            ("seed", fault_seed),
        )
        if value is not None
    }
    try:
        fx = load_fixture(fixture) if fixture else demo_fixture()
        mix = fx.faults
        if overrides:
            start = mix or FaultMix(seed=0, rate=0.0, kinds=FAULT_KINDS)
            mix = dataclasses.replace(start, **overrides)
        # This reads the state file, if there is one.
        server = EmulatorServer(
            fx,
            host=host,
            port=port,
            token=token,
            state_file=state,
            faults=mix,
            rate_limit=rate_limit,
            api=api,
        )
    except FixtureError as error:
        _fail(f"{error.where}: error: {error.message}")
    try:
        server.start()
    except OSError as error:
        _fail(f"error: cannot listen on {host}:{port}: {_listen_problem(error)}")
    click.echo(_banner(server, "the --token value" if token is not None else "the fixture's token"))
    if mix is not None:
        click.echo(f"  faults: {mix.describe()}")
    if rate_limit:
        click.echo(f"  rate limit: {rate_limit:g} requests/s, then 429 with Retry-After")
    click.echo(f"  export PULUMI_BACKEND_URL={server.url}")
    click.echo("Press Ctrl-C to stop.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


class _CannotServe(click.ClickException):
    """One line on stderr and exit 1 (from main.py): what a tool says when it cannot start."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(escape(self.message), err=True)


def _fail(message: str) -> NoReturn:
    raise _CannotServe(message)


def _listen_problem(error: OSError) -> str:
    """Why the port cannot be had, and what to do about it."""
    if error.errno == errno.EADDRINUSE:
        return "address already in use (choose another with --port, or --port 0 for any free port)"
    if error.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges: choose another with --port)"
    if error.errno == errno.EADDRNOTAVAIL:
        return "not an address of this machine (choose another with --host)"
    if isinstance(error, socket.gaierror):
        return f"unknown host: {error.strerror} (choose another with --host)"
    return error.strerror or str(error)


# A fixture may serve many organizations; the banner names the first few.
BANNER_ORGS = 5


def _banner(server: EmulatorServer, token_source: str) -> str:
    """What is served where: the organizations with their group counts, the API generation and
    whether a token is wanted (never the token itself)."""
    counts = server.group_counts()
    shown = [
        f"{name} ({count} group{'' if count == 1 else 's'})"
        for name, count in list(counts.items())[:BANNER_ORGS]
    ]
    if len(counts) > BANNER_ORGS:
        shown.append(f"and {len(counts) - BANNER_ORGS} more")
    orgs = ", ".join(shown) or "no organization"
    token = (
        f"token required (set PULUMI_ACCESS_TOKEN to {token_source})"
        if server.wants_token
        else "no token needed"
    )
    # ASCII only: the banner must print on any terminal's encoding.
    return f"pgsync emulator: serving {orgs} at {server.url}; {server.api} API; {token}"


def _example() -> Path:
    """The example in the current checkout if there is one, else the packaged copy."""
    if EXAMPLE.is_file():
        return EXAMPLE
    return Path(str(resources.files("pgsync") / "demo" / "policygroups.yaml"))


@click.command()
@output_options
@click.pass_context
def demo(ctx: click.Context, verbose: bool, no_color: bool, parallelism: int) -> None:
    """Run validate, plan, apply and a second plan against an in-process emulator.

    No token and no network: the emulator listens on a free 127.0.0.1 port with the demo
    organization "acme", and the desired state is examples/policygroups.yaml.
    """
    from pgsync.emulator import EmulatorServer, demo_fixture  # noqa: PLC0415

    root = ctx.find_root().command
    forwarded = ["--parallelism", str(parallelism)]
    forwarded += ["-v"] * verbose + ["--no-color"] * no_color
    example = str(_example())
    color = use_color(no_color, sys.stdout)
    started = time.monotonic()
    # The demo leaves nothing behind: its apply journal goes to a temporary directory.
    with EmulatorServer(demo_fixture()) as server, tempfile.TemporaryDirectory() as scratch:
        click.echo(f"Emulator for organization 'acme' at {server.url}\n")
        journal = str(Path(scratch) / "pgsync-journal.jsonl")
        steps = (
            ["validate", example],
            ["plan", example],
            ["apply", example, "--yes", "--journal", journal],
            ["plan", example, "--detailed-exitcode"],
        )
        for number, args in enumerate(steps, start=1):
            click.secho(
                f"── {number}/{len(steps)}  pgsync {' '.join(args)}", bold=True, color=color
            )
            root.main(
                [*args, *forwarded, "--api-url", server.url],
                prog_name="pgsync",
                standalone_mode=False,
            )
            click.echo()
        writes = len(server.writes())
        total = len(server.requests)
    click.echo(
        f"Demo complete in {time.monotonic() - started:.1f}s: {total} requests served, "
        f"{writes} of them writes; the second plan found nothing to change."
    )
