#!/usr/bin/python
"""Keep one password file per database user on the node, and read them back.

Why a module: the password is born on the node (never on the controller or on a command
line), a file that exists is never rewritten (re-runs keep the password), check mode reports
what would be created without writing, and one call covers every site of a run (each module
call through the podman/ssh connection costs seconds). The file name, directory rules and
password format are the contract in module_utils/opdhost_secrets.py.

The same call reads the role's node setup stamp (tasks/main.yml), so a run narrowed to some
sites learns whether it may skip the node setup without a remote call of its own.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]  # no stubs
from ansible.module_utils.opdhost_secrets import (  # type: ignore[import-not-found]  # role module_utils
    ENGINES,
    ensure_directory,
    invalid,
    read_secret,
    secret_name,
    secret_path,
    write_new_secret,
)

DOCUMENTATION = r"""
module: database_secret
short_description: Root-only password files, generated once on the node
description:
  - Ensures the password file of every entry in I(present) exists (generating a random URL-safe
    password for a missing one), removes those of I(absent), and reads those of I(read)
    without ever writing them. File name and rules - module_utils/opdhost_secrets.py
    (C(<directory>/<engine>-<site>.password), mode 0600, directory 0700).
  - Returns the passwords; the calling task must set C(no_log).
options:
  directory:
    description: Root-only directory holding the files (the role's C(database_secrets_dir)).
    type: path
    required: true
  present:
    description: Entries C({engine, site, ...}) whose password must exist; other keys are ignored.
    type: list
    elements: dict
    default: []
  absent:
    description: Entries C({engine, site, ...}) whose password file must be removed.
    type: list
    elements: dict
    default: []
  read:
    description:
      - Entries C({engine, site, ...}) whose password is only read; a missing file is reported
        in I(missing), never created. Cannot be combined with I(present) or I(absent).
    type: list
    elements: dict
    default: []
  nbytes:
    description: Random bytes in a new password.
    type: int
    default: 24
  setup_stamp_file:
    description:
      - The role's node setup stamp (one line, the sha256 of the setup, root 0600). Read, never
        written here; a stamp of another setup is removed (not in check mode), so a run that
        checks the setup and dies before its end leaves none. Not with I(read).
    type: path
  setup_stamp:
    description: The sha256 this run's setup would stamp; compared with I(setup_stamp_file).
    type: str
    default: ""
  setup_sockets:
    description:
      - Unix sockets that must exist for the stamp to stand (the engines' servers are up).
    type: list
    elements: path
    default: []
  mtimes_of:
    description:
      - Files whose modification time (seconds since the epoch, as a float) is returned in
        I(mtimes), for the role to compare with the time the server last loaded them.
    type: list
    elements: path
    default: []
"""

RETURN = r"""
passwords:
  description: Engine to site to password, for the entries of I(present) or I(read) whose file
    exists (in check mode a file that would be created is missing here). Every engine is a key.
  type: dict
  returned: always
created:
  description: C(<engine>-<site>) names whose password was generated (or would be, in check mode).
  type: list
  returned: always
removed:
  description: C(<engine>-<site>) names whose password file was removed (or would be, in check
    mode).
  type: list
  returned: always
missing:
  description: C(<engine>-<site>) names of I(read) without a readable password file.
  type: list
  returned: always
setup_stamped:
  description:
    - True when I(setup_stamp_file) holds I(setup_stamp) and every socket of I(setup_sockets)
      exists; false without I(setup_stamp_file).
  type: bool
  returned: always
mtimes:
  description: Path to modification time of each file of I(mtimes_of), null when it is missing.
  type: dict
  returned: always
"""


def pairs(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The (engine, site) of each entry."""
    return [(str(e.get("engine")), str(e.get("site"))) for e in entries]


def is_socket(path: str) -> bool:
    """Whether a Unix socket exists at the path (a stopped server removes its socket)."""
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def mtimes(paths: list[str]) -> dict[str, float | None]:
    """Each file's modification time, None for a file that is missing."""
    out: dict[str, float | None] = {}
    for path in paths:
        try:
            out[path] = os.stat(path).st_mtime
        except OSError:
            out[path] = None
    return out


def setup_stamped(path: str | None, expected: str, sockets: list[str], check: bool) -> bool:
    """Whether the stamp is this setup's and the servers are up; a foreign stamp is removed."""
    if not path or not expected:
        return False
    try:
        with open(path, encoding="ascii") as handle:
            found = handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return False
    if found != expected:
        if not check:
            os.unlink(path)
        return False
    return all(is_socket(s) for s in sockets)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "directory": {"type": "path", "required": True},
            "present": {"type": "list", "elements": "dict", "default": []},
            "absent": {"type": "list", "elements": "dict", "default": []},
            "read": {"type": "list", "elements": "dict", "default": []},
            "nbytes": {"type": "int", "default": 24},
            "setup_stamp_file": {"type": "path"},
            "setup_stamp": {"type": "str", "default": ""},
            "setup_sockets": {"type": "list", "elements": "path", "default": []},
            "mtimes_of": {"type": "list", "elements": "path", "default": []},
        },
        mutually_exclusive=[
            ("read", "present"),
            ("read", "absent"),
            ("read", "setup_stamp_file"),
        ],
        supports_check_mode=True,
    )
    directory: str = module.params["directory"]
    present = pairs(module.params["present"])
    absent = pairs(module.params["absent"])
    read = pairs(module.params["read"])
    check = module.check_mode

    problems = [p for p in (invalid(e, s) for e, s in present + absent + read) if p]
    if problems:
        module.fail_json(msg="invalid password file entries: " + "; ".join(problems))
    if set(present) & set(absent):
        module.fail_json(msg="an entry cannot be both present and absent")

    passwords: dict[str, dict[str, str]] = {engine: {} for engine in ENGINES}
    if read:
        missing: list[str] = []
        for engine, site in read:
            password = read_secret(directory, engine, site)
            if password is None:
                missing.append(secret_name(engine, site))
            else:
                passwords[engine][site] = password
        module.exit_json(
            changed=False,
            passwords=passwords,
            created=[],
            removed=[],
            missing=sorted(missing),
            setup_stamped=False,
            mtimes=mtimes(module.params["mtimes_of"]),
        )

    changed = ensure_directory(directory, check)
    stamped = setup_stamped(
        module.params["setup_stamp_file"],
        module.params["setup_stamp"],
        module.params["setup_sockets"],
        check,
    )
    created: list[str] = []
    removed: list[str] = []
    for engine, site in present:
        password = read_secret(directory, engine, site)
        if password is None:
            created.append(secret_name(engine, site))
            if check:
                continue
            write_new_secret(directory, engine, site, module.params["nbytes"])
            password = read_secret(directory, engine, site)
        if password is not None:
            passwords[engine][site] = password
    for engine, site in absent:
        path = secret_path(directory, engine, site)
        if os.path.lexists(path):
            removed.append(secret_name(engine, site))
            if not check:
                os.unlink(path)
    module.exit_json(
        changed=changed or bool(created or removed),
        passwords=passwords,
        created=created,
        removed=removed,
        missing=[],
        setup_stamped=stamped,
        mtimes=mtimes(module.params["mtimes_of"]),
    )


if __name__ == "__main__":
    main()
