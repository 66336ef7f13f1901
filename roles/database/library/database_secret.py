#!/usr/bin/python
"""Keep one password file per database user on the database node, and read them back.

Why a module: the password is born on the node (never on the controller or on a command
line), a file that exists is never rewritten (re-runs keep the password), check mode reports
what would be created without writing, and one call covers every site of a run (each module
call through the podman/ssh connection costs seconds).
"""

import os
import re
import secrets
import stat

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]  # no stubs

DOCUMENTATION = r"""
module: database_secret
short_description: Root-only password files, generated once on the node
description:
  - Ensures C(<directory>/<name>.password) exists (mode 0600) for every name in I(present),
    generating a random URL-safe password for a missing one, and removes those in I(absent).
  - Creates I(directory) with mode 0700 when missing.
  - Returns the passwords; the calling task must set C(no_log).
options:
  directory:
    description: Root-only directory holding the files.
    type: path
    required: true
  present:
    description: Names (C(<engine>-<site>)) whose password must exist.
    type: list
    elements: str
    default: []
  absent:
    description: Names whose password file must be removed.
    type: list
    elements: str
    default: []
  nbytes:
    description: Random bytes in a new password.
    type: int
    default: 24
"""

RETURN = r"""
passwords:
  description: Name to password, for the names in I(present) whose file exists (in check mode a
    file that would be created is missing here).
  type: dict
  returned: always
created:
  description: Names whose password was generated (or would be, in check mode).
  type: list
  returned: always
removed:
  description: Names whose password file was removed (or would be, in check mode).
  type: list
  returned: always
"""

# Used with fullmatch only: `$` would also accept a final newline.
NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
DIR_MODE = 0o700
FILE_MODE = 0o600


def ensure_directory(path: str, check: bool) -> bool:
    """Create the directory root-only, or narrow its mode; True when something changes."""
    if not os.path.isdir(path):
        if not check:
            os.makedirs(path, mode=DIR_MODE)
            os.chmod(path, DIR_MODE)
        return True
    if stat.S_IMODE(os.stat(path).st_mode) != DIR_MODE:
        if not check:
            os.chmod(path, DIR_MODE)
        return True
    return False


def write_new_password(path: str, nbytes: int) -> None:
    """Write a fresh password into a file that must not exist yet, 0600 from its creation."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.write(fd, secrets.token_urlsafe(nbytes).encode())
    finally:
        os.close(fd)


def read_password(path: str) -> str:
    """Return the stored password without its trailing newline, if any."""
    with open(path, encoding="ascii") as handle:
        return handle.read().strip()


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "directory": {"type": "path", "required": True},
            "present": {"type": "list", "elements": "str", "default": []},
            "absent": {"type": "list", "elements": "str", "default": []},
            "nbytes": {"type": "int", "default": 24},
        },
        supports_check_mode=True,
    )
    directory: str = module.params["directory"]
    present: list[str] = module.params["present"]
    absent: list[str] = module.params["absent"]
    check = module.check_mode

    bad = [name for name in present + absent if not NAME.fullmatch(name)]
    if bad:
        module.fail_json(msg=f"invalid password file names: {bad}")
    if set(present) & set(absent):
        module.fail_json(msg="a name cannot be both present and absent")

    changed = ensure_directory(directory, check)
    passwords: dict[str, str] = {}
    created: list[str] = []
    removed: list[str] = []
    for name in present:
        path = os.path.join(directory, f"{name}.password")
        if not os.path.exists(path):
            created.append(name)
            if check:
                continue
            write_new_password(path, module.params["nbytes"])
        passwords[name] = read_password(path)
    for name in absent:
        path = os.path.join(directory, f"{name}.password")
        if os.path.exists(path):
            removed.append(name)
            if not check:
                os.unlink(path)
    module.exit_json(
        changed=changed or bool(created or removed),
        passwords=passwords,
        created=created,
        removed=removed,
    )


if __name__ == "__main__":
    main()
