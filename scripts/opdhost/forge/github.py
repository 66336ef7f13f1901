"""GitHub, through PyGithub (the de-facto client of the REST API).

Endpoints (docs.github.com/rest): a pull request's comments are its issue's comments (GET/POST
/repos/{owner}/{repo}/issues/{number}/comments, PATCH /repos/{owner}/{repo}/issues/comments/
{id}); issues (GET /repos/{owner}/{repo}/issues?state=open&labels=, POST .../issues, PATCH
.../issues/{number}); the pull requests of a commit (GET /repos/{owner}/{repo}/commits/{sha}/
pulls) and a pull request's reviews (GET /repos/{owner}/{repo}/pulls/{number}/reviews). Lists
follow the Link header (PaginatedList). The client is lazy: no request to read an object
opdhost only writes to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import requests
from github import Auth, Github, GithubException

from opdhost.forge.base import Comment, Issue, MergeRequest, http_error
from opdhost.forge.context import CiContext

COMMENT_LIMIT = 65_536
"""GitHub refuses a comment or issue body longer than 65,536 characters."""


T = TypeVar("T")


class GitHubForge:
    """One repository on GitHub (or GitHub Enterprise Server: GITHUB_API_URL)."""

    name = "GitHub"
    comment_limit = COMMENT_LIMIT

    def __init__(self, ctx: CiContext) -> None:
        self._secrets = [ctx.token]
        auth = Auth.Token(ctx.token) if ctx.token else None
        self._gh = Github(
            auth=auth, base_url=ctx.api_url, timeout=30, retry=None, lazy=True, per_page=100
        )
        self._repo = self._gh.get_repo(ctx.project)

    def _run(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except GithubException as exc:
            data = exc.data if isinstance(exc.data, dict) else {}
            detail = str(data.get("message", "")) if data else ""
            raise http_error(self.name, what, exc.status, detail, self._secrets) from None
        except requests.RequestException as exc:
            raise http_error(self.name, what, None, type(exc).__name__, self._secrets) from None

    def comments(self, number: int) -> list[Comment]:
        """Every comment of the pull request's conversation, all pages."""
        issue = self._repo.get_issue(number)
        return self._run(
            f"listing the comments of #{number}",
            lambda: [Comment(c.id, c.body or "") for c in issue.get_comments()],
        )

    def create_comment(self, number: int, body: str) -> Comment:
        """POST a comment."""
        issue = self._repo.get_issue(number)
        made = self._run(f"commenting on #{number}", lambda: issue.create_comment(body))
        return Comment(made.id, body)

    def update_comment(self, number: int, comment_id: int, body: str) -> Comment:
        """PATCH a comment's body."""
        comment = self._repo.get_issue(number).get_comment(comment_id)
        self._run(f"updating comment {comment_id} of #{number}", lambda: comment.edit(body))
        return Comment(comment_id, body)

    def open_issues(self, label: str) -> list[Issue]:
        """Open issues (not pull requests) with the label, all pages."""

        def read() -> list[Issue]:
            found = self._repo.get_issues(state="open", labels=[label])
            return [
                Issue(i.number, i.body or "", i.html_url)
                for i in found
                if "/pull/" not in i.html_url  # the list has pull requests too
            ]

        return self._run(f"listing the open issues labelled {label}", read)

    def create_issue(self, title: str, body: str, label: str) -> Issue:
        """POST an issue with the label."""
        made = self._run(
            "creating an issue",
            lambda: self._repo.create_issue(title=title, body=body, labels=[label]),
        )
        return Issue(made.number, body, made.html_url)

    def update_issue(self, issue: Issue, title: str, body: str) -> Issue:
        """PATCH title and body."""
        found = self._repo.get_issue(issue.number)
        self._run(f"updating issue #{issue.number}", lambda: found.edit(title=title, body=body))
        return Issue(issue.number, body, issue.url)

    def close_issue(self, issue: Issue, comment: str) -> None:
        """A comment, then state=closed."""
        found = self._repo.get_issue(issue.number)
        self._run(f"commenting on issue #{issue.number}", lambda: found.create_comment(comment))
        self._run(
            f"closing issue #{issue.number}",
            lambda: found.edit(state="closed", state_reason="completed"),
        )

    def _reviews(self, number: int) -> list[Any]:
        pull = self._repo.get_pull(number)
        return self._run(f"reading the reviews of #{number}", lambda: list(pull.get_reviews()))

    def merge_request_of(self, sha: str) -> MergeRequest | None:
        """The merged pull request whose merge commit is `sha`, and its approvers."""
        pulls = self._run(
            f"listing the pull requests of commit {sha[:12]}",
            lambda: list(self._repo.get_commit(sha).get_pulls()),
        )
        for pr in pulls:
            if pr.merged_at is None or pr.merge_commit_sha != sha:
                continue
            reviews = self._reviews(pr.number)
            last: dict[str, str] = {}
            for review in reviews:  # oldest first; a later change request or dismissal wins
                if review.user is not None and review.state in (
                    "APPROVED",
                    "CHANGES_REQUESTED",
                    "DISMISSED",
                ):
                    last[review.user.login] = review.state
            approved = [user for user, state in last.items() if state == "APPROVED"]
            author = pr.user.login if pr.user is not None else ""
            return MergeRequest(pr.number, pr.html_url, author, approved)
        return None
