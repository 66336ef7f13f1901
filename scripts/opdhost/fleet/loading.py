"""A fleet: every request of one state (working tree or git ref), parsed and file-checked.

The working tree is read from disk; a ref is read from git, re-using the parsed requests of
the working tree for files whose blob is unchanged, so a plan parses only what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from opdhost.errors import Finding, Severity
from opdhost.fleet.model import Request, parse_request
from opdhost.fleet.sources import blob_id, is_request_path, read_blobs, tree_entries, working_tree


@dataclass(slots=True)
class Fleet:
    """Valid requests (sorted by path), the findings of the invalid files, and blob ids."""

    requests: list[Request] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    blobs: dict[str, str] = field(default_factory=dict)
    invalid: set[str] = field(default_factory=set)

    def by_site(self) -> dict[str, Request]:
        """Site name -> request (the first file by path wins; duplicates are a finding)."""
        out: dict[str, Request] = {}
        for req in self.requests:
            out.setdefault(req.site, req)
        return out

    def by_path(self) -> dict[str, Request]:
        """Path -> request."""
        return {req.path: req for req in self.requests}


def load_working_tree(root: Path) -> Fleet:
    """Parse every request file under `<root>/requests`."""
    files, found = working_tree(root)
    fleet = Fleet(findings=found, invalid={f.path for f in found if is_request_path(f.path)})
    for f in files:
        fleet.blobs[f.path] = f.blob
        req, problems = parse_request(f.data, f.path)
        if req is None:
            fleet.findings.extend(problems)
            fleet.invalid.add(f.path)
        else:
            fleet.requests.append(req)
    return fleet


def load_ref(root: Path, ref: str, reuse: Fleet | None = None) -> Fleet:
    """The fleet at a git ref; problems there are warnings (that state is already merged).

    Files whose path and blob match a valid request of `reuse` are not read nor parsed again.
    Raises GitError when the ref cannot be read.
    """
    blobs, skipped = tree_entries(root, ref)
    known = _reusable(reuse, blobs)
    contents = read_blobs(root, (b for p, b in blobs.items() if p not in known))
    return _fleet(blobs, {p: contents[b] for p, b in blobs.items() if p not in known}, known,
                  skipped, f"at {ref[:12]}")  # fmt: skip


def load_snapshot(files: dict[str, bytes], label: str, reuse: Fleet | None = None) -> Fleet:
    """The fleet of request files kept elsewhere (the applied state's copy): as `load_ref`."""
    blobs = {path: blob_id(data) for path, data in files.items()}
    known = _reusable(reuse, blobs)
    todo = {p: d for p, d in files.items() if p not in known}
    return _fleet(blobs, todo, known, [], label)


def _reusable(reuse: Fleet | None, blobs: dict[str, str]) -> dict[str, Request]:
    if reuse is None:
        return {}
    return {p: r for p, r in reuse.by_path().items() if reuse.blobs.get(p) == blobs.get(p)}


def _fleet(
    blobs: dict[str, str],
    contents: dict[str, bytes],
    known: dict[str, Request],
    skipped: list[Finding],
    label: str,
) -> Fleet:
    fleet = Fleet(blobs=blobs)
    for problem in skipped:
        fleet.invalid.add(problem.path)
        fleet.findings.append(
            replace(problem, message=f"{label}: {problem.message}", severity=Severity.WARNING)
        )
    for path in sorted(blobs):
        if path in known:
            fleet.requests.append(known[path])
            continue
        req, problems = parse_request(contents[path], path)
        if req is None:
            fleet.invalid.add(path)
            fleet.findings.extend(
                replace(p, message=f"{label}: {p.message}", severity=Severity.WARNING)
                for p in problems
            )
        else:
            fleet.requests.append(req)
    return fleet
