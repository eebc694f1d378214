"""A calendar feed's iCalendar, from plain values: what a calendar app reads back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from consultbot.domain.duty.feeds import (
    PAST_DAYS,
    EventText,
    FeedKind,
    feed_calendar,
    is_token,
    shift_uid,
    token_hash,
    window_start,
)
from consultbot.domain.duty.handover import Handover, HandoverState, cover
from consultbot.domain.duty.shifts import Shift
from consultbot.domain.types import ServiceId, UserId

TZ = ZoneInfo("Europe/Stockholm")
STAMP = datetime(2026, 10, 20, 12, 0, 30, 123456, tzinfo=UTC)


def shift(level: int, start: datetime, hours: int, who: str, phone: str = "") -> Shift:
    return Shift(
        service=ServiceId("kardiologi"),
        level=level,
        start=start,
        end=start.astimezone(UTC) + timedelta(hours=hours),  # real hours, not wall-clock
        user=UserId(f"@{who.lower()}:region.se"),
        name=who,
        phone=phone,
    )


def text(s: Shift) -> EventText:
    phone = f"Telefon: {s.phone}\n" if s.phone else ""
    return EventText(
        summary=f"Kardiologi jour {s.level}: {s.name}", description=f"{phone}Matrix: {s.user}"
    )


# The autumn change: 2026-10-25 03:00 CEST becomes 02:00 CET; a night shift over it is 13 h.
NIGHT = shift(1, datetime(2026, 10, 24, 17, 0, tzinfo=TZ), 13, "Anna", "070-111 22 33")
BACKUP = shift(2, datetime(2026, 10, 24, 8, 0, tzinfo=TZ), 24, "Bertil")
SHIFTS = [BACKUP, NIGHT]


def parsed(kind: FeedKind = FeedKind.SERVICE, shifts: list[Shift] = SHIFTS) -> icalendar.Calendar:
    data = feed_calendar(shifts, name="Kardiologi – jourlista", kind=kind, stamp=STAMP, text=text)
    return icalendar.Calendar.from_ical(data)


def test_every_shift_is_an_event_with_its_person_level_and_phone() -> None:
    calendar = parsed()
    assert str(calendar["X-WR-CALNAME"]) == "Kardiologi – jourlista"
    events = calendar.walk("VEVENT")
    assert [str(e["SUMMARY"]) for e in events] == [
        "Kardiologi jour 2: Bertil",
        "Kardiologi jour 1: Anna",
    ]
    assert str(events[1]["DESCRIPTION"]) == "Telefon: 070-111 22 33\nMatrix: @anna:region.se"
    assert str(events[0]["DESCRIPTION"]) == "Matrix: @bertil:region.se"


def test_times_are_utc_and_keep_the_real_length_over_the_autumn_change() -> None:
    night = parsed().walk("VEVENT")[1]
    start, end = night["DTSTART"].dt, night["DTEND"].dt
    assert start == datetime(2026, 10, 24, 15, 0, tzinfo=UTC) and start.utcoffset() == timedelta(0)
    assert end - start == timedelta(hours=13)
    assert end.astimezone(TZ).hour == 5  # 17:00 + 13 h, with the extra hour of the night
    assert b"DTSTART:20261024T150000Z" in night.to_ical()


def test_the_stamp_is_the_fetch_without_microseconds() -> None:
    for event in parsed().walk("VEVENT"):
        assert event["DTSTAMP"].dt == datetime(2026, 10, 20, 12, 0, 30, tzinfo=UTC)


def test_uids_are_stable_unique_and_differ_between_a_service_and_a_person_feed() -> None:
    first = [str(e["UID"]) for e in parsed().walk("VEVENT")]
    later = feed_calendar(
        SHIFTS, name="x", kind=FeedKind.SERVICE, stamp=STAMP + timedelta(hours=1), text=text
    )
    again = [str(e["UID"]) for e in icalendar.Calendar.from_ical(later).walk("VEVENT")]
    assert first == again and len(set(first)) == 2
    personal = [str(e["UID"]) for e in parsed(FeedKind.PERSON).walk("VEVENT")]
    assert set(personal).isdisjoint(first)
    assert first[1] == shift_uid(NIGHT, FeedKind.SERVICE)


def test_a_handover_in_force_shows_the_colleague_and_the_rest_keeps_its_uid() -> None:
    day = shift(1, datetime(2026, 10, 20, 7, 0, tzinfo=UTC), 24, "Anna")
    handover = Handover(
        id=1,
        service=day.service,
        level=1,
        giver=day.user,
        taker=UserId("@cilla:region.se"),
        taker_name="Cilla",
        taker_phone="070-999 99 99",
        start=datetime(2026, 10, 20, 12, 0, tzinfo=UTC),
        end=datetime(2026, 10, 20, 16, 0, tzinfo=UTC),
        offered_by=day.user,
        offered_at=datetime(2026, 10, 20, 11, 0, tzinfo=UTC),
        answer_by=None,
        state=HandoverState.ACCEPTED,
    )
    events = parsed(shifts=cover([day], [handover])).walk("VEVENT")
    assert [str(e["SUMMARY"]) for e in events] == [
        "Kardiologi jour 1: Anna",
        "Kardiologi jour 1: Cilla",
        "Kardiologi jour 1: Anna",
    ]
    assert events[1]["DTSTART"].dt == handover.start and events[1]["DTEND"].dt == handover.end
    # The part before keeps the shift's UID: the app shortens the event it has.
    assert str(events[0]["UID"]) == shift_uid(day, FeedKind.SERVICE)
    assert len({str(e["UID"]) for e in events}) == 3


def test_recurring_ical_events_finds_each_shift_at_its_instant() -> None:
    calendar = parsed()
    at_night = recurring_ical_events.of(calendar).at(datetime(2026, 10, 25, 2, 30, tzinfo=UTC))
    assert sorted(str(e["SUMMARY"]) for e in at_night) == [
        "Kardiologi jour 1: Anna",
        "Kardiologi jour 2: Bertil",
    ]
    after = recurring_ical_events.of(calendar).at(datetime(2026, 10, 25, 4, 30, tzinfo=UTC))
    assert [str(e["SUMMARY"]) for e in after] == ["Kardiologi jour 2: Bertil"]


def test_an_empty_roster_is_a_valid_empty_calendar_asked_to_refresh_hourly() -> None:
    calendar = parsed(shifts=[])
    assert calendar.walk("VEVENT") == []
    assert calendar["REFRESH-INTERVAL"].dt == timedelta(hours=1)
    assert str(calendar["METHOD"]) == "PUBLISH"


def test_only_the_hash_of_a_token_is_kept_and_shapes_are_checked() -> None:
    token = "A" * 43
    assert token_hash(token) == token_hash(token) != token_hash("B" * 43)
    assert len(token_hash(token)) == 64 and token not in token_hash(token)
    assert is_token(token) and is_token("aZ09-_" * 7 + "x")
    assert not is_token("A" * 42) and not is_token("A" * 44) and not is_token("A" * 42 + "/")


def test_a_feed_reaches_two_weeks_back() -> None:
    now = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    assert PAST_DAYS == 14
    assert window_start(now) == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
