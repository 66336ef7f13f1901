"""GitLab (API v4), GitHub (REST) and Gitea (API v1) fakes on 127.0.0.1, in a thread."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "glpat-SECRET-token-0123456789"
"""The only token the fakes accept."""
PAGE_CAP = 1
"""Items per page, whatever the client asks: every list spans pages."""


@dataclass
class Sent:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Merged:
    """A merged merge request: its commit, author, web address and reviews (user, state)."""

    number: int
    sha: str
    author: str
    reviews: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class State:
    """What the forge holds."""

    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    issues: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    merged: list[Merged] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    fail: int | None = None  # answer every request with this status
    next_id: int = 1000

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def writes(self) -> list[Sent]:
        return [s for s in self.sent if s.method != "GET"]


Answer = tuple[int, Any]
Route = tuple[str, re.Pattern[str], Callable[..., Answer]]


class Fake:
    """A forge: routes, authentication, pagination."""

    kind = ""
    prefix = ""

    def __init__(self) -> None:
        self.state = State()
        self.url = ""

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def authorized(self, headers: dict[str, str]) -> bool:
        raise NotImplementedError

    def env(self, **extra: str) -> dict[str, str]:
        raise NotImplementedError

    def paginate(
        self, handler: BaseHTTPRequestHandler, items: list[Any], query: dict[str, str]
    ) -> tuple[list[Any], dict[str, str]]:
        size_key = "limit" if self.kind == "gitea" else "per_page"
        page = int(query.get("page", "1"))
        size = min(int(query.get(size_key, "20")), PAGE_CAP)
        chunk = items[(page - 1) * size : page * size]
        pages = max(1, -(-len(items) // size))
        headers = {"X-Total-Count" if self.kind == "gitea" else "X-Total": str(len(items))}
        if page < pages:
            rest = {**query, "page": str(page + 1), size_key: str(size)}
            qs = "&".join(f"{k}={v}" for k, v in rest.items())
            path = urlsplit(handler.path).path
            headers["Link"] = f'<{self.url}{path}?{qs}>; rel="next"'
            if self.kind == "gitlab":
                headers["X-Next-Page"] = str(page + 1)
        if self.kind == "gitlab":
            headers.update(
                {"X-Page": str(page), "X-Per-Page": str(size), "X-Total-Pages": str(pages)}
            )
        return chunk, headers


def _handler(fake: Fake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
            headers = {k: v for k, v in self.headers.items()}
            fake.state.sent.append(Sent(self.command, parts.path, query, headers, body))
            extra: dict[str, str] = {}
            if fake.state.fail is not None:
                status, data = fake.state.fail, {"message": f"{fake.state.fail} failure"}
            elif not fake.authorized(headers):
                status, data = 401, {"message": "401 Unauthorized"}
            else:
                status, data = 404, {"message": "404 Not Found"}
                for method, pattern, func in fake.routes():
                    m = pattern.fullmatch(parts.path.removeprefix(fake.prefix))
                    if m and method == self.command:
                        result = func(*m.groups(), query=query, body=body)
                        status, data = result
                        if status == 200 and isinstance(data, list) and self.command == "GET":
                            data, extra = fake.paginate(self, data, query)
                        break
            out = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 - http.server names

    return Handler


@contextmanager
def serving(fake: Fake) -> Iterator[Fake]:
    """Run `fake` on 127.0.0.1 (a free port) for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def _r(method: str, pattern: str, func: Callable[..., Answer]) -> Route:
    return (method, re.compile(pattern), func)


class GitLab(Fake):
    """GitLab REST API v4: project 42, notes, issues, commit merge requests, approvals."""

    kind = "gitlab"
    prefix = "/api/v4/projects/42"

    def authorized(self, headers: dict[str, str]) -> bool:
        return TOKEN in (headers.get("PRIVATE-TOKEN"), headers.get("JOB-TOKEN"))

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "CI": "true",
            "GITLAB_CI": "true",
            "CI_SERVER_URL": self.url,
            "CI_API_V4_URL": f"{self.url}/api/v4",
            "CI_PROJECT_ID": "42",
            "CI_COMMIT_SHA": "c" * 40,
            "OPDHOST_FORGE_TOKEN": TOKEN,
            **extra,
        }

    def _note(self, text: str) -> dict[str, Any]:
        return {
            "id": self.state.new_id(),
            "body": text,
            "system": False,
            "author": {"username": "bot"},
        }

    def _issue_json(self, i: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": i["number"] + 5000,
            "iid": i["number"],
            "project_id": 42,
            "title": i["title"],
            "description": i["body"],
            "state": i["state"],
            "labels": i["labels"],
            "web_url": f"{self.url}/group/project/-/issues/{i['number']}",
        }

    def routes(self) -> list[Route]:
        s = self.state

        def notes(iid: str, **_: Any) -> Answer:
            notes = s.comments.get(int(iid))
            if notes is None:
                return 404, {"message": "404 Not found"}
            system = {"id": 1, "body": "added 1 commit", "system": True}
            return 200, [system, *notes]

        def add_note(iid: str, body: Any, **_: Any) -> Answer:
            if int(iid) not in s.comments:
                return 404, {"message": "404 Not found"}
            note = self._note(body["body"])
            s.comments[int(iid)].append(note)
            return 201, note

        def put_note(iid: str, nid: str, body: Any, **_: Any) -> Answer:
            for note in s.comments.get(int(iid), []):
                if note["id"] == int(nid):
                    note["body"] = body["body"]
                    return 200, note
            return 404, {"message": "404 Note Not Found"}

        def issues(query: dict[str, str], **_: Any) -> Answer:
            state = query.get("state", "all")
            label = query.get("labels", "")
            found = [
                self._issue_json(i)
                for i in s.issues
                if (state == "all" or i["state"] == state) and (not label or label in i["labels"])
            ]
            return 200, found

        def new_issue(body: Any, **_: Any) -> Answer:
            labels = body.get("labels", "")
            labels = labels.split(",") if isinstance(labels, str) else labels
            issue = {
                "number": len(s.issues) + 1,
                "title": body["title"],
                "body": body.get("description", ""),
                "state": "opened",
                "labels": [x for x in labels if x],
                "comments": [],
            }
            s.issues.append(issue)
            return 201, self._issue_json(issue)

        def put_issue(iid: str, body: Any, **_: Any) -> Answer:
            for i in s.issues:
                if i["number"] == int(iid):
                    i["title"] = body.get("title", i["title"])
                    i["body"] = body.get("description", i["body"])
                    if body.get("state_event") == "close":
                        i["state"] = "closed"
                    return 200, self._issue_json(i)
            return 404, {"message": "404 Issue Not Found"}

        def issue_note(iid: str, body: Any, **_: Any) -> Answer:
            for i in s.issues:
                if i["number"] == int(iid):
                    i["comments"].append(body["body"])
                    return 201, self._note(body["body"])
            return 404, {"message": "404 Issue Not Found"}

        def commit_mrs(sha: str, **_: Any) -> Answer:
            found = [
                {
                    "id": m.number + 9000,
                    "iid": m.number,
                    "state": "merged",
                    "merge_commit_sha": m.sha,
                    "squash_commit_sha": None,
                    "sha": "f" * 40,
                    "author": {"username": m.author},
                    "web_url": f"{self.url}/group/project/-/merge_requests/{m.number}",
                }
                for m in s.merged
                if m.sha == sha
            ]
            return 200, found

        def approvals(iid: str, **_: Any) -> Answer:
            for m in s.merged:
                if m.number == int(iid):
                    users = [u for u, state in m.reviews if state == "APPROVED"]
                    return 200, {
                        "iid": m.number,
                        "approved": bool(users),
                        "approved_by": [
                            {"user": {"username": u, "name": u.title()}} for u in users
                        ],
                    }
            return 404, {"message": "404 Not found"}

        return [
            _r("GET", r"/merge_requests/(\d+)/notes", notes),
            _r("POST", r"/merge_requests/(\d+)/notes", add_note),
            _r("PUT", r"/merge_requests/(\d+)/notes/(\d+)", put_note),
            _r("GET", r"/issues", issues),
            _r("POST", r"/issues", new_issue),
            _r("PUT", r"/issues/(\d+)", put_issue),
            _r("POST", r"/issues/(\d+)/notes", issue_note),
            _r("GET", r"/repository/commits/([0-9a-f]+)/merge_requests", commit_mrs),
            _r("GET", r"/merge_requests/(\d+)/approvals", approvals),
        ]


class GitHub(Fake):
    """GitHub REST API for repository octo/hosting."""

    kind = "github"
    prefix = "/repos/octo/hosting"
    server = "https://github.example"

    def authorized(self, headers: dict[str, str]) -> bool:
        return headers.get("Authorization") in (f"token {TOKEN}", f"Bearer {TOKEN}")

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_API_URL": self.url,
            "GITHUB_SERVER_URL": self.server,
            "GITHUB_REPOSITORY": "octo/hosting",
            "GITHUB_SHA": "c" * 40,
            "GITHUB_TOKEN": TOKEN,
            **extra,
        }

    def _html(self, what: str, n: int) -> str:
        return f"{self.server}/octo/hosting/{what}/{n}"

    def _comment(self, c: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": c["id"],
            "body": c["body"],
            "url": f"{self.url}{self.prefix}/issues/comments/{c['id']}",
            "user": {"login": "bot"},
        }

    def _issue_json(self, i: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": i["number"] + 5000,
            "number": i["number"],
            "title": i["title"],
            "body": i["body"],
            "state": i["state"],
            "labels": [{"name": x} for x in i["labels"]],
            "url": f"{self.url}{self.prefix}/issues/{i['number']}",
            "html_url": self._html("issues", i["number"]),
        }

    def routes(self) -> list[Route]:
        s = self.state

        def comments(n: str, **_: Any) -> Answer:
            if int(n) not in s.comments:
                return 404, {"message": "Not Found"}
            return 200, [self._comment(c) for c in s.comments[int(n)]]

        def add_comment(n: str, body: Any, **_: Any) -> Answer:
            if int(n) in s.comments:
                c = {"id": s.new_id(), "body": body["body"]}
                s.comments[int(n)].append(c)
                return 201, self._comment(c)
            for i in s.issues:
                if i["number"] == int(n):
                    i["comments"].append(body["body"])
                    return 201, self._comment({"id": s.new_id(), "body": body["body"]})
            return 404, {"message": "Not Found"}

        def patch_comment(cid: str, body: Any, **_: Any) -> Answer:
            for notes in s.comments.values():
                for c in notes:
                    if c["id"] == int(cid):
                        c["body"] = body["body"]
                        return 200, self._comment(c)
            return 404, {"message": "Not Found"}

        def issues(query: dict[str, str], **_: Any) -> Answer:
            state = query.get("state", "open")
            label = query.get("labels", "")
            found = [
                self._issue_json(i)
                for i in s.issues
                if (state == "all" or i["state"] == state) and (not label or label in i["labels"])
            ]
            # a pull request carrying the label is listed too, as GitHub does
            if label and state == "open":
                found.append(
                    {
                        **self._issue_json(
                            {
                                "number": 99,
                                "title": "pr",
                                "body": "<!-- opdhost-drift --> not an issue",
                                "state": "open",
                                "labels": [label],
                            }
                        ),
                        "pull_request": {"url": "x"},
                        "html_url": self._html("pull", 99),
                    }
                )
            return 200, found

        def get_issue(n: str, **_: Any) -> Answer:
            for i in s.issues:
                if i["number"] == int(n):
                    return 200, self._issue_json(i)
            return 404, {"message": "Not Found"}

        def new_issue(body: Any, **_: Any) -> Answer:
            issue = {
                "number": len(s.issues) + 1,
                "title": body["title"],
                "body": body.get("body", ""),
                "state": "open",
                "labels": list(body.get("labels", [])),
                "comments": [],
            }
            s.issues.append(issue)
            return 201, self._issue_json(issue)

        def patch_issue(n: str, body: Any, **_: Any) -> Answer:
            for i in s.issues:
                if i["number"] == int(n):
                    i["title"] = body.get("title", i["title"])
                    i["body"] = body.get("body", i["body"])
                    i["state"] = body.get("state", i["state"])
                    return 200, self._issue_json(i)
            return 404, {"message": "Not Found"}

        def commit_pulls(sha: str, **_: Any) -> Answer:
            return 200, [
                {
                    "id": m.number + 9000,
                    "number": m.number,
                    "state": "closed",
                    "url": f"{self.url}{self.prefix}/pulls/{m.number}",
                    "html_url": self._html("pull", m.number),
                    "user": {"login": m.author},
                    "merged_at": "2026-11-20T10:00:00Z",
                    "merge_commit_sha": m.sha,
                }
                for m in s.merged
                if m.sha == sha
            ]

        def reviews(n: str, **_: Any) -> Answer:
            for m in s.merged:
                if m.number == int(n):
                    return 200, [
                        {"id": k + 1, "user": {"login": u}, "state": st}
                        for k, (u, st) in enumerate(m.reviews)
                    ]
            return 404, {"message": "Not Found"}

        return [
            _r("GET", r"/issues/(\d+)/comments", comments),
            _r("POST", r"/issues/(\d+)/comments", add_comment),
            _r("PATCH", r"/issues/comments/(\d+)", patch_comment),
            _r("GET", r"/issues", issues),
            _r("POST", r"/issues", new_issue),
            _r("PATCH", r"/issues/(\d+)", patch_issue),
            _r("GET", r"/issues/(\d+)", get_issue),
            _r("GET", r"/commits/([0-9a-f]+)/pulls", commit_pulls),
            _r("GET", r"/pulls/(\d+)/reviews", reviews),
        ]


class Gitea(GitHub):
    """Gitea/Forgejo API v1 for repository octo/hosting: labels by id, the PR of a commit."""

    kind = "gitea"
    prefix = "/api/v1/repos/octo/hosting"
    server = "https://gitea.example"

    def authorized(self, headers: dict[str, str]) -> bool:
        return headers.get("Authorization") in (f"token {TOKEN}", f"Bearer {TOKEN}")

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **super().env(),
            "GITHUB_API_URL": f"{self.url}/api/v1",
            "GITEA_ACTIONS": "true",
            **extra,
        }

    def _issue_json(self, i: dict[str, Any]) -> dict[str, Any]:
        data = super()._issue_json(i)
        data["labels"] = [
            {"id": next(x["id"] for x in self.state.labels if x["name"] == n), "name": n}
            for n in i["labels"]
        ]
        data["pull_request"] = None
        return data

    def routes(self) -> list[Route]:
        s = self.state
        github = {(m, p.pattern): f for m, p, f in super().routes()}

        def labels(**_: Any) -> Answer:
            return 200, s.labels

        def new_label(body: Any, **_: Any) -> Answer:
            if not re.fullmatch(r"#?[0-9a-fA-F]{6}", body.get("color", "")):
                return 422, {"message": "color is required"}
            label = {"id": s.new_id(), "name": body["name"], "color": body["color"]}
            s.labels.append(label)
            return 201, label

        def new_issue(body: Any, **_: Any) -> Answer:
            ids = body.get("labels", [])
            if not all(isinstance(x, int) for x in ids):
                return 422, {"message": "labels must be ids"}
            names = [x["name"] for x in s.labels if x["id"] in ids]
            issue = {
                "number": len(s.issues) + 1,
                "title": body["title"],
                "body": body.get("body", ""),
                "state": "open",
                "labels": names,
                "comments": [],
            }
            s.issues.append(issue)
            return 201, self._issue_json(issue)

        def patch_issue(n: str, body: Any, **kw: Any) -> Answer:
            status, data = github[("PATCH", r"/issues/(\d+)")](n, body=body, **kw)
            return (201 if status == 200 else status), data  # Gitea answers an edit with 201

        def issues(query: dict[str, str], **_: Any) -> Answer:
            state = query.get("state", "open")
            label = query.get("labels", "")
            return 200, [
                self._issue_json(i)
                for i in s.issues
                if (state == "all" or i["state"] == state) and (not label or label in i["labels"])
            ]

        def commit_pull(sha: str, **_: Any) -> Answer:
            for m in s.merged:
                if m.sha == sha:
                    return 200, {
                        "id": m.number + 9000,
                        "number": m.number,
                        "merged": True,
                        "merge_commit_sha": m.sha,
                        "html_url": self._html("pulls", m.number),
                        "user": {"login": m.author},
                    }
            return 404, {"message": "pull request does not exist"}

        def reviews(n: str, **_: Any) -> Answer:
            for m in s.merged:
                if m.number == int(n):
                    return 200, [
                        {
                            "id": k + 1,
                            "user": {"login": u},
                            "state": st.replace("CHANGES_REQUESTED", "REQUEST_CHANGES"),
                            "dismissed": False,
                        }
                        for k, (u, st) in enumerate(m.reviews)
                    ]
            return 404, {"message": "pull request does not exist"}

        return [
            _r("GET", r"/issues/(\d+)/comments", github[("GET", r"/issues/(\d+)/comments")]),
            _r("POST", r"/issues/(\d+)/comments", github[("POST", r"/issues/(\d+)/comments")]),
            _r("PATCH", r"/issues/comments/(\d+)", github[("PATCH", r"/issues/comments/(\d+)")]),
            _r("GET", r"/issues", issues),
            _r("POST", r"/issues", new_issue),
            _r("PATCH", r"/issues/(\d+)", patch_issue),
            _r("GET", r"/labels", labels),
            _r("GET", r"", lambda **_: (200, {"id": 3, "full_name": "octo/hosting"})),
            _r("POST", r"/labels", new_label),
            _r("GET", r"/commits/([0-9a-f]+)/pull", commit_pull),
            _r("GET", r"/pulls/(\d+)/reviews", reviews),
        ]


FAKES: dict[str, type[Fake]] = {"gitlab": GitLab, "github": GitHub, "gitea": Gitea}
