"""SSH host keys, pinned the way the production inventory pins them, against the shared lab.

A temporary platform repository holds a copy of the lab inventory whose SSH options are the
production ones (StrictHostKeyChecking=yes, UserKnownHostsFile=<inventory>/known_hosts, no
global known_hosts) and one example request. With the nodes' real keys pinned, a check-mode
apply reaches every node; with a second, different key pinned for web1, web1 is refused before
anything runs there, the others are reached, and the apply says which host and which file.
Both runs are check mode: this repository's one request applied for real would rewrite the
shared lab's zone and virtual hosts, so a regression in the pinning must not be able to.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from opdhost.lab.nodes import NODES as LAB_NODES

from .conftest import OPDHOST, REPO, on_node, sh

pytestmark = pytest.mark.lab

NODES = {node.name: node.address for node in LAB_NODES}  # all six, each pinned
PINNED_ARGS = (
    '-o StrictHostKeyChecking=yes -o UserKnownHostsFile="{{ inventory_dir }}/known_hosts"'
    " -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=10"
)
LOCKED = "another `opdhost apply` is running"


def _production_args() -> str:
    """The SSH options of the production inventory (the copy must pin the same way)."""
    inventory = yaml.safe_load((REPO / "inventories" / "production" / "hosts.yml").read_text())
    return " ".join(str(inventory["all"]["vars"]["ansible_ssh_common_args"]).split())


class PinnedRepo:
    """A platform repository whose lab inventory pins host keys in its own known_hosts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.inventory = root / "inventories" / "lab"
        self.known_hosts = self.inventory / "known_hosts"
        self.records = root / "records"
        self.control = root / "ssh-control"  # no ControlPersist master of other runs is reused

    def pin(self, lines: list[str], message: str) -> None:
        """Write known_hosts and commit it (an apply records the commit it applied).

        New pins, new SSH masters: a ControlPersist connection opened under the previous pins
        was verified then and would be reused without a new host key check.
        """
        self.control = self.root / f"ssh-control-{len(list(self.root.glob('ssh-control*')))}"
        self.control.mkdir()
        self.known_hosts.write_text("\n".join(lines) + "\n")
        sh("git", "-C", str(self.root), "add", str(self.known_hosts))
        sh("git", "-C", str(self.root), "commit", "-q", "-m", message)

    def apply(self, *args: str) -> tuple[int, dict[str, Any] | None, str]:
        """`opdhost apply --json` from the repository's root, retried while the lock is held."""
        env = {
            **os.environ,
            "COLUMNS": "200",
            "NO_COLOR": "1",
            "OPDHOST_RECORDS_DIR": str(self.records),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.control),
        }
        argv = [str(OPDHOST), "apply", "--root", str(self.root), "--json", *args]
        for _ in range(60):
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=env,
                cwd=self.root,
                timeout=1500,
                check=False,
            )
            if LOCKED not in proc.stdout + proc.stderr:
                break
            time.sleep(10)
        out = proc.stdout.strip()
        record = json.loads(out) if out.startswith("{") else None
        return proc.returncode, record, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> PinnedRepo:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    if sh(str(OPDHOST), "lab", "status", check=False, timeout=120).returncode != 0:
        up = sh(str(OPDHOST), "lab", "up", check=False, timeout=600)
        assert up.returncode == 0, up.stdout + up.stderr
    root = tmp_path_factory.mktemp("host-keys")
    shutil.copytree(REPO / "inventories" / "lab", root / "inventories" / "lab")
    hosts = root / "inventories" / "lab" / "hosts.yml"
    inventory = yaml.safe_load(hosts.read_text())
    assert " ".join(PINNED_ARGS.split()) == _production_args()
    inventory["all"]["vars"]["ansible_ssh_common_args"] = PINNED_ARGS
    hosts.write_text(yaml.safe_dump(inventory, sort_keys=False))
    (root / "requests" / "disdik").mkdir(parents=True)
    shutil.copy(REPO / "requests" / "disdik" / "disdik.yaml", root / "requests" / "disdik")
    sh("git", "init", "-q", "-b", "main", str(root))
    for key, value in (("user.name", "e2e"), ("user.email", "e2e@kab-contoh.go.id")):
        sh("git", "-C", str(root), "config", key, value)
    sh("git", "-C", str(root), "add", "-A")
    sh("git", "-C", str(root), "commit", "-q", "-m", "one hosting, host keys pinned")
    made = PinnedRepo(root)
    made.control.mkdir()
    return made


def real_keys() -> dict[str, str]:
    """The nodes' ed25519 host keys as ssh-keyscan reports them (known_hosts lines)."""
    keys = {}
    for node, address in NODES.items():
        scan = sh("ssh-keyscan", "-t", "ed25519", address, check=False, timeout=60)
        lines = [line for line in scan.stdout.splitlines() if line and not line.startswith("#")]
        assert len(lines) == 1, (node, scan.stdout, scan.stderr)
        keys[node] = lines[0]
    return keys


def another_key(tmp: Path) -> str:
    """A second, different ed25519 public key (as a reinstalled or impostor server has)."""
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "other"))
    return " ".join((tmp / "other.pub").read_text().split()[:2])


def web1_fingerprint() -> str:
    """What is on web1 that an apply would change (vhosts, opdhost's state, tc classes)."""
    return on_node(
        "web1",
        "find /etc/apache2 /etc/opdhost -type f -exec sha256sum {} + | sort; "
        "tc class show dev eth0",
    ).stdout


def test_with_the_real_keys_pinned_a_check_run_reaches_every_node(repo: PinnedRepo) -> None:
    repo.pin(list(real_keys().values()), "pin the nodes' real keys")

    rc, record, out = repo.apply("--check")

    assert record is not None, out
    stats = record["ansible"]["stats"]
    assert not stats.get("dark"), stats  # no host unreachable
    assert set(stats["processed"]) == set(NODES), stats
    assert rc in (0, 2), out  # 2: the shared lab differs from this repository (drift), fine here
    assert all(s["result"] == "check" for s in record["sites"]), record["sites"]


def test_a_changed_key_stops_the_run_for_that_host(repo: PinnedRepo, tmp_path: Path) -> None:
    # Check mode: should the pinning ever stop working, this test fails without changing the
    # shared lab (a real apply of this one-request repository would rewrite its zone and vhosts).
    keys = real_keys()
    address = NODES["web1"]
    others = [line for node, line in keys.items() if node != "web1"]
    repo.pin([f"{address} {another_key(tmp_path)}", *others], "web1 pinned to another key")
    before = web1_fingerprint()

    rc, record, out = repo.apply("--check")

    assert rc != 0
    assert record is not None, out
    stats = record["ansible"]["stats"]
    assert set(stats.get("dark", {})) == {"web1"}, stats  # web1 refused, the others reached
    # (web1's few `ok` are the argument and input checks, which run on the controller)
    expected = (
        "web1: the SSH host key does not match inventories/lab/known_hosts: if the server was"
        " reinstalled, verify its new key out of band and replace the line; nothing was changed"
        " on web1"
    )
    assert expected in {s["message"] for s in record["sites"]}, record["sites"]
    assert all(s["result"] == "failed" for s in record["sites"] if "web1" in s["nodes"])
    assert web1_fingerprint() == before
    # ssh did not learn the other key: the file is as committed
    assert keys["web1"].split()[2] not in repo.known_hosts.read_text()
    assert len(repo.known_hosts.read_text().splitlines()) == len(NODES)
