"""The module payload cache between runs (scripts/opdhost/apply/module_cache.py and its callback).

What a user relies on: a second run reuses what the first built (no rebuild), a changed module
source gets a fresh directory (never a stale payload), and a directory others could write to
is never used (ansible-core unpickles what is in it). The runs here are real ansible-playbook
runs on localhost with the environment opdhost's runner gives them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opdhost.apply import module_cache
from opdhost.apply.runner import _module_cache_env

from .conftest import REPO

PING = "ansible.modules.ping-ZIP_DEFLATED-none"  # ansible-core's name for the built payload


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "roles" / "web" / "library").mkdir(parents=True)
    (repo / "roles" / "web" / "library" / "thing.py").write_text("# v1\n")
    (repo / "roles" / "web" / "module_utils").mkdir()
    (repo / "roles" / "web" / "module_utils" / "util.py").write_text("X = 1\n")
    return repo


def test_the_key_follows_module_and_module_utils_sources_only(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    first = module_cache.source_key(repo)
    assert module_cache.source_key(repo) == first
    cache = repo / "roles" / "web" / "library" / "__pycache__"
    cache.mkdir()
    (cache / "thing.cpython-311.pyc").write_bytes(b"\0")
    (repo / "roles" / "web" / "tasks").mkdir()
    (repo / "roles" / "web" / "tasks" / "main.yml").write_text("---\n")
    assert module_cache.source_key(repo) == first, "bytecode and task files are not sources"
    (repo / "roles" / "web" / "module_utils" / "util.py").write_text("X = 2\n")
    second = module_cache.source_key(repo)
    assert second != first
    (repo / "roles" / "web" / "library" / "other.py").write_text("# new module\n")
    assert module_cache.source_key(repo) not in (first, second)


def test_prepare_makes_a_private_keyed_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path)
    monkeypatch.setenv(module_cache.ENV, str(tmp_path / "cache"))
    cache = module_cache.prepare(repo)
    assert cache.directory == tmp_path / "cache" / module_cache.source_key(repo)
    for path in (cache.directory, tmp_path / "cache"):
        assert path.is_dir() and (path.stat().st_mode & 0o777) == 0o700


def test_off_turns_the_cache_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(module_cache.ENV, "off")
    cache = module_cache.prepare(_repo(tmp_path))
    assert cache.directory is None and "off" in cache.why_not
    assert _module_cache_env(cache) == {}


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o705])
def test_a_directory_others_can_reach_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int
) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    root.chmod(mode)
    monkeypatch.setenv(module_cache.ENV, str(root))
    cache = module_cache.prepare(_repo(tmp_path))
    assert cache.directory is None
    assert f"{mode:04o}" in cache.why_not and str(root) in cache.why_not


def test_a_link_in_place_of_the_keyed_directory_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path)
    root = tmp_path / "cache"
    root.mkdir(mode=0o700)
    elsewhere = tmp_path / "planted"
    elsewhere.mkdir(mode=0o700)
    (root / module_cache.source_key(repo)).symlink_to(elsewhere)
    monkeypatch.setenv(module_cache.ENV, str(root))
    cache = module_cache.prepare(repo)
    assert cache.directory is None and "not a directory" in cache.why_not


def test_prune_keeps_the_recent_and_the_recently_used(tmp_path: Path) -> None:
    now = time.time()
    ages = {"a": 10, "b": 20, "c": 30, "d": 7200, "e": 9000}
    for name, age in ages.items():
        (tmp_path / name).mkdir()
        os.utime(tmp_path / name, (now - age, now - age))
    removed = module_cache.prune(tmp_path, keep=2, idle_s=3600)
    # c is beyond the two kept but was used 30 s ago (another checkout's run may hold it)
    assert sorted(p.name for p in removed) == ["d", "e"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]


def _ansible(tmp_path: Path, cache: module_cache.ModuleCache) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "ping.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - name: Ping\n      ansible.builtin.ping:\n"
    )
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "local"),
        **_module_cache_env(cache),
    }
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(playbook),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )


@pytest.fixture
def repo_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> module_cache.ModuleCache:
    """The repository's keyed directory, under a cache root of this test."""
    monkeypatch.setenv(module_cache.ENV, str(tmp_path / "cache"))
    cache = module_cache.prepare(REPO)
    assert cache.directory is not None, cache.why_not
    return cache


def test_a_second_run_loads_what_the_first_built(
    tmp_path: Path, repo_cache: module_cache.ModuleCache
) -> None:
    cache = repo_cache
    assert cache.directory is not None
    first = _ansible(tmp_path, cache)
    assert first.returncode == 0, first.stdout + first.stderr
    payload = cache.directory / PING
    assert payload.is_file(), sorted(os.listdir(cache.directory))
    built = payload.stat().st_mtime_ns
    second = _ansible(tmp_path, cache)
    assert second.returncode == 0, second.stdout + second.stderr
    assert payload.stat().st_mtime_ns == built, "the payload was built again"
    # the run's own temporary directory is gone, the cache stays
    assert not list((tmp_path / "local").glob("ansible-local-*"))


def test_the_callback_refuses_a_directory_opened_after_prepare(
    tmp_path: Path, repo_cache: module_cache.ModuleCache
) -> None:
    """Between opdhost's check and the run, the directory became writable by others."""
    cache = repo_cache
    assert cache.directory is not None
    cache.directory.chmod(0o777)
    done = _ansible(tmp_path, cache)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "opdhost module cache not used" in done.stdout + done.stderr
    assert not (cache.directory / PING).exists()
