"""`opdhost lab up | status | down` against the real lab: what a developer relies on.

Every test leaves the lab up and healthy, so other tests marked `lab` can run after these.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import dns.message
import dns.query
import dns.rdataclass
import dns.rdatatype
import pytest
from opdhost.lab.nodes import NETWORK, NODES

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab_up")]
BYSTANDER = "opdhost-lab-test-bystander"
Run = Callable[..., subprocess.CompletedProcess[str]]


def _http_status(url: str) -> int:
    """The HTTP status Apache answers with (any status: 404 once roles replaced the default
    site); a refused or unanswered connection raises."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # the lab's own address only
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_status_shows_every_node_healthy(opdhost: Run) -> None:
    proc = opdhost("lab", "status")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for node in NODES:
        row = next(line for line in proc.stdout.splitlines() if line.split()[:1] == [node.name])
        assert "running" in row and node.address in row
        for service in node.services:
            assert f"{service}:active" in row
    assert "lab is healthy" in proc.stdout


def test_second_up_reuses_everything_quickly(opdhost: Run) -> None:
    start = time.monotonic()
    proc = opdhost("lab", "up")
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert f"network {NETWORK}: reused" in proc.stdout
    assert proc.stdout.count(": reused; services already active") == len(NODES)
    assert elapsed < 15  # ~1 s on an idle machine


def test_nodes_answer_on_their_contract_addresses(run: Run) -> None:
    by_name = {node.name: node for node in NODES}
    for web in ("web1", "web2"):
        assert 200 <= _http_status(f"http://{by_name[web].address}/") < 600
    for ns in ("ns1", "ns2"):
        query = dns.message.make_query("version.bind", dns.rdatatype.TXT, dns.rdataclass.CH)
        answer = dns.query.udp(query, by_name[ns].address, timeout=5)
        assert answer.id == query.id
    for db_node in ("db1", "db2"):  # each serves both engines
        container = by_name[db_node].container
        db = run("podman", "exec", container, "mariadb", "-N", "-e", "SELECT 1")
        assert db.stdout.strip() == "1", db.stderr
        pg = run("podman", "exec", "-u", "postgres", container, "psql", "-tAc", "SELECT 1")
        assert pg.stdout.strip() == "1", pg.stderr


@pytest.mark.parametrize("web", ["web1", "web2"])
def test_web_nodes_can_shape_traffic_with_tc(run: Run, web: str) -> None:
    proc = run("podman", "exec", f"opdhost-lab-{web}", "tc", "qdisc", "show", "dev", "eth0")
    assert proc.returncode == 0, proc.stderr


def test_a_site_ip_from_the_pool_answers_from_the_host(run: Run) -> None:
    """What apache_vhost relies on: an address added on web1 is reachable from the host.

    .180: inside web1's pool, above the example requests, below the e2e tests' .190-.199.
    """
    ip = "10.203.0.180"
    held = run("podman", "exec", "opdhost-lab-web1", "ip", "-o", "addr", "show", "dev", "eth0")
    if f" {ip}/" in held.stdout:
        pytest.skip(f"{ip} is in use on web1")
    add = run("podman", "exec", "opdhost-lab-web1", "ip", "addr", "add", f"{ip}/24", "dev", "eth0")
    assert add.returncode == 0, add.stderr
    try:
        assert 200 <= _http_status(f"http://{ip}/") < 600
    finally:
        run("podman", "exec", "opdhost-lab-web1", "ip", "addr", "del", f"{ip}/24", "dev", "eth0")


def test_up_recreates_a_stopped_node(opdhost: Run, run: Run) -> None:
    assert run("podman", "stop", "-t", "0", "opdhost-lab-ns2").returncode == 0
    status = opdhost("lab", "status")
    assert status.returncode == 1
    assert re.search(r"ns2 .*(exited|stopped)", status.stdout)
    proc = opdhost("lab", "up")
    assert proc.returncode == 0, proc.stderr
    assert "ns2 (opdhost-lab-ns2): recreated (container is" in proc.stdout
    assert opdhost("lab", "status").returncode == 0


def test_up_restarts_stopped_services(opdhost: Run, run: Run) -> None:
    """Also the PostgreSQL cluster, which stops while postgresql.service stays 'active'."""
    stop = ("systemctl", "stop", "mariadb", "postgresql@15-main")
    assert run("podman", "exec", "opdhost-lab-db1", *stop).returncode == 0
    status = opdhost("lab", "status")
    assert status.returncode == 1
    assert "mariadb:inactive" in status.stdout
    assert "postgresql@15-main:inactive" in status.stdout
    proc = opdhost("lab", "up")
    assert proc.returncode == 0, proc.stderr
    assert "db1 (opdhost-lab-db1): reused; started mariadb, postgresql@15-main" in proc.stdout
    pg = run("podman", "exec", "-u", "postgres", "opdhost-lab-db1", "psql", "-tAc", "SELECT 1")
    assert pg.stdout.strip() == "1", pg.stderr


def test_down_removes_only_the_lab_and_up_rebuilds_it_fast(opdhost: Run, run: Run) -> None:
    """A container that is not the lab's, even on the lab's network, is never removed."""
    made = run(
        "podman", "run", "-d", "--name", BYSTANDER, "--network", NETWORK,
        "localhost/opdhost-node:bookworm", "sleep", "600",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    try:
        refused = opdhost("lab", "down")
        assert refused.returncode == 1
        assert BYSTANDER in refused.stderr
        assert run("podman", "container", "exists", BYSTANDER).returncode == 0
        for node in NODES:
            assert run("podman", "container", "exists", node.container).returncode == 1
    finally:
        run("podman", "rm", "-f", "-t", "0", BYSTANDER)
    down = opdhost("lab", "down")
    assert down.returncode == 0, down.stderr
    assert f"network {NETWORK}: removed" in down.stdout
    assert run("podman", "network", "exists", NETWORK).returncode == 1
    assert opdhost("lab", "status").returncode == 1

    start = time.monotonic()
    up = opdhost("lab", "up")
    elapsed = time.monotonic() - start
    assert up.returncode == 0, up.stderr
    assert up.stdout.count(": created; started") == len(NODES)
    assert elapsed < 30, f"lab up took {elapsed:.1f} s (target < 30 s)"
    assert opdhost("lab", "status").returncode == 0
