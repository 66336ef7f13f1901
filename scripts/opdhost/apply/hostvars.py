"""The variables `opdhost apply --all` gives each node, for an inventory plugin (AWX).

An AWX job template runs playbooks/site.yml from a checkout of this repository with its own
inventory: no `opdhost apply` writes the per-node host_vars files first. The repository's inventory
plugin (plugins/inventory/opdhost.py, docs/awx.md) puts each node's variables on the host
instead, and takes them from here so that they cannot drift from what apply passes: the same
loading and validation of the request files, the same `render`, and the same
`pipeline.plan_work` that apply runs, called as `--all` calls it on a platform with no applied
state (every node visited, every `*_only` list empty = every site). A second implementation
would be a second contract to keep in step with docs/contracts.md; this one has none of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opdhost.apply.pipeline import plan_work
from opdhost.apply.records import AppliedState
from opdhost.apply.render import render
from opdhost.errors import FindingsError, Severity
from opdhost.fleet.platform import load_platform, platform_path
from opdhost.fleet.review import run_review


def converge_vars(root: Path, inventory_dir: Path) -> dict[str, dict[str, Any]]:
    """Node -> the variables `opdhost apply --all` would write as that node's host variables.

    `root` holds requests/, `inventory_dir` the platform file (group_vars/all/platform.yml).
    The request files are checked as `opdhost validate --no-base` checks them (every file,
    across files, against the platform); any error raises FindingsError with every finding,
    so a plugin never hands out the variables of a partial fleet (render needs the whole valid
    fleet: node-wide files such as the zone always cover every site). The transition checks
    need the applied state (a base), which only `opdhost apply` keeps: they stay apply's.
    """
    platform = load_platform(platform_path(root, inventory=inventory_dir))
    review = run_review(root, platform, None)
    errors = [f for f in review.findings if f.severity is Severity.ERROR]
    if errors:
        raise FindingsError(errors)
    rendered = render(review.fleet.requests, platform).nodes
    return plan_work(rendered, AppliedState(), everything=True).node_vars
