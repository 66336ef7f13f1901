"""Which forge CI runs on, from the variables its runner sets; and the client for it.

GitLab CI sets CI_SERVER_URL, CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID (merge
request pipelines), CI_MERGE_REQUEST_TARGET_BRANCH_NAME and CI_COMMIT_SHA. GitHub Actions sets
GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_EVENT_PATH (the event, with the pull request's
number), GITHUB_BASE_REF and GITHUB_SHA; Gitea and Forgejo Actions set the same GITHUB_*
names plus GITEA_ACTIONS=true or FORGEJO_ACTIONS=true, and their API (/api/v1) is their own.
The token is OPDHOST_FORGE_TOKEN when set, else the job's own (CI_JOB_TOKEN, GITHUB_TOKEN).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from opdhost.forge.base import Forge, ForgeError


@dataclass(frozen=True)
class CiContext:
    """What the CI variables say about the forge, the project and the change."""

    kind: str  # gitlab | github | gitea
    api_url: str  # GitLab: the server URL (python-gitlab adds /api/v4); others: the API root
    project: str  # GitLab: project id or path; others: owner/name
    sha: str
    number: int | None = None  # the merge request's iid / pull request's number
    target: str | None = None  # its target branch
    token: str = field(default="", repr=False)
    token_kind: str = field(default="", repr=False)  # private | job | bearer

    @property
    def label(self) -> str:
        """The forge's name for people."""
        return {"gitlab": "GitLab", "github": "GitHub", "gitea": "Gitea"}[self.kind]


def _number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _event(path: str | None) -> dict[str, object]:
    """The GitHub/Gitea event payload (empty when absent or unreadable: not a pull request)."""
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def detect(env: Mapping[str, str]) -> CiContext | None:
    """The forge context of this CI job, or None when run by hand (no forge variables)."""
    given = env.get("OPDHOST_FORGE_TOKEN", "")
    if env.get("CI_SERVER_URL") or env.get("CI_API_V4_URL"):
        api = env.get("CI_API_V4_URL", "").removesuffix("/").removesuffix("/api/v4")
        server = api or env.get("CI_SERVER_URL", "").removesuffix("/")
        project = env.get("CI_PROJECT_ID") or env.get("CI_PROJECT_PATH") or ""
        if not project:
            raise ForgeError("GitLab CI without CI_PROJECT_ID: cannot tell which project")
        job = env.get("CI_JOB_TOKEN", "")
        return CiContext(
            kind="gitlab",
            api_url=server,
            project=project,
            sha=env.get("CI_COMMIT_SHA", ""),
            number=_number(env.get("CI_MERGE_REQUEST_IID")),
            target=env.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME") or None,
            token=given or job,
            token_kind="private" if given else ("job" if job else ""),
        )
    if env.get("GITHUB_REPOSITORY") and (env.get("GITHUB_API_URL") or env.get("GITHUB_SERVER_URL")):
        gitea = env.get("GITEA_ACTIONS") == "true" or env.get("FORGEJO_ACTIONS") == "true"
        api = env.get("GITHUB_API_URL", "").removesuffix("/")
        if not api:
            server = env.get("GITHUB_SERVER_URL", "").removesuffix("/")
            api = f"{server}/api/v1" if gitea else "https://api.github.com"
        event = _event(env.get("GITHUB_EVENT_PATH"))
        pull = event.get("pull_request")
        number = _number(pull.get("number")) if isinstance(pull, dict) else None
        target = env.get("GITHUB_BASE_REF") or None
        if target is None and isinstance(pull, dict):
            base = pull.get("base")
            ref = base.get("ref") if isinstance(base, dict) else None
            target = ref if isinstance(ref, str) and ref else None
        token = given or env.get("GITHUB_TOKEN", "") or env.get("GITEA_TOKEN", "")
        return CiContext(
            kind="gitea" if gitea else "github",
            api_url=api,
            project=env["GITHUB_REPOSITORY"],
            sha=env.get("GITHUB_SHA", ""),
            number=number,
            target=target,
            token=token,
            token_kind="bearer" if token else "",
        )
    return None


def client(ctx: CiContext) -> Forge:
    """The forge client for `ctx`, its library imported only now."""
    if ctx.kind == "gitlab":
        from opdhost.forge.gitlab import GitLabForge  # noqa: PLC0415 - lazy: python-gitlab

        return GitLabForge(ctx)
    if ctx.kind == "github":
        from opdhost.forge.github import GitHubForge  # noqa: PLC0415 - lazy: PyGithub

        return GitHubForge(ctx)
    from opdhost.forge.gitea import GiteaForge  # noqa: PLC0415 - lazy: requests

    return GiteaForge(ctx)
