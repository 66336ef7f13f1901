"""`opdhost ci`: the plan comment, the drift issue and the merge context, against fake forges.

Each test runs the command as CI would (the forge's CI variables, in-process through click's
runner) against a fake GitLab, GitHub or Gitea on 127.0.0.1 (tests/forge), then looks at what
the forge holds afterwards: the comments and issues a reviewer or an operator would see.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from forge.fakes import FAKES, TOKEN, Fake, Merged, serving
from opdhost.cli.main import cli

from .conftest import REPO, git, git_repo

MR = 7
SHA = "c" * 40
MARKER = "<!-- opdhost-plan -->"


@pytest.fixture(autouse=True)
def _no_ci_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests set the forge variables themselves; none leaks in from the machine."""
    for name in list(os.environ):
        if name.startswith(("CI_", "GITHUB_", "GITLAB_", "GITEA_", "FORGEJO_", "OPDHOST_")):
            monkeypatch.delenv(name)


@pytest.fixture(params=sorted(FAKES))
def fake(request: pytest.FixtureRequest) -> Iterator[Fake]:
    """A running fake forge of each kind, with merge request !7 open and one human comment."""
    with serving(FAKES[request.param]()) as running:
        running.state.comments[MR] = [{"id": 1, "body": "Looks fine to me", "system": False}]
        yield running


def ci(env: dict[str, str], *args: str) -> Result:
    """`opdhost ci ...` with `env`; a traceback fails the test."""
    result = CliRunner().invoke(cli, ["ci", *args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"opdhost raised {result.exception!r}\n{result.output}")
    return result


def mr_env(fake: Fake, tmp_path: Path) -> dict[str, str]:
    """The variables of a merge request pipeline for !7 targeting main."""
    if fake.kind == "gitlab":
        return fake.env(CI_MERGE_REQUEST_IID=str(MR), CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main")
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"number": MR, "pull_request": {"number": MR, "base": {"ref": "main"}}})
    )
    return fake.env(
        GITHUB_EVENT_PATH=str(event), GITHUB_BASE_REF="main", GITHUB_EVENT_NAME="pull_request"
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The example requests committed, with origin/main at that commit (as in a CI clone)."""
    files = {
        str(p.relative_to(REPO)): p.read_text() for p in sorted((REPO / "requests").rglob("*.yaml"))
    }
    root = git_repo(tmp_path / "repo", files)
    git(root, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(root, "branch", "-m", "main", "feature")  # CI checks out the branch, not main
    return root


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))


def plan_comments(fake: Fake) -> list[str]:
    return [c["body"] for c in fake.state.comments[MR] if c["body"].startswith(MARKER)]


# --- plan-comment -------------------------------------------------------------------------


def test_first_push_creates_the_comment_second_updates_it(
    fake: Fake, repo: Path, tmp_path: Path
) -> None:
    env = mr_env(fake, tmp_path)
    _edit(repo, "requests/disdik/ppdb.yaml", "bandwidth_mbit: 50", "bandwidth_mbit: 100")
    first = ci(env, "plan-comment", "--root", str(repo))
    assert first.exit_code == 0, first.output
    assert "plan comment created" in first.stderr
    [body] = plan_comments(fake)
    assert "1 update" in body and "web.bandwidth_mbit: 100" in body
    assert "merge base with origin/main" in body
    assert body.index("**1 update**") < body.index("<details>")  # summary first, details folded

    _edit(repo, "requests/disdik/ppdb.yaml", "bandwidth_mbit: 100", "bandwidth_mbit: 80")
    second = ci(env, "plan-comment", "--root", str(repo))
    assert second.exit_code == 0, second.output
    assert "plan comment updated" in second.stderr
    [body] = plan_comments(fake)  # still one comment, now with the new plan
    assert "web.bandwidth_mbit: 80" in body and "web.bandwidth_mbit: 100" not in body
    assert len(fake.state.comments[MR]) == 2  # the human's comment and ours
    methods = [s.method for s in fake.state.writes()]
    assert methods == ["POST", "PUT" if fake.kind == "gitlab" else "PATCH"]

    third = ci(env, "plan-comment", "--root", str(repo))
    assert "plan comment unchanged" in third.stderr
    assert len(fake.state.writes()) == 2


def test_a_long_plan_is_cut_with_a_link_to_the_artifact(
    fake: Fake, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opdhost.forge import gitea, github, gitlab  # noqa: PLC0415

    for forge in (gitlab.GitLabForge, github.GitHubForge, gitea.GiteaForge):
        monkeypatch.setattr(forge, "comment_limit", 1500)
    for rel in sorted((repo / "requests").rglob("*.yaml")):
        rel.write_text(rel.read_text().replace("bandwidth_mbit: ", "bandwidth_mbit: 1"))
    url = "https://ci.example/jobs/12/artifacts/plan.md"
    result = ci(mr_env(fake, tmp_path), "plan-comment", "--root", str(repo), "--artifact-url", url)
    assert result.exit_code in (0, 1), result.output
    [body] = plan_comments(fake)
    assert len(body) <= 1500
    assert f"[the full plan]({url})" in body
    assert "### opdhost plan" in body and "against" in body
    assert body.count("<details>") == body.count("</details>")
    assert body.count("```") % 2 == 0
    assert len(result.stdout) > 1500  # the job log has the whole plan


def test_validation_errors_are_posted_then_exit_1(fake: Fake, repo: Path, tmp_path: Path) -> None:
    _edit(repo, "requests/disdik/ppdb.yaml", "bandwidth_mbit: 50", "bandwidth_mbit: lots")
    result = ci(mr_env(fake, tmp_path), "plan-comment", "--root", str(repo))
    assert result.exit_code == 1
    [body] = plan_comments(fake)
    assert "checks failed" in body and "requests/disdik/ppdb.yaml" in body
    assert "Traceback" not in result.output


def test_by_hand_it_only_prints(repo: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    result = ci({}, "plan-comment", "--root", str(repo))
    assert result.exit_code == 0
    assert result.stdout.startswith("### opdhost plan")
    assert "no comment posted" in result.stderr
    assert not summary.exists()


def test_github_step_summary_gets_the_plan(repo: Path, tmp_path: Path) -> None:
    with serving(FAKES["github"]()) as fake:
        fake.state.comments[MR] = []
        summary = tmp_path / "summary.md"
        summary.write_text("earlier step\n")
        env = {**mr_env(fake, tmp_path), "GITHUB_STEP_SUMMARY": str(summary)}
        assert ci(env, "plan-comment", "--root", str(repo)).exit_code == 0
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "### opdhost plan" in text


# --- drift-report -------------------------------------------------------------------------


def record(tmp_path: Path, drift: list[object], name: str = "run.json", result: str = "ok") -> Path:
    """A run record of `opdhost apply --check --all --json`."""
    path = tmp_path / name
    data = {
        "run_id": "20261120T100000Z-abcd",
        "environment": "production",
        "mode": "check",
        "commit": "a" * 40,
        "result": result,
        "sites": [{"site": "disdik", "action": "update", "result": "check"}],
        "ansible": {"stats": {"changed": {"web1": 3}}},
        "drift": drift,
    }
    path.write_text(json.dumps(data))
    return path


def drift_issues(fake: Fake) -> list[dict[str, object]]:
    return [i for i in fake.state.issues if "opdhost-drift" in i["labels"]]  # type: ignore[operator]


def test_drift_opens_one_issue_updates_it_and_closes_it(fake: Fake, tmp_path: Path) -> None:
    env = fake.env()
    first = record(
        tmp_path,
        [
            {
                "site": "disdik",
                "nodes": ["web1"],
                "tasks": ["apache_vhost : Write the virtual host"],
                "diff": "-password=hunter2",
            }
        ],
    )
    result = ci(env, "drift-report", "--record", str(first))
    assert result.exit_code == 0, result.output
    assert "issue opened" in result.stdout
    [issue] = drift_issues(fake)
    assert issue["state"] in ("open", "opened")
    assert "disdik" in issue["body"] and "apache_vhost : Write the virtual host" in issue["body"]  # type: ignore[operator]
    assert "hunter2" not in json.dumps(fake.state.issues)  # diff content never reaches the issue

    second = record(
        tmp_path,
        [{"site": "disdik", "tasks": ["x"]}, {"site": "sehat", "tasks": ["database : Quota"]}],
        "2.json",
    )
    result = ci(env, "drift-report", "--record", str(second))
    assert "issue updated" in result.stdout
    [issue] = drift_issues(fake)  # the same one issue
    assert "sehat" in issue["body"] and "database : Quota" in issue["body"]  # type: ignore[operator]
    assert "2 sites" in issue["title"]  # type: ignore[operator]

    clean = record(tmp_path, [], "3.json")
    result = ci(env, "drift-report", "--record", str(clean))
    assert "issue closed" in result.stdout
    [issue] = drift_issues(fake)
    assert issue["state"] == "closed"
    assert any("agree" in c for c in issue["comments"])  # type: ignore[union-attr]

    writes = len(fake.state.writes())
    result = ci(env, "drift-report", "--record", str(clean))
    assert "no open drift issue" in result.stdout
    assert len(fake.state.writes()) == writes  # nothing to tell: nothing written


def backups(tmp_path: Path, states: dict[str, str], name: str = "backups.json") -> Path:
    """The output of `opdhost backup check --json`: site -> state of its files backup."""
    path = tmp_path / name
    rows = [
        {"site": site, "kind": "files", "node": "web1", "state": state,
         "last_success": None, "bytes": 0, "detail": f"| `{state}` |\nrestic: exit 1"}
        for site, state in states.items()
    ]  # fmt: skip
    path.write_text(json.dumps(rows))
    return path


def test_backups_not_in_order_keep_the_issue_open_until_they_are(
    fake: Fake, tmp_path: Path
) -> None:
    env = fake.env()
    clean = str(record(tmp_path, []))
    bad = backups(tmp_path, {"disdik": "too old", "sehat": "ok", "ppdb": "failed"})
    result = ci(env, "drift-report", "--record", clean, "--backups", str(bad))
    assert result.exit_code == 0, result.output
    assert "issue opened" in result.stdout
    [issue] = drift_issues(fake)
    body = str(issue["body"])
    assert "2 backups not in order" in str(issue["title"])
    assert "| `disdik` | files | web1 | too old |" in body and "`ppdb`" in body
    assert "`sehat`" not in body  # in order
    assert "| `too old` |" not in body and "\nrestic" not in body  # detail stripped of markup
    good = backups(tmp_path, {"disdik": "ok", "ppdb": "ok"}, "ok.json")
    result = ci(env, "drift-report", "--record", clean, "--backups", str(good))
    assert "issue closed" in result.stdout
    assert drift_issues(fake)[0]["state"] == "closed"
    (tmp_path / "broken.json").write_text("{}")
    refused = ci(env, "drift-report", "--record", clean, "--backups", str(tmp_path / "broken.json"))
    assert refused.exit_code == 1 and "is not the output of `opdhost backup check --json`" in (
        refused.stderr
    )


def test_a_failed_check_leaves_the_issue_open(fake: Fake, tmp_path: Path) -> None:
    env = fake.env()
    ci(env, "drift-report", "--record", str(record(tmp_path, ["disdik"])))
    result = ci(
        env, "drift-report", "--record", str(record(tmp_path, [], "f.json", result="failed"))
    )
    assert "did not complete" in result.stdout
    [issue] = drift_issues(fake)
    assert issue["state"] in ("open", "opened")


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no run record at"), ("{not json", "is not JSON"), ("[1, 2]", "is not a run record")],
)
def test_bad_records_are_refused(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content)
    result = ci({}, "drift-report", "--record", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.output


# --- context ------------------------------------------------------------------------------


def test_context_names_the_merge_request_and_its_approvers(fake: Fake) -> None:
    fake.state.merged.append(
        Merged(
            MR, SHA, "budi", [("alice", "APPROVED"), ("carol", "COMMENTED"), ("dewi", "APPROVED")]
        )
    )
    result = ci(fake.env(), "context")
    assert result.exit_code == 0, result.output
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert lines["OPDHOST_MERGE_REQUEST"] == str(MR)
    assert lines["OPDHOST_MR_AUTHOR"] == "budi"
    assert lines["OPDHOST_APPROVED_BY"] == "alice,dewi"
    assert lines["OPDHOST_MERGE_COMMIT"] == SHA
    assert lines["OPDHOST_MERGE_REQUEST_URL"].endswith(f"/{MR}")
    as_json = json.loads(ci(fake.env(), "context", "--format", "json").stdout)
    assert as_json == lines


def test_context_a_later_change_request_withdraws_an_approval(fake: Fake) -> None:
    if fake.kind == "gitlab":
        pytest.skip("GitLab lists current approvals only: nothing to withdraw client-side")
    fake.state.merged.append(
        Merged(
            MR,
            SHA,
            "budi",
            [("alice", "APPROVED"), ("alice", "CHANGES_REQUESTED"), ("dewi", "APPROVED")],
        )
    )
    lines = dict(x.split("=", 1) for x in ci(fake.env(), "context").stdout.splitlines())
    assert lines["OPDHOST_APPROVED_BY"] == "dewi"


def test_context_direct_push_prints_only_the_commit(fake: Fake) -> None:
    result = ci(fake.env(), "context")
    assert result.exit_code == 0
    assert result.stdout == f"OPDHOST_MERGE_COMMIT={SHA}\n"
    assert "no merged merge request" in result.stderr


# --- failures and the token ---------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 404, 500])
def test_forge_failures_are_one_error_line_without_the_token(
    fake: Fake, repo: Path, tmp_path: Path, status: int
) -> None:
    fake.state.fail = status
    runs = [
        ci(mr_env(fake, tmp_path), "plan-comment", "--root", str(repo)),
        ci(fake.env(), "drift-report", "--record", str(record(tmp_path, ["disdik"]))),
        ci(fake.env(), "context"),
    ]
    for result in runs:
        assert result.exit_code == 1, result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and f"answered {status}" in errors[0], result.stderr
        assert "Traceback" not in result.output
        assert TOKEN not in result.output
    assert all(TOKEN not in json.dumps(s.body) for s in fake.state.sent)


def test_a_wrong_token_is_401_and_never_shown(fake: Fake, tmp_path: Path) -> None:
    wrong = "WRONG-secret-token-42"
    env = {**fake.env(), "OPDHOST_FORGE_TOKEN": wrong, "GITHUB_TOKEN": wrong}
    result = ci(env, "drift-report", "--record", str(record(tmp_path, ["disdik"])))
    assert result.exit_code == 1
    assert "answered 401" in result.stderr and "fix: " in result.stderr
    assert wrong not in result.output


def test_the_token_never_appears_in_output(fake: Fake, repo: Path, tmp_path: Path) -> None:
    fake.state.merged.append(Merged(MR, SHA, "budi", [("alice", "APPROVED")]))
    outputs = [
        ci(mr_env(fake, tmp_path), "plan-comment", "--root", str(repo)).output,
        ci(fake.env(), "drift-report", "--record", str(record(tmp_path, ["disdik"]))).output,
        ci(fake.env(), "context", "--format", "json").output,
    ]
    assert all(TOKEN not in out for out in outputs)
    assert TOKEN not in json.dumps(fake.state.comments) + json.dumps(fake.state.issues)
    # and it was sent, in the header each forge documents
    header = "PRIVATE-TOKEN" if fake.kind == "gitlab" else "Authorization"
    assert all(TOKEN in s.headers.get(header, "") for s in fake.state.sent)


def test_only_the_forge_in_use_is_imported() -> None:
    """`opdhost ci` loads no forge client until it talks to one; validate never does."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = (
        "import sys; import opdhost.cli.ci, opdhost.cli.requests; "
        "print(sorted(m for m in ('gitlab', 'github', 'requests') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
