"""Moves (issue 16): a hosting changes web node and/or database server as a planned change.

The request side: which changes are moves and which are refused (file:line:field), the plan's
`move` action in text, Markdown and JSON, the safety guard, and `opdhost move` rewriting the
request file (free IP of the new pool, open merge requests' IPs skipped, other lines kept).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opdhost.fleet.claims import Claims
from opdhost.fleet.loading import load_working_tree
from opdhost.fleet.model import Request, parse_request
from opdhost.fleet.moves import move_of
from opdhost.fleet.plan import Action, SafetyPolicy, compute_plan

from .conftest import PATH, REPO, git, make_request, opdhost, write_files
from .conftest import git_repo as _git_repo

OTHER = "requests/dinkes/sehat2.yaml"


def _req(text: str, path: str = PATH) -> Request:
    req, found = parse_request(text.encode(), path)
    assert req is not None, found
    return req


MOVED = make_request(**{"node: web1": "node: web2", "10.203.0.100": "10.203.0.200"})
MOVED_DB = make_request(**{"server: db1": "server: db2"})
BOTH = make_request(
    **{"node: web1": "node: web2", "10.203.0.100": "10.203.0.200", "server: db1": "server: db2"}
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """One site (disdik on web1/db1) committed on main."""
    return _git_repo(tmp_path, {PATH: "# the agency's own note\n" + make_request()})


def _validate(root: Path) -> tuple[int, list[str]]:
    result = opdhost("validate", "--root", str(root), "--base", "main")
    return result.exit_code, result.stdout.splitlines()


def test_a_web_and_database_move_is_allowed_and_planned_as_a_move(repo: Path) -> None:
    write_files(repo, {PATH: BOTH})
    assert _validate(repo) == (0, [])
    result = opdhost("plan", "--root", str(repo), "--base", "main")
    assert result.exit_code == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].endswith(": 1 move (1 existing sites)")
    assert lines[1] == f"> disdik (move) {PATH}"
    assert lines[2] == "    move web1 -> web2 (10.203.0.100 -> 10.203.0.200), mariadb db1 -> db2"
    data = json.loads(
        opdhost("plan", "--root", str(repo), "--base", "main", "--format", "json").stdout
    )
    change = data["changes"][0]
    assert change["action"] == "move" and data["summary"]["move"] == 1
    assert change["move"]["web"] == {"from": "web1", "to": "web2"}
    assert change["move"]["ip"] == {"from": "10.203.0.100", "to": "10.203.0.200"}
    assert change["move"]["database"] == {"engine": "mariadb", "from": "db1", "to": "db2"}
    md = opdhost("plan", "--root", str(repo), "--base", "main", "--format", "markdown").stdout
    assert "| > | disdik | move | disdik | move web1 -&gt; web2 (10.203.0.100" in md


@pytest.mark.parametrize(
    ("text", "summary"),
    [
        (MOVED, "move web1 -> web2 (10.203.0.100 -> 10.203.0.200)"),
        (MOVED_DB, "move mariadb db1 -> db2"),
    ],
)
def test_web_only_and_database_only_moves(repo: Path, text: str, summary: str) -> None:
    write_files(repo, {PATH: text})
    assert _validate(repo) == (0, [])
    data = json.loads(
        opdhost("plan", "--root", str(repo), "--base", "main", "--format", "json").stdout
    )
    assert data["changes"][0]["move"]["summary"] == summary


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            MOVED.replace("status: active", "status: suspended"),
            f"{PATH}:16: web.node: a move (web node changed) cannot be combined with a status "
            "change (active -> suspended) in the same change: change one, apply, then the other",
        ),
        (
            MOVED_DB.replace("status: active", "status: decommissioned"),
            f"{PATH}:26: database.server: a decommissioned hosting does not move: keep its "
            "database server ('db1') and set status: decommissioned alone",
        ),
        (
            BOTH.replace("engine: mariadb", "engine: postgresql"),
            f"{PATH}:16: web.node: a move (web node changed) cannot be combined with a change "
            "of database.engine in the same change: the copy needs the same database on both "
            "sides",
        ),
        (
            make_request(**{"node: web1": "node: web2"}),
            f"{PATH}:17: web.ip: 10.203.0.100 is outside web2's pool 10.203.0.200-10.203.0.249",
        ),
        (
            make_request(**{"node: web1": "node: web9"}),
            f"{PATH}:16: web.node: unknown web node 'web9' (known: web1, web2)",
        ),
        (
            make_request(**{"server: db1": "server: ns1"}),
            f"{PATH}:26: database.server:",
        ),
    ],
)
def test_moves_that_cannot_be_done_safely_are_refused(repo: Path, text: str, expected: str) -> None:
    # the agency's note on line 1 shifts every line by one against conftest.VALID
    write_files(repo, {PATH: "# the agency's own note\n" + text})
    code, lines = _validate(repo)
    assert code == 1
    assert any(line.startswith(expected) for line in lines), lines


def test_a_suspended_hosting_moves_too(tmp_path: Path) -> None:
    """Suspending first is how an agency's writes are held during the copy (docs/moves.md)."""
    root = _git_repo(tmp_path, {PATH: make_request(**{"status: active": "status: suspended"})})
    result = opdhost("move", "disdik", "--root", str(root), "--web-node", "web2", "--offline")
    assert result.exit_code == 0, result.output
    assert _validate(root) == (0, [])
    plan = opdhost("plan", "--root", str(root), "--base", "main").stdout.splitlines()
    assert plan[1] == f"> disdik (move) {PATH}"


def test_the_old_ip_stays_with_the_moving_site_until_the_switch(repo: Path) -> None:
    newcomer = make_request("sehat2", "dinkes", "10.203.0.100")
    write_files(repo, {PATH: MOVED, OTHER: newcomer})
    code, lines = _validate(repo)
    assert code == 1
    assert lines == [
        f"{OTHER}:16: web.ip: 10.203.0.100 is still served by 'disdik' until its move switches "
        "to the new node: take another address (apply the move first)"
    ]


def test_capacity_is_checked_on_the_new_node(tmp_path: Path) -> None:
    platform = (REPO / "inventories/lab/group_vars/all/platform.yml").read_text()
    small = platform.replace("      sites: 50\n", "      sites: 1\n")
    assert small != platform
    files = {
        PATH: make_request(),
        OTHER: make_request("sehat2", "dinkes", "10.203.0.240", **{"node: web1": "node: web2"}),
    }
    root = _git_repo(tmp_path, files)
    write_files(root, {"inventories/lab/group_vars/all/platform.yml": small})
    git(root, "commit", "-qam", "web2 holds one site")
    write_files(root, {PATH: MOVED})
    code, lines = _validate(root)
    assert code == 1
    assert f"{PATH}:1: site: over web2's sites capacity: 2 of 1" in lines, lines
    git(root, "checkout", "-q", "--", PATH)
    result = opdhost("move", "disdik", "--root", str(root), "--web-node", "web2", "--offline")
    assert result.exit_code == 1
    assert "disdik does not fit on web2: web2 already has 1 of 1 sites" in result.stderr


def test_the_plan_action_and_the_guard_count_moves_as_updates() -> None:
    old, new = _req(make_request()), _req(BOTH)
    plan = compute_plan({"disdik": old}, {"disdik": new})
    assert [c.action for c in plan.changes] == [Action.MOVE]
    assert plan.changes[0].move == move_of(old, new)
    many = {f"s{i}": _req(make_request(f"s{i}"), f"requests/disdik/s{i}.yaml") for i in range(20)}
    moved = {
        s: _req(make_request(s, **{"server: db1": "server: db2"}), f"requests/disdik/{s}.yaml")
        for s in many
    }
    guard = SafetyPolicy().violations(compute_plan(many, moved))
    assert guard == ["20 updates are 100% of the 20 existing sites (limit 30%)"]


def test_writing_out_the_only_server_is_no_move() -> None:
    old = _req(make_request(**{"  server: db1\n": ""}))
    assert move_of(old, _req(make_request())) is None


# --- opdhost move ----------------------------------------------------------------------------


def test_move_rewrites_the_file_and_keeps_its_other_lines(repo: Path) -> None:
    before = (repo / PATH).read_text()
    result = opdhost(
        "move", "disdik", "--root", str(repo), "--web-node", "web2", "--db-server", "db2",
        "--offline",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"wrote {PATH}: move web1 -> web2 (10.203.0.100 -> 10.203.0.200), mariadb db1 -> db2"
    )
    after = (repo / PATH).read_text()
    assert after == before.replace("node: web1", "node: web2").replace(
        "10.203.0.100", "10.203.0.200"
    ).replace("server: db1", "server: db2")
    assert after.startswith("# the agency's own note\n")
    assert _validate(repo) == (0, [])


def test_move_skips_ips_taken_by_files_and_open_merge_requests(repo: Path) -> None:
    write_files(repo, {OTHER: make_request("sehat2", "dinkes", "10.203.0.200",
                                           **{"node: web1": "node: web2"})})  # fmt: skip
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "sehat2 on web2")
    # an open merge request's branch claims .201
    git(repo, "checkout", "-qb", "other")
    write_files(repo, {"requests/dinkes/sehat3.yaml": make_request(
        "sehat3", "dinkes", "10.203.0.201", **{"node: web1": "node: web2"})})  # fmt: skip
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "sehat3")
    git(repo, "update-ref", "refs/opdhost/open/mr/7", "HEAD")
    git(repo, "checkout", "-q", "main")
    result = opdhost("move", "disdik", "--root", str(repo), "--web-node", "web2", "--offline")
    assert result.exit_code == 0, result.output
    assert "(10.203.0.100 -> 10.203.0.202)" in result.stdout


def test_move_a_flow_style_file_without_server(tmp_path: Path) -> None:
    text = (
        "site: disdik\nopd: {code: disdik, name: Dinas Pendidikan,\n"
        "      contact: {name: Budi, email: budi@disdik.kab-contoh.go.id}}\n"
        "letter: {number: 421/1/2026, date: 2026-11-02, agenda: AG-1}\nstatus: active\n"
        "web: {node: web1, ip: 10.203.0.100, runtime: php, storage_mb: 64, bandwidth_mbit: 5}\n"
        "database: {engine: postgresql, server: db1, quota_mb: 64}  # keep me\n"
    )
    root = _git_repo(tmp_path, {PATH: text})
    result = opdhost(
        "move", "disdik", "--root", str(root), "--web-node", "web2", "--db-server", "db2",
        "--offline",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    after = (root / PATH).read_text()
    assert "web: {node: web2, ip: 10.203.0.200, runtime: php," in after
    assert "database: {engine: postgresql, server: db2, quota_mb: 64}  # keep me\n" in after


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--web-node", "web9"], "error: unknown web node 'web9' (known: web1, web2)"),
        (["--web-node", "web1"], "error: disdik is already on web node web1"),
        (["--db-server", "db1"], "error: disdik's database is already on db1"),
        (["--db-server", "ns1"], "error: --db-server: "),
        ([], "error: nothing to move: give --web-node NODE and/or --db-server NODE"),
    ],
)
def test_move_refuses_what_it_cannot_do(repo: Path, args: list[str], message: str) -> None:
    before = (repo / PATH).read_text()
    result = opdhost("move", "disdik", "--root", str(repo), "--offline", *args)
    assert result.exit_code == 1
    assert result.stderr.startswith(message), result.stderr
    assert (repo / PATH).read_text() == before


def test_move_refuses_a_decommissioned_site_and_an_unknown_one(tmp_path: Path) -> None:
    text = make_request(**{"status: active": "status: decommissioned"})
    root = _git_repo(tmp_path, {PATH: text})
    result = opdhost("move", "disdik", "--root", str(root), "--web-node", "web2", "--offline")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: {PATH}: site 'disdik' is decommissioned: a decommissioned hosting does not move"
    )
    result = opdhost("move", "nosuch", "--root", str(root), "--web-node", "web2", "--offline")
    assert result.stderr.startswith("error: no request file for site 'nosuch' under requests/")


def test_move_is_in_the_lazy_command_table() -> None:
    from opdhost.cli.main import COMMANDS  # noqa: PLC0415

    assert COMMANDS["move"] == "opdhost.cli.moves:move"
    assert "move" in opdhost("--help").stdout


def test_allocation_claims_are_used_directly(repo: Path) -> None:
    from opdhost.fleet.allocation import place_move  # noqa: PLC0415
    from opdhost.fleet.platform import load_platform, platform_path  # noqa: PLC0415

    platform = load_platform(platform_path(repo, "lab"))
    fleet = load_working_tree(repo)
    claims = Claims(ips={"10.203.0.200": "mr/1: x"})
    placed = place_move("disdik", fleet, platform, web_node="web2", claims=claims,
                        text=(repo / PATH).read_text())  # fmt: skip
    assert placed.move.ip_to == "10.203.0.201"
