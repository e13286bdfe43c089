"""The older service (emulator `api: legacy`): pgsync plans and applies with the same requests.

On that generation every group carries entityType, a group holds one kind of member, there
are no member listings and no match rules. A file that uses none of the new features must
behave exactly as it does on the current service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clirun import THREE_GROUPS, pgsync, write
from conftest import org_spec
from pgsync.emulator import EmulatorServer, fixture_from_dict

LIVE: list[dict[str, Any]] = [
    {"name": "old", "stacks": ["web/dev"], "policyPacks": [{"name": "aws", "versionTag": "1.0.0"}]},
    {"name": "team accounts", "entityType": "accounts", "accounts": ["aws-staging"]},
]
CHANGES = (
    THREE_GROUPS.replace("policyGroups:", "allow: [unprotected:team accounts]\npolicyGroups:", 1)
    + """\
  - name: renamed
    previously: [old]
    stacks: [web/prod]
    policyPacks:
      - name: aws
        versionTag: "1.3.0"
  - name: team accounts
    entityType: accounts
    accounts: [aws-prod, gcp-data]
  - name: audit only accounts
    mode: audit
    accounts: [gcp-data]
"""
)


def writes_on(api: str, tmp_path: Path) -> list[tuple[str, str, Any]]:
    """The write requests of one apply of CHANGES, and the re-plan's exit code checked."""
    spec = {**org_spec(LIVE), "api": api}
    with EmulatorServer(fixture_from_dict(spec)) as server:
        path = write(tmp_path, CHANGES, f"{api}.yaml")
        # One group at a time: the writes then arrive in plan order, comparable run to run.
        applied = pgsync(server, "apply", path, "--yes", "--parallelism", "1")
        assert applied.exit_code == 0, applied.output
        requests = [(w.method, w.path, w.body) for w in server.writes()]
        again = pgsync(server, "plan", path, "--detailed-exitcode")
        assert again.exit_code == 0, again.output
    return requests


def test_the_same_file_sends_the_same_writes_on_the_legacy_and_the_current_service(
    tmp_path: Path,
) -> None:
    legacy = writes_on("legacy", tmp_path)
    assert legacy == writes_on("current", tmp_path)
    assert len(legacy) == 11  # a rename, two updates, four creates of a POST and a batch each


def test_an_audit_group_of_accounts_alone_is_created_with_the_accounts_label(
    tmp_path: Path,
) -> None:
    created = [body for method, _, body in writes_on("legacy", tmp_path) if method == "POST"]
    assert {"name": "audit only accounts", "entityType": "accounts", "mode": "audit"} in created


@pytest.mark.parametrize("command", ["plan", "drift", "import"])
def test_no_command_needs_the_member_listings(tmp_path: Path, command: str) -> None:
    with EmulatorServer(fixture_from_dict({**org_spec(LIVE), "api": "legacy"})) as server:
        if command == "import":
            result = pgsync(server, "import", "--org", "acme")
        else:
            result = pgsync(server, command, write(tmp_path, CHANGES))
        paths = {r.path for r in server.requests}
    assert result.exit_code in (0, 2), result.output
    assert not any(
        p.endswith(("/stacks", "/accounts", "/preview")) for p in paths if "policygroups/" in p
    )
