"""One usage collection: a playbook run through apply's runner, folded into per-site figures.

Why a module: the nodes answer per node (one probe call on a web node, the database role's
`quota` entry point on a database node); the records and the report want one entry per site,
with its agency and its allocation beside what it used. The variables are the ones apply
renders (opdhost.apply.render), so the probe sees the sites exactly as the roles made them.
The collection changes one thing on the hosts: the database role holds the users of databases
over their quota, and releases those back under it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opdhost.apply.records import Records, new_run_id, now_iso
from opdhost.apply.render import render
from opdhost.apply.runner import Progress, RunResult, run_playbook
from opdhost.errors import FindingsError
from opdhost.fleet.loading import load_working_tree
from opdhost.fleet.model import Engine, Request
from opdhost.fleet.platform import Platform
from opdhost.usage import store
from opdhost.usage.period import Month, UsageError

PLAYBOOK = "usage.yml"
WEB_ACTION = "opdhost_usage_web"
QUOTA_FACT = "database_quota"


@dataclass
class NodeResults:
    """What the nodes returned: the web probe's `usage` and the quota facts, per host."""

    web: dict[str, dict[str, Any]] = field(default_factory=dict)
    quota: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)


def read_results(artifact_dir: Path) -> NodeResults:
    """The probe and quota results from ansible-runner's events of one run."""
    out = NodeResults()
    for path in sorted((artifact_dir / "job_events").glob("*.json")):
        try:
            event = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if event.get("event") != "runner_on_ok":
            continue
        data = event.get("event_data") or {}
        res = data.get("res") or {}
        host = str(data.get("host", ""))
        if data.get("task_action") in (WEB_ACTION, f"opdhost.{WEB_ACTION}") and "usage" in res:
            out.web[host] = dict(res["usage"])
            out.problems.extend(
                {"node": host, **{str(k): str(v) for k, v in p.items()}}
                for p in res.get("problems") or []
            )
        facts = res.get("ansible_facts") or {}
        if QUOTA_FACT in facts:
            out.quota[host] = dict(facts[QUOTA_FACT])
    return out


def quota_of_run(artifact_dir: Path) -> dict[str, Any] | None:
    """For a run record: per site, its database's bytes, quota, over, held and whether this
    run held or released it; None when no database node reported."""
    quota = read_results(artifact_dir).quota
    if not quota:
        return None
    return {site: entry for _host, sites in sorted(quota.items()) for site, entry in sites.items()}


def _peak_mbit(peak_bytes_minute: int) -> float:
    """Mbit/s over the busiest minute."""
    return round(peak_bytes_minute * 8 / 60 / 1_000_000, 3)


def site_entry(
    req: Request, web: dict[str, Any] | None, db: dict[str, Any] | None
) -> dict[str, Any]:
    """One site's part of a collection: its agency, allocation and what it used."""
    days = {}
    for day, row in sorted(((web or {}).get("days") or {}).items()):
        days[day] = {
            "requests": int(row.get("requests", 0)),
            "bytes": int(row.get("bytes", 0)),
            "errors_4xx": int(row.get("errors_4xx", 0)),
            "errors_5xx": int(row.get("errors_5xx", 0)),
            "peak_mbit": _peak_mbit(int(row.get("peak_bytes_minute", 0))),
        }
    has_db = req.database.engine is not Engine.NONE
    tc = (web or {}).get("tc")
    return {
        "opd": {"code": req.opd.code, "name": req.opd.name},
        "node": req.web.node,
        "status": req.status.value,
        "allocation": {
            "storage_mb": req.web.storage_mb,
            "database_mb": req.database.quota_mb if has_db else None,
            "bandwidth_mbit": req.web.bandwidth_mbit,
        },
        "disk_bytes": None if web is None else int(web.get("disk_bytes", 0)),
        "files": None if web is None else int(web.get("files", 0)),
        "database": None
        if not has_db or db is None
        else {
            "engine": str(db.get("engine", req.database.engine.value)),
            "bytes": int(db.get("bytes", 0)),
            "over": bool(db.get("over")),
            "held": bool(db.get("held")),
        },
        "days": days,
        "tc": None if not tc else {"bytes": int(tc["bytes"]), "packets": int(tc["packets"])},
    }


def fold(
    requests: list[Request],
    results: NodeResults,
    month: Month,
    environment: str,
    collected_at: str,
) -> dict[str, Any]:
    """The month's record of one collection (no secret, no visitor's address)."""
    db_by_site: dict[str, dict[str, Any]] = {}
    changes = []
    for host, sites in sorted(results.quota.items()):
        for site, entry in sorted(sites.items()):
            db_by_site[site] = entry
            if entry.get("changed"):
                action = "hold" if entry.get("held") else "release"
                changes.append({"site": site, "node": host, "action": action})
    sites = {}
    for req in sorted(requests, key=lambda r: r.site):
        if req.status.value == "decommissioned":
            continue
        web = results.web.get(req.web.node, {}).get(req.site)
        sites[req.site] = site_entry(req, web, db_by_site.get(req.site))
    return {
        "version": store.RECORD_VERSION,
        "month": str(month),
        "environment": environment,
        "first_collected_at": collected_at,
        "collected_at": collected_at,
        "collections": 1,
        "quota_changes": changes,
        "problems": results.problems,
        "sites": sites,
    }


@dataclass
class Collection:
    """What `opdhost usage collect` did."""

    path: Path
    record: dict[str, Any]
    run: RunResult
    seconds: float


def collect(
    root: Path,
    platform: Platform,
    *,
    inventory_dir: Path,
    records: Records,
    month: Month,
    on_progress: Callable[[Progress], None] | None = None,
) -> Collection:
    """Measure every site on the nodes and merge it into the month's record."""
    fleet = load_working_tree(root)
    if fleet.findings:
        raise FindingsError(fleet.findings)
    if not fleet.requests:
        raise UsageError(f"no request under {root / 'requests'}: nothing to measure")
    inventory = inventory_dir / "hosts.yml"
    if not inventory.is_file():
        raise UsageError(f"no inventory {inventory}")
    before = store.load(records, month)
    run = run_playbook(
        PLAYBOOK,
        inventory,
        node_vars=render(fleet.requests, platform).nodes,
        extravars={
            "opdhost_usage_months": [str(month)],
            "opdhost_usage_from_day": store.recount_from(before, month),
        },
        artifacts=records.artifacts(),
        ident=f"usage-{new_run_id()}",
        on_progress=on_progress,
    )
    results = read_results(Path(run.artifact_dir))
    for failure in run.failures:
        results.problems.append(
            {
                "node": failure.host,
                "site": failure.item,
                "problem": f"{failure.task}: {failure.message}",
            }
        )
    if not results.web and not results.quota:
        raise UsageError(
            "the collection measured nothing: "
            + ("; ".join(f"{f.host}: {f.message}" for f in run.failures[:5]) or run.status),
            hint=f"see {run.artifact_dir}/stdout",
        )
    record = fold(fleet.requests, results, month, platform.environment, now_iso())
    merged = store.merge(before, record)
    path = store.save(records, month, merged)
    return Collection(path, merged, run, run.seconds)
