"""Transfers of the zone: only to the secondaries, only signed with the key made on the primary."""

from __future__ import annotations

import re

import dns.name
import dns.query
import dns.tsig
import dns.tsigkeyring
import dns.xfr
import dns.zone
import pytest
import testinfra
from conftest import KEY_FILE, PRIMARY, ZONE

NS1 = testinfra.get_host("podman://mol-dns-ns1")
NS2 = testinfra.get_host("podman://mol-dns-ns2")
pytestmark = pytest.mark.usefixtures("baseline_zone")


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
