"""Preflight: every reason the lab cannot start comes with the command that fixes it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from opdhost.lab.errors import PodmanError
from opdhost.lab.manage import HostFacts, preflight_problems
from opdhost.lab.podman import Podman

GOOD_CONF = '[containers]\ndefault_ulimits = ["nofile=20000:20000"]\n[engine]\nruntime = "runc"\n'
GOOD_IMAGE = {"Id": "abc", "Config": {"Cmd": ["/sbin/init"], "Labels": {"opdhost.hash": "1"}}}
READY = HostFacts(
    euid=0,
    has_podman=True,
    has_debootstrap=True,
    podman_conf=GOOD_CONF,
    image=GOOD_IMAGE,
    base_image_present=True,
)
OPDHOST = Path(sys.executable).parent / "opdhost"


def test_ready_machine_has_no_problems() -> None:
    assert preflight_problems(READY) == []


def test_not_root_is_reported_alone() -> None:
    assert preflight_problems(replace(READY, euid=1000)) == [
        ("the lab needs root (rootful Podman with static addresses)", "run as root")
    ]


def test_missing_podman_points_to_setup() -> None:
    [(problem, fix)] = preflight_problems(replace(READY, has_podman=False))
    assert "podman is not installed" in problem
    assert fix == "run scripts/setup.sh as root"


def test_unconfigured_podman_points_to_setup() -> None:
    [(problem, fix)] = preflight_problems(replace(READY, podman_conf=""))
    assert "containers.conf" in problem
    assert "scripts/setup.sh" in fix


def test_missing_image_points_to_the_build_script() -> None:
    [(problem, fix)] = preflight_problems(replace(READY, image=None, base_image_present=False))
    assert "is missing" in problem
    assert fix == "run scripts/lab/build-images.sh"


def test_build_stopped_after_the_base_image_is_called_unfinished() -> None:
    [(problem, _)] = preflight_problems(replace(READY, image=None))
    assert "never finished" in problem


def test_missing_image_without_debootstrap_points_to_setup() -> None:
    [(problem, fix)] = preflight_problems(replace(READY, image=None, has_debootstrap=False))
    assert "debootstrap is not installed" in problem
    assert "scripts/setup.sh" in fix


@pytest.mark.parametrize(
    "config",
    [{"Cmd": ["/bin/bash"], "Labels": {"opdhost.hash": "1"}}, {"Cmd": ["/sbin/init"]}],
)
def test_half_built_image_is_refused(config: dict[str, object]) -> None:
    [(problem, fix)] = preflight_problems(replace(READY, image={"Id": "x", "Config": config}))
    assert "half-built" in problem
    assert fix == "run scripts/lab/build-images.sh"


def test_failing_podman_command_raises_typed_error() -> None:
    with pytest.raises(PodmanError) as err:
        Podman(binary="false").run(["ps"])
    assert err.value.returncode == 1
    assert err.value.argv == ["false", "ps"]


def test_hanging_podman_command_times_out() -> None:
    with pytest.raises(PodmanError, match="timed out") as err:
        Podman(binary="sleep", timeout=0.2).run(["5"])
    assert err.value.returncode is None


def test_cli_without_podman_says_what_to_run() -> None:
    """The real console script, with podman absent from PATH: a message, exit 1, no trace."""
    if os.geteuid() != 0:
        pytest.skip("the root check comes first when not root")
    env = {**os.environ, "PATH": "/nonexistent"}
    proc = subprocess.run(
        [str(OPDHOST), "lab", "up"], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 1
    assert "podman is not installed" in proc.stderr
    assert "scripts/setup.sh" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_as_non_root_says_to_run_as_root() -> None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to drop to an unprivileged user")
    proc = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", str(OPDHOST), "lab", "up"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HOME": "/tmp"},
    )
    assert proc.returncode == 1, proc.stderr
    assert "needs root" in proc.stderr
    assert "Traceback" not in proc.stderr
