#!/usr/bin/python3
"""opdhost-backup: the node side of opdhost's backups (installed as /usr/local/sbin/opdhost-backup).

Why a program on the node: the nightly systemd timer, `opdhost backup now|list|check` and
`opdhost restore` must all do exactly the same thing with restic, the repository password
must never leave the node, and a restore must work from what is on the node alone. So the
restic command lines, the dumps, the status files and the restore steps live here, once; the
controller only calls this over SSH and reads its JSON answers.

Reads /etc/opdhost/backup/config.json (written by roles/backup). Every answer is one JSON
document on stdout; errors are {"error": ...} with exit 1. Commands:

  init                          create the restic repository on the target when missing
  run [--nightly] [SITE ...]    back up the sites (all when none named); --nightly also
                                backs up the decommission archives, applies the retention
                                (forget --prune) and reads a seventh of the data (check)
  snapshots SITE                the site's snapshots on this node, oldest first
  status                        every status file of this node
  restore SITE --snapshot ID [--beside]
                                restore one snapshot of SITE (files or database, as the
                                snapshot says): restic verifies every blob while restoring
                                into a staging place, and only then is the live site changed
  verify [--read-data]          restic check of the repository (corruption shows here)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import errno
import fcntl
import grp
import gzip
import hashlib
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import time
from typing import Any

CONFIG = os.environ.get("OPDHOST_BACKUP_CONFIG", "/etc/opdhost/backup/config.json")
SITE = re.compile(r"(?!..--)[a-z][a-z0-9-]{0,28}[a-z0-9]")
SNAPSHOT = re.compile(r"[0-9a-f]{8,64}")
CORRUPT = re.compile(
    r"ciphertext verification failed|hash mismatch|wrong length|Load\(<data/|"
    r"checksum|invalid data returned|decrypting blob|unexpected EOF|pack file cannot be listed|"
    r"not found in index|is damaged|Fatal: repository contains errors",
    re.IGNORECASE,
)


class BackupError(Exception):
    """A step failed; its message is the answer."""


def now() -> str:
    """UTC time stamp (seconds)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_config() -> dict[str, Any]:
    """The node's backup settings (root-only file written by the role)."""
    with open(CONFIG, encoding="utf-8") as handle:
        config: dict[str, Any] = json.load(handle)
    return config


def restic_env(cfg: dict[str, Any]) -> dict[str, str]:
    """restic's environment: repository, password file and cache; the password stays a file."""
    ssh = (
        f"ssh -i {cfg['ssh_key']} -o BatchMode=yes -o StrictHostKeyChecking=yes "
        f"-o UserKnownHostsFile={cfg['known_hosts']} -o GlobalKnownHostsFile=/dev/null "
        f"-o ConnectTimeout=10 -o ServerAliveInterval=15 {cfg['target_user']}@"
        f"{cfg['target_address']} -s sftp"
    )
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "RESTIC_REPOSITORY": (
            f"sftp:{cfg['target_user']}@{cfg['target_address']}:{cfg['repository_path']}"
        ),
        "RESTIC_PASSWORD_FILE": cfg["password_file"],
        "RESTIC_CACHE_DIR": cfg["cache_dir"],
        "OPDHOST_SFTP_COMMAND": ssh,
    }


def restic(cfg: dict[str, Any], *args: str, stdin: Any = None) -> subprocess.CompletedProcess[str]:
    """One restic call (never a shell); stdout and stderr kept for the answer."""
    env = restic_env(cfg)
    argv = ["restic", "--no-lock", "-o", f"sftp.command={env['OPDHOST_SFTP_COMMAND']}"]
    if args and args[0] in {"backup", "forget", "init", "check", "prune", "unlock"}:
        argv.remove("--no-lock")
    return subprocess.run(
        [*argv, *args], env=env, stdin=stdin, capture_output=True, text=True, check=False
    )


def explain(proc: subprocess.CompletedProcess[str], what: str) -> str:
    """A one-line reason for a failed restic call, saying so when the data is corrupt."""
    lines = [line for line in (proc.stderr or "").splitlines() if line.strip()]
    tail = lines[-1] if lines else f"exit {proc.returncode}"
    if CORRUPT.search(proc.stderr or ""):
        return (
            f"{what}: the backup data is corrupt (restic's checksum does not match): {tail}; "
            "nothing was changed on the site; run `opdhost backup verify` and restore an "
            "older backup"
        )
    return f"{what}: restic failed: {tail}"


@contextlib.contextmanager
def node_lock(cfg: dict[str, Any]):  # type: ignore[no-untyped-def]
    """One backup or restore at a time on this node (the timer, `now`, `restore`)."""
    os.makedirs(cfg["state_dir"], mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(cfg["state_dir"], "run.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_json(path: str, data: dict[str, Any]) -> None:
    """Atomically (temporary file, fsync, rename)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def status_path(cfg: dict[str, Any], site: str) -> str:
    """<state_dir>/status/<site>.json: the site's last backup on this node."""
    return os.path.join(cfg["state_dir"], "status", f"{site}.json")


def summary(stdout: str) -> dict[str, Any]:
    """The summary line of `restic backup --json`."""
    for line in reversed(stdout.splitlines()):
        with contextlib.suppress(ValueError):
            data = json.loads(line)
            if isinstance(data, dict) and data.get("message_type") == "summary":
                return data
    return {}


def dump_command(site: dict[str, Any]) -> list[str]:
    """A consistent dump of the site's database to stdout."""
    if site["engine"] == "mariadb":
        return [
            "mariadb-dump", "--single-transaction", "--quick", "--routines", "--triggers",
            "--hex-blob", "--default-character-set=utf8mb4", "--", site["name"],
        ]  # fmt: skip
    return ["runuser", "-u", "postgres", "--", "pg_dump", "-Fc", "--", site["name"]]


def dump_name(site: dict[str, Any]) -> str:
    """The file name a database dump carries in the repository."""
    suffix = "sql" if site["engine"] == "mariadb" else "dump"
    return f"{site['engine']}-{site['site']}.{suffix}"


def tags(site: str, kind: str) -> list[str]:
    """Tags of one site's snapshot: a restore selects by them and touches nothing else."""
    return ["--tag", f"site:{site},kind:{kind}"]


def backup_site(cfg: dict[str, Any], site: dict[str, Any]) -> dict[str, Any]:
    """Back up one site's files or database; the status file says how it went."""
    started = time.monotonic()
    name, kind = site["site"], site["kind"]
    host = ["--host", cfg["node"]]
    if kind == "files":
        path = site["path"]
        if not os.path.isdir(path):
            raise BackupError(f"{name}: {path} does not exist")
        proc = restic(
            cfg, "backup", "--json", *host, *tags(name, kind),
            "--exclude", os.path.join(path, "tmp"), path,
        )  # fmt: skip
        if proc.returncode not in (0, 3):  # 3: some files unreadable, snapshot made
            raise BackupError(explain(proc, f"{name}: files"))
    else:
        with subprocess.Popen(
            dump_command(site), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/"
        ) as dump:
            proc = restic(
                cfg, "backup", "--json", *host, *tags(name, kind),
                "--stdin", "--stdin-filename", dump_name(site), stdin=dump.stdout,
            )  # fmt: skip
            dump_err = dump.stderr.read().decode("utf-8", "replace") if dump.stderr else ""
            dump.wait()
        made = summary(proc.stdout).get("snapshot_id")
        if dump.returncode != 0:
            if made:
                restic(cfg, "forget", str(made))
            raise BackupError(f"{name}: {site['engine']} dump failed: {dump_err.strip()[-300:]}")
        if proc.returncode != 0:
            raise BackupError(explain(proc, f"{name}: database"))
    done = summary(proc.stdout)
    return {
        "snapshot": str(done.get("snapshot_id", ""))[:8],
        "bytes": int(done.get("total_bytes_processed", 0)),
        "added": int(done.get("data_added", 0)),
        "seconds": round(time.monotonic() - started, 2),
    }


def record(cfg: dict[str, Any], site: dict[str, Any], outcome: dict[str, Any]) -> None:
    """Update the site's status file: the last attempt always, the last success when it was."""
    path = status_path(cfg, site["site"])
    try:
        with open(path, encoding="utf-8") as handle:
            old = json.load(handle)
    except (OSError, ValueError):
        old = {}
    entry = {
        **old,
        "site": site["site"],
        "node": cfg["node"],
        "kind": site["kind"],
        "last_attempt": now(),
        "exit": 0 if "error" not in outcome else 1,
        "error": outcome.get("error", ""),
    }
    if "error" not in outcome:
        entry.update({"last_success": entry["last_attempt"], **outcome})
    write_json(path, entry)


def archives(cfg: dict[str, Any]) -> dict[str, Any]:
    """The decommission archives of this node (tar.gz / dumps + sha256), one snapshot."""
    present = [d for d in cfg.get("archive_dirs", []) if os.path.isdir(d)]
    if not present:
        return {"archives": "none"}
    host = ["--host", cfg["node"]]
    proc = restic(cfg, "backup", "--json", *host, "--tag", "kind:archives", *present)
    if proc.returncode != 0:
        return {"archives_error": explain(proc, "archives")}
    return {"archives": str(summary(proc.stdout).get("snapshot_id", ""))[:8]}


def space(cfg: dict[str, Any]) -> dict[str, Any]:
    """The data the repository holds for this node (deduplicated; restic stats raw-data)."""
    proc = restic(cfg, "stats", "--json", "--mode", "raw-data")
    with contextlib.suppress(ValueError, AttributeError):
        return {"repository_bytes": int(json.loads(proc.stdout).get("total_size", 0))}
    return {"repository_bytes": None}


def retention(cfg: dict[str, Any]) -> dict[str, Any]:
    """forget --prune with the platform's policy, per site and kind (grouped by tags)."""
    keep = cfg["keep"]
    proc = restic(
        cfg, "forget", "--prune", "--group-by", "host,tags",
        "--keep-daily", str(keep["daily"]), "--keep-weekly", str(keep["weekly"]),
        "--keep-monthly", str(keep["monthly"]),
    )  # fmt: skip
    if proc.returncode != 0:
        return {"prune_error": explain(proc, "forget --prune")}
    return {"pruned": now()}


def verify(cfg: dict[str, Any], subset: str | None) -> dict[str, Any]:
    """restic check; with a subset, that share of the data packs is read and verified."""
    args = ["check"]
    if subset == "all":
        args.append("--read-data")
    elif subset:
        args.append(f"--read-data-subset={subset}")
    proc = restic(cfg, *args)
    if proc.returncode != 0:
        return {"ok": False, "error": explain(proc, "check")}
    return {"ok": True, "checked": now(), "subset": subset or "structure"}


def cmd_run(cfg: dict[str, Any], names: list[str], nightly: bool) -> dict[str, Any]:
    """Back up the named sites (all when none), record each one's status."""
    sites = cfg["sites"]
    unknown = sorted(set(names) - {s["site"] for s in sites})
    if unknown:
        raise BackupError(f"not backed up on {cfg['node']}: {', '.join(unknown)}")
    chosen = [s for s in sites if not names or s["site"] in names]
    results: dict[str, Any] = {}
    with node_lock(cfg):
        for site in chosen:
            try:
                outcome = backup_site(cfg, site)
            except BackupError as exc:
                outcome = {"error": str(exc)}
            record(cfg, site, outcome)
            results[site["site"]] = outcome
        node: dict[str, Any] = {"node": cfg["node"], "last_run": now()}
        if nightly:
            node.update(archives(cfg))
            node.update(retention(cfg))
            day = dt.datetime.now(dt.UTC).timetuple().tm_yday
            node["check"] = verify(cfg, f"{day % 7 + 1}/7")
            node.update(space(cfg))
            write_json(os.path.join(cfg["state_dir"], "node.json"), node)
    failed = [n for n, r in results.items() if "error" in r]
    return {"node": cfg["node"], "sites": results, "failed": failed, **node}


def snapshot_list(cfg: dict[str, Any], site: str) -> list[dict[str, Any]]:
    """The site's snapshots on this node (files or database), oldest first."""
    proc = restic(cfg, "snapshots", "--json", "--host", cfg["node"], "--tag", f"site:{site}")
    if proc.returncode != 0:
        raise BackupError(explain(proc, f"{site}: snapshots"))
    found = []
    for snap in json.loads(proc.stdout or "[]") or []:
        kind = next((t[5:] for t in snap.get("tags", []) if t.startswith("kind:")), "")
        found.append(
            {
                "id": snap.get("short_id") or str(snap.get("id", ""))[:8],
                "time": snap.get("time", ""),
                "kind": kind,
                "paths": snap.get("paths", []),
            }
        )
    return sorted(found, key=lambda s: s["time"])


def cmd_status(cfg: dict[str, Any]) -> dict[str, Any]:
    """Every status file of this node, and the node's last nightly run."""
    base = os.path.join(cfg["state_dir"], "status")
    sites = {}
    for name in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        if name.endswith(".json"):
            with contextlib.suppress(OSError, ValueError), open(os.path.join(base, name)) as fh:
                sites[name[:-5]] = json.load(fh)
    node = {}
    with (
        contextlib.suppress(OSError, ValueError),
        open(os.path.join(cfg["state_dir"], "node.json")) as fh,
    ):
        node = json.load(fh)
    expected = [{"site": s["site"], "kind": s["kind"]} for s in cfg["sites"]]
    return {"node": cfg["node"], "sites": sites, "expected": expected, "nightly": node}


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


Config = dict[str, Any]


def is_subvolume(path: str) -> bool:
    """A btrfs subvolume root: a site home held to its storage_mb (roles/apache_vhost)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    return os.path.isdir(path) and not os.path.islink(path) and info.st_ino == 256


def quota_limit(path: str) -> str:
    """The referenced limit of the subvolume at path, in bytes, or 'none'."""
    proc = subprocess.run(
        ["btrfs", "qgroup", "show", "-ref", "--raw", path], capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    for line in proc.stdout.splitlines():
        cols = line.split()
        if len(cols) >= 4 and cols[0].startswith("0/"):
            return cols[3]
    return "none"


def btrfs(*args: str) -> None:
    proc = subprocess.run(["btrfs", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BackupError(f"btrfs {' '.join(args)}: {(proc.stderr or proc.stdout).strip()}")


def move(src: str, dst: str) -> None:
    """Rename; across btrfs subvolumes (EXDEV) copy with reflinks, then remove the source."""
    try:
        os.replace(src, dst)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    done = subprocess.run(
        ["cp", "-a", "--reflink=auto", "--", src, dst], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BackupError(f"could not move {src} to {dst}: {done.stderr.strip()[-300:]}")
    shutil.rmtree(src)


def restore_files(cfg: Config, site: Config, snap: str, beside: bool) -> Config:
    """Restore a site's home: staged first (restic checks every blob), then swapped in.

    A home that is a btrfs subvolume (its storage quota) is restored into a new subvolume
    with the same limit and its own logs subvolume, so the restored site is held to its
    storage_mb as before; the one it replaces is kept beside the homes (a rename within the
    file system, nothing copied). A restore beside the live home is staged inside the home.
    """
    path = site["path"]
    quota = is_subvolume(path)
    parent = path if quota and beside else os.path.dirname(path)
    stage = os.path.join(parent, f".opdhost-restore-{site['site']}-{_stamp()}")
    staged = os.path.join(stage, path.lstrip("/"))
    if quota and not beside:
        os.makedirs(os.path.dirname(staged), mode=0o700)
        btrfs("subvolume", "create", staged)
        btrfs("subvolume", "create", os.path.join(staged, "logs"))
        btrfs("qgroup", "limit", quota_limit(path), staged)
    proc = restic(cfg, "restore", snap, "--target", stage, "--include", path)
    if proc.returncode != 0 or not os.path.isdir(staged):
        shutil.rmtree(stage, ignore_errors=True)
        raise BackupError(explain(proc, f"{site['site']}: restore of files {snap}"))
    stamp = _stamp()
    if beside:
        where = os.path.join(path, f"restored-{stamp}")
        move(staged, where)
        shutil.rmtree(stage, ignore_errors=True)
        return {"restored": "beside", "path": where}
    keep_dir = os.path.join(os.path.dirname(path), ".opdhost-kept") if quota else cfg["keep_dir"]
    kept = os.path.join(keep_dir, f"{site['site']}-files-before-restore-{stamp}")
    os.makedirs(keep_dir, mode=0o700, exist_ok=True)
    tmp_dir = os.path.join(path, "tmp")
    if os.path.isdir(path):
        os.replace(path, kept)  # same file system: a rename, nothing copied
    os.replace(staged, path)
    shutil.rmtree(stage, ignore_errors=True)
    old_tmp = os.path.join(kept, "tmp")
    if os.path.isdir(old_tmp) and not os.path.exists(tmp_dir):
        move(old_tmp, tmp_dir)  # tmp/ is not backed up: the live one stays
    return {"restored": "live", "path": path, "previous": kept}


def keep_live_database(cfg: Config, site: Config, stamp: str) -> str:
    """Dump the live database into the keep directory first: nothing is lost by a restore."""
    before = os.path.join(
        cfg["keep_dir"], f"{site['site']}-database-before-restore-{stamp}-{dump_name(site)}"
    )
    with open(before, "wb") as out:
        os.chmod(before, 0o600)
        done = subprocess.run(
            dump_command(site), stdout=out, stderr=subprocess.PIPE, check=False, cwd="/"
        )
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace")[-300:]
        raise BackupError(f"{site['site']}: could not dump the live database first: {why}")
    return before


def restore_database(cfg: Config, site: Config, snap: str, beside: bool) -> Config:
    """Restore a site's database: the dump is read whole (blobs checked) before it is loaded."""
    os.makedirs(cfg["keep_dir"], mode=0o700, exist_ok=True)
    stamp = _stamp()
    dump_file = os.path.join(
        cfg["keep_dir"], f"{site['site']}-database-{snap}-{stamp}-{dump_name(site)}"
    )
    with open(dump_file, "wb") as out:
        os.chmod(dump_file, 0o600)
        proc = subprocess.run(
            ["restic", "-o", f"sftp.command={restic_env(cfg)['OPDHOST_SFTP_COMMAND']}", "--no-lock",
             "dump", snap, f"/{dump_name(site)}"],
            env=restic_env(cfg), stdout=out, stderr=subprocess.PIPE, check=False,
        )  # fmt: skip
    if proc.returncode != 0:
        os.unlink(dump_file)
        err = subprocess.CompletedProcess([], proc.returncode, "", proc.stderr.decode())
        raise BackupError(explain(err, f"{site['site']}: restore of database {snap}"))
    if beside:
        return {"restored": "beside", "path": dump_file}
    before = keep_live_database(cfg, site, stamp)
    name = site["name"]
    if site["engine"] == "mariadb":
        with open(dump_file, "rb") as dump:
            load = subprocess.run(
                ["mariadb", "--batch", "--default-character-set=utf8mb4", "--", name],
                stdin=dump, capture_output=True, check=False,
            )  # fmt: skip
    else:  # the dump is root-only: pg_restore (as postgres) reads it on stdin
        with open(dump_file, "rb") as dump:
            load = subprocess.run(
                ["runuser", "-u", "postgres", "--", "pg_restore", "--clean", "--if-exists",
                 "--single-transaction", "--exit-on-error", "-d", name],
                stdin=dump, capture_output=True, check=False, cwd="/",
            )  # fmt: skip
    if load.returncode != 0:
        why = load.stderr.decode("utf-8", "replace")[-300:]
        raise BackupError(
            f"{site['site']}: loading the dump failed: {why}; the database as it was is kept "
            f"in {before}"
        )
    return {"restored": "live", "database": name, "previous": before, "dump": dump_file}


def cmd_restore(cfg: dict[str, Any], name: str, snap: str, beside: bool) -> dict[str, Any]:
    """Restore one snapshot of one site of this node."""
    if not SNAPSHOT.fullmatch(snap):
        raise BackupError(f"{snap!r} is not a snapshot id")
    known = snapshot_list(cfg, name)
    match = [s for s in known if s["id"].startswith(snap[:8])]
    if not match:
        raise BackupError(f"{name}: no snapshot {snap} on {cfg['node']}")
    kind = match[0]["kind"]
    site = next((s for s in cfg["sites"] if s["site"] == name and s["kind"] == kind), None)
    if site is None:
        raise BackupError(f"{name}: no {kind} of this site on {cfg['node']}")
    with node_lock(cfg):
        if kind == "files":
            result = restore_files(cfg, site, match[0]["id"], beside)
        else:
            result = restore_database(cfg, site, match[0]["id"], beside)
    return {"site": name, "node": cfg["node"], "snapshot": match[0]["id"], "time": match[0]["time"],
            "kind": kind, **result}  # fmt: skip


ARCHIVE = re.compile(r"(?:(mariadb|postgresql)-)?([a-z0-9-]+)-(\d{8}T\d{6}Z)\.(tar|sql)\.gz")


def archive_file(cfg: Config, old: str, kind: str) -> tuple[str, str]:
    """(snapshot, path) of the newest archive of `old` kept on the target for this node."""
    proc = restic(cfg, "snapshots", "--json", "--host", cfg["node"], "--tag", "kind:archives")
    if proc.returncode != 0:
        raise BackupError(explain(proc, f"{old}: archives"))
    snaps = sorted(json.loads(proc.stdout or "[]") or [], key=lambda s: s.get("time", ""))
    if not snaps:
        raise BackupError(f"{old}: no decommission archive on the backup target of {cfg['node']}")
    snap = str(snaps[-1].get("short_id") or snaps[-1]["id"][:8])
    listing = restic(cfg, "ls", "--json", snap)
    if listing.returncode != 0:
        raise BackupError(explain(listing, f"{old}: archives {snap}"))
    found = []
    for line in listing.stdout.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            match = ARCHIVE.fullmatch(os.path.basename(str(entry.get("path", ""))))
            db = kind == "database"
            if match and match[2] == old and bool(match[1]) == db and entry.get("type") == "file":
                found.append((match[3], str(entry["path"])))
    if not found:
        raise BackupError(f"{old}: no {kind} archive of it in the archives of {cfg['node']}")
    return snap, max(found)[1]


def fetch_checked(cfg: Config, snap: str, path: str, dest: str) -> None:
    """Copy one archive out of the repository and check it against its .sha256 file."""
    with open(dest, "wb") as out:
        os.chmod(dest, 0o600)
        env = restic_env(cfg)
        argv = ["restic", "-o", f"sftp.command={env['OPDHOST_SFTP_COMMAND']}", "--no-lock"]
        done = subprocess.run(
            [*argv, "dump", snap, path], env=env, stdout=out, stderr=subprocess.PIPE, check=False
        )
    if done.returncode != 0:
        err = subprocess.CompletedProcess([], done.returncode, "", done.stderr.decode())
        raise BackupError(explain(err, f"archive {os.path.basename(path)}"))
    sums = restic(cfg, "dump", snap, path + ".sha256")
    digest = hashlib.sha256()
    with open(dest, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if sums.returncode != 0 or sums.stdout.split()[:1] != [digest.hexdigest()]:
        raise BackupError(
            f"archive {os.path.basename(path)}: its sha256 does not match the one recorded at "
            "decommission; nothing was restored"
        )


def cmd_from_archive(cfg: Config, old: str, new: str, old_user: str) -> Config:
    """The decommissioned site `old`'s archive into the new site `new` of this node.

    Files: unpacked beside the new site's own, `<home>/restored-from-<old>-<time>/`, owned by
    the new site's user. Database: loaded into the new site's database, the database as it
    was kept first (PostgreSQL: the old owner's statements name the new one).
    """
    site = next((s for s in cfg["sites"] if s["site"] == new), None)
    if site is None:
        raise BackupError(f"{new}: not a site of {cfg['node']}")
    snap, path = archive_file(cfg, old, site["kind"])
    os.makedirs(cfg["keep_dir"], mode=0o700, exist_ok=True)
    stamp = _stamp()
    local = os.path.join(cfg["keep_dir"], f"{new}-from-{old}-{stamp}-{os.path.basename(path)}")
    with node_lock(cfg):
        fetch_checked(cfg, snap, path, local)
        if site["kind"] == "files":
            result = unpack_files(site, old, local, stamp)
        else:
            result = load_archive_dump(cfg, site, old_user, local, stamp)
    return {"site": new, "from": old, "node": cfg["node"], "snapshot": snap,
            "archive": os.path.basename(path), "kind": site["kind"], **result}  # fmt: skip


def unpack_files(site: Config, old: str, archive: str, stamp: str) -> Config:
    """Unpack into a staging place, hand everything to the new site's user, move it in.

    Into a home that is a subvolume the staging place is inside the home: the unpacked files
    count against its storage quota from the start, and the final move is a rename.
    """
    home = site["path"]
    parent = home if is_subvolume(home) else os.path.dirname(home)
    stage = os.path.join(parent, f".opdhost-archive-{site['site']}-{stamp}")
    os.makedirs(stage, mode=0o700)
    done = subprocess.run(["tar", "-xzf", archive, "-C", stage], capture_output=True, check=False)
    source = os.path.join(stage, old)
    if done.returncode != 0 or not os.path.isdir(source):
        shutil.rmtree(stage, ignore_errors=True)
        raise BackupError(f"unpacking the archive failed: {done.stderr.decode()[-300:]}")
    user = pwd.getpwnam(f"s-{site['site']}")
    web = grp.getgrnam("www-data").gr_gid
    for top, dirs, files in os.walk(source):
        for name in [top, *(os.path.join(top, n) for n in dirs + files)]:
            info = os.lstat(name)
            os.lchown(name, user.pw_uid, web if info.st_gid == web else user.pw_gid)
    where = os.path.join(site["path"], f"restored-from-{old}-{stamp}")
    os.replace(source, where)
    shutil.rmtree(stage, ignore_errors=True)
    return {"restored": "beside", "path": where}


def load_archive_dump(cfg: Config, site: Config, old_user: str, archive: str, stamp: str) -> Config:
    """Load a decommission dump (plain SQL, gzip) into the new site's database."""
    before = keep_live_database(cfg, site, stamp)
    with gzip.open(archive, "rb") as handle:
        script = handle.read()
    if site["engine"] == "mariadb":
        argv = ["mariadb", "--batch", "--default-character-set=utf8mb4", "--", site["name"]]
    else:
        owner = re.compile(rb"OWNER TO " + re.escape(old_user.encode()) + rb";")
        script = owner.sub(b"OWNER TO " + site["user"].encode() + b";", script)
        argv = ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                "--single-transaction", "-d", site["name"]]  # fmt: skip
    load = subprocess.run(argv, input=script, capture_output=True, check=False, cwd="/")
    if load.returncode != 0:
        why = load.stderr.decode("utf-8", "replace")[-300:]
        raise BackupError(f"{site['site']}: loading the archive failed: {why}; kept: {before}")
    return {"restored": "live", "database": site["name"], "previous": before}


def cmd_init(cfg: dict[str, Any]) -> dict[str, Any]:
    """Create the repository when there is none (`restic cat config` fails on a missing one)."""
    if restic(cfg, "cat", "config").returncode == 0:
        return {"repository": "exists"}
    proc = restic(cfg, "init")
    if proc.returncode != 0:
        raise BackupError(explain(proc, "init"))
    return {"repository": "created"}


def main(argv: list[str]) -> int:
    """Parse, run, answer in JSON."""
    parser = argparse.ArgumentParser(prog="opdhost-backup")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init")
    run = sub.add_parser("run")
    run.add_argument("--nightly", action="store_true")
    run.add_argument("sites", nargs="*")
    snaps = sub.add_parser("snapshots")
    snaps.add_argument("site")
    sub.add_parser("status")
    rest = sub.add_parser("restore")
    rest.add_argument("site")
    rest.add_argument("--snapshot", required=True)
    rest.add_argument("--beside", action="store_true")
    arch = sub.add_parser("from-archive")
    arch.add_argument("site")
    arch.add_argument("--from", dest="old", required=True)
    arch.add_argument("--old-user", default="")
    ver = sub.add_parser("verify")
    ver.add_argument("--read-data", action="store_true")
    args = parser.parse_args(argv)
    for name in [*getattr(args, "sites", []), getattr(args, "site", "x0")]:
        if not SITE.fullmatch(name):
            print(json.dumps({"error": f"{name!r} is not a site name"}))
            return 1
    try:
        cfg = load_config()
        if args.command == "init":
            answer: Any = cmd_init(cfg)
        elif args.command == "run":
            answer = cmd_run(cfg, args.sites, args.nightly)
        elif args.command == "snapshots":
            answer = snapshot_list(cfg, args.site)
        elif args.command == "status":
            answer = cmd_status(cfg)
        elif args.command == "from-archive":
            if not SITE.fullmatch(args.old) or not re.fullmatch(
                r"[a-z][a-z0-9_]{0,30}|", args.old_user
            ):
                raise BackupError(f"{args.old!r} / {args.old_user!r}: not a site / user name")
            answer = cmd_from_archive(cfg, args.old, args.site, args.old_user)
        elif args.command == "restore":
            answer = cmd_restore(cfg, args.site, args.snapshot, args.beside)
        else:
            answer = verify(cfg, "all" if args.read_data else None)
    except (BackupError, OSError, ValueError, KeyError) as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    print(json.dumps(answer))
    if isinstance(answer, dict) and (answer.get("failed") or answer.get("ok") is False):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
