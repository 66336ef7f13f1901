"""Every pipeline file passes the forges' published schemas and zizmor (offline)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def tool(name: str) -> str:
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (pip install {name} into .venv)")
    return str(found)


def test_there_are_pipelines() -> None:
    assert (REPO / ".gitlab-ci.yml").is_file()
    assert {p.name for p in WORKFLOWS} >= {
        "pull-request.yml",
        "apply.yml",
        "drift.yml",
        "monthly.yml",
    }


def test_gitlab_ci_matches_gitlabs_schema() -> None:
    done = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.gitlab-ci",
            str(REPO / ".gitlab-ci.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflows_match_githubs_schema() -> None:
    done = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, WORKFLOWS),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflows_pass_zizmor() -> None:
    done = subprocess.run(
        [tool("zizmor"), "--offline", str(REPO / ".github" / "workflows")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_can_fail(tmp_path: Path) -> None:
    """The check above means something: an unpinned action with credentials is refused."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request_target\npermissions: write-all\njobs:\n  x:\n"
        "    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@main\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    done = subprocess.run(
        [tool("zizmor"), "--offline", str(bad)], capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
