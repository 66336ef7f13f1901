"""apache_vhost_sites: what the batch module makes is what the drift probe accepts.

The role makes every flagged site's resources in one call (issue 16) and trusts the drift probe
to say what is missing. A certificate, directory or keys file the probe still flags would be
made again on every run (and a bulk create would never settle), so each test makes something
with the module and asks the probe. Accounts are not made here (useradd on the test machine):
the Molecule scenario and the lab's e2e tests cover them; the directories use accounts that
exist everywhere (root, nobody, www-data is replaced by root's group where missing).
"""

from __future__ import annotations

import datetime
import grp
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .modules import load

sites = load("roles/apache_vhost/library/apache_vhost_sites.py", "apache_vhost_sites")
drift = load("roles/apache_vhost/library/apache_vhost_drift.py", "apache_vhost_drift")

SITE: dict[str, Any] = {
    "site": "disdik",
    "user": "s-disdik",
    "fqdn": "disdik.kab-contoh.go.id",
    "aliases": ["www.disdik.kab-contoh.go.id"],
    "tls": True,
}


def make_ca(directory: Path) -> None:
    """A CA as tasks/tls_ca.yml makes it: P-384, CA:TRUE pathlen 0, SKI."""
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "opdhost test CA")])
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True)
    (directory / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "ca.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture
def tls(tmp_path: Path) -> Path:
    (tmp_path / "tls" / "private").mkdir(parents=True)
    make_ca(tmp_path / "ca")
    return tmp_path


@pytest.mark.skipif(os.geteuid() != 0, reason="writes root-owned files, as on a node")
def test_an_issued_certificate_satisfies_the_probe_and_a_valid_key_is_kept(tls: Path) -> None:
    tls_dir, ca_dir = str(tls / "tls"), str(tls / "ca")
    ca_cert = drift._load_ca(f"{ca_dir}/ca.crt")
    assert drift.tls_state(SITE, tls_dir, ca_cert, 30) == "tls"  # nothing there yet

    ca = sites.load_ca(ca_dir)
    sites.ensure_tls(SITE, tls_dir, ca, "+825d")
    assert drift.tls_state(SITE, tls_dir, ca_cert, 30) == "ok"
    key_path = tls / "tls" / "private" / "disdik.key"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tls / "tls" / "disdik.crt").stat().st_mode) == 0o644

    # An 825-day certificate is "renew" with a 900-day window; re-issuing keeps the key.
    assert drift.tls_state(SITE, tls_dir, ca_cert, 900) == "renew"
    key_before = key_path.read_bytes()
    sites.ensure_tls(SITE, tls_dir, ca, "+825d")
    assert key_path.read_bytes() == key_before

    # New names (an alias added): the probe flags it, a new certificate settles it.
    more = {**SITE, "aliases": [*SITE["aliases"], "sekolah.kab-contoh.go.id"]}
    assert drift.tls_state(more, tls_dir, ca_cert, 30) == "tls"
    sites.ensure_tls(more, tls_dir, ca, "+825d")
    assert drift.tls_state(more, tls_dir, ca_cert, 30) == "ok"

    # A key of the wrong kind (RSA planted by hand) is replaced by a P-256 one.
    key_path.write_bytes(b"not a key")
    sites.ensure_tls(SITE, tls_dir, ca, "+825d")
    assert drift.tls_state(SITE, tls_dir, ca_cert, 30) == "ok"


def test_lifetimes_relative_and_absolute_and_refused() -> None:
    now = datetime.datetime(2026, 12, 2, 12, 0, 0)
    assert sites.not_after("+825d", now) == now + datetime.timedelta(days=825)
    assert sites.not_after("+2w", now) == now + datetime.timedelta(weeks=2)
    assert sites.not_after("20301231235959Z", now) == datetime.datetime(2030, 12, 31, 23, 59, 59)
    with pytest.raises(sites.SiteError, match=r"\+<number>"):
        sites.not_after("825 days", now)


@pytest.mark.skipif(os.geteuid() != 0, reason="sets owners, as on a node")
def test_directories_are_made_and_a_link_is_refused_never_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    group = "www-data" if _has_group("www-data") else "root"
    sites.ensure_dir(str(tmp_path / "public"), "nobody", group, 0o2750)
    st = (tmp_path / "public").stat()
    assert stat.S_IMODE(st.st_mode) == 0o2750 and st.st_gid == grp.getgrnam(group).gr_gid

    (tmp_path / "tmp").symlink_to(target)  # what an attacker with the home would plant
    with pytest.raises(sites.SiteError, match="not a directory"):
        sites.ensure_dir(str(tmp_path / "tmp"), "nobody", "nogroup", 0o700)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700 and target.stat().st_uid == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="sets owners, as on a node")
def test_the_placeholder_is_written_once_and_never_through_a_link(tmp_path: Path) -> None:
    site = {**SITE, "user": "nobody"}
    www = tmp_path / "www"
    (www / "disdik" / "public").mkdir(parents=True)
    if not _has_group("www-data"):
        pytest.skip("no www-data group on this machine")
    assert sites.write_index(site, str(www), "<h1>placeholder</h1>")
    index = www / "disdik" / "public" / "index.html"
    assert index.read_text() == "<h1>placeholder</h1>"
    assert stat.S_IMODE(index.stat().st_mode) == 0o640
    index.write_text("the agency's page")
    assert not sites.write_index(site, str(www), "<h1>placeholder</h1>")
    assert index.read_text() == "the agency's page"

    secret = tmp_path / "shadow"
    secret.write_text("root:x")
    index.unlink()
    index.symlink_to(secret)  # dangling or not, a link is never written through
    assert not sites.write_index(site, str(www), "<h1>placeholder</h1>")
    assert secret.read_text() == "root:x"


@pytest.mark.skipif(os.geteuid() != 0, reason="writes root-owned files, as on a node")
def test_check_mode_touches_nothing_and_a_bad_name_is_refused(tmp_path: Path) -> None:
    longest = "a" * 30  # the longest site name a request may have: its account has 32 characters
    params = {
        "sites": [
            SITE,
            {**SITE, "site": "../etc", "user": "s-etc"},
            {**SITE, "site": longest, "user": f"s-{longest}"},
            {**SITE, "site": "dinkes", "user": "s-disdik"},  # another site's account
        ],
        "fix": {"dirs": ["disdik", "../etc", longest, "dinkes"], "sftp_keys": ["disdik"]},
        "www_root": str(tmp_path),
        "sftp_group": "opdhost-sftp",
        "keys_dir": str(tmp_path),
        "keys_text": {"disdik": "restrict ssh-ed25519 AAAA x\n"},
        "index_html": {},
        "tls_dir": str(tmp_path),
        "ca_dir": str(tmp_path),
        "not_after": "+825d",
    }
    done, errors = sites.make(params, check=True)
    assert done["dirs"] == ["disdik", longest] and done["sftp_keys"] == ["disdik"]
    assert sorted(errors) == ["../etc", "dinkes"]
    assert os.listdir(tmp_path) == []


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True
