"""`opdhost lock status | break`: who holds the platform's apply lock, and breaking it.

Breaking is for a holder that hangs on after its run died (a network partition can keep its
session alive on the state node for a while): it ends that session on the node and is logged
there (`lock-breaks.log`) and in the local records, with who, when and why.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from opdhost.apply.records import Records, new_run_id, records_root
from opdhost.apply.state import PlatformStore, describe, state_store
from opdhost.cli.common import load_setup, platform_options, reports_errors
from opdhost.errors import OpdhostError


def _store(root: Path | None, env: str, inventory: Path | None) -> PlatformStore:
    base, platform = load_setup(root, env, inventory)
    inv = inventory if inventory is not None else base / "inventories" / env
    records = Records(records_root(base), platform.environment)
    store = state_store(platform, inv / "hosts.yml", records)
    if not isinstance(store, PlatformStore):
        raise OpdhostError(
            f"{platform.path} names no state node: the lock is local to this machine and is "
            "released by the kernel when its holder dies (nothing to break)",
            hint="set opdhost_state: {node: ...} in the platform file to share it",
        )
    return store


@click.group()
def lock() -> None:
    """The platform's apply lock (with `opdhost_state` in the platform file)."""


@lock.command()
@platform_options
@reports_errors
def status(root: Path | None, env: str, inventory: Path | None) -> None:
    """Who holds the lock; exit 0 when free, 3 when held."""
    store = _store(root, env, inventory)
    holder = store.holder()
    if not holder:
        click.echo(f"lock on {store.where}: free")
        return
    click.echo(f"lock on {store.where}: held by {describe(holder)}")
    raise SystemExit(3)


@lock.command("break")
@platform_options
@click.option("--reason", required=True, help="Why: kept in the log with who and when.")
@reports_errors
def break_(root: Path | None, env: str, inventory: Path | None, reason: str) -> None:
    """End the session holding the lock on the state node, and log it."""
    if not reason.strip():
        raise OpdhostError("--reason must say why the lock is broken")
    store = _store(root, env, inventory)
    holder = store.break_lock(reason)
    path = store.records.base / "lock-breaks" / f"{new_run_id()}.json"
    entry = {"where": store.where, "reason": reason, "holder": holder}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entry, indent=2) + "\n", encoding="utf-8")
    if holder:
        click.echo(f"broke the lock on {store.where} held by {describe(holder)}; logged in {path}")
    else:
        click.echo(f"the lock on {store.where} was free; logged in {path}")
