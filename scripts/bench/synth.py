"""Synthetic fleets (N sites) for tests and benchmarks: request files plus a platform big
enough to hold them, laid out like the repository (requests/, inventories/bench/)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path
from typing import Any

from opdhost.fleet.model import Engine, Runtime, Status
from opdhost.fleet.writer import NewSite
from opdhost.fleet.writer import request_text as write_request

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
        "    - node: db1",
        "      address: 10.99.0.21",
        "      capacity: {storage_mb: 100000000, databases: 100000}",
        "  postgresql:",
        "    - node: db2",
        "      address: 10.99.0.22",
        "      capacity: {storage_mb: 100000000, databases: 100000}",
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


def site_spec(index: int, zone: str = "kab-contoh.go.id") -> NewSite:
    """A realistic request: PHP/static, MariaDB/PostgreSQL/none, an alias for a third."""
    site = site_name(index)
    node, slot = divmod(index, SITES_PER_NODE)
    net = ipaddress.IPv4Network(f"10.{100 + node // 200}.{node % 200}.0/24")
    engine = (Engine.MARIADB, Engine.POSTGRESQL, Engine.NONE)[index % 3]
    return NewSite(
        opd_code=opd_code(index),
        opd_name=f"Dinas Contoh Nomor {index % OPDS}",
        contact_name="Petugas Contoh",
        contact_email=f"petugas@{opd_code(index)}.{zone}",
        contact_phone="+62 812 0000 0000",
        letter_number=f"400/{index}/Setda/2026",
        letter_date="2026-11-20",
        agenda=f"AG-2026-{index:05d}",
        site=site,
        runtime=Runtime.STATIC if index % 5 == 4 else Runtime.PHP,
        engine=engine,
        storage_mb=1024 + (index % 8) * 256,
        bandwidth_mbit=5 + index % 20,
        db_quota_mb=0 if engine is Engine.NONE else 256 + (index % 4) * 256,
        aliases=(f"www.{site}.{zone}",) if index % 3 == 0 else (),
        node=f"web{node + 1}",
        ip=str(ipaddress.IPv4Address(int(net.network_address) + 20 + slot)),
        comment=f"Synthetic request {index}.",
    )


def request_text(index: int, zone: str = "kab-contoh.go.id", **changes: Any) -> str:
    """Request `index` as a file, with any NewSite field changed (`status=Status.SUSPENDED`)."""
    return write_request(replace(site_spec(index, zone), **changes))


def e2e_request(
    site: str,
    ip: int,
    engine: str = "mariadb",
    status: str = "active",
    mbit: int = 10,
    *,
    sftp_keys: tuple[str, ...] = (),
    node: str = "web1",
    db_server: str = "db1",
) -> str:
    """A request of the end-to-end tests' agency on the lab (IP 10.203.0.<ip>).

    It names its database server, as `opdhost new` writes it: the lab has two servers per
    engine, and a request that names none is refused there.
    """
    db = Engine(engine)
    spec = NewSite(
        opd_code="e2e",
        opd_name="Dinas Uji Coba",
        contact_name="Tester Satu",
        contact_email="tester@e2e.kab-contoh.go.id",
        letter_number=f"000/{ip}/E2E/2026",
        letter_date="2026-11-20",
        agenda=f"AG-2026-9{ip:03d}",
        site=site,
        runtime=Runtime.PHP,
        engine=db,
        storage_mb=256,
        bandwidth_mbit=mbit,
        db_quota_mb=0 if db is Engine.NONE else 128,
        aliases=(f"www.{site}.kab-contoh.go.id",),
        node=node,
        ip=f"10.203.0.{ip}",
        status=Status(status),
        sftp_keys=sftp_keys,
        comment="An end-to-end test's request.",
        db_server=None if db is Engine.NONE else db_server,
    )
    return write_request(spec)


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
