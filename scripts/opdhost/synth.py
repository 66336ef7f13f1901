"""Synthetic fleets (N sites) for tests and benchmarks: request files plus a platform big
enough to hold them, laid out like the repository (requests/, inventories/bench/)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

SYNTH_ENV = "bench"
SITES_PER_NODE = 200
OPDS = 40


def platform_text(nodes: int, zone: str = "kab-contoh.go.id") -> str:
    """Platform variables with `nodes` web nodes of 200 pool addresses each (10.<n>.<m>.0/24)."""
    lines = [
        "---",
        f"opdhost_environment: {SYNTH_ENV}",
        f"opdhost_zone: {zone}",
        "opdhost_web_nodes:",
    ]
    for n in range(nodes):
        net = ipaddress.IPv4Network(f"10.{100 + n // 200}.{n % 200}.0/24")
        base = int(net.network_address)
        lines += [
            f"  web{n + 1}:",
            f"    address: {ipaddress.IPv4Address(base + 11)}",
            "    interface: eth0",
            "    pool:",
            f"      network: {net}",
            f"      gateway: {ipaddress.IPv4Address(base + 1)}",
            f"      first: {ipaddress.IPv4Address(base + 20)}",
            f"      last: {ipaddress.IPv4Address(base + 20 + SITES_PER_NODE - 1)}",
            "    capacity: {storage_mb: 10000000, bandwidth_mbit: 100000, sites: 1000}",
        ]
    lines += [
        "opdhost_db_servers:",
        "  mariadb:",
        "    node: db1",
        "    address: 10.99.0.21",
        "    capacity: {storage_mb: 100000000, databases: 100000}",
        "  postgresql:",
        "    node: db2",
        "    address: 10.99.0.22",
        "    capacity: {storage_mb: 100000000, databases: 100000}",
        "opdhost_dns:",
        "  primary: {node: ns1, address: 10.99.0.31}",
        "  secondaries:",
        "    - {node: ns2, address: 10.99.0.32}",
        "  static_records:",
        f'    - {{name: "@", type: NS, value: ns1.{zone}.}}',
        "    - {name: ns1, type: A, value: 10.99.0.31}",
    ]
    return "\n".join(lines) + "\n"


def site_name(index: int) -> str:
    """The name of the index-th synthetic site."""
    return f"site{index:05d}"


def opd_code(index: int) -> str:
    """The OPD of the index-th synthetic site."""
    return f"opd{index % OPDS:02d}"


def request_text(index: int, zone: str = "kab-contoh.go.id", status: str = "active") -> str:
    """A realistic request: PHP/static, MariaDB/PostgreSQL/none, an alias for a third."""
    site = site_name(index)
    node, slot = divmod(index, SITES_PER_NODE)
    net = ipaddress.IPv4Network(f"10.{100 + node // 200}.{node % 200}.0/24")
    ip = ipaddress.IPv4Address(int(net.network_address) + 20 + slot)
    engine = ("mariadb", "postgresql", "none")[index % 3]
    lines = [
        "---",
        f"# Synthetic request {index}.",
        f"site: {site}",
        "opd:",
        f"  code: {opd_code(index)}",
        f"  name: Dinas Contoh Nomor {index % OPDS}",
        "  contact:",
        "    name: Petugas Contoh",
        f"    email: petugas@{opd_code(index)}.{zone}",
        '    phone: "+62 812 0000 0000"',
        "letter:",
        f"  number: 400/{index}/Setda/2026",
        "  date: 2026-11-20",
        f"  agenda: AG-2026-{index:05d}",
        f"status: {status}",
        "web:",
        f"  node: web{node + 1}",
        f"  ip: {ip}",
        f"  runtime: {'static' if index % 5 == 4 else 'php'}",
        f"  storage_mb: {1024 + (index % 8) * 256}",
        f"  bandwidth_mbit: {5 + index % 20}",
    ]
    if index % 3 == 0:
        lines += ["  aliases:", f"    - www.{site}.{zone}"]
    lines += ["  tls: true", "database:", f"  engine: {engine}"]
    if engine != "none":
        lines.append(f"  quota_mb: {256 + (index % 4) * 256}")
    return "\n".join(lines) + "\n"


def make_fleet(count: int, root: Path) -> Path:
    """Write `count` requests and their platform under `root`; returns the inventory dir.

    The platform has one web node more than needed, so new sites fit.
    """
    nodes = count // SITES_PER_NODE + 1
    inventory = root / "inventories" / SYNTH_ENV
    (inventory / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
    (inventory / "group_vars" / "all" / "platform.yml").write_text(platform_text(nodes))
    for index in range(count):
        directory = root / "requests" / opd_code(index)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{site_name(index)}.yaml").write_text(request_text(index))
    return inventory
