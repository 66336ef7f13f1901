"""One temporary clone shared by the pipeline tests, and the tools to run the pipelines on it.

The clone is the committed repository with the working tree's pipeline files on top (so the
files under test are the ones being edited). Branches:
  main       the pipeline files committed
  add-site   + one new request (cipipe, static, no database, 10.203.0.180: outside the e2e
             tests' 10.203.0.190-199)
  broken     + the same request with an IP outside web1's pool
Its tools directory is a stand-in virtual environment: `opdhost` is shim_opdhost.py (records
every call; answers `opdhost ci ...`), the linters are the project's own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PIPELINE_FILES = [".gitlab-ci.yml", ".github"]
SITE = "cipipe"
SITE_IP = "10.203.0.180"
FORGE_REMOTE = "git@gitlab.example.invalid:dkisp/opdhost.git"


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "engineer",
        "GIT_AUTHOR_EMAIL": "eng@invalid",
        "GIT_COMMITTER_NAME": "engineer",
        "GIT_COMMITTER_EMAIL": "eng@invalid",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def gitlab_ci_local() -> str | None:
    """gitlab-ci-local as scripts/setup.sh installs it, or from PATH."""
    for candidate in (
        os.environ.get("OPDHOST_GITLAB_CI_LOCAL"),
        "/opt/opdhost-ci/node_modules/.bin/gitlab-ci-local",
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("gitlab-ci-local")


@dataclass
class Clone:
    root: Path  # the work tree
    tools: Path  # stand-in venv: tools/bin/opdhost is the recording shim
    main: str  # commit of main
    add_site: str  # commit of the branch adding a site
    broken: str  # commit of the branch with a broken request

    def request(self) -> Path:
        return self.root / "requests" / "disdik" / f"{SITE}.yaml"


def make_tools(where: Path) -> Path:
    bin_dir = where / "bin"
    bin_dir.mkdir(parents=True)
    shim = bin_dir / "opdhost"
    shim.write_text(
        f"#!{sys.executable}\n" + (Path(__file__).parent / "shim_opdhost.py").read_text()
    )
    shim.chmod(0o755)
    for tool in ("yamllint", "ansible-lint", "molecule", "python", "python3"):
        if (VENV_BIN / tool).exists():
            (bin_dir / tool).symlink_to(VENV_BIN / tool)
    return where


@pytest.fixture(scope="session")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Clone:
    base = tmp_path_factory.mktemp("pipeline")
    root = base / "opdhost"
    subprocess.run(["git", "clone", "-q", "--branch", "main", str(REPO), str(root)], check=True)
    for name in PIPELINE_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, dirs_exist_ok=True)
        elif source.exists():
            shutil.copy2(source, root / name)
    git(root, "add", "--", *PIPELINE_FILES)
    if git(root, "status", "--porcelain"):
        git(root, "commit", "-q", "-m", "pipeline files of the working tree")
    # origin answers fetches (a local path); gitlab-ci-local reads the project's name from
    # `gcl-origin` as it would from a forge remote.
    git(root, "remote", "set-url", "origin", str(root))
    git(root, "remote", "add", "gcl-origin", FORGE_REMOTE)
    git(root, "fetch", "-q", "origin")
    git(root, "remote", "set-head", "origin", "main")
    main = git(root, "rev-parse", "HEAD")

    git(root, "checkout", "-q", "-b", "add-site")
    env = {**os.environ, "PYTHONPATH": str(root / "scripts")}
    subprocess.run(
        [
            str(VENV_BIN / "opdhost"),
            "new",
            "--root",
            str(root),
            "--opd",
            "disdik",
            "--site",
            SITE,
            "--letter-number",
            "421/900/Disdik/2026",
            "--letter-date",
            "2026-11-30",
            "--agenda",
            "AG-2026-0900",
            "--runtime",
            "static",
            "--db",
            "none",
            "--storage-mb",
            "128",
            "--bandwidth-mbit",
            "2",
            "--no-tls",
            "--node",
            "web1",
            "--ip",
            SITE_IP,
        ],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    git(root, "add", "requests")
    git(root, "commit", "-q", "-m", f"request: {SITE} (letter 421/900/Disdik/2026)")
    add_site = git(root, "rev-parse", "HEAD")

    git(root, "checkout", "-q", "-b", "broken")
    path = root / "requests" / "disdik" / f"{SITE}.yaml"
    path.write_text(path.read_text().replace(SITE_IP, "10.203.0.250"))
    git(root, "commit", "-q", "-am", f"request: {SITE} with an IP outside the pool")
    broken = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "main")
    return Clone(
        root=root, tools=make_tools(base / "tools"), main=main, add_site=add_site, broken=broken
    )


def lab_is_up() -> str | None:
    """None when the shared lab answers, else why not."""
    done = subprocess.run(
        [str(VENV_BIN / "opdhost"), "lab", "status"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0 or "lab is healthy" not in done.stdout:
        return f"the lab is not up (opdhost lab status: {done.stdout.strip()[-200:]})"
    return None
