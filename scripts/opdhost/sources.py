"""Where request files come from: the working tree, or a git ref read in one git process.

Both sides give `(path, blob id, bytes)`; the blob id is git's own (sha1 of "blob <len>\\0" +
content), so the plan can tell unchanged files apart without parsing them twice. A ref is read
with one `git ls-tree` and one `git cat-file --batch` for the blobs that differ: the cost grows
with the change, not with the fleet.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from opdhost.errors import Finding, GitError

REQUESTS_DIR = "requests"
IGNORED_NAMES = frozenset({"README.md", ".gitkeep"})
"""Files allowed under requests/ that are not requests."""


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One request file: repository-relative POSIX path, git blob id, content."""

    path: str
    blob: str
    data: bytes


def blob_id(data: bytes) -> str:
    """The id git gives this content (so it can be compared with `git ls-tree`)."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def is_request_path(path: str) -> bool:
    """`requests/<opd>/<site>.yaml`, exactly two levels below requests/."""
    parts = path.split("/")
    return len(parts) == 3 and parts[0] == REQUESTS_DIR and parts[2].endswith(".yaml")


def stray_finding(path: str) -> Finding:
    """A file under requests/ that is not a request: refused, it would be silently ignored."""
    return Finding(
        path,
        1,
        "(file)",
        "not a request file: requests live at requests/<opd>/<site>.yaml",
    )


def working_tree(root: Path) -> tuple[list[SourceFile], list[Finding]]:
    """Every request file of the working tree (sorted by path), and stray files as findings."""
    files: list[SourceFile] = []
    found: list[Finding] = []
    base = root / REQUESTS_DIR
    if not base.is_dir():
        return files, found
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        for name in sorted(filenames):
            path = f"{rel_dir}/{name}"
            if name in IGNORED_NAMES or name.startswith("."):
                continue
            if not is_request_path(path):
                found.append(stray_finding(path))
                continue
            try:
                data = (Path(dirpath) / name).read_bytes()
            except OSError as exc:
                found.append(Finding(path, 1, "(file)", f"cannot read: {exc.strerror}"))
                continue
            files.append(SourceFile(path, blob_id(data), data))
    files.sort(key=lambda f: f.path)
    return files, found


def _git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            input=stdin,
            capture_output=True,
            check=False,
        )
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror}") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout


def is_git_repo(root: Path) -> bool:
    """True when `root` is inside a git work tree."""
    try:
        return _git(root, "rev-parse", "--is-inside-work-tree").strip() == b"true"
    except GitError:
        return False


def resolve_ref(root: Path, ref: str) -> str:
    """The commit id of `ref`; GitError when it does not exist."""
    if ref.startswith("-"):
        raise GitError(f"not a git ref: {ref!r}")
    return _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()


def default_base(root: Path, branch: str = "main") -> str:
    """The merge base of HEAD with `branch` (or origin/<branch>); HEAD when neither exists."""
    for candidate in (branch, f"origin/{branch}"):
        try:
            resolve_ref(root, candidate)
        except GitError:
            continue
        return _git(root, "merge-base", "HEAD", candidate).decode().strip()
    return resolve_ref(root, "HEAD")


def tree_blobs(root: Path, ref: str) -> dict[str, str]:
    """Request path -> blob id at `ref` (one `git ls-tree`); non-request paths are left out."""
    out = _git(root, "ls-tree", "-r", "-z", "--full-tree", ref, "--", f"{REQUESTS_DIR}/")
    blobs: dict[str, str] = {}
    for entry in out.split(b"\x00"):
        if not entry:
            continue
        meta, _, raw_path = entry.partition(b"\t")
        kind, blob = meta.split(b" ")[1:3]
        path = raw_path.decode("utf-8", "surrogateescape")
        if kind == b"blob" and is_request_path(path):
            blobs[path] = blob.decode()
    return blobs


def read_blobs(root: Path, blobs: Iterable[str]) -> dict[str, bytes]:
    """Contents of many blobs through one `git cat-file --batch` process."""
    wanted = sorted(set(blobs))
    if not wanted:
        return {}
    out = _git(root, "cat-file", "--batch", stdin="".join(f"{b}\n" for b in wanted).encode())
    return dict(_parse_batch(out))


def _parse_batch(out: bytes) -> Iterator[tuple[str, bytes]]:
    pos = 0
    while pos < len(out):
        end = out.index(b"\n", pos)
        header = out[pos:end].split(b" ")
        if len(header) != 3:
            raise GitError(f"git cat-file: unexpected answer {out[pos:end][:80]!r}")
        size = int(header[2])
        start = end + 1
        yield header[0].decode(), out[start : start + size]
        pos = start + size + 1
