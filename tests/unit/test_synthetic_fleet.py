"""Synthetic fleets for benchmarks, and the benchmark script that uses them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import synth

from .conftest import REPO, opdhost


def test_synthetic_fleet_is_valid_and_plans_cleanly(tmp_path: Path) -> None:
    inventory = synth.make_fleet(450, tmp_path)
    result = opdhost(
        "validate", "--root", str(tmp_path), "--inventory", str(inventory), "--no-base"
    )
    assert result.exit_code == 0, result.stdout[:2000]
    assert "450 request files checked: 0 errors" in result.stderr


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
