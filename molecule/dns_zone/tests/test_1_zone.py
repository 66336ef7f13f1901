"""The zone as molecule's converge left it: served by both servers, transferred only as allowed."""

from __future__ import annotations

import re
from typing import Any

import dns.flags
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.xfr
import dns.zone
import pytest
import testinfra
from conftest import (
    KEY_FILE,
    PRIMARY,
    SECONDARY,
    SERVERS,
    ZONE,
    answers,
    expected_data,
    query,
    serial,
    wait_serial,
)

NS1 = testinfra.get_host("podman://mol-dns-ns1")
NS2 = testinfra.get_host("podman://mol-dns-ns2")


@pytest.mark.parametrize("server", SERVERS)
def test_every_record_answers_authoritatively(server: str, baseline: dict[str, Any]) -> None:
    records = baseline["dns_zone_static_records"] + baseline["dns_zone_records"]
    for record in records:
        response = query(server, record["name"], record["type"])
        assert response.flags & dns.flags.AA, (server, record)
        assert expected_data(record) in answers(server, record["name"], record["type"]), (
            server,
            record,
        )


def test_secondary_has_the_primarys_serial() -> None:
    current = serial(PRIMARY)
    assert re.fullmatch(r"20\d{6}\d{2}", str(current))
    assert wait_serial(SECONDARY, current, timeout=30) == current


@pytest.mark.parametrize("server", SERVERS)
def test_no_recursion_for_names_outside_the_zone(server: str) -> None:
    response = query(server, "example.org.", "A")
    assert response.rcode() == dns.rcode.REFUSED
    assert not response.answer


def read_keyring() -> dict[dns.name.Name, dns.tsig.Key]:
    """The TSIG key as dnspython wants it, read from the primary (never printed)."""
    text = NS1.file(KEY_FILE).content_string
    name = re.search(r'key "([^"]+)"', text)
    algorithm = re.search(r"algorithm ([a-z0-9-]+);", text)
    secret = re.search(r'secret "([^"]+)";', text)
    assert name and algorithm and secret, "key file unreadable"
    return dns.tsigkeyring.from_text({name.group(1): (algorithm.group(1), secret.group(1))})


def transfer(keyring: dict[dns.name.Name, dns.tsig.Key] | None) -> dns.zone.Zone:
    """AXFR of the zone from the primary, from this host (not a secondary)."""
    zone = dns.zone.Zone(ZONE)
    request, _ = dns.xfr.make_query(zone)
    if keyring:
        request.use_tsig(keyring)
    dns.query.inbound_xfr(PRIMARY, zone, query=request, timeout=5, lifetime=10)
    return zone


def test_transfer_refused_to_others_even_with_the_key() -> None:
    with pytest.raises(dns.xfr.TransferError):
        transfer(None)
    with pytest.raises(dns.xfr.TransferError):
        transfer(read_keyring())


def test_transfer_to_the_secondary_needs_the_key() -> None:
    unsigned = NS2.run(f"dig +tries=1 +time=3 @{PRIMARY} {ZONE} AXFR")
    assert "Transfer failed" in unsigned.stdout
    signed = NS2.run(f"dig +tries=1 +time=3 -k {KEY_FILE} @{PRIMARY} {ZONE} AXFR")
    assert signed.rc == 0
    assert re.search(rf"^{re.escape(ZONE)}\.\s+\d+\s+IN\s+SOA\s", signed.stdout, re.M)
    assert "Transfer failed" not in signed.stdout


def test_key_is_the_same_on_both_and_readable_only_by_root_and_bind() -> None:
    for node in (NS1, NS2):
        key = node.file(KEY_FILE)
        assert (key.user, key.group, key.mode) == ("root", "bind", 0o640)
    assert NS1.file(KEY_FILE).sha256sum == NS2.file(KEY_FILE).sha256sum


def test_named_enabled_and_configuration_valid(host: testinfra.host.Host) -> None:
    named = host.service("named")
    assert named.is_enabled and named.is_running
    assert host.run("named-checkconf").rc == 0
