"""Asking a node's `opdhost-backup` (roles/backup) over SSH, as Ansible reaches the node.

The repository password never leaves the node, so every backup, listing and restore runs
there; the controller sends a command line and reads one JSON answer. The SSH command line
is opdhost.apply.state's `ssh_target` (the inventory's host, user, key, options and pinned
host keys), not a second reading of the inventory.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opdhost.apply.state import ssh_target
from opdhost.backup import BackupError

HELPER = "/usr/local/sbin/opdhost-backup"
TIMEOUT = 6 * 3600.0  # a nightly-sized run over SSH; restic reports its own progress on the node

Call = Callable[[str, list[str]], Any]
"""(node, arguments of opdhost-backup) -> its JSON answer; raises BackupError."""


def ssh_call(inventory: Path, timeout: float = TIMEOUT) -> Call:
    """A Call through SSH for the nodes of `inventory` (its hosts.yml)."""
    hosts = inventory / "hosts.yml" if inventory.is_dir() else inventory
    targets: dict[str, tuple[str, ...]] = {}

    def call(node: str, args: list[str]) -> Any:
        if node not in targets:
            targets[node] = ssh_target(hosts, node).argv
        remote = " ".join(shlex.quote(a) for a in [HELPER, *args])
        try:
            done = subprocess.run(
                [*targets[node], remote],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackupError(f"{node}: cannot run opdhost-backup: {exc}") from exc
        return answer(node, done.returncode, done.stdout, done.stderr)

    return call


def answer(node: str, rc: int, stdout: str, stderr: str) -> Any:
    """The JSON answer of opdhost-backup, or BackupError saying what went wrong on `node`."""
    try:
        data = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else None
    except ValueError:
        data = None
    if isinstance(data, dict) and "error" in data:
        raise BackupError(f"{node}: {data['error']}")
    if data is None:
        why = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {rc}"
        if rc == 127 or "opdhost-backup: not found" in stderr or "No such file" in stderr:
            raise BackupError(
                f"{node}: opdhost-backup is not installed ({why})",
                hint="`opdhost apply --all` installs roles/backup where the platform file "
                "has opdhost_backup",
            )
        raise BackupError(f"{node}: opdhost-backup gave no answer: {why}")
    return data
