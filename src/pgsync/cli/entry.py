"""The console script: `pgsync --version` answered before click is imported, then the CLI.

Importing click costs some 25 ms, twice the interpreter's own start; a version check (in a
CI step, a pre-commit hook, a bug report) needs none of it.
"""

from __future__ import annotations

import sys

from pgsync import __version__

VERSION_LINE = f"pgsync, version {__version__}"
"""What click's `version_option` prints for `pgsync --version` (tests/test_startup.py checks)."""


def main() -> None:
    """Print the version, or run the command line of `pgsync.cli.main`."""
    if sys.argv[1:] == ["--version"]:
        sys.stdout.write(VERSION_LINE + "\n")
        return
    from pgsync.cli.main import main as run  # noqa: PLC0415

    run()
