"""The site addresses of a web node: add the touched sites' ones, name the stale ones.

Used by library/apache_vhost_config.py, in the same remote call that puts the node-wide files
in place: adding the addresses was a call of its own on the critical path of one new hosting
(issue 16). Site addresses carry the label <interface>:opd, so the ones no served site uses
any more (a decommissioned site's, a changed IP's) can be told apart from the node's own; they
are only named here, and removed at the end of the role once no node-wide file references
them.

Ansible finds this file in the role's module_utils/: a module of the role imports it as
``ansible.module_utils.opdhost_site_addresses``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

INET = re.compile(r"\sinet ([0-9.]+)/\d+ .*")
OPTIONS = {
    "interface": {"type": "str", "required": True},
    "prefix": {"type": "int", "required": True},
    "label": {"type": "str", "required": True},
    "add": {"type": "list", "elements": "str", "default": []},
    "served": {"type": "list", "elements": "str", "default": []},
}
"""The argument spec of the addresses option (suboptions of the module's `addresses`)."""

RunCommand = Callable[..., tuple[int, str, str]]  # AnsibleModule.run_command


class AddressError(Exception):
    """A bad address or prefix, or an `ip` command that failed; the message says which."""


def _address(value: str) -> str:
    """A dotted IPv4 address as ip prints it (raises ValueError otherwise)."""
    return str(ipaddress.IPv4Address(value))


def sync(run: RunCommand, p: dict[str, Any], check: bool) -> tuple[list[str], list[str]]:
    """Add the missing addresses of p["add"] in one `ip -batch`; (added, stale), sorted stale.

    It stops at the first address the kernel refuses (the next run adds the rest). In check
    mode nothing is added and `added` is what would be.
    """
    try:
        wanted = [_address(a) for a in p["add"]]
        served = {_address(a) for a in p["served"]}
    except ValueError as exc:
        raise AddressError(f"not an IPv4 address: {exc}") from exc
    if not 0 < p["prefix"] <= 32:  # IPv4
        raise AddressError(f"prefix {p['prefix']} is not 1-32")
    rc, out, err = run(["ip", "-o", "-4", "addr", "show", "dev", p["interface"]])
    if rc != 0:
        raise AddressError(f"ip addr show dev {p['interface']}: {err.strip()}")
    live: set[str] = set()
    stale: list[str] = []
    for line in out.splitlines():
        match = INET.search(line)
        if not match:
            continue
        live.add(match.group(1))
        # `ip -o` ends the label field with a backslash-newline marker or a space
        if re.search(rf"\s{re.escape(p['label'])}(\s|\\|$)", line) and match.group(1) not in served:
            stale.append(match.group(1))
    added = list(dict.fromkeys(a for a in wanted if a not in live))
    if added and not check:
        batch = "".join(
            f"addr add {a}/{p['prefix']} dev {p['interface']} label {p['label']}\n" for a in added
        )
        rc, out, err = run(["ip", "-batch", "-"], data=batch)
        if rc != 0:
            raise AddressError(f"ip -batch: {err.strip() or out.strip()}")
    return added, sorted(stale)
