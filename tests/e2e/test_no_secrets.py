"""No secret in the run records or the ansible-runner artifacts of applies on the lab.

The office keeps `records/` (run records, the runner's artifacts: events, stdout) as the
execution record; anyone who can read the records must learn no password, no password hash
and no key. The records directory is the session's: it holds the platform fixture's first
apply (site.yml over the whole fleet: every role, every drift probe, every account, the
credentials handover of every site) and every apply the e2e tests made before this one. Then
a new MariaDB hosting is applied, and the test scans every file under records/ for:

- every database password kept on db1 and db2 (`/etc/opdhost/secrets/*.password`);
- anything shaped like a MariaDB hash (`*` + 40 upper-case hex), a PostgreSQL SCRAM-SHA-256
  verifier or an md5 verifier (`md5` + 32 hex);
- the TSIG secret of ns1 (read from the node);
- any PEM private key (`-----BEGIN ... PRIVATE KEY-----`).

Failures name the file and the kind of secret, never the secret itself.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import Platform, on_node

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SITE, IP = "e2erahasia", 198
LOCKED = "another `opdhost apply` is running"

SHAPES = {
    "MariaDB password hash": re.compile(r"(?<![0-9A-Za-z])\*[0-9A-F]{40}(?![0-9A-Fa-f])"),
    "PostgreSQL SCRAM-SHA-256 verifier": re.compile(
        r"SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+"
    ),
    "PostgreSQL md5 verifier": re.compile(r"(?<![0-9A-Za-z])md5[0-9a-f]{32}(?![0-9a-f])"),
    "PEM private key": re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"),
}


def _apply(platform: Platform, *args: str) -> dict[str, Any]:
    """`opdhost apply` that waits while another apply (the shared lab's) holds the lock."""
    for _ in range(60):
        rc, record, out = platform.apply(*args)
        if rc == 1 and record is None and LOCKED in out:
            time.sleep(15)
            continue
        assert rc == 0, out
        assert record is not None
        return record
    raise AssertionError("the lab's apply lock stayed taken for 15 minutes")


def _passwords() -> dict[str, str]:
    """Every database password kept on the database nodes, by node and file name."""
    found = {}
    for node in ("db1", "db2"):
        listing = on_node(node, "ls /etc/opdhost/secrets 2>/dev/null").stdout.split()
        for name in listing:
            if name.endswith(".password"):
                path = f"/etc/opdhost/secrets/{name}"
                found[f"{node}:{name}"] = on_node(node, f"cat {path}", check=True).stdout.strip()
    return found


def _tsig_secret() -> str:
    """The TSIG secret ns1 signs its zone transfers with."""
    key = on_node("ns1", "cat /etc/bind/opdhost-xfr.key", check=True).stdout
    match = re.search(r'secret\s+"([^"]+)"', key)
    assert match, "no secret in ns1's /etc/bind/opdhost-xfr.key"
    return match[1]


def _leaks(records: Path, literals: dict[str, str]) -> list[str]:
    """`path: kind` for every file under records/ holding a secret (never the secret)."""
    found = []
    for path in sorted(records.rglob("*")):
        if not path.is_file():  # also skips the FIFOs ansible-runner leaves for keys
            continue
        text = path.read_text(errors="replace")
        kinds = [kind for kind, secret in literals.items() if secret in text]
        kinds += [kind for kind, shape in SHAPES.items() if shape.search(text)]
        found += [f"{path.relative_to(records)}: {kind}" for kind in kinds]
    return found


def test_no_password_hash_or_key_in_records_or_artifacts(platform: Platform) -> None:
    platform.write(SITE, IP)
    platform.commit(f"{SITE}: new hosting")
    record = _apply(platform)
    assert [s["site"] for s in record["sites"]] == [SITE]
    # The fixture's first apply (site.yml, every site) is among the scanned runs.
    playbooks = [
        (json.loads(path.read_text()).get("ansible") or {}).get("playbook")
        for path in platform.runs()
    ]
    assert "site.yml" in playbooks, playbooks

    passwords = _passwords()
    assert f"db1:mariadb-{SITE}.password" in passwords
    assert all(len(p) >= 16 for p in passwords.values())
    literals = {f"password of {name}": secret for name, secret in passwords.items()}
    literals["TSIG secret of ns1"] = _tsig_secret()
    assert len(literals["TSIG secret of ns1"]) >= 16

    artifacts = list((platform.records / "lab" / "artifacts").rglob("job_events/*.json"))
    assert artifacts, "no ansible-runner events kept: nothing was scanned"
    leaks = _leaks(platform.records, literals)
    assert leaks == [], "\n".join(leaks)
