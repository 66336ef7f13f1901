#!/usr/bin/python
"""Log in to many hostings' databases from a web node in one call, as each site's user.

Why a module: the post-apply check ran one mysql_query/postgresql_query per site (one remote
call each). This tries every login in one call, a few at a time, and returns per site whether
it was accepted and, if not, the server's error, never the password.
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
  - For each login, connects over the network to I(host) as I(user) with I(password) to
    I(database) and runs C(SELECT 1) (PyMySQL for MariaDB, psycopg2 for PostgreSQL).
  - A login without a password fails with "no password file on the database node".
  - Read-only, C(changed=false); passwords are C(no_log) options and never returned.
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
      password: {description: The site's password; null when none was found., type: str}
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


def try_login(login: dict[str, Any], timeout: int) -> dict[str, Any]:
    """Connect and run SELECT 1; the error text, if any, without the password in it."""
    password = login["password"]
    if password is None:
        return {"ok": False, "error": "no password file on the database node"}
    try:
        if login["engine"] == "mariadb":
            connection = pymysql.connect(
                host=login["host"],
                user=login["user"],
                password=password,
                database=login["database"],
                connect_timeout=timeout,
            )
        else:
            connection = psycopg2.connect(
                host=login["host"],
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
        "password": {"type": "str", "no_log": True},
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
