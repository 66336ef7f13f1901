"""What every document shares: its error, atomic output files, dates in the office's words."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from opdhost.errors import OpdhostError

MONTHS = {
    "id": (
        "Januari", "Februari", "Maret", "April", "Mei", "Juni",
        "Juli", "Agustus", "September", "Oktober", "November", "Desember",
    ),
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
}  # fmt: skip

LANGS = ("id", "en")


class DocumentError(OpdhostError):
    """A document cannot be made: unknown site, no data, bad template or office settings."""


def long_date(day: dt.date, lang: str) -> str:
    """`2 November 2026` (id) or `2 November 2026` (en): the form letters use."""
    return f"{day.day} {MONTHS[lang][day.month - 1]} {day.year}"


def parse_day(text: str, what: str) -> dt.date:
    """A `YYYY-MM-DD` option value, or DocumentError naming the option."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise DocumentError(f"{what}: {text!r} is not a date (YYYY-MM-DD)") from None


def parse_stamp(text: str) -> dt.datetime | None:
    """An ISO time stamp of a record (`2026-11-03T02:00:00Z`), aware; None if unreadable."""
    try:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError, TypeError):
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=dt.UTC)


def write_files(files: Mapping[Path, bytes]) -> list[Path]:
    """Write every file or none: each to a temporary file (fsync) first, then rename them all.

    A failure while writing any of them removes every temporary file and leaves what was
    there before; after the renames the directories are fsynced.
    """
    temps: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            temps.append((tmp, path))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fchmod(fh.fileno(), 0o644)
                os.fsync(fh.fileno())
        for tmp, path in temps:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    for directory in {path.parent for path in files}:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return list(files)


def out_error(directory: Path, exc: OSError) -> DocumentError:
    """An output directory that cannot be written, in words."""
    return DocumentError(f"cannot write in {directory}: {exc.strerror or exc}")
