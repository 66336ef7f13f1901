"""The office's documents: letter, registers, execution report, maintenance log (issue 13).

Each test builds a small repository (the lab platform and documents.yml, requests committed
in git, run records as apply writes them) and runs the real commands.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from opdhost.documents.base import long_date
from opdhost.documents.render import TEMPLATES, render_html
from PIL import Image

from .conftest import REPO, git, git_repo, make_request, opdhost

SECRETS = re.compile(
    r"password\s*[:=]|-----BEGIN|\$2[aby]\$|\$6\$|SCRAM-SHA-256\$|\*[0-9A-F]{40}", re.I
)


def _run(root: Path, run_id: str, ended: str, sites: list[tuple[str, str, str]]) -> None:
    path = root / "records" / "lab" / "runs" / f"{run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "run_id": run_id,
        "mode": "apply",
        "commit": "0" * 40,
        "triggered_by": "ci-bot",
        "started": ended,
        "ended": ended,
        "result": "ok",
        "sites": [{"site": s, "action": a, "result": r, "nodes": ["web1"]} for s, a, r in sites],
    }
    path.write_text(json.dumps(record), encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Two requests merged, disdik live (a failed try first), ppdb only merged."""
    root = git_repo(
        tmp_path / "repo",
        {
            "requests/disdik/disdik.yaml": make_request(),
            "requests/disdik/ppdb.yaml": make_request(site="ppdb", ip="10.203.0.101"),
        },
    )
    docs = REPO / "inventories" / "lab" / "group_vars" / "all" / "documents.yml"
    shutil.copy(docs, root / "inventories" / "lab" / "group_vars" / "all" / "documents.yml")
    _run(root, "20261103T010000Z-1", "2026-11-03T01:00:00Z", [("disdik", "create", "failed")])
    _run(root, "20261103T020000Z-2", "2026-11-03T02:05:00Z", [("disdik", "create", "ok")])
    return root


def _text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_letter_names_the_site_its_ip_and_the_request_letter(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = opdhost("letter", "disdik", "--root", str(repo), "--out", str(out),
                     "--date", "2026-11-04")  # fmt: skip
    assert result.exit_code == 0, result.output
    html = (out / "letter-disdik-activation-id.html").read_text()
    text = " ".join(_text(out / "letter-disdik-activation-id.pdf").split())
    for body in (html, text):
        assert "10.203.0.100" in body and "421/123/Disdik/2026" in body
        assert "AG-2026-0456" in body and "https://disdik.kab-contoh.go.id" in body
        assert "s-disdik" in body and "10.203.0.11" in body  # SFTP account and web node
        assert "/srv/www/disdik/private/db.env" in body
        assert "001/555/DKISP/2026" in body  # the office's first outgoing number
        assert "3 November 2026" in body and "09:05" in body  # live: first ok create, WIB
        assert not SECRETS.search(body)
    assert "10.203.0.101" not in html  # not the neighbour's


def test_letter_names_the_agencys_key_by_fingerprint_and_where_its_logs_are(
    repo: Path, tmp_path: Path
) -> None:
    key = tmp_path / "agency"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public = key.with_suffix(".pub").read_text().strip()
    path = repo / "requests/disdik/disdik.yaml"
    path.write_text(
        path.read_text().replace("  tls: true\n", f'  tls: true\n  sftp_keys: ["{public}"]\n')
    )
    git(repo, "commit", "-qam", "disdik: the agency's key")
    fingerprint = subprocess.run(
        ["ssh-keygen", "-lf", str(key.with_suffix(".pub"))],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[1]
    out = tmp_path / "out"
    done = opdhost("letter", "disdik", "--root", str(repo), "--out", str(out))
    assert done.exit_code == 0, done.output
    html = (out / "letter-disdik-activation-id.html").read_text()
    assert fingerprint in html and "/logs/access.log" in html
    assert public.split()[1] not in html  # the fingerprint, not the key
    _run(repo, "20261104T020000Z-3", "2026-11-04T02:00:00Z", [("ppdb", "create", "ok")])
    other = opdhost("letter", "ppdb", "--root", str(repo), "--out", str(out), "--lang", "en")
    assert other.exit_code == 0, other.output
    assert (
        "none yet: access is by SSH key only"
        in (out / "letter-ppdb-activation-en.html").read_text()
    )


def test_numbers_are_never_shared_and_a_letter_keeps_its_number(repo: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    _run(repo, "20261104T020000Z-3", "2026-11-04T02:00:00Z", [("ppdb", "create", "ok")])
    first = opdhost("letter", "disdik", "--root", str(repo), "--out", out)
    again = opdhost("letter", "disdik", "--root", str(repo), "--out", out, "--lang", "en")
    other = opdhost("letter", "ppdb", "--root", str(repo), "--out", out)
    renew = opdhost("letter", "disdik", "--root", str(repo), "--out", out, "--reissue")
    assert {r.exit_code for r in (first, again, other, renew)} == {0}
    letters = json.loads((repo / "records/lab/letters.json").read_text())["letters"]
    assert [(x["site"], x["seq"]) for x in letters] == [("disdik", 1), ("ppdb", 2), ("disdik", 3)]
    assert len({x["number"] for x in letters}) == 3
    english = (Path(out) / "letter-disdik-activation-en.html").read_text()
    assert letters[0]["number"] in english and "In reply to your letter" in english


def test_letter_refusals_leave_no_file_and_take_no_number(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cases = {
        ("letter", "nosuch"): "no request for site 'nosuch'",
        ("letter", "ppdb"): "no successful apply that created site ppdb",
        ("letter", "disdik", "--kind", "suspension"): "is active",
    }
    for args, message in cases.items():
        result = opdhost(*args, "--root", str(repo), "--out", str(out))
        assert result.exit_code == 1
        assert f"error: {message}" in result.output or message in result.output
        assert "Traceback" not in result.output
    (repo / "inventories/lab/group_vars/all/documents.yml").unlink()
    result = opdhost("letter", "disdik", "--root", str(repo), "--out", str(out))
    assert result.exit_code == 1 and "error: no letterhead" in result.output
    assert not out.exists() or not list(out.iterdir())
    assert not (repo / "records/lab/letters.json").exists()


def test_a_broken_template_is_an_error_with_its_line(repo: Path, tmp_path: Path) -> None:
    mine = repo / "office-templates"
    mine.mkdir()
    (mine / "letter.id.html").write_text("<p>\n{% if %}\n</p>\n")
    settings = repo / "inventories/lab/group_vars/all/documents.yml"
    settings.write_text(
        settings.read_text().replace('templates: ""', "templates: office-templates")
    )
    out = tmp_path / "out"
    result = opdhost("letter", "disdik", "--root", str(repo), "--out", str(out))
    assert result.exit_code == 1
    assert re.search(r"error: template .*letter\.id\.html:2: ", result.output), result.output
    assert not out.exists() or not list(out.iterdir())
    assert not (repo / "records/lab/letters.json").exists()


def test_request_values_are_printed_as_text() -> None:
    context = {
        "lang": "id", "kind": "activation", "number": "1", "date": "1 Januari 2026",
        "place": "X", "logo": "", "letterhead": {"government": "<b>G</b>", "office": "O",
        "address": "", "phone": "", "email": "", "website": ""},
        "signatory": {"title": "T", "title_en": "", "name": "N", "rank": "", "nip": ""},
        "opd": {"code": "x", "name": "<script>alert(1)</script> & Co"},
        "request": {"number": "1/2", "date": "1 Januari 2026", "agenda": "A"},
        "site": {"name": "x", "fqdn": "x.z", "url": "https://x.z", "aliases": [], "ip": "1.2.3.4",
                 "tls": True, "hsts": False, "runtime": "php", "storage_mb": 1,
                 "bandwidth_mbit": 1, "status": "active"},
        "sftp": {"host": "h", "port": 22, "account": "s-x", "keys": []}, "database": None,
        "effective": {"date": "d", "time": "t", "run_id": "r"},
    }  # fmt: skip
    html = render_html("letter.id.html", context, [TEMPLATES])
    assert "<script>" not in html and "<b>G</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html


def test_register_lists_every_pool_address_exactly_once(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = opdhost("register", "--root", str(repo), "--out", str(out))
    assert result.exit_code == 0, result.output
    with (out / "register-ip.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    ips = [r["ip"] for r in rows]
    # web1's pool, then web2's, once each
    assert ips == [f"10.203.0.{n}" for n in (*range(100, 200), *range(200, 250))]
    held = {r["ip"]: r for r in rows if r["site"]}
    assert set(held) == {"10.203.0.100", "10.203.0.101"}
    assert held["10.203.0.100"]["site"] == "disdik"
    assert held["10.203.0.100"]["request_letter"] == "421/123/Disdik/2026"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", held["10.203.0.100"]["since"])
    assert sum(1 for r in rows if r["state"] == "free") == 148
    with (out / "register-config.csv").open(newline="") as fh:
        config = {r["site"]: r for r in csv.DictReader(fh)}
    assert config["disdik"]["live_since"] == "2026-11-03 09:05"
    assert config["ppdb"]["live_since"] == "" and config["ppdb"]["db_name"] == "ppdb"
    pdf = _text(out / "register.pdf")
    assert "10.203.0.199" in pdf and "REGISTER KONFIGURASI HOSTING" in pdf
    for path in out.iterdir():
        assert not SECRETS.search(path.read_bytes().decode("latin-1"))


def test_report_counts_what_happened_in_the_period(repo: Path, tmp_path: Path) -> None:
    merged = git(repo, "log", "-1", "--format=%cs").strip()
    _run(repo, "20261110T020000Z-3", "2026-11-10T02:00:00Z", [("ppdb", "suspend", "ok")])
    out = tmp_path / "out"
    result = opdhost("report", "--root", str(repo), "--from", "2026-11-01", "--to", merged,
                     "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    stem = out / f"report-2026-11-01-{merged}"
    with stem.with_suffix(".csv").open(newline="") as fh:
        rows = {r["site"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"disdik", "ppdb"}
    assert rows["disdik"]["in_period"].split()[0] == "received"
    assert "provisioned" in rows["disdik"]["in_period"]
    assert rows["disdik"]["days_to_live"] == "1"  # letter 2 Nov, live 3 Nov
    assert "suspended" in rows["ppdb"]["in_period"] and rows["ppdb"]["live"] == ""
    assert "Hosting diaktifkan" in _text(stem.with_suffix(".pdf"))
    empty = opdhost("report", "--root", str(repo), "--from", "2020-01-01", "--to", "2020-01-31",
                    "--out", str(tmp_path / "none"))  # fmt: skip
    assert empty.exit_code == 1 and "error: nothing happened between" in empty.output
    assert not (tmp_path / "none").exists()


def test_maintenance_log_keeps_entries_and_counts_runs(repo: Path) -> None:
    added = opdhost("maintenance", "add", "disdik", "--note", "PHP 8.2 pool restarted",
                    "--who", "Andi", "--root", str(repo))  # fmt: skip
    assert added.exit_code == 0, added.output
    listed = opdhost("maintenance", "list", "disdik", "--root", str(repo))
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert "PHP 8.2 pool restarted" in lines[-1] and "Andi" in lines[-1]
    assert any("create failed" in line for line in lines)
    assert any("create ok" in line for line in lines)
    secret = opdhost("maintenance", "add", "disdik", "--note", "password: hunter2",
                     "--root", str(repo))  # fmt: skip
    assert secret.exit_code == 1 and "never hold a secret" in secret.output
    unknown = opdhost("maintenance", "add", "nosuch", "--note", "x", "--root", str(repo))
    assert unknown.exit_code == 1 and "no request for site 'nosuch'" in unknown.output
    assert len(list((repo / "records/lab/maintenance").glob("*.json"))) == 1


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_the_letter_pdf_is_one_printed_page(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert opdhost("letter", "disdik", "--root", str(repo), "--out", str(out)).exit_code == 0
    subprocess.run(["pdftoppm", "-png", "-r", "30", str(out / "letter-disdik-activation-id.pdf"),
                    str(tmp_path / "page")], check=True)  # fmt: skip
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == 1  # the signature block stays on the first page
    with Image.open(pages[0]) as image:
        assert image.size[0] < image.size[1]  # portrait A4
        dark = sum(image.convert("L").histogram()[:128])
        assert dark > 1000  # something is printed on it


def test_dates_in_the_office_language() -> None:
    assert long_date(dt.date(2026, 8, 17), "id") == "17 Agustus 2026"
    assert long_date(dt.date(2026, 8, 17), "en") == "17 August 2026"
