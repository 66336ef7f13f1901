"""Usage: the web probe's parsing, the collection's folding, the records, the warnings, the
report's figures against its input, and bad input (no data, a bad --month)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from opdhost.apply.records import Records
from opdhost.fleet.loading import load_working_tree
from opdhost.usage import store
from opdhost.usage.collect import NodeResults, fold, read_results
from opdhost.usage.figures import agencies, all_sites, level
from opdhost.usage.period import Month, parse_month

from .conftest import REPO, git_repo, make_request
from .modules import load

MIB = 1024 * 1024


PROBE = load("playbooks/library/opdhost_usage_web.py", "opdhost_usage_web")


def _line(day: str, time: str, status: int, sent: str, ip: str = "198.51.100.7") -> str:
    return (
        f'disdik.kab-contoh.go.id {ip} - - [{day}:{time} +0700] "GET /a?b=c HTTP/1.1" '
        f'{status} 120 {sent} 431 "https://ref.example/" "Mozilla/5.0 (X11)"\n'
    )


# ---------------------------------------------------------------- the web probe


def test_traffic_is_counted_per_day_from_the_log_and_its_rotations(tmp_path: Path) -> None:
    log = tmp_path / "disdik-access.log"
    log.write_text(
        _line("01/Dec/2026", "10:00:01", 200, "1000")
        + _line("01/Dec/2026", "10:00:30", 503, "500")
        + _line("01/Dec/2026", "11:15:00", 404, "-")
        + _line("30/Nov/2026", "23:59:59", 200, "99999")  # another month
        + "a line in no known format\n"
    )
    with gzip.open(tmp_path / "disdik-access.log.2.gz", "wt") as fh:
        fh.write(_line("02/Dec/2026", "08:00:00", 200, "4000"))
    days = PROBE.count_traffic(PROBE.log_files(str(log), 0), {"2026-12"})
    assert days == {
        "2026-12-01": {
            "requests": 3, "bytes": 1500, "errors_4xx": 1, "errors_5xx": 1,
            "peak_bytes_minute": 1500,
        },
        "2026-12-02": {
            "requests": 1, "bytes": 4000, "errors_4xx": 0, "errors_5xx": 0,
            "peak_bytes_minute": 4000,
        },
    }  # fmt: skip


def test_the_probe_finds_homes_and_logs_in_the_loaded_configuration(tmp_path: Path) -> None:
    conf = tmp_path / "opdhost-sites.conf"
    conf.write_text(
        "<VirtualHost *:80>\n    ServerName web1\n    DocumentRoot /var/www/m\n</VirtualHost>\n"
        "<VirtualHost 10.203.0.100:443>\n    ServerName disdik.kab-contoh.go.id\n"
        "    DocumentRoot /srv/www/disdik/public\n"
        "    CustomLog /srv/www/disdik/logs/access.log opdhost_usage\n"
        "    ErrorLog /srv/www/disdik/logs/error.log\n"
        '    Header always set X-Opdhost-Site "disdik"\n</VirtualHost>\n'
    )
    assert PROBE.site_paths(str(tmp_path / "*.conf")) == {
        "disdik": {"homes": {"/srv/www/disdik"}, "logs": {"/srv/www/disdik/logs/access.log"}}
    }


def test_disk_use_counts_allocated_bytes_and_hard_links_once(tmp_path: Path) -> None:
    home = tmp_path / "site"
    (home / "public").mkdir(parents=True)
    (home / "public" / "a.bin").write_bytes(os.urandom(64 * 1024))
    os.link(home / "public" / "a.bin", home / "public" / "b.bin")
    (home / "public" / "link").symlink_to("/etc")
    used, files = PROBE.disk_usage(str(home))
    assert files == 2  # one file under two names counts once; the link is not followed
    assert 64 * 1024 <= used < 64 * 1024 + 64 * 1024


# ---------------------------------------------------------------- folding and records


def usage_repo(tmp_path: Path) -> Path:
    """Three requests of two agencies, with the lab's letterhead."""
    root = git_repo(
        tmp_path / "repo",
        {
            "requests/disdik/disdik.yaml": make_request(),
            "requests/disdik/ppdb.yaml": make_request(
                site="ppdb", ip="10.203.0.101", **{"engine: mariadb": "engine: postgresql"}
            ),
            "requests/dinkes/sehat.yaml": make_request(
                site="sehat", opd="dinkes", ip="10.203.0.102"
            ),
        },
    )
    docs = REPO / "inventories" / "lab" / "group_vars" / "all" / "documents.yml"
    shutil.copy(docs, root / "inventories" / "lab" / "group_vars" / "all" / "documents.yml")
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The usage repository (usage_repo)."""
    return usage_repo(tmp_path)


def _results() -> NodeResults:
    """disdik: 1.8 GiB of 2 GiB storage, db 300 of 512 MiB; ppdb: db over quota (held)."""
    day = {"requests": 10, "bytes": 5 * MIB, "errors_4xx": 1, "errors_5xx": 2}
    return NodeResults(
        web={
            "web1": {
                "disdik": {
                    "disk_bytes": 1843 * MIB, "files": 12, "tc": {"bytes": 6 * MIB, "packets": 9},
                    "days": {
                        "2026-12-01": {**day, "peak_bytes_minute": 60_000_000},
                        "2026-12-02": {**day, "peak_bytes_minute": 15_000_000},
                    },
                },
                "ppdb": {"disk_bytes": 10 * MIB, "files": 1, "tc": None, "days": {}},
                "sehat": {"disk_bytes": 2100 * MIB, "files": 1, "tc": None, "days": {}},
            }
        },
        quota={
            "db1": {
                "disdik": {"engine": "mariadb", "bytes": 300 * MIB, "over": False, "held": False},
                "ppdb": {
                    "engine": "postgresql", "bytes": 600 * MIB, "over": True, "held": True,
                    "changed": True,
                },
            }
        },
    )  # fmt: skip


def _record(root: Path, month: str = "2026-12") -> dict[str, Any]:
    fleet = load_working_tree(root)
    return fold(fleet.requests, _results(), parse_month(month), "lab", f"{month}-28T01:00:00Z")


def test_fold_puts_allocation_beside_use_per_site(repo: Path) -> None:
    record = _record(repo)
    disdik = record["sites"]["disdik"]
    assert disdik["allocation"] == {"storage_mb": 2048, "database_mb": 512, "bandwidth_mbit": 10}
    assert disdik["disk_bytes"] == 1843 * MIB and disdik["database"]["bytes"] == 300 * MIB
    assert disdik["days"]["2026-12-01"]["peak_mbit"] == 8.0  # 60 MB in a minute
    assert record["quota_changes"] == [{"site": "ppdb", "node": "db1", "action": "hold"}]
    text = json.dumps(record)
    assert "198.51.100" not in text and "password" not in text


def test_figures_and_warnings_at_80_and_100_percent(repo: Path) -> None:
    assert (level(None), level(79.9), level(80.0), level(99.9), level(100.0)) == (0, 0, 80, 80, 100)
    sites = {s.site: s for s in all_sites(_record(repo))}
    disdik = sites["disdik"]
    assert disdik.storage_pct == 90.0 and disdik.requests == 20 and disdik.errors_5xx == 4
    assert (
        disdik.error_rate_pct == 20.0 and disdik.peak_mbit == 8.0 and disdik.bandwidth_pct == 80.0
    )
    assert [(w.measure, w.level) for w in disdik.warnings()] == [("storage", 80), ("bandwidth", 80)]
    assert [(w.measure, w.level) for w in sites["ppdb"].warnings()] == [("database", 100)]
    assert sites["ppdb"].db_held and sites["sehat"].storage_pct == 102.5
    by_code = {a.code: a for a in agencies(list(sites.values()))}
    assert by_code["disdik"].sites == 2 and by_code["disdik"].db_used_mb == 900.0


def test_a_later_collection_keeps_days_whose_log_was_rotated_away(repo: Path) -> None:
    records = Records(repo / "records", "lab")
    month = parse_month("2026-12")
    first = _record(repo)
    store.save(records, month, store.merge(None, first))
    second = _record(repo)
    del second["sites"]["disdik"]["days"]["2026-12-01"]
    second["sites"]["disdik"]["days"]["2026-12-03"] = {
        "requests": 1,
        "bytes": 1,
        "errors_4xx": 0,
        "errors_5xx": 0,
        "peak_mbit": 0.0,
    }
    second["sites"]["disdik"]["disk_bytes"] = 5
    merged = store.merge(store.load(records, month), second)
    assert sorted(merged["sites"]["disdik"]["days"]) == ["2026-12-01", "2026-12-02", "2026-12-03"]
    assert merged["sites"]["disdik"]["disk_bytes"] == 5 and merged["collections"] == 2
    assert [p.name for p in store.usage_dir(records).iterdir()] == ["2026-12.json"]


def test_results_are_read_from_the_runner_events(tmp_path: Path) -> None:
    events = tmp_path / "job_events"
    events.mkdir()
    web = {
        "event": "runner_on_ok",
        "event_data": {
            "host": "web1",
            "task_action": "opdhost_usage_web",
            "res": {
                "usage": {"disdik": {"disk_bytes": 1}},
                "problems": [{"site": "x", "problem": "p"}],
            },
        },
    }
    db = {"event": "runner_on_ok", "event_data": {
        "host": "db1", "task_action": "ansible.builtin.set_fact",
        "res": {"ansible_facts": {"database_quota": {"disdik": {"bytes": 2}}}}}}  # fmt: skip
    (events / "1-a.json").write_text(json.dumps(web))
    (events / "2-b.json").write_text(json.dumps(db))
    (events / "3-c.json").write_text("not json")
    found = read_results(tmp_path)
    assert found.web == {"web1": {"disdik": {"disk_bytes": 1}}}
    assert found.quota == {"db1": {"disdik": {"bytes": 2}}}
    assert found.problems == [{"node": "web1", "site": "x", "problem": "p"}]


def test_month_days_and_order() -> None:
    month = parse_month("2024-02")
    assert len(month.days()) == 29 and month.previous() == Month(2024, 1)
    assert Month(2025, 1).previous() == Month(2024, 12) and Month.of(dt.date(2026, 12, 5)) == Month(
        2026, 12
    )


def test_tc_class_counters_are_read_per_class() -> None:
    text = (
        "class htb 1:ffff root leaf 8038: prio 0 rate 1Gbit ceil 1Gbit burst 1375b cburst 1375b \n"
        " Sent 1890571 bytes 10006 pkt (dropped 0, overlimits 92 requeues 0) \n"
        " backlog 0b 0p requeues 0\n\n"
        "class htb 1:64 root leaf 803b: prio 0 rate 10Mbit ceil 10Mbit burst 1600b cburst 1600b \n"
        " Sent 9103 bytes 34 pkt (dropped 0, overlimits 0 requeues 0) \n"
    )
    assert PROBE.parse_tc(text) == {
        "1:ffff": {"bytes": 1890571, "packets": 10006},
        "1:64": {"bytes": 9103, "packets": 34},
    }


def test_a_later_collection_counts_again_only_from_the_day_before_the_last(tmp_path: Path) -> None:
    month = parse_month("2026-12")
    assert store.recount_from(None, month) == ""
    assert store.recount_from({"collected_at": "2026-12-10T01:00:00Z"}, month) == "2026-12-09"
    assert store.recount_from({"collected_at": "2026-12-01T01:00:00Z"}, month) == "2026-12-01"
    assert store.recount_from({"collected_at": "2027-01-02T01:00:00Z"}, month) == "2026-12-31"
    log = tmp_path / "access.log"
    log.write_text(
        _line("08/Dec/2026", "10:00:00", 200, "7") + _line("09/Dec/2026", "10:00:00", 200, "9")
    )
    old = tmp_path / "access.log.3.gz"
    with gzip.open(old, "wt") as fh:
        fh.write(_line("02/Dec/2026", "10:00:00", 200, "5"))
    for path, day in ((old, 3), (log, 9)):
        stamp = dt.datetime(2026, 12, day, 12, tzinfo=dt.UTC).timestamp()
        os.utime(path, (stamp, stamp))
    since = PROBE.read_since(["2026-12"], "2026-12-09")
    assert PROBE.log_files(str(log), since) == [str(log)]
    assert list(
        PROBE.count_traffic(PROBE.log_files(str(log), since), {"2026-12"}, "2026-12-09")
    ) == ["2026-12-09"]
