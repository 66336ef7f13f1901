"""Changes to the hostings' records, applied by re-running converge.yml as opdhost would.

The tests run in file order and each starts from the zone the previous one left: a zone of 2,000
hostings, a no-change run over it, a dry run and then the real run of going back to the baseline
with one site decommissioned and one created (the day's second change, with the clock set back),
and two broken changes. To run the verifier again, `molecule converge` first (it restores the
baseline).
"""

from __future__ import annotations

import random
import time
from typing import Any

import dns.rcode
import testinfra
from conftest import (
    KEY_FILE,
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
NS2 = testinfra.get_host("podman://mol-dns-ns2")
ZONE_FILE = f"/var/lib/bind/db.{ZONE}"
ONLY_PRIMARY = ("--limit", "mol-dns-ns1")
FLEET = 2000

DISPAR = [
    {"name": "dispar", "type": "A", "value": "10.203.0.103"},
    {"name": "www.dispar", "type": "CNAME", "value": "dispar"},
]


def next_serial(current: int) -> int:
    """What the role must give after a change: today's nn=01, or current+1 if that is not more."""
    return max(int(time.strftime("%Y%m%d") + "01"), current + 1)


def without(records: list[dict[str, Any]], site: str) -> list[dict[str, Any]]:
    """The records minus a site's own name and its aliases (a decommission)."""
    return [r for r in records if r["name"] != site and not r["name"].endswith("." + site)]


def changed_records(baseline: dict[str, Any]) -> list[dict[str, Any]]:
    """Baseline with bappeda decommissioned and dispar created (and no generated fleet)."""
    return without(baseline["dns_zone_records"], "bappeda") + DISPAR


def fleet_records(baseline: dict[str, Any]) -> list[dict[str, Any]]:
    """The baseline plus 2,000 generated hostings, each with an A record and a www alias."""
    records = list(baseline["dns_zone_records"])
    for i in range(FLEET):
        site = f"opd{i:04d}"
        records.append(
            {
                "name": site,
                "type": "A",
                "value": f"10.{100 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}",
            }
        )
        records.append({"name": f"www.{site}", "type": "CNAME", "value": site})
    return records


def is_gone(server: str, name: str) -> bool:
    """The server says the name does not exist."""
    return query(server, name, "A").rcode() == dns.rcode.NXDOMAIN


def assert_static_records_kept(baseline: dict[str, Any]) -> None:
    for server in SERVERS:
        for record in baseline["dns_zone_static_records"]:
            assert expected_data(record) in answers(server, record["name"], record["type"]), (
                server,
                record,
            )


def test_zone_of_2000_hostings_loads_and_answers_at_both(
    baseline: dict[str, Any], figures: dict[str, str]
) -> None:
    before = serial(PRIMARY)
    run = converge({"dns_zone_records": fleet_records(baseline)})
    assert run.rc == 0, run.output[-3000:]
    figures[f"converge adding {FLEET} hostings ({2 * FLEET} records), both servers"] = (
        f"{run.seconds:.1f} s"
    )
    after = serial(PRIMARY)
    assert after == next_serial(before)
    started = time.monotonic()
    assert wait_serial(SECONDARY, after, timeout=90) == after
    figures["secondary's serial equal to the primary's, after that converge"] = (
        f"{time.monotonic() - started:.1f} s"
    )
    sample = [*random.Random(5).sample(range(FLEET), 40), 0, FLEET - 1]
    for server in SERVERS:
        for i in sample:
            site = f"opd{i:04d}"
            assert answers(server, f"www.{site}", "CNAME") == {f"{site}.{ZONE}."}, (server, i)
            assert len(answers(server, site)) == 1, (server, i)
    axfr = NS2.run(f"dig +tries=1 +time=10 -k {KEY_FILE} @{PRIMARY} {ZONE} AXFR")
    assert axfr.rc == 0
    lines = [line.split() for line in axfr.stdout.splitlines() if line and line[0] != ";"]
    types = [fields[3] for fields in lines]
    assert types.count("CNAME") == FLEET + 2  # the generated www aliases + the baseline's two
    assert_static_records_kept(baseline)


def test_no_change_converge_of_2000_hostings_keeps_the_serial(
    baseline: dict[str, Any], figures: dict[str, str]
) -> None:
    before = serial(PRIMARY)
    run = converge({"dns_zone_records": fleet_records(baseline)}, *ONLY_PRIMARY)
    assert run.rc == 0, run.output[-3000:]
    figures[f"no-change converge of the {FLEET}-hosting zone, primary"] = f"{run.seconds:.1f} s"
    assert run.changed("mol-dns-ns1") == 0
    assert serial(PRIMARY) == before == serial(SECONDARY)


def test_check_mode_shows_the_records_diff_and_touches_nothing(baseline: dict[str, Any]) -> None:
    before, zone_sum = serial(PRIMARY), NS1.file(ZONE_FILE).sha256sum
    records = changed_records(baseline)
    run = converge({"dns_zone_records": records}, "--check", "--diff", *ONLY_PRIMARY)
    assert run.rc == 0, run.output[-3000:]
    diff_lines = {line.replace(" ", "") for line in run.output.splitlines()}
    assert "-bappedaINA10.203.0.102" in diff_lines
    assert "-opd0000INA10.100.0.1" in diff_lines
    assert "+dispar" + "INA10.203.0.103" in diff_lines
    assert "+www.dispar" + "INCNAMEdispar" in diff_lines
    assert NS1.file(ZONE_FILE).sha256sum == zone_sum
    assert serial(PRIMARY) == before


def test_decommissions_and_a_new_site_reach_both_servers(
    baseline: dict[str, Any], figures: dict[str, str]
) -> None:
    before = serial(PRIMARY)
    assert str(before).startswith(time.strftime("%Y%m%d"))  # the 2,000-hosting change, today
    # The primary alone: the secondary has nothing to change and follows by NOTIFY + transfer.
    # The serial date is set back to 2020: the day's second change must still go up by one.
    extra = {"dns_zone_records": changed_records(baseline), "dns_zone_serial_date": "20200101"}
    run = converge(extra, *ONLY_PRIMARY)
    assert run.rc == 0, run.output[-3000:]
    figures[f"converge removing {FLEET} hostings, primary"] = f"{run.seconds:.1f} s"
    after = serial(PRIMARY)
    assert after == before + 1
    assert wait_serial(SECONDARY, after) == after
    for server in SERVERS:
        for name in ("bappeda", "www.bappeda", "opd0000", "www.opd0999", "opd1999"):
            assert is_gone(server, name), (server, name)
        assert answers(server, "dispar") == {"10.203.0.103"}, server
        assert answers(server, "www.dispar", "CNAME") == {f"dispar.{ZONE}."}, server
        assert answers(server, "disdik") == {"10.203.0.100"}, server
    assert_static_records_kept(baseline)


def test_broken_zone_is_refused_and_the_served_zone_stays(baseline: dict[str, Any]) -> None:
    before, zone_sum = serial(PRIMARY), NS1.file(ZONE_FILE).sha256sum
    clash = {"name": "disdik", "type": "CNAME", "value": "dinkes"}  # a CNAME beside disdik's A
    records = [*changed_records(baseline), clash]
    run = converge({"dns_zone_records": records}, *ONLY_PRIMARY)
    assert run.rc != 0
    assert "CNAME and other data" in run.output
    assert NS1.file(ZONE_FILE).sha256sum == zone_sum
    assert serial(PRIMARY) == before
    assert answers(PRIMARY, "disdik") == {"10.203.0.100"}


def test_bad_record_name_is_refused_before_anything_is_touched(baseline: dict[str, Any]) -> None:
    before, zone_sum = serial(PRIMARY), NS1.file(ZONE_FILE).sha256sum
    evil = {"name": "x\n@ IN NS evil.example.", "type": "A", "value": "10.203.0.9"}
    # values ending in a newline (Python's `$` matches before it; the role's checks use \Z)
    trailing = {"name": "trailing\n", "type": "A", "value": "10.203.0.9"}
    records = [*changed_records(baseline), evil, trailing]
    soa_rname = f"hostmaster.{ZONE}.\n"
    run = converge({"dns_zone_records": records, "dns_zone_soa_rname": soa_rname}, *ONLY_PRIMARY)
    assert run.rc != 0
    assert "dns_zone: bad zone name" in run.output
    assert "'trailing" in run.output  # listed among the bad names
    assert "other bad inputs ['dns_zone_soa_rname']" in run.output
    assert NS1.file(ZONE_FILE).sha256sum == zone_sum and serial(PRIMARY) == before


def test_bad_secondary_address_is_refused_before_anything_is_touched() -> None:
    conf_sum = NS1.file("/etc/bind/named.conf.local").sha256sum
    run = converge({"dns_zone_secondaries": ["10.214.0.32; any"]}, *ONLY_PRIMARY)
    assert run.rc != 0
    assert "IPv4 addresses expected" in run.output
    assert NS1.file("/etc/bind/named.conf.local").sha256sum == conf_sum
