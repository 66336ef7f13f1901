"""The agencies' SSH public keys (`web.sftp_keys`): checked as real keys before they reach sshd.

A key line in a request ends up in the site account's authorized keys on the web node, so it
is checked here as strictly as sshd would read it, and more: exactly `TYPE BASE64 [COMMENT]`
(no options: the platform adds its own `restrict`), a type the office accepts, a body that
decodes to a key of that same type (cryptography parses it: a curve point must be on its
curve), and a length the office accepts. What reaches the role is the normalised `TYPE BASE64`
and the key's SHA256 fingerprint (for the letter and the review); the comment stays in the
request file for the reviewers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

# The types an agency may use. DSA is refused (OpenSSH itself disabled it); RSA only from
# RSA_MIN_BITS, the length NIST SP 800-57 gives for use beyond 2030.
TYPES = (
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
)
RSA_MIN_BITS = 3072
# The comment is free text for people; only a harmless alphabet reaches any file.
_LINE = re.compile(
    r"(?P<type>\S+) (?P<body>[A-Za-z0-9+/]+={0,2})(?: (?P<comment>[\x21-\x7e ]{1,100}))?"
)
ALLOWED = (
    "one line 'TYPE BASE64 [COMMENT]' as in a .pub file (no options), TYPE one of "
    + ", ".join(TYPES)
    + f"; RSA at least {RSA_MIN_BITS} bits (new keys: ssh-keygen -t ed25519)"
)


@dataclass(frozen=True, slots=True)
class PublicKey:
    """One checked key: what sshd gets (`line`) and what people compare (`fingerprint`)."""

    type: str
    body: str
    fingerprint: str

    @property
    def line(self) -> str:
        """`TYPE BASE64`, the form the role writes after its own options."""
        return f"{self.type} {self.body}"


class BadKeyError(ValueError):
    """A key line that is not acceptable; the message says why (without echoing the key)."""


def _blob_type(blob: bytes) -> str:
    """The type string that opens the wire-format body (RFC 4253 `string`)."""
    if len(blob) < 4:
        raise BadKeyError("the key body is too short to be a key")
    size = int.from_bytes(blob[:4], "big")
    if size > 64 or len(blob) < 4 + size:
        raise BadKeyError("the key body does not start with a key type")
    return blob[4 : 4 + size].decode("ascii", "replace")


def _check_body(key_type: str, blob: bytes, line: str) -> None:
    """Parse the key with cryptography (curve points, RSA sizes) for the types it reads."""
    # Only requests with keys pay for cryptography (`opdhost validate` start-up).
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415
    from cryptography.hazmat.primitives.serialization import (  # noqa: PLC0415
        load_ssh_public_key,
    )

    try:
        key = load_ssh_public_key(line.encode("ascii"))
    except (ValueError, TypeError) as exc:
        raise BadKeyError(f"the {key_type} key body is not a valid key ({exc})") from None
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm for unknown kinds
        raise BadKeyError(f"the {key_type} key cannot be read ({type(exc).__name__})") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < RSA_MIN_BITS:
        raise BadKeyError(
            f"the RSA key has {key.key_size} bits; at least {RSA_MIN_BITS} are required"
            " (or use ssh-keygen -t ed25519)"
        )


def fingerprint(line: str) -> str:
    """SHA256 fingerprint (as `ssh-keygen -l` prints it) of a `TYPE BASE64 [COMMENT]` line."""
    try:
        blob = base64.b64decode(line.split(" ")[1], validate=True)
    except (IndexError, binascii.Error, ValueError):
        return "SHA256:(not a key)"
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def parse(text: object) -> PublicKey:
    """Check one `web.sftp_keys` entry; BadKeyError says what is wrong and what is allowed."""
    if not isinstance(text, str):
        raise BadKeyError("must be a string")
    match = _LINE.fullmatch(text)
    if match is None:
        if text.split(" ", 1)[0] not in TYPES and " " in text:
            raise BadKeyError(
                "starts with options or an unknown type; give the key exactly as in its .pub"
                " file (TYPE BASE64 [COMMENT]), the platform adds its own options"
            )
        raise BadKeyError("is not one key line of the form TYPE BASE64 [COMMENT]")
    key_type = match["type"]
    if key_type not in TYPES:
        if key_type == "ssh-dss":
            raise BadKeyError("DSA keys are refused (OpenSSH no longer accepts them)")
        raise BadKeyError(f"the key type {key_type!r} is not one of {', '.join(TYPES)}")
    try:
        blob = base64.b64decode(match["body"], validate=True)
    except (binascii.Error, ValueError):
        raise BadKeyError("the key body is not valid base64") from None
    inner = _blob_type(blob)
    if inner != key_type:
        raise BadKeyError(f"the line says {key_type} but the key body is a {inner!r} key")
    _check_body(key_type, blob, f"{key_type} {match['body']}")
    return PublicKey(key_type, match["body"], fingerprint(text))
