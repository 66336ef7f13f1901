"""Changes to the hostings' records and broken inputs, applied by re-running converge.yml on the
primary as opdhost would. Each test starts from converge.yml's zone (`baseline_zone`), whatever
ran before it.
"""

from __future__ import annotations

from typing import Any

import dns.rcode
import pytest
import testinfra
from conftest import (
    PRIMARY,
    SECONDARY,
    SERVERS,
    ZONE,
    answers,
    converge,
    expected_data,
    query,
    serial,
    wait_serial,
)

NS1 = testinfra.get_host("podman://mol-dns-ns1")
ZONE_FILE = f"/var/lib/bind/db.{ZONE}"
CONF_LOCAL = "/etc/bind/named.conf.local"
ONLY_PRIMARY = ("--limit", "mol-dns-ns1")

DISPAR = [
    {"name": "dispar", "type": "A", "value": "10.203.0.103"},
    {"name": "www.dispar", "type": "CNAME", "value": "dispar"},
]


def without(records: list[dict[str, Any]], site: str) -> list[dict[str, Any]]:
    """The records minus a site's own name and its aliases (a decommission)."""
    return [r for r in records if r["name"] != site and not r["name"].endswith("." + site)]


def changed_records(baseline: dict[str, Any]) -> list[dict[str, Any]]:
    """Baseline with bappeda decommissioned and dispar created."""
    return without(baseline["dns_zone_records"], "bappeda") + DISPAR


def is_gone(server: str, name: str) -> bool:
    """The server says the name does not exist."""
    return query(server, name, "A").rcode() == dns.rcode.NXDOMAIN


def served_serial() -> int:
    """The serial named serves on the primary, as rndc reports it."""
    status = NS1.check_output(f"rndc zonestatus {ZONE}")
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("serial:")))


def test_check_mode_shows_the_records_diff_and_touches_nothing(
    baseline_zone: dict[str, Any],
) -> None:
    before, zone_sum = serial(PRIMARY), NS1.file(ZONE_FILE).sha256sum
    records = changed_records(baseline_zone)
    run = converge({"dns_zone_records": records}, "--check", "--diff", *ONLY_PRIMARY)
    assert run.rc == 0, run.output[-3000:]
    diff_lines = {line.replace(" ", "") for line in run.output.splitlines()}
    assert "-bappedaINA10.203.0.102" in diff_lines
    assert "+dispar" + "INA10.203.0.103" in diff_lines
    assert "+www.dispar" + "INCNAMEdispar" in diff_lines
    assert NS1.file(ZONE_FILE).sha256sum == zone_sum
    assert serial(PRIMARY) == before


def test_decommission_and_new_site_reach_both_servers(
    baseline_zone: dict[str, Any], figures: dict[str, str]
) -> None:
    before = serial(PRIMARY)
    # The primary alone: the secondary has nothing to change and follows by NOTIFY + transfer.
    # The serial date is set back to 2020: the serial must still go up, by exactly one.
    extra = {"dns_zone_records": changed_records(baseline_zone), "dns_zone_serial_date": "20200101"}
    run = converge(extra, *ONLY_PRIMARY)
    assert run.rc == 0, run.output[-3000:]
    figures["converge of one decommission and one new site, primary"] = f"{run.seconds:.1f} s"
    after = serial(PRIMARY)
    assert after == before + 1
    assert wait_serial(SECONDARY, after) == after
    for server in SERVERS:
        for name in ("bappeda", "www.bappeda"):
            assert is_gone(server, name), (server, name)
        assert answers(server, "dispar") == {"10.203.0.103"}, server
        assert answers(server, "www.dispar", "CNAME") == {f"dispar.{ZONE}."}, server
        assert answers(server, "disdik") == {"10.203.0.100"}, server
        for record in baseline_zone["dns_zone_static_records"]:
            assert expected_data(record) in answers(server, record["name"], record["type"]), (
                server,
                record,
            )


def test_interrupted_run_is_repaired_by_the_next(baseline_zone: dict[str, Any]) -> None:
    """The zone file was installed but the reload never came (the run was cut off before its
    handlers): the next run, with the same records, changes no file but makes named serve it."""
    old = serial(PRIMARY)
    NS1.check_output(f"cp -p {ZONE_FILE} /root/zone.old")
    first = converge({"dns_zone_records": changed_records(baseline_zone)}, *ONLY_PRIMARY)
    assert first.rc == 0, first.output[-3000:]
    new = serial(PRIMARY)
    assert new > old
    # Back to the state an interrupted run leaves: named serving the old zone, the new on disk.
    NS1.check_output(
        f"cp {ZONE_FILE} /root/zone.new && cp /root/zone.old {ZONE_FILE} && rndc reload {ZONE}"
        f" && sleep 1 && cp /root/zone.new {ZONE_FILE} && rm /root/zone.old /root/zone.new"
    )
    assert wait_serial(PRIMARY, old, timeout=10) == old
    assert served_serial() == old
    run = converge({"dns_zone_records": changed_records(baseline_zone)}, *ONLY_PRIMARY)
    assert run.rc == 0, run.output[-3000:]
    assert run.changed("mol-dns-ns1") == 1  # the reload, nothing else
    assert wait_serial(PRIMARY, new, timeout=10) == new
    assert answers(PRIMARY, "dispar") == {"10.203.0.103"}
    assert wait_serial(SECONDARY, new) == new


def test_broken_zone_is_refused_and_the_served_zone_stays(baseline_zone: dict[str, Any]) -> None:
    before, zone_sum = serial(PRIMARY), NS1.file(ZONE_FILE).sha256sum
    clash = {"name": "disdik", "type": "CNAME", "value": "dinkes"}  # a CNAME beside disdik's A
    records = [*changed_records(baseline_zone), clash]
    run = converge({"dns_zone_records": records}, *ONLY_PRIMARY)
    assert run.rc != 0
    assert "CNAME and other data" in run.output
    assert NS1.file(ZONE_FILE).sha256sum == zone_sum
    assert serial(PRIMARY) == before
    assert answers(PRIMARY, "disdik") == {"10.203.0.100"}


@pytest.mark.usefixtures("baseline_zone")
def test_configuration_named_checkconf_refuses_is_never_installed() -> None:
    """A key file path that exists but holds no key (a zone file): named.conf.local would include
    it. named-checkconf refuses the candidate, so the installed file and the server stay."""
    before, conf_sum = serial(PRIMARY), NS1.file(CONF_LOCAL).sha256sum
    run = converge({"dns_zone_tsig_key_file": "/etc/bind/db.empty"}, *ONLY_PRIMARY)
    assert run.rc != 0
    assert "failed to validate" in run.output
    assert NS1.file(CONF_LOCAL).sha256sum == conf_sum
    assert NS1.run("named-checkconf").rc == 0
    assert serial(PRIMARY) == before
    assert answers(PRIMARY, "disdik") == {"10.203.0.100"}


def test_bad_record_name_is_refused_before_anything_is_touched(
    baseline_zone: dict[str, Any],
) -> None:
    before, zone_sum = serial(PRIMARY), NS1.file(ZONE_FILE).sha256sum
    evil = {"name": "x\n@ IN NS evil.example.", "type": "A", "value": "10.203.0.9"}
    # values ending in a newline (Python's `$` matches before it; the role's checks use \Z)
    trailing = {"name": "trailing\n", "type": "A", "value": "10.203.0.9"}
    records = [*changed_records(baseline_zone), evil, trailing]
    soa_rname = f"hostmaster.{ZONE}.\n"
    run = converge({"dns_zone_records": records, "dns_zone_soa_rname": soa_rname}, *ONLY_PRIMARY)
    assert run.rc != 0
    assert "dns_zone: bad zone name" in run.output
    assert "'trailing" in run.output  # listed among the bad names
    assert "other bad inputs ['dns_zone_soa_rname']" in run.output
    assert NS1.file(ZONE_FILE).sha256sum == zone_sum and serial(PRIMARY) == before


@pytest.mark.usefixtures("baseline_zone")
def test_bad_secondary_address_or_path_is_refused_before_anything_is_touched() -> None:
    conf_sum = NS1.file(CONF_LOCAL).sha256sum
    run = converge(
        {"dns_zone_secondaries": ["10.214.0.32; any"], "dns_zone_primary_dir": '/var/lib/bind";'},
        *ONLY_PRIMARY,
    )
    assert run.rc != 0
    assert "IPv4 addresses expected" in run.output
    assert "other bad inputs ['dns_zone_primary_dir']" in run.output
    assert NS1.file(CONF_LOCAL).sha256sum == conf_sum


def test_same_records_in_another_order_change_nothing(baseline_zone: dict[str, Any]) -> None:
    before = serial(PRIMARY)
    shuffled = list(reversed(baseline_zone["dns_zone_records"]))
    run = converge({"dns_zone_records": shuffled}, *ONLY_PRIMARY)
    assert run.rc == 0, run.output[-3000:]
    assert run.changed("mol-dns-ns1") == 0
    assert serial(PRIMARY) == before
