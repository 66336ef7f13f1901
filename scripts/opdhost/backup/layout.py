"""Which node holds which part of a hosting, as the backups see it.

One answer for both sides: the role variables rendered for each web and database node
(`backup_vars`, called by opdhost.apply.render) and the CLI's choice of the node to ask for a
site's files or database (`parts`) come from the same function, so the node that backs up a
site's database is the node a restore of it goes to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from opdhost.backup import BackupError
from opdhost.fleet.model import Engine, Request, Status
from opdhost.fleet.platform import Platform

WWW_ROOT = "/srv/www"  # docs/contracts.md: a site's home is /srv/www/<site>
FILES, DATABASE = "files", "database"
KINDS = (FILES, DATABASE)


@dataclass(frozen=True, slots=True)
class Part:
    """One backed-up part of a site: its files on a web node or its database on a db node."""

    site: str
    kind: str  # files | database
    node: str
    path: str = ""
    engine: str = ""
    name: str = ""
    user: str = ""

    def role_entry(self) -> dict[str, object]:
        """The entry of `backup_sites` (docs/contracts.md)."""
        if self.kind == FILES:
            return {"site": self.site, "kind": FILES, "path": self.path}
        return {
            "site": self.site,
            "kind": DATABASE,
            "engine": self.engine,
            "name": self.name,
            "user": self.user,
        }


def parts(req: Request, platform: Platform) -> list[Part]:
    """What is backed up of one site (nothing once it is decommissioned: its archive is)."""
    if req.status is Status.DECOMMISSIONED:
        return []
    found = []
    if req.web.node in platform.web_nodes:
        found.append(Part(req.site, FILES, req.web.node, path=f"{WWW_ROOT}/{req.site}"))
    server = platform.db_server(req.database.engine.value, req.database.server)
    if req.database.engine is not Engine.NONE and server is not None:
        found.append(
            Part(
                req.site,
                DATABASE,
                server.node,
                engine=req.database.engine.value,
                name=req.database.name,
                user=req.database.user,
            )
        )
    return found


def source_nodes(platform: Platform) -> list[str]:
    """Every node that backs something up: the web nodes and the database nodes."""
    nodes = set(platform.web_nodes) | set(platform.db_nodes())
    return sorted(nodes)


def backup_vars(requests: Iterable[Request], platform: Platform) -> dict[str, dict[str, object]]:
    """roles/backup's variables for every web and database node ({} without opdhost_backup)."""
    settings = platform.backup
    if settings is None:
        return {}
    by_node: dict[str, list[dict[str, object]]] = {n: [] for n in source_nodes(platform)}
    for req in sorted(requests, key=lambda r: r.site):
        for part in parts(req, platform):
            by_node[part.node].append(part.role_entry())
    common: dict[str, object] = {
        "backup_target_host": settings.node,
        "backup_target_address": settings.address,
        "backup_target_dir": settings.directory,
        "backup_on_calendar": settings.on_calendar,
        "backup_keep_daily": settings.keep_daily,
        "backup_keep_weekly": settings.keep_weekly,
        "backup_keep_monthly": settings.keep_monthly,
    }
    return {node: {**common, "backup_sites": sites} for node, sites in by_node.items()}


def site_parts(requests: Iterable[Request], platform: Platform, site: str) -> list[Part]:
    """What is backed up of `site`; BackupError naming the sites there are when it is unknown."""
    by_site = {r.site: r for r in requests}
    req = by_site.get(site)
    if req is None:
        known = ", ".join(sorted(by_site)) or "none"
        raise BackupError(
            f"unknown site {site!r}: the sites with a request are {known}",
            hint="the site is the file name of requests/<opd>/<site>.yaml",
        )
    found = parts(req, platform)
    if not found:
        raise BackupError(
            f"site {site!r} is decommissioned: it is no longer backed up; its archive is "
            "kept with the node's decommission archives (docs/backups.md)"
        )
    return found


def chosen(found: list[Part], files: bool, database: bool, site: str) -> list[Part]:
    """The parts `--files` / `--database` ask for (both when neither is given)."""
    kinds = {FILES} if files and not database else {DATABASE} if database and not files else None
    picked = [p for p in found if kinds is None or p.kind in kinds]
    if not picked:
        raise BackupError(f"site {site!r} has no database (engine: none): nothing to restore")
    return picked


def archive_parts(
    requests: Iterable[Request], platform: Platform, old: str, new: str
) -> list[tuple[Part, str]]:
    """(part of `new`, database user of `old`) for restoring decommissioned `old` into `new`.

    `old` must be decommissioned and `new` not; a part is restored only where both sites have
    it on the same node (the archive is on the node that held the old site), databases only
    of the same engine.
    """
    by_site = {r.site: r for r in requests}
    before = by_site.get(old)
    if before is None or before.status is not Status.DECOMMISSIONED:
        raise BackupError(
            f"--from-archive {old!r}: not a decommissioned site of this repository",
            hint="the site whose request says status: decommissioned",
        )
    was = {
        p.kind: p
        for p in parts(replace(before, status=Status.ACTIVE), platform)  # where it was
    }
    found = []
    for part in site_parts(by_site.values(), platform, new):
        old_part = was.get(part.kind)
        if old_part is not None and old_part.node == part.node and old_part.engine == part.engine:
            found.append((part, old_part.user))
    if not found:
        raise BackupError(
            f"{old!r} and {new!r} share no node (and engine): the archive cannot be restored there"
        )
    return found
