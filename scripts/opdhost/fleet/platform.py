"""The platform variables (inventories/<env>/group_vars/all/platform.yml) as typed objects.

They give the zone, each web node's address, IP pool and capacity, the database servers and
the DNS servers: what validation, allocation and rendering measure the requests against.
"""

from __future__ import annotations

import ipaddress
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
