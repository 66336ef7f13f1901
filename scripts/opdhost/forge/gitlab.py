"""GitLab, through python-gitlab (the de-facto client of the REST API v4).

Endpoints (docs.gitlab.com/api): merge request notes (GET/POST
/projects/:id/merge_requests/:iid/notes, PUT .../notes/:note_id), issues (GET
/projects/:id/issues?labels=&state=opened, POST /projects/:id/issues, PUT
/projects/:id/issues/:iid, POST /projects/:id/issues/:iid/notes), the merge requests of a
commit (GET /projects/:id/repository/commits/:sha/merge_requests) and their approvals (GET
/projects/:id/merge_requests/:iid/approvals). Lists are read page by page (get_all).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import gitlab
import requests
from gitlab.exceptions import GitlabError

from opdhost.forge.base import Comment, Issue, MergeRequest, http_error
from opdhost.forge.context import CiContext

NOTE_LIMIT = 1_000_000
"""GitLab refuses a note (or description) longer than 1,000,000 characters."""


T = TypeVar("T")


class GitLabForge:
    """One project on one GitLab server."""

    name = "GitLab"
    comment_limit = NOTE_LIMIT

    def __init__(self, ctx: CiContext) -> None:
        self._secrets = [ctx.token]
        private = ctx.token if ctx.token_kind == "private" else None
        job = ctx.token if ctx.token_kind == "job" else None
        self._gl = gitlab.Gitlab(ctx.api_url, private_token=private, job_token=job, timeout=30)
        self._project = self._gl.projects.get(ctx.project, lazy=True)

    @contextmanager
    def _call(self, what: str) -> Iterator[None]:
        try:
            yield
        except GitlabError as exc:
            raise http_error(
                self.name, what, exc.response_code, str(exc.error_message), self._secrets
            ) from None
        except requests.RequestException as exc:
            raise http_error(self.name, what, None, type(exc).__name__, self._secrets) from None

    def _run(self, what: str, call: Callable[[], T]) -> T:
        with self._call(what):
            return call()

    def comments(self, number: int) -> list[Comment]:
        """Every note of the merge request (system notes left out), all pages."""
        mr = self._project.mergerequests.get(number, lazy=True)
        notes = self._run(
            f"listing the notes of !{number}",
            lambda: mr.notes.list(get_all=True, sort="asc", order_by="created_at"),
        )
        return [Comment(int(n.id), str(n.body)) for n in notes if not getattr(n, "system", False)]

    def create_comment(self, number: int, body: str) -> Comment:
        """POST a note."""
        mr = self._project.mergerequests.get(number, lazy=True)
        note = self._run(f"creating a note on !{number}", lambda: mr.notes.create({"body": body}))
        return Comment(int(note.id), str(note.body))

    def update_comment(self, number: int, comment_id: int, body: str) -> Comment:
        """PUT a note's body."""
        mr = self._project.mergerequests.get(number, lazy=True)
        self._run(
            f"updating note {comment_id} of !{number}",
            lambda: mr.notes.update(comment_id, {"body": body}),
        )
        return Comment(comment_id, body)

    def open_issues(self, label: str) -> list[Issue]:
        """Open issues with the label, all pages."""
        found = self._run(
            f"listing the open issues labelled {label}",
            lambda: self._project.issues.list(labels=[label], state="opened", get_all=True),
        )
        return [Issue(int(i.iid), str(i.description or ""), str(i.web_url)) for i in found]

    def create_issue(self, title: str, body: str, label: str) -> Issue:
        """POST an issue (GitLab creates a label that does not exist yet)."""
        data = {"title": title, "description": body, "labels": label}
        made = self._run("creating an issue", lambda: self._project.issues.create(data))
        return Issue(int(made.iid), body, str(made.web_url))

    def update_issue(self, issue: Issue, title: str, body: str) -> Issue:
        """PUT the issue's title and description."""
        data = {"title": title, "description": body}
        self._run(
            f"updating issue #{issue.number}",
            lambda: self._project.issues.update(issue.number, data),
        )
        return Issue(issue.number, body, issue.url)

    def close_issue(self, issue: Issue, comment: str) -> None:
        """A note, then state_event=close."""
        found = self._project.issues.get(issue.number, lazy=True)
        self._run(
            f"commenting on issue #{issue.number}", lambda: found.notes.create({"body": comment})
        )
        self._run(
            f"closing issue #{issue.number}",
            lambda: self._project.issues.update(issue.number, {"state_event": "close"}),
        )

    def merge_request_of(self, sha: str) -> MergeRequest | None:
        """The merged merge request whose merge, squash or head commit is `sha`."""
        commit = self._project.commits.get(sha, lazy=True)
        found = self._run(
            f"listing the merge requests of commit {sha[:12]}",
            lambda: commit.merge_requests(get_all=True),
        )
        for mr in found:
            if not isinstance(mr, dict) or mr.get("state") != "merged":
                continue
            if sha not in (mr.get("merge_commit_sha"), mr.get("squash_commit_sha"), mr.get("sha")):
                continue
            iid = int(mr["iid"])
            manager = self._project.mergerequests.get(iid, lazy=True)
            approvals = self._run(f"reading the approvals of !{iid}", manager.approvals.get)
            approved = [
                str(a["user"]["username"])
                for a in getattr(approvals, "approved_by", None) or []
                if isinstance(a, dict) and isinstance(a.get("user"), dict)
            ]
            author = mr.get("author") or {}
            return MergeRequest(
                iid, str(mr.get("web_url", "")), str(author.get("username", "")), approved
            )
        return None
