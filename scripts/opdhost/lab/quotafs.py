"""Quota-enabled file systems for lab nodes: a loop-mounted btrfs image per node path.

The web role enforces each site's `storage_mb` with one btrfs subvolume per site home and a
quota-group limit on it (roles/apache_vhost, docs/production.md "Storage quotas"), and refuses a
node whose `/srv/www` has no quotas. This machine's kernel has no CONFIG_QUOTA, so ext4 and XFS
user or project quotas cannot be shown here; btrfs quota groups work (../shared/DESIGN.md). A
container cannot make or mount a file system, so `opdhost lab up` makes one on the host for
each such path of a node it creates, and bind-mounts it into the container: from inside, the
node looks like a production web node with `/srv/www` on btrfs with quotas enabled.

The file system belongs to the container: it is made afresh whenever the container is created or
recreated (a new node has no accounts, so old homes on it would be orphans), and removed by
`opdhost lab down`. Every step starts from "unmount if mounted", so a run that died halfway is
repaired by the next `opdhost lab up`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from opdhost.lab.errors import LabError

LAB_DIR = Path("/var/lib/opdhost/lab")
# Sparse: the image takes only what is written. Large enough for every lab site's storage_mb
# (the tests write tens of MiB), small enough that a host with a few GiB free is not promised
# space it does not have.
IMAGE_SIZE = "16G"

Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )


@dataclass(frozen=True)
class QuotaFs:
    """One quota-enabled file system: `path` inside node `node`, an image file on the host."""

    node: str
    path: str

    @property
    def slug(self) -> str:
        """`web1-srv-www` for web1's /srv/www: names the image and the host mount point."""
        return self.node + "-" + self.path.strip("/").replace("/", "-")

    @property
    def image(self) -> Path:
        """The sparse image file on the host."""
        return LAB_DIR / f"{self.slug}.btrfs"

    @property
    def mountpoint(self) -> Path:
        """Where the host mounts the image; the container bind-mounts this directory."""
        return LAB_DIR / "mnt" / self.slug

    def volume_arg(self) -> str:
        """The `podman run --volume` value."""
        return f"{self.mountpoint}:{self.path}"


def _unescape(field: str) -> str:
    """/proc/self/mountinfo escapes space, tab, newline and backslash as octal."""
    return field.encode().decode("unicode_escape") if "\\" in field else field


def mounted(mountpoint: Path, mountinfo: str | None = None) -> bool:
    """True when something is mounted exactly at `mountpoint` (in this mount namespace)."""
    if mountinfo is None:
        mountinfo = Path("/proc/self/mountinfo").read_text(encoding="utf-8")
    target = os.path.normpath(str(mountpoint))
    return any(
        len(fields) > 4 and _unescape(fields[4]) == target
        for fields in (line.split(" ") for line in mountinfo.splitlines())
    )


def _check(proc: subprocess.CompletedProcess[str], what: str, fs: QuotaFs) -> None:
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(
            f"{fs.node}: could not {what} for {fs.path} ({detail[-1] if detail else 'no output'})",
            "install btrfs-progs and make sure loop devices work (scripts/setup.sh; "
            "`losetup -f` must name one); then run `opdhost lab up` again",
        )


def unmount(fs: QuotaFs, run: Runner = _run) -> None:
    """Unmount the host's mount of `fs` if there is one (the loop device goes with it)."""
    if mounted(fs.mountpoint):
        _check(run(["umount", str(fs.mountpoint)]), "unmount the old file system", fs)


def make(fs: QuotaFs, run: Runner = _run) -> None:
    """A fresh, empty btrfs with quotas enabled, mounted at `fs.mountpoint`.

    Called only before the node's container is created, so nothing else uses the old one.
    """
    unmount(fs, run)
    fs.mountpoint.mkdir(mode=0o755, parents=True, exist_ok=True)
    LAB_DIR.chmod(0o700)  # the lab's SSH key lives here too: root only
    fs.image.unlink(missing_ok=True)
    _check(run(["truncate", "-s", IMAGE_SIZE, str(fs.image)]), "create the image file", fs)
    fs.image.chmod(0o600)
    _check(run(["mkfs.btrfs", "-q", "-f", "-L", fs.slug, str(fs.image)]), "make a btrfs", fs)
    _check(
        run(["mount", "-o", "loop,noatime", str(fs.image), str(fs.mountpoint)]),
        "mount the btrfs image",
        fs,
    )
    _check(run(["btrfs", "quota", "enable", str(fs.mountpoint)]), "enable btrfs quotas", fs)


def remove(fs: QuotaFs, run: Runner = _run) -> bool:
    """Unmount and delete `fs` (after its container is gone); True when there was one."""
    existed = fs.image.exists() or mounted(fs.mountpoint)
    unmount(fs, run)
    fs.image.unlink(missing_ok=True)
    if fs.mountpoint.is_dir():
        fs.mountpoint.rmdir()
    return existed
