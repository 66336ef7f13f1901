"""Verification's database check read from the apply run (scripts/opdhost/apply/verify.py).

The apply playbook's last play logs in with each touched site's credentials file
(playbooks/apply.yml, tasks/verify_db_login.yml) and the runner keeps that task's result, so
verification needs no Ansible run of its own. What must hold: an answered login counts as the
site's `db` check, pass or fail; a login task that failed on a node as a whole fails its sites'
checks with its message; only the sites without an answer (a web node the run did not reach)
get a run of verify_db.yml. The DNS/HTTP checks and the Ansible run are replaced here by
recorders; the lab e2e tests run the real ones
(tests/e2e/test_apply_lab.py::test_a_database_the_web_node_cannot_reach_fails_the_verification_not_the_run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opdhost.apply import verify as verify_module
from opdhost.apply.runner import RunResult
from opdhost.apply.verify import LOGIN_TASK, Check, verify
from opdhost.fleet.model import Request, parse_request
from opdhost.fleet.platform import Platform
from synth import e2e_request


def _request(site: str, ip: int, engine: str = "mariadb") -> Request:
    req, found = parse_request(e2e_request(site, ip, engine).encode(), f"requests/e2e/{site}.yaml")
    assert req is not None, found
    return req


def _answered(outcomes: dict[str, tuple[bool, str]], **res: Any) -> RunResult:
    """A run whose login task on web1 answered `outcomes` (site -> (ok, error))."""
    run = RunResult("apply.yml", "successful", 0, 1.0, "")
    found = {site: {"ok": ok, "error": error} for site, (ok, error) in outcomes.items()}
    run.captured = {LOGIN_TASK: {"web1": {"changed": False, "outcomes": found, **res}}}
    return run


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The verify_db.yml runs verify() starts (each answers every login as accepted)."""
    started: list[dict[str, Any]] = []

    def fake_run(playbook: str, inventory: Path, **kwargs: Any) -> RunResult:
        started.append({"playbook": playbook, **kwargs})
        assert kwargs["capture"] == frozenset({LOGIN_TASK})
        return _answered({t["site"]: (True, "") for t in kwargs["extravars"]["opdhost_verify_db"]})

    def no_site_checks(req: Request, platform: Platform, wait: float) -> list[Check]:
        return []

    monkeypatch.setattr(verify_module, "run_playbook", fake_run)
    monkeypatch.setattr(verify_module, "_site_checks", no_site_checks)
    return started


def _verify(requests: list[Request], platform: Platform, reported: RunResult | None) -> list[Check]:
    result = verify(
        requests, platform, Path("hosts.yml"), artifacts=Path("a"), ident="x", reported=reported
    )
    return [c for c in result.checks if c.what == "db"]


def test_reported_logins_need_no_run_of_their_own(
    lab_platform: Platform, runs: list[dict[str, Any]]
) -> None:
    apply_run = _answered({"alpha": (True, ""), "beta": (False, "OperationalError: denied")})
    checks = _verify([_request("alpha", 200), _request("beta", 201)], lab_platform, apply_run)
    assert runs == []
    assert [(c.site, c.ok) for c in checks] == [("alpha", True), ("beta", False)]
    assert checks[0].detail == "mariadb alpha as alpha from web1: accepted"
    assert checks[1].detail.endswith(
        "from web1 with /srv/www/beta/private/db.env: OperationalError: denied"
    )


def test_a_login_task_that_failed_fails_its_sites_with_its_message(
    lab_platform: Platform, runs: list[dict[str, Any]]
) -> None:
    apply_run = _answered({}, failed=True, msg="PyMySQL and psycopg2 are needed on the node")
    checks = _verify([_request("alpha", 200)], lab_platform, apply_run)
    assert runs == []
    assert [(c.ok, c.detail) for c in checks] == [
        (False, "not checked (web1: PyMySQL and psycopg2 are needed on the node)")
    ]


def test_only_the_unreported_sites_get_a_run(
    lab_platform: Platform, runs: list[dict[str, Any]]
) -> None:
    apply_run = _answered({"alpha": (True, "")})
    checks = _verify(
        [_request("alpha", 200), _request("gamma", 202), _request("delta", 203, "none")],
        lab_platform,
        apply_run,
    )
    assert len(runs) == 1 and runs[0]["playbook"] == "verify_db.yml"
    assert [t["site"] for t in runs[0]["extravars"]["opdhost_verify_db"]] == ["gamma"]
    assert [(c.site, c.ok) for c in checks] == [("alpha", True), ("gamma", True)]


def test_without_the_apply_run_every_login_is_checked_by_a_run(
    lab_platform: Platform, runs: list[dict[str, Any]]
) -> None:
    checks = _verify([_request("alpha", 200), _request("beta", 201)], lab_platform, None)
    assert [[t["site"] for t in r["extravars"]["opdhost_verify_db"]] for r in runs] == [
        ["alpha", "beta"]
    ]
    assert all(c.ok for c in checks)
