"""Findings and typed errors: how every module below the CLI reports a problem.

Nothing below the CLI prints or exits; it returns findings or raises `OpdhostError`, and the
CLI turns them into `path:line: field: message` lines and exit status 1.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass


class Severity(enum.Enum):
    """Errors block validation, plan and apply; warnings are shown but do not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One problem at one place: rendered as `path:line: field: message`."""

    path: str
    line: int
    field: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        text = f"{_clean(self.path)}:{self.line}: {_clean(self.field)}: {prefix}"
        return text + _clean(self.message)

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form (for `--format json`)."""
        return {
            "path": self.path,
            "line": self.line,
            "field": self.field,
            "message": self.message,
            "severity": self.severity.value,
        }


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _clean(text: str) -> str:
    """Escape control characters (a key or file name with a newline stays on one line)."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def has_errors(findings: Iterable[Finding]) -> bool:
    """True when at least one finding blocks the change."""
    return any(f.severity is Severity.ERROR for f in findings)


class OpdhostError(Exception):
    """Base of every error opdhost raises on purpose; the CLI reports it without a traceback.

    `hint`, when given, says what to run or change about it (the CLI prints it as `fix: ...`).
    """

    def __init__(self, message: str = "", hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class FindingsError(OpdhostError):
    """Input problems that stop the command; carries every finding, not only the first."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__(f"{len(findings)} problem(s) found")
        self.findings = findings


class GitError(OpdhostError):
    """A git ref could not be read (unknown ref, not a repository, git missing)."""


class AllocationError(OpdhostError):
    """`opdhost new` cannot place the request: name or IP taken, or no capacity left."""
