"""Secret values are scrubbed by value from everything pgsync says, whoever echoes them back.

The hostile answers come from the emulator's injected faults: a service whose error message
quotes the request (its config) or the group it read.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import org_spec
from pgsync.cli.main import cli
from pgsync.core.masking import Secrets, secret_run
from pgsync.emulator import EmulatorServer, fixture_from_dict

FN_SECRET = 'fn-S3CR3T"with\\quote'
API_KEY = "AK-0123456789-live"
PASSWORD = "hunter2-Pa55word"
LIVE_PASSWORD = "LIVE-pw-77aa"
SECRETS = (FN_SECRET, API_KEY, PASSWORD)

CONFIG = {
    "db": {"password": {"fn::secret": FN_SECRET}, "apiKey": API_KEY, "port": 5432},
    "admin": {"dbPassword": PASSWORD},
}
WIRE_CONFIG = {
    "db": {"password": FN_SECRET, "apiKey": API_KEY, "port": 5432},
    "admin": {"dbPassword": PASSWORD},
}


def groups_file(tmp_path: Path) -> str:
    """Group `prod` with one pack holding an `fn::secret`, an apiKey and a password."""
    pack = {"name": "aws", "versionTag": "1.0.0", "config": CONFIG}
    text = json.dumps(
        {"organization": "acme", "policyGroups": [{"name": "prod", "policyPacks": [pack]}]}
    )
    path = tmp_path / "groups.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(server: EmulatorServer, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--api-url", server.url])


def leaked(text: str, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    """Every secret found in `text`, as is or in any JSON spelling of it."""
    spellings = {
        s: {s, json.dumps(s)[1:-1], json.dumps(json.dumps(s)[1:-1])[1:-1]} for s in secrets
    }
    return [s for s, forms in spellings.items() if any(form in text for form in forms)]


def echo_request_400(emulator: EmulatorServer, message: str) -> None:
    emulator.inject_fault(
        method="PATCH", path="/batch$", status=400, body={"code": 400, "message": message}
    )


def test_a_400_echoing_the_pack_config_leaks_no_secret_to_stderr(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    echo_request_400(emulator, f"invalid policy pack config: {json.dumps(WIRE_CONFIG)}")
    result = run(emulator, "apply", groups_file(tmp_path), "--yes")
    assert result.exit_code == 1
    assert "invalid policy pack config: " in result.stderr
    assert '"password": "[secret]"' in result.stderr
    assert leaked(result.output) == []


def test_a_400_echoing_the_pack_config_leaks_no_secret_into_the_journal(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    echo_request_400(emulator, f"invalid policy pack config: {json.dumps(WIRE_CONFIG)}")
    journal = tmp_path / "journal.jsonl"
    result = run(emulator, "apply", groups_file(tmp_path), "--yes", "--journal", str(journal))
    assert result.exit_code == 1
    text = journal.read_text(encoding="utf-8")
    [failed] = [json.loads(line) for line in text.splitlines() if '"failed"' in line]
    assert "invalid policy pack config" in failed["error"]
    assert leaked(text) == []


def test_a_journal_report_of_the_failed_run_leaks_no_secret(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    echo_request_400(emulator, f"bad apiKey {API_KEY} and password {PASSWORD}")
    journal = tmp_path / "journal.jsonl"
    run(emulator, "apply", groups_file(tmp_path), "--yes", "--journal", str(journal))
    path = groups_file(tmp_path)
    result = run(
        emulator, "apply", path, "--yes", "--journal", str(journal), "--resume", str(journal)
    )
    assert "prod: failed: " in result.output
    assert leaked(result.output) == []


def test_a_503_quoting_a_password_leaks_nothing_into_the_verbose_retry_log(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.inject_fault(
        method="GET",
        path="/policygroups$",
        status=503,
        headers={"Retry-After": "0"},
        body=f"upstream timeout while handling dbPassword={PASSWORD}; retry",
    )
    result = run(emulator, "plan", groups_file(tmp_path), "-v")
    assert result.exit_code == 0, result.output
    assert "HTTP 503: upstream timeout while handling dbPassword=[secret]; retry" in result.stderr
    assert "retrying in" in result.stderr
    assert leaked(result.output) == []


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(f"request {json.dumps(json.dumps(WIRE_CONFIG))} rejected", id="escaped-twice"),
        pytest.param(f"config={json.dumps(WIRE_CONFIG, ensure_ascii=True)}", id="ascii-escaped"),
        pytest.param(f"key x{API_KEY}y and pw <<{FN_SECRET}>>", id="inside-longer-strings"),
        pytest.param(f"got {WIRE_CONFIG!r}", id="python-repr"),
    ],
)
def test_every_spelling_of_an_echoed_secret_is_scrubbed(
    emulator: EmulatorServer, tmp_path: Path, message: str
) -> None:
    echo_request_400(emulator, message)
    result = run(emulator, "apply", groups_file(tmp_path), "--yes")
    assert result.exit_code == 1
    assert "[secret]" in result.stderr
    assert leaked(result.output) == []


def test_a_plain_text_error_body_is_scrubbed_before_it_is_cut_short(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    # The body is cut at 500 characters: the cut must not leave the first half of a secret.
    body = "x" * (500 - len(API_KEY) // 2) + API_KEY
    emulator.inject_fault(method="PATCH", path="/batch$", status=400, body=body)
    result = run(emulator, "apply", groups_file(tmp_path), "--yes")
    assert result.exit_code == 1
    assert API_KEY[: len(API_KEY) // 2] not in result.output


def test_a_live_secret_echoed_by_the_api_is_scrubbed(tmp_path: Path) -> None:
    pack = {"name": "aws", "versionTag": "1.0.0", "config": {"db": {"password": LIVE_PASSWORD}}}
    live = [{"name": "prod", "stacks": ["web/prod"], "policyPacks": [pack]}]
    with EmulatorServer(fixture_from_dict(org_spec(live))) as server:
        server.inject_fault(
            method="PATCH",
            path="/batch$",
            status=400,
            body={"code": 400, "message": f"cannot remove pack with password {LIVE_PASSWORD}"},
        )
        path = tmp_path / "groups.yaml"
        path.write_text(
            textwrap.dedent(
                """\
                organization: acme
                policyGroups:
                  - name: prod
                    stacks: [web/prod]
                    policyPacks: []
                """
            ),
            encoding="utf-8",
        )
        result = run(server, "apply", str(path), "--yes")
    assert result.exit_code == 1
    assert "cannot remove pack with password [secret]" in result.stderr
    assert leaked(result.output, (LIVE_PASSWORD,)) == []


def test_github_annotations_and_step_summary_carry_no_secret(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    # The user reused a secret value as a group name: every output still hides it.
    pack = {"name": "aws", "versionTag": "1.0.0", "config": CONFIG}
    groups = [{"name": f"team-{API_KEY}", "policyPacks": [pack]}]
    path = tmp_path / "groups.yaml"
    path.write_text(json.dumps({"organization": "acme", "policyGroups": groups}), "utf-8")
    out = tmp_path / "plan.json"
    result = run(emulator, "plan", str(path), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "+ team-[secret]" in result.output
    saved = out.read_text(encoding="utf-8")
    assert "team-[secret]" in [group["name"] for group in json.loads(saved)["groups"]]
    for text in (result.output, saved, summary.read_text(encoding="utf-8")):
        assert leaked(text) == []


def test_the_mask_is_never_scrubbed_again() -> None:
    secrets = Secrets()
    for value in ("e", "secret", "s"):
        secrets.add(value)
    assert secrets.scrub("see secrets") == "[secret]" * 3 + " " + "[secret]" * 2


def test_a_secret_inside_another_is_masked_as_the_longer_one() -> None:
    secrets = Secrets()
    secrets.add("abc")
    secrets.add("xxabcxx")
    assert secrets.scrub("1 xxabcxx 2 abc") == "1 [secret] 2 [secret]"


def test_numbers_and_nested_values_of_a_secret_are_scrubbed() -> None:
    secrets = Secrets()
    secrets.add_config({"id": "k-1234", "pins": [98765, True]})
    assert secrets.scrub("k-1234 98765 True") == "[secret] [secret] True"


def test_whitespace_is_never_a_secret() -> None:
    secrets = Secrets()
    secrets.add("  ")
    assert secrets.scrub("a  b") == "a  b"


def test_a_run_forgets_its_secrets_at_its_end(tmp_path: Path) -> None:
    with secret_run() as secrets:
        secrets.add(PASSWORD)
        assert secrets.scrub(PASSWORD) == "[secret]"
    assert not secrets
