"""The execution report of a period (SOP step 9): requests received, approved (merged),
provisioned, suspended and decommissioned, and how long each took against the SOP.

Dates: a request is received on its letter's date, approved when its file first reached the
branch (the merge commit's date on the first-parent line), live at its first successful
`create` in apply's run records, suspended or decommissioned at a successful `suspend` or
`decommission`. The SOP gives the server work 2 days and the whole request about 3.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

from opdhost.documents.base import DocumentError, long_date, write_files
from opdhost.documents.inputs import Sources
from opdhost.documents.registers import to_csv
from opdhost.documents.render import html_to_pdf, render_html

SOP_SERVER_HOURS = 48.0  # step 6: "2 hari"
SOP_TOTAL_DAYS = 3  # steps 1-10 in all: about 3 days


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One request with something in the period."""

    site: str
    opd: str
    letter_number: str
    received: str
    merged: str
    live: str
    suspended: str
    decommissioned: str
    days_to_merge: str
    hours_merge_to_live: str
    days_to_live: str
    within_sop: str
    in_period: str


def _fmt(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def report_rows(src: Sources, first: dt.date, last: dt.date) -> list[ReportRow]:
    """The requests with an event between `first` and `last` (both included)."""
    tz = src.office.timezone

    def day(when: dt.datetime | None) -> dt.date | None:
        return None if when is None else when.astimezone(tz).date()

    def inside(value: dt.date | None) -> bool:
        return value is not None and first <= value <= last

    rows = []
    for req in sorted(src.fleet.requests, key=lambda r: (r.letter.date, r.site)):
        received = dt.date.fromisoformat(req.letter.date)
        commit = src.history.merged(req.path)
        merged = commit.date if commit else None
        live_event = src.runs.first_ok(req.site, "create")
        live = live_event.when if live_event else None
        done = [e for e in src.runs.for_site(req.site) if e.result == "ok" and inside(day(e.when))]
        suspends = [e.when for e in done if e.action == "suspend"]
        ends = [e.when for e in done if e.action == "decommission"]
        events = [
            name for name, happened in (
                ("received", inside(received)), ("merged", inside(day(merged))),
                ("provisioned", inside(day(live))), ("suspended", bool(suspends)),
                ("decommissioned", bool(ends)),
            ) if happened
        ]  # fmt: skip
        if not events:
            continue
        to_merge = (day(merged) - received).days if merged else None  # type: ignore[operator]
        server = (live - merged).total_seconds() / 3600 if live and merged else None
        to_live = (day(live) - received).days if live else None  # type: ignore[operator]
        within = ""
        if server is not None and to_live is not None:
            ok = server <= SOP_SERVER_HOURS and to_live <= SOP_TOTAL_DAYS
            within = "yes" if ok else "no"

        def stamp(when: dt.datetime | None) -> str:
            return "" if when is None else when.astimezone(tz).strftime("%Y-%m-%d %H:%M")

        rows.append(
            ReportRow(
                site=req.site,
                opd=req.opd.name,
                letter_number=req.letter.number,
                received=received.isoformat(),
                merged=stamp(merged),
                live=stamp(live),
                suspended=stamp(suspends[-1] if suspends else None),
                decommissioned=stamp(ends[-1] if ends else None),
                days_to_merge=_fmt(to_merge),
                hours_merge_to_live=_fmt(server, 1),
                days_to_live=_fmt(to_live),
                within_sop=within,
                in_period=" ".join(events),
            )
        )
    return rows


def summary(rows: list[ReportRow]) -> dict[str, int]:
    """How many requests had each event in the period, and how many met the SOP's times."""
    counts = {k: 0 for k in ("received", "merged", "provisioned", "suspended", "decommissioned")}
    for row in rows:
        for event in row.in_period.split():
            counts[event] += 1
    live = [r for r in rows if "provisioned" in r.in_period.split()]
    counts["within_sop"] = sum(1 for r in live if r.within_sop == "yes")
    counts["beyond_sop"] = sum(1 for r in live if r.within_sop == "no")
    return counts


def make_report(src: Sources, first: dt.date, last: dt.date, out: Path) -> list[Path]:
    """report-<from>-<to>.csv, .html and .pdf in `out`."""
    if last < first:
        raise DocumentError(f"--to {last} is before --from {first}")
    rows = report_rows(src, first, last)
    if not rows:
        raise DocumentError(
            f"nothing happened between {first} and {last}: no request received, merged, "
            "provisioned, suspended or decommissioned in that period"
        )
    context = {
        "lang": "id",
        "date": long_date(dt.date.today(), "id"),
        "first": long_date(first, "id"),
        "last": long_date(last, "id"),
        "place": src.office.place,
        "letterhead": src.office.letterhead,
        "logo": src.logo(),
        "signatory": src.office.signatory,
        "environment": src.platform.environment,
        "rows": [asdict(r) for r in rows],
        "counts": summary(rows),
        "sop_server_hours": SOP_SERVER_HOURS,
        "sop_total_days": SOP_TOTAL_DAYS,
        "history": src.history.available,
    }
    html = render_html("report.html", context, src.dirs)
    pdf = html_to_pdf(html, src.dirs[0])
    stem = out / f"report-{first}-{last}"
    return write_files(
        {
            stem.with_suffix(".csv"): to_csv(rows, list(ReportRow.__dataclass_fields__)),
            stem.with_suffix(".html"): html.encode(),
            stem.with_suffix(".pdf"): pdf,
        }
    )
