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
from opdhost.fleet.model import Engine, Request, Status, expected_path, parse_request
from opdhost.fleet.moves import Move, move_of
from opdhost.fleet.platform import DbServer, Platform, WebNode
from opdhost.fleet.writer import NewSite, moved_text, request_text


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the new site goes."""

    node: str
    ip: str
    path: str
    text: str = field(repr=False)
    db_server: str = ""  # "" for engine none


def _fits(node: WebNode, used: WebUsage, storage_mb: int, bandwidth_mbit: int) -> str | None:
    """Why a site of this size does not fit on `node` (None when it fits)."""
    cap = node.capacity
    if used.sites + 1 > cap.sites:
        return f"{node.name} already has {used.sites} of {cap.sites} sites"
    if used.storage_mb + storage_mb > cap.storage_mb:
        free = cap.storage_mb - used.storage_mb
        return f"{node.name} has {free} MB of storage left, {storage_mb} MB asked"
    if used.bandwidth_mbit + bandwidth_mbit > cap.bandwidth_mbit:
        free = cap.bandwidth_mbit - used.bandwidth_mbit
        return f"{node.name} has {free} Mbit/s of bandwidth left, {bandwidth_mbit} asked"
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
        why = _fits(node, used, spec.storage_mb, spec.bandwidth_mbit)
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


def _db_fits(server: DbServer, used: DbUsage, quota_mb: int) -> str | None:
    """Why a database of this quota does not fit on `server` (None when it fits)."""
    if used.databases + 1 > server.databases:
        return (
            f"{server.node} already has {used.databases} of {server.databases} "
            f"{server.engine} databases"
        )
    if used.storage_mb + quota_mb > server.storage_mb:
        free = server.storage_mb - used.storage_mb
        return f"{server.node} has {free} MB of {server.engine} storage left, {quota_mb} MB asked"
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
        why = _db_fits(server, used, spec.db_quota_mb)
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


@dataclass(frozen=True, slots=True)
class MovePlacement:
    """Where `opdhost move` puts an existing site, and its request file rewritten."""

    move: Move
    path: str
    text: str = field(repr=False)


def place_move(
    site: str,
    fleet: Fleet,
    platform: Platform,
    *,
    web_node: str | None = None,
    db_server: str | None = None,
    claims: Claims | None = None,
    text: str | None = None,
) -> MovePlacement:
    """Move `site` to `web_node` (with the lowest free IP of its pool, skipping what open
    merge requests claim) and/or its database to `db_server`; AllocationError if impossible.

    `text` is the request file's current text (its other lines and comments are kept). The
    rewritten file goes through every check `validate` does against the current files as the
    base, so `move` never writes a file `validate` or `plan` would refuse.
    """
    if has_errors(fleet.findings):
        raise FindingsError(
            [*fleet.findings, Finding("requests", 1, "(fleet)", "fix these files first")]
        )
    if web_node is None and db_server is None:
        raise AllocationError("nothing to move: give --web-node NODE and/or --db-server NODE")
    req = fleet.by_site().get(site)
    if req is None:
        raise AllocationError(f"no request file for site {site!r} under requests/")
    if req.status is Status.DECOMMISSIONED:
        raise AllocationError(
            f"{req.path}: site {site!r} is decommissioned: a decommissioned hosting does not "
            "move (file a new request for a new site)"
        )
    others = [r for r in fleet.requests if r.site != site]
    total = usage(others, platform)
    node, ip = _move_web(
        req,
        web_node=web_node,
        db_server=db_server,
        fleet=fleet,
        platform=platform,
        total=total,
        claims=claims,
    )
    server = _move_db(req, db_server, node, platform, total)
    new_text = moved_text(text if text is not None else "", req, node, ip, server)
    moved, found = parse_request(new_text.encode("utf-8"), req.path)
    if moved is None:
        raise FindingsError(found)
    problems = [
        f
        for f in check_fleet([*others, moved], platform, base=fleet.by_site())
        if f.path == req.path
    ]
    if problems:
        raise FindingsError(problems)
    move = move_of(req, moved, platform)
    assert move is not None  # node or server changed above
    return MovePlacement(move, req.path, new_text)


def rewrite(root: Path, placement: MovePlacement) -> Path:
    """Write the moved request over its file (atomically: a temporary file renamed over it)."""
    target = root / placement.path
    tmp = target.with_name(f".{target.name}.move-tmp")
    tmp.write_text(placement.text, encoding="utf-8")
    tmp.replace(target)
    return target


def _move_web(
    req: Request,
    *,
    web_node: str | None,
    db_server: str | None,
    fleet: Fleet,
    platform: Platform,
    total: Usage,
    claims: Claims | None,
) -> tuple[str, str]:
    """The web node and IP after the move (the current ones when the web part stays)."""
    site = req.site
    if web_node is None:
        return req.web.node, req.web.ip
    if web_node == req.web.node:
        if db_server is None:
            raise AllocationError(f"{site} is already on web node {web_node}")
        return req.web.node, req.web.ip
    target = platform.web_nodes.get(web_node)
    if target is None:
        known = ", ".join(platform.web_nodes)
        raise AllocationError(f"unknown web node {web_node!r} (known: {known})")
    used = total.web.get(web_node, WebUsage())
    why = _fits(target, used, req.web.storage_mb, req.web.bandwidth_mbit)
    if why is not None:
        raise AllocationError(f"{site} does not fit on {web_node}: {why}")
    taken = {r.web.ip for r in fleet.requests} | set((claims or Claims()).ips)
    free = lowest_free_ip(target, taken, platform)
    if free is None:
        raise AllocationError(
            f"{web_node} has no free IP left in {target.pool.first}-{target.pool.last}"
        )
    return web_node, free


def _move_db(
    req: Request, db_server: str | None, node: str, platform: Platform, total: Usage
) -> str:
    """The database server the file names after the move (as it was when the part stays)."""
    site = req.site
    if db_server is None:
        return req.database.server
    engine = req.database.engine
    if engine is Engine.NONE:
        raise AllocationError(f"{site} has no database (engine none): nothing to move")
    current = platform.db_server(engine.value, req.database.server)
    if current is not None and current.node == db_server:
        if node == req.web.node:
            raise AllocationError(f"{site}'s database is already on {db_server}")
        return req.database.server
    problem = platform.server_problem(engine.value, db_server)
    if problem is not None:
        raise AllocationError(f"--db-server: {problem}")
    chosen = platform.db_server(engine.value, db_server)
    assert chosen is not None  # server_problem said it exists
    used = total.db.get((engine.value, db_server), DbUsage())
    why = _db_fits(chosen, used, req.database.quota_mb)
    if why is not None:
        raise AllocationError(f"{site}'s database does not fit on {db_server}: {why}")
    return db_server
