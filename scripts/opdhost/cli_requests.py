"""`opdhost new | validate | plan`: commands over the request files."""

from __future__ import annotations

import click


def register_request_commands(group: click.Group) -> None:
    """Attach the request commands to the top-level group."""
