"""`opdhost new | validate | plan | schema`: commands over the request files.

Thin: parse options, call the modules, print what they return, exit 1 on any error.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from opdhost.cli.common import load_setup, platform_options, reports_errors
from opdhost.errors import OpdhostError, has_errors
from opdhost.fleet import allocation as allocate
from opdhost.fleet import formats as output
from opdhost.fleet import sshkeys
from opdhost.fleet.claims import fetch_open_refs, open_claims
from opdhost.fleet.ledger import ledger
from opdhost.fleet.loading import load_working_tree
from opdhost.fleet.model import Engine, Runtime
from opdhost.fleet.plan import SafetyPolicy
from opdhost.fleet.review import run_review
from opdhost.fleet.schema import PLATFORM_SCHEMA, REQUEST_SCHEMA, schema_text
from opdhost.fleet.sources import default_base, git_output, has_commits
from opdhost.fleet.writer import NewSite

_DEFAULTS = SafetyPolicy()


@click.command()
@platform_options
@click.option(
    "--base",
    "base_ref",
    help="Git ref to check transitions against "
    "(default: merge base with main, when in a git repository).",
)
@click.option("--no-base", is_flag=True, help="Skip the checks that need a base state.")
@click.option("--ledger", "show_ledger", is_flag=True, help="Print the capacity ledger table.")
@click.option(
    "--live-dns",
    is_flag=True,
    help="Ask the zone's authoritative servers whether new names already exist.",
)
@click.option("--dns-port", default=53, hidden=True, type=int)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@reports_errors
def validate(
    *,
    root: Path | None,
    env: str,
    inventory: Path | None,
    base_ref: str | None,
    no_base: bool,
    show_ledger: bool,
    live_dns: bool,
    dns_port: int,
    fmt: str,
) -> None:
    """Check every request file, across files and against the platform."""
    base_dir, platform = load_setup(root, env, inventory)
    if base_ref is None and not no_base and has_commits(base_dir):
        base_ref = default_base(base_dir)  # no silent fallback: see sources.default_base
    result = run_review(base_dir, platform, None if no_base else base_ref)
    findings = list(result.findings)
    if live_dns:
        from opdhost.fleet import livedns  # noqa: PLC0415 - dnspython only when asked for

        if result.base is None:
            raise OpdhostError("--live-dns needs a base state (--base REF) to know the new names")
        known = {n for r in result.base.requests for _, n in livedns.host_names(r, platform.zone)}
        servers = [
            livedns.Server(s.node, s.address, dns_port)
            for s in (platform.dns_primary, *platform.dns_secondaries)
        ]
        fresh = livedns.live_dns_findings(
            result.fleet.requests, platform.zone, servers, known=known
        )
        findings = sorted({*findings, *fresh})
    rows = ledger(result.fleet.requests, platform)
    if fmt == "json":
        click.echo(output.findings_json(findings, rows), nl=False)
    else:
        click.echo(output.findings_text(findings), nl=False)
        if show_ledger:
            click.echo(output.ledger_text(rows), nl=False)
        count = len(result.fleet.requests)
        click.echo(f"{count} request files checked: {output.count_text(findings)}", err=True)
    if has_errors(findings):
        sys.exit(1)


@click.command()
@platform_options
@click.option(
    "--base",
    "base_ref",
    help="Git ref of the desired state before the change (default: merge base with main).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
@click.option("--force", is_flag=True, help="Accept a plan above the safety thresholds.")
@click.option(
    "--max-updates",
    type=click.IntRange(0),
    default=_DEFAULTS.max_updates,
    show_default=True,
    help="Updates (incl. suspend/reactivate) allowed without --force.",
)
@click.option(
    "--max-decommissions",
    type=click.IntRange(0),
    default=_DEFAULTS.max_decommissions,
    show_default=True,
    help="Decommissions allowed without --force.",
)
@click.option(
    "--max-share",
    type=click.FloatRange(0, 1),
    default=_DEFAULTS.max_update_share,
    show_default=True,
    help="Share of the existing fleet that updates or "
    "decommissions may reach without --force (fleets of 10 sites or more).",
)
@reports_errors
def plan(
    *,
    root: Path | None,
    env: str,
    inventory: Path | None,
    base_ref: str | None,
    fmt: str,
    force: bool,
    max_updates: int,
    max_decommissions: int,
    max_share: float,
) -> None:
    """Compare the desired state at a git ref with the working tree: what would change."""
    base_dir, platform = load_setup(root, env, inventory)
    ref = base_ref if base_ref is not None else default_base(base_dir)
    result = run_review(base_dir, platform, ref)
    if result.plan is None or result.base_commit is None:  # run_review with a base always plans
        raise OpdhostError(f"no plan could be computed against {ref}")
    policy = SafetyPolicy(
        max_update_share=max_share,
        max_decommission_share=max_share,
        max_updates=max_updates,
        max_decommissions=max_decommissions,
    )
    guard = policy.violations(result.plan)
    short = result.base_commit[:12]
    base = short if ref == result.base_commit else f"{ref} ({short})"
    findings = result.findings
    if fmt == "json":
        text = output.plan_json(
            result.plan, result.base_commit, findings=findings, guard=guard, forced=force
        )
    elif fmt == "markdown":
        rows = ledger(result.fleet.requests, platform)
        text = output.plan_markdown(
            result.plan, base, findings=findings, guard=guard, forced=force, ledger=rows
        )
    else:
        text = output.plan_text(result.plan, base, findings=findings, guard=guard, forced=force)
    click.echo(text, nl=False)
    if not result.ok or (guard and not force):
        sys.exit(1)


@click.command()
@platform_options
@click.option("--opd", "opd_code", required=True, help="Agency code (directory under requests/).")
@click.option("--opd-name", help="Agency name (default: from its other requests).")
@click.option("--contact-name", help="Technical contact (default: from its other requests).")
@click.option("--contact-email", help="Contact e-mail (default: from its other requests).")
@click.option("--contact-phone", help="Contact phone (optional).")
@click.option("--letter-number", required=True, help="Number of the request letter.")
@click.option("--letter-date", required=True, help="Date of the letter, YYYY-MM-DD.")
@click.option("--agenda", required=True, help="Agenda number from General Affairs.")
@click.option("--site", required=True, help="Wanted subdomain (one DNS label).")
@click.option(
    "--runtime", type=click.Choice([r.value for r in Runtime]), default="php", show_default=True
)
@click.option(
    "--db",
    "engine",
    type=click.Choice([e.value for e in Engine]),
    required=True,
    help="Database engine.",
)
@click.option("--db-quota-mb", type=int, default=512, show_default=True)
@click.option("--storage-mb", type=int, required=True)
@click.option("--bandwidth-mbit", type=int, required=True)
@click.option("--alias", "aliases", multiple=True, help="Extra host name (repeatable).")
@click.option("--no-tls", is_flag=True, help="Serve plain HTTP only.")
@click.option(
    "--sftp-key",
    "sftp_key_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The agency's SSH public key file (.pub) for SFTP (repeatable).",
)
@click.option("--node", help="Web node (default: the least used one with room).")
@click.option("--ip", help="A specific free IP of the node's pool (default: the lowest free).")
@click.option(
    "--db-server",
    metavar="NODE",
    help="Database server, one of the engine's in the platform "
    "(default: the least used one with room).",
)
@click.option("--dry-run", is_flag=True, help="Print the file instead of writing it.")
@click.option(
    "--remote",
    default="origin",
    show_default=True,
    help="Where open merge requests are fetched from (their names and IPs are not handed out).",
)
@click.option(
    "--offline", is_flag=True, help="Use the open merge requests fetched before; fetch nothing."
)
@reports_errors
def new(
    *,
    root: Path | None,
    env: str,
    inventory: Path | None,
    opd_code: str,
    opd_name: str | None,
    contact_name: str | None,
    contact_email: str | None,
    contact_phone: str | None,
    letter_number: str,
    letter_date: str,
    agenda: str,
    site: str,
    runtime: str,
    engine: str,
    db_quota_mb: int,
    storage_mb: int,
    bandwidth_mbit: int,
    aliases: tuple[str, ...],
    no_tls: bool,
    sftp_key_files: tuple[Path, ...],
    node: str | None,
    ip: str | None,
    db_server: str | None,
    dry_run: bool,
    remote: str,
    offline: bool,
) -> None:
    """Scaffold requests/<opd>/<site>.yaml from a request letter, with node and IP allocated."""
    base_dir, platform = load_setup(root, env, inventory)
    fleet = load_working_tree(base_dir)
    sibling = next((r for r in fleet.requests if r.opd.code == opd_code), None)
    if sibling is not None:
        opd_name = opd_name or sibling.opd.name
        contact_name = contact_name or sibling.opd.contact.name
        contact_email = contact_email or sibling.opd.contact.email
        contact_phone = contact_phone or sibling.opd.contact.phone
    missing = [
        flag
        for flag, value in (
            ("--opd-name", opd_name),
            ("--contact-name", contact_name),
            ("--contact-email", contact_email),
        )
        if not value
    ]
    if missing:
        raise OpdhostError(f"a first request of {opd_code!r} needs {', '.join(missing)}")
    spec = NewSite(
        opd_code=opd_code,
        opd_name=opd_name or "",
        contact_name=contact_name or "",
        contact_email=contact_email or "",
        contact_phone=contact_phone,
        letter_number=letter_number,
        letter_date=letter_date,
        agenda=agenda,
        site=site,
        runtime=Runtime(runtime),
        engine=Engine(engine),
        storage_mb=storage_mb,
        bandwidth_mbit=bandwidth_mbit,
        db_quota_mb=db_quota_mb if engine != Engine.NONE.value else 0,
        aliases=aliases,
        tls=not no_tls,
        node=node,
        ip=ip,
        db_server=db_server,
        sftp_keys=tuple(_public_key(path) for path in sftp_key_files),
    )
    claims = None
    if has_commits(base_dir):
        if not offline and remote in git_output(base_dir, "remote").decode().split():
            fetch_open_refs(base_dir, remote)
        claims = open_claims(base_dir, fleet.blobs)
    placement = allocate.place(spec, fleet, platform, claims)
    if dry_run:
        click.echo(placement.text, nl=False)
        return
    allocate.write(base_dir, placement)
    where = f", database on {placement.db_server}" if placement.db_server else ""
    click.echo(f"wrote {placement.path}: node {placement.node}, IP {placement.ip}{where}")


def _public_key(path: Path) -> str:
    """One checked key line from a .pub file (the file's one line, without its newline)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(4097)
    except OSError as exc:
        raise OpdhostError(f"{path}: cannot read the key file ({exc.strerror})") from None
    lines = raw.decode("utf-8", "replace").strip().splitlines()
    if len(raw) > 4096 or len(lines) != 1:
        raise OpdhostError(f"{path}: a .pub file holds one key line; allowed: {sshkeys.ALLOWED}")
    try:
        sshkeys.parse(lines[0])
    except sshkeys.BadKeyError as exc:
        raise OpdhostError(f"{path}: the key {exc}; allowed: {sshkeys.ALLOWED}") from None
    return lines[0]


@click.command()
@click.argument("which", type=click.Choice(["request", "platform"]), default="request")
def schema(which: str) -> None:
    """Print the published JSON schema of request files (or of the platform variables)."""
    click.echo(schema_text(REQUEST_SCHEMA if which == "request" else PLATFORM_SCHEMA), nl=False)
