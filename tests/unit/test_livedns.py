"""`validate --live-dns`: new names asked at the platform's DNS servers (a fake one on loopback)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rcode
import dns.rrset
import pytest
from opdhost.fleet.livedns import Server, live_dns_findings
from opdhost.fleet.model import parse_request

from .conftest import PATH, REPO, VALID, git, make_repo, opdhost, write_files

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
