"""One apply at a time per inventory: an exclusive, non-blocking lock with a clear message.

Two applies racing on the same hosts would interleave handler reloads and write the applied
state twice. The lock is a `flock` on a file named after the inventory's absolute path, so it
is released by the kernel when the holder dies (an interrupted apply never leaves a stale lock)
and it never blocks: the second apply fails at once and says who holds it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from opdhost.errors import OpdhostError

LOCK_DIR = Path(os.environ.get("OPDHOST_LOCK_DIR", "/run/lock"))


class LockedError(OpdhostError):
    """Another apply holds the inventory's lock."""


def lock_path(inventory: Path, lock_dir: Path | None = None) -> Path:
    """The lock file of one inventory (same inventory path = same lock)."""
    key = hashlib.sha256(str(inventory.resolve()).encode()).hexdigest()[:16]
    return (lock_dir or LOCK_DIR) / f"opdhost-apply-{key}.lock"


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info.get("since", 0))))
    return f"pid {info.get('pid', '?')} ({info.get('who', '?')}, since {started})"


@contextmanager
def apply_lock(inventory: Path, lock_dir: Path | None = None) -> Iterator[Path]:
    """Hold the inventory's apply lock for the block, or raise LockedError at once."""
    path = lock_path(inventory, lock_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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
