"""The notification letter (*surat pemberitahuan*, SOP step 7): activation, suspension or
decommission of one site, answering the agency's request letter.

It names the site's address, IP, TLS, the SFTP host and account, the database (engine, name,
user) and where its credentials file is (never its content), the allocations, and the date
the change took effect on the hosts (from apply's run records).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from opdhost.documents.base import LANGS, DocumentError, long_date, write_files
from opdhost.documents.inputs import Sources
from opdhost.documents.numbering import take_number
from opdhost.documents.render import html_to_pdf, render_html
from opdhost.fleet import sshkeys
from opdhost.fleet.model import Engine, Request, Status

KINDS = {
    "activation": (Status.ACTIVE, "create"),
    "suspension": (Status.SUSPENDED, "suspend"),
    "decommission": (Status.DECOMMISSIONED, "decommission"),
}
ENGINES = {"mariadb": "MariaDB", "postgresql": "PostgreSQL", "none": ""}


def letter_context(
    src: Sources, req: Request, *, kind: str, lang: str, number: str, day: dt.date
) -> dict[str, Any]:
    """What the letter template gets (every value public; no secret, no contact data)."""
    status, action = KINDS[kind]
    if req.status is not status:
        raise DocumentError(
            f"site {req.site} is {req.status.value} in {req.path}: a {kind} letter is for a "
            f"site whose status is {status.value}"
        )
    event = src.runs.first_ok(req.site, action) if kind == "activation" else None
    if kind != "activation":
        event = src.runs.last_ok(req.site, action)
    if event is None:
        raise DocumentError(
            f"no successful apply that {'created' if action == 'create' else action + 'ed'} "
            f"site {req.site} in {src.records.base / 'runs'}: the letter says when it took effect",
            hint="run `opdhost apply` first (SOP step 6), then make the letter",
        )
    node = src.platform.web_nodes.get(req.web.node)
    zone = src.platform.zone
    fqdn = req.fqdn(zone)
    db = req.database
    server = src.platform.db_server(db.engine.value, db.server)  # the one the request is on
    try:
        credentials = src.office.credentials_file.format(site=req.site)
    except (KeyError, IndexError, ValueError):
        raise DocumentError(
            f"{src.office.path}: credentials_file may contain only {{site}}"
        ) from None
    effective = event.when.astimezone(src.office.timezone)
    return {
        "lang": lang,
        "kind": kind,
        "number": number,
        "date": long_date(day, lang),
        "place": src.office.place,
        "letterhead": src.office.letterhead,
        "logo": src.logo(),
        "signatory": src.office.signatory,
        "opd": {"code": req.opd.code, "name": req.opd.name},
        "request": {
            "number": req.letter.number,
            "date": long_date(dt.date.fromisoformat(req.letter.date), lang),
            "agenda": req.letter.agenda,
        },
        "site": {
            "name": req.site,
            "fqdn": fqdn,
            "url": f"{'https' if req.web.tls else 'http'}://{fqdn}",
            "aliases": list(req.web.aliases),
            "ip": req.web.ip,
            "tls": req.web.tls,
            "hsts": req.web.hsts,
            "runtime": req.web.runtime.value,
            "storage_mb": req.web.storage_mb,
            "bandwidth_mbit": req.web.bandwidth_mbit,
            "status": req.status.value,
        },
        "sftp": {
            "host": node.address if node else req.web.node,
            "port": src.office.sftp_port,
            "account": req.user,
            "keys": [sshkeys.fingerprint(k) for k in req.web.sftp_keys],
        },
        "database": None
        if db.engine is Engine.NONE
        else {
            "engine": ENGINES[db.engine.value],
            "name": db.name,
            "user": db.user,
            "quota_mb": db.quota_mb,
            "host": server.address if server is not None else "",
            "credentials_file": credentials,
        },
        "effective": {
            "date": long_date(effective.date(), lang),
            "time": effective.strftime("%H:%M %Z"),
            "run_id": event.run_id,
        },
    }


def make_letter(
    src: Sources,
    site: str,
    *,
    kind: str,
    lang: str,
    out: Path,
    day: dt.date,
    reissue: bool = False,
) -> list[Path]:
    """Write the letter's HTML and PDF into `out`; the number is taken only when both are."""
    if kind not in KINDS:
        raise DocumentError(f"--kind: {kind!r} is not one of {', '.join(KINDS)}")
    if lang not in LANGS:
        raise DocumentError(f"--lang: {lang!r} is not one of {', '.join(LANGS)}")
    req = src.request(site)
    # Everything but the number is checked before a number is taken.
    letter_context(src, req, kind=kind, lang=lang, number="-", day=day)
    stem = f"letter-{site}-{kind}-{lang}"
    with take_number(
        src.records, src.office, site=site, kind=kind, day=day, reissue=reissue
    ) as issued:
        # A letter made again (another language) keeps its number and its date.
        day = dt.date.fromisoformat(issued.date)
        context = letter_context(src, req, kind=kind, lang=lang, number=issued.number, day=day)
        html = render_html(f"letter.{lang}.html", context, src.dirs)
        pdf = html_to_pdf(html, src.dirs[0])
        return write_files({out / f"{stem}.html": html.encode(), out / f"{stem}.pdf": pdf})
