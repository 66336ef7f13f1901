#!/usr/bin/python3
"""Storage quotas of the site homes: one btrfs subvolume per home, its quota group limited.

Every request states `storage_mb`; without a limit one agency can fill the web node's disk for
all of them. The kernels the platform runs on here have no ext4/XFS quota support, while btrfs
quota groups work everywhere btrfs does, so a home is a subvolume and its quota group's
referenced limit is `storage_mb` MiB: a write past it fails with "Disk quota exceeded" for
that site only (root's writes into the home too), and deleting files always works, so the
agency can clean up. `logs/` is a subvolume of its own inside the home, without a limit:
Apache keeps logging a full site, so its traffic is still measured and its logs still rotate.

state=probe is read-only (and runs in check mode): it refuses a node whose www_root is not on
btrfs with quotas enabled (the check that stops an apply to a web node without quotas), and
names the touched sites whose home is missing, not a subvolume, or limited differently.
state=present makes one site right (`site`, `storage_mb`), or every site of `sites` in one
call (the role's way: one remote call per run, however many sites); an existing plain home
(made before quotas, or put back by hand) is turned into a subvolume by a reflink copy and an
atomic exchange (renameat2 RENAME_EXCHANGE), so the home path never is missing: an interrupted
run leaves at most the `.<name>.opdhost-subvol` leftover, which the next run deletes and
redoes.
state=released lifts a decommissioned site's limit so that its home can be deleted (btrfs
refuses to delete a nested subvolume while its parent's quota group is full).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import stat
import struct
import subprocess
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: apache_vhost_storage
short_description: Keep each site home a btrfs subvolume limited to its storage_mb
options:
  state:
    description: probe (read-only; refuses a node without quotas), present, or released.
    type: str
    choices: [probe, present, released]
    required: true
  www_root:
    description: Parent of the site homes; must be on btrfs with quotas enabled.
    type: path
    required: true
  sites:
    description: >-
      For probe, the touched present sites; for present without site, the sites to make
      (each with site and storage_mb).
    type: list
    elements: dict
    default: []
  site:
    description: For released, and for present of a single site, the site's name.
    type: str
  storage_mb:
    description: For present, the limit in MiB.
    type: int
"""

RETURN = r"""
quota:
  description: (probe) touched sites whose home, logs subvolume or limit is not as required.
  type: list
converted:
  description: (present) the paths turned from a plain directory into a subvolume.
  type: list
"""

BTRFS_MAGIC = 0x9123683E
FIRST_FREE_OBJECTID = 256  # the inode number of every subvolume's root directory
# _IOWR(0x94, 18, struct btrfs_ioctl_ino_lookup_args) (4096 bytes): with treeid 0 and
# objectid 256 the kernel answers the subvolume id of the fd without needing any capability.
BTRFS_IOC_INO_LOOKUP = 0xD0009412
RENAME_EXCHANGE = 2
AT_FDCWD = -100
MIB = 1024 * 1024
LEFTOVER = ".{}.opdhost-subvol"


class StorageError(Exception):
    """Something the operator has to set right; the message says what."""


def fs_type(path: str) -> str:
    """The file system type name `stat -f` reports for path ('' when it cannot tell)."""
    proc = subprocess.run(
        ["stat", "-f", "-c", "%T", "--", path], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() if proc.returncode == 0 else ""


def qgroups(www_root: str) -> dict[str, tuple[int, int | None]]:
    """qgroupid -> (referenced bytes, referenced limit or None) of www_root's file system."""
    proc = subprocess.run(
        ["btrfs", "qgroup", "show", "-re", "--raw", www_root],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        why = (proc.stderr or proc.stdout).strip().splitlines()
        raise StorageError(
            f"{www_root} has no btrfs quotas ({why[-1] if why else 'btrfs qgroup show failed'}): "
            f"storage_mb cannot be enforced. Enable them once, as root: `btrfs quota enable "
            f"{www_root}` (docs/production.md, Storage quotas)"
        )
    table: dict[str, tuple[int, int | None]] = {}
    for line in proc.stdout.splitlines():
        cols = line.split()
        if len(cols) >= 5 and "/" in cols[0] and cols[0].replace("/", "").isdigit():
            table[cols[0]] = (int(cols[1]), None if cols[3] == "none" else int(cols[3]))
    return table


def preflight(www_root: str) -> dict[str, tuple[int, int | None]]:
    """Refuse a node whose homes cannot be limited; else the quota groups."""
    kind = fs_type(www_root)
    if kind != "btrfs":
        raise StorageError(
            f"{www_root} is on {kind or 'no readable file system'}, not btrfs with quotas: "
            "storage_mb cannot be enforced, so this web node is refused. Put the site homes on "
            f"a btrfs file system mounted at {www_root} and run `btrfs quota enable {www_root}` "
            "(docs/production.md, Storage quotas)"
        )
    return qgroups(www_root)


def is_subvolume(path: str) -> bool:
    """A real directory (not a link) that is the root of a btrfs subvolume."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_ino == FIRST_FREE_OBJECTID


def subvolume_id(path: str) -> int:
    """The subvolume id (its level-0 quota group is 0/<id>) of the directory at path."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        buf = bytearray(4096)
        struct.pack_into("=QQ", buf, 0, 0, FIRST_FREE_OBJECTID)
        fcntl.ioctl(fd, BTRFS_IOC_INO_LOOKUP, buf)
        return int(struct.unpack_from("=Q", buf, 0)[0])
    finally:
        os.close(fd)


def limit_of(groups: dict[str, tuple[int, int | None]], path: str) -> int | None:
    """The referenced limit of the subvolume at path (None: no limit, or no quota group)."""
    return groups.get(f"0/{subvolume_id(path)}", (0, None))[1]


def _btrfs(*args: str) -> None:
    proc = subprocess.run(["btrfs", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise StorageError(f"btrfs {' '.join(args)}: {(proc.stderr or proc.stdout).strip()}")


def _exchange(a: str, b: str) -> None:
    """Swap two paths atomically: at every instant both names exist."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise StorageError(f"could not exchange {a} and {b}: {os.strerror(err)}")


def ensure_subvolume(path: str) -> str:
    """Make path a subvolume, keeping what a plain directory there held.

    Returns what was done: '' (nothing), 'cleaned' (an interrupted run's leftover removed),
    'created' or 'converted' (a plain directory turned into a subvolume).
    """
    parent, name = os.path.split(path)
    temp = os.path.join(parent, LEFTOVER.format(name))
    cleaned = os.path.lexists(temp)
    if cleaned:  # an interrupted conversion: a partial copy, or the old tree after the swap
        shutil.rmtree(temp)
    if is_subvolume(path):
        return "cleaned" if cleaned else ""
    if not os.path.lexists(path):
        _btrfs("subvolume", "create", path)
        return "created"
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise StorageError(f"{path} is not a directory; move it away and apply again")
    _btrfs("subvolume", "create", temp)
    os.chown(temp, st.st_uid, st.st_gid)
    os.chmod(temp, stat.S_IMODE(st.st_mode))
    names = os.listdir(path)
    if names:
        proc = subprocess.run(
            ["cp", "-a", "--reflink=auto", "--", *[os.path.join(path, n) for n in names], temp],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            shutil.rmtree(temp, ignore_errors=True)
            raise StorageError(f"could not copy {path} into a subvolume: {proc.stderr.strip()}")
    _exchange(path, temp)
    shutil.rmtree(temp)  # now the old plain directory
    return "converted"


def probe(www_root: str, sites: list[dict[str, Any]]) -> list[str]:
    """The touched sites whose home or logs is not a subvolume, or whose limit differs."""
    groups = preflight(www_root)
    out = []
    for site in sites:
        home = os.path.join(www_root, site["site"])
        leftovers = (
            os.path.join(www_root, LEFTOVER.format(site["site"])),
            os.path.join(home, LEFTOVER.format("logs")),
        )
        if (
            not (is_subvolume(home) and is_subvolume(os.path.join(home, "logs")))
            or any(os.path.lexists(p) for p in leftovers)
        ):
            out.append(site["site"])
            continue
        if limit_of(groups, home) != int(site["storage_mb"]) * MIB:
            out.append(site["site"])
    return out


def present(www_root: str, site: str, storage_mb: int) -> tuple[bool, list[str]]:
    """Home and logs as subvolumes, the home's limit at storage_mb; (changed, converted)."""
    groups = preflight(www_root)
    home = os.path.join(www_root, site)
    converted = []
    changed = False
    for path in (home, os.path.join(home, "logs")):
        done = ensure_subvolume(path)
        changed = changed or bool(done)
        if done == "converted":
            converted.append(path)
    st = os.lstat(home)  # the home is sshd's chroot: root-owned, not writable by the site
    if (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (0, 0, 0o755):
        os.chown(home, 0, 0)
        os.chmod(home, 0o755)
    if limit_of(groups, home) != storage_mb * MIB:
        _btrfs("qgroup", "limit", str(storage_mb * MIB), home)
        changed = True
    return changed, converted


def released(www_root: str, site: str) -> bool:
    """Lift a decommissioned home's limit (if it is a limited subvolume); True if changed."""
    home = os.path.join(www_root, site)
    if not is_subvolume(home):
        return False
    groups = qgroups(www_root)
    if limit_of(groups, home) is None:
        return False
    _btrfs("qgroup", "limit", "none", home)
    return True


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "required": True, "choices": ["probe", "present", "released"]},
            "www_root": {"type": "path", "required": True},
            "sites": {"type": "list", "elements": "dict", "default": []},
            "site": {"type": "str"},
            "storage_mb": {"type": "int"},
        },
        required_if=[("state", "released", ["site"])],
        supports_check_mode=True,
    )
    p = module.params
    www_root = os.path.normpath(p["www_root"])
    if p["state"] == "present" and p["site"] is None:
        # Every flagged site in one call (one new hosting or five hundred: one remote call).
        batch = [(str(s["site"]), int(s["storage_mb"])) for s in p["sites"]]
    else:
        if p["state"] == "present" and p["storage_mb"] is None:
            module.fail_json(msg=f"{p['site']}: state=present with site needs storage_mb")
        batch = [(p["site"], p["storage_mb"])] if p["site"] is not None else []
    try:
        if p["state"] == "probe":
            module.exit_json(changed=False, quota=probe(www_root, p["sites"]))
        for site, storage_mb in batch:
            if "/" in site or site in ("", ".", ".."):
                module.fail_json(msg=f"{site!r} is not a site name")
            if p["state"] == "present" and storage_mb < 1:
                module.fail_json(msg=f"{site}: storage_mb must be at least 1")
        if p["state"] == "present":
            # Refuses a node without quotas even with nothing to make (a narrowed run calls
            # this step without the probe: tasks/sites_present.yml).
            preflight(www_root)
            if module.check_mode:
                module.exit_json(changed=bool(batch), converted=[])
            changed, converted = False, []
            for site, storage_mb in batch:
                try:
                    made, paths = present(www_root, site, storage_mb)
                except (StorageError, OSError) as exc:
                    module.fail_json(msg=f"{site}: {exc}", site=site, converted=converted)
                changed, converted = changed or made, converted + paths
            module.exit_json(changed=changed, converted=converted)
        if module.check_mode:
            module.exit_json(changed=is_subvolume(os.path.join(www_root, p["site"])))
        module.exit_json(changed=released(www_root, p["site"]))
    except (StorageError, OSError) as exc:
        module.fail_json(msg=f"{p.get('site') or www_root}: {exc}")


if __name__ == "__main__":
    main()
