"""The decisions apply makes before and after Ansible (no lab needed).

Which nodes a change visits and which sites their `*_only` lists name (from digests against
the applied state), how a partial failure advances the applied state, and the lock. These
are the rules behind "one new hosting touches only what it needs" and "a re-run finishes".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from opdhost.apply import runner
from opdhost.apply.lock import LockedError, apply_lock
from opdhost.apply.pipeline import Outcome, SiteResult, Work, _new_state, node_digests, plan_work
from opdhost.apply.records import AppliedState, ci_context
from opdhost.apply.render import render
from opdhost.apply.runner import RunResult, TaskResult
from opdhost.fleet.model import Request, parse_request
from opdhost.fleet.plan import compute_plan
from opdhost.fleet.platform import Platform, load_platform, platform_path
from synth import e2e_request

from .conftest import REPO


def _request(site: str, ip: int, engine: str = "mariadb", mbit: int = 10) -> Request:
    text = e2e_request(site, ip, engine, mbit=mbit)
    req, found = parse_request(text.encode(), f"requests/e2e/{site}.yaml")
    assert req is not None, found
    return req


@pytest.fixture(scope="module")
def lab() -> Platform:
    return load_platform(platform_path(REPO, "lab"))


def _applied(work: Work) -> AppliedState:
    return AppliedState("c0ffee", "", dict(work.new_state))


def test_first_apply_converges_every_node_with_every_site(lab: Platform) -> None:
    fleet = [_request("satu", 150), _request("dua", 151, "postgresql")]
    work = plan_work(render(fleet, lab).nodes, AppliedState(), everything=False)
    assert work.playbook == "site.yml"
    assert work.limit == ["db1", "db2", "ns1", "ns2", "web1", "web2"]  # web2, db2: no site yet
    assert work.node_vars["web1"]["apache_vhost_only"] == []  # [] = every site
    # the DNS nodes too: [] makes dns_zone check (and stamp) its node setup
    assert work.node_vars["ns1"]["dns_zone_only"] == work.node_vars["ns2"]["dns_zone_only"] == []


def test_nothing_changed_visits_no_node(lab: Platform) -> None:
    fleet = [_request("satu", 150)]
    state = _applied(plan_work(render(fleet, lab).nodes, AppliedState(), everything=False))
    work = plan_work(render(fleet, lab).nodes, state, everything=False)
    assert work.limit == [] and work.changed_sites == []


def test_one_new_hosting_touches_only_its_site_on_its_nodes(lab: Platform) -> None:
    fleet = [_request(f"lama{i}", 150 + i) for i in range(20)]
    state = _applied(plan_work(render(fleet, lab).nodes, AppliedState(), everything=False))
    new = [*fleet, _request("baru", 190)]
    work = plan_work(render(new, lab).nodes, state, everything=False)
    assert work.playbook == "apply.yml"
    assert work.limit == ["db1", "ns1", "web1"]  # ns2 transfers the new record from ns1
    assert work.node_vars["web1"]["apache_vhost_only"] == ["baru"]
    assert work.node_vars["db1"]["database_only"] == ["baru"]
    # a narrowed zone run: the primary skips its stamped node setup, the zone is still whole
    assert work.node_vars["ns1"]["dns_zone_only"] == ["baru"]
    assert len(work.node_vars["ns1"]["dns_zone_records"]) == 42  # an A and a www CNAME each
    assert len(work.node_vars["web1"]["apache_vhost_sites"]) == 21  # node-wide files: all
    assert work.changed_sites == ["baru"]


def test_bandwidth_change_visits_only_the_web_node(lab: Platform) -> None:
    fleet = [_request("satu", 150), _request("dua", 151)]
    state = _applied(plan_work(render(fleet, lab).nodes, AppliedState(), everything=False))
    changed = [fleet[0], _request("dua", 151, mbit=20)]
    work = plan_work(render(changed, lab).nodes, state, everything=False)
    assert work.limit == ["web1"]
    assert work.node_vars["web1"]["apache_vhost_only"] == ["dua"]


def test_sites_on_the_second_nodes_visit_only_those_nodes(lab: Platform) -> None:
    """Two web nodes and two database servers: a change visits the nodes of its own sites."""

    def on_two(site: str, ip: int, engine: str = "mariadb", mbit: int = 10) -> Request:
        text = e2e_request(site, ip, engine, mbit=mbit, node="web2", db_server="db2")
        req, found = parse_request(text.encode(), f"requests/e2e/{site}.yaml")
        assert req is not None, found
        return req

    fleet = [_request("satu", 150), _request("dua", 151, "postgresql")]
    state = _applied(plan_work(render(fleet, lab).nodes, AppliedState(), everything=False))
    new = [*fleet, on_two("tiga", 200, "postgresql")]
    work = plan_work(render(new, lab).nodes, state, everything=False)
    assert work.limit == ["db2", "ns1", "web2"]
    assert work.node_vars["web2"]["apache_vhost_only"] == ["tiga"]
    assert work.node_vars["db2"]["database_only"] == ["tiga"]
    state = _applied(work)
    changed = [*fleet, on_two("tiga", 200, "postgresql", mbit=20)]
    work = plan_work(render(changed, lab).nodes, state, everything=False)
    assert work.limit == ["web2"] and work.changed_sites == ["tiga"]


def test_all_converges_every_site_on_every_node(lab: Platform) -> None:
    fleet = [_request("satu", 150)]
    state = _applied(plan_work(render(fleet, lab).nodes, AppliedState(), everything=False))
    work = plan_work(render(fleet, lab).nodes, state, everything=True)
    assert work.playbook == "site.yml" and len(work.limit) == 6
    assert work.node_vars["db1"]["database_only"] == []
    assert work.node_vars["ns1"]["dns_zone_only"] == work.node_vars["ns2"]["dns_zone_only"] == []


def test_a_visited_secondary_always_checks_its_node_setup(lab: Platform) -> None:
    """The secondaries get no records (they transfer them), so nothing narrows their run: a
    change that visits one (here a secondary's address, a setting) gives it dns_zone_only: []."""
    fleet = [_request("satu", 150)]
    state = _applied(plan_work(render(fleet, lab).nodes, AppliedState(), everything=False))
    rendered = render([*fleet, _request("baru", 190)], lab).nodes
    now = {node: dict(values) for node, values in rendered.items()}
    for node in ("ns1", "ns2"):
        now[node]["dns_zone_secondaries"] = ["10.203.0.33"]
    work = plan_work(now, state, everything=False)
    assert "ns2" in work.limit and work.node_vars["ns2"]["dns_zone_only"] == []
    # the primary: a site changed too, so the list is narrowed; its stamp covers the setting
    assert work.node_vars["ns1"]["dns_zone_only"] == ["baru"]


def test_failed_database_node_keeps_its_work_pending(lab: Platform) -> None:
    fleet = [_request("satu", 150)]
    state = _applied(plan_work(render(fleet, lab).nodes, AppliedState(), everything=False))
    new = [*fleet, _request("baru", 190)]
    work = plan_work(render(new, lab).nodes, state, everything=False)
    failure = TaskResult("db1", "Create", "database", "", True, True, "unreachable")
    run = RunResult("apply.yml", "failed", 2, 1.0, "/x", failures=[failure],
                    stats={"processed": dict.fromkeys(work.limit, 1)})  # fmt: skip
    step = "db1: database: Create"
    sites = [SiteResult("baru", "create", "failed", step, "", work.limit, {"db1"})]
    after = _new_state(state, work, sites, run, "beef")
    assert after.commit == "c0ffee"  # not complete: the commit stays the last complete one
    assert after.nodes["db1"] == state.nodes["db1"]
    assert after.nodes["web1"] == work.new_state["web1"]  # its part of the site is done
    again = plan_work(render(new, lab).nodes, after, everything=False)
    assert again.limit == ["db1"] and again.node_vars["db1"]["database_only"] == ["baru"]


def test_complete_run_advances_every_node(lab: Platform) -> None:
    fleet = [_request("satu", 150)]
    state = _applied(plan_work(render(fleet, lab).nodes, AppliedState(), everything=False))
    new = [*fleet, _request("baru", 190)]
    work = plan_work(render(new, lab).nodes, state, everything=False)
    run = RunResult("apply.yml", "successful", 0, 1.0, "/x",
                    stats={"processed": dict.fromkeys(work.limit, 1)})  # fmt: skip
    sites = [SiteResult("baru", "create", "ok", "", "", work.limit)]
    after = _new_state(state, work, sites, run, "beef")
    assert after.commit == "beef"
    assert plan_work(render(new, lab).nodes, after, everything=False).limit == []


def test_canceled_run_advances_nothing(lab: Platform) -> None:
    fleet = [_request("satu", 150)]
    work = plan_work(render(fleet, lab).nodes, AppliedState(), everything=False)
    run = RunResult("site.yml", "canceled", 254, 1.0, "/x",
                    stats={"processed": dict.fromkeys(work.limit, 1)})  # fmt: skip
    after = _new_state(AppliedState(), work, [], run, "beef")
    assert after.nodes == {} and after.commit == ""


def test_second_apply_lock_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    with (
        apply_lock(inventory, tmp_path),
        pytest.raises(LockedError) as err,
        apply_lock(inventory, tmp_path),
    ):
        pass
    assert "another `opdhost apply` is running" in str(err.value)
    assert "pid" in str(err.value)
    with apply_lock(inventory, tmp_path):  # released: a later apply takes it
        pass


def test_node_digest_ignores_only_lists_but_not_site_fields() -> None:
    base: dict[str, object] = {"apache_vhost_sites": [{"site": "a"}], "apache_vhost_only": []}
    assert node_digests(base) == node_digests({**base, "apache_vhost_only": ["a"]})
    changed = {**base, "apache_vhost_sites": [{"site": "a", "ip": "10.203.0.150"}]}
    assert node_digests(base).digest != node_digests(changed).digest
    assert node_digests(base).sites["a"] != node_digests(changed).sites["a"]


def test_check_mode_drift_is_named_per_site_and_per_node(lab: Platform) -> None:
    fleet = [_request("satu", 150), _request("dua", 151)]
    work = plan_work(render(fleet, lab).nodes, AppliedState(), everything=True)
    changes = [
        TaskResult("web1", "Create the site's user", "apache_vhost", "dua", False, False, ""),
        TaskResult("db1", "Reset the password", "database", "dua", False, False, ""),
        TaskResult("web1", "Write the vhosts file", "apache_vhost", "", False, False, ""),
    ]
    run = RunResult("site.yml", "successful", 0, 1.0, "/x", changes=changes)
    sites = [SiteResult(s, "converge", "check", "", "", ["web1"]) for s in ("dua", "satu")]
    outcome = Outcome("r1", compute_plan({}, {}), work, sites, run, None, {}, None)
    assert outcome.drift == [
        {"node": "web1", "tasks": ["web1: apache_vhost: Write the vhosts file"]},
        {
            "site": "dua",
            "tasks": [
                "db1: database: Reset the password",
                "web1: apache_vhost: Create the site's user",
            ],
        },
    ]
    quiet = Outcome("r2", compute_plan({}, {}), work, sites, RunResult("site.yml", "successful",
                    0, 1.0, "/x"), None, {}, None)  # fmt: skip
    assert quiet.drift == []


def test_the_run_record_names_the_merge_request_and_its_approvers() -> None:
    env = {
        "CI": "true",
        "OPDHOST_MERGE_REQUEST": "42",
        "OPDHOST_MERGE_REQUEST_URL": "https://git.kab-contoh.go.id/dkisp/hosting/-/merge_requests/42",
        "OPDHOST_MR_AUTHOR": "engineer1",
        "OPDHOST_APPROVED_BY": "kepala, kabid ,",
        "OPDHOST_MERGE_COMMIT": "c0ffee",
        "GITLAB_USER_LOGIN": "engineer1",
        "CI_JOB_URL": "https://git.kab-contoh.go.id/dkisp/hosting/-/jobs/7",
    }
    ctx = ci_context(env)
    assert ctx["merge_request"] == "42" and ctx["merge_request_author"] == "engineer1"
    assert ctx["approved_by"] == ["kepala", "kabid"] and ctx["merge_commit"] == "c0ffee"
    assert ctx["ci_job"] == "https://git.kab-contoh.go.id/dkisp/hosting/-/jobs/7"
    assert ci_context({})["approved_by"] == [] and ci_context({})["merge_request"] is None


def test_the_runner_finds_the_repositorys_playbooks_and_roles() -> None:
    assert runner.REPO == REPO
    assert {"site.yml", "apply.yml", "verify_db.yml"} <= {
        p.name for p in runner.PLAYBOOK_DIR.iterdir()
    }
