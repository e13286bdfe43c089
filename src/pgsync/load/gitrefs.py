"""Desired-state files as they were at a git ref, copied into a directory for the loader."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from pgsync.core.errors import PgsyncError
from pgsync.load.desired import is_desired_file


class _GitFailed(PgsyncError):
    """A git command that ran and failed; callers say what it means for --base."""


def _git(*args: str, cwd: Path) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PgsyncError(f"--base needs git, which could not be run: {error}") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise _GitFailed(f"git {args[0]}: {message[-1] if message else 'failed'}")
    return done.stdout


def files_at(ref: str, paths: Sequence[str], into: Path) -> list[str]:
    """Write the desired-state files that `paths` named at `ref` under `into`; return them.

    A directory stands for the *.yaml / *.yml files in and below it, as for the loader. A
    path that did not exist at `ref` contributes nothing (the base had no such file).
    """
    cwd = Path.cwd()
    try:
        top = Path(os.fsdecode(_git("rev-parse", "--show-toplevel", cwd=cwd).removesuffix(b"\n")))
    except _GitFailed:
        raise PgsyncError(
            f"--base {ref}: {cwd} is not in a git repository (run drift in the checkout "
            "that holds the files)"
        ) from None
    try:
        commit = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=top)
    except _GitFailed:
        raise PgsyncError(
            f"--base {ref}: no such commit in this repository (git fetch it, or check the name)"
        ) from None
    # The commit's id from here on: a ref name is never read as an option or a path.
    ref = commit.decode().strip()
    written = []
    for given in paths:
        try:
            inside = Path(given).resolve().relative_to(top.resolve())
        except ValueError:
            raise PgsyncError(
                f"--base: {given} is not in the git repository at {top}, so it has no "
                "version at a commit"
            ) from None
        relative = PurePosixPath(inside.as_posix())
        for member, blob in _blobs(ref, relative, top):
            below = relative in member.parents
            in_dir = below and is_desired_file(member.relative_to(relative).parts)
            if not (member == relative or in_dir):
                continue
            target = into / member
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_git("cat-file", "blob", blob, cwd=top))
            written.append(str(target))
    return written


def _blobs(commit: str, relative: PurePosixPath, top: Path) -> list[tuple[PurePosixPath, str]]:
    """The files at and below `relative` in `commit` with their blob ids, in the loader's order
    (depth first, by name).

    Read with -z: otherwise git quotes a name that holds a non-ASCII or special character,
    and the quoted name is no file. The blob is read by its id, so no name goes back to git.
    """
    listed = _git("ls-tree", "-r", "-z", commit, "--", str(relative), cwd=top)
    blobs = []
    # Each entry ends in a NUL, so the last piece is empty.
    for entry in listed.split(b"\0")[:-1]:
        meta, _, name = entry.partition(b"\t")
        _mode, kind, blob = meta.decode().split()
        if kind == "blob":
            blobs.append((PurePosixPath(os.fsdecode(name)), blob))
    return sorted(blobs)
