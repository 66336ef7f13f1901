"""The office's outgoing letter numbers: `records/<env>/letters.json`, one entry per letter.

A number is taken under an exclusive lock and saved only after the letter's files were
written, so two letters never share a number and a letter that failed to render takes none.
The sequence starts again each year when the scheme contains `{year}` (the usual practice),
else it runs on. Re-making the letter of the same site and kind keeps its number (the
English variant of a letter is the same letter); `--reissue` takes a new one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from opdhost.apply.records import Records, _write_json, now_iso
from opdhost.documents.base import DocumentError
from opdhost.documents.office import Office

FILE = "letters.json"


@dataclass(frozen=True, slots=True)
class Issued:
    """One outgoing letter: its number and what it was about."""

    seq: int
    year: int
    number: str
    site: str
    kind: str
    date: str
    issued_at: str


def _load(path: Path) -> list[Issued]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Issued(**entry) for entry in data.get("letters", [])]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise DocumentError(
            f"{path} is not a valid register of outgoing letters ({exc}): fix it by hand "
            "(it is the office's numbering; never delete it)"
        ) from None


def issued_letters(records: Records) -> list[Issued]:
    """Every outgoing letter issued in the environment, in order."""
    return _load(records.base / FILE)


def latest(letters: list[Issued], site: str, kind: str) -> Issued | None:
    """The last letter of `kind` for `site`."""
    found = [x for x in letters if x.site == site and x.kind == kind]
    return found[-1] if found else None


@contextlib.contextmanager
def _locked(base: Path) -> Iterator[None]:
    base.mkdir(parents=True, exist_ok=True)
    fd = os.open(base / ".letters.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def take_number(
    records: Records, office: Office, *, site: str, kind: str, day: dt.date, reissue: bool
) -> Iterator[Issued]:
    """Yield the number of the letter; saved when the body of the `with` succeeds."""
    path = records.base / FILE
    with _locked(records.base):
        letters = _load(path)
        before = latest(letters, site, kind)
        if before is not None and not reissue:
            yield before
            return
        yearly = "{year" in office.scheme
        seqs = [x.seq for x in letters if not yearly or x.year == day.year]
        seq = max(seqs, default=0) + 1
        taken = {x.number for x in letters}
        number = office.number(seq, day.year, day.month, kind)
        while number in taken:
            seq += 1
            number = office.number(seq, day.year, day.month, kind)
        issued = Issued(seq, day.year, number, site, kind, day.isoformat(), now_iso())
        yield issued
        data: dict[str, Any] = {"letters": [asdict(x) for x in [*letters, issued]]}
        _write_json(path, data)
