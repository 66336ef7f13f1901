"""Bring the lab up, take it down, report its state: the orchestration over lab_nodes rules.

`up` is idempotent (reuse what is healthy, recreate what is not, start what is stopped) so a
second run after any failure recovers; `down` removes only the lab's own containers and
network, by exact name. Nothing here prints: results are returned, faults raised as LabError.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opdhost.apply.lock import LockDirError, default_lock_dir, open_private
from opdhost.lab import quotafs
from opdhost.lab import ssh as lab_ssh
from opdhost.lab.errors import LabError, PreflightError, ServiceError
from opdhost.lab.nodes import (
    GATEWAY,
    IMAGE,
    IP_RANGE,
    LABEL,
    NETWORK,
    NODES,
    SUBNET,
    SYSTEMD_USABLE,
    Node,
    NodeStatus,
    container_address,
    container_state,
    parse_is_active,
    recreate_reason,
    run_args,
)
from opdhost.lab.podman import Podman

BASE_IMAGE = "localhost/opdhost-base:bookworm"
CONTAINERS_CONF = Path("/etc/containers/containers.conf")
LOCK_NAME = "opdhost-lab.lock"
BOOT_TIMEOUT = 60.0
SERVICE_TIMEOUT = 120.0


@dataclass(frozen=True)
class HostFacts:
    """What preflight needs to know about the machine, gathered in one place."""

    euid: int
    has_podman: bool
    has_debootstrap: bool
    podman_conf: str
    image: dict[str, Any] | None
    base_image_present: bool


def preflight_problems(facts: HostFacts) -> list[tuple[str, str]]:
    """Every reason the lab cannot start, each with the command that fixes it."""
    setup = "run scripts/setup.sh as root"
    if facts.euid != 0:
        return [("the lab needs root (rootful Podman with static addresses)", "run as root")]
    if not facts.has_podman:
        return [("podman is not installed", setup)]
    problems: list[tuple[str, str]] = []
    if "default_ulimits" not in facts.podman_conf or "runc" not in facts.podman_conf:
        problems.append((f"Podman is not configured for these hosts ({CONTAINERS_CONF})", setup))
    build = "run scripts/lab/build-images.sh" if facts.has_debootstrap else setup
    if facts.image is None:
        what = "was never finished" if facts.base_image_present else "is missing"
        if not facts.has_debootstrap:
            what += " and debootstrap is not installed"
        problems.append((f"the node image {IMAGE} {what}", build))
    else:
        config = facts.image.get("Config") or {}
        if not (config.get("Labels") or {}).get("opdhost.hash") or config.get("Cmd") != [
            "/sbin/init"
        ]:
            problems.append(
                (f"the node image {IMAGE} is half-built or not made by build-images.sh", build)
            )
    return problems


def gather_facts(podman: Podman) -> HostFacts:
    """Look at the machine (read-only) for preflight."""
    has_podman = Podman.available(podman.binary)
    euid = os.geteuid()
    usable = has_podman and euid == 0
    try:
        conf = CONTAINERS_CONF.read_text(encoding="utf-8")
    except OSError:
        conf = ""
    return HostFacts(
        euid=euid,
        has_podman=has_podman,
        has_debootstrap=shutil.which("debootstrap") is not None,
        podman_conf=conf,
        image=podman.image(IMAGE) if usable else None,
        base_image_present=usable and podman.image(BASE_IMAGE) is not None,
    )


def preflight(podman: Podman) -> str:
    """Raise PreflightError unless the lab can start; return the node image's id."""
    facts = gather_facts(podman)
    problems = preflight_problems(facts)
    if problems:
        raise PreflightError(problems)
    assert facts.image is not None  # preflight_problems reports a missing image
    return str(facts.image["Id"])


@contextmanager
def _locked() -> Iterator[None]:
    """One lab operation at a time on this machine (two `up`s would race on names)."""
    try:
        fd = open_private(default_lock_dir() / LOCK_NAME)  # root-only: see opdhost.apply.lock
    except LockDirError as exc:
        raise LabError(str(exc)) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@dataclass
class NodeAction:
    """What `up` did to one node."""

    node: Node
    action: str  # created | reused | recreated
    reason: str = ""
    started: list[str] = field(default_factory=list)


@dataclass
class UpResult:
    """What `up` did, for the CLI to print."""

    network: str  # created | reused | recreated
    nodes: list[NodeAction]
    seconds: float


@dataclass
class DownResult:
    """What `down` removed."""

    removed: list[str]
    network_removed: bool


def _poll(check: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _network_ok(info: dict[str, Any]) -> bool:
    subnets = info.get("subnets") or []
    return any(s.get("subnet") == SUBNET and s.get("gateway") == GATEWAY for s in subnets)


def _ensure_network(podman: Podman) -> str:
    info = podman.network(NETWORK)
    if info is not None and _network_ok(info):
        return "reused"
    action = "created"
    if info is not None:
        for node in NODES:
            if podman.container(node.container) is not None:
                podman.remove_container(node.container)
        podman.remove_network(NETWORK)
        action = "recreated"
    podman.create_network(NETWORK, SUBNET, GATEWAY, IP_RANGE, {LABEL: "1"})
    return action


def _systemd_state(podman: Podman, node: Node) -> str:
    proc = podman.exec(node.container, ["systemctl", "is-system-running"], timeout=10)
    return proc.stdout.strip()


def _ensure_container(
    podman: Podman, node: Node, image_id: str, recreate: bool, ssh_key: lab_ssh.AuthorizedKey
) -> NodeAction:
    info = podman.container(node.container)
    systemd = _systemd_state(podman, node) if container_state(info) == "running" else ""
    reason = "asked to recreate" if info is not None and recreate else ""
    reason = reason or recreate_reason(node, info, image_id, systemd, ssh_key.id)
    if info is not None and not reason:
        return NodeAction(node, "reused")
    if info is not None:
        podman.remove_container(node.container)
    for fs in node.quota_filesystems:  # a new container gets a new, empty file system
        quotafs.make(fs)
    podman.run_container(run_args(node, image_id, ssh_key))
    return NodeAction(node, "recreated" if info is not None else "created", reason)


def _active(podman: Podman, node: Node) -> dict[str, bool]:
    proc = podman.exec(node.container, ["systemctl", "is-active", *node.services], timeout=30)
    return parse_is_active(node.services, proc.stdout)


def _start_services(podman: Podman, done: NodeAction) -> None:
    """Wait for systemd, enable and start the node's services, wait until they are active."""
    node = done.node

    def booted() -> bool:
        return _systemd_state(podman, node) in SYSTEMD_USABLE

    if not _poll(booted, BOOT_TIMEOUT):
        raise ServiceError(
            f"{node.name}: systemd did not come up within {BOOT_TIMEOUT:.0f} s",
            f"see `podman logs {node.container}`; then run `opdhost lab up --recreate`",
        )
    inactive = [s for s, ok in _active(podman, node).items() if not ok]
    if not inactive:
        return
    podman.exec(
        node.container, ["systemctl", "enable", "--now", *inactive], timeout=SERVICE_TIMEOUT
    )
    if not _poll(lambda: all(_active(podman, node).values()), SERVICE_TIMEOUT, 0.5):
        failed = [s for s, ok in _active(podman, node).items() if not ok]
        raise ServiceError(
            f"{node.name}: {', '.join(failed)} did not become active",
            f"see `podman exec {node.container} journalctl -u {failed[0]} --no-pager -n 50`; "
            "then run `opdhost lab up` (or `opdhost lab up --recreate` to start afresh)",
        )
    done.started = inactive


def up(podman: Podman | None = None, *, recreate: bool = False) -> UpResult:
    """Create or repair the lab until every node runs its services.

    `recreate` replaces every node's container even when it is healthy (a fresh lab).
    """
    podman = podman or Podman()
    start = time.monotonic()
    image_id = preflight(podman)
    with _locked():
        ssh_key = lab_ssh.ensure_key()
        network = _ensure_network(podman)
        actions = [_ensure_container(podman, node, image_id, recreate, ssh_key) for node in NODES]
        with ThreadPoolExecutor(max_workers=len(actions)) as pool:
            futures = [pool.submit(_start_services, podman, a) for a in actions]
            errors = [f.exception() for f in futures]
        failures = [e for e in errors if e is not None]
        if len(failures) == 1 and isinstance(failures[0], LabError):
            raise failures[0]
        if failures:
            raise LabError(
                "; ".join(str(e) for e in failures), "then run `opdhost lab up` again"
            ) from failures[0]
    return UpResult(network, actions, time.monotonic() - start)


def status(podman: Podman | None = None) -> tuple[bool, list[NodeStatus]]:
    """Each node's container state, address and services; True when all are healthy."""
    podman = podman or Podman()
    if os.geteuid() != 0 or not Podman.available(podman.binary):
        raise PreflightError(preflight_problems(gather_facts(podman))[:1])
    network = podman.network(NETWORK) is not None
    result: list[NodeStatus] = []
    for node in NODES:
        info = podman.container(node.container)
        st = NodeStatus(node, container_state(info))
        if info is not None:
            st.address = container_address(info)
        st.services = {s: False for s in node.services}
        if st.state == "running":
            st.services = _active(podman, node)
        result.append(st)
    return network and all(s.healthy for s in result), result


def down(podman: Podman | None = None) -> DownResult:
    """Remove the lab's containers and network, by name; nothing else."""
    podman = podman or Podman()
    if os.geteuid() != 0 or not Podman.available(podman.binary):
        raise PreflightError(preflight_problems(gather_facts(podman))[:1])
    removed: list[str] = []
    with _locked():
        for node in NODES:
            if podman.container(node.container) is not None:
                podman.remove_container(node.container)
                removed.append(node.container)
            for fs in node.quota_filesystems:
                if quotafs.remove(fs):
                    removed.append(str(fs.image))
        if podman.network(NETWORK) is None:
            return DownResult(removed, False)
        others = podman.containers_on_network(NETWORK)
        if others:
            raise LabError(
                f"network {NETWORK} is still used by {', '.join(others)} (not the lab's)",
                "remove those containers yourself; `opdhost lab down` only removes its own",
            )
        podman.remove_network(NETWORK)
    return DownResult(removed, True)
