"""What goes back to the agency, end to end on the lab: SFTP with its key, its database
credentials file, its logs; and none of it for anyone else.

Two sites of the e2e agency (IPs 10.203.0.188 and .189, one per database engine), each with
its own key pair made here. The agency's side is played from this machine with OpenSSH's
`sftp` and `ssh` clients and `curl`, as an agency's engineer would use them. The tests run in
file order; the last one decommissions the MariaDB site and withdraws the other's key.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import Platform, on_node, request_text, sh

pytestmark = [pytest.mark.lab, pytest.mark.slow]

WEB1 = "10.203.0.11"
MY, PG = "e2eakses", "e2eaksespg"
SITES = {MY: (189, "mariadb"), PG: (188, "postgresql")}
SSH_OPTS = (
    "-o", "BatchMode=yes",
    "-o", "IdentitiesOnly=yes",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=10",
)  # fmt: skip

# Uploaded by the agency: reads its credentials file as the documentation says and logs in.
PROBE_DB = """<?php
$c = parse_ini_file(__DIR__ . '/../private/db.env', false, INI_SCANNER_RAW);
$driver = $c['DB_ENGINE'] === 'postgresql' ? 'pgsql' : 'mysql';
$dsn = "$driver:host={$c['DB_HOST']};port={$c['DB_PORT']};dbname={$c['DB_NAME']}";
$db = new PDO($dsn, $c['DB_USER'], $c['DB_PASSWORD']);
$db->exec('CREATE TABLE IF NOT EXISTS handover (n integer)');  // it may create and write
$db->exec('INSERT INTO handover VALUES (7)');
echo 'CONNECTED ', $c['DB_USER'], ' ', $db->query('SELECT 1 + 1')->fetchColumn();
"""

# Uploaded by the other agency: tries to read the first one's credentials and logs.
PROBE_STEAL = f"""<?php
$got = @file_get_contents('/srv/www/{MY}/private/db.env');
$log = @file_get_contents('/srv/www/{MY}/logs/access.log');
echo ($got === false && $log === false) ? 'DENIED' : 'LEAKED';
"""


@dataclass(frozen=True)
class Agency:
    """One site's account as its agency holds it: the private key."""

    site: str
    key: Path

    @property
    def account(self) -> str:
        return f"s-{self.site}"

    def sftp(
        self, batch: str, cwd: Path, *, key: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run an sftp batch (commands, one per line) as this account."""
        script = cwd / "batch"
        script.write_text(batch)
        return subprocess.run(
            ["sftp", "-i", str(key or self.key), *SSH_OPTS, "-b", str(script),
             f"{self.account}@{WEB1}"],
            capture_output=True, text=True, cwd=cwd, timeout=60, check=False,
        )  # fmt: skip

    def ssh(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ssh", "-i", str(self.key), *SSH_OPTS, *args, f"{self.account}@{WEB1}", "id"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip


def _https(site: str, path: str) -> str:
    ip = SITES[site][0]
    return sh(
        "curl", "-sk", "--max-time", "20",
        "--resolve", f"{site}.kab-contoh.go.id:443:10.203.0.{ip}",
        f"https://{site}.kab-contoh.go.id{path}",
    ).stdout  # fmt: skip


def _env(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


@pytest.fixture(scope="module")
def agencies(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Agency]:
    """Both sites live, each with a key pair of its own made here."""
    made: dict[str, Agency] = {}
    for site, (ip, engine) in SITES.items():
        home = tmp_path_factory.mktemp(site)
        key = home / "id_ed25519"
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{site}@agency", "-f", str(key))
        public = (home / "id_ed25519.pub").read_text().strip()
        platform.write(site, ip, text=request_text(site, ip, engine, sftp_keys=(public,)))
        made[site] = Agency(site, key)
    platform.commit("e2e access: two sites with the agencies' keys")
    rc, record, out = platform.apply()
    assert rc == 0, out
    assert record is not None and sorted(s["site"] for s in record["sites"]) == sorted(SITES)
    return made


def test_the_agency_gets_in_with_its_key_and_finds_its_credentials(
    agencies: dict[str, Agency], tmp_path: Path
) -> None:
    me = agencies[MY]
    (tmp_path / "probe.php").write_text(PROBE_DB)
    done = me.sftp("get /private/db.env db.env\nput probe.php /public/probe.php\nls /\n", tmp_path)
    assert done.returncode == 0, done.stderr
    creds = _env((tmp_path / "db.env").read_text())
    assert creds.keys() == {
        "DB_ENGINE", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD",
    }  # fmt: skip
    assert creds["DB_ENGINE"] == "mariadb" and creds["DB_HOST"] == "10.203.0.21"
    assert creds["DB_NAME"] == MY and creds["DB_USER"] == MY and creds["DB_PORT"] == "3306"
    # The password the database node keeps (the database role's secrets directory).
    kept = on_node("db1", f"cat /etc/opdhost/secrets/mariadb-{MY}.password", check=True)
    assert creds["DB_PASSWORD"] == kept.stdout.strip()
    # The agency's code reads the file and logs in from the web node, as documented.
    assert _https(MY, "/probe.php") == f"CONNECTED {MY} 2"
    # The home shows what the agency may use; the file is root-owned, read-only for the site.
    assert {"/public", "/private", "/logs", "/tmp"} <= set(done.stdout.split())
    owner = on_node("web1", f"stat -c '%U:%G %a' /srv/www/{MY}/private/db.env").stdout.strip()
    assert owner == f"root:s-{MY} 440"


def test_postgresql_site_connects_with_its_file_too(
    agencies: dict[str, Agency], tmp_path: Path
) -> None:
    pg = agencies[PG]
    (tmp_path / "probe.php").write_text(PROBE_DB)
    done = pg.sftp("put probe.php /public/probe.php\nget /private/db.env db.env\n", tmp_path)
    assert done.returncode == 0, done.stderr
    creds = _env((tmp_path / "db.env").read_text())
    assert creds["DB_ENGINE"] == "postgresql" and creds["DB_PORT"] == "5432"
    assert _https(PG, "/probe.php") == f"CONNECTED {PG} 2"


def test_the_agency_reads_its_own_logs(agencies: dict[str, Agency], tmp_path: Path) -> None:
    _https(MY, "/a-page-nobody-has")  # a 404 in the access log
    done = agencies[MY].sftp("get /logs/access.log access.log\nls /logs\n", tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'GET /a-page-nobody-has HTTP/1.1" 404' in (tmp_path / "access.log").read_text()
    assert "error.log" in done.stdout


def test_nobody_else_gets_in(agencies: dict[str, Agency], tmp_path: Path) -> None:
    me, other = agencies[MY], agencies[PG]
    # The other agency's key does not open this site's account.
    stolen = me.sftp("ls /\n", tmp_path, key=other.key)
    assert stolen.returncode != 0
    assert "Permission denied (publickey)" in stolen.stderr
    # Its own account is jailed in its own home: the first site's files are not there.
    jailed = other.sftp(f"get /srv/www/{MY}/private/db.env x\n", tmp_path)
    assert jailed.returncode != 0
    assert not (tmp_path / "x").exists()
    # Its code cannot read them either (open_basedir and the root-owned 0750 directories).
    (tmp_path / "steal.php").write_text(PROBE_STEAL)
    assert other.sftp("put steal.php /public/steal.php\n", tmp_path).returncode == 0
    assert _https(PG, "/steal.php") == "DENIED"
    # The agency cannot publish its own file either: a link from the document root to it is
    # not followed for Apache (another owner; www-data may not enter private/).
    assert me.sftp("symlink ../private/db.env /public/leak.env\n", tmp_path).returncode == 0
    assert "DB_PASSWORD" not in _https(MY, "/leak.env")
    # Keys only: no password or keyboard-interactive login is offered, and no shell.
    offered = me.ssh("-v", "-o", "PreferredAuthentications=password,keyboard-interactive")
    assert offered.returncode != 0
    assert "Authentications that can continue: publickey\n" in offered.stderr.replace("\r", "")
    shell = me.ssh()
    assert "uid=" not in shell.stdout
    assert "only" in (shell.stdout + shell.stderr).lower() or shell.returncode != 0


def test_a_withdrawn_key_a_repaired_file_and_a_decommission_in_one_apply(
    platform: Platform, agencies: dict[str, Agency], tmp_path: Path
) -> None:
    """The PostgreSQL site's key is withdrawn (and root edited its file by hand); the MariaDB
    site is decommissioned. The PostgreSQL site stays on the lab, without a key."""
    pg = agencies[PG]
    on_node("web1", f"sed -i 's/^DB_PASSWORD=.*/DB_PASSWORD=wrong/' /srv/www/{PG}/private/db.env")
    ip, engine = SITES[PG]
    platform.write(PG, ip, text=request_text(PG, ip, engine))
    ip, engine = SITES[MY]
    platform.write(MY, ip, engine=engine, status="decommissioned")
    platform.commit("e2e access: a key withdrawn, a site decommissioned")
    rc, record, out = platform.apply()
    assert rc == 0, out
    assert record is not None and sorted(s["site"] for s in record["sites"]) == sorted(SITES)
    # The withdrawn key no longer opens the account; the file is back in step (the run's own
    # verification logged in with it) and the site's code connects again.
    refused = pg.sftp("ls /\n", tmp_path)
    assert refused.returncode != 0 and "Permission denied (publickey)" in refused.stderr
    fixed = on_node("web1", f"grep -c '^DB_PASSWORD=wrong' /srv/www/{PG}/private/db.env")
    assert fixed.stdout.strip() == "0"
    assert _https(PG, "/probe.php") == f"CONNECTED {PG} 2"
    # Nothing of the decommissioned site is left for anyone to log in with.
    left = on_node(
        "web1", f"ls /etc/ssh/opdhost-keys/s-{MY} /srv/www/{MY} 2>&1; id s-{MY} 2>&1"
    ).stdout
    assert left.count("No such file") == 2 and "no such user" in left, left
