"""The records a roster is made of: a checked `Shift` and a `RawShift` as read from a file.

They live apart from the readers (roster.py for tables, ical.py for calendars) so that every
reader and every consumer can import them without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from consultbot.domain.files.tables import Cell
from consultbot.domain.types import ServiceId, UserId


@dataclass(frozen=True, slots=True, kw_only=True)
class Shift:
    """One person on duty for one service at one escalation level over [start, end) (UTC)."""

    service: ServiceId
    level: int
    start: datetime
    end: datetime
    user: UserId
    name: str
    phone: str = ""

    def covers(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


@dataclass(frozen=True, slots=True, kw_only=True)
class RawShift:
    """A shift as read from a file, before it is checked against the catalogue.

    `problem` is set by a reader that already knows the row is unusable (a code and its
    values), e.g. an all-day calendar event; validation reports it with the row's line.

    `at` says where each column's value is, for pointing at it: a spreadsheet's column
    letters (the cell is letter + `line`), or an iCalendar event's property lines (a
    `problem` is reported at `at["problem"]` when given). None for CSV: the row's line.
    `phone_is_number`: the phone cell was a number (a spreadsheet dropped its leading 0).
    """

    file: str
    line: int
    service: str
    level: Cell
    start: Cell
    end: Cell
    user: str
    name: str
    phone: str
    problem: tuple[str, dict[str, str]] | None = None
    at: Mapping[str, str | int] | None = None
    phone_is_number: bool = False
