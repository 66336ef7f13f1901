"""A move through `apply` with a fake runner (issue 16): the order of the runs, a copy that
does not verify (nothing switched, nothing recorded as copied), and a run that dies after the
copy was recorded (the next apply switches without copying again)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from opdhost.apply import pipeline
from opdhost.apply.pipeline import Options, apply
from opdhost.apply.runner import RunResult, TaskResult
from opdhost.apply.verify import Verification

from .conftest import PATH, git, make_repo, make_request, opdhost, write_files

MOVED = make_request(
    **{"node: web1": "node: web2", "10.203.0.100": "10.203.0.200", "server: db1": "server: db2"}
)


class FakeRunner:
    """Records each run; `fail` names the playbook run (by phase ident suffix) that fails."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, list[str], str]] = []
        self.fail: dict[str, str] = {}  # ident suffix -> how: failed | die

    def __call__(self, playbook: str, inventory: Path, **kw: Any) -> RunResult:
        ident = str(kw["ident"])
        limit = list(kw.get("limit") or [])
        phase = ident.rsplit("-", 1)[-1]
        self.runs.append((playbook, limit, phase))
        artifact = Path(kw["artifacts"]) / ident
        (artifact / "job_events").mkdir(parents=True, exist_ok=True)
        how = self.fail.get(phase)
        if how == "die":
            raise KeyboardInterrupt  # the process dies here: nothing after this line runs
        result = RunResult(playbook, "successful", 0, 0.1, str(artifact))
        result.stats = {"processed": dict.fromkeys(limit, 1)}
        if how == "failed":
            result.status, result.rc = "failed", 2
            result.failures.append(
                TaskResult(
                    "web2",
                    "Report each site's file copy",
                    "",
                    "disdik",
                    True,
                    False,
                    "the files copied to web2 differ from web1's",
                )
            )
            return result
        if playbook == "move.yml":
            for n, msg in enumerate(
                [
                    {
                        "opdhost_move": "files",
                        "site": "disdik",
                        "files": 2,
                        "bytes": 30,
                        "matched": True,
                    },
                    {
                        "opdhost_move": "database",
                        "site": "disdik",
                        "tables": 1,
                        "rows": 3,
                        "matched": True,
                    },
                ]
            ):
                event = {"event": "runner_item_on_ok",
                         "event_data": {"res": {"msg": json.dumps(msg)}}}  # fmt: skip
                (artifact / "job_events" / f"{n}.json").write_text(json.dumps(event))
        return result


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, FakeRunner]:
    root = make_repo(tmp_path / "repo", {PATH: make_request()})
    (root / "inventories" / "lab" / "hosts.yml").write_text("all: {}\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    fake = FakeRunner()
    monkeypatch.setattr(pipeline, "run_playbook", fake)
    monkeypatch.setattr(pipeline, "verify", lambda *a, **k: Verification())
    monkeypatch.setenv("OPDHOST_LOCK_DIR", str(tmp_path / "locks"))
    (tmp_path / "locks").mkdir(mode=0o700)
    _apply(root)  # the site applied on web1/db1
    fake.runs.clear()
    write_files(root, {PATH: MOVED})
    git(root, "commit", "-qam", "disdik: move to web2/db2")
    return root, fake


def _apply(root: Path) -> pipeline.Outcome:
    return apply(
        root,
        root / "inventories" / "lab",
        records_root=root / "records",
        options=Options(verify_wait=0),
    )


def _state(root: Path) -> dict[str, Any]:
    return dict(json.loads((root / "records" / "lab" / "applied.json").read_text()))


def test_a_move_runs_prepare_copy_switch_and_forgets_the_old_place(
    repo: tuple[Path, FakeRunner],
) -> None:
    root, fake = repo
    outcome = _apply(root)
    assert [(p, phase) for p, _l, phase in fake.runs] == [
        ("apply.yml", "prepare"), ("move.yml", "copy"), ("apply.yml", "switch")
    ]  # fmt: skip
    assert fake.runs[0][1] == ["db2", "web2"]  # the new place only: the old one serves as before
    assert fake.runs[1][1] == ["db1", "db2", "web1", "web2"]
    assert {"web1", "db1", "ns1"} <= set(fake.runs[2][1])
    assert outcome.ok, outcome.sites
    move = outcome.record["moves"][0]
    assert move["finished"] and move["copy"]["files"]["files"] == 2
    assert move["copy"]["database"]["rows"] == 3
    state = _state(root)
    assert state["moves"] == {}
    assert "web2" in state["requests"]["requests/disdik/disdik.yaml"]
    fake.runs.clear()
    again = _apply(root)  # nothing left: the old place is recorded as the normal render says
    assert fake.runs == [] and again.ok


def test_a_copy_that_does_not_verify_switches_nothing(repo: tuple[Path, FakeRunner]) -> None:
    root, fake = repo
    fake.fail["copy"] = "failed"
    outcome = _apply(root)
    assert [phase for _p, _l, phase in fake.runs] == ["prepare", "copy"]
    (site,) = outcome.sites
    assert site.result == "failed" and site.step.startswith("move: copy and verify")
    assert "nothing switched: the site still runs at its old place" in site.message
    state = _state(root)
    assert state["moves"] == {}
    assert "web1" in state["requests"]["requests/disdik/disdik.yaml"]  # still the old place
    # the next apply copies again (nothing switched), then switches
    fake.fail.clear()
    fake.runs.clear()
    assert _apply(root).ok
    assert [phase for _p, _l, phase in fake.runs] == ["copy", "switch"]


def test_a_run_dead_after_the_copy_resumes_at_the_switch(repo: tuple[Path, FakeRunner]) -> None:
    root, fake = repo
    fake.fail["switch"] = "die"
    with pytest.raises(KeyboardInterrupt):
        _apply(root)
    progress = _state(root)["moves"]["disdik"]
    assert progress["phase"] == "copied" and progress["files"]["matched"] is True
    assert progress["move"]["web"] == {"from": "web1", "to": "web2"}
    fake.fail.clear()
    fake.runs.clear()
    outcome = _apply(root)
    assert [phase for _p, _l, phase in fake.runs] == ["switch"]  # never copied again
    move = outcome.record["moves"][0]
    assert move["resumed"].startswith("copied and verified at ")
    assert move["copy"]["database"]["rows"] == 3 and move["finished"]
    assert _state(root)["moves"] == {}


def test_a_request_changed_away_from_a_copied_move_is_refused(
    repo: tuple[Path, FakeRunner],
) -> None:
    root, fake = repo
    fake.fail["switch"] = "die"
    with pytest.raises(KeyboardInterrupt):
        _apply(root)
    write_files(root, {PATH: make_request()})  # back to web1/db1
    git(root, "commit", "-qam", "disdik: stay")
    with pytest.raises(pipeline.move_phases.MoveStateError, match="is not finished"):
        _apply(root)


def test_the_apply_command_says_what_moved(repo: tuple[Path, FakeRunner]) -> None:
    root, _fake = repo
    result = opdhost("apply", "--root", str(root), "--verify-wait", "0")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "  move         disdik                   move web1 -> web2 (10.203.0.100 -> " \
        "10.203.0.200), mariadb db1 -> db2" in result.output  # fmt: skip
    assert any(line.startswith("prepare: apply.yml on db2,web2: successful in ") for line in lines)
    assert any(line.startswith("copy: move.yml on db1,db2,web1,web2: successful") for line in lines)
    assert (
        "move web1 -> web2 (10.203.0.100 -> 10.203.0.200), mariadb db1 -> db2; 2 files, 30 bytes; "
        "1 tables, 3 rows; checksums matched; finished" in lines
    )
