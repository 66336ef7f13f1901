"""Moves (issue 16): a site changes web node and database server as a planned change.

e2emove1 (web1 10.203.0.178, MariaDB on db1) gets agency files (one a link to its own page,
one a link to /etc/shadow, which must be copied as a link and never followed) and rows, then
`opdhost move e2emove1 --web-node web2 --db-server db2` and one apply: prepare, copy + verify,
switch. Afterwards its page answers at the new IP, both DNS servers give the new IP, db2 has
the rows and the site's credentials file on web2 names db2 (and the verification logged in
with it), and web1 and db1 keep the archives (with checksums) and nothing else of it.

e2emove2 (web1 10.203.0.179, PostgreSQL on db1) moves its database only to db2, and that
apply is killed as soon as the applied state records the copy as verified (between copy and
switch). A row then written on the new server stands for the agency's writes after the
switch; the re-run must finish the switch without copying again (the row stays).

Cheap on purpose: one module, two sites made by one apply, the session's converged lab.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from typing import Any

import pytest

from .conftest import APPLY_TIMEOUT, OPDHOST, Platform, on_node, request_text, sh

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ONE, TWO = "e2emove1", "e2emove2"
ZONE = "kab-contoh.go.id"


def _apply(platform: Platform, message: str) -> dict[str, Any]:
    platform.commit(message)
    started = time.monotonic()
    rc, record, out = platform.apply()
    print(f"{message}: apply {time.monotonic() - started:.1f} s")
    assert rc == 0, out
    assert record is not None, out
    return record


def _move(platform: Platform, site: str, *args: str) -> str:
    done = subprocess.run(
        [str(OPDHOST), "move", site, "--root", str(platform.root), "--offline", *args],
        capture_output=True,
        text=True,
        env=platform.env(),
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _sql(node: str, engine: str, db: str, query: str) -> str:
    if engine == "mariadb":
        script = f'mariadb -N -B {db} -e "{query}"'
    else:
        script = f'cd /tmp && runuser -u postgres -- psql -X -A -t -d {db} -c "{query}"'
    done = on_node(node, script)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _phases(record: dict[str, Any]) -> dict[str, float]:
    return {p["phase"]: p["seconds"] for p in record.get("phases") or []}


def _dig(server: str, name: str) -> str:
    return sh("dig", "+short", f"@{server}", name, "A", check=False).stdout.strip()


@pytest.fixture(scope="module")
def sites(platform: Platform) -> Platform:
    """Both sites at their first place, made by one apply."""
    platform.write(ONE, 178, text=request_text(ONE, 178, "mariadb", node="web1", db_server="db1"))
    text = request_text(TWO, 179, "postgresql", node="web1", db_server="db1")
    platform.write(TWO, 179, text=text)
    _apply(platform, f"{ONE} (MariaDB on db1), {TWO} (PostgreSQL on db1): new hostings on web1")
    return platform


def test_move_web_and_mariadb_database(sites: Platform) -> None:
    platform = sites
    home = f"/srv/www/{ONE}"
    agency = (
        f"printf 'agency page of {ONE}\\n' > {home}/public/index.html && "
        f"mkdir -p {home}/public/docs/deep && printf 'report' > {home}/public/docs/deep/r.txt && "
        f"chmod 0604 {home}/public/docs/deep/r.txt && "
        f"ln -s ../index.html {home}/public/docs/home.html && "
        f"ln -s /etc/shadow {home}/public/shadow && "
        f"chown -h -R s-{ONE}:www-data {home}/public"
    )
    assert on_node("web1", agency).returncode == 0
    _sql("db1", "mariadb", ONE, "CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
    _sql("db1", "mariadb", ONE, "INSERT INTO t VALUES (1,'satu'),(2,'dua'),(3,'tiga')")

    said = _move(platform, ONE, "--web-node", "web2", "--db-server", "db2")
    assert said.startswith(f"wrote requests/e2e/{ONE}.yaml: move web1 -> web2 (10.203.0.178 -> ")
    new_ip = said.split("-> ", 2)[2].split(")")[0]
    record = _apply(platform, f"{ONE}: move to web2/db2")
    print(f"phases: {_phases(record)}")

    site = {s["site"]: s for s in record["sites"]}[ONE]
    assert site["action"] == "move" and site["result"] == "ok", record["sites"]
    assert [p["phase"] for p in record["phases"]] == ["prepare", "copy", "switch"]
    moved = record["moves"][0]
    assert moved["web"] == {"from": "web1", "to": "web2"}
    assert moved["database"] == {"engine": "mariadb", "from": "db1", "to": "db2"}
    assert moved["finished"] is True and moved["resumed"] is None
    files, db = moved["copy"]["files"], moved["copy"]["database"]
    # public/, docs/, docs/deep/ and the two files, two links (the placeholder is replaced)
    assert (files["files"], files["links"], files["dirs"], files["matched"]) == (2, 2, 3, True)
    assert (db["tables"], db["rows"], db["matched"]) == (1, 3, True)
    assert all(c["ok"] for c in record["verification"]["checks"] if c["site"] == ONE)
    assert record["verification"]["checks"], record

    # the page at the new IP from web2, DNS on both servers, rows and credentials on the new side
    page = sh("curl", "-sk", "--resolve", f"{ONE}.{ZONE}:443:{new_ip}", f"https://{ONE}.{ZONE}/")
    assert page.stdout == f"agency page of {ONE}\n"
    assert _dig("10.203.0.31", f"{ONE}.{ZONE}") == new_ip
    assert _dig("10.203.0.32", f"{ONE}.{ZONE}") == new_ip
    assert (
        _sql("db2", "mariadb", ONE, "SELECT GROUP_CONCAT(v ORDER BY id) FROM t") == "satu,dua,tiga"
    )
    host = on_node("web2", f"grep '^DB_HOST=' {home}/private/db.env").stdout.strip()
    assert host == "DB_HOST=10.203.0.22"
    links = on_node("web2", f"readlink {home}/public/shadow {home}/public/docs/home.html").stdout
    assert links.split() == ["/etc/shadow", "../index.html"]
    owner = on_node("web2", f"stat -c '%U:%G %a' {home}/public/docs/deep/r.txt").stdout.strip()
    assert owner == f"s-{ONE}:www-data 604"
    # the old place: archives with checksums, nothing else
    assert on_node("web1", f"test -e {home} || id s-{ONE}").returncode != 0
    assert (
        on_node(
            "web1", f"cd /var/backups/opdhost/sites && sha256sum -c {ONE}-*.tar.gz.sha256"
        ).returncode
        == 0
    )
    assert (
        on_node(
            "db1", f"cd /var/backups/opdhost/database && sha256sum -c mariadb-{ONE}-*.sha256"
        ).returncode
        == 0
    )
    assert (
        _sql(
            "db1",
            "mariadb",
            "mysql",
            f"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='{ONE}'",
        )
        == "0"
    )
    # the applied state holds no unfinished move, and the next apply has nothing to do
    assert platform.state()["moves"] == {}
    rc, again, out = platform.apply()
    assert rc == 0 and again is not None and again["nodes"] == [], out


def _kill_when_copied(platform: Platform, site: str) -> float:
    """Start an apply, SIGKILL its whole process group once the state records the copy."""
    proc = subprocess.Popen(
        platform.argv(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=platform.env(),
        start_new_session=True,
    )
    started = time.monotonic()
    state = platform.records / "lab" / "applied.json"
    try:
        while time.monotonic() - started < APPLY_TIMEOUT:
            assert proc.poll() is None, "the apply ended before the copy was recorded"
            try:
                if site in json.loads(state.read_text()).get("moves", {}):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        _kill_runs_of(platform)
    finally:
        proc.wait(timeout=60)
    return time.monotonic() - started


def _kill_runs_of(platform: Platform) -> None:
    """SIGKILL the Ansible processes of this repository's runs (ansible-runner starts them in
    a session of their own, so killing the apply's group leaves them): a dead runner machine.
    Matched by the test repository's own path in their command line, each by its pid."""
    mine = str(platform.root).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read()
        except OSError:
            continue
        if mine in cmdline and b"ansible" in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry), signal.SIGKILL)


def test_interrupted_database_only_move_resumes_without_copying_again(sites: Platform) -> None:
    platform = sites
    _sql(
        "db1",
        "postgresql",
        TWO,
        f"CREATE TABLE t (id int primary key, v text); ALTER TABLE t OWNER TO {TWO}; "
        "INSERT INTO t VALUES (1, 'satu'), (2, 'dua')",
    )

    said = _move(platform, TWO, "--db-server", "db2")
    assert said.splitlines()[0] == f"wrote requests/e2e/{TWO}.yaml: move postgresql db1 -> db2"
    platform.commit(f"{TWO}: database to db2")
    seconds = _kill_when_copied(platform, TWO)
    print(f"killed {seconds:.1f} s after the start, once the copy was recorded")
    progress = platform.state()["moves"][TWO]
    assert progress["phase"] == "copied"
    assert progress["database"]["rows"] == 2 and progress["database"]["matched"] is True
    # the agency writes at the new place (as it may once the switch began); a second copy
    # would load the old server's rows over it
    _sql("db2", "postgresql", TWO, "INSERT INTO t VALUES (3, 'tiga')")

    started = time.monotonic()
    rc, record, out = platform.apply()
    print(f"resumed: apply {time.monotonic() - started:.1f} s, phases {_phases(record or {})}")
    assert rc == 0 and record is not None, out
    assert [p["phase"] for p in record["phases"]] == ["switch"]
    moved = record["moves"][0]
    assert moved["resumed"].startswith("copied and verified at "), moved
    assert moved["finished"] is True
    assert (
        _sql("db2", "postgresql", TWO, "SELECT string_agg(v, ',' ORDER BY id) FROM t")
        == "satu,dua,tiga"
    )
    host = on_node("web1", f"grep '^DB_HOST=' /srv/www/{TWO}/private/db.env").stdout.strip()
    assert host == "DB_HOST=10.203.0.22"
    checks = {c["what"]: c for c in record["verification"]["checks"] if c["site"] == TWO}
    assert checks["db"]["ok"] and "from web1: accepted" in checks["db"]["detail"], checks
    assert (
        on_node(
            "db1", f"cd /var/backups/opdhost/database && sha256sum -c postgresql-{TWO}-*.sha256"
        ).returncode
        == 0
    )
    assert platform.state()["moves"] == {}


def test_decommission_the_moved_sites(sites: Platform) -> None:
    for site in (ONE, TWO):
        path = sites.root / "requests" / "e2e" / f"{site}.yaml"
        path.write_text(path.read_text().replace("status: active", "status: decommissioned"))
    record = _apply(sites, f"{ONE}, {TWO}: decommissioned")
    assert all(s["result"] == "ok" for s in record["sites"]), record["sites"]
