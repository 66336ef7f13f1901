"""`validate --format json`: findings and the ledger as one JSON document."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import PATH, VALID, make_repo, opdhost


def test_validate_json_output(tmp_path: Path) -> None:
    make_repo(tmp_path, {PATH: VALID.replace("bandwidth_mbit: 10", "bandwidth_mbit: 0")})
    result = opdhost("validate", "--root", str(tmp_path), "--no-base", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["findings"] == [
        {
            "path": PATH,
            "line": 19,
            "field": "web.bandwidth_mbit",
            "message": "0 is too small (minimum 1)",
            "severity": "error",
        }
    ]
    assert {"server": "web1", "resource": "sites", "used": 0, "limit": 100} in data["ledger"]
