"""Helpers for the dns_zone verifier: DNS queries to the scenario's two servers and re-converges.

Queries go only to the scenario's own addresses. The re-converges run the scenario's converge.yml
with other `dns_zone_records`, exactly as opdhost would after a change to requests/. No test relies
on another having run: each asks for the zone it starts from (`baseline_zone`) or sets it up.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
import yaml

ZONE = "kab-contoh.go.id"
PRIMARY = "10.214.0.31"
SECONDARY = "10.214.0.32"
SERVERS = (PRIMARY, SECONDARY)
SCENARIO = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", Path(__file__).parent.parent))
KEY_FILE = "/etc/bind/opdhost-xfr.key"


def converge_vars() -> dict[str, Any]:
    """The variables converge.yml sets: the baseline every test starts from."""
    plays = yaml.safe_load((SCENARIO / "converge.yml").read_text(encoding="utf-8"))
    return dict(plays[0]["vars"])


def query(server: str, name: str, rdtype: str = "A") -> dns.message.Message:
    """One UDP query (TCP if truncated) to one of the scenario's servers."""
    fqdn = name if name.endswith(".") else (ZONE + "." if name == "@" else f"{name}.{ZONE}.")
    request = dns.message.make_query(fqdn, rdtype)
    response, _ = dns.query.udp_with_fallback(request, server, timeout=3)
    return response


def answers(server: str, name: str, rdtype: str = "A") -> set[str]:
    """The record data the server gives for name/type, as zone-file text."""
    response = query(server, name, rdtype)
    wanted = dns.rdatatype.from_text(rdtype)
    return {rd.to_text() for rrset in response.answer if rrset.rdtype == wanted for rd in rrset}


def serial(server: str) -> int:
    """The SOA serial the server answers with."""
    response = query(server, "@", "SOA")
    assert response.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(response.rcode())
    return int(response.answer[0][0].serial)


def wait_serial(server: str, expected: int, timeout: float = 60.0) -> int:
    """Poll the server until its serial equals `expected` (bounded); return the last one seen."""
    deadline = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < deadline:
        try:
            seen = serial(server)
        except (dns.exception.Timeout, AssertionError):
            seen = -1
        if seen == expected:
            return seen
        time.sleep(0.5)
    return seen


def expected_data(record: dict[str, Any]) -> str:
    """How dnspython prints a record's value relative to nothing (absolute names)."""
    value = str(record["value"])
    if record["type"] in ("CNAME", "NS") and not value.endswith("."):
        return f"{value}.{ZONE}."
    return value


@dataclass(frozen=True)
class Run:
    """The outcome of one ansible-playbook run."""

    rc: int
    seconds: float
    output: str

    def changed(self, host: str) -> int:
        """The `changed=` count of a host's recap line."""
        match = re.search(rf"^{re.escape(host)}\s+:.*?changed=(\d+)", self.output, re.M)
        assert match, f"no recap for {host}"
        return int(match.group(1))


def converge(extra: dict[str, Any], *args: str, packages: bool = False) -> Run:
    """Run converge.yml against the scenario's containers with extra vars (records etc.).

    The packages are in place since molecule's converge (and its idempotence run re-checked
    them), so these runs skip the apt task, as a zone-only run on installed servers may (such a
    run writes no node setup stamp); `packages=True` keeps it, as opdhost runs the role.
    """
    ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(extra, handle)
    playbook = Path(sys.executable).parent / "ansible-playbook"
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    started = time.monotonic()
    done = subprocess.run(
        [
            str(playbook),
            "-i",
            str(ephemeral / "inventory"),
            str(SCENARIO / "converge.yml"),
            "-e",
            f"@{handle.name}",
            *(() if packages else ("--skip-tags", "dns_zone_packages")),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    Path(handle.name).unlink()
    return Run(done.returncode, time.monotonic() - started, done.stdout + done.stderr)


@pytest.fixture(scope="session")
def baseline() -> dict[str, Any]:
    """converge.yml's variables."""
    return converge_vars()


_BASELINE_SERIAL: list[int] = []


def ensure_baseline() -> None:
    """Make both servers serve converge.yml's zone (a converge, unless it is still served).

    The serial changes with every content change, so while the primary still answers with the
    serial this last converged to, the zone is still the baseline and no run is needed.
    """
    current = serial(PRIMARY)
    if _BASELINE_SERIAL and _BASELINE_SERIAL[-1] == current:
        return
    run = converge({})
    assert run.rc == 0, run.output[-3000:]
    restored = serial(PRIMARY)
    assert wait_serial(SECONDARY, restored) == restored
    _BASELINE_SERIAL.append(restored)


@pytest.fixture
def baseline_zone(baseline: dict[str, Any]) -> dict[str, Any]:
    """Both servers serve converge.yml's zone; returns its variables.

    Tests that need the baseline ask for it instead of relying on what an earlier test left.
    """
    ensure_baseline()
    return baseline


FIGURES: dict[str, str] = {}


@pytest.fixture(scope="session")
def figures() -> dict[str, str]:
    """Measured figures, printed at the end of the run (for docs/roles/dns_zone.md)."""
    return FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the measured figures after the results."""
    if FIGURES:
        terminalreporter.section("dns_zone measured figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
