"""Desired-state files as they were at a git ref, copied into a directory for the loader."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from pgsync.desired import is_desired_file
from pgsync.errors import PgsyncError


def _git(*args: str, cwd: Path) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PgsyncError(f"cannot run git: {error}") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise PgsyncError(f"git {' '.join(args)}: {message[-1] if message else 'failed'}")
    return done.stdout


def files_at(ref: str, paths: Sequence[str], into: Path) -> list[str]:
    """Write the desired-state files that `paths` named at `ref` under `into`; return them.

    A directory stands for the *.yaml / *.yml files in and below it, as for the loader. A
    path that did not exist at `ref` contributes nothing (the base had no such file).
    """
    cwd = Path.cwd()
    top = Path(_git("rev-parse", "--show-toplevel", cwd=cwd).decode().strip())
    _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=top)
    written = []
    for given in paths:
        relative = PurePosixPath(Path(given).resolve().relative_to(top.resolve()).as_posix())
        listed = _git("ls-tree", "-r", ref, "--", str(relative), cwd=top)
        for line in sorted(set(listed.decode().splitlines())):
            meta, _, name = line.partition("\t")
            member = PurePosixPath(name)
            is_file = meta.split()[1] == "blob"
            below = relative in member.parents
            in_dir = below and is_desired_file(member.relative_to(relative).parts)
            if not is_file or not (member == relative or in_dir):
                continue
            target = into / member
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_git("show", f"{ref}:{member}", cwd=top))
            written.append(str(target))
    return written
