"""The capacity ledger: what the active and suspended sites use of each node and server.

Decommissioned sites use nothing. The same accounting serves the ledger table, the capacity
checks of `validate` and the placement of `opdhost new`. Databases are counted per server
(engine and node: an engine may have several servers, a node may serve both engines), on the
server the platform resolves for the request (`Platform.db_server`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from opdhost.fleet.model import Engine, Request, Status
from opdhost.fleet.platform import DbServer, Platform


@dataclass(slots=True)
class WebUsage:
    """Running totals of one web node."""

    sites: int = 0
    storage_mb: int = 0
    bandwidth_mbit: int = 0


@dataclass(slots=True)
class DbUsage:
    """Running totals of one database server."""

    databases: int = 0
    storage_mb: int = 0


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One line of the ledger table."""

    server: str
    resource: str
    used: int
    limit: int
    unit: str

    @property
    def free(self) -> int:
        """What is left (negative when over)."""
        return self.limit - self.used

    @property
    def share(self) -> float:
        """Used share of the limit (0 when the limit is 0 and nothing is used)."""
        return self.used / self.limit if self.limit else float(self.used > 0)


@dataclass(slots=True)
class Usage:
    """Totals per web node and per database server, keyed (engine, node)."""

    web: dict[str, WebUsage] = field(default_factory=dict)
    db: dict[tuple[str, str], DbUsage] = field(default_factory=dict)

    def add(self, req: Request, server: DbServer | None = None) -> None:
        """Count one request (nothing when decommissioned); its database on `server`.

        `server` is the platform's resolution of the request's `database.server`; without one
        (an unknown server, or none named among several) the database is not counted: where it
        would go is a finding of its own, not a guess.
        """
        if req.status is Status.DECOMMISSIONED:
            return
        web = self.web.setdefault(req.web.node, WebUsage())
        web.sites += 1
        web.storage_mb += req.web.storage_mb
        web.bandwidth_mbit += req.web.bandwidth_mbit
        if req.database.engine is not Engine.NONE and server is not None:
            db = self.db.setdefault((server.engine, server.node), DbUsage())
            db.databases += 1
            db.storage_mb += req.database.quota_mb


def usage(requests: Iterable[Request], platform: Platform) -> Usage:
    """Totals of a fleet on `platform`."""
    total = Usage()
    for req in requests:
        total.add(req, platform.db_server(req.database.engine.value, req.database.server))
    return total


def ledger(requests: Iterable[Request], platform: Platform) -> list[LedgerRow]:
    """The ledger table: every platform limit with its use, web nodes then database servers."""
    total = usage(requests, platform)
    rows: list[LedgerRow] = []
    for name, node in platform.web_nodes.items():
        used = total.web.get(name, WebUsage())
        cap = node.capacity
        pool_size = int(node.pool.last) - int(node.pool.first) + 1
        rows += [
            LedgerRow(name, "sites", used.sites, min(cap.sites, pool_size), "sites"),
            LedgerRow(name, "storage", used.storage_mb, cap.storage_mb, "MB"),
            LedgerRow(name, "bandwidth", used.bandwidth_mbit, cap.bandwidth_mbit, "Mbit/s"),
        ]
    for server in platform.all_db_servers():
        db = total.db.get((server.engine, server.node), DbUsage())
        label = f"{server.node} ({server.engine})"
        rows += [
            LedgerRow(label, "databases", db.databases, server.databases, "databases"),
            LedgerRow(label, "storage", db.storage_mb, server.storage_mb, "MB"),
        ]
    return rows
