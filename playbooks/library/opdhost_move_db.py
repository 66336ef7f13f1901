#!/usr/bin/python
"""Copy one site's database for a move (issue 16): dump on the source server, load on the
destination, and a per-table row count and checksum on either side to compare.

MariaDB as root through its socket (unix_socket authentication): `mariadb-dump
--single-transaction` (tables, views, triggers; no CREATE DATABASE, no users or grants), loaded
with `mariadb` into the site's database; checksum `CHECKSUM TABLE` per base table.
PostgreSQL as `postgres` through its socket: `pg_dump --no-owner --no-privileges`, loaded by
`psql --single-transaction -v ON_ERROR_STOP=1` after `SET ROLE <site user>`, so every object
belongs to the site's own role on the destination; checksum md5 over the table's rows in
order (`string_agg(row::text ORDER BY row::text)`).

Names: the database and user are strict SQL identifiers (the request's checks, checked again
here); table names come from the catalog and are quoted as identifiers, never pasted. The
import first drops what a previous, unfinished copy left in the destination database, and
refuses a destination database that does not belong to the site's user (so a move can never
load into, or empty, another site's database). The dump file is root-only (0600).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]  # no stubs

try:
    import psycopg2  # type: ignore[import-untyped]  # no stubs installed
    import pymysql  # type: ignore[import-untyped]  # no stubs installed

    DRIVER_ERROR = ""
except ImportError as error:
    DRIVER_ERROR = str(error)

DOCUMENTATION = r"""
module: opdhost_move_db
short_description: Dump, load and checksum one site's database for a move
options:
  op: {description: export, import or checksum, type: str, required: true,
       choices: [export, import, checksum]}
  engine: {description: mariadb or postgresql, type: str, required: true,
           choices: [mariadb, postgresql]}
  name: {description: the database, type: str, required: true}
  user: {description: the site's database user, type: str, required: true}
  dump: {description: the dump file (root, 0600), type: path}
  mariadb_socket: {description: MariaDB's socket, type: path, default: /run/mysqld/mysqld.sock}
  postgresql_socket_dir: {description: PostgreSQL's socket directory, type: path,
                          default: /run/postgresql}
"""

RETURN = r"""
tables: {description: "table -> {rows, checksum}", type: dict}
rows: {description: rows over all tables, type: int}
bytes: {description: size of the dump file (export), type: int}
"""

IDENT = re.compile(r"[a-z][a-z0-9_]{0,30}\Z")


class MoveError(Exception):
    """A refusal, with the reason for the operator."""


def _private_dir(path: str) -> None:
    """The directory of archives and dumps: made root-only, and refused unless it is a real
    directory of root's that nobody else can write (never /tmp or a link)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
        raise MoveError(f"{path} is not a root-only directory")


def _mq(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _mariadb(sock: str, db: str | None = None) -> Any:
    return pymysql.connect(unix_socket=sock, user="root", database=db, charset="utf8mb4")


def _pg(sockdir: str, db: str) -> Any:
    return psycopg2.connect(host=sockdir, user="postgres", dbname=db)


def checksum(p: dict[str, Any]) -> dict[str, Any]:
    """Per base table: rows and a checksum, from the server's own catalog."""
    tables: dict[str, dict[str, Any]] = {}
    if p["engine"] == "mariadb":
        conn = _mariadb(p["mariadb_socket"])
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                    "AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
                    (p["name"],),
                )
                names = [r[0] for r in cur.fetchall()]
                for t in names:
                    full = f"{_mq(p['name'])}.{_mq(t)}"
                    cur.execute(f"SELECT COUNT(*) FROM {full}")
                    rows = int(cur.fetchone()[0])
                    cur.execute(f"CHECKSUM TABLE {full} EXTENDED")
                    tables[t] = {"rows": rows, "checksum": str(cur.fetchone()[1])}
        finally:
            conn.close()
    else:
        from psycopg2 import sql  # noqa: PLC0415 - with the driver  # type: ignore[import-untyped]

        conn = _pg(p["postgresql_socket_dir"], p["name"])
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname "
                    "NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE "
                    "'pg\\_toast%%' ORDER BY 1, 2"
                )
                for schema, table in cur.fetchall():
                    query = sql.SQL(
                        "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' "
                        "ORDER BY t::text), '')) FROM {}.{} t"
                    ).format(sql.Identifier(schema), sql.Identifier(table))
                    cur.execute(query)
                    rows, digest = cur.fetchone()
                    tables[f"{schema}.{table}"] = {"rows": int(rows), "checksum": digest}
        finally:
            conn.close()
    return {"tables": tables, "rows": sum(t["rows"] for t in tables.values())}


def _owner_check(p: dict[str, Any]) -> None:
    """The destination database must exist and be the site user's."""
    if p["engine"] == "mariadb":
        conn = _mariadb(p["mariadb_socket"])
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                    (p["name"],),
                )
                if not cur.fetchone()[0]:
                    raise MoveError(f"no database {p['name']} here: prepare the site first")
                cur.execute(
                    "SELECT COUNT(*) FROM mysql.db WHERE User = %s AND Db = %s",
                    (p["user"], p["name"].replace("_", "\\_")),
                )
                if not cur.fetchone()[0]:
                    raise MoveError(f"database {p['name']} is not granted to {p['user']} here")
        finally:
            conn.close()
    else:
        conn = _pg(p["postgresql_socket_dir"], "postgres")
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                    (p["name"],),
                )
                row = cur.fetchone()
                if row is None:
                    raise MoveError(f"no database {p['name']} here: prepare the site first")
                if row[0] != p["user"]:
                    raise MoveError(f"database {p['name']} belongs to {row[0]}, not {p['user']}")
        finally:
            conn.close()


def _clear(p: dict[str, Any]) -> None:
    """Empty the destination database (what an unfinished earlier copy left)."""
    if p["engine"] == "mariadb":
        conn = _mariadb(p["mariadb_socket"], p["name"])
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = %s",
                    (p["name"],),
                )
                found = cur.fetchall()
                cur.execute("SET FOREIGN_KEY_CHECKS = 0")
                for name, kind in found:
                    what = "VIEW" if kind == "VIEW" else "TABLE"
                    cur.execute(f"DROP {what} IF EXISTS {_mq(p['name'])}.{_mq(name)}")
            conn.commit()
        finally:
            conn.close()
    else:
        from psycopg2 import sql  # noqa: PLC0415  # type: ignore[import-untyped]

        conn = _pg(p["postgresql_socket_dir"], p["name"])
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%%' "
                    "AND nspname <> 'information_schema'"
                )
                for (schema,) in cur.fetchall():
                    cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
                cur.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
                cur.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
            conn.commit()
        finally:
            conn.close()


def _run(argv: list[str], stdin: Any, stdout: Any) -> None:
    done = subprocess.run(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise MoveError(f"{argv[0]} failed: {why[-1] if why else done.returncode}")


def export(p: dict[str, Any]) -> dict[str, Any]:
    dump = p["dump"]
    _private_dir(os.path.dirname(dump))
    if os.path.lexists(dump):
        os.unlink(dump)
    fd = os.open(dump, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        if p["engine"] == "mariadb":
            argv = [
                "mariadb-dump",
                f"--socket={p['mariadb_socket']}",
                "--user=root",
                "--single-transaction",
                "--skip-lock-tables",
                "--triggers",
                "--default-character-set=utf8mb4",
                "--",
                p["name"],
            ]
        else:
            argv = ["pg_dump", "-h", p["postgresql_socket_dir"], "-U", "postgres",
                    "--no-owner", "--no-privileges", "--format=plain", "--", p["name"]]  # fmt: skip
        _run(argv, subprocess.DEVNULL, out)
    return {**checksum(p), "bytes": os.path.getsize(dump)}


def import_(p: dict[str, Any]) -> dict[str, Any]:
    _owner_check(p)
    _clear(p)
    with open(p["dump"], "rb") as dump:
        if p["engine"] == "mariadb":
            argv = [
                "mariadb",
                f"--socket={p['mariadb_socket']}",
                "--user=root",
                "--default-character-set=utf8mb4",
                "--",
                p["name"],
            ]
            _run(argv, dump, subprocess.DEVNULL)
        else:
            argv = [
                "psql",
                "-X",
                "-q",
                "-h",
                p["postgresql_socket_dir"],
                "-U",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                "-d",
                p["name"],
                "-f",
                "-",
            ]
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            assert proc.stdin is not None and proc.stderr is not None
            try:
                proc.stdin.write(f'SET ROLE "{p["user"]}";\n'.encode())
                while chunk := dump.read(1 << 20):
                    proc.stdin.write(chunk)
                proc.stdin.close()
            except BrokenPipeError:
                pass
            err = proc.stderr.read().decode("utf-8", "replace").strip().splitlines()
            if proc.wait() != 0:
                raise MoveError(f"psql failed: {err[-1] if err else proc.returncode}")
    return checksum(p)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "op": {"type": "str", "required": True, "choices": ["export", "import", "checksum"]},
            "engine": {"type": "str", "required": True, "choices": ["mariadb", "postgresql"]},
            "name": {"type": "str", "required": True},
            "user": {"type": "str", "required": True},
            "dump": {"type": "path"},
            "mariadb_socket": {"type": "path", "default": "/run/mysqld/mysqld.sock"},
            "postgresql_socket_dir": {"type": "path", "default": "/run/postgresql"},
        },
        supports_check_mode=False,
    )
    p = module.params
    if DRIVER_ERROR:
        module.fail_json(msg=f"the database drivers are missing: {DRIVER_ERROR}")
    try:
        for field in ("name", "user"):
            if not IDENT.match(p[field]):
                raise MoveError(f"{field} {p[field]!r} is not an SQL identifier [a-z][a-z0-9_]*")
        if p["op"] == "checksum":
            module.exit_json(changed=False, **checksum(p))
        if not p["dump"]:
            raise MoveError("dump is required for export and import")
        result = export(p) if p["op"] == "export" else import_(p)
        module.exit_json(changed=True, **result)
    except MoveError as exc:
        module.fail_json(msg=f"{p['engine']} {p['name']}: {exc}")
    except (pymysql.Error, psycopg2.Error, OSError) as exc:
        module.fail_json(msg=f"{p['engine']} {p['name']}: {str(exc).strip()[:300]}")


if __name__ == "__main__":
    main()
