"""Typed errors of the lab: each carries what went wrong and the command that fixes it.

The CLI prints them; nothing below it does. Keeping the fix next to the message is what
turns "podman failed" into something a newcomer can act on.
"""

from __future__ import annotations

from opdhost.errors import OpdhostError


class LabError(OpdhostError):
    """A lab operation could not be done; `hint` says what to run about it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.message = message


class PreflightError(LabError):
    """The machine is not ready for the lab (not root, tools or images missing)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        message = "; ".join(p for p, _ in problems)
        hints = list(dict.fromkeys(h for _, h in problems if h))
        super().__init__(message, "; ".join(hints))


class PodmanError(LabError):
    """A podman command failed or timed out."""

    def __init__(
        self, argv: list[str], returncode: int | None, stderr: str, hint: str = ""
    ) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr.strip()
        what = "timed out" if returncode is None else f"exited {returncode}"
        detail = self.stderr.splitlines()[-1] if self.stderr else ""
        super().__init__(f"`{' '.join(argv)}` {what}" + (f": {detail}" if detail else ""), hint)


class ServiceError(LabError):
    """A node's service did not become active in time."""
