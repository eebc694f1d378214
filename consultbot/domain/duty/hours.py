"""Opening hours of a track: "always", "weekdays 08:00-17:00" or "daily 08:00-17:00".

Hours are wall-clock times in the configured time zone. "weekdays" means Swedish working days
(`calendar.is_working_day`); "daily" means every day. A period may not cross midnight: the
tracks that run at night are "always".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from consultbot.domain.duty.calendar import is_working_day

_HOURS = re.compile(r"^(weekdays|daily)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


class HoursFormatError(ValueError):
    """The text is not a valid hours specification; `code` names the reason for messages
    (`format`, `no_such_time`, `closes_before_opening`)."""

    def __init__(self, message: str, code: str = "format") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, kw_only=True)
class Hours:
    """When a track is open. `days` is "always", "weekdays" or "daily"."""

    days: str
    opens: time = time(0, 0)
    closes: time = time(0, 0)

    @classmethod
    def parse(cls, text: str) -> Hours:
        """Parse "always", "weekdays HH:MM-HH:MM" or "daily HH:MM-HH:MM"; raise HoursFormatError."""
        spec = " ".join(text.strip().lower().split())
        if spec == "always":
            return cls(days="always")
        match = _HOURS.match(spec)
        if not match:
            raise HoursFormatError(
                f'"{text}" is not "always", "weekdays HH:MM-HH:MM" or "daily HH:MM-HH:MM"'
            )
        h1, m1, h2, m2 = (int(g) for g in match.group(2, 3, 4, 5))
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2 != 0):
            raise HoursFormatError(f'"{text}" has a time that does not exist', "no_such_time")
        opens = time(h1, m1)
        closes = time(0, 0) if h2 == 24 else time(h2, m2)
        if h2 != 24 and closes <= opens:
            raise HoursFormatError(
                f'"{text}": closing time must be after opening time', "closes_before_opening"
            )
        return cls(days=match.group(1), opens=opens, closes=closes)

    def __str__(self) -> str:
        if self.days == "always":
            return "always"
        closes = "24:00" if self.closes == time(0, 0) else self.closes.strftime("%H:%M")
        return f"{self.days} {self.opens:%H:%M}-{closes}"

    @property
    def always(self) -> bool:
        return self.days == "always"

    def _open_on(self, day: date) -> bool:
        return self.days == "daily" or is_working_day(day)

    def _window(self, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
        start = datetime.combine(day, self.opens, tzinfo=tz)
        end_day = day + timedelta(days=1) if self.closes == time(0, 0) else day
        end = datetime.combine(end_day, self.closes, tzinfo=tz)
        # Wall-clock times in a DST gap do not exist; normalise through UTC so that both
        # ends are real instants.
        return start.astimezone(UTC), end.astimezone(UTC)

    def is_open(self, instant: datetime, tz: ZoneInfo) -> bool:
        """True when the track is open at `instant` (an aware datetime)."""
        if self.always:
            return True
        local = instant.astimezone(tz)
        for day in (local.date() - timedelta(days=1), local.date()):
            if self._open_on(day):
                start, end = self._window(day, tz)
                if start <= instant < end:
                    return True
        return False

    def next_opening(self, instant: datetime, tz: ZoneInfo) -> datetime:
        """The first instant at or after `instant` when the track is open."""
        if self.is_open(instant, tz):
            return instant
        day = instant.astimezone(tz).date()
        for offset in range(0, 370):
            candidate = day + timedelta(days=offset)
            if self._open_on(candidate):
                start, end = self._window(candidate, tz)
                if instant <= start < end:
                    return start.astimezone(tz)
        raise ValueError(f"{self} never opens")  # unreachable for valid hours

    def windows(
        self, start: datetime, end: datetime, tz: ZoneInfo
    ) -> Iterator[tuple[datetime, datetime]]:
        """The open intervals (UTC) that overlap [start, end), clipped to it, in order."""
        if end <= start:
            return
        if self.always:
            yield start.astimezone(UTC), end.astimezone(UTC)
            return
        day = start.astimezone(tz).date() - timedelta(days=1)
        last = end.astimezone(tz).date()
        while day <= last:
            if self._open_on(day):
                w_start, w_end = self._window(day, tz)
                lo, hi = max(w_start, start), min(w_end, end)
                if lo < hi:
                    yield lo.astimezone(UTC), hi.astimezone(UTC)
            day += timedelta(days=1)
