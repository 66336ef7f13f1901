"""A month's record turned into the report's figures: per site and per agency, against the
allocation, with warnings at 80 % and 100 %.

Why a module: the report's tables, its CSV, its charts and the plan's findings must show the
same numbers; they all take them from here. Pure functions of the record (no I/O), so the
unit tests check that the report's figures are its input's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MIB = 1024 * 1024
WARN_PCT = 80.0
FULL_PCT = 100.0
MEASURES = ("storage", "database", "bandwidth")


def level(pct: float | None) -> int:
    """0 below 80 %, 80 from 80 %, 100 from 100 %."""
    if pct is None:
        return 0
    if pct >= FULL_PCT:
        return 100
    return 80 if pct >= WARN_PCT else 0


def _pct(used: float | None, allocated: float | None) -> float | None:
    if used is None or not allocated:
        return None
    return round(100.0 * used / allocated, 1)


@dataclass(frozen=True, slots=True)
class Warning:
    """One measure of one site at or past 80 % of its allocation."""

    site: str
    measure: str  # storage | database | bandwidth
    pct: float
    level: int  # 80 | 100
    used: float
    allocated: float
    unit: str  # MiB | Mbit/s


@dataclass(slots=True)
class SiteFigures:
    """One site's month."""

    site: str
    opd_code: str
    opd_name: str
    node: str
    status: str
    storage_mb: int
    disk_mb: float | None
    storage_pct: float | None
    database_mb: int | None
    db_engine: str
    db_used_mb: float | None
    database_pct: float | None
    db_held: bool
    bandwidth_mbit: int
    peak_mbit: float
    bandwidth_pct: float | None
    requests: int
    sent_mb: float
    errors_4xx: int
    errors_5xx: int
    error_rate_pct: float
    tc_mb: float | None
    days: dict[str, dict[str, Any]] = field(default_factory=dict)

    def warnings(self) -> list[Warning]:
        """The measures at or past 80 %."""
        found = []
        for measure, pct, used, allocated, unit in (
            ("storage", self.storage_pct, self.disk_mb, self.storage_mb, "MiB"),
            ("database", self.database_pct, self.db_used_mb, self.database_mb, "MiB"),
            ("bandwidth", self.bandwidth_pct, self.peak_mbit, self.bandwidth_mbit, "Mbit/s"),
        ):
            lvl = level(pct)
            if lvl and pct is not None and used is not None and allocated:
                found.append(Warning(self.site, measure, pct, lvl, used, allocated, unit))
        return found

    @property
    def level(self) -> int:
        """The highest warning level of the site (0, 80 or 100)."""
        return max((w.level for w in self.warnings()), default=0)


def site_figures(name: str, entry: dict[str, Any]) -> SiteFigures:
    """The figures of one site's entry in a month's record."""
    alloc = entry.get("allocation") or {}
    days = entry.get("days") or {}
    disk = entry.get("disk_bytes")
    disk_mb = None if disk is None else round(disk / MIB, 2)
    db = entry.get("database")
    db_used = None if db is None else round(int(db.get("bytes", 0)) / MIB, 2)
    requests = sum(int(d.get("requests", 0)) for d in days.values())
    sent = sum(int(d.get("bytes", 0)) for d in days.values())
    e5 = sum(int(d.get("errors_5xx", 0)) for d in days.values())
    e4 = sum(int(d.get("errors_4xx", 0)) for d in days.values())
    peak = max((float(d.get("peak_mbit", 0.0)) for d in days.values()), default=0.0)
    tc = entry.get("tc")
    storage = int(alloc.get("storage_mb") or 0)
    db_alloc = alloc.get("database_mb")
    bandwidth = int(alloc.get("bandwidth_mbit") or 0)
    opd = entry.get("opd") or {}
    return SiteFigures(
        site=name,
        opd_code=str(opd.get("code", "")),
        opd_name=str(opd.get("name", "")),
        node=str(entry.get("node", "")),
        status=str(entry.get("status", "")),
        storage_mb=storage,
        disk_mb=disk_mb,
        storage_pct=_pct(disk_mb, storage),
        database_mb=None if db_alloc is None else int(db_alloc),
        db_engine="" if db is None else str(db.get("engine", "")),
        db_used_mb=db_used,
        database_pct=_pct(db_used, db_alloc),
        db_held=bool(db and db.get("held")),
        bandwidth_mbit=bandwidth,
        peak_mbit=round(peak, 3),
        bandwidth_pct=_pct(peak, bandwidth),
        requests=requests,
        sent_mb=round(sent / MIB, 2),
        errors_4xx=e4,
        errors_5xx=e5,
        error_rate_pct=round(100.0 * e5 / requests, 2) if requests else 0.0,
        tc_mb=None if not tc else round(int(tc.get("bytes", 0)) / MIB, 2),
        days=dict(sorted(days.items())),
    )


def all_sites(record: dict[str, Any]) -> list[SiteFigures]:
    """Every site of a month's record, by agency then site."""
    figures = [site_figures(name, entry) for name, entry in record.get("sites", {}).items()]
    return sorted(figures, key=lambda f: (f.opd_code, f.site))


@dataclass(slots=True)
class AgencyFigures:
    """The sum of one agency's sites."""

    code: str
    name: str
    sites: int = 0
    storage_mb: int = 0
    disk_mb: float = 0.0
    database_mb: int = 0
    db_used_mb: float = 0.0
    requests: int = 0
    sent_mb: float = 0.0
    errors_5xx: int = 0
    warnings: int = 0


def agencies(sites: list[SiteFigures]) -> list[AgencyFigures]:
    """Per agency, the sum of its sites' allocations and use."""
    out: dict[str, AgencyFigures] = {}
    for s in sites:
        a = out.setdefault(s.opd_code, AgencyFigures(s.opd_code, s.opd_name))
        a.sites += 1
        a.storage_mb += s.storage_mb
        a.disk_mb = round(a.disk_mb + (s.disk_mb or 0.0), 2)
        a.database_mb += s.database_mb or 0
        a.db_used_mb = round(a.db_used_mb + (s.db_used_mb or 0.0), 2)
        a.requests += s.requests
        a.sent_mb = round(a.sent_mb + s.sent_mb, 2)
        a.errors_5xx += s.errors_5xx
        a.warnings += len(s.warnings())
    return [out[k] for k in sorted(out)]


def daily_totals(sites: list[SiteFigures], days: list[str]) -> dict[str, dict[str, int]]:
    """Per day of the month (every day, zero when nothing was counted): requests and bytes."""
    totals = {d: {"requests": 0, "bytes": 0} for d in days}
    for s in sites:
        for day, row in s.days.items():
            if day in totals:
                totals[day]["requests"] += int(row.get("requests", 0))
                totals[day]["bytes"] += int(row.get("bytes", 0))
    return totals


def month_totals(record: dict[str, Any]) -> dict[str, float]:
    """A month's totals for the trend: storage and database used (MiB), traffic sent (MiB)."""
    sites = all_sites(record)
    return {
        "disk_mb": round(sum(s.disk_mb or 0.0 for s in sites), 2),
        "db_used_mb": round(sum(s.db_used_mb or 0.0 for s in sites), 2),
        "sent_mb": round(sum(s.sent_mb for s in sites), 2),
        "requests": float(sum(s.requests for s in sites)),
    }
