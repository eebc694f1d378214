"""Swedish working days (vardagar) and the names of holidays."""

from __future__ import annotations

from datetime import date

import pytest

from consultbot.domain.duty.calendar import holiday_name, is_working_day

HOLIDAYS = [
    # 2026
    (date(2026, 1, 1), "Nyårsdagen"),
    (date(2026, 1, 6), "Trettondedag jul"),
    (date(2026, 4, 3), "Långfredagen"),
    (date(2026, 4, 6), "Annandag påsk"),
    (date(2026, 5, 1), "Första maj"),
    (date(2026, 5, 14), "Kristi himmelsfärdsdag"),
    (date(2026, 6, 6), "Nationaldagen"),  # a Saturday
    (date(2026, 6, 19), "Midsommarafton"),
    (date(2026, 6, 20), "Midsommardagen"),  # always a Saturday
    (date(2026, 10, 31), "Alla helgons dag"),  # always a Saturday
    (date(2026, 12, 24), "Julafton"),
    (date(2026, 12, 25), "Juldagen"),
    (date(2026, 12, 26), "Annandag jul"),
    (date(2026, 12, 31), "Nyårsafton"),
    # 2027
    (date(2027, 1, 1), "Nyårsdagen"),
    (date(2027, 1, 6), "Trettondedag jul"),
    (date(2027, 3, 26), "Långfredagen"),
    (date(2027, 3, 29), "Annandag påsk"),
    (date(2027, 5, 1), "Första maj"),  # a Saturday
    (date(2027, 5, 6), "Kristi himmelsfärdsdag"),
    (date(2027, 6, 6), "Nationaldagen"),  # a Sunday
    (date(2027, 6, 25), "Midsommarafton"),
    (date(2027, 6, 26), "Midsommardagen"),
    (date(2027, 11, 6), "Alla helgons dag"),
    (date(2027, 12, 24), "Julafton"),
    (date(2027, 12, 25), "Juldagen"),
    (date(2027, 12, 26), "Annandag jul"),
    (date(2027, 12, 31), "Nyårsafton"),
]


@pytest.mark.parametrize(("day", "name"), HOLIDAYS, ids=[str(d) for d, _ in HOLIDAYS])
def test_holiday_is_named_and_not_a_working_day(day: date, name: str) -> None:
    found = holiday_name(day)
    assert found is not None
    assert found.casefold() == name.casefold()
    assert not is_working_day(day)


ORDINARY_WEEKDAYS = [
    date(2026, 1, 2),  # Friday between nyårsdagen and the weekend
    date(2026, 1, 5),  # Monday, the day before trettondedag jul
    date(2026, 3, 2),  # Monday
    date(2026, 3, 4),  # Wednesday
    date(2026, 4, 2),  # skärtorsdagen is not a holiday
    date(2026, 4, 7),  # Tuesday after annandag påsk
    date(2026, 6, 5),  # Friday before nationaldagen
    date(2026, 6, 18),  # Thursday before midsommarafton
    date(2026, 6, 22),  # Monday after midsommar
    date(2026, 10, 30),  # Friday before alla helgons dag
    date(2026, 12, 23),  # lillejulafton is a working day
    date(2026, 12, 28),  # Monday between Christmas and New Year
    date(2026, 12, 30),
    date(2027, 1, 4),  # first working day of 2027
    date(2027, 3, 25),  # skärtorsdagen 2027
    date(2027, 6, 7),  # Monday after nationaldagen on a Sunday (no substitute holiday)
    date(2027, 12, 23),
    date(2027, 12, 27),
]


@pytest.mark.parametrize("day", ORDINARY_WEEKDAYS, ids=str)
def test_ordinary_weekday_is_a_working_day(day: date) -> None:
    assert day.weekday() < 5
    assert holiday_name(day) is None
    assert is_working_day(day)


WEEKEND_DAYS = [
    date(2026, 3, 7),  # Saturday
    date(2026, 3, 8),  # Sunday
    date(2026, 3, 28),  # Saturday before the spring DST change
    date(2026, 3, 29),  # Sunday of the spring DST change
    date(2026, 10, 25),  # Sunday of the autumn DST change
    date(2027, 1, 2),
    date(2027, 1, 3),
    date(2027, 8, 14),
    date(2027, 8, 15),
]


@pytest.mark.parametrize("day", WEEKEND_DAYS, ids=str)
def test_weekend_is_not_a_working_day(day: date) -> None:
    assert day.weekday() >= 5
    assert not is_working_day(day)


@pytest.mark.parametrize(
    "sunday", [date(2026, 3, 8), date(2026, 8, 16), date(2027, 2, 14), date(2027, 9, 19)], ids=str
)
def test_ordinary_sunday_is_not_named_as_a_holiday(sunday: date) -> None:
    assert sunday.weekday() == 6
    assert holiday_name(sunday) is None
    assert not is_working_day(sunday)


@pytest.mark.parametrize(
    ("day", "name"),
    [(date(2026, 4, 5), "Påskdagen"), (date(2026, 5, 24), "Pingstdagen")],
    ids=str,
)
def test_sunday_holidays_keep_their_own_name(day: date, name: str) -> None:
    assert holiday_name(day) == name
    assert not is_working_day(day)


@pytest.mark.parametrize("year", [2026, 2027])
def test_working_day_count_per_year(year: int) -> None:
    # Weekdays minus the holidays and eves that fall on a weekday, counted independently.
    weekdays = sum(
        1
        for ordinal in range(date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal() + 1)
        if date.fromordinal(ordinal).weekday() < 5
    )
    weekday_holidays = sum(1 for d, _ in HOLIDAYS if d.year == year and d.weekday() < 5)
    working = sum(
        1
        for ordinal in range(date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal() + 1)
        if is_working_day(date.fromordinal(ordinal))
    )
    assert working == weekdays - weekday_holidays
