"""What every command shares: the repository root, the platform options, one way to report
errors, plain-text tables for people and JSON for machines.

One output path: click for text (colour only on a terminal), `json.dumps` for `--json` and
`--format json`. Every typed error ends the same way: `error: ...` (and `fix: ...` when the
error knows the fix) on stderr, or `path:line: field: message` lines for findings; exit 1.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from opdhost.errors import FindingsError, OpdhostError
from opdhost.fleet import formats
from opdhost.fleet.platform import Platform, load_platform, platform_path

F = TypeVar("F", bound=Callable[..., Any])


records_option = click.option(
    "--records",
    "records_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Records directory (default: $OPDHOST_RECORDS_DIR or <root>/records).",
)
out_option = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory (default: <records>/<env>/documents).",
)


def find_root(start: Path) -> Path:
    """The nearest directory at or above `start` holding `requests/` or `inventories/`."""
    for candidate in (start, *start.parents):
        if (candidate / "requests").is_dir() or (candidate / "inventories").is_dir():
            return candidate
    return start


def reports_errors(func: F) -> F:
    """Turn typed errors into `path:line: field: message` lines or `error:`/`fix:`, exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FindingsError as exc:
            click.echo(formats.findings_text(exc.findings), nl=False)
            click.echo(f"{formats.count_text(exc.findings)}: nothing done", err=True)
            sys.exit(1)
        except OpdhostError as exc:
            click.echo(f"error: {exc}", err=True)
            if exc.hint:
                click.echo(f"fix: {exc.hint}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def platform_options(func: F) -> F:
    """--root, --env and --inventory, shared by every command over the repository."""
    func = click.option(
        "--inventory",
        type=click.Path(file_okay=False, path_type=Path),
        help="Inventory directory (default: <root>/inventories/<env>).",
    )(func)
    func = click.option(
        "--env", default="lab", show_default=True, help="Environment under inventories/."
    )(func)
    return click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        help="Repository root (default: found from the current directory).",
    )(func)


def repository(root: Path | None) -> Path:
    """--root, or the repository found from the current directory."""
    return root if root is not None else find_root(Path.cwd())


def load_setup(root: Path | None, env: str, inventory: Path | None) -> tuple[Path, Platform]:
    """The repository root and its platform (for --env or --inventory)."""
    base = repository(root)
    path = platform_path(base, env, inventory)
    try:
        shown = str(path.relative_to(base))
    except ValueError:
        shown = str(path)
    return base, load_platform(path, shown)


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell (styles not counted); the last one is not padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(click.unstyle(cell)))
    lines = []
    for row in (headers, *rows):
        cells = [
            cell + " " * (widths[i] - len(click.unstyle(cell))) for i, cell in enumerate(row[:-1])
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def ok_text(text: str, ok: bool) -> str:
    """Green when ok, red otherwise (plain when not on a terminal: click strips styles)."""
    return click.style(text, fg="green" if ok else "red")
