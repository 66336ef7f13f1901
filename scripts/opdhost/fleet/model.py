"""The typed model of a hosting request, built only from a schema-valid document.

`parse_request` is the one door from a file to a `Request`: load (yamlload) -> schema
(schema) -> the rules JSON schema cannot say (path matches names, real calendar dates,
reserved database names) -> frozen dataclasses. Checks that need other files or the platform
live in `checks`.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import sys
from dataclasses import dataclass, field
from typing import Any

from opdhost.errors import Finding
from opdhost.fleet import names, sshkeys
from opdhost.fleet.schema import REQUEST_SCHEMA, check
from opdhost.fleet.yamlload import Document, load_document


class Status(enum.StrEnum):
    """Life cycle of a hosting; it leaves only through DECOMMISSIONED."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    DECOMMISSIONED = "decommissioned"


class Runtime(enum.StrEnum):
    """What the vhost runs."""

    PHP = "php"
    STATIC = "static"


class Engine(enum.StrEnum):
    """Database engine of a site."""

    MARIADB = "mariadb"
    POSTGRESQL = "postgresql"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Contact:
    """The agency's technical contact."""

    name: str
    email: str
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Opd:
    """The requesting agency."""

    code: str
    name: str
    contact: Contact


@dataclass(frozen=True, slots=True)
class Letter:
    """The request letter (SOP steps 1-2)."""

    number: str
    date: str
    agenda: str


@dataclass(frozen=True, slots=True)
class Web:
    """The virtual host of a site."""

    node: str
    ip: str
    runtime: Runtime
    storage_mb: int
    bandwidth_mbit: int
    aliases: tuple[str, ...] = ()
    tls: bool = True
    hsts: bool = False
    # The agency's SSH public keys as written (checked by fleet.sshkeys in the semantic checks)
    sftp_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Database:
    """The site's database; `engine is Engine.NONE` means none (name and user are empty).

    `server` is the node the database is on, as written (`database.server`); "" when the file
    leaves it out, which the platform accepts while the engine has one server
    (`Platform.db_server` resolves it; the model knows no platform).
    """

    engine: Engine
    name: str = ""
    user: str = ""
    quota_mb: int = 0
    server: str = ""


# Fields whose lines cross-file checks and plans point at; the rest are not kept (memory).
_KEPT_LINES = (
    "site",
    "opd.code",
    "status",
    "web",
    "web.node",
    "web.ip",
    "web.runtime",
    "web.storage_mb",
    "web.bandwidth_mbit",
    "web.aliases",
    "web.tls",
    "web.hsts",
    "web.sftp_keys",
    "database",
    "database.engine",
    "database.server",
    "database.name",
    "database.user",
    "database.quota_mb",
)


@dataclass(frozen=True, slots=True)
class Request:
    """One hosting request file, valid on its own."""

    site: str
    opd: Opd
    letter: Letter
    status: Status
    web: Web
    database: Database
    path: str = ""
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def line(self, name: str) -> int:
        """Line of a field in the file (its parent's, or 1, when not kept)."""
        while name:
            found = self.lines.get(name)
            if found is not None:
                return found
            cut = max(name.rfind("."), name.rfind("["))
            name = name[:cut] if cut > 0 else ""
        return 1

    @property
    def user(self) -> str:
        """The Unix user owning the site's files."""
        return names.system_user(self.site)

    def fqdn(self, zone: str) -> str:
        """The site's host name in `zone`."""
        return names.fqdn(self.site, zone)

    def desired(self) -> dict[str, object]:
        """The fields a plan compares, flattened (`web.ip` -> value); no contact details."""
        web = self.web
        db = self.database
        return {
            "status": self.status.value,
            "web.node": web.node,
            "web.ip": web.ip,
            "web.runtime": web.runtime.value,
            "web.storage_mb": web.storage_mb,
            "web.bandwidth_mbit": web.bandwidth_mbit,
            "web.aliases": list(web.aliases),
            "web.tls": web.tls,
            "web.hsts": web.hsts,
            "web.sftp_keys": [sshkeys.fingerprint(k) for k in web.sftp_keys],
            "database.engine": db.engine.value,
            # as written: adding the server an old file left out shows in the plan (and changes
            # nothing on the hosts); a different server is a move (fleet.moves)
            "database.server": db.server or None,
            "database.name": db.name or None,
            "database.user": db.user or None,
            "database.quota_mb": db.quota_mb or None,
        }


def expected_path(opd: str, site: str) -> str:
    """Where a request must live, relative to the repository root."""
    return f"requests/{opd}/{site}.yaml"


def _location_findings(req: Request, doc: Document) -> list[Finding]:
    """`requests/<opd>/<site>.yaml`: the path names the request, so it must agree with it."""
    found: list[Finding] = []
    parts = req.path.split("/")
    if len(parts) < 2 or not parts[-1].endswith(".yaml"):
        return found
    stem = parts[-1][: -len(".yaml")]
    if stem != req.site:
        found.append(
            Finding(
                req.path,
                doc.line("site"),
                "site",
                f"{req.site!r} differs from the file "
                f"name (expected {expected_path(req.opd.code, req.site)})",
            )
        )
    if parts[-2] != req.opd.code:
        found.append(
            Finding(
                req.path,
                doc.line("opd.code"),
                "opd.code",
                f"{req.opd.code!r} differs "
                f"from the directory {parts[-2]!r} (expected "
                f"{expected_path(req.opd.code, req.site)})",
            )
        )
    return found


def _key_findings(req: Request, doc: Document) -> list[Finding]:
    """Each `web.sftp_keys` entry is one real key the office accepts, and none twice."""
    found: list[Finding] = []  # how many: the schema (maxItems)
    seen: dict[str, int] = {}
    for index, text in enumerate(req.web.sftp_keys):
        field_name = f"web.sftp_keys[{index}]"
        try:
            key = sshkeys.parse(text)
        except sshkeys.BadKeyError as exc:
            found.append(
                Finding(
                    req.path,
                    doc.line(field_name),
                    field_name,
                    f"{exc}; allowed: {sshkeys.ALLOWED}",
                )
            )
            continue
        if key.line in seen:
            found.append(
                Finding(
                    req.path,
                    doc.line(field_name),
                    field_name,
                    f"the same key as web.sftp_keys[{seen[key.line]}] ({key.fingerprint})",
                )
            )
        seen.setdefault(key.line, index)
    return found


def _semantic_findings(req: Request, doc: Document) -> list[Finding]:
    """Rules the JSON schema cannot express."""
    found = _location_findings(req, doc)
    try:
        dt.date.fromisoformat(req.letter.date)
    except ValueError:
        found.append(
            Finding(
                req.path,
                doc.line("letter.date"),
                "letter.date",
                f"{req.letter.date!r} is not a real calendar date",
            )
        )
    if req.web.hsts and not req.web.tls:
        found.append(
            Finding(
                req.path,
                doc.line("web.hsts"),
                "web.hsts",
                "needs tls: true (HSTS tells browsers to use HTTPS only)",
            )
        )
    found.extend(_key_findings(req, doc))
    db = req.database
    if db.engine is not Engine.NONE:
        why = names.reserved_db_name(db.name)
        if why is not None:
            found.append(
                Finding(
                    req.path,
                    doc.line("database.name"),
                    "database.name",
                    f"{db.name!r} is {why}: choose another name",
                )
            )
        why = names.reserved_db_name(db.user)
        if why is None and db.user in names.RESERVED_DB_USERS:
            why = "an administrative database account"
        if why is not None:
            found.append(
                Finding(
                    req.path,
                    doc.line("database.user"),
                    "database.user",
                    f"{db.user!r} is {why}: choose another user name",
                )
            )
    if req.site in names.RESERVED_SITES:
        found.append(
            Finding(
                req.path, doc.line("site"), "site", f"{req.site!r} is reserved for the platform"
            )
        )
    return found


@functools.lru_cache(maxsize=4096)
def _opd(code: str, name: str, contact: str, email: str, phone: str | None) -> Opd:
    """One shared Opd per agency: hundreds of sites of one OPD hold one object (memory)."""
    return Opd(sys.intern(code), name, Contact(contact, email, phone))


def _build(doc: Document) -> Request:
    """Dataclasses from a schema-valid document (so every key and type is known good)."""
    v: dict[str, Any] = doc.value  # type: ignore[assignment]
    opd = v["opd"]
    contact = opd["contact"]
    letter = v["letter"]
    web = v["web"]
    db = v["database"]
    engine = Engine(db["engine"])
    site: str = v["site"]
    if engine is Engine.NONE:
        database = Database(Engine.NONE)
    else:
        db_name = db.get("name") or names.default_db_name(site)
        database = Database(
            engine,
            db_name,
            db.get("user") or db_name,
            int(db["quota_mb"]),
            sys.intern(db.get("server", "")),
        )
    lines = {sys.intern(k): doc.lines[k] for k in _KEPT_LINES if k in doc.lines}
    for listed in ("aliases", "sftp_keys"):
        for index in range(len(web.get(listed, ()))):
            key = f"web.{listed}[{index}]"
            lines[key] = doc.lines.get(key, lines.get(f"web.{listed}", 1))
    return Request(
        site=site,
        opd=_opd(opd["code"], opd["name"], contact["name"], contact["email"], contact.get("phone")),
        letter=Letter(letter["number"], sys.intern(letter["date"]), letter["agenda"]),
        status=Status(v["status"]),
        web=Web(
            node=sys.intern(web["node"]),
            ip=web["ip"],
            runtime=Runtime(web["runtime"]),
            storage_mb=int(web["storage_mb"]),  # the schema allows 2048.0: store 2048
            bandwidth_mbit=int(web["bandwidth_mbit"]),
            aliases=tuple(web.get("aliases", ())),
            tls=web.get("tls", True),
            hsts=web.get("hsts", False),
            sftp_keys=tuple(web.get("sftp_keys", ())),
        ),
        database=database,
        path=doc.path,
        lines=lines,
    )


def request_from_document(doc: Document) -> tuple[Request | None, list[Finding]]:
    """Schema-check a loaded document and build the request; None with findings if invalid."""
    if not isinstance(doc.value, dict):
        return None, [
            Finding(
                doc.path,
                doc.line(""),
                "(document)",
                "expected a mapping of request fields at the top level",
            )
        ]
    found = check(doc, REQUEST_SCHEMA)
    if found:
        return None, found
    req = _build(doc)
    found = _semantic_findings(req, doc)
    return (None, found) if found else (req, [])


def parse_request(data: bytes, path: str) -> tuple[Request | None, list[Finding]]:
    """Bytes of one request file -> the request, or None with every finding in the file."""
    doc, found = load_document(data, path)
    if doc is None:
        return None, found
    return request_from_document(doc)
