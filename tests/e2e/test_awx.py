"""The AWX path on the lab: playbooks/site.yml through the inventory plugin, no opdhost step.

The session fixture has converged the lab through `opdhost apply` (site.yml with every node's
rendered host_vars files). An AWX job template runs the same playbook with the variables its
inventory source imported from the opdhost plugin instead (docs/awx.md). Run that way in check
mode, it must find nothing to change and fail nowhere: the same result as `opdhost apply --all`
on a converged platform (apart from apt's cache refresh, which depends on the clock only). And
the plugin's variables must be the ones apply rendered: their digests equal those apply
recorded per node in the applied state. One check-mode run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opdhost.apply.pipeline import node_digests

from .conftest import REPO, Platform

pytestmark = pytest.mark.lab

BIN = Path(sys.executable).parent
CLOCK_TASKS = {"common : Refresh the apt cache when it is older than allowed"}
"""Changes that depend on the clock, not on the repository (roles/common: apt's cache is older
than a day, or its lists directory keeps the lab image's mtime 0, so check mode reports a
refresh). The common role reads no rendered variable; `opdhost apply --check --all` reports
the same task."""


def _env() -> dict[str, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("ANSIBLE_CONFIG", None)  # the repository's ansible.cfg, as in AWX's project checkout
    return {**env, "ANSIBLE_NOCOLOR": "1"}


def _hostvars(source: Path) -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(source), "--list"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    hostvars: dict[str, dict[str, Any]] = json.loads(done.stdout)["_meta"]["hostvars"]
    return hostvars


def _changed_tasks(run: dict[str, Any]) -> dict[str, set[str]]:
    """host -> the names of its changed (in check mode: would-change) tasks (json callback)."""
    found: dict[str, set[str]] = {}
    for play in run["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                if result.get("changed"):
                    found.setdefault(host, set()).add(str(task["task"]["name"]))
    return found


def test_site_yml_through_the_plugin_changes_nothing_after_apply(platform: Platform) -> None:
    config = platform.root / "inventories" / "lab" / "opdhost.yml"
    plugin = _hostvars(config)
    static = _hostvars(platform.root / "inventories" / "lab" / "hosts.yml")
    applied = platform.state()["nodes"]
    assert set(plugin) == set(applied), (sorted(plugin), sorted(applied))
    for node, values in plugin.items():
        rendered = {k: v for k, v in values.items() if k not in static[node]}
        assert node_digests(rendered).digest == applied[node]["digest"], node

    done = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(config), "playbooks/site.yml",
         "--check", "--diff"],
        cwd=REPO,
        env={**_env(), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    assert done.stdout.lstrip().startswith("{"), done.stdout[-2000:] + done.stderr[-4000:]
    run = json.loads(done.stdout)
    changed = _changed_tasks(run)
    assert set(run["stats"]) == set(plugin), run["stats"]
    for host, stats in run["stats"].items():
        assert stats["failures"] == 0 and stats["unreachable"] == 0, (host, stats, done.stderr)
        assert changed.get(host, set()) <= CLOCK_TASKS, (host, changed.get(host))
        assert stats["changed"] == len(changed.get(host, set())), (host, stats, changed)
    assert done.returncode == 0, done.stderr[-4000:]
