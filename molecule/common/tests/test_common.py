"""What every node must offer after the common role: base tools, time zone, state dir."""

import json
import os
import subprocess
import sys
from pathlib import Path

import testinfra

SCENARIO = Path(__file__).resolve().parents[1]


def test_base_packages_installed(host: testinfra.host.Host) -> None:
    for name in ("ca-certificates", "curl", "iproute2", "python3-apt", "tar"):
        assert host.package(name).is_installed, name


def test_time_zone_is_jakarta(host: testinfra.host.Host) -> None:
    assert host.check_output("date +%Z") == "WIB"
    assert host.file("/etc/localtime").linked_to.endswith("Asia/Jakarta")


def test_state_dir_is_root_only(host: testinfra.host.Host) -> None:
    state = host.file("/etc/opdhost")
    assert state.is_directory
    assert state.user == "root"
    assert state.mode == 0o700


def test_a_value_ending_in_a_newline_is_refused_before_anything(host: testinfra.host.Host) -> None:
    zone = host.file("/etc/localtime").linked_to
    bad = {"common_timezone": "Asia/Jakarta\n", "common_packages": ["curl", "tar\n"]}
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            str(SCENARIO / "converge.yml"),
            "-e",
            json.dumps(bad),
        ],
        env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "common: bad input ['tar\\" in out, out  # the package with its newline, shown
    assert "'common_timezone']" in out, out
    assert "Refresh the apt cache" not in out  # stopped before the first change
    assert host.file("/etc/localtime").linked_to == zone
