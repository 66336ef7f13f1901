"""Moves: a hosting that changes web node or database server as a planned change (issue 16).

A change of `web.node` (with a `web.ip` of the new node's pool) and/or of `database.server`
on an active or suspended hosting (suspending first is how an agency's writes are held
during the copy) is a move: its files and database are copied to the new place and
verified there, then DNS and the credentials file switch to it and the old copy is archived
and removed (opdhost.apply.moves carries it through). This module only says what moves,
from where to where, and why a change cannot be a move; it is pure (requests and the
platform in, values out).

The servers compared are the resolved ones (`Platform.db_server`): writing out the server an
old file left out is no move.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from opdhost.errors import Finding
from opdhost.fleet.model import Engine, Request, Status
from opdhost.fleet.platform import Platform

DB_FIELDS = ("database.engine", "database.name", "database.user")
"""What a move never changes in the same change: the copy needs one database on both sides."""


@dataclass(frozen=True, slots=True)
class Move:
    """One hosting's move: where its web and database parts are and where they go.

    `web_to` / `db_to` are empty when that part stays where it is.
    """

    site: str
    web_from: str
    ip_from: str
    web_to: str
    ip_to: str
    db_from: str
    db_to: str
    engine: str

    @property
    def web(self) -> bool:
        """The site changes web node."""
        return bool(self.web_to) and self.web_to != self.web_from

    @property
    def db(self) -> bool:
        """The database changes server."""
        return bool(self.db_to) and self.db_to != self.db_from

    def describe(self) -> str:
        """`web1 -> web2 (10.203.0.100 -> 10.203.0.200), db1 -> db2` for plans and records."""
        parts = []
        if self.web:
            parts.append(f"{self.web_from} -> {self.web_to} ({self.ip_from} -> {self.ip_to})")
        if self.db:
            parts.append(f"{self.engine} {self.db_from} -> {self.db_to}")
        return "move " + ", ".join(parts)

    def as_dict(self) -> dict[str, object]:
        """JSON form (plans, run records, the applied state)."""
        return {
            "site": self.site,
            "web": {"from": self.web_from, "to": self.web_to if self.web else self.web_from},
            "ip": {"from": self.ip_from, "to": self.ip_to},
            "database": {
                "engine": self.engine,
                "from": self.db_from,
                "to": self.db_to if self.db else self.db_from,
            },
        }


def _server(req: Request, platform: Platform | None) -> str:
    """The node holding the request's database: resolved on the platform when given, else as
    written ("" for engine none or a server left out)."""
    if req.database.engine is Engine.NONE:
        return ""
    if platform is not None:
        server = platform.db_server(req.database.engine.value, req.database.server)
        if server is not None:
            return server.node
    return req.database.server


def is_move(old: Request, new: Request, platform: Platform | None = None) -> bool:
    """True when `new` puts an existing hosting on another web node or database server.

    Without a platform the servers are compared as written, and a server only one side names
    is no move (the check with the platform decides: `move_findings`).
    """
    if old.status is Status.DECOMMISSIONED or new.status is Status.DECOMMISSIONED:
        return False
    if old.web.node != new.web.node:
        return True
    if old.database.engine is not new.database.engine or new.database.engine is Engine.NONE:
        return False
    was, now = _server(old, platform), _server(new, platform)
    return bool(was) and bool(now) and was != now


def move_of(old: Request, new: Request, platform: Platform | None = None) -> Move | None:
    """The move from `old` to `new` (None when it is no move)."""
    if not is_move(old, new, platform):
        return None
    was, now = _server(old, platform), _server(new, platform)
    return Move(
        site=new.site,
        web_from=old.web.node,
        ip_from=old.web.ip,
        web_to=new.web.node,
        ip_to=new.web.ip,
        db_from=was,
        db_to=now if new.database.engine is old.database.engine else was,
        engine=new.database.engine.value,
    )


def moves(
    base: Mapping[str, Request], new: Mapping[str, Request], platform: Platform | None = None
) -> dict[str, Move]:
    """Every move between two states, by site."""
    out: dict[str, Move] = {}
    for site, req in sorted(new.items()):
        old = base.get(site)
        if old is None:
            continue
        move = move_of(old, req, platform)
        if move is not None:
            out[site] = move
    return out


def move_findings(
    base: Mapping[str, Request], new: Mapping[str, Request], platform: Platform
) -> list[Finding]:
    """Why a change of web node or database server cannot be carried out as a move.

    - the base state names no server among several: where the data is cannot be told;
    - a move with a status change, or with a database engine, name or user change, in the
      same change (the copy needs the same live hosting on both sides; one thing at a time);
    - another request taking the old IP of a moving site in the same change (the old place
      keeps serving on it until the move switches).
    The new node, server, IP and capacity are checked like any request's (platform_findings,
    uniqueness_findings, capacity_findings).
    """
    found: list[Finding] = []

    def add(req: Request, field: str, message: str) -> None:
        found.append(Finding(req.path, req.line(field), field, message))

    held: dict[str, str] = {}  # old IPs of moving sites -> site
    for site, req in new.items():
        old = base.get(site)
        if old is None or old.status is Status.DECOMMISSIONED:
            continue
        db = req.database
        if db.engine is not Engine.NONE and old.database.engine is db.engine:
            engine = db.engine.value
            was = platform.db_server(engine, old.database.server)
            now = platform.db_server(engine, db.server)
            if now is not None and was is None and not old.database.server:
                add(
                    req,
                    "database.server",
                    f"the base state does not name this database's server and the platform "
                    f"lists {len(platform.db_servers.get(engine, ()))} {engine} servers, so "
                    "where its data is cannot be told: name the server in a change of its own "
                    f"while {engine} has one server, then add the others",
                )
                continue
        web_moves = old.web.node != req.web.node
        db_moves = (
            db.engine is old.database.engine
            and db.engine is not Engine.NONE
            and bool(_server(old, platform))
            and bool(_server(req, platform))
            and _server(old, platform) != _server(req, platform)
        )
        if not (web_moves or db_moves):
            continue
        field = "web.node" if web_moves else "database.server"
        what = "web node" if web_moves else "database server"
        if req.status is not old.status:
            if req.status is Status.DECOMMISSIONED:
                add(
                    req,
                    field,
                    f"a decommissioned hosting does not move: keep its {what} "
                    f"({old.web.node if web_moves else _server(old, platform)!r}) and set "
                    "status: decommissioned alone",
                )
            else:
                add(
                    req,
                    field,
                    f"a move ({what} changed) cannot be combined with a status change "
                    f"({old.status.value} -> {req.status.value}) in the same change: "
                    "change one, apply, then the other",
                )
            continue
        was_fields, now_fields = old.desired(), req.desired()
        changed = [f for f in DB_FIELDS if was_fields[f] != now_fields[f]]
        if changed:
            add(
                req,
                field,
                f"a move ({what} changed) cannot be combined with a change of "
                f"{', '.join(changed)} in the same change: the copy needs the same database "
                "on both sides",
            )
            continue
        if web_moves and req.web.ip == old.web.ip:
            add(
                req,
                "web.ip",
                f"a site moving to {req.web.node} needs an IP of {req.web.node}'s pool: "
                f"{old.web.ip} stays with {old.web.node} until the move switches "
                "(`opdhost move` picks a free one)",
            )
        if web_moves:
            held[old.web.ip] = site
    for site, req in new.items():
        owner = held.get(req.web.ip)
        if owner is not None and owner != site:
            old = base.get(site)
            if old is None or old.web.ip != req.web.ip:
                add(
                    req,
                    "web.ip",
                    f"{req.web.ip} is still served by {owner!r} until its move switches to "
                    "the new node: take another address (apply the move first)",
                )
    return found
