#!/usr/bin/python3
"""Put the rendered tc configuration in place (checked first) and apply it, in one remote call.

Before this module a one-site change cost the web node four remote calls here (read the setup
stamp, the template module's checksum and copy with its ``--validate``, then the apply): about
1.5 s of a one-site apply (issue 16). On a run narrowed to some sites it also reads the node
setup stamp first: when the stamp is not the expected one it touches nothing and says so, and
the role sets the node up and calls it again.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped,unused-ignore]

DOCUMENTATION = r"""
module: bandwidth_config
short_description: Write an interface's tc configuration (tried first) if it changed, apply it
description:
  - With C(expect_stamp), first compares the node setup stamp file with it; a different or
    missing stamp returns C(setup_needed=true) and changes nothing.
  - A configuration that differs from the file is written to a temporary file beside it, tried
    by C(apply_command --validate) on a throw-away device, and renamed into place only when
    accepted (a refused file leaves the old one, and the live limits, as they were).
  - Then runs C(apply_command), which changes only what differs on the interface. In check
    mode nothing is written and the apply only plans (C(--check)); when the file would change,
    the apply is not planned (the diff shows the change).
options:
  content: {description: The rendered configuration., type: str, required: true}
  dest: {description: The configuration file., type: path, required: true}
  interface: {description: The interface the configuration shapes., type: str, required: true}
  apply_command: {description: The role's helper (validate / apply)., type: path, required: true}
  config_dir: {description: The helper's configuration directory., type: path, required: true}
  state_dir: {description: The helper's state directory., type: path, required: true}
  stamp_file: {description: The node setup stamp., type: path, required: true}
  expect_stamp:
    description: The expected stamp; empty to skip the stamp check (the setup was just checked).
    type: str
    default: ""
  apply:
    description: Run the helper after the file (false in a dry run whose helper would change).
    type: bool
    default: true
"""

RETURN = r"""
setup_needed: {description: The stamp differed (nothing done)., type: bool, returned: always}
config_changed: {description: The file was (would be) replaced., type: bool, returned: always}
apply: {description: The helper's JSON outcome., type: dict, returned: when the helper ran}
"""


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _write_checked(module: Any, dest: Path, content: str) -> None:
    """Write `content` next to `dest`, have the helper try it, then rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=str(dest.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(content)
        os.chmod(tmp, 0o644)
        p = module.params
        rc, out_text, err = module.run_command(
            [p["apply_command"], "--validate", tmp, p["interface"]]
        )
        if rc != 0:
            module.fail_json(
                msg=f"{dest} was refused by the trial on a throw-away device; the file and the "
                f"live limits are unchanged: {(err or out_text).strip()}",
                rc=rc,
            )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "content": {"type": "str", "required": True},
            "dest": {"type": "path", "required": True},
            "interface": {"type": "str", "required": True},
            "apply_command": {"type": "path", "required": True},
            "config_dir": {"type": "path", "required": True},
            "state_dir": {"type": "path", "required": True},
            "stamp_file": {"type": "path", "required": True},
            "expect_stamp": {"type": "str", "default": ""},
            "apply": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    if p["expect_stamp"]:
        stamp = (_read(Path(p["stamp_file"])) or "").strip()
        if stamp != p["expect_stamp"]:
            module.exit_json(changed=False, setup_needed=True, config_changed=False)
    dest = Path(p["dest"])
    before = _read(dest)
    config_changed = before != p["content"]
    result: dict[str, Any] = {"setup_needed": False, "config_changed": config_changed}
    if config_changed:
        result["diff"] = {
            "before": before or "", "after": p["content"],
            "before_header": str(dest), "after_header": str(dest),
        }  # fmt: skip
        if module.check_mode:
            module.exit_json(changed=True, **result)
        _write_checked(module, dest, p["content"])
    if not p["apply"]:
        module.exit_json(changed=config_changed, **result)
    argv = [p["apply_command"], "--config-dir", p["config_dir"], "--state-dir", p["state_dir"]]
    argv += ["--check"] if module.check_mode else []
    rc, out_text, err = module.run_command([*argv, p["interface"]])
    try:
        outcome = json.loads(out_text)
    except ValueError:
        outcome = {"failed": True, "msg": (err or out_text).strip()}
    result["apply"] = outcome
    if rc != 0 or outcome.get("failed"):
        module.fail_json(msg=f"applying {dest}: {outcome.get('msg', err.strip())}", rc=rc, **result)
    module.exit_json(changed=config_changed or bool(outcome.get("changed")), **result)


if __name__ == "__main__":
    main()
