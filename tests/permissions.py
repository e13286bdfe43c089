"""Running a command as a user that file permission bits apply to, even under root."""

from __future__ import annotations

import os


def without_file_permission_override() -> list[str]:
    """A command prefix under which permission bits apply, even to root."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
