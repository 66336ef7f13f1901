"""`opdhost new`: place a request on a web node, give it the lowest free IP, write the file.

Placement is deterministic: among the web nodes where the site fits (sites, storage,
bandwidth, a free IP), the least used by storage share, ties by name. The lowest address of
the node's pool not held by any request file (decommissioned ones included, until their file
is removed) and not reserved is taken. The database goes the same way onto one of its
engine's servers: among those with room (databases, storage), the least used by storage
share, then by share of databases, ties by name; the file names it (`database.server`) so
reviewers see it. The written file goes through the same checks as `validate` before it is
written, so `new` never writes a file `validate` would refuse.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from opdhost.errors import AllocationError, Finding, FindingsError, has_errors
from opdhost.fleet.checks import check_fleet
from opdhost.fleet.claims import Claims
from opdhost.fleet.ledger import DbUsage, Usage, WebUsage, usage
from opdhost.fleet.loading import Fleet
from opdhost.fleet.model import Engine, Request, expected_path, parse_request
from opdhost.fleet.platform import DbServer, Platform, WebNode
from opdhost.fleet.writer import NewSite, request_text


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the new site goes."""

    node: str
    ip: str
    path: str
    text: str = field(repr=False)
    db_server: str = ""  # "" for engine none


def _fits(node: WebNode, used: WebUsage, spec: NewSite) -> str | None:
    """Why the site does not fit on `node` (None when it fits)."""
    cap = node.capacity
    if used.sites + 1 > cap.sites:
        return f"{node.name} already has {used.sites} of {cap.sites} sites"
    if used.storage_mb + spec.storage_mb > cap.storage_mb:
        free = cap.storage_mb - used.storage_mb
        return f"{node.name} has {free} MB of storage left, {spec.storage_mb} MB asked"
    if used.bandwidth_mbit + spec.bandwidth_mbit > cap.bandwidth_mbit:
        free = cap.bandwidth_mbit - used.bandwidth_mbit
        return f"{node.name} has {free} Mbit/s of bandwidth left, {spec.bandwidth_mbit} asked"
    return None


def lowest_free_ip(node: WebNode, taken: set[str], platform: Platform) -> str | None:
    """The lowest address of the node's pool that is neither reserved nor held by a file."""
    reserved = platform.reserved_ips()
    held = {ipaddress.IPv4Address(ip) for ip in taken}
    for ip in node.pool:
        if ip not in reserved and ip not in held:
            return str(ip)
    return None


def place(
    spec: NewSite, fleet: Fleet, platform: Platform, claims: Claims | None = None
) -> Placement:
    """Choose node and IP for `spec` and build the file text; AllocationError if impossible."""
    if has_errors(fleet.findings):
        raise FindingsError(
            [*fleet.findings, Finding("requests", 1, "(fleet)", "fix these files first")]
        )
    path = expected_path(spec.opd_code, spec.site)
    _precheck(spec, path, platform)
    for req in fleet.requests:
        if req.site == spec.site:
            raise AllocationError(f"site {spec.site!r} is already taken by {req.path}")
    claims = claims or Claims()
    if spec.site in claims.sites:
        raise AllocationError(
            f"site {spec.site!r} is already claimed by an open merge request "
            f"({claims.sites[spec.site]})"
        )
    db_name = spec.db_name or spec.site.replace("-", "_")
    if spec.engine is not Engine.NONE and db_name in claims.databases:
        raise AllocationError(
            f"database {db_name!r} is already claimed by an open merge request "
            f"({claims.databases[db_name]})"
        )
    total = usage(fleet.requests, platform)
    db_server = _db_server(spec, total, platform)
    taken = {r.web.ip for r in fleet.requests} | set(claims.ips)
    if spec.node is not None and spec.node not in platform.web_nodes:
        known = ", ".join(platform.web_nodes)
        raise AllocationError(f"unknown web node {spec.node!r} (known: {known})")
    names = [spec.node] if spec.node is not None else list(platform.web_nodes)
    if spec.ip is not None:
        names = _nodes_for_ip(spec.ip, names, taken, platform)
    reasons: list[str] = []
    candidates: list[tuple[float, str, str]] = []
    for name in names:
        node = platform.web_nodes[name]
        used = total.web.get(name, WebUsage())
        why = _fits(node, used, spec)
        ip = spec.ip or lowest_free_ip(node, taken, platform) if why is None else None
        if why is None and ip is None:
            why = f"{name} has no free IP left in {node.pool.first}-{node.pool.last}"
        if why is not None or ip is None:
            reasons.append(why or name)
            continue
        share = used.storage_mb / node.capacity.storage_mb if node.capacity.storage_mb else 1.0
        candidates.append((share, name, ip))
    if not candidates:
        raise AllocationError("the request does not fit: " + "; ".join(reasons))
    _, node_name, ip = min(candidates)
    text = request_text(spec, node_name, ip, db_server)
    _recheck(text, path, fleet.requests, platform)
    return Placement(node_name, ip, path, text, db_server)


def _nodes_for_ip(ip: str, names: list[str], taken: set[str], platform: Platform) -> list[str]:
    """The nodes (of `names`) whose pool holds the asked-for IP; refuses taken or reserved."""
    try:
        address = ipaddress.IPv4Address(ip)
    except ValueError as exc:
        raise AllocationError(f"{ip!r} is not an IPv4 address") from exc
    if ip in taken:
        raise AllocationError(
            f"IP {ip} is already taken (by a request file or an open merge request)"
        )
    if address in platform.reserved_ips():
        raise AllocationError(f"IP {ip} is reserved for the platform")
    fitting = [n for n in names if address in platform.web_nodes[n].pool]
    if not fitting:
        raise AllocationError(f"IP {ip} is in no pool of web node(s) {', '.join(names)}")
    return fitting


def _db_fits(server: DbServer, used: DbUsage, spec: NewSite) -> str | None:
    """Why the database does not fit on `server` (None when it fits)."""
    if used.databases + 1 > server.databases:
        return (
            f"{server.node} already has {used.databases} of {server.databases} "
            f"{server.engine} databases"
        )
    if used.storage_mb + spec.db_quota_mb > server.storage_mb:
        free = server.storage_mb - used.storage_mb
        return (
            f"{server.node} has {free} MB of {server.engine} storage left, "
            f"{spec.db_quota_mb} MB asked"
        )
    return None


def _db_server(spec: NewSite, total: Usage, platform: Platform) -> str:
    """The database server for `spec` ("" for engine none), chosen as web nodes are.

    `--db-server` narrows the choice to that node; a node that is not one of the engine's
    servers is refused with the finding `validate` would give (allowed servers named).
    """
    if spec.engine is Engine.NONE:
        if spec.db_server is not None:
            message = "a database server needs a database: --db mariadb or --db postgresql"
            raise FindingsError([Finding("opdhost new", 0, "--db-server", message)])
        return ""
    engine = spec.engine.value
    servers = platform.db_servers.get(engine, ())
    if not servers:
        raise AllocationError(f"the platform has no {engine} server")
    if spec.db_server is not None:
        problem = platform.server_problem(engine, spec.db_server)
        if problem is not None:
            raise FindingsError([Finding("opdhost new", 0, "--db-server", problem)])
        servers = tuple(s for s in servers if s.node == spec.db_server)
    reasons: list[str] = []
    candidates: list[tuple[float, float, str]] = []
    for server in servers:
        used = total.db.get((engine, server.node), DbUsage())
        why = _db_fits(server, used, spec)
        if why is not None:
            reasons.append(why)
            continue
        storage = used.storage_mb / server.storage_mb if server.storage_mb else 1.0
        count = used.databases / server.databases if server.databases else 1.0
        candidates.append((storage, count, server.node))
    if not candidates:
        raise AllocationError("the database does not fit: " + "; ".join(reasons))
    return min(candidates)[2]


OPTION_OF_FIELD = {
    "site": "--site",
    "opd.code": "--opd",
    "opd.name": "--opd-name",
    "opd.contact.name": "--contact-name",
    "opd.contact.email": "--contact-email",
    "opd.contact.phone": "--contact-phone",
    "letter.number": "--letter-number",
    "letter.date": "--letter-date",
    "letter.agenda": "--agenda",
    "web.node": "--node",
    "web.ip": "--ip",
    "web.runtime": "--runtime",
    "web.storage_mb": "--storage-mb",
    "web.bandwidth_mbit": "--bandwidth-mbit",
    "database.engine": "--db",
    "database.server": "--db-server",
    "database.quota_mb": "--db-quota-mb",
}
"""Findings on the file `new` would write are reported against the option that caused them."""


def _as_option(finding: Finding) -> Finding:
    field = finding.field
    option = OPTION_OF_FIELD.get(field)
    if option is None and field.startswith("web.aliases["):
        option = "--alias"
    return Finding("opdhost new", 0, option or field, finding.message)


def _precheck(spec: NewSite, path: str, platform: Platform) -> None:
    """The letter's values against the schema first: bad names are reported before capacity."""
    node = spec.node or next(iter(platform.web_nodes))
    req, found = parse_request(request_text(spec, node, spec.ip or "0.0.0.0").encode(), path)
    if req is None:
        raise FindingsError([_as_option(f) for f in found])


def _recheck(text: str, path: str, requests: list[Request], platform: Platform) -> None:
    """Run the file through every check `validate` does; refuse on any finding in it."""
    req, found = parse_request(text.encode("utf-8"), path)
    if req is None:
        raise FindingsError([_as_option(f) for f in found])
    problems = [f for f in check_fleet([*requests, req], platform) if f.path == path]
    if problems:
        raise FindingsError([_as_option(f) for f in problems])


def write(root: Path, placement: Placement) -> Path:
    """Write the file; refuses to overwrite an existing one."""
    target = root / placement.path
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with target.open("x", encoding="utf-8") as handle:
            handle.write(placement.text)
    except FileExistsError as exc:
        raise AllocationError(f"{placement.path} already exists") from exc
    return target
