"""`opdhost letter | register | report | maintenance`: the office's papers (SOP steps 7-9).

Thin: options in, one call into opdhost.documents, the paths written out. This module is
loaded only when one of its commands runs (main.COMMANDS); Jinja2 and WeasyPrint are loaded
by the documents wing only when a document is rendered.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from opdhost.apply.records import records_root
from opdhost.cli.common import (
    load_setup,
    out_option,
    platform_options,
    records_option,
    reports_errors,
    text_table,
)
from opdhost.documents.base import parse_day
from opdhost.documents.inputs import Sources, gather
from opdhost.documents.letter import make_letter
from opdhost.documents.maintenance import add_entry, entries
from opdhost.documents.registers import make_registers
from opdhost.documents.report import make_report
from opdhost.fleet.platform import platform_path


def _sources(
    root: Path | None, env: str, inventory: Path | None, records_dir: Path | None
) -> Sources:
    base, platform = load_setup(root, env, inventory)
    return gather(
        base, platform, platform_path(base, env, inventory), records_root(base, records_dir)
    )


def _out_dir(src: Sources, out: Path | None) -> Path:
    return out if out is not None else src.records.base / "documents"


def _day(text: str | None, what: str) -> dt.date:
    return parse_day(text, what) if text else dt.date.today()


def _written(paths: list[Path]) -> None:
    for path in paths:
        click.echo(f"wrote {path}")


@click.command()
@click.argument("site")
@click.option(
    "--kind",
    type=click.Choice(["activation", "suspension", "decommission"]),
    default="activation",
    show_default=True,
)
@click.option("--lang", type=click.Choice(["id", "en"]), default="id", show_default=True)
@click.option(
    "--date", "date_text", metavar="YYYY-MM-DD", help="Date of the letter (default today)."
)
@click.option("--reissue", is_flag=True, help="A new number, not the one this letter already has.")
@out_option
@records_option
@platform_options
@reports_errors
def letter(
    *,
    site: str,
    kind: str,
    lang: str,
    date_text: str | None,
    reissue: bool,
    out: Path | None,
    records_dir: Path | None,
    root: Path | None,
    env: str,
    inventory: Path | None,
) -> None:
    """The notification letter of SITE (HTML and PDF), numbered by the office's scheme."""
    src = _sources(root, env, inventory, records_dir)
    day = _day(date_text, "--date")
    paths = make_letter(
        src, site, kind=kind, lang=lang, out=_out_dir(src, out), day=day, reissue=reissue
    )
    _written(paths)


@click.command()
@click.option("--date", "date_text", metavar="YYYY-MM-DD", help="Date printed (default today).")
@out_option
@records_option
@platform_options
@reports_errors
def register(
    *,
    date_text: str | None,
    out: Path | None,
    records_dir: Path | None,
    root: Path | None,
    env: str,
    inventory: Path | None,
) -> None:
    """The IP and subdomain register and the configuration register (CSV, HTML, PDF)."""
    src = _sources(root, env, inventory, records_dir)
    _written(make_registers(src, _out_dir(src, out), _day(date_text, "--date")))


@click.command()
@click.option("--from", "start", required=True, metavar="YYYY-MM-DD", help="First day.")
@click.option("--to", "end", required=True, metavar="YYYY-MM-DD", help="Last day (included).")
@out_option
@records_option
@platform_options
@reports_errors
def report(
    *,
    start: str,
    end: str,
    out: Path | None,
    records_dir: Path | None,
    root: Path | None,
    env: str,
    inventory: Path | None,
) -> None:
    """The execution report of a period: requests, merges, provisioning, against the SOP."""
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    src = _sources(root, env, inventory, records_dir)
    _written(make_report(src, first, last, _out_dir(src, out)))


@click.group()
def maintenance() -> None:
    """The maintenance log: entries you add, and every apply run, per site."""


@maintenance.command("add")
@click.argument("site")
@click.option("--note", required=True, help="What was done (one line; never a secret).")
@click.option("--who", help="Who did it (default: git user.name, else $USER).")
@records_option
@platform_options
@reports_errors
def maintenance_add(
    *,
    site: str,
    note: str,
    who: str | None,
    records_dir: Path | None,
    root: Path | None,
    env: str,
    inventory: Path | None,
) -> None:
    """Log one maintenance of SITE."""
    src = _sources(root, env, inventory, records_dir)
    click.echo(f"logged in {add_entry(src, site, note, who)}")


@maintenance.command("list")
@click.argument("site", required=False)
@records_option
@platform_options
@reports_errors
def maintenance_list(
    *,
    site: str | None,
    records_dir: Path | None,
    root: Path | None,
    env: str,
    inventory: Path | None,
) -> None:
    """The log, oldest first: added entries and apply runs (of SITE, when given)."""
    src = _sources(root, env, inventory, records_dir)
    rows = [[e.when, e.site, e.who, e.source, e.what] for e in entries(src, site)]
    click.echo(text_table(["when", "site", "who", "source", "what"], rows))
