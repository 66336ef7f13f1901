"""Check each changed hosting as a user would, after apply.

Its name (and aliases) resolve at every DNS server of the platform to its IP (dnspython,
asked directly, no recursion); HTTP and HTTPS answer on its IP for its name (HTTPS with SNI,
the certificate naming the site); its database accepts its user from its web node with the
site's own credentials file, as the agency's code would (through Ansible,
playbooks/tasks/verify_db_login.yml: the password never leaves the web node; the apply run's
last play does it for the nodes it reached, playbooks/verify_db.yml for the rest). Secondaries
and Apache reloads take a moment, so each check retries until a deadline.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
from cryptography import x509

from opdhost.apply.runner import RunResult, run_playbook
from opdhost.fleet.model import Engine, Request, Status
from opdhost.fleet.platform import Platform

TIMEOUT = 3.0
SITE_HEADER = "X-Opdhost-Site"
"""Every answer of a site's own virtual hosts names the site (roles/apache_vhost): an answer
without it came from another vhost (the catch-all, when the site's vhost is not loaded)."""
# Where apache_vhost keeps a site's credentials file (apache_vhost_www_root's default, which
# the platform does not change; documents.yml's credentials_file names the same path).
CREDENTIALS_FILE = "/srv/www/{site}/private/db.env"
LOGIN_TASK = "Log in to every checked site's database at once, with its credentials file"
"""The task of playbooks/tasks/verify_db_login.yml whose result (`outcomes`) verify reads."""


@dataclass(frozen=True)
class Check:
    """One verification of one site."""

    site: str
    what: str  # dns@ns1 | http | https | db
    ok: bool
    detail: str


@dataclass
class Verification:
    """Every check of a run; `ok` only when all passed."""

    checks: list[Check] = field(default_factory=list)
    db_run: RunResult | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """All checks passed."""
        return all(c.ok for c in self.checks)

    def failed_sites(self) -> dict[str, list[Check]]:
        """Site -> its failed checks."""
        out: dict[str, list[Check]] = {}
        for c in self.checks:
            if not c.ok:
                out.setdefault(c.site, []).append(c)
        return out


def _retry(check: Callable[[], tuple[bool, str]], deadline: float) -> tuple[bool, str]:
    while True:
        ok, detail = check()
        if ok or time.monotonic() >= deadline:
            return ok, detail
        time.sleep(0.5)


def _addresses(name: str, server: str) -> tuple[str, set[str]]:
    """rcode name and the A addresses the server answers for `name` (following CNAMEs)."""
    query = dns.message.make_query(name, dns.rdatatype.A)
    query.flags &= ~0x0100  # no recursion wanted: ask the authoritative server itself
    response = dns.query.udp(query, server, timeout=TIMEOUT)
    found = {
        item.address
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.A
        for item in rrset
    }
    return dns.rcode.to_text(response.rcode()), found


def check_dns(name: str, server: str, want: str | None) -> tuple[bool, str]:
    """`name` answers `want` at `server`; want None = must not resolve (decommissioned)."""
    try:
        rcode, found = _addresses(name, server)
    except (dns.exception.DNSException, OSError) as exc:
        return False, f"{name} @{server}: no answer ({exc.__class__.__name__})"
    if want is None:
        ok = not found
        return ok, f"{name} @{server}: {rcode} {sorted(found) or ''}".rstrip()
    ok = found == {want}
    return ok, f"{name} @{server}: {rcode} {sorted(found)} (want {want})"


@dataclass(frozen=True)
class Expect:
    """What a site's own answer must be: one of these statuses, and for a redirect where."""

    status: frozenset[int]
    location: str | None = None  # required Location of a redirect (None: not checked)


def check_http(
    ip: str, host: str, tls: bool, site: str, expect: Expect, *, port: int | None = None
) -> tuple[bool, str]:
    """GET / on the site's IP with its name: the site's own answer, nothing else.

    The answer must carry `X-Opdhost-Site: <site>` (a 404 of the catch-all is not the site),
    have an expected status and, for a redirect, the expected Location. For HTTPS the
    certificate must name the site too.
    """
    scheme = "https" if tls else "http"
    port = port or (443 if tls else 80)
    conn: http.client.HTTPConnection
    where = f"{scheme}://{ip}:{port} for {host}"
    try:
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # self-signed in the lab; the name is checked below
            raw = socket.create_connection((ip, port), timeout=TIMEOUT)
            sock = ctx.wrap_socket(raw, server_hostname=host)
            names = _cert_names(sock.getpeercert(binary_form=True) or b"")
            conn = http.client.HTTPSConnection(ip, port, timeout=TIMEOUT, context=ctx)
            conn.sock = sock
            if host not in names:
                sock.close()
                return False, f"{where}: certificate names {sorted(names)}"
        else:
            conn = http.client.HTTPConnection(ip, port, timeout=TIMEOUT)
        conn.request("GET", "/", headers={"Host": host, "User-Agent": "opdhost-verify"})
        response = conn.getresponse()
        status = response.status
        served_by = response.getheader(SITE_HEADER)
        location = response.getheader("Location")
        conn.close()
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{where}: {exc.__class__.__name__}: {exc}"
    detail = f"{where}: HTTP {status}"
    if served_by != site:
        shown = "no such header" if served_by is None else repr(served_by)
        return False, f"{detail}, not the site's own answer ({SITE_HEADER}: {shown})"
    if status not in expect.status:
        return False, f"{detail} (want {', '.join(str(s) for s in sorted(expect.status))})"
    if expect.location is not None and location != expect.location:
        return False, f"{detail}: redirects to {location!r} (want {expect.location!r})"
    return True, detail


def expectations(req: Request, fqdn: str) -> list[tuple[bool, Expect]]:
    """(tls, expected answer) for each port a site answers on.

    A suspended site answers 503 (on plain HTTP a TLS site may redirect to HTTPS first). A TLS
    site redirects plain HTTP permanently to HTTPS and answers there; a site without TLS
    answers on HTTP. Any status below 500 counts as the site answering (its own 404 is its
    content's business, not the platform's): the site header says it is the site's.
    """
    if req.status is Status.SUSPENDED:
        down = Expect(frozenset({503}))
        if not req.web.tls:
            return [(False, down)]
        return [(False, Expect(frozenset({301, 503}))), (True, down)]
    up = Expect(frozenset(range(200, 500)))
    if not req.web.tls:
        return [(False, up)]
    return [(False, Expect(frozenset({301}), f"https://{fqdn}/")), (True, up)]


def _cert_names(der: bytes) -> set[str]:
    if not der:
        return set()
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = set(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = set()
    for attr in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME):
        names.add(str(attr.value))
    return names


def _site_checks(req: Request, platform: Platform, wait: float) -> list[Check]:
    deadline = time.monotonic() + wait
    servers = [platform.dns_primary, *platform.dns_secondaries]
    fqdn = req.fqdn(platform.zone)
    gone = req.status is Status.DECOMMISSIONED
    out: list[Check] = []
    for server in servers:
        for name in (fqdn, *req.web.aliases):
            want = None if gone else req.web.ip
            ok, detail = _retry(partial(check_dns, name, server.address, want), deadline)
            out.append(Check(req.site, f"dns@{server.node}", ok, detail))
    if gone:
        return out
    for tls, expect in expectations(req, fqdn):
        check = partial(check_http, req.web.ip, fqdn, tls, req.site, expect)
        ok, detail = _retry(check, deadline)
        out.append(Check(req.site, "https" if tls else "http", ok, detail))
    return out


def db_targets(requests: list[Request], platform: Platform) -> list[dict[str, str]]:
    """The extra var of playbooks/verify_db.yml: active sites that have a database."""
    out = []
    for req in requests:
        db = req.database
        if req.status is not Status.ACTIVE or db.engine is Engine.NONE:
            continue
        server = platform.db_server(db.engine.value, db.server)
        if server is None:
            continue  # not a valid fleet (validate refuses it): nothing to log in to
        out.append(
            {
                "site": req.site,
                "engine": db.engine.value,
                "name": db.name,
                "user": db.user,
                "db_node": server.node,
                "db_address": server.address,
                "web_node": req.web.node,
                "credentials_file": CREDENTIALS_FILE.format(site=req.site),
            }
        )
    return out


def verify(
    requests: list[Request],
    platform: Platform,
    inventory: Path,
    *,
    artifacts: Path,
    ident: str,
    wait: float = 30.0,
    reported: RunResult | None = None,
) -> Verification:
    """Run every check of the given (changed) sites; DNS/HTTP in threads, DB in one run.

    `reported` is the apply run when it was given `db_targets()` as `opdhost_verify_db` and
    captured LOGIN_TASK: its last play logged in already (playbooks/apply.yml), and what it
    found counts. Only the sites it has no answer for (a web node the run did not reach, or not
    in its limit) get a run of playbooks/verify_db.yml.
    """
    result = Verification()
    if not requests:
        return result
    start = time.monotonic()
    targets = db_targets(requests, platform)
    answered = [_answer(reported, t) for t in targets] if reported is not None else []
    result.checks.extend(c for c in answered if c is not None)
    done = {c.site for c in answered if c is not None}
    rest = [t for t in targets if t["site"] not in done]
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(_site_checks, r, platform, wait) for r in requests]
        if rest:
            limit = sorted({t["web_node"] for t in rest})
            run = run_playbook(
                "verify_db.yml",
                inventory,
                extravars={"opdhost_verify_db": rest},
                limit=limit,
                artifacts=artifacts,
                ident=ident,
                capture=frozenset({LOGIN_TASK}),
            )
            result.db_run = run
            result.checks.extend(_db_checks(rest, run))
        for f in futures:
            result.checks.extend(f.result())
    result.checks.sort(key=lambda c: (c.site, c.what))
    result.seconds = time.monotonic() - start
    return result


def _answer(run: RunResult, t: dict[str, str]) -> Check | None:
    """The site's `db` check from what the run's login task on its web node said, or None.

    A login task that failed on that node as a whole (no driver, unreachable node) answers for
    each of its sites with its own message.
    """
    res = run.captured.get(LOGIN_TASK, {}).get(t["web_node"])
    if res is None:
        return None
    if res.get("failed") or res.get("unreachable"):
        why = str(res.get("msg") or "failed")[:240]
        return Check(t["site"], "db", False, f"not checked ({t['web_node']}: {why})")
    outcome = (res.get("outcomes") or {}).get(t["site"])
    if not isinstance(outcome, dict):
        return None
    if outcome.get("ok"):
        what = f"{t['engine']} {t['name']} as {t['user']} from {t['web_node']}"
        return Check(t["site"], "db", True, f"{what}: accepted")
    return Check(
        t["site"],
        "db",
        False,
        f"{t['engine']} database {t['name']} on {t['db_node']}, user {t['user']} from "
        f"{t['web_node']} with {t['credentials_file']}: {str(outcome.get('error'))[:240]}",
    )


def _db_checks(targets: list[dict[str, str]], run: RunResult) -> list[Check]:
    """One `db` check per target from the run's login task; without an answer, why (the run's
    failures)."""
    out = []
    for t in targets:
        check = _answer(run, t)
        if check is None:
            why = "; ".join(f"{f.host}: {f.task}: {f.message}" for f in run.failures)
            check = Check(t["site"], "db", False, f"not checked ({why or run.status})")
        out.append(check)
    return out
