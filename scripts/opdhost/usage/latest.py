"""The newest usage record's warnings, for `opdhost plan` (a site's next change).

Why a module: the fleet wing must not load the report's machinery (Jinja2, matplotlib) to
say that a changed site is at 80 % or 100 % of an allocation; this reads one JSON file and
the figures. No record (a fresh clone, CI without records): no warning, never an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from opdhost.apply.records import Records, records_root
from opdhost.errors import Finding, Severity
from opdhost.fleet.model import Request
from opdhost.usage import store
from opdhost.usage.figures import site_figures
from opdhost.usage.period import UsageError

FIELDS = {
    "storage": ("web.storage_mb", "storage"),
    "database": ("database.quota_mb", "database size"),
    "bandwidth": ("web.bandwidth_mbit", "peak bandwidth"),
}


def records_for(root: Path, environment: str) -> Records:
    """The records of an environment: $OPDHOST_RECORDS_DIR or <root>/records."""
    return Records(records_root(root), environment)


def usage_findings(records: Records, requests: Iterable[Request]) -> list[Finding]:
    """Warnings (80 %, 100 %) from the newest month's record for the given requests."""
    wanted = list(requests)
    if not wanted:
        return []
    try:
        found = store.months(records)
        record = store.load(records, found[-1]) if found else None
    except (UsageError, OSError):
        return []
    if record is None:
        return []
    out = []
    for req in wanted:
        entry = record["sites"].get(req.site)
        if not isinstance(entry, dict):
            continue
        for w in site_figures(req.site, entry).warnings():
            field, what = FIELDS[w.measure]
            state = "over" if w.level == 100 else "at"
            message = (
                f"{what} {state} {w.pct:g} % of the allocation ({w.used:g} of "
                f"{w.allocated:g} {w.unit}, usage record {record.get('month', '?')}; "
                f"warning from {w.level} %)"
            )
            out.append(Finding(req.path, req.line(field), field, message, Severity.WARNING))
    return out
