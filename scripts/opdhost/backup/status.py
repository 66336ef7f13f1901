"""When a backup counts as failed or too old: what `opdhost backup check` exits non-zero on.

Each web and database node keeps a status file per site (`opdhost-backup status` returns them
all at once): the last attempt, its exit and error, the last success, its size. This module
compares them with what the requests say should be backed up, at a given time, so the rules
are tested without a lab: a part whose last attempt failed is `failed`; one whose last success
is older than the platform's `max_age_hours` is `too old`; one never backed up is `missing`;
a node whose nightly repository check found damage makes every part there `corrupt`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opdhost.backup.layout import Part
from opdhost.backup.when import parse_time

OK, FAILED, TOO_OLD, MISSING, CORRUPT, UNREACHABLE = (
    "ok",
    "failed",
    "too old",
    "missing",
    "corrupt",
    "unreachable",
)


@dataclass(frozen=True, slots=True)
class Row:
    """One site's files or database: its last backup and what is wrong with it."""

    site: str
    kind: str
    node: str
    state: str
    last_success: dt.datetime | None = None
    bytes: int = 0
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Backed up, recently enough."""
        return self.state == OK

    def age_text(self, now: dt.datetime) -> str:
        """`3h 05m` since the last success, `-` when never."""
        if self.last_success is None:
            return "-"
        minutes = max(0, int((now - self.last_success).total_seconds() // 60))
        days, rest = divmod(minutes, 24 * 60)
        return (f"{days}d " if days else "") + f"{rest // 60}h {rest % 60:02d}m"


def _time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def evaluate(
    parts: Iterable[Part],
    answers: Mapping[str, Mapping[str, Any] | str],
    now: dt.datetime,
    max_age_hours: int,
) -> list[Row]:
    """A row per part, sorted by site and kind.

    `answers` maps a node to its `opdhost-backup status` answer, or to a string saying why
    the node could not be asked (then its parts are `unreachable`).
    """
    limit = dt.timedelta(hours=max_age_hours)
    rows = []
    for part in sorted(parts, key=lambda p: (p.site, p.kind)):
        answer = answers.get(part.node, "not asked")
        if isinstance(answer, str):
            rows.append(Row(part.site, part.kind, part.node, UNREACHABLE, detail=answer))
            continue
        nightly = answer.get("nightly") or {}
        check = nightly.get("check") if isinstance(nightly, dict) else None
        status = (answer.get("sites") or {}).get(part.site)
        if not isinstance(status, dict) or status.get("kind") != part.kind:
            rows.append(Row(part.site, part.kind, part.node, MISSING, detail="never backed up"))
            continue
        last = _time(status.get("last_success"))
        size = int(status.get("bytes") or 0)
        if isinstance(check, dict) and check.get("ok") is False:
            detail = str(check.get("error") or "the repository check failed")
            rows.append(Row(part.site, part.kind, part.node, CORRUPT, last, size, detail))
        elif status.get("exit") not in (0, None):
            detail = str(status.get("error") or f"exit {status.get('exit')}")
            rows.append(Row(part.site, part.kind, part.node, FAILED, last, size, detail))
        elif last is None:
            rows.append(Row(part.site, part.kind, part.node, MISSING, None, size, "no success"))
        elif now - last > limit:
            detail = f"older than {max_age_hours}h"
            rows.append(Row(part.site, part.kind, part.node, TOO_OLD, last, size, detail))
        else:
            rows.append(Row(part.site, part.kind, part.node, OK, last, size))
    return rows
