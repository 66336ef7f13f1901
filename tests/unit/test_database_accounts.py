"""What the database role's one-call account module changes, decided without a server.

roles/database/module_utils/opdhost_accounts.py holds the comparisons database_accounts (and
database_drift) make between an account as the catalogs show it and what the role wants.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .modules import load

accounts = load("roles/database/module_utils/opdhost_accounts.py", "opdhost_accounts")

PASSWORD = "s3cret-URLsafe_base64"
# MariaDB 10.11's database-level rights, as mysql.db names them (all but Grant_priv).
RIGHTS = [
    "Select", "Insert", "Update", "Delete", "Create", "Drop", "References", "Index", "Alter",
    "Create_tmp_table", "Lock_tables", "Create_view", "Show_view", "Create_routine",
    "Alter_routine", "Execute", "Event", "Trigger", "Delete_history",
]  # fmt: skip
ALL = {f"{r}_priv" for r in RIGHTS}


def site(**overrides: Any) -> dict[str, Any]:
    entry = {"site": "dis-ik", "name": "dis_ik", "user": "dis_ik", "status": "active",
             "client_hosts": ["10.203.0.11"]}  # fmt: skip
    entry.update(overrides)
    return entry


def account(**overrides: Any) -> dict[str, Any]:
    entry = {"plugin": accounts.NATIVE, "auth": accounts.mysql_native_hash(PASSWORD),
             "locked": False, "global_rights": False}  # fmt: skip
    entry.update(overrides)
    return entry


def mariadb(
    entry: dict[str, Any],
    current: dict[str, Any] | None,
    rights: dict[str, set[str]] | None = None,
    other: bool = False,
    password: str | None = PASSWORD,
) -> list[str]:
    own = {"dis\\_ik": ALL} if rights is None else rights
    return list(
        accounts.mariadb_account_changes(
            entry, password, current, db_rights=own, all_rights=ALL, other_rights=other
        )
    )


def test_mysql_native_hash_is_password_function() -> None:
    # SELECT PASSWORD('password') on MariaDB.
    assert accounts.mysql_native_hash("password") == "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"


def test_grant_name_escapes_the_like_wildcards() -> None:
    assert accounts.grant_name("dis_ik") == "dis\\_ik"
    assert accounts.grant_name("disdik") == "disdik"


def test_an_account_as_the_role_made_it_needs_nothing() -> None:
    assert mariadb(site(), account()) == []
    assert mariadb(site(status="suspended"), account(locked=True)) == []


def test_a_missing_account_is_created_whatever_else() -> None:
    assert mariadb(site(), None, rights={}) == ["create"]
    assert mariadb(site(), None, rights={}, password=None) == ["create"]  # check mode


def test_password_plugin_and_lock_are_each_repaired() -> None:
    assert mariadb(site(), account(auth="*0000")) == ["password"]
    assert mariadb(site(), account(plugin="unix_socket")) == ["password"]
    assert mariadb(site(status="suspended"), account()) == ["lock"]
    assert mariadb(site(), account(locked=True)) == ["unlock"]
    # Without the password (check mode, file due this run) the password is not judged.
    assert mariadb(site(), account(auth="*0000"), password=None) == []


def test_grants_must_be_all_on_the_escaped_name_only() -> None:
    assert mariadb(site(), account(), rights={"dis_ik": ALL}) == ["grants"]  # a LIKE pattern
    assert mariadb(site(), account(), rights={"dis\\_ik": ALL - {"Delete_priv"}}) == ["grants"]
    both = {"dis\\_ik": ALL, "disdik": ALL}
    assert mariadb(site(), account(), rights=both) == ["grants"]
    assert mariadb(site(), account(), rights={"dis\\_ik": ALL | {"Grant_priv"}}) == ["grants"]
    assert mariadb(site(), account(), rights={}) == ["grants"]
    assert mariadb(site(), account(global_rights=True)) == ["grants"]
    assert mariadb(site(), account(), other=True) == ["grants"]


def test_a_grant_held_at_quota_is_left_to_the_quota_tasks() -> None:
    held = {"dis\\_ik": {"Select_priv", "Delete_priv"}}
    assert mariadb(site(), account(), rights=held) == []
    assert mariadb(site(), account(auth="*0000"), rights=held) == ["password"]


def role(**overrides: Any) -> dict[str, Any]:
    entry = {"login": True, "superuser": False, "createdb": False, "createrole": False,
             "replication": False, "password": "md5" + "0" * 32}  # fmt: skip
    entry.update(overrides)
    return entry


def md5_verifier(password: str, user: str) -> str:
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


def test_postgresql_role_changes() -> None:
    good = md5_verifier(PASSWORD, "dis_ik")
    changes = accounts.postgresql_role_changes
    assert changes(site(), PASSWORD, None, "scram-sha-256") == ["create"]
    assert changes(site(), PASSWORD, role(password=good), "md5") == []
    # An md5 verifier while the server encrypts with SCRAM is rewritten, as postgresql_user did.
    assert changes(site(), PASSWORD, role(password=good), "scram-sha-256") == ["password"]
    assert changes(site(), PASSWORD, role(), "md5") == ["password"]
    assert changes(site(status="suspended"), PASSWORD, role(password=good), "md5") == ["attributes"]
    assert changes(site(), PASSWORD, role(password=good, createdb=True), "md5") == ["attributes"]
    assert changes(site(), None, role(), "md5") == []  # check mode, file due this run


def test_names_that_may_not_reach_sql_are_named() -> None:
    assert accounts.invalid_site(site(), hosts=True) == []
    found = accounts.invalid_site(
        site(name="arsip\n", user="x`y", client_hosts=["10.0.0.1\n", "%"]), hosts=True
    )
    assert len(found) == 4 and "'arsip\\n'" in found[0]
    assert accounts.invalid_site(site(client_hosts=["%"]), hosts=False) == []
