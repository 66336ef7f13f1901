"""What a user of the converged platform relies on, checked from the outside.

Every example site resolves at both DNS servers, answers HTTPS on its own IP with its own
certificate, and its database accepts its user from web1 with the password kept on db1.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest
import yaml

ZONE = "kab-contoh.go.id"
REPO = Path(__file__).resolve().parents[3]


def _sites() -> dict[str, tuple[str, str | None]]:
    """The active example requests: site -> (IP moved to 10.215.0.x, database engine)."""
    out: dict[str, tuple[str, str | None]] = {}
    for path in sorted((REPO / "requests").glob("*/*.yaml")):
        req = yaml.safe_load(path.read_text())
        if req["status"] != "active":
            continue
        engine = req["database"]["engine"]
        ip = req["web"]["ip"].replace("10.203.0.", "10.215.0.")
        out[req["site"]] = (ip, None if engine == "none" else engine)
    return out


def _db_logins() -> dict[str, tuple[str, str]]:
    """Site -> (database, user) as the request names them (defaults as the model gives them)."""
    out: dict[str, tuple[str, str]] = {}
    for path in sorted((REPO / "requests").glob("*/*.yaml")):
        req = yaml.safe_load(path.read_text())
        name = req["database"].get("name", req["site"].replace("-", "_"))
        out[req["site"]] = (name, req["database"].get("user", name))
    return out


SITES = _sites()
DB_LOGINS = _db_logins()
SERVERS = ("10.215.0.31", "10.215.0.32")


def _a(name: str, server: str) -> set[str]:
    response = dns.query.udp(dns.message.make_query(name, dns.rdatatype.A), server, timeout=3)
    return {
        r.address for rrset in response.answer if rrset.rdtype == dns.rdatatype.A for r in rrset
    }


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("site", sorted(SITES))
def test_site_resolves_at_every_dns_server(site: str, server: str) -> None:
    assert _a(f"{site}.{ZONE}", server) == {SITES[site][0]}


@pytest.mark.parametrize("site", sorted(SITES))
def test_site_answers_https_with_its_certificate(site: str) -> None:
    ip, _engine = SITES[site]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((ip, 443), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=f"{site}.{ZONE}") as tls,
    ):
        tls.sendall(f"GET / HTTP/1.0\r\nHost: {site}.{ZONE}\r\n\r\n".encode())
        head = tls.recv(64).decode(errors="replace")
    assert head.startswith("HTTP/1.") and head.split()[1][0] in "234", head


@pytest.mark.parametrize("site", sorted(s for s, (_ip, engine) in SITES.items() if engine))
def test_database_accepts_its_user_from_web1(site: str) -> None:
    engine = SITES[site][1]
    password = subprocess.run(
        [
            "podman",
            "exec",
            "mol-platform-db1",
            "cat",
            f"/etc/opdhost/secrets/{engine}-{site}.password",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if engine == "mariadb":
        code = (
            "import pymysql,sys; pymysql.connect(host='10.215.0.21', user=sys.argv[2], "
            "password=sys.stdin.read(), database=sys.argv[1]).cursor().execute('SELECT 1')"
        )
    else:
        code = (
            "import psycopg2,sys; psycopg2.connect(host='10.215.0.21', user=sys.argv[2], "
            "password=sys.stdin.read(), dbname=sys.argv[1]).cursor().execute('SELECT 1')"
        )
    proc = subprocess.run(
        ["podman", "exec", "-i", "mol-platform-web1", "python3", "-c", code, *DB_LOGINS[site]],
        input=password,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-500:]
