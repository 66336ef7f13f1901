"""Ansible inventory plugin `opdhost`: the static inventory plus each node's rendered variables.

Why an inventory plugin (not a vars plugin): AWX imports a project's inventory by running
`ansible-inventory --list` on a file of the project ("Sourced from a Project") and stores the
hosts, groups and variables it prints; a job then runs with that stored inventory. An inventory
plugin with a YAML config file is the form AWX documents for this (the `auto` plugin picks it
by its `plugin:` key). A vars plugin would have to run again inside every job, and AWX's
stored inventory would not show the variables a job used.

The variables come from the repository's own Python model (opdhost.apply.hostvars: loading,
validation, render, plan_work), imported from scripts/ next to this file: the same code as
`opdhost apply --all`, not a second implementation. Invalid requests fail the parse with
`path:line: field: message` for every problem, as `opdhost validate` prints them: the inventory
is never built from a partial fleet.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible.plugins.loader import inventory_loader

try:  # ansible-core 2.19+: strings a plugin sets are untrusted (not templated) unless marked
    from ansible.template import trust_as_template
except ImportError:  # older ansible-core: every inventory string is a plain string already

    def trust_as_template(value: str) -> str:
        """Nothing to mark before ansible-core 2.19."""
        return value


DOCUMENTATION = r"""
name: opdhost
short_description: The opdhost static inventory with every node's rendered role variables
description:
  - Reads the static inventory beside the config file (hosts.yml) and adds to each node the
    variables C(opdhost apply --all) would give it, rendered from the request files of the
    repository by its own Python package (scripts/opdhost); C(*_only) lists are empty.
  - Fails on any invalid request file, naming file, line and field (docs/awx.md).
options:
  plugin:
    description: The name of this plugin.
    required: true
    choices: ["opdhost"]
  hosts_file:
    description: The static inventory (groups, hosts, connection), relative to the config file.
    type: str
    default: hosts.yml
  root:
    description: The repository whose requests/ are rendered, relative to the config file.
    type: str
    default: ../..
"""

EXAMPLES = r"""
# inventories/lab/opdhost.yml
plugin: opdhost
"""

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
"""The repository's Python package (plugins/inventory/ -> the repository root -> scripts/)."""
CONFIG_SUFFIXES = ("opdhost.yml", "opdhost.yaml")
JINJA_MARKERS = ("{{", "{%", "{#")


def _as_in_vars_file(value: Any) -> Any:
    """The value with its strings trusted, as the host_vars files of `opdhost apply` are loaded.

    `ansible-inventory --list` prints an untrusted string as `{"__ansible_unsafe": ...}`, and
    AWX would store that dict as the variable's value (community.general issue 8212). The
    rendered strings come from checked requests (DNS labels, IPs, SQL identifiers, key bodies)
    and hold no template; one that somehow did is left untrusted: never templated.
    """
    if isinstance(value, str):
        return value if any(m in value for m in JINJA_MARKERS) else trust_as_template(value)
    if isinstance(value, dict):
        return {k: _as_in_vars_file(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_in_vars_file(v) for v in value]
    return value


def _rendered(root: Path, inventory_dir: Path) -> dict[str, dict[str, Any]]:
    """The node variables from opdhost's model; opdhost errors become a parser error."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    from opdhost.apply.hostvars import converge_vars  # noqa: PLC0415 - after sys.path
    from opdhost.errors import FindingsError, OpdhostError  # noqa: PLC0415

    try:
        return converge_vars(root, inventory_dir)
    except FindingsError as exc:
        found = "".join(f"\n{f}" for f in exc.findings)
        raise AnsibleParserError(
            f"opdhost: {len(exc.findings)} problem(s) in the request files under {root}; "
            f"no variables rendered (fix them, `opdhost validate` lists the same):{found}"
        ) from None  # the findings are the message: no "caused by" repeating their count
    except OpdhostError as exc:
        raise AnsibleParserError(f"opdhost: {exc}") from None


class InventoryModule(BaseInventoryPlugin):  # type: ignore[misc] # ansible has no type hints
    """Static hosts.yml + `opdhost apply --all`'s per-node variables as host variables."""

    NAME = "opdhost"

    def verify_file(self, path: str) -> bool:
        """Only `*opdhost.yml` / `*opdhost.yaml` configs (hosts.yml stays the yaml plugin's)."""
        return bool(super().verify_file(path)) and path.endswith(CONFIG_SUFFIXES)

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        """Load the static inventory, then set each rendered node's variables on its host."""
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        config_dir = Path(path).resolve().parent
        hosts = config_dir / str(self.get_option("hosts_file"))
        root = (config_dir / str(self.get_option("root"))).resolve()
        static = inventory_loader.get("ansible.builtin.yaml")
        if static is None or not hosts.is_file() or not static.verify_file(str(hosts)):
            raise AnsibleParserError(f"{path}: hosts_file: no YAML inventory at {hosts}")
        static.parse(inventory, loader, str(hosts), cache=False)
        rendered = _rendered(root, config_dir)
        unknown = sorted(set(rendered) - set(inventory.hosts))
        if unknown:
            raise AnsibleParserError(
                f"{config_dir}/group_vars/all/platform.yml: nodes {', '.join(unknown)} are in "
                f"the platform file but not in {hosts}: their variables would have no host"
            )
        for node, values in sorted(rendered.items()):
            for key, value in sorted(values.items()):
                inventory.set_variable(node, key, _as_in_vars_file(value))
