"""Shifts across daylight-saving changes in Europe/Stockholm, and who is on duty then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from consultbot.domain.duty.oncall import on_duty
from consultbot.domain.duty.roster import InstantParser, Shift, TimeProblem, check_roster
from consultbot.domain.types import ServiceId
from tests.support.catalogue import CATALOGUE, TZ

CET = timezone(timedelta(hours=1))
CEST = timezone(timedelta(hours=2))
KARDIOLOGI = ServiceId("kardiologi")


def one_shift(start: str, end: str) -> Shift:
    text = (
        "service,level,start,end,matrix_id,name\n"
        f"kardiologi,1,{start},{end},@natt:localhost,Nattjour\n"
    )
    result = check_roster([("r.csv", text.encode())], CATALOGUE, TZ)
    assert result.ok, result.problems
    (shift,) = result.shifts
    return shift


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        pytest.param("2026-03-28 20:00", "2026-03-29 08:00", 11, id="spring-forward"),
        pytest.param("2026-10-24 20:00", "2026-10-25 08:00", 13, id="autumn-back"),
        pytest.param("2026-03-07 20:00", "2026-03-08 08:00", 12, id="ordinary-winter-night"),
        pytest.param("2026-07-04 20:00", "2026-07-05 08:00", 12, id="ordinary-summer-night"),
        pytest.param("2027-03-27 20:00", "2027-03-28 08:00", 11, id="spring-forward-2027"),
        pytest.param("2027-10-30 20:00", "2027-10-31 08:00", 13, id="autumn-back-2027"),
        pytest.param("2026-03-23 08:00", "2026-03-30 08:00", 7 * 24 - 1, id="week-over-spring"),
        pytest.param("2026-10-19 08:00", "2026-10-26 08:00", 7 * 24 + 1, id="week-over-autumn"),
    ],
)
def test_night_shift_length_follows_the_clock_change(start: str, end: str, hours: int) -> None:
    shift = one_shift(start, end)
    assert shift.end - shift.start == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("start", "end", "start_utc", "end_utc"),
    [
        pytest.param(
            "2026-06-15 08:00",
            "2026-06-15 17:00",
            datetime(2026, 6, 15, 6, tzinfo=UTC),
            datetime(2026, 6, 15, 15, tzinfo=UTC),
            id="summer-day",
        ),
        pytest.param(
            "2026-01-15 08:00",
            "2026-01-15 17:00",
            datetime(2026, 1, 15, 7, tzinfo=UTC),
            datetime(2026, 1, 15, 16, tzinfo=UTC),
            id="winter-day",
        ),
        pytest.param(
            # The repeated hour on 25 October, with its offset: one instant each.
            "2026-10-25 02:30+02:00",
            "2026-10-25 02:30+01:00",
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
            id="repeated-hour-with-offsets",
        ),
        pytest.param(
            "2026-03-29 01:59",
            "2026-03-29 03:00",
            datetime(2026, 3, 29, 0, 59, tzinfo=UTC),
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
            id="both-sides-of-the-gap",
        ),
    ],
)
def test_local_times_become_the_right_utc_instants(
    start: str, end: str, start_utc: datetime, end_utc: datetime
) -> None:
    shift = one_shift(start, end)
    assert (shift.start, shift.end) == (start_utc, end_utc)
    assert shift.start.utcoffset() == timedelta(0)


AUTUMN = one_shift("2026-10-24 20:00", "2026-10-25 08:00")
SPRING = one_shift("2026-03-28 20:00", "2026-03-29 08:00")


@pytest.mark.parametrize(
    ("shift", "instant", "on"),
    [
        pytest.param(AUTUMN, datetime(2026, 10, 24, 20, 0, tzinfo=CEST), True, id="autumn-start"),
        pytest.param(
            AUTUMN, datetime(2026, 10, 24, 19, 59, tzinfo=CEST), False, id="autumn-before"
        ),
        pytest.param(AUTUMN, datetime(2026, 10, 25, 2, 30, tzinfo=CEST), True, id="0230-utc+2"),
        pytest.param(AUTUMN, datetime(2026, 10, 25, 2, 30, tzinfo=CET), True, id="0230-utc+1"),
        pytest.param(
            AUTUMN, datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=TZ), True, id="0230-fold1"
        ),
        pytest.param(AUTUMN, datetime(2026, 10, 25, 7, 59, tzinfo=CET), True, id="autumn-0759"),
        pytest.param(AUTUMN, datetime(2026, 10, 25, 8, 0, tzinfo=CET), False, id="autumn-end"),
        pytest.param(AUTUMN, datetime(2026, 10, 25, 7, 0, tzinfo=UTC), False, id="autumn-end-utc"),
        pytest.param(AUTUMN, datetime(2026, 10, 25, 6, 59, tzinfo=UTC), True, id="autumn-last-min"),
        pytest.param(SPRING, datetime(2026, 3, 29, 1, 59, tzinfo=CET), True, id="spring-0159"),
        pytest.param(SPRING, datetime(2026, 3, 29, 3, 0, tzinfo=CEST), True, id="spring-0300"),
        pytest.param(SPRING, datetime(2026, 3, 29, 7, 59, tzinfo=CEST), True, id="spring-0759"),
        pytest.param(SPRING, datetime(2026, 3, 29, 8, 0, tzinfo=CEST), False, id="spring-end"),
        pytest.param(SPRING, datetime(2026, 3, 29, 6, 0, tzinfo=UTC), False, id="spring-end-utc"),
    ],
)
def test_on_duty_over_the_clock_change(shift: Shift, instant: datetime, on: bool) -> None:
    duty = on_duty(KARDIOLOGI, instant, [shift])
    assert duty.level(1) == ((shift,) if on else ())
    assert duty.empty is not on


def test_on_duty_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError):
        on_duty(KARDIOLOGI, datetime(2026, 10, 25, 2, 30), [AUTUMN])


def test_handover_at_the_autumn_change_has_exactly_one_person_on() -> None:
    # Evening 20:00–02:30 (first occurrence, written with its offset), then 02:30–08:00.
    text = (
        "service,level,start,end,matrix_id,name\n"
        "kardiologi,1,2026-10-24 20:00,2026-10-25 02:30+02:00,@kvall:localhost,Kväll\n"
        "kardiologi,1,2026-10-25 02:30+02:00,2026-10-25 08:00,@natt:localhost,Natt\n"
    )
    result = check_roster([("r.csv", text.encode())], CATALOGUE, TZ)
    assert result.ok, result.problems
    instant = datetime(2026, 10, 24, 18, tzinfo=UTC)
    while instant < datetime(2026, 10, 25, 7, tzinfo=UTC):
        assert len(on_duty(KARDIOLOGI, instant, result.shifts).level(1)) == 1, instant
        instant += timedelta(minutes=15)


@pytest.mark.parametrize(
    ("start", "end", "code", "column"),
    [
        pytest.param(
            "2026-10-25 02:30", "2026-10-25 08:00", "ambiguous_time", "start", id="autumn-start"
        ),
        pytest.param(
            "2026-10-24 20:00", "2026-10-25 02:00", "ambiguous_time", "end", id="autumn-end-02"
        ),
        pytest.param(
            "2026-03-29 02:30", "2026-03-29 08:00", "nonexistent_time", "start", id="spring-gap"
        ),
    ],
)
def test_a_local_time_at_a_dst_change_that_is_not_one_instant_is_refused_with_its_line(
    start: str, end: str, code: str, column: str
) -> None:
    text = (
        "service,level,start,end,matrix_id,name\n"
        "kardiologi,1,2026-10-20 08:00,2026-10-20 17:00,@dag:localhost,Dag\n"
        f"kardiologi,1,{start},{end},@natt:localhost,Natt\n"
    )
    result = check_roster([("r.csv", text.encode())], CATALOGUE, TZ)
    assert [(p.line, p.code, p.params["column"]) for p in result.errors] == [(3, code, column)]


def test_the_hour_after_the_autumn_repeat_is_one_instant_and_fine() -> None:
    # 03:00 on 25 October occurs once (the clock went back at 03:00 to 02:00).
    shift = one_shift("2026-10-24 20:00", "2026-10-25 03:00")
    assert shift.end == datetime(2026, 10, 25, 2, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# One cell at a time: a wall-clock time (naive, or aware in a named zone) that is not exactly
# one instant is refused with its reason; any other is read as its UTC instant.

STOCKHOLM = ZoneInfo("Europe/Stockholm")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            datetime(2026, 3, 29, 1, 59), datetime(2026, 3, 29, 0, 59, tzinfo=UTC), id="before-gap"
        ),
        pytest.param(datetime(2026, 3, 29, 2, 0), "nonexistent_time", id="gap-start"),
        pytest.param(datetime(2026, 3, 29, 2, 59), "nonexistent_time", id="gap-end"),
        pytest.param(
            datetime(2026, 3, 29, 3, 0), datetime(2026, 3, 29, 1, 0, tzinfo=UTC), id="after-gap"
        ),
        pytest.param(
            datetime(2026, 10, 25, 1, 59),
            datetime(2026, 10, 24, 23, 59, tzinfo=UTC),
            id="before-repeat",
        ),
        pytest.param(datetime(2026, 10, 25, 2, 0), "ambiguous_time", id="repeat-start"),
        pytest.param(datetime(2026, 10, 25, 2, 59), "ambiguous_time", id="repeat-end"),
        pytest.param(
            datetime(2026, 10, 25, 3, 0),
            datetime(2026, 10, 25, 2, 0, tzinfo=UTC),
            id="after-repeat",
        ),
        pytest.param(
            datetime(2026, 10, 25, 2, 30, tzinfo=STOCKHOLM), "ambiguous_time", id="aware-repeat"
        ),
        pytest.param(
            datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=STOCKHOLM),
            "ambiguous_time",
            id="aware-repeat-fold",
        ),
        pytest.param(
            datetime(2026, 3, 29, 2, 30, tzinfo=STOCKHOLM), "nonexistent_time", id="aware-gap"
        ),
        pytest.param(
            datetime(2026, 3, 29, 3, 30, tzinfo=STOCKHOLM),
            datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
            id="aware-after-gap",
        ),
        # A fixed offset names one instant even in the repeated hour.
        pytest.param(
            datetime(2026, 10, 25, 2, 30, tzinfo=CEST),
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            id="fixed-offset",
        ),
        pytest.param(
            datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York")),
            "ambiguous_time",
            id="other-zone-repeat",
        ),
        pytest.param(
            "2026-10-25T02:30+01:00",
            datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
            id="text-with-offset",
        ),
        pytest.param("2026-10-25T02:30", "ambiguous_time", id="iso-text-in-repeat"),
        pytest.param("2026-03-29T02:30", "nonexistent_time", id="iso-text-in-gap"),
    ],
)
def test_a_time_is_one_instant_or_refused(value: datetime | str, expected: datetime | str) -> None:
    parse = InstantParser(STOCKHOLM)
    if isinstance(expected, str):
        with pytest.raises(TimeProblem) as refused:
            parse(value)
        assert str(refused.value) == expected
    else:
        instant = parse(value)
        assert instant == expected
        assert instant.tzinfo is UTC
