"""`opdhost lab ...`: bring the local container lab up, down, and report its state."""

from __future__ import annotations

import click


@click.group()
def lab() -> None:
    """The local container lab (web1, db1, ns1, ns2)."""
