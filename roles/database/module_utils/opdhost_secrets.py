"""The database secrets contract, in one place.

One password per hosting's database user, generated on the database node, in a root-only
directory (the role variable ``database_secrets_dir``): ``<directory>/<engine>-<site>.password``,
mode 0600, the password without a trailing newline. The role's modules (``database_secret``
writes and reads, ``database_drift`` compares) import this; the post-apply check
(playbooks/verify_db.yml) reads through the role's ``secrets_read`` entry point, so every
reader and writer agrees on the name, the directory and the rules.

Ansible finds this file because it lies in the role's ``module_utils/``: a module of the role
imports it as ``ansible.module_utils.opdhost_secrets`` wherever the role is loaded.
"""

from __future__ import annotations

import os
import re
import secrets
import stat

ENGINES = ("mariadb", "postgresql")
DIR_MODE = 0o700
FILE_MODE = 0o600
SUFFIX = ".password"

# The site's DNS label as docs/contracts.md defines it. Used with fullmatch only: `$` would
# also accept a final newline.
SITE = re.compile(r"(?!..--)[a-z][a-z0-9-]{0,28}[a-z0-9]")


def invalid(engine: str, site: str) -> str | None:
    """What is wrong with an (engine, site) pair as a password file's name, or None."""
    if engine not in ENGINES:
        return f"engine {engine!r} is not one of {', '.join(ENGINES)}"
    if not SITE.fullmatch(site):
        return (
            f"site {site!r} is not a DNS label of 2-30 lowercase letters, digits and inner -"
            " (no -- at positions 3-4)"
        )
    return None


def secret_name(engine: str, site: str) -> str:
    """``<engine>-<site>``: the file's name without its suffix (callers check ``invalid`` first)."""
    return f"{engine}-{site}"


def secret_path(directory: str, engine: str, site: str) -> str:
    """Where the password of the site's database user is kept."""
    return os.path.join(directory, secret_name(engine, site) + SUFFIX)


def read_secret(directory: str, engine: str, site: str) -> str | None:
    """The stored password without a trailing newline, or None when there is no readable file."""
    try:
        with open(secret_path(directory, engine, site), encoding="ascii") as handle:
            return handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def write_new_secret(directory: str, engine: str, site: str, nbytes: int) -> None:
    """Write a fresh random URL-safe password into a new file, 0600 from its creation."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    fd = os.open(secret_path(directory, engine, site), flags, FILE_MODE)
    try:
        os.write(fd, secrets.token_urlsafe(nbytes).encode())
    finally:
        os.close(fd)


def ensure_directory(directory: str, check: bool) -> bool:
    """Create the directory root-only, or narrow its mode; True when something changes."""
    if not os.path.isdir(directory):
        if not check:
            os.makedirs(directory, mode=DIR_MODE)
            os.chmod(directory, DIR_MODE)
        return True
    if stat.S_IMODE(os.stat(directory).st_mode) != DIR_MODE:
        if not check:
            os.chmod(directory, DIR_MODE)
        return True
    return False
