"""Two web nodes and two database servers (issue 16): an apply visits only the nodes of the
sites it changes, and runs the web nodes side by side.

Two sites of the e2e agency, one per web node and per database server: e2emulti1 on web1
(10.203.0.176, MariaDB on db1) and e2emulti2 on web2 (10.203.0.240, PostgreSQL on db2).
One apply creates both and must visit all four nodes and the DNS servers, verify each site
from its own node's IP and its database from its own web node with its own credentials file,
and show (from ansible-runner's events in the run's artifact directory) that web1 and web2
were busy at the same time. A bandwidth change of the web2 site alone then visits web2 only.
Both sites are decommissioned at the end, so the lab is left as the other tests expect.

Cheap on purpose: three applies, each narrowed to what changed (the session fixture has
converged the lab with the examples already).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from .conftest import Platform, on_node, request_text

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ONE, TWO = "e2emulti1", "e2emulti2"
SITES = {
    # site: (IP's last octet, engine, web node, database server)
    ONE: (176, "mariadb", "web1", "db1"),
    TWO: (240, "postgresql", "web2", "db2"),
}
ADDRESSES = {"web1": "10.203.0.11", "web2": "10.203.0.12", "db1": "10.203.0.21",
             "db2": "10.203.0.22"}  # fmt: skip


def _write(platform: Platform, site: str, *, mbit: int = 10, status: str = "active") -> None:
    ip, engine, node, server = SITES[site]
    text = request_text(site, ip, engine, status, mbit, node=node, db_server=server)
    platform.write(site, ip, text=text)


def _apply(platform: Platform, message: str) -> dict[str, Any]:
    """Commit and apply, as a merge would; past the safety guard only if it asks."""
    platform.commit(message)
    rc, record, out = platform.apply()
    if rc == 1 and record is None and "--force" in out:
        rc, record, out = platform.apply("--force")
    assert rc == 0, out
    assert record is not None, out
    return record


def _checks(record: dict[str, Any], site: str) -> dict[str, dict[str, Any]]:
    return {c["what"]: c for c in record["verification"]["checks"] if c["site"] == site}


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def busy_spans(artifact_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """Per host, the (start, end) seconds of each of its tasks, from the runner's events
    (runner_on_start, then the task's result event), merged where they touch."""
    starts: dict[tuple[str, str], float] = {}
    spans: dict[str, list[tuple[float, float]]] = {}
    for path in sorted((artifact_dir / "job_events").glob("*.json")):
        event = json.loads(path.read_text())
        data = event.get("event_data") or {}
        key = (str(data.get("host")), str(data.get("task_uuid")))
        when = datetime.fromisoformat(event["created"]).timestamp()
        if event["event"] == "runner_on_start":
            starts[key] = when
        elif event["event"].startswith("runner_on_") and key in starts:
            spans.setdefault(key[0], []).append((starts.pop(key), when))
    return {host: _merged(s) for host, s in spans.items()}


def overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Seconds during which both hosts were inside a task."""
    return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)


def test_one_apply_creates_a_site_on_each_web_node_in_parallel(platform: Platform) -> None:
    for site in SITES:
        _write(platform, site)
    record = _apply(platform, "e2emulti1 on web1/db1, e2emulti2 on web2/db2: new hostings")

    assert sorted(s["site"] for s in record["sites"]) == [ONE, TWO]
    assert all(s["result"] == "ok" for s in record["sites"]), record["sites"]
    assert sorted(record["nodes"]) == ["db1", "db2", "ns1", "web1", "web2"]  # ns2 transfers
    assert all(c["ok"] for c in record["verification"]["checks"]), record["verification"]
    for site, (ip, engine, node, server) in SITES.items():
        checks = _checks(record, site)
        assert {"dns@ns1", "dns@ns2", "http", "https", "db"} <= set(checks), checks
        # the site's own answer on its own IP (held by its node), the database from its node
        assert f"https://10.203.0.{ip}:443 for {site}.kab-contoh.go.id" in checks["https"]["detail"]
        assert checks["db"]["detail"] == f"{engine} {site} as {site} from {node}: accepted"
        held = on_node(node, "ip -o addr show dev eth0").stdout
        assert f" 10.203.0.{ip}/" in held, held
        # the credentials file names the site's own server (read by line: no password shown)
        host = on_node(node, f"grep '^DB_HOST=' /srv/www/{site}/private/db.env").stdout
        assert host.strip() == f"DB_HOST={ADDRESSES[server]}", (site, node, host)
    # and nowhere else: each site lives on its own web node and database server only
    assert on_node("web2", f"test -e /srv/www/{ONE}").returncode != 0
    assert on_node("web1", f"test -e /srv/www/{TWO}").returncode != 0
    assert on_node("db1", f"test -e /etc/opdhost/secrets/mariadb-{ONE}.password").returncode == 0
    assert on_node("db2", f"test -e /etc/opdhost/secrets/mariadb-{ONE}.password").returncode != 0
    assert on_node("db2", f"test -e /etc/opdhost/secrets/postgresql-{TWO}.password").returncode == 0
    assert on_node("db1", f"test -e /etc/opdhost/secrets/postgresql-{TWO}.password").returncode != 0

    # web1 and web2 ran at the same time (the free strategy: each node at its own pace)
    spans = busy_spans(Path(record["ansible"]["artifact_dir"]))
    busy = {h: sum(e - s for s, e in spans.get(h, [])) for h in ("web1", "web2")}
    both = overlap(spans.get("web1", []), spans.get("web2", []))
    print(f"busy web1 {busy['web1']:.1f} s, web2 {busy['web2']:.1f} s, together {both:.1f} s")
    assert min(busy.values()) > 0, busy
    # one after the other would give 0; side by side, most of the less busy node's time
    assert both >= 0.2 * min(busy.values()), (busy, both)


def test_a_change_on_web2_visits_web2_only(platform: Platform) -> None:
    _write(platform, TWO, mbit=20)
    record = _apply(platform, "e2emulti2: 20 Mbit/s")
    assert [s["site"] for s in record["sites"]] == [TWO]
    assert record["sites"][0]["result"] == "ok", record["sites"]
    # bandwidth is a web node's business: not web1, not the database servers, not the DNS
    assert record["nodes"] == ["web2"]
    stats = record["ansible"]["stats"]
    assert set(stats["processed"]) == {"web2"}, stats
    # its class (the low 16 bits of 10.203.0.240: 1:f0) now shapes at 20 Mbit/s
    classes = on_node("web2", "tc class show dev eth0").stdout.splitlines()
    mine = [line for line in classes if "htb 1:f0 " in line]
    assert len(mine) == 1 and "rate 20Mbit" in mine[0], classes


def test_decommission_both(platform: Platform) -> None:
    _write(platform, ONE, status="decommissioned")
    _write(platform, TWO, mbit=20, status="decommissioned")
    record = _apply(platform, "e2emulti1, e2emulti2: decommissioned")
    assert {s["site"]: s["action"] for s in record["sites"]} == {
        ONE: "decommission",
        TWO: "decommission",
    }
    assert all(s["result"] == "ok" for s in record["sites"]), record["sites"]
    assert sorted(record["nodes"]) == ["db1", "db2", "ns1", "web1", "web2"]  # ns2 transfers
    assert on_node("web1", f"test -e /srv/www/{ONE}").returncode != 0
    assert on_node("web2", f"test -e /srv/www/{TWO}").returncode != 0
