"""`opdhost usage collect | report`, and `opdhost usage --month YYYY-MM` (the report).

Thin: options in, one call into opdhost.usage, what was written out. Loaded only when the
command runs (main.COMMANDS); Ansible for `collect`, matplotlib and WeasyPrint for `report`
are imported by the usage wing only then.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from opdhost.apply.records import Records, records_root
from opdhost.cli.common import (
    load_setup,
    out_option,
    platform_options,
    records_option,
    reports_errors,
)
from opdhost.fleet.platform import Platform
from opdhost.usage.period import Month, parse_month

_month = click.option(
    "--month", "month_text", metavar="YYYY-MM", help="The month (default: the current one)."
)


def _setup(
    root: Path | None, env: str, inventory: Path | None, records_dir: Path | None
) -> tuple[Path, Platform, Path, Records]:
    base, platform = load_setup(root, env, inventory)
    inventory_dir = inventory if inventory is not None else base / "inventories" / env
    return (
        base,
        platform,
        inventory_dir,
        Records(records_root(base, records_dir), platform.environment),
    )


def _month_of(text: str | None) -> Month:
    return parse_month(text) if text is not None else Month.of(dt.datetime.now(dt.UTC).date())


def _report(
    month_text: str | None,
    *,
    out: Path | None,
    records_dir: Path | None,
    root: Path | None,
    env: str,
    inventory: Path | None,
) -> None:
    from opdhost.usage.report import make_usage_report  # noqa: PLC0415 - Jinja2, matplotlib

    month = _month_of(month_text)
    base, platform, inventory_dir, records = _setup(root, env, inventory, records_dir)
    target = out if out is not None else records.base / "documents"
    for path in make_usage_report(
        base, platform, inventory_dir=inventory_dir, records=records, month=month, out=target
    ):
        click.echo(f"wrote {path}")


@click.group(invoke_without_command=True)
@click.option(
    "--month", "month_text", metavar="YYYY-MM", help="Write the report of this month (= report)."
)
@out_option
@records_option
@platform_options
@click.pass_context
@reports_errors
def usage(
    ctx: click.Context,
    *,
    month_text: str | None,
    out: Path | None,
    records_dir: Path | None,
    root: Path | None,
    env: str,
    inventory: Path | None,
) -> None:
    """Usage of the hostings: `collect` from the nodes, `report` of a month (or --month)."""
    if ctx.invoked_subcommand is not None:
        return
    if month_text is None:
        click.echo(ctx.get_help())
        click.echo("\nerror: give --month YYYY-MM (the report) or a command", err=True)
        sys.exit(1)
    _report(month_text, out=out, records_dir=records_dir, root=root, env=env, inventory=inventory)


@usage.command("collect")
@_month
@records_option
@platform_options
@reports_errors
def usage_collect(
    *,
    month_text: str | None,
    records_dir: Path | None,
    root: Path | None,
    env: str,
    inventory: Path | None,
) -> None:
    """Measure every site on the nodes (disk, database, traffic, errors) into the month's record.

    Database users over their quota lose the rights to grow their database; back under it,
    they get them back.
    """
    from opdhost.usage.collect import collect  # noqa: PLC0415 - Ansible only when collecting

    month = _month_of(month_text)
    base, platform, inventory_dir, records = _setup(root, env, inventory, records_dir)
    done = collect(base, platform, inventory_dir=inventory_dir, records=records, month=month)
    record = done.record
    for change in record.get("quota_changes", []):
        verb = "held at quota" if change["action"] == "hold" else "released (back under quota)"
        click.echo(f"database of {change['site']}: {verb}")
    for problem in record.get("problems", []):
        where = "/".join(v for v in (problem.get("node", ""), problem.get("site", "")) if v)
        click.echo(f"warning: {where}: {problem.get('problem', '')}", err=True)
    click.echo(f"measured {len(record['sites'])} sites in {done.seconds:.1f} s; wrote {done.path}")


@usage.command("report")
@_month
@out_option
@records_option
@platform_options
@reports_errors
def usage_report(
    *,
    month_text: str | None,
    out: Path | None,
    records_dir: Path | None,
    root: Path | None,
    env: str,
    inventory: Path | None,
) -> None:
    """The monthly usage report (CSV, HTML, PDF) per agency and per site, with charts."""
    _report(month_text, out=out, records_dir=records_dir, root=root, env=env, inventory=inventory)
