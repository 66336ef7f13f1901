"""The usage report's page in headless Chromium: every chart renders (a non-empty SVG box, the
right number of them), and a screenshot of it is kept for the README (docs/images/usage.png).

The report itself carries no script; the test renders a copy of it with a small inline
script that writes each chart's rendered size into the page, and reads the page back with
--dump-dom. Chromium is Debian's (scripts/setup.sh installs it); without it the test skips.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from opdhost.apply.records import Records
from opdhost.fleet.platform import load_platform, platform_path
from opdhost.usage import store
from opdhost.usage.period import Month, parse_month
from opdhost.usage.report import make_usage_report

from .conftest import REPO
from .test_usage import _record, usage_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The usage repository of test_usage."""
    return usage_repo(tmp_path)


CHROMIUM = shutil.which("chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PROBE = """<script>
document.addEventListener("DOMContentLoaded", () => {
  const boxes = [...document.querySelectorAll(".chart svg")].map((svg) => {
    const r = svg.getBoundingClientRect();
    return {w: r.width, h: r.height, shapes: svg.querySelectorAll("path, rect, text").length};
  });
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(boxes);
  document.body.appendChild(out);
});
</script></head>"""


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup.sh)"
)
def test_charts_render_in_chromium_and_the_page_is_pictured(repo: Path, tmp_path: Path) -> None:
    records = Records(repo / "records", "lab")
    for month in ("2026-10", "2026-11", "2026-12"):
        store.save(records, parse_month(month), _record(repo, month))
    out = tmp_path / "out"
    platform = load_platform(platform_path(repo, "lab"))
    make_usage_report(
        repo,
        platform,
        inventory_dir=repo / "inventories" / "lab",
        records=records,
        month=Month(2026, 12),
        out=out,
    )
    page = (out / "usage-2026-12.html").read_text(encoding="utf-8")
    assert "<script" not in page

    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</head>", PROBE, 1), encoding="utf-8")
    dom = _chromium(tmp_path / "profile-1", "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert found is not None, dom.stderr[-2000:]
    boxes = json.loads(found.group(1).replace("&quot;", '"'))
    assert len(boxes) == 5  # storage, database, bandwidth, traffic per day, trend
    for box in boxes:
        assert box["w"] > 200 and box["h"] > 100 and box["shapes"] > 10, boxes

    shot = tmp_path / "usage.png"
    done = _chromium(
        tmp_path / "profile-2", f"--screenshot={shot}", "--window-size=1400,1800",
        "--hide-scrollbars", (out / "usage-2026-12.html").as_uri(),
    )  # fmt: skip
    assert shot.is_file() and shot.stat().st_size > 20_000, done.stderr[-2000:]
    target = REPO / "docs" / "images" / "usage.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, target)
