"""The applied state and the apply lock live with the platform, not in one checkout.

A repository whose platform file names a state node (`opdhost_state`) keeps both on that node
(here ns1, in a directory of this test's own): a fresh shallow clone with no records knows what
is applied, a second apply from another machine is refused with who holds the lock and since
when, and a lock left by a dead run can be broken on purpose, with a record of it.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opdhost.apply.records import Records
from opdhost.apply.state import _REMOTE, PlatformStore, state_store
from opdhost.fleet.platform import load_platform, platform_path

from .conftest import OPDHOST, Platform, on_node, sh

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SITE, IP = "e2estate", 197


class Clone(Platform):
    """A clone of the platform repository with records of its own."""

    def opdhost(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(OPDHOST), *args, "--root", str(self.root)],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=1500,
            check=False,
        )


def _record(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.stdout.strip().startswith("{"), proc.stdout + proc.stderr
    return dict(json.loads(proc.stdout))


@pytest.fixture(scope="module")
def shared(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clone]:
    """Clone A of the e2e repository, its platform file naming ns1 as the state node."""
    directory = f"/var/lib/opdhost/state-e2e-{uuid.uuid4().hex[:8]}"
    root = tmp_path_factory.mktemp("state-a") / "repo"
    sh("git", "clone", "-q", str(platform.root), str(root))
    plat = root / "inventories" / "lab" / "group_vars" / "all" / "platform.yml"
    text = plat.read_text(encoding="utf-8")
    plat.write_text(text + f"\nopdhost_state:\n  node: ns1\n  directory: {directory}\n")
    for key, value in (("user.name", "alice"), ("user.email", "alice@kab-contoh.go.id")):
        sh("git", "-C", str(root), "config", key, value)
    sh("git", "-C", str(root), "commit", "-q", "-am", "state on ns1")
    clone = Clone(root, root.parent / "records")
    rc, record, out = clone.apply()
    assert rc == 0, out
    assert record is not None and record["ansible"]["playbook"] == "site.yml"
    yield clone
    on_node("ns1", f"rm -rf {directory}")


def _fresh(shared: Clone, tmp_path: Path) -> Clone:
    """A new shallow clone of A on 'another machine': no history, no records."""
    root = tmp_path / "repo"
    sh("git", "clone", "-q", "--depth", "1", f"file://{shared.root}", str(root))
    for key, value in (("user.name", "bob"), ("user.email", "bob@kab-contoh.go.id")):
        sh("git", "-C", str(root), "config", key, value)
    return Clone(root, tmp_path / "records")


def test_a_fresh_shallow_clone_knows_what_is_applied(shared: Clone, tmp_path: Path) -> None:
    fresh = _fresh(shared, tmp_path)
    assert not fresh.records.exists()
    rc, record, out = fresh.apply("--check")
    assert rc == 0, out  # 0: the hosts agree (2 would be drift)
    assert record is not None and record["nodes"] == [] and record["plan"] == []
    fresh.write(SITE, IP)
    fresh.commit(f"{SITE}: new hosting")
    rc, record, out = fresh.apply()
    assert rc == 0, out
    assert record is not None and [s["site"] for s in record["sites"]] == [SITE]
    assert record["plan"][0]["action"] == "create"
    # A never saw the new request, but the state is on the platform: A cannot undo it.
    rc, record, out = shared.apply("--check")
    assert rc == 1 and record is None
    assert f"requests/e2e/{SITE}.yaml" in out and "decommissioned" in out


def test_a_second_apply_elsewhere_is_refused_with_its_holder(shared: Clone, tmp_path: Path) -> None:
    platform = load_platform(platform_path(shared.root, "lab"))
    records = Records(shared.records, platform.environment)
    store = state_store(platform, shared.root / "inventories" / "lab" / "hosts.yml", records)
    assert isinstance(store, PlatformStore)
    fresh = _fresh(shared, tmp_path)
    with store.lock():
        rc, record, out = fresh.apply()
        assert rc == 1 and record is None
        assert "holds the platform's lock on ns1:" in out and "since 20" in out
        status = fresh.opdhost("lock", "status")
        assert status.returncode == 3 and "held by" in status.stdout
    status = fresh.opdhost("lock", "status")
    assert status.returncode == 0 and "free" in status.stdout


def test_a_dead_runs_lock_is_broken_on_purpose_and_recorded(shared: Clone, tmp_path: Path) -> None:
    platform = load_platform(platform_path(shared.root, "lab"))
    assert platform.state is not None
    directory = f"{platform.state.directory}/{platform.environment}"
    ghost = json.dumps({"who": "ghost@dead-runner", "since": "2026-12-01T00:00:00Z"})
    # A run whose machine vanished: its session on the state node still holds the lock.
    holder = subprocess.Popen(
        ["podman", "exec", "-i", "opdhost-lab-ns1", "python3", "-c", _REMOTE, "lock", directory],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write((ghost + "\n").encode())
    holder.stdin.flush()
    assert holder.stdout.readline() == b"LOCKED\n"
    try:
        fresh = _fresh(shared, tmp_path)
        rc, record, out = fresh.apply("--check")
        assert record is None
        assert rc == 1 and "ghost@dead-runner (since 2026-12-01T00:00:00Z)" in out
        refused = fresh.opdhost("lock", "break")
        assert refused.returncode == 2  # --reason is required
        broken = fresh.opdhost("lock", "break", "--reason", "runner lost in the outage")
        assert broken.returncode == 0, broken.stderr
        assert "held by ghost@dead-runner" in broken.stdout
        holder.wait(timeout=30)  # its session on the node was ended
        log = on_node("ns1", f"cat {directory}/lock-breaks.log", check=True).stdout
        entry = json.loads(log.strip().splitlines()[-1])
        assert entry["reason"] == "runner lost in the outage"
        assert entry["holder"]["who"] == "ghost@dead-runner"
        local = list((fresh.records / "lab" / "lock-breaks").glob("*.json"))
        assert len(local) == 1
        status = fresh.opdhost("lock", "status")
        assert status.returncode == 0 and "free" in status.stdout, status.stdout
    finally:
        holder.kill()


def test_last_the_test_site_is_decommissioned_from_the_other_clone(shared: Clone) -> None:
    shared.write(SITE, IP, status="decommissioned")
    shared.commit(f"{SITE}: decommissioned")
    rc, record, out = shared.apply()
    assert rc == 0 and record is not None, out
    assert [s["action"] for s in record["sites"]] == ["decommission"]
    assert on_node("web1", f"ls /srv/www/{SITE}").returncode != 0
