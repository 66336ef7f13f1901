#!/usr/bin/python3
"""Read-only probe: what every site on a web node used in the asked months, in one call.

Why a module: the usage collection must cost seconds at 500 sites, so each web node is asked
once (as the drift probes do), not once per site and per measure. Per site it reads:

- disk: the bytes its home holds (allocated blocks, hard links once, links not followed);
- traffic: requests, bytes sent, 4xx and 5xx answers and the busiest minute, per day, from
  the site's access logs (the current file and its rotations, gzip or not);
- the tc class counters of the site's HTB class (the bandwidth role's rule: class
  1:<low 16 bits of the site IP, hex>), a cross-check of the logs' bytes.

Where a site's home and logs are is read from the Apache configuration that is loaded (the
virtual hosts carrying `X-Opdhost-Site: <site>`: their DocumentRoot's parent and their
CustomLog), so the probe follows the apache_vhost role wherever it puts them. Nothing about a
visitor (address, user, referrer, agent, path) leaves the node: only counts per day. It never
changes anything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import gzip
import ipaddress
import os
import re
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: opdhost_usage_web
short_description: Per-site disk, traffic and error counts of a web node, for the asked months
description:
  - Read-only; always C(changed=false). Returns counts only, never a visitor's address.
options:
  sites:
    description: Entries of apache_vhost_sites (site, ip, status).
    type: list
    elements: dict
    required: true
  months:
    description: Months to count traffic for, C(YYYY-MM).
    type: list
    elements: str
    required: true
  apache_config:
    description: Glob of the Apache configuration files that are loaded.
    type: str
    default: /etc/apache2/sites-enabled/*.conf
  from_day:
    description:
      - Count only days from this one (C(YYYY-MM-DD)) and read only the logs written since the
        day before it; the days before are already in the record (a later collection of the
        same month). Empty - the whole months.
    type: str
    default: ''
  interface:
    description: The interface carrying the bandwidth role's HTB classes ('' for none).
    type: str
    default: ''
"""

RETURN = r"""
usage:
  description: site -> {disk_bytes, files, home, logs, days, tc}
  type: dict
  returned: always
problems:
  description: What could not be read (site and reason), e.g. a log not readable.
  type: list
  returned: always
"""

# The opdhost_usage LogFormat of apache_vhost:
#   %v %h %l %u %t "%r" %>s %I %O %D "%{Referer}i" "%{User-Agent}i"
# Only the time, the status and the bytes sent (%O) are taken.
LINE = re.compile(
    rb"^\S+ \S+ \S+ \S+ \[(\d{2})/(\w{3})/(\d{4}):(\d{2}):(\d{2}):\d{2} [^\]]*\] "
    rb'"(?:[^"\\]|\\.)*" (\d{3}) (?:\d+|-) (\d+|-)'
)
MONTHS = {
    m.encode(): i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
HEADER = re.compile(r'^\s*Header\s+always\s+set\s+X-Opdhost-Site\s+"?([a-z0-9-]+)"?\s*$', re.I)
DOCROOT = re.compile(r"^\s*DocumentRoot\s+\"?([^\s\"]+)\"?\s*$", re.I)
CUSTOMLOG = re.compile(r"^\s*CustomLog\s+\"?([^\s\"]+)\"?\s+opdhost_usage\s*$", re.I)


def site_paths(config_glob: str) -> dict[str, dict[str, set[str]]]:
    """site -> {'homes': {...}, 'logs': {...}} from the loaded virtual hosts."""
    found: dict[str, dict[str, set[str]]] = {}
    for path in sorted(glob.glob(config_glob)):
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                lines = fh.readlines()
        except OSError:
            continue
        block: dict[str, Any] | None = None
        for line in lines:
            stripped = line.strip()
            if stripped.lower().startswith("<virtualhost"):
                block = {"site": None, "root": None, "logs": set()}
            elif stripped.lower().startswith("</virtualhost") and block is not None:
                if block["site"]:
                    entry = found.setdefault(block["site"], {"homes": set(), "logs": set()})
                    if block["root"]:
                        entry["homes"].add(os.path.dirname(block["root"].rstrip("/")))
                    entry["logs"].update(block["logs"])
                block = None
            elif block is not None:
                for pattern, key in ((HEADER, "site"), (DOCROOT, "root"), (CUSTOMLOG, "logs")):
                    match = pattern.match(line)
                    if match and key == "logs":
                        block["logs"].add(match.group(1))
                    elif match:
                        block[key] = match.group(1)
    return found


def disk_usage(home: str) -> tuple[int, int]:
    """Bytes allocated under home (as `du -x` counts them) and the number of files.

    Like `du -x`, a directory on another device is not entered: on a web node with storage
    quotas the home's logs/ is a subvolume of its own (not counted against storage_mb, so a
    full site keeps logging), and what this returns is what the site's quota counts.
    """
    total, files, seen = 0, 0, set()
    try:
        device = os.lstat(home).st_dev
    except OSError:
        return 0, 0
    stack = [home]
    while stack:
        top = stack.pop()
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            if st.st_dev != device:
                continue
            total += st.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            else:
                files += 1
    with contextlib.suppress(OSError):
        total += os.lstat(home).st_blocks * 512
    return total, files


def _open(path: str) -> Any:
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def log_files(log: str, since: float) -> list[str]:
    """The log and its rotations (log.1, log.2.gz, ...) modified since `since`."""
    out = []
    for path in [log, *sorted(glob.glob(glob.escape(log) + ".*"))]:
        try:
            if os.path.isfile(path) and os.path.getmtime(path) >= since:
                out.append(path)
        except OSError:
            continue
    return out


def count_traffic(
    paths: list[str], months: set[str], from_day: str = ""
) -> dict[str, dict[str, Any]]:
    """day -> {requests, bytes, errors_4xx, errors_5xx, peak_bytes_minute} for the months
    (from `from_day` on, when given)."""
    days: dict[str, dict[str, Any]] = {}
    minutes: dict[str, dict[int, int]] = {}
    for path in paths:
        with _open(path) as fh:
            for raw in fh:
                match = LINE.match(raw)
                if match is None:
                    continue
                dd, mon, yyyy, hh, mm, status, sent = match.groups()
                month = MONTHS.get(mon)
                if month is None:
                    continue
                key_month = f"{yyyy.decode()}-{month:02d}"
                if key_month not in months:
                    continue
                day = f"{key_month}-{dd.decode()}"
                if day < from_day:
                    continue
                row = days.get(day)
                if row is None:
                    row = days[day] = {
                        "requests": 0,
                        "bytes": 0,
                        "errors_4xx": 0,
                        "errors_5xx": 0,
                    }
                    minutes[day] = {}
                size = 0 if sent == b"-" else int(sent)
                row["requests"] += 1
                row["bytes"] += size
                code = int(status)
                if 500 <= code < 600:
                    row["errors_5xx"] += 1
                elif 400 <= code < 500:
                    row["errors_4xx"] += 1
                minute = int(hh) * 60 + int(mm)
                minutes[day][minute] = minutes[day].get(minute, 0) + size
    for day, row in days.items():
        row["peak_bytes_minute"] = max(minutes[day].values(), default=0)
    return days


TC_CLASS = re.compile(r"^class \S+ (\S+) .*?\n\s*Sent (\d+) bytes (\d+) pkt", re.M | re.S)


def parse_tc(text: str) -> dict[str, dict[str, int]]:
    """classid -> {bytes, packets} from `tc -s class show` (iproute2 prints no JSON for it)."""
    return {
        handle: {"bytes": int(sent), "packets": int(packets)}
        for handle, sent, packets in TC_CLASS.findall(text)
    }


def tc_counters(module: AnsibleModule, interface: str) -> dict[str, dict[str, int]]:
    """classid -> {bytes, packets} of the HTB classes on the interface ({} when none)."""
    if not interface:
        return {}
    rc, out, _err = module.run_command(["tc", "-s", "class", "show", "dev", interface])
    return parse_tc(out or "") if rc == 0 else {}


def read_since(months: list[str], from_day: str) -> float:
    """The oldest modification time a log can have and still hold a line to count: a line of
    local day D was written after D 00:00 UTC - 14 h, and its file modified after it."""
    first = max(min(months) + "-01", from_day)
    start = dt.datetime(int(first[:4]), int(first[5:7]), int(first[8:10]), tzinfo=dt.UTC)
    return start.timestamp() - 86400


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "sites": {"type": "list", "elements": "dict", "required": True},
            "months": {"type": "list", "elements": "str", "required": True},
            "apache_config": {"type": "str", "default": "/etc/apache2/sites-enabled/*.conf"},
            "interface": {"type": "str", "default": ""},
            "from_day": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    months = module.params["months"]
    bad = [m for m in months if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", m)]
    if bad or not months:
        module.fail_json(msg=f"months must be YYYY-MM, got {bad or months}")
    from_day = module.params["from_day"]
    if from_day and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", from_day):
        module.fail_json(msg=f"from_day must be YYYY-MM-DD, got {from_day!r}")
    since = read_since(months, from_day)
    paths = site_paths(module.params["apache_config"])
    counters = tc_counters(module, module.params["interface"])
    usage: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    for site in module.params["sites"]:
        name = str(site["site"])
        if site.get("status") == "decommissioned":
            continue
        where = paths.get(name, {"homes": set(), "logs": set()})
        homes, logs = sorted(where["homes"]), sorted(where["logs"])
        if not homes:
            problems.append({"site": name, "problem": "no loaded virtual host names its home"})
        disk, files = 0, 0
        for home in homes:
            used, count = disk_usage(home)
            disk, files = disk + used, files + count
        days: dict[str, dict[str, Any]] = {}
        for log in logs:
            try:
                for day, row in count_traffic(log_files(log, since), set(months), from_day).items():
                    into = days.setdefault(day, {k: 0 for k in row})
                    for key, value in row.items():
                        if key == "peak_bytes_minute":
                            into[key] = max(into[key], value)
                        else:
                            into[key] += value
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                problems.append({"site": name, "problem": f"log {log}: {exc}"})
        tc = None
        try:
            minor = f"1:{int(ipaddress.IPv4Address(str(site.get('ip', '')))) & 0xFFFF:x}"
            tc = counters.get(minor)
        except ValueError:
            pass
        usage[name] = {
            "disk_bytes": disk,
            "files": files,
            "homes": homes,
            "logs": logs,
            "days": dict(sorted(days.items())),
            "tc": tc,
        }
    module.exit_json(changed=False, usage=usage, problems=problems)


if __name__ == "__main__":
    main()
