"""The opdhost inventory plugin (AWX's project-sourced inventory, docs/awx.md), run for real.

`ansible-inventory` is started as AWX starts it, from the repository root (its ansible.cfg
finds plugins/inventory/); the variables it prints must be exactly the static inventory's plus
what `opdhost apply --all` hands each node: render()'s output and the empty `*_only` lists.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from opdhost.apply.pipeline import ONLY_KEYS
from opdhost.apply.render import render
from opdhost.fleet.loading import load_working_tree
from opdhost.fleet.platform import load_platform, platform_path

from .conftest import REPO

BIN = Path(sys.executable).parent
LAB_CONFIG = REPO / "inventories" / "lab" / "opdhost.yml"
SECRET_PATTERNS = [
    re.compile(p)
    for p in (
        r"PRIVATE KEY",  # PEM private keys (TLS, SSH)
        r"\$[1-6y]\$",  # crypt(3) password hashes
        r"\*[0-9A-F]{40}\b",  # MariaDB mysql_native_password hash
        r"SCRAM-SHA-256\$",  # PostgreSQL password hash
        r"\bmd5[0-9a-f]{32}\b",  # PostgreSQL md5 hash
        r"hmac-sha\d+",  # a TSIG key definition
    )
]
SECRET_KEYS = re.compile(r"pass(word|wd)?$|secret|token|private_key$", re.IGNORECASE)


def inventory(source: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`ansible-inventory -i SOURCE --list` from the repository root, as AWX runs it."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(source), "--list", *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def listed(source: Path) -> dict[str, Any]:
    done = inventory(source)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def expected_vars(root: Path) -> dict[str, dict[str, Any]]:
    """render() of the lab's requests plus the empty `*_only` lists, as `apply --all` passes."""
    platform = load_platform(platform_path(root, "lab"))
    fleet = load_working_tree(root)
    assert not fleet.findings, fleet.findings
    nodes = render(fleet.requests, platform).nodes
    return {
        node: {**values, **{only: [] for key, only in ONLY_KEYS.items() if key in values}}
        for node, values in nodes.items()
    }


def test_each_host_gets_exactly_the_static_inventory_and_the_rendered_vars() -> None:
    static = listed(REPO / "inventories" / "lab" / "hosts.yml")
    plugin = listed(LAB_CONFIG)
    want = json.loads(json.dumps(expected_vars(REPO)))  # the JSON types ansible prints
    assert set(want) == set(plugin["_meta"]["hostvars"]) == set(static["_meta"]["hostvars"])
    for host, values in plugin["_meta"]["hostvars"].items():
        assert values == {**static["_meta"]["hostvars"][host], **want[host]}, host
    # The same groups and hosts as hosts.yml: AWX imports them with the variables.
    assert {k: v for k, v in plugin.items() if k != "_meta"} == {
        k: v for k, v in static.items() if k != "_meta"
    }
    assert want["web1"]["apache_vhost_only"] == [] and want["db1"]["database_only"] == []


def test_no_secret_in_the_inventory() -> None:
    plugin = listed(LAB_CONFIG)

    def walk(value: object, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if SECRET_KEYS.search(str(key)) and item not in (None, "", [], {}):
                    raise AssertionError(f"{where}.{key}: a secret-looking key with a value")
                walk(item, f"{where}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{where}[{i}]")
        elif isinstance(value, str):
            for pattern in SECRET_PATTERNS:
                assert not pattern.search(value), f"{where}: matches {pattern.pattern}"

    walk(plugin["_meta"]["hostvars"], "hostvars")


def test_awx_import_reads_plain_values() -> None:
    """AWX runs `--list --export`: an `__ansible_unsafe` wrapper would be stored as the value."""
    done = inventory(LAB_CONFIG, "--export")
    assert done.returncode == 0, done.stderr
    assert "__ansible_unsafe" not in done.stdout
    exported = json.loads(done.stdout)["_meta"]["hostvars"]
    assert exported["ns1"]["dns_zone_role"] == "primary"
    assert exported["web1"]["apache_vhost_only"] == []


def copy_repo(tmp_path: Path) -> Path:
    """The lab's inventory and requests in a repository of their own (the plugin's `root`)."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / "inventories" / "lab", root / "inventories" / "lab")
    shutil.copytree(REPO / "requests", root / "requests")
    return root


def test_a_copy_renders_its_own_requests(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    (root / "requests" / "disdik" / "ppdb.yaml").unlink()
    plugin = listed(root / "inventories" / "lab" / "opdhost.yml")
    sites = [s["site"] for s in plugin["_meta"]["hostvars"]["web1"]["apache_vhost_sites"]]
    assert "ppdb" not in sites and "disdik" in sites
    assert plugin["_meta"]["hostvars"]["web1"] == {
        **listed(REPO / "inventories" / "lab" / "hosts.yml")["_meta"]["hostvars"]["web1"],
        **json.loads(json.dumps(expected_vars(root)))["web1"],
    }


def test_an_invalid_request_fails_loudly_with_file_line_field(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    bad = root / "requests" / "disdik" / "disdik.yaml"
    text = bad.read_text(encoding="utf-8")
    bad.write_text(
        re.sub(r"bandwidth_mbit: \d+", "bandwidth_mbit: lots", text, count=1), encoding="utf-8"
    )
    line = 1 + bad.read_text(encoding="utf-8").split("bandwidth_mbit: lots")[0].count("\n")
    done = inventory(root / "inventories" / "lab" / "opdhost.yml")
    assert done.returncode != 0
    assert not done.stdout.strip() or "web1" not in done.stdout  # no partial inventory
    assert f"requests/disdik/disdik.yaml:{line}: web.bandwidth_mbit: " in done.stderr
    # The very lines `opdhost validate` prints for the same tree.
    validate = subprocess.run(
        [str(BIN / "opdhost"), "validate", "--root", str(root), "--no-base"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert validate.returncode == 1
    errors = [ln for ln in validate.stdout.splitlines() if ": warning: " not in ln and ln]
    assert errors
    for finding in errors:
        assert finding in done.stderr


def test_plays_without_rendered_vars_or_plugin_stop_before_touching_a_host(tmp_path: Path) -> None:
    """hosts.yml alone (no rendered host_vars, no plugin) must not converge with empty defaults."""
    hosts = tmp_path / "hosts.yml"
    hosts.write_text(
        "all:\n  children:\n    web:\n      hosts:\n        web1:\n"
        "          ansible_host: 192.0.2.1\n",  # TEST-NET-1: never reached
        encoding="utf-8",
    )
    done = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(hosts), "playbooks/apply.yml", "--check"],
        cwd=REPO,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "web1: no rendered variables" in done.stdout + done.stderr
    assert "UNREACHABLE" not in done.stdout
