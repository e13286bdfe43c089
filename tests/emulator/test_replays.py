"""The request sequences real Pulumi clients send, replayed step by step against the emulator.

Each file in tests/data/replays/ (provider-*.json, cli-*.json) is one client flow, taken from the
public source it cites: `steps` of {method, path, body?, expect: {status, json?, absent?}}, run in
order on a fresh emulator loaded with tests/data/replays/org.json. `expect.json` is a subset
check: objects may hold more keys than expected, lists must hold exactly the expected items in
any order (each item itself a subset check). `expect.absent` lists top-level keys that must be
missing from the response.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pgsync.emulator import EmulatorServer, fixture_from_dict

REPLAYS = Path(__file__).parents[1] / "data" / "replays"
REPLAY_FILES = sorted(
    p.name for pattern in ("provider-*.json", "cli-*.json") for p in REPLAYS.glob(pattern)
)
TOKEN = "replay-token"
# The headers both the provider and the CLI send (pulumiapi/client.go, httpstate/client).
HEADERS = {
    "Authorization": f"token {TOKEN}",
    "Accept": "application/vnd.pulumi+8",
    "Content-Type": "application/json",
}


def mismatch(expected: Any, actual: Any, where: str = "$") -> str | None:
    """Where and how `actual` fails the subset check against `expected`; None when it passes."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected an object, got {json.dumps(actual)}"
        for key, value in expected.items():
            if key not in actual:
                return f"{where}: missing key {key!r}"
            problem = mismatch(value, actual[key], f"{where}.{key}")
            if problem is not None:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{where}: expected a list, got {json.dumps(actual)}"
        if len(expected) != len(actual):
            return (
                f"{where}: expected {len(expected)} items, got {len(actual)}: {json.dumps(actual)}"
            )
        if not _pairs_up(expected, actual):
            return f"{where}: items do not match {json.dumps(expected)}, got {json.dumps(actual)}"
        return None
    # bool is an int in Python: True must not pass for 1, nor 1 for True.
    if type(expected) is not type(actual) or expected != actual:
        return f"{where}: expected {json.dumps(expected)}, got {json.dumps(actual)}"
    return None


def _pairs_up(expected: list[Any], actual: list[Any]) -> bool:
    """Whether every expected item matches a distinct actual item (lists are small)."""
    if not expected:
        return True
    first, rest = expected[0], expected[1:]
    for index, candidate in enumerate(actual):
        if mismatch(first, candidate) is None and _pairs_up(
            rest, actual[:index] + actual[index + 1 :]
        ):
            return True
    return False


def step_failure(http: httpx.Client, step: dict[str, Any]) -> str | None:
    """Send one step; why its answer is not the expected one, or None."""
    content = json.dumps(step["body"]) if "body" in step else None
    response = http.request(step["method"], step["path"], content=content)
    expect = step["expect"]
    if response.status_code != expect["status"]:
        return f"status {response.status_code}, expected {expect['status']}: {response.text}"
    if "json" not in expect and "absent" not in expect:
        return None
    try:
        body = response.json()
    except ValueError:
        return f"answer is not JSON: {response.text!r}"
    if "json" in expect:
        problem = mismatch(expect["json"], body)
        if problem is not None:
            return problem
    present = [key for key in expect.get("absent", []) if key in body]
    if present:
        return f"keys {present} should be absent: {json.dumps(body)}"
    return None


def load_replay(name: str) -> dict[str, Any]:
    replay: dict[str, Any] = json.loads((REPLAYS / name).read_text(encoding="utf-8"))
    return replay


@pytest.fixture
def replay_client() -> Iterator[httpx.Client]:
    """A plain client on a fresh emulator serving the replay organization."""
    spec = json.loads((REPLAYS / "org.json").read_text(encoding="utf-8"))
    server = EmulatorServer(fixture_from_dict({**spec, "token": TOKEN}))
    with server, httpx.Client(base_url=server.url, headers=HEADERS, timeout=5) as http:
        yield http


@pytest.mark.parametrize("name", REPLAY_FILES)
def test_emulator_answers_the_replayed_client_flow(name: str, replay_client: httpx.Client) -> None:
    replay = load_replay(name)
    for number, step in enumerate(replay["steps"], start=1):
        problem = step_failure(replay_client, step)
        if problem is not None:
            pytest.fail(
                f"{name} step {number}/{len(replay['steps'])} {step['method']} {step['path']}"
                f" ({step.get('note', '')}): {problem}"
            )


@pytest.mark.parametrize("name", REPLAY_FILES)
def test_every_replay_cites_its_source_and_expects_a_status(name: str) -> None:
    replay = load_replay(name)
    assert replay["source"].strip() and replay["description"].strip()
    assert replay["steps"]
    for step in replay["steps"]:
        assert step["method"] in ("GET", "POST", "PATCH", "DELETE")
        assert step["path"].startswith("/api/")
        assert isinstance(step["expect"]["status"], int)


def test_the_replay_files_cover_provider_and_cli() -> None:
    assert any(name.startswith("provider-") for name in REPLAY_FILES)
    assert any(name.startswith("cli-") for name in REPLAY_FILES)


def test_subset_check_allows_extra_keys_and_any_list_order() -> None:
    expected = {"stacks": [{"name": "a"}, {"name": "b"}]}
    actual = {"stacks": [{"name": "b", "routingProject": "p"}, {"name": "a"}], "mode": "audit"}
    assert mismatch(expected, actual) is None


def test_subset_check_rejects_a_list_with_an_extra_item() -> None:
    assert mismatch(["x"], ["x", "y"]) == '$: expected 1 items, got 2: ["x", "y"]'


def test_subset_check_rejects_one_actual_item_standing_for_two_expected() -> None:
    assert mismatch([{"name": "a"}, {"name": "a"}], [{"name": "a"}, {"name": "b"}]) is not None


def test_subset_check_tells_true_from_one() -> None:
    assert mismatch({"n": 1}, {"n": True}) == "$.n: expected 1, got true"
