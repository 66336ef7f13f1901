"""What a hosting's owner and the office rely on from the database node, checked from outside.

The site users log in over the network from the web node with the password kept on the
database node; other nodes, other databases, suspended users are refused; decommissioned
sites leave a verifiable dump and nothing else. Passwords never appear in assertion messages.
"""

import re
from dataclasses import dataclass
from functools import cache

import pytest
import testinfra

DB_IP = "10.213.0.21"
SECRETS = "/etc/opdhost/secrets"
BACKUPS = "/var/backups/opdhost/database"

DB = testinfra.get_host("podman://mol-db-db")
WEB = testinfra.get_host("podman://mol-db-web")
OTHER = testinfra.get_host("podman://mol-db-other")


@dataclass(frozen=True)
class Outcome:
    """Exit status and output of a client command (the command line itself holds a password)."""

    rc: int
    out: str
    err: str


@cache
def password(engine: str, site: str) -> str:
    """The password the role generated and kept on the database node."""
    return str(DB.file(f"{SECRETS}/{engine}-{site}.password").content_string).strip()


def mariadb(
    client: testinfra.host.Host, site: str, database: str, sql: str, *, user: str | None = None
) -> Outcome:
    """Run SQL as the site's MariaDB user (named as the site unless given) over TCP."""
    result = client.run(
        "MYSQL_PWD=%s mariadb --protocol=TCP -h %s -u %s -N -B -e %s %s",
        password("mariadb", site),
        DB_IP,
        user or site,
        sql,
        database,
    )
    return Outcome(result.rc, result.stdout.strip(), result.stderr.strip())


def psql(
    client: testinfra.host.Host,
    site: str,
    database: str,
    sql: str,
    *,
    host: str = DB_IP,
    user: str | None = None,
) -> Outcome:
    """Run SQL as the site's PostgreSQL role (named as the site unless given) over TCP."""
    result = client.run(
        "PGPASSWORD=%s PGCONNECT_TIMEOUT=5 psql -XAt -v ON_ERROR_STOP=1 -h %s -U %s -d %s -c %s",
        password("postgresql", site),
        host,
        user or site,
        database,
        sql,
    )
    return Outcome(result.rc, result.stdout.strip(), result.stderr.strip())


@pytest.mark.parametrize(
    "name", ["mariadb-disdik", "mariadb-dinkes", "postgresql-dispar", "postgresql-bpbd"]
)
def test_password_files_readable_by_root_only(name: str) -> None:
    secret = DB.file(f"{SECRETS}/{name}.password")
    assert secret.is_file
    assert (secret.user, secret.group, secret.mode) == ("root", "root", 0o600)
    assert DB.file(SECRETS).mode == 0o700
    assert len(secret.content_string.strip()) >= 32


def test_later_runs_keep_the_passwords() -> None:
    # prepare.yml wrote down the checksums of two passwords right after creating them.
    kept = DB.run(f"cd {SECRETS} && sha256sum --check --strict /root/passwords.sha256")
    assert kept.rc == 0, kept.stdout


def test_mariadb_site_user_creates_a_table_from_the_web_node() -> None:
    done = mariadb(
        WEB,
        "disdik",
        "disdik",
        "DROP TABLE IF EXISTS news;"
        "CREATE TABLE news (id INT PRIMARY KEY, title VARCHAR(200));"
        "INSERT INTO news VALUES (1, 'Penerimaan siswa baru');"
        "SELECT title FROM news;",
    )
    assert done.rc == 0, done.err
    assert done.out == "Penerimaan siswa baru"


def test_mariadb_database_is_utf8mb4() -> None:
    done = mariadb(
        WEB,
        "dinkes",
        "dinkes",
        "SELECT default_character_set_name FROM information_schema.schemata "
        "WHERE schema_name = 'dinkes'",
    )
    assert done.rc == 0, done.err
    assert done.out == "utf8mb4"


def test_mariadb_site_user_sees_only_its_own_database() -> None:
    listed = mariadb(WEB, "disdik", "disdik", "SHOW DATABASES")
    assert listed.rc == 0, listed.err
    assert set(listed.out.split()) == {"disdik", "information_schema"}
    other = mariadb(WEB, "disdik", "disdik", "SELECT COUNT(*) FROM dinkes.news")
    assert other.rc != 0
    assert "denied" in other.err


# Sites whose database names differ only where an `_` stands (vars/sites.yml). In a MariaDB
# GRANT the database name is a pattern: unescaped, `ALL ON dis_ik.*` covers disdik too.
UNDERSCORE_PAIRS = [
    pytest.param("dis-ik", "dis_ik", "disdik", id="dis_ik-into-disdik"),
    pytest.param("disdik", "disdik", "dis_ik", id="disdik-into-dis_ik"),
]


@pytest.mark.parametrize(("site", "own", "other"), UNDERSCORE_PAIRS)
def test_mariadb_sites_differing_at_an_underscore_stay_apart(
    site: str, own: str, other: str
) -> None:
    # The other site's data, as its owner would have it.
    DB.check_output(
        "mariadb -e %s",
        f"CREATE TABLE IF NOT EXISTS {other}.kept (id INT PRIMARY KEY, note VARCHAR(50));"
        f"REPLACE INTO {other}.kept VALUES (1, 'rahasia-{other}');"
        f"DROP TABLE IF EXISTS {other}.intruder;",
    )
    mine = mariadb(
        WEB,
        site,
        own,
        "CREATE TABLE IF NOT EXISTS mine (id INT PRIMARY KEY); REPLACE INTO mine VALUES (1);"
        "SELECT COUNT(*) FROM mine;",
        user=own,
    )
    assert (mine.rc, mine.out) == (0, "1"), mine.err
    listed = mariadb(WEB, site, own, "SHOW DATABASES", user=own)
    assert set(listed.out.split()) == {own, "information_schema"}, listed.err
    for attempt in (
        f"SELECT note FROM {other}.kept",
        f"INSERT INTO {other}.kept VALUES (2, 'masuk')",
        f"UPDATE {other}.kept SET note = 'diubah'",
        f"CREATE TABLE {other}.intruder (id INT)",
    ):
        done = mariadb(WEB, site, own, attempt, user=own)
        assert done.rc != 0 and "denied" in done.err, (attempt, done.out, done.err)
    kept = DB.check_output("mariadb -N -B -e %s", f"SELECT id, note FROM {other}.kept")
    assert kept.split() == ["1", f"rahasia-{other}"]
    tables = DB.check_output("mariadb -N -B -e %s", f"SHOW TABLES FROM {other}").split()
    assert "intruder" not in tables


@pytest.mark.parametrize(
    ("site", "own", "other"),
    [
        pytest.param("dis-par", "dis_par", "dispar", id="dis_par-into-dispar"),
        pytest.param("dispar", "dispar", "dis_par", id="dispar-into-dis_par"),
    ],
)
def test_postgresql_sites_differing_at_an_underscore_stay_apart(
    site: str, own: str, other: str
) -> None:
    mine = psql(
        WEB,
        site,
        own,
        "CREATE TABLE IF NOT EXISTS mine (id int PRIMARY KEY);"
        "INSERT INTO mine VALUES (1) ON CONFLICT DO NOTHING; SELECT count(*) FROM mine;",
        user=own,
    )
    assert mine.rc == 0 and mine.out.splitlines()[-1] == "1", mine.err
    remote = psql(WEB, site, other, "CREATE TABLE intruder (id int)", user=own)
    assert remote.rc != 0 and "no pg_hba.conf entry" in remote.err, remote.err
    local = psql(DB, site, other, "CREATE TABLE intruder (id int)", host="127.0.0.1", user=own)
    assert local.rc != 0 and "permission denied for database" in local.err, local.err


def test_mariadb_refuses_the_site_user_from_another_node() -> None:
    # prepare.yml allowed this node; converge narrowed the site to the web node.
    done = mariadb(OTHER, "disdik", "disdik", "SELECT 1")
    assert done.rc != 0
    assert "is not allowed to connect" in done.err or "Access denied" in done.err


def test_mariadb_suspended_user_cannot_log_in_and_keeps_its_data() -> None:
    done = mariadb(WEB, "bappeda", "bappeda", "SELECT 1")
    assert done.rc != 0
    assert "locked" in done.err
    databases = DB.check_output("mariadb -N -B -e 'SHOW DATABASES'").split()
    assert "bappeda" in databases


def test_postgresql_site_role_creates_a_table_from_the_web_node() -> None:
    done = psql(
        WEB,
        "dispar",
        "dispar",
        "DROP TABLE IF EXISTS events;"
        "CREATE TABLE events (id int PRIMARY KEY, title text);"
        "INSERT INTO events VALUES (1, 'Festival Budaya');"
        "SELECT title FROM events;",
    )
    assert done.rc == 0, done.err
    assert done.out.splitlines()[-1] == "Festival Budaya"


def test_postgresql_database_is_owned_by_the_site_role() -> None:
    done = psql(
        WEB,
        "bpbd",
        "bpbd",
        "SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database "
        "WHERE datname = current_database()",
    )
    assert done.rc == 0, done.err
    assert done.out == "bpbd"


def test_postgresql_site_role_cannot_enter_another_database() -> None:
    remote = psql(WEB, "dispar", "bpbd", "SELECT 1")
    assert remote.rc != 0
    assert "no pg_hba.conf entry" in remote.err
    # Even where pg_hba lets any role in (localhost), PUBLIC has no CONNECT on a site database.
    local = psql(DB, "dispar", "bpbd", "SELECT 1", host="127.0.0.1")
    assert local.rc != 0
    assert "permission denied for database" in local.err


def test_postgresql_refuses_the_site_role_from_another_node() -> None:
    # prepare.yml allowed this node; converge narrowed the site to the web node.
    done = psql(OTHER, "dispar", "dispar", "SELECT 1")
    assert done.rc != 0
    assert "no pg_hba.conf entry" in done.err


def test_postgresql_suspended_role_cannot_log_in_and_keeps_its_data() -> None:
    done = psql(WEB, "kominfo", "kominfo", "SELECT 1")
    assert done.rc != 0
    assert "not permitted to log in" in done.err
    databases = DB.check_output(
        "runuser -u postgres -- psql -X -A -t -c 'SELECT datname FROM pg_database'"
    )
    assert "kominfo" in databases.split()


@pytest.mark.parametrize(
    ("engine", "site", "name", "marker"),
    [
        ("mariadb", "disnaker-lama", "disnaker_lama", "marker-disnaker-lama"),
        ("postgresql", "arsip-lama", "arsip_lama", "marker-arsip-lama"),
    ],
)
def test_decommissioned_site_is_dumped_then_dropped(
    engine: str, site: str, name: str, marker: str
) -> None:
    dumps = DB.check_output(f"ls {BACKUPS}").split()
    mine = [d for d in dumps if re.fullmatch(rf"{engine}-{site}-\d{{8}}T\d{{6}}Z\.sql\.gz", d)]
    assert len(mine) == 1, dumps  # dumped once: the idempotence run found nothing left to dump
    dump = f"{BACKUPS}/{mine[0]}"
    assert DB.file(dump).mode == 0o600
    assert DB.file(f"{dump}.sha256").is_file
    assert DB.run(f"cd {BACKUPS} && sha256sum -c {mine[0]}.sha256").rc == 0
    assert marker in DB.check_output(f"zcat {dump}")

    if engine == "mariadb":
        databases = DB.check_output("mariadb -N -B -e 'SHOW DATABASES'").split()
        users = DB.check_output("mariadb -N -B -e 'SELECT User FROM mysql.user'").split()
    else:
        query = "runuser -u postgres -- psql -X -A -t -c %s"
        databases = DB.check_output(query, "SELECT datname FROM pg_database").split()
        users = DB.check_output(query, "SELECT rolname FROM pg_roles").split()
    assert name not in databases
    assert name not in users
    assert not DB.file(f"{SECRETS}/{engine}-{site}.password").exists
