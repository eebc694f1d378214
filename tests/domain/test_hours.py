"""Opening hours of a track: parsing, open/closed, next opening and open windows."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from consultbot.domain.duty.hours import Hours, HoursFormatError

TZ = ZoneInfo("Europe/Stockholm")
WEEKDAYS = Hours.parse("weekdays 08:00-17:00")
DAILY = Hours.parse("daily 07:30-16:00")
ALWAYS = Hours.parse("always")


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Parsing


@pytest.mark.parametrize(
    ("text", "days", "opens", "closes", "shown"),
    [
        ("always", "always", None, None, "always"),
        ("  Always ", "always", None, None, "always"),
        ("weekdays 08:00-17:00", "weekdays", time(8), time(17), "weekdays 08:00-17:00"),
        ("daily 07:30-16:00", "daily", time(7, 30), time(16), "daily 07:30-16:00"),
        ("WEEKDAYS  8:00-17:00", "weekdays", time(8), time(17), "weekdays 08:00-17:00"),
        ("weekdays 08:00 - 17:00", "weekdays", time(8), time(17), "weekdays 08:00-17:00"),
        ("daily 00:00-24:00", "daily", time(0), time(0), "daily 00:00-24:00"),
        ("Daily\t9:05-9:06", "daily", time(9, 5), time(9, 6), "daily 09:05-09:06"),
        # The last minute of the day, as an opening and as a closing; 24:00 only as a closing.
        ("daily 23:59-24:00", "daily", time(23, 59), time(0), "daily 23:59-24:00"),
        ("weekdays 00:00-23:59", "weekdays", time(0), time(23, 59), "weekdays 00:00-23:59"),
        ("daily 22:00-24:00", "daily", time(22), time(0), "daily 22:00-24:00"),
    ],
)
def test_parse_accepts(
    text: str, days: str, opens: time | None, closes: time | None, shown: str
) -> None:
    hours = Hours.parse(text)
    assert hours.days == days
    assert hours.always is (days == "always")
    if opens is not None:
        assert (hours.opens, hours.closes) == (opens, closes)
    assert str(hours) == shown
    assert Hours.parse(str(hours)) == hours


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "never",
        "sometimes 08:00-17:00",
        "weekdays",
        "weekdays 08:00",
        "weekdays 08-17",
        "weekdays 8.00-17.00",
        "weekdays 08:00-17:00 extra",
        "weekdays 25:00-26:00",
        "weekdays 08:00-25:00",
        "weekdays 08:60-17:00",
        "weekdays 08:00-24:30",
        "weekdays 24:00-24:00",  # hour 24 only closes a day
        "daily 24:00-23:00",
        "weekdays 08:00-17:60",  # minute 60 does not exist, at either end
        "daily 07:60-17:00",
        "daily 08:00-24:01",
        "weekdays 17:00-08:00",  # closing before opening (would cross midnight)
        "daily 08:00-08:00",  # closing equal to opening
        "always 08:00-17:00",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(HoursFormatError):
        Hours.parse(text)


def test_parse_error_is_a_value_error_naming_the_text() -> None:
    with pytest.raises(ValueError, match="25:00"):
        Hours.parse("weekdays 08:00-25:00")


# ---------------------------------------------------------------------------------------------
# Open or closed


@pytest.mark.parametrize(
    ("hours", "instant", "expected"),
    [
        # Winter (CET, UTC+1): Monday 2 March 2026
        (WEEKDAYS, local(2026, 3, 2, 8, 0), True),
        (WEEKDAYS, local(2026, 3, 2, 7, 59), False),
        (WEEKDAYS, local(2026, 3, 2, 16, 59), True),
        (WEEKDAYS, local(2026, 3, 2, 17, 0), False),
        (WEEKDAYS, utc(2026, 3, 2, 7, 0), True),  # = 08:00 local
        (WEEKDAYS, utc(2026, 3, 2, 6, 59), False),
        (WEEKDAYS, utc(2026, 3, 2, 16, 0), False),  # = 17:00 local
        # Summer (CEST, UTC+2): Monday 15 June 2026
        (WEEKDAYS, local(2026, 6, 15, 8, 0), True),
        (WEEKDAYS, local(2026, 6, 15, 7, 59), False),
        (WEEKDAYS, local(2026, 6, 15, 17, 0), False),
        (WEEKDAYS, utc(2026, 6, 15, 6, 0), True),  # = 08:00 local
        (WEEKDAYS, utc(2026, 6, 15, 5, 59), False),
        (WEEKDAYS, utc(2026, 6, 15, 7, 0), True),  # would be 08:00 in winter, 09:00 now
        (WEEKDAYS, utc(2026, 6, 15, 15, 0), False),  # = 17:00 local
        (WEEKDAYS, utc(2026, 6, 15, 14, 59), True),
        # Holidays are closed even inside hours
        (WEEKDAYS, local(2026, 4, 3, 10, 0), False),  # långfredagen
        (WEEKDAYS, local(2026, 5, 14, 10, 0), False),  # Kristi himmelsfärdsdag
        (WEEKDAYS, local(2026, 6, 19, 10, 0), False),  # midsommarafton
        (WEEKDAYS, local(2026, 12, 24, 10, 0), False),  # julafton
        (WEEKDAYS, local(2026, 12, 31, 10, 0), False),  # nyårsafton
        # Weekend: closed for weekdays, open for daily
        (WEEKDAYS, local(2026, 3, 7, 10, 0), False),  # Saturday
        (WEEKDAYS, local(2026, 3, 8, 10, 0), False),  # Sunday
        (DAILY, local(2026, 3, 7, 10, 0), True),
        (DAILY, local(2026, 3, 7, 7, 29), False),
        (DAILY, local(2026, 3, 7, 7, 30), True),
        (DAILY, local(2026, 3, 7, 16, 0), False),
        (DAILY, local(2026, 12, 24, 10, 0), True),  # daily ignores holidays
        # Always
        (ALWAYS, local(2026, 12, 24, 3, 0), True),
        (ALWAYS, utc(2026, 3, 29, 1, 30), True),
    ],
)
def test_is_open(hours: Hours, instant: datetime, expected: bool) -> None:
    assert hours.is_open(instant, TZ) is expected


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (local(2026, 3, 2, 23, 59), True),
        (local(2026, 3, 3, 0, 0), False),  # 24:00 is the end of Monday's window
        (local(2026, 3, 2, 21, 59), False),
        (local(2026, 3, 2, 22, 0), True),
        (local(2026, 3, 6, 23, 30), True),  # Friday evening
        (local(2026, 3, 7, 0, 30), False),  # Saturday night
    ],
)
def test_is_open_until_midnight(instant: datetime, expected: bool) -> None:
    assert Hours.parse("weekdays 22:00-24:00").is_open(instant, TZ) is expected


# ---------------------------------------------------------------------------------------------
# Next opening


@pytest.mark.parametrize(
    ("hours", "instant", "expected"),
    [
        # Friday 17:30 → Monday 08:00
        (WEEKDAYS, local(2026, 3, 6, 17, 30), local(2026, 3, 9, 8, 0)),
        (WEEKDAYS, local(2026, 3, 7, 12, 0), local(2026, 3, 9, 8, 0)),
        # Before opening on a working day → the same morning
        (WEEKDAYS, local(2026, 3, 3, 6, 0), local(2026, 3, 3, 8, 0)),
        (WEEKDAYS, local(2026, 3, 3, 0, 0), local(2026, 3, 3, 8, 0)),
        # The evening before a holiday: Thursday before långfredagen → Tuesday after Easter
        (WEEKDAYS, local(2026, 4, 2, 17, 0), local(2026, 4, 7, 8, 0)),
        # The evening before Kristi himmelsfärdsdag (Thursday) → Friday
        (WEEKDAYS, local(2026, 5, 13, 18, 0), local(2026, 5, 15, 8, 0)),
        # The evening before midsommarafton → Monday 22 June
        (WEEKDAYS, local(2026, 6, 18, 17, 0), local(2026, 6, 22, 8, 0)),
        # Julafton (Thu) → 25 (Fri, juldagen), 26 (Sat), 27 (Sun) → Monday 28 December
        (WEEKDAYS, local(2026, 12, 24, 9, 0), local(2026, 12, 28, 8, 0)),
        (WEEKDAYS, local(2026, 12, 23, 17, 0), local(2026, 12, 28, 8, 0)),
        # Nyårsafton (Thu) → 1 Jan (Fri, holiday), 2–3 weekend → Monday 4 January 2027
        (WEEKDAYS, local(2026, 12, 31, 9, 0), local(2027, 1, 4, 8, 0)),
        # Over the spring change: Friday 27 March (UTC+1) → Monday 30 March 08:00 (UTC+2)
        (WEEKDAYS, local(2026, 3, 27, 17, 0), utc(2026, 3, 30, 6, 0)),
        # Over the autumn change: Friday 23 October (UTC+2) → Monday 26 October 08:00 (UTC+1)
        (WEEKDAYS, local(2026, 10, 23, 17, 0), utc(2026, 10, 26, 7, 0)),
        # Daily opens on Saturday and on holidays
        (DAILY, local(2026, 3, 6, 17, 30), local(2026, 3, 7, 7, 30)),
        (DAILY, local(2026, 12, 24, 16, 0), local(2026, 12, 25, 7, 30)),
    ],
)
def test_next_opening(hours: Hours, instant: datetime, expected: datetime) -> None:
    found = hours.next_opening(instant, TZ)
    assert found == expected
    # The same moment is not enough: the opening is shown to people in local time.
    assert found.tzinfo == TZ and found.isoformat() == expected.astimezone(TZ).isoformat()
    assert hours.is_open(found, TZ)
    assert not hours.is_open(found - timedelta(minutes=1), TZ)


@pytest.mark.parametrize(
    ("hours", "instant"),
    [
        (WEEKDAYS, local(2026, 3, 2, 8, 0)),
        (WEEKDAYS, local(2026, 3, 2, 16, 59)),
        (WEEKDAYS, utc(2026, 6, 15, 12, 34)),
        (DAILY, local(2026, 12, 25, 12, 0)),
        (ALWAYS, local(2026, 12, 24, 3, 0)),
    ],
)
def test_next_opening_when_open_is_the_instant_itself(hours: Hours, instant: datetime) -> None:
    found = hours.next_opening(instant, TZ)
    assert found == instant and found.isoformat() == instant.isoformat()


def test_next_opening_is_never_an_empty_window_in_the_spring_gap() -> None:
    # 02:00–03:00 does not exist on 29 March 2026; the track is not open at all that night,
    # so the next opening is on 30 March.
    hours = Hours.parse("daily 02:00-03:00")
    found = hours.next_opening(utc(2026, 3, 28, 23, 0), TZ)
    assert hours.is_open(found, TZ)
    assert found == local(2026, 3, 30, 2, 0)
    assert found.isoformat() == "2026-03-30T02:00:00+02:00"


# ---------------------------------------------------------------------------------------------
# Windows


def test_windows_over_an_ordinary_week() -> None:
    windows = list(WEEKDAYS.windows(local(2026, 3, 2), local(2026, 3, 9), TZ))
    assert windows == [(utc(2026, 3, d, 7), utc(2026, 3, d, 16)) for d in range(2, 7)]
    assert all(a.tzinfo is UTC and b.tzinfo is UTC for a, b in windows)


def test_windows_over_easter_week_skip_the_holidays() -> None:
    # Monday 30 March – Monday 6 April 2026: långfredagen 3 April and annandag påsk 6 April.
    windows = list(WEEKDAYS.windows(local(2026, 3, 30), local(2026, 4, 7), TZ))
    assert windows == [(utc(2026, 3, d, 6), utc(2026, 3, d, 15)) for d in (30, 31)] + [
        (utc(2026, 4, d, 6), utc(2026, 4, d, 15)) for d in (1, 2)
    ]


def test_windows_over_the_spring_change_follow_local_time() -> None:
    windows = list(WEEKDAYS.windows(local(2026, 3, 26), local(2026, 4, 2), TZ))
    assert windows == [
        (utc(2026, 3, 26, 7), utc(2026, 3, 26, 16)),
        (utc(2026, 3, 27, 7), utc(2026, 3, 27, 16)),
        (utc(2026, 3, 30, 6), utc(2026, 3, 30, 15)),
        (utc(2026, 3, 31, 6), utc(2026, 3, 31, 15)),
        (utc(2026, 4, 1, 6), utc(2026, 4, 1, 15)),
    ]


def test_windows_are_clipped_to_the_interval() -> None:
    windows = list(WEEKDAYS.windows(local(2026, 3, 2, 12), local(2026, 3, 3, 9, 30), TZ))
    assert windows == [
        (utc(2026, 3, 2, 11), utc(2026, 3, 2, 16)),
        (utc(2026, 3, 3, 7), utc(2026, 3, 3, 8, 30)),
    ]


def test_daily_windows_include_the_weekend() -> None:
    windows = list(DAILY.windows(local(2026, 3, 6), local(2026, 3, 9), TZ))
    assert [a.astimezone(TZ).date().day for a, _ in windows] == [6, 7, 8]
    assert all(b - a == timedelta(hours=8, minutes=30) for a, b in windows)


def test_always_has_one_window_and_none_for_an_empty_interval() -> None:
    start, end = local(2026, 3, 7), local(2026, 3, 9)
    assert list(ALWAYS.windows(start, end, TZ)) == [(start, end)]
    assert list(ALWAYS.windows(end, start, TZ)) == []
    assert list(WEEKDAYS.windows(start, start, TZ)) == []


def test_windows_of_a_weekend_are_empty() -> None:
    assert list(WEEKDAYS.windows(local(2026, 3, 7), local(2026, 3, 9), TZ)) == []
