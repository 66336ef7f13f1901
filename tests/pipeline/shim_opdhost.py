"""Stand-in for `opdhost` inside the pipeline tests: records each call, then runs the real one.

Every call appends one JSON line (arguments, the variables the pipeline is meant to set, the
checked-out commit and its first parent, the SSH key file's mode) to $OPDHOST_CALL_LOG, so a
test can tell which commands ran, in which order, with what. `opdhost ci ...` is answered here (the
real commands would talk to a forge; tests/unit/test_forge.py runs them against local fake
forges), after the real CLI has parsed the call's options, so a pipeline that passes an option
the command does not take fails here as it would on a forge; so is any command named in
$OPDHOST_SHIM_STUB (space separated). Everything else runs the real CLI, imported from
$PYTHONPATH, which the pipelines point at the checkout under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

RECORDED = (
    "OPDHOST_ENV",
    "OPDHOST_BASE",
    "OPDHOST_APPROVED_BY",
    "OPDHOST_MR_AUTHOR",
    "OPDHOST_MERGE_REQUEST",
    "OPDHOST_MERGE_COMMIT",
    "ANSIBLE_PRIVATE_KEY_FILE",
    "OPDHOST_RECORDS_DIR",
    "PYTHONPATH",
    "GITHUB_TOKEN",
)


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def record(args: list[str]) -> None:
    key = os.environ.get("ANSIBLE_PRIVATE_KEY_FILE", "")
    entry = {
        "args": args,
        "env": {name: os.environ[name] for name in RECORDED if name in os.environ},
        "head": git("rev-parse", "HEAD"),
        "parent": git("rev-parse", "HEAD^1"),
        "cwd": os.getcwd(),
        "key_mode": oct(os.stat(key).st_mode & 0o777) if key and os.path.exists(key) else None,
        "key_text": Path(key).read_text() if key and os.path.exists(key) else None,
    }
    with open(os.environ["OPDHOST_CALL_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")


def stub(args: list[str]) -> int:
    if args[:2] == ["ci", "context"]:
        print("OPDHOST_MERGE_REQUEST=7")
        print("OPDHOST_MR_AUTHOR=engineer.aplikasi")
        print("OPDHOST_APPROVED_BY=kepala.dkisp")
        print(f"OPDHOST_MERGE_COMMIT={git('rev-parse', 'HEAD')}")
    elif args[:1] == ["apply"]:
        print(json.dumps({"result": "stub"}))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and args[:2] == ["ci", "plan-comment"]:
        with open(summary, "a", encoding="utf-8") as out:
            out.write("plan comment (stub)\n")
    return 0


def parses(args: list[str]) -> bool:
    """Whether the real CLI accepts these arguments (parsed only, nothing run)."""
    import click  # noqa: PLC0415 - after PYTHONPATH is read
    from opdhost.cli.main import cli  # noqa: PLC0415

    command: click.Command = cli
    rest = list(args)
    parent: click.Context | None = None
    try:
        while True:
            ctx = command.make_context(command.name or "opdhost", rest, parent=parent)
            if not isinstance(command, click.Group):
                return True
            rest = [*ctx.protected_args, *ctx.args]
            found = command.get_command(ctx, rest[0]) if rest else None
            if found is None:
                return False
            command, rest, parent = found, rest[1:], ctx
    except click.ClickException as exc:
        exc.show()
        return False


def main() -> int:
    args = sys.argv[1:]
    record(args)
    stubbed = os.environ.get("OPDHOST_SHIM_STUB", "").split()
    if args[:1] == ["ci"] or (args and args[0] in stubbed):
        if args[:1] == ["ci"] and not parses(args):
            return 2
        return stub(args)
    from opdhost.cli.main import main as real_main  # noqa: PLC0415 - after PYTHONPATH is read

    sys.argv = ["opdhost", *args]
    real_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
