"""What a merged request or a hostile checkout can try against the Python side (issue 10).

Each test is an attack or a fault as it would arrive: a name ending in a newline, invisible
characters, links and devices under requests/, a clone that cannot read the applied commit, a
dirty working tree, a lock someone else planted, a verifier fooled by the catch-all vhost.
"""

from __future__ import annotations

import http.server
import json
import os
import random
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from opdhost.apply import records as records_module
from opdhost.apply.lock import LockDirError, LockedError, apply_lock, lock_path
from opdhost.apply.pipeline import DirtyTreeError, Options, check_clean
from opdhost.apply.records import Records
from opdhost.apply.verify import Expect, check_http
from opdhost.fleet.fastschema import python_pattern
from opdhost.fleet.schema import REQUEST_SCHEMA, check, fast_check
from opdhost.fleet.yamlload import Document

from .conftest import PATH, VALID, git, git_repo, make_repo, make_request, opdhost, validate

FORBIDDEN = {
    "line feed": "\n",
    "carriage return": "\r",
    "tab": "\t",
    "escape": "\x1b",
    "NEL": "\x85",
    "line separator": "\u2028",
    "right-to-left override": "\u202e",
    "zero width space": "\u200b",
}
FIELDS = {
    "site": ("site: disdik", "site: {}", 1),
    "opd.name": ("name: Dinas Pendidikan", "name: {}", 4),
    "letter.number": ("number: 421/123/Disdik/2026", "number: {}", 10),
    "web.ip": ("ip: 10.203.0.100", "ip: {}", 16),
    "web.aliases[0]": ("- www.disdik.kab-contoh.go.id", "- {}", 21),
}
VALUES = {
    "site": "disdik",
    "opd.name": "Dinas Pendidikan",
    "letter.number": "421/123/Disdik/2026",
    "web.ip": "10.203.0.100",
    "web.aliases[0]": "www.disdik.kab-contoh.go.id",
}


@pytest.mark.parametrize("char", list(FORBIDDEN.values()), ids=list(FORBIDDEN))
@pytest.mark.parametrize("field", list(FIELDS))
def test_control_and_invisible_characters_are_refused_in_every_field(
    tmp_path: Path, field: str, char: str
) -> None:
    old, template, line = FIELDS[field]
    bad = json.dumps(VALUES[field] + char)  # a YAML double-quoted scalar, escapes and all
    root = make_repo(tmp_path, {PATH: VALID.replace(old, template.format(bad))})
    result = validate(root)
    assert result.exit_code == 1
    assert f"{PATH}:{line}: {field}: contains the character U+{ord(char):04X}" in result.stdout


def test_a_name_with_a_final_newline_cannot_pass_for_another(tmp_path: Path) -> None:
    # arsip asks for disdik's database name with a newline: it must not slip past uniqueness.
    arsip = make_request("arsip", "disdik", "10.203.0.101").replace(
        "engine: mariadb\n", 'engine: mariadb\n  name: "disdik\\n"\n'
    )
    root = make_repo(tmp_path, {PATH: VALID, "requests/disdik/arsip.yaml": arsip})
    result = validate(root)
    assert result.exit_code == 1
    assert (
        "requests/disdik/arsip.yaml:25: database.name: contains the character U+000A "
        "(line feed) at position 7"
    ) in result.stdout


def test_an_ip_with_a_final_newline_is_a_finding_not_a_traceback(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {PATH: VALID.replace("ip: 10.203.0.100", 'ip: "10.203.0.154\\n"')})
    result = validate(root)  # opdhost() turns any exception into a test failure
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{PATH}:16: web.ip: contains the character U+000A")


def test_schema_patterns_match_whole_values_even_behind_the_loader() -> None:
    # A value that reached the schema some other way still cannot end in a newline.
    value = {
        "site": "disdik\n",
        "opd": {
            "code": "disdik",
            "name": "Dinas Pendidikan",
            "contact": {"name": "Budi", "email": "budi@disdik.kab-contoh.go.id"},
        },
        "letter": {"number": "1/2", "date": "2026-11-02", "agenda": "AG-1"},
        "status": "active",
        "web": {
            "node": "web1",
            "ip": "10.203.0.100\n",
            "runtime": "php",
            "storage_mb": 2048,
            "bandwidth_mbit": 10,
        },
        "database": {"engine": "mariadb", "name": "disdik\n", "quota_mb": 512},
    }
    doc = Document(PATH, value, {})
    assert fast_check(REQUEST_SCHEMA)(value) is False
    fields = {f.field for f in check(doc)}
    assert {"site", "web.ip", "database.name"} <= fields
    assert python_pattern("^[a-z]+$") == "^[a-z]+\\Z"
    assert python_pattern("^price\\$") == "^price\\$"


def test_validate_never_raises_whatever_the_bytes(tmp_path: Path) -> None:
    rng = random.Random(20261202)
    base = VALID.encode()
    noise = [b"\n", b"\x00", b"\xff", b"\x1b", b":", b"- ", b"{", b"[", b"&a", b"*a", b"!!", b'"']
    noise += ["\u2028".encode(), "\u202e".encode(), b"\t", b"\r"]
    for attempt in range(150):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[at : at + rng.randint(0, 3)] = rng.choice(noise)
            else:
                data[at] = rng.randrange(256)
        (tmp_path / f"r{attempt}").mkdir()
        root = make_repo(tmp_path / f"r{attempt}", {PATH: bytes(data)})
        result = validate(root)
        assert result.exit_code in (0, 1), result.output
        assert "Traceback" not in result.output


# Links, devices and pipes under requests/: never followed, never read.


def test_a_link_to_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {})
    (root / "requests" / "disdik").mkdir()
    (root / "requests" / "disdik" / "disdik.yaml").symlink_to("/dev/zero")
    result = validate(root)
    assert result.exit_code == 1
    assert result.stdout == (
        f"{PATH}:1: (file): not a regular file: requests are plain files inside the repository\n"
    )


def test_a_link_out_of_the_repository_never_echoes_its_target(tmp_path: Path) -> None:
    secret = tmp_path / "outside.yaml"
    secret.write_text("site: SECRET-TOKEN-1234\npassword: hunter2\n")
    root = make_repo(tmp_path / "repo", {PATH: VALID})
    (root / "requests" / "disdik" / "arsip.yaml").symlink_to(secret)
    (root / "requests" / "etc").symlink_to("/etc", target_is_directory=True)
    result = validate(root)
    assert result.exit_code == 1
    assert "requests/disdik/arsip.yaml:1: (file): not a regular file" in result.stdout
    assert "requests/etc:1: (file): not a regular file" in result.stdout
    assert "SECRET-TOKEN" not in result.output and "hunter2" not in result.output
    assert "passwd" not in result.output


def test_a_fifo_or_a_huge_sparse_file_does_not_hang_or_fill_memory(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {PATH: VALID})
    os.mkfifo(root / "requests" / "disdik" / "pipe.yaml")
    with (root / "requests" / "disdik" / "big.yaml").open("wb") as fh:
        fh.truncate(4 * 1024**3)  # 4 GiB of holes: reading it whole would take the machine
    result = validate(root)
    assert result.exit_code == 1
    assert "requests/disdik/pipe.yaml:1: (file): not a regular file" in result.stdout
    assert "requests/disdik/big.yaml:1: (file): file is larger than 262144 bytes" in result.stdout


def test_a_committed_link_is_never_read_from_git(tmp_path: Path) -> None:
    root = git_repo(tmp_path, {PATH: VALID})
    link = root / "requests" / "disdik" / "arsip.yaml"
    link.symlink_to("/etc/passwd")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "a link")
    link.unlink()
    result = opdhost("plan", "--root", str(root), "--base", "HEAD")
    assert "requests/disdik/arsip.yaml:1: (file): warning: at " in result.output
    assert "not a regular file" in result.output
    assert "root:" not in result.output


# The base of every comparison: never silently HEAD or nothing.


def _applied(root: Path, commit: str) -> Path:
    records = root.parent / f"{root.name}-records"
    (records / "lab").mkdir(parents=True)
    (records / "lab" / "applied.json").write_text(
        json.dumps({"version": 1, "commit": commit, "applied_at": "", "nodes": {"web1": {}}})
    )
    return records


def test_apply_refuses_when_the_applied_commit_cannot_be_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPDHOST_LOCK_DIR", str(tmp_path / "locks"))
    origin = git_repo(tmp_path / "origin", {PATH: VALID})
    first = git(origin, "rev-parse", "HEAD").strip()
    # Five decommissions later, a shallow CI clone that cannot see the applied commit:
    (origin / PATH).unlink()
    git(origin, "commit", "-q", "-am", "rewrite")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{origin}", str(clone)], check=True
    )
    records = _applied(clone, first)
    result = opdhost("apply", "--root", str(clone), "--records", str(records))
    assert result.exit_code == 1
    assert f"cannot read the last applied commit {first[:12]}" in result.stderr
    assert "git fetch --unshallow" in result.stderr and "--base REF" in result.stderr
    assert not (records / "lab" / "runs").exists()


def test_plan_and_validate_never_compare_with_head_by_default(tmp_path: Path) -> None:
    root = git_repo(tmp_path, {PATH: VALID})
    git(root, "checkout", "-q", "-b", "feature")
    git(root, "branch", "-q", "-D", "main")
    for command in ("plan", "validate"):
        result = opdhost(command, "--root", str(root))
        assert result.exit_code == 1
        assert "no branch 'main' or 'origin/main' to compare with" in result.stderr
    assert validate(root).exit_code == 0  # --no-base: the checks without a base still run


def test_apply_refuses_uncommitted_requests_and_inventories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPDHOST_LOCK_DIR", str(tmp_path / "locks"))
    root = git_repo(tmp_path / "repo", {PATH: VALID})
    records = _applied(root, git(root, "rev-parse", "HEAD").strip())
    (root / PATH).write_text(VALID.replace("bandwidth_mbit: 10", "bandwidth_mbit: 20"))
    (root / "inventories" / "lab" / "hosts.yml").write_text("all: {}\n")
    result = opdhost("apply", "--root", str(root), "--records", str(records))
    assert result.exit_code == 1
    assert "uncommitted changes under requests/ or inventories/" in result.stderr
    assert PATH in result.stderr and "inventories/lab/hosts.yml" in result.stderr
    assert "--allow-dirty" in result.stderr
    assert not (records / "lab" / "runs").exists()


def test_only_check_mode_or_an_explicit_option_accept_a_dirty_tree() -> None:
    dirty = ["requests/disdik/disdik.yaml"]
    with pytest.raises(DirtyTreeError):
        check_clean(dirty, Options())
    check_clean(dirty, Options(check=True))
    check_clean(dirty, Options(allow_dirty=True))
    check_clean([], Options())


# The apply lock: a place only its user can write.


def test_the_lock_lives_in_a_private_directory(tmp_path: Path) -> None:
    inventory = tmp_path / "inv" / "hosts.yml"
    locks = tmp_path / "locks"
    with apply_lock(inventory, locks) as path:
        assert (path.stat().st_mode & 0o777) == 0o600
        assert (locks.stat().st_mode & 0o777) == 0o700
        with pytest.raises(LockedError, match="held by pid"), apply_lock(inventory, locks):
            pass


def test_a_lock_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /run/lock
    with (
        pytest.raises(LockDirError, match="can be written by other users"),
        apply_lock(tmp_path / "hosts.yml", shared),
    ):
        pass


def test_a_planted_link_at_the_lock_path_is_refused(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    lock_path(tmp_path / "hosts.yml", locks).symlink_to(victim)
    with pytest.raises(LockDirError), apply_lock(tmp_path / "hosts.yml", locks):
        pass
    assert victim.read_text() == "keep me"


# Records: durable, whole or not at all.


def test_records_are_fsynced_before_and_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        calls.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(records_module.os, "fsync", fsync)
    monkeypatch.setattr(records_module.os, "replace", replace)
    Records(tmp_path, "lab").save_run("r1", {"result": "ok"})
    assert calls == ["fsync-file", "rename", "fsync-dir"]


def test_a_failed_record_write_keeps_the_old_record_and_leaves_no_temporary(
    tmp_path: Path,
) -> None:
    records = Records(tmp_path, "lab")
    path = records.save_run("r1", {"result": "ok"})
    with pytest.raises(TypeError):
        records.save_run("r1", {"result": {1, 2}})  # not JSON: the write dies halfway
    assert json.loads(path.read_text()) == {"result": "ok"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["r1.json"]


# Verification: only the site's own answer counts.


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        host = self.headers.get("Host", "")
        site = {"disdik.kab-contoh.go.id": "disdik", "ppdb.kab-contoh.go.id": "ppdb"}.get(host)
        if host == "ppdb.kab-contoh.go.id":
            self.send_response(301)
            self.send_header("Location", "https://ppdb.kab-contoh.go.id/")
        else:
            self.send_response(404)  # both the site's own 404 and the catch-all's
        if site is not None:
            self.send_header("X-Opdhost-Site", site)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_catch_all_404_is_not_the_site(web: int) -> None:
    up = Expect(frozenset(range(200, 500)))
    ok, detail = check_http("127.0.0.1", "arsip.kab-contoh.go.id", False, "arsip", up, port=web)
    assert not ok
    assert "not the site's own answer (X-Opdhost-Site: no such header)" in detail
    ok, _ = check_http("127.0.0.1", "disdik.kab-contoh.go.id", False, "disdik", up, port=web)
    assert ok  # the site's own 404 is the site answering
    ok, detail = check_http("127.0.0.1", "disdik.kab-contoh.go.id", False, "ppdb", up, port=web)
    assert not ok and "'disdik'" in detail


def test_a_tls_site_must_redirect_plain_http_to_itself(web: int) -> None:
    want = Expect(frozenset({301}), "https://ppdb.kab-contoh.go.id/")
    ok, _ = check_http("127.0.0.1", "ppdb.kab-contoh.go.id", False, "ppdb", want, port=web)
    assert ok
    wrong = Expect(frozenset({301}), "https://other.kab-contoh.go.id/")
    ok, detail = check_http("127.0.0.1", "ppdb.kab-contoh.go.id", False, "ppdb", wrong, port=web)
    assert not ok and "redirects to 'https://ppdb.kab-contoh.go.id/'" in detail
    ok, _ = check_http("127.0.0.1", "disdik.kab-contoh.go.id", False, "disdik", want, port=web)
    assert not ok  # a 404 where a redirect is due


def test_hsts_needs_tls(tmp_path: Path) -> None:
    text = VALID.replace("  tls: true\n", "  tls: false\n  hsts: true\n")
    result = validate(make_repo(tmp_path, {PATH: text}))
    assert result.exit_code == 1
    assert f"{PATH}:23: web.hsts: needs tls: true" in result.stdout


def test_a_name_below_another_agencys_site_is_refused(tmp_path: Path) -> None:
    # arsip would serve portal.disdik.<zone>: disdik's cookies and disdik's good name.
    arsip = make_request(
        "arsip",
        "disdik",
        "10.203.0.101",
        **{"- www.arsip.kab-contoh.go.id": "- portal.disdik.kab-contoh.go.id"},
    )
    root = make_repo(tmp_path, {PATH: VALID, "requests/disdik/arsip.yaml": arsip})
    result = validate(root)
    assert result.exit_code == 1
    assert (
        "requests/disdik/arsip.yaml:21: web.aliases[0]: 'portal.disdik.kab-contoh.go.id' is "
        "below 'disdik.kab-contoh.go.id', claimed by requests/disdik/disdik.yaml:1 (site)"
    ) in result.stdout
    own = make_request("arsip", "disdik", "10.203.0.101")  # www.arsip.<zone>: its own name
    ok = make_repo(tmp_path / "ok", {PATH: VALID, "requests/disdik/arsip.yaml": own})
    assert validate(ok).exit_code == 0
