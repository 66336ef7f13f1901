"""The plan: what changes per site between a base state and a new one (octoDNS style).

`compute_plan(base, new)` is pure: two mappings site -> Request in, a `Plan` out. It is what
reviewers read (the pull request comment) and what the run record keeps; `SafetyPolicy`
refuses mass changes unless forced. Which nodes and sites a run touches is decided by the
apply step from the rendered variables' digests, not from the plan.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from opdhost.fleet.model import Request, Status
from opdhost.fleet.moves import Move, move_of


class Action(enum.StrEnum):
    """What happens to one site."""

    CREATE = "create"
    UPDATE = "update"
    SUSPEND = "suspend"
    REACTIVATE = "reactivate"
    DECOMMISSION = "decommission"
    MOVE = "move"
    """Another web node and/or database server: copy, verify, switch, archive the old copy."""
    FORGET = "forget"
    """The file of an already decommissioned hosting was removed: nothing left to do."""


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field's old and new value (None: absent on that side)."""

    field: str
    old: object
    new: object


@dataclass(frozen=True, slots=True)
class SiteChange:
    """The change of one site, with its field-level diff."""

    site: str
    action: Action
    path: str
    opd: str
    changes: tuple[FieldChange, ...] = ()
    move: Move | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form (`move` only for a move)."""
        out: dict[str, object] = {
            "site": self.site,
            "action": self.action.value,
            "path": self.path,
            "opd": self.opd,
            "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in self.changes],
        }
        if self.move is not None:
            out["move"] = {**self.move.as_dict(), "summary": self.move.describe()}
        return out


@dataclass(frozen=True, slots=True)
class Plan:
    """Every site change, sorted by site, and the size of the base fleet."""

    changes: tuple[SiteChange, ...]
    existing: int

    def count(self, *actions: Action) -> int:
        """How many changes have one of `actions`."""
        return sum(1 for c in self.changes if c.action in actions)

    @property
    def empty(self) -> bool:
        """True when nothing changes."""
        return not self.changes

    def summary(self) -> dict[str, int]:
        """Count per action (every action, zeros included)."""
        return {a.value: self.count(a) for a in Action}


def _metadata(req: Request) -> dict[str, object]:
    """Fields shown in diffs besides the desired state (no contact details: personal data)."""
    return {
        "opd.code": req.opd.code,
        "opd.name": req.opd.name,
        "letter.number": req.letter.number,
        "letter.date": req.letter.date,
        "letter.agenda": req.letter.agenda,
    }


def _fields(req: Request) -> dict[str, object]:
    return {**req.desired(), **_metadata(req)}


def diff(old: Request | None, new: Request | None) -> tuple[FieldChange, ...]:
    """Field-level differences (all fields of the present side when the other is absent)."""
    before = _fields(old) if old is not None else {}
    after = _fields(new) if new is not None else {}
    keys = list(after) if new is not None else list(before)
    return tuple(
        FieldChange(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)
    )


def _action(old: Request, new: Request) -> Action:
    if move_of(old, new) is not None:
        return Action.MOVE
    if old.status is not new.status:
        if new.status is Status.DECOMMISSIONED:
            return Action.DECOMMISSION
        if new.status is Status.SUSPENDED:
            return Action.SUSPEND
        return Action.REACTIVATE
    return Action.UPDATE


def compute_plan(base: Mapping[str, Request], new: Mapping[str, Request]) -> Plan:
    """Per site: create / update / move / suspend / reactivate / decommission / forget, with
    diffs. A move is compared as the files write the servers (the checks resolve them).

    Invalid transitions (a new site born decommissioned, a removed file of a live site) are
    findings of `checks.transition_findings`, not plan entries.
    """
    changes: list[SiteChange] = []
    for site in sorted(set(base) | set(new)):
        old, cur = base.get(site), new.get(site)
        if cur is None:
            if old is not None and old.status is Status.DECOMMISSIONED:
                changes.append(SiteChange(site, Action.FORGET, old.path, old.opd.code))
            continue
        if old is None:
            if cur.status is not Status.DECOMMISSIONED:
                changes.append(
                    SiteChange(site, Action.CREATE, cur.path, cur.opd.code, diff(None, cur))
                )
            continue
        fields = diff(old, cur)
        if not fields:
            continue
        action = _action(old, cur)
        move = move_of(old, cur) if action is Action.MOVE else None
        changes.append(SiteChange(site, action, cur.path, cur.opd.code, fields, move))
    return Plan(tuple(changes), existing=len(base))


@dataclass(frozen=True, slots=True)
class SafetyPolicy:
    """Limits above which a plan needs `--force` (octoDNS's update/delete thresholds).

    A limit is crossed when the count exceeds the absolute maximum, or (for fleets of at least
    `min_existing` sites) when its share of the existing fleet exceeds the maximum share.
    """

    max_update_share: float = 0.3
    max_decommission_share: float = 0.3
    max_updates: int = 50
    max_decommissions: int = 5
    min_existing: int = 10

    def violations(self, plan: Plan) -> list[str]:
        """Why this plan is refused without --force (empty when it is safe)."""
        out: list[str] = []
        updates = plan.count(Action.UPDATE, Action.MOVE, Action.SUSPEND, Action.REACTIVATE)
        decommissions = plan.count(Action.DECOMMISSION)
        for what, count, limit, share in (
            ("updates", updates, self.max_updates, self.max_update_share),
            ("decommissions", decommissions, self.max_decommissions, self.max_decommission_share),
        ):
            if count > limit:
                out.append(f"{count} {what} exceed the limit of {limit}")
            elif plan.existing >= self.min_existing and count > share * plan.existing:
                out.append(
                    f"{count} {what} are {count / plan.existing:.0%} of the {plan.existing} "
                    f"existing sites (limit {share:.0%})"
                )
        return out
