"""Running the `pgsync` command in-process against an emulator, and the files it reads."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer

THREE_GROUPS = """\
organization: acme
policyGroups:
  - name: production
    stacks: [payments/prod, web/prod]
    policyPacks:
      - name: aws
        versionTag: "1.0.0"
        enforcementLevel: mandatory
  - name: staging
    mode: audit
    stacks: [web/dev]
  - name: cloud
    entityType: accounts
    accounts: [aws-prod, gcp-data]
    policyPacks:
      - name: cost
        versionTag: "2.0.0"
"""


def write(tmp_path: Path, text: str, name: str = "groups.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def pgsync(server: EmulatorServer, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, [*args, "--api-url", server.url], env=env)


def groups_file(tmp_path: Path, groups: list[dict[str, Any]], prune: bool = False) -> str:
    doc = {"organization": "acme", "prune": prune, "policyGroups": groups}
    return write(tmp_path, json.dumps(doc))
