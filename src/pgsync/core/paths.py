"""Every URL path pgsync sends, built in one place: reads (remote/api.py) and the planned writes.

Each segment taken from a name is percent-encoded whole (`Prod Stacks` → `Prod%20Stacks`, a
child account's `/` → `%2F`), so that no name can reach another endpoint.
"""

from __future__ import annotations

from urllib.parse import quote

from pgsync.core.errors import PgsyncError
from pgsync.core.model import RuleEntity, StackRef

USER_STACKS = "/api/user/stacks"
"""The org's stack listing (`?organization=`), the only listing not under the org's path."""


def _segment(text: str) -> str:
    return quote(text, safe="")


def groups(organization: str) -> str:
    return f"/api/orgs/{_segment(organization)}/policygroups"


def group(organization: str, name: str) -> str:
    """A group's path; `.` and `..` are refused: URL paths collapse dot segments."""
    if name in (".", ".."):
        raise PgsyncError(f"policy group name '{name}' cannot be addressed in a URL path")
    return f"{groups(organization)}/{_segment(name)}"


def batch(organization: str, name: str) -> str:
    return f"{group(organization, name)}/batch"


def coverage(organization: str) -> str:
    return f"{groups(organization)}/metadata"


def rule_preview(organization: str, entity: RuleEntity) -> str:
    field = "stackmatchrule" if entity == "stack" else "accountmatchrule"
    return f"{groups(organization)}/{field}/preview"


def packs(organization: str) -> str:
    return f"/api/orgs/{_segment(organization)}/policypacks"


def stack(organization: str, ref: StackRef) -> str:
    return "/".join(
        ("/api/stacks", _segment(organization), _segment(ref.project), _segment(ref.stack))
    )


def accounts(organization: str) -> str:
    return f"/api/preview/insights/{_segment(organization)}/accounts"


def account(organization: str, name: str) -> str:
    return f"{accounts(organization)}/{_segment(name)}"
