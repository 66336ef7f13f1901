"""The drift issue: from the run record of `opdhost apply --check --all --json`, and the
backups of `opdhost backup check --json`.

One issue, found by its label and the hidden marker in its body: opened on the first drift
(or backup that failed, is too old, missing or corrupt), updated on the next, closed with a
comment when a complete check finds the hosts agree again and every backup is in order. The
issue names sites, nodes, Ansible task names and backup states only: nothing of a diff, a
message or a variable reaches it (the record's `drift` entries are read for `site`, `node(s)`
and the task names, nothing else; a backup's detail is shortened and stripped of markup).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opdhost.forge.base import DRIFT_LABEL, DRIFT_MARKER, Forge, ForgeError, Issue

MAX_SITES = 200
MAX_TASKS = 20
_UNSAFE = re.compile(r"[\x00-\x1f\x7f|`\\]")
_TASK_KEYS = ("tasks", "changed_tasks", "changes", "differs", "what")


def _name(value: object, width: int = 120) -> str:
    """A name safe in a code span of a Markdown table: no `|`, backquote, backslash or control."""
    text = " ".join(_UNSAFE.sub(" ", str(value)).split())
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass(frozen=True)
class SiteDrift:
    """One site whose hosts differ, and the names of the tasks that would change it."""

    site: str
    nodes: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BackupProblem:
    """One site's files or database whose last backup is not in order."""

    site: str
    kind: str
    node: str
    state: str
    detail: str


@dataclass(frozen=True)
class DriftReport:
    """What the check found."""

    environment: str
    commit: str
    run_id: str
    complete: bool  # the check ran to its end (a failed check proves no agreement)
    sites: list[SiteDrift]
    nodes: dict[str, int]  # node -> tasks that would change (records without a `drift` list)
    backups: list[BackupProblem] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        """Some host differs from the requests."""
        return bool(self.sites or self.nodes)

    @property
    def needs_issue(self) -> bool:
        """Drift, or a backup out of order: the issue stays open."""
        return self.drifted or bool(self.backups)


def load_backups(path: Path) -> list[BackupProblem]:
    """The rows of `opdhost backup check --json` that are not `ok`; a ForgeError if unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ForgeError(
            f"no backup check at {path}", "run `opdhost backup check --json > FILE` first"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ForgeError(
            f"cannot read the backup check {path}: {getattr(exc, 'strerror', None) or exc}",
            "pass the output of `opdhost backup check --json`",
        ) from None
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise ForgeError(f"{path} is not the output of `opdhost backup check --json` (a list)")
    problems = [
        BackupProblem(
            site=_name(row.get("site", "?"), 63),
            kind=_name(row.get("kind", "?"), 20),
            node=_name(row.get("node", "?"), 63),
            state=_name(row.get("state", "?"), 20),
            detail=_name(row.get("detail", ""), 120),
        )
        for row in data
        if row.get("state") != "ok"
    ]
    return sorted(problems, key=lambda p: (p.site, p.kind, p.node))


def load_record(path: Path) -> dict[str, Any]:
    """The run record, or a ForgeError saying why it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ForgeError(
            f"no run record at {path}", "run `opdhost apply --check --all --json > FILE` first"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ForgeError(
            f"cannot read the run record {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ForgeError(
            f"{path} is not JSON: {exc}", "pass the output of `opdhost apply --check --all --json`"
        ) from None
    if not isinstance(data, dict) or ("sites" not in data and "drift" not in data):
        raise ForgeError(
            f"{path} is not a run record of `opdhost apply --json` (no sites, no drift)"
        )
    return data


def _tasks(entry: dict[str, Any]) -> list[str]:
    for key in _TASK_KEYS:
        value = entry.get(key)
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            names = []
            for item in value:
                name = item.get("task") or item.get("name") if isinstance(item, dict) else item
                if isinstance(name, str) and name.strip():
                    names.append(_name(name))
            return sorted(set(names))
    return []


def _nodes(entry: dict[str, Any]) -> list[str]:
    value = entry.get("nodes", entry.get("node", entry.get("host", [])))
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return sorted({_name(v, 63) for v in values if isinstance(v, str)})


def read_drift(record: dict[str, Any]) -> DriftReport:
    """The drift in a run record: its `drift` list, else the nodes Ansible would change."""
    sites: dict[str, SiteDrift] = {}
    nodes: dict[str, int] = {}
    drift = record.get("drift")
    if isinstance(drift, list):
        for item in drift:
            entry = {"site": item} if isinstance(item, str) else item
            if not isinstance(entry, dict) or not isinstance(entry.get("site"), str):
                continue
            name = _name(entry["site"], 63)
            old = sites.get(name, SiteDrift(name))
            sites[name] = SiteDrift(
                name, sorted({*old.nodes, *_nodes(entry)}), sorted({*old.tasks, *_tasks(entry)})
            )
    elif drift is None:
        stats = (record.get("ansible") or {}).get("stats") or {}
        changed = stats.get("changed") if isinstance(stats, dict) else None
        if isinstance(changed, dict):
            nodes = {
                _name(k, 63): int(v) for k, v in changed.items() if isinstance(v, int) and v > 0
            }
    result = record.get("result")
    return DriftReport(
        environment=_name(record.get("environment") or "?", 40),
        commit=_name(record.get("commit") or "", 40),
        run_id=_name(record.get("run_id") or "", 60),
        complete=result not in ("failed", "canceled") or bool(sites),
        sites=sorted(sites.values(), key=lambda s: s.site),
        nodes=nodes,
    )


def title(report: DriftReport) -> str:
    """The issue's title."""
    parts = []
    if report.drifted:
        count = len(report.sites) or len(report.nodes)
        what = "site" if report.sites else "node"
        parts.append(f"{count} {what}{'s' * (count != 1)} differ from the requests")
    if report.backups:
        count = len(report.backups)
        parts.append(f"{count} backup{'s' * (count != 1)} not in order")
    return f"Drift: {'; '.join(parts)} ({report.environment})"


def _backup_lines(report: DriftReport) -> list[str]:
    if not report.backups:
        return []
    out = [
        "",
        f"### Backups not in order ({report.environment})",
        "",
        "`opdhost backup check` found these sites' last backups failed, too old, missing or "
        "corrupt:",
        "",
        "| site | kind | node | state | detail |",
        "|---|---|---|---|---|",
    ]
    out += [
        f"| `{b.site}` | {b.kind} | {b.node} | {b.state} | {b.detail} |"
        for b in report.backups[:MAX_SITES]
    ]
    if len(report.backups) > MAX_SITES:
        out.append(f"\n… and {len(report.backups) - MAX_SITES} more (see `opdhost backup check`).")
    out += ["", "Take a backup now with `opdhost backup now SITE` once the cause is fixed."]
    return out


def body(report: DriftReport) -> str:
    """The issue's description: which sites (or nodes) and which tasks; no diff."""
    out = [DRIFT_MARKER]
    if not report.drifted:
        out += [
            f"`opdhost apply --check --all` (run `{report.run_id}`, commit "
            f"`{report.commit[:12]}`) found the hosts match the merged requests.",
            *_backup_lines(report),
        ]
        return "\n".join(out) + "\n"
    out += [
        f"### Hosts differ from the requests ({report.environment})",
        "",
        f"`opdhost apply --check --all` (run `{report.run_id}`, commit `{report.commit[:12]}`) "
        "found hosts that no longer match the merged requests:",
        "",
    ]
    if report.sites:
        out += ["| site | nodes | tasks that would change |", "|---|---|---|"]
        for s in report.sites[:MAX_SITES]:
            tasks = "; ".join(f"`{t}`" for t in s.tasks[:MAX_TASKS]) + (
                f"; … {len(s.tasks) - MAX_TASKS} more" if len(s.tasks) > MAX_TASKS else ""
            )
            out.append(f"| `{s.site}` | {', '.join(s.nodes)} | {tasks} |")
        if len(report.sites) > MAX_SITES:
            out.append(f"\n… and {len(report.sites) - MAX_SITES} more sites (see the run record).")
    else:
        out += ["| node | tasks that would change |", "|---|--:|"]
        out += [f"| `{n}` | {c} |" for n, c in sorted(report.nodes.items())]
    out += [
        "",
        "Find out why the hosts changed, then converge them with `opdhost apply --all` (or fix "
        "the request). This issue is updated on the next drift and closed when a check finds "
        "the hosts agree again.",
    ]
    if not report.complete:
        out += ["", "The check did not complete: more may differ."]
    out += _backup_lines(report)
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class Reported:
    """What happened to the drift issue."""

    action: str  # opened | updated | closed | none | left
    issue: Issue | None


def report(forge: Forge, found: DriftReport) -> Reported:
    """Open, update or close the one drift issue."""
    mine = [i for i in forge.open_issues(DRIFT_LABEL) if DRIFT_MARKER in i.body]
    issue = mine[0] if mine else None
    if found.needs_issue:
        text = body(found)[: forge.comment_limit]
        if issue is None:
            return Reported("opened", forge.create_issue(title(found), text, DRIFT_LABEL))
        return Reported("updated", forge.update_issue(issue, title(found), text))
    if not found.complete:
        return Reported("left", issue)
    if issue is None:
        return Reported("none", None)
    forge.close_issue(
        issue,
        f"The hosts agree with the requests again: `opdhost apply --check --all` (run "
        f"`{found.run_id}`, commit `{found.commit[:12]}`) found no difference, and no backup "
        "is out of order. Closing.",
    )
    return Reported("closed", issue)
