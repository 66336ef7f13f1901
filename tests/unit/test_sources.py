"""Where request files come from: git blobs in one batch, a repository without commits."""

from __future__ import annotations

from pathlib import Path

from opdhost.fleet.sources import blob_id, read_blobs, tree_blobs

from .conftest import PATH, VALID, git, git_repo, make_repo, opdhost


def test_blob_ids_match_git_and_blobs_come_from_one_batch(tmp_path: Path) -> None:
    root = git_repo(tmp_path, {PATH: VALID, "requests/README.md": "not a request"})
    blobs = tree_blobs(root, "HEAD")
    assert list(blobs) == [PATH]  # README is not a request
    assert blobs[PATH] == blob_id(VALID.encode())
    assert blobs[PATH] == git(root, "hash-object", PATH).strip()
    assert read_blobs(root, blobs.values()) == {blobs[PATH]: VALID.encode()}


def test_validate_in_a_repository_without_commits(tmp_path: Path) -> None:
    make_repo(tmp_path, {PATH: VALID})
    git(tmp_path, "init", "-q", "-b", "main")
    result = opdhost("validate", "--root", str(tmp_path))
    assert result.exit_code == 0, result.output
    plan = opdhost("plan", "--root", str(tmp_path))
    assert plan.exit_code == 1
    assert plan.stderr.startswith("error: no branch 'main' or 'origin/main' to compare with")
