"""Moves through apply (issue 16, docs/moves.md): the variables of each phase, the copy run,
and the move's progress in the applied state.

A move (opdhost.fleet.moves) is carried by one `opdhost apply` in three Ansible runs:

1. prepare: the site present at its new place (new IP, new database server, its account,
   vhost, certificate, empty database, a credentials file naming the new server on a new web
   node) while the old place keeps serving exactly as before (old IP, DNS on the old IP; on a
   database-only move the credentials file keeps the old server; on a web-only move the
   server lets the site's user in from both web nodes);
2. copy (playbooks/move.yml): files and database copied through the controller and verified
   (manifests; per-table rows and checksums). Only once it verified is the move recorded in
   the applied state as `copied` (with when, from, to and what was copied);
3. switch: the normal variables (DNS on the new IP, the credentials file naming the new
   server) plus the old place rendered as decommissioned, so the roles' own decommission
   archives the old home (tar.gz + sha256) and dumps then drops the old database.

A re-run after an interruption resumes from the applied state: a move recorded `copied` is
never copied again (the agency may already write at the new place once DNS switched); one
that is not was never switched, so its copy starts over from a cleared destination.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opdhost.apply.records import AppliedState
from opdhost.apply.render import Rendered, _bandwidth, _database, _vhost, render
from opdhost.backup.layout import backup_vars
from opdhost.errors import OpdhostError
from opdhost.fleet.model import Engine, Request, Status
from opdhost.fleet.moves import Move
from opdhost.fleet.platform import Platform

PREPARE = "prepare"
SWITCH = "switch"
COPIED = "copied"
NODE_DIR = "/var/lib/opdhost/move"
"""Where archives and dumps wait on a node during the copy: root-only, removed after."""


class MoveStateError(OpdhostError):
    """The applied state records a move in progress that the requests no longer describe."""


def check_progress(state: AppliedState, moving: Mapping[str, Move]) -> None:
    """Refuse to plan past a move that was copied (and may be switched) but is not finished,
    when the requests now say something else: its old copy still exists, DNS may already
    point at the new one, and the agency may be writing there."""
    for site, entry in sorted(state.moves.items()):
        recorded = entry.get("move")
        now = moving.get(site)
        if now is not None and now.as_dict() == recorded:
            continue
        where = recorded.get("web", {}) if isinstance(recorded, dict) else {}
        db = recorded.get("database", {}) if isinstance(recorded, dict) else {}
        raise MoveStateError(
            f"the move of {site} ({where.get('from')} -> {where.get('to')}, database "
            f"{db.get('from')} -> {db.get('to')}) was copied at {entry.get('at')} and is not "
            "finished, but the requests now say otherwise: put the request back to that move "
            "and apply to finish it (then move again if needed)",
            hint="a copied move is never copied again: its new place may already serve",
        )


def phase_vars(
    requests: list[Request],
    base: Mapping[str, Request],
    moving: Mapping[str, Move],
    phases: Mapping[str, str],
    platform: Platform,
) -> Rendered:
    """Every node's variables with each moving site in its phase (`prepare` or `switch`)."""
    fleet = [
        base[r.site] if r.site in moving and phases.get(r.site) == PREPARE else r for r in requests
    ]
    rendered = render(fleet, platform)
    nodes = rendered.nodes
    current = {r.site: r for r in requests}
    for site, move in sorted(moving.items()):
        old, new = base[site], current[site]
        if phases.get(site) == PREPARE:
            _prepare(nodes, old, new, move, platform)
        else:
            _switch(nodes, old, move, platform)
    return rendered


def _append(nodes: dict[str, dict[str, object]], node: str, key: str, entry: object) -> None:
    """Add a site's entry where the normal render would put it (lists are sorted by site), so
    a node whose variables end as the normal render's is not visited again by the switch."""
    values = nodes.setdefault(node, {})
    entries = list(values.get(key) or [])  # type: ignore[call-overload]
    entries.append(entry)
    values[key] = sorted(entries, key=lambda e: str(e["site"]))


def _prepare(
    nodes: dict[str, dict[str, object]], old: Request, new: Request, move: Move, p: Platform
) -> None:
    """The site also at its new place (the old place is the base request's render)."""
    if move.web:
        _append(nodes, move.web_to, "apache_vhost_sites", _vhost(new, p))
        _append(nodes, move.web_to, "bandwidth_sites", _bandwidth(new))
    new_web = p.web_nodes[new.web.node].address
    if move.db:
        _append(nodes, move.db_to, "database_sites", _database(new, new_web))
    elif move.web and new.database.engine is not Engine.NONE and move.db_from:
        for entry in nodes.get(move.db_from, {}).get("database_sites") or []:  # type: ignore[attr-defined]
            if entry["site"] == new.site:
                entry["client_hosts"] = sorted({*entry["client_hosts"], new_web})
    # backed up at the new place from the start (and at the old one until the switch)
    targets = {move.web_to if move.web else "", move.db_to if move.db else ""} - {""}
    for node, values in backup_vars([new], p).items():
        if node in targets:
            for entry in values["backup_sites"]:  # type: ignore[attr-defined]
                _append(nodes, node, "backup_sites", entry)


def _switch(nodes: dict[str, dict[str, object]], old: Request, move: Move, p: Platform) -> None:
    """The normal render, and the old place decommissioned (archived, then removed)."""
    gone = dataclasses.replace(old, status=Status.DECOMMISSIONED)
    if move.web:
        _append(nodes, move.web_from, "apache_vhost_sites", _vhost(gone, p))
        _append(nodes, move.web_from, "bandwidth_sites", _bandwidth(gone))
    if move.db:
        old_web = p.web_nodes[old.web.node].address
        _append(nodes, move.db_from, "database_sites", _database(gone, old_web))


def copy_vars(
    moving: Mapping[str, Move], requests: list[Request], transfer_dir: Path
) -> dict[str, Any]:
    """Extra variables of playbooks/move.yml for the moves to copy."""
    current = {r.site: r for r in requests}
    entries = []
    for site, move in sorted(moving.items()):
        db = current[site].database
        entries.append(
            {
                "site": site,
                "web": move.web,
                "web_from": move.web_from,
                "web_to": move.web_to,
                "db": move.db,
                "db_from": move.db_from,
                "db_to": move.db_to,
                "engine": move.engine,
                "db_name": db.name,
                "db_user": db.user,
            }
        )
    return {
        "opdhost_moves": entries,
        "opdhost_move_dir": str(transfer_dir),
        "opdhost_move_node_dir": NODE_DIR,
    }


def copy_nodes(moving: Mapping[str, Move]) -> list[str]:
    """The nodes the copy run visits: each moving part's old and new node."""
    out: set[str] = set()
    for move in moving.values():
        if move.web:
            out |= {move.web_from, move.web_to}
        if move.db:
            out |= {move.db_from, move.db_to}
    return sorted(out)


def copy_report(artifact_dir: Path) -> dict[str, dict[str, Any]]:
    """What the copy run's report tasks said per site: {'files': {...}, 'database': {...}}."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((artifact_dir / "job_events").glob("*.json")):
        try:
            event = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if event.get("event") not in ("runner_item_on_ok", "runner_on_ok"):
            continue
        msg = ((event.get("event_data") or {}).get("res") or {}).get("msg")
        if not isinstance(msg, str) or '"opdhost_move"' not in msg:
            continue
        try:
            data = json.loads(msg)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("site"):
            kind = str(data.pop("opdhost_move"))
            out.setdefault(str(data.pop("site")), {})[kind] = data
    return out
