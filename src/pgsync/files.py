"""Files pgsync reads and writes: regular files only, reads size-limited, whole-file writes atomic.

A FIFO would hang a read and a device would feed it without end; writing over either by
renaming a file onto it would replace the device itself. So anything but a regular file is
refused before it is opened, and checked again on the open descriptor.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TextIO

from pgsync.core.errors import PgsyncError

MAX_INPUT_BYTES = 50 * 1024 * 1024
LIMIT_ENV = "PGSYNC_MAX_INPUT_BYTES"
STDOUT = "-"
"""The file name that means standard output, for outputs that can go there."""

_READ_CHUNK = 1024 * 1024
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class RefusedFile(OSError):
    """A path that pgsync will not read or write: not a regular file, too big, or a stray link."""


def input_limit(env: Mapping[str, str]) -> int:
    """The size limit of each input file in bytes: `PGSYNC_MAX_INPUT_BYTES`, else 50 MiB."""
    given = env.get(LIMIT_ENV)
    if given is None or given == "":
        return MAX_INPUT_BYTES
    try:
        limit = int(given)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise PgsyncError(f"{LIMIT_ENV} must be a whole number of bytes above 0, not {given!r}")
    return limit


def read_input(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; anything else raises OSError."""
    try:
        _check_regular(os.stat(path))
    except FileNotFoundError:
        if os.path.islink(path):
            raise RefusedFile(
                errno.ENOENT, "a symbolic link to a file that does not exist"
            ) from None
        raise
    # O_NONBLOCK: should the path become a FIFO after the check, opening it must not hang.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        _check_regular(info)
        _check_size(info.st_size, limit)
        chunks: list[bytes] = []
        size = 0
        # The size in the inode is not the last word: the file may grow while it is read.
        while chunk := os.read(fd, min(_READ_CHUNK, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise RefusedFile(errno.EFBIG, f"more than {_limit_text(limit)}")
    finally:
        os.close(fd)
    return b"".join(chunks)


def _check_regular(info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a file")
        raise RefusedFile(errno.EINVAL, f"not a regular file ({kind})")


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise RefusedFile(errno.EFBIG, f"{size:,} bytes, more than {_limit_text(limit)}")


def _limit_text(limit: int) -> str:
    return f"the limit of {limit:,} bytes ({LIMIT_ENV})"


def write_target(path: Path) -> Path:
    """Where writing `path` lands: the path, or the file that a link beside it names.

    Raises RefusedFile unless that is a regular file or absent, in the same directory.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path
    if stat.S_ISLNK(info.st_mode):
        try:
            resolved = Path(os.path.realpath(path, strict=True))
        except FileNotFoundError:
            raise RefusedFile(
                errno.ENOENT, "a symbolic link to a file that does not exist"
            ) from None
        if resolved.parent != Path(os.path.realpath(path.absolute().parent)):
            raise RefusedFile(errno.EPERM, "a symbolic link to a file outside its directory")
        path, info = resolved, os.lstat(resolved)
    _check_regular(info)
    return path


def check_writable(target: str | Path) -> None:
    """Raise OSError unless a file could be written at `target` now, in its existing directory.

    What `StagedFile` refuses is refused here too, and a directory where no file can be
    created (permissions, a read-only file system) is found by creating one and removing it.
    """
    fd, temp = _exclusive_temp(write_target(Path(target)))
    os.close(fd)
    temp.unlink()


class StagedFile:
    """`text` in a new temporary file beside `target`, until `commit()` renames it into place.

    The temporary file is created with O_EXCL under a random name, so nothing planted in the
    directory is followed or overwritten; it takes the mode (and, where allowed, the owner) of
    the file it replaces, else `mode` less the umask. Leaving the `with` block without commit
    removes it.
    """

    def __init__(self, target: str | Path, text: str, *, mode: int = 0o666) -> None:
        self.given = Path(target)
        self.target = write_target(self.given)
        fd, self.path = _exclusive_temp(self.target, mode)
        try:
            _keep_owner_and_mode(fd, self.target)
            with os.fdopen(fd, "wb", closefd=False) as stream:
                stream.write(text.encode("utf-8"))
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            self.discard()
            raise
        os.close(fd)
        self.committed = False

    def commit(self) -> None:
        """Put the file in place of the target, if the target is still what it was."""
        if write_target(self.given) != self.target:
            raise RefusedFile(errno.EAGAIN, "it was replaced while being written")
        os.replace(self.path, self.target)
        self.committed = True
        _sync_directory(self.target.parent)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> StagedFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self.committed:
            self.discard()


def replace_file(target: str | Path, text: str, *, mode: int = 0o666) -> None:
    """Write `text` to `target` whole or not at all (a new file gets `mode` less the umask)."""
    with StagedFile(target, text, mode=mode) as staged:
        staged.commit()


def open_append(target: str | Path) -> TextIO:
    """`target` opened for appending text (created if absent), if it is a regular file."""
    path = write_target(Path(target))
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    fd = os.open(path, flags | os.O_NOCTTY | os.O_CLOEXEC, 0o666)
    try:
        _check_regular(os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "a", encoding="utf-8", newline="")


def _exclusive_temp(target: Path, mode: int = 0o666) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        temp = target.with_name(f".{target.name}.{os.urandom(6).hex()}.tmp")
        try:
            # Less the umask, as for any new file; a replaced file's mode is set later.
            return os.open(temp, flags, mode), temp
        except FileExistsError:
            continue


def _keep_owner_and_mode(fd: int, target: Path) -> None:
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return
    if (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
        # Only root may give a file away; anyone else's copy is theirs, as with any editor.
        with contextlib.suppress(PermissionError):
            os.fchown(fd, info.st_uid, info.st_gid)
    os.fchmod(fd, stat.S_IMODE(info.st_mode))


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
