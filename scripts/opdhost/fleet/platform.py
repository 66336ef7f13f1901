"""The platform variables (inventories/<env>/group_vars/all/platform.yml) as typed objects.

They give the zone, each web node's address, IP pool and capacity, the database servers of
each engine (a list: an office outgrows one server per engine) and the DNS servers: what
validation, allocation and rendering measure the requests against.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opdhost.errors import Finding, FindingsError
from opdhost.fleet.schema import PLATFORM_SCHEMA, check
from opdhost.fleet.yamlload import Document, load_document

PLATFORM_FILE = Path("group_vars") / "all" / "platform.yml"


@dataclass(frozen=True, slots=True)
class Pool:
    """The addresses a web node hands to its sites: first..last inside network."""

    network: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    first: ipaddress.IPv4Address
    last: ipaddress.IPv4Address

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, ipaddress.IPv4Address) and self.first <= ip <= self.last

    def __iter__(self) -> Any:
        for value in range(int(self.first), int(self.last) + 1):
            yield ipaddress.IPv4Address(value)


@dataclass(frozen=True, slots=True)
class WebCapacity:
    """Limits of one web node."""

    storage_mb: int
    bandwidth_mbit: int
    sites: int


@dataclass(frozen=True, slots=True)
class WebNode:
    """A web node: apache, php-fpm and the bandwidth shaper."""

    name: str
    address: str
    interface: str
    pool: Pool
    capacity: WebCapacity
    line: int


@dataclass(frozen=True, slots=True)
class DbServer:
    """One database server of one engine: a node, its address and what it may hold.

    A node serving both engines is two entries (one per engine list), each with its own
    capacity, so the ledger counts the engines apart as it always has.
    """

    engine: str
    node: str
    address: str
    storage_mb: int
    databases: int
    line: int


def _nodes(servers: tuple[DbServer, ...]) -> set[str]:
    return {s.node for s in servers}


@dataclass(frozen=True, slots=True)
class DnsServer:
    """One authoritative name server of the zone."""

    node: str
    address: str


@dataclass(frozen=True, slots=True)
class StaticRecord:
    """A record of the zone kept as the platform defines it."""

    name: str
    type: str
    value: str


@dataclass(frozen=True, slots=True)
class StateNode:
    """Where the applied state and the apply lock live (opdhost.apply.state)."""

    node: str
    directory: str = "/var/lib/opdhost/state"


@dataclass(frozen=True, slots=True)
class BackupSettings:
    """Where backups go and how long they stay (opdhost.backup, docs/backups.md)."""

    node: str
    address: str
    directory: str = "/srv/opdhost-backup"
    on_calendar: str = "*-*-* 01:30:00"
    max_age_hours: int = 26
    keep_daily: int = 7
    keep_weekly: int = 4
    keep_monthly: int = 6


_BACKUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_BACKUP_PATH = re.compile(r"(/[A-Za-z0-9_][A-Za-z0-9._-]*)+")
_BACKUP_CALENDAR = re.compile(r"[A-Za-z0-9*:,./ -]{1,60}")


def _backup(doc: Document, value: object) -> BackupSettings:
    """`opdhost_backup` of the platform file, checked whole; FindingsError lists every problem."""
    base = "opdhost_backup"

    def bad(field: str, message: str) -> Finding:
        return Finding(
            doc.path,
            doc.line(f"{base}.{field}" if field else base),
            f"{base}.{field}".rstrip("."),
            message,
        )

    if not isinstance(value, dict):
        raise FindingsError([bad("", "expected a mapping")])
    found: list[Finding] = []
    target = value.get("target")
    keep = value.get("keep", {})
    unknown = set(value) - {"target", "directory", "on_calendar", "max_age_hours", "keep"}
    found += [bad(k, "unknown key") for k in sorted(map(str, unknown))]
    if not isinstance(target, dict) or set(target) != {"node", "address"}:
        found.append(bad("target", "expected {node: NAME, address: IPv4}"))
        target = {"node": "", "address": "0.0.0.0"}
    if not _BACKUP_NAME.fullmatch(str(target["node"])):
        found.append(bad("target.node", "not a node name"))
    try:
        ipaddress.IPv4Address(str(target["address"]))
    except ValueError:
        found.append(bad("target.address", "not an IPv4 address"))
    defaults = BackupSettings("", "")
    directory = str(value.get("directory", defaults.directory))
    if not _BACKUP_PATH.fullmatch(directory):
        found.append(bad("directory", "not an absolute path of letters, digits, '.', '_', '-'"))
    calendar = str(value.get("on_calendar", defaults.on_calendar))
    if not _BACKUP_CALENDAR.fullmatch(calendar):
        found.append(bad("on_calendar", "not a systemd OnCalendar expression"))
    numbers = {"max_age_hours": value.get("max_age_hours", defaults.max_age_hours)}
    if not isinstance(keep, dict) or not set(keep) <= {"daily", "weekly", "monthly"}:
        found.append(bad("keep", "expected {daily: N, weekly: N, monthly: N}"))
        keep = {}
    for period in ("daily", "weekly", "monthly"):
        numbers[f"keep.{period}"] = keep.get(period, getattr(defaults, f"keep_{period}"))
    for field, number in numbers.items():
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 10000:
            found.append(bad(field, "expected a whole number from 0 to 10000"))
    if numbers["max_age_hours"] == 0:
        found.append(bad("max_age_hours", "must be at least 1"))
    if found:
        raise FindingsError(found)
    return BackupSettings(
        node=str(target["node"]),
        address=str(target["address"]),
        directory=directory,
        on_calendar=calendar,
        max_age_hours=int(numbers["max_age_hours"]),
        keep_daily=int(numbers["keep.daily"]),
        keep_weekly=int(numbers["keep.weekly"]),
        keep_monthly=int(numbers["keep.monthly"]),
    )


@dataclass(frozen=True, slots=True)
class Platform:
    """Everything opdhost knows about the platform of one environment."""

    path: str
    environment: str
    zone: str
    web_nodes: dict[str, WebNode]
    db_servers: dict[str, tuple[DbServer, ...]]
    """Engine -> its servers, sorted by node name (as web nodes are)."""
    dns_primary: DnsServer
    dns_secondaries: tuple[DnsServer, ...]
    static_records: tuple[StaticRecord, ...]
    state: StateNode | None = None
    backup: BackupSettings | None = None

    def reserved_ips(self) -> set[ipaddress.IPv4Address]:
        """Addresses no site may take: networks, broadcasts, gateways and every server."""
        reserved: set[ipaddress.IPv4Address] = set()
        for node in self.web_nodes.values():
            pool = node.pool
            reserved |= {pool.network.network_address, pool.network.broadcast_address}
            reserved |= {pool.gateway, ipaddress.IPv4Address(node.address)}
        for server in self.all_db_servers():
            reserved.add(ipaddress.IPv4Address(server.address))
        for dns in (self.dns_primary, *self.dns_secondaries):
            reserved.add(ipaddress.IPv4Address(dns.address))
        for record in self.static_records:
            if record.type == "A":
                reserved.add(ipaddress.IPv4Address(record.value))
        return reserved

    def all_db_servers(self) -> list[DbServer]:
        """Every database server of every engine, engines and nodes in name order."""
        return [s for engine in sorted(self.db_servers) for s in self.db_servers[engine]]

    def db_nodes(self) -> list[str]:
        """The nodes that serve at least one engine, sorted (each once)."""
        return sorted({s.node for s in self.all_db_servers()})

    def db_server(self, engine: str, node: str = "") -> DbServer | None:
        """The server a request's database is on: `node` among the engine's servers, or, when
        the request names none (`database.server` left out), the engine's only server.

        None when the engine has no such server, or names none while it has several: which one
        holds the data is then unknown, and the checks say so (`server_problem`).
        """
        servers = self.db_servers.get(engine, ())
        if not node:
            return servers[0] if len(servers) == 1 else None
        return next((s for s in servers if s.node == node), None)

    def server_problem(self, engine: str, node: str) -> str | None:
        """Why `node` cannot hold a database of `engine` (None when it can): the one wording
        of validate's finding and of `opdhost new --db-server`, naming the allowed servers."""
        servers = self.db_servers.get(engine, ())
        allowed = ", ".join(s.node for s in servers)
        if not servers:
            return f"the platform has no {engine} server"
        if not node:
            if len(servers) == 1:
                return None
            return (
                f"required: the platform has {len(servers)} {engine} servers ({allowed}); "
                "name the one this database is on"
            )
        if node in _nodes(servers):
            return None
        others = [e for e, listed in sorted(self.db_servers.items()) if node in _nodes(listed)]
        if others:
            what = f"{node!r} serves {', '.join(others)}, not {engine}"
        elif node in self.web_nodes:
            what = f"{node!r} is a web node, not a {engine} server"
        else:
            what = f"unknown {engine} server {node!r}"
        return f"{what} (allowed: {allowed})"

    def static_names(self) -> set[str]:
        """Owner names the static records hold (relative to the zone)."""
        return {r.name for r in self.static_records if r.name != "@"}


def _pool_findings(doc: Document, name: str, node: dict[str, Any]) -> list[Finding]:
    base = f"opdhost_web_nodes.{name}.pool"
    pool = node["pool"]
    try:
        network = ipaddress.IPv4Network(pool["network"])
    except ValueError as exc:
        return [Finding(doc.path, doc.line(f"{base}.network"), f"{base}.network", str(exc))]
    found = []
    for key in ("gateway", "first", "last"):
        if ipaddress.IPv4Address(pool[key]) not in network:
            found.append(
                Finding(
                    doc.path,
                    doc.line(f"{base}.{key}"),
                    f"{base}.{key}",
                    f"{pool[key]} is outside {network}",
                )
            )
    if ipaddress.IPv4Address(pool["first"]) > ipaddress.IPv4Address(pool["last"]):
        found.append(
            Finding(doc.path, doc.line(f"{base}.first"), f"{base}.first", "first is after last")
        )
    return found


def _single_server_findings(doc: Document) -> list[Finding]:
    """The shape before several servers per engine (`mariadb: {node: ...}`, one mapping) is no
    longer read: say so, and show the list it becomes, instead of a bare type error.

    Not converted silently: one shape to read and document, and the platform file is edited
    once per environment by the engineers who own it (docs/production.md).
    """
    value = doc.value
    servers = value.get("opdhost_db_servers") if isinstance(value, dict) else None
    if not isinstance(servers, dict):
        return []
    found = []
    for engine, server in servers.items():
        if isinstance(server, dict):
            field = f"opdhost_db_servers.{engine}"
            found.append(
                Finding(
                    doc.path,
                    doc.line(field),
                    field,
                    "one server as a mapping is the shape before several servers per engine; "
                    "write a list of servers: "
                    f"`{engine}: [{{node: NAME, address: IPv4, capacity: "
                    "{storage_mb: N, databases: N}}]` (one entry per server)",
                )
            )
    return found


def _db_server_findings(doc: Document, servers: dict[str, list[dict[str, Any]]]) -> list[Finding]:
    """Each engine lists a node once; a node has one address whichever engines it serves, and
    no two nodes share one: requests name their server by node, and the roles reach it there.
    """
    found: list[Finding] = []
    address_of: dict[str, tuple[str, str]] = {}  # node -> (address, field)
    node_at: dict[str, tuple[str, str]] = {}  # address -> (node, field)
    for engine, listed in sorted(servers.items()):
        seen: dict[str, str] = {}
        for index, server in enumerate(listed):
            base = f"opdhost_db_servers.{engine}[{index}]"
            node, address = server["node"], server["address"]
            if node in seen:
                found.append(
                    Finding(
                        doc.path,
                        doc.line(f"{base}.node"),
                        f"{base}.node",
                        f"{node!r} is listed twice for {engine} (first at line "
                        f"{doc.line(seen[node])}): one entry per server",
                    )
                )
                continue
            seen[node] = base
            known = address_of.setdefault(node, (address, base))
            if known[0] != address:
                found.append(
                    Finding(
                        doc.path,
                        doc.line(f"{base}.address"),
                        f"{base}.address",
                        f"{node} has the address {known[0]} at line {doc.line(known[1])}: "
                        "a node has one address, whichever engines it serves",
                    )
                )
                continue
            holder = node_at.setdefault(address, (node, base))
            if holder[0] != node:
                found.append(
                    Finding(
                        doc.path,
                        doc.line(f"{base}.address"),
                        f"{base}.address",
                        f"{address} is already {holder[0]}'s address (line "
                        f"{doc.line(holder[1])}): each database node has its own",
                    )
                )
    return found


def platform_from_document(doc: Document) -> Platform:
    """Typed platform from its loaded file; raises FindingsError listing every problem."""
    if not isinstance(doc.value, dict):
        raise FindingsError([Finding(doc.path, 1, "(document)", "expected a mapping")])
    old = _single_server_findings(doc)
    found = [
        f
        for f in check(doc, PLATFORM_SCHEMA)
        if not any(f.field == o.field or f.field.startswith(o.field + "[") for o in old)
    ]
    found = sorted([*old, *found])
    if found:
        raise FindingsError(found)
    v: dict[str, Any] = doc.value
    for name, node in v["opdhost_web_nodes"].items():
        found += _pool_findings(doc, name, node)
    found += _db_server_findings(doc, v["opdhost_db_servers"])
    if found:
        raise FindingsError(found)
    web_nodes = {}
    for name, node in sorted(v["opdhost_web_nodes"].items()):
        pool = node["pool"]
        cap = node["capacity"]
        web_nodes[name] = WebNode(
            name=name,
            address=node["address"],
            interface=node["interface"],
            pool=Pool(
                ipaddress.IPv4Network(pool["network"]),
                ipaddress.IPv4Address(pool["gateway"]),
                ipaddress.IPv4Address(pool["first"]),
                ipaddress.IPv4Address(pool["last"]),
            ),
            capacity=WebCapacity(cap["storage_mb"], cap["bandwidth_mbit"], cap["sites"]),
            line=doc.line(f"opdhost_web_nodes.{name}"),
        )
    db_servers = {
        engine: tuple(
            sorted(
                (
                    DbServer(
                        engine,
                        s["node"],
                        s["address"],
                        s["capacity"]["storage_mb"],
                        s["capacity"]["databases"],
                        doc.line(f"opdhost_db_servers.{engine}[{index}]"),
                    )
                    for index, s in enumerate(listed)
                ),
                key=lambda server: server.node,
            )
        )
        for engine, listed in sorted(v["opdhost_db_servers"].items())
    }
    dns = v["opdhost_dns"]
    return Platform(
        path=doc.path,
        environment=v.get("opdhost_environment", ""),
        zone=v["opdhost_zone"],
        web_nodes=web_nodes,
        db_servers=db_servers,
        dns_primary=DnsServer(dns["primary"]["node"], dns["primary"]["address"]),
        dns_secondaries=tuple(DnsServer(s["node"], s["address"]) for s in dns["secondaries"]),
        static_records=tuple(
            StaticRecord(r["name"], r["type"], r["value"]) for r in dns["static_records"]
        ),
        state=StateNode(**v["opdhost_state"]) if "opdhost_state" in v else None,
        backup=_backup(doc, v["opdhost_backup"]) if "opdhost_backup" in v else None,
    )


def platform_path(root: Path, env: str = "lab", inventory: Path | None = None) -> Path:
    """The platform file of an inventory directory (default: <root>/inventories/<env>)."""
    base = inventory if inventory is not None else root / "inventories" / env
    return base / PLATFORM_FILE


def load_platform(path: Path, display: str | None = None) -> Platform:
    """Read and check a platform file; raises FindingsError (or OpdhostError if unreadable)."""
    shown = display or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FindingsError([Finding(shown, 1, "(file)", f"cannot read: {exc.strerror}")]) from exc
    doc, found = load_document(data, shown)
    if doc is None:
        raise FindingsError(found)
    return platform_from_document(doc)
