#!/usr/bin/python
"""Copy one site's files for a move (issue 16): export on the source, import on the
destination, each with a manifest (relative path, type, size, sha256, mode) of what it holds.

Runs as root on nodes whose site homes the agencies fill over SFTP, so every path is
attacker-shaped. What it guarantees:
- Only `<www_root>/<site>` is read or written, `site` a strict DNS label; the home must be a
  real directory owned by root (the role's chroot), and its account `s-<site>` must exist.
- Nothing is ever followed: each name is opened relative to an already-open directory with
  O_NOFOLLOW (directories with O_DIRECTORY), so a link - or a directory swapped for a link while
  the copy runs - is never traversed on either node; links are copied as links (their target
  text, never their content).
- An archive member that is absolute, has `..`, empty or `.` components, names something the
  role owns (`logs/`, `private/`, `tmp/`), or is not a directory, regular file or link is
  refused before anything is written; a member whose parent is a link cannot be created
  (O_NOFOLLOW on every component), so nothing is written outside the destination home.
- Owner of everything copied: the destination's `s-<site>`; group `www-data` where the source
  had it (public/ is group www-data), else the site's group; modes kept.
- The home's own top level: only the agency's entries (everything but logs/, private/, tmp/)
  are exported; the import first removes the destination's entries of the same kind (the
  role's placeholder), so a repeated copy starts clean.
Special files (sockets, FIFOs, devices) are skipped and counted.
"""

from __future__ import annotations

import grp
import hashlib
import io
import json
import os
import pwd
import re
import shutil
import stat
import tarfile
from pathlib import PurePosixPath
from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]  # no stubs

DOCUMENTATION = r"""
module: opdhost_move_files
short_description: Export or import one site's files for a move, with a manifest
options:
  op:
    description: export (home -> archive), import (archive -> home) or manifest (home only).
    type: str
    choices: [export, import, manifest]
    required: true
  site:
    description: The site (a DNS label); its home is <www_root>/<site>, its account s-<site>.
    type: str
    required: true
  www_root:
    description: Parent of the site homes.
    type: path
    default: /srv/www
  archive:
    description: The archive (root-only, 0600), written by export, read by import.
    type: path
"""

RETURN = r"""
files: {description: regular files, type: int}
links: {description: symbolic links, type: int}
dirs: {description: directories, type: int}
bytes: {description: bytes of the regular files, type: int}
skipped: {description: special files skipped (relative paths, at most 20), type: list}
manifest_sha256: {description: sha256 of the manifest (path, type, size, sha256, mode), type: str}
"""

SITE = re.compile(r"[a-z][a-z0-9-]{0,28}[a-z0-9]\Z")
OWNED_BY_ROLE = frozenset({"logs", "private", "tmp"})
CHUNK = 1 << 20
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class MoveError(Exception):
    """A refusal, with the reason for the operator."""


def _private_dir(path: str) -> None:
    """The directory of archives and dumps: made root-only, and refused unless it is a real
    directory of root's that nobody else can write (never /tmp or a link)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
        raise MoveError(f"{path} is not a root-only directory")


class _Hashing(io.RawIOBase):
    """Reads a file descriptor and hashes what it read (the archive streams through it)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.sha = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = os.read(self.fd, len(buffer))
        buffer[: len(data)] = data
        self.sha.update(data)
        self.count += len(data)
        return len(data)


def _home(www_root: str, site: str) -> tuple[int, str]:
    """An fd of the site's home, checked: a real directory, owned by root."""
    if not SITE.match(site) or "--" in site[2:4]:
        raise MoveError(f"{site!r} is not a site name (a DNS label)")
    path = os.path.join(www_root, site)
    try:
        fd = os.open(path, DIR_FLAGS)
    except OSError as exc:
        raise MoveError(f"{path}: not a directory that can be opened ({exc.strerror})") from exc
    st = os.fstat(fd)
    if st.st_uid != 0:
        os.close(fd)
        raise MoveError(f"{path} is not owned by root: not a site home the role made")
    return fd, path


def _walk(  # noqa: PLR0915 - one branch per kind of entry, kept together
    fd: int, prefix: str, out: list[tuple[str, str, int, str, int]], tar: Any, skipped: list[str]
) -> None:
    """Every entry below the directory `fd` (never following a link), into `out` and `tar`."""
    for name in sorted(os.listdir(fd)):
        rel = f"{prefix}{name}"
        if not prefix and name in OWNED_BY_ROLE:
            continue
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(name, dir_fd=fd)
            raw = os.fsencode(target)
            out.append((rel, "link", len(raw), hashlib.sha256(raw).hexdigest(), 0))
            if tar is not None:
                info = tarfile.TarInfo(rel)
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
                tar.addfile(info)
        elif stat.S_ISDIR(st.st_mode):
            sub = os.open(name, DIR_FLAGS, dir_fd=fd)
            try:
                again = os.fstat(sub)
                mode = stat.S_IMODE(again.st_mode)
                out.append((rel, "dir", 0, "", mode))
                if tar is not None:
                    info = tarfile.TarInfo(rel)
                    info.type, info.mode = tarfile.DIRTYPE, mode
                    info.gname = _group_name(again.st_gid)
                    tar.addfile(info)
                _walk(sub, rel + "/", out, tar, skipped)
            finally:
                os.close(sub)
        elif stat.S_ISREG(st.st_mode):
            ffd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                          dir_fd=fd)  # fmt: skip
            try:
                fst = os.fstat(ffd)
                if not stat.S_ISREG(fst.st_mode):
                    skipped.append(rel)
                    continue
                mode = stat.S_IMODE(fst.st_mode)
                reader = _Hashing(ffd)
                if tar is not None:
                    info = tarfile.TarInfo(rel)
                    info.size, info.mode = fst.st_size, mode
                    info.gname = _group_name(fst.st_gid)
                    tar.addfile(info, io.BufferedReader(reader, CHUNK))
                else:
                    while reader.read(CHUNK):
                        pass
                if reader.count != fst.st_size:
                    raise MoveError(f"{rel} changed while it was copied: copy in a quiet hour")
                out.append((rel, "file", fst.st_size, reader.sha.hexdigest(), mode))
            finally:
                os.close(ffd)
        else:
            skipped.append(rel)


def _group_name(gid: int) -> str:
    """The group's name (carried in the archive: only www-data matters)."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return ""


def _summary(entries: list[tuple[str, str, int, str, int]], skipped: list[str]) -> dict[str, Any]:
    text = json.dumps(entries, separators=(",", ":"))
    return {
        "files": sum(1 for e in entries if e[1] == "file"),
        "links": sum(1 for e in entries if e[1] == "link"),
        "dirs": sum(1 for e in entries if e[1] == "dir"),
        "bytes": sum(e[2] for e in entries if e[1] == "file"),
        "skipped": skipped[:20],
        "manifest_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }


def manifest(www_root: str, site: str) -> dict[str, Any]:
    """The manifest of the agency's part of the home."""
    fd, _path = _home(www_root, site)
    entries: list[tuple[str, str, int, str, int]] = []
    skipped: list[str] = []
    try:
        _walk(fd, "", entries, None, skipped)
    finally:
        os.close(fd)
    return _summary(entries, skipped)


def export(www_root: str, site: str, archive: str) -> dict[str, Any]:
    """Archive the agency's part of the home into `archive` (root, 0600), with its manifest."""
    fd, _path = _home(www_root, site)
    entries: list[tuple[str, str, int, str, int]] = []
    skipped: list[str] = []
    _private_dir(os.path.dirname(archive))
    if os.path.lexists(archive):
        os.unlink(archive)
    out = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with (
            os.fdopen(out, "wb") as raw,
            tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            _walk(fd, "", entries, tar, skipped)
    finally:
        os.close(fd)
    return _summary(entries, skipped)


def _checked_parts(name: str) -> tuple[str, ...]:
    """The member's path components, or MoveError when it could leave the home or touch what
    the role owns."""
    if not name or "\x00" in name or name.startswith("/"):
        raise MoveError(f"archive member {name!r}: an absolute or empty path")
    parts = tuple(name.split("/"))
    if any(p in ("", ".", "..") for p in parts):
        raise MoveError(f"archive member {name!r}: '..', '.' or an empty component")
    if parts[0] in OWNED_BY_ROLE:
        raise MoveError(f"archive member {name!r}: {parts[0]}/ is the role's, not the agency's")
    if PurePosixPath(name).as_posix() != name:
        raise MoveError(f"archive member {name!r}: not a normal path")
    return parts


def _open_parent(root: int, parts: tuple[str, ...]) -> int:
    """An fd of the member's parent directory, each component opened without following."""
    fd = os.dup(root)
    for part in parts[:-1]:
        try:
            nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            os.close(fd)
            raise MoveError(
                f"{'/'.join(parts)}: parent {part!r} is not a directory ({exc.strerror})"
            ) from exc
        os.close(fd)
        fd = nxt
    return fd


def _clear(root: int) -> None:
    """Remove the destination's agency entries (never the role's) before a copy."""
    for name in os.listdir(root):
        if name in OWNED_BY_ROLE:
            continue
        st = os.stat(name, dir_fd=root, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=root)
        else:
            os.unlink(name, dir_fd=root)


def import_(www_root: str, site: str, archive: str) -> dict[str, Any]:
    """Unpack `archive` into the home, as the site's account owns it; then its manifest."""
    try:
        account = pwd.getpwnam(f"s-{site}")
    except KeyError as exc:
        raise MoveError(f"no account s-{site} on this node: prepare the site first") from exc
    uid, gid = account.pw_uid, account.pw_gid
    try:
        web_gid = grp.getgrnam("www-data").gr_gid
    except KeyError:
        web_gid = gid
    root, _path = _home(www_root, site)
    try:
        with tarfile.open(archive, mode="r:") as tar:
            members = tar.getmembers()
            for m in members:  # every member checked before anything is written
                _checked_parts(m.name)
                if not (m.isdir() or m.isreg() or m.issym()):
                    raise MoveError(f"archive member {m.name!r}: not a file, directory or link")
            _clear(root)
            dirs: list[tuple[tuple[str, ...], int, int]] = []
            for m in members:
                parts = _checked_parts(m.name)
                group = web_gid if m.gname == "www-data" else gid
                parent = _open_parent(root, parts)
                try:
                    leaf = parts[-1]
                    if m.isdir():
                        os.mkdir(leaf, 0o700, dir_fd=parent)
                        dirs.append((parts, m.mode & 0o7777, group))
                    elif m.issym():
                        os.symlink(m.linkname, leaf, dir_fd=parent)
                        os.chown(leaf, uid, gid, dir_fd=parent, follow_symlinks=False)
                    else:
                        _write_file(tar, m, leaf, parent, (uid, group))
                finally:
                    os.close(parent)
            for parts, mode, group in reversed(dirs):  # deepest first, once their content is in
                parent = _open_parent(root, parts)
                try:
                    sub = os.open(parts[-1], DIR_FLAGS, dir_fd=parent)
                    try:
                        os.fchown(sub, uid, group)
                        os.fchmod(sub, mode)
                    finally:
                        os.close(sub)
                finally:
                    os.close(parent)
    finally:
        os.close(root)
    return manifest(www_root, site)


def _write_file(tar: Any, m: Any, leaf: str, parent: int, owner: tuple[int, int]) -> None:
    source = tar.extractfile(m)
    out = os.open(leaf, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                  0o600, dir_fd=parent)  # fmt: skip
    try:
        while chunk := source.read(CHUNK):
            os.write(out, chunk)
        os.fchown(out, *owner)
        os.fchmod(out, m.mode & 0o7777)
    finally:
        os.close(out)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "op": {"type": "str", "required": True, "choices": ["export", "import", "manifest"]},
            "site": {"type": "str", "required": True},
            "www_root": {"type": "path", "default": "/srv/www"},
            "archive": {"type": "path"},
        },
        supports_check_mode=False,
    )
    p = module.params
    try:
        if p["op"] == "manifest":
            result = manifest(p["www_root"], p["site"])
            module.exit_json(changed=False, **result)
        if not p["archive"]:
            raise MoveError("archive is required for export and import")
        if p["op"] == "export":
            result = export(p["www_root"], p["site"], p["archive"])
            module.exit_json(changed=True, **result)
        result = import_(p["www_root"], p["site"], p["archive"])
        module.exit_json(changed=True, **result)
    except MoveError as exc:
        module.fail_json(msg=f"{p['site']}: {exc}")
    except OSError as exc:
        module.fail_json(msg=f"{p['site']}: {exc.filename or ''}: {exc.strerror}")


if __name__ == "__main__":
    main()
