"""Moves through apply (issue 16): the variables of each phase, the move's progress in the
applied state, and the file copy's refusals of hostile homes and archives."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
from opdhost.apply import moves as phases
from opdhost.apply.records import AppliedState
from opdhost.apply.render import render
from opdhost.fleet.model import Request, parse_request
from opdhost.fleet.moves import moves
from opdhost.fleet.platform import Platform

from .conftest import make_request
from .modules import load

OLD = make_request()
BOTH = make_request(
    **{"node: web1": "node: web2", "10.203.0.100": "10.203.0.200", "server: db1": "server: db2"}
)
WEB = make_request(**{"node: web1": "node: web2", "10.203.0.100": "10.203.0.200"})
DB = make_request(**{"server: db1": "server: db2"})


def _req(text: str) -> Request:
    req, found = parse_request(text.encode(), "requests/disdik/disdik.yaml")
    assert req is not None, found
    return req


def _vars(new_text: str, phase: str, platform: Platform) -> dict[str, dict[str, Any]]:
    old, new = _req(OLD), _req(new_text)
    moving = moves({"disdik": old}, {"disdik": new}, platform)
    assert list(moving) == ["disdik"]
    rendered = phases.phase_vars([new], {"disdik": old}, moving, {"disdik": phase}, platform)
    return rendered.nodes  # type: ignore[return-value]


def _site(nodes: dict[str, dict[str, Any]], node: str, key: str) -> list[dict[str, Any]]:
    return [e for e in nodes[node].get(key) or [] if e.get("site") == "disdik"]


def test_prepare_keeps_the_old_place_serving_and_makes_the_new_one(
    lab_platform: Platform,
) -> None:
    nodes = _vars(BOTH, phases.PREPARE, lab_platform)
    (old,) = _site(nodes, "web1", "apache_vhost_sites")
    (new,) = _site(nodes, "web2", "apache_vhost_sites")
    assert (old["ip"], old["status"], old["database"]["db_node"]) == (
        "10.203.0.100",
        "active",
        "db1",
    )
    assert (new["ip"], new["status"], new["database"]["db_node"]) == (
        "10.203.0.200",
        "active",
        "db2",
    )
    assert new["database"]["host"] == "10.203.0.22"
    (db_old,) = _site(nodes, "db1", "database_sites")
    (db_new,) = _site(nodes, "db2", "database_sites")
    assert db_old["client_hosts"] == ["10.203.0.11"] and db_old["status"] == "active"
    assert db_new["client_hosts"] == ["10.203.0.12"] and db_new["status"] == "active"
    # DNS still answers the old IP until the switch
    assert {"name": "disdik", "type": "A", "value": "10.203.0.100"} in nodes["ns1"][
        "dns_zone_records"
    ]
    assert [e["ip"] for e in _site(nodes, "web2", "bandwidth_sites")] == ["10.203.0.200"]
    # the new place is already what the switch renders there: the switch does not visit it
    normal = render([_req(BOTH)], lab_platform).nodes
    assert nodes["web2"] == normal["web2"] and nodes["db2"] == normal["db2"]


def test_prepare_of_a_web_only_move_lets_both_web_nodes_in(lab_platform: Platform) -> None:
    nodes = _vars(WEB, phases.PREPARE, lab_platform)
    (db,) = _site(nodes, "db1", "database_sites")
    assert db["client_hosts"] == ["10.203.0.11", "10.203.0.12"]
    assert not _site(nodes, "db2", "database_sites")


def test_prepare_of_a_database_only_move_keeps_the_old_server_in_the_credentials(
    lab_platform: Platform,
) -> None:
    nodes = _vars(DB, phases.PREPARE, lab_platform)
    (vhost,) = _site(nodes, "web1", "apache_vhost_sites")
    assert vhost["database"]["db_node"] == "db1"
    assert [e["status"] for e in _site(nodes, "db2", "database_sites")] == ["active"]
    assert [e["status"] for e in _site(nodes, "db1", "database_sites")] == ["active"]


def test_switch_is_the_normal_render_plus_the_old_place_decommissioned(
    lab_platform: Platform,
) -> None:
    nodes = _vars(BOTH, phases.SWITCH, lab_platform)
    normal = render([_req(BOTH)], lab_platform).nodes
    assert [e["status"] for e in _site(nodes, "web1", "apache_vhost_sites")] == ["decommissioned"]
    assert [e["status"] for e in _site(nodes, "web1", "bandwidth_sites")] == ["decommissioned"]
    assert [e["status"] for e in _site(nodes, "db1", "database_sites")] == ["decommissioned"]
    for node in ("web2", "db2", "ns1", "ns2"):
        assert nodes[node] == normal[node], node
    # a web-only move leaves the database where it is: never decommissioned
    nodes = _vars(WEB, phases.SWITCH, lab_platform)
    assert [e["status"] for e in _site(nodes, "db1", "database_sites")] == ["active"]
    assert _site(nodes, "db1", "database_sites")[0]["client_hosts"] == ["10.203.0.12"]


def test_copy_vars_name_the_sites_own_database_and_nodes(lab_platform: Platform) -> None:
    old, new = _req(OLD), _req(BOTH)
    moving = moves({"disdik": old}, {"disdik": new}, lab_platform)
    extra = phases.copy_vars(moving, [new], Path("/tmp/x"))
    assert extra["opdhost_moves"] == [
        {"site": "disdik", "web": True, "web_from": "web1", "web_to": "web2", "db": True,
         "db_from": "db1", "db_to": "db2", "engine": "mariadb", "db_name": "disdik",
         "db_user": "disdik"}
    ]  # fmt: skip
    assert phases.copy_nodes(moving) == ["db1", "db2", "web1", "web2"]


def test_the_applied_state_keeps_a_copied_move_and_refuses_a_changed_request(
    lab_platform: Platform,
) -> None:
    old, new = _req(OLD), _req(BOTH)
    moving = moves({"disdik": old}, {"disdik": new}, lab_platform)
    entry = {"phase": "copied", "at": "2026-12-02T19:00:00Z", "move": moving["disdik"].as_dict()}
    state = AppliedState("abc", "t", {}, {}, {"disdik": entry})
    again = AppliedState.from_json(state.to_json())
    assert again.moves == {"disdik": entry}
    phases.check_progress(again, moving)  # the same move: resumes
    other = moves({"disdik": old}, {"disdik": _req(WEB)}, lab_platform)
    with pytest.raises(phases.MoveStateError, match="was copied at 2026-12-02T19:00:00Z"):
        phases.check_progress(again, other)
    with pytest.raises(phases.MoveStateError, match="put the request back to that move"):
        phases.check_progress(again, {})


# --- the file copy against hostile homes and archives ---------------------------------------

files = load("playbooks/library/opdhost_move_files.py", "opdhost_move_files")

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the module runs as root")


def _tar(path: Path, members: list[tuple[str, str, str]]) -> None:
    """An archive of (name, kind, data or link target)."""
    with tarfile.open(path, "w") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data.encode()))


@pytest.mark.parametrize(
    "name",
    ["../escape", "public/../../escape", "/etc/passwd", "public/./x", "logs/x", "private/db.env",
     "public//x", ""],
)  # fmt: skip
def test_archive_members_that_could_leave_the_home_are_refused(name: str) -> None:
    with pytest.raises(files.MoveError):
        files._checked_parts(name)


@pytest.fixture
def as_root_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """The site's account on the destination: root's entry stands in for s-<site>."""
    import pwd  # noqa: PLC0415

    monkeypatch.setattr(files.pwd, "getpwnam", lambda _name: pwd.getpwuid(0))


@needs_root
@pytest.mark.usefixtures("as_root_account")
def test_import_never_writes_through_a_link_and_refuses_escapes(tmp_path: Path) -> None:
    www = tmp_path / "www"
    home = www / "siteone"
    (home / "public").mkdir(parents=True)
    (home / "logs").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = tmp_path / "a.tar"
    # a link to outside the home, then a file "inside" it: the parent is a link, refused
    _tar(archive, [("public", "dir", ""), ("public/out", "link", str(outside)),
                   ("public/out/planted", "file", "x")])  # fmt: skip
    with pytest.raises(files.MoveError, match="is not a directory"):
        files.import_(str(www), "siteone", str(archive))
    assert not (outside / "planted").exists()
    for bad in ("../escape", "logs/planted"):
        _tar(archive, [("public", "dir", ""), (bad, "file", "x")])
        with pytest.raises(files.MoveError, match=r"archive member"):
            files.import_(str(www), "siteone", str(archive))
    assert not (www / "escape").exists() and not (home / "logs" / "planted").exists()


@needs_root
@pytest.mark.usefixtures("as_root_account")
def test_export_then_import_gives_the_same_manifest(tmp_path: Path) -> None:
    src, dst = tmp_path / "a", tmp_path / "b"
    for www in (src, dst):
        (www / "siteone" / "public").mkdir(parents=True)
        (www / "siteone" / "tmp").mkdir()
    (dst / "siteone" / "public" / "index.html").write_text("placeholder")
    (dst / "siteone" / "tmp" / "session").write_text("the role's, kept")
    pub = src / "siteone" / "public"
    (pub / "deep" / "er").mkdir(parents=True)
    (pub / "deep" / "er" / "f.txt").write_text("data")
    (pub / "deep" / "er" / "f.txt").chmod(0o604)
    (pub / "l").symlink_to("/etc/shadow")
    (tmp_path / "move").mkdir(mode=0o700)
    archive = tmp_path / "move" / "siteone.tar"
    sent = files.export(str(src), "siteone", str(archive))
    got = files.import_(str(dst), "siteone", str(archive))
    assert got == sent
    assert os.readlink(dst / "siteone" / "public" / "l") == "/etc/shadow"
    assert not (dst / "siteone" / "public" / "index.html").exists()
    assert (dst / "siteone" / "tmp" / "session").read_text() == "the role's, kept"
    assert (dst / "siteone" / "public" / "deep" / "er" / "f.txt").stat().st_mode & 0o777 == 0o604


@needs_root
def test_export_copies_links_as_links_and_never_follows_them(tmp_path: Path) -> None:
    www = tmp_path / "www"
    home = www / "siteone"
    (home / "public" / "docs").mkdir(parents=True)
    (home / "private").mkdir()
    (home / "private" / "db.env").write_text("DB_PASSWORD=secret\n")
    (home / "public" / "index.html").write_text("page")
    secret = tmp_path / "secret"
    secret.write_text("root's secret")
    (home / "public" / "docs" / "s").symlink_to(secret)
    (home / "public" / "dirlink").symlink_to(tmp_path)
    archive = tmp_path / "move" / "siteone.tar"
    (tmp_path / "move").mkdir(mode=0o700)
    done = files.export(str(www), "siteone", str(archive))
    assert (done["files"], done["links"], done["dirs"]) == (1, 2, 2)
    with tarfile.open(archive) as tar:
        names = {m.name: m for m in tar.getmembers()}
    assert set(names) == {"public", "public/docs", "public/docs/s", "public/dirlink",
                          "public/index.html"}  # fmt: skip
    assert names["public/docs/s"].issym() and names["public/docs/s"].linkname == str(secret)
    assert names["public/index.html"].size == 4
    assert b"root's secret" not in archive.read_bytes() and b"secret\n" not in archive.read_bytes()
    # the manifest of the home says the same
    assert files.manifest(str(www), "siteone")["manifest_sha256"] == done["manifest_sha256"]


def test_a_home_that_is_a_link_or_not_roots_is_refused(tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "siteone").symlink_to(tmp_path)
    with pytest.raises(files.MoveError, match="not a directory"):
        files.manifest(str(www), "siteone")
    with pytest.raises(files.MoveError, match="not a site name"):
        files.manifest(str(www), "../etc")
