"""The apache_vhost role's input guard (filter_plugins/apache_vhost_input.py).

It replaced fifteen Jinja expressions (issue 16); these tests hold it to what they refused, and
to what the role must accept: the shapes opdhost renders.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from .modules import load

guard = load("roles/apache_vhost/filter_plugins/apache_vhost_input.py", "apache_vhost_input")
errors = guard.apache_vhost_input_errors

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
FPR = "SHA256:" + "A" * 43


def site(name: str, ip: str, **extra: Any) -> dict[str, Any]:
    """An entry as opdhost renders it."""
    return {
        "site": name,
        "user": f"s-{name}",
        "fqdn": f"{name}.kab-contoh.go.id",
        "aliases": [f"www.{name}.kab-contoh.go.id"],
        "ip": ip,
        "status": "active",
        "storage_mb": 2048,
        "sftp_keys": [{"key": KEY, "fingerprint": FPR}],
        "database": {
            "engine": "mariadb",
            "host": "10.203.0.21",
            "port": 3306,
            "name": name.replace("-", "_"),
            "user": name.replace("-", "_"),
        },
        **extra,
    }


GOOD = [
    site("disdik", "10.203.0.100"),
    site("dinkes-kab", "10.203.0.101", database=None, aliases=[], sftp_keys=[]),
    # A decommissioned site may keep the IP and names a served site now uses.
    site(
        "dispar",
        "10.203.0.100",
        status="decommissioned",
        aliases=[],
        fqdn="disdik.kab-contoh.go.id",
    ),
]


def test_the_rendered_shapes_pass() -> None:
    assert errors(GOOD) == []
    assert errors([]) == []


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("site", "disdik\n", 'site "disdik\\n"'),
        ("site", "Disdik", 'site "Disdik"'),
        ("fqdn", "disdik.kab-contoh.go.id\n", "fqdn"),
        ("aliases", ["www.disdik.kab-contoh.go.id\n"], "alias"),
        ("ip", "10.203.0.100\n", "ip"),
        ("ip", "10.203.0.256", "ip"),
        ("ip", "010.203.0.1", "ip"),
        ("user", "s-disdik\n", "user"),
        ("user", "s-dinkes-kab", "user"),
        ("storage_mb", 0, "storage_mb"),
        ("storage_mb", "2048\n", "storage_mb"),
        ("storage_mb", True, "storage_mb"),
        ("sftp_keys", [{"key": KEY + "\n", "fingerprint": FPR}], "sftp key"),
        ("sftp_keys", [{"key": "ssh-dss AAAA", "fingerprint": FPR}], "sftp key"),
        ("sftp_keys", [{"key": KEY, "fingerprint": "MD5:ab"}], "fingerprint"),
    ],
)
def test_a_malformed_field_is_refused_and_named(field: str, value: Any, named: str) -> None:
    sites = copy.deepcopy(GOOD)
    sites[0][field] = value
    found = errors(sites)
    assert found, f"{field}={value!r} was accepted"
    assert any("entry 1 " in e and named in e for e in found), found


@pytest.mark.parametrize(
    ("field", "value"),
    [("engine", "mysql"), ("host", "db1"), ("port", "3306; DROP"), ("name", "dis-dik"),
     ("user", "a" * 32), ("name", "disdik\n")],
)  # fmt: skip
def test_a_malformed_database_is_refused(field: str, value: Any) -> None:
    sites = copy.deepcopy(GOOD)
    sites[0]["database"][field] = value
    assert any(f"database {field}" in e for e in errors(sites))


def test_duplicates_across_entries_are_refused() -> None:
    twice = [*copy.deepcopy(GOOD), site("disdik", "10.203.0.102", aliases=[])]
    assert any('site "disdik" is listed 2 times' in e for e in errors(twice))
    shared_ip = [*copy.deepcopy(GOOD), site("bappeda", "10.203.0.101", aliases=[])]
    assert any('"10.203.0.101" is listed 2 times' in e for e in errors(shared_ip))
    shared_name = [
        *copy.deepcopy(GOOD),
        site("bappeda", "10.203.0.103", aliases=["www.disdik.kab-contoh.go.id"]),
    ]
    assert any("www.disdik.kab-contoh.go.id" in e and "2 times" in e for e in errors(shared_name))


def test_not_a_list_or_not_a_mapping() -> None:
    assert errors({"site": "disdik"})
    assert errors(["disdik"]) == ["entry 1: not a mapping"]
