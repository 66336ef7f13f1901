"""converge.yml's zone, served authoritatively by both servers and by nothing else."""

from __future__ import annotations

import re
from typing import Any

import dns.flags
import dns.rcode
import pytest
import testinfra
from conftest import (
    PRIMARY,
    SECONDARY,
    SERVERS,
    answers,
    expected_data,
    query,
    serial,
    wait_serial,
)


@pytest.mark.parametrize("server", SERVERS)
def test_every_record_answers_authoritatively(server: str, baseline_zone: dict[str, Any]) -> None:
    records = baseline_zone["dns_zone_static_records"] + baseline_zone["dns_zone_records"]
    for record in records:
        response = query(server, record["name"], record["type"])
        assert response.flags & dns.flags.AA, (server, record)
        assert expected_data(record) in answers(server, record["name"], record["type"]), (
            server,
            record,
        )


@pytest.mark.usefixtures("baseline_zone")
def test_secondary_has_the_primarys_serial() -> None:
    current = serial(PRIMARY)
    assert re.fullmatch(r"20\d{6}\d{2}", str(current))
    assert wait_serial(SECONDARY, current, timeout=30) == current


@pytest.mark.parametrize("server", SERVERS)
def test_no_recursion_for_names_outside_the_zone(server: str) -> None:
    response = query(server, "example.org.", "A")
    assert response.rcode() == dns.rcode.REFUSED
    assert not response.answer


def test_named_enabled_and_configuration_valid(host: testinfra.host.Host) -> None:
    named = host.service("named")
    assert named.is_enabled and named.is_running
    assert host.run("named-checkconf").rc == 0
