"""Swedish working days (vardagar): Monday–Friday that are not public holidays.

Besides the official public holidays, midsommarafton, julafton and nyårsafton are days off in
Swedish health care and count as non-working days. The `holidays` package lists every Sunday as
a holiday by default in its Sweden calendar; that is switched off here, so only real holidays
are named.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays

# De-facto holidays ("helgaftnar") that are not public holidays by law but days off in care.
_EVES = {(12, 24): "Julafton", (12, 31): "Nyårsafton"}


@lru_cache(maxsize=64)
def _swedish_holidays(year: int) -> dict[date, str]:
    calendar = holidays.country_holidays("SE", years=year, include_sundays=False, language="sv")
    days: dict[date, str] = {d: str(name) for d, name in calendar.items()}
    for (month, day), name in _EVES.items():
        days.setdefault(date(year, month, day), name)
    # Midsommarafton: the Friday between 19 and 25 June (the day before midsommardagen).
    for d in range(19, 26):
        eve = date(year, 6, d)
        if eve.weekday() == 4:
            days.setdefault(eve, "Midsommarafton")
    return days


def holiday_name(day: date) -> str | None:
    """The Swedish name of the holiday on `day`, or None on an ordinary day."""
    return _swedish_holidays(day.year).get(day)


def is_working_day(day: date) -> bool:
    """True for Monday–Friday that is neither a public holiday nor a de-facto holiday eve."""
    return day.weekday() < 5 and holiday_name(day) is None
