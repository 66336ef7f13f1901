"""`opdhost lab up | down | status`: bring the local container lab up, down, and report it.

Thin: it calls opdhost.lab.manage and prints the results with rich; LabError becomes a red message
with its fix and exit 1 (never a traceback).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import click
from rich.console import Console
from rich.table import Table

from opdhost.lab import manage as lab_ops
from opdhost.lab.errors import LabError
from opdhost.lab.nodes import NETWORK

P = ParamSpec("P")
R = TypeVar("R")
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def _lab_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn LabError into a readable message and exit status 1."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except LabError as exc:
            err_console.print(f"[red]lab: {exc.message}[/red]")
            if exc.hint:
                err_console.print(f"fix: {exc.hint}")
            raise SystemExit(1) from None

    return wrapper


@click.group()
def lab() -> None:
    """The local container lab (web1, db1, ns1, ns2)."""


@lab.command()
@click.option("--recreate", is_flag=True, help="Replace every node's container (a fresh lab).")
@_lab_errors
def up(recreate: bool) -> None:
    """Create or repair the lab and start every node's services (idempotent)."""
    result = lab_ops.up(recreate=recreate)
    console.print(f"network {NETWORK}: {result.network}")
    for act in result.nodes:
        line = f"{act.node.name} ({act.node.container}): {act.action}"
        if act.reason:
            line += f" ({act.reason})"
        started = ", ".join(act.started)
        line += f"; started {started}" if started else "; services already active"
        console.print(line)
    console.print(f"[green]lab up in {result.seconds:.1f} s[/green]")


@lab.command()
@_lab_errors
def status() -> None:
    """Show each node, its container, address and services; exit 1 unless all healthy."""
    healthy, nodes = lab_ops.status()
    table = Table(title=f"opdhost lab ({NETWORK})")
    for col in ("node", "container", "state", "address", "services"):
        table.add_column(col)
    for st in nodes:
        services = " ".join(
            f"[green]{s}:active[/green]" if ok else f"[red]{s}:inactive[/red]"
            for s, ok in st.services.items()
        )
        state = st.state if st.state == "running" else f"[red]{st.state}[/red]"
        address = st.address if st.address == st.node.address else f"[red]{st.address or '-'}[/red]"
        table.add_row(st.node.name, st.node.container, state, address, services)
    console.print(table)
    if not healthy:
        err_console.print("[red]lab is not healthy[/red]\nfix: run `opdhost lab up`")
        raise SystemExit(1)
    console.print("[green]lab is healthy[/green]")


@lab.command()
@_lab_errors
def down() -> None:
    """Remove the lab's containers and network (only those, by name)."""
    result = lab_ops.down()
    for name in result.removed:
        console.print(f"removed {name}")
    console.print(f"network {NETWORK}: {'removed' if result.network_removed else 'absent'}")
