"""`opdhost lab up | down | status`: bring the local container lab up, down, and report it.

Thin: it calls opdhost.lab.manage and prints the results; a LabError is reported like every
other error (`error:` and `fix:`, exit 1, never a traceback).
"""

from __future__ import annotations

import click

from opdhost.cli.common import ok_text, reports_errors, text_table
from opdhost.lab import manage as lab_ops
from opdhost.lab.nodes import NETWORK


@click.group()
def lab() -> None:
    """The local container lab (web1, web2, db1, db2, ns1, ns2)."""


@lab.command()
@click.option("--recreate", is_flag=True, help="Replace every node's container (a fresh lab).")
@reports_errors
def up(recreate: bool) -> None:
    """Create or repair the lab and start every node's services (idempotent)."""
    result = lab_ops.up(recreate=recreate)
    click.echo(f"network {NETWORK}: {result.network}")
    for act in result.nodes:
        line = f"{act.node.name} ({act.node.container}): {act.action}"
        if act.reason:
            line += f" ({act.reason})"
        started = ", ".join(act.started)
        line += f"; started {started}" if started else "; services already active"
        click.echo(line)
    click.echo(ok_text(f"lab up in {result.seconds:.1f} s", ok=True))


@lab.command()
@reports_errors
def status() -> None:
    """Show each node, its container, address and services; exit 1 unless all healthy."""
    healthy, nodes = lab_ops.status()
    rows = []
    for st in nodes:
        services = " ".join(
            ok_text(f"{s}:{'active' if ok else 'inactive'}", ok) for s, ok in st.services.items()
        )
        state = ok_text(st.state, st.state == "running")
        address = ok_text(st.address or "-", st.address == st.node.address)
        rows.append([st.node.name, st.node.container, state, address, services])
    click.echo(f"opdhost lab ({NETWORK})")
    click.echo(text_table(["node", "container", "state", "address", "services"], rows))
    if not healthy:
        click.echo(ok_text("lab is not healthy", ok=False), err=True)
        click.echo("fix: run `opdhost lab up`", err=True)
        raise SystemExit(1)
    click.echo(ok_text("lab is healthy", ok=True))


@lab.command()
@reports_errors
def down() -> None:
    """Remove the lab's containers and network (only those, by name)."""
    result = lab_ops.down()
    for name in result.removed:
        click.echo(f"removed {name}")
    click.echo(f"network {NETWORK}: {'removed' if result.network_removed else 'absent'}")
