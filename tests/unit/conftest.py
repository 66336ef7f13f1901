"""Shared fixtures: the repository's lab platform and a valid request to break on purpose."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from opdhost.cli.main import cli
from opdhost.fleet.platform import Platform, load_platform, platform_path

REPO = Path(__file__).resolve().parents[2]

VALID = """\
site: disdik
opd:
  code: disdik
  name: Dinas Pendidikan
  contact:
    name: Budi Santoso
    email: budi@disdik.kab-contoh.go.id
    phone: "+62 812 3456 0001"
letter:
  number: 421/123/Disdik/2026
  date: 2026-11-02
  agenda: AG-2026-0456
status: active
web:
  node: web1
  ip: 10.203.0.100
  runtime: php
  storage_mb: 2048
  bandwidth_mbit: 10
  aliases:
    - www.disdik.kab-contoh.go.id
  tls: true
database:
  engine: mariadb
  server: db1
  quota_mb: 512
"""
"""A valid request. Lines: site 1, opd.code 3, opd.name 4, letter.number 10, letter.date 11,
status 13, web.node 15, web.ip 16, web.runtime 17, web.storage_mb 18, web.bandwidth_mbit 19,
web.aliases 20 ([0] 21), web.tls 22, database 23, database.engine 24, database.server 25,
database.quota_mb 26 (the lab has two servers per engine: a request names its own)."""

PATH = "requests/disdik/disdik.yaml"


def make_request(
    site: str = "disdik", opd: str = "disdik", ip: str = "10.203.0.100", **extra: str
) -> str:
    """VALID with another site name, OPD, IP and any `old=new` text substitutions."""
    text = VALID.replace("site: disdik", f"site: {site}").replace("code: disdik", f"code: {opd}")
    text = text.replace("www.disdik.", f"www.{site}.").replace("10.203.0.100", ip)
    for old, new in extra.items():
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="session")
def lab_platform() -> Platform:
    """The lab platform shipped in the repository."""
    return load_platform(platform_path(REPO, "lab"), "inventories/lab/group_vars/all/platform.yml")


def make_repo(root: Path, files: Mapping[str, str | bytes], platform: str | None = None) -> Path:
    """A repository-shaped directory: the lab platform (or `platform` text) and `files`."""
    target = root / "inventories" / "lab" / "group_vars" / "all"
    target.mkdir(parents=True, exist_ok=True)
    if platform is None:
        shutil.copy(platform_path(REPO, "lab"), target / "platform.yml")
    else:
        (target / "platform.yml").write_text(platform)
    (root / "requests").mkdir(exist_ok=True)
    write_files(root, files)
    return root


def write_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Write (or, for value "", delete) files relative to `root`."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def git(root: Path, *args: str) -> str:
    """Run git in `root` (a throwaway test repository)."""
    done = subprocess.run(
        [
            "git",
            "-C",
            str(root),
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.invalid",
            *args,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def git_repo(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """make_repo + `git init` on main + one commit of everything."""
    make_repo(root, files)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


def opdhost(*args: str) -> Result:
    """Run the CLI in-process; a traceback (any exception but SystemExit) fails the test."""
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"opdhost raised {result.exception!r}\n{result.output}")
    return result


def validate(root: Path, *args: str) -> Result:
    """`opdhost validate --root ROOT --no-base` (plus args)."""
    return opdhost("validate", "--root", str(root), "--no-base", *args)
