"""Where request files come from: the working tree, or a git ref read in one git process.

Both sides give `(path, blob id, bytes)`; the blob id is git's own (sha1 of "blob <len>\\0" +
content), so the plan can tell unchanged files apart without parsing them twice. A ref is read
with one `git ls-tree` and one `git cat-file --batch` for the blobs that differ: the cost grows
with the change, not with the fleet.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from opdhost.errors import Finding, GitError
from opdhost.fleet.yamlload import MAX_BYTES

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


NOT_REGULAR = "not a regular file: requests are plain files inside the repository"
"""The finding for links, devices, pipes and sockets under requests/ (never followed or read)."""


def too_big(path: str) -> Finding:
    """A request file over the size limit (never read whole)."""
    return Finding(path, 1, "(file)", f"file is larger than {MAX_BYTES} bytes")


def read_request_file(path: Path) -> bytes:
    """The bytes of a regular file, never following a link and never more than the limit.

    Raises OSError (ELOOP for a link, EINVAL for a device, pipe or socket) and ValueError when
    the file is larger than the limit. Opened with O_NOFOLLOW and O_NONBLOCK (a FIFO would
    block) and checked with fstat on the open descriptor, so a link swapped in between a look
    and a read is refused as well.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, NOT_REGULAR)
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_BYTES:
            chunk = os.read(fd, MAX_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_BYTES:
            raise ValueError(path)
        return b"".join(chunks)
    finally:
        os.close(fd)


def working_tree(root: Path) -> tuple[list[SourceFile], list[Finding]]:
    """Every request file of the working tree (sorted by path), and stray files as findings.

    Only regular files are read: a link (to a file, a directory or a device), a FIFO or a
    socket is a finding, never followed, so nothing outside the repository reaches a finding,
    a plan or a pull request comment. No file is read past the size limit.
    """
    files: list[SourceFile] = []
    found: list[Finding] = []
    base = root / REQUESTS_DIR
    if base.is_symlink():
        return files, [Finding(REQUESTS_DIR, 1, "(file)", NOT_REGULAR)]
    if not base.is_dir():
        return files, found
    for dirpath, dirnames, filenames in os.walk(base):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        for d in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            found.append(Finding(f"{rel_dir}/{d}", 1, "(file)", NOT_REGULAR))
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and not os.path.islink(os.path.join(dirpath, d))
        )
        for name in sorted(filenames):
            path = f"{rel_dir}/{name}"
            if name in IGNORED_NAMES or name.startswith("."):
                continue
            if not is_request_path(path):
                found.append(stray_finding(path))
                continue
            try:
                data = read_request_file(Path(dirpath) / name)
            except ValueError:
                found.append(too_big(path))
                continue
            except OSError as exc:
                irregular = exc.errno in (errno.EINVAL, errno.ELOOP, errno.ENXIO)
                why = NOT_REGULAR if irregular else f"cannot read: {exc.strerror}"
                found.append(Finding(path, 1, "(file)", why))
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


def resolve_ref(root: Path, ref: str) -> str:
    """The commit id of `ref`; GitError when it does not exist."""
    if ref.startswith("-"):
        raise GitError(f"not a git ref: {ref!r}")
    return _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()


def git_output(root: Path, *args: str) -> bytes:
    """Run one git command in `root`; its standard output, or GitError with git's last word."""
    return _git(root, *args)


def has_commits(root: Path) -> bool:
    """True when the repository has at least one commit (HEAD resolves)."""
    try:
        resolve_ref(root, "HEAD")
    except GitError:
        return False
    return True


def default_base(root: Path, branch: str = "main") -> str:
    """The merge base of HEAD with `branch` (or origin/<branch>).

    Raises GitError when neither exists or they share no history (a shallow clone): comparing
    with HEAD instead would hide every change of the working tree's branch from the checks.
    """
    for candidate in (branch, f"origin/{branch}"):
        try:
            resolve_ref(root, candidate)
        except GitError:
            continue
        try:
            return _git(root, "merge-base", "HEAD", candidate).decode().strip()
        except GitError:
            raise GitError(
                f"HEAD and {candidate} share no commit in this clone (shallow?): fetch more "
                f"history (`git fetch --unshallow`) or pass --base REF"
            ) from None
    raise GitError(
        f"no branch {branch!r} or 'origin/{branch}' to compare with: fetch it "
        f"(`git fetch origin {branch}`), pass --base REF, or --no-base to skip the checks "
        "that need the state before the change"
    )


def tree_blobs(root: Path, ref: str) -> dict[str, str]:
    """Request path -> blob id at `ref` (one `git ls-tree`); non-request paths are left out."""
    return tree_entries(root, ref)[0]


def tree_entries(root: Path, ref: str) -> tuple[dict[str, str], list[Finding]]:
    """Request path -> blob id at `ref`, and findings for entries that are not plain files.

    A link committed under requests/ (mode 120000), a submodule, or a blob over the size limit
    is a finding and is never read (one `git ls-tree --long`).
    """
    out = _git(root, "ls-tree", "-r", "-z", "-l", "--full-tree", ref, "--", f"{REQUESTS_DIR}/")
    blobs: dict[str, str] = {}
    found: list[Finding] = []
    for entry in out.split(b"\x00"):
        if not entry:
            continue
        meta, _, raw_path = entry.partition(b"\t")
        mode, kind, blob, size = meta.split()[:4]
        path = raw_path.decode("utf-8", "surrogateescape")
        if not is_request_path(path):
            continue
        if kind != b"blob" or mode not in (b"100644", b"100755"):
            found.append(Finding(path, 1, "(file)", NOT_REGULAR))
        elif int(size) > MAX_BYTES:
            found.append(too_big(path))
        else:
            blobs[path] = blob.decode()
    return blobs, found


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
