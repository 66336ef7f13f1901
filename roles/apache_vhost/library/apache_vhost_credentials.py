#!/usr/bin/python3
"""Write each touched site's database credentials file into its home, in one call per node.

The password is made and kept on the database node (the database role); the agency needs it
on the web node, where its code runs and where it fetches files over SFTP. This module puts
`<www_root>/<site>/private/db.env` there (engine, host, port, name, user, password; one
`KEY=value` per line, readable by PHP's parse_ini_file and by dotenv loaders), root-owned,
group the site's own, mode 0440: only the site's account (and root) can read it. The
directory is root-owned (the role makes it), so the account cannot plant a link that root
would write through. Files are replaced atomically and only when they differ, so the module
also keeps them in step after a password changes; a site without a database loses its file.
The passwords arrive as a no_log parameter and never appear in its result.
"""

from __future__ import annotations

import grp
import os
import stat
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: apache_vhost_credentials
short_description: Keep each site's private/db.env in step with its database password
options:
  www_root:
    description: Parent of the site homes.
    type: path
    required: true
  sites:
    description: Touched, not decommissioned entries of apache_vhost_sites.
    type: list
    elements: dict
    required: true
  passwords:
    description: Password of each site's database user, by site (never logged).
    type: dict
    required: true
"""

RETURN = r"""
written:
  description: Sites whose file was (or in check mode would be) written or removed.
  type: list
  returned: always
missing:
  description: Sites with a database whose password was not found on the database node.
  type: list
  returned: always
unsafe:
  description: Sites whose private/ directory is not a root-owned directory (nothing written).
  type: list
  returned: always
"""

FILE_MODE = 0o440
NAME = "db.env"


def content(database: dict[str, Any], password: str) -> str:
    """The file: one KEY=value per line, values of safe characters only (no quoting)."""
    return (
        f"DB_ENGINE={database['engine']}\n"
        f"DB_HOST={database['host']}\n"
        f"DB_PORT={database['port']}\n"
        f"DB_NAME={database['name']}\n"
        f"DB_USER={database['user']}\n"
        f"DB_PASSWORD={password}\n"
    )


def _safe_dir(path: str) -> bool:
    """A real directory owned by root, writable by nobody else."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (
        stat.S_ISDIR(st.st_mode)
        and st.st_uid == 0
        and not stat.S_IMODE(st.st_mode) & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _differs(path: str, text: str, gid: int) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return True
    try:
        st = os.fstat(fd)
        if (
            not stat.S_ISREG(st.st_mode)
            or (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (0, gid, FILE_MODE)
        ):
            return True
        with os.fdopen(os.dup(fd), encoding="utf-8", errors="replace") as fh:
            return fh.read() != text
    finally:
        os.close(fd)


def _write(directory: str, text: str, gid: int) -> None:
    """Temporary file in the same (root-owned) directory, then rename over the old one."""
    fd, tmp = tempfile.mkstemp(prefix=".db.env.", dir=directory)
    try:
        os.fchown(fd, 0, gid)
        os.fchmod(fd, FILE_MODE)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.rename(tmp, os.path.join(directory, NAME))
    except BaseException:
        if fd >= 0:
            os.close(fd)
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def run(params: dict[str, Any], check: bool) -> dict[str, list[str]]:
    """Bring every site's file in step; report written, missing and unsafe sites."""
    out: dict[str, list[str]] = {"written": [], "missing": [], "unsafe": []}
    for site in params["sites"]:
        name = site["site"]
        directory = os.path.join(params["www_root"], name, "private")
        path = os.path.join(directory, NAME)
        database = site.get("database")
        if not database:
            if os.path.lexists(path) and _safe_dir(directory):
                out["written"].append(name)
                if not check:
                    os.unlink(path)
            continue
        password = params["passwords"].get(name)
        if not password:
            out["missing"].append(name)
            continue
        if not _safe_dir(directory):
            out["unsafe"].append(name)
            continue
        try:
            gid = grp.getgrnam(site["user"]).gr_gid
        except KeyError:
            out["missing"].append(name)
            continue
        text = content(database, password)
        if _differs(path, text, gid):
            out["written"].append(name)
            if not check:
                _write(directory, text, gid)
    return out


def main() -> None:
    """Entry point; `changed` when any file was (or would be) written or removed."""
    module = AnsibleModule(
        argument_spec={
            "www_root": {"type": "path", "required": True},
            "sites": {"type": "list", "elements": "dict", "required": True},
            "passwords": {"type": "dict", "required": True, "no_log": True},
        },
        supports_check_mode=True,
    )
    result = run(module.params, module.check_mode)
    module.exit_json(changed=bool(result["written"]), **result)


if __name__ == "__main__":
    main()
