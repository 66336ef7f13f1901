"""The one writer of request files: `opdhost new`, the tests and the benchmarks all use it.

A request is written in the documented field order, every value either a harmless plain token
(names, dates, IPs) or a JSON-quoted string, never raw YAML; so whatever the caller passes,
the file says exactly that, and the checks decide whether it is acceptable.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from opdhost.fleet.model import Engine, Request, Runtime, Status

NEW_COMMENT = (
    "Written by `opdhost new` from the request letter below; reviewed in its pull request."
)


@dataclass(frozen=True, slots=True)
class NewSite:
    """What the request letter asks for (the options of `opdhost new`)."""

    opd_code: str
    opd_name: str
    contact_name: str
    contact_email: str
    letter_number: str
    letter_date: str
    agenda: str
    site: str
    runtime: Runtime
    engine: Engine
    storage_mb: int
    bandwidth_mbit: int
    db_quota_mb: int = 0
    aliases: tuple[str, ...] = ()
    tls: bool = True
    contact_phone: str | None = None
    node: str | None = None
    ip: str | None = None
    hsts: bool = False
    status: Status = Status.ACTIVE
    db_name: str | None = None
    db_user: str | None = None
    sftp_keys: tuple[str, ...] = ()
    comment: str = NEW_COMMENT
    db_server: str | None = None


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


_PLAIN = re.compile(r"[a-z0-9][a-z0-9.-]*")


def _p(value: str) -> str:
    """Plain when it is a harmless token (names, dates, IPs), else quoted: never raw YAML."""
    return value if _PLAIN.fullmatch(value) else _q(value)


def request_text(
    spec: NewSite, node: str | None = None, ip: str | None = None, db_server: str | None = None
) -> str:
    """The request file, in the documented field order, with a comment naming its origin.

    `node`, `ip` and `db_server` default to the spec's own (placement passes the ones it
    chose). The database server is written whenever there is one, as the web node is: the
    reviewer sees where the data goes, and adding a server later changes no file's meaning.
    """
    node = node or spec.node or ""
    ip = ip or spec.ip or ""
    server = db_server or spec.db_server or ""
    lines = [
        "---",
        *(f"# {line}" for line in spec.comment.splitlines()),
        f"site: {_p(spec.site)}",
        "opd:",
        f"  code: {_p(spec.opd_code)}",
        f"  name: {_q(spec.opd_name)}",
        "  contact:",
        f"    name: {_q(spec.contact_name)}",
        f"    email: {_q(spec.contact_email)}",
    ]
    if spec.contact_phone:
        lines.append(f"    phone: {_q(spec.contact_phone)}")
    lines += [
        "letter:",
        f"  number: {_q(spec.letter_number)}",
        f"  date: {_p(spec.letter_date)}",
        f"  agenda: {_q(spec.agenda)}",
        f"status: {spec.status.value}",
        "web:",
        f"  node: {_p(node)}",
        f"  ip: {_p(ip)}",
        f"  runtime: {spec.runtime.value}",
        f"  storage_mb: {spec.storage_mb}",
        f"  bandwidth_mbit: {spec.bandwidth_mbit}",
    ]
    if spec.aliases:
        lines.append("  aliases:")
        lines += [f"    - {_q(a)}" for a in spec.aliases]
    lines.append(f"  tls: {'true' if spec.tls else 'false'}")
    if spec.hsts:
        lines.append("  hsts: true")
    if spec.sftp_keys:
        lines.append("  sftp_keys:")
        lines += [f"    - {_q(k)}" for k in spec.sftp_keys]
    lines += ["database:", f"  engine: {spec.engine.value}"]
    if spec.engine is not Engine.NONE:
        if server:
            lines.append(f"  server: {_p(server)}")
        if spec.db_name:
            lines.append(f"  name: {_q(spec.db_name)}")
        if spec.db_user:
            lines.append(f"  user: {_q(spec.db_user)}")
        lines.append(f"  quota_mb: {spec.db_quota_mb}")
    return "\n".join(lines) + "\n"


class RewriteError(ValueError):
    """A request file's line does not hold the field where its parser said it is."""


def _set_on_line(lines: list[str], index: int, key: str, old: str, new: str) -> None:
    """Replace `key: old` by `key: new` on one line (block or flow style, quoted or not)."""
    pattern = re.compile(rf"(\b{re.escape(key)}:\s*)([\"']?){re.escape(old)}\2(?=\s*(?:[,}}#]|$))")
    text, count = pattern.subn(lambda m: m.group(1) + _p(new), lines[index], count=1)
    if count != 1:
        raise RewriteError(f"line {index + 1}: no `{key}: {old}` to change")
    lines[index] = text


def moved_text(text: str, req: Request, node: str, ip: str, server: str) -> str:
    """The request file `text` with `web.node`, `web.ip` and `database.server` set: the one
    writer of `opdhost move`. Every other line (comments included) is kept as it is; a file
    that names no server gets a `server:` line after its engine (or `server: X` beside the
    engine in a flow mapping)."""
    lines = text.splitlines(keepends=True)
    if node != req.web.node:
        _set_on_line(lines, req.line("web.node") - 1, "node", req.web.node, node)
    if ip != req.web.ip:
        _set_on_line(lines, req.line("web.ip") - 1, "ip", req.web.ip, ip)
    if server and server != req.database.server:
        engine = req.database.engine.value
        if req.database.server:
            index = req.line("database.server") - 1
            _set_on_line(lines, index, "server", req.database.server, server)
        else:
            index = req.line("database.engine") - 1
            line = lines[index]
            block = re.match(rf"^(\s*)engine:\s*{re.escape(engine)}\s*(#.*)?$", line.rstrip("\n"))
            if block is not None:
                ending = "\n" if line.endswith("\n") else ""
                lines.insert(index + 1, f"{block.group(1)}server: {_p(server)}{ending or chr(10)}")
                if not ending:
                    lines[index] += "\n"
            else:
                _set_on_line(lines, index, "engine", engine, f"{engine}, server: {server}")
    return "".join(lines)
