"""`opdhost backup list | now | check | verify` on the nodes, through remote.Call.

Each function asks only the nodes that hold the parts concerned, and returns values (rows,
snapshots, answers) for the CLI to print; nothing here prints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from opdhost.backup import BackupError
from opdhost.backup.layout import Part, parts, source_nodes
from opdhost.backup.remote import Call
from opdhost.backup.status import Row, evaluate
from opdhost.backup.when import Snapshot, parse_time
from opdhost.fleet.model import Request
from opdhost.fleet.platform import BackupSettings, Platform


def settings(platform: Platform) -> BackupSettings:
    """The platform's backup settings; BackupError when the platform file has none."""
    if platform.backup is None:
        raise BackupError(
            f"{platform.path} has no opdhost_backup: this platform is not backed up",
            hint="add opdhost_backup (target, keep, max_age_hours; docs/backups.md) and run "
            "`opdhost apply --all`",
        )
    return platform.backup


def snapshots(call: Call, found: Iterable[Part]) -> list[Snapshot]:
    """Every snapshot of the parts, oldest first (one call per node)."""
    result = []
    by_node: dict[str, set[str]] = {}
    for part in found:
        by_node.setdefault(part.node, set()).add(part.kind)
    for node, kinds in sorted(by_node.items()):
        site = next(p.site for p in found if p.node == node)
        for snap in call(node, ["snapshots", site]):
            if snap.get("kind") in kinds:
                result.append(
                    Snapshot(str(snap["id"]), parse_time(str(snap["time"])), snap["kind"], node)
                )
    return sorted(result, key=lambda s: s.time)


def backup_now(call: Call, found: Iterable[Part]) -> dict[str, Any]:
    """Back up the parts now (each node backs up its part of the site); node -> answer."""
    answers: dict[str, Any] = {}
    for node in sorted({p.node for p in found}):
        site = next(p.site for p in found if p.node == node)
        try:
            answers[node] = call(node, ["run", site])
        except BackupError as exc:
            answers[node] = {"failed": [site], "sites": {site: {"error": str(exc)}}}
    return answers


def check(
    call: Call, requests: Iterable[Request], platform: Platform, now: dt.datetime
) -> tuple[list[Row], dict[str, dict[str, Any]]]:
    """The state of every expected part's last backup (unreachable nodes say so), and each
    node's last nightly run (when, repository size on the target, its check)."""
    limit = settings(platform).max_age_hours
    expected = [p for r in requests for p in parts(r, platform)]
    answers: dict[str, dict[str, Any] | str] = {}
    for node in source_nodes(platform):
        if not any(p.node == node for p in expected):
            continue
        try:
            answers[node] = call(node, ["status"])
        except BackupError as exc:
            answers[node] = str(exc)
    nightly = {n: dict(a.get("nightly") or {}) for n, a in answers.items() if isinstance(a, dict)}
    return evaluate(expected, answers, now, limit), nightly


def verify(call: Call, platform: Platform, read_data: bool) -> dict[str, Any]:
    """restic check of every node's repository; node -> answer ({ok, error})."""
    settings(platform)
    args = ["verify", "--read-data"] if read_data else ["verify"]
    answers: dict[str, Any] = {}
    for node in source_nodes(platform):
        try:
            answers[node] = call(node, args)
        except BackupError as exc:
            answers[node] = {"ok": False, "error": str(exc)}
    return answers
