"""Storage quotas on a real btrfs (a loop-mounted image made here): the web role's module
(roles/apache_vhost/library/apache_vhost_storage.py) and the lab's host-side file system
(opdhost.lab.quotafs).

What a user relies on: a node without quotas is refused with what to do; a site's home is a
subvolume limited to its storage_mb, writes past it fail for that site only, deletes always
work; a home made before quotas keeps every file, owner and mode when it becomes a subvolume,
and a conversion interrupted at any point is finished by the next run; a hand-changed limit
is drift; a decommissioned home can be deleted even when full.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from opdhost.lab import quotafs

from .modules import load

MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mkfs.btrfs") is None,
    reason="needs root and btrfs-progs (scripts/setup.sh installs them) to mount a btrfs",
)


storage = load("roles/apache_vhost/library/apache_vhost_storage.py", "apache_vhost_storage")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=True)


def _btrfs(where: Path, quotas: bool) -> Path:
    image, mnt = where / "fs.img", where / "mnt"
    mnt.mkdir()
    _run("truncate", "-s", "320M", str(image))
    _run("mkfs.btrfs", "-q", "-f", str(image))
    _run("mount", "-o", "loop", str(image), str(mnt))
    if quotas:
        _run("btrfs", "quota", "enable", str(mnt))
    return mnt


@pytest.fixture
def www(tmp_path: Path) -> Iterator[Path]:
    """An empty btrfs with quotas enabled, as a production web node's /srv/www."""
    mnt = _btrfs(tmp_path, quotas=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _write(path: Path, mib: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}", "conv=fsync"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def _limit(www: Path, site: str) -> int | None:
    groups = storage.qgroups(str(www))
    return groups[f"0/{storage.subvolume_id(str(www / site))}"][1]


def _tree(root: Path) -> dict[str, tuple[int, int, int, bytes | str]]:
    out: dict[str, tuple[int, int, int, bytes | str]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        body: bytes | str = (
            os.readlink(path) if path.is_symlink() else path.read_bytes() if path.is_file() else ""
        )
        out[str(path.relative_to(root))] = (st.st_uid, st.st_gid, st.st_mode, body)
    return out


def test_a_node_without_quotas_is_refused_with_what_to_do(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(storage.StorageError, match="not btrfs with quotas") as exc:
        storage.probe(str(plain), [{"site": "disdik", "storage_mb": 64}])
    assert "btrfs quota enable" in str(exc.value)
    noquota = tmp_path / "noquota"
    noquota.mkdir()
    mnt = _btrfs(noquota, quotas=False)
    try:
        with pytest.raises(storage.StorageError, match="has no btrfs quotas") as exc:
            storage.probe(str(mnt), [])
        assert f"btrfs quota enable {mnt}" in str(exc.value)
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_a_full_site_cannot_write_its_neighbour_can_and_deletes_always_work(www: Path) -> None:
    site = {"site": "disdik", "storage_mb": 64}
    assert storage.probe(str(www), [site]) == ["disdik"]
    for name, mb in (("disdik", 64), ("dispar", 64)):
        changed, converted = storage.present(str(www), name, mb)
        assert changed and converted == []
    assert storage.probe(str(www), [site, {"site": "dispar", "storage_mb": 64}]) == []
    assert _limit(www, "disdik") == 64 * MIB
    home = www / "disdik"
    assert (home.stat().st_uid, oct(home.stat().st_mode & 0o7777)) == (0, "0o755")
    public = home / "public"
    public.mkdir()

    # Written as root, who is held by the limit too (the site's own account is in the e2e test).
    full = _write(public / "big", 100)
    assert full.returncode != 0 and "Disk quota exceeded" in full.stderr
    assert (public / "big").stat().st_size <= 64 * MIB
    assert _write(www / "dispar" / "room", 20).returncode == 0  # the neighbour writes
    assert _write(home / "logs" / "access.log", 10).returncode == 0  # logs are outside it
    (public / "big").unlink()  # deleting is never refused
    subprocess.run(["sync"], check=True)
    assert _write(public / "small", 8).returncode == 0


def test_a_raised_or_hand_changed_limit_is_set_again(www: Path) -> None:
    storage.present(str(www), "disdik", 64)
    assert storage.probe(str(www), [{"site": "disdik", "storage_mb": 128}]) == ["disdik"]
    assert storage.present(str(www), "disdik", 128) == (True, [])
    assert _limit(www, "disdik") == 128 * MIB
    _run("btrfs", "qgroup", "limit", "70M", str(www / "disdik"))  # by hand, on the node
    assert storage.probe(str(www), [{"site": "disdik", "storage_mb": 128}]) == ["disdik"]
    storage.present(str(www), "disdik", 128)
    assert storage.present(str(www), "disdik", 128) == (False, [])


def test_a_home_made_before_quotas_keeps_everything_when_it_becomes_a_subvolume(
    www: Path,
) -> None:
    home = www / "disdik"
    (home / "public" / "img").mkdir(parents=True)
    (home / "logs").mkdir()
    (home / "public" / "index.php").write_text("<?php echo 1;")
    (home / "public" / "img" / "a.png").write_bytes(os.urandom(50_000))
    (home / "public" / "link").symlink_to("index.php")
    (home / "logs" / "access.log").write_text("GET /\n")
    os.chown(home / "public", 65534, 33)
    os.chmod(home / "public", 0o2750)
    os.chown(home / "logs", 0, 65534)
    os.chmod(home / "logs", 0o750)
    before = _tree(home)

    changed, converted = storage.present(str(www), "disdik", 64)
    assert changed and converted == [str(home), str(home / "logs")]
    assert storage.is_subvolume(str(home)) and storage.is_subvolume(str(home / "logs"))
    assert _tree(home) == before
    assert sorted(p.name for p in www.iterdir()) == ["disdik"]  # no leftover
    assert _limit(www, "disdik") == 64 * MIB


def test_an_interrupted_conversion_is_finished_by_the_next_run(www: Path) -> None:
    # Died after the exchange: the home is the new subvolume, the old tree is left beside it.
    storage.present(str(www), "disdik", 64)
    old = www / ".disdik.opdhost-subvol"
    (old / "public").mkdir(parents=True)
    (old / "public" / "stale").write_text("old")
    assert storage.probe(str(www), [{"site": "disdik", "storage_mb": 64}]) == ["disdik"]
    assert storage.present(str(www), "disdik", 64) == (True, [])
    assert not old.exists()
    # Died during the copy: the home is still the plain directory, a partial copy beside it.
    plain = www / "dispar"
    (plain / "public").mkdir(parents=True)
    (plain / "public" / "index.html").write_text("dispar")
    _run("btrfs", "subvolume", "create", str(www / ".dispar.opdhost-subvol"))
    (www / ".dispar.opdhost-subvol" / "half").write_text("x")
    changed, converted = storage.present(str(www), "dispar", 64)
    assert changed and str(plain) in converted
    assert (plain / "public" / "index.html").read_text() == "dispar"
    assert not (plain / "half").exists() and not (www / ".dispar.opdhost-subvol").exists()


def test_a_home_that_is_a_link_or_a_file_is_refused(www: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (www / "disdik").symlink_to(outside)
    with pytest.raises(storage.StorageError, match="not a directory"):
        storage.present(str(www), "disdik", 64)
    assert list(outside.iterdir()) == []  # nothing made through the link
    (www / "dispar").write_text("a file")
    with pytest.raises(storage.StorageError, match="not a directory"):
        storage.present(str(www), "dispar", 64)


def test_a_full_decommissioned_home_can_be_deleted_once_released(www: Path) -> None:
    storage.present(str(www), "disdik", 64)
    _write(www / "disdik" / "fill", 100)
    subprocess.run(["sync"], check=True)
    assert storage.released(str(www), "disdik") is True
    assert _limit(www, "disdik") is None
    assert storage.released(str(www), "disdik") is False
    shutil.rmtree(www / "disdik")  # the role's file: state=absent, nested logs subvolume too
    assert not (www / "disdik").exists()


def test_the_lab_makes_mounts_and_removes_its_quota_file_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quotafs, "LAB_DIR", tmp_path / "lab")
    monkeypatch.setattr(quotafs, "IMAGE_SIZE", "300M")
    fs = quotafs.QuotaFs("web1", "/srv/www")
    assert fs.volume_arg() == f"{tmp_path}/lab/mnt/web1-srv-www:/srv/www"
    try:
        quotafs.make(fs)
        assert quotafs.mounted(fs.mountpoint)
        assert storage.fs_type(str(fs.mountpoint)) == "btrfs"
        storage.qgroups(str(fs.mountpoint))  # quotas are on
        (fs.mountpoint / "old-home").mkdir()
        quotafs.make(fs)  # made again (a recreated container): empty, still mounted once
        assert list(fs.mountpoint.iterdir()) == []
        mounts = Path("/proc/self/mountinfo").read_text().count(f" {fs.mountpoint} ")
        assert mounts == 1
        assert oct(fs.image.stat().st_mode & 0o777) == "0o600"
    finally:
        assert quotafs.remove(fs) is True
    assert not fs.image.exists() and not quotafs.mounted(fs.mountpoint)
    assert quotafs.remove(fs) is False  # nothing left: removing again is a no-op


def test_mounted_reads_escaped_mount_points() -> None:
    info = (
        "36 35 98:0 / /var/lib/opdhost/lab/mnt/web1-srv-www rw - btrfs /dev/loop0 rw\n"
        "37 35 98:0 / /mnt/with\\040space rw - ext4 /dev/sda1 rw\n"
    )
    assert quotafs.mounted(Path("/var/lib/opdhost/lab/mnt/web1-srv-www"), info)
    assert quotafs.mounted(Path("/mnt/with space"), info)
    assert not quotafs.mounted(Path("/var/lib/opdhost/lab/mnt"), info)
