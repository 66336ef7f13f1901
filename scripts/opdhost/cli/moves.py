"""`opdhost move SITE --web-node NODE [--db-server NODE]`: rewrite a request as a move.

Thin: the placement (free IP of the new node's pool, skipping what open merge requests claim;
room on the new node and server) is opdhost.fleet.allocation.place_move; the file keeps its
other lines and comments. The engineer commits it and opens a merge request as usual; the
merge's `opdhost apply` carries the move through (docs/moves.md).
"""

from __future__ import annotations

from pathlib import Path

import click

from opdhost.cli.common import load_setup, platform_options, reports_errors
from opdhost.errors import OpdhostError
from opdhost.fleet import allocation as allocate
from opdhost.fleet.claims import fetch_open_refs, open_claims
from opdhost.fleet.loading import load_working_tree
from opdhost.fleet.sources import git_output, has_commits


@click.command()
@platform_options
@click.argument("site")
@click.option("--web-node", metavar="NODE", help="The web node to move the site to.")
@click.option("--db-server", metavar="NODE", help="The database server to move its database to.")
@click.option("--dry-run", is_flag=True, help="Print the rewritten file instead of writing it.")
@click.option(
    "--remote",
    default="origin",
    show_default=True,
    help="Where open merge requests are fetched from (their IPs are not handed out).",
)
@click.option(
    "--offline", is_flag=True, help="Use the open merge requests fetched before; fetch nothing."
)
@reports_errors
def move(
    *,
    root: Path | None,
    env: str,
    inventory: Path | None,
    site: str,
    web_node: str | None,
    db_server: str | None,
    dry_run: bool,
    remote: str,
    offline: bool,
) -> None:
    """Move SITE to another web node (new IP from its pool) and/or database server."""
    base_dir, platform = load_setup(root, env, inventory)
    fleet = load_working_tree(base_dir)
    req = fleet.by_site().get(site)
    if req is None:
        raise OpdhostError(f"no request file for site {site!r} under requests/")
    try:
        text = (base_dir / req.path).read_text(encoding="utf-8")
    except OSError as exc:
        raise OpdhostError(f"{req.path}: cannot read ({exc.strerror})") from None
    claims = None
    if has_commits(base_dir):
        if not offline and remote in git_output(base_dir, "remote").decode().split():
            fetch_open_refs(base_dir, remote)
        claims = open_claims(base_dir, fleet.blobs)
    placement = allocate.place_move(
        site, fleet, platform, web_node=web_node, db_server=db_server, claims=claims, text=text
    )
    if dry_run:
        click.echo(placement.text, nl=False)
        return
    allocate.rewrite(base_dir, placement)
    click.echo(f"wrote {placement.path}: {placement.move.describe()}")
    click.echo(
        "commit it and open a merge request; on merge, `opdhost apply` copies the files and "
        "the database, verifies the copy, then switches DNS and archives the old copy"
    )
