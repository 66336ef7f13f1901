"""The role pages' variable tables are the roles' argument specs, never a second copy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import REPO

SCRIPT = REPO / "scripts" / "docs" / "role_variables.py"


def test_every_role_page_shows_its_argument_spec() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_a_changed_spec_makes_the_page_stale(tmp_path: Path) -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import role_variables  # noqa: PLC0415 - a script, not a package
    finally:
        sys.path.pop(0)
    page = (REPO / "docs" / "roles" / "bandwidth.md").read_text(encoding="utf-8")
    assert role_variables.update(page, "bandwidth") == page
    stale = page.replace("`bandwidth_interface` | str", "`bandwidth_interface` | int")
    assert stale != page and role_variables.update(stale, "bandwidth") == page
