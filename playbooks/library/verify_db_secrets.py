#!/usr/bin/python
"""Read many hostings' database passwords on the database node in one call.

Why a module: the post-apply check (playbooks/verify_db.yml) needs each checked site's
password on its web node; one slurp per site cost one remote call each (~1000 at 500 sites
with the logins). This reads them all at once. The calling task must set no_log.
"""

from __future__ import annotations

import os
import re

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]  # no stubs

DOCUMENTATION = r"""
module: verify_db_secrets
short_description: Read the password files of many database users at once
description:
  - Reads C(<directory>/<name>.password) for every name in I(names), as the database role
    wrote them. Read-only; never changed. The calling task must set C(no_log).
options:
  directory:
    description: Root-only directory of the password files.
    type: path
    default: /etc/opdhost/secrets
  names:
    description: File names without C(.password), C(<engine>-<site>).
    type: list
    elements: str
    required: true
"""

RETURN = r"""
passwords:
  description: Name to password, for the names whose file exists.
  type: dict
  returned: always
missing:
  description: Names without a (readable) password file.
  type: list
  returned: always
"""

# Used with fullmatch only: `$` would also accept a final newline.
NAME = re.compile(r"(mariadb|postgresql)-[a-z][a-z0-9-]{0,28}[a-z0-9]")


def main() -> None:
    """Read each named file; a missing one is reported, not an error."""
    module = AnsibleModule(
        argument_spec={
            "directory": {"type": "path", "default": "/etc/opdhost/secrets"},
            "names": {"type": "list", "elements": "str", "required": True},
        },
        supports_check_mode=True,
    )
    bad = [n for n in module.params["names"] if not NAME.fullmatch(n)]
    if bad:
        module.fail_json(msg=f"not <engine>-<site> names: {', '.join(bad)}")
    passwords: dict[str, str] = {}
    missing: list[str] = []
    for name in module.params["names"]:
        path = os.path.join(module.params["directory"], f"{name}.password")
        try:
            with open(path, encoding="utf-8") as handle:
                passwords[name] = handle.read().strip()
        except OSError:
            missing.append(name)
    module.exit_json(changed=False, passwords=passwords, missing=sorted(missing))


if __name__ == "__main__":
    main()
