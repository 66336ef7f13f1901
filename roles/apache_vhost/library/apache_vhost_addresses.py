#!/usr/bin/python3
"""Add the touched sites' IPs to the site interface and name the stale ones, in one call.

It was two remote calls (read the addresses, then one `ip -batch` for the missing ones) and a
Jinja pass over every served site to find the stale addresses (issue 16). The stale ones are
only named here: they are removed at the end of the role, once no node-wide file references
them any more.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped,unused-ignore]

DOCUMENTATION = r"""
module: apache_vhost_addresses
short_description: Add the touched sites' addresses to an interface; name the stale ones
description:
  - Reads the IPv4 addresses of C(interface) (C(ip -o -4 addr show)), adds every address of
    C(add) that is missing with C(prefix) and C(label), all in one C(ip -batch) (it stops at
    the first address the kernel refuses, and the next run adds the rest).
  - Returns C(stale), the addresses carrying C(label) that are not in C(served) (a
    decommissioned site's, a changed IP's); it removes none.
  - In check mode it adds nothing and reports what it would add.
options:
  interface: {description: The site interface., type: str, required: true}
  prefix: {description: The prefix length of the site addresses., type: int, required: true}
  label: {description: The site addresses' label (<interface>:opd)., type: str, required: true}
  add: {description: The touched sites' addresses., type: list, elements: str, default: []}
  served: {description: Every served site's address., type: list, elements: str, default: []}
"""

RETURN = r"""
added: {description: The addresses added (or that would be)., type: list, returned: always}
stale: {description: Labelled addresses no served site uses., type: list, returned: always}
"""

INET = re.compile(r"\sinet ([0-9.]+)/\d+ .*")


def _address(value: str) -> str:
    """A dotted IPv4 address as ip prints it (raises ValueError otherwise)."""
    return str(ipaddress.IPv4Address(value))


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "interface": {"type": "str", "required": True},
            "prefix": {"type": "int", "required": True},
            "label": {"type": "str", "required": True},
            "add": {"type": "list", "elements": "str", "default": []},
            "served": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    p: dict[str, Any] = module.params
    try:
        wanted = [_address(a) for a in p["add"]]
        served = {_address(a) for a in p["served"]}
    except ValueError as exc:
        module.fail_json(msg=f"not an IPv4 address: {exc}")
    if not 0 < p["prefix"] <= 32:  # IPv4
        module.fail_json(msg=f"prefix {p['prefix']} is not 1-32")
    rc, out, err = module.run_command(["ip", "-o", "-4", "addr", "show", "dev", p["interface"]])
    if rc != 0:
        module.fail_json(msg=f"ip addr show dev {p['interface']}: {err.strip()}", rc=rc)
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
    if added and not module.check_mode:
        batch = "".join(
            f"addr add {a}/{p['prefix']} dev {p['interface']} label {p['label']}\n" for a in added
        )
        rc, out, err = module.run_command(["ip", "-batch", "-"], data=batch)
        if rc != 0:
            module.fail_json(msg=f"ip -batch: {err.strip() or out.strip()}", rc=rc, added=[])
    module.exit_json(changed=bool(added), added=added, stale=sorted(stale))


if __name__ == "__main__":
    main()
