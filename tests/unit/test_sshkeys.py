"""The agencies' SFTP keys (`web.sftp_keys`): real keys pass, everything else is refused with
the file, the line, the field and what is allowed; the role gets only the normalised key.

Keys are made with OpenSSH's ssh-keygen, as an agency would make them.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from opdhost.apply.render import render
from opdhost.fleet import sshkeys
from opdhost.fleet.model import parse_request
from opdhost.fleet.platform import Platform

from .conftest import PATH, make_repo, make_request, opdhost, validate


def keygen(tmp_path: Path, kind: str, bits: int | None = None, comment: str = "agency@x") -> str:
    """A new public key line as ssh-keygen writes it (without the newline)."""
    path = tmp_path / f"{kind}-{bits}"
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)]
    if bits:
        args += ["-b", str(bits)]
    subprocess.run(args, check=True)
    return (tmp_path / f"{kind}-{bits}.pub").read_text().strip()


def ssh_keygen_fingerprint(tmp_path: Path, line: str) -> str:
    pub = tmp_path / "check.pub"
    pub.write_text(line + "\n")
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True
    )
    return out.stdout.split()[1]


def with_keys(*keys: str) -> str:
    """The valid request with web.sftp_keys (line 23; its items from line 24)."""
    items = "".join(f"    - {k!r}\n".replace("'", '"') for k in keys)
    return make_request(**{"  tls: true\n": f"  tls: true\n  sftp_keys:\n{items}"})


@pytest.mark.parametrize(
    ("kind", "bits"),
    [("ed25519", None), ("ecdsa", 256), ("ecdsa", 384), ("ecdsa", 521), ("rsa", 3072)],
)
def test_real_keys_pass_with_the_fingerprint_ssh_keygen_prints(
    tmp_path: Path, kind: str, bits: int | None
) -> None:
    line = keygen(tmp_path, kind, bits)
    key = sshkeys.parse(line)
    assert key.line == " ".join(line.split()[:2])  # the comment stays in the request
    assert key.fingerprint == ssh_keygen_fingerprint(tmp_path, line)


def _refused(text: str) -> str:
    with pytest.raises(sshkeys.BadKeyError) as caught:
        sshkeys.parse(text)
    return str(caught.value)


def test_short_rsa_dsa_options_and_forgeries_are_refused(tmp_path: Path) -> None:
    ed = keygen(tmp_path, "ed25519")
    assert "2048 bits" in _refused(keygen(tmp_path, "rsa", 2048))
    assert "DSA" in _refused("ssh-dss AAAAB3NzaC1kc3MAAACBAP8=")
    # Options would lift the platform's `restrict` or run a command: never accepted.
    assert "options" in _refused('command="/bin/sh" ' + ed)
    assert "options" in _refused('no-pty,permitopen="x:1" ' + ed)
    # The type on the line must be the type inside the key.
    assert "'ssh-ed25519' key" in _refused(ed.replace("ssh-ed25519", "ecdsa-sha2-nistp256", 1))
    # A body that is not a key (random bytes, cut short, not base64).
    body = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x05short").decode()
    assert "not a valid key" in _refused(f"ssh-ed25519 {body}")
    assert "not valid base64" in _refused("ssh-ed25519 AAAAA")
    assert "form" in _refused(ed + "\n")
    assert "form" in _refused(ed.replace(" ", "  ", 1))
    assert "must be a string" in _refused(42)  # type: ignore[arg-type]


def test_a_bad_key_names_the_file_line_field_and_what_is_allowed(tmp_path: Path) -> None:
    ed = keygen(tmp_path, "ed25519")
    root = make_repo(tmp_path / "repo", {PATH: with_keys(ed, keygen(tmp_path, "rsa", 2048))})
    done = validate(root)
    assert done.exit_code == 1
    assert f"{PATH}:25: web.sftp_keys[1]" in done.output
    assert "at least 3072" in done.output and "ssh-keygen -t ed25519" in done.output
    assert "AAAA" not in done.output  # the key itself is not echoed


def test_the_same_key_twice_in_one_request_is_refused(tmp_path: Path) -> None:
    ed = keygen(tmp_path, "ed25519")
    req, found = parse_request(with_keys(ed, ed.replace("agency@x", "other")).encode(), PATH)
    assert req is None
    assert [(f.line, f.field) for f in found] == [(25, "web.sftp_keys[1]")]
    assert "the same key as web.sftp_keys[0]" in found[0].message


def test_one_key_opens_one_agencys_sites_only(tmp_path: Path) -> None:
    ed = keygen(tmp_path, "ed25519")
    keyed = f'  tls: true\n  sftp_keys:\n    - "{ed}"\n'
    portal = make_request("portal", "disdik", "10.203.0.121", **{"  tls: true\n": keyed})
    files = {PATH: with_keys(ed), "requests/disdik/portal.yaml": portal}
    root = make_repo(tmp_path / "repo", files)
    assert validate(root).exit_code == 0  # one agency may use its key on all its sites
    (root / "requests/zarsip").mkdir()
    zarsip = make_request("zarsip", "zarsip", "10.203.0.120", **{"  tls: true\n": keyed})
    (root / "requests/zarsip/zarsip.yaml").write_text(zarsip)
    done = validate(root)
    assert done.exit_code == 1
    assert "requests/zarsip/zarsip.yaml:24: web.sftp_keys[0]" in done.output
    assert "already given to agency 'disdik' in requests/disdik/disdik.yaml:24" in done.output


def test_the_role_gets_the_normalised_key_and_its_fingerprint(
    tmp_path: Path, lab_platform: Platform
) -> None:
    ed = keygen(tmp_path, "ed25519", comment="budi@laptop dinas")
    req, found = parse_request(with_keys(ed).encode(), PATH)
    assert req is not None and not found
    site = render([req], lab_platform).nodes["web1"]["apache_vhost_sites"][0]  # type: ignore[index]
    assert site["sftp_keys"] == [
        {"key": " ".join(ed.split()[:2]), "fingerprint": ssh_keygen_fingerprint(tmp_path, ed)}
    ]
    assert "budi@laptop" not in str(site)


def test_opdhost_new_takes_the_agencys_pub_file(tmp_path: Path) -> None:
    ed = keygen(tmp_path, "ed25519")
    root = make_repo(tmp_path / "repo", {PATH: make_request()})
    args = [
        "new", "--root", str(root), "--opd", "disdik", "--letter-number", "1/2/3",
        "--letter-date", "2026-11-30", "--agenda", "AG-1", "--site", "rapor", "--db", "none",
        "--storage-mb", "256", "--bandwidth-mbit", "5", "--offline", "--dry-run",
    ]  # fmt: skip
    good = opdhost(*args, "--sftp-key", str(tmp_path / "ed25519-None.pub"))
    assert good.exit_code == 0, good.output
    assert f'  sftp_keys:\n    - "{ed}"\n' in good.output
    (tmp_path / "two.pub").write_text(ed + "\n" + ed + "\n")
    bad = opdhost(*args, "--sftp-key", str(tmp_path / "two.pub"))
    assert bad.exit_code == 1
    assert "two.pub: a .pub file holds one key line" in bad.output
