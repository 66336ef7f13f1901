"""What the git history of `requests/` says: when each request was merged, when each IP was
claimed by its site.

One `git log` over the branch's first-parent line reads it all: a merge commit counts with
its merge date (the approval), a squashed or rebased request with its own commit.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from opdhost.documents.base import parse_stamp
from opdhost.errors import GitError
from opdhost.fleet.sources import git_output, has_commits

_IP = re.compile(r"\bip:\s*[\"']?(\d{1,3}(?:\.\d{1,3}){3})\b")
_RECORD = "\x1e"
_FIELD = "\x1f"


@dataclass(frozen=True, slots=True)
class Commit:
    """One commit of the history: id and committer date."""

    sha: str
    date: dt.datetime


@dataclass(slots=True)
class History:
    """First commit adding each request file, first commit where each site named each IP."""

    available: bool = False
    added: dict[str, Commit] = field(default_factory=dict)  # path -> first commit adding it
    claimed: dict[tuple[str, str], Commit] = field(default_factory=dict)  # (site, ip) -> first

    def merged(self, path: str) -> Commit | None:
        """The commit that brought `path` onto the branch, if any."""
        return self.added.get(path)

    def claim(self, site: str, ip: str) -> Commit | None:
        """The first commit in which `site` claimed `ip`."""
        return self.claimed.get((site, ip))


def read_history(root: Path, ref: str = "HEAD") -> History:
    """The history of requests/ on `ref`; empty (available False) outside a git repository."""
    if not (root / ".git").exists() or not has_commits(root):
        return History()
    try:
        out = git_output(
            root, "log", "--reverse", "--first-parent", "--diff-merges=first-parent",
            "--no-renames", "--no-color", "-U0", f"--format={_RECORD}%H{_FIELD}%cI",
            "-p", ref, "--", "requests/",
        ).decode("utf-8", "replace")  # fmt: skip
    except GitError:
        return History()
    history = History(available=True)
    for chunk in out.split(_RECORD)[1:]:
        header, _, body = chunk.partition("\n")
        sha, _, stamp = header.partition(_FIELD)
        date = parse_stamp(stamp.strip())
        if date is None:
            continue
        commit = Commit(sha, date)
        _read_patch(history, commit, body)
    return history


def _read_patch(history: History, commit: Commit, body: str) -> None:
    path = ""
    new = False
    for line in body.splitlines():
        if line.startswith("diff --git "):
            path, new = "", False
        elif line.startswith("new file mode"):
            new = True
        elif line.startswith("+++ "):
            target = line[4:].strip()
            path = target[2:] if target.startswith("b/") else ""
            if path and new:
                history.added.setdefault(path, commit)
        elif path and line.startswith("+") and path.endswith(".yaml"):
            found = _IP.search(line)
            if found:
                site = PurePosixPath(path).stem
                history.claimed.setdefault((site, found.group(1)), commit)
