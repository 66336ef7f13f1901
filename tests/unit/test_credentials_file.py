"""apache_vhost's credentials module: the file the agency's code reads, kept in step, never
written through a link, and never with the password in its result.

The module runs here as it runs on a web node (as root, on a directory tree made like the
role makes it), so owner, group and mode are real.
"""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from .modules import load

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "roles" / "apache_vhost" / "library" / "apache_vhost_credentials.py"
DB = {"engine": "mariadb", "host": "10.203.0.21", "port": 3306, "name": "disdik", "user": "disdik"}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="owner and group need root")


creds = load(str(MODULE.relative_to(REPO)), "apache_vhost_credentials")
GROUP = grp.getgrgid(os.getgid()).gr_name  # stands in for the site's own group


def home(tmp_path: Path, site: str = "disdik") -> Path:
    """A site home as the role makes it: private/ root-owned, 0750."""
    private = tmp_path / site / "private"
    private.mkdir(parents=True)
    private.chmod(0o750)
    return private


def run(
    tmp_path: Path, sites: list[dict[str, Any]], passwords: dict[str, str], *, check: bool = False
) -> dict[str, list[str]]:
    params = {"www_root": str(tmp_path), "sites": sites, "passwords": passwords}
    out: dict[str, list[str]] = creds.run(params, check)
    return out


def site(name: str = "disdik", database: dict[str, Any] | None = DB) -> dict[str, Any]:
    return {"site": name, "user": GROUP, "status": "active", "database": database}


def test_the_file_holds_what_the_code_needs_readable_by_the_site_only(tmp_path: Path) -> None:
    private = home(tmp_path)
    out = run(tmp_path, [site()], {"disdik": "s3cret-Pw_1"})
    assert out == {"written": ["disdik"], "missing": [], "unsafe": []}
    path = private / "db.env"
    assert path.read_text() == (
        "DB_ENGINE=mariadb\nDB_HOST=10.203.0.21\nDB_PORT=3306\nDB_NAME=disdik\n"
        "DB_USER=disdik\nDB_PASSWORD=s3cret-Pw_1\n"
    )
    st = path.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, os.getgid(), 0o440)
    assert "s3cret" not in repr(out)
    assert [p.name for p in private.iterdir()] == ["db.env"]  # no temporary file left
    # In step: nothing to do the second time; a new password (or a hand edit) is rewritten.
    assert run(tmp_path, [site()], {"disdik": "s3cret-Pw_1"})["written"] == []
    path.chmod(0o644)
    assert run(tmp_path, [site()], {"disdik": "s3cret-Pw_1"})["written"] == ["disdik"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o440
    assert run(tmp_path, [site()], {"disdik": "new-one"})["written"] == ["disdik"]
    assert path.read_text().endswith("DB_PASSWORD=new-one\n")


def test_check_mode_reports_and_writes_nothing(tmp_path: Path) -> None:
    private = home(tmp_path)
    assert run(tmp_path, [site()], {"disdik": "pw"}, check=True)["written"] == ["disdik"]
    assert not (private / "db.env").exists()


def test_a_link_or_a_directory_others_can_write_is_never_written_through(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "disdik").mkdir()
    (tmp_path / "disdik" / "private").symlink_to(target)
    out = run(tmp_path, [site()], {"disdik": "pw"})
    assert out["unsafe"] == ["disdik"] and not list(target.iterdir())
    open_dir = home(tmp_path, "ppdb")
    open_dir.chmod(0o777)
    assert run(tmp_path, [site("ppdb")], {"ppdb": "pw"})["unsafe"] == ["ppdb"]
    assert not (open_dir / "db.env").exists()


def test_no_password_no_file_and_no_database_no_file(tmp_path: Path) -> None:
    private = home(tmp_path)
    assert run(tmp_path, [site()], {})["missing"] == ["disdik"]
    assert not (private / "db.env").exists()
    run(tmp_path, [site()], {"disdik": "pw"})
    # The site no longer has a database: its file goes.
    assert run(tmp_path, [site(database=None)], {})["written"] == ["disdik"]
    assert not (private / "db.env").exists()
