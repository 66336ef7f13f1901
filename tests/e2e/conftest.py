"""A platform repository of its own for the end-to-end tests, applied to the shared lab.

The repository is a temporary git clone-alike: the lab inventory and the example requests,
committed, with its own records directory. Its first apply converges the lab with the
examples; the tests then add, break, fault and decommission their own sites (`e2e*`, IPs
10.203.0.176-199 in web1's pool, .240 in web2's: docs/lab.md) and apply them as a merge
would, through the `opdhost` console script.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from synth import e2e_request as request_text

REPO = Path(__file__).resolve().parents[2]
OPDHOST = Path(sys.executable).parent / "opdhost"
APPLY_TIMEOUT = 1500


def sh(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a command (no shell)."""
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=timeout)


def on_node(node: str, script: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """A shell snippet inside a lab node."""
    return sh("podman", "exec", f"opdhost-lab-{node}", "sh", "-c", script, check=check)


@dataclass
class Platform:
    """The e2e repository: write requests, commit them, apply them."""

    root: Path
    records: Path

    def write(
        self,
        site: str,
        ip: int,
        *,
        engine: str = "mariadb",
        status: str = "active",
        mbit: int = 10,
        text: str | None = None,
    ) -> Path:
        path = self.root / "requests" / "e2e" / f"{site}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = text if text is not None else request_text(site, ip, engine, status, mbit)
        path.write_text(body, encoding="utf-8")
        return path

    def commit(self, message: str) -> None:
        sh("git", "-C", str(self.root), "add", "-A", "requests")
        sh("git", "-C", str(self.root), "commit", "-q", "-m", message)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "COLUMNS": "200",
            "NO_COLOR": "1",
            "OPDHOST_RECORDS_DIR": str(self.records),
        }

    def argv(self, *args: str, as_json: bool = True) -> list[str]:
        """The `opdhost apply` command line for this repository."""
        flags = ["--json"] if as_json else []
        return [str(OPDHOST), "apply", "--root", str(self.root), *flags, *args]

    def apply(self, *args: str) -> tuple[int, dict[str, Any] | None, str]:
        """`opdhost apply --json ARGS`: exit status, the run record (None if none), stderr."""
        proc = subprocess.run(
            self.argv(*args),
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=APPLY_TIMEOUT,
            check=False,
        )
        record = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else None
        return proc.returncode, record, proc.stdout + proc.stderr

    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.records / "lab" / "applied.json").read_text()))

    def runs(self) -> list[Path]:
        return sorted((self.records / "lab" / "runs").glob("*.json"))


def wait_services(node: str, services: str, timeout: float = 120) -> None:
    """Block until the node's services are active (after a container restart)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if on_node(node, f"systemctl is-active {services}").returncode == 0:
            return
        time.sleep(1)
    raise AssertionError(f"{node}: {services} not active after {timeout} s")


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    """The e2e repository, its examples applied to the lab (the first apply converges all)."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    up = sh(str(OPDHOST), "lab", "up", check=False, timeout=600)
    assert up.returncode == 0, up.stdout + up.stderr
    root = tmp_path_factory.mktemp("e2e-platform")
    shutil.copytree(REPO / "inventories" / "lab", root / "inventories" / "lab")
    shutil.copytree(REPO / "requests", root / "requests")
    sh("git", "init", "-q", "-b", "main", str(root))
    for key, value in (("user.name", "e2e"), ("user.email", "e2e@kab-contoh.go.id")):
        sh("git", "-C", str(root), "config", key, value)
    sh("git", "-C", str(root), "add", "-A")
    sh("git", "-C", str(root), "commit", "-q", "-m", "examples")
    plat = Platform(root, root / "records")
    rc, record, out = plat.apply()
    assert rc == 0, out
    assert record is not None and record["ansible"]["playbook"] == "site.yml"
    return plat
