"""The `opdhost` command: a group whose commands are imported only when they run.

`opdhost validate` needs the fleet wing only; importing the apply wing (Ansible, ansible-runner)
or the lab for it would cost most of its start-up time, so each command's module is named here
and loaded on first use.
"""

from __future__ import annotations

import importlib

import click

from opdhost import __version__

COMMANDS = {
    "new": "opdhost.cli.requests:new",
    "move": "opdhost.cli.moves:move",
    "validate": "opdhost.cli.requests:validate",
    "plan": "opdhost.cli.requests:plan",
    "schema": "opdhost.cli.requests:schema",
    "apply": "opdhost.cli.apply:apply_command",
    "lab": "opdhost.cli.lab:lab",
    "ci": "opdhost.cli.ci:ci",
    "lock": "opdhost.cli.lock:lock",
    "letter": "opdhost.cli.documents:letter",
    "register": "opdhost.cli.documents:register",
    "report": "opdhost.cli.documents:report",
    "maintenance": "opdhost.cli.documents:maintenance",
    "backup": "opdhost.cli.backup:backup",
    "restore": "opdhost.cli.backup:restore",
    "usage": "opdhost.cli.usage:usage",
}
"""Command name -> `module:attribute` of its click command."""


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command, loaded or not."""
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, importing its module on first use."""
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in COMMANDS:
            return found
        module, _, attribute = COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):  # pragma: no cover - a wiring mistake
            raise TypeError(f"{COMMANDS[cmd_name]} is not a click command")
        self.add_command(command, cmd_name)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="opdhost")
def cli() -> None:
    """Hosting-as-code for the region's agencies (OPD): requests, plans, apply, records."""


def main() -> None:
    """Console-script entry point."""
    cli()
