"""`opdhost apply`: the plan from the last applied state, run through ansible-runner.

Thin: parse options, call opdhost.apply.pipeline, render the plan, a live progress line from the
runner's events, and a summary table (or one JSON document with --json, for CI).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from opdhost.apply.pipeline import GuardError, Options, Outcome, Work, apply
from opdhost.apply.runner import Progress
from opdhost.cli.requests import find_root, platform_options, reports_errors
from opdhost.fleet.plan import Plan

_STYLE = {"ok": "green", "check": "cyan", "failed": "red", "not-run": "yellow"}


def _plan_lines(plan: Plan, work: Work) -> list[str]:
    lines = [
        f"plan: {', '.join(f'{n} {a}' for a, n in plan.summary().items() if n) or 'no changes'}"
    ]
    for c in plan.changes:
        if c.action.value == "create":
            new = {f.field: f.new for f in c.changes}
            fields = f"{new.get('web.node')} {new.get('web.ip')} db {new.get('database.engine')}"
        else:
            fields = ", ".join(f"{f.field}: {f.old!r} -> {f.new!r}" for f in c.changes[:4])
        lines.append(f"  {c.action.value:<12} {c.site:<24} {fields}")
    if work.limit:
        per_node = ", ".join(f"{n} ({len(work.sites.get(n, []))} sites)" for n in work.limit)
        lines.append(f"work: {work.playbook} on {per_node}")
    else:
        lines.append("work: every node is up to date: nothing to run")
    return lines


def _summary(outcome: Outcome) -> Table:
    table = Table(title=f"apply {outcome.run_id}", show_lines=False)
    for col in ("site", "action", "result", "nodes", "step / detail"):
        table.add_column(col)
    for s in outcome.sites:
        style = _STYLE.get(s.result, "")
        detail = f"{s.step}: {s.message}" if s.step else s.message
        table.add_row(s.site, s.action, f"[{style}]{s.result}[/]", ",".join(s.nodes), detail)
    return table


@click.command("apply")
@platform_options
@click.option("--check", is_flag=True, help="Dry run: Ansible check mode with --diff.")
@click.option("--all", "converge_all", is_flag=True, help="Converge every site (drift repair).")
@click.option("--force", is_flag=True, help="Apply even when the safety guard refuses the plan.")
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON (for CI).")
@click.option(
    "--records",
    type=click.Path(file_okay=False, path_type=Path),
    help="Records directory (default: $OPDHOST_RECORDS_DIR or <root>/records).",
)
@click.option("--verify-wait", default=30.0, show_default=True, help="Seconds verify retries.")
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="Lab only: apply uncommitted changes under requests/ and inventories/ (recorded).",
)
@click.option(
    "--base",
    "base_ref",
    help="Plan against this git ref instead of the last applied commit (rewritten history).",
)
@reports_errors
def apply_command(
    *,
    root: Path | None,
    env: str,
    inventory: Path | None,
    check: bool,
    converge_all: bool,
    force: bool,
    as_json: bool,
    records: Path | None,
    verify_wait: float,
    allow_dirty: bool,
    base_ref: str | None,
) -> None:
    """Apply the requests to the hosts: only what changed since the last apply."""
    base = root if root is not None else find_root(Path.cwd())
    inv = inventory if inventory is not None else base / "inventories" / env
    records_root = records or Path(os.environ.get("OPDHOST_RECORDS_DIR") or base / "records")
    out = Console(highlight=False, stderr=as_json)
    err = Console(stderr=True, highlight=False)
    live = err.status("starting ansible-runner") if err.is_terminal and not as_json else None

    def on_plan(plan: Plan, work: Work) -> None:
        for line in _plan_lines(plan, work):
            out.print(line, markup=False)
        if live is not None and work.limit:
            live.start()

    last_task = [""]

    def on_progress(p: Progress) -> None:
        total = f"/~{p.expected}" if p.expected else ""
        text = f"[{p.done}{total}] {p.host} | {p.task}"
        if live is not None:
            live.update(text)
        elif not as_json and p.task != last_task[0]:
            last_task[0] = p.task  # a log (CI): one line per task, not per host
            err.print(text, markup=False, highlight=False)

    try:
        outcome = apply(
            base,
            inv,
            records_root=records_root,
            options=Options(
                check=check,
                all=converge_all,
                force=force,
                verify_wait=verify_wait,
                allow_dirty=allow_dirty,
                base=base_ref,
            ),
            on_progress=on_progress,
            on_plan=on_plan,
        )
    except GuardError as exc:
        for reason in exc.reasons:
            err.print(f"safety guard: {reason}: refused without --force", markup=False)
        sys.exit(1)
    finally:
        if live is not None:
            live.stop()
    if check and outcome.run is not None:
        for host, task, text in outcome.run.diffs:
            out.print(f"--- {host}: {task}", markup=False)
            out.print(text, markup=False)
    if as_json:
        click.echo(json.dumps(outcome.record, indent=2))
    else:
        if outcome.sites:
            out.print(_summary(outcome))
        if outcome.run is not None:
            out.print(f"ansible: {outcome.run.status} in {outcome.run.seconds:.1f} s", markup=False)
        out.print(f"record: {outcome.record_path}", markup=False)
    if not outcome.ok:
        err.print("[red]apply failed[/red]: see the table above and the record")
        sys.exit(1)
