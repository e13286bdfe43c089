"""Secrets never reach any output: live and desired config values, and the access token."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from conftest import org_spec
from pgsync.cli.main import cli
from pgsync.core.configdiff import describe_pack_change
from pgsync.core.masking import DEFAULT_SECRET_KEYS, is_secret_key
from pgsync.core.model import AppliedPack, canonical_json
from pgsync.emulator import EmulatorServer, fixture_from_dict

LIVE_SECRET = "HUNTER2-live"
LIVE_KEY = "KEY-live-0123"
NEW_SECRET = "S3CR3T-desired"
TOKEN = "pul-SENTINEL-0badc0ffee0ddf00d"

LIVE_CONFIG = {
    "all": {"enforcementLevel": "advisory"},
    "db": {"password": LIVE_SECRET, "port": 5432, "apiKey": {"id": "k1", "value": LIVE_KEY}},
}


def live_groups() -> list[dict[str, Any]]:
    """One group whose pack holds secrets under secret-looking keys, as the API returns them."""
    pack = {"name": "aws", "versionTag": "1.0.0", "config": LIVE_CONFIG}
    return [{"name": "prod", "stacks": ["web/prod"], "policyPacks": [pack]}]


def desired(tmp_path: Path, packs: str) -> str:
    """A file declaring group `prod` with the given `policyPacks:` block (YAML, indented 4)."""
    path = tmp_path / "groups.yaml"
    text = "organization: acme\npolicyGroups:\n  - name: prod\n    stacks: [web/prod]\n"
    path.write_text(text + textwrap.indent(textwrap.dedent(packs), "    "), encoding="utf-8")
    return str(path)


def run(server: EmulatorServer, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, [*args, "--api-url", server.url], env=env)


def every_format(server: EmulatorServer, path: str, tmp_path: Path) -> list[str]:
    """The plan as text, markdown, JSON and saved plan file, each checked for exit code 0."""
    out = tmp_path / "plan.json"
    results = [
        run(server, "plan", path),
        run(server, "plan", path, "--format", "markdown"),
        run(server, "plan", path, "--format", "json"),
        run(server, "plan", path, "--out", str(out)),
    ]
    for result in results:
        assert result.exit_code == 0, result.output
    return [r.output for r in results] + [out.read_text(encoding="utf-8")]


def test_default_patterns_match_any_case_ignoring_dashes_and_underscores() -> None:
    names = ["password", "DB_PASSWORD", "clientSecret", "x-api-key", "API_KEY", "privateKey"]
    names += ["private-key-pem", "authToken", "ApiKeyId"]
    assert all(is_secret_key(name) for name in names)
    assert not any(is_secret_key(name) for name in ["port", "key", "private", "pass", "api"])
    assert is_secret_key("connString", ("conn-string",))
    assert not is_secret_key("password", ())
    assert DEFAULT_SECRET_KEYS == ("password", "secret", "token", "apikey", "privatekey")


@pytest.mark.parametrize(
    "packs",
    [
        pytest.param("policyPacks: []\n", id="remove"),
        pytest.param(
            """\
            policyPacks:
              - name: aws
                versionTag: "1.3.0"
            """,
            id="upgrade-dropping-config",
        ),
        pytest.param(
            f"""\
            policyPacks:
              - name: aws
                versionTag: "1.3.0"
                config:
                  db:
                    password:
                      fn::secret: {NEW_SECRET}
            """,
            id="upgrade-with-fn-secret",
        ),
        pytest.param(
            f"""\
            policyPacks:
              - name: aws
                versionTag: "1.0.0"
                config:
                  db: {{password: {NEW_SECRET}, port: 5433, apiKey: {{id: k2}}}}
            """,
            id="reconfigure",
        ),
    ],
)
def test_live_secrets_never_appear_in_any_plan_format(tmp_path: Path, packs: str) -> None:
    with EmulatorServer(fixture_from_dict(org_spec(live_groups()))) as server:
        outputs = every_format(server, desired(tmp_path, packs), tmp_path)
    assert "~ prod" in outputs[0]
    for text in outputs:
        for secret in (LIVE_SECRET, LIVE_KEY, NEW_SECRET):
            assert secret not in text


def test_a_changed_secret_shows_as_a_masked_change(tmp_path: Path) -> None:
    packs = f"""\
        policyPacks:
          - name: aws
            versionTag: "1.0.0"
            enforcementLevel: advisory
            config:
              db: {{password: {NEW_SECRET}, port: 5432, apiKey: {{id: k1, value: {LIVE_KEY}}}}}
        """
    with EmulatorServer(fixture_from_dict(org_spec(live_groups()))) as server:
        text, _, plan, _, _ = every_format(server, desired(tmp_path, packs), tmp_path)
    assert "          db.password: changed to [secret]\n" in text
    [group] = [g for g in json.loads(plan)["groups"] if g["name"] == "prod"]
    [change] = group["changes"]
    assert change["value"]["configChanges"] == ["db.password: changed to [secret]"]
    assert change["value"]["config"]["db"] == {
        "password": "[secret]",
        "port": 5432,
        "apiKey": "[secret]",
    }
    [request] = group["requests"]
    assert request["body"][0]["addPolicyPack"]["config"]["db"]["password"] == "[secret]"


def test_an_unchanged_secret_shows_no_change(tmp_path: Path) -> None:
    packs = f"""\
        policyPacks:
          - name: aws
            versionTag: "1.0.0"
            enforcementLevel: advisory
            config:
              db:
                password: {LIVE_SECRET}
                port: 6543
                apiKey: {{id: k1, value: {LIVE_KEY}}}
        """
    with EmulatorServer(fixture_from_dict(org_spec(live_groups()))) as server:
        text, markdown, plan, _, _ = every_format(server, desired(tmp_path, packs), tmp_path)
    [group] = [g for g in json.loads(plan)["groups"] if g["name"] == "prod"]
    assert group["changes"][0]["value"]["configChanges"] == ["db.port: changed to 6543"]
    assert "password" not in text and "password" not in markdown


def test_unchanged_secrets_plan_to_no_changes(tmp_path: Path) -> None:
    packs = f"""\
        policyPacks:
          - name: aws
            versionTag: "1.0.0"
            enforcementLevel: advisory
            config:
              db:
                password: {{fn::secret: {LIVE_SECRET}}}
                port: 5432
                apiKey: {{id: k1, value: {LIVE_KEY}}}
        """
    with EmulatorServer(fixture_from_dict(org_spec(live_groups()))) as server:
        result = run(server, "plan", desired(tmp_path, packs), "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.output


def test_the_token_and_secrets_appear_in_no_output_of_any_command(tmp_path: Path) -> None:
    packs = f"""\
        policyPacks:
          - name: aws
            versionTag: "1.3.0"
            config:
              db: {{password: {NEW_SECRET}, port: 1}}
        """
    path = desired(tmp_path, packs)
    plan_file, imported = tmp_path / "plan.json", tmp_path / "imported.yaml"
    env = {"PULUMI_ACCESS_TOKEN": TOKEN}
    with EmulatorServer(fixture_from_dict(org_spec(live_groups())), token=TOKEN) as server:
        results = [
            run(server, *args, "-v", env=env)
            for args in (
                ("validate", "--live", path),
                ("plan", path),
                ("plan", path, "--format", "markdown"),
                ("plan", path, "--format", "json"),
                ("plan", path, "--out", str(plan_file)),
                ("apply", path, "--yes", "--plan", str(plan_file)),
                ("apply", path, "--yes"),
                ("drift", path),
                ("import", "--org", "acme", "--out", str(imported)),
            )
        ]
        refused = CliRunner().invoke(
            cli, ["plan", path, "--api-url", "http://example.com"], env=env
        )
    results += [
        refused,
        CliRunner().invoke(cli, ["emulator", "--help"], env=env),
        CliRunner().invoke(cli, ["demo", "-v"], env=env),
    ]
    assert [r.exit_code for r in results[:9]] == [0, 0, 0, 0, 0, 0, 0, 0, 0], [
        r.output for r in results
    ]
    assert "HTTP Request" in results[1].stderr
    assert "plain HTTP" in refused.stderr
    assert "Plan:" in results[-1].stdout
    written = [plan_file.read_text(encoding="utf-8"), imported.read_text(encoding="utf-8")]
    for text in [*(r.stdout + r.stderr for r in results), *written]:
        for secret in (TOKEN, NEW_SECRET, LIVE_SECRET, LIVE_KEY):
            assert secret not in text


def test_old_live_values_under_secret_looking_keys_are_never_shown() -> None:
    def aws(config: dict[str, Any]) -> AppliedPack:
        return AppliedPack("aws", "1.0.0", 1, "AWS", canonical_json(config))

    before = aws({"p": {"requireToken": True, "flag": True}})
    after = aws({"p": {"requireToken": False, "flag": False}})
    assert describe_pack_change(before, after) == (
        "p.flag: true → false",
        "p.requireToken: changed to false",
    )
