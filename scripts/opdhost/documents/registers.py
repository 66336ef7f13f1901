"""The registers the SOP keeps (records 1 and 2): IPs and subdomains, hosting configuration.

The IP register lists every address of every web node's pool exactly once: free, reserved
(a platform address inside the pool), or the site holding it, since when (the first commit in
which that site claimed it) and which letters (the agency's request, the office's
notification). The configuration register has one row per request file: node, IP, runtime,
TLS, database, allocations, status, live since and last applied (from the run records).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from opdhost.documents.base import DocumentError, long_date, write_files
from opdhost.documents.inputs import Sources
from opdhost.documents.numbering import issued_letters, latest
from opdhost.documents.render import html_to_pdf, render_html
from opdhost.fleet.model import Engine


@dataclass(frozen=True, slots=True)
class IpRow:
    """One address of a pool."""

    node: str
    ip: str
    state: str  # free | reserved | active | suspended | decommissioned
    site: str
    fqdn: str
    opd: str
    since: str
    request_letter: str
    notification_letter: str


@dataclass(frozen=True, slots=True)
class ConfigRow:
    """One hosting."""

    site: str
    opd: str
    fqdn: str
    node: str
    ip: str
    runtime: str
    tls: str
    aliases: str
    db_engine: str
    db_name: str
    db_user: str
    storage_mb: int
    bandwidth_mbit: int
    db_quota_mb: int
    status: str
    live_since: str
    last_applied: str


def _local(src: Sources, when: dt.datetime | None) -> str:
    if when is None:
        return ""
    return when.astimezone(src.office.timezone).strftime("%Y-%m-%d %H:%M")


def ip_rows(src: Sources) -> list[IpRow]:
    """Every pool address once, in node and address order."""
    holders = {req.web.ip: req for req in src.fleet.requests}
    reserved = {str(ip) for ip in src.platform.reserved_ips()}
    letters = issued_letters(src.records)
    rows: list[IpRow] = []
    seen: set[str] = set()
    for name in sorted(src.platform.web_nodes):
        for address in src.platform.web_nodes[name].pool:
            ip = str(address)
            if ip in seen:
                continue
            seen.add(ip)
            req = holders.get(ip)
            if req is None:
                state = "reserved" if ip in reserved else "free"
                rows.append(IpRow(name, ip, state, "", "", "", "", "", ""))
                continue
            claim = src.history.claim(req.site, ip)
            issued = latest(letters, req.site, "activation")
            rows.append(
                IpRow(
                    node=req.web.node,
                    ip=ip,
                    state=req.status.value,
                    site=req.site,
                    fqdn=req.fqdn(src.platform.zone),
                    opd=req.opd.name,
                    since=_local(src, claim.date) if claim else "",
                    request_letter=req.letter.number,
                    notification_letter=issued.number if issued else "",
                )
            )
    return rows


def config_rows(src: Sources) -> list[ConfigRow]:
    """One row per request, by site name."""
    rows = []
    for req in sorted(src.fleet.requests, key=lambda r: r.site):
        db = req.database
        live = src.runs.first_ok(req.site, "create")
        last = src.runs.last_ok(req.site)
        rows.append(
            ConfigRow(
                site=req.site,
                opd=req.opd.name,
                fqdn=req.fqdn(src.platform.zone),
                node=req.web.node,
                ip=req.web.ip,
                runtime=req.web.runtime.value,
                tls="yes" if req.web.tls else "no",
                aliases=" ".join(req.web.aliases),
                db_engine=db.engine.value,
                db_name=db.name if db.engine is not Engine.NONE else "",
                db_user=db.user if db.engine is not Engine.NONE else "",
                storage_mb=req.web.storage_mb,
                bandwidth_mbit=req.web.bandwidth_mbit,
                db_quota_mb=db.quota_mb,
                status=req.status.value,
                live_since=_local(src, live.when) if live else "",
                last_applied=_local(src, last.when) if last else "",
            )
        )
    return rows


def to_csv(rows: list[Any], fields: list[str]) -> bytes:
    """CSV with a header line (UTF-8, RFC 4180 quoting); cells starting like a formula are
    prefixed with ' so a spreadsheet shows them as text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(fields)
    for row in rows:
        values = asdict(row)
        writer.writerow([_cell(values[f]) for f in fields])
    return buffer.getvalue().encode("utf-8")


def _cell(value: object) -> str:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def make_registers(src: Sources, out: Path, day: dt.date) -> list[Path]:
    """register-ip.csv, register-config.csv, register.html and register.pdf in `out`."""
    if not src.platform.web_nodes:
        raise DocumentError(f"{src.platform.path} has no web node: no pool to register")
    ips = ip_rows(src)
    configs = config_rows(src)
    ip_fields = list(IpRow.__dataclass_fields__)
    config_fields = list(ConfigRow.__dataclass_fields__)
    counts: dict[str, int] = {}
    for row in ips:
        counts[row.state] = counts.get(row.state, 0) + 1
    context = {
        "lang": "id",
        "date": long_date(day, "id"),
        "place": src.office.place,
        "letterhead": src.office.letterhead,
        "logo": src.logo(),
        "signatory": src.office.signatory,
        "environment": src.platform.environment,
        "zone": src.platform.zone,
        "ips": ips,
        "configs": configs,
        "counts": counts,
        "history": src.history.available,
    }
    html = render_html("register.html", context, src.dirs)
    pdf = html_to_pdf(html, src.dirs[0])
    return write_files(
        {
            out / "register-ip.csv": to_csv(ips, ip_fields),
            out / "register-config.csv": to_csv(configs, config_fields),
            out / "register.html": html.encode(),
            out / "register.pdf": pdf,
        }
    )
