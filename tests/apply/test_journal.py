"""The apply journal: one flushed JSON line per event, secrets scrubbed, read back after a crash."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgsync.apply.journal import (
    Journal,
    check_not_stdout,
    last_run_report,
    own_temporaries,
    read_events,
    resume_report,
    temporaries_left,
)
from pgsync.core.errors import PgsyncError
from pgsync.core.masking import secret_run

PASSWORD = "hunter2-Zq9"
TEMP = "prod.pgsync-replacing"


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    opened = Journal(tmp_path / "journal.jsonl")
    yield opened
    opened.close()


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def event(run: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {"time": 0.0, "run": run, "event": kind, **fields}


def start(run: str, organization: str = "acme", groups: list[str] | None = None) -> dict[str, Any]:
    return event(run, "start", organization=organization, groups=groups or [])


def replace_of(run: str, group: str, organization: str = "acme") -> list[dict[str, Any]]:
    """The start of a run and the intended create of `group`'s temporary replacement."""
    return [
        start(run, organization, [group]),
        event(run, "intended", group=group, action="replace", method="POST", path="/x"),
    ]


# --- Journal.record ------------------------------------------------------------------------


def test_each_event_is_on_disk_before_the_journal_is_closed(journal: Journal) -> None:
    journal.record("start", organization="acme", groups=["a"])
    assert [e["event"] for e in lines(journal.path)] == ["start"]


def test_an_event_line_holds_its_time_run_name_and_fields(journal: Journal) -> None:
    journal.record("sent", group="a", method="PATCH", status=204)
    (line,) = lines(journal.path)
    assert set(line) == {"time", "run", "event", "group", "method", "status"}
    assert (line["run"], line["event"], line["group"], line["status"]) == (
        journal.run,
        "sent",
        "a",
        204,
    )
    assert isinstance(line["time"], float)


def test_event_lines_are_json_with_sorted_keys(journal: Journal) -> None:
    journal.record("sent", method="PATCH", group="a")
    (text,) = journal.path.read_text(encoding="utf-8").splitlines()
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_every_event_of_one_journal_carries_its_run(journal: Journal) -> None:
    journal.record("start")
    journal.record("end", ok=True)
    assert {e["run"] for e in lines(journal.path)} == {journal.run}


def test_two_journals_on_one_file_are_two_runs(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    for _ in range(2):
        opened = Journal(path)
        opened.record("start")
        opened.close()
    first, second = lines(path)
    assert first["run"] != second["run"]


def test_a_journal_appends_to_the_events_already_there(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps(start("old")) + "\n", encoding="utf-8")
    opened = Journal(path)
    opened.record("start")
    opened.close()
    assert [e["run"] for e in read_events(path)] == ["old", opened.run]


def test_a_secret_in_a_free_text_field_is_scrubbed(journal: Journal) -> None:
    with secret_run() as secrets:
        secrets.add(PASSWORD)
        journal.record("failed", group="a", error=f"400: password {PASSWORD} is too short")
    assert lines(journal.path)[0]["error"] == "400: password [secret] is too short"


def test_a_secret_echoed_json_escaped_is_scrubbed(journal: Journal) -> None:
    secret = 'quo"te'
    with secret_run() as secrets:
        secrets.add(secret)
        journal.record("failed", error=json.dumps({"value": secret}))
    assert secret not in journal.path.read_text(encoding="utf-8")
    assert lines(journal.path)[0]["error"] == '{"value": "[secret]"}'


def test_the_fields_that_name_what_was_done_are_kept_as_written(journal: Journal) -> None:
    # A later run reads them back (own_temporaries): masking them would lose the record.
    with secret_run() as secrets:
        secrets.add("prod")
        journal.record(
            "sent", group="prod", action="create", method="POST", path="/x/prod", reason="prod"
        )
    (line,) = lines(journal.path)
    assert (line["group"], line["path"], line["reason"]) == ("prod", "/x/prod", "[secret]")


def test_values_that_are_not_text_are_recorded_as_they_are(journal: Journal) -> None:
    with secret_run() as secrets:
        secrets.add("7")
        journal.record("end", ok=False, writes=7, groups=["7"])
    (line,) = lines(journal.path)
    assert (line["ok"], line["writes"], line["groups"]) == (False, 7, ["7"])


def test_outside_a_run_nothing_is_scrubbed(journal: Journal) -> None:
    journal.record("failed", error=PASSWORD)
    assert lines(journal.path)[0]["error"] == PASSWORD


def test_the_journal_cannot_be_stdout(tmp_path: Path) -> None:
    with pytest.raises(PgsyncError, match=r"the journal must be a file, not stdout \('-'\)"):
        Journal("-")


def test_check_not_stdout_accepts_a_file_name() -> None:
    check_not_stdout("journal.jsonl")


def test_a_journal_in_a_missing_directory_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "journal.jsonl"
    with pytest.raises(PgsyncError) as raised:
        Journal(path)
    assert str(raised.value) == f"cannot open journal {path}: No such file or directory"


def test_a_directory_is_no_journal(tmp_path: Path) -> None:
    with pytest.raises(PgsyncError, match=r"^cannot open journal .*: not a regular file"):
        Journal(tmp_path)


# --- read_events ---------------------------------------------------------------------------


def test_read_events_skips_a_line_cut_short_by_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    whole = json.dumps(start("r1"))
    path.write_text(whole + "\n" + whole[:-5], encoding="utf-8")
    assert read_events(path) == [start("r1")]


def test_read_events_skips_lines_that_are_no_event(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    junk = ["", "[1, 2]", '"text"', '{"event": "start"}', '{"run": 5, "event": "start"}']
    path.write_text("\n".join([*junk, json.dumps(start("r1"))]) + "\n", encoding="utf-8")
    assert read_events(path) == [start("r1")]


def test_read_events_of_a_missing_journal_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PgsyncError, match=r"^cannot read journal .*none\.jsonl: "):
        read_events(tmp_path / "none.jsonl")


def test_read_events_of_a_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b"\xff\xfe{}\n")
    with pytest.raises(PgsyncError, match=r"^cannot read journal "):
        read_events(path)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
FIELDS = st.dictionaries(
    st.text(min_size=1).filter(lambda key: key not in ("time", "run", "event")),
    JSON_VALUES,
    max_size=4,
)


@given(recorded=st.lists(st.tuples(st.text(min_size=1), FIELDS), min_size=1, max_size=5))
def test_every_recorded_event_reads_back_as_recorded(
    tmp_path_factory: pytest.TempPathFactory, recorded: list[tuple[str, dict[str, Any]]]
) -> None:
    path = tmp_path_factory.mktemp("journal") / "journal.jsonl"
    opened = Journal(path)
    for kind, fields in recorded:
        opened.record(kind, **fields)
    opened.close()
    back = read_events(path)
    assert [(e.pop("time") is not None, e) for e in back] == [
        (True, {"run": opened.run, "event": kind, **fields}) for kind, fields in recorded
    ]


@given(count=st.integers(1, 6), cut=st.floats(0, 1))
def test_a_journal_cut_anywhere_reads_back_its_whole_lines(
    tmp_path_factory: pytest.TempPathFactory, count: int, cut: float
) -> None:
    path = tmp_path_factory.mktemp("journal") / "journal.jsonl"
    opened = Journal(path)
    for index in range(count):
        opened.record("sent", group=f"g{index}", method="PATCH")
    opened.close()
    recorded = read_events(path)
    data = path.read_bytes()
    kept = data[: round(len(data) * cut)]
    path.write_bytes(kept)
    back = read_events(path)
    assert back == recorded[: len(back)]
    assert len(back) >= kept.count(b"\n")


# --- last_run_report and resume_report -------------------------------------------------------


def test_an_empty_journal_holds_no_run() -> None:
    assert last_run_report([]) == "the journal holds no apply run"


def test_a_finished_run_is_reported_group_by_group_with_its_requests() -> None:
    events = [
        start("r1", groups=["a", "b"]),
        event("r1", "intended", group="a"),
        event("r1", "sent", group="a"),
        event("r1", "sent", group="a"),
        event("r1", "confirmed", group="a"),
        event("r1", "skipped", group="b", reason="nothing to do"),
        event("r1", "end", ok=True),
    ]
    assert last_run_report(events) == (
        "last apply run r1 for organization 'acme' finished; 2 write requests sent:\n"
        "  a: done and verified (2 requests sent)\n"
        "  b: skipped: nothing to do"
    )


def test_a_run_that_ended_with_a_failure_says_so_and_names_the_error() -> None:
    events = [
        start("r1", groups=["a"]),
        event("r1", "sent", group="a"),
        event("r1", "failed", group="a", error="400: bad request"),
        event("r1", "end", ok=False),
    ]
    assert last_run_report(events) == (
        "last apply run r1 for organization 'acme' stopped at a failure; 1 write request sent:\n"
        "  a: failed: 400: bad request (1 request sent)"
    )


def test_a_run_without_an_end_did_not_finish_and_lists_what_it_never_started() -> None:
    events = [start("r1", groups=["a", "b"]), event("r1", "sent", group="a")]
    assert last_run_report(events) == (
        "last apply run r1 for organization 'acme' did not finish; 1 write request sent:\n"
        "  a: started, not confirmed (1 request sent)\n"
        "  b: not started"
    )


def test_only_the_last_run_of_the_journal_is_reported() -> None:
    events = [
        start("r1", groups=["old"]),
        event("r1", "end", ok=True),
        start("r2", organization="globex", groups=["new"]),
    ]
    assert last_run_report(events) == (
        "last apply run r2 for organization 'globex' did not finish; 0 write requests sent:\n"
        "  new: not started"
    )


def test_without_its_start_the_report_lists_the_groups_it_saw_by_name() -> None:
    events = [event("r1", "confirmed", group="b"), event("r1", "intended", group="a")]
    assert last_run_report(events) == (
        "last apply run r1 for organization '?' did not finish; 0 write requests sent:\n"
        "  a: started, not confirmed\n"
        "  b: done and verified"
    )


def test_a_group_name_holding_a_line_break_stays_on_its_own_line() -> None:
    events = [start("r1", groups=["a\nb: done and verified"]), event("r1", "end", ok=True)]
    report = last_run_report(events)
    assert report.splitlines()[1:] == ["  a\\x0ab: done and verified: not started"]


def test_resume_report_of_a_missing_journal_says_there_is_nothing_to_resume(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "none.jsonl"
    assert resume_report(missing) == (
        f"no journal at {missing}: no apply run wrote anything with it (a run creates its"
        " journal before its first write), so there is nothing to resume"
    )


def test_resume_report_reports_the_last_run_of_the_journal(journal: Journal) -> None:
    journal.record("start", organization="acme", groups=["a"])
    journal.record("confirmed", group="a")
    journal.record("end", ok=True)
    assert resume_report(journal.path) == (
        f"last apply run {journal.run} for organization 'acme' finished; 0 write requests sent:\n"
        "  a: done and verified"
    )


# --- temporaries_left and own_temporaries ----------------------------------------------------


def test_an_intended_replace_leaves_its_temporary_group() -> None:
    assert temporaries_left(replace_of("r1", "prod"), "acme") == {TEMP}


def test_a_rename_of_the_temporary_group_removes_it() -> None:
    renamed = event(
        "r1", "sent", group="prod", method="PATCH", path=f"/api/orgs/acme/policygroups/{TEMP}"
    )
    assert temporaries_left([*replace_of("r1", "prod"), renamed], "acme") == frozenset()


def test_a_delete_of_the_temporary_group_removes_it() -> None:
    path = f"/api/orgs/acme/policygroups/{TEMP}"
    deleted = event("r2", "sent", group=TEMP, method="DELETE", path=path)
    events = [*replace_of("r1", "prod"), start("r2"), deleted]
    assert temporaries_left(events, "acme") == frozenset()


def test_a_write_to_the_old_group_leaves_the_temporary_group() -> None:
    deleted = event(
        "r1", "sent", group="prod", method="DELETE", path="/api/orgs/acme/policygroups/prod"
    )
    assert temporaries_left([*replace_of("r1", "prod"), deleted], "acme") == {TEMP}


def test_a_create_that_is_no_replace_leaves_no_temporary_group() -> None:
    events = [start("r1"), event("r1", "intended", group="new", action="create", method="POST")]
    assert temporaries_left(events, "acme") == frozenset()


def test_the_replaces_of_another_organization_do_not_count() -> None:
    assert temporaries_left(replace_of("r1", "prod", "globex"), "acme") == frozenset()


def test_a_run_without_a_start_is_not_known_to_be_of_the_organization() -> None:
    intended = replace_of("r1", "prod")[1]
    assert temporaries_left([intended], "acme") == frozenset()


def test_own_temporaries_reads_them_from_the_journal_file(journal: Journal) -> None:
    journal.record("start", organization="acme", groups=["prod"])
    journal.record("intended", group="prod", action="replace", method="POST", path="/x")
    assert own_temporaries(journal.path, "acme") == {TEMP}
