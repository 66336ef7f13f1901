"""Keep Ansible's built module payloads between runs, in a directory keyed by their sources.

Why: before ansible-core sends a module it builds its payload (AnsiballZ): it parses the
module and, recursively, every module_utils file it imports (ansible-core 2.19's own are
many). It keeps what it built for the rest of the run only, in its per-run temporary
directory. A one-site apply on a 500-site fleet uses about twenty modules, and building them
cost the controller about 3 s of CPU on every run, about 1.2 s of its wall time on the
benchmark machine (docs/benchmarks.md, issue 16).

How: `prepare()` names a directory under the user's cache whose name is a hash of everything
a payload is built from: the ansible-core and ansible (collections) versions, every module
and module_utils file of this repository (content), and the collections installed outside
the Python environment (their manifests' paths, sizes and times). The callback plugin
plugins/callback/opdhost_module_cache.py links ansible-core's per-run payload directory to it,
so a payload built once is reused until one of its sources changes; then the hash names a new,
empty directory. The few most recently used directories are kept, older ones removed.

The payloads are pickles that ansible-core loads: a directory another user could write to
would run their code. So every directory on the way is made mode 0700 and used only when it
is a real directory (not a link), owned by this user and closed to group and others; the
callback checks the same again. Otherwise the run goes without the cache (slower, never
unsafe), and `prepare()` says why.

`OPDHOST_MODULE_CACHE=off` turns the cache off; `OPDHOST_MODULE_CACHE=<dir>` puts it there
instead of `${XDG_CACHE_HOME:-~/.cache}/opdhost/ansiballz`.
Not noticed: a module or module_utils file edited in place inside an installed package (the
versions are unchanged). Remove the cache directory after such an edit.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ENV = "OPDHOST_MODULE_CACHE"
"""Environment variable: `off`, or the directory holding the keyed cache directories."""
CALLBACK = "opdhost_module_cache"
"""The callback plugin that links ansible-core's payload directory to the keyed one."""
CALLBACK_ENV = "OPDHOST_MODULE_CACHE_DIR"
"""What the callback reads: the keyed directory of this run (set by the runner only)."""
KEEP = 4
"""Keyed directories kept: the current one and the three most recently used before it."""
IDLE_S = 3600.0
"""An older keyed directory is removed only when no run used it for this long (a run of
another checkout may still be using it)."""
# Where a repository keeps module sources Ansible may send (modules and their module_utils).
SOURCE_DIRS = (
    "library",
    "module_utils",
    "playbooks/library",
    "playbooks/module_utils",
    "roles/*/library",
    "roles/*/module_utils",
)
COLLECTION_DIRS = ("~/.ansible/collections", "/usr/share/ansible/collections")


@dataclass(frozen=True)
class ModuleCache:
    """The keyed directory of this run, or None with the reason the run goes without one."""

    directory: Path | None
    why_not: str = ""


def prepare(repo: Path) -> ModuleCache:
    """The private keyed directory for this repository's module sources, made if missing."""
    setting = os.environ.get(ENV, "")
    if setting == "off":
        return ModuleCache(None, f"{ENV}=off")
    root = Path(setting) if setting else _default_root()
    key = source_key(repo)
    directory = root / key
    try:
        for path in (root, directory):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            problem = unsafe(path)
            if problem:
                return ModuleCache(None, problem)
        os.utime(directory)  # most recently used: pruning keeps it
        prune(root, keep=KEEP, idle_s=IDLE_S)
    except OSError as exc:
        return ModuleCache(None, f"{directory}: {exc.strerror or exc}")
    return ModuleCache(directory)


def unsafe(path: Path) -> str:
    """Why `path` may not hold payloads ansible-core will load, or "" when it may."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a directory (a link or a file)"
    if info.st_uid != os.geteuid():
        return f"{path} belongs to uid {info.st_uid}, not to this user"
    if stat.S_IMODE(info.st_mode) & 0o077:
        return (
            f"{path} has mode {stat.S_IMODE(info.st_mode):04o}; only 0700 is used "
            "(others could plant code in it)"
        )
    return ""


def source_key(repo: Path) -> str:
    """A hash of everything a module payload is built from (see the module docstring)."""
    digest = hashlib.sha256()
    for dist in ("ansible-core", "ansible"):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{dist}={version}\n".encode())
    for path in _module_sources(repo):
        digest.update(f"{path.relative_to(repo)}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for manifest in _collection_manifests():
        info = manifest.stat()
        digest.update(f"{manifest} {info.st_size} {info.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def prune(root: Path, *, keep: int, idle_s: float) -> list[Path]:
    """Remove the keyed directories beyond the `keep` most recently used that no run used for
    `idle_s` seconds; what was removed."""
    entries = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]
    entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    now = time.time()
    removed = [p for p in entries[keep:] if now - p.stat().st_mtime > idle_s]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def _default_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "opdhost" / "ansiballz"


def _module_sources(repo: Path) -> list[Path]:
    found: set[Path] = set()
    for pattern in SOURCE_DIRS:
        for directory in repo.glob(pattern):
            found.update(
                p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            )
    return sorted(found)


def _collection_manifests() -> list[Path]:
    dirs = [*COLLECTION_DIRS]
    for name in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS"):
        dirs.extend(d for d in os.environ.get(name, "").split(os.pathsep) if d)
    found: set[Path] = set()
    for entry in dirs:
        base = Path(entry).expanduser()
        for candidate in (base, base / "ansible_collections"):
            found.update(candidate.glob("*/*/MANIFEST.json"))
    return sorted(found)
