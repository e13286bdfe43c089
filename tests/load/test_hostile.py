"""Malformed and hostile desired-state files: exit 1, file:line:col, no traceback, no write."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgsync.cli.main import cli
from pgsync.core.errors import ValidationFailed
from pgsync.emulator import EmulatorServer
from pgsync.load.desired import load_desired

CORPUS = Path(__file__).parents[1] / "data" / "hostile"
FIRST_PROBLEMS: dict[str, str] = json.loads(
    (CORPUS.parent / "hostile-first-problems.json").read_text(encoding="utf-8")
)
"""For each corpus file, the start of the first line that `plan` prints about it."""
LIVE_PREFIX = "live-"
"""Files whose problems only the organization can show (unknown packs, stacks, accounts)."""


def assert_refused(emulator: EmulatorServer, path: str, *, offline: bool) -> str:
    """Exit 1, a `path:line:col: error:` line, no traceback, no write; the first line."""
    result = CliRunner().invoke(cli, ["plan", path, "--api-url", emulator.url])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    where = re.compile(rf"^{re.escape(path)}:\d+:\d+: error: ", re.MULTILINE)
    assert where.search(result.stderr), result.output
    assert emulator.writes() == []
    if offline:
        assert emulator.requests == []
    return result.stderr.splitlines()[0]


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.iterdir()))
def test_corpus_file_is_refused_at_its_first_problem(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # Relative paths, so that messages that name a file name it as a user would.
    monkeypatch.chdir(CORPUS)
    first = assert_refused(emulator, name, offline=not name.startswith(LIVE_PREFIX))
    assert first.startswith(f"{name}:{FIRST_PROBLEMS[name]}")


def test_corpus_is_large_and_every_file_has_its_first_problem_recorded() -> None:
    names = sorted(p.name for p in CORPUS.iterdir())
    assert names == sorted(FIRST_PROBLEMS)
    assert len(names) >= 45
    assert len([n for n in names if n.startswith(LIVE_PREFIX)]) >= 4


def _huge_comment() -> str:
    # 20 MB, mostly a comment block; the problem is at its very end.
    comment = "".join(f"# {i:076d}\n" for i in range(250_000))
    return comment + "organization: acme\npolicyGroups: 3\n"


def _huge_scalar() -> str:
    pool = "p" * 20_000_000
    return f"organization: acme\npolicyGroups:\n  - name: x\n    agentPoolId: {pool}\n    mode: m\n"


def _megabyte_line() -> str:
    return "organization: acme\npolicyGroups: [{name: " + "x" * 1_000_000 + "}]\n"


def _deep_flow() -> str:
    return "organization: acme\npolicyGroups: " + "[" * 10_000 + "]" * 10_000 + "\n"


def _deep_block() -> str:
    return "organization: acme\npolicyGroups:\n" + "".join(
        " " * depth + "- \n" for depth in range(1, 10_000, 3)
    )


def _deep_config() -> str:
    # Deeper than pgsync allows but not libyaml, in config where the schema allows anything.
    nested = "{a: " * 900 + "1" + "}" * 900
    return (
        "organization: acme\npolicyGroups:\n  - name: p\n    policyPacks:\n"
        f"      - name: aws\n        versionTag: '1'\n        config:\n          p: {nested}\n"
    )


def _billion_laughs() -> str:
    lines = ["organization: acme", "policyGroups:", "  - name: p", "    policyPacks:"]
    lines += ["      - name: aws", "        versionTag: '1'", "        config:", "          p:"]
    lines.append('            l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]')
    lines += [f"            l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def _many_stacks_one_bad() -> str:
    stacks = "".join(f"      - svc/s{i:06d}\n" for i in range(100_000))
    return (
        "organization: acme\npolicyGroups:\n  - name: big\n    stacks:\n" + stacks + "      - x\n"
    )


def _five_thousand_problems() -> str:
    return "organization: acme\npolicyGroups:\n" + "".join(
        f"  - name: g{i}\n    mode: m\n" for i in range(5_000)
    )


GENERATED: dict[str, tuple[Callable[[], str], str]] = {
    "huge-comment-20mb.yaml": (_huge_comment, "250002:15: error: expected a list"),
    "huge-scalar-20mb.yaml": (_huge_scalar, "5:11: error: expected one of preventative, audit"),
    "single-line-1mb.yaml": (_megabyte_line, "2:23: error: expected a group name"),
    "deep-flow-10000.yaml": (_deep_flow, "2:114: error: nested deeper than 100 levels"),
    "deep-block-3333.yaml": (_deep_block, "102:299: error: nested deeper than 100 levels"),
    "deep-config-900.yaml": (_deep_config, "8:390: error: nested deeper than 100 levels"),
    "billion-laughs.yaml": (_billion_laughs, "15:17: error: aliases expand this to more than"),
    "many-stacks-one-bad.yaml": (_many_stacks_one_bad, "100005:9: error: expected a stack"),
    "five-thousand-problems.yaml": (_five_thousand_problems, "4:11: error: expected one of"),
}
"""Files too big to commit, written at test time, and the start of their first problem."""


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_file_is_refused_at_its_first_problem(
    emulator: EmulatorServer, tmp_path: Path, name: str
) -> None:
    make, first_problem = GENERATED[name]
    path = tmp_path / name
    path.write_text(make(), encoding="utf-8")
    assert assert_refused(emulator, str(path), offline=True).startswith(f"{path}:{first_problem}")


# --- fuzz: structured documents with wrong values in random places ----------------------------

SECRET = "S3CR3T-fuzz"
VALID: dict[str, Any] = {
    "organization": "acme",
    "prune": False,
    "safety": {"secretKeys": ["password"]},
    "policyGroups": [
        {
            "name": "prod",
            "previously": ["old"],
            "mode": "audit",
            "agentPoolId": "pool",
            "state": "present",
            "stacks": ["web/prod", {"routingProject": "web", "name": "dev"}],
            "policyPacks": [
                {
                    "name": "aws",
                    "versionTag": "1.0.0",
                    "enforcementLevel": "mandatory",
                    "config": {
                        "all": "mandatory",
                        "p": {"enforcementLevel": "advisory", "token": {"fn::secret": SECRET}},
                        "q": {"list": [1, {"a": None}]},
                    },
                    "environments": ["env/a"],
                }
            ],
        },
        {"name": "cloud", "entityType": "accounts", "accounts": ["aws-prod"]},
    ],
}

# Printable text: control characters are refused before any structure is looked at.
text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=5)
junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
    | st.sampled_from(["fn::secret", "metadata", ".", "all", "mandatory", "a/b"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(text | st.sampled_from(["fn::secret", "name", "password"]), inner)
    ),
    max_leaves=6,
)


def _places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path in `value`, the root's included (it is left out below)."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _places(item, (*path, index))
    return found


PLACES = _places(VALID)[1:]


def _value_at(document: Any, path: tuple[Any, ...]) -> Any:
    """The value at `path`, or None where an earlier change took the way there away."""
    for step in path:
        if isinstance(document, dict) and isinstance(step, str):
            document = document.get(step)
        elif isinstance(document, list) and isinstance(step, int) and step < len(document):
            document = document[step]
        else:
            return None
    return document


@st.composite
def broken_documents(draw: st.DrawFn) -> Any:
    """A copy of VALID with values replaced, or keys added, at random places."""
    document = json.loads(json.dumps(VALID))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PLACES))
        parent, last = _value_at(document, path[:-1]), path[-1]
        if isinstance(parent, dict):
            key = last if isinstance(last, str) and draw(st.booleans()) else draw(text)
            parent[key] = draw(junk)
        elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
            parent[last] = draw(junk)
    return document


def test_the_fuzzed_document_is_valid_before_it_is_broken(tmp_path: Path) -> None:
    path = tmp_path / "valid.yaml"
    path.write_text(json.dumps(VALID), encoding="utf-8")
    assert [g.name for g in load_desired([path]).groups] == ["prod", "cloud"]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(broken_documents())
def test_structured_but_wrong_documents_only_fail_validation(tmp_path: Path, doc: Any) -> None:
    path = tmp_path / "fuzz.yaml"
    # Not escaped: libyaml refuses the surrogate pairs that JSON escapes astral characters as.
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    try:
        load_desired([path])
    except ValidationFailed as failed:
        assert failed.problems
        assert all(problem.location.file == str(path) for problem in failed.problems)
        assert SECRET not in str(failed)
