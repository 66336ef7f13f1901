"""Per-node role variables, exactly as docs/contracts.md defines them.

`render(requests, platform)` gives every node's variables for the whole fleet; the apply step
compares them with the applied state, adds the `*_only` lists (the sites that changed on that
node) and hands each node's dict to ansible-runner. The roles read these variables and
nothing else, so this module is the whole contract on the Python side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from opdhost.backup.layout import backup_vars
from opdhost.fleet import names, sshkeys
from opdhost.fleet.model import Engine, Request, Status
from opdhost.fleet.platform import Platform

NodeVars = dict[str, object]

# The engines' standard ports: the database role does not move them.
ENGINE_PORTS = {"mariadb": 3306, "postgresql": 5432}


@dataclass(frozen=True, slots=True)
class Rendered:
    """Variables per node, for the whole fleet (no `*_only`: apply.plan_work sets those)."""

    nodes: dict[str, NodeVars] = field(default_factory=dict)


def _site_database(req: Request, platform: Platform) -> dict[str, object] | None:
    """What the site's credentials file names (the password is added on the hosts only): the
    address of the server the request's database is on."""
    db = req.database
    server = platform.db_server(db.engine.value, db.server)
    if db.engine is Engine.NONE or server is None:
        return None
    return {
        "engine": db.engine.value,
        "host": server.address,
        "port": ENGINE_PORTS[db.engine.value],
        "name": db.name,
        "user": db.user,
        "db_node": server.node,
    }


def _vhost(req: Request, platform: Platform) -> dict[str, object]:
    zone = platform.zone
    return {
        "site": req.site,
        "fqdn": req.fqdn(zone),
        "aliases": list(req.web.aliases),
        "ip": req.web.ip,
        "runtime": req.web.runtime.value,
        "status": req.status.value,
        "user": req.user,
        "storage_mb": req.web.storage_mb,
        "tls": req.web.tls,
        "hsts": req.web.hsts,
        "sftp_keys": [
            {"key": key.line, "fingerprint": key.fingerprint}
            for key in map(sshkeys.parse, req.web.sftp_keys)
        ],
        "database": _site_database(req, platform),
    }


def _bandwidth(req: Request) -> dict[str, object]:
    return {
        "site": req.site,
        "ip": req.web.ip,
        "bandwidth_mbit": req.web.bandwidth_mbit,
        "status": req.status.value,
    }


def _database(req: Request, client: str) -> dict[str, object]:
    db = req.database
    return {
        "site": req.site,
        "engine": db.engine.value,
        "name": db.name,
        "user": db.user,
        "quota_mb": db.quota_mb,
        "status": req.status.value,
        "client_hosts": [client],
    }


def dns_records(requests: Iterable[Request], zone: str) -> list[dict[str, str]]:
    """A record per active or suspended site, a CNAME to it per alias; sorted by site."""
    records: list[dict[str, str]] = []
    for req in sorted(requests, key=lambda r: r.site):
        if req.status is Status.DECOMMISSIONED:
            continue
        records.append({"name": req.site, "type": "A", "value": req.web.ip})
        for alias in req.web.aliases:
            records.append(
                {"name": names.relative_name(alias, zone), "type": "CNAME", "value": req.site}
            )
    return records


def _merge(nodes: dict[str, NodeVars], node: str, values: NodeVars) -> None:
    nodes.setdefault(node, {}).update(values)


def render(requests: Iterable[Request], platform: Platform) -> Rendered:
    """Role variables for every node of the platform.

    `requests` must be the whole valid fleet: node-wide files always cover every site.
    """
    fleet = sorted(requests, key=lambda r: r.site)
    nodes: dict[str, NodeVars] = {}

    for name, web in platform.web_nodes.items():
        mine = [r for r in fleet if r.web.node == name]
        _merge(
            nodes,
            name,
            {
                "apache_vhost_sites": [_vhost(r, platform) for r in mine],
                "apache_vhost_interface": web.interface,
                "bandwidth_interface": web.interface,
                "bandwidth_sites": [_bandwidth(r) for r in mine],
            },
        )

    # Each database node gets only the databases on it: the server each request resolves to
    # (its database.server, or the engine's only server when it names none).
    by_db_node: dict[str, list[Request]] = {node: [] for node in platform.db_nodes()}
    for r in fleet:
        server = platform.db_server(r.database.engine.value, r.database.server)
        if r.database.engine is not Engine.NONE and server is not None:
            by_db_node[server.node].append(r)
    for node, mine in sorted(by_db_node.items()):
        _merge(
            nodes,
            node,
            {
                "database_sites": [
                    _database(r, platform.web_nodes[r.web.node].address)
                    for r in mine
                    if r.web.node in platform.web_nodes
                ],
            },
        )

    zone: NodeVars = {
        "dns_zone_name": platform.zone,
        "dns_zone_primary": platform.dns_primary.address,
        "dns_zone_secondaries": [s.address for s in platform.dns_secondaries],
        "dns_zone_static_records": [
            {"name": r.name, "type": r.type, "value": r.value} for r in platform.static_records
        ],
        "dns_zone_records": dns_records(fleet, platform.zone),
        # The secondaries read the TSIG key from this node. With the role below, it comes from
        # here only: the inventories do not set dns_zone_role (the role's default finds the
        # primary through hostvars, which do not hold the per-node variables of a run).
        "dns_zone_primary_host": platform.dns_primary.node,
    }
    # Each DNS node's side of the zone comes from the platform's `opdhost_dns` (the same entry
    # that gives dns_zone_primary and dns_zone_secondaries), never from the inventory: one
    # source, so the addresses and the sides cannot disagree.
    roles = [(platform.dns_primary.node, "primary")]
    roles += [(s.node, "secondary") for s in platform.dns_secondaries]
    # A secondary transfers the records from the primary (NOTIFY, then IXFR): it is given none,
    # so a changed record leaves its variables, and so its node, out of the run (issue 16: a
    # new hosting visits ns1 only; verify still asks every server for the new name).
    transferred: NodeVars = {"dns_zone_static_records": [], "dns_zone_records": []}
    for dns_node, role in roles:
        extra = transferred if role == "secondary" else {}
        _merge(nodes, dns_node, {**zone, **extra, "dns_zone_role": role})
    for node, values in backup_vars(fleet, platform).items():  # roles/backup, when configured
        _merge(nodes, node, values)
    return Rendered(nodes=nodes)
