"""The modules under the commands: fast schema path, git sources, synthetic fleets, live DNS."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rcode
import dns.rrset
import jsonschema
import pytest
from opdhost import fastschema, synth
from opdhost.livedns import Server, live_dns_findings
from opdhost.model import parse_request
from opdhost.schema import REQUEST_SCHEMA, fast_check, schema_text, validator
from opdhost.sources import blob_id, read_blobs, tree_blobs
from opdhost.yamlload import load_document

from .conftest import PATH, REPO, VALID, git, git_repo, make_repo, opdhost, write_files
from .test_bad_input import CASES


def test_fast_path_agrees_with_jsonschema_on_every_case() -> None:
    full = validator(REQUEST_SCHEMA)
    fast = fast_check(REQUEST_SCHEMA)
    documents = []
    for _, content, _, _ in CASES:
        data = content if isinstance(content, bytes) else content.encode()
        doc, _ = load_document(data, PATH)
        if doc is not None:
            documents.append(doc.value)
    valid, _ = load_document(VALID.encode(), PATH)
    assert valid is not None
    documents.append(valid.value)
    assert len(documents) > 50
    for value in documents:
        assert fast(value) == full.is_valid(value), value
    assert fast(valid.value)


def test_fast_path_refuses_keywords_it_does_not_implement() -> None:
    with pytest.raises(fastschema.UnsupportedSchemaError):
        fastschema.compile_schema({"type": "object", "patternProperties": {"^x": {}}})
    # the published schema compiles (every keyword it uses is implemented)
    fastschema.compile_schema(json.loads(schema_text(REQUEST_SCHEMA)))


def test_published_schema_is_a_valid_json_schema() -> None:
    schema = json.loads(schema_text(REQUEST_SCHEMA))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert opdhost("schema").stdout == schema_text(REQUEST_SCHEMA)


def test_blob_ids_match_git_and_blobs_come_from_one_batch(tmp_path: Path) -> None:
    root = git_repo(tmp_path, {PATH: VALID, "requests/README.md": "not a request"})
    blobs = tree_blobs(root, "HEAD")
    assert list(blobs) == [PATH]  # README is not a request
    assert blobs[PATH] == blob_id(VALID.encode())
    assert blobs[PATH] == git(root, "hash-object", PATH).strip()
    assert read_blobs(root, blobs.values()) == {blobs[PATH]: VALID.encode()}


def test_lines_survive_into_the_model() -> None:
    req, found = parse_request(VALID.encode(), PATH)
    assert req is not None and not found
    assert (req.line("web.ip"), req.line("web.aliases[0]"), req.line("database.name")) == (
        16,
        21,
        23,
    )


def test_synthetic_fleet_is_valid_and_plans_cleanly(tmp_path: Path) -> None:
    inventory = synth.make_fleet(450, tmp_path)
    result = opdhost(
        "validate", "--root", str(tmp_path), "--inventory", str(inventory), "--no-base"
    )
    assert result.exit_code == 0, result.stdout[:2000]
    assert "450 request files checked: 0 errors" in result.stderr


STOP = b"stop"  # not a DNS message: tells the fake server's thread to end


class _FakeAuthority:
    """A tiny authoritative DNS server on 127.0.0.1 that knows a few names (UDP)."""

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            data, peer = self.sock.recvfrom(4096)
            if data == STOP:
                return
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            name = query.question[0].name.to_text()
            if name in self.names:
                response.answer.append(dns.rrset.from_text(name, 300, "IN", "A", "192.0.2.1"))
            else:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        """Stop the thread before closing its socket: a thread still in recvfrom on a closed
        socket's reused descriptor took the next test's query and never answered it."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as waker:
            waker.sendto(STOP, ("127.0.0.1", self.port))
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def authority() -> Iterator[_FakeAuthority]:
    server = _FakeAuthority({"www.disdik.kab-contoh.go.id."})
    yield server
    server.close()


def test_live_dns_flags_names_that_already_exist(authority: _FakeAuthority) -> None:
    req, _ = parse_request(VALID.encode(), PATH)
    assert req is not None
    servers = [Server("ns-test", "127.0.0.1", authority.port)]
    found = live_dns_findings([req], "kab-contoh.go.id", servers)
    assert [str(f) for f in found] == [
        f"{PATH}:21: web.aliases[0]: www.disdik.kab-contoh.go.id already exists in DNS "
        "(answered by ns-test)"
    ]


def test_live_dns_reports_an_unreachable_server() -> None:
    req, _ = parse_request(VALID.encode(), PATH)
    assert req is not None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never answers
        port = sock.getsockname()[1]
        found = live_dns_findings(
            [req], "kab-contoh.go.id", [Server("ns-mute", "127.0.0.1", port)], timeout=0.2
        )
    assert len(found) == 2
    assert found[0].field == "site"
    assert "cannot ask ns-mute (127.0.0.1) about disdik.kab-contoh.go.id" in found[0].message


def test_validate_live_dns_asks_only_about_new_sites(tmp_path: Path) -> None:
    server = _FakeAuthority({"www.disdik.kab-contoh.go.id.", "sehat.kab-contoh.go.id."})
    try:
        lab = (REPO / "inventories/lab/group_vars/all/platform.yml").read_text()
        platform = lab.replace(
            "primary: {node: ns1, address: 10.203.0.31}", "primary: {node: ns1, address: 127.0.0.1}"
        )
        platform = platform.replace(
            "  secondaries:\n    - {node: ns2, address: 10.203.0.32}", "  secondaries: []"
        )
        sehat = (REPO / "requests/dinkes/sehat.yaml").read_text()
        make_repo(tmp_path, {"requests/dinkes/sehat.yaml": sehat}, platform=platform)
        git(tmp_path, "init", "-q", "-b", "main")
        git(tmp_path, "add", "-A")
        git(tmp_path, "commit", "-q", "-m", "base")
        write_files(tmp_path, {PATH: VALID})
        result = opdhost(
            "validate", "--root", str(tmp_path), "--live-dns", "--dns-port", str(server.port)
        )
    finally:
        server.close()
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{PATH}:21: web.aliases[0]: www.disdik.kab-contoh.go.id already exists in DNS "
        "(answered by ns1)"
    ]


def test_validate_json_output(tmp_path: Path) -> None:
    make_repo(tmp_path, {PATH: VALID.replace("bandwidth_mbit: 10", "bandwidth_mbit: 0")})
    result = opdhost("validate", "--root", str(tmp_path), "--no-base", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["findings"] == [
        {
            "path": PATH,
            "line": 19,
            "field": "web.bandwidth_mbit",
            "message": "0 is too small (minimum 1)",
            "severity": "error",
        }
    ]
    assert {"server": "web1", "resource": "sites", "used": 0, "limit": 100} in data["ledger"]


def test_benchmark_script_prints_times_and_ratios() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts/bench/bench_validate_plan.py"),
            "300",
            "--rounds",
            "1",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "request files: 305 (plan: 5 create, 10 update, 3 suspend, 2 decommission)"
    assert lines[1].startswith("parse (PyYAML CSafeLoader): ")
    assert lines[2].startswith("validate : ") and "ratio" in lines[2]
    assert lines[3].startswith("plan     : ") and "ratio" in lines[3]
    assert lines[4].startswith("peak RSS of validate: ")


def test_validate_in_a_repository_without_commits(tmp_path: Path) -> None:
    make_repo(tmp_path, {PATH: VALID})
    git(tmp_path, "init", "-q", "-b", "main")
    result = opdhost("validate", "--root", str(tmp_path))
    assert result.exit_code == 0, result.output
    plan = opdhost("plan", "--root", str(tmp_path))
    assert plan.exit_code == 1
    assert plan.stderr.startswith("error: no branch 'main' or 'origin/main' to compare with")
