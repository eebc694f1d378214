"""New coverage holes and shrink guards, with plain values (issue 20 items 1 and 2)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from consultbot.domain.duty.coverage import Hole, new_holes, split_by_hours
from consultbot.domain.duty.hours import Hours
from consultbot.domain.duty.roster import Shift
from consultbot.domain.duty.shrink import MIN_REMOVED, Kind, shrinkage
from consultbot.domain.types import ServiceId, UserId

TZ = ZoneInfo("Europe/Stockholm")
KARDIO = ServiceId("kardiologi")
ALWAYS = [Hours.parse("always")]
OFFICE = [Hours.parse("weekdays 08:00-17:00")]


def local(text: str) -> datetime:
    """`YYYY-MM-DD HH:MM` in Stockholm (winter time here, UTC+1) as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ).astimezone(UTC)


def duty(level: int, start: str, end: str, who: str = "karin") -> Shift:
    return Shift(
        service=KARDIO,
        level=level,
        start=local(start),
        end=local(end),
        user=UserId(f"@{who}:localhost"),
        name=who.title(),
    )


def hole(level: int, start: str, end: str, *, in_hours: bool = True) -> Hole:
    return Hole(service=KARDIO, level=level, start=local(start), end=local(end), in_hours=in_hours)


def test_a_night_shift_replaced_by_a_whole_date_file_leaves_the_next_morning_uncovered() -> None:
    # The active roster: Tuesday's day and night shift, Wednesday's day shift. The file covers
    # Tuesday in whole dates (00:00–24:00): it takes the night shift away, and Wednesday
    # 00:00–08:00 — outside the file's period — has nobody.
    night = duty(1, "2026-11-24 17:00", "2026-11-25 08:00", "malin")
    removed = [duty(1, "2026-11-24 08:00", "2026-11-24 17:00"), night]
    staying = [duty(1, "2026-11-25 08:00", "2026-11-25 17:00")]
    added = [duty(1, "2026-11-24 00:00", "2026-11-25 00:00", "nils")]
    found = new_holes(KARDIO, removed=removed, staying=staying, added=added, hours=ALWAYS, tz=TZ)
    assert found == [hole(1, "2026-11-25 00:00", "2026-11-25 08:00")]
    assert found[0].stops_import


def test_holes_at_level_2_are_found_and_listed_but_do_not_stop() -> None:
    removed = [
        duty(1, "2026-11-24 08:00", "2026-11-24 17:00"),
        duty(2, "2026-11-24 08:00", "2026-11-24 17:00", "bo"),
    ]
    added = [duty(1, "2026-11-24 08:00", "2026-11-24 17:00", "nils")]
    found = new_holes(KARDIO, removed=removed, staying=[], added=added, hours=ALWAYS, tz=TZ)
    assert found == [hole(2, "2026-11-24 08:00", "2026-11-24 17:00")]
    assert not found[0].stops_import


def test_a_hole_is_split_where_the_track_opens_and_only_the_open_part_stops() -> None:
    # Tuesday 06:00–10:00 is taken away: 06–08 is before the track opens, 08–10 inside.
    removed = [duty(1, "2026-11-24 06:00", "2026-11-24 10:00")]
    found = new_holes(KARDIO, removed=removed, staying=[], added=[], hours=OFFICE, tz=TZ)
    assert found == [
        hole(1, "2026-11-24 06:00", "2026-11-24 08:00", in_hours=False),
        hole(1, "2026-11-24 08:00", "2026-11-24 10:00"),
    ]
    assert [h.stops_import for h in found] == [False, True]


def test_a_hole_outside_opening_hours_is_listed_but_does_not_stop() -> None:
    removed = [duty(1, "2026-11-24 17:00", "2026-11-25 08:00")]
    found = new_holes(KARDIO, removed=removed, staying=[], added=[], hours=OFFICE, tz=TZ)
    assert found == [hole(1, "2026-11-24 17:00", "2026-11-25 08:00", in_hours=False)]
    assert not found[0].stops_import


def test_what_stays_or_comes_back_is_no_hole() -> None:
    # Another person on the same slot, a shift that stays and covers part of it, and a new
    # shift at another level: only the stretch nobody covers at that level is a hole.
    removed = [
        duty(1, "2026-11-24 08:00", "2026-11-24 17:00"),
        duty(2, "2026-11-24 08:00", "2026-11-24 20:00", "bo"),
    ]
    staying = [duty(2, "2026-11-24 06:00", "2026-11-24 12:00", "tove")]
    added = [
        duty(1, "2026-11-24 08:00", "2026-11-24 17:00", "nils"),
        duty(1, "2026-11-24 12:00", "2026-11-24 20:00", "olle"),
    ]
    found = new_holes(KARDIO, removed=removed, staying=staying, added=added, hours=ALWAYS, tz=TZ)
    assert found == [hole(2, "2026-11-24 12:00", "2026-11-24 20:00")]


def test_a_hole_the_active_roster_already_had_is_not_new() -> None:
    # Nothing is taken away: a file for an empty stretch reports no new hole.
    added = [duty(1, "2026-11-24 08:00", "2026-11-24 12:00")]
    assert new_holes(KARDIO, removed=[], staying=[], added=added, hours=ALWAYS, tz=TZ) == []


def test_split_by_hours_covers_the_whole_stretch_in_order() -> None:
    start, end = local("2026-11-24 00:00"), local("2026-11-26 00:00")
    pieces = split_by_hours(start, end, OFFICE, TZ)
    assert [(lo, hi, inside) for lo, hi, inside in pieces] == [
        (local("2026-11-24 00:00"), local("2026-11-24 08:00"), False),
        (local("2026-11-24 08:00"), local("2026-11-24 17:00"), True),
        (local("2026-11-24 17:00"), local("2026-11-25 08:00"), False),
        (local("2026-11-25 08:00"), local("2026-11-25 17:00"), True),
        (local("2026-11-25 17:00"), local("2026-11-26 00:00"), False),
    ]


def test_one_person_replacing_249_is_a_shrink_with_names() -> None:
    names = [f"Person {n:03}" for n in range(249)]
    found = shrinkage(Kind.PEOPLE, 249, names[1:], 0.2)
    assert found is not None
    assert (found.removed, found.before, found.percent) == (248, 249, 100)
    assert found.examples == ("Person 001", "Person 002", "Person 003", "Person 004", "Person 005")


def test_a_shrink_up_to_the_share_or_below_the_minimum_passes() -> None:
    assert shrinkage(Kind.ENTRIES, 100, [f"e{n}" for n in range(20)], 0.2) is None
    assert shrinkage(Kind.ENTRIES, 100, [f"e{n}" for n in range(21)], 0.2) is not None
    few = [f"s{n}" for n in range(MIN_REMOVED - 1)]
    assert shrinkage(Kind.SERVICES, MIN_REMOVED, few, 0.2) is None
    assert shrinkage(Kind.SERVICES, 0, [], 0.0) is None


def test_removed_shifts_are_summed_per_service_most_first() -> None:
    removed = ["kirurgi"] * 3 + ["kardiologi"] * 30 + ["ortopedi"]
    found = shrinkage(Kind.SHIFTS, 40, removed, 0.2)
    assert found is not None
    assert found.examples == ("kardiologi (30)", "kirurgi (3)", "ortopedi")
