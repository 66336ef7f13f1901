"""The database role's node setup stamp, as its password call reads it (issue 16).

roles/database/library/database_secret.py: a narrowed run skips the engines' setup only when
the stamp is this setup's and every engine's server has its socket; a stamp of another setup
is removed (outside check mode), so a run that checks the setup and dies leaves none.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from .modules import load

sys.modules.setdefault(
    "ansible.module_utils.opdhost_secrets",
    load("roles/database/module_utils/opdhost_secrets.py", "opdhost_secrets"),
)
secret = load("roles/database/library/database_secret.py", "database_secret")

HASH = "a" * 64


def _socket(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    return server


def test_this_setups_stamp_with_the_servers_up_stands(tmp_path: Path) -> None:
    stamp = tmp_path / "setup.sha256"
    stamp.write_text(HASH + "\n")
    with _socket(tmp_path / "mysqld.sock"):
        assert secret.setup_stamped(str(stamp), HASH, [str(tmp_path / "mysqld.sock")], False)
    assert stamp.exists()


def test_a_missing_socket_or_a_plain_file_does_not_stand(tmp_path: Path) -> None:
    stamp = tmp_path / "setup.sha256"
    stamp.write_text(HASH + "\n")
    (tmp_path / "plain").write_text("")
    assert not secret.setup_stamped(str(stamp), HASH, [str(tmp_path / "gone.sock")], False)
    assert not secret.setup_stamped(str(stamp), HASH, [str(tmp_path / "plain")], False)
    assert stamp.exists()  # this setup's stamp is kept: the setup run rewrites it


def test_another_setups_stamp_is_removed_except_in_check_mode(tmp_path: Path) -> None:
    stamp = tmp_path / "setup.sha256"
    stamp.write_text("b" * 64 + "\n")
    assert not secret.setup_stamped(str(stamp), HASH, [], True)
    assert stamp.exists()
    assert not secret.setup_stamped(str(stamp), HASH, [], False)
    assert not stamp.exists()


def test_no_stamp_file_or_no_expected_hash_never_stands(tmp_path: Path) -> None:
    assert not secret.setup_stamped(str(tmp_path / "none"), HASH, [], False)
    assert not secret.setup_stamped(None, HASH, [], False)
    stamp = tmp_path / "setup.sha256"
    stamp.write_text("\n")
    assert not secret.setup_stamped(str(stamp), "", [], False)


def test_mtimes_of_files_missing_ones_null(tmp_path: Path) -> None:
    hba = tmp_path / "pg_hba.conf"
    hba.write_text("local all postgres peer\n")
    found = secret.mtimes([str(hba), str(tmp_path / "gone")])
    assert found == {str(hba): hba.stat().st_mtime, str(tmp_path / "gone"): None}
