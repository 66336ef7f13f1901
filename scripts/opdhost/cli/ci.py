"""`opdhost ci plan-comment | drift-report | context`: what the forge pipelines call.

Thin: read the CI variables (opdhost.forge.context), call the fleet and forge wings, print
what they return. Run by hand (no forge variables) each command only prints. The forge
clients are imported by `opdhost.forge.context.client`, so only these commands pay for them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import click

from opdhost.cli.common import load_setup, platform_options, reports_errors, repository
from opdhost.errors import OpdhostError, has_errors
from opdhost.fleet import formats
from opdhost.fleet.ledger import ledger
from opdhost.fleet.plan import SafetyPolicy
from opdhost.fleet.review import run_review
from opdhost.fleet.sources import default_base, resolve_ref
from opdhost.forge import comment, drift
from opdhost.forge.context import CiContext, client, detect


@click.group()
def ci() -> None:
    """Post plans on merge requests, track drift in an issue, name the merged request."""


def _forge_context() -> CiContext | None:
    return detect(os.environ)


@ci.command("plan-comment")
@platform_options
@click.option(
    "--base",
    "base_ref",
    help="Git ref to plan against (default: the merge base with origin/<target branch of the "
    "merge request>, else with main).",
)
@click.option("--artifact-url", help="Link to the full plan, shown when the comment is cut.")
@reports_errors
def plan_comment(
    *,
    root: Path | None,
    env: str,
    inventory: Path | None,
    base_ref: str | None,
    artifact_url: str | None,
) -> None:
    """Validate and plan, then create or update the plan comment on the merge request."""
    ctx = _forge_context()
    url = comment.check_url(artifact_url) if artifact_url else None
    base_dir, platform = load_setup(root, env, inventory)
    if base_ref is not None:
        ref, shown = base_ref, base_ref
    else:
        target = f"origin/{ctx.target}" if ctx is not None and ctx.target else "main"
        ref = default_base(base_dir, target)
        shown = f"merge base with {target}"
    result = run_review(base_dir, platform, ref)
    if result.plan is None or result.base_commit is None:
        raise OpdhostError(f"no plan could be computed against {ref}")
    guard = SafetyPolicy().violations(result.plan)
    markdown = formats.plan_markdown(
        result.plan,
        f"{shown} ({result.base_commit[:12]})",
        findings=result.findings,
        guard=guard,
        forced=False,
        ledger=ledger(result.fleet.requests, platform),
    )
    click.echo(markdown, nl=False)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as out:
            out.write(comment.fit(markdown, comment.STEP_SUMMARY_LIMIT, url) + "\n")
    if ctx is None:
        click.echo("no forge CI variables: plan printed, no comment posted", err=True)
    elif ctx.number is None:
        click.echo(f"{ctx.label}: not a merge request pipeline: no comment posted", err=True)
    else:
        forge = client(ctx)
        posted = comment.upsert(forge, ctx.number, comment.fit(markdown, forge.comment_limit, url))
        click.echo(f"{ctx.label}: plan comment {posted.action} on #{ctx.number}", err=True)
    if has_errors(result.findings):
        click.echo(
            f"{formats.count_text(result.findings)}: the request files need fixing", err=True
        )
        sys.exit(1)


@ci.command("drift-report")
@click.option(
    "--record",
    "record_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Run record of `opdhost apply --check --all --json`.",
)
@click.option(
    "--backups",
    "backups_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output of `opdhost backup check --json`: backups not in order join the issue.",
)
@reports_errors
def drift_report(*, record_path: Path, backups_path: Path | None) -> None:
    """Open, update or close the one drift issue from a check's run record (and backups)."""
    found = drift.read_drift(drift.load_record(record_path))
    if backups_path is not None:
        found = dataclasses.replace(found, backups=drift.load_backups(backups_path))
    ctx = _forge_context()
    if ctx is None:
        if found.needs_issue:
            click.echo(drift.body(found), nl=False)
        click.echo(
            f"{'drift found' if found.drifted else 'no drift'}"
            f"{f', {len(found.backups)} backups not in order' if found.backups else ''}: "
            "no forge CI variables, no issue touched",
            err=True,
        )
        return
    done = drift.report(client(ctx), found)
    where = f" #{done.issue.number} {done.issue.url}" if done.issue is not None else ""
    messages = {
        "opened": f"drift: issue opened{where}",
        "updated": f"drift: issue updated{where}",
        "closed": f"no drift: issue closed{where}",
        "none": "no drift: no open drift issue",
        "left": f"the check did not complete: drift issue left as it was{where}",
    }
    click.echo(f"{ctx.label}: {messages[done.action]}")


def _clean(value: str) -> str:
    return " ".join(value.split())


@ci.command("context")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), help="Repository root.")
@click.option(
    "--format", "fmt", type=click.Choice(["env", "json"]), default="env", show_default=True
)
@reports_errors
def context(*, root: Path | None, fmt: str) -> None:
    """The merge request of the commit being applied: OPDHOST_* variables for the apply job."""
    ctx = _forge_context()
    sha = ctx.sha if ctx is not None and ctx.sha else resolve_ref(repository(root), "HEAD")
    values = {"OPDHOST_MERGE_COMMIT": sha}
    found = None
    if ctx is None:
        click.echo("no forge CI variables: no merge request looked up", err=True)
    else:
        found = client(ctx).merge_request_of(sha)
        if found is None:
            click.echo(
                f"{ctx.label}: no merged merge request for commit {sha[:12]} (a direct push?)",
                err=True,
            )
    if found is not None:
        values = {
            "OPDHOST_MERGE_REQUEST": str(found.number),
            "OPDHOST_MERGE_REQUEST_URL": found.url,
            "OPDHOST_MR_AUTHOR": found.author,
            "OPDHOST_APPROVED_BY": ",".join(found.approved_by),
            **values,
        }
    values = {k: _clean(v) for k, v in values.items()}
    if fmt == "json":
        click.echo(json.dumps(values, indent=2, ensure_ascii=True))
    else:
        click.echo("".join(f"{k}={v}\n" for k, v in values.items()), nl=False)
