"""One apply at a time per inventory: an exclusive, non-blocking lock with a clear message.

Two applies racing on the same hosts would interleave handler reloads and write the applied
state twice. The lock is a `flock` on a file named after the inventory's absolute path, so it
is released by the kernel when the holder dies (an interrupted apply never leaves a stale lock)
and it never blocks: the second apply fails at once and says who holds it.

The lock files live in a directory only their user can write (root: /run/opdhost, 0700): in a
shared, world-writable place like /run/lock any local user could create the predictable file
first and hold it, stopping every apply. A lock directory or file that someone else could
write, or a link in their place, is refused.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from opdhost.errors import OpdhostError


def default_lock_dir() -> Path:
    """$OPDHOST_LOCK_DIR, else /run/opdhost for root, else a directory of the user's own."""
    configured = os.environ.get("OPDHOST_LOCK_DIR")
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return Path("/run/opdhost")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path(tempfile.gettempdir())
    return base / f"opdhost-{os.geteuid()}"


class LockedError(OpdhostError):
    """Another apply holds the inventory's lock."""


class LockDirError(OpdhostError):
    """The lock directory or file could be written by someone else: refused."""


def lock_path(inventory: Path, lock_dir: Path | None = None) -> Path:
    """The lock file of one inventory (same inventory path = same lock)."""
    key = hashlib.sha256(str(inventory.resolve()).encode()).hexdigest()[:16]
    return (lock_dir or default_lock_dir()) / f"opdhost-apply-{key}.lock"


def _private_dir(path: Path) -> None:
    """Create `path` (0700) or make sure it is a directory only this user can write."""
    with suppress(FileExistsError):
        path.mkdir(mode=0o700, parents=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise LockDirError(f"lock directory {path} is not a directory (a link?): remove it")
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise LockDirError(
            f"lock directory {path} can be written by other users (owner uid {info.st_uid}, "
            f"mode {stat.S_IMODE(info.st_mode):04o}): it must belong to uid {os.geteuid()} "
            "with mode 0700; remove it and run again"
        )


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info.get("since", 0))))
    return f"pid {info.get('pid', '?')} ({info.get('who', '?')}, since {started})"


def open_private(path: Path) -> int:
    """Open (creating) a lock file in a private directory: never a link, never another's."""
    _private_dir(path.parent)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise LockDirError(f"cannot open the lock file {path}: {exc.strerror}") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        os.close(fd)
        raise LockDirError(f"lock file {path} is not a regular file of this user: remove it")
    return fd


@contextmanager
def apply_lock(inventory: Path, lock_dir: Path | None = None) -> Iterator[Path]:
    """Hold the inventory's apply lock for the block, or raise LockedError at once."""
    path = lock_path(inventory, lock_dir)
    fd = open_private(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(
                f"another `opdhost apply` is running on inventory {inventory}: held by "
                f"{_holder(path)}; wait for it to finish, then run again"
            ) from None
        who = os.environ.get("USER") or os.environ.get("LOGNAME") or str(os.getuid())
        os.ftruncate(fd, 0)
        os.pwrite(
            fd, json.dumps({"pid": os.getpid(), "who": who, "since": time.time()}).encode(), 0
        )
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
