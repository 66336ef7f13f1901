"""What `--at WHEN` means, and which snapshot it picks.

A restore is asked for by time ("as it was yesterday at 10:00"), by age ("2h" ago) or by a
snapshot id from `opdhost backup list`; the snapshot restored is the newest one taken at or
before that time, so a restore never brings back something newer than asked for. Times
without a zone are UTC, as `opdhost backup list` prints them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from opdhost.backup import BackupError

ALLOWED = (
    "'latest', a snapshot id from `opdhost backup list` (8 hex digits), an age such as 30m, "
    "2h or 3d (ago), a date 2026-12-01 (its end) or a time 2026-12-01T10:30 "
    "(UTC unless it carries Z or an offset such as +07:00)"
)
_AGE = re.compile(r"(\d{1,5})\s*([mhdw])(?:\s+ago)?")
_SNAPSHOT = re.compile(r"[0-9a-f]{8,64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FRACTION = re.compile(r"(\.\d{6})\d+")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True, slots=True)
class At:
    """A point in time (UTC) or one snapshot id."""

    time: dt.datetime | None = None
    snapshot: str = ""

    def describe(self) -> str:
        """For messages."""
        if self.snapshot:
            return f"snapshot {self.snapshot}"
        assert self.time is not None
        return self.time.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One snapshot of one part of a site, as `opdhost-backup snapshots` lists it."""

    id: str
    time: dt.datetime
    kind: str
    node: str


def parse_at(text: str, now: dt.datetime) -> At:
    """The meaning of `--at TEXT` at `now` (aware); BackupError naming what is allowed."""
    value = text.strip().lower()
    if value in ("latest", "now"):
        return At(time=now)
    age = _AGE.fullmatch(value)
    if age:
        return At(time=now - dt.timedelta(**{_UNITS[age[2]]: int(age[1])}))
    if _DATE.fullmatch(value):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError as exc:
            raise BackupError(f"--at {text!r}: {exc}", hint=f"use {ALLOWED}") from None
        end = dt.datetime.combine(day, dt.time(23, 59, 59), dt.UTC)
        return At(time=end)
    if _SNAPSHOT.fullmatch(value) and not value.isdigit():
        return At(snapshot=value)
    try:
        when = parse_time(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise BackupError(f"--at {text!r} is not a time", hint=f"use {ALLOWED}") from None
    if when > now + dt.timedelta(minutes=1):
        raise BackupError(f"--at {text!r} is in the future", hint=f"use {ALLOWED}")
    return At(time=when)


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 time (restic's nanoseconds cut to microseconds), aware, in UTC."""
    when = dt.datetime.fromisoformat(_FRACTION.sub(r"\1", text.replace("Z", "+00:00")))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def pick(snapshots: Sequence[Snapshot], at: At, what: str) -> Snapshot:
    """The newest snapshot at or before `at` (or the one with that id); BackupError if none."""
    if not snapshots:
        raise BackupError(f"{what}: no backup yet", hint="`opdhost backup now SITE` makes one")
    if at.snapshot:
        found = [s for s in snapshots if s.id.startswith(at.snapshot[:8])]
        if not found:
            raise BackupError(
                f"{what}: no snapshot {at.snapshot}",
                hint="`opdhost backup list SITE` shows the snapshots",
            )
        return found[0]
    assert at.time is not None
    before = [s for s in snapshots if s.time <= at.time]
    if not before:
        first = min(s.time for s in snapshots).strftime("%Y-%m-%d %H:%M:%S UTC")
        raise BackupError(
            f"{what}: no backup at or before {at.describe()}; the oldest kept is of {first}",
            hint="`opdhost backup list SITE` shows the snapshots",
        )
    return max(before, key=lambda s: s.time)
