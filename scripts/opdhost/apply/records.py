"""Where apply keeps what it did: the last applied state and one JSON record per run.

Layout under the records directory (default `<repo>/records`, or $OPDHOST_RECORDS_DIR):
    <environment>/applied.json        last applied state: the commit of the last complete
                                      apply, and per node the digest of its role variables
                                      and of each site's entries (advanced per node and site
                                      only where the run and the verification succeeded)
    <environment>/runs/<run-id>.json  one record per apply: who, when, plan, result per site
    <environment>/artifacts/<run-id>/ ansible-runner's artifacts (events, stdout)
No record holds a secret: digests and the plan's public fields only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opdhost.errors import OpdhostError

STATE_VERSION = 1


class RecordsError(OpdhostError):
    """The applied-state file exists but cannot be read."""


def records_root(repo: Path, given: Path | None = None) -> Path:
    """The records directory: `given` (--records), $OPDHOST_RECORDS_DIR, or <repo>/records."""
    return given or Path(os.environ.get("OPDHOST_RECORDS_DIR") or repo / "records")


def digest(value: object) -> str:
    """A short, stable digest of JSON-able data (key order does not matter)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass
class NodeState:
    """What was last applied on one node: its whole variables' digest and each site's."""

    digest: str = ""
    sites: dict[str, str] = field(default_factory=dict)


@dataclass
class AppliedState:
    """The last applied state of one environment."""

    commit: str = ""
    applied_at: str = ""
    nodes: dict[str, NodeState] = field(default_factory=dict)
    requests: dict[str, str] | None = None  # path -> text of the request files at `commit`
    moves: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Moves copied and verified but not yet finished (site -> phase, when, from, to, what was
    copied): a re-run never copies them again (opdhost.apply.moves)."""

    def to_json(self) -> dict[str, Any]:
        """The JSON form written to applied.json."""
        return {
            "version": STATE_VERSION,
            "commit": self.commit,
            "applied_at": self.applied_at,
            "requests": None if self.requests is None else dict(sorted(self.requests.items())),
            "nodes": {
                n: {"digest": s.digest, "sites": dict(sorted(s.sites.items()))}
                for n, s in sorted(self.nodes.items())
            },
            "moves": dict(sorted(self.moves.items())),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppliedState:
        """Read the JSON form back."""
        nodes = {
            str(n): NodeState(str(s.get("digest", "")), dict(s.get("sites", {})))
            for n, s in (data.get("nodes") or {}).items()
        }
        kept = data.get("requests")
        requests = None if kept is None else {str(p): str(t) for p, t in dict(kept).items()}
        moves = {str(k): dict(v) for k, v in dict(data.get("moves") or {}).items()}
        return cls(
            str(data.get("commit", "")), str(data.get("applied_at", "")), nodes, requests, moves
        )


@dataclass(frozen=True)
class Records:
    """The records of one environment."""

    root: Path
    environment: str

    @property
    def base(self) -> Path:
        """<records>/<environment>."""
        return self.root / self.environment

    @property
    def state_path(self) -> Path:
        """The applied-state file."""
        return self.base / "applied.json"

    def artifacts(self) -> Path:
        """Where ansible-runner keeps its artifacts (one directory per run id)."""
        return self.base / "artifacts"

    def load_state(self) -> AppliedState:
        """The last applied state; empty when nothing was ever applied."""
        try:
            text = self.state_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return AppliedState()
        except OSError as exc:
            raise RecordsError(f"cannot read {self.state_path}: {exc.strerror}") from exc
        try:
            return AppliedState.from_json(json.loads(text))
        except (ValueError, AttributeError) as exc:
            raise RecordsError(
                f"{self.state_path} is not a valid applied-state record ({exc}); "
                "move it away and run `opdhost apply --all` to converge and record again"
            ) from exc

    def save_state(self, state: AppliedState) -> Path:
        """Write the applied state atomically (a crash never leaves half a file)."""
        return _write_json(self.state_path, state.to_json())

    def save_run(self, run_id: str, record: dict[str, Any]) -> Path:
        """Write one run record."""
        return _write_json(self.base / "runs" / f"{run_id}.json", record)

    def expected_results(self, key: str) -> int:
        """How many task results the last run of `key` produced (0 = unknown): progress total."""
        try:
            data = json.loads((self.base / "progress.json").read_text(encoding="utf-8"))
            return int(data.get(key, 0))
        except (OSError, ValueError, TypeError, AttributeError):
            return 0

    def save_results(self, key: str, count: int) -> None:
        """Remember the number of task results of this kind of run, for the next progress."""
        path = self.base / "progress.json"
        try:
            data = dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            data = {}
        data[key] = count
        _write_json(path, data)

    def runs(self) -> list[Path]:
        """Run records, oldest first."""
        return sorted((self.base / "runs").glob("*.json"))


def _write_json(path: Path, data: dict[str, Any]) -> Path:
    """Durably replace `path`: write a temporary file, fsync it, rename, fsync the directory.

    A crash or power loss at any point leaves either the old record or the new one, whole:
    without the first fsync the rename can reach the disk before the data (an empty file);
    without the second the rename itself can be lost.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fchmod(fh.fileno(), 0o644)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def new_run_id() -> str:
    """Sortable, unique enough for one inventory (the apply lock serialises runs)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"


def now_iso() -> str:
    """UTC time stamp for records."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def ci_context(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Who merged, approved and triggered the apply, from what CI provides (never secrets).

    The merge pipeline sets OPDHOST_MERGE_REQUEST, OPDHOST_MERGE_REQUEST_URL,
    OPDHOST_MR_AUTHOR, OPDHOST_APPROVED_BY (comma-separated) and OPDHOST_MERGE_COMMIT from
    `opdhost ci context`; the actor and job URL come from GitHub/Gitea Actions or GitLab CI.
    """
    e = os.environ if env is None else env
    actor = e.get("GITHUB_ACTOR") or e.get("GITLAB_USER_LOGIN") or e.get("USER") or None
    job = None
    if e.get("GITHUB_SERVER_URL") and e.get("GITHUB_REPOSITORY") and e.get("GITHUB_RUN_ID"):
        job = f"{e['GITHUB_SERVER_URL']}/{e['GITHUB_REPOSITORY']}/actions/runs/{e['GITHUB_RUN_ID']}"
    elif e.get("CI_JOB_URL"):
        job = e["CI_JOB_URL"]
    approvers = [a.strip() for a in (e.get("OPDHOST_APPROVED_BY") or "").split(",") if a.strip()]
    return {
        "approved_by": approvers,
        "triggered_by": actor,
        "ci": "true" if e.get("CI") else None,
        "ci_job": job,
        "merge_request": e.get("OPDHOST_MERGE_REQUEST") or e.get("CI_MERGE_REQUEST_IID") or None,
        "merge_request_url": e.get("OPDHOST_MERGE_REQUEST_URL") or None,
        "merge_request_author": e.get("OPDHOST_MR_AUTHOR") or None,
        "merge_commit": e.get("OPDHOST_MERGE_COMMIT") or None,
    }
