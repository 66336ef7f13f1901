"""The node-wide files of a web node, written and checked before they stay (issue 16).

roles/apache_vhost/library/apache_vhost_config.py writes every changed file, runs the services'
checkers at the same time, and keeps the files only as far as they are accepted: the outcome
must be the one of checking them one by one in order (the files before the first refusal stay,
that one and every later one are put back as they were, or removed when new), whatever the
checkers' timing. The checkers here are shell commands standing in for `php-fpm --test` and
`apache2ctl configtest`; Molecule runs the real ones (molecule/apache_vhost).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from .modules import load

sys.modules.setdefault(
    "ansible.module_utils.opdhost_site_addresses",
    load("roles/apache_vhost/module_utils/opdhost_site_addresses.py", "opdhost_site_addresses"),
)
config = load("roles/apache_vhost/library/apache_vhost_config.py", "apache_vhost_config")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the files are made root:root")


def _files(tmp_path: Path, pools_check: str, vhosts_check: str) -> list[dict[str, Any]]:
    for name in ("ips.conf", "pools.conf", "vhosts.conf"):
        (tmp_path / name).write_text(f"old {name}\n")
    return [
        {"dest": str(tmp_path / "ips.conf"), "content": "new ips\n"},
        {"dest": str(tmp_path / "pools.conf"), "content": "new pools\n", "check": pools_check,
         "service": "php-fpm"},
        {"dest": str(tmp_path / "vhosts.conf"), "content": "new vhosts\n", "check": vhosts_check,
         "service": "apache2"},
    ]  # fmt: skip


def _contents(tmp_path: Path) -> list[str]:
    names = ("ips.conf", "pools.conf", "vhosts.conf")
    return [(tmp_path / n).read_text().split()[0] for n in names]


def test_every_accepted_file_stays(tmp_path: Path) -> None:
    written = config.put_all(_files(tmp_path, "true", "true"))
    assert [Path(entry["dest"]).name for entry, _old in written] == [
        "ips.conf", "pools.conf", "vhosts.conf"
    ]  # fmt: skip
    assert _contents(tmp_path) == ["new", "new", "new"]
    assert all((tmp_path / n).stat().st_mode & 0o777 == 0o644 for n in os.listdir(tmp_path))


def test_a_refusal_puts_back_that_file_and_every_later_one(tmp_path: Path) -> None:
    with pytest.raises(config.RefusedError) as refused:
        config.put_all(_files(tmp_path, "sh -c 'echo bad pool >&2; exit 1'", "true"))
    assert "pools.conf was refused" in str(refused.value) and "bad pool" in str(refused.value)
    # the vhosts file was accepted, but it comes after the refused pools: as if never checked
    assert _contents(tmp_path) == ["new", "old", "old"]
    assert [Path(e["dest"]).name for e, _old in refused.value.kept] == ["ips.conf"]


def test_the_files_before_the_first_refusal_stay(tmp_path: Path) -> None:
    with pytest.raises(config.RefusedError) as refused:
        config.put_all(_files(tmp_path, "true", "false"))
    assert "vhosts.conf was refused" in str(refused.value)
    assert _contents(tmp_path) == ["new", "new", "old"]
    assert [Path(e["dest"]).name for e, _old in refused.value.kept] == ["ips.conf", "pools.conf"]


def test_a_refused_new_file_is_removed_and_a_missing_checker_refuses(tmp_path: Path) -> None:
    files = _files(tmp_path, "true", "/nonexistent/apache2ctl configtest")
    (tmp_path / "vhosts.conf").unlink()
    with pytest.raises(config.RefusedError) as refused:
        config.put_all(files)
    assert "cannot run /nonexistent/apache2ctl" in str(refused.value)
    assert not (tmp_path / "vhosts.conf").exists()


def test_the_checks_run_at_the_same_time(tmp_path: Path) -> None:
    """Each checker waits (up to 5 s) for the other to have started: one by one, the first
    would give up and refuse its file."""
    wait = (
        "sh -c 'touch {me}; for i in $(seq 50); do [ -e {other} ] && exit 0; sleep 0.1; done;"
        " exit 1'"
    )
    a, b = tmp_path / "a.started", tmp_path / "b.started"
    files = _files(tmp_path, wait.format(me=a, other=b), wait.format(me=b, other=a))
    config.put_all(files)
    assert _contents(tmp_path) == ["new", "new", "new"]
