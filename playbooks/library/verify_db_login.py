#!/usr/bin/python
"""Log in to many hostings' databases from a web node in one call, as each site's code would.

Each login uses what the site itself has: its credentials file (private/db.env, written by
apache_vhost's `credentials` entry point), so a passing check proves the handover to the
agency, not only the database. The file must name the engine, host, database and user the
request gives. Why a module: the post-apply check ran one mysql_query/postgresql_query per site
(one remote call each). This tries every login in one call, a few at a time, and returns per
site whether it was accepted and, if not, why, never the password.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]  # no stubs

# The drivers are on the web node (the module runs there), not necessarily on the controller.
try:
    import psycopg2  # type: ignore[import-untyped]  # no stubs installed
    import pymysql  # type: ignore[import-untyped]  # no stubs installed

    DRIVER_ERROR = ""
except ImportError as error:
    DRIVER_ERROR = str(error)

DOCUMENTATION = r"""
module: verify_db_login
short_description: Try many database logins at once, report each
description:
  - For each login, reads I(credentials_file) (KEY=value lines), checks that it names
    I(engine), I(host), I(database) and I(user), connects over the network with its
    C(DB_PASSWORD) and C(DB_PORT) and runs C(SELECT 1) (PyMySQL for MariaDB, psycopg2 for
    PostgreSQL).
  - Read-only, C(changed=false); the password is never returned.
options:
  logins:
    description: The logins to try.
    type: list
    elements: dict
    required: true
    suboptions:
      site: {description: The hosting; keys the result., type: str, required: true}
      engine:
        description: Database engine.
        type: str
        required: true
        choices: [mariadb, postgresql]
      host: {description: Address of the database server., type: str, required: true}
      user: {description: The site's database user., type: str, required: true}
      database: {description: The site's database., type: str, required: true}
      credentials_file:
        description: The site's private/db.env on this node.
        type: path
        required: true
  timeout:
    description: Seconds allowed to connect, per login.
    type: int
    default: 5
  workers:
    description: Logins tried at the same time.
    type: int
    default: 8
"""

RETURN = r"""
outcomes:
  description: Site to {ok, error}; error is empty when the login was accepted.
  type: dict
  returned: always
"""


WANTED = {"DB_ENGINE": "engine", "DB_HOST": "host", "DB_NAME": "database", "DB_USER": "user"}


def read_credentials(path: str) -> dict[str, str]:
    """The file's KEY=value lines (as PHP's parse_ini_file with INI_SCANNER_RAW reads them)."""
    found: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            key, sep, value = line.rstrip("\n").partition("=")
            if sep:
                found[key.strip()] = value.strip()
    return found


def try_login(login: dict[str, Any], timeout: int) -> dict[str, Any]:
    """Read the site's file, connect with it, run SELECT 1; errors never hold the password."""
    path = login["credentials_file"]
    try:
        creds = read_credentials(path)
    except FileNotFoundError:
        return {"ok": False, "error": f"no credentials file {path} on the web node"}
    except (OSError, UnicodeDecodeError) as exc:
        return {"ok": False, "error": f"credentials file {path} unreadable: {exc}"}
    for key, field in WANTED.items():
        if creds.get(key) != login[field]:
            return {
                "ok": False,
                "error": f"credentials file {path} says {key}={creds.get(key, '(missing)')}, "
                f"the request {login[field]}",
            }
    password = creds.get("DB_PASSWORD", "")
    if not password or not creds.get("DB_PORT", "").isdigit():
        return {"ok": False, "error": f"credentials file {path} has no DB_PASSWORD or DB_PORT"}
    port = int(creds["DB_PORT"])
    try:
        if login["engine"] == "mariadb":
            connection = pymysql.connect(
                host=login["host"],
                port=port,
                user=login["user"],
                password=password,
                database=login["database"],
                connect_timeout=timeout,
            )
        else:
            connection = psycopg2.connect(
                host=login["host"],
                port=port,
                user=login["user"],
                password=password,
                dbname=login["database"],
                connect_timeout=timeout,
            )
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchall()
        finally:
            connection.close()
    except Exception as exc:  # any driver error is this site's result
        text = " ".join(str(exc).split()).replace(password, "********")
        return {"ok": False, "error": f"{type(exc).__name__}: {text}"}
    return {"ok": True, "error": ""}


def main() -> None:
    """Try every login, a few at a time."""
    login_spec = {
        "site": {"type": "str", "required": True},
        "engine": {"type": "str", "required": True, "choices": ["mariadb", "postgresql"]},
        "host": {"type": "str", "required": True},
        "user": {"type": "str", "required": True},
        "database": {"type": "str", "required": True},
        "credentials_file": {"type": "path", "required": True},
    }
    module = AnsibleModule(
        argument_spec={
            "logins": {"type": "list", "elements": "dict", "required": True, "options": login_spec},
            "timeout": {"type": "int", "default": 5},
            "workers": {"type": "int", "default": 8},
        },
        supports_check_mode=True,
    )
    if DRIVER_ERROR:
        module.fail_json(msg=f"PyMySQL and psycopg2 are needed on the node: {DRIVER_ERROR}")
    logins: list[dict[str, Any]] = module.params["logins"]
    timeout: int = module.params["timeout"]
    with ThreadPoolExecutor(max_workers=max(1, module.params["workers"])) as pool:
        tried = list(pool.map(lambda login: try_login(login, timeout), logins))
    by_site = {login["site"]: outcome for login, outcome in zip(logins, tried, strict=True)}
    module.exit_json(changed=False, outcomes=by_site)


if __name__ == "__main__":
    main()
