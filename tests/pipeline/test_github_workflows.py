"""The GitHub workflows' run steps, executed in order as a runner would, on the shared clone.

A small runner: each `run:` step in bash (`-eo pipefail`, GitHub's default), with the GITHUB_*
variables a runner sets, the workflow/job/step `env:` (expressions evaluated for the subset
these workflows use), GITHUB_ENV / GITHUB_PATH / GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files
read back between steps, and `if:` honoured. `uses:` steps (checkout, upload-artifact) are the
runner's business: the clone is checked out as actions/checkout would leave it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import SITE, Clone, git

REPO = Path(__file__).resolve().parents[2]


def lookup(path: str, context: dict[str, Any]) -> Any:
    value: Any = context
    for part in path.split("."):
        value = value.get(part, "") if isinstance(value, dict) else ""
    return value


def evaluate(expr: str, context: dict[str, Any]) -> Any:
    expr = expr.strip()
    if expr in {"always()", "!cancelled()", "success()"}:
        return True if expr != "success()" else not context["failed"]
    if "||" in expr:
        for part in expr.split("||"):
            value = evaluate(part, context)
            if value:
                return value
        return value
    if "&&" in expr:
        return all(evaluate(part, context) for part in expr.split("&&"))
    if "==" in expr:
        left, right = expr.split("==")
        return evaluate(left, context) == evaluate(right, context)
    if re.fullmatch(r"'[^']*'", expr):
        return expr[1:-1]
    assert re.fullmatch(r"[a-z_]+(\.[A-Za-z_-]+)+", expr), f"expression not understood: {expr}"
    return lookup(expr, context)


def substitute(text: str, context: dict[str, Any]) -> str:
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(evaluate(m.group(1), context)), text)


def read_pairs(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            name, _, value = line.partition("=")
            pairs[name] = value
    return pairs


def run_job(  # noqa: PLR0917 - the runner's inputs, one call per job
    workflow: str,
    job: str,
    clone: Clone,
    tmp: Path,
    event: dict[str, Any],
    secrets: dict[str, str],
    extra_env: dict[str, str],
) -> list[tuple[str, int]]:
    data = yaml.safe_load((REPO / ".github" / "workflows" / workflow).read_text())
    spec = data["jobs"][job]
    temp = tmp / "runner-temp"
    temp.mkdir()
    files = {
        name: tmp / name.lower()
        for name in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT")
    }
    context: dict[str, Any] = {
        "github": {
            "server_url": "https://github.example.invalid",
            "repository": "dkisp/opdhost",
            "run_id": "4242",
            "event_name": event["name"],
            "event": event,
        },
        "vars": {"OPDHOST_ENV": "lab"},
        "secrets": {"GITHUB_TOKEN": "gh-token", **secrets},
        "runner": {"temp": str(temp)},
        "steps": {},
        "inputs": {},
        "failed": False,
    }
    env = {
        **os.environ,
        **extra_env,
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(clone.root),
        "RUNNER_TEMP": str(temp),
        "GITHUB_REPOSITORY": "dkisp/opdhost",
        "GITHUB_EVENT_NAME": event["name"],
        "GITHUB_SHA": git(clone.root, "rev-parse", "HEAD"),
        "GITHUB_ACTOR": "engineer",
    }
    for scope in (data.get("env", {}), spec.get("env", {})):
        env.update({k: substitute(str(v), context) for k, v in scope.items()})
    ran: list[tuple[str, int]] = []
    for step in spec["steps"]:
        if "run" not in step:
            continue
        condition = step.get("if")
        if condition is not None:
            cond = condition.strip().removeprefix("${{").removesuffix("}}")
            if not evaluate(cond, context):
                continue
        elif context["failed"]:
            continue
        for name, path in files.items():
            path.write_text("")
            env[name] = str(path)
        step_env = {
            **env,
            **{k: substitute(str(v), context) for k, v in step.get("env", {}).items()},
        }
        script = tmp / "step.sh"
        script.write_text(step["run"])
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=clone.root,
            env=step_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        ran.append((step.get("name", step["run"][:30]), done.returncode))
        if done.returncode != 0:
            context["failed"] = True
            print(done.stdout[-3000:], done.stderr[-3000:])
        env.update(read_pairs(files["GITHUB_ENV"]))
        for line in files["GITHUB_PATH"].read_text().splitlines():
            env["PATH"] = f"{line}:{env['PATH']}"
        if "id" in step:
            context["steps"][step["id"]] = {"outputs": read_pairs(files["GITHUB_OUTPUT"])}
        (tmp / "summary.md").open("a").write(files["GITHUB_STEP_SUMMARY"].read_text())
    return ran


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_pull_request_workflow_plans_the_merge_ref(clone: Clone, tmp_path: Path) -> None:
    # actions/checkout on pull_request: refs/pull/N/merge, the base's tip merged with the head
    git(clone.root, "checkout", "-q", "-f", "--detach", "main")
    git(clone.root, "clean", "-qfdx", "-e", ".gitlab-ci-local")
    git(clone.root, "merge", "-q", "--no-ff", "-m", "Merge abc into def", clone.add_site)
    log = tmp_path / "calls.log"
    ran = run_job(
        "pull-request.yml",
        "plan",
        clone,
        tmp_path,
        {"name": "pull_request", "pull_request": {"number": 7}},
        {},
        {"OPDHOST_VENV": str(clone.tools), "OPDHOST_CALL_LOG": str(log)},
    )
    assert all(rc == 0 for _, rc in ran), ran
    names = [name for name, _ in ran]
    assert "ansible-lint (roles or playbooks changed)" not in names  # no role changed
    made = calls(log)
    assert [c["args"][:2] for c in made] == [
        ["validate", "--env"],
        ["plan", "--env"],
        ["ci", "plan-comment"],
    ]
    assert all(c["env"]["OPDHOST_BASE"] == clone.main and "lab" in c["args"] for c in made)
    assert made[2]["env"]["GITHUB_TOKEN"] == "gh-token"
    assert SITE in (clone.root / "plan.md").read_text()
    assert "plan comment" in (tmp_path / "summary.md").read_text()


def test_apply_workflow_context_key_then_apply(clone: Clone, tmp_path: Path) -> None:
    git(clone.root, "checkout", "-q", "-f", "main")
    log = tmp_path / "calls.log"
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----"
    ran = run_job(
        "apply.yml",
        "apply",
        clone,
        tmp_path,
        {"name": "push"},
        {"OPDHOST_SSH_KEY": key},
        {
            "OPDHOST_VENV": str(clone.tools),
            "OPDHOST_CALL_LOG": str(log),
            "OPDHOST_SHIM_STUB": "apply",
        },
    )
    assert all(rc == 0 for _, rc in ran), ran
    made = calls(log)
    assert [c["args"][:2] for c in made] == [["ci", "context"], ["apply", "--env"]]
    apply = made[1]
    assert apply["args"] == ["apply", "--env", "lab", "--json"]
    assert apply["env"]["OPDHOST_APPROVED_BY"] == "kepala.dkisp"  # context -> GITHUB_ENV
    assert apply["env"]["OPDHOST_MERGE_REQUEST"] == "7"
    assert apply["key_mode"] == "0o600" and apply["key_text"].strip() == key
    assert not Path(apply["env"]["ANSIBLE_PRIVATE_KEY_FILE"]).exists()  # removed afterwards
    assert json.loads((clone.root / "run-record.json").read_text()) == {"result": "stub"}


def test_apply_workflow_needs_no_key_for_the_lab(clone: Clone, tmp_path: Path) -> None:
    git(clone.root, "checkout", "-q", "-f", "main")
    log = tmp_path / "calls.log"
    tools_env = {
        "OPDHOST_VENV": str(clone.tools),
        "OPDHOST_CALL_LOG": str(log),
        "OPDHOST_SHIM_STUB": "apply",
    }
    ran = run_job("apply.yml", "apply", clone, tmp_path, {"name": "push"}, {}, tools_env)
    # vars.OPDHOST_ENV is lab in this runner: no key needed, apply runs
    assert [c["args"][0] for c in calls(log)] == ["ci", "apply"]
    assert all(rc == 0 for _, rc in ran)


@pytest.mark.parametrize("workflow", ["drift.yml", "monthly.yml"])
def test_scheduled_workflows_call_the_documented_commands(workflow: str) -> None:
    text = (REPO / ".github" / "workflows" / workflow).read_text()
    if workflow == "drift.yml":
        assert "--check --all --json > record.json" in text and "ci drift-report" in text
    else:
        assert "vars.OPDHOST_MONTHLY_REPORTS == 'true'" in text
        assert "opdhost register" in text and "opdhost usage" in text
