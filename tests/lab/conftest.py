"""Fixtures for the tests that drive the real lab through the `opdhost` console script."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

OPDHOST = Path(sys.executable).parent / "opdhost"
Run = Callable[..., subprocess.CompletedProcess[str]]


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        list(args), capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


@pytest.fixture(scope="session")
def run() -> Run:
    """Run a command (no shell) and return its completed process."""
    return _run


@pytest.fixture(scope="session")
def opdhost() -> Run:
    """Run `opdhost ARGS` as a user would."""

    def call(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return _run(str(OPDHOST), *args, timeout=timeout)

    return call


@pytest.fixture
def lab_up(opdhost: Run) -> None:
    """The lab is up and healthy before the test (cheap when it already is)."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    proc = opdhost("lab", "up")
    assert proc.returncode == 0, proc.stdout + proc.stderr
