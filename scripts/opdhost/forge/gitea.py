"""Gitea and Forgejo, through their documented REST API (/api/v1) with requests.

Neither has a maintained Python client (the old ones follow neither forge's current API), and
their API differs from GitHub's in what matters here: issue labels are given by id (so the
label is looked up, and created once, through /repos/{owner}/{repo}/labels), and the pull
request of a merge commit has its own endpoint (GET /repos/{owner}/{repo}/commits/{sha}/pull,
Gitea 1.22+ and Forgejo 7+; 404 when the commit came from no pull request).

Endpoints (the API's swagger, /api/swagger on any instance): GET/POST
/repos/{owner}/{repo}/issues/{index}/comments, PATCH /repos/{owner}/{repo}/issues/comments/{id},
GET /repos/{owner}/{repo}/issues?state=open&type=issues&labels=, POST .../issues, PATCH
.../issues/{index}, GET/POST /repos/{owner}/{repo}/labels, GET
/repos/{owner}/{repo}/pulls/{index}/reviews. Lists are read with page and limit until a short
page. Authentication: `Authorization: token <token>`.
"""

from __future__ import annotations

from typing import Any

import requests

from opdhost.forge.base import Comment, ForgeError, Issue, MergeRequest, http_error
from opdhost.forge.context import CiContext

COMMENT_LIMIT = 65_536
"""Kept to GitHub's limit: Gitea stores more, but a page that long helps no reviewer."""
PAGE = 50
"""Items per page (Gitea's default maximum, [api] MAX_RESPONSE_ITEMS)."""
LABEL_COLOR = "#d93f0b"


class GiteaForge:
    """One repository on a Gitea or Forgejo server."""

    name = "Gitea"
    comment_limit = COMMENT_LIMIT

    def __init__(self, ctx: CiContext) -> None:
        self._secrets = [ctx.token]
        self._base = f"{ctx.api_url}/repos/{ctx.project}"
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        if ctx.token:
            self._session.headers["Authorization"] = f"token {ctx.token}"

    def _request(
        self, what: str, method: str, path: str, *, ok: tuple[int, ...] = (200, 201), **kwargs: Any
    ) -> requests.Response:
        try:
            answer = self._session.request(method, self._base + path, timeout=30, **kwargs)
        except requests.RequestException as exc:
            raise http_error(self.name, what, None, type(exc).__name__, self._secrets) from None
        if answer.status_code not in ok:
            detail = ""
            try:
                body = answer.json()
                detail = str(body.get("message", "")) if isinstance(body, dict) else ""
            except ValueError:
                pass
            raise http_error(self.name, what, answer.status_code, detail, self._secrets)
        return answer

    def _json(self, what: str, method: str, path: str, **kwargs: Any) -> Any:
        answer = self._request(what, method, path, **kwargs)
        try:
            return answer.json()
        except ValueError:
            raise ForgeError(
                f"{self.name} answered {what} with something that is not JSON"
            ) from None

    def _pages(
        self, what: str, path: str, params: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a list endpoint, page by page.

        Gitea caps `limit` at its [api] MAX_RESPONSE_ITEMS and names the next page in the Link
        header; without a Link header a full page means there may be another. A page with
        nothing new ends the walk (a server that ignores `page`).
        """
        items: list[dict[str, Any]] = []
        seen: set[object] = set()
        page = 1
        while True:
            query = {**(params or {}), "page": page, "limit": PAGE}
            answer = self._request(what, "GET", path, params=query)
            try:
                got = answer.json()
            except ValueError:
                got = None
            if not isinstance(got, list):
                raise ForgeError(f"{self.name} answered {what} with something that is not a list")
            fresh = [i for i in got if isinstance(i, dict) and i.get("id") not in seen]
            items += fresh
            seen.update(i.get("id") for i in fresh)
            more = "next" in answer.links if answer.headers.get("Link") else len(got) >= PAGE
            if not more or not fresh:
                return items
            page += 1

    def comments(self, number: int) -> list[Comment]:
        """Every comment of the pull request's conversation."""
        found = self._pages(f"listing the comments of #{number}", f"/issues/{number}/comments")
        return [Comment(int(c["id"]), str(c.get("body") or "")) for c in found]

    def create_comment(self, number: int, body: str) -> Comment:
        """POST a comment."""
        made = self._json(
            f"commenting on #{number}", "POST", f"/issues/{number}/comments", json={"body": body}
        )
        return Comment(int(made["id"]), body)

    def update_comment(self, number: int, comment_id: int, body: str) -> Comment:
        """PATCH a comment's body."""
        what = f"updating comment {comment_id} of #{number}"
        self._request(what, "PATCH", f"/issues/comments/{comment_id}", json={"body": body})
        return Comment(comment_id, body)

    def open_issues(self, label: str) -> list[Issue]:
        """Open issues (not pull requests) with the label."""
        params = {"state": "open", "type": "issues", "labels": label}
        found = self._pages(f"listing the open issues labelled {label}", "/issues", params)
        return [
            Issue(int(i["number"]), str(i.get("body") or ""), str(i.get("html_url", "")))
            for i in found
            if not i.get("pull_request")
        ]

    def _label_id(self, label: str) -> int:
        for item in self._pages("listing the labels", "/labels"):
            if item.get("name") == label:
                return int(item["id"])
        made = self._json(
            f"creating the label {label}",
            "POST",
            "/labels",
            json={
                "name": label,
                "color": LABEL_COLOR,
                "description": "opdhost: hosts differ from the requests",
            },
        )
        return int(made["id"])

    def create_issue(self, title: str, body: str, label: str) -> Issue:
        """POST an issue with the label's id."""
        data = {"title": title, "body": body, "labels": [self._label_id(label)]}
        made = self._json("creating an issue", "POST", "/issues", json=data)
        return Issue(int(made["number"]), body, str(made.get("html_url", "")))

    def update_issue(self, issue: Issue, title: str, body: str) -> Issue:
        """PATCH title and body."""
        what = f"updating issue #{issue.number}"
        self._request(what, "PATCH", f"/issues/{issue.number}", json={"title": title, "body": body})
        return Issue(issue.number, body, issue.url)

    def close_issue(self, issue: Issue, comment: str) -> None:
        """A comment, then state=closed."""
        n = issue.number
        self._request(
            f"commenting on issue #{n}", "POST", f"/issues/{n}/comments", json={"body": comment}
        )
        self._request(f"closing issue #{n}", "PATCH", f"/issues/{n}", json={"state": "closed"})

    def merge_request_of(self, sha: str) -> MergeRequest | None:
        """The pull request merged as `sha` (404: none), and its approvers."""
        what = f"finding the pull request of commit {sha[:12]}"
        answer = self._request(what, "GET", f"/commits/{sha}/pull", ok=(200, 404))
        if answer.status_code == 404:  # no such pull request, or no such repository?
            self._request("reading the repository", "GET", "")
            return None
        try:
            pr = answer.json()
        except ValueError:
            raise ForgeError(
                f"{self.name} answered {what} with something that is not JSON"
            ) from None
        if not isinstance(pr, dict) or not pr.get("merged"):
            return None
        number = int(pr["number"])
        reviews = self._pages(f"reading the reviews of #{number}", f"/pulls/{number}/reviews")
        last: dict[str, str] = {}
        for review in reviews:  # oldest first; a later change request wins
            user = review.get("user") or {}
            state = review.get("state")
            if user.get("login") and state in ("APPROVED", "REQUEST_CHANGES"):
                last[str(user["login"])] = "DISMISSED" if review.get("dismissed") else str(state)
        approved = [u for u, s in last.items() if s == "APPROVED"]
        author = str((pr.get("user") or {}).get("login", ""))
        return MergeRequest(number, str(pr.get("html_url", "")), author, approved)
