"""Run one playbook through `ansible_runner.run()` and turn its event stream into results.

The only place Ansible is started. Events feed a progress callback (current play, host and
task, results done against the number the previous run of the same playbook produced) and are
folded into what apply needs: failures by host, task and site (the loop label), per-host stats,
and the artifact directory. Nothing is printed here; the CLI renders the progress.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import ansible_runner

from opdhost.apply import module_cache
from opdhost.errors import OpdhostError

PLAYBOOK_DIR = Path(__file__).resolve().parents[3] / "playbooks"  # scripts/opdhost/apply/
REPO = PLAYBOOK_DIR.parent
_RESULT_EVENTS = {
    "runner_on_ok",
    "runner_on_failed",
    "runner_on_skipped",
    "runner_on_unreachable",
}
_MESSAGE_MAX = 400


class RunnerError(OpdhostError):
    """Ansible could not be started at all (bad playbook path, runner crash)."""


@dataclass(frozen=True)
class Progress:
    """One step of the progress display."""

    play: str
    host: str
    task: str
    done: int
    expected: int  # 0 when unknown (first run of this playbook)


@dataclass(frozen=True)
class TaskResult:
    """One per-host (or per-item) result that apply and verify care about."""

    host: str
    task: str
    role: str
    item: str  # the loop label (a site name in opdhost's roles), '' when not a loop
    failed: bool
    unreachable: bool
    message: str


@dataclass
class RunResult:
    """What one ansible-runner run did."""

    playbook: str
    status: str  # successful | failed | canceled | timeout
    rc: int
    seconds: float
    artifact_dir: str
    failures: list[TaskResult] = field(default_factory=list)
    items: list[TaskResult] = field(default_factory=list)
    diffs: list[tuple[str, str, str]] = field(default_factory=list)  # (host, task, diff text)
    changes: list[TaskResult] = field(default_factory=list)  # every changed (or would-change)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    results: int = 0
    module_cache: str = ""  # the keyed payload directory, or "off: <why>" (module_cache.py)
    # The result of each `capture` task, by task and host (no_log results are never kept).
    captured: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    @property
    def failed_hosts(self) -> set[str]:
        """Hosts with a failed task or unreachable."""
        return {f.host for f in self.failures}

    @property
    def ok(self) -> bool:
        """The run finished and nothing failed."""
        return self.status == "successful" and not self.failures


def _message(res: dict[str, Any]) -> str:
    if res.get("censored"):
        return "output hidden (no_log)"
    parts = [str(res.get("msg") or "").strip()]
    for key in ("stderr", "module_stderr"):
        text = str(res.get(key) or "").strip()
        if text and text not in parts[0]:
            parts.append(text.splitlines()[-1])
    msg = " | ".join(p for p in parts if p) or "failed"
    return msg if len(msg) <= _MESSAGE_MAX else msg[: _MESSAGE_MAX - 3] + "..."


_KEY_REFUSED = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED")
_KEY_CHANGED = re.compile(r"REMOTE HOST IDENTIFICATION HAS CHANGED|Offending \S+ key in ")
_OFFENDING_FILE = re.compile(r"Offending \S+ key in (\S+?):\d+")


def _shown_path(path: Path) -> str:
    """A path relative to the current directory when it is under it (not /), else absolute."""
    cwd = Path.cwd().resolve()
    if cwd == Path(cwd.anchor):
        return str(path)
    try:
        return str(path.resolve().relative_to(cwd))
    except ValueError:
        return str(path)


def host_key_message(host: str, ssh_message: str, inventory: Path | None) -> str | None:
    """The message for a host SSH refused on its host key, None for any other failure.

    A key that differs from the pinned one and a key that is not pinned at all both stop the
    connection before anything runs; the message names the host and the known_hosts file.
    """
    if not any(marker in ssh_message for marker in _KEY_REFUSED):
        return None
    offending = _OFFENDING_FILE.search(ssh_message)
    if offending:
        known = _shown_path(Path(offending.group(1)))
    elif inventory is not None:
        known = _shown_path(inventory.parent / "known_hosts")
    else:
        known = "the inventory's known_hosts"
    if _KEY_CHANGED.search(ssh_message):
        return (
            f"{host}: the SSH host key does not match {known}: if the server was reinstalled, "
            f"verify its new key out of band and replace the line; nothing was changed on {host}"
        )
    return (
        f"{host}: the SSH host key is not pinned in {known}: add it (ssh-keyscan, then verify "
        f"the fingerprint out of band, see the top of that file); nothing was changed on {host}"
    )


def _item_label(res: dict[str, Any]) -> str:
    label = res.get("_ansible_item_label", res.get("item", ""))
    if isinstance(label, dict):
        label = label.get("site", "")
    return str(label) if isinstance(label, str | int) else ""


def diff_text(diff: object) -> str:
    """A unified diff from Ansible's `diff` result (a dict or a list of them)."""
    parts = diff if isinstance(diff, list) else [diff]
    out: list[str] = []
    for d in parts:
        if not isinstance(d, dict):
            continue
        if d.get("prepared"):
            out.append(str(d["prepared"]).rstrip("\n"))
            continue
        before, after = d.get("before", ""), d.get("after", "")
        if not isinstance(before, str) or not isinstance(after, str) or before == after:
            continue
        out.extend(
            line.rstrip("\n")
            for line in difflib.unified_diff(
                before.splitlines(keepends=True),
                after.splitlines(keepends=True),
                str(d.get("before_header", "before")),
                str(d.get("after_header", "after")),
            )
        )
    return "\n".join(out)


class _Collector:
    """The event handler: folds ansible-runner events into a RunResult and reports progress."""

    def __init__(
        self,
        result: RunResult,
        expected: int,
        on_progress: Callable[[Progress], None],
        inventory: Path | None = None,
        capture: frozenset[str] = frozenset(),
    ):
        self.result = result
        self.inventory = inventory
        self.capture = capture
        self.expected = expected
        self.on_progress = on_progress
        self.play = ""

    def __call__(self, event: dict[str, Any]) -> bool:
        kind = str(event.get("event", ""))
        data = event.get("event_data") or {}
        if kind == "playbook_on_play_start":
            self.play = str(data.get("play", ""))
        elif kind == "runner_on_start":
            self._progress(data)
        elif kind in _RESULT_EVENTS:
            self.result.results += 1
            self._record(kind, data)
            self._capture(kind, data)
            self._progress(data)
        elif kind in ("runner_item_on_ok", "runner_item_on_failed"):
            self._record_item(kind, data)
        if kind in ("runner_on_ok", "runner_item_on_ok"):
            self._record_diff(data)
            self._record_change(kind, data)
        return True

    def _capture(self, kind: str, data: dict[str, Any]) -> None:
        task = str(data.get("task", ""))
        res = data.get("res")
        if task not in self.capture or kind == "runner_on_skipped" or not isinstance(res, dict):
            return
        if res.get("censored"):
            return  # no_log: nothing of it leaves Ansible
        self.result.captured.setdefault(task, {})[str(data.get("host", ""))] = res

    def _record_change(self, kind: str, data: dict[str, Any]) -> None:
        """A result that changed something (in check mode: would have): drift, per site."""
        res = data.get("res") or {}
        if not res.get("changed") or (kind == "runner_on_ok" and res.get("results")):
            return  # a loop's summary: its items were recorded one by one
        host, task, role = self._base(data)
        self.result.changes.append(
            TaskResult(host, task, role, _item_label(res), False, False, "")
        )

    def _record_diff(self, data: dict[str, Any]) -> None:
        res = data.get("res") or {}
        if not res.get("changed") or res.get("results"):
            return
        text = diff_text(res.get("diff"))
        if text:
            host, task, _role = self._base(data)
            label = _item_label(res)
            self.result.diffs.append((host, f"{task} ({label})" if label else task, text))

    def _progress(self, data: dict[str, Any]) -> None:
        self.on_progress(
            Progress(
                self.play,
                str(data.get("host", "")),
                str(data.get("task", "")),
                self.result.results,
                self.expected,
            )
        )

    def _base(self, data: dict[str, Any]) -> tuple[str, str, str]:
        return str(data.get("host", "")), str(data.get("task", "")), str(data.get("role", ""))

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        if kind not in ("runner_on_failed", "runner_on_unreachable") or data.get("ignore_errors"):
            return
        res = data.get("res") or {}
        host, task, role = self._base(data)
        failed_items = [
            r for r in res.get("results", []) if isinstance(r, dict) and r.get("failed")
        ]
        if failed_items:
            for item in failed_items:
                self.result.failures.append(
                    TaskResult(host, task, role, _item_label(item), True, False, _message(item))
                )
            return
        unreachable = kind == "runner_on_unreachable"
        message = _message(res)
        if unreachable:
            message = host_key_message(host, str(res.get("msg") or ""), self.inventory) or message
        self.result.failures.append(
            TaskResult(host, task, role, _item_label(res), True, unreachable, message)
        )

    def _record_item(self, kind: str, data: dict[str, Any]) -> None:
        res = data.get("res") or {}
        host, task, role = self._base(data)
        failed = kind == "runner_item_on_failed"
        self.result.items.append(
            TaskResult(host, task, role, _item_label(res), failed, False, _message(res))
        )


_CANCELLED = threading.Event()
_DEPTH: list[int] = []  # open cancellable() blocks


@contextmanager
def cancellable() -> Iterator[Callable[[], bool]]:
    """SIGTERM/SIGINT cancel cleanly (Ansible stopped, results kept) instead of killing.

    apply holds it over the whole run and verification, so a signal at any moment leaves a
    run record saying `canceled`; the returned callable tells whether a signal came.
    """
    _CANCELLED.clear()
    _DEPTH.append(1)

    def handler(signum: int, frame: FrameType | None) -> None:
        _CANCELLED.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield _CANCELLED.is_set
    finally:
        _DEPTH.pop()
        for s, h in previous.items():
            signal.signal(s, h)


def cancelled() -> bool:
    """A cancelling signal arrived during the current `cancellable()` block."""
    return _CANCELLED.is_set()


def run_playbook(
    playbook: str,
    inventory: Path,
    *,
    node_vars: dict[str, dict[str, Any]] | None = None,
    extravars: dict[str, Any] | None = None,
    limit: list[str] | None = None,
    check: bool = False,
    artifacts: Path,
    ident: str,
    expected: int = 0,
    on_progress: Callable[[Progress], None] | None = None,
    capture: frozenset[str] = frozenset(),
) -> RunResult:
    """Run playbooks/<playbook> on the inventory; node_vars become each node's host variables.

    The node variables are written as `host_vars/<node>.json` beside a second, empty inventory
    source (`nodes.yml`, after the given one, so its host variables take precedence over the
    inventory's own). Ansible's host_group_vars plugin parses each file once per run; a play's
    `vars_files` entry would be parsed again for every task of every node (ansible-core 2.19
    caches only vaulted vars files), which at 500 sites cost the controller more than half its
    time (docs/benchmarks.md, issue 16).
    The files and extra vars live in a private data dir that is deleted after the run; only the
    artifact directory (events, stdout, no variables) is kept under `artifacts`.
    The whole result of the tasks named in `capture` (ok or failed, per host) is kept in
    `captured`: for results a caller reads itself (verification's database logins).
    """
    if not (PLAYBOOK_DIR / playbook).is_file():
        raise RunnerError(f"no playbook {PLAYBOOK_DIR / playbook}")
    artifacts.mkdir(parents=True, exist_ok=True)
    result = RunResult(playbook, "failed", 1, 0.0, str(artifacts / ident))
    collector = _Collector(result, expected, on_progress or (lambda _p: None), inventory, capture)
    private = Path(tempfile.mkdtemp(prefix="opdhost-run-"))
    cache = module_cache.prepare(REPO)
    result.module_cache = str(cache.directory) if cache.directory else f"off: {cache.why_not}"
    try:
        inventories = [str(inventory.resolve()), _node_inventory(private / "nodes", node_vars)]
        cmdline = "--check --diff" if check else "--diff"
        start = time.monotonic()
        with _outer_or_own_cancel() as is_cancelled:
            runner = ansible_runner.run(
                private_data_dir=str(private),
                project_dir=str(PLAYBOOK_DIR),
                playbook=playbook,
                inventory=inventories,
                extravars=extravars or {},
                limit=",".join(limit) if limit else None,
                cmdline=cmdline,
                envvars={
                    "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                    # ansible-runner turns host key checking off unless told otherwise; Ansible
                    # then passes StrictHostKeyChecking=no before the inventory's own options,
                    # and ssh takes the first: a changed key would only warn. The inventory
                    # decides (the lab turns it off for its own nodes).
                    "ANSIBLE_HOST_KEY_CHECKING": "True",
                    "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
                    "ANSIBLE_NOCOLOR": "1",
                    "PATH": _search_path(),
                    **_module_cache_env(cache),
                },
                settings={"pexpect_timeout": 1, "suppress_ansible_output": True},
                artifact_dir=str(artifacts),
                ident=ident,
                quiet=True,
                event_handler=collector,
                cancel_callback=is_cancelled,
            )
        result.seconds = time.monotonic() - start
        result.status = str(runner.status)
        result.rc = int(runner.rc if runner.rc is not None else 1)
        result.stats = {k: dict(v) for k, v in (runner.stats or {}).items()}
        _scrub(Path(result.artifact_dir))
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return result


def _module_cache_env(cache: module_cache.ModuleCache) -> dict[str, str]:
    """The callback that links the run's module payloads to the keyed cache, when there is one."""
    if cache.directory is None:
        return {}
    return {
        "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "plugins" / "callback"),
        "ANSIBLE_CALLBACKS_ENABLED": module_cache.CALLBACK,
        module_cache.CALLBACK_ENV: str(cache.directory),
    }


def _node_inventory(directory: Path, node_vars: dict[str, dict[str, Any]] | None) -> str:
    """An inventory source that adds no host, with each node's variables in host_vars/."""
    host_vars = directory / "host_vars"
    host_vars.mkdir(parents=True, mode=0o700)
    for node, values in (node_vars or {}).items():
        (host_vars / f"{node}.json").write_text(json.dumps(values), encoding="utf-8")
    source = directory / "nodes.yml"
    source.write_text(
        "# opdhost: no hosts; the rendered variables of the nodes are in host_vars/.\nall: {}\n",
        encoding="utf-8",
    )
    return str(source)


@contextmanager
def _outer_or_own_cancel() -> Iterator[Callable[[], bool]]:
    """Reuse the caller's cancellable() block, or open one for this run alone."""
    if _DEPTH:
        yield _CANCELLED.is_set
        return
    with cancellable() as is_cancelled:
        yield is_cancelled


def _search_path() -> str:
    """PATH with this Python environment's bin first (the venv need not be activated)."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def _scrub(artifact_dir: Path) -> None:
    """Drop the copy of the command line and env ansible-runner keeps (vars paths, no value)."""
    for name in ("command", "env"):
        path = artifact_dir / name
        if path.is_file():
            path.unlink()
