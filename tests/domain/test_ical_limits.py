"""An iCalendar roster that expands to more shifts than the limit is refused, with the figure
and the line, before all of it is expanded; one below the limit is read whole."""

from __future__ import annotations

import pytest

from consultbot.domain.duty import ical
from consultbot.domain.duty.roster import check_roster
from consultbot.text.render import Messages
from tests.support.catalogue import CATALOGUE, TZ

DUTY = "X-CONSULTBOT-SERVICE:kardiologi\r\nX-CONSULTBOT-LEVEL:1\r\n"


def calendar(*events: str) -> bytes:
    body = "".join(f"BEGIN:VEVENT\r\n{event}END:VEVENT\r\n" for event in events)
    return (
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//SV\r\n{body}END:VCALENDAR\r\n".encode()
    )


def event(uid: str, day: int, *, attendees: int, count: int) -> str:
    """A daily night shift from 2027-01-`day` for `count` nights, with `attendees` people."""
    people = "".join(
        f"ATTENDEE;CN=Läkare {n}:matrix:u/lakare{n}:region.se\r\n" for n in range(attendees)
    )
    return (
        f"UID:{uid}\r\nDTSTART:202701{day:02d}T190000Z\r\nDTEND:202701{day:02d}T070000Z\r\n".replace(
            f"DTEND:202701{day:02d}", f"DTEND:202701{day + 1:02d}"
        )
        + f"RRULE:FREQ=DAILY;COUNT={count}\r\n{DUTY}{people}"
    )


def test_a_small_file_that_expands_to_too_many_shifts_is_refused_with_the_figure() -> None:
    # 300 people on every one of 2,000 nights: 600,000 shifts from about 20 KiB.
    hostile = calendar(event("many", 1, attendees=300, count=2000))
    assert len(hostile) < 32 * 1024
    problems: list[ical.Problem] = []
    shifts = ical.read_ical_roster(hostile, "natt.ics", problems)
    assert shifts == []
    [problem] = problems
    assert (problem.file, problem.line, problem.code) == (
        "natt.ics",
        8,
        "too_many_shifts",
    )  # the RRULE line
    text = Messages("sv").problem(problem)
    assert text.startswith("natt.ics:8: ") and "200\u00a0000 pass" in text


def test_the_whole_check_refuses_it_and_keeps_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ical, "MAX_SHIFTS", 2000)
    hostile = calendar(event("many", 1, attendees=300, count=2000))
    result = check_roster([("natt.ics", hostile)], CATALOGUE, TZ)
    assert [(p.line, p.code) for p in result.errors] == [(8, "too_many_shifts")]
    assert result.shifts == ()


@pytest.fixture
def limit_of_ten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ical, "MAX_SHIFTS", 10)


@pytest.mark.usefixtures("limit_of_ten")
def test_the_limit_counts_every_person_of_every_occurrence_across_events() -> None:
    at_limit = calendar(
        event("a", 1, attendees=2, count=3),  # 6
        event("b", 10, attendees=4, count=1),  # 10 in all
    )
    problems: list[ical.Problem] = []
    assert len(ical.read_ical_roster(at_limit, "r.ics", problems)) == 10
    assert problems == []
    over = calendar(event("a", 1, attendees=2, count=3), event("b", 10, attendees=5, count=1))
    assert ical.read_ical_roster(over, "r.ics", problems) == []
    assert [(p.line, p.code) for p in problems] == [(18, "too_many_shifts")]


def test_a_refused_series_adds_none_of_its_shifts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ical, "MAX_OCCURRENCES", 5)
    ok = event("ok", 1, attendees=1, count=5)
    mistyped = event("mistyped", 10, attendees=1, count=6)
    problems: list[ical.Problem] = []
    shifts = ical.read_ical_roster(calendar(ok, mistyped), "r.ics", problems)
    assert len(shifts) == 5 and {s.line for s in shifts} == {4}
    assert [(p.line, p.code) for p in problems] == [(17, "too_many_occurrences")]
