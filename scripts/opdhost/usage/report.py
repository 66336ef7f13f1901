"""The monthly usage report (SOP step 8): CSV, HTML and PDF in Bahasa Indonesia.

Why a module: it puts the month's record (store), its figures (figures) and charts (charts)
on the office's paper: the documents wing's letterhead, signatory, templates (the office's
own directory first), Jinja2 rendering, WeasyPrint PDF and all-or-nothing writes. Every figure
in the page and the CSV comes from figures.py, so they agree with each other and the record.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import asdict
from pathlib import Path
from typing import Any

from opdhost.apply.records import Records
from opdhost.documents.base import MONTHS, long_date, out_error, write_files
from opdhost.documents.inputs import gather
from opdhost.documents.render import html_to_pdf, render_html
from opdhost.fleet.platform import Platform, platform_path
from opdhost.usage import store
from opdhost.usage.charts import report_charts
from opdhost.usage.figures import SiteFigures, agencies, all_sites, daily_totals, month_totals
from opdhost.usage.period import Month, UsageError

TEMPLATES = Path(__file__).resolve().parent / "templates"
TREND_MONTHS = 12
MEASURE_ID = {"storage": "penyimpanan", "database": "basis data", "bandwidth": "puncak bandwidth"}

CSV_FIELDS = (
    ("bulan", None), ("opd_kode", "opd_code"), ("opd", "opd_name"), ("situs", "site"),
    ("node", "node"), ("status", "status"),
    ("penyimpanan_alokasi_mib", "storage_mb"), ("penyimpanan_terpakai_mib", "disk_mb"),
    ("penyimpanan_persen", "storage_pct"),
    ("basis_data_mesin", "db_engine"), ("basis_data_kuota_mib", "database_mb"),
    ("basis_data_terpakai_mib", "db_used_mb"), ("basis_data_persen", "database_pct"),
    ("basis_data_ditahan", "db_held"),
    ("bandwidth_alokasi_mbit", "bandwidth_mbit"), ("bandwidth_puncak_mbit", "peak_mbit"),
    ("bandwidth_persen", "bandwidth_pct"),
    ("permintaan", "requests"), ("terkirim_mib", "sent_mb"), ("galat_4xx", "errors_4xx"),
    ("galat_5xx", "errors_5xx"), ("galat_5xx_persen", "error_rate_pct"),
    ("tc_terkirim_mib", "tc_mb"), ("peringatan", None),
)  # fmt: skip


def month_name(month: Month) -> str:
    """`Desember 2026`."""
    return f"{MONTHS['id'][month.month - 1]} {month.year}"


def warning_text(site: SiteFigures) -> str:
    """The site's warnings in words: `penyimpanan 85 % (>= 80 %); ...`."""
    return "; ".join(
        f"{MEASURE_ID[w.measure]} {w.pct:g} % ({'melebihi' if w.level == 100 else 'mendekati'}"
        f" alokasi)"
        for w in site.warnings()
    )


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ya" if value else "tidak"
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def to_csv(month: Month, sites: list[SiteFigures]) -> bytes:
    """One row per site (UTF-8, RFC 4180; formula-like cells prefixed with ')."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([name for name, _ in CSV_FIELDS])
    for s in sites:
        values = asdict(s)
        row = []
        for name, key in CSV_FIELDS:
            if name == "bulan":
                row.append(str(month))
            elif name == "peringatan":
                row.append(_cell(warning_text(s)))
            else:
                row.append(_cell(values[key or ""]))
        writer.writerow(row)
    return buffer.getvalue().encode("utf-8")


def history(records: Records, month: Month) -> list[tuple[str, dict[str, float]]]:
    """Totals of the months up to `month` that have records (at most 12), oldest first."""
    out = []
    for m in store.months(records):
        if m <= month:
            record = store.load(records, m)
            if record is not None:
                out.append((str(m), month_totals(record)))
    return out[-TREND_MONTHS:]


def context(
    record: dict[str, Any], month: Month, records: Records
) -> tuple[dict[str, Any], list[SiteFigures]]:
    """The template's variables (without the office's) and the site figures."""
    from markupsafe import Markup  # noqa: PLC0415 - with Jinja2, only for documents

    sites = all_sites(record)
    days = [d.isoformat() for d in month.days()]
    totals = daily_totals(sites, days)
    charts = report_charts(sites, totals, history(records, month))
    rows = []
    for s in sites:
        row = asdict(s)
        row.pop("days")
        row["warning"] = warning_text(s)
        row["level"] = s.level
        rows.append(row)
    warned = [s for s in sites if s.level]
    return {
        "month": month_name(month),
        "month_code": str(month),
        "collected_at": str(record.get("collected_at", "")),
        "collections": int(record.get("collections", 1)),
        "sites": rows,
        "agencies": [asdict(a) for a in agencies(sites)],
        "charts": [{"key": c.key, "title": c.title, "svg": Markup(c.svg)} for c in charts],
        "totals": {
            "sites": len(sites),
            "requests": sum(s.requests for s in sites),
            "sent_mb": round(sum(s.sent_mb for s in sites), 2),
            "errors_5xx": sum(s.errors_5xx for s in sites),
            "warn_80": sum(1 for s in warned if s.level == 80),
            "warn_100": sum(1 for s in warned if s.level == 100),
            "held": sum(1 for s in sites if s.db_held),
        },
        "problems": list(record.get("problems") or []),
    }, sites


def make_usage_report(
    root: Path,
    platform: Platform,
    *,
    inventory_dir: Path,
    records: Records,
    month: Month,
    out: Path,
) -> list[Path]:
    """usage-YYYY-MM.csv, .html and .pdf in `out`; all three or none."""
    record = store.load(records, month)
    if record is None or not record.get("sites"):
        have = ", ".join(str(m) for m in store.months(records)) or "none"
        raise UsageError(
            f"no usage collected for {month} in {store.usage_dir(records)} (months with "
            f"records: {have})",
            hint=f"run `opdhost usage collect --month {month}` first",
        )
    src = gather(root, platform, platform_path(root, inventory=inventory_dir), records.root)
    values, sites = context(record, month, records)
    values.update(
        {
            "lang": "id",
            "date": long_date(dt.date.today(), "id"),
            "place": src.office.place,
            "letterhead": src.office.letterhead,
            "logo": src.logo(),
            "signatory": src.office.signatory,
            "environment": platform.environment,
        }
    )
    dirs = [*src.dirs, TEMPLATES]
    html = render_html("usage.html", values, dirs)
    pdf = html_to_pdf(html, dirs[0])
    stem = out / f"usage-{month}"
    try:
        return write_files(
            {
                stem.with_suffix(".csv"): to_csv(month, sites),
                stem.with_suffix(".html"): html.encode(),
                stem.with_suffix(".pdf"): pdf,
            }
        )
    except OSError as exc:
        raise out_error(out, exc) from None
