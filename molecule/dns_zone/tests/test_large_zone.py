"""A zone of 2,000 hostings (4,000 records): it loads, answers at both servers and transfers
whole, and a run with nothing new changes nothing over it."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import pytest
import testinfra
from conftest import (
    KEY_FILE,
    PRIMARY,
    SECONDARY,
    SERVERS,
    ZONE,
    Run,
    answers,
    converge,
    ensure_baseline,
    expected_data,
    serial,
    wait_serial,
)

NS2 = testinfra.get_host("podman://mol-dns-ns2")
ONLY_PRIMARY = ("--limit", "mol-dns-ns1")
FLEET = 2000


def next_serial(current: int) -> int:
    """What the role must give after a change: today's nn=01, or current+1 if that is not more."""
    return max(int(time.strftime("%Y%m%d") + "01"), current + 1)


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


@dataclass(frozen=True)
class FleetChange:
    """The run that took the zone from the baseline to the 2,000 hostings, and the serials."""

    run: Run
    before: int
    after: int


@pytest.fixture(scope="module")
def fleet_zone(baseline: dict[str, Any], figures: dict[str, str]) -> FleetChange:
    """From the baseline zone (converged here if it is not served), add the 2,000 hostings."""
    ensure_baseline()
    before = serial(PRIMARY)
    run = converge({"dns_zone_records": fleet_records(baseline)})
    figures[f"converge adding {FLEET} hostings ({2 * FLEET} records), both servers"] = (
        f"{run.seconds:.1f} s"
    )
    return FleetChange(run, before, serial(PRIMARY))


def test_zone_of_2000_hostings_loads_and_answers_at_both(
    fleet_zone: FleetChange, baseline: dict[str, Any], figures: dict[str, str]
) -> None:
    assert fleet_zone.run.rc == 0, fleet_zone.run.output[-3000:]
    after = fleet_zone.after
    assert after == next_serial(fleet_zone.before)
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
    for server in SERVERS:
        for record in baseline["dns_zone_static_records"]:
            assert expected_data(record) in answers(server, record["name"], record["type"]), (
                server,
                record,
            )


def test_no_change_converge_of_2000_hostings_keeps_the_serial(
    fleet_zone: FleetChange, baseline: dict[str, Any], figures: dict[str, str]
) -> None:
    assert fleet_zone.run.rc == 0, fleet_zone.run.output[-3000:]
    before = serial(PRIMARY)
    run = converge({"dns_zone_records": fleet_records(baseline)}, *ONLY_PRIMARY)
    assert run.rc == 0, run.output[-3000:]
    figures[f"no-change converge of the {FLEET}-hosting zone, primary"] = f"{run.seconds:.1f} s"
    assert run.changed("mol-dns-ns1") == 0
    assert serial(PRIMARY) == before == serial(SECONDARY)
