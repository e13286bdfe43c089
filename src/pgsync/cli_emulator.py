"""The `emulator` and `demo` commands: the built-in Policy Groups API, served on loopback."""

from __future__ import annotations

import threading
import time
from importlib import resources
from pathlib import Path

import click

from pgsync import __version__
from pgsync.cli_options import output_options
from pgsync.emulator import EmulatorServer, demo_fixture, load_fixture

EXAMPLE = Path("examples") / "policygroups.yaml"


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
def emulator(
    host: str, port: int, fixture: str | None, state: str | None, token: str | None
) -> None:
    """Serve the built-in Policy Groups API emulator until Ctrl-C.

    Point pgsync at it with PULUMI_BACKEND_URL (printed below). It implements every
    Policy Groups endpoint with the real API's status codes and checks request bodies
    against the real API's schemas.
    """
    fx = load_fixture(fixture) if fixture else demo_fixture()
    server = EmulatorServer(fx, host=host, port=port, token=token, state_file=state).start()
    click.echo(f"pgsync emulator listening on {server.url}")
    click.echo(f"  export PULUMI_BACKEND_URL={server.url}")
    click.echo("Press Ctrl-C to stop.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


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
    root = ctx.find_root().command
    forwarded = ["--parallelism", str(parallelism)]
    forwarded += ["-v"] * verbose + ["--no-color"] * no_color
    example = str(_example())
    started = time.monotonic()
    with EmulatorServer(demo_fixture()) as server:
        click.echo(f"Emulator for organization 'acme' at {server.url}\n")
        steps = (
            ["validate", example],
            ["plan", example],
            ["apply", example, "--yes"],
            ["plan", example, "--detailed-exitcode"],
        )
        for number, args in enumerate(steps, start=1):
            click.secho(f"── {number}/{len(steps)}  pgsync {' '.join(args)}", bold=True)
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
