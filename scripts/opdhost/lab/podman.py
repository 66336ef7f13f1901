"""The one place that runs podman: argument lists only (never a shell), with timeouts.

Every other lab module goes through `Podman`, so the exact commands the lab issues can be
read in one file, and failures come back as `PodmanError` instead of raw exit codes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from opdhost.lab.errors import PodmanError

# Podman's own messages that mean "the host is not configured", mapped to the fix.
_KNOWN_FAILURES = {
    "setrlimit": "Podman lacks the ulimit settings these hosts need: run scripts/setup.sh",
    "crun": "Podman must use runc on these hosts: run scripts/setup.sh",
    "subnet": "another Podman network already uses this subnet: remove it or run "
    "`opdhost lab down`",
    "already in use": "something else holds this name or address: run `opdhost lab down`",
}


def _hint_for(stderr: str) -> str:
    low = stderr.lower()
    return next((hint for key, hint in _KNOWN_FAILURES.items() if key in low), "")


class Podman:
    """Thin typed wrapper over the podman CLI."""

    def __init__(self, binary: str = "podman", timeout: float = 120.0) -> None:
        self.binary = binary
        self.timeout = timeout

    @staticmethod
    def available(binary: str = "podman") -> bool:
        """True when the podman executable is on PATH."""
        return shutil.which(binary) is not None

    def run(
        self, args: Sequence[str], *, check: bool = True, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `podman ARGS`; raise PodmanError on failure when `check`."""
        argv = [self.binary, *args]
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                timeout=timeout or self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PodmanError(argv, None, str(exc.stderr or "")) from exc
        if check and proc.returncode != 0:
            raise PodmanError(argv, proc.returncode, proc.stderr, _hint_for(proc.stderr))
        return proc

    def _inspect(self, kind: str, name: str) -> dict[str, Any] | None:
        proc = self.run([kind, "inspect", name], check=False)
        if proc.returncode != 0:
            return None
        data = json.loads(proc.stdout or "[]")
        return data[0] if data else None

    def container(self, name: str) -> dict[str, Any] | None:
        """`podman container inspect` of one container, or None if it does not exist."""
        return self._inspect("container", name)

    def image(self, name: str) -> dict[str, Any] | None:
        """`podman image inspect` of one image, or None if it does not exist."""
        return self._inspect("image", name)

    def network(self, name: str) -> dict[str, Any] | None:
        """`podman network inspect` of one network, or None if it does not exist."""
        return self._inspect("network", name)

    def info(self, template: str) -> str:
        """One field of `podman info`, rendered with a Go template."""
        return self.run(["info", "--format", template]).stdout.strip()

    def create_network(
        self, name: str, subnet: str, gateway: str, ip_range: str, labels: dict[str, str]
    ) -> None:
        """Create a bridge network with a fixed subnet."""
        args = ["network", "create", "--subnet", subnet, "--gateway", gateway]
        args += ["--ip-range", ip_range]
        for key, value in labels.items():
            args += ["--label", f"{key}={value}"]
        self.run([*args, name])

    def remove_network(self, name: str) -> None:
        """Remove a network by name (never forced: other users' containers keep it alive)."""
        self.run(["network", "rm", name])

    def containers_on_network(self, name: str) -> list[str]:
        """Names of all containers (any state) attached to a network."""
        proc = self.run(["ps", "-a", "--filter", f"network={name}", "--format", "{{.Names}}"])
        return proc.stdout.split()

    def run_container(self, args: Sequence[str]) -> str:
        """`podman run -d ARGS`; returns the new container's id."""
        return self.run(["run", "-d", *args]).stdout.strip()

    def remove_container(self, name: str) -> None:
        """Remove one container by exact name, with its anonymous volumes, at once."""
        self.run(["rm", "-f", "-v", "-t", "0", name])

    def exec(
        self, name: str, argv: Sequence[str], *, check: bool = False, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside a container (no shell)."""
        return self.run(["exec", name, *argv], check=check, timeout=timeout)
