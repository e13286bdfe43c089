"""The desired-state files as they were at a git ref, read from a real repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pgsync.core.errors import PgsyncError
from pgsync.load.gitrefs import files_at


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str = "commit") -> str:
    """Write `files` (path: text) into the work tree, commit everything, return the commit id."""
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty git repository that is the working directory."""
    checkout = tmp_path / "repo"
    checkout.mkdir()
    git(checkout, "init", "-q")
    monkeypatch.chdir(checkout)
    return checkout


@pytest.fixture
def into(tmp_path: Path) -> Path:
    target = tmp_path / "base"
    target.mkdir()
    return target


def written(into: Path, paths: list[str]) -> dict[str, str]:
    """The files written, by their path below `into`, with their text."""
    return {
        Path(path).relative_to(into).as_posix(): Path(path).read_text(encoding="utf-8")
        for path in paths
    }


def test_a_file_is_written_as_it_was_at_the_ref_not_as_it_is_now(repo: Path, into: Path) -> None:
    commit(repo, {"groups.yaml": "then\n"})
    (repo / "groups.yaml").write_text("now\n", encoding="utf-8")
    assert written(into, files_at("HEAD", ["groups.yaml"], into)) == {"groups.yaml": "then\n"}


def test_a_file_is_written_at_its_path_in_the_repository(repo: Path, into: Path) -> None:
    commit(repo, {"deep/er/groups.yaml": "x\n"})
    paths = files_at("HEAD", ["deep/er/groups.yaml"], into)
    assert paths == [str(into / "deep" / "er" / "groups.yaml")]


def test_an_older_commit_gives_the_files_as_they_were_then(repo: Path, into: Path) -> None:
    first = commit(repo, {"groups.yaml": "one\n"})
    commit(repo, {"groups.yaml": "two\n"})
    assert written(into, files_at(first, ["groups.yaml"], into)) == {"groups.yaml": "one\n"}


def test_a_branch_and_a_tag_name_commits(repo: Path, into: Path) -> None:
    commit(repo, {"groups.yaml": "tagged\n"})
    git(repo, "tag", "v1")
    git(repo, "branch", "base")
    commit(repo, {"groups.yaml": "later\n"})
    for ref in ("v1", "base"):
        assert written(into, files_at(ref, ["groups.yaml"], into)) == {"groups.yaml": "tagged\n"}


def test_a_directory_stands_for_its_yaml_files_and_those_below(repo: Path, into: Path) -> None:
    commit(
        repo,
        {
            "pg/a.yaml": "a\n",
            "pg/team/b.yml": "b\n",
            "pg/README.md": "no\n",
            "pg/.hidden.yaml": "no\n",
            "pg/.drafts/c.yaml": "no\n",
            "other/d.yaml": "no\n",
        },
    )
    assert written(into, files_at("HEAD", ["pg"], into)) == {
        "pg/a.yaml": "a\n",
        "pg/team/b.yml": "b\n",
    }


def test_a_directory_given_with_a_trailing_slash_is_read_the_same(repo: Path, into: Path) -> None:
    commit(repo, {"pg/a.yaml": "a\n"})
    assert written(into, files_at("HEAD", ["pg/"], into)) == {"pg/a.yaml": "a\n"}


def test_a_directory_does_not_take_in_a_sibling_whose_name_it_begins(
    repo: Path, into: Path
) -> None:
    commit(repo, {"pg/a.yaml": "a\n", "pg-old/b.yaml": "b\n"})
    assert list(written(into, files_at("HEAD", ["pg"], into))) == ["pg/a.yaml"]


def test_a_file_named_directly_is_read_whatever_its_name(repo: Path, into: Path) -> None:
    commit(repo, {"groups.json": "{}\n"})
    assert written(into, files_at("HEAD", ["groups.json"], into)) == {"groups.json": "{}\n"}


def test_a_path_that_did_not_exist_at_the_ref_contributes_nothing(repo: Path, into: Path) -> None:
    first = commit(repo, {"README": "x\n"})
    commit(repo, {"pg/new.yaml": "x\n"})
    assert files_at(first, ["pg", "pg/new.yaml"], into) == []


def test_several_paths_give_the_files_of_each(repo: Path, into: Path) -> None:
    commit(repo, {"a.yaml": "a\n", "pg/b.yaml": "b\n"})
    assert written(into, files_at("HEAD", ["a.yaml", "pg"], into)) == {
        "a.yaml": "a\n",
        "pg/b.yaml": "b\n",
    }


def test_paths_are_taken_from_the_working_directory_inside_the_repository(
    repo: Path, into: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit(repo, {"pg/team/a.yaml": "a\n"})
    monkeypatch.chdir(repo / "pg")
    assert written(into, files_at("HEAD", ["team"], into)) == {"pg/team/a.yaml": "a\n"}


def test_the_work_tree_of_a_sub_directory_is_not_needed(repo: Path, into: Path) -> None:
    commit(repo, {"pg/a.yaml": "a\n"})
    git(repo, "rm", "-rq", "pg")
    assert written(into, files_at("HEAD", ["pg"], into)) == {"pg/a.yaml": "a\n"}


def test_a_file_whose_name_git_would_quote_is_read(repo: Path, into: Path) -> None:
    commit(repo, {"pg/päckchen.yaml": "a\n"})
    assert written(into, files_at("HEAD", ["pg"], into)) == {"pg/päckchen.yaml": "a\n"}


def test_a_file_whose_name_holds_a_line_break_is_read(repo: Path, into: Path) -> None:
    commit(repo, {"pg/two\nlines.yaml": "a\n"})
    assert written(into, files_at("HEAD", ["pg"], into)) == {"pg/two\nlines.yaml": "a\n"}


def test_files_are_given_in_the_order_the_loader_walks_a_directory(repo: Path, into: Path) -> None:
    commit(repo, {"pg/b.yaml": "b\n", "pg/a.yaml": "a\n", "pg/b/c.yaml": "c\n"})
    paths = files_at("HEAD", ["pg"], into)
    assert [Path(path).relative_to(into).as_posix() for path in paths] == [
        "pg/a.yaml",
        "pg/b/c.yaml",
        "pg/b.yaml",
    ]


def test_an_unknown_ref_is_an_error_naming_it(repo: Path, into: Path) -> None:
    commit(repo, {"a.yaml": "a\n"})
    with pytest.raises(PgsyncError) as raised:
        files_at("origin/mian", ["a.yaml"], into)
    assert str(raised.value) == (
        "--base origin/mian: no such commit in this repository (git fetch it, or check the name)"
    )


def test_a_ref_that_looks_like_an_option_is_only_a_ref(repo: Path, into: Path) -> None:
    commit(repo, {"a.yaml": "a\n"})
    with pytest.raises(PgsyncError, match=r"^--base --output=x: no such commit"):
        files_at("--output=x", ["a.yaml"], into)
    assert not (repo / "x").exists()


def test_a_ref_that_names_no_commit_is_an_error(repo: Path, into: Path) -> None:
    commit(repo, {"a.yaml": "a\n"})
    tree = git(repo, "rev-parse", "HEAD^{tree}")
    with pytest.raises(PgsyncError, match=r"no such commit in this repository"):
        files_at(tree, ["a.yaml"], into)


def test_a_repository_without_commits_has_no_ref(repo: Path, into: Path) -> None:
    with pytest.raises(PgsyncError, match=r"^--base HEAD: no such commit"):
        files_at("HEAD", ["a.yaml"], into)


def test_outside_a_repository_is_an_error_naming_the_directory(
    tmp_path: Path, into: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with pytest.raises(PgsyncError) as raised:
        files_at("HEAD", ["a.yaml"], into)
    assert str(raised.value) == (
        f"--base HEAD: {outside} is not in a git repository (run drift in the checkout "
        "that holds the files)"
    )


def test_a_path_outside_the_repository_is_an_error_naming_it(
    repo: Path, into: Path, tmp_path: Path
) -> None:
    commit(repo, {"a.yaml": "a\n"})
    stray = tmp_path / "elsewhere.yaml"
    with pytest.raises(PgsyncError) as raised:
        files_at("HEAD", [str(stray)], into)
    assert str(raised.value) == (
        f"--base: {stray} is not in the git repository at {repo}, so it has no version at a commit"
    )
