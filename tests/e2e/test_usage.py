"""Usage on the lab: known traffic and files on a site are what the collection and the monthly
report say; a site filled past its storage_mb cannot write while its neighbour can, and a
raised storage_mb raises its limit at the next apply; a database grown past its quota
(MariaDB and PostgreSQL) loses INSERT but keeps SELECT and DELETE; cleaned up below its
quota, it can insert again after the next collection (MariaDB) or apply (PostgreSQL, which
also shows the quota in the run record).

Two sites of the e2e agency, storage_mb 64 and quota_mb 16 (the schema's minimums): e2ekuota
(MariaDB, IP .180) and e2ekuotapg (PostgreSQL, .181). Files are written and SQL runs on web1
as each site's own user, as its application would; the passwords are read on db1 and passed
in the environment of the client only. The sites are decommissioned at the end, the first
one while its home is still full.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import OPDHOST, Platform, on_node, request_text, sh

pytestmark = pytest.mark.lab

MY, PG = "e2ekuota", "e2ekuotapg"
SITES = {MY: (180, "mariadb"), PG: (181, "postgresql")}
DB_HOST = "10.203.0.21"
MIB = 1024 * 1024
BIG_MIB = 3
ERRORS = 3


def _request(site: str, quota: int = 16, storage: int = 64) -> str:
    ip, engine = SITES[site]
    text = request_text(site, ip, engine).replace("quota_mb: 128", f"quota_mb: {quota}")
    return text.replace("storage_mb: 256", f"storage_mb: {storage}")


def write_as(site: str, path: str, mib: int) -> subprocess.CompletedProcess[str]:
    """The site's account writes `mib` MiB into its document root, as its uploads would."""
    return subprocess.run(
        ["podman", "exec", "--user", f"s-{site}", "opdhost-lab-web1", "dd", "if=/dev/zero",
         f"of=/srv/www/{site}/public/{path}", "bs=1M", f"count={mib}", "conv=fsync"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def limit_of(site: str) -> str:
    """The referenced limit of the site home's quota group, in bytes ('none' without one)."""
    shown = on_node("web1", f"btrfs qgroup show -ref --raw /srv/www/{site}", check=True)
    rows = [line.split() for line in shown.stdout.splitlines() if line.startswith("0/")]
    return rows[0][3]


def _password(site: str) -> str:
    engine = SITES[site][1]
    done = on_node("db1", f"cat /etc/opdhost/secrets/{engine}-{site}.password", check=True)
    return done.stdout


def sql(site: str, statement: str, password: str) -> subprocess.CompletedProcess[str]:
    """One statement as the site's user, from web1 (a fresh connection each time)."""
    name = site.replace("-", "_")
    if SITES[site][1] == "mariadb":
        argv = ["mysql", "-h", DB_HOST, "-u", name, "-N", "-B", name, "-e", statement]
        env = "MYSQL_PWD"
    else:
        argv = ["psql", "-h", DB_HOST, "-U", name, "-d", name, "-X", "-A", "-t",
                "-v", "ON_ERROR_STOP=1", "-c", statement]  # fmt: skip
        env = "PGPASSWORD"
    return subprocess.run(
        ["podman", "exec", "-e", f"{env}={password}", "opdhost-lab-web1", *argv],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def collect(platform: Platform) -> dict[str, Any]:
    """`opdhost usage collect` for the e2e repository; the month's record."""
    done = subprocess.run(
        [str(OPDHOST), "usage", "collect", "--root", str(platform.root)],
        capture_output=True, text=True, env=platform.env(), timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    path = platform.records / "lab" / "usage" / f"{month}.json"
    return dict(json.loads(path.read_text()))


def collect_until(platform: Platform, site: str, over: bool, timeout: float = 90) -> dict[str, Any]:
    """Collect until the site's database is (not) over its quota: InnoDB returns deleted space
    once its purge has run, a few seconds after the DELETE."""
    deadline = time.monotonic() + timeout
    while True:
        record = collect(platform)
        database = record["sites"][site]["database"]
        if database["over"] == over or time.monotonic() > deadline:
            return record
        time.sleep(3)


@pytest.fixture(scope="module")
def sites(platform: Platform) -> Iterator[dict[str, str]]:
    """Both sites applied; decommissioned afterwards."""
    for site in SITES:
        platform.write(site, SITES[site][0], text=_request(site))
    platform.commit("usage sites")
    rc, _record, out = platform.apply()
    assert rc == 0, out
    yield {site: _password(site) for site in SITES}
    for site in SITES:
        platform.write(site, SITES[site][0], text=_request(site).replace(
            "status: active", "status: decommissioned"))  # fmt: skip
    platform.commit("usage sites decommissioned")
    rc, _record, out = platform.apply("--force")
    assert rc == 0, out


def _https(site: str, path: str) -> None:
    ip = SITES[site][0]
    fqdn = f"{site}.kab-contoh.go.id"
    sh("curl", "-sk", "-o", "/dev/null", "--resolve", f"{fqdn}:443:10.203.0.{ip}",
       f"https://{fqdn}{path}")  # fmt: skip


def test_traffic_and_files_are_what_the_report_says(
    platform: Platform, sites: dict[str, str], tmp_path: Path
) -> None:
    user = f"s-{MY}"
    public = f"/srv/www/{MY}/public"
    put = sh("podman", "exec", "--user", user, "opdhost-lab-web1", "sh", "-c",
             f"head -c {BIG_MIB * MIB} /dev/urandom > {public}/big.bin && "
             f"printf '<?php http_response_code(500); echo \"x\";' > {public}/err.php",
             check=False)  # fmt: skip
    assert put.returncode == 0, put.stderr
    for _ in range(2):
        _https(MY, "/big.bin")
    for _ in range(ERRORS):
        _https(MY, "/err.php")

    record = collect(platform)
    entry = record["sites"][MY]
    days = entry["days"].values()
    sent = sum(d["bytes"] for d in days)
    assert sum(d["errors_5xx"] for d in days) == ERRORS
    assert 2 * BIG_MIB * MIB <= sent < 2 * BIG_MIB * MIB + 200_000
    assert sum(d["requests"] for d in days) >= 2 + ERRORS
    assert entry["disk_bytes"] >= BIG_MIB * MIB and entry["tc"]["bytes"] >= sent
    assert "10.203.0.1 " not in json.dumps(record)  # the client's address is nowhere

    out = tmp_path / "report"
    done = subprocess.run(
        [str(OPDHOST), "usage", "--month", record["month"], "--root", str(platform.root),
         "--out", str(out)],
        capture_output=True, text=True, env=platform.env(), timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {r["situs"]: r for r in csv.DictReader((out / f"usage-{record['month']}.csv").open())}
    row = rows[MY]
    assert row["galat_5xx"] == str(ERRORS)
    assert row["permintaan"] == str(sum(d["requests"] for d in days))
    assert float(row["terkirim_mib"]) == round(sent / MIB, 2)
    assert float(row["penyimpanan_terpakai_mib"]) == round(entry["disk_bytes"] / MIB, 2)
    assert row["penyimpanan_alokasi_mib"] == "64"
    html = (out / f"usage-{record['month']}.html").read_text()
    assert html.count("<svg") >= 4 and MY in html


def test_a_full_home_stops_its_site_only_until_storage_mb_is_raised(
    platform: Platform, sites: dict[str, str]
) -> None:
    assert limit_of(MY) == str(64 * MIB)
    full = write_as(MY, "fill.bin", 100)
    assert full.returncode != 0 and "Disk quota exceeded" in full.stderr, full.stderr
    size = int(on_node("web1", f"stat -c %s /srv/www/{MY}/public/fill.bin").stdout)
    assert size <= 64 * MIB
    # The neighbour on the same file system keeps writing; the full site keeps being logged
    # (its logs/ is a subvolume of its own, outside the limit).
    roomy = write_as(PG, "room.bin", 20)
    assert roomy.returncode == 0, roomy.stderr
    _https(MY, "/after-full")
    logged = on_node("web1", f"grep -c 'GET /after-full' /srv/www/{MY}/logs/access.log")
    assert logged.stdout.strip() == "1"

    # The collection sees the site at its allocation; the plan of its next change warns.
    record = collect(platform)
    assert record["sites"][MY]["disk_bytes"] >= 60 * MIB
    platform.write(MY, SITES[MY][0], text=_request(MY, storage=128))
    platform.commit("usage: e2ekuota storage 128")
    plan = subprocess.run(
        [str(OPDHOST), "plan", "--root", str(platform.root), "--base", "HEAD~1"],
        capture_output=True, text=True, env=platform.env(), timeout=300, check=False,
    )  # fmt: skip
    assert "web.storage_mb" in plan.stdout + plan.stderr, plan.stdout + plan.stderr
    assert "storage over" in plan.stdout + plan.stderr

    # Raised in the request: the next apply raises the limit, and the site writes again.
    rc, _record, out = platform.apply()
    assert rc == 0, out
    assert limit_of(MY) == str(128 * MIB)
    again = write_as(MY, "more.bin", 30)
    assert again.returncode == 0, again.stderr
    full = write_as(MY, "fill.bin", 200)  # full again: the decommission must still work
    assert "Disk quota exceeded" in full.stderr


def test_mariadb_over_quota_keeps_select_and_delete(
    platform: Platform, sites: dict[str, str]
) -> None:
    password = sites[MY]
    assert sql(MY, "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, b LONGBLOB)",
               password).returncode == 0  # fmt: skip
    for _ in range(20):
        done = sql(MY, "INSERT INTO t (b) VALUES (REPEAT('x', 1048576))", password)
        assert done.returncode == 0, done.stderr
    record = collect_until(platform, MY, over=True)
    database = record["sites"][MY]["database"]
    assert database["over"] and database["held"], database
    assert {"site": MY, "node": "db1", "action": "hold"} in record["quota_changes"]

    refused = sql(MY, "INSERT INTO t (b) VALUES ('y')", password)
    assert refused.returncode != 0 and "INSERT command denied" in refused.stderr
    assert sql(MY, "UPDATE t SET b = 'z' WHERE id = 1", password).returncode != 0
    assert sql(MY, "SELECT COUNT(*) FROM t", password).stdout.strip() == "20"
    assert sql(MY, "DELETE FROM t", password).returncode == 0

    record = collect_until(platform, MY, over=False)
    database = record["sites"][MY]["database"]
    assert not database["over"] and not database["held"], database
    done = sql(MY, "INSERT INTO t (b) VALUES ('again')", password)
    assert done.returncode == 0, done.stderr


def test_postgresql_over_quota_is_held_by_the_next_apply_and_recorded(
    platform: Platform, sites: dict[str, str]
) -> None:
    password = sites[PG]
    setup = sql(PG, "CREATE TABLE t (id serial PRIMARY KEY, b text); "
                    "ALTER TABLE t ALTER COLUMN b SET STORAGE EXTERNAL", password)  # fmt: skip
    assert setup.returncode == 0, setup.stderr
    done = sql(PG, "INSERT INTO t (b) SELECT repeat('x', 1048576) FROM generate_series(1, 12)",
               password)  # fmt: skip
    assert done.returncode == 0, done.stderr

    # An apply that visits db1 (the quota changes 16 -> 17 MiB) holds the role, and says so.
    platform.write(PG, SITES[PG][0], text=_request(PG, quota=17))
    platform.commit("usage: e2ekuotapg quota 17")
    rc, run, out = platform.apply()
    assert rc == 0, out
    assert run is not None
    quota = run["database_quota"][PG]
    assert quota["over"] and quota["held"] and quota["changed"], quota

    refused = sql(PG, "INSERT INTO t (b) VALUES ('y')", password)
    assert refused.returncode != 0 and "permission denied" in refused.stderr
    assert sql(PG, "CREATE TABLE u (id int)", password).returncode != 0
    assert sql(PG, "SELECT count(*) FROM t", password).stdout.strip() == "12"
    cleaned = sql(PG, "DELETE FROM t", password)
    assert cleaned.returncode == 0, cleaned.stderr
    assert sql(PG, "VACUUM t", password).returncode == 0

    record = collect_until(platform, PG, over=False)
    database = record["sites"][PG]["database"]
    assert not database["over"] and not database["held"], database
    done = sql(PG, "INSERT INTO t (b) VALUES ('again')", password)
    assert done.returncode == 0, done.stderr


def test_records_hold_no_password(platform: Platform, sites: dict[str, str]) -> None:
    texts = [p.read_text() for p in (platform.records / "lab" / "usage").glob("*.json")]
    assert texts and not any(pw in text for pw in sites.values() for text in texts)
