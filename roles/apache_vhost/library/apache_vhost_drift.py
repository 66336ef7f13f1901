#!/usr/bin/python3
"""Read-only probe: which touched sites differ from what apache_vhost's per-site tasks make.

One module run reads the state of every touched site (accounts, directories, placeholder,
TLS key and certificate, leftovers of decommissioned sites) so that the role's per-site
loops only run for the sites that need them: a no-change run costs one remote call instead
of ~9 per site. It is at least as strict as the modules it stands in front of
(ansible.builtin.user and file, template with force: false, community.crypto's
openssl_privatekey and x509_certificate with the ownca provider), so every drift those tasks
would repair is reported. It never changes anything.
"""

from __future__ import annotations

import datetime
import grp
import os
import pwd
import stat
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DOCUMENTATION = r"""
module: apache_vhost_drift
short_description: Report the touched sites whose per-site state differs from the role's
description:
  - Read-only; always C(changed=false). Used by the apache_vhost role before its per-site loops.
options:
  sites:
    description: Touched entries of apache_vhost_sites (decommissioned ones: leftovers).
    type: list
    elements: dict
    required: true
  www_root:
    description: Parent of the site homes.
    type: path
    required: true
  sftp_group:
    description: The only supplementary group of every site account.
    type: str
    required: true
  keys_dir:
    description: Holds each site account's authorized keys file (named after the account).
    type: path
    required: true
  keys_text:
    description: The authorized keys file each touched site must have, by site.
    type: dict
    required: true
  check_tls:
    description: Whether certificates come from the local CA (only then is TLS probed).
    type: bool
    required: true
  tls_dir:
    description: Holds <site>.crt and private/<site>.key.
    type: path
    required: true
  ca_cert:
    description: The local CA certificate the site certificates must be signed by.
    type: path
    required: true
  renew_days:
    description: A certificate expiring within this many days is reported for re-issue.
    type: int
    required: true
  stamp_file:
    description: The role's node setup stamp, returned as C(stamp) ('' when missing).
    type: path
"""

RETURN = r"""
drift:
  description: Site names per aspect (account, dirs, sftp_keys, index, tls, renew, leftover).
  type: dict
  returned: always
stamp:
  description: The content of stamp_file ('' when it is missing or not given).
  type: str
  returned: always
ca_present:
  description: Whether ca_cert exists (a stamped setup without it is not trusted by the role).
  type: bool
  returned: always
"""

ASPECTS = ("account", "dirs", "sftp_keys", "index", "tls", "renew", "leftover")
NOLOGIN = "/usr/sbin/nologin"


def _owner_mode_differs(path: str, owner: str, group: str, mode: int, *, is_dir: bool) -> bool:
    """True when path is missing, of the wrong kind, or owner/group/mode differ (as file sees)."""
    try:
        st = os.stat(path)
    except OSError:
        return True
    if is_dir != stat.S_ISDIR(st.st_mode) or (not is_dir and not stat.S_ISREG(st.st_mode)):
        return True
    try:
        want_uid = pwd.getpwnam(owner).pw_uid
        want_gid = grp.getgrnam(group).gr_gid
    except KeyError:
        return True
    return (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (want_uid, want_gid, mode)


def memberships() -> dict[str, set[str]]:
    """user -> groups listing it as a member, read once (getgrall per site is O(sites^2))."""
    out: dict[str, set[str]] = {}
    for g in grp.getgrall():
        for member in g.gr_mem:
            out.setdefault(member, set()).add(g.gr_name)
    return out


def account_differs(
    site: dict[str, Any], www_root: str, sftp_group: str, member_of: dict[str, set[str]]
) -> bool:
    """Mirror ansible.builtin.user's comparison for the role's arguments (and the group)."""
    user = site["user"]
    try:
        pw = pwd.getpwnam(user)
        own = grp.getgrnam(user)
    except KeyError:
        return True
    if pw.pw_gid != own.gr_gid:
        return True
    if (pw.pw_dir, pw.pw_shell, pw.pw_gecos) != (
        f"{www_root}/{site['site']}",
        NOLOGIN,
        f"opdhost site {site['fqdn']}",
    ):
        return True
    # groups: [sftp_group], append: false: membership (gr_mem) must be exactly that
    return member_of.get(user, set()) != {sftp_group}


def dirs_differ(site: dict[str, Any], www_root: str) -> bool:
    """Home root:root 0755, public user:www-data 2750, tmp user:user 0700, private and logs
    root:user 0750."""
    home = f"{www_root}/{site['site']}"
    user = site["user"]
    return (
        _owner_mode_differs(home, "root", "root", 0o755, is_dir=True)
        or _owner_mode_differs(f"{home}/public", user, "www-data", 0o2750, is_dir=True)
        or _owner_mode_differs(f"{home}/tmp", user, user, 0o700, is_dir=True)
        or _owner_mode_differs(f"{home}/private", "root", user, 0o750, is_dir=True)
        or _owner_mode_differs(f"{home}/logs", "root", user, 0o750, is_dir=True)
    )


def keys_differ(site: dict[str, Any], keys_dir: str, text: str) -> bool:
    """The account's authorized keys file is not exactly `text`, root:root 0644."""
    path = f"{keys_dir}/{site['user']}"
    if _owner_mode_differs(path, "root", "root", 0o644, is_dir=False):
        return True
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read() != text
    except (OSError, UnicodeDecodeError):
        return True


def index_missing(site: dict[str, Any], www_root: str) -> bool:
    """The placeholder task (force: false) writes only when index.html does not exist."""
    return not os.path.exists(f"{www_root}/{site['site']}/public/index.html")


def _load_ca(ca_cert: str) -> Any:
    """The CA certificate, or None when it is missing or unreadable (then every cert is drift)."""
    try:
        with open(ca_cert, "rb") as fh:
            return x509.load_pem_x509_certificate(fh.read())
    except (OSError, ValueError):
        return None


def _signed_by(cert: Any, ca: Any) -> bool:
    """Verify cert's signature with the CA public key (EC or RSA CA)."""

    key = ca.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(
                cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
            )
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(
                cert.signature,
                cert.tbs_certificate_bytes,
                padding.PKCS1v15(),
                cert.signature_hash_algorithm,
            )
        else:
            return False
    except (InvalidSignature, TypeError, ValueError):
        return False
    return True


def _cert_matches(cert: Any, key: Any, site: dict[str, Any], ca: Any) -> bool:
    """What x509_certificate (ownca, CSR from openssl_csr_pipe) checks before keeping a cert."""

    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if cert.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        return False
    if cert.subject != x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, site["fqdn"])]):
        return False
    if ca is None or cert.issuer != ca.subject or not _signed_by(cert, ca):
        return False
    exts = {e.oid: e for e in cert.extensions}
    want_names = [site["fqdn"], *site.get("aliases", [])]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        return False
    if len(exts) != 4 or san.critical or eku.critical:
        return False
    if list(san.value) != [x509.DNSName(n) for n in want_names]:
        return False
    if list(eku.value) != [ExtendedKeyUsageOID.SERVER_AUTH]:
        return False
    if ski.value.digest != x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest:
        return False
    try:
        ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        want_aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        want_aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key())
    return bool(aki.value == want_aki)


def tls_state(site: dict[str, Any], tls_dir: str, ca: Any, renew_days: int) -> str:
    """'ok', 'tls' (key or certificate would be (re)made) or 'renew' (only near expiry)."""

    key_path = f"{tls_dir}/private/{site['site']}.key"
    cert_path = f"{tls_dir}/{site['site']}.crt"
    if _owner_mode_differs(key_path, "root", "root", 0o600, is_dir=False):
        return "tls"
    if _owner_mode_differs(cert_path, "root", "root", 0o644, is_dir=False):
        return "tls"
    try:
        with open(key_path, "rb") as fh:
            key = serialization.load_pem_private_key(fh.read(), password=None)
        with open(cert_path, "rb") as fh:
            cert = x509.load_pem_x509_certificate(fh.read())
    except (OSError, ValueError, TypeError):
        return "tls"
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        return "tls"
    if not _cert_matches(cert, key, site, ca):
        return "tls"
    # Debian 12 ships cryptography 38 (naive UTC not_valid_after; *_utc came in 42)
    expires = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(
        tzinfo=datetime.UTC
    )
    margin = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=renew_days)
    if expires <= margin:
        return "renew"
    return "ok"


def leftover(site: dict[str, Any], www_root: str, tls_dir: str, keys_dir: str) -> bool:
    """A decommissioned site still has a home, an account, SSH keys, a certificate or a key."""
    paths = (
        f"{www_root}/{site['site']}",
        f"{keys_dir}/{site['user']}",
        f"{tls_dir}/{site['site']}.crt",
        f"{tls_dir}/private/{site['site']}.key",
    )
    if any(os.path.lexists(p) for p in paths):
        return True
    try:
        pwd.getpwnam(site["user"])
    except KeyError:
        return False
    return True


def probe(params: dict[str, Any]) -> dict[str, list[str]]:
    """Sort every touched site into the aspects that need work."""
    drift: dict[str, list[str]] = {a: [] for a in ASPECTS}
    www_root, tls_dir = params["www_root"], params["tls_dir"]
    ca = _load_ca(params["ca_cert"]) if params["check_tls"] else None
    member_of = memberships()
    for site in params["sites"]:
        name = site["site"]
        if site.get("status") == "decommissioned":
            if leftover(site, www_root, tls_dir, params["keys_dir"]):
                drift["leftover"].append(name)
            continue
        if account_differs(site, www_root, params["sftp_group"], member_of):
            drift["account"].append(name)
        if dirs_differ(site, www_root):
            drift["dirs"].append(name)
        if keys_differ(site, params["keys_dir"], params["keys_text"].get(name, "")):
            drift["sftp_keys"].append(name)
        if index_missing(site, www_root):
            drift["index"].append(name)
        if params["check_tls"] and site.get("tls"):
            state = tls_state(site, tls_dir, ca, params["renew_days"])
            if state != "ok":
                drift["tls"].append(name)
            if state == "renew":
                drift["renew"].append(name)
    return drift


def read_stamp(params: dict[str, Any]) -> str:
    """The node setup stamp the role compares with its setup hash (read in the same call)."""
    if not params.get("stamp_file"):
        return ""
    try:
        with open(params["stamp_file"], encoding="utf-8") as fh:
            return fh.read(4096)
    except (OSError, UnicodeDecodeError):
        return ""


def main() -> None:
    """Entry point: read the arguments, probe, report; never changes the node."""
    module = AnsibleModule(
        argument_spec={
            "sites": {"type": "list", "elements": "dict", "required": True},
            "www_root": {"type": "path", "required": True},
            "sftp_group": {"type": "str", "required": True},
            "keys_dir": {"type": "path", "required": True},
            "keys_text": {"type": "dict", "required": True},
            "check_tls": {"type": "bool", "required": True},
            "tls_dir": {"type": "path", "required": True},
            "ca_cert": {"type": "path", "required": True},
            "renew_days": {"type": "int", "required": True},
            "stamp_file": {"type": "path"},
        },
        supports_check_mode=True,
    )
    module.exit_json(
        changed=False,
        drift=probe(module.params),
        stamp=read_stamp(module.params),
        ca_present=os.path.isfile(module.params["ca_cert"]),
    )


if __name__ == "__main__":
    main()
