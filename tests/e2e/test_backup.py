"""Backups and restores on the lab (roles/backup, `opdhost backup`, `opdhost restore`).

Two hostings of the e2e repository, one per engine, are applied (the backup role comes with
the lab platform's `opdhost_backup`: ns2 is the target). Files and rows are written into
both, both are backed up, then one is broken (files deleted, a table dropped) and restored at
its backup's time: its files are back byte for byte (owner and mode too) and its rows row for
row, while the other site's later writes are untouched. A backup taken while a table pair is
being written restores to a consistent database; a corrupted pack on the target is detected
before anything on the site changes. Marked `lab`; about a minute after the shared platform
fixture's first apply.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import OPDHOST, Platform, on_node

pytestmark = [pytest.mark.lab, pytest.mark.slow]

MY, PG = "e2ebakmy", "e2ebakpg"  # mariadb at .194, postgresql at .195


def opdhost(platform: Platform, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`opdhost ARGS --root <e2e repository>`; with check, exit 0 is required."""
    proc = subprocess.run(
        [str(OPDHOST), *args, "--root", str(platform.root)],
        capture_output=True,
        text=True,
        env=platform.env(),
        timeout=600,
        check=False,
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def sql(site: str, statement: str) -> str:
    """Run SQL in the site's database on db1, as the server's administrator."""
    if site != PG:  # the MariaDB sites
        command = f"mariadb --batch --skip-column-names {site} -e {json.dumps(statement)}"
    else:
        command = (
            f"runuser -u postgres -- psql -X -q -t -A -v ON_ERROR_STOP=1 -d {site} "
            f"-c {json.dumps(f'SET ROLE {site}; {statement}')}"
        )
    done = on_node("db1", f"cd / && {command}")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def manifest(site: str) -> str:
    """Every file and directory of the site's home but tmp/: path, owner, mode, sha256."""
    script = (
        f"cd /srv/www/{site} && find . -path ./tmp -prune -o -print | sort | while read -r p; do "
        'printf "%s %s " "$p" "$(stat -c "%U:%G %a" "$p")"; '
        '[ -f "$p" ] && sha256sum < "$p" || echo dir; done'
    )
    done = on_node("web1", script)
    assert done.returncode == 0, done.stderr
    return done.stdout


def write_files(site: str, tag: str) -> None:
    """A text file, 512 KiB of random bytes and a subdirectory, owned by the site's user."""
    on_node(
        "web1",
        f"cd /srv/www/{site}/public && mkdir -p sub && echo '{tag} <?php echo 1;' > {tag}.php && "
        f"head -c 524288 /dev/urandom > sub/{tag}.bin && chmod 0640 sub/{tag}.bin && "
        f"chown -R s-{site}:www-data sub {tag}.php",
        check=True,
    )


def latest(platform: Platform, site: str, kind: str) -> dict[str, Any]:
    """The site's newest snapshot of that kind, as `opdhost backup list --json` gives it."""
    listed = json.loads(opdhost(platform, "backup", "list", site, "--json").stdout)
    mine = [s for s in listed if s["kind"] == kind]
    assert mine, listed
    return dict(mine[-1])


@pytest.fixture(scope="module")
def sites(platform: Platform) -> Iterator[Platform]:
    """Both hostings applied, with a table and files each."""
    platform.write(MY, 194)
    platform.write(PG, 195, engine="postgresql")
    platform.commit("backup test sites")
    rc, _record, out = platform.apply()
    assert rc == 0, out
    for site in (MY, PG):
        sql(site, "DROP TABLE IF EXISTS notes; CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)")
        sql(site, "INSERT INTO notes VALUES (1, 'satu'), (2, 'dua'), (3, 'tiga')")
        write_files(site, "first")
    yield platform


def test_backups_run_by_themselves(sites: Platform) -> None:
    """The timer is armed on web1 and db1, and the apply's first run left a status."""
    for node in ("web1", "db1"):
        timer = on_node(node, "systemctl is-enabled opdhost-backup.timer")
        assert timer.stdout.strip() == "enabled", timer.stdout + timer.stderr
    for node in ("web1", "db1"):  # the run the apply started in the background
        on_node(
            node,
            "for i in $(seq 60); do systemctl is-active -q opdhost-backup || break; sleep 1; done",
        )
    status = on_node("web1", "cat /var/lib/opdhost/backup/status/disdik.json")
    assert json.loads(status.stdout)["kind"] == "files", status.stdout
    password = on_node("db1", "stat -c '%U %a' /etc/opdhost/backup/restic.password")
    assert password.stdout.split() == ["root", "600"]


def test_restore_brings_back_one_site_and_leaves_the_other(sites: Platform) -> None:
    for site in (MY, PG):
        opdhost(sites, "backup", "now", site)
    before = {site: manifest(site) for site in (MY, PG)}
    rows = {site: sql(site, "SELECT id, body FROM notes ORDER BY id") for site in (MY, PG)}
    files_snap = latest(sites, MY, "files")

    # Break the MariaDB site; write on in the PostgreSQL site after its backup.
    on_node("web1", f"rm -rf /srv/www/{MY}/public/sub /srv/www/{MY}/public/first.php", check=True)
    sql(MY, "DROP TABLE notes")
    sql(PG, "INSERT INTO notes VALUES (4, 'empat')")
    write_files(PG, "later")
    pg_after = manifest(PG)

    done = opdhost(sites, "restore", MY, "--at", files_snap["time"])
    assert "files restored from backup" in done.stdout and "database restored" in done.stdout
    assert manifest(MY) == before[MY]
    assert sql(MY, "SELECT id, body FROM notes ORDER BY id") == rows[MY]
    assert manifest(PG) == pg_after  # the other site: untouched
    assert sql(PG, "SELECT count(*) FROM notes") == "4"
    log = subprocess.run(
        [str(OPDHOST), "maintenance", "list", MY, "--root", str(sites.root)],
        capture_output=True, text=True, env=sites.env(), check=True,
    )  # fmt: skip
    assert log.stdout.count("restore of the") == 2, log.stdout

    # The PostgreSQL engine: its table dropped, its database alone restored.
    sql(PG, "DROP TABLE notes")
    opdhost(sites, "restore", PG, "--database", "--at", latest(sites, PG, "database")["time"])
    assert sql(PG, "SELECT id, body FROM notes ORDER BY id") == rows[PG]
    assert manifest(PG) == pg_after  # --database left the files alone


def test_backup_while_writing_restores_consistent(sites: Platform) -> None:
    """Each transaction writes one row into each of two tables: a dump must hold pairs.

    `a` is large and dumped first, so a dump without one consistent snapshot finds more rows in
    `b` than in `a` (by hand on the lab, `mariadb-dump --skip-lock-tables`: 703 against 713).
    """
    sql(
        MY,
        "DROP TABLE IF EXISTS a, b; CREATE TABLE a (id INT AUTO_INCREMENT PRIMARY KEY, pad BLOB)",
    )
    sql(MY, "CREATE TABLE b (id INT AUTO_INCREMENT PRIMARY KEY)")
    sql(MY, "INSERT INTO a (pad) SELECT REPEAT('x', 60000) FROM seq_1_to_300")
    sql(MY, "INSERT INTO b SELECT NULL FROM seq_1_to_300")
    loop = (
        ": e2ewriter; i=0; while [ $i -lt 3000 ]; do i=$((i+1)); mariadb e2ebakmy -e "
        "\"START TRANSACTION; INSERT INTO a (pad) VALUES ('y'); INSERT INTO b VALUES (NULL); "
        'COMMIT;"; done'
    )
    writer = subprocess.Popen(["podman", "exec", "opdhost-lab-db1", "sh", "-c", loop])
    try:
        time.sleep(2)
        opdhost(sites, "backup", "now", MY)
        assert writer.poll() is None, "the writer ended before the backup: nothing was tested"
    finally:
        writer.terminate()
        writer.wait(timeout=30)
    on_node("db1", "pkill -f 'e2e[w]riter'; pkill -f 'mariadb e2eba[k]my'; sleep 1")
    opdhost(sites, "restore", MY, "--database", "--at", "latest")
    counts = sql(MY, "SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b)").split()
    assert counts[0] == counts[1] and int(counts[0]) > 300, counts


def test_corrupted_pack_is_detected_before_restore(sites: Platform) -> None:
    write_files(MY, "corrupt")
    opdhost(sites, "backup", "now", MY)
    before = manifest(MY)
    repo = "/srv/opdhost-backup/web1/repo/data"
    pack = on_node(
        "ns2", f"find {repo} -type f -size +400k -printf '%T@ %p\\n' | sort -n | tail -1"
    ).stdout.split()[-1]
    on_node("ns2", f"cp -p {pack} /root/pack.good", check=True)
    try:
        on_node("ns2", f"printf 'XXXXXXXXXXXXXXXX' | dd of={pack} bs=1 seek=1000 conv=notrunc")
        done = opdhost(sites, "restore", MY, "--files", "--at", "latest", check=False)
        assert done.returncode == 1
        assert "the backup data is corrupt" in done.stderr, done.stderr
        assert "nothing was changed on the site" in done.stderr
        assert "Traceback" not in done.stderr
        assert manifest(MY) == before
        verify = opdhost(sites, "backup", "verify", "--read-data", check=False)
        assert verify.returncode == 1 and "damaged" in verify.stdout, verify.stdout
    finally:
        on_node("ns2", f"cp -p /root/pack.good {pack} && rm -f /root/pack.good", check=True)
    assert opdhost(sites, "backup", "verify", check=False).returncode == 0


def test_check_reports_every_site(sites: Platform) -> None:
    done = opdhost(sites, "backup", "check", "--json", check=False)
    rows = {(r["site"], r["kind"]): r for r in json.loads(done.stdout)}
    assert rows[(MY, "files")]["state"] == "ok"
    assert rows[(PG, "database")]["state"] == "ok"
    on_node("web1", f'sed -i \'s/"exit": 0/"exit": 1/\' /var/lib/opdhost/backup/status/{PG}.json')
    try:
        failed = opdhost(sites, "backup", "check", check=False)
        assert failed.returncode == 1
        assert any(PG in line and "failed" in line for line in failed.stdout.splitlines())
    finally:
        opdhost(sites, "backup", "now", PG)


def test_decommission_archive_restores_into_a_new_site(sites: Platform) -> None:
    """MY is decommissioned and a new site made in one apply; the archive goes to the target by
    itself (the apply's run), survives the local copy's loss and lands in the new site."""
    rows = sql(MY, "SELECT id, body FROM notes ORDER BY id")
    new = "e2ebakbaru"
    sites.write(MY, 194, status="decommissioned")
    sites.write(new, 196)
    sites.commit("decommission the MariaDB backup site, a new one to take its data")
    before = {n: on_node(n, "date -u +%Y-%m-%dT%H:%M:%SZ", check=True).stdout.strip()
              for n in ("web1", "db1")}  # fmt: skip
    rc, _record, out = sites.apply()
    assert rc == 0, out
    for node in ("web1", "db1"):  # the run the changed settings started: wait until it is done
        # (under load systemd may start it seconds after the apply returns)
        deadline = time.monotonic() + 240
        while True:
            status = on_node(node, "cat /var/lib/opdhost/backup/node.json").stdout
            done_at = json.loads(status or "{}").get("last_run", "")
            idle = on_node(node, "systemctl is-active -q opdhost-backup").returncode != 0
            if (done_at >= before[node] and idle) or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert done_at >= before[node], f"{node}: no backup run after the apply: {status}"
        assert json.loads(status).get("archives", "none") != "none", status
    on_node("web1", f"rm -f /var/backups/opdhost/sites/{MY}-*", check=True)
    on_node("db1", f"rm -f /var/backups/opdhost/database/mariadb-{MY}-*", check=True)

    done = opdhost(sites, "restore", new, "--from-archive", MY)
    assert f"files of {MY} restored" in done.stdout and f"database of {MY}" in done.stdout
    listing = on_node(
        "web1", f"stat -c '%U %n' /srv/www/{new}/restored-from-{MY}-*/public/first.php"
    )
    assert listing.stdout.startswith(f"s-{new} "), listing.stdout + listing.stderr
    assert sql(new, "SELECT id, body FROM notes ORDER BY id") == rows
