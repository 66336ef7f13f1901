"""`opdhost plan` and `compute_plan`: actions, field diffs, transitions, guard, formats."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from opdhost.fleet.formats import plan_markdown
from opdhost.fleet.model import parse_request
from opdhost.fleet.plan import Action, Plan, SafetyPolicy, SiteChange, compute_plan

from .conftest import REPO, git, git_repo, opdhost, write_files


def _examples() -> dict[str, str]:
    return {
        str(p.relative_to(REPO)): p.read_text() for p in sorted((REPO / "requests").rglob("*.yaml"))
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The example requests committed on main."""
    return git_repo(tmp_path, _examples())


def plan(root: Path, *args: str) -> tuple[int, str]:
    result = opdhost("plan", "--root", str(root), *args)
    return result.exit_code, result.stdout


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_no_change_is_an_empty_plan(repo: Path) -> None:
    code, out = plan(repo)
    assert code == 0
    assert "no changes (6 existing sites)" in out


def test_each_action_with_field_diffs(repo: Path) -> None:
    _edit(repo, "requests/disdik/ppdb.yaml", "bandwidth_mbit: 50", "bandwidth_mbit: 100")
    _edit(repo, "requests/dinkes/sehat.yaml", "status: active", "status: suspended")
    _edit(repo, "requests/dpmptsp/perizinan.yaml", "status: suspended", "status: active")
    _edit(repo, "requests/bappeda/renbang.yaml", "status: active", "status: decommissioned")
    text = (repo / "requests/disdik/ppdb.yaml").read_text()
    new = text.replace("site: ppdb", "site: sekolah").replace("10.203.0.101", "10.203.0.110")
    new = new.replace("name: ppdb\n  user: ppdb_app", "name: sekolah\n  user: sekolah")
    write_files(repo, {"requests/disdik/sekolah.yaml": new})
    code, out = plan(repo, "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    actions = {c["site"]: c["action"] for c in data["changes"]}
    assert actions == {
        "ppdb": "update",
        "sehat": "suspend",
        "perizinan": "reactivate",
        "renbang": "decommission",
        "sekolah": "create",
    }
    ppdb = next(c for c in data["changes"] if c["site"] == "ppdb")
    assert ppdb["changes"] == [{"field": "web.bandwidth_mbit", "old": 50, "new": 100}]
    sehat = next(c for c in data["changes"] if c["site"] == "sehat")
    assert sehat["changes"] == [{"field": "status", "old": "active", "new": "suspended"}]
    assert data["summary"]["create"] == 1
    assert data["findings"] == []
    # contact details (personal data) never appear in a plan
    assert "@" not in out and "+62" not in out


def test_text_and_markdown_outputs(repo: Path) -> None:
    _edit(repo, "requests/disdik/ppdb.yaml", "bandwidth_mbit: 50", "bandwidth_mbit: 100")
    code, text = plan(repo)
    assert code == 0
    assert "~ ppdb (update) requests/disdik/ppdb.yaml" in text
    assert "    web.bandwidth_mbit: 50 -> 100" in text
    code, md = plan(repo, "--format", "markdown")
    assert code == 0
    first_lines = md.splitlines()[:3]
    assert first_lines[0] == "### opdhost plan"
    assert "**1 update**" in first_lines[2] and "checks passed" in first_lines[2]
    assert "| ~ | ppdb | update | disdik | web.bandwidth_mbit |" in md
    assert "<details><summary>Field-level changes</summary>" in md
    assert "- web.bandwidth_mbit: 50\n+ web.bandwidth_mbit: 100" in md
    assert "<details><summary>Capacity ledger</summary>" in md


def test_removed_file_of_a_live_site_is_an_error(repo: Path) -> None:
    (repo / "requests/disdik/ppdb.yaml").unlink()
    code, out = plan(repo)
    assert code == 1
    assert (
        "requests/disdik/ppdb.yaml:14: status: request file removed while the hosting is "
        "active: set status: decommissioned and apply first (nothing is removed silently)"
    ) in out


def test_removed_file_after_decommission_is_forgotten(repo: Path) -> None:
    _edit(repo, "requests/bappeda/renbang.yaml", "status: active", "status: decommissioned")
    git(repo, "commit", "-qam", "decommission renbang")
    (repo / "requests/bappeda/renbang.yaml").unlink()
    code, out = plan(repo, "--format", "json")
    assert code == 0, out
    assert [(c["site"], c["action"]) for c in json.loads(out)["changes"]] == [("renbang", "forget")]


def test_decommissioned_cannot_come_back(repo: Path) -> None:
    _edit(repo, "requests/bappeda/renbang.yaml", "status: active", "status: decommissioned")
    git(repo, "commit", "-qam", "decommission renbang")
    _edit(repo, "requests/bappeda/renbang.yaml", "status: decommissioned", "status: active")
    code, out = plan(repo)
    assert code == 1
    assert (
        "requests/bappeda/renbang.yaml:14: status: decommissioned -> active is not allowed" in out
    )


def test_new_site_cannot_start_decommissioned(repo: Path) -> None:
    text = (repo / "requests/bappeda/renbang.yaml").read_text()
    text = text.replace("renbang", "arsip").replace("10.203.0.103", "10.203.0.120")
    write_files(repo, {"requests/bappeda/arsip.yaml": text.replace("active", "decommissioned")})
    code, out = plan(repo)
    assert code == 1
    assert (
        "requests/bappeda/arsip.yaml:14: status: a new request cannot start as decommissioned"
        in out
    )


def test_immutable_fields_of_an_existing_site(repo: Path) -> None:
    _edit(repo, "requests/disdik/ppdb.yaml", "engine: postgresql", "engine: mariadb")
    code, out = plan(repo)
    assert code == 1
    assert (
        "requests/disdik/ppdb.yaml:23: database.engine: cannot change on an existing hosting "
        "('postgresql' -> 'mariadb'): decommission it and file a new request"
    ) in out


def test_validate_checks_transitions_against_the_merge_base(repo: Path) -> None:
    (repo / "requests/disdik/ppdb.yaml").unlink()
    result = opdhost("validate", "--root", str(repo))
    assert result.exit_code == 1
    assert "requests/disdik/ppdb.yaml:14: status: request file removed" in result.stdout
    assert opdhost("validate", "--root", str(repo), "--no-base").exit_code == 0


def test_default_base_is_the_merge_base_with_main(repo: Path) -> None:
    git(repo, "checkout", "-qb", "feature")
    _edit(repo, "requests/disdik/ppdb.yaml", "bandwidth_mbit: 50", "bandwidth_mbit: 60")
    git(repo, "commit", "-qam", "more bandwidth")
    code, out = plan(repo, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["base"] == git(repo, "rev-parse", "main").strip()
    assert [c["site"] for c in data["changes"]] == ["ppdb"]


def test_unknown_base_ref_is_a_clear_error(repo: Path) -> None:
    result = opdhost("plan", "--root", str(repo), "--base", "no-such-branch")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: git rev-parse failed")


def test_broken_file_in_the_base_is_a_warning_not_a_blocker(repo: Path) -> None:
    (repo / "requests/disdik/ppdb.yaml").write_text("site: [\n")
    git(repo, "commit", "-qam", "broken on main")
    shutil.copy(REPO / "requests/disdik/ppdb.yaml", repo / "requests/disdik/ppdb.yaml")
    code, out = plan(repo, "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert [f["severity"] for f in data["findings"]] == ["warning"]
    assert [(c["site"], c["action"]) for c in data["changes"]] == [("ppdb", "create")]


def _fleet_plan(existing: int, decommissions: int, updates: int) -> Plan:
    changes = [SiteChange(f"d{i}", Action.DECOMMISSION, "", "x") for i in range(decommissions)]
    changes += [SiteChange(f"u{i}", Action.UPDATE, "", "x") for i in range(updates)]
    return Plan(tuple(changes), existing=existing)


def test_safety_guard_thresholds() -> None:
    policy = SafetyPolicy()
    assert policy.violations(_fleet_plan(100, 5, 30)) == []
    assert policy.violations(_fleet_plan(100, 6, 0)) == ["6 decommissions exceed the limit of 5"]
    assert policy.violations(_fleet_plan(100, 0, 31)) == [
        "31 updates are 31% of the 100 existing sites (limit 30%)"
    ]
    # small fleets: only the absolute limits apply (3 of 5 sites is not a mass change)
    assert policy.violations(_fleet_plan(5, 3, 3)) == []


def test_guard_refuses_without_force_and_allows_with_it(repo: Path) -> None:
    for rel in ("requests/disdik/ppdb.yaml", "requests/dinkes/sehat.yaml"):
        _edit(repo, rel, "status: active", "status: decommissioned")
    code, out = plan(repo, "--max-decommissions", "1")
    assert code == 1
    assert "Safety guard: 2 decommissions exceed the limit of 1: refused without --force" in out
    code, out = plan(repo, "--max-decommissions", "1", "--force")
    assert code == 0
    assert "allowed by --force" in out


def test_compute_plan_is_pure_and_keyed_by_site() -> None:
    text = (REPO / "requests/disdik/ppdb.yaml").read_bytes()
    old, _ = parse_request(text, "requests/disdik/ppdb.yaml")
    new, _ = parse_request(
        text.replace(b"runtime: php", b"runtime: static"), "requests/disdik/ppdb.yaml"
    )
    assert old is not None and new is not None
    result = compute_plan({"ppdb": old}, {"ppdb": new})
    (change,) = result.changes
    assert change.site == "ppdb"
    assert change.action is Action.UPDATE
    assert [(c.field, c.old, c.new) for c in change.changes] == [("web.runtime", "php", "static")]
    assert compute_plan({"ppdb": old}, {"ppdb": old}).empty


def test_markdown_caps_the_sites_it_lists() -> None:
    big = _fleet_plan(1000, 0, 150)
    md = plan_markdown(big, "main", findings=[], guard=[], forced=False, max_sites=100)
    assert md.count("| ~ | u") == 100
    assert "… and 50 more sites (see `opdhost plan --format json`)" in md
