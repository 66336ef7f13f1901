"""The controller side of backups without a lab: --at, status rules, bad input, restore's plan.

The nodes are replaced by a fake `Call` (node, opdhost-backup arguments) -> answer, so what
is sent to which node is checked too: a restore asks only the nodes of its own site.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from opdhost.backup import BackupError
from opdhost.backup.jobs import check
from opdhost.backup.layout import Part, archive_parts, backup_vars, chosen, site_parts
from opdhost.backup.remote import answer
from opdhost.backup.restore import restore
from opdhost.backup.status import CORRUPT, FAILED, MISSING, OK, TOO_OLD, UNREACHABLE, evaluate
from opdhost.backup.when import At, Snapshot, parse_at, parse_time, pick
from opdhost.errors import FindingsError
from opdhost.fleet.model import parse_request
from opdhost.fleet.platform import Platform, load_platform

from .conftest import REPO, make_repo, make_request, opdhost
from .modules import load

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


def _request(site: str, engine: str = "mariadb", status: str = "active", on: int = 1) -> Any:
    """A site on web<on> and db<on> (the lab has two of each)."""
    text = make_request(site, site, f"10.203.0.{on}{len(site) % 40:02d}")
    text = text.replace("engine: mariadb", f"engine: {engine}")
    text = text.replace("node: web1", f"node: web{on}").replace("server: db1", f"server: db{on}")
    if engine == "none":
        text = text.replace("  quota_mb: 512\n", "").replace(f"  server: db{on}\n", "")
    text = text.replace("status: active", f"status: {status}")
    req, found = parse_request(text.encode(), f"requests/{site}/{site}.yaml")
    assert req is not None, found
    return req


# --at -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("latest", NOW),
        ("now", NOW),
        ("2h", NOW - dt.timedelta(hours=2)),
        ("30m ago", NOW - dt.timedelta(minutes=30)),
        ("3d", NOW - dt.timedelta(days=3)),
        ("2026-12-01", dt.datetime(2026, 12, 1, 23, 59, 59, tzinfo=dt.UTC)),
        ("2026-12-01T10:30", dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.UTC)),
        ("2026-12-01 10:30:15", dt.datetime(2026, 12, 1, 10, 30, 15, tzinfo=dt.UTC)),
        ("2026-12-01T17:30+07:00", dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.UTC)),
        ("2026-12-01T10:30Z", dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.UTC)),
    ],
)
def test_at_times(text: str, expected: dt.datetime) -> None:
    assert parse_at(text, NOW) == At(time=expected)


def test_at_snapshot_id() -> None:
    assert parse_at("6b98fce2", NOW) == At(snapshot="6b98fce2")


@pytest.mark.parametrize(
    "text", ["yesterday", "", "2026-13-01", "2026-12-03T10:00", "12345678", "5y", "-2h"]
)
def test_at_refuses_what_it_cannot_mean(text: str) -> None:
    with pytest.raises(BackupError) as err:
        parse_at(text, NOW)
    assert "latest" in err.value.hint  # the message says what is allowed


def test_restic_times_with_nanoseconds_and_offsets() -> None:
    when = parse_time("2026-12-02T19:02:37.123456789+07:00")
    assert when == dt.datetime(2026, 12, 2, 12, 2, 37, 123456, tzinfo=dt.UTC)


def _snap(ident: str, hour: int, kind: str = "files") -> Snapshot:
    return Snapshot(ident, NOW.replace(hour=hour), kind, "web1")


def test_pick_takes_the_newest_at_or_before() -> None:
    snaps = [_snap("aaaaaaaa", 1), _snap("bbbbbbbb", 5), _snap("cccccccc", 9)]
    assert pick(snaps, At(time=NOW.replace(hour=6)), "x").id == "bbbbbbbb"
    assert pick(snaps, At(time=NOW.replace(hour=5)), "x").id == "bbbbbbbb"
    assert pick(snaps, At(snapshot="cccccccc"), "x").id == "cccccccc"


def test_pick_says_when_nothing_is_old_enough() -> None:
    with pytest.raises(BackupError, match="oldest kept is of 2026-12-02 01:00:00"):
        pick([_snap("aaaaaaaa", 1)], At(time=NOW.replace(hour=0)), "disdik files")
    with pytest.raises(BackupError, match="no backup yet"):
        pick([], At(time=NOW), "disdik files")
    with pytest.raises(BackupError, match="no snapshot deadbeef"):
        pick([_snap("aaaaaaaa", 1)], At(snapshot="deadbeef"), "disdik files")


# status --------------------------------------------------------------------------------------

PARTS = [
    Part("disdik", "files", "web1", path="/srv/www/disdik"),
    Part("disdik", "database", "db1", engine="mariadb", name="disdik"),
]


def _status(kind: str, node: str, hours_ago: float, exit_code: int = 0) -> dict[str, Any]:
    last = (NOW - dt.timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = {"site": "disdik", "kind": kind, "node": node, "last_success": last, "bytes": 10}
    return {**entry, "exit": exit_code, "error": "dump failed" if exit_code else ""}


def _answers(files: dict[str, Any] | None, db: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "web1": {"sites": {"disdik": files} if files else {}, "nightly": {}},
        "db1": {"sites": {"disdik": db} if db else {}, "nightly": {}},
    }


def test_status_ok_and_too_old() -> None:
    answers = _answers(_status("files", "web1", 3), _status("database", "db1", 27))
    rows = {r.kind: r for r in evaluate(PARTS, answers, NOW, 26)}
    assert rows["files"].state == OK and rows["files"].age_text(NOW) == "3h 00m"
    assert rows["database"].state == TOO_OLD and "26h" in rows["database"].detail


def test_status_failed_and_missing() -> None:
    answers = _answers(None, _status("database", "db1", 1, exit_code=1))
    rows = {r.kind: r for r in evaluate(PARTS, answers, NOW, 26)}
    assert rows["files"].state == MISSING
    assert rows["database"].state == FAILED and rows["database"].detail == "dump failed"


def test_status_corrupt_repository_and_unreachable_node() -> None:
    answers: dict[str, Any] = _answers(_status("files", "web1", 1), None)
    answers["web1"]["nightly"] = {"check": {"ok": False, "error": "check: corrupt"}}
    answers["db1"] = "db1: cannot run opdhost-backup: timed out"
    rows = {r.kind: r for r in evaluate(PARTS, answers, NOW, 26)}
    assert rows["files"].state == CORRUPT
    assert rows["database"].state == UNREACHABLE and "timed out" in rows["database"].detail


def test_check_asks_each_node_once_for_every_site(lab_platform: Platform) -> None:
    asked: list[tuple[str, list[str]]] = []
    reqs = [_request("disdik"), _request("sehat", "postgresql"), _request("statis", "none")]

    def call(node: str, args: list[str]) -> Any:
        asked.append((node, args))
        sites = {r.site: _status("files", node, 1) | {"site": r.site} for r in reqs}
        if node == "db1":
            sites = {r.site: _status("database", node, 1) | {"site": r.site} for r in reqs}
        return {"sites": sites, "nightly": {}}

    rows, nightly = check(call, reqs, lab_platform, NOW)
    assert nightly == {"db1": {}, "web1": {}}
    assert sorted(asked) == [("db1", ["status"]), ("web1", ["status"])]
    assert [(r.site, r.kind, r.state) for r in rows] == [
        ("disdik", "database", OK),
        ("disdik", "files", OK),
        ("sehat", "database", OK),
        ("sehat", "files", OK),
        ("statis", "files", OK),
    ]


# layout and bad input ------------------------------------------------------------------------


def test_backup_vars_per_node(lab_platform: Platform) -> None:
    reqs = [
        _request("disdik"),
        _request("sehat", "postgresql"),
        _request("lama", status="decommissioned"),
        _request("bapenda", "postgresql", on=2),
    ]
    nodes = backup_vars(reqs, lab_platform)
    # every web and database node backs up to the target over an account of its own (the
    # role names it after the node), whether or not it holds a site yet
    assert set(nodes) == {"web1", "web2", "db1", "db2"}
    assert nodes["web2"]["backup_sites"] == [
        {"site": "bapenda", "kind": "files", "path": "/srv/www/bapenda"}
    ]
    assert nodes["db2"]["backup_sites"] == [
        {
            "site": "bapenda",
            "kind": "database",
            "engine": "postgresql",
            "name": "bapenda",
            "user": "bapenda",
        }
    ]
    assert nodes["web1"]["backup_sites"] == [
        {"site": "disdik", "kind": "files", "path": "/srv/www/disdik"},
        {"site": "sehat", "kind": "files", "path": "/srv/www/sehat"},
    ]
    assert nodes["db1"]["backup_sites"] == [
        {
            "site": "disdik",
            "kind": "database",
            "engine": "mariadb",
            "name": "disdik",
            "user": "disdik",
        },
        {
            "site": "sehat",
            "kind": "database",
            "engine": "postgresql",
            "name": "sehat",
            "user": "sehat",
        },
    ]
    assert nodes["db1"]["backup_target_host"] == "ns2"
    assert nodes["db1"]["backup_keep_daily"] == 7


def test_unknown_and_decommissioned_sites(lab_platform: Platform) -> None:
    reqs = [_request("disdik"), _request("lama", status="decommissioned")]
    with pytest.raises(BackupError, match=r"unknown site 'nope': .* are disdik, lama"):
        site_parts(reqs, lab_platform, "nope")
    with pytest.raises(BackupError, match="decommissioned"):
        site_parts(reqs, lab_platform, "lama")
    static = site_parts([_request("statis", "none")], lab_platform, "statis")
    with pytest.raises(BackupError, match="has no database"):
        chosen(static, False, True, "statis")
    assert [p.kind for p in chosen(site_parts(reqs, lab_platform, "disdik"), True, False, "x")] == [
        "files"
    ]


def _repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path, {"requests/disdik/disdik.yaml": make_request()})


def test_cli_unknown_site_names_the_sites(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    for args in (
        ["backup", "list", "nosuch"],
        ["backup", "now", "nosuch"],
        ["restore", "nosuch", "--at", "latest"],
    ):
        result = opdhost(*args, "--root", str(root))
        assert result.exit_code == 1, result.output
        assert "error: unknown site 'nosuch': the sites with a request are disdik" in result.output
        assert "Traceback" not in result.output


def test_cli_bad_at_says_what_is_allowed(tmp_path: Path) -> None:
    result = opdhost("restore", "disdik", "--at", "yesterday", "--root", str(_repo(tmp_path)))
    assert result.exit_code == 1
    assert "error: --at 'yesterday' is not a time" in result.output
    assert "fix: use 'latest', a snapshot id" in result.output


def test_cli_platform_without_backups(tmp_path: Path) -> None:
    text = (REPO / "inventories/lab/group_vars/all/platform.yml").read_text()
    root = make_repo(
        tmp_path,
        {"requests/disdik/disdik.yaml": make_request()},
        text.split("\nopdhost_backup:")[0],
    )
    result = opdhost("backup", "check", "--root", str(root))
    assert result.exit_code == 1
    assert "has no opdhost_backup" in result.output


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ("  target: {node: ns2}\n", "opdhost_backup.target"),
        ("  target: {node: ns2, address: 10.0.0.300}\n", "opdhost_backup.target.address"),
        ("  target: {node: ns2, address: 10.0.0.3}\n  keep: {daily: -1}\n", "keep.daily"),
        ("  target: {node: ns2, address: 10.0.0.3}\n  directory: relative\n", "directory"),
        ('  target: {node: ns2, address: 10.0.0.3}\n  on_calendar: "a;b"\n', "on_calendar"),
        ("  target: {node: ns2, address: 10.0.0.3}\n  extra: 1\n", "opdhost_backup.extra"),
    ],
)
def test_platform_backup_settings_are_checked(tmp_path: Path, block: str, field: str) -> None:
    text = (REPO / "inventories/lab/group_vars/all/platform.yml").read_text()
    path = tmp_path / "platform.yml"
    path.write_text(text.split("\nopdhost_backup:")[0] + "\nopdhost_backup:\n" + block)
    with pytest.raises(FindingsError) as err:
        load_platform(path)
    assert any(field in f.field for f in err.value.findings), err.value.findings


# restore's plan and the node's answers ---------------------------------------------------------


def test_restore_picks_then_restores_and_logs_each_part() -> None:
    calls: list[tuple[str, list[str]]] = []
    logged: list[str] = []
    listing = {
        "web1": [{"id": "aaaaaaaa", "time": "2026-12-02T08:00:00+07:00", "kind": "files"}],
        "db1": [
            {"id": "bbbbbbbb", "time": "2026-12-02T01:00:00Z", "kind": "database"},
            {"id": "cccccccc", "time": "2026-12-02T11:00:00Z", "kind": "database"},
        ],
    }

    def call(node: str, args: list[str]) -> Any:
        calls.append((node, args))
        if args[0] == "snapshots":
            return listing[node]
        return {"restored": "live", "previous": f"/var/backups/opdhost/restore/{node}"}

    done = restore(call, PARTS, At(time=NOW.replace(hour=10)), False, logged.append)
    assert [d.snapshot for d in done] == ["aaaaaaaa", "bbbbbbbb"]
    restores = [c for c in calls if c[1][0] == "restore"]
    assert restores == [
        ("web1", ["restore", "disdik", "--snapshot", "aaaaaaaa"]),
        ("db1", ["restore", "disdik", "--snapshot", "bbbbbbbb"]),
    ]
    assert all(c[1][1] == "disdik" for c in calls)  # nothing asked of another site
    assert "from backup aaaaaaaa of 2026-12-02 01:00:00 UTC (live, web1)" in logged[0]


def test_restore_picks_every_part_before_touching_one() -> None:
    calls: list[list[str]] = []

    def call(node: str, args: list[str]) -> Any:
        calls.append(args)
        if node == "db1":
            return []  # no database backup: nothing at all is restored
        return [{"id": "aaaaaaaa", "time": "2026-12-02T01:00:00Z", "kind": "files"}]

    with pytest.raises(BackupError, match="disdik database: no backup yet"):
        restore(call, PARTS, At(time=NOW), False, lambda _n: None)
    assert all(a[0] == "snapshots" for a in calls)


def test_node_answers() -> None:
    assert answer("web1", 0, '{"ok": true}\n', "") == {"ok": True}
    with pytest.raises(BackupError, match="web1: the backup data is corrupt"):
        answer("web1", 1, '{"error": "the backup data is corrupt (restic ...)"}', "")
    with pytest.raises(BackupError, match="not installed") as err:
        answer("db1", 127, "", "sh: 1: /usr/local/sbin/opdhost-backup: not found")
    assert "opdhost apply --all" in err.value.hint


def _helper() -> Any:
    return load("roles/backup/files/opdhost_backup.py", "opdhost_backup_helper")


def test_helper_names_corruption_and_refuses_bad_names(capsys: pytest.CaptureFixture[str]) -> None:
    helper = _helper()
    bad = subprocess.CompletedProcess(
        [],
        1,
        "",
        "Load(<data/1234abcd>, 0, 0) returned error, retrying...\nciphertext verification failed\n",
    )
    message = helper.explain(bad, "disdik: restore of files 6b98fce2")
    assert "corrupt" in message and "nothing was changed on the site" in message
    other = helper.explain(subprocess.CompletedProcess([], 1, "", "Fatal: wrong password"), "x")
    assert "corrupt" not in other and "wrong password" in other
    assert helper.main(["snapshots", "../etc"]) == 1
    assert "not a site name" in json.loads(capsys.readouterr().out)["error"]
    assert helper.tags("disdik", "files") == ["--tag", "site:disdik,kind:files"]


def test_archive_parts_need_a_decommissioned_site_on_the_same_nodes(
    lab_platform: Platform,
) -> None:
    old, new = _request("lama", status="decommissioned"), _request("baru")
    found = archive_parts([old, new], lab_platform, "lama", "baru")
    assert [(p.kind, p.node, user) for p, user in found] == [
        ("files", "web1", ""),
        ("database", "db1", "lama"),  # the old owner, renamed in a PostgreSQL dump
    ]
    with pytest.raises(BackupError, match="not a decommissioned site"):
        archive_parts([old, new], lab_platform, "baru", "lama")
    other_engine = [old, _request("baru", "postgresql")]
    assert [p.kind for p, _u in archive_parts(other_engine, lab_platform, "lama", "baru")] == [
        "files"
    ]


def test_cli_restore_needs_at_or_archive(tmp_path: Path) -> None:
    result = opdhost("restore", "disdik", "--root", str(_repo(tmp_path)))
    assert result.exit_code == 1
    assert "give --at WHEN (a backup of SITE) or --from-archive SITE" in result.output
