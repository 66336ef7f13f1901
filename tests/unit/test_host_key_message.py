"""A host whose SSH key is not the pinned one stops the run with a message an engineer can act on.

The texts are what Ansible reports for an UNREACHABLE host when OpenSSH refuses its key
(StrictHostKeyChecking=yes, UserKnownHostsFile=<inventory>/known_hosts), as OpenSSH 9.2 prints it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from opdhost.apply.runner import RunResult, _Collector, host_key_message

CHANGED = (
    "Failed to connect to the host via ssh: "
    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
    "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n"
    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
    "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r\n"
    "Someone could be eavesdropping on you right now (man-in-the-middle attack)!\r\n"
    "It is also possible that a host key has just been changed.\r\n"
    "The fingerprint for the ED25519 key sent by the remote host is\r\n"
    "SHA256:3Fh0XW2rcFq1sF0Hh7cYy3Vq2mJ5pQe0b9gJ8nJ4vXc.\r\n"
    "Please contact your system administrator.\r\n"
    "Add correct host key in {known} to get rid of this message.\r\n"
    "Offending ED25519 key in {known}:3\r\n"
    "Host key for 203.0.113.11 has changed and you have requested strict checking.\r\n"
    "Host key verification failed."
)
UNKNOWN = (
    "Failed to connect to the host via ssh: No ED25519 host key is known for 203.0.113.11 and"
    " you have requested strict checking.\r\nHost key verification failed."
)


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "inventories" / "production").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "inventories" / "production" / "hosts.yml"


def unreachable(collector: _Collector, host: str, msg: str) -> None:
    collector(
        {
            "event": "runner_on_unreachable",
            "event_data": {
                "host": host,
                "task": "Virtual hosts, PHP pools and site IPs (web nodes)",
                "res": {"msg": msg, "unreachable": True, "changed": False},
            },
        }
    )


def test_a_changed_key_names_the_host_the_file_and_what_to_do(inventory: Path) -> None:
    known = inventory.parent / "known_hosts"
    result = RunResult("apply.yml", "failed", 4, 0.0, "")
    unreachable(
        _Collector(result, 0, lambda _p: None, inventory), "web1", CHANGED.format(known=known)
    )

    [failure] = result.failures
    assert failure.unreachable and failure.host == "web1"
    assert failure.message == (
        "web1: the SSH host key does not match inventories/production/known_hosts: if the server"
        " was reinstalled, verify its new key out of band and replace the line; nothing was"
        " changed on web1"
    )


def test_a_key_that_is_not_pinned_says_so(inventory: Path) -> None:
    message = host_key_message("ns2", UNKNOWN, inventory)
    assert message is not None
    assert message.startswith(
        "ns2: the SSH host key is not pinned in inventories/production/known_hosts"
    )
    assert "ssh-keyscan" in message and "out of band" in message
    assert message.endswith("nothing was changed on ns2")


def test_the_file_outside_the_current_directory_is_named_in_full(tmp_path: Path) -> None:
    known = tmp_path / "elsewhere" / "known_hosts"
    message = host_key_message("db1", CHANGED.format(known=known), None)
    assert message is not None and f"does not match {known}:" in message


def test_other_unreachable_hosts_keep_ssh_s_own_message(inventory: Path) -> None:
    result = RunResult("apply.yml", "failed", 4, 0.0, "")
    refused = (
        "Failed to connect to the host via ssh: ssh: connect to host 10.203.0.11 port 22:"
        " Connection refused"
    )
    unreachable(_Collector(result, 0, lambda _p: None, inventory), "web1", refused)
    assert host_key_message("web1", refused, inventory) is None
    assert result.failures[0].message == refused
