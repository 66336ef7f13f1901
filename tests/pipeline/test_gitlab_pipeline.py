"""The GitLab pipeline run for real by gitlab-ci-local (shell executor) on the shared clone."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SITE, Clone, git, gitlab_ci_local, lab_is_up

REPO = Path(__file__).resolve().parents[2]


def run_pipeline(
    clone: Clone, branch: str, log: Path, **variables: str
) -> subprocess.CompletedProcess[str]:
    binary = gitlab_ci_local()
    if binary is None:
        pytest.skip("gitlab-ci-local is not installed (scripts/setup.sh installs it)")
    if shutil.which("rsync") is None:
        pytest.skip(
            "rsync is not installed (gitlab-ci-local needs it; scripts/setup.sh installs it)"
        )
    git(clone.root, "checkout", "-q", "-f", branch)
    git(clone.root, "clean", "-qfdx", "-e", ".gitlab-ci-local")
    log.unlink(missing_ok=True)
    command = [
        binary,
        "--shell-executor-no-image",
        "--json-schema-validation=false",
        "--ignore-predefined-vars",
        "CI_PIPELINE_SOURCE",
        "--variable",
        f"OPDHOST_VENV={clone.tools}",
        "--variable",
        f"OPDHOST_CALL_LOG={log}",
    ]
    for name, value in variables.items():
        command += ["--variable", f"{name}={value}"]
    return subprocess.run(
        command, cwd=clone.root, check=False, capture_output=True, text=True, timeout=1800
    )


def calls(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


MR = {
    "CI_PIPELINE_SOURCE": "merge_request_event",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
    "CI_MERGE_REQUEST_EVENT_TYPE": "detached",
    "OPDHOST_ENV": "lab",
}


def test_merge_request_adding_a_site_passes_with_a_plan(clone: Clone, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    done = run_pipeline(clone, "add-site", log, **MR)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "PASS  lint" in done.stdout and "PASS  plan" in done.stdout
    assert "apply" not in done.stdout.split("PASS  lint")[-1]  # no apply on a merge request
    plan = (clone.root / "plan.md").read_text()
    assert SITE in plan and "create" in plan.lower()
    made = calls(log)
    assert [c["args"][:2] for c in made] == [
        ["validate", "--env"],
        ["plan", "--env"],
        ["ci", "plan-comment"],
    ]
    for call in made:
        # the merge result: the target's tip merged with the request, the base is that tip
        assert call["parent"] == clone.main
        assert call["head"] != clone.add_site
        assert call["env"]["OPDHOST_BASE"] == clone.main
        assert "lab" in call["args"]
        assert call["env"]["PYTHONPATH"] == str(clone.root / "scripts")
    assert "--artifact-url" in made[2]["args"]


def test_merge_request_with_a_broken_request_fails(clone: Clone, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    done = run_pipeline(clone, "broken", log, **MR)
    assert done.returncode != 0
    assert "FAIL  plan" in done.stdout
    assert f"requests/disdik/{SITE}.yaml" in done.stdout and "outside web1's pool" in done.stdout
    # the findings still reach the merge request (comment) and the artifact
    assert ["ci", "plan-comment"] in [c["args"][:2] for c in calls(log)]
    assert "outside" in (clone.root / "plan.md").read_text()


@pytest.mark.lab
def test_merge_to_main_applies_to_the_lab(clone: Clone, tmp_path: Path) -> None:
    why = lab_is_up()
    if why:
        pytest.skip(why)
    records = tmp_path / "records"
    (records / "lab").mkdir(parents=True)
    applied = REPO / "records" / "lab" / "applied.json"
    if applied.exists():  # start from the shared lab's state: only the new site is applied
        shutil.copy(applied, records / "lab" / "applied.json")
    git(clone.root, "checkout", "-q", "-f", "main")
    git(clone.root, "branch", "-f", "merged", "main")
    git(clone.root, "checkout", "-q", "merged")
    git(clone.root, "merge", "-q", "--no-ff", "-m", "Merge branch 'add-site' (!7)", "add-site")
    log = tmp_path / "calls.log"
    variables = {
        "CI_PIPELINE_SOURCE": "push",
        "CI_DEFAULT_BRANCH": "merged",
        "OPDHOST_ENV": "lab",
        "OPDHOST_RECORDS_DIR": str(records),
    }
    try:
        for _attempt in range(3):  # the shared lab's lock may be held by another apply
            done = run_pipeline(clone, "merged", log, **variables)
            if "another opdhost apply is running" not in done.stdout:
                break
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
        assert "PASS  apply" in done.stdout
        record = json.loads((clone.root / "run-record.json").read_text())
        assert record["result"] == "ok", [s for s in record["sites"] if s["result"] != "ok"]
        assert record["approved_by"] == ["kepala.dkisp"]  # from opdhost ci context
        assert SITE in json.dumps(record["plan"])
        assert [c["args"][:2] for c in calls(log)] == [["ci", "context"], ["apply", "--env"]]
    finally:
        # leave the shared lab as it was: decommission the test's site, then forget it
        path = clone.root / "requests" / "disdik" / f"{SITE}.yaml"
        if path.exists():
            path.write_text(path.read_text().replace("status: active", "status: decommissioned"))
            git(clone.root, "commit", "-q", "-am", f"decommission {SITE}")
            env_bin = Path(sys.executable).parent
            subprocess.run(
                [
                    str(env_bin / "opdhost"),
                    "apply",
                    "--root",
                    str(clone.root),
                    "--records",
                    str(records),
                    "--env",
                    "lab",
                ],
                cwd=clone.root,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
                env={**__import__("os").environ, "PYTHONPATH": str(clone.root / "scripts")},
            )
