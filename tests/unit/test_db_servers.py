"""Several database servers per engine: the platform's lists, `database.server` in requests,
placement by `opdhost new`, capacity per server, rendering per server; a change of server
is a move (tests/unit/test_move.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from opdhost.apply.render import render
from opdhost.apply.verify import db_targets
from opdhost.errors import FindingsError
from opdhost.fleet.model import Request, parse_request
from opdhost.fleet.platform import Platform, load_platform, platform_path

from .conftest import REPO, git, make_repo, make_request, opdhost, validate, write_files

LAB_PLATFORM = (REPO / "inventories/lab/group_vars/all/platform.yml").read_text()
PLATFORM_FILE = "inventories/lab/group_vars/all/platform.yml"

_LAB_DB2 = """\
    - node: db2
      address: 10.203.0.22
      capacity:
        storage_mb: 102400
        databases: 100
"""
assert LAB_PLATFORM.count(_LAB_DB2) == 2  # the lab's db2 serves both engines

ONE = LAB_PLATFORM.replace(_LAB_DB2, "")
"""The lab with one server per engine (db1), as it was before db2: the shape these tests
change from."""

_LAB_MARIADB = """\
  mariadb:
    - node: db1
      address: 10.203.0.21
      capacity:
        storage_mb: 102400
        databases: 100
"""
assert _LAB_MARIADB in ONE

TWO = ONE.replace(
    _LAB_MARIADB,
    _LAB_MARIADB
    + """\
    - node: db2
      address: 10.203.0.22
      capacity:
        storage_mb: 10240
        databases: 10
""",
)
"""One server per engine plus a second, smaller MariaDB server, db2; PostgreSQL stays on db1
alone."""

MARIADB_LINE = ONE.splitlines().index("  mariadb:") + 1
"""Where `opdhost_db_servers.mariadb` is in the platform file (its first server one line on)."""

LETTER = ["--letter-number", "421/200/Disdik/2026", "--letter-date", "2026-11-25"]
LETTER += ["--agenda", "AG-2026-0500"]


def unnamed(text: str) -> str:
    """A request text without its `database.server` line, as files were written before it."""
    return re.sub(r"(?m)^  server: [^\n]*\n", "", text)


def on(text: str, server: str) -> str:
    """A request text with `database.server` written right after the engine."""
    text = unnamed(text)
    for engine in ("mariadb", "postgresql"):
        text = text.replace(f"  engine: {engine}\n", f"  engine: {engine}\n  server: {server}\n")
    return text


def _examples(mariadb_on: str | None = "db1") -> dict[str, str]:
    """The example requests of the one-server lab as written before `database.server`, the
    MariaDB ones naming `mariadb_on` (None: no file names a server). The examples placed on the
    second server (db2) came with it: they are left out."""
    out = {}
    for path in sorted((REPO / "requests").rglob("*.yaml")):
        if "  server: db2\n" in path.read_text():
            continue
        text = unnamed(path.read_text())
        if mariadb_on is not None and "engine: mariadb" in text:
            text = on(text, mariadb_on)
        out[str(path.relative_to(REPO))] = text
    return out


@pytest.fixture
def two(tmp_path: Path) -> Path:
    """The examples (MariaDB ones on db1) on the two-MariaDB-server platform."""
    return make_repo(tmp_path, _examples(), platform=TWO)


def _platform(root: Path) -> Platform:
    return load_platform(platform_path(root, "lab"), PLATFORM_FILE)


def new(root: Path, *args: str) -> tuple[int, str, str]:
    result = opdhost("new", "--root", str(root), *LETTER, "--opd", "disdik", *args)
    return result.exit_code, result.stdout, result.stderr


def _mariadb_site(site: str, *more: str) -> list[str]:
    return [
        "--site",
        site,
        "--db",
        "mariadb",
        "--storage-mb",
        "256",
        "--bandwidth-mbit",
        "5",
        *more,
    ]


def _parse(text: str, path: str) -> Request:
    req, found = parse_request(text.encode(), path)
    assert req is not None, found
    return req


# --- the platform file --------------------------------------------------------------------


def test_the_platform_lists_servers_per_engine(two: Path) -> None:
    platform = _platform(two)
    assert {e: [s.node for s in listed] for e, listed in platform.db_servers.items()} == {
        "mariadb": ["db1", "db2"],
        "postgresql": ["db1"],
    }
    assert platform.db_nodes() == ["db1", "db2"]  # db1 serves both engines, listed once
    db2 = platform.db_server("mariadb", "db2")
    assert db2 is not None and (db2.address, db2.storage_mb, db2.databases) == (
        "10.203.0.22",
        10240,
        10,
    )
    # a request naming no server: the engine's only server, or none among several
    assert platform.db_server("postgresql") is platform.db_servers["postgresql"][0]
    assert platform.db_server("mariadb") is None
    assert platform.db_server("postgresql", "db2") is None
    assert any(str(ip) == "10.203.0.22" for ip in platform.reserved_ips())


def test_the_single_mapping_of_earlier_versions_is_refused_with_the_new_shape(
    tmp_path: Path,
) -> None:
    old = ONE.replace(
        _LAB_MARIADB,
        "  mariadb:\n    node: db1\n    address: 10.203.0.21\n"
        "    capacity: {storage_mb: 102400, databases: 100}\n",
    )
    root = make_repo(tmp_path, _examples(None), platform=old)
    result = validate(root)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 1, lines  # no second, bare type error on the same field
    assert lines[0].startswith(
        f"{PLATFORM_FILE}:{MARIADB_LINE}: opdhost_db_servers.mariadb: one server as a mapping "
        "is the shape "
        "before several servers per engine; write a list of servers: `mariadb: [{node: NAME, "
        "address: IPv4, capacity: {storage_mb: N, databases: N}}]`"
    )


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(
            ("node: db2", "node: db1"),
            "opdhost_db_servers.mariadb[1].node: 'db1' is listed twice for mariadb (first at "
            f"line {MARIADB_LINE + 1}): one entry per server",
            id="same-node-twice",
        ),
        pytest.param(
            ("address: 10.203.0.22", "address: 10.203.0.21"),
            "opdhost_db_servers.mariadb[1].address: 10.203.0.21 is already db1's address "
            f"(line {MARIADB_LINE + 1}): each database node has its own",
            id="two-nodes-one-address",
        ),
        pytest.param(
            ("node: db2", "node: DB_2"),
            "opdhost_db_servers.mariadb[1].node: 'DB_2' does not match",
            id="not-a-node-name",
        ),
        pytest.param(
            ("address: 10.203.0.22", "address: 10.203.0.256"),
            "opdhost_db_servers.mariadb[1].address: '10.203.0.256' does not match",
            id="not-an-address",
        ),
        pytest.param(
            ("node: db2", 'node: "db\\u00012"'),
            "opdhost_db_servers.mariadb[1].node: contains the character U+0001",
            id="control-character",
        ),
        pytest.param(
            (
                "  postgresql:\n    - node: db1\n      address: 10.203.0.21\n",
                "  postgresql:\n    - node: db1\n      address: 10.203.0.29\n",
            ),
            "opdhost_db_servers.postgresql[0].address: db1 has the address 10.203.0.21 at line "
            f"{MARIADB_LINE + 1}: a node has one address, whichever engines it serves",
            id="one-node-two-addresses",
        ),
    ],
)
def test_hostile_platform_entries(edit: tuple[str, str], expected: str, tmp_path: Path) -> None:
    text = TWO.replace(*edit)
    assert text != TWO
    path = tmp_path / "platform.yml"
    path.write_text(text)
    with pytest.raises(FindingsError) as caught:
        load_platform(path, PLATFORM_FILE)
    shown = [str(f) for f in caught.value.findings]
    assert any(line.startswith(PLATFORM_FILE + ":") and expected in line for line in shown), shown


def test_an_engine_needs_at_least_one_server(tmp_path: Path) -> None:
    path = tmp_path / "platform.yml"
    mariadb = TWO[TWO.index("  mariadb:\n") : TWO.index("  postgresql:\n")]
    path.write_text(TWO.replace(mariadb, "  mariadb: []\n"))
    with pytest.raises(FindingsError) as caught:
        load_platform(path, PLATFORM_FILE)
    assert [str(f) for f in caught.value.findings][:1] == [
        f"{PLATFORM_FILE}:{MARIADB_LINE}: opdhost_db_servers.mariadb: expected at least 1 entry"
    ]


# --- opdhost new ----------------------------------------------------------------------------


def test_new_puts_the_database_on_the_least_used_server_and_writes_it(two: Path) -> None:
    # db1 holds 1536 MB of 102400 (1.5 %), db2 nothing: db2
    code, out, _ = new(two, *_mariadb_site("sekolah", "--db-quota-mb", "2048"))
    assert code == 0, out
    assert out.endswith(", database on db2\n")
    text = (two / "requests/disdik/sekolah.yaml").read_text()
    assert "database:\n  engine: mariadb\n  server: db2\n  quota_mb: 2048\n" in text
    # now db2 holds 2048 of 10240 (20 %): db1 is the least used
    code, out, _ = new(two, *_mariadb_site("perpus", "--db-quota-mb", "512"))
    assert code == 0 and out.endswith(", database on db1\n"), out
    # PostgreSQL has one server: it is written too, so reviewers see it
    code, out, _ = new(
        two, "--site", "arsip", "--db", "postgresql", "--storage-mb", "256", "--bandwidth-mbit", "5"
    )
    assert code == 0 and out.endswith(", database on db1\n"), out
    assert (
        "  engine: postgresql\n  server: db1\n" in (two / "requests/disdik/arsip.yaml").read_text()
    )
    assert validate(two).exit_code == 0
    # engine none: no server
    code, out, _ = new(
        two,
        "--site",
        "statis",
        "--db",
        "none",
        "--storage-mb",
        "256",
        "--bandwidth-mbit",
        "5",
        "--dry-run",
    )
    assert code == 0 and "server:" not in out and "engine: none\n" in out


def test_new_skips_a_server_without_room_and_says_why_when_none_has(two: Path) -> None:
    code, out, _ = new(two, *_mariadb_site("besar", "--db-quota-mb", "20000", "--dry-run"))
    assert code == 0 and "  server: db1\n" in out  # db2 has 10240 MB only
    code, _, err = new(two, *_mariadb_site("raksasa", "--db-quota-mb", "200000"))
    assert (code, err) == (
        1,
        "error: the database does not fit: db1 has 100864 MB of mariadb storage left, "
        "200000 MB asked; db2 has 10240 MB of mariadb storage left, 200000 MB asked\n",
    )
    assert not (two / "requests/disdik/raksasa.yaml").exists()


def test_new_db_server_chooses_by_hand_within_capacity(two: Path) -> None:
    code, out, _ = new(two, *_mariadb_site("sekolah", "--db-server", "db1", "--dry-run"))
    assert code == 0 and "  server: db1\n" in out
    code, _, err = new(
        two, *_mariadb_site("sekolah", "--db-server", "db2", "--db-quota-mb", "20000")
    )
    assert (code, err) == (
        1,
        "error: the database does not fit: db2 has 10240 MB of mariadb storage left, "
        "20000 MB asked\n",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            _mariadb_site("sekolah", "--db-server", "db9"),
            "opdhost new:0: --db-server: unknown mariadb server 'db9' (allowed: db1, db2)",
            id="unknown",
        ),
        pytest.param(
            _mariadb_site("sekolah", "--db-server", "web1"),
            "opdhost new:0: --db-server: 'web1' is a web node, not a mariadb server "
            "(allowed: db1, db2)",
            id="a-web-node",
        ),
        pytest.param(
            [
                "--site",
                "sekolah",
                "--db",
                "postgresql",
                "--storage-mb",
                "256",
                "--bandwidth-mbit",
                "5",
                "--db-server",
                "db2",
            ],
            "opdhost new:0: --db-server: 'db2' serves mariadb, not postgresql (allowed: db1)",
            id="the-other-engine",
        ),
        pytest.param(
            _mariadb_site("sekolah", "--db-server", "db\x012"),
            "opdhost new:0: --db-server: contains the character U+0001",
            id="control-character",
        ),
        pytest.param(
            [
                "--site",
                "sekolah",
                "--db",
                "none",
                "--storage-mb",
                "256",
                "--bandwidth-mbit",
                "5",
                "--db-server",
                "db1",
            ],
            "opdhost new:0: --db-server: a database server needs a database",
            id="engine-none",
        ),
    ],
)
def test_new_refuses_a_db_server_that_cannot_hold_it(
    two: Path, args: list[str], message: str
) -> None:
    code, out, _ = new(two, *args)
    assert code == 1
    assert out.startswith(message), out
    assert not (two / "requests/disdik/sekolah.yaml").exists()


# --- validate ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ("db9", "database.server: unknown mariadb server 'db9' (allowed: db1, db2)"),
        ("web1", "database.server: 'web1' is a web node, not a mariadb server (allowed: db1, db2)"),
        ("ns1", "database.server: unknown mariadb server 'ns1' (allowed: db1, db2)"),
    ],
)
def test_validate_names_file_line_field_and_the_allowed_servers(
    two: Path, server: str, message: str
) -> None:
    path = "requests/disdik/disdik.yaml"
    write_files(two, {path: _examples(server)[path]})
    result = validate(two)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [f"{path}:27: {message}"]


def test_a_request_without_server_is_valid_while_its_engine_has_one(tmp_path: Path) -> None:
    # files that name no server: with one server per engine they pass
    root = make_repo(tmp_path, _examples(None), platform=ONE)
    assert validate(root).exit_code == 0
    # with two MariaDB servers, which one holds the data must be written
    root = make_repo(tmp_path / "two", _examples(None), platform=TWO)
    result = validate(root)
    assert result.exit_code == 1
    required = (
        "database.server: required: the platform has 2 mariadb servers (db1, db2); name the one "
        "this database is on"
    )
    assert result.stdout.splitlines() == [
        f"requests/disdik/disdik.yaml:25: {required}",
        f"requests/dpmptsp/perizinan.yaml:26: {required}",
    ]


def test_engine_none_takes_no_server(two: Path) -> None:
    path = "requests/bappeda/renbang.yaml"
    text = (REPO / path).read_text().replace("  engine: none\n", "  engine: none\n  server: db1\n")
    write_files(two, {path: text})
    result = validate(two)
    assert result.exit_code == 1
    assert "database.server: not allowed with engine none" in result.stdout


def test_capacity_is_counted_per_server(two: Path) -> None:
    files = {
        f"requests/disdik/s{n}.yaml": on(make_request(f"s{n}", ip=f"10.203.0.{110 + n}"), "db2")
        for n in range(3)
    }
    platform = TWO.replace(
        "storage_mb: 10240\n        databases: 10", "storage_mb: 1000\n        databases: 2"
    )
    write_files(two, {**files, PLATFORM_FILE: platform})
    result = validate(two)
    assert result.exit_code == 1
    # 3 x 512 MB on db2 (2 databases, 1000 MB); db1's 2 MariaDB databases are not counted there
    assert result.stdout.splitlines() == [
        "requests/disdik/s1.yaml:26: database.quota_mb: over db2's mariadb storage capacity: "
        "1024 MB of 1000 MB",
        "requests/disdik/s2.yaml:24: database.engine: over db2's mariadb databases capacity: "
        "3 of 2",
        "requests/disdik/s2.yaml:26: database.quota_mb: over db2's mariadb storage capacity: "
        "1536 MB of 1000 MB",
    ]
    ledger = json.loads(validate(two, "--format", "json").stdout)["ledger"]
    rows = {(r["server"], r["resource"]): (r["used"], r["limit"]) for r in ledger}
    assert rows[("db1 (mariadb)", "databases")] == (2, 100)
    assert rows[("db2 (mariadb)", "databases")] == (3, 2)
    assert rows[("db2 (mariadb)", "storage")] == (1536, 1000)
    assert rows[("db1 (postgresql)", "databases")] == (2, 100)


# --- render, verify, backup ------------------------------------------------------------------


def test_each_database_node_gets_only_its_databases_and_each_site_its_server(two: Path) -> None:
    platform = _platform(two)
    requests = [_parse(text, path) for path, text in _examples().items()]
    requests.append(
        _parse(
            on(make_request("sekolah", ip="10.203.0.110"), "db2"), "requests/disdik/sekolah.yaml"
        )
    )
    nodes = render(requests, platform).nodes
    db1 = [s["site"] for s in nodes["db1"]["database_sites"]]  # type: ignore[attr-defined]
    db2 = nodes["db2"]["database_sites"]
    assert db1 == ["disdik", "perizinan", "ppdb", "sehat"]
    assert db2 == [
        {
            "site": "sekolah",
            "engine": "mariadb",
            "name": "sekolah",
            "user": "sekolah",
            "quota_mb": 512,
            "status": "active",
            "client_hosts": ["10.203.0.11"],
        }
    ]
    vhosts = {v["site"]: v for v in nodes["web1"]["apache_vhost_sites"]}  # type: ignore[attr-defined]
    assert vhosts["sekolah"]["database"] == {
        "engine": "mariadb",
        "host": "10.203.0.22",
        "port": 3306,
        "name": "sekolah",
        "user": "sekolah",
        "db_node": "db2",
    }
    assert vhosts["disdik"]["database"]["host"] == "10.203.0.21"
    assert vhosts["ppdb"]["database"]["host"] == "10.203.0.21"  # postgresql, named by no file
    # backups: each database from the node that holds it
    assert {
        "site": "sekolah",
        "kind": "database",
        "engine": "mariadb",
        "name": "sekolah",
        "user": "sekolah",
    } in nodes["db2"]["backup_sites"]  # type: ignore[operator]
    assert all(p["site"] != "sekolah" for p in nodes["db1"]["backup_sites"])  # type: ignore[attr-defined]
    # the post-apply login goes to the same server
    target = next(t for t in db_targets(requests, platform) if t["site"] == "sekolah")
    assert (target["db_node"], target["db_address"]) == ("db2", "10.203.0.22")


def test_the_render_is_unchanged_by_naming_the_only_server(tmp_path: Path) -> None:
    """Writing out `server: db1` in the examples renders exactly what leaving it out did."""
    one = _platform(make_repo(tmp_path, {}, platform=ONE))
    implicit = [_parse(t, p) for p, t in _examples(None).items()]
    written = [_parse(on(t, "db1"), p) for p, t in _examples(None).items()]
    assert render(written, one).nodes == render(implicit, one).nodes


def test_the_lab_has_two_servers_per_engine_and_the_examples_name_theirs(
    lab_platform: Platform,
) -> None:
    assert {e: [s.node for s in listed] for e, listed in lab_platform.db_servers.items()} == {
        "mariadb": ["db1", "db2"],
        "postgresql": ["db1", "db2"],
    }
    for path in sorted((REPO / "requests").rglob("*.yaml")):
        req = _parse(path.read_text(), str(path.relative_to(REPO)))
        if req.database.engine.value != "none":
            assert req.database.server, path


# --- changes against the base ---------------------------------------------------------------


def _committed(root: Path, files: dict[str, str], platform: str) -> Path:
    make_repo(root, files, platform=platform)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


def test_moving_a_database_to_another_server_is_a_planned_move(tmp_path: Path) -> None:
    """Issue 16: another server is a move (copy, verify, switch: tests/unit/test_move.py),
    no longer a refusal; decommissioning in the same change still is one."""
    root = _committed(tmp_path, _examples("db1"), TWO)
    path = "requests/disdik/disdik.yaml"
    write_files(root, {path: _examples("db2")[path]})
    result = opdhost("validate", "--root", str(root), "--base", "main")
    assert result.exit_code == 0, result.stdout
    result = opdhost("plan", "--root", str(root), "--base", "main")
    assert result.exit_code == 0, result.stdout
    assert "    move mariadb db1 -> db2" in result.stdout.splitlines()
    # decommissioning while moving is refused: a decommissioned hosting does not move
    text = _examples("db2")[path].replace("status: active", "status: decommissioned")
    write_files(root, {path: text})
    result = opdhost("validate", "--root", str(root), "--base", "main")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}:27: database.server: a decommissioned hosting does not move: keep its "
        "database server ('db1') and set status: decommissioned alone"
    ]


def test_writing_out_the_implicit_server_is_no_move(tmp_path: Path) -> None:
    root = _committed(tmp_path, _examples(None), ONE)
    write_files(root, _examples("db1"))
    assert opdhost("validate", "--root", str(root), "--base", "main").exit_code == 0
    result = opdhost("plan", "--root", str(root), "--base", "main", "--format", "json")
    assert result.exit_code == 0, result.stdout
    changes = {c["site"]: c for c in json.loads(result.stdout)["changes"]}
    assert set(changes) == {"disdik", "perizinan"}
    assert changes["disdik"]["changes"] == [{"field": "database.server", "old": None, "new": "db1"}]


def test_a_second_server_needs_the_servers_named_first(tmp_path: Path) -> None:
    """Added in the same change as the names, which server held the data cannot be told."""
    root = _committed(tmp_path, _examples(None), ONE)
    write_files(root, {**_examples("db1"), PLATFORM_FILE: TWO})
    result = opdhost("validate", "--root", str(root), "--base", "main")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        "requests/disdik/disdik.yaml:27: database.server: the base state does not name this "
        "database's server and the platform lists 2 mariadb servers, so where its data is "
        "cannot be told: name the server in a change of its own while mariadb has one server, "
        "then add the others"
    )
