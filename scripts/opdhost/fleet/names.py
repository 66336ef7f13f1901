"""Names derived from a request, and the strict rules they obey (docs/contracts.md).

Every name that reaches Apache, BIND, SQL or a shell is checked here or by the published
schema, never escaped after the fact.
"""

from __future__ import annotations

import re

# Used with `fullmatch` only: `$` would also match before a final newline ("disdik\n").
SITE_RE = re.compile(r"(?!..--)[a-z][a-z0-9-]{0,28}[a-z0-9]")
LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
SQL_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,30}")

RESERVED_DB_NAMES = frozenset(
    {
        "mysql",
        "information_schema",
        "performance_schema",
        "sys",
        "postgres",
        "template0",
        "template1",
        # pg_hba.conf keywords: a database or user of that name would mean something else there
        "all",
        "replication",
        "sameuser",
        "samerole",
        "samegroup",
    }
)
"""System databases of MariaDB and PostgreSQL and pg_hba keywords: never a site's name."""

RESERVED_DB_USERS = frozenset(
    {"root", "mysql", "mariadb", "postgres", "debian_sys_maint", "pg_monitor", "public"}
)
"""Administrative database roles: never a site's."""

RESERVED_DB_PREFIXES = ("pg_",)
"""PostgreSQL keeps `pg_*` names for itself (roles and schemas): never a site's database or user."""


def reserved_db_name(name: str) -> str | None:
    """Why `name` cannot be a site's database or user name, or None when it can."""
    if name in RESERVED_DB_NAMES:
        return "a system database name or pg_hba keyword"
    if name.startswith(RESERVED_DB_PREFIXES):
        return "reserved by PostgreSQL (the pg_ prefix)"
    return None

RESERVED_SITES = frozenset({"www", "ns", "ns1", "ns2", "mail", "smtp", "localhost", "admin"})
"""Labels the platform keeps for itself (besides the static records of the zone)."""


def default_db_name(site: str) -> str:
    """The database name a site gets when the request does not name one."""
    return site.replace("-", "_")


def system_user(site: str) -> str:
    """The Unix user (and group) owning the site's files."""
    return f"s-{site}"


def fqdn(site: str, zone: str) -> str:
    """The site's host name in the zone."""
    return f"{site}.{zone}"


def is_host_in_zone(name: str, zone: str) -> bool:
    """True for a name strictly below the zone (not the apex), all of whose labels are valid."""
    suffix = "." + zone
    if not name.endswith(suffix) or len(name) > 253:
        return False
    return all(LABEL_RE.fullmatch(label) for label in name[: -len(suffix)].split("."))


def relative_name(name: str, zone: str) -> str:
    """`www.disdik.kab-contoh.go.id` -> `www.disdik` (the owner name in the zone file)."""
    return name[: -(len(zone) + 1)]
