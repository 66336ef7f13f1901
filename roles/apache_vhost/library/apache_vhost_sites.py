#!/usr/bin/python3
"""Make the touched sites' own resources in one call: accounts, directories, keys, certificates.

One new hosting used to cost about twelve remote module calls on its web node for its own
resources (group, account, five directories, the SSH keys file, the placeholder page, the TLS
key, CSR and certificate), and a bulk create paid each of them once per site as loop items
(issue 16, docs/benchmarks.md). This module does the same work for every site the drift probe
(apache_vhost_drift) flagged, in one run, aspect by aspect, and makes exactly what the probe
checks for, so the next probe finds nothing:

* account: the site's own group, then a system account in that group, member of the SFTP group
  only, home = its chroot, shell nologin, comment "opdhost site <fqdn>" (useradd/usermod);
* dirs: home root:root 0755 (sshd's chroot), public user:www-data 2750, tmp user:user 0700,
  private and logs root:user 0750; a link in place of any of them is refused, never followed;
* sftp_keys: the account's authorized keys file, root:root 0644, written atomically;
* index: a placeholder public/index.html only where none exists (O_EXCL|O_NOFOLLOW: a link
  the agency planted there is left alone and never written through);
* tls: an ECDSA P-256 key (kept when it is one already), and a certificate for the fqdn and
  aliases signed by the node's CA with exactly the extensions the probe expects (SAN, EKU
  serverAuth, SKI, AKI); forced for the sites in `renew`.

A site that fails is reported in `errors` (the role then fails it by name) and the others are
still made. In check mode nothing is touched and every flagged site counts as a change.
"""

from __future__ import annotations

import contextlib
import datetime
import grp
import os
import pwd
import re
import stat
import subprocess
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DOCUMENTATION = r"""
module: apache_vhost_sites
short_description: Make the flagged touched sites' accounts, directories, keys and certificates
description:
  - Acts only on the sites named in C(fix), per aspect, as apache_vhost_drift reported them.
options:
  sites:
    description: Touched, not decommissioned entries of apache_vhost_sites.
    type: list
    elements: dict
    required: true
  fix:
    description: Site names per aspect (account, dirs, sftp_keys, index, tls, renew).
    type: dict
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
    description: The authorized keys file of each site, by site.
    type: dict
    required: true
  index_html:
    description: The placeholder page of each site flagged for index, by site.
    type: dict
    required: true
  tls_dir:
    description: Holds <site>.crt and private/<site>.key.
    type: path
    required: true
  ca_dir:
    description: Holds the local CA's ca.crt and ca.key.
    type: path
    required: true
  not_after:
    description: Certificate lifetime, relative (+825d, +12w, +36h) or ASN.1 time (YYYYMMDDHHMMSSZ).
    type: str
    required: true
"""

RETURN = r"""
done:
  description: Site names per aspect that were (or in check mode would be) made or repaired.
  type: dict
  returned: always
errors:
  description: Site name -> why it could not be made (the other sites were still made).
  type: dict
  returned: always
"""

NOLOGIN = "/usr/sbin/nologin"
SITE_RE = re.compile(r"^[a-z][a-z0-9-]{0,28}[a-z0-9]\Z")
RELATIVE_RE = re.compile(r"^\+(\d+)([wdhms])\Z")


class SiteError(Exception):
    """One site's resource could not be made; the message says which and why."""


def _run(*args: str) -> None:
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SiteError(f"{' '.join(args)}: {(proc.stderr or proc.stdout).strip()}")


def _ids(owner: str, group: str) -> tuple[int, int]:
    try:
        return pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid
    except KeyError as exc:
        raise SiteError(f"no such account or group: {exc}") from None


# The IDs of the site accounts and their groups: system accounts (no aging, no mail spool, no
# home made by useradd), allocated in a range of their own. Debian's system range (100-999)
# holds fewer than 900 groups in all, so a web node ran out of group IDs near its 860th site
# ("groupadd: Can't get unique GID", found by the 500-at-once benchmark on a fleet of 600);
# here 40,000. Accounts made before keep their IDs.
SITE_ID_RANGE = (20000, 59999)
GROUP_RANGE = ["-K", f"SYS_GID_MIN={SITE_ID_RANGE[0]}", "-K", f"SYS_GID_MAX={SITE_ID_RANGE[1]}"]
USER_RANGE = ["-K", f"SYS_UID_MIN={SITE_ID_RANGE[0]}", "-K", f"SYS_UID_MAX={SITE_ID_RANGE[1]}"]


def ensure_account(site: dict[str, Any], www_root: str, sftp_group: str) -> None:
    """The site's own group, then its SFTP-only system account (what ansible's user makes)."""
    user = site["user"]
    try:
        grp.getgrnam(user)
    except KeyError:
        _run("groupadd", "--system", *GROUP_RANGE, user)
    home = f"{www_root}/{site['site']}"
    comment = f"opdhost site {site['fqdn']}"
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        _run(
            "useradd", "--system", *USER_RANGE, "--no-create-home", "--home-dir", home,
            "--gid", user, "--groups", sftp_group, "--shell", NOLOGIN, "--comment", comment, user,
        )  # fmt: skip
        return
    # Only what differs, as ansible's user module does: usermod refuses some changes while the
    # account runs processes (its PHP-FPM pool), and an unchanged setting needs none.
    change: list[str] = []
    if pw.pw_gid != grp.getgrnam(user).gr_gid:
        change += ["--gid", user]
    if {g.gr_name for g in grp.getgrall() if user in g.gr_mem} != {sftp_group}:
        change += ["--groups", sftp_group]  # without --append: exactly this group
    if pw.pw_dir != home:
        change += ["--home", home]
    if pw.pw_shell != NOLOGIN:
        change += ["--shell", NOLOGIN]
    if pw.pw_gecos != comment:
        change += ["--comment", comment]
    if change:
        _run("usermod", *change, user)


def ensure_dir(path: str, owner: str, group: str, mode: int) -> None:
    """A directory (never a link) with this owner, group and mode."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise SiteError(f"{path} exists and is not a directory (a link is never followed)")
    uid, gid = _ids(owner, group)
    if (st.st_uid, st.st_gid) != (uid, gid):
        os.chown(path, uid, gid, follow_symlinks=False)
    if stat.S_IMODE(os.lstat(path).st_mode) != mode:  # chown may clear the setgid bit
        os.chmod(path, mode)


def ensure_dirs(site: dict[str, Any], www_root: str) -> None:
    """Home, public, tmp, private and logs as apache_vhost_drift.dirs_differ expects them."""
    home = f"{www_root}/{site['site']}"
    user = site["user"]
    ensure_dir(home, "root", "root", 0o755)
    ensure_dir(f"{home}/public", user, "www-data", 0o2750)
    ensure_dir(f"{home}/tmp", user, user, 0o700)
    ensure_dir(f"{home}/private", "root", user, 0o750)
    ensure_dir(f"{home}/logs", "root", user, 0o750)


def write_atomic(path: str, data: bytes, mode: int) -> None:
    """Replace path with data, root-owned with `mode`, in one rename (no half-written file)."""
    directory = os.path.dirname(path)
    fd, temp = tempfile.mkstemp(prefix=".opdhost-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchown(fh.fileno(), 0, 0)
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.lexists(temp):
            os.unlink(temp)
        raise


def write_index(site: dict[str, Any], www_root: str, html: str) -> bool:
    """The placeholder page, only if public/index.html does not exist (not even as a link)."""
    path = f"{www_root}/{site['site']}/public/index.html"
    uid, gid = _ids(site["user"], "www-data")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchown(fh.fileno(), uid, gid)
        os.fchmod(fh.fileno(), 0o640)
        fh.write(html)
    return True


def not_after(spec: str, now: datetime.datetime) -> datetime.datetime:
    """The end of validity from the role's setting: +<n><w|d|h|m|s> or YYYYMMDDHHMMSSZ."""
    relative = RELATIVE_RE.match(spec)
    if relative:
        unit = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
        delta = datetime.timedelta(**{unit[relative.group(2)]: int(relative.group(1))})
        return now + delta
    try:
        return datetime.datetime.strptime(spec, "%Y%m%d%H%M%SZ")
    except ValueError:
        raise SiteError(
            f"not_after {spec!r}: use +<number><w|d|h|m|s> or YYYYMMDDHHMMSSZ"
        ) from None


def load_ca(ca_dir: str) -> tuple[Any, Any]:
    """The CA certificate and key (made by tasks/tls_ca.yml)."""
    with open(f"{ca_dir}/ca.crt", "rb") as fh:
        cert = x509.load_pem_x509_certificate(fh.read())
    with open(f"{ca_dir}/ca.key", "rb") as fh:
        key = serialization.load_pem_private_key(fh.read(), password=None)
    return cert, key


def site_key(path: str) -> tuple[Any, bool]:
    """The site's P-256 key: the existing one when it is one, else a new one (key, made)."""
    try:
        with open(path, "rb") as fh:
            key = serialization.load_pem_private_key(fh.read(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
            return key, False
    except (OSError, ValueError, TypeError):
        pass
    return ec.generate_private_key(ec.SECP256R1()), True


def issue(site: dict[str, Any], key: Any, ca: tuple[Any, Any], until: str) -> bytes:
    """A certificate for the site's names, signed by the CA, PEM (the probe's four extensions)."""
    ca_cert, ca_key = ca
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)
    names = [site["fqdn"], *site.get("aliases", [])]
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, site["fqdn"])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(not_after(until, now))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(aki, False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def ensure_tls(site: dict[str, Any], tls_dir: str, ca: tuple[Any, Any], until: str) -> None:
    """Key (kept when valid) and a newly signed certificate, both root-owned."""
    key_path = f"{tls_dir}/private/{site['site']}.key"
    key, made = site_key(key_path)
    if made or stat.S_IMODE(os.lstat(key_path).st_mode) != 0o600:
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        write_atomic(key_path, pem, 0o600)
    elif os.lstat(key_path).st_uid != 0 or os.lstat(key_path).st_gid != 0:
        os.chown(key_path, 0, 0, follow_symlinks=False)
    write_atomic(f"{tls_dir}/{site['site']}.crt", issue(site, key, ca, until), 0o644)


def make(params: dict[str, Any], check: bool) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Every flagged aspect of every touched site; (done per aspect, errors per site)."""
    fix = {aspect: set(params["fix"].get(aspect) or []) for aspect in
           ("account", "dirs", "sftp_keys", "index", "tls", "renew")}  # fmt: skip
    done: dict[str, list[str]] = {aspect: [] for aspect in fix}
    errors: dict[str, str] = {}
    www_root, tls_dir = params["www_root"], params["tls_dir"]
    ca: tuple[Any, Any] | None = None
    for site in params["sites"]:
        name = site["site"]
        if not SITE_RE.match(name) or site["user"] != f"s-{name}":  # as tasks/validate.yml
            errors[name] = "not a site name the role accepts, or an account other than s-<site>"
            continue
        wanted = [a for a in ("account", "dirs", "sftp_keys", "index", "tls") if name in fix[a]]
        if check or not wanted:
            for aspect in wanted:
                done[aspect].append(name)
            continue
        try:
            if "account" in wanted:
                ensure_account(site, www_root, params["sftp_group"])
                done["account"].append(name)
            if "dirs" in wanted:
                ensure_dirs(site, www_root)
                done["dirs"].append(name)
            if "sftp_keys" in wanted:
                text = params["keys_text"].get(name, "")
                write_atomic(f"{params['keys_dir']}/{site['user']}", text.encode(), 0o644)
                done["sftp_keys"].append(name)
            if "index" in wanted and write_index(site, www_root, params["index_html"][name]):
                done["index"].append(name)
            if "tls" in wanted:
                if ca is None:
                    ca = load_ca(params["ca_dir"])
                ensure_tls(site, tls_dir, ca, params["not_after"])
                done["tls"].append(name)
                if name in fix["renew"]:
                    done["renew"].append(name)
        except (SiteError, OSError, KeyError, ValueError) as exc:
            errors[name] = str(exc) or type(exc).__name__
    return done, errors


def main() -> None:
    """Entry point: make what the probe flagged, report per aspect and per failed site."""
    module = AnsibleModule(
        argument_spec={
            "sites": {"type": "list", "elements": "dict", "required": True},
            "fix": {"type": "dict", "required": True},
            "www_root": {"type": "path", "required": True},
            "sftp_group": {"type": "str", "required": True},
            "keys_dir": {"type": "path", "required": True},
            "keys_text": {"type": "dict", "required": True},
            "index_html": {"type": "dict", "required": True},
            "tls_dir": {"type": "path", "required": True},
            "ca_dir": {"type": "path", "required": True},
            "not_after": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    done, errors = make(module.params, module.check_mode)
    changed = any(done[a] for a in ("account", "dirs", "sftp_keys", "index", "tls"))
    module.exit_json(changed=changed, done=done, errors=errors)


if __name__ == "__main__":
    main()
