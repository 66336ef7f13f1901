"""The `opdhost` command line: thin, it parses arguments and calls the modules that do the work."""

from __future__ import annotations

import click

from opdhost import __version__
from opdhost.cli.apply import apply_command
from opdhost.cli.lab import lab
from opdhost.cli.requests import register_request_commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="opdhost")
def cli() -> None:
    """Hosting-as-code for the region's agencies (OPD): requests, plans, apply, records."""


cli.add_command(lab)
cli.add_command(apply_command)
register_request_commands(cli)


def main() -> None:
    """Console-script entry point."""
    cli()
