"""`opdhost restore SITE --at WHEN`: one site's files and/or database, entered in the log.

A restore touches its own site only: the snapshots are selected by the site's tag on the node
that holds that part, and the node restores into a staging place first, where restic checks
every blob against its checksum, so a corrupted backup stops before the live site changes.
Whatever the live site held is kept aside on the node (nothing is lost by a restore). Every
restore, live or beside, is entered in the maintenance log (opdhost.documents.maintenance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opdhost.backup.jobs import snapshots
from opdhost.backup.layout import Part
from opdhost.backup.remote import Call
from opdhost.backup.when import At, pick


@dataclass(frozen=True, slots=True)
class Restored:
    """What one part's restore did, as the node says."""

    part: Part
    snapshot: str
    time: str
    answer: dict[str, Any]

    def note(self, beside: bool) -> str:
        """The maintenance log's line for it (no secret: paths and ids only)."""
        where = f"beside the site at {self.answer.get('path', '?')}" if beside else "live"
        kept = self.answer.get("previous")
        tail = f"; what it replaced is kept on {self.part.node} at {kept}" if kept else ""
        return (
            f"restore of the {self.part.kind} from backup {self.snapshot} of {self.time} UTC "
            f"({where}, {self.part.node}){tail}"
        )


def restore(
    call: Call,
    found: list[Part],
    at: At,
    beside: bool,
    log: Callable[[str], object],
) -> list[Restored]:
    """Pick every part's snapshot first (all or nothing is restored), then restore each."""
    listed = snapshots(call, found)
    plan = []
    for part in found:
        mine = [s for s in listed if s.kind == part.kind and s.node == part.node]
        plan.append((part, pick(mine, at, f"{part.site} {part.kind}")))
    done = []
    for part, snap in plan:
        args = ["restore", part.site, "--snapshot", snap.id] + (["--beside"] if beside else [])
        answer = call(part.node, args)
        result = Restored(part, snap.id, snap.time.strftime("%Y-%m-%d %H:%M:%S"), answer)
        log(result.note(beside))
        done.append(result)
    return done


def restore_archive(
    call: Call,
    found: list[tuple[Part, str]],
    old: str,
    log: Callable[[str], object],
) -> list[dict[str, Any]]:
    """The decommissioned site `old`'s newest archive on the target into each part of a site.

    The node checks the archive against the sha256 recorded at decommission before using it;
    files land beside the new site's own, the database is loaded (its state before is kept).
    """
    done = []
    for part, old_user in found:
        args = ["from-archive", part.site, "--from", old, "--old-user", old_user]
        answer = dict(call(part.node, args))
        where = answer.get("path") or answer.get("database") or ""
        log(
            f"restore of the {part.kind} of decommissioned {old} from its archive "
            f"{answer.get('archive', '?')} (backup {answer.get('snapshot', '?')}) into "
            f"{where} on {part.node}"
        )
        done.append(answer)
    return done
