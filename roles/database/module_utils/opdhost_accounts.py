"""What a site's database account must be, and how to tell whether it is: shared by the role's
modules (``database_drift`` compares, ``database_accounts`` compares and repairs).

Pure functions only (no driver, no connection), so the unit tests import them from the file.
Ansible finds this file because it lies in the role's ``module_utils/``: a module of the role
imports it as ``ansible.module_utils.opdhost_accounts`` wherever the role is loaded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

# The names that reach SQL, as the role checks them in tasks/main.yml (checked again here, so
# nothing but these shapes is ever quoted into a statement). fullmatch only: `$` would also
# accept a final newline.
SQL_NAME = re.compile(r"[a-z][a-z0-9_]{0,30}")
IPV4 = re.compile(r"((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)")
SCRAM = re.compile(r"SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)")
NATIVE = "mysql_native_password"

# The database-level rights a MariaDB user keeps while its database is over its quota
# (tasks/quota.yml); mysql.db column names.
HELD = frozenset({"Select_priv", "Delete_priv"})


def mysql_native_hash(password: str) -> str:
    """MariaDB's mysql_native_password hash, as PASSWORD() computes it."""
    inner = hashlib.sha1(password.encode("utf-8")).digest()  # the protocol's hash
    return "*" + hashlib.sha1(inner).hexdigest().upper()  # the protocol's hash


def postgresql_verifies(stored: str | None, password: str, user: str) -> bool:
    """Whether a pg_authid.rolpassword verifier was made from this password.

    The role's passwords are URL-safe base64, so SASLprep leaves them as they are.
    """
    if stored is None:
        return False
    match = SCRAM.fullmatch(stored)
    if match:
        iterations = int(match[1])
        salt, server_key = base64.b64decode(match[2]), base64.b64decode(match[4])
        salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
        computed = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        return hmac.compare_digest(computed, server_key)
    if stored.startswith("md5") and len(stored) == 35:
        # PostgreSQL's md5 verifier: 'md5' + md5(password + user).
        computed_md5 = "md5" + hashlib.md5((password + user).encode("utf-8")).hexdigest()
        return hmac.compare_digest(computed_md5, stored)
    return False


def grant_name(name: str) -> str:
    """The database name as a MariaDB grant must name it: `_` and `%` escaped (vars/main.yml)."""
    return name.replace("_", "\\_").replace("%", "\\%")


def invalid_site(site: dict[str, Any], hosts: bool) -> list[str]:
    """What in a site entry may not reach SQL (the role refuses it earlier: a backstop)."""
    found = [
        f"{field} {site.get(field)!r} is not a lowercase SQL name"
        for field in ("name", "user")
        if not SQL_NAME.fullmatch(str(site.get(field, "")))
    ]
    if hosts:
        found.extend(
            f"client host {host!r} is not a dotted IPv4 address"
            for host in site.get("client_hosts") or []
            if not IPV4.fullmatch(str(host))
        )
    return found


def mariadb_account_changes(
    site: dict[str, Any],
    password: str | None,
    account: dict[str, Any] | None,
    *,
    db_rights: dict[str, set[str]],
    all_rights: set[str],
    other_rights: bool,
) -> list[str]:
    """What must change on one ``user@host`` of the site to be what mysql_user made of it.

    ``account``: {plugin, auth, locked, global_rights} from mysql.user, or None when missing;
    ``db_rights``: database pattern -> the mysql.db rights columns set to Y for the account;
    ``all_rights``: every database-level right column but Grant_priv (what ALL grants);
    ``other_rights``: the account has table, column or routine rights.
    Returns kinds among ``create``, ``password``, ``grants``, ``lock``, ``unlock``, in the order
    they are to be made. The grants must be exactly ALL on the site's own database (name
    escaped), or SELECT and DELETE there while held at quota (tasks/quota.yml releases it).
    """
    locked = site["status"] == "suspended"
    if account is None:
        return ["create"]
    changes: list[str] = []
    if password is not None and (
        account["plugin"] != NATIVE
        or not hmac.compare_digest(str(account["auth"]), mysql_native_hash(password))
    ):
        changes.append("password")
    own = grant_name(site["name"])
    if (
        account["global_rights"]
        or other_rights
        or set(db_rights) != {own}
        or db_rights[own] not in (all_rights, HELD)
    ):
        changes.append("grants")
    if bool(account["locked"]) != locked:
        changes.append("lock" if locked else "unlock")
    return changes


def postgresql_role_changes(
    site: dict[str, Any], password: str | None, role: dict[str, Any] | None, encryption: str
) -> list[str]:
    """What must change on the site's role so that it is what postgresql_user made of it.

    ``role``: {login, superuser, createdb, createrole, replication, password} from pg_authid,
    or None when missing. Returns kinds among ``create``, ``attributes``, ``password``.
    """
    if role is None:
        return ["create"]
    changes: list[str] = []
    login = site["status"] != "suspended"
    if bool(role["login"]) != login or any(
        role[power] for power in ("superuser", "createdb", "createrole", "replication")
    ):
        changes.append("attributes")
    stored = role["password"]
    if password is not None and (
        not postgresql_verifies(stored, password, site["user"])
        or (stored is not None and stored.startswith("md5") and encryption != "md5")
    ):
        changes.append("password")
    return changes
