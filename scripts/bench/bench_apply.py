#!/usr/bin/env python3
"""Benchmark `opdhost apply` on containers of its own: one new hosting, fleets, no-op --all.

    .venv/bin/python scripts/bench/bench_apply.py                 # sizes 1 100 500
    .venv/bin/python scripts/bench/bench_apply.py --sizes 1 20 --json /tmp/bench.json
    .venv/bin/python scripts/bench/bench_apply.py --sizes 1 --no-all --bulk 1 10 100
    .venv/bin/python scripts/bench/bench_apply.py --sizes 1 --no-all --two-pairs

What it measures, in one run, on four containers `opdhost-bench-{web1,db1,ns1,ns2}` (network
opdhost-bench, 10.216.0.0/21, a web1 pool of 1,500 addresses; removed at the end unless --keep):
  * adding one hosting, from `opdhost apply` to verified, to fleets of each size (the fleets
    come from synth's request generator, moved onto this platform), `--repeat` times
    in a row (default 2; the best counts, all are printed);
  * with --bulk N...: N new hostings merged at once and applied in one run, for each N in
    turn: the seconds and the cost per site (the curve of a bulk create);
  * a no-change `opdhost apply --all` over the largest fleet (every site converged again);
  * the floor: the same work for one new hosting done by a plain shell script of the
    equivalent commands through `podman exec` (user, dirs, IP, certificate, PHP pool, vhost,
    configtest + reload, tc class, database + user, zone record + serial + reload, then the
    same checks), and the ratio apply / floor;
  * what fact gathering would cost per run (`gathering: explicit` saves it).
The nodes are reached over SSH, as the lab's are (a throwaway key, ControlPersist, pipelining
from ansible.cfg); with --podman over `podman exec`, which cannot pipeline: the connection's
share. Each apply is split into its Ansible run and its verification (from the run record).
Each apply also reports its busiest node and the sum over nodes: with the free strategy a run
costs the slowest node; one play per group in sequence would cost about the sum.

With --two-pairs the lab's shape of two web nodes and two database servers (issue 16): two more
containers, `opdhost-bench-web2` (10.216.0.12, its own pool 10.216.7.0-254 and quota btrfs)
and `opdhost-bench-db2` (10.216.0.22), a platform listing db1 and db2 under each engine (every
request names its server: web1's sites db1, web2's db2; the fleet stays on web1/db1). After
the sizes (and the --all run), side by side:
  * one new hosting on web1/db1 alone and one on web2/db2 alone (best of `--repeat` each), and
    the nodes each apply visited (the run record's `nodes`): a change on web2/db2 must visit
    web2, db2 and ns1 only (ns2 transfers the record);
  * two new hostings in one apply, one per pair: wall seconds, each web node's busy intervals
    (from ansible-runner's events) and their overlap, the seconds both web nodes were inside a
    task at once (tests/e2e/test_multinode.py's measure), and the ratio to one alone (the
    slower pair's best: what a perfectly parallel run would cost).
web2's first hosting is its first TLS site: its apply makes the node's CA (the fleet's apply
set web2 up with no site); the best of --repeat counts. Figures under "two_pairs" in the
JSON; fact gathering then covers six nodes.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from opdhost.fleet.model import Engine, Runtime
from opdhost.fleet.writer import request_text
from opdhost.lab import quotafs
from synth import site_spec

REPO = Path(__file__).resolve().parents[2]
OPDHOST = Path(sys.executable).parent / "opdhost"
IMAGE = "localhost/opdhost-node:bookworm"
NETWORK = "opdhost-bench"
PREFIX = "opdhost-bench-"
SUBNET = ipaddress.IPv4Network("10.216.0.0/21")
GATEWAY = "10.216.0.1"
# SYS_ADMIN and a quota-enabled btrfs at /srv/www, as the lab's web nodes (opdhost.lab.quotafs).
WEB_CAPS = ["--cap-add", "NET_ADMIN", "--cap-add", "SYS_ADMIN"]
Nodes = dict[str, tuple[str, list[str]]]  # node -> (address, extra `podman run` arguments)
NODES: Nodes = {
    "web1": ("10.216.0.11", WEB_CAPS),
    "db1": ("10.216.0.21", []),
    "ns1": ("10.216.0.31", []),
    "ns2": ("10.216.0.32", []),
}
SECOND_PAIR: Nodes = {"web2": ("10.216.0.12", WEB_CAPS), "db2": ("10.216.0.22", [])}  # --two-pairs
SERVICES = {"web": "apache2 php8.2-fpm", "db": "mariadb postgresql", "ns": "named"}
POOL_FIRST = ipaddress.IPv4Address("10.216.1.0")
POOL_SIZE = 1500  # a fleet of 500, its new hostings and a bulk curve up to 500 in one run
POOLS = {  # web node -> (first address, size); web1's runs to 10.216.6.219, web2's is past it
    "web1": (POOL_FIRST, POOL_SIZE),
    "web2": (ipaddress.IPv4Address("10.216.7.0"), 255),
}
WWW = {web: quotafs.QuotaFs(f"bench-{web}", "/srv/www") for web in POOLS}
ZONE = "kab-contoh.go.id"


@dataclass(frozen=True)
class Pair:
    """Where a request goes: a web node and its database server (None: the engine's only one)."""

    web: str
    db: str | None = None


ONE_PAIR = (Pair("web1"),)
TWO_PAIRS = (Pair("web1", "db1"), Pair("web2", "db2"))


def run_nodes(two_pairs: bool) -> Nodes:
    """The containers of a run: web1, db1, ns1, ns2, and web2, db2 with --two-pairs."""
    return {**NODES, **SECOND_PAIR} if two_pairs else NODES


WEB_NODE = """  {web}:
    address: {address}
    interface: eth0
    pool:
      network: {subnet}
      gateway: {gateway}
      first: {first}
      last: {last}
    capacity: {{storage_mb: 100000000, bandwidth_mbit: 100000, sites: 2000}}
"""
DB_SERVER = """    - node: {db}
      address: {address}
      capacity: {{storage_mb: 100000000, databases: 2000}}
"""
DNS = f"""opdhost_dns:
  primary: {{node: ns1, address: 10.216.0.31}}
  secondaries:
    - {{node: ns2, address: 10.216.0.32}}
  static_records:
    - {{name: "@", type: NS, value: ns1.{ZONE}.}}
    - {{name: "@", type: NS, value: ns2.{ZONE}.}}
    - {{name: ns1, type: A, value: 10.216.0.31}}
    - {{name: ns2, type: A, value: 10.216.0.32}}
"""


def kind(node: str) -> str:
    """web, db or ns: the node's name without its number."""
    return node.rstrip("0123456789")


def of_kind(nodes: Nodes, what: str) -> list[str]:
    """The nodes of one kind (web, db, ns), in order."""
    return [node for node in nodes if kind(node) == what]


def platform(nodes: Nodes) -> str:
    """The benchmark platform: every web node with its pool, every db node under each engine."""
    webs = "".join(
        WEB_NODE.format(web=web, address=nodes[web][0], subnet=SUBNET, gateway=GATEWAY,
                        first=POOLS[web][0], last=POOLS[web][0] + POOLS[web][1] - 1)
        for web in of_kind(nodes, "web")
    )  # fmt: skip
    dbs = "".join(DB_SERVER.format(db=db, address=nodes[db][0]) for db in of_kind(nodes, "db"))
    return (
        "---\n# Benchmark platform (scripts/bench/bench_apply.py): the lab's shape on "
        f"opdhost-bench.\nopdhost_environment: bench\nopdhost_zone: {ZONE}\n"
        f"opdhost_web_nodes:\n{webs}opdhost_db_servers:\n"
        f"  mariadb:\n{dbs}  postgresql:\n{dbs}{DNS}"
    )


def hosts(nodes: Nodes) -> str:
    """The inventory over `podman exec`: every web and db node of the run, ns1 and ns2."""

    def group(what: str, indent: str) -> str:
        return "".join(
            f"{indent}{n}: {{ansible_host: {PREFIX}{n}}}\n" for n in of_kind(nodes, what)
        )

    return "---\nall:\n  vars:\n    ansible_connection: containers.podman.podman\n" + (
        "    ansible_python_interpreter: /usr/bin/python3\n  children:\n"
        f"    web:\n      hosts:\n{group('web', '        ')}"
        f"    db:\n      hosts:\n{group('db', '        ')}"
        "    dns:\n      children:\n"
        "        dns_primary:\n          hosts:\n"
        "            ns1: {ansible_host: opdhost-bench-ns1}\n"
        "        dns_secondary:\n          hosts:\n"
        "            ns2: {ansible_host: opdhost-bench-ns2}\n"
    )


# The floor: one new hosting by hand, the same steps the roles take, then the same checks.
FLOOR = r"""
set -euo pipefail
site=floor; ip={ip}; fqdn=floor.{zone}; pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
w() {{ podman exec -i opdhost-bench-web1 bash -euo pipefail -c "$1"; }}
d() {{ podman exec -i opdhost-bench-db1 bash -euo pipefail -c "$1"; }}
n() {{ podman exec -i opdhost-bench-$1 bash -euo pipefail -c "$2"; }}
w "getent group s-$site >/dev/null || groupadd s-$site
   id s-$site >/dev/null 2>&1 || useradd -g s-$site -d /srv/www/$site -s /usr/sbin/nologin s-$site
   btrfs subvolume create /srv/www/$site >/dev/null
   btrfs subvolume create /srv/www/$site/logs >/dev/null
   btrfs qgroup limit 256M /srv/www/$site
   install -d -o s-$site -g www-data -m 2750 /srv/www/$site/public /srv/www/$site/tmp
   echo '<?php echo \"ok\";' > /srv/www/$site/public/index.php
   ip -4 addr show dev eth0 | grep -q ' $ip/' || ip addr add $ip/32 dev eth0
   openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj /CN=$fqdn \
     -addext subjectAltName=DNS:$fqdn -keyout /etc/ssl/private/$site.key \
     -out /etc/ssl/certs/$site.crt 2>/dev/null
   cat > /etc/php/8.2/fpm/pool.d/$site.conf <<EOF
[$site]
user = s-$site
group = s-$site
listen = /run/php/$site.sock
listen.owner = www-data
listen.group = www-data
pm = ondemand
pm.max_children = 5
EOF
   cat > /etc/apache2/sites-available/zz-$site.conf <<EOF
<VirtualHost $ip:80>
  ServerName $fqdn
  DocumentRoot /srv/www/$site/public
  DirectoryIndex index.php
  <Directory /srv/www/$site/public>
    Require all granted
  </Directory>
  <FilesMatch \.php$>
    SetHandler proxy:unix:/run/php/$site.sock|fcgi://localhost
  </FilesMatch>
</VirtualHost>
<VirtualHost $ip:443>
  ServerName $fqdn
  DocumentRoot /srv/www/$site/public
  SSLEngine on
  SSLCertificateFile /etc/ssl/certs/$site.crt
  SSLCertificateKeyFile /etc/ssl/private/$site.key
  DirectoryIndex index.php
  <Directory /srv/www/$site/public>
    Require all granted
  </Directory>
  <FilesMatch \.php$>
    SetHandler proxy:unix:/run/php/$site.sock|fcgi://localhost
  </FilesMatch>
</VirtualHost>
EOF
   a2ensite -q zz-$site >/dev/null
   php-fpm8.2 -t 2>/dev/null && systemctl reload php8.2-fpm
   apache2ctl configtest 2>/dev/null && systemctl reload apache2
   tc class replace dev eth0 parent 1: classid 1:fff0 htb rate 10mbit ceil 10mbit
   tc qdisc replace dev eth0 parent 1:fff0 pfifo
   tc filter add dev eth0 parent 1: prio 1 protocol ip u32 ht 100:$(printf %x ${{ip##*.}}): \
     match ip src $ip/32 flowid 1:fff0"
d "mariadb -e \"CREATE DATABASE IF NOT EXISTS $site;
   CREATE USER IF NOT EXISTS '$site'@'10.216.0.11' IDENTIFIED BY '$pw';
   GRANT ALL ON $site.* TO '$site'@'10.216.0.11';\""
n ns1 "f=/var/lib/bind/db.{zone}
   s=\$(awk '/; serial/ {{print \$1}}' \$f); sed -i \"s/\$s ; serial/\$((s + 1)) ; serial/\" \$f
   echo '$site IN A $ip' >> \$f
   named-checkzone -q {zone} \$f && rndc reload {zone} >/dev/null"
for ns in 10.216.0.31 10.216.0.32; do
  for i in $(seq 1 600); do
    [ "$(dig +short +norecurse @$ns $fqdn A)" = "$ip" ] && break; sleep 0.1
  done
  [ "$(dig +short +norecurse @$ns $fqdn A)" = "$ip" ]
done
for scheme in http https; do
  for i in $(seq 1 600); do
    code=$(curl -sk -o /dev/null -w '%{{http_code}}' --resolve $fqdn:80:$ip \
      --resolve $fqdn:443:$ip $scheme://$fqdn/ || true)
    [ "$code" = 200 ] && break; sleep 0.1
  done
  [ "$code" = 200 ]
done
printf '%s' "$pw" | podman exec -i opdhost-bench-web1 python3 -c "import pymysql,sys
pymysql.connect(host='10.216.0.21', user='$site', password=sys.stdin.read(), database='$site')"
"""


def sh(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a command without a shell."""
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=timeout)


def hosts_ssh(key: Path, nodes: Nodes) -> str:
    """The same inventory over SSH (pipelining from ansible.cfg, ControlPersist)."""
    ssh_args = (
        "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        "-o ControlMaster=auto -o ControlPersist=300s"
    )
    head = [
        "---",
        "all:",
        "  vars:",
        "    ansible_connection: ssh",
        "    ansible_user: root",
        f"    ansible_ssh_private_key_file: {key}",
        f'    ansible_ssh_common_args: "{ssh_args}"',
        "    ansible_python_interpreter: /usr/bin/python3",
    ]
    body = hosts(nodes).split("  children:\n", 1)[1]
    for node, (address, _extra) in nodes.items():
        body = body.replace(f"ansible_host: {PREFIX}{node}", f"ansible_host: {address}")
    return "\n".join(head) + "\n  children:\n" + body


def enable_ssh(key: Path, nodes: Nodes) -> None:
    """A throwaway key for root in every benchmark container, sshd started."""
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
    public = key.with_suffix(".pub").read_text()
    script = (
        "install -d -m 0700 /root/.ssh && cat > /root/.ssh/authorized_keys && "
        "chmod 0600 /root/.ssh/authorized_keys && systemctl enable --now ssh"
    )
    for node in nodes:
        subprocess.run(
            ["podman", "exec", "-i", PREFIX + node, "sh", "-c", script],
            input=public, text=True, check=True, capture_output=True,
        )  # fmt: skip


def up(nodes: Nodes) -> None:
    """Network and the containers with systemd, their services as the lab starts them."""
    if sh("podman", "network", "exists", NETWORK, check=False).returncode != 0:
        sh("podman", "network", "create", "--subnet", str(SUBNET), "--gateway", GATEWAY,
           "--ip-range", "10.216.0.0/26", NETWORK)  # fmt: skip
    for node, (address, extra) in nodes.items():
        name = PREFIX + node
        if sh("podman", "container", "exists", name, check=False).returncode == 0:
            continue
        net = f"{NETWORK}:ip={address}"
        volumes = []
        if node in WWW:
            quotafs.make(WWW[node])
            volumes = ["--volume", WWW[node].volume_arg()]
        sh("podman", "run", "-d", "--name", name, "--hostname", node, "--network", net,
           "--systemd", "always", *extra, *volumes, IMAGE, "/sbin/init")  # fmt: skip
    for node in nodes:
        units = SERVICES[kind(node)]
        for _ in range(120):
            state = sh("podman", "exec", PREFIX + node, "systemctl", "is-system-running",
                       check=False).stdout.strip()  # fmt: skip
            if state in ("running", "degraded"):
                break
            time.sleep(0.5)
        sh("podman", "exec", PREFIX + node, "systemctl", "enable", "--now", *units.split())


def down() -> None:
    """Remove every container the benchmark may have made (with or without --two-pairs), the
    web nodes' quota file systems and the network (by exact name)."""
    for node in {**NODES, **SECOND_PAIR}:
        sh("podman", "rm", "-f", "-t", "2", PREFIX + node, check=False)
    for www in WWW.values():
        quotafs.remove(www)
    sh("podman", "network", "rm", NETWORK, check=False)


def site_request(
    index: int, *, measured: bool = False, pair: Pair = ONE_PAIR[0]
) -> tuple[str, str]:
    """synth's request `index`, moved to the pair's web node (an address of its pool) and
    database server (named only when the pair names one: the engines have several).

    `measured`: the one shape every measured new hosting has, whatever the fleet's mix (PHP,
    an alias, TLS, a MariaDB database), so every fleet size does the same work.
    """
    first, size = POOLS[pair.web]  # web1's pool holds every index (main checks); web2's
    ip = str(first + index % size)  # sites are a few consecutive indices: no two share one
    spec = replace(site_spec(index, ZONE), node=pair.web, ip=ip, db_server=pair.db)
    if measured:
        spec = replace(
            spec,
            runtime=Runtime.PHP,
            aliases=(f"www.{spec.site}.{ZONE}",),
            tls=True,
            engine=Engine.MARIADB,
            db_quota_mb=256,
        )
    return f"requests/{spec.opd_code}/{spec.site}.yaml", request_text(spec)


def write_sites(
    root: Path, start: int, stop: int, *, measured: bool = False, on: Sequence[Pair] = ONE_PAIR
) -> None:
    """Add requests start..stop-1 and commit them (a merge); they go to the pairs `on` in turn."""
    for index in range(start, stop):
        pair = on[(index - start) % len(on)]
        path, text = site_request(index, measured=measured, pair=pair)
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    sh("git", "-C", str(root), "add", "-A")
    sh("git", "-C", str(root), "commit", "-q", "--allow-empty", "-m", f"sites {start}..{stop - 1}")


def apply(root: Path, *args: str) -> tuple[float, dict[str, Any]]:
    """`opdhost apply --json`: wall seconds and the run record (fails loudly)."""
    env = {**os.environ, "OPDHOST_RECORDS_DIR": str(root / "records")}
    start = time.monotonic()
    proc = subprocess.run(
        [str(OPDHOST), "apply", "--root", str(root), "--env", "bench", "--json", "--force", *args],
        capture_output=True, text=True, env=env, timeout=6 * 3600, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"apply {' '.join(args)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    return seconds, json.loads(proc.stdout)


Spans = list[tuple[float, float]]


def task_spans(record: dict[str, Any]) -> dict[str, Spans]:
    """Per node, the (start, end) POSIX seconds of each of its tasks, from the run's
    ansible-runner events (runner_on_start, then the task's result event)."""
    ansible = record.get("ansible") or {}
    events_dir = Path(ansible.get("artifact_dir", "")) / "job_events"
    starts: dict[tuple[str, str], float] = {}
    spans: dict[str, Spans] = {}
    for path in sorted(events_dir.glob("*.json")):
        event = json.loads(path.read_text())
        data = event.get("event_data") or {}
        key = (str(data.get("host")), str(data.get("task_uuid")))
        when = datetime.fromisoformat(event["created"]).timestamp()
        if event["event"] == "runner_on_start":
            starts[key] = when
        elif event["event"].startswith("runner_on_") and key in starts:
            spans.setdefault(key[0], []).append((starts.pop(key), when))
    return spans


def node_busy(record: dict[str, Any]) -> dict[str, float]:
    """Seconds each node spent in tasks, from the run's ansible-runner events."""
    spans = task_spans(record)
    return {
        host: round(sum(end - start for start, end in spans[host]), 1) for host in sorted(spans)
    }


def merged(spans: Spans) -> Spans:
    """The spans in order, those that touch or overlap joined: a node's busy intervals."""
    out: Spans = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def overlap(a: Spans, b: Spans) -> float:
    """Seconds during which both nodes were inside a task (as tests/e2e/test_multinode.py)."""
    return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in merged(a) for s2, e2 in merged(b))


def fact_gathering(root: Path) -> float:
    """What `gather_facts: true` would add per run on the four nodes."""
    start = time.monotonic()
    inventory = str(root / "inventories" / "bench" / "hosts.yml")
    ansible = str(Path(sys.executable).parent / "ansible")
    sh(ansible, "-i", inventory, "all", "-m", "ansible.builtin.setup")
    return time.monotonic() - start


def floor(ip: str) -> float:
    """Wall seconds of the shell-script floor for one new hosting."""
    start = time.monotonic()
    proc = subprocess.run(["bash", "-xc", FLOOR.format(ip=ip, zone=ZONE)], capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"floor script failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return time.monotonic() - start


def phases(seconds: float, record: dict[str, Any]) -> dict[str, Any]:
    """Wall time, its Ansible and verification parts, and what Ansible reported changed."""
    ansible = record.get("ansible") or {}
    verification = record.get("verification") or {}
    changed = (ansible.get("stats") or {}).get("changed") or {}
    return {
        "seconds": round(seconds, 1),
        "ansible_s": ansible.get("seconds"),
        "verify_s": verification.get("seconds"),
        "sites_verified": len({c["site"] for c in verification.get("checks", [])}),
        "changed_tasks": changed,
        "busy": node_busy(record),
        "nodes": record["nodes"],
    }


def new_hostings(root: Path, index: int, on: Sequence[Pair]) -> tuple[float, dict[str, Any]]:
    """One new hosting (of the measured shape) per pair of `on`, merged and applied at once."""
    write_sites(root, index, index + len(on), measured=True, on=on)
    return apply(root)


def measure_two_pairs(root: Path, index: int, repeat: int) -> tuple[dict[str, Any], int]:
    """--two-pairs, from site `index` on: one new hosting on each pair alone (best of `repeat`,
    with the nodes each apply visited), then one per pair in a single apply; the next index.

    The fleet's apply set web2 up while it served no site, so without a local CA: its first
    hosting (TLS) must make the CA although the setup is stamped (the stamp stands only where
    the CA exists: roles/apache_vhost/tasks/main.yml).
    """
    figures: dict[str, Any] = {}
    for pair in TWO_PAIRS:
        tries = []
        for _ in range(repeat):
            seconds, record = new_hostings(root, index, (pair,))
            index += 1
            tries.append(phases(seconds, record))
            print(f"one new hosting on {pair.web}/{pair.db} alone: {seconds:.1f} s to verified, "
                  f"visiting {', '.join(record['nodes'])}", file=sys.stderr)  # fmt: skip
        best = min(tries, key=lambda t: float(t["seconds"]))
        figures[f"{pair.web}_alone"] = {
            **best, "tries_s": [t["seconds"] for t in tries],
            "tries_nodes": [t["nodes"] for t in tries],
        }  # fmt: skip
    seconds, record = new_hostings(root, index, TWO_PAIRS)
    index += len(TWO_PAIRS)
    spans = task_spans(record)
    origin = min((start for s in spans.values() for start, _ in s), default=0.0)
    webs = [pair.web for pair in TWO_PAIRS]
    intervals = {
        web: [[round(s - origin, 1), round(e - origin, 1)] for s, e in merged(spans.get(web, []))]
        for web in webs
    }
    busy = {web: round(sum(e - s for s, e in merged(spans.get(web, []))), 1) for web in webs}
    both = overlap(spans.get(webs[0], []), spans.get(webs[1], []))
    alone = max(float(figures[f"{web}_alone"]["seconds"]) for web in webs)
    figures["both_at_once"] = {
        **phases(seconds, record),
        "web_busy_s": busy,
        "web_intervals_s": intervals,  # from the run's first task start
        "overlap_s": round(both, 1),
        "overlap_share": round(both / seconds, 2),
        "one_alone_s": alone,  # the slower pair's best: what a perfectly parallel run costs
        "ratio_to_one_alone": round(seconds / alone, 2),
    }
    print(f"two new hostings at once, one per pair: {seconds:.1f} s to verified, visiting "
          f"{', '.join(record['nodes'])}; {seconds / alone:.2f}x one alone ({alone:.1f} s)",
          file=sys.stderr)  # fmt: skip
    for web in webs:
        spread = f"{intervals[web][0][0]}-{intervals[web][-1][1]} s" if intervals[web] else "-"
        print(f"  {web} busy {busy[web]:.1f} s in {len(intervals[web])} intervals ({spread}): "
              f"{intervals[web]}", file=sys.stderr)  # fmt: skip
    print(f"  {webs[0]} and {webs[1]} both inside a task: {both:.1f} s "
          f"({both / seconds:.0%} of the run)", file=sys.stderr)  # fmt: skip
    return figures, index


def make_repo(root: Path, ssh: bool, nodes: Nodes) -> None:
    """The benchmark's repository at `root`: inventory, platform, an empty requests/, git."""
    (root / "inventories" / "bench" / "group_vars" / "all").mkdir(parents=True)
    inventory = hosts(nodes)
    if ssh:
        key = root / "bench_key"
        enable_ssh(key, nodes)
        inventory = hosts_ssh(key, nodes)
    (root / "inventories" / "bench" / "hosts.yml").write_text(inventory)
    (root / "inventories" / "bench" / "group_vars" / "all" / "platform.yml").write_text(
        platform(nodes)
    )
    (root / "requests").mkdir()
    sh("git", "init", "-q", "-b", "main", str(root))
    sh("git", "-C", str(root), "config", "user.name", "bench")
    sh("git", "-C", str(root), "config", "user.email", "bench@kab-contoh.go.id")


def run(
    sizes: list[int],
    root: Path,
    ssh: bool,
    with_all: bool = True,
    repeat: int = 2,
    *,
    bulk: tuple[int, ...] = (),
    two_pairs: bool = False,
) -> dict[str, Any]:
    """The whole benchmark; returns the figures."""
    make_repo(root, ssh, run_nodes(two_pairs))
    fleet = TWO_PAIRS[:1] if two_pairs else ONE_PAIR  # the engines have two servers: name db1
    figures: dict[str, Any] = {
        "connection": "ssh" if ssh else "podman", "sizes": {}, "setup": {}, "bulk": {}
    }  # fmt: skip
    existing = 0
    for size in sorted(sizes):
        if size > existing:
            write_sites(root, existing, size, on=fleet)
            seconds, _record = apply(root)
            figures["setup"][size] = round(seconds, 1)
            existing = size
            print(f"fleet of {size}: converged in {seconds:.1f} s", file=sys.stderr)
        tries = []
        for _ in range(repeat):  # the machine is noisy: keep the best of `repeat` new hostings
            write_sites(root, existing, existing + 1, measured=True, on=fleet)
            seconds, record = apply(root)
            existing += 1
            tries.append(phases(seconds, record))
            print(f"one new hosting on a fleet of {existing - 1}: {seconds:.1f} s to verified",
                  file=sys.stderr)  # fmt: skip
        best = min(tries, key=lambda t: float(t["seconds"]))
        figures["sizes"][size] = {**best, "tries_s": [t["seconds"] for t in tries]}
    if with_all:  # over the sizes' fleet, before the bulk curve adds to it
        seconds, record = apply(root, "--all")
        figures["noop_all"] = {"sites": existing, **phases(seconds, record)}
        print(f"no-change apply --all over {existing}: {seconds:.1f} s", file=sys.stderr)
    if two_pairs:  # after the fleet (and --all over it), before the bulk curve adds to web1
        figures["two_pairs"], existing = measure_two_pairs(root, existing, repeat)
    for batch in bulk:  # N new hostings merged at once, one apply: the cost per site
        write_sites(root, existing, existing + batch, measured=True, on=fleet)
        seconds, record = apply(root)
        existing += batch
        figures["bulk"][batch] = {
            **phases(seconds, record), "per_site_s": round(seconds / batch, 2)
        }  # fmt: skip
        print(f"{batch} new hostings at once: {seconds:.1f} s ({seconds / batch:.2f} s each)",
              file=sys.stderr)  # fmt: skip
    figures["fact_gathering_s"] = round(fact_gathering(root), 1)
    print(json.dumps(figures), file=sys.stderr)
    figures["floor_s"] = round(floor(str(POOL_FIRST + POOL_SIZE - 1)), 1)
    first = figures["sizes"][min(sizes)]["seconds"]
    figures["ratio_apply_to_floor"] = round(first / figures["floor_s"], 1)
    largest = figures["sizes"][max(sizes)]["seconds"]
    figures["flatness_largest_vs_smallest"] = round(largest / first, 2)
    figures["targets"] = targets(figures)
    return figures


def targets(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 16's targets, each with this run's figure and whether it is met."""
    sizes = figures["sizes"]
    smallest, largest = min(sizes, key=int), max(sizes, key=int)
    floor_s = figures["floor_s"]
    rows: list[dict[str, Any]] = []

    def row(what: str, figure: float, unit: str, limit: float, *, least: bool = False) -> None:
        rows.append({"target": what, "figure": figure, "unit": unit, "limit": limit,
                     "met": figure >= limit if least else figure <= limit})  # fmt: skip
        if least:
            rows[-1]["at_least"] = True

    for size in sorted({smallest, largest}, key=int):
        row(f"one new hosting on a fleet of {size}, apply to verified / shell floor",
            round(sizes[size]["seconds"] / floor_s, 1), "x", 5.0)  # fmt: skip
    if largest != smallest:
        row(f"one new hosting at {largest} / at {smallest}",
            figures["flatness_largest_vs_smallest"], "x", 1.5)  # fmt: skip
    for batch, bulk in sorted(figures["bulk"].items(), key=lambda kv: int(kv[0])):
        if int(batch) >= 500:
            row(f"{batch} new hostings in one apply, verified", bulk["seconds"], "s", 180.0)
    if "noop_all" in figures and figures["noop_all"]["sites"] >= 500:
        row(f"no-change apply --all over {figures['noop_all']['sites']}",
            figures["noop_all"]["seconds"], "s", 60.0)  # fmt: skip
    if "two_pairs" in figures:
        two = figures["two_pairs"]
        want = ["db2", "ns1", "web2"]
        seen = [sorted(nodes) for nodes in two["web2_alone"]["tries_nodes"]]
        rows.append({
            "target": "a change on web2/db2 visits only web2, db2, ns1",
            "figure": "; ".join(", ".join(nodes) for nodes in seen), "unit": "nodes, per try",
            "wanted": ", ".join(want), "met": all(nodes == want for nodes in seen),
        })  # fmt: skip
        both = two["both_at_once"]
        # as tests/e2e/test_multinode.py: together at least 0.2 of the less busy web node's time
        floor_share = 0.2 * min(both["web_busy_s"].values()) / both["seconds"]
        row("web1 and web2 inside a task at the same time, share of the two-at-once run",
            both["overlap_share"], "", round(floor_share, 2), least=True)  # fmt: skip
    for r in rows:
        verdict = "met" if r["met"] else "NOT met"
        unit = f" {r['unit']}" if r["unit"] else ""
        if "wanted" in r:
            told = f"{r['figure']} (wanted {r['wanted']})"
        else:
            limit = "at least" if r.get("at_least") else "limit"
            told = f"{r['figure']}{unit} ({limit} {r['limit']}{unit})"
        print(f"target: {r['target']}: {told}: {verdict}", file=sys.stderr)
    return rows


def main() -> None:
    """Parse options, bring the containers up, measure, print, clean up."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 500])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the containers afterwards")
    parser.add_argument(
        "--repeat", type=int, default=2, help="new hostings per fleet size; the best counts"
    )
    parser.add_argument("--no-all", action="store_true", help="skip the no-change --all run")
    parser.add_argument(
        "--bulk", type=int, nargs="*", default=[],
        help="after the sizes: apply this many new hostings at once (each number in turn)",
    )  # fmt: skip
    parser.add_argument(
        "--podman", action="store_true", help="connect through podman exec instead of SSH"
    )
    parser.add_argument(
        "--two-pairs", action="store_true",
        help="add web2 and db2: each pair alone, then both at once (nodes visited, overlap)",
    )  # fmt: skip
    args = parser.parse_args()
    pair_sites = len(TWO_PAIRS) * (args.repeat + 1) + 1 if args.two_pairs else 0
    sites = max(args.sizes) + len(args.sizes) * args.repeat + sum(args.bulk) + pair_sites
    if sites + 2 > POOL_SIZE or pair_sites > POOLS["web2"][1]:
        parser.error(f"the pools hold {POOL_SIZE} sites (web1) and {POOLS['web2'][1]} (web2)")
    # A SIGTERM (a timeout's kill) exits through the `finally` below: the containers go too.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    root = Path(tempfile.mkdtemp(prefix="opdhost-bench-"))
    down()
    try:
        up(run_nodes(args.two_pairs))
        figures = run(
            args.sizes, root, not args.podman, not args.no_all, args.repeat,
            bulk=tuple(args.bulk), two_pairs=args.two_pairs,
        )  # fmt: skip
    finally:
        if not args.keep:
            down()
            shutil.rmtree(root, ignore_errors=True)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
