"""`validate --live-dns`: ask the zone's authoritative servers whether new names already exist.

A host name new since the base state (a new site, or a new alias) must not answer yet:
someone created it by hand, or another system owns it. Asked directly over UDP (TCP when
truncated), no recursion, short timeout.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from opdhost.errors import Finding
from opdhost.fleet.model import Request


class _BadAnswerError(Exception):
    """The server answered, but with an error (REFUSED, SERVFAIL...)."""


@dataclass(frozen=True, slots=True)
class Server:
    """An authoritative server to ask."""

    name: str
    address: str
    port: int = 53


def name_exists(name: str, server: Server, timeout: float = 2.0) -> bool:
    """True when `server` knows `name` (any record type); raises on no or a bad answer."""
    query = dns.message.make_query(name, dns.rdatatype.A)
    query.flags &= ~dns.flags.RD
    response = dns.query.udp(query, server.address, timeout=timeout, port=server.port)
    if response.flags & dns.flags.TC:
        response = dns.query.tcp(query, server.address, timeout=timeout, port=server.port)
    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return False
    if rcode != dns.rcode.NOERROR:
        raise _BadAnswerError(f"answer {dns.rcode.to_text(rcode)}")
    # NOERROR: the name exists, with an A record or with other types only (NODATA).
    return True


def host_names(req: Request, zone: str) -> list[tuple[str, str]]:
    """(field, name) for the site's own name and each alias."""
    names = [("site", req.fqdn(zone))]
    names += [(f"web.aliases[{i}]", a) for i, a in enumerate(req.web.aliases)]
    return names


def live_dns_findings(
    requests: Iterable[Request],
    zone: str,
    servers: Sequence[Server],
    timeout: float = 2.0,
    known: Collection[str] = (),
) -> list[Finding]:
    """Host names not in `known` (the base state's) must not exist on any server yet."""
    found: list[Finding] = []
    for req in requests:
        for field, name in host_names(req, zone):
            if name in known:
                continue
            for server in servers:
                try:
                    exists = name_exists(name + ".", server, timeout)
                except (dns.exception.DNSException, OSError, _BadAnswerError) as exc:
                    reason = str(exc) or type(exc).__name__
                    message = f"cannot ask {server.name} ({server.address}) about {name}: {reason}"
                    found.append(Finding(req.path, req.line(field), field, message))
                    continue
                if exists:
                    message = f"{name} already exists in DNS (answered by {server.name})"
                    found.append(Finding(req.path, req.line(field), field, message))
                    break
    return found
