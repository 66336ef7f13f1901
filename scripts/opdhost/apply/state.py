"""Where the applied state and the apply lock live: with the platform, not in one checkout.

A pipeline runner starts from a fresh shallow clone with no records; a laptop may apply while
the pipeline does. Both must see the same applied state and the same lock, so when the
platform file names a state node (`opdhost_state: {node: ns1, directory: /var/lib/opdhost}`)
both live on that node, reached over SSH exactly as Ansible reaches it (the inventory's host,
user, key and SSH options, host key pinning included):

- `<directory>/<env>/applied.json`: the applied state, with a copy of the request files it was
  applied from (so a clone without history can still plan against it); written to a temporary
  file, fsynced, renamed, directory fsynced.
- `<directory>/<env>/apply.lock`: a `flock` held by a small process on the node for as long as
  the apply's SSH session lives: a dead apply (killed, its machine gone) drops its SSH session
  and with it the lock. Beside it, `holder.json` says who holds it, since when, from where.
- `<directory>/<env>/lock-breaks.log`: one JSON line per lock broken on purpose
  (`opdhost lock break`), when a holder hangs on (a network partition) and a person decides.

Without `opdhost_state` the state stays in the records directory and the lock is local
(the lab's default: several lab repositories share the same containers).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from opdhost.apply.lock import LockedError, apply_lock
from opdhost.apply.records import AppliedState, Records, RecordsError
from opdhost.errors import OpdhostError
from opdhost.fleet.platform import Platform

SSH_TIMEOUT = 60.0
LOCK_BUSY = 75  # EX_TEMPFAIL: the remote helper's exit status when the lock is held

# The helper run on the state node (python3 is on every node: Ansible needs it). It reads its
# operation from argv and data from stdin, and never prints anything but its answer.
_REMOTE = r"""
import fcntl, json, os, signal, sys, time
op, base = sys.argv[1], sys.argv[2]
os.makedirs(base, mode=0o700, exist_ok=True)
state, lock, holder = (os.path.join(base, n) for n in ("applied.json", "apply.lock", "holder.json"))

def write(path, data):
    tmp = path + ".tmp-%d" % os.getpid()
    with open(tmp, "wb") as fh:
        fh.write(data); fh.flush(); os.fsync(fh.fileno())
    os.chmod(tmp, 0o600); os.replace(tmp, path)
    d = os.open(base, os.O_RDONLY); os.fsync(d); os.close(d)

def read_holder():
    try:
        with open(holder) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}

if op == "read":
    try:
        with open(state, "rb") as fh:
            sys.stdout.buffer.write(fh.read())
    except FileNotFoundError:
        sys.stdout.write("{}")
elif op == "write":
    write(state, sys.stdin.buffer.read())
elif op == "lock":
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.stdout.write(json.dumps(read_holder())); sys.exit(75)
    info = json.loads(sys.stdin.readline() or "{}")
    info["pid"] = os.getpid()
    write(holder, json.dumps(info).encode())
    sys.stdout.write("LOCKED\n"); sys.stdout.flush()
    sys.stdin.read()  # until the apply closes its session, or dies and the session drops
    write(holder, b"{}")
elif op == "holder":
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        sys.stdout.write("{}")
    except BlockingIOError:
        sys.stdout.write(json.dumps(read_holder()))
elif op == "break":
    info = read_holder()
    pid = int(info.get("pid") or 0)
    entry = json.loads(sys.stdin.read() or "{}")
    entry["holder"] = info
    if pid > 0:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    with open(os.path.join(base, "lock-breaks.log"), "a") as fh:
        fh.write(json.dumps(entry) + "\n"); fh.flush(); os.fsync(fh.fileno())
    sys.stdout.write(json.dumps(info))
"""


class StateError(OpdhostError):
    """The state node could not be reached or answered nonsense."""


class StateStore(Protocol):
    """Where one environment's applied state and apply lock live."""

    @property
    def where(self) -> str:
        """For messages: where the state is."""

    def lock(self) -> AbstractContextManager[None]:
        """Hold the apply lock for the block, or raise LockedError at once."""

    def load(self) -> AppliedState:
        """The last applied state (empty when nothing was applied)."""

    def save(self, state: AppliedState) -> None:
        """Write the applied state durably."""


@dataclass
class LocalStore:
    """The state in the records directory and a lock on this machine (the lab's default)."""

    records: Records
    inventory: Path

    @property
    def where(self) -> str:
        """For messages: where the state is."""
        return str(self.records.state_path)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """The local flock of the inventory (opdhost.apply.lock)."""
        with apply_lock(self.inventory):
            yield

    def load(self) -> AppliedState:
        """records/<env>/applied.json."""
        return self.records.load_state()

    def save(self, state: AppliedState) -> None:
        """records/<env>/applied.json, atomically."""
        self.records.save_state(state)


@dataclass(frozen=True)
class SshTarget:
    """How to reach one node: what Ansible would use, as an ssh command line."""

    node: str
    argv: tuple[str, ...]


def ssh_target(inventory: Path, node: str) -> SshTarget:
    """The ssh command line for `node` from the inventory (host, user, port, key, options).

    Read through Ansible's own inventory and templating, so `{{ inventory_dir }}` in the
    options and the pinned known_hosts file mean exactly what they mean to Ansible.
    """
    from ansible.inventory.manager import InventoryManager  # noqa: PLC0415 - only apply pays
    from ansible.parsing.dataloader import DataLoader  # noqa: PLC0415
    from ansible.template import Templar  # noqa: PLC0415
    from ansible.vars.manager import VariableManager  # noqa: PLC0415

    loader = DataLoader()
    hosts = InventoryManager(loader=loader, sources=[str(inventory)])
    host = hosts.get_host(node)
    if host is None:
        raise StateError(f"the state node {node!r} is not in the inventory {inventory}")
    values = VariableManager(loader=loader, inventory=hosts).get_vars(host=host)
    templar = Templar(loader=loader, variables=values)

    def var(name: str) -> str:
        value = values.get(name)
        return "" if value is None else str(templar.template(value))

    key = var("ansible_ssh_private_key_file") or os.environ.get("ANSIBLE_PRIVATE_KEY_FILE", "")
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=15"]
    argv += ["-o", "ServerAliveCountMax=4"]
    if key:
        argv += ["-i", key]
    if var("ansible_port"):
        argv += ["-p", var("ansible_port")]
    argv += shlex.split(var("ansible_ssh_common_args"))
    user = var("ansible_user")
    address = var("ansible_host") or node
    argv.append(f"{user}@{address}" if user else address)
    return SshTarget(node, tuple(argv))


def who() -> dict[str, Any]:
    """Who is applying, for the lock's holder record: user, machine, CI job, since when."""
    user = os.environ.get("GITLAB_USER_LOGIN") or os.environ.get("GITHUB_ACTOR")
    user = user or os.environ.get("USER") or str(os.getuid())
    job = os.environ.get("CI_JOB_URL") or os.environ.get("GITHUB_RUN_ID") or ""
    return {
        "who": f"{user}@{socket.gethostname()}",
        "ci_job": job,
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "local_pid": os.getpid(),
    }


def describe(holder: dict[str, Any]) -> str:
    """`alice@laptop (CI job ..., since 2026-12-02T06:30:00Z)` for messages."""
    job = f"CI job {holder['ci_job']}, " if holder.get("ci_job") else ""
    return f"{holder.get('who', 'someone')} ({job}since {holder.get('since', '?')})"


@dataclass
class PlatformStore:
    """The state and the lock on the platform's state node (see the module docstring)."""

    target: SshTarget
    directory: str
    records: Records

    @property
    def where(self) -> str:
        """For messages: where the state is."""
        return f"{self.target.node}:{self.directory}"

    def _command(self, op: str) -> list[str]:
        remote = f"python3 -c {shlex.quote(_REMOTE)} {op} {shlex.quote(self.directory)}"
        return [*self.target.argv, remote]

    def _run(self, op: str, data: bytes = b"") -> bytes:
        try:
            done = subprocess.run(
                self._command(op),
                input=data,
                capture_output=True,
                timeout=SSH_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StateError(f"cannot reach the state node {self.target.node}: {exc}") from exc
        if done.returncode != 0:
            why = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise StateError(
                f"the state node {self.target.node} refused `{op}`: "
                f"{why[-1] if why else done.returncode}"
            )
        return done.stdout

    def load(self) -> AppliedState:
        """The applied state kept on the state node."""
        raw = self._run("read")
        try:
            return AppliedState.from_json(json.loads(raw or b"{}"))
        except (ValueError, AttributeError, TypeError) as exc:
            raise RecordsError(f"the applied state on {self.where} is not valid: {exc}") from exc

    def save(self, state: AppliedState) -> None:
        """Write it on the state node (durably), and a copy in the local records to read."""
        self._run("write", json.dumps(state.to_json(), indent=1).encode())
        self.records.save_state(state)

    def holder(self) -> dict[str, Any]:
        """Who holds the lock now ({} when free)."""
        return dict(json.loads(self._run("holder") or b"{}"))

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the platform's apply lock while the block runs; LockedError names the holder."""
        try:
            proc = subprocess.Popen(
                self._command("lock"),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise StateError(f"cannot run ssh: {exc.strerror}") from exc
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write((json.dumps(who()) + "\n").encode())
            proc.stdin.flush()
            answer = proc.stdout.readline()
        except OSError:
            answer = b""
        if answer != b"LOCKED\n":
            rest = answer + proc.stdout.read()
            proc.wait(timeout=SSH_TIMEOUT)
            if proc.returncode == LOCK_BUSY:
                holder = json.loads(rest or b"{}")
                raise LockedError(
                    f"another `opdhost apply` holds the platform's lock on {self.where}: "
                    f"{describe(holder)}",
                    hint="wait for it to finish; if that run is dead and its lock stays, "
                    "`opdhost lock break --reason ...` (recorded)",
                )
            why = (proc.stderr.read() if proc.stderr else b"").decode("utf-8", "replace")
            raise StateError(
                f"cannot take the platform's lock on {self.where}: "
                f"{why.strip().splitlines()[-1] if why.strip() else proc.returncode}"
            )
        try:
            yield
        finally:
            proc.stdin.close()
            try:
                proc.wait(timeout=SSH_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()

    def break_lock(self, reason: str) -> dict[str, Any]:
        """End the holder's session on the node and log who broke it, when and why."""
        entry = {**who(), "reason": reason}
        return dict(json.loads(self._run("break", json.dumps(entry).encode()) or b"{}"))


def state_store(platform: Platform, inventory: Path, records: Records) -> StateStore:
    """The platform's store when its file names a state node, else the local one."""
    if platform.state is None:
        return LocalStore(records, inventory)
    target = ssh_target(inventory, platform.state.node)
    directory = f"{platform.state.directory.rstrip('/')}/{platform.environment or 'default'}"
    return PlatformStore(target, directory, records)
