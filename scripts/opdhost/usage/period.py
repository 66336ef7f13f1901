"""The month a collection or a report is about: `YYYY-MM`, parsed strictly.

Why a module: the CLI, the collection, the records and the report all name a month; one
parser gives every caller the same error (naming the form that is allowed) and the same days.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from opdhost.errors import OpdhostError

_MONTH = re.compile(r"(\d{4})-(\d{2})")


class UsageError(OpdhostError):
    """Usage cannot be collected or reported: bad month, no data, unreadable record."""


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """One calendar month."""

    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first(self) -> dt.date:
        """Its first day."""
        return dt.date(self.year, self.month, 1)

    @property
    def last(self) -> dt.date:
        """Its last day."""
        return dt.date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def days(self) -> list[dt.date]:
        """Every day of the month, in order."""
        return [dt.date(self.year, self.month, d) for d in range(1, self.last.day + 1)]

    def previous(self) -> Month:
        """The month before."""
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    @classmethod
    def of(cls, day: dt.date) -> Month:
        """The month holding `day`."""
        return cls(day.year, day.month)


def parse_month(text: str, what: str = "--month") -> Month:
    """`YYYY-MM` (e.g. 2026-12), or UsageError naming the option and what is allowed."""
    match = _MONTH.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise UsageError(
            f"{what}: {text!r} is not a month; allowed: YYYY-MM with a month 01-12 "
            "from the year 2000 on (e.g. 2026-12)"
        )
    return Month(int(match.group(1)), int(match.group(2)))
