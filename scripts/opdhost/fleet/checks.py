"""Checks across files and against the platform: the review data of SOP steps 4-5.

Unique names, host names, IPs and database names; IPs inside their node's pool and not
reserved; aliases inside the zone; capacity per node and per database server; status
transitions against the base state. Every finding points at the file and line to fix.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from opdhost.errors import Finding
from opdhost.fleet import names, sshkeys
from opdhost.fleet.ledger import Usage
from opdhost.fleet.model import Engine, Request, Status
from opdhost.fleet.moves import move_findings
from opdhost.fleet.platform import Platform

IMMUTABLE = ("database.engine", "database.name", "database.user")
"""Fields an existing hosting cannot change in place (data would be stranded). Its web node
and database server can change: that is a move (opdhost.fleet.moves), checked there."""


@dataclass(frozen=True, slots=True)
class _Claim:
    path: str
    line: int
    field: str


def _reserved(platform: Platform) -> dict[ipaddress.IPv4Address, str]:
    """Reserved address -> why (for the message).

    Web nodes on one network share its network, broadcast and gateway addresses: the message
    names every pool that has it (`the gateway of web1's and web2's pools`), not whichever
    node came last.
    """
    why: dict[ipaddress.IPv4Address, str] = {}
    for ip in platform.reserved_ips():
        why[ip] = "a platform server's address"
    pools: dict[tuple[ipaddress.IPv4Address, str], list[str]] = {}
    for name, node in platform.web_nodes.items():
        net = node.pool.network
        for ip, what in (
            (net.network_address, "the network address"),
            (net.broadcast_address, "the broadcast address"),
            (node.pool.gateway, "the gateway"),
        ):
            pools.setdefault((ip, what), []).append(f"{name}'s")
    for (ip, what), owners in pools.items():
        why[ip] = f"{what} of {' and '.join(owners)} pool{'s' if len(owners) > 1 else ''}"
    for name, node in platform.web_nodes.items():
        why[ipaddress.IPv4Address(node.address)] = f"the address of node {name}"
    return why


def platform_findings(
    req: Request, platform: Platform, reserved: Mapping[ipaddress.IPv4Address, str]
) -> list[Finding]:
    """One request against the platform: node, pool, reserved IPs, zone, engine."""
    found: list[Finding] = []

    def add(field: str, message: str) -> None:
        found.append(Finding(req.path, req.line(field), field, message))

    node = platform.web_nodes.get(req.web.node)
    if node is None:
        add(
            "web.node",
            f"unknown web node {req.web.node!r} (known: {', '.join(platform.web_nodes)})",
        )
    ip = ipaddress.IPv4Address(req.web.ip)
    if ip in reserved:
        add("web.ip", f"{ip} is reserved: {reserved[ip]}")
    elif node is not None and ip not in node.pool:
        add("web.ip", f"{ip} is outside {node.name}'s pool {node.pool.first}-{node.pool.last}")
    static = platform.static_names()
    if req.site in static:
        add("site", f"{req.site!r} is a static name of the zone")
    for index, alias in enumerate(req.web.aliases):
        field = f"web.aliases[{index}]"
        if not names.is_host_in_zone(alias, platform.zone):
            add(field, f"{alias!r} is not a host name inside the zone {platform.zone}")
        elif names.relative_name(alias, platform.zone) in static:
            add(field, f"{alias!r} is a static name of the zone")
    engine = req.database.engine
    if engine is not Engine.NONE:
        problem = platform.server_problem(engine.value, req.database.server)
        if problem is not None:
            no_server = not platform.db_servers.get(engine.value)
            add("database.engine" if no_server else "database.server", problem)
    return found


def uniqueness_findings(requests: Iterable[Request], zone: str) -> list[Finding]:
    """Site names, host names, IPs, database names and users: one owner each."""
    found: list[Finding] = []
    claims: dict[tuple[str, str], _Claim] = {}

    def claim(kind: str, value: str, req: Request, field: str) -> None:
        line = req.line(field)
        first = claims.setdefault((kind, value), _Claim(req.path, line, field))
        if first.path == req.path and first.field == field:
            return
        where = "this file" if first.path == req.path else first.path
        message = f"{kind} {value!r} is already claimed by {where}:{first.line} ({first.field})"
        found.append(Finding(req.path, line, field, message))

    for req in requests:
        claim("site", req.site, req, "site")
        claim("host name", req.fqdn(zone), req, "site")
        for index, alias in enumerate(req.web.aliases):
            claim("host name", alias, req, f"web.aliases[{index}]")
        claim("IP", req.web.ip, req, "web.ip")
        claim("system user", req.user, req, "site")
        if req.database.engine is not Engine.NONE:
            claim("database name", req.database.name, req, "database.name")
            claim("database user", req.database.user, req, "database.user")
    found += _nested_name_findings(requests, zone, claims)
    found += _shared_key_findings(requests)
    return found


def _shared_key_findings(requests: Iterable[Request]) -> list[Finding]:
    """An SFTP key opens the sites of one agency only: a key given to a second agency's site
    would let the first agency's holder into it. One agency may use a key on all its sites."""
    found: list[Finding] = []
    owner: dict[str, tuple[Request, int]] = {}
    for req in requests:
        for index, text in enumerate(req.web.sftp_keys):
            body = text.split(" ")[1] if text.count(" ") >= 1 else text
            first = owner.setdefault(body, (req, index))
            other, other_index = first
            if other.opd.code == req.opd.code:
                continue
            field = f"web.sftp_keys[{index}]"
            found.append(
                Finding(
                    req.path,
                    req.line(field),
                    field,
                    f"this key ({sshkeys.fingerprint(text)}) is already given to agency "
                    f"{other.opd.code!r} in {other.path}:"
                    f"{other.line(f'web.sftp_keys[{other_index}]')}; each agency needs its own",
                )
            )
    return found


def _nested_name_findings(
    requests: Iterable[Request], zone: str, claims: Mapping[tuple[str, str], _Claim]
) -> list[Finding]:
    """A host name below another request's host name is that request's, never a neighbour's.

    `portal.disdik.<zone>` served by another agency would receive the cookies disdik sets for
    `.disdik.<zone>` and pass for disdik's own page: only disdik may hold names below it.
    """
    found: list[Finding] = []
    suffix = "." + zone
    for req in requests:
        names_here = [(req.fqdn(zone), "site")]
        names_here += [(a, f"web.aliases[{i}]") for i, a in enumerate(req.web.aliases)]
        own = req.fqdn(zone)
        for name, field in names_here:
            exact = claims.get(("host name", name))
            if exact is not None and exact.path != req.path:
                continue  # already reported as a name claimed twice
            labels = name[: -len(suffix)].split(".") if name.endswith(suffix) else []
            for cut in range(1, len(labels)):
                parent = ".".join(labels[cut:]) + suffix
                if parent == own:
                    break  # below its own name (a duplicate site name is reported as such)
                owner = claims.get(("host name", parent))
                if owner is not None and owner.path != req.path:
                    found.append(
                        Finding(
                            req.path,
                            req.line(field),
                            field,
                            f"{name!r} is below {parent!r}, claimed by {owner.path}:"
                            f"{owner.line} ({owner.field}): names below a site belong to it",
                        )
                    )
                    break
    return found


def capacity_findings(
    requests: Iterable[Request], platform: Platform, existing: frozenset[str] = frozenset()
) -> list[Finding]:
    """Requests that push a node or database server over its limit.

    Sites named in `existing` are counted first, so the newcomers carry the blame.
    """
    ordered = sorted(requests, key=lambda r: (r.site not in existing, r.path))
    total = Usage()
    found: list[Finding] = []

    def over(req: Request, field: str, what: str, now: int, limit: int, *, unit: str = "") -> None:
        if now > limit:
            message = f"over {what} capacity: {now}{unit} of {limit}{unit}"
            found.append(Finding(req.path, req.line(field), field, message))

    for req in ordered:
        server = platform.db_server(req.database.engine.value, req.database.server)
        total.add(req, server)
        if req.status is Status.DECOMMISSIONED:
            continue
        node = platform.web_nodes.get(req.web.node)
        if node is not None:
            web, cap = total.web[node.name], node.capacity
            over(req, "site", f"{node.name}'s sites", web.sites, cap.sites)
            over(
                req,
                "web.storage_mb",
                f"{node.name}'s storage",
                web.storage_mb,
                cap.storage_mb,
                unit=" MB",
            )
            over(
                req,
                "web.bandwidth_mbit",
                f"{node.name}'s bandwidth",
                web.bandwidth_mbit,
                cap.bandwidth_mbit,
                unit=" Mbit/s",
            )
        if server is not None:
            db = total.db[(server.engine, server.node)]
            over(
                req,
                "database.engine",
                f"{server.node}'s {server.engine} databases",
                db.databases,
                server.databases,
            )
            over(
                req,
                "database.quota_mb",
                f"{server.node}'s {server.engine} storage",
                db.storage_mb,
                server.storage_mb,
                unit=" MB",
            )
    return found


def transition_findings(
    base: Mapping[str, Request], new: Mapping[str, Request], invalid_paths: Iterable[str] = ()
) -> list[Finding]:
    """Status changes and immutable fields between the base state and the new one.

    `invalid_paths`: files of the new state that failed to parse; their sites are not
    reported as removed (their own findings say what is wrong).
    """
    found: list[Finding] = []
    broken = set(invalid_paths)
    for site, req in new.items():
        old = base.get(site)
        if old is None:
            if req.status is Status.DECOMMISSIONED:
                found.append(
                    Finding(
                        req.path,
                        req.line("status"),
                        "status",
                        "a new request cannot start as decommissioned",
                    )
                )
            continue
        if old.status is Status.DECOMMISSIONED and req.status is not Status.DECOMMISSIONED:
            found.append(
                Finding(
                    req.path,
                    req.line("status"),
                    "status",
                    f"decommissioned -> {req.status.value} is not allowed: a decommissioned "
                    "hosting is gone; file a new request under a new name",
                )
            )
        was, now = old.desired(), req.desired()
        for field in IMMUTABLE:
            if was[field] != now[field] and req.status is not Status.DECOMMISSIONED:
                found.append(
                    Finding(
                        req.path,
                        req.line(field),
                        field,
                        f"cannot change on an existing hosting ({was[field]!r} -> "
                        f"{now[field]!r}): decommission it and file a new request",
                    )
                )
    for site, old in base.items():
        if site in new or old.status is Status.DECOMMISSIONED or old.path in broken:
            continue
        found.append(
            Finding(
                old.path,
                old.line("status"),
                "status",
                f"request file removed while the hosting is {old.status.value}: set "
                "status: decommissioned and apply first (nothing is removed silently)",
            )
        )
    return found


def check_fleet(
    requests: list[Request],
    platform: Platform,
    base: Mapping[str, Request] | None = None,
    invalid_paths: Iterable[str] = (),
) -> list[Finding]:
    """Every cross-file and platform check of one state (transitions only with a base)."""
    reserved = _reserved(platform)
    found: list[Finding] = []
    for req in requests:
        found += platform_findings(req, platform, reserved)
    found += uniqueness_findings(requests, platform.zone)
    existing = frozenset(base) if base is not None else frozenset()
    found += capacity_findings(requests, platform, existing)
    if base is not None:
        new: dict[str, Request] = {}
        for req in requests:
            new.setdefault(req.site, req)
        found += transition_findings(base, new, invalid_paths)
        found += move_findings(base, new, platform)
    return found
