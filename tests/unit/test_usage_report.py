"""Usage: the plan's 80 %/100 % findings, the monthly report's figures against its input, and
bad input (a month with no data, a bad --month, a failed render)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from opdhost.apply.records import Records
from opdhost.documents.base import DocumentError
from opdhost.errors import Severity
from opdhost.fleet.loading import load_working_tree
from opdhost.fleet.platform import load_platform, platform_path
from opdhost.usage import store
from opdhost.usage.latest import usage_findings
from opdhost.usage.period import Month, UsageError, parse_month
from opdhost.usage.report import make_usage_report

from .conftest import opdhost
from .test_usage import _record, usage_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The usage repository of test_usage."""
    return usage_repo(tmp_path)


# ---------------------------------------------------------------- the plan's findings


def test_plan_warns_on_a_site_at_80_percent(repo: Path) -> None:
    records = Records(repo / "records", "lab")
    store.save(records, parse_month("2026-11"), {"sites": {}})
    store.save(records, parse_month("2026-12"), _record(repo))
    fleet = load_working_tree(repo)
    found = usage_findings(records, [r for r in fleet.requests if r.site in ("disdik", "ppdb")])
    assert {(f.path, f.field, f.severity) for f in found} == {
        ("requests/disdik/disdik.yaml", "web.storage_mb", Severity.WARNING),
        ("requests/disdik/disdik.yaml", "web.bandwidth_mbit", Severity.WARNING),
        ("requests/disdik/ppdb.yaml", "database.quota_mb", Severity.WARNING),
    }
    storage = next(f for f in found if f.field == "web.storage_mb")
    assert storage.line == 18 and "90 %" in storage.message and "2026-12" in storage.message
    assert usage_findings(Records(repo / "elsewhere", "lab"), fleet.requests) == []


def test_plan_of_a_changed_site_shows_the_usage_warning(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(Records(repo / "records", "lab"), parse_month("2026-12"), _record(repo))
    path = repo / "requests" / "disdik" / "disdik.yaml"
    path.write_text(path.read_text().replace("bandwidth_mbit: 10", "bandwidth_mbit: 12"))
    monkeypatch.setenv("OPDHOST_RECORDS_DIR", str(repo / "records"))
    result = opdhost("plan", "--root", str(repo), "--base", "main")
    assert "web.storage_mb: warning: storage at 90 % of the allocation" in result.output


# ---------------------------------------------------------------- the report


def test_report_figures_match_the_record(repo: Path, tmp_path: Path) -> None:
    records = Records(repo / "records", "lab")
    store.save(records, parse_month("2026-11"), _record(repo, "2026-11"))
    store.save(records, parse_month("2026-12"), _record(repo))
    out = tmp_path / "out"
    platform = load_platform(platform_path(repo, "lab"))
    paths = make_usage_report(
        repo,
        platform,
        inventory_dir=repo / "inventories" / "lab",
        records=records,
        month=Month(2026, 12),
        out=out,
    )
    assert sorted(p.name for p in paths) == [
        "usage-2026-12.csv",
        "usage-2026-12.html",
        "usage-2026-12.pdf",
    ]
    rows = {
        r["situs"]: r for r in csv.DictReader(io.StringIO((out / "usage-2026-12.csv").read_text()))
    }
    assert rows["disdik"]["penyimpanan_terpakai_mib"] == "1843.0"
    assert rows["disdik"]["penyimpanan_persen"] == "90.0"
    assert rows["disdik"]["permintaan"] == "20" and rows["disdik"]["terkirim_mib"] == "10.0"
    assert rows["disdik"]["galat_5xx"] == "4" and rows["disdik"]["bandwidth_puncak_mbit"] == "8.0"
    assert (
        rows["ppdb"]["basis_data_terpakai_mib"] == "600.0"
        and rows["ppdb"]["basis_data_ditahan"] == "ya"
    )
    assert (
        "melebihi" in rows["ppdb"]["peringatan"] and rows["sehat"]["penyimpanan_persen"] == "102.5"
    )
    html = (out / "usage-2026-12.html").read_text()
    assert html.count("<svg") == 5  # storage, database, bandwidth, traffic per day, trend
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert "LAPORAN PENGGUNAAN LAYANAN HOSTING" in html and "Desember 2026" in html
    assert (out / "usage-2026-12.pdf").read_bytes().startswith(b"%PDF")


def test_report_without_a_trend_when_only_one_month(repo: Path, tmp_path: Path) -> None:
    records = Records(repo / "records", "lab")
    store.save(records, parse_month("2026-12"), _record(repo))
    platform = load_platform(platform_path(repo, "lab"))
    make_usage_report(
        repo,
        platform,
        inventory_dir=repo / "inventories" / "lab",
        records=records,
        month=Month(2026, 12),
        out=tmp_path,
    )
    assert (tmp_path / "usage-2026-12.html").read_text().count("<svg") == 4


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "12-2026", "2026-00", "abc", "1999-12"])
def test_a_bad_month_is_refused_naming_what_is_allowed(repo: Path, month: str) -> None:
    out = repo / "out"
    for argv in (["usage", "--month", month], ["usage", "report", "--month", month]):
        result = opdhost(*argv, "--root", str(repo), "--out", str(out))
        assert result.exit_code == 1
        assert f"--month: {month!r} is not a month; allowed: YYYY-MM" in result.output
        assert "Traceback" not in result.output
    assert not out.exists()


def test_a_month_without_data_is_refused_and_writes_nothing(repo: Path) -> None:
    records = repo / "records"
    store.save(Records(records, "lab"), parse_month("2026-11"), _record(repo, "2026-11"))
    out = repo / "out"
    result = opdhost(
        "usage", "--month", "2026-10", "--root", str(repo), "--out", str(out),
        "--records", str(records),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "no usage collected for 2026-10" in result.output and "2026-11" in result.output
    assert "opdhost usage collect --month 2026-10" in result.output
    assert not out.exists()


def test_an_unreadable_record_is_an_error_not_a_traceback(repo: Path) -> None:
    records = Records(repo / "records", "lab")
    store.usage_dir(records).mkdir(parents=True)
    store.record_path(records, Month(2026, 12)).write_text("{half")
    with pytest.raises(UsageError, match="not a usage record"):
        store.load(records, Month(2026, 12))


def test_a_failed_render_leaves_no_half_written_file(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = Records(repo / "records", "lab")
    store.save(records, parse_month("2026-12"), _record(repo))
    out = tmp_path / "out"

    def broken(html: str, base: Path) -> bytes:
        raise DocumentError("cannot render the PDF: broken on purpose")

    monkeypatch.setattr("opdhost.usage.report.html_to_pdf", broken)
    with pytest.raises(DocumentError, match="broken on purpose"):
        make_usage_report(
            repo,
            load_platform(platform_path(repo, "lab")),
            inventory_dir=repo / "inventories" / "lab",
            records=records,
            month=Month(2026, 12),
            out=out,
        )
    assert not out.exists() or list(out.iterdir()) == []
