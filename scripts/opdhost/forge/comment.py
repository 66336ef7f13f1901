"""The plan comment: one per merge request, found by its hidden marker, cut to fit."""

from __future__ import annotations

import re
from dataclasses import dataclass

from opdhost.forge.base import PLAN_MARKER, Forge, ForgeError

STEP_SUMMARY_LIMIT = 1_000_000
"""GitHub shows a job summary of at most 1 MiB; stay below it."""
_URL = re.compile(r"https?://[^\s()<>\[\]`\"']+\Z")


def check_url(url: str) -> str:
    """An artifact URL safe to put in Markdown (http(s), no spaces, brackets or quotes)."""
    if not _URL.match(url):
        raise ForgeError(f"not an http(s) URL usable in a comment: {url!r}")
    return url


def fit(markdown: str, limit: int, artifact_url: str | None) -> str:
    """`markdown` behind the marker, cut at a line to at most `limit` characters.

    A cut plan keeps its summary, closes the code block and the `<details>` it was cut in,
    and ends with a link to the full plan (or where to find it).
    """
    body = f"{PLAN_MARKER}\n{markdown}"
    if len(body) <= limit:
        return body
    where = (
        f"[the full plan]({artifact_url})"
        if artifact_url
        else "the full plan in the job's artifacts"
    )
    note = (
        f"\n**The plan is longer than this forge's comment limit ({limit} characters): "
        f"cut here; see {where}.**\n"
    )
    budget = limit - len(note) - len(PLAN_MARKER) - 1
    kept: list[str] = []
    fence = False
    details = 0
    used = 0
    for line in markdown.splitlines():
        closing = len("```\n") * (fence or line.startswith("```")) + len("</details>\n") * (
            details + 1
        )
        if used + len(line) + 1 + closing > budget:
            break
        kept.append(line)
        used += len(line) + 1
        if line.startswith("```"):
            fence = not fence
        details += line.count("<details>") - line.count("</details>")
    tail = (["```"] if fence else []) + ["", "</details>"] * max(details, 0)
    text = "\n".join([*kept, *tail])
    return f"{PLAN_MARKER}\n{text}\n{note}"[:limit]


@dataclass(frozen=True)
class Posted:
    """What happened to the plan comment."""

    action: str  # created | updated | unchanged
    comment_id: int


def upsert(forge: Forge, number: int, body: str) -> Posted:
    """Update the merge request's comment that carries the marker, or create it."""
    mine = [c for c in forge.comments(number) if c.body.startswith(PLAN_MARKER)]
    if not mine:
        return Posted("created", forge.create_comment(number, body).id)
    first = mine[0]
    if first.body == body:
        return Posted("unchanged", first.id)
    forge.update_comment(number, first.id, body)
    return Posted("updated", first.id)
