"""The usage records: `records/<env>/usage/YYYY-MM.json`, one file per month.

Why a module: reports compare months, so what a collection measured must outlive the nodes'
logs (rotated away) and counters (reset at a restart). Each collection of a month is merged
into that month's file: a day the new collection counted replaces the stored day, a day it
no longer sees (its log rotated away) is kept; disk, database and counters are the newest
reading. Written whole or not at all (the documents wing's atomic write). A record holds
counts and sizes only: no secret, no visitor's address.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from opdhost.apply.records import Records
from opdhost.documents.base import write_files
from opdhost.usage.period import Month, UsageError, parse_month

RECORD_VERSION = 1


def usage_dir(records: Records) -> Path:
    """<records>/<env>/usage."""
    return records.base / "usage"


def record_path(records: Records, month: Month) -> Path:
    """The file of one month."""
    return usage_dir(records) / f"{month}.json"


def months(records: Records) -> list[Month]:
    """The months that have a record, oldest first."""
    found = []
    for path in usage_dir(records).glob("*.json"):
        try:
            found.append(parse_month(path.stem))
        except UsageError:
            continue
    return sorted(found)


def load(records: Records, month: Month) -> dict[str, Any] | None:
    """The record of `month`, None when there is none; UsageError when it is not readable."""
    path = record_path(records, month)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{path}: not a usage record ({exc})",
            hint=f"move it away and run `opdhost usage collect --month {month}` again",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("sites"), dict):
        raise UsageError(f"{path}: not a usage record (no sites)")
    return data


def merge(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """`new` (one collection) merged into `old` (the month so far), per site and per day."""
    if old is None:
        return new
    sites: dict[str, Any] = {}
    for name in sorted(set(old["sites"]) | set(new["sites"])):
        before, now = old["sites"].get(name), new["sites"].get(name)
        if now is None:
            sites[name] = before
            continue
        if before is not None:
            days = {**before.get("days", {}), **now.get("days", {})}
            now = {**now, "days": dict(sorted(days.items()))}
        sites[name] = now
    return {
        **new,
        "first_collected_at": old.get("first_collected_at", new["first_collected_at"]),
        "collections": int(old.get("collections", 0)) + 1,
        "sites": sites,
    }


def recount_from(record: dict[str, Any] | None, month: Month) -> str:
    """The first day a new collection must count again: the day before the last collection
    (its day was partly counted, and log times are the node's local time), never before the
    month; '' (the whole month) when the month has no record yet."""
    if record is None:
        return ""
    try:
        last = dt.date.fromisoformat(str(record.get("collected_at", ""))[:10])
    except ValueError:
        return ""
    return max(month.first, min(last - dt.timedelta(days=1), month.last)).isoformat()


def save(records: Records, month: Month, data: dict[str, Any]) -> Path:
    """Write the month's record atomically (the old one or the new one, whole)."""
    path = record_path(records, month)
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    write_files({path: text.encode()})
    return path
