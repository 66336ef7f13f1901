"""What apply's run records say about each site: when it went live, was suspended,
decommissioned, last applied; and every run as a maintenance entry.

Read from `records/<env>/runs/*.json` through `opdhost.apply.records.Records`; a record that
cannot be read is skipped (apply writes them atomically, so that is a hand-made file).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from opdhost.apply.records import Records
from opdhost.documents.base import parse_stamp


@dataclass(frozen=True, slots=True)
class SiteEvent:
    """One site's outcome in one run."""

    run_id: str
    site: str
    action: str
    result: str
    mode: str
    when: dt.datetime
    who: str
    commit: str
    merge_request: str


@dataclass(slots=True)
class RunFacts:
    """Every site event of every readable run, oldest first, and the runs skipped."""

    events: list[SiteEvent] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def first_ok(self, site: str, action: str) -> SiteEvent | None:
        """The first successful `action` on `site` (create: the date it went live)."""
        return next(
            (e for e in self.events if e.site == site and e.action == action and e.result == "ok"),
            None,
        )

    def last_ok(self, site: str, action: str | None = None) -> SiteEvent | None:
        """The latest successful run touching `site` (of `action`, when given)."""
        found = [
            e for e in self.events
            if e.site == site and e.result == "ok" and action in (None, e.action)
        ]  # fmt: skip
        return found[-1] if found else None

    def for_site(self, site: str) -> list[SiteEvent]:
        """Every event of `site`."""
        return [e for e in self.events if e.site == site]


def _event(run_id: str, data: dict[str, Any], site: dict[str, Any]) -> SiteEvent | None:
    when = parse_stamp(str(data.get("ended") or data.get("started") or ""))
    if when is None or not isinstance(site.get("site"), str):
        return None
    return SiteEvent(
        run_id=run_id,
        site=site["site"],
        action=str(site.get("action", "")),
        result=str(site.get("result", "")),
        mode=str(data.get("mode", "")),
        when=when,
        who=str(data.get("triggered_by") or data.get("merge_request_author") or ""),
        commit=str(data.get("commit") or ""),
        merge_request=str(data.get("merge_request") or ""),
    )


def read_runs(records: Records) -> RunFacts:
    """Every site event of every run record of the environment."""
    facts = RunFacts()
    for path in records.runs():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            sites = data.get("sites") or []
            if not isinstance(sites, list):
                raise TypeError("sites")
        except (OSError, ValueError, TypeError, AttributeError):
            facts.skipped.append(path.name)
            continue
        run_id = str(data.get("run_id") or path.stem)
        for site in sites:
            if isinstance(site, dict) and (event := _event(run_id, data, site)) is not None:
                facts.events.append(event)
    facts.events.sort(key=lambda e: (e.when, e.run_id))
    return facts
