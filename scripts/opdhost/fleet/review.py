"""One review of the request files: load both states, run every check, compute the plan.

This is the pipeline `validate` and `plan` share (load -> model -> checks -> plan); the CLI
only chooses its options and formats the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from opdhost.errors import Finding, has_errors
from opdhost.fleet.checks import check_fleet
from opdhost.fleet.loading import Fleet, load_ref, load_snapshot, load_working_tree
from opdhost.fleet.plan import Plan, compute_plan
from opdhost.fleet.platform import Platform
from opdhost.fleet.sources import resolve_ref


@dataclass(slots=True)
class Review:
    """The new state (working tree), the base state if any, findings and plan."""

    platform: Platform
    fleet: Fleet
    base_ref: str | None = None
    base_commit: str | None = None
    base: Fleet | None = None
    findings: list[Finding] = field(default_factory=list)
    plan: Plan | None = None

    @property
    def ok(self) -> bool:
        """No blocking finding."""
        return not has_errors(self.findings)


def run_review(
    root: Path,
    platform: Platform,
    base_ref: str | None = None,
    *,
    base_files: dict[str, bytes] | None = None,
    base_label: str = "",
) -> Review:
    """Check the working tree of `root` (and its transitions from a base state when given).

    The base is the git ref `base_ref`, or `base_files` (request files kept elsewhere, such as
    the applied state's copy, named `base_label` in findings). With a base, the plan is
    computed too. Raises GitError when the base ref cannot be read.
    """
    fleet = load_working_tree(root)
    result = Review(platform=platform, fleet=fleet, base_ref=base_ref)
    base_sites = None
    if base_files is not None:
        result.base_commit = base_label
        result.base = load_snapshot(base_files, base_label, reuse=fleet)
        base_sites = result.base.by_site()
    elif base_ref is not None:
        result.base_commit = resolve_ref(root, base_ref)
        result.base = load_ref(root, result.base_commit, reuse=fleet)
        base_sites = result.base.by_site()
    found = list(fleet.findings)
    found += check_fleet(fleet.requests, platform, base_sites, fleet.invalid)
    if result.base is not None and base_sites is not None:
        found += result.base.findings
        result.plan = compute_plan(base_sites, fleet.by_site())
        found += _usage_warnings(root, platform, fleet, result.plan)
    result.findings = sorted(set(found))
    return result


def _usage_warnings(root: Path, platform: Platform, fleet: Fleet, plan: Plan) -> list[Finding]:
    """The newest usage record's 80 %/100 % warnings for the sites this plan changes."""
    from opdhost.usage.latest import records_for, usage_findings  # noqa: PLC0415 - plan only

    changed = {c.site for c in plan.changes}
    mine = [r for r in fleet.requests if r.site in changed]
    return usage_findings(records_for(root, platform.environment), mine) if mine else []
