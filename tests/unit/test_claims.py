"""`opdhost new` never hands out a name or an IP that an open merge request already claims."""

from __future__ import annotations

from pathlib import Path

from .conftest import PATH, VALID, git, git_repo, make_request, opdhost

NEW = [
    "new", "--opd", "disdik", "--site", "{site}", "--letter-number", "421/9/Disdik/2026",
    "--letter-date", "2026-11-25", "--agenda", "AG-2026-0999", "--db", "none",
    "--storage-mb", "256", "--bandwidth-mbit", "5", "--dry-run", "--node", "web1",
]  # fmt: skip
"""On web1 by hand: the open requests claim web1's addresses (web2, emptier, would be picked)."""


def _forge_and_clone(tmp_path: Path) -> tuple[Path, Path]:
    """A forge-side repository with two open merge requests (as GitLab publishes them) and an
    engineer's clone of it."""
    forge = git_repo(tmp_path / "forge", {PATH: VALID})
    for iid, (site, ip) in enumerate((("arsip", "10.203.0.101"), ("perpus", "10.203.0.102"))):
        git(forge, "checkout", "-q", "-b", f"request-{site}", "main")
        (forge / "requests" / "disdik" / f"{site}.yaml").write_text(
            make_request(site, "disdik", ip)
        )
        git(forge, "add", "-A")
        git(forge, "commit", "-q", "-m", f"{site}: new hosting")
        git(forge, "update-ref", f"refs/merge-requests/{iid + 1}/head", "HEAD")
        git(forge, "checkout", "-q", "main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(forge), str(clone))
    return forge, clone


def _new(clone: Path, site: str, *extra: str) -> tuple[int, str]:
    args = [a.format(site=site) for a in NEW]
    result = opdhost(*args, "--root", str(clone), *extra)
    return result.exit_code, result.output


def test_new_skips_the_ips_of_open_merge_requests(tmp_path: Path) -> None:
    _, clone = _forge_and_clone(tmp_path)
    code, out = _new(clone, "sekolah")
    assert code == 0, out
    assert "ip: 10.203.0.103" in out  # .101 and .102 are claimed by the open requests


def test_new_refuses_a_name_an_open_merge_request_claims(tmp_path: Path) -> None:
    _, clone = _forge_and_clone(tmp_path)
    code, out = _new(clone, "perpus")
    assert code == 1
    assert "site 'perpus' is already claimed by an open merge request (mr/2: " in out


def test_merged_or_closed_requests_drop_out_at_the_next_fetch(tmp_path: Path) -> None:
    forge, clone = _forge_and_clone(tmp_path)
    assert "ip: 10.203.0.103" in _new(clone, "sekolah")[1]
    git(forge, "update-ref", "-d", "refs/merge-requests/1/head")  # arsip's request closed
    code, out = _new(clone, "sekolah")
    assert code == 0 and "ip: 10.203.0.101" in out


def test_offline_uses_what_was_fetched_before(tmp_path: Path) -> None:
    forge, clone = _forge_and_clone(tmp_path)
    _new(clone, "sekolah")  # fetches
    git(forge, "update-ref", "-d", "refs/merge-requests/1/head")
    code, out = _new(clone, "sekolah", "--offline")
    assert code == 0 and "ip: 10.203.0.103" in out
