"""What other open merge requests already claim: names and IPs `opdhost new` must not hand out.

Two engineers writing requests on two branches would otherwise both take the lowest free IP.
The forges publish every open merge request's head as a ref (GitLab
`refs/merge-requests/<iid>/head`, GitHub and Gitea `refs/pull/<n>/head`); `fetch_open_refs`
brings them in under `refs/opdhost/open/`, and `open_claims` reads the request files of each
(one `git ls-tree` per ref and one `git cat-file --batch` for the blobs not already known).
Merged or closed requests drop out at the next fetch (`--prune`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from opdhost.errors import GitError
from opdhost.fleet.model import Request, parse_request
from opdhost.fleet.sources import git_output, read_blobs, tree_entries

OPEN_REFS = "refs/opdhost/open"
FORGE_REFSPECS = (
    f"+refs/merge-requests/*/head:{OPEN_REFS}/mr/*",
    f"+refs/pull/*/head:{OPEN_REFS}/pr/*",
)


@dataclass
class Claims:
    """Site names, host names and IPs claimed by open merge requests, with who claims them."""

    sites: dict[str, str] = field(default_factory=dict)  # site -> "mr/12: requests/x/y.yaml"
    ips: dict[str, str] = field(default_factory=dict)
    databases: dict[str, str] = field(default_factory=dict)

    def add(self, where: str, req: Request) -> None:
        """Record the claims of one request on one open branch."""
        label = f"{where}: {req.path}"
        self.sites.setdefault(req.site, label)
        self.ips.setdefault(req.web.ip, label)
        if req.database.name:
            self.databases.setdefault(req.database.name, label)


def fetch_open_refs(root: Path, remote: str = "origin") -> None:
    """Fetch every open merge request's head from `remote` (GitLab's and GitHub's refs)."""
    git_output(root, "fetch", "--quiet", "--prune", "--no-tags", remote, *FORGE_REFSPECS)


def open_claims(root: Path, known: dict[str, str]) -> Claims:
    """Claims of the request files on every fetched open ref that differ from `known`.

    `known` is path -> blob id of the working tree: files every branch shares (already
    merged) are no one's new claim.
    """
    claims = Claims()
    try:
        listing = git_output(root, "for-each-ref", "--format=%(refname)", OPEN_REFS)
    except GitError:
        return claims
    for ref in sorted(listing.decode().split()):
        blobs, _skipped = tree_entries(root, ref)
        new = {p: b for p, b in blobs.items() if known.get(p) != b}
        contents = read_blobs(root, new.values())
        where = ref.removeprefix(f"{OPEN_REFS}/")
        for path, blob in sorted(new.items()):
            req, _problems = parse_request(contents[blob], path)
            if req is not None:
                claims.add(where, req)
    return claims
