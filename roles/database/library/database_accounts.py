#!/usr/bin/python
"""Give every site of a run its database account (and PostgreSQL database) in one call.

Why a module: the role called community.mysql.mysql_user once per site and client host, and
community.postgresql.postgresql_user and postgresql_db once per site: ~0.3-0.5 s each over
SSH, minutes for a run that brings 500 new hostings. This module reads the accounts of every
given site with a few catalog queries over the local socket and makes, for each, the
statements those tasks would have made, and only those: one call whatever the number of sites.
It reads each site's password from its file on the node (module_utils/opdhost_secrets.py,
written by database_secret earlier in the run), so no password travels as an argument.
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]  # no stubs
from ansible.module_utils.opdhost_accounts import (  # type: ignore[import-not-found]  # role module_utils
    grant_name,
    invalid_site,
    mariadb_account_changes,
    postgresql_role_changes,
)
from ansible.module_utils.opdhost_secrets import read_secret  # type: ignore[import-not-found]  # role module_utils

# The drivers are on the database node (the module runs there), not necessarily on the controller.
try:
    import psycopg2  # type: ignore[import-untyped]  # no stubs installed
    import pymysql  # type: ignore[import-untyped]  # no stubs installed
    from psycopg2 import sql  # type: ignore[import-untyped]  # no stubs installed

    DRIVER_ERROR = ""
except ImportError as error:
    DRIVER_ERROR = str(error)

DOCUMENTATION = r"""
module: database_accounts
short_description: Each site's database user, rights and lock (and PostgreSQL database), in one call
description:
  - Connects over the local socket (MariaDB as root through unix_socket, PostgreSQL as
    C(postgres) through the role's ident map), reads the accounts of every site in I(sites),
    and changes only what differs from what the role wants. Idempotent; check mode reports what
    would change and changes nothing.
  - MariaDB, per site and client host (what mysql_user with C(update_password=always),
    C(priv=<name escaped>.*:ALL), C(append_privs=false) and C(locked) made) - a missing account
    is created with the site's password (C(mysql_native_password)); a password or plugin that
    differs is set again; any right but ALL on the site's own database (C(_) and C(%) escaped)
    is revoked and ALL granted, except that SELECT and DELETE alone (the site held at quota,
    tasks/quota.yml) are left for the quota tasks; the account is locked when the site is
    suspended and unlocked otherwise.
  - PostgreSQL, per site (what postgresql_user with C(LOGIN|NOLOGIN,NOSUPERUSER,NOCREATEDB,
    NOCREATEROLE,NOREPLICATION) made) - a missing role is created; LOGIN follows the status and
    the other powers are taken; a password whose verifier does not verify (or an md5 verifier
    while the server encrypts with SCRAM) is set again. Then, per entry of I(databases) (what
    postgresql_db with C(owner), C(encoding=UTF-8), C(template=template0) made), a missing
    database is created owned by the site's role, and an existing one is given to it.
  - Reads each site's password file C(<secrets_dir>/<engine>-<site>.password) itself. A
    missing file fails the run (database_secret writes it first), except in check mode, where
    the file may be due this run and only a missing account is reported.
  - Never returns a password or a hash; a driver's error has any password masked.
options:
  engine:
    description: The engine of every entry.
    type: str
    choices: [mariadb, postgresql]
    required: true
  sites:
    description: Sites whose accounts to make ({site, name, user, status, client_hosts}).
    type: list
    elements: dict
    required: true
  databases:
    description: PostgreSQL only - sites whose database must exist, owned by their role.
    type: list
    elements: dict
    default: []
  secrets_dir:
    description: Directory of the password files.
    type: path
    required: true
  mariadb_socket:
    description: MariaDB's local socket.
    type: path
    default: /run/mysqld/mysqld.sock
  postgresql_socket_dir:
    description: Directory of PostgreSQL's local socket.
    type: path
    default: /run/postgresql
"""

RETURN = r"""
changed_sites:
  description: Names of the sites whose account or database changed (or would), sorted.
  type: list
  returned: always
changes:
  description:
    - Site to what changed, e.g. C(create on 10.203.0.11), C(grants on 10.203.0.11),
      C(lock on 10.203.0.11), C(password), C(attributes), C(create database),
      C(owner of database). No secrets.
  type: dict
  returned: always
"""

MASK = "********"


def mariadb_read(
    connection: Any, users: list[str]
) -> tuple[dict[tuple[str, str], Any], dict[tuple[str, str], Any], dict[str, Any]]:
    """The accounts of these users: mysql.user, mysql.db, and who has finer-grained rights."""
    accounts: dict[tuple[str, str], dict[str, Any]] = {}
    rights: dict[tuple[str, str], dict[str, set[str]]] = {}
    finer: set[tuple[str, str]] = set()
    all_rights: set[str] = set()
    with connection.cursor(pymysql.cursors.DictCursor) as cursor:
        # mysql.global_priv (10.4+): mysql.user has no lock column; access 0 is USAGE only.
        cursor.execute(
            "SELECT User, Host, JSON_VALUE(Priv, '$.plugin') AS plugin,"
            " JSON_VALUE(Priv, '$.authentication_string') AS auth,"
            " JSON_VALUE(Priv, '$.account_locked') AS locked,"
            " JSON_VALUE(Priv, '$.access') AS access"
            " FROM mysql.global_priv WHERE User IN %s",
            (users,),
        )
        for row in cursor.fetchall():
            accounts[(str(row["User"]), str(row["Host"]))] = {
                "plugin": str(row["plugin"] or ""),
                "auth": str(row["auth"] or ""),
                "locked": str(row["locked"]).lower() in ("1", "true"),
                "global_rights": str(row["access"] or "0") != "0",
            }
        cursor.execute("SHOW COLUMNS FROM mysql.db")
        all_rights = {
            str(c["Field"])
            for c in cursor.fetchall()
            if str(c["Field"]).endswith("_priv") and c["Field"] != "Grant_priv"
        }
        cursor.execute("SELECT * FROM mysql.db WHERE User IN %s", (users,))
        for row in cursor.fetchall():
            account = (str(row["User"]), str(row["Host"]))
            held = {k for k, v in row.items() if k.endswith("_priv") and str(v) == "Y"}
            rights.setdefault(account, {})[str(row["Db"])] = held
        for table in ("tables_priv", "columns_priv", "procs_priv"):
            cursor.execute(f"SELECT User, Host FROM mysql.{table} WHERE User IN %s", (users,))
            finer.update((str(r["User"]), str(r["Host"])) for r in cursor.fetchall())
    return accounts, rights, {"finer": finer, "all": all_rights}


def quote_mariadb(name: str) -> str:
    """A MariaDB identifier in backquotes (names are checked SQL names; `` doubles any `)."""
    return "`" + name.replace("`", "``") + "`"


def mariadb_accounts(
    sites: list[dict[str, Any]], passwords: dict[str, str | None], socket: str, check: bool
) -> dict[str, list[str]]:
    """Make each site's account on each client host; site -> what changed."""
    changes: dict[str, list[str]] = {}
    users = sorted({s["user"] for s in sites})
    connection = pymysql.connect(
        unix_socket=socket, user="root", charset="utf8mb4", autocommit=True
    )
    try:
        accounts, rights, extra = mariadb_read(connection, users)
        with connection.cursor() as cursor:
            for site in sites:
                password = passwords.get(site["site"])
                grant = (
                    f"GRANT ALL PRIVILEGES ON {quote_mariadb(grant_name(site['name']))}.* TO %s@%s"
                )
                for host in site["client_hosts"]:
                    account = (site["user"], host)
                    kinds = mariadb_account_changes(
                        site,
                        password,
                        accounts.get(account),
                        db_rights=rights.get(account, {}),
                        all_rights=extra["all"],
                        other_rights=account in extra["finer"],
                    )
                    if not kinds:
                        continue
                    changes.setdefault(site["site"], []).extend(f"{k} on {host}" for k in kinds)
                    if check:
                        continue
                    for kind in kinds:
                        if kind == "create":
                            lock = " ACCOUNT LOCK" if site["status"] == "suspended" else ""
                            cursor.execute(
                                "CREATE USER %s@%s IDENTIFIED VIA mysql_native_password"
                                " USING PASSWORD(%s)" + lock,
                                (*account, password),
                            )
                            cursor.execute(grant, account)
                        elif kind == "password":
                            cursor.execute(
                                "ALTER USER %s@%s IDENTIFIED VIA mysql_native_password"
                                " USING PASSWORD(%s)",
                                (*account, password),
                            )
                        elif kind == "grants":
                            cursor.execute(
                                "REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s", account
                            )
                            cursor.execute(grant, account)
                        else:
                            cursor.execute(f"ALTER USER %s@%s ACCOUNT {kind.upper()}", account)
    finally:
        connection.close()
    return changes


def postgresql_accounts(
    sites: list[dict[str, Any]],
    databases: list[dict[str, Any]],
    passwords: dict[str, str | None],
    socket_dir: str,
    check: bool,
) -> dict[str, list[str]]:
    """Make each site's role, then each listed site's database; site -> what changed."""
    changes: dict[str, list[str]] = {}
    users = sorted({s["user"] for s in sites + databases})
    connection = psycopg2.connect(host=socket_dir, user="postgres", dbname="postgres")
    connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW password_encryption")
            row = cursor.fetchone()
            encryption = str(row[0]) if row else "scram-sha-256"
            cursor.execute(
                "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole,"
                " rolreplication, rolpassword FROM pg_catalog.pg_authid WHERE rolname = ANY(%s)",
                (users,),
            )
            roles = {
                str(r[0]): dict(
                    zip(
                        ("login", "superuser", "createdb", "createrole", "replication"),
                        r[1:6],
                        strict=True,
                    ),
                    password=r[6],
                )
                for r in cursor.fetchall()
            }
            cursor.execute(
                "SELECT d.datname, pg_catalog.pg_get_userbyid(d.datdba)"
                " FROM pg_catalog.pg_database d WHERE d.datname = ANY(%s)",
                ([s["name"] for s in databases],),
            )
            owners = {str(name): str(owner) for name, owner in cursor.fetchall()}
            for site in sites:
                password = passwords.get(site["site"])
                kinds = postgresql_role_changes(site, password, roles.get(site["user"]), encryption)
                if not kinds:
                    continue
                changes.setdefault(site["site"], []).extend(kinds)
                if check:
                    continue
                role = sql.Identifier(site["user"])
                login = sql.SQL("NOLOGIN" if site["status"] == "suspended" else "LOGIN")
                powers = sql.SQL("NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION")
                if "create" in kinds:
                    cursor.execute(
                        sql.SQL("CREATE ROLE {} WITH {} {} PASSWORD %s").format(
                            role, login, powers
                        ),
                        (password,),
                    )
                if "attributes" in kinds:
                    cursor.execute(sql.SQL("ALTER ROLE {} WITH {} {}").format(role, login, powers))
                if "password" in kinds:
                    cursor.execute(
                        sql.SQL("ALTER ROLE {} WITH PASSWORD %s").format(role), (password,)
                    )
            for site in databases:
                owner = owners.get(site["name"])
                if owner == site["user"]:
                    continue
                kind = "create database" if owner is None else "owner of database"
                changes.setdefault(site["site"], []).append(kind)
                if check:
                    continue
                name, role = sql.Identifier(site["name"]), sql.Identifier(site["user"])
                if owner is None:
                    cursor.execute(
                        sql.SQL(
                            "CREATE DATABASE {} OWNER {} ENCODING 'UTF-8' TEMPLATE template0"
                        ).format(name, role)
                    )
                else:
                    cursor.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(name, role))
    finally:
        connection.close()
    return changes


def main() -> None:
    """Converge every given site's account of one engine, in one connection."""
    module = AnsibleModule(
        argument_spec={
            "engine": {"type": "str", "choices": ["mariadb", "postgresql"], "required": True},
            "sites": {"type": "list", "elements": "dict", "required": True},
            "databases": {"type": "list", "elements": "dict", "default": []},
            "secrets_dir": {"type": "path", "required": True},
            "mariadb_socket": {"type": "path", "default": "/run/mysqld/mysqld.sock"},
            "postgresql_socket_dir": {"type": "path", "default": "/run/postgresql"},
        },
        supports_check_mode=True,
    )
    if DRIVER_ERROR:
        module.fail_json(msg=f"PyMySQL and psycopg2 are needed on the node: {DRIVER_ERROR}")
    engine: str = module.params["engine"]
    sites: list[dict[str, Any]] = module.params["sites"]
    databases: list[dict[str, Any]] = module.params["databases"]
    check = module.check_mode
    problems = [
        f"{entry.get('site')!r}: {problem}"
        for entry in sites + databases
        for problem in invalid_site(entry, hosts=engine == "mariadb")
    ]
    if problems:
        module.fail_json(msg="names that may not reach SQL: " + "; ".join(problems))

    passwords = {
        s["site"]: read_secret(module.params["secrets_dir"], engine, s["site"]) for s in sites
    }
    missing = sorted(site for site, password in passwords.items() if password is None)
    if missing and not check:
        module.fail_json(msg=f"no {engine} password file for: {', '.join(missing)}")
    try:
        if engine == "mariadb":
            changes = mariadb_accounts(sites, passwords, module.params["mariadb_socket"], check)
        else:
            socket_dir = module.params["postgresql_socket_dir"]
            changes = postgresql_accounts(sites, databases, passwords, socket_dir, check)
    except Exception as exc:  # any driver error fails the task, with its text (passwords masked)
        text = f"{type(exc).__name__}: {exc}"
        for password in passwords.values():
            if password:
                text = text.replace(password, MASK)
        module.fail_json(msg=f"cannot make the {engine} accounts: {text}")
    module.exit_json(changed=bool(changes), changed_sites=sorted(changes), changes=changes)


if __name__ == "__main__":
    main()
