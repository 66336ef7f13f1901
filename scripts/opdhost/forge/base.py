"""What every forge client offers `opdhost ci`, and the typed error they all raise."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from opdhost.errors import OpdhostError

PLAN_MARKER = "<!-- opdhost-plan -->"
"""Hidden first line of the plan comment: how the next push finds it to update it."""
DRIFT_MARKER = "<!-- opdhost-drift -->"
"""Hidden first line of the drift issue's description."""
DRIFT_LABEL = "opdhost-drift"
"""Label of the drift issue (created on the forges that need it to exist first)."""


class ForgeError(OpdhostError):
    """The forge refused or failed a request, or the CI variables are incomplete."""


_STATUS_HINTS = {
    401: "the token is missing, expired or revoked: set OPDHOST_FORGE_TOKEN (see docs/forge.md)",
    403: "the token lacks a permission: see docs/forge.md for the scopes each command needs",
    404: "the project, merge request or issue was not found, or the token cannot see it",
}


def http_error(
    forge: str, what: str, status: int | None, detail: str, secrets: list[str]
) -> ForgeError:
    """A ForgeError for an HTTP answer, with a hint for the statuses a user can fix."""
    text = f"{forge} answered {status} to {what}" if status else f"{forge}: {what} failed"
    if detail:
        text += f": {detail}"
    hint = _STATUS_HINTS.get(status or 0, "")
    if status is not None and status >= 500:
        hint = "the forge failed: retry later; nothing was changed by opdhost"
    return ForgeError(scrub(text, secrets), hint)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def scrub(text: str, secrets: list[str]) -> str:
    """`text` on one line, at most 300 characters, with every secret replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= 300 else text[:297] + "..."


@dataclass(frozen=True)
class Comment:
    """A comment on a merge request: its id and body."""

    id: int
    body: str


@dataclass(frozen=True)
class Issue:
    """An issue: number (GitLab iid), body, web address."""

    number: int
    body: str
    url: str


@dataclass(frozen=True)
class MergeRequest:
    """The merge request that merged a commit, and who approved it."""

    number: int
    url: str
    author: str
    approved_by: list[str] = field(default_factory=list)


class Forge(Protocol):
    """The few operations `opdhost ci` needs, the same on every forge."""

    name: str
    comment_limit: int  # characters a comment (and an issue body) may have

    def comments(self, number: int) -> list[Comment]:
        """Every comment of merge request `number`, oldest first (all pages)."""

    def create_comment(self, number: int, body: str) -> Comment:
        """A new comment on merge request `number`."""

    def update_comment(self, number: int, comment_id: int, body: str) -> Comment:
        """Replace the body of a comment of merge request `number`."""

    def open_issues(self, label: str) -> list[Issue]:
        """The open issues carrying `label` (all pages)."""

    def create_issue(self, title: str, body: str, label: str) -> Issue:
        """A new issue with `label` (created first where the forge needs that)."""

    def update_issue(self, issue: Issue, title: str, body: str) -> Issue:
        """Replace an issue's title and body."""

    def close_issue(self, issue: Issue, comment: str) -> None:
        """Comment on an issue, then close it."""

    def merge_request_of(self, sha: str) -> MergeRequest | None:
        """The merged merge request whose merge (or squash) commit is `sha`, or None."""
