"""The platform variables (inventories/<env>/group_vars/all/platform.yml) as typed objects.

They give the zone, each web node's address, IP pool and capacity, the database servers and
the DNS servers: what validation, allocation and rendering measure the requests against.
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
    """The server of one database engine."""

    engine: str
    node: str
    address: str
    storage_mb: int
    databases: int
    line: int


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
    db_servers: dict[str, DbServer]
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
        for server in self.db_servers.values():
            reserved.add(ipaddress.IPv4Address(server.address))
        for dns in (self.dns_primary, *self.dns_secondaries):
            reserved.add(ipaddress.IPv4Address(dns.address))
        for record in self.static_records:
            if record.type == "A":
                reserved.add(ipaddress.IPv4Address(record.value))
        return reserved

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


def platform_from_document(doc: Document) -> Platform:
    """Typed platform from its loaded file; raises FindingsError listing every problem."""
    found = (
        check(doc, PLATFORM_SCHEMA)
        if isinstance(doc.value, dict)
        else [Finding(doc.path, 1, "(document)", "expected a mapping")]
    )
    if found:
        raise FindingsError(found)
    v: dict[str, Any] = doc.value  # type: ignore[assignment]
    for name, node in v["opdhost_web_nodes"].items():
        found += _pool_findings(doc, name, node)
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
        engine: DbServer(
            engine,
            s["node"],
            s["address"],
            s["capacity"]["storage_mb"],
            s["capacity"]["databases"],
            doc.line(f"opdhost_db_servers.{engine}"),
        )
        for engine, s in sorted(v["opdhost_db_servers"].items())
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
