"""`opdhost apply`: the plan from the last applied state, run through ansible-runner.

Thin: parse options, call opdhost.apply.pipeline, print the plan, a progress line from the
runner's events (rewritten in place on a terminal, one line per task in a log), and a summary
table (or the run record as one JSON document with --json, for CI).
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
from pathlib import Path

import click

from opdhost.apply import module_cache
from opdhost.apply.pipeline import GuardError, Options, Outcome, Work, apply
from opdhost.apply.records import records_root
from opdhost.apply.runner import Progress
from opdhost.cli.common import platform_options, reports_errors, repository, text_table
from opdhost.fleet.plan import Plan

DRIFT_EXIT = 2
"""`apply --check`: the hosts differ from the repository (0: they agree; 1: an error)."""

_COLOUR = {"ok": "green", "check": "cyan", "failed": "red", "not-run": "yellow"}


def _plan_lines(plan: Plan, work: Work) -> list[str]:
    lines = [
        f"plan: {', '.join(f'{n} {a}' for a, n in plan.summary().items() if n) or 'no changes'}"
    ]
    for c in plan.changes:
        if c.move is not None:
            fields = c.move.describe()
        elif c.action.value == "create":
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


def _summary(outcome: Outcome) -> str:
    rows = []
    for site in outcome.sites:
        detail = f"{site.step}: {site.message}" if site.step else site.message
        result = click.style(site.result, fg=_COLOUR.get(site.result))
        rows.append([site.site, site.action, result, ",".join(site.nodes), detail])
    table = text_table(["site", "action", "result", "nodes", "step / detail"], rows)
    return f"apply {outcome.run_id}\n{table}"


def _move_lines(outcome: Outcome) -> list[str]:
    """A move's runs and what its copy carried (the record's `phases` and `moves`)."""
    lines = [
        f"{p['phase']}: {p['playbook']} on {','.join(p['nodes'])}: {p['status']} in "
        f"{p['seconds']} s"
        for p in outcome.phases
    ]
    for m in outcome.moves:
        copy = m.get("copy") or {}
        files, db = copy.get("files") or {}, copy.get("database") or {}
        parts = [m["summary"]]
        if files:
            parts.append(f"{files.get('files')} files, {files.get('bytes')} bytes")
        if db:
            parts.append(f"{db.get('tables')} tables, {db.get('rows')} rows")
        if files or db:
            matched = all(x.get("matched") for x in (files, db) if x)
            parts.append("checksums matched" if matched else "checksums differ")
        if m.get("resumed"):
            parts.append(f"resumed: {m['resumed']}")
        parts.append("finished" if m.get("finished") else "not finished")
        lines.append("; ".join(parts))
    return lines


class _ProgressLine:
    """On a terminal one line rewritten in place; in a log (CI) one line per new task."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_task = ""
        self.width = 0

    def show(self, p: Progress) -> None:
        total = f"/~{p.expected}" if p.expected else ""
        text = f"[{p.done}{total}] {p.host} | {p.task}"
        if self.tty:
            text = text[: shutil.get_terminal_size().columns - 1]
            click.echo("\r" + text.ljust(self.width), nl=False, err=True)
            self.width = len(text)
        elif p.task != self.last_task:
            self.last_task = p.task
            click.echo(text, err=True)

    def end(self) -> None:
        if self.tty and self.width:
            click.echo("\r" + " " * self.width + "\r", nl=False, err=True)
            self.width = 0


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
    base = repository(root)
    inv = inventory if inventory is not None else base / "inventories" / env
    records_dir = records_root(base, records)
    progress = _ProgressLine()
    say = functools.partial(click.echo, err=as_json)  # with --json stdout is the record only

    def on_plan(plan: Plan, work: Work) -> None:
        for line in _plan_lines(plan, work):
            say(line)

    try:
        outcome = apply(
            base,
            inv,
            records_root=records_dir,
            options=Options(
                check=check,
                all=converge_all,
                force=force,
                verify_wait=verify_wait,
                allow_dirty=allow_dirty,
                base=base_ref,
            ),
            on_progress=None if as_json else progress.show,
            on_plan=on_plan,
        )
    except GuardError as exc:
        for reason in exc.reasons:
            click.echo(f"safety guard: {reason}: refused without --force", err=True)
        sys.exit(1)
    finally:
        progress.end()
    if check and outcome.run is not None:
        for host, task, text in outcome.run.diffs:
            say(f"--- {host}: {task}")
            say(text)
    cache = outcome.run.module_cache if outcome.run is not None else ""
    if cache.startswith("off: ") and module_cache.ENV not in cache:
        click.echo(f"warning: module payload cache not used: {cache[5:]} (docs/apply.md)", err=True)
    if as_json:
        click.echo(json.dumps(outcome.record, indent=2))
    else:
        if outcome.sites:
            click.echo(_summary(outcome))
        for line in _move_lines(outcome):
            click.echo(line)
        if outcome.run is not None:
            click.echo(f"ansible: {outcome.run.status} in {outcome.run.seconds:.1f} s")
        click.echo(f"record: {outcome.record_path}")
    if not outcome.ok:
        failed = click.style("apply failed", fg="red")
        click.echo(f"{failed}: see the table above and the record", err=True)
        sys.exit(1)
    if check and outcome.drift:
        differ = ", ".join(d.get("site") or f"node {d['node']}" for d in outcome.drift)
        click.echo(f"drift: the hosts differ from the repository: {differ}", err=True)
        sys.exit(DRIFT_EXIT)
