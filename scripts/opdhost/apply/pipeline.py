"""Apply: from the last applied state to the working tree, through the roles, verified.

One straight line: lock and applied state (opdhost.apply.state: the records, or the platform's
state node) -> review (load, validate, plan against the requests last applied; a broken
request or an unclean tree stops here, before any host is touched) -> safety guard -> work
(which nodes and which sites changed, by digest of the rendered role variables against the
applied state) ->
ansible-runner -> verification -> applied state and run record. The digests make the cost
grow with the change: a node whose variables did not change is not visited, and a visited
node's `*_only` lists name only the sites whose entries changed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opdhost.apply import moves as move_phases
from opdhost.apply.records import (
    AppliedState,
    NodeState,
    Records,
    ci_context,
    digest,
    new_run_id,
    now_iso,
)
from opdhost.apply.render import render
from opdhost.apply.runner import (
    Progress,
    RunResult,
    TaskResult,
    cancellable,
    cancelled,
    run_playbook,
)
from opdhost.apply.state import StateStore, state_store
from opdhost.apply.verify import LOGIN_TASK, Verification, db_targets, verify
from opdhost.errors import FindingsError, GitError, OpdhostError, Severity, has_errors
from opdhost.fleet import moves as fleet_moves
from opdhost.fleet.model import Request
from opdhost.fleet.plan import Action, Plan, SafetyPolicy, compute_plan
from opdhost.fleet.platform import Platform, load_platform, platform_path
from opdhost.fleet.review import Review, run_review
from opdhost.fleet.sources import working_tree

ONLY_KEYS = {
    "apache_vhost_sites": "apache_vhost_only",
    "backup_sites": "backup_only",
    "bandwidth_sites": "bandwidth_only",
    "database_sites": "database_only",
    # The zone is always rendered whole; dns_zone_only only tells the role whether the run is
    # narrowed (its node setup is then skipped once stamped). A secondary's records are empty
    # (render.py), so it always gets [] and checks its setup whenever it is visited.
    "dns_zone_records": "dns_zone_only",
}
"""Per role: its site list, and the list naming the sites a run touches (`[]` = all)."""
SITE_LISTS = ("apache_vhost_sites", "bandwidth_sites", "database_sites", "dns_zone_records")


class GuardError(OpdhostError):
    """The plan crosses the safety guard and --force was not given."""

    def __init__(self, reasons: list[str], plan: Plan) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons
        self.plan = plan


class BaseUnreadableError(OpdhostError):
    """The last applied commit cannot be read: planning against anything else would be blind."""


class DirtyTreeError(OpdhostError):
    """Uncommitted changes under requests/ or inventories/: a record would name the wrong commit."""


@dataclass(frozen=True)
class Options:
    """What the user asked for."""

    check: bool = False
    all: bool = False
    force: bool = False
    verify_wait: float = 30.0
    allow_dirty: bool = False
    base: str | None = None  # plan against this ref instead of the recorded commit


@dataclass
class Work:
    """The nodes to visit, their variables (with `*_only` set) and the sites they touch."""

    node_vars: dict[str, dict[str, Any]]
    limit: list[str]
    sites: dict[str, list[str]]  # node -> changed sites on it
    new_state: dict[str, NodeState]
    playbook: str

    @property
    def changed_sites(self) -> list[str]:
        """Every site touched on at least one node."""
        return sorted({s for sites in self.sites.values() for s in sites})


@dataclass
class SiteResult:
    """The outcome of one changed site."""

    site: str
    action: str
    result: str = "ok"  # ok | failed | not-run | check
    step: str = ""
    message: str = ""
    nodes: list[str] = field(default_factory=list)
    failed_on: set[str] = field(default_factory=set)  # nodes whose part of the site failed

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the run record."""
        return {
            "site": self.site,
            "action": self.action,
            "result": self.result,
            "nodes": self.nodes,
            "step": self.step,
            "message": self.message,
        }


@dataclass
class Outcome:
    """What one apply did; `record` is exactly what was written to the run record."""

    run_id: str
    plan: Plan
    work: Work
    sites: list[SiteResult]
    run: RunResult | None
    verification: Verification | None
    record: dict[str, Any]
    record_path: Path | None
    moves: list[dict[str, Any]] = field(default_factory=list)  # what moved where, what copied
    phases: list[dict[str, Any]] = field(default_factory=list)  # a move's runs, in order

    @property
    def drift(self) -> list[dict[str, Any]]:
        """In check mode: what would change, per site (tasks on which nodes) and per node.

        A task result whose loop item names a site of the run is that site's; any other
        changed result (a node-wide file, a service) is the node's. Empty: hosts agree.
        """
        if self.run is None:
            return []
        known = {s.site for s in self.sites}
        per: dict[tuple[str, str], set[str]] = {}
        for change in self.run.changes:
            key = ("site", change.item) if change.item in known else ("node", change.host)
            label = f"{change.host}: {change.role + ': ' if change.role else ''}{change.task}"
            per.setdefault(key, set()).add(label)
        return [{kind: name, "tasks": sorted(tasks)} for (kind, name), tasks in sorted(per.items())]

    @property
    def ok(self) -> bool:
        """Everything applied and verified (or nothing to do)."""
        return all(s.result in ("ok", "check") for s in self.sites) and (
            self.run is None or self.run.ok
        )


def _site_key(entry: dict[str, Any], var: str) -> str:
    if var == "dns_zone_records":
        return str(entry["value"] if entry.get("type") == "CNAME" else entry["name"])
    return str(entry.get("site", ""))


def node_digests(values: dict[str, Any]) -> NodeState:
    """Digest of a node's variables (without `*_only`) and of each site's entries on it."""
    body = {k: v for k, v in values.items() if k not in ONLY_KEYS.values()}
    per_site: dict[str, list[Any]] = {}
    for var in SITE_LISTS:
        for entry in values.get(var) or []:
            per_site.setdefault(_site_key(entry, var), []).append([var, entry])
    return NodeState(digest(body), {s: digest(e) for s, e in per_site.items()})


def plan_work(rendered: dict[str, dict[str, Any]], state: AppliedState, everything: bool) -> Work:
    """Which nodes to visit and which sites on each, from digests against the applied state."""
    node_vars: dict[str, dict[str, Any]] = {}
    limit: list[str] = []
    sites: dict[str, list[str]] = {}
    new_state: dict[str, NodeState] = {}
    for node, values in sorted(rendered.items()):
        now = node_digests(values)
        new_state[node] = now
        before = state.nodes.get(node)
        if not everything and before is not None and before.digest == now.digest:
            continue
        old_sites = before.sites if before is not None else {}
        changed = sorted(
            s for s in set(now.sites) | set(old_sites) if now.sites.get(s) != old_sites.get(s)
        )
        only = [] if everything or before is None else changed
        node_vars[node] = {**values, **{o: only for s, o in ONLY_KEYS.items() if s in values}}
        limit.append(node)
        sites[node] = changed if not everything else sorted(now.sites)
    first = not state.nodes
    return Work(
        node_vars, limit, sites, new_state, "site.yml" if everything or first else "apply.yml"
    )


@dataclass
class _Context:
    """Everything one apply carries from the review to the record."""

    root: Path
    inventory: Path
    records: Records
    platform: Platform
    state: AppliedState
    options: Options
    on_progress: Callable[[Progress], None] | None
    guard: list[str]
    commit: str  # HEAD: what this run applies
    dirty: list[str]  # uncommitted paths under requests/ and inventories/ (allowed on request)
    base: str | None  # the commit the plan compared with (None: nothing applied before)
    store: StateStore  # where the applied state lives (records, or the platform's state node)

    def snapshot(self) -> dict[str, str]:
        """The request files this run applies (the working tree: committed, or allowed dirty)."""
        return {f.path: f.data.decode("utf-8") for f in working_tree(self.root)[0]}


TRACKED_FOR_APPLY = ("requests", "inventories")
"""What an apply takes from the working tree: uncommitted changes there are refused."""


def _git_head(root: Path) -> tuple[str, list[str]]:
    """HEAD's commit and the uncommitted paths under requests/ and inventories/.

    Outside a git work tree the commit is empty and the whole tree counts as uncommitted.
    """
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--verify", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "-z", "--", *TRACKED_FOR_APPLY],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "", ["(not a git repository with a commit)"]
    return head, [entry[3:] for entry in status.split("\0") if len(entry) > 3]


def check_clean(dirty: list[str], options: Options) -> None:
    """Refuse to apply uncommitted changes (the record names a commit: it must be the truth)."""
    if not dirty or options.check or options.allow_dirty:
        return
    shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
    raise DirtyTreeError(
        f"uncommitted changes under requests/ or inventories/: {shown}; an apply records the "
        "commit it applied, so commit (or remove) them first; on the lab only, "
        "--allow-dirty applies the working tree as it is and records it as dirty"
    )


def review(root: Path, platform: Platform, state: AppliedState, base: str | None = None) -> Review:
    """Validate the working tree and plan it against what was last applied.

    The applied state keeps a copy of the request files it was applied from: the plan compares
    with that copy, so a fresh shallow clone with no history plans right. A state without the
    copy (written before it was kept) is compared with its commit from git. `base` replaces both
    (history rewritten on purpose (history rewritten on purpose: name the commit that
    holds what is applied). With no complete apply recorded yet, everything is planned as new.
    Raises BaseUnreadableError when the commit to compare with cannot be read: never a silent
    fallback, which would switch off the safety guard and the transition checks.
    """
    if base is None and state.requests is not None:
        files = {path: text.encode() for path, text in state.requests.items()}
        label = f"applied {state.commit[:12]}" if state.commit else "applied state"
        return run_review(root, platform, base_files=files, base_label=label)
    ref = base or state.commit
    if ref:
        try:
            return run_review(root, platform, ref)
        except GitError as exc:
            shown = ref if base else f"the last applied commit {ref[:12]}"
            raise BaseUnreadableError(
                f"cannot read {shown} ({exc}): the plan, the safety guard and the transition "
                "checks need it. In a shallow clone run `git fetch --unshallow` (or fetch that "
                "commit); if history was rewritten on purpose, pass --base REF naming the "
                "commit whose requests are what is applied now"
            ) from exc
    result = run_review(root, platform, None)
    result.plan = compute_plan({}, result.fleet.by_site())
    return result


def _attribute(
    plan: Plan, work: Work, run: RunResult | None, verification: Verification | None, check: bool
) -> list[SiteResult]:
    actions = {c.site: c.action.value for c in plan.changes}
    by_site: dict[str, SiteResult] = {}
    for node, names in work.sites.items():
        for s in names:
            res = by_site.setdefault(s, SiteResult(s, actions.get(s, "converge")))
            res.nodes.append(node)
            if check:
                res.result = "check"
    for c in plan.changes:
        if c.action is not Action.FORGET and c.site not in by_site:
            by_site[c.site] = SiteResult(c.site, c.action.value, "ok", "", "nothing to do on hosts")
    if run is not None:
        _apply_failures(by_site, work, run)
    if verification is not None:
        for s, checks in verification.failed_sites().items():
            failed = by_site.get(s)
            if failed is not None and failed.result == "ok":
                failed.result = "failed"
                failed.failed_on = set(failed.nodes)
                failed.step = "verify: " + ", ".join(c.what for c in checks)
                failed.message = "; ".join(c.detail for c in checks)
    return [by_site[s] for s in sorted(by_site)]


def _apply_failures(by_site: dict[str, SiteResult], work: Work, run: RunResult) -> None:
    def fail(res: SiteResult, f: TaskResult) -> None:
        res.failed_on.add(f.host)
        if res.result == "failed":
            return
        res.result = "failed"
        role = f"{f.role}: " if f.role else ""
        res.step = f"{f.host}: {role}{f.task}" + (" (unreachable)" if f.unreachable else "")
        res.message = f.message

    for f in run.failures:
        named = by_site.get(f.item) if f.item else None
        if named is not None:
            fail(named, f)
            continue
        for s in work.sites.get(f.host, []):
            if s in by_site:
                fail(by_site[s], f)
    if run.status != "successful" and not run.failures:
        for res in by_site.values():
            if res.result == "ok" and res.nodes:
                res.result = "not-run"
                res.step = f"run {run.status}"
                res.failed_on = set(res.nodes)


def _new_state(
    state: AppliedState,
    work: Work,
    sites: list[SiteResult],
    run: RunResult,
    commit: str,
    *,
    requests: dict[str, str] | None = None,
) -> AppliedState:
    """Advance the applied state only where the run and the verification succeeded.

    A node advances when it finished and none of its touched sites failed there; a site's
    digest on a node advances unless the site failed on that node (or its checks failed).
    """
    bad = {s.site for s in sites if s.result != "ok"}
    done_hosts = set(run.stats.get("processed", {})) - run.failed_hosts
    if run.status == "canceled":
        done_hosts = set()
    nodes = dict(state.nodes)
    for node in work.limit:
        if node not in done_hosts:
            continue
        now = work.new_state[node]
        before = state.nodes.get(node, NodeState())
        bad_here = {s.site for s in sites if node in s.failed_on}
        merged = {
            s: (before.sites.get(s, "") if s in bad_here else d) for s, d in now.sites.items()
        }
        node_ok = not (bad_here & set(work.sites.get(node, [])))
        nodes[node] = NodeState(
            now.digest if node_ok else before.digest, {s: d for s, d in merged.items() if d}
        )
    complete = not bad and run.ok and set(work.limit) <= done_hosts
    if complete:
        return AppliedState(commit, now_iso(), nodes, requests, dict(state.moves))
    return AppliedState(state.commit, now_iso(), nodes, state.requests, dict(state.moves))


def apply(
    root: Path,
    inventory_dir: Path,
    *,
    records_root: Path,
    options: Options,
    on_progress: Callable[[Progress], None] | None = None,
    on_plan: Callable[[Plan, Work], None] | None = None,
) -> Outcome:
    """The whole apply. Raises FindingsError (invalid requests), GuardError, LockedError."""
    platform = load_platform(platform_path(root, inventory=inventory_dir))
    inventory = inventory_dir / "hosts.yml"
    records = Records(records_root, platform.environment)
    store = state_store(platform, inventory, records)
    with store.lock():
        state = store.load()
        rev = review(root, platform, state, options.base)
        if has_errors(rev.findings):
            raise FindingsError([f for f in rev.findings if f.severity is Severity.ERROR])
        commit, dirty = _git_head(root)
        check_clean(dirty, options)
        plan = rev.plan
        assert plan is not None  # review() always plans
        reasons = SafetyPolicy().violations(plan)
        if reasons and not options.force:
            raise GuardError(reasons, plan)
        requests = rev.fleet.requests
        base = rev.base.by_site() if rev.base is not None else {}
        moving = fleet_moves.moves(base, rev.fleet.by_site(), platform)
        move_phases.check_progress(state, moving)
        if moving and not options.check:
            phases = {
                s: move_phases.SWITCH
                if state.moves.get(s, {}).get("phase") == move_phases.COPIED
                else move_phases.PREPARE
                for s in moving
            }
            first = move_phases.phase_vars(requests, base, moving, phases, platform)
            work = plan_work(first.nodes, state, options.all)
        else:
            work = plan_work(render(requests, platform).nodes, state, options.all)
        if on_plan is not None:
            on_plan(plan, work)
        ctx = _Context(
            root,
            inventory,
            records,
            platform,
            state,
            options,
            on_progress,
            reasons,
            commit,
            dirty,
            rev.base_commit,
            store,
        )
        with cancellable():
            if moving and not options.check:
                return _execute_moves(ctx, plan, work, requests, _Moves(base, moving, phases))
            return _execute(ctx, plan, work, requests)


def _execute(ctx: _Context, plan: Plan, work: Work, requests: list[Request]) -> Outcome:
    run_id = new_run_id()
    started = now_iso()
    commit = ctx.commit
    artifacts = ctx.records.artifacts()
    run: RunResult | None = None
    verification: Verification | None = None
    if work.limit:
        progress_key = f"{work.playbook}:{','.join(work.limit)}:{len(work.changed_sites)}"
        # The run's last play does verification's database check of the touched sites (the
        # logins of any site it did not reach are checked by verify() itself).
        changed = set(work.changed_sites)
        touched = [r for r in requests if r.site in changed]
        checks = (
            {} if ctx.options.check else {"opdhost_verify_db": db_targets(touched, ctx.platform)}
        )
        run = run_playbook(
            work.playbook,
            ctx.inventory,
            node_vars=work.node_vars,
            extravars=checks,
            limit=work.limit,
            check=ctx.options.check,
            artifacts=artifacts,
            ident=run_id,
            expected=ctx.records.expected_results(progress_key),
            on_progress=ctx.on_progress,
            capture=frozenset({LOGIN_TASK}),
        )
        if cancelled():
            run.status = "canceled"  # a signal after Ansible ended: record nothing as applied
        if run.status == "successful":
            ctx.records.save_results(progress_key, run.results)
    sites = _attribute(plan, work, run, None, ctx.options.check)
    if run is not None and not ctx.options.check and run.status != "canceled" and not cancelled():
        # Verify every touched site the run did not already fail (a partial run too).
        fine = {s.site for s in sites if s.result == "ok" and s.nodes}
        verification = verify(
            [r for r in requests if r.site in fine],
            ctx.platform,
            ctx.inventory,
            artifacts=artifacts,
            ident=f"{run_id}-verify",
            wait=ctx.options.verify_wait,
            reported=run,
        )
        sites = _attribute(plan, work, run, verification, ctx.options.check)
    if not ctx.options.check:
        if run is not None:
            ctx.store.save(_new_state(ctx.state, work, sites, run, commit, requests=ctx.snapshot()))
        elif commit != ctx.state.commit or ctx.state.requests is None:
            ctx.store.save(
                AppliedState(
                    commit, now_iso(), ctx.state.nodes, ctx.snapshot(), dict(ctx.state.moves)
                )
            )
    outcome = Outcome(run_id, plan, work, sites, run, verification, {}, None)
    outcome.record = _record(ctx, outcome, started)
    outcome.record_path = ctx.records.save_run(run_id, outcome.record)
    return outcome


def _record(ctx: _Context, o: Outcome, started: str) -> dict[str, Any]:
    """The run record: who, when, what was planned and what happened per site; no secret."""
    options = ctx.options
    mode = "check" if options.check else ("all" if options.all else "apply")
    result = "ok" if o.ok else ("canceled" if o.run and o.run.status == "canceled" else "failed")
    ansible = None
    if o.run is not None:
        ansible = {
            "playbook": o.run.playbook,
            "status": o.run.status,
            "seconds": round(o.run.seconds, 1),
            "artifact_dir": o.run.artifact_dir,
            "stats": o.run.stats,
            "module_cache": o.run.module_cache,
        }
    checks = None
    if o.verification is not None:
        db_run = o.verification.db_run
        checks = {
            "ok": o.verification.ok,
            "seconds": round(o.verification.seconds, 1),
            "checks": [c.__dict__ for c in o.verification.checks],
            "db_artifact_dir": db_run.artifact_dir if db_run else None,
        }
    return {
        "run_id": o.run_id,
        "environment": ctx.platform.environment,
        "inventory": str(ctx.inventory),
        "mode": mode,
        "commit": ctx.commit,
        "base": ctx.base,
        "dirty": bool(ctx.dirty),
        "dirty_paths": ctx.dirty[:50],
        "allow_dirty": options.allow_dirty,
        **ci_context(),
        "guard": ctx.guard,
        "forced": bool(ctx.guard) and options.force,
        "started": started,
        "ended": now_iso(),
        "result": result,
        "plan_summary": o.plan.summary(),
        "plan": [c.as_dict() for c in o.plan.changes],
        "nodes": sorted({n for p in o.phases for n in p["nodes"]}) if o.phases else o.work.limit,
        "sites": [s.as_dict() for s in o.sites],
        "ansible": ansible,
        "verification": checks,
        "drift": o.drift if options.check else None,
        "database_quota": _database_quota(o.run),
        **({"moves": o.moves, "phases": o.phases} if o.phases else {}),
    }


def _database_quota(run: RunResult | None) -> dict[str, Any] | None:
    """Each database's use against its quota as the run's database nodes found it (the
    database role's quota step, docs/usage.md); None when no database node ran."""
    from opdhost.usage.collect import quota_of_run  # noqa: PLC0415 - records only

    return None if run is None else quota_of_run(Path(run.artifact_dir))


@dataclass
class _Moves:
    """The moves of one apply: the base requests, each move, and the phase it starts in."""

    base: dict[str, Request]
    moving: dict[str, fleet_moves.Move]
    phases: dict[str, str]  # site -> prepare (to copy) | switch (copied before: resume)


def _phase(name: str, run: RunResult, nodes: list[str]) -> dict[str, Any]:
    return {
        "phase": name,
        "playbook": run.playbook,
        "status": run.status,
        "seconds": round(run.seconds, 1),
        "nodes": nodes,
        "artifact_dir": run.artifact_dir,
    }


def _held(new: AppliedState, old: AppliedState) -> AppliedState:
    """`new`'s nodes and moves, `old`'s commit and request copy: a move's prepare and copy
    never complete an apply (the plan must still see the move until it switched)."""
    return AppliedState(old.commit, new.applied_at, new.nodes, old.requests, dict(new.moves))


def _execute_moves(  # noqa: PLR0915 - the three runs of a move, in order, in one place
    ctx: _Context, plan: Plan, work: Work, requests: list[Request], mv: _Moves
) -> Outcome:
    """prepare -> copy + verify (recorded as copied) -> switch + verify (opdhost.apply.moves)."""
    run_id = new_run_id()
    started = now_iso()
    artifacts = ctx.records.artifacts()
    state = ctx.state
    phases: list[dict[str, Any]] = []
    to_copy = {s: m for s, m in mv.moving.items() if mv.phases[s] == move_phases.PREPARE}
    resumed = {s: dict(state.moves[s]) for s in mv.moving if s not in to_copy}
    copies: dict[str, dict[str, Any]] = {  # what was copied, for the record (kept past the end)
        s: {k: v for k, v in entry.items() if k in ("at", "files", "database")}
        for s, entry in resumed.items()
    }

    def finish(
        last: Work, run: RunResult | None, sites: list[SiteResult], checked: Verification | None
    ) -> Outcome:
        report = [
            {
                **mv.moving[s].as_dict(),
                "summary": mv.moving[s].describe(),
                "resumed": f"copied and verified at {resumed[s].get('at')} by run "
                f"{resumed[s].get('run_id')}"
                if s in resumed
                else None,
                "copy": copies.get(s),
                "finished": s not in state.moves
                and any(r.site == s and r.result == "ok" for r in sites),
            }
            for s in sorted(mv.moving)
        ]
        outcome = Outcome(run_id, plan, last, sites, run, checked, {}, None, report, phases)
        outcome.record = _record(ctx, outcome, started)
        outcome.record_path = ctx.records.save_run(run_id, outcome.record)
        return outcome

    def run(phase: str, w: Work) -> RunResult:
        key = f"{phase}:{w.playbook}:{','.join(w.limit)}:{len(w.changed_sites)}"
        result = run_playbook(
            w.playbook,
            ctx.inventory,
            node_vars=w.node_vars,
            limit=w.limit,
            artifacts=artifacts,
            ident=f"{run_id}-{phase}",
            expected=ctx.records.expected_results(key),
            on_progress=ctx.on_progress,
        )
        if cancelled():
            result.status = "canceled"
        elif result.status == "successful":
            ctx.records.save_results(key, result.results)
        phases.append(_phase(phase, result, w.limit))
        return result

    if to_copy:
        sites = _attribute(plan, Work({}, [], {}, {}, "move.yml"), None, None, False)
        if work.limit:
            prepared = run(move_phases.PREPARE, work)
            sites = _attribute(plan, work, prepared, None, False)
            state = _held(_new_state(state, work, sites, prepared, ctx.commit), ctx.state)
            ctx.store.save(state)
            if not prepared.ok or prepared.status == "canceled":
                for res in sites:
                    if res.site in to_copy and res.result == "ok":
                        res.result, res.step = "not-run", "move: prepare failed on another site"
                return finish(work, prepared, sites, None)
        copied, report = _copy(ctx, to_copy, requests, run_id, artifacts)
        phases.append(_phase("copy", copied, move_phases.copy_nodes(to_copy)))
        if not copied.ok or cancelled():
            for res in sites:
                if res.site in to_copy:
                    res.result = "failed" if copied.status != "canceled" else "not-run"
                    failure = next((f for f in copied.failures if f.item == res.site), None)
                    failure = failure or (copied.failures[0] if copied.failures else None)
                    res.step = "move: copy and verify" + (
                        f" ({failure.host}: {failure.task})" if failure else f" ({copied.status})"
                    )
                    res.message = (failure.message if failure else "") + (
                        "; nothing switched: the site still runs at its old place"
                    )
                    res.nodes = move_phases.copy_nodes({res.site: to_copy[res.site]})
            return finish(work, copied, sites, None)
        for s, m in to_copy.items():
            copies[s] = {"at": now_iso(), **report.get(s, {})}
            state.moves[s] = {
                "phase": move_phases.COPIED,
                "run_id": run_id,
                "move": m.as_dict(),
                **copies[s],
            }
        ctx.store.save(state)
    final = move_phases.phase_vars(
        requests, mv.base, mv.moving, dict.fromkeys(mv.moving, move_phases.SWITCH), ctx.platform
    )
    last = plan_work(final.nodes, state, ctx.options.all)
    switched = run(move_phases.SWITCH, last) if last.limit else None
    sites = _attribute(plan, last, switched, None, False)
    verification: Verification | None = None
    if switched is not None and switched.status != "canceled":
        fine = {s.site for s in sites if s.result == "ok" and s.nodes}
        verification = verify(
            [r for r in requests if r.site in fine],
            ctx.platform,
            ctx.inventory,
            artifacts=artifacts,
            ident=f"{run_id}-verify",
            wait=ctx.options.verify_wait,
        )
        sites = _attribute(plan, last, switched, verification, False)
    if switched is None:
        new = AppliedState(ctx.commit, now_iso(), state.nodes, ctx.snapshot(), dict(state.moves))
    else:
        new = _new_state(state, last, sites, switched, ctx.commit, requests=ctx.snapshot())
    if new.commit == ctx.commit:  # complete: every site switched and verified
        normal = render(requests, ctx.platform).nodes
        for s, m in mv.moving.items():
            new.moves.pop(s, None)
            # the old place holds nothing of the site any more: record it as the normal render
            # says, so the next apply does not visit it to forget the decommissioned entry
            for node in (m.web_from if m.web else "", m.db_from if m.db else ""):
                if node and node in normal:
                    new.nodes[node] = node_digests(normal[node])
    state = new
    ctx.store.save(new)
    return finish(last, switched, sites, verification)


def _copy(
    ctx: _Context,
    to_copy: dict[str, fleet_moves.Move],
    requests: list[Request],
    run_id: str,
    artifacts: Path,
) -> tuple[RunResult, dict[str, dict[str, Any]]]:
    """playbooks/move.yml through a root-only transfer directory on the controller."""
    transfer = Path(tempfile.mkdtemp(prefix="opdhost-move-"))
    try:
        result = run_playbook(
            "move.yml",
            ctx.inventory,
            extravars=move_phases.copy_vars(to_copy, requests, transfer),
            limit=move_phases.copy_nodes(to_copy),
            artifacts=artifacts,
            ident=f"{run_id}-copy",
            on_progress=ctx.on_progress,
        )
    finally:
        shutil.rmtree(transfer, ignore_errors=True)
    if cancelled():
        result.status = "canceled"
    return result, move_phases.copy_report(Path(result.artifact_dir))
