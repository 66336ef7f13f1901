#!/usr/bin/python
"""Find, in one read-only call, the sites whose database account has drifted.

Why a module: a no-change run over every site (``database_only: []``) used to call
mysql_user / postgresql_user once per account, ~0.2 s each over SSH. mysql_info and
postgresql_info tell in one call whether an account exists, its grants, lock and login state,
but not whether its password still matches the file on the node. This probe answers that (and
the role attributes postgresql_info does not return) with catalog queries over the local
socket, so the role calls the per-site modules only for the sites it names.
"""

from __future__ import annotations

import hmac
from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]  # no stubs
from ansible.module_utils.opdhost_accounts import (  # type: ignore[import-not-found]  # role module_utils
    NATIVE,
    mysql_native_hash,
    postgresql_verifies,
)
from ansible.module_utils.opdhost_secrets import read_secret  # type: ignore[import-not-found]  # role module_utils

# The drivers are on the database node (the module runs there), not necessarily on the controller.
try:
    import psycopg2  # type: ignore[import-untyped]  # no stubs installed
    import pymysql  # type: ignore[import-untyped]  # no stubs installed

    DRIVER_ERROR = ""
except ImportError as error:
    DRIVER_ERROR = str(error)

DOCUMENTATION = r"""
module: database_drift
short_description: Sites whose database password or role powers differ from what the role makes
description:
  - Read-only. Connects over the local socket (MariaDB as root through unix_socket,
    PostgreSQL as C(postgres) through the role's ident map) and runs catalog queries only.
  - Reads each live site's password file C(<secrets_dir>/<engine>-<site>.password) itself.
  - MariaDB, per client host - the account is missing, does not use C(mysql_native_password),
    or its hash is not C('*' + upper(hex(SHA1(SHA1(password))))).
  - PostgreSQL - the role is missing, has SUPERUSER, CREATEDB, CREATEROLE or REPLICATION, its
    verifier does not verify the password (SCRAM-SHA-256 server key, or C('md5' + md5(password
    + user))), or it holds an md5 verifier while the server encrypts new passwords with SCRAM
    (postgresql_user would rewrite it).
  - A site without a password file is flagged (in check mode the file may be due this run).
  - Grants, lock and login state are the callers' part (mysql_info C(users_info),
    postgresql_info C(roles)).
  - Never returns a password or a hash; always C(changed=false).
options:
  sites:
    description: Live sites ({site, engine, user, client_hosts}; other keys are ignored).
    type: list
    elements: dict
    required: true
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
drifted:
  description: Names of the sites whose account the per-site tasks must repair, sorted.
  type: list
  returned: always
reasons:
  description: Site to the reasons it was flagged (no secrets).
  type: dict
  returned: always
"""


def mariadb_drift(
    sites: list[dict[str, Any]], secrets_dir: str, socket: str
) -> dict[str, list[str]]:
    """Site -> reasons, for the MariaDB accounts whose password or plugin differ."""
    reasons: dict[str, list[str]] = {}
    users = sorted({s["user"] for s in sites})
    connection = pymysql.connect(unix_socket=socket, user="root", charset="utf8mb4")
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT User, Host, plugin, authentication_string FROM mysql.user WHERE User IN %s",
                (users,),
            )
            accounts = {(str(u), str(h)): (str(p), str(a)) for u, h, p, a in cursor.fetchall()}
    finally:
        connection.close()
    for site in sites:
        password = read_secret(secrets_dir, "mariadb", site["site"])
        found: list[str] = []
        if password is None:
            found.append("no password file")
        for host in site["client_hosts"]:
            account = accounts.get((site["user"], host))
            if account is None:
                found.append(f"no account on {host}")
            elif account[0] != NATIVE:
                found.append(f"account on {host} uses {account[0] or 'no'} plugin")
            elif password is not None and not hmac.compare_digest(
                account[1], mysql_native_hash(password)
            ):
                found.append(f"password on {host} differs from its file")
        if found:
            reasons[site["site"]] = found
    return reasons


def postgresql_drift(
    sites: list[dict[str, Any]], secrets_dir: str, socket_dir: str
) -> dict[str, list[str]]:
    """Site -> reasons, for the PostgreSQL roles whose password or powers differ."""
    reasons: dict[str, list[str]] = {}
    users = sorted({s["user"] for s in sites})
    connection = psycopg2.connect(host=socket_dir, user="postgres", dbname="postgres")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW password_encryption")
            row = cursor.fetchone()
            encryption = str(row[0]) if row else "scram-sha-256"
            cursor.execute(
                "SELECT rolname, rolpassword, rolsuper, rolcreatedb, rolcreaterole, rolreplication"
                " FROM pg_catalog.pg_authid WHERE rolname = ANY(%s)",
                (users,),
            )
            roles = {str(r[0]): r[1:] for r in cursor.fetchall()}
        connection.rollback()
    finally:
        connection.close()
    for site in sites:
        password = read_secret(secrets_dir, "postgresql", site["site"])
        found: list[str] = []
        role = roles.get(site["user"])
        if password is None:
            found.append("no password file")
        if role is None:
            found.append("no role")
        else:
            stored, superuser, createdb, createrole, replication = role
            powers = {
                "SUPERUSER": superuser,
                "CREATEDB": createdb,
                "CREATEROLE": createrole,
                "REPLICATION": replication,
            }
            found.extend(f"has {name}" for name, held in powers.items() if held)
            if password is not None and not postgresql_verifies(stored, password, site["user"]):
                found.append("password differs from its file")
            elif stored is not None and stored.startswith("md5") and encryption != "md5":
                found.append(f"md5 verifier while the server uses {encryption}")
        if found:
            reasons[site["site"]] = found
    return reasons


def main() -> None:
    """Probe each engine the given sites use, once."""
    module = AnsibleModule(
        argument_spec={
            "sites": {"type": "list", "elements": "dict", "required": True},
            "secrets_dir": {"type": "path", "required": True},
            "mariadb_socket": {"type": "path", "default": "/run/mysqld/mysqld.sock"},
            "postgresql_socket_dir": {"type": "path", "default": "/run/postgresql"},
        },
        supports_check_mode=True,
    )
    if DRIVER_ERROR:
        module.fail_json(msg=f"PyMySQL and psycopg2 are needed on the node: {DRIVER_ERROR}")
    sites: list[dict[str, Any]] = module.params["sites"]
    secrets_dir: str = module.params["secrets_dir"]
    mariadb = [s for s in sites if s.get("engine") == "mariadb"]
    postgresql = [s for s in sites if s.get("engine") == "postgresql"]
    reasons: dict[str, list[str]] = {}
    try:
        if mariadb:
            reasons.update(mariadb_drift(mariadb, secrets_dir, module.params["mariadb_socket"]))
        if postgresql:
            socket_dir = module.params["postgresql_socket_dir"]
            reasons.update(postgresql_drift(postgresql, secrets_dir, socket_dir))
    except Exception as exc:  # any driver error fails the task, with its text
        module.fail_json(msg=f"cannot read the accounts: {type(exc).__name__}: {exc}")
    module.exit_json(changed=False, drifted=sorted(reasons), reasons=reasons)


if __name__ == "__main__":
    main()
