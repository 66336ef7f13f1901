"""Shared fixtures: the repository's lab platform and a valid request to break on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest

from opdhost.platform import Platform, load_platform, platform_path

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
  quota_mb: 512
"""
"""A valid request; line numbers: site 1, opd.code 3, letter.date 11, status 13, web.node 15,
web.ip 16, web.storage_mb 18, web.aliases[0] 21, database.engine 24, database.quota_mb 25."""


def make_request(site: str = "disdik", opd: str = "disdik", ip: str = "10.203.0.100", **extra: str) -> str:
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
