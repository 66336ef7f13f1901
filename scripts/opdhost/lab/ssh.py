"""The lab's SSH access: one key pair on the host, its public half in every node.

Ansible reaches the lab nodes over SSH, as it reaches real servers, because the SSH connection
can pipeline (one round trip per task) where `podman exec` cannot (several per task, measured
about 6x slower per task, docs/apply.md). The key lives outside the repository, root-only, and
is mounted read-only as root's authorized_keys when `opdhost lab up` creates a container.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from opdhost.lab.errors import LabError

# The inventory (inventories/lab/hosts.yml) names this path; a unit test keeps them equal.
KEY = Path("/var/lib/opdhost/lab/id_ed25519")
PUBLIC_KEY = KEY.with_name(KEY.name + ".pub")
AUTHORIZED_KEYS = "/root/.ssh/authorized_keys"


@dataclass(frozen=True)
class AuthorizedKey:
    """The public half as the lab mounts it: its file, and a short name for its content."""

    path: Path
    id: str


def ensure_key(key: Path = KEY) -> AuthorizedKey:
    """Make the key pair once (never replaced while both halves exist)."""
    public = key.with_name(key.name + ".pub")
    if not (key.is_file() and public.is_file()):
        key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key.unlink(missing_ok=True)
        public.unlink(missing_ok=True)
        proc = subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "opdhost-lab", "-f", str(key)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise LabError(
                f"could not make the lab's SSH key {key}: {proc.stderr.strip()}",
                "install openssh-client (scripts/setup.sh does) and run `opdhost lab up` again",
            )
    public.chmod(0o644)  # sshd's StrictModes refuses a group- or world-writable file
    return AuthorizedKey(public, key_id(public.read_text(encoding="utf-8").strip()))


def key_id(public_line: str) -> str:
    """A short, stable name for the public key (part of each container's spec hash)."""
    return hashlib.sha256(public_line.encode()).hexdigest()[:16]
