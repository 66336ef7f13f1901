#!/usr/bin/python
"""Measure, in one read-only call, every site's database size and whether its user is held.

Why a module: the quota check runs on every apply and every usage collection, over every
site of the node; mysql_info and postgresql_info give sizes, but MariaDB's `data_length` is
InnoDB's sampled statistic (it lagged 20 MB behind a fresh insert on the lab, and never
shrinks after a DELETE until the statistics are recalculated), and neither tells whether a
site's user currently lacks the rights to grow its database. This probe answers both with
catalog queries over the local socket, so quota.yml changes rights only for the sites whose
state must change.

Sizes: MariaDB InnoDB tables count their tablespace files' allocated size less their free
extents (which a DELETE returns, once InnoDB's purge has run: seconds); other engines count
data + index length. PostgreSQL counts pg_database_size().
Held: MariaDB - no account of the site on any client host has INSERT on its database;
PostgreSQL - the site's role lacks CREATE on its database (quota.yml takes it with the rest).
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]  # no stubs

try:
    import psycopg2  # type: ignore[import-untyped]  # no stubs installed
    import pymysql  # type: ignore[import-untyped]  # no stubs installed

    DRIVER_ERROR = ""
except ImportError as error:
    DRIVER_ERROR = str(error)

DOCUMENTATION = r"""
module: database_usage
short_description: Each site's database size in bytes and whether its user is held at quota
description:
  - Read-only; always C(changed=false). Catalog queries over the local socket only (MariaDB as
    root through unix_socket, PostgreSQL as C(postgres)). Never returns a password or a hash.
options:
  sites:
    description: Live entries of database_sites (site, engine, name, user, client_hosts).
    type: list
    elements: dict
    required: true
  mariadb_socket:
    description: MariaDB's socket.
    type: path
  postgresql_socket_dir:
    description: PostgreSQL's socket directory.
    type: path
"""

RETURN = r"""
usage:
  description: site -> {engine, name, bytes, held, exists, user_exists, hosts (MariaDB)}
  type: dict
  returned: always
"""


def grant_name(name: str) -> str:
    """The database name as its grant stores it: `_` and `%` escaped (vars/main.yml)."""
    return name.replace("_", "\\_").replace("%", "\\%")


def mariadb_usage(sites: list[dict[str, Any]], socket: str) -> dict[str, dict[str, Any]]:
    """Sizes and held state of the MariaDB sites."""
    names = sorted({s["name"] for s in sites})
    marks = ",".join(["%s"] * len(names))
    connection = pymysql.connect(unix_socket=socket, user="root", charset="utf8mb4")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
            existing = {str(r[0]) for r in cursor.fetchall()}
            cursor.execute(
                "SELECT TABLE_SCHEMA, ENGINE, COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0),"
                " COALESCE(SUM(DATA_FREE), 0) FROM information_schema.TABLES"
                f" WHERE TABLE_SCHEMA IN ({marks}) GROUP BY TABLE_SCHEMA, ENGINE",
                names,
            )
            stats = cursor.fetchall()
            cursor.execute(
                "SELECT NAME, COALESCE(NULLIF(ALLOCATED_SIZE, 0), FILE_SIZE)"
                " FROM information_schema.INNODB_SYS_TABLESPACES"
            )
            files: dict[str, int] = {}
            for name, size in cursor.fetchall():
                schema = str(name).split("/", 1)[0]
                files[schema] = files.get(schema, 0) + int(size or 0)
            cursor.execute(
                "SELECT GRANTEE, TABLE_SCHEMA, PRIVILEGE_TYPE"
                " FROM information_schema.SCHEMA_PRIVILEGES"
            )
            privileges: dict[tuple[str, str], set[str]] = {}
            for grantee, schema, privilege in cursor.fetchall():
                privileges.setdefault((str(grantee), str(schema)), set()).add(str(privilege))
            cursor.execute("SELECT User, Host FROM mysql.user")
            accounts = {(str(user), str(host)) for user, host in cursor.fetchall()}
    finally:
        connection.close()
    innodb_free: dict[str, int] = {}
    other: dict[str, int] = {}
    innodb_stat: dict[str, int] = {}
    for schema, engine, length, free in stats:
        if str(engine).lower() == "innodb":
            innodb_free[schema] = innodb_free.get(schema, 0) + int(free)
            innodb_stat[schema] = innodb_stat.get(schema, 0) + int(length)
        else:
            other[schema] = other.get(schema, 0) + int(length)
    out = {}
    for site in sites:
        name = site["name"]
        innodb = max(files.get(name, 0) - innodb_free.get(name, 0), innodb_stat.get(name, 0))
        # Only accounts that exist are held or released: mysql_user would create a missing one
        # without a password (making accounts is mariadb.yml's part, with the password file).
        hosts = [h for h in site.get("client_hosts") or [] if (site["user"], h) in accounts]
        held = bool(hosts) and all(
            "INSERT" not in privileges.get((f"'{site['user']}'@'{host}'", grant_name(name)), set())
            for host in hosts
        )
        out[site["site"]] = {
            "engine": "mariadb",
            "name": name,
            "exists": name in existing,
            "user_exists": bool(hosts),
            "hosts": hosts,
            "bytes": innodb + other.get(name, 0),
            "held": held and name in existing,
        }
    return out


def postgresql_usage(sites: list[dict[str, Any]], socket_dir: str) -> dict[str, dict[str, Any]]:
    """Sizes and held state of the PostgreSQL sites."""
    connection = psycopg2.connect(host=socket_dir, user="postgres", dbname="postgres")
    try:
        with connection.cursor() as cursor:
            rows: dict[str, tuple[int, bool, bool]] = {}
            for site in sites:
                cursor.execute(
                    "SELECT pg_database_size(d.oid),"
                    " COALESCE((SELECT has_database_privilege(r.oid, d.oid, 'CREATE')"
                    "           FROM pg_roles r WHERE r.rolname = %s), true),"
                    " EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = %s)"
                    " FROM pg_database d WHERE d.datname = %s",
                    (site["user"], site["user"], site["name"]),
                )
                found = cursor.fetchone()
                if found is not None:
                    rows[site["site"]] = (int(found[0]), bool(found[1]), bool(found[2]))
        connection.rollback()
    finally:
        connection.close()
    out = {}
    for site in sites:
        size, can_create, role_exists = rows.get(site["site"], (0, True, False))
        out[site["site"]] = {
            "engine": "postgresql",
            "name": site["name"],
            "exists": site["site"] in rows,
            "user_exists": role_exists,
            "bytes": size,
            "held": not can_create,
        }
    return out


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "sites": {"type": "list", "elements": "dict", "required": True},
            "mariadb_socket": {"type": "path"},
            "postgresql_socket_dir": {"type": "path"},
        },
        supports_check_mode=True,
    )
    if DRIVER_ERROR:
        module.fail_json(msg=f"database drivers missing on the node: {DRIVER_ERROR}")
    sites = module.params["sites"]
    usage: dict[str, Any] = {}
    try:
        mariadb = [s for s in sites if s["engine"] == "mariadb"]
        postgresql = [s for s in sites if s["engine"] == "postgresql"]
        if mariadb and module.params["mariadb_socket"]:
            usage.update(mariadb_usage(mariadb, module.params["mariadb_socket"]))
        if postgresql and module.params["postgresql_socket_dir"]:
            usage.update(postgresql_usage(postgresql, module.params["postgresql_socket_dir"]))
    except Exception as exc:  # a driver's error must come back as a message, not a traceback
        module.fail_json(msg=f"cannot measure the databases: {type(exc).__name__}: {exc}")
    module.exit_json(changed=False, usage=usage)


if __name__ == "__main__":
    main()
