#!/usr/bin/env python3
"""Benchmark: the cost of a usage collection over N sites (default 500).

A real collection is one Ansible run: on each web node one call of
playbooks/library/opdhost_usage_web.py, on each database node the database role's quota step
(one catalog query per engine), then the fold into the month's record. Applying 500 hostings
to the lab only to measure this would take longer than the rest of the work (docs/apply.md),
so the web node's share, the part that grows with the fleet, is measured on the lab's web1
container with a synthetic fleet kept under /tmp/opdhost-bench-usage (never in /srv/www):

  probe     the web probe itself, called by Ansible over the lab's SSH as a collection calls
            it (start-up and transfer included), over N sites, each
            with a home of F files and an access log of L lines this month (and one rotated
            gzip log)
  fold      the controller's part: N sites of probe output folded, merged and written as
            the month's record (records in a temporary directory)

and prints both, per site and in total. Add the fixed cost of one Ansible run on the lab (the
playbook with the example fleet: `opdhost usage collect`, printed in seconds) to read the whole.

    .venv/bin/python scripts/bench/bench_usage.py [N] [--files F] [--lines L]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from opdhost.apply.records import Records
from opdhost.fleet.loading import load_working_tree
from opdhost.usage import store
from opdhost.usage.collect import NodeResults, fold
from opdhost.usage.period import Month
from synth import make_fleet

REPO = Path(__file__).resolve().parents[2]
PROBE = REPO / "playbooks" / "library" / "opdhost_usage_web.py"
NODE = "opdhost-lab-web1"
BENCH = "/tmp/opdhost-bench-usage"

# Builds the synthetic fleet inside the node: config, homes, logs. Arguments: N F L month.
MAKE = r"""
import gzip, os, random, sys
n, files, lines, month = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
base = "/tmp/opdhost-bench-usage"
os.makedirs(base + "/sites-enabled", exist_ok=True)
mon = ["Jan","Feb","Mar","Apr","May","Jun","Jul","Aug","Sep","Oct","Nov","Dec"][int(month[5:]) - 1]
year = month[:4]
conf = []
for i in range(n):
    site = f"s{i:04d}"
    home = f"{base}/www/{site}"
    os.makedirs(home + "/public", exist_ok=True)
    os.makedirs(home + "/logs", exist_ok=True)
    for f in range(files):
        with open(f"{home}/public/f{f}.html", "wb") as fh:
            fh.write(b"x" * random.randint(100, 20000))
    rows = []
    for k in range(lines):
        day = 1 + k % 28
        stamp = f"{day:02d}/{mon}/{year}:{k % 24:02d}:{k % 60:02d}:00 +0700"
        status = 500 if k % 97 == 0 else 200
        rows.append(f'{site}.x 10.0.{k % 250}.{k % 200} - - [{stamp}] "GET /p{k} HTTP/1.1" '
                    f'{status} 300 {k * 7 % 50000} 900 "-" "bench"\n')
    with open(home + "/logs/access.log", "w") as fh:
        fh.writelines(rows[: lines // 2])
    with gzip.open(home + "/logs/access.log.2.gz", "wt") as fh:
        fh.writelines(rows[lines // 2 :])
    conf.append(f"<VirtualHost 10.1.{i // 250}.{i % 250}:443>\n    DocumentRoot {home}/public\n"
                f"    CustomLog {home}/logs/access.log opdhost_usage\n"
                f'    Header always set X-Opdhost-Site "{site}"\n</VirtualHost>\n')
with open(base + "/sites-enabled/bench.conf", "w") as fh:
    fh.writelines(conf)
"""


def podman(*args: str, data: str | None = None) -> subprocess.CompletedProcess[str]:
    """podman exec in web1."""
    return subprocess.run(
        ["podman", "exec", "-i", NODE, *args],
        input=data, capture_output=True, text=True, check=True, timeout=1800,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sites", nargs="?", type=int, default=500)
    parser.add_argument("--files", type=int, default=20, help="files per site home")
    parser.add_argument("--lines", type=int, default=2000, help="log lines per site this month")
    args = parser.parse_args()
    month = Month.of(dt.date.today())

    podman("rm", "-rf", BENCH)
    started = time.monotonic()
    podman("python3", "-", str(args.sites), str(args.files), str(args.lines), str(month), data=MAKE)
    print(f"made {args.sites} sites in web1:{BENCH} in {time.monotonic() - started:.1f} s")
    sites = [{"site": f"s{i:04d}", "ip": f"10.1.{i // 250}.{i % 250}", "status": "active"}
             for i in range(args.sites)]  # fmt: skip
    module_args = json.dumps({
        "sites": sites, "months": [str(month)], "interface": "eth0",
        "apache_config": f"{BENCH}/sites-enabled/*.conf"})  # fmt: skip

    # As a collection calls it: Ansible over the lab's SSH connection, the page cache warm
    # after the first round (as on a node whose logs Apache just wrote).
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "ANSIBLE_LIBRARY": str(PROBE.parent), "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
           "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_NOCOLOR": "1"}  # fmt: skip
    ansible = Path(sys.executable).parent / "ansible"
    inventory = REPO / "inventories" / "lab" / "hosts.yml"
    times = []
    output: dict[str, object] = {}
    for _ in range(3):
        started = time.monotonic()
        done = subprocess.run(
            [str(ansible), "web1", "-i", str(inventory), "-m", "opdhost_usage_web",
             "-a", module_args],
            capture_output=True, text=True, env=env, timeout=1800, check=False,
        )  # fmt: skip
        times.append(time.monotonic() - started)
        try:
            plays = json.loads(done.stdout)["plays"]
            output = plays[0]["tasks"][0]["hosts"]["web1"]
        except (ValueError, KeyError, IndexError):
            sys.exit(f"ansible failed: {done.stdout[-1000:]} {done.stderr[-1000:]}")
    usage = output.get("usage")
    if not isinstance(usage, dict) or len(usage) != args.sites:
        sys.exit(f"the probe did not return {args.sites} sites: {str(output)[:500]}")
    probe = min(times)
    lines = args.sites * args.lines
    print(f"probe on web1: {probe:.2f} s for {args.sites} sites ({lines} log lines, "
          f"{args.sites * args.files} files): {1000 * probe / args.sites:.1f} ms per site "
          f"(rounds: {', '.join(f'{t:.2f}' for t in times)})")  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        fleet_root = Path(tmp) / "fleet"
        make_fleet(args.sites, fleet_root)
        requests = load_working_tree(fleet_root).requests
        by_site = {r.site: r for r in requests}
        web: dict[str, dict[str, object]] = {}
        values = list(usage.values())
        for i, req in enumerate(sorted(by_site.values(), key=lambda r: r.site)):
            web.setdefault(req.web.node, {})[req.site] = values[i % len(values)]
        started = time.monotonic()
        record = fold(requests, NodeResults(web=web), month, "bench", "2026-01-01T00:00:00Z")  # type: ignore[arg-type]
        records = Records(Path(tmp) / "records", "bench")
        path = store.save(records, month, store.merge(store.load(records, month), record))
        fold_s = time.monotonic() - started
        size = path.stat().st_size
    print(f"fold + record on the controller: {fold_s:.2f} s for {len(requests)} sites "
          f"(record {size // 1024} KiB)")  # fmt: skip
    podman("rm", "-rf", BENCH)


if __name__ == "__main__":
    main()
