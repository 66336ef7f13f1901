"""`opdhost backup list | now | check | verify` and `opdhost restore`: thin, over opdhost.backup.

Options in, one call into the backup wing, a table (or JSON) out. The nodes are reached over
SSH as Ansible reaches them (the inventory's hosts.yml); the requests say which node holds
which part of a site.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from opdhost.apply.records import records_root
from opdhost.backup import BackupError
from opdhost.backup.jobs import backup_now, check, settings, snapshots, verify
from opdhost.backup.layout import Part, archive_parts, chosen, site_parts
from opdhost.backup.remote import Call, ssh_call
from opdhost.backup.restore import restore as restore_parts
from opdhost.backup.restore import restore_archive
from opdhost.backup.when import ALLOWED, parse_at
from opdhost.cli.common import (
    load_setup,
    ok_text,
    platform_options,
    records_option,
    reports_errors,
    text_table,
)
from opdhost.fleet.loading import Fleet, load_working_tree
from opdhost.fleet.platform import Platform, platform_path


def _setup(
    root: Path | None, env: str, inventory: Path | None
) -> tuple[Path, Platform, Fleet, Call]:
    base, platform = load_setup(root, env, inventory)
    settings(platform)
    fleet = load_working_tree(base)  # an invalid file elsewhere does not stop a restore
    inv = inventory if inventory is not None else base / "inventories" / env
    return base, platform, fleet, ssh_call(inv)


def _site(
    site: str, root: Path | None, env: str, inventory: Path | None
) -> tuple[Call, list[Part]]:
    """How to reach the nodes, and what is backed up of `site` (BackupError when unknown)."""
    _base, platform, fleet, call = _setup(root, env, inventory)
    return call, site_parts(fleet.requests, platform, site)


def _size(count: int) -> str:
    """1.5 MiB, 37 KiB, 512 B."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


_json = click.option("--json", "as_json", is_flag=True, help="JSON for machines.")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@click.group()
def backup() -> None:
    """Backups of every hosting's files and database (docs/backups.md)."""


@backup.command("list")
@click.argument("site")
@platform_options
@_json
@reports_errors
def list_(site: str, root: Path | None, env: str, inventory: Path | None, as_json: bool) -> None:
    """The backups of SITE kept on the backup target, oldest first."""
    found = snapshots(*_site(site, root, env, inventory))
    if as_json:
        rows = [
            {"id": s.id, "time": s.time.isoformat(), "kind": s.kind, "node": s.node} for s in found
        ]
        click.echo(json.dumps(rows, indent=1))
        return
    table = [[s.time.strftime("%Y-%m-%d %H:%M:%S"), s.kind, s.node, s.id] for s in found]
    click.echo(text_table(["time (UTC)", "kind", "node", "snapshot"], table))
    if not found:
        click.echo(f"{site}: no backup yet (`opdhost backup now {site}`)")


@backup.command("now")
@click.argument("site")
@platform_options
@_json
@reports_errors
def now(site: str, root: Path | None, env: str, inventory: Path | None, as_json: bool) -> None:
    """Back up SITE's files and database now; exit 1 when a part failed."""
    answers = backup_now(*_site(site, root, env, inventory))
    failed = any(a.get("failed") for a in answers.values())
    if as_json:
        click.echo(json.dumps(answers, indent=1))
    else:
        rows = []
        for node, answer in sorted(answers.items()):
            for name, result in sorted((answer.get("sites") or {}).items()):
                good = "error" not in result
                detail = (
                    f"snapshot {result.get('snapshot')}, {result.get('bytes', 0)} bytes "
                    f"({result.get('added', 0)} new), {result.get('seconds', 0)} s"
                    if good
                    else str(result["error"])
                )
                rows.append([name, node, ok_text("ok" if good else "failed", good), detail])
        click.echo(text_table(["site", "node", "result", "detail"], rows))
    if failed:
        raise SystemExit(1)


@backup.command("check")
@platform_options
@_json
@reports_errors
def check_(root: Path | None, env: str, inventory: Path | None, as_json: bool) -> None:
    """Every site's last backups; exit 1 when one failed, is too old, missing or corrupt."""
    _base, platform, fleet, call = _setup(root, env, inventory)
    when = _now()
    rows, nightly = check(call, fleet.requests, platform, when)
    if as_json:
        out = [
            {
                "site": r.site,
                "kind": r.kind,
                "node": r.node,
                "state": r.state,
                "last_success": r.last_success.isoformat() if r.last_success else None,
                "bytes": r.bytes,
                "detail": r.detail,
            }
            for r in rows
        ]
        click.echo(json.dumps(out, indent=1))
    else:
        table = [
            [
                r.site,
                r.kind,
                r.node,
                ok_text(r.state, r.ok),
                r.last_success.strftime("%Y-%m-%d %H:%M") if r.last_success else "-",
                r.age_text(when),
                str(r.bytes),
                r.detail,
            ]
            for r in rows
        ]
        headers = ["site", "kind", "node", "state", "last (UTC)", "age", "bytes", "detail"]
        click.echo(text_table(headers, table))
        for node, run in sorted(nightly.items()):
            size = run.get("repository_bytes")
            shown = "?" if size is None else _size(int(size))
            click.echo(
                f"{node}: last nightly run {run.get('last_run', 'never')}, {shown} of "
                f"deduplicated data on {settings(platform).node}",
                err=True,
            )
        bad = [r for r in rows if not r.ok]
        click.echo(f"backups: {len(rows) - len(bad)} ok, {len(bad)} not ok", err=True)
    if any(not r.ok for r in rows):
        raise SystemExit(1)


@backup.command("verify")
@platform_options
@click.option("--read-data", is_flag=True, help="Read and check every data pack (slow).")
@reports_errors
def verify_(root: Path | None, env: str, inventory: Path | None, read_data: bool) -> None:
    """restic check of every node's repository; exit 1 on any damage."""
    _base, platform, _fleet, call = _setup(root, env, inventory)
    answers = verify(call, platform, read_data)
    rows = [
        [node, ok_text("ok" if a.get("ok") else "damaged", bool(a.get("ok"))), a.get("error", "")]
        for node, a in sorted(answers.items())
    ]
    click.echo(text_table(["node", "repository", "detail"], rows))
    if not all(a.get("ok") for a in answers.values()):
        raise SystemExit(1)


@click.command()
@click.argument("site")
@click.option("--at", "at_text", help=f"Which backup: {ALLOWED}.")
@click.option(
    "--from-archive",
    "old",
    help="A decommissioned site whose archive (the newest on the backup target) is restored "
    "into SITE: its files beside SITE's own, its database into SITE's.",
)
@click.option("--files", is_flag=True, help="Only the site's files.")
@click.option("--database", is_flag=True, help="Only the site's database.")
@click.option(
    "--beside",
    is_flag=True,
    help="Leave the live site alone: files into <home>/restored-<time>/, the database dump "
    "into the node's restore directory.",
)
@click.option("--who", help="Who restores, for the maintenance log (default: git user.name).")
@records_option
@platform_options
@reports_errors
def restore(
    *,
    site: str,
    at_text: str | None,
    old: str | None,
    files: bool,
    database: bool,
    beside: bool,
    who: str | None,
    records_dir: Path | None,
    root: Path | None,
    env: str,
    inventory: Path | None,
) -> None:
    """Restore SITE's files and/or database as they were at --at; logged in the maintenance log."""
    from opdhost.documents.inputs import gather  # noqa: PLC0415 - only a restore pays
    from opdhost.documents.maintenance import add_entry  # noqa: PLC0415

    if (at_text is None) == (old is None):
        raise BackupError("give --at WHEN (a backup of SITE) or --from-archive SITE (not both)")
    at = parse_at(at_text, _now()) if at_text is not None else None
    base, platform, fleet, call = _setup(root, env, inventory)
    if old is not None:
        pairs = archive_parts(fleet.requests, platform, old, site)
        wanted = {p.kind for p in chosen([p for p, _u in pairs], files, database, site)}
    else:
        found = chosen(site_parts(fleet.requests, platform, site), files, database, site)
    sources = gather(
        base, platform, platform_path(base, env, inventory), records_root(base, records_dir)
    )

    def log(note: str) -> Any:
        return add_entry(sources, site, note, who)

    if old is not None:
        for answer in restore_archive(call, [x for x in pairs if x[0].kind in wanted], old, log):
            where = answer.get("path") or answer.get("database")
            click.echo(
                f"{site}: {answer['kind']} of {old} restored from {answer['archive']}: {where}"
            )
        return
    assert at is not None
    for done in restore_parts(call, found, at, beside, log):
        where = done.answer.get("path") or done.answer.get("database") or ""
        click.echo(
            f"{site}: {done.part.kind} restored from backup {done.snapshot} of {done.time} UTC "
            f"on {done.part.node} ({'beside' if beside else 'live'}: {where})"
        )
        if done.answer.get("previous"):
            click.echo(f"  what it replaced is kept on {done.part.node}: {done.answer['previous']}")
