#!/usr/bin/python3
"""Read-only: the installed zone file, the node setup stamp, and whether that setup still stands.

The dns_zone role reads the primary's zone file on every run (the serial and the content hash
come from it). A run narrowed to some sites also needs the node setup stamp and the few facts
without which a stamped setup cannot be trusted; this module returns all of it in one remote
call, so a stamped node's setup costs nothing on the node. It never changes anything.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: dns_zone_read
short_description: Read the zone file, the node setup stamp and what a stamped setup needs
description:
  - Read-only; always C(changed=false). Used by the dns_zone role before anything else.
options:
  zone_file:
    description: The primary's zone file, returned as C(zone) ('' when it does not exist).
    type: path
  stamp_file:
    description: >-
      The role's node setup stamp, returned as C(stamp) ('' when missing); when given, the
      module also reports in C(setup_missing) what a stamped setup needs and the node lacks.
    type: path
  key_file:
    description: The TSIG key file named.conf.local includes.
    type: path
    required: true
"""

RETURN = r"""
zone:
  description: The text of zone_file ('' when it does not exist or was not given).
  type: str
  returned: always
zone_found:
  description: Whether zone_file exists.
  type: bool
  returned: always
stamp:
  description: The content of stamp_file ('' when it is missing or not given).
  type: str
  returned: always
setup_missing:
  description: >-
    With stamp_file, what the node lacks for its stamp to stand (the key file, one of named's
    programs, a running named); empty when nothing is missing. Without stamp_file: ['not asked'].
  type: list
  elements: str
  returned: always
"""

# The programs the zone tasks and their handlers call on every run.
PROGRAMS = ("named", "named-checkconf", "named-checkzone", "rndc")
SEARCH_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def read_zone(module: AnsibleModule, path: str | None) -> tuple[str, bool]:
    """The zone file's text and whether it exists; any other read error fails the module."""
    if not path:
        return "", False
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", errors="replace"), True
    except FileNotFoundError:
        return "", False
    except OSError as err:
        module.fail_json(msg=f"cannot read {path}: {err}")
        raise  # not reached: fail_json exits


def read_stamp(path: str | None) -> str:
    """The node setup stamp ('' when missing or unreadable: the setup is then checked)."""
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read(4096)
    except (OSError, UnicodeDecodeError):
        return ""


def setup_missing(module: AnsibleModule, key_file: str) -> list[str]:
    """What a stamped setup needs and the node lacks: the stamp then does not stand."""
    missing: list[str] = []
    if not os.path.isfile(key_file):
        missing.append(f"key file {key_file}")
    missing.extend(p for p in PROGRAMS if shutil.which(p, path=SEARCH_PATH) is None)
    systemctl = shutil.which("systemctl", path=SEARCH_PATH)
    if systemctl is None:
        missing.append("systemctl")
    else:
        rc, _, _ = module.run_command([systemctl, "is-active", "--quiet", "named.service"])
        if rc != 0:
            missing.append("named not running")
    return missing


def main() -> None:
    """Entry point: read, report; never changes the node."""
    module = AnsibleModule(
        argument_spec={
            "zone_file": {"type": "path"},
            "stamp_file": {"type": "path"},
            "key_file": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    params: dict[str, Any] = module.params
    zone, found = read_zone(module, params["zone_file"])
    asked = bool(params["stamp_file"])
    module.exit_json(
        changed=False,
        zone=zone,
        zone_found=found,
        stamp=read_stamp(params["stamp_file"]),
        setup_missing=setup_missing(module, params["key_file"]) if asked else ["not asked"],
    )


if __name__ == "__main__":
    main()
