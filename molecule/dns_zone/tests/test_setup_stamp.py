"""The node setup stamp: a run narrowed to some sites (`dns_zone_only`, as `opdhost apply`
passes for one new hosting) skips the node setup while the stamp matches, and checks it again
when it does not (here: a setting changed); a run with `dns_zone_only: []` (`--all`) always
checks it and stamps it. The zone itself is made on every run.
"""

from __future__ import annotations

import re
from typing import Any

import testinfra
from conftest import PRIMARY, answers, converge

NS1 = testinfra.get_host("podman://mol-dns-ns1")
OPTIONS = "/etc/bind/named.conf.options"
STAMP = "/etc/bind/opdhost-setup.sha256"
BY_HAND = "// edited by hand"
ONLY_PRIMARY = ("--limit", "mol-dns-ns1")
SETUP_TASK = "TASK [dns_zone : Write the server-wide options"
NEW = [
    {"name": "dispar", "type": "A", "value": "10.203.0.103"},
    {"name": "kominfo", "type": "A", "value": "10.203.0.104"},
]


def edit_options_by_hand() -> None:
    """Drift behind the role's back: a comment appended to the server-wide options."""
    NS1.check_output(f"echo '{BY_HAND}' >> {OPTIONS}")


def options_edited() -> bool:
    """The hand edit is still there (the setup was not checked)."""
    return BY_HAND in NS1.file(OPTIONS).content_string


def stamp() -> str:
    """The node setup stamp on the primary ('' when there is none)."""
    return NS1.file(STAMP).content_string if NS1.file(STAMP).exists else ""


def test_a_narrowed_run_skips_the_stamped_setup_and_all_checks_it(
    baseline_zone: dict[str, Any], figures: dict[str, str]
) -> None:
    records = baseline_zone["dns_zone_records"]
    # `--all` (dns_zone_only empty) checks the setup whatever the stamp says (the hand edit is
    # repaired), then stamps it, even over a stamp that is not this setup's.
    NS1.check_output(f"echo {'0' * 64} > {STAMP}")
    edit_options_by_hand()
    one = {"dns_zone_records": [*records, NEW[0]]}
    full = converge(one, *ONLY_PRIMARY, packages=True)
    assert full.rc == 0, full.output[-3000:]
    assert not options_edited()
    stamped = stamp()
    assert re.fullmatch(r"[0-9a-f]{64}\n", stamped) and stamped != "0" * 64 + "\n", stamped
    assert NS1.file(STAMP).mode == 0o600 and NS1.file(STAMP).user == "root"
    figures["full run (dns_zone_only: []), one new hosting, primary"] = f"{full.seconds:.1f} s"

    # Stamped: the next new hosting is served, the setup is not even looked at.
    edit_options_by_hand()
    two = {"dns_zone_records": [*records, *NEW], "dns_zone_only": ["kominfo"]}
    narrowed = converge(two, *ONLY_PRIMARY, packages=True)
    assert narrowed.rc == 0, narrowed.output[-3000:]
    assert answers(PRIMARY, "kominfo") == {"10.203.0.104"}
    assert options_edited() and stamp() == stamped
    assert SETUP_TASK not in narrowed.output
    figures["narrowed run, one new hosting, stamped setup, primary"] = f"{narrowed.seconds:.1f} s"

    # A changed setting: the stamp no longer matches, so the narrowed run checks the setup. With
    # the packages skipped by tag the setup was not checked whole: no new stamp.
    changed = converge({**two, "dns_zone_soa_retry": 601}, *ONLY_PRIMARY)
    assert changed.rc == 0, changed.output[-3000:]
    assert not options_edited()
    assert stamp() == stamped
    assert answers(PRIMARY, "kominfo") == {"10.203.0.104"}
