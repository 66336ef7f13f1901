"""The apache_vhost role's second look at its site list: every problem of every entry, at once.

opdhost validates the requests before it renders ``apache_vhost_sites``; this check keeps a bad
value from ever reaching Apache, sshd, PHP-FPM or a shell whoever calls the role. It used to be
fifteen Jinja expressions over the whole list, evaluated again on every run: about 0.9 s of the
controller at 500 sites, on the critical path of a one-site apply (issue 16). Here it is one
pass in Python (milliseconds), and each problem names the entry, the field and the value.

Patterns are whole-value matches (``fullmatch``): Python's ``$`` also matches before a final
newline, so "disdik\\n" would pass a ``$``-anchored pattern and put a line break into the
Apache or pool configuration.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

SITE = re.compile(r"[a-z][a-z0-9-]{0,28}[a-z0-9]")
NAME = re.compile(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IP = re.compile(rf"({_OCTET}\.){{3}}{_OCTET}")
KEY = re.compile(
    r"(ssh-ed25519|sk-ssh-ed25519@openssh\.com|ecdsa-sha2-nistp(256|384|521)"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com|ssh-rsa) [A-Za-z0-9+/]+={0,2}"
)
FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")
PORT = re.compile(r"[0-9]{1,5}")
DB_NAME = re.compile(r"[a-z][a-z0-9_]{0,30}")
STORAGE_MB = re.compile(r"[1-9][0-9]{0,6}")
ENGINES = ("mariadb", "postgresql")


def _shown(value: Any) -> str:
    """The value as JSON, so that a newline or a type shows (\\n, a number, null)."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    """A string that the pattern matches as a whole (numbers count as their digits)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return False
    return pattern.fullmatch(str(value)) is not None


def _entry_errors(index: int, entry: Any) -> list[str]:
    """The problems of one entry on its own."""
    if not isinstance(entry, dict):
        return [f"entry {index}: not a mapping"]
    at = f"entry {index} ({_shown(entry.get('site'))})"
    errors: list[str] = []

    def need(ok: bool, field: str, value: Any, rule: str) -> None:
        if not ok:
            errors.append(f"{at}: {field} {_shown(value)} is not {rule}")

    site = entry.get("site")
    need(_matches(SITE, site), "site", site, "a DNS label of 2-30 characters")
    need(_matches(NAME, entry.get("fqdn")), "fqdn", entry.get("fqdn"), "a lower-case DNS name")
    aliases = entry.get("aliases") or []
    if not isinstance(aliases, list):
        errors.append(f"{at}: aliases {_shown(aliases)} is not a list")
        aliases = []
    for alias in aliases:
        need(_matches(NAME, alias), "alias", alias, "a lower-case DNS name")
    need(_matches(IP, entry.get("ip")), "ip", entry.get("ip"), "a dotted IPv4 address")
    user = entry.get("user")
    need(isinstance(site, str) and user == f"s-{site}", "user", user, f"s-{site}")
    keys = entry.get("sftp_keys") or []
    if not isinstance(keys, list):
        errors.append(f"{at}: sftp_keys {_shown(keys)} is not a list")
        keys = []
    for item in keys:
        key = item if isinstance(item, dict) else {}
        need(_matches(KEY, key.get("key")), "sftp key", key.get("key"), "'TYPE BASE64'")
        need(
            _matches(FINGERPRINT, key.get("fingerprint")), "fingerprint", key.get("fingerprint"),
            "SHA256:<43 base64 characters>",
        )  # fmt: skip
    database = entry.get("database")
    if database:
        if not isinstance(database, dict):
            errors.append(f"{at}: database {_shown(database)} is not a mapping")
        else:
            engine = database.get("engine")
            need(engine in ENGINES, "database engine", engine, "mariadb or postgresql")
            need(_matches(IP, database.get("host")), "database host", database.get("host"),
                 "a dotted IPv4 address")  # fmt: skip
            need(_matches(PORT, database.get("port")), "database port", database.get("port"),
                 "a number")  # fmt: skip
            for field in ("name", "user"):
                need(_matches(DB_NAME, database.get(field)), f"database {field}",
                     database.get(field), "^[a-z][a-z0-9_]{0,30}")  # fmt: skip
    storage = entry.get("storage_mb")
    need(_matches(STORAGE_MB, storage), "storage_mb", storage, "a whole number from 1 to 9999999")
    return errors


def apache_vhost_input_errors(sites: Any) -> list[str]:
    """Every problem of `apache_vhost_sites`, empty when the whole list is usable.

    Each entry on its own (shapes), then across entries: a site name listed once, one IP per
    served (not decommissioned) site, each name (fqdn or alias) served by one site only.
    """
    if not isinstance(sites, list):
        return [f"apache_vhost_sites is not a list but {_shown(sites)}"]
    errors = [e for index, entry in enumerate(sites, 1) for e in _entry_errors(index, entry)]
    entries = [s for s in sites if isinstance(s, dict)]
    served = [s for s in entries if s.get("status") != "decommissioned"]
    names = [s.get("fqdn") for s in served]
    names += [a for s in served if isinstance(s.get("aliases"), list) for a in s["aliases"]]
    for what, values in (
        ("site", [s.get("site") for s in entries]),
        ("ip of a served site", [s.get("ip") for s in served]),
        ("name of a served site", names),
    ):
        counts = Counter(_shown(v) for v in values)
        errors += [f"{what} {value} is listed {n} times" for value, n in counts.items() if n > 1]
    return errors


class FilterModule:
    """Ansible's entry point for the filters of this file."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        """The filter names and their functions."""
        return {"apache_vhost_input_errors": apache_vhost_input_errors}
