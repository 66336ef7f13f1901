"""`opdhost apply` end to end on the lab: one new hosting, check mode, faults, decommission.

The tests run in file order and share the e2e repository (conftest.py): each leaves the lab
converged with what it committed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from opdhost.apply.lock import apply_lock

from .conftest import Platform, on_node, request_text, sh, wait_services

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _mentions(path: Path, word: str) -> bool:
    """The event file names the word (runner renames partial files: gone is False)."""
    try:
        return word in path.read_text(errors="replace")
    except FileNotFoundError:
        return False


def _site(record: dict, site: str) -> dict:
    return next(s for s in record["sites"] if s["site"] == site)


def test_one_new_hosting_is_live_and_verified(platform: Platform) -> None:
    platform.write("e2ebaru", 190)
    platform.commit("e2ebaru: new hosting")
    rc, record, out = platform.apply()
    assert rc == 0, out
    assert record is not None
    assert [s["site"] for s in record["sites"]] == ["e2ebaru"]
    assert _site(record, "e2ebaru")["result"] == "ok"
    checks = {c["what"] for c in record["verification"]["checks"] if c["site"] == "e2ebaru"}
    assert {"dns@ns1", "dns@ns2", "http", "https", "db"} <= checks
    assert all(c["ok"] for c in record["verification"]["checks"])
    assert record["commit"] and not record["dirty"]
    assert record["plan_summary"]["create"] == 1
    assert Path(record["ansible"]["artifact_dir"]).is_dir()
    # Only the nodes that hold the change: the database node, the primary DNS server, web1
    # (the secondary transfers the record: it is not visited, verify asks it all the same).
    assert sorted(record["nodes"]) == ["db1", "ns1", "web1"]
    # The site answers from the host as a user's browser would.
    page = sh(
        "curl",
        "-sk",
        "--resolve",
        "e2ebaru.kab-contoh.go.id:443:10.203.0.190",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "https://e2ebaru.kab-contoh.go.id/",
    )
    assert page.stdout.startswith(("2", "3", "4")), page.stdout


def test_nothing_changed_runs_nothing(platform: Platform) -> None:
    rc, record, out = platform.apply()
    assert rc == 0, out
    assert record is not None and record["ansible"] is None and record["nodes"] == []


def test_check_mode_shows_the_diff_and_changes_nothing(platform: Platform) -> None:
    platform.write("e2ebaru", 190, mbit=20)
    platform.commit("e2ebaru: 20 Mbit/s")
    before = platform.state()
    proc = subprocess.run(
        [*platform.argv("--check")[:-2], "--check"],
        capture_output=True,
        text=True,
        env=platform.env(),
        timeout=900,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr  # 2: the hosts differ (drift)
    assert "20mbit" in proc.stdout or "20" in proc.stdout
    assert "--- web1:" in proc.stdout
    assert "drift: the hosts differ from the repository:" in proc.stderr
    assert platform.state() == before
    rc, record, out = platform.apply()
    assert rc == 0, out
    assert record is not None and record["nodes"] == ["web1"]


def test_broken_request_never_reaches_the_hosts(platform: Platform) -> None:
    runs = platform.runs()
    good = request_text("e2erusak", 193)
    path = platform.write("e2erusak", 193, text=good.replace("10.203.0.193", "10.203.9.193"))
    try:
        rc, record, out = platform.apply()
        assert rc == 1
        assert record is None
        assert "requests/e2e/e2erusak.yaml:" in out and "web.ip" in out
        assert platform.runs() == runs
        assert on_node("web1", "ls /srv/www/e2erusak").returncode != 0
    finally:
        path.unlink()


def test_second_apply_on_the_same_inventory_is_refused(platform: Platform) -> None:
    with apply_lock(platform.root / "inventories" / "lab" / "hosts.yml"):
        rc, record, out = platform.apply()
    assert rc == 1 and record is None
    assert "another `opdhost apply` is running" in out


def test_database_node_down_fails_that_site_then_converges(platform: Platform) -> None:
    platform.write("e2edb", 191, engine="postgresql")
    platform.commit("e2edb: new hosting with PostgreSQL")
    sh("podman", "stop", "-t", "5", "opdhost-lab-db1")
    try:
        rc, record, out = platform.apply()
    finally:
        sh("podman", "start", "opdhost-lab-db1")
    assert rc == 1, out
    assert record is not None and record["result"] == "failed"
    assert [s["site"] for s in record["sites"]] == ["e2edb"]
    failed = _site(record, "e2edb")
    assert failed["result"] == "failed" and failed["step"].startswith("db1"), failed
    wait_services("db1", "mariadb postgresql ssh")
    # The other sites were untouched: the older hostings still answer with their databases.
    assert on_node("db1", "mariadb -N -e 'SELECT 1' e2ebaru", check=True).stdout.strip() == "1"
    rc, record, out = platform.apply()
    assert rc == 0, out
    # db1 for the database; web1 again only for the credentials file it could not write while
    # db1 was down (the site's vhost was applied by the first run).
    assert record is not None and record["nodes"] == ["db1", "web1"]
    assert _site(record, "e2edb")["result"] == "ok"


def test_a_database_the_web_node_cannot_reach_fails_the_verification_not_the_run(
    platform: Platform,
) -> None:
    """The login check runs in the apply run's last play (playbooks/apply.yml): a refused or
    unreachable database is the site's verification failure, with the reason, while the run
    itself converged everything; the next apply checks the site again."""
    platform.write("e2enet", 193)
    platform.commit("e2enet: new hosting")
    on_node("web1", "ip route add blackhole 10.203.0.21/32", check=True)
    try:
        rc, record, out = platform.apply()
    finally:
        on_node("web1", "ip route del blackhole 10.203.0.21/32", check=True)
    assert rc == 1, out
    assert record is not None and record["result"] == "failed"
    assert record["ansible"]["status"] == "successful", record["ansible"]
    assert record["verification"]["db_artifact_dir"] is None, "checked by a run of its own"
    site = _site(record, "e2enet")
    assert site["result"] == "failed" and site["step"].startswith("verify"), site
    db = next(c for c in record["verification"]["checks"] if c["what"] == "db")
    assert not db["ok"] and "10.203.0.21" in db["detail"], db
    web = {c["what"]: c["ok"] for c in record["verification"]["checks"] if c["what"] != "db"}
    assert all(web.values()), web
    rc, record, out = platform.apply()
    assert rc == 0, out
    assert record is not None and _site(record, "e2enet")["result"] == "ok"
    db = next(c for c in record["verification"]["checks"] if c["what"] == "db")
    assert db["ok"] and db["detail"].endswith("from web1: accepted"), db


def test_interrupted_apply_finishes_when_run_again(platform: Platform) -> None:
    platform.write("e2eint", 192, engine="none")
    platform.commit("e2eint: new hosting")
    artifacts = platform.records / "lab" / "artifacts"
    before = set(artifacts.iterdir())
    proc = subprocess.Popen(
        platform.argv(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=platform.env(),
    )  # fmt: skip
    deadline = time.monotonic() + 600
    seen = 0
    while time.monotonic() < deadline and proc.poll() is None and seen < 3:
        fresh = [d for d in artifacts.iterdir() if d not in before]
        seen = sum(1 for d in fresh for e in d.glob("job_events/*.json") if _mentions(e, "e2eint"))
        time.sleep(0.5)
    assert proc.poll() is None, "the apply finished before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1
    record = json.loads(stdout)
    assert record["result"] == "canceled"
    rc, record, out = platform.apply()
    assert rc == 0, out
    assert record is not None and _site(record, "e2eint")["result"] == "ok"


def test_decommission_keeps_the_archives(platform: Platform) -> None:
    platform.write("e2ebaru", 190, mbit=20, status="decommissioned")
    platform.commit("e2ebaru: decommissioned")
    rc, record, out = platform.apply()
    assert rc == 0, out
    assert record is not None and _site(record, "e2ebaru")["action"] == "decommission"
    gone = [c for c in record["verification"]["checks"] if c["site"] == "e2ebaru"]
    assert gone and all(c["what"].startswith("dns@") and c["ok"] for c in gone)
    web = on_node("web1", "ls /var/backups/opdhost/sites/ | grep '^e2ebaru-.*tar.gz$'")
    assert web.returncode == 0, web.stdout + web.stderr
    db = on_node("db1", "ls -R /var/backups/opdhost/database/ | grep e2ebaru")
    assert db.returncode == 0, db.stdout + db.stderr
