"""`opdhost new` (placement, refusals) and the capacity ledger of `validate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import REPO, make_repo, opdhost, validate

LAB_PLATFORM = (REPO / "inventories/lab/group_vars/all/platform.yml").read_text()


def _examples() -> dict[str, str]:
    return {
        str(p.relative_to(REPO)): p.read_text() for p in sorted((REPO / "requests").rglob("*.yaml"))
    }


LETTER = [
    "--letter-number",
    "421/200/Disdik/2026",
    "--letter-date",
    "2026-11-25",
    "--agenda",
    "AG-2026-0500",
]


def new(root: Path, *args: str) -> tuple[int, str, str]:
    result = opdhost("new", "--root", str(root), *LETTER, *args)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path, _examples())


def test_new_writes_a_valid_file_with_the_lowest_free_ip(repo: Path) -> None:
    code, out, _ = new(
        repo,
        "--opd",
        "disdik",
        "--site",
        "sekolah",
        "--db",
        "mariadb",
        "--storage-mb",
        "1024",
        "--bandwidth-mbit",
        "10",
        "--alias",
        "www.sekolah.kab-contoh.go.id",
    )
    assert code == 0, out
    # by storage share web2 (pajak: 1 GB of 200) and db2 (1 GB of 100 for MariaDB) are less
    # used than web1 (9.5 GB) and db1 (1.5 GB): the lowest free address of web2's pool
    assert out == (
        "wrote requests/disdik/sekolah.yaml: node web2, IP 10.203.0.201, database on db2\n"
    )
    text = (repo / "requests/disdik/sekolah.yaml").read_text()
    assert "  node: web2\n  ip: 10.203.0.201\n" in text
    assert "  engine: mariadb\n  server: db2\n" in text
    # OPD name and contact come from the agency's other requests
    assert 'name: "Dinas Pendidikan"' in text
    assert 'letter:\n  number: "421/200/Disdik/2026"\n  date: 2026-11-25\n' in text
    assert validate(repo).exit_code == 0
    # the next one gets the next address
    code, out, _ = new(
        repo,
        "--opd",
        "disdik",
        "--site",
        "perpus",
        "--db",
        "none",
        "--runtime",
        "static",
        "--storage-mb",
        "256",
        "--bandwidth-mbit",
        "5",
    )
    assert out.endswith("node web2, IP 10.203.0.202\n")  # still the least used (2 GB of 200)
    # by hand on web1: its lowest free address
    code, out, _ = new(
        repo,
        "--opd",
        "disdik",
        "--site",
        "arsip",
        "--db",
        "none",
        "--storage-mb",
        "256",
        "--bandwidth-mbit",
        "5",
        "--node",
        "web1",
    )
    assert out.endswith("node web1, IP 10.203.0.105\n"), out


def test_new_fills_a_gap_first_and_is_deterministic(repo: Path) -> None:
    (repo / "requests/disdik/ppdb.yaml").unlink()  # frees 10.203.0.101
    args = [
        "--opd",
        "disdik",
        "--site",
        "sekolah",
        "--db",
        "none",
        "--storage-mb",
        "256",
        "--bandwidth-mbit",
        "5",
        "--dry-run",
        "--node",
        "web1",
    ]
    first = new(repo, *args)
    assert first[0] == 0
    assert "  ip: 10.203.0.101\n" in first[1]
    assert new(repo, *args) == first


def test_new_refuses_a_taken_name(repo: Path) -> None:
    code, _, err = new(
        repo,
        "--opd",
        "disdik",
        "--site",
        "ppdb",
        "--db",
        "none",
        "--storage-mb",
        "256",
        "--bandwidth-mbit",
        "5",
    )
    assert code == 1
    assert err == "error: site 'ppdb' is already taken by requests/disdik/ppdb.yaml\n"


def test_new_refuses_a_taken_or_reserved_ip(repo: Path) -> None:
    base = [
        "--opd",
        "disdik",
        "--site",
        "sekolah",
        "--db",
        "none",
        "--storage-mb",
        "256",
        "--bandwidth-mbit",
        "5",
    ]
    code, _, err = new(repo, *base, "--ip", "10.203.0.102")
    assert (code, err) == (
        1,
        "error: IP 10.203.0.102 is already taken (by a request file or an open merge request)\n",
    )
    code, _, err = new(repo, *base, "--ip", "10.203.0.11")
    assert (code, err) == (1, "error: IP 10.203.0.11 is reserved for the platform\n")
    code, _, err = new(repo, *base, "--ip", "10.203.0.50")
    assert (code, err) == (1, "error: IP 10.203.0.50 is in no pool of web node(s) web1, web2\n")
    code, out, _ = new(repo, *base, "--ip", "10.203.0.150")
    assert code == 0 and out.endswith("IP 10.203.0.150\n")


def test_new_refuses_what_does_not_fit(repo: Path) -> None:
    code, _, err = new(
        repo,
        "--opd",
        "disdik",
        "--site",
        "besar",
        "--db",
        "none",
        "--storage-mb",
        "200000",
        "--bandwidth-mbit",
        "5",
        "--node",
        "web1",
    )
    assert code == 1
    assert err == (
        "error: the request does not fit: web1 has 195072 MB of storage left, 200000 MB asked\n"
    )
    code, _, err = new(
        repo,
        "--opd",
        "disdik",
        "--site",
        "cepat",
        "--db",
        "none",
        "--storage-mb",
        "256",
        "--bandwidth-mbit",
        "950",
        "--node",
        "web1",
    )
    assert "web1 has 915 Mbit/s of bandwidth left, 950 asked" in err


def test_new_refuses_when_the_pool_is_full(tmp_path: Path) -> None:
    small = LAB_PLATFORM.replace("last: 10.203.0.199", "last: 10.203.0.104")
    root = make_repo(tmp_path, _examples(), platform=small)
    code, _, err = new(
        root,
        "--opd",
        "disdik",
        "--site",
        "sekolah",
        "--db",
        "none",
        "--storage-mb",
        "256",
        "--bandwidth-mbit",
        "5",
        "--node",
        "web1",
    )
    assert code == 1
    assert err == (
        "error: the request does not fit: web1 has no free IP left in 10.203.0.100-10.203.0.104\n"
    )


def test_new_refuses_database_server_overflow(tmp_path: Path) -> None:
    full = LAB_PLATFORM.replace(
        "storage_mb: 102400\n        databases: 100", "storage_mb: 102400\n        databases: 2", 1
    )
    root = make_repo(tmp_path, _examples(), platform=full)
    code, _, err = new(
        root,
        "--opd",
        "disdik",
        "--site",
        "sekolah",
        "--db",
        "mariadb",
        "--storage-mb",
        "256",
        "--bandwidth-mbit",
        "5",
        "--db-server",
        "db1",
    )
    assert (code, err) == (
        1,
        "error: the database does not fit: db1 already has 2 of 2 mariadb databases\n",
    )


def test_new_reports_bad_values_by_option(repo: Path) -> None:
    result = opdhost(
        "new",
        "--root",
        str(repo),
        "--opd",
        "disdik",
        "--site",
        "Bad Site",
        "--letter-number",
        "421 200",
        "--letter-date",
        "2026-13-01",
        "--agenda",
        "AG-1",
        "--db",
        "mariadb",
        "--storage-mb",
        "-1",
        "--bandwidth-mbit",
        "5",
        "--alias",
        "www.other.example.com",
    )
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0] + ": " + line.split(": ")[1] for line in lines] == [
        "opdhost new:0: --site",
        "opdhost new:0: --letter-number",
        "opdhost new:0: --letter-date",
        "opdhost new:0: --storage-mb",
    ]
    assert not (repo / "requests/disdik/Bad Site.yaml").exists()


def test_new_first_request_of_an_agency_needs_its_name(repo: Path) -> None:
    code, _, err = new(
        repo,
        "--opd",
        "dishub",
        "--site",
        "parkir",
        "--db",
        "none",
        "--storage-mb",
        "256",
        "--bandwidth-mbit",
        "5",
    )
    assert code == 1
    assert err == (
        "error: a first request of 'dishub' needs --opd-name, --contact-name, --contact-email\n"
    )
    code, out, _ = new(
        repo,
        "--opd",
        "dishub",
        "--site",
        "parkir",
        "--db",
        "none",
        "--storage-mb",
        "256",
        "--bandwidth-mbit",
        "5",
        "--opd-name",
        "Dinas Perhubungan",
        "--contact-name",
        "Joko Susilo",
        "--contact-email",
        "joko@dishub.kab-contoh.go.id",
    )
    assert code == 0, out
    assert validate(repo).exit_code == 0


def test_ledger_table(repo: Path) -> None:
    result = validate(repo, "--ledger")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["server", "resource", "used", "limit", "free", "use"]
    assert lines[1].split() == ["web1", "sites", "5", "100", "95", "5%"]
    assert lines[2].split() == ["web1", "storage", "9728", "204800", "195072", "5%"]
    assert lines[3].split() == ["web1", "bandwidth", "85", "1000", "915", "8%"]
    assert lines[4].split() == ["web2", "sites", "1", "50", "49", "2%"]
    # perizinan is suspended: it still holds its database (2 mariadb), renbang has none
    assert lines[7].split() == ["db1", "(mariadb)", "databases", "2", "100", "98", "2%"]
    assert lines[9].split() == ["db2", "(mariadb)", "databases", "1", "100", "99", "1%"]


def test_capacity_overflow_is_blamed_on_the_requests_that_cross_it(tmp_path: Path) -> None:
    small = LAB_PLATFORM.replace("storage_mb: 204800", "storage_mb: 7000")
    root = make_repo(tmp_path, _examples(), platform=small)
    result = validate(root)
    assert result.exit_code == 1
    # by path: bappeda/renbang 512, dinkes/sehat 1024, disdik/disdik 2048, disdik/ppdb 4096
    assert result.stdout.splitlines() == [
        "requests/disdik/ppdb.yaml:19: web.storage_mb: over web1's storage capacity: "
        "7680 MB of 7000 MB",
        "requests/dpmptsp/perizinan.yaml:21: web.storage_mb: over web1's storage capacity: "
        "9728 MB of 7000 MB",
    ]


def test_decommissioned_sites_use_no_capacity(tmp_path: Path) -> None:
    small = LAB_PLATFORM.replace("storage_mb: 204800", "storage_mb: 7000")
    files = _examples()
    files["requests/disdik/ppdb.yaml"] = files["requests/disdik/ppdb.yaml"].replace(
        "status: active", "status: decommissioned"
    )
    root = make_repo(tmp_path, files, platform=small)
    assert validate(root).exit_code == 0


def test_broken_platform_file_is_reported_with_its_line(tmp_path: Path) -> None:
    broken = LAB_PLATFORM.replace("gateway: 10.203.0.1", "gateway: 10.9.9.1", 1)  # web1's
    root = make_repo(tmp_path, _examples(), platform=broken)
    result = validate(root)
    assert result.exit_code == 1
    assert result.stdout == (
        "inventories/lab/group_vars/all/platform.yml:14: opdhost_web_nodes.web1.pool.gateway: "
        "10.9.9.1 is outside 10.203.0.0/24\n"
    )


def test_database_server_overflow_in_validate(tmp_path: Path) -> None:
    full = LAB_PLATFORM.replace(
        "storage_mb: 102400\n        databases: 100", "storage_mb: 1000\n        databases: 1", 1
    )
    root = make_repo(tmp_path, _examples(), platform=full)
    result = validate(root)
    assert result.exit_code == 1
    # mariadb sites by path: disdik/disdik (512 MB), then dpmptsp/perizinan (1024 MB)
    assert result.stdout.splitlines() == [
        "requests/dpmptsp/perizinan.yaml:27: database.engine: over db1's mariadb "
        "databases capacity: 2 of 1",
        "requests/dpmptsp/perizinan.yaml:31: database.quota_mb: over db1's mariadb "
        "storage capacity: 1536 MB of 1000 MB",
    ]


def test_new_refuses_while_another_file_is_broken(repo: Path) -> None:
    # a broken file may hold an IP or a name: allocating around it would be a guess
    (repo / "requests/disdik/ppdb.yaml").write_text("site: [\n")
    code, out, _ = new(
        repo,
        "--opd",
        "disdik",
        "--site",
        "sekolah",
        "--db",
        "none",
        "--storage-mb",
        "256",
        "--bandwidth-mbit",
        "5",
    )
    assert code == 1
    assert out.splitlines() == [
        "requests/disdik/ppdb.yaml:2: (yaml): YAML syntax error: did not find expected node "
        "content",
        "requests:1: (fleet): fix these files first",
    ]
    assert not (repo / "requests/disdik/sekolah.yaml").exists()
