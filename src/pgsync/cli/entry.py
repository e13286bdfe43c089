"""The console script: `pgsync --version` answered before click is imported, then the CLI;
standard output that cannot be written (a full disk, a closed pipe) is one line, not a traceback.

Importing click costs some 25 ms, twice the interpreter's own start; a version check (in a
CI step, a pre-commit hook, a bug report) needs none of it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys

from pgsync import __version__

VERSION_LINE = f"pgsync, version {__version__}"
"""What click's `version_option` prints for `pgsync --version` (tests/test_startup.py checks)."""

# By name: not every system defines every one of these codes.
WRITE_FAILURES = frozenset(
    getattr(errno, name)
    for name in ("EPIPE", "ENOSPC", "EDQUOT", "EFBIG", "EIO")
    if hasattr(errno, name)
)
"""How writing can fail. pgsync turns each failure of a file it writes into an error of its own
where it happens, so one of these reaching the top is a failure of the output streams."""


def main() -> None:
    """Print the version, or run the command line of `pgsync.cli.main`."""
    try:
        if sys.argv[1:] == ["--version"]:
            sys.stdout.write(VERSION_LINE + "\n")
            sys.stdout.flush()
            return
        from pgsync.cli.main import main as run  # noqa: PLC0415

        run()
    except OSError as error:
        if error.errno not in WRITE_FAILURES:
            raise
        _quit_writing(error)


def _quit_writing(error: OSError) -> None:
    if not isinstance(error, BrokenPipeError):  # a reader that went away needs no message
        try:
            sys.stderr.write(f"error: cannot write the output: {error.strerror}\n")
            sys.stderr.flush()
        except OSError:
            pass  # standard error is what failed: nothing is left to tell
    # What is left in the buffers goes nowhere: the interpreter's exit would try it again and
    # print a traceback of its own.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    sys.exit(1)
