"""`pgsync report` end to end against the emulator: the coverage of a tricky org, live and with
the files, in HTML, Markdown and JSON (contract §6.3)."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from conftest import Golden
from pgsync.cli.main import cli
from pgsync.emulator import EmulatorServer, fixture_from_dict

EPOCH = {"SOURCE_DATE_EPOCH": "1798761600"}
"""2027-01-01 00:00 UTC: the report's time, so that its output is the same in every run."""


def rule(env: str) -> dict[str, Any]:
    return {
        "__type": "PermissionExpressionEqual",
        "left": {
            "__type": "PermissionExpressionTag",
            "context": {"__type": "PermissionExpressionStack"},
            "key": "env",
        },
        "right": {"__type": "PermissionLiteralExpressionString", "value": env},
    }


def level(name: str) -> dict[str, Any]:
    return {"all": {"enforcementLevel": name}}


def tricky_org(extra_stacks: tuple[str, ...] = ()) -> dict[str, Any]:
    """Two versions of one pack on a stack, a default-only stack, an audit-only stack, a
    rule member, a stack in a preventative group without packs."""
    return {
        "organizations": {
            "acme": {
                "stacks": [
                    {"name": "payments/prod", "tags": {"env": "prod"}},
                    {"name": "web/prod", "tags": {"env": "prod"}},
                    {"name": "web/dev", "tags": {"env": "dev"}},
                    {"name": "data/prod", "tags": {"env": "prod"}},
                    "ml/dev",
                    "ops/tools",
                    *extra_stacks,
                ],
                "policyPacks": [
                    {"name": "aws", "versionTags": ["1.0.0", "1.3.0"]},
                    {"name": "cost", "versionTags": ["2.0.0"]},
                    {"name": "best", "versionTags": ["1.0.0"]},
                ],
                "policyGroups": [
                    {
                        "name": "default-policy-group",
                        "policyPacks": [
                            {"name": "best", "versionTag": "1.0.0", "config": level("advisory")}
                        ],
                    },
                    {
                        "name": "prod-old",
                        "stacks": ["payments/prod", "web/prod"],
                        "policyPacks": [
                            {"name": "aws", "versionTag": "1.0.0", "config": level("mandatory")}
                        ],
                    },
                    {
                        "name": "platform",
                        "stacks": ["web/prod"],
                        "policyPacks": [
                            {"name": "aws", "versionTag": "1.3.0", "config": level("advisory")}
                        ],
                    },
                    {"name": "audit-dev", "mode": "audit", "stacks": ["web/dev"]},
                    {
                        "name": "tagged",
                        "stackMatchRule": rule("prod"),
                        "policyPacks": [
                            {"name": "cost", "versionTag": "2.0.0", "config": level("mandatory")}
                        ],
                    },
                    {"name": "empty", "stacks": ["ops/tools"]},
                ],
            }
        }
    }


TRICKY_FILE = """\
organization: acme
policyGroups:
  - name: production
    previously: [prod-old]
    stacks: [payments/prod]
    policyPacks:
      - name: aws
        versionTag: "1.3.0"
        enforcementLevel: mandatory
  - name: platform
    stacks: [web/prod, ml/dev]
    policyPacks:
      - name: aws
        versionTag: "1.3.0"
        enforcementLevel: advisory
  - name: tagged
    stackMatch:
      - env: dev
    policyPacks:
      - name: cost
        versionTag: "2.0.0"
        enforcementLevel: mandatory
"""


def write(tmp_path: Path, text: str, name: str = "groups.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def report(server: EmulatorServer, *args: str) -> Result:
    return CliRunner().invoke(cli, ["report", *args, "--api-url", server.url], env=EPOCH)


def tricky(tmp_path: Path, *args: str) -> Result:
    with EmulatorServer(fixture_from_dict(tricky_org())) as server:
        return report(server, write(tmp_path, TRICKY_FILE), *args)


def test_the_html_report_of_the_tricky_org(tmp_path: Path, golden: Golden) -> None:
    result = tricky(tmp_path)
    assert result.exit_code == 0, result.output
    golden.check("report-tricky.html", result.stdout)


def test_the_markdown_report_of_the_tricky_org(tmp_path: Path, golden: Golden) -> None:
    result = tricky(tmp_path, "--format", "markdown")
    assert result.exit_code == 0, result.output
    golden.check("report-tricky.md", result.stdout)


def test_the_json_report_of_the_tricky_org(tmp_path: Path, golden: Golden) -> None:
    result = tricky(tmp_path, "--format", "json")
    assert result.exit_code == 0, result.output
    golden.check("report-tricky.json", result.stdout)


def stack_entry(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in document["stacks"] if s["stack"] == name)
    return found


def test_json_has_the_contracts_keys_and_each_stack_live_and_desired(tmp_path: Path) -> None:
    document = json.loads(tricky(tmp_path, "--format", "json").stdout)
    assert {"organization", "stacks", "defaultOnly", "noPreventative", "metadata"} <= set(document)
    assert document["organization"] == "acme"
    assert [s["stack"] for s in document["stacks"]] == [
        "data/prod",
        "ml/dev",
        "ops/tools",
        "payments/prod",
        "web/dev",
        "web/prod",
    ]
    for entry in document["stacks"]:
        for side in ("live", "desired"):
            assert set(entry[side]) == {"packs", "groups", "viaDefault", "auditedBy"}
    assert document["metadata"]["total_stacks"] == 6


def test_the_newest_version_of_a_pack_in_two_groups_wins(tmp_path: Path) -> None:
    web = stack_entry(json.loads(tricky(tmp_path, "--format", "json").stdout), "web/prod")
    assert web["live"]["packs"]["aws"] == {"versionTag": "1.3.0", "enforcementLevel": "advisory"}
    assert web["live"]["groups"] == ["platform", "prod-old", "tagged"]


def test_a_changed_rule_moves_its_matches_in_the_desired_view(tmp_path: Path) -> None:
    document = json.loads(tricky(tmp_path, "--format", "json").stdout)
    data, dev = stack_entry(document, "data/prod"), stack_entry(document, "web/dev")
    assert "tagged" in data["live"]["groups"] and data["desired"]["viaDefault"]
    assert dev["live"]["viaDefault"] and dev["live"]["auditedBy"] == ["audit-dev"]
    assert dev["desired"]["groups"] == ["tagged"]
    assert dev["desired"]["packs"]["cost"]["enforcementLevel"] == "mandatory"


def test_the_card_of_a_group_whose_rule_changes_says_both_rules(tmp_path: Path) -> None:
    groups = json.loads(tricky(tmp_path, "--format", "json").stdout)["groups"]
    tagged = next(g for g in groups if g["name"] == "tagged")
    assert (tagged["live"]["stackRule"], tagged["desired"]["stackRule"]) == (
        "env = prod",
        "env = dev",
    )
    assert (tagged["live"]["stacks"], tagged["desired"]["stacks"]) == (3, 1)


def test_default_only_and_no_preventative_stacks_say_live_and_desired(tmp_path: Path) -> None:
    document = json.loads(tricky(tmp_path, "--format", "json").stdout)
    assert {"stack": "ml/dev", "live": True, "desired": False} in document["defaultOnly"]
    assert {"stack": "data/prod", "live": False, "desired": True} in document["defaultOnly"]
    assert document["noPreventative"] == [{"stack": "ops/tools", "live": True, "desired": True}]


def test_html_rows_and_hooks_for_filtering_and_sorting(tmp_path: Path) -> None:
    page = tricky(tmp_path).stdout
    assert page.count("<tr data-stack=") == 6
    assert '<tr data-stack="web/dev">' in page
    assert "<input id=filter " in page
    assert "<table id=matrix>" in page
    # The stack, each of the three packs, the groups, the audit groups and the status.
    assert page.count("<th scope=col data-sort") == 1 + 3 + 3


def test_html_fetches_nothing(tmp_path: Path) -> None:
    page = tricky(tmp_path).stdout
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"<link\b", page, re.I)
    assert not re.search(r"@import|url\(", page, re.I)


def test_a_hostile_stack_name_is_escaped_everywhere(tmp_path: Path) -> None:
    hostile = '<img src=x onerror="alert(1)">&/a'
    with EmulatorServer(fixture_from_dict(tricky_org((hostile,)))) as server:
        path = write(tmp_path, TRICKY_FILE)
        page = report(server, path).stdout
        markdown = report(server, path, "--format", "markdown").stdout
        document = json.loads(report(server, path, "--format", "json").stdout)
    assert "<img" not in page
    assert '<tr data-stack="&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;/a">' in page
    # Literal in code spans, the one form in which Markdown shows markup as text.
    assert markdown.count("<img") == markdown.count(f"`{hostile}`") > 0
    assert hostile in [s["stack"] for s in document["stacks"]]


def test_out_writes_the_report_whole_and_prints_nothing(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "coverage.html"
    result = tricky(tmp_path, "--out", str(target))
    assert (result.exit_code, result.stdout) == (0, "")
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in target.parent.iterdir()] == ["coverage.html"]


def test_a_failed_report_leaves_the_old_file_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "coverage.html"
    target.write_text("old report\n", encoding="utf-8")
    other_org = TRICKY_FILE.replace("organization: acme", "organization: nobody")
    with EmulatorServer(fixture_from_dict(tricky_org())) as server:
        result = report(server, write(tmp_path, other_org), "--out", str(target))
    assert result.exit_code == 1
    assert target.read_text(encoding="utf-8") == "old report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coverage.html", "groups.yaml"]


def test_out_naming_a_desired_state_file_is_refused_before_any_request(tmp_path: Path) -> None:
    path = write(tmp_path, TRICKY_FILE)
    with EmulatorServer(fixture_from_dict(tricky_org())) as server:
        result = report(server, path, "--out", path)
        assert server.requests == []
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot write {path}: it is a desired-state file read by this command; "
        "give --out another path\n"
    )


def previewed(server: EmulatorServer) -> list[Any]:
    """The rules sent to the rule preview, in order."""
    posts = [r.body for r in server.requests if r.method == "POST"]
    return [body["stackMatchRule"] for body in posts if body is not None]


def test_only_a_changed_rule_is_previewed_besides_the_live_one(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(tricky_org())) as server:
        assert report(server, write(tmp_path, TRICKY_FILE)).exit_code == 0
        assert rule("dev") in previewed(server)
        server.clear_requests()
        unchanged = TRICKY_FILE.replace("      - env: dev", "      - env: prod")
        assert report(server, write(tmp_path, unchanged)).exit_code == 0
        assert previewed(server) == [rule("prod")]


def test_out_dash_is_stdout(tmp_path: Path) -> None:
    result = tricky(tmp_path, "--out", "-", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["organization"] == "acme"


def test_the_report_writes_nothing_to_the_org(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(tricky_org())) as server:
        assert report(server, write(tmp_path, TRICKY_FILE)).exit_code == 0
        assert server.writes() == []


def test_invalid_yaml_exits_1_with_the_place(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(tricky_org())) as server:
        result = report(server, write(tmp_path, "organization: [acme\n"))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "groups.yaml:" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "error: 1 problem found"


def test_an_unknown_format_exits_1_in_one_line(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(tricky_org())) as server:
        result = report(server, write(tmp_path, TRICKY_FILE), "--format", "pdf")
    assert result.exit_code == 1
    assert "'pdf' is not one of 'html', 'markdown', 'json'" in result.stderr


def test_an_unusable_time_from_source_date_epoch_exits_1(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(tricky_org())) as server:
        result = CliRunner().invoke(
            cli,
            ["report", write(tmp_path, TRICKY_FILE), "--api-url", server.url],
            env={"SOURCE_DATE_EPOCH": "yesterday"},
        )
    assert result.exit_code == 1
    assert result.stderr == (
        "error: SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, not 'yesterday'\n"
    )


def test_the_report_shows_no_config_values(tmp_path: Path) -> None:
    fixture = tricky_org()
    fixture["organizations"]["acme"]["policyGroups"][2]["policyPacks"][0]["config"] = {
        "all": {"enforcementLevel": "advisory"},
        "tags": {"enforcementLevel": "mandatory", "required": ["owner-7f3a"]},
    }
    with EmulatorServer(fixture_from_dict(fixture)) as server:
        path = write(tmp_path, TRICKY_FILE)
        outputs = [report(server, path, "--format", f).stdout for f in ("html", "markdown", "json")]
    assert all(out and "owner-7f3a" not in out for out in outputs)


def test_a_stack_in_no_group_is_reported_under_the_default_group(tmp_path: Path) -> None:
    """Only the org's listing names it: no group holds it and no file declares it."""
    with EmulatorServer(fixture_from_dict(tricky_org(extra_stacks=("solo/x",)))) as server:
        taken = {"removeStack": {"routingProject": "solo", "name": "x"}}
        server.mutate("acme", "default-policy-group", taken)
        result = report(server, write(tmp_path, TRICKY_FILE), "--format", "json")
        listed = [r.path for r in server.requests if r.path == "/api/user/stacks"]
    assert result.exit_code == 0, result.output
    solo = stack_entry(json.loads(result.stdout), "solo/x")
    assert (solo["live"]["viaDefault"], solo["live"]["groups"]) == (True, ["default-policy-group"])
    assert listed


def test_the_stack_listing_is_not_read_when_the_groups_hold_every_stack(tmp_path: Path) -> None:
    with EmulatorServer(fixture_from_dict(tricky_org())) as server:
        assert report(server, write(tmp_path, TRICKY_FILE)).exit_code == 0
        assert [r for r in server.requests if r.path == "/api/user/stacks"] == []
