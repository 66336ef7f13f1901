"""Turn ``bandwidth_sites`` into the HTB classes the tc template renders.

Done in Python, not Jinja, because the class and hash-bucket numbers need arithmetic on the
address and the input must be refused as a whole (every problem at once) before anything on
the node is touched.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ansible.errors import AnsibleFilterError  # type: ignore[import-untyped,unused-ignore]  # ansible: no stubs

# Class minor of the default (non-site) class. x.y.255.255 is a broadcast address in every
# subnet of prefix /16../30, so no site IP maps onto it.
DEFAULT_MINOR = 0xFFFF

# Bounds of an HTB quantum (bytes) that keep the kernel from warning "quantum is small/big".
QUANTUM_MIN = 1514
QUANTUM_MAX = 200000

# Whole-string patterns (fullmatch, so a value ending in a newline is refused: `$` would let
# it through). A site name is a DNS label; it lands in a comment line of the tc batch file, and
# a newline in it would add a tc command. An interface name is what Linux allows (IFNAMSIZ).
SITE_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
INTERFACE = re.compile(r"[A-Za-z0-9_.-]{1,15}")
# The role's paths go unquoted into the unit's ExecStart and the if-up hook: plain absolute
# paths only (no space, quote, newline or `..`).
PATH = re.compile(r"(/[A-Za-z0-9_][A-Za-z0-9._-]*)+")


def htb_quantum(mbit: int) -> int:
    """Quantum for a class of ``mbit`` Mbit/s: rate/10 in bytes, clamped to sane bounds."""
    return max(QUANTUM_MIN, min(QUANTUM_MAX, mbit * 125000 // 10))


def _check_site(index: int, site: Any) -> list[str]:
    """Problems of one entry, empty when it is usable."""
    if not isinstance(site, dict):
        return [f"bandwidth_sites[{index}]: not a mapping"]
    name = site.get("site", f"#{index}")
    problems: list[str] = []
    if not isinstance(name, str) or not SITE_NAME.fullmatch(name):
        problems.append(
            f"bandwidth_sites[{index}]: site {name!r} is not a DNS label"
            " (lowercase letters, digits and inner hyphens, 1-63 characters)"
        )
        name = f"#{index}"
    try:
        ip = ipaddress.IPv4Address(str(site.get("ip")))
    except ValueError:
        problems.append(f"site {name}: ip {site.get('ip')!r} is not an IPv4 address")
    else:
        if int(ip) & 0xFFFF in (0, DEFAULT_MINOR):
            problems.append(f"site {name}: ip {ip} cannot be a host address (class id 0 or ffff)")
    mbit = site.get("bandwidth_mbit")
    if isinstance(mbit, bool) or not isinstance(mbit, int) or mbit < 1:
        problems.append(f"site {name}: bandwidth_mbit {mbit!r} is not a positive integer")
    return problems


def _check_scalars(interface: Any, default_mbit: Any, paths: dict[str, Any]) -> list[str]:
    """Problems of the role's other inputs: they reach the tc file, the unit and the hook."""
    problems: list[str] = [
        f"{name} {path!r} is not a plain absolute path (letters, digits, '_', '.', '-')"
        for name, path in sorted(paths.items())
        if not isinstance(path, str) or not PATH.fullmatch(path)
    ]
    if not isinstance(interface, str) or not INTERFACE.fullmatch(interface):
        problems.append(
            f"bandwidth_interface {interface!r} is not an interface name"
            " (1-15 letters, digits, '_', '.' or '-')"
        )
    if isinstance(default_mbit, bool) or not isinstance(default_mbit, int) or default_mbit < 1:
        problems.append(f"bandwidth_default_mbit {default_mbit!r} is not a positive integer")
    return problems


def bandwidth_classes(
    sites: list[dict[str, Any]],
    interface: Any = "eth0",
    default_mbit: Any = 1000,
    paths: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One class per site that is not decommissioned, sorted by IP.

    The class minor is the low 16 bits of the site IP and the hash bucket its last octet, so a
    site keeps the same class whatever else is added or removed. The interface and the default
    rate, and the paths (by variable name), are checked at the same time, so every problem is
    reported at once.
    """
    problems: list[str] = _check_scalars(interface, default_mbit, paths or {})
    classes: list[dict[str, Any]] = []
    owner_of_minor: dict[int, str] = {}
    for index, site in enumerate(sites):
        found = _check_site(index, site)
        if found:
            problems.extend(found)
            continue
        if site.get("status", "active") == "decommissioned":
            continue
        ip = ipaddress.IPv4Address(str(site["ip"]))
        minor = int(ip) & 0xFFFF
        if minor in owner_of_minor:
            problems.append(
                f"site {site['site']}: ip {ip} shares class 1:{minor:x} with site "
                f"{owner_of_minor[minor]} (same IP, or same last two octets)"
            )
            continue
        owner_of_minor[minor] = str(site["site"])
        classes.append(
            {
                "site": site["site"],
                "ip": str(ip),
                "status": site.get("status", "active"),
                "mbit": site["bandwidth_mbit"],
                "quantum": htb_quantum(site["bandwidth_mbit"]),
                "minor": f"{minor:x}",
                "bucket": f"{int(ip) & 0xFF:x}",
                "_sort": int(ip),
            }
        )
    if problems:
        raise AnsibleFilterError("invalid bandwidth input: " + "; ".join(problems))
    classes.sort(key=lambda c: c["_sort"])
    for entry in classes:
        del entry["_sort"]
    return classes


class FilterModule:
    """Filters of the bandwidth role."""

    def filters(self) -> dict[str, Any]:
        """Map filter names to functions."""
        return {"bandwidth_classes": bandwidth_classes, "bandwidth_htb_quantum": htb_quantum}
