"""What the lab is: its network, its nodes and their services, and pure rules over them.

Kept free of I/O so the rules (container arguments, when to recreate, what is healthy) are
unit-tested without containers. The addresses follow docs/contracts.md.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from opdhost.lab.quotafs import QuotaFs
from opdhost.lab.ssh import AUTHORIZED_KEYS, AuthorizedKey

NETWORK = "opdhost-lab"
SUBNET = "10.203.0.0/24"
GATEWAY = "10.203.0.1"
# Dynamic leases stay in .1-.63, away from the web nodes' site pools (.100-.249).
IP_RANGE = "10.203.0.0/26"
IMAGE = "localhost/opdhost-node:bookworm"
PREFIX = "opdhost-lab-"
LABEL = "opdhost.lab"
SPEC_LABEL = "opdhost.lab.spec"


@dataclass(frozen=True)
class Node:
    """One lab node: its address, the services it must run, extra capabilities, and the paths
    that get a quota-enabled file system of their own (opdhost.lab.quotafs)."""

    name: str
    address: str
    services: tuple[str, ...]
    caps: tuple[str, ...] = ()
    quota_paths: tuple[str, ...] = ()

    @property
    def container(self) -> str:
        """The container's name, the only handle the lab uses to find or remove it."""
        return PREFIX + self.name

    @property
    def quota_filesystems(self) -> tuple[QuotaFs, ...]:
        """The host-side file systems `opdhost lab up` makes and mounts into this node."""
        return tuple(QuotaFs(self.name, path) for path in self.quota_paths)


WEB_SERVICES = ("apache2", "php8.2-fpm", "ssh")
# postgresql.service is a no-op umbrella, active even when the cluster is down: the
# cluster's own unit is what tells whether PostgreSQL answers.
DB_SERVICES = ("mariadb", "postgresql", "postgresql@15-main", "ssh")

# Every node runs sshd: Ansible reaches the lab over SSH (opdhost.lab.ssh). Two nodes per web
# and database role, so an apply is seen to visit only the nodes of the sites it changes, and
# to run them side by side (tests/e2e/test_multinode.py); db1 and db2 each serve both engines.
NODES: tuple[Node, ...] = (
    # NET_ADMIN: tc and the site IPs. SYS_ADMIN: the web role creates each site's btrfs
    # subvolume and sets its quota-group limit, as it does as root on a production node;
    # /srv/www is the quota-enabled btrfs.
    Node("web1", "10.203.0.11", WEB_SERVICES, ("NET_ADMIN", "SYS_ADMIN"), ("/srv/www",)),
    Node("web2", "10.203.0.12", WEB_SERVICES, ("NET_ADMIN", "SYS_ADMIN"), ("/srv/www",)),
    Node("db1", "10.203.0.21", DB_SERVICES),
    Node("db2", "10.203.0.22", DB_SERVICES),
    Node("ns1", "10.203.0.31", ("named", "ssh")),
    Node("ns2", "10.203.0.32", ("named", "ssh")),
)


def spec_hash(node: Node, image_id: str, ssh_key_id: str = "") -> str:
    """A short hash of everything that, when changed, means the container must be recreated
    (the image, the address, the capabilities, the SSH key mounted into it)."""
    spec: dict[str, object] = {
        "node": node.name, "address": node.address, "caps": node.caps, "image": image_id
    }  # fmt: skip
    if node.quota_paths:
        spec["quota_paths"] = node.quota_paths
    spec["mac"] = mac_address(node.address)
    if ssh_key_id:
        spec["ssh_key"] = ssh_key_id
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def run_args(node: Node, image_id: str, ssh_key: AuthorizedKey | None = None) -> list[str]:
    """Arguments for `podman run -d` that create the node's container; `ssh_key` is mounted
    read-only as root's authorized_keys."""
    args = [
        "--name", node.container,
        "--hostname", node.name,
        "--network", f"{NETWORK}:ip={node.address},mac={mac_address(node.address)}",
        "--network-alias", node.name,
        "--systemd", "always",
        "--label", f"{LABEL}=1",
        "--label", f"{LABEL}.node={node.name}",
        "--label", f"{SPEC_LABEL}={spec_hash(node, image_id, ssh_key.id if ssh_key else '')}",
    ]  # fmt: skip
    if ssh_key is not None:
        args += ["--volume", f"{ssh_key.path}:{AUTHORIZED_KEYS}:ro"]
    for cap in node.caps:
        args += ["--cap-add", cap]
    for fs in node.quota_filesystems:
        args += ["--volume", fs.volume_arg()]
    return [*args, IMAGE, "/sbin/init"]


def mac_address(address: str) -> str:
    """A fixed, locally administered MAC derived from the node's address.

    Podman gives a restarted container a new random MAC, and the host keeps the old one in its
    neighbour table long enough that SSH from the host times out (seen after `podman stop` /
    `start` of db1). A fixed MAC makes a restart look like a server's reboot.
    """
    octets = [int(o) for o in address.split(".")]
    return "02:6f:" + ":".join(f"{o:02x}" for o in octets)


def container_address(info: dict[str, Any]) -> str:
    """The container's address on the lab network, or '' when it is not attached."""
    networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
    return str((networks.get(NETWORK) or {}).get("IPAddress") or "")


def container_state(info: dict[str, Any] | None) -> str:
    """'missing', or podman's state word (running, exited, created, ...)."""
    if info is None:
        return "missing"
    return str((info.get("State") or {}).get("Status") or "unknown")


# `systemctl is-system-running` answers in which systemd accepts and runs start jobs.
SYSTEMD_USABLE = frozenset({"initializing", "starting", "running", "degraded"})


def recreate_reason(
    node: Node,
    info: dict[str, Any] | None,
    image_id: str,
    systemd: str = "running",
    ssh_key_id: str = "",
) -> str:
    """Why an existing container cannot be reused ('' = reuse it; None info = create).

    `systemd` is the container's `systemctl is-system-running` answer ('' if it gave none).
    """
    if info is None:
        return ""
    labels = (info.get("Config") or {}).get("Labels") or {}
    state = container_state(info)
    if labels.get(LABEL) != "1":
        return "not made by `opdhost lab`"
    if state != "running":
        return f"container is {state}"
    if labels.get(SPEC_LABEL) != spec_hash(node, image_id, ssh_key_id):
        return "image or settings changed"
    if container_address(info) != node.address:
        return "wrong address"
    if systemd not in SYSTEMD_USABLE:
        return f"systemd is {systemd or 'not answering'}"
    return ""


@dataclass
class NodeStatus:
    """What `opdhost lab status` reports for one node."""

    node: Node
    state: str
    address: str = ""
    services: dict[str, bool] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        """Running, on its contract address, every service active."""
        return (
            self.state == "running"
            and self.address == self.node.address
            and all(self.services.get(s, False) for s in self.node.services)
        )


def parse_is_active(services: tuple[str, ...], stdout: str) -> dict[str, bool]:
    """Map `systemctl is-active A B C` output (one word per line, in order) to booleans."""
    words = stdout.split()
    return {s: (words[i] == "active" if i < len(words) else False) for i, s in enumerate(services)}
