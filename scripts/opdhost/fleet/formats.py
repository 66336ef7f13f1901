"""Text, Markdown and JSON renderings of findings, the ledger and the plan.

Pure functions returning strings: the CLI prints them, CI posts the Markdown on the pull
request. Values are shown with repr-like quoting so control characters never reach a
terminal or a comment raw.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from opdhost.errors import Finding, Severity
from opdhost.fleet.ledger import LedgerRow
from opdhost.fleet.plan import Action, FieldChange, Plan, SiteChange

_SYMBOL = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.SUSPEND: "~",
    Action.REACTIVATE: "~",
    Action.DECOMMISSION: "-",
    Action.MOVE: ">",
    Action.FORGET: "-",
}
_MOVE_FIELDS = ("web.node", "web.ip", "database.server")
"""The fields a move's one-line summary already says."""


def _value(value: object) -> str:
    if value is None:
        return "(none)"
    return json.dumps(value, ensure_ascii=True)


def findings_text(findings: Sequence[Finding]) -> str:
    """One `path:line: field: message` per line."""
    return "".join(f"{f}\n" for f in findings)


def count_text(findings: Sequence[Finding]) -> str:
    """`2 errors, 1 warning` style summary."""
    errors = sum(1 for f in findings if f.severity is Severity.ERROR)
    warnings = len(findings) - errors
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


def ledger_text(rows: Sequence[LedgerRow]) -> str:
    """The capacity ledger as an aligned table."""
    header = ("server", "resource", "used", "limit", "free", "use")
    body = [
        (r.server, r.resource, str(r.used), str(r.limit), str(r.free), f"{r.share:.0%}")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = []
    for row in [header, *body]:
        cells = [
            cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def ledger_markdown(rows: Sequence[LedgerRow]) -> str:
    """The capacity ledger as a Markdown table."""
    out = ["| server | resource | used | limit | free | use |", "|---|---|--:|--:|--:|--:|"]
    for r in rows:
        out.append(
            f"| {r.server} | {r.resource} | {r.used} | {r.limit} | {r.free} | {r.share:.0%} |"
        )
    return "\n".join(out) + "\n"


def _change_lines(change: FieldChange) -> str:
    return f"{change.field}: {_value(change.old)} -> {_value(change.new)}"


def _site_text(change: SiteChange) -> list[str]:
    lines = [f"{_SYMBOL[change.action]} {change.site} ({change.action.value}) {change.path}"]
    if change.move is not None:
        lines.append(f"    {change.move.describe()}")
    if change.action is not Action.CREATE:
        lines += [f"    {_change_lines(c)}" for c in change.changes]
    else:
        lines += [f"    {c.field}: {_value(c.new)}" for c in change.changes]
    return lines


def _summary(plan: Plan) -> str:
    parts = [f"{n} {a}" for a, n in plan.summary().items() if n]
    return ", ".join(parts) if parts else "no changes"


def plan_text(
    plan: Plan, base: str, *, findings: Sequence[Finding], guard: Sequence[str], forced: bool
) -> str:
    """The plan for a terminal: one block per site, then the checks and the guard."""
    lines = [f"Plan against {base}: {_summary(plan)} ({plan.existing} existing sites)"]
    for change in plan.changes:
        lines += _site_text(change)
    lines.append(f"Checks: {count_text(findings)}")
    lines += [str(f) for f in findings]
    for reason in guard:
        state = "allowed by --force" if forced else "refused without --force"
        lines.append(f"Safety guard: {reason}: {state}")
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


MARKDOWN_MAX_SITES = 100
"""Sites shown in a pull-request comment (GitHub caps comments at 65,536 characters)."""


def _md_fields(change: SiteChange) -> str:
    if change.action is Action.CREATE:
        new = {ch.field: ch.new for ch in change.changes}
        return f"{new.get('web.node')} {new.get('web.ip')}, {new.get('database.engine')}"
    if change.move is not None:
        others = [ch.field for ch in change.changes if ch.field not in _MOVE_FIELDS]
        return change.move.describe() + (f"; also {', '.join(others)}" if others else "")
    return ", ".join(ch.field for ch in change.changes)


def _md_diff(change: SiteChange) -> list[str]:
    out = [f"#### {change.site}: {change.action.value} (`{change.path}`)", ""]
    if change.move is not None:
        out += [
            f"{_md_cell(change.move.describe())}: files and database copied and verified "
            "first, then DNS switched; the old copy is archived and removed.",
            "",
        ]
    out.append("```diff")
    for ch in change.changes:
        if ch.old is not None:
            out.append(f"- {ch.field}: {_value(ch.old)}")
        if ch.new is not None:
            out.append(f"+ {ch.field}: {_value(ch.new)}")
    return [*out, "```", ""]


def plan_markdown(
    plan: Plan,
    base: str,
    *,
    findings: Sequence[Finding],
    guard: Sequence[str],
    forced: bool,
    ledger: Sequence[LedgerRow] = (),
    max_sites: int = MARKDOWN_MAX_SITES,
) -> str:
    """The plan for a pull-request comment: short summary on top, details collapsed."""
    errors = [f for f in findings if f.severity is Severity.ERROR]
    verdict = "❌ checks failed" if errors else "✅ checks passed"
    if guard and not forced:
        verdict += " · ⛔ safety guard: needs `--force`"
    out = [
        "### opdhost plan",
        "",
        f"**{_summary(plan)}** against `{base}` · {verdict} ({count_text(findings)})",
        "",
    ]
    shown = plan.changes[:max_sites]
    more = len(plan.changes) - len(shown)
    tail = [f"… and {more} more sites (see `opdhost plan --format json`)", ""] if more else []
    if shown:
        out += ["| | site | action | OPD | node, IP, database / changed fields |"]
        out += ["|---|---|---|---|---|"]
        for c in shown:
            out.append(
                f"| {_SYMBOL[c.action]} | {c.site} | {c.action.value} | {c.opd} "
                f"| {_md_cell(_md_fields(c))} |"
            )
        out += ["", *tail]
    for reason in guard:
        out.append(f"- Safety guard: {_md_cell(reason)}" + (" (forced)" if forced else ""))
    if findings:
        out += ["", "<details><summary>Findings</summary>", "", "```text"]
        out += [str(f).replace("```", "'''") for f in findings]
        out += ["```", "", "</details>"]
    if shown:
        out += ["", "<details><summary>Field-level changes</summary>", ""]
        for c in shown:
            out += _md_diff(c)
        out += [*tail, "</details>"]
    if ledger:
        out += ["", "<details><summary>Capacity ledger</summary>", "", ledger_markdown(ledger)]
        out.append("</details>")
    return "\n".join(out) + "\n"


def plan_json(
    plan: Plan, base: str, *, findings: Sequence[Finding], guard: Sequence[str], forced: bool
) -> str:
    """The plan as JSON for machines (the apply step, CI)."""
    data = {
        "base": base,
        "existing": plan.existing,
        "summary": plan.summary(),
        "changes": [c.as_dict() for c in plan.changes],
        "findings": [f.as_dict() for f in findings],
        "safety": {"violations": list(guard), "forced": forced},
    }
    return json.dumps(data, indent=2, ensure_ascii=True) + "\n"


def findings_json(findings: Sequence[Finding], ledger: Sequence[LedgerRow] = ()) -> str:
    """Validation result as JSON."""
    data = {
        "findings": [f.as_dict() for f in findings],
        "ledger": [
            {"server": r.server, "resource": r.resource, "used": r.used, "limit": r.limit}
            for r in ledger
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=True) + "\n"
