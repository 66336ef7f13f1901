#!/usr/bin/env python3
"""Benchmark: `opdhost validate` and `opdhost plan` against merely parsing the same files.

Builds a synthetic fleet of N requests (default 10,000) in a temporary git repository,
commits it as the base, changes a few files in the working tree (updates, suspensions,
decommissions, new sites), then times in one process, best of R rounds:

  parse     reading every request file and yaml.load() with PyYAML's C loader (CSafeLoader)
  validate  the `opdhost validate` command (transitions against the base included)
  plan      the `opdhost plan --format json` command

and prints the times and the ratios to the parse time (target: <= 3.0). Peak memory of
`validate` is measured in child processes at N/10 and N sites.

    .venv/bin/python scripts/bench/bench_validate_plan.py [N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from click.testing import CliRunner
from opdhost.cli.main import cli
from opdhost.fleet.model import Status
from synth import SYNTH_ENV, make_fleet, opd_code, request_text, site_name

TARGET = 3.0
_RSS_CODE = """
import sys
from pathlib import Path
from opdhost.fleet.platform import load_platform, platform_path
from opdhost.fleet.review import run_review
root = Path(sys.argv[1])
result = run_review(root, load_platform(platform_path(root, "bench")), "HEAD")
assert result.ok, result.findings[:3]
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(hwm.split()[1])
"""


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def build(root: Path, count: int, change: bool = True) -> None:
    """Fleet committed as the base; then a small change in the working tree."""
    make_fleet(count, root)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(
        root,
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@example.invalid",
        "commit",
        "-q",
        "-m",
        "base fleet",
    )
    if not change:
        return
    for index in range(0, 40, 4):  # 10 updates
        path = root / "requests" / opd_code(index) / f"{site_name(index)}.yaml"
        path.write_text(request_text(index, tls=False))
    for index in (1, 2, 3):  # 3 suspensions
        path = root / "requests" / opd_code(index) / f"{site_name(index)}.yaml"
        path.write_text(request_text(index, status=Status.SUSPENDED))
    for index in (5, 6):  # 2 decommissions
        path = root / "requests" / opd_code(index) / f"{site_name(index)}.yaml"
        path.write_text(request_text(index, status=Status.DECOMMISSIONED))
    for index in range(count, count + 5):  # 5 new sites
        directory = root / "requests" / opd_code(index)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{site_name(index)}.yaml").write_text(request_text(index))


def parse_all(root: Path) -> int:
    """The baseline: read and parse every request file with the C loader."""
    loader = yaml.CSafeLoader
    count = 0
    for path in sorted((root / "requests").glob("*/*.yaml")):
        yaml.load(path.read_bytes(), Loader=loader)
        count += 1
    return count


def run_cli(args: list[str]) -> tuple[int, str]:
    """One opdhost command in this process (as CI would run it, minus interpreter start)."""
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.stdout


def peak_rss_kib(root: Path) -> int:
    """Peak RSS (VmHWM, KiB) of a child process running the validate pipeline with base HEAD.

    VmHWM rather than ru_maxrss: the latter keeps the forked parent's size across exec.
    """
    done = subprocess.run(
        [sys.executable, "-c", _RSS_CODE, str(root)], check=True, capture_output=True, text=True
    )
    return int(done.stdout.strip())


def main() -> None:
    """Build, time, print."""
    parser = argparse.ArgumentParser(description="validate/plan vs PyYAML C-loader parse")
    parser.add_argument("count", type=int, nargs="?", default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="opdhost-bench-") as tmp:
        root = Path(tmp) / "fleet"
        build(root, args.count)
        common = ["--root", str(root), "--env", SYNTH_ENV]
        files = parse_all(root)  # warm the page cache
        best = {"parse": float("inf"), "validate": float("inf"), "plan": float("inf")}
        plan_out = ""
        for _ in range(args.rounds):
            start = time.perf_counter()
            parse_all(root)
            best["parse"] = min(best["parse"], time.perf_counter() - start)

            start = time.perf_counter()
            code, out = run_cli(["validate", *common, "--base", "HEAD"])
            best["validate"] = min(best["validate"], time.perf_counter() - start)
            if code != 0:
                sys.exit(f"validate failed:\n{out[:2000]}")

            start = time.perf_counter()
            code, plan_out = run_cli(["plan", *common, "--base", "HEAD", "--format", "json"])
            best["plan"] = min(best["plan"], time.perf_counter() - start)
            if code != 0:
                sys.exit(f"plan failed:\n{plan_out[:2000]}")
        summary = json.loads(plan_out)["summary"]

        small = Path(tmp) / "small"
        build(small, max(1, args.count // 10), change=False)
        rss_small, rss_full = peak_rss_kib(small), peak_rss_kib(root)

    print(
        f"request files: {files} (plan: {', '.join(f'{n} {a}' for a, n in summary.items() if n)})"
    )
    print(f"parse (PyYAML CSafeLoader): {best['parse']:.3f} s")
    for name in ("validate", "plan"):
        ratio = best[name] / best["parse"]
        verdict = "ok" if ratio <= TARGET else "OVER TARGET"
        print(f"{name:9s}: {best[name]:.3f} s  ratio {ratio:.2f}x (target <= {TARGET}x) {verdict}")
    per_site = (rss_full - rss_small) * 1024 / max(1, args.count - args.count // 10)
    print(
        f"peak RSS of validate: {rss_small / 1024:.0f} MiB at {args.count // 10} sites, "
        f"{rss_full / 1024:.0f} MiB at {args.count} sites (~{per_site:.0f} bytes per site)"
    )


if __name__ == "__main__":
    main()
